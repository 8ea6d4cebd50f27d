"""A number written for people: the one rule of the environment's rendered table and the reports.

:func:`figure` lives in ``envs/`` (which imports nothing from ``experiments/`` or ``planner/``) so that
:meth:`~budgetgym.envs.channel_env.ChannelBudgetEnv.render` and the experiment report
(:func:`budgetgym.experiments.report_format.num`) write a number alike. The formatters that need a rule of
their own build on it and say why: the plan report's :func:`budgetgym.planner.plan_text.fmt` (decimals by
magnitude, a scale below which a number is a solver's rounding of nothing), the calibration report's ``_num`` and
``_money`` (3 significant digits from 1e6 and below 1e-3; whole currency units) and the gate's ``_fmt`` and
``_signed`` (``—`` for a missing cell; a difference's sign always written).
"""

from __future__ import annotations

import math
from typing import Any

__all__ = ["HUGE", "amount_axis", "figure", "tick_amount"]

#: From this size a number is past any budget (``MAX_AMOUNT`` 1e15): it is written to 3 significant digits.
HUGE = 1e16


def figure(x: Any, digits: int = 1, width: int | None = None) -> str:
    """``x`` with thousands separators and ``digits`` decimals (``1,234.5``), unless that would mislead.

    Written to 3 significant digits instead (``7.14e-08``, ``0.004``, ``2.94e+10``) is a number that is

    * non-zero but shown as 0 by ``digits`` decimals (:math:`x \\ne 0` and :math:`\\mathrm{round}(x, d) = 0`);
    * :data:`HUGE` or more in size (past any budget; not a line of 17 or 300 digits);
    * wider than ``width`` characters, when given (a column ``width + 1`` wide then keeps a space before it).

    Parameters
    ----------
    x : a number; ``None`` and NaN are ``–``; what does not read as a number is written as ``str(x)``.
    digits : decimals (``d`` above).
    width : the most characters the fixed-point text may take.

    Returns
    -------
    str
        The text; a zero is never ``-0``.
    """
    if x is None:
        return "–"
    try:
        v = float(x)
    except (TypeError, ValueError):
        return str(x)
    if math.isnan(v):
        return "–"
    rounded = round(v, digits) + 0.0  # + 0.0: no "-0" from rounding
    text = f"{rounded:,.{digits}f}"
    if (v != 0.0 and rounded == 0.0) or abs(v) >= HUGE or (width is not None and len(text) > width):
        return f"{v:.3g}"
    return text


def tick_amount(v: float, _pos: object = None) -> str:
    """An axis tick for an amount (currency, or a KPI's count or revenue), short enough not to run into its
    neighbours: ``950``, ``12.5k``, ``1.2M`` (3 significant digits). A matplotlib ``FuncFormatter``'s function
    (:func:`amount_axis`): the plan's and the calibration's figures share it."""
    a = abs(v)
    if a >= 1e6:
        return f"{v / 1e6:.3g}M"
    return f"{v / 1e3:.3g}k" if a >= 1e3 else f"{v:.3g}"


def amount_axis(axis: Any) -> None:
    """Tick matplotlib ``axis`` (``ax.xaxis``, ``ax.yaxis``) with :func:`tick_amount`. Imports matplotlib."""
    from matplotlib.ticker import FuncFormatter

    axis.set_major_formatter(FuncFormatter(tick_amount))
