"""Response curves: cost -> exposure, and saturation of adstocked exposure.

Each curve is a plain numpy function with its first and second derivative, so
the simulator (which needs values) and the oracle (which needs gradients and
curvature) use the same formulas. All functions broadcast over arrays.

Units
-----
``x``  spend in one step, currency.
``e``  exposure bought in that step: impressions (``unit: impression``) or clicks
       (``unit: click``).
``a``  adstocked exposure (same unit as ``e``).
``f``  expected conversions generated in the step (conversions per step).
"""

from __future__ import annotations

from typing import Protocol

import numpy as np

__all__ = [
    "CurveBank",
    "array_power",
    "curve_family",
    "derivative_floor",
    "derivative_point",
    "saturate",
    "exposure",
    "exposure_d1",
    "exposure_d2",
    "hill",
    "hill_d1",
    "hill_d2",
    "hill_u_max",
    "logistic",
    "logistic_d1",
    "logistic_d2",
]


def array_power(base: np.ndarray, exponent: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    r"""``base ** exponent`` elementwise, rounded the same whatever ``exponent``'s layout.

    numpy's ``power`` loop takes ``sqrt`` / ``square`` (correctly rounded) for an exponent of 0.5 / 2 that is
    the same for the whole inner loop (stride 0) and its SIMD ``pow`` (within 1 ulp) otherwise, so a channel
    parameter ``[K]`` broadcast over rows ``[n, K]`` and the same parameter stored per row gave different
    last bits for ``K = 1`` (the env's and the vector env's price at an elasticity of 0.5: hypothesis seed 46
    of session 26). The exponent is expanded to the result's shape first (no copy when it has it already).
    """
    b, e = np.asarray(base), np.asarray(exponent)
    shape = np.broadcast_shapes(b.shape, e.shape)
    if e.shape != shape:
        e = np.array(np.broadcast_to(e, shape))  # a real array, not a stride-0 view
    return np.power(b, e, out=out)


# ------------------------------------------------------------------------- cost
def exposure(x: np.ndarray, scale: np.ndarray, ref_spend: np.ndarray, elasticity: np.ndarray) -> np.ndarray:
    r"""Exposure bought with spend ``x`` under auction pressure.

    The effective unit price rises with the volume bought,

    .. math:: p(x) = p_0 \, m_c(t) \, (1 + x / x_{ref})^{\eta},

    so the exposure is

    .. math:: e(x) = u \, x / p(x) = s \; x \, (1 + x / x_{ref})^{-\eta},
              \qquad s = u / (p_0 m_c(t)),

    with ``u = 1000`` impressions per CPM unit (``u = 1`` for clicks).

    Parameters
    ----------
    x : spend per step (currency), ``>= 0``.
    scale : ``s = u / (p0 * m_c(t))``, exposure per currency unit at zero volume.
    ref_spend : ``x_ref`` (currency per step) > 0.
    elasticity : ``eta`` in [0, 1]. ``eta = 0`` is a fixed price; ``eta = 1`` caps the
        exposure at ``s * x_ref`` (an inventory limit). ``e`` is increasing and concave
        in ``x`` for ``eta`` in [0, 1].
    """
    return scale * x * np.power(1.0 + x / ref_spend, -elasticity)


def exposure_d1(x: np.ndarray, scale: np.ndarray, ref_spend: np.ndarray, elasticity: np.ndarray) -> np.ndarray:
    r"""``de/dx = s (1 + w)^{-\eta-1} (1 + (1-\eta) w)`` with ``w = x / x_ref``."""
    w = x / ref_spend
    return scale * np.power(1.0 + w, -elasticity - 1.0) * (1.0 + (1.0 - elasticity) * w)


def exposure_d2(x: np.ndarray, scale: np.ndarray, ref_spend: np.ndarray, elasticity: np.ndarray) -> np.ndarray:
    r"""``d^2e/dx^2 = -s \eta (1 + w)^{-\eta-2} (2 + (1-\eta) w) / x_{ref}`` (never positive)."""
    w = x / ref_spend
    return -scale * elasticity * np.power(1.0 + w, -elasticity - 2.0) * (2.0 + (1.0 - elasticity) * w) / ref_spend


# ------------------------------------------------------------------------- Hill
def hill_u_max(slope: np.ndarray) -> np.ndarray:
    r"""Cap of the Hill ratio ``u = a / kappa``: :math:`\min(10^{300}, 10^{100/s})`.

    The Hill functions evaluate ``u`` capped here, so that ``r = u**s <= 1e100`` and every power
    they take (``u**s``, ``u**(2s-2)``, ``(1 + r)**3``) stays finite for any ``a``, even ``inf``.
    Below the cap the results are those of the plain formulas to the last bit. Past it
    ``r >= 1e100`` (for ``s >= 1/3``), where ``1 + r == r`` in float64, so ``f`` is ``beta`` to
    within one rounding whether capped or not, and the derivatives are below
    :math:`10^{-100} \beta s / \kappa` either way. (For ``s < 1/3`` the cap is
    ``a / kappa = 1e300``, next to the end of the float range.) Compute it once per channel and
    pass it as ``u_max`` on hot paths.
    """
    return 10.0 ** np.minimum(300.0, 100.0 / np.asarray(slope, dtype=float))


def _hill_ratio(
    a: np.ndarray, kappa: np.ndarray, slope: np.ndarray, u_max: np.ndarray | None, out: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """``u = min(a / kappa, u_max)`` and ``r = u**slope`` (``<= 1e100``); with ``out`` both are
    computed in it (``u`` then overwritten: both returned arrays are ``out``, holding ``r``)."""
    u = np.minimum(np.divide(a, kappa, out=out), hill_u_max(slope) if u_max is None else u_max, out=out)
    return u, np.power(u, slope, out=out)


def hill(
    a: np.ndarray, beta: np.ndarray, kappa: np.ndarray, slope: np.ndarray, u_max: np.ndarray | None = None,
    out: np.ndarray | None = None,
) -> np.ndarray:
    r"""Hill saturation :math:`f(a) = \beta a^s / (a^s + \kappa^s)`, as :math:`\beta r / (1 + r)`
    with :math:`r = (a/\kappa)^s`.

    Parameters
    ----------
    a : adstocked exposure, ``>= 0``.
    beta : conversions per step at saturation (``max_response``).
    kappa : half-saturation point, in exposure units (``f(kappa) = beta / 2``).
    slope : ``s``; ``s <= 1`` is concave, ``s > 1`` S-shaped with its inflection at
        :math:`\kappa ((s-1)/(s+1))^{1/s}`.
    u_max : :func:`hill_u_max` of ``slope`` (computed when ``None``): ``a / kappa`` is capped
        there, so no power overflows and ``f`` is finite (``beta``) for any ``a``, even ``inf``.
    out : an array of the result's shape to compute in (the same numbers; ``a`` itself may be
        it), else a new one.
    """
    r = _hill_ratio(a, kappa, slope, u_max, out)[1]
    den = np.add(1.0, r)
    return np.divide(np.multiply(beta, r, out=out), den, out=out)


def hill_d1(
    a: np.ndarray, beta: np.ndarray, kappa: np.ndarray, slope: np.ndarray, u_max: np.ndarray | None = None
) -> np.ndarray:
    r"""``f'(a) = beta s r / (a (1 + r)^2)`` with ``r = (a/kappa)^s``, written as
    ``beta s (a/kappa)^(s-1) / (kappa (1+r)^2)`` so it is finite at ``a = 0`` for ``s >= 1``
    (``u_max`` as for :func:`hill`)."""
    u, r = _hill_ratio(a, kappa, slope, u_max)
    return beta * slope * np.power(u, slope - 1.0) / (kappa * (1.0 + r) ** 2)


def hill_d2(
    a: np.ndarray, beta: np.ndarray, kappa: np.ndarray, slope: np.ndarray, u_max: np.ndarray | None = None
) -> np.ndarray:
    r"""``f''(a) = beta s r ((s - 1) - (s + 1) r) / (a^2 (1 + r)^3)``, evaluated as
    ``beta s ((s - 1) u^(s-2) - (s + 1) u^(2s-2)) / (kappa^2 (1 + r)^3)`` with ``u = a/kappa``
    so that ``s = 1`` gives the finite ``-2 beta / kappa^2`` at ``a = 0`` (``u_max`` as for
    :func:`hill`)."""
    u, r = _hill_ratio(a, kappa, slope, u_max)
    with np.errstate(divide="ignore", invalid="ignore"):
        first = np.where(slope == 1.0, 0.0, (slope - 1.0) * np.power(u, slope - 2.0))
    return beta * slope * (first - (slope + 1.0) * np.power(u, 2.0 * slope - 2.0)) / (kappa**2 * (1.0 + r) ** 3)


# --------------------------------------------------------------------- logistic
def logistic(a: np.ndarray, beta: np.ndarray, rate: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    r"""Logistic saturation (PyMC-Marketing)
    :math:`f(a) = \beta (1 - e^{-\lambda a}) / (1 + e^{-\lambda a}) = \beta \tanh(\lambda a / 2)`.

    ``beta``: conversions per step at saturation; ``rate`` :math:`\lambda` per exposure unit.
    Concave for ``a >= 0``. ``out`` as for :func:`hill`.
    """
    return np.multiply(beta, np.tanh(np.multiply(0.5 * rate, a, out=out), out=out), out=out)


def logistic_d1(a: np.ndarray, beta: np.ndarray, rate: np.ndarray) -> np.ndarray:
    r"""``f'(a) = beta lambda / 2 (1 - tanh^2(lambda a / 2))``."""
    th = np.tanh(0.5 * rate * a)
    return 0.5 * beta * rate * (1.0 - th * th)


def logistic_d2(a: np.ndarray, beta: np.ndarray, rate: np.ndarray) -> np.ndarray:
    r"""``f''(a) = -beta lambda^2 / 2 tanh(lambda a / 2) (1 - tanh^2(lambda a / 2))``."""
    th = np.tanh(0.5 * rate * a)
    return -0.5 * beta * rate * rate * th * (1.0 - th * th)


# ----------------------------------------------------------------- a bank of curves
class CurveBank(Protocol):
    """Per-curve parameter arrays (the last axis: one entry per channel, or per segment), as
    :class:`~budgetgym.envs.channel_model.ChannelModel` and :class:`~budgetgym.envs.segments.SegmentModel`
    hold them; ``curve_family`` from :func:`curve_family`."""

    @property
    def is_hill(self) -> np.ndarray: ...
    @property
    def beta(self) -> np.ndarray: ...
    @property
    def kappa(self) -> np.ndarray: ...
    @property
    def slope(self) -> np.ndarray: ...
    @property
    def hill_u_max(self) -> np.ndarray: ...
    @property
    def rate(self) -> np.ndarray: ...
    @property
    def curve_family(self) -> str: ...


def curve_family(is_hill: np.ndarray, slope: np.ndarray) -> str:
    """``"hill1"`` (every curve Hill with slope 1), ``"hill"``, ``"logistic"`` or ``"mixed"``."""
    if is_hill.all():
        return "hill1" if bool(np.all(slope == 1.0)) else "hill"
    return "logistic" if not is_hill.any() else "mixed"


def saturate(bank: CurveBank, a: np.ndarray, order: int = 0, out: np.ndarray | None = None) -> np.ndarray:
    """The bank's curves at ``a`` (broadcast over the last axis): ``f`` (``order`` 0), ``f'`` (1)
    or ``f''`` (2), Hill or logistic per entry. ``out`` (``order`` 0): an array of the result's
    shape in which the curves of a bank of one family are computed (the same numbers; ``a`` itself
    may be it); the result is returned either way (a new array for a mixed bank)."""
    family = bank.curve_family
    if order == 0 and family == "hill1":
        # slope 1 (Michaelis-Menten): skip the power, but cap u = a / kappa at hill_u_max (1e100) as
        # hill() does, so beta * u cannot overflow (f is beta for any a, even inf); the same bits below it
        u = np.minimum(np.divide(a, bank.kappa, out=out), bank.hill_u_max, out=out)
        den = np.add(1.0, u)
        return np.divide(np.multiply(bank.beta, u, out=out), den, out=out)
    hill_fn, logistic_fn = ((hill, logistic), (hill_d1, logistic_d1), (hill_d2, logistic_d2))[order]
    into = (out,) if order == 0 else ()  # only the curves themselves compute in ``out``
    if family in ("hill", "hill1"):
        return hill_fn(a, bank.beta, bank.kappa, bank.slope, bank.hill_u_max, *into)
    if family == "logistic":
        return logistic_fn(a, bank.beta, bank.rate, *into)
    with np.errstate(divide="ignore", invalid="ignore"):
        h = hill_fn(a, bank.beta, bank.kappa, bank.slope, bank.hill_u_max)
    return np.where(bank.is_hill, h, logistic_fn(a, bank.beta, bank.rate))


# ------------------------------------------------------- where the derivatives are taken
#: :func:`derivative_point`'s floor, relative to the curve (``kappa``, ``1 / rate``) and to the largest adstock.
DERIVATIVE_RTOL = 1e-12
#: The lowest the floor goes, relative to the curve's own floor (so 1e-30 of ``kappa``): the curves' second
#: derivatives stay finite there (:func:`derivative_point`).
DERIVATIVE_DEEPEST = 1e-18


def derivative_floor(bank: CurveBank) -> np.ndarray:
    r"""The bank's derivative floor :math:`\underline a = 10^{-12} \kappa` (Hill; :math:`10^{-12} / \lambda`
    logistic), per entry: :func:`derivative_point` raises an adstock of 0 to it."""
    return DERIVATIVE_RTOL * np.where(bank.is_hill, bank.kappa, 1.0 / bank.rate)


def derivative_point(a: np.ndarray, floor: np.ndarray) -> np.ndarray:
    r"""The adstock at which the curves' derivatives are taken for adstock ``a`` ``[..., T, K]`` (steps on the
    second-to-last axis, curves on the last; ``floor`` from :func:`derivative_floor`, broadcast):

    .. math::  \tilde a_{t,i} = \max\big(a_{t,i},\ \max(\min(\underline a_i,\ 10^{-12} \max_\tau a_{\tau,i}),\
               10^{-18} \underline a_i)\big)

    (:math:`\underline a_i` alone where every :math:`a_{\tau,i}` is 0). A Hill slope below 1 has
    :math:`f'(0) = \infty`, so an adstock of 0 (a step no spend reaches) is raised to a floor. The floor is
    relative to the curve (:math:`10^{-12} \kappa`) and, where the channel's own adstock stays far below its
    curve, to that adstock: on a channel whose spend buys 5e-14 of ``kappa`` (a price of 1e15 a click) the
    curve's floor alone put every step's derivative at the floor, the gradient 4.6x off the value's slope,
    and the barrier method's line searches made no progress (13 s of CPU to plan a 3-channel family whose
    neighbours took 0.2 s; ``tests/fixtures/property_examples/far_below_half_saturation_family.json``). Where the
    channel's adstock reaches 1e12 floors (every channel that buys its curve's scale) this is
    ``max(a, floor)``, the same numbers. The floor goes no lower than :data:`DERIVATIVE_DEEPEST` of the curve's
    (1e-30 of ``kappa``): a channel whose adstock is 1e-70 of its curve (an outage multiplying its exposure by
    2.6e-70) had its Hill curve's second derivative overflow to -inf at 1e-12 of that, and the Hessian's
    ``inf * 0`` NaN stopped the barrier method with ``LinAlgError`` (hypothesis, seed 57)."""
    top = np.max(a, axis=-2, keepdims=True)
    low = np.where(top > 0.0, np.maximum(np.minimum(floor, DERIVATIVE_RTOL * top), DERIVATIVE_DEEPEST * floor),
                   floor)
    return np.maximum(a, low)
