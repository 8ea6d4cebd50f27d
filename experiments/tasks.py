"""Planning an experiment: the grid's tasks, validated before anything runs.

A run (:class:`RunTask`) is one (scenario, agent, seed) of the grid; an oracle task
(:class:`OracleTask`) solves the oracle once for one distinct episode path of a scenario,
shared by every run and episode on that path.

A scenario family (an entry naming a :class:`~budgetgym.envs.family.ScenarioFamily` that
varies) has one oracle task per (split, draw, distinct episode path) — test draws
``0 .. draws-1`` and train draws ``0 .. train_draws-1`` (as many, unless an explicit ensemble has fewer
members in a split: :class:`~budgetgym.experiments.campaigns.Campaign`) — and one run per (agent, seed): a learner
trains once on the family's train split, then the run plays every seed's episodes on each test
draw (held out) and on each train draw (in distribution). :func:`plan_experiment` turns an
:class:`~budgetgym.experiments.config.ExperimentConfig` into both lists; tasks are frozen and
picklable, so any worker (a process pool, Ray) can run them with
:func:`budgetgym.experiments.execution.execute`. A learner's trainer is found and its ``train`` checked by
:mod:`budgetgym.experiments.trainers` (its names re-exported here).
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import pkgutil
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from budgetgym.envs.errors import BudgetGymError
from budgetgym.envs.family import ScenarioFamily, Split
from budgetgym.envs.io import files_unchanged, yaml_reads
from budgetgym.envs.scenario import Scenario
from budgetgym.experiments.campaigns import draws_on
from budgetgym.experiments.config import AgentSpec, Campaign, ExperimentConfig, check_agent_names, config_hash
from budgetgym.experiments.results import run_dir
from budgetgym.experiments.source_digest import agent_code_digest
from budgetgym.experiments.trainers import DEFAULT_TRAINERS, check_learners, check_train_config, resolve_trainer

__all__ = [
    "DEFAULT_TRAINERS",
    "OracleTask",
    "Outcome",
    "RunTask",
    "Task",
    "check_grid",
    "check_learners",
    "checked_grid",
    "check_train_config",
    "import_modules",
    "plan_experiment",
    "resolve_trainer",
]

# ----------------------------------------------------------------------------- tasks
@dataclass(frozen=True)
class RunTask:
    """One (scenario, agent, seed) of the grid (picklable: runs in any worker).

    For a family entry ``family`` is the :class:`~budgetgym.envs.family.ScenarioFamily`,
    ``draws`` its number of test draws, ``train_draws`` its number of train draws (``None``: as many
    as ``draws``), and ``scenario`` its nominal scenario.
    """

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
    family: ScenarioFamily | None = None
    draws: int | None = None
    train_draws: int | None = None
    #: the digest of a custom agent's code (:func:`~budgetgym.experiments.source_digest.agent_code_digest`);
    #: ``None`` for a built-in agent
    code: str | None = None

    @property
    def source(self) -> Scenario | ScenarioFamily:
        """What the agent is built from and trained on: the family, else the scenario."""
        return self.family if self.family is not None else self.scenario

    def split_draws(self, split: Split) -> int | None:
        """The draws the run plays on ``split`` (``None`` for a plain scenario)."""
        return draws_on(split, self.draws, self.train_draws)

    @property
    def label(self) -> str:
        return f"{self.scenario_label}/{self.agent.name}/seed_{self.seed}"

    @property
    def path(self) -> Path:
        return run_dir(self.out, self.scenario_label, self.agent.name, self.seed)

    def spec(self) -> dict[str, Any]:
        """Everything that determines the run's numbers (hashed into :attr:`key`); for a family,
        its full definition (template, distributions, ensemble, seed) and the number of draws (of
        train draws too when it differs, so a run whose splits agree keeps its key); for a custom agent,
        the digest of its code (:attr:`code`: editing the agent re-runs its runs)."""
        family: dict[str, Any] = {}
        if self.family is not None:
            family = {"family": self.family.definition(), "draws": self.draws}
            if self.train_draws is not None and self.train_draws != self.draws:
                family["train_draws"] = self.train_draws
        code = {} if self.code is None else {"code": self.code}
        return {
            "scenario_label": self.scenario_label,
            "scenario": self.scenario.model_dump(mode="json"),
            "agent": {
                "label": self.agent.name,
                "agent": self.agent.agent,
                "params": self.params,
                "train": self.agent.train,
                "trainer": self.agent.trainer,
                **code,
            },
            "seed": self.seed,
            "episodes": self.episodes,
            "deterministic": self.deterministic,
            "learn": self.learn,
            **family,
        }

    @property
    def key(self) -> str:
        return config_hash(self.spec())


@dataclass(frozen=True)
class OracleTask:
    """Solve the oracle for one episode path of a scenario, shared by ``env_seeds``; for a
    family, ``scenario`` is draw ``draw`` of split ``split``."""

    out: str
    scenario_label: str
    scenario: Scenario
    env_seeds: tuple[int, ...]
    imports: tuple[str, ...] = ()
    draw: int | None = None
    split: Literal["test", "train"] = "test"

    @property
    def label(self) -> str:
        where = "" if self.draw is None else f" {self.split} draw {self.draw}"
        return f"oracle {self.scenario_label}{where} (env seed {self.env_seeds[0]})"

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
    error: str | None = None  # a failure in one line: "ValueError: step must be positive"
    traceback: str | None = None  # a failure's file holding its traceback (a run's error.txt)


# ---------------------------------------------------------------------------- imports
def import_modules(names: tuple[str, ...] | list[str], beside: Path | None = None) -> None:
    """Import every built-in agent module and the experiment's ``imports`` (custom agents).

    A module that is not on the Python path but whose file or package folder is in ``beside`` (the
    experiment file's folder) is imported from there: that folder is appended to ``sys.path`` (after every
    installed module, so it shadows none), which worker processes inherit. The ``budgetgym`` command, unlike
    ``python -m``, does not put the working directory on the path, so a team's ``my_agent.py`` beside its
    ``gate.yaml`` was not found.

    Raises
    ------
    BudgetGymError
        ``imports: cannot import 'my_agent' (No module named 'my_agent'); ...`` saying where it was looked for.
    """
    import budgetgym.agents as pkg

    for info in pkgutil.iter_modules(pkg.__path__, prefix="budgetgym.agents."):
        importlib.import_module(info.name)
    for name in names:
        top = name.partition(".")[0]
        if beside is not None and _beside(top, beside) and importlib.util.find_spec(top) is None:
            sys.path.append(str(beside.resolve()))
        try:
            importlib.import_module(name)
        except ImportError as err:
            where = ""
            if isinstance(err, ModuleNotFoundError) and err.name == top:
                folder = "" if beside is None else f", nor beside the experiment file (in '{beside}')"
                where = (f"; not on the Python path{folder}: expected an installed package, a module beside the "
                         f"experiment file, or its folder on PYTHONPATH")
            raise BudgetGymError(f"imports: cannot import '{name}' ({err}){where}") from None


def _beside(top: str, folder: Path) -> bool:
    """Whether ``folder`` holds the module ``top``: ``top.py`` or a package folder ``top/``."""
    return (folder / f"{top}.py").is_file() or (folder / top / "__init__.py").is_file()


# ----------------------------------------------------------------------------- planning
def check_grid(config: ExperimentConfig) -> list[Campaign]:
    """The experiment's campaigns, with every agent name and every non-learner's parameters checked
    (each agent is built once on each scenario it runs on); the experiment's ``imports`` must be
    imported first.

    Raises
    ------
    BudgetGymError
        An unknown scenario or agent, an invalid override or parameter, or an agent that sees the
        true parameters on a family.
    """
    from budgetgym.agents.base import agent_class, make_agent
    from budgetgym.envs.channel_env import ChannelBudgetEnv

    campaigns = config.resolve()
    check_agent_names(config)
    for i, spec in enumerate(config.agents):
        for c in campaigns:
            if spec.train is not None or not spec.runs_on(c.label):
                continue
            if c.family is not None and agent_class(spec.agent).sees_true_parameters:
                raise BudgetGymError(
                    f"agents[{i}] ({spec.name}) on family '{c.label}': '{spec.agent}' sees one scenario's true "
                    f"parameters and would play the family's nominal campaign on every draw; each draw is "
                    f"already scored against its own oracle (pct_of_oracle)"
                )
            try:
                make_agent(spec.agent, ChannelBudgetEnv(c.source), **spec.params_for(c.label))
            except BudgetGymError as err:
                raise BudgetGymError(f"agents[{i}] ({spec.name}) on scenario '{c.label}': {err}") from None
    return campaigns


def checked_grid(config: ExperimentConfig, *, keep: bool = True) -> list[Campaign]:
    """:func:`check_grid` of ``config``, once per command.

    The result is kept on the (immutable) config with the content it checked and the files it read
    (every scenario and family file, and the scenario files a family names: :func:`~budgetgym.envs.io.yaml_reads`),
    so :func:`plan_experiment` after :func:`~budgetgym.experiments.config.load_experiment`
    (``budgetgym run``) reuses the campaigns. It is checked again when the config was never checked,
    is a copy with other content (``model_copy(update=...)``), or when a file it read has changed
    since (a notebook: ``load_experiment``, edit a scenario file, run): the campaigns hold the files
    as they were read, and a run plays the files as they are when it runs.

    Parameters
    ----------
    config : ExperimentConfig
        The experiment; its ``imports`` must be imported first.
    keep : bool
        Keep the record on the config for the next call; ``False`` (:func:`plan_experiment`) takes it
        off, so a later plan of the same config (a second ``run_experiment``) checks it again, as a new
        command would.

    Returns
    -------
    list[Campaign]
        The experiment's campaigns (:meth:`~budgetgym.experiments.config.ExperimentConfig.resolve`).
    """
    content = config.model_dump_json()
    done = config._checked
    config._checked = None
    if done is not None and done[0] == content and files_unchanged(done[2]):
        campaigns, files = done[1], done[2]
    else:
        with yaml_reads() as files:
            campaigns = check_grid(config)
    if keep:
        config._checked = (content, campaigns, files)
    return campaigns


def plan_experiment(
    config: ExperimentConfig, out: str | Path, *, training_progress: bool = False
) -> tuple[list[OracleTask], list[RunTask]]:
    """The oracle tasks and run tasks of an experiment, validated before anything runs.

    Agent names, parameters (built once on each scenario) and trainers are checked here, so
    a bad experiment file fails with a one-line :class:`BudgetGymError` and no work done.
    """
    imports = tuple(config.imports)
    import_modules(imports)
    campaigns = checked_grid(config, keep=False)  # load_experiment's check, used once
    check_learners(config)
    out = str(Path(out))
    codes = {spec.name: agent_code_digest(spec) for spec in config.agents}
    oracle_tasks: list[OracleTask] = []
    for c in campaigns:
        if c.family is None:
            oracle_tasks += _oracle_tasks(out, c.label, c.scenario, config, imports)
            continue
        for split in ("test", "train"):
            for d in range(c.split_draws(split)):
                oracle_tasks += _oracle_tasks(out, c.label, c.family.sample(d, split), config, imports, d, split)
    runs = [
        RunTask(
            out=out,
            experiment=config.name,
            scenario_label=c.label,
            scenario=c.scenario,
            agent=spec,
            params=spec.params_for(c.label),
            seed=seed,
            episodes=config.episodes,
            deterministic=config.deterministic,
            learn=config.learn,
            imports=imports,
            training_progress=training_progress,
            family=c.family,
            draws=c.draws,
            train_draws=c.train_draws,
            code=codes[spec.name],
        )
        for c in campaigns
        for spec in config.agents
        if spec.runs_on(c.label)
        for seed in config.seeds
    ]
    # Longest first (oracle solves, then learners) shortens the parallel makespan.
    runs.sort(key=lambda r: r.agent.train is None)
    return oracle_tasks, runs


def _oracle_tasks(
    out: str,
    label: str,
    sc: Scenario,
    config: ExperimentConfig,
    imports: tuple[str, ...],
    draw: int | None = None,
    split: Literal["test", "train"] = "test",
) -> list[OracleTask]:
    """One oracle task per distinct episode path of ``sc`` over the grid's seeds and episodes."""
    from budgetgym.agents.evaluation import episode_seed
    from budgetgym.envs.plan_value import scenario_path

    groups: dict[bytes, list[int]] = {}
    for seed in config.seeds:
        for ep in range(config.episodes):
            s = episode_seed(seed, ep)
            p = scenario_path(sc, s)
            digest = hashlib.sha256(p.cost.tobytes() + p.response.tobytes()).digest()
            groups.setdefault(digest, []).append(s)
    return [OracleTask(out, label, sc, tuple(sorted(v)), imports, draw, split) for v in groups.values()]


