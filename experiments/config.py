"""Experiment files: YAML -> validated, immutable :class:`ExperimentConfig`.

An experiment names the scenarios, the agents (with their parameters and, for learners,
a training configuration), the evaluation seeds and the episodes per evaluation::

    name: quickstart
    scenarios: [stationary-3, {scenario: seasonal-5, set: {horizon: 60}, label: seasonal-5-short},
                retail-5-family]                # a scenario family: scored on held-out draws
    agents:
      - equal                                   # shorthand for {agent: equal}
      - {agent: ucb1, label: ucb1-wide, params: {c: 1.0}}
      - agent: proportional                     # parameters per scenario (merged over `params`)
        scenario_params: {stationary-3: {weights: {search: 5, social: 2, video: 1}}}
        scenarios: [stationary-3]               # run on these scenario labels only
      - {agent: ppo, train: {total_timesteps: 10000}}   # a learner: trained before evaluation
    seeds: 5                                    # 0..4, or a list [0, 3, 7]
    episodes: 1                                 # episodes per evaluation seed
    draws: 10                                   # per family: held-out test draws (and as many train draws)
    baseline: equal                             # uplift is measured against this agent
    imports: [my_package.agents]                # modules registering custom agents
    bootstrap: {reps: 5000, confidence: 0.95, seed: 0}

Every key, its default and the ``--set`` syntax are documented in
``configs/experiments/README.md`` (a test keeps it in step with these models).

Every model forbids unknown keys; :func:`load_experiment` turns any problem into a
one-line :class:`~budgetgym.envs.errors.BudgetGymError` naming the file and the field.
``--set key=value`` overrides (:func:`apply_overrides`) are applied to the raw mapping
before validation, so they are validated like the file itself.
"""

from __future__ import annotations

import contextlib
from importlib import resources
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from budgetgym.envs.errors import BudgetGymError, is_integer, suggest, unknown, validation_error
from budgetgym.envs.io import json_digest, names_a_file, read_yaml
from budgetgym.experiments.campaigns import Campaign
from budgetgym.experiments.experiment_spec import (
    DEFAULT_DRAWS,
    AgentSpec,
    BootstrapConfig,
    ExperimentConfig,
    ScenarioSpec,
)
from budgetgym.experiments.overrides import apply_overrides, parse_overrides

__all__ = [
    "AgentSpec",
    "BootstrapConfig",
    "Campaign",
    "DEFAULT_DRAWS",
    "ExperimentConfig",
    "ScenarioSpec",
    "apply_overrides",
    "builtin_experiment_dir",
    "check_agent_names",
    "check_agents",
    "config_hash",
    "experiment_from_dict",
    "hashed_settings",
    "list_experiments",
    "load_experiment",
    "parse_overrides",
    "read_experiment_file",
]

def builtin_experiment_dir() -> Path:
    """Folder holding the built-in experiment files (``quickstart``, ``paper``)."""
    return Path(str(resources.files("budgetgym") / "configs" / "experiments"))


def list_experiments() -> list[str]:
    """Names of the built-in experiments, sorted."""
    return sorted(p.stem for p in builtin_experiment_dir().glob("*.yaml"))


def experiment_from_dict(data: object, source: str = "experiment") -> ExperimentConfig:
    """Validate a mapping into an :class:`ExperimentConfig`; errors are one-line BudgetGymErrors."""
    if not isinstance(data, dict):
        raise BudgetGymError(f"{source}: expected a mapping of experiment fields, got {type(data).__name__}")
    try:
        return ExperimentConfig.model_validate(data)
    except ValidationError as err:
        raise validation_error(err, source, ExperimentConfig) from None


def check_agents(config: ExperimentConfig, source: str = "experiment", beside: Path | None = None) -> None:
    """Import the experiment's ``imports`` (a module not on the Python path from ``beside``, the experiment
    file's folder: :func:`~budgetgym.experiments.tasks.import_modules`) and check that every agent name is
    registered.

    Raises
    ------
    BudgetGymError
        ``"<source>: agents[2].agent: unknown agent 'gredy' (did you mean 'greedy'?)"``, or a
        module of ``imports`` that cannot be imported.
    """
    from budgetgym.experiments.runner import import_modules

    try:
        import_modules(config.imports, beside)
        check_agent_names(config)
    except BudgetGymError as err:
        raise BudgetGymError(f"{source}: {err}") from None


def check_agent_names(config: ExperimentConfig) -> None:
    """Every agent name of ``config`` is registered (its ``imports`` imported first).

    Raises
    ------
    BudgetGymError
        ``"agents[2].agent: unknown agent 'gredy' (did you mean 'greedy'?)"``.
    """
    from budgetgym.agents.base import list_agents

    known = list_agents()
    for i, spec in enumerate(config.agents):
        if spec.agent not in known:
            raise BudgetGymError(f"agents[{i}].agent: {unknown('agent', spec.agent, known)}")


def _resolve_path(name_or_path: str | Path) -> Path:
    text = str(name_or_path)
    if names_a_file(text):
        return Path(text)
    builtin = builtin_experiment_dir() / f"{text}.yaml"
    if not builtin.exists():
        raise BudgetGymError(
            f"unknown experiment '{text}': expected a YAML path or one of {', '.join(list_experiments())}"
            + suggest(text, list_experiments())
        )
    return builtin


def read_experiment_file(name_or_path: str | Path) -> tuple[Path, dict[str, Any]]:
    """The file an experiment name or path refers to, and its raw YAML mapping."""
    path = _resolve_path(name_or_path)
    data = read_yaml(path, "experiment file")
    if data is None:
        raise BudgetGymError(f"experiment file '{path}': the file is empty; expected a mapping of experiment fields")
    if not isinstance(data, dict):
        raise BudgetGymError(
            f"experiment file '{path}': expected a mapping of experiment fields, got {type(data).__name__}"
        )
    return path, data


def saved_experiment(out: Path) -> ExperimentConfig | None:
    """The experiment a results directory ``out`` was run with (its ``experiment.yaml``, which
    :func:`~budgetgym.experiments.runner.run_experiment` writes); ``None`` when it has none."""
    path = out / "experiment.yaml"
    if not path.is_file():
        return None
    data = read_yaml(path, "experiment file")  # one line for a damaged file (a YAML error's text has several)
    return experiment_from_dict(data, source=f"experiment file '{path}'")


def load_experiment(
    name_or_path: str | Path | ExperimentConfig = "quickstart",
    overrides: dict[str, Any] | list[str] | tuple[str, ...] | None = None,
    seeds: int | None = None,
) -> ExperimentConfig:
    """Load an experiment by built-in name or YAML path, with overrides applied.

    Parameters
    ----------
    name_or_path : built-in name (``quickstart``, ``paper``), a YAML path, or a config.
    overrides : dotted-key changes (see :func:`apply_overrides`): a mapping (``{"episodes": 2}``), or the
        ``--set`` strings themselves (``["episodes=2"]``, :func:`parse_overrides`).
    seeds : replace the seeds by ``0..seeds-1`` (``--seeds N``).

    Scenario paths inside the file are taken relative to the file when they exist there; so is a module of
    ``imports`` that is not on the Python path (its folder is appended to ``sys.path``).

    Agent names are checked against the registry (after importing ``imports``), the scenarios
    resolved and every non-learner built on each of its scenarios
    (:func:`~budgetgym.experiments.tasks.check_grid`), so a misspelt agent, an unknown scenario,
    a bad override or a bad parameter fails here, naming the file and the field. The check is recorded
    on the config (:func:`~budgetgym.experiments.tasks.checked_grid`) for the next plan of it: running it
    does not repeat it, unless a scenario or family file it read was edited since (the run then reads
    and checks the files as they are); a second run reads the files again.

    Raises
    ------
    BudgetGymError
        One line naming the file, the field and what was expected.
    """
    if isinstance(name_or_path, ExperimentConfig):
        path, data, source = None, name_or_path.model_dump(mode="json"), f"experiment '{name_or_path.name}'"
    else:
        path, data = read_experiment_file(name_or_path)
        source = f"experiment file '{path}'"
    if seeds is not None:
        if not is_integer(seeds) or seeds < 1:
            raise BudgetGymError(f"--seeds: expected a positive integer, got {seeds!r}")
        data["seeds"] = seeds
    if isinstance(overrides, (list, tuple)):  # --set's own strings, as a notebook writes them
        overrides = parse_overrides(overrides)
    elif overrides is not None and not isinstance(overrides, dict):
        raise BudgetGymError(f"overrides: expected a mapping of dotted keys to values or a list of 'key=value' "
                             f"strings, got {type(overrides).__name__}")
    if overrides:
        data = apply_overrides(data, overrides, base=None if path is None else path.parent)
        source += f" (with --set {', '.join(overrides)})"
    if path is not None:
        data = _relative_scenarios(data, path.parent, source)
    config = experiment_from_dict(data, source)
    check_agents(config, source, None if path is None else path.parent)
    from budgetgym.experiments.tasks import checked_grid  # builds agents: imports the agents package
    from budgetgym.experiments.trainers import check_learners

    try:
        checked_grid(config)  # once: run_experiment's plan_experiment takes it
        check_learners(config)
    except BudgetGymError as err:
        raise BudgetGymError(f"{source}: {err}") from None
    return config


def _relative_scenarios(data: dict[str, Any], base: Path, source: str) -> dict[str, Any]:
    """``data`` with each scenario entry's relative file path that exists beside the experiment file (in
    ``base``) made absolute; one that exists neither there nor from the working directory is an error saying
    where it was looked for (the working directory is often not the experiment file's folder)."""
    items = data.get("scenarios")
    if not isinstance(items, list):
        return data
    out = []
    for i, item in enumerate(items):
        name = item if isinstance(item, str) else item.get("scenario") if isinstance(item, dict) else None
        if isinstance(name, str) and not Path(name).is_absolute() and (base / name).is_file():
            resolved = str((base / name).resolve())
            item = resolved if isinstance(item, str) else {**item, "scenario": resolved}
        elif isinstance(name, str) and not Path(name).is_absolute() and names_a_file(name) and not Path(name).exists():
            raise BudgetGymError(
                f"{source}: scenarios[{i}]: scenario or family file '{name}' not found beside the experiment file "
                f"(in '{base}') or in the working directory ('{Path.cwd()}')"
            )
        out.append(item)
    return {**data, "scenarios": out}


def config_hash(payload: Any) -> str:
    """SHA-256 (first 16 hex digits) of the canonical JSON of ``payload``.

    An :class:`ExperimentConfig` is hashed with every scenario entry that names a readable file
    replaced by the file's parsed content (:func:`load_experiment` makes those paths absolute):
    the hash of an experiment, recorded in ``meta.json`` and compared by the regression gate,
    must not depend on where the project is checked out.
    """
    if isinstance(payload, ExperimentConfig):
        payload = hashed_settings(payload)
    elif isinstance(payload, BaseModel):
        payload = payload.model_dump(mode="json")
    return json_digest(payload)


def hashed_settings(config: ExperimentConfig) -> dict[str, Any]:
    """``config`` dumped, with each scenario file path replaced by ``{"file": <its YAML content>}``
    (a path that cannot be read is kept as it is): the resolved settings :func:`config_hash` is the digest of,
    which the gate's baseline stores to name what differs when the hashes do."""
    data: dict[str, Any] = config.model_dump(mode="json")
    for entry in data["scenarios"]:
        name = entry["scenario"]
        if names_a_file(name) and Path(name).is_file():
            with contextlib.suppress(BudgetGymError):
                entry["scenario"] = {"file": read_yaml(name, "scenario file")}
    return data
