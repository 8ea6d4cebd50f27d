r"""Sums and maxima over the channels of every row, in numpy's order, column by column.

numpy reduces the last axis of a ``[n, K]`` array row by row, one inner-loop call per row: for a
few channels that costs more than the arithmetic (``x.sum(axis=-1)`` on ``[4096, 5]`` takes ~8x the
time of five column additions). :func:`row_sum` adds the columns instead, in numpy's pairwise order
(:func:`pairwise_sum0`), so every row's sum is bit for bit what ``x.sum(axis=-1)`` (and the single
environment's one-row ``x.sum()``) gives for it; :func:`row_max` takes the maximum column by column
(a maximum does not depend on the order).
"""

from __future__ import annotations

import numpy as np

__all__ = ["COLUMNS", "PW_BLOCK", "channel_sum", "pairwise_sum0", "row_max", "row_sum"]

#: numpy's pairwise-summation block (``PW_BLOCKSIZE``): up to it, 8 accumulators; above, halves.
PW_BLOCK = 128
#: Up to this many channels the column operations are the faster (~4x at 5 channels, even at 16).
COLUMNS = 16


def pairwise_sum0(P: np.ndarray, n: int) -> np.ndarray:
    """``P[0] + ... + P[n-1]`` in numpy's pairwise order (module docstring), computed **in place**
    in ``P`` (scratch: overwritten); returns ``P[0]``. Equals ``Q.sum(axis=-1)`` bit for bit when
    ``Q[..., j] = P[j]`` is contiguous in its last axis."""
    if n < 8:
        for i in range(1, n):
            P[0] += P[i]
        return P[0]
    if n <= PW_BLOCK:
        full = n - n % 8
        head = P[0:8]
        for i in range(8, full, 8):
            head += P[i : i + 8]
        P[0] += P[1]
        P[2] += P[3]
        P[0] += P[2]
        P[4] += P[5]
        P[6] += P[7]
        P[4] += P[6]
        P[0] += P[4]
        for i in range(full, n):
            P[0] += P[i]
        return P[0]
    half = n // 2
    half -= half % 8
    left = pairwise_sum0(P[:half], half)
    left += pairwise_sum0(P[half:], n - half)
    return left



def row_sum(x: np.ndarray) -> np.ndarray:
    """``x.sum(axis=-1)`` of a C-contiguous ``[n, K]`` array, bit for bit: up to :data:`COLUMNS`
    channels as column operations (a transposed copy summed by :func:`pairwise_sum0`), above by
    numpy (then the faster); a new array ``[n]``."""
    if x.shape[1] > COLUMNS:
        return x.sum(axis=-1)
    P = np.array(x.T, order="C")
    return P[0].copy() if x.shape[1] == 1 else pairwise_sum0(P, x.shape[1])


def channel_sum(x: np.ndarray) -> np.ndarray:
    """``x.sum(axis=-1)`` of any array, bit for bit; a C-contiguous batch ``[n, K]`` by :func:`row_sum`."""
    return row_sum(x) if x.ndim == 2 and x.flags.c_contiguous else x.sum(axis=-1)


def row_max(x: np.ndarray) -> np.ndarray:
    """``x.max(axis=-1)`` of ``[n, K]`` (``K >= 1``): up to :data:`COLUMNS` channels as ``K - 1``
    column maxima, above by numpy; a new array ``[n]``."""
    if x.shape[1] > COLUMNS:
        return x.max(axis=-1)
    out = x[:, 0].copy()
    for j in range(1, x.shape[1]):
        np.maximum(out, x[:, j], out=out)
    return out
