"""The learners' trainers: which function trains an agent with a ``train`` configuration, checked before a run.

An agent entry with ``train`` is a learner: a trainer (``trainer: module:function``, or the built-in one of
its agent, :data:`DEFAULT_TRAINERS`) builds it from the family's train split before its runs play.
:func:`resolve_trainer` finds that function, :func:`check_train_config` validates the configuration of
budgetgym's PPO trainer (and the seeds it takes), and :func:`check_learners` does both for every learner of an
experiment, so a bad ``train`` block is a one-line error before any work
(:func:`~budgetgym.experiments.tasks.plan_experiment`, :func:`~budgetgym.experiments.config.load_experiment`).
"""

from __future__ import annotations

import importlib
import importlib.util
from collections.abc import Callable, Sequence
from typing import Any

from budgetgym.envs.errors import BudgetGymError
from budgetgym.experiments.config import AgentSpec, ExperimentConfig

__all__ = ["DEFAULT_TRAINERS", "check_learners", "check_train_config", "resolve_trainer"]

#: Built-in trainers: registry name -> ("module:function", extra keyword arguments, required modules).
DEFAULT_TRAINERS: dict[str, tuple[str, dict[str, Any], tuple[str, ...]]] = {
    "ppo": ("budgetgym.agents.ppo:train_ppo", {}, ("stable_baselines3", "torch")),
    "recurrent_ppo": ("budgetgym.agents.ppo:train_ppo", {"recurrent": True}, ("stable_baselines3", "sb3_contrib")),
}


def resolve_trainer(spec: AgentSpec) -> tuple[Callable[..., Any], dict[str, Any]]:
    """The training function of a learner spec and its extra keyword arguments.

    ``spec.trainer`` (``"module:function"``) if given, else the built-in trainer of the agent
    (``ppo``/``recurrent_ppo``: :func:`budgetgym.agents.ppo.train_ppo`). The function is called
    as ``fn(scenario, config, seed, out_dir, **extra)`` and returns the trained agent.
    """
    extra: dict[str, Any]
    if spec.trainer is not None:
        target, extra = spec.trainer, {}
    elif spec.agent in DEFAULT_TRAINERS:
        target, extra, requires = DEFAULT_TRAINERS[spec.agent]
        missing = [m for m in requires if importlib.util.find_spec(m) is None]
        if missing:
            raise BudgetGymError(
                f"agent '{spec.name}': training needs {', '.join(missing)}: pip install \"budgetgym[rl]\""
                + (" and sb3-contrib" if "sb3_contrib" in missing else "")
            )
    else:
        raise BudgetGymError(
            f"agent '{spec.name}': has a 'train' configuration but '{spec.agent}' has no built-in trainer; "
            f"set 'trainer: module:function' or remove 'train'"
        )
    module, _, name = target.partition(":")
    try:
        fn = getattr(importlib.import_module(module), name)
    except (ImportError, AttributeError) as err:
        raise BudgetGymError(f"agent '{spec.name}': trainer '{target}' not found ({err})") from None
    return fn, dict(extra)


def check_train_config(
    index: int, spec: AgentSpec, fn: Callable[..., Any], extra: dict[str, Any], seeds: Sequence[int] = ()
) -> None:
    """Validate the ``train`` configuration of ``agents[index]`` when its trainer is budgetgym's
    :func:`~budgetgym.agents.ppo.train_ppo` (a custom trainer checks its own), and that each of the
    experiment's ``seeds`` (a run's seed is its training seed) is one that trainer takes.

    Raises
    ------
    BudgetGymError
        One line naming the field, e.g. ``agents[1].train: batch_size: Input should be ...``.
    """
    from budgetgym.agents.ppo_config import MAX_SEED, load_ppo_config
    from budgetgym.agents.ppo_training import train_ppo  # imports neither SB3 nor torch

    if fn is train_ppo:
        load_ppo_config(spec.train or {}, recurrent=bool(extra.get("recurrent")), where=f"agents[{index}].train")
        beyond = [s for s in seeds if s > MAX_SEED]
        if beyond:
            raise BudgetGymError(
                f"seeds: {beyond[0]} is beyond the training seeds of agents[{index}] ({spec.name}): a run's seed "
                f"seeds its training, and the PPO trainer takes 0 to {MAX_SEED:,}"
            )


def check_learners(config: ExperimentConfig) -> None:
    """Every learner's ``train`` (no ``params``, a trainer that resolves, a valid configuration of
    budgetgym's PPO trainer): :func:`~budgetgym.experiments.config.load_experiment` runs it to name the file,
    :func:`~budgetgym.experiments.tasks.plan_experiment` for a config built otherwise.

    Raises
    ------
    BudgetGymError
        One line naming the agent and field, e.g. ``agents[1].train: batch_size: ...``.
    """
    for i, spec in enumerate(config.agents):
        if spec.train is not None:
            if spec.params or spec.scenario_params:
                raise BudgetGymError(
                    f"agents[{i}] ({spec.name}): a learner is built by its trainer from 'train', so its "
                    f"'params' / 'scenario_params' would be ignored; put the settings in 'train'"
                )
            check_train_config(i, spec, *resolve_trainer(spec), seeds=config.seeds)
