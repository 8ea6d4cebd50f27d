"""``PlanResult``: what :func:`~budgetgym.planner.plan.plan` returns, and its JSON summary (``summary.json``).

The numbers are computed by :func:`~budgetgym.planner.plan.plan` (its module docstring lists them);
this module only holds them, so the report, the figures and the output files can read a result
without importing the solver.
"""

from __future__ import annotations

import platform
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

__all__ = ["PlanResult"]


@dataclass(frozen=True)
class PlanResult:
    """Everything :func:`~budgetgym.planner.plan.plan` found (its module docstring). Money in the
    scenario's currency, outcomes in the reward's unit (conversions, revenue or profit) over the whole
    window."""

    campaign: str
    reward: str
    budget: float  # the plan's: with a target met (--target-mroas / --target-mcpa), the budget meeting it
    horizon: int
    pacing: str
    channel_names: list[str]
    step_days: np.ndarray  # [T] day index of every step
    objective: str
    is_family: bool
    draws: int  # members the plan is optimised over (1 for a scenario)
    plan: np.ndarray  # [T, K] the recommendation
    value: float  # the objective at the recommendation (in sample)
    channels: pd.DataFrame  # per channel: recommended columns, current_* and change columns
    budget_marginal: dict[str, float]  # of the total budget at the recommendation
    static_shares: np.ndarray  # [K] the best even-flighting split
    static_value: float
    static_plan: np.ndarray  # [T, K] its plan: the shares at the same spend every step (B/T, or less for profit)
    baseline_value: float  # the objective with no spend in the window (carry-in only)
    history_steps: int
    current: np.ndarray | None = None  # [T, K]
    current_source: str | None = None
    current_value: float | None = None
    current_problems: list[str] = field(default_factory=list)  # why the env could not play it as given
    frontier: pd.DataFrame | None = None
    # the budget at the target marginal return (budget None: not reached); plan_at: "target" (the plan is at that
    # budget) or "budget" (not reached: the plan is at the budget given)
    target: dict[str, Any] | None = None
    # the budget given (--budget, else the campaign's) where a target moved the plan's budget from it, else None;
    # the frontier's and the target's multiples are of it
    budget_given: float | None = None
    # budget None: not found (searched: the budgets searched); budget and spend 0: no channel pays back
    profit_max: dict[str, Any] | None = None
    curves: pd.DataFrame | None = None
    distribution: dict[str, dict[str, float]] | None = None  # held-out draws (families)
    draw_values: pd.DataFrame | None = None  # per held-out draw: recommended, static, current
    segments: pd.DataFrame | None = None  # with audience segments: per segment reach and response
    # with audience segments: what the channels buy, whose effective exposure the segments count (one of
    # "impression", "click", or "mixed": each segment's own unit, clicks weighted by their effectiveness)
    exposure_unit: str | None = None
    beyond_history: list[dict[str, Any]] | None = None  # with a history: channels planned above its largest step
    sparse_history: list[dict[str, Any]] | None = None  # with a history: planned channels it spent on in few steps
    lift_design: pd.DataFrame | None = None  # the lift tests to run next (None: no test proposed)
    prob_beats_current: float | None = None  # share of held-out draws the recommendation beats current on, ties half
    seconds: float = 0.0
    dates: list[str] | None = None  # [T] calendar date of every step (continuing the history's, or from start_date)
    # the mean over the members with no spend in the window: the carry-in the per-channel table holds (a family's
    # means); None: baseline_value (the objective's, its CVaR under cvar)
    baseline_mean: float | None = None
    # a per-step current plan dated other than the window (its rows are the window's steps): why, in one line
    current_dates_note: str | None = None
    # what the response curves count: conversions, or currency (a revenue KPI's calibrated family): then every figure
    # counting conversions (conversions, CPA and their marginals) is NaN (budgetgym.planner.metrics.uncounted)
    response_unit: str = "conversions"
    # what a calibrated KPI counted beside the reward: "conversions" (calibrate --revenue-per-kpi: a conversions KPI
    # planned as revenue; the table adds expected conversions and CPA, lift_design.csv the lifts in conversions), "none"
    kpi: str = "none"
    # what was made of the current plan given, in one line: a split within the rounding of its digits of 1, scaled
    current_note: str | None = None
    # without a history: the channels whose carry-over or conversion delay would bring earlier spend into the
    # window, which the plan then counts as none (None: a history was given)
    carry_over_without_history: list[str] | None = None
    # a target having moved the plan's budget (budget_given not None) and a current plan given: the recommendation at
    # the budget given (the plan without the target: the current plan's comparison at the same budget), its value (the
    # objective, in sample) and, for a family, the share of held-out draws it beats the current plan on, ties half
    same_budget_plan: np.ndarray | None = None
    same_budget_value: float | None = None
    prob_beats_current_same_budget: float | None = None

    @property
    def base_budget(self) -> float:
        """The budget given: :attr:`budget_given` where a target moved the plan's budget, else :attr:`budget`."""
        return self.budget if self.budget_given is None else self.budget_given

    @property
    def uplift(self) -> float | None:
        return None if self.current_value is None else self.value - self.current_value

    @property
    def same_budget_uplift(self) -> float | None:
        """The uplift over the current plan at the same budget, the budget given: of the recommendation there
        (:attr:`same_budget_plan`) where a target moved the plan's budget, else :attr:`uplift`."""
        if self.current_value is None:
            return None
        return (self.value if self.same_budget_value is None else self.same_budget_value) - self.current_value

    @property
    def budget_change_value(self) -> float:
        """What the target's budget change adds (lower: takes away) to the recommendation at the budget given: the
        recommendation's value less :attr:`same_budget_value`; 0 where no target moved the budget. With a current
        plan, :attr:`uplift` is :attr:`same_budget_uplift` plus this."""
        return 0.0 if self.same_budget_value is None else self.value - self.same_budget_value

    @property
    def timing_value(self) -> float:
        """What flighting-aware planning adds over the best static split (outcome units)."""
        return self.value - self.static_value

    def summary(self) -> dict[str, Any]:
        """JSON-able summary (``summary.json``)."""
        from budgetgym import __version__

        def num(x: float | None) -> float | None:
            return None if x is None or not np.isfinite(x) else float(x)

        out: dict[str, Any] = {
            "campaign": self.campaign,
            "reward": self.reward,
            "response_unit": self.response_unit,
            "kpi": self.kpi,
            "budget": self.budget,
            "horizon": self.horizon,
            "pacing": self.pacing,
            "objective": self.objective,
            "family": self.is_family,
            "draws": self.draws,
            "history_steps": self.history_steps,
            "recommended": {
                "value": self.value,
                "spend": float(self.plan.sum()),
                "shares": dict(zip(self.channel_names, self.channels["share"].astype(float), strict=True)),
                **{k: num(v) for k, v in self.budget_marginal.items()},
            },
            "static": {
                "value": self.static_value,
                "spend": float(self.static_plan.sum()),
                "shares": dict(zip(self.channel_names, self.static_shares.astype(float), strict=True)),
                "timing_value": self.timing_value,
                "timing_value_pct": 100.0 * self.timing_value / abs(self.value) if self.value else None,
            },
            "baseline_value": self.baseline_value,
            "seconds": self.seconds,
            "versions": {"budgetgym": __version__, "python": platform.python_version(), "numpy": np.__version__},
        }
        if self.current is not None:
            out["current"] = {
                "source": self.current_source,
                "value": self.current_value,
                "spend": float(self.current.sum()),
                "uplift": self.uplift,
                "uplift_pct": 100.0 * (self.value - self.current_value) / abs(self.current_value)
                if self.current_value
                else None,
                # at the same budget (the budget given) and the target's budget change apart: uplift = their sum
                "same_budget": self.base_budget,
                "same_budget_value": self.value if self.same_budget_value is None else self.same_budget_value,
                "same_budget_uplift": self.same_budget_uplift,
                "same_budget_uplift_pct": _pct(self.same_budget_uplift, self.current_value),
                "budget_change": self.budget - self.base_budget,
                "budget_change_value": self.budget_change_value,
                "problems": self.current_problems,
                "dates_note": self.current_dates_note,
                "note": self.current_note,
            }
        if self.target is not None:
            out["target"] = self.target
        if self.budget_given is not None:
            out["budget_given"] = self.budget_given
        if self.profit_max is not None:
            out["profit_max"] = self.profit_max
        if self.beyond_history is not None:
            out["beyond_history"] = self.beyond_history
        if self.sparse_history is not None:
            out["sparse_history"] = self.sparse_history
        if self.segments is not None:  # segments.csv's rows by segment name
            out["segments"] = {str(row.pop("segment")): row for row in self.segments.to_dict(orient="records")}
        if self.lift_design is not None:
            out["lift_design"] = self.lift_design.to_dict(orient="records")
        if self.carry_over_without_history:
            out["carry_over_without_history"] = self.carry_over_without_history
        if self.dates is not None:
            out["dates"] = self.dates
        if self.distribution is not None:
            out["distribution"] = self.distribution
            out["prob_beats_current"] = self.prob_beats_current
            if self.prob_beats_current_same_budget is not None:
                out["prob_beats_current_same_budget"] = self.prob_beats_current_same_budget
        return out


def _pct(delta: float | None, base: float | None) -> float | None:
    """``delta`` in % of ``|base|`` (``None`` without either, or for a base of 0)."""
    return None if delta is None or not base else 100.0 * delta / abs(base)
