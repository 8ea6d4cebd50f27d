"""European spreadsheet exports (``;``-separated, decimal comma, ``.`` grouping thousands) and tab-separated files
read by :func:`budgetgym.envs.csv_table.read_csv_table`, the one reader of a user's table: each is read as its
comma-separated, decimal-point twin, and a file whose decimal mark its numbers do not show is refused in one line.
Every file is written here, tiny, in ``tmp_path``."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import run_cli

from budgetgym.calibration import calibrate
from budgetgym.envs.csv_table import read_csv_table, separator
from budgetgym.envs.errors import BudgetGymError
from budgetgym.planner.inputs import read_history_file


def _write(tmp_path: Path, text: str, name: str = "t.csv") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def _german(x: float) -> str:
    """``x`` as German Excel writes it: ``12.345,67`` (by hand: thousands grouped by '.', the decimal comma)."""
    whole, frac = f"{abs(x):.2f}".split(".")
    groups = []
    while len(whole) > 3:
        whole, groups = whole[:-3], [whole[-3:], *groups]
    return ("-" if x < 0 else "") + ".".join([whole, *groups]) + "," + frac


@pytest.mark.parametrize(("written", "value"), [
    ("12,5", 12.5), ("1.234,5", 1234.5), ("1.234.567", 1234567.0), ("-3,25", -3.25), ("1,5E+03", 1500.0),
    ("0,001", 0.001), ("12.345,67", 12345.67), ("7", 7.0),
])
def test_decimal_comma_cells_read_as_numbers(tmp_path: Path, written: str, value: float) -> None:
    """In a ';' file whose numbers show the decimal comma (here '2,5'), each number-like cell is read with it."""
    df = read_csv_table(_write(tmp_path, f"Datum;Umsatz;x\n07.01.2024;{written};2,5\n"), "data file")
    assert float(df["Umsatz"].iloc[0]) == value and float(df["x"].iloc[0]) == 2.5
    assert df["Datum"].iloc[0] == "07.01.2024"  # a dotted date is no number: read as written


def test_a_semicolon_file_reads_as_its_comma_twin(tmp_path: Path) -> None:
    """Text with commas, empty cells, booleans and whole numbers come out as pandas reads the comma twin."""
    euro = _write(tmp_path, 'Datum;Umsatz;Ort;flag;n\n2024-01-07;1.234,5;"Köln, Nord";True;3\n'
                            '2024-01-14;;x;False;4\n', "euro.csv")
    twin = _write(tmp_path, 'Datum,Umsatz,Ort,flag,n\n2024-01-07,1234.5,"Köln, Nord",True,3\n'
                            '2024-01-14,,x,False,4\n', "twin.csv")
    pd.testing.assert_frame_equal(read_csv_table(euro, "data file"), read_csv_table(twin, "data file"))


def test_tab_separated_files_are_read_with_either_mark(tmp_path: Path) -> None:
    point = read_csv_table(_write(tmp_path, "a\tb\n1.5\t2\n0.25\t3\n"), "data file")
    comma = read_csv_table(_write(tmp_path, "a\tb\n1,5\t2\n0,25\t3\n", "c.tsv"), "data file")
    np.testing.assert_array_equal(point["a"].to_numpy(), [1.5, 0.25])
    np.testing.assert_array_equal(comma["a"].to_numpy(), [1.5, 0.25])


def test_the_separator_is_the_one_splitting_the_header_most() -> None:
    assert separator("date,revenue,tv") == ","
    assert separator("Datum;Umsatz;Search spend") == ";"
    assert separator('Datum;"Umsatz, netto";TV') == ";"  # a quoted comma in a name
    assert separator("Datum;Umsatz (EUR, netto);TV;Radio") == ";"  # 4 fields against 2
    assert separator("a\tb\tc") == "\t"
    assert separator("revenue") == ","


def test_a_comma_file_keeps_the_decimal_point(tmp_path: Path) -> None:
    """``1.234`` in a comma-separated file is 1.234, as before: only ``;`` and tab files are read by their marks.
    A quoted decimal comma there (``"12,5"``) is read with ``--decimal ,``, and without it refused with that hint."""
    df = read_csv_table(_write(tmp_path, "a,b\n1.234,5\n"), "data file")
    assert df["a"].iloc[0] == 1.234
    quoted = _write(tmp_path, 'date,revenue,tv_spend\n2024-01-01,"12,5",1\n2024-01-08,"13,25",2\n', "q.csv")
    assert list(read_csv_table(quoted, "data file", decimal=",")["revenue"]) == [12.5, 13.25]
    from budgetgym.calibration import read_mmm_csv

    with pytest.raises(BudgetGymError, match=r"column 'revenue', row 1: the KPI must be a finite number, got '12,5'; "
                                             r"the values look like they use the decimal comma: pass --decimal , or "
                                             r"export them with a '\.'$"):
        read_mmm_csv(quoted, date="date", kpi="revenue", spend="tv_spend")


def test_an_ambiguous_or_mixed_mark_is_one_line_naming_the_cell(tmp_path: Path) -> None:
    ambiguous = _write(tmp_path, "a;b\n1.234;5\n7;8\n")
    with pytest.raises(BudgetGymError) as err:
        read_csv_table(ambiguous, "history file", option=None)  # a caller without the option
    assert str(err.value) == (
        f"history file '{ambiguous}': '1.234' (column 'a', row 1) reads as 1234 with the decimal comma and as 1.234 "
        f"with the decimal point, and no other number shows the file's decimal mark: export the numbers without a "
        f"thousands separator, or with their decimals (1.234,00)")
    # the caller's option says which: the same cell read both ways
    assert read_csv_table(ambiguous, "data file", decimal=",")["a"].iloc[0] == 1234
    assert read_csv_table(ambiguous, "data file", decimal=".")["a"].iloc[0] == 1.234
    mixed = _write(tmp_path, "a;b\n1,5;5\n7;2.25\n", "mixed.csv")
    with pytest.raises(BudgetGymError, match=r"the numbers use both decimal marks: '1,5' \(column 'a', row 1\) and "
                                             r"'2.25' \(column 'b', row 2\); expected one decimal mark in a file: "
                                             r"pass --decimal , or --decimal \.$"):
        read_csv_table(mixed, "data file", option="--decimal")
    with pytest.raises(BudgetGymError, match=r"--decimal: expected '\.' or ','"):
        read_csv_table(mixed, "data file", decimal=";", option="--decimal")


def test_a_history_file_in_the_european_layout(tmp_path: Path) -> None:
    """``plan --history`` reads a ';' file of decimal-comma spends as its comma twin (the same reader)."""
    from budgetgym.envs.scenario import load_scenario

    sc = load_scenario("stationary-3")
    names = sc.channel_names
    euro = _write(tmp_path, ";".join(names) + "\n1.200,5;300;0,5\n1.000;250,25;2\n", "h.csv")
    twin = _write(tmp_path, ",".join(names) + "\n1200.5,300,0.5\n1000,250.25,2\n", "twin.csv")
    np.testing.assert_array_equal(read_history_file(euro, sc).spend, read_history_file(twin, sc).spend)
    # whole numbers grouped by '.' show no mark: plan --decimal , reads them as thousands
    whole = _write(tmp_path, ";".join(names) + "\n1.500;300;2\n", "whole.csv")
    np.testing.assert_array_equal(read_history_file(whole, sc, decimal=",").spend, [[1500.0, 300.0, 2.0]])
    with pytest.raises(BudgetGymError, match=r"pass --decimal , \(it is 1500\) or --decimal \. \(it is 1\.5\)"):
        read_history_file(whole, sc)


def _twins(tmp_path: Path) -> tuple[Path, Path, Path, Path]:
    """A dataset and a lift-test file, each written comma-separated and as German Excel writes it."""
    rng = np.random.default_rng(3)
    T = 40
    dates = pd.date_range("2023-01-02", periods=T, freq="7D")
    tv, search = rng.uniform(500, 5000, T).round(2), rng.uniform(100, 3000, T).round(2)
    revenue = (20_000 + 3000 * tv / (tv + 2000) + 1500 * search / (search + 800) + rng.normal(0, 300, T)).round(2)
    frame = pd.DataFrame({"date": dates.strftime("%Y-%m-%d"), "revenue": revenue, "tv_spend": tv,
                          "search_spend": search})
    (tmp_path / "comma").mkdir()
    (tmp_path / "euro").mkdir()
    frame.to_csv(tmp_path / "comma" / "d.csv", index=False)
    rows = [";".join(["Datum", "revenue", "tv_spend", "search_spend"])]
    rows += [";".join([d.strftime("%d.%m.%Y"), *(_german(v) for v in r)])
             for d, r in zip(dates, frame[["revenue", "tv_spend", "search_spend"]].to_numpy(), strict=True)]
    (tmp_path / "euro" / "d.csv").write_text("\n".join(rows) + "\n", encoding="utf-8")
    (tmp_path / "comma" / "lift.csv").write_text("channel,x,delta_x,delta_y,sigma\ntv,2500.5,1250.25,450.75,60.5\n")
    (tmp_path / "euro" / "lift.csv").write_text("channel;x;delta_x;delta_y;sigma\ntv;2.500,5;1.250,25;450,75;60,5\n")
    return tmp_path / "comma" / "d.csv", tmp_path / "euro" / "d.csv", tmp_path / "comma" / "lift.csv", \
        tmp_path / "euro" / "lift.csv"


def test_a_german_export_calibrates_to_the_fit_of_its_comma_twin(tmp_path: Path) -> None:
    comma, euro, comma_lift, euro_lift = _twins(tmp_path)
    assert any("." in cell and "," in cell for cell in euro.read_text().split(";"))  # 1.234,5: both marks

    def fit(data: Path, lift: Path, date: str):  # type: ignore[no-untyped-def]
        return calibrate(data, date=date, kpi="revenue", spend="tv_spend,search_spend", draws=0, starts=1, fourier=0,
                         lift_tests=lift)

    a, b = fit(comma, comma_lift, "date"), fit(euro, euro_lift, "Datum")
    np.testing.assert_array_equal(a.data.spend, b.data.spend)
    np.testing.assert_array_equal(a.data.kpi, b.data.kpi)
    np.testing.assert_array_equal(a.data.days, b.data.days)
    pd.testing.assert_frame_equal(a.parameters, b.parameters)
    assert a.fit.lift() == b.fit.lift()


def test_calibrate_decimal_option_reads_an_ambiguous_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A ';' file of whole numbers grouped by '.' (1.234) is refused in one line, exit 2, nothing written; with
    ``--decimal ,`` it is read (1.234 = 1234): the error names the option that settles it."""
    rng = np.random.default_rng(0)
    lines = ["date;revenue;tv_spend"] + [
        f"{d:%Y-%m-%d};{int(rng.uniform(20_000, 30_000)):,};{int(rng.uniform(1000, 9000)):,}".replace(",", ".")
        for d in pd.date_range("2023-01-02", periods=30, freq="7D")]
    data = _write(tmp_path, "\n".join(lines) + "\n")
    args = ["calibrate", str(data), "--date", "date", "--kpi", "revenue", "--spend", "tv_spend", "--draws", "0",
            "--no-plots", "--out", str(tmp_path / "out")]
    code, _, err = run_cli(capsys, *args)
    assert code == 2 and len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert "with the decimal comma" in err and "pass --decimal , (it is" in err
    assert not (tmp_path / "out").exists()
    from budgetgym.calibration import read_mmm_csv

    d = read_mmm_csv(data, date="date", kpi="revenue", spend="tv_spend", decimal=",")
    assert d.kpi.min() >= 20_000 and d.spend.min() >= 1000  # 1.234 read as 1234, not 1.234


def _grouped(x: float, gap: str, mark: str) -> str:
    """``x`` with its thousands grouped by ``gap`` and the decimal ``mark``, by hand: ``1 234,50`` (French),
    ``1'234.50`` (Swiss)."""
    whole, frac = f"{abs(x):.2f}".split(".")
    groups = []
    while len(whole) > 3:
        whole, groups = whole[:-3], [whole[-3:], *groups]
    return ("-" if x < 0 else "") + gap.join([whole, *groups]) + mark + frac


@pytest.mark.parametrize(("written", "value"), [
    ("1 234,5", 1234.5), ("1\u00a0234,5", 1234.5), ("1\u202f234\u202f567,25", 1234567.25), ("-12 345", -12345.0),
    ("1'234", 1234.0), ("999", 999.0), ("12,5", 12.5),
])
def test_thousands_grouped_by_a_space_or_an_apostrophe_in_a_semicolon_file(tmp_path: Path, written: str,
                                                                           value: float) -> None:
    """In the columns read as numbers, a space, a no-break space, a narrow no-break space or an apostrophe between
    groups of three digits is a thousands separator (the decimal comma shown by '2,5')."""
    df = read_csv_table(_write(tmp_path, f"Date;Montant;x\n07/01/2024;{written};2,5\n"), "data file",
                        numbers=["Montant", "x"])
    assert float(df["Montant"].iloc[0]) == value and float(df["x"].iloc[0]) == 2.5
    assert df["Date"].iloc[0] == "07/01/2024"


def test_grouping_touches_only_the_columns_read_as_numbers(tmp_path: Path) -> None:
    """A label or a date column keeps its text (a customer id '123 456', a date '2024 01 07'); the same cells in a
    column read as numbers are the numbers, read as pandas reads their plain twin (whole numbers as integers)."""
    path = _write(tmp_path, "id;jour;n\n123 456;2024 01 07;1 000\n7 890;2024 01 14;20 000\n")
    df = read_csv_table(path, "customer file", numbers=["n"])
    assert list(df["id"]) == ["123 456", "7 890"] and list(df["jour"]) == ["2024 01 07", "2024 01 14"]
    twin = read_csv_table(_write(tmp_path, "n\n1000\n20000\n", "twin.csv"), "customer file")
    pd.testing.assert_series_equal(df["n"], twin["n"])
    assert list(read_csv_table(path, "customer file")["n"]) == ["1 000", "20 000"]  # no caller asked: as written


def test_a_comma_file_reads_apostrophes_and_quoted_space_grouping(tmp_path: Path) -> None:
    """A comma-separated file (the decimal point) reads ``1'234.5`` unquoted and ``"1 234.5"`` quoted; a quoted
    ``"1 234,5"`` (the decimal comma) is refused naming ``--decimal ,``, which reads it."""
    swiss = read_csv_table(_write(tmp_path, "a,b,c\n1'234.5,\"1 234.5\",x y\n"), "data file", numbers=["a", "b"])
    assert swiss["a"].iloc[0] == 1234.5 and swiss["b"].iloc[0] == 1234.5 and swiss["c"].iloc[0] == "x y"
    french = _write(tmp_path, 'a,b\n"1 234,5",2\n', "fr.csv")
    with pytest.raises(BudgetGymError) as err:
        read_csv_table(french, "data file", numbers=["a"])
    assert str(err.value) == (f"data file '{french}': column 'a', row 1: '1 234,5' is written with the decimal comma, "
                              f"but the file's numbers use '.': pass --decimal ,")
    assert read_csv_table(french, "data file", decimal=",", numbers=["a"])["a"].iloc[0] == 1234.5


@pytest.mark.parametrize(("written", "expected"), [
    ("1 23,4", "'1 23,4' groups its digits with a space, but not in threes; expected a number such as '1 234 567,5'"),
    ("12 345 6", "'12 345 6' groups its digits with a space, but not in threes; expected a number such as "
                 "'1 234 567,5'"),
    ("1 234'567", "\"1 234'567\" groups its digits with both a space and an apostrophe, not one of them; "
                  "expected a number such as '1 234 567,5'"),
    ("1\u00a023", "'1\\xa023' groups its digits with a no-break space, but not in threes"),
])
def test_a_malformed_grouping_is_one_line_naming_the_cell(tmp_path: Path, written: str, expected: str) -> None:
    """Digits split other than in threes (or by two different characters) are never guessed at."""
    path = _write(tmp_path, f"date;spend\n2024-01-07;1 000,5\n2024-01-14;{written}\n")
    with pytest.raises(BudgetGymError) as err:
        read_csv_table(path, "data file", numbers=["spend"])
    assert str(err.value).startswith(f"data file '{path}': column 'spend', row 2: {expected}")
    assert "\n" not in str(err.value)


def test_a_french_export_calibrates_to_the_fit_of_its_comma_twin(tmp_path: Path) -> None:
    """A French Excel export (``;``, the decimal comma, thousands grouped by a narrow no-break space, a lift-test file
    by spaces) gives calibrate exactly its comma twin's data and fit."""
    comma, _, comma_lift, _ = _twins(tmp_path)
    frame = pd.read_csv(comma)
    rows = [";".join(frame.columns)]
    rows += [";".join([d, *(_grouped(v, "\u202f", ",") for v in r)])
             for d, r in zip(frame["date"], frame[["revenue", "tv_spend", "search_spend"]].to_numpy(), strict=True)]
    french = _write(tmp_path, "\n".join(rows) + "\n", "fr.csv")
    assert "\u202f" in french.read_text(encoding="utf-8")
    lift = _write(tmp_path, "channel;x;delta_x;delta_y;sigma\ntv;2 500,5;1 250,25;450,75;60,5\n", "fr_lift.csv")

    def fit(data: Path, lift: Path):  # type: ignore[no-untyped-def]
        return calibrate(data, date="date", kpi="revenue", spend="tv_spend,search_spend", draws=0, starts=1,
                         fourier=0, lift_tests=lift)

    a, b = fit(comma, comma_lift), fit(french, lift)
    np.testing.assert_array_equal(a.data.spend, b.data.spend)
    np.testing.assert_array_equal(a.data.kpi, b.data.kpi)
    pd.testing.assert_frame_equal(a.parameters, b.parameters)
    assert a.fit.lift() == b.fit.lift()


@pytest.mark.parametrize(("sep", "gap", "mark"), [(";", "\u202f", ","), (";", " ", ","), (",", "'", ".")])
def test_a_grouped_control_calibrates_as_its_plain_twin(tmp_path: Path, sep: str, gap: str, mark: str) -> None:
    """A control written with its thousands grouped (French: ';', the decimal comma, a narrow no-break space or a
    space; Swiss: an apostrophe, the decimal point) is read as its plain twin's number, as a spend is: the same
    data and fit. It was refused ("a control must be a plain number")."""
    comma, _, _, _ = _twins(tmp_path)
    frame = pd.read_csv(comma)
    rival = np.exp(np.random.default_rng(5).uniform(np.log(200), np.log(5e6), len(frame))).round(2)
    assert rival.min() < 1000 and rival.max() > 1e6  # plain and grouped cells in one column, up to two gaps
    frame["rival"] = rival
    frame.to_csv(tmp_path / "plain.csv", index=False)
    cols = ["revenue", "tv_spend", "search_spend", "rival"]
    rows = [sep.join(["date", *cols])]
    rows += [sep.join([d, *(_grouped(v, gap, mark) for v in r)])
             for d, r in zip(frame["date"], frame[cols].to_numpy(), strict=True)]
    grouped = _write(tmp_path, "\n".join(rows) + "\n", "grouped.csv")
    assert f"1{gap}" in grouped.read_text(encoding="utf-8")

    def fit(data: Path):  # type: ignore[no-untyped-def]
        return calibrate(data, date="date", kpi="revenue", spend="tv_spend,search_spend", controls="rival", draws=0,
                         starts=1, fourier=0)

    a, b = fit(tmp_path / "plain.csv"), fit(grouped)
    np.testing.assert_array_equal(b.data.controls[:, 0], rival)
    np.testing.assert_array_equal(a.data.controls, b.data.controls)
    assert a.data.control_names == b.data.control_names == ("rival",)
    pd.testing.assert_frame_equal(a.parameters, b.parameters)


def test_a_swiss_history_file_reads_as_its_plain_twin(tmp_path: Path) -> None:
    """``plan --history`` in the Swiss layout (the decimal point, thousands grouped by an apostrophe), ';' or ','."""
    from budgetgym.envs.scenario import load_scenario

    sc = load_scenario("stationary-3")
    names = sc.channel_names
    spend = np.array([[1200.5, 300.0, 12345.25], [1000.0, 250.25, 2.0]])
    twin = _write(tmp_path, ",".join(names) + "\n" + "\n".join(",".join(f"{v:.2f}" for v in r) for r in spend) + "\n",
                  "twin.csv")
    for sep in (";", ","):
        swiss = _write(tmp_path, sep.join(names) + "\n" + "\n".join(sep.join(_grouped(v, "'", ".") for v in r)
                                                                    for r in spend) + "\n", "ch.csv")
        assert "1'200.50" in swiss.read_text()
        np.testing.assert_array_equal(read_history_file(swiss, sc).spend, read_history_file(twin, sc).spend)
