r"""The marketing-mix model a calibration fits, and its maximum-likelihood estimate (the model's
options, baseline design and fitted result are in :mod:`~budgetgym.calibration.model_spec`).

Model, per period ``t = 0..T-1`` (units: the KPI's — revenue or conversions per period):

.. math::

    y_t = \mu_t + \varepsilon_t, \qquad
    \mu_t = b_t + \sum_{i=1}^{K} \beta_i \, h_i(a_{t,i})

    b_t = c_0 + c_1 \tau_t + \sum_{k=1}^{F} \big(\alpha_k \cos \tfrac{2\pi k d_t}{365.25}
          + \delta_k \sin \tfrac{2\pi k d_t}{365.25}\big)
          \;[+ \textstyle\sum_{k=1}^{3} (\cdot)\ \text{of}\ 2\pi k d_t / 7 \text{ for daily data}]
          + \sum_j \gamma_j z_{j,t}

* :math:`a_{t,i}` the adstocked exposure and :math:`h_i` its saturation, both in
  :mod:`~budgetgym.calibration.transforms` (``h`` dimensionless in [0, 1), so
  :math:`\beta_i \ge 0` is the channel's KPI per period at saturation, budgetgym's
  ``max_response``); optionally (``ModelSpec.delay``, ``season``) each term multiplied by a
  yearly media cycle in the period it is generated, then spread by the channel's conversion lag
  (the same module);
* :math:`\tau_t` years since the first period (trend in KPI per year), :math:`d_t` the budgetgym
  day index (:func:`~budgetgym.envs.dates.calendar_day`), :math:`F` the yearly Fourier
  order (default 2 when the data span at least 330 days, else 0), :math:`z_{j,t}` the controls
  (KPI per unit of control);
* noise: ``gaussian`` :math:`\varepsilon_t \sim N(0, \sigma^2)` (revenue-like KPIs), or for
  counts ``poisson`` (:math:`\mathrm{Var}\, y_t = \mu_t`) or ``negative_binomial``
  (:math:`\mathrm{Var}\, y_t = \mu_t + \mu_t^2 / k`, ``k`` by maximum likelihood).

Estimation: maximum likelihood, by **variable projection** (:mod:`~budgetgym.calibration.projection`:
the problem and its Jacobian). For fixed nonlinear parameters
:math:`\phi` (per channel the carry-over's, :math:`u = \ln(\kappa/\text{typical})` and the Hill
slope, with ``delay`` the mean lag, with ``season`` the cycle's two coefficients) the mean is
linear in :math:`(\beta, c, \alpha, \delta, \gamma)`, so the Gaussian
likelihood is maximised over them exactly: the baseline is projected out (a QR of its design)
and :math:`\beta \ge 0` solved by non-negative least squares on what remains
(:func:`scipy.optimize.nnls`). Only :math:`\phi` (2–5 numbers per channel) is searched, with
:func:`scipy.optimize.least_squares` (trust region reflective, within the bounds of
:mod:`~budgetgym.calibration.transforms`), from ``starts`` points: the central one and uniform
draws within the bounds (seeded), each to a tolerance of 1e-6 first; the best is then polished
to 1e-10. The Jacobian is a forward difference that recomputes only the moved channel's column
(:meth:`~budgetgym.calibration.projection.Problem.jacobian`). For ``poisson`` and ``negative_binomial``
the same fit runs with weights :math:`1/\mathrm{Var}\, y_t` at the current :math:`\mu` until
they settle (iteratively reweighted least squares: its fixed point solves the likelihood's
score equations, :math:`\sum_t (y_t - \mu_t)/\mathrm{Var}\, y_t \cdot \partial\mu_t/\partial p = 0`).
The weights settle on the fit without priors and lift tests, then again on the fit with them
(below; their pseudo-residuals' scales held fixed), so :attr:`Fit.variance` and the bootstrap use
:math:`\mathrm{Var}\, y_t` at the final :math:`\mu` and the penalised estimate solves the score
equations with the priors' terms added (they had kept the unpenalised fit's weights, 1.5% off the
final mean's on a 104-week Poisson example).

**Lift tests** (``fit_model(..., lift=...)``, :mod:`~budgetgym.calibration.lift`): each test's
measured lift :math:`\Delta y_j \sim N(\beta_i g_j(\phi), \sigma_j^2)` joins the least squares as
the pseudo-residual :math:`\hat\sigma (\Delta y_j - \beta_i g_j(\phi)) / \sigma_j`, with
:math:`\hat\sigma` the residual scale of the fit without tests and priors (at least
:data:`LIFT_SCALE_FLOOR` of the KPI's sd); :math:`g_j` is the difference of the steady-state
saturation at the test's two levels of spend, so the rows are linear in :math:`\beta` and the
projection above holds (:mod:`~budgetgym.calibration.projection`).

**Weakly spent channels** (nonzero exposure in fewer than ``weak_share`` = 30% of periods) get a
mild prior, so their estimate stays where a campaign could be: :math:`u_i \sim N(0, (\ln 3)^2)`
(κ within a factor 3 of the channel's typical adstocked exposure at one sd) and
:math:`s_i \sim N(1, 0.5^2)` (concave-to-mildly-S). A channel seen in a few flights cannot
separate how fast it saturates from how strongly it responds, and without a prior the optimum
slides to a bound (a step-shaped curve, or one that never saturates), which would send the
planner to extremes. The prior enters as pseudo-residuals :math:`\hat\sigma u_i / \ln 3` and
:math:`\hat\sigma (s_i - 1)/0.5` (:math:`\hat\sigma` the residual scale of an unpenalised fit),
i.e. the maximum a posteriori estimate; it fades as the noise does (a noise-free dataset is fit
exactly). The default, ``prior="all"``, puts the same prior on every channel: on data simulated
from ``retail-5-family`` draws (``benchmarks/bench_calibrate_family.py``, 20 datasets of 156
weeks) channels spent in half the weeks slid to bounds too (a never-saturating display channel
took 86% of a plan: 51% of the oracle); with the prior on all channels the plans reach 96.8% on
average (worst 92.1%) against 91.8% (worst 51.1%) with ``"weak"`` (the weakly spent channels only),
and within the model class the two are equal within noise. ``"none"`` puts it on none.

**Carry-over prior.** Channels under the prior also get a half-normal prior on their geometric
decay in weekly terms, :math:`\theta_i^{7/\Delta} \sim N^+(0, 0.4^2)` (pseudo-residual
:math:`\hat\sigma\, \theta_i^{7/\Delta} / 0.4`; ``Δ`` days per period), in the spirit of
PyMC-Marketing's default ``Beta(1, 3)`` on its decay (mean 0.25; the half-normal's is 0.32, and
0.8 a week, Robyn's upper bound for weekly data, is 2 sd; 0.9, the fit's bound and the slowest
TV carry-over, 2.25 sd). A long carry-over turns a channel's flights into a slow wave, and a
weak channel whose waves happen to follow the baseline's residual swings takes credit for them:
on ``retail-5-family`` data display channels worth 3% of the revenue were fitted with decays of
0.8 and four times their true response, and drew budget from video. The prior moved the
benchmark from 97.84% to 98.02% of the oracle on average and its worst dataset from 93.8% to
95.0%.

**Media seasonality prior.** With ``season`` (and a prior other than ``"none"``) the cycle's
coefficients get :math:`a, b \sim N(0, 0.15^2)` (pseudo-residuals
:math:`\hat\sigma a / 0.15`, :math:`\hat\sigma b / 0.15`): the media cycle competes with the
baseline's own Fourier terms for the same yearly shape, and on ``retail-5-family`` data an
unpenalised fit put a 31% cycle peaking in June on a draw whose true one is 9% in December
(the intercept took the difference), halving the response it planned with in January. 0.15 is
the middle of the demand cycles retail data show (the family's 0.05-0.3); the prior moved the
four worst datasets of the benchmark from 95.7% to 96.3% of the oracle on average.

**Pooled return-on-spend prior** (opt-in: ``ModelSpec.roi_prior`` = :math:`\tau`, ``calibrate --roi-prior
TAU``). Each channel's return on its spend in the data, :math:`r_i = \beta_i m_i(\phi) / S_i` (KPI per unit
of currency; :math:`m_i = \sum_t h_i(a_{t,i})` with its cycle and delay, :math:`S_i = \sum_t` spend), is pulled
toward a pooled return :math:`\bar r \ge 0` estimated with the rest (partial pooling, empirical Bayes) by the
pseudo-residual :math:`\hat\sigma (r_i - \bar r) / (\tau \bar r_0)`, one per channel with spend;
:math:`\bar r_0` is the return on the whole spend of the fit with the other priors and the lift tests, which
is then refitted with the rows (from its estimate and the multi-start's points; :func:`roi_rows`; a fit whose
media contribute nothing gets no rows), and :math:`\hat\sigma` the other priors' residual scale, so the prior
fades as the noise does. The fit without priors gives no usable scale: on a ``retail-5-family`` dataset of the
benchmark it put social at 4.4 million a period at saturation, a return of 440 on the whole spend against about
2 with the priors (the level trades with the intercept). It is the
Bayesian form of Robyn's DECOMP.RSSD (model selection penalising a channel whose share of effect departs from
its share of spend) and close to Meridian's default, the same LogNormal prior on every channel's ROI (sd 0.9
of log ROI). Three choices: (i) the return itself, not its log, is pooled: for fixed :math:`\phi` the row is
linear in :math:`(\beta, \bar r)`, so it joins the non-negative least squares as the lift tests do
(:mod:`~budgetgym.calibration.projection`), and near the pooled value :math:`(r_i - \bar r)/\bar r_0 \approx
\ln(r_i / \bar r)`, so :math:`\tau` reads as an sd of log ROI; unlike a log-normal, it costs a channel fitted
at zero only :math:`\hat\sigma^2/\tau^2` (a bounded pull, where the log would forbid zero) and a channel
fitted at several times the pooled return quadratically. (ii) The rows are relative, one channel one row, as
Meridian's prior is: a channel worth 3% of the spend is pulled toward the same return as one worth 40%, so in
KPI it is pulled less (its contribution is smaller) but in return as hard; its return is what the data know
least. (iii) :math:`\bar r_0` fixed keeps the rows linear; :math:`\bar r` itself is free. The bootstrap's
refits keep the rows (they are the fit's problem's; the log form's are relinearised at each refit's
estimate); ``--prior-draws`` moves each row's centre by a standard normal draw of its sd, as it moves the other
priors' means (:mod:`~budgetgym.calibration.roi_prior`). **Log form**
(``ModelSpec.roi_prior_form = "log"``, the default; ``--roi-prior-form linear`` is the form above): the
pseudo-residual :math:`\hat\sigma (\ln r_i - \ln \bar r) / \tau`, linearised around the fit's own returns
(a fixed point, reached in one fit: :mod:`~budgetgym.calibration.roi_prior` and
:mod:`~budgetgym.calibration.roi_fixed_point` have the maths): a channel at 3 times the pooled return is pulled as
hard as one at a third of it (the linear form pulls the first 3 times harder), and one near zero hard. Opt-in, not the
default: on ``retail-5-family`` data (``bench_calibrate_family.py``, recommended model) :math:`\tau = 1` undid the
credit swap it was made for (draw 10: social's return 9.4 → 3.7, video's 0.57 → 1.9, true 2.9 and 2.5; 94.95% →
97.87% of the oracle) but the family's channels return 11-30 times one another, and on the twenty datasets it
gave 97.70% on average (worst 94.70, coverage 78%) against 98.01% (worst 94.95, 84%) without it; :math:`\tau =
0.5` was worse on the four worst (94.67% against 96.25%). The log form at :math:`\tau = 1.5` (with the moved
centres) gave 98.12% (worst 95.81, coverage 81%), paired +0.11 points (95% CI -0.19 to +0.44) against no prior:
within noise, so the prior stays opt-in (its refits relinearised at their own estimates, 98.10%, worst 95.63,
coverage 82%: paired -0.02, -0.06 to +0.01); the linear form under the same moved centres gave 97.66% (worst 94.80,
coverage 80%), paired -0.35 (-0.89 to +0.19) against no prior and -0.46 (-0.88 to -0.13) against the log form, so
``--roi-prior`` takes the log form unless ``--roi-prior-form linear`` is asked for.
"""

from __future__ import annotations

from dataclasses import replace
from typing import cast

import numpy as np
from scipy.optimize import minimize_scalar
from scipy.special import gammaln

from budgetgym.calibration.data import (
    MMMData,
    check_count_kpi,
    check_spent_channels,
    check_varying_channels,
    check_varying_kpi,
)
from budgetgym.calibration.model_spec import (
    Fit,
    Likelihood,
    ModelSpec,
    baseline_design,
    check_design,
    default_fourier,
    default_window,
)
from budgetgym.calibration.projection import LiftRows, Problem
from budgetgym.calibration.refits import REFIT_NFEV, REFIT_NFEV_RIDGE, REFIT_TOL, refit, refit_nfev
from budgetgym.calibration.roi_fixed_point import FixedPoint, log_fixed_point
from budgetgym.calibration.roi_prior import roi_rows
from budgetgym.calibration.transforms import Layout, typical_exposure
from budgetgym.envs.errors import BudgetGymError
from budgetgym.experiments.wording import count

__all__ = [
    "Fit", "Likelihood", "ModelSpec", "baseline_design", "check_design", "default_fourier", "default_window",
    "fit_model", "mean_floor", "refit", "refit_nfev", "roi_rows", "REFIT_NFEV", "REFIT_NFEV_RIDGE", "REFIT_TOL",
]


def mean_floor(y: np.ndarray) -> float:
    """The smallest mean a count likelihood's variance (and the deviance residual,
    :mod:`~budgetgym.calibration.residuals`) takes: 1e-3 of the KPI's mean ``|y|``."""
    return 1e-3 * max(float(np.mean(np.abs(y))), 1e-9)


def _variance(likelihood: Likelihood, mu: np.ndarray, k: float | None, floor: float) -> np.ndarray:
    m = np.maximum(mu, floor)
    if likelihood == "poisson":
        return m
    if likelihood == "negative_binomial":
        return m + m * m / float(k)  # type: ignore[arg-type]
    return np.ones_like(mu)


def _nb_dispersion(y: np.ndarray, mu: np.ndarray) -> float:
    """``k`` maximising the negative-binomial log-likelihood given the means."""

    def nll(logk: float) -> float:
        k = np.exp(logk)
        return -float(np.sum(gammaln(y + k) - gammaln(k) + k * np.log(k / (k + mu)) + y * np.log(mu / (k + mu))))

    return float(np.exp(minimize_scalar(nll, bounds=(np.log(1e-3), np.log(1e6)), method="bounded").x))


#: The lift rows' residual scale is at least this share of the (weighted) KPI's sd: on noise-free
#: data the fit's residual scale is rounding, and the tests must still pick the point, among those
#: the data fit exactly, that they measure.
LIFT_SCALE_FLOOR = 1e-6

#: The multi-start's first stage: every start to this tolerance, within at most this many
#: evaluations; only the best is then polished to 1e-10 (:func:`_multistart`).
SCOUT_TOL = 1e-6
SCOUT_NFEV = 100


def _multistart(prob: Problem, y: np.ndarray, starts: list[np.ndarray]) -> list[tuple[np.ndarray, float]]:
    """Each start to :data:`SCOUT_TOL`, then the best of them polished to 1e-10: the runs
    ``(phi, cost)``, best (the polished one) first. Polishing every start, most of which end on a
    worse local optimum, spent most of the fit walking ridges to digits that decide nothing."""
    scouts = sorted((prob.fit(y, s, SCOUT_TOL, SCOUT_NFEV) for s in starts), key=lambda r: r[1])
    best = prob.fit(y, scouts[0][0], 1e-10)
    return [best, *scouts]


def _reweight(
    prob: Problem, phi: np.ndarray, y: np.ndarray, likelihood: Likelihood, floor: float
) -> tuple[Problem, np.ndarray, float | None]:
    """Iteratively reweighted least squares from ``phi``: weights ``1/sqrt(Var y_t)`` at the current
    mean, refit, until ``phi`` moves less than 1e-7 (at most 30 rounds); ``prob``'s priors and lift
    rows kept (their scales fixed). The problem with the settled weights, ``phi`` and the negative
    binomial's ``k`` (``None`` for Poisson)."""
    k = None
    for _ in range(30):
        H, beta, coef = prob.linear(phi, y)
        mu = H @ beta + prob.B @ coef
        if likelihood == "negative_binomial":
            k = _nb_dispersion(y, np.maximum(mu, floor))
        prob = prob.with_weights(1.0 / np.sqrt(_variance(likelihood, mu, k, floor)))
        new = prob.fit(y, phi, 1e-10)[0]
        moved = np.max(np.abs(new - phi))
        phi = new
        if moved < 1e-7:
            break
    return prob, phi, k


def _penalised(
    prob: Problem, y: np.ndarray, starts: list[np.ndarray], likelihood: Likelihood, floor: float, k: float | None
) -> tuple[Problem, np.ndarray, list[tuple[np.ndarray, float]], float | None]:
    """The multi-start on ``prob`` (priors and pseudo-rows with their scales fixed), then for a count likelihood
    the weights at its own mean (module docstring): ``(problem, phi, runs, k)``."""
    runs = _multistart(prob, y, starts)
    phi = runs[0][0]
    if likelihood != "gaussian":
        prob, phi, k = _reweight(prob, phi, y, likelihood, floor)
    return prob, phi, runs, k


def _roi_refit(
    prob: Problem, y: np.ndarray, phi: np.ndarray, starts: list[np.ndarray], spend: np.ndarray, scale: float,
    spec: ModelSpec, floor: float, k: float | None,
) -> tuple[FixedPoint, list[tuple[np.ndarray, float]], float | None] | None:
    """The refit with the return-on-spend prior's rows (module docstring), from ``prob``'s fit ``phi``: the
    linear form once; the log form with its rows at their fixed point (:mod:`~budgetgym.calibration.roi_fixed_point`:
    the multi-start's fits settle them at every ``phi``; a later fit, warm-started, only if they did not settle). The
    fixed point, the runs (which ``fit.md`` counts starts from: the multi-start's) and the negative binomial's ``k``;
    ``None`` when that fit gives the media no contribution (no rows)."""
    H, beta, _ = prob.linear(phi, y)
    roi = roi_rows(spend, H, beta, scale, cast(float, spec.roi_prior), spec.roi_prior_form)
    if roi is None:
        return None
    prob, phi, runs, k = _penalised(replace(prob, roi=roi), y, [phi, *starts], spec.likelihood, floor, k)

    def fit_from(p: Problem, start: np.ndarray) -> tuple[Problem, np.ndarray]:
        nonlocal k
        p, new, _, k = _penalised(p, y, [start], spec.likelihood, floor, k)
        return p, new

    return log_fixed_point(prob, phi, y, fit_from), runs, k


def fit_model(data: MMMData, spec: ModelSpec = ModelSpec(), *, seed: int = 0, lift: LiftRows | None = None) -> Fit:
    """The maximum-likelihood (for weak channels: maximum a posteriori) fit (module docstring);
    ``lift``: lift tests, extra likelihood terms (:mod:`~budgetgym.calibration.lift`), weighted
    to the residual scale of the fit without them and the priors.

    Raises
    ------
    BudgetGymError
        Too few periods for the number of parameters, a degenerate baseline column, a KPI that
        does not vary, a negative KPI under a count likelihood
        (:func:`~budgetgym.calibration.data.check_count_kpi`), a channel never spent, or one spent the
        same in every period that no lift test measures (:func:`~budgetgym.calibration.data.check_varying_channels`).
    """
    fourier = default_fourier(data) if spec.fourier is None else spec.fourier
    window = default_window(data) if spec.window is None else spec.window
    spec = replace(spec, fourier=fourier, window=window)
    layout = Layout(spec.adstock, spec.saturation, data.n_channels, window, data.step_days, spec.delay, spec.season)
    B, bnames = baseline_design(data, fourier)
    n_params = B.shape[1] + data.n_channels + layout.size + (spec.likelihood == "negative_binomial")
    T = data.n_periods
    if T < 2 * n_params:
        raise BudgetGymError(
            f"{data.source}: {count(T, 'period')} for {n_params} parameters ({count(data.n_channels, 'channel')} x "
            f"{1 + layout.per_channel}, {count(B.shape[1], 'baseline term')}); need at least {2 * n_params} periods "
            f"(fewer channels, controls or --fourier, or more data)"
        )
    check_design(B, bnames, data.source)
    check_varying_kpi(data.kpi, data.kpi_name, data.source)  # a holdout's head too, not only a whole file
    if spec.likelihood != "gaussian":  # data read without count_kpi (a notebook's) was fitted silently
        check_count_kpi(data.kpi, data.kpi_name, data.source)
    check_spent_channels(data.media, data.spend_columns, data.exposure_columns, data.source)  # a holdout's head too
    check_varying_channels(data.media, data.spend_columns, data.exposure_columns, data.source,
                           tested=() if lift is None else lift.index)
    media, y = data.media, data.kpi
    ref = typical_exposure(media)
    weak = np.mean(media > 0, axis=0) < spec.weak_share
    weak = np.full_like(weak, spec.prior == "all") if spec.prior != "weak" else weak
    prob = Problem(layout, media, ref, B, data.days, np.ones(T), weak)
    rng = np.random.default_rng(np.random.SeedSequence([seed, 7]))
    lo, hi = layout.bounds()
    starts = [layout.central()] + [rng.uniform(lo, hi) for _ in range(max(0, spec.starts - 1))]
    runs = _multistart(prob, y, starts)
    phi = runs[0][0]
    dof = max(1, T - n_params)
    k = None
    floor = mean_floor(y)
    if spec.likelihood != "gaussian":
        prob, phi, k = _reweight(prob, phi, y, spec.likelihood, floor)
    season_prior = layout.season and spec.prior != "none"
    data_start = None if lift is None else phi
    penalised = bool(weak.any() or season_prior or lift is not None)  # the priors' and lift tests' refit
    solved = None  # (H, beta) at the final phi, when the return-on-spend prior's fixed point has solved it
    if penalised or spec.roi_prior is not None:
        H, beta, coef = prob.linear(phi, y)
        scale0 = float(np.sqrt(np.sum((prob.sw * (y - H @ beta - B @ coef)) ** 2) / dof))
        prior_scale = scale0 if weak.any() or season_prior else 0.0
        lift_scale = max(scale0, LIFT_SCALE_FLOOR * float(np.std(y * prob.sw)))
        prob = Problem(layout, media, ref, B, data.days, prob.sw, weak, prior_scale=prior_scale,
                       season_prior=season_prior, lift=lift, lift_scale=lift_scale)
        if penalised:
            prob, phi, runs, k = _penalised(prob, y, [phi, *starts], spec.likelihood, floor, k)
        if spec.roi_prior is not None:  # its scale from the fit with the other priors (module docstring)
            done = _roi_refit(prob, y, phi, starts, data.spend, scale0, spec, floor, k)
            if done is not None:
                point, runs, k = done
                prob, phi, solved = point.problem, point.phi, (point.H, point.beta)
    H, beta, coef = prob.linear(phi, y, solved=solved)
    mu = H @ beta + B @ coef
    var = 1.0 / prob.sw**2
    scale = float(np.sum((y - mu) ** 2 / var) / dof)
    return Fit(
        spec=spec, layout=layout, channels=data.channels, baseline_names=tuple(bnames), phi=phi, beta=beta,
        coef=coef, ref=ref, weak=weak, y=y, fitted=mu, contributions=H * beta, variance=var, scale=scale,
        dispersion=k, n_params=n_params, prior_scale=prob.prior_scale, start_costs=tuple(r[1] for r in runs),
        problem=prob, data_start=data_start,
    )
