"""budgetgym.planner — what to spend, where, when, and what if.

:func:`plan` answers a media planner's questions for a scenario or a scenario family: the
recommended plan (per channel and step), its expected outcome, ROAS / CPA and marginal returns,
the comparison with a current plan, a budget frontier, response curves, the outcome distribution
when the curves are uncertain, and the carry-over of spend made before the window. The
``budgetgym plan`` command is a thin layer over it.
"""

from budgetgym.planner.frontier import BudgetPoint, budget_for_target, parse_sweep, sweep_budgets
from budgetgym.planner.metrics import budget_marginal, channel_table
from budgetgym.planner.plan import plan
from budgetgym.planner.plan_result import PlanResult
from budgetgym.planner.problem import DEFAULT_DRAWS, PlanningProblem
from budgetgym.planner.robust import Objective

__all__ = [
    "DEFAULT_DRAWS",
    "BudgetPoint",
    "Objective",
    "PlanResult",
    "PlanningProblem",
    "budget_for_target",
    "budget_marginal",
    "channel_table",
    "parse_sweep",
    "plan",
    "sweep_budgets",
]
