"""Dotted field paths into a scenario's mapping (``"channels.search.cost.price"``,
``"segments.young.reach.social"``): setting one in place, list items by index or by channel name, with a
one-line error naming the closest field. Used by :meth:`~budgetgym.envs.scenario.Scenario.override`, a
family's ``vary`` (:mod:`~budgetgym.envs.family`) and an experiment's ``set``
(:mod:`~budgetgym.experiments.campaigns`)."""

from __future__ import annotations

from typing import Any, get_origin

from budgetgym.envs.errors import ScenarioError, suggest
from budgetgym.envs.scenario_parts import SegmentConfig

__all__ = ["CHANNEL_MAPPINGS", "item_index", "set_dotted"]


def item_index(items: list[Any], part: str) -> int | None:
    """The list item a part of a dotted path names (:func:`set_dotted`): by index (``"0"``), else by a
    mapping item's ``name`` (``"search"``); ``None`` for no item."""
    if part.isdigit() and int(part) < len(items):
        return int(part)
    names = [c.get("name") if isinstance(c, dict) else None for c in items]
    return names.index(part) if part in names else None


#: Mappings keyed by channel name whose absent keys have a value (a segment's ``reach``, 0, and
#: ``effectiveness``, 1): :func:`set_dotted` may add a channel to them; the scenario's checks name a
#: misspelt one.
CHANNEL_MAPPINGS = frozenset(
    name for name, info in SegmentConfig.model_fields.items() if get_origin(info.annotation) is dict
)


def set_dotted(data: dict[str, Any], key: str, value: object, what: str = "override") -> None:
    """Set ``data[key] = value`` in place for a dotted field path, list items by index or by
    channel name (``"channels.search.cost.price"``); the path must exist, except a channel's entry
    of a mapping keyed by channel (:data:`CHANNEL_MAPPINGS`: ``"segments.young.reach.social"``).

    Raises
    ------
    ScenarioError
        ``"<what> '<key>': unknown field 'x'"`` (or no such list item), with the closest field or
        channel name (``" (did you mean 'price'?)"``, :func:`~budgetgym.envs.errors.suggest`).
    """
    node: object = data
    parts = key.split(".")
    for depth, part in enumerate(parts):
        last = depth == len(parts) - 1
        if isinstance(node, list):
            idx = item_index(node, part)
            if idx is None:
                names = [str(c["name"]) for c in node if isinstance(c, dict) and isinstance(c.get("name"), str)]
                raise ScenarioError(f"{what} '{key}': no list item '{part}'{suggest(part, names)}")
            if last:
                node[idx] = value
            else:
                node = node[idx]
        elif isinstance(node, dict):
            if part not in node and not (last and depth > 0 and parts[depth - 1] in CHANNEL_MAPPINGS):
                fields = [k for k in node if isinstance(k, str)]
                hint = suggest(part, fields)
                if not hint and isinstance(node.get("type"), str) and depth > 0:  # a field of another kind of block
                    block, own = ".".join(parts[:depth]), [f for f in fields if f != "type"]
                    hint = (f": {block} is of type '{node['type']}', which has no '{part}' (its fields: "
                            f"{', '.join(own) or 'none'}); first give the block a type that has it, "
                            f"{block}: {{type: ..., {part}: ...}}")
                raise ScenarioError(f"{what} '{key}': unknown field '{part}'{hint}")
            if last:
                node[part] = value
            else:
                node = node[part]
        else:
            raise ScenarioError(f"{what} '{key}': '{part}' is not inside a mapping or list")
