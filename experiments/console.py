"""Consoles for the command line: rich, no highlighting, tables never truncated in a log."""

from __future__ import annotations

from typing import Any

__all__ = ["console", "wide_console"]


def console(stderr: bool = False, width: int | None = None) -> Any:
    from rich.console import Console

    return Console(stderr=stderr, highlight=False, soft_wrap=True, width=width)


def wide_console() -> Any:
    """A console for tables: a log or a pipe (not a terminal) never truncates a cell."""
    con = console()
    return con if con.is_terminal else console(width=1000)
