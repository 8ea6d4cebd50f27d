"""budgetgym.agents — allocation policies behind one interface, and one evaluator."""

from budgetgym.agents.base import Agent, AgentParams, BaseAgent, list_agents, load_agent, make_agent, register_agent
from budgetgym.agents.evaluation import RESULT_COLUMNS, EpisodeResult, evaluate

# Importing the agent modules registers them with make_agent.
from budgetgym.agents import bandits, fixed, greedy, model_thompson, ppo  # noqa: E402,F401  isort: skip
from budgetgym.agents.ppo import train_ppo  # noqa: E402  isort: skip

__all__ = [
    "Agent",
    "AgentParams",
    "BaseAgent",
    "EpisodeResult",
    "RESULT_COLUMNS",
    "evaluate",
    "list_agents",
    "load_agent",
    "make_agent",
    "register_agent",
    "train_ppo",
]
