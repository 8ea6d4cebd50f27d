"""The planner library (budgetgym.planner): each number checked against an independent computation.

* the recommendation of a scenario is the oracle's plan (same value to 1e-9);
* a family's robust plan beats, on the mean over the draws, every single draw's own optimum;
* marginal ROAS / conversions per channel match central finite differences of the outcome, and
  the budget's marginal return matches finite differences of re-solved optima;
* the frontier is increasing and concave for concave conversion curves;
* the uplift over a current plan is the difference of ``evaluate_plan`` values;
* CVaR never below the mean plan's; the static plan never above the recommendation.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from conftest import (
    CHEAP_S_CURVE_OPTIMUM,
    any_scenario_dicts,
    base_scenario_dict,
    channel,
    cheap_s_curve_scenario,
    scenario_dicts,
)
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from budgetgym.envs import (
    best_constant_split,
    check_plan,
    evaluate_plan,
    load_scenario,
    scenario_from_dict,
    solve_oracle,
)
from budgetgym.envs.family import ScenarioFamily, family_from_dict
from budgetgym.envs.scenario_parts import MAX_AMOUNT, MIN_AMOUNT
from budgetgym.planner.frontier import budget_for_target, parse_sweep, solve_level, sweep_budgets
from budgetgym.planner.metrics import (
    ZERO_RTOL,
    budget_marginal,
    channel_table,
    without_free_residue,
    without_residue,
)
from budgetgym.planner.plan import plan
from budgetgym.planner.problem import PlanningProblem
from budgetgym.planner.robust import Objective, solve_for, static_for, tail_game

MEAN = Objective()


def concave_family(seed: int = 5, scenario: str | dict[str, Any] = "stationary-3") -> ScenarioFamily:
    """stationary-3 (14 steps, concave Hill curves; or ``scenario``, a changed copy of it) with uncertain
    saturation levels and half-saturations."""
    vary: dict[str, Any] = {}
    for i, (beta, kappa) in enumerate([(420, 2500), (120, 900_000), (90, 600_000)]):
        vary[f"channels.{i}.saturation.max_response"] = {"dist": "loguniform", "low": beta / 2.5, "high": beta * 2.5}
        vary[f"channels.{i}.saturation.half_saturation"] = {"dist": "loguniform", "low": kappa / 3, "high": kappa * 3}
    return family_from_dict({"family": "s3-family", "seed": seed, "scenario": scenario, "vary": vary}, "test")


# ----------------------------------------------------------------------------- the recommendation
@pytest.mark.parametrize("name", ["stationary-3", "delayed-5", "pulse-4"])
def test_recommendation_of_a_scenario_is_the_oracle(name: str, shared_plan: Any, shared_oracle: Any) -> None:
    res = shared_plan(name, curves=False)
    oracle = shared_oracle(name)
    assert res.value == pytest.approx(oracle.expected_reward, rel=1e-9)
    # the oracle's plan without its rounding of 0 on a channel it drops (stationary-3: 1.1e-4 of 84,000)
    np.testing.assert_allclose(res.plan, without_residue(oracle.plan), rtol=1e-9, atol=1e-9 * res.budget)
    # and the value is evaluate_plan's: the channel outcomes sum to it
    assert res.channels["outcome"].sum() == pytest.approx(float(evaluate_plan(name, res.plan)), rel=1e-9)


def test_recommendation_with_history_is_the_oracle_with_history() -> None:
    sc = load_scenario("stationary-3")
    hist = np.tile([3000.0, 500.0, 9000.0], (10, 1))
    res = plan(sc, history=hist, curves=False)
    oracle = solve_oracle(sc, history=hist)
    assert res.value == pytest.approx(oracle.expected_reward, rel=1e-9)
    assert res.history_steps == 10
    # with no spend in the window the outcome is what the history still brings, and it is positive
    assert res.baseline_value == pytest.approx(float(evaluate_plan(sc, np.zeros_like(res.plan), history=hist)))
    assert res.baseline_value > 0
    # the carried-in conversions are not credited to the window's spend: ROAS uses incremental revenue
    row = res.channels.iloc[2]
    assert row["roas"] == pytest.approx((row["revenue"] - row["baseline_conversions"] * 1.0) / row["spend"], rel=1e-9)


def test_table_note_gives_the_carry_in_the_table_includes_under_cvar() -> None:
    """Under CVaR the per-channel table holds means over the draws, carry-in included, but its note gave
    the CVaR of the no-spend plan as that carry-in (13,508 where the table held 25,633 on
    retail-5-family); the summary's carry-in line stays the objective's."""
    from budgetgym.planner.report import fmt, summary_lines, table_note

    fam = concave_family()
    hist = np.array([[3000.0, 2000.0, 1000.0], [5000.0, 500.0, 3000.0]])
    res = plan(fam, draws=4, history=hist, objective="cvar:0.5", curves=False, lift_design="none")
    carry = float(res.channels["baseline_conversions"].sum())  # the table's carry-in: the mean over the draws
    problem = PlanningProblem(fam, draws=4, history=hist)
    zero = problem.member_values(np.zeros_like(res.plan))[:, 0]
    assert carry == pytest.approx(zero.mean(), rel=1e-9)
    assert res.baseline_value == pytest.approx(np.sort(zero)[:2].mean(), rel=1e-9)
    assert res.baseline_value < carry * 0.99  # the case under test: the two differ
    assert f"({fmt(carry, scale=res.value)} with no spend in the window)" in table_note(res)
    assert any(f"history: {fmt(res.baseline_value, scale=abs(res.value))} conversions" in line
               for line in summary_lines(res))


def test_channels_planned_beyond_the_history_are_flagged() -> None:
    """With a history, each channel's largest step there and the plan's largest step as a multiple
    of it; the channels above 1 are listed (summary.json) and named in the report's sentences."""
    from budgetgym.planner.report import summary_lines

    sc = load_scenario("stationary-3")  # after this history its plan spends on search and social
    hist = np.array([[1000.0, 0.0, 1e7], [2000.0, 0.0, 0.0]])  # search below the plan, social never, video far above
    res = plan(sc, history=hist, curves=False)
    peak = res.plan.max(axis=0)
    assert peak[2] < ZERO_RTOL * peak.max()  # video: the solver's rounding of 0 (metrics.spent), no spend
    np.testing.assert_array_equal(res.channels["history_max_spend"], [2000.0, 0.0, 1e7])
    np.testing.assert_allclose(res.channels["vs_history_max"], [peak[0] / 2000.0, np.inf, 0.0])
    assert peak[0] > 2000.0 and peak[2] < 1e7
    assert res.beyond_history == [
        {"channel": "search", "plan_max_step": pytest.approx(peak[0]), "history_max_step": 2000.0,
         "multiple": pytest.approx(peak[0] / 2000.0)},
        {"channel": "social", "plan_max_step": pytest.approx(peak[1]), "history_max_step": 0.0, "multiple": None},
    ]
    assert res.summary()["beyond_history"] == res.beyond_history
    line = next(x for x in summary_lines(res) if x.startswith("beyond the history"))
    assert "search up to" in line and "social up to" in line and "never spent in the history" in line
    assert "video" not in line
    # without a history: no such columns, no list
    plain = plan(sc, curves=False)
    assert "history_max_spend" not in plain.channels and plain.beyond_history is None
    assert "beyond_history" not in plain.summary()


def test_budget_and_horizon_changes_are_the_oracle_of_the_changed_scenario() -> None:
    res = plan("stationary-3", budget=50_000, horizon=10, curves=False)
    oracle = solve_oracle(load_scenario("stationary-3").override({"budget.total": 50_000, "horizon": 10}))
    assert res.plan.shape == (10, 3)
    assert res.plan.sum() == pytest.approx(50_000)
    assert res.value == pytest.approx(oracle.expected_reward, rel=1e-9)


# ----------------------------------------------------------------------------- robust plans
def test_robust_plan_beats_every_single_draw_plan_on_the_mean() -> None:
    problem = PlanningProblem(concave_family(), draws=6)
    robust = problem.solve()
    mean_robust = problem.value(robust)
    for member in problem.members:
        own = solve_oracle(member.scenario, path=member.path).plan  # optimal for that draw alone
        assert problem.value(own) <= mean_robust * (1 + 1e-9)
    # and it is not one of them: on a draw it was not tuned to it is below that draw's optimum
    m0 = problem.members[0]
    assert float(m0.values(robust[None])[0]) < solve_oracle(m0.scenario, path=m0.path).expected_reward


def test_cvar_plan_has_at_least_the_mean_plans_cvar_and_is_scored_out_of_sample() -> None:
    fam = concave_family()
    problem = PlanningProblem(fam, draws=10)
    cvar = Objective.parse("cvar:0.2")
    mean_plan = solve_for(problem, MEAN)
    cvar_plan = solve_for(problem, cvar)
    v_mean, v_cvar = problem.member_values(mean_plan)[:, 0], problem.member_values(cvar_plan)[:, 0]
    worst = lambda v: np.sort(v)[:2].mean()  # noqa: E731 - the worst 20% of 10 draws, by hand
    assert worst(v_cvar) >= worst(v_mean) - 1e-9 * abs(worst(v_mean))
    assert v_cvar.mean() <= v_mean.mean() * (1 + 1e-9)  # the mean plan is the best on the mean
    # the static plan under CVaR: at least the CVaR of the mean's static split, and still a constant split
    q_mean, static_mean, _ = static_for(problem, MEAN)
    q_cvar, static_cvar, u_cvar = static_for(problem, cvar)
    assert u_cvar == pytest.approx(worst(problem.member_values(static_cvar)[:, 0]), rel=1e-12)
    assert u_cvar >= worst(problem.member_values(static_mean)[:, 0]) - 1e-9 * abs(u_cvar)
    np.testing.assert_allclose(static_cvar, np.tile(q_cvar * problem.scenario.step_budget, (14, 1)), rtol=1e-9)
    res = plan(fam, draws=10, objective="cvar:0.2", current="equal", curves=False)
    assert res.value == pytest.approx(worst(v_cvar), rel=1e-6)
    held_out = [float(evaluate_plan(s, res.plan)) for s in fam.draws(10, "test")]
    assert res.distribution is not None
    assert res.distribution["recommended"]["mean"] == pytest.approx(np.mean(held_out), rel=1e-9)
    assert res.distribution["recommended"]["p50"] == pytest.approx(np.percentile(held_out, 50), rel=1e-9)
    equal = [float(evaluate_plan(s, res.current)) for s in fam.draws(10, "test")]
    assert res.prob_beats_current == pytest.approx(np.mean(np.array(held_out) > np.array(equal)))


#: Two four-member families of a hand-made campaign whose three channels differ only in their
#: heights (and a's, c's carry-over): at the CVaR optimum two members tie at the edge of the worst set.
TIED = {
    "cvar:0.5": [[273, 159, 100], [369, 214, 420], [160, 568, 251], [108, 396, 560], [292, 575, 325]],
    "cvar:0.25": [[346, 294, 562], [72, 453, 388], [66, 446, 59], [467, 332, 561], [86, 513, 87]],
}


def tied_problem(heights: list[list[int]], value: float | None = None) -> PlanningProblem:
    """Four train members (one of the five held out): 4 weeks of 1,000, three click channels with
    Hill curves of half-saturation 900, heights ``heights``; no noise. With ``value`` the reward is
    revenue at that value per conversion."""
    channels = [
        {"name": n, "cost": {"unit": "click", "price": 1.0, "ref_spend": 1e6, "elasticity": 0.0, "noise_sd": 0.0},
         "adstock": {"type": "geometric", "decay": d, "window": 4},
         "saturation": {"type": "hill", "max_response": 300.0, "half_saturation": 900.0, "slope": 1.0}}
        for n, d in [("a", 0.3), ("b", 0.0), ("c", 0.5)]
    ]
    for ch in channels if value is not None else []:
        ch["value"] = {"mean": value}
    template = {"name": "tied", "horizon": 4, "step_days": 7, "budget": {"total": 4000.0},
                "reward": "conversions" if value is None else "revenue", "noise": {"conversions": "none"},
                "channels": channels}
    ensemble = [{f"channels.{i}.saturation.max_response": float(b) for i, b in enumerate(h)} for h in heights]
    return PlanningProblem(ScenarioFamily("tied", template, ensemble=ensemble, test_fraction=0.2), draws=4)


def _slsqp_cvar(problem: PlanningProblem, k: int, starts: list[np.ndarray]) -> float:
    """The best CVaR (mean of the ``k`` worst members) scipy's SLSQP reaches from ``starts`` on the
    Rockafellar-Uryasev form, written here: maximise ``t - sum_n s_n / k`` over the plan ``X`` (even
    pacing: each step spends B/T), ``t`` and ``s_n >= max(0, t - J_n(X))``, with ``J_n`` evaluate_plan."""
    from scipy.optimize import minimize

    sc = problem.scenario
    T, K, unit, N = sc.horizon, sc.n_channels, sc.step_budget, len(problem.members)
    n = T * K
    grad_f = np.concatenate([np.zeros(n), [-1.0], np.full(N, 1.0 / k)])

    def lack(z: np.ndarray) -> np.ndarray:  # s_n - (t - J_n(X)) >= 0
        return z[n + 1:] - z[n] + problem.member_values(z[:n].reshape(T, K))[:, 0]

    def lack_jac(z: np.ndarray) -> np.ndarray:
        out = np.zeros((N, len(z)))
        for i, m in enumerate(problem.members):
            out[i, :n] = m.expected.derivatives(z[:n].reshape(T, K), hessian=False)[1].ravel()
        out[:, n] = -1.0
        out[np.arange(N), n + 1 + np.arange(N)] = 1.0
        return out

    cons = [{"type": "ineq", "fun": lack, "jac": lack_jac}] + [
        {"type": "eq", "fun": lambda z, t=t: z[:n].reshape(T, K)[t].sum() / unit - 1.0} for t in range(T)]
    best = -np.inf
    for X0 in starts:
        J = problem.member_values(X0)[:, 0]
        t0 = np.sort(J)[k - 1]
        res = minimize(lambda z: (float(grad_f @ z), grad_f), np.concatenate([X0.ravel(), [t0], np.maximum(t0 - J, 0)]),
                       jac=True, method="SLSQP", bounds=[(0.0, unit)] * n + [(None, None)] + [(0.0, None)] * N,
                       constraints=cons, options={"maxiter": 500, "ftol": 1e-12})
        X = np.maximum(res.x[:n].reshape(T, K), 0.0)
        X *= unit / X.sum(axis=1, keepdims=True)  # exactly feasible before it is scored
        best = max(best, float(np.sort(problem.member_values(X)[:, 0])[:k].mean()))
    return best


@pytest.mark.parametrize("objective", sorted(TIED))
def test_cvar_plan_matches_an_independent_slsqp_solve_where_members_tie(objective: str) -> None:
    """The robust plan under CVaR against SLSQP on the Rockafellar-Uryasev form (written above, from
    the equal split and a random plan), on families whose optimum is a kink (two members tie at the
    edge of the worst set). Moving towards one worst set's optimum stalled there (1.1% short on the
    first family)."""
    problem = tied_problem(TIED[objective])
    obj = Objective.parse(objective)
    k = obj.tail(4)
    X = solve_for(problem, obj)
    assert check_plan(problem.scenario, X) == []
    J = np.sort(problem.member_values(X)[:, 0])
    ours = float(J[:k].mean())
    sc = problem.scenario
    rng = np.random.default_rng(0)
    starts = [np.full((sc.horizon, 3), sc.step_budget / 3), rng.dirichlet(np.ones(3), sc.horizon) * sc.step_budget]
    slsqp = _slsqp_cvar(problem, k, starts)
    assert ours >= slsqp * (1 - 1e-9)
    assert ours == pytest.approx(slsqp, rel=1e-6)
    assert J[k] - J[k - 1] < 1e-6 * J[k]  # the case under test: a tie at the edge of the worst set
    assert ours > obj.score(problem.member_values(solve_for(problem, MEAN)))[0] * 1.01  # and CVaR matters here


@pytest.mark.parametrize("value", [1e-20, 1e-30])
def test_cvar_plan_does_not_depend_on_the_units_of_value(value: float) -> None:
    """A value per conversion of 1e-20 or 1e-30 multiplies every member's revenue and changes no plan:
    the CVaR plans (dynamic and static) are those of a value of 1. The tail game's linear programme
    took values of 1e-17 against HiGHS's absolute tolerances (arbitrary weights), and the cutting planes
    stopped at once below a gap floor of 1e-21 (the mean plan returned)."""
    obj = Objective.parse("cvar:0.5")
    unit, tiny = tied_problem(TIED["cvar:0.5"], 1.0), tied_problem(TIED["cvar:0.5"], value)
    X1, Xv = solve_for(unit, obj), solve_for(tiny, obj)
    u1, uv = obj.score(unit.member_values(X1))[0], obj.score(tiny.member_values(Xv))[0]
    assert uv == pytest.approx(value * u1, rel=1e-7)
    np.testing.assert_allclose(Xv, X1, rtol=0, atol=1e-5 * unit.scenario.step_budget)
    s1, sv = static_for(unit, obj)[2], static_for(tiny, obj)[2]
    assert sv == pytest.approx(value * s1, rel=1e-7)


@pytest.mark.parametrize(("objective", "family"), [(o, o) for o in sorted(TIED)] + [("mean", "cvar:0.5")])
def test_static_cvar_split_matches_a_brute_force_grid(objective: str, family: str) -> None:
    """The best even-flighting split under CVaR against every split on a 1% grid of the simplex and a
    0.05% grid around the best (valued by evaluate_plan, the worst ``k`` averaged here). Ranking the
    worst set's candidate splits on the CVaR, not on the worst set, had stopped the search at the start
    (27% short on the second family). The mean's static split (``k`` = all four members) too: a family's
    static plan under the mean had no independent check."""
    problem = tied_problem(TIED[family])
    obj = Objective.parse(objective)
    k = obj.tail(4)
    sc = problem.scenario
    shares, plan_, value = static_for(problem, obj)
    np.testing.assert_allclose(plan_, np.tile(shares * sc.step_budget, (sc.horizon, 1)), rtol=1e-12)

    def grid(qa: np.ndarray, qb: np.ndarray) -> tuple[float, np.ndarray]:
        A, B = np.meshgrid(qa, qb, indexing="ij")
        q = np.stack([A.ravel(), B.ravel(), 1.0 - A.ravel() - B.ravel()], axis=1)
        q = q[np.all(q >= -1e-12, axis=1)].clip(0.0)
        worst = np.sort(problem.member_values(q[:, None, :] * sc.step_budget * np.ones((1, sc.horizon, 1))), axis=0)
        v = worst[:k].mean(axis=0)
        return float(v.max()), q[int(v.argmax())]

    coarse, q = grid(np.linspace(0, 1, 101), np.linspace(0, 1, 101))
    fine, q = grid(q[0] + np.arange(-40, 41) * 5e-4, q[1] + np.arange(-40, 41) * 5e-4)
    assert fine >= coarse
    assert value == pytest.approx(float(np.sort(problem.member_values(plan_)[:, 0])[:k].mean()), rel=1e-12)
    assert value >= fine * (1 - 1e-9)
    assert value <= fine * (1 + 1e-4)  # the continuous optimum, within the fine grid's resolution
    np.testing.assert_allclose(shares, q, atol=3e-3)


def test_tail_game_by_hand() -> None:
    """CVaR as a linear programme: one plan with member values (5, 1, 3, 2) and k = 2 gives the mean
    of its two worst, 1.5, with weight 1/2 on each; two plans (1, 2, 3) and (3, 2, 1) with k = 1 give
    the value 2 of their halfway mix (2, 2, 2), lam = (1/2, 1/2), which beats either plan's worst (1)."""
    w, lam, value = tail_game(np.array([[5.0, 1.0, 3.0, 2.0]]), 2)
    assert value == pytest.approx(1.5) and lam == pytest.approx([1.0])
    np.testing.assert_allclose(w, [0.0, 0.5, 0.0, 0.5], atol=1e-12)
    w, lam, value = tail_game(np.array([[1.0, 2.0, 3.0], [3.0, 2.0, 1.0]]), 1)
    assert value == pytest.approx(2.0) and lam == pytest.approx([0.5, 0.5])
    assert max(np.array([[1.0, 2.0, 3.0], [3.0, 2.0, 1.0]]) @ w) == pytest.approx(2.0)
    # the mean of the ceil(alpha N) worst: 0.25 of 10 draws is 3 of them, 0.2 of 10 is 2
    v = np.arange(10.0)[::-1]
    assert Objective.parse("cvar:0.25").tail(10) == 3 and Objective.parse("cvar:0.2").tail(10) == 2
    assert Objective.parse("cvar:0.25").score(v) == pytest.approx((0 + 1 + 2) / 3)
    assert Objective.parse("mean").score(v) == pytest.approx(4.5)


def test_outcome_distribution_by_hand() -> None:
    """Outcomes 1, 2, 3, 4 over four draws: P10 / P50 / P90 by linear interpolation between the
    sorted values (positions 0.3, 1.5, 2.7: 1.3, 2.5, 3.7), mean 2.5, standard error
    sd / sqrt(4) with sd = sqrt(5/3) (ddof 1); one draw has no spread."""
    from budgetgym.planner.robust import outcome_distribution

    d = outcome_distribution({"x": np.array([4.0, 1.0, 3.0, 2.0]), "one": np.array([7.0])})
    want = {"p10": 1.3, "p50": 2.5, "p90": 3.7, "mean": 2.5, "sem": np.sqrt(5 / 3) / 2, "draws": 4.0}
    assert d["x"] == pytest.approx(want, rel=1e-12)
    assert d["one"] == pytest.approx({"p10": 7.0, "p50": 7.0, "p90": 7.0, "mean": 7.0, "sem": 0.0, "draws": 1.0})


def test_prob_beats_by_hand() -> None:
    """Paired draws, a tie counting half (the probability of improvement's convention): without ties
    (3 > 1, 2 > 1, 1 < 4) 2/3; with them (3 > 1, 2 = 2, 1 < 4, 5 = 5) (1 + 1/2 + 0 + 1/2) / 4 = 1/2,
    where the strict count gave 1/4; equal on every draw 1/2 (it gave 0: "certainly worse")."""
    from budgetgym.planner.plan import prob_beats

    assert prob_beats(np.array([3.0, 2.0, 1.0]), np.array([1.0, 1.0, 4.0])) == pytest.approx(2 / 3, rel=1e-15)
    assert prob_beats(np.array([3.0, 2.0, 1.0, 5.0]), np.array([1.0, 2.0, 4.0, 5.0])) == 0.5
    assert prob_beats(np.array([7.0, 8.0]), np.array([7.0, 8.0])) == 0.5


def test_a_current_plan_equal_to_the_recommendation_is_not_certainly_worse() -> None:
    """``--current`` the recommendation itself: equal on every held-out draw, so P(recommended beats
    current) is 1/2, and the line says the draws tie; the plan is the one without a current plan."""
    from budgetgym.planner.plan_text import distribution_rows

    fam = concave_family()
    res = plan(fam, draws=4, curves=False, lift_design="none")
    same = plan(fam, draws=4, current=res.plan, curves=False, lift_design="none")
    np.testing.assert_array_equal(same.plan, res.plan)
    assert same.draw_values is not None
    np.testing.assert_array_equal(same.draw_values["current"], same.draw_values["recommended"])
    assert same.prob_beats_current == 0.5
    rows = distribution_rows(same)
    assert rows is not None and rows[2] == ("P(recommended beats current) over the 4 held-out draws: 0.50 "
                                            "(equal on 4 of the 4 draws, each counted half)")
    # without ties the line is as before and the probability the strict count
    other = plan(fam, draws=4, current="equal", curves=False, lift_design="none")
    assert other.draw_values is not None
    v = other.draw_values
    assert not (v["recommended"] == v["current"]).any()
    assert other.prob_beats_current == np.mean(v["recommended"] > v["current"])
    rows = distribution_rows(other)
    assert rows is not None and rows[2] == (f"P(recommended beats current) over the 4 held-out draws: "
                                            f"{other.prob_beats_current:.2f}")


@pytest.mark.parametrize("text", ["cvar", "cvar:0", "cvar:1.5", "cvar:x", "median", "cvar0.2", "cvarx:0.2"])
def test_bad_objective_is_one_line(text: str) -> None:
    from budgetgym.envs import BudgetGymError

    if text == "cvar":
        assert Objective.parse(text) == Objective("cvar", 0.1)
        return
    with pytest.raises(BudgetGymError, match="--objective") as err:
        Objective.parse(text)
    assert "\n" not in str(err.value)


# ----------------------------------------------------------------------------- marginal returns
@pytest.mark.parametrize("name", ["stationary-3", "delayed-5"])
def test_channel_marginals_match_finite_differences(name: str) -> None:
    problem = PlanningProblem(name)
    X = problem.solve()
    table = channel_table(problem.objective, X, problem.scenario.channel_names, problem.scenario.reward)
    sc = problem.scenario
    values = np.array([c.value.mean for c in sc.channels])
    for i in range(sc.n_channels):
        h = 1e-4
        up, down = X.copy(), X.copy()
        up[:, i] *= 1 + h
        down[:, i] *= 1 - h
        # the channel's conversions from two independent rollouts of the conversions reward
        conv_sc = sc.override({"reward": "conversions"})
        diff = float(evaluate_plan(conv_sc, up)) - float(evaluate_plan(conv_sc, down))
        fd = diff / (2 * h * X[:, i].sum())
        assert table["marginal_conversions"][i] == pytest.approx(fd, rel=1e-5)
        assert table["mroas"][i] == pytest.approx(fd * values[i], rel=1e-5)
    if sc.budget.pacing == "agent":
        # free to move spend across channels *and* steps, the optimum equalises every used channel's
        # marginal return (under even pacing only each step's are equal, and steps differ)
        used = table["share"] > 0.02
        assert np.ptp(table["marginal_outcome"][used]) < 1e-4 * table["marginal_outcome"][used].mean()


@pytest.mark.parametrize("name", ["stationary-3", "delayed-5", "shock-5"])
def test_budget_marginal_matches_finite_differences_of_resolved_optima(name: str) -> None:
    problem = PlanningProblem(name)
    B = problem.budget
    X = problem.solve()
    m = budget_marginal(problem.objective, X, B)["marginal_outcome"]
    h = 1e-3 * B
    up = solve_oracle(problem.scenario.override({"budget.total": B + h})).expected_reward
    down = solve_oracle(problem.scenario.override({"budget.total": B - h})).expected_reward
    assert m == pytest.approx((up - down) / (2 * h), rel=1e-4, abs=1e-9 * abs(up) / B)


def test_channel_table_and_budget_marginal_by_hand() -> None:
    r"""Two click channels, two steps, no carry-over or delay, Hill slope 1, profit; the plan
    a = (400, 100), b = (200, 500) (not the optimum: the table is defined at any plan).

    * a: price 2 -> e = (200, 50); beta 100, kappa 100 -> N = 100 (2/3 + 1/3) = 100 conversions;
      value 3 -> revenue 300; spend 500: ROAS 0.6, CPA 5, profit -200.
      dN/dx_t = beta kappa / (e + kappa)^2 / 2 = (1/18, 2/9); flighting (0.8, 0.2):
      marginal conversions 0.8/18 + 0.2 * 2/9 = 4/45, mROAS 4/15, mCPA 45/4, marginal profit -11/15.
    * b: price 1 -> e = (200, 500); beta 60, kappa 300 -> N = 60 (0.4 + 0.625) = 61.5; value 2 ->
      revenue 123; spend 700: ROAS 123/700, CPA 700/61.5, profit -577.
      dN/dx_t = 60 * 300 / (e + 300)^2 = (0.072, 0.028125); flighting (2/7, 5/7): marginal
      conversions 0.284625 / 7.
    * the budget (1200): dV/dB = (grad V . X) / B with grad V = v dN/dx - 1, i.e.
      (4/15 * 500 + 2 * 0.284625 / 7 * 700 - 1200) / 1200; its conversion part
      (4/45 * 500 + 0.284625 / 7 * 700) / 1200.
    """
    channels = [
        {"name": n, "cost": {"unit": "click", "price": p, "ref_spend": 1e6, "elasticity": 0.0, "noise_sd": 0.0},
         "adstock": {"type": "none"}, "value": {"mean": v},
         "saturation": {"type": "hill", "max_response": b, "half_saturation": k, "slope": 1.0}}
        for n, p, v, b, k in [("a", 2.0, 3.0, 100.0, 100.0), ("b", 1.0, 2.0, 60.0, 300.0)]
    ]
    sc = scenario_from_dict({"name": "hand", "horizon": 2, "step_days": 7, "budget": {"total": 1200.0},
                             "reward": "profit", "noise": {"conversions": "none"}, "channels": channels})
    X = np.array([[400.0, 200.0], [100.0, 500.0]])
    model = PlanningProblem(sc).objective
    t = channel_table(model, X, ["a", "b"], "profit").set_index("channel")
    mc_b = 0.284625 / 7
    expected = {
        "spend": [500.0, 700.0], "share": [5 / 12, 7 / 12], "conversions": [100.0, 61.5],
        "baseline_conversions": [0.0, 0.0], "revenue": [300.0, 123.0], "outcome": [-200.0, -577.0],
        "roas": [0.6, 123 / 700], "cpa": [5.0, 700 / 61.5], "marginal_conversions": [4 / 45, mc_b],
        "mroas": [4 / 15, 2 * mc_b], "mcpa": [45 / 4, 1 / mc_b], "marginal_outcome": [4 / 15 - 1, 2 * mc_b - 1],
    }
    for col, want in expected.items():
        np.testing.assert_allclose(t[col].to_numpy(float), want, rtol=1e-12, atol=1e-12, err_msg=col)
    assert float(evaluate_plan(sc, X)) == pytest.approx(-777.0, rel=1e-12)  # the outcomes sum to the value
    m = budget_marginal(model, X, 1200.0)
    conv = (4 / 45 * 500 + mc_b * 700) / 1200
    assert m["marginal_outcome"] == pytest.approx((4 / 15 * 500 + 2 * mc_b * 700 - 1200) / 1200, rel=1e-12)
    assert m["marginal_conversions"] == pytest.approx(conv, rel=1e-12)
    assert m["mroas"] == pytest.approx((4 / 15 * 500 + 2 * mc_b * 700) / 1200, rel=1e-12)
    assert m["mcpa"] == pytest.approx(1 / conv, rel=1e-12)
    # the response curve of a along its flighting (0.8, 0.2), to twice its spend: at S = 1000 the
    # exposures are (400, 100), N = 100 (0.8 + 0.5) = 130, revenue 390, profit 390 - 1000
    from budgetgym.planner.curves import response_curves

    c = response_curves(model, X, ["a", "b"], "profit")
    a = c[(c["channel"] == "a") & (c["point"] == "curve")]
    np.testing.assert_allclose(a["spend"], np.linspace(0.0, 1000.0, 41))
    last = a.iloc[-1][["conversions", "revenue", "outcome"]].to_numpy(float)
    np.testing.assert_allclose(last, [130.0, 390.0, -610.0], rtol=1e-12)


# ----------------------------------------------------------------------------- frontier
def test_frontier_increasing_and_concave_and_warm_equals_cold() -> None:
    problem = PlanningProblem("stationary-3")
    multiples = parse_sweep("0.4:2:9")
    pts = sweep_budgets(problem, MEAN, multiples)
    v = np.array([p.outcome for p in pts])
    budgets = np.array([p.budget for p in pts])
    np.testing.assert_allclose(budgets, multiples * problem.budget)
    assert np.all(np.diff(v) > 0)
    assert np.all(np.diff(v, 2) < 0)  # concave: equal steps of budget buy less and less
    marg = np.array([p.marginal["marginal_outcome"] for p in pts])
    assert np.all(np.diff(marg) < 0)
    # the slope between levels lies between the marginal returns at its ends
    slope = np.diff(v) / np.diff(budgets)
    assert np.all((slope < marg[:-1]) & (slope > marg[1:]))
    for p in pts[::4]:  # warm-started levels equal cold solves
        cold = solve_oracle(problem.scenario.override({"budget.total": p.budget})).expected_reward
        assert p.outcome == pytest.approx(cold, rel=1e-9)


def test_budget_at_a_target_marginal_cpa() -> None:
    problem = PlanningProblem("stationary-3")
    anchor = solve_level(problem, MEAN, problem.budget)
    target = 1.5 * anchor.marginal["mcpa"]
    hit = budget_for_target(problem, MEAN, target, "mcpa", [anchor])
    assert hit is not None and hit.budget > problem.budget
    assert hit.marginal["mcpa"] == pytest.approx(target, rel=1e-5)
    # independently: the re-solved optimum at that budget has that marginal CPA (1 / dV/dB)
    h = 1e-3 * hit.budget
    up = solve_oracle(problem.scenario.override({"budget.total": hit.budget + h})).expected_reward
    down = solve_oracle(problem.scenario.override({"budget.total": hit.budget - h})).expected_reward
    assert 2 * h / (up - down) == pytest.approx(target, rel=1e-4)


def test_budget_at_a_target_marginal_roas() -> None:
    """The budget at which the marginal ROAS falls to 80% of the recommendation's (a revenue reward).
    Independently of the gradient ``budget_marginal`` takes: ``plan`` re-solved at that budget has the
    frontier's value there and spends it, and central differences of ``plan``'s optimum at the budget
    +- h (dV/dB, V the revenue) are the target."""
    sc = load_scenario("overlap-5")
    assert sc.reward == "revenue"
    base = plan(sc, curves=False)
    target = 0.8 * base.budget_marginal["mroas"]
    res = plan(sc, target_mroas=target, curves=False)
    assert res.target is not None and res.target["metric"] == "mroas"
    B = res.target["budget"]
    assert B > base.budget  # the marginal return falls with the budget
    at = plan(sc, budget=B, curves=False)
    assert at.value == pytest.approx(res.target["outcome"], rel=1e-9)
    assert at.plan.sum() == pytest.approx(B, rel=1e-9)
    h = 1e-3 * B
    up, down = (plan(sc, budget=b, curves=False).value for b in (B + h, B - h))
    assert (up - down) / (2 * h) == pytest.approx(target, rel=1e-4)


def test_budget_at_a_target_marginal_roas_under_profit() -> None:
    """Under a profit reward (V = revenue - spend, the budget spent) the marginal ROAS is dV/dB + 1:
    central differences of the re-solved optimum (the oracle, which ``plan`` recommends for a scenario)
    at the budget +- h, plus 1, are the target."""
    sc = load_scenario("overlap-5").override({"reward": "profit"})
    problem = PlanningProblem(sc)
    anchor = solve_level(problem, MEAN, problem.budget)
    target = 0.8 * anchor.marginal["mroas"]
    hit = budget_for_target(problem, MEAN, target, "mroas", [anchor])
    assert hit is not None and hit.budget > problem.budget
    h = 1e-3 * hit.budget
    up, down = (solve_oracle(sc.override({"budget.total": b})).expected_reward for b in (hit.budget + h,
                                                                                          hit.budget - h))
    assert (up - down) / (2 * h) + 1.0 == pytest.approx(target, rel=1e-4)


def test_profit_maximising_budget() -> None:
    """At the profit-maximising budget B* the re-solved optimum's profit is flat: dV/dB = 0 (the last unit
    of budget earns its cost back, mROAS 1). By central differences of solve_oracle at B* +- 0.1%, the
    slope is below 1e-4 of profit per unit of budget; 0.5% away from B* it is 5e-3 (-dV/dB grows by ~1 per
    B* of budget here). The test compared B* with 0.97 B* and 1.03 B*, which a B* 1% off passed."""
    res = plan("shock-5", curves=False)
    assert res.profit_max is not None
    B = res.profit_max["budget"]
    sc = load_scenario("shock-5")
    value = lambda b: solve_oracle(sc.override({"budget.total": b})).expected_reward  # noqa: E731
    assert value(B) == pytest.approx(res.profit_max["outcome"], rel=1e-9)
    h = 1e-3 * B
    assert abs(value(B + h) - value(B - h)) / (2 * h) < 1e-4


def test_targets_for_the_wrong_reward_are_refused() -> None:
    from budgetgym.envs import BudgetGymError

    with pytest.raises(BudgetGymError, match="--target-mcpa"):
        plan("stationary-3", target_mroas=2.0, curves=False)
    with pytest.raises(BudgetGymError, match="--target-mroas"):
        plan("delayed-5", target_mcpa=20.0, curves=False)


def test_a_target_search_stays_within_the_budgets_a_scenario_holds() -> None:
    # halving from the smallest budget a scenario holds (then 1e-6) asked for a scenario of budget 5e-7:
    # "scenario 'stationary-3' (overridden): budget.total: Input should be greater than or equal to 0.000001"
    res = plan("stationary-3", budget=MIN_AMOUNT, target_mcpa=1e-15, curves=False, lift_design="none")
    assert res.target is not None and res.target["budget"] is None


@pytest.mark.parametrize(("target", "text"), [(1e-15, "1e-15"), (2.5, "2.5"), (49.53, "49.53"), (1e12, "1e+12")])
def test_the_target_line_echoes_the_target_as_given(target: float, text: str) -> None:
    """The line printed the target to 3 decimals: `--target-mroas 0.0001` read "target marginal ROAS 0.000"
    (and 1e12 "1,000,000,000,000.000"), not the number asked for."""
    from budgetgym.planner.plan_text import summary_lines

    res = plan("stationary-3", target_mcpa=target, curves=False, lift_design="none")
    line = next(s for s in summary_lines(res) if s.startswith("target"))
    assert line.startswith(f"target marginal CPA {text}: "), line


def test_a_target_not_reached_says_which_budgets_were_searched() -> None:
    """The search doubles from the largest solved level (halves from the smallest) ten times: with
    ``--sweep 0.5:2:N`` it reaches 2048 × the budget (a marginal CPA of 1e6 is met at 1317 ×), but
    the message said "not reached between 1/1024 and 1024 × the budget" whatever the sweep."""
    from budgetgym.planner.plan_text import summary_lines

    B = load_scenario("stationary-3").budget.total
    cases = (({"sweep": "0.5:2:4", "target_mcpa": 1e12}, [0.5 * B, 2048 * B], "between 0.5 and 2048 ×"),
             ({"target_mcpa": 1e12}, [B, 1024 * B], "between 1 and 1024 ×"),
             ({"sweep": "0.5:2:4", "target_mcpa": 1e-15}, [B / 2048, 2 * B], "between 1/2048 and 2 ×"))
    for kwargs, searched, text in cases:
        res = plan("stationary-3", curves=False, lift_design="none", **kwargs)
        assert res.target is not None and res.target["budget"] is None
        np.testing.assert_allclose(res.target["searched"], searched, rtol=1e-12)
        line = next(s for s in summary_lines(res) if s.startswith("target"))
        assert f"not reached {text} the budget (the budgets searched" in line, line
    # profit where no channel pays back (revenue 0.5 a conversion): the profit-maximising plan spends nothing.
    # The barrier's plans lost a hair (up to 4e-5) against spending nothing, so the search read "not found
    # between 1/1024 and 1 × the budget"; with the oracle's zero plan it read the zero plan's exact marginal 0
    # as a root and reported half the budget
    low_value = {f"channels.{i}.value.mean": 0.5 for i in range(5)}
    sc = load_scenario("delayed-5").override({"reward": "profit", **low_value})
    res = plan(sc, curves=False, lift_design="none")
    assert res.profit_max is not None
    assert (res.profit_max["budget"], res.profit_max["multiple"], res.profit_max["spend"]) == (0.0, 0.0, 0.0)
    assert res.profit_max["outcome"] == float(evaluate_plan(sc, np.zeros((sc.horizon, 5)))) == 0.0
    line = next(s for s in summary_lines(res) if s.startswith("profit-maximising"))
    assert line.endswith("0 — no channel pays back: the profit-maximising plan spends nothing (expected profit 0)")



@pytest.mark.parametrize(
    ("name", "overrides", "kwargs", "metric", "side", "at", "why"),
    [
        # revenue 1e6 a unit at the margin: no budget earns that, not even the smallest
        ("delayed-5", {}, {"target_mroas": 1e6}, "mroas", "below", 1 / 1024,
         "no budget searched pays back that well: each further unit spent earns less than the target"),
        # 1e-6 a unit: even 1024 x the budget still earns more at the margin
        ("delayed-5", {}, {"target_mroas": 1e-6}, "mroas", "above", 1024, "needs more budget than searched"),
        # a marginal conversion at 1e12: 1024 x the budget still buys them cheaper
        ("stationary-3", {}, {"target_mcpa": 1e12}, "mcpa", "below", 1024, "needs more budget than searched"),
        # a marginal conversion at 1e-15: even the smallest budget pays more for one
        ("stationary-3", {}, {"target_mcpa": 1e-15}, "mcpa", "above", 1 / 1024,
         "no budget searched buys conversions that cheaply: each further conversion costs more than the target"),
        # profit, even pacing, revenue 0.5 a conversion: every unit spent loses, at every budget
        ("delayed-5", {"reward": "profit", "budget.pacing": "even",
                       **{f"channels.{i}.value.mean": 0.5 for i in range(5)}},
         {}, "marginal_outcome", "below", 1 / 1024, "no budget searched pays back: each further unit spent loses"),
    ],
)
def test_a_target_not_reached_says_which_way_the_marginal_return_stayed(
    name: str, overrides: dict[str, Any], kwargs: dict[str, float], metric: str, side: str, at: float, why: str
) -> None:
    """A target no budget reached read "not reached between 1/1024 and 1 × the budget (the budgets searched ...)":
    not whether even the smallest budget's marginal return misses it (no budget pays back that well) or the
    largest's still beats it (the target needs more budget). The line and summary.json now say which, with the
    marginal return at the budget searched nearest the target, solved here on its own."""
    from budgetgym.planner.plan_text import fmt, summary_lines

    sc = load_scenario(name).override(overrides) if overrides else load_scenario(name)
    B = sc.budget.total
    res = plan(sc, curves=False, lift_design="none", **kwargs)
    miss = res.profit_max if metric == "marginal_outcome" else res.target
    assert miss is not None and miss["budget"] is None
    expected = solve_level(PlanningProblem(sc), MEAN, at * B).marginal[metric]
    assert miss["nearest_multiple"] == pytest.approx(at, rel=1e-12)
    assert miss["nearest_budget"] == pytest.approx(at * B, rel=1e-12)
    assert miss["nearest_marginal"] == pytest.approx(expected, rel=1e-4, abs=1e-12)
    assert (miss["marginal_side"], miss["same_side_everywhere"]) == (side, True)
    goal = 0.0 if metric == "marginal_outcome" else next(iter(kwargs.values()))
    assert (expected < goal) == (side == "below")  # the side, from the independent solve
    assert res.summary()["profit_max" if metric == "marginal_outcome" else "target"] == miss
    start = "profit-maximising" if metric == "marginal_outcome" else "target"
    line = next(s for s in summary_lines(res) if s.startswith(start))
    label = {"mroas": "marginal ROAS", "mcpa": "marginal CPA", "marginal_outcome": "marginal profit"}[metric]
    multiple = "1/1024" if at < 1 else "1024"
    figure = fmt(miss["nearest_marginal"], 2, scale=1.0)
    assert figure != "0.00", figure  # 7.46e-05 at 1024 × the budget (mROAS 1e-6) keeps its figures
    said = f"{label} stays {side} {goal:,.6g} at every budget searched: {figure} at {multiple} × the budget"
    assert said in line, line
    assert why in line, line



def test_a_miss_whose_marginal_return_changes_side_does_not_claim_every_budget() -> None:
    """Where the budgets solved had the marginal return on both sides of the target (a non-monotone one: no
    concave curve does this), the line says the side at the nearest budget only; a summary.json point of an
    earlier version (no ``marginal_side``) keeps the line it had."""
    from budgetgym.planner.target_text import searched_text

    point = {"metric": "mroas", "target": 2.5, "budget": None, "searched": [10.0, 10240.0], "marginal_side": "above",
             "nearest_budget": 10240.0, "nearest_multiple": 1024.0, "nearest_marginal": 3.0,
             "same_side_everywhere": False}
    text = searched_text(point, 10.0)
    assert text.endswith("; marginal ROAS is above 2.5 at the budget searched nearest it, 1024 × the budget: 3.00 — "
                         "the target needs more budget than searched"), text
    old = {k: point[k] for k in ("metric", "target", "budget", "searched")}
    assert searched_text(old, 10.0) == "between 1 and 1024 × the budget (the budgets searched, within 1e-9 to 1e15)"


def test_an_s_shaped_curve_below_the_target_at_small_budgets_and_above_it_beyond_is_a_miss_end_to_end() -> None:
    """The miss with budgets on both sides of the target, end to end (the test above checks only the formatter):
    one channel on an S-shaped Hill (slope 1.5) far below its half saturation, so its marginal ROAS rises with the
    budget, :math:`m(b) \\propto b^{1/2}`: about 0.63 at 0.1 x the budget, 2 at the budget, 64 at 1024 x. A target of
    1 lies between the sweep's two levels, but the search looks for the budget where m *falls* to the target (the
    bracket needs m >= target below, <= above) and doubles from the largest level, where m only grows: no root.
    The marginal returns expected are ``evaluate_plan``'s central differences of the even plan spending all of
    ``b`` (the only plan of one channel under even pacing), not the planner's."""
    from budgetgym.planner.plan_text import summary_lines

    ch = channel("search", saturation={"type": "hill", "max_response": 1e6, "half_saturation": 2e10, "slope": 1.5},
                 value={"mean": 10.0 * 2 / 7.5e-5})
    sc = scenario_from_dict({**base_scenario_dict(), "reward": "revenue", "channels": [ch]}, source="test")
    T, B = sc.horizon, sc.budget.total

    def marginal(b: float, h: float = 1e-4) -> float:
        def value(x: float) -> float:
            return float(evaluate_plan(sc.override({"budget.total": x}), np.full((T, 1), x / T)))

        return (value(b * (1 + h)) - value(b * (1 - h))) / (2 * h * b)

    assert marginal(0.1 * B) < 1.0 < marginal(B)  # both sides of the target among the sweep's levels
    res = plan(sc, sweep="0.1:1:2", target_mroas=1.0, curves=False, lift_design="none")
    miss = res.target
    assert miss is not None and miss["budget"] is None
    assert miss["searched"] == pytest.approx([0.1 * B, 1024 * B], rel=1e-12)
    assert (miss["marginal_side"], miss["same_side_everywhere"]) == ("above", False)
    assert miss["nearest_multiple"] == pytest.approx(1024, rel=1e-12)
    assert miss["nearest_marginal"] == pytest.approx(marginal(1024 * B), rel=1e-6)
    assert miss["nearest_marginal"] == pytest.approx(2.0 * 1024**0.5, rel=1e-3)  # m(b) = m(B) (b/B)^(1/2)
    line = next(s for s in summary_lines(res) if s.startswith("target"))
    assert line.endswith(f"; marginal ROAS is above 1 at the budget searched nearest it, 1024 × the budget: "
                         f"{miss['nearest_marginal']:.2f} — the target needs more budget than searched"), line


# ----------------------------------------------------------------------------- current and static
def test_a_current_plan_array_above_the_budget_is_refused_as_a_file_is() -> None:
    """``--current`` refuses a plan spending more than the budget (read_current), but ``plan(current=array)``
    valued it and reported its "uplift" against a plan three times cheaper: the library and the command
    line gave different answers to the same plan."""
    from budgetgym.envs.errors import BudgetGymError

    sc = load_scenario("stationary-3")
    over = np.full((sc.horizon, 3), sc.step_budget)  # every channel at B/T: 3 B
    with pytest.raises(BudgetGymError, match=r"^current: spends 252,000\.00, more than the budget 84,000\.00: "):
        plan(sc, current=over, curves=False)
    res = plan(sc, current=over / 3, curves=False)  # at the budget: accepted, as before
    assert res.current_value == pytest.approx(float(evaluate_plan(sc, over / 3)), rel=1e-9)


def test_uplift_is_the_difference_of_evaluate_plan_values() -> None:
    res = plan("delayed-5", current="tv=0.1,video=0.1,audio=0.3,social=0.3,search=0.2", curves=False)
    sc = load_scenario("delayed-5")
    cur = np.tile(np.array([0.1, 0.1, 0.3, 0.3, 0.2]) * sc.step_budget, (sc.horizon, 1))
    assert res.current is not None
    np.testing.assert_allclose(res.current, cur)
    assert res.uplift == pytest.approx(float(evaluate_plan(sc, res.plan)) - float(evaluate_plan(sc, cur)), rel=1e-9)
    assert res.uplift > 0
    np.testing.assert_allclose(res.channels["change"], res.plan.sum(axis=0) - cur.sum(axis=0))


@pytest.mark.parametrize("name", ["stationary-3", "holiday-5", "pulse-4"])
def test_static_plan_is_the_best_constant_split_and_never_beats_the_recommendation(name: str, shared_plan: Any) -> None:
    res = shared_plan(name, curves=False)
    assert res.static_value == pytest.approx(best_constant_split(name).expected_reward, rel=1e-6)
    assert res.static_value <= res.value * (1 + 1e-12)


def test_response_curves_pass_through_the_recommendation() -> None:
    res = plan("stationary-3", current="equal")
    assert res.curves is not None
    for i, name in enumerate(res.channel_names):
        c = res.curves[res.curves["channel"] == name]
        rec = c[c["point"] == "recommended"].iloc[0]
        assert rec["spend"] == pytest.approx(res.plan[:, i].sum())
        assert rec["outcome"] == pytest.approx(res.channels["outcome"][i], rel=1e-12)
        curve = c[c["point"] == "curve"]
        assert curve["spend"].iloc[0] == 0.0 and curve["outcome"].iloc[0] == pytest.approx(0.0, abs=1e-9)
        assert np.all(np.diff(curve["outcome"]) > 0)  # concave conversions: more spend, more conversions
        cur = c[c["point"] == "current"].iloc[0]
        assert cur["spend"] == pytest.approx(load_scenario("stationary-3").budget.total / 3)
        # every point against evaluate_plan: channel i's budget S spent along the plan's flighting of i, the
        # others as recommended; without segments only channel i's outcome moves, so the curve's rise from the
        # recommendation is the plan value's (only the ends and the recommended point were checked)
        d = res.plan[:, i] / res.plan[:, i].sum()
        for S, outcome in curve[["spend", "outcome"]].to_numpy()[::8]:
            X = res.plan.copy()
            X[:, i] = S * d
            moved = float(evaluate_plan("stationary-3", X)) - float(evaluate_plan("stationary-3", res.plan))
            assert outcome - rec["outcome"] == pytest.approx(moved, rel=1e-9, abs=1e-9 * res.value), (name, S)


@pytest.mark.parametrize("name", ["stationary-3", "overlap-5"])
def test_a_curves_slope_is_the_marginal_return_only_without_segments(name: str) -> None:
    """planner.curves' docstring: without segments a channel's curve rises at the recommendation by its
    marginal return; with segments (overlap-5) the curve is the channel's credited share, steeper than the
    derivative of the total (its docstring said channels never interact)."""
    from budgetgym.planner.metrics import channel_directions

    problem = PlanningProblem(name)
    X = solve_for(problem, MEAN)
    model, reward = problem.objective, problem.scenario.reward
    table = channel_table(model, X, problem.scenario.channel_names, reward)
    i = int(np.argmax(X.sum(axis=0)))
    d = channel_directions(X)[:, i]
    h = 1e-4 * X[:, i].sum()
    up, down = X.copy(), X.copy()
    up[:, i] += h * d
    down[:, i] -= h * d
    key = "marginal_conversions" if reward == "conversions" else "mroas"
    get = model.channel_conversions if reward == "conversions" else model.channel_revenue
    slope = float(get(up)[i] - get(down)[i]) / (2 * h)
    if name == "overlap-5":
        assert slope > table[key][i] * 1.05
        total = float(get(up).sum() - get(down).sum()) / (2 * h)  # metrics' docstring: the total's derivative
        assert total == pytest.approx(table[key][i], rel=1e-5)
    else:
        assert slope == pytest.approx(table[key][i], rel=1e-5)


def test_robust_plan_matches_an_independent_slsqp_solve_of_the_mean() -> None:
    """The barrier method on the mean model vs scipy's SLSQP on the mean of evaluate_plan values
    (even pacing: every step spends B/T, shares in [0, 1]) over the same draws."""
    from scipy.optimize import minimize

    problem = PlanningProblem(concave_family(seed=9), draws=3)
    sc = problem.scenario
    T, K, unit = sc.horizon, sc.n_channels, sc.step_budget
    ours = problem.value(problem.solve())

    def loss(x: np.ndarray) -> tuple[float, np.ndarray]:
        X = np.maximum(x.reshape(T, K), 0.0)
        _, grad, _ = problem.objective.derivatives(X, hessian=False)  # exact gradient of the mean
        return -problem.value(X) / ours, -grad.ravel() / ours

    cons = [{"type": "eq", "fun": lambda x, t=t: x.reshape(T, K)[t].sum() / unit - 1.0} for t in range(T)]
    def slsqp(x0: np.ndarray) -> float:
        res = minimize(loss, x0, jac=True, method="SLSQP", bounds=[(0.0, unit)] * (T * K), constraints=cons,
                       options={"maxiter": 2000, "ftol": 1e-14})
        return problem.value(np.maximum(res.x.reshape(T, K), 0.0))

    cold = slsqp(np.full(T * K, unit / K))  # from the equal split
    assert ours >= cold * (1 - 1e-9)  # never beaten
    assert ours == pytest.approx(cold, rel=1e-3)  # the same optimum, to SLSQP's own precision here
    assert slsqp(problem.solve().ravel()) <= ours * (1 + 1e-9)  # started at ours, SLSQP finds no better plan


def test_robust_plan_under_agent_pacing_matches_an_independent_slsqp_solve_of_the_mean() -> None:
    """As above under agent pacing (any step up to the cap 1.2 B/T, the whole at most B), where the
    family's plan had no independent check: SLSQP with those inequalities, from the equal split and from
    ours. Four steps of 84,000 / 4 with carry-over: the plan front-loads, and the cap binds in step 0."""
    from scipy.optimize import minimize

    template = load_scenario("stationary-3").override(
        {"budget.pacing": "agent", "budget.max_step_multiple": 1.2, "horizon": 4}).model_dump(mode="json")
    problem = PlanningProblem(concave_family(seed=9, scenario=template), draws=3)
    sc = problem.scenario
    T, K, B, cap = sc.horizon, sc.n_channels, sc.budget.total, sc.step_cap
    X = problem.solve()
    ours = problem.value(X)
    assert check_plan(sc, X) == []

    def loss(x: np.ndarray) -> tuple[float, np.ndarray]:
        P = np.maximum(x.reshape(T, K), 0.0)
        _, grad, _ = problem.objective.derivatives(P, hessian=False)  # exact gradient of the mean
        return -problem.value(P) / ours, -grad.ravel() / ours

    cons = [{"type": "ineq", "fun": lambda x: 1.0 - x.sum() / B}] + [
        {"type": "ineq", "fun": lambda x, t=t: 1.0 - x.reshape(T, K)[t].sum() / cap} for t in range(T)]

    def slsqp(x0: np.ndarray) -> float:
        res = minimize(loss, x0, jac=True, method="SLSQP", bounds=[(0.0, cap)] * (T * K), constraints=cons,
                       options={"maxiter": 300, "ftol": 1e-12})
        P = np.maximum(res.x.reshape(T, K), 0.0)
        P *= min(1.0, B / P.sum(), *(cap / P.sum(axis=1)))  # exactly feasible before it is scored
        return problem.value(P)

    cold = slsqp(np.full(T * K, B / T / K))
    assert ours >= cold * (1 - 1e-9)  # never beaten
    assert ours == pytest.approx(cold, rel=1e-4)  # the same optimum, to SLSQP's precision here
    assert slsqp(X.ravel()) <= ours * (1 + 1e-9)  # started at ours, SLSQP finds no better plan
    assert X[0].sum() == pytest.approx(cap, rel=1e-6) and X.sum() == pytest.approx(B, rel=1e-6)  # the case


def test_numbers_for_people_by_magnitude() -> None:
    from budgetgym.planner.report import fmt

    assert fmt(1234567.8) == "1,234,568"
    assert fmt(12.34) == "12.3"
    assert fmt(1.234) == "1.23"
    assert fmt(0.01234) == "0.012"
    assert fmt(0.0) == "0"  # an unspent channel's revenue, not "0.000"
    assert fmt(-0.0001, 2) == "0.00"  # no "-0"
    assert fmt(5.0, signed=True) == "+5.00"
    assert fmt(float("inf")) == "–" and fmt(None) == "–"


def test_numbers_beyond_any_amount_are_not_hundreds_of_digits() -> None:
    """``--target-mcpa 1e300`` printed its target as 300 digits and a marginal CPA at saturation 20
    digits with decimals; beyond 1e16 (past any budget) a number prints to 3 significant digits, as
    ``--current``'s amounts do."""
    from budgetgym.planner.report import fmt

    assert fmt(1e300, 3) == "1e+300"
    assert fmt(-2.0456e16, 2) == "-2.05e+16"
    assert fmt(2.5e17, signed=True) == "+2.5e+17"
    assert fmt(9.99e15, 0) == "9,990,000,000,000,000"  # the largest budgets keep every figure


# ----------------------------------------------------------------------------- properties
def _feasible(sc: Any, X: np.ndarray, budget: float) -> None:
    """The plan's promises, recomputed here: non-negative, at most the budget, B/T every step under
    even pacing (at most the step cap under agent pacing), each channel's share of its step within
    its bounds (locked channels at their share)."""
    T = sc.horizon
    lo = np.array([c.locked_share if c.locked_share is not None else c.min_share for c in sc.channels])
    hi = np.array([c.locked_share if c.locked_share is not None else c.max_share for c in sc.channels])
    tol = 1e-7 * budget / T
    assert X.shape == (T, sc.n_channels) and np.all(np.isfinite(X)) and np.all(X >= -tol)
    assert X.sum() <= budget * (1 + 1e-9)
    step = X.sum(axis=1)
    if sc.budget.pacing == "even":
        np.testing.assert_allclose(step, budget / T, rtol=1e-7)
    else:
        assert np.all(step <= sc.budget.max_step_multiple * budget / T + tol)
    assert np.all(X >= lo * step[:, None] - tol) and np.all(X <= hi * step[:, None] + tol)


def _family(d: dict[str, Any], data: Any) -> ScenarioFamily:
    """Four draws of the campaign ``d``, every channel's height scaled by 0.3-3 (one held out), kept within
    the schema's range of heights (1e-9 .. 1e12)."""
    K = len(d["channels"])
    rows = data.draw(st.lists(st.lists(st.floats(0.3, 3.0), min_size=K, max_size=K), min_size=4, max_size=4))
    ensemble = [{f"channels.{i}.saturation.max_response": min(max(d["channels"][i]["saturation"]["max_response"] * f,
                                                                  1e-9), 1e12)
                 for i, f in enumerate(row)} for row in rows]
    return ScenarioFamily("prop", d, ensemble=ensemble, test_fraction=0.25)


@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(d=any_scenario_dicts(max_channels=3, max_horizon=6), data=st.data())
def test_any_family_plan_static_split_and_frontier_are_feasible_and_finite(d: dict[str, Any], data: Any) -> None:
    """A family of four draws of any valid campaign (every channel's height scaled by 0.3-3; half the
    campaigns with fields at the schema's edges), under the mean or a CVaR objective: the recommendation,
    the static split and every frontier level keep the budget, pacing and share bounds at their budget,
    and every reported number is finite."""
    fam = _family(d, data)
    objective = data.draw(st.sampled_from(["mean", "cvar:0.34", "cvar:0.67"]))
    sc = fam.nominal()
    B = sc.budget.total
    # 0.5-2 times the budget, within the budgets a scenario holds (a budget at 1e-9 or 1e15 sweeps one way)
    sweep = np.linspace(max(0.5, MIN_AMOUNT / B * (1 + 1e-12)), min(2.0, MAX_AMOUNT / B * (1 - 1e-12)), 3)
    res = plan(fam, draws=3, objective=objective, current="equal", sweep=sweep, curves=False, lift_design="none")
    _feasible(sc, res.plan, B)
    _feasible(sc, np.tile(res.static_shares * sc.step_budget, (sc.horizon, 1)), B)
    assert res.static_shares.sum() == pytest.approx(1.0) and np.all(res.static_shares >= 0)
    assert all(np.isfinite(v) for v in (res.value, res.static_value, res.baseline_value, res.current_value))
    assert res.draw_values is not None and np.all(np.isfinite(res.draw_values.to_numpy(float)))
    assert res.prob_beats_current is not None and 0.0 <= res.prob_beats_current <= 1.0
    f = res.frontier
    assert f is not None and np.all(np.isfinite(f[["budget", "spend", "outcome"]].to_numpy(float)))
    lo, hi = sc.share_bound_arrays
    for _, row in f.iterrows():
        spend = row[[f"spend_{n}" for n in sc.channel_names]].to_numpy(float)
        assert row["spend"] <= row["budget"] * (1 + 1e-9) and np.all(spend >= -1e-7 * row["budget"])
        if sc.budget.pacing == "even":  # B/T every step, so each channel's total within its share bounds of B
            assert row["spend"] == pytest.approx(row["budget"], rel=1e-7)
            # to check_plan's tolerance, 1e-7 of B/T a step (1e-7 of B in total), not of the channel's bound: seed 85
            # drew a sweep level whose plan (rounding of 0 taken off, each step's total kept) put a channel locked at
            # 0.487 at +1.0e-7 of B/T in a step, 1.4e-7 of its bound in total; check_plan accepts it
            assert np.all(spend >= (lo - 1e-7) * row["budget"] - 1e-9)
            assert np.all(spend <= (hi + 1e-7) * row["budget"])


@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(d=scenario_dicts(max_channels=2, max_horizon=4), data=st.data())
def test_any_voi_design_tests_from_the_history_mean_to_a_level_within_a_step(d: dict[str, Any], data: Any) -> None:
    """After any history, the VOI design's tests (of a family of any campaign) each move a channel
    from its mean spend in the history to a level in [0, B/T], are worth more than nothing (a plan
    worth 0 had taken tests worth 0), are distinct and at most ``max_tests``, and every number in
    them is finite (the value in % of the plan's: unless the plan is worth 0). The mean counts a history
    step at most ``ZERO_RTOL`` (1e-6) of the history's largest as no spend (``planner.voi``'s documented
    rule: the solver's rounding of 0); seed 6 drew a step of 3.4e-40 beside 0.6, whose raw mean failed."""
    from budgetgym.planner.voi import VOI_COLUMNS, voi_design

    fam = _family(d, data)
    sc = fam.nominal()
    K = sc.n_channels
    H = data.draw(st.integers(1, 3))
    hist = np.array(data.draw(st.lists(st.lists(st.floats(0.0, 2.0), min_size=K, max_size=K), min_size=H,
                                       max_size=H))) * sc.step_budget / K
    problem = PlanningProblem(fam, draws=3, history=hist)
    X = problem.solve()
    t = voi_design(problem, X, sc.channel_names, max_tests=3, draws=8)
    assert list(t.columns) == list(VOI_COLUMNS) and len(t) <= 3
    if t.empty:
        return
    assert not t.duplicated(["channel", "delta_x"]).any()
    idx = [sc.channel_names.index(c) for c in t["channel"]]
    control = np.where(hist > ZERO_RTOL * hist.max(), hist, 0.0).mean(axis=0)
    np.testing.assert_allclose(t["x"], control[idx], rtol=1e-12)
    np.testing.assert_allclose(t["planned_spend"], t["x"] + t["delta_x"], rtol=1e-12)
    assert np.all(t["planned_spend"] >= 0) and np.all(t["planned_spend"] <= sc.step_budget * (1 + 1e-12))
    assert np.all(t["voi"] > 0)
    numbers = t.select_dtypes("number").drop(columns="voi_pct").to_numpy(float)
    assert np.all(np.isfinite(numbers))
    # in % of the plan's value: undefined (NaN) only for a plan worth 0
    assert np.all(np.isfinite(t["voi_pct"])) if problem.value(X) != 0 else np.all(np.isnan(t["voi_pct"]))


def test_a_tiny_spend_that_saturates_a_cheap_channel_is_kept_in_the_recommendation() -> None:
    """The oracle saturates a channel priced at 1e-9 a thousand impressions with 5e-9 a step, 7e-10 of the step:
    below ZERO_RTOL, so the planner took it for the solver's rounding of 0 and dropped it, recommending a plan
    worth 8.57 for an optimum of 12.57 (session 26, ``test_the_recommendation_at_any_budget_and_horizon_is_the_oracle``
    with ``edges=True``, deterministic profile: -7.87 against the oracle's -6.69). Now it is kept: worth the hand
    optimum, and under a CVaR objective too."""
    sc = cheap_s_curve_scenario()
    for objective in ("mean", "cvar:0.5"):
        res = plan(sc, objective=objective, curves=False, lift_design="none")
        assert res.value == pytest.approx(CHEAP_S_CURVE_OPTIMUM, rel=1e-9)
        assert np.all(res.plan[:, 0] > 0) and np.all(res.plan[:, 0] < 1e-8)
    clean = np.array([[100.0, 3e-5, 50.0]])  # a residue that earns nothing (a value of the spend alone) is dropped
    np.testing.assert_array_equal(without_free_residue(clean, lambda P: -np.abs(P - [100.0, 0.0, 50.0]).sum((1, 2))),
                                  without_residue(clean))


def test_a_profit_maximising_spend_below_the_smallest_budget_is_found_at_that_budget() -> None:
    """Hypothesis seed 46 (session 26, edges=True): a family whose profit-maximising spend is 2.1e-10 (a
    channel saturated by 1e-10 a step, locked shares, agent pacing, CVaR). The profit-maximum search moved its
    root down to that spend and re-solved there: ``budget.total ... greater than or equal to 1e-9 (got 2.19e-10)``,
    a crash of ``plan`` on a valid campaign. Now the point sits at 1e-9, the smallest budget a scenario holds,
    and spends the optimum's 2.1e-10."""
    import json
    from pathlib import Path

    case = json.loads((Path(__file__).parent / "fixtures" / "property_examples"
                       / "profit_max_below_the_smallest_budget.json").read_text())
    d = case["campaign"]
    ensemble = [{f"channels.{i}.saturation.max_response": min(max(d["channels"][i]["saturation"]["max_response"] * f,
                                                                  1e-9), 1e12)
                 for i, f in enumerate(row)} for row in case["rows"]]
    fam = ScenarioFamily("prop", d, ensemble=ensemble, test_fraction=0.25)
    res = plan(fam, draws=3, objective="cvar:0.67", sweep=np.array([1.0, 1.5, 2.0]), curves=False,
               lift_design="none")
    assert res.profit_max is not None and res.profit_max["budget"] == MIN_AMOUNT
    assert 0.0 < res.profit_max["spend"] < MIN_AMOUNT
    assert res.plan.sum() < MIN_AMOUNT  # the recommendation at the budget (1) spends the same sliver


def test_budget_marginal_and_target_mroas_when_profit_leaves_budget_unspent() -> None:
    """Past the profit-maximising spend (profit reward, agent pacing) the optimum leaves budget unspent
    and stops moving with it: central differences of the re-solved optima's revenue and conversions
    are 0, so the budget's marginal ROAS is 0, not the spent share ``S/B`` (0.5 here); and a target
    marginal ROAS below 1 is met where the budget stops being spent, not at twice that budget
    (``S/B`` = 0.5 there)."""
    sc = load_scenario("delayed-5").override({"reward": "profit"})
    problem = PlanningProblem(sc)
    B = 4 * problem.budget
    point = solve_level(problem, MEAN, B)
    assert point.plan.sum() < 0.6 * B  # budget left unspent

    def revenue_conversions(b: float) -> tuple[float, float]:
        X = solve_level(problem, MEAN, b).plan
        m = problem.with_budget(b).objective
        return float(m.channel_revenue(X).sum()), float(m.channel_conversions(X).sum())

    h = 1e-3 * B
    (ru, cu), (rd, cd) = revenue_conversions(B + h), revenue_conversions(B - h)
    assert point.marginal["mroas"] == pytest.approx((ru - rd) / (2 * h), abs=1e-6)
    assert point.marginal["marginal_conversions"] == pytest.approx((cu - cd) / (2 * h), abs=1e-8)
    hit = budget_for_target(problem, MEAN, 0.5, "mroas", [solve_level(problem, MEAN, problem.budget)])
    assert hit is not None
    assert hit.plan.sum() == pytest.approx(hit.budget, rel=1e-4)  # where spending stops, not beyond it


@pytest.mark.parametrize("objective", sorted(TIED))
def test_cvar_budget_marginal_matches_finite_differences_where_members_tie(objective: str) -> None:
    """Where two members tie at the edge of the worst set (the CVaR optimum's kink), the budget's marginal
    return is the derivative of the re-solved CVaR optimum: central differences of ``solve_level`` at
    B +- h. The worst set picked by sorting (one of the tied members) was 1.4% and 0.7% off."""
    problem = tied_problem(TIED[objective])
    obj = Objective.parse(objective)
    B = problem.budget
    point = solve_level(problem, obj, B)
    h = 1e-3 * B
    fd = (solve_level(problem, obj, B + h).outcome - solve_level(problem, obj, B - h).outcome) / (2 * h)
    assert point.marginal["marginal_outcome"] == pytest.approx(fd, rel=1e-5)


@pytest.mark.parametrize("sweep", [None, "0.5:2:4"])
def test_where_every_spend_loses_the_profit_maximising_plan_spends_nothing(sweep: str | None) -> None:
    """Profit under agent pacing, two channels priced 1 a click, a conversion worth 1, Hill curves
    ``x / (1000 + x)`` conversions for ``x`` clicks a step: the most a unit of spend returns is the slope
    at 0, 1/1000 of a unit, so every spend loses and the best plan at every budget spends nothing (profit
    0). Its marginal return is exactly 0 at every budget, which the profit-maximising-budget search read as
    a root: it reported half the budget (the budget itself with a sweep) as profit-maximising; it is 0."""
    from budgetgym.planner.plan_text import summary_lines

    data = base_scenario_dict(2)
    data.update(horizon=4, reward="profit", budget={"total": 4000.0, "pacing": "agent", "max_step_multiple": 2.0})
    hill = {"type": "hill", "max_response": 1.0, "half_saturation": 1000.0, "slope": 1.0}
    cost = {"unit": "click", "price": 1.0, "ref_spend": 1000.0, "elasticity": 0.0}
    data["channels"] = [channel(n, cost=cost, saturation=hill) for n in ("a", "b")]
    sc = scenario_from_dict(data, source="test scenario")
    res = plan(sc, curves=False, lift_design="none", sweep=sweep)
    assert res.value == 0.0 and not res.plan.any()
    p = res.profit_max
    assert p is not None and "searched" not in p
    assert (p["budget"], p["multiple"], p["spend"], p["outcome"], p["marginal_outcome"]) == (0.0, 0.0, 0.0, 0.0, 0.0)
    line = next(s for s in summary_lines(res) if s.startswith("profit-maximising"))
    assert line == ("profit-maximising budget (marginal ROAS 1): 0 — no channel pays back: the profit-maximising "
                    "plan spends nothing (expected profit 0)")
    assert res.summary()["profit_max"] == p


def test_where_every_spend_loses_a_family_plan_spends_nothing() -> None:
    """The campaign of the test above as a family (channel a's most conversions drawn from 1/2 to 2, its
    slope at 0 still at most 2/1000 of a unit): the family's solver ranked only the barrier's plans, a hair
    inside the interior and below doing nothing, so at the budgets the search solved (without the static plan
    the recommendation also ranks) no root was found: "not found between 1/1024 and 1 × the budget"."""
    data = base_scenario_dict(2)
    data.update(horizon=4, reward="profit", budget={"total": 4000.0, "pacing": "agent", "max_step_multiple": 2.0})
    hill = {"type": "hill", "max_response": 1.0, "half_saturation": 1000.0, "slope": 1.0}
    cost = {"unit": "click", "price": 1.0, "ref_spend": 1000.0, "elasticity": 0.0}
    data["channels"] = [channel(n, cost=cost, saturation=hill) for n in ("a", "b")]
    vary = {"channels.0.saturation.max_response": {"dist": "loguniform", "low": 0.5, "high": 2.0}}
    fam = family_from_dict({"family": "loses", "seed": 1, "scenario": data, "vary": vary}, "test")
    problem = PlanningProblem(fam, draws=8)
    assert not problem.solve().any() and not solve_level(problem, MEAN, 1000.0).plan.any()
    res = plan(fam, curves=False, lift_design="none", draws=8)
    p = res.profit_max
    assert p is not None and (p["budget"], p["spend"], p["outcome"]) == (0.0, 0.0, 0.0)


def test_profit_maximising_budget_is_the_spend_where_budget_is_left_unspent() -> None:
    """Profit under agent pacing: past the best spend the optimum leaves budget unspent and its
    marginal return is 0 up to the solver's rounding (positive for 0.4% beyond the spend on
    delayed-5), so the root search stopped there; the profit-maximising budget is the spend itself
    (its plan spends it), and a budget 1% smaller earns less."""
    sc = load_scenario("delayed-5").override({"reward": "profit"})
    res = plan(sc, curves=False)
    assert res.profit_max is not None
    B = res.profit_max["budget"]
    assert res.profit_max["spend"] == pytest.approx(B, rel=1e-5)
    problem = PlanningProblem(sc)
    best = solve_level(problem, MEAN, 4 * B)  # budget to spare: the unconstrained best spend
    assert best.plan.sum() == pytest.approx(B, rel=1e-5)
    assert solve_level(problem, MEAN, 0.99 * B).outcome < res.profit_max["outcome"]


def test_a_plan_just_beyond_the_history_says_by_how_much() -> None:
    """The summary said "1× its largest step in the history" of a plan 2% above it (two digits of the
    multiple): a planner read it as within the history."""
    from dataclasses import replace

    from budgetgym.planner.report import summary_lines

    sc = load_scenario("stationary-3")
    res = plan(sc, history=np.array([[1000.0, 500.0, 800.0]]), curves=False, lift_design="none")
    assert res.beyond_history
    b = res.beyond_history[0]
    near = replace(res, beyond_history=[{**b, "history_max_step": b["plan_max_step"] / 1.02, "multiple": 1.02}])
    line = next(x for x in summary_lines(near) if x.startswith("beyond the history"))
    assert "(1.02× its largest step" in line, line


def test_channels_spent_in_few_history_steps_are_noted() -> None:
    """With a history, each channel's count of history steps with spend (``history_spent_steps``); a channel
    the plan spends on that the history spent on in fewer than 30% of its steps (the share below which a
    calibration calls a channel weakly spent) is listed and named in the report's sentences: its curve rests
    on those few steps (and a fitted family's prior), not on the plan's numbers alone."""
    from budgetgym.planner.report import summary_lines

    sc = load_scenario("stationary-3")
    hist = np.full((20, 3), 3000.0)
    hist[:, 1] = 0.0
    hist[[4, 11], 1] = 3000.0  # social: spent in 2 of the 20 steps (10%)
    hist[:15, 2] = 0.0  # video: in 5 of 20 (25%)
    res = plan(sc, history=hist, curves=False)
    np.testing.assert_array_equal(res.channels["history_spent_steps"], [20, 2, 5])
    spends = res.plan.sum(axis=0)
    assert spends[1] > 0.01 * spends.sum() and spends[2] > 0.01 * spends.sum()  # the plan uses both
    assert res.sparse_history == [
        {"channel": "social", "history_spent_steps": 2, "history_steps": 20},
        {"channel": "video", "history_spent_steps": 5, "history_steps": 20},
    ]
    assert res.summary()["sparse_history"] == res.sparse_history
    line = next(x for x in summary_lines(res) if x.startswith("thin history"))
    assert "social spent in only 2 of the 20 steps" in line and "video spent in only 5 of the 20 steps" in line
    assert "search" not in line
    dense = plan(sc, history=np.full((20, 3), 3000.0), curves=False)
    assert dense.sparse_history == [] and not any(x.startswith("thin history") for x in summary_lines(dense))


@pytest.mark.parametrize("segmented", [False, True])
def test_a_channel_the_plan_spends_nothing_on_has_no_roas_or_cpa(segmented: bool) -> None:
    """The solver leaves a dropped channel a rounding of 0 (1e-5 of 10,000 a step on overlap-5); the
    table printed its spend as 0 beside a ROAS of 0.80 and a CPA of 83, where the README says a channel
    the plan spends nothing on has none (an empty cell). Below ZERO_RTOL of the plan's largest step
    (``spent``) a channel's ROAS and CPA are NaN; a channel that spends keeps inc. revenue / spend."""
    curve = {"type": "hill", "max_response": 100.0, "half_saturation": 100.0, "slope": 1.0}
    chans = [{"name": n, "cost": {"unit": "click", "price": 1.0, "ref_spend": 1e6}} for n in ("a", "b")]
    d: dict[str, Any] = {"name": "drop", "horizon": 2, "budget": {"total": 200.0}, "reward": "revenue",
                         "noise": {"conversions": "none"}, "channels": chans}
    if segmented:  # one shared segment of the whole audience, value 1
        d["segments"] = [{"name": "all", "size": 1.0, "saturation": curve, "reach": {"a": 1.0, "b": 1.0}}]
    else:
        for c in chans:
            c["saturation"] = curve
    sc = scenario_from_dict(d)
    X = np.array([[100.0, 1e-5], [100.0, 1e-5]])  # b: 1e-7 of the largest step, below ZERO_RTOL
    t = channel_table(PlanningProblem(sc).objective, X, ["a", "b"], "revenue").set_index("channel")
    assert np.isnan(t.loc["b", "roas"]) and np.isnan(t.loc["b", "cpa"])
    # a: exposure 100 (+1e-5 of b's on the segment) a step: N = 2 * 100 * 100 / 200 = 100 over the window
    assert t.loc["a", "roas"] == pytest.approx(100.0 / 200.0, rel=1e-6)
    assert t.loc["a", "cpa"] == pytest.approx(200.0 / 100.0, rel=1e-6)


@pytest.mark.parametrize("multiplier", [5e-324, 1e-310])
def test_subnormal_conversions_have_no_cpa_and_no_overflow(multiplier: float) -> None:
    """A demand shock of 5e-324 over the window (hypothesis seed 12 of test_plan_properties) leaves every
    channel subnormal conversions (5e-324 x 50 a step, Hill 100 x / (x + 100) at 100 a step): CPA = 200 /
    2.5e-322 overflowed to inf with a RuntimeWarning ("overflow encountered in divide"), and so did the
    marginal CPA, 1 / 1e-324. Conversions below the smallest normal float (2.2e-308, where a float has
    lost its precision) are not meaningfully positive: CPA undefined (NaN, an empty cell, as for no
    conversions) and marginal CPA inf (no marginal conversions), without a warning."""
    import warnings

    curve = {"type": "hill", "max_response": 100.0, "half_saturation": 100.0, "slope": 1.0}
    chans = [{"name": n, "cost": {"unit": "click", "price": 1.0, "ref_spend": 1e6, "elasticity": 0.0},
              "saturation": curve} for n in ("a", "b")]
    sc = scenario_from_dict({"name": "tiny", "horizon": 2, "budget": {"total": 400.0}, "reward": "conversions",
                             "noise": {"conversions": "none"}, "channels": chans,
                             "shocks": [{"kind": "demand", "start": 0, "duration": 2, "multiplier": multiplier}]})
    X = np.full((2, 2), 100.0)
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        model = PlanningProblem(sc).objective
        t = channel_table(model, X, ["a", "b"], "conversions")
        assert budget_marginal(model, X, 400.0)["mcpa"] == np.inf
    conv = t["conversions"].to_numpy()
    assert np.all((conv > 0) & (conv < np.finfo(float).tiny))  # subnormal, as the example's
    assert t["cpa"].isna().all(), t["cpa"]
    assert np.all(t["mcpa"] == np.inf), t["mcpa"]
    np.testing.assert_array_equal(t["roas"].to_numpy(), conv / 200.0)  # value 1: revenue = conversions


def test_a_channel_holding_the_solvers_rounding_of_0_has_the_marginals_and_curve_of_an_unused_one() -> None:
    """CI's machine drew a plan leaving 8e-18 of spend on one step of a channel the plan does not use
    (``spent``: below ZERO_RTOL of the largest step), where this machine left exactly 0. The channel's
    marginal returns and response curve were taken along its own flighting, so along that one step: on
    holiday-5 its mROAS moved from 23,003 to 22,226 and its curve's end from 152,022 to 3,540 with the
    rounding. An unused channel follows the plan's profile, whatever rounding it holds. By hand: Hill
    100 x / (x + 100) of clicks at price 1, demand x3 on b in step 1 (a shock), the plan spends 100 a step
    on a: b's gradient at 0 is 1 conversion per currency in step 0 and 3 in step 1; along the plan's
    even profile (1/2, 1/2) its marginal conversions are 2 (revenue: value 1)."""
    import pandas as pd

    from budgetgym.planner.curves import response_curves

    curve = {"type": "hill", "max_response": 100.0, "half_saturation": 100.0, "slope": 1.0}
    chans = [{"name": n, "cost": {"unit": "click", "price": 1.0, "ref_spend": 1e6, "elasticity": 0.0},
              "saturation": curve} for n in ("a", "b")]
    sc = scenario_from_dict({"name": "dust", "horizon": 2, "budget": {"total": 200.0}, "reward": "revenue",
                             "noise": {"conversions": "none"}, "channels": chans,
                             "shocks": [{"kind": "demand", "start": 1, "duration": 1, "multiplier": 3.0,
                                         "channels": ["b"]}]})
    model = PlanningProblem(sc).objective
    zero = np.array([[100.0, 0.0], [100.0, 0.0]])
    for dust in (np.array([[100.0, 8e-18], [100.0, 0.0]]), np.array([[100.0, 0.0], [100.0, 8e-18]])):
        t = channel_table(model, dust, ["a", "b"], "revenue")
        assert t["marginal_conversions"].iloc[1] == pytest.approx(2.0, rel=1e-9)
        assert t["mroas"].iloc[1] == pytest.approx(2.0, rel=1e-9)
        pd.testing.assert_frame_equal(t, channel_table(model, zero, ["a", "b"], "revenue"), rtol=1e-12)
        got = response_curves(model, dust, ["a", "b"], "revenue", budget=200.0)
        want = response_curves(model, zero, ["a", "b"], "revenue", budget=200.0)
        pd.testing.assert_frame_equal(got, want, rtol=1e-12)


def test_a_share_bound_below_the_rounding_of_zero_is_kept() -> None:
    """The recommendation drops the solver's rounding of 0 (below ZERO_RTOL of its largest step) but not spend a
    share bound requires: a worthless video held to a least share of 5e-7 of each step keeps it (zeroed, the plan
    broke the bound by 5x check_plan's tolerance)."""
    from budgetgym.envs import load_scenario
    from budgetgym.envs.plan_value import check_plan

    sc = load_scenario("stationary-3")  # search, social, video
    weak = sc.override({
        "channels.video.saturation.max_response": 1e-6 * sc.channels[2].saturation.max_response,
        "channels.video.min_share": 5e-7,
    })
    X = plan(weak, curves=False, lift_design="none").plan
    assert X[:, 2].max() < ZERO_RTOL * X.max()  # the case: the bound is below the rule of no spend
    assert check_plan(weak, X) == []
    np.testing.assert_allclose(X[:, 2], 5e-7 * X.sum(axis=1), rtol=1e-3)


def test_a_channel_buying_far_below_its_half_saturation_is_solved_in_few_newton_steps(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Hypothesis (``conftest.families(max_channels=3, max_horizon=4)``, session 29): a family whose Hill channel
    (slope 0.5) is priced at 1e15 a click, so the plan's spend buys 5e-14 of its half-saturation, planned in 15 s
    where its neighbours took 0.2 s. The curves' derivatives were taken at a floor of 1e-12 kappa, above every
    step's adstock: the gradient was 4.6x off the value's slope, the Newton direction was no descent direction
    of the barrier function, and every centring round took its 60 steps with line searches that moved by the
    last bit. Now every round stops by its own decrement, in a few steps."""
    import json
    from pathlib import Path

    from budgetgym.envs.barrier import BarrierProblem

    case = json.loads((Path(__file__).parent / "fixtures" / "property_examples"
                       / "far_below_half_saturation_family.json").read_text())
    fam = family_from_dict(case["family"], source="hypothesis family")
    steps: list[int] = []
    direction, centre = BarrierProblem.direction, BarrierProblem.centre

    def counted_direction(self: BarrierProblem, *args: Any) -> Any:
        steps[-1] += 1
        return direction(self, *args)

    def counted_centre(self: BarrierProblem, *args: Any, **kwargs: Any) -> Any:
        steps.append(0)
        return centre(self, *args, **kwargs)

    monkeypatch.setattr(BarrierProblem, "direction", counted_direction)
    monkeypatch.setattr(BarrierProblem, "centre", counted_centre)
    problem = PlanningProblem(fam, draws=3).with_budget(2.0)  # a level of the target-CPA search that stalled
    X = solve_for(problem, MEAN)
    assert steps and max(steps) < 30, steps  # 60 (the cap) in every round before; 4 to 9 now
    assert check_plan(problem.scenario, X) == []


def test_a_channel_in_a_deep_outage_plans_with_finite_curvature() -> None:
    """Hypothesis (``test_any_voi_design_tests...``, seed 57, session 29): a 2-channel family whose channel ``c1``
    goes through an outage multiplying its exposure by 2.6e-70 (Hill slope 0.55), planned after one step of
    history. The derivative floor, relative to the channel's own largest adstock (1e-12 of it, for channels far
    below their curve), put the second derivative at 1e-82 of the curve, where it overflowed to -inf; the
    Hessian's ``inf * 0`` NaN stopped the barrier method with ``LinAlgError: Eigenvalues did not converge``. The
    floor now goes no lower than 1e-30 of the curve: the plan is feasible and finite. (The ensemble scales the
    channels' ``max_response`` as the property's draws did.)"""
    import json
    from pathlib import Path

    from budgetgym.envs.family import ScenarioFamily

    d = json.loads((Path(__file__).parent / "fixtures" / "property_examples"
                    / "outage_far_below_curve_family.json").read_text())
    rows = [[1.6171215918924156, 2.92454778053701], [1.2, 1.5918662929167517],
            [2.1935554719485397, 0.3333333333333333], [1.3579810831530001, 1.3048880448619204]]
    ens = [{f"channels.{i}.saturation.max_response": min(max(d["channels"][i]["saturation"]["max_response"] * f,
                                                                1e-9), 1e12) for i, f in enumerate(r)} for r in rows]
    fam = ScenarioFamily("prop", d, ensemble=ens, test_fraction=0.25)
    sc = fam.nominal()
    hist = np.array([[0.39804829790259844, 0.8079235131132252]]) * sc.step_budget / 2
    res = plan(fam, draws=3, history=hist, curves=False, lift_design="none", current="equal")
    assert np.all(np.isfinite(res.plan))
    assert check_plan(sc, res.plan) == []
