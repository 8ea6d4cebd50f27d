"""The ``budgetgym`` command line end to end, in-process (``main(argv)``), on a tiny experiment:
the results directory contract, agreement with the evaluator, the bootstrap intervals,
resume, failed runs, and one-line user errors with exit code 2."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import ClassVar

import numpy as np
import pandas as pd
import pytest
from conftest import run_cli, write

from budgetgym.agents.base import AgentParams, BaseAgent, make_agent, register_agent
from budgetgym.agents.evaluation import RESULT_COLUMNS, evaluate
from budgetgym.envs import ChannelBudgetEnv, load_scenario
from budgetgym.experiments.cli import main

HORIZON = 5


class JitterParams(AgentParams):
    scale: float = 1.0
    crash_seed: int | None = None


@register_agent("cli_jitter")
class JitterAgent(BaseAgent):
    """Random split logits of size ``scale`` from the seeded generator (crashes on ``crash_seed``)."""

    Params: ClassVar[type[AgentParams]] = JitterParams

    def reset(self, seed: int | None = None) -> None:
        super().reset(seed)
        self.seed = seed

    def act(self, observation: np.ndarray, deterministic: bool = True) -> np.ndarray:
        if self.seed == self.params.crash_seed:  # type: ignore[attr-defined]
            raise ValueError("agent exploded")
        scale = self.params.scale  # type: ignore[attr-defined]
        return (scale * self.rng.uniform(-1, 1, self.action_space.shape)).astype(np.float32)


@register_agent("cli_flat")
class FlatAgent(BaseAgent):
    """All-zero logits: the equal split."""

    def act(self, observation: np.ndarray, deterministic: bool = True) -> np.ndarray:
        return np.zeros(self.action_space.shape, dtype=np.float32)


TINY = f"""\
name: tiny-cli
description: two tiny agents on a five-step stationary-3
scenarios:
  - {{scenario: stationary-3, label: s3, set: {{horizon: {HORIZON}}}}}
agents:
  - {{agent: cli_flat, label: flat}}
  - {{agent: cli_jitter, label: jitter}}
seeds: 3
episodes: 2
baseline: flat
imports: [{__name__}]
bootstrap: {{reps: 500}}
"""



@pytest.fixture(scope="module")
def shared_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One CLI run of the tiny experiment per module; tests get copies (see ``finished``)."""
    tmp = tmp_path_factory.mktemp("cli")
    exp = write(tmp, TINY)
    assert main(["run", str(exp), "--out", str(tmp / "out"), "--no-progress"]) == 0
    return tmp / "out"


@pytest.fixture
def finished(shared_run: Path, tmp_path: Path) -> Path:
    """A private copy of the shared run: a test may rewrite or delete files without changing
    what another test reads, whatever the order (results directories are relocatable)."""
    return Path(shutil.copytree(shared_run, tmp_path / "out"))


# ----------------------------------------------------------------------------- contract
def test_run_writes_the_contracted_files(finished, capsys):
    out = finished
    for name in ["results.csv", "summary.csv", "poi.csv", "report.md", "meta.json", "experiment.yaml"]:
        assert (out / name).is_file(), name
    results = pd.read_csv(out / "results.csv")
    assert list(results.columns[: len(RESULT_COLUMNS)]) == RESULT_COLUMNS
    assert len(results) == 2 * 3 * 2  # agents x seeds x episodes
    assert set(results["scenario"]) == {"s3"} and set(results["agent"]) == {"flat", "jitter"}
    summary = pd.read_csv(out / "summary.csv")
    for col in ["scenario", "agent", "pct_of_oracle_mean", "pct_of_oracle_ci_lo", "pct_of_oracle_ci_hi", "uplift",
                "uplift_ci_lo", "uplift_ci_hi", "iqm", "iqm_ci_lo", "iqm_ci_hi", "poi_vs_flat", "poi_vs_jitter"]:
        assert col in summary.columns, col
    assert len(summary) == 2
    for seed in range(3):
        rd = out / "runs" / "s3" / "jitter" / f"seed_{seed}"
        assert {"config.yaml", "trace.csv", "results.json", "done", "run.log"} <= {p.name for p in rd.iterdir()}
        trace = pd.read_csv(rd / "trace.csv")
        assert {"step", "channel", "spend", "conversions", "expected_reward"} <= set(trace.columns)
    meta = json.loads((out / "meta.json").read_text())
    assert {"packages", "git", "machine", "config_hash", "start", "end"} <= set(meta)
    assert meta["packages"]["numpy"] and meta["status"] == "ok"
    report = (out / "report.md").read_text()
    assert "## Results by scenario" in report and "![" in report
    for png in ["score_intervals.png", "cumulative_s3.png", "regret_s3.png", "allocation_s3.png"]:
        assert (out / "plots" / png).stat().st_size > 1000, png
        assert f"plots/{png}" in report
    assert not list(out.rglob("*.tmp"))


def test_numbers_match_a_direct_call_of_the_evaluator(finished):
    results = pd.read_csv(finished / "results.csv")
    sc = load_scenario("stationary-3").override({"horizon": HORIZON})
    for label, name in [("flat", "cli_flat"), ("jitter", "cli_jitter")]:
        direct = evaluate(make_agent(name, ChannelBudgetEnv(sc)), sc, seeds=[0, 1, 2], episodes=2)
        got = results[results.agent == label].sort_values(["seed", "episode"])
        for col in ["reward", "expected_reward", "oracle_reward", "pct_of_oracle", "spend"]:
            np.testing.assert_allclose(got[col].to_numpy(), [r.row()[col] for r in direct], rtol=1e-12)


def test_summary_intervals_cover_the_mean_and_shrink_with_more_seeds(tmp_path, capsys):
    exp = write(tmp_path, TINY.replace("episodes: 2", "episodes: 1"))
    out = tmp_path / "out"
    flags = ["--no-progress", "--no-plots"]
    assert run_cli(capsys, "run", str(exp), "--out", str(out), "--seeds", "3", *flags)[0] == 0
    few = pd.read_csv(out / "summary.csv").set_index("agent")
    code, stdout, _ = run_cli(capsys, "run", str(exp), "--out", str(out), "--seeds", "16", *flags)
    assert code == 0 and "26 runs done, 6 skipped" in stdout  # 2 agents x 13 new seeds
    many = pd.read_csv(out / "summary.csv").set_index("agent")
    results = pd.read_csv(out / "results.csv")
    for summary in (few, many):
        assert (summary["pct_of_oracle_ci_lo"] <= summary["pct_of_oracle_mean"]).all()
        assert (summary["pct_of_oracle_mean"] <= summary["pct_of_oracle_ci_hi"]).all()
    runs = results[results.agent == "jitter"].groupby("seed")["pct_of_oracle"].mean()
    assert many.loc["jitter", "pct_of_oracle_mean"] == pytest.approx(runs.mean())
    assert many.loc["jitter", "n_seeds"] == 16
    width = lambda s: s.loc["jitter", "pct_of_oracle_ci_hi"] - s.loc["jitter", "pct_of_oracle_ci_lo"]  # noqa: E731
    assert 0 < width(many) < width(few)


def test_resume_skips_finished_runs(finished, capsys):
    exp = finished / "experiment.yaml"  # the resolved config, as the report says to re-run
    before = pd.read_csv(finished / "results.csv").drop(columns="wall_s")
    code, out, _ = run_cli(capsys, "run", str(exp), "--out", str(finished), "--no-progress", "--no-plots")
    assert code == 0 and "0 runs done, 6 skipped" in out
    pd.testing.assert_frame_equal(pd.read_csv(finished / "results.csv").drop(columns="wall_s"), before)


def test_report_rebuilds_from_run_folders(finished, capsys):
    """Deleted results.csv and summary.csv are rebuilt from the run folders with the numbers the run
    wrote (it only counted their rows)."""
    key = ["scenario", "agent", "seed", "episode"]
    results = pd.read_csv(finished / "results.csv").sort_values(key, ignore_index=True)
    summary = pd.read_csv(finished / "summary.csv").sort_values(["scenario", "agent"], ignore_index=True)
    (finished / "results.csv").unlink()
    (finished / "summary.csv").unlink()
    code, out, _ = run_cli(capsys, "report", str(finished), "--no-plots")
    assert code == 0 and "report.md" in out
    rebuilt = pd.read_csv(finished / "results.csv").sort_values(key, ignore_index=True)
    assert len(rebuilt) == 12
    pd.testing.assert_frame_equal(rebuilt, results)
    rebuilt_summary = pd.read_csv(finished / "summary.csv").sort_values(["scenario", "agent"], ignore_index=True)
    assert len(rebuilt_summary) == 2
    pd.testing.assert_frame_equal(rebuilt_summary, summary)


def test_printed_tables_and_the_interval_figure_name_the_experiments_confidence(finished, capsys, monkeypatch):
    """An 80% experiment's intervals are labelled 80%, on the terminal and in the figure (both said 95%)."""
    from budgetgym.experiments import plots

    exp = finished / "experiment.yaml"
    exp.write_text(exp.read_text().replace("confidence: 0.95", "confidence: 0.8"))
    labels: list[str] = []
    monkeypatch.setattr(plots, "save_figure", lambda fig, path, dpi=100: labels.extend(
        ax.get_xlabel() for ax in fig.axes if ax.get_visible()) or Path(path))
    code, out, _ = run_cli(capsys, "report", str(finished))
    assert code == 0
    assert "80%" in out and "95%" not in out
    assert "80% CI" in (finished / "report.md").read_text()
    interval_labels = [label for label in labels if "CI" in label]
    assert interval_labels and all("80% CI" in label for label in interval_labels), labels


@pytest.mark.parametrize(
    ("damage", "needle"),
    [
        (lambda out: (out / "meta.json").write_text("{not json"), "meta.json"),
        (lambda out: next((out / "oracle").rglob("seed_*.json")).write_text("{not json"), "oracle"),
        (lambda out: next((out / "oracle").rglob("seed_*.json")).write_text("{}"), "oracle"),
    ],
)
def test_report_on_a_damaged_file_exits_2_with_one_line(finished, capsys, damage, needle):
    """A results directory edited or truncated from outside: one line naming the file, no traceback."""
    damage(finished)
    code, _, err = run_cli(capsys, "report", str(finished))
    assert code == 2 and err.startswith("error: ") and err.count("\n") == 1, err
    assert needle in err


def test_report_reads_a_meta_json_that_is_not_a_mapping_as_empty(finished, capsys):
    (finished / "meta.json").write_text("[1, 2]")
    code, _, err = run_cli(capsys, "report", str(finished), "--no-plots")
    assert code == 0, err
    assert "config hash `?`" in (finished / "report.md").read_text()


def test_a_failed_run_exits_1_and_leaves_consistent_files(tmp_path, capsys):
    exp = write(tmp_path, TINY.replace("{agent: cli_jitter, label: jitter}",
                                       "{agent: cli_jitter, label: jitter, params: {crash_seed: 1}}"))
    code, out, err = run_cli(capsys, "run", str(exp), "--out", str(tmp_path / "out"), "--no-progress", "--no-plots",
                             "--set", "episodes=1")
    assert code == 1
    # one line per failed run, naming it, the exception's type and message, and the file with its traceback
    # (each was printed twice: as it failed, then again after the tables)
    error = tmp_path / "out/runs/s3/jitter/seed_1/error.txt"
    assert [line for line in err.splitlines() if "seed_1" in line] == [
        f"failed: s3/jitter/seed_1: ValueError: agent exploded (see {error})"]
    assert "Traceback" in error.read_text() and "ValueError: agent exploded" in error.read_text()
    assert "5 runs done, 0 skipped (already complete), 1 failed" in out
    results = pd.read_csv(tmp_path / "out/results.csv")
    assert len(results) == 5 and not ((results.agent == "jitter") & (results.seed == 1)).any()
    assert not (tmp_path / "out/runs/s3/jitter/seed_1/done").exists()


# ----------------------------------------------------------------------------- user errors
BAD_FILES = {
    "unknown_key.yaml": (TINY + "colour: blue\n", ["unknown_key.yaml", "colour", "Extra inputs"]),
    "unknown_agent.yaml": (TINY.replace("cli_flat", "no_such_agent"), ["agents[0].agent", "no_such_agent"]),
    "bad_param.yaml": (TINY.replace("label: jitter}", "label: jitter, params: {scale: fast}}"),
                       ["bad_param.yaml", "agents[1]", "scale"]),
    "bad_seeds.yaml": (TINY.replace("seeds: 3", "seeds: -2"), ["bad_seeds.yaml", "seeds"]),
    # range(10**9) was built before any bound was checked: a MemoryError after eating the machine's memory
    "too_many_seeds.yaml": (TINY.replace("seeds: 3", "seeds: 1000000000"), ["too_many_seeds.yaml", "seeds",
                                                                           "10,000"]),
    "bad_episodes.yaml": (TINY.replace("episodes: 2", "episodes: 0"), ["bad_episodes.yaml", "episodes"]),
    "bad_scenario.yaml": (TINY.replace("scenario: stationary-3", "scenario: atlantis-9"),
                          ["bad_scenario.yaml", "scenarios[0]", "atlantis-9"]),
    "bad_override.yaml": (TINY.replace("horizon: 5", "horizn: 5"), ["bad_override.yaml", "scenarios[0]", "horizn"]),
    "bad_yaml.yaml": ("name: [unclosed\n", ["bad_yaml.yaml", "invalid YAML", "line"]),
    "not_mapping.yaml": ("- a\n- b\n", ["not_mapping.yaml", "mapping"]),
    "empty.yaml": ("", ["empty.yaml", "empty"]),
    "typo.yaml": (TINY.replace("episodes: 2", "episdes: 2"), ["typo.yaml", "episdes", "did you mean 'episodes'"]),
    "missing_agents.yaml": ("name: x\nscenarios: [stationary-3]\nseeds: 1\n", ["missing_agents.yaml", "agents",
                                                                               "Field required"]),
    # ".." as a label or name made the run folder (or the results directory) a parent folder
    "dotdot_agent.yaml": (TINY.replace("label: jitter}", "label: ..}"), ["dotdot_agent.yaml", "agents[1].label"]),
    "dotdot_scenario.yaml": (TINY.replace("label: s3,", "label: '..',"), ["dotdot_scenario.yaml",
                                                                           "scenarios[0].label"]),
    "dotdot_name.yaml": (TINY.replace("name: tiny-cli", "name: '..'"), ["dotdot_name.yaml", "name"]),
    # a relative or empty module name made importlib raise TypeError / ValueError: a traceback
    "bad_import.yaml": (TINY.replace("imports: [", "imports: ['..', "), ["bad_import.yaml", "imports[0]"]),
    "empty_import.yaml": (TINY.replace("imports: [", "imports: ['', "), ["empty_import.yaml", "imports[0]"]),
    # a learner's train: was checked after the file was loaded, so its errors did not name the file
    "bad_train.yaml": (TINY.replace("{agent: cli_jitter, label: jitter}", "{agent: ppo, train: {total_timesteps: 0}}"),
                       ["bad_train.yaml", "agents[1].train", "total_timesteps"]),
    "learner_params.yaml": (TINY.replace("{agent: cli_jitter, label: jitter}",
                                         "{agent: ppo, params: {x: 1}, train: {total_timesteps: 8}}"),
                            ["learner_params.yaml", "agents[1] (ppo)", "'params'"]),
}


@pytest.mark.parametrize("name", sorted(BAD_FILES))
def test_bad_experiment_files_exit_2_with_one_line(tmp_path, capsys, name):
    text, needles = BAD_FILES[name]
    path = write(tmp_path, text, name)
    code, out, err = run_cli(capsys, "run", str(path), "--out", str(tmp_path / "out"), "--no-progress")
    assert code == 2, err
    assert err.startswith("error: ") and err.count("\n") == 1, err
    for needle in needles:
        assert needle in err, (needle, err)
    assert not (tmp_path / "out" / "runs").exists()


def test_a_scenario_named_dotdot_cannot_escape_the_results_directory(tmp_path, capsys):
    """A scenario file's name is the default label, i.e. the folder runs/<label>/: a scenario named
    '..' put its runs (and the clearing of an unfinished run folder) outside the results directory."""
    sc = load_scenario("stationary-3").override({"horizon": HORIZON}).model_dump(mode="json")
    write(tmp_path, json.dumps({**sc, "name": ".."}), "up.yaml")
    exp = write(tmp_path, TINY.replace("label: s3, ", "").replace("scenario: stationary-3", "scenario: up.yaml"))
    code, _, err = run_cli(capsys, "run", str(exp), "--out", str(tmp_path / "out"), "--no-progress")
    assert code == 2 and err.startswith("error: ") and err.count("\n") == 1, err
    assert "exp.yaml" in err and "scenarios[0]" in err and "label" in err
    assert not (tmp_path / "out").exists() and not (tmp_path / "seed_0").exists()


@pytest.mark.parametrize(
    "argv, needle",
    [
        (["run", "missing.yaml"], "experiment file 'missing.yaml' not found"),
        (["run", "no-such-builtin"], "unknown experiment 'no-such-builtin'"),
        (["run", "{exp}", "--seeds", "0"], "--seeds"),
        (["run", "{exp}", "--workers", "0"], "--workers"),
        (["run", "{exp}", "--backend", "spark"], "--backend"),
        (["run", "{exp}", "--set", "episodes"], "--set 'episodes'"),
        (["run", "{exp}", "--set", "episodes=many"], "episodes"),
        (["run", "{exp}", "--set", "agents.nobody.params.x=1"], "no list item 'nobody'"),
        (["run", "{exp}", "--out", "{exp}"], "is not a directory"),
        (["run", "{exp}", "--out", "{exp}/sub"], "is a file, not a directory"),
        (["report", "{tmp}/nowhere"], "not found"),
        (["report", "{tmp}"], "not a results directory"),
        (["show", "atlantis-9"], "unknown scenario 'atlantis-9'"),
    ],
)
def test_bad_arguments_exit_2(tmp_path, capsys, argv, needle):
    exp = write(tmp_path, TINY)
    argv = [a.format(exp=exp, tmp=tmp_path) for a in argv]
    code, _, err = run_cli(capsys, *argv, *(["--no-progress"] if argv[0] == "run" else []))
    assert code == 2 and needle in err and err.count("\n") == 1, err


def test_a_plan_directory_is_refused_not_overwritten(tmp_path, capsys):
    """``run --out`` at a plan's directory replaced its ``report.md`` with the experiment's: a
    directory holding a results file's name but no experiment.yaml or meta.json is now refused."""
    exp = write(tmp_path, TINY)
    plan_dir = tmp_path / "plan"
    assert run_cli(capsys, "plan", "stationary-3", "--no-plots", "--out", str(plan_dir))[0] == 0
    before = {p.name: p.read_bytes() for p in plan_dir.iterdir()}
    code, _, err = run_cli(capsys, "run", str(exp), "--out", str(plan_dir), "--no-progress")
    assert code == 2
    assert err == (f"error: output directory '{plan_dir}': holds 'report.md', which the run would replace, and is "
                   f"not a results directory (no experiment.yaml or meta.json); expected a new directory or an "
                   f"earlier run's\n")
    assert {p.name: p.read_bytes() for p in plan_dir.iterdir()} == before


def test_an_out_that_cannot_be_written_is_one_line(tmp_path, capsys, monkeypatch):
    """A results directory that cannot be created or written (no permission, a read-only disk) was a
    PermissionError traceback, exit 1."""
    import budgetgym.experiments.runner as runner

    def refuse(path: object, text: str) -> None:
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(runner, "atomic_write_text", refuse)
    exp = write(tmp_path, TINY)
    out = tmp_path / "out"
    code, _, err = run_cli(capsys, "run", str(exp), "--out", str(out), "--no-progress")
    assert code == 2
    assert err == f"error: output directory '{out}': cannot be written (Permission denied)\n"
    assert not (out / "runs").exists()


def test_usage_errors_exit_2(capsys):
    assert main(["run", "--workers", "two"]) == 2
    assert main(["frobnicate"]) == 2
    assert main(["--help"]) == 0


def test_defaults_written_in_help_texts_are_shown(capsys):
    # rich reads "[default: ...]" as a markup tag and drops it unless the bracket is escaped
    import re

    from typer.main import get_command

    from budgetgym.experiments.cli import app

    group = get_command(app)
    for name, command in group.commands.items():
        code, out, _ = run_cli(capsys, name, "--help")
        shown = " ".join(out.replace("\u2502", " ").split())
        for param in command.params:
            for default in re.findall(r"\[default: [^\]]*\]", getattr(param, "help", None) or ""):
                assert default.replace("\\", "") in shown, (name, default)


# ----------------------------------------------------------------------------- other commands
def test_scenarios_and_show(capsys):
    code, out, _ = run_cli(capsys, "scenarios")
    assert code == 0 and "stationary-3" in out and "seasonal-5" in out
    code, out, _ = run_cli(capsys, "show", "stationary-3")
    assert code == 0
    for needle in ["search", "social", "video", "hill", "oracle expected conversions", "% of oracle"]:
        assert needle in out, needle


def test_python_dash_m_entry_point():
    res = subprocess.run([sys.executable, "-m", "budgetgym.experiments", "--help"], capture_output=True, text=True,
                         timeout=120)
    assert res.returncode == 0 and "run" in res.stdout and "report" in res.stdout


def test_show_prints_every_parameter_of_the_brief_and_the_channels(capsys, tmp_path):
    """`budgetgym show` says it prints every parameter (CONTRIBUTING.md): the pacing cap, the negative
    binomial's dispersion, a channel's own drift rate, the baseline, target_cpa and the action scale too."""
    path = tmp_path / "tiny.yaml"
    path.write_text(
        "name: tiny\nhorizon: 4\nbudget: {total: 4000, pacing: agent, max_step_multiple: 1.5}\n"
        "noise: {conversions: negative_binomial, dispersion: 7}\ntarget_cpa: 12.5\naction: {logit_scale: 4}\n"
        "baseline: {level: 321, trend: 0.25}\n"
        "channels:\n"
        "  - {name: a, cost: {price: 1, ref_spend: 500, unit: click}, drift_sd: 0.03,\n"
        "     saturation: {type: hill, max_response: 50, half_saturation: 400}}\n"
        "  - {name: b, cost: {price: 2, ref_spend: 500, unit: click},\n"
        "     saturation: {type: hill, max_response: 40, half_saturation: 300}}\n"
    )
    code, out, _ = run_cli(capsys, "show", str(path))
    assert code == 0
    for pattern in [r"max_step_multiple=1\.5\b", r"dispersion=7(\.0)?\b", r"drift_sd=0\.03\b", r"target_cpa=12\.5\b",
                    r"logit_scale=4(\.0)?\b", r"baseline: level=321(\.0)?, trend=0\.25\b"]:
        assert re.search(pattern, out), (pattern, out)
    assert len(re.findall(r"drift_sd=", out)) == 1  # only the channel that has its own rate
