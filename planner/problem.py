r"""The planning problem: what is being planned, and the one value of a plan.

A :class:`PlanningProblem` is a campaign to plan (a scenario, or a family's draws when the
curves are uncertain), a budget, and optionally the spend made before the window (carry-in,
:mod:`budgetgym.envs.history`). Its members are campaigns ``n = 1..N`` with weights ``1/N``
(one member, the scenario on its nominal path, for a scenario; the family's first ``N``
**train** draws, each on its nominal path, for a family); the value of a plan ``X`` is

.. math::  V(X) = \frac1N \sum_n J_n(X)

with :math:`J_n` :func:`~budgetgym.envs.plan_value.evaluate_plan` of member ``n`` (carry-in
included): the same definition as the oracle's, so for a scenario the recommended plan *is*
:func:`~budgetgym.envs.oracle.solve_oracle`'s. The problem also holds ``N`` **test** draws (the
held-out split) on which a family's plans are scored, so the outcome distribution the planner
reports is out of sample.

The budget only changes the constraints (``B``, hence ``B/T`` and the step cap), never the
members' curves, so a budget sweep re-solves :meth:`solve` on :meth:`with_budget` copies that
share the compiled members.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from budgetgym.envs.dynamics import ChannelModel
from budgetgym.envs.errors import BudgetGymError
from budgetgym.envs.expected import ExpectedModel, MeanExpectedModel, expected_model
from budgetgym.envs.family import ScenarioFamily, load_family
from budgetgym.envs.history import CarryIn, carry_in, check_history
from budgetgym.envs.oracle import candidate_plans, solve_oracle
from budgetgym.envs.path import ScenarioPath
from budgetgym.envs.plan_value import evaluate_campaigns, evaluate_plan, scenario_path
from budgetgym.envs.scenario import MAX_HORIZON, Scenario
from budgetgym.envs.scenario_parts import AMOUNT_RANGE, amount_text, is_amount

__all__ = ["DEFAULT_DRAWS", "MAX_DRAWS", "Member", "PlanningProblem", "campaign_family"]

#: Draws of a family the robust plan is optimised over by default (and held-out draws it is
#: scored on). Measured on ``retail-5-family`` (``benchmarks/bench_planner.py``, section 6): the
#: mean outcome's standard error over 100 draws is about 3% of the mean (the draws differ far
#: more than the plans); two plans from independent sets of 100 draws differ by 2-3% of the
#: budget (the optimum is flat) but by at most 0.15% in value, and lose a median 0.03% (at most
#: 0.16%) against a 400-draw plan; 200 draws double the solve time for no measurable gain.
DEFAULT_DRAWS = 100
#: The most draws a plan takes (train and test draws each hold the expected-value model of a
#: member; 10^8 ran out of memory after minutes).
MAX_DRAWS = 1000


@dataclass(frozen=True)
class Member:
    """One campaign of the problem: its scenario compiled, its path and its carry-in."""

    scenario: Scenario
    model: ChannelModel
    path: ScenarioPath
    carry: CarryIn | None
    expected: ExpectedModel

    @classmethod
    def of(cls, scenario: Scenario, history: np.ndarray | None) -> Member:
        model = ChannelModel.from_scenario(scenario)
        path = scenario_path(scenario)
        carry = carry_in(scenario, history, model)
        return cls(scenario, model, path, carry, expected_model(model, path, carry))

    def values(self, plans: np.ndarray) -> np.ndarray:
        """Exact expected reward of ``plans [N, T, K]``: :func:`evaluate_plan`."""
        return np.atleast_1d(evaluate_plan(self.scenario, plans, path=self.path, model=self.model, history=self.carry))


def campaign_family(
    source: str | Path | Scenario | ScenarioFamily, budget: float | None, horizon: int | None
) -> ScenarioFamily:
    """The campaign (as a family; a scenario is a family of one) with the budget and horizon set
    (``None``: as they are); a budget or horizon a scenario cannot take is a one-line error naming
    the option (``--budget``, ``--horizon``)."""
    if budget is not None and not is_amount(budget):
        raise BudgetGymError(
            f"--budget: expected a positive amount of currency ({AMOUNT_RANGE}), got {amount_text(budget)}")
    if horizon is not None and not 1 <= horizon <= MAX_HORIZON:
        raise BudgetGymError(f"--horizon: expected 1 to {MAX_HORIZON} steps, got {horizon}")
    changes: dict[str, Any] = {}
    if budget is not None:
        changes["budget.total"] = float(budget)
    if horizon is not None:
        changes["horizon"] = int(horizon)
    if isinstance(source, Scenario):
        return ScenarioFamily.of_scenario(source.override(changes) if changes else source)
    family = load_family(source)
    if not changes:
        return family
    if not family.varies:
        return ScenarioFamily.of_scenario(family.nominal().override(changes))
    if isinstance(source, ScenarioFamily):
        raise BudgetGymError("budget/horizon: pass the family's name or file to change them (not a loaded family)")
    from budgetgym.experiments.campaigns import family_with_changes  # the one way to change a family's template

    return family_with_changes(str(source), changes)


def _mean_model(members: list[Member]) -> ExpectedModel | MeanExpectedModel:
    return members[0].expected if len(members) == 1 else MeanExpectedModel([m.expected for m in members])


class PlanningProblem:
    """A campaign (scenario or family), its budget and carry-in (module docstring)."""

    def __init__(
        self,
        campaign: str | Path | Scenario | ScenarioFamily,
        *,
        budget: float | None = None,
        horizon: int | None = None,
        draws: int | None = None,
        history: object = None,
    ):
        family = campaign_family(campaign, budget, horizon)
        self.family = family
        self.name = family.name
        self.scenario: Scenario = family.nominal()  # the constraints (brief) of every member
        self.history = None if history is None else check_history(self.scenario, history)
        self.is_family = family.varies
        if draws is not None and not 1 <= int(draws) <= MAX_DRAWS:
            raise BudgetGymError(f"--draws: expected 1 to {MAX_DRAWS} draws, got {draws}")
        if self.is_family:
            n = DEFAULT_DRAWS if draws is None else int(draws)
            train, test = (family.draws(family.split_draws(n, s), s) for s in ("train", "test"))
            self.members = [Member.of(sc, self.history) for sc in train]
            self.test_members = [Member.of(sc, self.history) for sc in test]
        else:
            self.members = [Member.of(self.scenario, self.history)]
            self.test_members = self.members
        self.objective = _mean_model(self.members)
        self.test_objective = _mean_model(self.test_members)
        self.concave = all(m.model.is_concave for m in self.members)

    # -- derived problems ------------------------------------------------------------------
    @property
    def budget(self) -> float:
        return self.scenario.budget.total

    def with_budget(self, budget: float) -> PlanningProblem:
        """The same members under another budget (the constraints change, the curves do not)."""
        if not np.isfinite(budget) or budget <= 0:
            raise BudgetGymError(f"budget: expected a positive amount, got {budget:g}")
        other = object.__new__(PlanningProblem)
        other.__dict__.update(self.__dict__)
        other.scenario = self.scenario.override({"budget.total": float(budget)})
        if not self.is_family:
            m = self.members[0]
            member = dataclasses.replace(m, scenario=other.scenario)
            other.members = other.test_members = [member]
        return other

    # -- the value of a plan ---------------------------------------------------------------------
    def member_values(self, plans: np.ndarray, split: str = "train") -> np.ndarray:
        """``[M, N]``: exact value of each plan (``[N, T, K]`` or one ``[T, K]``) for each member."""
        P = np.asarray(plans, dtype=float)
        P = P[None] if P.ndim == 2 else P
        members = self.members if split == "train" else self.test_members
        return np.stack(evaluate_campaigns(members, [P] * len(members)))  # the members' rollouts batched

    def value(self, plan: np.ndarray, split: str = "train") -> float:
        """:math:`V(X)`: the mean over the members of :func:`evaluate_plan`."""
        return float(self.member_values(plan, split).mean(axis=0)[0])

    # -- solving ----------------------------------------------------------------------------------
    def solve(self, start: np.ndarray | None = None, extra: list[np.ndarray] | None = None) -> np.ndarray:
        """The plan maximising :math:`V`: the best (:meth:`best`) of the :meth:`candidates` from ``start`` and
        ``extra``, feasible plans that are candidates too (the static plan: with S-shaped curves a local optimum can
        fall short of it); one replaces the solution only if it is strictly better."""
        return self.best(self.candidates(start) + list(extra or []))

    def candidates(self, start: np.ndarray | None = None, interior: list[np.ndarray] | None = None) -> list[np.ndarray]:
        """The solver's candidate plans. A scenario: :func:`solve_oracle`'s plan (warm-started from ``start`` if
        given). A family: the barrier method on the mean model from the interior point and from ``start`` (and,
        with S-shaped members, from the nominal campaign's oracle plan), and under agent pacing the plan that
        spends nothing. The costly part of :meth:`solve`, which a later solve of the same problem (the same budget,
        ``start`` and members) can take as they are (:func:`~budgetgym.planner.robust.solve`'s ``reuse``).

        ``interior``: the interior point's solve of this problem (:meth:`interior_part` of candidates made at the same
        budget, with or without a start: the same computation, to the last bit), taken as it is instead of solved
        again; a scenario has none."""
        if not self.is_family:
            m = self.members[0]
            return [solve_oracle(self.scenario, path=m.path, history=m.carry, start=start).plan]
        starts: list[np.ndarray] = []
        if start is not None:
            starts.append(start)
        elif not self.concave:
            nominal = Member.of(self.scenario, self.history)
            starts.append(solve_oracle(self.scenario, path=nominal.path, history=nominal.carry).plan)
        first = candidate_plans(self.scenario, self.objective, concave=True) if interior is None else interior
        plans = [*first, *(p for s in starts for p in candidate_plans(self.scenario, self.objective, concave=True,
                                                                      start=s))]
        if self.scenario.budget.pacing == "agent":  # spending nothing is a plan too (as in solve_oracle): where
            plans.append(np.zeros_like(plans[0]))  # every spend loses the barrier stops a hair below it
        return plans

    def interior_part(self, plans: list[np.ndarray]) -> list[np.ndarray] | None:
        """Of :meth:`candidates`' ``plans``, the interior point's solve (the first), which every solve of a family at
        this budget makes, warm-started or not: a target met reuses the search's there (``interior``); ``None``
        for a scenario, which solves once, from its start."""
        return plans[:1] if self.is_family else None

    def best(self, plans: list[np.ndarray]) -> np.ndarray:
        """The plan of ``plans`` (the object itself) of the largest exact mean value :math:`V`, the first of equals."""
        values = self.member_values(np.stack(plans)).mean(axis=0)
        return plans[int(np.argmax(values))]
