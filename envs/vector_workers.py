"""What steps a batched vector environment's row parts: helper threads, worker processes, shared tables.

:class:`PartWorkers` is the part of :class:`~budgetgym.envs.vector_env.ChannelBudgetVectorEnv`
that runs a task on every row part (:meth:`~PartWorkers._run`: in order, on a pool of
``threads - 1`` helper threads, or in the worker processes of
:mod:`budgetgym.envs.vector_processes`), shares one :class:`~budgetgym.envs.batch_model.MemberTables`
between the parts, and releases the threads and processes when the env is closed or pickled.
The environment sets the attributes it declares.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from budgetgym.envs.batch_model import MemberTables
from budgetgym.envs.dynamics import ChannelModel
from budgetgym.envs.vector_parts import Part, run_parts
from budgetgym.envs.vector_processes import PartProcesses

__all__ = ["PartWorkers"]


class PartWorkers:
    """The row parts' threads, worker processes and shared member tables (module docstring)."""

    parts: list[Part]
    threads: int
    processes: int
    _executor: ThreadPoolExecutor | None
    _procs: PartProcesses | None  # the worker processes, started by the first reset or step
    _last_tables: MemberTables | None
    _tables_lock: threading.Lock

    def _run(self, task: Callable[[Part], Any], command: tuple[str, Any]) -> list[Any]:
        """``task(part)`` for every row part (:func:`~budgetgym.envs.vector_parts.run_parts`), the
        results in part order; with worker processes, the workers run ``command`` on theirs
        (:mod:`budgetgym.envs.vector_processes`)."""
        if self._procs is not None:
            return self._procs.run(task, self.threads, self._pool, command)
        return run_parts(self.parts, self.threads, self._pool, task)

    def _pool(self) -> ThreadPoolExecutor:
        """The ``threads - 1`` helper threads of the row parts (made on first use)."""
        if self._executor is None:
            self._executor = ThreadPoolExecutor(max_workers=self.threads - 1, thread_name_prefix="budgetgym-vec")
        return self._executor

    def _tables_of(self, members: list[ChannelModel], fast: bool) -> MemberTables:
        """The :class:`MemberTables` of ``members``: the last ones built when the list is the same
        object (a family's draw pool, reset after reset), else new ones."""
        with self._tables_lock:
            last = self._last_tables
            if last is None or last.members is not members or last.fast != fast:
                last = self._last_tables = MemberTables(members, fast)
            return last

    def close_extras(self, **kwargs: Any) -> None:
        for part in self.parts:
            part.campaigns = None
        if self._executor is not None:
            self._executor.shutdown(wait=True)
            self._executor = None
        if self._procs is not None:
            self._procs.close(self.parts)
            self._procs = None

    def __getstate__(self) -> dict[str, Any]:
        # a thread pool, a lock and processes do not pickle: the next parallel step makes new ones;
        # the workers' parts are fetched (the copies here are stale), the counters pickled as arrays
        parts = self.parts if self._procs is None else self._procs.parts(self.parts)
        return {**self.__dict__, "_executor": None, "_tables_lock": None, "_procs": None, "parts": parts}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state, _tables_lock=threading.Lock())
