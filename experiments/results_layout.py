"""Where the files of a results directory are, which runs count, and how its JSON and CSV files are written.

The layout itself (a contract other tools rely on) is drawn in :mod:`budgetgym.experiments.results`, which
reads the tables back from it and re-exports everything here. A run counts once its folder holds a ``done``
marker of the key that ``grid.json`` gives it (any marker, in a directory from before ``grid.json``); every
file is written atomically (:mod:`budgetgym.envs.io`).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from budgetgym.envs.errors import BudgetGymError
from budgetgym.envs.io import atomic_write, atomic_write_text, json_default

__all__ = [
    "DONE",
    "ERROR_FILE",
    "EXTRA_COLUMNS",
    "GRID_FILE",
    "RESULT_FILE",
    "TRACE_COLUMNS",
    "TRACE_FAMILY_COLUMNS",
    "TRACE_FILE",
    "iter_done_runs",
    "oracle_file",
    "read_json",
    "read_meta",
    "run_dir",
    "unfinished_runs",
    "utc_now",
    "write_csv",
    "write_grid",
    "write_json",
]

DONE = "done"
RESULT_FILE = "results.json"
#: A failed run's traceback, in its folder (a failed oracle solve's: ``seed_<k>.error.txt`` beside its files).
ERROR_FILE = "error.txt"
TRACE_FILE = "trace.csv"
GRID_FILE = "grid.json"
TRACE_COLUMNS = ["episode", "step", "channel", "spend", "conversions", "expected_reward"]
#: episode seed; training wall time of the run (learners); a family's draw index and split
#: ("test": held out, "train": in-distribution), both empty for a plain scenario
EXTRA_COLUMNS = ["env_seed", "train_s", "draw", "split"]
#: trace.csv of a family's run gains these columns after TRACE_COLUMNS
TRACE_FAMILY_COLUMNS = ["draw", "split"]


# ------------------------------------------------------------------------------ layout
def run_dir(out: str | Path, scenario: str, agent: str, seed: int) -> Path:
    """``DIR/runs/<scenario>/<agent>/seed_<k>``."""
    return Path(out) / "runs" / scenario / agent / f"seed_{int(seed)}"


def oracle_file(
    out: str | Path, scenario: str, env_seed: int, draw: int | None = None, split: str = "test"
) -> Path:
    """``DIR/oracle/<scenario>/seed_<env_seed>.json``; for draw ``i`` of a family's ``split``
    (``test`` or ``train``: draw ``i`` of each is a different campaign)
    ``DIR/oracle/<scenario>/draw_<split>_<i>/seed_<env_seed>.json``."""
    base = Path(out) / "oracle" / scenario
    if draw is not None:
        if split not in ("test", "train"):
            raise BudgetGymError(f"split: expected 'test' or 'train', got {split!r}")
        base = base / f"draw_{split}_{int(draw)}"
    return base / f"seed_{int(env_seed)}.json"


def write_grid(out: str | Path, runs: dict[str, str]) -> Path:
    """``DIR/grid.json``: the run folders (relative paths) of the experiment last run into ``DIR``
    and their run keys. Results are collected from these folders only, so runs left by an
    earlier, different grid in the same directory do not leak into the tables."""
    return write_json(Path(out) / GRID_FILE, {"runs": dict(sorted(runs.items()))})


def _grid_runs(out: Path) -> dict[str, str] | None:
    path = out / GRID_FILE
    if not path.is_file():
        return None  # a directory from before grid.json: every finished run counts
    try:
        return dict(read_json(path)["runs"])
    except (OSError, ValueError, KeyError, TypeError):
        raise BudgetGymError(f"'{path}': not a readable grid file; delete it or re-run the experiment") from None


def unfinished_runs(out: str | Path) -> tuple[int, int]:
    """``(pending, total)``: how many of the runs of the grid last run into ``out`` (``grid.json``) have no
    ``done`` marker of their key (interrupted, failed or still running), and how many it has; ``(0, 0)`` for a
    directory without ``grid.json`` (from before it, or a copy of the tables alone).

    Raises
    ------
    BudgetGymError
        ``grid.json`` exists but cannot be read.
    """
    grid = _grid_runs(Path(out))
    if grid is None:
        return 0, 0
    done = sum(1 for _ in iter_done_runs(out))
    return max(len(grid) - done, 0), len(grid)


def _marker_key(marker: Path) -> Any:
    try:
        data = read_json(marker)
    except (OSError, ValueError):
        return None
    return data.get("key") if isinstance(data, dict) else None


def iter_done_runs(out: str | Path) -> Iterator[Path]:
    """Run folders of the current grid (``grid.json``) holding a ``done`` marker of the grid's run key,
    in sorted order: a folder an earlier grid finished under another key (another config of that
    scenario, agent and seed, not re-run yet) is not this grid's result."""
    out = Path(out)
    root = out / "runs"
    if not root.is_dir():
        return
    grid = _grid_runs(out)
    for marker in sorted(root.glob(f"*/*/seed_*/{DONE}")):
        rel = marker.parent.relative_to(out).as_posix()
        if grid is None or (rel in grid and _marker_key(marker) == grid[rel]):
            yield marker.parent


# ------------------------------------------------------------------------------ I/O
def utc_now() -> str:
    """The current time, ISO 8601 in UTC."""
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def write_json(path: str | Path, payload: Any) -> Path:
    """Write ``payload`` as indented JSON, atomically (floats round-trip exactly)."""
    return atomic_write_text(path, json.dumps(payload, indent=2, default=json_default) + "\n")


def read_json(path: str | Path) -> Any:
    return json.loads(Path(path).read_text(encoding="utf-8"))


def read_meta(out: str | Path) -> dict[str, Any]:
    """``DIR/meta.json`` as a mapping (``{}`` when absent or not a mapping).

    Raises
    ------
    BudgetGymError
        The file exists but is not readable JSON.
    """
    path = Path(out) / "meta.json"
    if not path.is_file():
        return {}
    try:
        data = read_json(path)
    except (OSError, ValueError) as err:
        raise BudgetGymError(f"'{path}': cannot be read as JSON ({err})") from None
    return data if isinstance(data, dict) else {}


def write_csv(path: str | Path, frame: Any) -> Path:
    """Write a pandas DataFrame as CSV without the index, atomically."""
    return atomic_write(path, lambda tmp: frame.to_csv(tmp, index=False))
