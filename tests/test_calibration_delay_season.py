"""The conversion delay and the media seasonality (``calibrate(..., delay="gamma",
media_season="yearly")``): their kernels against the environment's, and a noise-free round trip
through the environment that recovers every parameter and plans like the truth."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from conftest import run_cli
from test_roundtrip import plan_share_of_oracle, simulate_and_calibrate

from budgetgym.calibration import calibrate
from budgetgym.calibration.data import read_mmm_csv
from budgetgym.calibration.model import ModelSpec, fit_model
from budgetgym.calibration.projection import Problem, RoiRows
from budgetgym.calibration.transforms import DELAY_SHAPE, Layout, delay_weights, season
from budgetgym.envs import scenario_from_dict
from budgetgym.envs.errors import BudgetGymError
from budgetgym.envs.family import family_from_dict, load_family
from budgetgym.envs.kernels import delay_kernel
from budgetgym.envs.scenario import GammaDelay
from budgetgym.experiments.simulate import simulate_dataset, write_dataset

# decay, max_response (revenue per week), half_saturation (spend per week), slope, mean delay (weeks)
TRUE = [
    ("search", 0.3, 60_000.0, 9_000.0, 1.0, 0.0),
    ("social", 0.5, 30_000.0, 12_000.0, 1.5, 1.5),
    ("video", 0.2, 25_000.0, 40_000.0, 0.8, 3.0),
]
AMPLITUDE, PEAK = 0.2, 340.0  # the media's yearly demand cycle


def _truth() -> object:
    channels = []
    for n, d, b, k, s, m in TRUE:
        ch = {"name": n, "cost": {"unit": "click", "price": 1.0, "ref_spend": 1e6, "elasticity": 0.0, "noise_sd": 0.0},
              "adstock": {"type": "geometric", "decay": d},
              "saturation": {"type": "hill", "max_response": b, "half_saturation": k, "slope": s}}
        if m > 0:
            ch["delay"] = {"type": "gamma", "mean_lag": m, "shape": 2.0, "window": 22}
        channels.append(ch)
    return scenario_from_dict({
        "name": "delay-season", "horizon": 156, "step_days": 7, "budget": {"total": 156 * 30_000.0},
        "reward": "revenue", "noise": {"conversions": "none"}, "channels": channels,
        "seasonality": {"demand": {"yearly_amplitude": AMPLITUDE, "yearly_peak": PEAK}},
        "baseline": {"level": 80_000.0, "trend": 0.1,
                     "controls": [{"name": "competitor", "effect": -5_000.0, "autocorrelation": 0.6}]},
    })


@pytest.mark.parametrize("mean_lag", [0.0, 1e-3, 0.3, 1.0, 2.5, 6.0])
def test_delay_weights_are_the_environments(mean_lag: float) -> None:
    """The fit's gamma lag is the environment's ``delay_kernel`` (the one the exported scenario uses)
    to the last bit; a mean lag of 0, which no scenario accepts, is no delay (the limit of 1e-3)."""
    w = delay_weights(mean_lag, 22)
    env = delay_kernel(GammaDelay(type="gamma", mean_lag=max(mean_lag, 1e-3), shape=DELAY_SHAPE, window=22))
    if mean_lag > 0:
        np.testing.assert_array_equal(w, env)
    np.testing.assert_allclose(w, env, rtol=1e-9, atol=1e-12)
    assert w.sum() == pytest.approx(1.0)


def test_media_season_by_hand() -> None:
    """``s_t = 1 + a cos(2 pi d/365.25) + b sin(2 pi d/365.25)``: a = 0.2 gives 1.2 on day 0 and
    0.8 half a year later; b = 0.1 gives 1.1 a quarter of a year in."""
    lay = Layout("geometric", "hill", 1, 8, 7.0, season=True)
    days = np.array([0.0, 365.25 / 2, 365.25 / 4])
    np.testing.assert_allclose(season(lay, np.array([0.3, 0.0, 1.0, 0.2, 0.0]), days), [1.2, 0.8, 1.0], atol=1e-12)
    np.testing.assert_allclose(season(lay, np.array([0.3, 0.0, 1.0, 0.0, 0.1]), days), [1.0, 1.0, 1.1], atol=1e-12)


def test_features_with_delay_and_media_season_by_hand() -> None:
    r"""transforms.py's equations, one channel worked by loops: geometric carry-over
    :math:`a_t = \sum_{l=0}^{t} \theta^l e_{t-l}`, Hill :math:`h = a^s / (\kappa^s + a^s)` with
    :math:`\kappa = m \bar w e^u`, the media cycle :math:`s_t = 1 + a \cos(2\pi d_t/365.25) + b \sin(\cdot)`
    in the period the response is generated, then the gamma lag
    :math:`q_d \propto F(d + 1/2) - F(d - 1/2)` (shape 2, mean lag 1.5 periods; ``scipy.stats``' CDF) spreads
    it: :math:`r_t = \sum_d q_d\, s_{t-d}\, h(a_{t-d})`, as budgetgym multiplies the response before its delay."""
    from scipy import stats

    from budgetgym.calibration.transforms import features

    lay = Layout("geometric", "hill", 1, 8, 7.0, delay=True, season=True)
    theta, u, slope, lag, ca, cb = 0.4, np.log(1.5), 1.3, 1.5, 0.3, -0.2
    phi = np.array([theta, u, slope, lag, ca, cb])
    e = np.array([0.0, 100.0, 250.0, 0.0, 0.0, 80.0, 400.0, 120.0, 0.0, 60.0, 0.0, 0.0, 300.0, 30.0])
    days = 40.0 + 7.0 * np.arange(len(e))
    m = np.median(e[e > 0])
    kappa = m / (1.0 - theta) * np.exp(u)
    a = [sum(theta**k * e[t - k] for k in range(t + 1)) for t in range(len(e))]
    h = [x**slope / (kappa**slope + x**slope) for x in a]
    s = [1.0 + ca * np.cos(2 * np.pi * d / 365.25) + cb * np.sin(2 * np.pi * d / 365.25) for d in days]
    L = lay.delay_window
    F = stats.gamma(DELAY_SHAPE, scale=lag / DELAY_SHAPE).cdf
    q = np.array([F(d + 0.5) - (F(d - 0.5) if d > 0 else 0.0) for d in range(L)])
    q = q / q.sum()
    r = [sum(q[d] * s[t - d] * h[t - d] for d in range(min(L, t + 1))) for t in range(len(e))]
    got = features(lay, e[:, None], phi, np.array([m]), days)[:, 0]
    np.testing.assert_allclose(got, r, rtol=1e-12, atol=1e-15)
    after = [s[t] * sum(q[d] * h[t - d] for d in range(min(L, t + 1))) for t in range(len(e))]
    assert np.max(np.abs(got - np.array(after))) > 1e-3 * max(r)  # the cycle at arrival would differ


SEASON_CASES = [  # (a, b) -> (amplitude, peak day) by hand: A = hypot(a, b), peak = atan2(b, a) 365.25 / 2 pi
    ((0.2, 0.0), (0.2, 0.0)),
    ((0.0, 0.2), (0.2, 365.25 / 4)),
    ((-0.1, 0.0), (0.1, 365.25 / 2)),
    ((0.0, -0.2), (0.2, 3 * 365.25 / 4)),  # atan2 = -pi/2: wrapped into [0, 365.25)
    ((0.3, 0.3), (0.3 * np.sqrt(2), 365.25 / 8)),
    ((0.3, -0.3), (0.3 * np.sqrt(2), 7 * 365.25 / 8)),
    ((0.0, 0.0), (0.0, 0.0)),
]


@pytest.mark.parametrize(("ab", "expected"), SEASON_CASES)
def test_fit_season_by_hand(tmp_path: Path, ab: tuple[float, float], expected: tuple[float, float]) -> None:
    """``Fit.season``: the fitted cycle ``1 + a cos(w) + b sin(w)`` as budgetgym's ``(yearly_amplitude,
    yearly_peak)``, against hand values; the environment's demand multiplier
    (``envs.path.seasonal_multiplier``, ``1 + A cos(2 pi (d - peak) / 365.25)``) with them equals the
    fit's cycle on every day of two years; and a draw's ``phi`` is read instead of the fit's."""
    from dataclasses import replace

    from budgetgym.envs.path import seasonal_multiplier
    from budgetgym.envs.scenario_parts import SeasonalComponent

    weeks = 30
    spend = np.tile([0.0, 100.0, 200.0], 10)
    pd.DataFrame({"date": pd.date_range("2022-01-03", periods=weeks, freq="7D").strftime("%Y-%m-%d"),
                  "revenue": 500.0 + spend + np.cos(np.arange(weeks)), "x_spend": spend}).to_csv(
        tmp_path / "d.csv", index=False)
    data = read_mmm_csv(tmp_path / "d.csv", date="date", kpi="revenue", spend="x_spend")
    plain = fit_model(data, ModelSpec(fourier=0, starts=1), seed=0)
    assert plain.season() == (0.0, 0.0)  # without the media seasonality
    lay = Layout("geometric", "hill", 1, 8, 7.0, season=True)
    phi = np.array([0.3, 0.0, 1.0, *ab])
    fit = replace(plain, layout=lay, phi=phi)
    amp, peak = fit.season()
    assert amp == pytest.approx(expected[0], abs=1e-12)
    assert peak == pytest.approx(expected[1], abs=1e-9)
    assert 0.0 <= peak < 365.25
    days = np.arange(0.0, 731.0, 0.5)
    env = seasonal_multiplier(SeasonalComponent(yearly_amplitude=amp, yearly_peak=peak), days)
    np.testing.assert_allclose(env, season(lay, phi, days), atol=1e-12)
    other = np.array([0.3, 0.0, 1.0, 0.0, 0.25])  # a bootstrap draw's phi: a quarter-year peak
    assert replace(fit, phi=np.array([0.3, 0.0, 1.0, 0.1, 0.1])).season(other) == pytest.approx((0.25, 365.25 / 4))


def assert_jacobian_matches_central_differences(prob: Any, layout: Any, kpi: np.ndarray) -> None:
    """``prob.jacobian`` equals a central difference of the whole residual (the projected KPI's and the
    penalty's rows) at a seeded point away from the bounds of ``layout``."""
    lo, hi = layout.bounds()
    phi = lo + np.random.default_rng(0).uniform(0.3, 0.7, len(lo)) * (hi - lo)
    ytil = prob.target(kpi)

    def resid(p: np.ndarray) -> np.ndarray:
        return np.concatenate([prob.solve(p, ytil)[2], prob.penalty(p)])

    J = prob.jacobian(phi, ytil)
    for j in range(len(phi)):
        h = 1e-5 * max(1.0, abs(phi[j]))
        e = np.zeros_like(phi)
        e[j] = h
        central = (resid(phi + e) - resid(phi - e)) / (2 * h)
        np.testing.assert_allclose(J[:, j], central, rtol=1e-3, atol=1e-3 * np.abs(central).max() + 1e-6)


@pytest.fixture(scope="module")
def delay_season_fit(tmp_path_factory: pytest.TempPathFactory) -> tuple[object, object]:
    """The data of the truth (156 random weeks, seed 3) and its fit with delay and media season: fitted once
    for both Jacobian checks (a multi-start fit; the checks only read it)."""
    out = tmp_path_factory.mktemp("delay-season")
    write_dataset(simulate_dataset(_truth(), 156, "random", seed=3), out / "d")
    data = read_mmm_csv(out / "d" / "data.csv", date="date", kpi="revenue",
                        spend="search_spend,social_spend,video_spend", controls="competitor")
    return data, fit_model(data, ModelSpec(delay=True, season=True), seed=0)


@pytest.mark.parametrize("roi", [False, True])
def test_jacobian_matches_central_differences(delay_season_fit: tuple[Any, Any], roi: bool) -> None:
    """The per-channel Jacobian (one feature column recomputed per parameter) equals a central
    difference of the whole residual at a point away from the bounds; with the pooled return-on-spend
    prior's rows too (each moved column's sum enters them)."""
    data, fit = delay_season_fit
    rows = RoiRows(spend=data.spend.sum(axis=0), weight=100.0 * data.spend.sum() / fit.contributions.sum())
    prob = Problem(fit.layout, data.media, fit.ref, fit.problem.B, data.days, np.ones(156), fit.weak,
                    prior_scale=100.0, season_prior=True, roi=rows if roi else None)
    assert_jacobian_matches_central_differences(prob, fit.layout, data.kpi)


def test_noise_free_round_trip_with_delay_and_media_season(tmp_path: Path) -> None:
    """Noise-free data from the environment with gamma conversion lags and a December demand
    peak: calibrate recovers the carry-over, curves, lags and the cycle, and its family plans the
    next quarter like the truth."""
    sc = _truth()
    ds, res = simulate_and_calibrate(sc, tmp_path, delay="gamma", media_season="yearly")
    fitted = family_from_dict(res.family, "fit").nominal()
    for c, (name, decay, beta, kappa, slope, lag) in zip(fitted.channels, TRUE, strict=True):
        assert c.name == name
        assert c.adstock.decay == pytest.approx(decay, abs=1e-4)
        assert c.saturation.max_response == pytest.approx(beta, rel=1e-4)
        assert c.saturation.half_saturation == pytest.approx(kappa, rel=1e-4)
        assert c.saturation.slope == pytest.approx(slope, rel=1e-4)
        # the lag's kernel (a mean lag below ~0.1 period is no delay at all: F(1/2) = 1 - 1e-20)
        truth_kernel = delay_weights(lag, c.delay.window)
        np.testing.assert_allclose(delay_kernel(c.delay), truth_kernel, rtol=1e-4, atol=1e-8)
        if lag > 0:
            assert c.delay.mean_lag == pytest.approx(lag, rel=1e-4)
    assert fitted.seasonality.demand.yearly_amplitude == pytest.approx(AMPLITUDE, abs=1e-5)
    assert fitted.seasonality.demand.yearly_peak == pytest.approx(PEAK, abs=1e-3)
    # the members vary the lags and the cycle too
    member = res.family["ensemble"][0]
    assert "channels.video.delay.mean_lag" in member and "seasonality.demand.yearly_amplitude" in member
    assert plan_share_of_oracle(sc, ds, tmp_path) > 0.999


def test_media_season_needs_a_year(tmp_path: Path) -> None:
    ds = simulate_dataset(_truth(), 40, "random", seed=1)
    write_dataset(ds, tmp_path / "d")
    with pytest.raises(BudgetGymError) as err:
        calibrate(tmp_path / "d" / "data.csv", date="date", kpi="revenue", spend="search_spend,social_spend",
                  draws=0, media_season="yearly", plots=False)
    # named the bare path ('--media-season yearly: /tmp/.../data.csv spans ...'), unlike every other data error
    assert str(err.value) == (f"data file '{tmp_path / 'd' / 'data.csv'}': --media-season yearly: the dates span less "
                              f"than 330 days; a yearly cycle needs a year of data")
    with pytest.raises(BudgetGymError, match="--delay"):
        calibrate(tmp_path / "d" / "data.csv", date="date", kpi="revenue", spend="search_spend,social_spend",
                  draws=0, delay="weibull", plots=False)


def _noisy_with_dark_channel(tmp_path: Path) -> Path:
    """The round trip's data with N(0, 500^2) noise on the KPI and a fourth channel that spends 1 once:
    the data say nothing about its curve, so only the prior places it."""
    ds = simulate_dataset(_truth(), 156, "random", seed=3)
    write_dataset(ds, tmp_path / "d")
    df = pd.read_csv(tmp_path / "d" / "data.csv")
    df["revenue"] = df["revenue"] + np.random.default_rng(5).normal(0.0, 500.0, len(df))
    df["dark_spend"] = 0.0
    df.loc[100, "dark_spend"] = 1.0  # one currency unit once: the reader refuses a channel never spent
    df.to_csv(tmp_path / "n.csv", index=False)
    return tmp_path / "n.csv"


def test_prior_draws_spread_an_unidentified_channel_like_its_prior(tmp_path: Path) -> None:
    """A channel (all but) without spend: its ``u = ln(kappa / typical)`` is set by the prior N(0, (ln 3)^2)
    almost alone. Plain bootstrap refits leave it near the prior's mean 0 (interquartile range below
    0.1); with prior draws each refit moves towards its drawn mean, so the draws spread about 0 like
    the prior, whose interquartile range is 2 x 0.674 x ln 3 = 1.48 (the bounds, at -3.0 and +1.46
    sd, do not reach the quartiles): above 0.8 (the refits stop after 20 iterations, and the one
    spend still informs a little) and not beyond the prior's."""
    path = _noisy_with_dark_channel(tmp_path)
    args = dict(date="date", kpi="revenue", spend="search_spend,social_spend,video_spend,dark_spend",
                controls="competitor", draws=40, seed=0, plots=False)
    u = []
    for prior_draws in (False, True):
        res = calibrate(path, prior_draws=prior_draws, **args)  # type: ignore[arg-type]
        assert res.draws is not None
        u.append(res.fit.layout.split(res.draws.phi)[:, 3, 1])
    q1, q3 = np.percentile(u[0], [25, 75])
    assert q3 - q1 < 0.1
    q1, med, q3 = np.percentile(u[1], [25, 50, 75])
    assert abs(med) < 0.3 and 0.8 < q3 - q1 < 1.6


def test_cli_delay_and_media_season(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The command line takes the new options (and a held-out forecast, which needs the days for the
    media seasonality), and refuses a bad value with a one-line message."""
    path = _noisy_with_dark_channel(tmp_path)
    out = tmp_path / "cal"
    base = ["calibrate", str(path), "--date", "date", "--kpi", "revenue", "--spend",
            "search_spend,social_spend,video_spend", "--draws", "4", "--out", str(out), "--no-plots"]
    code, stdout, _ = run_cli(capsys, *base, "--holdout", "8", "--delay", "gamma", "--media-season", "yearly",
                              "--prior-draws")
    assert code == 0, stdout
    sc = load_family(out / "family.yaml").nominal()
    assert {c.delay.type for c in sc.channels} == {"gamma"} and sc.seasonality.demand.yearly_amplitude > 0
    code, _, err = run_cli(capsys, *base, "--delay", "weibull")
    assert code == 2 and "--delay" in err and len(err.strip().splitlines()) == 1


@pytest.mark.parametrize(("step_days", "weekly_decay"), [(7.0, 0.6), (1.0, 0.9**7)])
def test_prior_pseudo_residuals_by_hand(step_days: float, weekly_decay: float) -> None:
    """The priors' pseudo-residuals, scale 2: u / ln 3, (slope - 1) / 0.5, the weekly decay / 0.4 (a
    daily 0.9 is 0.9^7 = 0.478 a week) and the media cycle's a / 0.15, b / 0.15; a shift moves each
    prior's mean by that many sds."""
    lay = Layout("geometric", "hill", 1, 8, step_days, season=True)
    theta = weekly_decay ** (step_days / 7.0)
    phi = np.array([theta, 0.5 * np.log(3.0), 1.5, 0.03, -0.06])
    T = 10
    prob = Problem(lay, np.ones((T, 1)), np.ones(1), np.ones((T, 1)), np.arange(T) * step_days, np.ones(T),
                    np.array([True]), prior_scale=2.0, season_prior=True)
    expected = 2.0 * np.array([0.5, 1.0, weekly_decay / 0.4, 0.2, -0.4])
    np.testing.assert_allclose(prob.penalty(phi), expected, rtol=1e-12)
    shift = np.array([1.0, -1.0, 0.5, 0.0, 2.0])
    np.testing.assert_allclose(prob.penalty(phi, shift), expected - 2.0 * shift, rtol=1e-12)
