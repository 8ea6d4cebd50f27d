"""User-facing errors.

Every error that a user can cause with a bad file, a bad argument or a bad
action derives from :class:`BudgetGymError`. Its message is a single line that
names the file and/or field and what was expected, so command-line front ends
can print it without a traceback and exit with code 2.
"""

from __future__ import annotations


class BudgetGymError(ValueError):
    """A problem with the user's input (file, field, argument). One-line message."""


class ScenarioError(BudgetGymError):
    """A scenario file or scenario object is invalid."""
