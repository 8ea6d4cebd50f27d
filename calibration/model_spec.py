r"""The marketing-mix model's options (:class:`ModelSpec`), its baseline design, and a fitted
model (:class:`Fit`): what a calibration's estimate is, apart from how it is found.

The model's equations, its priors and the estimation are in :mod:`~budgetgym.calibration.model`,
which fits it (:func:`~budgetgym.calibration.model.fit_model`) and re-exports these names.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import numpy as np

from budgetgym.calibration.data import MMMData
from budgetgym.calibration.projection import Problem
from budgetgym.calibration.roi_prior import RoiForm
from budgetgym.calibration.transforms import (
    YEAR_DAYS,
    AdstockKind,
    DelaySpec,
    Layout,
    SaturationKind,
    features,
    kappas,
    steady_state,
    weight_sums,
)
from budgetgym.envs.errors import BudgetGymError
from budgetgym.planner.metrics import SPARSE_SHARE

__all__ = ["FOURIER_SPAN", "YEAR_SPAN", "Fit", "Likelihood", "ModelSpec", "baseline_design", "check_design",
           "data_span", "default_fourier", "default_window", "short_data_warning"]

Likelihood = Literal["gaussian", "poisson", "negative_binomial"]


@dataclass(frozen=True)
class ModelSpec:
    """The model's options (module docstring). ``fourier=None``: 2 when the data span at least
    330 days, else 0 (:func:`default_fourier`). ``window=None``: Weibull lags covering 8 weeks
    (``ceil(56 / step_days)``, at least 4 and at most a third of the periods). ``prior``: which channels
    get the mild prior on ``kappa``, the slope and the geometric decay (and whether the media cycle gets its prior) —
    all (default), the weakly spent ones, or none. ``delay``: a conversion lag per channel, ``True`` the gamma
    lag for all, or a tuple of each channel's form (``gamma`` or ``geometric``); ``season``: a yearly cycle
    multiplying the media response
    (:mod:`~budgetgym.calibration.transforms`). ``roi_prior``: ``tau``, the relative sd of each channel's
    return on spend around a pooled return estimated with it (:mod:`~budgetgym.calibration.model`); ``None``
    (default): no such prior. ``roi_prior_form``: ``log`` (default), their logs pulled together
    (Meridian's LogNormal ROI prior, pooled), or ``linear``, the returns themselves
    (:mod:`~budgetgym.calibration.roi_prior`)."""

    adstock: AdstockKind = "geometric"
    saturation: SaturationKind = "hill"
    likelihood: Likelihood = "gaussian"
    fourier: int | None = None
    window: int | None = None
    weak_share: float = SPARSE_SHARE  # the planner's note on a thin history uses the same share
    prior: Literal["weak", "all", "none"] = "all"
    starts: int = 8
    delay: DelaySpec = False
    season: bool = False
    roi_prior: float | None = None
    roi_prior_form: RoiForm = "log"


def baseline_design(data: MMMData, fourier: int, origin: float | None = None) -> tuple[np.ndarray, list[str]]:
    """The baseline's columns ``[T, p]`` and names: intercept, trend (years since ``origin``,
    default the first period), yearly (and for daily data weekly) Fourier terms, controls."""
    d = data.days
    origin = float(d[0]) if origin is None else origin
    cols, names = [np.ones_like(d), (d - origin) / 365.25], ["intercept", "trend"]
    periods = [(365.25, fourier, "year")] + ([(7.0, 3, "week")] if data.step_days <= 1 else [])
    for period, order, label in periods:
        for k in range(1, order + 1):
            cols += [np.cos(2 * np.pi * k * d / period), np.sin(2 * np.pi * k * d / period)]
            names += [f"{label}_cos{k}", f"{label}_sin{k}"]
    for j, name in enumerate(data.control_names):
        cols.append(data.controls[:, j])
        names.append(name)
    return np.column_stack(cols), names


def check_design(B: np.ndarray, names: list[str], source: str) -> None:
    """Refuse a baseline column that is constant or a combination of the others (:func:`baseline_design`'s
    columns, intercept and trend first): one that the intercept and trend alone span is named as what it is, a
    constant or a time index (PyMC-Marketing's example ``t``), which the fit already has."""
    scaled = B / np.maximum(np.abs(B).max(axis=0), 1e-300)

    def rank(cols: np.ndarray) -> int:
        return int(np.linalg.matrix_rank(cols, tol=1e-9 * len(B)))

    for j in range(1, B.shape[1] + 1):
        if rank(scaled[:, :j]) < j:
            if j > 2 and rank(scaled[:, [0, 1, j - 1]]) < 3:
                what = ("is constant: the fit has its own intercept" if rank(scaled[:, [0, j - 1]]) < 2
                        else "is a time index (a linear trend): the fit has its own trend term")
                raise BudgetGymError(f"{source}: baseline column '{names[j - 1]}' {what}; drop it")
            raise BudgetGymError(
                f"{source}: baseline column '{names[j - 1]}' is constant or a combination of the intercept, trend, "
                f"seasonality and earlier controls; drop it (or lower --fourier)"
            )


@dataclass(frozen=True)
class Fit:
    """A fitted model: point estimate, what it predicts, and what a bootstrap refit needs."""

    spec: ModelSpec
    layout: Layout
    channels: tuple[str, ...]
    baseline_names: tuple[str, ...]
    phi: np.ndarray  # nonlinear parameters (Layout)
    beta: np.ndarray  # [K] KPI per period at saturation
    coef: np.ndarray  # [p] baseline coefficients
    ref: np.ndarray  # [K] typical (median nonzero) exposure per period
    weak: np.ndarray  # [K] channels under the prior (every one by default; prior='weak': the weakly spent ones)
    y: np.ndarray  # [T] the KPI fitted
    fitted: np.ndarray  # [T] mu
    contributions: np.ndarray  # [T, K] beta_i h_i(a_t,i)
    variance: np.ndarray  # [T] Var y_t / scale (1 for gaussian; mu or mu + mu^2/k at the final fit's mu)
    scale: float  # sigma^2 (gaussian) or the Pearson dispersion (counts)
    dispersion: float | None  # negative binomial k
    n_params: int
    prior_scale: float
    start_costs: tuple[float, ...]  # the polished best's cost, then the cost reached from each start (sorted)
    problem: Problem = field(repr=False)
    #: with lift tests, the fit's estimate before they (and the priors) joined: a start in the data's own
    #: basin for the fit without the tests (:func:`~budgetgym.calibration.lift.data_z`)
    data_start: np.ndarray | None = None
    #: the log return-on-spend prior's fixed point (:func:`~budgetgym.calibration.roi_fixed_point.log_fixed_point`):
    #: the fits it took (0: no log rows) and whether its anchors settled (``False``: stopped at the cap, short of it)
    roi_fits: int = 0
    roi_converged: bool = True

    @property
    def baseline(self) -> np.ndarray:
        return self.fitted - self.contributions.sum(axis=1)

    @property
    def residuals(self) -> np.ndarray:
        return self.y - self.fitted

    def params(self, phi: np.ndarray | None = None) -> dict[str, np.ndarray]:
        """Per-channel parameters in budgetgym's units (``[K]`` each): the carry-over's
        (``decay`` or ``shape``, ``scale``), ``kappa`` (exposure units), ``slope`` (Hill)."""
        phi = self.phi if phi is None else phi
        p = self.layout.split(phi)
        out = {"decay": p[:, 0]} if self.layout.adstock == "geometric" else {"shape": p[:, 0], "scale": p[:, 1]}
        out["kappa"] = kappas(self.layout, phi, self.ref, self.wbar(phi))
        if self.layout.saturation == "hill":
            out["slope"] = p[:, self.layout.n_adstock + 1]
        if self.layout.delay:
            out["lag"] = self.layout.lags(phi)
        return out

    def season(self, phi: np.ndarray | None = None) -> tuple[float, float]:
        """The media seasonality as budgetgym's ``(yearly_amplitude, yearly_peak)``: ``s_t = 1 + A
        cos(2 pi (d_t - peak) / 365.25)`` (``(0, 0)`` without it)."""
        a, b = self.layout.season_coef(self.phi if phi is None else phi)
        amp = float(np.hypot(a, b))
        peak = float(np.arctan2(b, a) * YEAR_DAYS / (2 * np.pi)) % YEAR_DAYS if amp > 0 else 0.0
        return amp, peak

    def wbar(self, phi: np.ndarray | None = None) -> np.ndarray:
        """Each channel's adstock weight sum (``1/(1 - theta)`` for geometric)."""
        return weight_sums(self.layout, self.phi if phi is None else phi)

    def curve(self, exposure: np.ndarray, phi: np.ndarray | None = None, beta: np.ndarray | None = None) -> np.ndarray:
        """Steady-state response ``beta_i h_i(w̄_i e)`` (KPI per period) to exposure ``e`` sustained
        every period; ``exposure`` is ``[n, K]``, the result too."""
        phi = self.phi if phi is None else phi
        beta = self.beta if beta is None else beta
        return beta * steady_state(self.layout, phi, self.ref, exposure)

    def lift(self, phi: np.ndarray | None = None, beta: np.ndarray | None = None) -> np.ndarray:
        """The model's steady-state lift of each lift test (KPI per period, ``[J]``; empty without
        tests): ``beta_i (h_i(w̄_i e^+) - h_i(w̄_i e^-))`` (:mod:`~budgetgym.calibration.lift`)."""
        rows = self.problem.lift
        if rows is None:
            return np.zeros(0)
        phi = self.phi if phi is None else phi
        beta = self.beta if beta is None else beta
        return np.asarray(rows.features(self.layout, phi, self.ref) @ beta)

    def contributions_of(self, phi: np.ndarray, beta: np.ndarray) -> np.ndarray:
        """``[T, K]`` each channel's contribution ``beta_i h_i(a_t,i)`` on the fitted periods under
        other parameters (a bootstrap draw's): :attr:`contributions` of ``(phi, beta)``."""
        return np.asarray(features(self.layout, self.problem.media, phi, self.ref, self.problem.days) * beta)

    def predict(
        self, media: np.ndarray, B: np.ndarray, days: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """``(mu, contributions)`` on other periods (``media``, design and ``days`` from the first
        period of the fitted data on, e.g. with a held-out tail appended; ``days`` is needed with
        the media seasonality)."""
        H = features(self.layout, media, self.phi, self.ref, days)
        contrib = H * self.beta
        return B @ self.coef + contrib.sum(axis=1), contrib


#: Data spanning at least this many days (:func:`data_span`) get yearly Fourier terms of order 2 by default.
FOURIER_SPAN = 330.0
#: The least span (:func:`data_span`) that is a year of data: 52 weeks (364 days), 12 months (365.25), 364 days.
YEAR_SPAN = 364.0


def data_span(data: MMMData) -> float:
    r"""Days the data cover, their last period included: :math:`d_{T-1} - d_0 + \Delta` for the periods'
    day indices :math:`d_t` and step :math:`\Delta` days (52 weeks: 364)."""
    return float(data.days[-1] - data.days[0]) + data.step_days


def default_fourier(data: MMMData) -> int:
    """The yearly Fourier order when ``--fourier`` is not given: 2 when the data span (:func:`data_span`) at
    least :data:`FOURIER_SPAN` days, else 0."""
    return 2 if data_span(data) >= FOURIER_SPAN else 0


def short_data_warning(data: MMMData, fourier: int | None) -> list[str]:
    """A warning when the data span (:func:`data_span`) less than a year (:data:`YEAR_SPAN`) and ``--fourier``
    was not given (``fourier`` ``None``): a yearly season cannot be identified from less than a year (it is
    confounded with the trend and the media), whatever order :func:`default_fourier` gave the baseline."""
    span = data_span(data)
    if fourier is not None or span >= YEAR_SPAN:
        return []
    order = default_fourier(data)
    head = (f"the data span {span:g} days, less than a year: yearly seasonality cannot be identified from less "
            f"than a year")
    if order:
        return [f"{head}, yet the default --fourier {order} (from {FOURIER_SPAN:g} days) fits it and it can take up "
                f"trend or media effects; consider --fourier 0"]
    return [f"{head}, so the baseline has none (the default below {FOURIER_SPAN:g} days) and a plan sees no season; "
            f"pass --fourier 0 to say so"]


def default_window(data: MMMData) -> int:
    return int(max(4, min(np.ceil(56.0 / data.step_days), data.n_periods // 3)))
