r"""Channel names from a dataset's column names, and the column lists of calibrate's options.

A channel is named after its spend column without the spend suffix (:func:`spend_suffix`: ``_spend``,
``_cost``, Robyn's ``_S``) and with each run of characters a channel name does not take as one ``_``
(:func:`sanitise`: ``Social (Meta) spend`` -> ``Social_Meta``); :func:`unique_names` refuses two columns that
make one name. :func:`split_columns` and :func:`exposure_entries` read the comma-separated options
(``--spend``, ``--controls``, ``--exposure``). Used by :func:`~budgetgym.calibration.data.read_mmm_csv` and the
planner's data-file check.
"""

from __future__ import annotations

import re

from budgetgym.envs.errors import BudgetGymError

__all__ = ["SUFFIX", "channel_name", "exposure_entries", "sanitise", "split_columns", "spend_suffix", "unique_names"]

#: A spend column's suffix (:func:`channel_name`): ``spend``/``spends``/``cost``/``costs`` after a separator or none
#: (``tv_spend``, ``tvspend``), or Robyn's ``S`` after a separator (``tv_S``; a bare ``s`` ends ``videos``, ``tv_ads``).
SUFFIX = re.compile(r"(?:[_\-. ]*(?:spends?|costs?)|[_\-. ]+s)[_\-. ]*$", re.IGNORECASE)


def split_columns(text: str | list[str] | tuple[str, ...] | None) -> list[str]:
    """``"a, b,c"`` -> ``["a", "b", "c"]`` (a list passes through; ``None`` is empty)."""
    if text is None:
        return []
    items = text.split(",") if isinstance(text, str) else list(text)
    return [str(c).strip() for c in items if str(c).strip()]


def sanitise(text: str) -> str:
    """Each run of characters budgetgym does not accept in a channel name (and dots, on which dotted
    overrides split) replaced by one ``_``, then ``_`` stripped from both ends (``Social (Meta)`` ->
    ``Social_Meta``); a purely numeric name (it would read as a list index) prefixed by ``ch``."""
    name = re.sub(r"[^A-Za-z0-9_-]+", "_", text).strip("_")[:40].strip("_") or "channel"
    return f"ch{name}" if name.isdigit() else name


def exposure_entries(text: str | list[str] | tuple[str, ...] | None) -> list[str | None]:
    """``--exposure``, one entry per channel: a column, or ``None`` for an empty entry or ``-``."""
    if text is None or (isinstance(text, str) and not text.strip()):
        return []
    items = text.split(",") if isinstance(text, str) else list(text)
    out = [str(c).strip() if c is not None else "" for c in items]
    return [None if c in ("", "-") else c for c in out]


def spend_suffix(column: str) -> str:
    """The spend suffix :func:`channel_name` removes from ``column`` with its separators (``_spend`` of
    ``Channel0_spend``, ``_S`` of ``tv_S``, ``spend`` of ``tvspend``), or ``""`` when it removes none (``videos``,
    ``tv_ads``: a bare ``s`` is no suffix). The one definition the planner's data-file check uses too
    (:func:`~budgetgym.planner.inputs._data_file_columns`)."""
    match = SUFFIX.search(column)
    return match.group(0) if match is not None and match.start() > 0 else ""


def channel_name(column: str) -> str:
    """A channel name from a spend column: a trailing ``_spend`` / ``_spends`` / ``_cost`` / ``_costs`` / ``_S``
    suffix removed (:func:`spend_suffix`: ``tv_S`` -> ``tv``, ``Channel0_spend`` -> ``Channel0``, ``videos`` and
    ``tv_ads`` kept; the column itself when
    nothing would be left), then :func:`sanitise`. A name the planner skips in a per-step table
    (:data:`~budgetgym.planner.inputs.INDEX_COLUMNS`: ``date``, ``total``, ...) keeps its suffix
    (``date_spend``), or is prefixed by ``ch_`` (``total`` -> ``ch_total``): ``history.csv`` names its
    columns by channel, and a channel ``date`` replaced its date column."""
    from budgetgym.planner.inputs import INDEX_COLUMNS  # not at import: the planner imports calibration

    for name in (sanitise(SUFFIX.sub("", column) or column), sanitise(column)):
        if name.lower() not in INDEX_COLUMNS:
            return name
    return f"ch_{name}"


def unique_names(columns: list[str], source: str) -> list[str]:
    """:func:`channel_name` of every column; if two collide (``tv_spend``, ``tv_cost``), the columns
    themselves (sanitised); if those still collide (``Social (Meta)``, ``Social Meta``), a one-line error
    naming both columns and their name (a numbered name hid which channel is which)."""
    names = [channel_name(c) for c in columns]
    if len(set(names)) < len(names):
        names = [sanitise(c) for c in columns]
    for j, name in enumerate(names):
        if name in names[:j]:
            first = columns[names.index(name)]
            raise BudgetGymError(
                f"{source}: --spend: columns '{first}' and '{columns[j]}' both make channel name '{name}'; rename "
                f"one of them")
    return names
