"""Carry-over (adstock) and delay kernels.

Both effects are linear filters over a finite window and are represented by a
weight vector ``w[0..L-1]`` (lag 0 first):

* adstock:  ``a_t = sum_{l=0}^{L-1} w_l e_{t-l}``      (exposure -> adstocked exposure)
* delay:    ``c_t = sum_{d=0}^{D-1} q_d r_{t-d}``      (response -> conversions arriving at t)

Exposure and response before step 0 are zero (the campaign starts from rest).
"""

from __future__ import annotations

import math
from typing import Literal

import numpy as np

from budgetgym.envs.scenario import (
    AdstockConfig,
    DelayConfig,
    GammaDelay,
    GeometricAdstock,
    GeometricDelay,
    NoAdstock,
    NoDelay,
    WeibullAdstock,
)

__all__ = ["adstock_kernel", "delay_kernel", "geometric_window", "lag_matrix", "stack_kernels",
           "weibull_weights", "gamma_lag_weights", "geometric_lag_weights"]

GEOMETRIC_TAIL = 1e-8
#: ``weibull_pdf`` densities whose peak is below this are min-max normalised from their logarithm,
#: :math:`f_l / \max f = e^{\log f_l - \max \log f}` (the same weights: min-max normalisation is
#: scale-free), since a sharp density (large shape, small scale) underflows to 0 at every lag.
PDF_FLOOR = 1e-250


def geometric_window(decay: float, horizon: int) -> int:
    """Lags kept for geometric adstock: until ``decay**l < 1e-8``, at most ``horizon``."""
    if decay <= 0.0:
        return 1
    needed = int(math.ceil(math.log(GEOMETRIC_TAIL) / math.log(decay))) + 1
    return max(1, min(horizon, needed))


def adstock_kernel(cfg: AdstockConfig, horizon: int) -> np.ndarray:
    r"""Adstock weights ``w[0..L-1]``.

    * ``geometric``: :math:`w_l = \theta^l` (Robyn's recursion
      :math:`a_t = e_t + \theta a_{t-1}`), window from :func:`geometric_window` unless given.
    * ``weibull_cdf``: :math:`w_0 = 1,\ w_l = \prod_{j=1}^{l} (1 - F(j; k, \lambda))`
      with the Weibull CDF :math:`F(j) = 1 - e^{-(j/\lambda)^k}` (Robyn).
    * ``weibull_pdf``: :math:`w_l` is the Weibull density at :math:`l + 1`, min-max
      normalised to [0, 1] (Robyn); a lagged peak when :math:`k > 1`. The normalisation is
      computed from the densities relative to their peak when they underflow
      (:data:`PDF_FLOOR`); only a constant density (one lag) gives weights all 1.
    * ``none``: ``[1]``.

    With ``normalize: true`` the weights are divided by their sum.
    """
    if isinstance(cfg, NoAdstock):
        return np.ones(1)
    if isinstance(cfg, GeometricAdstock):
        window = cfg.window if cfg.window is not None else geometric_window(cfg.decay, horizon)
        w = cfg.decay ** np.arange(window, dtype=float)
    elif isinstance(cfg, WeibullAdstock):
        w = weibull_weights(cfg.type, cfg.shape, cfg.scale, cfg.window)
    else:  # pragma: no cover - the discriminated union admits nothing else
        raise TypeError(f"unknown adstock {cfg!r}")
    if cfg.normalize and w.sum() > 0:
        w = w / w.sum()
    return np.asarray(w, dtype=float)


def weibull_weights(
    kind: Literal["weibull_cdf", "weibull_pdf"], shape: float, scale: float, window: int
) -> np.ndarray:
    r"""Robyn's Weibull carry-over weights ``w[0..L-1]`` (``L`` = ``window``), unnormalised: the one
    definition :func:`adstock_kernel` and the calibration fit (``calibration.transforms.adstock_weights``)
    both call.

    * ``weibull_cdf``: :math:`w_0 = 1,\ w_l = \prod_{j=1}^{l} e^{-(j/\lambda)^k}`.
    * ``weibull_pdf``: the density :math:`f(x) = (k/\lambda)(x/\lambda)^{k-1} e^{-(x/\lambda)^k}` at
      :math:`x = l + 1`, min-max normalised to [0, 1]; from :math:`e^{\log f - \max \log f}` when
      the peak is below :data:`PDF_FLOOR` (the same weights, without the underflow).

    Plain numpy and ``scipy.special`` (no ``scipy.stats``: 8x faster, and it runs in the fit's
    inner loop), in ``scipy.stats.weibull_min``'s order of operations (``x/scale``, then ``pdf(x)
    / scale``, ``logpdf(x) - log(scale)``), so the weights are those ``sf``, ``pdf`` and ``logpdf``
    give to the last bit.
    """
    z = np.arange(1, window + 1, dtype=float) / scale
    # the shape as an array like z, as scipy broadcasts it: numpy's power takes another (faster,
    # differently rounded) loop for a scalar exponent
    k = np.full_like(z, shape)
    if kind == "weibull_cdf":
        survival = np.exp(-np.power(z[:-1], k[:-1]))
        return np.cumprod(np.concatenate(([1.0], survival)))
    zk = np.power(z, k)
    dens = k * np.power(z, k - 1) * np.exp(-zk) / scale
    top = dens.max()
    if not top >= PDF_FLOOR:  # underflow (a sharp density): relative to its peak instead
        from scipy import special  # here: scipy.special adds ~0.3 s to `import budgetgym`, for two kernels

        logd = np.log(k) + special.xlogy(k - 1, z) - zk - np.log(scale)
        dens = np.exp(logd - logd.max())
        top = dens.max()
    low = dens.min()
    span = top - low
    return (dens - low) / span if span > 0 else np.ones_like(dens)


def delay_kernel(cfg: DelayConfig) -> np.ndarray:
    r"""Lag distribution ``q[0..D-1]`` (sums to 1) of when conversions arrive.

    * ``none``: ``[1]``.
    * ``geometric``: :math:`q_d \propto (1-\rho)\rho^d`, :math:`\rho = m / (1 + m)` (mean lag
      ``m`` before truncation), truncated to ``window`` lags and renormalised.
    * ``gamma``: :math:`q_d \propto F(d + 1/2) - F(d - 1/2)` with :math:`F` the gamma CDF of
      shape :math:`k` and scale :math:`m / k` (``F(-1/2) = 0``), truncated and renormalised.
    """
    if isinstance(cfg, NoDelay):
        return np.ones(1)
    if isinstance(cfg, GeometricDelay):
        return geometric_lag_weights(cfg.mean_lag, cfg.window)
    if isinstance(cfg, GammaDelay):
        return gamma_lag_weights(cfg.shape, cfg.mean_lag, cfg.window)
    raise TypeError(f"unknown delay {cfg!r}")  # pragma: no cover


def geometric_lag_weights(mean_lag: float, window: int) -> np.ndarray:
    r"""The geometric conversion lag ``q[0..L-1]`` (``L`` = ``window``; sums to 1):
    :math:`q_d \propto (1 - \rho) \rho^d` with :math:`\rho = m / (1 + m)` (:math:`m \ge 0` the mean lag in
    periods before truncation; the share arriving in the response's own period is :math:`1 / (1 + m)`),
    truncated to ``L`` lags and renormalised. The one definition :func:`delay_kernel` and the calibration fit
    (``calibration.transforms.delay_weights``) both call."""
    d = np.arange(window, dtype=float)
    rho = mean_lag / (1.0 + mean_lag)
    q = (1.0 - rho) * rho**d
    return q / q.sum()


def gamma_lag_weights(shape: float, mean_lag: float, window: int) -> np.ndarray:
    r"""The discretised gamma conversion lag ``q[0..L-1]`` (``L`` = ``window``; sums to 1):
    :math:`q_d \propto F(d + 1/2) - F(d - 1/2)`, :math:`F` the gamma CDF of shape :math:`k` and
    scale :math:`m / k` (mean lag :math:`m > 0` periods before truncation; ``F(-1/2) = 0``). The one
    definition :func:`delay_kernel` and the calibration fit (``calibration.transforms.delay_weights``)
    both call: ``scipy.special.gammainc`` on ``x / scale``, as ``scipy.stats.gamma.cdf`` computes
    it (the same numbers, without ``scipy.stats``' argument handling in the fit's inner loop)."""
    from scipy import special  # here, as in weibull_weights

    x = (np.arange(window, dtype=float) + 0.5) / (mean_lag / shape)
    cdf = special.gammainc(shape, x)
    q = np.diff(np.concatenate(([0.0], cdf)))
    return q / q.sum()


def stack_kernels(kernels: list[np.ndarray]) -> np.ndarray:
    """Kernels of different lengths as rows ``[n, L]`` (``L`` the longest), zero weight past each one's end."""
    width = max(len(k) for k in kernels)
    out = np.zeros((len(kernels), width))
    for i, k in enumerate(kernels):
        out[i, : len(k)] = k
    return out


def lag_matrix(kernel: np.ndarray, horizon: int) -> np.ndarray:
    """Lower-triangular Toeplitz matrix ``M[t, tau] = kernel[t - tau]`` (zero outside the window),
    so that ``M @ series`` applies the filter to a whole episode."""
    idx = np.arange(horizon)
    lag = idx[:, None] - idx[None, :]
    padded = np.zeros(horizon + 1)
    n = min(len(kernel), horizon)
    padded[:n] = kernel[:n]
    lag = np.where((lag >= 0) & (lag < n), lag, horizon)
    return padded[lag]
