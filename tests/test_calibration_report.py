"""The numbers ``budgetgym calibrate`` reports (``fit.md``, ``parameters.csv``, the figures' data and
the warnings), each against an expectation computed here by hand: the model's equations written
out with loops (geometric adstock, Hill curve, intercept + trend baseline), ``R²``/MAPE/RMSE from
their definitions, percentiles of hand-made draws, a fit of the truncated file for the holdout.

The datasets are small (one or two channels, 48-60 weeks, no Fourier terms), so each test runs in
well under two seconds.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from mmm_synth import Truth, flighted_spend, synthesize

from budgetgym.calibration import ModelSpec, calibrate, fit_model, read_mmm_csv
from budgetgym.calibration.diagnostics import errors, parameter_table, warnings_for
from budgetgym.calibration.export import fit_costs
from budgetgym.calibration.plots import response_band
from budgetgym.calibration.report import fit_markdown
from budgetgym.calibration.uncertainty import Draws, resample_blocks
from budgetgym.envs.errors import BudgetGymError

SPEND = ["c0_spend", "c1_spend"]
T = 60


def _truth() -> Truth:
    return Truth(beta=np.array([6000.0, 4000.0]), kappa=np.array([1500.0, 2500.0]), slope=np.array([1.2, 0.9]),
                 theta=np.array([0.3, 0.5]))


def _data(path: Path, noise_sd: float = 300.0, tail_factor: float = 1.0, tail: int = 0) -> Path:
    spend = flighted_spend(T, [1000.0, 2000.0], np.random.default_rng(5))
    synthesize(path, _truth(), spend, noise_sd=noise_sd, seed=2)
    if tail:  # the KPI of the last ``tail`` periods scaled (a baseline that changes)
        frame = pd.read_csv(path)
        frame.loc[T - tail:, "revenue"] *= tail_factor
        frame.to_csv(path, index=False)
    return path


def _by_hand(spend: np.ndarray, theta: np.ndarray, kappa: np.ndarray, slope: np.ndarray,
             beta: np.ndarray) -> np.ndarray:
    """``beta a^s / (kappa^s + a^s)`` of ``a_t = x_t + theta a_{t-1}``, with loops ``[T, K]``."""
    out = np.zeros_like(spend)
    for i in range(spend.shape[1]):
        a = 0.0
        for t in range(spend.shape[0]):
            a = spend[t, i] + theta[i] * a
            out[t, i] = beta[i] * a ** slope[i] / (kappa[i] ** slope[i] + a ** slope[i])
    return out


def _estimates(table: pd.DataFrame, channels: tuple[str, ...], name: str) -> np.ndarray:
    t = table.set_index(["channel", "parameter"])
    return np.array([float(t.loc[(c, name), "estimate"]) for c in channels])


def test_errors_from_their_definitions() -> None:
    """R² = 1 - SSres/SStot, MAPE over the nonzero periods only, RMSE: on four numbers by hand."""
    y = np.array([2.0, 0.0, 4.0, 6.0])
    mu = np.array([1.0, 1.0, 5.0, 6.0])
    e = errors(y, mu)
    # ybar = 3, SStot = 1 + 9 + 1 + 9 = 20, SSres = 1 + 1 + 1 + 0 = 3
    assert e.n == 4
    assert e.r2 == pytest.approx(1.0 - 3.0 / 20.0)
    assert e.mape == pytest.approx(100.0 * (1 / 2 + 1 / 4 + 0 / 6) / 3)  # y = 0 left out
    assert e.rmse == pytest.approx(np.sqrt(3.0 / 4.0))


def test_contributions_and_baseline_make_the_fitted_kpi(tmp_path: Path) -> None:
    """Every period's fitted KPI is the baseline (intercept + trend in years, by hand) plus each
    channel's contribution, recomputed from ``parameters.csv``'s decay, kappa, slope and beta
    with the model's equations; ``contribution`` is its sum over the data and in-sample R² is
    that of this mean."""
    path = _data(tmp_path / "d.csv")
    res = calibrate(path, date="date", kpi="revenue", spend=SPEND, draws=0, fourier=0, starts=2, prior="none")
    f, frame = res.fit, pd.read_csv(path)
    X, y = frame[SPEND].to_numpy(float), frame["revenue"].to_numpy(float)
    g = {k: _estimates(res.parameters, f.channels, k) for k in ("decay", "kappa", "slope", "beta", "contribution")}
    C = _by_hand(X, g["decay"], g["kappa"], g["slope"], g["beta"])
    np.testing.assert_allclose(f.contributions, C, rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(g["contribution"], C.sum(axis=0), rtol=1e-9)
    years = 7.0 * np.arange(T) / 365.25
    base = f.coef[0] + f.coef[1] * years
    np.testing.assert_allclose(f.baseline, base, rtol=1e-9, atol=1e-6)
    np.testing.assert_allclose(f.fitted, base + C.sum(axis=1), rtol=1e-9, atol=1e-6)
    r = y - (base + C.sum(axis=1))
    assert res.errors.r2 == pytest.approx(1.0 - r @ r / np.sum((y - y.mean()) ** 2), rel=1e-9)


def test_holdout_is_fitted_without_the_tail_and_forecast_from_the_head(tmp_path: Path) -> None:
    """The holdout fit is the fit of the first ``T - n`` rows alone (the tail's KPI scaled by 5
    changes nothing in it), and its forecast of the tail is the head fit's baseline extrapolated
    (trend in years since the first date) plus its curves driven by the adstock of *all* the
    spend, the head's included (carry-over into the tail); the held-out errors are of that
    forecast against the tail."""
    n = 8
    path = _data(tmp_path / "d.csv")
    kw = dict(date="date", kpi="revenue", spend=SPEND, draws=0, fourier=0, starts=2, prior="none")
    res = calibrate(path, holdout=n, **kw)  # type: ignore[arg-type]
    frame = pd.read_csv(path)
    frame.iloc[: T - n].to_csv(tmp_path / "head.csv", index=False)
    head = calibrate(tmp_path / "head.csv", **kw)  # type: ignore[arg-type]
    shifted = frame.copy()
    shifted.loc[T - n:, "revenue"] *= 5.0
    shifted.to_csv(tmp_path / "s.csv", index=False)
    moved = calibrate(tmp_path / "s.csv", holdout=n, **kw)  # type: ignore[arg-type]
    assert res.holdout is not None and moved.holdout is not None
    np.testing.assert_allclose(moved.holdout.forecast, res.holdout.forecast, rtol=1e-12)
    assert moved.holdout.insample == res.holdout.insample == head.errors

    X, y = frame[SPEND].to_numpy(float), frame["revenue"].to_numpy(float)
    g = {k: _estimates(head.parameters, head.fit.channels, k) for k in ("decay", "kappa", "slope", "beta")}
    years = 7.0 * np.arange(T) / 365.25
    forecast = (head.fit.coef[0] + head.fit.coef[1] * years + _by_hand(X, g["decay"], g["kappa"], g["slope"],
                                                                         g["beta"]).sum(axis=1))[T - n:]
    np.testing.assert_allclose(res.holdout.forecast, forecast, rtol=1e-9)
    # without the head's spend (no carry-over into the tail) the forecast would differ
    cold = _by_hand(np.vstack([np.zeros((T - n, 2)), X[T - n:]]), g["decay"], g["kappa"], g["slope"], g["beta"])
    assert np.abs(cold[T - n:].sum(axis=1) + (head.fit.coef[0] + head.fit.coef[1] * years)[T - n:]
                  - forecast).max() > 1.0
    e = y[T - n:] - forecast
    out = res.holdout.outsample
    assert out.n == n
    assert out.rmse == pytest.approx(np.sqrt(np.mean(e**2)), rel=1e-9)
    assert out.mape == pytest.approx(100 * np.mean(np.abs(e) / np.abs(y[T - n:])), rel=1e-9)
    tail = y[T - n:]
    assert out.r2 == pytest.approx(1 - e @ e / np.sum((tail - tail.mean()) ** 2), rel=1e-9)


def test_held_out_warning_compares_the_forecast_with_the_fit_that_made_it(tmp_path: Path) -> None:
    """A KPI whose last 10 periods jump to 3x (the baseline changes): the fit without them has an
    in-sample MAPE of about 3%, its forecast of them about 64%: the warning must fire, quoting the
    in-sample MAPE of that same fit (the fit of all periods, which tries to absorb the jump, has
    a much larger in-sample MAPE and must not be the yardstick)."""
    n = 10
    path = _data(tmp_path / "d.csv", tail=n, tail_factor=3.0)
    res = calibrate(path, date="date", kpi="revenue", spend=SPEND, draws=0, fourier=0, starts=2, prior="none",
                    holdout=n)
    h = res.holdout
    assert h is not None
    assert h.insample.mape < 5 and h.outsample.mape > 50  # the premise
    assert h.outsample.mape < 2 * res.errors.mape  # the fit of all periods is no yardstick
    hits = [w for w in res.warnings if w.startswith("held-out MAPE")]
    assert len(hits) == 1, res.warnings
    assert f"the in-sample {h.insample.mape:.1f}%" in hits[0]


def test_held_out_warning_threshold() -> None:
    """Fires when the held-out MAPE exceeds both twice the in-sample one and it plus 5 points."""
    fit = _tiny_fit()
    ins = errors(fit.y, fit.fitted)

    def warned(held: float, fitted: float) -> bool:
        e = lambda m: type(ins)(n=5, r2=0.9, mape=m, rmse=1.0, wape=m, mape_ok=True)  # noqa: E731
        msgs = warnings_for(fit, None, ins, e(held), holdout_insample=e(fitted))
        return any(w.startswith("held-out MAPE") for w in msgs)

    assert warned(10.1, 5.0) and not warned(10.0, 5.0)  # twice 5 = 10 = 5 + 5
    assert warned(2.1, 1.0) is False and warned(6.1, 1.0)  # 5 points above decides for small errors
    assert not warned(44.0, 22.0) and warned(44.1, 22.0)  # twice decides for large ones


_TINY: dict[str, object] = {}


def _tiny_fit():  # type: ignore[no-untyped-def]
    """A fit of one channel, 48 weeks, intercept + trend (cached: the tests build their own draws)."""
    if "fit" not in _TINY:
        import tempfile

        d = Path(tempfile.mkdtemp())
        truth = Truth(beta=np.array([6000.0]), kappa=np.array([1500.0]), slope=np.array([1.0]),
                      theta=np.array([0.3]))
        spend = flighted_spend(48, [1000.0], np.random.default_rng(1))
        synthesize(d / "t.csv", truth, spend, noise_sd=300.0, seed=1)
        data = read_mmm_csv(d / "t.csv", date="date", kpi="revenue", spend=SPEND[:1])
        _TINY["data"] = data
        _TINY["fit"] = fit_model(data, ModelSpec(fourier=0, prior="none", starts=2), seed=0)
    return _TINY["fit"]


def _draws(theta: np.ndarray, u: np.ndarray, slope: np.ndarray, beta: np.ndarray) -> Draws:
    fit = _tiny_fit()
    N = len(theta)
    return Draws(phi=np.column_stack([theta, u, slope]), beta=beta[:, None], coef=np.tile(fit.coef, (N, 1)),
                 block_length=3, seconds=0.0)


def test_parameter_intervals_are_the_5th_and_95th_percentiles_of_the_draws() -> None:
    """21 draws with each quantity evenly spaced: numpy's (linear) 5th percentile is the second
    smallest draw, the 95th the second largest. kappa = m w̄ e^u with m the median nonzero spend
    and w̄ = 1/(1 - theta); typical_response = beta h(m w̄)."""
    fit = _tiny_fit()
    data = _TINY["data"]
    N = 21
    theta = np.linspace(0.1, 0.5, N)
    u = np.linspace(-0.5, 0.5, N)[::-1]
    slope = np.linspace(0.8, 1.6, N)
    beta = np.linspace(3000.0, 9000.0, N)
    table = parameter_table(fit, data, _draws(theta, u, slope, beta)).set_index("parameter")  # type: ignore[arg-type]
    m = float(np.median(data.spend[data.spend[:, 0] > 0, 0]))  # type: ignore[attr-defined]
    kappa = m / (1 - theta) * np.exp(u)
    a = m / (1 - theta)
    typical = beta * a**slope / (kappa**slope + a**slope)
    for name, v in (("decay", theta), ("slope", slope), ("beta", beta)):
        assert table.loc[name, "low"] == pytest.approx(np.sort(v)[1]), name
        assert table.loc[name, "high"] == pytest.approx(np.sort(v)[-2]), name
    for name, v in (("kappa", kappa), ("typical_response", typical)):  # not evenly spaced: interpolate by hand
        s = np.sort(v)
        assert table.loc[name, "low"] == pytest.approx(s[1]), name  # position 0.05 * 20 = 1 exactly
        assert table.loc[name, "high"] == pytest.approx(s[19]), name  # 0.95 * 20 = 19
    assert table.loc["decay", "unit"] == "per period" and table.loc["beta", "unit"] == "KPI per period"
    # each draw's contribution over the data: its curve on the data's own spend, by the loops
    X = data.spend  # type: ignore[attr-defined]
    contrib = np.array([_by_hand(X, theta[n:n + 1], kappa[n:n + 1], slope[n:n + 1], beta[n:n + 1]).sum()
                        for n in range(N)])
    s = np.sort(contrib)
    assert table.loc["contribution", "low"] == pytest.approx(s[1], rel=1e-9)
    assert table.loc["contribution", "high"] == pytest.approx(s[19], rel=1e-9)
    per = 1.0 / float(X.sum())
    assert table.loc["contribution_per_spend", "low"] == pytest.approx(s[1] * per, rel=1e-9)
    assert table.loc["contribution_per_spend", "high"] == pytest.approx(s[19] * per, rel=1e-9)
    one = parameter_table(fit, data, _draws(theta[:1], u[:1], slope[:1], beta[:1])).set_index("parameter")  # type: ignore[arg-type]
    assert np.isnan(one.loc["contribution", "low"])  # one draw: no interval


@pytest.mark.parametrize(("width", "fires"), [(0.78, False), (0.82, True)])
def test_not_identified_fires_when_the_interval_covers_more_than_80_percent(width: float, fires: bool) -> None:
    """theta in [0, 0.9] per week: 21 draws evenly spaced on [0, M] have a 90% interval (2nd smallest
    to 2nd largest) of 0.9 M, i.e. M of the range 0.9, so M = ``width``; u in [ln 0.05, ln 5]
    likewise. The warning fires for theta and kappa exactly when ``width`` exceeds 0.8."""
    fit = _tiny_fit()
    N = 21
    lo_u, hi_u = np.log(0.05), np.log(5.0)
    theta = np.linspace(0.0, width, N)
    u = lo_u + np.linspace(0.0, width * (hi_u - lo_u) / 0.9, N)
    covered_theta = (np.percentile(theta, 95) - np.percentile(theta, 5)) / 0.9
    covered_u = (np.percentile(u, 95) - np.percentile(u, 5)) / (hi_u - lo_u)
    assert covered_theta == pytest.approx(width, abs=1e-9) and covered_u == pytest.approx(width, abs=1e-9)
    rng = np.random.default_rng(0)
    draws = _draws(theta, rng.permutation(u), np.full(N, 1.0) + 0.01 * rng.standard_normal(N),
                   np.full(N, 6000.0) * (1 + 0.01 * rng.standard_normal(N)))
    msgs = warnings_for(fit, draws, errors(fit.y, fit.fitted))
    hits = [w for w in msgs if "not identified" in w]
    assert (len(hits) == 2) is fires and (len(hits) == 0) is (not fires), msgs
    if fires:
        assert any(w.startswith("c0: decay is not identified") for w in hits)
        assert any(w.startswith("c0: kappa is not identified") for w in hits)
        assert f"covers {100 * width:.0f}% of its range" in hits[0]


def test_response_band_is_the_pointwise_5th_and_95th_percentile() -> None:
    """The band at each spend is the 5th/95th percentile over draws of beta h(w̄ e), by hand."""
    fit = _tiny_fit()
    data = _TINY["data"]
    N = 21
    rng = np.random.default_rng(3)
    theta, u = rng.uniform(0.1, 0.5, N), rng.uniform(-0.5, 0.5, N)
    slope, beta = rng.uniform(0.8, 1.6, N), rng.uniform(3000.0, 9000.0, N)
    spend = np.array([[0.0], [500.0], [1000.0], [4000.0]])
    point, lo, hi = response_band(fit, _draws(theta, u, slope, beta), fit_costs(data), spend)  # type: ignore[arg-type]
    assert lo is not None and hi is not None
    m = float(np.median(data.spend[data.spend[:, 0] > 0, 0]))  # type: ignore[attr-defined]
    for j, x in enumerate(spend[:, 0]):
        a, kap = x / (1 - theta), m / (1 - theta) * np.exp(u)
        curves = beta * a**slope / (kap**slope + a**slope)
        assert lo[j, 0] == pytest.approx(np.percentile(curves, 5)) and hi[j, 0] == pytest.approx(
            np.percentile(curves, 95))
    assert point[0, 0] == 0.0 and np.all(np.diff(point[:, 0]) > 0)


def test_moving_blocks_are_consecutive_and_start_anywhere() -> None:
    """A moving-block resample of 0..T-1 (T = 10, b = 3) is ceil(10/3) = 4 runs of consecutive
    indices cut to 10, each run starting uniformly on 0..T-b = 0..7 (every start seen, none
    beyond)."""
    idx = np.arange(10)
    rng = np.random.default_rng(0)
    starts: set[int] = set()
    for _ in range(400):
        r = resample_blocks(idx, 3, rng)
        assert len(r) == 10
        for j in range(0, 10, 3):
            block = r[j:j + 3]
            np.testing.assert_array_equal(block, block[0] + np.arange(len(block)))
            starts.add(int(block[0]))
    assert starts == set(range(8))


def test_fit_md_counts_the_starts_the_search_ran(tmp_path: Path) -> None:
    """``--starts 3`` without a prior: the search ran from 3 starts (the polished best is not a
    start of its own), and at most all 3 reached the best."""
    path = _data(tmp_path / "d.csv")
    res = calibrate(path, date="date", kpi="revenue", spend=SPEND, draws=0, fourier=0, starts=3, prior="none")
    text = fit_markdown(res, [])
    found = re.search(r"from (\d+) starts \((\d+) reached the best\)", text)
    assert found is not None, text
    assert int(found.group(1)) == 3
    assert 1 <= int(found.group(2)) <= 3


def test_fit_md_calls_no_channel_weak_that_the_data_spend_on_often(tmp_path: Path) -> None:
    """Under the default ``prior="all"`` fit.md said "weak channels under a mild prior: c0, c1" of
    channels spent in most periods; weakly spent means fewer than 30% of the periods (the warnings'
    meaning too). It names the channels under the prior, and a weak one only when it is."""
    path = _data(tmp_path / "d.csv")
    kw = dict(date="date", kpi="revenue", spend=SPEND, draws=0, fourier=0, starts=2)
    res = calibrate(path, **kw)  # type: ignore[arg-type]
    assert (np.mean(res.data.spend > 0, axis=0) >= 0.3).all() and res.fit.weak.all()
    text = fit_markdown(res, [])
    assert "weak" not in text and "; channels under a mild prior: c0, c1." in text
    assert "under a mild prior" not in fit_markdown(calibrate(path, prior="none", **kw), [])  # type: ignore[arg-type]


def test_fit_md_claims_intervals_and_identification_checks_only_when_made(tmp_path: Path) -> None:
    """No draw gives no interval (``parameters.csv`` has none): ``fit.md`` must not announce
    percentiles (one draw, which did the same, is now refused); 3 draws give intervals but no
    identification check (that needs 10), and ``fit.md`` says so."""
    path = _data(tmp_path / "d.csv")
    kw = dict(date="date", kpi="revenue", spend=SPEND, fourier=0, starts=2, prior="none")
    none = calibrate(path, draws=0, **kw)  # type: ignore[arg-type]
    assert none.parameters["low"].isna().all()
    text = fit_markdown(none, [])
    assert "percentile of" not in text and "intervals need at least 2 bootstrap draws, got 0" in text
    three = calibrate(path, draws=3, **kw)  # type: ignore[arg-type]
    assert three.parameters.set_index("parameter").loc["beta", "low"].notna().all()
    text = fit_markdown(three, [])
    assert "5th–95th percentile of 3 moving-block bootstrap refits" in text
    assert "With fewer than 10 draws no parameter is checked for identification." in text
    assert "checked for identification" not in fit_markdown(calibrate(path, draws=10, **kw), [])  # type: ignore[arg-type]


def test_identification_is_checked_from_10_draws() -> None:
    """theta draws over the whole of [0, 0.9]: not identified with 10 draws, unchecked with 9."""
    fit = _tiny_fit()
    for n, expected in ((9, False), (10, True)):
        rng = np.random.default_rng(n)
        draws = _draws(np.linspace(0.0, 0.9, n), rng.uniform(-0.1, 0.1, n), rng.uniform(0.9, 1.1, n),
                       rng.uniform(5900.0, 6100.0, n))
        msgs = warnings_for(fit, draws, errors(fit.y, fit.fitted))
        assert any(w.startswith("c0: decay is not identified") for w in msgs) is expected, (n, msgs)


@pytest.mark.parametrize(("spread", "fires"), [(19_000.0, False), (21_000.0, True)])
def test_beta_poorly_identified_when_its_interval_spans_a_factor_above_10(spread: float, fires: bool) -> None:
    """beta = 1000 + 21 draws evenly spaced on [0, L]: 90% interval 1000 + L/20 to 1000 + 19 L/20,
    a factor of exactly 10 at L = 20,000: 9.1 (no warning) at 19,000, 10.9 at 21,000."""
    fit = _tiny_fit()
    N = 21
    rng = np.random.default_rng(1)
    beta = 1000.0 + np.linspace(0.0, spread, N)
    draws = _draws(rng.uniform(0.25, 0.35, N), rng.uniform(-0.1, 0.1, N), rng.uniform(0.9, 1.1, N),
                   rng.permutation(beta))
    hits = [w for w in warnings_for(fit, draws, errors(fit.y, fit.fitted)) if "beta (max_response)" in w]
    assert bool(hits) is fires, hits
    if fires:
        ratio = (1000.0 + 0.95 * spread) / (1000.0 + 0.05 * spread)
        assert hits == [f"c0: beta (max_response) is poorly identified (its 90% interval spans a factor {ratio:.0f})"]


def test_holdout_fits_the_model_it_scores(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The default yearly Fourier order comes from the data's span: 60 weeks (420 days) give order 2,
    but the first 46 (322 days) alone would give 0, so the holdout scored another model than the
    one reported. Both fits now have the whole data's order."""
    import importlib

    cal = importlib.import_module("budgetgym.calibration.calibrate")  # the package's `calibrate` is the function
    fits = []

    def recording(*args, **kwargs):
        fit = fit_model(*args, **kwargs)
        fits.append(fit)
        return fit

    fit_model = cal.fit_model
    monkeypatch.setattr(cal, "fit_model", recording)
    path = _data(tmp_path / "d.csv")
    assert T * 7 >= 330 > (T - 14) * 7  # the case under test (span: first to last date plus a period)
    res = cal.calibrate(path, date="date", kpi="revenue", spend=SPEND, draws=0, starts=1, prior="none", holdout=14)
    assert res.holdout is not None and len(fits) == 2
    assert [f.spec.fourier for f in fits] == [2, 2]
    assert fits[0].y.shape == (T - 14,) and fits[1].y.shape == (T,)


def test_an_undefined_error_measure_reads_n_a() -> None:
    """One held-out period: its KPI does not vary, so R² (1 - SSres/SStot, SStot = 0) is undefined
    and fit.md says n/a instead of printing nan; MAPE, WAPE and RMSE of the one period are as defined."""
    from budgetgym.calibration.report import _errors_row

    e = errors(np.array([200.0]), np.array([150.0]))
    assert np.isnan(e.r2)
    row = "| held out (last 1, forecast) | 1 | n/a | 25.00 | 25.00 | 50.0 |"  # R², MAPE, WAPE, RMSE
    assert _errors_row("held out (last 1, forecast)", e) == row


@pytest.mark.parametrize(("ab", "hits"), [((0.5, -0.1), ["a = 0.5"]), ((0.2, -0.5), ["b = -0.5"]), ((0.49, 0.2), [])])
def test_media_season_at_its_bound_is_warned(tmp_path: Path, ab: tuple[float, float], hits: list[str]) -> None:
    """An estimate at a bound is warned (module docstring), the media seasonality's ``a, b`` (in
    [-0.5, 0.5]) too: a coefficient there clips the yearly cycle the family plans with."""
    from dataclasses import replace

    path = _data(tmp_path / "d.csv")
    fit = fit_model(read_mmm_csv(path, date="date", kpi="revenue", spend=SPEND),
                    ModelSpec(fourier=0, prior="none", starts=1, season=True), seed=0)
    fit = replace(fit, phi=np.concatenate([fit.phi[:-2], ab]))
    msgs = [w for w in warnings_for(fit, None, errors(fit.y, fit.fitted)) if "media seasonality" in w]
    assert len(msgs) == len(hits), msgs
    for w, h in zip(msgs, hits, strict=True):
        assert h in w and "is at its bound [-0.5, 0.5]" in w


def test_a_parameter_at_its_bound_is_warned_at_the_bound_not_at_its_rounding(tmp_path: Path) -> None:
    """A decay fitted to 5e-42 (the trust region's last step toward 0) was warned as
    "decay = 5.24e-42 is at its bound [0, 0.985]": the warning names the bound it sits at."""
    from dataclasses import replace

    path = _data(tmp_path / "d.csv")
    fit = fit_model(read_mmm_csv(path, date="date", kpi="revenue", spend=SPEND),
                    ModelSpec(fourier=0, prior="none", starts=1), seed=0)
    lo, hi = fit.layout.bounds()
    phi = fit.phi.copy()
    phi[0] = lo[0] + 5.24e-42  # the first channel's decay, a hair above 0
    per = fit.layout.per_channel
    phi[per] = hi[per] - 1e-9 * (hi[per] - lo[per])  # the second channel's decay, a hair below its top
    msgs = [w for w in warnings_for(replace(fit, phi=phi), None, errors(fit.y, fit.fitted)) if "bound" in w]
    c0, c1 = fit.channels[:2]
    # at 0, what it means: a planner read three "decay = 0 is at its bound [0, 0.9]" warnings of a weekly fit and
    # could not tell whether to act (the effect ends within the week: search's, say; the interval says the rest)
    assert (f"{c0}: decay = 0 is at its bound [0, {hi[0]:.3g}]: no carry-over into the next period is found (the "
            f"effect ends within a period, as a fast channel's may; its 90% interval says how much the data allow)"
            in msgs)
    assert f"{c1}: decay = {hi[per]:.3g} is at its bound [0, {hi[per]:.3g}]" in msgs
    assert not any("e-42" in w for w in msgs)


def test_fit_md_says_the_step_in_words_and_a_decay_at_zero_as_0(tmp_path: Path) -> None:
    """fit.md read "(every 7 days)", but "(every 1 days)" for daily data and "(every 30.4375 days)" for
    monthly; and a decay the solver left at 5.24e-42 printed as 5.24e-42 (parameters.csv keeps the
    number; fit.md prints 0 for a decay below 1e-9, a real one unchanged)."""
    from dataclasses import replace

    path = _data(tmp_path / "d.csv")
    res = calibrate(path, date="date", kpi="revenue", spend=SPEND, draws=0, fourier=0, starts=1, prior="none")
    assert "(every 7 days)" in fit_markdown(res, [])
    for step, words in ((1.0, "(every day)"), (365.25 / 12, "(every month)")):
        assert words in fit_markdown(replace(res, data=replace(res.data, step_days=step)), [])
    table = res.parameters.copy()
    decays = (table["parameter"] == "decay").to_numpy()
    first, second = np.flatnonzero(decays)[:2]
    table.loc[first, "estimate"] = 5.24e-42
    table.loc[second, "estimate"] = 0.25
    text = fit_markdown(replace(res, parameters=table), [])
    assert f"| {table.loc[first, 'channel']} | decay | 0.000 |" in text
    assert f"| {table.loc[second, 'channel']} | decay | 0.250 |" in text
    assert "e-42" not in text
    assert table.loc[first, "estimate"] == 5.24e-42  # the table itself is not changed


def test_a_channel_spent_the_same_in_every_period_needs_a_lift_test_and_is_warned_by_name(tmp_path: Path) -> None:
    """Its contribution is a constant the intercept absorbs, so its beta is not identified by the data: it
    was fitted (with a warning) at 0 against a true 4000, or at 8e13, then refused as "rescale the KPI"
    (hypothesis seed 6). Without a lift test it is refused naming its column (the message is checked in
    test_calibration_data); with one it is fitted, the test met, and the warning names the channel and
    what its curve rests on: the prior and its lift tests, or its lift tests alone (--prior none)."""
    spend = flighted_spend(T, [1000.0, 2000.0], np.random.default_rng(5))
    spend[:, 1] = 2000.0
    path = tmp_path / "d.csv"
    synthesize(path, _truth(), spend, noise_sd=300.0, seed=2)
    lift = tmp_path / "lift.csv"
    pd.DataFrame([{"channel": "c1", "x": 2000.0, "delta_x": 1000.0, "delta_y": 300.0, "sigma": 30.0}]).to_csv(
        lift, index=False)

    def fit(**kw: object):  # type: ignore[no-untyped-def]
        return calibrate(path, date="date", kpi="revenue", spend=SPEND, fourier=0, draws=0, starts=1,
                         **kw)  # type: ignore[arg-type]

    with pytest.raises(BudgetGymError, match=r"column 'c1_spend': the spend is 2000 in every period, so the "
                                             r"channel's effect cannot be told from the baseline's intercept"):
        fit()
    intercept = "c1: spent the same in every period, so its level cannot be told from the baseline's intercept: "
    for prior, by in (("all", "the prior and its lift tests"), ("none", "its lift tests")):
        res = fit(lift_tests=lift, prior=prior)
        assert [w for w in res.warnings if "the same in every period" in w] == [intercept + "its curve comes from "
                                                                                  + by]
        assert res.fit.lift() == pytest.approx([300.0], rel=0.01)  # the test, met: it is all there is to meet


def test_fit_md_reports_the_media_cycle_and_its_interval(tmp_path: Path) -> None:
    """With ``--media-season yearly`` fit.md states the fitted cycle ``1 + A cos(2 pi (d - peak) / 365.25)``
    (it was in family.yaml alone), and with draws its 90% interval: the point ``(a, b) = (0.15, 0)`` is
    ``A = 0.15`` peaking at day 0; 21 draws of amplitude 0.10, 0.11, ..., 0.30 peaking at days -10, ..., 10
    give ``A`` in [0.11, 0.29] and the peak in [-9, 9] days, i.e. from day 356.25 to day 9 of the
    year (a circular interval around the estimate, not [9, 356.25], the 5th and 95th percentiles of
    the days as numbers). The model line names the delay and the cycle."""
    from dataclasses import replace

    res = calibrate(_data(tmp_path / "d.csv"), date="date", kpi="revenue", spend=SPEND, media_season="yearly",
                    delay="gamma", draws=0, starts=1, plots=False)
    fit = replace(res.fit, phi=np.concatenate([res.fit.phi[:-2], [0.15, 0.0]]))
    amp, days = np.linspace(0.1, 0.3, 21), np.arange(-10.0, 11.0)
    w = 2 * np.pi * days / 365.25
    phi = np.tile(fit.phi, (21, 1))
    phi[:, -2:] = np.column_stack([amp * np.cos(w), amp * np.sin(w)])
    draws = Draws(phi=phi, beta=np.tile(fit.beta, (21, 1)), coef=np.tile(fit.coef, (21, 1)), block_length=4,
                  seconds=0.0)
    text = fit_markdown(replace(res, fit=fit, draws=draws), [])
    line = next(s for s in text.splitlines() if s.startswith("Media cycle"))
    got = re.search(r"amplitude ([\d.]+) \(90%: ([\d.]+) to ([\d.]+)\), peak on day ([\d.]+) of the year "
                    r"\(90%: day ([\d.]+) to day ([\d.]+)\)", line)
    assert got is not None, line
    assert [float(v) for v in got.groups()] == pytest.approx([0.15, 0.11, 0.29, 0.0, 356.25, 9.0], abs=0.051)
    assert "gamma conversion delay" in text and "× a yearly media cycle" in text
    text = fit_markdown(replace(res, fit=fit), [])
    assert "amplitude 0.150, peak on day 0.0 of the year." in text


def test_fit_md_and_the_family_put_a_count_of_one_in_the_singular(tmp_path: Path) -> None:
    """One channel, one start, blocks of one period and a one-period planning window read "1 channels",
    "from 1 starts", "blocks of 1 periods" and "Planning window: 1 periods" (and family.yaml's description
    "plans the 1 periods")."""
    path = _data(tmp_path / "d.csv")
    res = calibrate(path, date="date", kpi="revenue", spend=["c0_spend"], draws=2, block_length=1, fourier=0,
                    starts=1, prior="none", plan_periods=1)
    text = fit_markdown(res, [])
    assert f"{T} periods from " in text and "; 1 channel (c0 ← `c0_spend`)" in text, text
    assert "from 1 start (1 reached the best)" in text and "blocks of 1 period)." in text, text
    assert "Planning window: 1 period from " in text, text
    assert "plans the 1 period from " in res.family["scenario"]["description"]


def test_too_short_data_for_one_channel_is_counted_in_the_singular(tmp_path: Path) -> None:
    path = _data(tmp_path / "d.csv")
    pd.read_csv(path).head(6).to_csv(path, index=False)
    with pytest.raises(BudgetGymError) as err:
        calibrate(path, date="date", kpi="revenue", spend=["c0_spend"], draws=0, fourier=0, starts=1, prior="none")
    assert " 6 periods for " in str(err.value) and "(1 channel x " in str(err.value), str(err.value)


def test_fit_md_gives_the_planning_budget_in_full(tmp_path: Path) -> None:
    """The planning window's budget is the figure a planner types back (``--plan-budget``, ``plan --budget``) and
    compares with last quarter's spend: 1,300,156 printed as "budget 1.3e+06" (three significant digits)."""
    path = _data(tmp_path / "d.csv")
    res = calibrate(path, date="date", kpi="revenue", spend=SPEND, draws=0, fourier=0, starts=1, prior="none",
                    plan_periods=4, plan_budget=1_300_156.0)
    assert "budget 1,300,156 (even pacing)" in fit_markdown(res, [])
    res = calibrate(path, date="date", kpi="revenue", spend=SPEND, draws=0, fourier=0, starts=1, prior="none",
                    plan_periods=4, plan_budget=812.5)
    assert "budget 812.5 (even pacing)" in fit_markdown(res, [])


def test_the_fit_reports_numbers_build_on_the_one_rule() -> None:
    """fit.md's numbers (``_num``) and its planning budget (``_money``) keep their own rule (3 significant digits from
    1e6 and below 1e-3; whole units from 10,000) but build on ``envs.numbers.figure``: a negative zero read ``-0.000``,
    a budget past any budget a line of 21 digits and a missing budget ``nan``."""
    from budgetgym.calibration.report import _money, _num

    assert [_num(v) for v in (-0.0, 0.0005, 2.5, 1234.56, 98765.4, 1.5e6, float("nan"), None)] == [
        "0.000", "0.0005", "2.500", "1,234.6", "98,765", "1.5e+06", "–", "–"]
    assert [_money(v) for v in (1_300_156.4, 5e3, 1e20, float("nan"))] == ["1,300,156", "5,000.0", "1e+20", "–"]


def test_an_estimate_outside_its_own_interval_is_warned_of() -> None:
    """fit.md showed video's ``kappa 20,148`` with the 90% interval ``23,240 to 189,092`` and its slope 1.546 with
    ``0.500 to 1.404`` (seasonal-5 simulated for 200 days, 40 draws) and said nothing: it reads as a typo. A channel
    with such a row gets a warning naming each; estimates inside, at an end, or without an interval get none."""
    from budgetgym.calibration.diagnostics import outside_interval_warning

    rows = [("search", "kappa", 488.4, 408.5, 1426.6), ("search", "slope", 1.0, 1.0, 1.6),  # inside, at an end
            ("video", "kappa", 20148.0, 23240.0, 189092.0), ("video", "slope", 1.546, 0.5, 1.404),
            ("video", "beta", 8888.7, 8417.6, 20812.0), ("display", "beta", 360.5, float("nan"), float("nan"))]
    table = pd.DataFrame(rows, columns=["channel", "parameter", "estimate", "low", "high"])
    (line,) = outside_interval_warning(table, 40)
    assert line.startswith("video: the estimate lies outside its 90% interval for kappa 2.015e+04 (2.324e+04 to "
                           "1.891e+05); slope 1.546 (0.5 to 1.404): "), line
    assert "beta" not in line.split(":")[1]
    assert outside_interval_warning(table, 9) == []  # too few draws to check, as the other draw checks
    assert outside_interval_warning(table[table["channel"] != "video"], 40) == []
