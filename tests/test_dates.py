"""Calendar dates of periods (budgetgym.envs.dates), checked against dates worked out by hand."""

from __future__ import annotations

import pandas as pd
import pytest

from budgetgym.envs import BudgetGymError
from budgetgym.envs.dates import MONTH_DAYS, calendar_day, date_texts, month_ends, next_dates, read_dates
from budgetgym.envs.scenario import load_scenario
from budgetgym.experiments.dataset_layout import period_dates


def _read(values: list[str], least: int = 2) -> tuple[pd.DatetimeIndex, float | None]:
    return read_dates(pd.DataFrame({"when": values}), "when", "file 'x.csv'", least=least)


def test_a_column_of_dates_and_its_step() -> None:
    dates, step = _read(["2024-01-01", "2024-01-08", "2024-01-15"])
    assert step == 7.0 and list(dates.day) == [1, 8, 15]
    assert _read(["15/01/2024", "15/02/2024", "15/03/2024"])[1] == MONTH_DAYS  # calendar months, day-first
    dates, step = _read(["2024-03-05"], least=1)
    assert step is None and dates[0] == pd.Timestamp("2024-03-05")


@pytest.mark.parametrize(
    ("values", "message"),
    [
        (["2024-01-01", "soon"], "column 'when', row 2: expected a date"),
        (["2024-01-01", "2024-01-01"], "row 2: date 2024-01-01 appears twice"),
        # hourly data: "appears twice" alone sent the user looking for a duplicated row
        (["2024-01-01 00:00", "2024-01-01 01:00"],
         "row 2: date 2024-01-01 appears twice (rows 1 and 2 differ only in the time of day); expected one row per"),
        (["2024-01-08", "2024-01-01"], "row 2: dates must increase"),
        (["2024-01-01", "2024-01-08", "2024-01-16"], "row 3: dates are not evenly spaced"),
        (["2024-01-01"], "expected at least 2 periods, got 1"),
        (["0001-01-01", "0001-01-08"], "row 1: date 0001-01-01 is out of range; expected a date from 1677-09-22"),
        (["2262-04-04", "2262-04-11", "2262-04-18"], "row 3: date 2262-04-18 is out of range"),
        (["2024-01-01", "March"], "row 2: date 'March' (read as 0001-03-01) is out of range"),
    ],
)
def test_bad_dates_are_one_line_naming_the_file_column_and_row(values: list[str], message: str) -> None:
    with pytest.raises(BudgetGymError) as err:
        _read(values)
    assert message in str(err.value) and "file 'x.csv'" in str(err.value) and "\n" not in str(err.value)


def test_the_dates_after_a_date() -> None:
    weekly = next_dates(pd.Timestamp("2024-12-30"), 7.0, 2)
    assert date_texts(weekly) == ["2025-01-06", "2025-01-13"]
    # months from the last day of January: February ends on the 29th in 2024, then back to the 31st
    assert date_texts(next_dates(pd.Timestamp("2024-01-31"), MONTH_DAYS, 3)) == ["2024-02-29", "2024-03-31",
                                                                                 "2024-04-30"]
    assert date_texts(next_dates(pd.Timestamp("2024-01-01"), 0.5, 2)) == ["2024-01-01T12:00:00",
                                                                          "2024-01-02T00:00:00"]


def test_month_end_dates_are_calendar_months_continued_on_month_ends() -> None:
    dates, step = _read(["2024-01-31", "2024-02-29", "2024-03-31", "2024-04-30"])
    assert step == MONTH_DAYS and month_ends(dates)
    assert date_texts(next_dates(dates[-1], step, 3, month_ends(dates))) == ["2024-05-31", "2024-06-30", "2024-07-31"]
    # the 28th of every month is a day of the month, though 28 February 2025 ends its month
    dates, step = _read(["2025-01-28", "2025-02-28", "2025-03-28"])
    assert step == MONTH_DAYS and not month_ends(dates)
    assert date_texts(next_dates(pd.Timestamp("2025-02-28"), step, 1, month_ends(dates[:2]))) == ["2025-03-28"]
    assert month_ends(pd.DatetimeIndex(["2025-04-30"])) and not month_ends(pd.DatetimeIndex(["2025-02-28"]))
    with pytest.raises(BudgetGymError, match="not evenly spaced"):  # month ends with one missing
        _read(["2024-01-31", "2024-02-29", "2024-04-30"])


def test_a_plan_may_run_past_the_last_year_a_data_date_can_be_in() -> None:
    assert date_texts(next_dates(pd.Timestamp("2261-06-01"), 7.0, 100))[-1] == "2263-05-02"  # 700 days on


def test_calendar_day_keeps_the_day_of_the_year_and_the_weekday() -> None:
    assert calendar_day(pd.Timestamp("2024-01-01")) == 0.0  # a Monday and 1 January, as day 0
    # Monday 6 January 2025: day of the year 5; weekday 0, so j = (0 - 5) mod 7 = 2 and the day is 5 + 730
    assert calendar_day(pd.Timestamp("2025-01-06")) == 735.0
    assert 735 % 7 == 0 and 735 % 365 == 5


def test_numeric_dates_are_read_the_way_that_holds() -> None:
    """Month first was taken whenever every value read that way; the data decide now."""
    with pytest.raises(BudgetGymError, match="reads both ways"):  # three days, or three months
        _read(["01.01.2024", "01.02.2024", "01.03.2024"])
    months = [f"01/{m:02d}/2024" for m in range(1, 13)] + ["01/01/2025"]  # the 13th row reads day first only
    dates, step = _read(months)
    assert step == MONTH_DAYS and list(dates.month) == [*range(1, 13), 1]
    # a single date: the same either way (5 May), or refused
    assert _read(["05/05/2024"], least=1)[0][0] == pd.Timestamp("2024-05-05")
    with pytest.raises(BudgetGymError) as err:
        _read(["03/04/2025"], least=1)
    assert str(err.value) == ("file 'x.csv': column 'when', row 1: date '03/04/2025' reads both ways: 2025-03-04 as "
                              "MM/DD/YYYY, 2025-04-03 as DD/MM/YYYY; expected dates as YYYY-MM-DD")
    # neither way holds: the usual reading's error, saying the other fails too
    with pytest.raises(BudgetGymError, match=r"row 3: .*not evenly spaced.*; read as MM/DD/YYYY, and as DD/MM/YYYY "
                                             r"the dates fail too$"):
        _read(["01/02/2024", "08/02/2024", "09/02/2024"])


@pytest.mark.parametrize(("values", "message"), [
    # read value by value (21/01 day first, as it can only be; 07/01 would be month first) and accepted
    (["2024-01-07", "2024-01-14", "21/01/2024", "28/01/2024"], "'2024-01-07' (row 1) and '21/01/2024' (row 3)"),
    (["07/01/2024", "2024-01-14", "2024-01-21"], "'07/01/2024' (row 1) and '2024-01-14' (row 2)"),
    (["07/01/2024", "14.01.2024", "21.01.2024"], "'07/01/2024' (row 1) and '14.01.2024' (row 2)"),
    (["07/01/2024", "14/01/24", "21/01/24"], "'07/01/2024' (row 1) and '14/01/24' (row 2)"),
])
def test_a_column_mixing_date_formats_is_refused_in_one_line(values: list[str], message: str) -> None:
    """ISO dates among dd/mm/yyyy ones were read one by one, ambiguous ones month first: accepted as other
    dates, or refused as 'must increase' (07/01/2024 read as 1 July among January weeks), never naming the formats."""
    with pytest.raises(BudgetGymError) as err:
        _read(values)
    assert str(err.value) == (f"file 'x.csv': column 'when' mixes date formats: {message}; expected one format for "
                              f"every date, preferably YYYY-MM-DD")
    # one format throughout, with or without a time of day, is read as before
    assert _read(["2024-01-07", "2024-01-14 00:00"])[1] == 7.0


@pytest.mark.parametrize("start_day", [0, 100, 365, 366, 400, 731, 1000, 2554])
def test_a_simulated_start_day_reads_back_exactly(start_day: int) -> None:
    """simulate dated day d as 2024-01-01 + d, which calibrate's calendar_day reads back 364 days on from
    d = 366 (2025-01-01 is a Wednesday: day 730, not 366), moving the yearly phase 1.25 days. Each day below
    7 x 365 is now dated in a year whose 1 January has the weekday d // 365, which calendar_day reads as d."""
    sc = load_scenario("stationary-3").override({"start_day": float(start_day)})
    first = pd.Timestamp(period_dates(sc, 3)[0])
    assert calendar_day(first) == start_day
    assert pd.Timestamp(period_dates(sc, 3)[2]) - first == pd.Timedelta(days=2)  # daily steps: real days on
    if start_day < 366:  # the dates of 2024 are kept: day 100 is 10 April 2024, by hand
        assert first == pd.Timestamp("2024-01-01") + pd.Timedelta(days=start_day)


@pytest.mark.parametrize("start_day", [2555, 8031, 20_000, 87_500, 99_999.5])
def test_a_late_simulated_start_day_is_a_date_calibrate_reads_with_its_weekday_and_yearly_phase(
    start_day: float,
) -> None:
    """A scenario takes a start day up to 1e5, but day 87,040 on was dated after 2262-04-11 (2024-01-01 + d),
    the last date calibrate reads: simulate wrote a dataset whose first row calibrate refused ("out of range");
    and from 7 x 365 the yearly phase read back was up to 2.25 days off where the docs said within 1.5 (day
    20,000: 1.75). A late day's date now reads back (calendar_day) with day d's weekday (d mod 7, day 0 a
    Monday) and its yearly phase (d mod 365.25) within half a day, and a year of steps stays in range."""
    sc = load_scenario("stationary-3").override({"start_day": float(start_day)})
    dates = [pd.Timestamp(d) for d in period_dates(sc, 366)]
    assert dates[-1] <= pd.Timestamp("2262-04-11")
    back = calendar_day(dates[0])
    d = int(start_day)  # the date is of floor(start_day)
    assert back % 7 == d % 7
    phase = abs(back % 365.25 - d % 365.25)
    assert min(phase, 365.25 - phase) <= 0.5
