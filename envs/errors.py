"""User-facing errors.

Every error that a user can cause with a bad file, a bad argument or a bad
action derives from :class:`BudgetGymError`. Its message is a single line that
names the file and/or field and what was expected, so command-line front ends
can print it without a traceback and exit with code 2.
"""

from __future__ import annotations

import difflib
from typing import get_args

from pydantic import BaseModel, ConfigDict, ValidationError

__all__ = ["BudgetGymError", "ScenarioError", "StrictModel", "format_validation_error"]


class BudgetGymError(ValueError):
    """A problem with the user's input (file, field, argument). One-line message."""


class ScenarioError(BudgetGymError):
    """A scenario file or scenario object is invalid."""


class StrictModel(BaseModel):
    """The package's one base for validated input (scenarios, experiments, agent parameters,
    hyperparameters, baselines): unknown keys are errors, instances are immutable, and NaN or
    infinite numbers are rejected."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


# --------------------------------------------------------------- validation messages
def _format_loc(loc: tuple) -> str:
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


def _fields_at(model: type[BaseModel], loc: tuple) -> set[str]:
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
            stack = [info.annotation]
            while stack:
                tp = stack.pop()
                if isinstance(tp, type) and issubclass(tp, BaseModel):
                    todo.append(tp)
                stack.extend(get_args(tp))
    return names


def format_validation_error(err: ValidationError, source: str, model: type[BaseModel] | None = None) -> str:
    """One line for a pydantic validation error: ``source: field.path: what was expected``.

    Parameters
    ----------
    err : the error pydantic raised.
    source : what was validated (a file name, ``"agent 'greedy' parameters"``, ...).
    model : the model validated; for an unknown key the closest known field name is suggested
        (``(did you mean 'half_saturation'?)``), first among the fields at the error's own level.

    The first error is described (an unknown key first: a misspelt key also causes a "Field
    required" for the real name), with the rejected value; further errors are counted.
    """
    errors = err.errors(include_url=False)
    # a misspelt key also produces "Field required" for the real name: name the typo first
    errors.sort(key=lambda e: e["type"] != "extra_forbidden")
    first = errors[0]
    msg = first["msg"].removeprefix("Value error, ")
    where = _format_loc(tuple(first["loc"]))
    text = f"{source}: {where}: {msg}"
    if first["type"] == "extra_forbidden" and model is not None and first["loc"]:
        typo = str(first["loc"][-1])
        close = difflib.get_close_matches(typo, sorted(_fields_at(model, tuple(first["loc"][:-1]))), n=1)
        close = close or difflib.get_close_matches(typo, sorted(_field_names(model)), n=1)
        if close:
            text += f" (did you mean '{close[0]}'?)"
    if first["type"] not in ("missing", "extra_forbidden") and "input" in first:
        given = first["input"]
        if not isinstance(given, (dict, list)):
            text += f" (got {given!r})"
    if len(errors) > 1:
        text += f" (and {len(errors) - 1} more error{'s' if len(errors) > 2 else ''})"
    return " ".join(text.split())
