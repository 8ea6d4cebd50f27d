"""The files of a plan: the output directory of ``budgetgym plan``, written all or nothing.

::

    DIR/
      plan.csv        the recommendation: step, day, date (with dates), one column per channel (spend), total
      channels.csv    PlanResult.channels: per channel spend, share, outcomes, ROAS, CPA, marginal
                      returns (with a current plan also current_* and change columns)
      frontier.csv    with a sweep: PlanResult.frontier, a row per budget multiple
      curves.csv      PlanResult.curves: response curves (point = curve, recommended, current)
      draws.csv       a family: per held-out draw the outcome of the recommended, static and current plans (and
                      same_budget, the recommendation at the budget given, where a target moved it)
      segments.csv    with audience segments: PlanResult.segments, per segment reach and response
      lift_design.csv with a history the plan goes beyond: PlanResult.lift_design, a lift test to run per
                      such channel (budgetgym.planner.experiments; `simulate --lift-design` reads it); for a
                      family with `kpi: conversions` the VOI design adds its lifts in conversions
                      (budgetgym.planner.voi.CONVERSION_COLUMNS)
      summary.json    PlanResult.summary() with the arguments, the git commit and the files written
      report.md       the tables, the sentences and the figures (budgetgym.planner.report)
      plots/*.png     allocation, frontier, curves, flighting, distribution (budgetgym.planner.plots)

:func:`write_plan` writes everything into a staging directory in ``DIR`` and then moves the
files in (``report.md`` last), so a failure (a figure that cannot be drawn, a full disk) leaves
``DIR`` as it was, or absent, and no temporary directory behind. Files of an earlier plan in
``DIR`` that this plan does not write (``frontier.csv`` without a sweep, say) are removed in the same
all-or-nothing move, so the directory always describes one plan; other files in ``DIR`` are never touched, and a ``DIR``
holding files of a plan's names but no ``plan.csv`` (a results directory's ``report.md``) is refused
(:func:`check_plan_out`). Without
matplotlib (the ``plot`` extra) or with ``plots=False`` everything but the figures is written and
``report.md`` says why there are none.

**Undefined numbers are empty cells.** A ratio whose denominator is zero is not defined, and every CSV
of a plan writes it as an empty cell (``NaN`` when read back by pandas), never ``inf``
(:func:`undefined_as_empty`; ``summary.json`` writes it as ``null``). In ``channels.csv``: ``roas`` and
``current_roas`` when the plan spends nothing on the channel, ``cpa`` and ``current_cpa`` when it brings no
incremental conversions, ``mcpa`` (also in ``frontier.csv``) with no marginal conversions (none, or a subnormal
number of them: :func:`~budgetgym.planner.metrics.per_conversion`), ``change_pct``
when the current plan spends nothing on it (the solver's rounding of 0 is nothing,
:func:`~budgetgym.planner.metrics.spends_on`), and ``vs_history_max`` when the history never spent on it
(whether the plan does is in ``spend`` and ``history_max_spend``). For a campaign whose response is measured in
currency (``response_unit: currency``, a revenue KPI's calibrated family) every figure counting conversions is
empty in every file (:func:`~budgetgym.planner.metrics.uncounted`: ``channels.csv``'s ``conversions``,
``baseline_conversions``, ``cpa``, ``marginal_conversions``, ``mcpa`` and their ``current_`` columns, the
``conversions`` of ``curves.csv`` and ``segments.csv``, ``frontier.csv``'s ``marginal_conversions`` and ``mcpa``).
"""

from __future__ import annotations

import importlib.util
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from budgetgym.envs.errors import BudgetGymError
from budgetgym.envs.io import (
    atomic_write_text,
    check_out_dir,
    foreign_files,
    move_staged,
    name_list,
    staged_output,
)
from budgetgym.experiments.results import environment_info, utc_now, write_csv, write_json
from budgetgym.planner.plan_result import PlanResult
from budgetgym.planner.report import plan_markdown

__all__ = [
    "PLAN_FILES",
    "PLOT_FILES",
    "PlanOutputs",
    "check_out_dir",
    "check_plan_out",
    "plan_table",
    "summary_payload",
    "undefined_as_empty",
    "write_plan",
]

#: Every file :func:`write_plan` may write in ``DIR`` (in the order they are moved in) ...
PLAN_FILES = (
    "plan.csv", "channels.csv", "frontier.csv", "curves.csv", "draws.csv", "segments.csv", "lift_design.csv",
    "summary.json", "report.md",
)
#: ... and in ``DIR/plots``.
PLOT_FILES = ("allocation.png", "frontier.png", "curves.png", "flighting.png", "distribution.png")
PLOTS = "plots"

NO_MATPLOTLIB = 'Figures need matplotlib: `pip install "budgetgym[plot]"`, then run the same command again.'
NO_PLOTS = "Figures were not drawn (`--no-plots`)."


@dataclass(frozen=True)
class PlanOutputs:
    """What :func:`write_plan` wrote: the directory, its files (figures included), the figures,
    the report, and why there are no figures (``None`` when they were drawn)."""

    out: Path
    files: list[Path]
    plots: list[Path]
    report: Path
    figures_note: str | None


def check_plan_out(out: str | Path) -> Path:
    """``out`` as a path, checked before any work: :func:`~budgetgym.envs.io.check_out_dir`, and an
    existing directory holding files a plan writes (``report.md``, ``summary.json``, ...) must hold an
    earlier plan (its ``plan.csv``): those of another command's directory (a results directory's
    ``report.md``, a dataset's ``summary.json``) are a one-line error, not replaced."""
    out = check_out_dir(out)
    clash = foreign_files(out, (*PLAN_FILES, *(f"{PLOTS}/{p}" for p in PLOT_FILES)), ["plan.csv"])
    if clash:
        raise BudgetGymError(f"output directory '{out}': holds {name_list(clash)}, which the plan would replace, and "
                             f"no plan.csv of an earlier plan; expected a new directory or an earlier plan's")
    return out


def plan_table(result: PlanResult) -> pd.DataFrame:
    """``plan.csv``: a row per step (``step`` from 0, ``day`` its day index and, when the plan has
    dates, ``date`` its calendar date), a spend column per channel and the step's ``total``."""
    X = np.asarray(result.plan, dtype=float)
    index = pd.DataFrame({"step": np.arange(X.shape[0]), "day": np.asarray(result.step_days, dtype=float)})
    if result.dates is not None:
        index["date"] = result.dates
    spend = pd.DataFrame(X, columns=result.channel_names)
    return pd.concat([index, spend, pd.DataFrame({"total": X.sum(axis=1)})], axis=1)


def undefined_as_empty(frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` with every infinite number as ``NaN``, which a CSV writes as an empty cell: a number
    that is not defined (module docstring), never ``inf``."""
    numbers = frame.select_dtypes(include="float").columns
    out = frame.copy()
    out[numbers] = out[numbers].replace([np.inf, -np.inf], np.nan)
    return out


def _json_safe(value: Any) -> Any:
    """``value`` with non-finite floats as ``None`` and paths as text (strict JSON)."""
    if isinstance(value, dict):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(v) for v in value]
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, (float, np.floating)):
        return float(value) if math.isfinite(value) else None
    if isinstance(value, np.integer):
        return int(value)
    return value


def summary_payload(
    result: PlanResult, arguments: dict[str, Any] | None = None, files: list[str] | None = None
) -> dict[str, Any]:
    """``summary.json``: :meth:`PlanResult.summary` with the time, the command's ``arguments``, the
    budgetgym git commit (:func:`~budgetgym.experiments.results.environment_info`) and the files."""
    payload = result.summary()
    payload["generated"] = utc_now()
    payload["arguments"] = dict(arguments or {})
    payload["git"] = environment_info()["git"]
    payload["files"] = list(files or [])
    return _json_safe(payload)


def matplotlib_available() -> bool:
    """Whether the ``plot`` extra (matplotlib) is installed."""
    return importlib.util.find_spec("matplotlib") is not None


def _write_stage(
    result: PlanResult, stage: Path, arguments: dict[str, Any], plots: bool
) -> tuple[list[str], str | None]:
    """Write every file into ``stage``; the relative names written and why there are no figures."""
    names = []

    def csv(name: str, frame: pd.DataFrame | None) -> None:
        if frame is not None:
            write_csv(stage / name, undefined_as_empty(frame))
            names.append(name)

    csv("plan.csv", plan_table(result))
    csv("channels.csv", result.channels)
    csv("frontier.csv", result.frontier)
    csv("curves.csv", result.curves)
    csv("draws.csv", result.draw_values)
    csv("segments.csv", result.segments)
    csv("lift_design.csv", result.lift_design)
    figures: list[tuple[str, Path]] = []
    note = NO_PLOTS if not plots else None if matplotlib_available() else NO_MATPLOTLIB
    if note is None:
        from budgetgym.planner.plots import draw_plan_figures

        figures = [(title, p.relative_to(stage)) for title, p in draw_plan_figures(result, stage / PLOTS)]
    names += [p.as_posix() for _, p in figures]
    summary = summary_payload(result, arguments, [*names, "summary.json", "report.md"])
    write_json(stage / "summary.json", summary)
    text = plan_markdown(result, figures, names, arguments=arguments, figures_note=note,
                         generated=summary["generated"], git=summary["git"])
    atomic_write_text(stage / "report.md", text)
    return [*names, "summary.json", "report.md"], note


def _move_in(stage: Path, out: Path, names: list[str]) -> None:
    """Move the staged files into ``out`` (``report.md`` last), removing in the same all-or-nothing move
    the files of an earlier plan that this one did not write; then an emptied ``plots/``."""
    move_staged(stage, out, names, remove=[*PLAN_FILES, *(f"{PLOTS}/{p}" for p in PLOT_FILES)])
    plots_dir = out / PLOTS
    if plots_dir.is_dir() and not any(plots_dir.iterdir()):
        plots_dir.rmdir()


def write_plan(
    result: PlanResult, out: str | Path, *, arguments: dict[str, Any] | None = None, plots: bool = True
) -> PlanOutputs:
    """Write a plan's files into ``out`` (module docstring).

    Parameters
    ----------
    result : what :func:`~budgetgym.planner.plan.plan` returned.
    out : the output directory (created, with its parents, if absent).
    arguments : recorded in ``summary.json`` and turned into the report's ``budgetgym plan``
        command (keys: the command's options, ``campaign`` the positional argument).
    plots : draw the figures (they also need matplotlib).

    Raises
    ------
    BudgetGymError
        ``out`` is a file, cannot be written, or holds another command's files of a plan's names
        (:func:`check_plan_out`).
    """
    out = check_plan_out(out)
    with staged_output(out) as stage:
        names, note = _write_stage(result, stage, dict(arguments or {}), plots)
        _move_in(stage, out, names)
    paths = [out / n for n in names]
    return PlanOutputs(out, paths, [p for p in paths if p.suffix == ".png"], out / "report.md", note)
