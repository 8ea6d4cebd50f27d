r"""Scenario family files (``configs/families/*.yaml``), the built-in families and :func:`load_family`.

What a family is and how it is drawn: :mod:`budgetgym.envs.scenario_family` (:class:`ScenarioFamily`,
re-exported here with :data:`Split`, :data:`VALIDATION_DRAWS` and :data:`MAX_REDRAWS`, so
``budgetgym.envs.family`` imports keep working).

File format (``configs/families/*.yaml``)::

    family: retail-5-family           # marks a family file; its name
    description: ...
    seed: 0                           # the family's seed streams
    scenario: {...}                   # the template: a scenario mapping with distributions,
    # or:  scenario: stationary-5      # a built-in name or a YAML path (beside this file, else from the cwd), and
    #      vary: {channels.search.saturation.half_saturation: {dist: lognormal, median: 2600, sd: 0.4}}
    ensemble: [{...}, ...]            # optional, instead of distributions: dotted changes per member
    test_fraction: 0.2                # ensemble only
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

from pydantic import Field, ValidationError

from budgetgym.envs.dotted_paths import set_dotted
from budgetgym.envs.errors import ScenarioError, ScenarioWarning, StrictModel, unknown, validation_error
from budgetgym.envs.family_template import holds_distribution, is_distribution
from budgetgym.envs.io import names_a_file, read_yaml
from budgetgym.envs.scenario import (
    Scenario,
    builtin_scenario_dir,
    list_scenarios,
    load_scenario,
    scenario_from_dict,
    warn_unlikely,
)
from budgetgym.envs.scenario_family import MAX_FAMILY_SEED, MAX_REDRAWS, VALIDATION_DRAWS, ScenarioFamily, Split

__all__ = [
    "MAX_REDRAWS",
    "VALIDATION_DRAWS",
    "ScenarioFamily",
    "Split",
    "builtin_family_dir",
    "family_file",
    "list_families",
    "load_family",
]


class FamilyFile(StrictModel):
    """The family file's top level (module docstring)."""

    family: str = Field(pattern=r"^[A-Za-z0-9_.-]{1,60}$", description="the family's name")
    description: str = ""
    seed: int = Field(0, ge=0, le=MAX_FAMILY_SEED, description="seed of the family's train/test draw streams")
    scenario: dict[str, Any] | str = Field(description="template mapping, or a scenario name/path")
    vary: dict[str, Any] = Field(default_factory=dict, description="dotted field -> distribution")
    ensemble: list[dict[str, Any]] | None = Field(None, min_length=2, description="dotted changes per member")
    test_fraction: float = Field(0.2, gt=0, lt=1, description="ensemble: share of members held out")



# --------------------------------------------------------------------------- loading
def builtin_family_dir() -> Path:
    """Folder holding the built-in family YAML files."""
    return builtin_scenario_dir().parent / "families"


def list_families() -> list[str]:
    """Names of the built-in families, sorted."""
    return sorted(p.stem for p in builtin_family_dir().glob("*.yaml"))


def family_file(name: str | Path) -> Path:
    """The YAML file that :func:`load_family` reads for ``name``: the path itself, or the file
    of a built-in family."""
    return Path(name) if names_a_file(name) else builtin_family_dir() / f"{name}.yaml"


def scenario_beside(name: str, base: Path | None) -> str:
    """A family file's ``scenario:`` name: a relative path found beside the file (in ``base``) as
    that file, else as written (a built-in name, or a path from the working directory), as an
    experiment file's scenario paths are."""
    if base is not None and names_a_file(name) and not Path(name).is_absolute() and (base / name).is_file():
        return str(base / name)
    return name


def family_scenario(name: str, base: Path | None, source: str) -> Scenario:
    """The scenario a family file's ``scenario:`` names (:func:`scenario_beside`); an unknown name or a
    bad file is a one-line error naming the family file (``source``) and the field.

    Raises
    ------
    ScenarioError
        ``"<source>: scenario: <what is wrong with it>"``.
    """
    try:
        return load_scenario(scenario_beside(name, base))
    except ScenarioError as err:
        out = ScenarioError(f"{source}: scenario: {err}")
        out.details = err.details
        raise out from None


def unshared(node: Any) -> Any:
    """A deep copy of YAML data in which no mapping or list is shared: a YAML alias (``*sat``) loads as
    the anchor's object itself, so setting a field through one place (``vary``) would set it in every
    place that reuses the anchor (``copy.deepcopy`` keeps such sharing)."""
    if isinstance(node, dict):
        return {k: unshared(v) for k, v in node.items()}
    if isinstance(node, list):
        return [unshared(v) for v in node]
    return node


def family_from_dict(data: object, source: str = "family", base: Path | None = None) -> ScenarioFamily:
    """Validate a family mapping (module docstring) into a :class:`ScenarioFamily`.

    Parameters
    ----------
    data : the family mapping.
    source : what the errors name (the file).
    base : the family file's folder: a relative ``scenario:`` path is looked up there first
        (:func:`scenario_beside`).
    """
    if not isinstance(data, dict):
        raise ScenarioError(f"{source}: expected a mapping with a 'family' key, got {type(data).__name__}")
    try:
        spec = FamilyFile.model_validate(data)
    except ValidationError as err:
        raise validation_error(err, source, FamilyFile, ScenarioError) from None
    if "test_fraction" in spec.model_fields_set and spec.ensemble is None:
        raise ScenarioError(
            f"{source}: test_fraction: only an explicit ensemble takes it (a template's test draws come from "
            f"their own seed stream); remove it"
        )
    if is_distribution(spec.scenario):  # else read as a distribution at the top level
        raise ScenarioError(
            f"{source}: scenario: expected a scenario mapping or a scenario name, got a distribution "
            f"({spec.scenario['dist']}); a family varies the fields inside one scenario (or lists an ensemble)"
        )
    if isinstance(spec.scenario, str):
        template = family_scenario(spec.scenario, base, source).model_dump(mode="python")  # every field
    else:
        template = unshared(spec.scenario)  # vary edits it: the caller's mapping, and each YAML alias, kept apart
    template["name"] = spec.family  # every draw carries the family's name (the brief's)
    if spec.description:
        template["description"] = spec.description
    for key, dist in spec.vary.items():
        if not holds_distribution(dist):  # a fixed value under vary made the family a campaign of one, silently
            raise ScenarioError(
                f"{source}: vary.{key}: expected a distribution ({{dist: ...}}), got {dist!r}; a fixed value "
                f"belongs in scenario:"
            )
        set_dotted(template, key, dist, what=f"{source}: vary")
    family = ScenarioFamily(
        spec.family,
        template,
        description=spec.description,
        seed=spec.seed,
        ensemble=spec.ensemble,
        test_fraction=spec.test_fraction,
        source=source,
    )
    if not isinstance(spec.scenario, str):  # a named scenario file was warned of as it loaded
        warn_unlikely(family.nominal(), f"{source} (nominal scenario)")
        if "response_unit" not in spec.scenario and not spec.vary and _looks_like_revenue(family.nominal()):
            warnings.warn(
                f"{source}: scenario.response_unit: not given; assumed conversions (the default: each unit of the "
                f"response a conversion worth 1, with a CPA of spend per unit). A revenue KPI's calibrated family "
                f"written before calibrate wrote the field is revenue itself: add response_unit: currency",
                ScenarioWarning, stacklevel=2)
    return family


def _looks_like_revenue(sc: Scenario) -> bool:
    """Whether a family's nominal scenario has the marks of a revenue KPI's calibrated family written before
    ``response_unit`` was written in every family: a revenue or profit reward, no segments and every channel's
    value per conversion 1 (a count's calibrated family has a conversions reward or, with ``--revenue-per-kpi``,
    the revenue of a conversion as its value)."""
    return (sc.reward in ("revenue", "profit") and sc.segments is None
            and all(c.value.mean == 1.0 for c in sc.channels))


def load_family(name_or_path: str | Path | Scenario | ScenarioFamily) -> ScenarioFamily:
    """A family by built-in family name, built-in scenario name (a family of one), YAML path (a
    family file, or a scenario file: a family of one), :class:`Scenario` or family.

    Raises
    ------
    ScenarioError
        One line naming the file, the field path and what was expected.
    """
    if isinstance(name_or_path, ScenarioFamily):
        return name_or_path
    if isinstance(name_or_path, Scenario):
        return ScenarioFamily.of_scenario(name_or_path)
    if not isinstance(name_or_path, (str, Path)):
        raise ScenarioError(
            f"scenario: expected a built-in name, a YAML path or a Scenario (or a ScenarioFamily), "
            f"got {type(name_or_path).__name__}"
        )
    text = str(name_or_path)
    if not names_a_file(text) and text not in list_families():
        if text in list_scenarios():
            return ScenarioFamily.of_scenario(load_scenario(text))
        raise ScenarioError(unknown("scenario", text, list_scenarios() + list_families()))
    path = family_file(text)
    data = read_yaml(path, "scenario file", ScenarioError)
    if isinstance(data, dict) and "family" in data:
        return family_from_dict(data, source=f"family file '{path}'", base=path.parent)
    source = f"scenario file '{path}'"
    return ScenarioFamily.of_scenario(warn_unlikely(scenario_from_dict(data, source=source), source))
