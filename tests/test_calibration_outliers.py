"""Error figures that mean something whatever the KPI, and the warning of outlying periods.

A KPI with a period near 0 (revenue -5 in a week of weeks at 250k) made MAPE, which divides by each
period's KPI, read 39,000% in fit.md; one zero week among good ones dragged R² down and nothing said
why. Expectations are hand computations (WAPE, MAPE and the floor on four numbers) or the dates of
periods injected here into a synthetic dataset (``mmm_synth``: 60 weeks at about 30,000, noise sd 300).
A negative KPI (returns netted out) was fitted by the Gaussian likelihood without a word, and by a count
likelihood too when the data were read without ``count_kpi`` (a notebook's ``fit_model``).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from mmm_synth import Truth, flighted_spend, synthesize

from budgetgym.calibration import ModelSpec, calibrate, fit_model, read_mmm_csv
from budgetgym.calibration.diagnostics import errors, outlier_warning, warnings_for
from budgetgym.calibration.report import _errors_row
from budgetgym.envs.errors import BudgetGymError

SPEND = ["c0_spend", "c1_spend"]
T = 60
FAST = dict(date="date", kpi="revenue", spend=SPEND, draws=0, fourier=0, starts=2, prior="none")


def _data(path: Path, zero: dict[int, float] | None = None) -> Path:
    """60 weeks of two channels at a KPI of about 30,000; the periods in ``zero`` set to those values."""
    truth = Truth(beta=np.array([6000.0, 4000.0]), kappa=np.array([1500.0, 2500.0]), slope=np.array([1.2, 0.9]),
                  theta=np.array([0.3, 0.5]))
    synthesize(path, truth, flighted_spend(T, [1000.0, 2000.0], np.random.default_rng(5)), noise_sd=300.0, seed=2)
    frame = pd.read_csv(path)
    for t, v in (zero or {}).items():
        frame.loc[t, "revenue"] = v
    frame.to_csv(path, index=False)
    return path


def test_wape_and_the_mape_floor_by_hand() -> None:
    """WAPE = 100 sum|e| / sum|y|; MAPE is meaningful only when every |y| is at least 5% of mean |y|."""
    y = np.array([100.0, 100.0, -1.0, 100.0])
    mu = np.array([90.0, 110.0, 95.0, 100.0])
    e = errors(y, mu)
    # |e| = 10, 10, 96, 0 (sum 116); |y| sums to 301, mean 75.25, its 5% 3.76 > |-1|
    assert e.wape == pytest.approx(100.0 * 116.0 / 301.0)
    assert e.mape == pytest.approx(100.0 * (0.1 + 0.1 + 96.0 + 0.0) / 4)  # 2405%: kept, as mape_pct
    assert not e.mape_ok
    assert e.as_dict()["wape_pct"] == e.wape and e.as_dict()["mape_pct"] == e.mape  # added, nothing renamed
    assert errors(np.array([1.0, 39.0]), np.array([1.0, 39.0])).mape_ok  # 1 = 5% of the mean 20
    assert not errors(np.array([0.9, 39.1]), np.array([1.0, 39.0])).mape_ok
    assert _errors_row("in sample", e) == "| in sample | 4 | -0.231 | n/a | 38.54 | 48.5 |"
    # SStot = 3 * 25.25**2 + 75.75**2 = 7650.75, SSres = 100 + 100 + 9216 = 9416; RMSE = sqrt(9416 / 4)
    assert e.r2 == pytest.approx(1 - 9416 / 7650.75)
    assert e.relative() == "WAPE 38.54% (MAPE n/a: a period's KPI near 0)"
    ok = errors(np.array([200.0, 100.0]), np.array([150.0, 110.0]))  # |e| 50, 10: MAPE (25 + 10) / 2, WAPE 60/300
    assert ok.relative() == "MAPE 17.50%, WAPE 20.00%"


def test_held_out_warning_compares_wapes_when_a_mape_means_nothing() -> None:
    """The in-sample MAPE of a fit with a week near 0 is thousands of %: a held-out MAPE of 12% never
    exceeded twice it. With either MAPE not meaningful the warning compares the WAPEs (12% > 2 x 2%)."""
    from test_calibration_report import _tiny_fit

    fit = _tiny_fit()
    ins = errors(fit.y, fit.fitted)
    fitted = type(ins)(n=50, r2=0.6, mape=39000.0, rmse=1.0, wape=2.0, mape_ok=False)
    held = type(ins)(n=10, r2=0.5, mape=12.0, rmse=1.0, wape=12.0, mape_ok=True)
    hits = [w for w in warnings_for(fit, None, ins, held, holdout_insample=fitted) if w.startswith("held-out")]
    assert hits and hits[0].startswith("held-out WAPE 12.0% is far above the in-sample 2.0%"), hits
    calm = type(ins)(n=10, r2=0.5, mape=3.0, rmse=1.0, wape=3.0, mape_ok=True)  # 3 < max(2 x 2, 2 + 5)
    assert not [w for w in warnings_for(fit, None, ins, calm, holdout_insample=fitted) if w.startswith("held-out")]


def test_a_week_near_zero_reads_n_a_for_mape_in_fit_md(tmp_path: Path) -> None:
    """One week of revenue -5 among weeks at 30,000: fit.md's MAPE reads n/a with the reason, WAPE is
    its figure; the clean file keeps its MAPE and says nothing of a floor."""
    bad = calibrate(_data(tmp_path / "bad.csv", {30: -5.0}), out=tmp_path / "bad", plots=False, **FAST)
    md = (tmp_path / "bad" / "fit.md").read_text()
    row = next(line for line in md.splitlines() if line.startswith("| in sample (all periods)"))
    assert row.split(" | ")[3:5] == ["n/a", f"{bad.errors.wape:.2f}"], row
    assert bad.errors.wape < 10 and bad.errors.mape > 1000  # the premise: MAPE is the week near 0
    assert "MAPE n/a: a period's KPI is below 5% of its mean level" in md
    good = calibrate(_data(tmp_path / "good.csv"), out=tmp_path / "good", plots=False, **FAST)
    md = (tmp_path / "good" / "fit.md").read_text()
    assert f"| {good.errors.mape:.2f} | {good.errors.wape:.2f} |" in md and "MAPE n/a" not in md


def test_an_injected_outlier_is_warned_by_its_date(tmp_path: Path) -> None:
    """A zero week (2021-08-02, period 30) among weeks at 30,000 is named, with the advice; the clean
    dataset is silent."""
    res = calibrate(_data(tmp_path / "d.csv", {30: 0.0}), **FAST)
    hits = [w for w in res.warnings if "outlying period" in w]
    assert len(hits) == 1, res.warnings
    assert hits[0].startswith("1 outlying period (residual beyond 5 robust sd, 1.4826 MAD): 2021-08-02 (KPI 0, ")
    assert "a data error or an event the controls do not cover" in hits[0] and "--controls" in hits[0]
    clean = calibrate(_data(tmp_path / "c.csv"), **FAST)
    assert not [w for w in clean.warnings if "outlying" in w], clean.warnings


def test_many_outliers_name_the_largest_three_and_count_the_rest(tmp_path: Path) -> None:
    """Five weeks moved to 0, 3000, 6000, 9000 and 12000 (the fit bends to them, R² 0.2): the three
    furthest from the fit (largest |KPI - fitted|, Gaussian: every period's variance is the same) are
    named, largest first, and the other two counted."""
    low = {10: 12000.0, 20: 0.0, 30: 9000.0, 40: 3000.0, 50: 6000.0}
    res = calibrate(_data(tmp_path / "d.csv", low), **FAST)
    hits = [w for w in res.warnings if "outlying" in w]
    assert len(hits) == 1, res.warnings
    dates = pd.date_range("2021-01-04", periods=T, freq="7D")
    gap = {t: abs(v - res.fit.fitted[t]) for t, v in low.items()}
    ranked = sorted(low, key=lambda t: -gap[t])
    assert hits[0].startswith("5 outlying periods")
    named = [str(dates[t].date()) for t in ranked[:3]]
    assert [hits[0].index(d) for d in named] == sorted(hits[0].index(d) for d in named)
    assert all(str(dates[t].date()) not in hits[0] for t in ranked[3:]) and "and 2 more;" in hits[0]


def test_a_fit_exact_to_rounding_is_silent(tmp_path: Path) -> None:
    """Noise-free data: the residuals are rounding, whose MAD is no scale; nothing is warned of."""
    path = tmp_path / "d.csv"
    truth = Truth(beta=np.array([6000.0]), kappa=np.array([1500.0]), slope=np.array([1.0]), theta=np.array([0.3]))
    synthesize(path, truth, flighted_spend(48, [1000.0], np.random.default_rng(1)), noise_sd=0.0, seed=1)
    fit = fit_model(read_mmm_csv(path, date="date", kpi="revenue", spend=SPEND[:1]),
                    ModelSpec(fourier=0, prior="none", starts=2), seed=0)
    assert outlier_warning(fit, np.arange(48)) == []


def test_negative_kpi_periods_are_warned_of_in_fit_md(tmp_path: Path) -> None:
    """Four weeks of revenue below 0 (-500, -20, -7000, -1; sum -7521) among weeks at 30,000: the Gaussian fit
    names the first three by date (periods 5, 12, 40: 2021-02-08, 2021-03-29, 2021-10-11), counts them and sums
    them, in the warnings and fit.md; a clean file is silent."""
    neg = {5: -500.0, 12: -20.0, 40: -7000.0, 51: -1.0}
    res = calibrate(_data(tmp_path / "d.csv", neg), out=tmp_path / "out", plots=False, **FAST)
    hits = [w for w in res.warnings if "is negative in" in w]
    assert hits == ["the KPI 'revenue' is negative in 4 periods (2021-02-08, 2021-03-29, 2021-10-11 and 1 more; sum "
                    "-7,521), which the Gaussian fit takes as they are: returns or corrections netted out, or a data "
                    "error; check the KPI column (a count likelihood refuses them)"], res.warnings
    assert f"- {hits[0]}" in (tmp_path / "out" / "fit.md").read_text()
    clean = calibrate(_data(tmp_path / "c.csv"), **FAST)
    assert not [w for w in clean.warnings if "is negative" in w], clean.warnings


@pytest.mark.parametrize("likelihood", ["poisson", "negative_binomial"])
def test_a_count_likelihood_refuses_a_negative_kpi_in_one_line(tmp_path: Path, likelihood: str) -> None:
    """Two negative weeks (rows 8 and 21): ``calibrate`` and ``fit_model`` on data read without ``count_kpi``
    (which fitted them silently, the Poisson variance floored at 1e-3 of the mean) both refuse, naming the
    file, the column, the first row and how many."""
    path = _data(tmp_path / "d.csv", {7: -3.0, 20: -40.0})
    msg = (f"^data file '{path}': column 'revenue', row 8: a count likelihood \\(poisson, negative_binomial\\) needs "
           f"a KPI >= 0, got -3 \\(2 periods negative\\); fix the data, or fit it with --likelihood gaussian$")
    with pytest.raises(BudgetGymError, match=msg):
        calibrate(path, likelihood=likelihood, **FAST)  # type: ignore[arg-type]
    data = read_mmm_csv(path, date="date", kpi="revenue", spend=SPEND)
    with pytest.raises(BudgetGymError, match=msg):
        fit_model(data, ModelSpec(likelihood=likelihood, fourier=0, prior="none", starts=1), seed=0)  # type: ignore[arg-type]


def test_robust_z_by_hand() -> None:
    """``robust_z``: median 2, absolute deviations [2, 1, 0, 1, 98] with median 1, so s = 1.4826 and the
    outlier 100 sits at 98 / 1.4826 = 66.1 sd; a row whose MAD is 0 has no scale (NaN), row by row."""
    from budgetgym.calibration.diagnostics import robust_z

    z = robust_z(np.array([[0.0, 1.0, 2.0, 3.0, 100.0], [5.0, 5.0, 5.0, 5.0, 9.0]]))
    np.testing.assert_allclose(z[0], np.array([-2.0, -1.0, 0.0, 1.0, 98.0]) / 1.4826)
    assert np.isnan(z[1]).all()
