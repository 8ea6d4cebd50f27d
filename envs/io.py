"""File helpers: atomic writes (a result file is complete or absent, never half-written), output
directories written all or nothing (:func:`staged_output`, in :mod:`~budgetgym.envs.staging`), reading YAML
and CSV (the latter in :mod:`~budgetgym.envs.csv_table`; both re-exported here) with one-line errors, and a
record of the YAML files read (:func:`yaml_reads`), to tell whether what was built from them is still what
they say (:func:`files_unchanged`)."""

from __future__ import annotations

import errno
import hashlib
import json
import os
import secrets
import tempfile
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from budgetgym.envs.csv_table import read_csv_table
from budgetgym.envs.errors import BudgetGymError, format_loc
from budgetgym.envs.staging import check_out_dir, move_staged, staged_output  # re-exported
from budgetgym.envs.table_columns import cell_text, numeric_column  # re-exported

__all__ = [
    "YAML_DUMPER",
    "YAML_LOADER",
    "atomic_write",
    "atomic_write_text",
    "cell_text",
    "check_out_dir",
    "figure",
    "foreign_files",
    "files_unchanged",
    "json_default",
    "json_digest",
    "move_staged",
    "names_a_file",
    "name_list",
    "numeric_column",
    "read_csv_table",
    "read_yaml",
    "staged_output",
    "yaml_reads",
]

#: PyYAML's safe loader and dumper on libyaml (C) when PyYAML was built with it (its wheels are),
#: else the pure-Python ones: the same documents and values, about ten times faster (a calibrated
#: family of 200 draws is ~1 MB: 1.5 s to parse in Python).
YAML_LOADER: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
YAML_DUMPER: Any = getattr(yaml, "CSafeDumper", yaml.SafeDumper)


class _UniqueKeyLoader(YAML_LOADER):
    """:data:`YAML_LOADER` refusing a key given twice in one mapping, which PyYAML reads as the
    last value, silently dropping the first (an edited ``horizon:`` left above the old one)."""

    def construct_mapping(self, node: Any, deep: bool = False) -> Any:
        seen: set[tuple[str, str]] = set()
        for key_node, _ in node.value:
            if isinstance(key_node, yaml.ScalarNode) and key_node.tag != "tag:yaml.org,2002:merge":
                if (key_node.tag, key_node.value) in seen:
                    raise yaml.constructor.ConstructorError(
                        None, None, f"key '{key_node.value}' is given twice in one mapping", key_node.start_mark
                    )
                seen.add((key_node.tag, key_node.value))
        return super().construct_mapping(node, deep=deep)


def atomic_write(path: str | Path, write: Callable[[str], object]) -> Path:
    """Call ``write(tmp_path)`` on a temporary file beside ``path``, then rename it to ``path``.

    The temporary file is removed if ``write`` raises, so ``path`` keeps its old content (or
    stays absent). The file gets the mode ``open(path, "w")`` would give it, ``0o666`` less the
    umask (:func:`_new_temporary`), not a temporary file's private ``0o600``.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = _new_temporary(path)
    try:
        write(tmp)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return path


def _new_temporary(path: Path) -> str:
    """Create an empty, unused ``.<name>.<random>.tmp`` beside ``path`` with mode ``0o666`` less the
    umask (``os.open`` applies it, as ``open`` does; :func:`tempfile.mkstemp` would make it ``0o600``,
    and the rename would keep that) and return its path."""
    for _ in range(tempfile.TMP_MAX):
        tmp = path.parent / f".{path.name}.{secrets.token_hex(4)}.tmp"
        try:
            os.close(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))
        except FileExistsError:
            continue
        return str(tmp)
    raise FileExistsError(errno.EEXIST, f"no unused temporary name beside '{path}'")


def foreign_files(out: Path, names: Iterable[str], markers: Iterable[str]) -> list[str]:
    """Which of ``names`` (files a command writes) an existing directory ``out`` holds while it holds
    none of ``markers`` (files only that command writes): another command's files the command would
    replace. ``[]`` when ``out`` is no directory or holds a marker (an earlier output of the command)."""
    if not out.is_dir() or any((out / m).is_file() for m in markers):
        return []
    return [n for n in names if (out / n).exists()]


def name_list(names: Sequence[str], most: int = 3) -> str:
    """``'a', 'b', 'c' and 2 more``: the first ``most`` of ``names`` for a one-line message."""
    shown = ", ".join(f"'{n}'" for n in names[:most])
    return shown + (f" and {len(names) - most} more" if len(names) > most else "")


def names_a_file(text: str | Path) -> bool:
    """Whether a name given by the user is a file path rather than a built-in's name: it ends in
    ``.yaml``/``.yml``, exists, or contains a ``/``. One rule for scenarios, families and
    experiments."""
    path = Path(str(text))
    return path.suffix in (".yaml", ".yml") or path.exists() or "/" in str(text)


#: The record :func:`yaml_reads` keeps while it is open: a file's resolved path -> the digest of its text.
_READS: ContextVar[dict[str, str] | None] = ContextVar("yaml_reads", default=None)


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def json_digest(payload: Any) -> str:
    """SHA-256 (first 16 hex digits) of the canonical JSON of ``payload`` (keys sorted, no spaces, other
    objects as their ``str``): what identifies a configuration (an experiment's hash, the campaign an
    oracle plan was solved for)."""
    return _digest(json.dumps(payload, sort_keys=True, separators=(",", ":"), default=str))[:16]


def read_yaml(path: str | Path, what: str, error: type[BudgetGymError] = BudgetGymError) -> Any:
    """Parse a YAML file; a missing, unreadable or malformed file (a key given twice in a mapping
    included) raises ``error`` with one line ``"<what> '<path>': ..."`` (with the line and column
    of a syntax error). Inside :func:`yaml_reads`, the file and its text's digest are recorded."""
    path = Path(path)
    if path.is_dir():
        raise error(f"{what} '{path}': is a directory; expected a YAML file")
    if not path.is_file():
        raise error(f"{what} '{path}' not found")
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as err:
        raise error(f"{what} '{path}': cannot be read ({err})") from None
    reads = _READS.get()
    if reads is not None:
        reads[str(path.resolve())] = _digest(text)
    try:
        data = yaml.load(text, Loader=_UniqueKeyLoader)  # noqa: S506 (a safe loader)
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(err, "problem", None) or str(err).splitlines()[0]
        raise error(f"{what} '{path}': invalid YAML{where}: {problem}") from None
    problem = _alias_problem(data)
    if problem is not None:  # the readers walk (and copy) the data recursively: for ever, or for hours
        raise error(f"{what} '{path}': invalid YAML: {problem}")
    return data


#: The most values (mappings, lists and scalars, each alias counted as the data it stands for) a YAML
#: file may expand to: nested aliases grow it exponentially ("billion laughs").
MAX_YAML_VALUES = 1_000_000


def _children(node: dict | list) -> list[tuple[Any, Any]]:
    return list(node.items() if isinstance(node, dict) else enumerate(node))


def _alias_problem(data: Any) -> str | None:
    """What is wrong with the aliases of parsed YAML, or ``None``: a mapping or list that contains
    itself (an alias ``*a`` inside the node anchored ``&a``), or data that expands to more than
    :data:`MAX_YAML_VALUES` values. An iterative depth-first walk visiting each mapping and list
    once (an alias used in several places is fine), so its cost is that of the file, not of the
    expansion."""
    size: dict[int, int] = {}  # values under each container visited, itself included (expanded)
    path: set[int] = set()  # the containers on the way to the node being visited
    stack: list[tuple[Any, tuple[Any, ...], bool]] = [(data, (), False)]
    while stack:
        node, loc, leaving = stack.pop()
        if leaving:
            path.discard(id(node))
            size[id(node)] = 1 + sum(size.get(id(v), 1) for _, v in _children(node))
            if size[id(node)] > MAX_YAML_VALUES:
                return (f"{format_loc(loc)} expands its aliases to more than {MAX_YAML_VALUES} values; expected a file "
                        f"that spells out its data")
        elif isinstance(node, (dict, list)) and id(node) not in size:
            if id(node) in path:
                return (f"{format_loc(loc)} refers to a mapping or list that contains it (an alias inside its own "
                        f"anchor); expected data without cycles")
            path.add(id(node))
            stack.append((node, loc, True))
            stack.extend((value, (*loc, key), False) for key, value in reversed(_children(node)))
    return None


@contextmanager
def yaml_reads() -> Iterator[dict[str, str]]:
    """Record every file :func:`read_yaml` reads inside the block (in this thread or task).

    Yields
    ------
    dict[str, str]
        Filled as files are read: each file's resolved path -> the SHA-256 of the text read, for
        :func:`files_unchanged`. An enclosing record gets the files read inside a nested one too.
    """
    reads: dict[str, str] = {}
    outer = _READS.get()
    token = _READS.set(reads)
    try:
        yield reads
    finally:
        _READS.reset(token)
        if outer is not None:
            outer.update(reads)


def files_unchanged(reads: dict[str, str]) -> bool:
    """Whether every file of ``reads`` (:func:`yaml_reads`) still holds the text it was read with
    (a file edited, removed or unreadable since is changed). Compares content, not modification
    times: an edit within the clock's resolution, or a file written back as it was, is told right."""
    for path, digest in reads.items():
        try:
            text = Path(path).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError):
            return False
        if _digest(text) != digest:
            return False
    return True


def figure(width: float, height: float) -> Any:
    """A matplotlib figure of ``width`` x ``height`` inches (constrained layout) on its own Agg canvas,
    for a file: outside pyplot's global state, so it is never shown and threads do not share it.
    Imports matplotlib (an optional dependency) when called."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def json_default(value: Any) -> Any:
    """``json.dumps(..., default=json_default)``: numpy arrays as lists, numpy scalars as Python
    numbers, paths as strings; anything else is a ``TypeError``, as without it."""
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"cannot serialise {type(value).__name__}")


def atomic_write_text(path: str | Path, text: str) -> Path:
    """Write ``text`` (UTF-8) to ``path`` atomically."""
    return atomic_write(path, lambda tmp: Path(tmp).write_text(text, encoding="utf-8"))
