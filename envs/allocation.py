r"""From an action in ``[-1, 1]`` to a feasible spend allocation, and back.

Split
-----
The first ``K`` action entries are logits. Non-finite entries are replaced
deterministically (NaN -> 0, +inf -> 1, -inf -> -1), then every entry is clipped
to ``[-1, 1]``. The split is

.. math::  p = \mathrm{softmax}(c\,a), \qquad q = \Pi_S(p),

where ``c`` is ``action.logit_scale`` and :math:`\Pi_S` is the Euclidean
projection onto the feasible splits
:math:`S = \{q : \sum_i q_i = 1,\ \ell_i \le q_i \le h_i\}` (the channels'
share bounds; a locked channel has :math:`\ell_i = h_i`). The projection
(:mod:`budgetgym.envs.simplex_projection`) is
:math:`q_i = \mathrm{clip}(p_i - \nu, \ell_i, h_i)` with the scalar :math:`\nu`
making the shares sum to one. ``a = 0`` gives the equal split (when feasible).
An entry of exactly ``-1`` switches its channel off (softmax weight 0, so share
0 when its lower bound allows), unless every entry is ``-1``. Any feasible split
whose largest-to-smallest positive share ratio is below :math:`e^{2c}` is
reached exactly by :func:`split_to_action` (zero shares included); smaller
positive shares are reached to within :math:`e^{-2c}` of the largest
(``c = 5``: 4.5e-5).

Pacing
------
``even``: each step spends ``min(B/T, remaining)``. ``agent``: the last action
entry ``u`` chooses the step's spend
:math:`s = \tfrac{u+1}{2} \min(\text{remaining}, m B / T)` with ``m`` =
``budget.max_step_multiple``; with ``m = 2``, ``u = 0`` spends ``B/T`` while at
least ``2B/T`` remains. Either way ``s <= remaining``, so the episode's spend
never exceeds the budget ``B``.
"""

from __future__ import annotations

import numpy as np

from budgetgym.envs.rowsum import row_max, row_sum

# The projection onto the feasible splits has its own module; re-exported on purpose: the environments, agents
# and oracle import it from here.
from budgetgym.envs.simplex_projection import (
    MICHELOT_STEPS,
    project_bounded_simplex,
    project_rows,
    project_rows_few_bounds,
    project_rows_newton,
)

__all__ = [
    "sanitize_action",
    "softmax_split",
    "project_bounded_simplex",
    "project_rows",
    "project_rows_newton",
    "project_rows_few_bounds",
    "MICHELOT_STEPS",
    "action_to_split",
    "trivial_bounds",
    "lock_degenerate_bounds",
    "split_to_action",
    "pacing_spend",
    "spend_to_pacing_action",
]


def sanitize_action(action: np.ndarray) -> np.ndarray:
    """NaN -> 0, +inf -> 1, -inf -> -1, then clip to [-1, 1] (float64 copy)."""
    a = np.array(action, dtype=np.float64)  # a copy, then clipped in place
    np.clip(a, -1.0, 1.0, out=a)  # clip maps +-inf to +-1
    nan = np.isnan(a)
    if nan.any():
        a[nan] = 0.0
    return a


def softmax_split(logits: np.ndarray, scale: float) -> np.ndarray:
    """``softmax(scale * logits)`` over the last axis, where an entry of exactly -1 gets share 0
    (unless every entry of the row is -1: then the split is equal)."""
    z = np.multiply(scale, logits)
    rows = z.ndim == 2  # a batch: the row maxima and sums column by column (the same numbers)
    top = row_max(z)[:, None] if rows else z.max(axis=-1, keepdims=True)
    z = np.exp(np.subtract(z, top, out=z), out=z)  # each pass in place
    off = logits <= -1.0
    if off.any():
        z = np.where(off & ~off.all(axis=-1, keepdims=True), 0.0, z)
    return np.divide(z, row_sum(z)[:, None] if rows else z.sum(axis=-1, keepdims=True), out=z)


def action_to_split(logits: np.ndarray, scale: float, low: np.ndarray, high: np.ndarray) -> np.ndarray:
    """Feasible split ``q`` from split logits (see the module docstring)."""
    p = softmax_split(sanitize_action(logits), scale)
    if trivial_bounds(low, high):  # softmax output is already a feasible split
        return p
    return project_bounded_simplex(p, low, high)


def trivial_bounds(low: np.ndarray, high: np.ndarray) -> bool:
    """True when every share may range over all of [0, 1] (no projection needed)."""
    return not low.any() and bool((high >= 1.0).all())


def lock_degenerate_bounds(low: np.ndarray, high: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    r"""Bounds that leave (numerically) a single feasible split, locked to that split.

    With :math:`\theta = (1 - \sum_i \ell_i) / \sum_i (h_i - \ell_i)`, the feasible splits are
    :math:`\ell + \theta' (h - \ell)`-like only when :math:`\theta \le 10^{-12}` (every channel at
    its lower bound) or :math:`\theta \ge 1 - 10^{-12}` (every channel at its upper bound); then
    ``low = high = low + clip(theta, 0, 1) (high - low)``. Otherwise the bounds are returned as given.
    """
    lo, hi = np.asarray(low, dtype=float), np.asarray(high, dtype=float)
    theta = (1.0 - lo.sum()) / max((hi - lo).sum(), 1e-300)
    if theta <= 1e-12 or theta >= 1.0 - 1e-12:
        lo = hi = lo + (hi - lo) * min(max(theta, 0.0), 1.0)
    return lo, hi


def split_to_action(split: np.ndarray, scale: float) -> np.ndarray:
    """Logits in [-1, 1] whose :func:`action_to_split` is ``split`` (see module docstring).

    The largest share maps to +1; share ``q_i`` maps to ``1 + log(q_i / q_max) / scale``,
    clipped at -1 (zero shares map to -1). A scale near the smallest float the schema accepts
    (``logit_scale: 5e-324``) takes ``log(q_i / q_max) / scale`` past the float range: that is ``-inf``,
    clipped to -1 as well (every action then spends the equal split, or switches channels off).
    """
    q = np.asarray(split, dtype=np.float64)
    with np.errstate(divide="ignore"):
        logq = np.log(np.maximum(q, 0.0))
    top = logq.max(axis=-1, keepdims=True)
    with np.errstate(over="ignore"):
        return np.clip(1.0 + (logq - top) / scale, -1.0, 1.0)


def pacing_spend(u: float, remaining: float, cap: float) -> float:
    """Agent pacing: ``(u+1)/2 * min(remaining, cap)`` with ``u`` sanitised to [-1, 1]."""
    u = float(sanitize_action(np.asarray(u)))
    return 0.5 * (u + 1.0) * max(0.0, min(remaining, cap))


def spend_to_pacing_action(spend: float, remaining: float, cap: float) -> float:
    """Inverse of :func:`pacing_spend`: the ``u`` that spends ``spend`` (clipped to [-1, 1])."""
    room = max(0.0, min(remaining, cap))
    if room <= 0.0:
        return -1.0
    return float(np.clip(2.0 * spend / room - 1.0, -1.0, 1.0))
