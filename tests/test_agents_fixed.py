"""Fixed-split agents (equal, proportional, historical) and the oracle agent."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
from conftest import Recorder, assert_feasible, assert_same_actions, base_scenario_dict

import budgetgym.agents.fixed  # noqa: F401  (registers the agents)
from budgetgym.agents.base import brief_of, list_agents, load_agent, make_agent
from budgetgym.agents.evaluation import evaluate
from budgetgym.envs import (
    BudgetGymError,
    ChannelBudgetEnv,
    evaluate_plan,
    load_scenario,
    scenario_from_dict,
    solve_oracle,
)
from budgetgym.envs.allocation import action_to_split, project_bounded_simplex

FIXED = [
    ("equal", {}),
    ("proportional", {"weights": [3.0, 1.0, 1.0]}),
    ("historical", {"spend": {"search": 5000.0, "social": 700.0, "video": 300.0}}),
    ("oracle", {}),
]


def paced_scenario():
    """stationary-3 with agent pacing and a strong weekly demand cycle (timing matters)."""
    return load_scenario("stationary-3").override(
        {
            "name": "paced-3",
            "horizon": 10,
            "budget.total": 60000.0,
            "budget.pacing": "agent",
            "budget.max_step_multiple": 2.0,
            "seasonality.demand.weekly_amplitude": 0.6,
            "seasonality.demand.weekly_peak": 3.0,
        }
    )


def bounded_scenario():
    """stationary-3 where search must get at least 60% and video at most 10%."""
    return load_scenario("stationary-3").override(
        {"name": "bounded-3", "channels.search.min_share": 0.6, "channels.video.max_share": 0.1}
    )


def play(agent, env, seed, steps=None):
    """Play ``steps`` steps (default the horizon) of a fresh campaign; returns actions."""
    agent.reset(seed)
    obs, _ = env.reset(seed=seed)
    out = []
    start = np.ones(1, dtype=bool)
    for _ in range(steps if steps is not None else env.horizon):
        action, _ = agent.predict(obs, episode_start=start)
        start = np.zeros(1, dtype=bool)
        out.append(action)
        next_obs, reward, _, _, info = env.step(action)
        agent.update(obs, action, reward, next_obs, info)
        obs = next_obs
    return out, obs


# ------------------------------------------------------------------------------------- registry
def test_registered():
    assert {"equal", "proportional", "historical", "oracle"} <= set(list_agents())


@pytest.mark.parametrize("name,params", FIXED)
@pytest.mark.parametrize("scenario", ["stationary-3", "paced"])
def test_full_episodes_feasible_actions(name, params, scenario):
    sc = load_scenario("stationary-3") if scenario == "stationary-3" else paced_scenario()
    env = ChannelBudgetEnv(sc)
    rec = Recorder(make_agent(name, env, **params))
    results = evaluate(rec, sc, seeds=[0, 1])
    assert_feasible(rec.actions, env)
    assert len(rec.actions) == 2 * sc.horizon
    for r in results:
        assert r.spend <= sc.budget.total * (1 + 1e-9)
        assert 0 < r.pct_of_oracle <= 100.0 + 1e-6


# ---------------------------------------------------------------------------------- equal split
def test_equal_reproduces_the_equal_plan():
    sc = load_scenario("stationary-3")
    env = ChannelBudgetEnv(sc)
    (res,) = evaluate(make_agent("equal", env), sc, seeds=[3])
    plan = np.full((sc.horizon, sc.n_channels), sc.step_budget / sc.n_channels)
    np.testing.assert_allclose(res.allocation, plan, rtol=1e-6)
    expected = evaluate_plan(sc, plan, seed=res.env_seed)
    assert res.expected_reward == pytest.approx(expected, rel=1e-9)


def test_equal_is_projected_onto_share_bounds():
    sc = bounded_scenario()
    env = ChannelBudgetEnv(sc)
    (res,) = evaluate(make_agent("equal", env), sc, seeds=[0])
    shares = res.allocation / res.allocation.sum(axis=1, keepdims=True)
    # the Euclidean projection of (1/3, 1/3, 1/3): search at its floor 0.6, video at its cap 0.1
    np.testing.assert_allclose(shares, np.tile([0.6, 0.3, 0.1], (sc.horizon, 1)), atol=1e-6)


def test_fixed_split_under_agent_pacing_spends_budget_over_horizon():
    sc = paced_scenario()
    env = ChannelBudgetEnv(sc)
    (res,) = evaluate(make_agent("equal", env), sc, seeds=[0])
    np.testing.assert_allclose(res.allocation.sum(axis=1), sc.step_budget, rtol=1e-6)
    assert res.spend == pytest.approx(sc.budget.total, rel=1e-6)


# ------------------------------------------------------------------- proportional and historical
@pytest.mark.parametrize(
    "name,params,split",
    [
        ("proportional", {"weights": [2.0, 1.0, 1.0]}, [0.5, 0.25, 0.25]),
        (
            "proportional",
            {"weights": {"video": 1.0, "search": 7.0, "social": 2.0}},
            [0.7, 0.2, 0.1],
        ),
        ("proportional", {"weights": [1.0, 0.0, 1.0]}, [0.5, 0.0, 0.5]),
        ("historical", {"spend": [4500.0, 1000.0, 500.0]}, [0.75, 1 / 6, 1 / 12]),
        (
            "historical",
            {"spend": {"search": 100.0, "social": 100.0, "video": 200.0}},
            [0.25, 0.25, 0.5],
        ),
    ],
)
def test_given_split_is_played(name, params, split):
    sc = load_scenario("stationary-3")
    env = ChannelBudgetEnv(sc)
    (res,) = evaluate(make_agent(name, env, **params), sc, seeds=[0])
    shares = res.allocation / sc.step_budget
    # zero shares are reachable only to within exp(-2c) of the largest (allocation module)
    np.testing.assert_allclose(shares, np.tile(split, (sc.horizon, 1)), atol=1e-4)


def test_proportional_split_is_projected():
    sc = bounded_scenario()
    env = ChannelBudgetEnv(sc)
    agent = make_agent(
        "proportional", env, weights=[1.0, 1.0, 8.0]
    )  # video wants 0.8, capped at 0.1
    action, _ = agent.predict(env.reset(seed=0)[0])
    q = action_to_split(action, sc.action.logit_scale, np.array([0.6, 0, 0]), np.array([1, 1, 0.1]))
    expected = project_bounded_simplex(
        np.array([0.1, 0.1, 0.8]), np.array([0.6, 0, 0]), np.array([1, 1, 0.1])
    )
    np.testing.assert_allclose(q, expected, atol=1e-5)
    assert q[2] == pytest.approx(0.1, abs=1e-6) and q[0] >= 0.6 - 1e-6


# --------------------------------------------------------------------------------------- oracle
def test_oracle_scores_100_percent_on_stationary_3():
    sc = load_scenario("stationary-3")
    env = ChannelBudgetEnv(sc)
    for r in evaluate(make_agent("oracle", env), sc, seeds=[0, 1]):
        assert r.pct_of_oracle == pytest.approx(100.0, rel=1e-4)


def test_oracle_scores_100_percent_under_agent_pacing():
    sc = paced_scenario()
    plan = solve_oracle(sc, seed=0).plan
    steps = plan.sum(axis=1) / sc.step_budget
    assert (
        steps.max() - steps.min() > 0.5
    )  # the plan really paces unevenly: the test exercises pacing
    env = ChannelBudgetEnv(sc)
    for r in evaluate(make_agent("oracle", env), sc, seeds=[0, 5]):
        assert r.pct_of_oracle == pytest.approx(100.0, rel=1e-4)
        np.testing.assert_allclose(
            r.allocation.sum(axis=1), solve_oracle(sc, seed=r.env_seed).step_spend, rtol=1e-4
        )


def test_oracle_without_update_tracks_budget_itself():
    sc = paced_scenario()
    env = ChannelBudgetEnv(sc)
    (res,) = evaluate(make_agent("oracle", env), sc, seeds=[0], learn=False)
    assert res.pct_of_oracle == pytest.approx(100.0, rel=1e-4)


def test_oracle_episode_start_restarts_the_plan():
    sc = paced_scenario()
    env = ChannelBudgetEnv(sc)
    agent = make_agent("oracle", env)
    first, obs = play(agent, env, seed=0, steps=4)
    again, _ = agent.predict(obs, episode_start=np.ones(1, dtype=bool))
    np.testing.assert_array_equal(again, first[0])
    assert agent.t == 1 and agent.spent == pytest.approx(
        solve_oracle(sc, seed=0).step_spend[0], rel=1e-5
    )


def test_oracle_before_reset_plays_the_nominal_plan():
    sc = load_scenario("stationary-3")
    env = ChannelBudgetEnv(sc)
    agent = make_agent("oracle", env)
    action, _ = agent.predict(env.reset(seed=0)[0])
    row = solve_oracle(sc).plan[0]
    q = action_to_split(action, sc.action.logit_scale, np.zeros(3), np.ones(3))
    np.testing.assert_allclose(q, row / row.sum(), atol=1e-4)


# ------------------------------------------------------------------------- reproducibility/save
@pytest.mark.parametrize("name,params", FIXED)
@pytest.mark.parametrize("scenario", ["stationary-3", "paced"])
def test_save_load_same_actions(name, params, scenario, tmp_path):
    sc = load_scenario("stationary-3") if scenario == "stationary-3" else paced_scenario()
    env = ChannelBudgetEnv(sc)
    agent = make_agent(name, env, **params)
    _, obs = play(agent, env, seed=2, steps=5)
    agent.save(tmp_path / "agent.json")
    clone = load_agent(tmp_path / "agent.json", env)
    assert type(clone) is type(agent) and clone.params == agent.params
    # mid-episode: the clone must continue from step 5 exactly as the original does
    assert_same_actions(agent, clone, env, obs, sc.horizon - 5)


@pytest.mark.parametrize("name,params", FIXED)
def test_same_seed_same_actions(name, params):
    env = ChannelBudgetEnv("stationary-3")
    agent = make_agent(name, env, **params)
    a, _ = play(agent, env, seed=4)
    b, _ = play(agent, env, seed=4)
    np.testing.assert_array_equal(np.array(a), np.array(b))


# ------------------------------------------------------------------------------- invalid params
@pytest.mark.parametrize(
    "name,params,field,pattern",
    [
        ("equal", {"foo": 1}, "foo", "extra"),
        ("proportional", {}, "weights", "required"),
        ("proportional", {"weights": [1.0, 2.0]}, "weights", "expected 3 values"),
        ("proportional", {"weights": [1.0, -1.0, 2.0]}, "weights", "non-negative"),
        ("proportional", {"weights": [0, 0, 0]}, "weights", "not all be zero"),
        (
            "proportional",
            {"weights": {"search": 1, "tv": 2, "social": 1, "video": 1}},
            "weights",
            "unknown channel",
        ),
        ("proportional", {"weights": {"search": 1, "social": 1}}, "weights", "missing channel"),
        ("proportional", {"weights": "abc"}, "weights", "expected a mapping"),
        ("proportional", {"weights": [1.0, float("nan"), 1.0]}, "weights", "finite"),
        ("historical", {"spend": [1.0, 2.0, 3.0, 4.0]}, "spend", "expected 3 values"),
        (
            "historical",
            {"spend": {"search": -5.0, "social": 1, "video": 1}},
            "spend",
            "non-negative",
        ),
        ("oracle", {"n_random_starts": -1}, "n_random_starts", "greater than or equal"),
    ],
)
def test_invalid_parameters(name, params, field, pattern):
    env = ChannelBudgetEnv("stationary-3")
    with pytest.raises(BudgetGymError) as err:
        make_agent(name, env, **params)
    msg = str(err.value)
    assert "\n" not in msg
    assert field in msg and f"agent '{name}'" in msg
    assert re.search(pattern, msg, re.IGNORECASE), msg


def test_loading_an_oracle_into_a_different_scenario_fails(tmp_path):
    agent = make_agent("oracle", ChannelBudgetEnv("stationary-3"))
    agent.reset(0)
    agent.save(tmp_path / "oracle.json")
    with pytest.raises(BudgetGymError, match="solved for another campaign"):
        load_agent(tmp_path / "oracle.json", ChannelBudgetEnv(paced_scenario()))


@pytest.mark.parametrize("change", [{"budget.total": 42000.0}, {"channels.search.cost.price": 2.4}])
def test_an_oracle_plan_does_not_load_into_another_campaign_with_the_same_channels(tmp_path, change):
    """The saved plan loaded into any campaign of the same channels and horizon (another budget, other true
    curves), and was played there as if optimal: its spends even overspent a halved budget. Refused in one
    line naming the file; the same campaign still loads."""
    sc = load_scenario("stationary-3")
    agent = make_agent("oracle", sc)
    agent.reset(0)
    agent.save(tmp_path / "oracle.json")
    assert load_agent(tmp_path / "oracle.json", sc).plan.tolist() == agent.plan.tolist()  # type: ignore[attr-defined]
    with pytest.raises(BudgetGymError) as err:
        load_agent(tmp_path / "oracle.json", sc.override(change))
    msg = str(err.value)
    assert "\n" not in msg and msg.startswith(f"agent file '{tmp_path / 'oracle.json'}': ") and "campaign" in msg, msg


def test_an_oracle_plan_saved_without_its_campaign_is_refused(tmp_path):
    """A file saved before the plan recorded its campaign cannot be checked: refused, naming the file,
    rather than played on a campaign it may not fit."""
    import json

    sc = load_scenario("stationary-3")
    agent = make_agent("oracle", sc)
    agent.reset(0)
    agent.save(tmp_path / "oracle.json")
    payload = json.loads((tmp_path / "oracle.json").read_text())
    payload["state"] = {k: v for k, v in payload["state"].items() if k != "campaign"}
    (tmp_path / "oracle.json").write_text(json.dumps(payload))
    with pytest.raises(BudgetGymError, match=r"^agent file '.*oracle\.json': .*save it again"):
        load_agent(tmp_path / "oracle.json", sc)


def test_pct_of_oracle_is_nan_when_the_oracle_does_not_earn() -> None:
    """A profit campaign whose channels never pay back: the oracle's best is to spend (almost)
    nothing, an expected profit of about 0 (here a tiny loss). A ratio to a non-positive oracle
    says nothing and inverts the ranking (the equal split, which loses ~600, scored 7e11 % of the
    oracle, and the more it lost the higher it scored), so it is NaN, as in the plots' % of oracle
    to date."""
    data = base_scenario_dict(3)
    data.update(horizon=12, budget={"total": 1000.0, "pacing": "agent"}, reward="profit")
    sc = scenario_from_dict(data)
    (res,) = evaluate(make_agent("equal", sc), sc, seeds=[0])
    assert res.expected_reward < -100.0 and res.oracle_reward <= 0.0
    assert np.isnan(res.pct_of_oracle) and np.isnan(res.row()["pct_of_oracle"])


@pytest.mark.parametrize("name", ["equal", "epsilon_greedy", "greedy", "model_thompson"])
def test_predict_refuses_a_batch_of_several_campaigns(name: str) -> None:
    """An agent follows one campaign: a batch of two environments' observations advanced its step and
    tracked spend twice per step (SB3's evaluate_policy with two environments paced wrongly, silently).
    One observation, with or without SB3's leading axis of one, gives the same action."""
    from budgetgym.envs.errors import BudgetGymError

    env = ChannelBudgetEnv("stationary-3")
    obs, _ = env.reset(seed=0)
    one, two = make_agent(name, env), make_agent(name, env)
    one.reset(seed=0)
    two.reset(seed=0)
    flat, _ = one.predict(obs)
    batched, _ = two.predict(obs[None])
    assert batched.shape == (1, *flat.shape)
    np.testing.assert_array_equal(batched[0], flat)
    with pytest.raises(BudgetGymError, match=f"agent '{name}': predict takes one campaign's observation.*got shape "
                                             r"\(2, "):
        one.predict(np.stack([obs, obs]))


def test_agents_are_built_from_a_scenario_family_as_from_its_environment() -> None:
    """A plain scenario is a family of one, and everything that takes a scenario takes a family:
    make_agent(name, family) failed with 'env: expected a budgetgym ChannelBudgetEnv, got
    ScenarioFamily'. The agent gets the family's brief (the oracle: a family of one's scenario; a
    family that varies, or its environment, has no one set of true parameters: a one-line error)."""
    from budgetgym.envs.family import load_family

    family = load_family("wide-agent-family")
    assert family.varies
    for name in ("equal", "model_thompson"):
        agent = make_agent(name, family)
        assert agent.brief == family.brief == make_agent(name, ChannelBudgetEnv(family)).brief
    with pytest.raises(BudgetGymError, match="agent 'oracle' plays with the true parameters.*not from a family"):
        make_agent("oracle", family)
    with pytest.raises(BudgetGymError, match="not from the environment of a family that varies"):
        make_agent("oracle", ChannelBudgetEnv(family))  # it planned the nominal campaign, whatever the draw
    one = load_family("stationary-3")
    oracle = make_agent("oracle", one)
    assert oracle.oracle_scenario is one.nominal()
    oracle.reset(0)
    np.testing.assert_array_equal(oracle.plan, solve_oracle("stationary-3", seed=0).plan)


def test_a_split_of_huge_weights_is_not_the_equal_split() -> None:
    """Weights are validated finite, but 1.7e308 twice sums to inf: the split was q / inf = 0, read as
    'nothing given' and played as the equal split. Scaled by the largest first, it is the split given,
    in the agent's own step and in the batched evaluator's replay alike."""
    from budgetgym.agents.batch_actors import SplitBatchActor

    big = [1.7e308, 1.7e308, 1.0]
    agent = make_agent("proportional", ChannelBudgetEnv("stationary-3"), weights=big)
    np.testing.assert_allclose(agent.split, [0.5, 0.5, 0.0], atol=1e-12)
    rows = np.array([big, [3.0, 1.0, 1.0], [0.0, 0.0, 0.0]])
    batched = SplitBatchActor(agent, learn=True)._feasible(rows)
    for row, got in zip(rows, batched, strict=True):
        np.testing.assert_array_equal(got, agent.feasible(row))


def _saved_with_state(tmp_path, name: str, key: str, edit):
    """An agent ``name`` saved on stationary-3 with its state's ``key`` replaced by ``edit(saved value)``:
    the env and the file's path."""
    import json

    env = ChannelBudgetEnv("stationary-3")
    agent = make_agent(name, env)
    agent.reset(0)
    path = tmp_path / "agent.json"
    agent.save(path)
    data = json.loads(path.read_text())
    data["state"][key] = edit(data["state"].get(key))
    path.write_text(json.dumps(data))
    return env, path


@pytest.mark.parametrize(("name", "key", "value"), [
    ("ucb1", "t", "abc"),
    ("ucb1", "history_rewards", 5),
    ("greedy", "spend_history", [["a"]]),
    ("oracle", "plan", [["a"]]),
    ("equal", "rng", {"bad": 1}),
])
def test_a_corrupt_saved_state_is_a_one_line_error(tmp_path, name: str, key: str, value) -> None:
    """A saved agent whose state does not parse failed with a bare ValueError/TypeError from deep in
    load_state_dict (model_thompson's already said which file); now every agent's does."""
    env, path = _saved_with_state(tmp_path, name, key, lambda _: value)
    with pytest.raises(BudgetGymError, match=rf"^agent file '.*agent.json': its state does not fit agent '{name}' "):
        load_agent(path, env)


@pytest.mark.parametrize(("name", "key", "value", "needle"), [
    ("ucb1", "history_arms", [99], "arm index out of range"),
    ("ucb1", "current_arm", 99, "current_arm 99 out of range"),
    ("greedy", "spend_history", [[1.0]], "histories do not match"),
    ("oracle", "plan", [[1.0]], "plan has shape"),
    ("oracle", "plan", "nan", "finite, non-negative"),
    ("model_thompson", "version", 1, "state version"),
])
def test_a_saved_state_that_does_not_fit_names_the_file(tmp_path, name: str, key: str, value, needle: str) -> None:
    """The agents' own checks of a loaded state (arm indices, shapes, version) said what was wrong but
    not in which file; like every other bad input, the message now starts with the file."""
    def edit(saved):
        if value != "nan":
            return value
        plan = np.array(saved)  # a plan of the right shape with a NaN (JSON's NaN, as Python writes it)
        plan[1, 0] = np.nan
        return plan.tolist()

    env, path = _saved_with_state(tmp_path, name, key, edit)
    with pytest.raises(BudgetGymError, match=rf"^agent file '.*agent.json': .*{needle}") as err:
        load_agent(path, env)
    assert "\n" not in str(err.value)


@pytest.mark.parametrize(("kw", "needle"), [
    ({"seeds": [1.7]}, r"^seeds: expected non-negative integers, got \[1.7\]$"),  # played seed 1 silently
    ({"seeds": [True]}, r"^seeds: expected non-negative integers"),
    ({"seeds": ["a"]}, r"^seeds: expected non-negative integers"),  # int('a'): a bare ValueError
    ({"seeds": 5}, r"^seeds: expected a list of non-negative integers, got 5$"),  # a bare TypeError
    ({"seeds": []}, r"^seeds: expected at least one seed, got \[\]$"),  # returned no rows: a mean of nothing
    ({"episodes": 2.5}, r"^episodes: expected a positive integer, got 2.5$"),  # range(2.5): a bare TypeError
    ({"episodes": "2"}, r"^episodes: expected a positive integer, got '2'$"),
])
def test_evaluate_refuses_seeds_and_episodes_that_are_not_integers(kw, needle) -> None:
    agent = make_agent("equal", ChannelBudgetEnv("stationary-3"))
    with pytest.raises(BudgetGymError, match=needle):
        evaluate(agent, "stationary-3", **kw)
    seeds = [np.int64(2), 3]  # numpy integers are integers
    assert [r.seed for r in evaluate(agent, "stationary-3", seeds=seeds)] == [2, 3]


def test_make_agent_takes_a_name_or_path_as_evaluate_does() -> None:
    """README: make_agent(name, env_or_scenario_or_brief). Given a scenario *name* it said 'env:
    expected a budgetgym ChannelBudgetEnv, got str', while evaluate takes names. A name or YAML path
    builds the agent for that scenario or family (the oracle: a family of one's true parameters, a
    varying family's name the family's one-line error); anything else names every accepted source."""
    from budgetgym.envs.family import load_family

    assert make_agent("equal", "stationary-3").brief == brief_of(load_scenario("stationary-3"))
    path = Path(__file__).parents[1] / "configs" / "scenarios" / "stationary-3.yaml"
    oracle = make_agent("oracle", path)
    assert oracle.oracle_scenario == load_scenario(path)  # type: ignore[attr-defined]
    assert make_agent("model_thompson", "wide-agent-family").brief == load_family("wide-agent-family").brief
    with pytest.raises(BudgetGymError, match="not from a family that varies"):
        make_agent("oracle", "wide-agent-family")
    with pytest.raises(BudgetGymError, match="unknown scenario 'stationary-33'"):
        make_agent("equal", "stationary-33")
    with pytest.raises(BudgetGymError, match=r"expected a CampaignBrief, a budgetgym environment, a Scenario, a "
                                             r"ScenarioFamily, or a scenario or family name or YAML path, got float"):
        make_agent("equal", 3.0)  # type: ignore[arg-type]
