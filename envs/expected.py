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

(plus, with a spend history before the window, the carried adstock :math:`A_{t,i}` inside
:math:`a` and the carried arrivals :math:`M_{t,i}` as a constant :math:`\sum_{t,i} \omega_i M_{t,i}`;
:mod:`budgetgym.envs.history`), where :math:`\bar Q_i(m) = \sum_{d \le m} q_i[d]` is the share of a step's
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

import functools

import numpy as np

from budgetgym.envs import curves
from budgetgym.envs.dynamics import ChannelModel
from budgetgym.envs.history import CarryIn
from budgetgym.envs.kernels import lag_matrix
from budgetgym.envs.path import ScenarioPath

__all__ = ["ExpectedModel", "MeanExpectedModel", "expected_model"]

#: The most memory the stacked members' lag matrices ``[N, K, T, T]`` may take (a copy of what the
#: members already hold): past it the mean loops over its members (:class:`_MemberStack`). 512 MiB
#: stacks 1,600 draws of a daily window (``T = 91``, ``K = 5``) but not 1,000 draws of a year of days,
#: which would add 5 GiB to the members' own 5 GiB.
MAX_STACK_BYTES = 512 * 2**20


class ExpectedModel:
    """Whole-plan expected reward ``J(X)`` with gradient and Hessian blocks (see module docstring)."""

    def __init__(self, model: ChannelModel, path: ScenarioPath, carry: CarryIn | None = None):
        self.model = model
        T, K = path.cost.shape
        self.horizon, self.n_channels = T, K
        self.scale = model.units * path.delivery / (model.base_price * path.cost)  # s[t, i]
        self.lag = np.stack([lag_matrix(model.adstock[i], T) for i in range(K)])  # [K, T, T]
        # share of each step's response that arrives by the last step
        qcum = np.cumsum(np.pad(model.delay, ((0, 0), (0, max(0, T - model.delay.shape[1])))), axis=1)[:, :T]
        arrive = np.minimum(qcum[:, ::-1].T, 1.0)  # arrive[t, i] = Qbar_i(T-1-t)
        self.conversion_weight = path.response * arrive  # C[t, i] / omega_i
        self.weight = model.reward_weight * self.conversion_weight  # C[t, i]
        self.spend_cost = model.spend_cost
        # spend before the window: adstock carried into each step, and conversions still arriving
        self.carried_adstock = carry.adstock if carry is not None else np.zeros((T, K))
        arrivals = carry.arrivals if carry is not None else np.zeros((T, K))
        self.carried_conversions = arrivals.sum(axis=0)  # [K], arriving inside the window
        self.carried_value = model.reward_weight * self.carried_conversions  # [K], reward units
        self._floor = curves.derivative_floor(model)
        self.value_scale = float((self.weight * model.beta).sum())  # reward at saturation everywhere

    # ----------------------------------------------------------------- pieces
    def _exposure(self, X: np.ndarray) -> np.ndarray:
        m = self.model
        return curves.exposure(X, self.scale, m.ref_spend, m.elasticity)

    def _adstock(self, e: np.ndarray) -> np.ndarray:
        """``a[..., t, i] = sum_tau W_i[t, tau] e[..., tau, i] + A[t, i]``."""
        return np.swapaxes(self.lag @ np.swapaxes(e, -1, -2)[..., None], -2, -3)[..., 0] + self.carried_adstock

    def _first_order(
        self, X: np.ndarray, weight: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """``(e', a, a_safe, back)`` at one plan: the exposure slope, the adstock (and a copy floored
        away from 0 for the curves' derivatives) and ``back = W_i^T (weight f'(a))`` ``[T, K]``."""
        m = self.model
        e1 = curves.exposure_d1(X, self.scale, m.ref_spend, m.elasticity)
        a = self._adstock(self._exposure(X))
        a_safe = curves.derivative_point(a, self._floor)
        with np.errstate(over="ignore", invalid="ignore"):
            f1 = weight * m.saturation_d1(a_safe)
        back = (self.lag.transpose(0, 2, 1) @ f1.T[:, :, None])[:, :, 0].T
        return e1, a, a_safe, back

    # ------------------------------------------------------------------- API
    def grid_values(self, x: np.ndarray) -> np.ndarray:
        """``[T, G, K]``: the value of spending ``x[g]`` in channel ``i`` at step ``t`` alone, at the
        steady-state carry-over, ``ceff[t, i] f_i(sum_l w_l e_{t,i}(x)) - c x`` with
        ``ceff[t, i] = sum_l w_l C[t+l, i] / sum_l w_l`` (``l < T``; a step's spend keeps working through its
        carry-over; valued by the weights of the steps it reaches inside the horizon). The oracle's
        per-step grid start (:func:`budgetgym.envs.oracle.grid_split`). A channel whose held weights
        sum to 0 (a Weibull-PDF kernel, ``w_0 = 0``, in a one-step episode) reaches no step: ``ceff = 0``."""
        m = self.model
        total_w = m.held_adstock_sum  # the lags the episode holds, as in self.lag
        reach = (self.lag.transpose(0, 2, 1) @ self.weight.T[:, :, None])[:, :, 0].T
        # a kernel with no weight inside the horizon (a late Weibull peak, weights underflowing to 0): the
        # channel's spend reaches no step, its steady-state response is 0 and so is its ceff (not 0/0)
        ceff = np.divide(reach, total_w, out=np.zeros_like(reach), where=total_w > 0)
        x = np.asarray(x, dtype=float)[None, :, None]
        return ceff[:, None, :] * m.steady_state_response(x, self.scale[:, None, :]) - self.spend_cost * x

    def value(self, X: np.ndarray) -> np.ndarray:
        """``J(X)`` for one plan ``[T, K]`` or a batch ``[N, T, K]``."""
        X = np.asarray(X, dtype=float)
        a = self._adstock(self._exposure(X))
        out = (self.weight * self.model.saturation(a)).sum(axis=(-2, -1)) + self.carried_value.sum()
        if self.spend_cost:
            out = out - self.spend_cost * X.sum(axis=(-2, -1))
        return out

    def channel_values(self, X: np.ndarray) -> np.ndarray:
        """Each channel's part of ``J(X)``: ``[K]`` for one plan, ``[N, K]`` for a batch (channels
        are independent, so these sum to :meth:`value`, up to the order of summation)."""
        X = np.asarray(X, dtype=float)
        a = self._adstock(self._exposure(X))
        return (self.weight * self.model.saturation(a)).sum(axis=-2) + self.carried_value - self.spend_cost * X.sum(
            axis=-2
        )

    def channel_conversions(self, X: np.ndarray) -> np.ndarray:
        """Expected conversions of each channel arriving inside the window (carried ones included):
        ``[K]`` for one plan, ``[N, K]`` for a batch."""
        X = np.asarray(X, dtype=float)
        a = self._adstock(self._exposure(X))
        return (self.conversion_weight * self.model.saturation(a)).sum(axis=-2) + self.carried_conversions

    def channel_revenue(self, X: np.ndarray) -> np.ndarray:
        """:meth:`channel_conversions` times each channel's value per conversion (currency)."""
        return self.channel_conversions(X) * self.model.value

    def conversion_gradient(self, X: np.ndarray) -> np.ndarray:
        r"""``[T, K]``: :math:`\partial / \partial X_{\tau,i}` of channel ``i``'s expected conversions
        in the window, :math:`e'_{\tau,i} [W_i^\top (C_{\cdot,i} f_i'(a_{\cdot,i}))]_\tau / \omega_i`
        (the reward gradient without the reward weight and the spend cost)."""
        e1, _, _, back = self._first_order(np.asarray(X, dtype=float), self.conversion_weight)
        return e1 * back

    def revenue_gradient(self, X: np.ndarray) -> np.ndarray:
        """:meth:`conversion_gradient` times each channel's value per conversion."""
        return self.conversion_gradient(X) * self.model.value

    def derivatives(self, X: np.ndarray, hessian: bool = True) -> tuple[float, np.ndarray, np.ndarray | None]:
        """``(J, grad [T, K], H [K, T, T] or None)`` at a single plan ``X [T, K]``."""
        m = self.model
        e1, a, a_safe, back = self._first_order(X, self.weight)
        lag_t = self.lag.transpose(0, 2, 1)
        J = float((self.weight * m.saturation(a)).sum() + self.carried_value.sum() - self.spend_cost * X.sum())
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


class _CurveStack:
    """The curve parameters of ``N`` members stacked ``[N, 1, K]`` (a
    :class:`~budgetgym.envs.curves.CurveBank` for :func:`~budgetgym.envs.curves.saturate`, broadcast
    over plans ``[N, T, K]``: each member's own numbers, element by element)."""

    def __init__(self, models: list[ChannelModel]):
        def stack(name: str) -> np.ndarray:
            return np.stack([getattr(m, name) for m in models])[:, None, :]

        self.is_hill, self.beta, self.kappa = stack("is_hill"), stack("beta"), stack("kappa")
        self.slope, self.hill_u_max, self.rate = stack("slope"), stack("hill_u_max"), stack("rate")
        families = {m.curve_family for m in models}
        self.curve_family = families.pop() if len(families) == 1 else curves.curve_family(self.is_hill, self.slope)


class _MemberStack:
    r"""Every member of a :class:`MeanExpectedModel` at once: their arrays stacked over a leading
    member axis, so a value or a Newton step's derivatives take a few whole-stack operations instead of
    ``N`` calls of :class:`ExpectedModel` (each mostly interpreter time at ``K = 5``).

    For the Hessian it needs every adstock kernel geometric, :math:`w_l = w_0 \theta^l` for
    :math:`l < L` (0 beyond; :math:`L` at most ``T``): then
    :math:`G = W^\top \mathrm{diag}(c) W` has, on its diagonal :math:`d = \sigma - \tau \ge 0`,

    .. math::  G[\tau, \tau + d] = w_0^2 \big(\theta^d R(\tau + d) - \theta^{2L-d} R(\min(\tau + L, T))\big)
               \quad (d < L;\ 0 \text{ beyond}),

    with the discounted tail sums :math:`R(m) = c_m + \theta^2 R(m + 1)`, :math:`R(T) = 0`, so the
    members' weighted sum of :math:`\mathrm{diag}(e') G\, \mathrm{diag}(e')` is one pass over
    ``[N, K, D, T]`` (``D`` the longest window) instead of ``N K`` matrix products of ``T x T``
    (``O(T^3)`` each; on a daily window, ``T = 91``, most of the barrier method's time). The same
    numbers to rounding (sums in another order); :meth:`of` returns ``None`` when a member is not a
    plain :class:`ExpectedModel`, a kernel is not geometric, or the stacked lag matrices would take more
    than :data:`MAX_STACK_BYTES` (they copy the members' own), and the mean then loops over members.
    """

    def __init__(self, members: list[ExpectedModel], weights: np.ndarray, kernel: tuple[np.ndarray, ...]):
        first = members[0]
        T, K = first.horizon, first.n_channels
        self.T, self.K = T, K
        self.p = weights
        models = [m.model for m in members]
        self.scale = np.stack([m.scale for m in members])  # [N, T, K]
        self.ref_spend = np.stack([m.ref_spend for m in models])[:, None, :]
        self.elasticity = np.stack([m.elasticity for m in models])[:, None, :]
        self.lag = np.stack([m.lag for m in members])  # [N, K, T, T]
        self.carried_adstock = np.stack([m.carried_adstock for m in members])
        self.weight = np.stack([m.weight for m in members])
        self.carried_value = np.array([m.carried_value.sum() for m in members])
        self.floor = np.stack([m._floor for m in members])[:, None, :]
        self.spend_cost = first.spend_cost
        self.bank = _CurveStack(models)
        self.theta2, self.near, self.far, self.shift = kernel  # [N, K], [N, K, D] x2, [N, K, T]
        D = self.near.shape[-1]
        idx = np.arange(T)
        d = np.abs(idx[:, None] - idx[None, :])
        # dense [T, T] from diagonals [D, T]: entry (tau, sigma) is diagonal |d| at min(tau, sigma); D*T is 0
        self.dense = np.where(d < D, d * T + np.minimum(idx[:, None], idx[None, :]), D * T)

    @classmethod
    def of(cls, members: list[ExpectedModel], weights: np.ndarray) -> _MemberStack | None:
        if any(type(m) is not ExpectedModel for m in members):
            return None
        first = members[0]
        if any(m.horizon != first.horizon or m.n_channels != first.n_channels or m.spend_cost != first.spend_cost
               for m in members):
            return None
        if sum(m.lag.nbytes for m in members) > MAX_STACK_BYTES:  # the stack copies every member's lag
            return None
        T = first.horizon
        thetas, windows, scales = [], [], []
        for m in members:
            for w in m.model.adstock:
                w = w[:T]
                nz = np.flatnonzero(w)
                if len(nz) == 0 or nz[0] != 0:
                    return None
                n_lags = int(nz[-1]) + 1
                theta = w[1] / w[0] if n_lags > 1 else 0.0
                if not 0.0 <= theta < 1.0:
                    return None
                if n_lags > 1 and not np.allclose(w[:n_lags], w[0] * theta ** np.arange(n_lags), rtol=1e-12, atol=0.0):
                    return None
                thetas.append(theta)
                windows.append(n_lags)
                scales.append(w[0] ** 2)
        N, K = len(members), first.n_channels
        theta = np.array(thetas).reshape(N, K, 1)
        L = np.array(windows).reshape(N, K, 1)
        s = np.array(scales).reshape(N, K, 1)
        D = int(L.max())
        d = np.arange(D)
        with np.errstate(under="ignore"):
            near = np.where(d < L, s * theta**d, 0.0)  # w_0^2 theta^d
            far = np.where(d < L, s * theta ** np.maximum(2 * L - d, 0), 0.0)  # w_0^2 theta^(2L-d)
        shift = np.minimum(np.arange(T) + L, T)  # [N, K, T]: min(tau + L, T)
        return cls(members, weights, (theta[..., 0] ** 2, near, far, shift))

    def _adstock(self, e: np.ndarray) -> np.ndarray:
        return np.swapaxes(self.lag @ np.swapaxes(e, -1, -2)[..., None], -2, -3)[..., 0] + self.carried_adstock

    def value(self, X: np.ndarray) -> float:
        e = curves.exposure(X, self.scale, self.ref_spend, self.elasticity)  # [N, T, K]
        a = self._adstock(e)
        J = (self.weight * curves.saturate(self.bank, a)).sum(axis=(-2, -1)) + self.carried_value
        if self.spend_cost:
            J = J - self.spend_cost * X.sum()
        return float(self.p @ J)

    def derivatives(self, X: np.ndarray, hessian: bool) -> tuple[float, np.ndarray, np.ndarray | None]:
        b, p = self.bank, self.p
        T, K = self.T, self.K
        e1 = curves.exposure_d1(X, self.scale, self.ref_spend, self.elasticity)  # [N, T, K]
        a = self._adstock(curves.exposure(X, self.scale, self.ref_spend, self.elasticity))
        a_safe = curves.derivative_point(a, self.floor)
        with np.errstate(over="ignore", invalid="ignore"):
            f1 = self.weight * curves.saturate(b, a_safe, 1)
        back = (self.lag.transpose(0, 1, 3, 2) @ f1.transpose(0, 2, 1)[..., None])[..., 0].transpose(0, 2, 1)
        Jn = (self.weight * curves.saturate(b, a)).sum(axis=(-2, -1)) + self.carried_value - self.spend_cost * X.sum()
        J = float(p @ Jn)
        grad = np.tensordot(p, e1 * back, axes=1) - self.spend_cost
        if not hessian:
            return J, grad, None
        e2 = curves.exposure_d2(X, self.scale, self.ref_spend, self.elasticity)
        with np.errstate(over="ignore", invalid="ignore"):
            c = (self.weight * curves.saturate(b, a_safe, 2)).transpose(0, 2, 1)  # [N, K, T]
        R = np.zeros((*c.shape[:2], T + 1))
        for m in range(T - 1, -1, -1):  # R(m) = c_m + theta^2 R(m + 1)
            R[:, :, m] = c[:, :, m] + self.theta2 * R[:, :, m + 1]
        E = e1.transpose(0, 2, 1)  # [N, K, T]
        pE = p[:, None, None] * E
        at_far = np.take_along_axis(R, self.shift, axis=2)  # R(min(tau + L, T))
        D = self.near.shape[-1]
        pad = np.zeros((*E.shape[:2], T + D))
        pad[:, :, :T] = E * R[:, :, :T]
        ahead = np.lib.stride_tricks.sliding_window_view(pad, T, axis=2)[:, :, :D]  # [N, K, D, T]: at tau + d
        U = np.einsum("nkd,nkt,nkdt->kdt", self.near, pE, ahead)
        pad[:, :, :T] = E  # `ahead` is a view of `pad`: it now holds E at tau + d
        U -= np.einsum("nkd,nkt,nkdt->kdt", self.far, pE * at_far, ahead)
        flat = np.concatenate([U.reshape(K, D * T), np.zeros((K, 1))], axis=1)
        H = flat[:, self.dense]  # [K, T, T]
        idx = np.arange(T)
        H[:, idx, idx] += np.tensordot(p, e2 * back, axes=1).T
        return J, grad, H


class MeanExpectedModel:
    r"""The weighted mean :math:`\bar J(X) = \sum_n p_n J_n(X)` of several :class:`ExpectedModel`\ s
    over the same horizon and channels (the draws of a scenario family), with the interface of
    one: values, channel values, gradient and per-channel Hessian blocks are the weighted sums
    (channels stay independent, so the Hessian stays block-diagonal). ``model``, ``lag``,
    ``weight`` and ``scale`` are the first member's, for heuristics that need one campaign."""

    def __init__(self, members: list[ExpectedModel], weights: np.ndarray | None = None):
        if not members:
            raise ValueError("MeanExpectedModel needs at least one member")
        self.members = members
        p = np.full(len(members), 1.0 / len(members)) if weights is None else np.asarray(weights, dtype=float)
        self.weights = p / p.sum()
        first = members[0]
        self.model, self.lag, self.weight, self.scale = first.model, first.lag, first.weight, first.scale
        self.horizon, self.n_channels, self.spend_cost = first.horizon, first.n_channels, first.spend_cost
        self.value_scale = first.value_scale
        self.grid_values = first.grid_values  # a heuristic start: one campaign's

    @functools.cached_property
    def _stacked(self) -> _MemberStack | None:
        """The members stacked (:class:`_MemberStack`), built when first needed; ``None``: loop over them."""
        return _MemberStack.of(self.members, self.weights)

    def _mean(self, fn: str, X: np.ndarray) -> np.ndarray:
        return sum(p * getattr(m, fn)(X) for p, m in zip(self.weights, self.members, strict=True))

    def value(self, X: np.ndarray) -> np.ndarray:
        X = np.asarray(X, dtype=float)
        stack = self._stacked if X.ndim == 2 else None
        return self._mean("value", X) if stack is None else np.float64(stack.value(X))

    def channel_values(self, X: np.ndarray) -> np.ndarray:
        return self._mean("channel_values", X)

    def channel_conversions(self, X: np.ndarray) -> np.ndarray:
        return self._mean("channel_conversions", X)

    def channel_revenue(self, X: np.ndarray) -> np.ndarray:
        return self._mean("channel_revenue", X)

    def conversion_gradient(self, X: np.ndarray) -> np.ndarray:
        return self._mean("conversion_gradient", X)

    def revenue_gradient(self, X: np.ndarray) -> np.ndarray:
        return self._mean("revenue_gradient", X)

    def derivatives(self, X: np.ndarray, hessian: bool = True) -> tuple[float, np.ndarray, np.ndarray | None]:
        stack = self._stacked
        if stack is not None:
            return stack.derivatives(np.asarray(X, dtype=float), hessian)
        J, g, H = 0.0, np.zeros_like(np.asarray(X, dtype=float)), None
        for p, m in zip(self.weights, self.members, strict=True):
            j, gn, hn = m.derivatives(X, hessian)
            J += p * j
            g += p * gn
            if hn is not None:
                H = p * hn if H is None else H + p * hn
        return J, g, H


def expected_model(model: ChannelModel, path: ScenarioPath, carry: CarryIn | None = None) -> ExpectedModel:
    """The expected-reward model of a compiled scenario: :class:`ExpectedModel`, or with segments
    :class:`~budgetgym.envs.segment_expected.SegmentExpectedModel` (the coupled one)."""
    if model.segments is None:
        return ExpectedModel(model, path, carry)
    from budgetgym.envs.segment_expected import SegmentExpectedModel  # it subclasses ExpectedModel

    return SegmentExpectedModel(model, path, carry)
