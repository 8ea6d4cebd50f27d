r"""The oracle: the best spend plan given the true parameters.

The value of a plan is defined once, in :mod:`budgetgym.envs.plan_value`
(:func:`~budgetgym.envs.plan_value.evaluate_plan`, re-exported here); the oracle ranks its
candidates by it, so "% of oracle" means the same everywhere.

:func:`solve_oracle` maximises the expected episode reward

.. math:: \max_X J(X) \quad \text{s.t. the plan is reachable by the environment,}

with :math:`J` from :mod:`budgetgym.envs.expected` and the constraints of the
scenario's pacing (``B`` budget, ``T`` horizon, ``[l_i, h_i]`` share bounds):

* ``even``:  :math:`\sum_i X_{t,i} = B/T`, :math:`l_i B/T \le X_{t,i} \le h_i B/T`;
* ``agent``: :math:`X \ge 0`, :math:`s_t = \sum_i X_{t,i} \le m B/T`,
  :math:`\sum_t s_t \le B`, :math:`l_i s_t \le X_{t,i} \le h_i s_t`.

Method. The problem is solved by a primal log-barrier interior-point method
with Newton steps on the equality-constrained barrier problem
(:math:`\min -J(y) - \mu \sum \log(\text{slack})` s.t. :math:`A y = c`, with
inequalities turned into non-negative slack variables). The Hessian of
:math:`J` is block-diagonal by channel (``K`` blocks of ``T x T``), so each
Newton step costs :math:`O(K T^3)` through a Schur complement on the
equality constraints; :math:`\mu` falls tenfold per round until the barrier's
duality-gap bound ``n_bounds * mu`` is below ``1e-9`` of the objective.

* When every curve is concave (Hill slope <= 1, logistic) and cost curves
  are concave (always), :math:`J` is concave, and the barrier method converges
  to the global optimum: one start suffices.
* With S-shaped curves (Hill slope > 1) :math:`J` is not concave. Newton
  directions use the Hessian with eigenvalues clipped to be positive (a
  descent direction), and the best of several starts is kept: the interior
  point, a per-step dynamic programme on a grid of the step budget (exact for
  problems without carry-over, a warm start otherwise), every subset of active
  channels (for up to 6 free channels) and seeded random splits.

The reported ``expected_reward`` is :func:`evaluate_plan` of the returned plan.
"""

from __future__ import annotations

import itertools
import time
from dataclasses import dataclass

import numpy as np
from threadpoolctl import threadpool_limits

from budgetgym.envs.allocation import lock_degenerate_bounds, project_bounded_simplex
from budgetgym.envs.dynamics import ChannelModel
from budgetgym.envs.expected import ExpectedModel
from budgetgym.envs.grid_dp import grid_fractions, grid_split_values
from budgetgym.envs.path import ScenarioPath
from budgetgym.envs.plan_value import check_plan, evaluate_plan, resolve_path, scenario_path
from budgetgym.envs.scenario import Scenario

__all__ = ["OracleResult", "solve_oracle", "evaluate_plan", "scenario_path", "check_plan", "grid_split"]

GAP_TOL = 1e-9


@dataclass(frozen=True)
class OracleResult:
    """The oracle's plan and its expected reward."""

    plan: np.ndarray  # [T, K] spend per step and channel (currency)
    expected_reward: float  # evaluate_plan(plan) on `path`
    path: ScenarioPath
    starts: int
    seconds: float
    concave: bool
    step_rewards: np.ndarray  # [T] evaluate_plan(plan, per_step=True) on `path`; sums to expected_reward

    @property
    def step_spend(self) -> np.ndarray:
        return self.plan.sum(axis=1)

    @property
    def shares(self) -> np.ndarray:
        """Per-step split of the plan (equal split on steps that spend nothing)."""
        s = self.step_spend[:, None]
        K = self.plan.shape[1]
        return np.divide(self.plan, s, out=np.full_like(self.plan, 1.0 / K), where=s > 0)


# ------------------------------------------------------------ the problem
class _Problem:
    """Standard form ``min -J(y)/J0  s.t.  A y = c,  y >= lower (and y <= upper)`` in scaled units.

    ``y = [X (channel-major, K*T, in units of B/T), extra slack variables]``.
    """

    def __init__(self, sc: Scenario, em: ExpectedModel):
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
            lo_rows = [i for i in range(K) if not locked[i] and self.lo[i] > 0]
            hi_rows = [i for i in range(K) if not locked[i] and self.hi[i] < 1]
            lock_rows = [i for i in range(K) if locked[i]]
            if len(lock_rows) == K:
                lock_rows = lock_rows[:-1]  # the last is implied by the others
            n_slack = T + 1 + T * (len(lo_rows) + len(hi_rows))
            n = n_x + n_slack
            lower.append(np.zeros(n))
            upper.append(np.full(n, np.inf))
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

    def interior(self, shares: np.ndarray | None = None, step: np.ndarray | None = None) -> np.ndarray:
        """A strictly interior start: 98% of the given shares/steps, 2% of the interior point."""
        base = np.broadcast_to(self.interior_shares(), (self.T, self.K))
        q = base if shares is None else 0.98 * project_bounded_simplex(shares, self.lo, self.hi) + 0.02 * base
        if not self.agent:
            s = np.ones(self.T)
        else:
            s0 = 0.5 * min(self.sc.budget.max_step_multiple, 1.0) * np.ones(self.T)
            s = s0 if step is None else 0.98 * np.minimum(step, 0.99 * self.sc.budget.max_step_multiple) + 0.02 * s0
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
        return -J / self.j_scale, grad, -H * (self.unit**2 / self.j_scale)  # type: ignore[operator]

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
        # X block: channel Hessians plus barrier diagonal, eigenvalues clipped positive
        idx = np.arange(T)
        Hx = Hx.copy()
        Hx[:, idx, idx] += hdiag[:n_x].reshape(K, T)
        fixed_x = self.fixed[:n_x].reshape(K, T)
        if fixed_x.any():
            Hx[fixed_x, :] = 0.0
            Hx.transpose(0, 2, 1)[fixed_x, :] = 0.0
            Hx[:, idx, idx] += fixed_x * 1.0
        lam, V = np.linalg.eigh(Hx)
        top = np.maximum(np.abs(lam).max(axis=1, keepdims=True), 1e-300)
        lam = np.maximum(lam, 1e-10 * top)
        Hinv_x = (V / lam[:, None, :]) @ V.transpose(0, 2, 1)
        Hinv_x *= ~fixed_x[:, :, None] & ~fixed_x[:, None, :]
        h_rest = np.where(free[n_x:], hdiag[n_x:], 1.0)
        inv_rest = np.where(free[n_x:], 1.0 / h_rest, 0.0)

        A = self.A
        Ax = A[:, :n_x].reshape(len(A), K, T)
        Ar = A[:, n_x:]
        M = Ax.transpose(1, 0, 2) @ Hinv_x  # [K, p, T]: rows of A H^-1 (X part; H symmetric)
        S = M.transpose(1, 0, 2).reshape(len(A), n_x) @ A[:, :n_x].T + (Ar * inv_rest) @ Ar.T
        Hg = np.concatenate([(Hinv_x @ g[:n_x].reshape(K, T, 1)).ravel(), inv_rest * g[n_x:]])
        rhs = -(A @ Hg)
        # regularise each row by its own scale: inactive slacks make some diagonals ~1e12
        S[np.diag_indices_from(S)] += 1e-14 * np.maximum(np.diag(S), 1e-300)
        nu = np.linalg.solve(S, rhs)
        w = g + A.T @ nu
        d = -np.concatenate([(Hinv_x @ w[:n_x].reshape(K, T, 1)).ravel(), inv_rest * w[n_x:]])
        residual = (A @ y - self.c)[self._c_rows]
        d = d - self._restore @ (self._A_free @ d + residual)
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
    def solve(self, y: np.ndarray, mu: float, max_newton: int = 60) -> np.ndarray:
        while True:
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
            if self.n_bounds * mu <= GAP_TOL:
                return y
            mu *= 0.1


def _repair(sc: Scenario, prob: _Problem, plan: np.ndarray) -> np.ndarray:
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
        total = np.minimum(total, sc.budget.max_step_multiple * sc.step_budget)
        if total.sum() > sc.budget.total:
            total *= sc.budget.total / total.sum() * (1 - 1e-12)
    return split * total[:, None]


# ------------------------------------------------------------------- starts
def _dp_shares(prob: _Problem, grid: int = 101) -> np.ndarray:
    """Per-step knapsack over channels on a grid of the step budget
    (:func:`~budgetgym.envs.grid_dp.grid_split_values`), valuing spend ``x`` in channel ``i``
    at step ``t`` as ``C[t,i] f_i(sum(w_i) e_{t,i}(x))`` (steady-state carry-over). Exact (to
    the grid) for problems without carry-over or delay; a warm start otherwise."""
    em, m = prob.em, prob.em.model
    x = grid_fractions(grid)[None, :, None] * prob.unit  # [1, G, 1]
    # a step's spend keeps working through its carry-over; value it by the weights of the steps
    # it reaches inside the horizon: ceff[t, i] = sum_l w_l C[t+l, i] / sum_l w_l
    total_w = m.adstock.sum(axis=1)
    ceff = (em.lag.transpose(0, 2, 1) @ em.weight.T[:, :, None])[:, :, 0].T / total_w
    val = ceff[:, None, :] * m.steady_state_response(x, em.scale[:, None, :]) - em.spend_cost * x  # [T, G, K]
    return grid_split_values(val, prob.lo, prob.hi)


def grid_split(
    scenario: str | Scenario, grid: int = 101, *, path: ScenarioPath | None = None
) -> np.ndarray:
    """Per-step shares ``[T, K]`` from the dynamic programme of :func:`_dp_shares` (spend on a
    grid of ``grid`` points of the step budget). Exact, to the grid, for one-step or carry-over-free
    scenarios with even pacing, for any curve shape; a fast heuristic otherwise."""
    sc, p = resolve_path(scenario, None, path)
    return _dp_shares(_Problem(sc, ExpectedModel(ChannelModel.from_scenario(sc), p)), grid)


def _starts(prob: _Problem, n_random: int) -> list[tuple[np.ndarray, np.ndarray | None]]:
    K, T = prob.K, prob.T
    starts: list[tuple[np.ndarray, np.ndarray | None]] = [(np.full((T, K), 1.0 / K), None)]
    try:
        starts.append((_dp_shares(prob), None))
    except (ValueError, FloatingPointError):  # pragma: no cover - defensive
        pass
    free = [i for i in range(K) if prob.hi[i] > prob.lo[i]]
    if 2 <= len(free) <= 6:
        for r in range(1, len(free)):
            for subset in itertools.combinations(free, r):
                q = np.full(K, 1e-3)
                q[list(subset)] = 1.0
                starts.append((np.broadcast_to(q / q.sum(), (T, K)).copy(), None))
    rng = np.random.default_rng(12345)
    for _ in range(n_random):
        q = rng.dirichlet(np.full(K, 0.5), size=T) if rng.random() < 0.5 else np.broadcast_to(
            rng.dirichlet(np.full(K, 0.5)), (T, K)
        ).copy()
        step = None
        if prob.agent:
            step = rng.uniform(0.2, 0.98, T) * min(prob.sc.budget.max_step_multiple, 2.0)
        starts.append((q, step))
    if prob.agent:
        ramp = np.linspace(1.6, 0.4, T)
        starts.append((np.full((T, K), 1.0 / K), ramp))
        starts.append((np.full((T, K), 1.0 / K), ramp[::-1].copy()))
    return starts


# --------------------------------------------------------------------- solve
def solve_oracle(
    scenario: str | Scenario,
    seed: int | None = None,
    *,
    path: ScenarioPath | None = None,
    n_random_starts: int = 6,
) -> OracleResult:
    """Spend plan maximising the expected episode reward under the true parameters.

    Parameters
    ----------
    scenario : built-in name, YAML path or Scenario.
    seed : episode seed; the plan is then optimal in hindsight for that seed's realised
        path (drift). ``None``: the nominal path (no drift).
    path : an explicit path instead of ``seed``.
    n_random_starts : extra random starts when some curve is S-shaped.
    """
    t0 = time.perf_counter()
    sc, p = resolve_path(scenario, seed, path)
    model = ChannelModel.from_scenario(sc)
    em = ExpectedModel(model, p)
    prob = _Problem(sc, em)
    y0 = prob.interior()
    prob.j_scale = max(abs(float(em.value(prob.plan(y0)))), float((em.weight * model.beta).sum()) * 1e-6, 1e-12)

    concave = model.is_concave
    # The Newton steps factorise many tiny matrices; BLAS threads only add contention there
    # (35x slower per step on a loaded 2-core machine), so the solve runs single-threaded.
    with threadpool_limits(limits=1, user_api="blas"):
        if concave:
            candidates = [prob.solve(y0, mu=1e-3)]
        else:
            candidates = [prob.solve(prob.interior(q, s), mu=1e-5) for q, s in _starts(prob, n_random_starts)]
    # repair rounding, then rank the candidates by the value the environment would give them
    plans = np.stack([_repair(sc, prob, prob.plan(y)) for y in candidates])
    values = np.atleast_1d(evaluate_plan(sc, plans, path=p, model=model))
    best = int(np.argmax(values))
    plan, value = plans[best], float(values[best])
    steps = np.asarray(evaluate_plan(sc, plan, path=p, model=model, per_step=True))
    return OracleResult(
        plan=plan,
        expected_reward=value,
        path=p,
        starts=len(candidates),
        seconds=time.perf_counter() - t0,
        concave=concave,
        step_rewards=steps,
    )
