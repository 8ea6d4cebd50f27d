"""A family template's distributions: found and checked in a scenario mapping, and drawn.

A template (:mod:`budgetgym.envs.family`) is a scenario mapping in which a hidden number may be a
``{dist: ...}`` block (:mod:`budgetgym.envs.distributions`) and a block a ``choice`` among blocks.
:func:`template_distributions` finds and validates every such block, refusing one on a field of the
campaign brief (:data:`BRIEF_FIELDS`: every draw of a family has the same brief);
:func:`materialise` replaces each by a value picked from it (a draw, or the nominal value);
:func:`reach_variants` gives the templates in which one of them is fixed at an end of its reach;
:func:`relative_sizes` turns drawn segment sizes into shares (:func:`draws_sizes` says when; :func:`check_sizes`
refuses written sizes that are not the nominal campaign's shares).
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterable, Iterator
from typing import Any, TypeGuard

from pydantic import TypeAdapter, ValidationError

from budgetgym.envs.distributions import DISTRIBUTIONS, Choice, Distribution, nominal_value, reach
from budgetgym.envs.errors import ScenarioError, format_loc, unknown, validation_error
from budgetgym.envs.scenario_parts import MIN_SEGMENT_SIZE, SIZES_SUM_TOL

__all__ = [
    "BRIEF_FIELDS", "brief_field", "check_sizes", "draws_sizes", "materialise", "reach_variants", "relative_sizes",
    "misfit_size", "segment_field", "sizes_text", "template_distributions",
]

#: Fields of the campaign brief: the same for every draw, so they cannot be distributions.
BRIEF_FIELDS = {
    ("name",),
    ("description",),
    ("horizon",),
    ("step_days",),
    ("start_day",),
    ("reward",),
    ("response_unit",),
    ("kpi",),
    ("budget",),
    ("action",),
    ("target_cpa",),
    ("channels",),
    ("channels", "*"),
    ("channels", "*", "name"),
    ("channels", "*", "description"),
    ("channels", "*", "cost", "unit"),
    ("channels", "*", "cost", "planned_price"),
    ("channels", "*", "min_share"),
    ("channels", "*", "max_share"),
    ("channels", "*", "locked_share"),
}
_DIST: TypeAdapter[Any] = TypeAdapter(Distribution)


def brief_field(loc: tuple[Any, ...]) -> bool:
    """Whether the field at ``loc`` (a path of keys and list indices) is part of the campaign brief."""
    generic = tuple("*" if isinstance(p, int) else p for p in loc)
    return generic in BRIEF_FIELDS or generic[:1] in {("budget",), ("action",)}


def is_distribution(node: object) -> TypeGuard[dict[str, Any]]:
    """Whether ``node`` is a distribution block (a mapping with a ``dist`` key)."""
    return isinstance(node, dict) and "dist" in node


def holds_distribution(node: object) -> bool:
    """Whether ``node`` is a distribution block or holds one (in a mapping's values or a list's items)."""
    if is_distribution(node):
        return True
    items = node.values() if isinstance(node, dict) else node if isinstance(node, list) else ()
    return any(holds_distribution(item) for item in items)


def template_distributions(template: dict[str, Any], source: str) -> dict[tuple[Any, ...], Any]:
    """Every distribution block of ``template`` by its location, validated, in the file's order
    (depth first); a one-line ScenarioError for one on a brief field or one that is invalid."""
    dists: dict[tuple[Any, ...], Any] = {}
    _check_template(template, (), source, dists)
    return dists


def _check_template(node: Any, loc: tuple[Any, ...], source: str, dists: dict[tuple[Any, ...], Any]) -> None:
    """Validate every distribution block and refuse them on brief fields."""
    if is_distribution(node):
        where = format_loc(loc)
        if brief_field(loc):
            raise ScenarioError(
                f"{source}: {where}: a field of the campaign brief (what the marketer knows) cannot "
                f"be a distribution; every draw of a family has the same brief"
            )
        dists[loc] = _validate_dist(node, loc, source)
        if node["dist"] == "choice":
            for j, value in enumerate(node["values"]):
                _check_nested(value, (*loc, "values", j), source)
        return
    if isinstance(node, dict):
        for key, value in node.items():
            _check_template(value, (*loc, key), source, dists)
    elif isinstance(node, list):
        for j, value in enumerate(node):
            _check_template(value, (*loc, j), source, dists)


def _validate_dist(node: dict[str, Any], loc: tuple[Any, ...], source: str) -> Any:
    """The validated distribution of a ``{dist: ...}`` block, or a one-line ScenarioError."""
    where = format_loc(loc)
    kind = node.get("dist")
    if kind not in DISTRIBUTIONS:
        raise ScenarioError(f"{source}: {where}.dist: " + unknown("distribution", str(kind), DISTRIBUTIONS))
    try:
        return _DIST.validate_python(node)
    except ValidationError as err:
        raise validation_error(err, f"{source}: {where}", None, ScenarioError) from None


def _check_nested(node: Any, loc: tuple[Any, ...], source: str) -> None:
    """Distributions inside a choice's values (validated; drawn after the choice)."""
    if is_distribution(node):
        _validate_dist(node, loc, source)
    if isinstance(node, dict):
        for key, value in node.items():
            if key != "dist":
                _check_nested(value, (*loc, key), source)
    elif isinstance(node, list):
        for j, value in enumerate(node):
            _check_nested(value, (*loc, j), source)


def materialise(template: dict[str, Any], pick: Callable[[Any], Any]) -> dict[str, Any]:
    """``template`` with every distribution replaced by ``pick(distribution)`` (depth first,
    in the file's order; a chosen block's own distributions are resolved the same way)."""

    def resolve(node: Any) -> Any:
        if is_distribution(node):
            return resolve(pick(_DIST.validate_python(node)))
        if isinstance(node, dict):
            return {k: resolve(v) for k, v in node.items()}
        if isinstance(node, list):
            return [resolve(v) for v in node]
        return node

    return resolve(copy.deepcopy(template))


def draws_sizes(locations: Iterable[tuple[Any, ...]]) -> bool:
    """Whether a distribution lies on a segment's ``size`` (``segments[i].size``) among ``locations``
    (those of :func:`template_distributions`): the family's sizes are then relative (:func:`relative_sizes`)."""
    return any(len(loc) == 3 and loc[0] == "segments" and loc[2] == "size" for loc in locations)


def segment_field(segments: list[Any], j: int, field: str = "size") -> str:
    """Segment ``j``'s ``field`` for a message, the segment named as ``vary`` names it: ``segments.young.size``
    when every segment has a unique string ``name`` (a scenario requires it), else ``segments[j].size``."""
    names = [s.get("name") if isinstance(s, dict) else getattr(s, "name", None) for s in segments]
    if all(isinstance(n, str) for n in names) and len(set(names)) == len(names):
        return f"segments.{names[j]}.{field}"
    return f"segments[{j}].{field}"


def sizes_text(segments: list[Any], sizes: Iterable[Any]) -> str:
    """The segments' sizes by name for a message: ``young 0.5, old 0.6`` (an unnamed segment by its index)."""
    names = [s.get("name") if isinstance(s, dict) else getattr(s, "name", None) for s in segments]
    return ", ".join(f"{n if isinstance(n, str) else f'segments[{j}]'} {float(w):.6g}"
                     for j, (n, w) in enumerate(zip(names, sizes, strict=True)))


def misfit_size(segments: Any) -> str | None:
    """The first segment size of a scenario mapping's ``segments`` that is a number outside a share's range
    ``[MIN_SEGMENT_SIZE, 1]``, as one line naming the segment (:func:`segment_field`), else ``None`` (anything
    else is left to the scenario's field checks)."""
    if not isinstance(segments, list) or not all(isinstance(s, dict) for s in segments):
        return None
    for j, seg in enumerate(segments):
        w = seg.get("size")
        if isinstance(w, (int, float)) and not isinstance(w, bool) and not MIN_SEGMENT_SIZE <= w <= 1:
            return (f"{segment_field(segments, j)}: expected a share of the addressable audience in "
                    f"[{MIN_SEGMENT_SIZE:g}, 1], got {w:.6g}")
    return None


def check_sizes(template: dict[str, Any], dists: dict[tuple[Any, ...], Any], source: str) -> None:
    r"""Refuse, in one line naming the fields, segment sizes that a family drawing some of them cannot read as shares.

    Drawn sizes are weights (:func:`relative_sizes`: each draw's sizes :math:`w_s` are divided by their sum). When
    some sizes are drawn and others fixed, the written sizes (a drawn one at its nominal value
    :math:`\bar w_s`) are the nominal campaign's shares, so they must sum to 1 as in a scenario:

    .. math:: \sum_{s\ \mathrm{fixed}} w_s + \sum_{s\ \mathrm{drawn}} \bar w_s = 1 \pm 10^{-6}

    (:data:`~budgetgym.envs.scenario_parts.SIZES_SUM_TOL`, a scenario's own tolerance), which requires first
    :math:`\sum_{s\ \mathrm{fixed}} w_s < 1` (a drawn segment's share is positive). Otherwise a
    typo in a fixed size (0.6 and 0.5 beside a drawn 0.35) would be rescaled silently. A family drawing every
    size gives pure weights (any sum); a distribution on the only segment's size is refused (its share is 1 in
    every draw). Sizes that are not positive numbers are left for the scenario to refuse in its own words.

    Parameters
    ----------
    template : the family's template (distributions not yet drawn).
    dists : its distributions by location (:func:`template_distributions`).
    source : the file, for the message.
    """
    segments = template.get("segments")
    if not draws_sizes(dists) or not isinstance(segments, list):
        return
    if len(segments) == 1:
        raise ScenarioError(f"{source}: {segment_field(segments, 0)}: the only segment's share of the audience is 1 "
                            f"in every draw (drawn sizes are weights divided by their sum); give size: 1")
    drawn = {loc[1]: nominal_value(d) for loc, d in dists.items() if len(loc) == 3 and loc[0] == "segments"
             and loc[2] == "size"}
    written = [drawn.get(j, s.get("size") if isinstance(s, dict) else None) for j, s in enumerate(segments)]
    if len(drawn) == len(segments) or not all(_positive(w) for w in written):
        return
    sizes = [float(w) for w in written if w is not None]  # every one a positive number (checked above)
    fixed = [j for j in range(len(segments)) if j not in drawn]
    names = ", ".join(segment_field(segments, j) for j in drawn)
    fixed_sum = float(sum(sizes[j] for j in fixed))
    if fixed_sum >= 1.0:
        raise ScenarioError(
            f"{source}: {', '.join(segment_field(segments, j) for j in fixed)}: the fixed sizes sum to "
            f"{fixed_sum:.6g}, "
            f"leaving no share for the drawn {names}; expected fixed sizes summing to less than 1 (shares of the "
            f"audience, the drawn sizes at their nominal values taking the rest)"
        )
    total = float(sum(sizes))
    if abs(total - 1.0) > SIZES_SUM_TOL:
        at = ", ".join(f"{sizes[j]:.6g}" for j in drawn)
        raise ScenarioError(
            f"{source}: segments[*].size: the sizes sum to {total:.6g} ({sizes_text(segments, sizes)}) with the drawn "
            f"{names} at {'its nominal value' if len(drawn) == 1 else 'their nominal values'} {at}; expected 1 (the "
            f"nominal campaign's shares, each draw's sizes divided by their sum), or a "
            f"distribution on every size for pure weights"
        )


def _positive(w: object) -> bool:
    """Whether ``w`` is a positive finite number (not a bool)."""
    return isinstance(w, (int, float)) and not isinstance(w, bool) and 0 < w < float("inf")


def relative_sizes(data: dict[str, Any]) -> dict[str, Any]:
    r"""A materialised template's segment sizes as shares: each size :math:`w_s` divided by their sum,

    .. math:: \sigma_s = \frac{w_s}{\sum_r w_r},

    so the sizes sum to 1 as a scenario requires (a draw that changes one size breaks that with
    probability 1). With independent log-normal weights the shares are logistic-normal; with gamma
    weights they would be Dirichlet. Sizes that are not all positive numbers are left as they are, for the
    scenario to refuse in its own words (``segments[0].size: ... greater than or equal to``).

    Parameters
    ----------
    data : a scenario mapping with no distributions left (:func:`materialise`'s result); changed in place.

    Returns
    -------
    dict
        ``data``.
    """
    segments = data.get("segments")
    if not isinstance(segments, list) or not all(isinstance(s, dict) for s in segments):
        return data
    sizes = [s.get("size") for s in segments]
    if not all(_positive(w) for w in sizes):
        return data
    total = float(sum(sizes))
    for segment, w in zip(segments, sizes, strict=True):
        segment["size"] = w / total
    return data


def reach_variants(node: Any, loc: tuple[Any, ...] = ()) -> Iterator[tuple[tuple[Any, ...], Any, Any]]:
    """Every way of fixing one distribution of ``node`` at an end of its reach
    (:func:`~budgetgym.envs.distributions.reach`), the others left as they are.

    A ``choice`` is fixed at each of its values, and each distribution inside a value at the ends of
    its reach (the choice fixed at that value). :func:`materialise` with the nominal value resolves the
    rest, so each variant is a campaign the family can draw (up to the tail of an unbounded
    distribution), and the family's checks at load time cover every distribution's whole reach, one
    field at a time.

    Parameters
    ----------
    node : a template (or a part of one) holding validated distributions.
    loc : where ``node`` lies in the template.

    Yields
    ------
    tuple
        ``(location, value, variant)``: the location of the fixed distribution (of the value for a
        choice: ``(..., "values", j)``), the value it is fixed at, and ``node`` with it fixed.
    """
    if is_distribution(node):
        dist = _DIST.validate_python(node)
        for j, value in enumerate(reach(dist)):
            if isinstance(dist, Choice):
                yield (*loc, "values", j), value, value
                yield from reach_variants(value, (*loc, "values", j))
            else:
                yield loc, value, value
    elif isinstance(node, dict):
        for key, child in node.items():
            for where, value, variant in reach_variants(child, (*loc, key)):
                yield where, value, {**node, key: variant}
    elif isinstance(node, list):
        for j, child in enumerate(node):
            for where, value, variant in reach_variants(child, (*loc, j)):
                yield where, value, [*node[:j], variant, *node[j + 1:]]
