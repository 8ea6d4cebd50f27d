"""What the regression gate says about where the numbers it compares come from.

The verdicts of :func:`~budgetgym.experiments.regress.compare` judge numbers; these notes say when the numbers
themselves are not what a CI job meant to compare, so a red (or green) job explains itself in its log and in the
markdown report:

* the results directory's last ``budgetgym run`` did not end (``meta.json``'s ``status`` is ``interrupted``, or
  ``running`` for a process killed outright), with how many of the grid's runs (``grid.json``) have no ``done``
  marker of their key: its rows show up as ``missing`` or ``incomplete``, and the note says why;
* (:func:`grid_difference`) what differs between the grid of the results and the baseline's when their config
  hashes do: the scenarios, agents and seeds each side has;
* the package versions that ran the results (``meta.json``'s ``packages``) differ from those that recorded the
  baseline (its ``versions``): another simulator, or another numpy, moves every agent at once, the equal split too.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from budgetgym.envs.errors import BudgetGymError
from budgetgym.experiments.baseline import Baseline, per_seed_values
from budgetgym.experiments.results import read_meta, unfinished_runs

__all__ = ["grid_difference", "provenance_notes"]

#: ``meta.json`` statuses of a session that did not end, and how the note words each.
UNFINISHED = {"interrupted": "was interrupted", "running": "has not ended (still running, or killed)"}


def provenance_notes(results_dir: str | Path, baseline: Baseline) -> list[str]:
    """The notes on ``results_dir`` against ``baseline`` (module docstring), in that order; none for a directory
    whose last run ended and whose versions match (or were not recorded)."""
    out = Path(results_dir)
    meta = read_meta(out)
    notes = []
    status = meta.get("status")
    if isinstance(status, str) and status in UNFINISHED:
        notes.append(f"results directory '{out}': its last budgetgym run {UNFINISHED[status]}"
                     + _unfinished_runs(out) + " (the same budgetgym run command resumes)")
    packages = meta.get("packages")
    if isinstance(packages, dict):
        differ = [(name, was, packages[name]) for name, was in baseline.versions.items()
                  if was is not None and isinstance(packages.get(name), str) and packages[name] != was]
        if differ:
            pairs = [f"{name} {was} (baseline) vs {now} (results)" if i == 0 else f"{name} {was} vs {now}"
                     for i, (name, was, now) in enumerate(differ)]
            notes.append(f"package versions differ from the baseline's: {', '.join(pairs)}; a change of the "
                         f"simulator or its libraries moves every agent")
    return notes


def _unfinished_runs(out: Path) -> str:
    """``"; 7 of the grid's 12 runs have not finished"``, or ``""`` when that cannot be told or none is."""
    try:
        pending, total = unfinished_runs(out)
    except BudgetGymError:
        return ""
    return f"; {pending} of the grid's {total} runs have not finished" if pending else ""


def grid_difference(frame: Any, baseline: Baseline) -> str:
    """What differs between the rows of ``frame`` (results) and those of ``baseline``: ``"scenarios only in the
    results: s-curve-5; seeds only in the baseline: 7"``, or, when both have the same scenarios, agents and seeds,
    that something else changed (a parameter, the episodes, a scenario's settings)."""
    try:
        now = per_seed_values(frame, baseline.metrics[0], "results")
    except BudgetGymError:
        return "the results do not have the baseline's metric"
    sides: dict[str, tuple[set[Any], set[Any]]] = {
        "scenarios": ({sc for sc, _ in now}, {e.scenario for e in baseline.entries}),
        "agents": ({ag for _, ag in now}, {e.agent for e in baseline.entries}),
        "seeds": ({s for seeds in now.values() for s in seeds},
                  {s for e in baseline.entries for rec in e.metrics.values() for s in rec.per_seed}),
    }
    parts = []
    for what, (results, base) in sides.items():
        for side, only in (("results", results - base), ("baseline", base - results)):
            if only:
                parts.append(f"{what} only in the {side}: {', '.join(str(x) for x in sorted(only))}")
    same = "the same scenarios, agents and seeds: a parameter, the episodes or a scenario's settings changed"
    return "; ".join(parts) or same
