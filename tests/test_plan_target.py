"""``plan --target-mroas`` / ``--target-mcpa``: the recommended plan (the table, ``plan.csv``, ``channels.csv``) is
the plan at the budget meeting the target (Meridian's flexible budget, Robyn's ``target_efficiency``), and where no
budget searched meets it, the plan at the budget given, with a line saying which."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import run_cli

from budgetgym.envs import evaluate_plan, load_scenario
from budgetgym.envs.scenario import Scenario
from budgetgym.planner.frontier import solve_level
from budgetgym.planner.plan import plan
from budgetgym.planner.plan_text import header_line, summary_lines, target_line
from budgetgym.planner.problem import PlanningProblem
from budgetgym.planner.robust import Objective

SC = load_scenario("stationary-3")  # conversions, 14 steps, budget 84,000
REVENUE = SC.override({"reward": "revenue"})


@pytest.mark.parametrize(("sc", "kwargs", "metric"), [(SC, {"target_mcpa": 40.0}, "mcpa"),
                                                      (REVENUE, {"target_mroas": 0.02}, "mroas")])
def test_the_recommendation_is_the_plan_at_the_budget_meeting_the_target(
    sc: Scenario, kwargs: dict[str, float], metric: str
) -> None:
    """The plan was the one at the budget given (84,000) while the target line named another budget (41,355 for a
    marginal CPA of 40); a planner asking to spend until the marginal return reaches the target gets that plan."""
    goal = next(iter(kwargs.values()))
    given = sc.budget.total
    res = plan(sc, curves=False, lift_design="none", **kwargs)
    t = res.target
    assert t is not None and t["plan_at"] == "target" and t["budget"] is not None
    b = t["budget"]
    assert abs(b - given) > 0.05 * given  # the case: the target moves the budget
    # the plan is at that budget: spends it (even pacing), within it, and its own marginal return is the target
    assert res.budget == pytest.approx(b, rel=1e-12) and res.budget_given == given
    assert float(res.plan.sum()) == pytest.approx(b, rel=1e-9) and float(res.plan.sum()) <= b * (1 + 1e-9)
    assert res.budget_marginal[metric] == pytest.approx(goal, rel=1e-4)
    # it is the plan `plan` gives at that budget, valued by the environment on its own
    at = plan(sc, budget=b, curves=False, lift_design="none")
    np.testing.assert_allclose(res.plan, at.plan, rtol=1e-6, atol=1e-6 * b / sc.horizon)
    assert res.value == pytest.approx(float(evaluate_plan(sc.override({"budget.total": b}), res.plan)), rel=1e-9)
    # one set of numbers: the target's point is the recommendation
    assert t["outcome"] == pytest.approx(res.value, rel=1e-12) and t["spend"] == pytest.approx(res.plan.sum())
    assert t["multiple"] == pytest.approx(b / given, rel=1e-12)
    assert res.summary()["budget"] == res.budget and res.summary()["budget_given"] == given
    line = target_line(res)
    assert "is the plan at this budget, not at the budget given (84,000)" in line, line
    assert "; meeting the target" in header_line(res) and "the budget given 84,000" in header_line(res)


def test_a_target_not_reached_keeps_the_plan_at_the_budget_given_and_says_so() -> None:
    """A marginal CPA of 1e12 is not met up to 1024 times the budget: the plan stays the one at the budget given,
    the same as without a target, and the target's line says which plan the table and plan.csv are."""
    res = plan(SC, target_mcpa=1e12, curves=False, lift_design="none")
    plain = plan(SC, curves=False, lift_design="none")
    assert res.target is not None and res.target["budget"] is None and res.target["plan_at"] == "budget"
    assert res.budget == SC.budget.total and res.budget_given is None and "budget_given" not in res.summary()
    np.testing.assert_array_equal(res.plan, plain.plan)
    line = next(s for s in summary_lines(res) if s.startswith("target"))
    assert line.startswith("target marginal CPA 1e+12: the recommended plan (the table, plan.csv) is the plan at the "
                           "budget given, 84,000, as the target is not reached between 1 and 1024 × the budget"), line
    assert "meeting the target" not in header_line(res)


def test_the_frontier_stays_at_multiples_of_the_budget_given() -> None:
    """With a sweep, the frontier's levels are the multiples of the budget given (what the planner typed), each
    the optimum at its budget; the recommendation at the target's budget is compared with them."""
    res = plan(SC, target_mcpa=40.0, sweep="0.5:1:3", curves=False, lift_design="none")
    f = res.frontier
    assert f is not None and res.budget_given == SC.budget.total
    np.testing.assert_allclose(f["budget"], [42000.0, 63000.0, 84000.0], rtol=1e-12)
    np.testing.assert_allclose(f["multiple"], [0.5, 0.75, 1.0], rtol=1e-12)
    problem = PlanningProblem(SC)
    assert f["outcome"].iloc[0] == pytest.approx(solve_level(problem, Objective(), 42000.0).outcome, rel=1e-6)
    assert any("× the budget given (84,000)" in s for s in summary_lines(res))


def test_the_cli_writes_the_plan_at_the_targets_budget(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """plan.csv, channels.csv and summary.json agree on the target's budget; plan.csv was the budget's plan."""
    out = tmp_path / "p"
    code, printed, _ = run_cli(capsys, "plan", "stationary-3", "--target-mcpa", "40", "--out", str(out), "--no-plots")
    assert code == 0, printed
    summary = pd.read_json(out / "summary.json", typ="series")
    b = summary["target"]["budget"]
    written = pd.read_csv(out / "plan.csv")
    assert written["total"].sum() == pytest.approx(b, rel=1e-9) and b < 0.6 * SC.budget.total
    assert pd.read_csv(out / "channels.csv")["spend"].sum() == pytest.approx(b, rel=1e-9)
    assert summary["recommended"]["spend"] == pytest.approx(b, rel=1e-12) and summary["budget_given"] == 84000.0
    assert "The recommended plan (the table, plan.csv) is the plan at this budget" in printed


def test_under_cvar_the_target_line_names_its_value_the_cvar() -> None:
    """Under ``cvar:`` the target's line read "expected conversions 1,234": the CVaR of the train draws, under the
    name of the table's total (the draws' mean, larger). It names it as the summary's first line does."""
    from test_plan_headline import _family

    from budgetgym.planner.plan_text import fmt, objective_label

    fam = _family()
    res = plan(fam, draws=8, objective="cvar:0.25", target_mcpa=10.0, curves=False, lift_design="none")
    t = res.target
    assert t is not None and t["plan_at"] == "target"
    mean_total = float(res.channels["outcome"].sum())
    assert res.value < 0.99 * mean_total  # the case: the CVaR is not the table's total
    label = objective_label(res)
    assert label == "expected conversions (cvar:0.25 over the train draws)"
    assert f"{label} {fmt(res.value, scale=res.value)}" in target_line(res), target_line(res)


def test_the_profit_maximum_beside_a_met_target_is_a_multiple_of_the_budget_given() -> None:
    """For profit the line of the profit-maximising budget said "(1.13 × the budget)" of the budget given while the
    header's budget was the target's (shock-5, --target-mroas 1.5): it says "the budget given" then."""
    sc = SC.override({"reward": "profit", **{f"channels.{i}.value.mean": 60.0 for i in range(3)}})
    res = plan(sc, target_mroas=2.0, curves=False, lift_design="none")
    assert res.target is not None and res.target["plan_at"] == "target" and res.budget_given == sc.budget.total
    p = res.profit_max
    assert p is not None and p["budget"] is not None and p["spend"] > 0
    assert p["multiple"] == pytest.approx(p["budget"] / sc.budget.total, rel=1e-12)
    line = next(s for s in summary_lines(res) if s.startswith("profit-maximising"))
    assert f"({p['multiple']:.3g} × the budget given)" in line, line
