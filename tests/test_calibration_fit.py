"""The calibration recovers the parameters that generated a dataset (written independently in
``mmm_synth``), its bootstrap intervals cover the truth under noise, and weak channels stay sane."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from mmm_synth import Truth, flighted_spend, synthesize

from budgetgym.calibration import ModelSpec, block_bootstrap, calibrate, fit_model, read_mmm_csv
from budgetgym.calibration.diagnostics import typical_response
from budgetgym.calibration.transforms import adstock_weights
from budgetgym.envs.kernels import adstock_kernel
from budgetgym.envs.scenario import WeibullAdstock

T = 156
SPEND = ["c0_spend", "c1_spend", "c2_spend"]


def _truth() -> Truth:
    # search-like fast and concave, TV-like slow and S-shaped, social in between
    return Truth(beta=np.array([6000.0, 9000.0, 3000.0]), kappa=np.array([1500.0, 9000.0, 900.0]),
                 slope=np.array([0.8, 1.8, 1.2]), theta=np.array([0.25, 0.6, 0.1]),
                 control_coef=np.array([-4000.0]))


def _spend(seed: int = 1, active: float = 1.0) -> np.ndarray:
    return flighted_spend(T, [1000.0, 3000.0, 500.0], np.random.default_rng(seed), active=active)


def _controls() -> np.ndarray:
    return np.random.default_rng(9).uniform(0.8, 1.2, (T, 1))  # e.g. a price index


def test_noise_free_recovery_every_parameter(tmp_path: Path) -> None:
    """Noise-free data from the model itself: beta, theta, kappa, slope, the control's coefficient
    and the in-sample fit are recovered to tight tolerance (the likelihood's optimum is the truth)."""
    truth = synthesize(tmp_path / "d.csv", _truth(), _spend(), controls=_controls())
    data = read_mmm_csv(tmp_path / "d.csv", date="date", kpi="revenue", spend=SPEND, controls="control0")
    fit = fit_model(data, ModelSpec(prior="weak"), seed=0)
    p = fit.params()
    np.testing.assert_allclose(fit.beta, truth.beta, rtol=1e-4)
    np.testing.assert_allclose(p["decay"], truth.theta, atol=1e-5)
    np.testing.assert_allclose(p["kappa"], truth.kappa, rtol=1e-4)
    np.testing.assert_allclose(p["slope"], truth.slope, rtol=1e-4)
    np.testing.assert_allclose(fit.coef[fit.baseline_names.index("control0")], -4000.0, rtol=1e-4)
    np.testing.assert_allclose(fit.contributions, truth.contributions, rtol=1e-5, atol=1e-3)
    assert not fit.weak.any()


def test_noise_free_recovery_daily(tmp_path: Path) -> None:
    """Daily data: a carry-over of 0.95 a day (0.70 a week, beyond the weekly bound of 0.9 only
    in per-period terms) and a baseline with a weekly cycle term set are recovered too."""
    truth = Truth(beta=np.array([6000.0, 9000.0]), kappa=np.array([8000.0, 40000.0]), slope=np.array([0.8, 1.8]),
                  theta=np.array([0.8, 0.95]))
    spend = flighted_spend(400, [1000.0, 3000.0], np.random.default_rng(2))
    synthesize(tmp_path / "day.csv", truth, spend, step_days=1)
    data = read_mmm_csv(tmp_path / "day.csv", date="date", kpi="revenue", spend=SPEND[:2])
    fit = fit_model(data, ModelSpec(), seed=0)
    assert data.step_days == 1.0 and "week_cos1" in fit.baseline_names
    np.testing.assert_allclose(fit.params()["decay"], truth.theta, atol=1e-5)
    np.testing.assert_allclose(fit.params()["kappa"], truth.kappa, rtol=1e-4)
    np.testing.assert_allclose(fit.beta, truth.beta, rtol=1e-4)


def test_noise_free_weibull_and_logistic(tmp_path: Path) -> None:
    """The Weibull (PDF) carry-over, with weights from the environment's own kernel, and the
    logistic curve are recovered too: the exported scenario means what was fitted."""
    cfgs = [WeibullAdstock(type="weibull_pdf", shape=s, scale=lam, window=8) for s, lam in ((1.5, 2.0), (0.8, 3.0))]
    weights = [adstock_kernel(c, T) for c in cfgs]
    truth = Truth(beta=np.array([6000.0, 4000.0]), kappa=np.zeros(2), slope=np.zeros(2), theta=np.zeros(2),
                  weights=weights, rate=np.array([1 / 2500.0, 1 / 1200.0]))
    spend = _spend(3)[:, :2]
    synthesize(tmp_path / "w.csv", truth, spend)
    data = read_mmm_csv(tmp_path / "w.csv", date="date", kpi="revenue", spend=SPEND[:2])
    fit = fit_model(data, ModelSpec(adstock="weibull_pdf", saturation="logistic", window=8), seed=0)
    p = fit.params()
    np.testing.assert_allclose(p["shape"], [1.5, 0.8], rtol=1e-3)
    np.testing.assert_allclose(p["scale"], [2.0, 3.0], rtol=1e-3)
    np.testing.assert_allclose(1.0 / p["kappa"], truth.rate, rtol=1e-3)  # logistic rate = 1/kappa
    np.testing.assert_allclose(fit.beta, truth.beta, rtol=1e-3)


@pytest.mark.parametrize("kind", ["weibull_cdf", "weibull_pdf"])
def test_weibull_weights_are_the_environments(kind: str) -> None:
    """The fit restates the Weibull weights for speed; they must equal the environment's kernel
    (the one the exported scenario uses) over the whole shape and scale range."""
    for shape in (0.1, 0.5, 1.0, 2.0, 5.0):
        for scale in (0.3, 1.0, 3.7, 8.0):
            env = adstock_kernel(WeibullAdstock(type=kind, shape=shape, scale=scale, window=8), 8)
            np.testing.assert_allclose(adstock_weights(kind, np.array([shape, scale]), 8), env, rtol=1e-12, atol=1e-15)


def test_count_likelihoods_recover_noise_free_means(tmp_path: Path) -> None:
    """Poisson and negative-binomial fits (reweighted least squares) have the same optimum on
    noise-free data: the truth."""
    truth = _truth()
    truth.beta = truth.beta / 100.0  # conversions, not revenue
    synthesize(tmp_path / "c.csv", truth, _spend(), kpi="conversions", base_scale=0.01)
    data = read_mmm_csv(tmp_path / "c.csv", date="date", kpi="conversions", spend=SPEND, count_kpi=True)
    for lik in ("poisson", "negative_binomial"):
        fit = fit_model(data, ModelSpec(likelihood=lik), seed=0)  # type: ignore[arg-type]
        np.testing.assert_allclose(fit.beta, truth.beta, rtol=1e-4)
        np.testing.assert_allclose(fit.params()["slope"], truth.slope, rtol=1e-4)


def test_bootstrap_intervals_cover_the_response_at_typical_spend(tmp_path: Path) -> None:
    """With Gaussian noise (sd 400, ~1% of the KPI) the 90% interval of each channel's response at
    its typical spend covers the truth for most channels, and the holdout forecast error is of the
    order of the noise."""
    truth = synthesize(tmp_path / "n.csv", _truth(), _spend(), noise_sd=400.0, seed=4)
    res = calibrate(tmp_path / "n.csv", date="date", kpi="revenue", spend=SPEND, draws=60, holdout=13, seed=0)
    table = res.parameters.set_index(["channel", "parameter"])
    true = truth.typical_response()
    covered = [table.loc[(ch, "typical_response"), "low"] <= true[i] <= table.loc[(ch, "typical_response"), "high"]
               for i, ch in enumerate(res.fit.channels)]
    assert sum(covered) >= 2, (covered, true, table.xs("typical_response", level=1))
    assert res.holdout is not None and res.holdout.outsample.rmse < 3 * 400.0
    assert 0.6 * 400.0 < np.sqrt(res.fit.scale) < 1.4 * 400.0  # the noise level is estimated


def test_noise_free_holdout_forecast_is_exact(tmp_path: Path) -> None:
    """Fit without the last 13 weeks, forecast them (trend and seasonality extrapolated, the
    carry-over running on): on noise-free data the forecast is the data."""
    synthesize(tmp_path / "h.csv", _truth(), _spend(), controls=_controls())
    res = calibrate(tmp_path / "h.csv", date="date", kpi="revenue", spend=SPEND, controls="control0", draws=0,
                    holdout=13)
    assert res.holdout is not None
    assert res.holdout.outsample.mape < 1e-4 and res.errors.mape < 1e-4


def test_weak_channel_prior_keeps_the_curve_sane(tmp_path: Path) -> None:
    """A channel spent in a fifth of the periods, under noise: with the prior its half-saturation
    stays within a factor 6 of its typical exposure and its slope within [0.6, 2] (no bound); the
    bootstrap refits carry the same prior."""
    spend = _spend(5, active=0.2)
    synthesize(tmp_path / "k.csv", _truth(), spend, noise_sd=600.0, seed=2)
    data = read_mmm_csv(tmp_path / "k.csv", date="date", kpi="revenue", spend=SPEND)
    fit = fit_model(data, ModelSpec(prior="weak"), seed=0)
    assert fit.weak.tolist() == [False, False, True] and fit.prior_scale > 0
    typical = float(np.median(spend[spend[:, 2] > 0, 2])) / (1 - fit.params()["decay"][2])
    ratio = fit.params()["kappa"][2] / typical
    assert 1 / 6 < ratio < 6 and 0.6 < fit.params()["slope"][2] < 2.0
    draws = block_bootstrap(fit, 8, seed=1)
    slopes = fit.layout.split(draws.phi)[:, 2, 2]
    assert np.all((slopes > 0.5) & (slopes < 3.0))


def test_identified_quantity_without_saturation_in_the_data(tmp_path: Path) -> None:
    """A channel whose spend never nears its half-saturation: beta and kappa trade off, but the
    response at typical spend (what the data show) is recovered and the warning says so."""
    truth = _truth()
    truth.kappa = truth.kappa * np.array([1.0, 1.0, 40.0])  # channel 2 stays on the linear part
    truth.beta = truth.beta * np.array([1.0, 1.0, 20.0])
    truth.slope = np.array([0.8, 1.8, 1.0])
    synthesize(tmp_path / "l.csv", truth, _spend(), noise_sd=300.0, seed=6)
    res = calibrate(tmp_path / "l.csv", date="date", kpi="revenue", spend=SPEND, draws=30, seed=0)
    est = typical_response(res.fit)
    assert est[2] == pytest.approx(truth.typical_response()[2], rel=0.15)
    assert any(w.startswith("c2:") and ("trade off" in w or "not identified" in w or "bound" in w)
               for w in res.warnings), res.warnings
