"""Adstock and delay kernels (budgetgym.envs.kernels) against hand calculations and
independent re-implementations of their definitions (Robyn's recursion / Weibull formulas,
written here with ``math`` only; ``scipy.stats.weibull_min`` for the bit-for-bit check of the
Weibull weights)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from scipy import stats

from budgetgym.envs.kernels import (
    GEOMETRIC_TAIL,
    PDF_FLOOR,
    adstock_kernel,
    delay_kernel,
    geometric_window,
    lag_matrix,
    weibull_weights,
)
from budgetgym.envs.scenario import (
    GammaDelay,
    GeometricAdstock,
    GeometricDelay,
    NoAdstock,
    NoDelay,
    WeibullAdstock,
)


def geo(decay: float, window: int | None = None, normalize: bool = False) -> GeometricAdstock:
    return GeometricAdstock(type="geometric", decay=decay, window=window, normalize=normalize)


def weib(
    kind: str, shape: float, scale: float, window: int, normalize: bool = False
) -> WeibullAdstock:
    return WeibullAdstock(type=kind, shape=shape, scale=scale, window=window, normalize=normalize)


# ------------------------------------------------------------------- independent references
def robyn_geometric_recursion(e: list[float], theta: float) -> list[float]:
    """a_t = e_t + theta a_{t-1}, a_{-1} = 0 (Robyn's geometric adstock)."""
    out, prev = [], 0.0
    for x in e:
        prev = x + theta * prev
        out.append(prev)
    return out


def robyn_weibull_cdf(shape: float, scale: float, window: int) -> list[float]:
    """w_0 = 1, w_l = prod_{j=1..l} (1 - F(j)), F(j) = 1 - exp(-(j/scale)^shape)."""
    w = [1.0]
    for j in range(1, window):
        # 1 - F(j) = exp(-(j/scale)^shape); written in this form (not 1 - (1 - exp(..))) so the
        # reference keeps full relative precision when the survival is tiny
        survival = math.exp(-((j / scale) ** shape))
        w.append(w[-1] * survival)
    return w


def weibull_pdf(x: float, k: float, lam: float) -> float:
    return (k / lam) * (x / lam) ** (k - 1) * math.exp(-((x / lam) ** k))


def gamma_cdf_shape2(x: float, theta: float) -> float:
    """Gamma CDF for shape 2 in closed form: 1 - exp(-x/theta) (1 + x/theta)."""
    return 1.0 - math.exp(-x / theta) * (1.0 + x / theta)


# ===================================================================== geometric adstock
class TestGeometricAdstock:
    def test_weights_are_powers_of_theta(self):
        # window given: [1, 0.5, 0.25]
        np.testing.assert_array_equal(
            adstock_kernel(geo(0.5, window=3), horizon=50), [1.0, 0.5, 0.25]
        )

    def test_default_window_weights(self):
        w = adstock_kernel(geo(0.5), horizon=100)
        # 0.5^26 = 1.49e-8 >= 1e-8 > 0.5^27 = 7.45e-9 -> lags 0..27 kept: 28 weights
        assert len(w) == 28
        np.testing.assert_allclose(w, 0.5 ** np.arange(28), rtol=0, atol=0)

    def test_matches_robyn_recursion_by_hand(self):
        # e = [1, 0, 2, 0, 0, 3], theta = 0.5, worked by hand:
        # a0 = 1; a1 = 0 + .5*1 = .5; a2 = 2 + .25 = 2.25; a3 = 1.125; a4 = .5625; a5 = 3 + .28125 = 3.28125
        e = np.array([1.0, 0.0, 2.0, 0.0, 0.0, 3.0])
        hand = [1.0, 0.5, 2.25, 1.125, 0.5625, 3.28125]
        assert robyn_geometric_recursion(list(e), 0.5) == hand
        k = adstock_kernel(geo(0.5), horizon=6)
        np.testing.assert_allclose(lag_matrix(k, 6) @ e, hand, rtol=1e-15)

    @settings(max_examples=40, deadline=None)
    @given(
        theta=st.floats(min_value=0.0, max_value=0.95),
        e=st.lists(st.floats(min_value=0.0, max_value=1e4), min_size=1, max_size=40),
    )
    def test_recursion_property(self, theta, e):
        T = len(e)
        k = adstock_kernel(geo(theta), horizon=T)
        got = lag_matrix(k, T) @ np.array(e)
        ref = robyn_geometric_recursion(e, theta)
        # the default window drops lags with weight < 1e-8 (relative to lag 0)
        np.testing.assert_allclose(got, ref, rtol=1e-7, atol=1e-7 * max(e + [1.0]))

    def test_normalize_divides_by_sum(self):
        # [1, .5, .25] / 1.75
        np.testing.assert_allclose(
            adstock_kernel(geo(0.5, window=3, normalize=True), horizon=10),
            [4 / 7, 2 / 7, 1 / 7],
            rtol=1e-15,
        )

    def test_zero_decay_is_no_carry_over(self):
        np.testing.assert_array_equal(adstock_kernel(geo(0.0), horizon=10), [1.0])

    def test_none_adstock(self):
        np.testing.assert_array_equal(adstock_kernel(NoAdstock(type="none"), horizon=10), [1.0])


class TestGeometricWindow:
    @pytest.mark.parametrize(
        "decay, horizon, expected",
        [
            (0.0, 10, 1),  # no carry-over
            (0.5, 100, 28),  # ceil(log 1e-8 / log 0.5) = ceil(26.58) = 27, + 1
            (0.9, 1000, 176),  # ceil(174.83) = 175, + 1
            (0.9, 50, 50),  # clipped at the horizon
            (0.5, 1, 1),
        ],
    )
    def test_hand_values(self, decay, horizon, expected):
        assert geometric_window(decay, horizon) == expected

    @settings(max_examples=60, deadline=None)
    @given(decay=st.floats(min_value=0.01, max_value=0.99))
    def test_last_kept_lag_is_first_below_tail(self, decay):
        L = geometric_window(decay, horizon=10_000)
        assert decay ** (L - 1) <= GEOMETRIC_TAIL * (1 + 1e-9)
        assert decay ** (L - 2) >= GEOMETRIC_TAIL * (1 - 1e-9)

    @settings(max_examples=40, deadline=None)
    @given(
        decay=st.floats(min_value=0.0, max_value=0.999),
        horizon=st.integers(min_value=1, max_value=400),
    )
    def test_between_one_and_horizon(self, decay, horizon):
        assert 1 <= geometric_window(decay, horizon) <= horizon


# ======================================================================= Weibull adstock
class TestWeibullAdstock:
    def test_cdf_hand_values(self):
        # shape 2, scale 3: 1 - F(j) = exp(-(j/3)^2), so w_l = exp(-(1 + 4 + ... + l^2)/9):
        # w = [1, e^{-1/9}, e^{-5/9}, e^{-14/9}] = [1, 0.894839, 0.573753, 0.211072]
        w = adstock_kernel(weib("weibull_cdf", 2.0, 3.0, 4), horizon=30)
        np.testing.assert_allclose(
            w, [1.0, math.exp(-1 / 9), math.exp(-5 / 9), math.exp(-14 / 9)], rtol=1e-13
        )
        np.testing.assert_allclose(w, [1.0, 0.894839, 0.573753, 0.211072], rtol=2e-6)

    @settings(max_examples=40, deadline=None)
    @given(
        shape=st.floats(min_value=0.1, max_value=20.0),
        scale=st.floats(min_value=0.1, max_value=100.0),
        window=st.integers(min_value=1, max_value=60),
    )
    def test_cdf_matches_robyn_definition(self, shape, scale, window):
        w = adstock_kernel(weib("weibull_cdf", shape, scale, window), horizon=100)
        assert len(w) == window
        ref = robyn_weibull_cdf(shape, scale, window)
        np.testing.assert_allclose(w, ref, rtol=1e-9, atol=1e-300)
        assert w[0] == 1.0
        assert np.all(np.diff(w) <= 0)  # survival products never increase

    def test_pdf_hand_values_min_max_normalised(self):
        # shape 2, scale 3: density (2x/9) exp(-x^2/9) at x = 1..5:
        # x=1: 2/9 * 0.8948393 = 0.1988532     x=2: 4/9 * 0.6411804 = 0.2849691
        # x=3: 6/9 * 0.3678794 = 0.2452529     x=4: 8/9 * 0.1690133 = 0.1502341
        # x=5: 10/9 * 0.0621765 = 0.0690850;   min at x=5, max at x=2, span 0.2158841
        # -> [0.1297682, 0.2158841, 0.1761679, 0.0811491, 0] / 0.2158841
        dens = [2 * x / 9 * math.exp(-(x * x) / 9) for x in range(1, 6)]
        lo, hi = min(dens), max(dens)
        expected = [(d - lo) / (hi - lo) for d in dens]
        w = adstock_kernel(weib("weibull_pdf", 2.0, 3.0, 5), horizon=30)
        np.testing.assert_allclose(w, expected, rtol=1e-12, atol=1e-15)
        # lagged peak at lag 1 (x = 2) when shape > 1; the smallest weight is exactly 0
        assert int(np.argmax(w)) == 1 and w[1] == 1.0 and w[4] == 0.0
        np.testing.assert_allclose(w, [0.601101, 1.0, 0.816030, 0.375892, 0.0], atol=2e-6)

    @settings(max_examples=40, deadline=None)
    @given(
        shape=st.floats(min_value=0.2, max_value=20.0),
        scale=st.floats(min_value=0.5, max_value=50.0),
        window=st.integers(min_value=2, max_value=40),
    )
    def test_pdf_matches_definition(self, shape, scale, window):
        dens = [weibull_pdf(x, shape, scale) for x in range(1, window + 1)]
        lo, hi = min(dens), max(dens)
        # keep away from densities that underflow to subnormals, where "span > 0" is a coin toss
        assume(hi - lo > 1e-200)
        w = adstock_kernel(weib("weibull_pdf", shape, scale, window), horizon=100)
        np.testing.assert_allclose(w, [(d - lo) / (hi - lo) for d in dens], rtol=1e-8, atol=1e-10)
        assert w.min() == 0.0 and w.max() == pytest.approx(1.0)

    @settings(max_examples=60, deadline=None)
    @given(
        shape=st.floats(min_value=0.2, max_value=20.0),
        scale=st.floats(min_value=1e-3, max_value=2.0),
        window=st.integers(min_value=2, max_value=12),
    )
    def test_pdf_underflowing_densities_keep_their_shape(self, shape, scale, window):
        # A sharp density (large shape, small scale) underflows to 0 at every lag: the min-max of the
        # densities relative to their peak, exp(log f - max log f), is still defined and is the limit
        # of the kernel as the density sharpens, [1, 0, ...] here (no carry-over), never all ones
        # (full carry-over over the window, as when 0 / 0 was read as "constant").
        logd = [
            math.log(shape / scale) + (shape - 1) * math.log(x / scale) - (x / scale) ** shape
            for x in range(1, window + 1)
        ]
        top = max(logd)
        rel = [math.exp(v - top) for v in logd]
        lo = min(rel)
        assume(1.0 - lo > 1e-6)  # not a (near-)constant density
        w = adstock_kernel(weib("weibull_pdf", shape, scale, window), horizon=100)
        np.testing.assert_allclose(w, [(r - lo) / (1.0 - lo) for r in rel], rtol=1e-8, atol=1e-10)

    def test_pdf_sharp_density_is_no_carry_over(self):
        # shape 20, scale 0.5: f(1) = 40 * 2**19 * exp(-2**20) underflows, as every later lag does;
        # f(x + 1) / f(1) < exp(-(2**20) * (2**20 - 1)) = 0, so the weights are [1, 0, 0, 0, 0] (as at
        # scale 0.9, where f(1) is still a normal number), not [1, 1, 1, 1, 1]
        for scale in (0.5, 0.9):
            np.testing.assert_array_equal(adstock_kernel(weib("weibull_pdf", 20.0, scale, 5), 30), [1, 0, 0, 0, 0])

    def test_single_lag_window(self):
        np.testing.assert_array_equal(adstock_kernel(weib("weibull_pdf", 2.0, 3.0, 1), 10), [1.0])
        np.testing.assert_array_equal(adstock_kernel(weib("weibull_cdf", 2.0, 3.0, 1), 10), [1.0])

    def test_normalize_sums_to_one(self):
        raw = adstock_kernel(weib("weibull_cdf", 2.0, 3.0, 4), horizon=30)
        norm = adstock_kernel(weib("weibull_cdf", 2.0, 3.0, 4, normalize=True), horizon=30)
        total = 1 + math.exp(-1 / 9) + math.exp(-5 / 9) + math.exp(-14 / 9)
        np.testing.assert_allclose(norm, raw / total, rtol=1e-14)
        assert norm.sum() == pytest.approx(1.0, abs=1e-15)

    def test_weights_are_scipy_weibull_min_to_the_last_bit(self):
        # weibull_weights restates scipy.stats.weibull_min's sf / pdf / logpdf in plain numpy (the
        # calibration fit calls it in its inner loop); the kernel must be what scipy gives, exactly,
        # on both sides of the low-peak branch (peak density below PDF_FLOOR: from the log-density)
        low_peak = 0
        for shape in (0.1, 0.5, 1.0, 1.5, 2.0, 3.0, 5.0, 12.0, 20.0):
            for scale in (0.01, 0.05, 0.3, 0.5, 0.9, 1.0, 3.7, 8.0, 50.0):
                for window in (1, 2, 5, 8, 30):
                    lags = np.arange(1, window + 1, dtype=float)
                    survival = stats.weibull_min.sf(lags[:-1], shape, scale=scale)
                    cdf = np.cumprod(np.concatenate(([1.0], survival)))
                    dens = stats.weibull_min.pdf(lags, shape, scale=scale)
                    if not dens.max() >= PDF_FLOOR:
                        low_peak += 1
                        logd = stats.weibull_min.logpdf(lags, shape, scale=scale)
                        dens = np.exp(logd - logd.max())
                    span = dens.max() - dens.min()
                    pdf = (dens - dens.min()) / span if span > 0 else np.ones_like(dens)
                    np.testing.assert_array_equal(weibull_weights("weibull_cdf", shape, scale, window), cdf)
                    np.testing.assert_array_equal(weibull_weights("weibull_pdf", shape, scale, window), pdf)
        assert low_peak > 10


# ========================================================================= delay kernels
class TestDelayKernels:
    def test_gamma_is_scipy_gamma_cdf_to_the_last_bit(self):
        # gamma_lag_weights (delay_kernel's gamma, and the calibration fit's) is scipy.special's
        # gammainc on x / scale, as scipy.stats.gamma.cdf computes it: the same numbers exactly
        for shape in (0.3, 1.0, 2.0, 3.5, 10.0):
            for mean in (0.01, 0.4, 1.0, 2.5, 7.0, 30.0):
                for window in (1, 2, 6, 25):
                    d = np.arange(window, dtype=float)
                    q = np.diff(stats.gamma.cdf(np.concatenate(([0.0], d + 0.5)), shape, scale=mean / shape))
                    w = delay_kernel(GammaDelay(type="gamma", shape=shape, mean_lag=mean, window=window))
                    np.testing.assert_array_equal(w, q / q.sum())

    def test_none(self):
        np.testing.assert_array_equal(delay_kernel(NoDelay(type="none")), [1.0])

    def test_geometric_hand_values(self):
        # mean 2 -> rho = 2/3; q_d ∝ (2/3)^d for d = 0..3: [27, 18, 12, 8] / 65
        q = delay_kernel(GeometricDelay(type="geometric", mean_lag=2.0, window=4))
        np.testing.assert_allclose(q, np.array([27.0, 18.0, 12.0, 8.0]) / 65.0, rtol=1e-14)

    def test_gamma_hand_values(self):
        # shape 2, mean 4 -> scale 2: q_0 = F(.5), q_1 = F(1.5) - F(.5), q_2 = F(2.5) - F(1.5), renormalised
        F = [gamma_cdf_shape2(x, 2.0) for x in (0.5, 1.5, 2.5)]
        raw = [F[0], F[1] - F[0], F[2] - F[1]]
        # F(.5) = 1 - e^-.25 * 1.25 = 0.0265, F(1.5) = 1 - e^-.75 * 1.75 = 0.1734, F(2.5) = 0.3554
        np.testing.assert_allclose(F, [0.026499, 0.173358, 0.355364], atol=2e-6)
        q = delay_kernel(GammaDelay(type="gamma", mean_lag=4.0, shape=2.0, window=3))
        np.testing.assert_allclose(q, np.array(raw) / sum(raw), rtol=1e-10)

    @settings(max_examples=50, deadline=None)
    @given(
        mean=st.floats(min_value=0.05, max_value=100.0),
        shape=st.floats(min_value=0.1, max_value=50.0),
        window=st.integers(min_value=1, max_value=300),
        kind=st.sampled_from(["geometric", "gamma"]),
    )
    def test_sums_to_one_and_nonnegative(self, mean, shape, window, kind):
        if kind == "geometric":
            cfg = GeometricDelay(type="geometric", mean_lag=mean, window=window)
        else:
            cfg = GammaDelay(type="gamma", mean_lag=mean, shape=shape, window=window)
        q = delay_kernel(cfg)
        assert len(q) == window
        assert np.all(q >= 0) and np.all(np.isfinite(q))
        assert q.sum() == pytest.approx(1.0, abs=1e-12)

    @pytest.mark.parametrize("shape", [5e-324, 1e-310, 1e-300, 1e-6, 1e-3, 0.1, 50.0])
    @pytest.mark.parametrize("mean", [1e-3, 1.0, 100.0])
    def test_every_accepted_gamma_delay_is_a_distribution(self, shape, mean):
        # a shape the schema accepted near the float range's end (5e-324) made the gamma's scale
        # mean / shape inf and the kernel NaN, hence NaN conversions and a traceback in the Poisson
        # draw; such a shape is refused in one line, every accepted one gives a distribution
        from pydantic import ValidationError

        try:
            cfg = GammaDelay(type="gamma", mean_lag=mean, shape=shape, window=5)
        except ValidationError as err:
            assert err.errors()[0]["loc"] == ("shape",)
            return
        q = delay_kernel(cfg)
        assert np.all(np.isfinite(q)) and np.all(q >= 0) and q.sum() == pytest.approx(1.0, abs=1e-12)

    @settings(max_examples=40, deadline=None)
    @given(
        mean=st.floats(min_value=0.05, max_value=50.0),
        window=st.integers(min_value=2, max_value=200),
    )
    def test_geometric_ratio_is_rho(self, mean, window):
        q = delay_kernel(GeometricDelay(type="geometric", mean_lag=mean, window=window))
        rho = mean / (1.0 + mean)
        nz = q[:-1] > 1e-250
        np.testing.assert_allclose(q[1:][nz] / q[:-1][nz], rho, rtol=1e-10)

    @pytest.mark.parametrize("mean", [0.5, 2.0, 5.0])
    def test_geometric_mean_with_long_window(self, mean):
        q = delay_kernel(GeometricDelay(type="geometric", mean_lag=mean, window=1000))
        assert (q * np.arange(1000)).sum() == pytest.approx(mean, rel=1e-9)

    @settings(max_examples=30, deadline=None)
    @given(
        mean=st.floats(min_value=2.0, max_value=20.0),
        shape=st.floats(min_value=1.0, max_value=10.0),
    )
    def test_gamma_mean_close_to_mean_lag_with_long_window(self, mean, shape):
        q = delay_kernel(GammaDelay(type="gamma", mean_lag=mean, shape=shape, window=1000))
        # rounding to whole steps shifts the mean by a few hundredths at most in this range
        assert (q * np.arange(1000)).sum() == pytest.approx(mean, abs=0.03)

    def test_truncation_renormalises(self):
        long = delay_kernel(GeometricDelay(type="geometric", mean_lag=3.0, window=50))
        short = delay_kernel(GeometricDelay(type="geometric", mean_lag=3.0, window=5))
        np.testing.assert_allclose(short, long[:5] / long[:5].sum(), rtol=1e-12)


# ============================================================================ lag matrix
class TestLagMatrix:
    def test_hand_matrix(self):
        M = lag_matrix(np.array([1.0, 0.5, 0.25]), 5)
        expected = np.array(
            [
                [1.0, 0.0, 0.0, 0.0, 0.0],
                [0.5, 1.0, 0.0, 0.0, 0.0],
                [0.25, 0.5, 1.0, 0.0, 0.0],
                [0.0, 0.25, 0.5, 1.0, 0.0],
                [0.0, 0.0, 0.25, 0.5, 1.0],
            ]
        )
        np.testing.assert_array_equal(M, expected)

    def test_window_longer_than_horizon_is_truncated(self):
        k = np.array([1.0, 0.9, 0.8, 0.7, 0.6, 0.5])
        np.testing.assert_array_equal(
            lag_matrix(k, 3), [[1.0, 0, 0], [0.9, 1.0, 0], [0.8, 0.9, 1.0]]
        )
        np.testing.assert_array_equal(lag_matrix(k, 1), [[1.0]])

    @settings(max_examples=40, deadline=None)
    @given(
        kernel=st.lists(st.floats(min_value=-5.0, max_value=5.0), min_size=1, max_size=12),
        horizon=st.integers(min_value=1, max_value=15),
    )
    def test_toeplitz_lower_triangular(self, kernel, horizon):
        k = np.array(kernel)
        M = lag_matrix(k, horizon)
        assert M.shape == (horizon, horizon)
        for t in range(horizon):
            for s in range(horizon):
                lag = t - s
                expected = k[lag] if 0 <= lag < len(k) else 0.0
                assert M[t, s] == expected

    @settings(max_examples=40, deadline=None)
    @given(
        kernel=st.lists(st.floats(min_value=0.0, max_value=2.0), min_size=1, max_size=10),
        series=st.lists(st.floats(min_value=-100.0, max_value=100.0), min_size=1, max_size=20),
    )
    def test_matches_direct_convolution(self, kernel, series):
        # c_t = sum_{l} k_l x_{t-l} with x before step 0 equal to 0
        T = len(series)
        direct = [
            sum(kernel[k] * series[t - k] for k in range(len(kernel)) if t - k >= 0)
            for t in range(T)
        ]
        np.testing.assert_allclose(
            lag_matrix(np.array(kernel), T) @ np.array(series), direct, rtol=1e-12, atol=1e-9
        )


class TestRingBuffers:
    """The dynamics apply each kernel through a ring buffer whose slot ``j`` holds the most recent
    step congruent to ``j`` (mod ``L``): at a step with ``t mod L = slot`` the slot's weight is
    ``kernel[(slot - j) mod L]``."""

    @pytest.mark.parametrize("L", [1, 2, 5, 8])
    def test_slot_weights_match_their_definition(self, L):
        from budgetgym.envs.dynamics import _ring_slice, _ring_weights

        kernels = np.random.default_rng(L).uniform(size=(3, L))
        ring = _ring_weights(kernels)
        for slot in range(L):
            expected = [[kernels[i, (slot - j) % L] for j in range(L)] for i in range(3)]
            np.testing.assert_array_equal(_ring_slice(ring, slot), expected)

    def test_memory_is_linear_in_channels_times_window(self):
        # 50 channels, one with a 1000-lag window: a table of every slot's weights ([L, K, L]
        # floats) took 400 MB per kernel; the doubled reversed kernels take 2 K L floats (0.8 MB).
        from budgetgym.envs import load_scenario
        from budgetgym.envs.dynamics import ChannelModel

        weibull = {"type": "weibull_pdf", "shape": 2.0, "scale": 5.0, "window": 1000}
        scenario = load_scenario("large-50").override({"channels.0.adstock": weibull})
        model = ChannelModel.from_scenario(scenario)
        assert model.adstock.shape == (50, 1000)
        assert model.adstock_ring.nbytes == 2 * model.adstock.nbytes
        assert model.delay_ring.nbytes == 2 * model.delay.nbytes
