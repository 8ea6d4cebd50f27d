r"""What one step's spend is worth with carry-over, for ``model_thompson``'s paced steps.

Given a channel's lag kernel (a negative-binomial lag of shape ``k`` and decay :math:`\theta`, the grid of
:class:`~budgetgym.agents.hill_posterior.HillGridPosterior`), its Hill curve and what the spends before and after
step ``t`` already put into the lagged spend, :func:`carryover_step_value` values a spend at step ``t`` over the
steps its carry-over reaches and :func:`tabulate_within` tabulates the mean of that value over posterior draws
inside each channel's allowed spend range. Their inputs: the share of the lag kernel landed within a number of
steps (:func:`lag_mass_within`, tabulated once per agent by :func:`lag_mass_table`) and the carry-over of past
spends into the next steps (:func:`carryover_forecast`). The equations are in
:mod:`budgetgym.agents.model_thompson`'s docstring; the posterior itself is :mod:`budgetgym.agents.hill_posterior`,
which re-exports these names.
"""

from __future__ import annotations

import numpy as np

from budgetgym.envs import curves

__all__ = [
    "carryover_forecast",
    "carryover_step_value",
    "lag_mass_table",
    "lag_mass_within",
    "tabulate_within",
]


def lag_mass_within(steps: int | np.ndarray, shape: np.ndarray, decay: np.ndarray) -> np.ndarray:
    r"""Share of the lag kernel (shape ``k``, decay :math:`\theta`) on lags ``0..steps-1``:
    the negative-binomial CDF :math:`P(L \le \text{steps} - 1)` (``steps`` broadcasts)."""
    from scipy import stats  # here: scipy.stats costs ~0.8 s of an import, and acting reads lag_mass_table

    last = np.maximum(np.asarray(steps, dtype=int), 1) - 1
    return stats.nbinom.cdf(last, np.asarray(shape, dtype=float), 1.0 - np.asarray(decay))


def lag_mass_table(horizon: int, shapes: np.ndarray, decays: np.ndarray) -> np.ndarray:
    r""":func:`lag_mass_within` for every ``steps = 1..horizon`` and every (lag shape, decay) pair of a grid:
    ``table[steps - 1, i, j]`` is the share :math:`P(L \le \text{steps} - 1)` for shape ``shapes[i]`` and
    decay ``decays[j]``, ``[max(horizon, 1), n_shape, n_theta]``.

    An agent's grid and horizon are fixed, so it reads this table each step instead of evaluating the CDF
    (a tenth of ``model_thompson``'s time per step); the CDF is elementwise, so the numbers are the same bits."""
    steps = np.arange(1, max(int(horizon), 1) + 1)
    return lag_mass_within(steps[:, None, None], np.asarray(shapes)[None, :, None], np.asarray(decays)[None, None, :])


def _lag_weights_and_base(
    landed: np.ndarray, past: np.ndarray, future: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    r"""``(w_l, b_l)`` of :func:`carryover_step_value`: the lag kernel's weights :math:`w_l = F_l - F_{l-1}` from its
    CDF ``landed`` (:math:`F_{-1} = 0`) and the lagged spend without step ``t``'s own,
    :math:`b_l = p_l + y F_{l-1}`, both ``[..., R, K]``. One definition for :func:`carryover_step_value` and
    :func:`tabulate_within`, whose numbers must be the same to the last bit."""
    F = np.asarray(landed, dtype=float)
    before = np.concatenate([np.zeros_like(F[..., :1, :]), F[..., :-1, :]], axis=-2)  # F_{l-1}
    return F - before, np.asarray(past, dtype=float) + np.asarray(future, dtype=float) * before


def carryover_forecast(carry: np.ndarray, decays: np.ndarray, steps: int) -> np.ndarray:
    r"""The carry-over state of the next ``steps`` steps if nothing more were spent, ``[steps, ...]``.

    Row ``l`` is :func:`~budgetgym.agents.hill_posterior.normalised_carryover` applied ``l + 1`` times to
    ``carry`` (``[..., n_stage, n_theta]``, the state after the last step observed) with zero spend: stage ``k``
    of row ``l`` is :math:`\sum_{m > l} w^{(k)}_m x_{t+l-m}`, what the spends before step ``t`` still add to the
    lagged spend :math:`\bar a_{t+l}` (currency per step).

    Computed stage by stage: stage ``k``'s input :math:`(1-\theta) \bar a^{(k-1)}_l` is known for every row
    once stage ``k - 1`` is (zero for stage 1), so each row costs one product and one sum,
    :math:`\bar a^{(k)}_l = (1-\theta) \bar a^{(k-1)}_l + \theta \bar a^{(k)}_{l-1}` — the operations of
    :func:`~budgetgym.agents.hill_posterior.normalised_carryover` in the same order, so the same numbers to the
    last bit.
    """
    state = np.asarray(carry, dtype=float)
    decays = np.asarray(decays, dtype=float)
    out = np.empty((max(int(steps), 0), *state.shape))
    if len(out) == 0:
        return out
    stage_in = np.zeros((len(out), *state.shape[:-2], 1))  # [R, ..., 1]: the spend, zero
    for k in range(state.shape[-2]):
        inflow = (1.0 - decays) * stage_in  # [R, ..., n_theta]
        previous = state[..., k, :]
        for row in range(len(out)):
            previous = out[row, ..., k, :] = inflow[row] + decays * previous
        stage_in = out[..., k, :]
    return out


def tabulate_within(
    spend: np.ndarray,
    low: np.ndarray,
    high: np.ndarray,
    scale: np.ndarray,
    kappa: np.ndarray,
    slope: np.ndarray,
    landed: np.ndarray,
    past: np.ndarray,
    future: np.ndarray,
) -> np.ndarray:
    r"""The mean over ``M`` draws of :func:`carryover_step_value`, tabulated only where ``low <= spend <= high``.

    .. math:: \bar V_i(x) = \frac{1}{M} \sum_{m=1}^{M} V^{(m)}_i(x) \quad \text{if } \text{low}_i \le x \le
              \text{high}_i, \qquad -\infty \text{ otherwise},

    with :math:`V^{(m)}_i` channel ``i``'s :func:`carryover_step_value` under draw ``m``. A paced step's split may
    move each channel's spend only within a small range, so the Hill curves are valued only at the grid spends
    inside it (the cost scales with the spends kept, not the whole grid). Every kept value is computed with the
    same operations as the whole table of :func:`carryover_step_value` followed by ``.mean(axis=0)``: the same
    elementwise arithmetic, the sum over lags ``l = 0 .. R-1`` and the mean over draws taken in order, so the
    numbers are those of the whole table to the last bit.

    Parameters
    ----------
    spend : ``[G, 1]`` or ``[G, K]``, currency at step ``t``.
    low, high : ``[K]``, each channel's allowed spend range (a range with ``low > high`` keeps nothing).
    scale, landed, past : ``[M, R, K]``; kappa, slope : ``[M, K]``; future : ``[K]`` — as in
        :func:`carryover_step_value`, one row per draw (``M >= 1``).

    Returns
    -------
    ``[G, K]``: :math:`\bar V` inside the range, ``-inf`` outside.
    """
    c = np.asarray(scale, dtype=float)
    M, R, K = c.shape
    x = np.broadcast_to(np.asarray(spend, dtype=float), (np.shape(spend)[0], K))
    inside = (x >= np.asarray(low, dtype=float)) & (x <= np.asarray(high, dtype=float))
    table = np.full(x.shape, -np.inf)
    g_at, k_at = np.nonzero(inside)  # the kept (spend, channel) cells, P of them
    if len(g_at) == 0 or R == 0:
        table[g_at, k_at] = 0.0  # no lag: nothing to add (the whole table's empty sum)
        return table
    weight, base = _lag_weights_and_base(landed, past, future)  # w_l, b_l [M, R, K]
    k = np.asarray(kappa, dtype=float)[:, None, :]
    s = np.asarray(slope, dtype=float)[:, None, :]
    level = base[..., k_at] + weight[..., k_at] * x[g_at, k_at]  # b_l + w_l x [M, R, P]
    grown = curves.hill(level, c[..., k_at], k[..., k_at], s[..., k_at])
    gain = grown - curves.hill(base, c, k, s)[..., k_at]  # [M, R, P]
    # the sums in order (lag by lag, then draw by draw), as numpy's reductions over these outer axes take them
    total = gain[:, 0].copy()
    for lag in range(1, R):
        total += gain[:, lag]
    mean = total[0].copy()
    for m in range(1, M):
        mean += total[m]
    table[g_at, k_at] = mean / M
    return table


def carryover_step_value(
    spend: np.ndarray,
    scale: np.ndarray,
    kappa: np.ndarray,
    slope: np.ndarray,
    landed: np.ndarray,
    past: np.ndarray,
    future: np.ndarray,
) -> np.ndarray:
    r"""What spending ``spend`` at step ``t`` adds to the modelled response of steps ``t .. t+R-1``, carry-over
    included.

    With the lag kernel :math:`w_l` (weights of lags ``l = 0, 1, ...``; its CDF :math:`F_l = \sum_{m \le l}
    w_m` is ``landed``), the lagged spend of step :math:`t+l` is the sum of three parts: the spends before
    ``t`` (``past``: :math:`p_l`, see :func:`carryover_forecast`), the spends assumed for the steps after
    ``t`` (``future``: a constant :math:`y` per step, which adds :math:`y F_{l-1}`, :math:`F_{-1} = 0`) and
    step ``t``'s own spend :math:`x`, which adds only :math:`w_l x`. Then

    .. math::

        V(x) = \sum_{l=0}^{R-1} c_l \left[ g(b_l + w_l x) - g(b_l) \right], \qquad
        b_l = p_l + y F_{l-1}, \qquad g(a) = \frac{a^s}{a^s + \kappa^s},

    with :math:`c_l` the ``scale`` of step :math:`t+l` (conversions or value at saturation). Valued at
    steady state instead (:math:`b_l + w_l x` replaced by :math:`x` for every ``l``, i.e. ``x`` spent every
    step), a one-step burst counts as if sustained: an S-shaped curve of a channel with long carry-over
    clears its threshold at steady state while the burst, spread over the lags, moves the lagged spend by
    only :math:`w_0 x = (1-\theta)^k x` at once.

    Parameters
    ----------
    spend : ``[G, 1]`` or ``[G, K]``, currency at step ``t``.
    scale : ``[..., R, K]``, :math:`c_l`: the curve's scale at step :math:`t+l` (conversions, or value, per step).
    kappa, slope : ``[..., K]``, the Hill curve (``kappa`` in currency per step).
    landed : ``[..., R, K]``, :math:`F_l`, the lag's CDF at lags ``0 .. R-1``.
    past : ``[..., R, K]``, :math:`p_l`, currency per step.
    future : ``[K]``, :math:`y`, currency per step.

    The leading axes ``...`` (e.g. several posterior draws) broadcast.

    Returns
    -------
    ``[..., G, K]``: :math:`V` at each spend (0 at ``x = 0``), in the unit of ``scale``.
    """
    weight, base = _lag_weights_and_base(landed, past, future)  # w_l, b_l [..., R, K]
    x = np.asarray(spend, dtype=float)  # [G, K or 1]
    c = np.asarray(scale, dtype=float)
    k = np.asarray(kappa, dtype=float)[..., None, :]
    s = np.asarray(slope, dtype=float)[..., None, :]
    level = base[..., None, :] + weight[..., None, :] * x  # b_l + w_l x [..., R, G, K]
    grown = curves.hill(level, c[..., None, :], k[..., None, :], s[..., None, :])
    return (grown - curves.hill(base, c, k, s)[..., None, :]).sum(axis=-3)  # the sum over l
