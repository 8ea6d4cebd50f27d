r"""What the planner maximises when the curves are uncertain, and the outcome distribution.

The problem's members are campaigns :math:`n = 1..N` (a family's draws; one campaign for a
scenario) with values :math:`J_n(X)` (:class:`~budgetgym.planner.problem.PlanningProblem`).

* ``mean`` (default; what Meridian and Robyn optimise, PyMC-Marketing's default utility):
  :math:`U(X) = \frac1N \sum_n J_n(X)`, solved by the barrier method on the mean model.
* ``cvar:alpha`` (risk-averse, PyMC-Marketing's ``average_response`` vs
  ``conditional_value_at_risk``): the mean of the worst :math:`k = \lceil \alpha N \rceil`
  members, :math:`U(X) = \frac1k \sum_{n \in W(X)} J_n(X)` with :math:`W(X)` the ``k`` members of
  lowest :math:`J_n(X)`. It is concave when every :math:`J_n` is (a minimum of means), but not
  smooth: it has a kink wherever members tie at the edge of the worst set, and its optimum
  usually lies on one. Method: cutting planes (Kelley's) on the dual. With
  :math:`\Delta_k = \{w: 0 \le w_n \le 1/k, \sum_n w_n = 1\}`, :math:`U(X) = \min_{w \in \Delta_k}
  \sum_n w_n J_n(X)` (the minimum is the mean of the ``k`` worst), so for concave members
  :math:`\max_X U = \min_{w \in \Delta_k} \max_X \sum_n w_n J_n(X)`. From plans :math:`Y_1..Y_P`
  (:math:`Y_1` the mean plan) with :math:`M_{jn} = J_n(Y_j)`, the linear programme
  :math:`\min_{w \in \Delta_k} \max_j M_j \cdot w` (:func:`tail_game`) gives weights ``w`` and, as its
  dual, the convex combination :math:`\sum_j \lambda_j Y_j` that maximises the smallest such bound:
  a feasible plan (the constraints are linear) whose :math:`U`, for concave members, is at least the
  programme's value, which never falls as plans are added. The next plan :math:`Y_{P+1}` maximises
  the weighted mean :math:`\sum_n w_n J_n` (the barrier method, warm-started at the best plan so
  far); its value there bounds :math:`\max U` above. A plan replaces the best only if its :math:`U`
  is higher, and the first is the mean plan (or a candidate given, if better on :math:`U`), so the
  result's CVaR is at least the mean plan's. Stops
  when the best :math:`U` is within ``1e-9`` of :math:`|U|` of the smallest bound (optimal, for
  concave members) or after :data:`CVAR_ROUNDS` plans. With S-shaped members the ascent starts from
  the best on :math:`U` of the mean plan and the candidates given (the static plan), and once stopped,
  the barrier method's multi-start on its last weighted mean gives more local optima; from one better on
  :math:`U` the ascent runs again (warm-started best responses stayed next to the mean plan: on four
  S-shaped draws that disagree, 29% of the optimum and below the static plan, ``tests/test_plan_hostile.py``).
  (Moving from the plan towards the optimum of
  its worst set alone, as the method did before, stalls at a kink: the move lowers a tied member at
  once. On small hand-made families it stopped 1% short of the optimum, ``tests/test_planner.py``.)

:func:`outcome_distribution` summarises plans over the **held-out** draws: P10 / P50 / P90 and
mean of the outcome, and the probability that one plan beats another (the share of draws where
it does).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from scipy.optimize import linprog

from budgetgym.envs.constant_split import constant_split_search, constant_split_shares
from budgetgym.envs.errors import BudgetGymError, suggest
from budgetgym.envs.expected import ExpectedModel, MeanExpectedModel
from budgetgym.envs.oracle import candidate_plans
from budgetgym.envs.plan_value import check_plan
from budgetgym.planner.metrics import without_free_residue
from budgetgym.planner.problem import PlanningProblem

__all__ = ["CVAR_ROUNDS", "Objective", "Solution", "objective_marginal_model", "outcome_distribution", "solve",
           "solve_for", "solve_with_weights", "static_for", "tail_game"]

#: Plans a CVaR solve adds at most (module docstring): on ``retail-5-family`` (100 draws, ``cvar:0.1``)
#: the bounds meet within 1e-9 after 7.
CVAR_ROUNDS = 30

#: ``best_response(members, weights, X)``: plans, the first maximising the weighted mean of the problem's
#: ``members`` (indices; ``weights`` summing to 1), warm-started at plan ``X``; any others are more candidates.
BestResponse = Callable[[np.ndarray, np.ndarray, np.ndarray], list[np.ndarray]]


@dataclass(frozen=True)
class Objective:
    """``mean`` or ``cvar`` with tail fraction ``alpha`` (module docstring)."""

    kind: str = "mean"
    alpha: float = 1.0

    @classmethod
    def parse(cls, text: str) -> Objective:
        """``"mean"``, ``"cvar:ALPHA"`` with ``0 < ALPHA <= 1`` or ``"cvar"`` (``ALPHA`` 0.1); a
        one-line error otherwise (``cvar0.2``, the colon missing, included)."""
        t = text.strip().lower()
        if t == "mean":
            return cls()
        if t == "cvar" or t.startswith("cvar:"):
            _, _, a = t.partition(":")
            try:
                alpha = float(a) if a else 0.1
            except ValueError:
                alpha = float("nan")
            if not 0.0 < alpha <= 1.0:
                raise BudgetGymError(f"--objective {text!r}: expected cvar:ALPHA with 0 < ALPHA <= 1, e.g. cvar:0.1")
            return cls("cvar", alpha)
        raise BudgetGymError(f"--objective {text!r}: expected 'mean' or 'cvar:ALPHA' (e.g. cvar:0.1)"
                             + suggest(t.partition(":")[0], ("mean", "cvar")))

    def __str__(self) -> str:
        return "mean" if self.kind == "mean" else f"cvar:{self.alpha:g}"

    def tail(self, n: int) -> int:
        """Members in the worst set: :math:`\\lceil \\alpha N \\rceil`."""
        return n if self.kind == "mean" else max(1, math.ceil(self.alpha * n - 1e-9))

    def score(self, values: np.ndarray) -> np.ndarray:
        """:math:`U` from member values ``[M]`` or ``[M, N]`` (members first)."""
        v = np.asarray(values, dtype=float)
        if self.kind == "mean":
            return v.mean(axis=0)
        k = self.tail(v.shape[0])
        return np.sort(v, axis=0)[:k].mean(axis=0)

    def weighted_score(self, values: np.ndarray, weights: np.ndarray) -> np.ndarray:
        r""":math:`U` of each plan ``p`` of ``values [P, M]`` (plan ``p``'s value under member ``m``) when the
        members have probabilities ``weights [..., M]`` (each row summing to 1) instead of :math:`1/M`:
        ``[..., P]``. ``mean``: :math:`\sum_m w_m V_{pm}`. ``cvar``: the mean over the lowest probability
        mass :math:`a = k/M` (:math:`k` = :meth:`tail` of ``M``), the member at the mass's edge counted in
        part,

        .. math::  U_p(w) = \frac1a \sum_{j} \min\big(w_{(j)}, \max(0, a - c_{(j)} + w_{(j)})\big)\, V_{p(j)},

        with :math:`(j)` the members in ascending order of :math:`V_{p\cdot}` and :math:`c_{(j)}` the
        cumulated weights to :math:`(j)`. Equal weights give :meth:`score` exactly (the ``k`` worst)."""
        V = np.asarray(values, dtype=float)
        w = np.asarray(weights, dtype=float)
        if self.kind == "mean":
            return w @ V.T
        a = self.tail(V.shape[1]) / V.shape[1]
        order = np.argsort(V, axis=1, kind="stable")  # [P, M]
        wT = np.moveaxis(w, -1, 0)  # [M, ...]
        left = np.full((V.shape[0], *w.shape[:-1]), a)  # [P, ...]: the tail's mass not yet taken
        total = np.zeros_like(left)
        tail = (slice(None),) + (None,) * (w.ndim - 1)
        for j in range(V.shape[1]):  # members in ascending order of each plan's value; stops once all taken
            take = np.minimum(wT[order[:, j]], left)
            total += take * V[np.arange(V.shape[0]), order[:, j]][tail]
            left -= take
            if left.max() <= 1e-12 * a:
                break
        return np.moveaxis(total, 0, -1) / a


def _worst(problem: PlanningProblem, objective: Objective, plan: np.ndarray) -> np.ndarray:
    values = problem.member_values(plan)[:, 0]
    return np.argsort(values, kind="stable")[: objective.tail(len(values))]


def _members_model(
    problem: PlanningProblem, members: np.ndarray, weights: np.ndarray | None = None
) -> MeanExpectedModel:
    """The (weighted) mean expected-reward model of the problem's ``members`` (indices)."""
    return MeanExpectedModel([problem.members[i].expected for i in members], weights)


def objective_marginal_model(
    problem: PlanningProblem, objective: Objective, plan: np.ndarray, weights: np.ndarray | None = None
) -> object:
    """The model whose gradient is a (super)gradient of :math:`U` at ``plan``: the mean model, or
    for CVaR the members' mean under ``weights`` (the tail weights :func:`solve_with_weights` returns
    with ``plan``: where members tie at the edge of the worst set, the weighted mean whose optimum
    ``plan`` is, so that its gradient gives the optimum's derivative in the budget), else the mean over
    the worst set at ``plan`` (one of the tied members, picked by the sort, where they tie)."""
    if objective.kind == "mean" or len(problem.members) == 1:
        return problem.objective
    if weights is not None:
        on = np.flatnonzero(weights > 1e-12)
        return _members_model(problem, on, weights[on] / weights[on].sum())
    return _members_model(problem, _worst(problem, objective, plan))


def tail_game(values: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray, float]:
    """``min_w max_j values[j] @ w`` over :math:`\\{0 \\le w_n \\le 1/k, \\sum_n w_n = 1\\}` for member
    values ``[P, N]`` of ``P`` plans (module docstring), by linear programming: ``(w [N], lam [P], value)``
    with ``lam`` the optimal convex combination of the plans (the programme's dual)."""
    # HiGHS's feasibility tolerances are absolute (1e-7): on values of 1e-14 (a value per conversion of
    # 1e-20) every w met the constraints and the weights were arbitrary (the CVaR plan 3% short). Values
    # below 1 are divided by their largest (the same programme); from 1 they are solved as they are.
    M = np.asarray(values, dtype=float)
    unit = min(1.0, float(np.abs(M).max(initial=0.0))) or 1.0
    M = M / unit
    P, N = M.shape
    cost = np.zeros(N + 1)
    cost[-1] = 1.0  # minimise the bound z, with M[j] @ w <= z for every plan
    res = linprog(cost, A_ub=np.hstack([M, -np.ones((P, 1))]), b_ub=np.zeros(P),
                  A_eq=np.concatenate([np.ones(N), [0.0]])[None], b_eq=[1.0],
                  bounds=[(0.0, 1.0 / k)] * N + [(None, None)], method="highs")
    if res.status != 0:  # not expected (the programme is feasible and bounded): the first plan alone
        lam = np.zeros(P)
        lam[0] = 1.0
        w = np.zeros(N)
        w[np.argsort(M[0], kind="stable")[:k]] = 1.0 / k
        return w, lam, float(M[0] @ w) * unit
    lam = np.maximum(-np.asarray(res.ineqlin.marginals), 0.0)
    return np.clip(res.x[:N], 0.0, None), lam / lam.sum(), float(res.x[-1]) * unit


def _cvar_ascent(
    problem: PlanningProblem, objective: Objective, X: np.ndarray, best_response: BestResponse
) -> tuple[np.ndarray, float, np.ndarray]:
    """The CVaR cutting planes of the module docstring from plan ``X`` (``best_response``:
    :data:`BestResponse`). Returns the best plan, its :math:`U` and the tail weights ``w [N]`` of the
    smallest upper bound (the dual optimum, to the bounds' gap, when they meet)."""

    def U(plan: np.ndarray) -> float:
        return float(objective.score(problem.member_values(plan))[0])

    V = problem.member_values(X)  # [N, 1]
    best = float(objective.score(V)[0])
    k = objective.tail(len(problem.members))
    plans, values = [X], [V[:, 0]]
    upper = np.inf
    w_upper = np.zeros(len(problem.members))
    for _ in range(CVAR_ROUNDS):
        w, lam, _ = tail_game(np.stack(values), k)
        if len(plans) > 1:
            Z = np.tensordot(lam, np.stack(plans), axes=1)
            u = U(Z)
            if u > best:
                X, best = Z, u
        on = np.flatnonzero(w > 1e-12)
        Ys = best_response(on, w[on] / w[on].sum(), X)
        J = problem.member_values(np.stack(Ys))  # [N, len(Ys)]
        scores = objective.score(J)
        if scores.max() > best:
            X, best = Ys[int(np.argmax(scores))], float(scores.max())
        if float(w @ J[:, 0]) < upper:
            upper, w_upper = float(w @ J[:, 0]), w
        if upper - best <= 1e-9 * abs(best):  # relative: a floor of 1e-12 stopped tiny values at once
            break
        plans += Ys
        values += list(J.T)
    return X, best, w_upper


@dataclass(frozen=True)
class Solution:
    """A solve of a problem (:func:`solve`): its plan and the members' weights it is optimal for, and what a later
    solve of the same problem reuses: the solver's ``candidates`` from a cold start (none from a warm one), the
    ``first`` plan the rest was computed from (the ascent's start under CVaR), and the ``budget`` and
    ``objective`` solved for."""

    plan: np.ndarray
    weights: np.ndarray
    candidates: list[np.ndarray] | None
    first: np.ndarray
    budget: float
    objective: str
    #: the interior point's solve among the candidates, cold or warm (a family's; ``None`` for a scenario), which a
    #: cold solve at this budget takes (:meth:`~budgetgym.planner.problem.PlanningProblem.candidates`' ``interior``)
    interior: list[np.ndarray] | None = None


def solve(
    problem: PlanningProblem,
    objective: Objective,
    start: np.ndarray | None = None,
    extra: list[np.ndarray] | None = None,
    reuse: Solution | None = None,
) -> Solution:
    """The plan maximising ``objective`` on ``problem`` (module docstring; ``extra`` as for
    :meth:`PlanningProblem.solve`) and the members' weights ``[N]`` it is optimal for: ``1/N`` each
    for the mean; for CVaR the tail weights of the cutting planes' smallest upper bound (the dual
    optimum), which :func:`objective_marginal_model` takes. The plan is given without the barrier
    method's rounding of 0 (:func:`_without_rounding`).

    ``reuse``: a cold solve (no ``start``) of the same problem, budget and objective without ``extra`` (a target
    search's level at the budget, :func:`~budgetgym.planner.frontier.solve_level`): its candidates are taken as
    they are instead of solved again, and where ``extra`` does not replace the plan they start from (no candidate
    given is strictly better), ``reuse`` itself is the answer, the same object. A warm-started solve at the same
    budget (a target met: the search's point there) lends its interior point's solve (:attr:`Solution.interior`),
    one of a cold solve's candidates. Either way the numbers are those of a solve from scratch, to the last bit:
    every step after the candidates is computed as it would be."""
    at = reuse if reuse is not None and reuse.budget == problem.budget else None
    same = at is not None and start is None and at.candidates is not None and at.objective == str(objective)
    if same and at is not None and at.candidates is not None:
        candidates = at.candidates
    else:  # a solve at the same budget made the interior point's solve (a target met: the search's, warm-started)
        candidates = problem.candidates(start, interior=None if at is None else at.interior)
    X = problem.best(candidates + list(extra or []))
    n = len(problem.members)
    kept = candidates if start is None else None
    interior = problem.interior_part(candidates)
    if objective.kind == "mean" or n == 1:
        if same and at is not None and X is at.first:
            return at
        return Solution(_without_rounding(problem, objective, X), np.full(n, 1.0 / n), kept, X, problem.budget,
                        str(objective), interior)
    firsts = [X, *(extra or [])]  # the mean plan, or a candidate better on U (the static plan, S-shaped members)
    X = firsts[int(np.argmax(objective.score(problem.member_values(np.stack(firsts)))))]
    if same and at is not None and X is at.first:
        return at
    first = X

    def best_response(members: np.ndarray, weights: np.ndarray, X: np.ndarray) -> list[np.ndarray]:
        tail = _members_model(problem, members, weights)
        return [candidate_plans(problem.scenario, tail, concave=True, start=X)[0]]

    plan, value, weights = _cvar_ascent(problem, objective, X, best_response)
    if not problem.concave:
        on = np.flatnonzero(weights > 1e-12)
        tail = _members_model(problem, on, weights[on] / weights[on].sum())
        plans = candidate_plans(problem.scenario, tail, concave=False, start=plan)
        U = objective.score(problem.member_values(np.stack(plans)))
        if U.max() > value:
            plan, value, weights = _cvar_ascent(problem, objective, plans[int(np.argmax(U))], best_response)
    return Solution(_without_rounding(problem, objective, plan), weights, kept, first, problem.budget, str(objective),
                    interior)


def solve_with_weights(
    problem: PlanningProblem,
    objective: Objective,
    start: np.ndarray | None = None,
    extra: list[np.ndarray] | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """:func:`solve`'s plan and weights."""
    s = solve(problem, objective, start, extra)
    return s.plan, s.weights


def _without_rounding(problem: PlanningProblem, objective: Objective, X: np.ndarray) -> np.ndarray:
    """Solved plan ``X`` with the barrier method's rounding of 0 on a channel (or step) it does not spend
    on set to 0 and each step's total kept (:func:`~budgetgym.planner.metrics.without_residue`; ~1e-5 was
    written to ``plan.csv`` and carried into ``simulate --plan plan.csv``), unless that breaks one of the
    campaign's constraints (a share bound below :data:`~budgetgym.planner.metrics.ZERO_RTOL`) or lowers
    ``objective`` (a tiny spend that is not rounding: :func:`~budgetgym.planner.metrics.without_free_residue`):
    ``X`` then."""
    clean = without_free_residue(X, lambda plans: objective.score(problem.member_values(plans)))
    return clean if not check_plan(problem.scenario, clean) else X


def solve_for(
    problem: PlanningProblem,
    objective: Objective,
    start: np.ndarray | None = None,
    extra: list[np.ndarray] | None = None,
) -> np.ndarray:
    """The plan maximising ``objective`` on ``problem`` (module docstring); ``extra`` as for
    :meth:`PlanningProblem.solve`."""
    return solve_with_weights(problem, objective, start, extra)[0]


def static_for(problem: PlanningProblem, objective: Objective) -> tuple[np.ndarray, np.ndarray, float]:
    """The best single split with even flighting for ``objective``: ``(shares, plan, U)``.
    :func:`~budgetgym.envs.constant_split.constant_split_search` on the mean model, then for CVaR
    the cutting planes of the module docstring among constant splits (convex combinations of
    constant splits are constant splits), each weighted mean's best split searched and ranked on
    that weighted mean (ranked on :math:`U` alone, a split good for the worst set but worse on
    :math:`U` lost to the start, and the search stopped there: 27% short of the best split on a
    small hand-made family, ``tests/test_planner.py``); the search's candidate best on :math:`U`
    joins the plans too (with S-shaped curves, a local optimum of the worst set can be worse on
    :math:`U` than another of its candidates)."""
    sc = problem.scenario

    def exact(plans: np.ndarray) -> np.ndarray:
        return np.asarray(objective.score(problem.member_values(plans)))

    def search(model: ExpectedModel | MeanExpectedModel, value: Callable[[np.ndarray], np.ndarray]) -> np.ndarray:
        return constant_split_search(sc, model, value, concave=problem.concave)[1]

    plan = search(problem.objective, exact)
    if objective.kind == "mean" or len(problem.members) == 1:
        value = float(exact(plan[None])[0])
    else:

        def best_response(members: np.ndarray, weights: np.ndarray, _: np.ndarray) -> list[np.ndarray]:
            seen: dict[str, np.ndarray] = {}

            def tail_value(plans: np.ndarray) -> np.ndarray:  # ranks the candidates on the weighted mean
                V = problem.member_values(plans)
                seen["plans"], seen["U"] = plans, objective.score(V)
                return np.asarray(weights @ V[members])

            best = search(_members_model(problem, members, weights), tail_value)
            return [best, seen["plans"][int(np.argmax(seen["U"]))]]  # and the candidate best on U

        plan, value, _ = _cvar_ascent(problem, objective, plan, best_response)
    return constant_split_shares(sc, plan[0]), plan, value


def outcome_distribution(values: dict[str, np.ndarray]) -> dict[str, dict[str, float]]:
    """P10 / P50 / P90, mean and standard error of each plan's outcome over draws
    (``values[name]`` is ``[N]``, the same draws for every plan)."""
    out = {}
    for name, v in values.items():
        v = np.asarray(v, dtype=float)
        p10, p50, p90 = np.percentile(v, [10, 50, 90])
        out[name] = {
            "p10": float(p10),
            "p50": float(p50),
            "p90": float(p90),
            "mean": float(v.mean()),
            "sem": float(v.std(ddof=1) / math.sqrt(len(v))) if len(v) > 1 else 0.0,
            "draws": float(len(v)),
        }
    return out
