"""Where the grid's tasks run: in-process, in a local process pool, or as Ray tasks.

A backend maps a picklable, module-level function over a list of picklable tasks and
yields ``(index, result)`` pairs as tasks finish (completion order). Results do not depend on
the backend: each task is self-contained, seeded, and single-threaded
(:func:`budgetgym.experiments.runner.single_threaded`).

* :class:`SerialBackend` — a loop in this process (``--workers 1``).
* :class:`ProcessPoolBackend` — a ``concurrent.futures`` process pool with the ``spawn`` start method
  (safe with torch and threads); each worker imports budgetgym and inherits this process's ``sys.path``.
  The grid runner starts one pool for both its phases (:meth:`ProcessPoolBackend.start`). A worker
  that dies (killed, out of memory) is :class:`WorkerExited`, not a task waited for ever.
* :class:`RayBackend` — one Ray task per grid task (``pip install "budgetgym[ray]"``).
  Without an address it starts a local Ray instance with ``num_cpus=workers``; with
  ``address`` it joins that cluster and lets Ray schedule on all its CPUs. Workers need
  budgetgym installed (and the results directory on a shared filesystem). A task whose worker or node
  dies (killed, out of memory) is :class:`WorkerExited` naming that task, as the pool's is; a task that
  raises raises as it would in the serial loop.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import signal
import sys
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ProcessPoolExecutor, as_completed
from concurrent.futures.process import BrokenProcessPool
from typing import Any, Protocol, TypeVar

from budgetgym.envs.errors import BudgetGymError, is_integer, suggest
from budgetgym.envs.sigint import children_ignore_sigint

__all__ = ["Backend", "ProcessPoolBackend", "RayBackend", "SerialBackend", "WorkerExited", "make_backend"]

T = TypeVar("T")
R = TypeVar("R")

BACKENDS = ("local", "ray")


class Backend(Protocol):
    """Runs ``fn`` over ``tasks``; yields ``(index, fn(tasks[index]))`` in completion order."""

    def run(self, fn: Callable[[Any], Any], tasks: Sequence[Any]) -> Iterator[tuple[int, Any]]: ...


class SerialBackend:
    """One task after the other, in this process."""

    def run(self, fn: Callable[[T], R], tasks: Sequence[T]) -> Iterator[tuple[int, R]]:
        for i, task in enumerate(tasks):
            yield i, fn(task)


def _ready() -> None:
    """A worker's first task: nothing (submitting it spawns the pool's workers)."""


def _report_pid(pids: Any, closing: Any) -> None:
    """A pool worker's initializer: put its PID on ``pids`` (a queue the pool's owner reads,
    :meth:`ProcessPoolBackend.worker_pids`), then exit at once if the pool was closed while this worker
    started (``closing`` set: its owner may have read the queue before this PID was on it)."""
    pids.put(os.getpid())
    if closing.is_set():
        os._exit(0)


class WorkerExited(RuntimeError):
    """A worker process ended without answering (killed, out of memory, a crash outside Python,
    ``os._exit``) while it ran one of the tasks ``indexes``. For a :class:`ProcessPoolBackend` these are the
    tasks handed out and unfinished (which of them it was, the pool cannot say) and the pool is broken; for a
    :class:`RayBackend` it is the one task whose worker or node died (Ray's ``WorkerCrashedError``,
    ``OutOfMemoryError``, ``NodeDiedError``, ...). Either way the other tasks are not run."""

    def __init__(self, message: str, indexes: list[int]):
        super().__init__(message)
        self.indexes = indexes


class ProcessPoolBackend:
    """A pool of ``workers`` processes (``spawn``); tasks are handed out one at a time, in order.

    Each :meth:`run` starts its own pool (``min(workers, tasks)`` processes) and stops it at the end,
    unless :meth:`start` started one beforehand: that pool serves every :meth:`run` until
    :meth:`close`, so a grid's two phases (the oracle solves, then the runs) spawn their workers, which
    each import budgetgym (seconds), once rather than twice. On an exception or interrupt in the caller
    the pool's workers are terminated, so no worker keeps running an orphaned task. A worker that ends
    without an answer is :class:`WorkerExited` naming the tasks it may have run (``multiprocessing.Pool``
    replaced it and waited for its task for ever; ``concurrent.futures`` reports the broken pool).
    """

    def __init__(self, workers: int, start_method: str = "spawn"):
        if workers < 1:
            raise BudgetGymError(f"--workers: expected a positive integer, got {workers}")
        self.workers = workers
        self.start_method = start_method
        self._pool: ProcessPoolExecutor | None = None
        self._size = 0  # the running pool's workers
        self._pids: set[int] = set()  # the running pool's workers that have reported (worker_pids)
        self._queue: Any = None  # where they report (_report_pid)
        self._closing: Any = None

    def start(self, tasks: int | None = None) -> None:
        """Start the pool now, ``min(workers, tasks)`` processes (``workers`` when ``tasks`` is None),
        kept for every :meth:`run` until :meth:`close` (a no-op when one is running)."""
        if self._pool is None:
            ctx = multiprocessing.get_context(self.start_method)
            size = self.workers if tasks is None else max(1, min(self.workers, tasks))
            self._queue, self._closing, self._pids = ctx.SimpleQueue(), ctx.Event(), set()
            self._pool = ProcessPoolExecutor(max_workers=size, mp_context=ctx, initializer=_report_pid,
                                             initargs=(self._queue, self._closing))
            self._size = size
            with children_ignore_sigint():  # a submit spawns one worker (spawn context): all of them here, so
                for _ in range(size):         # every worker leaves Ctrl-C to this process
                    self._pool.submit(_ready)

    def worker_pids(self) -> set[int]:
        """The PIDs of the running pool's workers that have started (each reports its own from the pool's
        initializer; ``concurrent.futures`` has no public way to list them before Python 3.14); empty without a
        pool."""
        if self._queue is not None:
            while not self._queue.empty():
                self._pids.add(int(self._queue.get()))
        return set(self._pids)

    def close(self) -> None:
        """Stop the pool (its workers are terminated), if one is running: every worker that has reported its PID
        gets SIGTERM, and one still starting exits as its initializer sees the pool closed."""
        pool, self._pool = self._pool, None
        if pool is None:
            return
        self._closing.set()  # before reading the PIDs: a worker reporting after the reading exits on its own
        processes = self.worker_pids()
        pool.shutdown(wait=False, cancel_futures=True)
        for pid in processes:
            with contextlib.suppress(OSError):  # already gone
                os.kill(pid, signal.SIGTERM)
        self._queue, self._closing, self._pids = None, None, set()

    def run(self, fn: Callable[[T], R], tasks: Sequence[T]) -> Iterator[tuple[int, R]]:
        if not tasks:
            return
        own = self._pool is None  # started here: stopped here
        self.start(len(tasks))
        assert self._pool is not None
        futures = {self._pool.submit(fn, task): i for i, task in enumerate(tasks)}
        try:
            for future in as_completed(futures):
                try:
                    result = future.result()
                except BrokenProcessPool:
                    running = _running(futures, self._size)
                    raise WorkerExited(f"a worker process exited while running one of tasks {running}",
                                       running) from None
                yield futures[future], result
        except BaseException:  # the caller stopped early (an error, Ctrl-C), or the pool broke: no orphaned task
            self.close()
            raise
        finally:
            if own:
                self.close()


def _running(futures: dict[Future[Any], int], workers: int) -> list[int]:
    """The tasks the ``workers`` of a pool that broke were running: the first ``workers`` not finished in the
    order handed out (a worker takes the next task as it finishes one, so every earlier one has finished or
    is running); a task the break failed counts as not finished."""
    def finished(f: Future[Any]) -> bool:
        return f.done() and not f.cancelled() and f.exception() is None

    return sorted(i for f, i in futures.items() if not finished(f))[:workers]


def _import_ray() -> Any:
    try:
        import ray
    except ImportError:
        raise BudgetGymError(
            '--backend ray needs Ray: pip install "budgetgym[ray]" (or pip install "ray[default]")'
        ) from None
    return ray


def _ray_call(fn: Callable[[Any], Any], task: Any, sys_path: list[str]) -> Any:
    """Body of a Ray task: make the driver's import paths visible (when they exist here), run."""
    for entry in reversed(sys_path):
        if entry and entry not in sys.path and os.path.isdir(entry):
            sys.path.insert(0, entry)
    return fn(task)


class RayBackend:
    """Every task as a Ray task (``num_cpus=1``, no retries: a failed task is recorded, not redone).

    Parameters
    ----------
    workers : CPUs of the local Ray instance started when ``address`` is None (ignored when
        joining a cluster, whose CPUs Ray schedules on).
    address : a Ray cluster address (``"auto"``, ``"ray://host:10001"``, ``"host:6379"``).

    The instance is shut down afterwards only if this backend started it: at the end of
    :meth:`run`, or, after :meth:`start`, by :meth:`close`.
    """

    def __init__(self, workers: int = 1, address: str | None = None):
        if workers < 1:
            raise BudgetGymError(f"--workers: expected a positive integer, got {workers}")
        self.workers = workers
        self.address = address
        self._started = False  # this backend initialised Ray and has not shut it down
        _import_ray()  # fail early with the install hint

    def start(self) -> None:
        """Start or join Ray now (a no-op when it is already initialised), so an unreachable cluster
        fails before the caller writes anything.

        Raises
        ------
        BudgetGymError
            Ray cannot be started, or the cluster at ``address`` cannot be reached.
        """
        import logging

        ray = _import_ray()
        if ray.is_initialized():
            return
        opts: dict[str, Any] = {
            "include_dashboard": False,
            "log_to_driver": False,
            "logging_level": logging.WARNING,
        }
        try:
            if self.address is None:
                ray.init(num_cpus=self.workers, **opts)
            else:
                ray.init(address=self.address, **opts)
        except (ConnectionError, ValueError, RuntimeError) as err:
            where = self.address or "a local instance"
            raise BudgetGymError(f"--backend ray: cannot start or reach {where} ({err})") from None
        self._started = True

    def close(self) -> None:
        """Shut Ray down if this backend started it."""
        if self._started:
            _import_ray().shutdown()
            self._started = False

    def run(self, fn: Callable[[T], R], tasks: Sequence[T]) -> Iterator[tuple[int, R]]:
        if not tasks:
            return
        ray = _import_ray()
        started = not self._started and not ray.is_initialized()  # started here: shut down here
        self.start()
        remote = ray.remote(num_cpus=1, max_retries=0)(_ray_call)
        pending: dict[Any, int] = {}
        try:
            sys_path = list(sys.path)
            fn_ref = ray.put(fn)
            for i, task in enumerate(tasks):
                pending[remote.remote(fn_ref, task, sys_path)] = i
            while pending:
                done, _ = ray.wait(list(pending), num_returns=1)
                for ref in done:
                    i = pending.pop(ref)
                    try:
                        result = ray.get(ref)
                    except ray.exceptions.RayTaskError:  # the task's own exception: as in the serial loop
                        raise
                    except ray.exceptions.RayError as err:
                        # its worker or node died (WorkerCrashedError, OutOfMemoryError, NodeDiedError, ...);
                        # with max_retries=0 Ray says so for this task alone, so the run is named exactly
                        raise WorkerExited(f"a Ray worker exited while running task {i} ({type(err).__name__})",
                                           [i]) from None
                    yield i, result
        finally:
            for ref in pending:
                try:
                    ray.cancel(ref, force=True)
                except Exception:  # noqa: BLE001 - best effort on the way out
                    pass
            if started:
                self.close()


def make_backend(name: str = "local", workers: int = 1, address: str | None = None) -> Backend:
    """``local`` with ``workers == 1``: serial; ``local``: a process pool; ``ray``: Ray tasks.

    Raises
    ------
    BudgetGymError
        Unknown backend, non-positive ``workers``, ``address`` without ``ray``, or Ray missing.
    """
    if name not in BACKENDS:
        raise BudgetGymError(f"--backend: expected one of {', '.join(BACKENDS)}, got {name!r}"
                             + suggest(name, BACKENDS))
    if not is_integer(workers) or workers < 1:
        raise BudgetGymError(f"--workers: expected a positive integer, got {workers!r}")
    if name == "ray":
        return RayBackend(workers, address)
    if address is not None:
        raise BudgetGymError("--address: only used with --backend ray")
    return SerialBackend() if workers == 1 else ProcessPoolBackend(workers)
