"""Every agent's action is a valid action, whatever the campaign and whatever it observes (hypothesis).

For any valid scenario (``conftest.scenarios``: 1-4 channels, share bounds incl. locked and zero-capped
channels, both pacings, every reward and noise kind), every registered agent, built from the env as a
user builds it (``proportional`` / ``historical`` with arbitrary non-negative weights, zeros and huge
values included), returns on each call of ``predict`` a float32 action of the action space's shape,
finite and in [-1, 1] (``action_space.contains``):

* along an episode it plays and learns from (``predict`` then ``update`` with the env's transition);
* on arbitrary observations of the observation space (its bounds, zeros, random points) fed to an
  agent that has learnt from that episode: no observation a wrapper or a replay can hand it makes an
  agent emit NaN, an infinity or an out-of-range entry.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from conftest import any_scenarios, build_scenario, channel, scenarios
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from budgetgym.agents import list_agents, make_agent
from budgetgym.agents.fixed import SplitAgent
from budgetgym.envs import ChannelBudgetEnv

#: Agents with parameters a user must give: drawn below (any non-negative values, one positive).
NEEDS = {"proportional": "weights", "historical": "spend"}
#: Registered agents (the oracle is built from the scenario, as make_agent does for it).
AGENTS = list_agents()

_value = st.one_of(st.just(0.0), st.floats(1e-6, 1e9), st.sampled_from([1.0, 1e-300, 1e300]))


def _assert_valid(action: Any, env: ChannelBudgetEnv, where: str) -> None:
    a = np.asarray(action)
    assert a.dtype == np.float32, where
    assert a.shape == env.action_space.shape, where
    assert np.all(np.isfinite(a)), f"{where}: {a}"
    assert env.action_space.contains(a), f"{where}: {a}"


def _observations(env: ChannelBudgetEnv, rng: np.random.Generator, n: int) -> list[np.ndarray]:
    """The space's corners (low, high, zeros clipped into it) and ``n`` random points of it."""
    space = env.observation_space
    lo, hi = space.low.astype(np.float64), space.high.astype(np.float64)
    out = [space.low.copy(), space.high.copy(), np.clip(np.zeros_like(space.low), space.low, space.high)]
    for _ in range(n):
        x = rng.uniform(lo, hi)
        corner = rng.random(lo.shape) < 0.3  # some entries at a bound
        x = np.where(corner, np.where(rng.random(lo.shape) < 0.5, lo, hi), x)
        out.append(x.astype(np.float32))
    return out


AGENT_SETTINGS = settings(
    max_examples=6, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large]
)


@AGENT_SETTINGS
@given(sc=scenarios(max_channels=4, max_horizon=5), data=st.data(), seed=st.integers(0, 2**16))
def test_every_agent_acts_validly_on_any_campaign_and_any_observation(sc: Any, data: Any, seed: int) -> None:
    _assert_every_agent_acts_validly(sc, data, seed)


@settings(AGENT_SETTINGS, max_examples=4)
@given(sc=scenarios(max_channels=4, max_horizon=5, edges=True), data=st.data(), seed=st.integers(0, 2**16))
def test_every_agent_acts_validly_at_the_schemas_edges(sc: Any, data: Any, seed: int) -> None:
    # fields at either end of what the schema accepts (budgets 1e-9 and 1e15, logit_scale 5e-324, ...)
    _assert_every_agent_acts_validly(sc, data, seed)


def _assert_every_agent_acts_validly(sc: Any, data: Any, seed: int) -> None:
    """Every agent, built as a user builds it, plays an episode of ``sc`` learning as it goes, then is fed
    the observation space's corners and random points: every action valid."""
    env = ChannelBudgetEnv(sc)
    rng = np.random.default_rng(seed)
    for name in AGENTS:
        params: dict[str, Any] = {}
        if name in NEEDS:
            values = data.draw(st.lists(_value, min_size=sc.n_channels, max_size=sc.n_channels), label=name)
            if not any(v > 0 for v in values):
                values[0] = 1.0
            params[NEEDS[name]] = values
        agent = make_agent(name, sc if name == "oracle" else env, **params)
        agent.reset(seed)
        obs, _ = env.reset(seed=seed)
        start = np.ones(1, dtype=bool)
        for t in range(sc.horizon):
            action, _ = agent.predict(obs, episode_start=start, deterministic=bool(t % 2))
            start = np.zeros(1, dtype=bool)
            _assert_valid(action, env, f"{name} step {t}")
            next_obs, reward, _, _, info = env.step(action)
            agent.update(obs, action, float(reward), next_obs, info)
            obs = next_obs
        for i, x in enumerate(_observations(env, rng, 4)):
            action, _ = agent.predict(x, deterministic=bool(i % 2))
            _assert_valid(action, env, f"{name} on observation {x}")


# ------------------------------------------------------------------ honest information, feasibility
#: What ``info`` holds that no marketer observes: noise-free values from the true curves.
TRUTH_KEYS = ("expected_conversions", "expected_reward", "expected_revenue", "baseline_expected")


def _poisoned(info: dict[str, Any]) -> dict[str, Any]:
    """``info`` with every true-parameter entry replaced by garbage of the same shape (NaN)."""
    return {k: (np.full(np.shape(v), np.nan) if k in TRUTH_KEYS else v) for k, v in info.items()}


def _played(name: str, scenario: Any, poison: bool) -> list[np.ndarray]:
    env = ChannelBudgetEnv(scenario)
    params: dict[str, Any] = {NEEDS[name]: [1.0] * env.brief.n_channels} if name in NEEDS else {}
    agent = make_agent(name, env, **params)
    agent.reset(3)
    obs, _ = env.reset(seed=3)
    actions = []
    for _ in range(env.brief.horizon):
        action, _ = agent.predict(obs)
        next_obs, reward, _, _, info = env.step(action)
        assert "expected_reward" in info and "expected_conversions" in info  # there is something to hide
        agent.update(obs, action, float(reward), next_obs, _poisoned(info) if poison else info)
        actions.append(action)
        obs = next_obs
    return actions


#: The agents that learn from ``update`` (the oracle sees the truth by name; PPO's policy is fixed).
LEARNERS = [n for n in AGENTS if n not in ("oracle", "ppo", "recurrent_ppo")]


@pytest.mark.parametrize("pacing", ["even", "agent"])
@pytest.mark.parametrize("name", LEARNERS)
def test_no_agent_learns_from_the_true_values_in_info(name: str, pacing: str) -> None:
    # the env's info also reports noise-free values of the true curves (for scoring); an agent that read
    # one would act differently (or fail) when they are garbage
    sc = build_scenario(
        horizon=16, reward="revenue", budget__pacing=pacing, noise__conversions="poisson",
        channels=[channel("a"), channel("b", adstock={"type": "geometric", "decay": 0.5}), channel("c")],
    )
    np.testing.assert_array_equal(_played(name, sc, False), _played(name, sc, True))


#: The agents that pace the spend by their own rule (PPO's pacing is its policy's, checked above).
PACERS = [n for n in AGENTS if n not in ("ppo", "recurrent_ppo")]


@settings(AGENT_SETTINGS, max_examples=3)
@given(sc=any_scenarios(max_channels=4, max_horizon=6, pacing="agent"),
       first=st.floats(0.0, 1.0), seed=st.integers(0, 99))
def test_agents_pace_validly_after_a_first_step_that_spent_most_of_the_budget(sc: Any, first: float, seed: int) -> None:
    # a step played outside the agent (a replay, a human override) spends `first` of what it could, up to
    # the whole budget; then every agent plays on: valid actions, never over the budget, and an agent that
    # tracks the budget itself (the split agents, re-synchronised once from info) tracks the env's spend
    env = ChannelBudgetEnv(sc)
    for name in PACERS:
        params: dict[str, Any] = {NEEDS[name]: [1.0] * sc.n_channels} if name in NEEDS else {}
        agent = make_agent(name, sc if name == "oracle" else env, **params)
        agent.reset(seed)
        obs, _ = env.reset(seed=seed)
        action, _ = agent.predict(obs, episode_start=np.ones(1, dtype=bool))
        action[-1] = np.float32(2.0 * first - 1.0)
        next_obs, reward, _, _, info = env.step(action)
        agent.update(obs, action, float(reward), next_obs, info)
        obs = next_obs
        for t in range(1, sc.horizon):
            action, _ = agent.predict(obs)
            _assert_valid(action, env, f"{name} step {t}")
            next_obs, reward, _, _, info = env.step(action)
            if isinstance(agent, SplitAgent):  # no update: the agent's own account of the spend
                assert agent.spent == pytest.approx(env.cumulative_spend, rel=1e-9, abs=1e-9 * sc.budget.total)
            else:
                agent.update(obs, action, float(reward), next_obs, info)
            obs = next_obs
        assert env.cumulative_spend <= sc.budget.total
