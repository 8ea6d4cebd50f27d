"""Per-channel seasonality (``channels[].seasonality``): each channel's own demand and cost cycles,
multiplying the scenario's (:func:`budgetgym.envs.sample_path`).

Expected multipliers are computed by hand from the documented formula
``season(d) = (1 + A_w cos(2 pi (d - p_w)/7)) (1 + A_y cos(2 pi (d - p_y)/365.25))`` at days where
the cosines are exactly 1, 0 or -1; the oracle is checked against the closed-form optimum of a
two-channel Michaelis-Menten split.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from test_oracle import _play

from budgetgym.envs import (
    ScenarioError,
    evaluate_plan,
    sample_path,
    scenario_from_dict,
    solve_oracle,
)


def _channel(name: str, **fields: object) -> dict:
    ch: dict = {
        "name": name,
        "cost": {"unit": "click", "price": 1.0, "ref_spend": 1000.0},
        "saturation": {"type": "hill", "max_response": 100.0, "half_saturation": 1000.0, "slope": 1.0},
    }
    ch.update(fields)
    return ch


def _scenario(channels: list[dict], horizon: int, **top: object):
    data: dict = {
        "name": "channel-season",
        "horizon": horizon,
        "budget": {"total": 2000.0 * horizon},
        "noise": {"conversions": "none"},
        "channels": channels,
    }
    data.update(top)
    return scenario_from_dict(data, source="test scenario")


# ============================================================================ the path
def test_weekly_peak_of_one_channel_by_hand():
    """Half-day steps (d_t = t/2): channel b peaks on day 2 (demand) and day 0 (cost); the
    scenario's demand peaks on day 5.5; a price shock hits b at step 7."""
    sc = _scenario(
        [
            _channel("a"),
            _channel(
                "b",
                seasonality={
                    "demand": {"weekly_amplitude": 0.5, "weekly_peak": 2.0},
                    "cost": {"weekly_amplitude": 0.3, "weekly_peak": 0.0},
                },
            ),
        ],
        horizon=14,
        step_days=0.5,
        seasonality={"demand": {"weekly_amplitude": 0.2, "weekly_peak": 5.5}},
        shocks=[{"kind": "price", "channels": ["b"], "start": 7, "duration": 1, "multiplier": 2.0}],
    )
    path = sample_path(sc, None)
    # step 4 = day 2: scenario 1 + 0.2 cos(-pi) = 0.8; b's own peak 1 + 0.5 = 1.5
    assert path.response[4, 0] == pytest.approx(0.8, rel=1e-14)
    assert path.response[4, 1] == pytest.approx(0.8 * 1.5, rel=1e-14)
    # step 11 = day 5.5: scenario peak 1.2; b's trough 1 + 0.5 cos(pi) = 0.5
    assert path.response[11, 0] == pytest.approx(1.2, rel=1e-14)
    assert path.response[11, 1] == pytest.approx(1.2 * 0.5, rel=1e-14)
    # step 0 = day 0: scenario 1 + 0.2 cos(2 pi (0 - 5.5)/7), b 1 + 0.5 cos(2 pi (0 - 2)/7)
    scen0 = 1 + 0.2 * math.cos(2 * math.pi * -5.5 / 7)
    own0 = 1 + 0.5 * math.cos(2 * math.pi * -2 / 7)
    assert path.response[0, 1] == pytest.approx(scen0 * own0, rel=1e-14)
    assert path.response[0, 1] == pytest.approx(1.0445042 * 0.8887395, rel=1e-6)
    # cost: only b has a cost cycle; day 0 is its peak 1.3, day 3.5 (step 7) its trough 0.7,
    # times the price shock's 2
    assert path.cost[0, 1] == pytest.approx(1.3, rel=1e-14)
    assert path.cost[7, 1] == pytest.approx(0.7 * 2.0, rel=1e-14)
    np.testing.assert_array_equal(path.cost[:, 0], 1.0)
    np.testing.assert_array_equal(path.delivery, 1.0)


def test_yearly_peak_of_one_channel_by_hand():
    """Daily steps from day 340: channel c's demand peaks on day 351 (step 11), its cost has its
    trough there (peak half a year earlier, day 351 - 182.625)."""
    sc = _scenario(
        [
            _channel("a"),
            _channel(
                "c",
                seasonality={
                    "demand": {"yearly_amplitude": 0.4, "yearly_peak": 351.0},
                    "cost": {"yearly_amplitude": 0.5, "yearly_peak": 351.0 - 365.25 / 2},
                },
            ),
        ],
        horizon=14,
        start_day=340.0,
    )
    path = sample_path(sc, None)
    assert path.response[11, 1] == pytest.approx(1.4, rel=1e-14)
    assert path.cost[11, 1] == pytest.approx(0.5, rel=1e-12)
    np.testing.assert_array_equal(path.response[:, 0], 1.0)  # a has no cycle, nor has the scenario
    assert path.response[:, 1].max() == path.response[11, 1]


def test_drift_and_the_channel_cycle_multiply():
    own = {"demand": {"weekly_amplitude": 0.4, "weekly_peak": 3.0}}
    sc = _scenario([_channel("a"), _channel("b", seasonality=own)], horizon=7, drift={"sd": 0.2})
    path = sample_path(sc, np.random.default_rng(5))
    cycle = np.array([1 + 0.4 * math.cos(2 * math.pi * (t - 3) / 7) for t in range(7)])
    np.testing.assert_allclose(path.response[:, 1], cycle * np.exp(path.drift[:, 1]), rtol=1e-13)
    np.testing.assert_allclose(path.response[:, 0], np.exp(path.drift[:, 0]), rtol=1e-13)


@pytest.mark.parametrize(
    "block",
    [
        {},
        {"demand": {}},
        {"demand": {"weekly_peak": 3.0, "yearly_peak": 100.0}, "cost": {"weekly_peak": 6.0}},
    ],
    ids=["empty", "empty-demand", "zero-amplitudes"],
)
def test_no_amplitude_changes_nothing_bit_for_bit(block):
    """The default: a path identical to the one of a channel without the block (same draws)."""
    top = {
        "drift": {"sd": 0.1, "mean_reversion": 0.2},
        "seasonality": {"demand": {"weekly_amplitude": 0.3}, "cost": {"yearly_amplitude": 0.2}},
        "shocks": [{"kind": "demand", "channels": ["b"], "start": 2, "duration": 3, "multiplier": 1.7}],
        "start_day": 17.0,
    }
    plain = _scenario([_channel("a"), _channel("b")], horizon=9, **top)
    flat = _scenario([_channel("a"), _channel("b", seasonality=block)], horizon=9, **top)
    p0, p1 = sample_path(plain, np.random.default_rng(3)), sample_path(flat, np.random.default_rng(3))
    for field in ("cost", "response", "delivery", "drift"):
        np.testing.assert_array_equal(getattr(p0, field), getattr(p1, field))


def test_override_reaches_a_channel_cycle():
    sc = _scenario([_channel("a"), _channel("b")], horizon=7)
    sc2 = sc.override({"channels.b.seasonality.demand.weekly_amplitude": 0.5})
    path = sample_path(sc2, None)
    assert path.response[0, 1] == pytest.approx(1.5)  # peak on day 0 (default weekly_peak)
    np.testing.assert_array_equal(path.response[:, 0], 1.0)


def test_json_form_leaves_out_a_flat_channel_cycle():
    """A scenario without channel cycles serialises as before they existed (its config hash, hence
    run keys and stored oracles, unchanged); a channel with one keeps it; both round-trip."""
    own = {"demand": {"weekly_amplitude": 0.5}}
    sc = _scenario([_channel("a"), _channel("b", seasonality=own)], horizon=7)
    data = sc.model_dump(mode="json")
    assert "seasonality" not in data["channels"][0]
    assert data["channels"][1]["seasonality"]["demand"]["weekly_amplitude"] == 0.5
    assert scenario_from_dict(data) == sc
    assert "seasonality" in sc.model_dump()["channels"][0]  # python form: every field, for override


@pytest.mark.parametrize(
    "block, needle",
    [
        (
            {"demand": {"weekly_amplitude": 1.0}},
            "channels[1].seasonality.demand.weekly_amplitude: Input should be less than 1",
        ),
        ({"cost": {"weekly_peak": 7.0}}, "channels[1].seasonality.cost.weekly_peak"),
        (
            {"demand": {"weekly_amp": 0.1}},
            "channels[1].seasonality.demand.weekly_amp: Extra inputs are not permitted",
        ),
    ],
)
def test_bad_channel_cycle_is_one_line_naming_the_field(block, needle):
    with pytest.raises(ScenarioError) as info:
        _scenario([_channel("a"), _channel("b", seasonality=block)], horizon=7)
    msg = str(info.value)
    assert "\n" not in msg and needle in msg, msg


# ================================================== the oracle and evaluate_plan see it
def test_oracle_follows_the_channel_cycles_in_closed_form():
    """Two click channels without carry-over, Hill slope 1, no auction pressure: channel i's
    reward at spend x is ``beta m_i x / (x + k_i)`` with ``k_i = kappa p0 c_i`` (currency). With
    ``x + y = S`` the optimum equalises the marginals, ``m_a k_a / (x + k_a)^2 = m_b k_b / (y + k_b)^2``:

        x = (sqrt(m_a k_a) (S + k_b) - sqrt(m_b k_b) k_a) / (sqrt(m_a k_a) + sqrt(m_b k_b)).

    a has a demand cycle, b a cost cycle; nothing else varies, so every step's split follows
    from the channels' own cycles alone."""
    beta, kappa, S = 100.0, 1000.0, 2000.0
    sc = _scenario(
        [
            _channel("a", seasonality={"demand": {"weekly_amplitude": 0.6, "weekly_peak": 0.0}}),
            _channel("b", seasonality={"cost": {"weekly_amplitude": 0.3, "weekly_peak": 3.0}}),
        ],
        horizon=7,
    )
    days = np.arange(7.0)
    m_a = 1 + 0.6 * np.cos(2 * np.pi * days / 7)
    c_b = 1 + 0.3 * np.cos(2 * np.pi * (days - 3) / 7)
    k_a, k_b = kappa * 1.0, kappa * c_b
    x = (np.sqrt(m_a * k_a) * (S + k_b) - np.sqrt(k_b) * k_a) / (np.sqrt(m_a * k_a) + np.sqrt(k_b))
    assert np.all((x > 0) & (x < S)) and np.ptp(x / S) > 0.3  # interior, and far from constant
    plan = np.stack([x, S - x], axis=1)
    by_hand = float(np.sum(beta * m_a * x / (x + k_a) + beta * (S - x) / (S - x + k_b)))

    assert float(evaluate_plan(sc, plan)) == pytest.approx(by_hand, rel=1e-12)
    res = solve_oracle(sc)
    np.testing.assert_allclose(res.plan[:, 0], x, rtol=1e-5)
    assert res.expected_reward == pytest.approx(by_hand, rel=1e-9)
    # and the environment, stepping through its actions, sees the same cycles
    assert _play(sc, plan, seed=0) == pytest.approx(by_hand, rel=1e-6)
