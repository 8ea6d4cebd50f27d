"""The scenario entries of an experiment, resolved: a plain scenario or a family that varies.

:func:`resolve_entry` turns one validated scenario entry of an experiment file into a
:class:`Campaign`. For a family, the entry's ``set:`` changes the family's template before
anything is drawn (:func:`family_with_changes`).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from budgetgym.envs.dotted_paths import item_index, set_dotted
from budgetgym.envs.errors import BudgetGymError, ScenarioError
from budgetgym.envs.family import (
    ScenarioFamily,
    Split,
    family_file,
    family_from_dict,
    family_scenario,
    load_family,
)
from budgetgym.envs.io import read_yaml
from budgetgym.envs.scenario import Scenario
from budgetgym.experiments.wording import count

if TYPE_CHECKING:  # pragma: no cover
    from budgetgym.experiments.config import ScenarioSpec

__all__ = ["Campaign", "draws_on", "family_with_changes", "resolve_entry"]



@dataclass(frozen=True)
class Campaign:
    """One resolved scenario entry of the grid.

    ``scenario`` is the scenario played (for a family: its nominal scenario, which carries the
    family's brief); ``family`` is the :class:`~budgetgym.envs.family.ScenarioFamily` of a
    varying family entry (``None`` for a plain scenario). ``draws`` is the number of held-out test
    draws played and ``train_draws`` the number of train draws (``None``: as many as ``draws``);
    ``asked`` is the experiment's ``draws`` for the entry. Each split plays ``asked`` draws, an
    explicit ensemble at most its members in that split (:func:`resolve_entry`). All ``None`` for a
    plain scenario.
    """

    label: str
    scenario: Scenario
    family: ScenarioFamily | None = None
    draws: int | None = None
    train_draws: int | None = None
    asked: int | None = None

    @property
    def source(self) -> Scenario | ScenarioFamily:
        """What agents are built from and trained on: the family, else the scenario."""
        return self.family if self.family is not None else self.scenario

    def split_draws(self, split: Split) -> int:
        """The draws played on ``split`` (``0`` for a plain scenario)."""
        return draws_on(split, self.draws, self.train_draws) or 0

    def draws_note(self) -> str | None:
        """One line when a split plays fewer draws than the experiment asked for (an explicit ensemble
        with fewer members in that split), else ``None``."""
        if self.family is None or self.asked is None:
            return None
        splits: tuple[Split, Split] = ("test", "train")
        short = [s for s in splits if self.split_draws(s) < self.asked]
        if not short:
            return None
        members = " and ".join(count(self.split_draws(s), f"{s} member") for s in short)
        played = " and ".join(count(self.split_draws(s), f"{s} draw") for s in splits)
        return (f"{self.label}: draws: {self.asked} asked, but its ensemble has {members}: it plays {played} "
                f"(each member at most once)")


def draws_on(split: Split, draws: int | None, train_draws: int | None) -> int | None:
    """The draws played on ``split``: ``draws`` on ``test``, ``train_draws`` on ``train`` (``None``: as
    many as ``draws``)."""
    return draws if split == "test" or train_draws is None else train_draws


def resolve_entry(spec: ScenarioSpec, default_draws: int) -> Campaign:
    """One scenario entry: a plain scenario (``set`` applied with ``Scenario.override``) or a
    varying family (``set`` applied to its template, :func:`family_with_changes`)."""
    family = load_family(spec.scenario)
    if family.varies and spec.set:
        family = family_with_changes(spec.scenario, dict(spec.set))
        if not family.varies:  # the changes fixed every field the family drew
            return Campaign(spec.label or family.name, family.nominal())
    if not family.varies:
        if spec.draws is not None:
            raise BudgetGymError(
                f"draws: '{spec.scenario}' is a plain scenario, not a family that varies; remove 'draws'"
            )
        sc = family.nominal()
        if spec.set:
            sc = sc.override(dict(spec.set))
        return Campaign(spec.label or sc.name, sc)
    # an ensemble's draw i of a split is member i mod (members in the split): more draws than members
    # would play some twice or more and weight them so in the summary (as the planner, at most each once);
    # each split is bounded by its own members, so a small test split leaves the train draws as asked
    asked = spec.draws or default_draws
    test, train = (family.split_draws(asked, s) for s in ("test", "train"))
    return Campaign(spec.label or family.name, family.nominal(), family, test, train, asked)


def family_with_changes(name: str, changes: dict[str, Any]) -> ScenarioFamily:
    """The family ``name`` with a scenario entry's ``set`` applied to its template.

    The template is the family file's ``scenario`` (a built-in name or path is expanded to its
    full mapping first); each dotted change is set there, before the draws, so every draw and
    the nominal scenario (hence the brief) carry it. A change of a field that ``vary`` draws fixes
    it (the ``vary`` entry is dropped); a change inside a block that ``vary`` replaces is an error.
    Explicit ensemble members keep their own values of the fields they change.
    """
    path = family_file(name)
    source = f"family file '{path}' (with set)"
    data = read_yaml(path, "family file", ScenarioError)
    if not isinstance(data, dict):  # pragma: no cover - load_family read it as a family already
        raise BudgetGymError(f"{source}: expected a mapping")
    data = copy.deepcopy(data)
    template = data.get("scenario")
    partial = isinstance(template, dict)  # a mapping may leave fields to their defaults
    if isinstance(template, str):
        template = family_scenario(template, path.parent, source).model_dump(mode="json")
    if not isinstance(template, dict):
        raise BudgetGymError(f"{source}: scenario: expected a mapping or a scenario name")
    vary = dict(data.get("vary") or {})
    for key, value in changes.items():
        loc = _location(template, key)
        where = {v: _location(template, v) for v in vary}  # channels by index in both, to compare
        inside = [v for v, at in where.items() if len(at) < len(loc) and loc[: len(at)] == at]
        if inside:
            raise BudgetGymError(
                f"set: '{key}' lies inside '{inside[0]}', which the family's vary replaces by a draw; "
                f"change the distribution in the family file instead"
            )
        vary = {v: d for v, d in vary.items() if where[v][: len(loc)] != loc}
        try:
            set_dotted(template, key, value, what="set")
        except ScenarioError as err:
            hint = " (the family's scenario mapping does not spell this field out; add it there)" if partial else ""
            raise BudgetGymError(f"{source}: {err}{hint}") from None
    data["scenario"], data["vary"] = template, vary
    return family_from_dict(data, source=source, base=path.parent)


def _location(template: dict[str, Any], key: str) -> tuple[str, ...]:
    """A dotted field path with every list item named by its index (``channels.search.cost`` ->
    ``("channels", "0", "cost")``), so a ``set`` and a ``vary`` that name one channel differently (by
    name, by index) are seen to meet. A part naming nothing in ``template`` is kept as written.

    Parameters
    ----------
    template : the family's scenario mapping (channels as a list of mappings with a ``name``).
    key : a dotted path, list items by index or by name (:func:`~budgetgym.envs.scenario.set_dotted`).

    Returns
    -------
    tuple of str
        The path's parts, list items as their index.
    """
    node: object = template
    out: list[str] = []
    for part in key.split("."):
        if isinstance(node, list):
            idx = item_index(node, part)
            out.append(part if idx is None else str(idx))
            node = None if idx is None else node[idx]
        else:
            out.append(part)
            node = node.get(part) if isinstance(node, dict) else None
    return tuple(out)
