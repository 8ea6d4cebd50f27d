"""What a marketer knows before the campaign: the public brief agents are built from.

Agents never receive the scenario (its curves, prices, carry-over and noise are the true
parameters the simulator hides); they receive a :class:`CampaignBrief` — channel names and
how each is bought and at what unit price the plan quotes it, the budget, the horizon and its
calendar, the pacing rule and its cap, the share bounds, what the reward counts, the planning
CPA, and the action mapping's logit scale — plus the
action and observation spaces, which the brief defines. Only the ``oracle`` agent gets the
scenario, explicitly (see :func:`budgetgym.agents.make_agent`).

The brief is immutable and holds only plain values (strings, numbers, tuples), so a test can
check that no path through an agent leads to a true parameter.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Literal

import numpy as np
from gymnasium import spaces

from budgetgym.envs.errors import BudgetGymError
from budgetgym.envs.observation import ObservationLayout
from budgetgym.envs.scenario import Scenario

__all__ = ["CampaignBrief", "ChannelBrief"]


@dataclass(frozen=True)
class ChannelBrief:
    """One channel as the media plan knows it."""

    name: str
    unit: Literal["impression", "click"]  # what the price is quoted per (CPM or CPC buying)
    min_share: float  # least share of each step's spend (a committed minimum)
    max_share: float  # largest share of each step's spend (a cap)
    planned_price: float | None = None  # the unit price the plan quotes (None: a brief saved before 0.2)


@dataclass(frozen=True)
class CampaignBrief:
    """The public facts of a campaign (module docstring).

    Attributes
    ----------
    name : the campaign's name.
    channels : the channels, in the action's order.
    budget : ``B``, currency for the whole campaign.
    horizon : ``T``, steps.
    step_days : days per step; ``start_day``: day index of step 0 (day 0 a Monday, 1 January).
    pacing : ``even`` (``B/T`` per step) or ``agent`` (the last action entry paces the spend).
    max_step_multiple : under agent pacing a step spends at most this times ``B/T``.
    reward : ``conversions``, ``revenue`` or ``profit`` (revenue minus spend).
    logit_scale : ``c`` of the action mapping ``softmax(c a)``.
    target_cpa : the planning cost per conversion (currency per conversion): the scenario's
        ``target_cpa``, or, without one, that of the equal split at steady state on the nominal
        curves — the figure a media plan is built on. It is one number for the whole campaign (for
        a family, the family's nominal one for every draw), never re-derived from a draw. A single
        scenario's nominal curves are its true ones: its default is a perfectly informed plan's figure
        (one number, the channels' mean, that ranks no channel; only PPO's observation scale reads it).
    conversion_scale : the planned conversions per channel and step, ``(B/T)/K / target_cpa``:
        the environment divides observed conversions by it.
    """

    name: str
    channels: tuple[ChannelBrief, ...]
    budget: float
    horizon: int
    step_days: float
    start_day: float
    pacing: Literal["even", "agent"]
    max_step_multiple: float
    reward: Literal["conversions", "revenue", "profit"]
    logit_scale: float
    target_cpa: float
    conversion_scale: float

    @classmethod
    def from_scenario(cls, scenario: Scenario) -> CampaignBrief:
        """The brief of a scenario: its public facts only."""
        step_share = scenario.step_budget / scenario.n_channels
        if scenario.target_cpa is not None:
            target_cpa = float(scenario.target_cpa)
            conversion_scale = step_share / target_cpa
        else:
            from budgetgym.envs.dynamics import ChannelModel  # the nominal curves, once, at planning time

            model = ChannelModel.from_scenario(scenario)
            equal = np.full(scenario.n_channels, step_share)
            conversion_scale = max(float(model.steady_state_response(equal).mean()), 1e-9)
            target_cpa = step_share / conversion_scale
        channels = []
        for c in scenario.channels:
            lo, hi = c.share_bounds
            planned = c.cost.price if c.cost.planned_price is None else c.cost.planned_price
            channels.append(ChannelBrief(c.name, c.cost.unit, float(lo), float(hi), float(planned)))
        return cls(
            name=scenario.name,
            channels=tuple(channels),
            budget=float(scenario.budget.total),
            horizon=int(scenario.horizon),
            step_days=float(scenario.step_days),
            start_day=float(scenario.start_day),
            pacing=scenario.budget.pacing,
            max_step_multiple=float(scenario.budget.max_step_multiple),
            reward=scenario.reward,
            logit_scale=float(scenario.action.logit_scale),
            target_cpa=float(target_cpa),
            conversion_scale=float(conversion_scale),
        )

    @classmethod
    def from_dict(cls, data: dict[str, Any], where: str = "brief") -> CampaignBrief:
        """Rebuild a brief saved with :meth:`to_dict`."""
        try:
            channels = tuple(ChannelBrief(**c) for c in data["channels"])
            return cls(**{**data, "channels": channels})
        except (KeyError, TypeError) as err:
            raise BudgetGymError(f"{where}: not a campaign brief ({err})") from None

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-serialisable values."""
        return asdict(self)

    # -- derived facts ----------------------------------------------------------------
    @property
    def n_channels(self) -> int:
        return len(self.channels)

    @property
    def channel_names(self) -> list[str]:
        return [c.name for c in self.channels]

    @property
    def step_budget(self) -> float:
        """``B/T``."""
        return self.budget / self.horizon

    @property
    def agent_pacing(self) -> bool:
        return self.pacing == "agent"

    @property
    def step_cap(self) -> float:
        """The most a step may spend under agent pacing, ``max_step_multiple * B/T``."""
        return self.max_step_multiple * self.step_budget

    @property
    def planned_prices(self) -> np.ndarray:
        """``[K]`` the planned unit price per channel, the price index's reference (a fresh array)."""
        if any(c.planned_price is None for c in self.channels):
            raise BudgetGymError(f"brief of '{self.name}': no planned prices (a brief saved before they existed)")
        return np.array([c.planned_price for c in self.channels], dtype=float)

    @property
    def share_bound_arrays(self) -> tuple[np.ndarray, np.ndarray]:
        """``(low, high)`` share bounds per channel, fresh arrays."""
        return (np.array([c.min_share for c in self.channels]), np.array([c.max_share for c in self.channels]))

    def step_day_index(self) -> np.ndarray:
        """Day index ``start_day + t * step_days`` of every step (the campaign calendar)."""
        from budgetgym.envs.path import day_index

        return day_index(self.start_day, self.step_days, np.arange(self.horizon))

    @property
    def observation_layout(self) -> ObservationLayout:
        return ObservationLayout(self.n_channels)

    def action_space(self) -> spaces.Box:
        """``Box(-1, 1, (K,))``, or ``(K + 1,)`` with the pacing entry last under agent pacing."""
        return spaces.Box(-1.0, 1.0, (self.n_channels + int(self.agent_pacing),), np.float32)

    def observation_space(self) -> spaces.Box:
        low, high = self.observation_layout.bounds()
        return spaces.Box(low, high, dtype=np.float32)
