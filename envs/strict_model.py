"""The one strict base model for validated input (:class:`StrictModel`) and its check of number fields.

Every validated model of budgetgym (scenarios, experiments, agent parameters, hyperparameters,
baselines) derives from :class:`StrictModel`: unknown keys are errors, instances are immutable,
NaN and infinite numbers are refused, and so is a boolean, a string or (in an integer field) a float
where a number is expected, which pydantic's lax mode would have read as one. The messages it raises
are plain ``ValueError`` exceptions that pydantic collects; :mod:`budgetgym.envs.errors` turns them into
one-line errors naming the file and field.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any, Literal, get_args, get_origin

from pydantic import BaseModel, ConfigDict, model_validator

__all__ = ["StrictModel"]


def _wants_number(annotation: object) -> bool:
    """Whether a field's annotation asks for a number (``int`` or ``float``, perhaps optional, constrained
    or in a container) and never a boolean."""
    stack, number = [annotation], False
    while stack:
        tp = stack.pop()
        if tp is bool:
            return False
        number = number or tp in (int, float)
        stack.extend(get_args(tp))
    return number


def _holds_model(annotation: object) -> bool:
    """Whether an annotation has a validated model anywhere in it (its dicts are that model's own,
    whose booleans are its own business)."""
    stack = [annotation]
    while stack:
        tp = stack.pop()
        if isinstance(tp, type) and issubclass(tp, BaseModel):
            return True
        stack.extend(get_args(tp))
    return False


def _value_types(annotation: object) -> list[object]:
    """Every type an annotation's *values* may have: through unions, lists and ``Annotated``, and a
    dict's value type (never its key type: ``dict[str, float]`` holds numbers, not text)."""
    found, stack = [], [annotation]
    while stack:
        tp = stack.pop()
        found.append(tp)
        args = get_args(tp)
        stack.extend(args[1:2] if get_origin(tp) is dict else args)
    return found


def _number_rule(annotation: object) -> str:
    """What a number field refuses besides a boolean: ``"integer"`` (a string that reads as a number
    too: PyYAML reads every integer written as one as an int, so ``"2"`` is a slip), ``"number"`` (such a
    string too, but for a number in exponent notation, which PyYAML's YAML 1.1 reads as text: ``1e-3``,
    ``2.5e3``) or ``"text"`` (nothing else: the field takes text too, e.g. ``float | Literal['auto']``)."""
    types = _value_types(annotation)
    if any(tp is str or tp is Any or (get_origin(tp) is Literal and any(isinstance(a, str) for a in get_args(tp)))
           for tp in types):
        return "text"
    return "number" if float in types else "integer"


#: A number in exponent notation: PyYAML (YAML 1.1) reads it as a string unless it has a dot and a signed
#: exponent (``1e-3``, ``1.5e3``), YAML 1.2 as a float.
_EXPONENT_NUMBER = re.compile(r"[-+]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)[eE][-+]?[0-9]+")


def _reads_as_number(text: str) -> bool:
    """Whether pydantic's lax mode would read ``text`` as a number (``"2"``, ``" 0.9 "``); other text
    (``"lots"``) is left to pydantic's own message."""
    try:
        float(text)
    except ValueError:
        return False
    return True


def _integral(annotation: object) -> bool:
    """Whether a field's numbers are integers only: ``int`` among its value types and ``float`` not
    (``episodes: int``, ``seeds: list[int]``, ``window: int | None``)."""
    types = _value_types(annotation)
    return int in types and float not in types


def _mistyped_in(
    value: object, deep: bool, where: str, rule: str, integral: bool
) -> tuple[str, str, object] | None:
    """Where the first value in ``value`` that its field must not take is (``value`` itself, or with
    ``deep`` a dict's values and a list's items, nested; ``where`` is ``value``'s own name), and what it
    is (``"a boolean (true)"``, ``"a string ('2')"``, ``"a float (2.0)"``) with the value, else ``None``.
    Booleans are refused in every number field; a string that reads as a number as :func:`_number_rule`
    says; a float (whole or not) in an ``integral`` field (:func:`_integral`)."""
    if isinstance(value, bool):
        return where, f"a boolean ({str(value).lower()})", value
    if integral and isinstance(value, float):
        return where, f"a float ({value!r})", value
    if isinstance(value, str) and rule != "text" and _reads_as_number(value) \
            and not (rule == "number" and _EXPONENT_NUMBER.fullmatch(value.strip())):
        return where, f"a string ({value!r})", value
    items: Iterable[tuple[str, object]] = ()
    if deep and isinstance(value, dict):
        items = ((f"{where}.{k}", v) for k, v in value.items())
    elif deep and isinstance(value, (list, tuple)):
        items = ((f"{where}[{i}]", v) for i, v in enumerate(value))
    for name, item in items:
        if (found := _mistyped_in(item, deep, name, rule, integral)) is not None:
            return found
    return None


#: Per model class: its number fields, each with whether its containers (``dict[str, float]``,
#: ``list[int]``) are searched too (not when the field can hold a model), its :func:`_number_rule` and
#: whether it is :func:`_integral`.
_NUMBER_FIELDS: dict[type, dict[str, tuple[bool, str, bool]]] = {}


class StrictModel(BaseModel):
    """The package's one base for validated input (scenarios, experiments, agent parameters,
    hyperparameters, baselines): unknown keys are errors, instances are immutable, NaN or
    infinite numbers are rejected, and so is a boolean where a number is expected, also inside a
    field's list or dict of numbers (pydantic's lax mode reads ``episodes: true`` as 1 and a segment's
    ``reach: {social: true}`` as 1.0), and so is a string: ``episodes: "2"`` (lax mode read it as 2)
    and ``reps: "1000"`` are refused in an integer field; a float field refuses ``confidence: "0.9"``
    but takes a number in exponent notation (``learning_rate: 3e-4``, ``price: 1e-3``), which PyYAML
    (YAML 1.1) reads as a string and YAML 1.2 as a number. A field that also takes text
    (``dispersion: auto``) takes any string its own validation accepts. A float field takes an integer;
    an integer field refuses a float, whole or not: lax mode read ``episodes: 2.0`` (and ``1.0e+3``)
    as an integer."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    @model_validator(mode="before")
    @classmethod
    def _no_mistyped_numbers(cls, data: Any) -> Any:
        if isinstance(data, dict):
            fields = _NUMBER_FIELDS.get(cls)
            if fields is None:
                fields = _NUMBER_FIELDS[cls] = {
                    n: (not _holds_model(f.annotation), _number_rule(f.annotation), _integral(f.annotation))
                    for n, f in cls.model_fields.items()
                    if _wants_number(f.annotation)
                }
            for name, value in data.items():
                if name not in fields:
                    continue
                deep, rule, integral = fields[name]
                if (found := _mistyped_in(value, deep, name, rule, integral)) is not None:
                    kind = "a number" if isinstance(found[2], bool) or rule != "integer" and isinstance(found[2], str) \
                        else "an integer"
                    raise ValueError(f"{found[0]}: expected {kind}, got {found[1]}")
        return data
