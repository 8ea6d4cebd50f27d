"""The info layout of a scenario: what a row adds to a vector env's info, which the rows of one vector env share.

A row's ``info`` and its dynamics depend on whether its scenario has audience segments (stepped by
:mod:`~budgetgym.envs.vector_segments`, reporting ``expected_revenue``) and on its KPI baseline (none, or
the names of its controls): the :data:`InfoLayout`. The rows of one vector env share one; a vector env
checks its rows (:func:`check_info_layouts`) and a template family's reach (:func:`check_reach_layouts`,
on :meth:`~budgetgym.envs.scenario_family.ScenarioFamily.reach_layouts`), each a one-line error.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from budgetgym.envs.errors import BudgetGymError
from budgetgym.envs.scenario import Scenario

if TYPE_CHECKING:
    from budgetgym.envs.scenario_family import ScenarioFamily

__all__ = ["InfoLayout", "baseline_layout", "check_info_layouts", "check_reach_layouts", "info_layout"]


def baseline_layout(sc: Scenario) -> tuple[str, ...] | None:
    """What a scenario's KPI baseline adds to the info: ``None`` (no baseline) or its controls' names."""
    return None if sc.baseline is None else tuple(c.name for c in sc.baseline.controls)


#: What a row adds to a vector env's info and how it is stepped: ``(segmented, baseline_layout)``.
InfoLayout = tuple[bool, tuple[str, ...] | None]


def info_layout(sc: Scenario) -> InfoLayout:
    """The :data:`InfoLayout` of a scenario: whether it has audience segments (its rows are stepped by
    :mod:`~budgetgym.envs.vector_segments` and report ``expected_revenue``) and its
    :func:`baseline_layout`. The rows of one vector env share one
    (:func:`check_info_layouts`)."""
    return sc.segments is not None, baseline_layout(sc)


def _say_baseline(x: tuple[str, ...] | None) -> str:
    """``"no KPI baseline"``, ``"a KPI baseline without controls"``, ``"a KPI baseline with controls a, b"``."""
    if x is None:
        return "no KPI baseline"
    return f"a KPI baseline with controls {', '.join(x)}" if x else "a KPI baseline without controls"


def check_info_layouts(scenarios: Sequence[Scenario], where: str) -> None:
    """The rows of a vector env share one info layout: a one-line error when ``scenarios`` differ in
    their :func:`info_layout` (audience segments or none; a KPI baseline or none, or its controls),
    whose info keys and dynamics would be the first row's."""
    first = info_layout(scenarios[0])
    for sc in scenarios[1:]:
        other = info_layout(sc)
        if other != first:
            if other[0] != first[0]:
                has = "has audience segments, another none" if first[0] else "has no audience segments, another has"
                what = "audience segments or none"
            else:
                has, what = f"has {_say_baseline(first[1])}, another {_say_baseline(other[1])}", "KPI baseline layout"
            raise BudgetGymError(
                f"{where}: the rows of a vector env must share one {what}; one draw {has} "
                f"(evaluate them in separate batches)"
            )


def check_reach_layouts(family: ScenarioFamily) -> None:
    """A template's draws share the nominal's info layout, decided on its reach
    (:meth:`~budgetgym.envs.scenario_family.ScenarioFamily.reach_layouts`): a one-line error naming the
    family's file and the field whose distribution reaches a draw of another layout; a rare draw of one
    would otherwise fail a reset only when a batch first mixes it with others (hours into training)."""
    first = info_layout(family.nominal())
    for field, other in family.reach_layouts():
        if other == first:
            continue
        if other[0] != first[0]:
            has = ("no audience segments where the nominal has them" if first[0]
                   else "audience segments where the nominal has none")
            what = "audience segments or none"
        else:
            has = f"{_say_baseline(other[1])} where the nominal has {_say_baseline(first[1])}"
            what = "KPI baseline layout"
        raise BudgetGymError(
            f"{family.source}: {field}: the distribution reaches a draw with {has}; the rows of a vector env "
            f"must share one {what} (play such a family in single environments, or evaluate it: it plays each "
            f"kind in batches of its own)"
        )
