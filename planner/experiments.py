r"""The experiment a planner should run next: a lift test per channel the plan spends on beyond its history.

A plan that spends on channel ``i`` above its largest step of the history
(:func:`~budgetgym.planner.metrics.beyond_history`) rests there on the response curve beyond any
spend the history shows: for a calibrated family, the curve's form and priors, not data. A lift
test (:mod:`budgetgym.calibration.lift`) that holds the channel at the plan's level measures the
curve exactly there; ``budgetgym calibrate --lift-tests`` then fits it. :func:`lift_design`
proposes one test per such channel, in the lift-test layout without the measurement:

================  ===================================================================================
column            meaning
================  ===================================================================================
channel           the channel's name (``calibrate --lift-tests`` and ``simulate --lift-design`` read it)
x                 :math:`x_i = \frac1H \sum_h S_{h,i}`: the channel's mean spend per period over the
                  history ``S [H, K]``, the level it runs at today (the test's control; a step at
                  the solver's rounding of 0 is 0, :func:`history_levels`)
delta_x           :math:`\Delta x_i = \ell_i - x_i`, so the test holds the channel at ``planned_spend``
planned_spend     :math:`\ell_i`, the level to test: the plan's mean spend per period over the periods
                  it spends on the channel, :math:`\bar X_i = \sum_t X_{t,i} / |\{t: X_{t,i} > 0\}|`,
                  or the plan's largest step :math:`\max_t X_{t,i}` when :math:`\bar X_i` is within
                  the history (:math:`\bar X_i \le \max_h S_{h,i}`)
plan_max_spend    :math:`\max_t X_{t,i}`, the plan's largest step on the channel (0 on a channel it
                  stops, whose steps are the solver's rounding of 0,
                  :func:`~budgetgym.planner.metrics.plan_peaks`)
history_max_spend :math:`\max_h S_{h,i}`, the history's largest step on it
================  ===================================================================================

**Why the mean over the periods it spends.** A lift test holds a level for weeks so the
carry-over builds up, and measures the steady-state response there. The plan's money on a channel
is spent at about its mean level over the periods it is on (a flight's steps are alike; dark
periods spend nothing and are left out, so a pulsed channel is tested at its pulses' level, not
diluted by the gaps): the curve matters most there. The largest step is one period's extreme (a
test there costs more and reads the curve where little of the money goes); it is the level only
when the mean is still within the history, so the test always reaches beyond the history, where the
plan has no data.

**Its limits**, and the alternative. One test from today's level to a far one pins the curve's
height there, not its bend in between; a channel the fitted curve is too pessimistic about is never
planned beyond the history, so never tested; and a test's worth to the decision plays no part.
For a family, :func:`~budgetgym.planner.voi.voi_design` (``plan --lift-design voi``) ranks
candidate tests at several levels of every channel by their expected value of information over
the family's draws. Its ``lift_design.csv`` has these columns with one difference of meaning:
``planned_spend`` is still the level tested, ``x + delta_x``, but the candidate level chosen (0.5-5
times ``x``, the plan's level or a draw's plan's), not necessarily the plan's.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from budgetgym.planner.metrics import spent

__all__ = ["DESIGN_COLUMNS", "history_levels", "lift_design", "spend_levels"]

#: The columns of ``lift_design.csv`` (module docstring); the first three are the test itself.
DESIGN_COLUMNS = ("channel", "x", "delta_x", "planned_spend", "plan_max_spend", "history_max_spend")


def spend_levels(plan: np.ndarray) -> np.ndarray:
    r""":math:`\bar X_i = \sum_t X_{t,i} / |\{t: X_{t,i} > 0\}|`, each channel's mean spend per period
    over the periods plan ``X`` ``[..., T, K]`` spends on it (0 where it spends nothing), ``[..., K]``.
    A step at the solver's rounding of 0 is not spent on (:func:`~budgetgym.planner.metrics.spent`):
    a solved plan's dark steps hold 1e-13 to 5e-10 of its largest step, not 0."""
    X = np.asarray(plan, dtype=float)
    mask = spent(X)
    on = mask.sum(axis=-2)
    return np.divide(np.where(mask, X, 0.0).sum(axis=-2), on, out=np.zeros(on.shape), where=on > 0)


def history_levels(history: np.ndarray) -> np.ndarray:
    r""":math:`x_i = \frac1H \sum_h S_{h,i}`, each channel's mean spend per period over history ``S [H, K]``
    (a test's control), a step at the solver's rounding of 0 counted as 0
    (:func:`~budgetgym.planner.metrics.spent`: an earlier plan's ``plan.csv`` given as the history), ``[K]``."""
    S = np.asarray(history, dtype=float)
    return np.where(spent(S), S, 0.0).mean(axis=0)


def lift_design(
    names: list[str], plan: np.ndarray, history: np.ndarray, beyond: list[dict[str, float | str | None]]
) -> pd.DataFrame:
    """One proposed lift test per channel of ``plan`` ``[T, K]`` beyond ``history`` ``[H, K]``
    (spend per step, channels ``names``; ``beyond``: :func:`~budgetgym.planner.metrics.beyond_history`
    of the plan, which has each such channel's largest steps), with the columns
    :data:`DESIGN_COLUMNS` (module docstring); no rows when no channel is beyond the history (or
    there is none)."""
    X = np.asarray(plan, dtype=float)
    S = np.asarray(history, dtype=float).reshape(-1, X.shape[1])
    rows = []
    if len(S):
        mean, levels = history_levels(S), spend_levels(X)
        for b in beyond:
            i = names.index(str(b["channel"]))
            level = float(levels[i])
            peak, top = float(b["plan_max_step"] or 0.0), float(b["history_max_step"] or 0.0)
            if level <= top:  # the pulses' mean is within the history: test at the plan's largest step
                level = peak
            rows.append({"channel": names[i], "x": float(mean[i]), "delta_x": level - float(mean[i]),
                         "planned_spend": level, "plan_max_spend": peak, "history_max_spend": top})
    return pd.DataFrame(rows, columns=list(DESIGN_COLUMNS))
