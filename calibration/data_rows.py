"""The rows of a data file before its columns are read: what a spreadsheet export adds, and a geo-level layout.

* Empty rows: an export often ends with rows of empty fields (``,,,,``), which pandas reads as a row of
  missing values (a date of ``NaN``: a ``TypeError`` deep in the date parser under pandas 3). A row whose
  every field is empty (or blank) is dropped (:func:`drop_empty_rows`); a row with other values but no
  date is a one-line error naming the file, the row (1-based, of the data lines) and the date column.
* Geo-level data: Meridian's example data also comes with a ``geo`` column and a row per geo and date, and
  other exports call it ``region``, ``market``, ``dma``, ``state``, ... ``calibrate`` fits national data, one
  row per date: a file whose dates repeat, with a column telling the rows of a date apart (the likely geo
  column, :func:`geo_column`) or every date on several rows, is refused in one line naming that column and
  saying how to sum it per date (:func:`check_national`). A date repeated without such a column (a row
  exported twice) is :func:`~budgetgym.envs.dates.read_dates`'s error, naming the first repeated date.
"""

from __future__ import annotations

import re
import warnings

import numpy as np
import pandas as pd

from budgetgym.envs.errors import BudgetGymError, count

__all__ = ["GEO_COLUMNS", "check_national", "drop_empty_rows", "empty_cells", "geo_column"]

#: Column names (compared by :func:`_key`: lower case, ``DMA Code`` as ``dma_code``) that name a row's region in a
#: geo-level file: Meridian's ``geo`` and what other exports call it.
GEO_COLUMNS = ("geo", "geo_id", "geo_name", "geo_code", "region", "region_id", "market", "market_id", "dma",
               "dma_code", "dma_name", "state", "province", "country", "country_code", "city", "county", "territory",
               "area", "zone", "location", "store", "store_id", "postcode", "zip", "zip_code")


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


def _is_dates(values: pd.Series) -> bool:
    """Whether every value of ``values`` (text) reads as a date (pandas' guess per value)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # pandas' "could not infer format" on text that is no date
        return bool(pd.to_datetime(values, errors="coerce", format="mixed").notna().all())


def geo_column(df: pd.DataFrame, date: str, used: list[str]) -> str | None:
    """The column of ``df`` that likely names each row's region in a file whose dates repeat, or ``None``.

    A candidate is a column other than ``date`` and ``used`` (the KPI, spend and exposure columns) whose
    values are all different within each repeated date (each date and region once), on more than one
    value: a column named as a region (:data:`GEO_COLUMNS`, numeric codes too: ``dma``), else a column of
    text that is no date (a region's name). The first in the table's order of the first kind, else of the
    second.
    """
    dates = df[date].astype(str).str.strip()
    repeated = dates.duplicated(keep=False).to_numpy()
    named: list[str] = []
    texts: list[str] = []
    for col in df.columns:
        if col == date or col in used:
            continue
        values = df[col].astype(str).str.strip()
        if values[repeated].nunique() < 2 or pd.DataFrame({"d": dates, "v": values})[repeated].duplicated().any():
            continue
        if _key(col) in GEO_COLUMNS:
            named.append(str(col))
        elif pd.to_numeric(df[col], errors="coerce").isna().any() and not _is_dates(values):
            texts.append(str(col))
    found = named or texts
    return found[0] if found else None


def _key(name: object) -> str:
    """A column name compared with :data:`GEO_COLUMNS`: lower case, other characters than letters and digits
    as ``_`` (``DMA Code`` -> ``dma_code``)."""
    return re.sub(r"[^a-z0-9]+", "_", str(name).strip().lower()).strip("_")


def check_national(df: pd.DataFrame, date: str, sums: list[str], source: str) -> None:
    """Refuse geo-level data in one line: ``calibrate`` fits national data, one row per date.

    Geo-level data is told by what it is: dates repeated, with a column telling the rows of a date apart
    (:func:`geo_column`: ``region``, ``market``, ``dma``, a column of text), or every date on several rows;
    or a ``geo`` column holding more than one value (Meridian's layout). The message names the geo column
    (else the date column), how many geos (rows per date) there are, and the pandas line that sums ``sums``
    (the KPI, spend and exposure columns) per date. A date repeated without such a column is
    :func:`~budgetgym.envs.dates.read_dates`'s error (a row exported twice), naming the date.
    """
    dates = df[date].astype(str).str.strip()
    repeated = bool(dates.duplicated().any())
    geo = geo_column(df, date, sums) if repeated else None
    if geo is None:
        meridian = next((c for c in df.columns if _key(c) == "geo" and c != date), None)
        if meridian is not None and df[meridian].dropna().astype(str).str.strip().nunique() >= 2:
            geo = meridian
    per_date = dates.value_counts()
    if geo is None and not (repeated and per_date.min() >= 2):
        return
    if geo is not None:
        geos = df[geo].dropna().astype(str).str.strip().nunique()
        where, what = f"column '{geo}'", f"{count(geos, 'geo')}, several rows per date"
    else:
        rows = f"{per_date.min()}" if per_date.min() == per_date.max() else f"{per_date.min()} to {per_date.max()}"
        where, what = f"column '{date}'", f"every date on {rows} rows"
    picked = ", ".join(repr(c) for c in sums)
    raise BudgetGymError(
        f"{source}: {where}: this looks like geo-level data ({what}); "
        f"calibrate fits national data, one row per date: sum the KPI, spend and exposure per date (controls: "
        f"their mean), e.g. in pandas df.groupby('{date}', as_index=False)[[{picked}]].sum().to_csv('national.csv', "
        f"index=False)")
