"""The planner's inputs (current plan, spend history) read by hand-checked rules, bad ones refused in
one line; and, for any valid scenario and history, a recommendation the environment can play."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import any_scenarios
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from budgetgym.envs import BudgetGymError, check_plan, load_scenario
from budgetgym.envs.scenario_parts import MAX_AMOUNT
from budgetgym.planner.inputs import plan_dates, read_current, read_history, read_history_file
from budgetgym.planner.metrics import COUNT_FIGURES
from budgetgym.planner.plan import plan

SC = load_scenario("stationary-3")  # 14 steps, 84,000: 6,000 a step; channels search, social, video


def test_split_budgets_and_equal() -> None:
    X, what = read_current("search=0.5,social=0.3,video=0.2", SC)
    assert what == "split"
    np.testing.assert_allclose(X, np.tile([3000.0, 1800.0, 1200.0], (14, 1)))
    X, what = read_current("search=42000, video=14000", SC)  # budgets over the window; social left at 0
    assert what == "budgets"
    np.testing.assert_allclose(X, np.tile([3000.0, 0.0, 1000.0], (14, 1)))
    X, _ = read_current("equal", SC)
    np.testing.assert_allclose(X, 2000.0)


def test_csv_per_channel_and_per_step(tmp_path: Path) -> None:
    per_channel = tmp_path / "current.csv"
    per_channel.write_text("channel,spend\nsearch,28000\nsocial,28000\nvideo,14000\n")
    X, _ = read_current(str(per_channel), SC)
    np.testing.assert_allclose(X, np.tile([2000.0, 2000.0, 1000.0], (14, 1)))
    shares = tmp_path / "shares.csv"
    shares.write_text("channel,share\nsearch,0.25\nsocial,0.25\nvideo,0.5\n")
    np.testing.assert_allclose(read_current(str(shares), SC)[0], np.tile([1500.0, 1500.0, 3000.0], (14, 1)))
    steps = tmp_path / "steps.csv"
    rows = "\n".join(f"2026-01-{t + 1:02d},{100 * t},{50},{6000 - 100 * t - 50}" for t in range(14))
    steps.write_text("date,search,social,video\n" + rows + "\n")
    X, _ = read_current(str(steps), SC)
    assert X.shape == (14, 3) and X[3, 0] == 300.0 and X[3, 2] == 5650.0


def test_history_csv(tmp_path: Path) -> None:
    path = tmp_path / "hist.csv"
    path.write_text("week,video,search,social\n1,10,20,30\n2,11,21,31\n")  # any column order
    np.testing.assert_allclose(read_history(path, SC), [[20, 30, 10], [21, 31, 11]])


@pytest.mark.parametrize(
    ("content", "spec", "message"),
    [
        ("channel,spend\nsearch,1\ntv,2\n", None, "unknown channel 'tv'"),
        ("channel,spend\nsearch,-1\nsocial,2\n", None, "column 'spend', row 1: spend must be non-negative"),
        ("search,social,video\n1,2,3\n", None, "expected 14 rows"),
        ("search,social\n" + "1,2\n" * 14, None, "missing channel column(s) video"),
        ("search,social,video\n" + "1,x,3\n" * 14, None, "column 'social', row 1: spend must be a finite number"),
        ("search,social,video\n" + "1,true,3\n" * 14, None, "column 'social', row 1: spend must be a number, got True"),
        ("channel,spend\nsearch,90000\n", None, "more than the budget"),
        (None, "search=0.5,social=0.6", "shares must sum to 1"),
        (None, "search=50000,social=60000", "more than the budget"),
        (None, "search=0.5,tv=0.5", "unknown channel 'tv'"),
        (None, "search:0.5", "expected 'equal', channel=value pairs or a CSV file"),
        (None, "search=20000,search=30000,social=10000", "channel 'search' is given twice"),
        (None, "search=42000,social=-1,video=0", "channel 'social': expected a finite non-negative value, got -1"),
        (None, "search=0.5,social=nan,video=0.5", "channel 'social': expected a finite non-negative value, got nan"),
        (None, "search=-10%,social=110%", "channel 'search': expected a finite non-negative value, got -10%"),
        (None, "nofile.csv", "file not found"),
    ],
)
def test_bad_current_is_one_line(tmp_path: Path, content: str | None, spec: str | None, message: str) -> None:
    if content is not None:
        path = tmp_path / "bad.csv"
        path.write_text(content)
        spec = str(path)
    assert spec is not None
    with pytest.raises(BudgetGymError) as err:
        read_current(spec, SC)
    assert message in str(err.value) and "\n" not in str(err.value)
    if content is not None:
        assert str(tmp_path / "bad.csv") in str(err.value)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("search,social\n1,2\n", "missing channel column(s) video"),
        ("search,social,video\n1,2,-3\n", "column 'video', row 1: spend must be non-negative"),
        ("search,social,video,tv\n1,2,3,4\n", "unknown channel 'tv'"),
        ("search,social,video\n1,2,abc\n", "spend must be a finite number"),
        ("search,social,video\n1,2,FALSE\n", "column 'video', row 1: spend must be a number, got False"),
    ],
)
def test_bad_history_is_one_line(tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "hist.csv"
    path.write_text(content)
    with pytest.raises(BudgetGymError) as err:
        read_history(path, SC)
    assert message in str(err.value) and "\n" not in str(err.value) and "hist.csv" in str(err.value)


@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(sc=any_scenarios(max_horizon=8, max_channels=3), data=st.data())
def test_any_scenario_and_history_give_a_playable_finite_plan(sc, data) -> None:  # type: ignore[no-untyped-def]
    # half the campaigns with fields at the schema's edges (conftest.any_scenarios)
    H = data.draw(st.integers(0, 6))
    # a history step spends at most 1e15 (MAX_AMOUNT, the largest budget: history.py refuses more in one line)
    scale = min(data.draw(st.sampled_from([0.0, 0.1, 1.0, 10.0])) * sc.step_budget, MAX_AMOUNT)
    hist = np.asarray(
        data.draw(st.lists(st.lists(st.floats(0, 1), min_size=sc.n_channels, max_size=sc.n_channels),
                           min_size=H, max_size=H)) or np.zeros((0, sc.n_channels))
    ) * scale
    res = plan(sc, history=hist, current="equal")
    assert check_plan(sc, res.plan) == []
    assert res.plan.sum() <= sc.budget.total * (1 + 1e-12)
    assert np.isfinite(res.value) and np.isfinite(res.static_value)
    counted = sc.response_unit == "conversions"
    _only_documented_gaps(res.channels, res.plan, res.current, counted=counted)
    finite = ["spend", "share", "revenue", "outcome"] + (["conversions"] if counted else [])
    assert np.all(np.isfinite(res.channels[finite].to_numpy()))
    assert res.curves is not None and np.all(np.isfinite(res.curves[["spend", "outcome"]].to_numpy()))
    assert res.value >= res.static_value - 1e-9 * max(1.0, abs(res.value))


def _only_documented_gaps(
    table: pd.DataFrame, plan: np.ndarray, current: np.ndarray | None, counted: bool = True
) -> None:
    """Every number of the channel table is finite except where its definition has no value
    (``planner.metrics``): ROAS without spend, CPA without spend or incremental conversions, mCPA (inf)
    without marginal conversions, a change in % of no current spend, and the history multiple (inf: the
    history never spent on a channel the plan spends on; NaN: neither spends). "No spend" on a channel is
    every step of it at most 1e-6 of the plan's largest step (the solver's rounding of 0); "no conversions"
    is fewer than the smallest normal float, 2.2e-308, or a CPA beyond the float range
    (``planner.metrics.per_conversion``). A campaign whose response is counted in currency (not ``counted``)
    has no conversions: the figures that count them (``COUNT_FIGURES``, the current plan's too) are NaN."""
    tiny = np.finfo(float).tiny

    def unspent(X: np.ndarray) -> np.ndarray:
        X = np.asarray(X, dtype=float)
        return np.all(X <= 1e-6 * max(float(X.max()), 0.0), axis=0)

    def no_cpa(spend: pd.Series, conversions: pd.Series) -> np.ndarray:
        incremental = (conversions - table["baseline_conversions"]).to_numpy(float)
        with np.errstate(over="ignore", divide="ignore", invalid="ignore"):
            return (incremental < tiny) | ~np.isfinite(spend.to_numpy(float) / incremental)

    none = unspent(plan)
    undefined = {"roas": none, "cpa": none | no_cpa(table["spend"], table["conversions"])}
    infinite = {"mcpa": table["marginal_conversions"] < tiny}
    if "current_spend" in table:
        assert current is not None
        cur_none = unspent(current)
        undefined["current_roas"] = cur_none
        undefined["current_cpa"] = cur_none | no_cpa(table["current_spend"], table["current_conversions"])
        undefined["change_pct"] = cur_none
        # its marginal conversions are not in the table: inf only where they are below the smallest normal float,
        # so the mROAS (their value, at most MAX_AMOUNT a conversion) is below MAX_AMOUNT times it
        infinite["current_mcpa"] = np.isposinf(table["current_mcpa"]) & (table["current_mroas"] < MAX_AMOUNT * tiny)
    if "vs_history_max" in table:
        never = table["history_max_spend"] <= 0
        infinite["vs_history_max"] = never & ~none
        undefined["vs_history_max"] = never & none
    for col in table.select_dtypes("number").columns:
        v = table[col].to_numpy(float)
        nan = undefined.get(col, np.zeros(len(v), dtype=bool))
        inf = infinite.get(col, np.zeros(len(v), dtype=bool))
        if not counted and col.removeprefix("current_") in COUNT_FIGURES:
            nan, inf = np.ones(len(v), dtype=bool), np.zeros(len(v), dtype=bool)
        np.testing.assert_array_equal(np.isnan(v), np.asarray(nan), err_msg=col)
        np.testing.assert_array_equal(np.isposinf(v), np.asarray(inf), err_msg=col)
        assert not np.isneginf(v).any(), col


def test_a_history_with_dates_dates_the_plan_continuing_it(tmp_path: Path) -> None:
    path = tmp_path / "hist.csv"
    path.write_text("date,search,social,video\n2025-01-30,1,2,3\n2025-01-31,1,2,3\n")
    read = read_history_file(path, SC)
    np.testing.assert_allclose(read.spend, [[1, 2, 3], [1, 2, 3]])
    dates = plan_dates(read, SC)  # 14 daily steps from the day after 31 January 2025
    assert dates is not None and len(dates) == 14
    assert dates[:2] == ["2025-02-01", "2025-02-02"] and dates[-1] == "2025-02-14"
    monthly = SC.override({"step_days": 30.0})  # calendar months are a 30-day scenario's steps
    path.write_text("date,search,social,video\n2024-11-30,1,2,3\n2024-12-30,1,2,3\n")  # a month apart
    dates = plan_dates(read_history_file(path, monthly), monthly)
    assert dates is not None and dates[:3] == ["2025-01-30", "2025-02-28", "2025-03-30"]
    path.write_text("date,search,social,video\n2024-11-30,1,2,3\n2024-12-31,1,2,3\n")  # month ends
    dates = plan_dates(read_history_file(path, monthly), monthly)
    assert dates is not None and dates[:3] == ["2025-01-31", "2025-02-28", "2025-03-31"]
    path.write_text("search,social,video\n1,2,3\n")
    assert plan_dates(read_history_file(path, SC), SC) is None


def test_history_dates_other_than_the_scenarios_steps_are_one_line(tmp_path: Path) -> None:
    path = tmp_path / "hist.csv"
    path.write_text("date,search,social,video\n2025-01-06,1,2,3\n2025-01-13,1,2,3\n")  # weekly; stationary-3 daily
    with pytest.raises(BudgetGymError) as err:
        read_history_file(path, SC)
    text = str(err.value)
    assert "hist.csv" in text and "column 'date'" in text and "7 days apart" in text and "\n" not in text
    path.write_text("date,search,social,video\n2025-01-06,1,2,3\nlater,1,2,3\n")
    with pytest.raises(BudgetGymError, match="column 'date', row 2: expected a date"):
        read_history_file(path, SC)


def test_a_start_date_dates_the_plan_and_plan_csv(tmp_path: Path) -> None:
    from budgetgym.planner.outputs import plan_table

    weekly = SC.override({"step_days": 7.0})
    result = plan(weekly, start_date="2025-03-03", curves=False, lift_design="none")
    assert result.dates is not None and result.dates[:3] == ["2025-03-03", "2025-03-10", "2025-03-17"]
    table = plan_table(result)
    assert list(table.columns[:3]) == ["step", "day", "date"] and table["date"].iloc[-1] == "2025-06-02"
    assert result.summary()["dates"] == result.dates
    assert plan(weekly, curves=False, lift_design="none").dates is None
    with pytest.raises(BudgetGymError, match="--start-date"):
        plan(weekly, start_date="March", curves=False, lift_design="none")
    # 3 April or 4 March: month first was taken silently; a day-first user's plan was dated a month off
    with pytest.raises(BudgetGymError) as err:
        plan(weekly, start_date="03/04/2025", curves=False, lift_design="none")
    assert str(err.value) == ("--start-date '03/04/2025' reads both ways: 2025-03-04 as MM/DD/YYYY, 2025-04-03 as "
                              "DD/MM/YYYY; expected dates as YYYY-MM-DD")
    assert plan(weekly, start_date="13/04/2025", curves=False, lift_design="none").dates[0] == "2025-04-13"


def test_a_history_of_steps_shorter_than_a_day_keeps_its_times(tmp_path: Path) -> None:
    # every date was read at its midnight: two half-day steps of a day were "date 2025-01-01 appears
    # twice", a history the planner read before its date column was checked
    half = SC.override({"step_days": 0.5})
    path = tmp_path / "hist.csv"
    path.write_text("date,search,social,video\n2025-01-01 00:00,1,2,3\n2025-01-01 12:00,1,2,3\n")
    read = read_history_file(path, half)
    assert read.step_days == 0.5
    dates = plan_dates(read, half)
    assert dates is not None and dates[:3] == ["2025-01-02T00:00:00", "2025-01-02T12:00:00", "2025-01-03T00:00:00"]
    result = plan(half, start_date="2025-03-03 12:00", curves=False, lift_design="none")
    assert result.dates is not None and result.dates[:2] == ["2025-03-03T12:00:00", "2025-03-04T00:00:00"]
    path.write_text("date,search,social,video\n2025-01-01 09:00,1,2,3\n2025-01-02 09:00,1,2,3\n")  # daily: the day
    assert plan_dates(read_history_file(path, SC), SC) == [f"2025-01-{d:02d}" for d in range(3, 17)]


def test_a_start_date_must_continue_a_dated_history(tmp_path: Path) -> None:
    # the plan was dated from 1 March while its carry-in was valued right after 31 January's spend
    path = tmp_path / "hist.csv"
    path.write_text("date,search,social,video\n2025-01-30,1,2,3\n2025-01-31,1,2,3\n")
    with pytest.raises(BudgetGymError) as err:
        plan(SC, history=path, start_date="2025-03-01", curves=False, lift_design="none")
    text = str(err.value)
    assert "--start-date '2025-03-01'" in text and "hist.csv" in text and "2025-02-01" in text and "\n" not in text
    agreed = plan(SC, history=path, start_date="2025-02-01", curves=False, lift_design="none")
    assert agreed.dates is not None and agreed.dates[:2] == ["2025-02-01", "2025-02-02"]


def test_an_empty_sweep_array_is_a_one_line_error() -> None:
    """``plan(sweep=[])`` (the library's array form; ``--sweep`` takes N >= 2) found no level nearest
    the budget to start from and failed with numpy's 'attempt to get argmin of an empty sequence'."""
    with pytest.raises(BudgetGymError, match=r"^sweep: expected at least one budget multiple, got none$"):
        plan("stationary-3", sweep=np.array([]), curves=False)


def test_a_dated_current_plan_for_another_period_is_noted_not_silently_ignored(tmp_path: Path) -> None:
    """A per-step current plan with a date column was read row by row against the window's steps and its dates
    ignored without a word, so last quarter's plan was compared as if it were this window's. Its dates are now
    read (one-line error when they are no dates) and a note says when they are not the window's."""
    from budgetgym.planner.plan_text import summary_lines

    hist = tmp_path / "hist.csv"
    hist.write_text("date,search,social,video\n2025-01-30,1,2,3\n2025-01-31,1,2,3\n")  # window: 1 to 14 February

    def current(first: str) -> Path:
        path = tmp_path / f"current-{first}.csv"
        days = pd.date_range(first, periods=14, freq="D")
        path.write_text("date,search,social,video\n" + "".join(f"{d.date()},2000,2000,2000\n" for d in days))
        return path

    note = ("the current plan's dates (2024-11-01 to 2024-11-14) are not the window's (2025-02-01 to 2025-02-14): "
            "its rows are valued as the window's steps in order, their dates ignored")
    last_quarter = plan(SC, history=hist, current=str(current("2024-11-01")), curves=False, lift_design="none")
    assert last_quarter.current_dates_note == note
    assert f"note: {note}" in summary_lines(last_quarter)
    assert last_quarter.summary()["current"]["dates_note"] == note
    same = plan(SC, history=hist, current=str(current("2025-02-01")), curves=False, lift_design="none")
    assert same.current_dates_note is None and same.summary()["current"]["dates_note"] is None
    assert same.current_value == last_quarter.current_value  # the same rows, valued the same
    undated = plan(SC, current=str(current("2024-11-01")), curves=False, lift_design="none")
    assert undated.current_dates_note == (
        "the current plan's dates (2024-11-01 to 2024-11-14) are ignored: its rows are valued as the window's steps in "
        "order (the window is dated by --start-date or a dated --history)")
    bad = tmp_path / "bad.csv"
    bad.write_text("date,search,social,video\n" + "".join(f"{t},2000,2000,2000\n" for t in ["x"] * 14))
    with pytest.raises(BudgetGymError, match=r"^--current file '.*bad.csv': column 'date', row 1: expected a date"):
        plan(SC, current=str(bad), curves=False, lift_design="none")


@pytest.mark.parametrize("total", [83_999.6, 84_000.4])  # both print as "budget 84,000"
def test_budgets_summing_to_the_printed_budget_are_the_budget(tmp_path: Path, total: float) -> None:
    """A calibrated family's budget is the data's spend, e.g. 829,094.83, printed "budget 829,095": per-channel
    budgets summing to the printed figure were refused ("spends 829,095.00, more than the budget 829,094.83")
    or, a cent below, valued with the note that the plan breaks even pacing. Within half a unit of currency of
    the budget they are the budget, split in their proportions; beyond it they are still refused."""
    sc = SC.override({"budget.total": total})
    table = tmp_path / "budgets.csv"
    table.write_text("channel,budget\nsearch,42000\nsocial,28000\nvideo,14000\n")
    for spec in ("search=42000,social=28000,video=14000", str(table)):
        X, _ = read_current(spec, sc)
        np.testing.assert_allclose(X, np.tile(np.array([3.0, 2.0, 1.0]) / 6.0 * total / 14, (14, 1)), rtol=1e-12)
        assert check_plan(sc, X) == []
    with pytest.raises(BudgetGymError, match="more than the budget 83,999.60"):
        read_current("search=42000,social=28000,video=14000.5", SC.override({"budget.total": 83_999.6}))
    # a small budget's half unit is no rounding: budgets of 10 under a budget of 10.4 stay 10 (1e-5 of it at most)
    X, _ = read_current("search=5,social=3,video=2", SC.override({"budget.total": 10.4}))
    assert X.sum() == pytest.approx(10.0, rel=1e-12)


@pytest.mark.parametrize(
    ("spec", "typed_sum", "rounding"),
    [
        ("search=0.333,social=0.333,video=0.333", "0.999", "0.0015"),  # the table's 33.3% as shares
        ("search=33.3%,social=33.3%,video=33.3%", "99.9%", "0.15%"),  # ... as percentages
        ("search=0.5, social=0.3, video=0.19", "0.99", "0.015"),  # the finest digit given sets the rounding
        ("search=0.667,social=0.223,video=0.109", "0.999", "0.0015"),
    ],
)
def test_a_split_typed_from_rounded_percentages_is_scaled_to_one_and_noted(
    spec: str, typed_sum: str, rounding: str
) -> None:
    """``plan`` prints shares to one decimal of a percent (33.3%); typed back they sum to 99.9% and were
    refused ("these look like shares but sum to 0.999"), a percent sign was no number at all. Each value
    is within half a unit of its last digit of the true share, so ``n`` values sum to within ``n`` half
    units of 1: such a split is scaled to sum to exactly 1, by hand ``q_i = v_i / sum v``, and a note says so."""
    from budgetgym.planner.inputs import read_dated_current

    read = read_dated_current(spec, SC)
    typed = {k.strip(): float(v.strip().rstrip("%")) for k, v in (p.split("=") for p in spec.split(","))}
    expected = np.array([typed.get(n, 0.0) for n in SC.channel_names]) / sum(typed.values())
    np.testing.assert_allclose(read.plan, np.tile(expected * 6000.0, (14, 1)), rtol=1e-12)
    assert read.plan.sum() == pytest.approx(84_000.0, rel=1e-12) and check_plan(SC, read.plan) == []
    assert read.what == "split"
    assert read.note == (f"--current {spec!r}: the split sums to {typed_sum}, within the rounding of the digits given "
                         f"(±{rounding}); scaled to sum to {'100%' if '%' in spec else '1'}")
    exact = read_dated_current("search=0.5,social=0.3,video=0.2", SC)
    assert exact.note is None and exact.plan.sum() == pytest.approx(84_000.0, rel=1e-15)


def test_a_share_table_of_rounded_shares_is_scaled_and_a_split_beyond_rounding_refused(tmp_path: Path) -> None:
    """The per-channel ``share`` column (``--current`` and ``simulate --plan`` files) follows the same rule;
    a sum beyond the rounding of the digits given is refused in one line naming the file and the sum, and a
    split summing to 100 is named as percentages (it was read as budgets of 100 in currency, an uplift of
    +29,635% over a current plan spending 0.1% of the budget)."""
    from budgetgym.planner.inputs import read_dated_current

    table = tmp_path / "shares.csv"
    table.write_text("channel,share\nsearch,0.333\nsocial,0.333\nvideo,0.333\n")
    read = read_dated_current(str(table), SC)
    np.testing.assert_allclose(read.plan, 2000.0, rtol=1e-12)
    assert read.note is not None and read.note.startswith(f"--current file '{table}': the split sums to 0.999")
    refusals = {
        "search=0.33,social=0.33,video=0.32": "these look like shares but sum to 0.98; shares must sum to 1 within "
        "the rounding of the digits given (±0.015), or give each channel's budget over the window, in currency",
        "search=33%,social=33%,video=32%": "the percentages sum to 98%; shares must sum to 100% within the rounding "
        "of the digits given (±1.5%)",
        "search=33.3,social=33.3,video=33.4": "these sum to 100, like percentages; write them with % (search=33.3%) "
        "or as shares summing to 1, or give budgets in a CSV file with a 'budget' column",
        "search=50%,social=0.5": "give every value as a percentage (search=50%) or none",
        "search=0.5,social=0.6": "these look like shares but sum to 1.1; shares must sum to 1 within the rounding of "
        "the digits given (±0.1), or give each channel's budget over the window, in currency",  # the bound: ties
    }
    for spec, message in refusals.items():
        with pytest.raises(BudgetGymError) as err:
            read_current(spec, SC)
        assert str(err.value) == f"--current {spec!r}: {message}"
    table.write_text("channel,share\nsearch,33.3\nsocial,33.3\nvideo,33.3\n")
    with pytest.raises(BudgetGymError) as err:
        read_current(str(table), SC)
    assert str(err.value) == (f"--current file '{table}': shares must sum to 1 within the rounding of the digits given "
                              f"(±0.15), got 99.9; these sum to 100 like percentages: divide them by 100")


@settings(max_examples=60, deadline=None)
@given(
    shares=st.lists(st.floats(0.0, 1.0), min_size=2, max_size=5).filter(lambda x: sum(x) > 1e-3),
    decimals=st.integers(0, 3),
    percent=st.booleans(),
)
def test_any_split_typed_back_from_its_rounded_figures_is_that_split(
    shares: list[float], decimals: int, percent: bool
) -> None:
    """Property: a split printed to ``decimals`` decimals (as a share, or a percentage with ``%``) and typed
    back reads as a split summing to 1 whose every share is within the rounding of the figure typed (half a
    unit of its last digit, plus what scaling the sum back to 1 moves it), unless the rounded figures sum to
    the bound ``n/2`` units from 1 or beyond (every figure a tie: refused by design); shares typed without a
    decimal are exact. Fails if a rounded split is refused or read as budgets."""
    sc = load_scenario("stationary-5")
    q = np.asarray(shares) / sum(shares)
    unit = 100.0 if percent else 1.0
    figures = [round(float(x) * unit, decimals) for x in q]
    half = 0.5 * 10.0**-decimals / unit  # half a unit of the last digit, in shares
    off = abs(sum(figures) / unit - 1.0)
    if off >= len(q) * half - 1e-6 or sum(figures) == 0:  # the bound itself (all ties), or nothing typed
        return
    if decimals == 0 and not percent:  # shares typed without a decimal (0 or 1) are exact, not rounded
        return
    names = sc.channel_names[: len(q)]
    text = ",".join(f"{n}={f:.{decimals}f}{'%' if percent else ''}" for n, f in zip(names, figures, strict=True))
    plan, _ = read_current(text, sc)
    got = plan[0, : len(q)] / sc.step_budget
    assert got.sum() == pytest.approx(1.0, abs=1e-9)
    assert plan[0, len(q):].sum() == 0.0
    np.testing.assert_allclose(got, q, atol=half + off + 1e-9)
@pytest.mark.parametrize(
    ("spec", "message"),
    [
        # three whole zeros summed to within 3 half units of 1 and were 'scaled to 1': 0 / 0, a NaN plan that
        # `plan` refused as "plan: spend must be finite and non-negative", naming no option
        ("search=0,social=0,video=0", "these look like shares but sum to 0; shares must sum to 1 exactly"),
        # whole numbers give no digits as shares (0.5 is 0.50, 1 is 1.000): 1 + 1 + 0 is no rounded split of 50/50
        ("search=1,social=1,video=0", "these look like shares but sum to 2; shares must sum to 1 exactly"),
        ("search=0%,social=0%,video=0%", "the percentages sum to 0%"),
    ],
)
def test_whole_numbers_are_no_rounded_split(tmp_path: Path, spec: str, message: str) -> None:
    """A value typed with no decimals is a rounded percentage (33%) but an exact share (0 or 1): only shares
    with decimals are read back within the rounding of their digits, and a split must spend something (its
    shares are scaled by their sum)."""
    with pytest.raises(BudgetGymError) as err:
        read_current(spec, SC)
    assert str(err.value).startswith(f"--current {spec!r}: {message}") and "\n" not in str(err.value)
    table = tmp_path / "shares.csv"
    table.write_text("channel,share\nsearch,0\nsocial,0\nvideo,0\n")
    with pytest.raises(BudgetGymError) as err:
        read_current(str(table), SC)
    assert str(err.value) == f"--current file '{table}': shares must sum to 1 exactly, got 0"
    X, what = read_current("search=1,social=0,video=0", SC)  # whole and exact: the split
    assert what == "split"
    np.testing.assert_allclose(X, np.tile([6000.0, 0.0, 0.0], (14, 1)))


def test_a_current_plan_above_the_budget_says_how_to_compare_it() -> None:
    """Last quarter's spend typed as budgets (84,030.5) is a hair above this quarter's budget (84,000): the error
    said only that, and the planner had to find that ``--budget`` plans at the current plan's total. It now
    names the budget to type, and planning at that budget takes the same plan, its spend kept."""
    spec = "search=42000,social=28000,video=14030.5"
    with pytest.raises(BudgetGymError, match=r"^--current '.*': spends 84,030\.50, more than the budget 84,000\.00: "
                                             r"plan at its total with --budget 84030\.5, or give it as shares"):
        read_current(spec, SC)
    X, what = read_current(spec, SC.override({"budget.total": 84030.5}))
    assert what == "budgets"
    np.testing.assert_allclose(X.sum(axis=0), [42000.0, 28000.0, 14030.5], rtol=1e-12)


def test_a_data_file_given_as_history_says_which_file_to_give(tmp_path: Path) -> None:
    """The calibration's data file (Meridian's layout: a blank index column, ``time``, ``<channel>_spend``, the KPI)
    given as ``--history`` was refused as "unknown channel 'Unnamed: 0'": the column pandas names for the blank
    header, which says nothing of what to give instead. The spend columns are recognised and the message names the
    history calibrate writes."""
    data = tmp_path / "national.csv"
    data.write_text(",time,search_spend,social_spend,video_spend,conversions\n"
                    + "".join(f"{i},2024-01-{1 + 7 * i:02d},100,200,300,40\n" for i in range(3)))
    said = (r"column 'search_spend' is channel search's spend column of a data file; a per-step table has a column "
            r"per channel named as the campaign's \(search, social, video\), as the history.csv calibrate writes "
            r"beside family.yaml$")
    with pytest.raises(BudgetGymError, match=r"^history file '.*national.csv': " + said):
        read_history(data, SC)
    with pytest.raises(BudgetGymError, match=r"^--current file '.*national.csv': " + said):
        read_current(str(data), SC)
    history = tmp_path / "history.csv"  # what calibrate writes, from the same data: read
    history.write_text("date,search,social,video\n" + "".join(f"2024-01-0{1 + i},100,200,300\n" for i in range(3)))
    np.testing.assert_allclose(read_history(history, SC), np.tile([100.0, 200.0, 300.0], (3, 1)))


def test_a_subnormal_response_has_an_undefined_cpa_in_the_channel_table() -> None:
    """Hypothesis seed 33: a demand shock of 2.2e-311 leaves the plan 3.5e-311 conversions on ``c1``; its
    CPA, 1 / 3.5e-311, is beyond the float range, so ``planner.metrics.per_conversion`` leaves it undefined
    (NaN), as it documents for conversions below the smallest normal float. The table check has to read
    "no incremental conversions" the same way."""
    shocks = [{"kind": "demand", "start": 0, "duration": 1, "multiplier": 2.225073858507e-311}]
    sc = SC.override({"horizon": 1, "budget.total": 1.0, "shocks": shocks})
    res = plan(sc, history=np.zeros((0, sc.n_channels)), current="equal")
    assert np.all(res.channels["conversions"] < np.finfo(float).tiny)
    assert res.channels["cpa"].isna().all() and np.isposinf(res.channels["mcpa"]).all()
    _only_documented_gaps(res.channels, res.plan, res.current)


def test_a_current_plan_above_any_budget_is_not_told_to_plan_at_its_total() -> None:
    """A current plan spending more than a scenario's budget can be (``MAX_AMOUNT`` 1e15) was told to "plan at its
    total with --budget 2e+15", a budget ``--budget`` refuses ("expected ... 1e-9 to 1e15"): it now says the total is
    beyond any budget, and the suggestion stays for a total a budget can be."""
    with pytest.raises(BudgetGymError, match=r"^--current '.*': spends [\d,.]+, more than the budget 84,000\.00 "
                                             r"and than any budget \(at most 1e\+15\): give it as shares to scale it "
                                             r"to the budget$"):
        read_current("search=2e15,social=0,video=0", SC)
    with pytest.raises(BudgetGymError, match=r"plan at its total with --budget 500000000000000, or give it as shares"):
        read_current("search=5e14,social=0,video=0", SC)


def test_a_plural_channel_column_is_not_taken_for_a_data_files_spend_column(tmp_path: Path) -> None:
    """A data file's spend column is the channel's name, a separator and a spend suffix (``search_spend``, Robyn's
    ``tv_S``). A per-step table's ``videos`` for channel ``video`` (the suffix ``s`` with no separator) was said to be
    "channel video's spend column of a data file", sending the planner to calibrate's history.csv; it is an unknown
    channel, with a "did you mean"."""
    history = tmp_path / "history.csv"
    history.write_text("date,search,social,videos\n2024-01-01,1,2,3\n2024-01-02,1,2,3\n")
    with pytest.raises(BudgetGymError, match=r"unknown channel 'videos' \(did you mean 'video'\?\)"):
        read_history(history, SC)
    history.write_text("date,search,social,video_S\n2024-01-01,1,2,3\n2024-01-02,1,2,3\n")
    with pytest.raises(BudgetGymError, match=r"column 'video_S' is channel video's spend column of a data file"):
        read_history(history, SC)
