"""Bandits over discrete splits: epsilon_greedy, ucb1, thompson (budgetgym.agents.bandits)."""

from __future__ import annotations

import json
import math
import re

import numpy as np
import pytest
from conftest import Recorder, assert_feasible, assert_same_actions

import budgetgym.agents.bandits  # noqa: F401  (registers the agents)
from budgetgym.agents.bandits import grid_arms
from budgetgym.agents.base import list_agents, load_agent, make_agent
from budgetgym.agents.evaluation import evaluate
from budgetgym.envs import (
    BudgetGymError,
    ChannelBudgetEnv,
    evaluate_plan,
    load_scenario,
    scenario_from_dict,
)

BANDITS = ["epsilon_greedy", "ucb1", "thompson"]
ARMS3 = [[1.0, 1.0, 1.0], [2.0, 1.0, 1.0], [1.0, 2.0, 1.0]]


def paced_scenario():
    return load_scenario("stationary-3").override(
        {
            "name": "paced-3",
            "horizon": 10,
            "budget.pacing": "agent",
            "seasonality.demand.weekly_amplitude": 0.5,
        }
    )


def toy_scenario(horizon=40):
    """Two channels, no carry-over, no noise: channel a converts far better than b."""

    def channel(name, beta):
        return {
            "name": name,
            "cost": {"unit": "impression", "price": 10.0, "ref_spend": 1000.0, "elasticity": 0.0},
            "saturation": {
                "type": "hill",
                "max_response": beta,
                "half_saturation": 20_000.0,
                "slope": 1.0,
            },
        }

    return scenario_from_dict(
        {
            "name": "toy-2",
            "horizon": horizon,
            "budget": {"total": 200.0 * horizon, "pacing": "even"},
            "noise": {"conversions": "none"},
            "channels": [channel("a", 100.0), channel("b", 20.0)],
        }
    )


def play(agent, env, seed, steps=None):
    agent.reset(seed)
    obs, _ = env.reset(seed=seed)
    actions, arms = [], []
    for _ in range(steps if steps is not None else env.horizon):
        action, _ = agent.predict(obs)
        actions.append(action)
        arms.append(agent.current_arm)
        next_obs, reward, _, _, info = env.step(action)
        agent.update(obs, action, reward, next_obs, info)
        obs = next_obs
    return np.array(actions), arms, obs


def fed(name, history, **params):
    """A bandit on stationary-3 with ARMS3, reward scale 1, fed ``history`` of (arm, reward)."""
    env = ChannelBudgetEnv("stationary-3")
    agent = make_agent(name, env, arms=ARMS3, reward_scale=1.0, **params)
    for arm, reward in history:
        agent.record(arm, reward)
    return agent


HISTORY = [(0, 1.0), (1, 2.0), (0, 3.0), (2, 0.5)]


def test_registered():
    assert set(BANDITS) <= set(list_agents())


# ----------------------------------------------------------------------------- statistics
def test_counts_and_sample_means():
    st = fed("ucb1", HISTORY).stats()
    np.testing.assert_allclose(st.counts, [2, 1, 1])
    np.testing.assert_allclose(st.sums, [4.0, 2.0, 0.5])
    np.testing.assert_allclose(st.means, [2.0, 2.0, 0.5])
    assert st.total == 4.0


def test_reward_scale_defaults_to_mean_abs_reward():
    env = ChannelBudgetEnv("stationary-3")
    agent = make_agent("ucb1", env, arms=ARMS3)
    for arm, reward in HISTORY:
        agent.record(arm, reward)
    assert agent.scale() == pytest.approx(6.5 / 4)
    np.testing.assert_allclose(agent.stats().means, np.array([2.0, 2.0, 0.5]) / 1.625)


def test_reward_scale_is_over_the_credited_steps_only():
    """The default scale is the mean |reward| of the credited steps (as the docstrings now say; they
    said 'observed'): the warm-up step's reward, credited to no arm, is not in it."""
    env = ChannelBudgetEnv("stationary-3")
    agent = make_agent("ucb1", env, arms=ARMS3, warmup=1)
    agent.reset(0)
    obs, _ = env.reset(seed=0)
    for t, reward in enumerate([1000.0, 2.0]):
        action, _ = agent.predict(obs)
        obs, _, _, _, info = env.step(action)
        agent.update(obs, action, reward, obs, info)
        assert agent.scale() == (1.0 if t == 0 else 2.0)



@pytest.mark.parametrize("name", ["ucb1", "thompson"])
def test_the_bandits_choices_do_not_depend_on_the_rewards_unit(name):
    """The same campaign valued at 1 and at 1e-40 a conversion: the same choices (the default scale is
    relative; an absolute floor of 1e-12 turned the tiny campaign's rewards into zeros, 84.3% of the
    oracle against 88.0% for ucb1)."""
    base = load_scenario("stationary-3").override({"reward": "revenue"})
    pcts = []
    for factor in (1.0, 1e-40):
        sc = base.override({f"channels.{c.name}.value.mean": c.value.mean * factor for c in base.channels})
        pcts.append(evaluate(make_agent(name, sc), sc, seeds=[0])[0].pct_of_oracle)
    assert pcts[1] == pytest.approx(pcts[0], rel=1e-9)


def test_an_explicit_reward_scale_is_refused_beyond_1e30_either_way():
    """A scale of 1e-300 overflowed the scaled rewards' sums to inf (every index nan)."""
    env = ChannelBudgetEnv("stationary-3")
    for bad in (1e-300, 1e300):
        with pytest.raises(BudgetGymError, match="reward_scale"):
            make_agent("ucb1", env, reward_scale=bad)
    assert make_agent("ucb1", env, reward_scale=1e-30).scale() == 1e-30

def test_ucb1_index_by_hand():
    agent = fed("ucb1", HISTORY, c=0.5)
    idx = agent.index(agent.stats())
    # mean + c * sqrt(2 ln n / n_a) with n = 4
    expected = [
        2.0 + 0.5 * math.sqrt(2 * math.log(4) / 2),
        2.0 + 0.5 * math.sqrt(2 * math.log(4) / 1),
        0.5 + 0.5 * math.sqrt(2 * math.log(4) / 1),
    ]
    np.testing.assert_allclose(idx, expected, rtol=1e-12)
    assert agent.next_arm() == 1


def test_ucb1_unplayed_arm_has_infinite_index_and_is_played_first():
    agent = fed("ucb1", [(0, 1.0), (1, 5.0)], c=0.5)
    assert np.isinf(agent.index(agent.stats())[2])
    assert agent.next_arm() == 2


def test_ucb1_default_c_is_the_pooled_noise_sd():
    history = HISTORY + [(1, 4.0)]
    agent = fed("ucb1", history)
    # residuals: arm 0 (1-2, 3-2), arm 1 (2-3, 4-3), arm 2 none -> 4 over 5 - 3 = 2 dof
    assert agent.exploration(agent.stats()) == pytest.approx(math.sqrt(2.0))
    few = fed("ucb1", HISTORY, sigma_fallback=0.3)  # 4 - 3 = 1 dof: the fallback
    assert few.exploration(few.stats()) == 0.3


def test_discounted_counts_by_hand():
    st = fed("ucb1", HISTORY, discount=0.5).stats()
    # ages 3, 2, 1, 0 -> weights 1/8, 1/4, 1/2, 1
    np.testing.assert_allclose(st.counts, [1 / 8 + 1 / 2, 1 / 4, 1.0])
    np.testing.assert_allclose(st.sums, [1 / 8 * 1.0 + 1 / 2 * 3.0, 1 / 4 * 2.0, 0.5])
    np.testing.assert_allclose(st.means, [1.625 / 0.625, 2.0, 0.5])
    assert st.total == pytest.approx(1.875)


def test_sliding_window_forgets_old_rewards():
    agent = fed("ucb1", HISTORY, window=2, c=0.5)
    st = agent.stats()
    np.testing.assert_allclose(st.counts, [1, 0, 1])
    assert st.means[0] == 3.0 and np.isnan(st.means[1]) and st.means[2] == 0.5
    assert agent.next_arm() == 1  # arm 1 left the window: it is played again first
    # many later rewards of arm 0 replace the old ones entirely
    for _ in range(5):
        agent.record(0, 10.0)
    assert agent.stats().means[0] == 10.0


def test_thompson_posterior_by_hand():
    agent = fed("thompson", HISTORY, sigma=0.2, prior_mean=1.0, prior_count=2.0)
    mean, sd = agent.posterior(agent.stats())
    # (n0 m0 + S_a) / (n0 + N_a),  sigma / sqrt(n0 + N_a)
    np.testing.assert_allclose(mean, [(2 + 4.0) / 4, (2 + 2.0) / 3, (2 + 0.5) / 3])
    np.testing.assert_allclose(sd, [0.2 / 2, 0.2 / math.sqrt(3), 0.2 / math.sqrt(3)])


def test_thompson_default_prior_mean_is_the_pooled_mean():
    agent = fed("thompson", HISTORY, sigma=1.0, prior_count=1.0)
    mean, _ = agent.posterior(agent.stats())
    m0 = 6.5 / 4
    np.testing.assert_allclose(mean, [(m0 + 4.0) / 3, (m0 + 2.0) / 2, (m0 + 0.5) / 2])


def test_thompson_discounted_posterior():
    agent = fed("thompson", HISTORY, sigma=0.5, prior_mean=0.0, prior_count=1.0, discount=0.5)
    mean, sd = agent.posterior(agent.stats())
    np.testing.assert_allclose(mean, [1.625 / 1.625, 0.5 / 1.25, 0.5 / 2.0])
    np.testing.assert_allclose(sd, 0.5 / np.sqrt([1.625, 1.25, 2.0]))


def test_thompson_samples_follow_the_posterior():
    # two arms with equal posteriors are chosen about equally often; a far better arm always
    agent = fed(
        "thompson", [(0, 1.0), (1, 1.0), (2, 0.0)], sigma=0.5, prior_mean=0.5, prior_count=1.0
    )
    agent.reset(seed=0)
    for arm, reward in [(0, 1.0), (1, 1.0), (2, -100.0)]:
        agent.record(arm, reward)
    picks = np.array([agent.select(agent.stats()) for _ in range(2000)])
    assert 0.4 < (picks == 0).mean() < 0.6
    assert (picks == 2).sum() == 0


def test_epsilon_greedy_rule():
    greedy = fed("epsilon_greedy", HISTORY + [(1, 2.5)], epsilon=0.0)
    assert all(greedy.select(greedy.stats()) == 1 for _ in range(50))  # means 2, 2.25, 0.5
    explorer = fed("epsilon_greedy", HISTORY, epsilon=1.0)
    explorer.reset(seed=1)
    for arm, reward in HISTORY:
        explorer.record(arm, reward)
    picks = np.array([explorer.select(explorer.stats()) for _ in range(3000)])
    freq = np.bincount(picks, minlength=3) / len(picks)
    assert np.all(np.abs(freq - 1 / 3) < 0.04)


# ------------------------------------------------------------------------------------- arms
def test_default_arms():
    env = ChannelBudgetEnv("stationary-3")
    agent = make_agent("ucb1", env, tilt=0.5)
    assert agent.n_arms == 2 * 3 + 1
    np.testing.assert_allclose(agent.arms[0], [1 / 3, 1 / 3, 1 / 3])
    np.testing.assert_allclose(
        agent.arms[1], [3 / 7, 2 / 7, 2 / 7]
    )  # search x 1.5: (1/2, 1/3, 1/3) / (7/6)
    np.testing.assert_allclose(agent.arms[2], [0.2, 0.4, 0.4])  # search x 0.5
    np.testing.assert_allclose(agent.arms.sum(axis=1), 1.0)


def test_default_arms_skip_locked_channels():
    sc = load_scenario("stationary-3").override(
        {"name": "locked", "channels.video.locked_share": 0.2}
    )
    agent = make_agent("thompson", ChannelBudgetEnv(sc))
    assert agent.n_arms == 2 * 2 + 1
    np.testing.assert_allclose(agent.arms[:, 2], 0.2, atol=1e-12)


def test_grid_arms():
    arms = grid_arms(3, 2)
    assert len(arms) == math.comb(4, 2)
    np.testing.assert_allclose(arms.sum(axis=1), 1.0)
    assert {tuple(a) for a in arms} == {
        (1, 0, 0),
        (0, 1, 0),
        (0, 0, 1),
        (0.5, 0.5, 0),
        (0.5, 0, 0.5),
        (0, 0.5, 0.5),
    }
    agent = make_agent("ucb1", ChannelBudgetEnv("stationary-5"), grid_resolution=3)
    assert agent.n_arms == math.comb(3 + 4, 4)


def test_explicit_arms_list_and_mapping():
    env = ChannelBudgetEnv("stationary-3")
    agent = make_agent(
        "epsilon_greedy", env, arms=[[1, 1, 2], {"search": 3, "social": 1, "video": 0}]
    )
    np.testing.assert_allclose(agent.arms, [[0.25, 0.25, 0.5], [0.75, 0.25, 0.0]])


# --------------------------------------------------------------------------- play mechanics
@pytest.mark.parametrize("name", BANDITS)
def test_initial_round_robin_after_warmup(name):
    env = ChannelBudgetEnv("stationary-3")
    agent = make_agent(name, env, arms=ARMS3, warmup=1)
    _, arms, _ = play(agent, env, seed=0, steps=4)
    assert arms == [0, 0, 1, 2]
    assert agent.history_arms == [0, 1, 2]  # the warm-up step is not credited


def test_hold_and_burn_in():
    env = ChannelBudgetEnv("stationary-3")
    agent = make_agent("ucb1", env, arms=ARMS3, warmup=0, hold=3, burn_in=1)
    _, arms, _ = play(agent, env, seed=0, steps=9)
    assert arms == [0, 0, 0, 1, 1, 1, 2, 2, 2]
    assert agent.history_arms == [
        0,
        0,
        1,
        1,
        2,
        2,
    ]  # the first step after each switch is not credited


def test_rewards_are_credited_to_the_played_arm():
    env = ChannelBudgetEnv("stationary-3")
    agent = make_agent("ucb1", env, arms=ARMS3, warmup=0)
    agent.reset(0)
    obs, _ = env.reset(seed=0)
    rewards = []
    for _ in range(3):
        action, _ = agent.predict(obs)
        obs, reward, _, _, info = env.step(action)
        agent.update(None, action, reward, obs, info)
        rewards.append(reward)
    np.testing.assert_allclose(agent.history_rewards, rewards)


@pytest.mark.parametrize("name", BANDITS)
def test_learns_the_best_arm_on_a_deterministic_toy(name):
    sc = toy_scenario()
    arms = [[0.5, 0.5], [0.9, 0.1], [0.1, 0.9]]
    value = [
        evaluate_plan(sc, np.tile(np.array(q) * sc.step_budget, (sc.horizon, 1))) for q in arms
    ]
    best = int(np.argmax(value))
    agent = make_agent(name, ChannelBudgetEnv(sc), arms=arms)
    _, played, _ = play(agent, ChannelBudgetEnv(sc), seed=0)
    counts = np.bincount(played, minlength=3)
    assert np.argmax(counts) == best and counts[best] > sc.horizon / 2


@pytest.mark.parametrize("name", BANDITS)
@pytest.mark.parametrize("scenario", ["stationary-3", "paced"])
def test_full_episodes_feasible_actions(name, scenario):
    sc = load_scenario("stationary-3") if scenario == "stationary-3" else paced_scenario()
    env = ChannelBudgetEnv(sc)
    rec = Recorder(make_agent(name, env))
    results = evaluate(rec, sc, seeds=[0, 1])
    assert len(rec.actions) == 2 * sc.horizon
    assert_feasible(rec.actions, env)
    for r in results:
        assert r.spend <= sc.budget.total * (1 + 1e-9)
        assert 0 < r.pct_of_oracle <= 100.0 + 1e-6
        if sc.budget.pacing == "agent":
            np.testing.assert_allclose(r.allocation.sum(axis=1), sc.step_budget, rtol=1e-5)


@pytest.mark.parametrize("name", BANDITS)
def test_same_seed_same_actions(name):
    env = ChannelBudgetEnv("stationary-3")
    agent = make_agent(name, env, window=6, discount=0.9)
    a, _, _ = play(agent, env, seed=7)
    b, _, _ = play(agent, env, seed=7)
    np.testing.assert_array_equal(a, b)


def test_different_seeds_explore_differently():
    env = ChannelBudgetEnv("stationary-3")
    agent = make_agent("epsilon_greedy", env, epsilon=1.0)
    _, arms1, _ = play(agent, env, seed=1)
    _, arms2, _ = play(agent, env, seed=2)
    assert arms1 != arms2


@pytest.mark.parametrize("name", BANDITS)
def test_save_load_same_actions(name, tmp_path):
    sc = load_scenario("stationary-3").override(
        {"name": "longer-3", "horizon": 30, "budget.total": 180000.0}
    )
    env = ChannelBudgetEnv(sc)
    agent = make_agent(name, env, hold=2)
    _, _, obs = play(agent, env, seed=3, steps=11)
    agent.save(tmp_path / "bandit.json")
    clone = load_agent(tmp_path / "bandit.json", env)
    assert clone.history_arms == agent.history_arms
    assert_same_actions(agent, clone, env, obs, sc.horizon - 11)



@pytest.mark.parametrize("arm", [99, -1])
def test_a_saved_current_arm_out_of_range_is_refused_at_load(arm, tmp_path):
    # a hand-edited or corrupt file: the arm held would be indexed at the next step (an IndexError
    # mid-episode for 99; -1 silently the last arm), not refused at load like the history's arms
    env = ChannelBudgetEnv("stationary-3")
    agent = make_agent("thompson", env, hold=3)
    play(agent, env, seed=0, steps=1)
    agent.save(tmp_path / "bandit.json")
    data = json.loads((tmp_path / "bandit.json").read_text())
    data["state"]["current_arm"] = arm
    (tmp_path / "bandit.json").write_text(json.dumps(data))
    with pytest.raises(BudgetGymError, match=r"current_arm .*out of range \(0\.\.6\)"):
        load_agent(tmp_path / "bandit.json", env)


# ----------------------------------------------------------------------------- invalid params
@pytest.mark.parametrize(
    "name,params,field,pattern",
    [
        ("epsilon_greedy", {"epsilon": -0.1}, "epsilon", "greater than or equal"),
        ("epsilon_greedy", {"epsilon": 1.5}, "epsilon", "less than or equal"),
        ("ucb1", {"epsilon": 0.1}, "epsilon", "extra"),
        ("ucb1", {"c": -1}, "c", "greater than or equal"),
        ("thompson", {"sigma": 0}, "sigma", "greater than"),
        ("thompson", {"prior_count": -1}, "prior_count", "greater than"),
        ("ucb1", {"arms": [[1, 1]]}, "arms[0]", "expected 3 values"),
        ("ucb1", {"arms": [[1, -1, 1]]}, "arms", "non-negative"),
        (
            "ucb1",
            {"arms": [{"search": 1, "radio": 1, "social": 1, "video": 1}]},
            "arms[0]",
            "unknown channel",
        ),
        ("ucb1", {"arms": []}, "arms", "non-empty"),
        (
            "thompson",
            {"arms": [[1, 1, 1]], "grid_resolution": 2},
            "arms or grid_resolution",
            "not both",
        ),
        ("ucb1", {"grid_resolution": 0}, "grid_resolution", "greater than or equal"),
        ("ucb1", {"grid_resolution": 100}, "grid_resolution", "at most"),
        ("ucb1", {"discount": 0}, "discount", "greater than"),
        ("ucb1", {"window": 0}, "window", "greater than or equal"),
        ("ucb1", {"hold": 2, "burn_in": 2}, "burn_in", "smaller than hold"),
        ("thompson", {"tilt": 1.0}, "tilt", "less than"),
        ("ucb1", {"reward_scale": float("inf")}, "reward_scale", "finite"),
        ("thompson", {"prior_mean": float("nan")}, "prior_mean", "finite"),
    ],
)
def test_invalid_parameters(name, params, field, pattern):
    env = ChannelBudgetEnv("stationary-3")
    with pytest.raises(BudgetGymError) as err:
        make_agent(name, env, **params)
    msg = str(err.value)
    assert "\n" not in msg and f"agent '{name}'" in msg
    assert field in msg, msg
    assert re.search(pattern, msg, re.IGNORECASE), msg


@pytest.mark.parametrize("name", BANDITS)
def test_a_non_finite_reward_is_refused(name):
    """One nan reward made every arm's mean (through the reward scale) nan for the rest of the
    campaign: the bandit then played arm 0 forever, silently. It is refused, as model_thompson
    refuses a non-finite spend or conversion count."""
    sc = load_scenario("stationary-3")
    env = ChannelBudgetEnv(sc)
    agent = make_agent(name, env)
    agent.reset(seed=0)
    obs, _ = env.reset(seed=0)
    for t in range(3):
        action, _ = agent.predict(obs)
        next_obs, reward, _, _, info = env.step(action)
        if t < 2:
            agent.update(obs, action, float(reward), next_obs, info)
        obs = next_obs
    for bad in (float("nan"), float("inf")):
        with pytest.raises(BudgetGymError, match="finite"):
            agent.update(obs, action, bad, next_obs, info)
