"""The dynamics the built-in scenarios rely on, each checked step by step against a hand calculation
on a tiny noise-free variant (plain Python and ``math``; nothing from budgetgym computes an expected
value): an outage with carry-over still converting and a learning ramp (``launch-5``, ``shock-5``),
a bidding war under agent pacing (``competitor-5``), a drift walk from the episode seed
(``drift-5``), a channel's own yearly peak on a multi-day step crossing New Year (``holiday-5``,
``seasonal-5``), a demand shock on overlapping segments (``overlap-5``) and a geometric conversion
lag (``delayed-5``).
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from conftest import channel

from budgetgym.envs import ChannelBudgetEnv, scenario_from_dict


def _play(data: dict, actions: list[list[float]], seed: int = 0) -> list[dict]:
    env = ChannelBudgetEnv(scenario_from_dict(data, source="hand"))
    env.reset(seed=seed)
    return [env.step(np.array(a, dtype=float))[4] for a in actions]


def _hill(a: float, beta: float, kappa: float, s: float = 1.0) -> float:
    return beta * a**s / (a**s + kappa**s)


def test_outage_keeps_the_carry_over_converting_and_a_ramp_follows_it_by_hand():
    # launch-5 / shock-5: a channel in an outage buys nothing with its (charged) spend, while the
    # exposure bought before it still converts through the carry-over; after the launch a learning
    # demand shock x0.6, and a conversion delay of [0.6, 0.4] (geometric, mean 2/3, window 2).
    data = {
        "name": "hand-outage", "horizon": 5, "budget": {"total": 500.0, "pacing": "even"},
        "noise": {"conversions": "none"},
        "shocks": [{"kind": "outage", "channels": ["a"], "start": 1, "duration": 2},
                   {"kind": "demand", "channels": ["a"], "start": 3, "duration": 1, "multiplier": 0.6}],
        "channels": [
            channel("a", cost={"unit": "click", "price": 2.0, "ref_spend": 100.0, "elasticity": 0.0},
                    adstock={"type": "geometric", "decay": 0.5, "window": 3},
                    saturation={"type": "hill", "max_response": 30.0, "half_saturation": 40.0, "slope": 1.0},
                    delay={"type": "geometric", "mean_lag": 2.0 / 3.0, "window": 2}),
            channel("b"),
        ],
    }  # fmt: skip
    infos = _play(data, [[0.0, 0.0]] * 5)
    # each step spends 100: 50 on a (25 clicks), 50 on b (5000 impressions at CPM 10)
    e_a = [25.0, 0.0, 0.0, 25.0, 25.0]
    w = [1.0, 0.5, 0.25]
    q = [0.6, 0.4]  # rho = (2/3) / (5/3) = 0.4: (1 - rho) rho^d = 0.6, 0.24, renormalised over 2 lags
    q = [0.6 / 0.84, 0.24 / 0.84]
    m = [1.0, 1.0, 1.0, 0.6, 1.0]
    r_a = []
    for t, info in enumerate(infos):
        ad = sum(w[lag] * e_a[t - lag] for lag in range(3) if t >= lag)
        r_a.append(m[t] * _hill(ad, 30.0, 40.0))
        mu_a = sum(q[d] * r_a[t - d] for d in range(2) if t >= d)
        mu_b = _hill(5000.0, 50.0, 10_000.0)
        np.testing.assert_allclose(info["spend"], [50.0, 50.0], rtol=1e-12)
        np.testing.assert_allclose(info["impressions"], [e_a[t], 5000.0], rtol=1e-12)
        np.testing.assert_allclose(info["expected_conversions"], [mu_a, mu_b], rtol=1e-12)
        assert info["expected_reward"] == pytest.approx(mu_a + mu_b, rel=1e-12)
    assert r_a[1] > 0 and r_a[2] > 0  # the outage steps still convert from the carry-over


def test_bidding_war_under_agent_pacing_by_hand():
    # competitor-5: price x3 and conversions x0.6 on the auction channel for the middle step, with
    # auction pressure (elasticity 0.5) and agent pacing (u in [-1, 1] spends (u + 1)/2 of
    # min(remaining, 2 B/T)).
    data = {
        "name": "hand-war", "horizon": 3, "budget": {"total": 300.0, "pacing": "agent", "max_step_multiple": 2.0},
        "noise": {"conversions": "none"},
        "shocks": [{"kind": "price", "channels": ["search"], "start": 1, "duration": 1, "multiplier": 3.0},
                   {"kind": "demand", "channels": ["search"], "start": 1, "duration": 1, "multiplier": 0.6}],
        "channels": [
            channel("search", cost={"unit": "click", "price": 1.0, "ref_spend": 100.0, "elasticity": 0.5},
                    saturation={"type": "hill", "max_response": 60.0, "half_saturation": 80.0, "slope": 1.0}),
            channel("social", cost={"unit": "impression", "price": 10.0, "ref_spend": 100.0, "elasticity": 0.0}),
        ],
    }  # fmt: skip
    actions = [[0.1, -0.1, 0.0], [-0.2, 0.2, -0.5], [0.0, 0.0, 1.0]]
    infos = _play(data, actions)
    remaining = 300.0
    for t, (a, info) in enumerate(zip(actions, infos, strict=True)):
        total = (a[2] + 1) / 2 * min(remaining, 200.0)
        z = [math.exp(5 * a[0]), math.exp(5 * a[1])]
        x = [z[0] / sum(z) * total, z[1] / sum(z) * total]
        war = t == 1
        price = [(3.0 if war else 1.0) * (1 + x[0] / 100.0) ** 0.5, 10.0]
        clicks, impressions = x[0] / price[0], 1000 * x[1] / 10.0
        mu = [(0.6 if war else 1.0) * _hill(clicks, 60.0, 80.0), _hill(impressions, 50.0, 10_000.0)]
        remaining -= total
        np.testing.assert_allclose(info["spend"], x, rtol=1e-12)
        np.testing.assert_allclose(info["price"], price, rtol=1e-12)
        np.testing.assert_allclose(info["expected_conversions"], mu, rtol=1e-12)
        assert info["expected_reward"] == pytest.approx(sum(mu), rel=1e-12)
        assert info["remaining_budget"] == pytest.approx(remaining, rel=1e-12)
    assert remaining == pytest.approx(0.0, abs=1e-9)  # the last step spent all that was left


@pytest.mark.parametrize("seed", [0, 3])
def test_drift_walk_from_the_episode_seed_by_hand(seed):
    # drift-5: w_t = (1 - rho) w_{t-1} + sigma_i eps_t, w_{-1} = 0, the response times exp(w); the
    # walk's normals are the first (T, K) block of the episode's generator (numpy's PCG64 seeded
    # with the reset's seed, as Gymnasium seeds it); a channel's drift_sd overrides drift.sd.
    T = 4
    data = {
        "name": "hand-drift", "horizon": T, "budget": {"total": 400.0, "pacing": "even"},
        "noise": {"conversions": "none"}, "drift": {"sd": 0.2, "mean_reversion": 0.25},
        "channels": [channel("a"), channel("b", drift_sd=0.05)],
    }  # fmt: skip
    infos = _play(data, [[0.0, 0.0]] * T, seed=seed)
    eps = np.random.default_rng(seed).standard_normal((T, 2))
    w = [0.0, 0.0]
    for t, info in enumerate(infos):
        w = [0.75 * w[0] + 0.2 * float(eps[t, 0]), 0.75 * w[1] + 0.05 * float(eps[t, 1])]
        base = _hill(5000.0, 50.0, 10_000.0)  # 50 a step at CPM 10, no carry-over
        mu = [math.exp(w[0]) * base, math.exp(w[1]) * base]
        np.testing.assert_allclose(info["expected_conversions"], mu, rtol=1e-12)
        assert info["expected_reward"] == pytest.approx(sum(mu), rel=1e-12)


def test_channel_yearly_peak_on_three_day_steps_across_new_year_by_hand():
    # holiday-5 / seasonal-5: d_t = start_day + t * step_days (day 0 a Monday, 1 January; days past
    # 365 continue into the next year). A channel's own yearly demand peak on day 2 (3 January) times
    # the common weekly demand cycle and a yearly cost cycle; the observation's phase is the next step's.
    T, start, step = 4, 360.0, 3.0
    data = {
        "name": "hand-new-year", "horizon": T, "start_day": start, "step_days": step,
        "budget": {"total": 400.0, "pacing": "even"}, "noise": {"conversions": "none"},
        "seasonality": {"demand": {"weekly_amplitude": 0.3, "weekly_peak": 5.0},
                        "cost": {"yearly_amplitude": 0.2, "yearly_peak": 330.0}},
        "channels": [channel("a", seasonality={"demand": {"yearly_amplitude": 0.5, "yearly_peak": 2.0}}),
                     channel("b")],
    }  # fmt: skip
    env = ChannelBudgetEnv(scenario_from_dict(data, source="hand"))
    env.reset(seed=0)
    for t in range(T):
        obs, _, _, _, info = env.step(np.zeros(2))
        d = start + step * t
        weekly = 1 + 0.3 * math.cos(2 * math.pi * (d - 5.0) / 7)
        own = 1 + 0.5 * math.cos(2 * math.pi * (d - 2.0) / 365.25)
        cost = 1 + 0.2 * math.cos(2 * math.pi * (d - 330.0) / 365.25)
        impressions = 1000 * 50.0 / (10.0 * cost)
        mu = [weekly * own * _hill(impressions, 50.0, 10_000.0), weekly * _hill(impressions, 50.0, 10_000.0)]
        np.testing.assert_allclose(info["price"], [10.0 * cost] * 2, rtol=1e-12)
        np.testing.assert_allclose(info["expected_conversions"], mu, rtol=1e-12)
        nxt = d + step
        phase = [math.sin(2 * math.pi * nxt / 7), math.cos(2 * math.pi * nxt / 7),
                 math.sin(2 * math.pi * nxt / 365.25), math.cos(2 * math.pi * nxt / 365.25)]  # fmt: skip
        np.testing.assert_allclose(obs[-4:], phase, atol=1e-6)


def test_demand_shock_on_overlapping_segments_by_hand():
    # overlap-5: with segments the response multiplier scales each channel's effective exposure
    # x_is = R_is E_is m_i a_i, pooled per segment A_s, r_s = sigma_s f(A_s / sigma_s), credited to
    # the channels in proportion to x_is; a demand shock x2 on channel a at step 1.
    data = {
        "name": "hand-overlap", "horizon": 2, "budget": {"total": 200.0, "pacing": "even"},
        "reward": "revenue", "noise": {"conversions": "none"},
        "shocks": [{"kind": "demand", "channels": ["a"], "start": 1, "duration": 1, "multiplier": 2.0}],
        "channels": [{"name": n, "cost": {"unit": "impression", "price": 10.0, "ref_spend": 100.0}}
                     for n in ("a", "b")],
        "segments": [
            {"name": "young", "size": 0.4, "value": {"mean": 3.0}, "reach": {"a": 0.5, "b": 0.25},
             "effectiveness": {"b": 2.0},
             "saturation": {"type": "hill", "max_response": 100.0, "half_saturation": 20_000.0, "slope": 1.0}},
            {"name": "old", "size": 0.6, "value": {"mean": 5.0}, "reach": {"b": 0.5},
             "saturation": {"type": "hill", "max_response": 80.0, "half_saturation": 10_000.0, "slope": 1.0}},
        ],
    }  # fmt: skip
    infos = _play(data, [[0.0, 0.0]] * 2)
    for t, info in enumerate(infos):
        m_a = 2.0 if t == 1 else 1.0
        e = 5000.0  # 50 a step on each channel at CPM 10
        x_young = [0.5 * m_a * e, 0.25 * 2.0 * e]
        A_young, A_old = sum(x_young), 0.5 * e
        r_young = 0.4 * _hill(A_young / 0.4, 100.0, 20_000.0)
        r_old = 0.6 * _hill(A_old / 0.6, 80.0, 10_000.0)
        conv = [x_young[0] / A_young * r_young, x_young[1] / A_young * r_young + r_old]
        revenue = [3.0 * conv[0], 3.0 * x_young[1] / A_young * r_young + 5.0 * r_old]
        np.testing.assert_allclose(info["expected_conversions"], conv, rtol=1e-12)
        np.testing.assert_allclose(info["expected_revenue"], revenue, rtol=1e-12)
        assert info["expected_reward"] == pytest.approx(sum(revenue), rel=1e-12)
