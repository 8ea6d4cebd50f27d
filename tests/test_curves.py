"""Response curves (budgetgym.envs.curves) against hand calculations and finite differences.

Every expected number below is either worked out by hand in a comment or computed from an
independent formula written in the test (e.g. the logistic in its exp form, while the code
uses tanh). Nothing is copied from an earlier run of the code under test.
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from budgetgym.envs import curves

REL = 1e-12


def _approx(x: float, rel: float = REL, abs: float = 0.0):
    return pytest.approx(x, rel=rel, abs=abs)


def _central_d1(f, x: float, h: float) -> float:
    return (f(x + h) - f(x - h)) / (2.0 * h)


def _central_d2(f, x: float, h: float) -> float:
    return (f(x + h) - 2.0 * f(x) + f(x - h)) / (h * h)


# =============================================================================== exposure
class TestExposureHand:
    def test_value_at_three_reference_spends(self):
        # s = 2, x_ref = 100, eta = 0.5, x = 300: w = 3, (1 + 3)^-0.5 = 1/2 -> e = 2 * 300 / 2 = 300
        assert curves.exposure(300.0, 2.0, 100.0, 0.5) == _approx(300.0)

    def test_first_derivative_hand(self):
        # d/dx [s x (1+w)^-eta] = s (1+w)^-eta - s x eta (1+w)^(-eta-1) / x_ref
        #   = 2 * 4^-0.5 - 2 * 300 * 0.5 * 4^-1.5 / 100 = 1 - 300 * 0.125 / 100 = 0.625
        assert curves.exposure_d1(300.0, 2.0, 100.0, 0.5) == _approx(0.625)

    def test_second_derivative_hand(self):
        # -s eta (1+w)^(-eta-2) (2 + (1-eta) w) / x_ref = -2 * 0.5 * 4^-2.5 * (2 + 1.5) / 100
        #   = -(1/32) * 3.5 / 100 = -0.00109375
        assert curves.exposure_d2(300.0, 2.0, 100.0, 0.5) == _approx(-0.00109375)

    def test_derivatives_at_zero_spend(self):
        # e(0) = 0, e'(0) = s, e''(0) = -2 s eta / x_ref = -2 * 0.5 * 0.3 / 1000 = -3e-4
        assert curves.exposure(0.0, 0.5, 1000.0, 0.3) == 0.0
        assert curves.exposure_d1(0.0, 0.5, 1000.0, 0.3) == _approx(0.5)
        assert curves.exposure_d2(0.0, 0.5, 1000.0, 0.3) == _approx(-3e-4)

    def test_zero_elasticity_is_a_fixed_price(self):
        x = np.array([0.0, 10.0, 1234.5, 1e7])
        # eta = 0: e = s x, e' = s, e'' = 0
        np.testing.assert_allclose(curves.exposure(x, 3.0, 50.0, 0.0), 3.0 * x, rtol=REL)
        np.testing.assert_allclose(curves.exposure_d1(x, 3.0, 50.0, 0.0), 3.0, rtol=REL)
        np.testing.assert_array_equal(curves.exposure_d2(x, 3.0, 50.0, 0.0), 0.0)

    def test_unit_elasticity_caps_exposure_at_inventory(self):
        # eta = 1: e = s x / (1 + x/x_ref). x = x_ref = 100, s = 2 -> 200 / 2 = 100
        assert curves.exposure(100.0, 2.0, 100.0, 1.0) == _approx(100.0)
        # and e -> s x_ref = 200 from below as x grows
        big = curves.exposure(np.array([1e4, 1e6, 1e9]), 2.0, 100.0, 1.0)
        assert np.all(big < 200.0)
        assert np.all(np.diff(big) > 0)
        assert big[-1] == _approx(200.0, rel=1e-6)

    def test_broadcasts_over_channels(self):
        x = np.array([[100.0, 300.0]])
        scale = np.array([1.0, 2.0])
        ref = np.array([100.0, 100.0])
        eta = np.array([0.0, 0.5])
        # channel 0: 1 * 100 = 100; channel 1: 300 (first test)
        np.testing.assert_allclose(curves.exposure(x, scale, ref, eta), [[100.0, 300.0]], rtol=REL)


pos = st.floats(min_value=1e-2, max_value=1e2)
elasticity = st.floats(min_value=0.0, max_value=1.0)


class TestExposureProperties:
    @settings(max_examples=60, deadline=None)
    @given(
        x=st.floats(min_value=1e-3, max_value=1e4),
        s=pos,
        ref=st.floats(min_value=1.0, max_value=1e4),
        eta=elasticity,
    )
    def test_derivatives_match_central_differences(self, x, s, ref, eta):
        def f(z):
            return curves.exposure(z, s, ref, eta)
        def d1(z):
            return curves.exposure_d1(z, s, ref, eta)
        h = 1e-4 * max(x, 1.0)
        h = min(h, 0.5 * x)
        # absolute slack: ~100x the round-off of a central difference of a quantity of size s
        noise = 1e-13 * s * max(x, 1.0) / h
        assert curves.exposure_d1(x, s, ref, eta) == pytest.approx(
            _central_d1(f, x, h), rel=1e-6, abs=noise
        )
        assert curves.exposure_d2(x, s, ref, eta) == pytest.approx(
            _central_d1(d1, x, h), rel=1e-5, abs=noise / max(x, 1.0)
        )

    @settings(max_examples=60, deadline=None)
    @given(s=pos, ref=st.floats(min_value=1.0, max_value=1e4), eta=elasticity)
    def test_increasing_and_concave_for_elasticity_in_unit_interval(self, s, ref, eta):
        x = np.linspace(0.0, 20.0 * ref, 201)
        e = curves.exposure(x, s, ref, eta)
        assert np.all(np.diff(e) > 0), "exposure must increase with spend"
        assert np.all(curves.exposure_d1(x, s, ref, eta) > 0)
        assert np.all(curves.exposure_d2(x, s, ref, eta) <= 0)
        # midpoint concavity on the grid: e(x_k) >= (e(x_{k-1}) + e(x_{k+1})) / 2
        mid = 0.5 * (e[:-2] + e[2:])
        assert np.all(e[1:-1] >= mid - 1e-9 * np.abs(e[1:-1]))

    def test_convex_when_elasticity_exceeds_one_is_excluded_by_schema(self):
        # The concavity claim holds for eta in [0, 1] only; the schema caps eta at 1.
        from budgetgym.envs.scenario import CostConfig

        with pytest.raises(ValueError):
            CostConfig(price=1.0, ref_spend=1.0, elasticity=1.01)


# =================================================================================== Hill
class TestHillHand:
    def test_slope_one_values_and_derivatives(self):
        # f = 10 a / (a + 4): f(4) = 5, f(12) = 120/16 = 7.5
        assert curves.hill(4.0, 10.0, 4.0, 1.0) == _approx(5.0)
        assert curves.hill(12.0, 10.0, 4.0, 1.0) == _approx(7.5)
        # f' = beta kappa / (a + kappa)^2: f'(4) = 40/64 = 0.625, f'(12) = 40/256 = 0.15625
        assert curves.hill_d1(4.0, 10.0, 4.0, 1.0) == _approx(0.625)
        assert curves.hill_d1(12.0, 10.0, 4.0, 1.0) == _approx(0.15625)
        # f'' = -2 beta kappa / (a + kappa)^3: f''(4) = -80/512 = -0.15625
        assert curves.hill_d2(4.0, 10.0, 4.0, 1.0) == _approx(-0.15625)

    def test_concave_slope_half(self):
        # s = 0.5, beta = 10, kappa = 4
        # a = 16: r = (16/4)^0.5 = 2 -> f = 10 * 2/3 = 20/3
        # a = 1:  r = (1/4)^0.5 = 0.5 -> f = 10 * 0.5/1.5 = 10/3
        assert curves.hill(16.0, 10.0, 4.0, 0.5) == _approx(20.0 / 3.0)
        assert curves.hill(1.0, 10.0, 4.0, 0.5) == _approx(10.0 / 3.0)
        # f' = beta s r / (a (1+r)^2) = 10 * 0.5 * 2 / (16 * 9) = 10/144
        assert curves.hill_d1(16.0, 10.0, 4.0, 0.5) == _approx(10.0 / 144.0)
        # f'' = beta s r ((s-1) - (s+1) r) / (a^2 (1+r)^3) = 10*0.5*2*(-0.5 - 3) / (256 * 27) = -35/6912
        assert curves.hill_d2(16.0, 10.0, 4.0, 0.5) == _approx(-35.0 / 6912.0)

    def test_s_shaped_slope_two(self):
        # f = beta a^2 / (a^2 + k^2); by hand f' = 2 beta a k^2 / (a^2+k^2)^2,
        # f'' = 2 beta k^2 (k^2 - 3 a^2) / (a^2 + k^2)^3.  beta = 10, k = 4, a = 2:
        # f = 40/20 = 2, f' = 10*2*2*16/400 = 1.6, f'' = 2*10*16*(16-12)/8000 = 0.16
        assert curves.hill(2.0, 10.0, 4.0, 2.0) == _approx(2.0)
        assert curves.hill_d1(2.0, 10.0, 4.0, 2.0) == _approx(1.6)
        assert curves.hill_d2(2.0, 10.0, 4.0, 2.0) == _approx(0.16)

    @pytest.mark.parametrize("slope", [0.3, 0.5, 1.0, 2.0, 3.0, 7.5, 10.0])
    def test_half_saturation_gives_half_of_beta(self, slope):
        assert curves.hill(250.0, 6.0, 250.0, slope) == _approx(3.0)

    def test_inflection_point_slope_two(self):
        # f'' = 0 where k^2 = 3 a^2, i.e. a = k / sqrt(3); docstring: kappa ((s-1)/(s+1))^(1/s) = 4 sqrt(1/3)
        a_star = 4.0 / math.sqrt(3.0)
        assert curves.hill_d2(a_star, 10.0, 4.0, 2.0) == pytest.approx(0.0, abs=1e-12)
        assert curves.hill_d2(a_star * 0.99, 10.0, 4.0, 2.0) > 0
        assert curves.hill_d2(a_star * 1.01, 10.0, 4.0, 2.0) < 0

    def test_inflection_point_slope_three(self):
        # kappa = 2, s = 3: a* = 2 * (2/4)^(1/3) = 2 * 0.793700526 = 1.587401052
        a_star = 2.0 * 0.5 ** (1.0 / 3.0)
        assert a_star == pytest.approx(1.587401052, rel=1e-9)
        assert curves.hill_d2(a_star, 6.0, 2.0, 3.0) == pytest.approx(0.0, abs=1e-12)
        assert curves.hill_d2(1.5, 6.0, 2.0, 3.0) > 0  # convex before
        assert curves.hill_d2(1.7, 6.0, 2.0, 3.0) < 0  # concave after
        # the slope is largest at the inflection point
        grid = np.linspace(0.01, 6.0, 5999)
        assert grid[np.argmax(curves.hill_d1(grid, 6.0, 2.0, 3.0))] == pytest.approx(
            a_star, abs=1e-3
        )

    def test_d1_at_zero_is_finite_for_slope_at_least_one(self):
        with np.errstate(all="raise"):
            # slope 1: f'(0) = beta / kappa = 10 / 4
            assert curves.hill_d1(0.0, 10.0, 4.0, 1.0) == _approx(2.5)
            # slope > 1: f'(0) = 0
            assert curves.hill_d1(0.0, 10.0, 4.0, 1.5) == 0.0
            assert curves.hill_d1(0.0, 10.0, 4.0, 3.0) == 0.0
        assert curves.hill(0.0, 10.0, 4.0, 0.5) == 0.0

    def test_d2_at_zero_slope_two(self):
        # f''(0) = 2 beta k^2 * k^2 / k^6 = 2 beta / k^2 = 20/16
        assert curves.hill_d2(0.0, 10.0, 4.0, 2.0) == _approx(1.25)

    def test_d2_at_zero_slope_one(self):
        # f = beta a/(a+k): f'' = -2 beta k/(a+k)^3 -> f''(0) = -2 * 10 / 16 = -1.25
        with np.errstate(all="ignore"):
            assert curves.hill_d2(0.0, 10.0, 4.0, 1.0) == _approx(-1.25)


slopes = st.floats(min_value=0.3, max_value=10.0)


class TestHillProperties:
    @settings(max_examples=80, deadline=None)
    @given(
        u=st.floats(min_value=0.05, max_value=20.0),
        beta=st.floats(min_value=0.1, max_value=1e3),
        kappa=st.floats(min_value=1e-2, max_value=1e5),
        slope=slopes,
    )
    def test_derivatives_match_central_differences(self, u, beta, kappa, slope):
        a = u * kappa
        h = 1e-5 * a
        def f(z):
            return curves.hill(z, beta, kappa, slope)
        def d1(z):
            return curves.hill_d1(z, beta, kappa, slope)
        scale1 = beta / kappa  # natural size of f'
        assert curves.hill_d1(a, beta, kappa, slope) == pytest.approx(
            _central_d1(f, a, h), rel=1e-5, abs=1e-9 * scale1
        )
        assert curves.hill_d2(a, beta, kappa, slope) == pytest.approx(
            _central_d1(d1, a, h), rel=1e-5, abs=1e-8 * scale1 / kappa
        )

    @settings(max_examples=40, deadline=None)
    @given(
        beta=st.floats(min_value=0.1, max_value=1e3),
        kappa=st.floats(min_value=1e-2, max_value=1e5),
        slope=slopes,
    )
    def test_increasing_and_bounded(self, beta, kappa, slope):
        a = kappa * np.geomspace(1e-2, 1e2, 200)
        f = curves.hill(a, beta, kappa, slope)
        # non-decreasing up to round-off (far in the tail f is beta to the last bit)
        assert np.all(np.diff(f) >= -4e-16 * beta)
        assert np.all((f > 0) & (f <= beta * (1 + 4e-16)))
        assert np.all(curves.hill_d1(a, beta, kappa, slope) >= 0)

    @settings(max_examples=40, deadline=None)
    @given(
        beta=st.floats(min_value=0.1, max_value=1e3),
        kappa=st.floats(min_value=1e-2, max_value=1e5),
        slope=st.floats(min_value=0.3, max_value=1.0),
    )
    def test_concave_for_slope_at_most_one(self, beta, kappa, slope):
        a = kappa * np.geomspace(1e-3, 1e3, 200)
        assert np.all(curves.hill_d2(a, beta, kappa, slope) <= 0)

    @settings(max_examples=40, deadline=None)
    @given(
        kappa=st.floats(min_value=1e-2, max_value=1e5),
        slope=st.floats(min_value=1.05, max_value=10.0),
    )
    def test_s_shape_changes_curvature_at_documented_inflection(self, kappa, slope):
        a_star = kappa * ((slope - 1.0) / (slope + 1.0)) ** (1.0 / slope)
        assert curves.hill_d2(a_star * 0.9, 1.0, kappa, slope) > 0
        assert curves.hill_d2(a_star * 1.1, 1.0, kappa, slope) < 0


class TestHillAtExtremes:
    """``a / kappa`` is capped at ``hill_u_max(s) = 10**min(300, 100/s)`` before any power: the
    functions are finite for any ``a`` and identical to the plain formulas wherever those are."""

    def test_cap_hand_values(self):
        # 10**(100/1), 10**(100/10), 10**(100/0.5), 10**min(300, 400)
        expected = [1e100, 1e10, 1e200, 1e300]
        np.testing.assert_allclose(curves.hill_u_max([1.0, 10.0, 0.5, 0.25]), expected, rtol=1e-13)

    @pytest.mark.parametrize("slope", [0.3, 0.5, 0.9, 1.0, 2.0, 10.0])
    def test_plain_formulas_to_the_last_bit_below_the_cap(self, slope):
        beta, kappa = 7.0, 3.0
        u = np.geomspace(1e-12, 0.99 * min(curves.hill_u_max(slope), 1e300), 400)
        a = u * kappa
        r = (a / kappa) ** slope
        # the docstring formulas, written out independently
        f = beta * r / (1.0 + r)
        d1 = beta * slope * (a / kappa) ** (slope - 1.0) / (kappa * (1.0 + r) ** 2)
        first = 0.0 if slope == 1.0 else (slope - 1.0) * (a / kappa) ** (slope - 2.0)
        second = (slope + 1.0) * (a / kappa) ** (2.0 * slope - 2.0)
        d2 = beta * slope * (first - second) / (kappa**2 * (1.0 + r) ** 3)
        np.testing.assert_array_equal(curves.hill(a, beta, kappa, slope), f)
        np.testing.assert_array_equal(curves.hill_d1(a, beta, kappa, slope), d1)
        np.testing.assert_array_equal(curves.hill_d2(a, beta, kappa, slope), d2)

    @pytest.mark.parametrize("slope", [0.3, 0.5, 1.0, 2.5, 10.0])
    @pytest.mark.parametrize("a", [1e30, 1e290, np.inf])
    def test_far_past_saturation_f_is_beta_and_the_derivatives_vanish(self, a, slope):
        # kappa = 1e-9: u = a / kappa >= 1e39 (or inf), where u**slope used to overflow for large
        # slopes (inf / inf = NaN). f -> beta; with u >= 1e10 and r = u**s >= 1e10
        # wherever evaluated, f' = beta s r / (a (1+r)^2) <= beta s / (kappa u r) <= 1e-20 beta s / kappa,
        # and likewise |f''| <= beta s (|s-1| + s + 1) / (kappa^2 u^2 r) <= 1e-20 of that numerator.
        beta, kappa = 7.0, 1e-9
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # no overflow on the way either
            f = curves.hill(a, beta, kappa, slope)
            d1 = curves.hill_d1(a, beta, kappa, slope)
            d2 = curves.hill_d2(a, beta, kappa, slope)
        # the reciprocal form beta / (1 + (kappa/a)^s) cannot overflow: an independent reference
        assert f == _approx(beta / (1.0 + (kappa / a) ** slope), rel=4e-16)
        assert 0.0 <= d1 <= 1e-20 * beta * slope / kappa
        assert abs(d2) <= 1e-20 * beta * slope * (abs(slope - 1.0) + slope + 1.0) / kappa**2

    @pytest.mark.parametrize("slope", [0.3, 1.0, 10.0])
    def test_non_decreasing_through_the_cap(self, slope):
        cap = curves.hill_u_max(slope)
        a = 2.0 * np.geomspace(cap * 1e-3, min(cap * 1e3, 1e308), 200)
        f = curves.hill(a, 5.0, 2.0, slope)
        assert np.all(np.isfinite(f))
        assert np.all(np.diff(f) >= -2e-16 * 5.0)  # up to one rounding: f is 5 from well before the cap
        assert f[-1] == _approx(5.0, rel=2e-16)

    @pytest.mark.parametrize("a", [1e290, np.inf])
    def test_slope_one_bank_fast_path_is_beta_far_past_saturation(self, a):
        # saturate() skips the power for an all-slope-1 bank ("hill1"): it must still cap a / kappa
        # as hill() does, else beta * u overflows (1e12 * 1e299 = inf, and inf / inf = NaN at a = inf)
        # where f is beta. Reference: the reciprocal form beta / (1 + kappa / a), which cannot overflow.
        class Bank:
            is_hill = np.array([True, True])
            beta = np.array([1e12, 7.0])
            kappa = np.array([1e-9, 3.0])
            slope = np.array([1.0, 1.0])
            hill_u_max = curves.hill_u_max(slope)
            rate = np.array([1.0, 1.0])
            curve_family = "hill1"

        with warnings.catch_warnings():
            warnings.simplefilter("error")  # no overflow on the way either
            f = curves.saturate(Bank, np.full(2, a))
        np.testing.assert_allclose(f, Bank.beta / (1.0 + Bank.kappa / a), rtol=4e-16)

    def test_slope_one_bank_fast_path_equals_the_plain_formula_below_the_cap(self):
        class Bank:
            is_hill = np.array([True])
            beta, kappa, slope = np.array([7.0]), np.array([3.0]), np.array([1.0])
            hill_u_max = curves.hill_u_max(slope)
            rate = np.array([1.0])
            curve_family = "hill1"

        a = 3.0 * np.geomspace(1e-12, 0.99e100, 300)[:, None]
        u = a / 3.0
        np.testing.assert_array_equal(curves.saturate(Bank, a), 7.0 * u / (1.0 + u))


# =============================================================================== logistic
class TestLogisticHand:
    # beta = 10, lambda = 0.5, a = 2  ->  lambda a = 1, u = e^-1
    U = math.exp(-1.0)

    def test_value_exp_form(self):
        # f = beta (1 - u)/(1 + u) = 10 * 0.63212055883 / 1.36787944117 = 4.6211715726
        assert curves.logistic(2.0, 10.0, 0.5) == _approx(10.0 * (1 - self.U) / (1 + self.U))
        assert curves.logistic(2.0, 10.0, 0.5) == _approx(4.6211715726, rel=1e-10)

    def test_first_derivative(self):
        # d/da (1-u)/(1+u) with u' = -lambda u: 2 lambda u / (1+u)^2
        # f' = 10 * 2 * 0.5 * 0.36787944 / 1.36787944^2 = 1.96611933
        expected = 10.0 * 2 * 0.5 * self.U / (1 + self.U) ** 2
        assert curves.logistic_d1(2.0, 10.0, 0.5) == _approx(expected)
        assert curves.logistic_d1(2.0, 10.0, 0.5) == _approx(1.96611933, rel=1e-8)

    def test_second_derivative(self):
        # f'' = -2 beta lambda^2 u (1-u) / (1+u)^3
        #     = -5 * (0.36787944 * 0.63212056) / 1.36787944^3 = -5 * 0.23254416 / 2.55943 = -0.4542887
        expected = -10.0 * 2 * 0.25 * self.U * (1 - self.U) / (1 + self.U) ** 3
        assert curves.logistic_d2(2.0, 10.0, 0.5) == _approx(expected)
        assert curves.logistic_d2(2.0, 10.0, 0.5) == _approx(-0.4542887, rel=1e-6)

    def test_at_zero(self):
        # f(0) = 0, f'(0) = beta lambda / 2 = 2.5, f''(0) = 0
        assert curves.logistic(0.0, 10.0, 0.5) == 0.0
        assert curves.logistic_d1(0.0, 10.0, 0.5) == _approx(2.5)
        assert curves.logistic_d2(0.0, 10.0, 0.5) == 0.0

    def test_saturates_at_beta(self):
        assert curves.logistic(1e6, 7.0, 0.5) == _approx(7.0)


class TestLogisticProperties:
    @settings(max_examples=60, deadline=None)
    @given(
        v=st.floats(min_value=0.01, max_value=8.0),
        beta=st.floats(min_value=0.1, max_value=1e3),
        rate=st.floats(min_value=1e-6, max_value=10.0),
    )
    def test_derivatives_match_central_differences(self, v, beta, rate):
        a = v / rate
        h = 1e-5 * a
        def f(z):
            return curves.logistic(z, beta, rate)
        def d1(z):
            return curves.logistic_d1(z, beta, rate)
        assert curves.logistic_d1(a, beta, rate) == pytest.approx(
            _central_d1(f, a, h), rel=1e-5, abs=1e-9 * beta * rate
        )
        assert curves.logistic_d2(a, beta, rate) == pytest.approx(
            _central_d1(d1, a, h), rel=1e-5, abs=1e-8 * beta * rate**2
        )
        # and the plain second difference of f agrees with the analytic f'' too
        h2 = 1e-3 * a
        assert curves.logistic_d2(a, beta, rate) == pytest.approx(
            _central_d2(f, a, h2), rel=1e-3, abs=1e-6 * beta * rate**2
        )

    @settings(max_examples=40, deadline=None)
    @given(
        beta=st.floats(min_value=0.1, max_value=1e3), rate=st.floats(min_value=1e-6, max_value=10.0)
    )
    def test_increasing_concave_bounded(self, beta, rate):
        a = np.linspace(0.0, 10.0 / rate, 200)
        f = curves.logistic(a, beta, rate)
        assert np.all(np.diff(f) > 0)
        assert np.all((f >= 0) & (f < beta))
        assert np.all(curves.logistic_d2(a, beta, rate) <= 0)


def test_hill_second_difference_hand_point():
    # A finite-difference check at a hand-picked point: f = 10 a^2/(a^2+16) at a = 2 (f'' = 0.16 by hand)
    def f(z):
        return curves.hill(z, 10.0, 4.0, 2.0)
    assert _central_d2(f, 2.0, 1e-4) == pytest.approx(0.16, rel=1e-6)
    assert _central_d1(f, 2.0, 1e-5) == pytest.approx(1.6, rel=1e-8)


def test_derivative_point_by_hand() -> None:
    r"""``derivative_point`` (floor :math:`\underline a` = 1e-12 here): an adstock above the floor is kept; a
    channel reaching its curve (largest adstock 10) raises a 0 to :math:`\min(10^{-12}, 10^{-12} \cdot 10)
    = 10^{-12}`; one far below it (largest 1e-6) to :math:`10^{-12} \cdot 10^{-6} = 10^{-18}`; one in a deep
    outage (largest 1e-70) to no lower than :math:`10^{-18} \cdot 10^{-12} = 10^{-30}`, not 1e-82; a channel
    with no adstock at all to the floor itself."""
    a = np.array([[10.0, 1e-6, 1e-70, 0.0],
                  [0.0, 0.0, 0.0, 0.0]])
    floor = np.full(4, 1e-12)
    np.testing.assert_allclose(curves.derivative_point(a, floor), [[10.0, 1e-6, 1e-30, 1e-12],
                                                            [1e-12, 1e-18, 1e-30, 1e-12]], rtol=1e-12, atol=0)
