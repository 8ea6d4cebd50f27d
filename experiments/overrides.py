"""``--set key=value`` overrides of an experiment file, applied to the raw mapping.

:func:`parse_overrides` reads ``key=value`` strings (values as YAML); :func:`apply_overrides`
applies dotted keys to the experiment mapping before validation, so overrides are validated
like the file itself (list items by index, by label, by the shorthand name or, for a scenario or
family file, by the name inside it, the entry's name in the results; scenario fields must go under a
scenario entry's ``set:``, and the error says so).
"""

from __future__ import annotations

import contextlib
import copy
import functools
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

from budgetgym.envs.errors import BudgetGymError, suggest
from budgetgym.envs.io import names_a_file
from budgetgym.envs.scenario import Scenario

__all__ = ["apply_overrides", "parse_overrides"]

#: The name a scenario entry's file gives (:func:`_file_name` with the experiment file's folder), by its text.
FileName = Callable[[str], str | None]


def parse_overrides(items: list[str] | tuple[str, ...]) -> dict[str, Any]:
    """``["a.b=1", "seeds=[0, 1]"]`` -> ``{"a.b": 1, "seeds": [0, 1]}`` (values parsed as YAML)."""
    out: dict[str, Any] = {}
    for item in items:
        key, sep, text = item.partition("=")
        key = key.strip()
        if not sep or not key:
            raise BudgetGymError(f"--set {item!r}: expected key=value (for example episodes=2)")
        try:
            out[key] = yaml.safe_load(text) if text.strip() else ""
        except yaml.YAMLError:
            out[key] = text
    return out


def apply_overrides(data: dict[str, Any], changes: dict[str, Any], base: Path | None = None) -> dict[str, Any]:
    """A copy of the raw experiment mapping with dotted-key ``changes`` applied.

    List items are addressed by index or by their label / agent / scenario name
    (``agents.ppo.train.total_timesteps``); a scenario entry naming a file also by the name the
    file gives (its ``family:`` or ``name:``, the entry's default label: ``scenarios.my-fam.draws``
    for ``scenario: fam.yaml``, whose text a dotted key would split), looked up beside ``base``
    (the experiment file's folder) first, then from the working directory, as the entry is.
    An unknown item is an error with a "did you mean". Missing mapping keys are created, and the
    result is validated afterwards, so a mistyped field still fails. Below a scenario's
    ``set`` the rest of the key is one dotted scenario override
    (``scenarios.stationary-3.set.budget.total=50000`` adds ``budget.total: 50000`` to that
    scenario's ``set``), and a key naming a scenario field at the top level
    (``budget.total=...``) is an error that shows that form. Each file is read once per call, whatever the
    number of changes and entries.
    """
    data = copy.deepcopy(data)
    file_name: FileName = functools.cache(functools.partial(_file_name, base=base))
    for key, value in changes.items():
        parts = key.split(".")
        _check_not_scenario_field(key, parts[0], value, data, file_name)
        node: Any = data
        for depth, part in enumerate(parts):
            last = depth == len(parts) - 1
            below_set = depth == 2 and parts[0] == "scenarios" and part == "set" and not last
            if below_set and isinstance(node, dict):
                sets = node.get("set")
                node["set"] = {**(sets if isinstance(sets, dict) else {}), ".".join(parts[3:]): value}
                break
            if isinstance(node, list):
                names = [_item_names(item, file_name) for item in node]
                idx = _list_index(names, part)
                if idx is None:
                    raise BudgetGymError(
                        f"--set {key}: no list item '{part}'{suggest(part, [n for ns in names for n in ns])}"
                    )
                if last:
                    node[idx] = value
                    break
                if isinstance(node[idx], str):  # expand shorthand entries
                    node[idx] = {_shorthand_key(parts[depth - 1] if depth else ""): node[idx]}
                node = node[idx]
            elif isinstance(node, dict):
                if last:
                    node[part] = value
                    break
                if node.get(part) is None:
                    node[part] = {}
                node = node[part]
            else:
                raise BudgetGymError(f"--set {key}: '{part}' is not inside a mapping or list")
    return data


def _check_not_scenario_field(key: str, top: str, value: Any, data: dict[str, Any], file_name: FileName) -> None:
    """A ``--set`` of a scenario field (``budget.total``) at the experiment's top level fails with
    the form that works: ``scenarios.<name>.set.<key>=<value>``, the first entry's name when a dotted key
    can hold it (not a file name such as ``fam.yaml``), else its index."""
    from budgetgym.experiments.config import ExperimentConfig  # the model these overrides feed

    if top in ExperimentConfig.model_fields or top not in Scenario.model_fields:
        return
    items = data.get("scenarios")
    names = _item_names(items[0], file_name) if isinstance(items, list) and items else []
    label = next((n for n in names if "." not in n and "/" not in n), "0")
    shown = value if isinstance(value, str) else json.dumps(value)
    raise BudgetGymError(
        f"--set {key}: '{top}' is a scenario field, not an experiment field; scenario changes go under a "
        f"scenario's 'set:', e.g. --set scenarios.{label}.set.{key}={shown}"
    )


def _shorthand_key(list_name: str) -> str:
    return "scenario" if list_name == "scenarios" else "agent"


def _item_names(item: Any, file_name: FileName) -> list[str]:
    """The names a list item answers to in a dotted key, first its own (its label, else its agent or scenario
    text) then, for an unlabelled scenario entry naming a file, the name the file gives (``file_name``,
    :func:`_file_name` read once per file): the entry's label in the results."""
    if isinstance(item, str):
        own: Any = item
    elif isinstance(item, dict):
        own = item.get("label") or item.get("agent") or item.get("scenario")
    else:
        return []
    if not isinstance(own, str) or not own:
        return []
    scenario = item if isinstance(item, str) else None if item.get("label") else item.get("scenario")
    shown = file_name(scenario) if isinstance(scenario, str) else None
    return [own] if shown is None or shown == own else [own, shown]


def _file_name(text: str, base: Path | None) -> str | None:
    """The ``family:`` or ``name:`` of the scenario or family file ``text`` names (beside ``base`` first),
    or ``None``: not a file, or one that does not read (the validation after the overrides says why)."""
    if not names_a_file(text):
        return None
    for path in ([base / text] if base is not None and not Path(text).is_absolute() else []) + [Path(text)]:
        if path.is_file():
            with contextlib.suppress(OSError, UnicodeDecodeError, yaml.YAMLError):
                data = yaml.safe_load(path.read_text(encoding="utf-8"))
                name = data.get("family", data.get("name")) if isinstance(data, dict) else None
                return name if isinstance(name, str) and name else None
            return None
    return None


def _list_index(names: list[list[str]], part: str) -> int | None:
    """The item ``part`` addresses: an index, else the first item whose own name it is, else the first whose
    file gives that name (so a label always wins over another entry's file)."""
    if part.isdigit() and int(part) < len(names):
        return int(part)
    for rank in (0, 1):
        for i, item in enumerate(names):
            if len(item) > rank and item[rank] == part:
                return i
    return None
