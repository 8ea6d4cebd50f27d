r"""Lift tests chosen by their expected value of information over a family's draws.

:func:`~budgetgym.planner.experiments.lift_design` tests each channel the plan takes beyond the
history, at the plan's level: it never tests a channel the fitted curve is too pessimistic about
(the plan keeps it within the history), and it ignores how much a test could change the
decision. :func:`voi_design` instead ranks candidate tests by what their result is expected to
add to the plan's value, a preposterior analysis over the problem's members
:math:`d = 1..N` (:class:`~budgetgym.planner.problem.PlanningProblem`, weights :math:`1/N`).

**Candidates.** Per channel ``i`` with history mean spend :math:`x_i` (the test's control, as
``simulate --lift-design`` runs it), tests from :math:`x_i` to the levels :math:`m x_i` for
:data:`MULTIPLES` (a cut, doubling, tripling, five times: the bend *and* the height of the curve,
not one far point), to the plan's mean level on the channel, :math:`\bar X_i`, and to the
highest level of the channel over the menu's plans (below): where the draw most optimistic about
the channel would spend, far beyond :math:`5 x_i` when the history barely spent it. There a test
can show that the fitted curves saturate too early even when no draw holds the truth (a family is
rarely right far beyond its data, and the refit with the test, not the reweighting, corrects it).
When the plan (or every menu plan) stops a channel the history spends on, its level is 0: the test is a
holdout, :math:`x_i` to nothing. Levels are capped at the budget per step and dropped within 10% of
:math:`x_i`. A channel never spent
(:math:`x_i = 0`; a history step below :data:`~budgetgym.planner.metrics.ZERO_RTOL` of the history's
largest is no spend, :func:`~budgetgym.planner.experiments.history_levels`) is tested from 0 at multiples of an
equal share of the budget per step.

**Predicted lifts.** :math:`L_{jd}` is test ``j``'s steady-state lift under member ``d``, the very
function the simulator measures a truth with (:func:`~budgetgym.experiments.simulate.true_lifts`:
every channel at its history mean, the tested one moved), so member ``d`` taken as the truth
yields the measurement it predicts (to rounding: its sums regrouped for speed, ~1e-13 of a channel's reward,
:func:`~budgetgym.experiments.true_response.true_lifts_of`'s ``exact=False``). The test's sd is assumed
:math:`\sigma_j = s\,|\frac1N \sum_d L_{jd}|` (``rel_sigma`` :math:`s`, default 15%, the
simulator's rule).

**Menu of decisions.** After a test the planner re-plans; here it picks, under the posterior
weights, the best plan of a fixed menu: the current plan :math:`X^0`, the own optimum :math:`X^d`
of each of :data:`MENU_MEMBERS` members evenly spread over the draws (one barrier solve
warm-started at :math:`X^0`; every member for fewer), the halfway plans :math:`(X^0 + X^d)/2` (a
test rarely identifies one member), and per channel the optima of those members in the lower,
middle and upper third of that channel's budget in :math:`X^d` (what one would plan on learning
that the channel's optimum is low, middle or high). All are feasible
(the constraints are linear). ``V[p, d]`` is plan ``p``'s value under member ``d``
(:meth:`~budgetgym.planner.problem.PlanningProblem.member_values`).

**Preposterior value.** For a truth :math:`d^*` and outcomes
:math:`y_s = L_{j_s d^*} + \sigma_{j_s} z_s` of the tests :math:`S = \{j_1, ...\}`, the posterior is

.. math::  w_d \propto \exp\Big(-\sum_{s} \frac{(y_s - L_{j_s d})^2}{2\sigma_{j_s}^2}\Big),\qquad
           p^*(y) = \arg\max_p \sum_d w_d V_{pd},

and :math:`\mathrm{VOI}(S) = \frac1N \sum_{d^*} E_z[V_{p^*(y) d^*}] - \max_p \frac1N \sum_d V_{pd}`
(the decision without the tests: :math:`X^0`, the menu's best for the prior). :math:`E_z` is a
Latin-hypercube average over ``draws`` points per truth (independent permutations of the normal
quantiles :math:`\Phi^{-1}((r + 1/2)/R)` per truth and test: exact midpoint quadrature for one
test). Tests are added greedily, each the candidate of largest
:math:`\mathrm{VOI}(S \cup \{j\}) - \mathrm{VOI}(S)`, until ``max_tests`` or a gain below
``min_gain`` of :math:`|V(X^0)|` or of none at all (a plan worth 0 would otherwise take tests worth 0).

**A risk-averse planner** (``objective = cvar:alpha``, :class:`~budgetgym.planner.robust.Objective`)
values a plan by the mean of its worst :math:`k = \lceil \alpha N \rceil` members, so both steps use
the tail: after a test it picks :math:`p^*(y) = \arg\max_p \mathrm{CVaR}_w(V_{p\cdot})`, the mean of plan
``p``'s values over the lowest posterior mass :math:`k/N`
(:meth:`~budgetgym.planner.robust.Objective.weighted_score`), and the tests are worth the mean of the
:math:`k` lowest of the truths' expected outcomes :math:`E_z[V_{p^*(y) d^*}]`, less
:math:`\max_p \mathrm{CVaR}(V_{p\cdot})`: the risk is over which member is the truth, as in the plan's
objective, and a test's noise is averaged as the campaign's is in :math:`V`. With no information
(:math:`p^*` the same for every outcome) the two terms are equal, so a test is worth what it changes in
the decisions; ``mean`` (:math:`k = N`) is the formula above. Unlike the mean's, this value can be
negative (a test can move the decision towards plans that serve the likelier truths and hurt the
worst ones): the greedy search then proposes no test.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.special import logsumexp
from scipy.stats import norm
from threadpoolctl import threadpool_limits

from budgetgym.envs.expected import MeanExpectedModel
from budgetgym.envs.oracle import candidate_plans
from budgetgym.planner.experiments import DESIGN_COLUMNS, history_levels, spend_levels
from budgetgym.planner.metrics import conversions_beside, plan_peaks
from budgetgym.planner.problem import PlanningProblem
from budgetgym.planner.robust import Objective

__all__ = ["MAX_TESTS", "MENU_MEMBERS", "MULTIPLES", "REL_SIGMA", "VOI_COLUMNS", "Candidates",
           "candidate_tests", "in_conversions", "plan_menu", "predicted_lifts", "preposterior_gain", "voi_design"]

#: Candidate test levels per channel, multiples of its mean spend in the history (module docstring).
MULTIPLES = (0.5, 2.0, 3.0, 5.0)
#: Tests proposed at most, and a test's assumed sd relative to its mean predicted lift (the simulator's rule).
MAX_TESTS = 5
#: Members whose own optimum (and thirds) enter the menu: the solves are most of the design's time
#: (a five-channel family of 100 draws: 6.6 s for all, 2.5 s for 32; the whole design 8.5 s and 4.5 s).
MENU_MEMBERS = 32
REL_SIGMA = 0.15
#: The planner's objective unless told (:class:`~budgetgym.planner.robust.Objective`).
MEAN = Objective()
#: The columns of a VOI design: :data:`~budgetgym.planner.experiments.DESIGN_COLUMNS` then these.
VOI_COLUMNS = (*DESIGN_COLUMNS, "voi", "voi_pct", "predicted_lift", "predicted_lift_sd", "assumed_sigma")
#: Added after :data:`VOI_COLUMNS` for a conversions KPI planned as revenue (``kpi: conversions``): the predicted
#: lift, its sd over the members and the assumed sd in conversions (:func:`in_conversions`), the unit the lift test
#: measures and ``calibrate --lift-tests`` reads.
CONVERSION_COLUMNS = ("predicted_lift_conversions", "predicted_lift_conversions_sd", "assumed_sigma_conversions")


@dataclass(frozen=True)
class Candidates:
    """Candidate tests: channel ``index [J]``, control ``x [J]`` and change ``delta_x [J]``, every other
    channel at ``base [K]`` (the history's mean spend)."""

    index: np.ndarray
    x: np.ndarray
    delta_x: np.ndarray
    base: np.ndarray

    def __len__(self) -> int:
        return len(self.index)

    def bases(self) -> np.ndarray:
        """``[J, K]``: each test's control spend per channel."""
        B = np.tile(self.base, (len(self), 1))
        B[np.arange(len(self)), self.index] = self.x
        return B


def candidate_tests(plan: np.ndarray, history: np.ndarray, step_budget: float,
                    multiples: tuple[float, ...] = MULTIPLES, menu: np.ndarray | None = None) -> Candidates:
    """The candidates of the module docstring for ``plan [T, K]`` after ``history [H, K]`` (and, given the
    ``menu [P, T, K]``, its highest level per channel)."""
    X = np.asarray(plan, dtype=float)
    base = history_levels(np.asarray(history, dtype=float).reshape(-1, X.shape[1]))  # the rounding of 0: none
    K = X.shape[1]
    own = spend_levels(X)  # the plan's level per channel
    high = own if menu is None else spend_levels(menu).max(axis=0)  # the menu's highest
    index, xs, dxs = [], [], []
    for i in range(K):
        x = float(base[i])
        unit = x if x > 0 else step_budget / K
        # the plan's and the menu's levels; 0 too when the history spends on the channel (a holdout: the
        # plan stops it). A solved plan's dark steps hold 1e-13 of its largest, which spend_levels counts as 0
        levels = [m * unit for m in multiples] + [float(lv) for lv in {own[i], high[i]} if lv > 0 or x > 0]
        kept: list[float] = []
        for level in sorted(min(lv, step_budget) for lv in levels):
            if abs(level - x) > 0.1 * unit and all(abs(level - k) > 0.1 * unit for k in kept):
                kept.append(level)
        for level in kept:
            index.append(i)
            xs.append(x)
            dxs.append(level - x)
    return Candidates(np.array(index, dtype=int), np.array(xs), np.array(dxs), base)


def predicted_lifts(problem: PlanningProblem, tests: Candidates) -> np.ndarray:
    """``L [J, N]``: each test's steady-state lift under each member (module docstring), by
    :func:`~budgetgym.experiments.true_response.true_lifts_of`'s ``exact=False``: the simulator's lifts to rounding
    (~1e-13 of a channel's reward), not to the bit, in a twentieth of the time."""
    from budgetgym.experiments.true_response import true_lifts_of  # the simulator's own definition of a lift

    return true_lifts_of([m.scenario for m in problem.members], tests.bases(), tests.index, tests.delta_x,
                         exact=False)


def plan_menu(problem: PlanningProblem, plan: np.ndarray) -> np.ndarray:
    """``[P, T, K]``: the menu of the module docstring, ``plan`` first."""
    X0 = np.asarray(plan, dtype=float)
    sc = problem.scenario
    with threadpool_limits(limits=1, user_api="blas"):
        N = len(problem.members)
        chosen = np.unique(np.linspace(0, N - 1, min(N, MENU_MEMBERS)).round().astype(int))
        members = [problem.members[d] for d in chosen]
        own = [candidate_plans(sc, m.expected, concave=True, start=X0)[0] for m in members]
        menu = [X0, *own, *[(X0 + Xd) / 2 for Xd in own]]
        n = len(own)
        if n >= 3:
            budgets = np.stack([Xd.sum(axis=0) for Xd in own])  # [n, K]
            for i in range(sc.n_channels):
                order = np.argsort(budgets[:, i], kind="stable")
                for part in np.array_split(order, 3):
                    model = MeanExpectedModel([members[d].expected for d in part])
                    menu.append(candidate_plans(sc, model, concave=True, start=X0)[0])
    return np.stack(menu)


def _normal_points(n_truths: int, draws: int, slots: int, rng: np.random.Generator) -> np.ndarray:
    """``Z [N, R, S]``: per truth and slot an independent permutation of the ``R`` normal quantiles
    :math:`\\Phi^{-1}((r + 1/2)/R)` (the Latin hypercube of the module docstring), drawn slot by slot:
    the first slots are the same for any number of slots, so the design's first tests are the design
    of fewer tests."""
    q = norm.ppf((np.arange(draws) + 0.5) / draws)
    return np.stack([np.stack([q[rng.permutation(draws)] for _ in range(n_truths)])
                     for _ in range(slots)], axis=-1)


def _loglik(L: np.ndarray, sigma: float, z: np.ndarray) -> np.ndarray:
    """``[N*, R, N]``: the log-likelihood of member ``d`` for the outcome ``y = L[d*] + sigma z[d*, r]``."""
    y = L[:, None] + sigma * z  # [N*, R]
    return -0.5 * ((y[:, :, None] - L[None, None, :]) / sigma) ** 2


def preposterior_gain(V: np.ndarray, loglik: np.ndarray, objective: Objective = MEAN) -> float:
    """:math:`\\frac1N \\sum_{d^*} E_z[V_{p^*(y) d^*}]` for the posterior log-weights ``loglik [N*, R, N]``
    (truth, outcome, member) and the menu's values ``V [P, N]`` (module docstring); for a ``cvar``
    ``objective``, :math:`p^*(y)` maximises the posterior's CVaR and the truths' expected outcomes
    :math:`E_z[V_{p^*(y) d^*}]` are scored by the objective (module docstring)."""
    W = np.exp(loglik - logsumexp(loglik, axis=-1, keepdims=True))
    choice = np.argmax(objective.weighted_score(V, W), axis=-1)  # [N*, R]
    truth = np.arange(V.shape[1])[:, None]
    outcome = V[choice, truth]  # [N*, R]
    if objective.kind == "mean":  # the same number as the line below, summed as before (designs to the bit)
        return float(outcome.mean())
    return float(objective.score(outcome.mean(axis=1))[()])  # the worst truths' expected outcomes


def in_conversions(problem: PlanningProblem, tests: Candidates, lifts: np.ndarray) -> np.ndarray:
    r"""``[J, N]``: the predicted lifts ``lifts`` (revenue) in conversions, each divided by its channel's value per
    conversion under the member, :math:`L^c_{jd} = L_{jd} / v_{i_j d}` (``value.mean``: a calibrated family of a
    conversions KPI has no segments, so a channel's revenue is :math:`v_i` times its conversions)."""
    v = np.array([[c.value.mean for c in m.scenario.channels] for m in problem.members])  # [N, K]
    return lifts / v[:, tests.index].T


def voi_design(
    problem: PlanningProblem,
    plan: np.ndarray,
    names: list[str],
    *,
    max_tests: int = MAX_TESTS,
    rel_sigma: float = REL_SIGMA,
    min_gain: float = 1e-4,
    draws: int = 24,
    seed: int = 0,
    objective: Objective = MEAN,
) -> pd.DataFrame:
    """Up to ``max_tests`` lift tests for ``plan`` on ``problem`` (which has a history), chosen greedily
    by their expected value of information (module docstring), with the columns :data:`VOI_COLUMNS`:
    ``voi`` the test's gain when added (the reward's units over the window), ``voi_pct`` that in % of
    the plan's value, ``predicted_lift`` and ``predicted_lift_sd`` its lift over the members,
    ``assumed_sigma`` :math:`\\sigma_j`; ``planned_spend`` is the test's level :math:`x + \\Delta x`. The
    value of a decision is the planner's ``objective`` (``mean`` or ``cvar``, module docstring)."""
    counts = conversions_beside(problem.scenario.kpi, problem.scenario.reward)
    columns = [*VOI_COLUMNS, *(CONVERSION_COLUMNS if counts else ())]
    if problem.history is None or not len(problem.history):
        return pd.DataFrame(columns=columns)
    X0 = np.asarray(plan, dtype=float)
    hist = np.asarray(problem.history, dtype=float)
    if len(problem.members) < 2:
        return pd.DataFrame(columns=columns)
    menu = plan_menu(problem, X0)
    tests = candidate_tests(X0, hist, problem.scenario.step_budget, menu=menu)
    if not len(tests):
        return pd.DataFrame(columns=columns)
    L = predicted_lifts(problem, tests)  # [J, N]
    sigma = np.maximum(rel_sigma * np.abs(L.mean(axis=1)), 1e-12 * np.abs(L).max() + 1e-300)
    V = problem.member_values(menu).T  # [P, N]
    prior = float(objective.score(V.T).max())
    value = float(objective.score(V[0]))
    rng = np.random.default_rng(seed)
    Z = _normal_points(V.shape[1], draws, max_tests, rng)
    ll = np.zeros((V.shape[1], draws, V.shape[1]))
    current, chosen, gains = prior, [], []
    for s in range(max_tests):
        scores = {}
        for j in range(len(tests)):
            if j not in chosen:
                scores[j] = preposterior_gain(V, ll + _loglik(L[j], float(sigma[j]), Z[:, :, s]), objective)
        if not scores:
            break
        j = max(scores, key=lambda k: scores[k])
        gain = scores[j] - current
        if gain <= 0 or gain < min_gain * abs(value):
            break
        chosen.append(j)
        gains.append(gain)
        ll = ll + _loglik(L[j], float(sigma[j]), Z[:, :, s])
        current = scores[j]
    if counts:  # [J, N]: each test's lifts in conversions, and conversions per unit of revenue (1 / value)
        lifts_c, per_revenue = in_conversions(problem, tests, L), in_conversions(problem, tests, np.ones_like(L))
    rows = []
    peaks, hist_peaks = plan_peaks(X0), plan_peaks(hist)  # 0 on a channel one stops (the rounding of 0: no spend)
    for j, gain in zip(chosen, gains, strict=True):
        i = int(tests.index[j])
        x, dx = float(tests.x[j]), float(tests.delta_x[j])
        rows.append({"channel": names[i], "x": x, "delta_x": dx, "planned_spend": x + dx,
                     "plan_max_spend": float(peaks[i]), "history_max_spend": float(hist_peaks[i]),
                     "voi": gain, "voi_pct": 100.0 * gain / abs(value) if value else np.nan,
                     "predicted_lift": float(L[j].mean()), "predicted_lift_sd": float(L[j].std()),
                     "assumed_sigma": float(sigma[j])})
        if counts:  # the same rule in conversions: sigma = rel_sigma |mean lift|
            Lc = lifts_c[j]
            per = (abs(Lc.mean() / L[j].mean()) if L[j].mean()  # conversions per unit of revenue lifted
                   else float(per_revenue[j].mean()))
            rows[-1].update({"predicted_lift_conversions": float(Lc.mean()),
                             "predicted_lift_conversions_sd": float(Lc.std()),
                             "assumed_sigma_conversions": float(sigma[j] * per)})
    return pd.DataFrame(rows, columns=columns)
