"""Executing one task of the grid: train, evaluate and write a run folder; solve an oracle.

A run (:func:`run_task`) trains the agent when it is a learner (its spec has ``train``),
evaluates it for ``episodes`` episodes with :func:`budgetgym.agents.evaluate`, and writes its
folder ``DIR/runs/<scenario>/<agent>/seed_<k>/`` (see :mod:`budgetgym.experiments.results`),
every file atomically and the ``done`` marker last. A run whose ``done`` marker carries the
same run key (a hash of everything that determines its numbers) is skipped, so re-running an
experiment resumes it; an unfinished run folder is cleared and run again.

A run on a scenario family trains a learner once on the family (its train split), then
evaluates the agent on the family's ``draws`` held-out test draws and on its ``train_draws`` train
draws (in distribution; as many, unless an explicit ensemble has fewer members in a split), the
same seeds and episodes on each; its rows carry ``draw`` and ``split``.

An oracle task (:func:`run_oracle_task`) solves the oracle once per distinct episode path of
a scenario (or of a family's draw) and stores its value, plan and per-step expected reward
(:func:`~budgetgym.envs.plan_value.evaluate_plan` with ``per_step=True``) in
``DIR/oracle/<scenario>/`` (a family's draw: ``DIR/oracle/<family>/draw_<split>_<i>/``). The
runner executes every oracle task before the runs, and each run scores its episodes against
those files (:func:`stored_oracle`): one solve per path.

Every unit runs with one BLAS/OpenMP/torch thread, so a process pool and a serial run
produce identical numbers.
"""

from __future__ import annotations

import contextlib
import inspect
import shutil
import sys
import time
import traceback
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import yaml

from budgetgym.envs.family import Split
from budgetgym.envs.io import atomic_write_text
from budgetgym.envs.scenario import Scenario
from budgetgym.experiments.config import config_hash
from budgetgym.experiments.results import (
    DONE,
    ERROR_FILE,
    RESULT_FILE,
    TRACE_COLUMNS,
    TRACE_FAMILY_COLUMNS,
    TRACE_FILE,
    environment_info,
    oracle_file,
    read_json,
    utc_now,
    write_json,
)
from budgetgym.experiments.tasks import OracleTask, Outcome, RunTask, Task, import_modules
from budgetgym.experiments.trainers import resolve_trainer

__all__ = ["RUN_FAILURES", "execute", "failure_message", "run_oracle_task", "run_task", "single_threaded",
           "stored_oracle"]


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


def _is_complete(path: Path, key: str) -> bool:
    """A run is complete when its ``done`` marker and its ``results.json`` both carry ``key``
    (a marker whose results were lost or damaged makes the run re-run, not crash the report)."""
    try:
        return read_json(path / DONE).get("key") == key and read_json(path / RESULT_FILE).get("key") == key
    except (OSError, ValueError, AttributeError):
        return False


def _call_trainer(fn: Callable[..., Any], extra: dict[str, Any], task: RunTask, out_dir: Path) -> Any:
    kwargs = dict(extra)
    try:
        params: Mapping[str, Any] = inspect.signature(fn).parameters
    except (TypeError, ValueError):
        params = {}
    if "progress_bar" in params:
        kwargs["progress_bar"] = task.training_progress
    result = fn(task.source, dict(task.agent.train or {}), task.seed, out_dir, **kwargs)
    if isinstance(result, tuple):
        result = next((r for r in result if hasattr(r, "predict")), None)
    if result is None or not hasattr(result, "predict"):
        raise TypeError(f"trainer of '{task.agent.name}' returned {type(result).__name__}, expected an agent")
    return result


def stored_oracle(
    out: str | Path, scenario_label: str, log: list[str] | None = None, split: str = "test"
) -> Any:
    """An oracle provider (see :func:`budgetgym.agents.evaluation.evaluate`) that reads the values
    the oracle tasks stored under ``out`` for the scenario label (and the family's draw of
    ``split``); a missing or stale file (one solved for a different scenario) is solved here
    instead, and noted in ``log``."""
    from budgetgym.agents.evaluation import solving_oracle

    fallback = solving_oracle()

    def provide(played: Scenario, draw: int | None, env_seed: int, path: Any) -> float:
        key = config_hash(played.model_dump(mode="json"))
        f = oracle_file(out, scenario_label, env_seed, draw, split)
        with contextlib.suppress(OSError, ValueError, KeyError, TypeError, AttributeError):
            data = read_json(f)
            if data.get("key") == key:
                return float(data["oracle_reward"])
        if log is not None:
            where = f"env seed {env_seed}" + ("" if draw is None else f", {split} draw {draw}")
            log.append(f"{utc_now()} no stored oracle for {where}; solved it here")
        return fallback(played, draw, env_seed, path)

    return provide


# ---------------------------------------------------------------------------- execution
#: What a task's failure is: any exception, and ``SystemExit`` (``sys.exit`` in an agent's or a trainer's code,
#: or in a library it calls), which ended a serial grid with its message alone and left a pool's task unanswered
#: for ever (the pool's worker exits). Only ``KeyboardInterrupt`` (and ``GeneratorExit``) stop the grid.
RUN_FAILURES: tuple[type[BaseException], ...] = (Exception, SystemExit)


def failure_message(err: BaseException) -> str:
    """A failure in one line: ``ValueError: step must be positive``, the first line of a message of several
    (the traceback stays in the run's ``error.txt``); ``SystemExit`` says what ``sys.exit`` was given."""
    text = str(err).strip()
    if isinstance(err, SystemExit):
        text = f"sys.exit({err.code!r}) called" if not isinstance(err.code, str) else err.code
    first = text.splitlines()[0] if text else ""
    more = " ..." if len(text.splitlines()) > 1 else ""
    return f"{type(err).__name__}: {first}{more}" if first else type(err).__name__


def execute(task: Task) -> Outcome:
    """Run one task (any kind). Failures (:data:`RUN_FAILURES`) are recorded, not raised; interrupts
    propagate."""
    if isinstance(task, OracleTask):
        return run_oracle_task(task)
    return run_task(task)


def run_task(task: RunTask) -> Outcome:
    """Train (learners), evaluate and write one run folder; skip it when already complete."""
    rd, key = task.path, task.key
    if _is_complete(rd, key):
        return Outcome("run", task.label, "skipped", str(rd))
    t0 = time.perf_counter()
    log: list[str] = [f"{utc_now()} start {task.label} (key {key})"]
    try:
        if rd.exists():
            shutil.rmtree(rd)  # leftovers of an unfinished (or differently configured) run
        rd.mkdir(parents=True)
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
                agent = make_agent(task.agent.agent, ChannelBudgetEnv(task.source), **task.params)
            # a family: the held-out test draws, then the train draws (a plain scenario ignores the split)
            splits: list[Split] = ["test", "train"] if task.family is not None else ["test"]
            results = [
                res
                for split in splits
                for res in evaluate(
                    agent,
                    task.source,
                    seeds=[task.seed],
                    episodes=task.episodes,
                    draws=task.split_draws(split),
                    split=split,
                    deterministic=task.deterministic,
                    learn=task.learn,
                    oracle=stored_oracle(task.out, task.scenario_label, log, split),
                )
            ]
        rows = []
        for res in results:
            row = res.row()
            row.update(
                scenario=task.scenario_label, agent=task.agent.name, env_seed=res.env_seed, train_s=train_s,
                draw=res.draw, split=res.split,
            )
            rows.append(row)
            where = "" if res.draw is None else f"{res.split} draw {res.draw}, "
            log.append(
                f"{utc_now()} {where}episode {res.episode} (env seed {res.env_seed}): expected "
                f"{res.expected_reward:.6g}, oracle {res.oracle_reward:.6g}, {res.pct_of_oracle:.2f}% of oracle, "
                f"{res.wall_s:.2f} s"
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
    except RUN_FAILURES as err:  # recorded in the run folder; the grid goes on
        message = failure_message(err)
        log.append(f"{utc_now()} FAILED {message}")
        with contextlib.suppress(OSError):
            atomic_write_text(rd / ERROR_FILE, traceback.format_exc())
            atomic_write_text(rd / "run.log", "\n".join(log) + "\n")
        return Outcome("run", task.label, "failed", str(rd), time.perf_counter() - t0, message, str(rd / ERROR_FILE))


def _write_trace(path: Path, results: list[Any]) -> None:
    """``trace.csv``: :data:`TRACE_COLUMNS`, plus :data:`TRACE_FAMILY_COLUMNS` for a family's run."""
    family = any(res.draw is not None for res in results)
    lines = [",".join(TRACE_COLUMNS + (TRACE_FAMILY_COLUMNS if family else []))]
    for res in results:
        tail = [str(res.draw), str(res.split)] if family else []
        for row in res.trace_rows():
            lines.append(
                ",".join(
                    [str(res.episode), str(row["step"]), str(row["channel"]), repr(row["spend"]),
                     repr(row["conversions"]), repr(row["expected_reward"]), *tail]
                )
            )
    atomic_write_text(path, "\n".join(lines) + "\n")


def run_oracle_task(task: OracleTask) -> Outcome:
    """Solve the oracle on the task's episode path; write one file per env seed."""
    from budgetgym.envs.oracle import solve_oracle
    from budgetgym.envs.plan_value import scenario_path

    files = [oracle_file(task.out, task.scenario_label, s, task.draw, task.split) for s in task.env_seeds]
    error_file = files[0].with_name(f"{files[0].stem}.{ERROR_FILE}")  # seed_<k>.error.txt: a directory holds several
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
        for env_seed, f in zip(task.env_seeds, files, strict=True):
            write_json(
                f,
                {
                    "key": key,
                    "scenario": task.scenario_label,
                    "env_seed": env_seed,
                    "oracle_reward": res.expected_reward,
                    "step_expected_reward": res.step_rewards,
                    "channels": task.scenario.channel_names,
                    "plan": res.plan,
                    "solve_seconds": res.seconds,
                    **({} if task.draw is None else {"draw": task.draw, "split": task.split}),
                },
            )
        error_file.unlink(missing_ok=True)  # an earlier failure's, solved now
        return Outcome("oracle", task.label, "done", str(files[0].parent), time.perf_counter() - t0)
    except RUN_FAILURES as err:
        with contextlib.suppress(OSError):  # its traceback, as a run's error.txt
            error_file.parent.mkdir(parents=True, exist_ok=True)
            atomic_write_text(error_file, traceback.format_exc())
        return Outcome("oracle", task.label, "failed", str(files[0].parent), time.perf_counter() - t0,
                       failure_message(err), str(error_file))


