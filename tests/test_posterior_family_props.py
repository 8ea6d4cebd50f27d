"""Families calibrated from an MMM posterior can be planned and played (hypothesis).

``conftest.posterior_families``: random valid PyMC-Marketing posteriors (one to three channels, logistic or
Hill curves, geometric adstock by retention or half-life or none, spend and KPI scales over many orders of
magnitude, either reward) converted by ``family_from_posterior``, as ``budgetgym calibrate``'s PyMC-Marketing
path does. For any of them the planner's recommendation (``budgetgym plan``'s library function) is a plan
every draw of the family can play (``check_plan``), worth at least the equal split under the family's own
valuation (its objective over the draws it plans on: the mean, or a CVaR) up to the solver's tolerance,
with finite numbers throughout; played in the single environment on a draw of the family it spends
``B/T`` a step and never more than the budget, with finite observations and rewards, and its expected
rewards are ``evaluate_plan``'s values of the spend it made.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from conftest import posterior_families
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from budgetgym.envs import ChannelBudgetEnv, check_plan, evaluate_plan
from budgetgym.envs.allocation import split_to_action
from budgetgym.planner import plan

SETTINGS = settings(
    max_examples=8, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large]
)
#: How far the equal split may be worth more than the recommendation: the solver stops at a relative 1e-6
#: (``conftest.oracle_tolerance``'s), plus the smallest normal float for values that are all but zero.
VALUE_RTOL = 1e-6


@SETTINGS
@given(fam=posterior_families(), objective=st.sampled_from(["mean", "cvar:0.5"]), seed=st.integers(0, 2**16))
def test_a_posterior_familys_plan_is_playable_finite_and_not_beaten_by_the_equal_split(
    fam: Any, objective: str, seed: int
) -> None:
    sc = fam.nominal()
    B, T = sc.budget.total, sc.horizon
    res = plan(fam, draws=3, objective=objective, current="equal", curves=False, lift_design="none")
    X = np.asarray(res.plan)
    members = [fam.sample(i, "train") for i in range(3)]
    for member in [sc, *members]:
        assert check_plan(member, X) == []
    assert np.all(np.isfinite(X)) and np.all(X >= 0) and math.fsum(X.ravel()) <= B * (1 + 1e-12)
    values = (res.value, res.static_value, res.baseline_value, res.current_value)
    assert all(v is not None and np.isfinite(v) for v in values), values
    assert res.current_value is not None and res.current is not None
    np.testing.assert_allclose(res.current, np.full((T, sc.n_channels), B / T / sc.n_channels), rtol=1e-12)
    assert res.value >= res.current_value - VALUE_RTOL * max(abs(res.value), abs(res.current_value)) - 2.3e-308, (
        res.value, res.current_value)
    assert res.draw_values is not None and np.all(np.isfinite(res.draw_values.to_numpy(float)))

    # played on a draw of the family (the env draws it from the seed)
    env = ChannelBudgetEnv(fam)
    obs, _ = env.reset(seed=seed)
    infos = []
    for t in range(T):
        split = X[t] / X[t].sum() if X[t].sum() > 0 else np.full(sc.n_channels, 1.0 / sc.n_channels)
        obs, reward, _, _, info = env.step(split_to_action(split, env.scenario.action.logit_scale).astype(np.float32))
        assert np.all(np.isfinite(obs)) and math.isfinite(float(reward)) and math.isfinite(info["expected_reward"])
        assert np.all(np.isfinite(info["spend"])) and np.all(info["spend"] >= 0)
        assert math.isclose(float(np.sum(info["spend"])), B / T, rel_tol=3e-9)
        infos.append(info)
    spend = np.array([i["spend"] for i in infos])
    assert math.fsum(spend.ravel()) <= B * (1 + 1e-12)
    steps = evaluate_plan(env.scenario, spend, path=env.path, per_step=True)
    np.testing.assert_allclose(steps, [i["expected_reward"] for i in infos], rtol=1e-12, atol=1e-300)
