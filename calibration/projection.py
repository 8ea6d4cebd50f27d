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

**The pooled return-on-spend prior** (:class:`RoiRows`, ``ModelSpec.roi_prior`` = :math:`\tau`) appends one row
per channel the same way, with one more non-negative unknown, the pooled return :math:`\bar r` (KPI per unit
of currency): channel ``i``'s return on its data spend :math:`S_i` is :math:`\beta_i m_i(\phi) / S_i`,
:math:`m_i = \sum_t H_{t,i}(\phi)` the sum of its (unweighted) feature column, and the row is the
pseudo-residual :math:`\hat\sigma (\beta_i m_i(\phi)/S_i - \bar r) / (\tau \bar r_0)`, linear in
:math:`(\beta, \bar r)` for fixed :math:`\phi`, so

.. math::

    (\beta, \bar r)(\phi) = \arg\min_{\beta \ge 0,\ \bar r \ge 0} \lVert \tilde y - \tilde H \beta \rVert^2
        + \sum_j (\ldots)_j^2 + \sum_i \big(\hat\sigma (\beta_i m_i(\phi)/S_i - \bar r) / (\tau \bar r_0)\big)^2

(:math:`\bar r_0` a fixed scale; why this form: :mod:`~budgetgym.calibration.model`; the log form's rows, linear
too, and a prior draw's moved centres: :mod:`~budgetgym.calibration.roi_prior`). The lift tests and the
prior are both :meth:`Problem.pseudo_rows`; :math:`\bar r` is not part of the fit (:meth:`Problem.solve` returns
:math:`\beta` alone); :meth:`Problem.solution` gives it, and :meth:`Problem.settled`'s result, which the log
form's fixed point reads (:mod:`~budgetgym.calibration.roi_fixed_point`).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import cast

import numpy as np
from scipy.optimize import least_squares, nnls

from budgetgym.calibration.roi_prior import LOG_TOL, RoiRows, Settled, anderson_step
from budgetgym.calibration.transforms import (
    Layout,
    adstock_column,
    channel_delay,
    features,
    media_season,
    response_column,
    steady_state,
)

__all__ = [
    "PRIOR_DECAY_SD", "PRIOR_SEASON_SD", "PRIOR_SLOPE_SD", "PRIOR_U_SD", "SETTLE_ROUNDS", "SETTLE_TOL", "LiftRows",
    "Problem", "RoiRows", "Settled",
]

PRIOR_U_SD = float(np.log(3.0))
PRIOR_SLOPE_SD = 0.5
PRIOR_SEASON_SD = 0.15
PRIOR_DECAY_SD = 0.4  # half-normal on the weekly decay (0: none)
#: :meth:`Problem.settled`'s tolerance on the log anchors' moves, and its moves at most (a solve before each, one after)
SETTLE_TOL = LOG_TOL / 1000
SETTLE_ROUNDS = 50


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
    roi: RoiRows | None = None  # the pooled return-on-spend prior (one more unknown: the pooled return)
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

    @property
    def n_pseudo(self) -> int:
        """How many rows :meth:`pseudo_rows` appends (lift tests, then the return-on-spend prior's)."""
        return (0 if self.lift is None else len(self.lift)) + (0 if self.roi is None else len(self.roi))

    def target(
        self, y: np.ndarray, lift_y: np.ndarray | None = None, roi_shift: np.ndarray | None = None
    ) -> np.ndarray:
        """The stacked left-hand side: the projected weighted KPI, then the weighted measured lifts
        (``lift_y``: other measurements than the tests', e.g. a bootstrap draw's), then the return-on-spend
        prior's (:meth:`~budgetgym.calibration.roi_prior.RoiRows.target`: 0 for the linear form; ``roi_shift``
        moves each row's centre by that many sds, a prior draw)."""
        parts = [self.project(y * self.sw)]
        if self.lift is not None:
            parts.append(self.lift_weight * (self.lift.delta_y if lift_y is None else lift_y))
        if self.roi is not None:
            parts.append(self.roi.target(roi_shift))
        return np.concatenate(parts)

    def n_shift(self, phi: np.ndarray) -> int:
        """How many prior means a prior draw moves (:meth:`split_shift`): :meth:`penalty`'s pseudo-residuals,
        then the return-on-spend prior's rows."""
        return len(self.penalty(phi)) + (0 if self.roi is None else len(self.roi))

    def split_shift(self, shift: np.ndarray | None) -> tuple[np.ndarray | None, np.ndarray | None]:
        """A prior draw's shift (:meth:`n_shift` standard normals) cut into
        :meth:`penalty`'s and the return-on-spend rows' (the last ``len(roi)``; ``None`` where there are none)."""
        n_roi = 0 if self.roi is None else len(self.roi)
        if shift is None or n_roi == 0:
            return shift, None
        pen = shift[: len(shift) - n_roi]
        return (pen if len(pen) else None), shift[len(shift) - n_roi:]

    def pseudo_rows(self, phi: np.ndarray, m: np.ndarray) -> np.ndarray:
        """The rows linear in the coefficients that join the projected KPI's (module docstring), ``[n_pseudo,
        K (+ 1 with the return-on-spend prior: the pooled return's column)]``: the weighted lift tests, then
        the return-on-spend prior's (``m`` ``[K]``: each channel's feature column summed over the periods)."""
        K = self.layout.n_channels
        blocks = []
        if self.lift is not None:
            G = self.lift_weight[:, None] * self.lift.features(self.layout, phi, self.ref)
            blocks.append(G if self.roi is None else np.hstack([G, np.zeros((len(G), 1))]))
        if self.roi is not None:
            blocks.append(self.roi.rows(m))
        return np.vstack(blocks) if blocks else np.zeros((0, K))

    def design(self, Ht: np.ndarray, phi: np.ndarray, m: np.ndarray) -> np.ndarray:
        """The stacked design: the projected weighted features (and the pooled return's zero column),
        then :meth:`pseudo_rows`."""
        if not self.n_pseudo:
            return Ht
        top = Ht if self.roi is None else np.hstack([Ht, np.zeros((len(Ht), 1))])
        return np.vstack([top, self.pseudo_rows(phi, m)])

    def solve(self, phi: np.ndarray, target: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(H, beta, stacked residual)`` for ``phi`` (``target``: :meth:`target`)."""
        H, x, r = self._solve(phi, target)
        return H, x[: self.layout.n_channels], r

    def _solve(self, phi: np.ndarray, target: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        H = features(self.layout, self.media, phi, self.ref, self.days)
        A = self.design(self.project(H * self.sw[:, None]), phi, H.sum(axis=0))
        x = nnls(A, target)[0]
        return H, x, target - A @ x

    def solution(
        self, phi: np.ndarray, y: np.ndarray, lift_y: np.ndarray | None = None, roi_shift: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray, float]:
        r"""``(H, beta, pooled)``: the features and the exact linear coefficients at ``phi`` for the :meth:`target` of
        ``y``, ``lift_y`` and ``roi_shift``, and the pooled return :math:`\bar r` the same non-negative least squares
        estimates with the return-on-spend prior's rows (``nan`` without them)."""
        H, x, _ = self._solve(phi, self.target(y, lift_y, roi_shift))
        K = self.layout.n_channels
        return H, x[:K], float(x[K]) if self.roi is not None else float("nan")

    def settled(
        self, phi: np.ndarray, y: np.ndarray, lift_y: np.ndarray | None = None, roi_shift: np.ndarray | None = None
    ) -> Settled:
        r"""This problem with its log return-on-spend rows at their fixed point for ``phi`` held
        (:mod:`~budgetgym.calibration.roi_fixed_point`), and the last solve, at those rows (:class:`Settled`): the
        non-negative least squares for the :meth:`target` of ``y``, ``lift_y`` and ``roi_shift`` repeated with the
        rows relinearised at its returns, each next anchor vector
        :func:`~budgetgym.calibration.roi_prior.anderson_step`'s, until the anchors' logs move less than
        :data:`SETTLE_TOL` (at most :data:`SETTLE_ROUNDS` moves; the features computed once). Safeguards: after a
        step whose move :math:`\lVert g(x) - x \rVert_\infty` grew, and in place of an accelerated step that is not
        finite or lands more than :math:`\max(1, \lVert g(x) - x \rVert_\infty)` from the plain one :math:`g(x)`,
        the plain step, the history dropped. Without log rows, itself and one solve."""
        t = self.target(y, lift_y, roi_shift)
        roi = self.roi
        if roi is None or roi.form != "log":
            H, sol, r = self._solve(phi, t)
            return Settled(self, H, sol, t, r, 0.0)
        H = features(self.layout, self.media, phi, self.ref, self.days)
        m = H.sum(axis=0)
        A = self.design(self.project(H * self.sw[:, None]), phi, m)
        n, K = len(roi), self.layout.n_channels
        xs: list[np.ndarray] = []
        gs: list[np.ndarray] = []
        last: float | None = None  # the move of the last step in the history
        for k in range(SETTLE_ROUNDS + 1):
            A[-n:], t[-n:] = roi.rows(m), roi.target(roi_shift)
            sol = nnls(A, t)[0]
            image = roi.relinearised(m, sol[:K], float(sol[K]))
            gap = roi.gap(image)
            if gap < SETTLE_TOL or k == SETTLE_ROUNDS:
                break
            if last is not None and gap > last:  # the last step overshot: plain from here
                xs, gs = [], []
            xs.append(roi.logs())
            gs.append(image.logs())
            last = gap
            step = anderson_step(xs, gs)
            if not np.all(np.isfinite(step)) or np.max(np.abs(step - gs[-1])) > max(1.0, gap):  # too far
                step, xs, gs, last = gs[-1], [], [], None
            roi = roi.at_logs(step)
        return Settled(replace(self, roi=roi), H, sol, t, t - A @ sol, gap)

    def penalty(self, phi: np.ndarray, shift: np.ndarray | None = None) -> np.ndarray:
        """The priors' pseudo-residuals (module docstring); ``shift`` moves each prior's mean by that
        many of its sds (a draw from the prior: :func:`~budgetgym.calibration.refits.refit`)."""
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
        non-negative least squares, instead of every channel's transforms (:meth:`pseudo_rows` are
        recomputed whole: a few rows); only the shared media seasonality recomputes every column."""
        lay = self.layout
        K, per = lay.n_channels, lay.per_channel
        _, hi = lay.bounds()
        p = lay.split(phi)
        s = media_season(lay, phi, self.days)
        stocks = [adstock_column(lay, self.media[:, i], p[i]) for i in range(K)]
        delays = [channel_delay(lay, p[i], i) for i in range(K)]
        cols = [response_column(lay, *stocks[i], p[i], float(self.ref[i]), s, delays[i]) for i in range(K)]
        Ht = self.project(np.column_stack(cols) * self.sw[:, None])
        m = np.array([c.sum() for c in cols])
        A = self.design(Ht, phi, m)
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
                q = channel_delay(lay, slot, i) if lay.delay and k == per - 1 else delays[i]
                col = response_column(lay, a, wbar, slot, float(self.ref[i]), s, q)
                A2 = A.copy()
                A2[: len(Ht), i] = self.project(col * self.sw)
                if self.n_pseudo:
                    m2 = m.copy()
                    m2[i] = col.sum()
                    A2[len(Ht):] = self.pseudo_rows(moved, m2)
            else:
                F = features(lay, self.media, moved, self.ref, self.days)
                A2 = self.design(self.project(F * self.sw[:, None]), moved, F.sum(axis=0))
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
        ``lift_y``: :meth:`target`'s; a ``shift`` of :meth:`n_shift` numbers moves the return-on-spend rows'
        centres too (:meth:`split_shift`). Log return-on-spend rows are :meth:`settled` at each ``phi`` tried
        (from the previous point's anchors) and the residual and Jacobian there are those of the settled rows: the
        fit ends at the rows' fixed point (:mod:`~budgetgym.calibration.roi_fixed_point`), the anchors of this
        problem's rows only its start."""
        shift, roi_shift = self.split_shift(shift)
        target = self.target(y, lift_y, roi_shift)
        lo, hi = self.layout.bounds()
        log = self.roi is not None and self.roi.form == "log"
        last: list[tuple[bytes, Settled | None]] = [(b"", None)]

        def at(phi: np.ndarray) -> Settled:
            """The log rows :meth:`settled` at ``phi`` and their last solve (from the last point's anchors: the
            residual's and the Jacobian's at the same ``phi`` are the same)."""
            if last[0][0] != phi.tobytes():
                before = last[0][1]
                last[0] = (phi.tobytes(), (self if before is None else before.problem).settled(phi, y, lift_y,
                                                                                                   roi_shift))
            return cast(Settled, last[0][1])

        # least_squares' gradient test (gtol) is absolute: on a KPI of 1e-7 a period the cost's gradient
        # is below any tolerance at the start, and the fit stopped there (R² 0.85 against 0.99 for the
        # same data in other units). Residuals of a target whose root mean square is below 1 are divided
        # by it (the optimum is the same); a KPI of 1 a period and above is fitted as it is.
        c = min(1.0, float(np.sqrt(np.mean(target**2)))) or 1.0

        def resid(phi: np.ndarray) -> np.ndarray:
            r = at(phi).residual if log else self.solve(phi, target)[2]
            return np.concatenate([r, self.penalty(phi, shift)]) / c

        def jac(phi: np.ndarray) -> np.ndarray:
            if not log:
                return self.jacobian(phi, target) / c
            s = at(phi)
            return s.problem.jacobian(phi, s.target) / c

        res = least_squares(resid, np.clip(start, lo, hi), jac=jac,
                            bounds=(lo, hi), method="trf", ftol=tol, xtol=tol, gtol=tol,
                            max_nfev=max_nfev or 200 + 10 * self.layout.size)
        return res.x, float(res.cost) * c**2

    def linear(
        self, phi: np.ndarray, y: np.ndarray, lift_y: np.ndarray | None = None, roi_shift: np.ndarray | None = None,
        solved: tuple[np.ndarray, np.ndarray] | None = None,
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(H, beta, coef)``: the features and the exact linear coefficients at ``phi`` (``lift_y``,
        ``roi_shift``: :meth:`target`'s, a bootstrap draw's measurements and moved centres; ``solved``: ``(H,
        beta)`` of :meth:`solution` at the same arguments, when the caller has it, so it is not solved again)."""
        yw = y * self.sw
        H, beta = solved if solved is not None else self.solution(phi, y, lift_y, roi_shift)[:2]
        coef = np.linalg.solve(self.R, self.Q.T @ (yw - (H * self.sw[:, None]) @ beta))
        return H, beta, coef
