"""Progress of a grid: a tqdm bar on a terminal, plain lines in a log file or a pipe.

A tqdm bar redraws itself with carriage returns; written to a file or a CI log it becomes one
ever-growing line. :func:`progress_bar` therefore returns tqdm's bar only when its stream is
a terminal, and otherwise a :class:`LineProgress` that prints a plain, complete line now and
then::

    budgetgym run: 12/92 tasks (13%), 00:21 elapsed, last: stationary-3/ppo/seed_4

Both have the same small interface: ``update(n)``, ``set_postfix_str(text, refresh)`` and
``close()``. The runner also shows stable-baselines3's training bars only when standard
output is :func:`interactive`.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from typing import Any, Protocol, TextIO

__all__ = ["LineProgress", "Progress", "interactive", "progress_bar"]


class Progress(Protocol):
    """What the runner calls on a progress display."""

    def update(self, n: int = 1) -> Any: ...

    def set_postfix_str(self, s: str = "", refresh: bool = True) -> None: ...

    def close(self) -> None: ...


def _elapsed(seconds: float) -> str:
    """``mm:ss`` (``h:mm:ss`` from one hour), as tqdm shows elapsed time."""
    minutes, sec = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours:d}:{minutes:02d}:{sec:02d}" if hours else f"{minutes:02d}:{sec:02d}"


class LineProgress:
    """Plain progress lines for a stream that is not a terminal.

    A line is printed when the count crosses the next multiple of ``step_percent`` of
    ``total``, or when ``every_s`` seconds have passed since the last line (a slow task still
    shows life), and once at :meth:`close` unless the last line already showed the final count.

    Parameters
    ----------
    total : number of tasks.
    desc : prefix of every line.
    stream : where the lines go (default ``sys.stderr``, like tqdm).
    step_percent : print at every multiple of this percentage of ``total``.
    every_s : also print when this many seconds passed since the last line.
    clock : seconds, monotonic (injectable for tests).
    """

    def __init__(
        self,
        total: int,
        desc: str = "budgetgym run",
        stream: TextIO | None = None,
        *,
        step_percent: float = 5.0,
        every_s: float = 30.0,
        clock: Callable[[], float] = time.monotonic,
    ):
        self.total = int(total)
        self.desc = desc
        self.stream = stream if stream is not None else sys.stderr
        self.step = max(1.0, self.total * step_percent / 100.0)
        self.every_s = every_s
        self.clock = clock
        self.n = 0
        self.postfix = ""
        self.start = self.last_time = clock()
        self.next_mark = self.step
        self.printed_n = -1

    def set_postfix_str(self, s: str = "", refresh: bool = True) -> None:
        """The text shown after ``last:`` on the next line (the last finished task)."""
        self.postfix = s

    def update(self, n: int = 1) -> None:
        """Count ``n`` finished tasks; print a line when a mark or the time interval is reached."""
        self.n += n
        now = self.clock()
        if self.n >= self.next_mark or now - self.last_time >= self.every_s:
            self._print(now)
            while self.next_mark <= self.n:
                self.next_mark += self.step

    def close(self) -> None:
        """Print the final count (unless the last line showed it already)."""
        if self.printed_n != self.n:
            self._print(self.clock())

    def _print(self, now: float) -> None:
        pct = 100.0 * self.n / self.total if self.total else 100.0
        line = f"{self.desc}: {self.n}/{self.total} tasks ({pct:.0f}%), {_elapsed(now - self.start)} elapsed"
        if self.postfix:
            line += f", last: {self.postfix}"
        print(line, file=self.stream, flush=True)
        self.last_time, self.printed_n = now, self.n


def interactive(stream: TextIO) -> bool:
    """Whether ``stream`` shows a live progress bar: a terminal, or a Jupyter cell's output (not
    a tty, but it renders tqdm's notebook bar). Files, pipes and CI logs are not."""
    isatty = getattr(stream, "isatty", None)
    if callable(isatty) and isatty():
        return True
    return type(stream).__module__.startswith("ipykernel.")


def progress_bar(total: int, desc: str = "budgetgym run", stream: TextIO | None = None) -> Progress:
    """A tqdm bar over ``total`` tasks when ``stream`` (default stderr) is a terminal or a
    notebook, else a :class:`LineProgress` printing plain lines to it."""
    stream = stream if stream is not None else sys.stderr
    if interactive(stream):
        from tqdm.auto import tqdm

        bar: Progress = tqdm(total=total, desc=desc, unit="task", dynamic_ncols=True, file=stream)
        return bar
    return LineProgress(total, desc, stream)
