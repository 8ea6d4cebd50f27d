"""Words for the tables and messages: a count with its noun in the right number."""

from __future__ import annotations

__all__ = ["count"]


def count(n: int, noun: str, plural: str | None = None) -> str:
    """``"1 draw"``, ``"3 draws"``: ``n`` and ``noun``, singular for exactly one.

    Parameters
    ----------
    n : the count.
    noun : the singular noun (may be several words: ``"held-out draw"``).
    plural : the plural when it is not ``noun + "s"``.
    """
    return f"{n} {noun if n == 1 else plural or noun + 's'}"
