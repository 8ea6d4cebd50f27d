r"""The oracle: the best spend plan given the true parameters.

The value of a plan is defined once, in :mod:`budgetgym.envs.plan_value`
(:func:`~budgetgym.envs.plan_value.evaluate_plan`, re-exported here); the oracle ranks its
candidates by it, so "% of oracle" means the same everywhere. Under agent pacing the plan that spends
nothing is ranked too: where every spend loses (profit), it is the optimum, which the barrier's interior
plans approach but stay a hair below.

:func:`solve_oracle` maximises the expected episode reward

.. math:: \max_X J(X) \quad \text{s.t. the plan is reachable by the environment,}

with :math:`J` from :mod:`budgetgym.envs.expected` and the constraints of the
scenario's pacing (``B`` budget, ``T`` horizon, ``[l_i, h_i]`` share bounds):

* ``even``:  :math:`\sum_i X_{t,i} = B/T`, :math:`l_i B/T \le X_{t,i} \le h_i B/T`;
* ``agent``: :math:`X \ge 0`, :math:`s_t = \sum_i X_{t,i} \le m B/T`,
  :math:`\sum_t s_t \le B`, :math:`l_i s_t \le X_{t,i} \le h_i s_t`.

Method. The problem is solved by a primal log-barrier interior-point method
with Newton steps on the equality-constrained barrier problem
(:math:`\min -J(y) - \mu \sum \log(\text{slack})` s.t. :math:`A y = c`, with
inequalities turned into non-negative slack variables). The Hessian of
:math:`J` is block-diagonal by channel (``K`` blocks of ``T x T``), so each
Newton step costs :math:`O(K T^3)` through a Schur complement on the
equality constraints; :math:`\mu` falls tenfold per round until the barrier's
duality-gap bound ``n_bounds * mu`` is below ``1e-9`` of the objective.

* When every curve is concave (Hill slope <= 1, logistic) and cost curves
  are concave (always), :math:`J` is concave, and the barrier method converges
  to the global optimum: one start suffices.
* With S-shaped curves (Hill slope > 1) :math:`J` is not concave. Newton
  directions use the Hessian with eigenvalues clipped to be positive (a
  descent direction), and the best of several starts is kept: the interior
  point, a per-step dynamic programme on a grid of the step budget (exact for
  problems without carry-over, a warm start otherwise), every subset of active
  channels (for up to 6 free channels) and seeded random splits; under agent pacing
  also these splits crossed with front- and back-loaded and ramped step spends,
  the best few by their starting value (:func:`_starts`). Under agent pacing, then also from the
  best plan found with one channel's pulse merged into its other pulses (:func:`_merge_starts`):
  how many steps an S-shaped channel pulses in is a discrete choice that local steps do not change.
  Starts that reach the same point of the central path in the first round are solved once
  (:func:`_solve_starts`): from there the rounds are the same computation.

The reported ``expected_reward`` is :func:`evaluate_plan` of the returned plan.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from threadpoolctl import threadpool_limits

from budgetgym.envs.barrier import START_MIX, BarrierProblem, PlanObjective, objective_scale, repair_plan
from budgetgym.envs.dynamics import ChannelModel
from budgetgym.envs.expected import expected_model
from budgetgym.envs.grid_dp import grid_fractions, grid_split_values
from budgetgym.envs.history import carry_in
from budgetgym.envs.path import ScenarioPath
from budgetgym.envs.plan_value import check_plan, evaluate_plan, resolve_path, scenario_path
from budgetgym.envs.scenario import Scenario

__all__ = [
    "OracleResult", "candidate_plans", "solve_oracle", "evaluate_plan", "scenario_path", "check_plan", "grid_split"
]

#: Barrier weight a warm-started concave solve begins at (the start is near the optimum).
WARM_MU = 1e-6
#: Barrier weight the multi-start solves begin at.
START_MU = 1e-5
#: First-round centres of two starts at most this far apart (``max |y - y'|``, in units of the step
#: budget ``B/T``), at the same barrier value, are the same point of the central path (:func:`_solve_starts`).
SAME_CENTRE = 1e-4
#: Timing x split starts kept under agent pacing: the best by the value of their starting plan (:func:`_starts`).
N_CROSS = 6
#: Pulse-merging starts solved after the first pass under agent pacing: the best by the value of their starting
#: plan (:func:`_merge_starts`).
N_MERGE = 2
#: A pulse-merging solve replaces the best plan only when better by more than this fraction of its value: a new
#: local optimum, not the same one to rounding.
MERGE_GAIN = 1e-9
#: Weight of the interior point in a pulse-merging start (:meth:`BarrierProblem.interior`; the other starts use
#: :data:`~budgetgym.envs.barrier.START_MIX`, 2%): with 2% a merged pulse restarts at about 1% of the step's
#: spend, enough for the solve to regrow it.
MERGE_MIX = 1e-3

#: A centre of the first barrier round, its barrier value and the solution from it (:func:`_solve_starts`).
_Centre = tuple[np.ndarray, float, np.ndarray]


@dataclass(frozen=True)
class OracleResult:
    """The oracle's plan and its expected reward."""

    plan: np.ndarray  # [T, K] spend per step and channel (currency)
    expected_reward: float  # evaluate_plan(plan) on `path`
    path: ScenarioPath
    starts: int
    seconds: float
    concave: bool
    step_rewards: np.ndarray  # [T] evaluate_plan(plan, per_step=True) on `path`; sums to expected_reward

    @property
    def step_spend(self) -> np.ndarray:
        return self.plan.sum(axis=1)

    @property
    def shares(self) -> np.ndarray:
        """Per-step split of the plan (equal split on steps that spend nothing)."""
        s = self.step_spend[:, None]
        K = self.plan.shape[1]
        return np.divide(self.plan, s, out=np.full_like(self.plan, 1.0 / K), where=s > 0)


# ------------------------------------------------------------------- starts
def _dp_shares(prob: BarrierProblem, grid: int = 101) -> np.ndarray:
    """Per-step knapsack over channels on a grid of the step budget
    (:func:`~budgetgym.envs.grid_dp.grid_split_values`), valuing spend ``x`` in channel ``i``
    at step ``t`` as ``C[t,i] f_i(sum(w_i) e_{t,i}(x))`` (steady-state carry-over). Exact (to
    the grid) for problems without carry-over or delay; a warm start otherwise."""
    return grid_split_values(prob.em.grid_values(grid_fractions(grid) * prob.unit), prob.lo, prob.hi)


def grid_split(
    scenario: str | Scenario, grid: int = 101, *, path: ScenarioPath | None = None
) -> np.ndarray:
    """Per-step shares ``[T, K]`` from the dynamic programme of :func:`_dp_shares` (spend on a
    grid of ``grid`` points of the step budget). Exact, to the grid, for one-step or carry-over-free
    scenarios with even pacing, for any curve shape; a fast heuristic otherwise."""
    sc, p = resolve_path(scenario, None, path)
    return _dp_shares(BarrierProblem(sc, expected_model(ChannelModel.from_scenario(sc), p)), grid)


def _timings(prob: BarrierProblem) -> list[np.ndarray]:
    r"""Step spends ``[T]`` (in units of ``B/T``) that agent-pacing starts cross with the structured splits.

    With cap :math:`m` (``max_step_multiple``) and :math:`n = \min(T, \lfloor T/m \rfloor)` steps at the cap:
    front-loaded ("bang": :math:`s = (m, \dots, m, T - n m, 0, \dots, 0)`, all of the budget as early as
    the cap allows), the same back-loaded (reversed), and the linear ramps from 1.6 down to 0.4 and up
    (each spends the budget, :math:`\sum_t s_t = T`). :meth:`BarrierProblem.interior` then keeps each
    start strictly inside the cap and the budget. The even timing is the starts' default (``step=None``).
    """
    T, m = prob.T, prob.sc.budget.max_step_multiple
    n = min(T, int(T // m))
    front = np.zeros(T)
    front[:n] = m
    if n < T:
        front[n] = T - n * m
    ramp = np.linspace(1.6, 0.4, T)
    return [front, front[::-1].copy(), ramp, ramp[::-1].copy()]


def _starts(prob: BarrierProblem, n_random: int) -> list[tuple[np.ndarray, np.ndarray | None]]:
    """Starting ``(shares [T, K], step spends [T] in units of B/T or None for even)`` of the non-concave solve.

    The structured splits (equal, the grid DP of :func:`_dp_shares`, and every subset of the free channels
    for up to 6 of them) at even timing, then seeded random splits and timings; under agent pacing the equal
    split on the two ramps, and the :data:`N_CROSS` best (by the value of the starting plan) of every structured
    split crossed with each timing of :func:`_timings` (front- and back-loaded to the cap, two ramps), so a plan
    that spends up to the cap early in one channel has a start near it. Ranking the crossed starts and solving
    from a few keeps the cost modest: each start that reaches a new centre costs a full solve."""
    K, T = prob.K, prob.T
    splits = [np.full((T, K), 1.0 / K)]
    try:
        splits.append(_dp_shares(prob))
    except (ValueError, FloatingPointError):  # pragma: no cover - defensive
        pass
    free = [i for i in range(K) if prob.hi[i] > prob.lo[i]]
    if 2 <= len(free) <= 6:
        for r in range(1, len(free)):
            for subset in itertools.combinations(free, r):
                q = np.full(K, 1e-3)
                q[list(subset)] = 1.0
                splits.append(np.broadcast_to(q / q.sum(), (T, K)).copy())
    starts: list[tuple[np.ndarray, np.ndarray | None]] = [(q, None) for q in splits]
    rng = np.random.default_rng(12345)
    for _ in range(n_random):
        q = rng.dirichlet(np.full(K, 0.5), size=T) if rng.random() < 0.5 else np.broadcast_to(
            rng.dirichlet(np.full(K, 0.5)), (T, K)
        ).copy()
        step = None
        if prob.agent:
            step = rng.uniform(0.2, 0.98, T) * min(prob.sc.budget.max_step_multiple, 2.0)
        starts.append((q, step))
    if prob.agent:
        front, back, ramp, ramp_up = _timings(prob)
        starts += [(splits[0], ramp), (splits[0], ramp_up)]  # the equal split on the ramps first, as before
        cross = [(q, s) for s in (front, back) for q in splits] + [(q, s) for s in (ramp, ramp_up) for q in splits[1:]]
        starts += _best_starts(prob, cross, N_CROSS)
    return starts


def _best_starts(
    prob: BarrierProblem, starts: Sequence[tuple[np.ndarray, np.ndarray | None]], n: int, mix: float = START_MIX
) -> list[tuple[np.ndarray, np.ndarray | None]]:
    """The ``n`` of ``starts`` whose starting plan (:meth:`BarrierProblem.interior` with ``mix``) is worth the
    most to the objective, best first (ties in their order)."""
    value = prob.em.value(np.stack([prob.plan(prob.interior(q, s, mix)) for q, s in starts]))
    return [starts[k] for k in np.argsort(-np.asarray(value), kind="stable")[:n]]


def _shares_steps(prob: BarrierProblem, X: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
    """A plan ``X [T, K]`` (currency) as a start ``(shares [T, K], step spends [T] in units of B/T, or None
    under even pacing)``; a step that spends nothing gets the equal split."""
    X = np.maximum(np.asarray(X, dtype=float), 0.0)
    step = X.sum(axis=1)
    shares = np.divide(X, step[:, None], out=np.full_like(X, 1.0 / prob.K), where=step[:, None] > 0)
    return shares, step / prob.unit if prob.agent else None


def _merge_starts(prob: BarrierProblem, X: np.ndarray) -> list[tuple[np.ndarray, np.ndarray | None]]:
    r"""Starts that merge one pulse of plan ``X [T, K]`` (the best local optimum found) into the channel's others.

    For each channel :math:`i` and step :math:`t` where it spends (more than :math:`10^{-3} B/T`) while it also
    spends at another step, the plan with :math:`X_{t,i}` moved to channel :math:`i`'s other spending steps in
    proportion to their spend (:meth:`BarrierProblem.interior` then keeps it under the cap and the budget). With an
    S-shaped curve the number of steps a channel pulses in is a discrete choice that no local step changes (its
    spend at an 'off' step has almost no marginal return): the structured starts fix it early, and a channel on in
    three steps where two pay more stays there. The :data:`N_MERGE` best by the value of their starting plan."""
    X = np.maximum(np.asarray(X, dtype=float), 0.0)
    on = X > 1e-3 * prob.unit
    moves: list[tuple[np.ndarray, np.ndarray | None]] = []
    for t, i in zip(*np.nonzero(on & (on.sum(axis=0) >= 2)), strict=True):
        Y = X.copy()
        others = on[:, i].copy()
        others[t] = False
        Y[others, i] += X[t, i] * X[others, i] / X[others, i].sum()
        Y[t, i] = 0.0
        moves.append(_shares_steps(prob, Y))
    return _best_starts(prob, moves, N_MERGE, MERGE_MIX) if moves else []


def _same_centre(prob: BarrierProblem, y: np.ndarray, phi: float, c: np.ndarray, phi_c: float, mu: float) -> bool:
    r"""Whether centres ``y`` and ``c`` of the barrier problem at weight ``mu`` (values ``phi``, ``phi_c``)
    are the same point: :math:`|\phi - \phi_c| \le \epsilon`, :math:`\max |y - c| \le` :data:`SAME_CENTRE`
    and no ridge between them, :math:`\phi((y + c)/2) \le \max(\phi, \phi_c) + \epsilon`
    (:math:`\epsilon = 10^{-10} \max(1, |\phi|, |\phi_c|)`; the objective is scaled to about 1)."""
    tol = 1e-10 * max(1.0, abs(phi), abs(phi_c))
    if abs(phi - phi_c) > tol or float(np.max(np.abs(y - c))) > SAME_CENTRE:
        return False
    return prob.barrier(0.5 * (y + c), mu) <= max(phi, phi_c) + tol


def _solve_starts(
    prob: BarrierProblem, ys: list[np.ndarray], mu: float, seen: list[_Centre] | None = None
) -> list[np.ndarray]:
    r"""The barrier method (:meth:`BarrierProblem.solve`) from each start ``ys``, each start's first round
    (:meth:`BarrierProblem.centre` at ``mu``) run, the rest once per distinct centre.

    The first round takes each start to a centre :math:`y^*(\mu)`, a minimiser of the barrier problem
    :math:`\phi_\mu(y) = -J(y)/J_0 - \mu \sum \log(\text{slack})`; the later rounds are a function of
    that centre alone. When two starts reach the same centre (:func:`_same_centre`: equal values, near
    and no ridge between; they differ by the round's stopping tolerance, which the next round's Newton
    steps remove) the second takes the first's solution instead of repeating its rounds: the same local
    optimum, to rounding. With S-shaped curves most starts meet (a daily calibrated family's nominal
    campaign: all 38 starts at one centre, so 1 solve of 8 rounds instead of 38; about 4x faster). ``seen``
    (centre, its barrier value, its solution) carries the centres of an earlier call, and is extended."""
    out: list[np.ndarray] = []
    seen = [] if seen is None else seen
    for y0 in ys:
        y = prob.centre(y0, mu)
        if prob.done(mu):
            out.append(y)
            continue
        phi = prob.barrier(y, mu)
        twin = next((sol for c, phi_c, sol in seen if _same_centre(prob, y, phi, c, phi_c, mu)), None)
        if twin is None:
            twin = prob.solve(y, 0.1 * mu)
            seen.append((y, phi, twin))
        out.append(twin)
    return out


# --------------------------------------------------------------------- solve
def candidate_plans(
    sc: Scenario,
    em: PlanObjective,
    *,
    concave: bool,
    start: np.ndarray | None = None,
    n_random_starts: int = 6,
) -> list[np.ndarray]:
    """Plans (repaired to be playable) that locally maximise ``em``'s expected reward by the
    barrier method of the module docstring: one solve from the interior point when ``concave``
    (global), else one from each start of :func:`_starts` (:func:`_solve_starts`), and under agent pacing
    those of the pulse merges of the best that improve on it (:func:`_merged`). ``start`` (a plan
    ``[T, K]``, e.g. the solution at a nearby budget) warm-starts the solve: the concave solve begins next to it at a
    small barrier weight; a non-concave one adds it to the starts. The caller ranks them by the
    exact value (:func:`evaluate_plan`)."""
    prob = BarrierProblem(sc, em)
    y0 = prob.interior()
    prob.j_scale = objective_scale(em, prob.plan(y0))
    warm = None if start is None else _shares_steps(prob, start)
    # The Newton steps factorise many tiny matrices; BLAS threads only add contention there
    # (35x slower per step on a loaded 2-core machine), so the solve runs single-threaded.
    with threadpool_limits(limits=1, user_api="blas"):
        if concave:
            ys = [prob.solve(y0, mu=1e-3) if warm is None else prob.solve(prob.interior(*warm), mu=WARM_MU)]
        else:
            starts = _starts(prob, n_random_starts) + ([warm] if warm is not None else [])
            seen: list[_Centre] = []
            ys = _solve_starts(prob, [prob.interior(q, s) for q, s in starts], START_MU, seen)
            if prob.agent:
                ys += _merged(prob, ys, seen)
    return [repair_plan(sc, prob, prob.plan(y)) for y in ys]


def _merged(prob: BarrierProblem, ys: list[np.ndarray], seen: list[_Centre]) -> list[np.ndarray]:
    """Solutions from the pulse-merging starts (:func:`_merge_starts`) of the best of ``ys`` (by the objective)
    that beat it by more than :data:`MERGE_GAIN` (the others would only add the same optimum to rounding)."""
    values = np.asarray(prob.em.value(np.stack([prob.plan(y) for y in ys])))
    best = float(np.max(values))
    merges = _merge_starts(prob, prob.plan(ys[int(np.argmax(values))]))
    if not merges:
        return []
    out = _solve_starts(prob, [prob.interior(q, s, MERGE_MIX) for q, s in merges], START_MU, seen)
    gain = np.asarray(prob.em.value(np.stack([prob.plan(y) for y in out]))) - best
    return [y for y, g in zip(out, gain, strict=True) if g > MERGE_GAIN * abs(best)]


def solve_oracle(
    scenario: str | Scenario,
    seed: int | None = None,
    *,
    path: ScenarioPath | None = None,
    n_random_starts: int = 6,
    history: object = None,
    start: np.ndarray | None = None,
) -> OracleResult:
    """Spend plan maximising the expected episode reward under the true parameters.

    Parameters
    ----------
    scenario : built-in name, YAML path or Scenario.
    seed : episode seed; the plan is then optimal in hindsight for that seed's realised
        path (drift). ``None``: the nominal path (no drift).
    path : an explicit path instead of ``seed``.
    n_random_starts : extra random starts when some curve is S-shaped.
    history : spend before the window (:mod:`budgetgym.envs.history`): the plan credits the
        carry-over it leaves, and ``expected_reward`` includes the conversions it still brings.
    start : a plan ``[T, K]`` to warm-start from (e.g. the optimum at a nearby budget).
    """
    t0 = time.perf_counter()
    sc, p = resolve_path(scenario, seed, path)
    model = ChannelModel.from_scenario(sc)
    carry = carry_in(sc, history, model)
    em = expected_model(model, p, carry)
    concave = model.is_concave
    plans = np.stack(candidate_plans(sc, em, concave=concave, start=start, n_random_starts=n_random_starts))
    # rank the candidates by the value the environment would give them
    values = np.atleast_1d(evaluate_plan(sc, plans, path=p, model=model, history=carry))
    best = int(np.argmax(values))
    plan, value = plans[best], float(values[best])
    if sc.budget.pacing == "agent":  # spending nothing is a plan too; where every spend loses (profit), the
        zero = np.zeros_like(plan)   # barrier stops a hair inside the interior, just below its value
        zero_value = float(evaluate_plan(sc, zero, path=p, model=model, history=carry))
        if zero_value > value:
            plan, value = zero, zero_value
    steps = np.asarray(evaluate_plan(sc, plan, path=p, model=model, per_step=True, history=carry))
    return OracleResult(
        plan=plan,
        expected_reward=value,
        path=p,
        starts=len(plans),
        seconds=time.perf_counter() - t0,
        concave=concave,
        step_rewards=steps,
    )
