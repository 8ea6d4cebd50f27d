r"""The regression gate on drops that differ from seed to seed.

The planted drops of ``test_regress.py`` shift every seed by the same amount, so the bootstrap
interval of the paired difference collapses to a point and the confidence, the number of seeds
and the spread never decide a verdict. A real regression of a learner (a parameter made worse)
moves each seed by a different amount. Here the per-seed differences ``d_s`` carry noise, and
each expected verdict is derived from two facts about the gate's percentile bootstrap of the
mean of ``d`` over ``n`` pairs:

* every resample mean lies in ``[min_s d_s, max_s d_s]``, so ``max_s d_s < -tol`` forces
  ``regressed`` whatever the resampling;
* the bootstrap distribution of the mean is close to normal with sd
  ``s * sqrt((n - 1) / n) / sqrt(n)`` (``s`` the sample sd of ``d``, ``ddof=1``), so the upper
  end of the ``c`` interval is about ``mean + z_{(1+c)/2} * sd``.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from budgetgym.agents import evaluate, make_agent
from budgetgym.envs import ChannelBudgetEnv, load_scenario
from budgetgym.experiments import compare, record_baseline

N_SEEDS = 8  # as in configs/experiments/regression.yaml
TOL = 0.01  # the gate's default: 1 point of % of oracle


def results_dir(path: Path, scores: dict[str, np.ndarray], config_hash: str = "noisy") -> Path:
    """A minimal results directory: one episode per seed of each agent on ``stationary-3``."""
    rows = [
        {"scenario": "stationary-3", "agent": agent, "seed": s, "episode": 0, "pct_of_oracle": float(v)}
        for agent, values in scores.items()
        for s, v in enumerate(values)
    ]
    path.mkdir(parents=True)
    pd.DataFrame(rows).to_csv(path / "results.csv", index=False)
    (path / "meta.json").write_text(json.dumps({"experiment": "noisy", "config_hash": config_hash}))
    return path


def standardised(rng: np.random.Generator, n: int) -> np.ndarray:
    """``n`` normal draws rescaled to sample mean exactly 0 and sample sd (ddof=1) exactly 1."""
    z = rng.standard_normal(n)
    return (z - z.mean()) / z.std(ddof=1)


def boot_sd(s: float, n: int = N_SEEDS) -> float:
    """Approximate sd of the bootstrap distribution of a mean of ``n`` values of sample sd ``s``."""
    return s * np.sqrt((n - 1) / n) / np.sqrt(n)


@pytest.fixture
def baseline_scores() -> np.ndarray:
    """Per-seed scores of a noisy learner (sd 3 points around 90)."""
    return 90.0 + 3.0 * standardised(np.random.default_rng(1), N_SEEDS)


def gate(tmp_path: Path, base: np.ndarray, now: np.ndarray, **kwargs: float):
    base_rec = record_baseline(results_dir(tmp_path / "base", {"learner": base}))
    rep = compare(results_dir(tmp_path / "now", {"learner": now}), base_rec, **kwargs)
    (row,) = rep.rows
    return rep, row


def test_a_three_point_drop_with_seed_noise_is_caught(tmp_path, baseline_scores):
    d = -3.0 + 1.0 * standardised(np.random.default_rng(2), N_SEEDS)  # mean -3, sd 1
    assert d.max() < -TOL * 100  # every resample mean is <= max d < -1: "regressed" is forced
    rep, row = gate(tmp_path, baseline_scores, baseline_scores + d)
    assert not rep.ok and row.verdict == "regressed"
    assert row.diff == pytest.approx(-3.0, abs=1e-9) and row.n_pairs == N_SEEDS
    # the interval did not collapse: it spans about +-2.58 bootstrap sds around the mean
    assert row.ci_lo < -3.0 < row.ci_hi < -1.0
    assert row.ci_hi - row.ci_lo == pytest.approx(2 * stats.norm.ppf(0.995) * boot_sd(1.0), rel=0.25)


def test_the_same_mean_drop_drowned_in_seed_noise_is_not_flagged(tmp_path, baseline_scores):
    """Mean -3 but per-seed sd 12: the bootstrap sd of the mean is 12 * sqrt(7/8) / sqrt(8) = 3.97,
    so about P(Z > (3 - 1) / 3.97) = 31% of the resample means lie above -1, far more than the
    0.5% the 99% interval leaves out: its upper end is above -1 and the gate must say "ok",
    although the mean difference alone (-3) exceeds the tolerance."""
    d = -3.0 + 12.0 * standardised(np.random.default_rng(2), N_SEEDS)
    assert stats.norm.sf(2.0 / boot_sd(12.0)) > 0.25
    rep, row = gate(tmp_path, baseline_scores, baseline_scores + d)
    assert rep.ok and row.verdict == "ok"
    assert row.diff == pytest.approx(-3.0, abs=1e-9)
    assert row.ci_hi > -1.0 and row.ci_lo < -3.0


def test_the_confidence_decides_a_borderline_noisy_drop(tmp_path, baseline_scores):
    """Mean -3, per-seed sd 8/sqrt(7) = 3.02, so the bootstrap sd of the mean is 1.0: the 90%
    interval ends near -3 + 1.64 = -1.36 (below -1: regressed), the 99% one near
    -3 + 2.58 = -0.42 (above -1: ok)."""
    s = 8.0 / np.sqrt(7.0)
    assert boot_sd(s) == pytest.approx(1.0)
    d = -3.0 + s * standardised(np.random.default_rng(2), N_SEEDS)
    now = baseline_scores + d
    _, at99 = gate(tmp_path / "99", baseline_scores, now)
    _, at90 = gate(tmp_path / "90", baseline_scores, now, confidence=0.90)
    assert at99.verdict == "ok" and at90.verdict == "regressed"
    assert at90.ci_hi == pytest.approx(-3.0 + stats.norm.ppf(0.95), abs=0.25)
    assert at99.ci_hi == pytest.approx(-3.0 + stats.norm.ppf(0.995), abs=0.4)


@pytest.mark.parametrize(
    ("tolerance", "drop", "verdict"),
    [
        (0.01, 1.0, "ok"),  # a drop equal to the tolerance is not larger than it
        (0.07, 7.0, "ok"),
        (0.29, 29.0, "ok"),  # 0.29 * 100 is 28.999999999999996 in floating point: it said "regressed"
        (0.29, 28.99, "ok"),  # just inside
        (0.29, 29.01, "regressed"),  # just outside
        (0.01, 1.01, "regressed"),
        (0.0, 0.01, "regressed"),  # no tolerance: any credible drop
        (0.0, 0.0, "ok"),
    ],
)
def test_the_tolerance_boundary_does_not_depend_on_floating_point_rounding(tmp_path, tolerance, drop, verdict):
    """Every seed drops by ``drop`` points (the interval is the point): "regressed" exactly when the
    drop exceeds ``100 * tolerance`` points, whichever of them rounds up or down in binary."""
    base = np.array([90.0, 88.7, 91.1, 89.3])
    _, row = gate(tmp_path, base, base - drop, tolerance=tolerance)
    assert row.verdict == verdict, (row.diff, row.threshold)
    _, up = gate(tmp_path / "up", base, base + drop, tolerance=tolerance)
    assert up.verdict == ("improved" if verdict == "regressed" else "ok")


def test_more_seeds_catch_a_drop_that_few_seeds_cannot(tmp_path):
    """Mean -2, per-seed sd 3: with 4 seeds the 99% interval reaches about
    -2 + 2.58 * 3 * sqrt(3/4) / 2 = +1.4 (ok); with 128 seeds about -2 + 2.58 * 0.26 = -1.32: the
    mean of 128 noisy pairs pins the drop below the tolerance (regressed)."""
    verdicts = {}
    for n in (4, 128):
        base = 90.0 + 3.0 * standardised(np.random.default_rng(10 + n), n)
        d = -2.0 + 3.0 * standardised(np.random.default_rng(20 + n), n)
        _, row = gate(tmp_path / str(n), base, base + d)
        verdicts[n] = row.verdict
    assert verdicts == {4: "ok", 128: "regressed"}


def test_a_learner_made_worse_is_caught_although_its_drop_varies_by_seed(tmp_path):
    """Real runs: Thompson sampling with its noise sd fixed far too high (sigma=5 reward scales:
    it keeps exploring poor splits) against the default, on the regression grid's shape
    (8 seeds x 4 episodes of stationary-3). Each seed loses a different amount."""
    sc = load_scenario("stationary-3")

    def scores(**params: float) -> pd.DataFrame:
        agent = make_agent("thompson", ChannelBudgetEnv(sc), **params)
        res = evaluate(agent, sc, seeds=range(N_SEEDS), episodes=4)
        return pd.DataFrame([r.row() for r in res]).assign(scenario="stationary-3", agent="thompson")

    good, worse = scores(), scores(sigma=5.0)
    per_seed = lambda f: f.groupby("seed")["pct_of_oracle"].mean()  # noqa: E731
    d = per_seed(worse) - per_seed(good)
    assert d.std() > 0.3 and d.max() - d.min() > 1.0  # a noisy drop, not a constant shift
    dirs = {}
    for name, frame in (("good", good), ("worse", worse)):
        dirs[name] = tmp_path / name
        dirs[name].mkdir()
        frame.to_csv(dirs[name] / "results.csv", index=False)
        (dirs[name] / "meta.json").write_text(json.dumps({"config_hash": "thompson"}))
    rep = compare(dirs["worse"], record_baseline(dirs["good"]))
    (row,) = rep.rows
    assert row.verdict == "regressed" and row.diff == pytest.approx(d.mean())
    assert row.ci_lo < d.mean() < row.ci_hi < -1.0 and row.ci_hi - row.ci_lo > 0.3
    # the same rows compared with themselves: no drop, no verdict
    assert compare(dirs["good"], record_baseline(dirs["good"])).rows[0].verdict == "ok"


def test_a_same_grid_row_whose_every_seed_came_back_nan_is_incomplete_not_unpaired(tmp_path, baseline_scores):
    """Same config, every seed's score nan (crashed to nan): the seeds are the baseline's, so the row is
    "incomplete" (documented: a baseline seed without a finite result), not "unpaired" (both sides have
    results but no seed in common), which sent the reader looking for a seed mismatch."""
    rep, row = gate(tmp_path, baseline_scores, np.full(N_SEEDS, np.nan))
    assert not rep.ok and row.verdict == "incomplete" and row.n_pairs == 0
    assert row.baseline == pytest.approx(baseline_scores.mean())
