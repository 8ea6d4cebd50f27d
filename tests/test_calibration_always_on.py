"""``fit.md`` warns of a channel spent in (almost) every period at a steady level: only the slope of its
response around the typical spend is identified, and its contribution's level trades with the baseline's
intercept (benchmarks/README.md, issue 11, "What the data identify")."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from mmm_synth import Truth, flighted_spend, synthesize

from budgetgym.calibration import ModelSpec, fit_model, read_mmm_csv
from budgetgym.calibration.diagnostics import errors, warnings_for

T = 104


def _warnings(tmp_path: Path, second: np.ndarray) -> list[str]:
    """The point fit's warnings on two channels: ``a`` flighted (dark in about a third of the periods),
    ``b`` spent ``second``; Gaussian noise of sd 300 on a KPI of about 35,000."""
    spend = flighted_spend(T, [1000.0, 1.0], np.random.default_rng(2))
    spend[:, 1] = second
    truth = Truth(beta=np.array([6000.0, 4000.0]), kappa=np.array([2500.0, 900.0]), slope=np.array([1.2, 1.0]),
                  theta=np.array([0.3, 0.1]))
    synthesize(tmp_path / "d.csv", truth, spend, noise_sd=300.0, seed=1, spend_names=["a", "b"])
    data = read_mmm_csv(tmp_path / "d.csv", date="date", kpi="revenue", spend=["a_spend", "b_spend"])
    fit = fit_model(data, ModelSpec(fourier=0, starts=2), seed=0)
    return warnings_for(fit, None, errors(fit.y, fit.fitted))


def _steady(cv: float, share: float = 1.0) -> np.ndarray:
    """800 a period times a log-normal level of coefficient of variation ``cv`` (seeded); off in the first
    ``1 - share`` of the periods, spread through the data."""
    rng = np.random.default_rng(4)
    sd = np.sqrt(np.log1p(cv**2))
    x = 800.0 * np.exp(sd * rng.standard_normal(T) - sd**2 / 2)
    off = rng.permutation(T)[: int(round((1 - share) * T))]
    x[off] = 0.0
    return x


def test_an_always_on_channel_at_a_steady_level_is_warned_of(tmp_path: Path) -> None:
    """``b`` spent every period at 800 +- 30% (coefficient of variation 0.3, as the benchmark's always-on
    channels, 0.25-0.39): the warning names it, its share of periods and its coefficient of variation (by
    hand), says that its contribution trades with the intercept and that a lift test or a holdout would pin
    it. The flighted ``a`` is not warned of."""
    x = _steady(0.3)
    cv = float(np.std(x) / np.mean(x))
    found = [w for w in _warnings(tmp_path, x) if "intercept" in w and "steady" in w]
    assert len(found) == 1, found
    assert found[0].startswith(f"b: spent in 100% of periods at a steady level (coefficient of variation {cv:.2f}")
    assert "lift test" in found[0] and "holdout" in found[0]


@pytest.mark.parametrize(("cv", "share"), [(0.8, 1.0), (0.3, 0.85)])
def test_a_varied_or_sometimes_dark_channel_is_not(tmp_path: Path, cv: float, share: float) -> None:
    """Spent every period but over a wide range (coefficient of variation 0.8: its low periods act as dark
    ones), or dark in 15% of the periods (the benchmark's flighted channels are dark in 12% or more): the
    periods at low or no spend separate its level from the intercept, and no such warning fires."""
    assert not [w for w in _warnings(tmp_path, _steady(cv, share)) if "intercept" in w and "steady" in w]
