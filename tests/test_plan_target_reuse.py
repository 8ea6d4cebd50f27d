"""``plan`` with a target reuses what its search computed at the budget it plans at: a target met, the search's solve
there (warm-started from a neighbour, it holds the cold solve the recommendation makes); either way the outcome and
marginal returns of that solve. The numbers are those of a plan solved from scratch, to the last bit."""

from __future__ import annotations

import importlib
from typing import Any

import numpy as np
import pandas as pd
import pytest
from test_plan_headline import _family

from budgetgym.envs import ScenarioFamily, load_scenario
from budgetgym.planner import plan_steps
from budgetgym.planner import problem as problem_module
from budgetgym.planner.plan import PlanResult, plan
from budgetgym.planner.problem import PlanningProblem

plan_module = importlib.import_module("budgetgym.planner.plan")  # the module (the package exports the function)

FAMILY = _family()  # concave (Hill slope 1), conversions, 4 steps of 1,000; 8 train members
DRAWS = 4


def _fresh(monkeypatch: pytest.MonkeyPatch, **kwargs: Any) -> PlanResult:
    """``plan`` with no solve reused: the recommendation solved from scratch at its budget."""
    with monkeypatch.context() as m:
        m.setattr(plan_steps, "reused_solve", lambda points, budget: None)
        return plan(FAMILY, draws=DRAWS, curves=False, lift_design="none", **kwargs)


def _same(a: PlanResult, b: PlanResult) -> None:
    np.testing.assert_array_equal(a.plan, b.plan)
    assert a.budget == b.budget and a.value == b.value and a.budget_marginal == b.budget_marginal
    np.testing.assert_array_equal(a.static_plan, b.static_plan)
    pd.testing.assert_frame_equal(a.channels, b.channels)
    assert a.target == b.target and a.current_value == b.current_value
    assert a.same_budget_value == b.same_budget_value


def _met_target(objective: str) -> float:
    """A marginal CPA met below the budget given: 80% of the plan's there (the CPA rises with the budget)."""
    res = plan(FAMILY, draws=DRAWS, objective=objective, curves=False, lift_design="none")
    return 0.8 * res.budget_marginal["mcpa"]


@pytest.mark.parametrize("objective", ["mean", "cvar:0.5"])
def test_a_met_target_reuses_the_searchs_interior_point_solve_of_its_budget(
    monkeypatch: pytest.MonkeyPatch, objective: str
) -> None:
    """The search solves the met budget warm-started from a neighbour and from the interior point: the latter is the
    very solve the recommendation then made again from scratch there. It is taken as it is now, with the same
    numbers as the fresh solve."""
    target = _met_target(objective)
    fresh = _fresh(monkeypatch, target_mcpa=target, current="equal", objective=objective)
    calls: list[tuple[float, bool]] = []
    original = problem_module.candidate_plans

    def counting(scenario: Any, *args: Any, start: np.ndarray | None = None, **kwargs: Any) -> list[np.ndarray]:
        calls.append((scenario.budget.total, start is None))
        return original(scenario, *args, start=start, **kwargs)

    monkeypatch.setattr(problem_module, "candidate_plans", counting)
    res = plan(FAMILY, draws=DRAWS, target_mcpa=target, current="equal", objective=objective, curves=False,
               lift_design="none")
    assert res.target is not None and res.target["plan_at"] == "target"
    assert res.budget < 0.95 * FAMILY.nominal().budget.total  # the case: the budget moved
    # the met budget's interior-point solve: the search's alone (the recommendation's was a second)
    assert calls.count((res.budget, True)) == 1, calls
    _same(res, fresh)


def test_a_target_not_reached_takes_the_searchs_outcome_and_marginals(monkeypatch: pytest.MonkeyPatch) -> None:
    """A target not reached plans at the budget given with the search's solve of it, whose outcome and marginal
    returns the search computed: the recommendation computed them again; now it takes them (the same numbers)."""
    fresh = _fresh(monkeypatch, target_mcpa=1e12)
    calls: list[float] = []
    original = plan_module.budget_marginal

    def counting(*args: Any, **kwargs: Any) -> dict[str, float]:
        calls.append(args[2])
        return original(*args, **kwargs)

    monkeypatch.setattr(plan_module, "budget_marginal", counting)
    res = plan(FAMILY, draws=DRAWS, target_mcpa=1e12, curves=False, lift_design="none")
    assert res.target is not None and res.target["plan_at"] == "budget"
    assert calls == []  # fresh computed it in plan() once
    _same(res, fresh)


def test_the_interior_point_solve_of_a_warm_start_is_the_cold_solves() -> None:
    """A family's solve warm-started at a budget makes the interior point's solve of a cold one there, to the bit:
    given it, the cold solve's candidates are those solved from scratch, for concave and S-shaped members (whose
    cold solve adds the nominal campaign's oracle plan as a start). A scenario solves once, from its start."""
    channels = [{"name": n, "cost": {"unit": "click", "price": 1.0, "ref_spend": 1e6, "elasticity": 0.0},
                 "saturation": {"type": "hill", "max_response": 300.0, "half_saturation": 900.0, "slope": 2.5}}
                for n in ("a", "b")]
    template = {"name": "s", "horizon": 4, "budget": {"total": 4000.0}, "reward": "conversions", "channels": channels}
    ensemble = [{"channels.0.saturation.max_response": 200.0 + 37.0 * j} for j in range(5)]
    s_shaped = PlanningProblem(ScenarioFamily("s", template, ensemble=ensemble, test_fraction=0.2), draws=4)
    assert not s_shaped.concave
    for problem in (PlanningProblem(FAMILY, draws=DRAWS), s_shaped):
        cold = problem.candidates()
        start = np.full_like(cold[0], 1000.0 / cold[0].shape[1])
        interior = problem.interior_part(problem.candidates(start))
        assert interior is not None and len(interior) == 1
        again = problem.candidates(interior=interior)
        assert again[0] is interior[0] and len(again) == len(cold)
        for a, b in zip(again, cold, strict=True):
            np.testing.assert_array_equal(a, b)
    scenario = PlanningProblem(load_scenario("stationary-3"))
    assert scenario.interior_part(scenario.candidates()) is None
