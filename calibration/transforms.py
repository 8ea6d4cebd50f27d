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
  Weibull weights over ``L`` lags (:func:`budgetgym.envs.kernels.weibull_weights`, the function
  the environment's ``adstock_kernel`` calls): CDF :math:`w_0 = 1, w_l = \prod_{j=1}^{l}
  e^{-(j/\lambda)^k}` with :math:`k \in [0.1, 2]`; PDF :math:`w_l` = the Weibull density at
  :math:`l + 1` min-max normalised to [0, 1], :math:`k \in [0.5, 5]` (a lagged peak when :math:`k > 1`);
  scale :math:`\lambda \in [0.3, L]` periods.

**Conversion delay** (``delay``, optional): the response of a period arrives over the
following periods, :math:`r_{t,i} = \sum_d q_{d,i}\, \beta_i h_i(a_{t-d,i})` — after the
saturation, as budgetgym's ``delay`` (:func:`budgetgym.envs.kernels.delay_kernel`), with mean lag
:math:`m_i \in [0, 42 \text{ days}]` (six weeks, 0 = no delay) in one of two forms per channel, each
truncated to its window (:meth:`Layout.window_for`) and renormalised:

* ``gamma`` (``delay=True``: every channel's): the discretised gamma lag
  :math:`q_d \propto F(d + 1/2) - F(d - 1/2)` (``F(-1/2) = 0``), :math:`F` the gamma CDF of shape 2 and
  scale :math:`m_i / 2`; it puts :math:`F(1/2)` in the response's own period (10% at :math:`m = 1.8`) and
  peaks later;
* ``geometric``: :math:`q_d \propto (1 - \rho_i) \rho_i^d`, :math:`\rho_i = m_i / (1 + m_i)`, the
  environment's geometric lag (:func:`budgetgym.envs.kernels.geometric_lag_weights`): :math:`1 / (1 + m_i)` of
  the conversions in the response's period (36% at :math:`m = 1.8`), then :math:`\times \rho_i` a period.

``delay`` is a tuple of forms, one per channel (``calibrate --delay geometric`` or ``auto``,
:mod:`~budgetgym.calibration.delay_choice`), or ``True`` for all gamma. The form is no parameter of the fit:
both have the one mean lag. A shape-2 lag cannot put most conversions in the response's period, so on a
geometric-lag channel the fit moved the lag's tail into the carry-over before the curve and bent the curve
(``benchmarks/README.md``, issue 11's session 32). A consideration lag puts the peak of a channel's effect
periods after its spend (online video's, or any channel bought ahead of purchases); geometric
carry-over peaks at lag 0, so without the delay the fit can only smear such a response over a
long decay, or miss it. Carry-over before the curve and delay after it are told apart only by
the curve's bend, so their split is weakly identified; their product (the shape of the
response over time) is what the data fixes.

**Media seasonality** (``season=True``, optional): every channel's response is multiplied by a
yearly cycle :math:`s_t = 1 + a \cos(2\pi d_t/365.25) + b \sin(2\pi d_t/365.25)` (``d_t`` the
day index) in the period it is generated, before the delay spreads it:
:math:`r_{t,i} = \sum_d q_{d,i}\, s_{t-d}\, \beta_i h_i(a_{t-d,i})`. :math:`a, b \in [-0.5, 0.5]`, two
parameters shared by the channels, i.e. budgetgym's ``seasonality.demand``, whose response
multiplier also acts before the delay (yearly amplitude :math:`\sqrt{a^2 + b^2}`, peak
:math:`\operatorname{atan2}(b, a)\, 365.25 / 2\pi`). Demand that peaks in December makes a
given spend convert more then; without the term the fitted curves describe the year's average,
which misstates the response in a planning window near the peak or the trough.

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

from budgetgym.envs.kernels import gamma_lag_weights, geometric_lag_weights, weibull_weights

__all__ = ["DELAY_FORMS", "AdstockKind", "DelayForm", "DelaySpec", "Layout", "SaturationKind", "adstock_column",
           "adstock_weights", "channel_delay", "channel_feature", "delay_weights", "features", "response_column",
           "steady_state", "typical_exposure", "weight_sums"]

AdstockKind = Literal["geometric", "weibull_cdf", "weibull_pdf"]
SaturationKind = Literal["hill", "logistic"]
DelayForm = Literal["gamma", "geometric"]
DELAY_FORMS: tuple[DelayForm, ...] = ("gamma", "geometric")
#: A delay per channel: ``False`` none, ``True`` the gamma lag for every channel, or each channel's form.
DelaySpec = bool | tuple[DelayForm, ...]

THETA_MAX = 0.9
KAPPA_RATIO = (0.05, 5.0)
SLOPE = (0.5, 3.0)
DELAY_MAX_DAYS = 42.0
DELAY_SHAPE = 2.0
SEASON_MAX = 0.5
YEAR_DAYS = 365.25
WEIBULL_SHAPE = {"weibull_cdf": (0.1, 2.0), "weibull_pdf": (0.5, 5.0)}


def adstock_weights(kind: AdstockKind, params: np.ndarray, window: int) -> np.ndarray:
    """Weights ``w[0..L-1]`` of one channel's carry-over (module docstring); ``params`` is
    ``[theta]`` (geometric, ``L`` = ``window``) or ``[shape, scale]`` (Weibull: the environment's
    own :func:`budgetgym.envs.kernels.weibull_weights`, without ``adstock_kernel``'s pydantic
    config, so the fitted weights are the exported scenario's)."""
    if kind == "geometric":
        return params[0] ** np.arange(window, dtype=float)
    return weibull_weights(kind, float(params[0]), float(params[1]), window)


def delay_weights(mean_lag: float, window: int, form: DelayForm = "gamma") -> np.ndarray:
    """The conversion lag ``q[0..L-1]`` of ``form`` (the gamma of shape :data:`DELAY_SHAPE`, or the geometric)
    and ``mean_lag`` periods (module docstring; ``[1, 0, ...]`` at ``mean_lag = 0``), summing to 1: the
    environment's own :func:`budgetgym.envs.kernels.gamma_lag_weights` or
    :func:`~budgetgym.envs.kernels.geometric_lag_weights`, so the fitted delay is the exported scenario's."""
    if mean_lag <= 1e-9:
        q = np.zeros(max(1, window))
        q[0] = 1.0
        return q
    if form == "geometric":
        return geometric_lag_weights(mean_lag, max(1, window))
    return gamma_lag_weights(DELAY_SHAPE, mean_lag, max(1, window))


@dataclass(frozen=True)
class Layout:
    """Where each channel's nonlinear parameters sit in the vector ``phi`` the fit optimises.

    Per channel, in order: the carry-over's (``theta``; or Weibull ``shape, scale``), then
    ``u = ln(kappa / (m w̄))``, then the Hill ``slope`` (not for ``logistic``), then the delay's
    mean ``lag`` (with ``delay``; its form, :attr:`forms`, is no parameter). After all channels, with
    ``season``: the media seasonality's ``a, b`` (module docstring).
    """

    adstock: AdstockKind
    saturation: SaturationKind
    n_channels: int
    window: int  # Weibull lags L (geometric: the recursion runs over all periods)
    step_days: float = 7.0  # days per period: scales the geometric decay's bound and start
    delay: DelaySpec = False  # a conversion lag per channel: True for gamma everywhere, or each channel's form
    season: bool = False  # a yearly cycle multiplying every channel's response

    def __post_init__(self) -> None:
        if isinstance(self.delay, tuple) and (len(self.delay) != self.n_channels
                                              or any(f not in DELAY_FORMS for f in self.delay)):
            raise ValueError(f"Layout: expected one delay form of {DELAY_FORMS} per channel ({self.n_channels}), "
                             f"got {self.delay}")

    @property
    def n_adstock(self) -> int:
        return 1 if self.adstock == "geometric" else 2

    @property
    def forms(self) -> tuple[DelayForm, ...]:
        """Each channel's delay form (``()`` without ``delay``)."""
        if isinstance(self.delay, tuple):
            return self.delay
        gamma: tuple[DelayForm, ...] = ("gamma",)
        return gamma * self.n_channels if self.delay else ()

    @property
    def per_channel(self) -> int:
        return self.n_adstock + (2 if self.saturation == "hill" else 1) + int(bool(self.delay))

    @property
    def n_global(self) -> int:
        """Parameters shared by the channels (the media seasonality's ``a, b``)."""
        return 2 if self.season else 0

    @property
    def size(self) -> int:
        return self.per_channel * self.n_channels + self.n_global

    @property
    def max_lag(self) -> float:
        """Upper bound of the delay's mean lag, in periods."""
        return DELAY_MAX_DAYS / self.step_days

    @property
    def delay_window(self) -> int:
        """Lags of the gamma delay kernel: enough for 99.9% of the longest gamma lag (9.23 scales; at
        least 2 lags)."""
        return int(max(2, np.ceil(9.23 * self.max_lag / DELAY_SHAPE) + 1))

    def window_for(self, form: DelayForm) -> int:
        r"""Lags of a delay kernel of ``form``: :attr:`delay_window` for the gamma; for the geometric, enough for
        99.9% of the longest lag, :math:`\rho^L \le 10^{-3}` at :math:`\rho = M / (1 + M)`, ``M`` =
        :attr:`max_lag` (45 lags of a week; at least 2)."""
        if form == "gamma":
            return self.delay_window
        rho = self.max_lag / (1.0 + self.max_lag)
        return int(max(2, np.ceil(np.log(1e-3) / np.log(rho))))

    def names(self) -> list[str]:
        """Parameter names per channel slot (``theta``/``shape``, ``scale``, ``u``, ``slope``, ``lag``)."""
        ad = ["theta"] if self.adstock == "geometric" else ["shape", "scale"]
        return ad + ["u"] + (["slope"] if self.saturation == "hill" else []) + (["lag"] if self.delay else [])

    def split(self, phi: np.ndarray) -> np.ndarray:
        """``phi`` (or ``[..., size]`` draws) per channel, as ``[..., K, per_channel]``."""
        phi = np.asarray(phi)[..., : self.per_channel * self.n_channels]
        return phi.reshape(*np.shape(phi)[:-1], self.n_channels, self.per_channel)

    def season_coef(self, phi: np.ndarray) -> np.ndarray:
        """The media seasonality's ``(a, b)`` (``[..., 2]``; zeros without ``season``)."""
        phi = np.asarray(phi)
        if not self.season:
            return np.zeros((*phi.shape[:-1], 2))
        return phi[..., self.per_channel * self.n_channels:]

    def lags(self, phi: np.ndarray) -> np.ndarray:
        """Each channel's mean delay in periods (``[..., K]``; zeros without ``delay``)."""
        p = self.split(phi)
        return p[..., -1] if self.delay else np.zeros(p.shape[:-1])

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
        if self.delay:
            lo, hi = lo + [0.0], hi + [self.max_lag]
        g = [SEASON_MAX] * self.n_global
        return (np.concatenate([np.tile(lo, self.n_channels), np.negative(g)]),
                np.concatenate([np.tile(hi, self.n_channels), g]))

    def central(self) -> np.ndarray:
        """The default start: modest carry-over (0.3 a week), kappa at the typical exposure, slope 1,
        a delay of half a week (at most half the bound), no seasonality."""
        ad = [0.3 ** (self.step_days / 7.0)] if self.adstock == "geometric" else [1.0, min(2.0, float(self.window))]
        per = ad + [0.0] + ([1.0] if self.saturation == "hill" else [])
        per += [min(3.5 / self.step_days, 0.5 * self.max_lag)] if self.delay else []
        return np.concatenate([np.tile(per, self.n_channels), np.zeros(self.n_global)])


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


def steady_state(layout: Layout, phi: np.ndarray, ref: np.ndarray, exposure: np.ndarray) -> np.ndarray:
    r"""``h_i(w̄_i e)``: the saturation of the adstock an exposure ``e`` sustained every period builds
    (``exposure`` ``[n, K]``, the result too). The delay spreads it over later periods without
    changing its sum and the media seasonality averages 1 over a year, so ``beta_i`` times this
    is the channel's KPI per period at that steady state, averaged over a year."""
    wbar = weight_sums(layout, phi)
    return saturate(layout, np.asarray(exposure, dtype=float) * wbar, kappas(layout, phi, ref, wbar), phi)


def weight_sums(layout: Layout, phi: np.ndarray) -> np.ndarray:
    """``w̄_i = sum_l w_l``: each channel's carry-over weight sum (``1/(1 - theta)`` for geometric)."""
    p = layout.split(phi)
    if layout.adstock == "geometric":
        return np.asarray(1.0 / (1.0 - p[:, 0]))
    return np.array([adstock_weights(layout.adstock, p[i, :2], layout.window).sum() for i in range(layout.n_channels)])


def season(layout: Layout, phi: np.ndarray, days: np.ndarray) -> np.ndarray:
    """The media seasonality ``s_t`` (module docstring; ones without ``season``)."""
    a, b = layout.season_coef(phi)
    w = 2 * np.pi * np.asarray(days, dtype=float) / YEAR_DAYS
    return 1.0 + a * np.cos(w) + b * np.sin(w)


def adstock_column(layout: Layout, exposure: np.ndarray, params: np.ndarray) -> tuple[np.ndarray, float]:
    """``(a, w̄)``: one channel's adstocked exposure and weight sum (``params``: its slot of ``phi``)."""
    if layout.adstock == "geometric":
        theta = float(params[0])
        return lfilter([1.0], [1.0, -theta], exposure), 1.0 / (1.0 - theta)
    w = adstock_weights(layout.adstock, params[:2], layout.window)
    return np.convolve(exposure, w)[: len(exposure)], float(w.sum())


def channel_delay(layout: Layout, params: np.ndarray, channel: int) -> np.ndarray | None:
    """Channel ``channel``'s delay kernel, of its form (``params``: its slot of ``phi``; ``None``: no delay, or a
    mean lag of 0)."""
    if not layout.delay or params[-1] <= 1e-9:
        return None
    form = layout.forms[channel]
    return delay_weights(float(params[-1]), layout.window_for(form), form)


def response_column(
    layout: Layout, a: np.ndarray, wbar: float, params: np.ndarray, ref: float, season_t: np.ndarray | None,
    delay: np.ndarray | None,
) -> np.ndarray:
    """One channel's column of :func:`features` from its adstock ``(a, w̄)`` (:func:`adstock_column`)
    and delay kernel (:func:`channel_delay`)."""
    kappa = ref * wbar * np.exp(params[layout.n_adstock])
    if layout.saturation == "logistic":
        h = np.tanh(a / (2.0 * kappa))
    else:
        r = np.power(np.maximum(a, 0.0) / kappa, params[layout.n_adstock + 1])
        h = r / (1.0 + r)
    if season_t is not None:
        h = h * season_t
    return h if delay is None else np.convolve(h, delay)[: len(h)]


def channel_feature(
    layout: Layout, exposure: np.ndarray, params: np.ndarray, ref: float, channel: int,
    season_t: np.ndarray | None = None,
) -> np.ndarray:
    """One column of :func:`features`: channel ``channel``'s ``params`` (its slot of ``phi``), typical exposure
    ``ref`` and the media seasonality ``season_t`` (``None``: none)."""
    a, wbar = adstock_column(layout, exposure, params)
    return response_column(layout, a, wbar, params, ref, season_t, channel_delay(layout, params, channel))


def media_season(layout: Layout, phi: np.ndarray, days: np.ndarray | None) -> np.ndarray | None:
    """:func:`season` when the layout has it (``None`` otherwise)."""
    if not layout.season:
        return None
    if days is None:
        raise ValueError("features: the media seasonality needs the periods' days")
    return season(layout, phi, days)


def features(
    layout: Layout, media: np.ndarray, phi: np.ndarray, ref: np.ndarray, days: np.ndarray | None = None
) -> np.ndarray:
    """``H[t, i]``: the saturated adstocked exposure ``h_i(a_{t,i})``, times the media seasonality
    and spread by the delay when the layout has them (``days``: the periods' day indices, needed
    with ``season``) — the columns ``beta`` multiplies."""
    p = layout.split(phi)
    s = media_season(layout, phi, days)
    return np.column_stack([channel_feature(layout, media[:, i], p[i], float(ref[i]), i, s)
                            for i in range(layout.n_channels)])
