r"""The steps of :func:`~budgetgym.planner.plan.plan`, in the order it takes them.

Its options checked (:func:`check_lift_options`, :func:`check_targets`) and its inputs read
(:func:`history_and_dates`, :func:`current_plan`); the budget that meets a target (:func:`target_budget`); the static
plan and the recommendation, reusing the search's solve of its budget (:func:`recommend`, :func:`reused_solve`), and
with a current plan where a target moved the budget the recommendation at the budget given (:func:`same_budget_plan`,
:func:`same_budget_columns`);
with a history, the plan's columns against it and the lift tests to run next (:func:`history_findings`); the
current plan's columns beside the recommendation's (:func:`current_columns`); the frontier and the
profit-maximising budget (:func:`frontier_and_profit`); the outcome distribution over held-out draws
(:func:`outcome_over_draws`, :func:`prob_beats`). What each computes, and why: the numbered items of
:mod:`budgetgym.planner.plan`'s docstring. ``plan`` itself computes the recommendation's numbers and assembles the
:class:`~budgetgym.planner.plan_result.PlanResult`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from budgetgym.envs.dates import (
    FIRST_DATE,
    LAST_DATE,
    AmbiguousDatesError,
    date_texts,
    month_ends,
    next_dates,
    read_dates,
    whole_days,
)
from budgetgym.envs.errors import BudgetGymError, suggest
from budgetgym.envs.plan_value import check_plan
from budgetgym.envs.scenario import Scenario
from budgetgym.envs.scenario_parts import MIN_AMOUNT
from budgetgym.planner.experiments import lift_design as beyond_design
from budgetgym.planner.frontier import (
    BudgetPoint,
    frontier_table,
    point_or_miss,
    point_record,
    search_target,
    solve_level,
    sweep_budgets,
)
from budgetgym.planner.inputs import (
    CurrentPlan,
    check_within_budget,
    plan_dates,
    read_dated_current,
    read_history_file,
)
from budgetgym.planner.metrics import (
    Model,
    beyond_history,
    channel_table,
    history_columns,
    sparse_history,
    spends_on,
)
from budgetgym.planner.problem import PlanningProblem
from budgetgym.planner.robust import Objective, Solution, outcome_distribution, solve, static_for
from budgetgym.planner.voi import voi_design

__all__ = [
    "LIFT_DESIGNS",
    "HistoryFindings",
    "check_lift_options",
    "check_targets",
    "current_columns",
    "current_plan",
    "frontier_and_profit",
    "history_and_dates",
    "history_findings",
    "outcome_over_draws",
    "prob_beats",
    "recommend",
    "reused_solve",
    "same_budget_columns",
    "same_budget_plan",
    "solved_outcome",
    "solved_point",
    "target_budget",
]

#: The lift designs :func:`~budgetgym.planner.plan.plan` proposes with a history (its ``lift_design`` argument).
LIFT_DESIGNS = ("beyond", "voi", "none")


# ----------------------------------------------------------------------------- options and inputs
def check_lift_options(lift_design: str, lift_tests: int, lift_sigma: float) -> None:
    """``plan``'s ``lift_design``, ``lift_tests`` and ``lift_sigma``, each a one-line error naming its option."""
    if lift_design not in LIFT_DESIGNS:
        raise BudgetGymError(f"--lift-design {lift_design!r}: expected one of {', '.join(LIFT_DESIGNS)}"
                              + suggest(str(lift_design), LIFT_DESIGNS))
    if lift_tests < 1:
        raise BudgetGymError(f"--lift-tests: expected a positive number of tests, got {lift_tests}")
    if not (np.isfinite(lift_sigma) and lift_sigma > 0):
        raise BudgetGymError(f"--lift-sigma: expected a positive relative standard error, got {lift_sigma:g}")


def check_targets(reward: str, target_mroas: float | None, target_mcpa: float | None) -> None:
    """A target of the campaign's reward (marginal ROAS for revenue and profit, marginal CPA for conversions),
    positive: a one-line error naming the option otherwise."""
    if target_mroas is not None and reward == "conversions":
        raise BudgetGymError("--target-mroas: this campaign's reward is conversions; use --target-mcpa (marginal CPA)")
    if target_mcpa is not None and reward != "conversions":
        raise BudgetGymError(f"--target-mcpa: this campaign's reward is {reward}; use --target-mroas (marginal ROAS)")
    for label, t in (("--target-mroas", target_mroas), ("--target-mcpa", target_mcpa)):
        if t is not None and not (np.isfinite(t) and t > 0):
            raise BudgetGymError(f"{label}: expected a positive number, got {t:g}")


def history_and_dates(history: object, scenario: Scenario, start_date: str | None,
                      decimal: str | None = None) -> tuple[object, list[str] | None]:
    """The history's spend (a file read) and the window's dates: from ``start_date``, else continuing
    a history file's ``date`` column (:func:`~budgetgym.planner.inputs.plan_dates`), else none. A
    ``start_date`` other than the step after the history's last date is an error: the history's
    last row is the step just before the window, which its carry-in is valued after."""
    dates = None
    source = history
    if isinstance(history, (str, Path)):
        read = read_history_file(history, scenario, decimal)
        history, dates = read.spend, plan_dates(read, scenario)
    if start_date is not None:
        try:
            first, _ = read_dates(pd.DataFrame({"start": [start_date]}), "start", "--start-date", least=1,
                                  midnight=whole_days(scenario.step_days))
        except AmbiguousDatesError as err:
            raise BudgetGymError(f"--start-date {start_date!r} {err.reading}") from None
        except BudgetGymError:
            raise BudgetGymError(
                f"--start-date {start_date!r}: expected a date (e.g. 2025-01-06) from {FIRST_DATE} to {LAST_DATE}"
            ) from None
        if dates is not None:  # the history's dates continued: the start date must be their first
            if pd.Timestamp(dates[0]) != first[0]:
                raise BudgetGymError(
                    f"--start-date {start_date!r}: the history file '{source}' ends the step before {dates[0]}, and "
                    f"its last row is the step just before the window; drop --start-date (or the history's date column)"
                )
            return history, dates
        later = next_dates(first[0], scenario.step_days, scenario.horizon - 1, month_ends(first))
        dates = date_texts(pd.DatetimeIndex([first[0].as_unit("us"), *later]))
    return history, dates


def current_plan(current: object, scenario: Scenario, decimal: str | None = None) -> CurrentPlan | None:
    """The current plan read (:class:`~budgetgym.planner.inputs.CurrentPlan`; ``None`` without one)."""
    if current is None:
        return None
    if isinstance(current, (str, Path)):
        return read_dated_current(str(current), scenario, decimal=decimal)
    X = np.asarray(current, dtype=float)
    if X.shape != (scenario.horizon, scenario.n_channels) or not np.all(np.isfinite(X)) or np.any(X < 0):
        raise BudgetGymError(
            f"current: expected a plan of shape ({scenario.horizon}, {scenario.n_channels}) with finite, "
            f"non-negative spend"
        )
    check_within_budget(X, scenario, "current")  # as read_current refuses a file's or a split's
    return CurrentPlan(X, "plan")


# ----------------------------------------------------------------------------- 5 (first). the target's budget
def target_budget(
    problem: PlanningProblem, obj: Objective, budget: float, multiples: np.ndarray | None,
    target_mroas: float | None, target_mcpa: float | None,
) -> tuple[PlanningProblem, float, dict[str, Any] | None, list[BudgetPoint] | None, list[BudgetPoint] | None]:
    """The problem and budget the recommendation is solved at, the target's record, the levels solved and the solves
    the recommendation may reuse (:func:`reused_solve`: those levels and, a target met, the search's point there).

    Without a target: ``(problem, budget, None, None, None)``. With one, the budget where the marginal ROAS falls to
    ``target_mroas`` (the marginal CPA rises to ``target_mcpa``), searched from ``budget`` (and the sweep's
    ``multiples`` of it, solved first: they are the frontier's too); the problem moves there when a budget of at
    least :data:`~budgetgym.envs.scenario_parts.MIN_AMOUNT` meets it (``plan_at`` ``"target"``), else stays at
    ``budget`` (``"budget"``). The levels returned are of the budget given, for the frontier to reuse.
    """
    if target_mroas is None and target_mcpa is None:
        return problem, budget, None, None, None
    metric = "mroas" if target_mroas is not None else "mcpa"
    goal = float(target_mroas if target_mroas is not None else target_mcpa)  # type: ignore[arg-type]
    points = (sweep_budgets(problem, obj, multiples) if multiples is not None
              else [solve_level(problem, obj, budget)])
    hit, searched = search_target(problem, obj, goal, metric, points)
    moved = hit is not None and hit.budget >= MIN_AMOUNT
    target = {"metric": metric, "target": goal, **point_or_miss(hit, budget, searched, metric, goal),
              "plan_at": "target" if moved else "budget"}
    solved = list(points)
    if hit is not None and moved:
        problem = problem.with_budget(hit.budget)
        budget = problem.budget
        solved.append(hit)  # warm-started from its neighbour, its interior point's solve is a cold one's too
    return problem, budget, target, points, solved


# ----------------------------------------------------------------------------- 1. the recommendation
def reused_solve(points: list[BudgetPoint] | None, budget: float) -> Solution | None:
    """The solve (:class:`~budgetgym.planner.robust.Solution`) a target search or sweep made at ``budget``, for the
    recommendation there to reuse (:func:`~budgetgym.planner.robust.solve`), else ``None``: a cold one, whose
    candidates are taken whole (the budget given's level when the target is not reached), else a warm-started one,
    whose interior point's solve is (a target met: the search's point at its budget; a family's)."""
    at = [p.solution for p in points or [] if p.budget == budget and p.solution is not None]
    return next((s for s in at if s.candidates is not None), next((s for s in at if s.interior is not None), None))


def solved_point(points: list[BudgetPoint] | None, solved: Solution) -> BudgetPoint | None:
    """The level of a target search or sweep whose solve ``solved`` is (the same object: :func:`recommend` reused it
    as it was, :func:`~budgetgym.planner.robust.solve`), whose outcome and marginal returns are the recommendation's,
    computed once; ``None`` when the recommendation was solved apart (no such level, or a candidate replaced it)."""
    return next((p for p in points or [] if p.solution is solved), None)


def solved_outcome(
    problem: PlanningProblem, obj: Objective, points: list[BudgetPoint] | None, solved: Solution
) -> tuple[float, BudgetPoint | None]:
    """The objective's value of the solve ``solved`` of ``problem`` and its level (:func:`solved_point`): that
    level's outcome where the search made it, else the objective scored on the plan's rollouts."""
    point = solved_point(points, solved)
    if point is not None:
        return point.outcome, point
    return float(obj.score(problem.member_values(solved.plan))[0]), None


def recommend(
    problem: PlanningProblem, obj: Objective, points: list[BudgetPoint] | None
) -> tuple[tuple[np.ndarray, np.ndarray, float], Solution]:
    """The static plan (4: ``(shares, plan, U)``, :func:`~budgetgym.planner.robust.static_for`) and the
    recommendation (1) at ``problem``'s budget: the objective's optimum with the static plan a candidate too (where
    the campaign's constraints allow it), reusing the search's cold solve of that budget (:func:`reused_solve`):
    the same numbers as a solve from scratch, without solving its candidates again."""
    static = static_for(problem, obj)
    extra = [static[1]] if not check_plan(problem.scenario, static[1]) else None
    return static, solve(problem, obj, extra=extra, reuse=reused_solve(points, problem.budget))


def same_budget_plan(
    given_problem: PlanningProblem, obj: Objective, points: list[BudgetPoint] | None
) -> tuple[np.ndarray, float]:
    """With a target that moved the plan's budget and a current plan: the recommendation at the budget given (the plan
    without the target, :func:`recommend`) and its value, the current plan's comparison at the same budget."""
    _, at = recommend(given_problem, obj, points)
    return at.plan, solved_outcome(given_problem, obj, points, at)[0]  # the search's outcome where it was reused


# ----------------------------------------------------------------------------- 8. the history and lift tests
@dataclass
class HistoryFindings:
    """What a history says of the plan (all empty without one): its columns against the plan
    (:func:`~budgetgym.planner.metrics.history_columns`), its steps, the channels the plan takes beyond it and
    those it spent on in few steps, and the lift tests to run next."""

    columns: dict[str, np.ndarray] = field(default_factory=dict)
    steps: int = 0
    beyond: list[dict[str, float | str | None]] | None = None
    sparse: list[dict[str, Any]] | None = None
    design: pd.DataFrame | None = None


def history_findings(
    problem: PlanningProblem, plan: np.ndarray, names: list[str], table: pd.DataFrame, obj: Objective,
    lift_design: str, lift_tests: int, lift_sigma: float,
) -> HistoryFindings:
    """:class:`HistoryFindings` of ``plan`` after ``problem``'s history; adds ``history_max_spend`` and
    ``vs_history_max`` to the channel ``table``. The lift tests: ``voi``'s over a family's draws
    (:func:`~budgetgym.planner.voi.voi_design`), else one per channel beyond the history
    (:func:`~budgetgym.planner.experiments.lift_design`; a family of one's curves are known), none for ``none``."""
    X = plan
    beyond = design = thin = None
    cols: dict[str, np.ndarray] = {}
    history_steps = 0 if problem.history is None else len(problem.history)
    if problem.history is not None and history_steps:
        cols = history_columns(X, problem.history)
        for col in ("history_max_spend", "vs_history_max"):
            table[col] = cols[col]
        beyond = beyond_history(names, X, cols)
        thin = sparse_history(names, X, cols, history_steps)
        if lift_design == "voi" and len(problem.members) > 1:
            design = voi_design(problem, X, names, max_tests=lift_tests, rel_sigma=lift_sigma, objective=obj)
            design = design if len(design) else None
        elif lift_design != "none" and beyond:  # one member's curves are known: no test informs them
            design = beyond_design(names, X, problem.history, beyond)
    return HistoryFindings(cols, history_steps, beyond, thin, design)


# ----------------------------------------------------------------------------- 3. the current plan
def current_columns(
    table: pd.DataFrame, model: Model, cur: np.ndarray, names: list[str], reward: str, scenario: Scenario
) -> list[str]:
    """Add the current plan's figures to the channel ``table`` (``current_`` + each figure), and the change of
    every channel's spend (``change``; ``change_pct``, NaN where the current plan spends nothing); returns the
    current plan's problems in ``scenario`` (:func:`~budgetgym.envs.plan_value.check_plan`)."""
    cur_table = channel_table(model, cur, names, reward)
    for col in ("spend", "share", "conversions", "revenue", "outcome", "roas", "cpa", "mroas", "mcpa",
                "marginal_outcome"):
        table[f"current_{col}"] = cur_table[col].to_numpy()
    table["change"] = table["spend"] - table["current_spend"]
    # no % of nothing: a current plan that is an earlier solve leaves its rounding of 0 on a channel it drops
    on = spends_on(cur)
    table["change_pct"] = np.where(on, 100.0 * table["change"] / np.where(on, table["current_spend"], 1.0), np.nan)
    return check_plan(scenario, cur)


def same_budget_columns(table: pd.DataFrame, model: Model, plan: np.ndarray, names: list[str], reward: str) -> None:
    """Add the recommendation at the budget given (:func:`same_budget_plan`; a target moved the table's plan from it)
    to the channel ``table``: ``same_budget_spend`` and ``same_budget_outcome``, what the current plan's columns
    compare with at the same budget."""
    at = channel_table(model, plan, names, reward)
    for col in ("spend", "outcome"):
        table[f"same_budget_{col}"] = at[col].to_numpy()


# ----------------------------------------------------------------------------- 5. frontier and profit
def frontier_and_profit(
    given_problem: PlanningProblem, obj: Objective, anchor: BudgetPoint, given: float,
    multiples: np.ndarray | None, points: list[BudgetPoint] | None, target: dict[str, Any] | None,
    names: list[str], reward: str,
) -> tuple[pd.DataFrame | None, dict[str, Any] | None]:
    """The frontier over the sweep's ``multiples`` of the budget ``given`` (``None`` without a sweep) and, for a
    profit reward, the profit-maximising budget (``None`` otherwise). ``anchor`` is the recommendation's point:
    a target met there records its numbers (``target`` updated: one set of numbers), and the sweep's levels
    beside it are solved on ``given_problem`` unless the target's search solved them (``points``: without a target,
    the recommendation's problem is the budget given's)."""
    if target is not None and target["plan_at"] == "target":  # the point is the recommendation: one set of numbers
        target.update(point_record(anchor, given))
    if points is None:
        points = [anchor] if multiples is None else sweep_budgets(given_problem, obj, multiples, anchor)
    frontier = None if multiples is None else frontier_table(points, given, names)
    profit_max = None
    if reward == "profit":
        hit, searched = search_target(given_problem, obj, 0.0, "marginal_outcome", points)
        profit_max = point_or_miss(hit, given, searched, "marginal_outcome", 0.0)
    return frontier, profit_max


# ----------------------------------------------------------------------------- 7. over held-out draws
def outcome_over_draws(
    problem: PlanningProblem, plan: np.ndarray, static_plan: np.ndarray, cur: np.ndarray | None,
    same: np.ndarray | None = None,
) -> tuple[dict[str, dict[str, float]] | None, pd.DataFrame | None, float | None, float | None]:
    """For a family, ``(distribution, draw_values, beats, beats_same)``: the outcome distribution of the recommended,
    static and current plans over the held-out draws (:func:`~budgetgym.planner.robust.outcome_distribution`), each
    draw's values, and :func:`prob_beats` of the recommendation over the current plan (``None`` without one); with
    ``same``, the recommendation at the budget given where a target moved the plan's budget (:func:`same_budget_plan`),
    its values too (``same_budget``) and ``beats_same``, :func:`prob_beats` of it over the current plan (else
    ``None``). ``(None, None, None, None)`` for a scenario."""
    X = plan
    distribution = draw_values = beats = beats_same = None
    if problem.is_family:
        plans = [X, static_plan] + ([cur] if cur is not None else [])
        v = problem.member_values(np.stack(plans), split="test")  # [N, P]
        cols = {"recommended": v[:, 0], "static": v[:, 1]}
        if cur is not None:
            cols["current"] = v[:, 2]
            beats = prob_beats(v[:, 0], v[:, 2])
            if same is not None:  # valued apart: the other plans' values as without it, to the last bit
                cols["same_budget"] = problem.member_values(same, split="test")[:, 0]
                beats_same = prob_beats(cols["same_budget"], v[:, 2])
        distribution = outcome_distribution(cols)
        draw_values = pd.DataFrame({"draw": np.arange(v.shape[0]), **cols})
    return distribution, draw_values, beats, beats_same


def prob_beats(x: np.ndarray, y: np.ndarray) -> float:
    r"""How often plan values ``x`` beat ``y`` on the same draws, a tie counting half:
    :math:`\frac1N \sum_d \big(\mathbb 1[x_d > y_d] + \frac12 \mathbb 1[x_d = y_d]\big)`, the
    probability of improvement's convention (:mod:`budgetgym.experiments.stats`) on paired draws. A
    current plan equal to the recommendation gets 0.5, not 0 ("certainly worse")."""
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    return float(np.mean((x > y) + 0.5 * (x == y)))
