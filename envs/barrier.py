r"""The barrier problem behind the oracle and the planner: one spend plan, its constraints.

:class:`BarrierProblem` puts "maximise an expected reward :math:`J(X)` over the plans the
environment can play" in standard form and solves it by a primal log-barrier interior-point
method (the method and its constraints are described in :mod:`budgetgym.envs.oracle`).
:math:`J` is any object with the interface of :class:`~budgetgym.envs.expected.ExpectedModel`
(``value``, ``derivatives`` with per-channel Hessian blocks, or one full Hessian when segments couple
the channels): one campaign for the oracle, the
mean over a family's draws (:class:`~budgetgym.envs.expected.MeanExpectedModel`) for the
planner's robust plan.
"""

from __future__ import annotations

from typing import Protocol

import numpy as np

from budgetgym.envs.allocation import lock_degenerate_bounds, project_bounded_simplex
from budgetgym.envs.dynamics import ChannelModel
from budgetgym.envs.hessian_inverse import block_inverse, full_inverse, stack_inverse
from budgetgym.envs.scenario import Scenario

__all__ = ["GAP_TOL", "START_MIX", "BarrierProblem", "PlanObjective", "objective_scale", "repair_plan"]

GAP_TOL = 1e-9
#: Steps of iterative refinement of a Newton direction that came out as an ascent direction
#: (:meth:`BarrierProblem.direction`).
REFINE = 3
#: Weight of the interior point in a start (:meth:`BarrierProblem.interior`): keeps it strictly inside.
START_MIX = 0.02

# the names the Hessian inverses had here before :mod:`~budgetgym.envs.hessian_inverse` took them
# (tests/test_barrier_inverse.py, benchmarks/README.md)
_full_inverse, _stack_inverse = full_inverse, stack_inverse


class PlanObjective(Protocol):
    """What the barrier method needs of an expected-reward model."""

    model: ChannelModel
    lag: np.ndarray
    weight: np.ndarray
    scale: np.ndarray
    spend_cost: float
    horizon: int
    n_channels: int
    value_scale: float

    def value(self, X: np.ndarray) -> np.ndarray: ...

    def grid_values(self, x: np.ndarray) -> np.ndarray: ...

    def channel_values(self, X: np.ndarray) -> np.ndarray: ...

    def derivatives(self, X: np.ndarray, hessian: bool = True) -> tuple[float, np.ndarray, np.ndarray | None]: ...


def objective_scale(em: PlanObjective, X: np.ndarray) -> float:
    """The size a solver divides the objective by, in the objective's own units, at a starting plan ``X``
    ``[T, K]``: ``max(|J(X)|, min(1e-6 * value_scale, G))`` (1 when that is 0).

    ``value_scale`` is the reward at saturation everywhere; ``G`` the largest gross reward (revenue plus
    spend, ``J + 2 c sum X``) of ``X`` and of its step totals put in one channel at a time. The floor keeps
    a start whose value is about 0 (profit near break-even, S-curves flat at the equal split) from
    blowing the objective up; bounding it by what the budget can buy (``G``) keeps a campaign far below
    saturation (a ``J`` of 1e-21 of ``value_scale``) from being flat against the barrier, which then
    alone placed the plan (the equal split, 75% of the optimum). Relative floors both: multiplying every
    value by a constant (a value per conversion of 1e-40) scales the objective and changes no plan."""
    X = np.asarray(X, dtype=float)
    T, K = X.shape
    single = np.zeros((K, T, K))
    single[np.arange(K), :, np.arange(K)] = X.sum(axis=1)  # every step's total in channel i
    plans = np.concatenate([X[None], single])
    gross = np.asarray(em.value(plans), dtype=float) + 2.0 * em.spend_cost * plans.sum(axis=(1, 2))
    floor = min(em.value_scale * 1e-6, float(np.max(np.abs(gross))))
    return max(abs(float(em.value(X))), floor) or 1.0


def _locked_shares(lo: np.ndarray, hi: np.ndarray, locked: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    r"""Share bounds with each ``locked`` channel (bounds too close for a barrier) held at one share.

    The locked channels take :math:`\ell_i + t (h_i - \ell_i)` with one :math:`t \in [0, 1]`: their lower
    bounds (:math:`t = 0`) when the other (free) channels can then still take the rest of the step,
    :math:`1 - \sum_L \ell_i \le \sum_F h_i` (to the rounding of the sums); else the middle of the
    :math:`t` that leave the free channels a feasible rest,
    :math:`\sum_F \ell_i \le 1 - \sum_L (\ell_i + t w_i) \le \sum_F h_i` (:math:`w = h - \ell`).
    Locking at the lower bounds alone made bounds such as ``[0.4, 0.400002]`` beside a channel capped
    at ``0.599999`` infeasible: the start's slack was negative, its barrier NaN, and the oracle's plan
    spent half the budget, outside the bounds. Returns ``(low, high)``, equal on the locked channels."""
    w = np.where(locked, hi - lo, 0.0)
    room_lo = 1.0 - lo[locked].sum() - hi[~locked].sum()  # what the locked must add above their lows, at least
    if room_lo <= 4.0 * len(lo) * np.finfo(float).eps or w.sum() <= 0.0:  # the lows leave the rest feasible
        t = 0.0  # (to the rounding of the sums: a lock at 2.8e-260 of bounds [0, 5.6e-260] underflowed the barrier)
    else:
        room_hi = 1.0 - lo[locked].sum() - lo[~locked].sum()  # ... at most
        t = 0.5 * (min(room_lo / w.sum(), 1.0) + min(max(room_hi / w.sum(), 0.0), 1.0))
    held = np.where(locked, lo + t * w, lo)
    # a share below the rounding of the shares' sum is 0 (a zero channel, fixed): held at 5.6e-260 (bounds
    # [0, 5.6e-260] beside a free channel, locked by lock_degenerate_bounds) its barrier's curvature overflowed
    held = np.where(locked & (held <= 4.0 * len(lo) * np.finfo(float).eps), 0.0, held)
    return held, np.where(locked, held, hi)


class BarrierProblem:
    """Standard form ``min -J(y)/J0  s.t.  A y = c,  y >= lower (and y <= upper)`` in scaled units.

    ``y = [X (channel-major, K*T, in units of B/T), extra slack variables]``.
    """

    def __init__(self, sc: Scenario, em: PlanObjective):
        self.sc, self.em = sc, em
        T, K = sc.horizon, sc.n_channels
        self.T, self.K = T, K
        self.unit = sc.step_budget
        self.lo, self.hi = lock_degenerate_bounds(*sc.share_bound_arrays)
        self.agent = sc.budget.pacing == "agent"
        n_x = K * T
        rows: list[np.ndarray] = []
        rhs: list[float] = []
        lower: list[np.ndarray] = []
        upper: list[np.ndarray] = []

        def x_col(i: int, t: int) -> int:
            return i * T + t

        if not self.agent:
            lower.append(np.repeat(self.lo, T))
            upper.append(np.repeat(self.hi, T))
            n = n_x
            for t in range(T):
                r = np.zeros(n)
                r[[x_col(i, t) for i in range(K)]] = 1.0
                rows.append(r)
                rhs.append(1.0)
        else:
            cap = sc.budget.max_step_multiple
            locked = np.isclose(self.lo, self.hi)
            # a locked channel is held at one share (its lock row below), so both its bounds are that share:
            # bounds [0, 2e-311] are a channel locked at share 0, not one with a sliver of room whose
            # start sits 1e-311 from both barriers (their curvature overflowed to inf: NaN Newton steps)
            self.lo, self.hi = _locked_shares(self.lo, self.hi, locked)
            lo_rows = [i for i in range(K) if not locked[i] and self.lo[i] > 0]
            hi_rows = [i for i in range(K) if not locked[i] and self.hi[i] < 1]
            # a channel locked at share 0 spends nothing: its spends are fixed at 0 by their bounds (a
            # lock row would leave them on their lower bound, where the barrier is infinite)
            zero = [i for i in range(K) if locked[i] and self.hi[i] <= 0.0]
            lock_rows = [i for i in range(K) if locked[i] and self.hi[i] > 0.0]
            if lock_rows and len(lock_rows) + len(zero) == K:
                lock_rows = lock_rows[:-1]  # the last is implied by the others
            n_slack = T + 1 + T * (len(lo_rows) + len(hi_rows))
            n = n_x + n_slack
            lower.append(np.zeros(n))
            up = np.full(n, np.inf)
            for i in zero:
                up[x_col(i, 0) : x_col(i, T - 1) + 1] = 0.0
            upper.append(up)
            col = n_x
            for t in range(T):  # sum_i X_ti + z_t = cap
                r = np.zeros(n)
                r[[x_col(i, t) for i in range(K)]] = 1.0
                r[col] = 1.0
                col += 1
                rows.append(r)
                rhs.append(cap)
            r = np.zeros(n)  # sum X + w = T (the budget, in units of B/T)
            r[:n_x] = 1.0
            r[col] = 1.0
            col += 1
            rows.append(r)
            rhs.append(float(T))
            for t in range(T):
                for i in lo_rows:  # X_ti - lo_i s_t - v = 0
                    r = np.zeros(n)
                    r[[x_col(j, t) for j in range(K)]] = -self.lo[i]
                    r[x_col(i, t)] += 1.0
                    r[col] = -1.0
                    col += 1
                    rows.append(r)
                    rhs.append(0.0)
                for i in hi_rows:  # hi_i s_t - X_ti - v = 0
                    r = np.zeros(n)
                    r[[x_col(j, t) for j in range(K)]] = self.hi[i]
                    r[x_col(i, t)] -= 1.0
                    r[col] = -1.0
                    col += 1
                    rows.append(r)
                    rhs.append(0.0)
                for i in lock_rows:  # X_ti - L_i s_t = 0
                    r = np.zeros(n)
                    r[[x_col(j, t) for j in range(K)]] = -self.lo[i]
                    r[x_col(i, t)] += 1.0
                    rows.append(r)
                    rhs.append(0.0)
        self.n, self.n_x = n, n_x
        self.A = np.array(rows)
        self.c = np.array(rhs)
        self.lower = np.concatenate(lower)
        self.upper = np.concatenate(upper)
        # variables pinned by their bounds (locked channels under even pacing) stay fixed
        self.fixed = np.isclose(self.lower, self.upper)
        self.has_upper = np.isfinite(self.upper) & ~self.fixed
        self.has_lower = np.isfinite(self.lower) & ~self.fixed
        self.n_bounds = int(self.has_upper.sum() + self.has_lower.sum())
        self.j_scale = 1.0
        # Projection onto {d : A_free d = -r}: Newton directions with clipped curvature lose
        # A d = 0 numerically, so each direction is corrected back onto the constraints.
        free_cols = ~self.fixed
        Af = self.A * free_cols
        Af = Af[np.abs(Af).sum(axis=1) > 0]
        self._A_free = Af
        self._c_rows = np.abs(self.A * free_cols).sum(axis=1) > 0
        self._restore = Af.T @ np.linalg.pinv(Af @ Af.T)

    # -- conversions between y and plans -------------------------------------
    def plan(self, y: np.ndarray) -> np.ndarray:
        return y[: self.n_x].reshape(self.K, self.T).T * self.unit

    def from_shares(self, shares: np.ndarray, step: np.ndarray) -> np.ndarray:
        """Feasible ``y`` (with slacks) from per-step shares ``[T, K]`` and step spends ``[T]``
        (in units of B/T)."""
        X = shares * step[:, None]
        y = np.zeros(self.n)
        y[: self.n_x] = X.T.ravel()
        if self.agent:
            T = self.T
            y[self.n_x : self.n_x + T] = self.sc.budget.max_step_multiple - step
            y[self.n_x + T] = T - step.sum()
            # share slacks follow from the equality rows with zero slack coefficient solved for
            slack_cols = np.arange(self.n_x + T + 1, self.n)
            if len(slack_cols):
                resid = self.A[:, : self.n_x + T + 1] @ y[: self.n_x + T + 1] - self.c
                sub = self.A[:, slack_cols]
                owner = np.argmax(np.abs(sub), axis=0)
                y[slack_cols] = -resid[owner] / sub[owner, np.arange(len(slack_cols))]
        return y

    def interior_shares(self) -> np.ndarray:
        width = self.hi - self.lo
        room = width.sum()
        theta = (1.0 - self.lo.sum()) / room if room > 0 else 0.0
        return self.lo + width * theta

    def interior(
        self, shares: np.ndarray | None = None, step: np.ndarray | None = None, mix: float = START_MIX
    ) -> np.ndarray:
        """A strictly interior start: ``1 - mix`` of the given shares/steps, ``mix`` of the interior point."""
        base = np.broadcast_to(self.interior_shares(), (self.T, self.K))
        q = base if shares is None else (1 - mix) * project_bounded_simplex(shares, self.lo, self.hi) + mix * base
        if not self.agent:
            s = np.ones(self.T)
        else:
            s0 = 0.5 * min(self.sc.budget.max_step_multiple, 1.0) * np.ones(self.T)
            s = s0 if step is None else (1 - mix) * np.minimum(step, 0.99 * self.sc.budget.max_step_multiple) + mix * s0
            if s.sum() >= 0.999 * self.T:
                s *= 0.999 * self.T / s.sum()
        return self.from_shares(np.asarray(q), s)

    # -- objective -------------------------------------------------------------
    def objective(self, y: np.ndarray) -> float:
        return -float(self.em.value(self.plan(y))) / self.j_scale

    def derivatives(self, y: np.ndarray) -> tuple[float, np.ndarray, np.ndarray]:
        """``(-J/J0, gradient [n], Hessian blocks [K, T, T])`` of the scaled objective."""
        J, g, H = self.em.derivatives(self.plan(y))
        grad = np.zeros(self.n)
        grad[: self.n_x] = -(g.T.ravel()) * self.unit / self.j_scale
        h_scale = self.unit**2 / self.j_scale
        # unit**2 / J0 overflows to inf when J0 is subnormal (a value per conversion of 1e-310), and 0 * inf is
        # NaN: then H / J0 first (about 1 / unit**2, finite: unit >= 1e-9 / T)
        Hs = -H * h_scale if np.isfinite(h_scale) else -(H / self.j_scale) * self.unit**2  # type: ignore[operator]
        return -J / self.j_scale, grad, np.asarray(Hs)

    def barrier(self, y: np.ndarray, mu: float) -> float:
        sl = y[self.has_lower] - self.lower[self.has_lower]
        su = self.upper[self.has_upper] - y[self.has_upper]
        if np.any(sl <= 0) or np.any(su <= 0):
            return np.inf
        return self.objective(y) - mu * (np.log(sl).sum() + np.log(su).sum())

    # -- one Newton direction ----------------------------------------------------
    def direction(self, y: np.ndarray, mu: float) -> tuple[float, np.ndarray, float]:
        """``(phi, d, decrement)`` of the barrier problem at ``y`` (``A d = 0``)."""
        K, T, n_x = self.K, self.T, self.n_x
        f, g, Hx = self.derivatives(y)
        sl = np.where(self.has_lower, y - self.lower, 1.0)
        su = np.where(self.has_upper, self.upper - y, 1.0)
        g = g - mu * (self.has_lower / sl) + mu * (self.has_upper / su)
        hdiag = mu * (self.has_lower / sl**2 + self.has_upper / su**2)
        phi = f - mu * (np.log(sl[self.has_lower]).sum() + np.log(su[self.has_upper]).sum())

        free = ~self.fixed
        g = np.where(free, g, 0.0)
        # X block: channel Hessians (or, with segments, the full coupled one) plus the barrier
        # diagonal, eigenvalues clipped positive
        A = self.A
        fixed_x = self.fixed[:n_x].reshape(K, T)
        hinv, AH = (full_inverse if Hx.ndim == 2 else block_inverse)(Hx, hdiag[:n_x], fixed_x, A[:, :n_x])
        h_rest = np.where(free[n_x:], hdiag[n_x:], 1.0)
        inv_rest = np.where(free[n_x:], 1.0 / h_rest, 0.0)

        Ar = A[:, n_x:]
        S = AH @ A[:, :n_x].T + (Ar * inv_rest) @ Ar.T
        Hg = np.concatenate([hinv(g[:n_x]), inv_rest * g[n_x:]])
        rhs = -(A @ Hg)
        # regularise each row by its own scale: inactive slacks make some diagonals ~1e12
        S[np.diag_indices_from(S)] += 1e-14 * np.maximum(np.diag(S), 1e-300)
        nu = np.linalg.solve(S, rhs)

        def raw(nu: np.ndarray) -> np.ndarray:  # -H^-1 (g + A' nu)
            w = g + A.T @ nu
            return -np.concatenate([hinv(w[:n_x]), inv_rest * w[n_x:]])

        residual = (A @ y - self.c)[self._c_rows]
        r = raw(nu)
        d = r - self._restore @ (self._A_free @ r + residual)
        for _ in range(REFINE):
            if g @ d <= 0:
                break
            # an ascent direction (decrement -g.d < 0; exactly, it is d' H d >= 0): the Schur solve lost
            # digits (S is ill-conditioned by inactive slacks) and the Euclidean correction onto A d = 0 moved
            # a coordinate next to its barrier, whose gradient is huge; centre() then took the ascent for
            # convergence and stopped short of the optimum. Iterative refinement of nu (A H^-1 A' dnu = A d)
            # removes the error in the metric of H instead. A descent direction is left as it was.
            nu = nu + np.linalg.solve(S, A @ r)
            r = raw(nu)
            d = r - self._restore @ (self._A_free @ r + residual)
        return phi, d, float(-(g @ d))

    def step_to_boundary(self, y: np.ndarray, d: np.ndarray) -> float:
        alpha = np.inf
        neg = self.has_lower & (d < 0)
        if neg.any():
            alpha = min(alpha, float(np.min((self.lower[neg] - y[neg]) / d[neg])))
        pos = self.has_upper & (d > 0)
        if pos.any():
            alpha = min(alpha, float(np.min((self.upper[pos] - y[pos]) / d[pos])))
        return alpha

    # -- the barrier method ----------------------------------------------------------
    def centre(self, y: np.ndarray, mu: float, max_newton: int = 60) -> np.ndarray:
        """One round of the barrier method: damped Newton steps on the barrier problem at weight ``mu``
        from ``y`` until the decrement is below ``1e-13`` (or ``1e-10`` after a full step)."""
        for _ in range(max_newton):
            phi, d, dec = self.direction(y, mu)
            if dec <= 1e-13:
                break
            alpha = min(1.0, 0.99 * self.step_to_boundary(y, d))
            slope = -dec
            for _ in range(50):
                trial = self.barrier(y + alpha * d, mu)
                if trial <= phi + 0.25 * alpha * slope:
                    break
                alpha *= 0.5
            else:
                break
            y = y + alpha * d
            if dec <= 1e-10 and alpha == 1.0:
                break
        return y

    def done(self, mu: float) -> bool:
        """The duality-gap bound ``n_bounds * mu`` is below :data:`GAP_TOL`: the last round."""
        return self.n_bounds * mu <= GAP_TOL

    def solve(self, y: np.ndarray, mu: float, max_newton: int = 60) -> np.ndarray:
        """The barrier method from ``y``: :meth:`centre` at ``mu``, then ``mu`` tenfold smaller per round
        until :meth:`done`."""
        while True:
            y = self.centre(y, mu, max_newton)
            if self.done(mu):
                return y
            mu *= 0.1


def repair_plan(sc: Scenario, prob: BarrierProblem, plan: np.ndarray) -> np.ndarray:
    """Make a (numerically near-feasible) plan exactly playable: per step, project its split
    onto the share bounds and set its total (B/T for even pacing; at most the step cap and,
    over the episode, at most the budget for agent pacing)."""
    plan = np.maximum(plan, 0.0)
    total = plan.sum(axis=1)
    K = plan.shape[1]
    split = np.divide(plan, total[:, None], out=np.full_like(plan, 1.0 / K), where=total[:, None] > 0)
    split = project_bounded_simplex(split, prob.lo, prob.hi)
    if not prob.agent:
        total = np.full(len(total), sc.step_budget)
    else:
        total = np.minimum(total, sc.step_cap)
        if total.sum() > sc.budget.total:
            total *= sc.budget.total / total.sum() * (1 - 1e-12)
    return split * total[:, None]
