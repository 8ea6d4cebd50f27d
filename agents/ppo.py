"""PPO and RecurrentPPO (stable-baselines3 / sb3-contrib) behind budgetgym's agent interface.

Two registry agents wrap a trained SB3 model together with the ``VecNormalize`` statistics it
was trained with:

* ``ppo`` — :class:`stable_baselines3.PPO` with an MLP policy,
* ``recurrent_ppo`` — :class:`sb3_contrib.RecurrentPPO` with an LSTM policy; the LSTM state
  travels through ``predict``'s ``state`` / ``episode_start`` (as in SB3).

``predict`` normalises the observation with the saved statistics (never updating them:
``training=False``) and returns the model's action, so the agent works with
:func:`budgetgym.agents.evaluate` and with
:func:`stable_baselines3.common.evaluation.evaluate_policy` alike. Evaluate a PPO agent with
the *unnormalised* env: the agent normalises internally.

Training: :func:`train_ppo` (hyperparameters in ``configs/agents/ppo.yaml`` and
``configs/agents/recurrent_ppo.yaml``, validated by :class:`PPOConfig` /
:class:`RecurrentPPOConfig`).

Saved agent directory (written by :meth:`PPOAgent.save` and :func:`train_ppo`)::

    <dir>/model.zip          SB3 model (policy weights, optimiser, hyperparameters)
    <dir>/vecnormalize.pkl   VecNormalize statistics (observation mean/var, reward scale)
    <dir>/agent.json         {"agent", "params", "scenario", "state": {algo, train_steps, seed,
                              config, versions}}
    <dir>/config.yaml        the resolved hyperparameters (train_ppo only)
    <dir>/progress.csv       SB3 logger output (train_ppo only), evaluations.npz (EvalCallback)

Parameters of ``make_agent("ppo", env, ...)`` / ``make_agent("recurrent_ppo", env, ...)``
(:class:`PPOParams`):

* ``path`` — a saved agent directory (or its ``model.zip`` / ``agent.json``): load it. The
  env's observation and action shapes must match the ones the model was trained on.
* ``config`` — without ``path``: a hyperparameter YAML for a fresh, *untrained* policy
  (default: the built-in one); ``seed`` seeds its initial weights. An untrained policy's mean
  action is ~0, i.e. about the equal split — the "untrained self" baseline.

stable-baselines3 (and sb3-contrib for ``recurrent_ppo``) are imported lazily: importing this
module needs neither; using it without them raises a one-line
:class:`~budgetgym.envs.errors.BudgetGymError` telling how to install them.
"""

from __future__ import annotations

import contextlib
import importlib
import importlib.util
import json
from collections.abc import Iterator, Mapping
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Literal

import gymnasium as gym
import numpy as np
import yaml
from budgetgym.agents.base import (
    AgentParams,
    BaseAgent,
    _jsonable,
    make_agent,
    register_agent,
    unwrap_env,
)
from budgetgym.envs.channel_env import ChannelBudgetEnv
from budgetgym.envs.errors import BudgetGymError
from budgetgym.envs.io import atomic_write, atomic_write_text, read_yaml
from budgetgym.envs.scenario import Scenario, _one_line, load_scenario
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

if TYPE_CHECKING:  # pragma: no cover
    from stable_baselines3.common.vec_env import VecNormalize

__all__ = [
    "PPOAgent",
    "PPOConfig",
    "PPOParams",
    "RecurrentPPOAgent",
    "RecurrentPPOConfig",
    "load_ppo_config",
    "train_ppo",
]

MODEL_FILE = "model.zip"
VECNORM_FILE = "vecnormalize.pkl"
META_FILE = "agent.json"
CONFIG_FILE = "config.yaml"
#: The EvalCallback's env is seeded with ``seed + EVAL_SEED_OFFSET`` (disjoint from training).
EVAL_SEED_OFFSET = 1_000_000
_INSTALL_HINT = 'install the RL extra: pip install "budgetgym[rl]"'


# ------------------------------------------------------------------------- lazy imports
def _sb3() -> Any:
    """The ``stable_baselines3`` module, or a one-line BudgetGymError."""
    try:
        return importlib.import_module("stable_baselines3")
    except ImportError:
        raise BudgetGymError(
            f"PPO agents need stable-baselines3 and torch: {_INSTALL_HINT}"
        ) from None


def _sb3_contrib() -> Any:
    _sb3()
    try:
        return importlib.import_module("sb3_contrib")
    except ImportError:
        raise BudgetGymError(
            f"recurrent_ppo needs sb3-contrib: {_INSTALL_HINT} (or pip install sb3-contrib)"
        ) from None


def _algo_class(recurrent: bool) -> Any:
    return _sb3_contrib().RecurrentPPO if recurrent else _sb3().PPO


@contextlib.contextmanager
def _torch_threads(n: int) -> Iterator[None]:
    """Run with ``n`` torch intra-op threads, restoring the previous setting afterwards."""
    import torch

    old = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(old)


# ------------------------------------------------------------------------------ config
class PPOConfig(BaseModel):
    """PPO hyperparameters (``configs/agents/ppo.yaml``). Unknown keys are errors.

    ``n_steps`` is per environment (a rollout has ``n_envs * n_steps`` steps);
    ``eval_freq`` counts total environment steps (0 disables the EvalCallback).
    SB3 finishes the rollout in progress, so the steps actually trained (the agent's
    ``train_steps``) are ``total_timesteps`` rounded up to a multiple of ``n_envs * n_steps``.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    total_timesteps: int = Field(200_000, ge=1, description="environment steps of training")
    n_envs: int = Field(8, ge=1, le=256, description="parallel envs (DummyVecEnv)")
    n_steps: int = Field(256, ge=1, description="rollout steps per env and update")
    batch_size: int = Field(256, ge=2, description="minibatch size")
    n_epochs: int = Field(10, ge=1, le=1000, description="passes over each rollout")
    learning_rate: float = Field(3e-4, gt=0, le=1, description="Adam step size")
    learning_rate_schedule: Literal["constant", "linear"] = "constant"
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
        default_factory=lambda: [64, 64], description="hidden layer sizes (pi and vf)"
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
    def _consistent(self) -> PPOConfig:
        if any(h < 1 for h in self.net_arch):
            raise ValueError(f"net_arch: layer sizes must be positive, got {self.net_arch}")
        if self.batch_size > self.n_envs * self.n_steps:
            raise ValueError(
                f"batch_size ({self.batch_size}) exceeds the rollout size n_envs * n_steps "
                f"({self.n_envs * self.n_steps})"
            )
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
    source: str | Path | Mapping[str, Any] | PPOConfig | None = None, *, recurrent: bool = False
) -> PPOConfig:
    """Validated hyperparameters.

    ``source``: ``None`` (the built-in ``ppo.yaml`` / ``recurrent_ppo.yaml``), a YAML path, a
    mapping of fields (missing fields come from the built-in file) or a config object.

    Raises
    ------
    BudgetGymError
        One line naming the file and the field, e.g.
        ``agent config file 'x.yaml': learning_rate: Input should be greater than 0 (got -0.1)``.
    """
    cls: type[PPOConfig] = RecurrentPPOConfig if recurrent else PPOConfig
    builtin = builtin_agent_config_dir() / ("recurrent_ppo.yaml" if recurrent else "ppo.yaml")
    if isinstance(source, PPOConfig):
        if recurrent and not isinstance(source, RecurrentPPOConfig):
            return cls.model_validate(source.model_dump())
        return source
    if source is None:
        data, where = _read_yaml(builtin, "agent config file"), f"agent config file '{builtin}'"
    elif isinstance(source, (str, Path)):
        data, where = _read_yaml(Path(source), "agent config file"), f"agent config file '{source}'"
    elif isinstance(source, Mapping):
        data = {**_read_yaml(builtin, "agent config file"), **dict(source)}
        where = "agent config"
    else:
        raise BudgetGymError(
            f"agent config: expected a YAML path, a mapping or None, got {type(source).__name__}"
        )
    try:
        return cls.model_validate(data)
    except ValidationError as err:
        raise BudgetGymError(_one_line(err, where)) from None


# ------------------------------------------------------------------------------ params
class PPOParams(AgentParams):
    """Parameters of the ``ppo`` / ``recurrent_ppo`` registry agents (see the module docstring)."""

    path: Path | None = Field(
        None, description="saved agent directory (or its model.zip / agent.json)"
    )
    config: Path | None = Field(None, description="hyperparameter YAML of a fresh untrained policy")
    seed: int = Field(0, ge=0, description="seed of a fresh untrained policy's weights")

    @model_validator(mode="after")
    def _exclusive(self) -> PPOParams:
        if self.path is not None and self.config is not None:
            raise ValueError(
                "give either path (load a saved agent) or config (a fresh policy), not both"
            )
        return self


# ------------------------------------------------------------------------------- agent
def _resolve_dir(path: Path) -> Path:
    """The agent directory for a directory, ``model.zip`` or ``agent.json`` path."""
    if path.is_file() and path.name in (MODEL_FILE, META_FILE, VECNORM_FILE):
        return path.parent
    return path


def _frozen_vec_normalize(
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


def _single_venv(scenario: Scenario) -> Any:
    from stable_baselines3.common.vec_env import DummyVecEnv

    return DummyVecEnv([lambda: ChannelBudgetEnv(scenario)])


def _check_spaces(model: Any, env: ChannelBudgetEnv, where: str) -> None:
    obs, act = tuple(model.observation_space.shape), tuple(model.action_space.shape)
    if obs != env.observation_space.shape or act != env.action_space.shape:
        raise BudgetGymError(
            f"{where}: trained for observations {obs} and actions {act}, but scenario "
            f"'{env.scenario.name}' has {env.observation_space.shape} and {env.action_space.shape}"
        )


@register_agent("ppo")
class PPOAgent(BaseAgent):
    """A trained (or fresh) SB3 PPO policy plus its observation-normalisation statistics.

    Attributes
    ----------
    model : the SB3 algorithm (``PPO`` or ``RecurrentPPO``).
    vec_normalize : the ``VecNormalize`` holding the statistics (``training=False``,
        ``norm_reward=False``); only its ``normalize_obs`` is used.
    train_steps : environment steps the model was trained for (the evaluator records it).
    seed : the training seed.
    config : the :class:`PPOConfig` it was built/trained with.
    """

    Params: ClassVar[type[AgentParams]] = PPOParams
    recurrent: ClassVar[bool] = False

    def __init__(self, env: ChannelBudgetEnv, params: AgentParams):
        super().__init__(env, params)
        assert isinstance(params, PPOParams)
        self.train_steps = 0
        self.seed = params.seed
        self.trained_on = env.scenario.name
        if params.path is not None:
            self._load_dir(_resolve_dir(Path(params.path)))
        else:
            self.config = load_ppo_config(params.config, recurrent=self.recurrent)
            self._build_fresh()

    # -- construction --------------------------------------------------------------------
    def _build_fresh(self) -> None:
        _algo_class(self.recurrent)  # a clear error first if the library is missing
        from stable_baselines3.common.utils import set_random_seed

        cfg = self.config
        with _torch_threads(cfg.torch_threads):
            set_random_seed(self.seed)
            venv = _frozen_vec_normalize(
                _single_venv(self.scenario),
                norm_obs=cfg.normalize_obs,
                clip_obs=cfg.clip_obs,
                gamma=cfg.gamma,
            )
            self.model = _build_model(cfg, venv, self.seed, self.recurrent)
        self.vec_normalize = venv

    def _load_dir(self, directory: Path) -> None:
        algo = _algo_class(self.recurrent)  # a clear error first if the library is missing
        from stable_baselines3.common.vec_env import VecNormalize

        what = f"{self.registry_name} agent '{directory}'"
        model_file, vn_file, meta_file = (
            directory / MODEL_FILE,
            directory / VECNORM_FILE,
            directory / META_FILE,
        )
        if not directory.is_dir():
            raise BudgetGymError(
                f"{what} not found: expected a directory written by save() or train_ppo() "
                f"({MODEL_FILE}, {VECNORM_FILE}, {META_FILE})"
            )
        missing = [p.name for p in (model_file, vn_file, meta_file) if not p.is_file()]
        if missing:
            raise BudgetGymError(
                f"{what}: missing {', '.join(missing)} (not a saved PPO agent directory)"
            )
        try:
            meta = json.loads(meta_file.read_text(encoding="utf-8"))
            saved_name, state = meta["agent"], meta["state"]
        except (OSError, ValueError, KeyError, TypeError) as err:
            raise BudgetGymError(f"{what}: unreadable {META_FILE} ({err})") from None
        if saved_name != self.registry_name:
            raise BudgetGymError(
                f"{what}: holds a '{saved_name}' agent; "
                f"load it with make_agent('{saved_name}', ...)"
            )
        try:
            self.config = load_ppo_config(state["config"], recurrent=self.recurrent)
        except (KeyError, TypeError):
            raise BudgetGymError(
                f"{what}: {META_FILE} has no hyperparameters (state.config)"
            ) from None
        try:
            with _torch_threads(self.config.torch_threads):
                model = algo.load(
                    str(model_file), device=self.config.device, print_system_info=False
                )
        except Exception as err:  # noqa: BLE001 - SB3 raises many kinds (zip, pickle, torch)
            raise BudgetGymError(
                f"{what}: cannot load {MODEL_FILE} ({type(err).__name__}: {err})"
            ) from None
        _check_spaces(model, self.env, what)
        try:
            vn = VecNormalize.load(str(vn_file), _single_venv(self.scenario))
        except Exception as err:  # noqa: BLE001
            raise BudgetGymError(
                f"{what}: cannot load {VECNORM_FILE} ({type(err).__name__}: {err})"
            ) from None
        vn.training, vn.norm_reward = False, False
        self.model, self.vec_normalize = model, vn
        self.train_steps = int(state.get("train_steps", getattr(model, "num_timesteps", 0)))
        self.seed = int(state.get("seed", 0))
        self.trained_on = str(state.get("trained_on", meta.get("scenario", {}).get("name", "")))

    @classmethod
    def from_model(
        cls,
        env: gym.Env | ChannelBudgetEnv,
        model: Any,
        vec_normalize: VecNormalize,
        config: PPOConfig,
        seed: int,
        train_steps: int | None = None,
    ) -> PPOAgent:
        """Wrap an SB3 model and the VecNormalize it was trained with (statistics are copied)."""
        import copy

        base = unwrap_env(env)
        _check_spaces(model, base, f"{cls.registry_name} model")
        agent = cls.__new__(cls)
        BaseAgent.__init__(agent, base, PPOParams(seed=seed))
        agent.config, agent.seed, agent.model = config, seed, model
        agent.trained_on = base.scenario.name
        agent.train_steps = int(model.num_timesteps if train_steps is None else train_steps)
        vn = _frozen_vec_normalize(
            _single_venv(base.scenario),
            norm_obs=vec_normalize.norm_obs,
            clip_obs=vec_normalize.clip_obs,
            gamma=vec_normalize.gamma,
            epsilon=vec_normalize.epsilon,
        )
        vn.obs_rms = copy.deepcopy(vec_normalize.obs_rms)
        vn.ret_rms = copy.deepcopy(vec_normalize.ret_rms)
        agent.vec_normalize = vn
        return agent

    # -- the PolicyPredictor protocol ----------------------------------------------------
    def normalize(self, observation: np.ndarray) -> np.ndarray:
        """Observation(s) as the model saw them in training (saved statistics, not updated)."""
        return np.asarray(
            self.vec_normalize.normalize_obs(np.asarray(observation, dtype=np.float32)), np.float32
        )

    def predict(
        self,
        observation: np.ndarray,
        state: Any = None,
        episode_start: np.ndarray | None = None,
        deterministic: bool = True,
    ) -> tuple[np.ndarray, Any]:
        """The model's action for one observation ``(D,)`` or a batch ``(n, D)``.

        ``state``/``episode_start`` carry the LSTM state of ``recurrent_ppo`` (ignored by
        ``ppo``). Stochastic actions (``deterministic=False``) draw from torch's global RNG,
        which :meth:`reset` seeds.
        """
        action, state = self.model.predict(
            self.normalize(observation),
            state=state,
            episode_start=episode_start,
            deterministic=deterministic,
        )
        return np.asarray(action, dtype=np.float32), state

    def act(self, observation: np.ndarray, deterministic: bool = True) -> np.ndarray:
        return self.predict(observation, deterministic=deterministic)[0]

    def reset(self, seed: int | None = None) -> None:
        """A new campaign: the policy is fixed; a seed also seeds torch (stochastic actions)."""
        super().reset(seed)
        if seed is not None:
            import torch

            torch.manual_seed(int(seed))

    # -- persistence ---------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        import stable_baselines3
        import torch

        versions = {"stable_baselines3": stable_baselines3.__version__, "torch": torch.__version__}
        if self.recurrent:
            versions["sb3_contrib"] = importlib.import_module("sb3_contrib").__version__
        return {
            "algo": type(self.model).__name__,
            "train_steps": int(self.train_steps),
            "seed": int(self.seed),
            "trained_on": self.trained_on,
            "config": self.config.model_dump(mode="json"),
            "versions": versions,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Refuse: the weights live in the agent directory, not in ``agent.json``'s state.

        (Reached by ``load_agent('<dir>/agent.json', env)``, which would otherwise return an
        untrained policy silently.)
        """
        raise BudgetGymError(
            f"a saved {self.registry_name} agent is a directory: load it with "
            f"make_agent('{self.registry_name}', env, path=<directory>)"
        )

    def save(self, path: str | Path) -> None:
        """Write the agent directory ``path`` (``model.zip``, ``vecnormalize.pkl``, ``agent.json``).

        Each file is written atomically; ``agent.json`` last, so a directory with an
        ``agent.json`` is complete. Load with ``make_agent(name, env, path=path)`` or
        :meth:`load`.
        """
        directory = Path(path)
        if directory.exists() and not directory.is_dir():
            raise BudgetGymError(
                f"{self.registry_name} save: '{directory}' exists and is not a directory"
            )
        directory.mkdir(parents=True, exist_ok=True)
        atomic_write(directory / MODEL_FILE, lambda tmp: self.model.save(tmp))
        atomic_write(directory / VECNORM_FILE, lambda tmp: self.vec_normalize.save(tmp))
        payload = {
            "agent": self.registry_name,
            "layout": "folder",  # tells load_agent to reload the whole directory
            # Reloading = make_agent(name, env, path=<this directory>).
            "params": {"path": None, "config": None, "seed": int(self.seed)},
            "scenario": self.scenario.model_dump(mode="json"),
            "state": self.state_dict(),
        }
        atomic_write_text(directory / META_FILE, json.dumps(payload, indent=2, default=_jsonable))

    @classmethod
    def load(cls, path: str | Path, env: gym.Env | ChannelBudgetEnv) -> BaseAgent:
        """Rebuild an agent saved with :meth:`save` (a directory) for ``env``."""
        return make_agent(cls.registry_name, env, path=Path(path))


@register_agent("recurrent_ppo")
class RecurrentPPOAgent(PPOAgent):
    """``recurrent_ppo``: sb3-contrib's RecurrentPPO (LSTM policy); state via ``predict``."""

    recurrent: ClassVar[bool] = True


# ---------------------------------------------------------------------------- training
def _policy_kwargs(cfg: PPOConfig) -> dict[str, Any]:
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


def _build_model(cfg: PPOConfig, venv: Any, seed: int, recurrent: bool, verbose: int = 0) -> Any:
    algo = _algo_class(recurrent)
    lr: Any = cfg.learning_rate
    if cfg.learning_rate_schedule == "linear":
        lr0 = cfg.learning_rate

        def lr(progress_remaining: float) -> float:
            return lr0 * progress_remaining

    return algo(
        "MlpLstmPolicy" if recurrent else "MlpPolicy",
        venv,
        learning_rate=lr,
        n_steps=cfg.n_steps,
        batch_size=cfg.batch_size,
        n_epochs=cfg.n_epochs,
        gamma=cfg.gamma,
        gae_lambda=cfg.gae_lambda,
        clip_range=cfg.clip_range,
        ent_coef=cfg.ent_coef,
        vf_coef=cfg.vf_coef,
        max_grad_norm=cfg.max_grad_norm,
        target_kl=cfg.target_kl,
        policy_kwargs=_policy_kwargs(cfg),
        seed=seed,
        device=cfg.device,
        verbose=verbose,
    )


def _progress_bar_available() -> bool:
    return all(importlib.util.find_spec(m) is not None for m in ("tqdm", "rich"))


def train_ppo(
    scenario: str | Path | Scenario,
    config: str | Path | Mapping[str, Any] | PPOConfig | None = None,
    seed: int = 0,
    out_dir: str | Path = "runs/ppo",
    *,
    recurrent: bool = False,
    progress_bar: bool = False,
    verbose: int = 0,
) -> PPOAgent:
    """Train PPO (or RecurrentPPO) on ``scenario`` and save it to ``out_dir``; return the agent.

    * ``config``: hyperparameters (see :func:`load_ppo_config`; a mapping overrides the
      built-in file's fields, e.g. ``{"total_timesteps": 50_000}``).
    * Environments: ``make_vec_env`` with ``n_envs`` Monitor-wrapped copies seeded
      ``seed, seed+1, ...``, wrapped in ``VecNormalize`` (obs/reward per the config); the
      EvalCallback's env is seeded ``seed + EVAL_SEED_OFFSET`` and has its own
      ``VecNormalize`` (``training=False, norm_reward=False``) synced from training.
    * Seeding: ``set_random_seed(seed)``, ``PPO(seed=seed)``, CPU, ``torch_threads`` threads:
      the same seed on the same machine gives the same policy.
    * Output in ``out_dir``: the agent directory (``model.zip``, ``vecnormalize.pkl``,
      ``agent.json``), ``config.yaml``, ``progress.csv`` (SB3 logger), ``evaluations.npz``
      (EvalCallback) and TensorBoard event files when ``tensorboard`` is installed.

    Returns the agent reloaded from ``out_dir`` (so it is exactly what was saved).
    """
    _sb3()
    if recurrent:
        _sb3_contrib()
    from stable_baselines3.common.callbacks import EvalCallback
    from stable_baselines3.common.env_util import make_vec_env
    from stable_baselines3.common.logger import configure
    from stable_baselines3.common.utils import set_random_seed
    from stable_baselines3.common.vec_env import VecNormalize

    if not isinstance(seed, (int, np.integer)) or isinstance(seed, bool) or seed < 0:
        raise BudgetGymError(f"seed: expected a non-negative integer, got {seed!r}")
    seed = int(seed)
    cfg = load_ppo_config(config, recurrent=recurrent)
    sc = load_scenario(scenario)
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise BudgetGymError(f"out_dir: '{out}' exists and is not a directory")
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_text(
        out / CONFIG_FILE, yaml.safe_dump(cfg.model_dump(mode="json"), sort_keys=False)
    )
    if progress_bar and not _progress_bar_available():
        progress_bar = False  # SB3's bar needs tqdm and rich; train without it

    with _torch_threads(cfg.torch_threads):
        set_random_seed(seed)
        venv = make_vec_env(
            ChannelBudgetEnv, n_envs=cfg.n_envs, seed=seed, env_kwargs={"scenario": sc}
        )
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
            eval_venv = _frozen_vec_normalize(
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
        model = _build_model(cfg, venv, seed, recurrent, verbose=verbose)
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
    agent = cls.from_model(ChannelBudgetEnv(sc), model, venv, cfg, seed)
    agent.save(out)
    venv.close()
    if eval_venv is not None:
        eval_venv.close()
    return make_agent(cls.registry_name, ChannelBudgetEnv(sc), path=out)  # type: ignore[return-value]
