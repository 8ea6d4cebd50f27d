"""A calibration's outputs: the family loads and means what was fitted (the environment's own
evaluation of the data's spend reproduces the fitted contributions), it plans with the spend
history, the calendar and the planning window are right, and the command line writes it all."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import run_cli
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
