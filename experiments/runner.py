"""The grid runner: every (scenario, agent, seed) of an experiment, resumable and parallel.

:func:`run_experiment` plans the grid (:mod:`budgetgym.experiments.tasks`), solves the oracle
once per distinct episode path, then runs every (scenario, agent, seed)
(:mod:`budgetgym.experiments.execution`) on a backend (serial, a process pool or Ray), and
rebuilds the results, summary and report. The task and execution names are re-exported
here, so ``budgetgym.experiments.runner.plan_experiment`` etc. keep working.
"""

from __future__ import annotations

import contextlib
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from budgetgym.envs.errors import BudgetGymError, is_integer
from budgetgym.envs.io import atomic_write_text, check_out_dir, foreign_files
from budgetgym.experiments.backends import Backend, WorkerExited
from budgetgym.experiments.campaigns import Campaign
from budgetgym.experiments.config import ExperimentConfig, config_hash, load_experiment
from budgetgym.experiments.execution import execute, run_oracle_task, run_task, single_threaded, stored_oracle
from budgetgym.experiments.results import (
    GRID_FILE,
    environment_info,
    read_json,
    read_meta,
    utc_now,
    write_grid,
    write_json,
)
from budgetgym.experiments.tasks import (
    OracleTask,
    Outcome,
    RunTask,
    Task,
    checked_grid,
    import_modules,
    plan_experiment,
)
from budgetgym.experiments.trainers import DEFAULT_TRAINERS, resolve_trainer

__all__ = [
    "DEFAULT_TRAINERS",
    "ExperimentResult",
    "OracleTask",
    "Outcome",
    "RunTask",
    "Task",
    "execute",
    "import_modules",
    "plan_experiment",
    "resolve_trainer",
    "run_experiment",
    "run_oracle_task",
    "run_task",
    "single_threaded",
    "stored_oracle",
]


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
    echo : receives one line per failed task as it fails (``failed: <run>: <Type>: <message> (see .../error.txt)``,
        the file holding its traceback), and at the start a warning when ``out`` holds another
        code's runs and a note per family whose ensemble plays fewer draws than asked in a split.

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
    WorkerExited
        A worker process ended without an answer (killed, out of memory); the message names the runs it may
        have run. Finished runs are kept and resume on re-run.
    """
    from budgetgym.experiments.backends import ProcessPoolBackend, RayBackend, make_backend

    cfg = config if isinstance(config, ExperimentConfig) else load_experiment(config)
    if not is_integer(workers) or workers < 1:
        raise BudgetGymError(f"--workers: expected a positive integer, got {workers!r}")
    out_dir = _check_results_out(Path(out) if out is not None else Path("out") / cfg.name)
    runner = make_backend(backend, workers=workers, address=address)
    import_modules(tuple(cfg.imports))
    campaigns = checked_grid(cfg)  # kept on cfg: plan_experiment takes these campaigns
    oracle_tasks, run_tasks = plan_experiment(cfg, out_dir, training_progress=_sb3_bars(progress, workers))
    if isinstance(runner, RayBackend):
        runner.start()  # an unreachable cluster fails here, before anything is written
    try:
        if isinstance(runner, ProcessPoolBackend) and (oracle_tasks or run_tasks):
            runner.start(max(len(oracle_tasks), len(run_tasks)))  # one pool for both phases: workers spawn once
        return _run_grid(cfg, out_dir, runner, oracle_tasks, run_tasks, campaigns, workers=workers,
                         backend=backend, address=address, progress=progress, report=report, plots=plots,
                         echo=echo)
    finally:
        if isinstance(runner, (RayBackend, ProcessPoolBackend)):
            runner.close()


#: Files a run writes at the top of its results directory that another command writes too.
_RESULT_FILES = ("report.md", "results.csv", "summary.csv", "poi.csv", "grid.json")


def _named_worker_exits(results: Iterator[tuple[int, Outcome]], tasks: list[Task]) -> Iterator[tuple[int, Outcome]]:
    """``results``, a :class:`~budgetgym.experiments.backends.WorkerExited` naming the runs (or oracle solves)
    its worker may have run instead of their indexes, in one line with what to do."""
    try:
        yield from results
    except WorkerExited as err:
        labels = ", ".join(tasks[i].label for i in err.indexes)
        raise WorkerExited(
            f"a worker process exited without an answer (killed, out of memory, a crash outside Python or os._exit) "
            f"while running {'one of ' if len(err.indexes) > 1 else ''}{labels}; the grid stopped: its finished runs "
            f"are kept and the same command resumes", err.indexes
        ) from err


def _check_results_out(out: Path) -> Path:
    """``out`` checked before any work (:func:`~budgetgym.envs.io.check_out_dir`); an existing
    directory that is no results directory (no ``experiment.yaml``, no ``meta.json``) but holds a
    file the run would replace (a plan's ``report.md``) is a one-line error, and is left as it was."""
    out = check_out_dir(out)
    clash = foreign_files(out, _RESULT_FILES, ["experiment.yaml", "meta.json"])
    if clash:
        raise BudgetGymError(f"output directory '{out}': holds {', '.join(repr(n) for n in clash)}, which the run "
                             f"would replace, and is not a results directory (no experiment.yaml or meta.json); "
                             f"expected a new directory or an earlier run's")
    return out


def _run_grid(
    cfg: ExperimentConfig,
    out_dir: Path,
    runner: Backend,
    oracle_tasks: list[OracleTask],
    run_tasks: list[RunTask],
    campaigns: list[Campaign],
    *,
    workers: int,
    backend: str,
    address: str | None,
    progress: bool,
    report: bool,
    plots: bool,
    echo: Callable[[str], None] | None,
) -> ExperimentResult:
    """Write the results directory's header files, run every task on ``runner`` and rebuild the
    tables (the body of :func:`run_experiment`, after the grid is planned and the backend started).
    A family whose ensemble plays fewer draws than asked in a split is one line to ``echo``, and every
    family's draws (asked, and played per split) are recorded in ``meta.json``'s session."""
    from budgetgym.experiments.report import build_report

    start, t0 = utc_now(), time.perf_counter()
    env = environment_info()  # once: the code that runs is the code imported now (git runs twice per call)
    notes = [_other_code(out_dir, env), *(c.draws_note() for c in campaigns)]
    for note in notes:
        if note is not None and echo is not None:
            echo(note)
    meta_session = {"start": start, "backend": backend, "workers": workers, "address": address, "status": "running",
                    "git": env["git"], "budgetgym": env["packages"].get("budgetgym")}
    family_draws = {c.label: {"asked": c.asked, "test": c.split_draws("test"), "train": c.split_draws("train")}
                    for c in campaigns if c.family is not None}
    if family_draws:
        meta_session["family_draws"] = family_draws
    try:  # the first writes: a directory that cannot be written is one line, before any run
        out_dir.mkdir(parents=True, exist_ok=True)
        atomic_write_text(out_dir / "experiment.yaml", yaml.safe_dump(cfg.model_dump(mode="json"), sort_keys=False))
        _write_meta(out_dir, cfg, meta_session, env)
        grid = {task.path.relative_to(out_dir).as_posix(): task.key for task in run_tasks}
        _drop_other_grid_tables(out_dir, grid)
        write_grid(out_dir, grid)
    except OSError as err:  # no permission, a read-only or full disk
        raise BudgetGymError(f"output directory '{out_dir}': cannot be written ({err.strerror or err})") from None

    outcomes: list[Outcome] = []
    bar = _progress_bar(len(oracle_tasks) + len(run_tasks), progress)
    try:
        # every oracle first: the runs score their episodes against the stored solves
        phases: list[list[Task]] = [list(oracle_tasks), list(run_tasks)]
        for tasks in phases:
            for _, outcome in _named_worker_exits(runner.run(execute, tasks), tasks):
                outcomes.append(outcome)
                if outcome.status == "failed" and echo is not None:
                    echo(f"failed: {outcome.label}: {outcome.error} (see {outcome.traceback})")
                if bar is not None:
                    bar.set_postfix_str(outcome.label, refresh=False)
                    bar.update(1)
    except BaseException:
        meta_session.update(end=utc_now(), status="interrupted", **_counts(outcomes))
        with contextlib.suppress(Exception):
            _write_meta(out_dir, cfg, meta_session, env)
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
    _write_meta(out_dir, cfg, meta_session, env)
    return ExperimentResult(out_dir, cfg, outcomes, summary, wall, report_path, failed)


def _counts(outcomes: list[Outcome]) -> dict[str, int]:
    runs = [o for o in outcomes if o.kind == "run"]
    return {
        "runs_done": sum(o.status == "done" for o in runs),
        "runs_skipped": sum(o.status == "skipped" for o in runs),
        "runs_failed": sum(o.status == "failed" for o in runs),
        "oracle_failed": sum(o.status == "failed" for o in outcomes if o.kind == "oracle"),
    }


#: The tables the end of a session rebuilds from the grid's run folders.
_GRID_TABLES = ("results.csv", "summary.csv", "poi.csv", "report.md")


def _drop_other_grid_tables(out: Path, grid: dict[str, str]) -> None:
    """Delete the tables an earlier, different grid (``grid.json``'s runs and keys) left in ``out``.
    They are rebuilt at the end of the session; until then ``baseline`` and ``regress`` (which read
    ``results.csv`` first) would take the earlier grid's numbers for this one's config hash, and a
    killed session would leave them there for good."""
    try:
        before = read_json(out / GRID_FILE).get("runs")
    except (OSError, ValueError, AttributeError):
        before = None
    if before == grid:
        return
    for name in _GRID_TABLES:
        (out / name).unlink(missing_ok=True)


def _other_code(out: Path, env: dict[str, Any]) -> str | None:
    """A warning when ``out`` holds runs made by another commit or version of budgetgym than this one
    (``env``, :func:`environment_info`; ``meta.json``'s last session): resuming keeps those runs, so the
    results would mix two codes. A damaged ``meta.json`` says nothing (the run rewrites it)."""
    try:
        meta = read_meta(out)
        before = (meta.get("git") or {}).get("commit"), (meta.get("packages") or {}).get("budgetgym")
    except (BudgetGymError, AttributeError):
        return None
    now = env["git"].get("commit"), env["packages"].get("budgetgym")
    if before == now or before == (None, None):
        return None

    def name(commit: str | None, version: str | None) -> str:
        return f"commit {commit[:10]}" if commit else f"budgetgym {version}"

    return (f"warning: {out} holds runs made by {name(*before)}, this is {name(*now)}: its finished runs are "
            f"kept, not re-run, so the results mix the two (use another --out for a grid of this code alone)")


def _write_meta(out: Path, cfg: ExperimentConfig, session: dict[str, Any], env: dict[str, Any]) -> None:
    """``meta.json``: environment (``env``, :func:`environment_info`), config hash, this session's
    start/end; earlier sessions kept."""
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
        **env,
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
