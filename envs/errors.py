"""User-facing errors, and their one-line messages.

Every error that a user can cause with a bad file, a bad argument or a bad
action derives from :class:`BudgetGymError`. Its message is a single line that
names the file and/or field and what was expected, so command-line front ends
can print it without a traceback and exit with code 2; ``details`` lists every
problem when the line names only the first (``budgetgym --verbose`` prints them).

The one strict base model for validated input, :class:`~budgetgym.envs.strict_model.StrictModel`,
lives in :mod:`budgetgym.envs.strict_model`; it is re-exported here, where it has always been imported from.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable
from typing import Any, TypeGuard, get_args

import numpy as np
from pydantic import BaseModel, ValidationError

# StrictModel moved to its own module; re-exported on purpose: every config model imports it from here.
from budgetgym.envs.strict_model import StrictModel

__all__ = [
    "BudgetGymError",
    "ScenarioError",
    "ScenarioWarning",
    "StrictModel",
    "count",
    "format_validation_error",
    "is_integer",
    "suggest",
    "unknown",
    "validation_details",
    "validation_error",
]


def is_integer(value: object) -> TypeGuard[int | np.integer[Any]]:
    """An integer, Python's or numpy's: not a bool (``True`` is an ``int`` to Python), a float or a string."""
    return isinstance(value, (int, np.integer)) and not isinstance(value, bool)


class BudgetGymError(ValueError):
    """A problem with the user's input (file, field, argument). One-line message.

    ``details`` optionally lists every problem found (e.g. each validation error of a file
    when the message names only the first); ``budgetgym --verbose`` prints them.
    """

    details: tuple[str, ...] = ()


class ScenarioError(BudgetGymError):
    """A scenario file or scenario object is invalid."""


class ScenarioWarning(UserWarning):
    """A scenario that loads but is probably not what its author meant (a channel that reaches no
    segment); one line naming the file and field, which ``budgetgym`` prints as ``warning: ...``."""


def count(n: float, noun: str, plural: str | None = None) -> str:
    """``"1 draw"``, ``"3 draws"``: ``n`` and ``noun``, singular for exactly one (every message and table of
    budgetgym counts with it; ``budgetgym.experiments.wording`` re-exports it).

    Parameters
    ----------
    n : the count; a float (a step of ``7.0`` days) is written as ``:g`` writes it (``7``, ``30.4375``).
    noun : the singular noun (may be several words: ``"held-out draw"``).
    plural : the plural when it is not ``noun + "s"`` (``count(n, "entry", "entries")``).

    Examples
    --------
    >>> count(1, "channel"), count(2, "channel"), count(0, "entry", "entries"), count(1.0, "day")
    ('1 channel', '2 channels', '0 entries', '1 day')
    """
    shown = f"{n:g}" if isinstance(n, float) else f"{n}"
    return f"{shown} {noun if n == 1 else plural or noun + 's'}"


def repeated(names: Iterable[str]) -> list[str]:
    """The names that occur more than once, sorted (the uniqueness checks of the config models).

    >>> repeated(["a", "b", "a", "c", "b"])
    ['a', 'b']
    """
    seen: set[str] = set()
    dupes: set[str] = set()
    for n in names:
        (dupes if n in seen else seen).add(n)
    return sorted(dupes)


def suggest(name: str, choices: Iterable[str]) -> str:
    """A ``" (did you mean 'x'?)"`` hint naming the choice closest to ``name``, or ``""``.

    A choice equal to ``name`` but for case comes first (``date`` for a column ``DATE``: difflib
    compares case-sensitively and finds no likeness there); otherwise closeness is
    :func:`difflib.get_close_matches` (ratio >= 0.6), the rule the validation messages use for
    misspelt keys, so every "did you mean" of budgetgym agrees.

    Examples
    --------
    >>> suggest("gredy", ["equal", "greedy", "ucb1"])
    " (did you mean 'greedy'?)"
    >>> suggest("date", ["DATE", "revenue"])
    " (did you mean 'DATE'?)"
    >>> suggest("zzz", ["equal", "greedy"])
    ''
    """
    names = sorted(set(choices))
    close = [c for c in names if c.casefold() == name.casefold()] or difflib.get_close_matches(name, names, n=1)
    return f" (did you mean '{close[0]}'?)" if close else ""


def unknown(kind: str, name: str, choices: Iterable[str]) -> str:
    """``"unknown agent 'gredy' (did you mean 'greedy'?)"``, or, with no close choice,
    ``"unknown agent 'zzz': expected one of a, b, c"``."""
    names = sorted(set(choices))
    return f"unknown {kind} '{name}'" + (suggest(name, names) or f": expected one of {', '.join(names)}")


# --------------------------------------------------------------- validation messages
def format_loc(loc: tuple[Any, ...]) -> str:
    """``("channels", 2, "cost", "price")`` -> ``channels[2].cost.price``."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out or "(top level)"


def _models_in(annotation: object) -> list[type[BaseModel]]:
    """The pydantic models an annotation refers to (through unions, lists, Annotated...)."""
    found, stack = [], [annotation]
    while stack:
        tp = stack.pop()
        if isinstance(tp, type) and issubclass(tp, BaseModel):
            found.append(tp)
        stack.extend(get_args(tp))
    return found


def _fields_at(model: type[BaseModel], loc: tuple[Any, ...]) -> set[str]:
    """Field names of the model(s) reached by following ``loc`` (list indices skipped)."""
    level = [model]
    for part in loc:
        if isinstance(part, int):
            continue
        nxt = [m for cls in level if part in cls.model_fields for m in _models_in(cls.model_fields[part].annotation)]
        if not nxt:
            break
        level = nxt
    return {name for cls in level for name in cls.model_fields}


def _field_names(model: type[BaseModel]) -> set[str]:
    """All field names of ``model`` and of the models nested in its fields."""
    names: set[str] = set()
    todo, seen = [model], set()
    while todo:
        cls = todo.pop()
        if cls in seen:
            continue
        seen.add(cls)
        for name, info in cls.model_fields.items():
            names.add(name)
            todo.extend(_models_in(info.annotation))
    return names


def _sorted_errors(err: ValidationError) -> list[Any]:
    errors = err.errors(include_url=False)
    # a misspelt key also produces "Field required" for the real name: name the typo first
    errors.sort(key=lambda e: e["type"] != "extra_forbidden")
    return errors


#: A message that begins with a field path and a colon (``segments[0].reach: ...``, ``price: ...``).
_LEADING_PATH = re.compile(r"([A-Za-z_][\w-]*)((?:\[\d+\]|\.[\w-]+)*): ")


def _located(loc: tuple[Any, ...], msg: str, model: type[BaseModel] | None) -> str:
    """``field.path: message`` for a message at ``loc``. A model's own check names the field it is about
    at the start of its message (``"segments[0].reach: unknown channel(s) zz"`` from the scenario, ``"price:
    expected a number"`` from a cost block): that path, when it starts with a field of the model at ``loc``,
    is joined to ``loc`` (``segments[0].reach: ...``, ``channels[0].cost.price: ...``) instead of following
    the model's own location (``(top level): segments[0].reach: ...``)."""
    found = _LEADING_PATH.match(msg)
    if model is not None and found and found[1] in _fields_at(model, loc):
        return f"{format_loc((*loc, found[1]))}{found[2]}: {msg[found.end():]}"
    return f"{format_loc(loc)}: {msg}"


def _quoted(text: str) -> list[str]:
    """The names quoted in pydantic's list of choices: ``"'hill', 'logistic'"`` -> ``['hill', 'logistic']``."""
    return re.findall(r"'([^']*)'", text)


def _describe(error: Any, model: type[BaseModel] | None) -> str:
    """``field.path: what was expected (did you mean 'x'?) (got value)`` for one error."""
    msg = error["msg"].removeprefix("Value error, ")
    loc = tuple(error["loc"])
    text = _located(loc, msg, model)
    if error["type"] == "union_tag_invalid":  # a misspelt curve type: ``saturation: {type: hil}``
        ctx = error["ctx"]
        key, tag = str(ctx["discriminator"]).strip("'"), str(ctx["tag"])
        kind = f"{loc[-1]} {key}" if loc and isinstance(loc[-1], str) else key
        return (f"{format_loc((*loc, key))}: unknown {kind} '{tag}'{suggest(tag, _quoted(ctx['expected_tags']))}; "
                f"expected one of {ctx['expected_tags']}")
    if error["type"] == "extra_forbidden" and model is not None and error["loc"]:
        typo = str(error["loc"][-1])
        # the fallback looks at every level, where the key itself may be a field: never suggest the key back
        hint = suggest(typo, _fields_at(model, tuple(error["loc"][:-1]))) or suggest(
            typo, _field_names(model) - {typo}
        )
        text += hint
    if error["type"] not in ("missing", "extra_forbidden") and "input" in error:
        given = error["input"]
        if not isinstance(given, (dict, list)):
            text += f" (got {given!r})"
        if error["type"] == "literal_error" and isinstance(given, str):  # ``unit: clik``
            text += suggest(given, _quoted(error["ctx"]["expected"]))
    return " ".join(text.split())


def validation_details(err: ValidationError, model: type[BaseModel] | None = None) -> tuple[str, ...]:
    """One line per validation error (the same wording as :func:`format_validation_error`)."""
    return tuple(_describe(e, model) for e in _sorted_errors(err))


def format_validation_error(err: ValidationError, source: str, model: type[BaseModel] | None = None) -> str:
    """One line for a pydantic validation error: ``source: field.path: what was expected``.

    Parameters
    ----------
    err : the error pydantic raised.
    source : what was validated (a file name, ``"agent 'greedy' parameters"``, ...).
    model : the model validated; for an unknown key the closest known field name is suggested
        (``(did you mean 'half_saturation'?)``), first among the fields at the error's own level.

    The first error is described (an unknown key first: a misspelt key also causes a "Field
    required" for the real name), with the rejected value; further errors are counted and
    :func:`validation_details` lists them all.
    """
    errors = _sorted_errors(err)
    text = f"{source}: {_describe(errors[0], model)}"
    if len(errors) > 1:
        text += f" (and {count(len(errors) - 1, 'more error')})"
    return " ".join(text.split())


def validation_error(
    err: ValidationError,
    source: str,
    model: type[BaseModel] | None = None,
    cls: type[BudgetGymError] = BudgetGymError,
) -> BudgetGymError:
    """A :class:`BudgetGymError` (or ``cls``) with :func:`format_validation_error`'s line as its
    message and every error in ``details``; raise it ``from None``."""
    out = cls(format_validation_error(err, source, model))
    out.details = validation_details(err, model)
    return out
