"""The rows of a data file before its columns are read: what a spreadsheet export adds, and a geo-level layout.

* Empty rows: an export often ends with rows of empty fields (``,,,,``), which pandas reads as a row of
  missing values (a date of ``NaN``: a ``TypeError`` deep in the date parser under pandas 3). A row whose
  every field is empty (or blank) is dropped (:func:`drop_empty_rows`); a row with other values but no
  date is a one-line error naming the file, the row (1-based, of the data lines) and the date column.
* Geo-level data: Meridian's example data also comes with a ``geo`` column and a row per geo and date.
  ``calibrate`` fits national data, one row per date: such a file is refused in one line saying how to sum
  it per date (:func:`check_national`). Repeated dates without a ``geo`` column are
  :func:`~budgetgym.envs.dates.read_dates`'s error, naming the first repeated date.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from budgetgym.envs.errors import BudgetGymError, count

__all__ = ["GEO_COLUMNS", "check_national", "drop_empty_rows", "empty_cells"]

#: Column names (compared in lower case) that mark a row's region in a geo-level file (Meridian's ``geo``).
GEO_COLUMNS = ("geo",)


def empty_cells(df: pd.DataFrame) -> pd.DataFrame:
    """``[T, columns]`` bool: the cell is missing (an empty field, ``NA``, ``NaN``) or blank text."""
    blank = df.apply(lambda col: col.astype(object).map(lambda v: isinstance(v, str) and not v.strip()))
    return df.isna() | blank.astype(bool)


def drop_empty_rows(df: pd.DataFrame, date: str, source: str) -> pd.DataFrame:
    """``df`` without its rows whose every field is empty (:func:`empty_cells`), renumbered from 0.

    Raises
    ------
    BudgetGymError
        A row whose ``date`` is empty while another field holds a value: naming ``source``, the row
        (1-based, counting the data lines after the header, empty ones included) and the date column.
    """
    empty = empty_cells(df)
    blank_row = empty.all(axis=1).to_numpy()
    undated = np.flatnonzero(empty[date].to_numpy() & ~blank_row)
    if len(undated):
        row = int(undated[0])
        raise BudgetGymError(
            f"{source}: column '{date}', row {row + 1}: the date is empty but the row holds other values "
            f"({count(len(undated), 'such row')}); fill in the date or delete the row")
    if not blank_row.any():
        return df
    return df.loc[~blank_row].reset_index(drop=True)


def check_national(df: pd.DataFrame, date: str, sums: list[str], source: str) -> None:
    """Refuse a geo-level file (a :data:`GEO_COLUMNS` column holding more than one value, or with dates
    repeated) in one line: ``calibrate`` fits national data, one row per date. The message names the geo
    column, how many geos there are, and the pandas line that sums ``sums`` (the KPI, spend and exposure
    columns) per date."""
    geo = next((c for c in df.columns if str(c).strip().lower() in GEO_COLUMNS), None)
    if geo is None:
        return
    dates = df[date].astype(str).str.strip()
    geos = df[geo].dropna().astype(str).str.strip().nunique()
    if geos < 2 and not dates.duplicated().any():
        return
    picked = ", ".join(repr(c) for c in sums)
    raise BudgetGymError(
        f"{source}: column '{geo}': this looks like geo-level data ({count(geos, 'geo')}, several rows per date); "
        f"calibrate fits national data, one row per date: sum the KPI, spend and exposure per date (controls: "
        f"their mean), e.g. in pandas df.groupby('{date}', as_index=False)[[{picked}]].sum().to_csv('national.csv', "
        f"index=False)")
