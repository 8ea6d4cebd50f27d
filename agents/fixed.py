r"""Fixed splits — the allocations marketers use today — and the oracle's plan.

Registry names
--------------
``equal``
    The same share for every channel.
``proportional``
    User-given weights per channel (``weights``: a mapping ``channel -> weight`` or a list in
    the scenario's channel order), normalised to a split.
``historical``
    Last period's spend per channel (``spend``: mapping or list, in currency), normalised to a
    split: "keep doing what we did".
``oracle``
    The hindsight-optimal plan of the episode, from :func:`~budgetgym.envs.oracle.solve_oracle`
    with the true parameters. It is the one agent that sees the scenario's true parameters and
    the episode path (hence its name): ``reset(seed)`` solves the episode drawn by
    ``env.reset(seed=seed)``, so it scores 100% of the oracle by construction.

Every split is projected onto the scenario's share bounds
(:func:`~budgetgym.envs.simplex_projection.project_bounded_simplex`) and turned into split logits by
:func:`~budgetgym.envs.allocation.split_to_action`.

Pacing
------
Under ``budget.pacing: even`` the environment spends ``B/T`` per step and only the split
matters. Under ``budget.pacing: agent`` the fixed splits (and every split-choosing learner
built on :class:`SplitAgent`) spend ``B/T`` per step: the pacing entry is
:func:`~budgetgym.envs.allocation.spend_to_pacing_action` of ``B/T`` given the remaining
budget, which the agent tracks itself (it replays :func:`~budgetgym.envs.allocation.pacing_spend`
on its own actions, and re-synchronises from ``info["remaining_budget"]`` when
:meth:`SplitAgent.update` is called). The oracle agent spends its plan's step totals instead.

Episode boundaries
------------------
``reset(seed)`` starts a new campaign; ``predict(..., episode_start=[True])`` (the flag that
stable-baselines3's ``evaluate_policy`` passes) restarts the step counter and the tracked
budget, without forgetting what a learner has learned.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from pydantic import Field, field_validator

from budgetgym.agents.base import AgentParams, BaseAgent, P, register_agent
from budgetgym.envs.allocation import project_bounded_simplex, split_to_action
from budgetgym.envs.brief import CampaignBrief
from budgetgym.envs.errors import BudgetGymError, count
from budgetgym.envs.io import json_digest
from budgetgym.envs.oracle import solve_oracle
from budgetgym.envs.scenario import Scenario

__all__ = [
    "EqualSplitAgent",
    "HistoricalAgent",
    "OracleAgent",
    "ProportionalAgent",
    "SplitAgent",
    "check_channel_values",
    "resolve_channel_values",
]


# ---------------------------------------------------------------------------- the shared base
class SplitAgent(BaseAgent[P]):
    """An agent that chooses a split per step; spends ``B/T`` per step under agent pacing.

    Subclasses implement :meth:`choose_split` (one observation -> a split, any non-negative
    vector; it is normalised and projected onto the share bounds; :attr:`step_total` holds the
    total the step will spend, for a split that depends on it) and optionally
    :meth:`step_spend` (the step's total under agent pacing, default ``B/T``),
    :meth:`reset_learning`, :meth:`learn` and the ``extra_state``/``load_extra_state`` pair.

    State common to all: the step counter ``t``, the tracked cumulative spend and the RNG.
    """

    def __init__(self, brief: CampaignBrief, params: P):
        super().__init__(brief, params)
        sc = self.brief
        self.channel_names = sc.channel_names
        self.low, self.high = sc.share_bound_arrays
        self.horizon = sc.horizon
        self.budget = float(sc.budget)
        self.step_budget = float(sc.step_budget)
        self.step_cap = float(sc.step_cap)
        self.action_dim = self.n_channels + int(self.agent_pacing)
        self.t = 0
        self.spent = 0.0
        #: the total the step being chosen will spend (set by :meth:`act` before :meth:`choose_split`)
        self.step_total = min(self.step_budget, self.budget)
        self.reset_learning()

    # -- hooks for subclasses -------------------------------------------------------------
    def choose_split(self, observation: np.ndarray, deterministic: bool) -> np.ndarray:
        raise NotImplementedError

    def step_spend(self, observation: np.ndarray) -> float:
        """Total spend of this step under agent pacing (default ``B/T``)."""
        return self.step_budget

    def reset_learning(self) -> None:
        """Forget what was learned online (called by ``__init__`` and :meth:`reset`)."""

    def learn(self, reward: float, info: dict) -> None:
        """Learn from one step (called by :meth:`update`)."""

    def extra_state(self) -> dict[str, Any]:
        return {}

    def load_extra_state(self, state: dict[str, Any]) -> None:
        pass

    # -- plumbing -----------------------------------------------------------------------------
    @property
    def remaining(self) -> float:
        return max(self.budget - self.spent, 0.0)

    def feasible(self, split: np.ndarray) -> np.ndarray:
        """Normalise a non-negative vector and project it onto the share bounds."""
        q = np.maximum(np.asarray(split, dtype=float), 0.0)
        with np.errstate(over="ignore"):
            total = q.sum()
        if total == np.inf and np.isfinite(q).all():  # finite values whose sum overflows (1e308 each)
            q = q / q.max()
            total = q.sum()
        q = q / total if total > 0 else np.full(self.n_channels, 1.0 / self.n_channels)
        return project_bounded_simplex(q, self.low, self.high)

    def split_action(self, split: np.ndarray, pacing: float | None) -> np.ndarray:
        """The float32 action playing ``split`` (with the pacing entry ``pacing`` under agent pacing, the
        one that spends :attr:`step_total`); advances the step counter and the tracked budget as the
        environment will."""
        q = self.feasible(split)
        logits = split_to_action(q, self.logit_scale)
        action = logits if pacing is None else np.append(logits, pacing)
        self.spent += self.step_total
        self.t += 1
        return np.clip(action, -1.0, 1.0).astype(np.float32)

    def act(self, observation: np.ndarray, deterministic: bool = True) -> np.ndarray:
        """The step's total first (:meth:`step_spend` under agent pacing, capped as the environment will:
        :meth:`~budgetgym.agents.base.BaseAgent.pace`), kept in :attr:`step_total`; then the split
        (:meth:`choose_split`, which may read it); then the action. Random draws: those of
        :meth:`step_spend`, then those of :meth:`choose_split`."""
        want = self.step_spend(observation) if self.agent_pacing else self.step_budget
        pacing, self.step_total = self.pace(want, self.remaining)
        split = self.choose_split(observation, deterministic)
        return self.split_action(split, pacing)

    def start_episode(self) -> None:
        """Restart the step counter and the tracked budget (learned state is kept)."""
        self.t = 0
        self.spent = 0.0

    def reset(self, seed: int | None = None) -> None:
        super().reset(seed)
        self.start_episode()
        self.reset_learning()

    def update(
        self, observation: np.ndarray, action: np.ndarray, reward: float, next_observation: np.ndarray, info: dict
    ) -> None:
        # re-synchronise the counters with what the environment reports
        if "remaining_budget" in info:
            self.spent = self.budget - float(info["remaining_budget"])
        if "step" in info:
            self.t = int(info["step"]) + 1
        self.learn(float(reward), info)

    def state_dict(self) -> dict[str, Any]:
        return {"t": self.t, "spent": self.spent, "rng": self.rng.bit_generator.state, **self.extra_state()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if not state:
            return
        self.t = int(state.get("t", 0))
        self.spent = float(state.get("spent", 0.0))
        if "rng" in state:
            self.rng.bit_generator.state = state["rng"]
        self.load_extra_state(state)


# ------------------------------------------------------------------------- parameter helpers
def check_channel_values(value: Any) -> Any:
    """Pydantic ``before`` validator: a mapping or list of finite, non-negative numbers, not all 0."""
    if isinstance(value, dict):
        items = list(value.values())
        if not all(isinstance(k, str) for k in value):
            raise ValueError("expected channel names as keys")
    elif isinstance(value, (list, tuple)):
        items = list(value)
    else:
        # pydantic turns ValueError (not TypeError) into a validation error
        raise ValueError(  # noqa: TRY004
            f"expected a mapping channel -> number or a list of numbers, got {type(value).__name__}"
        )
    if not items:
        raise ValueError("expected at least one value")
    try:
        nums = [float(v) for v in items]
    except (TypeError, ValueError):
        raise ValueError("expected numbers") from None
    if any(isinstance(v, bool) for v in items):
        raise ValueError("expected numbers, got a boolean")
    if not all(np.isfinite(nums)):
        raise ValueError("values must be finite")
    if any(v < 0 for v in nums):
        raise ValueError(f"values must be non-negative, got {min(nums):g}")
    if not any(v > 0 for v in nums):
        raise ValueError("values must not all be zero")
    if isinstance(value, dict):
        return {k: float(v) for k, v in value.items()}
    return nums


def resolve_channel_values(value: dict[str, float] | list[float], channels: list[str], where: str) -> np.ndarray:
    """One number per channel from a mapping or a list; one-line BudgetGymError otherwise.

    ``where`` names the parameter in the message (``"agent 'proportional' parameters: weights"``).
    A mapping must name every channel exactly once (no unknown names).
    """
    if isinstance(value, dict):
        unknown = [k for k in value if k not in channels]
        if unknown:
            raise BudgetGymError(
                f"{where}: unknown channel(s) {', '.join(unknown)}; expected the channels {', '.join(channels)}"
            )
        missing = [c for c in channels if c not in value]
        if missing:
            raise BudgetGymError(f"{where}: missing channel(s) {', '.join(missing)}")
        out = np.array([value[c] for c in channels], dtype=float)
    else:
        if len(value) != len(channels):
            raise BudgetGymError(
                f"{where}: expected {count(len(channels), 'value')} (one per channel: {', '.join(channels)}), "
                f"got {len(value)}"
            )
        out = np.asarray(value, dtype=float)
    return out


# ------------------------------------------------------------------------------- the agents
class EqualParams(AgentParams):
    """``equal`` takes no parameters."""


@register_agent("equal")
class EqualSplitAgent(SplitAgent[EqualParams]):
    """The same share for every channel (projected onto the share bounds)."""

    Params = EqualParams

    def choose_split(self, observation: np.ndarray, deterministic: bool) -> np.ndarray:
        return np.full(self.n_channels, 1.0 / self.n_channels)


class ProportionalParams(AgentParams):
    weights: dict[str, float] | list[float] = Field(
        description="weight per channel: a mapping channel -> weight, or a list in channel order"
    )

    _check = field_validator("weights", mode="before")(check_channel_values)


class _ConstantSplitAgent(SplitAgent[P]):
    """A fixed split given by a parameter (normalised, projected onto the share bounds)."""

    field_name = "weights"

    def __init__(self, brief: CampaignBrief, params: P):
        raw = getattr(params, self.field_name)
        where = f"agent '{self.registry_name}' parameters: {self.field_name}"
        self.weights = resolve_channel_values(raw, brief.channel_names, where)
        super().__init__(brief, params)
        self.split = self.feasible(self.weights)

    def choose_split(self, observation: np.ndarray, deterministic: bool) -> np.ndarray:
        return self.split


@register_agent("proportional")
class ProportionalAgent(_ConstantSplitAgent[ProportionalParams]):
    """Split in proportion to user-given weights (``weights``)."""

    Params = ProportionalParams
    field_name = "weights"


class HistoricalParams(AgentParams):
    spend: dict[str, float] | list[float] = Field(
        description="last period's spend per channel (currency): mapping channel -> spend, or a list"
    )

    _check = field_validator("spend", mode="before")(check_channel_values)


@register_agent("historical")
class HistoricalAgent(_ConstantSplitAgent[HistoricalParams]):
    """Repeat last period's split: ``spend`` per channel, normalised."""

    Params = HistoricalParams
    field_name = "spend"


class OracleParams(AgentParams):
    n_random_starts: int = Field(6, ge=0, le=100, description="extra random starts of the oracle solver")


@register_agent("oracle")
class OracleAgent(SplitAgent[OracleParams]):
    """Play the hindsight-optimal plan of the episode (sees the true parameters).

    ``reset(seed)`` calls ``solve_oracle(scenario, seed=seed)``; used before any reset it
    plays the plan of the nominal path (``seed=None``). Step ``t`` plays row ``t`` of the plan:
    its split, and under agent pacing its step total (the pacing entry inverts
    :func:`~budgetgym.envs.allocation.pacing_spend` with the tracked remaining budget).

    A saved plan records the campaign it was solved for (:meth:`campaign`: a digest of the whole
    validated scenario, so its budget, horizon and true parameters) and loads only into that campaign.
    """

    Params = OracleParams
    sees_true_parameters = True

    def __init__(self, brief: CampaignBrief, params: OracleParams, *, scenario: Scenario):
        super().__init__(brief, params)
        self.oracle_scenario = scenario  # the true parameters, explicitly (hence the agent's name)
        self.plan: np.ndarray | None = None
        self.plan_seed: int | None = None

    def reset(self, seed: int | None = None) -> None:
        super().reset(seed)
        self._solve(seed)

    def _solve(self, seed: int | None) -> None:
        result = solve_oracle(self.oracle_scenario, seed=seed, n_random_starts=self.params.n_random_starts)
        self.plan, self.plan_seed = result.plan, seed

    def _row(self) -> np.ndarray:
        if self.plan is None:
            self._solve(None)
        assert self.plan is not None
        return self.plan[min(self.t, len(self.plan) - 1)]

    def choose_split(self, observation: np.ndarray, deterministic: bool) -> np.ndarray:
        return self._row()

    def step_spend(self, observation: np.ndarray) -> float:
        return float(self._row().sum())

    def campaign(self) -> str:
        """What identifies the campaign a plan is solved for: :func:`~budgetgym.envs.io.json_digest` of the
        validated scenario (budget, horizon, calendar and every true parameter)."""
        return json_digest(self.oracle_scenario.model_dump(mode="json"))

    def extra_state(self) -> dict[str, Any]:
        plan = None if self.plan is None else self.plan.tolist()
        return {"plan": plan, "plan_seed": self.plan_seed, "campaign": self.campaign()}

    def load_extra_state(self, state: dict[str, Any]) -> None:
        plan = state.get("plan")
        if plan is not None and "campaign" not in state:
            raise BudgetGymError(
                "agent 'oracle' state: the plan does not record the campaign it was solved for (saved by an "
                "older budgetgym); save it again"
            )
        if plan is not None and state["campaign"] != self.campaign():
            raise BudgetGymError(
                f"agent 'oracle' state: the plan was solved for another campaign (digest {state['campaign']}), "
                f"not scenario '{self.brief.name}' ({self.campaign()}: budget, horizon or true parameters differ)"
            )
        self.plan = None if plan is None else np.asarray(plan, dtype=float)
        if self.plan is not None and self.plan.shape != (self.horizon, self.n_channels):
            raise BudgetGymError(
                f"agent 'oracle' state: plan has shape {self.plan.shape}, expected "
                f"({self.horizon}, {self.n_channels}) for scenario '{self.brief.name}'"
            )
        if self.plan is not None and not (np.isfinite(self.plan).all() and (self.plan >= 0).all()):
            # a NaN would be played: the pacing entry of its step total (under agent pacing) is NaN
            raise BudgetGymError("agent 'oracle' state: plan must hold finite, non-negative spends")
        self.plan_seed = state.get("plan_seed")
