r"""Euclidean projection onto the feasible splits, one split or many rows at once.

The feasible splits of ``K`` channels with share bounds ``low`` and ``high`` are

.. math::  S = \{q : \sum_i q_i = 1,\ \ell_i \le q_i \le h_i\},

and the projection of ``p`` onto ``S`` is :math:`q_i = \mathrm{clip}(p_i - \nu, \ell_i, h_i)` with the
scalar :math:`\nu` the root of :math:`g(\nu) = \sum_i \mathrm{clip}(p_i - \nu, \ell_i, h_i) = 1`
(``g`` is piecewise linear and non-increasing). Shares are dimensionless fractions of a step's spend.
Three ways to find the root, each documented where it is defined: the sorted breakpoints
(:func:`project_bounded_simplex`, :func:`project_rows`), a safeguarded Newton iteration
(:func:`project_rows_newton`) and an active-set iteration for bounds that leave most channels plain
(:func:`project_rows_few_bounds`). Every one requires ``sum(low) <= 1 <= sum(high)`` and keeps a row
that is already feasible as it is. :mod:`budgetgym.envs.allocation` turns actions into splits with them
(and re-exports them).
"""

from __future__ import annotations

import numpy as np

__all__ = [
    "project_bounded_simplex",
    "project_rows",
    "project_rows_newton",
    "project_rows_few_bounds",
    "MICHELOT_STEPS",
]


def project_bounded_simplex(p: np.ndarray, low: np.ndarray, high: np.ndarray) -> np.ndarray:
    r"""Euclidean projection of ``p`` (last axis) onto ``{sum q = 1, low <= q <= high}``.

    ``g(nu) = sum_i clip(p_i - nu, low_i, high_i)`` is piecewise linear and non-increasing
    with breakpoints ``p_i - high_i`` (where channel i starts to fall, slope -1) and
    ``p_i - low_i`` (where it stops). At the first breakpoint ``g = sum(high)``; between sorted
    breakpoints ``g`` falls by (number of falling channels) x (gap), a cumulative sum, so ``g``
    at every breakpoint costs O(K log K). The root of ``g(nu) = 1`` is then interpolated
    exactly. Requires ``sum(low) <= 1 <= sum(high)``.
    """
    p = np.asarray(p, dtype=np.float64)
    if p.ndim == 1:
        return _project_one(p, low, high)
    inside = np.all((p >= low) & (p <= high), axis=-1) & (np.abs(p.sum(axis=-1) - 1.0) < 1e-12)
    if np.all(inside):
        return p.copy()
    flat = p.reshape(-1, p.shape[-1])
    K = flat.shape[1]
    raw = np.concatenate([flat - high, flat - low], axis=-1)  # [B, 2K]
    # any sort: tied breakpoints bound zero-width gaps (their order adds only zeros), so the result
    # is the stable sort's bit for bit, and numpy's quicksort is ~4x faster on [B, 2K]
    order = np.argsort(raw, axis=-1)
    bp = np.take_along_axis(raw, order, axis=-1)
    change = np.where(order < K, 1.0, -1.0)  # +1 starts falling, -1 stops
    falling = np.cumsum(change, axis=-1)[:, :-1]  # channels falling between bp[j] and bp[j+1]
    drop = np.cumsum(falling * np.diff(bp, axis=-1), axis=-1)
    g = np.broadcast_to(high, flat.shape).sum(axis=-1, keepdims=True) - np.concatenate(
        [np.zeros((len(flat), 1)), drop], axis=-1
    )  # [B, 2K], non-increasing
    # last breakpoint with g >= 1 (g at the first breakpoint is sum(high) >= 1)
    j = np.clip((g >= 1.0).sum(axis=-1) - 1, 0, bp.shape[1] - 2)
    rows = np.arange(len(flat))
    g0, g1 = g[rows, j], g[rows, j + 1]
    b0, b1 = bp[rows, j], bp[rows, j + 1]
    with np.errstate(divide="ignore", invalid="ignore"):
        frac = np.where(g0 > g1, (g0 - 1.0) / (g0 - g1), 0.0)
    nu = b0 + np.clip(frac, 0.0, 1.0) * (b1 - b0)
    q = np.clip(flat - nu[:, None], low, high)
    return q.reshape(p.shape)


def project_rows(p: np.ndarray, low: np.ndarray, high: np.ndarray) -> np.ndarray:
    """:func:`project_bounded_simplex` of every row of ``p`` ``[n, K]``, each row bit for bit what the
    one-split call returns for it: a row already feasible is kept as it is (the batched path of
    :func:`project_bounded_simplex` re-projects every row once one is infeasible)."""
    p = np.asarray(p, dtype=np.float64)
    inside = np.all((p >= low) & (p <= high), axis=-1) & (np.abs(p.sum(axis=-1) - 1.0) < 1e-12)
    out = p.copy()
    if not inside.all():
        out[~inside] = project_bounded_simplex(p[~inside], low, high)
    return out


def project_rows_newton(p: np.ndarray, low: np.ndarray, high: np.ndarray, max_iter: int = 200) -> np.ndarray:
    r""":func:`project_rows` without a sort: a safeguarded Newton iteration on each row's ``nu``.

    ``g(nu) = sum_i clip(p_i - nu, low_i, high_i)`` is piecewise linear and non-increasing; on the
    piece at ``nu`` its slope is minus the number ``f`` of *free* channels (``low_i < p_i - nu <
    high_i``), so the Newton step ``nu + (g(nu) - 1) / f`` lands on the root of that piece: the root
    of ``g = 1`` itself once the free set is the solution's (a few steps; the rows are iterated
    together, each dropped once converged). The step is safeguarded by the bracket ``[lo, hi]``
    with ``g(lo) >= 1 >= g(hi)`` (at most ``min(p - high)`` and ``max(p - low)``), bisecting
    when it would leave it or no channel is free. A row has converged when its step is below a few
    units in the last place of its shares (``|g - 1| <= 4 K eps``), or its bracket is empty. (The
    bracket starts unbounded and is narrowed by the iterates; its ends are computed only for the
    rows that bisect.)

    The same projection as :func:`project_rows` up to rounding (the root found by another
    route; ~1e-16 per share, never bit for bit), at a fraction of its cost for many channels.
    Requires ``sum(low) <= 1 <= sum(high)``; rows already feasible are kept as they are.
    """
    P = np.asarray(p, dtype=np.float64)
    n, K = P.shape
    tol = 4.0 * K * np.finfo(float).eps
    lo, hi = np.full(n, -np.inf), np.full(n, np.inf)  # the bracket: from the iterates, else (bisection) the extremes
    nu = np.zeros(n)  # nu = 0 keeps a feasible row as it is: clip(p - 0) = p
    live = np.arange(n)  # the rows still iterating
    x, q = np.empty_like(P), np.empty_like(P)
    for it in range(max_iter):
        m = len(live)
        Pl, nl = (P, nu) if m == n else (P[live], nu[live])
        xl = np.subtract(Pl, nl[:, None], out=x[:m])
        ql = np.clip(xl, low, high, out=q[:m])
        free = np.count_nonzero(ql == xl, axis=1)  # at a bound exactly: the same g either side
        excess = ql.sum(axis=1) - 1.0
        lol, hil = lo[live], hi[live]
        done = (np.abs(excess) <= tol) | (hil <= lol)
        if it == 0:  # a feasible row (the one-split rule of project_rows): kept, nu = 0
            done |= (free == K) & (np.abs(excess) < 1e-12)
        lol = np.where(excess >= 0.0, nl, lol)
        hil = np.where(excess <= 0.0, nl, hil)
        with np.errstate(divide="ignore", invalid="ignore"):
            step = nl + excess / free
        bisect = (free == 0) | ~(step > lol) | ~(step < hil)
        if bisect.any():  # g(min(p - high)) = sum(high) >= 1 >= sum(low) = g(max(p - low))
            b = np.flatnonzero(bisect)
            lol[b] = np.maximum(lol[b], (P[live[b]] - high).min(axis=1))
            hil[b] = np.minimum(hil[b], (P[live[b]] - low).max(axis=1))
        nu[live] = np.where(done, nl, np.where(bisect, 0.5 * (lol + hil), step))
        lo[live], hi[live] = lol, hil
        live = live[~done]
        if not len(live):
            break
    out = np.subtract(P, nu[:, None], out=x)
    return np.clip(out, low, high, out=out)


#: :func:`project_rows_few_bounds`: the active-set steps every row takes before its shares are tried
#: (2: fewest passes for softmax splits of 50 channels, ~4 steps to the root; 1 and 3 were slower).
MICHELOT_STEPS = 2


def project_rows_few_bounds(
    p: np.ndarray, low: np.ndarray, high: np.ndarray, out: np.ndarray | None = None
) -> np.ndarray:
    r""":func:`project_rows_newton` for bounds that leave most channels *plain* (``low = 0``,
    ``high = 1``): an active-set (Michelot) iteration whose passes over ``[n, K]`` are a compare, a
    count and a masked sum, with the few *bounded* channels solved exactly.

    With every ``low >= 0``, the plain channels' part of ``g(nu) = sum_i clip(p_i - nu, low_i, high_i)``
    is ``T(nu) = sum_{i plain} max(p_i - nu, 0)`` at the root: there ``T = 1 - sum_{b bounded}
    clip(p_b - nu, low_b, high_b) <= 1``, so no plain share exceeds one. ``T`` is convex and
    piecewise linear; on the *active* set ``F = {i plain : p_i > nu_k}`` its tangent at ``nu_k`` is
    the line ``A - c nu`` (``A = sum_F p_i``, ``c = |F|``), below ``T`` everywhere. Each step solves
    ``h(nu) = A - c nu + sum_b clip(p_b - nu, low_b, high_b) - 1 = 0`` exactly. A locked channel
    (``low_b = high_b``) adds its constant share. ``h`` is strictly decreasing (slope ``<= -c``), so
    another bounded channel ``b`` is at ``high_b`` at the root when ``h(p_b - high_b) < 0``, at
    ``low_b`` when (else) ``h(p_b - low_b) > 0``, else free (the bounded shares at these breakpoints
    are computed once per row), and

    .. math::  \nu_{k+1} = \frac{A - 1 + \sum_{b\ \mathrm{at\ a\ bound}} \mathrm{bound}_b
               + \sum_{b\ \mathrm{free}} p_b}{c + \#\mathrm{free}}.

    The line being below ``T``, ``g(nu_{k+1}) >= 1``: ``nu_{k+1}`` is at most the root, and at least
    ``nu_k`` (``g(nu_k) >= 1`` on the line). So the active set only shrinks, and once it no longer
    does, ``nu_{k+1}`` solves ``g = 1`` on the root's piece: at most ``|plain| + 1`` steps, ~4 for
    softmax splits of 50 channels. The first line is the one with every plain channel active
    (``A = sum_{plain} p_i``, below ``T`` too), so a row none of whose plain shares is clipped is
    solved at once.

    Every row takes :data:`MICHELOT_STEPS` steps (fewer once its set stays), and its shares are
    ``clip(p - nu, low, high)`` with ``nu`` its last line's root: they sum to one (within
    :func:`project_rows_newton`'s tolerance ``4 K eps``) when that line's set was the root's, which
    spares most rows the step that would confirm it. The other rows step on until their set
    stays; a row whose shares still miss the sum (e.g. no plain channel left active) is projected by
    :func:`project_rows_newton`, as are all rows when the bounds have more than ``sqrt(K / 2)``
    bounded channels that are not locked (their exact solve costs ``2 b^2`` operations per row),
    no plain channel, or a negative ``low``. Rows already feasible are kept as they are (the rule of
    :func:`project_rows`). Requires ``sum(low) <= 1 <= sum(high)``. ``out``: an array ``[n, K]`` (not
    ``p``) to write the shares in, else a new one.
    """
    P = np.asarray(p, dtype=np.float64)
    n, K = P.shape
    plain = (low == 0.0) & (high == 1.0)
    N = np.flatnonzero(~plain)  # the bounded channels: locked (low = high, a constant share) or not
    V = np.flatnonzero(low[N] < high[N])  # (of N) the not locked
    if len(N) == K or 2 * len(V) ** 2 > K or (low < 0.0).any():
        return _into(project_rows_newton(P, low, high), out)
    lN, hN = low[N, None], high[N, None]
    PN = np.ascontiguousarray(P[:, N].T)  # [|N|, n], as every per-row array of the bounded channels
    total = np.einsum("ij->i", P)
    keep = np.zeros(n, dtype=bool)  # rows already feasible (project_rows' rule, numpy's sum)
    cand = np.flatnonzero(np.all((PN >= lN) & (PN <= hN), axis=0) & (np.abs(total - 1.0) < 2e-12))
    if len(cand):
        Pk = P[cand]
        keep[cand] = np.all((Pk >= low) & (Pk <= high), axis=-1) & (np.abs(Pk.sum(axis=-1) - 1.0) < 1e-12)
        if keep.all():
            return _into(P.copy() if out is None else P, out)
    lV, hV, PV = lN[V], hN[V], PN[V]
    tU, tL = PV - hV, PV - lV  # channel v is at high_v where nu < tU_v, at low_v where nu > tL_v
    at = [sum((np.clip(PV[k] - t, lV[k], hV[k]) for k in range(len(V))), np.zeros_like(t)) for t in (tU, tL)]
    X = np.stack([PV, tU, tL, *at])  # [5, |V|, n]: _bounded_root's
    locked = float(lN.sum() - lV.sum())
    a = total - PN.sum(axis=0) + (locked - 1.0)  # A - 1 + the locked shares, every plain channel active
    c = np.full(n, float(K - len(N)))
    nu = np.zeros(n)
    tol = 4.0 * K * np.finfo(float).eps
    rows = np.flatnonzero(~keep)
    with np.errstate(divide="ignore", invalid="ignore"):  # no plain channel left active: the sum tells
        nu[rows] = _michelot(P, PN, X, lV, hV, locked, rows, a, c, MICHELOT_STEPS)
        out = np.subtract(P, nu[:, None], out=out)
        np.clip(out, 0.0, 1.0, out=out)
        out[:, N] = np.clip(PN - nu, lN, hN).T  # (a row kept has nu = 0: its shares are its p)
        rows = np.flatnonzero(~(np.abs(np.einsum("ij->i", out) - 1.0) <= tol) & ~keep)
        if len(rows):  # the last line's set was not the root's: on until the set stays
            nu[rows] = _michelot(P, PN, X, lV, hV, locked, rows, a, c, K)
            out[rows] = q = np.clip(P[rows] - nu[rows, None], low, high)
            rows = rows[~(np.abs(np.einsum("ij->i", q) - 1.0) <= tol)]
    if len(rows):
        out[rows] = project_rows_newton(P[rows], low, high)
    return out


def _into(x: np.ndarray, out: np.ndarray | None) -> np.ndarray:
    """``x`` (a new array), or its copy in ``out`` when given."""
    if out is not None:
        np.copyto(out, x)
        return out
    return x


def _michelot(
    P: np.ndarray, PN: np.ndarray, X: np.ndarray, low: np.ndarray, high: np.ndarray, locked: float,
    rows: np.ndarray, a: np.ndarray, c: np.ndarray, steps: int,
) -> np.ndarray:
    """Up to ``steps`` active-set steps of :func:`project_rows_few_bounds` on ``rows`` of ``P``
    ``[n, K]`` from their lines ``a = A - 1 + locked``, ``c`` (``[n]``, updated in place); returns
    the roots ``nu`` of the rows' last lines (``[len(rows)]``). ``PN`` ``[|N|, n]``: the bounded
    channels' ``p``; ``X``: :func:`_bounded_root`'s."""
    nu = np.empty(len(rows))
    at = np.arange(len(rows))  # the working rows' places in rows
    Pw, PNw, Xw = (P, PN, X) if len(rows) == len(P) else (P.take(rows, 0), PN.take(rows, 1), X.take(rows, 2))
    aw, cw = a[rows], c[rows]
    mask = np.empty(Pw.shape, dtype=bool)
    small = np.uint8 if P.shape[1] < 256 else np.intp  # a count of channels
    for step in range(steps):
        nw = _bounded_root(aw, cw, Xw, low, high)
        nu[at] = nw
        above = PNw > nw  # the bounded channels' part of the mask, taken off
        ml = np.greater(Pw, nw[:, None], out=mask[: len(at)])
        count = np.einsum("ij->i", ml.view(np.uint8), dtype=small) - above.sum(axis=0, dtype=small)
        moved = count < cw  # the active set shrank (the other rows would find their nu again)
        left = np.flatnonzero(moved)
        if not len(left):
            return nu
        if len(left) < 0.8 * len(at) and step < steps - 1:  # work on those left
            at, Pw, PNw, Xw, ml = at[left], Pw.take(left, 0), PNw.take(left, 1), Xw.take(left, 2), ml.take(left, 0)
            aw, count, moved, above = aw[left], count[left], moved[left], above.take(left, 1)
        new = np.einsum("ij,ij->i", Pw, ml) - (PNw * above).sum(axis=0) + (locked - 1.0)
        aw, cw = np.where(moved, new, aw), count.astype(float)
        a[rows[at]], c[rows[at]] = aw, cw
    nu[at] = _bounded_root(aw, cw, Xw, low, high)
    return nu


def _bounded_root(a: np.ndarray, c: np.ndarray, X: np.ndarray, low: np.ndarray, high: np.ndarray) -> np.ndarray:
    """The root of ``h(nu) = a - c nu + sum_v clip(p_v - nu, low_v, high_v)`` of every row
    (:func:`project_rows_few_bounds`; ``a`` is ``A - 1`` plus the locked shares): ``a``, ``c``
    ``[m]``; ``X`` ``[5, |V|, m]`` the not-locked bounded channels' ``p``, breakpoints ``p - high``
    and ``p - low``, and the sums of their shares there."""
    P, tU, tL, atU, atL = X
    upper = a - c * tU + atU < 0.0
    lower = ~upper & (a - c * tL + atL > 0.0)
    share = np.where(upper, high, np.where(lower, low, P))
    return (a + share.sum(axis=0)) / (c + np.count_nonzero(~upper & ~lower, axis=0))


def _project_one(p: np.ndarray, low: np.ndarray, high: np.ndarray) -> np.ndarray:
    """:func:`project_bounded_simplex` for one split (the same breakpoint algorithm, fewer calls)."""
    if abs(p.sum() - 1.0) < 1e-12 and (p >= low).all() and (p <= high).all():
        return p.copy()  # already feasible: unchanged, bit for bit
    K = len(p)
    raw = np.concatenate((p - high, p - low))
    order = raw.argsort(kind="stable")
    bp = raw[order]
    falling = np.cumsum(np.where(order < K, 1.0, -1.0))[:-1]
    g = np.empty(2 * K)
    g[0] = high.sum()
    np.cumsum(falling * np.diff(bp), out=g[1:])
    g[1:] = g[0] - g[1:]
    j = min(max(int(np.count_nonzero(g >= 1.0)) - 1, 0), 2 * K - 2)
    g0, g1 = g[j], g[j + 1]
    frac = (g0 - 1.0) / (g0 - g1) if g0 > g1 else 0.0
    nu = bp[j] + min(max(frac, 0.0), 1.0) * (bp[j + 1] - bp[j])
    return np.clip(p - nu, low, high)
