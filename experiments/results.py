"""The results directory: its layout (a contract other tools rely on) and the tables read back from it.

::

    DIR/
      experiment.yaml                 resolved experiment config
      meta.json                       versions, git commit, machine, config hash, sessions
      results.csv                     one row per (scenario, agent, seed, episode) — for a family,
                                      per (scenario, agent, split, draw, seed, episode):
                                      RESULT_COLUMNS (budgetgym.agents.evaluate) + EXTRA_COLUMNS
                                      (env_seed, train_s, draw, split; draw and split empty for a
                                      plain scenario)
      summary.csv                     one row per (scenario, agent) — for a family, per (scenario,
                                      agent, split), with the columns split and n_draws last;
                                      reward_kind gives the unit of the *_reward_mean columns
      poi.csv                         probability of improvement per agent pair
      report.md, plots/*.png
      oracle/<scenario>/seed_<env_seed>.json   oracle value and per-step trace of each episode path
      oracle/<family>/draw_<split>_<i>/seed_<env_seed>.json   the same for draw i of a family's split
      runs/<scenario>/<agent>/seed_<k>/
          config.yaml                 the run's resolved config (scenario, agent, seed, versions)
          results.json                the run's result rows (results.csv columns)
          trace.csv                   episode, step, channel, spend, conversions, expected_reward
                                      (the step's, over all channels, repeated on each channel row)
                                      (+ draw, split for a family's run)
          run.log, train/ (model files and training logs of learners), error.txt (failed runs)
          done                        written last: the run is complete

Only runs with a ``done`` marker count: ``results.csv`` and everything after it are rebuilt
from them, so a killed run never leaves a partial row and a re-run skips finished work.
Every file is written atomically (:mod:`budgetgym.envs.io`). The paths, the grid, the ``done`` markers and
the JSON and CSV writers are in :mod:`budgetgym.experiments.results_layout` (re-exported here); this module
reads the tables back (``collect_*``).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from budgetgym.agents.evaluation import RESULT_COLUMNS
from budgetgym.envs.errors import BudgetGymError
from budgetgym.experiments.provenance import environment_info, package_versions

# The layout (paths, grid, done markers) and the JSON/CSV writers have their own module; re-exported on purpose:
# the runner, the report, the planner's outputs and the tests import them from here.
from budgetgym.experiments.results_layout import (
    DONE,
    ERROR_FILE,
    EXTRA_COLUMNS,
    GRID_FILE,
    RESULT_FILE,
    TRACE_COLUMNS,
    TRACE_FAMILY_COLUMNS,
    TRACE_FILE,
    iter_done_runs,
    oracle_file,
    read_json,
    read_meta,
    run_dir,
    unfinished_runs,
    utc_now,
    write_csv,
    write_grid,
    write_json,
)

__all__ = [
    "DONE",
    "ERROR_FILE",
    "EXTRA_COLUMNS",
    "GRID_FILE",
    "RESULT_FILE",
    "TRACE_COLUMNS",
    "TRACE_FAMILY_COLUMNS",
    "TRACE_FILE",
    "collect_learning_curves",
    "collect_oracle",
    "collect_oracle_allocation",
    "collect_results",
    "collect_reward_kinds",
    "collect_traces",
    "environment_info",
    "iter_done_runs",
    "oracle_file",
    "unfinished_runs",
    "write_grid",
    "package_versions",
    "read_json",
    "read_meta",
    "run_dir",
    "utc_now",
    "write_csv",
    "write_json",
]


def _read_oracle(path: Path) -> dict[str, Any]:
    """A stored oracle file; a damaged one is a one-line :class:`BudgetGymError` naming it."""
    try:
        data = read_json(path)
        if not isinstance(data, dict):
            raise TypeError(f"expected a JSON object, got {type(data).__name__}")
        for key in ("env_seed", "oracle_reward", "step_expected_reward", "channels"):
            if key not in data:
                raise KeyError(key)
        return data
    except (OSError, ValueError, KeyError, TypeError) as err:
        raise BudgetGymError(
            f"'{path}': oracle file cannot be read ({type(err).__name__}: {err}); delete it and re-run the "
            f"experiment to solve it again"
        ) from None


# ------------------------------------------------------------------------------ readers
def collect_results(out: str | Path) -> Any:
    """All result rows of finished runs as a DataFrame (``RESULT_COLUMNS`` + ``EXTRA_COLUMNS``),
    sorted by scenario, agent, split, draw, seed and episode (``draw`` an integer column, empty
    for plain scenarios).

    Raises
    ------
    BudgetGymError
        A run folder has a ``done`` marker but no readable ``results.json``.
    """
    import pandas as pd

    rows: list[dict[str, Any]] = []
    for rd in iter_done_runs(out):
        path = rd / RESULT_FILE
        try:
            rows.extend(read_json(path)["rows"])
        except (OSError, ValueError, KeyError, TypeError) as err:
            # the marker vouches for a result that is gone or damaged (written atomically before
            # the marker, so only an outside change does this): say which run, not a traceback
            raise BudgetGymError(
                f"'{path}': run marked done but its results cannot be read ({type(err).__name__}: {err}); "
                f"delete '{rd}' and re-run the experiment to redo it"
            ) from None
    columns = RESULT_COLUMNS + EXTRA_COLUMNS
    frame = pd.DataFrame(rows, columns=columns) if rows else pd.DataFrame({c: [] for c in columns})
    frame["draw"] = frame["draw"].astype("Int64")
    if rows:
        frame = frame.sort_values(
            ["scenario", "agent", "split", "draw", "seed", "episode"], kind="stable"
        ).reset_index(drop=True)
    return frame


def collect_reward_kinds(out: str | Path) -> dict[str, str]:
    """Scenario label -> its reward kind (``conversions``, ``revenue`` or ``profit``), read from
    the ``config.yaml`` of one finished run per scenario (labels without a readable one are left out)."""
    import yaml

    kinds: dict[str, str] = {}
    for rd in iter_done_runs(out):
        label = rd.parent.parent.name
        if label in kinds:
            continue
        try:
            kind = yaml.safe_load((rd / "config.yaml").read_text(encoding="utf-8"))["scenario"]["reward"]
        except (OSError, yaml.YAMLError, KeyError, TypeError):
            continue
        if isinstance(kind, str):
            kinds[label] = kind
    return kinds


def collect_traces(out: str | Path) -> Any:
    """Per-step traces of finished runs: ``scenario, agent, seed`` + :data:`TRACE_COLUMNS` +
    :data:`TRACE_FAMILY_COLUMNS` (empty for plain scenarios' runs)."""
    import pandas as pd

    frames = []
    for rd in iter_done_runs(out):
        path = rd / TRACE_FILE
        if not path.is_file():
            continue
        frame = pd.read_csv(path)
        for col in TRACE_FAMILY_COLUMNS:
            if col not in frame.columns:
                frame[col] = None
        seed = int(rd.name.removeprefix("seed_"))
        frame.insert(0, "seed", seed)
        frame.insert(0, "agent", rd.parent.name)
        frame.insert(0, "scenario", rd.parent.parent.name)
        frames.append(frame)
    if not frames:
        return pd.DataFrame({c: [] for c in ["scenario", "agent", "seed", *TRACE_COLUMNS, *TRACE_FAMILY_COLUMNS]})
    return pd.concat(frames, ignore_index=True)


def _oracle_files(out: str | Path) -> Iterator[tuple[str, int | None, str | None, Path]]:
    """``(scenario, draw, split, path)`` of every stored oracle file (draw and split ``None`` for a
    plain scenario's), in sorted order."""
    root = Path(out) / "oracle"
    if not root.is_dir():
        return
    for path in sorted(root.glob("*/seed_*.json")):
        yield path.parent.name, None, None, path
    for path in sorted(root.glob("*/draw_*_*/seed_*.json")):
        split, _, index = path.parent.name.removeprefix("draw_").partition("_")
        if split in ("test", "train") and index.isdigit():
            yield path.parent.parent.name, int(index), split, path


def collect_oracle(out: str | Path) -> Any:
    """Oracle per-step expected reward of every solved episode path:
    ``scenario, env_seed, step, expected_reward`` (plus ``oracle_reward``, the episode total, and a
    family's ``draw`` and ``split``, empty for plain scenarios)."""
    import pandas as pd

    rows: list[dict[str, Any]] = []
    for scenario, draw, split, path in _oracle_files(out):
        data = _read_oracle(path)
        for t, value in enumerate(data["step_expected_reward"]):
            rows.append(
                {
                    "scenario": scenario,
                    "env_seed": data["env_seed"],
                    "step": t,
                    "expected_reward": value,
                    "oracle_reward": data["oracle_reward"],
                    "draw": draw,
                    "split": split,
                }
            )
    columns = ["scenario", "env_seed", "step", "expected_reward", "oracle_reward", "draw", "split"]
    return pd.DataFrame(rows, columns=columns)


def collect_oracle_allocation(out: str | Path) -> Any:
    """Oracle plans in long format: ``scenario, env_seed, step, channel, spend`` (+ ``draw, split``)."""
    import pandas as pd

    rows: list[dict[str, Any]] = []
    for scenario, draw, split, path in _oracle_files(out):
        data = _read_oracle(path)
        for t, spends in enumerate(data.get("plan", [])):
            for name, spend in zip(data["channels"], spends, strict=True):
                rows.append(
                    {"scenario": scenario, "env_seed": data["env_seed"], "step": t, "channel": name,
                     "spend": spend, "draw": draw, "split": split}
                )
    return pd.DataFrame(rows, columns=["scenario", "env_seed", "step", "channel", "spend", "draw", "split"])


def collect_learning_curves(out: str | Path) -> Any:
    """Training curves of learners found in finished run folders.

    Reads, under each run's folder, SB3's ``progress.csv`` (``time/total_timesteps`` vs
    ``rollout/ep_rew_mean``), else ``evaluations.npz`` (``timesteps`` vs mean ``results``),
    else ``monitor.csv`` (cumulative episode lengths vs episode reward ``r``). Returns
    ``scenario, agent, seed, timesteps, reward, source``.
    """
    import pandas as pd

    frames = []
    for rd in iter_done_runs(out):
        curve = _learning_curve(rd)
        if curve is None or curve.empty:
            continue
        curve.insert(0, "seed", int(rd.name.removeprefix("seed_")))
        curve.insert(0, "agent", rd.parent.name)
        curve.insert(0, "scenario", rd.parent.parent.name)
        frames.append(curve)
    if not frames:
        return pd.DataFrame({c: [] for c in ["scenario", "agent", "seed", "timesteps", "reward", "source"]})
    return pd.concat(frames, ignore_index=True)


def _learning_curve(rd: Path) -> Any:
    import pandas as pd

    for path in sorted(rd.rglob("progress.csv")):
        try:
            frame = pd.read_csv(path)
        except (ValueError, OSError):
            continue
        if {"time/total_timesteps", "rollout/ep_rew_mean"} <= set(frame.columns):
            frame = frame[["time/total_timesteps", "rollout/ep_rew_mean"]].dropna()
            frame.columns = ["timesteps", "reward"]
            return frame.assign(source="progress.csv")
    for path in sorted(rd.rglob("evaluations.npz")):
        try:
            with np.load(path) as data:
                steps, results = data["timesteps"], data["results"]
        except (ValueError, OSError, KeyError):
            continue
        reward = np.asarray(results, dtype=float).reshape(len(steps), -1).mean(axis=1)
        return pd.DataFrame({"timesteps": steps, "reward": reward, "source": "evaluations.npz"})
    for path in sorted(rd.rglob("*monitor.csv")):
        try:
            frame = pd.read_csv(path, comment="#")
        except (ValueError, OSError):
            continue
        if {"r", "l"} <= set(frame.columns) and len(frame):
            return pd.DataFrame({"timesteps": frame["l"].cumsum(), "reward": frame["r"], "source": "monitor.csv"})
    return None
