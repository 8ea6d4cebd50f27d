"""Planning an experiment: the grid's tasks, validated before anything runs.

A run (:class:`RunTask`) is one (scenario, agent, seed) of the grid; an oracle task
(:class:`OracleTask`) solves the oracle once for one distinct episode path of a scenario,
shared by every run and episode on that path. :func:`plan_experiment` turns an
:class:`~budgetgym.experiments.config.ExperimentConfig` into both lists; tasks are frozen and
picklable, so any worker (a process pool, Ray) can run them with
:func:`budgetgym.experiments.execution.execute`.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import pkgutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from budgetgym.envs.errors import BudgetGymError, unknown
from budgetgym.envs.scenario import Scenario
from budgetgym.experiments.config import AgentSpec, ExperimentConfig, config_hash
from budgetgym.experiments.results import run_dir

__all__ = [
    "DEFAULT_TRAINERS",
    "OracleTask",
    "Outcome",
    "RunTask",
    "Task",
    "import_modules",
    "plan_experiment",
    "resolve_trainer",
]

#: Built-in trainers: registry name -> ("module:function", extra keyword arguments, required modules).
DEFAULT_TRAINERS: dict[str, tuple[str, dict[str, Any], tuple[str, ...]]] = {
    "ppo": ("budgetgym.agents.ppo:train_ppo", {}, ("stable_baselines3", "torch")),
    "recurrent_ppo": ("budgetgym.agents.ppo:train_ppo", {"recurrent": True}, ("stable_baselines3", "sb3_contrib")),
}


# ----------------------------------------------------------------------------- tasks
@dataclass(frozen=True)
class RunTask:
    """One (scenario, agent, seed) of the grid (picklable: runs in any worker)."""

    out: str
    experiment: str
    scenario_label: str
    scenario: Scenario
    agent: AgentSpec
    params: dict[str, Any]
    seed: int
    episodes: int
    deterministic: bool = True
    learn: bool = True
    imports: tuple[str, ...] = ()
    training_progress: bool = False

    @property
    def label(self) -> str:
        return f"{self.scenario_label}/{self.agent.name}/seed_{self.seed}"

    @property
    def path(self) -> Path:
        return run_dir(self.out, self.scenario_label, self.agent.name, self.seed)

    def spec(self) -> dict[str, Any]:
        """Everything that determines the run's numbers (hashed into :attr:`key`)."""
        return {
            "scenario_label": self.scenario_label,
            "scenario": self.scenario.model_dump(mode="json"),
            "agent": {
                "label": self.agent.name,
                "agent": self.agent.agent,
                "params": self.params,
                "train": self.agent.train,
                "trainer": self.agent.trainer,
            },
            "seed": self.seed,
            "episodes": self.episodes,
            "deterministic": self.deterministic,
            "learn": self.learn,
        }

    @property
    def key(self) -> str:
        return config_hash(self.spec())


@dataclass(frozen=True)
class OracleTask:
    """Solve the oracle for one episode path of a scenario, shared by ``env_seeds``."""

    out: str
    scenario_label: str
    scenario: Scenario
    env_seeds: tuple[int, ...]
    imports: tuple[str, ...] = ()

    @property
    def label(self) -> str:
        return f"oracle {self.scenario_label} (env seed {self.env_seeds[0]})"

    @property
    def key(self) -> str:
        return config_hash(self.scenario.model_dump(mode="json"))


Task = RunTask | OracleTask


@dataclass(frozen=True)
class Outcome:
    """What happened to one task."""

    kind: Literal["run", "oracle"]
    label: str
    status: Literal["done", "skipped", "failed"]
    path: str
    wall_s: float = 0.0
    error: str | None = None



# ---------------------------------------------------------------------------- helpers
def import_modules(names: tuple[str, ...] | list[str]) -> None:
    """Import every built-in agent module and the experiment's ``imports`` (custom agents)."""
    import budgetgym.agents as pkg

    for info in pkgutil.iter_modules(pkg.__path__, prefix="budgetgym.agents."):
        importlib.import_module(info.name)
    for name in names:
        try:
            importlib.import_module(name)
        except ImportError as err:
            raise BudgetGymError(f"imports: cannot import '{name}' ({err})") from None


def resolve_trainer(spec: AgentSpec) -> tuple[Callable[..., Any], dict[str, Any]]:
    """The training function of a learner spec and its extra keyword arguments.

    ``spec.trainer`` (``"module:function"``) if given, else the built-in trainer of the agent
    (``ppo``/``recurrent_ppo``: :func:`budgetgym.agents.ppo.train_ppo`). The function is called
    as ``fn(scenario, config, seed, out_dir, **extra)`` and returns the trained agent.
    """
    extra: dict[str, Any]
    if spec.trainer is not None:
        target, extra = spec.trainer, {}
    elif spec.agent in DEFAULT_TRAINERS:
        target, extra, requires = DEFAULT_TRAINERS[spec.agent]
        missing = [m for m in requires if importlib.util.find_spec(m) is None]
        if missing:
            raise BudgetGymError(
                f"agent '{spec.name}': training needs {', '.join(missing)}: pip install \"budgetgym[rl]\""
                + (" and sb3-contrib" if "sb3_contrib" in missing else "")
            )
    else:
        raise BudgetGymError(
            f"agent '{spec.name}': has a 'train' configuration but '{spec.agent}' has no built-in trainer; "
            f"set 'trainer: module:function' or remove 'train'"
        )
    module, _, name = target.partition(":")
    try:
        fn = getattr(importlib.import_module(module), name)
    except (ImportError, AttributeError) as err:
        raise BudgetGymError(f"agent '{spec.name}': trainer '{target}' not found ({err})") from None
    return fn, dict(extra)


# ----------------------------------------------------------------------------- planning
def plan_experiment(
    config: ExperimentConfig, out: str | Path, *, training_progress: bool = False
) -> tuple[list[OracleTask], list[RunTask]]:
    """The oracle tasks and run tasks of an experiment, validated before anything runs.

    Agent names, parameters (built once on each scenario) and trainers are checked here, so
    a bad experiment file fails with a one-line :class:`BudgetGymError` and no work done.
    """
    from budgetgym.agents.base import list_agents, make_agent
    from budgetgym.agents.evaluation import episode_seed
    from budgetgym.envs.channel_env import ChannelBudgetEnv
    from budgetgym.envs.plan_value import scenario_path

    imports = tuple(config.imports)
    import_modules(imports)
    scenarios = config.resolve_scenarios()
    known = list_agents()
    for i, spec in enumerate(config.agents):
        if spec.agent not in known:
            raise BudgetGymError(f"agents[{i}].agent: {unknown('agent', spec.agent, known)}")
        if spec.train is not None:
            resolve_trainer(spec)
        else:
            for label, sc in scenarios:
                if not spec.runs_on(label):
                    continue
                try:
                    make_agent(spec.agent, ChannelBudgetEnv(sc), **spec.params_for(label))
                except BudgetGymError as err:
                    raise BudgetGymError(f"agents[{i}] ({spec.name}) on scenario '{label}': {err}") from None
    out = str(Path(out))
    oracle_tasks: list[OracleTask] = []
    for label, sc in scenarios:
        groups: dict[bytes, list[int]] = {}
        for seed in config.seeds:
            for ep in range(config.episodes):
                s = episode_seed(seed, ep)
                p = scenario_path(sc, s)
                digest = hashlib.sha256(p.cost.tobytes() + p.response.tobytes()).digest()
                groups.setdefault(digest, []).append(s)
        oracle_tasks += [OracleTask(out, label, sc, tuple(sorted(v)), imports) for v in groups.values()]
    runs = [
        RunTask(
            out=out,
            experiment=config.name,
            scenario_label=label,
            scenario=sc,
            agent=spec,
            params=spec.params_for(label),
            seed=seed,
            episodes=config.episodes,
            deterministic=config.deterministic,
            learn=config.learn,
            imports=imports,
            training_progress=training_progress,
        )
        for label, sc in scenarios
        for spec in config.agents
        if spec.runs_on(label)
        for seed in config.seeds
    ]
    # Longest first (oracle solves, then learners) shortens the parallel makespan.
    runs.sort(key=lambda r: r.agent.train is None)
    return oracle_tasks, runs


