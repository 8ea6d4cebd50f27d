r"""Calendar dates of periods: a column of dates read and checked, budgetgym's day index of a date,
and the dates that continue a series.

A column of dates is read in one format (:data:`DATE_FORMATS`: ISO 8601, ``01/29/2024`` or
``29/01/2024``, ``29.01.2024``, ...). Dates must increase and be evenly spaced in days (daily,
weekly, ...), or be calendar months (one month apart, on the same day of the month or on each
month's last day: a step of :data:`MONTH_DAYS` ``= 365.25 / 12`` days).

Day or month first. A column of numeric dates separated by ``/``, ``.`` or ``-`` (``01/02/2024``)
is read both month first and day first, and the data decide (:func:`read_dates`): the reading
whose dates all parse, increase and are evenly spaced is the one taken, so day-first monthly data
on the 1st (``01/01/2024, 01/02/2024, ...``) is monthly, not twelve days and a jump. When both
readings hold and give different dates (``01/02/2024, 01/03/2024``: two days, or two months),
the column is refused in one line asking for ``YYYY-MM-DD``.

Calendar. budgetgym counts days from a day 0 that is both a Monday and 1 January
(:mod:`budgetgym.envs.path`). :func:`calendar_day` maps a real date to the day index with the
same day of the year and the same weekday: ``doy + 365 j`` with ``j = (weekday - doy) mod 7``
(``365 = 1 mod 7`` moves the weekday by one per added year, while the yearly phase
``d mod 365.25`` moves back by only ``0.25 j <= 1.5`` days).
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd

from budgetgym.envs.errors import BudgetGymError, count
from budgetgym.envs.table_columns import cell_text

__all__ = [
    "DATE_FORMATS", "EPOCH", "FIRST_DATE", "LAST_DATE", "MONTH_DAYS", "AmbiguousDatesError", "calendar_day",
    "date_texts", "day_date",
    "is_monthly", "month_ends", "next_dates", "read_dates", "whole_days",
]

#: A calendar month's step, in days (365.25 / 12).
MONTH_DAYS = 365.25 / 12
#: Date formats tried in turn, each on the whole date column: ISO 8601, month-first, day-first,
#: dotted day-first, then pandas' guess value by value. A column of numeric dates only
#: (``01/02/2024``, ``01.02.2024``, ``01-02-2024``) is read both ways first, and the data decide
#: (:func:`read_dates`); these are for the rest (dates with a time of day, say).
DATE_FORMATS = ("ISO8601", "%m/%d/%Y", "%d/%m/%Y", "%d.%m.%Y", "%m/%d/%y", "%d/%m/%y", "mixed")
#: The first and last day a date column may hold: the days of pandas' nanosecond dates.
FIRST_DATE, LAST_DATE = pd.Timestamp.min.ceil("D").date(), pd.Timestamp.max.floor("D").date()
NS_RANGE = (pd.Timestamp(FIRST_DATE), pd.Timestamp(LAST_DATE))


class AmbiguousDatesError(BudgetGymError):
    """Numeric dates that hold both day first and month first as different dates (:func:`read_dates`).

    Attributes
    ----------
    reading : str
        The message after the date: ``reads both ways: 2025-03-04 as MM/DD/YYYY, ...``, for a caller
        that names its own input (``plan``'s ``--start-date``).
    """

    def __init__(self, where: str, reading: str) -> None:
        super().__init__(f"{where} {reading}")
        self.reading = reading


def _parse(raw: pd.Series, col: str, source: str) -> pd.Series:
    """``raw`` read with the first of :data:`DATE_FORMATS` that reads every value (the last, pandas'
    guess per value, leaves ``NaT`` where it cannot); dates in different time zones are an error."""
    for fmt in DATE_FORMATS:
        try:
            parsed = pd.to_datetime(raw, errors="coerce", format=fmt)
        except ValueError:  # pandas: "Mixed timezones detected", whatever the format
            raise BudgetGymError(
                f"{source}: column '{col}': the dates are in different time zones (or only some have one); "
                f"expected one time zone or none"
            ) from None
        if not parsed.isna().any():
            break
    return parsed


#: A numeric date, day and month in either order: ``01/02/2024``, ``1.2.24``, ``01-02-2024``.
_NUMERIC = re.compile(r"(\d{1,2})([/.\-])(\d{1,2})\2(\d{4}|\d{2})")


def _both_ways(raw: pd.Series) -> list[tuple[str, pd.Series]]:
    """The readings of a column of numeric dates (:data:`_NUMERIC`, one separator and one width of
    year throughout) that read every value: ``(layout, dates)``, month first then day first (day
    first then month first for dots, ``29.01.2024``, read day first before). Empty for any other
    column (ISO 8601, dates with a time, ...), which :func:`_parse` reads as before."""
    parts = raw.str.fullmatch(_NUMERIC.pattern)
    if not len(raw) or not parts.all():
        return []
    found = raw.str.extract(_NUMERIC)
    seps, widths = set(found[1]), set(found[3].str.len())
    if len(seps) > 1 or len(widths) > 1:
        return []
    sep, year = seps.pop(), "%Y" if widths.pop() == 4 else "%y"
    orders = [("%m", "%d"), ("%d", "%m")][:: -1 if sep == "." else 1]
    readings = []
    for first, second in orders:
        fmt = f"{first}{sep}{second}{sep}{year}"
        parsed = pd.to_datetime(raw, errors="coerce", format=fmt)
        if not parsed.isna().any():
            layout = fmt.replace("%m", "MM").replace("%d", "DD").replace("%Y", "YYYY").replace("%y", "YY")
            readings.append((layout, parsed))
    return readings


#: The start of a date with the year first: ``2024-01-29``, ``2024/01/29``, ``2024-01-29T12:00``.
_YEAR_FIRST = re.compile(r"\d{4}([/.\-])\d{1,2}\1\d{1,2}(?!\d)")


def _layout(value: str) -> tuple[str, ...] | None:
    """The layout of a written date, as far as it tells the reading: year first and its separator,
    or day and month (:data:`_NUMERIC`) with their separator and the year's width; ``None`` for any
    other text (``29 Jan 2024``, ``soon``)."""
    if found := _YEAR_FIRST.match(value):
        return ("year first", found[1])
    if (found := _NUMERIC.match(value)) and not value[found.end():found.end() + 1].isdigit():
        return ("year last", found[2], str(len(found[4])))
    return None


def _mixed(raw: pd.Series, col: str, source: str) -> None:
    """A one-line error when column ``col`` mixes date layouts (:func:`_layout`: ``2024-01-07`` and
    ``14/01/2024``, or ``14/01/2024`` and ``21.01.2024``), naming the first value of each of the
    first two: read value by value, the ambiguous ones were taken month first, unchecked."""
    layouts = raw.map(_layout)
    seen: dict[tuple[str, ...], int] = {}
    for row, layout in enumerate(layouts):
        if layout is not None and layout not in seen:
            seen[layout] = row
            if len(seen) == 2:
                a, b = seen.values()
                raise BudgetGymError(
                    f"{source}: column '{col}' mixes date formats: {cell_text(raw.iloc[a])} (row {a + 1}) and "
                    f"{cell_text(raw.iloc[b])} (row {b + 1}); expected one format for every date, preferably "
                    f"YYYY-MM-DD"
                )


def _apart(step: float | None) -> str:
    """The step of dates in words: `` (dates 7 days apart)``, `` (dates a calendar month apart)``;
    nothing for a single date (``None``)."""
    if step is None:
        return ""
    return f" (dates {'a calendar month' if step == MONTH_DAYS else count(float(step), 'day')} apart)"


def read_dates(
    df: pd.DataFrame, col: str, source: str, least: int = 2, midnight: bool = True
) -> tuple[pd.DatetimeIndex, float | None]:
    """The dates of column ``col`` and their step in days, or a one-line error.

    Parameters
    ----------
    df : pd.DataFrame
        The table.
    col : str
        The date column.
    source : str
        The file (or option) for messages: ``"data file 'x.csv'"``.
    least : int
        The fewest dates the column may hold.
    midnight : bool
        Whether the dates are taken at their midnight (``False`` keeps their time of day, for
        steps of a fraction of a day).

    Returns
    -------
    dates : pd.DatetimeIndex
        The dates (``datetime64[ns]``, time zone dropped).
    step : float or None
        Their step in days: :data:`MONTH_DAYS` for calendar months, ``None`` for a single date.

    Raises
    ------
    BudgetGymError
        Naming ``source``, the column and the row: a value that is not a date, fewer than ``least``
        dates, a date twice, dates that do not increase or are unevenly spaced, a date before
        :data:`FIRST_DATE` or after :data:`LAST_DATE` (1677-09-22 to 2262-04-11); or numeric dates
        that read both day first and month first, as different dates (:class:`AmbiguousDatesError`).

    Notes
    -----
    Numeric dates (``01/02/2024``, ``01.02.2024``, ``01-02-2024``) are read both month first and
    day first, and the reading whose dates all parse, increase and are evenly spaced is taken:
    the data decide, where taking month first whenever every value allowed it read day-first
    monthly data on the 1st (``01/01/2024, 01/02/2024, ...``) as twelve days and a jump, and
    dashed day-first weeks value by value into dates out of order. When both readings hold and
    give different dates (a few rows, every day and month at most 12: ``01/02/2024,
    01/03/2024`` are two days, or two months; a single ``01/02/2024``) the column is refused,
    naming the first such row and both readings, and asking for ``YYYY-MM-DD``. An error rather
    than a warning: the two readings differ in the calendar (holidays, seasons) and often in the
    step (a day or a month), which changes every fitted carry-over and plan, and a warning in
    ``fit.md`` is read after the fit, while the fix (ISO dates) takes a minute. When neither
    reading holds, the error is the usual reading's (month first; day first for dots), with a note
    that the other fails too.
    """
    raw = df[col].astype(str).str.strip()
    _mixed(raw, col, source)
    readings = _both_ways(raw)
    if len(readings) < 2:
        return _checked(readings[0][1] if readings else _parse(raw, col, source), df, col, source, least, midnight)
    held: list[tuple[str, tuple[pd.DatetimeIndex, float | None]]] = []
    failed: list[BudgetGymError] = []
    for layout, parsed in readings:
        try:
            held.append((layout, _checked(parsed, df, col, source, least, midnight)))
        except BudgetGymError as err:
            failed.append(err)
    if not held:
        other = readings[1][0]
        raise BudgetGymError(f"{failed[0]}; read as {readings[0][0]}, and as {other} the dates fail too")
    if len(held) == 1 or held[0][1][0].equals(held[1][1][0]):
        return held[0][1]
    (one, (a, a_step)), (two, (b, b_step)) = held
    row = int(np.flatnonzero(a != b)[0])
    raise AmbiguousDatesError(
        f"{source}: column '{col}', row {row + 1}: date {cell_text(df[col].iloc[row])}",
        f"reads both ways: {a[row].date()} as {one}{_apart(a_step)}, {b[row].date()} as {two}{_apart(b_step)}; "
        f"expected dates as YYYY-MM-DD",
    )


def _checked(
    parsed: pd.Series, df: pd.DataFrame, col: str, source: str, least: int, midnight: bool
) -> tuple[pd.DatetimeIndex, float | None]:
    """:func:`read_dates` of one reading ``parsed`` of column ``col``: the dates and their step, or
    the one-line error naming the row."""
    if parsed.isna().any():
        row = int(np.flatnonzero(parsed.isna().to_numpy())[0])
        got = cell_text(df[col].iloc[row])
        raise BudgetGymError(f"{source}: column '{col}', row {row + 1}: expected a date (e.g. 2024-01-29), got {got}")
    far = ~parsed.dt.tz_localize(None).between(*NS_RANGE) if parsed.dt.tz is not None else ~parsed.between(*NS_RANGE)
    if far.any():  # pandas reads them (in microseconds), but a date column is held in nanoseconds
        row = int(np.flatnonzero(far.to_numpy())[0])
        read, written = str(parsed.iloc[row].date()), str(df[col].iloc[row]).strip()
        what = read if written.startswith(read) else f"{cell_text(df[col].iloc[row])} (read as {read})"
        raise BudgetGymError(
            f"{source}: column '{col}', row {row + 1}: date {what} is out of range; expected a date from "
            f"{FIRST_DATE} to {LAST_DATE}"
        )
    dates = pd.DatetimeIndex(parsed).as_unit("ns")  # pandas 3 may parse to microseconds
    dates = dates.normalize() if midnight else dates
    dates = dates.tz_localize(None) if dates.tz is not None else dates  # the dates as written (datetime64)
    if len(dates) < least:
        raise BudgetGymError(f"{source}: column '{col}': expected at least {least} periods, got {len(dates)}")
    dup = dates.duplicated()
    if dup.any():
        row = int(np.flatnonzero(dup)[0])
        first = int(np.flatnonzero(dates == dates[row])[0])
        if midnight and parsed.iloc[row] != parsed.iloc[first]:  # hourly data read as "appears twice"
            raise BudgetGymError(
                f"{source}: column '{col}', row {row + 1}: date {dates[row].date()} appears twice (rows {first + 1} "
                f"and {row + 1} differ only in the time of day); expected one row per day, week or month"
            )
        raise BudgetGymError(f"{source}: column '{col}', row {row + 1}: date {dates[row].date()} appears twice")
    if len(dates) < 2:
        return dates, None
    gaps = np.diff(dates.asi8) / 86_400e9  # days
    if np.any(gaps <= 0):
        row = int(np.flatnonzero(gaps <= 0)[0]) + 1
        raise BudgetGymError(
            f"{source}: column '{col}', row {row + 1}: dates must increase, {dates[row].date()} comes after "
            f"{dates[row - 1].date()}"
        )
    months = dates.year * 12 + dates.month
    if np.all(np.diff(months) == 1) and (len(set(dates.day)) == 1 or month_ends(dates)) and gaps.min() >= 28:
        return dates, MONTH_DAYS
    step = float(gaps[0])
    uneven = np.flatnonzero(np.abs(gaps - step) > 1e-9)
    if uneven.size:
        row = int(uneven[0]) + 1
        raise BudgetGymError(
            f"{source}: column '{col}', row {row + 1}: dates are not evenly spaced: {dates[row].date()} is "
            f"{count(float(gaps[row - 1]), 'day')} after the previous date, expected {step:g} (as between the first "
            f"two rows)"
        )
    return dates, step


def is_monthly(step_days: float) -> bool:
    """Whether steps of ``step_days`` are calendar months (:data:`MONTH_DAYS`, to 1e-9 of a day)."""
    return abs(step_days - MONTH_DAYS) < 1e-9


def whole_days(step_days: float) -> bool:
    """Whether steps of ``step_days`` keep dates at one time of day: a whole number of days or
    calendar months (:func:`is_monthly`); dates of other steps (half a day, an hour) are read with
    their time (:func:`read_dates` ``midnight=False``), else every step of a day would read as one date."""
    return abs(step_days - round(step_days)) < 1e-9 or is_monthly(step_days)


def calendar_day(date: pd.Timestamp) -> float:
    """budgetgym's day index of ``date``: the same day of the year and weekday (module docstring)."""
    doy = int(date.day_of_year) - 1
    j = (int(date.weekday()) - doy) % 7
    return float(doy + 365 * j)


#: Day 0 of budgetgym's calendar as a date: Monday 1 January 2024 (:func:`day_date`).
EPOCH = pd.Timestamp("2024-01-01")


def day_date(day: float) -> pd.Timestamp:
    """A date of budgetgym's day ``floor(day)`` that :func:`calendar_day` reads back as that day: the first
    date of a series (the later ones are real days on from it, which calendar_day-based readers count the
    same way), not a map of every day (day 729 is 31 December 2030, day 730 1 January 2025).

    ``d = doy + 365 j`` (``0 <= doy < 365``, ``j = d // 365``) is day ``doy`` of the first year from 2024
    whose 1 January falls on weekday ``j`` (Monday 0): its weekday is ``(j + doy) mod 7``, so
    :func:`calendar_day` gives ``doy + 365 j = d``. Days 0 to 365 are ``EPOCH + d`` (2024 starts on a
    Monday: ``j = 0``; day 365 is 31 December 2024, which :func:`calendar_day` reads as 365). ``EPOCH + d``
    for a later day is read back 364 days on from 366 (2025-01-01, a Wednesday, is day 730), a yearly phase
    1.25 days off. Days from ``7 x 365 = 2555`` have no such date (``j`` is a weekday): day ``d`` gets the date
    of the day ``b = d - 7q < 2555`` (the same weekday) whose yearly phase ``b mod 365.25`` is nearest
    ``d mod 365.25``, within half a day (``EPOCH + d`` was up to 2.25 days off, and after 2262-04-11, the
    last date pandas and so ``calibrate`` read, from day 87,040 on).

    >>> str(day_date(366).date()), calendar_day(day_date(366))
    ('2030-01-02', 366.0)
    """
    d = int(np.floor(day))
    if d >= 7 * 365:
        same_weekday = np.arange(d % 7, 7 * 365, 7)
        off = (d - same_weekday) % 365.25
        d = int(same_weekday[np.argmin(np.minimum(off, 365.25 - off))])
    j, doy = divmod(d, 365)
    if d <= 365:
        return EPOCH + pd.Timedelta(days=d)
    year = next(y for y in range(EPOCH.year, EPOCH.year + 28) if pd.Timestamp(year=y, month=1, day=1).weekday() == j)
    return pd.Timestamp(year=year, month=1, day=1) + pd.Timedelta(days=doy)


def month_ends(dates: pd.DatetimeIndex) -> bool:
    """Whether monthly ``dates`` fall on each month's last day: all of them month ends, and not all on
    one day of the month (31 January, 29 February, 31 March), or one day of the 29th to the 31st that
    ends its month (a single date: 30 April). 28 February 2025 alone, or the 28th of every month, is
    a day of the month."""
    days = set(dates.day)
    return bool(np.all(dates.is_month_end)) and (len(days) > 1 or min(days) >= 29)


def next_dates(last: pd.Timestamp, step_days: float, n: int, month_end: bool = False) -> pd.DatetimeIndex:
    """The ``n`` dates after ``last``: ``last + k step_days`` for ``k = 1..n``, or ``k`` calendar
    months on for ``step_days =`` :data:`MONTH_DAYS`: on the last day of each month with
    ``month_end`` (:func:`month_ends` of the series ``last`` ends), else on ``last``'s day of the
    month (from the 29th to the 31st, a shorter month ends on its last day, as
    :class:`pandas.DateOffset` adds months). Past :data:`LAST_DATE` they are held in microseconds
    (pandas' non-nanosecond dates), not an error: ``last`` is taken in microseconds, since
    :func:`read_dates` returns nanoseconds, whose sum past :data:`LAST_DATE` overflows."""
    last = pd.Timestamp(last).as_unit("us")
    if is_monthly(step_days):
        if month_end:
            return pd.DatetimeIndex([last + pd.offsets.MonthEnd(k) for k in range(1, n + 1)])
        return pd.DatetimeIndex([last + pd.DateOffset(months=k) for k in range(1, n + 1)])
    return pd.DatetimeIndex([last + pd.Timedelta(days=step_days * k) for k in range(1, n + 1)])


def date_texts(dates: pd.DatetimeIndex) -> list[str]:
    """``dates`` as ISO 8601 text: ``2024-01-29``, or with the time (``2024-01-29T12:00:00``) when a
    date is not at midnight (a step of a fraction of a day)."""
    if bool(np.all(dates == dates.normalize())):
        return [d.date().isoformat() for d in dates]
    return [d.isoformat() for d in dates]
