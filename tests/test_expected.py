"""ExpectedModel (matrix form of the expected reward) against the step-wise dynamics core.

* ``ExpectedModel.value`` equals :func:`evaluate_plan` on random plans for scenarios that
  exercise every part of the dynamics (adstock kernels, delays with conversions lost after
  the horizon, seasonality, shocks, a drift path, Hill and logistic curves, every reward);
* the gradient equals central finite differences of :func:`evaluate_plan`;
* the Hessian blocks equal finite differences of the gradient, and the Hessian really is
  block-diagonal by channel;
* a 1-channel, 2-step example worked out by hand.

Helpers live in this file on purpose (``tests/conftest.py`` belongs to another suite).
"""

from __future__ import annotations

import copy
import math

import numpy as np
import pytest
from conftest import hill_channel

from budgetgym.envs import (
    ChannelBudgetEnv,
    ChannelModel,
    Scenario,
    evaluate_plan,
    scenario_from_dict,
    scenario_path,
)
from budgetgym.envs.allocation import spend_to_pacing_action
from budgetgym.envs.brief import CampaignBrief
from budgetgym.envs.expected import ExpectedModel

# ---------------------------------------------------------------------------- helpers


def _scenario(channels: list[dict], horizon: int = 8, budget: float | None = None, **top: object):
    data: dict = {
        "name": "test-expected",
        "horizon": horizon,
        "budget": {"total": budget if budget is not None else 1000.0 * horizon, "pacing": "even"},
        "channels": channels,
        "noise": {"conversions": "none"},
    }
    data.update(copy.deepcopy(top))
    return scenario_from_dict(data)


def _scenarios() -> dict[str, tuple[object, int | None]]:
    """name -> (scenario, seed for the path; None = nominal path)."""
    out: dict[str, tuple[object, int | None]] = {}
    out["geometric-hill"] = (
        _scenario(
            [
                hill_channel("a", adstock={"type": "geometric", "decay": 0.5}),
                hill_channel(
                    "b",
                    cost={
                        "unit": "impression",
                        "price": 8.0,
                        "ref_spend": 1500.0,
                        "elasticity": 0.6,
                    },
                    adstock={"type": "geometric", "decay": 0.8, "window": 20},  # window > horizon
                    saturation={
                        "type": "hill",
                        "max_response": 60.0,
                        "half_saturation": 90000.0,
                        "slope": 0.7,
                    },
                ),
                hill_channel("c", adstock={"type": "geometric", "decay": 0.3, "normalize": True}),
            ],
            horizon=10,
        ),
        None,
    )
    out["weibull-logistic-revenue"] = (
        _scenario(
            [
                hill_channel(
                    "cdf",
                    adstock={"type": "weibull_cdf", "shape": 0.8, "scale": 2.0, "window": 6},
                    saturation={"type": "logistic", "max_response": 80.0, "rate": 0.002},
                    value={"mean": 30.0},
                ),
                hill_channel(
                    "pdf",
                    adstock={"type": "weibull_pdf", "shape": 2.0, "scale": 3.0, "window": 5},
                    value={"mean": 50.0},
                ),
                hill_channel(
                    "pdf-norm",
                    adstock={
                        "type": "weibull_pdf",
                        "shape": 1.5,
                        "scale": 2.0,
                        "window": 4,
                        "normalize": True,
                    },
                    saturation={
                        "type": "hill",
                        "max_response": 70.0,
                        "half_saturation": 400.0,
                        "slope": 2.5,
                    },
                    value={"mean": 20.0},
                ),
            ],
            horizon=9,
            reward="revenue",
        ),
        None,
    )
    out["delays-profit"] = (
        _scenario(
            [
                # window 14 > horizon 7: a large part of late response arrives after the end
                hill_channel(
                    "geo",
                    delay={"type": "geometric", "mean_lag": 2.0, "window": 14},
                    value={"mean": 12.0},
                ),
                hill_channel(
                    "gamma",
                    adstock={"type": "geometric", "decay": 0.4},
                    delay={"type": "gamma", "mean_lag": 3.0, "shape": 2.0, "window": 10},
                    value={"mean": 9.0},
                ),
                hill_channel("now", value={"mean": 7.0}),
            ],
            horizon=7,
            reward="profit",
        ),
        None,
    )
    out["season-shocks-drift"] = (
        _scenario(
            [
                hill_channel(
                    "a",
                    adstock={"type": "geometric", "decay": 0.5},
                    delay={"type": "geometric", "mean_lag": 1.0, "window": 3},
                ),
                hill_channel(
                    "b",
                    cost={
                        "unit": "impression",
                        "price": 5.0,
                        "ref_spend": 2000.0,
                        "elasticity": 0.2,
                    },
                    saturation={"type": "logistic", "max_response": 90.0, "rate": 1.0e-5},
                    drift_sd=0.3,
                ),
                hill_channel(
                    "c",
                    saturation={
                        "type": "hill",
                        "max_response": 50.0,
                        "half_saturation": 500.0,
                        "slope": 3.0,
                    },
                ),
            ],
            horizon=12,
            start_day=40.0,
            seasonality={
                "demand": {
                    "weekly_amplitude": 0.3,
                    "weekly_peak": 2.0,
                    "yearly_amplitude": 0.2,
                    "yearly_peak": 50.0,
                },
                "cost": {"weekly_amplitude": 0.2, "weekly_peak": 5.0},
            },
            drift={"sd": 0.1, "mean_reversion": 0.2},
            shocks=[
                {"kind": "price", "channels": ["a"], "start": 2, "duration": 3, "multiplier": 1.8},
                {"kind": "demand", "start": 6, "duration": 2, "multiplier": 0.5},
                {"kind": "outage", "channels": ["c"], "start": 9, "duration": 5},
            ],
            reward="revenue",
        ),
        7,
    )
    out["hill-shapes-elasticity"] = (
        _scenario(
            [
                hill_channel(
                    "s-curve",
                    saturation={
                        "type": "hill",
                        "max_response": 100.0,
                        "half_saturation": 700.0,
                        "slope": 2.0,
                    },
                ),
                hill_channel(
                    "steep",
                    saturation={
                        "type": "hill",
                        "max_response": 40.0,
                        "half_saturation": 300.0,
                        "slope": 0.5,
                    },
                ),
                hill_channel(
                    "inventory",  # elasticity 1: exposure capped at scale * ref_spend
                    cost={"unit": "click", "price": 2.0, "ref_spend": 500.0, "elasticity": 1.0},
                    adstock={"type": "geometric", "decay": 0.2},
                ),
                hill_channel(
                    "logit", saturation={"type": "logistic", "max_response": 60.0, "rate": 0.004}
                ),
            ],
            horizon=6,
        ),
        None,
    )
    out["far-below-half-saturation"] = (
        # a click at 1e13: a step's spend buys ~5e-14 of kappa, below the curves' floor of 1e-12 kappa (the
        # derivatives were taken at that floor, 4.6x off the slope at a slope of 0.5); a value per conversion
        # of 1e8 makes its gradient the size of the other channel's
        _scenario(
            [
                hill_channel(
                    "dear",
                    cost={"unit": "click", "price": 1.0e13, "ref_spend": 800.0, "elasticity": 0.3},
                    adstock={"type": "geometric", "decay": 0.5},
                    saturation={"type": "hill", "max_response": 100.0, "half_saturation": 600.0, "slope": 0.5},
                    value={"mean": 1.0e8},
                ),
                hill_channel("cheap", value={"mean": 30.0}),
            ],
            horizon=6,
            reward="revenue",
        ),
        None,
    )
    return out


SCENARIOS = _scenarios()


def _model(sc, seed):
    return ExpectedModel(ChannelModel.from_scenario(sc), scenario_path(sc, seed))


def _random_plans(sc, n: int, rng: np.random.Generator, zeros: bool = True) -> np.ndarray:
    T, K = sc.horizon, sc.n_channels
    X = rng.uniform(0.0, 2.0, (n, T, K)) * sc.step_budget / K
    if zeros:
        X[rng.random((n, T, K)) < 0.15] = 0.0  # switched-off channels/steps
    return X


# ----------------------------------------------------------------------------- value


@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_value_equals_stepwise_core(name: str) -> None:
    sc, seed = SCENARIOS[name]
    em = _model(sc, seed)
    X = _random_plans(sc, 40, np.random.default_rng(11))
    core = evaluate_plan(sc, X, seed=seed)
    matrix = em.value(X)
    assert core.shape == matrix.shape == (40,)
    np.testing.assert_allclose(matrix, core, rtol=1e-10, atol=1e-9)
    # one plan at a time gives the same numbers as the batch
    for k in range(3):
        assert em.value(X[k]) == pytest.approx(float(evaluate_plan(sc, X[k], seed=seed)), rel=1e-10)
    # derivatives() reports the same J
    J, _, _ = em.derivatives(X[0] + 1.0)
    assert J == pytest.approx(float(evaluate_plan(sc, X[0] + 1.0, seed=seed)), rel=1e-10)


def test_value_uses_the_drift_path_of_the_seed() -> None:
    sc, seed = SCENARIOS["season-shocks-drift"]
    X = _random_plans(sc, 5, np.random.default_rng(3), zeros=False)
    with_drift = _model(sc, seed).value(X)
    nominal = _model(sc, None).value(X)
    other = _model(sc, seed + 1).value(X)
    assert not np.allclose(with_drift, nominal)
    assert not np.allclose(with_drift, other)
    np.testing.assert_allclose(nominal, evaluate_plan(sc, X), rtol=1e-10)
    np.testing.assert_allclose(other, evaluate_plan(sc, X, seed=seed + 1), rtol=1e-10)


def test_conversions_after_the_horizon_are_not_counted() -> None:
    """A long delay loses most of the last steps' response; the matrix form knows it."""
    ch = hill_channel("late", delay={"type": "geometric", "mean_lag": 4.0, "window": 30})
    sc = _scenario([ch], horizon=5)
    em = _model(sc, None)
    X = np.full((5, 1), 1000.0)
    no_delay = _model(_scenario([hill_channel("late")], horizon=5), None).value(X)
    assert em.value(X) == pytest.approx(float(evaluate_plan(sc, X)), rel=1e-12)
    # lag probabilities q_d ~ rho**d; the share arriving by the end is sum_t Qbar(T-1-t) / T
    rho = 4.0 / 5.0
    q = rho ** np.arange(30)
    q /= q.sum()
    arrive = np.cumsum(q)[:5].sum() / 5
    assert em.value(X) == pytest.approx(no_delay * arrive, rel=1e-12)


# -------------------------------------------------------------------------- gradient


def _interior_plan(sc, rng: np.random.Generator) -> np.ndarray:
    T, K = sc.horizon, sc.n_channels
    return rng.uniform(0.3, 1.7, (T, K)) * sc.step_budget / K


@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_gradient_matches_central_differences(name: str) -> None:
    sc, seed = SCENARIOS[name]
    em = _model(sc, seed)
    X = _interior_plan(sc, np.random.default_rng(5))
    T, K = X.shape
    _, grad, _ = em.derivatives(X, hessian=False)
    h = 1e-4 * X  # relative step per entry
    E = np.zeros((T * K, T, K))
    E[np.arange(T * K), np.repeat(np.arange(T), K), np.tile(np.arange(K), T)] = h.ravel()
    # central differences of the step-wise core (independent of the matrix form)
    up, down = evaluate_plan(sc, X + E, seed=seed), evaluate_plan(sc, X - E, seed=seed)
    fd = ((up - down) / (2 * h.ravel())).reshape(T, K)
    scale = np.abs(grad).max()
    np.testing.assert_allclose(grad, fd, rtol=1e-6, atol=1e-7 * scale)


@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_hessian_blocks_match_differences_of_the_gradient(name: str) -> None:
    sc, seed = SCENARIOS[name]
    em = _model(sc, seed)
    X = _interior_plan(sc, np.random.default_rng(9))
    T, K = X.shape
    _, _, H = em.derivatives(X)
    assert H.shape == (K, T, T)
    np.testing.assert_allclose(H, H.transpose(0, 2, 1), rtol=1e-12, atol=1e-15 * np.abs(H).max())
    # full finite-difference Hessian d grad[t, i] / d X[s, j]
    full = np.zeros((T, K, T, K))
    for s in range(T):
        for j in range(K):
            h = 1e-5 * X[s, j]
            Xp, Xm = X.copy(), X.copy()
            Xp[s, j] += h
            Xm[s, j] -= h
            full[:, :, s, j] = (em.derivatives(Xp, False)[1] - em.derivatives(Xm, False)[1]) / (
                2 * h
            )
    scale = np.abs(H).max()
    for i in range(K):
        np.testing.assert_allclose(H[i], full[:, i, :, i], rtol=1e-5, atol=1e-7 * scale)
    # channels are independent: every off-diagonal block is zero
    off = full.copy()
    for i in range(K):
        off[:, i, :, i] = 0.0
    assert np.abs(off).max() <= 1e-9 * scale


def test_hessian_is_negative_semidefinite_for_concave_curves() -> None:
    sc, seed = SCENARIOS["geometric-hill"]
    em = _model(sc, seed)
    assert em.model.is_concave
    rng = np.random.default_rng(2)
    for _ in range(5):
        _, _, H = em.derivatives(_interior_plan(sc, rng))
        assert np.linalg.eigvalsh(H).max() <= 1e-12 * np.abs(H).max()


# ---------------------------------------------------------------- worked by hand


def test_one_channel_two_steps_by_hand() -> None:
    r"""One click-priced channel, two steps, geometric adstock and a one-step delay.

    * price 2 per click, elasticity 0            -> exposure e_t = x_t / 2
    * geometric adstock decay 0.5 (window = horizon = 2) -> w = [1, 0.5]
    * Hill beta = 100, kappa = 100, slope 1      -> f(a) = 100 a / (a + 100)
    * geometric delay, mean lag 1, window 2      -> rho = 1/2, q ∝ [1/2, 1/4] = [2/3, 1/3]

    Plan x = [600, 100]:

    * e = [300, 50]
    * a_0 = 300,                 f(a_0) = 100 * 300 / 400 = 75
    * a_1 = 50 + 0.5 * 300 = 200, f(a_1) = 100 * 200 / 300 = 200/3
    * conversions arriving at step 0: 2/3 * 75                      = 50
    * conversions arriving at step 1: 2/3 * 200/3 + 1/3 * 75 = 400/9 + 25 = 625/9
    * (1/3 * 200/3 = 200/9 would arrive at step 2, after the horizon: not counted)
    * expected episode reward: 50 + 625/9 = 1075/9 = 119.444...
    """
    ch = hill_channel(
        "only",
        cost={"unit": "click", "price": 2.0, "ref_spend": 50.0, "elasticity": 0.0},
        adstock={"type": "geometric", "decay": 0.5},
        saturation={"type": "hill", "max_response": 100.0, "half_saturation": 100.0, "slope": 1.0},
        delay={"type": "geometric", "mean_lag": 1.0, "window": 2},
    )
    sc = scenario_from_dict(
        {
            "name": "by-hand",
            "horizon": 2,
            "budget": {"total": 700.0, "pacing": "agent", "max_step_multiple": 2.0},
            "channels": [ch],
            "noise": {"conversions": "none"},
        }
    )
    plan = np.array([[600.0], [100.0]])
    expected = 1075.0 / 9.0
    assert float(evaluate_plan(sc, plan)) == pytest.approx(expected, rel=1e-13)
    em = _model(sc, None)
    assert float(em.value(plan)) == pytest.approx(expected, rel=1e-13)
    np.testing.assert_allclose(em.weight[:, 0], [1.0, 2.0 / 3.0])  # Qbar(1) = 1, Qbar(0) = 2/3

    # gradient by hand: f'(a) = 100 * 100 / (a + 100)^2; de/dx = 1/2
    # dJ/dx_1 = 1/2 * (2/3) f'(200)                       = 1/3 * 1/9         = 1/27
    # dJ/dx_0 = 1/2 * (1 * f'(300) + (2/3) * 0.5 * f'(200)) = 1/2 (1/16 + 1/27)
    _, grad, _ = em.derivatives(plan)
    np.testing.assert_allclose(grad[:, 0], [0.5 * (1 / 16 + 1 / 27), 1 / 27], rtol=1e-12)

    # the environment plays the same plan and reports the same expected conversions
    env = ChannelBudgetEnv(sc)
    env.reset(seed=0)
    remaining, got = 700.0, []
    for x in plan[:, 0]:
        u = spend_to_pacing_action(x, remaining, env.step_cap)
        _, reward, _, _, info = env.step(np.array([1.0, u]))
        remaining -= float(info["spend"].sum())
        got.append(info["expected_conversions"][0])
        assert reward == pytest.approx(info["expected_reward"], rel=1e-12)  # noise "none"
    np.testing.assert_allclose(got, [50.0, 625.0 / 9.0], rtol=1e-12)


def _one_click_channel(name: str, horizon: int, adstock: dict) -> Scenario:
    """One channel at a click price of 1 with no auction pressure (``e = x`` clicks), Hill beta 10,
    kappa 100, slope 1, ``adstock`` as given, budget 100 a step."""
    return scenario_from_dict(
        {
            "name": name,
            "horizon": horizon,
            "budget": {"total": 100.0 * horizon},
            "channels": [
                hill_channel(
                    "a",
                    cost={"unit": "click", "price": 1.0, "ref_spend": 1.0, "elasticity": 0.0},
                    adstock=adstock,
                    saturation={"type": "hill", "max_response": 10.0, "half_saturation": 100.0, "slope": 1.0},
                )
            ],
        }
    )


def test_steady_state_response_hand_value():
    # click price 1, no auction pressure: e = x = 100 clicks; geometric decay 0.5 over a 2-lag
    # window: weights [1, 0.5], a = 1.5 * 100 = 150; Hill beta 10, kappa 100, slope 1:
    # f = 10 * 150 / (150 + 100) = 6 conversions per step
    from budgetgym.envs.dynamics import ChannelModel

    sc = _one_click_channel("steady", 5, {"type": "geometric", "decay": 0.5, "window": 2})
    m = ChannelModel.from_scenario(sc)
    np.testing.assert_allclose(m.steady_state_response(np.array([100.0])), [6.0], rtol=1e-14)
    # an explicit scale (e.g. price doubled by the path): e = 50, a = 75, f = 10 * 75 / 175
    np.testing.assert_allclose(
        m.steady_state_response(np.array([100.0]), np.array([0.5])), [30 / 7], rtol=1e-14
    )


@pytest.mark.parametrize(
    "adstock",
    [
        {"type": "geometric", "decay": 0.5, "window": 10},
        # Weibull CDF, k = 1, lambda = 1 / ln 2: 1 - F(j) = 2^-j, so w_l = 2^-(1 + ... + l) = 1, 1/2, 1/8, ...
        {"type": "weibull_cdf", "shape": 1.0, "scale": 1.0 / math.log(2.0), "window": 10},
    ],
)
def test_steady_state_sums_only_the_lags_the_episode_holds(adstock):
    # An explicit window (10) longer than the horizon (3): one step's spend adds up, inside the
    # episode, to w_0 + w_1 + w_2 of its exposure, never to the lags past the horizon (the
    # docstring's "at most the horizon"). e = 100 clicks; Hill beta 10, kappa 100, slope 1.
    held = 1.75 if adstock["type"] == "geometric" else 1.0 + 0.5 + 0.125
    sc = _one_click_channel("steady-long-window", 3, adstock)
    a = held * 100.0
    f = 10.0 * a / (a + 100.0)
    m = ChannelModel.from_scenario(sc)
    np.testing.assert_allclose(m.steady_state_response(np.array([100.0])), [f], rtol=1e-14)
    # the brief's conversion scale (the observation's normaliser) is this steady state at B/T = 100
    assert CampaignBrief.from_scenario(sc).conversion_scale == pytest.approx(f, rel=1e-14)
    # and it is what the episode reaches: the last of three steps at B/T has the full held carry-over
    env = ChannelBudgetEnv(sc.override({"noise.conversions": "none"}))
    env.reset(seed=0)
    infos = [env.step(np.zeros(1))[4] for _ in range(3)]
    assert infos[-1]["expected_conversions"][0] == pytest.approx(f, rel=1e-14)


def _geometric_members(reward: str = "conversions") -> list[ExpectedModel]:
    """Members of one horizon whose kernels are geometric: windows cut below ``T`` (0.5), past it (0.97),
    normalised, no carry-over (decay 0); S-shaped and concave Hill curves, a logistic; ``reward`` for all."""
    out = []
    for k, (decays, slope) in enumerate([((0.5, 0.97, 0.0), 1.0), ((0.3, 0.8, 0.6), 2.2), ((0.9, 0.05, 0.4), 0.7)]):
        chans = [hill_channel("a", adstock={"type": "geometric", "decay": decays[0]}),
                 hill_channel("b", adstock={"type": "geometric", "decay": decays[1]},
                              saturation={"type": "hill", "max_response": 80.0 + k, "half_saturation": 400.0,
                                          "slope": slope}),
                 hill_channel("c", adstock={"type": "geometric", "decay": decays[2], "normalize": True},
                              saturation={"type": "logistic", "max_response": 60.0, "rate": 0.002})]
        sc = _scenario(chans, horizon=40, reward=reward)
        out.append(ExpectedModel(ChannelModel.from_scenario(sc), scenario_path(sc, None)))
    return out


def test_stacked_mean_model_equals_the_loop_over_its_members() -> None:
    """MeanExpectedModel's stacked members (geometric kernels: the Hessian from the discounted tail
    sums, not W^T diag(c) W) against the weighted sum of each member's own value, gradient and Hessian."""
    from budgetgym.envs.expected import MeanExpectedModel

    rng = np.random.default_rng(3)
    for reward in ("conversions", "profit"):
        members = _geometric_members(reward)
        weights = np.array([0.2, 0.5, 0.3])
        mean = MeanExpectedModel(members, weights)
        assert mean._stacked is not None
        X = rng.uniform(0.0, 2000.0, (40, 3))
        X[rng.random((40, 3)) < 0.2] = 0.0  # at zero spend: the curves' floors
        want_J = sum(p * m.value(X) for p, m in zip(weights, members, strict=True))
        parts = [m.derivatives(X) for m in members]
        want_g = sum(p * g for p, (_, g, _) in zip(weights, parts, strict=True))
        want_H = sum(p * H for p, (_, _, H) in zip(weights, parts, strict=True))
        J, g, H = mean.derivatives(X)
        assert J == pytest.approx(want_J, rel=1e-13)
        assert float(mean.value(X)) == pytest.approx(want_J, rel=1e-13)
        np.testing.assert_allclose(g, want_g, rtol=1e-12, atol=1e-14 * np.abs(want_g).max())
        np.testing.assert_allclose(H, want_H, rtol=1e-11, atol=1e-13 * np.abs(want_H).max())


def test_mean_model_of_other_kernels_loops_over_its_members() -> None:
    """A Weibull kernel is not geometric: the mean takes each member's own derivatives."""
    from budgetgym.envs.expected import MeanExpectedModel

    members = _geometric_members()
    sc = _scenario([hill_channel("a", adstock={"type": "weibull_cdf", "shape": 2.0, "scale": 3.0, "window": 6}),
                    hill_channel("b"), hill_channel("c")], horizon=40)
    members.append(ExpectedModel(ChannelModel.from_scenario(sc), scenario_path(sc, None)))
    mean = MeanExpectedModel(members)
    assert mean._stacked is None
    X = np.full((40, 3), 500.0)
    J, g, H = mean.derivatives(X)
    assert J == pytest.approx(np.mean([m.value(X) for m in members]), rel=1e-13)


def test_mean_model_does_not_stack_members_past_its_memory_limit(monkeypatch: pytest.MonkeyPatch) -> None:
    """The stack copies every member's lag matrices ``[K, T, T]``: at 1,000 draws of a year of days that
    is 5 GiB more than the members hold. Past ``MAX_STACK_BYTES`` the mean loops over its members (the
    same numbers, the members' memory only)."""
    import budgetgym.envs.expected as expected
    from budgetgym.envs.expected import MeanExpectedModel

    members = _geometric_members()
    need = sum(m.lag.nbytes for m in members)
    monkeypatch.setattr(expected, "MAX_STACK_BYTES", need)
    assert MeanExpectedModel(members)._stacked is not None  # at the limit: stacked
    monkeypatch.setattr(expected, "MAX_STACK_BYTES", need - 1)
    mean = MeanExpectedModel(members)
    assert mean._stacked is None
    X = np.full((40, 3), 700.0)
    J, g, H = mean.derivatives(X)
    parts = [m.derivatives(X) for m in members]
    assert J == pytest.approx(np.mean([j for j, _, _ in parts]), rel=1e-13)
    np.testing.assert_allclose(H, np.mean([h for _, _, h in parts], axis=0), rtol=1e-12)


@pytest.mark.filterwarnings("error::RuntimeWarning")
def test_grid_values_of_a_channel_whose_carry_over_never_reaches_the_episode_are_zero() -> None:
    """A Weibull-PDF kernel of shape 2 weighs lag 0 by pdf(0) = 0: in a one-step episode the channel's
    spend reaches no step (its held weights sum to 0), and the oracle's grid start divided 0 by 0 (NaN
    values, found by the plan property test with random seeds). Its value is 0 at any spend, by hand;
    the other channel's is its Hill curve: 10 x / (x + 100) for x clicks at price 1."""
    CLICK = {"unit": "click", "price": 1.0, "ref_spend": 100.0, "elasticity": 0.0}
    late = hill_channel("late", adstock={"type": "weibull_pdf", "shape": 2.0, "scale": 3.0, "window": 2,
                                         "normalize": False}, cost=CLICK)
    now = hill_channel("now", cost=CLICK,
                       saturation={"type": "hill", "max_response": 10.0, "half_saturation": 100.0, "slope": 1.0})
    sc = _scenario([late, now], horizon=1, budget=200.0)
    m = ChannelModel.from_scenario(sc)
    assert m.held_adstock_sum[0] == 0.0  # the case under test
    x = np.array([0.0, 50.0, 100.0, 200.0])
    g = ExpectedModel(m, scenario_path(sc, None)).grid_values(x)  # [T, G, K]
    np.testing.assert_array_equal(g[0, :, 0], 0.0)
    np.testing.assert_allclose(g[0, :, 1], 10.0 * x / (x + 100.0), rtol=1e-12)
    from budgetgym.envs import solve_oracle

    assert np.all(np.isfinite(solve_oracle(sc).plan))
