"""A simulated MMM dataset's layout: its columns, dates and files (``budgetgym simulate``).

:class:`SimulatedDataset` holds what :func:`~budgetgym.experiments.simulate.simulate_dataset`
makes (the meaning of each table is in :mod:`budgetgym.experiments.simulate`); this module names
``data.csv``'s columns (:func:`spend_column`, :func:`exposure_column`, :func:`kpi_column`), dates
its periods from the scenario's calendar (:func:`period_dates`, day 0 is :data:`EPOCH`) and writes
the files all at once (:func:`write_dataset`).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml

from budgetgym.envs.dates import EPOCH as DAY_ZERO
from budgetgym.envs.dates import MONTH_DAYS, day_date, is_monthly, whole_days
from budgetgym.envs.errors import BudgetGymError
from budgetgym.envs.io import check_out_dir, move_staged, name_list, staged_output
from budgetgym.envs.path import step_days
from budgetgym.envs.scenario import Scenario
from budgetgym.envs.scenario_parts import ChannelConfig
from budgetgym.envs.staging import is_stage

__all__ = ["DATASET_FILES", "EPOCH", "SimulatedDataset", "check_dataset_out", "check_step", "exposure_column",
           "kpi_column", "period_dates", "spend_column", "write_dataset"]

#: The calendar date of day 0 (a Monday, 1 January, as the scenario calendar defines day 0).
EPOCH = DAY_ZERO.date()  # day 0 as a datetime.date (envs.dates.EPOCH)


def spend_column(channel: str) -> str:
    """The dataset's spend column of ``channel`` (``<channel>_spend``)."""
    return f"{channel}_spend"


def exposure_column(channel: ChannelConfig) -> str:
    """The dataset's exposure column of ``channel``: ``<channel>_clicks`` for a click-priced one, else
    ``<channel>_impressions``."""
    return f"{channel.name}_{'clicks' if channel.cost.unit == 'click' else 'impressions'}"


@dataclass(frozen=True)
class SimulatedDataset:
    """A simulated MMM dataset and its truth (module docstring)."""

    data: pd.DataFrame
    contributions: pd.DataFrame
    curves: pd.DataFrame
    scenario: Scenario  # the scenario played
    source: Scenario  # the scenario asked for (its own horizon and budget)
    plan: np.ndarray  # [N, K] spend actually made
    kpi: str
    seed: int
    lift_tests: pd.DataFrame | None = None  # channel, x, delta_x, delta_y, sigma, true_delta_y
    plan_note: str | None = None  # what was made of a plan file, in one line (a split scaled to sum to 1)
    dates_note: str | None = None  # a plan file dated otherwise than the periods (:func:`plan_calendar_note`)


def period_dates(sc: Scenario, n: int) -> list[str]:
    """Period ``t``'s date: the start :func:`~budgetgym.envs.dates.day_date` of ``floor(start_day)``, which
    :func:`~budgetgym.envs.dates.calendar_day` (so ``calibrate``) reads back as that day, then
    ``floor(start_day + t step_days) - floor(start_day)`` days on for a whole number of ``step_days``; for
    calendar months (``step_days = 365.25 / 12``) a day of the month every month has, ``t`` months on, as
    :func:`~budgetgym.calibration.data.read_mmm_csv` reads monthly data: the start's own up to the 28th, else
    the nearer of the 28th and the month's last day (a tie: the 28th), so a start on a month's last day (31
    January, 29 February, 30 April) is dated exactly, on every month's last day, and a start on the 29th or
    30th of a 31-day month at most 1 day off (it was the 28th: up to 3 days before the scenario's own day).
    A start day from 2555 (``7 x 365``) reads back with its weekday and a yearly phase within half a day."""
    start = day_date(sc.start_day)
    if is_monthly(sc.step_days):
        if start.day > 28 and start.days_in_month - start.day < start.day - 28:
            end = start + pd.offsets.MonthEnd(0)  # rolled to its month's last day
            return [(end + pd.offsets.MonthEnd(t)).date().isoformat() for t in range(n)]
        first = start.replace(day=min(start.day, 28))
        return [(first + pd.DateOffset(months=t)).date().isoformat() for t in range(n)]
    days = np.floor(step_days(sc, np.arange(n))) - np.floor(sc.start_day)
    return [(start + dt.timedelta(days=float(d))).date().isoformat() for d in days]


def plan_calendar_note(path: str | Path, dates: list[str] | None, days: np.ndarray | None, sc: Scenario,
                       n: int) -> str | None:
    """A one-line note when the plan file ``path``'s calendar is not the simulated periods' (``None``: nothing to
    say): its ``date`` column (``dates``, ISO text as :func:`~budgetgym.planner.inputs.read_dated_current` read it)
    against :func:`period_dates`, else its ``day`` column (``days``, a ``plan.csv``'s day index, as the same read
    it: the file is read once) against the periods' :func:`~budgetgym.envs.path.step_days`. The rows are played as
    periods 1 to ``n`` in order, dated from the scenario's ``start_day``, so a plan for another quarter is simulated
    on the scenario's calendar."""
    ours = period_dates(sc, n)
    if dates is not None:
        if dates == ours:
            return None
        theirs = f"dates ({dates[0]} to {dates[-1]})"
    else:
        if days is None or len(days) != n or np.allclose(days, step_days(sc, np.arange(n)), rtol=0, atol=1e-6):
            return None
        theirs = f"days ({days[0]:g} to {days[-1]:g})"
    return (f"--plan file '{path}': its {theirs} are not the simulated periods' ({ours[0]} to {ours[-1]}, from the "
            f"scenario's start_day {sc.start_day:g}); its rows are played as periods 1 to {n} in order, their "
            f"calendar ignored")


def check_step(sc: Scenario, source: str) -> None:
    """A dataset has one date per period: ``step_days`` a whole number of days or a calendar month."""
    if not whole_days(sc.step_days):
        raise BudgetGymError(
            f"scenario '{source}': step_days {sc.step_days:g}: a dataset has one date per period, so simulate "
            f"takes a whole number of days or a calendar month (365.25/12 = {MONTH_DAYS:g})"
        )


def kpi_column(sc: Scenario) -> str:
    """The KPI's column name of ``sc``, after checking the columns of ``data.csv`` and
    ``truth/contributions.csv``: a one-line error if a name is used twice (a control or a channel
    named like another column: its values would silently replace that column's)."""
    kpi = "conversions" if sc.reward == "conversions" else "revenue"
    data = ["date", kpi]
    for c in sc.channels:
        data += [spend_column(c.name), exposure_column(c)]
    controls = [c.name for c in sc.baseline.controls] if sc.baseline is not None else []
    contributions = ["date", *sc.channel_names, "baseline", "kpi_expected"]
    for file, cols, what in (("data.csv", data + controls, "a baseline control"),
                             ("truth/contributions.csv", contributions, "a channel")):
        seen: set[str] = set()
        for col in cols:
            if col in seen:
                raise BudgetGymError(f"scenario '{sc.name}': {what} is named '{col}', like another column of {file}; "
                                     f"rename it")
            seen.add(col)
    return kpi


#: What :func:`write_dataset` writes in ``out`` (``truth`` a directory of the files beside it).
DATASET_FILES = {"data.csv": (), "lift_tests.csv": (), "summary.json": (),
                 "truth": ("contributions.csv", "curves.csv", "lift_tests.csv", "scenario.yaml")}


def check_dataset_out(out: str | Path) -> Path:
    """``out`` as a path, checked before any work: :func:`~budgetgym.envs.io.check_out_dir`, and an
    existing directory must be empty or hold an earlier dataset only (the files of
    :data:`DATASET_FILES`), which :func:`write_dataset` replaces; anything else in it (a results
    directory, a plan, the working directory) is a one-line error, never deleted."""
    out = check_out_dir(out)
    if not out.is_dir():
        return out
    other = []
    for p in sorted(out.iterdir()):
        if is_stage(p):  # a writer's staging directory, a killed one's removed by staged_output
            continue
        inner = DATASET_FILES.get(p.name)
        if inner is None or p.is_dir() != bool(inner):
            other.append(p.name)
        elif inner:
            other += [f"{p.name}/{q.name}" for q in sorted(p.iterdir()) if q.name not in inner or q.is_dir()]
    if other:
        raise BudgetGymError(f"output directory '{out}': holds {name_list(other)}, not written by budgetgym simulate; "
                             f"expected a new or empty directory, or one holding an earlier dataset to replace")
    return out


def write_dataset(ds: SimulatedDataset, out: str | Path, meta: dict[str, Any] | None = None) -> Path:
    """Write the dataset's files into ``out`` all at once: built in a staging directory in it,
    then moved into place (an existing ``out``'s earlier dataset is replaced only when
    everything is written, by :func:`~budgetgym.envs.io.move_staged`, so an error or Ctrl-C while
    moving leaves the earlier dataset as it was; :func:`~budgetgym.envs.io.staged_output`: an
    ``out`` that is a file, or that cannot be written, is a one-line error and leaves nothing
    behind). Files of an earlier dataset this one does not have (its lift tests) are removed in the same
    move, so an interrupted one puts them back. An ``out`` holding
    anything but an earlier dataset is a one-line error (:func:`check_dataset_out`), and nothing of it is deleted."""
    from budgetgym.experiments.results import environment_info, write_json

    out = check_dataset_out(out)
    with staged_output(out) as tmp:  # checks ``out`` first
        (tmp / "truth").mkdir()
        ds.data.to_csv(tmp / "data.csv", index=False)
        ds.contributions.to_csv(tmp / "truth" / "contributions.csv", index=False)
        ds.curves.to_csv(tmp / "truth" / "curves.csv", index=False)
        if ds.lift_tests is not None:
            ds.lift_tests.drop(columns="true_delta_y").to_csv(tmp / "lift_tests.csv", index=False)
            ds.lift_tests.to_csv(tmp / "truth" / "lift_tests.csv", index=False)
        (tmp / "truth" / "scenario.yaml").write_text(
            yaml.safe_dump(ds.scenario.model_dump(mode="json"), sort_keys=False), encoding="utf-8"
        )
        write_json(
            tmp / "summary.json",
            {
                "scenario": ds.source.name,
                "periods": len(ds.data),
                "kpi": ds.kpi,
                "seed": ds.seed,
                "spend": float(ds.plan.sum()),
                "columns": list(ds.data.columns),
                **(meta or {}),
                "environment": environment_info(),
            },
        )
        files = (p.relative_to(tmp).as_posix() for p in tmp.rglob("*") if p.is_file())
        names = sorted(files, key=lambda n: (n == "summary.json", n))  # summary.json last
        ours = [f"{name}/{f}" for name, inner in DATASET_FILES.items() for f in inner] + [
            name for name, inner in DATASET_FILES.items() if not inner]
        # all or nothing: an earlier dataset is kept as it was until the end, its files this one has not
        # (its lift tests) removed with it
        move_staged(tmp, out, names, remove=ours)
    return out
