r"""The data a calibration reads: one CSV of periods, validated into a :class:`MMMData`.

A marketing-mix dataset is a table with one row per period (week, day, month) and columns for
the date, the KPI (revenue or conversions), each channel's spend, optionally each channel's
exposure (impressions or clicks, in the order of the spend columns) and control variables.
Column names are given by the caller, so the public example layouts are read as they are:

* Meridian's national CSV: ``--date time --kpi conversions --spend Channel0_spend,...
  --exposure Channel0_impression,... --controls competitor_activity_score_control,...`` (its
  ``revenue_per_conversion`` with ``--revenue-per-kpi revenue_per_conversion``: the value of a conversion,
  :mod:`~budgetgym.calibration.kpi_value`);
* Robyn's ``dt_simulated_weekly.csv``: ``--date DATE --kpi revenue --spend tv_S,ooh_S,...
  --controls competitor_sales_B,events,newsletter`` (``events`` holds strings: a text control is
  one-hot encoded, its most frequent value the reference level);
* PyMC-Marketing's example: ``--date date_week --kpi y --spend x1,x2 --controls event_1,event_2``.

Every problem is a one-line :class:`~budgetgym.envs.errors.BudgetGymError` naming the file and
the column (and the row where there is one): a missing column, non-numeric (true/false included) or
negative spend or exposure, a non-finite or true/false KPI, a negative KPI under a count likelihood
(:func:`check_count_kpi`), a KPI that does not vary, a text control of one value, a control equal in
every period to another column given (the KPI, a spend or exposure column, another control), a number
beyond what a scenario holds (a KPI above :data:`MAX_KPI`, spend or exposure above :data:`MAX_AMOUNT`
per period), a channel never spent (its spend, or its exposure when given, zero in every period:
nothing to fit, leave it out of ``--spend``), an unreadable, duplicated, decreasing or unevenly spaced
date, a date outside 1677-09-22 to 2262-04-11, dates in different time zones (the dates as
:func:`~budgetgym.envs.dates.read_dates` reads them: one format, evenly spaced in days or calendar
months). :func:`~budgetgym.envs.dates.calendar_day` maps the dates to budgetgym's
day index (:mod:`budgetgym.envs.dates`). Before them, rows of empty fields (a spreadsheet's ``,,,,``) are dropped,
a row with values but no date is an error, and so is a geo-level file (:mod:`~budgetgym.calibration.data_rows`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from budgetgym.calibration.column_names import channel_name, exposure_entries, spend_suffix, split_columns, unique_names
from budgetgym.calibration.data_rows import check_national, drop_empty_rows
from budgetgym.envs.csv_table import grouped_number
from budgetgym.envs.dates import MONTH_DAYS, calendar_day, read_dates
from budgetgym.envs.errors import BudgetGymError, count, suggest
from budgetgym.envs.io import numeric_column, read_csv_table
from budgetgym.envs.scenario_parts import MAX_AMOUNT

__all__ = ["MAX_AMOUNT", "MAX_KPI", "MONTH_DAYS", "MMMData", "calendar_day", "channel_name", "check_count_kpi",
           "check_spent_channels", "check_varying_channels", "check_varying_kpi", "constant_channels", "numeric_column",
           "read_mmm_csv", "spend_suffix", "split_columns"]

#: The largest KPI per period a fit takes: a scenario's response is at most 1e12 per step (``max_response``,
#: :mod:`budgetgym.envs.scenario_parts`; a larger KPI's fit was clipped to it). Rescale a larger one.
MAX_KPI = 1e12
#: The smallest range of the KPI a fit takes (a constant KPI has nothing to fit; a scenario's
#: response is at least 1e-9 per step).
MIN_KPI_RANGE = 1e-9


@dataclass(frozen=True)
class MMMData:
    """A validated dataset: ``T`` periods, ``K`` channels.

    Attributes
    ----------
    path : the file.
    source : ``"data file '<path>'"`` (for messages).
    dates : ``[T]`` the period dates (``datetime64[ns]``), increasing and evenly spaced.
    step_days : days per period (7 for weekly data).
    days : ``[T]`` budgetgym day index of every period (:func:`calendar_day`).
    kpi : ``[T]`` the KPI per period (revenue or conversions).
    kpi_name : its column.
    spend : ``[T, K]`` spend per period and channel (currency, ``>= 0``).
    spend_columns : the spend columns.
    exposure : ``[T, K]`` exposure (impressions / clicks) or ``None`` (then exposure = spend); a
        channel without an exposure column has its spend here.
    exposure_columns : per channel its exposure column (``None``: driven by its spend), or ``None``.
    controls : ``[T, C]`` control variables (text controls one-hot encoded).
    control_names : a name per control column (``events=event1`` for a dummy).
    channels : channel names (:func:`channel_name` of the spend columns).
    revenue_per_kpi : ``[T]`` revenue per conversion each period (``read_mmm_csv(..., revenue_per_kpi=COLUMN)``,
        :mod:`~budgetgym.calibration.kpi_value`), or ``None``.
    revenue_per_kpi_column : its column, or ``None``.
    """

    path: Path
    source: str
    dates: np.ndarray
    step_days: float
    days: np.ndarray
    kpi: np.ndarray
    kpi_name: str
    spend: np.ndarray
    spend_columns: tuple[str, ...]
    exposure: np.ndarray | None
    exposure_columns: tuple[str | None, ...] | None
    controls: np.ndarray
    control_names: tuple[str, ...]
    channels: tuple[str, ...]
    revenue_per_kpi: np.ndarray | None = None
    revenue_per_kpi_column: str | None = None

    @property
    def n_periods(self) -> int:
        return len(self.kpi)

    @property
    def n_channels(self) -> int:
        return self.spend.shape[1]

    def driver(self, i: int) -> str:
        """The column that drives channel ``i``'s response: its exposure column, else its spend."""
        col = self.exposure_columns[i] if self.exposure_columns else None
        return col if col is not None else self.spend_columns[i]

    @property
    def media(self) -> np.ndarray:
        """``[T, K]`` what drives the response: the exposure if given, else the spend."""
        return self.exposure if self.exposure is not None else self.spend

    def head(self, n: int) -> MMMData:
        """The first ``n`` periods (for a holdout fit)."""
        cut = slice(0, n)
        return MMMData(
            path=self.path, source=self.source, dates=self.dates[cut], step_days=self.step_days, days=self.days[cut],
            kpi=self.kpi[cut], kpi_name=self.kpi_name, spend=self.spend[cut], spend_columns=self.spend_columns,
            exposure=None if self.exposure is None else self.exposure[cut], exposure_columns=self.exposure_columns,
            controls=self.controls[cut], control_names=self.control_names, channels=self.channels,
            revenue_per_kpi=None if self.revenue_per_kpi is None else self.revenue_per_kpi[cut],
            revenue_per_kpi_column=self.revenue_per_kpi_column,
        )


def _read(path: Path, decimal: str | None = None, numbers: list[str] | None = None) -> pd.DataFrame:
    """The data file (the one reader of a user's CSV); ``numbers``: the columns read as numbers, whose thousands may
    be grouped by a space or an apostrophe (:func:`~budgetgym.envs.csv_table.read_csv_table`)."""
    table: pd.DataFrame = read_csv_table(path, "data file", decimal, numbers=numbers or ())
    return table


def _value_column(df: pd.DataFrame, text: str | None, source: str) -> str | None:
    """``--revenue-per-kpi``'s column (the text as typed, stripped), ``None`` for no option or a number; neither a
    column nor a number is refused naming the closest column."""
    if text is None:
        return None
    text = text.strip()  # " 40" or "revenue_per_conversion " as typed in a shell script
    if text in df.columns:
        return text
    try:
        float(text)
    except ValueError:
        raise BudgetGymError(f"{source}: --revenue-per-kpi: no column '{text}'{suggest(text, list(df.columns))} "
                             f"and not a number; expected the column of revenue per conversion (Meridian's "
                             f"revenue_per_conversion) or the revenue of one conversion") from None
    return None


def _require(df: pd.DataFrame, columns: list[str], option: str, source: str) -> None:
    for col in columns:
        if col not in df.columns:
            raise BudgetGymError(
                f"{source}: {option}: no column '{col}'{suggest(col, list(df.columns))}; "
                f"columns are {', '.join(map(str, df.columns))}"
            )
    seen = [c for c in columns if columns.count(c) > 1]
    if seen:
        raise BudgetGymError(f"{source}: {option}: column '{seen[0]}' is given twice")


def check_varying_kpi(y: np.ndarray, col: str, source: str) -> None:
    """A KPI that does not vary (by :data:`MIN_KPI_RANGE`) has nothing to fit: a one-line error."""
    low, high = float(y.min()), float(y.max())
    if high - low < MIN_KPI_RANGE:
        same = f"is {low:g} in every period" if high == low else f"varies by only {high - low:g} ({low:g} to {high:g})"
        raise BudgetGymError(
            f"{source}: column '{col}': the KPI {same}; a fit needs a KPI that varies (by at least {MIN_KPI_RANGE:g})"
        )


def check_count_kpi(y: np.ndarray, col: str, source: str) -> None:
    """A count likelihood (``poisson``, ``negative_binomial``) cannot take a negative KPI: a one-line error
    naming the column, how many periods are negative and the first one's row (PyMC-Marketing refuses a target
    outside its likelihood's support in the same way; a Gaussian fit takes it, and ``fit.md`` warns of it:
    :func:`~budgetgym.calibration.period_warnings.negative_kpi_warning`)."""
    bad = np.flatnonzero(y < 0)
    if len(bad):
        raise BudgetGymError(
            f"{source}: column '{col}', row {bad[0] + 1}: a count likelihood (poisson, negative_binomial) needs a KPI "
            f">= 0, got {y[bad[0]]:g} ({count(len(bad), 'period')} negative); fix the data, or fit it with "
            f"--likelihood gaussian")


def check_spent_channels(media: np.ndarray, spend_columns: list[str] | tuple[str, ...],
                         exposure_columns: list[str | None] | tuple[str | None, ...] | None, source: str) -> None:
    """A channel whose ``media`` (``[T, K]``: its exposure, else its spend) is zero in every period has
    nothing to fit: a one-line error naming its spend column (and its exposure column)."""
    for i, col in enumerate(spend_columns):
        if not np.any(media[:, i] > 0):
            exposure = exposure_columns[i] if exposure_columns else None
            what = "spend" if exposure is None else f"exposure column '{exposure}'"
            raise BudgetGymError(f"{source}: column '{col}': the {what} is zero in every period; drop the channel")


def constant_channels(media: np.ndarray) -> np.ndarray:
    r"""``[K]`` bool: each channel's ``media`` (``[T, K]``) is the same in every period, to rounding
    (:math:`\max_t m_{t,i} - \min_t m_{t,i} \le 10^{-12} \max_t m_{t,i}`)."""
    return np.ptp(media, axis=0) <= 1e-12 * media.max(axis=0)


def check_varying_channels(media: np.ndarray, spend_columns: list[str] | tuple[str, ...],
                           exposure_columns: list[str | None] | tuple[str | None, ...] | None, source: str,
                           tested: np.ndarray | list[int] | tuple[int, ...] = ()) -> None:
    r"""A channel whose ``media`` (``[T, K]``: its exposure, else its spend) is the same positive level
    :math:`m` in every period (:func:`constant_channels`) and that no lift test measures (``tested``: the
    channels' indices of the tests) is a one-line error naming its column(s).

    Its term :math:`\beta h(m)` is a constant, the same column as the baseline's intercept
    :math:`c_0`: only :math:`c_0 + \beta h(m)` is identified, and :math:`\beta` was whatever the carry-over's
    ramp-up over the first periods (it starts from no carry-over) and the noise made of it, from 0 to
    ``8e13`` (then refused as a ``max_response`` beyond a scenario's, "rescale the KPI"). A lift test
    measures :math:`\beta (h(m^+) - h(m^-))` directly, so a tested channel is fitted (``fit.md`` warns)."""
    flat = constant_channels(media)
    flat[np.asarray(tested, dtype=int)] = False
    idx = np.flatnonzero(flat)
    if not len(idx):
        return
    exposure = [exposure_columns[i] if exposure_columns else None for i in idx]
    level = [f"{media[0, i]:g}" for i in idx]
    if len(idx) == 1:
        what = "spend" if exposure[0] is None else f"exposure column '{exposure[0]}'"
        raise BudgetGymError(
            f"{source}: column '{spend_columns[idx[0]]}': the {what} is {level[0]} in every period, so the channel's "
            f"effect cannot be told from the baseline's intercept; drop the channel, or give a lift test of it "
            f"(--lift-tests)")
    names = [f"'{spend_columns[i]}'" + ("" if e is None else f" (exposure column '{e}')")
             for i, e in zip(idx, exposure, strict=True)]
    what = "spend" if all(e is None for e in exposure) else "spend or exposure"
    raise BudgetGymError(
        f"{source}: columns {', '.join(names[:-1])} and {names[-1]}: each channel's {what} is the same in every "
        f"period ({', '.join(level[:-1])} and {level[-1]}), so the channels' effects cannot be told from the "
        f"baseline's intercept; drop the channels, or give a lift test of each (--lift-tests)")


def _controls(df: pd.DataFrame, cols: list[str], source: str) -> tuple[np.ndarray, list[str], list[np.ndarray]]:
    """Numeric controls as they are (thousands grouped by a space or an apostrophe, ``1 234,5``, read as the number by
    :func:`_read`), a true/false one (a holiday dummy) as 1/0; a column of text only (no value a number) one-hot
    encoded, its most frequent value the reference level; a column whose every value is a number written with a
    percent sign or a ``,`` grouping thousands (``10%``, ``1,234.5``, ``1 234 %``) is an error, not levels. Returns
    the design ``[T, p]``, its column names, and each control's own columns ``[T, m]``."""
    out, names, blocks = [], [], []
    for col in cols:
        if df[col].isna().any():
            row = int(np.flatnonzero(df[col].isna().to_numpy())[0])
            raise BudgetGymError(f"{source}: column '{col}', row {row + 1}: a control must not be empty")
        numeric = pd.to_numeric(df[col], errors="coerce").notna()
        if numeric.any():  # a numeric column (a stray text value is an error, not a new level)
            out.append(numeric_column(df, col, source, "a control", nonnegative=False))
            names.append(col)
            blocks.append(out[-1][:, None])
            continue
        text = df[col].astype(str).str.strip()
        bare = text.str.replace(r"\s*%$", "", regex=True)
        decorated = pd.to_numeric(bare.str.replace(",", "", regex=False), errors="coerce").notna() | bare.map(
            grouped_number)
        if decorated.all():  # "10%", "1,234.5", "1 234 %": numbers, not levels
            raise BudgetGymError(
                f"{source}: column '{col}', row 1: a control must be a plain number, got {text.iloc[0]!r} (a percent "
                f"sign or a thousands separator); write it as a number (10% as 0.1 or 10, 1,234.5 as 1234.5)")
        levels = text.value_counts()
        if len(levels) == 1:  # no dummy: the control was silently left out of the fit
            raise BudgetGymError(f"{source}: column '{col}': the control is '{levels.index[0]}' in every period; "
                                 f"a constant control has nothing to fit, drop it")
        kept = sorted(levels.index[1:])  # the most frequent level is the reference
        dummies = [(text == level).to_numpy(dtype=float) for level in kept]
        out += dummies
        names += [f"{col}={level}" for level in kept]
        blocks.append(np.column_stack(dummies))
    T = len(df)
    return (np.column_stack(out) if out else np.zeros((T, 0))), names, blocks


def _repeated_controls(controls: dict[str, np.ndarray], given: dict[str, tuple[str, np.ndarray]],
                       source: str) -> None:
    """A control equal in every period to another column given is a one-line error naming both, compared
    as read (``controls``: each control's own columns ``[T, m]``, :func:`_controls`; ``given``: the KPI,
    spend and exposure columns by name, with their role and values ``[T]``; or an earlier control): a
    control repeating a channel's spend was fitted beside its curve, silently sharing its effect, and two
    equal controls were refused only as a combination of earlier controls, naming one."""
    seen = {col: (role, values[:, None]) for col, (role, values) in given.items()}
    for col, block in controls.items():
        for other, (role, values) in seen.items():
            if np.array_equal(block, values):
                raise BudgetGymError(f"{source}: column '{col}': the control equals the {role} column '{other}' in "
                                     f"every period; drop it")
        seen[col] = ("control", block)


def read_mmm_csv(
    path: str | Path,
    *,
    date: str,
    kpi: str,
    spend: str | list[str] | tuple[str, ...],
    controls: str | list[str] | tuple[str, ...] | None = None,
    exposure: str | list[str] | tuple[str, ...] | None = None,
    count_kpi: bool = False,
    revenue_per_kpi: str | None = None,
    decimal: str | None = None,
) -> MMMData:
    """Read and validate an MMM dataset (module docstring).

    Parameters
    ----------
    path : the CSV file.
    date, kpi : the date and KPI columns.
    spend : the spend columns (a comma-separated string or a list), one per channel.
    controls : control columns (numeric, or text: one-hot encoded).
    exposure : exposure columns (impressions or clicks), one per spend column in the same order; an
        empty entry or ``-`` leaves that channel driven by its spend (``"tv_imp,-,fb_imp"``).
    count_kpi : the KPI is a count (Poisson / negative-binomial likelihood): it must be >= 0
        (:func:`check_count_kpi`).
    revenue_per_kpi : ``--revenue-per-kpi``'s text: a column of revenue per conversion, read here with the rest
        (``MMMData.revenue_per_kpi``; a column with another role is refused as any column given for two roles), or
        a number, which :func:`~budgetgym.calibration.kpi_value.revenue_per_kpi` checks.
    decimal : the file's decimal mark, ``"."`` or ``","`` (``--decimal``); ``None``: the decimal point in a
        comma-separated file, the mark its numbers show in a ``;``- or tab-separated one
        (:func:`~budgetgym.envs.csv_table.read_csv_table`).
    """
    p = Path(path)
    source = f"data file '{p}'"
    spend_cols, control_cols = split_columns(spend), split_columns(controls)
    per_channel = exposure_entries(exposure)
    # a control may be text (one-hot encoded, _controls): a cell of it that is no number is kept as written, one of
    # digits split by a space other than in threes is refused, as in a spend column
    numbers = [kpi, *spend_cols, *(c for c in per_channel if c is not None), *control_cols]
    df = _read(p, decimal, numbers + ([revenue_per_kpi.strip()] if revenue_per_kpi else []))
    if not spend_cols:
        raise BudgetGymError(f"{source}: --spend: expected at least one spend column")
    if per_channel and len(per_channel) != len(spend_cols):
        raise BudgetGymError(
            f"{source}: --exposure: expected one exposure column per spend column ({len(spend_cols)}, in the same "
            f"order; an empty entry or '-' for a channel driven by its spend), got {len(per_channel)}"
        )
    exposure_cols = [c for c in per_channel if c is not None]
    value_col = _value_column(df, revenue_per_kpi, source)
    roles = (("--date", [date]), ("--kpi", [kpi]), ("--spend", spend_cols), ("--exposure", exposure_cols),
             ("--controls", control_cols), ("--revenue-per-kpi", [] if value_col is None else [value_col]))
    for option, cols in roles:
        _require(df, cols, option, source)
    df = drop_empty_rows(df, date, source)  # a spreadsheet export's trailing ',,,,' rows
    check_national(df, date, [kpi, *spend_cols, *exposure_cols], source)
    every = [(c, option) for option, cols in roles for c in cols]
    twice = [c for c, _ in every if sum(c == d for d, _ in every) > 1]
    if twice:
        options = " and ".join(option for c, option in every if c == twice[0])
        raise BudgetGymError(f"{source}: column '{twice[0]}' is given for two roles ({options})")
    if len(df) == 0:
        raise BudgetGymError(f"{source}: the table has no rows")
    dates, step = read_dates(df, date, source)
    assert step is not None  # at least 2 dates
    y = numeric_column(df, kpi, source, "the KPI", nonnegative=False, largest=MAX_KPI, boolean=False)
    if count_kpi:
        check_count_kpi(y, kpi, source)
    check_varying_kpi(y, kpi, source)
    X = np.column_stack([numeric_column(df, c, source, "spend", nonnegative=True, largest=MAX_AMOUNT,
                                        boolean=False) for c in spend_cols])
    E = None
    if exposure_cols:
        E = np.column_stack([X[:, i] if c is None else
                             numeric_column(df, c, source, "exposure", nonnegative=True, largest=MAX_AMOUNT,
                                            boolean=False)
                             for i, c in enumerate(per_channel)])
    check_spent_channels(X if E is None else E, spend_cols, per_channel if E is not None else None, source)
    Z, znames, blocks = _controls(df, control_cols, source)
    given = {kpi: ("KPI", y), **{c: ("spend", X[:, i]) for i, c in enumerate(spend_cols)}}
    if E is not None:
        given.update({c: ("exposure", E[:, i]) for i, c in enumerate(per_channel) if c is not None})
    _repeated_controls(dict(zip(control_cols, blocks, strict=True)), given, source)
    names = unique_names(spend_cols, source)
    value = None if value_col is None else numeric_column(
        df, value_col, source, "revenue per conversion", nonnegative=True, largest=MAX_AMOUNT, boolean=False)
    first = calendar_day(dates[0])
    elapsed = np.arange(len(dates)) * step if step == MONTH_DAYS else (dates.asi8 - dates.asi8[0]) / 86_400e9
    return MMMData(
        path=p, source=source, dates=dates.to_numpy(), step_days=step, days=first + np.asarray(elapsed, dtype=float),
        kpi=y, kpi_name=kpi, spend=X, spend_columns=tuple(spend_cols), exposure=E,
        exposure_columns=tuple(per_channel) if exposure_cols else None, controls=Z,
        control_names=tuple(znames), channels=tuple(names), revenue_per_kpi=value, revenue_per_kpi_column=value_col,
    )
