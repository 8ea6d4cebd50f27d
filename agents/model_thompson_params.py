"""The parameters of ``model_thompson``: its grid, priors, forgetting and split, validated.

:class:`ModelThompsonParams` is what ``make_agent("model_thompson", ...)`` and an experiment
file's ``params:`` set for :class:`~budgetgym.agents.model_thompson.ModelThompsonAgent`; each
field's meaning in the model is in the docstring of :mod:`budgetgym.agents.model_thompson` (of
``discount`` and ``dispersion`` in the posterior: :mod:`budgetgym.agents.hill_posterior`'s).
A bad value is a one-line error; the grid is at most :data:`MAX_GRID` points per channel.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

import numpy as np
from pydantic import Field, field_validator, model_validator

from budgetgym.agents.base import AgentParams

__all__ = ["MAX_GRID", "ModelThompsonParams"]

MAX_GRID = 100_000  # grid points per channel


class ModelThompsonParams(AgentParams):
    """Parameters of :class:`~budgetgym.agents.model_thompson.ModelThompsonAgent` (the maths: the
    docstring of :mod:`budgetgym.agents.model_thompson`)."""

    kappa_min: float = Field(0.005, gt=0, le=1e6, description="smallest half-saturation, x step budget B/T")
    kappa_max: float = Field(50.0, gt=0, le=1e6, description="largest half-saturation, x step budget B/T")
    n_kappa: int = Field(49, ge=1, le=1000, description="log-spaced half-saturation grid points")
    slopes: tuple[float, ...] = Field(
        (0.5, 0.75, 1.0, 1.5, 2.5), min_length=1, max_length=50, description="Hill slope grid, each in [0.3, 10]"
    )
    decays: tuple[float, ...] = Field(
        (0.0, 0.2, 0.4, 0.6, 0.75, 0.85, 0.92),
        min_length=1,
        max_length=50,
        description="carry-over/lag grid theta, in [0, 1)",
    )
    lag_shapes: tuple[int, ...] = Field(
        (1, 2), min_length=1, max_length=10, description="negative-binomial lag shapes k (1: geometric), in 1..10"
    )
    slope_prior: tuple[float, ...] | None = Field(
        None, description="prior weight of each slope (same length as slopes); default uniform"
    )
    kappa_prior_sd: float | None = Field(
        1.5, gt=0, le=100, description="log-normal prior sd of kappa around the equal-split spend; None: log-uniform"
    )
    prior_shape: float = Field(1.0, gt=0, le=1e6, description="a0 of the Gamma prior on beta")
    prior_rate: float = Field(0.01, gt=0, le=1e6, description="b0 of the Gamma prior on beta (per unit of g)")
    dispersion: Annotated[float, Field(ge=1.0, le=1000)] | Literal["auto"] = Field(
        "auto", description="quasi-Poisson phi >= 1 (likelihood tempered by 1/phi), or 'auto' (Pearson estimate)"
    )
    discount: float = Field(0.99, gt=0, le=1, description="gamma: weight gamma**age of past observations")
    alloc_grid: int = Field(201, ge=11, le=5001, description="grid points of the step budget for the split")
    greedy_when_deterministic: bool = Field(False, description="deterministic predict plays the posterior mode")
    seed: int | None = Field(None, ge=0, description="seed used until reset(seed) reseeds")
    calendar_pacing: bool = Field(
        True, description="agent pacing: time the spend by learned weekday/seasonal effects (calendar_pacing.py)"
    )
    value_draws: int = Field(
        8, ge=1, le=64, description="calendar pacing: posterior draws whose mean values a step's spend beyond B/T"
    )

    @field_validator("dispersion", mode="before")
    @classmethod
    def _dispersion(cls, v: Any) -> Any:
        if isinstance(v, str) and v != "auto":
            raise ValueError("expected a number >= 1 or 'auto'")
        return v

    @field_validator("slopes")
    @classmethod
    def _slopes(cls, v: tuple[float, ...]) -> tuple[float, ...]:
        if not all(np.isfinite(s) and 0.3 <= s <= 10.0 for s in v):
            raise ValueError("every slope must be in [0.3, 10]")
        if len(set(v)) != len(v):
            raise ValueError("slopes must be distinct")
        return v

    @field_validator("decays")
    @classmethod
    def _decays(cls, v: tuple[float, ...]) -> tuple[float, ...]:
        if not all(np.isfinite(d) and 0.0 <= d < 1.0 for d in v):
            raise ValueError("every decay must be in [0, 1)")
        if len(set(v)) != len(v):
            raise ValueError("decays must be distinct")
        return v

    @field_validator("lag_shapes")
    @classmethod
    def _lag_shapes(cls, v: tuple[int, ...]) -> tuple[int, ...]:
        if not all(1 <= k <= 10 for k in v):
            raise ValueError("every lag shape must be an integer in 1..10")
        if len(set(v)) != len(v):
            raise ValueError("lag shapes must be distinct")
        return v

    @field_validator("slope_prior")
    @classmethod
    def _slope_prior(cls, v: tuple[float, ...] | None, info: Any) -> tuple[float, ...] | None:
        if v is None:
            return v
        slopes = info.data.get("slopes")
        if slopes is not None and len(v) != len(slopes):
            raise ValueError(f"expected one weight per slope ({len(slopes)}), got {len(v)}")
        if not all(np.isfinite(w) and w > 0 for w in v):
            raise ValueError("slope prior weights must be positive and finite")
        return v

    @field_validator("kappa_max")
    @classmethod
    def _kappa_range(cls, v: float, info: Any) -> float:
        lo = info.data.get("kappa_min")
        if lo is not None and v < lo:
            raise ValueError(f"kappa_max must be >= kappa_min ({lo})")
        return v

    @model_validator(mode="after")
    def _grid_size(self) -> ModelThompsonParams:
        size = self.n_kappa * len(self.slopes) * len(self.decays) * len(self.lag_shapes)
        if size > MAX_GRID:
            raise ValueError(
                f"grid too large: n_kappa * len(slopes) * len(decays) * len(lag_shapes) = {size} > {MAX_GRID}"
            )
        return self
