"""Properties of the whole stack at once, over random campaigns that mix what the other property
tests draw one at a time: audience segments, adstock and delays, calendar seasonality, even or
agent pacing with a step cap, share bounds (locked and zero-capped channels), shocks, drift, price
and conversion noise, and a KPI baseline.

For every registered agent that learns online or plays a fixed rule (PPO is a policy trained
elsewhere), played through the environment from ``env.reset(seed)``:

* every action lies in the action space and every observation in the observation space; rewards
  and observations are finite;
* every step spends at most what remains, under agent pacing at most the step cap
  ``max_step_multiple * B/T``, and the episode at most the budget ``B``;
* the agent's expected value (:func:`evaluate_plan` of the spend it made, on the episode's path)
  is no more than the oracle's on that path: the oracle is the best plan in hindsight, so no policy
  beats it in expectation (tolerance: ``conftest.oracle_tolerance``).

The oracle's own plan is playable (:func:`check_plan`) and worth at least the equal split's; and a
baseline, which no action moves, changes nothing that is rewarded, observed or scored.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from conftest import oracle_tolerance, scenario_dicts, segmented_scenario_dicts
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from budgetgym.agents import list_agents, make_agent
from budgetgym.envs import ChannelBudgetEnv, check_plan, evaluate_plan, scenario_from_dict, solve_oracle
from budgetgym.experiments.demo import equal_split_plan

SETTINGS = settings(
    max_examples=6, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large]
)

#: Agents that play a rule or learn online (the fixed-weight ones get equal weights).
AGENTS = [n for n in list_agents() if n not in ("ppo", "recurrent_ppo")]
NEEDS = {"proportional": "weights", "historical": "spend"}


@st.composite
def _baselines(draw: st.DrawFn) -> dict[str, Any]:
    controls = [
        {"name": f"z{j}", "effect": draw(st.floats(-50.0, 50.0)), "mean": draw(st.floats(-5.0, 5.0)),
         "sd": draw(st.floats(0.0, 3.0)), "autocorrelation": draw(st.floats(0.0, 0.95))}
        for j in range(draw(st.integers(0, 2)))
    ]
    return {"level": draw(st.floats(0.0, 1e4)), "trend": draw(st.floats(-1.0, 2.0)), "controls": controls,
            "noise_sd": draw(st.floats(0.0, 1.0)),
            "seasonality": {"weekly_amplitude": draw(st.floats(0.0, 0.9)),
                            "yearly_amplitude": draw(st.floats(0.0, 0.9))}}


@st.composite
def campaigns(draw: st.DrawFn) -> dict[str, Any]:
    """A scenario mapping with or without segments, and with or without a baseline."""
    d = draw(st.one_of(scenario_dicts(max_channels=3, max_horizon=5),
                       segmented_scenario_dicts(max_channels=3, max_horizon=5)))
    if draw(st.booleans()):
        d["baseline"] = draw(_baselines())
    return d


def _play(name: str, env: ChannelBudgetEnv, seed: int) -> np.ndarray:
    """One episode of agent ``name`` with every per-step promise checked; the spend ``[T, K]`` it made."""
    brief = env.brief
    params = {NEEDS[name]: [1.0] * brief.n_channels} if name in NEEDS else {}
    agent = make_agent(name, env.scenario if name == "oracle" else env, **params)
    agent.reset(seed)
    obs, _ = env.reset(seed=seed)
    spent, cumulative = [], 0.0
    for t in range(brief.horizon):
        action, _ = agent.predict(obs, deterministic=True)
        assert env.action_space.contains(action), (name, t, action)
        remaining = brief.budget - cumulative
        next_obs, reward, _, _, info = env.step(action)
        assert np.isfinite(reward) and np.all(np.isfinite(next_obs)), (name, t)
        assert env.observation_space.contains(next_obs), (name, t, next_obs)
        step = float(np.sum(info["spend"]))
        assert np.all(info["spend"] >= 0.0) and step <= remaining, (name, t, step, remaining)
        if brief.agent_pacing:
            assert step <= brief.step_cap * (1 + 1e-12), (name, t, step, brief.step_cap)
        cumulative += step
        assert cumulative <= brief.budget, (name, t)
        agent.update(obs, action, float(reward), next_obs, info)
        spent.append(info["spend"])
        obs = next_obs
    return np.asarray(spent)


@SETTINGS
@given(d=campaigns(), seed=st.integers(0, 2**16))
def test_every_agent_keeps_every_promise_and_none_beats_the_oracle(d: dict[str, Any], seed: int) -> None:
    sc = scenario_from_dict(d, source="hypothesis campaign")
    oracle = solve_oracle(sc, seed=seed)
    assert check_plan(sc, oracle.plan) == [], check_plan(sc, oracle.plan)
    best = oracle.expected_reward
    tol = oracle_tolerance(sc, best)
    assert float(evaluate_plan(sc, equal_split_plan(sc), path=oracle.path)) <= best + tol
    env = ChannelBudgetEnv(sc)
    for name in AGENTS:
        X = _play(name, env, seed)
        assert env.path.cost.tolist() == oracle.path.cost.tolist()  # the episode the oracle solved
        value = float(evaluate_plan(sc, X, path=env.path))
        assert np.isfinite(value)
        assert value <= best + tol, (name, value, best)


@SETTINGS
@given(d=scenario_dicts(max_channels=3, max_horizon=6), base=_baselines(), seed=st.integers(0, 2**16), data=st.data())
def test_a_baseline_changes_nothing_that_is_rewarded_observed_or_scored(
    d: dict[str, Any], base: dict[str, Any], seed: int, data: Any
) -> None:
    """No action moves the baseline: the same actions on the same seed give the same observations,
    rewards, expected rewards and spend with and without it, on the same episode path (what the oracle
    solves on), and the same plan value."""
    plain = scenario_from_dict(d, source="hypothesis campaign")
    with_base = plain.override({"baseline": base})
    envs = [ChannelBudgetEnv(plain), ChannelBudgetEnv(with_base)]
    first = [env.reset(seed=seed)[0] for env in envs]
    np.testing.assert_array_equal(first[0], first[1])
    dim = envs[0].action_space.shape[0]
    for t in range(plain.horizon):
        action = np.array(data.draw(st.lists(st.floats(-1.0, 1.0), min_size=dim, max_size=dim), label=f"a{t}"),
                          dtype=np.float32)
        (o0, r0, *_, i0), (o1, r1, *_, i1) = (env.step(action) for env in envs)
        np.testing.assert_array_equal(o0, o1)
        assert r0 == r1 and i0["expected_reward"] == i1["expected_reward"]
        np.testing.assert_array_equal(i0["spend"], i1["spend"])
        assert "kpi" in i1
    for part in ("cost", "response", "delivery"):
        np.testing.assert_array_equal(getattr(envs[0].path, part), getattr(envs[1].path, part))
    X = equal_split_plan(plain)
    assert evaluate_plan(plain, X, seed=seed) == evaluate_plan(with_base, X, seed=seed)
