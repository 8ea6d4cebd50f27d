"""The exogenous path (budgetgym.envs.path): seasonality, drift and shocks."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from budgetgym.envs import ScenarioError, sample_path, scenario_from_dict
from budgetgym.envs.path import seasonal_multiplier, step_days
from budgetgym.envs.scenario import SeasonalComponent


def make_scenario(horizon: int = 10, n_channels: int = 3, **top):
    """A small valid scenario with channels a, b, c, ...; ``top`` replaces top-level fields."""
    names = "abcdefgh"[:n_channels]
    data = {
        "name": "path-test",
        "horizon": horizon,
        "budget": {"total": 1000.0 * horizon},
        "noise": {"conversions": "none"},
        "channels": [
            {
                "name": n,
                "cost": {"price": 5.0, "ref_spend": 1000.0},
                "saturation": {"type": "hill", "max_response": 10.0, "half_saturation": 1e5},
            }
            for n in names
        ],
    }
    data.update(top)
    return scenario_from_dict(data)


def with_channel_fields(sc_kwargs: dict, fields: dict[str, dict]):
    """make_scenario, then set per-channel fields (by channel name)."""
    sc = make_scenario(**sc_kwargs)
    changes = {f"channels.{name}.{k}": v for name, kv in fields.items() for k, v in kv.items()}
    return sc.override(changes)


# ============================================================================ seasonality
class TestSeasonalMultiplier:
    def test_weekly_hand_values(self):
        comp = SeasonalComponent(weekly_amplitude=0.2, weekly_peak=3.0)
        # d = 3: cos 0 = 1 -> 1.2;  d = 6.5: cos(pi) = -1 -> 0.8;  d = 10: a week after the peak -> 1.2
        # d = 0: 1 + 0.2 cos(-6 pi / 7) = 1 - 0.2 * 0.9009689 = 0.8198062
        got = seasonal_multiplier(comp, np.array([3.0, 6.5, 10.0, 0.0]))
        np.testing.assert_allclose(
            got, [1.2, 0.8, 1.2, 1.0 + 0.2 * math.cos(-6 * math.pi / 7)], rtol=1e-14
        )
        assert got[3] == pytest.approx(0.8198062, abs=1e-7)

    def test_yearly_hand_values(self):
        comp = SeasonalComponent(yearly_amplitude=0.5, yearly_peak=100.0)
        # peak -> 1.5, half a year later -> 0.5, a quarter year later -> 1.0
        got = seasonal_multiplier(comp, np.array([100.0, 100.0 + 365.25 / 2, 100.0 + 365.25 / 4]))
        np.testing.assert_allclose(got, [1.5, 0.5, 1.0], rtol=1e-12, atol=1e-15)

    def test_weekly_times_yearly(self):
        comp = SeasonalComponent(
            weekly_amplitude=0.2, weekly_peak=3.0, yearly_amplitude=0.5, yearly_peak=3.0
        )
        # both peak on day 3: 1.2 * 1.5 = 1.8
        assert seasonal_multiplier(comp, np.array([3.0]))[0] == pytest.approx(1.8, rel=1e-14)

    def test_flat_by_default(self):
        np.testing.assert_array_equal(
            seasonal_multiplier(SeasonalComponent(), np.arange(30.0)), 1.0
        )

    @settings(max_examples=50, deadline=None)
    @given(
        aw=st.floats(0.0, 0.999),
        pw=st.floats(0.0, 6.999),
        ay=st.floats(0.0, 0.999),
        py=st.floats(0.0, 365.9),
        d=st.floats(0.0, 5000.0),
    )
    def test_positive_and_bounded(self, aw, pw, ay, py, d):
        comp = SeasonalComponent(
            weekly_amplitude=aw, weekly_peak=pw, yearly_amplitude=ay, yearly_peak=py
        )
        m = seasonal_multiplier(comp, np.array([d]))[0]
        assert 0.0 < m <= (1 + aw) * (1 + ay) + 1e-12
        assert m >= (1 - aw) * (1 - ay) - 1e-12


class TestStepDays:
    def test_start_day_and_step_days(self):
        sc = make_scenario(horizon=4, start_day=2.0, step_days=7.0)
        np.testing.assert_array_equal(step_days(sc), [2.0, 9.0, 16.0, 23.0])


class TestSeasonalRouting:
    def test_cost_seasonality_goes_to_cost_only(self):
        sc = make_scenario(
            horizon=7, seasonality={"cost": {"weekly_amplitude": 0.3, "weekly_peak": 0.0}}
        )
        path = sample_path(sc, rng=None)
        expected = [1 + 0.3 * math.cos(2 * math.pi * t / 7) for t in range(7)]
        for i in range(3):
            np.testing.assert_allclose(path.cost[:, i], expected, rtol=1e-14)
        np.testing.assert_array_equal(path.response, 1.0)

    def test_demand_seasonality_goes_to_response_only(self):
        sc = make_scenario(
            horizon=7, seasonality={"demand": {"weekly_amplitude": 0.25, "weekly_peak": 2.0}}
        )
        path = sample_path(sc, rng=None)
        expected = [1 + 0.25 * math.cos(2 * math.pi * (t - 2) / 7) for t in range(7)]
        for i in range(3):
            np.testing.assert_allclose(path.response[:, i], expected, rtol=1e-14)
        np.testing.assert_array_equal(path.cost, 1.0)

    def test_weekly_steps_see_the_same_weekday(self):
        # step_days = 7, start_day = 3 = the peak: every step lands on the peak -> 1.2 throughout
        sc = make_scenario(
            horizon=5,
            step_days=7.0,
            start_day=3.0,
            seasonality={"demand": {"weekly_amplitude": 0.2, "weekly_peak": 3.0}},
        )
        np.testing.assert_allclose(sample_path(sc, rng=None).response, 1.2, rtol=1e-12)

    def test_shapes(self):
        path = sample_path(make_scenario(horizon=6, n_channels=4), rng=None)
        assert (
            path.cost.shape
            == path.response.shape
            == path.delivery.shape
            == path.drift.shape
            == (6, 4)
        )


# ================================================================================= drift
class TestDrift:
    def test_no_rng_means_no_drift(self):
        sc = make_scenario(drift={"sd": 0.5, "mean_reversion": 0.1})
        path = sample_path(sc, rng=None)
        np.testing.assert_array_equal(path.drift, 0.0)
        np.testing.assert_array_equal(path.response, 1.0)

    def test_zero_sd_gives_zero_drift_even_with_rng(self):
        path = sample_path(make_scenario(), rng=np.random.default_rng(0))
        np.testing.assert_array_equal(path.drift, 0.0)
        np.testing.assert_array_equal(path.response, 1.0)

    def test_same_seed_same_path(self):
        sc = make_scenario(drift={"sd": 0.1, "mean_reversion": 0.2})
        p1 = sample_path(sc, np.random.default_rng(7))
        p2 = sample_path(sc, np.random.default_rng(7))
        p3 = sample_path(sc, np.random.default_rng(8))
        np.testing.assert_array_equal(p1.drift, p2.drift)
        np.testing.assert_array_equal(p1.response, p2.response)
        assert not np.array_equal(p1.drift, p3.drift)

    @pytest.mark.parametrize("rho", [0.0, 0.3, 1.0])
    def test_recursion_matches_hand_loop(self, rho):
        T, K, sd = 12, 3, 0.1
        sc = make_scenario(horizon=T, n_channels=K, drift={"sd": sd, "mean_reversion": rho})
        path = sample_path(sc, np.random.default_rng(123))
        eps = np.random.default_rng(123).standard_normal((T, K))
        # w_t = (1 - rho) w_{t-1} + sd eps_t, w_{-1} = 0, written out channel by channel
        for i in range(K):
            w_prev = 0.0
            for t in range(T):
                w = (1.0 - rho) * w_prev + sd * eps[t, i]
                assert path.drift[t, i] == pytest.approx(w, rel=1e-12, abs=1e-15)
                assert path.response[t, i] == pytest.approx(math.exp(w), rel=1e-12)
                w_prev = w
        if rho == 1.0:  # full reversion: no memory, w_t = sd eps_t
            np.testing.assert_allclose(path.drift, sd * eps, rtol=1e-15)
        if rho == 0.0:  # random walk: w_t = sd * cumulative sum
            np.testing.assert_allclose(path.drift, sd * np.cumsum(eps, axis=0), rtol=1e-12)

    def test_consumes_exactly_one_normal_block(self):
        T, K = 9, 3
        sc = make_scenario(horizon=T, n_channels=K, drift={"sd": 0.1})
        rng, ref = np.random.default_rng(5), np.random.default_rng(5)
        sample_path(sc, rng)
        ref.standard_normal((T, K))
        assert rng.standard_normal() == ref.standard_normal()
        # also with drift switched off: the draw is still made, so seeds stay aligned
        rng2, ref2 = np.random.default_rng(5), np.random.default_rng(5)
        sample_path(make_scenario(horizon=T, n_channels=K), rng2)
        ref2.standard_normal((T, K))
        assert rng2.standard_normal() == ref2.standard_normal()

    def test_per_channel_drift_sd_override(self):
        T, K = 10, 3
        sc = with_channel_fields(
            {"horizon": T, "n_channels": K, "drift": {"sd": 0.1, "mean_reversion": 0.5}},
            {"a": {"drift_sd": 0.0}, "c": {"drift_sd": 0.4}},
        )
        path = sample_path(sc, np.random.default_rng(11))
        eps = np.random.default_rng(11).standard_normal((T, K))
        np.testing.assert_array_equal(path.drift[:, 0], 0.0)  # override to zero
        for i, sd in [(1, 0.1), (2, 0.4)]:  # b keeps the scenario sd, c uses its own
            w_prev, expected = 0.0, []
            for t in range(T):
                w_prev = 0.5 * w_prev + sd * eps[t, i]
                expected.append(w_prev)
            np.testing.assert_allclose(path.drift[:, i], expected, rtol=1e-12)

    def test_drift_multiplies_seasonality(self):
        T = 7
        sc = make_scenario(
            horizon=T,
            drift={"sd": 0.2},
            seasonality={"demand": {"weekly_amplitude": 0.5, "weekly_peak": 1.0}},
        )
        path = sample_path(sc, np.random.default_rng(3))
        season = np.array([1 + 0.5 * math.cos(2 * math.pi * (t - 1) / 7) for t in range(T)])
        np.testing.assert_allclose(path.response, season[:, None] * np.exp(path.drift), rtol=1e-13)
        np.testing.assert_array_equal(path.cost, 1.0)  # drift never touches cost


# ================================================================================ shocks
def shocked(shocks, horizon: int = 10, **kw):
    return sample_path(make_scenario(horizon=horizon, shocks=shocks, **kw), rng=None)


class TestShocks:
    def test_price_shock_on_named_channel_and_window(self):
        path = shocked(
            [{"kind": "price", "channels": ["b"], "start": 3, "duration": 4, "multiplier": 2.0}]
        )
        expected = np.ones((10, 3))
        expected[3:7, 1] = 2.0  # steps 3, 4, 5, 6 = [start, start + duration)
        np.testing.assert_array_equal(path.cost, expected)
        np.testing.assert_array_equal(path.response, 1.0)

    def test_demand_shock(self):
        path = shocked(
            [
                {
                    "kind": "demand",
                    "channels": ["a", "c"],
                    "start": 0,
                    "duration": 2,
                    "multiplier": 0.5,
                }
            ]
        )
        expected = np.ones((10, 3))
        expected[0:2, [0, 2]] = 0.5
        np.testing.assert_array_equal(path.response, expected)
        np.testing.assert_array_equal(path.cost, 1.0)

    def test_outage_stops_delivery_only(self):
        # an outage sets delivery to 0 over [start, start + duration); cost and response untouched
        # (earlier carry-over keeps converting, so the response multiplier must stay 1)
        path = shocked([{"kind": "outage", "channels": ["a"], "start": 5, "duration": 2}])
        expected = np.ones((10, 3))
        expected[5:7, 0] = 0.0
        np.testing.assert_array_equal(path.delivery, expected)
        np.testing.assert_array_equal(path.response, 1.0)
        np.testing.assert_array_equal(path.cost, 1.0)

    def test_outage_ignores_multiplier_and_leaves_demand_shock(self):
        path = shocked(
            [
                {"kind": "outage", "channels": ["b"], "start": 2, "duration": 2, "multiplier": 3.0},
                {
                    "kind": "demand",
                    "channels": ["b"],
                    "start": 0,
                    "duration": 10,
                    "multiplier": 2.0,
                },
            ]
        )
        np.testing.assert_array_equal(path.delivery[:, 1], [1, 1, 0, 0, 1, 1, 1, 1, 1, 1])
        np.testing.assert_array_equal(path.response[:, 1], 2.0)
        np.testing.assert_array_equal(path.delivery[:, [0, 2]], 1.0)

    def test_no_outage_means_full_delivery(self):
        sc = make_scenario(
            drift={"sd": 0.3},
            shocks=[{"kind": "price", "start": 0, "duration": 5, "multiplier": 2.0}],
        )
        np.testing.assert_array_equal(sample_path(sc, np.random.default_rng(1)).delivery, 1.0)

    def test_price_shock_needs_positive_multiplier(self):
        with pytest.raises(ScenarioError) as info:
            make_scenario(shocks=[{"kind": "price", "start": 0, "duration": 1, "multiplier": 0.0}])
        msg = str(info.value)
        assert "\n" not in msg
        assert "shocks[0]" in msg and "multiplier" in msg and "> 0" in msg
        # a demand shock may switch the response off entirely
        path = shocked(
            [{"kind": "demand", "channels": ["a"], "start": 0, "duration": 1, "multiplier": 0.0}]
        )
        assert path.response[0, 0] == 0.0

    def test_overlapping_price_shocks_multiply(self):
        path = shocked(
            [
                {"kind": "price", "channels": ["a"], "start": 2, "duration": 4, "multiplier": 2.0},
                {"kind": "price", "channels": ["a"], "start": 4, "duration": 4, "multiplier": 3.0},
            ]
        )
        # steps 2,3 -> 2; steps 4,5 -> 2*3 = 6; steps 6,7 -> 3
        np.testing.assert_array_equal(path.cost[:, 0], [1, 1, 2, 2, 6, 6, 3, 3, 1, 1])

    def test_shock_clipped_at_horizon(self):
        path = shocked(
            [{"kind": "price", "channels": ["c"], "start": 8, "duration": 100, "multiplier": 1.5}]
        )
        np.testing.assert_array_equal(path.cost[:, 2], [1] * 8 + [1.5, 1.5])
        assert path.cost.shape == (10, 3)

    def test_channels_none_means_all(self):
        path = shocked([{"kind": "price", "start": 1, "duration": 2, "multiplier": 4.0}])
        expected = np.ones((10, 3))
        expected[1:3, :] = 4.0
        np.testing.assert_array_equal(path.cost, expected)

    def test_shock_combines_with_seasonality(self):
        path = shocked(
            [{"kind": "price", "channels": ["a"], "start": 0, "duration": 1, "multiplier": 2.0}],
            horizon=7,
            seasonality={"cost": {"weekly_amplitude": 0.2, "weekly_peak": 0.0}},
        )
        assert path.cost[0, 0] == pytest.approx(1.2 * 2.0)  # peak day times the shock
        assert path.cost[0, 1] == pytest.approx(1.2)

    def test_shock_on_unknown_channel_rejected(self):
        with pytest.raises(ScenarioError, match=r"shocks\[0\]\.channels: unknown channel\(s\) z"):
            make_scenario(shocks=[{"kind": "price", "channels": ["z"], "start": 0, "duration": 1}])

    def test_empty_channel_list_is_rejected_not_read_as_all_channels(self):
        # `channels: []` would otherwise be falsy and mean "every channel" (the default, null)
        shocks = [{"kind": "price", "channels": [], "start": 0, "duration": 3, "multiplier": 2.0}]
        with pytest.raises(ScenarioError, match=r"shocks\[0\]\.channels: .*at least 1 item"):
            shocked(shocks)


# ============================================================================= read-only
class TestReadOnly:
    @pytest.mark.parametrize("field", ["cost", "response", "delivery", "drift"])
    def test_arrays_are_read_only(self, field):
        sc = make_scenario(
            drift={"sd": 0.1}, shocks=[{"kind": "outage", "start": 0, "duration": 1}]
        )
        arr = getattr(sample_path(sc, np.random.default_rng(0)), field)
        assert not arr.flags.writeable
        with pytest.raises(ValueError):
            arr[0, 0] = 5.0

    def test_path_is_frozen(self):
        path = sample_path(make_scenario(), rng=None)
        with pytest.raises(dataclasses.FrozenInstanceError):
            path.cost = np.zeros((10, 3))  # type: ignore[misc]
