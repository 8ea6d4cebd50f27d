"""The grid runner as a library: layout, agreement with the evaluator, resume, failures,
interrupts, and identical numbers from the serial, process-pool and Ray backends.

Tiny agents are registered here (and imported by pool/Ray workers through the experiment's
``imports``), on ``stationary-3`` shortened to 6 steps, so every run takes milliseconds.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pandas as pd
import pytest
from conftest import run_cli

from budgetgym.agents.base import AgentParams, BaseAgent, make_agent, register_agent
from budgetgym.agents.evaluation import RESULT_COLUMNS, episode_seed, evaluate
from budgetgym.envs import ChannelBudgetEnv, load_scenario, scenario_path, solve_oracle, split_to_action
from budgetgym.envs.allocation import spend_to_pacing_action
from budgetgym.envs.errors import BudgetGymError
from budgetgym.experiments.backends import ProcessPoolBackend, SerialBackend, make_backend
from budgetgym.experiments.config import (
    apply_overrides,
    experiment_from_dict,
    load_experiment,
    parse_overrides,
)
from budgetgym.experiments.report import build_report
from budgetgym.experiments.results import collect_learning_curves, collect_results, iter_done_runs
from budgetgym.experiments.runner import plan_experiment, run_experiment, run_task

MODULE = __name__  # how workers import this file (pytest puts tests/ on sys.path)
HORIZON = 6


# ----------------------------------------------------------------------------- tiny agents
class TiltParams(AgentParams):
    tilt: float = 0.0


@register_agent("t_tilt")
class TiltAgent(BaseAgent):
    """A fixed split: logit ``tilt`` on the first channel."""

    Params: ClassVar[type[AgentParams]] = TiltParams

    def act(self, observation: np.ndarray, deterministic: bool = True) -> np.ndarray:
        a = np.zeros(self.action_space.shape, dtype=np.float32)
        a[0] = self.params.tilt  # type: ignore[attr-defined]
        return a


class NoisyParams(AgentParams):
    crash_seed: int | None = None
    exit_seed: int | None = None
    die_seed: int | None = None
    interrupt_seed: int | None = None
    interrupt_file: str | None = None


@register_agent("t_noisy")
class NoisyAgent(BaseAgent):
    """Random splits from its seeded generator. It crashes on ``crash_seed``, calls ``sys.exit`` on
    ``exit_seed`` (as a library's command-line entry point does), ends its process on ``die_seed`` (as
    the kernel's out-of-memory killer or a crash in native code would); on
    ``interrupt_seed`` it raises KeyboardInterrupt (a Ctrl-C or a killed process) while
    ``interrupt_file`` exists."""

    Params: ClassVar[type[AgentParams]] = NoisyParams

    def reset(self, seed: int | None = None) -> None:
        super().reset(seed)
        self.seed, self.t = seed, 0

    def act(self, observation: np.ndarray, deterministic: bool = True) -> np.ndarray:
        p = self.params
        self.t += 1
        if self.t > 2 and self.seed == p.crash_seed:  # type: ignore[attr-defined]
            raise RuntimeError("boom")
        if self.t > 2 and self.seed == p.exit_seed:  # type: ignore[attr-defined]
            sys.exit("solver: bad state\nsee the log")
        if self.t > 2 and self.seed == p.die_seed:  # type: ignore[attr-defined]
            os._exit(3)
        if self.t > 2 and self.seed == p.interrupt_seed and Path(p.interrupt_file or "").is_file():  # type: ignore[attr-defined]
            raise KeyboardInterrupt
        return self.rng.uniform(-1, 1, self.action_space.shape).astype(np.float32)


class LearnerParams(AgentParams):
    tilt: float = 0.0


@register_agent("t_learner")
class LearnerAgent(TiltAgent):
    Params: ClassVar[type[AgentParams]] = LearnerParams
    train_steps = 0


def train_tiny(scenario: Any, config: dict[str, Any], seed: int, out_dir: Path) -> BaseAgent:
    """A stand-in trainer: logs an SB3-style progress.csv and returns a 'trained' agent."""
    steps = int(config["steps"])
    out_dir.mkdir(parents=True, exist_ok=True)
    xs = np.linspace(steps / 4, steps, 4)
    pd.DataFrame({"time/total_timesteps": xs, "rollout/ep_rew_mean": 100 + xs / steps + seed}).to_csv(
        out_dir / "progress.csv", index=False
    )
    agent = make_agent("t_learner", ChannelBudgetEnv(scenario), tilt=0.5 + 0.1 * seed)
    agent.train_steps = steps  # type: ignore[attr-defined]
    agent.save(out_dir / "agent.json")
    return agent


def experiment(**changes: Any) -> Any:
    data: dict[str, Any] = {
        "name": "tiny",
        "scenarios": [{"scenario": "stationary-3", "label": "s3", "set": {"horizon": HORIZON}}],
        "agents": [
            "t_tilt",
            {"agent": "t_tilt", "label": "tilted", "params": {"tilt": 0.8}},
            "t_noisy",
        ],
        "seeds": 3,
        "episodes": 2,
        "baseline": "t_tilt",
        "imports": [MODULE],
        "bootstrap": {"reps": 200},
    }
    data.update(changes)
    labels = [a if isinstance(a, str) else a.get("label", a["agent"]) for a in data["agents"]]
    if data["baseline"] not in labels:
        data["baseline"] = None
    return experiment_from_dict(data, "test experiment")


def numbers(out: Path) -> pd.DataFrame:
    return collect_results(out).drop(columns=["wall_s", "train_s"])  # timings differ between runs


# ----------------------------------------------------------------------------- layout
def test_run_writes_the_layout_and_matches_the_evaluator(tmp_path):
    res = run_experiment(experiment(), tmp_path, report=False)
    assert res.ok and res.count("done") == 9 and res.count("skipped") == 0
    runs = sorted(p.relative_to(tmp_path).as_posix() for p in iter_done_runs(tmp_path))
    assert runs[0] == "runs/s3/t_noisy/seed_0" and len(runs) == 9
    rd = tmp_path / "runs/s3/tilted/seed_1"
    for name in ["config.yaml", "results.json", "trace.csv", "run.log", "done", "agent.json"]:
        assert (rd / name).is_file(), name
    assert not list(tmp_path.rglob("*.tmp")), "temporary files left behind"
    trace = pd.read_csv(rd / "trace.csv")
    assert list(trace.columns) == ["episode", "step", "channel", "spend", "conversions", "expected_reward"]
    assert len(trace) == 2 * HORIZON * 3

    table = collect_results(tmp_path)
    assert list(table.columns[: len(RESULT_COLUMNS)]) == RESULT_COLUMNS
    assert len(table) == 3 * 3 * 2
    sc = load_scenario("stationary-3").override({"horizon": HORIZON})
    agents = [("t_tilt", "t_tilt", {}), ("tilted", "t_tilt", {"tilt": 0.8}), ("t_noisy", "t_noisy", {})]
    for label, name, params in agents:
        for seed in range(3):
            direct = evaluate(make_agent(name, ChannelBudgetEnv(sc), **params), sc, seeds=[seed], episodes=2)
            got = table[(table.agent == label) & (table.seed == seed)].sort_values("episode")
            for col in ["reward", "expected_reward", "oracle_reward", "pct_of_oracle", "spend"]:
                np.testing.assert_array_equal(got[col].to_numpy(), [r.row()[col] for r in direct])
            assert list(got["env_seed"]) == [r.env_seed for r in direct]


def test_oracle_files_agree_with_the_evaluator(tmp_path):
    run_experiment(experiment(agents=["t_tilt"], seeds=2), tmp_path, report=False)
    table = collect_results(tmp_path)
    for _, row in table.iterrows():
        data = json.loads((tmp_path / "oracle/s3" / f"seed_{row.env_seed}.json").read_text())
        assert data["oracle_reward"] == pytest.approx(row.oracle_reward, rel=1e-12)
        assert sum(data["step_expected_reward"]) == pytest.approx(row.oracle_reward, rel=1e-9)
        assert np.asarray(data["plan"]).shape == (HORIZON, 3)


def test_agent_scenarios_and_scenario_params(tmp_path):
    cfg = experiment(
        scenarios=[
            {"scenario": "stationary-3", "label": "s3", "set": {"horizon": HORIZON}},
            {"scenario": "stationary-3", "label": "s3b", "set": {"horizon": 4}},
        ],
        agents=[
            {"agent": "t_tilt", "scenario_params": {"s3b": {"tilt": -0.5}}},
            {"agent": "t_noisy", "scenarios": ["s3b"]},
        ],
        seeds=1,
        episodes=1,
    )
    oracle, runs = plan_experiment(cfg, tmp_path)
    assert sorted(r.label for r in runs) == ["s3/t_tilt/seed_0", "s3b/t_noisy/seed_0", "s3b/t_tilt/seed_0"]
    assert {r.scenario_label: r.params for r in runs if r.agent.agent == "t_tilt"} == {"s3": {}, "s3b": {"tilt": -0.5}}
    assert len(oracle) == 2  # no drift: one path per scenario
    bad = experiment(agents=[{"agent": "t_tilt", "scenario_params": {"nope": {}}}])
    with pytest.raises(BudgetGymError, match=r"agents\[0\]\.scenario_params: unknown scenario\(s\) nope"):
        plan_experiment(bad, tmp_path)
    with pytest.raises(BudgetGymError, match=r"agents\[0\].*tilt"):
        plan_experiment(experiment(agents=[{"agent": "t_tilt", "params": {"tilt": "x"}}]), tmp_path)


# ----------------------------------------------------------------------------- resume
def test_resume_skips_finished_runs_and_reruns_changed_ones(tmp_path):
    cfg = experiment()
    run_experiment(cfg, tmp_path, report=False)
    before = numbers(tmp_path)
    stamps = {p: (p / "done").stat().st_mtime_ns for p in iter_done_runs(tmp_path)}
    again = run_experiment(cfg, tmp_path, report=False)
    assert again.count("done") == 0 and again.count("skipped") == 9
    assert {p: (p / "done").stat().st_mtime_ns for p in iter_done_runs(tmp_path)} == stamps
    pd.testing.assert_frame_equal(numbers(tmp_path), before)
    # More seeds: only the new ones run. A changed parameter reruns that agent only.
    grown = run_experiment(experiment(seeds=4), tmp_path, report=False)
    assert grown.count("done") == 3 and grown.count("skipped") == 9
    changed = experiment(seeds=4, agents=["t_tilt", {"agent": "t_tilt", "label": "tilted", "params": {"tilt": -1}},
                                          "t_noisy"])
    rerun = run_experiment(changed, tmp_path, report=False)
    assert rerun.count("done") == 4 and all("tilted" in o.label for o in rerun.outcomes if o.status == "done")


def test_a_failing_run_is_recorded_and_the_rest_of_the_grid_finishes(tmp_path):
    cfg = experiment(agents=["t_tilt", {"agent": "t_noisy", "params": {"crash_seed": 1}}], seeds=3, episodes=1)
    res = run_experiment(cfg, tmp_path, plots=False)
    assert not res.ok and [o.label for o in res.failed] == ["s3/t_noisy/seed_1"]
    rd = tmp_path / "runs/s3/t_noisy/seed_1"
    assert not (rd / "done").exists() and not (rd / "results.json").exists()
    assert "RuntimeError: boom" in (rd / "error.txt").read_text()
    table = pd.read_csv(tmp_path / "results.csv")
    assert len(table) == 5 and not ((table.agent == "t_noisy") & (table.seed == 1)).any()
    summary = pd.read_csv(tmp_path / "summary.csv")
    assert summary.set_index("agent").loc["t_noisy", "n_seeds"] == 2
    # Fixing the agent and re-running completes only the failed run.
    fixed = experiment(agents=["t_tilt", {"agent": "t_noisy", "params": {"crash_seed": 1}}], seeds=[0, 2], episodes=1)
    assert run_experiment(fixed, tmp_path, report=False).count("skipped") == 4


@pytest.mark.parametrize("workers", [1, 2])
def test_a_run_calling_sys_exit_is_a_failed_run_named_in_one_line(tmp_path: Path, workers: int) -> None:
    """``sys.exit`` in an agent (SystemExit is no Exception) ended a serial grid with its message alone, no run
    named, nothing recorded and the other runs not run; in a process pool it ended the worker and the grid
    waited for its task for ever. It is now the run's failure, like any exception: recorded in the run's
    error.txt with its traceback, its first line in the outcome, and the rest of the grid runs."""
    cfg = experiment(agents=["t_tilt", {"agent": "t_noisy", "params": {"exit_seed": 1}}], seeds=3, episodes=1)
    res = run_experiment(cfg, tmp_path, workers=workers, report=False)
    assert [(o.label, o.error) for o in res.failed] == [("s3/t_noisy/seed_1", "SystemExit: solver: bad state ...")]
    assert res.count("done") == 5
    error = (tmp_path / "runs/s3/t_noisy/seed_1/error.txt").read_text()
    assert "Traceback" in error and "SystemExit: solver: bad state" in error and "sys.exit" in error


def test_a_failed_oracle_solve_is_one_line_naming_it_and_the_file_of_its_traceback(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A failed oracle solve kept no traceback (the CLI pointed at an error.txt that was never written): it is
    now in ``seed_<k>.error.txt`` beside the solve's files (a scenario's oracle folder holds a solve per
    episode path), named in the one line echoed; a later successful solve removes it."""
    import budgetgym.envs.oracle as oracle

    real = oracle.solve_oracle

    def diverge(*args: Any, **kwargs: Any) -> Any:
        raise ValueError("solver diverged")

    monkeypatch.setattr(oracle, "solve_oracle", diverge)
    lines: list[str] = []
    res = run_experiment(experiment(agents=["t_tilt"], seeds=1, episodes=1), tmp_path, report=False,
                         echo=lines.append)
    failed = [o for o in res.failed if o.kind == "oracle"]
    assert len(failed) == 1 and failed[0].error == "ValueError: solver diverged"
    error = tmp_path / "oracle/s3/seed_0.error.txt"
    assert f"failed: {failed[0].label}: ValueError: solver diverged (see {error})" in lines
    assert "Traceback" in error.read_text() and "ValueError: solver diverged" in error.read_text()
    monkeypatch.setattr(oracle, "solve_oracle", real)
    assert run_experiment(experiment(agents=["t_tilt"], seeds=1, episodes=1), tmp_path, report=False).ok
    assert not error.exists()


def test_an_interrupted_grid_keeps_finished_runs_and_resumes_to_the_same_numbers(tmp_path):
    trigger = tmp_path / "kill-now"
    trigger.touch()
    params = {"interrupt_seed": 1, "interrupt_file": str(trigger)}
    cfg = experiment(agents=["t_tilt", {"agent": "t_noisy", "params": params}])
    with pytest.raises(KeyboardInterrupt):
        run_experiment(cfg, tmp_path / "a", report=False)
    done = {p.relative_to(tmp_path / "a").as_posix() for p in iter_done_runs(tmp_path / "a")}
    assert "runs/s3/t_tilt/seed_2" in done and "runs/s3/t_noisy/seed_0" in done
    assert "runs/s3/t_noisy/seed_1" not in done and "runs/s3/t_noisy/seed_2" not in done
    assert not (tmp_path / "a/runs/s3/t_noisy/seed_1/results.json").exists()
    assert not list((tmp_path / "a").rglob("*.tmp"))
    assert json.loads((tmp_path / "a/meta.json").read_text())["status"] == "interrupted"
    partial = build_report(tmp_path / "a", plots=False).results  # consistent: whole runs only
    assert len(partial) == 2 * len(done)
    # Resume the same experiment (the kill is over) and compare with an uninterrupted run.
    trigger.unlink()
    resumed = run_experiment(cfg, tmp_path / "a", report=False)
    assert resumed.count("skipped") == len(done) and resumed.count("done") == 6 - len(done)
    run_experiment(cfg, tmp_path / "b", report=False)
    pd.testing.assert_frame_equal(numbers(tmp_path / "a"), numbers(tmp_path / "b"))


# ----------------------------------------------------------------------------- learners
def test_learners_are_trained_first_and_their_curves_collected(tmp_path):
    cfg = experiment(
        agents=["t_tilt", {"agent": "t_learner", "train": {"steps": 4000}, "trainer": f"{MODULE}:train_tiny"}],
        seeds=2,
        episodes=1,
    )
    res = run_experiment(cfg, tmp_path)
    assert res.ok
    table = collect_results(tmp_path)
    assert set(table[table.agent == "t_learner"]["train_steps"]) == {4000}
    assert set(table[table.agent == "t_tilt"]["train_steps"]) == {0}
    assert (tmp_path / "runs/s3/t_learner/seed_1/train/progress.csv").is_file()
    curves = collect_learning_curves(tmp_path)
    assert set(curves["agent"]) == {"t_learner"} and len(curves) == 8
    assert (tmp_path / "plots/learning_s3.png").is_file()
    # The trained agent is what was evaluated: seed 1 was 'trained' to tilt 0.6.
    sc = load_scenario("stationary-3").override({"horizon": HORIZON})
    direct = evaluate(make_agent("t_learner", ChannelBudgetEnv(sc), tilt=0.6), sc, seeds=[1])
    assert table[(table.agent == "t_learner") & (table.seed == 1)]["expected_reward"].iloc[0] == pytest.approx(
        direct[0].expected_reward, rel=1e-12
    )


def test_a_train_config_without_a_trainer_is_a_user_error(tmp_path):
    with pytest.raises(BudgetGymError, match="no built-in trainer"):
        plan_experiment(experiment(agents=[{"agent": "t_tilt", "train": {"steps": 1}}]), tmp_path)
    with pytest.raises(BudgetGymError, match="trainer 'nowhere_xyz:fn' not found"):
        plan_experiment(experiment(agents=[{"agent": "t_tilt", "train": {}, "trainer": "nowhere_xyz:fn"}]), tmp_path)


@pytest.mark.parametrize("given", [{"params": {"tilt": 0.8}}, {"scenario_params": {"s3": {"tilt": 0.8}}}])
def test_a_learners_params_are_a_user_error_not_ignored(tmp_path, given):
    """A learner is built by its trainer from ``train`` (``fn(scenario, train, seed, out_dir)``): its
    ``params`` never reach it, so giving them is refused before anything runs (they were ignored)."""
    learner = {"agent": "t_learner", "train": {"steps": 1}, "trainer": f"{MODULE}:train_tiny", **given}
    with pytest.raises(BudgetGymError, match=r"agents\[1\] \(t_learner\): .*ignored") as exc:
        plan_experiment(experiment(agents=["t_tilt", learner]), tmp_path)
    assert "\n" not in str(exc.value) and not tmp_path.joinpath("runs").exists()


def test_ppo_smoke(tmp_path):
    pytest.importorskip("stable_baselines3")
    pytest.importorskip("budgetgym.agents.ppo")  # registers ppo
    train = {"total_timesteps": 32, "n_envs": 1, "n_steps": 32, "batch_size": 32, "n_epochs": 1, "eval_freq": 0}
    cfg = experiment(agents=[{"agent": "ppo", "train": train}], seeds=1, episodes=1)
    res = run_experiment(cfg, tmp_path, report=False)
    assert res.ok, res.failed
    table = collect_results(tmp_path)
    assert table["train_steps"].iloc[0] == 32
    assert (tmp_path / "runs/s3/ppo/seed_0/train/model.zip").is_file()
    assert not collect_learning_curves(tmp_path).empty


# ----------------------------------------------------------------------------- backends
def test_process_pool_gives_the_serial_numbers(tmp_path, monkeypatch):
    """Also: the oracle phase and the run phase share one pool of two workers (each spawned worker
    imports budgetgym, seconds; a pool per phase spawned them twice)."""
    from budgetgym.experiments import backends

    pools: list[int | None] = []
    original = backends.ProcessPoolExecutor

    def counting(max_workers: int | None = None, *args: Any, **kwargs: Any) -> Any:
        pools.append(max_workers)
        return original(max_workers, *args, **kwargs)

    monkeypatch.setattr(backends, "ProcessPoolExecutor", counting)
    cfg = experiment(seeds=3, episodes=1)
    run_experiment(cfg, tmp_path / "serial", report=False)
    assert pools == []
    res = run_experiment(cfg, tmp_path / "pool", workers=2, report=False)
    assert res.ok and res.count("done") == 9
    assert pools == [2]
    pd.testing.assert_frame_equal(numbers(tmp_path / "pool"), numbers(tmp_path / "serial"))
    trace_a = pd.read_csv(tmp_path / "serial/runs/s3/t_noisy/seed_2/trace.csv")
    trace_b = pd.read_csv(tmp_path / "pool/runs/s3/t_noisy/seed_2/trace.csv")
    pd.testing.assert_frame_equal(trace_a, trace_b)


def test_a_worker_process_that_dies_stops_the_grid_naming_its_run(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A worker process ending without an answer (here os._exit; the out-of-memory killer, a segfault) left
    ``multiprocessing.Pool`` waiting for its task for ever: ``budgetgym run --workers 2`` hung. It is now one
    line naming the runs that worker may have been running (exit 1, as a failed run), and the finished runs
    resume."""
    import yaml

    from budgetgym.experiments.backends import WorkerExited

    cfg = experiment(agents=["t_tilt", {"agent": "t_noisy", "params": {"die_seed": 1}}], seeds=3, episodes=1)
    with pytest.raises(WorkerExited) as err:
        run_experiment(cfg, tmp_path / "lib", workers=2, report=False)
    assert "s3/t_noisy/seed_1" in str(err.value) and "\n" not in str(err.value)
    assert str(err.value).startswith("a worker process exited without an answer (killed, out of memory, ")
    exp = tmp_path / "die.yaml"
    exp.write_text(yaml.safe_dump(cfg.model_dump(mode="json")))
    code, _, stderr = run_cli(capsys, "run", str(exp), "--out", str(tmp_path / "cli"), "--workers", "2",
                              "--no-progress", "--no-plots")
    assert code == 1
    lines = [line for line in stderr.splitlines() if line.startswith("error:")]
    assert len(lines) == 1 and "s3/t_noisy/seed_1" in lines[0] and "Traceback" not in stderr
    fixed = experiment(agents=["t_tilt", {"agent": "t_noisy", "params": {"die_seed": None}}], seeds=3, episodes=1)
    res = run_experiment(fixed, tmp_path / "lib", workers=2, report=False)
    assert res.ok and sum(o.kind == "run" for o in res.outcomes) == 6


def _square(x: int) -> int:
    return x * x


def test_backends_map_in_completion_order_with_indices():
    assert sorted(SerialBackend().run(_square, [1, 2, 3])) == [(0, 1), (1, 4), (2, 9)]
    assert isinstance(make_backend("local", 1), SerialBackend)
    assert isinstance(make_backend("local", 3), ProcessPoolBackend)
    with pytest.raises(BudgetGymError, match="--backend"):
        make_backend("dask")
    with pytest.raises(BudgetGymError, match="--workers"):
        make_backend("local", 0)
    with pytest.raises(BudgetGymError, match="--address"):
        make_backend("local", 1, address="auto")


@pytest.fixture(scope="module")
def ray_started() -> Iterator[None]:
    """One local Ray instance (2 CPUs) for this file's Ray tests, started by :meth:`RayBackend.start` and shut
    down by its :meth:`~RayBackend.close`: starting Ray takes seconds (its daemons and first workers), and a
    RayBackend that finds Ray initialised uses it and leaves it running, so each test checks the same backend."""
    pytest.importorskip("ray")
    from budgetgym.experiments.backends import RayBackend

    backend = RayBackend(workers=2)
    backend.start()
    try:
        yield
    finally:
        backend.close()


def test_ray_backend_gives_the_serial_numbers(tmp_path, ray_started):
    cfg = experiment(seeds=2, episodes=1)
    run_experiment(cfg, tmp_path / "serial", report=False)
    res = run_experiment(cfg, tmp_path / "ray", backend="ray", workers=2, report=False)
    assert res.ok and res.count("done") == 6
    pd.testing.assert_frame_equal(numbers(tmp_path / "ray"), numbers(tmp_path / "serial"))


def test_a_ray_worker_that_dies_stops_the_grid_naming_its_run(tmp_path: Path, ray_started: None) -> None:
    """A Ray worker ending without an answer (os._exit here; the out-of-memory killer, a segfault) came out of
    ``ray.get`` as Ray's own ``WorkerCrashedError``, a traceback through the runner: it is now the process
    pool's :class:`WorkerExited`, naming the one run it was running (Ray knows which), and the finished runs
    resume."""
    from budgetgym.experiments.backends import WorkerExited

    cfg = experiment(agents=["t_tilt", {"agent": "t_noisy", "params": {"die_seed": 1}}], seeds=2, episodes=1)
    with pytest.raises(WorkerExited) as err:
        run_experiment(cfg, tmp_path / "ray", backend="ray", workers=2, report=False)
    assert err.value.indexes and "s3/t_noisy/seed_1" in str(err.value) and "\n" not in str(err.value)
    assert "one of" not in str(err.value)  # Ray names the task that died, not the tasks handed out
    fixed = experiment(agents=["t_tilt", {"agent": "t_noisy", "params": {"die_seed": None}}], seeds=2, episodes=1)
    res = run_experiment(fixed, tmp_path / "ray", report=False)  # resumed in-process: what Ray finished is kept
    assert res.ok and sum(o.kind == "run" for o in res.outcomes) == 4


def test_a_ray_cluster_that_cannot_be_reached_leaves_no_results_directory(tmp_path, monkeypatch):
    """Ray is joined before anything is written: a bad --address is a one-line error, not a results
    directory holding only experiment.yaml, grid.json and a meta.json stuck at 'running'."""
    ray = pytest.importorskip("ray")

    def refuse(*args: object, **kwargs: object) -> None:
        raise ConnectionError("no cluster at 192.0.2.1:6379")

    monkeypatch.setattr(ray, "is_initialized", lambda: False)
    monkeypatch.setattr(ray, "init", refuse)
    with pytest.raises(BudgetGymError, match="cannot start or reach 192.0.2.1:6379"):
        run_experiment(experiment(seeds=1, episodes=1), tmp_path / "out", backend="ray", address="192.0.2.1:6379")
    assert not (tmp_path / "out").exists()


# ----------------------------------------------------------------------------- pieces
def test_each_episode_path_is_solved_once_for_the_whole_grid(tmp_path, oracle_solves):
    """Three agents x 3 seeds x 2 episodes share the oracle solves: one per distinct path."""
    calls = oracle_solves
    drifting = {"horizon": HORIZON, "drift.sd": 0.05}
    cfg = experiment(scenarios=[{"scenario": "stationary-3", "label": "s3", "set": drifting}])
    res = run_experiment(cfg, tmp_path, report=False)
    assert res.ok
    sc = load_scenario("stationary-3").override(drifting)
    paths = {
        scenario_path(sc, episode_seed(seed, ep)).response.tobytes() for seed in range(3) for ep in range(2)
    }
    assert len(paths) == 6  # with drift every episode has its own path
    assert len(calls) == len(paths)  # not 3 agents x 6 episodes, and not twice per episode
    # and the runs read the stored values instead of solving
    assert "solved it here" not in "".join(p.read_text() for p in tmp_path.rglob("run.log"))


def test_a_run_without_stored_oracles_solves_them_itself(tmp_path):
    cfg = experiment(agents=["t_tilt"], seeds=1, episodes=1)
    _, (task,) = plan_experiment(cfg, tmp_path)
    outcome = run_task(task)
    assert outcome.status == "done"
    assert "solved it here" in (Path(outcome.path) / "run.log").read_text()
    row = collect_results(tmp_path).iloc[0]
    sc = load_scenario("stationary-3").override({"horizon": HORIZON})
    assert row.oracle_reward == solve_oracle(sc, seed=0).expected_reward


def test_oracle_step_rewards_follow_outages_and_share_bounds(tmp_path):
    """shock-5 has an outage and share bounds: the stored per-step oracle rewards are the
    environment's expected rewards when it plays the oracle plan, step by step. A committed
    minimum on the suspended channel makes the oracle spend there during the outage."""
    sc = load_scenario("shock-5")
    outage = next(s for s in sc.shocks if s.kind == "outage")
    horizon = outage.start + outage.duration + 3
    changes = {"horizon": horizon, "channels.social.min_share": 0.15, "shocks": sc.model_dump()["shocks"][:2]}
    cfg = experiment_from_dict(
        {
            "name": "outage",
            "scenarios": [{"scenario": "shock-5", "label": "s5", "set": changes}],
            "agents": ["equal"],
            "seeds": 1,
            "bootstrap": {"reps": 200},
        },
        "test experiment",
    )
    run_experiment(cfg, tmp_path, report=False)
    data = json.loads((tmp_path / "oracle/s5/seed_0.json").read_text())
    short = sc.override(changes)
    plan = np.asarray(data["plan"])
    env = ChannelBudgetEnv(short)
    env.reset(seed=0)
    social = short.channel_names.index("social")
    assert plan[outage.start : outage.start + outage.duration, social].min() > 0  # the test bites
    got = []
    for t in range(horizon):
        step = plan[t].sum()
        action = split_to_action(plan[t] / step, short.action.logit_scale)
        if env.agent_pacing:
            action = np.append(action, spend_to_pacing_action(step, env.budget - env.cumulative_spend, env.step_cap))
        _, _, _, _, info = env.step(action.astype(np.float32))
        got.append(info["expected_reward"])
    # the env reproduces the plan to ~1e-8 (split logits, spend quanta); the outage bug was ~10%
    np.testing.assert_allclose(data["step_expected_reward"], got, rtol=1e-6)


def test_config_overrides_shorthand_and_validation(tmp_path):
    raw = {"name": "x", "scenarios": ["stationary-3"], "agents": ["equal", {"agent": "ppo", "train": {"a": 1}}],
           "seeds": 2}
    changed = apply_overrides(raw, parse_overrides(["agents.ppo.train.a=5", "seeds=[3, 4]", "agents.equal.label=eq",
                                                    "scenarios.stationary-3.set.horizon=7"]))
    assert changed["agents"][1]["train"] == {"a": 5} and changed["seeds"] == [3, 4]
    assert changed["agents"][0] == {"agent": "equal", "label": "eq"}
    assert changed["scenarios"][0] == {"scenario": "stationary-3", "set": {"horizon": 7}}
    assert raw["seeds"] == 2  # the input is not modified
    cfg = experiment_from_dict(changed)
    assert cfg.seeds == [3, 4] and cfg.baseline_agent is None
    assert cfg.resolve_scenarios()[0][1].horizon == 7
    with pytest.raises(BudgetGymError, match="--set 'x': expected key=value"):
        parse_overrides(["x"])
    with pytest.raises(BudgetGymError, match="no list item 'nope'"):
        apply_overrides(raw, {"agents.nope.params.x": 1})
    with pytest.raises(BudgetGymError, match=r"agents: repeated label\(s\) equal"):
        experiment_from_dict({**raw, "agents": ["equal", "equal"]})
    with pytest.raises(BudgetGymError, match="baseline 'ucb1' is not one of the agents"):
        experiment_from_dict({**raw, "baseline": "ucb1"})
    with pytest.raises(BudgetGymError, match="seeds must be unique"):
        experiment_from_dict({**raw, "seeds": [1, 1]})
    assert experiment_from_dict({**raw, "agents": ["equal", "ucb1"]}).baseline_agent == "equal"


def test_load_experiment_takes_set_strings_as_a_notebook_writes_them() -> None:
    """``load_experiment(name, ["seeds=[3, 4]"])``, the ``--set`` strings themselves, is the mapping's load; it
    failed with an AttributeError (a list has no ``items``). Anything else is a one-line error."""
    by_strings = load_experiment("quickstart", ["seeds=[3, 4]", "episodes=2"])
    by_mapping = load_experiment("quickstart", {"seeds": [3, 4], "episodes": 2})
    assert by_strings.seeds == by_mapping.seeds == [3, 4]
    assert by_strings.model_dump() == by_mapping.model_dump()
    with pytest.raises(BudgetGymError, match="--set 'seeds': expected key=value"):
        load_experiment("quickstart", ["seeds"])
    with pytest.raises(BudgetGymError, match="overrides: expected a mapping .* got str"):
        load_experiment("quickstart", "seeds=[3, 4]")  # type: ignore[arg-type]


def test_overrides_read_each_named_file_once(tmp_path, monkeypatch):
    """``--set`` addresses a scenario entry naming a file by the name inside the file: each file is read once
    per ``apply_overrides``, not once per override and entry (4 overrides of 3 entries read each file 4 times)."""
    entries = []
    for k in range(3):
        (tmp_path / f"s{k}.yaml").write_text(f"family: fam-{k}\nscenario: stationary-3\n")
        entries.append({"scenario": f"s{k}.yaml"})
    raw = {"name": "x", "scenarios": entries, "agents": ["equal"]}
    reads: list[str] = []
    read_text = Path.read_text

    def counted(self: Path, *args: Any, **kwargs: Any) -> str:
        reads.append(self.name)
        return read_text(self, *args, **kwargs)

    monkeypatch.setattr(Path, "read_text", counted)
    changes = {f"scenarios.fam-{k}.draws": k + 1 for k in range(3)} | {"scenarios.fam-0.set.horizon": 4}
    changed = apply_overrides(raw, changes, base=tmp_path)
    assert [e.get("draws") for e in changed["scenarios"]] == [1, 2, 3]
    assert changed["scenarios"][0]["set"] == {"horizon": 4}
    assert sorted(reads) == ["s0.yaml", "s1.yaml", "s2.yaml"]


def test_builtin_experiments_are_valid():
    from budgetgym.experiments.config import list_experiments

    assert {"quickstart", "paper"} <= set(list_experiments())
    for name in ["quickstart", "paper"]:
        cfg = load_experiment(name)
        labels = [label for label, _ in cfg.resolve_scenarios()]
        assert cfg.baseline_agent == "equal" and labels
    quick = load_experiment("quickstart")
    assert {label for label, _ in quick.resolve_scenarios()} == {"stationary-3", "seasonal-5"}
    assert load_experiment("quickstart", seeds=2).seeds == [0, 1]


def test_runs_of_an_earlier_grid_in_the_same_folder_stay_out_of_the_results(tmp_path):
    run_experiment(experiment(seeds=3), tmp_path, report=False)
    assert len(collect_results(tmp_path)) == 3 * 3 * 2
    smaller = experiment(agents=["t_tilt"], seeds=1)
    res = run_experiment(smaller, tmp_path)
    table = collect_results(tmp_path)
    assert res.count("skipped") == 1  # t_tilt seed 0 was already done: resumed, not redone
    assert sorted(set(table.agent)) == ["t_tilt"] and list(table.seed.unique()) == [0]
    assert set(res.summary.agent) == {"t_tilt"} and int(res.summary.n_seeds.iloc[0]) == 1
    # the earlier runs are still on disk, just not part of this grid's tables
    assert (tmp_path / "runs/s3/t_noisy/seed_2/done").is_file()


def test_a_run_marked_done_whose_results_were_lost_is_run_again(tmp_path):
    cfg = experiment(agents=["t_tilt"], seeds=1)
    run_experiment(cfg, tmp_path, report=False)
    before = numbers(tmp_path)
    (tmp_path / "runs/s3/t_tilt/seed_0/results.json").unlink()
    res = run_experiment(cfg, tmp_path, report=False)
    assert res.count("done") == 1 and res.count("skipped") == 0
    pd.testing.assert_frame_equal(numbers(tmp_path), before)


def test_resuming_a_grid_of_another_code_warns_and_sessions_record_their_code(tmp_path):
    """Resuming keeps the finished runs, so a results directory made by another commit (or version)
    would silently mix two codes: the runner says so, once, before running; each session in
    meta.json records its commit and budgetgym version. The same code resumes without a word."""
    cfg = experiment()
    lines: list[str] = []
    run_experiment(cfg, tmp_path, report=False, echo=lines.append)
    assert lines == []
    meta = json.loads((tmp_path / "meta.json").read_text())
    session = meta["sessions"][-1]
    assert session["git"] == meta["git"] and session["budgetgym"] == meta["packages"]["budgetgym"]
    run_experiment(cfg, tmp_path, report=False, echo=lines.append)
    assert lines == []
    meta["git"] = {"commit": "0123456789abcdef", "dirty": False}
    (tmp_path / "meta.json").write_text(json.dumps(meta))
    again = run_experiment(cfg, tmp_path, report=False, echo=lines.append)
    assert again.count("skipped") == 9
    assert len(lines) == 1 and lines[0].startswith(f"warning: {tmp_path} holds runs made by commit 0123456789")
    assert "finished runs are kept" in lines[0]


def test_a_command_checks_its_grid_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """``load_experiment`` checks the grid (its errors name the file) and ``run_experiment`` planned it
    again: every family loaded and every agent built twice per ``budgetgym run``. The check now runs
    once per config; a config never checked, or a copy with other content, is still checked."""
    import yaml

    import budgetgym.experiments.tasks as tasks

    calls: list[str] = []
    real = tasks.check_grid

    def counting(config: Any) -> Any:
        calls.append(config.name)
        return real(config)

    monkeypatch.setattr(tasks, "check_grid", counting)
    path = tmp_path / "tiny.yaml"
    path.write_text(yaml.safe_dump(experiment(seeds=1, episodes=1).model_dump(mode="json")), encoding="utf-8")
    cfg = load_experiment(path)
    result = run_experiment(cfg, tmp_path / "out", progress=False, report=False)
    assert result.count("done") == 3 and not result.failed
    assert calls == ["tiny"]
    # a copy with other content is checked again: its bad parameter is caught before anything runs
    bad = cfg.model_copy(update={"agents": experiment(agents=[{"agent": "t_tilt", "params": {"tilt": "x"}}]).agents})
    with pytest.raises(BudgetGymError, match=r"agents\[0\].*tilt"):
        plan_experiment(bad, tmp_path / "other")
    assert calls == ["tiny", "tiny"]
    plan_experiment(experiment(), tmp_path / "third")  # never loaded: checked here
    assert len(calls) == 3


def _experiment_of_a_scenario_file(tmp_path: Path) -> tuple[Path, dict[str, Any], Path]:
    """A scenario file ``mine.yaml`` (stationary-3, short), its data, and a tiny experiment file on it."""
    import yaml

    sc_path = tmp_path / "mine.yaml"
    data = load_scenario("stationary-3").override({"horizon": HORIZON}).model_dump(mode="json")
    data["name"] = "mine"
    sc_path.write_text(yaml.safe_dump(data), encoding="utf-8")
    exp = experiment(seeds=1, episodes=1, scenarios=[{"scenario": str(sc_path), "label": "m"}])
    path = tmp_path / "tiny.yaml"
    path.write_text(yaml.safe_dump(exp.model_dump(mode="json")), encoding="utf-8")
    return sc_path, data, path


def test_a_file_edited_after_load_experiment_is_read_again_by_the_first_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``load_experiment`` keeps its grid check for the command's run; a scenario file edited between
    the two (a notebook: load, edit the file, run) was run as loaded, silently. The check is reused
    only while every file it read is unchanged: the run plays the file as it is when it runs."""
    import yaml

    import budgetgym.experiments.tasks as tasks

    calls: list[str] = []
    real = tasks.check_grid
    monkeypatch.setattr(tasks, "check_grid", lambda config: calls.append(config.name) or real(config))
    sc_path, data, path = _experiment_of_a_scenario_file(tmp_path)
    cfg = load_experiment(path)
    data["budget"]["total"] = 2 * data["budget"]["total"]
    sc_path.write_text(yaml.safe_dump(data), encoding="utf-8")
    _, tasks_run = plan_experiment(cfg, tmp_path / "a")
    assert {t.scenario.budget.total for t in tasks_run} == {data["budget"]["total"]}
    assert len(calls) == 2  # checked again: the agents are built on the scenario as edited
    # unedited, the load's check serves the run (as `budgetgym run`: once per command)
    cfg = load_experiment(path)
    _, tasks_run = plan_experiment(cfg, tmp_path / "b")
    assert {t.scenario.budget.total for t in tasks_run} == {data["budget"]["total"]} and len(calls) == 3


def test_a_scenario_file_a_family_names_edited_after_load_experiment_is_read_again(tmp_path: Path) -> None:
    """The files behind the kept check include those a family file names (its template): an edit there
    after ``load_experiment`` reaches the first run's family too."""
    import yaml

    base = tmp_path / "base.yaml"
    data = load_scenario("stationary-3").override({"horizon": HORIZON}).model_dump(mode="json")
    base.write_text(yaml.safe_dump(data), encoding="utf-8")
    vary = {"channels.search.saturation.max_response": {"dist": "uniform", "low": 400.0, "high": 440.0}}
    (tmp_path / "fam.yaml").write_text(yaml.safe_dump({"family": "fam", "scenario": "base.yaml", "vary": vary}),
                                       encoding="utf-8")
    exp = experiment(seeds=1, episodes=1, draws=2, scenarios=[{"scenario": str(tmp_path / "fam.yaml"), "label": "f"}])
    path = tmp_path / "tiny.yaml"
    path.write_text(yaml.safe_dump(exp.model_dump(mode="json")), encoding="utf-8")
    cfg = load_experiment(path)
    data["budget"]["total"] = 2 * data["budget"]["total"]
    base.write_text(yaml.safe_dump(data), encoding="utf-8")
    _, tasks_run = plan_experiment(cfg, tmp_path / "a")
    assert {t.scenario.budget.total for t in tasks_run} == {data["budget"]["total"]}


def test_a_config_planned_again_reads_its_scenario_files_again(tmp_path: Path) -> None:
    """``load_experiment``'s check is reused by the plan of that command only: kept on the config for
    good, every later ``run_experiment`` of it (a notebook's loop: edit the scenario file, run again)
    ran the scenario as first read, silently, where each run read the file before."""
    import yaml

    sc_path, data, path = _experiment_of_a_scenario_file(tmp_path)
    cfg = load_experiment(path)
    _, first = plan_experiment(cfg, tmp_path / "a")
    assert {t.scenario.budget.total for t in first} == {data["budget"]["total"]}
    data["budget"]["total"] = 2 * data["budget"]["total"]
    sc_path.write_text(yaml.safe_dump(data), encoding="utf-8")
    _, second = plan_experiment(cfg, tmp_path / "b")
    assert {t.scenario.budget.total for t in second} == {data["budget"]["total"]}


def _pid_then_sleep(path: str) -> int:
    """A worker's task: write its PID to ``path``, then sleep far past any test (until terminated)."""
    import time

    Path(path).write_text(str(os.getpid()))
    time.sleep(120)
    return os.getpid()


def _wait_for(condition: Any, seconds: float = 60.0) -> bool:
    """Poll ``condition`` until it holds (True) or ``seconds`` pass (False): a bound on a wait, not a timing."""
    import time

    end = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > end:
            return False
        time.sleep(0.05)
    return True


def test_process_pool_close_terminates_a_busy_worker_by_its_reported_pid(tmp_path):
    """Each worker reports its PID from the pool's initializer (``worker_pids``; ``close`` read the private
    ``_processes`` of ``concurrent.futures``), and ``close`` terminates the workers by it: one busy with a task
    sleeping two minutes is gone, where shutting the pool down alone would wait for the task."""
    import multiprocessing
    import threading

    backend = ProcessPoolBackend(1)
    backend.start()
    path = tmp_path / "pid"
    failed: list[BaseException] = []

    def consume() -> None:
        try:
            list(backend.run(_pid_then_sleep, [str(path)]))
        except BaseException as err:  # the pool closed under it: WorkerExited
            failed.append(err)

    thread = threading.Thread(target=consume, daemon=True)
    thread.start()
    try:
        assert _wait_for(lambda: path.exists() and path.read_text() != "")
        pid = int(path.read_text())
        assert backend.worker_pids() == {pid}
    finally:
        backend.close()
    assert _wait_for(lambda: pid not in {p.pid for p in multiprocessing.active_children()})
    thread.join(60)
    assert not thread.is_alive() and backend.worker_pids() == set()
