"""The stable-baselines3 ``VecEnv`` over the vector env, and PPO training on it.

The reference is SB3's own ``make_vec_env`` (``DummyVecEnv`` of Monitor-wrapped single envs):
with ``rng="per_env"`` the adapter must hand SB3 exactly what it hands it — observations,
float32 rewards, dones, terminal observations, ``TimeLimit.truncated`` and Monitor's episode
returns — so that PPO trained on either is the same network, weight for weight.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest

pytest.importorskip("stable_baselines3")

import torch
from gymnasium.vector import AutoresetMode
from stable_baselines3.common.env_util import make_vec_env
from stable_baselines3.common.evaluation import evaluate_policy
from stable_baselines3.common.monitor import Monitor
from stable_baselines3.common.vec_env import VecCheckNan, VecNormalize

from budgetgym.agents.ppo import train_ppo
from budgetgym.agents.sb3_vec_env import SB3VecEnv
from budgetgym.envs import BudgetGymError, ChannelBudgetEnv
from budgetgym.envs.vector_env import ChannelBudgetVectorEnv


def _adapter(scenario: str, n: int, rng: str = "per_env") -> SB3VecEnv:
    return SB3VecEnv(ChannelBudgetVectorEnv(scenario, n, rng=rng, autoreset_mode=AutoresetMode.SAME_STEP))


def test_adapter_hands_sb3_what_dummy_vec_env_does() -> None:
    ref = make_vec_env(ChannelBudgetEnv, n_envs=3, seed=5, env_kwargs={"scenario": "stationary-3"})
    vec = _adapter("stationary-3", 3)
    vec.seed(5)
    assert np.array_equal(ref.reset(), vec.reset())
    rng = np.random.default_rng(1)
    ended = 0
    for _ in range(2 * 14 + 3):
        a = rng.uniform(-1, 1, (3, 3)).astype(np.float32)
        (o1, r1, d1, i1), (o2, r2, d2, i2) = ref.step(a), vec.step(a)
        assert np.array_equal(o1, o2) and np.array_equal(d1, d2)
        assert np.array_equal(r1, r2) and r2.dtype == r1.dtype == np.float32
        for x, y in zip(i1, i2, strict=True):
            if "terminal_observation" in x:
                ended += 1
                assert np.array_equal(x["terminal_observation"], y["terminal_observation"])
                assert x["TimeLimit.truncated"] is y["TimeLimit.truncated"] is True
                assert (x["episode"]["r"], x["episode"]["l"]) == (y["episode"]["r"], y["episode"]["l"])
            else:
                assert "terminal_observation" not in y
    assert ended == 6


def test_adapter_under_sb3_wrappers() -> None:
    vec = VecNormalize(VecCheckNan(_adapter("seasonal-5", 4, "batched"), raise_exception=True))
    vec.seed(0)
    obs = vec.reset()
    assert obs.shape == (4, 27) and vec.num_envs == 4
    rng = np.random.default_rng(0)
    ends = []
    for t in range(90):
        obs, rew, done, infos = vec.step(rng.uniform(-1, 1, (4, 6)).astype(np.float32))
        assert np.all(np.isfinite(obs)) and np.all(np.isfinite(rew))
        if done.any():
            assert done.all() and all(np.isfinite(i["terminal_observation"]).all() for i in infos)
            ends.append(t)
    assert ends == [83]  # seasonal-5: 84 steps
    assert vec.get_attr("horizon") == [84] * 4 and vec.env_is_wrapped(object) == [False] * 4


def test_adapter_needs_same_step_autoreset() -> None:
    with pytest.raises(BudgetGymError, match="SAME_STEP"):
        SB3VecEnv(ChannelBudgetVectorEnv("stationary-3", 2))


def test_adapter_reset_infos_are_dummy_vec_envs() -> None:
    """``reset_infos``: each row's reset info (a family's draw included), after ``reset`` and after
    each autoreset, equal to ``DummyVecEnv``'s."""
    ref = make_vec_env(ChannelBudgetEnv, n_envs=3, seed=2, env_kwargs={"scenario": "retail-5-family"})
    vec = _adapter("retail-5-family", 3)
    vec.seed(2)
    ref.reset(), vec.reset()
    assert vec.reset_infos == ref.reset_infos and "draw" in vec.reset_infos[0]
    first = list(vec.reset_infos)
    a = np.zeros((3, 5), dtype=np.float32)
    for _ in range(ref.get_attr("horizon")[0]):
        ref.step(a), vec.step(a)
    assert vec.reset_infos == ref.reset_infos != first


class _Zeros:
    """A policy of zero actions (SB3's ``predict``)."""

    def predict(self, obs: np.ndarray, state=None, episode_start=None, deterministic: bool = False):
        return np.zeros((len(obs), 3), dtype=np.float32), None


def test_evaluate_policy_reads_the_adapters_monitor_returns_under_vec_normalize() -> None:
    """The adapter does Monitor's work, so ``env_is_wrapped(Monitor)`` is true: SB3's
    ``evaluate_policy`` on a ``VecNormalize`` of it reports the raw returns (``info["episode"]``),
    as on Monitor-wrapped single envs, not the normalised rewards, and does not warn."""
    ref = VecNormalize(make_vec_env(ChannelBudgetEnv, n_envs=2, seed=5, env_kwargs={"scenario": "stationary-3"}))
    vec = VecNormalize(_adapter("stationary-3", 2))
    vec.seed(5)
    assert vec.env_is_wrapped(Monitor) == [True, True] and vec.env_is_wrapped(VecNormalize) == [False, False]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        got = evaluate_policy(_Zeros(), vec, n_eval_episodes=4, return_episode_rewards=True)
    expected = evaluate_policy(_Zeros(), ref, n_eval_episodes=4, return_episode_rewards=True)
    assert got == expected


def test_adapter_options_are_one_dict_for_every_row() -> None:
    """``set_options``: one dict (the spend history) for every row; different options per row are
    an error, not the first row's options for all."""
    vec = _adapter("stationary-3", 2)
    history = {"history": np.full((4, 3), 2000.0)}
    vec.set_options(history)
    vec.seed(1)
    vec.reset()
    direct = ChannelBudgetVectorEnv("stationary-3", 2, autoreset_mode=AutoresetMode.SAME_STEP)
    direct.reset(seed=[1, 2], options=history)
    a = np.zeros((2, 3), dtype=np.float32)
    assert np.array_equal(vec.step(a)[0], direct.step(a)[0])
    vec.set_options([history, {}])
    with pytest.raises(BudgetGymError, match="one options dict"):
        vec.reset()
    vec.set_options([history, {"history": np.zeros((4, 3))}])
    with pytest.raises(BudgetGymError, match="one options dict"):
        vec.reset()


def test_adapter_indices_out_of_range_are_index_errors() -> None:
    """``get_attr``, ``set_attr``, ``env_method`` and ``env_is_wrapped`` name rows as
    ``DummyVecEnv``'s do (negative ones too), and a row out of range is an ``IndexError`` there as
    here, before any call."""
    vec = _adapter("stationary-3", 3)
    assert vec.get_attr("horizon", [0, -1]) == [14, 14] and vec.get_attr("horizon", 2) == [14]
    for call in (
        lambda: vec.get_attr("horizon", 3), lambda: vec.set_attr("horizon", 5, [0, 3]),
        lambda: vec.env_method("reset", indices=[-4]), lambda: vec.env_is_wrapped(Monitor, 7),
    ):
        with pytest.raises(IndexError, match="indices"):
            call()
    assert vec.venv.horizon == 14 and vec.venv.parts[0].campaigns is None  # nothing was set or reset


TINY = {"total_timesteps": 128, "n_envs": 2, "n_steps": 32, "batch_size": 32, "n_epochs": 2, "eval_freq": 0}


def _weights(agent) -> list[np.ndarray]:
    return [p.detach().numpy().copy() for p in agent.model.policy.parameters()]


def test_ppo_trained_on_per_env_vector_env_is_the_dummy_vec_env_policy(tmp_path) -> None:
    a = train_ppo("stationary-3", {**TINY, "vec_env": "per_env"}, seed=3, out_dir=tmp_path / "a")
    b = train_ppo("stationary-3", {**TINY, "vec_env": "dummy"}, seed=3, out_dir=tmp_path / "b")
    for x, y in zip(_weights(a), _weights(b), strict=True):
        np.testing.assert_array_equal(x, y)
    assert a.train_steps == b.train_steps == 128


def test_ppo_default_trains_on_batched_vector_env_reproducibly(tmp_path) -> None:
    torch.manual_seed(0)
    a = train_ppo("retail-5-family", TINY, seed=1, out_dir=tmp_path / "a")
    b = train_ppo("retail-5-family", TINY, seed=1, out_dir=tmp_path / "b")
    c = train_ppo("retail-5-family", {**TINY, "vec_env": "per_env"}, seed=1, out_dir=tmp_path / "c")
    assert a.config.vec_env == "batched"
    for x, y in zip(_weights(a), _weights(b), strict=True):
        np.testing.assert_array_equal(x, y)
    assert any(not np.array_equal(x, z) for x, z in zip(_weights(a), _weights(c), strict=True))


def test_adapter_on_an_agent_paced_family_is_dummy_vec_env_through_step_async_and_wait() -> None:
    """wide-agent-family (agent pacing, a draw per episode, value and count noise of the draw): SB3's
    two-call step (``step_async`` then ``step_wait``), ``seed()``'s seeds ``s + i``, a second
    ``reset()`` that continues the generators, the terminal observations (the single env's last
    observation, not the next episode's first), episode returns and lengths, and ``reset_infos``
    across two episodes, all as ``DummyVecEnv`` of Monitor-wrapped single envs."""
    name = "wide-agent-family"
    ref = make_vec_env(ChannelBudgetEnv, n_envs=3, env_kwargs={"scenario": name})
    vec = _adapter(name, 3)
    assert vec.seed(7) == ref.seed(7) == [7, 8, 9]
    assert np.array_equal(ref.reset(), vec.reset())
    assert np.array_equal(ref.reset(), vec.reset()) and vec.reset_infos == ref.reset_infos  # unseeded: continues
    rng = np.random.default_rng(0)
    ends = 0
    for _ in range(2 * 42 + 1):
        a = rng.uniform(-1, 1, (3, 4)).astype(np.float32)
        ref.step_async(a)
        vec.step_async(a)
        (o1, r1, d1, i1), (o2, r2, d2, i2) = ref.step_wait(), vec.step_wait()
        assert np.array_equal(o1, o2) and np.array_equal(r1, r2) and np.array_equal(d1, d2)
        for i, (x, y) in enumerate(zip(i1, i2, strict=True)):
            assert ("terminal_observation" in x) == ("terminal_observation" in y)
            if "terminal_observation" in x:
                ends += 1
                assert np.array_equal(x["terminal_observation"], y["terminal_observation"])
                assert not np.array_equal(y["terminal_observation"], o2[i])
                assert x["episode"]["r"] == y["episode"]["r"] and x["episode"]["l"] == y["episode"]["l"] == 42
                assert x["TimeLimit.truncated"] is y["TimeLimit.truncated"] is True
    assert ends == 6 and vec.reset_infos == ref.reset_infos


def test_adapter_attributes_methods_and_close() -> None:
    """``get_attr``/``set_attr``/``env_method`` reach the one vector env for every row named (a
    missing attribute is an ``AttributeError``, as ``DummyVecEnv``'s), ``get_images`` has no images,
    ``close`` closes the vector env (a later step is Gymnasium's error)."""
    vec = _adapter("stationary-3", 3)
    vec.set_attr("tag", "a", indices=[1])
    assert vec.get_attr("tag") == ["a"] * 3 and vec.venv.tag == "a"
    assert vec.env_method("render", indices=[0, 2]) == [None, None]
    with pytest.raises(AttributeError):
        vec.get_attr("no_such_attribute")
    assert list(vec.get_images()) == [None] * 3
    vec.seed(0)
    vec.reset()
    obs, *_ = vec.step(np.zeros((3, 3), dtype=np.float32))
    assert obs.shape == (3, 19)
    vec.close()
    assert vec.venv.closed
    from gymnasium.error import ClosedEnvironmentError

    with pytest.raises(ClosedEnvironmentError):
        vec.step(np.zeros((3, 3), dtype=np.float32))
