"""Carry-in from a spend history: a hand calculation, and the environment, ``evaluate_plan``, the
matrix model and the oracle agreeing step by step (one definition, :mod:`budgetgym.envs.history`)."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import build_scenario, channel, scenarios
from hypothesis import given, settings
from hypothesis import strategies as st

from budgetgym.envs import BudgetGymError, ChannelBudgetEnv, evaluate_plan, history, load_scenario, solve_oracle
from budgetgym.envs.allocation import split_to_action
from budgetgym.envs.dynamics import ChannelModel
from budgetgym.envs.expected import ExpectedModel
from budgetgym.envs.history import carry_in, check_history
from budgetgym.envs.plan_value import scenario_path
from budgetgym.envs.vector_env import ChannelBudgetVectorEnv


def _one_channel(decay: float, delay: dict | None = None) -> object:
    ch = channel(
        "tv",
        cost={"unit": "impression", "price": 10.0, "ref_spend": 100.0, "elasticity": 0.0},
        adstock={"type": "geometric", "decay": decay},
        saturation={"type": "hill", "max_response": 50.0, "half_saturation": 10_000.0, "slope": 1.0},
        delay=delay or {"type": "none"},
    )
    return build_scenario(channels=[ch], horizon=4, budget={"total": 400.0, "pacing": "even"})


def test_carried_adstock_and_value_by_hand() -> None:
    """History [200, 100] on a CPM-10 channel (100 impressions per unit, no pressure), decay 0.5:
    e_-2 = 20,000, e_-1 = 10,000; carried adstock A_t = 0.5^(t+1) 10,000 + 0.5^(t+2) 20,000
    = 10,000 * 0.5^t. The window plays 100 a step (e = 10,000): a_t = sum_l 0.5^l 10,000 + A_t."""
    sc = _one_channel(0.5)
    carry = carry_in(sc, [[200.0], [100.0]])
    assert carry is not None
    np.testing.assert_allclose(carry.adstock[:, 0], [10_000.0, 5_000.0, 2_500.0, 1_250.0], rtol=1e-12)
    np.testing.assert_allclose(carry.arrivals, 0.0)
    plan = np.full((4, 1), 100.0)
    a = np.array([10_000.0 * sum(0.5**lag for lag in range(t + 1)) + 10_000.0 * 0.5**t for t in range(4)])
    expected = (50.0 * a / (10_000.0 + a)).sum()
    assert float(evaluate_plan(sc, plan, history=[[200.0], [100.0]])) == pytest.approx(expected, rel=1e-12)
    # without history the window starts from rest
    a0 = np.array([10_000.0 * sum(0.5**lag for lag in range(t + 1)) for t in range(4)])
    assert float(evaluate_plan(sc, plan)) == pytest.approx((50.0 * a0 / (10_000.0 + a0)).sum(), rel=1e-12)


def test_carried_arrivals_by_hand() -> None:
    """No carry-over, geometric delay with mean lag 1 (q_d = 0.5^(d+1), 14 lags renormalised): a
    history step's response r_-1 = 50 * 10,000 / 20,000 = 25 keeps arriving at q_{t+1} r_-1."""
    sc = _one_channel(0.0, {"type": "geometric", "mean_lag": 1.0})
    m = ChannelModel.from_scenario(sc)
    carry = carry_in(sc, [[100.0]], m)
    assert carry is not None
    q = m.delay[0]
    np.testing.assert_allclose(q, 0.5 ** np.arange(1, 15) / (0.5 ** np.arange(1, 15)).sum(), rtol=1e-12)
    np.testing.assert_allclose(carry.arrivals[:, 0], 25.0 * q[1:5], rtol=1e-12)
    np.testing.assert_allclose(carry.adstock, 0.0)
    zero = np.zeros((4, 1))
    assert float(evaluate_plan(sc, zero, history=[[100.0]])) == pytest.approx(25.0 * q[1:5].sum(), rel=1e-12)


@pytest.mark.parametrize("name", ["delayed-5", "seasonal-5", "holiday-5"])
def test_env_evaluate_plan_matrix_model_and_oracle_agree(name: str) -> None:
    """One history, four consumers: the env's expected reward step by step, evaluate_plan per step,
    the matrix model's total and the oracle's reported value of its own plan."""
    sc = load_scenario(name)
    rng = np.random.default_rng(3)
    hist = rng.uniform(0.0, 2.0 * sc.step_budget / sc.n_channels, (25, sc.n_channels))
    res = solve_oracle(sc, seed=4, history=hist)
    steps = np.asarray(evaluate_plan(sc, res.plan, seed=4, per_step=True, history=hist))
    np.testing.assert_allclose(steps, res.step_rewards, rtol=1e-12)
    em = ExpectedModel(ChannelModel.from_scenario(sc), scenario_path(sc, 4), carry_in(sc, hist))
    assert float(em.value(res.plan)) == pytest.approx(res.expected_reward, rel=1e-9)

    env = ChannelBudgetEnv(sc)
    env.reset(seed=4, options={"history": {n: hist[:, i] for i, n in enumerate(sc.channel_names)}})
    env_steps, spent = [], []
    for t in range(sc.horizon):
        total = res.plan[t].sum()
        action = split_to_action(res.plan[t] / total, sc.action.logit_scale)
        if env.agent_pacing:
            from budgetgym.envs.allocation import spend_to_pacing_action

            action = np.append(action, spend_to_pacing_action(total, env.budget - env.cumulative_spend, env.step_cap))
        _, _, _, _, info = env.step(action.astype(np.float32))
        env_steps.append(info["expected_reward"])
        spent.append(info["spend"])
    replay = np.asarray(evaluate_plan(sc, np.array(spent), seed=4, per_step=True, history=hist))
    np.testing.assert_allclose(env_steps, replay, rtol=1e-9)
    # and the env played (to its action precision) the oracle's plan
    np.testing.assert_allclose(sum(env_steps), res.expected_reward, rtol=1e-5)


@pytest.mark.parametrize("name", ["delayed-5", "seasonal-5", "overlap-5"])
def test_only_the_steps_that_reach_the_window_are_played(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """A history longer than its reach (L + D - 1 steps: Weibull and geometric carry-over, delays,
    seasonal costs, audience segments) carries into the window what playing every step carries,
    however much the older steps spent; a step within the reach does change it."""
    sc = load_scenario(name)
    m = ChannelModel.from_scenario(sc)
    H = 300
    hist = np.random.default_rng(3).uniform(0, 3, (H, sc.n_channels)) * sc.step_budget
    hist[:30] *= 100.0  # the oldest steps: a hundred times the step budget
    reaches: list[int] = []
    reach_steps = history._reach_steps

    def recorded(long: np.ndarray, delay: np.ndarray) -> int:
        reaches.append(reach_steps(long, delay))
        return reaches[-1]

    monkeypatch.setattr(history, "_reach_steps", recorded)
    trimmed = carry_in(sc, hist, m)
    monkeypatch.setattr(history, "_reach_steps", lambda long, delay: 10**9)  # play every step
    every = carry_in(sc, hist, m)
    assert trimmed is not None and every is not None and reaches[0] < H - 30
    np.testing.assert_array_equal(trimmed.spend, hist)
    assert every.adstock.max() > 0
    for got, ref in ((trimmed.adstock, every.adstock), (trimmed.arrivals, every.arrivals)):
        np.testing.assert_allclose(got, ref, rtol=1e-12, atol=1e-12 * every.adstock.max())
    recent = hist.copy()
    recent[-2] *= 3.0
    changed = carry_in(sc, recent, m)
    assert changed is not None and not np.allclose(changed.adstock, every.adstock, rtol=1e-6)


def test_history_changes_the_plan_and_credits_past_spend() -> None:
    """Heavy past spend on the slow channel (video, decay 0.6) saturates it: the oracle buys less
    of it in the first days, and the window's value rises by the carried conversions."""
    sc = load_scenario("stationary-3")
    hist = np.zeros((10, 3))
    hist[:, 2] = 3 * sc.step_budget
    base, carried = solve_oracle(sc), solve_oracle(sc, history=hist)
    assert carried.plan[:3, 2].sum() < base.plan[:3, 2].sum() - 1.0
    assert carried.expected_reward > base.expected_reward


def test_empty_history_is_no_history() -> None:
    sc = load_scenario("stationary-3")
    plan = solve_oracle(sc).plan
    assert evaluate_plan(sc, plan, history=np.zeros((0, 3))) == evaluate_plan(sc, plan)


@pytest.mark.parametrize(
    ("history", "message"),
    [
        ([[1.0, 2.0]], "expected shape (steps, 3)"),
        ([[1.0, -2.0, 0.0]], "non-negative"),
        ([[1.0, np.nan, 0.0]], "finite"),
        ({"search": [1.0], "social": [1.0]}, "missing video"),
        ({"search": [1.0], "social": [1.0], "video": [1.0], "tv": [1.0]}, "unknown tv"),
        ({"search": [1.0], "social": [1.0, 2.0], "video": [1.0]}, "same number of steps"),
        ([["a", "b", "c"]], "expected numbers"),
    ],
)
def test_bad_history_one_line(history: object, message: str) -> None:
    sc = load_scenario("stationary-3")
    with pytest.raises(BudgetGymError, match=message.replace("(", r"\(").replace(")", r"\)")) as err:
        check_history(sc, history)
    assert "\n" not in str(err.value)
    with pytest.raises(BudgetGymError):
        ChannelBudgetEnv(sc).reset(seed=0, options={"history": history})


@pytest.mark.parametrize("make", ["single", "vector"])
@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"histroy": [[1.0, 2.0, 3.0]]}, "reset options: unknown key 'histroy' (did you mean 'history'?)"),
        ({"history": [[1.0, 2.0, 3.0]], "seed": 3}, "reset options: unknown key 'seed': expected one of history"),
        (["history"], "reset options: expected a mapping such as {'history': spend}, got list"),
    ],
)
def test_reset_options_other_than_history_are_refused(make: str, options: object, message: str) -> None:
    # a misspelt option played the episode from rest, silently, as if no history had been given
    env = ChannelBudgetEnv("stationary-3") if make == "single" else ChannelBudgetVectorEnv("stationary-3", 2)
    with pytest.raises(BudgetGymError) as err:
        env.reset(seed=0, options=options)  # type: ignore[arg-type]
    assert message in str(err.value) and "\n" not in str(err.value)
    env.reset(seed=0, options={"history": [[1.0, 2.0, 3.0]]})  # still accepted
    env.reset(seed=0, options={})


@settings(max_examples=30, deadline=None)
@given(sc=scenarios(max_channels=4, max_horizon=10), data=st.data(), seed=st.integers(0, 2**16))
def test_any_history_keeps_the_env_finite_and_agreeing_with_evaluate_plan(sc, data, seed) -> None:  # type: ignore[no-untyped-def]
    """For any valid scenario and history (empty to long, tiny to 1000x the step budget), the
    env's observations and rewards stay finite, spend stays within the budget, and its expected
    rewards equal evaluate_plan of the spend it made, after the same history."""
    K = sc.n_channels
    H = data.draw(st.integers(0, 12))
    scale = data.draw(st.sampled_from([1e-6, 1.0, 1e3])) * sc.step_budget
    hist = np.random.default_rng(seed).uniform(0, 1, (H, K)) * scale
    env = ChannelBudgetEnv(sc)
    obs, _ = env.reset(seed=seed, options={"history": hist})
    assert np.all(np.isfinite(obs))
    rng = np.random.default_rng(seed + 1)
    expected, spent = [], []
    for _ in range(sc.horizon):
        obs, reward, _, _, info = env.step(rng.uniform(-1, 1, env.action_space.shape).astype(np.float32))
        assert np.all(np.isfinite(obs)) and np.isfinite(reward) and np.isfinite(info["expected_reward"])
        expected.append(info["expected_reward"])
        spent.append(info["spend"])
    assert np.sum(spent) <= sc.budget.total * (1 + 1e-12)
    replay = np.asarray(evaluate_plan(sc, np.array(spent), seed=seed, per_step=True, history=hist))
    np.testing.assert_allclose(expected, replay, rtol=1e-9, atol=1e-12)
