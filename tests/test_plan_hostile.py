"""The planner on small hand-made campaigns whose answer is known by hand or from an independent
solver: curves with a closed-form optimum, profit under agent pacing, and the like."""

from __future__ import annotations

import itertools
import math
from typing import Any

import numpy as np
import pytest

from budgetgym.envs import check_plan, scenario_from_dict
from budgetgym.envs.family import ScenarioFamily
from budgetgym.planner.plan import plan
from budgetgym.planner.problem import PlanningProblem
from budgetgym.planner.robust import Objective, solve_with_weights


def channel(name: str, beta: float, kappa: float, *, slope: float = 1.0, value: float | None = None,
            **extra: Any) -> dict[str, Any]:
    """A click channel at price 1 (one click per unit of currency), no carry-over, no noise, Hill curve
    ``beta * x^slope / (kappa^slope + x^slope)`` conversions per step of ``x`` clicks."""
    ch: dict[str, Any] = {
        "name": name, "cost": {"unit": "click", "price": 1.0, "ref_spend": 1e6, "elasticity": 0.0, "noise_sd": 0.0},
        "adstock": {"type": "geometric", "decay": 0.0, "window": 4},
        "saturation": {"type": "hill", "max_response": beta, "half_saturation": kappa, "slope": slope},
        **extra,
    }
    if value is not None:
        ch["value"] = {"mean": value}
    return ch


def campaign(channels: list[dict[str, Any]], *, horizon: int = 3, total: float = 3000.0, reward: str = "conversions",
             **budget: Any) -> dict[str, Any]:
    return {"name": "hostile", "horizon": horizon, "step_days": 7, "budget": {"total": total, **budget},
            "reward": reward, "noise": {"conversions": "none"}, "channels": channels}


def test_profit_maximising_budget_of_separable_hill_curves_by_hand() -> None:
    """Profit under agent pacing, no carry-over: each step and channel is on its own, and a Hill curve of
    slope 1 pays back while ``v beta kappa / (kappa + x)^2 > 1``, so the best spend per step is
    ``sqrt(v beta kappa) - kappa`` (261.9 on ``a``; none on ``b``, whose ``sqrt(2 * 100 * 300) < 300``) and the
    profit-maximising budget three times it. The budget 3,000 leaves most unspent and its marginal profit is 0
    up to the solver's rounding: the root search's bracket was re-solved with the other sign and
    ``budgetgym plan`` failed with scipy's "f(a) and f(b) must have different signs"."""
    sc = scenario_from_dict(campaign([channel("a", 300, 900, value=5.0), channel("b", 100, 300, value=2.0)],
                                     reward="profit", pacing="agent", max_step_multiple=2.0))
    res = plan(sc, curves=False)
    best = 3 * (math.sqrt(5.0 * 300 * 900) - 900)
    assert res.profit_max is not None
    assert res.profit_max["budget"] == pytest.approx(best, rel=1e-6)
    assert res.plan.sum() == pytest.approx(best, rel=1e-6)
    assert res.plan[:, 1].sum() == pytest.approx(0.0, abs=1e-6 * best)


def test_cvar_plan_of_s_shaped_draws_that_disagree_is_the_brute_force_optimum() -> None:
    """Four draws of two S-shaped channels (Hill slope 3, no carry-over, two steps): in two draws ``a`` is
    the strong channel, in two ``b``. Split within a step neither clears its threshold; the best CVaR
    (mean of the worst two) pulses, a whole step on each channel, so that every draw gets one good step. The
    cutting planes' best responses, warm-started at the mean plan (all on ``b``), stayed next to it: CVaR
    55.0 against 187.0, below even the best constant split (68.8). Checked against a grid of every step's
    share of ``a`` in 5% steps, scored by the same ``evaluate_plan`` values."""
    template = campaign([channel("a", 300, 1200, slope=3.0), channel("b", 300, 1200, slope=3.0)],
                        horizon=2, total=2000.0)
    heights = [(600, 50), (50, 600), (400, 100), (100, 420), (300, 300)]
    ensemble = [{"channels.0.saturation.max_response": float(a), "channels.1.saturation.max_response": float(b)}
                for a, b in heights]
    problem = PlanningProblem(ScenarioFamily("hostile", template, ensemble=ensemble, test_fraction=0.2), draws=4)
    obj = Objective.parse("cvar:0.5")
    grid = np.linspace(0.0, 1.0, 21)
    share_a = np.array(list(itertools.product(grid, repeat=2)))  # [P, T]
    plans = np.stack([share_a * 1000.0, (1.0 - share_a) * 1000.0], axis=-1)  # [P, T, K], B/T = 1,000 a step
    U = obj.score(problem.member_values(plans))
    best = float(U.max())
    X, _ = solve_with_weights(problem, obj)
    assert check_plan(problem.scenario, X) == []
    assert float(obj.score(problem.member_values(X))[0]) == pytest.approx(best, rel=1e-6)
    assert float(obj.score(problem.member_values(X))[0]) >= best * (1 - 1e-9)
    assert problem.is_family and not problem.concave  # the case under test


def test_a_one_step_window_asks_for_one_row(tmp_path: Any) -> None:
    """A per-step --current for a one-step window said "expected 1 rows (one per step of the window)"."""
    from budgetgym.envs import load_scenario
    from budgetgym.envs.errors import BudgetGymError
    from budgetgym.planner.inputs import read_current

    sc = load_scenario("stationary-3").override({"horizon": 1})
    path = tmp_path / "current.csv"
    path.write_text("step," + ",".join(sc.channel_names) + "\n0,1,1,1\n1,1,1,1\n", encoding="utf-8")
    with pytest.raises(BudgetGymError) as err:
        read_current(str(path), sc)
    assert str(err.value).endswith(": expected 1 row (one per step of the window), got 2"), str(err.value)
