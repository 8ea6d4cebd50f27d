"""Random families with ``vary`` ranges can be planned (hypothesis).

``conftest.families``: a random valid campaign (half of them at the schema's edges) with ``loguniform`` or
``uniform`` ranges on its unknowns, or a segmented one whose draws choose between its segments and its
first segment alone (so the planner's draws differ in their number of segments). For any of them the
recommendation of ``budgetgym plan``'s library function is playable under the family's brief
(``check_plan``, on the nominal campaign and on draws), every number it reports is finite, and it is not
beaten by the equal split under the family's own valuation (its objective over the draws it plans on) up
to the solver's tolerance, nor by its own static split: where share bounds make the equal split
unplayable, by the static split alone.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest
from conftest import families
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from budgetgym.envs import check_plan
from budgetgym.planner import plan

#: The solver stops at a relative 1e-6 (``conftest.oracle_tolerance``); values all but zero: the smallest normal float.
VALUE_RTOL = 1e-6


def _not_beaten(value: float, other: float) -> bool:
    return value >= other - VALUE_RTOL * max(abs(value), abs(other)) - float(np.finfo(float).tiny)


@pytest.mark.filterwarnings("ignore::budgetgym.envs.errors.ScenarioWarning")  # a channel reaching no segment
@settings(max_examples=6, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(fam=st.booleans().flatmap(lambda seg: families(segments_differ=seg, max_channels=2, max_horizon=3)),
       objective=st.sampled_from(["mean", "cvar:0.5"]))
def test_any_familys_plan_is_playable_finite_and_not_beaten_by_the_equal_or_static_split(fam: Any,
                                                                                       objective: str) -> None:
    sc = fam.nominal()
    res = plan(fam, draws=3, objective=objective, current="equal", curves=False, lift_design="none")
    X = np.asarray(res.plan)
    for member in [sc, *fam.draws(2, "train"), *fam.draws(1, "test")]:
        assert check_plan(member, X) == []
    assert np.all(np.isfinite(X)) and math.fsum(X.ravel()) <= sc.budget.total * (1 + 1e-12)
    values = (res.value, res.static_value, res.baseline_value, res.current_value)
    assert all(v is not None and np.isfinite(v) for v in values), values
    assert np.all(np.isfinite(res.channels[["spend", "share", "revenue", "outcome"]].to_numpy(float)))
    if res.is_family:  # a family whose draws vary nothing is a campaign (no held-out draws to value)
        assert res.draw_values is not None and np.all(np.isfinite(res.draw_values.to_numpy(float)))
    assert _not_beaten(res.value, res.static_value), (res.value, res.static_value)
    if res.current_problems == []:  # the equal split is playable (share bounds may forbid it)
        assert res.current_value is not None and _not_beaten(res.value, res.current_value), (
            res.value, res.current_value)
