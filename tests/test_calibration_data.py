"""Reading MMM datasets: the public example layouts (Meridian, Robyn, PyMC-Marketing) as they are,
and every bad file refused in one line (CLI exit 2), with nothing written."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import run_cli

from budgetgym.calibration import calibrate, read_mmm_csv
from budgetgym.calibration.calibrate import reward_note
from budgetgym.calibration.data import MONTH_DAYS, channel_name
from budgetgym.calibration.export import fit_costs
from budgetgym.envs.errors import BudgetGymError

RNG = np.random.default_rng(0)
T = 60


def _weeks(n: int = T, start: str = "2022-01-03") -> list[str]:
    return list(pd.date_range(start, periods=n, freq="7D").strftime("%Y-%m-%d"))


def _spend(n: int = T) -> np.ndarray:
    return RNG.uniform(0, 1000, n) * (RNG.uniform(size=n) > 0.3)


def test_meridian_national_layout(tmp_path: Path) -> None:
    """``time, conversions, revenue_per_conversion, Channel0_impression, Channel0_spend, ...,
    competitor_activity_score_control, sentiment_score_control``."""
    cols: dict[str, object] = {"time": _weeks(), "conversions": RNG.uniform(1e3, 2e3, T),
                               "revenue_per_conversion": RNG.uniform(0.5, 1.5, T)}
    for i in range(4):
        cols[f"Channel{i}_impression"] = RNG.uniform(1e5, 1e6, T)
        cols[f"Channel{i}_spend"] = _spend()
    cols["competitor_activity_score_control"] = RNG.normal(size=T)
    cols["sentiment_score_control"] = RNG.normal(size=T)
    pd.DataFrame(cols).to_csv(tmp_path / "national_media.csv", index=False)
    d = read_mmm_csv(tmp_path / "national_media.csv", date="time", kpi="conversions",
                     spend=",".join(f"Channel{i}_spend" for i in range(4)),
                     exposure=",".join(f"Channel{i}_impression" for i in range(4)),
                     controls="competitor_activity_score_control,sentiment_score_control", count_kpi=True)
    assert d.channels == ("Channel0", "Channel1", "Channel2", "Channel3") and d.step_days == 7.0
    assert d.exposure is not None and d.exposure.shape == (T, 4) and d.controls.shape == (T, 2)
    # some channels by their impressions, the others ('-' or empty) by their spend
    mixed = read_mmm_csv(tmp_path / "national_media.csv", date="time", kpi="conversions",
                         spend=",".join(f"Channel{i}_spend" for i in range(4)),
                         exposure="Channel0_impression,-,,Channel3_impression")
    assert mixed.exposure_columns == ("Channel0_impression", None, None, "Channel3_impression")
    assert mixed.exposure is not None
    np.testing.assert_array_equal(mixed.exposure[:, 1], cols["Channel1_spend"])
    np.testing.assert_array_equal(mixed.exposure[:, 3], cols["Channel3_impression"])
    costs = fit_costs(mixed)
    assert costs.unit == ("impression", "click", "click", "impression") and costs.price[1] == costs.price[2] == 1.0
    assert costs.elasticity[1] == 0.0


def test_robyn_layout_with_text_events(tmp_path: Path) -> None:
    """``DATE, revenue, tv_S, ooh_S, print_S, facebook_I, search_clicks_P, search_S,
    competitor_sales_B, facebook_S, events, newsletter``; ``events`` is text: one dummy per level
    but the most frequent ('na'), and the fit runs with it."""
    events = np.where(RNG.uniform(size=T) < 0.8, "na", np.where(RNG.uniform(size=T) < 0.5, "event1", "event2"))
    cols = {"DATE": _weeks(), "revenue": RNG.uniform(1e6, 2e6, T), "tv_S": _spend(), "ooh_S": _spend(),
            "print_S": _spend(), "facebook_I": RNG.uniform(1e6, 1e7, T), "search_clicks_P": RNG.uniform(1e4, 1e5, T),
            "search_S": _spend(), "competitor_sales_B": RNG.uniform(1e6, 1e7, T), "facebook_S": _spend(),
            "events": events, "newsletter": RNG.uniform(0, 1e4, T)}
    pd.DataFrame(cols).to_csv(tmp_path / "dt_simulated_weekly.csv", index=False)
    args = dict(date="DATE", kpi="revenue", spend="tv_S,search_S,facebook_S",
                exposure=None, controls="competitor_sales_B,events,newsletter")
    d = read_mmm_csv(tmp_path / "dt_simulated_weekly.csv", **args)  # type: ignore[arg-type]
    assert d.channels == ("tv", "search", "facebook")
    assert d.control_names == ("competitor_sales_B", "events=event1", "events=event2", "newsletter")
    np.testing.assert_array_equal(d.controls[:, 1], events == "event1")
    d2 = read_mmm_csv(tmp_path / "dt_simulated_weekly.csv", date="DATE", kpi="revenue",
                      spend="search_S,facebook_S", exposure="search_clicks_P,facebook_I")
    assert d2.exposure_columns == ("search_clicks_P", "facebook_I")
    res = calibrate(tmp_path / "dt_simulated_weekly.csv", draws=0, fourier=0, **args)  # type: ignore[arg-type]
    assert "events=event1" in res.fit.baseline_names and res.reward == "revenue"


def test_pymc_marketing_layout(tmp_path: Path) -> None:
    """``date_week, y, x1, x2, event_1, event_2, t``; ``t`` (a time index) duplicates the trend, so
    as a control it is refused in one line naming it."""
    e1 = np.zeros(T)
    e1[10] = 1
    e2 = np.zeros(T)
    e2[40] = 1
    cols = {"date_week": _weeks(), "y": RNG.uniform(3000, 6000, T), "x1": _spend(), "x2": _spend(),
            "event_1": e1, "event_2": e2, "t": np.arange(T)}
    pd.DataFrame(cols).to_csv(tmp_path / "data_mmm.csv", index=False)
    d = read_mmm_csv(tmp_path / "data_mmm.csv", date="date_week", kpi="y", spend="x1,x2", controls="event_1,event_2")
    assert d.channels == ("x1", "x2") and d.controls.shape == (T, 2)
    trend = r"baseline column 't' is a time index \(a linear trend\): the fit has its own trend term; drop it$"
    with pytest.raises(BudgetGymError, match=trend):
        calibrate(tmp_path / "data_mmm.csv", date="date_week", kpi="y", spend="x1,x2", controls="t", draws=0)
    # with a holdout, the whole data's problem was reported as the holdout's ("--holdout 13: the fit on the first
    # 91 of 104 periods: ... 't' is constant or a combination ..."), as if holding out periods had caused it
    with pytest.raises(BudgetGymError, match=r"^data file '[^']*': " + trend):
        calibrate(tmp_path / "data_mmm.csv", date="date_week", kpi="y", spend="x1,x2", controls="event_1,event_2,t",
                  holdout=13, draws=0)


@pytest.mark.parametrize(("layout", "first"), [
    ("%d/%m/%Y", "03/01/2022"), ("%m/%d/%Y", "01/03/2022"), ("%d.%m.%Y", "03.01.2022"),
    ("%Y-%m-%dT00:00:00+05:00", "2022-01-03T00:00:00+05:00"), ("%Y-%m-%d 13:45", "2022-01-03 13:45"),
])
def test_a_date_column_is_read_in_one_format(tmp_path: Path, layout: str, first: str) -> None:
    """Day-first dates (29/01/2022) were read month-first where they could be and the file refused as
    'dates must increase'; each layout now gives the ISO file's dates."""
    weeks = pd.date_range("2022-01-03", periods=T, freq="7D")
    frame = _good().assign(date=weeks.strftime(layout))
    assert frame["date"].iloc[0] == first
    frame.to_csv(tmp_path / "d.csv", index=False)
    d = read_mmm_csv(tmp_path / "d.csv", date="date", kpi="revenue", spend="a_spend,b_spend")
    assert d.step_days == 7.0 and d.dates.dtype == np.dtype("datetime64[ns]")
    np.testing.assert_array_equal(d.dates, weeks.to_numpy())


@pytest.mark.parametrize(("start", "freq", "layout"), [
    ("2024-02-01", "7D", "%d/%m/%Y"),  # 01/02, 08/02 read month first would do; 15/02 would not
    ("2024-02-01", "7D", "%d-%m-%Y"),  # dashes: read value by value, 01-02 month first and 15-02 day first
    ("2024-01-01", "MS", "%d/%m/%Y"),  # monthly on the 1st: every value reads month first too
    ("2024-01-05", "MS", "%d.%m.%Y"),
    ("2024-01-01", "MS", "%m/%d/%Y"),  # US files as before
    ("2024-01-01", "7D", "%m/%d/%Y"),
    ("2024-01-01", "MS", "%m.%d.%Y"),
])
def test_day_and_month_first_dates_are_told_apart_by_the_data(tmp_path: Path, start: str, freq: str,
                                                              layout: str) -> None:
    """Numeric dates were read month first whenever every value allowed it: day-first monthly data on
    the 1st was twelve days and a jump ('not evenly spaced'), dashed day-first weeks 'must increase'.
    The reading that holds (every date parses, increases, evenly spaced) is taken."""
    n = 30
    dates = pd.date_range(start, periods=n, freq=freq)
    frame = _good().iloc[:n].assign(date=dates.strftime(layout))
    frame.to_csv(tmp_path / "d.csv", index=False)
    d = read_mmm_csv(tmp_path / "d.csv", date="date", kpi="revenue", spend="a_spend,b_spend")
    np.testing.assert_array_equal(d.dates, dates.to_numpy())
    assert d.step_days == (MONTH_DAYS if freq == "MS" else 7.0)


def test_dates_that_read_both_ways_are_refused_in_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Few rows, every day and month at most 12: 01/01, 01/02, ... are the first days of January, or
    the first of each month. Month first was taken silently (a day-first user's months read as days);
    now the file is refused, naming the row and both readings, and ISO dates are asked for."""
    months = pd.date_range("2024-01-01", periods=6, freq="MS")
    _good().iloc[:6].assign(date=months.strftime("%d/%m/%Y")).to_csv(tmp_path / "d.csv", index=False)
    with pytest.raises(BudgetGymError) as err:
        read_mmm_csv(tmp_path / "d.csv", date="date", kpi="revenue", spend="a_spend,b_spend")
    assert str(err.value) == (
        f"data file '{tmp_path / 'd.csv'}': column 'date', row 2: date '01/02/2024' reads both ways: 2024-01-02 as "
        "MM/DD/YYYY (dates 1 day apart), 2024-02-01 as DD/MM/YYYY (dates a calendar month apart); expected dates "
        "as YYYY-MM-DD"
    )
    code, _, msg = run_cli(capsys, "calibrate", str(tmp_path / "d.csv"), "--date", "date", "--kpi", "revenue",
                           "--spend", "a_spend,b_spend", "--draws", "0", "--out", str(tmp_path / "out"))
    assert code == 2 and "reads both ways" in msg and "Traceback" not in msg and not (tmp_path / "out").exists()


def test_channel_names_and_monthly_dates(tmp_path: Path) -> None:
    assert [channel_name(c) for c in ("tv_S", "Channel0_spend", "x1", "search_clicks_P", "a.b_spend", "7")] == [
        "tv", "Channel0", "x1", "search_clicks_P", "a_b", "ch7"]
    months = list(pd.date_range("2020-01-15", periods=36, freq="MS").shift(14, freq="D").strftime("%Y-%m-%d"))
    pd.DataFrame({"month": months, "sales": RNG.uniform(1, 2, 36), "tv_spend": _spend(36),
                  "tv_cost": _spend(36)}).to_csv(tmp_path / "m.csv", index=False)
    d = read_mmm_csv(tmp_path / "m.csv", date="month", kpi="sales", spend="tv_spend,tv_cost")
    assert d.step_days == MONTH_DAYS and d.channels == ("tv_spend", "tv_cost")  # stripped names collide


def test_a_channel_is_not_named_like_a_column_the_planner_skips(tmp_path: Path) -> None:
    """A spend column ``date_spend`` (or ``total``, ``week_S``, ...) made a channel named ``date`` (``total``,
    ``week``): ``history.csv``'s ``date`` column held its spend, and ``plan family.yaml --history history.csv``
    refused the file ("missing channel column(s) date"), as the planner skips those columns of a per-step
    table. Such a channel keeps its column's name."""
    from budgetgym.envs.family import load_family
    from budgetgym.planner.inputs import INDEX_COLUMNS, read_history_file

    assert [channel_name(c) for c in ("date_spend", "Total", "week_S", "tv_spend")] == [
        "date_spend", "ch_Total", "week_S", "tv"]
    frame = _good().rename(columns={"date": "when", "a_spend": "date_spend", "b_spend": "total"})
    frame.to_csv(tmp_path / "d.csv", index=False)
    res = calibrate(tmp_path / "d.csv", date="when", kpi="revenue", spend="date_spend,total", draws=0, fourier=0,
                    starts=2, out=tmp_path / "fit", plots=False)
    assert not {c.lower() for c in res.fit.channels} & set(INDEX_COLUMNS)
    scenario = load_family(tmp_path / "fit" / "family.yaml").nominal()
    history = read_history_file(tmp_path / "fit" / "history.csv", scenario)
    np.testing.assert_array_equal(history.spend, frame[["date_spend", "total"]].to_numpy())
    assert history.dates is not None and history.dates[0] == pd.Timestamp(frame["when"].iloc[0])


def test_month_end_data_is_monthly_and_its_window_starts_at_the_next_month_end(tmp_path: Path) -> None:
    """Monthly data dated on each month's last day (31 Jan, 29 Feb, 31 Mar, ...) was refused as
    unevenly spaced; it is monthly, elapsed time counts months, and the planning window starts on the
    last day of the month after the data (31 January 2027 after December 2026)."""
    from budgetgym.calibration.export import plan_window

    ends = list(pd.date_range("2024-01-31", periods=36, freq="ME").strftime("%Y-%m-%d"))
    assert ends[:3] == ["2024-01-31", "2024-02-29", "2024-03-31"] and ends[-1] == "2026-12-31"
    pd.DataFrame({"month": ends, "sales": RNG.uniform(1, 2, 36), "tv_spend": _spend(36)}).to_csv(
        tmp_path / "m.csv", index=False)
    d = read_mmm_csv(tmp_path / "m.csv", date="month", kpi="sales", spend="tv_spend")
    assert d.step_days == MONTH_DAYS
    np.testing.assert_allclose(d.days - d.days[0], MONTH_DAYS * np.arange(36))
    window = plan_window(d, periods=3)
    assert window.first_date == pd.Timestamp("2027-01-31")


def test_a_true_false_control_is_a_dummy(tmp_path: Path) -> None:
    """A holiday flag written ``True``/``False`` (or ``true``/``false``, ``TRUE``/``FALSE``: pandas reads
    each as booleans) is a control of 1 in the flagged periods and 0 elsewhere, under its own name (not
    one-hot encoded as text), and the fit runs with it; only spend, exposure and the KPI refuse booleans."""
    flag = np.arange(T) % 5 == 0
    frame = _good()
    lines = ["date,revenue,a_spend,b_spend,holiday,promo"] + [
        f"{d},{r},{a},{b},{'True' if f else 'False'},{'true' if g else 'FALSE'}"
        for d, r, a, b, f, g in zip(frame["date"], frame["revenue"], frame["a_spend"], frame["b_spend"], flag,
                                    ~flag, strict=True)]
    (tmp_path / "d.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    d = read_mmm_csv(tmp_path / "d.csv", date="date", kpi="revenue", spend="a_spend,b_spend", controls="holiday,promo")
    assert d.control_names == ("holiday", "promo")
    np.testing.assert_array_equal(d.controls, np.column_stack([flag, ~flag]).astype(float))
    res = calibrate(tmp_path / "d.csv", date="date", kpi="revenue", spend="a_spend,b_spend", controls="holiday",
                    draws=0, fourier=0, starts=2)
    assert "holiday" in res.fit.baseline_names


def _good() -> pd.DataFrame:
    return pd.DataFrame({"date": _weeks(), "revenue": RNG.uniform(1e4, 2e4, T), "a_spend": _spend(),
                         "b_spend": _spend()})


def _whole_numbers_but(row: int, col: str, value: str) -> str:
    """:func:`_good` ``;``-separated, its numbers whole (no decimal mark shown), but cell ``row, col`` ``value``."""
    df = _good()
    cols = ["revenue", "a_spend", "b_spend"]
    df[cols] = df[cols].round().astype(int)
    df[col] = df[col].astype(object)
    df.loc[row, col] = value
    return df.to_csv(index=False, sep=";")


def _bad_cases() -> list[tuple[str, pd.DataFrame | str, list[str], str]]:
    """``(label, table or the file's text, extra arguments, message)``."""
    def edit(fn):  # type: ignore[no-untyped-def]
        df = _good()
        fn(df)
        return df

    def cell(col: str, row: int, value: object):  # type: ignore[no-untyped-def]
        def go(df: pd.DataFrame) -> None:
            df[col] = df[col].astype(object)
            df.loc[row, col] = value
        return go

    dates = _weeks()
    uneven = dates[:20] + list(pd.date_range(pd.Timestamp(dates[19]) + pd.Timedelta(days=8), periods=T - 20,
                                             freq="7D").strftime("%Y-%m-%d"))
    return [
        ("missing column", _good().drop(columns="b_spend").assign(bb_spend=1.0), [],
         "--spend: no column 'b_spend' (did you mean 'bb_spend'?)"),
        ("negative spend", edit(cell("b_spend", 4, -5.0)), [],
         "column 'b_spend', row 5: spend must be non-negative, got -5"),
        ("non-numeric spend", edit(cell("a_spend", 2, "1,200")), [],
         "column 'a_spend', row 3: spend must be a finite number, got '1,200'"),
        ("non-finite KPI", edit(cell("revenue", 7, "")), [],
         "column 'revenue', row 8: the KPI must be a finite number, got an empty or NaN cell"),
        ("infinite spend", edit(cell("a_spend", 1, "inf")), [],
         "column 'a_spend', row 2: spend must be a finite number, got inf"),
        ("constant KPI", edit(lambda df: df.__setitem__("revenue", 5.0)), [],
         "column 'revenue': the KPI is 5 in every period; a fit needs a KPI that varies"),
        ("KPI too large", edit(cell("revenue", 2, 1e300)), [],
         "column 'revenue', row 3: the KPI must be at most 1e+12 in size, got 1e+300; rescale the column"),
        ("spend too large", edit(cell("a_spend", 2, 1e16)), [],
         "column 'a_spend', row 3: spend must be at most 1e+15 in size, got 1e+16"),
        ("cost per click", edit(lambda df: df.__setitem__("a_clicks", df["a_spend"] * 1e11)),
         ["--exposure", "a_clicks,-"],
         "columns 'a_spend' and 'a_clicks': the cost per click (spend / exposure) is 1e-11, outside a scenario's"),
        ("default plan budget", edit(lambda df: df.__setitem__("a_spend", 1e14)), [],
         "the spend of 13 periods (the default --plan-budget) is 1.3"),
        ("column named twice", _good().rename(columns={"b_spend": "a_spend"}), [],
         "the header names column 'a_spend' twice"),
        # ';' and tabs are read (test_csv_table.py); '|' is not
        ("pipes", _good().to_csv(index=False, sep="|"), [],
         "expected columns separated by ',', ';' or tabs, got a header separated by '|'"),
        # a ';' file whose numbers do not show their decimal mark: 1.234 is 1234 or 1.234, never guessed
        ("ambiguous decimal mark", _whole_numbers_but(0, "a_spend", "1.234"), [],
         "reads as 1234 with the decimal comma and as 1.234 with the decimal point, and no other number shows the "
         "file's decimal mark: pass --decimal , (it is 1234) or --decimal . (it is 1.234)"),
        ("uneven dates", edit(lambda df: df.__setitem__("date", uneven)), [],
         "row 21: dates are not evenly spaced: 2022-05-24 is 8 days after the previous date, expected 7"),
        ("duplicated date", edit(cell("date", 5, dates[4])), [], "row 6: date 2022-01-31 appears twice"),
        ("unparseable date", edit(cell("date", 3, "someday")), [], "column 'date', row 4: expected a date"),
        # ISO dates among day-first ones were read value by value, the ambiguous ones month first, unchecked
        ("mixed date formats", edit(lambda df: df.__setitem__("date", [pd.Timestamp(d).strftime(
            "%d/%m/%Y" if i >= 10 else "%Y-%m-%d") for i, d in enumerate(dates)])), [],
         "column 'date' mixes date formats: '2022-01-03' (row 1) and '14/03/2022' (row 11); expected one format"),
        ("mixed time zones", edit(lambda df: df.__setitem__("date", [f"{d}T00:00:00{'+05:00' if i % 2 else 'Z'}"
                                                                      for i, d in enumerate(dates)])), [],
         "column 'date': the dates are in different time zones (or only some have one)"),
        ("too few periods", _good().head(15), [],
         "15 periods for 10 parameters (2 channels x 4, 2 baseline terms); need at least 20 periods"),
        ("exposure count", _good(), ["--exposure", "a_spend"], "--exposure: expected one exposure column per spend"),
        # a channel with impressions but never any spend was bought at a made-up CPM of 1
        ("exposure never bought", edit(lambda df: (df.__setitem__("b_spend", 0.0),
                                                   df.__setitem__("b_impressions", 1e4 + 100.0 * np.arange(T)))),
         ["--exposure", "-,b_impressions"],
         "columns 'b_spend' and 'b_impressions': the spend is zero in every period, so the cost per 1000 "
         "impressions cannot be estimated and the channel cannot be planned; give 'b_impressions' as a control"),
        # a spend that never varies: its effect is a constant the intercept absorbs, and its beta was whatever the
        # first periods' carry-over ramp and the noise made of it (0, or 8e13, refused as "rescale the KPI")
        ("spend the same in every period", edit(lambda df: df.__setitem__("b_spend", 250.0)), [],
         "column 'b_spend': the spend is 250 in every period, so the channel's effect cannot be told from the "
         "baseline's intercept; drop the channel, or give a lift test of it (--lift-tests)"),
        ("two spends the same in every period",
         edit(lambda df: (df.__setitem__("a_spend", 10.0), df.__setitem__("b_spend", 1.0))), [],
         "columns 'a_spend' and 'b_spend': each channel's spend is the same in every period (10 and 1), so the "
         "channels' effects cannot be told from the baseline's intercept; drop the channels, or give a lift test of "
         "each (--lift-tests)"),
        ("exposure the same in every period", edit(lambda df: df.__setitem__("b_impressions", 5e4)),
         ["--exposure", "-,b_impressions"],
         "column 'b_spend': the exposure column 'b_impressions' is 50000 in every period, so the channel's effect "
         "cannot be told from the baseline's intercept; drop the channel, or give a lift test of it (--lift-tests)"),
        ("spend and clicks never together", edit(lambda df: (
            df.__setitem__("b_spend", np.where(np.arange(T) % 2 == 0, 100.0, 0.0)),
            df.__setitem__("b_clicks", np.where(np.arange(T) % 2 == 1, 50.0, 0.0)))), ["--exposure", "-,b_clicks"],
         "columns 'b_spend' and 'b_clicks': no period has both spend and exposure, so the cost per click cannot be "
         "estimated; check that the two columns are aligned"),
        # a true/false column in an amount's place was read as spend 1 / 0 (pandas reads it as booleans)
        ("boolean spend", edit(lambda df: df.__setitem__("b_spend", np.arange(T) % 3 > 0)), [],
         "column 'b_spend', row 1: spend must be a number, got False (a column of true/false values)"),
        ("lowercase boolean spend", "\n".join(["date,revenue,a_spend,b_spend"] + [
            f"{d},{1e4 + 100 * i},{'true' if i % 3 else 'false'},{10 * i}" for i, d in enumerate(dates)]), [],
         "column 'a_spend', row 1: spend must be a number, got False (a column of true/false values)"),
        ("boolean spend with an empty cell", "\n".join(["date,revenue,a_spend,b_spend"] + [
            f"{d},{1e4 + 100 * i},{10 * i},{'' if i == 0 else 'TRUE' if i % 3 else 'FALSE'}"
            for i, d in enumerate(dates)]), [],
         "column 'b_spend', row 2: spend must be a number, got True (a column of true/false values)"),
        ("boolean exposure", edit(lambda df: df.__setitem__("a_imp", np.arange(T) % 3 > 0)), ["--exposure", "a_imp,-"],
         "column 'a_imp', row 1: exposure must be a number, got False (a column of true/false values)"),
        ("boolean KPI", edit(lambda df: df.__setitem__("revenue", np.arange(T) % 2 == 1)), [],
         "column 'revenue', row 1: the KPI must be a number, got False (a column of true/false values)"),
        # a text control of one value made no dummy: the fit ran without it, silently
        ("constant text control", edit(lambda df: df.__setitem__("season", "summer")), ["--controls", "season"],
         "column 'season': the control is 'summer' in every period; a constant control has nothing to fit, drop it"),
        # a control repeating a spend column was fitted beside the channel's curve, silently sharing its effect
        ("control equal to spend", edit(lambda df: df.__setitem__("promo", df["b_spend"])), ["--controls", "promo"],
         "column 'promo': the control equals the spend column 'b_spend' in every period; drop it"),
        # two equal controls: 'baseline column 'z2' is constant or a combination of ... earlier controls', naming one
        ("equal controls", edit(lambda df: (df.__setitem__("z1", np.arange(T) % 4), df.__setitem__("z2", df["z1"]))),
         ["--controls", "z1,z2"], "column 'z2': the control equals the control column 'z1' in every period; drop it"),
        ("equal text controls", edit(lambda df: (df.__setitem__("s1", np.where(np.arange(T) % 2, "on", "off")),
                                                 df.__setitem__("s2", df["s1"]))),
         ["--controls", "s1,s2"], "column 's2': the control equals the control column 's1' in every period; drop it"),
        # numbers written with a percent sign or a thousands separator were text: one-hot encoded, a level each
        ("percent control", edit(lambda df: df.__setitem__("discount", [f"{10 * (i % 3)}%" for i in range(T)])),
         ["--controls", "discount"],
         "column 'discount', row 1: a control must be a plain number, got '0%' (a percent sign or a thousands "
         "separator); write it as a number"),
        ("thousands control", edit(lambda df: df.__setitem__("rival", [f"{1000 + 500 * (i % 4):,}" for i in range(T)])),
         ["--controls", "rival"],
         "column 'rival', row 1: a control must be a plain number, got '1,000' (a percent sign or a thousands "
         "separator); write it as a number"),
        # thousands grouped by a space are read (test_csv_table.py), not with a percent sign
        ("spaced thousands percent control", edit(lambda df: df.__setitem__("rival", [
            f"{1000 + 500 * (i % 4):,}%".replace(",", "\u202f") for i in range(T)])), ["--controls", "rival"],
         "column 'rival', row 1: a control must be a plain number, got '1\\u202f000%' (a percent sign or a thousands "
         "separator); write it as a number"),
        # digits split other than in threes: never guessed at, as in a spend column (and never a level of a text
        # control: it was one-hot encoded when no cell read as a number once its spaces were dropped)
        ("mis-grouped control", edit(lambda df: df.__setitem__("rival", [
            "12 34" if i == 3 else f"{1000 + 500 * (i % 4):,}".replace(",", " ") for i in range(T)])),
         ["--controls", "rival"],
         "column 'rival', row 4: '12 34' groups its digits with a space, but not in threes; expected a number such as "
         "'1 234 567.5' (or one written without grouping)"),
        ("mis-grouped text control", edit(lambda df: df.__setitem__("event", [
            "12 345 6" if i == 5 else ("promo" if i % 2 else "none") for i in range(T)])), ["--controls", "event"],
         "column 'event', row 6: '12 345 6' groups its digits with a space, but not in threes"),
        # pandas read the extra field as an index and shifted every column: "column 'date': expected a date, got 1e4"
        ("trailing commas", "\n".join(["date,revenue,a_spend,b_spend"] + [
            f"{d},{1e4 + 100 * i},{10 * i},{5 * i}," for i, d in enumerate(dates)]), [],
         "not a readable CSV table (Error tokenizing data. C error: Expected 4 fields in line 2, saw 5)"),
    ]


@pytest.mark.parametrize(("label", "frame", "extra", "message"), _bad_cases(), ids=[c[0] for c in _bad_cases()])
def test_bad_files_exit_2_with_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], label: str, frame: pd.DataFrame | str, extra: list[str],
    message: str,
) -> None:
    path = tmp_path / "bad.csv"
    if isinstance(frame, str):
        path.write_text(frame, encoding="utf-8")
    else:
        frame.to_csv(path, index=False)
    argv = ["calibrate", str(path), "--date", "date", "--kpi", "revenue", "--spend", "a_spend,b_spend", "--draws",
            "0", "--out", str(tmp_path / "out"), *extra]
    code, out, err = run_cli(capsys, *argv)
    assert code == 2, (label, out, err)
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"error: data file '{path}'"), lines
    assert message in lines[0], lines[0]
    assert not (tmp_path / "out").exists()  # nothing half-written


def test_a_date_beyond_pandas_nanoseconds_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A date before 1677-09-22 or after 2262-04-11 (which pandas 3 parses, to microseconds) was a traceback
    (OutOfBoundsDatetime) when the dates were converted to nanoseconds; pandas 2 does not parse it."""
    df = _good()
    df["date"] = [(dt.date(2262, 3, 4) + dt.timedelta(days=7 * i)).isoformat() for i in range(T)]  # weekly
    df.to_csv(tmp_path / "d.csv", index=False)
    code, _, err = run_cli(capsys, "calibrate", str(tmp_path / "d.csv"), "--date", "date", "--kpi", "revenue",
                           "--spend", "a_spend,b_spend", "--draws", "0", "--out", str(tmp_path / "out"))
    assert code == 2 and len(err.strip().splitlines()) == 1, err
    assert re.search(r"^error: data file '.*d\.csv': column 'date', row 7: (date 2262-04-15 is out of range; expected "
                     r"a date from 1677-09-22 to 2262-04-11|expected a date .*got '2262-04-15')$", err.strip()), err
    assert not (tmp_path / "out").exists()


def test_a_holdout_whose_fit_sees_a_constant_kpi_is_one_line(tmp_path: Path) -> None:
    """The file's KPI varies, but not before the held-out tail: the holdout's fit ran on a constant KPI
    (R² n/a, MAPE 0.00% in fit.md, and a warning comparing the forecast with that 0%), where the whole
    file's constant KPI is refused."""
    df = _good()
    df.loc[: T - 11, "revenue"] = 1000.0
    df.to_csv(tmp_path / "d.csv", index=False)
    with pytest.raises(BudgetGymError, match="^--holdout 10: the fit on the first 50 of 60 periods: data file .*: "
                                             "column 'revenue': the KPI is 1000 in every period"):
        calibrate(tmp_path / "d.csv", date="date", kpi="revenue", spend="a_spend,b_spend", draws=0, holdout=10)


def test_a_holdout_whose_fit_sees_a_channel_never_spent_is_one_line(tmp_path: Path) -> None:
    """A channel first spent in the held-out tail: the holdout's fit gave it no curve (beta 0), so the
    forecast of the tail left out the channel spent there and fit.md scored that forecast as the
    model's, where the whole file's channel never spent is refused."""
    df = _good()
    df.loc[: T - 11, "b_spend"] = 0.0
    df.loc[T - 10:, "b_spend"] = 500.0
    df.to_csv(tmp_path / "d.csv", index=False)
    args = dict(date="date", kpi="revenue", spend="a_spend,b_spend", draws=0, fourier=0)
    with pytest.raises(BudgetGymError, match="^--holdout 10: the fit on the first 50 of 60 periods: data file .*: "
                                             "column 'b_spend': the spend is zero in every period"):
        calibrate(tmp_path / "d.csv", holdout=10, **args)  # type: ignore[arg-type]
    assert calibrate(tmp_path / "d.csv", holdout=9, **args).holdout is not None  # type: ignore[arg-type]


def test_negative_counts_and_bad_options(tmp_path: Path) -> None:
    df = _good()
    df.loc[3, "revenue"] = -1.0
    df.to_csv(tmp_path / "d.csv", index=False)
    args = dict(date="date", kpi="revenue", spend="a_spend,b_spend", draws=0)
    with pytest.raises(BudgetGymError, match="row 4: a count likelihood \\(poisson, negative_binomial\\) needs "
                                             "a KPI >= 0, got -1"):
        calibrate(tmp_path / "d.csv", likelihood="poisson", **args)  # type: ignore[arg-type]
    with pytest.raises(BudgetGymError, match="--adstock: unknown value 'geometrc' \\(did you mean 'geometric'"):
        calibrate(tmp_path / "d.csv", adstock="geometrc", **args)  # type: ignore[arg-type]
    with pytest.raises(BudgetGymError, match="--holdout: expected 0 to 59 periods, got 60"):
        calibrate(tmp_path / "d.csv", holdout=T, **args)  # type: ignore[arg-type]
    with pytest.raises(BudgetGymError, match="^--holdout 45: the fit on the first 15 of 60 periods: data file .*: "
                                             "15 periods for 14 parameters"):  # the whole data's model (yearly terms)
        calibrate(tmp_path / "d.csv", holdout=45, **args)  # type: ignore[arg-type]
    with pytest.raises(BudgetGymError, match="^--seed: expected an integer from 0 to 4294967295, got -1$"):  # numpy's
        calibrate(tmp_path / "d.csv", seed=-1, **args)  # type: ignore[arg-type]
    with pytest.raises(BudgetGymError, match="^--seed: expected an integer from 0 to 4294967295, got 4294967296$"):
        calibrate(tmp_path / "d.csv", seed=2**32, **args)  # type: ignore[arg-type]  # the family's seed: two words
    with pytest.raises(BudgetGymError, match="^--draws: expected 0 to 10000 draws, got 100000000000$"):  # ran on
        calibrate(tmp_path / "d.csv", **{**args, "draws": 10**11})  # type: ignore[arg-type]
    with pytest.raises(BudgetGymError, match="^--draws: expected 0 .* or at least 2 draws, got 1$"):  # no ensemble
        calibrate(tmp_path / "d.csv", **{**args, "draws": 1})  # type: ignore[arg-type]


@pytest.mark.parametrize("length", ["0", "31", "60", "61"])
def test_a_bad_block_length_is_one_line_before_the_fit(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, length: str
) -> None:
    """``--block-length`` (the bootstrap's blocks, periods; the library's ``block_length`` had no option) must
    lie in 1..T // 2; it was checked only after the fit. A block of all T periods made every replicate the
    same series: identical refits, intervals of zero width in fit.md and no parameter flagged as not
    identified; at least two blocks per replicate."""
    import importlib

    calibrate_module = importlib.import_module("budgetgym.calibration.calibrate")
    _good().to_csv(tmp_path / "d.csv", index=False)
    monkeypatch.setattr(calibrate_module, "fit_model", None)  # not reached
    code, _, err = run_cli(capsys, "calibrate", str(tmp_path / "d.csv"), "--date", "date", "--kpi", "revenue",
                           "--spend", "a_spend,b_spend", "--draws", "4", "--block-length", length,
                           "--out", str(tmp_path / "out"))
    assert code == 2 and err.strip() == (f"error: --block-length: expected 1 to {T // 2} periods (at least two "
                                         f"blocks in the data's {T}), got {length}"), err
    assert not (tmp_path / "out").exists()


def test_the_block_length_option_reaches_the_bootstrap(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """``calibrate --block-length 12`` resamples blocks of 12 periods (fit.md says so); the default for 60
    periods is ceil(60^(1/3)) = 4."""
    _good().to_csv(tmp_path / "d.csv", index=False)
    for length, expected in ((["--block-length", "12"], 12), ([], 4)):
        out = tmp_path / f"out{expected}"
        code, _, err = run_cli(capsys, "calibrate", str(tmp_path / "d.csv"), "--date", "date", "--kpi", "revenue",
                               "--spend", "a_spend,b_spend", "--draws", "3", "--workers", "1", "--no-plots",
                               *length, "--out", str(out))
        assert code == 0, err
        assert f"of {expected} periods)" in (out / "fit.md").read_text(encoding="utf-8")


def test_an_out_that_is_a_file_is_one_line_before_the_fit(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    """Was a FileExistsError traceback after the whole fit and bootstrap."""
    import importlib

    calibrate_module = importlib.import_module("budgetgym.calibration.calibrate")  # the package's name is the function
    _good().to_csv(tmp_path / "d.csv", index=False)
    blocker = tmp_path / "fit"
    blocker.write_text("keep", encoding="utf-8")
    monkeypatch.setattr(calibrate_module, "fit_model", None)  # not reached
    code, _, err = run_cli(capsys, "calibrate", str(tmp_path / "d.csv"), "--date", "date", "--kpi", "revenue",
                           "--spend", "a_spend,b_spend", "--out", str(blocker))
    assert code == 2 and err == f"error: output directory '{blocker}': exists and is not a directory\n"
    assert blocker.read_text(encoding="utf-8") == "keep"


def test_an_out_holding_files_of_its_names_but_no_calibration_is_refused_before_the_fit(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """``--out .`` beside the user's own ``history.csv`` (the name ``plan --history`` reads) replaced it
    with the data's spend, silently: plan, run and simulate refuse another's directory, calibrate did
    not. A directory of an earlier calibration (its ``fit.md``) is still written over."""
    import importlib

    calibrate_module = importlib.import_module("budgetgym.calibration.calibrate")
    _good().to_csv(tmp_path / "d.csv", index=False)
    out = tmp_path / "work"
    out.mkdir()
    (out / "history.csv").write_text("mine", encoding="utf-8")
    fit_model = calibrate_module.fit_model
    monkeypatch.setattr(calibrate_module, "fit_model", None)  # not reached
    argv = ["calibrate", str(tmp_path / "d.csv"), "--date", "date", "--kpi", "revenue", "--spend", "a_spend,b_spend",
            "--draws", "0", "--no-plots", "--out", str(out)]
    code, _, err = run_cli(capsys, *argv)
    assert code == 2 and err == (f"error: output directory '{out}': holds 'history.csv', which the calibration would "
                                 f"replace, and no fit.md of an earlier calibration; expected a new directory or an "
                                 f"earlier calibration's\n")
    assert (out / "history.csv").read_text(encoding="utf-8") == "mine"
    monkeypatch.setattr(calibrate_module, "fit_model", fit_model)
    (out / "fit.md").write_text("an earlier fit", encoding="utf-8")
    code, _, err = run_cli(capsys, *argv)
    assert code == 0, err
    assert (out / "fit.md").read_text(encoding="utf-8").startswith("# Calibration of")


def test_a_write_error_leaves_no_file_of_the_fit(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """The files were written one by one: a full disk at the third left family.yaml and history.csv
    of a fit without its fit.md, and a traceback. Now nothing of the fit, one line, exit 2; a file
    already in the directory is kept."""
    _good().to_csv(tmp_path / "d.csv", index=False)
    out = tmp_path / "fit"
    out.mkdir()
    (out / "notes.txt").write_text("mine", encoding="utf-8")
    written: list[Path] = []
    write_bytes = Path.write_bytes

    def full(self: Path, data: bytes) -> int:
        if len(written) == 2:
            raise OSError(28, "No space left on device")
        written.append(self)
        return write_bytes(self, data)

    monkeypatch.setattr(Path, "write_bytes", full)
    code, _, err = run_cli(capsys, "calibrate", str(tmp_path / "d.csv"), "--date", "date", "--kpi", "revenue",
                           "--spend", "a_spend,b_spend", "--draws", "0", "--no-plots", "--out", str(out))
    assert code == 2 and err == f"error: output directory '{out}': cannot be written (No space left on device)\n"
    assert len(written) == 2 and sorted(p.name for p in out.iterdir()) == ["notes.txt"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["d.csv", "fit"]  # no temporary directory left


def test_the_reward_taken_from_the_kpis_name_is_said(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """PyMC-Marketing's layout names its KPI ``y``: the family became a conversions campaign (CPA, no ROAS in
    the plan) without a word on the terminal. The command now says which reward it took and why, and how to
    choose the other; a ``--reward`` given is not second-guessed."""
    import budgetgym.calibration as calibration

    df = _good().head(26).rename(columns={"revenue": "y"})  # half a year: a fast fit
    df.to_csv(tmp_path / "d.csv", index=False)
    base = ["calibrate", str(tmp_path / "d.csv"), "--date", "date", "--kpi", "y", "--spend", "a_spend,b_spend",
            "--draws", "0", "--no-plots", "--workers", "1"]
    real, calls, results = calibration.calibrate, [], []

    def recorded(*args: object, **kwargs: object) -> object:  # the first call fits, the second replays its result
        calls.append(kwargs)
        if not results:
            results.append(real(*args, **kwargs))  # type: ignore[arg-type]
        return results[0]

    monkeypatch.setattr(calibration, "calibrate", recorded)
    code, out, _ = run_cli(capsys, *base, "--out", str(tmp_path / "a"))
    assert code == 0
    assert ("reward: conversions, from the KPI's name 'y' (revenue for a name with revenue, sales, gmv, value or "
            "income); --reward revenue if 'y' is revenue") in out
    assert "reward: conversions" in (tmp_path / "a" / "family.yaml").read_text()
    code, out, _ = run_cli(capsys, *base, "--reward", "revenue", "--out", str(tmp_path / "b"))  # given: no note
    assert code == 0 and calls[1]["reward"] == "revenue" and "reward:" not in out
    note = reward_note("Sales", "gaussian")  # the line the command prints (a fit each costs seconds)
    assert note.startswith("reward: revenue, from the KPI's name 'Sales'")
    assert note.endswith("--reward conversions if 'Sales' counts conversions")
    assert reward_note("y", "poisson") == "reward: conversions, from --likelihood poisson (a count KPI)"


def test_only_spend_and_cost_suffixes_are_taken_from_a_spend_column(tmp_path: Path) -> None:
    """calibrate names a channel by its spend column without a spend suffix: ``_spend``/``_spends``, ``_cost``/
    ``_costs``, ``spend`` written on (``tvspend``), Robyn's ``_S``. The suffix ``s`` was also taken with no separator,
    so a column ``videos`` made channel ``video`` and ``tv_ads`` channel ``tv_ad``; they keep their names."""
    from budgetgym.calibration.data import spend_suffix

    columns = ("videos", "tv_ads", "news", "tv_spend", "tv_spends", "TV Spend", "tvspend", "tv_cost", "ooh-costs",
               "tv_S", "radio_s")
    assert [channel_name(c) for c in columns] == [
        "videos", "tv_ads", "news", "tv", "tv", "TV", "tv", "tv", "ooh", "tv", "radio"]
    assert [spend_suffix(c) for c in ("videos", "tv_ads", "tv_spends", "tv_S")] == ["", "", "_spends", "_S"]
    pd.DataFrame({"date": pd.date_range("2021-01-04", periods=20, freq="W-MON").strftime("%Y-%m-%d"),
                  "sales": RNG.uniform(1, 2, 20), "videos": _spend(20), "tv_ads": _spend(20)}).to_csv(
        tmp_path / "d.csv", index=False)
    assert read_mmm_csv(tmp_path / "d.csv", date="date", kpi="sales", spend="videos,tv_ads").channels == (
        "videos", "tv_ads")
