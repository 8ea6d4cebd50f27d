"""Worker processes that leave Ctrl-C to their parent.

A Ctrl-C at a terminal sends SIGINT to every process of the foreground group: the parent and each
worker it spawned. A worker then died with its own ``KeyboardInterrupt`` traceback (tens of lines
on stderr, several per worker) beside the parent's one-line ``interrupted`` message. Processes
started inside :func:`children_ignore_sigint` inherit SIGINT ignored (an ignored signal stays
ignored across ``exec``, and Python then installs no ``KeyboardInterrupt`` handler), so only the
parent is interrupted, and it stops its workers (their pool's shutdown or termination).
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager

__all__ = ["children_ignore_sigint"]


@contextmanager
def children_ignore_sigint() -> Iterator[None]:
    """Ignore SIGINT in this process while the block starts worker processes, then restore the
    handler (a Ctrl-C in those few milliseconds is lost). Outside the main thread, where Python
    cannot change a handler, it does nothing."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
