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
    <dir>/agent.json         {"agent", "params", "brief", "state": {algo, train_steps, seed,
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
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

from budgetgym.agents.base import (
    AgentSource,
    BaseAgent,
    brief_of,
    make_agent,
    register_agent,
)
from budgetgym.agents.global_rngs import preserved_global_rngs, seeded_torch_state, torch_stream
from budgetgym.agents.ppo_config import (
    PPOConfig,
    PPOParams,
    RecurrentPPOConfig,
    algo_class,
    build_model,
    load_ppo_config,
    sb3_contrib_module,
    torch_threads,
)
from budgetgym.agents.ppo_files import (
    META_FILE,
    MODEL_FILE,
    VECNORM_FILE,
    check_spaces,
    frozen_vec_normalize,
    resolve_dir,
    spaces_venv,
)
from budgetgym.agents.ppo_forward import policy_mean
from budgetgym.envs.brief import CampaignBrief
from budgetgym.envs.errors import BudgetGymError
from budgetgym.envs.io import atomic_write, atomic_write_text, json_default

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

# ------------------------------------------------------------------------------- agent
@register_agent("ppo")
class PPOAgent(BaseAgent[PPOParams]):
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

    Params = PPOParams
    recurrent: ClassVar[bool] = False
    #: torch generator state of stochastic actions (:meth:`reset` seeds it; fresh entropy until then)
    _torch_rng: Any = None

    def __init__(self, brief: CampaignBrief, params: PPOParams):
        super().__init__(brief, params)
        self.train_steps = 0
        self.seed = params.seed
        self.trained_on = brief.name
        if params.path is not None:
            self._load_dir(resolve_dir(Path(params.path)))
        else:
            self.config = load_ppo_config(params.config, recurrent=self.recurrent)
            self._build_fresh()

    # -- construction --------------------------------------------------------------------
    def _build_fresh(self) -> None:
        algo_class(self.recurrent)  # a clear error first if the library is missing
        from stable_baselines3.common.utils import set_random_seed

        cfg = self.config
        # SB3 seeds the global generators; the caller's are restored afterwards
        with torch_threads(cfg.torch_threads), preserved_global_rngs():
            set_random_seed(self.seed)
            venv = frozen_vec_normalize(
                spaces_venv(self.brief),
                norm_obs=cfg.normalize_obs,
                clip_obs=cfg.clip_obs,
                gamma=cfg.gamma,
            )
            self.model = build_model(cfg, venv, self.seed, self.recurrent)
        self.vec_normalize = venv

    def _load_dir(self, directory: Path) -> None:
        algo = algo_class(self.recurrent)  # a clear error first if the library is missing
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
            self.config = load_ppo_config(state["config"], recurrent=self.recurrent, saved=True)
        except (KeyError, TypeError):
            raise BudgetGymError(
                f"{what}: {META_FILE} has no hyperparameters (state.config)"
            ) from None
        try:
            # load reseeds the global generators with the saved seed; the caller's are restored
            with torch_threads(self.config.torch_threads), preserved_global_rngs():
                model = algo.load(
                    str(model_file), device=self.config.device, print_system_info=False
                )
        except Exception as err:  # noqa: BLE001 - SB3 raises many kinds (zip, pickle, torch)
            raise BudgetGymError(
                f"{what}: cannot load {MODEL_FILE} ({type(err).__name__}: {err})"
            ) from None
        check_spaces(model, self.brief, what)
        try:
            vn = VecNormalize.load(str(vn_file), spaces_venv(self.brief))
        except Exception as err:  # noqa: BLE001
            raise BudgetGymError(
                f"{what}: cannot load {VECNORM_FILE} ({type(err).__name__}: {err})"
            ) from None
        vn.training, vn.norm_reward = False, False
        self.model, self.vec_normalize = model, vn
        self.train_steps = int(state.get("train_steps", getattr(model, "num_timesteps", 0)))
        self.seed = int(state.get("seed", 0))
        saved = meta.get("brief") or meta.get("scenario") or {}  # "scenario": saves before 0.2
        self.trained_on = str(state.get("trained_on", saved.get("name", "")))

    @classmethod
    def from_model(
        cls,
        source: AgentSource,
        model: Any,
        vec_normalize: VecNormalize,
        config: PPOConfig,
        seed: int,
        train_steps: int | None = None,
    ) -> PPOAgent:
        """Wrap an SB3 model and the VecNormalize it was trained with (statistics are copied)."""
        import copy

        brief = brief_of(source)
        check_spaces(model, brief, f"{cls.registry_name} model")
        agent = cls.__new__(cls)
        BaseAgent.__init__(agent, brief, PPOParams(seed=seed))
        agent.config, agent.seed, agent.model = config, seed, model
        agent.trained_on = brief.name
        agent.train_steps = int(model.num_timesteps if train_steps is None else train_steps)
        vn = frozen_vec_normalize(
            spaces_venv(brief),
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
        """Observation(s) as the model saw them in training (saved statistics, not updated).

        Read within the observation space's box first (``nan`` as 0, infinities at the bounds), so a
        broken observation still gets a finite action: a ``nan`` would otherwise reach the policy's
        mean (a ``nan`` action) or torch's ``Normal`` (an error deep inside SB3). An observation of
        the space is unchanged.
        """
        space = self.observation_space
        obs = np.nan_to_num(np.asarray(observation, dtype=np.float32), nan=0.0)
        obs = np.clip(obs, space.low, space.high).astype(np.float32)
        return np.asarray(self.vec_normalize.normalize_obs(obs), np.float32)

    def predict(
        self,
        observation: np.ndarray,
        state: Any = None,
        episode_start: np.ndarray | None = None,
        deterministic: bool = True,
    ) -> tuple[np.ndarray, Any]:
        """The model's action for one observation ``(D,)`` or a batch ``(n, D)``.

        ``state``/``episode_start`` carry the LSTM state of ``recurrent_ppo`` (ignored by
        ``ppo``). Stochastic actions (``deterministic=False``) draw from the agent's own torch
        generator state, which :meth:`reset` seeds (the numbers ``torch.manual_seed(seed)`` would
        give); torch's, numpy's and Python's global generators are left as they were. ``ppo``'s
        deterministic action is the policy's mean computed by
        :func:`~budgetgym.agents.ppo_forward.policy_mean`: the same for a row alone or in any batch.
        """
        if deterministic and not self.recurrent:
            mean = policy_mean(self.model.policy, self.normalize(observation), self.action_space)
            if mean is not None:
                return mean, state
        # a deterministic action draws nothing: only a sampled one needs the agent's own stream and the guard
        with torch_stream(self, "_torch_rng") if not deterministic else contextlib.nullcontext():
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
        """A new campaign: the policy is fixed; a seed also seeds the agent's stochastic actions
        (its own torch generator state: torch's global generator is not touched)."""
        super().reset(seed)
        if seed is not None:
            self._torch_rng = seeded_torch_state(int(seed))

    # -- persistence ---------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        import stable_baselines3
        import torch

        versions = {"stable_baselines3": stable_baselines3.__version__, "torch": torch.__version__}
        if self.recurrent:
            versions["sb3_contrib"] = sb3_contrib_module().__version__
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
        ``agent.json`` is complete (a previous agent's is removed first: a save that fails halfway
        leaves no complete-looking mix of two agents). Load with ``make_agent(name, env, path=path)``
        or :meth:`load`.
        """
        directory = Path(path)
        if directory.exists() and not directory.is_dir():
            raise BudgetGymError(
                f"{self.registry_name} save: '{directory}' exists and is not a directory"
            )
        directory.mkdir(parents=True, exist_ok=True)
        (directory / META_FILE).unlink(missing_ok=True)
        atomic_write(directory / MODEL_FILE, lambda tmp: self.model.save(tmp))
        atomic_write(directory / VECNORM_FILE, lambda tmp: self.vec_normalize.save(tmp))
        payload = {
            "agent": self.registry_name,
            "layout": "folder",  # tells load_agent to reload the whole directory
            # Reloading = make_agent(name, env, path=<this directory>).
            "params": {"path": None, "config": None, "seed": int(self.seed)},
            "brief": self.brief.to_dict(),
            "state": self.state_dict(),
        }
        atomic_write_text(directory / META_FILE, json.dumps(payload, indent=2, default=json_default))

    @classmethod
    def load(cls, path: str | Path, source: AgentSource) -> BaseAgent:
        """Rebuild an agent saved with :meth:`save` (a directory) for ``source``."""
        return make_agent(cls.registry_name, source, path=Path(path))


@register_agent("recurrent_ppo")
class RecurrentPPOAgent(PPOAgent):
    """``recurrent_ppo``: sb3-contrib's RecurrentPPO (LSTM policy); state via ``predict``."""

    recurrent: ClassVar[bool] = True


# Training lives in its own module; re-exported so ``budgetgym.agents.ppo.train_ppo`` keeps working.
from budgetgym.agents.ppo_training import train_ppo  # noqa: E402
