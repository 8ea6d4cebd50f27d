"""The experiment statistics: stratified bootstrap, IQM, probability of improvement, summary."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats as sps

from budgetgym.experiments.stats import (
    Interval,
    iqm,
    iqm_interval,
    mean_interval,
    paired_difference_interval,
    percentile_interval,
    probability_of_improvement,
    probability_of_improvement_interval,
    stratified_bootstrap,
    summarize,
)

try:  # rliable's metrics need only numpy/scipy (its library module needs `arch`)
    from rliable import metrics as rly_metrics
except Exception:  # pragma: no cover - optional
    rly_metrics = None

needs_rliable = pytest.mark.skipif(rly_metrics is None, reason="rliable not installed")


# ----------------------------------------------------------------------------- intervals
def test_percentile_interval_is_the_empirical_quantiles():
    dist = np.arange(1001, dtype=float)  # 0..1000
    assert percentile_interval(dist, 0.95) == pytest.approx((25.0, 975.0))
    assert percentile_interval(dist, 0.5) == pytest.approx((250.0, 750.0))
    with pytest.raises(ValueError):
        percentile_interval(dist, 1.0)


def test_mean_interval_covers_the_mean_and_shrinks_with_more_runs():
    small = 80.0 + 5.0 * np.array([-2.0, -1.0, 0.0, 1.0, 2.0])
    large = np.tile(small, 16)  # the same spread, 16 times the runs
    a = mean_interval(small, reps=4000, rng=1)
    b = mean_interval(large, reps=4000, rng=1)
    assert a.point == pytest.approx(small.mean()) and a.point in a
    assert b.point == pytest.approx(large.mean()) and b.point in b
    assert b.width < a.width / 3  # ~ 1/sqrt(n): sqrt(80/5) = 4
    # The percentile-bootstrap width matches the normal theory for the large sample.
    assert b.width == pytest.approx(2 * 1.96 * large.std(ddof=0) / np.sqrt(large.size), rel=0.15)


def test_mean_interval_of_one_run_or_constant_runs_is_a_point():
    assert mean_interval([42.0]) == Interval(42.0, 42.0, 42.0)
    iv = mean_interval([3.0, 3.0, 3.0], reps=200, rng=0)
    assert (iv.lo, iv.point, iv.hi) == (3.0, 3.0, 3.0)


def test_flat_list_is_one_task_and_matrix_columns_are_tasks():
    assert mean_interval([1.0, 2.0, 3.0], reps=200, rng=0).point == pytest.approx(2.0)
    m = np.array([[0.0, 10.0], [2.0, 30.0]])  # (runs, tasks)
    assert mean_interval(m, reps=200, rng=0).point == pytest.approx((1.0 + 20.0) / 2)


def test_bootstrap_is_reproducible_with_a_seed():
    x = np.random.default_rng(3).normal(size=12)
    assert mean_interval(x, reps=500, rng=7) == mean_interval(x, reps=500, rng=7)
    assert mean_interval(x, reps=500, rng=7) != mean_interval(x, reps=500, rng=8)


def test_stratified_bootstrap_resamples_within_tasks():
    # Task A scores 0 on every run, task B 100: a stratified resample keeps each task's runs,
    # so the mean of task means is exactly 50 in every replicate; pooling would not.
    tasks = [np.zeros(4), np.full(6, 100.0)]
    dist = stratified_bootstrap(tasks, lambda ts: np.mean([t.mean(axis=-1) for t in ts], axis=0), reps=300, rng=0)
    assert dist.shape == (300,)
    assert np.all(dist == 50.0)
    # Each resampled task has its own run count and only its own values.
    shapes = []
    stratified_bootstrap(tasks, lambda ts: shapes.extend(t.shape for t in ts) or np.zeros(5), reps=5, rng=0)
    assert shapes == [(5, 4), (5, 6)]


def test_paired_difference_of_a_constant_shift_is_exact():
    x = np.array([80.0, 85.0, 90.0, 70.0])
    iv = paired_difference_interval(x + 2.5, x, reps=500, rng=0)
    assert (iv.lo, iv.point, iv.hi) == pytest.approx((2.5, 2.5, 2.5))
    with pytest.raises(ValueError):
        paired_difference_interval([1.0, 2.0], [1.0])


# ----------------------------------------------------------------------------- IQM
def test_iqm_is_the_25_percent_trimmed_mean_of_pooled_runs():
    # 8 values: g = 2 trimmed from each end -> mean of the middle 4.
    scores = np.array([[1.0, 100.0], [2.0, 3.0], [4.0, 5.0], [-50.0, 6.0]])
    assert iqm(scores) == pytest.approx(np.mean([2.0, 3.0, 4.0, 5.0]))
    ragged = [np.array([1.0, 2.0, 4.0, -50.0]), np.array([100.0, 3.0, 5.0, 6.0])]
    assert iqm(ragged) == pytest.approx(iqm(scores))


@needs_rliable
def test_iqm_matches_rliable():
    rng = np.random.default_rng(1)
    for shape in [(5, 3), (10, 4), (7, 1), (3, 6)]:
        scores = rng.normal(80, 10, shape)
        assert iqm(scores) == pytest.approx(rly_metrics.aggregate_iqm(scores))


def test_iqm_interval_covers_point_and_is_stratified():
    rng = np.random.default_rng(2)
    tasks = [rng.normal(90, 2, 10), rng.normal(70, 2, 10), rng.normal(80, 2, 10)]
    iv = iqm_interval(tasks, reps=2000, rng=0)
    assert iv.point == pytest.approx(sps.trim_mean(np.concatenate(tasks), 0.25))
    assert iv.lo <= iv.point <= iv.hi
    # stratified: the bounds of a bootstrap written here (own generator; each task's 10 runs resampled
    # within the task, then pooled; the IQM of 30 runs the mean of the sorted 8th..23rd), to Monte Carlo
    # error (~0.1; the interval is ~2 wide). Resampling the 30 pooled runs gives ~[75, 84]: the task
    # means 90, 70 and 80 then move the IQM. The test only checked lo <= point <= hi.
    gen = np.random.default_rng(50)
    pooled = np.concatenate([t[gen.integers(0, t.size, (4000, t.size))] for t in tasks], axis=1)
    lo, hi = np.percentile(np.sort(pooled, axis=1)[:, 7:23].mean(axis=1), [2.5, 97.5])
    assert iv.lo == pytest.approx(lo, abs=0.2) and iv.hi == pytest.approx(hi, abs=0.2)
    more = [rng.normal(90, 2, 60), rng.normal(70, 2, 60), rng.normal(80, 2, 60)]
    assert iqm_interval(more, reps=2000, rng=0).width < iv.width


# ------------------------------------------------------------------ probability of improvement
def test_probability_of_improvement_by_hand_with_ties():
    # pairs (x, y): (1,1) tie .5, (1,0) 1, (2,1) 1, (2,0) 1 -> 3.5 / 4
    assert probability_of_improvement([np.array([1.0, 2.0])], [np.array([1.0, 0.0])]) == pytest.approx(0.875)
    # averaged over tasks: task 2 is a clean loss
    x = [np.array([1.0, 2.0]), np.array([0.0])]
    y = [np.array([1.0, 0.0]), np.array([5.0])]
    assert probability_of_improvement(x, y) == pytest.approx((0.875 + 0.0) / 2)
    same = np.array([3.0, 1.0, 2.0])
    assert probability_of_improvement([same], [same]) == pytest.approx(0.5)


@needs_rliable
def test_probability_of_improvement_matches_rliable():
    rng = np.random.default_rng(4)
    for n, m, k in [(5, 5, 3), (8, 4, 2), (3, 7, 1)]:
        x = rng.integers(0, 6, (n, k)).astype(float)  # coarse values: many ties
        y = rng.integers(0, 6, (m, k)).astype(float)
        assert probability_of_improvement(x, y) == pytest.approx(rly_metrics.probability_of_improvement(x, y))
        xc, yc = rng.normal(size=(n, k)), rng.normal(size=(m, k))
        assert probability_of_improvement(xc, yc) == pytest.approx(rly_metrics.probability_of_improvement(xc, yc))


@settings(max_examples=40, deadline=None)
@given(
    st.lists(st.integers(0, 5), min_size=1, max_size=8),
    st.lists(st.integers(0, 5), min_size=1, max_size=8),
)
def test_probability_of_improvement_is_complementary_and_bounded(xs, ys):
    x, y = [np.array(xs, dtype=float)], [np.array(ys, dtype=float)]
    p = probability_of_improvement(x, y)
    assert 0.0 <= p <= 1.0
    assert p + probability_of_improvement(y, x) == pytest.approx(1.0)
    brute = np.mean([(a > b) + 0.5 * (a == b) for a in xs for b in ys])
    assert p == pytest.approx(brute)


def test_probability_of_improvement_interval_is_an_independent_bootstrap_of_the_pairwise_count():
    """The point is the pairwise count averaged over tasks; the interval matches a bootstrap written
    here independently (its own generator; each task's X and Y resampled separately; every pair compared
    by broadcasting, not by ranks) to Monte Carlo error (~0.01 at 4000 replicates; resampling X alone
    narrows the interval by ~0.05, resampling pooled runs moves it more). It only checked
    0 <= lo <= point <= hi <= 1."""
    rng = np.random.default_rng(5)
    x = [rng.normal(1.0, 1.0, 12), rng.normal(0.3, 1.0, 8)]
    y = [rng.normal(0.0, 1.0, 12), rng.normal(0.0, 1.0, 10)]
    iv = probability_of_improvement_interval(x, y, reps=4000, rng=0)
    pairs = [[(a > b) + 0.5 * (a == b) for a in xm for b in ym] for xm, ym in zip(x, y, strict=True)]
    pairwise = np.mean([np.mean(p) for p in pairs])
    assert iv.point == pytest.approx(pairwise, rel=1e-12)
    gen, reps = np.random.default_rng(100), 4000
    dist = np.zeros(reps)
    for xm, ym in zip(x, y, strict=True):
        bx = xm[gen.integers(0, xm.size, (reps, xm.size))][:, :, None]
        by = ym[gen.integers(0, ym.size, (reps, ym.size))][:, None, :]
        dist += ((bx > by) + 0.5 * (bx == by)).mean(axis=(1, 2)) / len(x)
    lo, hi = np.percentile(dist, [2.5, 97.5])
    assert iv.lo == pytest.approx(lo, abs=0.02) and iv.hi == pytest.approx(hi, abs=0.02)
    assert 0.5 < iv.lo < iv.point < iv.hi < 1.0  # X is better (means 1 vs 0, 0.3 vs 0), not certainly


# ----------------------------------------------------------------------------- summary
def _results(agents: dict[str, tuple[float, float]], scenarios=("a", "b"), seeds=range(6), episodes=2, seed=0):
    rng = np.random.default_rng(seed)
    rows = []
    for sc in scenarios:
        for ag, (mu, sd) in agents.items():
            for s in seeds:
                for e in range(episodes):
                    pct = mu + sd * rng.standard_normal()
                    rows.append(
                        dict(scenario=sc, agent=ag, seed=s, episode=e, reward=pct * 10.2, expected_reward=pct * 10,
                             oracle_reward=1000.0, pct_of_oracle=pct, spend=5.0, train_steps=0, wall_s=0.01)
                    )
    return pd.DataFrame(rows)


def test_summarize_columns_and_values():
    res = _results({"equal": (85.0, 0.0), "good": (95.0, 2.0), "bad": (80.0, 2.0)})
    summary, poi = summarize(res, baseline="equal", reps=1000)
    assert len(summary) == 2 * 3
    for col in ["pct_of_oracle_mean", "pct_of_oracle_ci_lo", "pct_of_oracle_ci_hi", "uplift", "uplift_ci_lo",
                "uplift_ci_hi", "iqm", "iqm_ci_lo", "iqm_ci_hi", "poi_vs_equal", "poi_vs_good", "poi_vs_bad"]:
        assert col in summary.columns
    assert (summary["pct_of_oracle_ci_lo"] <= summary["pct_of_oracle_mean"]).all()
    assert (summary["pct_of_oracle_mean"] <= summary["pct_of_oracle_ci_hi"]).all()
    assert (summary["n_seeds"] == 6).all() and (summary["n_episodes"] == 12).all()
    good_a = summary[(summary.scenario == "a") & (summary.agent == "good")].iloc[0]
    runs = res[(res.scenario == "a") & (res.agent == "good")].groupby("seed")["pct_of_oracle"].mean()
    assert good_a["pct_of_oracle_mean"] == pytest.approx(runs.mean())
    assert good_a["uplift"] == pytest.approx(runs.mean() - 85.0)
    assert good_a["uplift_ci_lo"] > 0 and good_a["poi_vs_equal"] == 1.0
    eq = summary[summary.agent == "equal"]
    assert (eq["uplift"] == 0).all() and (eq["uplift_ci_hi"] == 0).all()
    # IQM across the two scenarios, repeated on each of the agent's rows
    assert summary[summary.agent == "good"]["iqm"].nunique() == 1
    # poi.csv: both orders, complementary
    pair = poi.set_index(["agent", "other"])["poi"]
    assert pair[("good", "bad")] + pair[("bad", "good")] == pytest.approx(1.0)
    assert pair[("good", "bad")] == 1.0


def test_summarize_is_reproducible_and_intervals_do_not_depend_on_other_agents():
    res = _results({"equal": (85.0, 1.0), "good": (95.0, 2.0)})
    s1, _ = summarize(res, baseline="equal", reps=800, seed=3)
    s2, _ = summarize(res, baseline="equal", reps=800, seed=3)
    pd.testing.assert_frame_equal(s1, s2)
    more = pd.concat([res, _results({"other": (50.0, 5.0)}, seed=9)], ignore_index=True)
    s3, _ = summarize(more, baseline="equal", reps=800, seed=3)
    cols = ["pct_of_oracle_ci_lo", "pct_of_oracle_ci_hi", "uplift_ci_lo", "uplift_ci_hi", "iqm_ci_lo"]
    key = ["scenario", "agent"]
    merged = s1[key + cols].merge(s3[key + cols], on=key, suffixes=("", "_more"))
    for c in cols:
        np.testing.assert_array_equal(merged[c].to_numpy(), merged[f"{c}_more"].to_numpy())


def test_summarize_without_baseline_and_empty():
    res = _results({"x": (90.0, 1.0)}, scenarios=("a",), seeds=[0])
    summary, poi = summarize(res, baseline="equal", reps=200)
    assert np.isnan(summary.loc[0, "uplift"]) and poi.empty
    empty, empty_poi = summarize(res.iloc[:0], baseline=None)
    assert empty.empty and empty_poi.empty


def test_one_seed_has_its_point_but_no_interval():
    """One run gives no spread to resample: the percentile interval of one value is that value, a
    zero-width CI that claims a certainty one seed cannot give (a noisy learner's 85 on its one seed
    read as [85, 85]). The point stays; the bounds are nan (report.md says why)."""
    rows = [("a", "equal", 80.0), ("a", "x", 85.0), ("b", "equal", 70.0), ("b", "x", 60.0)]
    res = pd.DataFrame([dict(scenario=sc, agent=ag, seed=0, episode=0, reward=1.0, expected_reward=1.0,
                             oracle_reward=1.0, pct_of_oracle=v, spend=1.0, train_steps=0, wall_s=0.0)
                        for sc, ag, v in rows])
    summary, poi = summarize(res, baseline="equal", reps=200)
    x = summary[summary.agent == "x"].set_index("scenario")
    assert x.loc["a", "pct_of_oracle_mean"] == 85.0 and x.loc["a", "uplift"] == 5.0
    assert x.loc["b", "uplift"] == -10.0 and x.loc["a", "iqm"] == 72.5  # trim_mean of {85, 60}: both kept
    for col in ["pct_of_oracle_ci_lo", "pct_of_oracle_ci_hi", "uplift_ci_lo", "uplift_ci_hi", "iqm_ci_lo",
                "iqm_ci_hi"]:
        assert summary[col].isna().all(), col
    pair = poi.set_index(["agent", "other"]).loc[("x", "equal")]
    assert pair["poi"] == 0.5  # wins on a, loses on b
    assert np.isnan(pair["poi_ci_lo"]) and np.isnan(pair["poi_ci_hi"])
    # a family with one seed and one draw: one cell, no interval; with two draws the draws are resampled
    fam = res.assign(draw=0, split="test")
    one, _ = summarize(fam, baseline="equal", reps=200)
    assert one["pct_of_oracle_ci_lo"].isna().all() and one["uplift_ci_hi"].isna().all()
    two = pd.concat([fam, fam.assign(draw=1, pct_of_oracle=fam["pct_of_oracle"] + 4.0)], ignore_index=True)
    both, _ = summarize(two, baseline="equal", reps=200)
    xa = both[(both.agent == "x") & (both.scenario == "a")].iloc[0]
    assert xa["pct_of_oracle_mean"] == 87.0 and xa["pct_of_oracle_ci_lo"] == 85.0 and xa["pct_of_oracle_ci_hi"] == 89.0


def test_a_run_with_an_infinite_score_is_left_out_as_the_gate_does():
    """A run scoring +-inf (an oracle value that underflowed) has no score, as in the gate (which pairs
    finite seeds only): it made the mean nan with numpy warnings while the probability of improvement
    ranked it above every finite run."""
    import warnings

    res = _results({"equal": (85.0, 1.0), "x": (90.0, 1.0)}, scenarios=("a",), seeds=range(4), episodes=1)
    res.loc[(res.agent == "x") & (res.seed == 1), "pct_of_oracle"] = np.inf
    res.loc[(res.agent == "x") & (res.seed == 2), "pct_of_oracle"] = -np.inf
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        summary, poi = summarize(res, baseline="equal", reps=300)
    x = summary[summary.agent == "x"].iloc[0]
    kept = res[(res.agent == "x") & res.seed.isin([0, 3])]["pct_of_oracle"]
    eq = res[(res.agent == "equal")].set_index("seed")["pct_of_oracle"]
    assert x["n_seeds"] == 2 and x["pct_of_oracle_mean"] == pytest.approx(kept.mean())
    assert x["uplift"] == pytest.approx(kept.mean() - eq.loc[[0, 3]].mean())
    xs = kept.to_numpy()
    by_hand = np.mean([(a > b) + 0.5 * (a == b) for a in xs for b in eq.to_numpy()])
    assert x["poi_vs_equal"] == pytest.approx(by_hand)
    assert poi.set_index(["agent", "other"]).loc[("x", "equal"), "poi"] == pytest.approx(by_hand)


def test_summarize_skips_runs_and_draws_without_a_score():
    """An episode whose oracle earns nothing scores nan and the means skip it (CHANGELOG): a run with
    no score, or a family draw without one, must not turn the scenario's mean, IQM, uplift and poi
    into nan."""
    from budgetgym.experiments.stats import two_way_mean_interval

    res = _results({"equal": (85.0, 1.0), "good": (95.0, 2.0)}, scenarios=("a",), episodes=1)
    hole = (res.agent == "good") & (res.seed == 2)
    res.loc[hole, "pct_of_oracle"] = np.nan
    summary, poi = summarize(res, baseline="equal", reps=500)
    good = summary[summary.agent == "good"].iloc[0]
    scored = res[(res.agent == "good") & ~hole]["pct_of_oracle"]
    assert good["n_seeds"] == 5 and good["pct_of_oracle_mean"] == pytest.approx(scored.mean())
    assert good["pct_of_oracle_ci_lo"] <= good["pct_of_oracle_mean"] <= good["pct_of_oracle_ci_hi"]
    eq = res[(res.agent == "equal") & (res.seed != 2)]["pct_of_oracle"].to_numpy()
    assert good["uplift"] == pytest.approx(scored.mean() - eq.mean())
    assert np.isfinite([good["iqm"], good["poi_vs_equal"]]).all() and np.isfinite(poi["poi"]).all()
    # a family: draw 1's oracle earns nothing on every seed, for every agent
    fam = pd.concat([res.assign(draw=d, split="test") for d in range(3)], ignore_index=True)
    fam["pct_of_oracle"] = fam["pct_of_oracle"] + fam["draw"]
    fam.loc[fam["draw"] == 1, "pct_of_oracle"] = np.nan
    summary, _ = summarize(fam, baseline="equal", reps=500)
    good = summary[summary.agent == "good"].iloc[0]
    cells = fam[(fam.agent == "good")].dropna(subset=["pct_of_oracle"])["pct_of_oracle"]
    assert good["pct_of_oracle_mean"] == pytest.approx(cells.mean())
    assert np.isfinite([good["pct_of_oracle_ci_lo"], good["uplift"], good["uplift_ci_lo"], good["iqm"]]).all()
    # the two-way bootstrap of a complete table is unchanged by the missing-cell rule
    table = np.arange(12.0).reshape(3, 4) ** 1.5
    holed = np.vstack([table, np.full(4, np.nan)])
    assert two_way_mean_interval(table, 300, rng=1).point == pytest.approx(table.mean())
    assert two_way_mean_interval(holed, 300, rng=1).point == pytest.approx(table.mean())
    assert np.isnan(two_way_mean_interval(np.full((2, 2), np.nan), 300, rng=1).point)
    # scattered missing cells: the bounds of a bootstrap written here (own generator; rows and columns drawn
    # with replacement, the crossed table's nanmean), to Monte Carlo error (~1 on a width of ~53); counting
    # a missing cell as 0 moves the upper bound by ~9
    x = np.arange(20.0).reshape(4, 5) ** 1.5
    x[1, 2] = x[3, 0] = x[0, 4] = np.nan
    iv = two_way_mean_interval(x, 4000, rng=0)
    gen = np.random.default_rng(70)
    crossed = [x[gen.integers(0, 4, 4)][:, gen.integers(0, 5, 5)] for _ in range(4000)]
    lo, hi = np.percentile([np.nanmean(c) for c in crossed if not np.isnan(c).all()], [2.5, 97.5])
    assert iv.point == pytest.approx(np.nanmean(x), rel=1e-12)
    assert iv.lo == pytest.approx(lo, abs=2.5) and iv.hi == pytest.approx(hi, abs=2.5)
