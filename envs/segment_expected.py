r"""The expected episode reward of a plan when channels share audience segments (coupled channels).

With segments (:mod:`budgetgym.envs.segments`) the noise-free dynamics give, for a plan ``X[t, i]``,

.. math::

    e_{t,i} &= s_{t,i} X_{t,i} (1 + X_{t,i}/x^{ref}_i)^{-\eta_i}, \qquad a_{\cdot,i} = W_i e_{\cdot,i} \\
    A_{t,s} &= \sum_i M_{is}\, m_{t,i}\, a_{t,i}, \qquad M = R \odot E \\
    J(X) &= \sum_{t,s} C_{t,s}\, r_s(A_{t,s}) - c \sum_{t,i} X_{t,i},
        \qquad C_{t,s} = \omega_s \bar Q_s(T-1-t)

(``m`` the response multipliers, :math:`\bar Q_s` the share of segment ``s``'s delay kernel
arriving by the last step, :math:`\omega_s` its reward weight). :math:`J` is concave when every
:math:`r_s` is (a concave non-decreasing function of a non-negative combination of the concave
exposure curves). The gradient and the (full, coupled) Hessian:

.. math::

    \partial J / \partial X_{\tau,i} &= e'_{\tau,i} [W_i^\top g_{\cdot,i}]_\tau - c,
        \qquad g_{t,i} = m_{t,i} \sum_s M_{is} C_{t,s} r_s'(A_{t,s}) \\
    H_{(i,\tau),(j,\tau')} &= \sum_t P_i[\tau, t]\, \Big(\sum_s M_{is} M_{js} C_{t,s} r_s''(A_{t,s})\Big)\,
        P_j[\tau', t] + \delta_{ij} \delta_{\tau\tau'} e''_{\tau,i} [W_i^\top g_{\cdot,i}]_\tau,
        \qquad P_i = \mathrm{diag}(e'_i) W_i^\top \mathrm{diag}(m_i)

returned as one ``[K T, K T]`` matrix in the barrier problem's channel-major order (index
``i T + tau``). Channel-level figures (:meth:`SegmentExpectedModel.channel_values`, ...) credit each
channel its share of every segment's response (the attribution of :mod:`budgetgym.envs.segments`),
so they sum to :math:`J`; the gradients are those of the **total** (conversions or revenue), i.e.
the marginal return of one more unit in a channel, cannibalisation included.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from budgetgym.envs import curves
from budgetgym.envs.dynamics import ChannelModel
from budgetgym.envs.expected import ExpectedModel
from budgetgym.envs.history import CarryIn
from budgetgym.envs.path import ScenarioPath
from budgetgym.envs.segments import SegmentModel

__all__ = ["SegmentExpectedModel"]


class SegmentExpectedModel(ExpectedModel):
    """:class:`~budgetgym.envs.expected.ExpectedModel` for a scenario with segments (module docstring)."""

    def __init__(self, model: ChannelModel, path: ScenarioPath, carry: CarryIn | None = None):
        if model.segments is None:
            raise ValueError("SegmentExpectedModel needs a scenario with segments")
        # the base keeps the carried adstock; the carried arrivals are per (channel, segment) here
        adstock_only = None if carry is None else dataclasses.replace(carry, arrivals=np.zeros_like(carry.adstock))
        super().__init__(model, path, adstock_only)
        seg: SegmentModel = model.segments
        K, S = seg.mix.shape
        self.carried_pairs = np.zeros((K, S)) if carry is None else carry.arrivals.sum(axis=0)  # [K, S]
        self.carried_conversions = self.carried_pairs.sum(axis=-1)
        self.carried_value = (self.carried_pairs * seg.reward_weight).sum(axis=-1)
        self.carried_revenue = (self.carried_pairs * seg.value).sum(axis=-1)
        self.seg = seg
        T = self.horizon
        qcum = np.cumsum(np.pad(seg.delay, ((0, 0), (0, max(0, T - seg.delay.shape[1])))), axis=1)[:, :T]
        self.segment_arrive = np.minimum(qcum[:, ::-1].T, 1.0)  # [T, S]: Qbar_s(T-1-t)
        self.segment_weight = seg.reward_weight * self.segment_arrive  # C[t, s]
        self.response = path.response  # m[t, i], multiplies the effective exposure
        self._seg_floor = curves.derivative_floor(seg)
        self.value_scale = float((self.segment_weight * seg.beta).sum())

    # ----------------------------------------------------------------- pieces
    def _segment_exposure(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``(m a [..., T, K], A [..., T, S])``."""
        ma = self.response * self._adstock(self._exposure(X))
        return ma, (ma[..., :, None] * self.seg.mix).sum(axis=-2)

    def _pairs(self, X: np.ndarray) -> np.ndarray:
        """``r[..., t, i, s]``: the response of segment ``s`` at step ``t`` credited to channel ``i``."""
        ma, _ = self._segment_exposure(np.asarray(X, dtype=float))
        return self.seg.attribute(self.seg.effective(ma))[1]  # [..., T, K, S]

    def _credited(self, X: np.ndarray, weight: np.ndarray) -> np.ndarray:
        """Each channel's credited share of ``sum_{t,s} weight[t, s] r_s(A_{t,s})``: ``[..., K]``."""
        return (self._pairs(X) * weight[:, None, :]).sum(axis=(-3, -1))

    def _total(self, X: np.ndarray, A: np.ndarray) -> np.ndarray:
        """``J``: the weighted segment responses at segment exposure ``A``, the carried value, minus the
        spend cost of ``X``."""
        out = (self.segment_weight * self.seg.saturation(A)).sum(axis=(-2, -1)) + self.carried_value.sum()
        if self.spend_cost:
            out = out - self.spend_cost * X.sum(axis=(-2, -1))
        return out

    def _back(self, X: np.ndarray, weight: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """``(e', A, A_safe, back [T, K])``: the segment exposure (and a copy floored away from 0 for the
        curves' derivatives) and ``back = W_i^T g_i`` for the total weighted by ``weight [T, S]``."""
        m = self.model
        e1 = curves.exposure_d1(X, self.scale, m.ref_spend, m.elasticity)
        _, A = self._segment_exposure(X)
        A_safe = curves.derivative_point(A, self._seg_floor)
        with np.errstate(over="ignore", invalid="ignore"):
            g = self.response * ((weight * self.seg.saturation(A_safe, 1)) @ self.seg.mix.T)
        back = (self.lag.transpose(0, 2, 1) @ g.T[:, :, None])[:, :, 0].T
        return e1, A, A_safe, back

    # ------------------------------------------------------------------- API
    def grid_values(self, x: np.ndarray) -> np.ndarray:
        """``[T, G, K]``: spend ``x[g]`` in channel ``i`` alone at step ``t`` at the steady-state
        carry-over, valued by the segments it reaches (``sum_s C[t, s] r_s(M_is m_ti sum_l w_l e)``); a
        heuristic start only (channels are not separable with segments)."""
        m, seg = self.model, self.seg
        x = np.asarray(x, dtype=float)[None, :, None]
        e = curves.exposure(x, self.scale[:, None, :], m.ref_spend, m.elasticity) * m.held_adstock_sum
        eff = (self.response[:, None, :] * e)[..., None] * seg.mix  # [T, G, K, S]
        return (self.segment_weight[:, None, None, :] * seg.saturation(eff)).sum(axis=-1) - self.spend_cost * x

    def value(self, X: np.ndarray) -> np.ndarray:
        X = np.asarray(X, dtype=float)
        return self._total(X, self._segment_exposure(X)[1])

    def channel_values(self, X: np.ndarray) -> np.ndarray:
        X = np.asarray(X, dtype=float)
        return self._credited(X, self.segment_weight) + self.carried_value - self.spend_cost * X.sum(axis=-2)

    def channel_conversions(self, X: np.ndarray) -> np.ndarray:
        return self._credited(X, self.segment_arrive) + self.carried_conversions

    def channel_revenue(self, X: np.ndarray) -> np.ndarray:
        return self._credited(X, self.segment_arrive * self.seg.value) + self.carried_revenue

    def segment_conversions(self, X: np.ndarray) -> np.ndarray:
        """Expected conversions of each segment arriving inside the window: ``[..., S]``."""
        _, A = self._segment_exposure(np.asarray(X, dtype=float))
        return (self.segment_arrive * self.seg.saturation(A)).sum(axis=-2) + self.carried_pairs.sum(axis=0)

    def segment_revenue(self, X: np.ndarray) -> np.ndarray:
        """:meth:`segment_conversions` times each segment's value per conversion: ``[..., S]``."""
        return self.segment_conversions(X) * self.seg.value

    def segment_credits(self, X: np.ndarray) -> np.ndarray:
        """``[..., K, S]``: expected conversions in the window credited to channel ``i`` in segment ``s``
        (they sum over channels to :meth:`segment_conversions`)."""
        return (self._pairs(X) * self.segment_arrive[:, None, :]).sum(axis=-3) + self.carried_pairs

    def segment_saturation(self, X: np.ndarray) -> np.ndarray:
        """``[..., S]``: the mean over steps of ``r_s(A_{t,s}) / (sigma_s beta_s)``, the share of the
        segment's most conversions per step reached (0: untouched, 1: saturated)."""
        _, A = self._segment_exposure(np.asarray(X, dtype=float))
        return (self.seg.saturation(A) / self.seg.beta).mean(axis=-2)

    def segment_exposure(self, X: np.ndarray) -> np.ndarray:
        """Each segment's effective exposure ``sum_t A_{t,s}`` over the window: ``[..., S]``."""
        return self._segment_exposure(np.asarray(X, dtype=float))[1].sum(axis=-2)

    def conversion_gradient(self, X: np.ndarray) -> np.ndarray:
        """``[T, K]``: the gradient of the **total** expected conversions in the window (module docstring)."""
        e1, _, _, back = self._back(np.asarray(X, dtype=float), self.segment_arrive)
        return e1 * back

    def revenue_gradient(self, X: np.ndarray) -> np.ndarray:
        """``[T, K]``: the gradient of the total expected revenue in the window."""
        e1, _, _, back = self._back(np.asarray(X, dtype=float), self.segment_arrive * self.seg.value)
        return e1 * back

    def derivatives(self, X: np.ndarray, hessian: bool = True) -> tuple[float, np.ndarray, np.ndarray | None]:
        """``(J, grad [T, K], H [K T, K T] or None)`` at a single plan ``X [T, K]`` (module docstring)."""
        X = np.asarray(X, dtype=float)
        m, seg = self.model, self.seg
        e1, A, A_safe, back = self._back(X, self.segment_weight)
        J = float(self._total(X, A))
        grad = e1 * back - self.spend_cost
        if not hessian:
            return J, grad, None
        T, K = self.horizon, self.n_channels
        e2 = curves.exposure_d2(X, self.scale, m.ref_spend, m.elasticity)
        with np.errstate(over="ignore", invalid="ignore"):
            B = self.segment_weight * seg.saturation(A_safe, 2)  # [T, S]
        core = np.einsum("is,js,ts->tij", seg.mix, seg.mix, B)  # [T, K, K]
        P = e1.T[:, :, None] * self.lag.transpose(0, 2, 1) * self.response.T[:, None, :]  # [K, T(tau), T(t)]
        H = np.zeros((K, T, K, T))
        for i in range(K):
            for j in range(i, K):
                block = (P[i] * core[:, i, j]) @ P[j].T
                H[i, :, j, :] = block
                H[j, :, i, :] = block.T
        idx = np.arange(T)
        H[np.arange(K)[:, None], idx, np.arange(K)[:, None], idx] += (e2 * back).T
        return J, grad, H.reshape(K * T, K * T)
