r"""``plan(...)``: the planner's answer for one campaign and budget, as a typed result.

What it computes (each piece documented where it is defined):

1. the **recommended plan** :math:`X^*` maximising the objective (:mod:`~budgetgym.planner.robust`)
   over the problem's members (:mod:`~budgetgym.planner.problem`): for a scenario, exactly
   :func:`~budgetgym.envs.oracle.solve_oracle`'s plan; for a family, one plan for all its draws;
2. per channel its spend, share, expected conversions / revenue / outcome, ROAS, CPA and marginal
   returns (:mod:`~budgetgym.planner.metrics`; under a ``cvar:`` objective over a family's draws also the
   marginal returns of the CVaR, ``cvar_`` + :data:`~budgetgym.planner.metrics.CVAR_MARGINALS`: the mean over
   the tail draws at the plan, the objective's gradient, which the plan equalises over the channels it
   spends on), and the marginal return of the total budget; for a
   campaign whose response is measured in currency (``response_unit: currency``) every figure counting
   conversions, here and in 3, 5, 6 and the segments, is undefined
   (:func:`~budgetgym.planner.metrics.uncounted`);
3. the same for a **current plan** if given, the uplift :math:`V(X^*) - V(X^{cur})` and the
   change of every channel's spend; where a target (5) moved the plan's budget from the budget given :math:`B_0`, also
   the recommendation at :math:`B_0`, :math:`X^*_0`, so that the current plan is compared at the same budget,
   :math:`V(X^*_0) - V(X^{cur})` (what the split and flighting alone are worth), and the budget change apart,
   :math:`V(X^*) - V(X^*_0)`: the uplift is their sum;
4. the **static plan**: the best single split with even flighting (what MMM budget allocators
   return; under agent pacing with a profit reward at its best even step spend, which may leave
   budget unspent, :mod:`~budgetgym.envs.constant_split`), so the report can say what timing is worth;
5. optionally a **budget frontier** (:mod:`~budgetgym.planner.frontier`), the budget at a target
   marginal ROAS / CPA, and for profit the profit-maximising budget. With a target the recommendation
   (1-4, 6-8) is the plan **at the budget that meets it** (Meridian's flexible-budget scenario and Robyn's
   ``target_efficiency`` return that allocation); where no budget searched meets it, the plan at the
   budget given, which the result says (``target["plan_at"]``). The frontier's multiples and the target's
   ``multiple`` stay those of the budget given (:attr:`PlanResult.budget_given`);
6. **response curves** per channel (:mod:`~budgetgym.planner.curves`);
7. for a family, the **outcome distribution** of the recommended, static and current plans over
   held-out draws (P10 / P50 / P90) and the probability that the recommendation beats the
   current plan (a draw where they are equal counting half, :func:`prob_beats`);
8. with a history, the channels the plan spends on beyond it
   (:func:`~budgetgym.planner.metrics.beyond_history`) and the **lift tests** to run next: one on
   each such channel (:func:`~budgetgym.planner.experiments.lift_design`, ``lift_design="beyond"``)
   or, for a family, those of largest expected value of information over its draws
   (:func:`~budgetgym.planner.voi.voi_design`, ``lift_design="voi"``).

:func:`plan` reads its inputs, computes the recommendation's numbers (2) and assembles the
:class:`~budgetgym.planner.plan_result.PlanResult`; its steps (the target's budget, the static plan and the
recommendation, which reuses the target search's solve of its budget, the history's columns and lift tests, the
current plan's columns, the frontier, the distribution over draws) are named functions of
:mod:`budgetgym.planner.plan_steps`.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, ParamSpec, TypeVar, overload

import numpy as np
from threadpoolctl import threadpool_limits

from budgetgym.envs.family import ScenarioFamily
from budgetgym.envs.path import step_days
from budgetgym.envs.scenario import Scenario
from budgetgym.planner.curves import response_curves
from budgetgym.planner.frontier import BudgetPoint, check_sweep, parse_sweep
from budgetgym.planner.inputs import current_dates_note
from budgetgym.planner.metrics import (
    CVAR_MARGINALS,
    Figures,
    budget_marginal,
    channel_table,
    segment_table,
    uncounted,
)
from budgetgym.planner.plan_result import PlanResult
from budgetgym.planner.plan_steps import (
    LIFT_DESIGNS,
    check_lift_options,
    check_targets,
    current_columns,
    current_plan,
    frontier_and_profit,
    history_and_dates,
    history_findings,
    outcome_over_draws,
    prob_beats,
    recommend,
    same_budget_columns,
    same_budget_plan,
    solved_outcome,
    target_budget,
)
from budgetgym.planner.problem import PlanningProblem, campaign_family
from budgetgym.planner.robust import Objective, objective_marginal_model
from budgetgym.planner.voi import MAX_TESTS, REL_SIGMA

__all__ = ["LIFT_DESIGNS", "PlanResult", "plan", "prob_beats"]

P = ParamSpec("P")
R = TypeVar("R")


@overload
def _counted(figures: None, unit: str) -> None: ...


@overload
def _counted(figures: Figures, unit: str) -> Figures: ...


def _counted(figures: Figures | None, unit: str) -> Figures | None:
    """``figures`` as they are for a response counted in conversions; for one in ``currency``, without the figures
    that count them (:func:`~budgetgym.planner.metrics.uncounted`)."""
    return figures if figures is None or unit == "conversions" else uncounted(figures)


def _one_blas_thread(fn: Callable[P, R]) -> Callable[P, R]:
    """Run ``fn`` with one BLAS thread: the planner's matrices are small (``K`` blocks of ``T x T``),
    and a second thread doubles the CPU for no wall-time gain, or loses time on a busy machine
    (``benchmarks/bench_planner.py``: the 21-level frontier 1.4 s with one thread, up to 3.2 s
    with two under load)."""

    @functools.wraps(fn)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        with threadpool_limits(limits=1, user_api="blas"):
            return fn(*args, **kwargs)

    return wrapper


@_one_blas_thread
def plan(
    campaign: str | Path | Scenario | ScenarioFamily,
    *,
    budget: float | None = None,
    horizon: int | None = None,
    current: str | Path | np.ndarray | None = None,
    history: str | Path | np.ndarray | Any = None,
    start_date: str | None = None,
    sweep: str | np.ndarray | None = None,
    target_mroas: float | None = None,
    target_mcpa: float | None = None,
    draws: int | None = None,
    objective: str | Objective = "mean",
    curves: bool = True,
    lift_design: str = "voi",
    lift_tests: int = MAX_TESTS,
    lift_sigma: float = REL_SIGMA,
    decimal: str | None = None,
) -> PlanResult:
    """Recommend a plan for ``campaign`` (a scenario or a family; name, file or object).

    Parameters
    ----------
    budget, horizon : change the campaign's budget (currency) or horizon (steps).
    current : the plan in place: ``"equal"``, ``"name=value,..."`` (a split or per-channel
        budgets), a CSV file (:mod:`~budgetgym.planner.inputs`) or an array ``[T, K]``; compared with the
        recommendation at the same budget: where a target moved the plan's budget, with the recommendation at the
        budget given (``same_budget_*`` of the result), and the budget change apart (module docstring, 3).
    history : spend before the window: a CSV file or an array ``[H, K]`` / mapping
        (:mod:`budgetgym.envs.history`); every plan is valued after it. A file's ``date`` column
        dates the plan's steps (``plan.csv``'s ``date``), continuing it.
    start_date : the calendar date of the window's first step (e.g. ``2025-01-06``): the steps are
        dated from it, ``step_days`` apart (calendar months for a monthly scenario); with a history
        file's dates it must be the step after its last date (an error otherwise). Dates label
        the steps only: the campaign's seasonality keeps its own calendar (its ``start_day``; a
        calibrated family's is the data's).
    sweep : budget multiples for the frontier, ``"LOW:HIGH:N"`` or an array.
    target_mroas, target_mcpa : find the budget at which the marginal ROAS falls to (revenue,
        profit) or the marginal CPA rises to (conversions) this target, and recommend the plan at that
        budget (the budget given, or the campaign's, starts the search); where no budget searched reaches
        it, the plan at the budget given (``target["plan_at"]`` is ``"target"`` or ``"budget"``).
    draws : a family's draws to optimise over (and held-out draws to score on);
        default :data:`~budgetgym.planner.problem.DEFAULT_DRAWS`.
    objective : ``"mean"`` or ``"cvar:ALPHA"`` (:mod:`~budgetgym.planner.robust`).
    curves : compute the response curves.
    lift_design : with a history, the lift tests to run next: ``"voi"`` (default; up to
        ``lift_tests`` tests chosen by their expected value of information over a family's draws,
        :func:`~budgetgym.planner.voi.voi_design`, each test's sd assumed ``lift_sigma`` of its mean
        predicted lift; for a scenario or a family of one draw, whose curves are known, ``"beyond"``'s),
        ``"beyond"`` (one per channel the plan takes beyond the history,
        :func:`~budgetgym.planner.experiments.lift_design`) or ``"none"``. The default is ``voi``:
        on issue 11's closed loop (``benchmarks/bench_calibrate_family.py``, 20 datasets) five VOI
        tests a dataset take the plan from 98.02% to 99.20% of the true oracle (worst 95.03% to
        97.05%; session 12's points), two to 98.94%, against 98.29% for ``beyond``'s 1.3
        (session 9's points).
    decimal : the decimal mark of the ``current`` and ``history`` files, ``"."`` or ``","``; ``None``
        (default): the decimal point in a comma-separated file, the mark its numbers show in a ``;``- or
        tab-separated one (:func:`~budgetgym.envs.io.read_csv_table`).
    """
    t0 = time.perf_counter()
    check_lift_options(lift_design, lift_tests, lift_sigma)
    obj = objective if isinstance(objective, Objective) else Objective.parse(objective)
    family = campaign_family(campaign, budget, horizon)
    sc = family.nominal()  # the brief, to read the current plan and history files against
    hist, dates = history_and_dates(history, sc, start_date, decimal)
    problem = PlanningProblem(family, draws=draws, history=hist)
    names, reward, B = sc.channel_names, sc.reward, sc.budget.total
    check_targets(reward, target_mroas, target_mcpa)
    multiples = None if sweep is None else check_sweep(
        parse_sweep(sweep) if isinstance(sweep, str) else np.asarray(sweep, float), B,
        f"--sweep {sweep!r}" if isinstance(sweep, str) else "sweep",
    )
    read = current_plan(current, sc, decimal)
    cur, cur_dates = (None, None) if read is None else (read.plan, read.dates)

    # 5 (first, with a target: the plan is the one at its budget). the budget meeting the target
    given, given_problem = B, problem
    # points: solved levels of the budget given (the frontier's, the searches'); solved_levels: those and, a target
    # met, the search's point at its budget, for the recommendation to reuse
    problem, B, target, points, solved_levels = target_budget(problem, obj, B, multiples, target_mroas, target_mcpa)
    sc_plan = problem.scenario  # the scenario at the plan's budget (its constraints)

    # 4 (first: a candidate for 1) and 1. the static plan (one split, even flighting) and the recommendation
    (static_q, static_plan, static_value), solved = recommend(problem, obj, solved_levels)
    X, tail_weights = solved.plan, solved.weights

    # 2. the recommendation's numbers; the search's own where the recommendation is its solve of the budget as it was
    # (a target not reached: the budget given's level), computed once
    value, point = solved_outcome(problem, obj, solved_levels, solved)
    model = problem.objective
    table = channel_table(model, X, names, reward)
    segments = segment_table(model, X, sc.segment_names, names)
    found = history_findings(problem, X, names, table, obj, lift_design, lift_tests, lift_sigma)  # 8
    tail_model = objective_marginal_model(problem, obj, X, tail_weights)
    marg = point.marginal if point is not None else budget_marginal(tail_model, X, B, sc_plan.step_cap)  # type: ignore[arg-type]
    zero = problem.member_values(np.zeros_like(X))  # carry-in only
    baseline, baseline_mean = float(obj.score(zero)[0]), float(zero.mean())

    # 3. the current plan; a target having moved the budget, beside the recommendation at the budget given too
    cur_value = same_plan = same_value = None
    problems: list[str] = []
    if cur is not None:
        cur_value = float(obj.score(problem.member_values(cur))[0])
        problems = current_columns(table, model, cur, names, reward, sc)
        if B != given:
            same_plan, same_value = same_budget_plan(given_problem, obj, points)
    if found.columns:  # added after the columns of earlier versions (the results directory is a contract)
        table["history_spent_steps"] = found.columns["history_spent_steps"]
    if obj.kind != "mean" and len(problem.members) > 1:  # CVaR over draws: each channel's marginal of what is optimised
        tail = channel_table(tail_model, X, names, reward)  # type: ignore[arg-type]
        for col in CVAR_MARGINALS:
            table[f"cvar_{col}"] = tail[col].to_numpy()
    if same_plan is not None:  # last: added after every column of earlier versions
        same_budget_columns(table, model, same_plan, names, reward)

    # 5. frontier and targets (multiples of the budget given)
    frontier, profit_max = frontier_and_profit(given_problem, obj, BudgetPoint(B, X, value, marg), given, multiples,
                                               points, target, names, reward)

    # 6. response curves
    curve_table = response_curves(model, X, names, reward, cur, budget=B) if curves else None

    # 7. outcome distribution over held-out draws
    distribution, draw_values, beats, beats_same = outcome_over_draws(problem, X, static_plan, cur, same_plan)

    # the result: the figures that count conversions left out for a response in currency (_counted)
    unit = sc.response_unit
    return PlanResult(
        campaign=problem.name,
        reward=reward,
        response_unit=unit,
        kpi=sc.kpi,
        budget=B,
        budget_given=None if B == given else given,
        horizon=sc.horizon,
        pacing=sc.budget.pacing,
        channel_names=names,
        step_days=step_days(sc),
        objective=str(obj),
        is_family=problem.is_family,
        draws=len(problem.members),
        plan=X,
        value=value,
        channels=_counted(table, unit),
        budget_marginal=_counted(marg, unit),
        static_shares=static_q,
        static_value=static_value,
        static_plan=static_plan,
        baseline_value=baseline,
        baseline_mean=baseline_mean,
        history_steps=found.steps,
        current=cur,
        current_source=None if read is None else read.what,
        current_value=cur_value,
        exposure_unit=None if segments is None else _exposure_unit(sc),
        current_problems=problems,
        current_dates_note=current_dates_note(cur_dates, dates),
        current_note=None if read is None else read.note,
        carry_over_without_history=None if found.steps else [
            c.name for c in sc.channels if c.adstock.type != "none" or c.delay.type != "none"
        ],
        frontier=_counted(frontier, unit),
        target=_counted(target, unit),
        profit_max=_counted(profit_max, unit),
        curves=_counted(curve_table, unit),
        distribution=distribution,
        draw_values=draw_values,
        prob_beats_current=beats,
        same_budget_plan=same_plan,
        same_budget_value=same_value,
        prob_beats_current_same_budget=beats_same,
        segments=_counted(segments, unit),
        beyond_history=found.beyond,
        sparse_history=found.sparse,
        lift_design=found.design,
        dates=dates,
        seconds=time.perf_counter() - t0,
    )


def _exposure_unit(sc: Scenario) -> str:
    """What the segments' exposure counts: the one unit every channel is bought in (``impression`` or
    ``click``), else ``mixed`` (configs/README.md "Segments", Units)."""
    units = {c.cost.unit for c in sc.channels}
    return units.pop() if len(units) == 1 else "mixed"
