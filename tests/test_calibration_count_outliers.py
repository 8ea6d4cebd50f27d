"""The outlier warning of count fits judges deviance residuals (``budgetgym.calibration.residuals``).

The Pearson residual of a count keeps its skew, so clean negative-binomial data alarmed (2 counts of
dispersion k = 2 at about 20 a week: a period at +6.5 robust sd), and Poisson data at half a count a
period named 51 of 104 periods. Counts are drawn here around the noise-free KPI of a synthetic dataset
(``mmm_synth``) rescaled to a mean level; expectations are hand computations of the deviance or periods
injected here.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from mmm_synth import Truth, flighted_spend, synthesize

from budgetgym.calibration import ModelSpec, fit_model, read_mmm_csv
from budgetgym.calibration.diagnostics import outlier_warning
from budgetgym.calibration.model import Fit
from budgetgym.calibration.residuals import deviance_residuals

T = 104
DATES = pd.date_range("2021-01-04", periods=T, freq="7D").to_numpy()


def _fit(path: Path, likelihood: str, level: float, k: float | None, seed: int,
         inject: dict[int, Callable[[float], float]] | None = None) -> Fit:
    """104 weeks of counts around ``level`` (Poisson, or negative binomial with dispersion ``k``), the periods
    in ``inject`` replaced by their function of the count drawn; fitted with ``likelihood``."""
    truth = Truth(beta=np.array([6000.0, 4000.0]), kappa=np.array([1500.0, 2500.0]), slope=np.array([1.2, 0.9]),
                  theta=np.array([0.3, 0.5]))
    synthesize(path, truth, flighted_spend(T, [1000.0, 2000.0], np.random.default_rng(5)), noise_sd=0.0, seed=2)
    frame = pd.read_csv(path)
    mu = level * frame["revenue"].to_numpy() / frame["revenue"].mean()
    rng = np.random.default_rng(seed)
    y = rng.poisson(mu) if k is None else rng.negative_binomial(k, k / (k + mu))
    frame["revenue"] = y.astype(float)
    for t, f in (inject or {}).items():
        frame.loc[t, "revenue"] = f(float(frame.loc[t, "revenue"]))
    frame.to_csv(path, index=False)
    data = read_mmm_csv(path, date="date", kpi="revenue", spend=["c0_spend", "c1_spend"], count_kpi=True)
    return fit_model(data, ModelSpec(likelihood=likelihood, fourier=0, prior="none", starts=1), seed=0)  # type: ignore[arg-type]


def test_deviance_residuals_by_hand() -> None:
    """Poisson d = 2 [y ln(y/mu) - (y - mu)], negative binomial d = 2 [y ln(y/mu) - (y + k) ln((y + k)/(mu + k))],
    r = sign(y - mu) sqrt(d), with 0 ln 0 = 0; the negative binomial tends to the Poisson as k grows."""
    y, mu = np.array([0.0, 3.0, 10.0]), np.array([2.0, 3.0, 4.0])
    poisson = [-math.sqrt(2 * 2.0), 0.0, math.sqrt(2 * (10 * math.log(2.5) - 6))]  # 2.515
    assert deviance_residuals(y, mu) == pytest.approx(poisson, abs=1e-12)
    nb = [-math.sqrt(-2 * 2 * math.log(2 / 4)), 0.0, math.sqrt(2 * (10 * math.log(2.5) - 12 * math.log(12 / 6)))]
    assert deviance_residuals(y, mu, 2.0) == pytest.approx(nb, abs=1e-12)  # -1.665, 0, 1.300
    assert deviance_residuals(y, mu, 1e12) == pytest.approx(poisson, rel=1e-6)


def test_clean_overdispersed_counts_are_not_outliers(tmp_path: Path) -> None:
    """Negative-binomial counts (k = 2, about 20 a week, seed 16) with nothing injected: the Pearson residual of
    week 80 was +6.5 robust sd and named; its deviance residual is within 5."""
    fit = _fit(tmp_path / "d.csv", "negative_binomial", 20.0, 2.0, 16)
    assert fit.dispersion is not None and 1.5 < fit.dispersion < 2.5  # the premise: k fitted near its truth
    assert outlier_warning(fit, DATES) == []


def test_counts_below_one_a_period_give_no_warning(tmp_path: Path) -> None:
    """Poisson counts at about 0.5 a week: most weeks are 0, the residuals' MAD collapses onto the ties (the
    Pearson rule named 51 of the 104 weeks); judged by each count's tail probability under its fitted mean
    instead, a clean series has none."""
    fit = _fit(tmp_path / "d.csv", "poisson", 0.5, None, 0)
    assert float(np.median(fit.fitted)) < 1.0
    assert outlier_warning(fit, DATES) == []


def test_a_planted_count_below_one_a_period_is_named_by_its_tail_probability(tmp_path: Path) -> None:
    """Poisson counts at about 0.5 a week had no outlier warning at all (no robust scale with most weeks 0), so a
    week of 15 (2022-01-03, week 52: a data error) passed unnoticed. It is named by its tail probability under the
    fitted mean (about 1 there), P(Y >= 15) = 5.8e-13 below 2.9e-7, and no other week is."""
    planted = 15.0
    fit = _fit(tmp_path / "d.csv", "poisson", 0.5, None, 0, {52: lambda v: planted})
    assert float(np.median(fit.fitted)) < 1.0  # the case
    hits = outlier_warning(fit, DATES)
    assert len(hits) == 1 and hits[0].startswith("1 outlying period (a count of tail probability below 2.9e-07"), hits
    assert f"2022-01-03 (KPI {planted:g}, " in hits[0]


def test_tail_probability_by_hand() -> None:
    """min(P(Y >= y), P(Y <= y)): Poisson(0.5) at 0 is P(Y <= 0) = e^-0.5 vs 1, at 4 the upper tail
    1 - e^-0.5 (1 + 0.5 + 0.125 + 0.5^3 / 6); the negative binomial (k = 2, mu = 1: p = 2/3) at 0 is
    P(Y = 0) = (2/3)^2."""
    from budgetgym.calibration.residuals import tail_probability

    upper = 1 - math.exp(-0.5) * (1 + 0.5 + 0.125 + 0.125 / 6)
    assert tail_probability(np.array([0.0, 4.0]), np.array([0.5, 0.5])) == pytest.approx(
        [math.exp(-0.5), upper], rel=1e-12)
    assert tail_probability(np.array([0.0]), np.array([1.0]), 2.0) == pytest.approx([4 / 9], rel=1e-12)


@pytest.mark.parametrize("likelihood", ["poisson", "negative_binomial"])
def test_an_injected_zero_week_and_a_tripled_week_are_named(tmp_path: Path, likelihood: str) -> None:
    """Poisson counts at about 200 a week; week 30 (2021-08-02) set to 0 and week 70 (2022-05-09) tripled: both
    named, as deviance residuals, and nothing else."""
    fit = _fit(tmp_path / "d.csv", likelihood, 200.0, None, 3, {30: lambda v: 0.0, 70: lambda v: 3 * v})
    hits = outlier_warning(fit, DATES)
    assert len(hits) == 1 and hits[0].startswith("2 outlying periods (deviance residual beyond 5 robust sd"), hits
    assert "2021-08-02 (KPI 0, " in hits[0] and "2022-05-09 (KPI " in hits[0]
