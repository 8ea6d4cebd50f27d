"""budgetgym — a Gymnasium simulator of marketing channels for budget-allocation research.

Importing the package registers the environments with Gymnasium::

    import gymnasium as gym
    import budgetgym  # noqa: F401

    env = gym.make("budgetgym/ChannelBudget-v0", scenario="stationary-5")
"""

from importlib.metadata import PackageNotFoundError, version

from budgetgym.envs import register_envs

try:
    __version__ = version("budgetgym")
except PackageNotFoundError:  # pragma: no cover - running from a source tree without install
    __version__ = "0.0.0"

register_envs()

__all__ = ["__version__"]
