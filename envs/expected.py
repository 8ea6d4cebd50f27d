r"""The expected (noise-free) episode reward of a whole spend plan, in matrix form.

For a plan ``X[t, i]`` (spend of channel ``i`` at step ``t``) and an episode path,
the dynamics of :mod:`budgetgym.envs.dynamics` without noise give

.. math::

    e_{t,i} &= s_{t,i}\, X_{t,i} (1 + X_{t,i}/x^{ref}_i)^{-\eta_i},
        \qquad s_{t,i} = u_i\, d_{t,i} / (p_{0,i}\, m^c_{t,i}) \\
    a_{\cdot,i} &= W_i\, e_{\cdot,i}
        \qquad (W_i[t,\tau] = w_i[t-\tau], \text{ the adstock lag matrix}) \\
    J(X) &= \sum_{t,i} C_{t,i}\, f_i(a_{t,i}) - c \sum_{t,i} X_{t,i},
        \qquad C_{t,i} = \omega_i\, m^r_{t,i}\, \bar Q_i(T-1-t)

where :math:`\bar Q_i(m) = \sum_{d \le m} q_i[d]` is the share of a step's
response that arrives before the horizon ends, :math:`\omega_i` the reward
weight (1 or the value per conversion) and ``c`` 1 for profit, else 0. The
gradient and the per-channel Hessian blocks are

.. math::

    \partial J / \partial X_{\tau,i} &= e'_{\tau,i}\, [W_i^\top (C_{\cdot,i} f_i'(a_{\cdot,i}))]_\tau - c \\
    H_i &= \mathrm{diag}(e'_i)\, W_i^\top \mathrm{diag}(C_i f_i''(a_i))\, W_i\, \mathrm{diag}(e'_i)
          + \mathrm{diag}(e''_i \odot W_i^\top (C_i f_i'(a_i)))

Channels are independent, so the Hessian is block-diagonal by channel. This
module uses the same curve and kernel functions as the step-wise core; a test
checks that :meth:`ExpectedModel.value` equals the core's rollout.
"""

from __future__ import annotations

import numpy as np

from budgetgym.envs import curves
from budgetgym.envs.dynamics import ChannelModel
from budgetgym.envs.kernels import lag_matrix
from budgetgym.envs.path import ScenarioPath

__all__ = ["ExpectedModel"]


class ExpectedModel:
    """Whole-plan expected reward ``J(X)`` with gradient and Hessian blocks (see module docstring)."""

    def __init__(self, model: ChannelModel, path: ScenarioPath):
        self.model = model
        T, K = path.cost.shape
        self.horizon, self.n_channels = T, K
        self.scale = model.units * path.delivery / (model.base_price * path.cost)  # s[t, i]
        self.lag = np.stack([lag_matrix(model.adstock[i], T) for i in range(K)])  # [K, T, T]
        # share of each step's response that arrives by the last step
        qcum = np.cumsum(np.pad(model.delay, ((0, 0), (0, max(0, T - model.delay.shape[1])))), axis=1)[:, :T]
        arrive = np.minimum(qcum[:, ::-1].T, 1.0)  # arrive[t, i] = Qbar_i(T-1-t)
        self.weight = model.reward_weight * path.response * arrive  # C[t, i]
        self.spend_cost = model.spend_cost
        self._floor = 1e-12 * np.where(model.is_hill, model.kappa, 1.0 / model.rate)

    # ----------------------------------------------------------------- pieces
    def _exposure(self, X: np.ndarray) -> np.ndarray:
        m = self.model
        return curves.exposure(X, self.scale, m.ref_spend, m.elasticity)

    def _adstock(self, e: np.ndarray) -> np.ndarray:
        """``a[..., t, i] = sum_tau W_i[t, tau] e[..., tau, i]``."""
        return np.swapaxes(self.lag @ np.swapaxes(e, -1, -2)[..., None], -2, -3)[..., 0]

    # ------------------------------------------------------------------- API
    def value(self, X: np.ndarray) -> np.ndarray:
        """``J(X)`` for one plan ``[T, K]`` or a batch ``[N, T, K]``."""
        X = np.asarray(X, dtype=float)
        a = self._adstock(self._exposure(X))
        out = (self.weight * self.model.saturation(a)).sum(axis=(-2, -1))
        if self.spend_cost:
            out = out - self.spend_cost * X.sum(axis=(-2, -1))
        return out

    def channel_values(self, X: np.ndarray) -> np.ndarray:
        """Each channel's part of ``J(X)``: ``[K]`` for one plan, ``[N, K]`` for a batch (channels
        are independent, so these sum to :meth:`value`, up to the order of summation)."""
        X = np.asarray(X, dtype=float)
        a = self._adstock(self._exposure(X))
        return (self.weight * self.model.saturation(a)).sum(axis=-2) - self.spend_cost * X.sum(axis=-2)

    def derivatives(self, X: np.ndarray, hessian: bool = True) -> tuple[float, np.ndarray, np.ndarray | None]:
        """``(J, grad [T, K], H [K, T, T] or None)`` at a single plan ``X [T, K]``."""
        m = self.model
        e = self._exposure(X)
        e1 = curves.exposure_d1(X, self.scale, m.ref_spend, m.elasticity)
        a = self._adstock(e)
        a_safe = np.maximum(a, self._floor)
        with np.errstate(over="ignore", invalid="ignore"):
            f1 = self.weight * m.saturation_d1(a_safe)
        lag_t = self.lag.transpose(0, 2, 1)
        back = (lag_t @ f1.T[:, :, None])[:, :, 0].T  # W_i^T (C f')
        J = float((self.weight * m.saturation(a)).sum() - self.spend_cost * X.sum())
        grad = e1 * back - self.spend_cost
        if not hessian:
            return J, grad, None
        e2 = curves.exposure_d2(X, self.scale, m.ref_spend, m.elasticity)
        with np.errstate(over="ignore", invalid="ignore"):
            f2 = self.weight * m.saturation_d2(a_safe)
        H = lag_t @ (f2.T[:, :, None] * self.lag)
        H *= e1.T[:, :, None] * e1.T[:, None, :]
        idx = np.arange(self.horizon)
        H[:, idx, idx] += (e2 * back).T
        return J, grad, H
