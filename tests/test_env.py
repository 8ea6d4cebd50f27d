"""Behaviour of ChannelBudgetEnv: API conformance, seeding, episode end, the expected-reward
contract with the oracle, the action mapping, observations/infos, rendering, hand-checked dynamics.
"""

from __future__ import annotations

import math
import re
import warnings

import gymnasium as gym
import numpy as np
import pytest
from conftest import base_scenario_dict, build_scenario, channel, random_actions, rollout
from gymnasium.utils.env_checker import check_env as gym_check_env
from stable_baselines3.common.env_checker import check_env as sb3_check_env

import budgetgym  # noqa: F401  (registers the ids)
from budgetgym.envs import (
    ChannelBudgetEnv,
    ScenarioError,
    evaluate_plan,
    list_scenarios,
    load_scenario,
    scenario_from_dict,
    scenario_path,
    split_to_action,
)

BUILTINS = list_scenarios()
STEP_INFO_PER_CHANNEL = (
    "spend",
    "impressions",
    "price",
    "conversions",
    "expected_conversions",
    "revenue",
)
STEP_INFO_SCALARS = ("reward", "expected_reward", "cumulative_spend", "remaining_budget")

# Warnings the checkers may raise that we accept, as (category, message substring) pairs.
# Empty: neither checker warned on any built-in scenario when this was written. Add an entry
# only with a justification next to it.
ALLOWED_CHECKER_WARNINGS: tuple[tuple[type[Warning], str], ...] = ()


def _unexpected(records: list[warnings.WarningMessage]) -> list[str]:
    out = []
    for w in records:
        if any(
            issubclass(w.category, cat) and text in str(w.message)
            for cat, text in ALLOWED_CHECKER_WARNINGS
        ):
            continue
        out.append(f"{w.category.__name__}: {w.message} ({w.filename}:{w.lineno})")
    return out


def _rich_scenario(**overrides):
    """Two-to-three channel scenario exercising most of the dynamics (used by several tests)."""
    data = {
        "name": "rich",
        "horizon": 12,
        "step_days": 1.0,
        "start_day": 30.0,
        "budget": {"total": 12_000.0, "pacing": "even", "max_step_multiple": 2.5},
        "reward": "profit",
        "noise": {"conversions": "negative_binomial", "dispersion": 5.0},
        "channels": [
            channel(
                "search",
                cost={
                    "unit": "click",
                    "price": 1.5,
                    "ref_spend": 400.0,
                    "elasticity": 0.4,
                    "noise_sd": 0.1,
                },
                adstock={"type": "geometric", "decay": 0.4},
                saturation={
                    "type": "hill",
                    "max_response": 40.0,
                    "half_saturation": 300.0,
                    "slope": 0.9,
                },
                delay={"type": "geometric", "mean_lag": 1.5, "window": 6},
                value={"mean": 30.0, "noise_sd": 0.2},
                min_share=0.1,
            ),
            channel(
                "social",
                cost={"unit": "impression", "price": 8.0, "ref_spend": 500.0, "elasticity": 0.3},
                adstock={"type": "weibull_pdf", "shape": 2.0, "scale": 2.0, "window": 5},
                saturation={"type": "logistic", "max_response": 30.0, "rate": 1e-5},
                delay={"type": "gamma", "mean_lag": 2.0, "shape": 2.0, "window": 8},
                value={"mean": 25.0},
                max_share=0.7,
            ),
            channel(
                "video",
                cost={
                    "unit": "impression",
                    "price": 20.0,
                    "ref_spend": 300.0,
                    "elasticity": 0.2,
                    "noise_sd": 0.05,
                },
                adstock={"type": "weibull_cdf", "shape": 1.5, "scale": 3.0, "window": 6},
                saturation={
                    "type": "hill",
                    "max_response": 25.0,
                    "half_saturation": 40_000.0,
                    "slope": 2.0,
                },
                value={"mean": 50.0},
            ),
        ],
        "seasonality": {
            "demand": {"weekly_amplitude": 0.3, "weekly_peak": 2.0, "yearly_amplitude": 0.2}
        },
        "drift": {"sd": 0.15, "mean_reversion": 0.1},
        "shocks": [
            {"kind": "price", "channels": ["social"], "start": 3, "duration": 2, "multiplier": 1.8},
            {"kind": "demand", "start": 6, "duration": 3, "multiplier": 1.5},
            {"kind": "outage", "channels": ["video"], "start": 9, "duration": 1},
        ],
    }
    return build_scenario(data, **overrides)


# ============================================================ API conformance (checkers)


@pytest.mark.parametrize("name", BUILTINS)
def test_gymnasium_and_sb3_checkers_pass_without_warnings(name: str):
    with warnings.catch_warnings(record=True) as records:
        warnings.simplefilter("always")
        env = gym.make("budgetgym/ChannelBudget-v0", scenario=name)
        gym_check_env(env.unwrapped)  # also re-makes the env from its spec for render_mode="ansi"
        env.close()
        env = gym.make(f"budgetgym/{name}-v0")
        sb3_check_env(env, warn=True)
        env.close()
    assert _unexpected(records) == []


@pytest.mark.parametrize(
    "overrides",
    [
        {"budget__pacing": "agent", "budget__max_step_multiple": 3.0},
        {"noise__conversions": "none", "n_channels": 1},
        {"reward": "profit", "noise__conversions": "negative_binomial"},
    ],
    ids=["agent-pacing", "deterministic-1ch", "profit-negbin"],
)
def test_checkers_pass_on_hand_written_variants(overrides):
    sc = (
        _rich_scenario(**overrides)
        if "n_channels" not in overrides
        else build_scenario(**overrides)
    )
    with warnings.catch_warnings(record=True) as records:
        warnings.simplefilter("always")
        env = gym.make("budgetgym/ChannelBudget-v0", scenario=sc)
        gym_check_env(env.unwrapped)
        sb3_check_env(env, warn=True)
        env.close()
    assert _unexpected(records) == []


# ===================================================================== seeding


def _assert_traces_equal(a, b):
    assert len(a.obs) == len(b.obs)
    for x, y in zip(a.obs, b.obs, strict=True):
        np.testing.assert_array_equal(x, y)
    assert a.rewards == b.rewards
    assert a.truncated == b.truncated and a.terminated == b.terminated
    for ia, ib in zip(a.infos, b.infos, strict=True):
        assert ia.keys() == ib.keys()
        for key in ia:
            np.testing.assert_array_equal(ia[key], ib[key], err_msg=key)


@pytest.mark.parametrize("scenario", ["stationary-3", "rich"])
def test_same_seed_same_episode(scenario):
    sc = _rich_scenario() if scenario == "rich" else load_scenario(scenario)
    env_a, env_b = ChannelBudgetEnv(sc), ChannelBudgetEnv(sc)
    actions = random_actions(env_a, sc.horizon, seed=11)
    a = rollout(env_a, actions, seed=1234)
    b = rollout(env_b, actions, seed=1234)
    _assert_traces_equal(a, b)
    # and the same env reset with the same seed again
    _assert_traces_equal(a, rollout(env_a, actions, seed=1234))


@pytest.mark.parametrize("scenario", ["stationary-3", "rich"])
def test_different_seeds_differ_on_a_noisy_scenario(scenario):
    sc = _rich_scenario() if scenario == "rich" else load_scenario(scenario)
    env = ChannelBudgetEnv(sc)
    actions = random_actions(env, sc.horizon, seed=11)
    a = rollout(env, actions, seed=1)
    b = rollout(env, actions, seed=2)
    assert a.rewards != b.rewards
    # the realised rewards are noisy draws, not the expected reward
    assert any(r != info["expected_reward"] for r, info in zip(a.rewards, a.infos, strict=True))


def test_reset_without_seed_continues_the_rng_stream():
    sc = _rich_scenario()  # drift, price, conversion and value noise all use the stream
    actions = random_actions(ChannelBudgetEnv(sc), sc.horizon, seed=5)
    runs = []
    for _ in range(2):
        env = ChannelBudgetEnv(sc)
        first = rollout(env, actions, seed=99)
        second = rollout(env, actions, seed=None)
        third = rollout(env, actions, seed=None)
        runs.append((first, second, third))
    # reproducible: the unseeded resets continue the seeded stream identically
    for x, y in zip(runs[0], runs[1], strict=True):
        _assert_traces_equal(x, y)
    first, second, third = runs[0]
    # ...but they are not re-seeded: each episode is a fresh draw (path and noise)
    assert second.rewards != first.rewards
    assert third.rewards != second.rewards
    env = ChannelBudgetEnv(sc)
    env.reset(seed=99)
    path_first = env.path
    env.reset()
    assert not np.array_equal(env.path.response, path_first.response)


def test_reset_seed_reproduces_the_oracle_scenario_path():
    sc = _rich_scenario()
    env = ChannelBudgetEnv(sc)
    env.reset(seed=2024)
    expected = scenario_path(sc, 2024)
    np.testing.assert_array_equal(env.path.cost, expected.cost)
    np.testing.assert_array_equal(env.path.response, expected.response)
    # drift makes this path different from the nominal one
    assert not np.array_equal(env.path.response, scenario_path(sc, None).response)


# ================================================================ episode end


@pytest.mark.parametrize("horizon", [1, 2, 14])
def test_truncated_exactly_at_horizon_never_terminated(horizon):
    sc = build_scenario(horizon=horizon, n_channels=3)
    env = ChannelBudgetEnv(sc)
    tr = rollout(env, random_actions(env, horizon, seed=0), seed=0)
    assert tr.truncated == [False] * (horizon - 1) + [True]
    assert tr.terminated == [False] * horizon
    assert all(type(x) is bool for x in tr.truncated + tr.terminated)
    assert [info["step"] for info in tr.infos] == list(range(horizon))
    with pytest.raises(RuntimeError, match="after the episode ended"):
        env.step(np.zeros(3, dtype=np.float32))
    # a reset starts a new episode
    env.reset(seed=1)
    _, _, _, truncated, info = env.step(np.zeros(3, dtype=np.float32))
    assert info["step"] == 0 and truncated == (horizon == 1)


def test_stepping_after_the_end_raises_through_gym_make():
    env = gym.make("budgetgym/stationary-3-v0")
    env.reset(seed=0)
    zero = np.zeros(3, dtype=np.float32)
    for _ in range(14):
        _, _, terminated, truncated, _ = env.step(zero)
        assert terminated is False
    assert truncated is True
    with pytest.raises(RuntimeError):
        env.step(zero)
    env.close()


# ================================================ expected reward == evaluate_plan


def _evaluate_plan_cases():
    agent = base_scenario_dict(n_channels=3)
    agent.update(
        name="agent-delays",
        horizon=10,
        budget={"total": 5000.0, "pacing": "agent", "max_step_multiple": 2.0},
        reward="revenue",
        noise={"conversions": "poisson"},
    )
    agent["channels"][0].update(
        delay={"type": "gamma", "mean_lag": 3.0, "shape": 2.0, "window": 9},
        adstock={"type": "geometric", "decay": 0.7},
    )
    agent["channels"][1].update(
        delay={"type": "geometric", "mean_lag": 2.0, "window": 5}, locked_share=0.25
    )
    agent["channels"][2].update(
        cost={
            "unit": "click",
            "price": 0.5,
            "ref_spend": 200.0,
            "elasticity": 0.6,
            "noise_sd": 0.3,
        },
        saturation={"type": "logistic", "max_response": 60.0, "rate": 0.002},
    )
    return {
        "stationary-3": lambda: load_scenario("stationary-3"),  # price noise, Poisson
        "rich-drift-shocks-profit": _rich_scenario,
        "agent-pacing-delays-price-noise": lambda: build_scenario(agent),
        "rich-agent-pacing": lambda: _rich_scenario(budget__pacing="agent"),
    }


@pytest.mark.parametrize("case", list(_evaluate_plan_cases()))
@pytest.mark.parametrize("seed", [0, 7])
def test_episode_expected_reward_equals_evaluate_plan(case, seed):
    sc = _evaluate_plan_cases()[case]()
    env = ChannelBudgetEnv(sc)
    tr = rollout(env, random_actions(env, sc.horizon, seed=seed + 100), seed=seed)
    total = math.fsum(info["expected_reward"] for info in tr.infos)
    plan = tr.spend
    assert plan.shape == (sc.horizon, sc.n_channels)
    assert evaluate_plan(sc, plan, path=env.unwrapped.path) == pytest.approx(total, rel=1e-9)
    # the seed reproduces the same path for the oracle
    assert evaluate_plan(sc, plan, seed=seed) == pytest.approx(total, rel=1e-9)
    if sc.drift.sd > 0:
        # the path matters: the nominal (drift-free) path gives another value
        assert evaluate_plan(sc, plan) != pytest.approx(total, rel=1e-6)


@pytest.mark.parametrize("reward", ["conversions", "revenue", "profit"])
def test_without_noise_realised_reward_equals_expected(reward):
    # every dynamic except randomness: carry-over, delay, seasonality, shocks, drift (path only)
    sc = _rich_scenario(
        reward=reward,
        noise__conversions="none",
        channels__0__cost__noise_sd=0.0,
        channels__0__value__noise_sd=0.0,
        channels__2__cost__noise_sd=0.0,
    )
    env = ChannelBudgetEnv(sc)
    tr = rollout(env, random_actions(env, sc.horizon, seed=3), seed=3)
    values = np.array([c.value.mean for c in sc.channels])
    for r, info in zip(tr.rewards, tr.infos, strict=True):
        assert r == pytest.approx(info["expected_reward"], rel=1e-12, abs=1e-12)
        assert r == pytest.approx(info["reward"], rel=0, abs=0)
        np.testing.assert_allclose(info["conversions"], info["expected_conversions"], rtol=1e-15)
        np.testing.assert_allclose(info["revenue"], info["conversions"] * values, rtol=1e-15)
    assert sum(tr.rewards) > 0 or reward == "profit"


# ============================================================== action mapping


def test_zero_action_gives_equal_split_and_budget_over_horizon():
    env = ChannelBudgetEnv("stationary-3")
    tr = rollout(env, [np.zeros(3, dtype=np.float32)] * 14, seed=0)
    # 84,000 over 14 steps = 6,000 per step = 2,000 per channel
    np.testing.assert_allclose(tr.spend, np.full((14, 3), 2000.0), rtol=1e-12)


@pytest.mark.parametrize(
    "bounds, expected_share",
    [
        # bounds that contain the equal split leave it alone
        ([{"min_share": 0.2, "max_share": 0.5}] * 3, [1 / 3, 1 / 3, 1 / 3]),
        # a locked channel: the projection q_i = clip(1/3 - nu, lo_i, hi_i) sums to one at nu = 1/12
        ([{"locked_share": 0.5}, {}, {}], [0.5, 0.25, 0.25]),
        # a floor above 1/3: the other two share the rest equally (nu = 2/15)
        ([{"min_share": 0.6}, {}, {}], [0.6, 0.2, 0.2]),
        # a cap below 1/3 on two channels: the third takes the rest
        ([{"max_share": 0.1}, {"max_share": 0.1}, {}], [0.1, 0.1, 0.8]),
    ],
    ids=["bounds-allow-equal", "locked", "floor", "caps"],
)
def test_zero_action_split_under_share_bounds(bounds, expected_share):
    data = base_scenario_dict(n_channels=3)
    for ch, extra in zip(data["channels"], bounds, strict=True):
        ch.update(extra)
    sc = build_scenario(data)
    env = ChannelBudgetEnv(sc)
    env.reset(seed=0)
    _, _, _, _, info = env.step(np.zeros(3))
    step_budget = 1000.0 / 5
    np.testing.assert_allclose(info["spend"], np.array(expected_share) * step_budget, rtol=1e-12)


def test_even_pacing_spends_budget_over_horizon_whatever_the_action():
    sc = build_scenario(n_channels=4, horizon=6, budget__total=900.0)
    env = ChannelBudgetEnv(sc)
    actions = [
        np.array([1.0, -1.0, 0.5, 0.0]),
        np.array([np.nan, np.inf, -np.inf, 1e30]),
        np.array([-1e9, -1e9, -1e9, -1e9]),
        np.array([0.0, 0.0, 0.0, 0.0]),
        np.array([1.0, 1.0, 1.0, 1.0]),
        np.array([-5.0, 3.0, 0.2, -0.2]),
    ]
    tr = rollout(env, actions, seed=0)
    np.testing.assert_allclose(tr.spend.sum(axis=1), np.full(6, 150.0), rtol=1e-12)
    assert tr.infos[-1]["cumulative_spend"] <= 900.0
    assert tr.infos[-1]["cumulative_spend"] == pytest.approx(900.0, rel=1e-12)


@pytest.mark.parametrize(
    "pacing_entries, expected_step_spend",
    [
        # B = 1000, T = 4, max_step_multiple 2: cap = 500 per step; spend = (u+1)/2 * min(remaining, cap)
        ([0.0, 0.6, 1.0, -1.0], [250.0, 400.0, 350.0, 0.0]),
        ([1.0, 1.0, 1.0, 1.0], [500.0, 500.0, 0.0, 0.0]),
        ([-1.0, -1.0, 0.5, 1.0], [0.0, 0.0, 375.0, 500.0]),
        # NaN -> 0, +inf -> 1, -inf -> -1, out of range clipped
        ([np.nan, np.inf, -np.inf, 7.0], [250.0, 500.0, 0.0, 250.0]),
    ],
)
def test_agent_pacing_spends_fraction_of_min_remaining_cap(pacing_entries, expected_step_spend):
    sc = build_scenario(
        n_channels=2,
        horizon=4,
        budget={"total": 1000.0, "pacing": "agent", "max_step_multiple": 2.0},
    )
    env = ChannelBudgetEnv(sc)
    assert env.action_space.shape == (3,)
    actions = [np.array([0.3, -0.2, u]) for u in pacing_entries]
    tr = rollout(env, actions, seed=0)
    np.testing.assert_allclose(tr.spend.sum(axis=1), expected_step_spend, rtol=1e-12, atol=1e-9)
    remaining = 1000.0 - np.cumsum(expected_step_spend)
    np.testing.assert_allclose(
        [i["remaining_budget"] for i in tr.infos], remaining, rtol=1e-12, atol=1e-9
    )


@pytest.mark.parametrize(
    "scenario, target",
    [
        ("stationary-3", [0.5, 0.3, 0.2]),
        ("stationary-3", [0.05, 0.9, 0.05]),
        ("stationary-5", [0.4, 0.25, 0.15, 0.1, 0.1]),
        ("bounded", [0.3, 0.45, 0.25]),
    ],
)
def test_split_to_action_reproduces_the_split_in_spend(scenario, target):
    if scenario == "bounded":
        data = base_scenario_dict(n_channels=3)
        data["channels"][0]["min_share"] = 0.2
        data["channels"][1]["max_share"] = 0.6
        data["action"] = {"logit_scale": 3.0}
        sc = build_scenario(data)
    else:
        sc = load_scenario(scenario)
    target = np.array(target)
    action = split_to_action(target, sc.action.logit_scale)
    assert action.shape == (sc.n_channels,) and np.all(np.abs(action) <= 1.0)
    env = ChannelBudgetEnv(sc)
    env.reset(seed=0)
    _, _, _, _, info = env.step(action)
    np.testing.assert_allclose(info["spend"], target * sc.step_budget, rtol=1e-9)
    # a float32 action (what a policy emits) is reproduced up to float32 rounding of the logits
    env.reset(seed=0)
    _, _, _, _, info = env.step(action.astype(np.float32))
    np.testing.assert_allclose(info["spend"], target * sc.step_budget, rtol=1e-5)


def test_split_to_action_with_agent_pacing_entry():
    sc = build_scenario(
        n_channels=3,
        horizon=4,
        budget={"total": 800.0, "pacing": "agent", "max_step_multiple": 2.0},
    )
    target = np.array([0.6, 0.3, 0.1])
    action = np.append(
        split_to_action(target, sc.action.logit_scale), 0.0
    )  # u = 0: half of cap 400
    env = ChannelBudgetEnv(sc)
    env.reset(seed=0)
    _, _, _, _, info = env.step(action)
    np.testing.assert_allclose(info["spend"], target * 200.0, rtol=1e-9)


# ============================================================ observations / infos


@pytest.mark.parametrize("name", BUILTINS)
def test_observations_and_infos_over_an_episode(name):
    env = ChannelBudgetEnv(name)
    K, T = env.n_channels, env.horizon
    space = env.observation_space
    assert space.shape == (4 * K + 7,) and space.dtype == np.float32
    tr = rollout(env, random_actions(env, T, seed=4), seed=4)
    assert set(tr.reset_info) >= {"cumulative_spend", "remaining_budget", "step"}
    assert tr.reset_info["remaining_budget"] == env.budget
    for obs in tr.obs:
        assert obs.dtype == np.float32 and obs.shape == space.shape
        assert np.all(np.isfinite(obs))
        assert space.contains(obs)
    for t, info in enumerate(tr.infos):
        for key in STEP_INFO_PER_CHANNEL:
            assert np.shape(info[key]) == (K,), key
            assert np.all(np.isfinite(info[key])), key
        for key in STEP_INFO_SCALARS:
            assert np.ndim(info[key]) == 0 and math.isfinite(info[key]), key
        assert info["step"] == t
        assert info["reward"] == tr.rewards[t]
        assert isinstance(tr.rewards[t], float)
        assert info["remaining_budget"] == pytest.approx(
            env.budget - info["cumulative_spend"], abs=1e-9 * env.budget
        )
        assert (
            np.all(info["spend"] >= 0)
            and np.all(info["impressions"] >= 0)
            and np.all(info["price"] > 0)
        )
    # observation semantics that do not depend on the dynamics: budget and time fractions
    remaining_frac = 4 * K
    for t in range(T + 1):
        assert tr.obs[t][remaining_frac + 1] == pytest.approx(t / T, abs=1e-6)
    assert tr.obs[0][remaining_frac] == 1.0
    cum = np.cumsum(tr.spend.sum(axis=1))
    np.testing.assert_allclose(
        [o[remaining_frac] for o in tr.obs[1:]], np.maximum(0.0, 1.0 - cum / env.budget), atol=1e-6
    )


def test_last_step_share_observation_matches_spend():
    env = ChannelBudgetEnv("stationary-5")
    env.reset(seed=0)
    target = np.array([0.1, 0.2, 0.3, 0.25, 0.15])
    obs, _, _, _, info = env.step(split_to_action(target, 5.0))
    np.testing.assert_allclose(obs[:5], target, atol=1e-6)
    np.testing.assert_allclose(obs[:5], info["spend"] / info["spend"].sum(), atol=1e-6)


# =================================================================== rendering


def test_render_ansi_names_every_channel():
    sc = load_scenario("stationary-5")
    env = ChannelBudgetEnv(sc, render_mode="ansi")
    env.reset(seed=0)
    before = env.render()
    env.step(np.zeros(5, dtype=np.float32))
    after = env.render()
    for text in (before, after):
        assert isinstance(text, str)
        for name in sc.channel_names:
            assert name in text
        assert sc.name in text
    assert after != before
    assert "step 1/90" in after


@pytest.mark.parametrize("budget", [1e-6, 1e12])
def test_render_keeps_every_figure_readable_at_any_budget(budget: float) -> None:
    # a budget of 1e12 ran the columns together ("33.3%23,809,523,809.5"); one of 1e-6 printed every
    # spend and the header's budget as 0: each row must still be the channel and five numbers, each the
    # step's figure to 3 significant digits
    sc = build_scenario(budget__total=budget, horizon=14, n_channels=3)
    env = ChannelBudgetEnv(sc, render_mode="ansi")
    env.reset(seed=0)
    _, _, _, _, info = env.step(np.array([1.0, 0.0, -1.0], dtype=np.float32))
    head, _, *rows, last = env.render().splitlines()
    spent, of = re.fullmatch(r".* spent (\S+) of (\S+)", head).groups()  # type: ignore[union-attr]
    assert float(spent.replace(",", "")) == pytest.approx(env.cumulative_spend, rel=5e-3)
    assert float(of.replace(",", "")) == pytest.approx(budget, rel=5e-3)
    for i, row in enumerate(rows):
        name, share, *numbers = row.split()
        assert name == sc.channel_names[i] and share.endswith("%")
        expected = [info["spend"][i], info["impressions"][i], info["price"][i], info["conversions"][i]]
        got = [float(x.replace(",", "")) for x in numbers]
        np.testing.assert_allclose(got, expected, rtol=5e-3, atol=0.05)  # 0.05: conversions print to 1 decimal
    expected_reward = re.fullmatch(r"reward \S+  expected (\S+)", last).group(1)  # type: ignore[union-attr]
    assert float(expected_reward.replace(",", "")) == pytest.approx(info["expected_reward"], rel=5e-3)


def test_render_through_gym_make():
    env = gym.make("budgetgym/stationary-3-v0", render_mode="ansi")
    env.reset(seed=0)
    env.step(env.action_space.sample())
    text = env.render()
    assert all(name in text for name in ("search", "social", "video"))
    env.close()


def test_render_without_render_mode_returns_none():
    env = ChannelBudgetEnv("stationary-3")
    env.reset(seed=0)
    assert env.render() is None


@pytest.mark.parametrize("mode", ["human", "rgb_array", "ANSI", ""])
def test_invalid_render_mode_raises(mode):
    with pytest.raises(ValueError, match="render_mode"):
        ChannelBudgetEnv("stationary-3", render_mode=mode)


# ================================================================= bad actions


@pytest.mark.parametrize("pacing", ["even", "agent"])
@pytest.mark.parametrize("bad_shape", ["short", "long", "matrix", "empty"])
def test_wrong_action_shape_raises_clear_error(pacing, bad_shape):
    sc = build_scenario(n_channels=3, budget__pacing=pacing)
    env = ChannelBudgetEnv(sc)
    n = env.action_space.shape[0]
    action = {
        "short": np.zeros(n - 1),
        "long": np.zeros(n + 1),
        "matrix": np.zeros((n, n)),
        "empty": np.zeros(0),
    }[bad_shape]
    env.reset(seed=0)
    with pytest.raises(ValueError, match=rf"action: expected shape \({n},\)"):
        env.step(action)
    # the failed call did not advance the episode
    _, _, _, _, info = env.step(np.zeros(n))
    assert info["step"] == 0
    # even: B/T; agent with u = 0: (0+1)/2 * min(B, 2 B/T) = B/T as well
    assert info["cumulative_spend"] == pytest.approx(sc.step_budget, rel=1e-12)


# ============================================================ hand-calculated step


@pytest.mark.parametrize(
    "cost",
    [
        {"unit": "impression", "price": 10.0, "ref_spend": 100.0, "elasticity": 0.5},  # CPM 10
        {"unit": "click", "price": 0.01, "ref_spend": 100.0, "elasticity": 0.5},  # CPC 0.01
    ],
    ids=["cpm", "cpc"],
)
def test_hand_calculated_single_step(cost):
    sc = build_scenario(
        {
            "name": "hand",
            "horizon": 2,
            "budget": {"total": 200.0},
            "reward": "revenue",
            "noise": {"conversions": "none"},
            "channels": [
                channel(
                    "only",
                    cost=cost,
                    saturation={
                        "type": "hill",
                        "max_response": 50.0,
                        "half_saturation": 10_000.0,
                        "slope": 1.0,
                    },
                    value={"mean": 3.0},
                )
            ],
        }
    )
    env = ChannelBudgetEnv(sc)
    env.reset(seed=0)
    obs, reward, terminated, truncated, info = env.step(np.array([0.7]))
    # spend B/T = 100; price = p0 (1 + 100/100)^0.5 = sqrt(2) p0
    sqrt2 = math.sqrt(2.0)
    assert info["spend"][0] == pytest.approx(100.0, rel=1e-15)
    assert info["price"][0] == pytest.approx(sqrt2 * cost["price"], rel=1e-14)
    # exposure = u * x / p: 1000 * 100 / (10 sqrt 2) impressions, or 100 / (0.01 sqrt 2) clicks
    exposure = 10_000.0 / sqrt2
    assert info["impressions"][0] == pytest.approx(exposure, rel=1e-14)
    # Hill, slope 1, kappa 10000: 50 * e / (e + 10000) = 50 / (1 + sqrt 2) = 50 (sqrt 2 - 1)
    conversions = 50.0 * (sqrt2 - 1.0)
    assert info["conversions"][0] == pytest.approx(conversions, rel=1e-14)
    assert info["expected_conversions"][0] == pytest.approx(conversions, rel=1e-14)
    assert info["revenue"][0] == pytest.approx(3.0 * conversions, rel=1e-14)
    assert reward == pytest.approx(3.0 * conversions, rel=1e-14)
    assert info["expected_reward"] == pytest.approx(3.0 * conversions, rel=1e-14)
    assert (terminated, truncated) == (False, False)
    assert info["remaining_budget"] == pytest.approx(100.0, rel=1e-15)
    # observation: share 1, price index tanh(log sqrt 2) = 1/3, conversions / steady-state
    # equal-split conversions (the same step here) = 1, EMA 0.3 * 1, remaining 1/2, t/T = 1/2,
    # spend / (B/T) = 1, then the weekly and yearly phase of day 1
    expected_obs = [
        1.0, 1.0 / 3.0, 1.0, 0.3, 0.5, 0.5, 1.0,
        math.sin(2 * math.pi / 7), math.cos(2 * math.pi / 7),
        math.sin(2 * math.pi / 365.25), math.cos(2 * math.pi / 365.25),
    ]  # fmt: skip
    np.testing.assert_allclose(obs, expected_obs, rtol=1e-6, atol=1e-7)


def test_hand_calculated_adstock_and_delay_over_two_steps():
    sc = build_scenario(
        {
            "name": "hand2",
            "horizon": 2,
            "budget": {"total": 200.0},
            "noise": {"conversions": "none"},
            "channels": [
                channel(
                    "only",
                    cost={
                        "unit": "impression",
                        "price": 10.0,
                        "ref_spend": 100.0,
                        "elasticity": 0.5,
                    },
                    adstock={"type": "geometric", "decay": 0.5},
                    saturation={
                        "type": "hill",
                        "max_response": 50.0,
                        "half_saturation": 10_000.0,
                        "slope": 1.0,
                    },
                    # rho = 1/(1+1) = 1/2; window 2: weights (1/2, 1/4) renormalised to (2/3, 1/3)
                    delay={"type": "geometric", "mean_lag": 1.0, "window": 2},
                )
            ],
        }
    )
    env = ChannelBudgetEnv(sc)
    env.reset(seed=0)
    _, r0, _, _, info0 = env.step(np.zeros(1))
    _, r1, _, truncated, info1 = env.step(np.zeros(1))
    sqrt2 = math.sqrt(2.0)
    e = 10_000.0 / sqrt2  # both steps spend 100 at price 10 sqrt 2
    # adstock: a0 = e, a1 = e + 0.5 e; response f(a) = 50 a / (a + 10000)
    resp0 = 50.0 * e / (e + 10_000.0)
    resp1 = 50.0 * 1.5 * e / (1.5 * e + 10_000.0)
    assert resp0 == pytest.approx(50.0 / (1.0 + sqrt2))
    assert info0["conversions"][0] == pytest.approx(2.0 / 3.0 * resp0, rel=1e-13)
    assert info1["conversions"][0] == pytest.approx(
        2.0 / 3.0 * resp1 + 1.0 / 3.0 * resp0, rel=1e-13
    )
    assert r0 + r1 == pytest.approx(
        2.0 / 3.0 * resp0 + 1.0 / 3.0 * resp0 + 2.0 / 3.0 * resp1, rel=1e-13
    )
    assert truncated is True


# ============================================================= bad scenario input


@pytest.mark.parametrize("multiplier", [0.0, -1.0])
def test_price_shock_needs_a_positive_multiplier(multiplier):
    # A zero price multiplier would make the unit price 0 and the exposure infinite (NaN
    # observations and rewards); the schema rejects it with a one-line error naming the field.
    data = base_scenario_dict(n_channels=1)
    data["shocks"] = [{"kind": "price", "start": 0, "duration": 1, "multiplier": multiplier}]
    with pytest.raises(ScenarioError, match=r"shocks\[0\].*multiplier") as exc:
        scenario_from_dict(data)
    assert "\n" not in str(exc.value)


def test_outage_stops_delivery_but_keeps_the_episode_finite():
    # a channel in an outage buys no exposure (its spend is still charged); others are unaffected
    data = base_scenario_dict(n_channels=2)
    data["shocks"] = [{"kind": "outage", "channels": ["ch0"], "start": 1, "duration": 2}]
    env = ChannelBudgetEnv(build_scenario(data))
    tr = rollout(env, [np.zeros(2)] * 5, seed=0)
    impressions = np.array([info["impressions"] for info in tr.infos])
    assert np.all(impressions[[1, 2], 0] == 0.0) and np.all(impressions[[0, 3, 4], 0] > 0)
    assert np.all(impressions[:, 1] > 0)
    np.testing.assert_allclose(tr.spend, np.full((5, 2), 100.0), rtol=1e-12)
    assert all(np.all(np.isfinite(o)) for o in tr.obs) and all(math.isfinite(r) for r in tr.rewards)


def test_hand_calculated_rich_episode():
    # Every stage of the model in one noise-free episode, worked out in plain Python (nothing from
    # budgetgym): agent pacing, a profit reward, the calendar (start_day 3, two days a step) with
    # yearly cost and weekly demand seasonality, a price shock on b and a demand shock on a, a CPC
    # and a CPM channel (elasticity 0.3; 1 = inventory cap), Weibull-CDF and normalised geometric
    # carry-over, logistic and S-shaped Hill curves, a gamma conversion delay.
    T = 4
    sc = build_scenario(
        {
            "name": "hand-rich", "horizon": T, "start_day": 3.0, "step_days": 2.0,
            "budget": {"total": 800.0, "pacing": "agent", "max_step_multiple": 2.0},
            "reward": "profit", "noise": {"conversions": "none"},
            "seasonality": {"demand": {"weekly_amplitude": 0.2, "weekly_peak": 1.0},
                            "cost": {"yearly_amplitude": 0.1, "yearly_peak": 10.0}},
            "shocks": [{"kind": "price", "channels": ["b"], "start": 1, "duration": 1, "multiplier": 2.0},
                       {"kind": "demand", "channels": ["a"], "start": 2, "duration": 5, "multiplier": 1.5}],
            "channels": [
                channel("a", cost={"unit": "click", "price": 0.5, "ref_spend": 50.0, "elasticity": 0.3},
                        adstock={"type": "weibull_cdf", "shape": 2.0, "scale": 2.0, "window": 3},
                        saturation={"type": "logistic", "max_response": 40.0, "rate": 0.004},
                        delay={"type": "gamma", "mean_lag": 1.0, "shape": 2.0, "window": 3},
                        value={"mean": 5.0}),
                channel("b", cost={"unit": "impression", "price": 8.0, "ref_spend": 200.0, "elasticity": 1.0},
                        adstock={"type": "geometric", "decay": 0.4, "window": 2, "normalize": True},
                        saturation={"type": "hill", "max_response": 30.0, "half_saturation": 8000.0, "slope": 2.0},
                        value={"mean": 4.0}),
            ],
        }
    )  # fmt: skip
    actions = [[0.2, -0.1, 0.0], [0.0, 0.3, 0.5], [-0.4, 0.1, -0.5], [0.1, 0.1, 1.0]]
    env = ChannelBudgetEnv(sc)
    env.reset(seed=1)
    steps = [env.step(np.array(a)) for a in actions]

    def season(amp_w, peak_w, amp_y, peak_y, d):
        return (1 + amp_w * math.cos(2 * math.pi * (d - peak_w) / 7)) * (
            1 + amp_y * math.cos(2 * math.pi * (d - peak_y) / 365.25)
        )

    # Weibull CDF, k = 2, lambda = 2: w = [1, e^{-1/4}, e^{-1/4} e^{-1}]
    w_a = [1.0, math.exp(-0.25), math.exp(-1.25)]
    w_b = [1.0 / 1.4, 0.4 / 1.4]  # [1, 0.4] / 1.4
    # gamma delay, shape 2, scale 1/2: F(x) = 1 - e^{-2x} (1 + 2x); q_d ~ F(d + 1/2) - F(d - 1/2)
    cdf = [1 - math.exp(-2 * x) * (1 + 2 * x) for x in (0.5, 1.5, 2.5)]
    q = [cdf[0], cdf[1] - cdf[0], cdf[2] - cdf[1]]
    q = [v / sum(q) for v in q]
    remaining, e_a, e_b, r_a = 800.0, [], [], []
    for t, (a, (obs, reward, _, truncated, info)) in enumerate(zip(actions, steps, strict=True)):
        z = [math.exp(5 * a[0]), math.exp(5 * a[1])]
        total = (a[2] + 1) / 2 * min(remaining, 400.0)  # cap m B/T = 2 * 200
        x = [z[0] / sum(z) * total, z[1] / sum(z) * total]
        day = 3.0 + 2.0 * t
        m_c, m_r = season(0, 0, 0.1, 10.0, day), season(0.2, 1.0, 0, 0, day)
        price = [0.5 * m_c * (1 + x[0] / 50) ** 0.3, 8.0 * m_c * (2.0 if t == 1 else 1.0) * (1 + x[1] / 200)]
        e_a.append(x[0] / price[0])  # clicks
        e_b.append(1000 * x[1] / price[1])  # impressions
        ad_a = sum(w_a[lag] * e_a[t - lag] for lag in range(3) if t >= lag)
        ad_b = sum(w_b[lag] * e_b[t - lag] for lag in range(2) if t >= lag)
        u = math.exp(-0.004 * ad_a)
        r_a.append(m_r * (1.5 if t >= 2 else 1.0) * 40 * (1 - u) / (1 + u))
        mu = [sum(q[d] * r_a[t - d] for d in range(3) if t >= d), m_r * 30 * ad_b**2 / (ad_b**2 + 8000.0**2)]
        profit = 5 * mu[0] + 4 * mu[1] - x[0] - x[1]
        remaining -= total
        np.testing.assert_allclose(info["spend"], x, rtol=1e-12)
        np.testing.assert_allclose(info["price"], price, rtol=1e-12)
        np.testing.assert_allclose(info["impressions"], [e_a[t], e_b[t]], rtol=1e-12)
        np.testing.assert_allclose(info["expected_conversions"], mu, rtol=1e-12)
        np.testing.assert_allclose(info["conversions"], mu, rtol=1e-12)
        np.testing.assert_allclose(info["revenue"], [5 * mu[0], 4 * mu[1]], rtol=1e-12)
        assert info["expected_reward"] == pytest.approx(profit, rel=1e-11)
        assert reward == pytest.approx(profit, rel=1e-11)
        assert info["remaining_budget"] == pytest.approx(remaining, rel=1e-12)
        assert truncated is (t == T - 1)
        nxt = day + 2.0  # the observation's calendar phase is the next step's
        phase = [math.sin(2 * math.pi * nxt / 7), math.cos(2 * math.pi * nxt / 7),
                 math.sin(2 * math.pi * nxt / 365.25), math.cos(2 * math.pi * nxt / 365.25)]  # fmt: skip
        np.testing.assert_allclose(obs[-4:], phase, atol=1e-6)


@pytest.mark.parametrize("target_cpa", [None, 4.0])
def test_hand_calculated_observation_over_three_steps(target_cpa):
    # The observation's normalisation, by hand: price index against the planned price (not the
    # price), conversions over the brief's conversion scale (target_cpa, or the nominal equal split
    # at steady state, without the campaign's seasonality), the 0.3 moving average, spend / (B/T),
    # budget and time fractions, and the calendar phase of the next step (start_day 10).
    sc = build_scenario(
        {
            "name": "hand-obs", "horizon": 3, "start_day": 10.0, "target_cpa": target_cpa,
            "budget": {"total": 300.0, "pacing": "agent", "max_step_multiple": 2.0},
            "noise": {"conversions": "none"},
            "seasonality": {"demand": {"weekly_amplitude": 0.5, "weekly_peak": 3.0}},
            "channels": [
                channel("a", cost={"unit": "click", "price": 0.5, "ref_spend": 50.0, "elasticity": 0.0,
                                   "planned_price": 0.4},
                        adstock={"type": "geometric", "decay": 0.5, "window": 2},
                        saturation={"type": "hill", "max_response": 40.0, "half_saturation": 100.0, "slope": 1.0}),
                channel("b", cost={"unit": "impression", "price": 8.0, "ref_spend": 200.0, "elasticity": 0.0},
                        saturation={"type": "hill", "max_response": 30.0, "half_saturation": 8000.0, "slope": 1.0}),
            ],
        }
    )  # fmt: skip
    # steady state of the equal split 50 + 50: a = 1.5 * 100 clicks, 6250 impressions
    planned = (40 * 150 / 250 + 30 * 6250 / 14250) / 2 if target_cpa is None else 50.0 / target_cpa
    env = ChannelBudgetEnv(sc)
    obs, _ = env.reset(seed=0)
    phase = [math.sin(2 * math.pi * 10 / 7), math.cos(2 * math.pi * 10 / 7),
             math.sin(2 * math.pi * 10 / 365.25), math.cos(2 * math.pi * 10 / 365.25)]  # fmt: skip
    np.testing.assert_allclose(obs, [0.5, 0.5, 0, 0, 0, 0, 0, 0, 1, 0, 0, *phase], atol=1e-7)
    actions = [[0.1, 0.0, 0.0], [0.0, 0.0, -1.0], [0.0, 0.0, 1.0]]  # B/T, nothing, all that is left
    e_a, ema, remaining = [], [0.0, 0.0], 300.0
    for t, a in enumerate(actions):
        obs = env.step(np.array(a))[0]
        total = (a[2] + 1) / 2 * min(remaining, 200.0)
        z = [math.exp(5 * a[0]), math.exp(5 * a[1])]  # softmax(5 a)
        x = [z[0] / sum(z) * total, z[1] / sum(z) * total]
        remaining -= total
        m_r = 1 + 0.5 * math.cos(2 * math.pi * (10 + t - 3) / 7)
        e_a.append(x[0] / 0.5)
        ad_a = e_a[t] + (0.5 * e_a[t - 1] if t else 0.0)
        e_b = 1000 * x[1] / 8.0
        conv = [m_r * 40 * ad_a / (ad_a + 100), m_r * 30 * e_b / (e_b + 8000)]
        ema = [0.3 * c + 0.7 * m for c, m in zip(conv, ema, strict=True)]
        share = [x[0] / total, x[1] / total] if total > 0 else [0.0, 0.0]
        day = 10 + t + 1
        expected = [
            *share, math.tanh(math.log(0.5 / 0.4)), 0.0,
            *(min(c / planned, 10) for c in conv), *(min(m / planned, 10) for m in ema),
            remaining / 300, (t + 1) / 3, total / 100,
            math.sin(2 * math.pi * day / 7), math.cos(2 * math.pi * day / 7),
            math.sin(2 * math.pi * day / 365.25), math.cos(2 * math.pi * day / 365.25),
        ]  # fmt: skip
        np.testing.assert_allclose(obs, expected, rtol=2e-6, atol=1e-7)


# ============================================================ the info table of the docstring


def _info_table() -> dict[str, set[str]]:
    """``key -> {"reset", "step", "segments", "baseline", "family"}`` from the ``| key | ... | when |``
    table of the ``## Info`` section of the environment's module docstring."""
    import budgetgym.envs.channel_env as module

    section = module.__doc__.split("## Info", 1)[1].split("\n## ", 1)[0]
    table: dict[str, set[str]] = {}
    for line in section.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if line.startswith("|") and len(cells) == 3 and cells[0].startswith("`"):
            when = set(re.findall(r"reset|step|segments|baseline|family", cells[2]))
            for key in re.findall(r"`(\w+)`", cells[0]):
                table[key] = when
    return table


@pytest.mark.parametrize("case", ["plain", "segments", "baseline", "family"])
def test_info_keys_at_reset_and_every_step_are_the_docstring_table(case):
    # the Info section listed the step's keys in prose and said nothing of reset's: it is a table of
    # every key, with when it is present, and the env returns exactly those keys
    sc = {
        "plain": lambda: "stationary-3",
        "segments": lambda: "overlap-5",
        "baseline": lambda: load_scenario("stationary-3").override({"baseline": {"level": 50.0}}),
        "family": lambda: "wide-family",
    }[case]()
    table = _info_table()
    settings = {case} if case != "plain" else set()

    def documented(when: str) -> set[str]:
        return {k for k, w in table.items() if when in w and (w & {"segments", "baseline", "family"} <= settings)}

    env = ChannelBudgetEnv(sc)
    _, info = env.reset(seed=0)
    assert set(info) == documented("reset")
    for _ in range(env.horizon):
        info = env.step(env.action_space.sample())[4]
        assert set(info) == documented("step")
