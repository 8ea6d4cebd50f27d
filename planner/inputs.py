"""A planner's own numbers: the current plan and the spend history, from the command line or CSV.

``--current`` takes one of

* ``equal`` — the equal split, evenly flighted;
* ``search=0.4,social=0.3,...`` — a split (values summing to 1; channels left out get 0; or
  percentages, ``search=40%,social=30%,...``, every value with ``%``) or per-channel budgets over the
  window (currency; values that are all at most 1 but do not sum to 1 are refused as a mistyped
  split, values summing to 100 far below the budget as percentages without ``%``), evenly flighted
  (``B_i / T`` a step); budgets summing to within :data:`BUDGET_ROUNDING` (at most :data:`BUDGET_RTOL`
  ``B``) of the budget ``B`` (the budget as printed, rounded to whole units) are scaled to sum to ``B``
  exactly, :math:`B_i \\leftarrow B_i \\, B / \\sum_j B_j`;
* a CSV file: per channel (columns ``channel`` and one of ``share`` / ``spend`` / ``budget``,
  a row per channel), or per step (a column per channel, ``T`` rows, optionally a ``step`` /
  ``date`` / ``week`` / ``day`` column first). Its rows are the window's steps in order; a
  ``date`` column must hold dates (:func:`~budgetgym.envs.dates.read_dates`), which label the rows
  only: dates other than the window's (last quarter's plan) are noted (:func:`current_dates_note`).

A split is typed back from the plan's table, whose shares are rounded (33.3%, three of which sum to
99.9%): each of ``n`` values is within half a unit of its last digit of the exact share, so shares
summing to within :func:`digits_rounding` of 1, :math:`|\\sum_i v_i - 1| < \\tfrac n2 10^{-d}` (``d`` the
finest decimal given; at the bound every value would be a tie; shares typed without a decimal, 0 or 1,
are exact: they must sum to 1), are the split, scaled to sum to exactly 1,
:math:`q_i = v_i / \\sum_j v_j`, with a one-line note (:attr:`CurrentPlan.note`); a sum farther off is a
one-line error naming the option or file and the sum.

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

import math
from collections.abc import Collection
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

import numpy as np
import pandas as pd

from budgetgym.envs.dates import MONTH_DAYS, date_texts, month_ends, next_dates, read_dates, whole_days
from budgetgym.envs.errors import BudgetGymError, suggest
from budgetgym.envs.history import check_history
from budgetgym.envs.io import numeric_column, read_csv_table
from budgetgym.envs.scenario import Scenario
from budgetgym.envs.scenario_parts import MAX_AMOUNT, is_amount
from budgetgym.experiments.wording import count

__all__ = ["INDEX_COLUMNS", "CurrentPlan", "History", "check_within_budget", "current_dates_note", "digits_rounding",
           "plan_dates", "read_current", "read_dated_current", "read_history", "read_history_file", "read_table"]

#: Columns of a per-step table that label the steps, or sum them (``plan.csv``'s ``total``): ignored.
INDEX_COLUMNS = ("step", "date", "week", "day", "period", "time", "total")

#: Per-channel budgets summing to within this much currency of the budget are the budget (:func:`_from_channels`):
#: the plan prints the budget rounded to whole units (829,094.83 as "829,095"), and budgets adding up to the
#: printed figure are meant as the budget, not as a plan above it or one breaking even pacing by a cent. Never
#: more than :data:`BUDGET_RTOL` of the budget: a small budget's half unit is no rounding (10.4 and 10).
BUDGET_ROUNDING = 0.5
BUDGET_RTOL = 1e-5
#: Shares summing to within this of 1 are a split whatever their digits (a computed split's float rounding, the
#: shares of ``channels.csv``), scaled to sum to 1 without a note; farther, strictly within :func:`digits_rounding`
#: (by this much: at the bound every value would be a tie, 0.5 + 0.6 = 1.1 is refused), with a note.
SHARE_ATOL = 1e-6
#: Values summing to 100 (within :func:`digits_rounding`) are refused as percentages typed without ``%`` when
#: they are under this share of the budget: read as currency, a current plan spending a few thousandths of it.
PERCENT_BUDGET = 0.1


def read_table(path: str | Path, what: str, decimal: str | None = None, numbers: Collection[str] = ()) -> pd.DataFrame:
    """A CSV file as a DataFrame, or a one-line error naming the file; ``decimal``: its decimal mark, ``numbers``: the
    columns read as numbers, their thousands grouped by a space or an apostrophe read too
    (:func:`~budgetgym.envs.io.read_csv_table`)."""
    table: pd.DataFrame = read_csv_table(path, what, decimal, numbers=numbers)
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


def _data_file_columns(cols: list[str], names: list[str], source: str) -> None:
    """A per-step table holding a calibration data file's spend columns (``Channel0_spend`` for channel
    ``Channel0``, :func:`~budgetgym.calibration.column_names.channel_name`), not the channels' own, is a one-line
    error naming the history calibrate writes: the data file given as ``--history`` (or a ``--current`` per step).
    The suffixes are calibrate's (:func:`~budgetgym.calibration.column_names.spend_suffix`: ``_spend``, ``_S``,
    ...; a bare ``s`` is none): ``videos`` for channel ``video`` is no data file's column but an unknown channel,
    left to :func:`_check_names` (its "did you mean")."""
    # not at import: calibration imports the planner
    from budgetgym.calibration.column_names import channel_name, spend_suffix

    for col in cols:
        channel = channel_name(str(col))
        if col not in names and channel in names and spend_suffix(str(col)):
            raise BudgetGymError(
                f"{source}: column '{col}' is channel {channel}'s spend column of a data file; a per-step table "
                f"has a column per channel named as the campaign's ({', '.join(names)}), as the history.csv "
                f"calibrate writes beside family.yaml"
            )


def _per_step(df: pd.DataFrame, scenario: Scenario, source: str, rows: int | None) -> np.ndarray:
    names = scenario.channel_names
    cols = [c for c in df.columns if c.lower() not in INDEX_COLUMNS]
    _data_file_columns(cols, names, source)
    _check_names(cols, names, source, require_all=True)
    if rows is not None and len(df) != rows:
        raise BudgetGymError(f"{source}: expected {count(rows, 'row')} (one per step of the window), got {len(df)}")
    spend = [numeric_column(df, n, source, "spend", nonnegative=True, boolean=False) for n in names]
    return np.column_stack(spend) if len(df) else np.zeros((0, len(names)))


def digits_rounding(typed: list[float]) -> float:
    r"""How far values rounded to the digits given can sum from the sum of the exact values: ``n`` half
    units of the finest decimal given, :math:`\tfrac n2 \, 10^{-d}` for ``n`` values and ``d`` decimals
    at most (a value rounded to ``d`` decimals is within half a unit of its last digit of the exact one; the
    finest decimal of all, as a table prints every value to the same digits and ``0.5`` is ``0.50`` with
    its trailing zero dropped). The decimals are those of the shortest text of each float (``repr``:
    ``0.333`` for 0.333, however read), whole numbers (``33.0``) none.

    Examples
    --------
    >>> [f"{digits_rounding(v):g}" for v in ([0.333, 0.333, 0.333], [33.3, 33.3, 33.4], [0.5, 0.3, 0.19], [50, 50])]
    ['0.0015', '0.15', '0.015', '1']
    """
    exponents = [0 if float(x).is_integer() else Decimal(repr(float(x))).as_tuple().exponent for x in typed]
    finest = min((min(e, 0) for e in exponents if isinstance(e, int)), default=0)
    return 0.5 * len(typed) * 10.0**finest


def _from_channels(
    values: dict[str, float], scenario: Scenario, source: str, kind: str | None, percent: bool = False
) -> tuple[np.ndarray, str, str | None]:
    """The plan ``[T, K]`` of per-channel values (module docstring), its kind (``share`` or ``budget``;
    ``kind`` ``None``: guessed from the values) and a note when a split was scaled to sum to 1.
    ``percent``: the values were typed as percentages (``33.3%``)."""
    names = scenario.channel_names
    _check_names(list(values), names, source, require_all=False)
    typed = np.array([float(values.get(n, 0.0)) for n in names])
    scale, unit = (100.0, "%") if percent else (1.0, "")
    bad = [n for n, x in zip(names, typed, strict=True) if not (np.isfinite(x) and x >= 0)]
    if bad:
        got = values[bad[0]]
        raise BudgetGymError(f"{source}: channel '{bad[0]}': expected a finite non-negative value, got {got:g}{unit}")
    v, total = typed / scale, typed.sum() / scale
    typed_rounding = digits_rounding(list(values.values()))  # in the units typed: 0.15 for 33.3% x 3
    # a whole percentage is rounded (33%), a whole share is exact (0 or 1, as 0.5 is 0.50): shares typed without a
    # decimal must sum to 1 (1 + 1 + 0 is no rounded 50/50, and 0 + 0 + 0 was scaled by 0 into a NaN plan)
    wholes = not percent and all(float(x).is_integer() for x in values.values())
    split_rounding = 0.0 if wholes else typed_rounding
    within = f"within the rounding of the digits given (±{split_rounding:g}{unit})" if split_rounding else "exactly"
    rounding = split_rounding / scale  # strictly within it: at the bound every value is a tie (0.5 + 0.6)
    split = total > 0 and (abs(total - 1.0) <= SHARE_ATOL or abs(total - 1.0) < rounding - SHARE_ATOL)
    B = scenario.budget.total
    if kind is None:
        if not (split or percent) and np.all(v <= 1.0):
            raise BudgetGymError(
                f"{source}: these look like shares but sum to {total:g}; shares must sum to 1 {within}, or give each "
                f"channel's budget over the window, in currency"
            )
        if not (split or percent) and abs(total - 100.0) <= typed_rounding and total < PERCENT_BUDGET * B:
            first = next(iter(values))
            raise BudgetGymError(
                f"{source}: these sum to {total:g}, like percentages; write them with % ({first}={values[first]:g}%) "
                f"or as shares summing to 1, or give budgets in a CSV file with a 'budget' column"
            )
        kind = "share" if split or percent else "budget"
    if kind == "share":
        if not split:
            if percent:
                raise BudgetGymError(f"{source}: the percentages sum to {typed.sum():g}%; shares must sum to 100% "
                                     f"{within}")
            hint = "; these sum to 100 like percentages: divide them by 100" if abs(total - 100) <= typed_rounding \
                else ""
            raise BudgetGymError(f"{source}: shares must sum to 1 {within}, got {total:g}{hint}")
        note = None if abs(total - 1.0) <= SHARE_ATOL else (
            f"{source}: the split sums to {typed.sum():g}{unit}, {within}; scaled to sum to {scale:g}{unit}")
        return np.tile(v / total * scenario.step_budget, (scenario.horizon, 1)), "share", note
    if total > 0 and abs(total - B) <= min(BUDGET_ROUNDING, BUDGET_RTOL * B):  # the budget as printed: B, so split
        v = v * (B / total)
    return np.tile(v / scenario.horizon, (scenario.horizon, 1)), "budget", None


@dataclass(frozen=True)
class CurrentPlan:
    """A current plan read (:func:`read_dated_current`): the spend ``[T, K]`` (currency), where it came
    from (``equal split``, ``split``, ``budgets``, ``per-step plan from plan.csv``, ...), a per-step
    table's dates (ISO text; ``None`` without a ``date`` column), a one-line note of what was made of
    it (a split within rounding of 1 scaled to sum to 1; ``None``: nothing to say) and a per-step table's ``day``
    column (a ``plan.csv``'s day index, ``[T]``, NaN where a cell is no number; ``None`` without one)."""

    plan: np.ndarray
    what: str
    dates: list[str] | None = None
    note: str | None = None
    days: np.ndarray | None = None


def read_current(
    spec: str, scenario: Scenario, option: str = "--current", within_budget: bool = True, decimal: str | None = None
) -> tuple[np.ndarray, str]:
    """The current plan ``[T, K]`` (currency) and a short description of where it came from.

    Shares are of the scenario's step budget ``B/T``; errors name ``option`` (the command-line
    option that gave ``spec``). ``within_budget``: a plan spending more than the scenario's budget
    is an error (``budgetgym simulate --plan`` plays any total, so it turns this off). ``decimal``: a file's
    decimal mark (``--decimal``, :func:`~budgetgym.envs.io.read_csv_table`)."""
    read = read_dated_current(spec, scenario, option, within_budget, decimal)
    return read.plan, read.what


def read_dated_current(
    spec: str, scenario: Scenario, option: str = "--current", within_budget: bool = True, decimal: str | None = None
) -> CurrentPlan:
    """:func:`read_current` with the dates of a per-step table's ``date`` column (ISO text,
    :func:`~budgetgym.envs.dates.date_texts`) and the note of a scaled split (:class:`CurrentPlan`)."""
    text = spec.strip()
    source = f"{option} {text!r}"
    read = _read_plan(text, scenario, source, option, decimal)
    if within_budget:
        check_within_budget(read.plan, scenario, source)
    return read


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
    one-line error naming ``source`` and the ``--budget`` that plans at its total (rounded up to the cent, so
    it takes the plan), e.g. last quarter's spend a hair above this quarter's budget."""
    B = scenario.budget.total
    total = float(plan.sum())
    if total > B * (1 + 1e-9):
        at = math.ceil(total * 100) / 100 if total <= MAX_AMOUNT else total  # no cents of 1e308 (inf * 100)
        if not is_amount(at):  # no --budget takes it
            raise BudgetGymError(f"{source}: spends {_money(total)}, more than the budget {_money(B)} and than any "
                                 f"budget (at most {MAX_AMOUNT:g}): give it as shares to scale it to the budget")
        raise BudgetGymError(f"{source}: spends {_money(total)}, more than the budget {_money(B)}: plan at its total "
                             f"with --budget {at:.15g}, or give it as shares to scale it to the budget")


def _money(x: float) -> str:
    """``1,234.50``, or ``1e+308`` for an amount beyond any budget (not a line of 300 digits)."""
    return f"{x:,.2f}" if abs(x) < 1e16 else f"{x:g}"


def _read_plan(text: str, scenario: Scenario, source: str, option: str, decimal: str | None) -> CurrentPlan:
    """:func:`read_dated_current` without the budget check."""
    if text.lower() == "equal":
        K = scenario.n_channels
        return CurrentPlan(np.tile(np.full(K, scenario.step_budget / K), (scenario.horizon, 1)), "equal split")
    if "=" in text and not Path(text).is_file():
        values, percent = _pairs(text, source)
        plan, kind, note = _from_channels(values, scenario, source, None, percent=percent)
        return CurrentPlan(plan, "split" if kind == "share" else "budgets", note=note)
    if not text.lower().endswith(".csv") and not Path(text).is_file():
        raise BudgetGymError(f"{source}: expected 'equal', channel=value pairs or a CSV file"
                             + suggest(text, ["equal"]))
    source = f"{option} file '{text}'"
    df = read_table(text, f"{option} file", decimal, numbers=[*scenario.channel_names, "share", "spend", "budget"])
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
        plan, _, note = _from_channels(dict(zip(chans, vals, strict=True)), scenario, source, kind)
        return CurrentPlan(plan, f"per-channel {col} from {Path(text).name}", note=note)
    plan = _per_step(df, scenario, source, scenario.horizon)
    date_col = next((c for c in df.columns if str(c).lower() == "date"), None)
    dates = None
    if date_col is not None:
        read, _ = read_dates(df, date_col, source, least=1, midnight=whole_days(scenario.step_days))
        dates = date_texts(read)
    day_col = next((c for c in df.columns if str(c).lower() == "day"), None)
    days = None if day_col is None else pd.to_numeric(df[day_col], errors="coerce").to_numpy(dtype=float)
    return CurrentPlan(plan, f"per-step plan from {Path(text).name}", dates, days=days)


def _pairs(text: str, source: str) -> tuple[dict[str, float], bool]:
    """``search=0.4,social=0.6`` as ``{channel: value}``, and whether the values were typed as
    percentages (``search=40%,social=60%``: every value or none)."""
    values: dict[str, float] = {}
    percents = []
    for item in filter(None, (s.strip() for s in text.split(","))):
        key, sep, val = item.partition("=")
        if key.strip() in values:  # the later value silently replaced the earlier one
            raise BudgetGymError(f"{source}: channel '{key.strip()}' is given twice")
        percents.append(val.strip().endswith("%"))
        try:
            values[key.strip()] = float(val.strip().removesuffix("%"))
        except ValueError:
            raise BudgetGymError(f"{source}: expected channel=value pairs, got {item!r}") from None
        if not sep:
            raise BudgetGymError(f"{source}: expected channel=value pairs, got {item!r}")
    if any(percents) and not all(percents):
        first = next(k for k, p in zip(values, percents, strict=True) if p)
        raise BudgetGymError(f"{source}: give every value as a percentage ({first}={values[first]:g}%) or none")
    return values, any(percents)


@dataclass(frozen=True)
class History:
    """A history file read: the spend ``[H, K]`` and, when it has a ``date`` column, its dates and
    their step in days (:data:`~budgetgym.envs.dates.MONTH_DAYS` for calendar months; ``None`` for
    a single date: the scenario's step is taken)."""

    spend: np.ndarray
    dates: pd.DatetimeIndex | None = None
    step_days: float | None = None


def read_history_file(path: str | Path, scenario: Scenario, decimal: str | None = None) -> History:
    """Past spend and the dates of its steps from a per-step CSV (module docstring); ``decimal``: its decimal
    mark (``--decimal``)."""
    source = f"history file '{path}'"
    df = read_table(path, "history file", decimal, numbers=scenario.channel_names)
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


def read_history(path: str | Path, scenario: Scenario, decimal: str | None = None) -> np.ndarray:
    """Past spend ``[H, K]`` from a per-step CSV (module docstring)."""
    return read_history_file(path, scenario, decimal).spend


def plan_dates(history: History, scenario: Scenario) -> list[str] | None:
    """The dates of the window's ``T`` steps, continuing the history's (``None`` without dates):
    the last history date plus ``k`` steps, ``k = 1..T`` (the history's step when it has one,
    else the scenario's ``step_days``; :func:`~budgetgym.envs.dates.next_dates`)."""
    if history.dates is None:
        return None
    step = scenario.step_days if history.step_days is None else history.step_days
    return date_texts(next_dates(history.dates[-1], step, scenario.horizon, month_ends(history.dates)))
