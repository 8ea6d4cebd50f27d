"""The gate as a CI job meets it: an interrupted run, another budgetgym, another experiment's baseline, no
baseline yet. Each case is told in the gate's own output (a warning line, the markdown's notes, the one-line
error), so a red CI job says why without anyone opening the results directory."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest
from test_regress import copy_results, edit_results, one_line_error, run_cli, shift, tiny

import budgetgym.experiments.runner as runner_mod
from budgetgym.experiments.cli import main
from budgetgym.experiments.config import experiment_from_dict
from budgetgym.experiments.regress import compare
from budgetgym.experiments.runner import run_experiment


@pytest.fixture(scope="module")
def gate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A tiny run (fixed splits and a bandit on stationary-3, 4 seeds) and its baseline."""
    tmp = tmp_path_factory.mktemp("ci")
    assert run_experiment(experiment_from_dict(tiny()), tmp / "base", plots=False).ok
    assert main(["baseline", str(tmp / "base"), "--out", str(tmp / "baseline.json")]) == 0
    return tmp / "base", tmp / "baseline.json"


def interrupted_run(out: Path, monkeypatch: pytest.MonkeyPatch, runs: int = 5) -> Path:
    """The tiny grid run into ``out`` and interrupted (Ctrl-C) after ``runs`` of its 12 runs finished."""
    real, calls = runner_mod.execute, {"n": 0}

    def killed(task: Any) -> Any:
        if getattr(task, "agent", None) is not None:
            calls["n"] += 1
            if calls["n"] > runs:
                raise KeyboardInterrupt
        return real(task)

    with monkeypatch.context() as patch:
        patch.setattr(runner_mod, "execute", killed)
        with pytest.raises(KeyboardInterrupt):
            run_experiment(experiment_from_dict(tiny()), out, plots=False)
    return out


def test_an_interrupted_run_is_named_as_such_not_only_as_missing_agents(gate, tmp_path, monkeypatch, capsys):
    """A run killed half-way left rows 'missing' and the log did not say the run never finished."""
    _, baseline = gate
    interrupted_run(tmp_path / "cut", monkeypatch)
    md = tmp_path / "gate.md"
    code, out, err = run_cli(capsys, "regress", tmp_path / "cut", "--baseline", baseline, "--report", md)
    assert code == 1
    note = (f"results directory '{tmp_path / 'cut'}': its last budgetgym run was interrupted; 7 of the grid's 12 runs "
            f"have not finished (the same budgetgym run command resumes)")
    assert f"warning: {note}" in err
    assert note in md.read_text()


def test_a_baseline_recorded_by_another_budgetgym_is_noted(gate, tmp_path, capsys):
    """Another simulator moves every agent at once, the equal split too: the gate says which versions differ."""
    base_dir, baseline = gate
    now = copy_results(base_dir, tmp_path / "now")
    meta = json.loads((now / "meta.json").read_text())
    recorded = json.loads(baseline.read_text())["versions"]
    meta["packages"] = {**meta["packages"], "budgetgym": "9.9.9", "numpy": "0.0.1"}
    (now / "meta.json").write_text(json.dumps(meta))
    code, _, err = run_cli(capsys, "regress", now, "--baseline", baseline)
    assert code == 0
    assert (f"warning: package versions differ from the baseline's: budgetgym {recorded['budgetgym']} (baseline) "
            f"vs 9.9.9 (results), numpy {recorded['numpy']} vs 0.0.1; a change of the simulator or its libraries "
            f"moves every agent") in err
    assert not [n for n in compare(base_dir, baseline).notes if "versions" in n]


def test_a_baseline_of_another_experiment_names_both_experiments(gate, tmp_path, capsys):
    base_dir, baseline = gate
    other = tmp_path / "other.json"
    other.write_text(json.dumps({**json.loads(baseline.read_text()), "experiment": "regression",
                                 "config_hash": "0000000000000000"}))
    code, _, err = run_cli(capsys, "regress", base_dir, "--baseline", other)
    assert code == 2
    line = one_line_error(err)
    assert "experiment 'tiny-gate'" in line and "experiment 'regression'" in line
    assert "--allow-config-change" in line


def test_a_missing_baseline_says_how_to_record_one(gate, tmp_path, capsys):
    base_dir, _ = gate
    code, _, err = run_cli(capsys, "regress", base_dir, "--baseline", tmp_path / "nope.json")
    assert code == 2
    assert one_line_error(err) == (
        f"error: baseline '{tmp_path / 'nope.json'}' not found; record one from a results directory with "
        f"budgetgym baseline RESULTS_DIR --out {tmp_path / 'nope.json'}"
    )


def test_a_results_dir_copied_without_its_runs_has_no_interruption_note(gate, tmp_path):
    now = copy_results(gate[0], tmp_path / "now")
    shutil.rmtree(now / "runs", ignore_errors=True)
    assert compare(now, gate[1]).notes == []


def test_json_verdict_for_a_ci_bot_holds_every_row_and_the_exit_code(gate, tmp_path, capsys):
    """A bot reads the verdict from JSON, not from the aligned text table of the log."""
    base_dir, baseline = gate
    now = copy_results(base_dir, tmp_path / "now")
    edit_results(now, shift("thompson", -3.0))
    path = tmp_path / "verdict.json"
    code, out, _ = run_cli(capsys, "regress", now, "--baseline", baseline, "--json", path)
    assert code == 1
    assert f"wrote {path}" in out
    data = json.loads(path.read_text())
    assert data["kind"] == "budgetgym-regress" and data["schema_version"] == 1
    assert (data["status"], data["exit_code"], data["error"]) == ("failed", 1, None)
    assert data["tolerance"] == 0.01 and data["confidence"] == 0.99
    rows = {r["agent"]: r for r in data["rows"]}
    assert set(rows) == {"equal", "proportional", "thompson"}
    bad = rows["thompson"]
    assert (bad["verdict"], bad["failed"], bad["seeds"]) == ("regressed", True, 4)
    assert bad["difference"] == pytest.approx(-3.0) and bad["ci_hi"] < -bad["threshold"] == -1.0
    assert bad["baseline"] - bad["now"] == pytest.approx(3.0)
    assert rows["equal"]["verdict"] == "ok" and rows["equal"]["failed"] is False
    code, _, _ = run_cli(capsys, "regress", base_dir, "--baseline", baseline, "--json", path)
    assert code == 0
    assert json.loads(path.read_text())["status"] == "passed"


def test_a_missing_rows_numbers_are_null_in_json(gate, tmp_path, capsys):
    base_dir, baseline = gate
    now = copy_results(base_dir, tmp_path / "now")
    edit_results(now, lambda f: f[f["agent"] != "thompson"])
    path = tmp_path / "verdict.json"
    assert run_cli(capsys, "regress", now, "--baseline", baseline, "--json", path)[0] == 1
    row = next(r for r in json.loads(path.read_text())["rows"] if r["agent"] == "thompson")
    assert row["verdict"] == "missing" and row["now"] is None and row["ci_lo"] is None and row["seeds"] == 0


def test_a_gate_that_cannot_run_still_writes_its_report_and_json(gate, tmp_path, capsys):
    """With exit 2 (here: a baseline of another config) no report was written, so a CI step posting it was
    skipped and the pull request kept the previous push's 'passed' comment."""
    base_dir, baseline = gate
    other = tmp_path / "other.json"
    other.write_text(json.dumps({**json.loads(baseline.read_text()), "config_hash": "0000000000000000"}))
    md, js = tmp_path / "gate.md", tmp_path / "gate.json"
    code, _, err = run_cli(capsys, "regress", base_dir, "--baseline", other, "--report", md, "--json", js)
    assert code == 2
    message = one_line_error(err).removeprefix("error: ")
    text = md.read_text()
    assert text.startswith("## budgetgym regress\n")
    assert "Gate **could not run** (exit 2)" in text and message in text
    data = json.loads(js.read_text())
    assert (data["status"], data["exit_code"], data["error"], data["rows"]) == ("error", 2, message, [])


def test_json_never_overwrites_a_file_that_is_not_a_verdict(gate, tmp_path, capsys):
    base_dir, baseline = gate
    precious = tmp_path / "package.json"
    precious.write_text('{"name": "web"}')
    code, _, err = run_cli(capsys, "regress", base_dir, "--baseline", baseline, "--json", precious)
    assert code == 2
    assert "--json" in one_line_error(err)
    assert precious.read_text() == '{"name": "web"}'


def test_no_baseline_is_recorded_from_a_run_that_did_not_finish(tmp_path, monkeypatch, capsys):
    """A baseline recorded from an interrupted run held only the rows that had finished: the others were never
    gated again (in later results they are 'new', which passes)."""
    out = interrupted_run(tmp_path / "cut", monkeypatch)
    code, out_text, err = run_cli(capsys, "baseline", out, "--out", tmp_path / "b.json")
    assert code == 2 and out_text == ""
    assert one_line_error(err) == (
        f"error: results directory '{out}': 7 of the grid's 12 runs have not finished (interrupted, failed or still "
        f"running); finish them (the same budgetgym run command resumes) before recording a baseline"
    )
    assert not (tmp_path / "b.json").exists()
    run_experiment(experiment_from_dict(tiny()), out, plots=False)  # resumed to the end
    assert run_cli(capsys, "baseline", out, "--out", tmp_path / "b.json")[0] == 0
    assert len(json.loads((tmp_path / "b.json").read_text())["entries"]) == 3


@pytest.mark.parametrize(
    ("changes", "said"),
    [
        ({"scenarios": ["stationary-3", {"scenario": "stationary-3", "label": "short", "set": {"horizon": 7}}]},
         "scenarios only in the results: short"),
        ({"seeds": 6}, "seeds only in the results: 4, 5"),
        ({"agents": ["equal", "thompson"]}, "agents only in the baseline: proportional"),
        ({"episodes": 2}, "episodes: 1 (baseline) vs 2 (results)"),  # the baseline's settings name it
    ],
    ids=["scenario-added", "seeds", "agent-dropped", "same-rows"],
)
def test_a_config_change_refusal_says_what_differs_in_the_grid(gate, tmp_path, capsys, changes, said):
    """Two config hashes alone did not say what changed; the rows both sides have do, and the baseline's stored
    settings name a change the rows do not show (it said "a parameter, the episodes or a scenario's settings
    changed")."""
    _, baseline = gate
    assert run_experiment(experiment_from_dict(tiny(**changes)), tmp_path / "now", plots=False).ok
    code, _, err = run_cli(capsys, "regress", tmp_path / "now", "--baseline", baseline)
    assert code == 2
    line = one_line_error(err)
    assert f"({said})" in line and line.endswith("re-record the baseline or pass --allow-config-change")


def test_report_and_json_naming_one_file_is_refused_before_the_comparison(gate, tmp_path, capsys):
    base_dir, baseline = gate
    path = tmp_path / "gate.out"
    code, out, err = run_cli(capsys, "regress", base_dir, "--baseline", baseline, "--report", path, "--json", path)
    assert code == 2 and out == ""
    assert one_line_error(err) == f"error: --report and --json: both name '{path}'; expected two files"
    assert not path.exists()
