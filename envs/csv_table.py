r"""Reading a user's CSV table: its separator and its decimal mark, with one-line errors.

Every numeric table budgetgym reads from a user (calibrate's data and lift tests, a plan's
``--current`` and ``--history``, ``simulate --plan``, a customer file) goes through
:func:`read_csv_table`, so one rule holds for all of them.

Separator. The header line decides: of ``,``, ``;`` and tab, the one splitting it (as CSV, quotes
respected) into the most fields, ``,`` on a tie (a one-column file). Excel's "CSV" in most European
locales is ``;``-separated; a tab-separated export is read too. A header in one field that ``|``
splits is a one-line error.

Decimal mark. A comma-separated file has the decimal point (``1234.5``; a thousands separator is an
error with a hint, :func:`~budgetgym.envs.io.numeric_column`). In a ``;``- or tab-separated file the
numbers decide, as the dates decide their order (:func:`~budgetgym.envs.dates.read_dates`). A
number-like cell (digits, ``.`` and ``,``, a sign, an exponent) is read

* with the decimal comma: ``\d+`` or ``\d{1,3}(\.\d{3})+`` (``.`` grouping thousands), then ``,\d+``
  optionally: ``12,5``, ``1.234,5``, ``1.234.567``;
* with the decimal point: ``\d+`` or ``\d{1,3}(,\d{3})+``, then ``.\d+`` optionally: ``12.5``,
  ``1,234.5``.

A cell only the first reads (``12,5``, ``1.234,5``, ``1.234.567``) shows the decimal comma, one only
the second reads (``12.5``, ``1,234.5``) the decimal point; a cell both read differently (``1.234``:
1234 or 1.234; ``1,234``) shows nothing, nor does a whole number (``1234``). The file's mark is the one
its cells show. Cells showing both marks, or none while some cell reads both ways, are a one-line
error naming the cell(s) and the option that says the mark (``--decimal ,`` or ``--decimal .``), never a
guess: ``1.234`` misread is a factor of 1000 in a spend. With the decimal comma, every cell the first
form reads is rewritten ``1234.5`` (``.`` dropped, ``,`` to ``.``) before pandas reads the table, so it is
read exactly as its comma-separated, decimal-point twin (types, empty cells, booleans, text); with the
decimal point the table is read as it is (pandas' ``decimal="."``, no thousands separator).

Grouping by a space. French and Nordic exports group thousands with a space, a no-break space (U+00A0) or a
narrow no-break space (U+202F): ``1 234,50``; Swiss ones with an apostrophe: ``1'234.50``. None of these is a
decimal mark, so such a cell is one number whatever the file: ``\d{1,3}`` then groups of three digits each after
the same one of these characters, then optionally ``,\d+`` (``1 234,5``, showing the decimal comma) or
``.\d+`` (``1'234.5``, the decimal point), a sign before. It is read so, as its plain twin (``1234.5``), in the
columns the caller reads as numbers (``numbers``: spend, a KPI, a feature) and nowhere else, in a file of any
separator (a comma-separated one's cell ``"1 234,5"`` quoted, as its comma separates cells): a date, a text
column or a label is never touched. There, digits split by those characters in any other way (``1 23,4``,
``12 345 6``, ``1 234'567``), or grouped with the decimal mark the file does not use, are a one-line error
naming the cell, never a guess at which digits belong together.

pandas' own ``read_csv(sep=";", decimal=",", thousands=".")`` is no such rule: it takes the options on
trust and, given ``thousands="."``, also reads ``07.01.2024`` as the number 7012024.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Collection, Iterable
from pathlib import Path
from typing import Any

from budgetgym.envs.errors import BudgetGymError

__all__ = ["DECIMAL_MARKS", "GROUPING", "SEPARATORS", "decimal_mark", "grouped_number", "read_csv_table", "separator"]

#: The separators a table may use, in the order a tie is broken (:func:`separator`).
SEPARATORS = (",", ";", "\t")
#: The decimal marks a table may use (``--decimal``).
DECIMAL_MARKS = (".", ",")

_EXP = r"(?:[eE][+-]?\d+)?"
#: A number with the decimal comma, ``.`` grouping thousands: ``12,5``, ``1.234,5``, ``1.234.567``, ``-3``.
_COMMA_NUMBER = re.compile(rf"[+-]?(?:\d+|\d{{1,3}}(?:\.\d{{3}})+)(?:,\d+)?{_EXP}")
#: A number with the decimal point, ``,`` grouping thousands: ``12.5``, ``1,234.5``, ``-3``.
_POINT_NUMBER = re.compile(rf"[+-]?(?:\d+|\d{{1,3}}(?:,\d{{3}})+)(?:\.\d+)?{_EXP}")
#: The characters grouping thousands that are no decimal mark, by name (module docstring): a space, a no-break
#: space, a narrow no-break space (French), an apostrophe (Swiss).
GROUPING = {" ": "a space", "\u00a0": "a no-break space", "\u202f": "a narrow no-break space", "'": "an apostrophe"}
_GAP = "[" + "".join(GROUPING) + "]"
_SPACED = rf"[+-]?\d{{1,3}}({_GAP})\d{{3}}(?:\1\d{{3}})*"
#: A number grouped by one of :data:`GROUPING` in threes, by the decimal mark after it: ``1 234,5``, ``1'234.5``.
_SPACED_NUMBER = {",": re.compile(rf"{_SPACED}(?:,\d+)?"), ".": re.compile(rf"{_SPACED}(?:\.\d+)?")}
#: Digits split by :data:`GROUPING` in any way, decimals after: what a malformed grouping (``12 345 6``) looks like.
_SPLIT_DIGITS = re.compile(rf"[+-]?\d+(?:{_GAP}\d+)+(?:[.,]\d+)?")
_HAS_GAP = re.compile(_GAP)


def grouped_number(cell: str, mark: str | None = None) -> bool:
    """Whether ``cell`` (stripped) is a number grouping its thousands by one of :data:`GROUPING` in threes (module
    docstring): ``1 234``, ``-12 345,5`` (decimals after the decimal comma), ``1'234.5`` (the decimal point); with
    ``mark`` (``","`` or ``"."``), decimals only after that mark. A plain number (``1234``) is none."""
    text = cell.strip()
    if mark is not None:
        return _SPACED_NUMBER[mark].fullmatch(text) is not None
    return _SPACED_NUMBER[","].fullmatch(text) is not None or _SPACED_NUMBER["."].fullmatch(text) is not None


def _fields(line: str, sep: str) -> list[str]:
    return next(csv.reader([line], delimiter=sep), [])


def separator(header: str) -> str:
    """The separator of a table whose header line is ``header`` (module docstring): of :data:`SEPARATORS`,
    the one splitting it into the most fields, the first on a tie."""
    counts = [len(_fields(header, sep)) for sep in SEPARATORS]
    return SEPARATORS[counts.index(max(counts))]


def _shows(cell: str) -> str | None:
    """The decimal mark ``cell`` shows (``","`` or ``"."``), ``"?"`` when it reads as two numbers (``1.234``),
    ``None`` when it shows none (a whole number, text)."""
    if "," not in cell and "." not in cell:  # most cells of a table: no number with a mark, no match to try
        return None
    comma, point = _COMMA_NUMBER.fullmatch(cell), _POINT_NUMBER.fullmatch(cell)
    if not (comma or point) and _HAS_GAP.search(cell):  # 1 234,5 or 1'234.5: never both (one mark in each)
        return "," if grouped_number(cell, ",") else "." if grouped_number(cell, ".") else None
    if comma and point:
        return "?"
    return "," if comma else "." if point else None


def decimal_mark(rows: Iterable[list[str]], columns: list[str], source: str, option: str | None) -> str:
    """The decimal mark the cells of ``rows`` (the data rows, header excluded) show (module docstring).

    Parameters
    ----------
    rows : the data rows as lists of cells.
    columns : the header's names, for messages.
    source : the file, for messages (``"data file 'x.csv'"``).
    option : the option that gives the mark (``"--decimal"``), named in the error; ``None``: the
        command has none, and the error says how to write the numbers instead.

    Raises
    ------
    BudgetGymError
        Cells showing both marks, or none while a cell reads as two numbers, naming the cell(s).
    """
    first: dict[str, tuple[str, int, int]] = {}  # mark -> (cell, row, column index)
    for r, row in enumerate(rows):
        for c, raw in enumerate(row):
            mark = _shows(raw.strip())
            if mark is not None and mark not in first:
                first[mark] = (raw.strip(), r, c)
        if "," in first and "." in first:
            break

    def where(found: tuple[str, int, int]) -> str:
        cell, r, c = found
        name = f"column '{columns[c]}', " if c < len(columns) else ""
        return f"'{cell}' ({name}row {r + 1})"

    if "," in first and "." in first:
        fix = f"pass {option} , or {option} ." if option else "export the file with one decimal mark"
        raise BudgetGymError(f"{source}: the numbers use both decimal marks: {where(first[','])} and "
                             f"{where(first['.'])}; expected one decimal mark in a file: {fix}")
    if "," in first or "." in first:
        return "," if "," in first else "."
    if "?" in first:
        cell = first["?"][0]
        as_comma, as_point = float(cell.replace(".", "").replace(",", ".")), float(cell.replace(",", ""))
        fix = (f"pass {option} , (it is {as_comma:g}) or {option} . (it is {as_point:g})" if option else
               "export the numbers without a thousands separator, or with their decimals (1.234,00)")
        raise BudgetGymError(
            f"{source}: {where(first['?'])} reads as {as_comma:g} with the decimal comma and as {as_point:g} with "
            f"the decimal point, and no other number shows the file's decimal mark: {fix}")
    return "."


def _comma_to_point(cell: str) -> str:
    """``cell`` as a decimal-point number if the decimal comma reads it (``1.234,5`` -> ``1234.5``), else as it is."""
    text = cell.strip()
    if ("," in text or "." in text) and _COMMA_NUMBER.fullmatch(text):
        return text.replace(".", "").replace(",", ".")
    return cell


def _ungrouped(cell: str, mark: str, where: tuple[str, int], source: str, option: str | None) -> str:
    """``cell`` of a column read as numbers without its grouping (module docstring: ``1 234,5`` -> ``1234.5`` with the
    decimal comma ``mark``), as it is when nothing groups it, or a one-line error naming it (``where``: its column
    and row) when :data:`GROUPING` splits its digits otherwise."""
    text = cell.strip()
    if not _HAS_GAP.search(text):  # most cells: nothing to do
        return cell
    if grouped_number(text, mark):
        return _HAS_GAP.sub("", text).replace(",", ".")
    if not _SPLIT_DIGITS.fullmatch(text):
        return cell  # text, not digits: left to the caller's reading of the column ("must be a number")
    name, row = where
    g = _HAS_GAP.findall(text)[0]
    other = "," if mark == "." else "."
    if grouped_number(text, other):
        said = f"the decimal {'comma' if other == ',' else 'point'}"
        fix = f"pass {option} {other}" if option else f"export the numbers with the decimal {mark}"
        raise BudgetGymError(f"{source}: column '{name}', row {row}: {text!r} is written with {said}, but the file's "
                             f"numbers use '{mark}': {fix}")
    own = re.search(r"[.,]\d+$", text)  # the cell's decimals, else the file's mark, in the example
    dec = own.group()[0] if own else mark
    gaps = list(dict.fromkeys(_HAS_GAP.findall(text)))
    how = (f"{GROUPING[g]}, but not in threes" if len(gaps) == 1 else
           f"both {' and '.join(GROUPING[c] for c in gaps)}, not one of them")
    raise BudgetGymError(f"{source}: column '{name}', row {row}: {text!r} groups its digits with {how}; expected a "
                         f"number such as '1{g}234{g}567{dec}5' (or one written without grouping)")


def _normalised(path: Path, sep: str, mark: str | None, source: str, option: str | None,
                numbers: Collection[str] = (), force: bool = False) -> tuple[io.StringIO | None, str]:
    """The table at ``path`` (separated by ``sep``) as a comma-separated one with the decimal point and the cells
    of the columns ``numbers`` ungrouped (:func:`_ungrouped`), for pandas, and its decimal mark; ``None`` for the
    table when the file is read as it is (comma-separated with the decimal point; unless ``force``)."""
    if sep == "," and mark in (None, ".") and not force:
        return None, "."
    with path.open(encoding="utf-8-sig", newline="") as fh:
        rows = list(csv.reader(fh, delimiter=sep))
    data = [row for row in rows[1:] if row]  # pandas skips blank lines: rows counted as it counts them
    header = [c.strip() for c in rows[0]] if rows else []
    if mark is None:
        mark = decimal_mark(data, header, source, option)
    grouped = [c for c, name in enumerate(header) if name in numbers]
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    if rows:
        writer.writerow(rows[0])
    for r, row in enumerate(data):
        if mark == ",":
            row = [_comma_to_point(cell) for cell in row]
        for c in grouped:
            if c < len(row):
                row[c] = _ungrouped(row[c], mark, (header[c], r + 1), source, option)
        writer.writerow(row)
    out.seek(0)
    return out, mark


def _has_grouping(df: Any, numbers: Collection[str]) -> bool:
    """Whether a column of ``numbers`` that pandas read as text (not numbers) holds a :data:`GROUPING` character."""
    return any(c in df.columns and df[c].dtype.kind not in "biufc"
               and df[c].astype(str).str.contains(_GAP, regex=True).any() for c in numbers)


def read_csv_table(path: str | Path, what: str, decimal: str | None = None, option: str | None = "--decimal",
                   numbers: Collection[str] = ()) -> Any:
    """A user's CSV file as a pandas DataFrame (column names stripped), or a one-line
    :class:`BudgetGymError` naming ``what`` and the file.

    Parameters
    ----------
    path : the file: separated by ``,``, ``;`` or tabs (:func:`separator`).
    what : what the file is, for messages (``"data file"``).
    decimal : its decimal mark, ``"."`` or ``","``; ``None`` (default): the decimal point in a
        comma-separated file, the mark its numbers show in another (:func:`decimal_mark`).
    option : the caller's option giving ``decimal``, named when the mark is unclear (default ``"--decimal"``, as
        every command that reads a table calls it); ``None``: the error says how to write the numbers instead.
    numbers : the columns the caller reads as numbers: their cells grouping thousands by a space, a no-break space
        or an apostrophe (``1 234,5``, ``1'234.5``) are read as the numbers (module docstring); no other column's.

    Raises
    ------
    BudgetGymError
        Not found, not a readable table, a header in one field that ``|`` splits, a column named twice,
        a row with more fields than the header (the first one too, which pandas reads as an index), a
        decimal mark unclear or mixed (:func:`decimal_mark`), a cell of ``numbers`` whose digits a space or an
        apostrophe splits other than in threes.
    """
    import pandas as pd  # only the planner and calibration read tables

    p = Path(path)
    source = f"{what} '{p}'"
    if decimal is not None and decimal not in DECIMAL_MARKS:
        raise BudgetGymError(f"{option or 'decimal'}: expected '.' or ',' (the decimal mark), got '{decimal}'")
    if p.is_dir():
        raise BudgetGymError(f"{source}: is a directory; expected a CSV file")
    if not p.is_file():
        raise BudgetGymError(f"{source}: file not found")
    try:
        with p.open(encoding="utf-8-sig") as fh:
            head = fh.readline().rstrip("\r\n")
        sep = separator(head)
        _check_header([c.strip() for c in _fields(head, sep)], source)
        table, mark = _normalised(p, sep, decimal, source, option, numbers)
        df = pd.read_csv(p if table is None else table)
        if table is None and _has_grouping(df, numbers):  # a comma file's 1'234.5: read again, ungrouped
            table, mark = _normalised(p, sep, mark, source, option, numbers, force=True)
            df = pd.read_csv(table or p)
        if table is not None:
            table.seek(0)
        # and the first row: one with more fields than the header is an error here as a later one is above
        # (where pandas reads the first row's extra fields as an index and shifts every column)
        header = pd.read_csv(p if table is None else table, header=None, nrows=2, dtype=str,
                             keep_default_na=False).iloc[0]
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError, OSError, csv.Error) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise BudgetGymError(f"{source}: not a readable CSV table ({first})") from None
    _check_header([str(c).strip() for c in header], source)
    df.columns = [str(c).strip() for c in df.columns]
    return df


def _check_header(names: list[str], source: str) -> None:
    """The header of a CSV table as written (pandas renames a repeated column ``a.1``): a column
    named twice, or a single column whose name ``|`` would split, is an error."""
    if len(names) == 1 and "|" in names[0]:
        raise BudgetGymError(f"{source}: expected columns separated by ',', ';' or tabs, got a header separated by "
                             f"'|'")
    twice = [n for i, n in enumerate(names) if n and n in names[:i]]
    if twice:
        raise BudgetGymError(f"{source}: the header names column '{twice[0]}' twice")
