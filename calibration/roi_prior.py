r"""The pooled return-on-spend prior's rows (``ModelSpec.roi_prior`` = :math:`\tau`, ``roi_prior_form``): linear
or log, and the log form's linearisation (why the prior, and its figures: :mod:`~budgetgym.calibration.model`).

Channel ``i``'s return on its data spend :math:`S_i` is :math:`r_i = \beta_i m_i(\phi) / S_i`
(:math:`m_i = \sum_t H_{t,i}(\phi)`); the rows join the non-negative least squares with one more unknown, the
pooled return :math:`\bar r \ge 0` (:mod:`~budgetgym.calibration.projection`), so each must be linear in
:math:`(\beta, \bar r)` for fixed :math:`\phi`.

**Linear** (``roi_prior_form="linear"``): the pseudo-residual :math:`\hat\sigma (r_i - \bar r) / (\tau \bar
r_0)`, :math:`\bar r_0` the return on the whole spend of the fit with the other priors.

**Log** (``roi_prior_form="log"``, the default): the prior is on log returns, :math:`\ln r_i - \ln \bar r \sim N(0,
\tau^2)` (Meridian's LogNormal ROI prior, pooled), the pseudo-residual :math:`\hat\sigma (\ln r_i - \ln \bar r)
/ \tau`. It is not linear in :math:`(\beta, \bar r)`, so it is linearised around current estimates
:math:`r_{i0}, \bar r_0` (first-order Taylor expansion of the logarithm):

.. math::

    \ln r_i - \ln \bar r \approx \frac{r_i}{r_{i0}} - \frac{\bar r}{\bar r_0} + \ln \frac{r_{i0}}{\bar r_0},
    \qquad \text{row}_i = \frac{\hat\sigma}{\tau} \Big(\frac{r_i}{r_{i0}} - \frac{\bar r}{\bar r_0}
    + \ln \frac{r_{i0}}{\bar r_0}\Big)

(in the stacked system: :math:`\hat\sigma m_i / (\tau S_i r_{i0})` on :math:`\beta_i`, :math:`-\hat\sigma /
(\tau \bar r_0)` on :math:`\bar r`, target :math:`-(\hat\sigma/\tau) \ln(r_{i0}/\bar r_0)`), and the fit is
made with the rows at their fixed point, relinearised at its own estimate (:meth:`RoiRows.relinearised`) until the
log values :math:`\ln r_{i0}, \ln \bar r_0` move less than :data:`LOG_TOL`: for the curves :math:`\phi` held by
non-negative least squares alone, inside every evaluation of the fit over :math:`\phi`
(:mod:`~budgetgym.calibration.roi_fixed_point` has the maths, and the cap, :data:`LOG_ROUNDS` fits). At the
fixed point :math:`r_i = r_{i0}`, :math:`\bar r = \bar r_0`: the row equals the log residual and its
derivatives (in :math:`\beta`, :math:`\bar r` and, through :math:`m_i`, :math:`\phi`) the log residual's, so
the fixed point is a stationary point of the log prior's objective (Gauss–Newton's). The linear form is the
log form linearised at :math:`r_{i0} = \bar r_0` for every channel, held there. A channel fitted at zero has
:math:`\ln r_i = -\infty`: its anchor is floored at :data:`ROI_FLOOR` of :math:`\bar r_0`, so its row is a
steep but finite pull (the log proper would forbid zero).

**The bootstrap's refits** (:func:`~budgetgym.calibration.refits.refit`) start from the point fit's last
linearisation and relinearise it at their own estimate the same way, warm-started, to their own fixed point
(:func:`~budgetgym.calibration.roi_fixed_point.log_fixed_point`; within :data:`LOG_TOL`): kept at the point
fit's anchors, a replicate whose returns differ from the point estimate's was pulled by the log prior's tangent
at the wrong point, :math:`r_i / r_{i0}` for :math:`\ln r_i` (on a replicate with one channel's contribution
doubled and another's halved, :math:`\beta` 3-4% off the exact log objective's solution at its curves;
relinearised, to 1e-7). A linear form's row is its own linearisation: its refits fit once.

**Prior draws** (``--prior-draws``, :mod:`~budgetgym.calibration.uncertainty`): each refit also moves each
row's centre by :math:`\zeta_i \sim N(0, 1)` sds (the row's target by :math:`\hat\sigma \zeta_i`: a pooled
return offset by :math:`\zeta_i \tau \bar r_0`, or a log return by :math:`\zeta_i \tau`), as the other priors'
means are moved (:meth:`~budgetgym.calibration.projection.Problem.split_shift`). In the log form the target
moves by :math:`\hat\sigma \zeta_i` at every relinearisation, so at the fixed point the row is
:math:`(\hat\sigma/\tau)(\ln r_i - \ln \bar r - \zeta_i \tau)`: the centre moved on the log scale, whatever
the anchors; the refit's coefficients (and the pooled return its anchors follow) are solved with the moved
centres too.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Literal

import numpy as np

if TYPE_CHECKING:  # it imports this module
    from budgetgym.calibration.projection import Problem

__all__ = ["ANDERSON_MEMORY", "LOG_ROUNDS", "LOG_TOL", "ROI_FLOOR", "RoiForm", "RoiRows", "Settled", "anderson_step",
           "roi_rows"]

RoiForm = Literal["linear", "log"]
#: The log form's anchor :math:`r_{i0}` is at least this share of the pooled :math:`\bar r_0` (module docstring).
ROI_FLOOR = 0.01
#: The log form's fits: at most this many, until the anchors' logs move less than :data:`LOG_TOL`.
LOG_ROUNDS = 8
LOG_TOL = 1e-3
#: :func:`anderson_step`'s memory: the differences of the last this many steps.
ANDERSON_MEMORY = 5


@dataclass(frozen=True)
class RoiRows:
    r"""The pooled return-on-spend prior's rows (module docstring): each channel's data spend, the rows' weight
    (linear: :math:`\hat\sigma / (\tau \bar r_0)`; log: :math:`\hat\sigma / \tau`), and for the log form the
    anchors :math:`r_{i0}` (``[K]``, floored) and :math:`\bar r_0` (``pooled``); ``scale``: :math:`\hat\sigma`, a
    prior draw's shift of one sd in a row's target. A channel without spend in the data (an exposure column
    alone, e.g. organic reach) has no return on spend, and no row."""

    spend: np.ndarray  # [K] each channel's total spend over the fitted periods (currency, >= 0)
    weight: float
    anchor: np.ndarray | None = None  # [K] log form: r_i0 (None: the linear form)
    pooled: float = 1.0  # log form: r-bar_0
    scale: float = 0.0  # sigma-hat

    def __len__(self) -> int:
        return int(np.sum(self.spend > 0))

    @property
    def form(self) -> RoiForm:
        return "linear" if self.anchor is None else "log"

    def rows(self, m: np.ndarray) -> np.ndarray:
        """``[len(self), K + 1]``: the row of spent channel ``i`` is ``weight m_i / S_i`` (log: divided by
        ``r_i0``) in column ``i`` (its ``beta``) and ``-weight`` (log: ``-weight / pooled``) in the last (the
        pooled return), 0 elsewhere; ``m`` ``[K]``: each channel's feature column summed over the periods."""
        spent = np.flatnonzero(self.spend > 0)
        R = np.zeros((len(spent), len(self.spend) + 1))
        c = m[spent] / self.spend[spent]
        if self.anchor is None:
            R[np.arange(len(spent)), spent] = self.weight * c
            R[:, -1] = -self.weight
        else:
            R[np.arange(len(spent)), spent] = self.weight * c / self.anchor[spent]
            R[:, -1] = -self.weight / self.pooled
        return R

    def target(self, shift: np.ndarray | None = None) -> np.ndarray:
        r"""The rows' part of the stacked target: 0 (linear) or :math:`-(\hat\sigma/\tau) \ln(r_{i0}/\bar r_0)`
        (log), plus ``scale * shift`` (a prior draw's, ``[len(self)]``)."""
        t = np.zeros(len(self))
        if self.anchor is not None:
            t = -self.weight * np.log(self.anchor[self.spend > 0] / self.pooled)
        return t if shift is None else t + self.scale * shift

    def returns(self, m: np.ndarray, beta: np.ndarray) -> np.ndarray:
        r"""Each channel's return on its data spend :math:`\beta_i m_i / S_i` (``[K]``, 0 without spend)."""
        S = self.spend
        return np.where(S > 0, beta * m / np.where(S > 0, S, 1.0), 0.0)

    def relinearised(self, m: np.ndarray, beta: np.ndarray, pooled: float) -> RoiRows:
        """The log form's rows linearised at the returns of ``beta`` (features summed ``m``) and the pooled
        return ``pooled`` (kept when not positive), the anchors floored at :data:`ROI_FLOOR` of it."""
        p = pooled if pooled > 0 else self.pooled
        return replace(self, anchor=np.maximum(self.returns(m, beta), ROI_FLOOR * p), pooled=p)

    def logs(self) -> np.ndarray:
        r"""The log form's anchors as one vector, :math:`(\ln r_{i0})_{i\ \text{spent}}` then :math:`\ln \bar r_0`
        (``[len(self) + 1]``): the fixed-point iteration's unknown (:func:`anderson_step`)."""
        if self.anchor is None:
            raise ValueError("the linear form has no anchors")
        return np.append(np.log(self.anchor[self.spend > 0]), np.log(self.pooled))

    def gap(self, other: RoiRows) -> float:
        r"""The largest move of the anchors' logs (:meth:`logs`) from these rows to ``other``'s, :math:`\lVert
        x' - x \rVert_\infty`: with ``other`` these rows :meth:`relinearised` at their own solve, the fixed-point
        test (:mod:`~budgetgym.calibration.roi_fixed_point`)."""
        return float(np.max(np.abs(other.logs() - self.logs())))

    def at_logs(self, x: np.ndarray) -> RoiRows:
        """These rows linearised at the anchors of :meth:`logs`-vector ``x`` (each floored at :data:`ROI_FLOOR` of
        the pooled return, as :meth:`relinearised`'s; an unspent channel's anchor, which no row reads, kept)."""
        if self.anchor is None:
            raise ValueError("the linear form has no anchors")
        pooled = float(np.exp(x[-1]))
        anchor = self.anchor.copy()
        anchor[self.spend > 0] = np.maximum(np.exp(x[:-1]), ROI_FLOOR * pooled)
        return replace(self, anchor=anchor, pooled=pooled)


@dataclass(frozen=True)
class Settled:
    """:meth:`~budgetgym.calibration.projection.Problem.settled`'s result: the problem (its log rows settled), and
    its last non-negative least squares at ``phi``, at those rows: the features ``H`` ``[T, K]``, the solution ``x``
    (``beta``, then with the return-on-spend rows the pooled return), the stacked target and residual, and the
    anchors' :meth:`RoiRows.gap` to that solve's returns (0 without log rows)."""

    problem: Problem
    H: np.ndarray
    x: np.ndarray
    target: np.ndarray
    residual: np.ndarray
    gap: float

    @property
    def beta(self) -> np.ndarray:
        return self.x[: self.problem.layout.n_channels]

    @property
    def pooled(self) -> float:
        """The pooled return (``nan`` without return-on-spend rows)."""
        return float(self.x[self.problem.layout.n_channels]) if self.problem.roi is not None else float("nan")


def anderson_step(xs: list[np.ndarray], gs: list[np.ndarray]) -> np.ndarray:
    r"""The next iterate of the fixed-point iteration :math:`x = g(x)` by Anderson acceleration (type II; Walker
    and Ni 2011) from its last iterates ``xs`` and their images ``gs`` (oldest first; at most
    :data:`ANDERSON_MEMORY` + 1 are used). With the residuals :math:`f_j = g_j - x_j` and the differences of the
    last :math:`m + 1` iterates as columns, :math:`\Delta F = [f_{j+1} - f_j]`, :math:`\Delta G = [g_{j+1} - g_j]`,

    .. math::

        \gamma = \arg\min_\gamma \lVert f_k - \Delta F \gamma \rVert_2, \qquad x_{k+1} = g_k - \Delta G \gamma

    (least squares): the combination of the last images whose linearly predicted residual is smallest. From a
    single iterate it is :math:`g_k`, the plain iteration. On an affine map :math:`g(x) = Ax + b` with memory at
    least the dimension it reaches the fixed point in at most dimension + 1 steps (it is GMRES on :math:`(I - A)x
    = b`), where the plain iteration's error shrinks by the spectral radius of :math:`A` a step."""
    xs, gs = xs[-ANDERSON_MEMORY - 1:], gs[-ANDERSON_MEMORY - 1:]
    if len(xs) == 1:
        return gs[-1]
    F = np.column_stack([g - x for x, g in zip(xs, gs, strict=True)])
    gamma = np.linalg.lstsq(np.diff(F, axis=1), F[:, -1], rcond=None)[0]
    return np.asarray(gs[-1] - np.diff(np.column_stack(gs), axis=1) @ gamma)


def roi_rows(
    spend: np.ndarray, H: np.ndarray, beta: np.ndarray, scale: float, tau: float, form: RoiForm = "linear"
) -> RoiRows | None:
    r"""The prior's rows (module docstring) for ``spend`` ``[T, K]`` and the fit with the other priors (features
    ``H`` ``[T, K]``, ``beta``): ``scale`` = :math:`\hat\sigma`, :math:`\bar r_0 = \sum_i \beta_i m_i / \sum_i
    S_i` that fit's return on the whole spend; the log form's first anchors that fit's returns (floored).
    ``None`` when that fit gives the media no contribution at all (no return to pool toward)."""
    S = spend.sum(axis=0)
    m = H.sum(axis=0)
    r0 = float(np.sum(beta * m) / np.sum(S))
    if not r0 > 0:
        return None
    if form == "linear":
        return RoiRows(spend=S, weight=scale / (tau * r0), scale=scale)
    return RoiRows(spend=S, weight=scale / tau, anchor=np.full(len(S), r0), pooled=r0,
                   scale=scale).relinearised(m, beta, r0)
