"""Gymnasium registration of budgetgym's environments.

``budgetgym/ChannelBudget-v0`` takes ``scenario=`` (a built-in name, a YAML path or a
Scenario); every built-in scenario also has its own id, ``budgetgym/<scenario>-v0``
(for example ``budgetgym/stationary-5-v0``).
"""

from __future__ import annotations

import gymnasium as gym

from budgetgym.envs.scenario import list_scenarios

__all__ = ["register_envs", "ENTRY_POINT"]

ENTRY_POINT = "budgetgym.envs.channel_env:ChannelBudgetEnv"


def register_envs() -> None:
    """Register the generic id and one id per built-in scenario (idempotent)."""
    if "budgetgym/ChannelBudget-v0" not in gym.registry:
        gym.register(id="budgetgym/ChannelBudget-v0", entry_point=ENTRY_POINT)
    for name in list_scenarios():
        env_id = f"budgetgym/{name}-v0"
        if env_id not in gym.registry:
            gym.register(id=env_id, entry_point=ENTRY_POINT, kwargs={"scenario": name})
