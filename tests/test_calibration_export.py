"""A calibration's outputs: the family loads and means what was fitted (the environment's own
evaluation of the data's spend reproduces the fitted contributions), it plans with the spend
history, the calendar and the planning window are right, and the command line writes it all."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import files_of, interrupt_nth_change, interrupt_nth_move, run_cli
from mmm_synth import Truth, flighted_spend, synthesize

from budgetgym.calibration import calibrate
from budgetgym.calibration.data import calendar_day
from budgetgym.envs.family import load_family
from budgetgym.envs.plan_value import evaluate_plan
from budgetgym.planner import plan
from budgetgym.planner.inputs import read_history

T = 104
TRUTH = dict(beta=np.array([5000.0, 7000.0]), kappa=np.array([3e5, 2000.0]), slope=np.array([1.0, 1.4]),
             theta=np.array([0.5, 0.2]))


def _dataset(tmp_path: Path, noise: float = 0.0) -> tuple[Path, np.ndarray, np.ndarray]:
    """Two channels as the lead's ``budgetgym simulate`` names them: ``a`` bought by the thousand
    impressions at CPM 8 with auction pressure 0.3 (reference: its median nonzero spend), ``b``
    by the click at CPC 1.5; the response is driven by the exposure."""
    spend = flighted_spend(T, [1500.0, 2500.0], np.random.default_rng(11))
    ref = np.median(spend[spend[:, 0] > 0, 0])
    expo = np.column_stack([1000.0 * spend[:, 0] / 8.0 * (1 + spend[:, 0] / ref) ** -0.3, spend[:, 1] / 1.5])
    path = tmp_path / "sim.csv"
    synthesize(path, Truth(**TRUTH), spend, exposure=expo, noise_sd=noise, spend_names=["a", "b"])
    df = pd.read_csv(path).rename(columns={"b_impressions": "b_clicks"})
    df.to_csv(path, index=False)
    return path, spend, expo


def _calibrate(path: Path, **kw: object):
    return calibrate(path, date="date", kpi="revenue", spend="a_spend,b_spend", exposure="a_impressions,b_clicks",
                     **kw)  # type: ignore[arg-type]


def test_family_means_what_was_fitted(tmp_path: Path) -> None:
    """The nominal scenario, played by the environment's own evaluate_plan over the data's spend,
    gives the fitted contributions period by period (cost curve, unnormalised adstock and Hill
    mapped exactly); the cost curve is the one that generated the data."""
    path, spend, _ = _dataset(tmp_path)
    res = _calibrate(path, draws=12, out=tmp_path / "out")
    fam = load_family(tmp_path / "out" / "family.yaml")
    sc = fam.nominal()
    assert sc.channel_names == ["a", "b"] and sc.reward == "revenue" and sc.step_days == 7.0
    a, b = sc.channels
    assert (a.cost.unit, b.cost.unit) == ("impression", "click")
    assert a.cost.price == pytest.approx(8.0, rel=1e-6) and a.cost.elasticity == pytest.approx(0.3, rel=1e-6)
    assert b.cost.price == pytest.approx(1.5, rel=1e-6) and b.cost.elasticity == 0.0
    assert a.saturation.max_response == pytest.approx(5000.0, rel=1e-4)  # noise-free: the truth
    assert b.adstock.decay == pytest.approx(0.2, abs=1e-5)
    whole = sc.override({"horizon": T, "budget.total": float(spend.sum())})
    per_step = evaluate_plan(whole, spend, per_step=True)
    np.testing.assert_allclose(per_step, res.fit.contributions.sum(axis=1), rtol=1e-6, atol=1e-6)
    # the ensemble: one member per draw, 20% held out, every member a valid campaign
    assert fam.is_ensemble and fam.split_size("test") == 2 and fam.split_size("train") == 10
    member = fam.sample(0, "train")
    assert member.channels[0].saturation.max_response > 0 and member.channels[0].cost == a.cost


def test_plans_with_history_and_window(tmp_path: Path) -> None:
    """Defaults: the window is the 13 weeks after the last date, its budget the last 13 weeks' spend;
    the history holds every period, and the planner spends the budget on the family after it."""
    path, spend, _ = _dataset(tmp_path, noise=200.0)
    out = tmp_path / "out"
    res = _calibrate(path, draws=10, out=out)
    sc = load_family(out / "family.yaml").nominal()
    last = pd.Timestamp("2021-01-04") + pd.Timedelta(weeks=T - 1)
    nxt = last + pd.Timedelta(weeks=1)
    assert sc.horizon == 13 and sc.budget.total == pytest.approx(spend[-13:].sum())
    # day 0 is a Monday, 1 January: same weekday, and the same day of the year within 1.5 days
    assert int(sc.start_day) % 7 == nxt.weekday() and _year_gap(sc.start_day, nxt) <= 1.5
    hist = read_history(out / "history.csv", sc)
    np.testing.assert_allclose(hist, spend)  # every period: the carry-in and the range of spend the fit saw
    result = plan(out / "family.yaml", history=out / "history.csv", draws=5, curves=False)
    assert result.plan.shape == (13, 2) and result.plan.sum() == pytest.approx(sc.budget.total, rel=1e-6)
    assert result.history_steps == T and res.window.periods == 13
    np.testing.assert_allclose(result.channels["history_max_spend"], spend.max(axis=0))


def _year_gap(day: float, date: pd.Timestamp) -> float:
    """Days between the yearly phase of budgetgym's ``day`` and ``date``'s day of the year (circular)."""
    gap = (day - (date.day_of_year - 1)) % 365.25
    return min(gap, 365.25 - gap)


def test_calendar_day_by_hand() -> None:
    """2024-01-01 was a Monday: day 0. 2025-01-01 was a Wednesday: 730 (730 = 2 mod 7, and
    730 mod 365.25 = 364.75, half a day before New Year). Every date of 2020-2030 keeps its
    weekday and, within 1.5 days, its day of the year."""
    assert calendar_day(pd.Timestamp("2024-01-01")) == 0.0
    assert calendar_day(pd.Timestamp("2025-01-01")) == 730.0
    for date in pd.date_range("2020-01-01", "2030-12-31", freq="5D"):
        d = calendar_day(date)
        assert d % 7 == date.weekday() and _year_gap(d, date) <= 1.5


def test_cli_writes_everything(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path, _, _ = _dataset(tmp_path, noise=200.0)
    out = tmp_path / "cal"
    code, stdout, _ = run_cli(capsys, "calibrate", str(path), "--date", "date", "--kpi", "revenue", "--spend",
                              "a_spend,b_spend", "--exposure", "a_impressions,b_clicks", "--draws", "8",
                              "--holdout", "8", "--plan-periods", "4", "--plan-budget", "20000", "--out", str(out),
                              "--no-plots")
    assert code == 0, stdout
    assert {p.name for p in out.iterdir()} == {"family.yaml", "history.csv", "parameters.csv", "fit.md"}
    text = (out / "fit.md").read_text()
    assert "held out (last 8, forecast)" in text and "typical_response" in text and "## Warnings" in text
    sc = load_family(out / "family.yaml").nominal()
    assert sc.horizon == 4 and sc.budget.total == 20000.0
    params = pd.read_csv(out / "parameters.csv")
    assert set(params["channel"]) == {"a", "b"} and params["low"].notna().any()


def test_plots_written(tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    path, _, _ = _dataset(tmp_path, noise=200.0)
    res = _calibrate(path, draws=4, holdout=6, out=tmp_path / "o")
    names = {p.name for p in res.files}
    assert {"fit.png", "contributions.png", "curves.png"} <= names
    assert (tmp_path / "o" / "curves.png").read_bytes()[:4] == b"\x89PNG"
    assert "![curves.png](curves.png)" in (tmp_path / "o" / "fit.md").read_text()


def test_a_calibration_without_figures_removes_an_earlier_ones(tmp_path: Path) -> None:
    """A fit written with ``plots=False`` (or without matplotlib) into an earlier calibration's
    directory left that fit's fit.png, contributions.png and curves.png beside the new fit.md: figures
    of another fit. The directory describes one calibration, as a plan's does; other files are kept."""
    pytest.importorskip("matplotlib")
    path, _, _ = _dataset(tmp_path, noise=200.0)
    out = tmp_path / "o"
    _calibrate(path, draws=0, out=out)
    assert (out / "curves.png").is_file()
    (out / "notes.txt").write_text("mine", encoding="utf-8")
    res = _calibrate(path, draws=0, out=out, plots=False)
    assert {p.name for p in out.iterdir()} == {p.name for p in res.files} | {"notes.txt"}
    assert {p.name for p in res.files} == {"family.yaml", "history.csv", "parameters.csv", "fit.md"}


def test_budget_is_the_last_periods_spend_unrounded_so_the_plan_in_place_fits_it(tmp_path: Path) -> None:
    """The default budget is the last 13 periods' spend to the last digit: the plan in place (those
    periods' spend, per step) is a valid ``--current``. Rounded to 8 significant digits it could
    fall below that spend by more than the 1e-9 tolerance and be refused as over the budget."""
    from budgetgym.planner.inputs import read_current

    path, _, _ = _dataset(tmp_path)
    out = tmp_path / "out"
    _calibrate(path, draws=4, out=out)
    sc = load_family(out / "family.yaml").nominal()
    hist = read_history(out / "history.csv", sc)
    assert sc.budget.total == pytest.approx(hist[-13:].sum(), rel=1e-12)
    current = tmp_path / "current.csv"
    pd.DataFrame(hist[-13:], columns=sc.channel_names).to_csv(current, index=False)
    X, _ = read_current(str(current), sc)
    np.testing.assert_array_equal(X, hist[-13:])


def test_planning_window_continues_the_fits_calendar(tmp_path: Path) -> None:
    """The window's ``start_day`` continues the data's day index (``days[-1] + step_days``), so the
    exported media seasonality, played after the data's spend as history, gives the fitted model's
    own contributions in the window. From 2019-03-07 the next date's :func:`calendar_day` is 364
    days past that continuation (another year's weekday alignment): the cycle's phase moved by 1.25
    days, 1% of the response in the window at an amplitude of 0.46 (the exported one was not the
    fitted one)."""
    from dataclasses import replace

    from budgetgym.calibration.export import scenario_dict
    from budgetgym.calibration.transforms import features
    from budgetgym.envs import scenario_from_dict

    n, extra = 120, 13
    spend = flighted_spend(n + extra, [1500.0, 2500.0], np.random.default_rng(11))
    path = tmp_path / "d.csv"
    synthesize(path, Truth(**TRUTH), spend[:n], noise_sd=300.0, spend_names=["a", "b"], start="2019-03-07")
    res = calibrate(path, date="date", kpi="revenue", spend="a_spend,b_spend", media_season="yearly", draws=0,
                    starts=1, plots=False, plan_periods=extra)
    phi = res.fit.phi.copy()
    phi[-2:] = [0.3, -0.35]  # a strong cycle, so a shifted phase shows
    fit = replace(res.fit, phi=phi)
    sc = scenario_from_dict(scenario_dict(fit, res.data, res.window, res.costs, name="x", reward="revenue"))
    plan = spend[n:]
    per_step = evaluate_plan(sc.override({"budget.total": float(plan.sum())}), plan, per_step=True,
                             history=spend[:n])
    days = res.data.days[-1] + res.data.step_days * np.arange(-n + 1, extra + 1)
    expected = (features(fit.layout, spend, phi, fit.ref, days) * fit.beta).sum(axis=1)[n:]
    np.testing.assert_allclose(per_step, expected, rtol=1e-6)
    assert res.window.start_day == res.data.days[-1] + res.data.step_days


def _three_channel_data(tmp_path: Path) -> Path:
    """40 weeks from 2022-01-03 (Monday). ``a`` driven by its spend (median nonzero 100); ``b`` bought by
    the thousand impressions at one level of spend, 1.6 a period, at CPMs 6, 8 and 12 (the spend does not
    vary, so no auction pressure is identified: the price is the median CPM, 8 — not the geometric mean,
    8.32); ``c`` bought by the click at CPC 2 (1 + x/200)^0.5, x in {100, 200, 400} (median 200): the
    pressure is exact, so it is identified."""
    t = np.arange(40)
    a = np.tile([0.0, 50.0, 100.0, 150.0], 10)
    b = np.tile([1.6, 0.0, 1.6, 1.6], 10)
    cpm = np.tile([6.0, 1.0, 8.0, 12.0], 10)
    c = np.tile([100.0, 200.0, 0.0, 400.0], 10)
    frame = pd.DataFrame({
        "date": pd.date_range("2022-01-03", periods=40, freq="7D").strftime("%Y-%m-%d"),
        "revenue": 1000.0 + a + 40.0 * b + 0.5 * c + 10.0 * np.sin(t),
        "a_spend": a, "b_spend": b, "b_impressions": np.where(b > 0, 1000.0 * b / cpm, 0.0),
        "c_spend": c, "c_clicks": c / (2.0 * np.sqrt(1.0 + c / 200.0)),
    })
    path = tmp_path / "d.csv"
    frame.to_csv(path, index=False)
    return path


def test_scenario_fields_by_hand(tmp_path: Path) -> None:
    r"""export.py's mapping of a fit to a scenario, each field worked by hand from its docstring:

    * cost: ``a`` (no exposure column) ``{click, price 1, ref_spend 1e9, elasticity 0}``; ``b`` a CPM,
      ``p_t = 1000 x_t / e_t``, unidentified pressure: the median, 8, ``ref_spend`` the median nonzero
      spend 1.6, elasticity 0; ``c`` a CPC, ``ln p = ln 2 + 0.5 ln(1 + x/200)`` exactly: price 2,
      ref_spend 200, elasticity 0.5.
    * ``half_saturation = kappa = m wbar e^u`` in exposure units (``m`` the median nonzero exposure: 100
      for a, 200 impressions for b, the clicks of 200 spent, 200 / (2 sqrt 2), for c; ``wbar = 1/(1 -
      theta)``), ``max_response = beta``, ``decay = theta``; the gamma delay's ``mean_lag`` (at least
      1e-3) and window ``ceil(9.23 (42/7) / 2) + 1 = 29``; the media cycle ``(a, b) = (0.1, 0.1)`` as
      amplitude ``0.1 sqrt 2`` and peak ``365.25 / 8``.
    * the exported scenario's steady state ``beta h(wbar e(x))``, ``e = u x (1 + x/x_ref)^(-eta) / p0``
      (``u`` = 1000 impressions per CPM unit), equals the environment's and the fit's own curve.
    * Weibull CDF carry-over and logistic curves: ``wbar = 1 + sum_l prod_{j<=l} exp(-(j/lambda)^k)``,
      ``rate = 1 / kappa``.
    """
    from dataclasses import replace

    from budgetgym.calibration.export import scenario_dict
    from budgetgym.calibration.transforms import Layout
    from budgetgym.envs import scenario_from_dict
    from budgetgym.envs.dynamics import ChannelModel

    res = calibrate(_three_channel_data(tmp_path), date="date", kpi="revenue", spend="a_spend,b_spend,c_spend",
                    exposure="-,b_impressions,c_clicks", fourier=0, draws=0, starts=1, plots=False)
    m = np.array([100.0, 200.0, 200.0 / (2.0 * np.sqrt(2.0))])  # median nonzero exposures
    np.testing.assert_allclose(res.fit.ref, m, rtol=1e-12)
    beta = np.array([600.0, 1000.0, 800.0])
    theta, u, slope, lag = [0.5, 0.0, 0.2], [0.0, np.log(0.5), np.log(2.0)], [1.0, 2.0, 1.5], [0.0, 1.5, 3.0]
    lay = Layout("geometric", "hill", 3, res.fit.layout.window, 7.0, delay=True, season=True)
    phi = np.array([v for i in range(3) for v in (theta[i], u[i], slope[i], lag[i])] + [0.1, 0.1])
    fit = replace(res.fit, layout=lay, phi=phi, beta=beta)
    sc = scenario_dict(fit, res.data, res.window, res.costs, name="hand", reward="revenue")
    kappa = m / (1.0 - np.array(theta)) * np.exp(u)  # 200, 100, 176.78
    np.testing.assert_allclose(kappa, [200.0, 100.0, 125.0 * np.sqrt(2.0)], rtol=1e-12)
    cost = [("click", 1.0, 1e9, 0.0), ("impression", 8.0, 1.6, 0.0), ("click", 2.0, 200.0, 0.5)]
    for i, ch in enumerate(sc["channels"]):
        assert ch["name"] == "abc"[i]
        got = ch["cost"]
        assert got["unit"] == cost[i][0]
        assert [got["price"], got["ref_spend"], got["elasticity"]] == pytest.approx(cost[i][1:], rel=1e-7, abs=1e-12)
        assert ch["adstock"] == {"type": "geometric", "decay": pytest.approx(theta[i], abs=1e-12)}
        assert ch["saturation"] == {"type": "hill", "max_response": pytest.approx(beta[i], rel=1e-8),
                                    "half_saturation": pytest.approx(kappa[i], rel=1e-7),
                                    "slope": pytest.approx(slope[i], rel=1e-8)}
        assert ch["delay"] == {"type": "gamma", "mean_lag": pytest.approx(max(lag[i], 1e-3), rel=1e-8),
                               "shape": 2.0, "window": 29}
    demand = sc["seasonality"]["demand"]
    assert demand["yearly_amplitude"] == pytest.approx(0.1 * np.sqrt(2.0), rel=1e-7)
    assert demand["yearly_peak"] == pytest.approx(365.25 / 8, rel=1e-7)
    assert sc["step_days"] == 7.0 and sc["horizon"] == 13
    assert sc["start_day"] == calendar_day(pd.Timestamp("2022-01-03")) + 7.0 * 40
    # the steady state of a spend x held every period, by hand, against the environment's and the fit's
    x = np.array([[0.0, 0.0, 0.0], [80.0, 0.8, 150.0], [150.0, 1.6, 300.0], [400.0, 4.0, 900.0]])
    e = np.column_stack([x[:, 0], 1000.0 * x[:, 1] / 8.0, x[:, 2] / (2.0 * np.sqrt(1.0 + x[:, 2] / 200.0))])
    a = e / (1.0 - np.array(theta))
    s = np.array(slope)
    by_hand = beta * a**s / (kappa**s + a**s)
    env = ChannelModel.from_scenario(scenario_from_dict(sc).override({"horizon": 200}))
    np.testing.assert_allclose(env.steady_state_response(x), by_hand, rtol=1e-7, atol=1e-9)
    np.testing.assert_allclose(fit.curve(res.costs.exposure(x)), by_hand, rtol=1e-9, atol=1e-9)

    # Weibull CDF carry-over over 4 lags, logistic curves
    shape, scale, u2 = [1.0, 0.5, 2.0], [2.0, 1.0, 3.0], [0.0, np.log(0.5), np.log(2.0)]
    lay2 = Layout("weibull_cdf", "logistic", 3, 4, 7.0)
    fit2 = replace(res.fit, layout=lay2, phi=np.array([v for i in range(3) for v in (shape[i], scale[i], u2[i])]),
                   beta=beta)
    sc2 = scenario_dict(fit2, res.data, res.window, res.costs, name="hand", reward="revenue")
    wbar = np.array([1.0 + sum(np.prod([np.exp(-((j / scale[i]) ** shape[i])) for j in range(1, lag + 1)])
                               for lag in range(1, 4)) for i in range(3)])
    kappa2 = m * wbar * np.exp(u2)
    for i, ch in enumerate(sc2["channels"]):
        assert ch["adstock"] == {"type": "weibull_cdf", "shape": pytest.approx(shape[i], rel=1e-8),
                                 "scale": pytest.approx(scale[i], rel=1e-8), "window": 4}
        assert ch["saturation"] == {"type": "logistic", "max_response": pytest.approx(beta[i], rel=1e-8),
                                    "rate": pytest.approx(1.0 / kappa2[i], rel=1e-7)}
    by_hand2 = beta * np.tanh(e * wbar / (2.0 * kappa2))
    env2 = ChannelModel.from_scenario(scenario_from_dict(sc2))
    np.testing.assert_allclose(env2.steady_state_response(x), by_hand2, rtol=1e-7, atol=1e-9)


def test_a_price_falling_with_volume_is_no_auction_pressure(tmp_path: Path) -> None:
    """export.py: ``eta`` is kept only when positive (and at least twice its standard error). A CPM
    falling exactly as 8 (1 + x/200)^(-0.3) has a precise negative slope: ``eta = 0``, unidentified, and
    the price is the median observed CPM, 8 (1 + 200/200)^(-0.3) at the median spend 200 — not the regression's
    intercept 8, nor the geometric mean."""
    from budgetgym.calibration.data import read_mmm_csv
    from budgetgym.calibration.export import fit_costs

    x = np.tile([100.0, 200.0, 400.0, 200.0, 800.0], 8)
    cpm = 8.0 * (1.0 + x / 200.0) ** -0.3
    pd.DataFrame({"date": pd.date_range("2022-01-03", periods=40, freq="7D").strftime("%Y-%m-%d"),
                  "revenue": 1000.0 + np.sin(np.arange(40)), "a_spend": x, "a_impressions": 1000.0 * x / cpm}).to_csv(
        tmp_path / "d.csv", index=False)
    costs = fit_costs(read_mmm_csv(tmp_path / "d.csv", date="date", kpi="revenue", spend="a_spend",
                                   exposure="a_impressions"))
    assert costs.unit == ("impression",) and not costs.identified[0] and costs.elasticity[0] == 0.0
    assert costs.ref_spend[0] == 200.0
    assert costs.price[0] == pytest.approx(8.0 * 2.0**-0.3, rel=1e-12)


@pytest.mark.parametrize(("adstock", "freq"), [("weibull_pdf", "7D"), ("geometric", "MS")])
def test_exported_scenario_replays_the_fit_with_every_option(tmp_path: Path, adstock: str, freq: str) -> None:
    """The fit's own media contributions, period by period, from the exported scenario played by the
    environment's ``evaluate_plan`` on the data's spend, with every option that moves them: Weibull PDF
    (weekly) or geometric (calendar months, ``step_days`` 365.25/12) carry-over, a gamma delay, the media
    cycle (data from a March Wednesday, so its phase shows), exposure columns (``a`` at CPM 8, ``b`` at CPC
    ``2 (1 + x/x_ref)^0.5``: the cost curves the env buys exposure with) and a control. The nonlinear
    parameters are set so each option matters (lags of 1.5 and 0.7 periods, a cycle of amplitude 0.46). Played
    over all periods from the first date's day, and over the last 13 weeks (6 months) with the earlier spend
    as history (the carry-in of adstock and delay)."""
    from dataclasses import replace

    from budgetgym.calibration.export import scenario_dict
    from budgetgym.envs import scenario_from_dict

    T, n = (104, 13) if freq == "7D" else (60, 6)
    rng = np.random.default_rng(5)
    spend = flighted_spend(T, [1500.0, 2500.0], rng)
    ref = np.median(spend[spend[:, 1] > 0, 1])
    expo = np.column_stack([1000.0 * spend[:, 0] / 8.0, spend[:, 1] / (2.0 * np.sqrt(1.0 + spend[:, 1] / ref))])
    promo = rng.normal(0.0, 1.0, T)
    y = (20_000.0 + 3000.0 * promo + 4000.0 * np.tanh(expo[:, 0] / 3e5) + 5000.0 * np.tanh(expo[:, 1] / 1500.0)
         + rng.normal(0.0, 300.0, T))
    pd.DataFrame({"date": pd.date_range("2021-03-10", periods=T, freq=freq).strftime("%Y-%m-%d"), "revenue": y,
                  "a_spend": spend[:, 0], "a_impressions": expo[:, 0], "b_spend": spend[:, 1],
                  "b_clicks": expo[:, 1], "promo": promo}).to_csv(tmp_path / "d.csv", index=False)
    res = calibrate(tmp_path / "d.csv", date="date", kpi="revenue", spend="a_spend,b_spend",
                    exposure="a_impressions,b_clicks", controls="promo", adstock=adstock, delay="gamma",
                    media_season="yearly", draws=0, starts=1, plots=False)
    per = res.fit.layout.per_channel
    phi = res.fit.phi.copy()
    phi[per - 1], phi[2 * per - 1] = 1.5 * 7.0 / res.data.step_days, 0.7  # the lags (periods), within bounds
    phi[-2:] = [0.3, -0.35]
    fit = replace(res.fit, phi=phi)
    expected = fit.contributions_of(phi, fit.beta).sum(axis=1)
    sd = scenario_dict(fit, res.data, res.window, res.costs, name="x", reward="revenue")
    assert res.costs.elasticity[1] == pytest.approx(0.5, rel=1e-9)
    days = res.data.days
    whole = scenario_from_dict({**sd, "horizon": T, "start_day": float(days[0]),
                                "budget": {"total": float(spend.sum()), "pacing": "even"}})
    np.testing.assert_allclose(evaluate_plan(whole, spend, per_step=True), expected, rtol=1e-6)
    tail = scenario_from_dict({**sd, "horizon": n, "start_day": float(days[T - n]),
                               "budget": {"total": float(spend[T - n:].sum()), "pacing": "even"}})
    np.testing.assert_allclose(evaluate_plan(tail, spend[T - n:], per_step=True, history=spend[: T - n]),
                               expected[T - n:], rtol=1e-6)


def test_ctrl_c_while_moving_a_new_calibration_in_leaves_the_earlier_one_as_it_was(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The staged files are renamed into ``--out`` one by one: a Ctrl-C (or a failing rename) after the
    first left the new family.yaml beside the earlier calibration's history, parameters and fit.md."""

    path, _, _ = _dataset(tmp_path, noise=200.0)
    out = tmp_path / "cal"
    argv = ["calibrate", str(path), "--date", "date", "--kpi", "revenue", "--spend", "a_spend,b_spend", "--draws",
            "0", "--no-plots", "--out", str(out)]
    assert run_cli(capsys, *argv, "--plan-periods", "4")[0] == 0
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    interrupt_nth_move(monkeypatch, out, 2)
    assert run_cli(capsys, *argv, "--plan-periods", "6")[0] == 130
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cal", "sim.csv"]  # no temporary directory left


def test_ctrl_c_while_removing_an_earlier_calibrations_figure_leaves_the_earlier_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An earlier calibration's figures that the new one does not draw were deleted after the all-or-nothing
    move, outside it: a Ctrl-C there left the earlier fit's fit.png beside the new family.yaml and fit.md."""
    from dataclasses import replace

    from budgetgym.calibration.report import write_outputs

    path, _, _ = _dataset(tmp_path)
    out = tmp_path / "cal"
    res = _calibrate(path, draws=0, plan_periods=4, plots=False, out=out)
    (out / "fit.png").write_bytes(b"an earlier calibration's figure")
    before = files_of(out)
    changed = interrupt_nth_change(monkeypatch, out, 1, of=out / "fit.png")
    with pytest.raises(KeyboardInterrupt):
        write_outputs(replace(res, reward="conversions"), out, plots=False)
    assert changed == [out / "fit.png"]
    assert files_of(out) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cal", "sim.csv"]  # no temporary directory left


def test_a_max_response_beyond_a_scenarios_bound_is_refused_or_warned_not_clipped_silently(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A scenario's max_response is at most 1e12 per step. The export clipped a larger fitted beta to it without
    a word, so the family's channel earned a fraction of the fitted response at every spend. The point estimate
    (the nominal scenario, the fit itself) is now refused in one line saying how to rescale; a bootstrap draw
    beyond it is capped with a warning (fit.md, stderr) counting the members."""
    import importlib
    from dataclasses import replace

    from budgetgym.calibration import uncertainty
    from budgetgym.envs.errors import BudgetGymError

    cal = importlib.import_module("budgetgym.calibration.calibrate")  # the package's `calibrate` is the function
    path, _, _ = _dataset(tmp_path)
    real_fit, real_boot = cal.fit_model, cal.block_bootstrap
    monkeypatch.setattr(cal, "fit_model", lambda *a, **k: replace(real_fit(*a, **k), beta=np.array([5e12, 7000.0])))
    with pytest.raises(BudgetGymError, match=rf"^data file '{path}': channel 'a': the fitted max_response \(beta\) "
                       r"is 5e\+12 KPI per period, more than a scenario takes \(1e\+12\); rescale the KPI"):
        _calibrate(path, draws=0, out=tmp_path / "out")
    assert not (tmp_path / "out").exists()

    def huge_first_draws(*a: object, **k: object) -> uncertainty.Draws:
        boot = real_boot(*a, **k)
        beta = boot.beta.copy()
        beta[:3, 0] = 2e12  # three of the draws, channel a
        return replace(boot, beta=beta)

    monkeypatch.setattr(cal, "fit_model", real_fit)
    monkeypatch.setattr(cal, "block_bootstrap", huge_first_draws)
    res = _calibrate(path, draws=6, out=tmp_path / "out")
    note = ("a: max_response is more than a scenario takes (1e+12) in 3 of 6 bootstrap draws (up to 2e+12); "
            "family.yaml caps those members at 1e+12, so their response is lower than fitted")
    assert note in res.warnings and note in (tmp_path / "out" / "fit.md").read_text()
    members = load_family(tmp_path / "out" / "family.yaml").definition()["ensemble"]
    assert sorted(m["channels"][0]["saturation"]["max_response"] for m in members)[-3:] == [1e12] * 3


def test_a_fitted_max_response_beyond_the_bound_is_refused_before_the_bootstrap(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The point estimate's max_response above 1e12 was refused only when the family was written, after every
    bootstrap refit (minutes with --draws 200) that could not change the verdict; it is refused after the fit."""
    import importlib
    from dataclasses import replace

    from budgetgym.envs.errors import BudgetGymError

    cal = importlib.import_module("budgetgym.calibration.calibrate")
    path, _, _ = _dataset(tmp_path)
    real_fit = cal.fit_model
    refits: list[object] = []
    monkeypatch.setattr(cal, "fit_model", lambda *a, **k: replace(real_fit(*a, **k), beta=np.array([5e12, 7000.0])))
    monkeypatch.setattr(cal, "block_bootstrap", lambda *a, **k: refits.append(a))
    with pytest.raises(BudgetGymError, match=r"channel 'a': the fitted max_response \(beta\) is 5e\+12 KPI per period"):
        _calibrate(path, draws=6, out=tmp_path / "out")
    assert refits == [] and not (tmp_path / "out").exists()


def test_the_max_response_bound_is_the_scenario_schemas_for_either_curve() -> None:
    """calibrate's export caps and refuses at the schema's own bounds, which the Hill and logistic
    curves share (1e-9 to 1e12 KPI per step)."""
    from budgetgym.calibration.response_bound import MAX_RESPONSE, MIN_MAX_RESPONSE
    from budgetgym.envs.scenario_parts import HillSaturation, LogisticSaturation

    assert (MIN_MAX_RESPONSE, MAX_RESPONSE) == (1e-9, 1e12)
    for curve in (HillSaturation, LogisticSaturation):
        metadata = curve.model_fields["max_response"].metadata
        assert [getattr(m, "ge", None) for m in metadata if hasattr(m, "ge")] == [MIN_MAX_RESPONSE]
        assert [getattr(m, "le", None) for m in metadata if hasattr(m, "le")] == [MAX_RESPONSE]
