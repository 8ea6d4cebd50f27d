r"""The inverse of the barrier method's Newton Hessian (:meth:`~budgetgym.envs.barrier.BarrierProblem.direction`).

The plan block of the Hessian is either block-diagonal, one ``T x T`` block per channel
(:func:`block_inverse`), or one full ``K T x K T`` matrix when audience segments couple the channels
(:func:`full_inverse`); each has the barrier's diagonal added and the coordinates fixed by their
bounds removed. An indefinite matrix (an S-shaped curve) is inverted with its eigenvalues clipped
positive (:func:`clipped_inverse`); a well-conditioned positive definite one through its Cholesky
factor, which gives the same inverse faster.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from scipy.linalg import cho_factor, cho_solve, lapack

__all__ = ["WELL_CONDITIONED", "block_inverse", "clipped_inverse", "full_inverse", "stack_inverse"]


def clipped_inverse(H: np.ndarray) -> np.ndarray:
    """Inverse of symmetric ``H`` (or a stack) with eigenvalues clipped to ``>= 1e-10 max|lambda|``."""
    lam, V = np.linalg.eigh(H)
    top = np.maximum(np.abs(lam).max(axis=-1, keepdims=True), 1e-300)
    lam = np.maximum(lam, 1e-10 * top)
    return (V / lam[..., None, :]) @ np.swapaxes(V, -1, -2)


#: Where every block is positive definite with ``||H||_1 ||H^-1||_1`` below this (so
#: ``lambda_min > 1e-10 lambda_max``: :func:`clipped_inverse` would clip nothing), the blocks are
#: inverted directly.
WELL_CONDITIONED = 1e10


def stack_inverse(H: np.ndarray) -> np.ndarray:
    r""":func:`clipped_inverse` of a stack of symmetric blocks ``[K, T, T]``, by Cholesky where that clips nothing.

    A block is positive definite when its Cholesky factor exists; then its 2-norm condition number
    :math:`\lambda_{max}/\lambda_{min} \le \|H\|_1 \|H^{-1}\|_1` (for symmetric ``H``,
    :math:`\|H\|_2 \le \|H\|_1`), so below :data:`WELL_CONDITIONED` no eigenvalue is under
    ``1e-10 max|lambda|`` and the clipped inverse is the inverse itself (symmetrised against
    rounding). About 3x faster than the eigendecomposition at ``T = 91``; the inverse is taken from the
    Cholesky factor the test computes (``potri``: exactly symmetric, and 2-3x faster again than an LU
    inverse, which made a third of a daily family's planning time). Each block is decided on its own:
    only a block that fails the test (an S-shaped curve's indefinite block, a near-singular one) takes
    :func:`clipped_inverse`. (Sending the whole stack there when one block failed made the
    eigendecompositions a sixth of a calibrated daily family's planning time: in 2,528 of its 2,577
    such stacks four of the five blocks were positive definite.)
    """
    try:
        factors: np.ndarray | list[None] = np.linalg.cholesky(H)  # the whole stack at once: the usual case
    except np.linalg.LinAlgError:
        factors = [None] * len(H)
    return np.stack([_block_inverse(H[k], factors[k]) for k in range(len(H))]) if len(H) else H.copy()


def _block_inverse(H: np.ndarray, factor: np.ndarray | None) -> np.ndarray:
    """One block of :func:`stack_inverse`: from its lower Cholesky ``factor`` (computed here when
    ``None``; none: :func:`clipped_inverse`) by LAPACK ``potri`` (a third of an LU inverse's work),
    or :func:`clipped_inverse` when the block is not well conditioned."""
    if factor is None:
        try:
            factor = np.linalg.cholesky(H)
        except np.linalg.LinAlgError:
            return clipped_inverse(H)
    lower, info = lapack.dpotri(factor, lower=1)  # the lower triangle (the factor's upper one is 0)
    if info != 0:
        return clipped_inverse(H)
    Hinv = lower + lower.T
    idx = np.arange(H.shape[-1])
    Hinv[idx, idx] = lower[idx, idx]
    cond = np.abs(H).sum(axis=0).max() * np.abs(Hinv).sum(axis=0).max()
    return Hinv if cond < WELL_CONDITIONED else clipped_inverse(H)


def block_inverse(
    Hx: np.ndarray, hdiag: np.ndarray, fixed_x: np.ndarray, Ax: np.ndarray
) -> tuple[Callable[[np.ndarray], np.ndarray], np.ndarray]:
    """Block-diagonal ``Hx [K, T, T]`` plus ``diag(hdiag)``: ``(v -> H^-1 v, A_x H^-1)`` with fixed
    coordinates removed (their rows and columns of the inverse are 0)."""
    K, T, _ = Hx.shape
    idx = np.arange(T)
    Hx = Hx.copy()
    Hx[:, idx, idx] += hdiag.reshape(K, T)
    if fixed_x.any():
        Hx[fixed_x, :] = 0.0
        Hx.transpose(0, 2, 1)[fixed_x, :] = 0.0
        Hx[:, idx, idx] += fixed_x * 1.0
    Hinv = stack_inverse(Hx)
    Hinv *= ~fixed_x[:, :, None] & ~fixed_x[:, None, :]
    M = Ax.reshape(len(Ax), K, T).transpose(1, 0, 2) @ Hinv  # [K, p, T]: rows of A H^-1 (H symmetric)
    return (lambda v: (Hinv @ v.reshape(K, T, 1)).ravel()), M.transpose(1, 0, 2).reshape(len(Ax), K * T)


def full_inverse(
    Hx: np.ndarray, hdiag: np.ndarray, fixed_x: np.ndarray, Ax: np.ndarray
) -> tuple[Callable[[np.ndarray], np.ndarray], np.ndarray]:
    """:func:`block_inverse` for a full (coupled) ``Hx [K T, K T]``.

    Where the matrix is positive definite (a concave objective: always, since the barrier adds a
    positive diagonal) its Cholesky factor solves ``H z = v``: about 20x faster than the
    eigendecomposition at ``K T = 900``, which only the indefinite case (an S-shaped segment curve)
    still takes, with eigenvalues clipped as for the blocks.
    """
    fixed = fixed_x.ravel()
    Hx = Hx + np.diag(hdiag)
    if fixed.any():
        Hx[fixed, :] = 0.0
        Hx[:, fixed] = 0.0
        Hx[fixed, fixed] = 1.0
    keep = ~fixed
    try:
        factor = cho_factor(Hx, check_finite=False)
    except np.linalg.LinAlgError:
        Hinv = clipped_inverse(Hx)
        Hinv *= keep[:, None] & keep[None, :]
        return (lambda v: Hinv @ v), Ax @ Hinv
    AH = cho_solve(factor, Ax.T, check_finite=False).T * keep
    return (lambda v: cho_solve(factor, v, check_finite=False) * keep), AH
