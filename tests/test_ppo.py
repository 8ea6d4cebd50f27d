"""PPO / RecurrentPPO agents: training improves, save/load round-trips, seeding, config errors.

Kept fast (small nets, a few thousand steps on stationary-3, 14-step episodes): one shared
training run serves several tests.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("stable_baselines3")

import budgetgym.agents.ppo as ppo
from budgetgym.agents import evaluate, make_agent
from budgetgym.envs import BudgetGymError, ChannelBudgetEnv

SCENARIO = "stationary-3"
SMOKE = {
    "total_timesteps": 4096,
    "n_envs": 4,
    "n_steps": 128,
    "batch_size": 128,
    "n_epochs": 10,
    "net_arch": [32, 32],
    "eval_freq": 2048,
    "eval_episodes": 1,
}
TINY = {
    **SMOKE,
    "total_timesteps": 512,
    "n_steps": 64,
    "batch_size": 64,
    "n_epochs": 2,
    "eval_freq": 0,
}


def _observations(n: int = 12, seed: int = 3) -> np.ndarray:
    """Observations from a random-action rollout of the scenario."""
    env = ChannelBudgetEnv(SCENARIO)
    rng = np.random.default_rng(seed)
    obs, _ = env.reset(seed=seed)
    out = [obs]
    for _ in range(n - 1):
        obs, *_ = env.step(rng.uniform(-1, 1, env.action_space.shape).astype(np.float32))
        out.append(obs)
    return np.stack(out)


def _actions(agent, observations: np.ndarray) -> np.ndarray:
    return np.stack([agent.predict(o, deterministic=True)[0] for o in observations])


def _pct(agent, seeds=(0, 1)) -> float:
    return float(np.mean([r.pct_of_oracle for r in evaluate(agent, SCENARIO, seeds=seeds)]))


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    out = tmp_path_factory.mktemp("ppo") / "run"
    return ppo.train_ppo(SCENARIO, SMOKE, seed=0, out_dir=out), out


# ------------------------------------------------------------------------------ training
def test_training_improves_over_untrained_self(trained):
    agent, out = trained
    untrained = make_agent("ppo", ChannelBudgetEnv(SCENARIO), config=out / "config.yaml", seed=0)
    assert untrained.train_steps == 0
    assert agent.train_steps == SMOKE["total_timesteps"]
    before, after = _pct(untrained), _pct(agent)
    assert after > before + 3.0, (before, after)
    # the evaluator records train_steps
    assert evaluate(agent, SCENARIO, seeds=[0])[0].train_steps == SMOKE["total_timesteps"]


def test_training_writes_logs_and_agent_directory(trained):
    _, out = trained
    for name in (
        "model.zip",
        "vecnormalize.pkl",
        "agent.json",
        "config.yaml",
        "progress.csv",
        "evaluations.npz",
    ):
        assert (out / name).is_file(), name
    meta = json.loads((out / "agent.json").read_text())
    assert meta["agent"] == "ppo"
    assert meta["brief"]["name"] == SCENARIO and "scenario" not in meta
    assert meta["state"]["train_steps"] == SMOKE["total_timesteps"]
    assert meta["state"]["seed"] == 0
    assert meta["state"]["config"]["n_envs"] == SMOKE["n_envs"]
    assert np.load(out / "evaluations.npz")["timesteps"].size >= 1


def test_predict_normalises_with_saved_stats(trained):
    agent, _ = trained
    vn = agent.vec_normalize
    assert not vn.training and not vn.norm_reward
    obs = _observations(5)
    mean_before = vn.obs_rms.mean.copy()
    normed = agent.normalize(obs)
    expected = np.clip(
        (obs - vn.obs_rms.mean) / np.sqrt(vn.obs_rms.var + vn.epsilon), -vn.clip_obs, vn.clip_obs
    )
    np.testing.assert_allclose(normed, expected, rtol=1e-5, atol=1e-5)
    np.testing.assert_array_equal(vn.obs_rms.mean, mean_before)  # statistics not updated
    batch, _ = agent.predict(obs)
    assert batch.shape == (5, 3) and batch.dtype == np.float32
    np.testing.assert_allclose(batch, _actions(agent, obs), atol=1e-6)
    assert np.all(np.abs(batch) <= 1.0)


# ------------------------------------------------------------------------------ save/load
def test_save_load_same_actions(trained, tmp_path):
    agent, out = trained
    obs = _observations()
    agent.save(tmp_path / "copy")
    env = ChannelBudgetEnv(SCENARIO)
    for loaded in (
        make_agent("ppo", env, path=out),
        make_agent("ppo", env, path=tmp_path / "copy"),
        make_agent("ppo", env, path=str(tmp_path / "copy" / "model.zip")),
        ppo.PPOAgent.load(tmp_path / "copy", env),
    ):
        np.testing.assert_array_equal(_actions(loaded, obs), _actions(agent, obs))
        assert loaded.train_steps == agent.train_steps and loaded.seed == 0


def test_load_agent_reads_a_saved_ppo_folder(trained):
    from budgetgym.agents import load_agent

    agent, out = trained
    obs = _observations()
    for target in (out, out / "agent.json"):
        loaded = load_agent(target, ChannelBudgetEnv(SCENARIO))
        assert loaded.name == "ppo" and loaded.train_steps == agent.train_steps
        np.testing.assert_array_equal(_actions(loaded, obs), _actions(agent, obs))


def test_load_agent_rejects_a_folder_without_agent_json(tmp_path):
    from budgetgym.agents import load_agent

    with pytest.raises(BudgetGymError, match="no agent.json"):
        load_agent(tmp_path, ChannelBudgetEnv(SCENARIO))


def test_same_seed_same_policy_different_seed_differs(tmp_path):
    a = ppo.train_ppo(SCENARIO, TINY, seed=7, out_dir=tmp_path / "a")
    b = ppo.train_ppo(SCENARIO, TINY, seed=7, out_dir=tmp_path / "b")
    c = ppo.train_ppo(SCENARIO, TINY, seed=8, out_dir=tmp_path / "c")
    obs = _observations()
    np.testing.assert_array_equal(_actions(a, obs), _actions(b, obs))
    np.testing.assert_array_equal(a.vec_normalize.obs_rms.mean, b.vec_normalize.obs_rms.mean)
    assert not np.array_equal(_actions(a, obs), _actions(c, obs))


def test_evaluate_policy_accepts_agent(trained):
    from stable_baselines3.common.evaluation import evaluate_policy
    from stable_baselines3.common.monitor import Monitor

    agent, _ = trained
    env = Monitor(ChannelBudgetEnv(SCENARIO))
    env.reset(seed=0)
    mean, std = evaluate_policy(agent, env, n_eval_episodes=2, deterministic=True)
    assert np.isfinite(mean) and mean > 0 and std >= 0


def test_stochastic_predict_is_seeded_by_reset(trained):
    agent, _ = trained
    obs = _observations(4)
    agent.reset(seed=5)
    first = [agent.predict(o, deterministic=False)[0] for o in obs]
    agent.reset(seed=5)
    second = [agent.predict(o, deterministic=False)[0] for o in obs]
    np.testing.assert_array_equal(first, second)
    assert not np.allclose(first[0], agent.predict(obs[0], deterministic=True)[0])


# ------------------------------------------------------------------------------ recurrent
def test_recurrent_ppo_smoke(tmp_path):
    cfg = {
        **TINY,
        "total_timesteps": 128,
        "n_envs": 2,
        "n_steps": 32,
        "batch_size": 32,
        "n_epochs": 1,
        "net_arch": [16],
        "lstm_hidden_size": 16,
        "eval_freq": 64,
    }
    agent = ppo.train_ppo(SCENARIO, cfg, seed=0, out_dir=tmp_path / "r", recurrent=True)
    assert isinstance(agent, ppo.RecurrentPPOAgent) and agent.name == "recurrent_ppo"
    assert agent.train_steps >= 128
    loaded = make_agent("recurrent_ppo", ChannelBudgetEnv(SCENARIO), path=tmp_path / "r")
    obs = _observations(6)

    def run(a):
        state, start, acts, states = None, np.ones((1,), bool), [], []
        for o in obs:
            act, state = a.predict(o, state=state, episode_start=start, deterministic=True)
            start = np.zeros((1,), bool)
            acts.append(act)
            states.append(state)
        return np.stack(acts), states

    acts, states = run(agent)
    acts2, _ = run(loaded)
    np.testing.assert_array_equal(acts, acts2)
    assert acts.shape == (6, 3)
    h, c = states[-1]  # LSTM (hidden, cell) of the actor
    assert h.shape == (1, 1, 16) and c.shape == (1, 1, 16)
    assert not np.array_equal(states[0][0], states[-1][0])  # the state evolves
    assert np.isfinite(evaluate(loaded, SCENARIO, seeds=[0])[0].pct_of_oracle)
    with pytest.raises(BudgetGymError, match="recurrent_ppo"):
        make_agent("ppo", ChannelBudgetEnv(SCENARIO), path=tmp_path / "r")


# ------------------------------------------------------------------------------- errors
def _one_line_error(excinfo) -> str:
    msg = str(excinfo.value)
    assert "\n" not in msg
    return msg


def test_config_unknown_key_is_one_line_error(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("total_timesteps: 100\nlearning_rat: 0.001\n")
    with pytest.raises(BudgetGymError) as exc:
        ppo.load_ppo_config(bad)
    msg = _one_line_error(exc)
    assert str(bad) in msg and "learning_rat" in msg


@pytest.mark.parametrize("recurrent", [False, True])
def test_a_misspelt_config_key_gets_a_did_you_mean(tmp_path, recurrent):
    """CONTRIBUTING: a misspelt name gets a "did you mean"; an experiment's `train: {n_stepz: 3}` or a
    config file's `total_timestep:` said only "Extra inputs are not permitted"."""
    with pytest.raises(BudgetGymError) as exc:
        ppo.load_ppo_config({"n_stepz": 64}, recurrent=recurrent, where="agents[1].train")
    expected = "agents[1].train: n_stepz: Extra inputs are not permitted (did you mean 'n_steps'?)"
    assert _one_line_error(exc).endswith(expected)
    bad = tmp_path / "bad.yaml"
    bad.write_text("total_timestep: 100\nlstm_hiden_size: 8\n" if recurrent else "total_timestep: 100\n")
    with pytest.raises(BudgetGymError) as exc:
        ppo.load_ppo_config(bad, recurrent=recurrent)
    assert "total_timestep: Extra inputs are not permitted (did you mean 'total_timesteps'?)" in _one_line_error(exc)


def test_config_negative_learning_rate_is_one_line_error(tmp_path):
    bad = tmp_path / "neg.yaml"
    bad.write_text("learning_rate: -0.1\n")
    with pytest.raises(BudgetGymError) as exc:
        ppo.load_ppo_config(bad)
    msg = _one_line_error(exc)
    assert str(bad) in msg and "learning_rate" in msg and "greater than 0" in msg
    with pytest.raises(BudgetGymError, match="learning_rate"):
        ppo.train_ppo(SCENARIO, {"learning_rate": -1e-3}, out_dir=tmp_path / "never")
    assert not (tmp_path / "never").exists()


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("n_envs: [1\n", "invalid YAML"),
        ("- 1\n- 2\n", "expected a mapping"),
        ("batch_size: 4096\nn_envs: 2\nn_steps: 64\n", "batch_size"),
        ("net_arch: [64, 0]\n", "net_arch"),
        ("gamma: 1.5\n", "gamma"),
        ("vec_env: dummy\ndraw_pool: 64\n", "draw_pool: only vec_env 'batched'"),
    ],
)
def test_config_other_errors(tmp_path, text, needle):
    bad = tmp_path / "bad.yaml"
    bad.write_text(text)
    with pytest.raises(BudgetGymError) as exc:
        ppo.load_ppo_config(bad)
    assert needle in _one_line_error(exc)


def test_builtin_configs_are_valid():
    cfg = ppo.load_ppo_config()
    assert 0.99 <= cfg.gamma <= 1.0 and cfg.log_std_init < 0 and cfg.total_timesteps <= 200_000
    rcfg = ppo.load_ppo_config(recurrent=True)
    assert isinstance(rcfg, ppo.RecurrentPPOConfig) and rcfg.lstm_hidden_size > 0
    assert ppo.load_ppo_config({"n_epochs": 3}).n_epochs == 3  # a mapping overrides the defaults
    with pytest.raises(BudgetGymError, match="lstm_hidden_size"):
        ppo.load_ppo_config({"lstm_hidden_size": 8})  # PPO has no LSTM


def test_a_recurrent_config_object_for_ppo_is_a_one_line_error(tmp_path):
    """A RecurrentPPOConfig given to ppo (train_ppo without recurrent=True) was returned as it was, and
    its LSTM fields reached SB3: TypeError: ActorCriticPolicy.__init__() got an unexpected keyword
    argument 'lstm_hidden_size', after the output directory was made."""
    rcfg = ppo.load_ppo_config(recurrent=True)
    with pytest.raises(BudgetGymError, match=r"^agent config: a RecurrentPPOConfig .*recurrent=True"):
        ppo.load_ppo_config(rcfg)
    with pytest.raises(BudgetGymError, match="RecurrentPPOConfig"):
        ppo.train_ppo(SCENARIO, rcfg, out_dir=tmp_path / "run")
    assert not (tmp_path / "run").exists()
    # the other way round stays accepted: a PPOConfig for recurrent_ppo gets the LSTM defaults
    assert isinstance(ppo.load_ppo_config(ppo.load_ppo_config(), recurrent=True), ppo.RecurrentPPOConfig)


def test_a_seed_beyond_numpys_range_is_a_one_line_error(tmp_path):
    """SB3's set_random_seed seeds numpy's legacy generator (0 .. 2**32 - 1): a larger seed failed with
    numpy's bare 'ValueError: Seed must be between 0 and 2**32 - 1' from inside SB3."""
    env = ChannelBudgetEnv(SCENARIO)
    with pytest.raises(BudgetGymError, match=r"agent 'ppo' parameters.*seed"):
        make_agent("ppo", env, seed=2**32)
    with pytest.raises(BudgetGymError, match=r"seed: expected an integer from 0 to 4294967295, got 4294967296"):
        ppo.train_ppo(SCENARIO, TINY, seed=2**32, out_dir=tmp_path / "run")
    assert make_agent("ppo", env, seed=2**32 - 1).seed == 2**32 - 1


def test_missing_model_path_is_clear_error(tmp_path):
    env = ChannelBudgetEnv(SCENARIO)
    with pytest.raises(BudgetGymError) as exc:
        make_agent("ppo", env, path=tmp_path / "nowhere")
    assert "not found" in _one_line_error(exc) and "nowhere" in str(exc.value)
    (tmp_path / "empty").mkdir()
    with pytest.raises(BudgetGymError, match="missing model.zip"):
        make_agent("ppo", env, path=tmp_path / "empty")


def test_bad_params_and_mismatched_scenario(trained):
    _, out = trained
    env = ChannelBudgetEnv(SCENARIO)
    with pytest.raises(BudgetGymError, match="modle"):
        make_agent("ppo", env, modle=str(out))
    with pytest.raises(BudgetGymError, match="either path"):
        make_agent("ppo", env, path=out, config=out / "config.yaml")
    with pytest.raises(BudgetGymError, match="stationary-5"):
        make_agent("ppo", ChannelBudgetEnv("stationary-5"), path=out)


def test_missing_sb3_gives_install_hint(monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "stable_baselines3", None)
    with pytest.raises(BudgetGymError, match=r'pip install "budgetgym\[rl\]"'):
        ppo.train_ppo(SCENARIO, TINY, out_dir=tmp_path / "x")
    with pytest.raises(BudgetGymError, match="budgetgym\\[rl\\]"):
        make_agent("ppo", ChannelBudgetEnv(SCENARIO))


def test_module_imports_without_sb3():
    code = (
        "import sys\n"
        "class Block:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name.split('.')[0] in ('stable_baselines3', 'sb3_contrib', 'torch'):\n"
        "            raise ImportError(name)\n"
        "sys.meta_path.insert(0, Block())\n"
        "import budgetgym.agents.ppo as p\n"
        "from budgetgym.agents.base import _REGISTRY\n"
        "assert 'ppo' in _REGISTRY and 'recurrent_ppo' in _REGISTRY\n"
        "assert p.load_ppo_config().n_envs >= 1\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr


@pytest.mark.parametrize("name", ["ppo", "recurrent_ppo"])
def test_the_builtin_config_is_its_packaged_yaml_file(name):
    """The built-in hyperparameters are the values of the package's ``configs/agents/<name>.yaml`` (the file the
    docs send a user to copy), every key of it, read here with PyYAML; it only checked that the files existed."""
    import yaml

    root = Path(ppo.__file__).resolve().parent.parent
    raw = yaml.safe_load((root / "configs" / "agents" / f"{name}.yaml").read_text(encoding="utf-8"))
    got = ppo.load_ppo_config(recurrent=name == "recurrent_ppo").model_dump()
    assert len(raw) >= 20 and {key: got.get(key, "absent") for key in raw} == raw


# ------------------------------------------------------------------ hostile train: configurations
@pytest.mark.parametrize(
    ("train", "needle"),
    [
        ({"batch_size": 0}, "batch_size"),
        ({"learning_rat": 0.001}, "learning_rat"),
        ({"learning_rate_schedule": "cosine"}, "learning_rate_schedule"),
        ({"n_envs": 2, "n_steps": 64, "batch_size": 48}, "batch_size"),
    ],
)
def test_experiment_with_a_bad_ppo_train_config_exits_2_before_anything_runs(tmp_path, capsys, train, needle):
    """A built-in trainer's ``train:`` is checked when the experiment is planned: one line naming the
    field, exit code 2, no results directory (it used to fail the run only, after the oracles and
    every other agent had run and been written, with exit code 1)."""
    import yaml
    from conftest import run_cli

    exp = tmp_path / "bad.yaml"
    agents = ["equal", {"agent": "ppo", "train": {"total_timesteps": 256, "eval_freq": 0, **train}}]
    exp.write_text(yaml.safe_dump({"name": "bad", "scenarios": [SCENARIO], "seeds": 1, "episodes": 1,
                                   "agents": agents}))
    code, _, err = run_cli(capsys, "run", str(exp), "--out", str(tmp_path / "out"))
    assert code == 2 and err.count("\n") == 1 and "agents[1].train" in err and needle in err, err
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("agent", ["ppo", "recurrent_ppo"])
def test_experiment_seed_beyond_the_ppo_trainers_range_exits_2_before_anything_runs(tmp_path, capsys, agent):
    """A run's seed is its learner's training seed, and the PPO trainer takes 0 .. 2**32 - 1: a larger
    seed in ``seeds`` is one line naming ``seeds``, exit 2, nothing written (it used to fail the PPO runs
    only, after the oracles and the other agents had run, with exit code 1 and a traceback in error.txt)."""
    import yaml
    from conftest import run_cli

    exp = tmp_path / "bad.yaml"
    agents = ["equal", {"agent": agent, "train": {"total_timesteps": 256, "eval_freq": 0}}]
    exp.write_text(yaml.safe_dump({"name": "bad", "scenarios": [SCENARIO], "seeds": [0, 2**32], "episodes": 1,
                                   "agents": agents}))
    code, _, err = run_cli(capsys, "run", str(exp), "--out", str(tmp_path / "out"))
    assert code == 2 and err.count("\n") == 1 and "seeds: 4294967296" in err and "bad.yaml" in err, err
    assert not (tmp_path / "out").exists()
    exp.write_text(yaml.safe_dump({"name": "bad", "scenarios": [SCENARIO], "seeds": [2**32], "episodes": 1,
                                   "agents": ["equal"]}))  # without a learner the seed is an evaluation seed only
    from budgetgym.experiments import load_experiment

    assert load_experiment(exp).seeds == [2**32]



@pytest.mark.parametrize("recurrent", [False, True])
def test_linear_learning_rate_never_goes_negative_when_the_last_rollout_overshoots(tmp_path, recurrent):
    """SB3 finishes the rollout in progress, so with total_timesteps not a multiple of the rollout its
    progress_remaining ends below 0 (1 - 32/24 here): the linear schedule lr0 * progress gave the last
    update a learning rate of -lr0/3, a step of gradient ascent on the PPO loss. It stops at 0."""
    if recurrent:
        pytest.importorskip("sb3_contrib")
    cfg = {**TINY, "total_timesteps": 24, "n_envs": 1, "n_steps": 16, "batch_size": 16, "n_epochs": 1,
           "net_arch": [4], "learning_rate": 3e-3, "learning_rate_schedule": "linear"}
    if recurrent:
        cfg["lstm_hidden_size"] = 4
    agent = ppo.train_ppo(SCENARIO, cfg, seed=0, out_dir=tmp_path / "run", recurrent=recurrent)
    assert agent.train_steps == 32  # two rollouts of 16 steps
    # the last update ran at progress 1 - 32/24 < 0: the schedule's end, lr0 * 0
    assert [g["lr"] for g in agent.model.policy.optimizer.param_groups] == [0.0]


def test_config_batch_size_must_divide_the_rollout():
    """SB3 only warns and trains on a truncated last minibatch; the config refuses it with one line."""
    with pytest.raises(BudgetGymError) as exc:
        ppo.load_ppo_config({"n_envs": 3, "n_steps": 100, "batch_size": 256})
    assert "batch_size (256)" in _one_line_error(exc) and "300" in str(exc.value)
    assert ppo.load_ppo_config({"n_envs": 3, "n_steps": 128, "batch_size": 96}).batch_size == 96


def test_agent_saved_with_a_batch_size_that_does_not_divide_the_rollout_still_loads(trained, tmp_path):
    """Such configs trained before the check (with SB3's warning): their saved agents keep loading."""
    agent, out = trained
    meta = json.loads((out / "agent.json").read_text())
    meta["state"]["config"].update(n_envs=3, n_steps=100, batch_size=256)
    for name in ("model.zip", "vecnormalize.pkl"):
        (tmp_path / name).write_bytes((out / name).read_bytes())
    (tmp_path / "agent.json").write_text(json.dumps(meta))
    loaded = make_agent("ppo", ChannelBudgetEnv(SCENARIO), path=tmp_path)
    assert loaded.config.batch_size == 256
    obs = _observations()
    np.testing.assert_array_equal(_actions(loaded, obs), _actions(agent, obs))



def test_config_total_timesteps_is_bounded():
    """A total_timesteps no run could finish (a typo's extra zeros) is refused, not trained for days."""
    with pytest.raises(BudgetGymError) as exc:
        ppo.load_ppo_config({"total_timesteps": 10**30})
    assert "total_timesteps" in _one_line_error(exc)
    assert ppo.load_ppo_config({"total_timesteps": 10**9}).total_timesteps == 10**9


def test_config_rollout_size_is_bounded(tmp_path):
    """n_envs * n_steps sizes SB3's rollout buffer: 10^9 steps asked 71 GiB and died of a MemoryError
    after config.yaml was written; now one line naming n_steps, and nothing written."""
    with pytest.raises(BudgetGymError) as exc:
        ppo.train_ppo(SCENARIO, {"n_envs": 1, "n_steps": 10**9, "eval_freq": 0}, out_dir=tmp_path / "never")
    assert "n_steps" in _one_line_error(exc) and "1048576" in str(exc.value)
    assert not (tmp_path / "never").exists()
    assert ppo.load_ppo_config({"n_envs": 64, "n_steps": 2**14}).n_steps == 2**14


def test_an_interrupted_save_or_training_over_a_saved_agent_leaves_no_complete_looking_mix(trained, tmp_path,
                                                                                        monkeypatch):
    """``agent.json`` marks a complete agent directory. Saving (or training) anew into one must drop the
    old marker first: a save that failed after ``model.zip`` left the new weights under the old
    ``agent.json`` and statistics, and a failed training left the old agent under the new ``config.yaml``,
    both loading without a word."""
    import shutil

    from stable_baselines3.common.vec_env import VecNormalize

    agent, out = trained
    env = ChannelBudgetEnv(SCENARIO)
    target = tmp_path / "agent"
    shutil.copytree(out, target)
    fresh = make_agent("ppo", env, seed=5)

    def boom(*args, **kwargs):
        raise OSError("disk full")

    with monkeypatch.context() as m:
        m.setattr(VecNormalize, "save", boom)
        with pytest.raises(OSError):
            fresh.save(target)
    with pytest.raises(BudgetGymError, match="missing agent.json"):
        make_agent("ppo", env, path=target)

    shutil.rmtree(target)
    shutil.copytree(out, target)
    with monkeypatch.context() as m:
        m.setattr("stable_baselines3.PPO.learn", boom)
        with pytest.raises(OSError):
            ppo.train_ppo(SCENARIO, TINY, seed=9, out_dir=target)
    with pytest.raises(BudgetGymError, match="missing agent.json"):
        make_agent("ppo", env, path=target)


def test_config_net_arch_is_bounded(tmp_path):
    """A layer of 10^9 units asked torch for tens of GiB after config.yaml was written; the config
    bounds each layer (as it does lstm_hidden_size) and the depth."""
    for arch in ([64, 10**9], [8] * 17):
        with pytest.raises(BudgetGymError) as exc:
            ppo.train_ppo(SCENARIO, {**TINY, "net_arch": arch}, out_dir=tmp_path / "never")
        assert "net_arch" in _one_line_error(exc)
    assert not (tmp_path / "never").exists()
    assert ppo.load_ppo_config({"net_arch": [4096] * 16}).net_arch == [4096] * 16


def test_fresh_agent_of_a_valid_config_builds_without_sb3_batch_warning(tmp_path):
    """A fresh agent's inference model has one env: its rollout is n_steps, which the config's
    batch_size (dividing n_envs * n_steps) need not divide; SB3 warned of a truncated minibatch
    for a model that never trains."""
    import warnings

    cfg = tmp_path / "c.yaml"
    cfg.write_text("n_envs: 2\nn_steps: 96\nbatch_size: 64\n")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        agent = make_agent("ppo", ChannelBudgetEnv(SCENARIO), config=cfg, seed=2)
    assert agent.config.batch_size == 64


@pytest.mark.parametrize("name", ["ppo", "recurrent_ppo"])
@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf, 1e30])
def test_a_hostile_observation_still_gets_a_finite_action(name, bad):
    # the observation is read within its box (nan: 0): no nan action, no torch error deep in SB3
    if name == "recurrent_ppo":
        pytest.importorskip("sb3_contrib")
    env = ChannelBudgetEnv(SCENARIO)
    agent = make_agent(name, env, config=None)
    obs = _observations(2)
    hostile = obs.copy()
    hostile[:, 0] = bad
    for deterministic in (True, False):
        action, _ = agent.predict(hostile[0], deterministic=deterministic)
        assert np.all(np.isfinite(action)) and env.action_space.contains(np.asarray(action, np.float32))
    # an observation of the space is read as it is
    np.testing.assert_array_equal(
        agent.normalize(obs), agent.vec_normalize.normalize_obs(obs.astype(np.float32))
    )


# ------------------------------------------------------------------------- global RNGs
def _global_states():
    import random

    import torch

    return random.getstate(), np.random.get_state(), torch.get_rng_state()


def _assert_same_states(before, after):
    assert before[0] == after[0], "Python's random state changed"
    for a, b in zip(before[1], after[1], strict=True):
        np.testing.assert_array_equal(a, b, err_msg="numpy's global state changed")
    assert bool((before[2] == after[2]).all()), "torch's global state changed"


def _seed_globals(seed: int) -> None:
    import random

    import torch

    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


@pytest.mark.parametrize("recurrent", [False, True])
def test_training_and_acting_leave_the_callers_global_rngs_as_they_were(tmp_path, recurrent):
    """SB3 seeds random, numpy and torch globally (and training draws from them): a researcher's
    seeded global streams must be the same after training, building, loading and acting."""
    _seed_globals(123)
    before = _global_states()
    cfg = {**TINY, "total_timesteps": 128, "n_steps": 32, "batch_size": 32, "n_epochs": 1, "eval_freq": 64}
    agent = ppo.train_ppo(SCENARIO, cfg, seed=3, out_dir=tmp_path / "a", recurrent=recurrent)
    _assert_same_states(before, _global_states())
    name = "recurrent_ppo" if recurrent else "ppo"
    make_agent(name, ChannelBudgetEnv(SCENARIO), seed=9)  # a fresh, untrained policy
    make_agent(name, ChannelBudgetEnv(SCENARIO), path=tmp_path / "a")
    _assert_same_states(before, _global_states())
    obs = _observations(3)
    agent.reset(seed=4)
    for deterministic in (True, False):
        for o in obs:
            agent.predict(o, deterministic=deterministic)
    agent.predict(obs, deterministic=False)  # a batch
    _assert_same_states(before, _global_states())


def test_same_seed_same_weights_whatever_the_caller_did_to_the_global_rngs(tmp_path):
    import torch

    def weights(out, caller_seed):
        _seed_globals(caller_seed)
        np.random.random(17), torch.rand(5)  # the caller's own draws in between
        agent = ppo.train_ppo(SCENARIO, TINY, seed=7, out_dir=out)
        return [p.detach().clone() for p in agent.model.policy.parameters()]

    a, b = weights(tmp_path / "a", 1), weights(tmp_path / "b", 2)
    assert all(torch.equal(x, y) for x, y in zip(a, b, strict=True))


def test_stochastic_actions_are_those_torch_manual_seed_gave(trained):
    """The agent's own stream starts where ``torch.manual_seed(seed)`` does: the numbers for a seed are
    the ones budgetgym gave when ``reset`` seeded torch's global generator."""
    import torch

    agent, _ = trained
    obs = _observations(3)
    agent.reset(seed=11)
    mine = [agent.predict(o, deterministic=False)[0] for o in obs]
    torch.manual_seed(11)
    theirs = [np.asarray(agent.model.predict(agent.normalize(o), deterministic=False)[0]) for o in obs]
    np.testing.assert_array_equal(np.stack(mine), np.stack(theirs))


def test_a_ppo_agent_plays_episode_seeds_beyond_torchs_range(trained):
    """Episode seeds are any non-negative integers (numpy's generators take them all); torch's take
    seeds below 2**64, and ``reset`` seeding the agent's actions with a larger one raised
    ``ValueError: Overflow when unpacking long long`` mid-evaluation. Now it is hashed to 64 bits: the
    episode plays, and replays exactly."""
    agent, _ = trained
    big = 2**64 + 5
    first = evaluate(agent, SCENARIO, seeds=[big], deterministic=False)[0]
    again = evaluate(agent, SCENARIO, seeds=[big], deterministic=False)[0]
    assert np.isfinite(first.pct_of_oracle) and first.expected_reward == again.expected_reward


@pytest.mark.parametrize("first_use", ["train", "make", "load"])
def test_the_first_ppo_use_in_a_process_leaves_the_global_rngs_as_they_were(tmp_path, first_use):
    """Importing SB3 the first time imports ``rich``, whose ``style`` module draws from Python's
    ``random`` on import: the first PPO call of a fresh process (a researcher's script) changed
    ``random``'s state even with SB3's own seeding undone. Checked in a fresh interpreter."""
    saved = tmp_path / "saved"
    if first_use == "load":
        ppo.train_ppo(SCENARIO, {**TINY, "total_timesteps": 128}, seed=1, out_dir=saved)
    code = f"""
import random, sys
import numpy as np, torch
random.seed(5); np.random.seed(5); torch.manual_seed(5)
before = (random.getstate(), np.random.get_state()[1].copy(), torch.get_rng_state())
assert 'stable_baselines3' not in sys.modules and 'rich' not in sys.modules
from budgetgym.agents import make_agent, train_ppo
from budgetgym.envs import ChannelBudgetEnv
cfg = dict(total_timesteps=128, n_envs=2, n_steps=64, batch_size=64, n_epochs=1, eval_freq=64, eval_episodes=1,
           vec_env="dummy")
if {first_use!r} == "train":
    agent = train_ppo("{SCENARIO}", cfg, seed=3, out_dir=r"{tmp_path / 'out'}")
elif {first_use!r} == "make":
    agent = make_agent("ppo", ChannelBudgetEnv("{SCENARIO}"), seed=3)
else:
    agent = make_agent("ppo", ChannelBudgetEnv("{SCENARIO}"), path=r"{saved}")
agent.reset(seed=2)
agent.predict(np.zeros(agent.observation_space.shape, np.float32), deterministic=False)
assert 'rich' in sys.modules
assert random.getstate() == before[0], "random"
assert (np.random.get_state()[1] == before[1]).all(), "numpy"
assert torch.equal(torch.get_rng_state(), before[2]), "torch"
"""
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
