"""The batched vector env's row parts and threads, and the sort-free projection it uses.

``batched`` splits a batch into row parts, each with its own generator (SeedSequence children of
the seed), stepped by a thread pool. What must hold: the streams depend on the seed and the split,
never on the number of threads (the same run with 1 and 2 threads is equal, noise on, bit for bit);
a reset with the same seed repeats the run; the parts draw different numbers; with every noise
source off a split batch is still N single environments (to 1e-13, the batched tolerance), across
episodes of a family (whose resets reuse the members' tables). The Newton projection and the
active-set one for few bounded channels (the batched step's) are checked against the breakpoint
algorithm and the KKT-free facts of a projection (bounds, sum, a feasible split kept); the column
sums against numpy's own.
"""

from __future__ import annotations

import pickle

import numpy as np
import pytest
from conftest import assert_reordered_close
from gymnasium.utils.env_checker import data_equivalence
from gymnasium.vector import AutoresetMode, SyncVectorEnv
from hypothesis import given, settings
from hypothesis import strategies as st
from test_allocation import feasible_bounds
from test_vector_modes import _play, _quiet, _quiet_family

from budgetgym.envs import ChannelBudgetEnv, load_scenario, simplex_projection
from budgetgym.envs.allocation import (
    MICHELOT_STEPS,
    project_bounded_simplex,
    project_rows,
    project_rows_few_bounds,
    project_rows_newton,
    softmax_split,
)
from budgetgym.envs.batch_model import BatchModel
from budgetgym.envs.dynamics import ChannelModel
from budgetgym.envs.rowsum import row_max, row_sum
from budgetgym.envs.vector_env import ChannelBudgetVectorEnv, part_bounds
from budgetgym.envs.vector_steps import NEWTON_CHANNELS


def _run(env: ChannelBudgetVectorEnv, steps: int, seed: int = 4) -> list:
    rng = np.random.default_rng(0)
    actions = [rng.uniform(-1, 1, env.action_space.shape).astype(np.float32) for _ in range(steps)]
    return _play(env, actions, seed)


def test_part_bounds_cover_the_rows_in_near_equal_parts() -> None:
    assert part_bounds(10, 4) == [(0, 3), (3, 6), (6, 10)]
    assert part_bounds(4, 4) == [(0, 4)]
    assert part_bounds(1, 4096) == [(0, 1)]


BASELINE = {"level": 50, "noise_sd": 0.1, "controls": [{"name": "price", "mean": 1.0, "sd": 0.2, "effect": -5.0}]}


@pytest.mark.parametrize("name", ["retail-5-family", "drift-5", "baseline", "overlap-5"])
def test_threads_do_not_change_the_streams(name: str) -> None:
    """Noise on (negative-binomial counts, price and value noise, a family's pool draws; drift-5:
    the drift walk; a KPI baseline with a control), over an autoreset: 1 and 2 threads give the
    same run, bit for bit."""
    source = load_scenario("stationary-3").override({"baseline": BASELINE}) if name == "baseline" else name
    runs = []
    for threads in (1, 2):
        env = ChannelBudgetVectorEnv(
            source, 7, rng="batched", part_rows=3, threads=threads, draw_pool=5, autoreset_mode=AutoresetMode.SAME_STEP
        )
        assert len(env.parts) == 3
        runs.append(_run(env, env.horizon + 3))
    assert data_equivalence(runs[0], runs[1], exact=True)


def test_seeded_reset_repeats_and_parts_draw_their_own_numbers() -> None:
    """Every row plays the same campaign with the same action: the rows of one part differ (one
    generator draws for all of them), rows of different parts differ, a reseed repeats everything."""
    env = ChannelBudgetVectorEnv("stationary-5", 6, rng="batched", part_rows=3)
    action = np.zeros(env.action_space.shape, dtype=np.float32)
    first = []
    for _ in range(2):
        env.reset(seed=11)
        first.append(env.step(action)[4]["conversions"])
    assert np.array_equal(first[0], first[1])
    conv = first[0]
    assert len({row.tobytes() for row in conv}) == 6  # no two rows (in a part or across parts) alike
    other = ChannelBudgetVectorEnv("stationary-5", 6, rng="batched", part_rows=3)
    other.reset(seed=12)
    assert not np.array_equal(other.step(action)[4]["conversions"], conv)


@pytest.mark.parametrize("name", ["shock-5", "holiday-5", "large-50"])
def test_split_batch_without_noise_equals_single_envs(name: str) -> None:
    """3 rows in 2 parts, threaded. shock-5: share bounds; large-50: 50 channels, per-channel
    carry-over windows and the bounds projected without a sort (project_rows_few_bounds): shares
    equal to ~1e-15, so a channel's spend may round to the neighbouring quantum of the budget
    (``env.quantum``, 2**-52 of it). There every spend is within one quantum, and the rest within the relative
    effect of one quantum on the run's smallest spend (4 quanta / smallest spend), or the absolute
    one of a quantum per channel and step (``K T`` quanta: the budget left at the end, ~1e-13 of
    it); elsewhere 1e-13."""
    sc = _quiet(name)
    vec = ChannelBudgetVectorEnv(sc, 3, rng="batched", part_rows=2, threads=2)
    assert len(vec.parts) == 2
    rng = np.random.default_rng(1)
    actions = [rng.uniform(-1, 1, vec.action_space.shape).astype(np.float32) for _ in range(vec.horizon + 2)]
    ref = SyncVectorEnv([lambda: ChannelBudgetEnv(sc) for _ in range(3)])
    expected, got = _play(ref, actions, 5), _play(vec, actions, 99)
    rtol, atol = 1e-13, None  # atol None: finfo.tiny
    if vec.n_channels >= NEWTON_CHANNELS:
        spends = [(e["spend"], g["spend"]) for e, g in zip(expected[5::5], got[5::5], strict=True) if "spend" in e]
        assert all(np.abs(e - g).max() <= vec.quantum for e, g in spends)
        rtol = max(1e-13, 4 * vec.quantum / min(e[e > 0].min() for e, _ in spends))
        atol = vec.n_channels * vec.horizon * vec.quantum
    assert_reordered_close(expected, got, rtol, atol)


def test_split_family_without_noise_equals_single_envs_of_its_draws_across_episodes() -> None:
    """Each episode every row plays a new pool draw; the reset rebuilds the rows' parameters from
    the members' tables built once (the same object, episode after episode)."""
    family = _quiet_family()
    vec = ChannelBudgetVectorEnv(family, 5, rng="batched", draw_pool=6, part_rows=2, threads=2)
    vec.reset(seed=3)
    rng = np.random.default_rng(2)
    tables = vec.parts[0].model.tables  # type: ignore[union-attr]
    for episode in range(2):
        draws = vec.scenarios
        assert all(sc is family.sample(int(d), "train") for sc, d in zip(draws, np.concatenate(
            [p.campaigns.draws for p in vec.parts]), strict=True))  # type: ignore[union-attr]
        ref = SyncVectorEnv([lambda sc=sc: ChannelBudgetEnv(sc) for sc in draws])
        ref.reset(seed=0)
        for _ in range(vec.horizon):
            a = rng.uniform(-1, 1, vec.action_space.shape).astype(np.float32)
            expected, got = ref.step(a), vec.step(a)
            drop = ("draw", "_draw", "split", "_split")
            played = {k: v for k, v in got[4].items() if k not in drop}
            assert_reordered_close([*expected[:4], expected[4]], [*got[:4], played])
        assert all(p.model.tables is tables for p in vec.parts)  # type: ignore[union-attr]
        if episode == 0:
            vec.step(np.zeros(vec.action_space.shape, dtype=np.float32))  # NEXT_STEP: the reset step


@settings(max_examples=60, deadline=None)
@given(bounds=feasible_bounds(k_max=9), data=st.data())
def test_newton_projection_equals_the_breakpoint_algorithm(bounds, data) -> None:
    """Hostile splits (entries in [-1, 2], not on the simplex) and softmax splits of extreme
    logits: the same projection to 1e-12, the bounds held exactly, the sum one to 1e-12, and a
    feasible row returned unchanged."""
    low, high, q0 = bounds
    k = len(low)
    rows = data.draw(st.integers(1, 6))
    raw = np.array(data.draw(st.lists(st.lists(st.floats(-1.0, 2.0), min_size=k, max_size=k), min_size=rows,
                                      max_size=rows)))
    logits = np.array(data.draw(st.lists(st.floats(-1.0, 1.0), min_size=k, max_size=k)))
    p = np.vstack([raw, softmax_split(logits[None, :], 10.0), q0[None, :]])
    q = project_rows_newton(p, low, high)
    np.testing.assert_allclose(q, project_rows(p, low, high), rtol=0, atol=1e-12)
    assert np.all(q >= low) and np.all(q <= high)
    np.testing.assert_allclose(q.sum(axis=1), 1.0, rtol=0, atol=1e-12)
    assert np.array_equal(q[-1], project_bounded_simplex(q0, low, high))  # feasible: kept (q0 itself)


def test_newton_projection_on_large_50_bounds() -> None:
    """A locked and a capped channel of 50 (large-50), 2,000 random softmax splits."""
    low, high = load_scenario("large-50").share_bound_arrays
    p = softmax_split(np.random.default_rng(5).uniform(-1, 1, (2000, 50)), 5.0)
    q = project_rows_newton(p, low, high)
    np.testing.assert_allclose(q, project_rows(p, low, high), rtol=0, atol=1e-13)
    assert np.all(q >= low) and np.all(q <= high)
    np.testing.assert_allclose(q.sum(axis=1), 1.0, rtol=0, atol=1e-14)


@st.composite
def few_bounds(draw):
    """(low, high) for :func:`project_rows_few_bounds`' own path: ``K`` channels, at most
    ``sqrt(K / 2)`` bounded and not locked (a floor, a cap or both), up to two locked, the rest
    plain (``[0, 1]``); ``sum(low) <= 0.9``."""
    k = draw(st.integers(2, 24))
    bounded = draw(st.integers(0, int(np.sqrt(k / 2))))
    locked = draw(st.integers(0, min(2, k - 1 - bounded)))
    order = draw(st.permutations(range(k)))
    low, high = np.zeros(k), np.ones(k)
    share = st.sampled_from([0.0, 0.05, 0.3]) | st.floats(0.0, 0.3)
    for j in order[:locked]:
        low[j] = high[j] = draw(share)
    for j in order[locked : locked + bounded]:
        low[j] = draw(share)
        high[j] = low[j] + draw(st.sampled_from([0.1, 0.7]) | st.floats(0.01, 0.7))
    if low.sum() > 0.9:  # feasible: scaled down (a locked channel's high with its low)
        high = np.where(low == high, 0.9 * low / low.sum(), high)
        low = 0.9 * low / low.sum()
    return low, high


@settings(max_examples=80, deadline=None)
@given(bounds=few_bounds(), data=st.data())
def test_few_bounds_projection_equals_the_breakpoint_algorithm(bounds, data) -> None:
    """Hostile splits (entries in [-1, 2]), softmax splits of extreme logits (most plain shares
    clipped to 0, rows that take several active-set steps) and a feasible split: the breakpoint
    algorithm's projection to 1e-12, the bounds held exactly, the sum one to 1e-12, the feasible
    row returned unchanged."""
    low, high = bounds
    k = len(low)
    rows = data.draw(st.integers(1, 6))
    raw = np.array(data.draw(st.lists(st.lists(st.floats(-1.0, 2.0), min_size=k, max_size=k), min_size=rows,
                                      max_size=rows)))
    logits = np.array(data.draw(st.lists(st.lists(st.floats(-1.0, 1.0), min_size=k, max_size=k), min_size=2,
                                         max_size=2)))
    feasible = project_rows(softmax_split(logits[:1], 1.0), low, high)
    p = np.vstack([raw, softmax_split(logits, 10.0), softmax_split(logits, 40.0), feasible])
    q = project_rows_few_bounds(p, low, high)
    np.testing.assert_allclose(q, project_rows(p, low, high), rtol=0, atol=1e-12)
    assert np.all(q >= low) and np.all(q <= high)
    np.testing.assert_allclose(q.sum(axis=1), 1.0, rtol=0, atol=1e-12)
    assert np.array_equal(q[-1], feasible[0])
    out = np.full_like(p, np.nan)  # written in place: the same shares, whatever path the rows took
    assert project_rows_few_bounds(p, low, high, out) is out and np.array_equal(out, q)
    assert np.array_equal(project_rows_few_bounds(feasible, low, high, out[:1]), feasible)


def _spy(monkeypatch: pytest.MonkeyPatch, name: str) -> list:
    """The calls' arguments of ``simplex_projection.<name>`` (still called) from now on: patched where the
    projection looks its helpers up."""
    calls: list = []
    real = getattr(simplex_projection, name)

    def spy(*args):
        calls.append(args)
        return real(*args)

    monkeypatch.setattr(simplex_projection, name, spy)
    return calls


def test_few_bounds_projection_on_large_50_bounds(monkeypatch) -> None:
    """large-50's locked and capped channel of 50: 2,000 softmax splits each of logit scale 5 and
    40 (there most plain shares are clipped to 0) and a feasible split; ~8% of the rows need more
    than MICHELOT_STEPS active-set steps and the one that confirms the last. The breakpoint
    algorithm's projection to 1e-13 (its own sums are off by up to ~4e-14), the Newton
    projection's to 1e-14, the sums one to 1e-14, the feasible split kept; all without
    project_rows_newton."""
    low, high = load_scenario("large-50").share_bound_arrays
    rng = np.random.default_rng(5)
    feasible = project_rows(softmax_split(rng.uniform(-1, 1, (1, 50)), 5.0), low, high)
    p = np.vstack([softmax_split(rng.uniform(-1, 1, (2000, 50)), c) for c in (5.0, 40.0)] + [feasible])
    newton, steps = _spy(monkeypatch, "project_rows_newton"), _spy(monkeypatch, "_michelot")
    q = project_rows_few_bounds(p, low, high)
    assert not newton
    assert [call[-1] for call in steps] == [MICHELOT_STEPS, 50]  # then the rows whose set changed, on
    assert len(steps[1][6]) < 0.15 * len(p)  # few: the last line's root was the root of most rows
    np.testing.assert_allclose(q, project_rows(p, low, high), rtol=0, atol=1e-13)
    np.testing.assert_allclose(q, simplex_projection.project_rows_newton(p, low, high), rtol=0, atol=1e-14)
    assert np.all(q >= low) and np.all(q <= high)
    np.testing.assert_allclose(q.sum(axis=1), 1.0, rtol=0, atol=1e-14)
    assert np.array_equal(q[-1], feasible[0])


def test_few_bounds_projection_falls_back_without_an_active_plain_channel(monkeypatch) -> None:
    """Two floors of 0.5 (``sum(low) = 1``): where the root leaves no plain channel active, the
    active-set step divides by zero; those rows, and only those, go to project_rows_newton."""
    low, high = np.zeros(8), np.ones(8)
    low[:2], high[:2] = 0.5, 0.9
    p = softmax_split(np.random.default_rng(0).uniform(-1, 1, (50, 8)), 5.0)
    newton = _spy(monkeypatch, "project_rows_newton")
    q = project_rows_few_bounds(p, low, high)
    assert len(newton) == 1 and 0 < len(newton[0][0]) < len(p)
    np.testing.assert_allclose(q, project_rows(p, low, high), rtol=0, atol=1e-13)
    np.testing.assert_allclose(q[:, :2], 0.5, rtol=0, atol=1e-15)


def test_few_bounds_projection_hands_many_bounds_to_newton() -> None:
    """Three capped channels of 16 (more than sqrt(K / 2) to solve exactly), or no plain
    channel: project_rows_newton's projection, bit for bit."""
    p = softmax_split(np.random.default_rng(1).uniform(-1, 1, (40, 16)), 5.0)
    low, high = np.zeros(16), np.ones(16)
    high[:3] = 0.1
    assert np.array_equal(project_rows_few_bounds(p, low, high), project_rows_newton(p, low, high))
    high[:] = 0.5
    assert np.array_equal(project_rows_few_bounds(p, low, high), project_rows_newton(p, low, high))


@pytest.mark.parametrize("k", [1, 2, 5, 7, 8, 9, 16, 17, 40])
def test_column_sums_and_maxima_are_numpys(k: int) -> None:
    """Values over 40 orders of magnitude and both signs, where the order of a sum shows."""
    rng = np.random.default_rng(k)
    x = rng.standard_normal((300, k)) * np.exp(rng.uniform(-46, 46, (300, k)))
    assert np.array_equal(row_sum(x), x.sum(axis=-1))
    assert np.array_equal(row_sum(x), [row.sum() for row in x])  # the single environment's one-row sum
    assert np.array_equal(row_max(x), x.max(axis=-1))


@pytest.mark.parametrize("name", ["large-50", "competitor-5"])
def test_mixed_curves_by_columns_are_the_mixed_model(name: str) -> None:
    """A batched group evaluates the Hill and the logistic channels of a mixed model on their own
    columns: the same numbers as the model's saturation (both curves everywhere, then picked)."""
    model = ChannelModel.from_scenario(load_scenario(name))
    assert model.curve_family == "mixed"
    group = BatchModel([model], None, 64, fast=True).groups[0]
    assert group.curve_parts is not None
    a = np.random.default_rng(3).uniform(0.0, 3.0, (64, model.n_channels)) * model.kappa
    a[0] = 0.0
    expected = model.saturation(a)
    assert np.array_equal(group.saturation(a), expected)
    assert np.array_equal(group.saturation(a, np.empty(a.shape)), expected)
    assert np.array_equal(group.saturation(a, a), expected)  # in place: the exposure overwritten by its curve


def test_a_split_threaded_env_pickles_mid_episode() -> None:
    """The thread pool and the locks are left out of the pickle; the copy continues the run
    (generators, ring buffers, counters) exactly as the original does."""
    env = ChannelBudgetVectorEnv("retail-5-family", 5, rng="batched", draw_pool=4, part_rows=2, threads=2)
    env.reset(seed=9)
    rng = np.random.default_rng(0)
    actions = [rng.uniform(-1, 1, env.action_space.shape).astype(np.float32) for _ in range(6)]
    for a in actions[:3]:
        env.step(a)
    copy = pickle.loads(pickle.dumps(env))
    for a in actions[3:]:
        assert data_equivalence(env.step(a), copy.step(a), exact=True)
