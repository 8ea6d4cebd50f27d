"""Audience segments with cross-channel overlap (``segments:``; ``budgetgym.envs.segments``).

* the maths by hand: a one-step scenario's exposures, pooled segment response, attribution and
  revenue computed with plain arithmetic, against the environment's info and ``evaluate_plan``;
* segment-free scenarios unchanged: each channel its own segment (size 1/K, curve K times as big)
  gives the segment-free numbers, plan by plan and at the oracle;
* the coupled expected model: its value equals the step-wise core's rollout; channel values sum to
  it; gradient and the full Hessian against central finite differences;
* the oracle against independent solvers: SLSQP (scipy) on a concave multi-step scenario and a
  brute-force grid on an S-shaped one-step scenario;
* invariants under hostile actions (hypothesis); bad blocks give one-line errors; a family draws
  reach and segment curves.
"""

from __future__ import annotations

import copy
import dataclasses
from typing import Any

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from scipy.optimize import minimize

from budgetgym.envs import (
    ChannelBudgetEnv,
    evaluate_plan,
    list_scenarios,
    load_scenario,
    scenario_from_dict,
    scenario_path,
    solve_oracle,
    split_to_action,
)
from budgetgym.envs.dynamics import ChannelModel
from budgetgym.envs.errors import ScenarioError
from budgetgym.envs.expected import expected_model
from budgetgym.envs.family import family_from_dict, load_family
from budgetgym.envs.segments import without_overlap


def toy(**changes: Any) -> dict[str, Any]:
    """Three CPM channels over two segments; multi-step, carry-over, a delay, weekly demand."""
    d: dict[str, Any] = {
        "name": "seg-toy", "horizon": 6, "budget": {"total": 6000, "pacing": "even"}, "reward": "revenue",
        "noise": {"conversions": "poisson"},
        "seasonality": {"demand": {"weekly_amplitude": 0.2}},
        "channels": [
            {"name": "a", "cost": {"unit": "impression", "price": 5, "ref_spend": 1000, "elasticity": 0.3},
             "adstock": {"type": "geometric", "decay": 0.4}},
            {"name": "b", "cost": {"unit": "impression", "price": 8, "ref_spend": 1000, "elasticity": 0.2}},
            {"name": "c", "cost": {"unit": "impression", "price": 3, "ref_spend": 1000, "elasticity": 0.1},
             "adstock": {"type": "geometric", "decay": 0.2}},
        ],
        "segments": [
            {"name": "young", "size": 0.4,
             "saturation": {"type": "hill", "max_response": 200, "half_saturation": 300000, "slope": 0.8},
             "value": {"mean": 40}, "reach": {"a": 0.7, "b": 0.2},
             "delay": {"type": "geometric", "mean_lag": 1.0, "window": 4}},
            {"name": "old", "size": 0.6, "saturation": {"type": "logistic", "max_response": 150, "rate": 2e-6},
             "value": {"mean": 70}, "reach": {"a": 0.3, "b": 0.6, "c": 0.9}, "effectiveness": {"c": 0.5}},
        ],
    }
    d.update(changes)
    return d


def random_plan(sc: Any, rng: np.random.Generator) -> np.ndarray:
    X = rng.uniform(0.05, 1.0, (sc.horizon, sc.n_channels))
    return X * sc.step_budget / X.sum(axis=1, keepdims=True)


# ------------------------------------------------------------------------------ by hand
def test_one_step_by_hand() -> None:
    """Two channels on one segment (and a private one): every number from the docstring's equations."""
    sc = scenario_from_dict({
        "name": "hand", "horizon": 1, "budget": {"total": 3000, "pacing": "even"}, "reward": "revenue",
        "noise": {"conversions": "none"},
        "channels": [
            {"name": "tv", "cost": {"unit": "impression", "price": 10, "ref_spend": 1000}},
            {"name": "web", "cost": {"unit": "click", "price": 2, "ref_spend": 1000}},
        ],
        "segments": [
            {"name": "all", "size": 0.5, "value": {"mean": 30},
             "saturation": {"type": "hill", "max_response": 100, "half_saturation": 200000, "slope": 1.0},
             "reach": {"tv": 0.8, "web": 0.5}, "effectiveness": {"web": 100.0}},
            {"name": "niche", "size": 0.5, "value": {"mean": 50},
             "saturation": {"type": "hill", "max_response": 40, "half_saturation": 1000, "slope": 1.0},
             "reach": {"web": 0.5}},
        ],
    })
    x_tv, x_web = 2000.0, 1000.0
    e_tv, e_web = 1000 * x_tv / 10, x_web / 2  # 200,000 impressions; 500 clicks
    A_all = 0.8 * e_tv + 0.5 * 100 * e_web  # 160,000 + 25,000
    r_all = 0.5 * 100 * (A_all / 0.5) / (200000 + A_all / 0.5)  # sigma f(A / sigma)
    A_niche = 0.5 * e_web
    r_niche = 0.5 * 40 * (A_niche / 0.5) / (1000 + A_niche / 0.5)
    conv_tv = 0.8 * e_tv / A_all * r_all
    conv_web = 0.5 * 100 * e_web / A_all * r_all + r_niche
    revenue = 30 * r_all + 50 * r_niche

    env = ChannelBudgetEnv(sc)
    env.reset(seed=0)
    share = np.array([x_tv, x_web]) / 3000
    _, reward, _, _, info = env.step(split_to_action(share, sc.action.logit_scale))
    np.testing.assert_allclose(info["expected_conversions"], [conv_tv, conv_web], rtol=1e-12)
    np.testing.assert_allclose(info["conversions"], [conv_tv, conv_web], rtol=1e-12)  # noise "none"
    assert info["expected_reward"] == pytest.approx(revenue, rel=1e-12)
    assert reward == pytest.approx(revenue, rel=1e-12)
    assert evaluate_plan(sc, np.array([[x_tv, x_web]])) == pytest.approx(revenue, rel=1e-12)
    em = expected_model(ChannelModel.from_scenario(sc), scenario_path(sc))
    np.testing.assert_allclose(em.channel_conversions(np.array([[x_tv, x_web]])), [conv_tv, conv_web], rtol=1e-12)


def test_three_steps_by_hand_with_a_logistic_segment() -> None:
    """Two channels, two segments over three steps: demand multipliers on the effective exposure,
    carry-over, a segment delay, effectiveness and a logistic segment curve
    ``sigma beta tanh(lambda A / (2 sigma))`` (the docstring's step 3), every number by hand."""
    sc = scenario_from_dict({
        "name": "hand3", "horizon": 3, "budget": {"total": 3000, "pacing": "even"}, "reward": "revenue",
        "noise": {"conversions": "none"}, "seasonality": {"demand": {"weekly_amplitude": 0.3}},
        "channels": [
            {"name": "a", "cost": {"unit": "impression", "price": 10, "ref_spend": 1000, "elasticity": 0.0},
             "adstock": {"type": "geometric", "decay": 0.5, "normalize": False}},
            {"name": "b", "cost": {"unit": "impression", "price": 5, "ref_spend": 1000, "elasticity": 0.0}},
        ],
        "segments": [
            {"name": "s1", "size": 0.4, "value": {"mean": 10}, "reach": {"a": 0.6, "b": 0.3},
             "saturation": {"type": "hill", "max_response": 100, "half_saturation": 100000, "slope": 1.0},
             "effectiveness": {"b": 2.0}, "delay": {"type": "geometric", "mean_lag": 1.0, "window": 3}},
            {"name": "s2", "size": 0.6, "value": {"mean": 20}, "reach": {"a": 0.4, "b": 0.7},
             "saturation": {"type": "logistic", "max_response": 50, "rate": 1e-5}},
        ],
    })
    X = np.array([[600.0, 400.0], [200.0, 800.0], [500.0, 500.0]])
    m = 1.0 + 0.3 * np.sin(2 * np.pi * np.arange(3) / 7 + np.pi / 2)  # weekly demand, peak at day 0
    np.testing.assert_allclose(scenario_path(sc).response[:, 0], m, rtol=1e-12)
    e = 1000 * X / [10.0, 5.0]
    a = e.copy()
    a[1, 0] += 0.5 * e[0, 0]
    a[2, 0] += 0.5 * e[1, 0] + 0.25 * e[0, 0]
    x = np.array([[0.6, 0.4], [0.3 * 2.0, 0.7]]) * (m[:, None] * a)[:, :, None]  # [t, i, s]
    A = x.sum(axis=1)
    r = np.column_stack([0.4 * 100 * (A[:, 0] / 0.4) / (100000 + A[:, 0] / 0.4),
                         0.6 * 50 * np.tanh(1e-5 * A[:, 1] / (2 * 0.6))])
    pair = x / A[:, None, :] * r[:, None, :]
    q = np.array([1.0, 0.5, 0.25]) / 1.75  # geometric lag, rho = 1/2, window 3
    arrive = pair.copy()
    arrive[:, :, 0] = [q[: t + 1][::-1] @ pair[: t + 1, :, 0] for t in range(3)]
    revenue = (arrive * [10.0, 20.0]).sum(axis=(1, 2))

    np.testing.assert_allclose(evaluate_plan(sc, X, per_step=True), revenue, rtol=1e-12)
    em = expected_model(ChannelModel.from_scenario(sc), scenario_path(sc))
    np.testing.assert_allclose(em.segment_credits(X), arrive.sum(axis=0), rtol=1e-12)
    np.testing.assert_allclose(em.segment_saturation(X), (r / [40.0, 30.0]).mean(axis=0), rtol=1e-12)
    env = ChannelBudgetEnv(sc)
    env.reset(seed=0)
    for t in range(3):
        _, reward, _, _, info = env.step(split_to_action(X[t] / X[t].sum(), sc.action.logit_scale))
        np.testing.assert_allclose(info["expected_conversions"], arrive[t].sum(axis=-1), rtol=1e-12)
        assert reward == pytest.approx(revenue[t], rel=1e-12)


def test_logistic_segment_by_hand() -> None:
    """A logistic segment is the channels' logistic curve, ``beta tanh(lambda a / 2)``, stated for the
    whole audience: ``r_s = sigma beta tanh(lambda A / (2 sigma))`` (the docs said
    ``sigma beta (1 - exp(-lambda A / sigma))``, another curve: 43.2 here instead of 38.1)."""
    sc = scenario_from_dict({
        "name": "hand-logistic", "horizon": 1, "budget": {"total": 1000}, "noise": {"conversions": "none"},
        "channels": [{"name": "tv", "cost": {"unit": "impression", "price": 10, "ref_spend": 1000}}],
        "segments": [
            {"name": "half", "size": 0.5, "saturation": {"type": "logistic", "max_response": 100, "rate": 1e-5},
             "reach": {"tv": 1.0}},
            {"name": "other", "size": 0.5, "saturation": {"type": "logistic", "max_response": 100, "rate": 1e-5},
             "reach": {}},
        ],
    })
    A = 1000 * 1000.0 / 10  # 100,000 impressions, all on "half"
    expected = 0.5 * 100 * np.tanh(1e-5 * A / (2 * 0.5))  # 50 tanh(1) = 38.08
    assert evaluate_plan(sc, np.array([[1000.0]])) == pytest.approx(expected, rel=1e-12)


# ------------------------------------------------------------------ segment-free = today
def _own_segments(name: str) -> dict[str, Any]:
    """``name`` rewritten with each channel its own segment: size 1/K, the channel's curve K times as
    big (so ``sigma f(A / sigma)`` is the channel's own curve), its value and delay."""
    d = load_scenario(name).model_dump(mode="python")
    K = len(d["channels"])
    segs = []
    for c in d["channels"]:
        sat = c.pop("saturation")
        sat["max_response"] *= K
        if "half_saturation" in sat:
            sat["half_saturation"] *= K
        else:
            sat["rate"] /= K
        segs.append({"name": f"own-{c['name']}", "size": 1.0 / K, "saturation": sat, "value": c.pop("value"),
                     "delay": c.pop("delay"), "reach": {c["name"]: 1.0}})
    d["segments"] = segs
    return d


@pytest.mark.parametrize("name", ["stationary-5", "delayed-5"])
def test_each_channel_its_own_segment_is_today(name: str) -> None:
    plain = load_scenario(name)
    seg = scenario_from_dict(_own_segments(name))
    rng = np.random.default_rng(3)
    plans = np.stack([random_plan(plain, rng) for _ in range(4)])
    np.testing.assert_allclose(evaluate_plan(seg, plans), evaluate_plan(plain, plans), rtol=1e-11)
    o_plain, o_seg = solve_oracle(plain), solve_oracle(seg)
    assert o_seg.expected_reward == pytest.approx(o_plain.expected_reward, rel=1e-8)
    np.testing.assert_allclose(o_seg.plan, o_plain.plan, atol=1e-4 * plain.step_budget)


def test_segment_free_scenarios_do_not_compile_segments() -> None:
    assert ChannelModel.from_scenario(load_scenario("stationary-5")).segments is None
    assert "segments" not in load_scenario("stationary-5").model_dump(mode="json")


# --------------------------------------------------------------------- expected model
def test_expected_model_equals_the_core_and_its_derivatives() -> None:
    sc = scenario_from_dict(toy())
    em = expected_model(ChannelModel.from_scenario(sc), scenario_path(sc))
    rng = np.random.default_rng(0)
    X = random_plan(sc, rng)
    assert float(em.value(X)) == pytest.approx(float(evaluate_plan(sc, X)), rel=1e-12)
    assert em.channel_values(X).sum() == pytest.approx(float(em.value(X)), rel=1e-12)
    J, g, H = em.derivatives(X)
    assert H is not None and H.shape == (18, 18)
    h = 1e-2
    T, K = X.shape
    fd_g, fd_H = np.zeros_like(X), np.zeros((K * T, K * T))
    for k in range(K * T):
        i, t = divmod(k, T)
        E = np.zeros_like(X)
        E[t, i] = h
        fd_g[t, i] = (em.value(X + E) - em.value(X - E)) / (2 * h)
        fd_H[:, k] = ((em.derivatives(X + E, False)[1] - em.derivatives(X - E, False)[1]) / (2 * h)).T.ravel()
    np.testing.assert_allclose(g, fd_g, rtol=1e-6, atol=1e-9 * np.abs(g).max())
    np.testing.assert_allclose(H, fd_H, atol=1e-6 * np.abs(H).max())
    # the conversion gradient is that of the total conversions
    conv = lambda Y: em.channel_conversions(Y).sum()  # noqa: E731
    E = np.zeros_like(X)
    E[2, 1] = h
    assert em.conversion_gradient(X)[2, 1] == pytest.approx((conv(X + E) - conv(X - E)) / (2 * h), rel=1e-6)


def test_env_rewards_sum_to_the_plan_value() -> None:
    sc = scenario_from_dict(toy())
    X = random_plan(sc, np.random.default_rng(1))
    env = ChannelBudgetEnv(sc)
    env.reset(seed=4)
    expected = []
    for t in range(sc.horizon):
        _, _, _, _, info = env.step(split_to_action(X[t] / X[t].sum(), sc.action.logit_scale))
        expected.append(info["expected_reward"])
        assert info["expected_revenue"].sum() == pytest.approx(info["expected_reward"], rel=1e-12)  # revenue
    np.testing.assert_allclose(expected, evaluate_plan(sc, X, per_step=True), rtol=1e-12)


# ----------------------------------------------------------------------------- oracle
def _slsqp_best(sc: Any, starts: int = 6) -> float:
    em = expected_model(ChannelModel.from_scenario(sc), scenario_path(sc))
    T, K, B = sc.horizon, sc.n_channels, sc.step_budget
    cons = [{"type": "eq", "fun": (lambda x, t=t: x.reshape(K, T)[:, t].sum() / B - 1.0)} for t in range(T)]
    rng = np.random.default_rng(7)
    scale = float(em.value(np.full((T, K), B / K)))
    best = -np.inf
    for _ in range(starts):
        x0 = (rng.dirichlet(np.ones(K), T) * B).T.ravel()
        res = minimize(
            lambda x: -float(em.value(x.reshape(K, T).T)) / scale, x0,
            jac=lambda x: -em.derivatives(x.reshape(K, T).T, False)[1].T.ravel() / scale,
            bounds=[(0.0, B)] * (K * T), constraints=cons, method="SLSQP",
            options={"ftol": 1e-14, "maxiter": 1000},
        )
        X = np.maximum(res.x.reshape(K, T).T, 0.0)
        X *= B / X.sum(axis=1, keepdims=True)
        best = max(best, float(evaluate_plan(sc, X)))
    return best


@pytest.mark.parametrize("name", ["toy", "overlap-5"])
def test_oracle_is_never_beaten_by_slsqp(name: str) -> None:
    short = {"horizon": 4, "budget.total": 32000}
    sc = scenario_from_dict(toy()) if name == "toy" else load_scenario(name).override(short)
    o = solve_oracle(sc)
    assert o.concave
    assert _slsqp_best(sc, starts=4) <= o.expected_reward * (1 + 1e-7)


def test_s_shaped_segments_oracle_against_a_grid() -> None:
    """One step, three channels, an S-shaped segment shared by two: the multi-start oracle is at
    least the best point of a fine grid over the simplex (zoomed once around the best cell)."""
    d = toy(horizon=1, budget={"total": 3000, "pacing": "even"}, seasonality={})
    d["segments"][0]["saturation"] = {"type": "hill", "max_response": 300, "half_saturation": 150000, "slope": 2.5}
    d["segments"][0]["delay"] = {"type": "none"}
    sc = scenario_from_dict(d)
    o = solve_oracle(sc)
    assert not o.concave
    B = sc.step_budget

    def grid(center: np.ndarray, width: float, n: int) -> np.ndarray:
        a, b = np.meshgrid(np.linspace(-width, width, n), np.linspace(-width, width, n))
        q = np.stack([center[0] + a.ravel(), center[1] + b.ravel()], axis=1)
        q = np.column_stack([q, 1 - q.sum(axis=1)])
        return q[(q >= 0).all(axis=1)]

    q = grid(np.array([0.5, 0.5]), 0.5, 201)
    values = evaluate_plan(sc, q[:, None, :] * B)
    best = q[int(np.argmax(values))]
    q = grid(best[:2], 0.01, 81)
    top = float(np.max(evaluate_plan(sc, q[:, None, :] * B)))
    assert o.expected_reward >= top * (1 - 1e-9)


def test_ignoring_the_overlap_costs_on_the_builtin() -> None:
    """The overlap-free model's own oracle, played under the overlap, is clearly short of the oracle."""
    from budgetgym.envs.oracle import candidate_plans
    from budgetgym.envs.segment_expected import SegmentExpectedModel

    sc = load_scenario("overlap-5")
    m = ChannelModel.from_scenario(sc)
    assert m.segments is not None
    free = SegmentExpectedModel(dataclasses.replace(m, segments=without_overlap(m.segments)), scenario_path(sc))
    plan = candidate_plans(sc, free, concave=True)[0]
    o = solve_oracle(sc)
    share = float(evaluate_plan(sc, plan)) / o.expected_reward
    assert share < 0.97
    assert float(free.value(plan)) > 1.2 * float(evaluate_plan(sc, plan))  # it over-promises


# -------------------------------------------------------------------------- invariants
@given(
    actions=st.lists(
        st.lists(st.floats(-1e6, 1e6, allow_nan=False, allow_infinity=False), min_size=3, max_size=3),
        min_size=6, max_size=6,
    ),
    seed=st.integers(0, 2**16),
)
def test_hostile_actions_keep_invariants(actions: list[list[float]], seed: int) -> None:
    sc = scenario_from_dict(toy())
    env = ChannelBudgetEnv(sc)
    obs, _ = env.reset(seed=seed)
    spent = 0.0
    for a in actions:
        obs, reward, _, _, info = env.step(np.asarray(a, dtype=np.float32))
        spent += float(np.sum(info["spend"]))
        assert np.all(np.isfinite(obs)) and np.isfinite(reward)
        assert np.all(info["conversions"] >= 0) and np.all(np.isfinite(info["expected_conversions"]))
        assert spent <= sc.budget.total * (1 + 1e-12)


# --------------------------------------------------------------------------- bad blocks
@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda d: d["segments"][0]["reach"].update(a=1.5), "segments[0].reach.a: Input should be less than or equal"),
        (lambda d: d["segments"][0]["reach"].update(zz=0.5), "unknown channel(s) zz"),
        (lambda d: d["segments"][0].update(size=0.5), "sizes sum to 1.1"),
        (lambda d: d["segments"][1]["reach"].update(a=0.9), "channel 'a' sends 1.6"),
        (lambda d: d["segments"][1]["effectiveness"].update(zz=2.0), "effectiveness given for channel(s) zz"),
        (lambda d: d["channels"][1].update(saturation={"type": "hill", "max_response": 1, "half_saturation": 1}),
         "channels.b.saturation"),
        (lambda d: d["channels"][1].update(value={"mean": 3.0}), "channels.b.value"),
        (lambda d: d.pop("segments"), "channels.a.saturation: required"),
        # a size of 1e-300 made the segment's rate lambda / size inf: NaN slopes, and an oracle that
        # stopped at the equal split (8% below the best plan of tests below)
        (lambda d: d["segments"][0].update(size=1e-300),
         "segments.young.size: expected a share of the addressable audience in [1e-09, 1], got 1e-300"),
        (lambda d: d["segments"][1].update(size=-0.6),
         "segments.old.size: expected a share of the addressable audience in [1e-09, 1], got -0.6"),
    ],
)
def test_bad_blocks_give_one_line(change: Any, message: str) -> None:
    d = copy.deepcopy(toy())
    change(d)
    with pytest.raises(ScenarioError) as err:
        scenario_from_dict(d, source="scenario file 'x.yaml'")
    text = str(err.value)
    assert "\n" not in text and "x.yaml" in text and message in text, text


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda d: d["segments"][0]["reach"].update(aa=0.1), "unknown channel(s) aa (did you mean 'a'?)"),
        (lambda d: d["segments"][1]["effectiveness"].update(cc=2.0),
         "effectiveness given for channel(s) cc, which do not reach this segment (did you mean 'c'?)"),
    ],
)
def test_a_misspelt_channel_in_a_segment_gets_a_did_you_mean(change: Any, message: str) -> None:
    """A misspelt channel in a segment's reach or effectiveness names the channel meant, as every
    other unknown name does (CONTRIBUTING: "did you mean"); it said only "expected one of ...". """
    d = copy.deepcopy(toy())
    change(d)
    with pytest.raises(ScenarioError) as err:
        scenario_from_dict(d, source="scenario file 'x.yaml'")
    text = str(err.value)
    assert "\n" not in text and message in text, text


def test_an_override_sets_a_channel_a_segment_does_not_list_yet() -> None:
    """``effectiveness`` defaults to 1 for every channel and ``reach`` to 0 for an unlisted one, so
    ``segments.young.effectiveness.a`` and ``segments.young.reach.c`` are fields a user may set
    (``--set``, an experiment's ``set``, a family's ``vary``); they were refused as "unknown field 'a'".
    The value changes as the hand-edited scenario's does, and a misspelt channel is still refused."""
    base = scenario_from_dict(toy())
    X = np.full((base.horizon, base.n_channels), base.step_budget / base.n_channels)
    changed = base.override({"segments.young.effectiveness.a": 2.0, "segments.young.reach.c": 0.05})
    d = toy()
    d["segments"][0]["effectiveness"] = {"a": 2.0}
    d["segments"][0]["reach"]["c"] = 0.05
    by_hand = scenario_from_dict(d)
    assert changed.segments[0].effectiveness == {"a": 2.0}  # type: ignore[index]
    assert changed.segments[0].reach == {"a": 0.7, "b": 0.2, "c": 0.05}  # type: ignore[index]
    assert evaluate_plan(changed, X) == evaluate_plan(by_hand, X) != evaluate_plan(base, X)
    with pytest.raises(ScenarioError, match=r"unknown channel\(s\) cc \(did you mean 'c'\?\)"):
        base.override({"segments.young.reach.cc": 0.05})
    with pytest.raises(ScenarioError, match="unknown field 'reech'"):
        base.override({"segments.young.reech.c": 0.05})


def test_the_smallest_segment_keeps_the_oracle_exact() -> None:
    """A segment of the smallest accepted size (1e-9) with the largest logistic rate (1e9): its curve
    arrays stay finite (rate / size = 1e18), nothing warns, and the oracle finds the best plan, all
    on the channel of the big segment (its 1e12 * 1e-9 = 1e-3 conversions at most are worth less)."""
    import warnings

    d = {"name": "tiny-seg", "horizon": 3, "budget": {"total": 3000.0}, "noise": {"conversions": "none"},
         "channels": [{"name": "a", "cost": {"price": 1.0, "ref_spend": 10.0}},
                      {"name": "b", "cost": {"price": 1.0, "ref_spend": 10.0}}],
         "segments": [{"name": "tiny", "size": 1e-9, "reach": {"a": 1.0},
                       "saturation": {"type": "logistic", "max_response": 1e6, "rate": 1e9}},
                      {"name": "rest", "size": 1 - 1e-9, "reach": {"b": 1.0},
                       "saturation": {"type": "hill", "max_response": 100, "half_saturation": 1e5}}]}
    sc = scenario_from_dict(d)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        res = solve_oracle(sc)
    best = evaluate_plan(sc, np.tile([0.0, 1000.0], (3, 1)))  # 3 * 100 * 1e6 / 1.1e6 = 272.7
    sigma = 1 - 1e-9  # r = sigma beta A / (sigma kappa + A), A = 1e6 impressions a step
    assert best == pytest.approx(3 * sigma * 100 * 1e6 / (sigma * 1e5 + 1e6), rel=1e-12)
    assert res.expected_reward >= best * (1 - 1e-6)


# ------------------------------------------------------------------------------ families
def test_a_family_draws_reach_and_segment_curves(tmp_path: Any) -> None:
    import yaml

    d = toy()
    d["segments"][0]["reach"]["a"] = {"dist": "uniform", "low": 0.4, "high": 0.7}
    d["segments"][0]["saturation"]["half_saturation"] = {"dist": "lognormal", "median": 300000, "sd": 0.3}
    path = tmp_path / "fam.yaml"
    path.write_text(yaml.safe_dump({"family": "seg-fam", "seed": 1, "scenario": d}))
    fam = load_family(path)
    draws = [fam.sample(i, "test") for i in range(5)]
    reach = {s.segments[0].reach["a"] for s in draws if s.segments}
    half = {s.segments[0].saturation.half_saturation for s in draws if s.segments}  # type: ignore[union-attr]
    assert len(reach) == 5 and all(0.4 <= r <= 0.7 for r in reach) and len(half) == 5
    assert fam.nominal().segments[0].reach["a"] == pytest.approx(0.55)  # type: ignore[index]
    for s in draws[:2]:  # every draw plays
        assert np.isfinite(solve_oracle(s).expected_reward)


# ------------------------------------------------------------------------------- planner
def test_planner_reports_each_segment(tmp_path: Any) -> None:
    """The recommended plan's per-segment table: conversions and revenue sum to the channels' (and
    the revenue to the plan's value), credited shares sum to one, and each segment's exposure is
    the one computed from the plan by hand (channel exposures through the reach matrix)."""
    from budgetgym.planner import plan
    from budgetgym.planner.outputs import write_plan

    sc = load_scenario("overlap-5")
    res = plan(sc, curves=False)
    seg = res.segments
    assert seg is not None and list(seg["segment"]) == sc.segment_names
    assert seg["conversions"].sum() == pytest.approx(res.channels["conversions"].sum(), rel=1e-10)
    assert seg["revenue"].sum() == pytest.approx(res.value, rel=1e-10)
    shares = seg[[f"from_{c}" for c in sc.channel_names]].to_numpy()
    np.testing.assert_allclose(shares.sum(axis=1), 1.0, rtol=1e-12)
    # exposure by hand: e = 1000 x / p(x), geometric normalised carry-over, through R * E
    m = ChannelModel.from_scenario(sc)
    X = res.plan
    price = m.base_price * (1 + X / m.ref_spend) ** m.elasticity
    e = 1000 * X / price
    a = np.zeros_like(e)
    for i, c in enumerate(sc.channels):
        w = c.adstock.decay ** np.arange(sc.horizon)  # type: ignore[union-attr]
        w /= w.sum()
        for t in range(sc.horizon):
            a[t, i] = (w[: t + 1][::-1] * e[: t + 1, i]).sum()
    R = np.array([[s.reach.get(c, 0.0) * s.effectiveness.get(c, 1.0) for s in sc.segments or []]
                  for c in sc.channel_names])
    # (the scenario keeps lags while decay**l >= 1e-8: the untruncated sum differs by ~1e-9)
    np.testing.assert_allclose(seg["exposure"], (a @ R).sum(axis=0), rtol=1e-7)
    out = write_plan(res, tmp_path / "p", plots=False).out
    assert (out / "segments.csv").exists() and "## Audience segments" in (out / "report.md").read_text()
    assert plan("stationary-3", curves=False).segments is None


def test_every_segments_csv_column_has_a_documented_meaning() -> None:
    """The README's row for ``segments.csv`` gives every column a meaning (in parentheses after its
    name), as the other plan files' rows do: ``exposure_per_size`` had none, and ``exposure`` no unit."""
    import re
    from pathlib import Path

    from budgetgym.planner.metrics import segment_table
    from budgetgym.planner.problem import PlanningProblem

    sc = scenario_from_dict(toy())
    X = np.full((sc.horizon, sc.n_channels), sc.step_budget / sc.n_channels)
    table = segment_table(PlanningProblem(sc).objective, X, sc.segment_names, sc.channel_names)
    assert table is not None
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")
    row = next(line for line in readme.splitlines() if line.startswith("| `segments.csv` |"))
    for col in table.columns:
        name = "from_<channel>" if col.startswith("from_") else col
        assert col == "segment" or re.search(rf"`{re.escape(name)}` \(", row), f"segments.csv: {name} undocumented"
    assert "exposure unit" in row  # x, A, half_saturation share one unit (configs/README.md, Segments)


def test_segment_table_of_draws_with_different_sizes_is_their_mean() -> None:
    r"""A family whose draws size the segments differently (an ensemble of fitted draws): the table's
    ``size`` is the draws' mean size and ``exposure_per_size`` the mean of each draw's
    :math:`\sum_t A_{t,s} / \sigma_s`, as every other column is the mean over the draws (they were the
    first draw's size, and the mean exposure over it)."""
    from budgetgym.envs.expected import MeanExpectedModel
    from budgetgym.planner.metrics import segment_table

    d = toy()
    draws = []
    for young in (0.4, 0.1):
        d["segments"][0]["size"], d["segments"][1]["size"] = young, 1.0 - young
        draws.append(scenario_from_dict(copy.deepcopy(d)))
    ems = [expected_model(ChannelModel.from_scenario(sc), scenario_path(sc)) for sc in draws]
    X = random_plan(draws[0], np.random.default_rng(2))
    table = segment_table(MeanExpectedModel(ems, np.array([0.25, 0.75])), X, ["young", "old"], ["a", "b", "c"])
    assert table is not None
    sizes = np.array([[0.4, 0.6], [0.1, 0.9]])
    np.testing.assert_allclose(table["size"], 0.25 * sizes[0] + 0.75 * sizes[1], rtol=1e-12)
    per_size = [em.segment_exposure(X) / sz for em, sz in zip(ems, sizes, strict=True)]
    np.testing.assert_allclose(table["exposure_per_size"], 0.25 * per_size[0] + 0.75 * per_size[1], rtol=1e-12)
    np.testing.assert_allclose(table["exposure"], 0.25 * ems[0].segment_exposure(X) + 0.75 * ems[1].segment_exposure(X),
                               rtol=1e-12)


def test_plan_on_draws_with_different_segments_has_no_segment_table(tmp_path: Any) -> None:
    """A family choosing between two segments blocks (three segments or two): there is no one set of
    segments to average over, so the plan has no segment table (it crashed on the arrays' shapes)."""
    import yaml

    from budgetgym.planner import plan

    d = toy()
    d["horizon"] = 3
    two = copy.deepcopy(d["segments"])
    three = copy.deepcopy(two) + [{"name": "new", "size": 0.2, "reach": {"c": 0.1},
                                   "saturation": {"type": "hill", "max_response": 50, "half_saturation": 1e5}}]
    three[1]["size"] = 0.4
    d["segments"] = {"dist": "choice", "values": [three, two]}
    path = tmp_path / "choice.yaml"
    path.write_text(yaml.safe_dump({"family": "choice", "seed": 1, "scenario": d}))
    family = load_family(path)
    assert {len(family.sample(i, "train").segments or []) for i in range(8)} == {2, 3}
    res = plan(family, curves=False, draws=8)
    assert res.segments is None and res.channels["conversions"].sum() > 0
    # the planned draws all with the same segments, but not the nominal campaign's (three: the first on ties):
    # the table was labelled with the nominal's three names over the draws' two columns, and plan crashed
    # (pandas' "All arrays must be of the same length"; found by tests/test_family_props.py)
    family = family_from_dict({"family": "choice", "seed": 0, "scenario": d}, "choice")
    assert len(family.nominal().segments or []) == 3
    assert [len(sc.segments or []) for sc in family.draws(family.split_draws(2, "train"), "train")] == [2, 2]
    res = plan(family, curves=False, draws=2)
    assert res.segments is None and res.channels["conversions"].sum() > 0


def test_history_carries_into_a_segmented_window() -> None:
    """Spend before the window: the env (reset option), evaluate_plan and the matrix model agree step
    by step; the oracle with history is never beaten by SLSQP started from it; history adds value."""
    sc = scenario_from_dict(toy())
    hist = np.array([[900.0, 50.0, 50.0], [100.0, 600.0, 300.0], [0.0, 0.0, 1000.0]])
    X = random_plan(sc, np.random.default_rng(5))
    env = ChannelBudgetEnv(sc)
    env.reset(seed=0, options={"history": hist})
    steps = []
    for t in range(sc.horizon):
        steps.append(env.step(split_to_action(X[t] / X[t].sum(), sc.action.logit_scale))[4]["expected_reward"])
    per_step = evaluate_plan(sc, X, per_step=True, history=hist)
    np.testing.assert_allclose(steps, per_step, rtol=1e-12)
    from budgetgym.envs.history import carry_in

    m = ChannelModel.from_scenario(sc)
    em = expected_model(m, scenario_path(sc), carry_in(sc, hist, m))
    assert float(em.value(X)) == pytest.approx(float(np.sum(per_step)), rel=1e-12)
    assert em.channel_values(X).sum() == pytest.approx(float(em.value(X)), rel=1e-12)
    assert float(evaluate_plan(sc, X, history=hist)) > float(evaluate_plan(sc, X))
    o = solve_oracle(sc, history=hist)
    assert o.expected_reward >= float(evaluate_plan(sc, X, history=hist))


@st.composite
def segment_scenarios(draw: Any) -> Any:
    """Random valid segmented scenarios: 2-4 CPM channels, 1-3 segments, random reach (each channel's
    shares summing to at most 1), effectiveness, concave Hill or logistic curves, delays, carry-over."""
    K, S, T = draw(st.integers(2, 4)), draw(st.integers(1, 3)), draw(st.integers(1, 5))
    unit = st.one_of(st.just(0.0), st.floats(1e-3, 1.0))  # (a reach of 1e-95 makes every value ~1e-95)
    channels = [
        {"name": f"c{i}", "cost": {"unit": "impression", "price": draw(st.floats(1.0, 30.0)), "ref_spend": 1000.0,
                                   "elasticity": draw(st.floats(0.0, 0.6))},
         "adstock": {"type": "geometric", "decay": draw(st.floats(0.0, 0.8))}}
        for i in range(K)
    ]
    raw = np.array([[draw(unit) for _ in range(S)] for _ in range(K)])
    reach = raw / np.maximum(raw.sum(axis=1, keepdims=True), 1.0)
    sizes = np.array([draw(st.floats(0.1, 1.0)) for _ in range(S)])
    sizes /= sizes.sum()
    segments = []
    for s in range(S):
        sat = (
            {"type": "hill", "max_response": draw(st.floats(10, 500)), "half_saturation": draw(st.floats(1e4, 1e7)),
             "slope": draw(st.floats(0.4, 1.0))}
            if draw(st.booleans()) else {"type": "logistic", "max_response": draw(st.floats(10, 500)),
                                         "rate": draw(st.floats(1e-7, 1e-4))}
        )
        segments.append({
            "name": f"s{s}", "size": float(sizes[s]) if s < S - 1 else float(1 - sizes[:-1].sum()),
            "saturation": sat, "value": {"mean": draw(st.floats(1, 100))},
            "delay": {"type": "geometric", "mean_lag": draw(st.floats(0.1, 2.0)), "window": 4},
            "reach": {f"c{i}": float(reach[i, s]) for i in range(K) if reach[i, s] > 0},
        })
    return scenario_from_dict({"name": "fuzz", "horizon": T, "budget": {"total": 1000.0 * T}, "reward": "revenue",
                               "channels": channels, "segments": segments})


@given(sc=segment_scenarios(), seed=st.integers(0, 1000))
def test_random_segment_scenarios_agree_and_the_oracle_wins(sc: Any, seed: int) -> None:
    rng = np.random.default_rng(seed)
    em = expected_model(ChannelModel.from_scenario(sc), scenario_path(sc))
    plans = np.stack([random_plan(sc, rng) for _ in range(3)])
    values = evaluate_plan(sc, plans)
    np.testing.assert_allclose(em.value(plans), values, rtol=1e-10)
    np.testing.assert_allclose(em.channel_values(plans).sum(axis=-1), values, rtol=1e-10)
    o = solve_oracle(sc)
    assert np.all(np.isfinite(o.plan)) and not check_plan_problems(sc, o.plan)
    assert o.expected_reward >= values.max() * (1 - 1e-9)


def check_plan_problems(sc: Any, plan: np.ndarray) -> list[str]:
    from budgetgym.envs import check_plan

    return check_plan(sc, plan)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda d: d["segments"][0]["reach"].update(zz=0.5),
         "segments[0].reach: unknown channel(s) zz; expected one of a, b, c"),
        (lambda d: d["segments"][1].update(name="young"), "segments: names must be unique, repeated: young"),
        (lambda d: d["segments"][0].update(size=0.5),
         "segments: sizes sum to 1.1 (young 0.5, old 0.6); expected 1 (shares of the addressable audience)"),
        (lambda d: d["channels"][1].update(value={"mean": 3.0}),
         "channels.b.value: a scenario with segments takes response curves, delays and values per segment "
         "(segments[].value); remove it from the channel"),
        (lambda d: d["segments"][0]["reach"].update(a=True),
         "segments[0].reach.a: expected a number, got a boolean (true)"),
    ],
)
def test_a_segment_error_names_its_field_path_first(change: Any, message: str) -> None:
    """The scenario's own checks of its segments read "x.yaml: (top level): segments[0].reach: ..." and a
    segment's number check "segments[0]: reach.a: ...": the field path comes right after the file, as in
    pydantic's own field errors ("segments[0].size: ...")."""
    d = copy.deepcopy(toy())
    change(d)
    with pytest.raises(ScenarioError) as err:
        scenario_from_dict(d, source="scenario file 'x.yaml'")
    assert str(err.value) == f"scenario file 'x.yaml': {message}"


# ------------------------------------------------------------------- warnings at load
def _load_warnings(tmp_path: Any, d: dict[str, Any]) -> list[str]:
    """The ScenarioWarnings of loading ``d`` from a file (every other warning an error)."""
    import warnings

    import yaml

    from budgetgym.envs.errors import ScenarioWarning

    path = tmp_path / "s.yaml"
    path.write_text(yaml.safe_dump(d), encoding="utf-8")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        load_scenario(path)
    assert all(issubclass(w.category, ScenarioWarning) for w in caught), [str(w.message) for w in caught]
    return [str(w.message).removeprefix(f"scenario file '{path}': ") for w in caught]


def test_a_channel_that_reaches_no_segment_is_warned_of_at_load(tmp_path: Any) -> None:
    """A channel no segment's reach lists (or lists at 0) converts nothing whatever it spends: it loaded
    silently. One warning naming the channel; the scenario still loads (the docs allow it)."""
    d = toy()
    d["channels"].append({"name": "d", "cost": {"unit": "impression", "price": 4, "ref_spend": 1000}})
    d["segments"][0]["reach"]["d"] = 0.0
    assert _load_warnings(tmp_path, d) == [
        "channels.d: reaches no segment (its reach is 0 in every segment), so it converts nothing whatever it "
        "spends; list it in a segment's reach or remove it"
    ]
    assert _load_warnings(tmp_path, toy()) == []


def test_click_and_impression_channels_on_one_segment_without_effectiveness_are_warned_of(tmp_path: Any) -> None:
    """A segment adds its channels' exposures: with click and impression channels reaching it and no
    ``effectiveness`` for any of them a click counts as one impression (configs/README.md, Units). Only the
    segment concerned is named; one that sets an effectiveness for a channel reaching it, or that one unit
    reaches, is not."""
    d = toy()
    d["channels"][1]["cost"]["unit"] = "click"  # b reaches young (with a) and old (with a and c; c has E)
    assert _load_warnings(tmp_path, d) == [
        "segments[0]: segment 'young' is reached by click channel(s) b and impression channel(s) a with no "
        "effectiveness, so one click counts as one impression in its exposure; give effectiveness (e.g. "
        "{b: 100} for a click worth 100 impressions) or buy its channels in one unit"
    ]
    d["segments"][0]["effectiveness"] = {"b": 50.0}
    assert _load_warnings(tmp_path, d) == []
    d = toy()
    d["segments"][0]["reach"] = {"b": 0.2}
    d["channels"][1]["cost"]["unit"] = "click"  # young: b alone; old: a, b, c with an effectiveness
    assert _load_warnings(tmp_path, d) == []


@pytest.mark.parametrize("name", list_scenarios())
def test_every_builtin_scenario_loads_without_warnings(tmp_path: Any, name: str) -> None:
    """Segment-free scenarios too: the first version warned that each of their channels reached no segment."""
    data = load_scenario(name).model_dump(mode="json")
    assert _load_warnings(tmp_path, data) == []


def test_the_cli_prints_a_load_warning_as_one_line(tmp_path: Any, capsys: Any) -> None:
    """``budgetgym show`` of such a file printed Python's two-line warning with a code location
    (``.../cli_show.py:40: ScenarioWarning: ...`` and the source line); it prints ``warning: <file>: ...``
    and still shows the scenario (exit 0)."""
    import yaml
    from conftest import run_cli

    d = toy()
    d["channels"].append({"name": "d", "cost": {"unit": "impression", "price": 4, "ref_spend": 1000}})
    path = tmp_path / "s.yaml"
    path.write_text(yaml.safe_dump(d), encoding="utf-8")
    code, out, err = run_cli(capsys, "show", str(path))
    assert code == 0 and "d" in out
    assert set(err.splitlines()) == {f"warning: scenario file '{path}': channels.d: reaches no segment (its reach is "
                                     f"0 in every segment), so it converts nothing whatever it spends; list it in a "
                                     f"segment's reach or remove it"}, err


def test_a_family_files_nominal_scenario_is_warned_of_once() -> None:
    import warnings

    from budgetgym.envs.errors import ScenarioWarning
    from budgetgym.envs.family import family_from_dict

    d = toy()
    d["channels"].append({"name": "d", "cost": {"unit": "impression", "price": 4, "ref_spend": 1000}})
    vary = {"segments.young.value.mean": {"dist": "uniform", "low": 30, "high": 50}}
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        family = family_from_dict({"family": "f", "scenario": d, "vary": vary}, source="family file 'f.yaml'")
        family.sample(0, "test")  # a draw is not warned of again
    assert [(w.category, str(w.message).split(": ")[:2]) for w in caught] == [
        (ScenarioWarning, ["family file 'f.yaml' (nominal scenario)", "channels.d"])]


def test_the_printed_segment_table_shows_sizes_and_credits_summing_to_100_percent() -> None:
    """Sizes 39.8667%, 34.6333% and 25.5% printed each to a whole percent read 40 + 35 + 26 = 101%; the
    table rounds them together (largest remainder) to 40 + 35 + 25, and each segment's credited shares
    likewise. A segment that no channel reaches has no conversions to credit: '–', not 0% from every
    channel (shares of nothing, which would sum to 0%)."""
    from budgetgym.planner import plan
    from budgetgym.planner.plan_text import segment_rows

    sc = load_scenario("overlap-5").override({
        "segments.young.size": 0.398667, "segments.families.size": 0.346333, "segments.seniors.size": 0.255,
        "segments.seniors.reach.display": 0.0, "segments.seniors.reach.ctv": 0.0, "segments.seniors.reach.audio": 0.0,
    })
    result = plan(sc, curves=False)
    rows = segment_rows(result)
    assert rows is not None
    header, body = rows
    assert [r[header.index("size")] for r in body] == ["40%", "35%", "25%"]
    credits = [[r[j] for j, h in enumerate(header) if h.startswith("from ")] for r in body]
    for row, seg in zip(credits, result.segments.itertuples(), strict=True):  # type: ignore[union-attr]
        if seg.conversions > 0:
            assert sum(float(c.rstrip("%")) for c in row) == 100.0
        else:
            assert row == ["–"] * len(row)
    assert result.segments is not None and result.segments["conversions"].iloc[2] == 0.0


@pytest.mark.parametrize(("units", "said"), [
    ({}, "exposure is the effective exposure (impressions) reaching"),
    ({"social": "click", "display": "click", "video": "click", "ctv": "click", "audio": "click"},
     "exposure is the effective exposure (clicks) reaching"),
    ({"social": "click"}, "exposure is the effective exposure (in each segment's unit: impressions, and clicks times"),
])
def test_the_segment_table_states_the_exposure_unit(units: dict[str, str], said: str) -> None:
    """The exposure columns count what the channels buy (configs/README.md "Segments", Units): impressions on
    overlap-5's CPM channels, clicks when every channel is bought per click, and with both a segment's own unit,
    clicks weighted by their effectiveness. The printed note said 'effective exposure' without a unit."""
    from budgetgym.planner import plan
    from budgetgym.planner.plan_text import segment_note

    sc = load_scenario("overlap-5").override({f"channels.{c}.cost.unit": u for c, u in units.items()})
    note = segment_note(plan(sc, curves=False))
    assert said in note


def test_a_family_varying_a_segment_size_draws_relative_sizes(tmp_path: Any) -> None:
    r"""A distribution on ``segments[i].size`` gives a relative weight: each draw's sizes (and the
    nominal's) are the drawn values divided by their sum, :math:`\sigma_s = w_s / \sum_r w_r`. Every
    such family was refused at load ("sizes sum to 1.00118"), the sum of a continuous draw being 1 with
    probability 0, under a message that told the user to narrow the distribution."""
    import yaml

    from budgetgym.envs.distributions import LogNormal, draw_value
    from budgetgym.envs.scenario_family import draw_entropy

    d = toy()
    d["segments"][0]["size"] = {"dist": "lognormal", "median": 0.4, "sd": 0.5}
    path = tmp_path / "sizes.yaml"
    path.write_text(yaml.safe_dump({"family": "sizes", "seed": 3, "scenario": d}))
    family = load_family(path)
    assert [s.size for s in family.nominal().segments or []] == pytest.approx([0.4, 0.6], rel=1e-12)
    dist = LogNormal(dist="lognormal", median=0.4, sd=0.5)
    for split in ("train", "test"):
        for i in range(4):
            w = draw_value(dist, np.random.default_rng(np.random.SeedSequence(draw_entropy(3, split, i))))
            sizes = [s.size for s in family.sample(i, split).segments or []]  # type: ignore[arg-type]
            assert sizes == pytest.approx([w / (w + 0.6), 0.6 / (w + 0.6)], rel=1e-12)
    # the same through vary, by segment name
    base = toy()
    path.write_text(yaml.safe_dump({"family": "sizes", "seed": 3, "scenario": base,
                                    "vary": {"segments.young.size": {"dist": "lognormal", "median": 0.4, "sd": 0.5}}}))
    assert load_family(path).sample(2, "test") == family.sample(2, "test")


def test_show_says_that_drawn_sizes_are_weights(tmp_path: Any, capsys: Any) -> None:
    """``budgetgym show`` of a family drawing a size says under its distributions that the sizes are divided by
    their sum (a user reading ``segments.0.size: lognormal(median=0.4, ...)`` would take it as the size)."""
    import yaml
    from conftest import run_cli

    d = toy()
    path = tmp_path / "sizes.yaml"
    path.write_text(yaml.safe_dump({"family": "sizes", "scenario": d}))
    assert "sizes are weights" not in run_cli(capsys, "show", str(path))[1]
    d["segments"][1]["size"] = {"dist": "uniform", "low": 0.5, "high": 0.7}
    path.write_text(yaml.safe_dump({"family": "sizes", "scenario": d}))
    code, out, err = run_cli(capsys, "show", str(path))
    assert code == 0, err
    assert "segment sizes are weights: each draw's sizes are divided by their sum" in out


def test_fixed_sizes_that_do_not_sum_to_one_are_still_refused_in_a_family(tmp_path: Any) -> None:
    """Only a drawn size is relative: fixed sizes summing to 0.9 in a family that varies something else
    are a typo, refused as in a scenario."""
    import yaml

    d = toy()
    d["segments"][0]["size"] = 0.3
    d["segments"][0]["reach"]["a"] = {"dist": "uniform", "low": 0.4, "high": 0.7}
    path = tmp_path / "typo.yaml"
    path.write_text(yaml.safe_dump({"family": "typo", "scenario": d}))
    with pytest.raises(ScenarioError, match=r"sizes sum to 0.9 \(young 0.3, old 0.6\); expected 1"):
        load_family(path)


def test_plan_summary_json_holds_the_segment_table(tmp_path: Any, capsys: Any) -> None:
    """``budgetgym plan`` on a segmented scenario: ``summary.json`` has a ``segments`` key, segment name ->
    that segment's row of ``segments.csv`` (every column, equal to the file's numbers), so a script reading the
    summary gets the segment figures the printed table and the CSV show (it had none)."""
    import json

    import pandas as pd
    import yaml
    from conftest import run_cli

    path = tmp_path / "seg.yaml"
    path.write_text(yaml.safe_dump(toy(horizon=3)))
    code, _, err = run_cli(capsys, "plan", str(path), "--out", str(tmp_path / "p"), "--no-plots")
    assert code == 0, err
    summary = json.loads((tmp_path / "p" / "summary.json").read_text())
    table = pd.read_csv(tmp_path / "p" / "segments.csv")
    assert list(summary["segments"]) == list(table["segment"]) == ["young", "old"]
    for row in table.to_dict(orient="records"):
        got = summary["segments"][row.pop("segment")]
        assert list(got) == list(row)
        np.testing.assert_allclose([got[k] for k in row], list(row.values()), rtol=1e-9)
    assert sum(summary["segments"][s]["revenue"] for s in ("young", "old")) == pytest.approx(
        summary["recommended"]["value"], rel=1e-9)


def test_a_distribution_on_the_only_segments_size_is_refused(tmp_path: Any) -> None:
    """Drawn sizes are weights divided by their sum, so a single segment's share is 1 in every draw: a distribution
    on it varied nothing, and the family was planned and evaluated over identical draws (P10 = P50 = P90) as if
    it were uncertain. It is a one-line error naming the field."""
    import yaml

    d = toy()
    d["segments"] = d["segments"][1:]
    d["segments"][0]["size"] = {"dist": "lognormal", "median": 0.5, "sd": 0.3}
    path = tmp_path / "one.yaml"
    path.write_text(yaml.safe_dump({"family": "one", "scenario": d}))
    with pytest.raises(ScenarioError, match=r"one.yaml.*segments\.old\.size: .*only segment.* 1 in every draw"):
        load_family(path)


@pytest.mark.parametrize(("sizes", "said"), [
    ([0.6, 0.5], r"segments\.old\.size, segments\.mid\.size: the fixed sizes sum to 1\.1, leaving no share for the "
                 r"drawn segments\.young\.size; expected fixed sizes summing to less than 1"),
    ([0.4, 0.15], r"segments\[\*\]\.size: the sizes sum to 0\.9 \(young 0\.35, old 0\.4, mid 0\.15\) with the drawn "
                  r"segments\.young\.size at its nominal value 0\.35; expected 1"),
])
def test_a_family_mixing_fixed_and_drawn_sizes_refuses_sizes_that_are_not_shares(
    tmp_path: Any, sizes: list[float], said: str
) -> None:
    """In a family that draws some segment sizes and fixes others, the written sizes (a drawn one at its nominal
    value) are the nominal campaign's shares, each draw's divided by their sum. A typo in a fixed size (0.6 and 0.5
    beside a drawn 0.35, or 0.4 and 0.15) was silently rescaled (shares 0.24/0.41/0.34 at the nominal); it is a
    one-line error naming the fields, through the template and through ``vary``."""
    import yaml

    d = toy()
    d["segments"].append({**d["segments"][1], "name": "mid", "reach": {"b": 0.2}, "effectiveness": {}})
    d["segments"][1]["size"], d["segments"][2]["size"] = sizes
    lognormal = {"dist": "lognormal", "median": 0.35, "sd": 0.4}
    d["segments"][0]["size"] = lognormal
    path = tmp_path / "typo.yaml"
    path.write_text(yaml.safe_dump({"family": "typo", "scenario": d}))
    with pytest.raises(ScenarioError, match="typo.yaml': " + said):
        load_family(path)
    d["segments"][0]["size"] = 0.35
    path.write_text(yaml.safe_dump({"family": "typo", "scenario": d, "vary": {"segments.young.size": lognormal}}))
    with pytest.raises(ScenarioError, match=said):
        load_family(path)


def test_a_family_mixing_fixed_and_drawn_sizes_that_are_shares_at_the_nominal_loads(tmp_path: Any) -> None:
    """Sizes summing to 1 with the drawn one at its nominal value load, the nominal shares as written; a family
    drawing every size gives pure weights, whatever their sum."""
    import yaml

    d = toy()
    d["segments"].append({**d["segments"][1], "name": "mid", "reach": {"b": 0.2}, "effectiveness": {}})
    d["segments"][0]["size"] = {"dist": "uniform", "low": 0.25, "high": 0.45}
    d["segments"][1]["size"], d["segments"][2]["size"] = 0.4, 0.25
    path = tmp_path / "ok.yaml"
    path.write_text(yaml.safe_dump({"family": "ok", "scenario": d}))
    assert [s.size for s in load_family(path).nominal().segments or []] == pytest.approx([0.35, 0.4, 0.25])
    for j in range(3):
        d["segments"][j]["size"] = {"dist": "lognormal", "median": 1.0, "sd": 0.3}
    path.write_text(yaml.safe_dump({"family": "ok", "scenario": d}))
    assert [s.size for s in load_family(path).nominal().segments or []] == pytest.approx([1 / 3] * 3)


def test_show_names_drawn_segment_fields_by_the_segments_name(tmp_path: Any, capsys: Any) -> None:
    """``budgetgym show`` of a family lists a drawn segment field by the segment's name, as it names a channel's
    (``segments.old.size``, the path ``vary`` takes), where it printed the index (``segments.1.size``)."""
    import yaml
    from conftest import run_cli

    d = toy()
    d["segments"][1]["size"] = {"dist": "uniform", "low": 0.5, "high": 0.7}
    d["segments"][0]["reach"]["a"] = {"dist": "uniform", "low": 0.6, "high": 0.7}
    path = tmp_path / "sizes.yaml"
    path.write_text(yaml.safe_dump({"family": "sizes", "scenario": d}))
    assert list(load_family(path).distributions) == ["segments.young.reach.a", "segments.old.size"]
    code, out, err = run_cli(capsys, "show", str(path))
    assert code == 0, err
    assert "  segments.old.size: uniform" in out and "segments.1" not in out
