r"""The scenario family: a distribution over campaigns, sampled with disjoint train and test draws.

A planner never knows the curves exactly, and a policy should work on campaigns it was not
trained on; both need a *distribution over campaigns*. A :class:`ScenarioFamily` is one of:

* a **template**: a scenario in which any hidden number may be a distribution
  (:mod:`budgetgym.envs.distributions`: ``{dist: lognormal, median: 2600, sd: 0.4}``, ...) and any
  block a ``choice`` among blocks (a channel's saturation a Hill or a logistic curve;
  :mod:`budgetgym.envs.family_template` finds, checks and draws them);
* an **explicit ensemble**: a nominal scenario and a list of parameter sets (dotted-path changes,
  as in :meth:`~budgetgym.envs.scenario.Scenario.override`), e.g. bootstrap or posterior draws of
  a fitted model;
* a **family of one**: a plain scenario (every draw is the scenario itself).

What stays fixed. The campaign brief (:class:`~budgetgym.envs.brief.CampaignBrief`: channel names
and units, budget, pacing, horizon, calendar, share bounds, reward kind, action scale, planning
CPA) is the same for every draw — a family varies what the marketer does *not* know — so the
action and observation spaces are the same for every draw, and an agent built from the family's
brief plays any draw. Distributions on brief fields are rejected at load time, as is a distribution
whose reach (its bounds, or 6 sd out where it has none; every value of a choice) holds a value the
scenario does not accept, checked one field at a time. An ensemble's members are all checked at load.
A template's checks across fields (segment reaches summing to at most 1, combined shocks, ...)
cannot be checked on the reach one field at a time, so its draws follow a rule (below): the first
:data:`VALIDATION_DRAWS` draws of each split must pass as drawn, so a family whose distributions often
break such a check is refused at load, naming the draw and the field; a later draw that breaks one is
drawn again, so a family that loads never fails at draw 807 (an environment's reset, hours into
training).
Segment sizes are shares of one audience and must sum to 1, which a draw of one size alone breaks
with probability 1; so in a template that draws a segment's ``size`` the sizes are weights, each draw's
(and the nominal's) divided by their sum (:func:`~budgetgym.envs.family_template.relative_sizes`), the
fixed ones too; written sizes beside a drawn one must be the nominal campaign's shares, and a distribution on
the only segment's size, whose share is then 1 in every draw, is refused
(:func:`~budgetgym.envs.family_template.check_sizes`).

Draws. ``sample(i, "train")`` and ``sample(i, "test")`` are deterministic. For a template, draw
``i`` of split ``s`` uses the generator ``numpy.random.default_rng(SeedSequence([seed, s_id, i]))``
with ``s_id`` = 0 for train and 1 for test: two disjoint seed streams, so a policy trained on
train draws never sees the parameters of a test draw (with continuous distributions the two
sets share no draw; a family made only of ``choice`` and ``integer`` can repeat a combination
by chance). Distributions are drawn in the file's order (depth first). A draw the scenario does
not accept (a check across fields) is drawn again with ``SeedSequence([seed, s_id, i, k])`` for
``k = 1, 2, ...`` (at most :data:`MAX_REDRAWS` times; then a one-line error naming the draw and the
field): the template's distribution conditioned on a valid scenario. An index of ``2**32`` or more
uses ``SeedSequence([seed, s_id, i, k])`` with ``k`` always given (:func:`~budgetgym.envs.draw_streams.draw_entropy`:
numpy reads such an ``i`` as two words, which the short form would share with a smaller draw's redraw). For an
ensemble, the members are split once, by a permutation seeded with ``SeedSequence([seed, 2])``, into a test
part (``test_fraction`` of them, at least one) and a train part; draw ``i`` of a split is member
``i mod n_split`` of that part. ``nominal()`` is the scenario of the central values (medians,
midpoints, the most probable choice) — for an ensemble, its nominal scenario.

Family files, the built-in families and :func:`~budgetgym.envs.family.load_family`:
:mod:`budgetgym.envs.family` (which re-exports this module's names). The seed streams of the draws:
:mod:`budgetgym.envs.draw_streams`; the named field paths a family reports (:attr:`ScenarioFamily.distributions`,
:attr:`ScenarioFamily.member_changes`): :mod:`budgetgym.envs.named_paths`; the info layout of a draw:
:mod:`budgetgym.envs.info_layout` (their public names are importable from here too).
"""

from __future__ import annotations

import copy
import functools
from collections.abc import Callable
from typing import Any

import numpy as np

from budgetgym.envs.brief import CampaignBrief
from budgetgym.envs.distributions import draw_value, nominal_value
from budgetgym.envs.draw_streams import MAX_FAMILY_SEED, Split, checked_split, draw_entropy, ensemble_parts
from budgetgym.envs.errors import ScenarioError, count, format_loc, is_integer
from budgetgym.envs.family_template import (
    brief_field,
    check_sizes,
    draws_sizes,
    materialise,
    reach_variants,
    relative_sizes,
    template_distributions,
)
from budgetgym.envs.info_layout import InfoLayout, baseline_layout, info_layout
from budgetgym.envs.named_paths import named_leaves, named_path
from budgetgym.envs.scenario import Scenario, scenario_from_dict

__all__ = [
    "MAX_FAMILY_SEED",
    "MAX_REDRAWS",
    "VALIDATION_DRAWS",
    "InfoLayout",
    "ScenarioFamily",
    "Split",
    "baseline_layout",
    "draw_entropy",
    "info_layout",
]

#: Draws of a template checked when a family is loaded (each split), so a bad distribution fails at load
#: time (an ensemble checks every member).
VALIDATION_DRAWS = 8
#: Redraws of a template draw that breaks a check across fields before it is an error (module docstring).
MAX_REDRAWS = 100

class ScenarioFamily:
    """A distribution over campaigns with one brief (module docstring).

    Build one with :func:`~budgetgym.envs.family.load_family` (a file, a built-in name, a scenario) or
    :meth:`of_scenario`.
    """

    def __init__(
        self,
        name: str,
        template: dict[str, Any] | None,
        *,
        description: str = "",
        seed: int = 0,
        ensemble: list[dict[str, Any]] | None = None,
        test_fraction: float = 0.2,
        source: str = "family",
        nominal: Scenario | None = None,
    ):
        """``template=None, nominal=scenario`` is :meth:`of_scenario`'s family of one (its template,
        the scenario's dump, is made only when asked for)."""
        self.name = name
        self.description = description
        if not is_integer(seed) or not 0 <= seed <= MAX_FAMILY_SEED:
            raise ScenarioError(f"{source}: seed: expected an integer from 0 to {MAX_FAMILY_SEED}, got {seed!r}")
        self.seed = int(seed)
        self.source = source
        self.test_fraction = float(test_fraction)
        self._dists: dict[tuple[Any, ...], Any] = {}
        self._template_data: dict[str, Any] | None = None
        if template is not None:
            self._template_data = copy.deepcopy(template)
            self._dists = template_distributions(self._template_data, source)
        elif nominal is None:
            raise ValueError("ScenarioFamily: give a template (or use ScenarioFamily.of_scenario)")
        if ensemble is not None and self._dists:
            raise ScenarioError(f"{source}: give distributions or an ensemble, not both")
        self._relative_sizes = draws_sizes(self._dists)
        if self._template_data is not None:
            check_sizes(self._template_data, self._dists, source)
        # a family of one passes its validated scenario: no need to validate its dump again
        self._nominal = nominal or scenario_from_dict(
            self._materialise(self._template, nominal_value), source=f"{source} (nominal scenario)"
        )
        if self._nominal.target_cpa is None and (self._dists or ensemble is not None):
            # one planning CPA for every draw: the nominal scenario's, written into the template
            # so a draw's observations are never scaled by its own (hidden) curves
            cpa = CampaignBrief.from_scenario(self._nominal).target_cpa
            self._template["target_cpa"] = cpa
            self._nominal = self._nominal.override({"target_cpa": cpa})
        if self._dists or ensemble is not None:
            # one planned unit price per channel for every draw, the nominal's, likewise: a draw's
            # price index is its effective price relative to the plan's, never to its own (hidden) price
            planned: dict[str, object] = {}
            for i, c in enumerate(self._nominal.channels):
                if c.cost.planned_price is None:
                    planned[f"channels.{i}.cost.planned_price"] = c.cost.price
                    node = self._template["channels"][i]
                    if isinstance(node, dict) and isinstance(node.get("cost"), dict) and "dist" not in node \
                            and "dist" not in node["cost"]:
                        node["cost"]["planned_price"] = c.cost.price  # else set on each draw (sample)
            if planned:
                self._nominal = self._nominal.override(planned)
        self.brief: CampaignBrief = CampaignBrief.from_scenario(self._nominal)
        self._members: tuple[Scenario, ...] = ()
        self._parts: dict[str, np.ndarray] = {}
        if ensemble is not None:
            members = []
            for j, changes in enumerate(ensemble):
                for key in changes:
                    loc = tuple(int(p) if p.isdigit() else p for p in key.split("."))
                    if brief_field(loc) or (loc[:1] == ("channels",) and len(loc) >= 3 and brief_field(
                        ("channels", 0, *loc[2:])
                    )):
                        raise ScenarioError(
                            f"{source}: ensemble[{j}].{key}: a field of the campaign brief cannot vary"
                        )
                members.append(self._planned(self._nominal.override(changes, source=f"{source}: ensemble[{j}]")))
            self._members = tuple(members)
            self._parts = ensemble_parts(self.seed, len(members), self.test_fraction, source)
        self._cache: dict[tuple[str, int], Scenario] = {}
        self._reach: list[tuple[str, InfoLayout]] = []  # (field, info layout) of each reach variant (_check_reach)
        if self.varies:
            # a template's first draws of each split; every member of an ensemble (all are known, and a
            # member past the first few that changed the brief would otherwise fail only when drawn)
            for split in ("train", "test"):
                for i in range(self.split_size(split) or VALIDATION_DRAWS):
                    self._sample(i, split, redraws=0)  # as drawn: a frequent failure is refused here
        if self._dists:
            self._check_reach()

    def _materialise(self, template: dict[str, Any], pick: Callable[[Any], Any]) -> dict[str, Any]:
        """``template`` with every distribution replaced by ``pick(distribution)``
        (:func:`~budgetgym.envs.family_template.materialise`), its segment sizes made shares
        (:func:`~budgetgym.envs.family_template.relative_sizes`) when the family draws one."""
        data = materialise(template, pick)
        return relative_sizes(data) if self._relative_sizes else data

    def _check_reach(self) -> None:
        """Refuse, in one line naming the field, a distribution whose reach (its bounds, or 6 sd out
        for an unbounded tail; every value of a choice) holds a value the scenario does not accept or
        that changes the brief: a rare draw would otherwise fail long after loading (draw 807 of a
        normal with a 0.1% tail below zero). One field at a time, the others at their nominal values;
        checks across fields (a channel's reach shares summing to at most 1, combined shocks) rest on the sampled
        draws (drawn segment sizes are made to sum to 1: :func:`~budgetgym.envs.family_template.relative_sizes`)."""
        for loc, value, variant in reach_variants(self._template):
            data = self._materialise(variant, nominal_value)
            data["description"] = self._nominal.description
            shown = f"{value:g}" if isinstance(value, (int, float)) and not isinstance(value, bool) else "this value"
            where = f"{self.source}: {format_loc(loc)}: the distribution reaches {shown}"
            try:
                sc = scenario_from_dict(data, source="")
            except ScenarioError as err:
                why = str(err).removeprefix(": ")
                msg = f"{where}, which the scenario does not accept ({why}); narrow it or bound it"
                raise ScenarioError(msg) from None
            changed = self._brief_changes(sc := self._planned(sc))  # as sample() makes the draw
            if changed:
                raise ScenarioError(
                    f"{where}, which changes the campaign brief ({', '.join(changed)}); a family's draws must agree "
                    f"on what the marketer knows"
                )
            self._reach.append((format_loc(loc), info_layout(sc)))

    def reach_layouts(self) -> list[tuple[str, InfoLayout]]:
        """The :func:`info_layout` of each of a template's campaigns with one distribution at an end of
        its reach, the others nominal (:func:`~budgetgym.envs.family_template.reach_variants`), with that
        distribution's field (``baseline.values[1]``, ``channels[0].cost.price``); ``[]`` for an ensemble
        or a family of one. A layout is fixed by whether ``segments`` and ``baseline`` are given and by
        the controls' names, each by its own field, so these show every field that changes it."""
        return list(self._reach)

    def _brief_changes(self, draw: Scenario) -> list[str]:
        """The fields of the campaign brief in which ``draw`` differs from the family's (none: a valid draw)."""
        brief = CampaignBrief.from_scenario(draw)
        if brief == self.brief:
            return []
        own = self.brief.to_dict()
        return [k for k, v in brief.to_dict().items() if v != own[k]]

    def _planned(self, draw: Scenario) -> Scenario:
        """``draw`` with the nominal's planned price on every channel whose cost block the draw replaced
        (a choice among cost blocks, an ensemble member's new block): the template carries it otherwise."""
        missing: dict[str, object] = {f"channels.{i}.cost.planned_price": n.cost.planned_price
                   for i, (c, n) in enumerate(zip(draw.channels, self._nominal.channels, strict=True))
                   if c.cost.planned_price is None and n.cost.planned_price is not None}
        return draw.override(missing) if missing else draw

    # -- construction ------------------------------------------------------------------
    @classmethod
    def of_scenario(cls, scenario: Scenario) -> ScenarioFamily:
        """The family of one: every draw is ``scenario``."""
        return cls(scenario.name, None, description=scenario.description, nominal=scenario)

    @property
    def _template(self) -> dict[str, Any]:
        """The template (a family of one's: its scenario's dump, made on first use)."""
        if self._template_data is None:
            self._template_data = self._nominal.model_dump(mode="json")
        return self._template_data

    # -- the family's public face ------------------------------------------------------
    @property
    def varies(self) -> bool:
        """False for a family of one (no distribution, no ensemble)."""
        return bool(self._dists) or bool(self._members)

    @property
    def sizes_are_weights(self) -> bool:
        """Whether the family draws a segment's size, so each draw's sizes are weights divided by their sum
        (:func:`~budgetgym.envs.family_template.relative_sizes`)."""
        return self._relative_sizes

    @property
    def is_ensemble(self) -> bool:
        return bool(self._members)

    def nominal(self) -> Scenario:
        """The scenario of central values (the ensemble's nominal scenario)."""
        return self._nominal

    @property
    def distributions(self) -> dict[str, Any]:
        """Dotted field path -> its validated distribution, in the file's order (empty for an ensemble or a
        family of one). Channels, segments and any list item with a unique name are named by it, the path a
        ``vary`` takes (``segments.young.size``); an item without one by its index."""
        return {named_path(self._template, loc): dist for loc, dist in self._dists.items()}

    @property
    def member_changes(self) -> dict[str, list[Any]]:
        """An ensemble's counterpart of :attr:`distributions`: dotted field path (channels by name) -> the
        field's value in each member, in the file's order, for every field some member sets to other than the
        nominal value (a whole block where a member changes its ``type``); empty for a template or a family
        of one."""
        nominal = named_leaves(self._nominal.model_dump(mode="json"))
        leaves = [named_leaves(m.model_dump(mode="json")) for m in self._members]
        return {path: [m.get(path) for m in leaves] for path in dict.fromkeys(p for m in leaves for p in m)
                if any(m.get(path) != nominal.get(path) for m in leaves)}

    def definition(self) -> dict[str, Any]:
        """Everything that determines the family's draws, as plain JSON-able data (to hash or
        record): name, seed, the template (distributions included), the ensemble's members
        and its test fraction."""
        return {
            "family": self.name,
            "seed": self.seed,
            "template": copy.deepcopy(self._template),
            "ensemble": [m.model_dump(mode="json") for m in self._members] or None,
            "test_fraction": self.test_fraction if self._members else None,
        }

    def split_size(self, split: Split) -> int | None:
        """Members in a split of an ensemble; ``None`` for a template (unbounded)."""
        return len(self._parts[split]) if self._members else None

    def split_draws(self, asked: int, split: Split) -> int:
        """The draws of ``split`` to play when ``asked`` are asked: ``asked``, at most an ensemble's members there.

        Draw ``i`` of an ensemble's split is member ``i mod n_split`` (module docstring), so more draws than
        members would play some members twice or more and weight them so in every mean over draws; each member
        plays at most once instead: ``min(asked, n_split)``. A template's draws are unbounded (``asked``). The one
        rule of :func:`~budgetgym.agents.evaluation.evaluate`, the experiment runner and the planner.
        """
        checked_split(split)
        size = self.split_size(split)
        return asked if size is None else min(asked, size)

    def sample(self, index: int, split: Split = "train") -> Scenario:
        """Draw ``index`` of ``split`` (deterministic; module docstring)."""
        return self._sample(index, split, MAX_REDRAWS)

    def _sample(self, index: int, split: Split, redraws: int) -> Scenario:
        """:meth:`sample`, a template draw that breaks a check across fields drawn again at most
        ``redraws`` times (0: the load-time check, where it is an error)."""
        checked_split(split)
        if not is_integer(index) or index < 0:
            raise ScenarioError(f"draw index: expected a non-negative integer, got {index!r}")
        index = int(index)
        if not self.varies:
            return self._nominal
        key = (split, index)
        if key in self._cache:
            return self._cache[key]
        if self._members:
            part = self._parts[split]
            sc = self._members[int(part[index % len(part)])]
        else:
            sc = self._planned(self._template_draw(index, split, redraws))
        changed = self._brief_changes(sc)  # e.g. a choice among cost blocks bought in different units
        if changed:
            raise ScenarioError(
                f"{self.source}: {split} draw {index} changes the campaign brief ({', '.join(changed)}); "
                f"a family's draws must agree on what the marketer knows"
            )
        if len(self._cache) < 4096:
            self._cache[key] = sc
        return sc

    def _template_draw(self, index: int, split: Split, redraws: int) -> Scenario:
        """Template draw ``index`` of ``split``: the first of its attempts ``k = 0 .. redraws`` (module
        docstring) that the scenario accepts."""
        first: ScenarioError | None = None
        for k in range(redraws + 1):
            rng = np.random.default_rng(np.random.SeedSequence(draw_entropy(self.seed, split, index, k)))
            data = self._materialise(self._template, functools.partial(draw_value, rng=rng))
            data["description"] = self._nominal.description
            try:
                return scenario_from_dict(data, source=f"{self.source}: {split} draw {index}")
            except ScenarioError as err:
                first = first or err
        tried = f"; so {'was' if redraws == 1 else 'were'} its {count(redraws, 'redraw')}" if redraws else ""
        raise ScenarioError(
            f"{first}{tried} (a distribution reaches values the scenario does not accept: narrow it or bound it)"
        )

    def draws(self, n: int, split: Split = "test") -> list[Scenario]:
        """Draws ``0 .. n-1`` of ``split``."""
        return [self.sample(i, split) for i in range(n)]

    def __repr__(self) -> str:
        kind = "ensemble" if self._members else ("template" if self._dists else "scenario")
        return f"ScenarioFamily({self.name!r}, {kind})"
