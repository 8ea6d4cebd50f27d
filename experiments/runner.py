"""The grid runner: one unit of work per (scenario, agent, seed), resumable and parallel.

A run (:class:`RunTask`) trains the agent when it is a learner (its spec has ``train``),
evaluates it for ``episodes`` episodes with :func:`budgetgym.agents.evaluate`, and writes its
folder ``DIR/runs/<scenario>/<agent>/seed_<k>/`` (see :mod:`budgetgym.experiments.results`),
every file atomically and the ``done`` marker last. A run whose ``done`` marker carries the
same run key (a hash of everything that determines its numbers) is skipped, so re-running an
experiment resumes it; an unfinished run folder is cleared and run again.

Oracle tasks (:class:`OracleTask`) solve the oracle once per distinct episode path of a
scenario and store its per-step expected reward (for the regret and cumulative-reward
plots) in ``DIR/oracle/<scenario>/``.

Every unit runs with one BLAS/OpenMP/torch thread, so a process pool and a serial run
produce identical numbers.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib
import importlib.util
import inspect
import pkgutil
import shutil
import sys
import time
import traceback
from collections.abc import Callable, Iterator, MutableMapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import yaml
from budgetgym.envs.errors import BudgetGymError, unknown
from budgetgym.envs.io import atomic_write_text
from budgetgym.envs.scenario import Scenario
from budgetgym.experiments.config import AgentSpec, ExperimentConfig, config_hash, load_experiment
from budgetgym.experiments.results import (
    DONE,
    RESULT_FILE,
    TRACE_COLUMNS,
    TRACE_FILE,
    environment_info,
    oracle_file,
    read_json,
    run_dir,
    utc_now,
    write_json,
)

__all__ = [
    "DiskOracleCache",
    "ExperimentResult",
    "OracleTask",
    "Outcome",
    "RunTask",
    "execute",
    "import_modules",
    "plan_experiment",
    "resolve_trainer",
    "run_experiment",
    "run_oracle_task",
    "run_task",
    "single_threaded",
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


@dataclass
class ExperimentResult:
    """The outcome of :func:`run_experiment`."""

    out: Path
    config: ExperimentConfig
    outcomes: list[Outcome]
    summary: Any  # pandas DataFrame (summary.csv)
    wall_s: float
    report: Path | None = None
    failed: list[Outcome] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.failed

    def count(self, status: str, kind: str = "run") -> int:
        return sum(1 for o in self.outcomes if o.status == status and o.kind == kind)


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


@contextlib.contextmanager
def single_threaded() -> Iterator[None]:
    """One BLAS/OpenMP thread (threadpoolctl) and one torch thread if torch is loaded."""
    from threadpoolctl import threadpool_limits

    torch = sys.modules.get("torch")
    old = torch.get_num_threads() if torch is not None else None
    with threadpool_limits(limits=1):
        if torch is not None:
            torch.set_num_threads(1)
        try:
            yield
        finally:
            if torch is not None and old is not None:
                torch.set_num_threads(old)


class DiskOracleCache(MutableMapping[bytes, float]):
    """Oracle values keyed by the evaluator's (opaque) path key, stored one file per key.

    Shared by every process and node that sees ``root``; namespaced by the caller (one
    folder per scenario hash), written atomically.
    """

    def __init__(self, root: Path):
        self.root = Path(root)

    def _file(self, key: bytes) -> Path:
        return self.root / (hashlib.sha256(bytes(key)).hexdigest()[:32] + ".json")

    def __contains__(self, key: object) -> bool:
        return isinstance(key, (bytes, bytearray)) and self._file(bytes(key)).is_file()

    def __getitem__(self, key: bytes) -> float:
        try:
            return float(read_json(self._file(key))["value"])
        except FileNotFoundError:
            raise KeyError(key) from None

    def __setitem__(self, key: bytes, value: float) -> None:
        write_json(self._file(key), {"value": float(value)})

    def __delitem__(self, key: bytes) -> None:
        self._file(key).unlink(missing_ok=True)

    def __iter__(self) -> Iterator[bytes]:
        return iter(())  # keys are hashed; iteration is not needed by the evaluator

    def __len__(self) -> int:
        return len(list(self.root.glob("*.json"))) if self.root.is_dir() else 0


def _is_complete(path: Path, key: str) -> bool:
    marker = path / DONE
    if not marker.is_file():
        return False
    try:
        return read_json(marker).get("key") == key
    except (OSError, ValueError, AttributeError):
        return False


def _call_trainer(fn: Callable[..., Any], extra: dict[str, Any], task: RunTask, out_dir: Path) -> Any:
    kwargs = dict(extra)
    try:
        params = inspect.signature(fn).parameters
    except (TypeError, ValueError):
        params = {}
    if "progress_bar" in params:
        kwargs["progress_bar"] = task.training_progress
    result = fn(task.scenario, dict(task.agent.train or {}), task.seed, out_dir, **kwargs)
    if isinstance(result, tuple):
        result = next((r for r in result if hasattr(r, "predict")), None)
    if result is None or not hasattr(result, "predict"):
        raise TypeError(f"trainer of '{task.agent.name}' returned {type(result).__name__}, expected an agent")
    return result


# ---------------------------------------------------------------------------- execution
def execute(task: Task) -> Outcome:
    """Run one task (any kind). Failures are recorded, not raised; interrupts propagate."""
    if isinstance(task, OracleTask):
        return run_oracle_task(task)
    return run_task(task)


def run_task(task: RunTask) -> Outcome:
    """Train (learners), evaluate and write one run folder; skip it when already complete."""
    rd, key = task.path, task.key
    if _is_complete(rd, key):
        return Outcome("run", task.label, "skipped", str(rd))
    t0 = time.perf_counter()
    if rd.exists():
        shutil.rmtree(rd)  # leftovers of an unfinished (or differently configured) run
    rd.mkdir(parents=True)
    log: list[str] = [f"{utc_now()} start {task.label} (key {key})"]
    try:
        import_modules(task.imports)  # first: custom agents register themselves
        from budgetgym.agents.base import BaseAgent, make_agent
        from budgetgym.agents.evaluation import evaluate
        from budgetgym.envs.channel_env import ChannelBudgetEnv

        env_info = environment_info()
        config = {
            "experiment": task.experiment,
            "run_key": key,
            **task.spec(),
            "versions": env_info["packages"],
            "git": env_info["git"],
            "python": env_info["python"],
        }
        atomic_write_text(rd / "config.yaml", yaml.safe_dump(config, sort_keys=False))
        trainer = resolve_trainer(task.agent) if task.agent.train is not None else None
        train_s = 0.0
        with single_threaded():
            if trainer is not None:
                t_train = time.perf_counter()
                agent = _call_trainer(trainer[0], trainer[1], task, rd / "train")
                train_s = time.perf_counter() - t_train
                log.append(f"{utc_now()} trained {int(getattr(agent, 'train_steps', 0))} steps in {train_s:.1f} s")
            else:
                agent = make_agent(task.agent.agent, ChannelBudgetEnv(task.scenario), **task.params)
            kwargs: dict[str, Any] = {}
            if "oracle_cache" in inspect.signature(evaluate).parameters:
                kwargs["oracle_cache"] = DiskOracleCache(
                    Path(task.out) / "oracle" / task.scenario_label / "cache" / config_hash(task.spec()["scenario"])
                )
            results = evaluate(
                agent,
                task.scenario,
                seeds=[task.seed],
                episodes=task.episodes,
                deterministic=task.deterministic,
                learn=task.learn,
                **kwargs,
            )
        rows = []
        for res in results:
            row = res.row()
            row.update(scenario=task.scenario_label, agent=task.agent.name, env_seed=res.env_seed, train_s=train_s)
            rows.append(row)
            log.append(
                f"{utc_now()} episode {res.episode} (env seed {res.env_seed}): expected {res.expected_reward:.6g}, "
                f"oracle {res.oracle_reward:.6g}, {res.pct_of_oracle:.2f}% of oracle, {res.wall_s:.2f} s"
            )
        _write_trace(rd / TRACE_FILE, results)
        if trainer is None and isinstance(agent, BaseAgent):
            with contextlib.suppress(Exception):  # a model file is a convenience, not a result
                agent.save(rd / "agent.json")
        wall = time.perf_counter() - t0
        write_json(rd / RESULT_FILE, {"key": key, "rows": rows})
        log.append(f"{utc_now()} done in {wall:.2f} s")
        atomic_write_text(rd / "run.log", "\n".join(log) + "\n")
        write_json(rd / DONE, {"key": key, "finished": utc_now(), "wall_s": wall, "rows": len(rows)})
        return Outcome("run", task.label, "done", str(rd), wall)
    except Exception as err:  # recorded in the run folder; the grid goes on
        message = f"{type(err).__name__}: {err}"
        log.append(f"{utc_now()} FAILED {message}")
        with contextlib.suppress(OSError):
            atomic_write_text(rd / "error.txt", traceback.format_exc())
            atomic_write_text(rd / "run.log", "\n".join(log) + "\n")
        return Outcome("run", task.label, "failed", str(rd), time.perf_counter() - t0, message)


def _write_trace(path: Path, results: list[Any]) -> None:
    lines = [",".join(TRACE_COLUMNS)]
    for res in results:
        for row in res.trace_rows():
            lines.append(
                ",".join(
                    [str(res.episode), str(row["step"]), str(row["channel"]), repr(row["spend"]),
                     repr(row["conversions"]), repr(row["expected_reward"])]
                )
            )
    atomic_write_text(path, "\n".join(lines) + "\n")


def _plan_step_rewards(scenario: Scenario, plan: np.ndarray, path: Any) -> np.ndarray:
    """Expected reward of each step of ``plan`` on ``path`` (sums to ``evaluate_plan``)."""
    from budgetgym.envs.dynamics import ChannelModel, DynamicsState, expected_reward, transition

    m = ChannelModel.from_scenario(scenario)
    state = DynamicsState.zeros(m, 1)
    out = np.zeros(scenario.horizon)
    for t in range(scenario.horizon):
        x = plan[None, t]
        step = transition(m, state, t, x, path.cost[t], path.response[t])
        out[t] = float(expected_reward(m, step.mean_conversions, x)[0])
    return out


def run_oracle_task(task: OracleTask) -> Outcome:
    """Solve the oracle on the task's episode path; write one file per env seed."""
    from budgetgym.envs.oracle import scenario_path, solve_oracle

    files = [oracle_file(task.out, task.scenario_label, s) for s in task.env_seeds]
    key = task.key

    def complete(path: Path) -> bool:
        try:
            return path.is_file() and read_json(path).get("key") == key
        except (OSError, ValueError):
            return False

    if all(complete(f) for f in files):
        return Outcome("oracle", task.label, "skipped", str(files[0].parent))
    t0 = time.perf_counter()
    try:
        with single_threaded():
            path = scenario_path(task.scenario, task.env_seeds[0])
            res = solve_oracle(task.scenario, path=path)
            steps = _plan_step_rewards(task.scenario, res.plan, path)
        for env_seed, f in zip(task.env_seeds, files, strict=True):
            write_json(
                f,
                {
                    "key": key,
                    "scenario": task.scenario_label,
                    "env_seed": env_seed,
                    "oracle_reward": res.expected_reward,
                    "step_expected_reward": steps,
                    "channels": task.scenario.channel_names,
                    "plan": res.plan,
                    "solve_seconds": res.seconds,
                },
            )
        return Outcome("oracle", task.label, "done", str(files[0].parent), time.perf_counter() - t0)
    except Exception as err:
        return Outcome("oracle", task.label, "failed", str(files[0].parent), time.perf_counter() - t0,
                       f"{type(err).__name__}: {err}")


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
    from budgetgym.envs.oracle import scenario_path

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


# ----------------------------------------------------------------------------- the grid
def run_experiment(
    config: ExperimentConfig | str | Path,
    out: str | Path | None = None,
    *,
    workers: int = 1,
    backend: str = "local",
    address: str | None = None,
    progress: bool = False,
    report: bool = True,
    plots: bool = True,
    echo: Callable[[str], None] | None = None,
) -> ExperimentResult:
    """Run an experiment grid into ``out`` and rebuild its results, summary and report.

    Parameters
    ----------
    config : an :class:`ExperimentConfig`, or a built-in name / YAML path for :func:`load_experiment`.
    out : results directory (default ``out/<experiment name>``); created if needed. Runs already
        complete there are skipped.
    workers : processes (``local``) or concurrent tasks (``ray``); ``1`` runs serially in-process.
    backend : ``"local"`` (serial or a process pool) or ``"ray"``.
    address : Ray cluster address (``ray`` only); default: start a local instance.
    progress : show a progress bar over the tasks (and SB3's over training when serial).
    report : rebuild ``results.csv``, ``summary.csv``, plots and ``report.md`` at the end.
    plots : draw the figures when rebuilding the report.
    echo : receives one line per failed task.

    Returns
    -------
    ExperimentResult
        Outcomes per task, the summary table, failures (recorded in each run's ``error.txt``).

    Raises
    ------
    BudgetGymError
        Invalid experiment, agent, parameters or backend options (nothing is run).
    KeyboardInterrupt
        Propagated after the workers stop; finished runs are kept and resume on re-run.
    """
    from budgetgym.experiments.backends import make_backend
    from budgetgym.experiments.report import build_report

    cfg = config if isinstance(config, ExperimentConfig) else load_experiment(config)
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
        raise BudgetGymError(f"--workers: expected a positive integer, got {workers!r}")
    out_dir = Path(out) if out is not None else Path("out") / cfg.name
    runner = make_backend(backend, workers=workers, address=address)
    oracle_tasks, run_tasks = plan_experiment(cfg, out_dir, training_progress=_sb3_bars(progress, workers))
    start, t0 = utc_now(), time.perf_counter()
    out_dir.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out_dir / "experiment.yaml", yaml.safe_dump(cfg.model_dump(mode="json"), sort_keys=False))
    meta_session = {"start": start, "backend": backend, "workers": workers, "address": address, "status": "running"}
    _write_meta(out_dir, cfg, meta_session)

    tasks: list[Task] = [*oracle_tasks, *run_tasks]
    outcomes: list[Outcome] = []
    bar = _progress_bar(len(tasks), progress)
    try:
        for _, outcome in runner.run(execute, tasks):
            outcomes.append(outcome)
            if outcome.status == "failed" and echo is not None:
                echo(f"failed: {outcome.label}: {outcome.error} (see {outcome.path})")
            if bar is not None:
                bar.set_postfix_str(outcome.label, refresh=False)
                bar.update(1)
    except BaseException:
        meta_session.update(end=utc_now(), status="interrupted", **_counts(outcomes))
        with contextlib.suppress(Exception):
            _write_meta(out_dir, cfg, meta_session)
        raise
    finally:
        if bar is not None:
            bar.close()
    failed = [o for o in outcomes if o.status == "failed"]
    summary, report_path = None, None
    if report:
        built = build_report(out_dir, plots=plots)
        summary, report_path = built.summary, built.report
    wall = time.perf_counter() - t0
    meta_session.update(end=utc_now(), wall_s=wall, status="failed" if failed else "ok", **_counts(outcomes))
    _write_meta(out_dir, cfg, meta_session)
    return ExperimentResult(out_dir, cfg, outcomes, summary, wall, report_path, failed)


def _counts(outcomes: list[Outcome]) -> dict[str, int]:
    runs = [o for o in outcomes if o.kind == "run"]
    return {
        "runs_done": sum(o.status == "done" for o in runs),
        "runs_skipped": sum(o.status == "skipped" for o in runs),
        "runs_failed": sum(o.status == "failed" for o in runs),
        "oracle_failed": sum(o.status == "failed" for o in outcomes if o.kind == "oracle"),
    }


def _write_meta(out: Path, cfg: ExperimentConfig, session: dict[str, Any]) -> None:
    """``meta.json``: environment, config hash, this session's start/end; earlier sessions kept."""
    path = out / "meta.json"
    sessions: list[dict[str, Any]] = []
    if path.is_file():
        with contextlib.suppress(OSError, ValueError, AttributeError):
            sessions = list(read_json(path).get("sessions", []))
    sessions = [s for s in sessions if s.get("start") != session["start"]] + [dict(session)]
    payload = {
        "experiment": cfg.name,
        "config_hash": config_hash(cfg),
        "start": session["start"],
        "end": session.get("end"),
        "status": session.get("status"),
        **environment_info(),
        "argv": list(sys.argv),
        "sessions": sessions,
    }
    write_json(path, payload)


def _progress_bar(total: int, enabled: bool) -> Any:
    from budgetgym.experiments.progress import progress_bar  # a bar on a terminal, lines in a log

    return progress_bar(total) if enabled else None


def _sb3_bars(progress: bool, workers: int) -> bool:
    from budgetgym.experiments.progress import interactive  # SB3's bars only where they render

    return progress and workers == 1 and interactive(sys.stdout)

