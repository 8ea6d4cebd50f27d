"""``budgetgym simulate``'s truth against computations that do not go through it: dates from the
calendar by hand, the baseline from its equation in configs/README.md "Baseline", each channel's
contribution as the KPI lost when its spend is zeroed (:func:`evaluate_plan` on the episode's
path), the response curves as the last step of a long constant plan, the KPI replayed through a
fresh environment built from ``truth/scenario.yaml``, and the same files for the same seed."""

from __future__ import annotations

import datetime as dt
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from budgetgym.envs import ChannelBudgetEnv, evaluate_plan, load_scenario
from budgetgym.envs.allocation import spend_to_pacing_action, split_to_action
from budgetgym.envs.scenario import Scenario
from budgetgym.experiments.simulate import simulate_dataset, write_dataset

NOISELESS = {"noise.conversions": "none"}


def _quiet(name: str) -> dict:
    """Overrides that turn off every channel's price noise (the realised media is then the expected)."""
    return {f"channels.{c}.cost.noise_sd": 0.0 for c in load_scenario(name).channel_names}


@pytest.mark.parametrize(("step_days", "start_day", "dates"), [
    (1, 58, ["2024-02-28", "2024-02-29", "2024-03-01", "2024-03-02"]),  # 2024 is a leap year
    (7, 0, ["2024-01-01", "2024-01-08", "2024-01-15", "2024-01-22"]),
    (10, 3, ["2024-01-04", "2024-01-14", "2024-01-24", "2024-02-03"]),  # 10 does not divide a week
    (7, 362, ["2024-12-28", "2025-01-04", "2025-01-11", "2025-01-18"]),  # into the next year
])
def test_dates_by_hand(step_days: float, start_day: float, dates: list[str]) -> None:
    sc = load_scenario("stationary-3").override({"step_days": step_days, "start_day": start_day})
    d = simulate_dataset(sc, 4, "equal").data["date"]
    assert list(d) == dates
    # and the calendar's weekday: day 0 is a Monday, so day d falls on weekday d mod 7 (Monday = 0)
    for t, text in enumerate(d):
        assert dt.date.fromisoformat(text).weekday() == (start_day + t * step_days) % 7


@pytest.mark.parametrize(("start_day", "dates"), [
    (31, ["2024-02-01", "2024-03-01", "2024-04-01", "2024-05-01"]),
    # the 30th: nearer the month's last day than the 28th (every month has both; it was the 28th)
    (29, ["2024-01-31", "2024-02-29", "2024-03-31", "2024-04-30"]),
    (28, ["2024-01-28", "2024-02-28", "2024-03-28", "2024-04-28"]),  # the 29th: nearer the 28th
])
def test_monthly_dates_are_calendar_months_that_calibrate_reads(tmp_path: Path, start_day: float, dates: list[str]):
    """``step_days = 365.25 / 12`` writes the same day of each month (day-of-month floors of 30.44-day
    steps were 01-01, 01-31, 03-01: dates calibrate refused as uneven); calibrate reads them back
    as monthly data."""
    from budgetgym.calibration.data import read_mmm_csv

    sc = load_scenario("stationary-3").override({"step_days": 365.25 / 12, "start_day": start_day})
    ds = simulate_dataset(sc, 4, "equal")
    assert list(ds.data["date"]) == dates
    write_dataset(ds, tmp_path / "m")
    spend = [f"{c}_spend" for c in sc.channel_names]
    data = read_mmm_csv(tmp_path / "m" / "data.csv", date="date", kpi=ds.kpi, spend=spend)
    assert data.step_days == pytest.approx(365.25 / 12)


@pytest.mark.parametrize("step_days", [10.5, 0.5])
def test_a_fractional_step_is_refused(step_days: float) -> None:
    """One date per period: half days (duplicate dates) and 10.5 days (gaps of 10 and 11) are refused."""
    from budgetgym.envs import BudgetGymError

    sc = load_scenario("stationary-3").override({"step_days": step_days})
    with pytest.raises(BudgetGymError, match=f"step_days {step_days:g}: a dataset has one date per period"):
        simulate_dataset(sc, 4, "equal")


def test_draw_of_a_scenario_that_does_not_vary_is_refused() -> None:
    from budgetgym.envs import BudgetGymError

    with pytest.raises(BudgetGymError, match="--draw 3: scenario 'stationary-3' does not vary"):
        simulate_dataset("stationary-3", 4, "equal", draw=3)


def test_weekly_baseline_and_kpi_by_hand() -> None:
    """configs/README.md "Baseline": b_t = max(0, b0 (1 + g (d_t - d_0)/365.25) season(d_t) + gamma z_t),
    d_t = start_day + 7 t; with no noise anywhere the KPI is the media's expected plus b_t."""
    base = {"level": 400.0, "trend": 0.25,
            "seasonality": {"weekly_amplitude": 0.3, "weekly_peak": 5.0, "yearly_amplitude": 0.2, "yearly_peak": 40.0},
            "controls": [{"name": "price_index", "effect": -25.0, "mean": 2.0, "sd": 0.4, "autocorrelation": 0.8}]}
    sc = load_scenario("stationary-3").override(
        {"step_days": 7, "start_day": 10.5, "baseline": base, **NOISELESS, **_quiet("stationary-3")})
    ds = simulate_dataset(sc, 60, "random", seed=4)
    z = ds.data["price_index"].to_numpy()
    assert z.std() > 0.1  # the control was drawn, not left at its mean
    for t in range(60):
        d = 10.5 + 7 * t
        weekly = 1 + 0.3 * math.cos(2 * math.pi * (d - 5.0) / 7)
        season = weekly * (1 + 0.2 * math.cos(2 * math.pi * (d - 40.0) / 365.25))
        b = max(0.0, 400.0 * (1 + 0.25 * (7 * t) / 365.25) * season - 25.0 * z[t])
        assert ds.contributions["baseline"].iloc[t] == pytest.approx(b, rel=1e-12)
    media = ds.contributions[sc.channel_names].sum(axis=1)
    np.testing.assert_allclose(ds.data["conversions"], media + ds.contributions["baseline"], rtol=1e-12)
    np.testing.assert_allclose(ds.contributions["kpi_expected"], ds.data["conversions"], rtol=1e-12)


@pytest.mark.parametrize(("name", "periods"), [("drift-5", 40), ("delayed-5", 40), ("shock-5", 70)])
def test_contribution_is_the_kpi_lost_without_the_channel(name: str, periods: int) -> None:
    """Each channel's expected contribution, period by period, is the expected KPI of the spend made
    minus that with the channel's spend zeroed, on the episode's path (drift from ``seed``): evaluate_plan
    of the KPI (profit's KPI is revenue; carry-over and delays arriving later count where they arrive)."""
    ds = simulate_dataset(name, periods, "random", seed=6)
    kpi_sc = ds.scenario.override({"reward": "conversions" if ds.kpi == "conversions" else "revenue"})
    full = np.asarray(evaluate_plan(kpi_sc, ds.plan, seed=6, per_step=True))
    for i, channel in enumerate(kpi_sc.channel_names):
        without = ds.plan.copy()
        without[:, i] = 0.0
        lost = full - np.asarray(evaluate_plan(kpi_sc, without, seed=6, per_step=True))
        np.testing.assert_allclose(ds.contributions[channel], lost, rtol=1e-9, atol=1e-9 * full.max())


def test_with_segments_contributions_share_the_total_but_are_not_marginal() -> None:
    """overlap-5: a channel's credited share of its segments; they sum to the media total, while the
    channels cannibalise each other, so the KPI lost without a channel is less than its share."""
    ds = simulate_dataset("overlap-5", 30, "equal", seed=1)
    sc = ds.scenario.override({"reward": "revenue"})
    full = np.asarray(evaluate_plan(sc, ds.plan, seed=1, per_step=True))
    np.testing.assert_allclose(ds.contributions[sc.channel_names].sum(axis=1), full, rtol=1e-12)
    lost = []
    for i in range(sc.n_channels):
        without = ds.plan.copy()
        without[:, i] = 0.0
        lost.append(full.sum() - float(evaluate_plan(sc, without, seed=1)))
    shares = ds.contributions[sc.channel_names].sum().to_numpy()
    assert np.all(np.array(lost) < shares) and sum(lost) < 0.99 * full.sum()


def _flat(sc: Scenario, horizon: int) -> Scenario:
    """``sc`` without seasonality, shocks and drift, ``horizon`` steps, a budget never binding, the KPI as reward."""
    d = sc.model_dump(mode="json")
    d.pop("seasonality", None)
    d["shocks"], d["drift"] = [], {"sd": 0.0}
    for c in d["channels"]:
        c.pop("seasonality", None)
        c.pop("drift_sd", None)
    reward = "conversions" if sc.reward == "conversions" else "revenue"
    return Scenario.model_validate(d).override(
        {"horizon": horizon, "reward": reward, "budget.total": 1e12, "budget.pacing": "agent"})


@pytest.mark.parametrize(("name", "periods"),
                         [("delayed-5", 80), ("shock-5", 80), ("s-curve-5", 80), ("pulse-4", 8), ("overlap-5", 30)])
def test_curves_are_a_long_constant_plans_last_step(name: str, periods: int) -> None:
    """truth/curves.csv at a few spends against evaluate_plan: the spend held for 400 steps (carry-over
    and delays long built up), no seasonality, shocks or drift: the last step's expected KPI. Also for a
    dataset shorter than the carry-over (8 weeks of pulse-4's weekly decay of 0.8, 0.8^8 = 0.17 of a
    period's spend still to come): its curves held only the 8 lags a horizon of 8 holds, 36% below the
    steady state. With segments (overlap-5) each channel alone, the others at 0 (the module docstring)."""
    ds = simulate_dataset(name, periods, "random", seed=3)
    flat = _flat(ds.scenario, 400)
    for i, channel in enumerate(flat.channel_names):
        curve = ds.curves[ds.curves["channel"] == channel]
        assert curve["spend"].iloc[0] == 0.0 and curve["kpi"].iloc[0] == 0.0
        for j in (4, 17, 40):
            plan = np.zeros((400, flat.n_channels))
            plan[:, i] = curve["spend"].iloc[j]
            last = float(np.asarray(evaluate_plan(flat, plan, per_step=True))[-1])
            assert curve["kpi"].iloc[j] == pytest.approx(last, rel=1e-10)


def _replay(sc: Scenario, plan: np.ndarray, seed: int) -> list[dict]:
    """A fresh environment of ``sc`` reset with ``seed``, stepped with actions that spend ``plan``."""
    env = ChannelBudgetEnv(sc)
    env.reset(seed=seed)
    infos = []
    for x in plan:
        total = float(x.sum())
        split = x / total if total > 0 else np.full(len(x), 1.0 / len(x))
        action = np.append(split_to_action(split, sc.action.logit_scale),
                           spend_to_pacing_action(total, env.budget - env.cumulative_spend, env.step_cap))
        infos.append(env.step(action)[4])
    return infos


@pytest.mark.parametrize(("scenario", "draw"), [("holiday-5", None), ("retail-5-family", 7)])
def test_written_truth_replays_the_dataset(tmp_path: Path, scenario: str, draw: int | None) -> None:
    """truth/scenario.yaml, loaded on its own and played with data.csv's spend and the seed, gives
    data.csv's KPI (media plus baseline, every noise on) and the contributions; for a family's draw
    too, which is not the family's nominal campaign."""
    base = {"level": 300.0, "trend": 0.5, "noise_sd": 0.2,
            "controls": [{"name": "competitor", "effect": -20.0, "mean": 1.0, "sd": 0.5}]}
    sc: str | Scenario = scenario if draw is not None else load_scenario(scenario).override({"baseline": base})
    ds = simulate_dataset(sc, 100, "random", seed=5, draw=draw)
    out = write_dataset(ds, tmp_path / "ds")
    truth = Scenario.model_validate(yaml.safe_load((out / "truth" / "scenario.yaml").read_text(encoding="utf-8")))
    data = pd.read_csv(out / "data.csv")
    spend = data[[f"{c}_spend" for c in truth.channel_names]].to_numpy()
    infos = _replay(truth, spend, seed=5)
    kpi = [i["kpi"] if "kpi" in i else float(i[ds.kpi].sum()) for i in infos]
    np.testing.assert_allclose(data[ds.kpi], kpi, rtol=1e-12)
    contributions = pd.read_csv(out / "truth" / "contributions.csv")
    kpi_sc = truth.model_copy(update={"baseline": None}).override(
        {"reward": "conversions" if ds.kpi == "conversions" else "revenue"})
    np.testing.assert_allclose(contributions[truth.channel_names].sum(axis=1),
                               np.asarray(evaluate_plan(kpi_sc, spend, seed=5, per_step=True)), rtol=1e-9)
    if draw is not None:
        nominal = simulate_dataset(scenario, 100, "random", seed=5)
        assert not np.allclose(nominal.curves["kpi"], ds.curves["kpi"])


def test_same_seed_same_files_other_seed_other_data(tmp_path: Path) -> None:
    a = write_dataset(simulate_dataset("competitor-5", 30, "random", seed=9, lift_tests=2), tmp_path / "a")
    b = write_dataset(simulate_dataset("competitor-5", 30, "random", seed=9, lift_tests=2), tmp_path / "b")
    c = write_dataset(simulate_dataset("competitor-5", 30, "random", seed=10), tmp_path / "c")
    for f in ("data.csv", "lift_tests.csv", "truth/contributions.csv", "truth/curves.csv", "truth/scenario.yaml",
              "truth/lift_tests.csv"):
        assert (a / f).read_bytes() == (b / f).read_bytes(), f
    assert (a / "data.csv").read_bytes() != (c / "data.csv").read_bytes()


def test_a_window_shorter_than_the_scenario_plays_the_shocks_inside_it() -> None:
    """holiday-5's last two shocks start at steps 46 and 51: 40 periods of it were refused (a shock
    after the horizon); they never happen in those periods, so the dataset plays the other three,
    unchanged, and equals 40 periods of the scenario with only those three."""
    sc = load_scenario("holiday-5")
    assert [s.start for s in sc.shocks] == [18, 18, 26, 46, 51]  # the case under test
    ds = simulate_dataset(sc, 40, "equal", seed=3)
    assert ds.scenario.shocks == sc.shocks[:3]
    inside = sc.override({"shocks": [s.model_dump(mode="json") for s in sc.shocks[:3]]})
    pd.testing.assert_frame_equal(ds.data, simulate_dataset(inside, 40, "equal", seed=3).data)


def test_simulate_says_what_the_truth_of_a_segmented_scenario_is(tmp_path: Path, capsys: pytest.CaptureFixture[str]
                                                                  ) -> None:
    """With segments, truth/curves.csv holds each channel alone and contributions.csv its credited share: neither
    adds up to what the channels do together (the tests above), and the command says so where a planner reads."""
    from conftest import run_cli

    code, printed, _ = run_cli(capsys, "simulate", "overlap-5", "--periods", "8", "--out", str(tmp_path / "d"))
    assert code == 0
    assert "truth/curves.csv holds each channel alone (the others at 0)" in printed
    code, printed, _ = run_cli(capsys, "simulate", "stationary-3", "--periods", "8", "--out", str(tmp_path / "s"))
    assert code == 0 and "the others at 0" not in printed
