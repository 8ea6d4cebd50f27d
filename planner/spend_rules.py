r"""What counts as spend in a plan (or a history): the planner's one rule for the solver's rounding of 0.

The barrier method (:mod:`budgetgym.envs.barrier`) keeps every spend strictly positive, so a solved plan holds a
tiny spend on the channels and steps it does not use. An entry of a plan ``X [..., T, K]`` is **spent** when it
exceeds :data:`ZERO_RTOL` of the plan's largest step, :math:`X_{t,i} > \epsilon \max_{s,j} X_{s,j}`
(:func:`spent`); the rest is the rounding of 0. On that rule: each channel's spend that counts
(:func:`counted_spend`), whether a plan spends on a channel (:func:`spends_on`), its largest step per channel
(:func:`plan_peaks`), and the plan without its rounding (:func:`without_residue`, :func:`without_free_residue`
where that costs no value). A history given as spend per step is read by the same rule (an earlier ``plan.csv``
holds its solver's rounding of 0).

:mod:`budgetgym.planner.metrics` builds the per-channel figures on it and re-exports every name here.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

__all__ = ["RESIDUE_VALUE_RTOL", "ZERO_RTOL", "counted_spend", "plan_peaks", "spends_on", "spent", "without_residue",
           "without_free_residue"]

#: A plan's spend below this fraction of its largest step is the solver's rounding of 0, not spend:
#: the barrier method keeps every spend strictly positive, and a channel a plan does not use holds
#: 1e-13 to 5e-10 of its largest step (``pulse-4``, ``overlap-5``, ``s-curve-5``, ``large-50``).
ZERO_RTOL = 1e-6
#: Dropping a plan's rounding of 0 (:func:`without_free_residue`) may cost at most this fraction of its value.
RESIDUE_VALUE_RTOL = 1e-9


def spent(plan: np.ndarray) -> np.ndarray:
    """Where plan ``X [..., T, K]`` spends: ``X > ZERO_RTOL * max X`` (the largest step of each plan,
    over its steps and channels; :data:`ZERO_RTOL`), a boolean array of ``X``'s shape."""
    X = np.asarray(plan, dtype=float)
    top = X.max(axis=(-2, -1), keepdims=True) if X.size else np.zeros((1,) * X.ndim)
    return X > ZERO_RTOL * np.maximum(top, 0.0)


def counted_spend(plan: np.ndarray) -> np.ndarray:
    r"""Each channel's spend that counts, ``[..., K]``: the sum of plan ``X [..., T, K]``'s entries that are spent
    (:func:`spent`, the planner's one threshold rule),

    .. math::  S^{c}_i = \sum_t X_{t,i}\,[X_{t,i} > \epsilon \max_{s,j} X_{s,j}],
               \quad \epsilon = \text{ZERO_RTOL},

    0 for a channel holding only the solver's rounding of 0. A channel with counted spend, however small
    against the budget (0.05 of a budget of 84,000 in one step), has a ROAS and CPA
    (:func:`~budgetgym.planner.metrics.channel_table`) and its spend is printed with its digits, not as 0
    (:func:`~budgetgym.planner.plan_text.channel_rows`)."""
    X = np.asarray(plan, dtype=float)
    return np.asarray(np.where(spent(X), X, 0.0).sum(axis=-2))


def spends_on(plan: np.ndarray) -> np.ndarray:
    """Whether plan ``X [..., T, K]`` spends on each channel: its :func:`counted_spend` is positive (the solver's
    rounding of 0 on a channel a solved plan drops is no spend), a boolean array ``[..., K]``."""
    return np.asarray(counted_spend(plan) > 0)


def without_residue(plan: np.ndarray) -> np.ndarray:
    r"""Plan ``X [..., T, K]`` without the solver's rounding of 0: every entry that is not spent
    (:func:`spent`) set to 0, and each step's spent entries scaled by one factor so that the step
    keeps its total,

    .. math::  X'_{t,i} = [X_{t,i}\ \text{spent}]\, X_{t,i}\,
               \frac{\sum_j X_{t,j}}{\sum_j [X_{t,j}\ \text{spent}]\, X_{t,j}}

    (a step with no spent entry becomes 0). A plan without such entries is returned unchanged to
    the last bit; otherwise the largest relative change of an entry is the step's residue over its
    total (below 1e-9 on every built-in scenario's oracle plan).
    """
    X = np.asarray(plan, dtype=float)
    kept = np.where(spent(X), X, 0.0)
    rows = kept.sum(axis=-1, keepdims=True)
    scale = np.divide(X.sum(axis=-1, keepdims=True), rows, out=np.zeros_like(rows), where=rows > 0)
    return kept * scale


def without_free_residue(plan: np.ndarray, value: Callable[[np.ndarray], Any]) -> np.ndarray:
    r"""Plan ``X [T, K]`` without the solver's rounding of 0, :math:`X'` = :func:`without_residue` ``(X)``,
    where that costs nothing: :math:`X'` when :math:`V(X') \ge V(X) - \epsilon\,|V(X)|`
    (:math:`\epsilon` = :data:`RESIDUE_VALUE_RTOL`), ``X`` otherwise. ``value`` maps plans ``[N, T, K]`` to
    their values ``[N]`` (``evaluate_plan``, or the planner's objective).

    Below :data:`ZERO_RTOL` of the largest step a spend is rounding of 0 on the built-in campaigns (moving it
    to the step's other channels changes the value by less than 1e-9 of it), but not on every campaign: a
    channel priced at 1e-9 a thousand impressions saturates on 5e-9 of a step of 7.5, a spend of 7e-10 of
    the step worth a third of the plan's conversions. That spend is kept.
    """
    X = np.asarray(plan, dtype=float)
    clean = without_residue(X)
    if np.array_equal(clean, X):
        return X
    before, after = np.asarray(value(np.stack([X, clean])), dtype=float)
    return clean if after >= before - RESIDUE_VALUE_RTOL * abs(before) else X


def plan_peaks(plan: np.ndarray) -> np.ndarray:
    """``[..., K]``: plan ``X [..., T, K]``'s largest step on each channel, 0 on a channel it does not spend on
    (:func:`spends_on`: not the solver's rounding of 0)."""
    X = np.asarray(plan, dtype=float)
    return np.where(spent(X), X, 0.0).max(axis=-2)
