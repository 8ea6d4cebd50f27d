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
import hashlib
import json
from importlib import resources
from pathlib import Path
from typing import Annotated, Any

import yaml
from pydantic import (
    BaseModel,
    Field,
    PrivateAttr,
    SerializerFunctionWrapHandler,
    ValidationError,
    field_validator,
    model_serializer,
    model_validator,
)

from budgetgym.envs.errors import BudgetGymError, StrictModel, repeated, unknown, validation_error
from budgetgym.envs.family import list_families
from budgetgym.envs.io import names_a_file, read_yaml
from budgetgym.envs.scenario import Scenario, list_scenarios
from budgetgym.experiments.campaigns import Campaign, resolve_entry
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
    "list_experiments",
    "load_experiment",
    "parse_overrides",
    "read_experiment_file",
]

#: A name that is also a folder name (out/<name>, runs/<label>/): not starting with a dot, so never
#: "." or "..", which would put runs, and the clearing of an unfinished run folder, outside it.
LABEL = r"^[A-Za-z0-9_-][A-Za-z0-9_.-]{0,59}$"
#: An absolute, dotted module name (importlib raises TypeError / ValueError on a relative or empty one).
MODULE = r"^[A-Za-z_]\w*(\.[A-Za-z_]\w*)*$"
#: Most evaluation seeds an experiment may have (as for ``episodes`` and ``draws``).
MAX_SEEDS = 10_000
#: Held-out test draws (and as many train draws) a family is scored on when ``draws`` is not given.
DEFAULT_DRAWS = 10


class ScenarioSpec(StrictModel):
    """One scenario of the grid: a built-in scenario or family name, or a YAML path, optionally
    overridden."""

    scenario: str = Field(min_length=1, description="built-in scenario or family name, or YAML path")
    label: str | None = Field(None, pattern=LABEL, description="name in results; default: the scenario's name")
    set: dict[str, Any] = Field(default_factory=dict, description="Scenario.override changes (dotted keys)")
    draws: int | None = Field(None, ge=1, le=10_000, description="a family's draws; default: the experiment's")

    @model_serializer(mode="wrap")
    def _omit_unset_draws(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        # an entry without draws dumps (and hashes) exactly as before families existed
        data: dict[str, Any] = handler(self)
        if self.draws is None:
            data.pop("draws", None)
        return data


class AgentSpec(StrictModel):
    """One agent of the grid.

    ``train`` marks a learner: it is passed (as a dict) to the agent's trainer, e.g.
    ``budgetgym.agents.ppo.train_ppo(scenario, config, seed, out_dir)``, before evaluation.
    """

    agent: str = Field(min_length=1, description="registry name (see budgetgym.agents.list_agents)")
    label: str | None = Field(None, pattern=LABEL, description="name in results; default: the agent name")
    params: dict[str, Any] = Field(default_factory=dict, description="make_agent parameters")
    scenario_params: dict[str, dict[str, Any]] = Field(
        default_factory=dict,
        description="per scenario label: parameters merged over `params` (built-in names outside the grid are unused)",
    )
    scenarios: list[str] | None = Field(None, description="scenario labels to run on; default: all")
    train: dict[str, Any] | None = Field(None, description="training configuration; None: no training")
    trainer: str | None = Field(
        None, pattern=r"^[A-Za-z_][\w.]*:[A-Za-z_]\w*$", description="'module:function'; default by agent name"
    )

    @property
    def name(self) -> str:
        """The agent's label in results (``label`` or the registry name)."""
        return self.label or self.agent

    def params_for(self, scenario: str) -> dict[str, Any]:
        """``params`` with the scenario's ``scenario_params`` merged over them."""
        return {**self.params, **self.scenario_params.get(scenario, {})}

    def runs_on(self, scenario: str) -> bool:
        return self.scenarios is None or scenario in self.scenarios

    @field_validator("agent")
    @classmethod
    def _agent_pattern(cls, v: str) -> str:
        if not all(c.isalnum() or c in "_.-" for c in v):
            raise ValueError("an agent name may only hold letters, digits, '_', '.' and '-'")
        return v


class BootstrapConfig(StrictModel):
    """Settings of the percentile stratified bootstrap (see :mod:`budgetgym.experiments.stats`)."""

    reps: int = Field(5000, ge=100, le=1_000_000, description="bootstrap resamples")
    confidence: float = Field(0.95, gt=0, lt=1, description="interval coverage")
    seed: int = Field(0, ge=0, description="seed of the resampling")


class ExperimentConfig(StrictModel):
    """A validated agent x scenario x seed grid. Build it with :func:`load_experiment`."""

    name: str = Field(pattern=LABEL)
    description: str = ""
    scenarios: list[ScenarioSpec] = Field(min_length=1)
    agents: list[AgentSpec] = Field(min_length=1)
    seeds: list[int] = Field(
        min_length=1, max_length=MAX_SEEDS, description="evaluation seeds; an integer N means 0..N-1"
    )
    episodes: int = Field(1, ge=1, le=10_000, description="episodes per evaluation (per seed)")
    draws: int = Field(DEFAULT_DRAWS, ge=1, le=10_000, description="a family's test (and train) draws")
    deterministic: bool = Field(True, description="passed to predict")
    learn: bool = Field(True, description="online learners update during evaluation")
    baseline: str | None = Field(None, description="agent label for uplift; default 'equal' when present")
    imports: list[Annotated[str, Field(pattern=MODULE)]] = Field(
        default_factory=list, description="modules to import first (custom agents)"
    )
    bootstrap: BootstrapConfig = Field(default_factory=BootstrapConfig)
    # (the content checked, its campaigns, the digests of the files read): set by tasks.checked_grid, so a
    # command checks its grid once (again if a file it read was edited since)
    _checked: tuple[str, list[Campaign], dict[str, str]] | None = PrivateAttr(default=None)

    @model_serializer(mode="wrap")
    def _omit_default_draws(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        # the default is left out, so an experiment without families dumps (and hashes) as before
        data: dict[str, Any] = handler(self)
        if self.draws == DEFAULT_DRAWS:
            data.pop("draws", None)
        return data

    @field_validator("scenarios", mode="before")
    @classmethod
    def _scenario_shorthand(cls, v: Any) -> Any:
        return [{"scenario": x} if isinstance(x, str) else x for x in v] if isinstance(v, list) else v

    @field_validator("agents", mode="before")
    @classmethod
    def _agent_shorthand(cls, v: Any) -> Any:
        return [{"agent": x} if isinstance(x, str) else x for x in v] if isinstance(v, list) else v

    @field_validator("seeds", mode="before")
    @classmethod
    def _seed_count(cls, v: Any) -> Any:
        if isinstance(v, bool):
            return v
        if isinstance(v, int):
            if v < 1:
                raise ValueError("expected a positive number of seeds or a list of seeds")
            if v > MAX_SEEDS:  # checked before range(v) is built: seeds: 10**9 ran out of memory
                raise ValueError(f"expected at most {MAX_SEEDS:,} seeds")
            return list(range(v))
        return v

    @field_validator("seeds")
    @classmethod
    def _seeds_valid(cls, v: list[int]) -> list[int]:
        if any(s < 0 for s in v):
            raise ValueError(f"seeds must be non-negative, got {v}")
        if len(set(v)) != len(v):
            raise ValueError(f"seeds must be unique, got {v}")
        return v

    @model_validator(mode="after")
    def _unique_labels(self) -> ExperimentConfig:
        labels = [a.name for a in self.agents]
        dupes = repeated(labels)
        if dupes:
            raise ValueError(f"agents: repeated label(s) {', '.join(dupes)}; give each a distinct 'label'")
        dupes = repeated(s.label for s in self.scenarios if s.label)
        if dupes:
            raise ValueError(f"scenarios: repeated label(s) {', '.join(dupes)}")
        if self.baseline is not None and self.baseline not in labels:
            raise ValueError(f"baseline '{self.baseline}' is not one of the agents ({', '.join(labels)})")
        return self

    @property
    def baseline_agent(self) -> str | None:
        """The baseline label used for uplift (``baseline``, else ``equal`` when in the grid)."""
        if self.baseline is not None:
            return self.baseline
        return "equal" if any(a.name == "equal" for a in self.agents) else None

    def resolve_scenarios(self) -> list[tuple[str, Scenario]]:
        """(label, validated Scenario) for every scenario entry, overrides applied (a family
        entry gives its nominal scenario; :meth:`resolve` gives the families themselves).

        Raises
        ------
        BudgetGymError
            Unknown scenario, invalid override, or two scenarios with the same label.
        """
        return [(c.label, c.scenario) for c in self.resolve()]

    def resolve(self) -> list[Campaign]:
        """Every scenario entry as a :class:`Campaign`: a plain scenario, or a family that varies
        with its number of draws (the entry's ``draws``, else the experiment's).

        Raises
        ------
        BudgetGymError
            Unknown scenario or family (with the closest names), invalid override, ``draws`` on a
            plain scenario, or two entries with the same label.
        """
        out: list[Campaign] = []
        for i, spec in enumerate(self.scenarios):
            try:
                out.append(resolve_entry(spec, self.draws))
            except BudgetGymError as err:
                raise BudgetGymError(f"scenarios[{i}]: {err}") from None
        labels = [c.label for c in out]
        for i, label in enumerate(labels):
            if label.startswith("."):  # a scenario or family file's name, the default label
                raise BudgetGymError(
                    f"scenarios[{i}]: the name '{label}' cannot name the folder runs/<label>/ (it starts with a "
                    f"dot); give the entry a 'label'"
                )
        dupes = sorted({n for n in labels if labels.count(n) > 1})
        if dupes:
            raise BudgetGymError(f"scenarios: repeated label(s) {', '.join(dupes)}; give each a distinct 'label'")
        # scenario_params may also name built-in scenarios or families outside this grid (so one
        # agent list serves several grids, e.g. with --set scenarios=[...]); anything else is a typo.
        known = set(labels) | set(list_scenarios()) | set(list_families())
        for i, agent in enumerate(self.agents):
            for field_name, names, allowed in (
                ("scenario_params", list(agent.scenario_params), known),
                ("scenarios", agent.scenarios or [], set(labels)),
            ):
                unknown = [n for n in names if n not in allowed]
                if unknown:
                    raise BudgetGymError(
                        f"agents[{i}].{field_name}: unknown scenario(s) {', '.join(unknown)}; "
                        f"expected labels among {', '.join(labels)}"
                    )
        return out


# ----------------------------------------------------------------------------- loading
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


def check_agents(config: ExperimentConfig, source: str = "experiment") -> None:
    """Import the experiment's ``imports`` and check that every agent name is registered.

    Raises
    ------
    BudgetGymError
        ``"<source>: agents[2].agent: unknown agent 'gredy' (did you mean 'greedy'?)"``, or a
        module of ``imports`` that cannot be imported.
    """
    from budgetgym.experiments.runner import import_modules

    try:
        import_modules(config.imports)
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
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as err:
        raise BudgetGymError(f"'{path}': cannot be read ({err})") from None
    return experiment_from_dict(data, source=f"experiment file '{path}'")


def load_experiment(
    name_or_path: str | Path | ExperimentConfig = "quickstart",
    overrides: dict[str, Any] | None = None,
    seeds: int | None = None,
) -> ExperimentConfig:
    """Load an experiment by built-in name or YAML path, with overrides applied.

    Parameters
    ----------
    name_or_path : built-in name (``quickstart``, ``paper``), a YAML path, or a config.
    overrides : dotted-key changes (see :func:`apply_overrides`), e.g. from ``--set``.
    seeds : replace the seeds by ``0..seeds-1`` (``--seeds N``).

    Scenario paths inside the file are taken relative to the file when they exist there.

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
        if isinstance(seeds, bool) or not isinstance(seeds, int) or seeds < 1:
            raise BudgetGymError(f"--seeds: expected a positive integer, got {seeds!r}")
        data["seeds"] = seeds
    if overrides:
        data = apply_overrides(data, overrides)
        source += f" (with --set {', '.join(overrides)})"
    if path is not None:
        data = _relative_scenarios(data, path.parent)
    config = experiment_from_dict(data, source)
    check_agents(config, source)
    from budgetgym.experiments.tasks import checked_grid  # builds agents: imports the agents package

    try:
        checked_grid(config)  # once: run_experiment's plan_experiment takes it
    except BudgetGymError as err:
        raise BudgetGymError(f"{source}: {err}") from None
    return config


def _relative_scenarios(data: dict[str, Any], base: Path) -> dict[str, Any]:
    items = data.get("scenarios")
    if not isinstance(items, list):
        return data
    out = []
    for item in items:
        name = item if isinstance(item, str) else item.get("scenario") if isinstance(item, dict) else None
        if isinstance(name, str) and not Path(name).is_absolute() and (base / name).is_file():
            resolved = str((base / name).resolve())
            item = resolved if isinstance(item, str) else {**item, "scenario": resolved}
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
        payload = _hashed_experiment(payload)
    elif isinstance(payload, BaseModel):
        payload = payload.model_dump(mode="json")
    text = json.dumps(payload, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def _hashed_experiment(config: ExperimentConfig) -> dict[str, Any]:
    """``config`` dumped, with each scenario file path replaced by ``{"file": <its YAML content>}``
    (a path that cannot be read is kept as it is)."""
    data: dict[str, Any] = config.model_dump(mode="json")
    for entry in data["scenarios"]:
        name = entry["scenario"]
        if names_a_file(name) and Path(name).is_file():
            with contextlib.suppress(BudgetGymError):
                entry["scenario"] = {"file": read_yaml(name, "scenario file")}
    return data
