r"""What every split bandit shares: its parameters and :class:`BanditAgent`.

:class:`BanditAgent` keeps the arms, the credited rewards, the forgetting (sliding window and/or
discount), the initial round-robin and the holding of a chosen arm; a bandit of
:mod:`budgetgym.agents.bandits` adds only its selection rule (:meth:`BanditAgent.select`). The
arms, the reward signal and the statistics are described in that module's docstring.
"""

from __future__ import annotations

from typing import Any, TypeVar

import numpy as np
from pydantic import Field, field_validator, model_validator

from budgetgym.agents.bandit_arms import MAX_ARMS, BanditStats, default_arms, grid_arms
from budgetgym.agents.base import AgentParams
from budgetgym.agents.fixed import SplitAgent, check_channel_values, resolve_channel_values
from budgetgym.envs.brief import CampaignBrief
from budgetgym.envs.errors import BudgetGymError

__all__ = ["BanditAgent", "BanditParams"]


# ---------------------------------------------------------------------------- parameters
class BanditParams(AgentParams):
    """Parameters shared by every bandit (see the docstring of :mod:`budgetgym.agents.bandits`)."""

    arms: list[list[float] | dict[str, float]] | None = Field(
        None, description="explicit candidate splits (lists in channel order or channel -> weight mappings)"
    )
    grid_resolution: int | None = Field(None, ge=1, le=100, description="simplex grid of splits in steps of 1/r")
    tilt: float = Field(0.75, gt=0, lt=1, description="default arms: a channel's share x (1 +- tilt)")
    window: int | None = Field(None, ge=1, le=1_000_000, description="keep only the last `window` observations")
    discount: float = Field(1.0, gt=0, le=1, description="weight gamma**age of an observation (1: none)")
    reward_scale: float | None = Field(
        None, ge=1e-30, le=1e30,
        description="divide rewards by this; default the mean |step reward| credited so far",
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
        """The reward scale: ``reward_scale`` or the mean |step reward| of the steps credited so far
        (:meth:`record`; the warm-up and burn-in steps' rewards are not), 1 before the first or while
        every one was 0. Relative, so the agent's choices do not depend on the reward's unit (an absolute
        floor of 1e-12 flattened a campaign worth 1e-40 a conversion to zeros)."""
        if self.params.reward_scale is not None:
            return float(self.params.reward_scale)
        mean = self.abs_reward_sum / self.n_rewards if self.n_rewards else 0.0
        return mean if mean > 0.0 else 1.0

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
        if not np.isfinite(reward):  # one nan would make every arm's mean nan (through the scale)
            raise BudgetGymError(f"agent '{self.registry_name}': update needs a finite reward, got {reward}")
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
        if arm is not None and not 0 <= int(arm) < self.n_arms:  # it would be played at the next step
            raise BudgetGymError(
                f"agent '{self.registry_name}' state: current_arm {arm} out of range (0..{self.n_arms - 1})"
            )
        self.current_arm = None if arm is None else int(arm)
        self.held = int(state.get("held", 0))
        self.since_switch = int(state.get("since_switch", 0))
