r"""Variable projection: the calibration model's least-squares problem over its nonlinear parameters.

For fixed nonlinear parameters :math:`\phi` (:class:`~budgetgym.calibration.transforms.Layout`:
per channel the carry-over's, :math:`u = \ln(\kappa/\text{typical})`, the Hill slope, with a delay
its mean lag, with the media season the cycle's two coefficients) the model's mean
(:mod:`~budgetgym.calibration.model`) is linear in the rest, so with :math:`W` the periods' weights
(:math:`\sqrt{w_t}` = ``sw``), :math:`B` the baseline design and :math:`H(\phi)` the media features,

.. math::

    \tilde y = P(W y), \quad \tilde H = P(W H(\phi)), \quad P = I - QQ^\top \ (QR = WB), \quad
    \beta(\phi) = \arg\min_{\beta \ge 0} \lVert \tilde y - \tilde H \beta \rVert^2

and :class:`Problem` minimises :math:`\lVert \tilde y - \tilde H \beta(\phi) \rVert^2 +
\lVert \text{penalty}(\phi) \rVert^2` over :math:`\phi` within its bounds
(:func:`scipy.optimize.least_squares`, trust region reflective; :meth:`Problem.jacobian` a
forward difference recomputing only the moved channel's column); the baseline's coefficients
follow from :math:`R c = Q^\top (W y - W H \beta)`. The penalty is the priors' pseudo-residuals,
each :math:`\hat\sigma (z - \zeta)/\text{sd}`: :data:`PRIOR_U_SD` on :math:`u`,
:data:`PRIOR_SLOPE_SD` on the slope around 1, the half-normal :data:`PRIOR_DECAY_SD` on the weekly
decay, :data:`PRIOR_SEASON_SD` on the season's coefficients (their reasons:
:mod:`~budgetgym.calibration.model`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy.optimize import least_squares, nnls

from budgetgym.calibration.transforms import (
    Layout,
    adstock_column,
    channel_delay,
    features,
    media_season,
    response_column,
)

__all__ = ["PRIOR_DECAY_SD", "PRIOR_SEASON_SD", "PRIOR_SLOPE_SD", "PRIOR_U_SD", "Problem"]

PRIOR_U_SD = float(np.log(3.0))
PRIOR_SLOPE_SD = 0.5
PRIOR_SEASON_SD = 0.15
PRIOR_DECAY_SD = 0.4  # half-normal on the weekly decay (0: none)


@dataclass
class Problem:
    """The projected least-squares problem for one weighting of the periods (module docstring)."""

    layout: Layout
    media: np.ndarray  # [T, K]
    ref: np.ndarray  # [K] typical exposure m_i
    B: np.ndarray  # [T, p]
    days: np.ndarray  # [T] day index of each period
    sw: np.ndarray  # [T] sqrt of the weights
    weak: np.ndarray  # [K] bool
    prior_scale: float = 0.0
    season_prior: bool = False  # the prior on the media seasonality's a, b
    Q: np.ndarray = field(init=False)
    R: np.ndarray = field(init=False)

    def __post_init__(self) -> None:
        self.Q, self.R = np.linalg.qr(self.B * self.sw[:, None])

    def project(self, v: np.ndarray) -> np.ndarray:
        return v - self.Q @ (self.Q.T @ v)

    def solve(self, phi: np.ndarray, ytil: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(H, beta, projected weighted residual)`` for ``phi``."""
        H = features(self.layout, self.media, phi, self.ref, self.days)
        Ht = self.project(H * self.sw[:, None])
        beta = nnls(Ht, ytil)[0]
        return H, beta, ytil - Ht @ beta

    def penalty(self, phi: np.ndarray, shift: np.ndarray | None = None) -> np.ndarray:
        """The priors' pseudo-residuals (module docstring); ``shift`` moves each prior's mean by that
        many of its sds (a draw from the prior: :func:`~budgetgym.calibration.model.refit`)."""
        if self.prior_scale <= 0:
            return np.zeros(0)
        p = self.layout.split(phi)[self.weak]
        parts = [p[:, self.layout.n_adstock] / PRIOR_U_SD]
        if self.layout.saturation == "hill":
            parts.append((p[:, self.layout.n_adstock + 1] - 1.0) / PRIOR_SLOPE_SD)
        if PRIOR_DECAY_SD > 0 and self.layout.adstock == "geometric":
            parts.append(np.maximum(p[:, 0], 0.0) ** (7.0 / self.layout.step_days) / PRIOR_DECAY_SD)
        if self.season_prior:
            parts.append(self.layout.season_coef(phi) / PRIOR_SEASON_SD)
        z = np.concatenate(parts)
        return self.prior_scale * (z if shift is None else z - shift)

    def jacobian(self, phi: np.ndarray, ytil: np.ndarray) -> np.ndarray:
        """Forward-difference Jacobian of ``[projected residual, penalty]`` at ``phi`` (the steps of
        ``least_squares``' ``2-point`` scheme, away from the upper bound). A channel's parameter
        moves only that channel's feature column, so each difference recomputes one column (from
        the cached adstock when the parameter acts after it) and re-solves the (small)
        non-negative least squares, instead of every channel's transforms; only the shared media
        seasonality recomputes them all."""
        lay = self.layout
        K, per = lay.n_channels, lay.per_channel
        _, hi = lay.bounds()
        p = lay.split(phi)
        s = media_season(lay, phi, self.days)
        stocks = [adstock_column(lay, self.media[:, i], p[i]) for i in range(K)]
        delays = [channel_delay(lay, p[i]) for i in range(K)]
        cols = [response_column(lay, *stocks[i], p[i], float(self.ref[i]), s, delays[i]) for i in range(K)]
        Ht = self.project(np.column_stack(cols) * self.sw[:, None])
        r0 = np.concatenate([ytil - Ht @ nnls(Ht, ytil)[0], self.penalty(phi)])
        J = np.empty((len(r0), len(phi)))
        for j in range(len(phi)):
            h = 1.4901161193847656e-08 * max(1.0, abs(float(phi[j])))
            h = -h if phi[j] + h > hi[j] else h
            moved = phi.copy()
            moved[j] += h
            if j < K * per:
                i, k = divmod(j, per)
                slot = moved[i * per: (i + 1) * per]
                a, wbar = adstock_column(lay, self.media[:, i], slot) if k < lay.n_adstock else stocks[i]
                q = channel_delay(lay, slot) if lay.delay and k == per - 1 else delays[i]
                H2 = Ht.copy()
                H2[:, i] = self.project(response_column(lay, a, wbar, slot, float(self.ref[i]), s, q) * self.sw)
            else:
                H2 = self.project(features(lay, self.media, moved, self.ref, self.days) * self.sw[:, None])
            r = np.concatenate([ytil - H2 @ nnls(H2, ytil)[0], self.penalty(moved)])
            J[:, j] = (r - r0) / h
        return J

    def fit(
        self, y: np.ndarray, start: np.ndarray, tol: float, max_nfev: int | None = None,
        shift: np.ndarray | None = None,
    ) -> tuple[np.ndarray, float]:
        """Least squares over ``phi`` from ``start`` (Jacobian: :meth:`jacobian`): ``(phi, cost)``;
        at most ``max_nfev`` evaluations of the residual (default ``200 + 10 n_phi``; each
        iteration takes one or a few); ``shift``: :meth:`penalty`'s (its Jacobian does not depend on it)."""
        ytil = self.project(y * self.sw)
        lo, hi = self.layout.bounds()

        def resid(phi: np.ndarray) -> np.ndarray:
            return np.concatenate([self.solve(phi, ytil)[2], self.penalty(phi, shift)])

        res = least_squares(resid, np.clip(start, lo, hi), jac=lambda phi: self.jacobian(phi, ytil), bounds=(lo, hi),
                            method="trf", ftol=tol, xtol=tol, gtol=tol,
                            max_nfev=max_nfev or 200 + 10 * self.layout.size)
        return res.x, float(res.cost)

    def linear(self, phi: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(H, beta, coef)``: the features and the exact linear coefficients at ``phi``."""
        yw = y * self.sw
        H, beta, _ = self.solve(phi, self.project(yw))
        coef = np.linalg.solve(self.R, self.Q.T @ (yw - (H * self.sw[:, None]) @ beta))
        return H, beta, coef
