r"""The budget frontier: the best outcome and its marginal return at each total budget.

For budget multiples :math:`b_1 < \dots < b_L` of the campaign's budget ``B``, the frontier is
:math:`V^*(b_j B)` (the planner's objective, :mod:`budgetgym.planner.robust`) with the marginal
return of the budget :math:`dV^*/dB` at each level (:func:`~budgetgym.planner.metrics.budget_marginal`,
exact from the gradient). Levels are solved outwards from the one nearest ``B``, each
warm-started from its neighbour's plan scaled to its budget (the optimal split moves little
between nearby budgets), which makes a sweep about 2-2.5 times cheaper than cold solves
(``benchmarks/bench_planner.py``: 21 levels on stationary-5 in 1.3 s, 2.95 s cold).

For concave response curves :math:`V^*` is increasing (conversions, revenue) and concave in
``B`` — each extra unit of budget buys less — so the marginal return falls with the budget, and

* :func:`budget_for_target` finds the budget at which it falls to a target (Meridian's
  "flexible budget" up to a target marginal ROI): the root of ``mroas(B) = target`` (revenue,
  profit) or ``mcpa(B) = target`` (conversions), by Brent's method on re-solved optima, bracketed
  by the frontier's levels or by doubling / halving ``B``;
* for profit the same root with :math:`dV^*/dB = 0` is the budget that maximises profit; where no
  channel pays back (every spend loses) the optimum spends nothing at every budget, and the budget that
  maximises profit is 0.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from scipy.optimize import brentq

from budgetgym.envs.errors import BudgetGymError
from budgetgym.envs.scenario_parts import AMOUNT_RANGE, MAX_AMOUNT, MIN_AMOUNT, amount_text, is_amount
from budgetgym.planner.metrics import SLACK_RTOL, budget_marginal
from budgetgym.planner.problem import PlanningProblem
from budgetgym.planner.robust import Objective, Solution, objective_marginal_model, solve

__all__ = [
    "BudgetPoint", "Searched", "budget_for_target", "check_sweep", "parse_sweep", "point_or_miss", "point_record",
    "search_target", "solve_level", "sweep_budgets",
]


@dataclass(frozen=True)
class BudgetPoint:
    """The optimum at one total budget."""

    budget: float
    plan: np.ndarray  # [T, K]
    outcome: float  # the objective's value (mean over the members, or CVaR)
    marginal: dict[str, float]  # budget_marginal at the plan
    # the solve it came from (robust.solve), for a later solve of the same problem to reuse; None: not kept
    solution: Solution | None = field(default=None, repr=False, compare=False)

    def row(self, base_budget: float, names: list[str]) -> dict[str, float]:
        out = {
            "multiple": self.budget / base_budget,
            "budget": self.budget,
            "spend": float(self.plan.sum()),
            "outcome": self.outcome,
            **self.marginal,
        }
        out.update({f"spend_{n}": float(s) for n, s in zip(names, self.plan.sum(axis=0), strict=True)})
        return out


@dataclass(frozen=True)
class Searched:
    r"""What a target search solved: the lowest and highest budgets :math:`b_{\min}, b_{\max}`, and where it
    found no root the point ``nearest`` the target, the end it moved toward: :math:`b_{\max}` when the target
    lies beyond it (the marginal return :math:`m(b)` not yet down to a target mROAS, or up to a target mCPA,
    there: the target needs more budget), :math:`b_{\min}` when even there :math:`m` is past it (no budget
    returns that much a unit). ``same_side``: every budget solved had :math:`m` on the side of the target it has
    at ``nearest``; :math:`m` is monotone in the budget for concave curves, so it is then on that side at every
    budget from :math:`b_{\min}` to :math:`b_{\max}`."""

    low: float
    high: float
    nearest: BudgetPoint | None = None  # None: the search found its root
    same_side: bool = True


def parse_sweep(text: str) -> np.ndarray:
    """``"LOW:HIGH:N"`` -> ``N`` budget multiples evenly spaced from ``LOW`` to ``HIGH``."""
    parts = text.split(":")
    try:
        low, high, n = float(parts[0]), float(parts[1]), int(parts[2])
        if len(parts) != 3:
            raise ValueError
    except (ValueError, IndexError):
        raise BudgetGymError(f"--sweep {text!r}: expected LOW:HIGH:N, e.g. 0.5:2:21") from None
    if not (0 < low < high and np.isfinite(high)) or not 2 <= n <= 1001:
        raise BudgetGymError(f"--sweep {text!r}: expected 0 < LOW < HIGH and 2 <= N <= 1001, e.g. 0.5:2:21")
    return np.linspace(low, high, n)


def check_sweep(multiples: np.ndarray, budget: float, label: str = "sweep") -> np.ndarray:
    """``multiples`` as floats, at least one, each ``multiple x budget`` a budget a scenario holds
    (:data:`AMOUNT_RANGE`), else a one-line error naming ``label`` (``--sweep '1:1e308:3'`` solved a
    level of budget ``inf``)."""
    m = np.asarray(multiples, dtype=float).ravel()
    if not len(m):  # no level to solve first (the one nearest the budget)
        raise BudgetGymError(f"{label}: expected at least one budget multiple, got none")
    for x in m:
        level = float(x) * float(budget)  # Python floats: inf on overflow, no numpy warning
        if not is_amount(level):
            raise BudgetGymError(
                f"{label}: the level {float(x):g} x the budget {budget:g} = {amount_text(level)} is not a budget a "
                f"scenario holds ({AMOUNT_RANGE}); narrow LOW:HIGH"
            )
    return m


def solve_level(
    problem: PlanningProblem, objective: Objective, budget: float, start: BudgetPoint | None = None
) -> BudgetPoint:
    """The optimum at ``budget``, warm-started from ``start``'s plan scaled to ``budget``; the point keeps its
    solve (:class:`~budgetgym.planner.robust.Solution`), which the recommendation at this budget reuses."""
    p = problem.with_budget(budget)
    warm = None if start is None else start.plan * (budget / start.budget)
    solved = solve(p, objective, warm)
    plan = solved.plan
    outcome = float(objective.score(p.member_values(plan))[0])
    model = objective_marginal_model(p, objective, plan, solved.weights)
    marginal = budget_marginal(model, plan, budget, p.scenario.step_cap)  # type: ignore[arg-type]
    return BudgetPoint(budget, plan, outcome, marginal, solved)


def sweep_budgets(
    problem: PlanningProblem, objective: Objective, multiples: np.ndarray, anchor: BudgetPoint | None = None
) -> list[BudgetPoint]:
    """:class:`BudgetPoint` at every multiple of the problem's budget, solved outwards from the
    multiple nearest 1 (warm-started from ``anchor``, the optimum at the budget itself, if given)."""
    B = problem.budget
    m = np.sort(np.asarray(multiples, dtype=float))
    mid = int(np.argmin(np.abs(m - 1.0)))
    points: dict[int, BudgetPoint] = {}
    points[mid] = solve_level(problem, objective, m[mid] * B, anchor)
    for j in range(mid + 1, len(m)):
        points[j] = solve_level(problem, objective, m[j] * B, points[j - 1])
    for j in range(mid - 1, -1, -1):
        points[j] = solve_level(problem, objective, m[j] * B, points[j + 1])
    return [points[j] for j in range(len(m))]


def frontier_table(points: list[BudgetPoint], base_budget: float, names: list[str]) -> pd.DataFrame:
    return pd.DataFrame([p.row(base_budget, names) for p in points])


def budget_for_target(
    problem: PlanningProblem,
    objective: Objective,
    target: float,
    metric: str,
    points: list[BudgetPoint],
) -> BudgetPoint | None:
    """The optimum at the budget where ``metric`` (``mroas``, ``mcpa`` or ``marginal_outcome``)
    reaches ``target``: :func:`search_target`'s point (``None`` when the search finds none)."""
    return search_target(problem, objective, target, metric, points)[0]


def search_target(
    problem: PlanningProblem,
    objective: Objective,
    target: float,
    metric: str,
    points: list[BudgetPoint],
) -> tuple[BudgetPoint | None, Searched]:
    """The optimum at the budget where ``metric`` (``mroas``, ``mcpa`` or ``marginal_outcome``)
    reaches ``target`` (module docstring), ``None`` when no budget searched does, and what it searched
    (:class:`Searched`: the lowest and highest budgets, and without a root the point nearest the target).
    ``points`` (solved levels, else the budget ``B``) bracket the root when they can; else the search doubles
    from the largest level (halves from the smallest) up to 10 times, within the budgets a scenario holds: from
    ``B/1024`` to ``1024 B`` without a sweep, beyond with one (``--sweep 0.5:2:N`` searches up to ``2048 B``).
    A root whose plan leaves budget unspent (a profit reward under agent pacing, past its best spend) is moved down to
    that spend: the smallest budget with the same optimum (1e-9 at least, the smallest a scenario holds); where that
    optimum spends nothing (no
    channel pays back) the point is at budget 0, its plan the zero plan (the outcome of no spend)."""
    sign = -1.0 if metric == "mcpa" else 1.0  # mcpa rises with the budget; the others fall

    def gap(p: BudgetPoint) -> float:
        return sign * (p.marginal[metric] - target)

    known = sorted(points, key=lambda p: p.budget)
    B = problem.budget
    if not known:
        known = [solve_level(problem, objective, B)]
    solved = list(known)
    lo: BudgetPoint | None = None
    hi: BudgetPoint | None = None
    for a, b in zip(known, known[1:], strict=False):
        if gap(a) >= 0 >= gap(b):
            lo, hi = a, b
            break
    if lo is None:
        if gap(known[-1]) > 0:  # the target lies above the largest level: double until it is crossed
            lo = known[-1]
            for _ in range(10):  # within the budgets a scenario holds (a target beyond them is not reached)
                if lo.budget >= MAX_AMOUNT:
                    break
                nxt = solve_level(problem, objective, min(lo.budget * 2, MAX_AMOUNT), lo)
                solved.append(nxt)
                if gap(nxt) <= 0:
                    hi = nxt
                    break
                lo = nxt
        else:  # below the smallest level: halve
            hi = known[0]
            for _ in range(10):
                if hi.budget <= MIN_AMOUNT:
                    break
                nxt = solve_level(problem, objective, max(hi.budget / 2, MIN_AMOUNT), hi)
                solved.append(nxt)
                if gap(nxt) >= 0:
                    lo = nxt
                    break
                hi = nxt
    budgets = [p.budget for p in solved]
    searched = Searched(min(budgets), max(budgets))
    if lo is None or hi is None:  # the end it moved toward is nearest the target: the largest level (lo), else hi
        nearest = lo if lo is not None else hi
        assert nearest is not None  # one of the two ends is set by the branch taken
        side = np.sign(gap(nearest))
        return None, Searched(searched.low, searched.high, nearest, all(np.sign(gap(p)) == side for p in solved))
    cache: dict[float, BudgetPoint] = {lo.budget: lo, hi.budget: hi}

    def f(budget: float) -> float:  # a budget solved already keeps its point: the bracket's ends keep their signs
        if budget not in cache:
            near = min(cache.values(), key=lambda p: abs(p.budget - budget))
            cache[budget] = solve_level(problem, objective, budget, near)
        return gap(cache[budget])

    root = brentq(f, lo.budget, hi.budget, xtol=1e-6 * B, rtol=1e-10, maxiter=60)
    near = min(cache.values(), key=lambda p: abs(p.budget - root))
    hit = near if near.budget == root else solve_level(problem, objective, float(root), near)
    spend = float(hit.plan.sum())
    if spend == 0.0:
        # the optimum spends nothing (profit, agent pacing: no channel pays back), so it is the same at every
        # budget and its marginal return is exactly 0, a root wherever it is read: the budget is the spend, 0
        return BudgetPoint(0.0, hit.plan, hit.outcome, hit.marginal), searched
    if 0.0 < spend < hit.budget * (1.0 - SLACK_RTOL):
        # budget left unspent (profit, agent pacing): the optimum is the same from its spend up, and the
        # marginal return's sign past it is the solver's rounding; the budget is the spend, or the smallest
        # budget a scenario holds (1e-9) for a smaller spend (2.2e-10 on a channel saturated by 1e-10 a step)
        hit = solve_level(problem, objective, max(spend, MIN_AMOUNT), hit)
    return hit, searched


def point_record(p: BudgetPoint, base: float) -> dict[str, float]:
    """A budget point as ``summary.json`` records it: its budget, its ``multiple`` of ``base``, the plan's spend, its
    outcome (the objective) and its marginal returns."""
    return {"budget": p.budget, "multiple": p.budget / base, "spend": float(p.plan.sum()), "outcome": p.outcome,
            **{k: float(v) for k, v in p.marginal.items()}}


def point_or_miss(
    p: BudgetPoint | None, base: float, searched: Searched, metric: str, target: float
) -> dict[str, Any]:
    """:func:`point_record`, or with no point ``budget`` ``None``, the budgets ``searched`` (lowest, highest) and which
    way the marginal return ``metric`` missed ``target``: ``marginal_side`` (``above`` or ``below`` it) at the
    budget searched nearest it (``nearest_budget``, ``nearest_multiple`` of ``base``, ``nearest_marginal`` its
    value), and ``same_side_everywhere`` when every budget solved had it on that side (:class:`Searched`)."""
    if p is not None:
        return point_record(p, base)
    miss: dict[str, Any] = {"budget": None, "searched": [float(searched.low), float(searched.high)]}
    if searched.nearest is not None:
        value = float(searched.nearest.marginal[metric])
        miss.update(marginal_side="above" if value > target else "below",
                    nearest_budget=float(searched.nearest.budget),
                    nearest_multiple=float(searched.nearest.budget / base),
                    nearest_marginal=value, same_side_everywhere=bool(searched.same_side))
    return miss
