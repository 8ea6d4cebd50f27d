"""What a PPO agent keeps outside its policy: the saved directory's file names (the layout is in
:mod:`budgetgym.agents.ppo`'s docstring), the frozen ``VecNormalize`` of inference, and an
environment that only has the brief's spaces, on which an SB3 model is built or checked for a
campaign without playing it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np

from budgetgym.envs.brief import CampaignBrief
from budgetgym.envs.errors import BudgetGymError

__all__ = [
    "CONFIG_FILE",
    "EVAL_SEED_OFFSET",
    "META_FILE",
    "MODEL_FILE",
    "VECNORM_FILE",
    "check_spaces",
    "frozen_vec_normalize",
    "resolve_dir",
    "spaces_venv",
]

MODEL_FILE = "model.zip"
VECNORM_FILE = "vecnormalize.pkl"
META_FILE = "agent.json"
CONFIG_FILE = "config.yaml"
#: The EvalCallback's env is seeded with ``seed + EVAL_SEED_OFFSET`` (disjoint from training).
EVAL_SEED_OFFSET = 1_000_000


def resolve_dir(path: Path) -> Path:
    """The agent directory for a directory, ``model.zip`` or ``agent.json`` path."""
    if path.is_file() and path.name in (MODEL_FILE, META_FILE, VECNORM_FILE):
        return path.parent
    return path


def frozen_vec_normalize(
    venv: Any, *, norm_obs: bool, clip_obs: float, gamma: float, epsilon: float = 1e-8
) -> Any:
    """``VecNormalize`` in evaluation mode: statistics are never updated, rewards stay raw."""
    from stable_baselines3.common.vec_env import VecNormalize

    return VecNormalize(
        venv,
        training=False,
        norm_obs=norm_obs,
        norm_reward=False,
        clip_obs=clip_obs,
        gamma=gamma,
        epsilon=epsilon,
    )


class _SpacesOnly(gym.Env[np.ndarray, np.ndarray]):
    """An environment that only has the brief's spaces: what ``VecNormalize`` and a fresh
    SB3 model need to be built for inference. It cannot be played."""

    def __init__(self, brief: CampaignBrief):
        self.observation_space = brief.observation_space()
        self.action_space = brief.action_space()

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> Any:
        raise RuntimeError("a PPO agent's inference env has spaces only; train with train_ppo")

    def step(self, action: np.ndarray) -> Any:
        raise RuntimeError("a PPO agent's inference env has spaces only; train with train_ppo")


def spaces_venv(brief: CampaignBrief) -> Any:
    from stable_baselines3.common.vec_env import DummyVecEnv

    return DummyVecEnv([lambda: _SpacesOnly(brief)])


def check_spaces(model: Any, brief: CampaignBrief, where: str) -> None:
    obs, act = tuple(model.observation_space.shape), tuple(model.action_space.shape)
    want_obs, want_act = brief.observation_space().shape, brief.action_space().shape
    if obs != want_obs or act != want_act:
        raise BudgetGymError(
            f"{where}: trained for observations {obs} and actions {act}, but campaign "
            f"'{brief.name}' has {want_obs} and {want_act}"
        )
