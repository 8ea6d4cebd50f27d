r"""Multi-armed bandits over a discrete set of candidate splits, learning within one campaign.

Registry names: ``epsilon_greedy``, ``ucb1``, ``thompson``. All three are one implementation,
:class:`BanditAgent`, with a pluggable selection rule (:meth:`BanditAgent.select`); they share
the arms, the reward statistics, the forgetting (sliding window and/or discount), the initial
round-robin and the holding of a chosen arm.

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
Rewards are divided by a scale (``reward_scale``, default: the mean absolute step reward
observed so far in the campaign), so the constants ``c`` and ``sigma`` are relative to a
typical step's reward (a Poisson step of a few hundred conversions plus price noise has a
relative sd of about 0.05).

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

from typing import Any, TypeVar

import numpy as np
from pydantic import Field, field_validator, model_validator

from budgetgym.agents.bandit_arms import MAX_ARMS, BanditStats, default_arms, grid_arms, pooled_sd
from budgetgym.agents.base import AgentParams, register_agent
from budgetgym.agents.fixed import SplitAgent, check_channel_values, resolve_channel_values
from budgetgym.envs.brief import CampaignBrief
from budgetgym.envs.errors import BudgetGymError

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



# ---------------------------------------------------------------------------- parameters
class BanditParams(AgentParams):
    """Parameters shared by every bandit (see the module docstring)."""

    arms: list[list[float] | dict[str, float]] | None = Field(
        None, description="explicit candidate splits (lists in channel order or channel -> weight mappings)"
    )
    grid_resolution: int | None = Field(None, ge=1, le=100, description="simplex grid of splits in steps of 1/r")
    tilt: float = Field(0.75, gt=0, lt=1, description="default arms: a channel's share x (1 +- tilt)")
    window: int | None = Field(None, ge=1, le=1_000_000, description="keep only the last `window` observations")
    discount: float = Field(1.0, gt=0, le=1, description="weight gamma**age of an observation (1: none)")
    reward_scale: float | None = Field(
        None, gt=0, description="divide rewards by this; default the mean |step reward| seen so far"
    )
    initial_plays: int = Field(1, ge=0, le=1000, description="plays of every arm before the rule takes over")
    hold: int = Field(1, ge=1, le=10_000, description="steps a chosen arm is kept")
    burn_in: int = Field(0, ge=0, le=10_000, description="steps after a switch whose reward is not credited")
    warmup: int = Field(
        1, ge=0, le=10_000, description="first steps of a campaign: play the first arm, credit nothing"
    )

    @field_validator("arms", mode="before")
    @classmethod
    def _arms(cls, value: Any) -> Any:
        if value is None:
            return None
        if not isinstance(value, (list, tuple)) or not value:
            raise ValueError("expected a non-empty list of splits")
        out = []
        for j, arm in enumerate(value):
            try:
                out.append(check_channel_values(arm))
            except ValueError as err:
                raise ValueError(f"arm {j}: {err}") from None
        return out

    @model_validator(mode="after")
    def _consistent(self) -> BanditParams:
        if self.arms is not None and self.grid_resolution is not None:
            raise ValueError("give either arms or grid_resolution, not both")
        if self.burn_in >= self.hold and self.burn_in > 0:
            raise ValueError(f"burn_in ({self.burn_in}) must be smaller than hold ({self.hold})")
        return self


# --------------------------------------------------------------------------- the agent
BP = TypeVar("BP", bound=BanditParams)


class BanditAgent(SplitAgent[BP]):
    """A bandit over candidate splits; subclasses define :meth:`select` (the index/selection rule)."""

    Params = BanditParams

    def __init__(self, brief: CampaignBrief, params: BP):
        self._build_arms(brief, params)
        super().__init__(brief, params)
        self.arms = np.array([self.feasible(a) for a in self.raw_arms])

    def _build_arms(self, brief: CampaignBrief, params: BanditParams) -> None:
        sc = brief
        K = sc.n_channels
        where = f"agent '{self.registry_name}' parameters"
        if params.arms is not None:
            self.raw_arms = np.array(
                [resolve_channel_values(a, sc.channel_names, f"{where}: arms[{j}]") for j, a in enumerate(params.arms)]
            )
        elif params.grid_resolution is not None:
            try:
                self.raw_arms = grid_arms(K, params.grid_resolution)
            except BudgetGymError as err:
                raise BudgetGymError(f"{where}: {err}") from None
        else:
            low, high = sc.share_bound_arrays
            self.raw_arms = default_arms(K, params.tilt, free=high > low)
        if len(self.raw_arms) > MAX_ARMS:
            raise BudgetGymError(f"{where}: arms: {len(self.raw_arms)} arms; expected at most {MAX_ARMS}")

    @property
    def n_arms(self) -> int:
        return len(self.raw_arms)

    # -- learning state -------------------------------------------------------------------------
    def reset_learning(self) -> None:
        self.history_arms: list[int] = []
        self.history_rewards: list[float] = []
        self.abs_reward_sum = 0.0
        self.n_rewards = 0
        self.current_arm: int | None = None
        self.held = 0  # steps since the current arm was (re)selected
        self.since_switch = 0  # steps the current arm has been played in a row

    def scale(self) -> float:
        """The reward scale: ``reward_scale`` or the mean |step reward| observed so far."""
        if self.params.reward_scale is not None:
            return float(self.params.reward_scale)
        if self.n_rewards == 0:
            return 1.0
        return max(self.abs_reward_sum / self.n_rewards, 1e-12)

    def stats(self) -> BanditStats:
        r"""Statistics of the kept observations, rewards divided by :meth:`scale`.

        Keeps the last ``window`` credited observations (all without a window) and weights
        observation ``s`` of ``n`` by :math:`\gamma^{n-s}` (``discount``); see
        :class:`BanditStats` for the sums.
        """
        p = self.params
        arms = np.asarray(self.history_arms, dtype=int)
        rewards = np.asarray(self.history_rewards, dtype=float) / self.scale()
        if p.window is not None:
            arms, rewards = arms[-p.window :], rewards[-p.window :]
        return BanditStats(self.n_arms, arms, rewards, p.discount)

    def record(self, arm: int, reward: float) -> None:
        """Credit ``reward`` (raw) to ``arm``."""
        self.history_arms.append(int(arm))
        self.history_rewards.append(float(reward))
        self.abs_reward_sum += abs(float(reward))
        self.n_rewards += 1

    def learn(self, reward: float, info: dict) -> None:
        if self.current_arm is None or self.t <= self.params.warmup:
            return
        if self.since_switch > self.params.burn_in:  # the first `burn_in` steps after a switch are not credited
            self.record(self.current_arm, reward)

    # -- choosing ---------------------------------------------------------------------------------
    def select(self, stats: BanditStats) -> int:
        """The selection rule: an arm index from the statistics (subclasses)."""
        raise NotImplementedError

    def next_arm(self) -> int:
        """Initial round-robin over arms seen fewer than ``initial_plays`` times, else :meth:`select`."""
        stats = self.stats()
        short = np.flatnonzero(stats.seen < self.params.initial_plays)
        if len(short):
            return int(short[0])
        return int(self.select(stats))

    def choose_split(self, observation: np.ndarray, deterministic: bool) -> np.ndarray:
        if self.t < self.params.warmup:  # ramp-up of the carry-over: play the first arm
            if self.current_arm != 0:
                self.since_switch = 0
            self.current_arm, self.held = 0, self.params.hold
            self.since_switch += 1
            return self.arms[0]
        if self.current_arm is None or self.held >= self.params.hold:
            arm = self.next_arm()
            if arm != self.current_arm:
                self.since_switch = 0
            self.current_arm, self.held = arm, 0
        self.held += 1
        self.since_switch += 1
        return self.arms[self.current_arm]

    # -- persistence ------------------------------------------------------------------------------
    def extra_state(self) -> dict[str, Any]:
        return {
            "history_arms": list(self.history_arms),
            "history_rewards": list(self.history_rewards),
            "abs_reward_sum": self.abs_reward_sum,
            "n_rewards": self.n_rewards,
            "current_arm": self.current_arm,
            "held": self.held,
            "since_switch": self.since_switch,
        }

    def load_extra_state(self, state: dict[str, Any]) -> None:
        self.history_arms = [int(a) for a in state.get("history_arms", [])]
        self.history_rewards = [float(r) for r in state.get("history_rewards", [])]
        if any(a < 0 or a >= self.n_arms for a in self.history_arms):
            raise BudgetGymError(f"agent '{self.registry_name}' state: arm index out of range (0..{self.n_arms - 1})")
        self.abs_reward_sum = float(state.get("abs_reward_sum", 0.0))
        self.n_rewards = int(state.get("n_rewards", 0))
        arm = state.get("current_arm")
        self.current_arm = None if arm is None else int(arm)
        self.held = int(state.get("held", 0))
        self.since_switch = int(state.get("since_switch", 0))


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
