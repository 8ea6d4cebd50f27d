"""Dotted paths of a scenario's fields that name list items by their names: how a family reports what varies.

A scenario's channels, segments and any list item with a unique string ``name`` are named by it in a path
(``segments.young.size``, ``channels.search.cost.price``), the path a ``vary`` takes; an item without one by
its index. :func:`named_path` names one field of a template (a
:attr:`~budgetgym.envs.scenario_family.ScenarioFamily.distributions` key); :func:`named_leaves` names every leaf of
a scenario dump (an ensemble's :attr:`~budgetgym.envs.scenario_family.ScenarioFamily.member_changes`).
"""

from __future__ import annotations

from typing import Any

__all__ = ["item_keys", "named_leaves", "named_path"]


def item_keys(items: list[Any]) -> list[str]:
    """How a path names each of ``items``: by its ``name`` when every item has a unique string one, else by index."""
    names = [v.get("name") if isinstance(v, dict) else None for v in items]
    if all(isinstance(n, str) for n in names) and len(set(names)) == len(names):
        return [str(n) for n in names]
    return [str(j) for j in range(len(items))]


def named_path(template: Any, loc: tuple[Any, ...]) -> str:
    """``loc`` in ``template`` as a dotted path, each list index replaced by its item's ``name`` when the list's
    items have unique string names (``("segments", 1, "size")`` -> ``segments.old.size``)."""
    parts: list[str] = []
    node = template
    for p in loc:
        if isinstance(p, int) and isinstance(node, list):
            keys = item_keys(node)
            parts.append(keys[p] if p < len(keys) else str(p))
        else:
            parts.append(str(p))
        try:
            node = node[p]
        except (KeyError, IndexError, TypeError):
            node = None
    return ".".join(parts)


def named_leaves(node: Any, prefix: str = "") -> dict[str, Any]:
    """A scenario dump's leaves by dotted path, channels (and other named list items) by name; a block with a
    ``type`` is one leaf beside its fields' leaves, so a member that swaps the block's kind shows as that."""
    if isinstance(node, dict):
        out: dict[str, Any] = {}
        if "type" in node and prefix:
            out[prefix] = node["type"]
        for key, value in node.items():
            if key != "type":
                out.update(named_leaves(value, f"{prefix}.{key}" if prefix else str(key)))
        return out
    if isinstance(node, list) and node and all(isinstance(v, dict) for v in node):
        keys = item_keys(node)
        out = {}
        for key, value in zip(keys, node, strict=True):
            out.update(named_leaves(value, f"{prefix}.{key}"))
        return out
    return {prefix: node}
