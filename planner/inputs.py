"""A planner's own numbers: the current plan and the spend history, from the command line or CSV.

``--current`` takes one of

* ``equal`` — the equal split, evenly flighted;
* ``search=0.4,social=0.3,...`` — a split (values summing to 1; channels left out get 0) or
  per-channel budgets over the window (currency; values that are all at most 1 but do not sum
  to 1 are refused as a mistyped split), evenly flighted (``B_i / T`` a step); budgets summing to
  within :data:`BUDGET_ROUNDING` (at most :data:`BUDGET_RTOL` ``B``) of the budget ``B`` (the budget as
  printed, rounded to whole units) are scaled to sum to ``B`` exactly, :math:`B_i \\leftarrow B_i \\, B / \\sum_j B_j`;
* a CSV file: per channel (columns ``channel`` and one of ``share`` / ``spend`` / ``budget``,
  a row per channel), or per step (a column per channel, ``T`` rows, optionally a ``step`` /
  ``date`` / ``week`` / ``day`` column first). Its rows are the window's steps in order; a
  ``date`` column must hold dates (:func:`~budgetgym.envs.dates.read_dates`), which label the rows
  only: dates other than the window's (last quarter's plan) are noted (:func:`current_dates_note`).

``--history`` takes a CSV of past spend per step, a column per channel (optionally a ``step`` /
``date`` / ``week`` / ``day`` column), oldest row first, the last row the step just before the
window (:mod:`budgetgym.envs.history`). A ``date`` column (``calibrate``'s ``history.csv`` has
one) must hold dates one step apart (:func:`~budgetgym.envs.dates.read_dates`; calendar months
for a scenario of 28 to 31 days a step; read at their time of day when a step is not a whole
number of days): the plan's steps then get the dates that continue it (:func:`plan_dates`).

Every problem is a one-line :class:`~budgetgym.envs.errors.BudgetGymError` naming the file (or
option) and the field: unknown or missing channels, negative or non-numeric spend, a per-step
table of the wrong length, a plan above the budget.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from budgetgym.envs.dates import MONTH_DAYS, date_texts, month_ends, next_dates, read_dates, whole_days
from budgetgym.envs.errors import BudgetGymError, suggest
from budgetgym.envs.history import check_history
from budgetgym.envs.io import numeric_column, read_csv_table
from budgetgym.envs.scenario import Scenario
from budgetgym.experiments.wording import count

__all__ = ["INDEX_COLUMNS", "History", "check_within_budget", "current_dates_note", "plan_dates", "read_current",
           "read_dated_current", "read_history", "read_history_file", "read_table"]

#: Columns of a per-step table that label the steps, or sum them (``plan.csv``'s ``total``): ignored.
INDEX_COLUMNS = ("step", "date", "week", "day", "period", "time", "total")

#: Per-channel budgets summing to within this much currency of the budget are the budget (:func:`_from_channels`):
#: the plan prints the budget rounded to whole units (829,094.83 as "829,095"), and budgets adding up to the
#: printed figure are meant as the budget, not as a plan above it or one breaking even pacing by a cent. Never
#: more than :data:`BUDGET_RTOL` of the budget: a small budget's half unit is no rounding (10.4 and 10).
BUDGET_ROUNDING = 0.5
BUDGET_RTOL = 1e-5


def read_table(path: str | Path, what: str) -> pd.DataFrame:
    """A CSV file as a DataFrame, or a one-line error naming the file
    (:func:`~budgetgym.envs.io.read_csv_table`)."""
    table: pd.DataFrame = read_csv_table(path, what)
    return table


def _check_names(found: list[str], names: list[str], source: str, require_all: bool) -> None:
    unknown = [c for c in found if c not in names]
    if unknown:
        raise BudgetGymError(
            f"{source}: unknown channel '{unknown[0]}'{suggest(unknown[0], names)}; channels are {', '.join(names)}"
        )
    missing = [n for n in names if n not in found]
    if require_all and missing:
        raise BudgetGymError(f"{source}: missing channel column(s) {', '.join(missing)}; expected one per channel")


def _per_step(df: pd.DataFrame, scenario: Scenario, source: str, rows: int | None) -> np.ndarray:
    names = scenario.channel_names
    cols = [c for c in df.columns if c.lower() not in INDEX_COLUMNS]
    _check_names(cols, names, source, require_all=True)
    if rows is not None and len(df) != rows:
        raise BudgetGymError(f"{source}: expected {count(rows, 'row')} (one per step of the window), got {len(df)}")
    spend = [numeric_column(df, n, source, "spend", nonnegative=True, boolean=False) for n in names]
    return np.column_stack(spend) if len(df) else np.zeros((0, len(names)))


def _from_channels(values: dict[str, float], scenario: Scenario, source: str, kind: str | None) -> np.ndarray:
    names = scenario.channel_names
    _check_names(list(values), names, source, require_all=False)
    v = np.array([float(values.get(n, 0.0)) for n in names])
    bad = [n for n, x in zip(names, v, strict=True) if not (np.isfinite(x) and x >= 0)]
    if bad:
        got = values[bad[0]]
        raise BudgetGymError(f"{source}: channel '{bad[0]}': expected a finite non-negative value, got {got:g}")
    total = v.sum()
    if kind is None:
        if abs(total - 1.0) > 1e-6 and np.all(v <= 1.0):
            raise BudgetGymError(
                f"{source}: these look like shares but sum to {total:g}; shares must sum to 1 "
                f"(or give each channel's budget over the window, in currency)"
            )
        kind = "share" if abs(total - 1.0) <= 1e-6 else "budget"
    if kind == "share":
        if abs(total - 1.0) > 1e-6:
            raise BudgetGymError(f"{source}: shares must sum to 1, got {total:g}")
        return np.tile(v * scenario.step_budget, (scenario.horizon, 1))
    B = scenario.budget.total
    if total > 0 and abs(total - B) <= min(BUDGET_ROUNDING, BUDGET_RTOL * B):  # the budget as printed: B, so split
        v = v * (B / total)
    return np.tile(v / scenario.horizon, (scenario.horizon, 1))


def read_current(
    spec: str, scenario: Scenario, option: str = "--current", within_budget: bool = True
) -> tuple[np.ndarray, str]:
    """The current plan ``[T, K]`` (currency) and a short description of where it came from.

    Shares are of the scenario's step budget ``B/T``; errors name ``option`` (the command-line
    option that gave ``spec``). ``within_budget``: a plan spending more than the scenario's budget
    is an error (``budgetgym simulate --plan`` plays any total, so it turns this off)."""
    plan, what, _ = read_dated_current(spec, scenario, option, within_budget)
    return plan, what


def read_dated_current(
    spec: str, scenario: Scenario, option: str = "--current", within_budget: bool = True
) -> tuple[np.ndarray, str, list[str] | None]:
    """:func:`read_current` and the dates of a per-step table's ``date`` column (ISO text,
    :func:`~budgetgym.envs.dates.date_texts`; ``None`` without one)."""
    text = spec.strip()
    source = f"{option} {text!r}"
    plan, what, dates = _read_plan(text, scenario, source, option)
    if within_budget:
        check_within_budget(plan, scenario, source)
    return plan, what, dates


def current_dates_note(current: list[str] | None, window: list[str] | None) -> str | None:
    """A one-line note when a current plan's dates are not the window's (``None``: nothing to say):
    its rows are valued as the window's steps in order whatever their dates, so a plan dated for
    another period (last quarter's) is compared as if it were this window's."""
    if current is None or current == window:
        return None
    span = f"the current plan's dates ({current[0]} to {current[-1]})"
    if window is None:
        return (f"{span} are ignored: its rows are valued as the window's steps in order (the window is dated by "
                f"--start-date or a dated --history)")
    return (f"{span} are not the window's ({window[0]} to {window[-1]}): its rows are valued as the window's steps "
            f"in order, their dates ignored")


def check_within_budget(plan: np.ndarray, scenario: Scenario, source: str) -> None:
    """A plan ``[T, K]`` spending more than the scenario's budget (beyond rounding, 1e-9 of it) is a
    one-line error naming ``source``."""
    B = scenario.budget.total
    if plan.sum() > B * (1 + 1e-9):
        raise BudgetGymError(f"{source}: spends {_money(plan.sum())}, more than the budget {_money(B)}")


def _money(x: float) -> str:
    """``1,234.50``, or ``1e+308`` for an amount beyond any budget (not a line of 300 digits)."""
    return f"{x:,.2f}" if abs(x) < 1e16 else f"{x:g}"


def _read_plan(text: str, scenario: Scenario, source: str, option: str) -> tuple[np.ndarray, str, list[str] | None]:
    """:func:`read_dated_current` without the budget check."""
    if text.lower() == "equal":
        K = scenario.n_channels
        return np.tile(np.full(K, scenario.step_budget / K), (scenario.horizon, 1)), "equal split", None
    if "=" in text and not Path(text).is_file():
        values: dict[str, float] = {}
        for item in filter(None, (s.strip() for s in text.split(","))):
            key, sep, val = item.partition("=")
            if key.strip() in values:  # the later value silently replaced the earlier one
                raise BudgetGymError(f"{source}: channel '{key.strip()}' is given twice")
            try:
                values[key.strip()] = float(val)
            except ValueError:
                raise BudgetGymError(f"{source}: expected channel=value pairs, got {item!r}") from None
            if not sep:
                raise BudgetGymError(f"{source}: expected channel=value pairs, got {item!r}")
        plan = _from_channels(values, scenario, source, None)
        return plan, "split" if abs(sum(values.values()) - 1) <= 1e-6 else "budgets", None
    if not text.lower().endswith(".csv") and not Path(text).is_file():
        raise BudgetGymError(f"{source}: expected 'equal', channel=value pairs or a CSV file"
                             + suggest(text, ["equal"]))
    source = f"{option} file '{text}'"
    df = read_table(text, f"{option} file")
    if "channel" in df.columns:
        value_cols = [c for c in ("share", "spend", "budget") if c in df.columns]
        if len(value_cols) != 1:
            raise BudgetGymError(f"{source}: a per-channel table needs one column 'share', 'spend' or 'budget'")
        col = value_cols[0]
        if not len(df):  # a header alone was read as a current plan of no spend at all
            raise BudgetGymError(f"{source}: the table has no rows; expected one row per channel")
        vals = numeric_column(df, col, source, "a share" if col == "share" else "spend", nonnegative=True,
                              boolean=False)
        chans = [str(c) for c in df["channel"]]
        if len(set(chans)) != len(chans):
            raise BudgetGymError(f"{source}: column 'channel': a channel appears twice")
        kind = "share" if col == "share" else "budget"
        plan = _from_channels(dict(zip(chans, vals, strict=True)), scenario, source, kind)
        return plan, f"per-channel {col} from {Path(text).name}", None
    plan = _per_step(df, scenario, source, scenario.horizon)
    date_col = next((c for c in df.columns if str(c).lower() == "date"), None)
    dates = None
    if date_col is not None:
        read, _ = read_dates(df, date_col, source, least=1, midnight=whole_days(scenario.step_days))
        dates = date_texts(read)
    return plan, f"per-step plan from {Path(text).name}", dates


@dataclass(frozen=True)
class History:
    """A history file read: the spend ``[H, K]`` and, when it has a ``date`` column, its dates and
    their step in days (:data:`~budgetgym.envs.dates.MONTH_DAYS` for calendar months; ``None`` for
    a single date: the scenario's step is taken)."""

    spend: np.ndarray
    dates: pd.DatetimeIndex | None = None
    step_days: float | None = None


def read_history_file(path: str | Path, scenario: Scenario) -> History:
    """Past spend and the dates of its steps from a per-step CSV (module docstring)."""
    source = f"history file '{path}'"
    df = read_table(path, "history file")
    spend = check_history(scenario, _per_step(df, scenario, source, None), source)
    col = next((c for c in df.columns if str(c).lower() == "date"), None)
    if col is None or not len(df):
        return History(spend)
    dates, step = read_dates(df, col, source, least=1, midnight=whole_days(scenario.step_days))
    if step is not None:
        monthly = step == MONTH_DAYS and 28.0 <= scenario.step_days <= 31.0
        if not (monthly or abs(step - scenario.step_days) < 1e-9):
            apart = "a calendar month" if step == MONTH_DAYS else count(float(step), "day")
            raise BudgetGymError(
                f"{source}: column '{col}': the dates are {apart} apart, but the scenario's steps are "
                f"{count(float(scenario.step_days), 'day')}; expected one row per step of the scenario"
            )
    return History(spend, dates, step)


def read_history(path: str | Path, scenario: Scenario) -> np.ndarray:
    """Past spend ``[H, K]`` from a per-step CSV (module docstring)."""
    return read_history_file(path, scenario).spend


def plan_dates(history: History, scenario: Scenario) -> list[str] | None:
    """The dates of the window's ``T`` steps, continuing the history's (``None`` without dates):
    the last history date plus ``k`` steps, ``k = 1..T`` (the history's step when it has one,
    else the scenario's ``step_days``; :func:`~budgetgym.envs.dates.next_dates`)."""
    if history.dates is None:
        return None
    step = scenario.step_days if history.step_days is None else history.step_days
    return date_texts(next_dates(history.dates[-1], step, scenario.horizon, month_ends(history.dates)))
