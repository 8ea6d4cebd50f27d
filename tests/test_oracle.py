"""The oracle: exact (never beaten), feasible, reproducible in the environment.

* brute force: tiny problems searched on fine grids (zoomed around the best cell) with
  batched :func:`evaluate_plan`; the oracle is at least the grid's best minus 0.1%;
* SLSQP: seeded multi-start ``scipy.optimize.minimize(method="SLSQP")`` on moderately
  sized problems never beats the oracle by more than 0.1%;
* the plan is feasible, locked channels get exactly their share, the hindsight path of a
  seed is the environment's path, the oracle beats the equal split on every built-in
  scenario, and playing the plan through the environment reproduces its value;
* KKT: at the optimum of a concave even-pacing problem, channels strictly inside their
  bounds have equal marginal returns at each step.

Helpers live in this file on purpose (``tests/conftest.py`` belongs to another suite).
"""

from __future__ import annotations

import copy
import functools

import numpy as np
import pytest
from conftest import base_scenario_dict, build_scenario, channel, hill_channel
from scipy.optimize import minimize

from budgetgym.envs import (
    ChannelBudgetEnv,
    ChannelModel,
    Scenario,
    best_constant_split,
    check_plan,
    evaluate_plan,
    list_scenarios,
    load_scenario,
    scenario_from_dict,
    scenario_path,
    solve_oracle,
    split_to_action,
)
from budgetgym.envs.allocation import project_bounded_simplex, spend_to_pacing_action
from budgetgym.envs.expected import ExpectedModel

EXACT = 1e-3  # the oracle's contract: never beaten by more than 0.1%

# ============================================================================ helpers


def _hill(beta: float, kappa: float, slope: float) -> dict:
    return {"type": "hill", "max_response": beta, "half_saturation": kappa, "slope": slope}


def _scenario(
    channels: list[dict],
    horizon: int,
    pacing: str = "even",
    step_budget: float = 1000.0,
    max_step_multiple: float = 2.0,
    **top: object,
):
    data: dict = {
        "name": "test-oracle",
        "horizon": horizon,
        "budget": {
            "total": step_budget * horizon,
            "pacing": pacing,
            "max_step_multiple": max_step_multiple,
        },
        "channels": channels,
        "noise": {"conversions": "none"},
    }
    data.update(copy.deepcopy(top))
    return scenario_from_dict(data)


def _bounds(sc) -> tuple[np.ndarray, np.ndarray]:
    return (
        np.array([c.share_bounds[0] for c in sc.channels]),
        np.array([c.share_bounds[1] for c in sc.channels]),
    )


def _equal_split_plan(sc) -> np.ndarray:
    """What the zero action plays: the equal split (projected onto the share bounds), B/T per step."""
    lo, hi = _bounds(sc)
    q = project_bounded_simplex(np.full(sc.n_channels, 1.0 / sc.n_channels), lo, hi)
    return np.tile(q * sc.step_budget, (sc.horizon, 1))


def _play(sc, plan: np.ndarray, seed: int | None = 0) -> float:
    """Sum of ``info['expected_reward']`` when the env plays ``plan`` through its actions."""
    env = ChannelBudgetEnv(sc)
    env.reset(seed=seed)
    agent = sc.budget.pacing == "agent"
    total = 0.0
    for t in range(sc.horizon):
        step = plan[t].sum()
        shares = plan[t] / step if step > 0 else np.full(sc.n_channels, 1.0 / sc.n_channels)
        action = split_to_action(shares, sc.action.logit_scale)
        if agent:
            u = spend_to_pacing_action(step, env.budget - env.cumulative_spend, env.step_cap)
            action = np.append(action, u)
        *_, truncated, info = env.step(action)
        total += info["expected_reward"]
    assert truncated
    return total


# --------------------------------------------------------------------- brute force
def _zoom_search(lows, highs, to_plans, sc, seed=None, grid=101, zoom_grid=21, levels=3):
    """Best value of ``evaluate_plan`` over a grid of ``len(lows)`` variables, then over finer
    grids (``zoom_grid`` points spanning +-2 cells) around the best point, ``levels`` times.
    ``to_plans(V [N, D]) -> (plans [N, T, K], feasible [N])``."""
    lows, highs = np.asarray(lows, float), np.asarray(highs, float)
    axes = [np.linspace(lo, hi, grid) for lo, hi in zip(lows, highs, strict=True)]
    best_v, best_x = -np.inf, None
    for _ in range(levels + 1):
        V = np.stack(np.meshgrid(*axes, indexing="ij"), axis=-1).reshape(-1, len(axes))
        X, ok = to_plans(V)
        X, V = X[ok], V[ok]
        vals = evaluate_plan(sc, X, seed=seed)
        k = int(np.argmax(vals))
        if vals[k] > best_v:
            best_v, best_x = float(vals[k]), X[k]
        centre = V[k]
        cell = np.array([a[1] - a[0] if len(a) > 1 else 0.0 for a in axes])
        axes = [
            np.linspace(max(lo, c - 2 * w), min(hi, c + 2 * w), zoom_grid)
            for lo, hi, c, w in zip(lows, highs, centre, cell, strict=True)
        ]
    return best_v, best_x


def _brute_force_even(sc, seed=None, **kw):
    """2 channels, even pacing: one free share per step."""
    assert sc.n_channels == 2 and sc.budget.pacing == "even"
    lo, hi = _bounds(sc)
    qlo, qhi = max(lo[0], 1 - hi[1]), min(hi[0], 1 - lo[1])

    def to_plans(Q):
        return np.stack([Q, 1.0 - Q], axis=-1) * sc.step_budget, np.ones(len(Q), bool)

    return _zoom_search([qlo] * sc.horizon, [qhi] * sc.horizon, to_plans, sc, seed, **kw)


def _brute_force_agent(sc, seed=None, **kw):
    """1-2 channels, agent pacing: a step spend per step (and one free share per step)."""
    assert sc.n_channels in (1, 2) and sc.budget.pacing == "agent"
    T, B = sc.horizon, sc.budget.total
    cap = sc.budget.max_step_multiple * sc.step_budget
    lo, hi = _bounds(sc)
    if sc.n_channels == 1:
        lows, highs = [0.0] * T, [cap] * T
    else:
        qlo, qhi = max(lo[0], 1 - hi[1]), min(hi[0], 1 - lo[1])
        lows, highs = [0.0] * T + [qlo] * T, [cap] * T + [qhi] * T

    def to_plans(V):
        S = V[:, :T]
        ok = S.sum(axis=1) <= B * (1 + 1e-12)
        if sc.n_channels == 1:
            return S[:, :, None], ok
        Q = V[:, T:]
        return np.stack([Q * S, (1.0 - Q) * S], axis=-1), ok

    return _zoom_search(lows, highs, to_plans, sc, seed, **kw)


# ---------------------------------------------------------------------------- SLSQP
def _constraints(sc):
    """Linear constraints on ``z = plan / (B/T)`` flattened step-major (``z[t*K + i]``):
    ``(bounds, [(kind, A, b)])`` meaning ``A z - b == 0`` (eq) or ``>= 0`` (ineq)."""
    T, K = sc.horizon, sc.n_channels
    lo, hi = _bounds(sc)
    locked = np.isclose(lo, hi)
    n = T * K

    def step_row(t):
        r = np.zeros(n)
        r[t * K : (t + 1) * K] = 1.0
        return r

    def share_row(t, i, q, sign):  # sign * (z_ti - q * s_t)
        r = -q * step_row(t)
        r[t * K + i] += 1.0
        return sign * r

    eq, ineq = [], []
    if sc.budget.pacing == "even":
        bounds = [(0.0, 1.0) if locked[i] else (lo[i], hi[i]) for _ in range(T) for i in range(K)]
        for t in range(T):
            eq.append((step_row(t), 1.0))
            for i in np.flatnonzero(locked):
                r = np.zeros(n)
                r[t * K + i] = 1.0
                eq.append((r, lo[i]))
    else:
        m = sc.budget.max_step_multiple
        bounds = [(0.0, m)] * n
        ineq.append((-np.ones(n), -float(T)))  # T - sum z >= 0 (the budget)
        for t in range(T):
            ineq.append((-step_row(t), -m))  # m - s_t >= 0 (the step cap)
            for i in range(K):
                if locked[i]:
                    eq.append((share_row(t, i, lo[i], 1.0), 0.0))
                    continue
                if lo[i] > 0:
                    ineq.append((share_row(t, i, lo[i], 1.0), 0.0))
                if hi[i] < 1:
                    ineq.append((share_row(t, i, hi[i], -1.0), 0.0))
    out = []
    for kind, rows in (("eq", eq), ("ineq", ineq)):
        if rows:
            A = np.array([r for r, _ in rows])
            b = np.array([v for _, v in rows])
            out.append(
                {"type": kind, "fun": (lambda z, A=A, b=b: A @ z - b), "jac": (lambda z, A=A: A)}
            )
    return bounds, out


def _slsqp_best(sc, seed: int | None, n_starts: int, rng_seed: int, extra_plans=()) -> float:
    """Best feasible value of multi-start SLSQP maximising ``evaluate_plan`` (gradient by
    batched central differences of ``evaluate_plan``: independent of the oracle's model)."""
    T, K = sc.horizon, sc.n_channels
    unit = sc.step_budget
    lo, hi = _bounds(sc)
    bounds, cons = _constraints(sc)
    J0 = abs(float(evaluate_plan(sc, _equal_split_plan(sc), seed=seed))) or 1.0
    h = 1e-6
    eye = np.eye(T * K) * h

    def fun(z):
        z = np.maximum(z, 0.0)
        down_ok = z >= h
        plans = np.concatenate([z[None], z + eye, np.where(down_ok, z - eye, z)]) * unit
        v = evaluate_plan(sc, plans.reshape(-1, T, K), seed=seed) / J0
        grad = (v[1 : T * K + 1] - np.where(down_ok, v[T * K + 1 :], v[0])) / np.where(
            down_ok, 2 * h, h
        )
        return -v[0], -grad

    rng = np.random.default_rng(rng_seed)
    starts = [np.asarray(p, float) / unit for p in extra_plans]
    for _ in range(n_starts):
        q = project_bounded_simplex(rng.dirichlet(np.ones(K), size=T), lo, hi)
        if sc.budget.pacing == "agent":
            s = rng.uniform(0.3, 1.0, T) * sc.budget.max_step_multiple
            s *= min(1.0, 0.999 * T / s.sum())
        else:
            s = np.ones(T)
        starts.append(q * s[:, None])
    best, n_feasible = -np.inf, 0
    for z0 in starts:
        res = minimize(
            fun,
            z0.ravel(),
            jac=True,
            method="SLSQP",
            bounds=bounds,
            constraints=cons,
            options={"maxiter": 400, "ftol": 1e-12},
        )
        X = np.maximum(res.x, 0.0).reshape(T, K) * unit
        if check_plan(sc, X, rtol=1e-6):
            continue  # SLSQP stopped outside the feasible set: not a valid competitor
        n_feasible += 1
        best = max(best, float(evaluate_plan(sc, X, seed=seed)))
    assert n_feasible >= 1
    return best


def _oracle(name: str, seed: int | None = None, pacing: str | None = None):
    """One solve per (scenario, seed, pacing) for the whole module."""
    if pacing == _builtin_or_test(name).budget.pacing:
        pacing = None
    return _solve_cached(name, seed, pacing)


@functools.cache
def _solve_cached(name: str, seed: int | None, pacing: str | None):
    sc = _builtin_or_test(name)
    if pacing is not None:
        sc = sc.override({"budget.pacing": pacing})
    return solve_oracle(sc, seed=seed)


def _has_drift(sc) -> bool:
    return sc.drift.sd > 0 or any(c.drift_sd for c in sc.channels)


# ====================================================================== test scenarios
def _test_scenarios() -> dict:
    s: dict = {}
    # --- even pacing, 2 channels (brute force) ---
    s["bf-concave"] = _scenario(
        [
            hill_channel("a", saturation=_hill(100, 900, 0.8)),
            hill_channel(
                "b", cost={"unit": "click", "price": 1.4, "ref_spend": 500.0, "elasticity": 0.5}
            ),
        ],
        horizon=2,
    )
    s["bf-s-curve"] = _scenario(
        [
            hill_channel("a", saturation=_hill(100, 900, 2.5)),
            hill_channel("b", saturation=_hill(80, 500, 3.0)),
        ],
        horizon=2,
    )
    s["bf-s-curve-balanced"] = (
        _scenario(  # the best split is interior at one step and a corner at another
            [
                hill_channel("a", saturation=_hill(100, 450, 2.0)),
                hill_channel("b", saturation=_hill(100, 450, 2.0)),
            ],
            horizon=2,
            seasonality={"demand": {"weekly_amplitude": 0.5}},
            shocks=[
                {"kind": "price", "channels": ["b"], "start": 1, "duration": 1, "multiplier": 3.0}
            ],
        )
    )
    s["bf-carry-over"] = _scenario(
        [
            hill_channel(
                "a", adstock={"type": "geometric", "decay": 0.6}, saturation=_hill(100, 1200, 2.0)
            ),
            hill_channel(
                "b",
                adstock={"type": "weibull_cdf", "shape": 1.0, "scale": 1.5, "window": 3},
                saturation=_hill(90, 700, 1.0),
            ),
        ],
        horizon=3,
    )
    s["bf-delay"] = _scenario(
        [
            hill_channel(
                "a",
                delay={"type": "geometric", "mean_lag": 2.0, "window": 5},
                saturation=_hill(120, 600, 1.0),
            ),
            hill_channel(
                "b",
                adstock={"type": "geometric", "decay": 0.3},
                delay={"type": "gamma", "mean_lag": 1.0, "shape": 2.0, "window": 3},
                saturation=_hill(90, 500, 2.0),
            ),
        ],
        horizon=3,
    )
    s["bf-share-bounds"] = _scenario(
        [
            hill_channel("a", min_share=0.3, max_share=0.8, saturation=_hill(100, 900, 3.0)),
            hill_channel(
                "b",
                max_share=0.55,
                adstock={"type": "geometric", "decay": 0.5},
                saturation=_hill(150, 400, 1.0),
            ),
        ],
        horizon=3,
    )
    s["bf-profit"] = _scenario(
        [
            hill_channel("a", value={"mean": 25.0}, saturation=_hill(100, 900, 2.5)),
            hill_channel(
                "b",
                value={"mean": 20.0},
                adstock={"type": "geometric", "decay": 0.4},
                saturation={"type": "logistic", "max_response": 90.0, "rate": 0.002},
            ),
        ],
        horizon=3,
        reward="profit",
    )
    s["bf-drift"] = _scenario(
        [
            hill_channel("a", saturation=_hill(100, 600, 1.5)),
            hill_channel("b", adstock={"type": "geometric", "decay": 0.5}),
        ],
        horizon=3,
        drift={"sd": 0.4},
    )
    # --- agent pacing (brute force) ---
    s["bf-agent-carry"] = _scenario(
        [
            hill_channel(
                "a",
                adstock={"type": "geometric", "decay": 0.5},
                delay={"type": "geometric", "mean_lag": 1.0, "window": 3},
                saturation=_hill(100, 900, 1.0),
            )
        ],
        horizon=3,
        pacing="agent",
    )
    s["bf-agent-pulse"] = _scenario(  # S-curve far from saturation: bursts beat an even spend
        [
            hill_channel(
                "a", saturation=_hill(100, 2500, 3.0), adstock={"type": "geometric", "decay": 0.2}
            )
        ],
        horizon=3,
        pacing="agent",
    )
    s["bf-agent-profit"] = _scenario(
        [
            hill_channel("a", value={"mean": 12.0}, saturation=_hill(100, 500, 1.0), min_share=0.1),
            hill_channel(
                "b",
                value={"mean": 10.0},
                saturation=_hill(80, 600, 2.0),
                adstock={"type": "geometric", "decay": 0.5},
            ),
        ],
        horizon=2,
        pacing="agent",
        max_step_multiple=1.5,
        reward="profit",
    )
    # --- moderately sized (SLSQP) ---
    s["mid-s-curves"] = _scenario(
        [
            hill_channel(
                "a", saturation=_hill(100, 700, 2.0), adstock={"type": "geometric", "decay": 0.5}
            ),
            hill_channel(
                "b",
                saturation=_hill(120, 900, 2.5),
                delay={"type": "geometric", "mean_lag": 1.0, "window": 4},
            ),
            hill_channel(
                "c",
                saturation=_hill(60, 300000, 1.0),
                cost={"unit": "impression", "price": 6.0, "ref_spend": 900.0, "elasticity": 0.4},
                adstock={"type": "geometric", "decay": 0.3},
            ),
            hill_channel("d", saturation=_hill(40, 200, 0.8)),
        ],
        horizon=8,
        step_budget=2000.0,
    )
    s["mid-agent-concave"] = _scenario(
        [
            hill_channel(
                "a", adstock={"type": "geometric", "decay": 0.6}, saturation=_hill(150, 1500, 1.0)
            ),
            hill_channel(
                "b",
                delay={"type": "gamma", "mean_lag": 2.0, "shape": 2.0, "window": 6},
                saturation=_hill(100, 800, 0.9),
            ),
            hill_channel(
                "c",
                saturation={"type": "logistic", "max_response": 70.0, "rate": 0.002},
                max_share=0.4,
            ),
        ],
        horizon=10,
        pacing="agent",
        seasonality={"demand": {"weekly_amplitude": 0.4, "weekly_peak": 3.0}},
    )
    s["mid-agent-s-profit"] = _scenario(
        [
            hill_channel(
                "a",
                value={"mean": 15.0},
                saturation=_hill(100, 900, 2.5),
                adstock={"type": "geometric", "decay": 0.4},
            ),
            hill_channel("b", value={"mean": 12.0}, saturation=_hill(120, 800, 1.0)),
            hill_channel(
                "c",
                value={"mean": 20.0},
                saturation=_hill(60, 600, 3.0),
                delay={"type": "geometric", "mean_lag": 1.0, "window": 3},
            ),
            hill_channel(
                "d",
                value={"mean": 8.0},
                saturation={"type": "logistic", "max_response": 90.0, "rate": 0.003},
            ),
        ],
        horizon=6,
        pacing="agent",
        reward="profit",
    )
    s["mid-bounds-locked"] = _scenario(
        [
            hill_channel("a", min_share=0.15, saturation=_hill(100, 900, 1.0)),
            hill_channel(
                "b",
                max_share=0.25,
                saturation=_hill(200, 500, 0.9),
                adstock={"type": "geometric", "decay": 0.5},
            ),
            hill_channel("c", locked_share=0.2, saturation=_hill(60, 700, 1.0)),
            hill_channel("d", saturation=_hill(120, 1100, 2.0)),
            hill_channel(
                "e",
                min_share=0.05,
                max_share=0.5,
                saturation={"type": "logistic", "max_response": 80.0, "rate": 0.003},
            ),
        ],
        horizon=6,
        step_budget=3000.0,
    )
    s["mid-path-drift"] = _scenario(
        [
            hill_channel(
                "a",
                saturation=_hill(100, 700, 1.0),
                adstock={"type": "weibull_pdf", "shape": 2.0, "scale": 2.0, "window": 4},
            ),
            hill_channel("b", saturation=_hill(120, 900, 2.0)),
            hill_channel(
                "c",
                saturation=_hill(90, 600, 0.8),
                delay={"type": "geometric", "mean_lag": 1.5, "window": 5},
            ),
        ],
        horizon=12,
        start_day=3.0,
        seasonality={
            "demand": {"weekly_amplitude": 0.3},
            "cost": {"weekly_amplitude": 0.2, "weekly_peak": 4.0},
        },
        drift={"sd": 0.2, "mean_reversion": 0.1},
        shocks=[
            {"kind": "outage", "channels": ["b"], "start": 4, "duration": 2},
            {"kind": "demand", "channels": ["a"], "start": 8, "duration": 3, "multiplier": 1.8},
        ],
    )
    # --- concave, even pacing (KKT) ---
    s["kkt-concave"] = _scenario(
        [
            hill_channel(
                "a",
                min_share=0.3,
                saturation=_hill(100, 900, 1.0),
                adstock={"type": "geometric", "decay": 0.5},
            ),
            hill_channel("b", max_share=0.2, saturation=_hill(200, 500, 0.9)),
            hill_channel(
                "c",
                saturation=_hill(60, 700, 0.7),
                delay={"type": "geometric", "mean_lag": 1.0, "window": 4},
            ),
            hill_channel("d", saturation={"type": "logistic", "max_response": 80.0, "rate": 0.002}),
        ],
        horizon=8,
        step_budget=2500.0,
        seasonality={"demand": {"weekly_amplitude": 0.3}},
    )
    s["kkt-locked"] = s["mid-bounds-locked"].override({"channels.d.saturation.slope": 1.0})
    return s


SCENARIOS = _test_scenarios()


def _builtin_or_test(name: str):
    return SCENARIOS[name] if name in SCENARIOS else load_scenario(name)


# ====================================================================== brute force
BRUTE_EVEN = [
    "bf-concave",
    "bf-s-curve",
    "bf-s-curve-balanced",
    "bf-carry-over",
    "bf-delay",
    "bf-share-bounds",
    "bf-profit",
    "bf-drift",
]
BRUTE_AGENT = ["bf-agent-carry", "bf-agent-pulse", "bf-agent-profit"]


@pytest.mark.parametrize("name", BRUTE_EVEN)
def test_oracle_matches_brute_force_even_pacing(name: str) -> None:
    sc = SCENARIOS[name]
    seed = 3 if name == "bf-drift" else None
    grid = 401 if sc.horizon == 2 else 61
    best, best_plan = _brute_force_even(sc, seed=seed, grid=grid)
    res = _oracle(name, seed)
    assert res.expected_reward >= best * (1 - EXACT), (
        res.expected_reward,
        best,
        res.plan,
        best_plan,
    )


@pytest.mark.parametrize("name", BRUTE_AGENT)
def test_oracle_matches_brute_force_agent_pacing(name: str) -> None:
    sc = SCENARIOS[name]
    one = sc.n_channels == 1
    best, best_plan = _brute_force_agent(sc, grid=61 if one else 21, zoom_grid=21 if one else 11)
    res = _oracle(name)
    assert res.expected_reward >= best * (1 - EXACT), (
        res.expected_reward,
        best,
        res.plan,
        best_plan,
    )


def test_brute_force_grid_is_sharp_enough_to_matter() -> None:
    """The grids resolve the problems: on the S-curve case the grid's best split is a corner
    that the equal split misses by far, and the grid's best plan is feasible."""
    sc = SCENARIOS["bf-s-curve"]
    best, plan = _brute_force_even(sc, grid=401)
    assert check_plan(sc, plan) == []
    assert best > 1.2 * float(evaluate_plan(sc, _equal_split_plan(sc)))
    assert np.isclose(plan, 0.0).sum() == sc.horizon  # one channel off at every step


def test_pulsing_is_found_when_it_pays() -> None:
    """An S-curve far from saturation: spending much more in some steps than in others beats
    the even spend, and the oracle finds such a plan."""
    sc = SCENARIOS["bf-agent-pulse"]
    res = _oracle("bf-agent-pulse")
    even = float(evaluate_plan(sc, np.full((sc.horizon, 1), sc.step_budget)))
    assert res.expected_reward > 1.05 * even
    assert res.step_spend.max() > 1.5 * sc.step_budget


# ============================================================================ SLSQP
SLSQP_CASES = {
    # name: (seed of the path, random SLSQP starts)
    "mid-s-curves": (None, 4),
    "mid-agent-concave": (None, 3),
    "mid-agent-s-profit": (None, 4),
    "mid-bounds-locked": (None, 4),
    "mid-path-drift": (5, 3),
}


@pytest.mark.parametrize(
    "name",
    [
        "mid-s-curves",
        "mid-agent-concave",
        "mid-agent-s-profit",
        "mid-bounds-locked",
        "mid-path-drift",
    ],
)
def test_slsqp_never_beats_the_oracle(name: str) -> None:
    sc = SCENARIOS[name]
    seed, n_starts = SLSQP_CASES[name]
    res = _oracle(name, seed)
    assert check_plan(sc, res.plan) == []  # an infeasible "oracle" would win unfairly
    # seeded random starts, the equal split, and a polish of the oracle's own plan
    best = _slsqp_best(
        sc, seed, n_starts, rng_seed=17, extra_plans=[_equal_split_plan(sc), res.plan]
    )
    assert best <= res.expected_reward * (1 + EXACT), (best, res.expected_reward)


# ====================================================================== properties
@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_oracle_plan_is_feasible_and_consistent(name: str) -> None:
    sc = SCENARIOS[name]
    res = _oracle(name)
    assert res.plan.shape == (sc.horizon, sc.n_channels)
    assert np.all(res.plan >= 0)
    assert res.expected_reward == pytest.approx(float(evaluate_plan(sc, res.plan)), rel=1e-12)
    assert res.concave == ChannelModel.from_scenario(sc).is_concave
    assert check_plan(sc, res.plan) == []


@pytest.mark.parametrize(
    "name, pacing",
    [
        ("mid-bounds-locked", "even"),
        ("mid-bounds-locked", "agent"),
        ("kkt-locked", "even"),
        ("kkt-locked", "agent"),
    ],
)
def test_locked_channel_gets_exactly_its_share(name: str, pacing: str) -> None:
    sc = SCENARIOS[name].override({"budget.pacing": pacing})
    res = _oracle(name, None, pacing)
    i = sc.channel_names.index("c")
    np.testing.assert_allclose(
        res.plan[:, i], 0.2 * res.step_spend, rtol=1e-9, atol=1e-9 * sc.step_budget
    )
    assert check_plan(sc, res.plan) == []


def test_all_channels_locked_is_the_only_plan() -> None:
    sc = _scenario(
        [
            hill_channel("a", locked_share=0.3),
            hill_channel("b", locked_share=0.7, saturation=_hill(50, 300, 2.0)),
        ],
        horizon=4,
    )
    res = solve_oracle(sc)
    np.testing.assert_allclose(res.plan, np.tile([300.0, 700.0], (4, 1)), rtol=1e-9)


@pytest.mark.filterwarnings("error::RuntimeWarning")
def test_a_channel_locked_at_zero_under_agent_pacing_is_the_channel_removed() -> None:
    """Agent pacing with a channel locked at share 0 (its spends pinned at the barrier's bound, where
    the log-barrier was infinite) plans as if the channel were not there."""
    a = hill_channel("a", adstock={"type": "geometric", "decay": 0.5}, saturation=_hill(150, 1500, 1.0))
    b = hill_channel("b", saturation=_hill(100, 800, 0.9))
    with_zero = _scenario([a, b, hill_channel("z", locked_share=0.0)], horizon=6, pacing="agent")
    without = _scenario([a, b], horizon=6, pacing="agent")
    res, ref = solve_oracle(with_zero), solve_oracle(without)
    assert np.all(res.plan[:, 2] == 0.0)
    np.testing.assert_allclose(res.plan[:, :2], ref.plan, rtol=1e-6, atol=1e-6 * with_zero.step_budget)
    np.testing.assert_allclose(res.expected_reward, ref.expected_reward, rtol=1e-9)
    assert check_plan(with_zero, res.plan) == []


def test_oracle_is_deterministic() -> None:
    a = solve_oracle(SCENARIOS["bf-agent-profit"])
    b = _oracle("bf-agent-profit")
    np.testing.assert_array_equal(a.plan, b.plan)
    assert a.expected_reward == b.expected_reward


@pytest.mark.parametrize("seed", [0, 1, 42])
def test_hindsight_path_is_the_env_path(seed: int) -> None:
    sc = SCENARIOS["mid-path-drift"]
    res = _oracle("mid-path-drift", seed)
    env = ChannelBudgetEnv(sc)
    env.reset(seed=seed)
    np.testing.assert_array_equal(res.path.response, env.path.response)
    np.testing.assert_array_equal(res.path.cost, env.path.cost)
    np.testing.assert_array_equal(res.path.drift, env.path.drift)
    np.testing.assert_array_equal(res.path.delivery, env.path.delivery)
    np.testing.assert_array_equal(scenario_path(sc, seed).response, env.path.response)
    assert np.abs(res.path.drift).max() > 0  # the seed's drift is really there
    assert res.expected_reward == pytest.approx(
        float(evaluate_plan(sc, res.plan, seed=seed)), rel=1e-12
    )
    # the plan played in that episode is worth what the oracle says
    assert _play(sc, res.plan, seed) == pytest.approx(res.expected_reward, rel=1e-4)
    # hindsight is at least as good as the plan made for the nominal path
    nominal_plan = _oracle("mid-path-drift", None).plan
    assert res.expected_reward >= float(evaluate_plan(sc, nominal_plan, seed=seed)) * (1 - 1e-9)


@pytest.mark.parametrize(
    "name",
    [
        "bf-s-curve",
        "bf-agent-profit",
        "mid-s-curves",
        "mid-agent-concave",
        "mid-agent-s-profit",
        "mid-bounds-locked",
        "kkt-concave",
    ],
)
def test_env_reproduces_the_oracle_value(name: str) -> None:
    sc = SCENARIOS[name]
    res = _oracle(name)
    assert _play(sc, res.plan) == pytest.approx(res.expected_reward, rel=1e-4)


# ----------------------------------------------------------- built-in scenarios
@pytest.mark.parametrize("name", list_scenarios())
def test_builtin_oracle_beats_equal_split_and_replays_in_env(name: str) -> None:
    """Every built-in (drift ones: the hindsight plan of seed 0, played in episode 0)."""
    sc = load_scenario(name)
    seed = 0 if _has_drift(sc) else None
    res = _oracle(name, seed)
    assert check_plan(sc, res.plan) == []
    equal = float(evaluate_plan(sc, _equal_split_plan(sc), seed=seed))
    assert res.expected_reward >= equal * (1 - 1e-9)
    assert _play(sc, res.plan, seed=0 if seed is None else seed) == pytest.approx(
        res.expected_reward, rel=1e-4
    )


# ========================================================================== KKT
@pytest.mark.parametrize("name", ["kkt-concave", "kkt-locked", "bf-concave", "stationary-3"])
def test_kkt_equal_marginal_returns_inside_bounds(name: str) -> None:
    sc = _builtin_or_test(name)
    model = ChannelModel.from_scenario(sc)
    if name not in SCENARIOS and not (model.is_concave and sc.budget.pacing == "even"):
        pytest.skip(f"built-in {name} is no longer a concave even-pacing scenario")
    assert model.is_concave and sc.budget.pacing == "even"
    res = _oracle(name)
    assert check_plan(sc, res.plan) == []
    _, grad, _ = ExpectedModel(model, res.path).derivatives(res.plan, hessian=False)
    lo, hi = _bounds(sc)
    shares = res.shares
    n_compared = 0
    for t in range(sc.horizon):
        free = ~np.isclose(lo, hi)
        inside = free & (shares[t] > lo + 1e-4) & (shares[t] < hi - 1e-4)
        if not inside.any():
            continue
        lam = grad[t, inside].mean()
        np.testing.assert_allclose(grad[t, inside], lam, rtol=1e-4)
        n_compared += int(inside.sum() >= 2)
        # channels at a bound: at the lower bound they earn less, at the upper bound more
        at_lo = free & (shares[t] <= lo + 1e-4)
        at_hi = free & (shares[t] >= hi - 1e-4)
        assert np.all(grad[t, at_lo] <= lam * (1 + 1e-4))
        assert np.all(grad[t, at_hi] >= lam * (1 - 1e-4))
    assert n_compared >= 1


@pytest.mark.parametrize("slope", [1.0, 2.5])
def test_a_channel_capped_at_a_subnormal_share_is_a_channel_locked_at_zero(slope: float) -> None:
    """Agent pacing, a channel whose ``max_share`` is 1e-300 (found by the plan property test: a cap of
    2e-311): the barrier counted it as locked yet started it 1e-300 from both of its bounds, whose
    curvature overflowed to inf; the Newton steps went NaN and the concave oracle stopped at 111.1,
    22% below the best constant split (142.9). It is now the same problem as a cap of 0."""
    def scenario(cap: float) -> Scenario:
        sat = {"type": "hill", "max_response": 50.0, "half_saturation": 10_000.0, "slope": slope}
        return build_scenario(budget={"total": 1000.0, "pacing": "agent", "max_step_multiple": 2.0}, horizon=2,
                              channels=[channel("a", max_share=cap), channel("b", saturation=sat), channel("c")])

    tiny, zero = solve_oracle(scenario(1e-300)), solve_oracle(scenario(0.0))
    assert not check_plan(scenario(1e-300), tiny.plan)
    assert tiny.expected_reward == pytest.approx(zero.expected_reward, rel=1e-12)
    assert tiny.expected_reward >= best_constant_split(scenario(1e-300)).expected_reward * (1 - 1e-9)




def test_a_channel_with_a_sliver_of_room_is_locked_where_the_others_can_take_the_rest() -> None:
    """Agent pacing, channel a's shares in [0.4, 0.400002] (too close for the barrier: held at one share)
    beside an identical channel b capped at 0.599999 (found by the plan property test with seed 6). Holding
    a at 0.4 left b 0.6, above its cap: the start's slack was negative, the barrier log(-1e-7) NaN, no
    Newton step was accepted, and the oracle returned a plan spending half the budget, outside the bounds,
    worth 135.0 (27% below). By hand, the optimum spends B/T = 333.33 a step (concave, stationary, no
    carry-over) split [0.400002, 0.599998]: the identical channels' split nearest to equal."""
    import warnings

    sc = build_scenario(budget={"total": 1000.0, "pacing": "agent", "max_step_multiple": 2.0}, horizon=3,
                        channels=[channel("a", min_share=0.4, max_share=0.400002), channel("b", max_share=0.599999)])
    best = np.tile(sc.step_budget * np.array([0.400002, 0.599998]), (3, 1))
    assert not check_plan(sc, best)
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)  # no log of a negative slack
        o = solve_oracle(sc)
    assert not check_plan(sc, o.plan)
    want = float(evaluate_plan(sc, best))
    assert o.expected_reward == pytest.approx(want, rel=1e-6)


def test_a_channel_locked_at_a_share_below_rounding_is_a_channel_locked_at_zero() -> None:
    """Agent pacing, a free channel beside one capped at 1e-260 (found by the plan property test with seed 9):
    the bounds leave one split, [1, 1e-260], and the capped channel was held at 1e-260 of each step, whose
    barrier curvature (1/x^2) overflowed (a division by zero). It is the same problem as a cap of 0."""
    import warnings

    def scenario(cap: float) -> Scenario:
        return build_scenario(budget={"total": 1000.0, "pacing": "agent", "max_step_multiple": 2.0}, horizon=3,
                              channels=[channel("a"), channel("b", max_share=cap)])

    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        tiny = solve_oracle(scenario(1e-260))
    zero = solve_oracle(scenario(0.0))
    assert not check_plan(scenario(1e-260), tiny.plan)
    assert tiny.expected_reward == pytest.approx(zero.expected_reward, rel=1e-12)


@pytest.mark.parametrize("pacing", ["even", "agent"])
def test_the_oracle_does_not_depend_on_the_units_of_value(pacing: str) -> None:
    """Every value per conversion times 1e-40 multiplies every plan's revenue by 1e-40 and changes no
    ranking: the same plan. The barrier scaled the objective by at least 1e-12 (an absolute floor), so a
    campaign of tiny values was flat and the barrier alone placed the plan (found by the plan property
    test: 38% below the best constant split with a value of 3.5e-40)."""
    def scenario(value: float) -> Scenario:
        chans = [channel(f"c{i}", value={"mean": value * (1 + i)},
                         adstock={"type": "geometric", "decay": 0.3 * i}) for i in range(3)]
        return build_scenario(budget={"total": 3000.0, "pacing": pacing}, horizon=4, reward="revenue",
                              channels=chans)

    unit, tiny = solve_oracle(scenario(1.0)), solve_oracle(scenario(1e-40))
    np.testing.assert_allclose(tiny.plan, unit.plan, rtol=1e-6, atol=1e-6 * 3000.0 / 4)
    assert tiny.expected_reward == pytest.approx(1e-40 * unit.expected_reward, rel=1e-9)


@pytest.mark.parametrize("name", ["mid-s-curves", "mid-agent-s-profit", "bf-agent-pulse"])
def test_starts_meeting_at_a_centre_keep_their_own_optimum(name: str) -> None:
    """:func:`~budgetgym.envs.oracle._solve_starts` (the later rounds once per first-round centre) gives
    every start the plan that the whole barrier method from that start gives (an independent solve per
    start), to rounding: starts are merged only where they meet, and distinct local optima stay apart."""
    from budgetgym.envs.barrier import BarrierProblem, objective_scale
    from budgetgym.envs.expected import expected_model
    from budgetgym.envs.oracle import START_MU, _solve_starts, _starts

    sc = SCENARIOS[name]
    em = expected_model(ChannelModel.from_scenario(sc), scenario_path(sc))
    prob = BarrierProblem(sc, em)
    prob.j_scale = objective_scale(em, prob.plan(prob.interior()))
    ys = [prob.interior(q, s) for q, s in _starts(prob, 6)]
    merged = _solve_starts(prob, ys, START_MU)
    alone = [prob.solve(y, START_MU) for y in ys]
    value = np.array([prob.objective(y) for y in alone])
    assert np.allclose([prob.objective(y) for y in merged], value, rtol=1e-9, atol=0.0)
    for a, b in zip(alone, merged, strict=True):
        assert np.max(np.abs(a - b)) < 1e-6  # units of B/T
    # the cases merge starts (22 -> 7, 24 -> 9 and 10 -> 4 solves) and keep several local optima
    assert len({id(y) for y in merged}) < len(ys)
    assert len(np.unique(np.round(value, 6))) > 1


@pytest.mark.parametrize("pacing", ["even", "agent"])
def test_the_oracle_is_exact_far_below_saturation(pacing: str) -> None:
    """A budget that buys a tiny fraction of the saturation level (``J / (T K beta)`` about 1e-21): the
    curves are linear there (Hill slope 1, ``f ~ beta a / kappa``), so all the budget in the channel of
    twice the conversions per currency is optimal, worth ``B (u / p) beta / kappa`` (a hand
    calculation). The barrier scaled the objective by at least ``1e-6 beta T K`` (the reward at
    saturation), so the objective was flat against the barrier, which alone placed the plan: the
    equal split, 75% of the optimum (the best constant split 133% of the oracle)."""
    beta, kappa, price = 50.0, 5e17, 1e6  # exposure 1000 x spend / price; a / kappa ~ 1e-21
    chans = [channel("weak", cost={"unit": "impression", "price": price, "ref_spend": 100.0},
                     saturation=_hill(beta, 2 * kappa, 1.0)),
             channel("strong", cost={"unit": "impression", "price": price, "ref_spend": 100.0},
                     saturation=_hill(beta, kappa, 1.0))]
    sc = _scenario(chans, horizon=3, pacing=pacing, step_budget=1.0)
    linear = 3.0 * (1000.0 / price) * beta / kappa  # all in "strong", f linear to 1e-21
    oracle = solve_oracle(sc)
    assert not check_plan(sc, oracle.plan)
    assert oracle.expected_reward == pytest.approx(linear, rel=1e-6)
    assert oracle.expected_reward >= best_constant_split(sc).expected_reward * (1 - 1e-6)


def _front_loaded_channels() -> list:
    """An S-shaped channel with carry-over (Hill slope 4, decay 0.6, at least 10% of the budget) and a
    Hill-1.5 one with a geometric delay (mean lag 1, window 2): their agent-paced optimum is front-loaded."""
    return [channel("a", cost={"unit": "impression", "price": 1.0, "ref_spend": 100.0, "elasticity": 0.3},
                    saturation=_hill(30.0, 120000.0, 4.0), adstock={"type": "geometric", "decay": 0.6},
                    value={"mean": 10.0}, min_share=0.1),
            channel("b", cost={"unit": "impression", "price": 1.0, "ref_spend": 100.0, "elasticity": 0.3},
                    saturation=_hill(10.0, 20000.0, 1.5), delay={"type": "geometric", "mean_lag": 1.0, "window": 2},
                    value={"mean": 10.0})]


@pytest.mark.parametrize("reward", ["conversions", "profit"])
def test_the_oracle_finds_a_front_loaded_s_curve_optimum(reward: str) -> None:
    """Two steps, agent pacing (cap 1.8 B/T), an S-shaped channel with carry-over (Hill slope 4, decay
    0.6) and a Hill-1.5 one with a delay: a feasible plan spending most of the budget at step 0 in the
    S-curve (found by a 41^4 grid over both steps' totals and splits, then refined) beat the oracle by
    6% (conversions) and 40% (profit). The oracle's contract is never beaten by more than 0.1%.
    (SLSQP polishing the grid's plan reaches ``[[166.12, 13.88], [20, 0]]``, at the step cap; the
    barrier solves stopped short of it on an ascent direction, see ``BarrierProblem.direction``.)"""
    chans = _front_loaded_channels()
    sc = _scenario(chans, horizon=2, pacing="agent", step_budget=100.0, max_step_multiple=1.8, reward=reward)
    better = np.array([[164.07, 13.3], [22.62, 0.0]])
    assert not check_plan(sc, better)
    assert solve_oracle(sc).expected_reward >= evaluate_plan(sc, better) * (1 - EXACT)


def test_the_barrier_steps_descend_next_to_a_bound() -> None:
    """The front-loaded case above from a start near its optimum (step 0 at 1.6 B/T, step 1 at 0.4, almost all
    in the S-curve): the channel-b spend of step 1 goes to its bound 0, where the barrier's gradient is huge.
    Every Newton direction is a descent direction (decrement ``-g.d = d'Hd >= 0``; it was -0.7 there, along a
    direction moving spend by 0.19 B/T, which the rounds took for convergence and stopped 1% short), and the
    barrier method reaches the local optimum that SLSQP (an independent optimiser on ``evaluate_plan``) reaches
    from the same start, and the polished one of the test above. "To rounding": at a centred point the
    direction is the Schur solve's rounding (at most 1e-6 B/T per coordinate, here), and so is its decrement's
    sign: -2e-7 with this machine's BLAS kernels, -3e-6 with OpenBLAS's Core2 ones and -7e-6 with its
    Sandybridge ones (``OPENBLAS_CORETYPE``), which failed a bound of -1e-6 on the decrement alone."""
    from budgetgym.envs.barrier import BarrierProblem, objective_scale
    from budgetgym.envs.expected import expected_model

    chans = _front_loaded_channels()
    sc = _scenario(chans, horizon=2, pacing="agent", step_budget=100.0, max_step_multiple=1.8)
    em = expected_model(ChannelModel.from_scenario(sc), scenario_path(sc))
    prob = BarrierProblem(sc, em)
    prob.j_scale = objective_scale(em, prob.plan(prob.interior()))
    y = prob.interior(np.array([[1.0, 1e-3], [1.0, 1e-3]]), np.array([1.6, 0.4]))
    for mu in 10.0 ** -np.arange(5, 11):
        y = prob.centre(y, mu)
        _, d, decrement = prob.direction(y, mu)
        assert decrement >= -1e-6 or np.abs(d).max() <= 1e-5, (mu, decrement, np.abs(d).max())  # descent, or rounding
    start = prob.plan(prob.interior(np.array([[1.0, 1e-3], [1.0, 1e-3]]), np.array([1.6, 0.4])))
    local = _slsqp_best(sc, None, 0, rng_seed=0, extra_plans=[start])
    value = float(evaluate_plan(sc, prob.plan(y)))
    assert value >= local * (1 - 1e-6), (prob.plan(y), local)
    assert value >= float(evaluate_plan(sc, np.array([[166.12, 13.88], [20.0, 0.0]]))) * (1 - 1e-6), prob.plan(y)


def test_the_oracle_finds_a_pulsed_optimum_over_five_steps() -> None:
    """Five steps, agent pacing up to 3 B/T, three S-shaped channels (Hill 1.5 with a delay, Hill 3 with carry-over,
    Hill 3 with a delay): the best of 40 seeded SLSQP starts (an independent optimiser on ``evaluate_plan``) spends
    channel ``a`` in two bursts and ``b`` front-loaded. The oracle must be within 0.1% of it; its starts at even
    timing and on the two ramps only reached 0.106% below (a start front-loaded to the cap finds it)."""
    def cost(elasticity: float) -> dict:
        return {"unit": "impression", "price": 1.0, "ref_spend": 100.0, "elasticity": elasticity}

    lag = {"type": "geometric", "mean_lag": 1.0, "window": 2}
    chans = [channel("a", cost=cost(0.14), saturation=_hill(7.9, 186500.0, 1.5), delay=lag, value={"mean": 10.0}),
             channel("b", cost=cost(0.29), saturation=_hill(21.6, 26500.0, 3.0),
                     adstock={"type": "geometric", "decay": 0.64}, value={"mean": 10.0}),
             channel("c", cost=cost(0.47), saturation=_hill(5.9, 109400.0, 3.0), delay=lag, value={"mean": 10.0})]
    sc = _scenario(chans, horizon=5, pacing="agent", step_budget=100.0, max_step_multiple=3.0)
    better = np.array([[113.58, 120.31, 0.0], [0.0, 50.38, 0.0], [0.0, 43.56, 0.0], [113.58, 39.6, 0.0],
                       [0.0, 18.98, 0.0]])
    assert not check_plan(sc, better)
    assert solve_oracle(sc).expected_reward >= evaluate_plan(sc, better) * (1 - EXACT)


def test_the_oracle_merges_a_pulse_of_an_s_curve() -> None:
    """Five steps, agent pacing up to 1.5 B/T, two Hill-2 channels (``b`` with carry-over): the best of 40 seeded
    SLSQP starts (an independent optimiser on ``evaluate_plan``) pulses channel ``a`` in two steps. Every start of
    the oracle reached ``a`` on in one, three or four steps, each a local optimum (SLSQP from the oracle's plan
    stays there), 0.73% below; a start that merges one of ``a``'s three pulses into the others finds two."""
    def cost(elasticity: float) -> dict:
        return {"unit": "impression", "price": 1.0, "ref_spend": 100.0, "elasticity": elasticity}

    chans = [channel("a", cost=cost(0.26), saturation=_hill(29.3, 89850.0, 2.0), value={"mean": 10.0}),
             channel("b", cost=cost(0.26), saturation=_hill(32.0, 32480.0, 2.0),
                     adstock={"type": "geometric", "decay": 0.25}, value={"mean": 10.0})]
    sc = _scenario(chans, horizon=5, pacing="agent", step_budget=100.0, max_step_multiple=1.5)
    better = np.array([[0.0, 81.87], [90.27, 59.73], [0.0, 61.39], [0.0, 60.71], [94.67, 51.36]])
    assert not check_plan(sc, better)
    assert solve_oracle(sc).expected_reward >= evaluate_plan(sc, better) * (1 - EXACT)


@pytest.mark.parametrize("value", [1e-310, 5e-324])
def test_a_subnormal_value_per_conversion_solves(value: float) -> None:
    """A value per conversion of 1e-310 (accepted: ``value.mean >= 0``) made the barrier's scaled
    Hessian ``-H * (unit**2 / J0)`` infinite (``unit**2 / J0`` overflows when ``J0`` is subnormal), 0 * inf
    a NaN, and the solve crashed in ``eigh`` ("Eigenvalues did not converge"; found by the plan property
    test). A revenue that tiny ranks plans as a value of 1 does, up to the subnormals' lost digits: the
    plan is feasible, its value finite and at least the equal split's (to the solver's relative 1e-6)."""
    def scenario(v: float) -> Scenario:
        return scenario_from_dict({
            "name": "subnormal", "horizon": 3, "reward": "revenue",
            "budget": {"total": 1.0, "pacing": "agent", "max_step_multiple": 1.0},
            "channels": [{"name": "c0", "value": {"mean": v},
                          "cost": {"unit": "impression", "price": 1.0, "ref_spend": 1.0, "elasticity": 0.0},
                          "saturation": {"type": "logistic", "max_response": 1.0, "rate": 0.01}}],
        }, source="test scenario")

    sc = scenario(value)
    res = solve_oracle(sc)
    assert check_plan(sc, res.plan) == []
    assert np.isfinite(res.expected_reward) and np.all(np.isfinite(res.plan))
    equal = np.full((3, 1), 1.0 / 3.0)  # one channel: the whole B/T each step
    assert res.expected_reward >= float(evaluate_plan(sc, equal)) * (1 - 1e-6)


def test_where_every_spend_loses_the_agent_paced_oracle_spends_nothing() -> None:
    """A profit campaign whose channels never pay back (a conversion is worth 1, a click costs 1 and
    brings at most 1/1000 of one), under agent pacing: spending nothing (profit 0) is the optimum. The
    barrier's plans stay a hair inside the interior and lost 3e-8 (4e-5 on other such campaigns), so
    the oracle ranked below a plan that does nothing."""
    data = base_scenario_dict(2)
    data.update(horizon=4, reward="profit", budget={"total": 4000.0, "pacing": "agent", "max_step_multiple": 2.0})
    data["channels"] = [
        channel(n, cost={"unit": "click", "price": 1.0, "ref_spend": 1000.0, "elasticity": 0.0},
                saturation=_hill(1.0, 1000.0, 1.0))
        for n in ("a", "b")
    ]
    sc = scenario_from_dict(data, source="test scenario")
    res = solve_oracle(sc)
    assert res.expected_reward == 0.0 and not res.plan.any()
    assert check_plan(sc, res.plan) == []
