r"""The residuals the outlier warning judges (:func:`~budgetgym.calibration.period_warnings.outlier_warning`).

* ``gaussian``: the raw residual :math:`r_t = y_t - \hat\mu_t` (its variance function is 1).
* ``poisson`` and ``negative_binomial``: the **deviance residual**, the signed square root of period
  :math:`t`'s share of the likelihood's deviance,

  .. math::

      r_t = \mathrm{sign}(y_t - \hat\mu_t) \sqrt{d_t}, \qquad
      d_t^{\mathrm{Poisson}} = 2 \big[y_t \ln(y_t / \hat\mu_t) - (y_t - \hat\mu_t)\big], \qquad
      d_t^{\mathrm{NB}} = 2 \big[y_t \ln(y_t / \hat\mu_t) - (y_t + k) \ln\tfrac{y_t + k}{\hat\mu_t + k}\big]

  (:math:`0 \ln 0 = 0`; :math:`\hat\mu_t` floored as the fit floors it, :func:`~budgetgym.calibration.model.mean_floor`;
  ``k`` the fitted dispersion), not the Pearson residual :math:`(y_t - \hat\mu_t) / \sqrt{\mathrm{Var}\, y_t}`.
  A count's Pearson residual keeps the count's skew (:math:`1/\sqrt{\mu}` for Poisson, about
  :math:`2/\sqrt{k}` for a negative binomial at any level), so its upper tail passes 5 robust sd far more
  often than a normal's; the deviance residual is close to normal (McCullagh & Nelder, *Generalized
  Linear Models*, 2.4.2; Pierce & Schafer 1986). Anscombe's residual is as close to normal for Poisson, but
  for the negative binomial it needs a hypergeometric function; the deviance residual has one closed form
  for both, from the likelihood the fit maximises.

Measured with the outlier rule (|robust z| > 5, robust z = (r - med r) / (1.4826 MAD)) on 104 periods whose counts
are drawn around known means :math:`\mu_t = L e^{0.3 \epsilon_t}` (20,000 datasets per row; a dataset alarms when
any period passes; ``benchmarks/bench_count_outliers.py``): Pearson / deviance alarm in 2.4% / 0.01% of Poisson
datasets at :math:`L = 1`, 3.7% / 0.02% at 2, 1.2% / 0.05% at 5, 0.13% / 0.12% at 300 (a normal's rate: 0.12%); for
a negative binomial with k = 5 in 12% / 0.27% at :math:`L = 1` and still 9.7% / 0.10% at 300. Below a mean of about
one count per period both fail (Poisson, L = 0.6: 49% with deviance residuals): most periods are 0, ties at the
median collapse the MAD; there (:data:`MIN_COUNT_LEVEL`) no robust scale is used, and a period is an outlier when its
count is improbable under the fitted mean itself (:func:`tail_probability`, :func:`small_count_outliers`):

.. math::

    p_t = \min\big(P(Y \ge y_t),\ P(Y \le y_t)\big) < p^* = 2.9 \cdot 10^{-7},
    \qquad Y \sim \mathrm{Poisson}(\hat\mu_t)\ \text{or}\ \mathrm{NB}(\hat\mu_t, k),

:math:`p^*` (:data:`TAIL_P`) being one tail of a normal beyond 5 sd (:math:`2.87 \cdot 10^{-7}`), the rule's
:data:`~budgetgym.calibration.period_warnings.OUTLIER_Z` read as a probability. At a mean below one the lower tail is
never that small (:math:`P(Y \le 0) = e^{-\mu} > 0.37`), so only a count far above the mean is named: at
:math:`\hat\mu = 0.9` a count of 10 or more (:math:`P(Y \ge 10) = 4.3 \cdot 10^{-8}`; 9 has
:math:`4.3 \cdot 10^{-7}`), at 0.1 one of 5 or more. Measured on clean Poisson counts at known means
:math:`\mu_t = L e^{0.3 \epsilon_t}`, 104 periods, 20,000 datasets for each :math:`L` = 0.1, 0.2, ..., 0.9: no
dataset alarmed (``benchmarks/bench_small_count_outliers.py``, table in ``benchmarks/README.md``).

On ``simulate``'s datasets (104 daily periods of ``stationary-5``, ``competitor-5``, ``drift-5`` and ``s-curve-5``,
seeds 0-2, about 350 conversions a day, fitted with ``fourier=0, starts=2``; ``/ 100``: the same counts thinned
binomially to about 3.3 a day, still Poisson) the largest robust |z| of a clean dataset was, Pearson / deviance,
median 2.79 / 2.86 and at most 3.60 / 3.64 for Poisson fits, 2.74 / 2.87 and 4.21 / 6.06 for negative-binomial
ones, and 3.54 / 2.89, at most 4.02 / 3.26, at ``/ 100`` (both likelihoods); the one alarm, deviance on
``competitor-5`` seed 1, names days 14-15, the competitor's entry (conversions 52 and 96 against 227 and 310
fitted): an event the model lacks, which the Pearson residual missed. A period injected at day 52 was named,
Pearson / deviance, when tripled in 24 / 22 of 24 count fits (the two: 4.5 and 4.3 sd, by the same
``competitor-5`` seed, whose fit bends to its entry) and 8 / 8 of 24 at ``/ 100``; when set to 0 in 20 / 21 of 24
and, at ``/ 100`` (0 is a likely count at a mean of 3), 0 / 0. The Gaussian fits (those datasets and
``seasonal-5``, ``holiday-5``: 18) keep the raw residual: largest clean |z| median 3.23, one alarm (a
``holiday-5`` holiday), injections named in 14 / 18 each.
"""

from __future__ import annotations

import numpy as np
from scipy import stats
from scipy.special import xlogy

from budgetgym.calibration.model import Fit, mean_floor

__all__ = ["MIN_COUNT_LEVEL", "TAIL_P", "deviance_residuals", "judged_residuals", "small_count_outliers",
           "tail_probability"]

#: A count below :data:`MIN_COUNT_LEVEL` a period is an outlier when the smaller of its tail probabilities under
#: the fitted mean is below this: one tail of a normal beyond 5 sd, 2.87e-7 (module docstring).
TAIL_P = 2.9e-7

#: A count fit whose median fitted mean is below this many counts per period gets no outlier warning: with
#: most periods at 0 the residuals' median absolute deviation collapses onto their ties and any robust scale
#: built from it alarms on clean data (module docstring); at a median of 1 the deviance residuals alarm in
#: 0.01% (Poisson) to 0.18% (negative binomial, k = 5) of clean 104-period datasets. Below it the periods are
#: judged by their counts' tail probabilities instead (:func:`small_count_outliers`).
MIN_COUNT_LEVEL = 1.0


def deviance_residuals(y: np.ndarray, mu: np.ndarray, k: float | None = None) -> np.ndarray:
    r"""``[T]`` signed deviance residuals of counts ``y`` about means ``mu > 0`` (module docstring): Poisson
    for ``k`` ``None``, else the negative binomial with dispersion ``k``
    (:math:`\mathrm{Var}\, y = \mu + \mu^2 / k`)."""
    if k is None:
        d = 2.0 * (xlogy(y, y / mu) - (y - mu))
    else:  # (y + k) ln((y + k)/(mu + k)) through log1p: exact as k grows (-> the Poisson's y - mu)
        d = 2.0 * (xlogy(y, y / mu) - (y + k) * np.log1p((y - mu) / (mu + k)))
    return np.sign(y - mu) * np.sqrt(np.maximum(d, 0.0))


def judged_residuals(fit: Fit) -> np.ndarray | None:
    """``[T]`` the residuals the outlier warning judges (module docstring): raw for a Gaussian fit, deviance
    residuals for a count fit, ``None`` for a count fit whose median fitted mean is below :data:`MIN_COUNT_LEVEL`."""
    if fit.spec.likelihood == "gaussian":
        return fit.residuals
    if _small_counts(fit) is not None:
        return None
    mu = np.maximum(fit.fitted, mean_floor(fit.y))
    return deviance_residuals(fit.y, mu, fit.dispersion if fit.spec.likelihood == "negative_binomial" else None)


def _small_counts(fit: Fit) -> np.ndarray | None:
    """``[T]`` the floored fitted means of a count fit whose median is below :data:`MIN_COUNT_LEVEL`, else ``None``."""
    if fit.spec.likelihood == "gaussian":
        return None
    mu = np.maximum(fit.fitted, mean_floor(fit.y))
    return mu if float(np.median(mu)) < MIN_COUNT_LEVEL else None


def tail_probability(y: np.ndarray, mu: np.ndarray, k: float | None = None) -> np.ndarray:
    r"""``[T]`` :math:`\min(P(Y \ge y_t), P(Y \le y_t))` for counts ``y`` under means ``mu > 0``: Poisson for ``k``
    ``None``, else the negative binomial with dispersion ``k`` (:math:`\mathrm{Var}\, Y = \mu + \mu^2 / k`,
    ``scipy.stats.nbinom`` with ``n = k``, ``p = k / (k + mu)``)."""
    y, mu = np.asarray(y, dtype=float), np.asarray(mu, dtype=float)
    dist = stats.poisson(mu) if k is None else stats.nbinom(k, k / (k + mu))
    return np.minimum(dist.sf(y - 1.0), dist.cdf(y))


def small_count_outliers(fit: Fit) -> tuple[np.ndarray, np.ndarray] | None:
    """For a count fit whose median fitted mean is below :data:`MIN_COUNT_LEVEL`: the periods whose count's
    :func:`tail_probability` under the fitted mean (and dispersion) is below :data:`TAIL_P`, the least probable
    first, and those probabilities ``[T]``; ``None`` for any other fit (judged by :func:`judged_residuals`)."""
    mu = _small_counts(fit)
    if mu is None:
        return None
    p = tail_probability(fit.y, mu, fit.dispersion if fit.spec.likelihood == "negative_binomial" else None)
    hits = np.flatnonzero(p < TAIL_P)
    return hits[np.argsort(p[hits], kind="stable")], p
