"""stable-baselines3's ``VecEnv`` interface over :class:`~budgetgym.envs.vector_env.ChannelBudgetVectorEnv`.

stable-baselines3 (2.x) has no adapter for a :class:`gymnasium.vector.VectorEnv`: its ``DummyVecEnv``
steps a list of single environments in Python. :class:`SB3VecEnv` hands the batched arrays
through as they are — observations ``[N, D]`` float32, rewards ``[N]`` (cast to float32, as
``DummyVecEnv`` stores them), ``dones = terminated | truncated`` — and builds SB3's list of info
dicts, empty but for the rows whose episode ended, which carry what ``DummyVecEnv`` plus
``Monitor`` would: ``terminal_observation``, ``TimeLimit.truncated`` and ``episode``
(``{"r": return, "l": length, "t": seconds since the start}``, so SB3 logs
``rollout/ep_rew_mean``); as it does ``Monitor``'s work, ``env_is_wrapped(Monitor)`` is true (what
SB3's ``evaluate_policy`` and ``VecMonitor`` ask: the former then reads the returns from
``episode``, not from rewards a ``VecNormalize`` scaled). ``reset_infos`` holds each row's reset
info, as ``DummyVecEnv``'s (updated by the autoresets). The vector env must reset in the same step
(``autoreset_mode=SAME_STEP``): SB3 expects the next episode's first observation at the end of an
episode.

Seeding follows SB3: ``seed(s)`` then ``reset()`` seeds sub-environment ``i`` with ``s + i``
(``rng="per_env"``: exactly ``DummyVecEnv``'s seeding of single environments; ``batched``: the batch
generator from that list's seed sequence). Options (``set_options``) are one dict for every row:
the rows of a vector env reset together.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium.utils.env_checker import data_equivalence
from gymnasium.vector import AutoresetMode
from stable_baselines3.common.monitor import Monitor
from stable_baselines3.common.vec_env.base_vec_env import VecEnv, VecEnvIndices, VecEnvStepReturn

from budgetgym.envs.errors import BudgetGymError
from budgetgym.envs.vector_env import ChannelBudgetVectorEnv

__all__ = ["SB3VecEnv"]

#: the keys of a same-step autoreset's info that belong to the episode that ended
_FINAL_KEYS = ("final_obs", "_final_obs", "final_info", "_final_info")


def _row_info(info: dict[str, Any], i: int) -> dict[str, Any]:
    """Row ``i``'s info dict from a Gymnasium vector info: the keys whose ``_key`` mask has row
    ``i`` (nested dicts likewise), numpy scalars as Python ones (as a single env's info)."""
    out: dict[str, Any] = {}
    for key, value in info.items():
        mask = info.get(f"_{key}")
        if key.startswith("_") or (mask is not None and not mask[i]):
            continue
        out[key] = _row_info(value, i) if isinstance(value, dict) else value[i]
        if isinstance(out[key], np.generic):
            out[key] = out[key].item()
    return out


class SB3VecEnv(VecEnv):
    """SB3 ``VecEnv`` over a budgetgym vector env (module docstring)."""

    def __init__(self, venv: ChannelBudgetVectorEnv):
        if venv.autoreset_mode != AutoresetMode.SAME_STEP:
            raise BudgetGymError("SB3VecEnv: build the vector env with autoreset_mode=AutoresetMode.SAME_STEP")
        self.venv = venv
        super().__init__(venv.num_envs, venv.single_observation_space, venv.single_action_space)
        self._actions: np.ndarray | None = None
        self._returns = np.zeros(venv.num_envs)
        self._lengths = 0
        self._t0 = time.time()

    # -- the SB3 protocol -----------------------------------------------------------------
    def reset(self) -> np.ndarray:
        seeds = None if all(s is None for s in self._seeds) else list(self._seeds)
        obs, info = self.venv.reset(seed=seeds, options=self._one_options())
        self.reset_infos = [_row_info(info, i) for i in range(self.num_envs)]
        self._reset_seeds()
        self._reset_options()
        self._returns = np.zeros(self.num_envs)
        self._lengths = 0
        return obs

    def _one_options(self) -> dict[str, Any] | None:
        """The options of the next reset: one dict for every row (``set_options``), or ``None``."""
        given = [o for o in self._options if o]
        if not given:
            return None
        if len(given) < self.num_envs or any(o is not given[0] and not data_equivalence(o, given[0]) for o in given):
            raise BudgetGymError("set_options: the rows of a vector env reset together, with one options dict for all")
        return given[0]

    def step_async(self, actions: np.ndarray) -> None:
        self._actions = actions

    def step_wait(self) -> VecEnvStepReturn:
        assert self._actions is not None, "step_async() first"
        obs, rewards, terminated, truncated, info = self.venv.step(self._actions)
        dones = terminated | truncated
        self._returns += rewards
        self._lengths += 1
        infos: list[dict[str, Any]] = [{} for _ in range(self.num_envs)]
        if dones.any():
            final = info["final_obs"]
            reset_info = {k: v for k, v in info.items() if k not in _FINAL_KEYS}
            elapsed = round(time.time() - self._t0, 6)
            for i in np.flatnonzero(dones).tolist():
                infos[i] = {
                    "terminal_observation": final[i],
                    "TimeLimit.truncated": bool(truncated[i] and not terminated[i]),
                    "episode": {"r": round(float(self._returns[i]), 6), "l": self._lengths, "t": elapsed},
                }
                self.reset_infos[i] = _row_info(reset_info, i)
            self._returns[dones] = 0.0
            self._lengths = 0
        return obs, rewards.astype(np.float32), dones, infos

    def close(self) -> None:
        self.venv.close()

    # -- attributes: one vector env serves every index ----------------------------------------
    def _count(self, indices: VecEnvIndices) -> int:
        """How many rows ``indices`` names; a row out of range is an ``IndexError``, as in ``DummyVecEnv``."""
        rows = list(self._get_indices(indices))
        if any(not -self.num_envs <= i < self.num_envs for i in rows):
            raise IndexError(f"indices: expected rows of 0..{self.num_envs - 1}, got {rows}")
        return len(rows)

    def get_attr(self, attr_name: str, indices: VecEnvIndices = None) -> list[Any]:
        return [getattr(self.venv, attr_name)] * self._count(indices)

    def set_attr(self, attr_name: str, value: Any, indices: VecEnvIndices = None) -> None:
        self._count(indices)
        setattr(self.venv, attr_name, value)

    def env_method(
        self, method_name: str, *method_args: Any, indices: VecEnvIndices = None, **method_kwargs: Any
    ) -> list[Any]:
        count = self._count(indices)  # before the call: a bad index changes nothing
        return [getattr(self.venv, method_name)(*method_args, **method_kwargs)] * count

    def env_is_wrapped(self, wrapper_class: type[gym.Wrapper], indices: VecEnvIndices = None) -> list[bool]:
        return [wrapper_class is Monitor] * self._count(indices)  # its episode statistics are ours

    def get_images(self) -> Sequence[np.ndarray | None]:
        return [None] * self.num_envs
