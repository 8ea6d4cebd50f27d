"""The batched carry-over's geometric recursion (``envs/carry_rings.py``) against the direct sum.

The reference is the definition, ``a_t = sum_{l < L} w_l v_{t-l}`` with every product exact and the
sum correctly rounded (``math.fsum`` over ``Fraction``-free float products: each product is one
rounding, the sum none), over hostile value sequences: exact zeros in runs longer than the window
(a switched-off channel), values spanning 40 orders of magnitude next to each other. The
recursion's sums are of non-negative terms only, so its relative error is bounded by a few
roundings per lag, whatever the values: the recursion's powers of ``theta`` are the kernel's to
``2 L eps`` (the tolerance at which a kernel is taken as geometric), each term has at most ``2 L``
roundings more, the final products 3; so ``(6 L + 8) eps`` bounds it with room to spare, and a
window of zeros sums to exactly zero.

Then the whole batched env, every noise source off, against single environments under hostile
actions (agent pacing: steps of no spend at all between huge ones) to the batched tolerance, 1e-13.
"""

from __future__ import annotations

import math
import warnings

import numpy as np
from conftest import action_entries, assert_reordered_close, scenario_dicts
from gymnasium.vector import SyncVectorEnv
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from budgetgym.envs import ChannelBudgetEnv, scenario_from_dict
from budgetgym.envs.carry_rings import GEOMETRIC_ULPS, ChannelRing, geometric_of
from budgetgym.envs.kernels import adstock_kernel, delay_kernel
from budgetgym.envs.scenario import GammaDelay, GeometricAdstock, GeometricDelay, WeibullAdstock
from budgetgym.envs.vector_env import ChannelBudgetVectorEnv

EPS = np.finfo(float).eps
SETTINGS = settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large]
)

values = st.one_of(st.just(0.0), st.floats(1e-20, 1e20), st.sampled_from([1e-20, 1e20, 1.0]))


def _ring(kernels: list[np.ndarray]) -> list[np.ndarray]:
    """One channel's members' rings ``[2L, M]`` (reversed kernels, twice), as ``MemberTables`` builds them."""
    rev = np.stack(kernels, axis=1)[::-1]
    return [np.ascontiguousarray(np.concatenate([rev, rev]))]


@SETTINGS
@given(
    decays=st.lists(st.floats(0.05, 0.95), min_size=1, max_size=2),
    windows=st.tuples(st.integers(2, 40), st.integers(2, 40)),
    normalize=st.booleans(),
    runs=st.lists(st.tuples(st.integers(1, 30), values, values), min_size=1, max_size=8),
    data=st.data(),
)
def test_geometric_recursion_is_the_direct_sum(decays, windows, normalize, runs, data) -> None:
    """Two geometric channels of their own windows beside a Weibull one (summed directly), two
    members (rows pick them), values in runs (long zero runs switch a channel off): every step's
    sum within ``(6 L + 8) eps`` of the exact one, and exactly 0 on an all-zero window."""
    weibull = adstock_kernel(WeibullAdstock(type="weibull_cdf", shape=1.5, scale=5.0, window=6), 90)
    kernels = [  # [channel][member]
        [adstock_kernel(GeometricAdstock(type="geometric", decay=d, window=L, normalize=normalize), 90) for d in decays]
        for L in windows
    ] + [[weibull] * len(decays)]
    rows = 3
    pick = np.array([data.draw(st.integers(0, len(decays) - 1)) for _ in range(rows)])
    ring = ChannelRing.of([_ring(ks)[0] for ks in kernels], pick, 1, rows)
    assert [geo is not None for geo in ring.geometric] == [True, True, False]  # recursions, and one einsum
    series = [(v0, v1) for length, v0, v1 in runs for _ in range(length)]
    scales = np.array([1.0, 1e-7, 3e5])  # each row its own scale (a batch mixes magnitudes too)
    history: list[np.ndarray] = []
    for t, (v0, v1) in enumerate(series):
        x = np.stack([v0 * scales, v1 * scales, v0 * scales], axis=1)  # [rows, 3 channels]
        history.append(x)
        got = ring.step(t, [x])
        for k, ks in enumerate(kernels):
            for r in range(rows):
                w = ks[pick[r]]
                exact = math.fsum(w[lag] * history[t - lag][r, k] for lag in range(min(len(w), t + 1)))
                if exact == 0.0:
                    assert got[r, k] == 0.0
                else:
                    assert abs(got[r, k] - exact) <= (6 * len(w) + 8) * EPS * exact


def test_kernels_taken_as_geometric() -> None:
    """Geometric adstocks (any decay, normalised or not, windows up to 90 lags) and geometric
    delays are recognised; Weibull and gamma kernels, and zero-padded ones, are not."""
    for decay in (0.01, 0.1, 0.3, 0.5, 0.6, 0.75, 0.9, 0.97):
        for normalize in (False, True):
            w = adstock_kernel(GeometricAdstock(type="geometric", decay=decay, normalize=normalize), 90)
            if len(w) >= 2:
                assert geometric_of(w[:, None]) is not None, (decay, normalize)
    for lag in (0.5, 2.0, 7.0):
        q = delay_kernel(GeometricDelay(type="geometric", mean_lag=lag, window=20))
        assert geometric_of(q[:, None]) is not None
    weibull = adstock_kernel(WeibullAdstock(type="weibull_cdf", shape=1.5, scale=5.0, window=10), 90)
    assert geometric_of(weibull[:, None]) is None
    padded = np.append(0.5 ** np.arange(5), 0.0)
    assert geometric_of(padded[:, None]) is None


def _geometric_by_definition(kernels: np.ndarray) -> bool:
    """The rule of ``geometric_of`` as written before its overflow guard: every ``w_l / w_0`` a normal float
    (a subnormal one holds too few digits for the recursion) and within ``GEOMETRIC_ULPS * L`` eps of
    ``theta**l`` formed by repeated products (an overflow to ``inf`` fails)."""
    L = kernels.shape[0]
    if L < 2 or not bool((kernels > 0).all()):
        return False
    g = kernels / kernels[0]
    if bool((g < np.finfo(float).tiny).any()):
        return False
    with np.errstate(over="ignore"):
        powers = np.concatenate([np.ones((1, g.shape[1])), np.cumprod(np.broadcast_to(g[1], (L - 1, g.shape[1])), 0)])
    return bool((np.abs(powers - g) <= GEOMETRIC_ULPS * L * EPS * g).all())


def test_a_kernel_with_subnormal_weights_is_summed_to_the_bound() -> None:
    """A geometric adstock of decay 0.0211 over 194 lags ends in subnormal weights (``5e-324``): taken as
    geometric, the recursion's products of powers (each subnormal product holding few digits) summed a
    value 1e20 that far back 21% off the exact sum. Every step within ``(6 L + 8) eps`` of ``math.fsum``."""
    w = 0.0211 ** np.arange(194.0)
    assert 0.0 < w[-1] < np.finfo(float).tiny
    ring = ChannelRing.of(_ring([w]), np.array([0]), 1, 1)
    values = np.zeros(3 * len(w))
    values[[3, len(w) + 7]] = 1e20
    for t, v in enumerate(values):
        got = ring.step(t, [np.array([[v]])])[0, 0]
        exact = math.fsum(w[lag] * values[t - lag] for lag in range(min(len(w), t + 1)))
        assert abs(got - exact) <= (6 * len(w) + 8) * EPS * exact, t


def test_a_rising_long_gamma_delay_is_not_geometric_and_does_not_overflow() -> None:
    """A schema-edge campaign's delay (``scenario_dicts(edges=True)``): a 1000-lag gamma delay of mean lag
    100 rises (``w_1 / w_0 = 7.9``), so ``theta**l`` by repeated products overflowed (a RuntimeWarning;
    the answer, not geometric, was right). Now no warning, the same answer; a rising kernel that is
    geometric (``1.5**l``, ``theta**l`` finite) is still taken as one."""
    rising = delay_kernel(GammaDelay(type="gamma", mean_lag=100.0, shape=2.0, window=1000))
    assert len(rising) == 1000 and rising[1] / rising[0] > 7  # 7.9**999 is far beyond the largest float
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert geometric_of(rising[:, None]) is None
        assert geometric_of(np.stack([0.5 ** np.arange(1000.0), rising], axis=1)) is None
        found = geometric_of(1.5 ** np.arange(40.0)[:, None])
    assert found is not None and found[1][-1, 0] == 1.5**39


@SETTINGS
@given(
    kind=st.sampled_from(["geometric", "gamma", "weibull", "power"]),
    a=st.floats(1e-3, 1.0),
    b=st.floats(1e-3, 1.0),
    window=st.integers(2, 1000),
    normalize=st.booleans(),
)
def test_geometric_of_answers_as_the_definition_without_warnings(kind, a, b, window, normalize) -> None:
    """Kernels of every shape up to 1000 lags (geometric adstocks, gamma delays, Weibull adstocks, and
    rising or falling powers ``theta**l`` with ``theta`` in [0.1, 10]): ``geometric_of`` gives the
    definition's answer, ``(w_0, w / w_0)`` when it is geometric, and never a warning."""
    if kind == "geometric":
        w = adstock_kernel(GeometricAdstock(type="geometric", decay=a * 0.99, window=window, normalize=normalize), 1000)
    elif kind == "gamma":
        w = delay_kernel(GammaDelay(type="gamma", mean_lag=100 * a, shape=50 * b, window=window))
    elif kind == "weibull":
        w = adstock_kernel(WeibullAdstock(type="weibull_pdf", shape=20 * a, scale=1000 * b, window=window), 1000)
    else:
        exponent = 2 * a - 1  # theta = 10**exponent, over at most 300 decades
        w = (10.0**exponent) ** np.arange(float(min(window, 2 + int(300 / max(abs(exponent), 1e-3)))))
        w = w / w.sum() if normalize else w
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        found = geometric_of(w[:, None])
    assert (found is not None) == _geometric_by_definition(w[:, None])
    if found is not None:
        assert found[0][0] == w[0] and np.array_equal(found[1][:, 0], w / w[0])


def _quiet(d: dict) -> dict:
    """A scenario mapping with every noise source off."""
    d["noise"]["conversions"] = "none"
    d["drift"]["sd"] = 0.0
    for ch in d["channels"]:
        ch["cost"]["noise_sd"] = 0.0
        ch["value"]["noise_sd"] = 0.0
        ch.pop("drift_sd", None)
    return d


@SETTINGS
@given(d=scenario_dicts(max_channels=4, max_horizon=40, pacing="agent"), data=st.data())
def test_batched_rows_are_single_envs_under_hostile_actions_noise_off(d, data) -> None:
    sc = scenario_from_dict(_quiet(d), source="hypothesis scenario")
    n, dim = 2, sc.n_channels + 1
    row = st.lists(action_entries, min_size=dim, max_size=dim)
    pace = st.sampled_from([-1.0, 1.0, 0.0, 1e300])  # -1: a step of no spend at all
    actions = []
    for t in range(sc.horizon):
        a = np.array([data.draw(row, label=f"a[{t}]") for _ in range(n)], dtype=float)
        a[:, -1] = [data.draw(pace) for _ in range(n)]
        with np.errstate(over="ignore"):
            actions.append(a.astype(np.float32))
    ref = SyncVectorEnv([lambda: ChannelBudgetEnv(sc) for _ in range(n)])
    vec = ChannelBudgetVectorEnv(sc, n, rng="batched")
    ref.reset(seed=0)
    vec.reset(seed=1)
    keys = ("spend", "conversions", "revenue", "expected_reward")
    for a in actions:
        expected, got = ref.step(a), vec.step(a)
        assert_reordered_close(
            [*expected[:2], {k: expected[4][k] for k in keys}], [*got[:2], {k: got[4][k] for k in keys}]
        )


def test_geometric_recursion_by_hand() -> None:
    """Kernel ``[1, 1/2, 1/4]`` (and the same normalised by 7/4) over ``v = 1, 2, ..., 7``, two blocks
    of three and the start of a third, by hand: ``a_t = v_t + v_{t-1}/2 + v_{t-2}/4``."""
    hand = [1.0, 2.5, 4.25, 6.0, 7.75, 9.5, 11.25]  # e.g. a_3 = 4 + 3/2 + 2/4 = 6
    kernel = np.array([1.0, 0.5, 0.25])
    for scale in (1.0, 4.0 / 7.0):
        ring = ChannelRing.of(_ring([kernel * scale]), None, 1, 1)
        assert ring.geometric[0] is not None  # the recursion, not the direct sum
        got = [float(ring.step(t, [np.array([[t + 1.0]])])[0, 0]) for t in range(7)]
        np.testing.assert_allclose(got, np.array(hand) * scale, rtol=1e-15)
