r"""Splitting one step's budget on a grid: a dynamic programme over channels, on plain arrays.

Given the value :math:`V_{t}(g, i)` of giving channel ``i`` the share :math:`g/(G-1)` of
step ``t``'s budget (``G`` grid points, ``g = 0 .. G-1``), the programme finds, per step,

.. math::

    \max_{g_1, \dots, g_K} \sum_i V_t(g_i, i) \quad \text{s.t.} \quad \sum_i g_i = G - 1,
    \qquad \ell_i \le g_i / (G-1) \le h_i,

exactly (to the grid), for any shape of the values (S-curves included), by the knapsack
recursion :math:`B_i(g) = \max_{g' \le g} B_{i-1}(g - g') + V(g', i)` in
:math:`O(T K G^2)`. It knows nothing about scenarios: the oracle uses it as a start (with
:math:`V` from the true curves at steady state), and ``model_thompson`` to split each step
under its posterior draw (with :math:`V` from the drawn curves), through :func:`grid_split_within`
(one step's split within share bounds, channels locked by them taken out first).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from budgetgym.envs.allocation import lock_degenerate_bounds, project_bounded_simplex

__all__ = ["grid_fractions", "grid_split_values", "grid_split_within"]


def grid_fractions(grid: int) -> np.ndarray:
    """The ``grid`` share levels ``0, 1/(grid-1), ..., 1`` of the step budget."""
    if grid < 2:
        raise ValueError(f"grid: expected at least 2 points, got {grid}")
    return np.linspace(0.0, 1.0, grid)


def grid_split_values(values: np.ndarray, low: np.ndarray, high: np.ndarray) -> np.ndarray:
    """Shares maximising the summed grid values, per step.

    Parameters
    ----------
    values : ``[T, G, K]`` (or ``[G, K]`` for one step): value of share ``g/(G-1)`` in channel
        ``i``; any finite numbers (``-inf`` marks a level as forbidden).
    low, high : ``[K]`` share bounds; levels outside ``[low - 1e-12, high + 1e-12]`` are forbidden.

    Returns
    -------
    ``[T, K]`` (or ``[K]``) shares on the grid, summing to one per step.
    """
    V = np.asarray(values, dtype=float)
    single = V.ndim == 2
    V = V[None] if single else V
    T, G, K = V.shape
    frac = grid_fractions(G)
    outside = (frac[:, None] < np.asarray(low)[None, :] - 1e-12) | (frac[:, None] > np.asarray(high)[None, :] + 1e-12)
    V = np.where(outside[None], -np.inf, V)
    best = V[:, :, 0]
    choice = np.zeros((T, K, G), dtype=int)
    pad = np.full((T, G - 1), -np.inf)
    for i in range(1, K):
        # cand[t, g, g'] = best[t, g - g'] + V[t, g', i]  (-inf where g' > g): a strided view of
        # the padded best, reversed, so no [T, G, G] index array is built
        window = sliding_window_view(np.concatenate([pad, best], axis=1), G, axis=1)[:, :, ::-1]
        cand = window + V[:, None, :, i]
        choice[:, i] = np.argmax(cand, axis=2)
        best = np.take_along_axis(cand, choice[:, i, :, None], axis=2)[:, :, 0]
    shares = np.zeros((T, K))
    rem = np.full(T, G - 1)
    for i in range(K - 1, 0, -1):
        g = choice[np.arange(T), i, rem]
        shares[:, i] = frac[g]
        rem = rem - g
    shares[:, 0] = frac[rem]
    return shares[0] if single else shares


def grid_split_within(
    value: Callable[[np.ndarray, list[int]], np.ndarray], spend: float, low: np.ndarray, high: np.ndarray, grid: int
) -> np.ndarray:
    r"""Shares of one step's ``spend`` (currency) maximising :math:`\sum_i V_i(x_i)` within the share bounds
    ``low``, ``high`` ``[K]``, by :func:`grid_split_values` on ``grid`` levels of the free channels' budget.

    Channels locked by their bounds (``high - low <= 1e-12``) are taken out first, so their off-grid shares stay
    exact; ``value(x, sub)`` tabulates :math:`V_i` of the free channels ``sub`` at the spends ``x`` ``[G, 1]``,
    ``[G, len(sub)]``. The result is projected on the bounded simplex, exactly feasible even where a bound falls
    between grid points: exact to one cell of the grid.
    """
    lo, hi = low, high
    free = hi - lo > 1e-12
    locked_total = float(lo[~free].sum())
    split = np.where(free, 0.0, lo)
    room = 1.0 - locked_total
    nf = int(free.sum())
    if nf == 0 or room <= 1e-12:
        return project_bounded_simplex(np.where(free, lo, split), lo, hi)
    if nf == 1:
        split[free] = room
        return split
    idx = np.flatnonzero(free)
    lo_f = np.minimum(lo[idx] / room, 1.0)
    hi_f = np.minimum(hi[idx] / room, 1.0)
    unit = float(max(spend * room, 1e-9))  # the free channels' budget
    x = grid_fractions(grid)[:, None] * unit  # [G, 1]
    values = value(x, idx.tolist())  # [G, nf]
    shares = grid_split_values(values, *lock_degenerate_bounds(np.minimum(lo_f, hi_f), hi_f))
    split[idx] = room * shares
    # guard: exactly feasible even if the bounds fall between grid points
    return project_bounded_simplex(split, lo, hi)
