"""What the regression gate says about where the numbers it compares come from.

The verdicts of :func:`~budgetgym.experiments.regress.compare` judge numbers; these notes say when the numbers
themselves are not what a CI job meant to compare, so a red (or green) job explains itself in its log and in the
markdown report:

* the results directory's last ``budgetgym run`` did not end (``meta.json``'s ``status`` is ``interrupted``, or
  ``running`` for a process killed outright), with how many of the grid's runs (``grid.json``) have no ``done``
  marker of their key: its rows show up as ``missing`` or ``incomplete``, and the note says why;
* (:func:`grid_difference`) what differs between the grid of the results and the baseline's when their config
  hashes do: the scenarios, agents and seeds each side has, and the settings that differ when the baseline stored
  its resolved settings (:func:`settings_difference`);
* the package versions that ran the results (``meta.json``'s ``packages``) differ from those that recorded the
  baseline (its ``versions``): another simulator, or another numpy, moves every agent at once, the equal split too.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from budgetgym.envs.errors import BudgetGymError
from budgetgym.experiments.baseline import Baseline, per_seed_values
from budgetgym.experiments.results import read_meta, unfinished_runs

__all__ = ["grid_difference", "provenance_notes", "settings_difference"]

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


#: The most settings :func:`grid_difference` names (the rest counted) and the most characters of a value it writes.
MAX_SETTINGS, MAX_VALUE = 4, 40


def grid_difference(frame: Any, baseline: Baseline, settings: dict[str, Any] | None = None) -> str:
    """What differs between the rows of ``frame`` (results) and those of ``baseline``: ``"scenarios only in the
    results: s-curve-5; seeds only in the baseline: 7"``, then, when the baseline stored its resolved settings and
    ``settings`` are the results' (:func:`~budgetgym.experiments.baseline.results_settings`), each setting that
    differs (:func:`settings_difference`: ``"episodes: 1 (baseline) vs 2 (results)"``);
    with neither, that something else changed (a parameter, the episodes, a scenario's settings)."""
    changed = [] if baseline.settings is None or settings is None else settings_difference(baseline.settings, settings)
    try:
        now = per_seed_values(frame, baseline.metrics[0], "results")
    except BudgetGymError:
        return "; ".join(["the results do not have the baseline's metric", *changed])
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
    if any(p.startswith("seeds only") for p in parts):  # named by value already
        changed = [c for c in changed if not c.startswith("seeds: ")]
    return "; ".join(parts + changed) or same


def settings_difference(baseline: Any, results: Any) -> list[str]:
    """Each leaf setting that differs between two resolved settings, ``"path: old (baseline) vs new (results)"``, at
    most :data:`MAX_SETTINGS` named and the rest counted; ``absent`` where one side has no such setting.

    Mappings are walked by key; a list of mappings by its items' names (``label``, else ``agent``, ``scenario`` or
    ``name``: ``agents[proportional].params.weights.search``, a scenario file's ``channels[search]``) when each has
    a unique one, else by index; an item only one side has is ``absent`` on the other (a channel renamed in a
    scenario file), except an agent or a scenario, which the rows' difference names (an agent only in the baseline);
    a list of plain values is one setting."""
    found: list[tuple[str, Any, Any]] = []
    _differ(baseline, results, "", found)
    out = [f"{path or 'settings'}: {_value(a)} (baseline) vs {_value(b)} (results)"
           for path, a, b in found[:MAX_SETTINGS]]
    if len(found) > MAX_SETTINGS:
        out.append(f"{len(found) - MAX_SETTINGS} more settings differ")
    return out


_ABSENT = object()
#: The settings lists whose items only one side has :func:`grid_difference` names from the rows already.
_ROWS = ("agents", "scenarios")


def _differ(a: Any, b: Any, path: str, found: list[tuple[str, Any, Any]]) -> None:
    """Append ``(path, a, b)`` for each leaf where ``a`` and ``b`` differ."""
    if isinstance(a, dict) and isinstance(b, dict):
        for key in dict.fromkeys([*a, *b]):
            _differ(a.get(key, _ABSENT), b.get(key, _ABSENT), f"{path}.{key}" if path else str(key), found)
    elif isinstance(a, list) and isinstance(b, list) and any(isinstance(v, dict) for v in a + b):
        ka, kb = _item_names(a), _item_names(b)
        if ka is None or kb is None:
            ka, kb = {str(j): v for j, v in enumerate(a)}, {str(j): v for j, v in enumerate(b)}
        for name in dict.fromkeys([*ka, *kb]):
            if name in ka and name in kb:
                _differ(ka[name], kb[name], f"{path}[{name}]", found)
            elif path not in _ROWS:  # an agent or a scenario only one side has: the rows' difference names it
                found.append((f"{path}[{name}]", ka.get(name, _ABSENT), kb.get(name, _ABSENT)))
    elif a != b:
        found.append((path, a, b))


def _item_names(items: list[Any]) -> dict[str, Any] | None:
    """A list of settings by each item's name (``label``, else ``agent``, ``scenario`` or ``name``, when a string),
    or ``None`` when an item has none or two share one."""
    out: dict[str, Any] = {}
    for item in items:
        name = next((item[k] for k in ("label", "agent", "scenario", "name") if isinstance(item, dict)
                     and isinstance(item.get(k), str)), None)
        if name is None or name in out:
            return None
        out[name] = item
    return out


def _value(v: Any) -> str:
    """A setting's value in a line: its JSON, cut to :data:`MAX_VALUE` characters; ``absent`` for none."""
    if v is _ABSENT:
        return "absent"
    text = json.dumps(v, sort_keys=True, default=str)
    return text if len(text) <= MAX_VALUE else text[:MAX_VALUE - 1] + "…"
