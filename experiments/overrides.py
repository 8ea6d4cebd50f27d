"""``--set key=value`` overrides of an experiment file, applied to the raw mapping.

:func:`parse_overrides` reads ``key=value`` strings (values as YAML); :func:`apply_overrides`
applies dotted keys to the experiment mapping before validation, so overrides are validated
like the file itself (list items by index, by label or by the shorthand name; scenario fields
must go under a scenario entry's ``set:``, and the error says so).
"""

from __future__ import annotations

import copy
import json
from typing import Any

import yaml

from budgetgym.envs.errors import BudgetGymError
from budgetgym.envs.scenario import Scenario

__all__ = ["apply_overrides", "parse_overrides"]


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


def apply_overrides(data: dict[str, Any], changes: dict[str, Any]) -> dict[str, Any]:
    """A copy of the raw experiment mapping with dotted-key ``changes`` applied.

    List items are addressed by index or by their label / agent / scenario name
    (``agents.ppo.train.total_timesteps``); missing mapping keys are created, and the
    result is validated afterwards, so a mistyped field still fails. Below a scenario's
    ``set`` the rest of the key is one dotted scenario override
    (``scenarios.stationary-3.set.budget.total=50000`` adds ``budget.total: 50000`` to that
    scenario's ``set``), and a key naming a scenario field at the top level
    (``budget.total=...``) is an error that shows that form.
    """
    data = copy.deepcopy(data)
    for key, value in changes.items():
        parts = key.split(".")
        _check_not_scenario_field(key, parts[0], value, data)
        node: Any = data
        for depth, part in enumerate(parts):
            last = depth == len(parts) - 1
            below_set = depth == 2 and parts[0] == "scenarios" and part == "set" and not last
            if below_set and isinstance(node, dict):
                sets = node.get("set")
                node["set"] = {**(sets if isinstance(sets, dict) else {}), ".".join(parts[3:]): value}
                break
            if isinstance(node, list):
                idx = _list_index(node, part)
                if idx is None:
                    raise BudgetGymError(f"--set {key}: no list item '{part}'")
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


def _check_not_scenario_field(key: str, top: str, value: Any, data: dict[str, Any]) -> None:
    """A ``--set`` of a scenario field (``budget.total``) at the experiment's top level fails with
    the form that works: ``scenarios.<label>.set.<key>=<value>``."""
    from budgetgym.experiments.config import ExperimentConfig  # the model these overrides feed

    if top in ExperimentConfig.model_fields or top not in Scenario.model_fields:
        return
    items = data.get("scenarios")
    first = items[0] if isinstance(items, list) and items else None
    if isinstance(first, dict):
        first = first.get("label") or first.get("scenario")
    label = first if isinstance(first, str) and "/" not in first else "0"
    shown = value if isinstance(value, str) else json.dumps(value)
    raise BudgetGymError(
        f"--set {key}: '{top}' is a scenario field, not an experiment field; scenario changes go under a "
        f"scenario's 'set:', e.g. --set scenarios.{label}.set.{key}={shown}"
    )


def _shorthand_key(list_name: str) -> str:
    return "scenario" if list_name == "scenarios" else "agent"


def _list_index(items: list[Any], part: str) -> int | None:
    if part.isdigit() and int(part) < len(items):
        return int(part)
    for i, item in enumerate(items):
        if isinstance(item, str) and item == part:
            return i
        if isinstance(item, dict):
            name = item.get("label") or item.get("agent") or item.get("scenario")
            if name == part:
                return i
    return None
