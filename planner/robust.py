r"""What the planner maximises when the curves are uncertain, and the outcome distribution.

The problem's members are campaigns :math:`n = 1..N` (a family's draws; one campaign for a
scenario) with values :math:`J_n(X)` (:class:`~budgetgym.planner.problem.PlanningProblem`).

* ``mean`` (default; what Meridian and Robyn optimise, PyMC-Marketing's default utility):
  :math:`U(X) = \frac1N \sum_n J_n(X)`, solved by the barrier method on the mean model.
* ``cvar:alpha`` (risk-averse, PyMC-Marketing's ``average_response`` vs
  ``conditional_value_at_risk``): the mean of the worst :math:`k = \lceil \alpha N \rceil`
  members, :math:`U(X) = \frac1k \sum_{n \in W(X)} J_n(X)` with :math:`W(X)` the ``k`` members of
  lowest :math:`J_n(X)`. It is concave when every :math:`J_n` is (a minimum of means), but not
  smooth. Method: start at the mean plan; repeatedly take the worst set :math:`W` at the current
  plan ``X``, solve for the plan ``Y`` maximising the mean over ``W`` (the barrier method again,
  warm-started at ``X``), and move to the best point of the segment ``X + t (Y - X)``, ``t`` in
  ``[0, 1]`` (golden-section search on the exact :math:`U`). Plans on the segment are feasible
  (the constraints are linear), :math:`U` never decreases, and the mean plan is the first
  candidate, so the result's CVaR is at least the mean plan's. Stops when a round gains less than
  ``1e-9`` of :math:`|U|` or after :data:`CVAR_ROUNDS` rounds.

:func:`outcome_distribution` summarises plans over the **held-out** draws: P10 / P50 / P90 and
mean of the outcome, and the probability that one plan beats another (the share of draws where
it does).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from scipy.optimize import minimize_scalar

from budgetgym.envs.constant_split import constant_split_search
from budgetgym.envs.errors import BudgetGymError
from budgetgym.envs.expected import ExpectedModel, MeanExpectedModel
from budgetgym.envs.oracle import candidate_plans
from budgetgym.planner.problem import PlanningProblem

__all__ = ["CVAR_ROUNDS", "Objective", "objective_marginal_model", "outcome_distribution", "solve_for", "static_for"]

CVAR_ROUNDS = 8


@dataclass(frozen=True)
class Objective:
    """``mean`` or ``cvar`` with tail fraction ``alpha`` (module docstring)."""

    kind: str = "mean"
    alpha: float = 1.0

    @classmethod
    def parse(cls, text: str) -> Objective:
        """``"mean"`` or ``"cvar:ALPHA"`` with ``0 < ALPHA <= 1`` (one-line error otherwise)."""
        t = text.strip().lower()
        if t == "mean":
            return cls()
        if t.startswith("cvar"):
            _, _, a = t.partition(":")
            try:
                alpha = float(a) if a else 0.1
            except ValueError:
                alpha = float("nan")
            if not 0.0 < alpha <= 1.0:
                raise BudgetGymError(f"--objective {text!r}: expected cvar:ALPHA with 0 < ALPHA <= 1, e.g. cvar:0.1")
            return cls("cvar", alpha)
        raise BudgetGymError(f"--objective {text!r}: expected 'mean' or 'cvar:ALPHA' (e.g. cvar:0.1)")

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


def _worst(problem: PlanningProblem, objective: Objective, plan: np.ndarray) -> np.ndarray:
    values = problem.member_values(plan)[:, 0]
    return np.argsort(values, kind="stable")[: objective.tail(len(values))]


def objective_marginal_model(problem: PlanningProblem, objective: Objective, plan: np.ndarray) -> object:
    """The model whose gradient is a (super)gradient of :math:`U` at ``plan``: the mean model, or
    for CVaR the mean over the worst set at ``plan``."""
    if objective.kind == "mean" or len(problem.members) == 1:
        return problem.objective
    return MeanExpectedModel([problem.members[i].expected for i in _worst(problem, objective, plan)])


def _cvar_ascent(
    problem: PlanningProblem,
    objective: Objective,
    X: np.ndarray,
    best_response: Callable[[MeanExpectedModel, np.ndarray], np.ndarray],
) -> tuple[np.ndarray, float]:
    """The CVaR rounds of the module docstring from plan ``X``: ``best_response(tail, X)`` is the
    plan maximising the mean over the worst set ``tail``; each round moves to the best point of the
    segment towards it. Returns the plan and its :math:`U`."""

    def U(plan: np.ndarray) -> float:
        return float(objective.score(problem.member_values(plan))[0])

    best = U(X)
    for _ in range(CVAR_ROUNDS):
        tail = MeanExpectedModel([problem.members[i].expected for i in _worst(problem, objective, X)])
        Y = best_response(tail, X)

        def along(t: float, X: np.ndarray = X, Y: np.ndarray = Y) -> float:
            return -U(X + t * (Y - X))

        res = minimize_scalar(along, bounds=(0.0, 1.0), method="bounded", options={"xatol": 1e-4})
        cand = {float(res.x): -float(res.fun), 1.0: U(Y)}
        t_best = max(cand, key=lambda k: cand[k])
        if cand[t_best] - best <= 1e-9 * max(abs(best), 1e-12):
            break
        X, best = X + t_best * (Y - X), cand[t_best]
    return X, best


def solve_for(
    problem: PlanningProblem,
    objective: Objective,
    start: np.ndarray | None = None,
    extra: list[np.ndarray] | None = None,
) -> np.ndarray:
    """The plan maximising ``objective`` on ``problem`` (module docstring); ``extra`` as for
    :meth:`PlanningProblem.solve`."""
    X = problem.solve(start, extra)
    if objective.kind == "mean" or len(problem.members) == 1:
        return X

    def best_response(tail: MeanExpectedModel, X: np.ndarray) -> np.ndarray:
        return candidate_plans(problem.scenario, tail, concave=True, start=X)[0]

    return _cvar_ascent(problem, objective, X, best_response)[0]


def static_for(problem: PlanningProblem, objective: Objective) -> tuple[np.ndarray, np.ndarray, float]:
    """The best single split with even flighting for ``objective``: ``(shares, plan, U)``.
    :func:`~budgetgym.envs.constant_split.constant_split_search` on the mean model, then for CVaR
    the rounds of the module docstring among constant splits (convex combinations of constant
    splits are constant splits, so the segment stays among them)."""
    sc = problem.scenario

    def exact(plans: np.ndarray) -> np.ndarray:
        return np.asarray(objective.score(problem.member_values(plans)))

    def search(model: ExpectedModel | MeanExpectedModel) -> np.ndarray:
        return constant_split_search(sc, model, exact, concave=problem.concave)[1]

    plan = search(problem.objective)
    if objective.kind == "mean" or len(problem.members) == 1:
        value = float(exact(plan[None])[0])
    else:
        plan, value = _cvar_ascent(problem, objective, plan, lambda tail, _: search(tail))
    shares = plan[0] / plan[0].sum()
    return shares, plan, value


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
