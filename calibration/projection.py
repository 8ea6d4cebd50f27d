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

**Lift tests** (:class:`LiftRows`, :mod:`~budgetgym.calibration.lift`) append rows to the linear
system: test ``j`` on channel ``i`` measured :math:`\Delta y_j \pm \sigma_j` where the model's
steady-state lift is :math:`\beta_i g_j(\phi)`, :math:`g_j = h_i(\bar w_i e_j^+) - h_i(\bar w_i e_j^-)`
(:func:`~budgetgym.calibration.transforms.steady_state`), linear in :math:`\beta` for fixed
:math:`\phi`; so

.. math::

    \beta(\phi) = \arg\min_{\beta \ge 0} \lVert \tilde y - \tilde H \beta \rVert^2
        + \sum_j \big(\hat\sigma (\Delta y_j - \beta_{i_j} g_j(\phi)) / \sigma_j\big)^2

(the non-negative least squares on the stacked system) and the same rows join the residual over
:math:`\phi`. The baseline does not enter them, so its projection and coefficients are unchanged.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np
from scipy.optimize import least_squares, nnls

from budgetgym.calibration.transforms import (
    Layout,
    adstock_column,
    channel_delay,
    features,
    media_season,
    response_column,
    steady_state,
)

__all__ = ["PRIOR_DECAY_SD", "PRIOR_SEASON_SD", "PRIOR_SLOPE_SD", "PRIOR_U_SD", "LiftRows", "Problem"]

PRIOR_U_SD = float(np.log(3.0))
PRIOR_SLOPE_SD = 0.5
PRIOR_SEASON_SD = 0.15
PRIOR_DECAY_SD = 0.4  # half-normal on the weekly decay (0: none)


@dataclass(frozen=True)
class LiftRows:
    """Lift tests in the model's units (``[J]`` each): the channel of each test, the exposure per
    period sustained before (``low``) and during it (``high``), the measured lift in KPI per period
    and its standard error (:mod:`~budgetgym.calibration.lift`)."""

    index: np.ndarray  # [J] int: channel
    low: np.ndarray  # [J] exposure per period at x
    high: np.ndarray  # [J] exposure per period at x + delta_x
    delta_y: np.ndarray  # [J] measured lift (KPI per period)
    sigma: np.ndarray  # [J] its standard error, > 0

    def __len__(self) -> int:
        return len(self.index)

    def features(self, layout: Layout, phi: np.ndarray, ref: np.ndarray) -> np.ndarray:
        """``G[j, i]``: ``g_j(phi)`` in the column of test ``j``'s channel, 0 elsewhere (``[J, K]``;
        the model's lift of test ``j`` is ``(G @ beta)[j]``)."""
        J, K = len(self.index), layout.n_channels
        rows = np.arange(J)
        e = np.zeros((2 * J, K))
        e[rows, self.index], e[J + rows, self.index] = self.high, self.low
        h = steady_state(layout, phi, ref, e)
        G = np.zeros((J, K))
        G[rows, self.index] = h[rows, self.index] - h[J + rows, self.index]
        return G


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
    lift: LiftRows | None = None  # lift tests (rows weighted by lift_scale / sigma)
    lift_scale: float = 0.0  # sigma-hat: the KPI residuals' scale the lift rows are weighted to
    Q: np.ndarray = field(init=False)
    R: np.ndarray = field(init=False)

    def __post_init__(self) -> None:
        self.Q, self.R = np.linalg.qr(self.B * self.sw[:, None])

    def with_weights(self, sw: np.ndarray) -> Problem:
        """The same problem (priors, lift rows and their scales) with other period weights ``sw``."""
        return replace(self, sw=sw)

    def project(self, v: np.ndarray) -> np.ndarray:
        return v - self.Q @ (self.Q.T @ v)

    @property
    def lift_weight(self) -> np.ndarray:
        """Each lift row's weight ``sigma-hat / sigma_j`` (module docstring)."""
        return np.zeros(0) if self.lift is None else self.lift_scale / self.lift.sigma

    def target(self, y: np.ndarray, lift_y: np.ndarray | None = None) -> np.ndarray:
        """The stacked left-hand side: the projected weighted KPI, then the weighted measured lifts
        (``lift_y``: other measurements than the tests', e.g. a bootstrap draw's)."""
        ytil = self.project(y * self.sw)
        if self.lift is None:
            return ytil
        dy = self.lift.delta_y if lift_y is None else lift_y
        return np.concatenate([ytil, self.lift_weight * dy])

    def design(self, Ht: np.ndarray, phi: np.ndarray) -> np.ndarray:
        """The stacked design: the projected weighted features, then the weighted lift rows."""
        if self.lift is None:
            return Ht
        return np.vstack([Ht, self.lift_weight[:, None] * self.lift.features(self.layout, phi, self.ref)])

    def solve(self, phi: np.ndarray, target: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(H, beta, stacked residual)`` for ``phi`` (``target``: :meth:`target`)."""
        H = features(self.layout, self.media, phi, self.ref, self.days)
        A = self.design(self.project(H * self.sw[:, None]), phi)
        beta = nnls(A, target)[0]
        return H, beta, target - A @ beta

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

    def jacobian(self, phi: np.ndarray, target: np.ndarray) -> np.ndarray:
        """Forward-difference Jacobian of ``[projected residual, penalty]`` at ``phi`` (the steps of
        ``least_squares``' ``2-point`` scheme, away from the upper bound). A channel's parameter
        moves only that channel's feature column, so each difference recomputes one column (from
        the cached adstock when the parameter acts after it) and re-solves the (small)
        non-negative least squares, instead of every channel's transforms (and that channel's lift
        rows, which its delay does not move); only the shared media seasonality recomputes them all."""
        lay = self.layout
        K, per = lay.n_channels, lay.per_channel
        _, hi = lay.bounds()
        p = lay.split(phi)
        s = media_season(lay, phi, self.days)
        stocks = [adstock_column(lay, self.media[:, i], p[i]) for i in range(K)]
        delays = [channel_delay(lay, p[i]) for i in range(K)]
        cols = [response_column(lay, *stocks[i], p[i], float(self.ref[i]), s, delays[i]) for i in range(K)]
        Ht = self.project(np.column_stack(cols) * self.sw[:, None])
        A = self.design(Ht, phi)
        r0 = np.concatenate([target - A @ nnls(A, target)[0], self.penalty(phi)])
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
                A2 = A.copy()
                A2[: len(Ht), i] = self.project(response_column(lay, a, wbar, slot, float(self.ref[i]), s, q) * self.sw)
                if self.lift is not None and not (lay.delay and k == per - 1):  # the lag leaves the steady state
                    A2[len(Ht):, i] = self.lift_weight * self.lift.features(lay, moved, self.ref)[:, i]
            else:
                A2 = self.design(self.project(features(lay, self.media, moved, self.ref, self.days) * self.sw[:, None]),
                                 moved)
            r = np.concatenate([target - A2 @ nnls(A2, target)[0], self.penalty(moved)])
            J[:, j] = (r - r0) / h
        return J

    def fit(
        self, y: np.ndarray, start: np.ndarray, tol: float, max_nfev: int | None = None,
        shift: np.ndarray | None = None, lift_y: np.ndarray | None = None,
    ) -> tuple[np.ndarray, float]:
        """Least squares over ``phi`` from ``start`` (Jacobian: :meth:`jacobian`): ``(phi, cost)``;
        at most ``max_nfev`` evaluations of the residual (default ``200 + 10 n_phi``; each
        iteration takes one or a few); ``shift``: :meth:`penalty`'s (its Jacobian does not depend on it);
        ``lift_y``: :meth:`target`'s."""
        target = self.target(y, lift_y)
        lo, hi = self.layout.bounds()
        # least_squares' gradient test (gtol) is absolute: on a KPI of 1e-7 a period the cost's gradient
        # is below any tolerance at the start, and the fit stopped there (R² 0.85 against 0.99 for the
        # same data in other units). Residuals of a target whose root mean square is below 1 are divided
        # by it (the optimum is the same); a KPI of 1 a period and above is fitted as it is.
        c = min(1.0, float(np.sqrt(np.mean(target**2)))) or 1.0

        def resid(phi: np.ndarray) -> np.ndarray:
            return np.concatenate([self.solve(phi, target)[2], self.penalty(phi, shift)]) / c

        res = least_squares(resid, np.clip(start, lo, hi), jac=lambda phi: self.jacobian(phi, target) / c,
                            bounds=(lo, hi), method="trf", ftol=tol, xtol=tol, gtol=tol,
                            max_nfev=max_nfev or 200 + 10 * self.layout.size)
        return res.x, float(res.cost) * c**2

    def linear(
        self, phi: np.ndarray, y: np.ndarray, lift_y: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(H, beta, coef)``: the features and the exact linear coefficients at ``phi``."""
        yw = y * self.sw
        H, beta, _ = self.solve(phi, self.target(y, lift_y))
        coef = np.linalg.solve(self.R, self.Q.T @ (yw - (H * self.sw[:, None]) @ beta))
        return H, beta, coef
