r"""Multi-armed bandits over a discrete set of candidate splits, learning within one campaign.

Registry names: ``epsilon_greedy``, ``ucb1``, ``thompson``. All three are one implementation,
:class:`BanditAgent` (:mod:`budgetgym.agents.bandit_agent`), with a pluggable selection rule
(:meth:`BanditAgent.select`); they share the arms, the reward statistics, the forgetting
(sliding window and/or discount), the initial round-robin and the holding of a chosen arm.

Arms
----
An arm is a split of the step's spend (non-negative, normalised, projected onto the share
bounds). The default set (``arms=None, grid_resolution=None``) has ``2K + 1`` arms for ``K``
free channels: the equal split, and for each channel ``i`` the equal split with channel ``i``'s
share multiplied by ``1 + tilt`` ("more of i") and by ``1 - tilt`` ("less of i"), renormalised
(``tilt = 0.75``: x 1.75 and x 0.25). Every arm stays close enough to the status quo that
exploring a bad one is affordable, yet far enough from it that the reward differences stand
out of the step-to-step noise within a campaign of a few dozen steps (on the built-in
scenarios ``tilt = 0.75`` learned better than 0.5, 0.6 or 0.9). Alternatives:

* ``arms: [[...], ...]`` — explicit splits (lists in channel order, or mappings
  channel -> weight), each normalised;
* ``grid_resolution: r`` — every split whose shares are multiples of ``1/r`` (``C(r+K-1, K-1)``
  arms; keep it coarse, e.g. ``r = 2..4``).

Reward signal
-------------
The reward of step ``t`` is credited to the arm played at step ``t``: the realised (noisy) step
reward the environment returns. It is *biased* under carry-over and delayed conversions: part of
step ``t``'s reward is caused by earlier steps' spend (played with other arms), which shrinks the
measured differences between arms towards each other (the bias fades when an arm is held for
longer than the carry-over lasts). ``hold > 1`` keeps each chosen arm for several steps, and
``burn_in`` ignores the first steps after a switch, to reduce that bias. The campaign starts
with empty carry-over, so its first steps convert less whatever the split: the first ``warmup``
steps (default 1) play the first arm and credit nothing, so no arm is blamed for the ramp-up.
Rewards are divided by a scale (``reward_scale``, default: the mean absolute reward of the steps
credited so far in the campaign; warm-up and burn-in steps are not), so the constants ``c`` and
``sigma`` are relative to a typical step's reward (a Poisson step of a few hundred conversions
plus price noise has a relative sd of about 0.05).

Statistics (numpy-style)
------------------------
With the credited observations ``(a_s, r_s)``, ``s = 1..n`` (rewards already divided by the
scale), the kept set ``W`` (the last ``window`` observations, or all) and the discount
``gamma`` (``1``: none), each kept observation has weight :math:`w_s = \gamma^{n - s}`, and

.. math::

    N_a = \sum_{s \in W,\ a_s = a} w_s, \qquad
    S_a = \sum_{s \in W,\ a_s = a} w_s r_s, \qquad
    \hat\mu_a = S_a / N_a, \qquad
    N = \sum_a N_a .

``gamma = 1`` and no window give the plain counts and sample means. Arms not yet seen in the
kept set are played first (``initial_plays`` times each, in order).

Selection rules
---------------
``epsilon_greedy``
    With probability :math:`\varepsilon` a uniformly random arm, else :math:`\arg\max_a \hat\mu_a`.
``ucb1``
    :math:`\arg\max_a \hat\mu_a + c \sqrt{2 \ln N / N_a}` (Auer et al. 2002 with ``c = 1`` for
    rewards in ``[0, 1]``; with a window: SW-UCB, with a discount: D-UCB). ``c`` defaults to the
    pooled within-arm sd below (the bonus in units of the observed noise).
``thompson``
    Gaussian Thompson sampling with a conjugate prior :math:`\mu_a \sim N(m_0, \sigma^2/n_0)`
    and known noise sd :math:`\sigma`; the posterior is

    .. math::

        \mu_a \mid \text{data} \sim N\left(\frac{n_0 m_0 + S_a}{n_0 + N_a},\
        \frac{\sigma^2}{n_0 + N_a}\right),

    one draw per arm, play the largest. ``m_0`` (``prior_mean``) defaults to the pooled mean
    :math:`\sum_a S_a / N`; ``sigma`` defaults to the pooled within-arm sample sd
    :math:`\sqrt{\sum_s w_s (r_s - \hat\mu_{a_s})^2 / (N - A_+)}` (``A_+`` arms seen), with
    ``sigma_fallback`` until there are two degrees of freedom.

Pacing: as every :class:`~budgetgym.agents.fixed.SplitAgent`, ``B/T`` per step under agent
pacing. Exploration is part of the online policy: ``deterministic`` is ignored (the randomness
comes from the agent's RNG, reseeded by ``reset(seed)``, so runs are reproducible).
"""

from __future__ import annotations

import numpy as np
from pydantic import Field

from budgetgym.agents.bandit_agent import BanditAgent, BanditParams
from budgetgym.agents.bandit_arms import MAX_ARMS, BanditStats, default_arms, grid_arms, pooled_sd
from budgetgym.agents.base import register_agent

__all__ = [
    "MAX_ARMS",
    "BanditAgent",
    "BanditParams",
    "BanditStats",
    "EpsilonGreedyAgent",
    "ThompsonAgent",
    "UCB1Agent",
    "default_arms",
    "grid_arms",
]


def _argmax(values: np.ndarray) -> int:
    """Index of the largest value (the first on ties; nan never wins)."""
    return int(np.argmax(np.where(np.isnan(values), -np.inf, values)))


# ------------------------------------------------------------------------ epsilon-greedy
class EpsilonGreedyParams(BanditParams):
    epsilon: float = Field(0.1, ge=0, le=1, description="probability of a uniformly random arm")


@register_agent("epsilon_greedy")
class EpsilonGreedyAgent(BanditAgent[EpsilonGreedyParams]):
    r"""With probability :math:`\varepsilon` a random arm, else the best sample mean."""

    Params = EpsilonGreedyParams

    def select(self, stats: BanditStats) -> int:
        explore = self.rng.random() < self.params.epsilon
        if explore:
            return int(self.rng.integers(self.n_arms))
        return _argmax(stats.means)


# ------------------------------------------------------------------------------------ UCB1
class UCB1Params(BanditParams):
    c: float | None = Field(
        None, ge=0, le=100, description="exploration constant (reward-scale units); default: the pooled noise sd"
    )
    sigma_fallback: float = Field(0.1, gt=0, le=100, description="c while the noise sd cannot be estimated")


@register_agent("ucb1")
class UCB1Agent(BanditAgent[UCB1Params]):
    r"""UCB1: :math:`\arg\max_a \hat\mu_a + c \sqrt{2 \ln N / N_a}`.

    ``c = None`` uses the pooled within-arm sd of the scaled rewards (as Thompson's ``sigma``),
    i.e. the bonus is measured in units of the observed noise (UCB1-Normal style).
    """

    Params = UCB1Params

    def exploration(self, stats: BanditStats) -> float:
        c = self.params.c
        return float(c) if c is not None else pooled_sd(stats, self.params.sigma_fallback)

    def index(self, stats: BanditStats) -> np.ndarray:
        r"""The UCB1 index of every arm.

        .. math:: U_a = \hat\mu_a + c \sqrt{\frac{2 \ln N}{N_a}}, \qquad N = \sum_a N_a

        Parameters
        ----------
        stats : the (windowed, discounted) statistics; ``N`` is floored at 1 so ``ln N >= 0``.

        Returns
        -------
        ndarray ``[A]``: the indices, ``+inf`` for arms with ``N_a = 0`` (played first).
        """
        n = max(stats.total, 1.0)
        with np.errstate(divide="ignore", invalid="ignore"):
            bonus = self.exploration(stats) * np.sqrt(2.0 * np.log(n) / stats.counts)
        return np.where(stats.counts > 0, stats.means + bonus, np.inf)

    def select(self, stats: BanditStats) -> int:
        return int(np.argmax(self.index(stats)))


# -------------------------------------------------------------------------------- Thompson
class ThompsonParams(BanditParams):
    sigma: float | None = Field(
        None, gt=0, le=100, description="noise sd of a step reward / scale; default: pooled within-arm sd"
    )
    sigma_fallback: float = Field(0.1, gt=0, le=100, description="sigma until two degrees of freedom exist")
    prior_mean: float | None = Field(
        None, allow_inf_nan=False, description="prior mean m0 / scale; default: the pooled mean"
    )
    prior_count: float = Field(1.0, gt=0, le=1e6, description="prior pseudo-observations n0")


@register_agent("thompson")
class ThompsonAgent(BanditAgent[ThompsonParams]):
    r"""Gaussian Thompson sampling: draw :math:`\mu_a` from each arm's posterior, play the largest."""

    Params = ThompsonParams

    def noise_sd(self, stats: BanditStats) -> float:
        if self.params.sigma is not None:
            return float(self.params.sigma)
        return pooled_sd(stats, self.params.sigma_fallback)

    def posterior(self, stats: BanditStats) -> tuple[np.ndarray, np.ndarray]:
        r"""Gaussian posterior of every arm's mean reward (units of the reward scale).

        With the prior :math:`\mu_a \sim N(m_0, \sigma^2 / n_0)` and observations
        :math:`r \sim N(\mu_a, \sigma^2 / w)` of weight ``w`` (discount), the posterior is
        :math:`N(m_a, s_a^2)` with

        .. math:: m_a = \frac{n_0 m_0 + S_a}{n_0 + N_a}, \qquad s_a = \frac{\sigma}{\sqrt{n_0 + N_a}}.

        Returns
        -------
        (m, s) : two arrays ``[A]``; unseen arms get the prior ``(m_0, sigma / sqrt(n_0))``.
        """
        p = self.params
        if p.prior_mean is not None:
            m0 = float(p.prior_mean)
        else:
            m0 = stats.sums.sum() / stats.total if stats.total > 0 else 0.0
        n_post = p.prior_count + stats.counts
        mean = (p.prior_count * m0 + stats.sums) / n_post
        sd = self.noise_sd(stats) / np.sqrt(n_post)
        return mean, sd

    def select(self, stats: BanditStats) -> int:
        mean, sd = self.posterior(stats)
        return int(np.argmax(self.rng.normal(mean, sd)))
