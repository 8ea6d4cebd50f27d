"""The plan text's shared pieces (:mod:`~budgetgym.planner.plan_text`, :mod:`~budgetgym.planner.target_text`,
:mod:`~budgetgym.planner.side_tables`): a number for people (:func:`fmt`), a signed percentage, a change with its
percentage, a budget multiple, and the names of a reward's outcome, ratio and objective."""

from __future__ import annotations

import math

from budgetgym.envs.numbers import figure
from budgetgym.planner.metrics import ZERO_RTOL
from budgetgym.planner.plan_result import PlanResult

__all__ = ["OUTCOME_NAMES", "budget_multiple", "fmt", "objective_label", "ratio_names", "signed_pct", "with_pct"]


#: What the reward's outcome is called in a table header.
OUTCOME_NAMES = {"conversions": "conversions", "revenue": "revenue", "profit": "profit"}


def fmt(x: float | None, digits: int | None = None, signed: bool = False, scale: float | None = None) -> str:
    """A number for people: :func:`~budgetgym.envs.numbers.figure` (thousands separators; 3 significant digits
    from :data:`~budgetgym.envs.numbers.HUGE`, past any budget, and for a number its decimals round to 0), with
    the plan's two additions, so it is a rule of its own built on that one:

    * decimals by magnitude unless ``digits`` is given (0 from 1,000, 1 from 10, 2 from 1, else 3; an exact zero
      is ``0``); ``–`` for missing or infinite values; a ``+`` before a positive number when ``signed``;
    * ``scale``: the size of the amounts the number stands among (the budget for spend, the plan's value for
      outcomes). Below :data:`~budgetgym.planner.metrics.ZERO_RTOL` of it the number is a solver's rounding of
      nothing and prints as 0; above it, one below 0.1 without ``digits`` prints to 3 significant digits
      (``1.25e-07``, ``0.000571``): amounts written in millions, say, keep their figures. **Without** a scale
      nothing says a tiny number is not such a rounding, so one its decimals round to 0 prints as that 0
      (``0.000``), where :func:`~budgetgym.envs.numbers.figure` would write its digits.
    """
    if x is None or not math.isfinite(float(x)):
        return "–"
    v = float(x)
    if scale is not None and abs(v) < ZERO_RTOL * abs(scale):
        v = 0.0
    if digits is None and v == 0.0:
        return "0"
    if digits is None:
        a = abs(v)
        digits = 0 if a >= 1000 else 1 if a >= 10 else 2 if a >= 1 else 3
        if scale is not None and a < 0.1:
            text = f"{v:.3g}"
            return f"+{text}" if signed and v > 0 else text
    shown = 0.0 if scale is None and round(v, digits) == 0.0 else v  # no scale: a rounding of nothing, perhaps
    text = figure(shown, digits)
    return f"+{text}" if signed and v > 0 else text


def signed_pct(part: float | None, whole: float | None, digits: int = 2) -> str:
    """``part`` as a signed percentage of ``|whole|``."""
    if part is None or whole is None or not whole or not math.isfinite(part / whole):
        return "–"
    return f"{fmt(100.0 * part / abs(whole), digits, signed=True)}%"


def with_pct(
    delta: float, base: float, digits: int | None = None, pct_digits: int = 2, scale: float | None = None
) -> str:
    """``+1,234 (+5.67%)``; a ``delta`` below :data:`~budgetgym.planner.metrics.ZERO_RTOL` of ``scale``, which
    :func:`fmt` prints as 0, is 0 in the percentage too (``0 (0.0%)``, not ``0 (+0.0%)``)."""
    if scale is not None and abs(delta) < ZERO_RTOL * abs(scale):
        delta = 0.0
    pct = signed_pct(delta, base, pct_digits)
    return fmt(delta, digits, signed=True, scale=scale) + ("" if pct == "–" else f" ({pct})")


def budget_multiple(m: float) -> str:
    """A budget multiple: ``2048``, ``0.5``, ``1/1024`` (a small one as the fraction halving gives)."""
    r = 1.0 / m
    return f"1/{r:.0f}" if m < 0.01 and r == round(r) else f"{m:.4g}"


def ratio_names(reward: str) -> tuple[str, str, str]:
    """(table column, marginal column, metric key) for the reward: CPA for conversions, ROAS otherwise."""
    return ("CPA", "marginal CPA", "mcpa") if reward == "conversions" else ("ROAS", "marginal ROAS", "mroas")


def objective_label(result: PlanResult) -> str:
    """What the plan's value is: ``expected conversions``, and for a family the objective over its train draws
    (``expected revenue (cvar:0.1 over the train draws)``): the summary's, the frontier table's and figure's."""
    outcome = OUTCOME_NAMES[result.reward]
    return f"expected {outcome}" + (f" ({result.objective} over the train draws)" if result.is_family else "")
