"""Property tests: whatever the (valid) scenario and whatever the action — NaN, infinities,
huge, negative or out-of-range values — the environment keeps its budget, share-bound and
pacing promises and returns finite observations inside its observation space.

The expected spend is recomputed here from the documented rules (allocation module
docstring), not by calling the env's own helpers:

* sanitising: NaN -> 0, +inf -> +1, -inf -> -1, then clip to [-1, 1];
* even pacing: each step spends ``min(B/T, remaining)``;
* agent pacing: ``(u+1)/2 * min(remaining, max_step_multiple * B/T)``.
"""

from __future__ import annotations

import functools
import math
import warnings
from typing import Any

import numpy as np
import pytest
from conftest import action_entries, build_scenario, scenario_dicts, scenarios, segmented_scenario_dicts
from gymnasium.utils.env_checker import check_env as gym_check_env
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from budgetgym.envs import ChannelBudgetEnv, Scenario, evaluate_plan, scenario_from_dict

SHARE_RTOL = 1e-9  # relative tolerance on share bounds (the brief's 1e-9)
# Pacing tolerance: the env's floating-point guard scales a step by (1 - 1e-9) when rounding
# would otherwise take the cumulative spend past the budget, so allow a few 1e-9.
PACING_RTOL = 3e-9

PROPERTY_SETTINGS = settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


def _sanitise(u: float) -> float:
    if math.isnan(u):
        return 0.0
    return min(1.0, max(-1.0, u))  # clips +-inf to +-1 as well


def _bounds(sc: Scenario) -> tuple[np.ndarray, np.ndarray]:
    lo = np.array(
        [c.locked_share if c.locked_share is not None else c.min_share for c in sc.channels]
    )
    hi = np.array(
        [c.locked_share if c.locked_share is not None else c.max_share for c in sc.channels]
    )
    return lo, hi


def _draw_actions(data: st.DataObject, n_steps: int, dim: int) -> list[np.ndarray]:
    return [
        np.array(
            data.draw(st.lists(action_entries, min_size=dim, max_size=dim), label=f"action[{t}]")
        )
        for t in range(n_steps)
    ]


def _rewards_are_the_plan_values(sc: Scenario, actions: list[np.ndarray], seed: int) -> tuple[list[dict], Any]:
    """Play ``actions`` from ``reset(seed)`` and check the one definition of a plan's value: the env's per-step
    expected rewards are :func:`evaluate_plan`'s per-step values of the spend it reported, on its path. Returns the
    steps' infos and the episode's path."""
    env = ChannelBudgetEnv(sc)
    env.reset(seed=seed)
    infos = [env.step(a)[4] for a in actions]
    steps = evaluate_plan(sc, np.array([i["spend"] for i in infos]), path=env.path, per_step=True)
    np.testing.assert_allclose(steps, [i["expected_reward"] for i in infos], rtol=1e-12, atol=1e-300)
    return infos, env.path


def _check_episode(sc: Scenario, actions: list[np.ndarray], seed: int, cast_float32: bool) -> None:
    env = ChannelBudgetEnv(sc)
    B, T, K = sc.budget.total, sc.horizon, sc.n_channels
    step_budget = B / T
    cap = sc.budget.max_step_multiple * step_budget
    lo, hi = _bounds(sc)
    space = env.observation_space

    obs, info = env.reset(seed=seed)
    assert np.all(np.isfinite(obs)) and space.contains(obs)
    assert info["remaining_budget"] == B

    cumulative = 0.0
    all_spend: list[float] = []
    for t, raw in enumerate(actions):
        if cast_float32:
            with np.errstate(over="ignore"):  # 1e300 -> inf in float32, on purpose
                action = raw.astype(np.float32)
        else:
            action = raw
        remaining = B - cumulative
        obs, reward, terminated, truncated, info = env.step(action)
        spend = np.asarray(info["spend"])
        step_total = float(spend.sum())

        # spend: non-negative, finite, within the budget (exact)
        assert spend.shape == (K,)
        assert np.all(np.isfinite(spend)) and np.all(spend >= 0.0)
        cumulative += step_total
        all_spend.extend(spend.tolist())
        assert info["cumulative_spend"] <= B
        assert info["remaining_budget"] >= 0.0
        assert math.isclose(info["cumulative_spend"], cumulative, rel_tol=1e-12, abs_tol=1e-12 * B)

        # pacing rule
        if sc.budget.pacing == "even":
            expected = min(step_budget, remaining)
        else:
            u = _sanitise(float(action[K]))
            expected = 0.5 * (u + 1.0) * min(remaining, cap)
        assert math.isclose(step_total, expected, rel_tol=PACING_RTOL, abs_tol=1e-12 * B), (
            t, step_total, expected)  # fmt: skip

        # share bounds (relative to the step's spend); spends are multiples of a power-of-two
        # quantum <= 2**-51 * budget (exact accounting), so bounds hold to within 1e-15 * budget
        if step_total > 0:
            assert np.all(spend >= lo * step_total * (1 - SHARE_RTOL) - 1e-15 * B), (
                spend,
                lo,
            )
            assert np.all(spend <= hi * step_total * (1 + SHARE_RTOL) + 1e-15 * B), (
                spend,
                hi,
            )

        # observation, reward and flags
        assert obs.dtype == np.float32 and np.all(np.isfinite(obs))
        assert space.contains(obs), obs
        assert isinstance(reward, float) and math.isfinite(reward)
        assert math.isfinite(info["expected_reward"])
        assert terminated is False
        assert truncated is (t == T - 1)

    # whole-episode spend summed exactly (not the env's running float total): at most B up to
    # rounding (the exact `<=` on this sum is test_exact_sum_of_reported_spend_within_budget)
    assert math.fsum(all_spend) <= B * (1 + 1e-12)


@PROPERTY_SETTINGS
@given(sc=scenarios(), data=st.data(), seed=st.integers(0, 2**32 - 1), cast_float32=st.booleans())
def test_budget_bounds_pacing_and_observations_hold_for_any_action(sc, data, seed, cast_float32):
    dim = sc.n_channels + int(sc.budget.pacing == "agent")
    actions = _draw_actions(data, sc.horizon, dim)
    _check_episode(sc, actions, seed, cast_float32)


@PROPERTY_SETTINGS
@given(sc=scenarios(pacing="agent"), data=st.data(), seed=st.integers(0, 2**16))
def test_agent_pacing_never_overspends_even_when_always_spending_the_cap(sc, data, seed):
    # Pacing entry +1 (or +inf / huge) every step tries to spend the cap each step; the budget
    # must run out exactly, never be exceeded, and leave later steps spending nothing.
    K = sc.n_channels
    splits = _draw_actions(data, sc.horizon, K)
    push = data.draw(st.sampled_from([1.0, np.inf, 1e300, 2.0]))
    actions = [np.append(s, push) for s in splits]
    _check_episode(sc, actions, seed, cast_float32=False)
    # and independently: the spend of a second identical run adds up to min(B, T * cap)
    env = ChannelBudgetEnv(sc)
    env.reset(seed=seed)
    total = 0.0
    for a in actions:
        total += float(env.step(a)[4]["spend"].sum())
    expected = min(sc.budget.total, sc.horizon * sc.budget.max_step_multiple * sc.step_budget)
    assert total <= sc.budget.total * (1 + 1e-12)
    assert math.isclose(total, expected, rel_tol=PACING_RTOL)


@PROPERTY_SETTINGS
@given(sc=scenarios(), data=st.data(), seed=st.integers(0, 2**32 - 1))
def test_expected_rewards_sum_to_the_plan_value_of_the_spend_made(sc, data, seed):
    # The one definition of a plan's value: the env's per-step expected rewards are evaluate_plan's
    # per-step values of the spend it reported, on its path, and their sum is its total.
    dim = sc.n_channels + int(sc.budget.pacing == "agent")
    actions = _draw_actions(data, sc.horizon, dim)
    infos, path = _rewards_are_the_plan_values(sc, actions, seed)
    spend = [i["spend"] for i in infos]
    total = 0.0
    for i in infos:
        total += i["expected_reward"]
    assert evaluate_plan(sc, np.array(spend), path=path) == pytest.approx(total, rel=1e-12, abs=1e-300)
    assert evaluate_plan(sc, np.array(spend), seed=seed) == pytest.approx(total, rel=1e-12, abs=1e-300)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(d=segmented_scenario_dicts(max_channels=4, max_horizon=8), data=st.data(), seed=st.integers(0, 2**32 - 1))
def test_segmented_scenarios_keep_every_promise_for_any_action(d, data, seed):
    # Audience segments (overlapping reach, effectiveness, per-segment curves, delays and values)
    # change the response, never the spend rules: the same budget, share-bound, pacing and
    # observation checks under hostile actions, and the expected rewards are evaluate_plan's.
    sc = scenario_from_dict(d, source="hypothesis segmented scenario")
    assert sc.segments is not None
    dim = sc.n_channels + int(sc.budget.pacing == "agent")
    actions = _draw_actions(data, sc.horizon, dim)
    _check_episode(sc, actions, seed, cast_float32=data.draw(st.booleans(), label="cast_float32"))
    infos, _ = _rewards_are_the_plan_values(sc, actions, seed)
    assert all(np.all(np.isfinite(i["expected_conversions"])) and np.all(i["conversions"] >= 0) for i in infos)


@PROPERTY_SETTINGS
@given(d=st.one_of(scenario_dicts(max_channels=4, max_horizon=10, edges=True),
                   segmented_scenario_dicts(max_channels=4, max_horizon=8, edges=True)),
       data=st.data(), seed=st.integers(0, 2**32 - 1))
def test_scenarios_at_the_schemas_edges_keep_every_promise_for_any_action(d, data, seed):
    # Every field at either end of what the schema accepts (budgets 1e-9 and 1e15, logit_scale 5e-324,
    # step_days 5e-324, dispersion 1e-3, slopes 10, windows 1000, ...), which the strategies above, scaled to
    # typical magnitudes, never reach: the same promises, and the expected rewards are evaluate_plan's.
    sc = scenario_from_dict(d, source="hypothesis edge scenario")
    dim = sc.n_channels + int(sc.budget.pacing == "agent")
    actions = _draw_actions(data, sc.horizon, dim)
    _check_episode(sc, actions, seed, cast_float32=data.draw(st.booleans(), label="cast_float32"))
    _rewards_are_the_plan_values(sc, actions, seed)


@settings(max_examples=40, deadline=None)
@given(sc=scenarios(max_channels=4, max_horizon=8), seed=st.integers(0, 2**16))
def test_any_split_action_is_deterministic_and_independent_of_noise_seed(sc, seed):
    # The spend (unlike conversions) depends only on the actions, never on the seed.
    env = ChannelBudgetEnv(sc)
    dim = env.action_space.shape[0]
    rng = np.random.default_rng(seed)
    actions = [rng.uniform(-1.5, 1.5, dim) for _ in range(sc.horizon)]
    spends = []
    for s in (seed, seed + 1):
        env.reset(seed=s)
        spends.append(np.array([env.step(a)[4]["spend"] for a in actions]))
    np.testing.assert_array_equal(spends[0], spends[1])


@pytest.mark.parametrize(
    "total, horizon, pacing",
    [
        (10.0, 1, "even"),
        (1000.0, 1, "even"),
        (0.3, 2, "even"),
        (7.0, 1, "agent"),
        (0.3, 2, "agent"),
    ],
)
def test_rounding_never_takes_cumulative_spend_past_the_budget(total, horizon, pacing):
    # With logits (0, 0.5) the two shares sum to 1 + 1 ulp in floating point, so share * B/T
    # would spend a hair more than the budget on these budgets; the env must scale it back.
    budget = {"total": total, "pacing": pacing, "max_step_multiple": 1.0}
    sc = build_scenario(n_channels=2, horizon=horizon, budget=budget)
    env = ChannelBudgetEnv(sc)
    env.reset(seed=0)
    action = np.array([0.0, 0.5, 1.0][: env.action_space.shape[0]])  # agent: u = 1, spend B/T
    for _ in range(horizon):
        info = env.step(action)[4]
        assert info["cumulative_spend"] <= total
        assert info["remaining_budget"] >= 0.0
        assert info["spend"].sum() <= total / horizon * (1 + 1e-12)
    assert info["cumulative_spend"] == pytest.approx(total, rel=3e-9)


def test_exact_sum_of_reported_spend_within_budget():
    # 3 free channels, one step of the whole budget 1000, logits (0, 0.5, 0) at logit_scale 5
    sc = build_scenario(n_channels=3, horizon=1, budget={"total": 1000.0})
    env = ChannelBudgetEnv(sc)
    env.reset(seed=0)
    info = env.step(np.array([0.0, 0.5, 0.0]))[4]
    assert info["cumulative_spend"] <= 1000.0  # the env's own accounting holds ...
    assert math.fsum(info["spend"]) <= 1000.0  # ... the exact sum of what it reports does not


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(sc=scenarios(max_channels=4, max_horizon=10).filter(lambda s: s.horizon >= 2))
def test_gymnasium_checker_passes_on_random_scenarios(sc):
    # horizon >= 2: the checker itself asserts that one step does not end the episode
    with warnings.catch_warnings(record=True) as records:
        warnings.simplefilter("always")
        gym_check_env(ChannelBudgetEnv(sc), skip_render_check=True)
    assert [str(w.message) for w in records] == []


def test_shares_summing_to_one_plus_ulp_do_not_overspend():
    # Found by hypothesis 6.170 on a fresh install: with these six channels (one locked at 0)
    # the projected shares sum to 1 + 4e-16, and flooring each spend to the accounting quantum
    # used to let the step's spends sum to 1.0000000000000004 > budget 1.0.
    def channel(i: int, **extra: float) -> dict:
        return {
            "name": f"c{i}",
            "cost": {"unit": "impression", "price": 1.0, "ref_spend": 1.0},
            "saturation": {"type": "logistic", "max_response": 1.0, "rate": 0.006},
            **extra,
        }

    sc = scenario_from_dict(
        {
            "name": "ulp",
            "horizon": 1,
            "budget": {"total": 1.0, "pacing": "agent", "max_step_multiple": 1.0},
            "channels": [
                channel(0),
                channel(1),
                channel(2),
                channel(3, locked_share=0.0),
                channel(4),
                channel(5),
            ],
            "action": {"logit_scale": 1.0},
        }
    )
    env = ChannelBudgetEnv(sc)
    env.reset(seed=0)
    info = env.step(np.array([0.0, 0.0, 0.005, 0.5, 0.0, 0.0, 1.0]))[4]
    assert math.fsum(info["spend"]) <= 1.0
    assert info["cumulative_spend"] <= 1.0
    assert info["spend"][3] == 0.0  # the locked channel stays at its share


def _bounded_family() -> Any:
    """A family whose every draw has share bounds (a floor, a cap, a locked share) and agent pacing, and
    whose prices, curves, carry-over kind and noise kind vary per draw."""
    from conftest import channel

    from budgetgym.envs.family import family_from_dict

    adstock = {
        "dist": "choice",
        "values": [{"type": "none"}, {"type": "geometric", "decay": {"dist": "uniform", "low": 0.0, "high": 0.9}}],
    }
    chans = [
        channel("a", min_share=0.1, max_share=0.6),
        channel("b", max_share=0.5),
        channel("c", locked_share=0.2),
        channel("d"),
    ]
    for c in chans:
        c["cost"]["price"] = {"dist": "lognormal", "median": 10.0, "sd": 0.8}
        c["saturation"]["max_response"] = {"dist": "loguniform", "low": 1.0, "high": 1000.0}
        c["saturation"]["slope"] = {"dist": "uniform", "low": 0.5, "high": 3.0}
        c["adstock"] = adstock
    scenario = {
        "horizon": 8,
        "budget": {"total": 5000.0, "pacing": "agent", "max_step_multiple": 2.0},
        "reward": "conversions",
        "noise": {
            "dist": "choice",
            "values": [{"conversions": "poisson"}, {"conversions": "none"}],
        },
        "channels": chans,
    }
    return family_from_dict({"family": "bounded", "seed": 5, "scenario": scenario}, source="bounded family")


@functools.cache
def _invariant_family(name: str) -> Any:
    from budgetgym.envs.family import load_family

    return _bounded_family() if name == "bounded" else load_family(name)


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(
    name=st.sampled_from(["bounded", "retail-5-family", "wide-family", "wide-agent-family"]),
    split=st.sampled_from(["train", "test"]),
    index=st.integers(0, 2**63 - 1),
    data=st.data(),
    seed=st.integers(0, 2**16),
    cast_float32=st.booleans(),
)
def test_any_draw_of_a_family_keeps_every_promise_for_any_action(name, split, index, data, seed, cast_float32):
    """A family's drawn members (either split, any index) under hostile actions: the single environment's
    budget, share-bound and pacing promises and finite observations and rewards, as for any scenario
    (the vector env's rows of family draws: tests/test_vector_invariants.py)."""
    sc = _invariant_family(name).sample(index, split)
    dim = sc.n_channels + int(sc.budget.pacing == "agent")
    _check_episode(sc, _draw_actions(data, sc.horizon, dim), seed, cast_float32)
