r"""The periods to look at before trusting a fit: outliers and a negative KPI, each a warning naming them.

* **Outliers** (:func:`outlier_warning`): periods whose residual :math:`r_t`
  (:func:`~budgetgym.calibration.residuals.judged_residuals`: :math:`y_t - \hat\mu_t` for the Gaussian, the
  deviance residual for counts) lies more than :data:`OUTLIER_Z` robust standard deviations from the
  residuals' median, :math:`|r_t - \mathrm{med}\, r| > 5 \cdot 1.4826\, \mathrm{med}\,|r - \mathrm{med}\, r|`
  (the MAD, which the outliers themselves barely move, unlike the standard deviation): a data error or an event
  the controls do not cover, which a Gaussian fit bends to (one zero week among 156 at 250k took R² from 0.97
  to 0.65). The fit is not made robust; the warning names the periods. Count fits judged the Pearson residual
  :math:`(y_t - \hat\mu_t)/\sqrt{\mathrm{Var}\, y_t}`, whose skew made clean data alarm: in 10-14% of clean
  104-period negative-binomial (k = 5) datasets at 1 to 300 counts a period, 2-4% of Poisson ones at 1-2, against
  at most 0.3% with the deviance residual (:mod:`~budgetgym.calibration.residuals` has the figures and the formula).
* **Negative KPI** (:func:`negative_kpi_warning`): a Gaussian fit takes a KPI below 0 as it is (returns
  netted out of revenue, a correction, a data error), as PyMC-Marketing's and Robyn's Gaussian models do; Meridian
  refuses any, and a count likelihood here refuses it
  (:func:`~budgetgym.calibration.data.check_count_kpi`). Unwarned, such a period showed only in the WAPE and,
  when a single one stood out, as an outlier; the warning names the periods, how many and their sum.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from budgetgym.calibration.model import Fit
from budgetgym.calibration.residuals import MIN_COUNT_LEVEL, TAIL_P, judged_residuals, small_count_outliers
from budgetgym.envs.errors import count

__all__ = ["MAD_SD", "OUTLIER_LIST", "OUTLIER_Z", "negative_kpi_warning", "outlier_warning", "robust_z"]

#: A period whose standardised residual is more than this many robust standard deviations (1.4826 MAD)
#: from the median is warned of (:func:`outlier_warning`); at most :data:`OUTLIER_LIST` are named.
#: Gaussian residuals pass 5 robust sd once in 1.7 million periods, so a clean fit stays silent.
OUTLIER_Z = 5.0
OUTLIER_LIST = 3
#: The MAD of normal residuals times this is their standard deviation.
MAD_SD = 1.4826


def _listed(named: list[str]) -> str:
    """The first :data:`OUTLIER_LIST` of the periods ``named``, and how many more."""
    more = f" and {len(named) - OUTLIER_LIST} more" if len(named) > OUTLIER_LIST else ""
    return ", ".join(named[:OUTLIER_LIST]) + more


def negative_kpi_warning(y: np.ndarray, dates: np.ndarray, kpi: str) -> list[str]:
    r"""A warning naming the periods whose KPI is negative (module docstring), or none.

    Parameters
    ----------
    y : ``[T]`` the KPI.
    dates : ``[T]`` the periods' dates.
    kpi : its column.

    Returns
    -------
    ``[]``, or one line with how many periods :math:`y_t < 0`, the first :data:`OUTLIER_LIST` of them by
    date, and their sum :math:`\sum_{t: y_t < 0} y_t`.
    """
    neg = np.flatnonzero(y < 0)
    if not len(neg):
        return []
    named = _listed([str(pd.Timestamp(dates[t]).date()) for t in neg])
    return [f"the KPI '{kpi}' is negative in {count(len(neg), 'period')} ({named}; sum "
            f"{float(y[neg].sum()):,.6g}), which the Gaussian fit takes as they are: returns or corrections netted "
            f"out, or a data error; check the KPI column (a count likelihood refuses them)"]


def robust_z(r: np.ndarray) -> np.ndarray:
    r"""Robust standardised residuals along the last axis, :math:`z_t = (r_t - \mathrm{med}\, r) / s` with
    :math:`s = 1.4826\, \mathrm{med}\,|r - \mathrm{med}\, r|` (:data:`MAD_SD`: a normal's sd from its MAD); ``NaN``
    throughout a row whose MAD is 0 (no scale to judge by)."""
    dev = r - np.median(r, axis=-1, keepdims=True)
    s = MAD_SD * np.median(np.abs(dev), axis=-1, keepdims=True)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(s > 0, dev / np.where(s > 0, s, 1.0), np.nan)


def _tail_warning(fit: Fit, dates: np.ndarray, hits: np.ndarray, p: np.ndarray) -> list[str]:
    """The outlier warning of a count fit below one count a period: ``hits`` (least probable first) with their
    tail probabilities ``p``."""
    if not len(hits):
        return []
    named = _listed([f"{pd.Timestamp(dates[t]).date()} (KPI {fit.y[t]:,.6g}, fitted {fit.fitted[t]:,.6g}, "
                     f"P {p[t]:.2g})" for t in hits])
    return [f"{count(len(hits), 'outlying period')} (a count of tail probability below {TAIL_P:g} under the fitted "
            f"mean, about 5 sd; fewer than {MIN_COUNT_LEVEL:g} count a period, so no robust residual scale): {named}; "
            f"a data error or an event the controls do not cover, which the fit bends to (R², the curves): fix the "
            f"data, or add a control column marking the period (--controls)"]


def outlier_warning(fit: Fit, dates: np.ndarray) -> list[str]:
    r"""A warning naming the periods whose standardised residual is an outlier (module docstring), or none.

    Parameters
    ----------
    fit : the fit; its residuals :math:`r_t`, :func:`~budgetgym.calibration.residuals.judged_residuals`.
    dates : ``[T]`` the periods' dates, to name them.

    Returns
    -------
    ``[]``, or one line naming at most :data:`OUTLIER_LIST` periods with
    :math:`|r_t - \mathrm{med}\, r| > z\, s`, :math:`s = 1.4826\, \mathrm{med}\,|r - \mathrm{med}\, r|`,
    :math:`z` = :data:`OUTLIER_Z`, the largest first, and how many more. Silent when the MAD of the raw
    residuals :math:`y_t - \hat\mu_t` is below :math:`10^{-6}` of the KPI's mean ``|y|``: a fit exact to
    rounding (noise-free data) has no scale to judge by. A count fit below
    :data:`~budgetgym.calibration.residuals.MIN_COUNT_LEVEL` counts a period (most periods 0: no robust scale) names
    instead the periods whose count is improbable under the fitted mean,
    :math:`\min(P(Y \ge y_t), P(Y \le y_t))` below :data:`~budgetgym.calibration.residuals.TAIL_P`
    (:func:`~budgetgym.calibration.residuals.small_count_outliers`).
    """
    small = small_count_outliers(fit)
    if small is not None:
        return _tail_warning(fit, dates, *small)
    e = fit.residuals
    r = judged_residuals(fit)
    if r is None or not np.median(np.abs(e - np.median(e))) > 1e-6 * float(np.mean(np.abs(fit.y))):
        return []
    z = robust_z(r)
    if not np.isfinite(z).all():
        return []
    hits = np.flatnonzero(np.abs(z) > OUTLIER_Z)
    if not len(hits):
        return []
    hits = hits[np.argsort(-np.abs(z[hits]), kind="stable")]
    named = _listed([f"{pd.Timestamp(dates[t]).date()} (KPI {fit.y[t]:,.6g}, fitted {fit.fitted[t]:,.6g}, "
                     f"{z[t]:+.0f} sd)" for t in hits])
    kind = "residual" if fit.spec.likelihood == "gaussian" else "deviance residual"
    return [f"{count(len(hits), 'outlying period')} ({kind} beyond {OUTLIER_Z:g} robust sd, "
            f"{MAD_SD:g} MAD): {named}; a data error or an event the controls do not cover, which the fit bends "
            f"to (R², the curves): fix the data, or add a control column marking the period (--controls)"]
