"""The plan text's budget searches: the target marginal return's line (:func:`target_line`), the header's note of
the budget a target set (:func:`target_budget_text`), a searched budget and its value (:func:`point_text`) and, where a
search found none, which way its marginal return missed (:func:`searched_text`); with a current plan where a target
moved the budget, its comparison at the same budget and the budget change apart (:func:`same_budget_lines`) and what
the table's current columns then compare (:func:`same_budget_note`); :mod:`~budgetgym.planner.plan_text` puts them in
the summary."""

from __future__ import annotations

from typing import Any

from budgetgym.envs.scenario_parts import AMOUNT_RANGE
from budgetgym.planner.plan_result import PlanResult
from budgetgym.planner.text_basics import budget_multiple, fmt, objective_label, signed_pct, with_pct

__all__ = [
    "MARGINAL_NAMES", "point_text", "same_budget_lines", "same_budget_note", "searched_text", "target_budget_text",
    "target_line",
]


#: The marginal return each search reads, as the target line names it.
MARGINAL_NAMES = {"mroas": "marginal ROAS", "mcpa": "marginal CPA", "marginal_outcome": "marginal profit"}


def point_text(point: dict[str, Any], label: str, of: str = "the budget") -> str:
    """A searched budget and its optimum's value, named by ``label`` (:func:`objective_label`: for a family under
    ``cvar:`` the CVaR, which the table's expected outcome, the draws' mean, is not)."""
    return (
        f"budget {fmt(point['budget'], 0, scale=point['budget'])} ({point['multiple']:.3g} × {of}), "
        f"{label} {fmt(point['outcome'], scale=point['outcome'])}"
    )


def searched_text(point: dict[str, Any], budget: float) -> str:
    """Where a search found no budget: the multiples of the budget it searched (``searched``)."""
    low, high = (b / budget for b in point["searched"])
    span = (f"at {budget_multiple(low)} × the budget" if low == high
            else f"between {budget_multiple(low)} and {budget_multiple(high)} × the budget")
    return f"{span} (the budgets searched, within {AMOUNT_RANGE})" + _side_text(point, budget)


def _side_text(point: dict[str, Any], budget: float) -> str:
    """Which way a search's marginal return :math:`m` missed its target, at the budget searched nearest it:
    ``; marginal ROAS stays below 2.5 at every budget searched: 1.31 at 1/1024 × the budget — ...`` (to 2 decimals
    as the table's marginal column, a tiny one to 3 significant digits), then why:
    the target needs more budget than searched (:math:`m` still above a target mROAS or marginal profit 0, or
    below a target mCPA, at the largest budget), or no budget searched returns that much (:math:`m` past the
    target even at the smallest). Empty for a point without ``marginal_side`` (a summary.json of an earlier
    version)."""
    side = point.get("marginal_side")
    if side is None:
        return ""
    metric = point.get("metric", "marginal_outcome")  # the profit-maximum's point has no metric: marginal profit
    goal = point.get("target", 0.0)
    value = point["nearest_marginal"]
    figure = fmt(value, 2, scale=value)  # as the table's marginal column; a tiny one to 3 significant digits, not 0.00
    where = f"{budget_multiple(point['nearest_budget'] / budget)} × the budget"
    said = (f"stays {side} {goal:,.6g} at every budget searched: {figure} at {where}" if point["same_side_everywhere"]
            else f"is {side} {goal:,.6g} at the budget searched nearest it, {where}: {figure}")
    if (side == "above") != (metric == "mcpa"):
        why = "the target needs more budget than searched"
    elif metric == "mcpa":
        why = "no budget searched buys conversions that cheaply: each further conversion costs more than the target"
    elif metric == "mroas":
        why = "no budget searched pays back that well: each further unit spent earns less than the target"
    else:
        why = "no budget searched pays back: each further unit spent loses"
    return f"; {MARGINAL_NAMES[metric]} {said} — {why}"


def target_line(result: PlanResult) -> str:
    """The target's line: the budget meeting the target marginal return and its expected outcome, and which plan
    the table, ``plan.csv`` and ``channels.csv`` are: the plan at that budget (``plan_at`` ``target``), or, the target
    not reached within the budgets searched, the plan at the budget given (``plan_at`` ``budget``); a summary of an
    earlier version, without ``plan_at``, keeps the plan at the budget given."""
    t = result.target
    assert t is not None
    label = objective_label(result)
    given = result.base_budget
    name = MARGINAL_NAMES[t["metric"]]
    budget = fmt(given, 0, scale=given)
    if t.get("budget") is None:
        where = (f"the recommended plan (the table, plan.csv) is the plan at the budget given, {budget}, as the target "
                 f"is not reached {searched_text(t, given)}")
    elif t.get("plan_at") == "target":
        where = (f"{point_text(t, label, 'the budget given')}. The recommended plan (the table, plan.csv) is the "
                 f"plan at this budget, not at the budget given ({budget})")
    else:
        where = point_text(t, label)
    return f"target {name} {t['target']:,.6g}: {where}"  # the target as asked, not rounded to 0.000


def target_budget_text(result: PlanResult) -> str:
    """After the pacing in the header, where a target set the plan's budget: ``; meeting the target marginal ROAS 3;
    the budget given 840,000``; else empty."""
    t = result.target
    if t is None or result.budget_given is None:
        return ""
    given = fmt(result.budget_given, 0, scale=result.budget_given)
    return f"; meeting the target {MARGINAL_NAMES[t['metric']]} {t['target']:,.6g}; the budget given {given}"


def same_budget_lines(result: PlanResult) -> list[str]:
    """With a current plan, where a target moved the plan's budget from the budget given: the current plan against
    the recommendation at the same budget, the budget given (what the split and flighting alone are worth, as a fixed
    budget's comparison), then the target's budget change apart: the budgets, what it adds or takes away, and the
    recommended plan (the table, at the target's budget) against the current plan, the two together. A plan at
    another budget beside the current plan mixed them in one "uplift"."""
    assert result.current_value is not None and result.same_budget_value is not None
    assert result.budget_given is not None
    what, cur, same = objective_label(result), result.current_value, result.same_budget_value
    scale = abs(result.value)
    given, budget = result.budget_given, result.budget

    def money(x: float, signed: bool = False) -> str:
        return fmt(x, 0, signed=signed, scale=given)

    return [
        f"{what} at the same budget, the budget given {money(given)}: the recommended plan at that budget "
        f"{fmt(same, scale=scale)} vs current ({result.current_source}) {fmt(cur, scale=scale)}: uplift "
        f"{with_pct(same - cur, cur, scale=scale)}",
        f"the target's budget change, {money(given)} to {money(budget)} "
        f"({money(budget - given, signed=True)}, {signed_pct(budget - given, given, 1)}): "
        f"{what} {fmt(same, scale=scale)} to "
        f"{fmt(result.value, scale=scale)} ({fmt(result.value - same, signed=True, scale=scale)}); the recommended "
        f"plan (the table, plan.csv) at {money(budget)} vs current: {with_pct(result.value - cur, cur, scale=scale)}, "
        f"the budget change and the split together",
    ]


def same_budget_note(result: PlanResult) -> str | None:
    """Under the per-channel table, where a target moved the plan's budget and a current plan is given: its current
    spend, change and uplift columns go from the current plan to the recommendation at the target's budget, the budget
    change and the split together (:func:`same_budget_lines` parts them); ``None`` otherwise."""
    if result.same_budget_value is None or result.budget_given is None:
        return None
    given, budget = (fmt(b, 0, scale=result.budget_given) for b in (result.budget_given, result.budget))
    return (f"The current spend, change and uplift columns go from the current plan (the budget given {given}) to "
            f"the recommended plan at the target's budget {budget}: the budget change and the split together; "
            f"channels.csv's same_budget_spend and same_budget_outcome hold the recommended plan at {given}.")
