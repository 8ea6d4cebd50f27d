r"""Spend plans that look like real media plans, for synthetic marketing-mix datasets.

A real plan is not white noise: channels run in **flights** (weeks on, then dark), at their
own levels, some always on (search, email), some in bursts (TV, video), and a weakly-used
channel may spend in only a fifth of the periods. :func:`random_flighting` draws such a plan,
seeded, for ``N`` periods with an average spend per period ``s`` (the scenario's ``B/T``):

1. channel shares :math:`q \sim \text{Dirichlet}(1.5, \dots)`;
2. per channel, a kind: *always on* (probability 0.3), *flighted* (0.55: on for a geometric
   number of periods of mean :math:`L_{on} \sim U(4, 12)`, dark for one of mean
   :math:`L_{off} \sim U(2, 8)`) or *sparse* (0.15: on in about a fifth of the periods, in short
   flights of mean 3);
3. while on, spend :math:`x_{t,i} = q_i s / \bar o_i \cdot \ell_{t,i}`, where :math:`\bar o_i` is
   the channel's share of periods on (so its mean spend stays :math:`q_i s`) and
   :math:`\log \ell_{t,i}` an AR(1) with coefficient 0.7 and stationary sd :math:`\sigma_\ell`
   (``level_sd``, default :data:`LEVEL_SD` = 0.3: levels drift from flight to flight), centred so
   :math:`E[\ell] = 1`. A larger ``level_sd`` spreads each channel's spend over a wider range (about
   :math:`e^{\pm 2.5\sigma_\ell}` times its mean over three years of weeks): data that show more of each
   response curve, as a plan with deliberate spend tests would.

Every channel is on in at least one period. The plan's total is close to, not exactly,
:math:`N s`.
"""

from __future__ import annotations

import numpy as np

__all__ = ["LEVEL_SD", "MAX_LEVEL_SD", "random_flighting"]

#: The default sd of a channel's log spend level (module docstring).
LEVEL_SD = 0.3
#: The largest ``level_sd`` accepted (e^(2.5 * 3): spends 1800 times the mean in some period).
MAX_LEVEL_SD = 3.0


def _flights(rng: np.random.Generator, n: int, mean_on: float, mean_off: float) -> np.ndarray:
    """On/off indicator of ``n`` periods: alternating geometric runs, starting in a random phase."""
    on = np.zeros(n, dtype=bool)
    t = 0
    state = bool(rng.random() < mean_on / (mean_on + mean_off))
    while t < n:
        length = int(rng.geometric(1.0 / (mean_on if state else mean_off)))
        on[t : t + length] = state
        t += length
        state = not state
    return on


def random_flighting(n_periods: int, step_spend: float, n_channels: int, rng: np.random.Generator,
                     level_sd: float = LEVEL_SD) -> np.ndarray:
    """A seeded, realistic spend plan ``[n_periods, n_channels]`` (currency per period) whose log
    spend levels have stationary sd ``level_sd`` (0 to :data:`MAX_LEVEL_SD`); see the module docstring."""
    if not (np.isfinite(level_sd) and 0.0 <= level_sd <= MAX_LEVEL_SD):
        raise ValueError(f"level_sd: expected 0 to {MAX_LEVEL_SD:g}, got {level_sd!r}")
    N, K = int(n_periods), int(n_channels)
    q = rng.dirichlet(np.full(K, 1.5))
    plan = np.zeros((N, K))
    sd, rho = float(level_sd), 0.7
    for i in range(K):
        kind = rng.choice(3, p=[0.3, 0.55, 0.15])
        if kind == 0:
            on = np.ones(N, dtype=bool)
        elif kind == 1:
            on = _flights(rng, N, rng.uniform(4, 12), rng.uniform(2, 8))
        else:
            on = _flights(rng, N, 3.0, 12.0)
        if not on.any():
            on[rng.integers(N)] = True
        z = np.zeros(N)
        z[0] = rng.standard_normal() * sd
        for t in range(1, N):
            z[t] = rho * z[t - 1] + np.sqrt(1 - rho**2) * sd * rng.standard_normal()
        level = np.exp(z - 0.5 * sd**2)
        plan[:, i] = np.where(on, q[i] * step_spend / on.mean() * level, 0.0)
    return plan
