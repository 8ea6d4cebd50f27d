"""The best constant split in hindsight (:func:`budgetgym.envs.best_constant_split`) and the
dynamic headroom ``budgetgym show`` prints.

* brute force: every split on a 1% grid of the simplex, then a 0.05% grid around the best cell,
  valued by batched :func:`~budgetgym.envs.evaluate_plan` on small scenarios (S-curve,
  carry-over, delay, a capped channel; even and agent pacing) — independent of the library's
  grid programme and polish;
* theory: without carry-over, delay or anything time-varying every step is the same problem,
  so the oracle's plan is itself a constant split (headroom 0); the result is never above the
  oracle nor below the equal split; its plan is feasible and valued by ``evaluate_plan``;
* the new built-ins keep the dynamic headroom they were built for (at least 10 points);
* ``budgetgym show`` prints the equal split, the best constant split and the oracle as the
  library functions compute them.
"""

from __future__ import annotations

import re

import numpy as np
import pytest
from conftest import run_cli

from budgetgym.envs import (
    ChannelModel,
    best_constant_split,
    check_plan,
    constant_split_plan,
    evaluate_plan,
    load_scenario,
    scenario_from_dict,
    scenario_path,
    solve_oracle,
)
from budgetgym.envs.expected import ExpectedModel

#: Built-ins designed so that adapting pays (configs/scenarios/*.yaml, "why a static split fails").
ADAPTIVE_BUILTINS = ["competitor-5", "holiday-5", "launch-5", "pulse-4"]
CAP = 0.06


def _small(pacing: str = "even", **top: object):
    """Three channels, six steps: an S-curve with carry-over, a concave channel with a delay and
    a logistic channel capped at 6% of each step (its unconstrained best share is ~8%); a demand
    shock makes the path non-constant."""
    data: dict = {
        "name": "small",
        "horizon": 6,
        "budget": {"total": 6000.0, "pacing": pacing, "max_step_multiple": 2.0},
        "noise": {"conversions": "none"},
        "channels": [
            {
                "name": "a",
                "cost": {"unit": "click", "price": 1.0, "ref_spend": 800.0, "elasticity": 0.3},
                "adstock": {"type": "geometric", "decay": 0.5},
                "saturation": {"type": "hill", "max_response": 120.0, "half_saturation": 700.0, "slope": 2.0},
            },
            {
                "name": "b",
                "cost": {"unit": "impression", "price": 8.0, "ref_spend": 600.0, "elasticity": 0.2},
                "saturation": {"type": "hill", "max_response": 60.0, "half_saturation": 4e4, "slope": 0.8},
                "delay": {"type": "geometric", "mean_lag": 1.0, "window": 3},
            },
            {
                "name": "c",
                "cost": {"unit": "click", "price": 0.5, "ref_spend": 300.0, "elasticity": 0.5},
                "saturation": {"type": "logistic", "max_response": 40.0, "rate": 0.002},
                "max_share": CAP,
            },
        ],
        "shocks": [{"kind": "demand", "channels": ["b"], "start": 3, "duration": 3, "multiplier": 1.6}],
    }
    data.update(top)
    return scenario_from_dict(data, source="test scenario")


def _values(sc, shares: np.ndarray) -> np.ndarray:
    """evaluate_plan of the constant plans of a batch of splits ``[N, K]``."""
    plans = shares[:, None, :] * sc.step_budget * np.ones((1, sc.horizon, 1))
    return np.atleast_1d(evaluate_plan(sc, plans))


def _brute_force(sc) -> tuple[float, np.ndarray]:
    """Best split of three channels on a 1% simplex grid, then on a 0.05% grid around it."""
    hi = sc.share_bound_arrays[1]

    def search(qa: np.ndarray, qb: np.ndarray) -> tuple[float, np.ndarray]:
        A, B = np.meshgrid(qa, qb, indexing="ij")
        q = np.stack([A.ravel(), B.ravel(), 1.0 - A.ravel() - B.ravel()], axis=1)
        q = q[np.all((q >= -1e-12) & (q <= hi + 1e-12), axis=1)]
        v = _values(sc, np.clip(q, 0.0, None))
        return float(v.max()), q[int(v.argmax())]

    best, q = search(np.linspace(0, 1, 101), np.linspace(0, 1, 101))
    fine = np.arange(-40, 41) * 5e-4
    fine_best, fine_q = search(q[0] + fine, q[1] + fine)
    assert fine_best >= best
    return fine_best, fine_q


# ================================================================== against brute force
@pytest.mark.parametrize("pacing", ["even", "agent"])
def test_matches_brute_force_on_a_small_scenario(pacing):
    sc = _small(pacing)
    brute, q_brute = _brute_force(sc)
    res = best_constant_split(sc)
    # at least the grid's best, and not above the continuous optimum the fine grid brackets
    assert res.expected_reward >= brute * (1 - 1e-9)
    assert res.expected_reward <= brute * (1 + 1e-6)
    np.testing.assert_allclose(res.shares, q_brute, atol=2e-3)
    assert res.shares[2] == pytest.approx(CAP, abs=1e-9) and q_brute[2] == pytest.approx(CAP)  # the cap binds
    # the S-curve channel is not simply the equal split's: the problem is not trivial
    assert abs(res.shares[0] - 1 / 3) > 0.05


def test_plan_is_feasible_constant_and_valued_by_evaluate_plan():
    sc = _small("agent")
    res = best_constant_split(sc)
    assert check_plan(sc, res.plan) == []
    np.testing.assert_array_equal(res.plan, constant_split_plan(sc, res.shares))
    # even flighting, also under agent pacing
    np.testing.assert_allclose(res.plan.sum(axis=1), sc.budget.total / sc.horizon, rtol=1e-12)
    assert res.shares.sum() == pytest.approx(1.0, abs=1e-12) and np.all(res.shares >= 0)
    assert res.expected_reward == float(evaluate_plan(sc, res.plan, path=res.path))


def test_locked_and_off_grid_bounds_are_respected():
    """A share locked at 1/3 (not on the 1% grid) and a cap of 0.234."""
    sc = _small().override({"channels.b.locked_share": 1 / 3, "channels.c.max_share": 0.234})
    res = best_constant_split(sc)
    assert res.shares[1] == pytest.approx(1 / 3, abs=1e-12)
    assert res.shares[2] <= 0.234 + 1e-12
    assert check_plan(sc, res.plan) == []
    # only a's share is free (c = 2/3 - a): a 1-D search over a fine grid agrees
    qa = np.linspace(2 / 3 - 0.234, 2 / 3, 4001)
    q = np.stack([qa, np.full_like(qa, 1 / 3), 2 / 3 - qa], axis=1)
    assert res.expected_reward == pytest.approx(float(_values(sc, q).max()), rel=1e-6)
    assert res.expected_reward >= float(_values(sc, q).max()) * (1 - 1e-9)


# ========================================================================== theory
def test_stationary_without_carry_over_has_no_headroom():
    """Every step is the same problem, so the oracle's plan is a constant split."""
    sc = _small().override({"channels.a.adstock": {"type": "none"}, "channels.b.delay": {"type": "none"}})
    sc = sc.model_copy(update={"shocks": []})
    res, oracle = best_constant_split(sc), solve_oracle(sc)
    assert res.expected_reward == pytest.approx(oracle.expected_reward, rel=1e-8)
    np.testing.assert_allclose(res.shares, oracle.shares[0], atol=1e-3)


@pytest.mark.parametrize("name", ["small-even", "small-agent", "stationary-3", "drift-5"])
def test_between_the_equal_split_and_the_oracle(name):
    sc = _small(name.split("-")[1]) if name.startswith("small") else load_scenario(name)
    seed = 2 if name == "drift-5" else None
    oracle = solve_oracle(sc, seed=seed)
    res = best_constant_split(sc, path=oracle.path)
    equal = constant_split_plan(sc, np.full(sc.n_channels, 1 / sc.n_channels))
    assert res.expected_reward <= oracle.expected_reward * (1 + 1e-9)
    assert res.expected_reward >= float(evaluate_plan(sc, equal, path=oracle.path))


def test_a_seed_gives_the_hindsight_split_of_that_episode():
    sc = load_scenario("drift-5").override({"horizon": 20, "budget.total": 160000})
    by_seed = best_constant_split(sc, seed=4)
    by_path = best_constant_split(sc, path=scenario_path(sc, 4))
    assert by_seed.expected_reward == by_path.expected_reward
    np.testing.assert_array_equal(by_seed.shares, by_path.shares)
    nominal = best_constant_split(sc)
    assert not np.allclose(by_seed.shares, nominal.shares, atol=1e-3)  # drift moved the best split
    # the hindsight split is the best on its own path, not on the nominal one
    assert by_seed.expected_reward >= float(evaluate_plan(sc, nominal.plan, seed=4))
    assert nominal.expected_reward >= float(evaluate_plan(sc, by_seed.plan))


def test_channel_values_split_the_matrix_value_by_channel():
    """``ExpectedModel.channel_values`` (the grid programme's input) column i is the value of the
    plan that spends only in channel i (channels are independent), and the columns add up."""
    sc = _small()
    path = scenario_path(sc)
    em = ExpectedModel(ChannelModel.from_scenario(sc), path)
    plan = np.random.default_rng(0).uniform(0, 1500, (sc.horizon, sc.n_channels))
    per_channel = em.channel_values(plan)
    for i in range(sc.n_channels):
        alone = np.zeros_like(plan)
        alone[:, i] = plan[:, i]
        assert per_channel[i] == pytest.approx(float(evaluate_plan(sc, alone)), rel=1e-12)
    assert per_channel.sum() == pytest.approx(float(evaluate_plan(sc, plan)), rel=1e-12)


# ================================================================== the new built-ins
@pytest.mark.parametrize("name", ADAPTIVE_BUILTINS)
def test_adaptive_builtins_keep_their_dynamic_headroom(name, shared_oracle):
    sc = load_scenario(name)
    oracle = shared_oracle(sc)
    const = best_constant_split(sc, path=oracle.path)
    headroom = 100 * (oracle.expected_reward - const.expected_reward) / oracle.expected_reward
    assert headroom >= 10.0, headroom


# ========================================================================== the CLI
def _number(text: str) -> float:
    return float(text.replace(",", ""))


def test_show_prints_the_three_values_and_the_headroom(capsys):
    name = "launch-5"
    code, out, _ = run_cli(capsys, "show", name)
    assert code == 0, out
    sc = load_scenario(name)
    oracle = solve_oracle(sc)
    const = best_constant_split(sc, path=oracle.path)
    equal = float(evaluate_plan(sc, constant_split_plan(sc, np.full(sc.n_channels, 0.2)), path=oracle.path))
    top = oracle.expected_reward
    rows = (("equal split", equal), ("best constant split", const.expected_reward), ("oracle", top))
    for label, value in rows:
        m = re.search(rf"^\s+{label}\s+([\d,.]+)\s+([\d.]+)% of oracle", out, flags=re.M)
        assert m is not None, (label, out)
        assert _number(m.group(1)) == pytest.approx(value, abs=0.051)
        assert float(m.group(2)) == pytest.approx(100 * value / top, abs=0.0051)
    m = re.search(r"dynamic headroom: ([\d.]+) points", out)
    assert m is not None, out
    assert float(m.group(1)) == pytest.approx(100 * (top - const.expected_reward) / top, abs=0.0051)
    assert float(m.group(1)) >= 10
    # the best constant split's shares, largest first: retail leads (it is the best channel
    # of the second half)
    m = re.search(r"best constant split.*\((retail [\d.]+), ", out)
    assert m is not None and float(m.group(1).split()[1]) == pytest.approx(const.shares[4], abs=5e-4)


@pytest.mark.parametrize("budget", [1e-6, 1e12])
def test_show_keeps_the_figures_of_a_tiny_or_huge_budget(capsys, tmp_path, budget):
    """``budgetgym show`` of a scenario with a budget of 1e-6 printed the budget, the step spend and every
    expected reward (about 1e-8) as 0: each figure must read back as its value to 3 significant digits."""
    import yaml

    data = load_scenario("stationary-3").model_dump(mode="json")
    data["budget"]["total"] = budget
    path = tmp_path / "scaled.yaml"
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    code, out, _ = run_cli(capsys, "show", str(path))
    assert code == 0, out
    sc = load_scenario(path)
    oracle = solve_oracle(sc)
    number = r"([\d,.]+(?:e[+-]\d+)?)"
    m = re.search(rf"budget {number} \(even pacing, {number} per step", out)
    assert m is not None, out
    assert _number(m.group(1)) == pytest.approx(budget, rel=5e-3)
    assert _number(m.group(2)) == pytest.approx(sc.step_budget, rel=5e-3)
    m = re.search(rf"oracle expected conversions \(nominal path\): {number};", out)
    assert m is not None, out
    assert _number(m.group(1)) == pytest.approx(oracle.expected_reward, rel=5e-3)
    m = re.search(rf"^\s+oracle\s+{number}\s+100.00% of oracle", out, flags=re.M)
    assert m is not None, out
    assert _number(m.group(1)) == pytest.approx(oracle.expected_reward, rel=5e-3)
    m = re.search(rf"one split every step at {number} per step", out)
    assert m is not None, out
    assert _number(m.group(1)) == pytest.approx(sc.step_budget, rel=5e-3)


def test_show_says_a_currency_response_counts_no_conversions(capsys, tmp_path):
    """A calibrated revenue KPI's campaign (``response_unit: currency``) printed ``target_cpa=0.26`` as if a
    conversion cost 0.26: ``show`` must say the unit is currency and what its ``target_cpa`` then is."""
    import yaml

    data = load_scenario("stationary-3").model_dump(mode="json")
    data.update(reward="revenue", response_unit="currency", target_cpa=0.25)
    for ch in data["channels"]:
        ch["value"]["mean"] = 1.0
    path = tmp_path / "revenue.yaml"
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    code, out, _ = run_cli(capsys, "show", str(path))
    assert code == 0, out
    assert "response unit: currency" in out
    assert "target_cpa=0.25 (currency per unit of revenue" in out
    code, out, _ = run_cli(capsys, "show", "stationary-3")
    assert code == 0 and "response unit" not in out and "per unit of revenue" not in out


# ============================================================ profit under agent pacing: a free level
def _profit(adstock: bool = True, value: float = 12.0):
    """Two click channels, two steps, agent pacing, profit: spending the budget loses money (the
    marginal ROAS falls below 1 well before B/T), so the best plans leave most of it unspent."""
    b: dict = {
        "name": "b",
        "cost": {"unit": "click", "price": 1.0, "ref_spend": 800.0, "elasticity": 0.3},
        "value": {"mean": 10.0 * value / 12.0},
        "saturation": {"type": "hill", "max_response": 80.0, "half_saturation": 600.0, "slope": 1.0},
    }
    if adstock:
        b["adstock"] = {"type": "geometric", "decay": 0.5}
    return scenario_from_dict({
        "name": "profit-agent",
        "horizon": 2,
        "budget": {"total": 4000.0, "pacing": "agent", "max_step_multiple": 1.5},
        "reward": "profit",
        "noise": {"conversions": "none"},
        "channels": [
            {
                "name": "a",
                "cost": {"unit": "click", "price": 1.0, "ref_spend": 800.0, "elasticity": 0.3},
                "value": {"mean": value},
                "saturation": {"type": "hill", "max_response": 100.0, "half_saturation": 500.0, "slope": 1.0},
            },
            b,
        ],
    }, source="test scenario")


def _brute_force_level(sc) -> float:
    """Best even-flighting plan ``[q s, (1 - q) s]`` every step over ``0 <= s <= B/T``: a grid of 1% of
    ``B/T`` by 1% of share, then a grid 20x finer around the best cell."""

    def search(s: np.ndarray, q: np.ndarray) -> tuple[float, float, float]:
        S, Q = np.meshgrid(np.clip(s, 0, sc.step_budget), np.clip(q, 0, 1), indexing="ij")
        step = np.stack([(Q * S).ravel(), ((1 - Q) * S).ravel()], axis=1)
        v = np.atleast_1d(evaluate_plan(sc, step[:, None, :] * np.ones((1, sc.horizon, 1))))
        k = int(v.argmax())
        return float(v[k]), float(S.ravel()[k]), float(Q.ravel()[k])

    _, s, q = search(np.linspace(0, 1, 101) * sc.step_budget, np.linspace(0, 1, 101))
    fine = np.arange(-20, 21) / 2000
    return search(s + fine * sc.step_budget, q + fine)[0]


def test_profit_under_agent_pacing_chooses_the_even_step_spend():
    """The static split may spend less than B/T a step when the reward is profit and the pacing the
    agent's (the oracle may): forced to spend the budget it lost money (-1538 against the best even
    plan's +325 here), and the planner called the difference the worth of timing."""
    sc = _profit()
    res = best_constant_split(sc)
    brute = _brute_force_level(sc)
    full = float(evaluate_plan(sc, constant_split_plan(sc, best_constant_split(sc.override(
        {"reward": "revenue"})).shares)))
    assert full < 0 < brute  # the budget spent is a loss: the problem is not trivial
    assert res.expected_reward >= brute * (1 - 1e-9)
    assert res.expected_reward <= solve_oracle(sc).expected_reward * (1 + 1e-9)
    assert check_plan(sc, res.plan) == []
    step = res.plan.sum(axis=1)
    np.testing.assert_allclose(step, step[0], rtol=1e-12)  # still even flighting
    assert step[0] < 0.5 * sc.step_budget
    np.testing.assert_allclose(res.plan, constant_split_plan(sc, res.shares * step[0] / sc.step_budget), rtol=1e-12)
    assert res.shares.sum() == pytest.approx(1.0, abs=1e-12)
    # conversions and revenue never fall with spend: there the budget is spent, as before
    rev = sc.override({"reward": "revenue"})
    np.testing.assert_allclose(best_constant_split(rev).plan.sum(axis=1), rev.step_budget, rtol=1e-12)


def test_profit_without_carry_over_has_no_headroom_at_a_free_level():
    """Theory: every step is the same problem, so the oracle's plan (which leaves budget unspent) is
    a constant split; the best constant split must reach it, and the planner's timing value is 0."""
    from budgetgym.planner import plan

    sc = _profit(adstock=False)
    res, oracle = best_constant_split(sc), solve_oracle(sc)
    assert oracle.plan.sum() < 0.5 * sc.budget.total
    assert res.expected_reward == pytest.approx(oracle.expected_reward, rel=1e-8)
    p = plan(sc, curves=False)
    assert p.static_value == pytest.approx(res.expected_reward, rel=1e-12)
    assert abs(p.timing_value) <= 1e-8 * abs(p.value)
    np.testing.assert_allclose(p.static_plan, res.plan, rtol=1e-12)
    assert p.summary()["static"]["spend"] == pytest.approx(res.plan.sum(), rel=1e-12)


def test_profit_that_every_spend_loses_spends_nothing():
    """A conversion worth too little to repay its click: the best even plan spends nothing, and its
    shares are the equal split's (finite)."""
    sc = _profit(adstock=False, value=1.0)
    res = best_constant_split(sc)
    assert np.all(res.plan == 0.0)
    np.testing.assert_allclose(res.shares, [0.5, 0.5])
    assert res.expected_reward == pytest.approx(0.0, abs=1e-12)


def test_show_names_the_static_step_spend_under_agent_pacing_with_profit(capsys, tmp_path):
    """``budgetgym show`` said the best constant split spends ``B/T`` every step ("one split every step
    at 2,000 per step") after it had become free to spend less under agent pacing with a profit reward:
    the line names the step spend the split was valued at."""
    import yaml

    sc = _profit(adstock=False)
    path = tmp_path / "profit-agent.yaml"
    path.write_text(yaml.safe_dump(sc.model_dump(mode="json")), encoding="utf-8")
    code, out, _ = run_cli(capsys, "show", str(path))
    assert code == 0, out
    step = float(best_constant_split(sc, path=solve_oracle(sc).path).plan[0].sum())
    assert step < 0.5 * sc.step_budget
    m = re.search(r"one split every step at ([\d,.]+) per step of the ([\d,.]+) available", out)
    assert m is not None, out
    assert _number(m.group(1)) == pytest.approx(step, abs=0.5)
    assert _number(m.group(2)) == pytest.approx(sc.step_budget)


def test_show_says_percent_of_oracle_is_undefined_when_the_oracle_earns_nothing(capsys, tmp_path):
    """``budgetgym show`` divided by the oracle's value itself: with a profit oracle that breaks even
    (every spend loses, so the best plan spends ~nothing and earns ~0, here a hair below 0) it printed
    the equal split at billions of % of the oracle and a headroom of 100 points. A % of an oracle that
    earns nothing is undefined (``pct_of_oracle`` is nan there, as in ``results.csv``): it says n/a."""
    import yaml

    sc = _profit(adstock=False, value=1.0)
    assert solve_oracle(sc).expected_reward <= 0.0  # the premise: the oracle earns nothing
    path = tmp_path / "profit-loses.yaml"
    path.write_text(yaml.safe_dump(sc.model_dump(mode="json")), encoding="utf-8")
    code, out, _ = run_cli(capsys, "show", str(path))
    assert code == 0, out
    for label in ("equal split", "best constant split", "oracle"):
        line = next(ln for ln in out.splitlines() if re.match(rf"\s+{label}\s+-?[\d,.]+ ", ln))
        assert "n/a" in line and "% of oracle" not in line, line
    m = re.search(r"dynamic headroom: (\S+)", out)
    assert m is not None and m.group(1) == "n/a", out


@pytest.mark.filterwarnings("error")
def test_show_says_the_oracle_spends_nothing_where_every_spend_loses(capsys, tmp_path):
    """Where every spend loses (profit, a click priced 1 bringing at most 1/1000 of a conversion worth 1:
    the slope of ``x / (1000 + x)`` at 0) the oracle spends nothing; ``budgetgym show`` divided its
    per-channel spend by its total, 0, warned "invalid value encountered in divide" and printed the oracle's
    split as "(over the episode: ; per step: budgetgym plan)"."""
    import yaml

    hill = {"type": "hill", "max_response": 1.0, "half_saturation": 1000.0, "slope": 1.0}
    cost = {"unit": "click", "price": 1.0, "ref_spend": 1000.0, "elasticity": 0.0}
    sc = scenario_from_dict({
        "name": "every-spend-loses", "horizon": 4, "reward": "profit", "noise": {"conversions": "none"},
        "budget": {"total": 4000.0, "pacing": "agent", "max_step_multiple": 2.0},
        "channels": [{"name": n, "cost": cost, "saturation": hill, "value": {"mean": 1.0}} for n in ("a", "b")],
    }, source="test")
    path = tmp_path / "every-spend-loses.yaml"
    path.write_text(yaml.safe_dump(sc.model_dump(mode="json")), encoding="utf-8")
    code, out, _ = run_cli(capsys, "show", str(path))
    assert code == 0, out
    line = next(ln for ln in out.splitlines() if re.match(r"\s+oracle\s+", ln))
    assert line.endswith("(spends nothing: no channel pays back)"), line
