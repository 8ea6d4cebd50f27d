"""PPO hyperparameters, agent parameters and the SB3 model they build (lazy SB3 imports).

:class:`PPOConfig` / :class:`RecurrentPPOConfig` validate ``configs/agents/ppo.yaml`` and
``configs/agents/recurrent_ppo.yaml`` (:func:`load_ppo_config`); :class:`PPOParams` are the
parameters of ``make_agent("ppo", ...)``; :func:`build_model` turns a config into an SB3
``PPO`` / sb3-contrib ``RecurrentPPO``. stable-baselines3 and sb3-contrib are imported only
when used: without them a one-line :class:`~budgetgym.envs.errors.BudgetGymError` says how to
install them.
"""

from __future__ import annotations

import contextlib
import importlib
from collections.abc import Iterator, Mapping
from importlib import resources
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, ValidationError, ValidationInfo, model_validator

from budgetgym.agents.base import AgentParams
from budgetgym.agents.global_rngs import preserved_global_rngs
from budgetgym.envs.errors import BudgetGymError, StrictModel, count, validation_error
from budgetgym.envs.io import read_yaml

__all__ = [
    "MAX_SEED",
    "PPOConfig",
    "PPOParams",
    "RecurrentPPOConfig",
    "algo_class",
    "build_model",
    "builtin_agent_config_dir",
    "load_ppo_config",
    "sb3_contrib_module",
    "sb3_module",
    "torch_threads",
]

_INSTALL_HINT = 'install the RL extra: pip install "budgetgym[rl]"'


# ------------------------------------------------------------------------- lazy imports
def sb3_module() -> Any:
    """The ``stable_baselines3`` module, or a one-line BudgetGymError."""
    try:
        with preserved_global_rngs():  # rich, imported by SB3, draws from Python's random on import
            return importlib.import_module("stable_baselines3")
    except ImportError:
        raise BudgetGymError(
            f"PPO agents need stable-baselines3 and torch: {_INSTALL_HINT}"
        ) from None


def sb3_contrib_module() -> Any:
    sb3_module()
    try:
        with preserved_global_rngs():
            return importlib.import_module("sb3_contrib")
    except ImportError:
        raise BudgetGymError(
            f"recurrent_ppo needs sb3-contrib: {_INSTALL_HINT} (or pip install sb3-contrib)"
        ) from None


def algo_class(recurrent: bool) -> Any:
    return sb3_contrib_module().RecurrentPPO if recurrent else sb3_module().PPO


@contextlib.contextmanager
def torch_threads(n: int) -> Iterator[None]:
    """Run with ``n`` torch intra-op threads, restoring the previous setting afterwards."""
    import torch

    old = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(old)


# ------------------------------------------------------------------------------ config
#: The largest rollout ``n_envs * n_steps`` (256 times the built-in 4,096): SB3's rollout buffer holds
#: a whole rollout's observations, actions, values and advantages in memory.
MAX_ROLLOUT = 2**20
#: The largest seed: SB3's ``set_random_seed`` seeds numpy's legacy generator, which takes ``0 .. 2**32 - 1``.
MAX_SEED = 2**32 - 1


class PPOConfig(StrictModel):
    """PPO hyperparameters (``configs/agents/ppo.yaml``). Unknown keys are errors.

    ``n_steps`` is per environment (a rollout has ``n_envs * n_steps`` steps);
    ``eval_freq`` counts total environment steps (0 disables the EvalCallback).
    SB3 finishes the rollout in progress, so the steps actually trained (the agent's
    ``train_steps``) are ``total_timesteps`` rounded up to a multiple of ``n_envs * n_steps``.
    """


    # at most 10^9 steps (a day at ~13,000 steps/s): more is a typo's extra zeros, not a run
    total_timesteps: int = Field(200_000, ge=1, le=1_000_000_000, description="environment steps of training")
    n_envs: int = Field(64, ge=1, le=65536, description="parallel envs (rows of the vector env)")
    vec_env: Literal["batched", "per_env", "dummy"] = Field(
        "batched",
        description="how the training envs step: one vector env with one generator (batched, fastest), "
        "one vector env drawing per sub-env as single envs would (per_env: DummyVecEnv's episodes), "
        "or SB3's DummyVecEnv of single envs (dummy)",
    )
    draw_pool: int | None = Field(
        None, ge=1, le=1_000_000,
        description="batched on a varying family: train draws compiled, each episode of each row playing one "
        "chosen at random (default: one per training episode, at least n_envs, at most 4096)",
    )
    n_steps: int = Field(64, ge=1, description="rollout steps per env and update")
    batch_size: int = Field(256, ge=2, description="minibatch size")
    n_epochs: int = Field(5, ge=1, le=1000, description="passes over each rollout")
    learning_rate: float = Field(1e-3, gt=0, le=1, description="Adam step size")
    learning_rate_schedule: Literal["constant", "linear"] = Field(
        "linear", description="linear: lr0 * max(1 - steps / total_timesteps, 0), 0 from total_timesteps on"
    )
    gamma: float = Field(
        0.99, gt=0, le=1, description="discount (episodes are finite: 1.0 allowed)"
    )
    gae_lambda: float = Field(0.95, ge=0, le=1)
    clip_range: float = Field(0.2, gt=0, le=1)
    ent_coef: float = Field(0.0, ge=0, le=1)
    vf_coef: float = Field(0.5, ge=0, le=10)
    max_grad_norm: float = Field(0.5, gt=0)
    target_kl: float | None = Field(None, gt=0)
    net_arch: list[int] = Field(
        default_factory=lambda: [64, 64], max_length=16,
        description="hidden layer sizes (pi and vf): at most 16 layers of 1 to 4096 units",
    )
    activation: Literal["tanh", "relu"] = "tanh"
    log_std_init: float = Field(
        -1.0, ge=-10, le=2, description="initial log-std of the action logits"
    )
    ortho_init: bool = True
    normalize_obs: bool = True
    normalize_reward: bool = True
    clip_obs: float = Field(10.0, gt=0)
    eval_freq: int = Field(20_000, ge=0, description="env steps between evaluations; 0 = none")
    eval_episodes: int = Field(3, ge=1, le=1000)
    torch_threads: int = Field(1, ge=1, le=256)
    device: Literal["cpu", "cuda", "auto"] = "cpu"

    @model_validator(mode="after")
    def _consistent(self, info: ValidationInfo) -> PPOConfig:
        if any(not 1 <= h <= 4096 for h in self.net_arch):
            raise ValueError(f"net_arch: layer sizes must be between 1 and 4096, got {self.net_arch}")
        rollout, saved = self.n_envs * self.n_steps, bool((info.context or {}).get("saved"))
        if rollout > MAX_ROLLOUT and not saved:
            raise ValueError(
                f"n_steps: the rollout n_envs * n_steps ({self.n_envs} * {self.n_steps} = {rollout}) exceeds "
                f"{MAX_ROLLOUT} steps (SB3 holds a whole rollout in memory)"
            )
        if self.batch_size > rollout:
            raise ValueError(
                f"batch_size ({self.batch_size}) exceeds the rollout size n_envs * n_steps ({rollout})"
            )
        # SB3 only warns, and trains each epoch on a truncated last minibatch. A saved agent's config
        # (context "saved") trained before this check and the rollout bound: it only serves inference.
        if rollout % self.batch_size and not saved:
            raise ValueError(
                f"batch_size ({self.batch_size}) must divide the rollout size n_envs * n_steps ({rollout}): "
                f"SB3 would train on a truncated last minibatch of {count(rollout % self.batch_size, 'step')}"
            )
        if self.draw_pool is not None and self.vec_env != "batched":
            raise ValueError(f"draw_pool: only vec_env 'batched' compiles a pool of draws, not {self.vec_env!r}")
        return self


class RecurrentPPOConfig(PPOConfig):
    """RecurrentPPO hyperparameters (``configs/agents/recurrent_ppo.yaml``): PPO's plus the LSTM."""

    lstm_hidden_size: int = Field(64, ge=1, le=4096)
    n_lstm_layers: int = Field(1, ge=1, le=8)
    shared_lstm: bool = False
    enable_critic_lstm: bool = True

    @model_validator(mode="after")
    def _lstm(self) -> RecurrentPPOConfig:
        if self.shared_lstm and self.enable_critic_lstm:
            raise ValueError("shared_lstm and enable_critic_lstm cannot both be true")
        return self


def builtin_agent_config_dir() -> Path:
    """Folder holding the built-in agent hyperparameter YAML files."""
    return Path(str(resources.files("budgetgym") / "configs" / "agents"))


def _read_yaml(path: Path, what: str) -> dict[str, Any]:
    data = read_yaml(path, what)
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise BudgetGymError(
            f"{what} '{path}': expected a mapping of hyperparameters, got {type(data).__name__}"
        )
    return data


def load_ppo_config(
    source: str | Path | Mapping[str, Any] | PPOConfig | None = None,
    *,
    recurrent: bool = False,
    where: str = "agent config",
    saved: bool = False,
) -> PPOConfig:
    """Validated hyperparameters.

    ``source``: ``None`` (the built-in ``ppo.yaml`` / ``recurrent_ppo.yaml``), a YAML path, a
    mapping of fields (missing fields come from the built-in file) or a config object; ``where``
    names a mapping in the error (e.g. ``agents[1].train``); ``saved``: the config of a saved agent
    (one that already trained), which is not held to the training-only checks added since (a
    ``batch_size`` that does not divide the rollout, the rollout's bound).

    Raises
    ------
    BudgetGymError
        One line naming the file and the field, e.g.
        ``agent config file 'x.yaml': learning_rate: Input should be greater than 0 (got -0.1)``.
    """
    cls: type[PPOConfig] = RecurrentPPOConfig if recurrent else PPOConfig
    builtin = builtin_agent_config_dir() / ("recurrent_ppo.yaml" if recurrent else "ppo.yaml")
    if isinstance(source, PPOConfig):
        if not recurrent and isinstance(source, RecurrentPPOConfig):
            # its LSTM fields would reach SB3's MlpPolicy: a TypeError deep inside PPO(...)
            raise BudgetGymError(
                f"{where}: a RecurrentPPOConfig (LSTM fields) for ppo; use recurrent=True "
                f"(recurrent_ppo) or a PPOConfig"
            )
        if recurrent and not isinstance(source, RecurrentPPOConfig):
            try:
                return cls.model_validate(source.model_dump(), context={"saved": saved})
            except ValidationError as err:
                raise validation_error(err, where, cls) from None
        return source
    if source is None:
        data, where = _read_yaml(builtin, "agent config file"), f"agent config file '{builtin}'"
    elif isinstance(source, (str, Path)):
        data, where = _read_yaml(Path(source), "agent config file"), f"agent config file '{source}'"
    elif isinstance(source, Mapping):
        data = {**_read_yaml(builtin, "agent config file"), **dict(source)}
    else:
        raise BudgetGymError(
            f"agent config: expected a YAML path, a mapping or None, got {type(source).__name__}"
        )
    try:
        return cls.model_validate(data, context={"saved": saved})
    except ValidationError as err:
        raise validation_error(err, where, cls) from None


# ------------------------------------------------------------------------------ params
class PPOParams(AgentParams):
    """Parameters of the ``ppo`` / ``recurrent_ppo`` registry agents (see the module docstring)."""

    path: Path | None = Field(
        None, description="saved agent directory (or its model.zip / agent.json)"
    )
    config: Path | None = Field(None, description="hyperparameter YAML of a fresh untrained policy")
    seed: int = Field(0, ge=0, le=MAX_SEED, description="seed of a fresh untrained policy's weights")

    @model_validator(mode="after")
    def _exclusive(self) -> PPOParams:
        if self.path is not None and self.config is not None:
            raise ValueError(
                "give either path (load a saved agent) or config (a fresh policy), not both"
            )
        return self



# ------------------------------------------------------------------------ the SB3 model
def policy_kwargs(cfg: PPOConfig) -> dict[str, Any]:
    from torch import nn

    kw: dict[str, Any] = {
        "net_arch": {"pi": list(cfg.net_arch), "vf": list(cfg.net_arch)},
        "activation_fn": nn.Tanh if cfg.activation == "tanh" else nn.ReLU,
        "log_std_init": cfg.log_std_init,
        "ortho_init": cfg.ortho_init,
    }
    if isinstance(cfg, RecurrentPPOConfig):
        kw.update(
            lstm_hidden_size=cfg.lstm_hidden_size,
            n_lstm_layers=cfg.n_lstm_layers,
            shared_lstm=cfg.shared_lstm,
            enable_critic_lstm=cfg.enable_critic_lstm,
        )
    return kw


def build_model(cfg: PPOConfig, venv: Any, seed: int, recurrent: bool, verbose: int = 0) -> Any:
    algo = algo_class(recurrent)
    lr: Any = cfg.learning_rate
    if cfg.learning_rate_schedule == "linear":
        lr0 = cfg.learning_rate

        def lr(progress_remaining: float) -> float:
            # SB3 finishes the rollout in progress, so its progress_remaining (1 - steps / total_timesteps)
            # ends below 0 when total_timesteps is not a multiple of the rollout: stop at 0, never ascend
            return lr0 * max(progress_remaining, 0.0)

    rollout = cfg.n_steps * venv.num_envs
    return algo(
        "MlpLstmPolicy" if recurrent else "MlpPolicy",
        venv,
        learning_rate=lr,
        n_steps=cfg.n_steps,
        # the config's for training (PPOConfig checks that it divides the rollout); the one-env
        # inference model of a fresh agent, which never trains, takes its whole rollout: no SB3 warning
        batch_size=cfg.batch_size if rollout % cfg.batch_size == 0 else rollout,
        n_epochs=cfg.n_epochs,
        gamma=cfg.gamma,
        gae_lambda=cfg.gae_lambda,
        clip_range=cfg.clip_range,
        ent_coef=cfg.ent_coef,
        vf_coef=cfg.vf_coef,
        max_grad_norm=cfg.max_grad_norm,
        target_kl=cfg.target_kl,
        policy_kwargs=policy_kwargs(cfg),
        seed=seed,
        device=cfg.device,
        verbose=verbose,
    )


