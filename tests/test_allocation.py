"""Action -> split / pacing (budgetgym.envs.allocation).

The projection is checked against hand solutions, the KKT conditions of the QP written out
independently, and scipy's SLSQP on ``||q - p||^2``.
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from scipy.optimize import minimize

from budgetgym.envs.allocation import (
    action_to_split,
    pacing_spend,
    project_bounded_simplex,
    sanitize_action,
    softmax_split,
    spend_to_pacing_action,
    split_to_action,
)

FEAS_TOL = 1e-9


# ----------------------------------------------------------------------- strategies
@st.composite
def feasible_bounds(draw, k_min: int = 2, k_max: int = 7):
    """(low, high, q0): share bounds with sum(low) <= 1 <= sum(high), built around a feasible
    split q0 so they are feasible by construction; some channels may be locked (low == high)."""
    k = draw(st.integers(min_value=k_min, max_value=k_max))
    raw = np.array(draw(st.lists(st.floats(min_value=0.01, max_value=1.0), min_size=k, max_size=k)))
    q0 = raw / raw.sum()
    a = np.array(draw(st.lists(st.sampled_from([0.0, 0.3, 0.7, 1.0]), min_size=k, max_size=k)))
    b = np.array(draw(st.lists(st.sampled_from([0.0, 0.2, 0.6, 1.0]), min_size=k, max_size=k)))
    locked = np.array(draw(st.lists(st.booleans(), min_size=k, max_size=k)))
    low = q0 * a
    high = q0 + (1.0 - q0) * b
    low = np.where(locked, q0, low)
    high = np.where(locked, q0, high)
    return low, high, q0


def kkt_ok(
    q: np.ndarray, p: np.ndarray, low: np.ndarray, high: np.ndarray, tol: float = 1e-9
) -> bool:
    """KKT conditions of min ||q-p||^2 s.t. sum q = 1, low <= q <= high (sufficient: convex QP).
    With multiplier nu on the equality: q_i - p_i + nu = mu_low_i - mu_high_i, mu >= 0, so
    p_i - q_i == nu when low < q < high, <= nu at the lower bound, >= nu at the upper bound."""
    if abs(q.sum() - 1.0) > tol or np.any(q < low - tol) or np.any(q > high + tol):
        return False
    g = p - q
    at_low = np.abs(q - low) <= tol
    at_high = np.abs(q - high) <= tol
    free = ~at_low & ~at_high
    if free.any():
        nu = g[free].mean()
    else:  # every coordinate is at a bound: any nu in [max over low-bound g, min over high-bound g]
        lo_side = g[at_low & ~at_high].max(initial=-np.inf)
        hi_side = g[at_high & ~at_low].min(initial=np.inf)
        return lo_side <= hi_side + tol
    return (
        np.all(np.abs(g[free] - nu) <= tol)
        and np.all(g[at_low & ~at_high] <= nu + tol)
        and np.all(g[at_high & ~at_low] >= nu - tol)
    )


def slsqp_projection(p: np.ndarray, low: np.ndarray, high: np.ndarray) -> np.ndarray:
    if np.all(low == high):  # every channel locked: the feasible set is the single point `low`
        return low.copy()
    x0 = np.clip(np.full_like(p, 1.0 / len(p)), low, high)
    res = minimize(
        lambda q: float(((q - p) ** 2).sum()),
        x0,
        jac=lambda q: 2.0 * (q - p),
        bounds=list(zip(low, high, strict=True)),
        constraints=[
            {"type": "eq", "fun": lambda q: q.sum() - 1.0, "jac": lambda q: np.ones_like(q)}
        ],
        method="SLSQP",
        options={"ftol": 1e-14, "maxiter": 500},
    )
    assert res.success, res.message
    return res.x


# ======================================================================== sanitize_action
class TestSanitize:
    def test_non_finite_mapping_and_clip(self):
        a = np.array([np.nan, np.inf, -np.inf, 2.0, -3.0, 0.5, -1.0, 1.0])
        np.testing.assert_array_equal(
            sanitize_action(a), [0.0, 1.0, -1.0, 1.0, -1.0, 0.5, -1.0, 1.0]
        )

    def test_returns_float64_copy(self):
        a = np.array([np.nan, 0.25], dtype=np.float32)
        out = sanitize_action(a)
        assert out.dtype == np.float64
        assert np.isnan(a[0])  # input untouched
        b = np.array([0.1, 0.2])
        out_b = sanitize_action(b)
        out_b[0] = 9.0
        assert b[0] == 0.1

    @settings(max_examples=50, deadline=None)
    @given(st.lists(st.floats(allow_nan=True, allow_infinity=True), min_size=1, max_size=10))
    def test_always_finite_in_box(self, xs):
        out = sanitize_action(np.array(xs))
        assert np.all(np.isfinite(out)) and np.all(np.abs(out) <= 1.0)


# ========================================================================== softmax_split
class TestSoftmax:
    def test_hand_values(self):
        # scale 2, logits [1, 0, -0.5]: exp([2, 0, -1]) = [7.389056, 1, 0.367879], sum 8.756935
        total = math.exp(2) + 1 + math.exp(-1)
        expected = [math.exp(2) / total, 1 / total, math.exp(-1) / total]
        out = softmax_split(np.array([1.0, 0.0, -0.5]), 2.0)
        np.testing.assert_allclose(out, expected, rtol=1e-14)
        np.testing.assert_allclose(out, [0.843795, 0.114195, 0.042010], atol=1e-6)

    def test_minus_one_switches_a_channel_off(self):
        # logits [1, 0, -1] at scale 2: the -1 entry gets weight 0, the rest e^2 : 1
        out = softmax_split(np.array([1.0, 0.0, -1.0]), 2.0)
        total = math.exp(2) + 1
        np.testing.assert_allclose(out, [math.exp(2) / total, 1 / total, 0.0], rtol=1e-14)
        assert out[2] == 0.0
        # every entry -1: no channel can be off alone, the split is equal
        np.testing.assert_allclose(softmax_split(np.full(3, -1.0), 2.0), 1 / 3)

    def test_large_scale_is_stable_and_batched(self):
        out = softmax_split(np.array([[1.0, 1.0], [1.0, -0.99]]), 50.0)
        assert np.all(np.isfinite(out))
        np.testing.assert_allclose(out[0], [0.5, 0.5])
        # z = [50, -49.5]: shares [1, e^-99.5] / (1 + e^-99.5); e^-99.5 = 6.13e-44
        np.testing.assert_allclose(
            out[1], [1.0 / (1 + math.exp(-99.5)), math.exp(-99.5) / (1 + math.exp(-99.5))], rtol=1e-12
        )
        np.testing.assert_allclose(out.sum(axis=-1), 1.0, rtol=1e-15)

    def test_zero_logits_equal_split(self):
        np.testing.assert_allclose(softmax_split(np.zeros(4), 5.0), 0.25)


# ================================================================= project_bounded_simplex
class TestProjectionHand:
    def test_cap_on_first_channel(self):
        # p = [.7, .2, .1], high_0 = .5: q_0 = .5 and the others get +0.1 each (nu = -0.1)
        q = project_bounded_simplex(
            np.array([0.7, 0.2, 0.1]), np.zeros(3), np.array([0.5, 1.0, 1.0])
        )
        np.testing.assert_allclose(q, [0.5, 0.3, 0.2], atol=1e-15)

    def test_floor_on_last_channel(self):
        # p = [.6, .3, .1], low_2 = .2: q_2 = .2, the others lose .05 each (nu = .05)
        q = project_bounded_simplex(
            np.array([0.6, 0.3, 0.1]), np.array([0.0, 0.0, 0.2]), np.ones(3)
        )
        np.testing.assert_allclose(q, [0.55, 0.25, 0.2], atol=1e-15)

    def test_locked_channel(self):
        # equal split [1/3]*3 with channel 0 locked at .5: the others share .5 -> .25 each
        q = project_bounded_simplex(
            np.full(3, 1 / 3), np.array([0.5, 0.0, 0.0]), np.array([0.5, 1.0, 1.0])
        )
        np.testing.assert_allclose(q, [0.5, 0.25, 0.25], atol=1e-15)

    def test_arbitrary_real_input(self):
        # p outside the simplex: p = [2, 0, -1], no bounds beyond [0, 1]:
        # nu = 1 puts q = [1, -1, -2] -> clipped [1, 0, 0], sum 1
        q = project_bounded_simplex(np.array([2.0, 0.0, -1.0]), np.zeros(3), np.ones(3))
        np.testing.assert_allclose(q, [1.0, 0.0, 0.0], atol=1e-15)

    def test_feasible_point_is_unchanged(self):
        p = np.array([0.2, 0.3, 0.5])
        np.testing.assert_array_equal(
            project_bounded_simplex(p, np.full(3, 0.1), np.full(3, 0.6)), p
        )

    def test_tight_bounds_sum_low_equals_one(self):
        low = np.array([0.2, 0.3, 0.5])
        q = project_bounded_simplex(np.array([0.9, 0.05, 0.05]), low, np.ones(3))
        np.testing.assert_allclose(q, low, atol=1e-15)

    def test_tight_bounds_sum_high_equals_one(self):
        high = np.array([0.2, 0.3, 0.5])
        q = project_bounded_simplex(np.array([0.9, 0.05, 0.05]), np.zeros(3), high)
        np.testing.assert_allclose(q, high, atol=1e-15)


class TestProjectionProperties:
    @settings(max_examples=80, deadline=None)
    @given(bounds=feasible_bounds(), data=st.data())
    def test_feasible_and_kkt_optimal(self, bounds, data):
        low, high, _ = bounds
        k = len(low)
        p = np.array(
            data.draw(st.lists(st.floats(min_value=-2.0, max_value=2.0), min_size=k, max_size=k))
        )
        q = project_bounded_simplex(p, low, high)
        assert q.shape == p.shape
        assert q.sum() == pytest.approx(1.0, abs=FEAS_TOL)
        assert np.all(q >= low - FEAS_TOL) and np.all(q <= high + FEAS_TOL)
        assert kkt_ok(q, p, low, high, tol=1e-9)

    @settings(max_examples=30, deadline=None)
    @given(bounds=feasible_bounds(k_max=5), data=st.data())
    def test_matches_slsqp(self, bounds, data):
        low, high, _ = bounds
        k = len(low)
        logits = np.array(
            data.draw(st.lists(st.floats(min_value=-1.0, max_value=1.0), min_size=k, max_size=k))
        )
        p = softmax_split(logits, 3.0)
        q = project_bounded_simplex(p, low, high)
        ref = slsqp_projection(p, low, high)
        # the objective is strictly convex, so the minimiser is unique
        assert ((q - p) ** 2).sum() <= ((ref - p) ** 2).sum() + 1e-12
        np.testing.assert_allclose(q, ref, atol=1e-6)

    @settings(max_examples=40, deadline=None)
    @given(bounds=feasible_bounds(), data=st.data())
    def test_batched_equals_row_by_row(self, bounds, data):
        low, high, _ = bounds
        k = len(low)
        rows = data.draw(st.integers(min_value=1, max_value=5))
        p = np.array(
            data.draw(
                st.lists(
                    st.lists(st.floats(min_value=-1.0, max_value=2.0), min_size=k, max_size=k),
                    min_size=rows,
                    max_size=rows,
                )
            )
        )
        batched = project_bounded_simplex(p, low, high)
        assert batched.shape == p.shape
        for r in range(rows):
            np.testing.assert_allclose(
                batched[r], project_bounded_simplex(p[r], low, high), atol=1e-14
            )
        # three-dimensional batches work too
        stacked = project_bounded_simplex(np.stack([p, p]), low, high)
        np.testing.assert_allclose(stacked[1], batched, atol=1e-14)

    @settings(max_examples=40, deadline=None)
    @given(bounds=feasible_bounds(), data=st.data())
    def test_idempotent(self, bounds, data):
        low, high, _ = bounds
        k = len(low)
        p = np.array(
            data.draw(st.lists(st.floats(min_value=-1.0, max_value=2.0), min_size=k, max_size=k))
        )
        q = project_bounded_simplex(p, low, high)
        np.testing.assert_allclose(project_bounded_simplex(q, low, high), q, atol=1e-12)


# ========================================================================= action_to_split
class TestActionToSplit:
    @pytest.mark.parametrize("k", [1, 2, 3, 7])
    def test_zero_action_equal_split(self, k):
        np.testing.assert_allclose(
            action_to_split(np.zeros(k), 5.0, np.zeros(k), np.ones(k)), 1.0 / k, rtol=1e-15
        )

    def test_zero_action_equal_split_with_feasible_bounds(self):
        # 1/3 is inside [0.1, 0.5] for every channel
        np.testing.assert_allclose(
            action_to_split(np.zeros(3), 5.0, np.full(3, 0.1), np.full(3, 0.5)), 1 / 3
        )

    def test_nan_action_is_equal_split(self):
        out = action_to_split(np.full(3, np.nan), 5.0, np.zeros(3), np.ones(3))
        np.testing.assert_allclose(out, 1 / 3)

    def test_hand_value(self):
        # c = 1, a = [1, 0, -0.5]: softmax = [e, 1, e^-.5] / (e + 1 + e^-.5); no binding bounds
        total = math.e + 1 + math.exp(-0.5)
        out = action_to_split(np.array([1.0, 0.0, -0.5]), 1.0, np.zeros(3), np.ones(3))
        np.testing.assert_allclose(out, [math.e / total, 1 / total, math.exp(-0.5) / total], rtol=1e-14)

    @settings(max_examples=60, deadline=None)
    @given(bounds=feasible_bounds(), data=st.data(), scale=st.floats(min_value=0.5, max_value=50.0))
    def test_always_feasible(self, bounds, data, scale):
        low, high, _ = bounds
        k = len(low)
        a = np.array(
            data.draw(
                st.lists(st.floats(allow_nan=True, allow_infinity=True), min_size=k, max_size=k)
            )
        )
        q = action_to_split(a, scale, low, high)
        assert np.all(np.isfinite(q))
        assert q.sum() == pytest.approx(1.0, abs=FEAS_TOL)
        assert np.all(q >= low - FEAS_TOL) and np.all(q <= high + FEAS_TOL)


# ========================================================================== split_to_action
class TestSplitToAction:
    def test_hand_value(self):
        # c = 5, q = [.5, .25, .25]: top -> 1, others 1 + ln(1/2)/5 = 0.861371
        a = split_to_action(np.array([0.5, 0.25, 0.25]), 5.0)
        np.testing.assert_allclose(
            a, [1.0, 1 + math.log(0.5) / 5, 1 + math.log(0.5) / 5], rtol=1e-15
        )
        np.testing.assert_allclose(a, [1.0, 0.861371, 0.861371], atol=1e-6)

    def test_zero_share_maps_to_minus_one(self):
        np.testing.assert_array_equal(split_to_action(np.array([1.0, 0.0]), 5.0), [1.0, -1.0])

    @pytest.mark.parametrize("scale", [5e-324, 1e-300])
    def test_the_smallest_logit_scale_maps_every_smaller_share_to_minus_one_without_a_warning(self, scale):
        # Found by the schema-edge strategy: ln(0.3/0.7) / 5e-324 overflowed with a RuntimeWarning
        # (the fixed agents' actions under `action: {logit_scale: 5e-324}`, which the schema accepts).
        # 1 + ln(q_i/q_max)/c < -1 for any share below the largest: -1; the largest and its ties: +1.
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            a = split_to_action(np.array([0.4, 0.3, 0.0, 0.3, 0.4 - 1e-16]), scale)
        np.testing.assert_array_equal(a, [1.0, -1.0, -1.0, -1.0, -1.0])
        np.testing.assert_array_equal(split_to_action(np.full(3, 1 / 3), scale), [1.0, 1.0, 1.0])

    @settings(max_examples=60, deadline=None)
    @given(data=st.data(), scale=st.floats(min_value=0.5, max_value=20.0), k=st.integers(1, 7))
    def test_round_trip_within_ratio(self, data, scale, k):
        # log-ratios r_i in [0, 2c] to the largest share, so max/min <= e^{2c}
        r = np.array(
            data.draw(
                st.lists(st.floats(min_value=0.0, max_value=2.0 * scale), min_size=k, max_size=k)
            )
        )
        r[0] = 0.0
        q = np.exp(-r) / np.exp(-r).sum()
        # strictly below e^{2c}: a share at exactly e^{-2c} of the largest maps to -1, which switches its
        # channel off (the documented rule; hypothesis drew r = 2c in a fresh clone)
        assume(q.max() / q.min() < math.exp(2 * scale) * (1 - 1e-9))
        a = split_to_action(q, scale)
        assert np.all(np.abs(a) <= 1.0)
        np.testing.assert_allclose(
            action_to_split(a, scale, np.zeros(k), np.ones(k)), q, rtol=1e-9, atol=1e-15
        )

    @settings(max_examples=40, deadline=None)
    @given(bounds=feasible_bounds())
    def test_round_trip_with_bounds(self, bounds):
        # any feasible split (q0 lies inside the bounds by construction) is reached exactly
        # when its share ratio is within e^{2c}
        low, high, q0 = bounds
        scale = 5.0
        assume(q0.max() / q0.min() <= math.exp(2 * scale))
        got = action_to_split(split_to_action(q0, scale), scale, low, high)
        np.testing.assert_allclose(got, q0, atol=1e-12)

    def test_zero_share_round_trip(self):
        # c = 5, q = [.6, .4, 0]: a = [1, 1 + ln(2/3)/5, -1]; the -1 switches channel 2 off,
        # the others keep the ratio .6 : .4, so q comes back exactly
        q = np.array([0.6, 0.4, 0.0])
        a = split_to_action(q, 5.0)
        np.testing.assert_allclose(a, [1.0, 1 + math.log(2 / 3) / 5, -1.0], rtol=1e-15)
        got = action_to_split(a, 5.0, np.zeros(3), np.ones(3))
        np.testing.assert_allclose(got, q, atol=1e-15)
        assert got[2] == 0.0

    @settings(max_examples=60, deadline=None)
    @given(data=st.data(), k=st.integers(2, 8))
    def test_tiny_shares_within_e_minus_2c_of_largest(self, data, k):
        scale = 5.0
        w = np.array(
            data.draw(st.lists(st.floats(min_value=0.0, max_value=1.0), min_size=k, max_size=k))
        )
        w[0] = 1.0
        tiny = np.array(data.draw(st.lists(st.booleans(), min_size=k, max_size=k)))
        tiny[0] = False
        w = np.where(tiny, w * 1e-6, w)  # far below e^{-10} of the largest
        q = w / w.sum()
        got = action_to_split(split_to_action(q, scale), scale, np.zeros(k), np.ones(k))
        small = q < q.max() * math.exp(-2 * scale)
        bound = math.exp(-2 * scale) * q.max()
        assert np.all(np.abs(got - q)[small] <= bound + 1e-15)
        # and nothing moves by more than the total mass handed to the tiny shares
        assert np.all(np.abs(got - q) <= small.sum() * bound + 1e-12)
        assert got.sum() == pytest.approx(1.0, abs=1e-12)


# ================================================================================= pacing
class TestPacing:
    def test_hand_values(self):
        # B = 1400, T = 14, m = 2: B/T = 100, cap = 200
        assert pacing_spend(0.0, remaining=1000.0, cap=200.0) == 100.0
        assert (
            pacing_spend(0.0, remaining=200.0, cap=200.0) == 100.0
        )  # "while at least 2B/T remains"
        assert pacing_spend(1.0, remaining=1000.0, cap=200.0) == 200.0
        assert pacing_spend(-1.0, remaining=1000.0, cap=200.0) == 0.0
        assert pacing_spend(0.5, remaining=1000.0, cap=200.0) == 150.0  # (1.5/2) * 200
        # only 50 left: u = 1 spends all of it, u = 0 half of it
        assert pacing_spend(1.0, remaining=50.0, cap=200.0) == 50.0
        assert pacing_spend(0.0, remaining=50.0, cap=200.0) == 25.0

    def test_infinite_and_out_of_range_u(self):
        assert pacing_spend(float("inf"), remaining=1000.0, cap=200.0) == 200.0
        assert pacing_spend(float("-inf"), remaining=1000.0, cap=200.0) == 0.0
        assert pacing_spend(7.0, remaining=1000.0, cap=200.0) == 200.0

    def test_nan_u_spends_half_the_room(self):
        assert pacing_spend(float("nan"), remaining=1000.0, cap=200.0) == 100.0  # NaN -> 0

    @pytest.mark.parametrize("x", [float("nan"), np.float64("nan"), np.asarray(np.nan)])
    def test_sanitize_scalar_nan(self, x):
        assert float(sanitize_action(x)) == 0.0

    def test_nothing_left(self):
        assert pacing_spend(1.0, remaining=0.0, cap=200.0) == 0.0
        assert pacing_spend(1.0, remaining=-5.0, cap=200.0) == 0.0
        assert spend_to_pacing_action(10.0, remaining=0.0, cap=200.0) == -1.0

    def test_inverse_hand_values(self):
        assert spend_to_pacing_action(100.0, remaining=1000.0, cap=200.0) == 0.0
        assert spend_to_pacing_action(150.0, remaining=1000.0, cap=200.0) == 0.5
        assert spend_to_pacing_action(500.0, remaining=1000.0, cap=200.0) == 1.0  # clipped
        assert spend_to_pacing_action(-1.0, remaining=1000.0, cap=200.0) == -1.0  # clipped

    @settings(max_examples=80, deadline=None)
    @given(
        u=st.floats(
            allow_nan=False, allow_infinity=True
        ),  # NaN: see test_nan_u_spends_half_the_room
        remaining=st.floats(min_value=-10.0, max_value=1e7),
        cap=st.floats(min_value=0.0, max_value=1e6),
    )
    def test_never_above_remaining_or_cap(self, u, remaining, cap):
        s = pacing_spend(u, remaining, cap)
        assert math.isfinite(s)
        assert 0.0 <= s <= max(0.0, remaining)
        assert s <= cap

    @settings(max_examples=80, deadline=None)
    @given(
        u=st.floats(min_value=-1.0, max_value=1.0),
        remaining=st.floats(min_value=1e-3, max_value=1e7),
        cap=st.floats(min_value=1e-3, max_value=1e6),
    )
    def test_round_trip_u(self, u, remaining, cap):
        s = pacing_spend(u, remaining, cap)
        assert spend_to_pacing_action(s, remaining, cap) == pytest.approx(u, abs=1e-9)

    @settings(max_examples=80, deadline=None)
    @given(
        frac=st.floats(min_value=0.0, max_value=1.0),
        remaining=st.floats(min_value=1e-3, max_value=1e7),
        cap=st.floats(min_value=1e-3, max_value=1e6),
    )
    def test_round_trip_spend(self, frac, remaining, cap):
        s = frac * min(remaining, cap)
        back = pacing_spend(spend_to_pacing_action(s, remaining, cap), remaining, cap)
        assert back == pytest.approx(s, rel=1e-12, abs=1e-9)
