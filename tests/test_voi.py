"""Lift tests chosen by their expected value of information (``budgetgym.planner.voi``): on a hand-made
family whose members differ only in channel a's curve the tests on a are worth something and those on b
nothing; one test's value on a two-member family matches a direct integral over its outcome; the design
of ``plan --lift-design voi`` round-trips into ``simulate --lift-design``."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from conftest import run_cli
from hypothesis import example, given, settings
from hypothesis import strategies as st
from scipy import integrate, stats

from budgetgym.envs.family import ScenarioFamily
from budgetgym.envs.oracle import candidate_plans
from budgetgym.experiments.simulate import true_lift
from budgetgym.planner import PlanningProblem, plan
from budgetgym.planner.robust import Objective
from budgetgym.planner.voi import (
    VOI_COLUMNS,
    _loglik,
    _normal_points,
    candidate_tests,
    plan_menu,
    predicted_lifts,
    preposterior_gain,
    voi_design,
)

HISTORY = np.full((8, 2), 500.0)  # both channels at 500 a week


def _template() -> dict[str, object]:
    """Two click-priced channels with Hill curves, no delay, seasons or noise; budget 1000 a week."""
    channels = [
        {"name": n, "cost": {"unit": "click", "price": p, "ref_spend": 1e6, "elasticity": 0.0, "noise_sd": 0.0},
         "adstock": {"type": "geometric", "decay": 0.3, "window": 4},
         "saturation": {"type": "hill", "max_response": b, "half_saturation": k, "slope": 1.0}}
        for n, p, b, k in [("a", 1.0, 300.0, 900.0), ("b", 1.0, 300.0, 900.0)]
    ]
    return {"name": "hand-voi", "horizon": 8, "step_days": 7, "budget": {"total": 8 * 1000.0},
            "reward": "conversions", "noise": {"conversions": "none"}, "channels": channels}


def _problem(betas: list[float]) -> PlanningProblem:
    """The family whose members differ only in channel a's height ``betas`` (the last one held out: the
    train members are the first ``len(betas) - 1``, in a seeded order)."""
    ensemble = [{"channels.0.saturation.max_response": b} for b in betas]
    fam = ScenarioFamily("hand-voi", _template(), ensemble=ensemble, test_fraction=1.0 / len(betas))
    return PlanningProblem(fam, draws=len(betas) - 1, history=HISTORY)


def test_tests_on_the_uncertain_channel_are_worth_something_those_on_the_certain_one_nothing() -> None:
    problem = _problem([120.0, 300.0, 750.0, 300.0, 450.0, 200.0])
    X0 = problem.solve()
    tests = candidate_tests(X0, HISTORY, problem.scenario.step_budget)
    assert set(tests.index) == {0, 1}
    np.testing.assert_allclose(tests.x, 500.0)
    L = predicted_lifts(problem, tests)
    # the lifts are the simulator's, member by member; on b every member predicts the same
    m = problem.members[1]
    j = int(np.flatnonzero(tests.index == 0)[0])
    assert L[j, 1] == pytest.approx(true_lift(m.scenario, np.full(2, 500.0), 0, float(tests.delta_x[j])), rel=1e-12)
    assert np.ptp(L[tests.index == 1], axis=1).max() < 1e-9 * np.abs(L).max()
    assert np.ptp(L[tests.index == 0], axis=1).min() > 0.05 * np.abs(L[tests.index == 0]).mean()
    V = problem.member_values(plan_menu(problem, X0)).T
    prior = V.mean(axis=1).max()
    assert prior == pytest.approx(V[0].mean(), rel=1e-6)  # the robust plan is the menu's best for the prior
    Z = _normal_points(V.shape[1], 64, 1, np.random.default_rng(0))[:, :, 0]
    gain = np.array([preposterior_gain(V, _loglik(L[k], 0.15 * abs(L[k].mean()), Z)) - prior for k in range(len(L))])
    assert np.all(gain[tests.index == 1] == pytest.approx(0.0, abs=1e-9 * prior))  # nothing to learn on b
    assert np.all(gain[tests.index == 0] > 1e-3 * prior)  # a's height moves the split
    # the design: tests on a only, each worth its gain, the first the best of all
    design = voi_design(problem, X0, ["a", "b"], draws=64)
    assert list(design.columns) == list(VOI_COLUMNS)
    assert len(design) >= 1 and set(design["channel"]) == {"a"}
    assert design["voi"].iloc[0] == pytest.approx(gain.max(), rel=1e-9)
    assert (design["voi"] > 0).all()
    np.testing.assert_allclose(design["voi_pct"], 100 * design["voi"] / V[0].mean())
    np.testing.assert_allclose(design["planned_spend"], design["x"] + design["delta_x"])
    # nothing to learn when the members agree
    assert voi_design(_problem([300.0, 300.0, 300.0]), X0, ["a", "b"]).empty


def test_one_test_value_on_two_members_matches_the_integral() -> None:
    """Two members (a's height 150 or 600) and a three-plan menu (the robust plan, each member's own
    optimum; where the robust plan is chosen depends on the posterior's scale): the value
    of a test with outcome ``y ~ N(L_d*, s^2)`` is, by direct integration over ``z``,
    ``1/2 sum_d* int phi(z) V[p*(L_d* + s z), d*] dz`` minus the prior decision's value, with
    ``p*(y)`` the plan of larger posterior mean value."""
    problem = _problem([150.0, 600.0, 150.0])
    ids = sorted(range(2), key=lambda d: problem.members[d].scenario.channels[0].saturation.max_response)  # type: ignore[union-attr]
    X0 = problem.solve()
    own = [candidate_plans(problem.scenario, problem.members[d].expected, concave=True)[0] for d in ids]
    V = problem.member_values(np.stack([X0, *own])).T  # [3 plans, 2 members]
    assert V[1, ids[0]] > V[0, ids[0]] > V[2, ids[0]] and V[2, ids[1]] > V[0, ids[1]] > V[1, ids[1]]
    tests = candidate_tests(X0, HISTORY, problem.scenario.step_budget)
    j = int(np.flatnonzero(tests.index == 0)[-1])
    L = predicted_lifts(problem, tests)[j]
    s = 0.3 * abs(L.mean())  # a noisy test: the decision is not always right

    def realized(z: float, truth: int) -> float:
        y = L[truth] + s * z
        w = np.exp(-0.5 * ((y - L) / s) ** 2)
        return float(V[int(np.argmax(V @ w)), truth])

    exact = 0.5 * sum(integrate.quad(lambda z, t=t: stats.norm.pdf(z) * realized(z, t), -10, 10, limit=200,
                                     points=[0.0])[0] for t in range(2))
    prior = V.mean(axis=1).max()
    Z = _normal_points(2, 4000, 1, np.random.default_rng(1))[:, :, 0]
    ours = preposterior_gain(V, _loglik(L, s, Z))
    assert exact - prior > 1e-3 * prior  # the test is worth something
    assert ours - prior == pytest.approx(exact - prior, rel=2e-2)


def test_plan_voi_design_round_trips_into_simulate(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """``plan FAMILY --history --lift-design voi`` writes lift_design.csv with the VOI columns and names
    the tests' value in its report line; ``simulate --lift-design`` runs those tests."""
    ensemble = [{"channels.0.saturation.max_response": b} for b in (120.0, 300.0, 750.0, 450.0, 200.0)]
    family = tmp_path / "family.yaml"
    family.write_text(yaml.safe_dump({"family": "hand-voi", "scenario": _template(), "ensemble": ensemble,
                                      "test_fraction": 0.2}))
    hist = tmp_path / "history.csv"
    pd.DataFrame(HISTORY, columns=["a", "b"]).to_csv(hist, index=False)
    code, out, err = run_cli(capsys, "plan", str(family), "--history", str(hist), "--lift-design", "voi",
                             "--no-plots", "--out", str(tmp_path / "p"))
    assert code == 0, err
    assert "value of information" in out
    design = pd.read_csv(tmp_path / "p" / "lift_design.csv")
    assert list(design.columns) == list(VOI_COLUMNS) and set(design["channel"]) == {"a"}
    res = plan(family, history=hist, curves=False)  # voi is the default
    assert res.lift_design is not None
    np.testing.assert_allclose(design[["x", "delta_x", "voi"]], res.lift_design[["x", "delta_x", "voi"]], rtol=1e-9)
    scenario = tmp_path / "truth.yaml"
    scenario.write_text(yaml.safe_dump(_template()))
    code, out, err = run_cli(capsys, "simulate", str(scenario), "--periods", "10", "--lift-design",
                             str(tmp_path / "p" / "lift_design.csv"), "--out", str(tmp_path / "sim"))
    assert code == 0, err
    tests = pd.read_csv(tmp_path / "sim" / "truth" / "lift_tests.csv")
    assert list(tests["channel"]) == ["a_spend"] * len(design)
    np.testing.assert_allclose(tests[["x", "delta_x"]], design[["x", "delta_x"]])
    assert (np.sign(tests["true_delta_y"]) == np.sign(design["delta_x"])).all()


def test_the_printed_design_says_each_value_is_what_the_test_adds_to_those_before_it() -> None:
    """The tests are chosen one at a time and ``voi`` is what each adds to those before it, so a later test can
    show more than an earlier one (a calibrated family printed "... search (value of information 936.0) ...;
    tv (value of information 1,149)", read as a broken ranking): the line says how they were chosen, gives
    each its increment and the set's total, the sum of the increments."""
    from budgetgym.planner.plan_text import fmt, summary_lines

    ensemble = [{"channels.0.saturation.max_response": b} for b in (120.0, 300.0, 750.0, 450.0, 200.0)]
    family = ScenarioFamily("hand-voi", _template(), ensemble=ensemble, test_fraction=0.2)
    res = plan(family, history=HISTORY, curves=False)
    assert res.lift_design is not None and len(res.lift_design) >= 2
    line = next(s for s in summary_lines(res) if s.startswith("lift tests"))
    value = abs(res.value)
    total = float(res.lift_design["voi"].sum())
    assert line.startswith("lift tests to run next (lift_design.csv), chosen one at a time, each by the value of "
                           f"information it adds to those before it (together {fmt(total, scale=value)}, "
                           f"{100 * total / value:.2f}% of the plan's value): "), line
    for r in res.lift_design.to_dict(orient="records"):
        assert f"a step (adds {fmt(r['voi'], scale=value)}, {r['voi_pct']:.2f}% of the plan's value)" in line


def test_lift_design_rules_on_a_scenario() -> None:
    """A scenario's curves are known: ``voi`` proposes ``beyond``'s tests; ``none`` none; another rule is a
    one-line error."""
    from budgetgym.envs.errors import BudgetGymError

    hist = np.array([[1000.0, 0.0, 1e7], [2000.0, 0.0, 0.0]])
    beyond = plan("stationary-3", history=hist, curves=False, lift_design="beyond")
    assert beyond.lift_design is not None and len(beyond.lift_design)
    voi = plan("stationary-3", history=hist, curves=False, lift_design="voi")
    pd.testing.assert_frame_equal(voi.lift_design, beyond.lift_design)
    pd.testing.assert_frame_equal(plan("stationary-3", history=hist, curves=False).lift_design, beyond.lift_design)
    assert plan("stationary-3", history=hist, curves=False, lift_design="none").lift_design is None
    with pytest.raises(BudgetGymError, match="--lift-design 'best': expected one of beyond, voi, none"):
        plan("stationary-3", history=hist, lift_design="best")


@pytest.mark.parametrize(("option", "value", "message"), [
    ("--lift-design", "best", "error: --lift-design 'best': expected one of beyond, voi, none"),
    ("--lift-tests", "0", "error: --lift-tests: expected a positive number of tests, got 0"),
    ("--lift-sigma", "0", "error: --lift-sigma: expected a positive relative standard error, got 0"),
    ("--lift-sigma", "nan", "error: --lift-sigma: expected a positive relative standard error, got nan"),
])
def test_bad_design_options_exit_2_with_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], option: str, value: str, message: str
) -> None:
    out = tmp_path / "out"
    code, _, err = run_cli(capsys, "plan", "stationary-3", option, value, "--no-plots", "--out", str(out))
    assert code == 2
    assert err.strip().splitlines() == [message]
    assert not out.exists()


def test_the_menus_highest_level_is_a_candidate_beyond_five_times_the_history() -> None:
    """A channel the history barely spent (50 a week) that some menu plan would spend 900 on (18 times
    its mean, past the largest multiple): the candidates test it from 50 to 900 too, and to nothing
    above the menu's highest level; without the menu, not."""
    X0 = np.tile([300.0, 700.0], (4, 1))
    history = np.tile([50.0, 950.0], (6, 1))
    menu = np.stack([X0, np.tile([900.0, 100.0], (4, 1)), np.array([[0.0, 1000.0], [600.0, 400.0]] * 2)])
    with_menu = candidate_tests(X0, history, 1000.0, menu=menu)
    levels_a = np.sort(with_menu.x[with_menu.index == 0] + with_menu.delta_x[with_menu.index == 0])
    # 0.5, 2, 3, 5 times 50, the plan's 300 and the menu's highest level of a, 900 (the third plan's is 600)
    np.testing.assert_allclose(levels_a, [25.0, 100.0, 150.0, 250.0, 300.0, 900.0])
    without = candidate_tests(X0, history, 1000.0)
    np.testing.assert_allclose(np.sort(without.x[without.index == 0] + without.delta_x[without.index == 0]),
                               [25.0, 100.0, 150.0, 250.0, 300.0])


def test_design_columns_by_hand_and_each_pick_is_the_best_increment() -> None:
    """On the hand-made family (channel a's height differs across members): each test's predicted lift
    is the members' mean of the steady state by hand (exposure x, adstock sum_{l<4} 0.3^l = 1.417 of
    it, Hill with half-saturation 900), its sd their spread, the assumed sigma 15% of the mean; and
    the greedy choice, checked against every candidate: each test is the one of largest gain given
    those before it (the preposterior value, checked against an integral above), its ``voi`` that
    gain, and the gains add up to the value of the whole set."""
    problem = _problem([120.0, 300.0, 750.0, 300.0, 450.0, 200.0])
    X0 = problem.solve()
    design = voi_design(problem, X0, ["a", "b"], max_tests=3, draws=16, seed=5)
    assert len(design) >= 2
    betas = np.array([m.scenario.channels[0].saturation.max_response for m in problem.members])  # type: ignore[union-attr]
    w = 1 + 0.3 + 0.3**2 + 0.3**3

    def hill(a: float) -> float:
        return a / (900.0 + a)

    for _, row in design.iterrows():
        assert row["channel"] == "a" and row["x"] == pytest.approx(500.0)
        lifts = betas * (hill(w * (row["x"] + row["delta_x"])) - hill(w * row["x"]))
        assert row["predicted_lift"] == pytest.approx(lifts.mean(), rel=1e-6)
        assert row["predicted_lift_sd"] == pytest.approx(lifts.std(), rel=1e-6)
        assert row["assumed_sigma"] == pytest.approx(0.15 * abs(lifts.mean()), rel=1e-6)
    # the greedy choice against every candidate, on the design's own quadrature points
    menu = plan_menu(problem, X0)
    tests = candidate_tests(X0, HISTORY, problem.scenario.step_budget, menu=menu)
    L = predicted_lifts(problem, tests)
    V = problem.member_values(menu).T
    sigma = 0.15 * np.abs(L.mean(axis=1))
    Z = _normal_points(V.shape[1], 16, 3, np.random.default_rng(5))
    ll = np.zeros((V.shape[1], 16, V.shape[1]))
    current = V.mean(axis=1).max()
    chosen: list[int] = []
    for s, (_, row) in enumerate(design.iterrows()):
        value = {j: preposterior_gain(V, ll + _loglik(L[j], sigma[j], Z[:, :, s]))
                 for j in range(len(L)) if j not in chosen}  # a test is proposed once
        picked = [j for j in range(len(L)) if tests.index[j] == 0 and np.isclose(tests.delta_x[j], row["delta_x"])]
        assert len(picked) == 1
        j = picked[0]
        assert value[j] >= max(value.values()) - 1e-9 * abs(current)  # no other candidate adds more
        assert row["voi"] == pytest.approx(value[j] - current, rel=1e-9)
        ll = ll + _loglik(L[j], sigma[j], Z[:, :, s])
        current = value[j]
        chosen.append(j)
    assert design["voi"].sum() == pytest.approx(current - V.mean(axis=1).max(), rel=1e-9)


def test_latin_hypercube_points_are_permuted_normal_quantiles() -> None:
    """Per truth and slot the R points are the quantiles Phi^-1((r + 1/2)/R) in some order (midpoint
    quadrature of the normal for one test), independently permuted."""
    from scipy.stats import norm

    Z = _normal_points(3, 8, 2, np.random.default_rng(0))
    q = norm.ppf((np.arange(8) + 0.5) / 8)
    assert Z.shape == (3, 8, 2)
    for n in range(3):
        for s in range(2):
            np.testing.assert_allclose(np.sort(Z[n, :, s]), q, rtol=1e-12)
    assert not np.array_equal(Z[0, :, 0], Z[0, :, 1]) and not np.array_equal(Z[0, :, 0], Z[1, :, 0])


def test_no_test_is_proposed_when_no_decision_can_gain() -> None:
    """A demand shock zeroes every conversion in the window: every plan of the menu is worth 0 under every
    member, so no test can change the decision's value, though the members' lifts (measured after the
    shock) differ. The stopping rule's threshold ``min_gain |V(X0)|`` is 0 here; tests worth 0 are not
    proposed (they were: one per slot up to ``max_tests``)."""
    template = _template()
    template["shocks"] = [{"kind": "demand", "start": 0, "duration": 8, "multiplier": 0.0}]
    ensemble = [{"channels.0.saturation.max_response": b} for b in (120.0, 300.0, 750.0, 450.0)]
    fam = ScenarioFamily("hand-voi", template, ensemble=ensemble, test_fraction=0.25)
    problem = PlanningProblem(fam, draws=3, history=HISTORY)
    X0 = problem.solve()
    V = problem.member_values(plan_menu(problem, X0))
    assert np.all(V == 0.0)
    tests = candidate_tests(X0, HISTORY, problem.scenario.step_budget)
    assert np.ptp(predicted_lifts(problem, tests)[tests.index == 0], axis=1).min() > 0  # the members disagree
    assert voi_design(problem, X0, ["a", "b"]).empty


def test_a_family_of_one_draw_proposes_beyonds_tests() -> None:
    """A family with one train draw (a two-member ensemble, one held out) is a known curve to the
    design, as a scenario is: no test changes the decision, so ``voi`` proposes ``beyond``'s tests
    (it proposed none, though the plan spends 8 times the history's largest step on a)."""
    ensemble = [{"channels.0.saturation.max_response": b} for b in (150.0, 600.0)]
    fam = ScenarioFamily("hand-voi", _template(), ensemble=ensemble, test_fraction=0.5)
    history = HISTORY.copy()
    history[:, 0] = 100.0
    voi = plan(fam, history=history, curves=False)
    assert voi.is_family and voi.draws == 1 and [b["channel"] for b in voi.beyond_history or []] == ["a"]
    beyond = plan(fam, history=history, curves=False, lift_design="beyond")
    assert voi.lift_design is not None and beyond.lift_design is not None
    pd.testing.assert_frame_equal(voi.lift_design, beyond.lift_design)
    assert list(voi.lift_design["channel"]) == ["a"]


def test_the_first_tests_of_a_design_are_the_design_of_fewer_tests() -> None:
    """Greedy: ``max_tests=k`` proposes the first ``k`` tests of a longer design, with the same values.
    The quadrature points were drawn truth by truth, so slot 2 of truth 1 moved with the number of
    slots (``retail-5-family``: ``--lift-tests 4`` proposed display twice, ``--lift-tests 5``
    display then search)."""
    Z = _normal_points(4, 8, 5, np.random.default_rng(3))
    np.testing.assert_array_equal(_normal_points(4, 8, 2, np.random.default_rng(3)), Z[:, :, :2])
    problem = _problem([120.0, 300.0, 750.0, 300.0, 450.0, 200.0])
    X0 = problem.solve()
    longer = voi_design(problem, X0, ["a", "b"], max_tests=4, draws=8, seed=2, min_gain=0.0)
    assert len(longer) >= 3
    for k in (2, 3):
        shorter = voi_design(problem, X0, ["a", "b"], max_tests=k, draws=8, seed=2, min_gain=0.0)
        pd.testing.assert_frame_equal(shorter, longer.iloc[:k])


def _tail_mean_by_ru(values: np.ndarray, weights: np.ndarray, mass: float) -> float:
    """The lower-tail CVaR of a discrete distribution by Rockafellar and Uryasev's formula,
    ``max_t t - E[(t - V)^+] / mass`` (the maximum is at a support point): independent of the sorting
    and clipping of ``Objective.weighted_score``."""
    return max(t - float(np.sum(weights * np.maximum(t - values, 0.0))) / mass for t in values)


@settings(max_examples=60, deadline=None)
@given(st.integers(1, 7), st.integers(2, 9), st.floats(0.05, 1.0), st.integers(0, 2**31 - 1))
@example(plans=2, members=9, alpha=1.0, seed=85040997)  # a weighted mean of -2.7e-5 from terms of order 1
def test_weighted_cvar_is_rockafellar_uryasevs_and_equal_weights_give_the_k_worst(
    plans: int, members: int, alpha: float, seed: int
) -> None:
    rng = np.random.default_rng(seed)
    V = rng.normal(size=(plans, members)).round(1)  # ties too
    W = rng.dirichlet(np.ones(members), size=(2, 3))
    cvar = Objective.parse(f"cvar:{alpha}")
    mass = cvar.tail(members) / members
    got = cvar.weighted_score(V, W)
    assert got.shape == (2, 3, plans)
    for idx in np.ndindex(2, 3):
        for p in range(plans):
            assert got[idx + (p,)] == pytest.approx(_tail_mean_by_ru(V[p], W[idx], mass), rel=1e-9, abs=1e-12)
    equal = np.full(members, 1.0 / members)
    np.testing.assert_allclose(cvar.weighted_score(V, equal), cvar.score(V.T), rtol=1e-12, atol=1e-12)
    # The mean is the weighted sum; a sum's rounding error scales with its terms' magnitudes, not with the sum
    # (a mean of -2.7e-5 from terms of order 1 is 1e-16 off in another summation order, 2e-12 of itself).
    err = np.abs(Objective().weighted_score(V, W) - np.einsum("abm,pm->abp", W, V))
    assert np.all(err <= 1e-12 * np.einsum("abm,pm->abp", W, np.abs(V))), err


def test_one_test_value_to_a_cvar_planner_matches_the_integral() -> None:
    """Four members (a's height 120, 300, 750 or 450), a menu of the robust plan and each member's own
    optimum, ``cvar:0.5`` (the mean of the worse two members): after outcome ``y`` the planner picks the
    plan of the larger posterior CVaR (the mean over the lower half of the posterior mass), and the test is
    worth the mean of the two lowest of the truths' expected outcomes ``E_z V[p*(y), d*]``, less the best
    CVaR without it. By direct integration over ``z`` on a fine grid, the posterior CVaR by Rockafellar
    and Uryasev's formula."""
    problem = _problem([120.0, 300.0, 750.0, 450.0, 300.0])
    X0 = problem.solve()
    own = [candidate_plans(problem.scenario, m.expected, concave=True)[0] for m in problem.members]
    V = problem.member_values(np.stack([X0, *own])).T  # [5 plans, 4 members]
    tests = candidate_tests(X0, HISTORY, problem.scenario.step_budget)
    L = predicted_lifts(problem, tests)[int(np.flatnonzero(tests.index == 0)[-1])]
    s = 0.2 * abs(L.mean())
    cvar = Objective.parse("cvar:0.5")
    grid = np.linspace(-8, 8, 160001)
    dens = stats.norm.pdf(grid) * (grid[1] - grid[0])
    expected = []
    for t in range(4):
        w = np.exp(-0.5 * ((L[t] + s * grid[:, None] - L[None, :]) / s) ** 2)
        w /= w.sum(axis=1, keepdims=True)  # [G, 4] posteriors
        ru = np.stack([np.max([c - (w * np.maximum(c - V[p], 0.0)).sum(axis=1) / 0.5 for c in V[p]], axis=0)
                       for p in range(len(V))], axis=1)  # [G, P]: Rockafellar-Uryasev, max over the support
        expected.append(float(dens @ V[np.argmax(ru, axis=1), t]))
    exact = float(np.mean(np.sort(expected)[:2]))
    prior = float(cvar.score(V.T).max())
    Z = _normal_points(4, 4000, 1, np.random.default_rng(1))[:, :, 0]
    ours = preposterior_gain(V, _loglik(L, s, Z), cvar)
    assert exact - prior > 1e-3 * abs(prior)  # the test is worth something to the risk-averse planner
    assert ours - prior == pytest.approx(exact - prior, rel=2e-2)
    # no information: a test whose lift every member predicts alike changes no decision, worth 0
    assert preposterior_gain(V, _loglik(np.full(4, L.mean()), s, Z), cvar) == pytest.approx(prior, rel=1e-12)
    # two members (a's height 150 or 600): the worse member's own optimum is already the robust plan, and
    # no outcome can raise what the worse truth gets: the test is worth nothing to cvar:0.5
    two = _problem([150.0, 600.0, 150.0])
    V2 = two.member_values(np.stack([candidate_plans(two.scenario, m.expected, concave=True)[0]
                                     for m in two.members])).T
    L2 = predicted_lifts(two, candidate_tests(X0, HISTORY, two.scenario.step_budget))[0]
    gain2 = preposterior_gain(V2, _loglik(L2, 0.2 * abs(L2.mean()), Z[:2]), cvar) - cvar.score(V2.T).max()
    assert gain2 <= 1e-9 * abs(cvar.score(V2.T).max())


def test_a_cvar_plans_design_values_its_tests_for_the_cvar_planner() -> None:
    """``plan(objective="cvar:...", lift_design="voi")`` designs for the planner's objective: its tests'
    values are the CVaR preposterior gains (the first one checked against every candidate), ``voi_pct``
    is in % of the plan's CVaR; ``cvar:1`` is the mean's design."""
    problem = _problem([120.0, 300.0, 750.0, 300.0, 450.0, 200.0])
    X0 = problem.solve()
    mean = voi_design(problem, X0, ["a", "b"], max_tests=2, draws=16, seed=4)
    whole = voi_design(problem, X0, ["a", "b"], max_tests=2, draws=16, seed=4, objective=Objective.parse("cvar:1"))
    pd.testing.assert_frame_equal(whole, mean, rtol=1e-9)
    cvar = Objective.parse("cvar:0.4")
    design = voi_design(problem, X0, ["a", "b"], max_tests=2, draws=16, seed=4, objective=cvar)
    assert len(design) >= 1 and set(design["channel"]) == {"a"}
    menu = plan_menu(problem, X0)
    tests = candidate_tests(X0, HISTORY, problem.scenario.step_budget, menu=menu)
    L = predicted_lifts(problem, tests)
    V = problem.member_values(menu).T
    Z = _normal_points(V.shape[1], 16, 2, np.random.default_rng(4))[:, :, 0]
    prior = float(cvar.score(V.T).max())
    gains = [preposterior_gain(V, _loglik(L[j], 0.15 * abs(L[j].mean()), Z), cvar) - prior for j in range(len(L))]
    assert design["voi"].iloc[0] == pytest.approx(max(gains), rel=1e-9)
    assert not np.isclose(design["voi"].iloc[0], mean["voi"].iloc[0], rtol=1e-3)  # another objective, another value
    np.testing.assert_allclose(design["voi_pct"], 100 * design["voi"] / float(cvar.score(V[0])))


def test_a_channel_the_plan_stops_is_a_holdout_candidate() -> None:
    """The plan stops channel b (its steps at the solver's rounding of 0, 1e-13 of the largest) while the
    history spends 400 a step on it: b is tested from 400 to nothing (a holdout), besides the multiples.
    Counting those steps as unspent (spend_levels) had dropped the plan's level 0, and with it the test
    the design valued most on a daily calibrated family (display, VOI 321 against 99 for a halving)."""
    X0 = np.tile([1000.0, 1e-10], (4, 1))
    history = np.tile([600.0, 400.0], (6, 1))
    cands = candidate_tests(X0, history, 1000.0)
    levels_b = np.sort(cands.x[cands.index == 1] + cands.delta_x[cands.index == 1])
    np.testing.assert_allclose(levels_b, [0.0, 200.0, 800.0, 1000.0], atol=1e-9)  # 0, 0.5x, 2x, 3x and 5x capped
    # a channel neither the history nor the plan spends on gets no test to 0 (from 0 to 0)
    none = candidate_tests(np.tile([1000.0, 0.0], (4, 1)), np.tile([600.0, 0.0], (6, 1)), 1000.0)
    assert not np.any((none.index == 1) & (none.x + none.delta_x == 0.0))


def test_a_test_on_a_channel_the_plan_stops_reports_no_planned_spend() -> None:
    """Channel b is worth little in all but one member: the plan stops it (its steps at the solver's rounding of
    0, ~5e-7 of the largest) and the design's best test is a holdout on it, 500 to nothing. Its plan_max_spend
    (the plan's largest step on b) read 5.1e-7 beside planned_spend 0: no spend is 0, as in vs_history_max."""
    ensemble = [{"channels.1.saturation.max_response": b} for b in [1.0, 2.0, 150.0, 3.0, 1.5, 2.5]]
    fam = ScenarioFamily("hand-voi", _template(), ensemble=ensemble, test_fraction=1.0 / 6)
    problem = PlanningProblem(fam, draws=5, history=HISTORY)
    X0 = problem.solve()
    assert 0 < X0[:, 1].max() < 1e-6 * X0.max()  # the case: b at the solver's rounding of 0
    design = voi_design(problem, X0, ["a", "b"], max_tests=1, draws=8, seed=0)
    assert list(design["channel"]) == ["b"] and design["planned_spend"][0] == 0.0  # the holdout
    assert design["plan_max_spend"][0] == 0.0 and design["history_max_spend"][0] == 500.0


def test_a_history_channel_at_the_solvers_rounding_of_zero_is_tested_as_never_spent() -> None:
    """A history that is an earlier plan's plan.csv holds ~1e-7 on a channel that plan dropped. Its candidates
    were tests from that mean at 0.5-5 times it (1e-7 to 5e-7: tests of nothing); it is never spent, as
    metrics.spent says (the history's columns call it so), so tested from 0 at multiples of an equal share."""
    X0 = np.tile([600.0, 400.0], (4, 1))
    rounding = candidate_tests(X0, np.tile([1000.0, 1e-7], (6, 1)), 1000.0)
    never = candidate_tests(X0, np.tile([1000.0, 0.0], (6, 1)), 1000.0)
    b = rounding.index == 1
    np.testing.assert_array_equal(rounding.x[b], 0.0)
    np.testing.assert_allclose(np.sort(rounding.delta_x[b]), np.sort(never.delta_x[never.index == 1]), rtol=1e-12)
    np.testing.assert_allclose(np.sort(rounding.delta_x[b]), [250.0, 400.0, 1000.0], rtol=1e-12)  # 0.5x 500, plan, 2x+
    assert rounding.base[1] == 0.0


def test_a_conversions_kpi_planned_as_revenue_has_its_lifts_in_conversions_too() -> None:
    """A family with ``kpi: conversions`` (a conversions KPI valued at 40 each by ``calibrate --revenue-per-kpi``)
    plans revenue, so its design's lifts are revenue; a lift test measures conversions, the KPI, and
    ``calibrate --lift-tests`` reads them. ``lift_design.csv`` adds the predicted lift, its sd over the members
    and the assumed sd in conversions (the simulator's lift of the member's conversions, by hand), the other
    columns as they were; a family without ``kpi`` keeps its columns."""
    from budgetgym.planner.voi import CONVERSION_COLUMNS

    template = _template()
    template["reward"] = "revenue"
    for c in template["channels"]:  # type: ignore[attr-defined]
        c["value"] = {"mean": 40.0}
    betas = [120.0, 300.0, 750.0, 300.0, 450.0, 200.0]
    ensemble = [{"channels.0.saturation.max_response": b} for b in betas]
    designs = {}
    for kpi in ("none", "conversions"):
        fam = ScenarioFamily("hand-voi", {**template, "kpi": kpi}, ensemble=ensemble, test_fraction=1.0 / len(betas))
        problem = PlanningProblem(fam, draws=len(betas) - 1, history=HISTORY)
        designs[kpi] = (problem, voi_design(problem, problem.solve(), ["a", "b"], max_tests=2, draws=16, seed=1))
    (_, plain), (problem, counted) = designs["none"], designs["conversions"]
    assert list(plain.columns) == list(VOI_COLUMNS)
    assert list(counted.columns) == [*VOI_COLUMNS, *CONVERSION_COLUMNS]
    assert len(counted) >= 1
    pd.testing.assert_frame_equal(counted[list(VOI_COLUMNS)], plain)
    row = counted.iloc[0]
    i = ["a", "b"].index(row["channel"])
    lifts = [true_lift(m.scenario.override({"reward": "conversions"}), np.full(2, 500.0), i, float(row["delta_x"]))
             for m in problem.members]
    assert row["predicted_lift_conversions"] == pytest.approx(np.mean(lifts), rel=1e-9)
    assert row["predicted_lift_conversions_sd"] == pytest.approx(np.std(lifts), rel=1e-9)
    assert row["predicted_lift"] == pytest.approx(40.0 * np.mean(lifts), rel=1e-9)
    assert row["assumed_sigma_conversions"] == pytest.approx(row["assumed_sigma"] / 40.0, rel=1e-12)


def test_lifts_in_conversions_divide_by_each_tests_own_channels_value() -> None:
    """With channels worth different amounts per conversion (a 40, b 10), every row's lift in conversions is its
    revenue lift over its own channel's value: the mean, the sd over the members and the assumed sd (the values
    are the same in every member, so exactly ``/ v_i``). The division once took the first candidate's channel's
    value for every row."""
    template = _template()
    template["reward"] = "revenue"
    values = {"a": 40.0, "b": 10.0}
    for c, v in zip(template["channels"], values.values(), strict=True):  # type: ignore[call-overload]
        c["value"] = {"mean": v}
    ensemble = [{"channels.0.saturation.max_response": a, "channels.1.saturation.max_response": b}
                for a, b in [(120.0, 900.0), (300.0, 100.0), (750.0, 400.0), (300.0, 2000.0), (450.0, 50.0),
                             (200.0, 600.0)]]
    fam = ScenarioFamily("hand-voi", {**template, "kpi": "conversions"}, ensemble=ensemble, test_fraction=1.0 / 6)
    problem = PlanningProblem(fam, draws=5, history=HISTORY)
    design = voi_design(problem, problem.solve(), ["a", "b"], max_tests=4, draws=16, seed=1, min_gain=0.0)
    assert set(design["channel"]) == {"a", "b"}  # both channels' values are used
    for _, row in design.iterrows():
        v = values[row["channel"]]
        assert row["predicted_lift_conversions"] == pytest.approx(row["predicted_lift"] / v, rel=1e-9)
        assert row["predicted_lift_conversions_sd"] == pytest.approx(row["predicted_lift_sd"] / v, rel=1e-9)
        assert row["assumed_sigma_conversions"] == pytest.approx(row["assumed_sigma"] / v, rel=1e-9)
