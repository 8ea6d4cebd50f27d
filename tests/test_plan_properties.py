"""Properties of the plans budgetgym recommends, over random valid campaigns (hypothesis).

For any scenario (``conftest.scenario_dicts``, with or without audience segments), any budget and
horizon in range:

* the oracle's plan, the best constant split's plan and the planner's recommendation and static
  plan are playable (:func:`~budgetgym.envs.check_plan`: finite, non-negative, total <= budget,
  ``B/T`` every step under even pacing, at most ``max_step_multiple * B/T`` a step under agent
  pacing, shares within bounds), and each reported value is ``evaluate_plan`` of its plan;
* no plan is worth more than the oracle's under the same scenario, up to solver tolerance: the
  constant split (a plan the oracle could have chosen), the equal split, and a family's robust plan
  on each draw (against that draw's own oracle). The oracle is the global optimum when every curve is
  concave; with S-shaped curves it is the best of many local solves, and the property still
  holds on these campaigns (a relative 1e-6: the non-concave solves stop at that tolerance).

Tolerance (``conftest.oracle_tolerance``): ``1e-6`` of the oracle's value plus ``1e-9`` of the
reward's scale (the reward at saturation everywhere, plus the budget for a profit reward: an
agent-paced profit oracle that should spend nothing keeps a spend of ~1e-9 B inside the barrier).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from conftest import any_scenario_dicts, oracle_tolerance, scenario_dicts, segmented_scenario_dicts
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from budgetgym.envs import (
    Scenario,
    best_constant_split,
    check_plan,
    evaluate_plan,
    scenario_from_dict,
    solve_oracle,
)
from budgetgym.envs.family import ScenarioFamily
from budgetgym.envs.scenario_parts import MAX_AMOUNT, MIN_AMOUNT
from budgetgym.planner.plan import plan

SETTINGS = settings(
    max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large]
)

any_campaign = st.one_of(
    scenario_dicts(max_channels=4, max_horizon=6), segmented_scenario_dicts(max_channels=4, max_horizon=6)
)
#: Campaigns with about a third of their fields at an end of the schema's range (``conftest.scenario_dicts``).
edge_campaign = st.one_of(
    scenario_dicts(max_channels=4, max_horizon=6, edges=True),
    segmented_scenario_dicts(max_channels=4, max_horizon=6, edges=True),
)


def _playable(sc: Scenario, X: np.ndarray, value: float, what: str) -> None:
    assert X.shape == (sc.horizon, sc.n_channels), what
    assert np.all(np.isfinite(X)) and np.isfinite(value), what
    assert check_plan(sc, X) == [], (what, check_plan(sc, X))
    assert X.sum() <= sc.budget.total * (1 + 1e-9), what
    if sc.budget.pacing == "agent":
        assert np.all(X.sum(axis=1) <= sc.step_cap * (1 + 1e-9)), what
    assert value == pytest.approx(float(evaluate_plan(sc, X)), rel=1e-9, abs=1e-300), what


def _budget(total: float) -> float:
    """``total`` moved into the range of budgets the schema accepts."""
    return min(max(total, MIN_AMOUNT), MAX_AMOUNT)


@SETTINGS
@given(d=any_campaign, data=st.data())
def test_oracle_and_constant_split_are_playable_and_nothing_beats_the_oracle(d: dict[str, Any], data: Any) -> None:
    # any budget (1e-3 .. 1e3 times the drawn one) and horizon (1 .. 8)
    d["budget"]["total"] *= 10.0 ** data.draw(st.floats(-3.0, 3.0), label="log10 budget multiple")
    d["horizon"] = data.draw(st.integers(1, 8), label="horizon")
    d["shocks"] = [s for s in d["shocks"] if s["start"] < d["horizon"]]
    _assert_oracle_unbeaten(scenario_from_dict(d, source="hypothesis scenario"))


@settings(SETTINGS, max_examples=10)
@given(d=edge_campaign)
def test_at_the_schemas_edges_the_oracle_and_constant_split_are_playable_and_unbeaten(d: dict[str, Any]) -> None:
    # fields at either end of what the schema accepts (budgets 1e-9 and 1e15, slopes 10, windows 1000, ...)
    _assert_oracle_unbeaten(scenario_from_dict(d, source="hypothesis edge scenario"))


def _assert_oracle_unbeaten(sc: Scenario) -> None:
    """The oracle's and the best constant split's plans are playable and worth their reported values;
    neither the constant split nor the equal split (where the share bounds allow it) beats the oracle."""
    o = solve_oracle(sc)
    _playable(sc, o.plan, o.expected_reward, "oracle")
    c = best_constant_split(sc)
    _playable(sc, c.plan, c.expected_reward, "constant split")
    lo, hi = sc.share_bound_arrays
    assert c.shares.sum() == pytest.approx(1.0) and np.all(c.shares >= lo - 1e-9) and np.all(c.shares <= hi + 1e-9)
    np.testing.assert_allclose(c.plan, np.broadcast_to(c.plan[0], c.plan.shape))  # one split, even flighting
    tol = oracle_tolerance(sc, o.expected_reward)
    assert c.expected_reward <= o.expected_reward + tol, (c.expected_reward, o.expected_reward)
    equal = np.tile(np.full(sc.n_channels, sc.step_budget / sc.n_channels), (sc.horizon, 1))
    if not check_plan(sc, equal):  # the equal split is a plan of this campaign (its share bounds allow it)
        assert float(evaluate_plan(sc, equal)) <= o.expected_reward + tol


@settings(max_examples=6, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(d=any_scenario_dicts(max_channels=3, max_horizon=4), data=st.data())
def test_the_recommendation_at_any_budget_and_horizon_is_the_oracle(d: dict[str, Any], data: Any) -> None:
    """``plan`` with any budget and horizon in range: the recommendation and the static plan are playable
    under the changed campaign, the recommendation is worth the oracle's value there (it is the oracle),
    the static plan no more. Half the campaigns have fields at the schema's edges."""
    sc0 = scenario_from_dict(d, source="hypothesis scenario")
    budget = _budget(sc0.budget.total * 10.0 ** data.draw(st.floats(-2.0, 2.0), label="log10 budget multiple"))
    horizon = data.draw(st.integers(max(s["start"] for s in d["shocks"]) + 1 if d["shocks"] else 1, 5), label="T")
    res = plan(sc0, budget=budget, horizon=horizon, curves=False, lift_design="none")
    sc = sc0.override({"budget.total": budget, "horizon": horizon})
    o = solve_oracle(sc)
    tol = oracle_tolerance(sc, o.expected_reward)
    _playable(sc, res.plan, res.value, "recommendation")
    _playable(sc, res.static_plan, res.static_value, "static plan")
    assert res.value == pytest.approx(o.expected_reward, abs=tol)
    assert res.static_value <= res.value + tol


@settings(max_examples=4, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(d=scenario_dicts(max_channels=2, max_horizon=4), data=st.data())
def test_a_familys_robust_plan_is_playable_on_every_draw_and_never_beats_its_oracle(
    d: dict[str, Any], data: Any
) -> None:
    """A family's robust plan (four draws of any campaign, every height scaled 0.3-3, one held out), valued
    on each of its draws, is playable there and worth no more than that draw's own oracle."""
    K = len(d["channels"])
    rows = data.draw(st.lists(st.lists(st.floats(0.3, 3.0), min_size=K, max_size=K), min_size=4, max_size=4))
    ensemble = [{f"channels.{i}.saturation.max_response": d["channels"][i]["saturation"]["max_response"] * f
                 for i, f in enumerate(row)} for row in rows]
    fam = ScenarioFamily("prop", d, ensemble=ensemble, test_fraction=0.25)
    robust = plan(fam, draws=3, curves=False, lift_design="none")
    _playable(fam.nominal(), robust.plan, float(evaluate_plan(fam.nominal(), robust.plan)), "robust plan")
    for split, n in (("train", 3), ("test", 1)):
        for draw in fam.draws(n, split):  # type: ignore[arg-type]
            od = solve_oracle(draw)
            assert check_plan(draw, robust.plan) == []
            tol = oracle_tolerance(draw, od.expected_reward)
            assert float(evaluate_plan(draw, robust.plan)) <= od.expected_reward + tol
