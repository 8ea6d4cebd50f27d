"""budgetgym.envs — the channel-budget environment, its scenarios and its oracle."""

from budgetgym.envs.allocation import action_to_split, split_to_action
from budgetgym.envs.channel_env import ChannelBudgetEnv
from budgetgym.envs.constant_split import ConstantSplit, best_constant_split, constant_split_plan
from budgetgym.envs.dynamics import ChannelModel, DynamicsState, transition
from budgetgym.envs.errors import BudgetGymError, ScenarioError
from budgetgym.envs.family import load_family
from budgetgym.envs.oracle import OracleResult, solve_oracle
from budgetgym.envs.path import ScenarioPath, sample_path
from budgetgym.envs.plan_value import check_plan, evaluate_plan, scenario_path
from budgetgym.envs.registration import register_envs
from budgetgym.envs.scenario import Scenario, list_scenarios, load_scenario, scenario_from_dict
from budgetgym.envs.scenario_family import ScenarioFamily
from budgetgym.envs.vector_env import ChannelBudgetVectorEnv

__all__ = [
    "BudgetGymError",
    "ChannelBudgetEnv",
    "ChannelBudgetVectorEnv",
    "ChannelModel",
    "ConstantSplit",
    "DynamicsState",
    "OracleResult",
    "Scenario",
    "ScenarioError",
    "ScenarioFamily",
    "ScenarioPath",
    "action_to_split",
    "best_constant_split",
    "check_plan",
    "constant_split_plan",
    "evaluate_plan",
    "list_scenarios",
    "load_family",
    "load_scenario",
    "register_envs",
    "sample_path",
    "scenario_from_dict",
    "scenario_path",
    "solve_oracle",
    "split_to_action",
    "transition",
]
