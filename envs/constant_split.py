r"""The best constant split in hindsight: the best any static allocation can do.

A *constant split* plays the same shares :math:`q` (one vector within the channels' share bounds)
at every step, with **even flighting**: every step spends the same amount :math:`s`. That is
what a marketing-mix-model budget allocator returns when it optimises one split for the period
(Robyn's allocator works on the mean over its date range, PyMC-Marketing's and Meridian's on a
budget spread evenly over the periods unless the user passes their own flighting). Its plan is

.. math::  X_{t,i} = q_i\, s, \qquad \sum_i q_i = 1, \quad \ell_i \le q_i \le h_i,

with the step spend

.. math::  s = B/T \quad \text{(even pacing, or a reward without a spend cost)}, \qquad
           0 \le s \le B/T \quad \text{(agent pacing with a profit reward)}.

Under ``even`` pacing the environment spends ``B/T`` every step. Under ``agent`` pacing a plan may
leave budget unspent; conversions and revenue never fall with spend, so their best even flighting
spends the whole budget, but profit :math:`J = \text{revenue} - \text{spend}` falls once the
marginal ROAS is below 1, and a static plan forced to spend ``B`` would charge its losses to
"timing" (the oracle and the planner's recommendation may spend less than ``B``). There the level
is chosen with the split: :math:`\max_{z} J(X(z))` over the per-step spend
:math:`z_i = q_i s / (B/T)`, :math:`z \ge 0`, :math:`\sum_i z_i \le 1`,
:math:`\ell_i \sum_j z_j \le z_i \le h_i \sum_j z_j` (a convex set: convex combinations of constant
splits are constant splits).

:func:`best_constant_split` maximises :math:`J(X(q))` (:func:`~budgetgym.envs.evaluate_plan`)
with the true parameters on one episode path: the nominal one, or a seed's (then it is the best
constant split *in hindsight* of that episode, as the oracle is the best plan in hindsight). The
**dynamic headroom** of a scenario is what the oracle gains over it, in points of the oracle:

.. math::  100\,(J^{oracle} - J^{const}) / J^{oracle}.

It is what adapting the split (and, under agent pacing, the flighting) over time is worth; an
agent that never adapts cannot score above ``100 - headroom`` % of the oracle.

Method. Channels do not interact in the dynamics, so :math:`J(X(q)) = \sum_i F_i(q_i)`, with
:math:`F_i(q_i)` channel i's reward when it receives :math:`q_i B/T` every step.

1. A dynamic programme over channels on a grid of shares
   (:func:`~budgetgym.envs.grid_dp.grid_split_values`, with :math:`F_i` from the matrix model of
   :mod:`budgetgym.envs.expected`): the global optimum to the grid, for any curve shape
   (S-curves included).
2. A local polish of :math:`q` by SLSQP (bounds and :math:`\sum_i q_i = 1`; exact gradient
   :math:`\partial J / \partial q_i = (B/T) \sum_t \partial J / \partial X_{t,i}`) from the grid
   optimum, the equal split and, when some curve is S-shaped, seeded random splits. When every
   curve is concave, :math:`J(X(q))` is concave in :math:`q` and the polish of the grid optimum
   is the global optimum.
3. With a free level (agent pacing, profit): the grid optimum of step 1 at each of
   :data:`LEVELS` step spends, and every candidate of steps 1-2 scaled to each of them; the best
   of these polished by SLSQP over :math:`z` (the linear constraints above). Concave curves make
   :math:`J(X(z))` concave, so the polish is the global optimum.
4. Every candidate is projected onto the feasible splits
   (:func:`~budgetgym.envs.simplex_projection.project_bounded_simplex`, the level clipped to ``[0, 1]``)
   and valued by :func:`~budgetgym.envs.evaluate_plan`; the best is returned, so
   ``expected_reward`` means the same as the oracle's.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from threadpoolctl import threadpool_limits

from budgetgym.envs.allocation import lock_degenerate_bounds, project_bounded_simplex
from budgetgym.envs.barrier import PlanObjective, objective_scale
from budgetgym.envs.dynamics import ChannelModel
from budgetgym.envs.expected import expected_model
from budgetgym.envs.grid_dp import grid_fractions, grid_split_values
from budgetgym.envs.history import carry_in
from budgetgym.envs.path import ScenarioPath
from budgetgym.envs.plan_value import evaluate_plan, resolve_path
from budgetgym.envs.scenario import Scenario

__all__ = [
    "ConstantSplit", "best_constant_split", "constant_split_plan", "constant_split_search", "constant_split_shares",
    "equal_split_shares"
]

#: Random starts added when some response curve is S-shaped (none when all are concave).
NONCONCAVE_STARTS = 4
#: Step spends (fractions of ``B/T``, besides 0) searched when the level is free (module docstring, step 3).
LEVELS = 20


@dataclass(frozen=True)
class ConstantSplit:
    """The best constant split of a scenario on one path, and its value."""

    shares: np.ndarray  # [K] the split played every step (within the share bounds, sums to 1)
    plan: np.ndarray  # [T, K] spend per step and channel: shares * s every step (s = B/T unless the level is free)
    expected_reward: float  # evaluate_plan(plan) on `path`
    path: ScenarioPath
    starts: int  # local searches run
    seconds: float


def constant_split_plan(scenario: Scenario, shares: np.ndarray) -> np.ndarray:
    """The plan ``[T, K]`` that spends ``shares * B/T`` at every step (even flighting); shares summing
    to less than 1 spend that fraction of ``B/T`` (a free level, module docstring)."""
    q = np.asarray(shares, dtype=float)
    return np.tile(q * scenario.step_budget, (scenario.horizon, 1))


def _grid_start(
    em: PlanObjective, unit: float, lo: np.ndarray, hi: np.ndarray, grid: int
) -> np.ndarray | None:
    """Grid optimum of ``sum_i F_i(q_i)`` (step 1 of the module docstring); ``None`` when the share
    bounds leave no split on the grid."""
    frac = grid_fractions(grid)
    n = grid - 1
    lo_g = np.ceil(lo * n - 1e-9) / n  # bounds rounded inwards to the grid
    hi_g = np.floor(hi * n + 1e-9) / n
    if lo_g.sum() > 1 + 1e-12 or hi_g.sum() < 1 - 1e-12 or np.any(lo_g > hi_g):
        return None
    T, K = em.horizon, em.n_channels
    plans = np.broadcast_to(frac[:, None, None] * unit, (grid, T, K))  # level g in every channel
    values = em.channel_values(plans)  # [G, K]: F_i(g / n), channels being independent
    return grid_split_values(values, lo_g, hi_g)


def _excess(q: np.ndarray) -> float:
    """``sum(q) - 1``: the equality constraint of the local search."""
    return float(q.sum()) - 1.0


def best_constant_split(
    scenario: str | Scenario,
    seed: int | None = None,
    *,
    path: ScenarioPath | None = None,
    starts: int | None = None,
    grid: int = 101,
    rng_seed: int = 0,
    history: object = None,
) -> ConstantSplit:
    """The constant split (even flighting: ``B/T`` per step, or less under agent pacing with a profit
    reward, module docstring) with the highest expected reward.

    Parameters
    ----------
    scenario : built-in name, YAML path or Scenario.
    seed : episode seed whose path (drift) to use: the best constant split in hindsight of that
        episode. ``None``: the nominal path.
    path : an explicit path instead of ``seed`` (e.g. the oracle's ``OracleResult.path``).
    starts : seeded random starts of the local search, besides the grid optimum and the equal
        split. ``None`` (default) adapts to the problem: 0 when every curve is concave (the
        polished grid optimum is then global), :data:`NONCONCAVE_STARTS` otherwise.
    grid : points of the share grid of the dynamic programme (101: steps of 1%).
    rng_seed : seed of the random starts.
    history : spend before the window (:mod:`budgetgym.envs.history`), as for the oracle.

    Returns
    -------
    ConstantSplit
        ``expected_reward`` is :func:`~budgetgym.envs.evaluate_plan` of ``plan`` on ``path``.
    """
    t0 = time.perf_counter()
    sc, p = resolve_path(scenario, seed, path)
    model = ChannelModel.from_scenario(sc)
    carry = carry_in(sc, history, model)
    em = expected_model(model, p, carry)

    def exact(plans: np.ndarray) -> np.ndarray:
        return np.atleast_1d(evaluate_plan(sc, plans, path=p, model=model, history=carry))

    shares, plan, value, n_starts = constant_split_search(
        sc, em, exact, concave=model.is_concave, starts=starts, grid=grid, rng_seed=rng_seed
    )
    return ConstantSplit(
        shares=shares, plan=plan, expected_reward=value, path=p, starts=n_starts, seconds=time.perf_counter() - t0
    )


def constant_split_search(
    sc: Scenario,
    em: PlanObjective,
    exact: Callable[[np.ndarray], np.ndarray],
    *,
    concave: bool,
    starts: int | None = None,
    grid: int = 101,
    rng_seed: int = 0,
) -> tuple[np.ndarray, np.ndarray, float, int]:
    """Steps 1-3 of the module docstring for any expected-reward model ``em`` (one campaign, or the
    mean over a family's draws) whose exact value of a batch of plans is ``exact``. Returns
    ``(shares, plan, value, starts)``."""
    K, unit = sc.n_channels, sc.step_budget
    lo, hi = lock_degenerate_bounds(*sc.share_bound_arrays)
    n_random = (0 if concave else NONCONCAVE_STARTS) if starts is None else max(0, int(starts))

    initial = [project_bounded_simplex(np.full(K, 1.0 / K), lo, hi)]
    grid_q = _grid_start(em, unit, lo, hi, grid)
    if grid_q is not None:
        initial.insert(0, project_bounded_simplex(grid_q, lo, hi))
    rng = np.random.default_rng(rng_seed)
    initial += [project_bounded_simplex(rng.dirichlet(np.full(K, 0.5)), lo, hi) for _ in range(n_random)]

    scale = objective_scale(em, constant_split_plan(sc, initial[0]))  # the oracle's rule

    def loss(q: np.ndarray) -> tuple[float, np.ndarray]:
        J, g, _ = em.derivatives(constant_split_plan(sc, q), hessian=False)
        return -J / scale, -g.sum(axis=0) * unit / scale

    from scipy.optimize import minimize  # here: scipy.optimize would cost every `import budgetgym` ~0.2 s

    free = lo < hi
    candidates = list(initial)
    # SLSQP's small dense algebra gains nothing from BLAS threads (and loses much on a busy machine)
    with threadpool_limits(limits=1, user_api="blas"):
        for q0 in initial:
            if free.sum() < 2:  # a single feasible split
                break
            res = minimize(
                loss,
                q0,
                jac=True,
                method="SLSQP",
                bounds=list(zip(lo, hi, strict=True)),
                constraints=[{"type": "eq", "fun": _excess, "jac": np.ones_like}],
                options={"maxiter": 500, "ftol": 1e-13},
            )
            if np.all(np.isfinite(res.x)):
                candidates.append(project_bounded_simplex(np.clip(res.x, lo, hi), lo, hi))
    if sc.budget.pacing == "agent" and em.spend_cost:
        candidates += _free_level(sc, em, lo, hi, candidates, grid, scale)
    spends = np.stack(candidates)  # [C, K] per-step spend in units of B/T
    plans = np.stack([constant_split_plan(sc, z) for z in spends])
    values = exact(plans)
    best = int(np.argmax(values))
    return constant_split_shares(sc, plans[best][0]), plans[best], float(values[best]), len(initial)


def constant_split_shares(scenario: Scenario, step: np.ndarray) -> np.ndarray:
    """The shares ``[K]`` of a constant split's step spend ``[K]``; a split that spends nothing (a free
    level, where every spend loses profit) records the equal split (projected onto the share bounds)."""
    step = np.asarray(step, dtype=float)
    level = float(step.sum())
    return step / level if level > 0 else equal_split_shares(scenario)


def equal_split_shares(scenario: Scenario) -> np.ndarray:
    """The equal split ``1/K`` projected onto the share bounds, ``[K]`` (bounds that leave a single
    split locked to it, as every optimiser's are): the one definition of "the equal split"."""
    K = scenario.n_channels
    return project_bounded_simplex(np.full(K, 1.0 / K), *lock_degenerate_bounds(*scenario.share_bound_arrays))


def _feasible_level(z: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """``z`` (per-step spend in units of ``B/T``) made feasible: its split projected onto the share
    bounds, its level clipped to ``[0, 1]``."""
    z = np.maximum(np.asarray(z, dtype=float), 0.0)
    level = min(float(z.sum()), 1.0)
    q = z / z.sum() if z.sum() > 0 else np.full(len(z), 1.0 / len(z))
    return project_bounded_simplex(q, lo, hi) * level


def _free_level(
    sc: Scenario, em: PlanObjective, lo: np.ndarray, hi: np.ndarray, full: list[np.ndarray], grid: int, scale: float
) -> list[np.ndarray]:
    """Step 3 of the module docstring: candidates ``z`` (per-step spend in units of ``B/T``, summing to
    at most 1) when the step spend is free; ``full`` are the candidates at the full level."""
    unit = sc.step_budget
    levels = np.linspace(0.0, 1.0, LEVELS + 1)
    starts = [q * u for q in full for u in levels]
    for u in levels[1:]:
        q = _grid_start(em, unit * u, lo, hi, grid)
        if q is not None:
            starts.append(project_bounded_simplex(q, lo, hi) * u)
    starts = [_feasible_level(z, lo, hi) for z in starts]
    values = np.asarray(em.value(np.stack([constant_split_plan(sc, z) for z in starts])))
    z0 = starts[int(np.argmax(values))]

    def loss(z: np.ndarray) -> tuple[float, np.ndarray]:
        J, g, _ = em.derivatives(constant_split_plan(sc, z), hessian=False)
        return -J / scale, -g.sum(axis=0) * unit / scale

    # the linear constraints as A z + b >= 0: 1 - sum z, z_i - lo_i sum z, hi_i sum z - z_i
    K, ones, eye = len(lo), np.ones(len(lo)), np.eye(len(lo))
    A = np.vstack([-ones] + [eye[i] - lo[i] * ones for i in range(K) if lo[i] > 0]
                  + [hi[i] * ones - eye[i] for i in range(K) if hi[i] < 1])
    b = np.zeros(len(A))
    b[0] = 1.0
    constraints = [{"type": "ineq", "fun": lambda z: A @ z + b, "jac": lambda z: A}]
    out = list(starts)
    from scipy.optimize import minimize  # here: scipy.optimize would cost every `import budgetgym` ~0.2 s

    with threadpool_limits(limits=1, user_api="blas"):
        res = minimize(loss, z0, jac=True, method="SLSQP", bounds=[(0.0, float(h)) for h in hi],
                       constraints=constraints, options={"maxiter": 500, "ftol": 1e-13})
    if np.all(np.isfinite(res.x)):
        out.append(_feasible_level(res.x, lo, hi))
    return out
