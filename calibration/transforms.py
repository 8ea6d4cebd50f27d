r"""The media transforms a calibration fits, and the parameters that shape them.

For channel ``i`` with exposure ``e_{t,i}`` (impressions or clicks per period; the spend, in
currency, when no exposure column is given):

**Carry-over** (unnormalised, as budgetgym's default adstock; exposure before the first
period is zero):

* ``geometric``: :math:`a_{t,i} = \sum_{l=0}^{t} \theta_i^l e_{t-l,i}`, i.e. Robyn's recursion
  :math:`a_t = e_t + \theta a_{t-1}`; :math:`\theta_i \in [0, 0.9]` per week (Robyn searches
  [0, 0.8] for weekly data, its hard limit is < 1; 0.9 per week is a half-life of 6.6 weeks, the
  slowest TV carry-over MMMs report), i.e. :math:`[0, 0.9^{\Delta/7}]` per period of
  :math:`\Delta` days (0.985 a day, 0.63 a month).
* ``weibull_cdf`` / ``weibull_pdf``: :math:`a_{t,i} = \sum_{l<L} w_l e_{t-l,i}` with Robyn's
  Weibull weights over ``L`` lags (:func:`budgetgym.envs.kernels.adstock_kernel`, the same
  formulas): CDF :math:`w_0 = 1, w_l = \prod_{j=1}^{l} e^{-(j/\lambda)^k}` with
  :math:`k \in [0.1, 2]`; PDF :math:`w_l` = the Weibull density at :math:`l + 1` min-max
  normalised to [0, 1], :math:`k \in [0.5, 5]` (a lagged peak when :math:`k > 1`);
  scale :math:`\lambda \in [0.3, L]` periods.

**Saturation** of the adstocked exposure (dimensionless, in [0, 1)):

* ``hill``: :math:`h(a) = a^s / (\kappa^s + a^s)`, :math:`s \in [0.5, 3]` (Robyn's search range);
* ``logistic``: :math:`h(a) = \tanh(a / (2 \kappa))` (PyMC-Marketing's logistic with rate
  :math:`\lambda = 1/\kappa`).

:math:`\kappa_i` (exposure units) is parameterised relative to the channel's typical adstocked
exposure, :math:`\kappa_i = m_i \bar w_i e^{u_i}` with :math:`m_i` the median of the channel's
nonzero exposures and :math:`\bar w_i = \sum_l w_l` (:math:`1/(1-\theta)` for geometric): the
adstock a sustained typical exposure builds. :math:`u_i \in [\ln 0.05, \ln 5]`, i.e.
:math:`\kappa` within 0.05–5 times that level. Outside it the data cannot tell the curve's
shape: far above the observed exposures the curve is linear there (only
:math:`\beta / \kappa^s` is identified), far below it is flat (the channel is a constant,
absorbed by the intercept). Meridian's prior on its ``ec`` (the same ratio, on the median)
spans [0.1, 10]; Robyn's ``gamma`` spans [0.01, 1] of the maximum, about [0.03, 3] of the
median for typical flighting. Relative ``u`` also makes the fit better conditioned: raising
:math:`\theta` scales :math:`a` and the reference alike, so :math:`u` need not move.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
from scipy.signal import lfilter

__all__ = ["AdstockKind", "Layout", "SaturationKind", "adstock_weights", "features", "typical_exposure"]

AdstockKind = Literal["geometric", "weibull_cdf", "weibull_pdf"]
SaturationKind = Literal["hill", "logistic"]

THETA_MAX = 0.9
KAPPA_RATIO = (0.05, 5.0)
SLOPE = (0.5, 3.0)
WEIBULL_SHAPE = {"weibull_cdf": (0.1, 2.0), "weibull_pdf": (0.5, 5.0)}


def adstock_weights(kind: AdstockKind, params: np.ndarray, window: int) -> np.ndarray:
    """Weights ``w[0..L-1]`` of one channel's carry-over (module docstring); ``params`` is
    ``[theta]`` (geometric, ``L`` = ``window``) or ``[shape, scale]`` (Weibull).

    :func:`budgetgym.envs.kernels.adstock_kernel`'s formulas, restated without its pydantic
    config and ``scipy.stats`` (8x faster, in the fit's inner loop);
    ``tests/test_calibration_fit.py`` checks that the two agree."""
    lags = np.arange(window, dtype=float)
    if kind == "geometric":
        return params[0] ** lags
    k, lam = float(params[0]), float(params[1])
    if kind == "weibull_cdf":
        survival = np.exp(-((lags[1:] / lam) ** k))
        return np.cumprod(np.concatenate(([1.0], survival)))
    x = lags + 1.0
    dens = (k / lam) * (x / lam) ** (k - 1.0) * np.exp(-((x / lam) ** k))
    span = dens.max() - dens.min()
    return (dens - dens.min()) / span if span > 0 else np.ones_like(dens)


@dataclass(frozen=True)
class Layout:
    """Where each channel's nonlinear parameters sit in the vector ``phi`` the fit optimises.

    Per channel, in order: the carry-over's (``theta``; or Weibull ``shape, scale``), then
    ``u = ln(kappa / (m w̄))``, then the Hill ``slope`` (not for ``logistic``).
    """

    adstock: AdstockKind
    saturation: SaturationKind
    n_channels: int
    window: int  # Weibull lags L (geometric: the recursion runs over all periods)
    step_days: float = 7.0  # days per period: scales the geometric decay's bound and start

    @property
    def n_adstock(self) -> int:
        return 1 if self.adstock == "geometric" else 2

    @property
    def per_channel(self) -> int:
        return self.n_adstock + (2 if self.saturation == "hill" else 1)

    @property
    def size(self) -> int:
        return self.per_channel * self.n_channels

    def names(self) -> list[str]:
        """Parameter names per channel slot (``theta``/``shape``, ``scale``, ``u``, ``slope``)."""
        ad = ["theta"] if self.adstock == "geometric" else ["shape", "scale"]
        return ad + ["u"] + (["slope"] if self.saturation == "hill" else [])

    def split(self, phi: np.ndarray) -> np.ndarray:
        """``phi`` (or ``[..., size]`` draws) as ``[..., K, per_channel]``."""
        return np.asarray(phi).reshape(*np.shape(phi)[:-1], self.n_channels, self.per_channel)

    def bounds(self) -> tuple[np.ndarray, np.ndarray]:
        """Lower and upper bounds of ``phi`` (module docstring)."""
        if self.adstock == "geometric":
            lo, hi = [0.0], [THETA_MAX ** (self.step_days / 7.0)]
        else:
            k_lo, k_hi = WEIBULL_SHAPE[self.adstock]
            lo, hi = [k_lo, 0.3], [k_hi, float(max(self.window, 1))]
        lo, hi = lo + [np.log(KAPPA_RATIO[0])], hi + [np.log(KAPPA_RATIO[1])]
        if self.saturation == "hill":
            lo, hi = lo + [SLOPE[0]], hi + [SLOPE[1]]
        return np.tile(lo, self.n_channels), np.tile(hi, self.n_channels)

    def central(self) -> np.ndarray:
        """The default start: modest carry-over (0.3 a week), kappa at the typical exposure, slope 1."""
        ad = [0.3 ** (self.step_days / 7.0)] if self.adstock == "geometric" else [1.0, min(2.0, float(self.window))]
        return np.tile(ad + [0.0] + ([1.0] if self.saturation == "hill" else []), self.n_channels)


def typical_exposure(media: np.ndarray) -> np.ndarray:
    """``m_i``: the median of each channel's nonzero exposures (``[K]``)."""
    return np.array([np.median(col[col > 0]) if np.any(col > 0) else 1.0 for col in media.T])


def adstocked(layout: Layout, media: np.ndarray, phi: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(A, wbar)``: the adstocked exposure ``[T, K]`` and each channel's weight sum ``[K]``."""
    T, K = media.shape
    p = layout.split(phi)
    A = np.empty((T, K))
    wbar = np.empty(K)
    for i in range(K):
        if layout.adstock == "geometric":
            theta = float(p[i, 0])
            A[:, i] = lfilter([1.0], [1.0, -theta], media[:, i])
            wbar[i] = 1.0 / (1.0 - theta)
        else:
            w = adstock_weights(layout.adstock, p[i, :2], layout.window)
            A[:, i] = np.convolve(media[:, i], w)[:T]
            wbar[i] = w.sum()
    return A, wbar


def kappas(layout: Layout, phi: np.ndarray, ref: np.ndarray, wbar: np.ndarray) -> np.ndarray:
    """``kappa_i = m_i w̄_i exp(u_i)`` (exposure units)."""
    return ref * wbar * np.exp(layout.split(phi)[:, layout.n_adstock])


def saturate(layout: Layout, A: np.ndarray, kappa: np.ndarray, phi: np.ndarray) -> np.ndarray:
    """``h(a)`` per period and channel (module docstring), in [0, 1)."""
    if layout.saturation == "logistic":
        return np.tanh(A / (2.0 * kappa))
    s = layout.split(phi)[:, layout.n_adstock + 1]
    r = np.power(np.maximum(A, 0.0) / kappa, s)
    return r / (1.0 + r)


def features(layout: Layout, media: np.ndarray, phi: np.ndarray, ref: np.ndarray) -> np.ndarray:
    """``H[t, i] = h_i(a_{t,i})``: the saturated adstocked exposure, the columns ``beta`` multiplies."""
    A, wbar = adstocked(layout, media, phi)
    return saturate(layout, A, kappas(layout, phi, ref, wbar), phi)
