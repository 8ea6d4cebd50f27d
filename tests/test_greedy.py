"""Greedy marginal-ROI agent (budgetgym.agents.greedy)."""

from __future__ import annotations

import re

import numpy as np
import pytest
from conftest import Recorder, assert_feasible, assert_same_actions

import budgetgym.agents.fixed
import budgetgym.agents.greedy  # noqa: F401  (registers the agent)
from budgetgym.agents.base import list_agents, load_agent, make_agent
from budgetgym.agents.evaluation import evaluate
from budgetgym.agents.greedy import ChannelFit, fit_channel, greedy_allocation, normalised_adstock
from budgetgym.envs import BudgetGymError, ChannelBudgetEnv, load_scenario


def test_registered():
    assert "greedy" in list_agents()


# ------------------------------------------------------------------------------------- the fit
def test_normalised_adstock_by_hand():
    x = np.array([10.0, 0.0, 20.0])
    # (1 - 0.5) * [10, 0 + 0.5 * 10, 20 + 0.5 * 5]
    np.testing.assert_allclose(normalised_adstock(x, 0.5), [5.0, 2.5, 11.25])
    np.testing.assert_allclose(normalised_adstock(x, 0.0), x)
    # a long constant spend converges to the spend itself
    assert normalised_adstock(np.full(200, 7.0), 0.8)[-1] == pytest.approx(7.0)


def test_fit_recovers_a_known_concave_curve():
    rng = np.random.default_rng(0)
    x = 1000.0 * np.exp(rng.normal(0.0, 0.5, 80))
    y = 3.0 * x**0.6 * np.exp(rng.normal(0.0, 0.05, 80))
    fit = fit_channel(x, y, decays=[0.0])
    assert fit.elasticity == pytest.approx(0.6, abs=0.03)
    assert fit.scale * 1000.0**fit.elasticity == pytest.approx(3.0 * 1000.0**0.6, rel=0.03)
    assert fit.decay == 0.0


def test_fit_recovers_carry_over_from_a_grid():
    rng = np.random.default_rng(1)
    x = 500.0 * np.exp(rng.normal(0.0, 0.6, 120))
    x_eff = normalised_adstock(x, 0.6)
    y = 2.0 * x_eff**0.4 * np.exp(rng.normal(0.0, 0.03, 120))
    fit = fit_channel(x, y, decays=[0.0, 0.3, 0.6, 0.8])
    assert fit.decay == 0.6
    assert fit.elasticity == pytest.approx(0.4, abs=0.03)


def test_fit_clips_to_concave_and_prior_shrinks():
    x = np.array([100.0, 200.0, 400.0, 800.0])
    convex = fit_channel(x, 0.01 * x**1.5, decays=[0.0])
    assert convex.elasticity == 1.0  # clipped: the fitted curve stays concave
    flat = fit_channel(x, np.full(4, 5.0), decays=[0.0], min_elasticity=0.05)
    assert flat.elasticity == 0.05
    # a heavy prior keeps the slope at the prior value whatever the data
    strong = fit_channel(x, 3.0 * x**0.9, decays=[0.0], prior_elasticity=0.5, prior_weight=1e6)
    assert strong.elasticity == pytest.approx(0.5, abs=1e-3)


def test_fit_weights_favour_recent_observations():
    x = np.tile([100.0, 1000.0], 20)
    y = np.where(np.arange(40) < 20, 2.0 * x**0.3, 2.0 * x**0.8)  # the curve changed halfway
    recent = fit_channel(x, y, weights=0.5 ** np.arange(39, -1, -1.0), decays=[0.0])
    assert recent.elasticity == pytest.approx(0.8, abs=0.01)
    window = fit_channel(x, y, decays=[0.0], keep=slice(20, None))
    assert window.elasticity == pytest.approx(0.8, abs=1e-9)


def test_fit_of_values_down_to_the_smallest_double_is_finite_and_loses_the_allocation():
    # a channel that returned only 5e-324 (the smallest double) and zeros: the zeros' floor, half of 5e-324,
    # underflowed to 0, log 0 = -inf made its fit NaN, and the NaN gain won every increment of the hill climb
    x = np.array([100.0, 200.0, 400.0])
    nothing = fit_channel(x, np.array([5e-324, 0.0, 0.0]), decays=[0.0, 0.5])
    assert np.isfinite([nothing.scale, nothing.elasticity, nothing.sse]).all()
    useful = fit_channel(x, 2.0 * np.sqrt(x), decays=[0.0, 0.5])
    alloc = greedy_allocation([nothing, useful], 100.0, np.zeros(2), np.ones(2), grid_size=20)
    np.testing.assert_allclose(alloc, [0.0, 100.0])


# ----------------------------------------------------------------------------- the allocation
def test_greedy_allocation_equalises_marginal_returns():
    # y_i = A_i x^0.5: the optimum has x_1 / x_2 = (A_1 / A_2)^(1 / (1 - 0.5)) = 4
    fits = [ChannelFit(2.0, 0.5, 0.0, 0.0), ChannelFit(1.0, 0.5, 0.0, 0.0)]
    x = greedy_allocation(fits, 1000.0, np.zeros(2), np.ones(2), grid_size=200)
    assert x.sum() == pytest.approx(1000.0)
    assert x[0] / 1000.0 == pytest.approx(0.8, abs=0.01)


def test_greedy_allocation_respects_share_bounds():
    fits = [
        ChannelFit(5.0, 0.5, 0.0, 0.0),
        ChannelFit(1.0, 0.5, 0.0, 0.0),
        ChannelFit(1.0, 0.5, 0.0, 0.0),
    ]
    low, high = np.array([0.0, 0.0, 0.3]), np.array([0.5, 1.0, 1.0])
    x = greedy_allocation(fits, 100.0, low, high, grid_size=70)
    assert x.sum() == pytest.approx(100.0)
    assert x[0] <= 50.0 + 1e-9 and x[2] >= 30.0 - 1e-9
    assert x[0] == pytest.approx(50.0)  # the best channel fills up to its cap


# ------------------------------------------------------------------------------------ episodes
def paced_scenario():
    return load_scenario("stationary-3").override(
        {
            "name": "paced-3",
            "horizon": 10,
            "budget.pacing": "agent",
            "seasonality.demand.weekly_amplitude": 0.5,
        }
    )


@pytest.mark.parametrize("scenario", ["stationary-3", "paced"])
def test_full_episodes_feasible_actions(scenario):
    sc = load_scenario("stationary-3") if scenario == "stationary-3" else paced_scenario()
    env = ChannelBudgetEnv(sc)
    rec = Recorder(make_agent("greedy", env))
    results = evaluate(rec, sc, seeds=[0, 1])
    assert len(rec.actions) == 2 * sc.horizon
    assert_feasible(rec.actions, env)
    for r in results:
        assert r.spend <= sc.budget.total * (1 + 1e-9)
        assert 0 < r.pct_of_oracle <= 100.0 + 1e-6


def test_greedy_beats_equal_on_stationary_3():
    sc = load_scenario("stationary-3")
    env = ChannelBudgetEnv(sc)
    seeds = [0, 1, 2, 3]
    greedy = np.mean(
        [r.pct_of_oracle for r in evaluate(make_agent("greedy", env), sc, seeds=seeds)]
    )
    equal = np.mean([r.pct_of_oracle for r in evaluate(make_agent("equal", env), sc, seeds=seeds)])
    assert greedy > equal + 2.0


def test_learns_from_info_and_fits_every_channel():
    sc = load_scenario("stationary-3")
    env = ChannelBudgetEnv(sc)
    agent = make_agent("greedy", env, explore_steps=4)
    agent.reset(0)
    obs, _ = env.reset(seed=0)
    spends = []
    for _ in range(sc.horizon):
        action, _ = agent.predict(obs)
        obs, reward, _, _, info = env.step(action)
        agent.update(None, action, reward, obs, info)
        spends.append(info["spend"])
    np.testing.assert_allclose(agent.spend_history, spends)
    fits = agent.fits()
    assert len(fits) == 3 and all(0.05 <= f.elasticity <= 1.0 for f in fits)
    # search is by far the strongest channel of stationary-3: after exploring, it gets the most
    late = np.array(spends[6:])
    assert np.all(late.argmax(axis=1) == 0)


def test_same_seed_same_actions():
    env = ChannelBudgetEnv("stationary-3")
    agent = make_agent("greedy", env, discount=0.95, window=10)

    def run(seed):
        agent.reset(seed)
        obs, _ = env.reset(seed=seed)
        out = []
        for _ in range(env.horizon):
            action, _ = agent.predict(obs)
            out.append(action)
            obs, reward, _, _, info = env.step(action)
            agent.update(None, action, reward, obs, info)
        return np.array(out)

    np.testing.assert_array_equal(run(3), run(3))
    assert not np.array_equal(run(3), run(4))


def test_save_load_same_actions(tmp_path):
    sc = load_scenario("stationary-3")
    env = ChannelBudgetEnv(sc)
    agent = make_agent("greedy", env)
    agent.reset(5)
    obs, _ = env.reset(seed=5)
    for _ in range(6):
        action, _ = agent.predict(obs)
        obs, reward, _, _, info = env.step(action)
        agent.update(None, action, reward, obs, info)
    agent.save(tmp_path / "greedy.json")
    clone = load_agent(tmp_path / "greedy.json", env)
    assert_same_actions(agent, clone, env, obs, sc.horizon - 6)


@pytest.mark.parametrize(
    "params,field,pattern",
    [
        ({"grid_size": 1}, "grid_size", "greater than or equal"),
        ({"explore_steps": -1}, "explore_steps", "greater than or equal"),
        ({"discount": 0.0}, "discount", "greater than"),
        ({"discount": 1.5}, "discount", "less than or equal"),
        ({"decay_grid": [0.0, 1.2]}, "decay_grid", r"\[0, 1\)"),
        ({"decay_grid": []}, "decay_grid", "at least one"),
        ({"jitter": -0.1}, "jitter", "greater than or equal"),
        ({"window": 1}, "window", "greater than or equal"),
        ({"min_elasticity": 0.8}, "min_elasticity", "must not exceed"),
        ({"grid": 10}, "grid", "extra"),
        ({"prior_weight": float("inf")}, "prior_weight", "finite"),
    ],
)
def test_invalid_parameters(params, field, pattern):
    env = ChannelBudgetEnv("stationary-3")
    with pytest.raises(BudgetGymError) as err:
        make_agent("greedy", env, **params)
    msg = str(err.value)
    assert "\n" not in msg and "agent 'greedy'" in msg and field in msg, msg
    assert re.search(pattern, msg, re.IGNORECASE), msg


@pytest.mark.parametrize("key", ["spend", "conversions"])
def test_a_non_finite_observation_in_info_is_refused(key):
    """A nan spend or value in ``info`` made every later fit nan: the agent silently fell back to
    the equal split for the rest of the campaign. It is refused, as model_thompson refuses it."""
    sc = load_scenario("stationary-3")
    env = ChannelBudgetEnv(sc)
    agent = make_agent("greedy", env)
    agent.reset(seed=0)
    obs, _ = env.reset(seed=0)
    action, _ = agent.predict(obs)
    next_obs, reward, _, _, info = env.step(action)
    with pytest.raises(BudgetGymError, match="finite"):
        agent.update(obs, action, float(reward), next_obs, {**info, key: np.full(3, np.nan)})
    assert agent.spend_history == []  # nothing was kept


def test_a_new_episode_restarts_the_adstock():
    """Learning over two episodes without ``reset`` (``episode_start`` keeps what was learned): the
    environment's carry-over starts empty in episode 2, so the fitted adstock must too. With a
    window holding only episode 2's steps, the fits equal those of an agent that saw episode 2
    alone (the adstock used to run on from episode 1's spend)."""
    sc = load_scenario("stationary-3")
    params = {"window": 5, "decay_grid": [0.6], "min_observations": 2}
    carried, fresh = make_agent("greedy", sc, **params), make_agent("greedy", sc, **params)
    rng = np.random.default_rng(0)

    def info(t):
        x = rng.uniform(100.0, 2000.0, 3)
        return {"step": t, "spend": x, "conversions": 0.1 * x**0.6, "remaining_budget": 1.0}

    for t in range(sc.horizon):
        carried.update(None, None, 0.0, None, info(t))
    carried.start_episode()
    for t in range(5):
        step = info(t)
        carried.update(None, None, 0.0, None, step)
        fresh.update(None, None, 0.0, None, step)
    for a, b in zip(carried.fits(), fresh.fits(), strict=True):
        assert a.elasticity == pytest.approx(b.elasticity, rel=1e-9)
        assert a.scale == pytest.approx(b.scale, rel=1e-9)


def test_a_paced_step_splits_the_spend_it_plays_not_the_step_budget(monkeypatch):
    """Under agent pacing with calendar pacing, a busy step spends more than ``B/T``; the split must be
    the best one for the agent's fitted curves at the total actually played (it used to be the best at
    ``B/T``, while the pacer's total was played).

    Two fits: channel 0 ``30 x^0.3`` (saturates early), channel 1 ``x^0.9`` (nearly linear). A calendar
    fit with step 0 twice as busy as the rest makes the pacer ask for more than the step cap 2 B/T, so
    the step plays 2 B/T = 200. By brute force over a fine grid, the best share of channel 0 is about
    27% at 200 and about 47% at B/T = 100."""
    from conftest import build_scenario

    from budgetgym.agents.calendar_pacing import CalendarFit
    from budgetgym.envs.allocation import action_to_split, pacing_spend

    sc = build_scenario(n_channels=2, horizon=10, budget__pacing="agent")  # B/T = 100, step cap 200
    agent = make_agent("greedy", sc, explore_steps=0, jitter=0.0, grid_size=400)
    agent.reset(seed=0)
    fits = [ChannelFit(30.0, 0.3, 0.0, 0.0), ChannelFit(1.0, 0.9, 0.0, 0.0)]
    monkeypatch.setattr(agent, "fits", lambda: fits)
    busy = np.ones(sc.horizon)
    busy[0] = 2.0
    monkeypatch.setattr(agent.pacer, "fit", lambda: CalendarFit(0.5, 0.0, busy))
    obs, _ = ChannelBudgetEnv(sc).reset(seed=0)
    action, _ = agent.predict(obs)
    played = pacing_spend(float(action[-1]), sc.budget.total, sc.step_cap)
    assert played == pytest.approx(2.0 * sc.step_budget)  # the pacer's 4/13 of the budget, capped at 2 B/T
    share = action_to_split(action[:2], sc.action.logit_scale, np.zeros(2), np.ones(2))[0]
    q = np.linspace(0.0, 1.0, 100_001)

    def best_share(total):
        return q[np.argmax(fits[0].response(q * total) + fits[1].response((1 - q) * total))]

    assert best_share(played) == pytest.approx(0.273, abs=0.005)
    assert best_share(sc.step_budget) == pytest.approx(0.473, abs=0.005)
    assert share == pytest.approx(best_share(played), abs=0.005)  # one increment (0.25%) plus the logits' rounding
