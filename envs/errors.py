"""User-facing errors.

Every error that a user can cause with a bad file, a bad argument or a bad
action derives from :class:`BudgetGymError`. Its message is a single line that
names the file and/or field and what was expected, so command-line front ends
can print it without a traceback and exit with code 2.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable


class BudgetGymError(ValueError):
    """A problem with the user's input (file, field, argument). One-line message.

    ``details`` optionally lists every problem found (e.g. each validation error of a file
    when the message names only the first); ``budgetgym --verbose`` prints them.
    """

    details: tuple[str, ...] = ()


class ScenarioError(BudgetGymError):
    """A scenario file or scenario object is invalid."""


def suggest(name: str, choices: Iterable[str]) -> str:
    """A ``" (did you mean 'x'?)"`` hint naming the choice closest to ``name``, or ``""``.

    Closeness is :func:`difflib.get_close_matches` (ratio >= 0.6), the rule the validation
    messages use for misspelt keys, so every "did you mean" of budgetgym agrees.

    Examples
    --------
    >>> suggest("gredy", ["equal", "greedy", "ucb1"])
    " (did you mean 'greedy'?)"
    >>> suggest("zzz", ["equal", "greedy"])
    ''
    """
    close = difflib.get_close_matches(name, sorted(set(choices)), n=1)
    return f" (did you mean '{close[0]}'?)" if close else ""


def unknown(kind: str, name: str, choices: Iterable[str]) -> str:
    """``"unknown agent 'gredy' (did you mean 'greedy'?)"``, or, with no close choice,
    ``"unknown agent 'zzz': expected one of a, b, c"``."""
    names = sorted(set(choices))
    return f"unknown {kind} '{name}'" + (suggest(name, names) or f": expected one of {', '.join(names)}")
