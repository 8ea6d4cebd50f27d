"""The experiment file's models: :class:`ExperimentConfig` and its parts (scenarios, agents, the
bootstrap), validated by pydantic; reading, overriding and hashing them: :mod:`budgetgym.experiments.config`.

Every key, its default and the ``--set`` syntax are documented in ``configs/experiments/README.md``
(a test keeps it in step with these models). Every model forbids unknown keys.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import (
    Field,
    PrivateAttr,
    SerializerFunctionWrapHandler,
    field_validator,
    model_serializer,
    model_validator,
)

from budgetgym.envs.errors import BudgetGymError, StrictModel, repeated
from budgetgym.envs.family import list_families
from budgetgym.envs.scenario import Scenario, list_scenarios
from budgetgym.experiments.campaigns import Campaign, resolve_entry

__all__ = ["DEFAULT_DRAWS", "LABEL", "MAX_SEEDS", "MODULE", "AgentSpec", "BootstrapConfig", "ExperimentConfig",
           "ScenarioSpec"]

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
