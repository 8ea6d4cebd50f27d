r"""The revenue a conversion is worth, for a calibration of a conversions KPI (``calibrate --revenue-per-kpi``).

Meridian's national CSV carries, beside its ``conversions`` KPI, a column ``revenue_per_conversion`` (its
``CoordToColumns.revenue_per_kpi``): the revenue one conversion brought that period. A fit of the conversions
then plans revenue when each conversion is valued at what it is worth now. Over the planning window's length
``n`` (``--plan-periods``) of the data's last periods, the value of a conversion is the conversions-weighted mean

.. math::

    v = \frac{\sum_{t=T-n}^{T-1} y_t^+ \, r_t}{\sum_{t=T-n}^{T-1} y_t^+}

(currency per conversion; :math:`y_t^+ = \max(y_t, 0)` the period's conversions, :math:`r_t` its revenue per
conversion), i.e. those periods' revenue over their conversions; the plain mean of :math:`r_t` over them when they
have no conversions. The text may instead be a number, the value itself (a constant order value). The family's
channels then count conversions worth ``value.mean = v`` each, its ``reward`` is ``revenue`` (``--reward
conversions`` keeps conversions as the objective) and a plan reports revenue, ROAS, conversions and CPA.

Errors are one line naming the file and column: a column that is neither in the data nor a number, one that
already has a role (the KPI, a spend, exposure or control column: :func:`~budgetgym.calibration.data.read_mmm_csv`,
which reads the column with the rest of the file, refuses it as given for two roles), a value that is not a
finite non-negative number or above a scenario's :data:`~budgetgym.envs.scenario_parts.MAX_AMOUNT`, and a value of
0 over the window (its conversions worth nothing: nothing to plan).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from budgetgym.calibration.data import MMMData
from budgetgym.envs.errors import BudgetGymError, count
from budgetgym.envs.numbers import figure
from budgetgym.envs.scenario_parts import AMOUNT_RANGE, amount_text, is_amount

__all__ = ["KpiValue", "revenue_per_kpi", "value_note"]

OPTION = "--revenue-per-kpi"


@dataclass(frozen=True)
class KpiValue:
    """The value of one conversion (currency) and where it came from, as ``fit.md`` says it."""

    value: float
    source: str


def _number(text: str) -> float | None:
    try:
        return float(text)
    except ValueError:
        return None


def revenue_per_kpi(text: str, data: MMMData, periods: int) -> KpiValue:
    """The value :math:`v` of one conversion (module docstring) from ``text``: ``data``'s column of revenue per
    conversion (read with the data, ``read_mmm_csv(..., revenue_per_kpi=text)``: the file is read once), weighted
    over the last ``periods`` periods, or a number."""
    text = text.strip()  # " 40" or "revenue_per_conversion " as typed in a shell script
    if data.revenue_per_kpi is None or text != data.revenue_per_kpi_column:
        number = _number(text)
        if number is None:
            raise BudgetGymError(f"{data.source}: {OPTION}: column '{text}' was not read with the data; expected "
                                 f"read_mmm_csv(..., revenue_per_kpi='{text}') or the revenue of one conversion")
        if not (is_amount(number) and number > 0):
            raise BudgetGymError(f"{OPTION}: expected the revenue of one conversion, a positive amount of currency "
                                 f"{AMOUNT_RANGE}, got {amount_text(number)}")
        return KpiValue(number, f"{OPTION} {text}")
    r = data.revenue_per_kpi
    n = min(periods, len(r))
    y, last = np.maximum(data.kpi[-n:], 0.0), r[-n:]
    value = float(y @ last / y.sum()) if y.sum() > 0 else float(last.mean())
    if not (math.isfinite(value) and value > 0):
        raise BudgetGymError(f"{data.source}: column '{text}': revenue per conversion is 0 in the last "
                             f"{count(n, 'period')}; a conversion worth nothing leaves no revenue to plan")
    how = "the conversions-weighted mean" if y.sum() > 0 else "the mean (no conversions)"
    return KpiValue(value, f"column '{text}', {how} of the last {count(n, 'period')}")


def value_note(value: KpiValue, reward: str) -> str:
    """The line ``calibrate`` prints: what a conversion is worth, from where, and what the family plans."""
    plans = ("the family plans revenue (--reward conversions to plan conversions)" if reward == "revenue"
             else "the family plans conversions, as --reward conversions asks (without it: revenue)")
    return f"a conversion is worth {figure(value.value, 2)} ({value.source}); {plans}"
