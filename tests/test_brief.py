"""Agents see a public brief, never the true parameters; the observation has a named layout."""

from __future__ import annotations

import gc
import types
from typing import Any

import numpy as np
import pytest
from pydantic import BaseModel

from budgetgym.agents import list_agents, make_agent
from budgetgym.envs import ChannelBudgetEnv, ChannelModel, Scenario, ScenarioPath, load_scenario
from budgetgym.envs.brief import CampaignBrief
from budgetgym.envs.errors import BudgetGymError
from budgetgym.envs.observation import ObservationLayout

HIDDEN = (Scenario, ChannelModel, ChannelBudgetEnv, ScenarioPath, BaseModel)


CODE = (types.ModuleType, types.FunctionType, types.BuiltinFunctionType, types.CodeType, type)


def reachable(root: Any, limit: int = 200_000) -> list[Any]:
    """Every object reachable from ``root`` through references (gc.get_referents), except code:
    modules, classes and functions (and module globals) lead to the whole program, not to this
    agent's data. Bound methods are followed to their instance."""
    seen, stack, out = {id(root)}, [root], []
    while stack and len(out) < limit:
        obj = stack.pop()
        out.append(obj)
        for ref in gc.get_referents(obj):
            if id(ref) in seen or isinstance(ref, CODE):
                continue
            if isinstance(ref, dict) and "__builtins__" in ref:  # a module's globals
                continue
            seen.add(id(ref))
            stack.append(ref)
    assert len(out) < limit, "object graph too large to check"
    return out


NON_ORACLE = [name for name in list_agents() if name != "oracle"]


@pytest.mark.parametrize("name", NON_ORACLE)
@pytest.mark.parametrize("scenario", ["shock-5", "delayed-5"])
def test_an_agent_built_from_a_brief_cannot_reach_the_scenario(name: str, scenario: str) -> None:
    if name in ("ppo", "recurrent_ppo"):
        pytest.importorskip("stable_baselines3")
        pytest.importorskip("sb3_contrib")
    brief = CampaignBrief.from_scenario(load_scenario(scenario))
    params: dict[str, Any] = {}
    if name == "proportional":
        params = {"weights": [1.0] * brief.n_channels}
    if name == "historical":
        params = {"spend": [100.0] * brief.n_channels}
    agent = make_agent(name, brief, **params)
    # pydantic models allowed only as the agent's own parameters (and their contents)
    allowed = {id(agent.params)}
    leaks = [
        type(obj).__name__
        for obj in reachable(agent)
        if isinstance(obj, HIDDEN) and id(obj) not in allowed and type(obj).__module__.startswith("budgetgym.envs")
    ]
    assert leaks == []
    assert not hasattr(agent, "scenario") and not hasattr(agent, "env")


def test_the_same_agent_from_an_env_holds_only_the_brief() -> None:
    env = ChannelBudgetEnv("seasonal-5")
    agent = make_agent("model_thompson", env)
    assert agent.brief == env.brief
    assert not any(isinstance(o, (Scenario, ChannelBudgetEnv, ChannelModel)) for o in reachable(agent))


def test_the_oracle_gets_the_scenario_explicitly_and_only_from_an_env_or_scenario() -> None:
    sc = load_scenario("stationary-3")
    with pytest.raises(BudgetGymError, match="agent 'oracle' plays with the true parameters"):
        make_agent("oracle", CampaignBrief.from_scenario(sc))
    oracle = make_agent("oracle", sc)
    assert oracle.oracle_scenario is sc  # type: ignore[attr-defined]
    assert make_agent("oracle", ChannelBudgetEnv(sc)).oracle_scenario == sc  # type: ignore[attr-defined]


def test_the_brief_holds_public_facts_only() -> None:
    sc = load_scenario("shock-5")
    brief = CampaignBrief.from_scenario(sc)
    assert brief.channel_names == sc.channel_names
    assert brief.budget == 600_000 and brief.horizon == 60 and brief.reward == "profit"
    assert brief.step_budget == 10_000 and not brief.agent_pacing
    lo, hi = brief.share_bound_arrays
    np.testing.assert_array_equal(lo, [0.0, 0.0, 0.0, 0.1, 0.0])  # a committed minimum on video
    np.testing.assert_array_equal(hi, [0.45, 1.0, 1.0, 1.0, 1.0])  # a cap on search
    values = brief.to_dict()
    flat = repr(values)
    for hidden in ("half_saturation", "max_response", "adstock", "'price'", "ref_spend", "elasticity", "shocks",
                   "noise"):
        assert hidden not in flat
    # the plan's unit prices are public (the price index's reference): here the scenario's own prices
    np.testing.assert_array_equal(brief.planned_prices, [c.cost.price for c in sc.channels])
    assert CampaignBrief.from_dict(values) == brief
    with pytest.raises(BudgetGymError, match="saved: not a campaign brief"):
        CampaignBrief.from_dict({"name": "x"}, "saved")


def test_the_env_spaces_come_from_the_brief() -> None:
    env = ChannelBudgetEnv("delayed-5")  # agent pacing: K + 1 actions
    assert env.action_space == env.brief.action_space() and env.action_space.shape == (6,)
    assert env.observation_space == env.brief.observation_space()


def test_observation_layout_names_every_entry() -> None:
    env = ChannelBudgetEnv("stationary-3")
    lay = env.observation_layout
    assert lay == ObservationLayout(3) and lay.size == env.observation_space.shape[0] == 19
    names = lay.names(env.brief.channel_names)
    assert len(names) == lay.size and len(set(names)) == lay.size
    assert names[lay.time] == "time" and names[lay.remaining_budget] == "remaining_budget"
    obs, _ = env.reset(seed=0)
    for _ in range(5):
        obs, *_ = env.step(np.zeros(3, dtype=np.float32))
    # by hand: 5 of 14 steps done, 5 of 14 step budgets spent, equal split
    assert obs[lay.time] == pytest.approx(5 / 14)
    assert obs[lay.remaining_budget] == pytest.approx(9 / 14, rel=1e-6)
    np.testing.assert_allclose(obs[lay.share], 1 / 3, rtol=1e-6)
    assert obs[lay.spend_ratio] == pytest.approx(1.0, rel=1e-6)


@pytest.mark.parametrize("cpa", [1.7e308, 1e300, 1e-300, 5e-324])
def test_an_implausible_planning_cpa_is_refused(cpa: float) -> None:
    """``conversion_scale = (B/T)/K / target_cpa`` overflowed to inf (cpa 1e-300 on a budget of 1e15)
    or, for a CPA near the float range's end, fell to a subnormal whose inverse is inf, so an
    observation of zero conversions was ``0 * inf = nan``: the schema refuses such a CPA in one line."""
    from budgetgym.envs.errors import ScenarioError

    sc = load_scenario("stationary-3")
    with pytest.raises(ScenarioError) as info:
        sc.override({"target_cpa": cpa, "budget.total": 1e15 if cpa < 1 else 1.0}, source="x.yaml")
    assert "\n" not in str(info.value) and str(info.value).startswith("x.yaml: target_cpa: ")


def test_the_planning_cpa_at_its_bounds_gives_finite_observations() -> None:
    for cpa, total in ((1e30, 1e-6), (1e-30, 1e15)):
        sc = load_scenario("stationary-3").override({"target_cpa": cpa, "budget.total": total})
        env = ChannelBudgetEnv(sc)
        obs, _ = env.reset(seed=0)
        for _ in range(3):
            obs, reward, *_ = env.step(np.zeros(3, dtype=np.float32))
            assert env.observation_space.contains(obs) and np.isfinite(obs).all() and np.isfinite(reward)


def test_the_planning_cpa_scales_the_observed_conversions_by_hand() -> None:
    """stationary-3: B = 84,000 over T = 14 steps and K = 3 channels, so (B/T)/K = 2,000 a channel
    and step; a planning CPA of 20 plans 2,000 / 20 = 100 conversions a channel and step, and the
    observation shows conversions / 100."""
    sc = load_scenario("stationary-3").override({"target_cpa": 20.0, "noise.conversions": "none"})
    brief = CampaignBrief.from_scenario(sc)
    assert brief.target_cpa == 20.0 and brief.conversion_scale == pytest.approx(100.0)
    env = ChannelBudgetEnv(sc)
    env.reset(seed=0)
    obs, _, _, _, info = env.step(np.zeros(3, dtype=np.float32))
    lay = env.observation_layout
    np.testing.assert_allclose(obs[lay.conversions], np.minimum(info["conversions"] / 100.0, 10.0), rtol=1e-6)
