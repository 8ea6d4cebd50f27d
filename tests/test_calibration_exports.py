"""Files as a media planner exports them (issue 11): a spreadsheet's trailing empty rows, numbers with
thousands separators, a geo-level Meridian file, spend columns named with punctuation, less than a year of
data, a plan file dated for another quarter given to ``simulate --plan``, and the contributions figure's
legend with many channels. Every file is written here, tiny, in ``tmp_path``."""

from __future__ import annotations

import struct
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from conftest import run_cli

from budgetgym.calibration import calibrate, read_mmm_csv
from budgetgym.calibration.data import channel_name
from budgetgym.envs.errors import BudgetGymError

T = 30


def _table(n: int = T, seed: int = 0, start: str = "2023-01-02") -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame({"date": pd.date_range(start, periods=n, freq="7D").strftime("%Y-%m-%d"),
                         "revenue": rng.uniform(1e4, 2e4, n).round(2), "tv_spend": rng.uniform(100, 900, n).round(2),
                         "search_spend": rng.uniform(100, 900, n).round(2)})


def _read(path: Path, spend: str = "tv_spend,search_spend", date: str = "date") -> object:
    return read_mmm_csv(path, date=date, kpi="revenue", spend=spend)


def test_trailing_empty_rows_of_a_spreadsheet_export_are_dropped(tmp_path: Path) -> None:
    """``,,,`` rows (and one of blanks) at the end were read as rows of missing values: a TypeError in the
    date parser under pandas 3. They are dropped and the data read as without them."""
    df = _table()
    df.to_csv(tmp_path / "clean.csv", index=False)
    text = (tmp_path / "clean.csv").read_text()
    (tmp_path / "export.csv").write_text(text + ",,,\n , , ,\n,,,\n")
    clean, export = _read(tmp_path / "clean.csv"), _read(tmp_path / "export.csv")
    assert export.n_periods == T  # type: ignore[attr-defined]
    np.testing.assert_array_equal(export.spend, df[["tv_spend", "search_spend"]].to_numpy())  # type: ignore[attr-defined]
    np.testing.assert_array_equal(export.kpi, clean.kpi)  # type: ignore[attr-defined]


def test_a_row_without_its_date_is_one_line_naming_the_row(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    lines = _table().to_csv(index=False).splitlines()
    lines[4] = "," + lines[4].split(",", 1)[1]  # data line 4: values, no date
    (tmp_path / "d.csv").write_text("\n".join(lines) + "\n,,,\n")
    with pytest.raises(BudgetGymError) as err:
        _read(tmp_path / "d.csv")
    assert str(err.value).startswith(f"data file '{tmp_path / 'd.csv'}': column 'date', row 4: the date is empty")
    code, _, msg = run_cli(capsys, "calibrate", str(tmp_path / "d.csv"), "--date", "date", "--kpi", "revenue",
                           "--spend", "tv_spend,search_spend", "--draws", "0", "--out", str(tmp_path / "out"))
    assert code == 2 and "row 4: the date is empty" in msg and "Traceback" not in msg
    assert len(msg.strip().splitlines()) == 1 and not (tmp_path / "out").exists()


@pytest.mark.parametrize(("written", "sep"), [("1,234.5", ","), ("1.234,5", "."), ("12,345,678", ",")])
def test_numbers_with_thousands_separators_get_a_hint(tmp_path: Path, written: str, sep: str) -> None:
    df = _table().astype({"tv_spend": object})
    df.loc[0, "tv_spend"] = written
    df.to_csv(tmp_path / "d.csv", index=False)  # quoted by the writer, as a spreadsheet does
    assert f'"{written}"' in (tmp_path / "d.csv").read_text()
    with pytest.raises(BudgetGymError) as err:
        _read(tmp_path / "d.csv")
    msg = str(err.value)
    assert f"column 'tv_spend', row 1: spend must be a finite number, got '{written}'" in msg
    assert f"thousands separator ('{sep}'); export the numbers without it" in msg and "\n" not in msg


def test_text_that_is_no_grouped_number_gets_no_separator_hint(tmp_path: Path) -> None:
    for value in ("n/a", "12,5", "1,23"):
        df = _table().astype({"revenue": object})
        df.loc[2, "revenue"] = value
        df.to_csv(tmp_path / "d.csv", index=False)
        with pytest.raises(BudgetGymError) as err:
            _read(tmp_path / "d.csv")
        assert "row 3: the KPI must be a finite number" in str(err.value)
        assert "separator" not in str(err.value), value


def test_geo_level_meridian_file_is_refused_with_how_to_sum_it(tmp_path: Path,
                                                                capsys: pytest.CaptureFixture[str]) -> None:
    """Meridian's geo layout (``geo, time, ...``, a row per geo and date) was read as dates repeated."""
    geos = [_table(seed=s).assign(geo=f"Geo{s}") for s in range(3)]
    frame = pd.concat(geos).sort_values(["date", "geo"]).rename(columns={"date": "time"})
    frame[["geo", "time", "revenue", "tv_spend", "search_spend"]].to_csv(tmp_path / "geo.csv", index=False)
    with pytest.raises(BudgetGymError) as err:
        _read(tmp_path / "geo.csv", date="time")
    msg = str(err.value)
    assert msg.startswith(f"data file '{tmp_path / 'geo.csv'}': column 'geo': this looks like geo-level data (3 geos")
    assert "df.groupby('time', as_index=False)[['revenue', 'tv_spend', 'search_spend']].sum()" in msg
    # the line it gives makes a file calibrate reads: the three geos' sums per date
    national = frame.groupby("time", as_index=False)[["revenue", "tv_spend", "search_spend"]].sum()
    national.to_csv(tmp_path / "national.csv", index=False)
    summed = _read(tmp_path / "national.csv", date="time")
    np.testing.assert_allclose(summed.kpi, sum(g["revenue"].to_numpy() for g in geos))  # type: ignore[attr-defined]
    code, _, err_text = run_cli(capsys, "calibrate", str(tmp_path / "geo.csv"), "--date", "time", "--kpi", "revenue",
                                "--spend", "tv_spend,search_spend", "--draws", "0", "--out", str(tmp_path / "out"))
    assert code == 2 and "geo-level data" in err_text and len(err_text.strip().splitlines()) == 1
    assert not (tmp_path / "out").exists()


def test_a_single_geo_column_is_national_data_and_repeated_dates_name_the_date(tmp_path: Path) -> None:
    _table().assign(geo="national").to_csv(tmp_path / "one.csv", index=False)
    assert _read(tmp_path / "one.csv").n_periods == T  # type: ignore[attr-defined]
    df = _table()
    twice = pd.concat([df.iloc[:5], df.iloc[4:]])  # 2023-01-30 twice, no geo column
    twice.to_csv(tmp_path / "twice.csv", index=False)
    with pytest.raises(BudgetGymError, match=r"column 'date', row 6: date 2023-01-30 appears twice"):
        _read(tmp_path / "twice.csv")


def _geo_frame(name: str, values: list[object]) -> pd.DataFrame:
    """Three regions' tables, a row per region and date, the region in column ``name`` (``values``)."""
    frames = [_table(seed=s).assign(**{name: v}) for s, v in enumerate(values)]
    return pd.concat(frames).sort_values(["date", name], kind="stable").reset_index(drop=True)


@pytest.mark.parametrize(("name", "values"), [
    ("region", ["North", "South", "West"]), ("Market", ["DE", "FR", "IT"]), ("DMA Code", [501, 602, 803]),
    ("geo_id", ["g1", "g2", "g3"]), ("Bundesland", ["Bayern", "Berlin", "Hessen"]),
])
def test_geo_level_data_is_told_by_its_repeated_dates_and_names_the_geo_column(
        tmp_path: Path, name: str, values: list[object]) -> None:
    """Only a column named ``geo`` was recognised: ``region``, a numeric DMA code or a column of region names read
    as "date 2023-01-02 appears twice". Dates repeated with a column whose values differ within each date name it
    (a region-like name first, numeric codes too; else a column of text), with the line that sums per date."""
    frame = _geo_frame(name, values)
    frame.assign(campaign="spring")[["date", name, "campaign", "revenue", "tv_spend", "search_spend"]].to_csv(
        tmp_path / "geo.csv", index=False)  # 'campaign': text, the same within a date, is no region
    with pytest.raises(BudgetGymError) as err:
        _read(tmp_path / "geo.csv")
    assert str(err.value) == (
        f"data file '{tmp_path / 'geo.csv'}': column '{name}': this looks like geo-level data (3 geos, several rows "
        f"per date); calibrate fits national data, one row per date: sum the KPI, spend and exposure per date "
        f"(controls: their mean), e.g. in pandas df.groupby('date', as_index=False)[['revenue', 'tv_spend', "
        f"'search_spend']].sum().to_csv('national.csv', index=False)")


def test_every_date_repeated_without_a_region_column_is_geo_level_data(tmp_path: Path) -> None:
    """Rows of three regions with the region column dropped: every date on 3 rows, no column tells them apart."""
    _geo_frame("region", ["a", "b", "c"]).drop(columns="region").to_csv(tmp_path / "geo.csv", index=False)
    with pytest.raises(BudgetGymError, match=r"column 'date': this looks like geo-level data \(every date on 3 rows\); "
                                             r"calibrate fits national data"):
        _read(tmp_path / "geo.csv")


def test_a_row_exported_twice_beside_a_text_column_names_the_date(tmp_path: Path) -> None:
    """One repeated date, its rows alike in a text column: no geo column, so read_dates names the date."""
    df = _table().assign(campaign="spring")
    pd.concat([df.iloc[:5], df.iloc[4:]]).to_csv(tmp_path / "twice.csv", index=False)
    with pytest.raises(BudgetGymError, match=r"column 'date', row 6: date 2023-01-30 appears twice"):
        _read(tmp_path / "twice.csv")


def test_channel_names_from_spend_columns_with_punctuation() -> None:
    assert [channel_name(c) for c in ("Social (Meta) spend", "TV - linear spend", "Search: Brand_S", "(OOH)",
                                      "tv_spend", "a.b_spend", "Paid Search spend")] == [
        "Social_Meta", "TV_-_linear", "Search_Brand", "OOH", "tv", "a_b", "Paid_Search"]


def test_two_spend_columns_of_one_channel_name_are_an_error_naming_both(tmp_path: Path) -> None:
    df = _table().rename(columns={"tv_spend": "Social (Meta)", "search_spend": "Social: Meta"})
    df.to_csv(tmp_path / "d.csv", index=False)
    with pytest.raises(BudgetGymError) as err:
        _read(tmp_path / "d.csv", spend="Social (Meta),Social: Meta")
    assert str(err.value) == (f"data file '{tmp_path / 'd.csv'}': --spend: columns 'Social (Meta)' and 'Social: Meta' "
                              f"both make channel name 'Social_Meta'; rename one of them")
    df = _table().rename(columns={"tv_spend": "tv_spend", "search_spend": "tv_cost"})  # stripped names collide only
    df.to_csv(tmp_path / "e.csv", index=False)
    assert _read(tmp_path / "e.csv", spend="tv_spend,tv_cost").channels == ("tv_spend", "tv_cost")  # type: ignore


def _fit(tmp_path: Path, n: int, fourier: int | None, name: str) -> object:
    df = _table(n).rename(columns={"search_spend": "Social (Meta) spend"})
    df.to_csv(tmp_path / f"{name}.csv", index=False)
    return calibrate(tmp_path / f"{name}.csv", date="date", kpi="revenue", spend="tv_spend,Social (Meta) spend",
                     draws=0, starts=1, fourier=fourier, out=tmp_path / name, plots=False)


def test_less_than_a_year_of_data_warns_of_yearly_seasonality(tmp_path: Path) -> None:
    """30 weeks (210 days): no yearly terms (the default below 330 days), said in the warnings and fit.md;
    with --fourier given, nothing is said. The punctuated column makes channel Social_Meta, which the family
    written beside fit.md holds."""
    from budgetgym.envs.family import load_family

    res = _fit(tmp_path, T, None, "short")
    found = [w for w in res.warnings if "less than a year" in w]  # type: ignore[attr-defined]
    assert len(found) == 1 and found[0].startswith("the data span 210 days") and "--fourier 0" in found[0]
    assert found[0] in (tmp_path / "short" / "fit.md").read_text()
    assert res.fit.spec.fourier == 0  # type: ignore[attr-defined]
    assert load_family(tmp_path / "short" / "family.yaml").nominal().channel_names == ["tv", "Social_Meta"]
    given = _fit(tmp_path, T, 0, "given")
    assert not [w for w in given.warnings if "less than a year" in w]  # type: ignore[attr-defined]
    np.testing.assert_array_equal(given.fit.fitted, res.fit.fitted)  # type: ignore[attr-defined]


@pytest.mark.parametrize(("weeks", "warned", "order"), [(49, True, 2), (52, False, 2)])
def test_default_yearly_terms_on_under_a_year_warn_and_are_kept(tmp_path: Path, weeks: int, warned: bool,
                                                                order: int) -> None:
    """49 weeks (343 days) get the default order 2 (from 330 days) and a warning suggesting --fourier 0; the
    fit is unchanged. 52 weeks (364 days) are a year: no warning."""
    res = _fit(tmp_path, weeks, None, f"w{weeks}")
    found = [w for w in res.warnings if "less than a year" in w]  # type: ignore[attr-defined]
    assert bool(found) == warned and res.fit.spec.fourier == order  # type: ignore[attr-defined]
    if warned:
        assert "default --fourier 2" in found[0] and found[0].endswith("consider --fourier 0")
        same = _fit(tmp_path, weeks, 2, f"given{weeks}")
        np.testing.assert_array_equal(same.fit.fitted, res.fit.fitted)  # type: ignore[attr-defined]


def test_contributions_legend_sits_below_the_axes_and_is_kept_in_the_png() -> None:
    pytest.importorskip("matplotlib")
    from budgetgym.calibration.plots import contributions_figure, plot_contributions

    rng = np.random.default_rng(1)
    n, k = 40, 6
    dates = pd.date_range("2023-01-02", periods=n, freq="7D").to_numpy()
    args = (dates, rng.uniform(50, 100, n), rng.uniform(0, 30, (n, k)), tuple(f"channel_{i}" for i in range(k)),
            "revenue")
    fig = contributions_figure(*args)
    renderer = fig.canvas.get_renderer()
    fig.draw(renderer)
    ax = fig.axes[0]
    legend = ax.get_legend().get_window_extent(renderer)
    ticks = ax.xaxis.get_tightbbox(renderer)
    assert legend.y1 <= ticks.y0 + 1e-6  # below the axes and their date labels: it covers no data
    png = plot_contributions(*args)
    width, height = struct.unpack(">II", png[16:24])
    assert height >= round(fig.get_tightbbox(renderer).height * 100) - 2  # the saved image holds the legend


def test_simulate_notes_a_plan_file_dated_otherwise_than_the_periods(tmp_path: Path,
                                                                      capsys: pytest.CaptureFixture[str]) -> None:
    """A plan for another quarter was played silently on the scenario's calendar; the note names its dates, the
    periods' and the scenario's start_day. A plan dated as the periods (or undated) gets no note."""
    from budgetgym.experiments.simulate import simulate_dataset

    scenario = str(Path(__file__).resolve().parents[1] / "configs" / "scenarios" / "stationary-3.yaml")
    first = simulate_dataset(scenario, 6, plan="equal", seed=0)
    plan = pd.DataFrame(first.plan, columns=first.scenario.channel_names)
    plan.to_csv(tmp_path / "undated.csv", index=False)
    plan.assign(date=first.data["date"]).to_csv(tmp_path / "same.csv", index=False)
    other = pd.date_range("2026-04-06", periods=6, freq="D").strftime("%Y-%m-%d")
    plan.assign(date=other).to_csv(tmp_path / "other.csv", index=False)
    for name in ("undated", "same"):
        assert simulate_dataset(scenario, 6, plan=str(tmp_path / f"{name}.csv")).dates_note is None
    ds = simulate_dataset(scenario, 6, plan=str(tmp_path / "other.csv"))
    np.testing.assert_array_equal(ds.plan, first.plan)  # played as given, on the scenario's calendar
    assert ds.dates_note == (
        f"--plan file '{tmp_path / 'other.csv'}': its dates (2026-04-06 to 2026-04-11) are not the simulated periods' "
        f"({first.data['date'].iloc[0]} to {first.data['date'].iloc[-1]}, from the scenario's start_day "
        f"{first.scenario.start_day:g}); its rows are played as periods 1 to 6 in order, their calendar ignored")
    plan.assign(step=range(6), day=np.arange(6) + 400.0).to_csv(tmp_path / "days.csv", index=False)  # plan.csv's
    note = simulate_dataset(scenario, 6, plan=str(tmp_path / "days.csv")).dates_note
    assert note is not None and "its days (400 to 405) are not the simulated periods'" in note
    code, out, _ = run_cli(capsys, "simulate", scenario, "--periods", "6", "--plan", str(tmp_path / "other.csv"),
                           "--out", str(tmp_path / "data"))
    assert code == 0 and "note: --plan file" in out and "start_day" in out


def test_simulate_reads_an_undated_plan_file_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The note of an undated plan file (its ``day`` column) is made from the table read for the plan: the file was
    read a second time for it (``plan_calendar_note``), a large one twice the time, and an edited one two ways."""
    import budgetgym.experiments.dataset_layout as layout
    import budgetgym.planner.inputs as inputs
    from budgetgym.envs.csv_table import read_csv_table
    from budgetgym.envs.path import step_days
    from budgetgym.experiments.simulate import simulate_dataset

    scenario = str(Path(__file__).resolve().parents[1] / "configs" / "scenarios" / "stationary-3.yaml")
    first = simulate_dataset(scenario, 6, plan="equal", seed=0)
    plan = pd.DataFrame(first.plan, columns=first.scenario.channel_names)
    plan.assign(step=range(6), day=np.arange(6) + 400.0).to_csv(tmp_path / "days.csv", index=False)
    ours = step_days(first.scenario, np.arange(6))  # the periods' own days: no note
    plan.assign(step=range(6), day=ours).to_csv(tmp_path / "ours.csv", index=False)
    reads: list[str] = []

    def counted(path: str | Path, *args: Any, **kwargs: Any) -> Any:
        reads.append(str(path))
        return read_csv_table(path, *args, **kwargs)

    monkeypatch.setattr(inputs, "read_csv_table", counted)
    monkeypatch.setattr(layout, "read_csv_table", counted, raising=False)  # where the second read was
    note = simulate_dataset(scenario, 6, plan=str(tmp_path / "days.csv")).dates_note
    assert note is not None and "its days (400 to 405) are not the simulated periods'" in note
    assert simulate_dataset(scenario, 6, plan=str(tmp_path / "ours.csv")).dates_note is None
    assert reads == [str(tmp_path / "days.csv"), str(tmp_path / "ours.csv")]
