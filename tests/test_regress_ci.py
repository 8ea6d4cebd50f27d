"""The gate as a CI job meets it: an interrupted run, another budgetgym, another experiment's baseline, no
baseline yet. Each case is told in the gate's own output (a warning line, the markdown's notes, the one-line
error), so a red CI job says why without anyone opening the results directory."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest
from test_regress import copy_results, one_line_error, run_cli, tiny

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


def test_an_interrupted_run_is_named_as_such_not_only_as_missing_agents(gate, tmp_path, monkeypatch, capsys):
    """A run killed half-way left rows 'missing' and the log did not say the run never finished."""
    _, baseline = gate
    real, calls = runner_mod.execute, {"n": 0}

    def killed_after_five_runs(task: Any) -> Any:
        if getattr(task, "agent", None) is not None:
            calls["n"] += 1
            if calls["n"] > 5:
                raise KeyboardInterrupt
        return real(task)

    monkeypatch.setattr(runner_mod, "execute", killed_after_five_runs)
    with pytest.raises(KeyboardInterrupt):
        run_experiment(experiment_from_dict(tiny()), tmp_path / "cut", plots=False)
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
