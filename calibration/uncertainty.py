r"""Parameter uncertainty: a moving-block residual bootstrap over time.

Each draw ``n`` builds a KPI series from the fit and resampled residuals, and refits:

.. math::

    y^*_t = \hat\mu_t + \sqrt{\hat v_t}\, r^*_t, \qquad
    r_t = c \left( (y_t - \hat\mu_t) / \sqrt{\hat v_t} - \overline{r} \right), \quad c = \sqrt{T / (T - p)}

with :math:`\hat v_t` the fitted variance function (1 for Gaussian noise, :math:`\hat\mu_t` for
Poisson, :math:`\hat\mu_t + \hat\mu_t^2/k` for the negative binomial:
:attr:`~budgetgym.calibration.model.Fit.variance`, at the fitted :math:`\hat\mu`), ``c`` undoing the shrinkage
of fitted residuals by the ``p`` fitted parameters (Davison and Hinkley 1997, §6.2.3), and
:math:`r^*` made of
blocks of ``b`` consecutive standardised residuals whose starts are drawn uniformly (the
moving-block bootstrap, Künsch 1989), cut to ``T``. Blocks keep the residuals' autocorrelation
(a mis-specified baseline, carry-over the model lacks) that an i.i.d. bootstrap would destroy
and so understate the uncertainty. The default block length is
:math:`b = \lceil T^{1/3} \rceil` (6 for 156 weeks): the order that minimises the error of
block-bootstrap variance estimates (Hall, Horowitz and Jing 1995); a quarter (13 weeks) would
keep longer dependence but leaves only 12 blocks in three years, too few distinct series.

Each replicate is refit by :func:`~budgetgym.calibration.refits.refit`: warm-started at the point
estimate (a few trust-region steps instead of a multi-start search), with the point fit's
weights and weak-channel prior. The draws are the ensemble a calibration exports.

**Prior draws** (``prior_draws=True``, randomised maximum a posteriori): each refit also moves
the prior's means by standard normal draws (in units of each prior's sd; the pseudo-residuals of
:meth:`~budgetgym.calibration.projection.Problem.penalty` become :math:`\hat\sigma (z_j - \zeta_j)`
with :math:`\zeta_j \sim N(0, 1)`; with the pooled return-on-spend prior each of its rows' centres too,
:mod:`~budgetgym.calibration.roi_prior`). Perturbing both the observed data and the prior and
re-optimising gives draws from the posterior exactly when the model is linear-Gaussian (Oliver, He
and Reynolds 1996; Bardsley et al. 2014, "randomize-then-optimize"); here the data are perturbed
around the fit's values instead (measured better below, under lift tests), whose mean has met the
prior once already, so the draws lean toward the prior's means a little more than that posterior
would, and they are an approximation in any case. Without it
the draws sit at the prior's mean wherever only the prior pins an estimate down — the level of a
channel spent in every period (it trades with the intercept), the curve of a channel spent in a
few flights — and the intervals miss there: on ``retail-5-family`` data the share of channels
whose interval covered the true response at the recommended plan rose from 65% to 75% on the
four worst datasets, at no cost in plan value. The refits of a geometric carry-over stop after
:data:`~budgetgym.calibration.refits.REFIT_NFEV` evaluations, so a draw travels about three
quarters of the way to its perturbed optimum along a flat direction (the tests measure it); those
of a Weibull carry-over or a delay have :data:`~budgetgym.calibration.refits.REFIT_NFEV_RIDGE`
(:func:`~budgetgym.calibration.refits.refit_nfev`), which they need to reach their optimum at all.

**Lift tests** (:mod:`~budgetgym.calibration.lift`): each replicate also redraws every test's
measurement, :math:`\Delta y^*_j \sim N(\widehat{\Delta y}_j, \sigma_j^2)` around the fit's lift
:math:`\widehat{\Delta y}_j` (the parametric bootstrap of an independent Gaussian measurement, centred
on the fit as the KPI replicates are), and refits to both; the draws' lifts then spread by the tests'
standard errors where the tests decide the curve. Centred on the measurement :math:`\Delta y_j`
instead, a test the data disagree with would be met once by the fit and again by every refit, and the
draws would drift toward it past the point estimate (a test at 3 times the true lift: the fitted lift
outside its own 90% interval). With prior draws the measurements are perturbed where they stand,
:math:`N(\Delta y_j, \sigma_j^2)`, as the prior's means are (randomised MAP treats the tests as it
treats the prior). The KPI replicates stay centred on the fit there too: centred on the observed KPI,
as randomised MAP proper is, the recommended model of ``bench_calibrate_family.py`` planned worse
(97.76% of the true oracle against 98.02, worst 94.73 against 95.00, coverage 85% against 84%), so the
linear-Gaussian exactness cited above holds for the prior's perturbation, not for the data's.

Why not a Laplace approximation: the likelihood is far from Gaussian in the nonlinear
parameters where they matter (bounds — θ = 0, κ at the edge of its range — and the curved
adstock–saturation ridge), and a Hessian at the optimum describes neither; the bootstrap
follows the ridge and stops at the bounds.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

import numpy as np

from budgetgym.calibration.model import Fit
from budgetgym.calibration.refits import Replicate, Workers, refit_all
from budgetgym.envs.errors import BudgetGymError

__all__ = ["Draws", "block_bootstrap", "default_block_length"]


@dataclass(frozen=True)
class Draws:
    """Bootstrap draws of a fit's parameters (``N`` draws)."""

    phi: np.ndarray  # [N, size] nonlinear parameters (Layout)
    beta: np.ndarray  # [N, K]
    coef: np.ndarray  # [N, p] baseline coefficients
    block_length: int
    seconds: float
    lift_y: np.ndarray | None = None  # [N, J] each replicate's lift-test measurements (with tests)
    #: [N] bool: the refit's log return-on-spend prior stopped at the cap short of its fixed point (``None``: no log
    #: rows; :func:`~budgetgym.calibration.roi_fixed_point.unsettled_warning`)
    unsettled: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.beta)


def default_block_length(n_periods: int) -> int:
    """``ceil(T^(1/3))``, at least 2 (module docstring)."""
    return max(2, math.ceil(n_periods ** (1.0 / 3.0) - 1e-9))


def resample_blocks(residuals: np.ndarray, block_length: int, rng: np.random.Generator) -> np.ndarray:
    """A moving-block resample of ``residuals`` (same length)."""
    T = len(residuals)
    b = min(block_length, T)
    starts = rng.integers(0, T - b + 1, size=math.ceil(T / b))
    idx = (starts[:, None] + np.arange(b)[None, :]).ravel()[:T]
    return residuals[idx]


def block_bootstrap(
    fit: Fit, draws: int = 200, *, block_length: int | None = None, seed: int = 0, prior_draws: bool = False,
    workers: int = 1, started: Workers | None = None,
) -> Draws:
    """``draws`` refits of ``fit`` on moving-block residual replicates (module docstring), seeded;
    with ``prior_draws`` (and a prior in the fit), each refit's prior means drawn from the prior
    too (randomised maximum a posteriori, module docstring); the refits by this process and
    ``workers - 1`` worker processes, or the ``started`` ones (:func:`~budgetgym.calibration.refits.refit_all`:
    the same draws for any number of workers)."""
    if draws < 0:
        raise BudgetGymError(f"--draws: expected a non-negative number of draws, got {draws}")
    T = len(fit.y)
    b = default_block_length(T) if block_length is None else int(block_length)
    if not 1 <= b <= T:
        raise BudgetGymError(f"--block-length: expected 1 to {T} periods, got {b}")
    t0 = time.perf_counter()
    sd = np.sqrt(fit.variance)
    r = fit.residuals / sd
    r = (r - r.mean()) * np.sqrt(T / max(1, T - fit.n_params))
    rng = np.random.default_rng(np.random.SeedSequence([seed, 11]))
    prior_rng = np.random.default_rng(np.random.SeedSequence([seed, 13]))
    lift_rng = np.random.default_rng(np.random.SeedSequence([seed, 17]))
    n_prior = fit.problem.n_shift(fit.phi) if prior_draws else 0  # the priors' means, then the ROI rows' centres
    tests = fit.problem.lift
    # the tests' measurements redrawn around the fit's lifts, as the KPI around the fit's values; with prior
    # draws, around what they measured, as the prior's means around the stated ones (module docstring)
    lift_centre = None if tests is None else tests.delta_y if n_prior else fit.lift()
    replicates: list[Replicate] = []
    for _ in range(draws):  # every replicate's inputs drawn here, in order: the draws do not depend on ``workers``
        y_star = fit.fitted + sd * resample_blocks(r, b, rng)
        shift = prior_rng.standard_normal(n_prior) if n_prior else None
        lift_y = None
        if tests is not None and lift_centre is not None:
            lift_y = lift_centre + tests.sigma * lift_rng.standard_normal(len(tests))
        replicates.append((y_star, shift, lift_y))
    refits = refit_all(fit, replicates, workers, started)
    phis, betas, coefs = ([rf[j] for rf in refits] for j in range(3))
    lifts = [rep[2] for rep in replicates]
    K, p = len(fit.beta), len(fit.coef)
    return Draws(
        phi=np.array(phis).reshape(draws, fit.layout.size),
        beta=np.array(betas).reshape(draws, K),
        coef=np.array(coefs).reshape(draws, p),
        block_length=b,
        seconds=time.perf_counter() - t0,
        lift_y=None if tests is None else np.array(lifts).reshape(draws, len(tests)),
        unsettled=None if fit.roi_fits == 0 else np.array([not rf[3] for rf in refits], dtype=bool),
    )
