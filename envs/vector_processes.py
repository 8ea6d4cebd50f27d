"""The row parts of a batched vector environment stepped in worker processes over shared memory.

Two threads stepping two row parts of a :class:`~budgetgym.envs.vector_env.ChannelBudgetVectorEnv`
hand the GIL back and forth around every numpy call, and on a part's ~20,000-element arrays each
hand-off costs about as much as the operation (``benchmarks/README.md``). With ``processes = W >
1`` (``rng="batched"``) the row parts are dealt to ``W`` processes in contiguous blocks
(:func:`process_blocks`): the calling process steps the first block, each of ``W - 1`` worker
processes one of the others, each with its own interpreter.

* A worker holds a **replica** of the environment (pickled when the workers start, at the first
  reset or step) and keeps its parts' state — generators, dynamics, episodes — to itself; the
  calling process's copies of those parts go stale and are never stepped.
* Every array a step writes — the actions, the counters the next step reads, the info's arrays
  and the observations — lies in one **block** of shared memory (:class:`Blocks`) that each
  process writes its rows of in place; a command carries only the block's name and layout. The
  arrays a step returns are views of its block, and a block is written again only once no array
  viewing it is left in the calling process (a reference count of the block's root array): what a
  step returned is never changed by a later step, without a copy. A block held by the caller
  also holds a file descriptor and a mapping in every process, so once more than
  :data:`LIVE_BLOCKS` are alive (a caller keeping many steps' results) a step returns copies.
  A block of ``large-50`` at ``N = 16,384`` is ~76 MiB: more than Docker's default ``/dev/shm``
  (64 MiB), which the env reports before writing.
* Each part runs the same functions as in one process (:func:`~budgetgym.envs.vector_parts.start_part`,
  :func:`~budgetgym.envs.vector_parts.advance_part`) on the same generator, so a run is the same,
  bit for bit, whatever ``processes`` (``tests/test_vector_processes.py``).

Workers are started with the ``spawn`` method (no fork of a process that may hold threads): as for
Gymnasium's ``AsyncVectorEnv``, a script that makes such an environment needs the
``if __name__ == "__main__":`` guard. They exit when the environment is closed or collected, and
the blocks are unlinked. ``close()`` waits at most :data:`CLOSE_TIMEOUT` seconds for a worker's
reply and for its exit, then kills it (and reaps it: no zombie is left), so a worker that hangs
never hangs ``close()``.
"""

from __future__ import annotations

import multiprocessing as mp
import pickle
import traceback
import weakref
from collections.abc import Callable, Sequence
from multiprocessing.connection import Connection
from typing import TYPE_CHECKING, Any

import numpy as np

from budgetgym.envs.shared_blocks import LIVE_BLOCKS, BlockRef, Blocks, SharedBlock
from budgetgym.envs.vector_parts import Part, part_stepper, run_parts, start_part
from budgetgym.envs.vector_random import BatchedRandom
from budgetgym.envs.vector_steps import COUNTERS

if TYPE_CHECKING:  # pragma: no cover
    from budgetgym.envs.vector_env import ChannelBudgetVectorEnv

__all__ = ["CLOSE_TIMEOUT", "PartProcesses", "process_blocks"]

#: Seconds ``close()`` waits for a worker's reply (its generators) and then for its exit before it
#: kills the worker: one that never answers (stuck in a step, stopped) no longer hangs ``close()``.
CLOSE_TIMEOUT = 5.0


def process_blocks(parts: int, processes: int) -> list[list[int]]:
    """The row parts of each of ``min(processes, parts)`` processes: contiguous blocks of part
    indices whose sizes differ by at most one (block 0 is the calling process's)."""
    w = min(processes, parts)
    edges = [parts * p // w for p in range(w + 1)]
    return [list(range(lo, hi)) for lo, hi in zip(edges[:-1], edges[1:], strict=True)]


def _shutdown(pipes: list[Connection], procs: list[Any], blocks: Blocks) -> None:
    """Stop the workers and unlink the blocks (also the finaliser of a collected env)."""
    for conn in pipes:
        try:
            conn.send(("close", None))
        except OSError:  # a worker already gone (BrokenPipeError)
            pass
    for proc in procs:
        proc.join(timeout=CLOSE_TIMEOUT)
        if proc.is_alive():
            proc.kill()
            proc.join(timeout=CLOSE_TIMEOUT)  # reap it: a killed child left unjoined stays a zombie
    for conn in pipes:
        conn.close()
    blocks.close()


class PartProcesses:
    """The worker processes of a batched vector env: block ``p >= 1`` of :func:`process_blocks` in
    worker ``p - 1``, block 0 in the calling process (module docstring)."""

    def __init__(self, env: ChannelBudgetVectorEnv, processes: int):
        self.blocks = process_blocks(len(env.parts), processes)
        self.own = [env.parts[j] for j in self.blocks[0]]
        self.memory = Blocks()
        self.counters: BlockRef | None = None  # the block holding the env's counters (the next step reads them)
        state = pickle.dumps(env)  # the replica (``__getstate__`` leaves this object out)
        ctx = mp.get_context("spawn")
        self._pipes: list[Connection] = []
        self._procs: list[Any] = []
        self._broken = False  # a call was interrupted with replies unread: the pipes are out of step
        self._finalizer = weakref.finalize(self, _shutdown, self._pipes, self._procs, self.memory)
        for block in self.blocks[1:]:
            here, there = ctx.Pipe()
            proc = ctx.Process(target=_serve, args=(there, state, block), daemon=True, name="budgetgym-vec")
            proc.start()
            there.close()
            self._pipes.append(here)
            self._procs.append(proc)

    def _exchange(
        self, messages: Sequence[tuple[str, Any]], local: Callable[[], Any] | None = None,
        timeout: float | None = None,
    ) -> tuple[Any, list]:
        """Send worker ``i`` ``messages[i]``, run ``local`` meanwhile and read every worker's reply —
        also when ``local`` or a worker fails, so that the pipes stay in step — then raise the first
        failure. ``timeout``: seconds to wait for each reply (``None``: for ever); a reply not read
        in time leaves the pipes out of step (the env must be closed). ``(local's result, the replies)``."""
        if self._broken:
            raise RuntimeError(
                "the vector environment's worker processes were interrupted in the middle of a call; "
                "close the environment and make a new one"
            )
        self._broken = True  # until every reply is read
        error: BaseException | None = None
        sent = []
        for conn, message in zip(self._pipes, messages, strict=True):
            try:
                _send(conn, message)
            except RuntimeError as exc:
                error = exc
                break
            sent.append(conn)
        own = None
        if error is None and local is not None:
            try:
                own = local()
            except BaseException as exc:  # KeyboardInterrupt too: the workers' replies are read first
                error = exc
        replies = []
        unread = False
        for conn in sent:
            try:
                replies.append(_reply(conn, timeout))
            except TimeoutError as exc:
                error, unread = error or exc, True
            except RuntimeError as exc:
                error = error or exc
        self._broken = unread
        if error is not None:
            raise error
        return own, replies

    def run(self, task: Callable[[Part], Any], threads: int, pool: Callable[[], Any], command: tuple[str, Any]) -> list:
        """``command`` to every worker, ``task`` on this process's parts meanwhile; every part's
        result in part order."""
        own, replies = self._exchange([command] * len(self._pipes), lambda: run_parts(self.own, threads, pool, task))
        return [*own, *(r for reply in replies for r in reply)]

    def crowded(self) -> bool:
        """More blocks alive than :data:`LIVE_BLOCKS` (the caller keeps many steps' arrays)."""
        return len(self.memory.blocks) > LIVE_BLOCKS

    def share_counters(self, env: ChannelBudgetVectorEnv) -> None:
        """Move ``env``'s counters into a block of their own (where the next step reads them)."""
        values = {c: getattr(env, c) for c in COUNTERS}
        self.counters, arrays = self.memory.take(tuple((c, v.shape, v.dtype.str) for c, v in values.items()))
        for c, v in values.items():
            arrays[c][...] = v
            setattr(env, c, arrays[c])

    def step_arrays(
        self, shapes: dict[str, tuple[int, ...]], actions: np.ndarray, t: int
    ) -> tuple[dict[str, np.ndarray], tuple[str, Any]]:
        """A block for step ``t``'s arrays (:func:`~budgetgym.envs.vector_steps.step_shapes`) and the
        actions, these copied in; and the workers' command for the step."""
        spec = tuple((k, v, "<f4" if k == "obs" else "<f8") for k, v in shapes.items())
        block, arrays = self.memory.take((*spec, ("actions", actions.shape, "<f8")))
        arrays["actions"][...] = actions
        assert self.counters is not None
        command = ("advance", (t, block, self.counters, self.memory.forgotten()))
        self.counters = block
        return arrays, command

    def seed(self, parts: Sequence[Part]) -> None:
        """Hand the workers their parts' generators (just seeded by the calling process)."""
        self._exchange([("seed", [_generator(parts[j]) for j in block]) for block in self.blocks[1:]])

    def parts(self, parts: Sequence[Part]) -> list[Part]:
        """Every part as it is now: this process's own, and copies of the workers'."""
        _, replies = self._exchange([("parts", None)] * len(self._pipes))
        return [*(parts[j] for j in self.blocks[0]), *(p for reply in replies for p in reply)]

    def close(self, parts: Sequence[Part]) -> None:
        """Stop the workers, first giving ``parts`` (the calling process's copies) the workers'
        generators, so that a reset without a seed continues them; unlink the blocks."""
        try:
            _, replies = self._exchange([("generators", None)] * len(self._pipes), timeout=CLOSE_TIMEOUT)
            for block, generators in zip(self.blocks[1:], replies, strict=True):
                for j, generator in zip(block, generators, strict=True):
                    rnd = parts[j].random
                    assert isinstance(rnd, BatchedRandom)
                    rnd.rng = generator
        except (RuntimeError, TimeoutError):  # a worker is gone or does not answer: its generators with it
            pass
        self._finalizer()


def _send(conn: Connection, message: tuple[str, Any]) -> None:
    try:
        conn.send(message)
    except OSError:  # BrokenPipeError included
        raise RuntimeError("a worker process of the vector environment exited") from None


def _reply(conn: Connection, timeout: float | None = None) -> Any:
    """A worker's reply, waiting at most ``timeout`` seconds (``None``: for ever; else a
    :class:`TimeoutError`)."""
    if timeout is not None and not conn.poll(timeout):
        raise TimeoutError(f"a worker process of the vector environment did not answer within {timeout:g} s")
    try:
        status, value = conn.recv()
    except EOFError:
        raise RuntimeError("a worker process of the vector environment exited") from None
    if status != "ok":
        raise RuntimeError(f"a worker process of the vector environment failed:\n{value}")
    return value


def _generator(part: Part) -> np.random.Generator:
    assert isinstance(part.random, BatchedRandom), "worker processes step rng='batched' parts"
    return part.random.generator


class _Worker:
    """A worker's replica of the env, its parts and the blocks it has attached."""

    def __init__(self, state: bytes, block: list[int]):
        self.env: ChannelBudgetVectorEnv = pickle.loads(state)
        self.mine = [self.env.parts[j] for j in block]
        self.attached: dict[str, tuple[SharedBlock, dict[str, np.ndarray]]] = {}

    def arrays(self, ref: BlockRef) -> dict[str, np.ndarray]:
        name, spec = ref
        if name not in self.attached:
            block = SharedBlock(spec, name)
            self.attached[name] = (block, block.arrays())
        return self.attached[name][1]

    def command(self, cmd: str, arg: Any) -> Any:
        env, mine = self.env, self.mine
        if cmd == "advance":
            t, now, before, forget = arg
            for name in forget:
                block = self.attached.pop(name, None)
                if block is not None:
                    block[0].close(unlink=False)
            before_arr = self.arrays(before)
            prev = (before_arr["cumulative_spend"], before_arr["ema_conv"])
            return run_parts(mine, env.threads, env._pool, part_stepper(env, self.arrays(now), prev, t))
        if cmd == "start":
            return run_parts(mine, env.threads, env._pool, lambda part: start_part(env, part, arg))
        if cmd == "seed":
            for part, generator in zip(mine, arg, strict=True):
                assert isinstance(part.random, BatchedRandom)
                part.random.rng = generator
            return None
        if cmd == "parts":
            return mine
        if cmd == "generators":
            return [_generator(part) for part in mine]
        raise ValueError(f"unknown command {cmd!r}")

    def close(self) -> None:
        for block, _ in self.attached.values():
            block.close(unlink=False)
        self.env.close()


def _serve(conn: Connection, state: bytes, block: list[int]) -> None:
    """A worker: commands until ``close`` (or the pipe closes)."""
    worker = _Worker(state, block)
    try:
        while True:
            try:
                cmd, arg = conn.recv()
            except EOFError:
                return
            if cmd == "close":
                return
            try:
                conn.send(("ok", worker.command(cmd, arg)))
            except Exception:
                conn.send(("error", traceback.format_exc()))
    finally:
        worker.close()
