"""File helpers: atomic writes (a result file is complete or absent, never half-written) and
YAML reading with one-line errors."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

from budgetgym.envs.errors import BudgetGymError

__all__ = ["YAML_DUMPER", "YAML_LOADER", "atomic_write", "atomic_write_text", "names_a_file", "read_yaml"]

#: PyYAML's safe loader and dumper on libyaml (C) when PyYAML was built with it (its wheels are),
#: else the pure-Python ones: the same documents and values, about ten times faster (a calibrated
#: family of 200 draws is ~1 MB: 1.5 s to parse in Python).
YAML_LOADER: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
YAML_DUMPER: Any = getattr(yaml, "CSafeDumper", yaml.SafeDumper)


def atomic_write(path: str | Path, write: Callable[[str], object]) -> Path:
    """Call ``write(tmp_path)`` on a temporary file beside ``path``, then rename it to ``path``.

    The temporary file is removed if ``write`` raises, so ``path`` keeps its old content (or
    stays absent).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        write(tmp)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return path


def names_a_file(text: str | Path) -> bool:
    """Whether a name given by the user is a file path rather than a built-in's name: it ends in
    ``.yaml``/``.yml``, exists, or contains a ``/``. One rule for scenarios, families and
    experiments."""
    path = Path(str(text))
    return path.suffix in (".yaml", ".yml") or path.exists() or "/" in str(text)


def read_yaml(path: str | Path, what: str, error: type[BudgetGymError] = BudgetGymError) -> Any:
    """Parse a YAML file; a missing, unreadable or malformed file raises ``error`` with one line
    ``"<what> '<path>': ..."`` (with the line and column of a syntax error)."""
    path = Path(path)
    if not path.is_file():
        raise error(f"{what} '{path}' not found")
    try:
        return yaml.load(path.read_text(encoding="utf-8"), Loader=YAML_LOADER)  # noqa: S506 (a safe loader)
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(err, "problem", None) or str(err).splitlines()[0]
        raise error(f"{what} '{path}': invalid YAML{where}: {problem}") from None
    except (OSError, UnicodeDecodeError) as err:
        raise error(f"{what} '{path}': cannot be read ({err})") from None


def atomic_write_text(path: str | Path, text: str) -> Path:
    """Write ``text`` (UTF-8) to ``path`` atomically."""
    return atomic_write(path, lambda tmp: Path(tmp).write_text(text, encoding="utf-8"))


def read_csv_table(path: str | Path, what: str) -> Any:
    """A user's CSV file as a pandas DataFrame (column names stripped), or a one-line
    :class:`BudgetGymError` naming ``what`` and the file: not found, or not a readable table."""
    import pandas as pd  # only the planner and calibration read tables

    p = Path(path)
    if not p.is_file():
        raise BudgetGymError(f"{what} '{p}': file not found")
    try:
        df = pd.read_csv(p)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError, OSError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise BudgetGymError(f"{what} '{p}': not a readable CSV table ({first})") from None
    df.columns = [str(c).strip() for c in df.columns]
    return df
