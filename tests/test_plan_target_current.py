"""``plan --target-mcpa/--target-mroas --current``: the current plan is compared with the recommendation at the
same budget (the budget given), and the target's budget change is reported apart; the target path reuses the
search's solve of the budget it plans at (bit-identical numbers, one solve fewer)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from conftest import run_cli
from test_plan_headline import _family

from budgetgym.envs import evaluate_plan, load_scenario, solve_oracle
from budgetgym.planner.plan import plan, prob_beats
from budgetgym.planner.plan_text import distribution_rows, fmt, summary_lines

SC = load_scenario("stationary-3")  # conversions, 14 steps, budget 84,000; --target-mcpa 40 moves it to ~41,355


def _equal(sc: Any) -> np.ndarray:
    return np.full((sc.horizon, sc.n_channels), sc.budget.total / (sc.horizon * sc.n_channels))


def test_a_met_target_compares_the_current_plan_at_the_same_budget_and_the_budget_change_apart() -> None:
    """With the target met at half the budget, "uplift vs current" was the plan at 41,355 against the equal split at
    84,000 (-345, -11.4%): a budget cut and a better split in one figure. The current plan is now compared with the
    optimum at the budget given (for a scenario, the oracle's plan there), and the budget change's value is apart."""
    res = plan(SC, target_mcpa=40.0, current="equal", curves=False, lift_design="none")
    assert res.budget_given == SC.budget.total and res.budget < 0.6 * SC.budget.total  # the case: the budget moved
    oracle = solve_oracle(SC)  # independently: the optimum at the budget given, and the equal split's value
    cur = float(evaluate_plan(SC, _equal(SC)))
    at_target = float(evaluate_plan(SC.override({"budget.total": res.budget}), res.plan))
    assert res.current_value == pytest.approx(cur, rel=1e-12)
    assert res.same_budget_value == pytest.approx(oracle.expected_reward, rel=1e-9)
    assert res.same_budget_plan is not None and float(res.same_budget_plan.sum()) == pytest.approx(SC.budget.total)

    c = res.summary()["current"]
    assert c["same_budget"] == SC.budget.total
    assert c["same_budget_uplift"] == pytest.approx(oracle.expected_reward - cur, rel=1e-9)
    assert c["same_budget_uplift"] > 0 > c["uplift"]  # a better split, a smaller budget
    assert c["same_budget_uplift_pct"] == pytest.approx(100 * (oracle.expected_reward - cur) / cur, rel=1e-9)
    assert c["budget_change"] == pytest.approx(res.budget - SC.budget.total, rel=1e-12)
    assert c["budget_change_value"] == pytest.approx(at_target - oracle.expected_reward, rel=1e-9)
    assert c["uplift"] == pytest.approx(at_target - cur, rel=1e-9)  # kept: recommended vs current, both parts
    assert c["uplift"] == pytest.approx(c["same_budget_uplift"] + c["budget_change_value"], rel=1e-12)

    # channels.csv: the recommendation at the budget given per channel, after every earlier column
    ch = res.channels
    assert list(ch.columns[-2:]) == ["same_budget_spend", "same_budget_outcome"]
    np.testing.assert_allclose(ch["same_budget_spend"], oracle.plan.sum(axis=0), rtol=1e-6, atol=1e-6)

    # the text: the same budget's uplift first, then the budget change, labelled; no bare mixed "uplift"
    lines = summary_lines(res)
    scale = abs(res.value)
    same = next(s for s in lines if "at the same budget" in s)
    assert f"vs current (equal split) {fmt(cur, scale=scale)}" in same, same
    assert f"uplift {fmt(oracle.expected_reward - cur, signed=True, scale=scale)}" in same, same
    change = next(s for s in lines if s.startswith("the target's budget change"))
    assert "84,000 to 41,355" in change and "the budget change and the split together" in change, change
    assert not any(s.startswith("expected conversions: recommended") for s in lines), lines


def test_without_a_moved_budget_the_same_budget_uplift_is_the_uplift() -> None:
    """No target (or one not reached): the recommendation is at the budget given, so the two uplifts are one."""
    for kwargs in ({}, {"target_mcpa": 1e12}):
        res = plan(SC, current="equal", curves=False, lift_design="none", **kwargs)
        c = res.summary()["current"]
        assert res.same_budget_value is None and "same_budget_spend" not in res.channels.columns
        assert c["same_budget_uplift"] == c["uplift"] and c["budget_change"] == 0.0 == c["budget_change_value"]
        assert any(s.startswith("expected conversions: recommended") for s in summary_lines(res))


def test_a_family_scores_the_same_budget_plan_on_the_held_out_draws() -> None:
    """For a family the held-out comparison mixed the budget change too: draws.csv adds ``same_budget`` (the plan at
    the budget given, as planned without the target) and ``prob_beats_current_same_budget`` is over it."""
    fam = _family()
    res = plan(fam, draws=8, target_mcpa=10.0, current="equal", curves=False, lift_design="none")
    assert res.budget_given is not None and res.draw_values is not None  # the case: the target moved the budget
    plain = plan(fam, draws=8, current="equal", curves=False, lift_design="none")
    assert plain.draw_values is not None
    np.testing.assert_array_equal(res.same_budget_plan, plain.plan)
    dv = res.draw_values
    np.testing.assert_array_equal(dv["same_budget"], plain.draw_values["recommended"])
    np.testing.assert_array_equal(dv["current"], plain.draw_values["current"])
    same_beats = float(np.mean((dv["same_budget"] > dv["current"]) + 0.5 * (dv["same_budget"] == dv["current"])))
    assert res.prob_beats_current_same_budget == pytest.approx(same_beats)
    assert res.prob_beats_current_same_budget == prob_beats(dv["same_budget"].to_numpy(), dv["current"].to_numpy())
    assert res.summary()["prob_beats_current_same_budget"] == res.prob_beats_current_same_budget
    rows = distribution_rows(res)
    assert rows is not None and rows[1][-1][0] == "recommended at the budget given" and rows[2] is not None
    assert f"P(recommended at the budget given beats current), the same budget: {same_beats:.2f}" in rows[2]


def test_the_cli_writes_the_same_budget_comparison(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "p"
    code, printed, _ = run_cli(capsys, "plan", "stationary-3", "--target-mcpa", "40", "--current", "equal",
                               "--out", str(out), "--no-plots")
    assert code == 0, printed
    summary = json.loads((out / "summary.json").read_text())
    assert summary["current"]["same_budget"] == 84000.0 and summary["current"]["same_budget_uplift"] > 0
    channels = pd.read_csv(out / "channels.csv")
    assert channels["same_budget_spend"].sum() == pytest.approx(84000.0, rel=1e-9)
    assert "at the same budget, the budget given 84,000" in printed
    assert "at the same budget, the budget given 84,000" in (out / "report.md").read_text()


def test_a_target_not_reached_reuses_the_searchs_solve_of_the_budget(monkeypatch: pytest.MonkeyPatch) -> None:
    """A target not reached keeps the plan at the budget given, which the search solved first (then doubled 10 times:
    11 budgets); the recommendation solved it again from scratch, a 12th oracle solve. It reuses that solve now, and
    its numbers are those of the plan without a target, to the last bit."""
    import budgetgym.planner.problem as problem_module

    plain = plan(SC, current="equal", curves=False, lift_design="none")
    calls: list[float] = []
    original = problem_module.solve_oracle

    def counting(scenario: Any, *args: Any, **kwargs: Any) -> Any:
        calls.append(scenario.budget.total)
        return original(scenario, *args, **kwargs)

    monkeypatch.setattr(problem_module, "solve_oracle", counting)
    res = plan(SC, target_mcpa=1e12, current="equal", curves=False, lift_design="none")
    assert res.target is not None and res.target["plan_at"] == "budget"
    assert len(calls) == len(set(calls)) == 11, calls  # each budget searched once, the budget given among them
    assert calls[0] == SC.budget.total
    np.testing.assert_array_equal(res.plan, plain.plan)
    assert res.value == plain.value and res.current_value == plain.current_value
    pd.testing.assert_frame_equal(res.channels, plain.channels)
    np.testing.assert_array_equal(res.static_plan, plain.static_plan)
