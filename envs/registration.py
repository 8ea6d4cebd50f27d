"""Gymnasium registration of budgetgym's environments.

``budgetgym/ChannelBudget-v0`` takes ``scenario=`` (a built-in name, a YAML path, a Scenario or a
family); every built-in scenario also has its own id, ``budgetgym/<scenario>-v0``
(for example ``budgetgym/stationary-5-v0``). Every id has
:class:`~budgetgym.envs.vector_env.ChannelBudgetVectorEnv` as its vector entry point:
``gymnasium.make_vec(id, num_envs=N)`` (or ``vectorization_mode="vector_entry_point"``) returns
one vector env of ``N`` rows (keyword arguments such as ``rng="batched"`` or
``autoreset_mode=AutoresetMode.SAME_STEP`` pass through; Gymnasium refuses ``vector_kwargs`` for a
vector entry point);
``vectorization_mode="sync"`` still builds Gymnasium's ``SyncVectorEnv`` of single environments.
"""

from __future__ import annotations

import gymnasium as gym

from budgetgym.envs.scenario import list_scenarios

__all__ = ["register_envs", "ENTRY_POINT", "VECTOR_ENTRY_POINT"]

ENTRY_POINT = "budgetgym.envs.channel_env:ChannelBudgetEnv"
VECTOR_ENTRY_POINT = "budgetgym.envs.vector_env:ChannelBudgetVectorEnv"


def register_envs() -> None:
    """Register the generic id and one id per built-in scenario (idempotent)."""
    if "budgetgym/ChannelBudget-v0" not in gym.registry:
        gym.register(id="budgetgym/ChannelBudget-v0", entry_point=ENTRY_POINT, vector_entry_point=VECTOR_ENTRY_POINT)
    for name in list_scenarios():
        env_id = f"budgetgym/{name}-v0"
        if env_id not in gym.registry:
            gym.register(
                id=env_id, entry_point=ENTRY_POINT, vector_entry_point=VECTOR_ENTRY_POINT, kwargs={"scenario": name}
            )
