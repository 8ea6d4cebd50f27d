"""Training PPO / RecurrentPPO on a scenario: :func:`train_ppo`.

Training steps a :class:`~budgetgym.envs.vector_env.ChannelBudgetVectorEnv` through
:class:`~budgetgym.agents.sb3_vec_env.SB3VecEnv` (or SB3's ``DummyVecEnv`` of single environments;
training legitimately plays the simulator; the trained agent keeps only the campaign brief), wrapped in
``VecNormalize``; an ``EvalCallback`` on a separately seeded copy logs evaluations. The result is
saved as an agent directory (see :mod:`budgetgym.agents.ppo`) and reloaded from it.
"""

from __future__ import annotations

import importlib
import importlib.util
import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from budgetgym.agents.base import make_agent
from budgetgym.agents.global_rngs import preserved_global_rngs
from budgetgym.agents.ppo import PPOAgent, RecurrentPPOAgent
from budgetgym.agents.ppo_config import (
    MAX_SEED,
    PPOConfig,
    build_model,
    load_ppo_config,
    sb3_contrib_module,
    sb3_module,
    torch_threads,
)
from budgetgym.agents.ppo_files import CONFIG_FILE, EVAL_SEED_OFFSET, META_FILE, frozen_vec_normalize
from budgetgym.envs.channel_env import ChannelBudgetEnv
from budgetgym.envs.errors import BudgetGymError, is_integer
from budgetgym.envs.family import ScenarioFamily, load_family
from budgetgym.envs.io import atomic_write_text
from budgetgym.envs.scenario import Scenario
from budgetgym.envs.vector_env import ChannelBudgetVectorEnv

__all__ = ["train_ppo"]


def _progress_bar_available() -> bool:
    return all(importlib.util.find_spec(m) is not None for m in ("tqdm", "rich"))


#: The most family draws a batched training compiles by default (``PPOConfig.draw_pool``; :func:`train_ppo`).
MAX_DRAW_POOL = 4096


def _training_envs(family: ScenarioFamily, cfg: PPOConfig, seed: int) -> Any:
    """The ``n_envs`` training environments as an SB3 ``VecEnv``, seeded ``seed, seed+1, ...``:
    a :class:`~budgetgym.envs.vector_env.ChannelBudgetVectorEnv` (``vec_env`` ``batched`` or
    ``per_env``) behind :class:`~budgetgym.agents.sb3_vec_env.SB3VecEnv`, or SB3's ``DummyVecEnv``
    of Monitor-wrapped single environments (``dummy``)."""
    if cfg.vec_env == "dummy":
        from stable_baselines3.common.env_util import make_vec_env

        return make_vec_env(ChannelBudgetEnv, n_envs=cfg.n_envs, seed=seed, env_kwargs={"scenario": family})
    from gymnasium.vector import AutoresetMode

    from budgetgym.agents.sb3_vec_env import SB3VecEnv

    episodes = math.ceil(cfg.total_timesteps / family.brief.horizon)
    # per_env draws each episode's campaign afresh: no pool
    pool = (cfg.draw_pool or min(MAX_DRAW_POOL, max(episodes, cfg.n_envs))) if cfg.vec_env == "batched" else None
    venv = SB3VecEnv(
        ChannelBudgetVectorEnv(
            family, cfg.n_envs, rng=cfg.vec_env, autoreset_mode=AutoresetMode.SAME_STEP, draw_pool=pool,
            expected=False,
        )
    )
    venv.seed(seed)
    return venv


def train_ppo(
    scenario: str | Path | Scenario | ScenarioFamily,
    config: str | Path | Mapping[str, Any] | PPOConfig | None = None,
    seed: int = 0,
    out_dir: str | Path = "runs/ppo",
    *,
    recurrent: bool = False,
    progress_bar: bool = False,
    verbose: int = 0,
) -> PPOAgent:
    """Train PPO (or RecurrentPPO) on ``scenario`` and save it to ``out_dir``; return the agent.

    * ``scenario``: a scenario, or a scenario family, trained on its **train** split (held-out
      test draws are never played). With ``vec_env: batched`` (the default) the training rows play
      a pool of train draws ``0 .. P-1``, compiled once, each episode of each row a member chosen
      uniformly at random (with replacement: campaigns repeat, and some members may never be
      played). ``P`` is the config's ``draw_pool``; by default one per training episode,
      ``ceil(total_timesteps / horizon)``, at least ``n_envs`` and at most :data:`MAX_DRAW_POOL`
      (4,096); an explicit ensemble's pool is at most its train members, each once. With ``vec_env``
      ``per_env`` or ``dummy`` every training episode is a new train
      draw, as is every episode of the evaluation callback (one single environment).

    * ``config``: hyperparameters (see :func:`load_ppo_config`; a mapping overrides the
      built-in file's fields, e.g. ``{"total_timesteps": 50_000}``).
    * Environments: ``n_envs`` sub-environments seeded ``seed, seed+1, ...`` (by default one
      :class:`~budgetgym.envs.vector_env.ChannelBudgetVectorEnv` with batched random numbers; the
      config's ``vec_env`` chooses, see :func:`_training_envs`), wrapped in ``VecNormalize``
      (obs/reward per the config); the EvalCallback's env (one single env) is seeded
      ``seed + EVAL_SEED_OFFSET`` and has its own ``VecNormalize`` (``training=False,
      norm_reward=False``) synced from training.
    * Seeding: ``set_random_seed(seed)``, ``PPO(seed=seed)``, CPU, ``torch_threads`` threads:
      the same seed on the same machine gives the same policy, whatever the caller did to the global
      generators before; ``random``'s, numpy's legacy and torch's global states are restored afterwards
      (:func:`~budgetgym.agents.global_rngs.preserved_global_rngs`).
    * Output in ``out_dir``: the agent directory (``model.zip``, ``vecnormalize.pkl``,
      ``agent.json``), ``config.yaml``, ``progress.csv`` (SB3 logger), ``evaluations.npz``
      (EvalCallback) and TensorBoard event files when ``tensorboard`` is installed.

    Returns the agent reloaded from ``out_dir`` (so it is exactly what was saved).
    """
    sb3_module()
    if recurrent:
        sb3_contrib_module()
    with preserved_global_rngs():  # a first import may draw from the global generators (rich does)
        from stable_baselines3.common.callbacks import EvalCallback
        from stable_baselines3.common.env_util import make_vec_env
        from stable_baselines3.common.logger import configure
        from stable_baselines3.common.utils import set_random_seed
        from stable_baselines3.common.vec_env import VecNormalize

    if not is_integer(seed) or not 0 <= seed <= MAX_SEED:
        raise BudgetGymError(f"seed: expected an integer from 0 to {MAX_SEED}, got {seed!r}")
    seed = int(seed)
    cfg = load_ppo_config(config, recurrent=recurrent)
    sc = load_family(scenario)  # a scenario is a family of one; a family trains on its train draws
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise BudgetGymError(f"out_dir: '{out}' exists and is not a directory")
    out.mkdir(parents=True, exist_ok=True)
    # a previous agent here is replaced: its agent.json (the mark of a complete directory) goes first,
    # so a training that fails leaves no old agent under the new config.yaml
    (out / META_FILE).unlink(missing_ok=True)
    atomic_write_text(
        out / CONFIG_FILE, yaml.safe_dump(cfg.model_dump(mode="json"), sort_keys=False)
    )
    if progress_bar and not _progress_bar_available():
        progress_bar = False  # SB3's bar needs tqdm and rich; train without it

    with torch_threads(cfg.torch_threads), preserved_global_rngs():
        set_random_seed(seed)
        venv = _training_envs(sc, cfg, seed)
        venv = VecNormalize(
            venv,
            norm_obs=cfg.normalize_obs,
            norm_reward=cfg.normalize_reward,
            clip_obs=cfg.clip_obs,
            gamma=cfg.gamma,
        )
        callback = None
        eval_venv = None
        if cfg.eval_freq > 0:
            eval_venv = make_vec_env(
                ChannelBudgetEnv,
                n_envs=1,
                seed=seed + EVAL_SEED_OFFSET,
                env_kwargs={"scenario": sc},
            )
            eval_venv = frozen_vec_normalize(
                eval_venv, norm_obs=cfg.normalize_obs, clip_obs=cfg.clip_obs, gamma=cfg.gamma
            )
            callback = EvalCallback(
                eval_venv,
                n_eval_episodes=cfg.eval_episodes,
                eval_freq=max(cfg.eval_freq // cfg.n_envs, 1),
                log_path=str(out),
                best_model_save_path=None,  # the final model is the agent (its stats match it)
                deterministic=True,
                verbose=0,
                warn=False,
            )
        model = build_model(cfg, venv, seed, recurrent, verbose=verbose)
        formats = ["csv"]
        if importlib.util.find_spec("tensorboard") is not None:
            formats.append("tensorboard")
        if verbose:
            formats.append("stdout")
        model.set_logger(configure(str(out), formats))
        model.learn(
            total_timesteps=cfg.total_timesteps, callback=callback, progress_bar=progress_bar
        )
        model.logger.close()

    cls = RecurrentPPOAgent if recurrent else PPOAgent
    agent = cls.from_model(sc.brief, model, venv, cfg, seed)
    agent.save(out)
    venv.close()
    if eval_venv is not None:
        eval_venv.close()
    return make_agent(cls.registry_name, sc.brief, path=out)  # type: ignore[return-value]
