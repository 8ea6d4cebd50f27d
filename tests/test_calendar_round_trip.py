"""simulate -> calibrate keeps the calendar: a scenario's periods are dated from its ``start_day``
(:func:`~budgetgym.experiments.dataset_layout.period_dates`) and calibrate's family plans from the period after the
data's last date at the day the simulating scenario would be at then, ``start_day + N step_days``
(:func:`~budgetgym.calibration.export.plan_window`), so a yearly cycle lines up. Every date and day here is computed
by hand (day 0 is Monday 1 January 2024; 2024 is a leap year)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from budgetgym.calibration import calibrate, read_mmm_csv
from budgetgym.calibration.export import plan_window
from budgetgym.envs import load_family, load_scenario
from budgetgym.envs.dates import MONTH_DAYS
from budgetgym.experiments.simulate import simulate_dataset, write_dataset

SPEND = "search_spend,social_spend,video_spend"


def _simulated(tmp_path: Path, step: float, start: float, n: int) -> Path:
    sc = load_scenario("stationary-3").override({"step_days": step, "start_day": start})
    write_dataset(simulate_dataset(sc, n, "random", seed=1), tmp_path / "ds")
    return tmp_path / "ds" / "data.csv"


@pytest.mark.parametrize(("step", "start", "n", "first", "last", "start_day", "next_date"), [
    # weekly over the end of the leap year 2024: 4 January (day 3) + 51 weeks = day 360, 26 December
    (7, 3, 52, "2024-01-04", "2024-12-26", 3 + 52 * 7, "2025-01-02"),
    # data ending mid-year: 26 weeks from 1 January, the last on day 175 (24 June: 152 days to 1 June, + 23)
    (7, 0, 26, "2024-01-01", "2024-06-24", 182, "2024-07-01"),
    # daily over 29 February (day 59)
    (1, 58, 3, "2024-02-28", "2024-03-01", 61, "2024-03-02"),
    # a later year: day 400 = day 35 of a year whose 1 January is day 400 // 365 = 1, a Tuesday: 2030
    # (5 February 2030, a Tuesday as 400 mod 7 = 1); 9 weeks on is 9 April
    (7, 400, 10, "2030-02-05", "2030-04-09", 470, "2030-04-16"),
    # calendar months from 31 January (day 30): each month's last day, read back as 30 + t x 30.4375
    (MONTH_DAYS, 30, 3, "2024-01-31", "2024-03-31", 30 + 3 * 30.4375, "2024-04-30"),
])
def test_the_family_plans_from_the_day_the_simulating_scenario_is_at(
    tmp_path: Path, step: float, start: float, n: int, first: str, last: str, start_day: float, next_date: str,
) -> None:
    path = _simulated(tmp_path, step, start, n)
    dates = pd.read_csv(path)["date"]
    assert (dates.iloc[0], dates.iloc[-1]) == (first, last)
    data = read_mmm_csv(path, date="date", kpi="conversions", spend=SPEND)
    window = plan_window(data, 1)
    assert window.start_day == start_day == pytest.approx(start + n * step, abs=1e-9)
    assert str(window.first_date.date()) == next_date


def test_a_monthly_start_on_a_months_last_day_was_dated_up_to_3_days_early(tmp_path: Path) -> None:
    """31 January (day 30) was dated the 28th, which calibrate reads as day 27: the family's window started 3 days
    before the simulating scenario's (a yearly phase 3 days off). Now every month's last day, day 30 exactly."""
    data = read_mmm_csv(_simulated(tmp_path, MONTH_DAYS, 30, 4), date="date", kpi="conversions", spend=SPEND)
    assert data.days[0] == 30.0
    assert [str(d)[:10] for d in data.dates] == ["2024-01-31", "2024-02-29", "2024-03-31", "2024-04-30"]


def test_calibrate_writes_the_start_day_into_the_family(tmp_path: Path) -> None:
    """The family.yaml calibrate writes starts where the simulating scenario is after the data: 30 weeks from day
    0 (ending on day 203, 22 July 2024) plan from day 210, 29 July 2024 (182 days to 1 July, + 28)."""
    path = _simulated(tmp_path, 7, 0, 30)
    res = calibrate(path, date="date", kpi="conversions", spend=SPEND, draws=0, starts=1, fourier=0, plots=False,
                    out=tmp_path / "fit")
    sc = load_family(tmp_path / "fit" / "family.yaml").nominal()
    assert sc.start_day == 210.0 and sc.step_days == 7.0
    assert str(res.window.first_date.date()) == "2024-07-29"


def test_a_calibrated_family_past_day_2555_simulates_on_its_weekday_and_yearly_phase(tmp_path: Path) -> None:
    """Data from Sunday 1 January 2023 (a year whose 1 January is a Sunday: day 0 + 365 x 6 = 2190) for 60 weeks
    calibrate to a family starting on day 2190 + 420 = 2610, past 7 x 365 = 2555, the last day a date reads back
    as (calendar_day: day of the year + 365 x the weekday of 1 January). simulate takes it, as any start day up to
    1e5: its data, calibrated again, continue a clock of an earlier day, with the family's weekday and its yearly
    phase within half a day, which is all the dynamics read of a day (d mod 7, d mod 365.25: envs/path.py)."""
    dates = pd.date_range("2023-01-01", periods=60, freq="7D")
    sim = simulate_dataset(load_scenario("stationary-3"), 60, "random", seed=3).data
    sim["date"] = dates.strftime("%Y-%m-%d")
    sim.to_csv(tmp_path / "real.csv", index=False)
    calibrate(tmp_path / "real.csv", date="date", kpi="conversions", spend="search_spend", draws=0, starts=1,
              fourier=0, plots=False, out=tmp_path / "fit")  # one channel: the calendar is the point, and fast
    family = load_family(tmp_path / "fit" / "family.yaml")
    start = family.nominal().start_day
    assert start == 2190 + 60 * 7
    n = 20
    write_dataset(simulate_dataset(family, n, "random", seed=1), tmp_path / "ds")
    data = read_mmm_csv(tmp_path / "ds" / "data.csv", date="date", kpi="conversions", spend="search_spend")
    back, day = plan_window(data, 1).start_day, start + n * 7
    assert back < 2555 + n * 7 and back % 7 == day % 7  # an earlier day of the same weekday
    phase = abs(back % 365.25 - day % 365.25)
    assert min(phase, 365.25 - phase) <= 0.5
