"""Gymnasium registration: the generic id, per-scenario ids, and scenario resolution errors."""

from __future__ import annotations

from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest
import yaml
from conftest import base_scenario_dict, build_scenario, channel

import budgetgym  # noqa: F401  (registers the ids)
from budgetgym.envs import ChannelBudgetEnv, ScenarioError, list_scenarios, register_envs

GENERIC_ID = "budgetgym/ChannelBudget-v0"


def _make(env_id: str, **kwargs) -> gym.Env:
    env = gym.make(env_id, **kwargs)
    assert isinstance(env.unwrapped, ChannelBudgetEnv)
    return env


def test_builtin_scenarios_include_the_documented_ones():
    names = list_scenarios()
    assert {"stationary-3", "stationary-5"} <= set(names)
    assert names == sorted(names)


def test_generic_id_with_builtin_name():
    env = _make(GENERIC_ID, scenario="stationary-5")
    sc = env.unwrapped.scenario
    assert sc.name == "stationary-5"
    assert env.action_space.shape == (5,)
    assert env.observation_space.shape == (4 * 5 + 7,)
    env.close()


def test_generic_id_default_scenario_is_stationary_3():
    env = _make(GENERIC_ID)
    assert env.unwrapped.scenario.name == "stationary-3"
    env.close()


@pytest.mark.parametrize("as_path", [False, True], ids=["str", "Path"])
def test_generic_id_with_yaml_path(tmp_path: Path, as_path: bool):
    data = base_scenario_dict(n_channels=3)
    data["name"] = "from-yaml"
    data["horizon"] = 4
    data["budget"] = {"total": 400.0, "pacing": "agent", "max_step_multiple": 3.0}
    file = tmp_path / "my_scenario.yaml"
    file.write_text(yaml.safe_dump(data), encoding="utf-8")

    env = _make(GENERIC_ID, scenario=file if as_path else str(file))
    sc = env.unwrapped.scenario
    assert sc.name == "from-yaml"
    assert sc.channel_names == ["ch0", "ch1", "ch2"]
    assert sc.horizon == 4
    # agent pacing adds the pacing entry to the action
    assert env.action_space.shape == (4,)
    env.close()


def test_generic_id_with_scenario_object():
    sc = build_scenario(name="object-scenario", n_channels=4, horizon=7)
    env = _make(GENERIC_ID, scenario=sc)
    assert env.unwrapped.scenario is sc
    assert env.action_space.shape == (4,)
    env.reset(seed=0)
    _, _, _, _, info = env.step(np.zeros(4, dtype=np.float32))
    assert info["spend"].shape == (4,)
    env.close()


@pytest.mark.parametrize("name", list_scenarios())
def test_every_builtin_scenario_has_its_own_id(name: str):
    env_id = f"budgetgym/{name}-v0"
    assert env_id in gym.registry
    spec = gym.spec(env_id)
    assert spec.kwargs.get("scenario") == name
    env = _make(env_id)
    # the id builds the scenario of that file, and the file's `name` matches its file name
    assert env.unwrapped.scenario.name == name
    assert env.spec is not None and env.spec.id == env_id
    env.close()


def test_module_prefix_imports_and_makes():
    """``gym.make("budgetgym:<id>")`` in a fresh interpreter that never imported budgetgym: gymnasium imports the
    package, which registers its ids. (In this process budgetgym is imported already, so the prefix's import was
    never tested.)"""
    from test_imports import _run

    code = ("import json, sys\nimport gymnasium as gym\nbefore = 'budgetgym' in sys.modules\n"
            "env = gym.make('budgetgym:budgetgym/stationary-3-v0')\n"
            "print(json.dumps([before, env.unwrapped.scenario.name, list(env.action_space.shape)]))")
    assert _run(code) == [False, "stationary-3", [3]]


def test_register_envs_is_idempotent():
    before = {k for k in gym.registry if k.startswith("budgetgym/")}
    register_envs()
    register_envs()
    after = {k for k in gym.registry if k.startswith("budgetgym/")}
    assert before == after
    assert after == {GENERIC_ID} | {f"budgetgym/{n}-v0" for n in list_scenarios()}


def test_unknown_scenario_raises_scenario_error():
    with pytest.raises(ScenarioError, match="unknown scenario 'no-such-scenario'") as exc:
        gym.make(GENERIC_ID, scenario="no-such-scenario")
    # the message lists what is available, on one line
    assert "stationary-3" in str(exc.value)
    assert "\n" not in str(exc.value)


def test_unknown_scenario_id_is_a_gymnasium_error():
    with pytest.raises(gym.error.Error):
        gym.make("budgetgym/no-such-scenario-v0")


def test_missing_yaml_path_raises_scenario_error(tmp_path: Path):
    missing = tmp_path / "nope.yaml"
    with pytest.raises(ScenarioError, match="not found"):
        gym.make(GENERIC_ID, scenario=str(missing))


def test_yaml_with_a_mistyped_field_names_the_field(tmp_path: Path):
    data = base_scenario_dict()
    data["channels"][1] = channel("ch1", max_shares=0.5)  # typo for max_share
    file = tmp_path / "typo.yaml"
    file.write_text(yaml.safe_dump(data), encoding="utf-8")
    with pytest.raises(ScenarioError, match=r"channels\[1\]\.max_shares") as exc:
        gym.make(GENERIC_ID, scenario=file)
    assert str(file) in str(exc.value)


def test_scenario_of_wrong_type_raises_scenario_error():
    with pytest.raises(ScenarioError, match="expected a built-in name, a YAML path or a Scenario"):
        gym.make(GENERIC_ID, scenario=42)
