"""A user's table's columns as numbers: :func:`numeric_column` (finite, optionally non-negative and bounded, a
yes/no column as 1/0 or refused) with one-line errors naming the file, the column and the first bad row, and a hint
where a cell is a number written with a thousands separator or the decimal comma (``--decimal ,``);
:func:`cell_text`, a cell as a message shows it. The tables themselves are read by
:func:`~budgetgym.envs.csv_table.read_csv_table`."""

from __future__ import annotations

import math
import re
from typing import Any

import numpy as np

from budgetgym.envs.errors import BudgetGymError

__all__ = ["cell_text", "numeric_column"]


def cell_text(value: object) -> str:
    """A table cell as a message shows it: ``'1,200'``, ``-5``, ``inf``, or ``an empty or NaN cell`` (pandas
    reads an empty cell, ``NA`` and ``NaN`` alike as missing), without numpy's ``np.float64(...)``."""
    item = value.item() if hasattr(value, "item") and not isinstance(value, str) else value
    if item is None or (isinstance(item, float) and math.isnan(item)) or type(item).__name__ in ("NAType", "NaTType"):
        return "an empty or NaN cell"
    if isinstance(item, float):
        return f"{item:g}"
    return repr(item)


def numeric_column(
    df: Any, col: str, source: str, what: str, nonnegative: bool, largest: float = np.inf,
    boolean: bool = True,
) -> np.ndarray:
    """Column ``col`` of ``df`` as floats; a non-number (or, with ``nonnegative``, a negative one, or one
    above ``largest`` in size) is a one-line error naming ``source``, the column, the first bad row and
    ``what`` it holds.

    A column of true/false values (pandas reads ``True``/``False``, ``true``/``false``, ``TRUE``/``FALSE``
    as booleans) is read as 1/0 with ``boolean`` (a yes/no control: a holiday dummy), else refused in one
    line: spend, exposure or a KPI is an amount, and a flag in its place is a wrong column, which would
    otherwise pass as spend of 1 or 0.
    """
    import pandas as pd

    if not boolean:
        _refuse_boolean(df[col], col, source, what)
    values = pd.to_numeric(df[col], errors="coerce").to_numpy(dtype=float)
    bad = np.flatnonzero(~np.isfinite(values))
    if bad.size:
        row = int(bad[0])
        got = cell_text(df[col].iloc[row])
        raise BudgetGymError(f"{source}: column '{col}', row {row + 1}: {what} must be a finite number, got {got}"
                             + _separator_hint(df[col].iloc[row]))
    if nonnegative and np.any(values < 0):
        row = int(np.flatnonzero(values < 0)[0])
        raise BudgetGymError(
            f"{source}: column '{col}', row {row + 1}: {what} must be non-negative, got {values[row]:g}"
        )
    if np.any(np.abs(values) > largest):
        row = int(np.flatnonzero(np.abs(values) > largest)[0])
        raise BudgetGymError(
            f"{source}: column '{col}', row {row + 1}: {what} must be at most {largest:g} in size, got "
            f"{values[row]:g}; rescale the column (e.g. to thousands)"
        )
    return values


#: A number written with thousands separators: ``1,234``, ``1,234.5``, ``-12,345,678`` or ``1.234,5``, ``1.234.567``.
_GROUPED = re.compile(r"^[+-]?\d{1,3}(?:(,)\d{3}(?:,\d{3})*(?:\.\d+)?|(\.)\d{3}(?:\.\d{3})*(?:,\d+)?)$")
#: A number written with the decimal comma and no thousands separator: ``12,5``, ``-0,25``.
_DECIMAL_COMMA = re.compile(r"^[+-]?\d+,\d+$")


def _separator_hint(value: object) -> str:
    """``"; ..."``: the hint that ``value`` (a cell that did not read as a number) is one written with a
    thousands separator (:data:`_GROUPED`; with ``.`` grouping, the decimal comma's layout, or ``--decimal ,``
    reads it) or with the decimal comma (:data:`_DECIMAL_COMMA`, ``--decimal ,``), or ``""``."""
    text = value.strip() if isinstance(value, str) else ""
    found = _GROUPED.match(text)
    if found is None:
        if _DECIMAL_COMMA.match(text):
            return "; the values look like they use the decimal comma: pass --decimal , or export them with a '.'"
        return ""
    sep = found.group(1) or found.group(2)
    also = " (or pass --decimal , for the decimal comma)" if sep == "." else ""
    return f"; the values look like they use a thousands separator ('{sep}'); export the numbers without it{also}"


def _refuse_boolean(column: Any, col: str, source: str, what: str) -> None:
    """A column holding a true/false value (a boolean column, or one with empty cells: pandas' ``object``
    column of booleans and NaN) is a one-line error naming ``source``, the column and its first such row."""
    flags = column.map(lambda v: isinstance(v, (bool, np.bool_))).to_numpy(dtype=bool)
    if flags.any():
        row = int(np.flatnonzero(flags)[0])
        raise BudgetGymError(
            f"{source}: column '{col}', row {row + 1}: {what} must be a number, got {cell_text(column.iloc[row])} "
            f"(a column of true/false values); expected an amount per period"
        )
