"""A team's own agent in its own module, gated in its CI: what changes in its code reaches the results.

The agent here is a module file written to a temporary folder (as a team's repository holds it), not a
class of this test file: the run key must follow the file, and ``imports:`` must find it beside the
experiment file whichever directory the ``budgetgym`` command runs from.
"""

from __future__ import annotations

import importlib
import sys
from pathlib import Path

import pandas as pd
import pytest
import yaml

from budgetgym.envs.errors import BudgetGymError
from budgetgym.experiments.config import experiment_from_dict, load_experiment
from budgetgym.experiments.runner import plan_experiment, run_experiment

#: Run keys of ``equal`` on the grid below, recorded before custom agents' keys gained their code.
KEY_EQUAL_SEED_0, KEY_EQUAL_SEED_1 = "83d4b7d7d9ce2422", "e74d516f157701bd"
MODULE = "ci_team_agent_7f3a"  # unique: the module is imported into this test process

AGENT = '''
import numpy as np
from budgetgym.agents import AgentParams, BaseAgent, register_agent


class TeamParams(AgentParams):
    tilt: float = {tilt}


@register_agent("ci_team_agent")
class TeamAgent(BaseAgent):
    Params = TeamParams

    def act(self, observation, deterministic=True):
        a = np.zeros(self.action_space.shape, dtype=np.float32)
        a[0] = self.params.tilt
        return a
'''


def grid(imports: list[str]) -> dict:
    return {
        "name": "team-gate",
        "scenarios": [{"scenario": "stationary-3", "set": {"horizon": 4}}],
        "agents": ["equal", "ci_team_agent"],
        "seeds": 2,
        "imports": imports,
        "bootstrap": {"reps": 200},
    }


@pytest.fixture
def team_module(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The team's agent module in ``tmp_path/repo`` (on the Python path), removed from the process after."""
    repo = tmp_path / "repo"
    repo.mkdir()
    path = repo / f"{MODULE}.py"
    path.write_text(AGENT.format(tilt=0.5), encoding="utf-8")
    monkeypatch.setattr(sys, "path", [*sys.path, str(repo)])
    monkeypatch.setattr(sys, "dont_write_bytecode", True)  # a rewrite within one second must not load a stale .pyc
    monkeypatch.delitem(sys.modules, MODULE, raising=False)
    yield path
    sys.modules.pop(MODULE, None)


def run_keys(config: dict, out: Path) -> dict[str, str]:
    _, runs = plan_experiment(experiment_from_dict(config), out)
    return {r.label: r.key for r in runs}


def test_editing_the_agents_module_changes_its_run_keys_only(team_module, tmp_path):
    """A run key says which runs are complete: with the team's code left out of it, re-running the gate
    into the same directory after a change skipped every run as 'already complete' and the gate passed on
    the old numbers."""
    config = grid([MODULE])
    before = run_keys(config, tmp_path / "out")
    team_module.write_text(AGENT.format(tilt=2.5), encoding="utf-8")
    after = run_keys(config, tmp_path / "out")
    changed = sorted(label for label in before if before[label] != after[label])
    assert changed == [f"stationary-3/ci_team_agent/seed_{s}" for s in (0, 1)]


def test_a_rerun_after_the_agent_got_worse_plays_it_again_and_the_results_show_it(team_module, tmp_path):
    config = experiment_from_dict(grid([MODULE]))
    out = tmp_path / "out"
    first = run_experiment(config, out, plots=False)
    assert first.ok
    before = pd.read_csv(out / "results.csv")
    team_module.write_text(AGENT.format(tilt=-3.0), encoding="utf-8")  # most of the budget off the first channel
    importlib.reload(sys.modules[MODULE])
    second = run_experiment(config, out, plots=False)
    status = {o.label: o.status for o in second.outcomes if o.kind == "run"}
    assert status == {
        "stationary-3/equal/seed_0": "skipped",
        "stationary-3/equal/seed_1": "skipped",
        "stationary-3/ci_team_agent/seed_0": "done",
        "stationary-3/ci_team_agent/seed_1": "done",
    }
    after = pd.read_csv(out / "results.csv")
    team = (before["agent"] == "ci_team_agent")
    assert not after.loc[team, "pct_of_oracle"].equals(before.loc[team, "pct_of_oracle"])
    assert after.loc[~team, "pct_of_oracle"].tolist() == before.loc[~team, "pct_of_oracle"].tolist()


def test_built_in_agents_keep_their_run_keys(tmp_path):
    """Only a custom agent's key gains its code: results directories of built-in agents resume as before
    (the key of this run was recorded before the change)."""
    config = {**grid([]), "agents": ["equal"]}
    keys = run_keys(config, tmp_path / "out")
    assert keys == {"stationary-3/equal/seed_0": KEY_EQUAL_SEED_0, "stationary-3/equal/seed_1": KEY_EQUAL_SEED_1}


def test_imports_finds_the_agent_module_beside_the_experiment_file(tmp_path, monkeypatch):
    """The ``budgetgym`` command does not put the working directory on the Python path (``python -m`` does):
    ``imports: [my_agent]`` beside ``gate.yaml`` failed with "No module named" under the command a CI calls,
    while scenario files beside the experiment file were found."""
    repo = tmp_path / "repo"
    repo.mkdir()
    (repo / f"{MODULE}.py").write_text(AGENT.format(tilt=0.5), encoding="utf-8")
    (repo / "gate.yaml").write_text(yaml.safe_dump(grid([MODULE])), encoding="utf-8")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    monkeypatch.setattr(sys, "path", [p for p in sys.path if p not in ("", ".")])
    monkeypatch.setattr(sys, "dont_write_bytecode", True)
    monkeypatch.delitem(sys.modules, MODULE, raising=False)
    try:
        config = load_experiment(repo / "gate.yaml")
        assert config.imports == [MODULE]
        assert sys.modules[MODULE].__file__ == str(repo / f"{MODULE}.py")
    finally:
        sys.modules.pop(MODULE, None)


def test_a_module_found_nowhere_says_where_it_was_looked_for(tmp_path, monkeypatch):
    (tmp_path / "gate.yaml").write_text(yaml.safe_dump(grid(["no_such_team_module"])), encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    with pytest.raises(BudgetGymError) as err:
        load_experiment(tmp_path / "gate.yaml")
    text = str(err.value)
    assert "\n" not in text
    assert "imports: cannot import 'no_such_team_module'" in text
    assert f"beside the experiment file (in '{tmp_path}')" in text
    assert "PYTHONPATH" in text
