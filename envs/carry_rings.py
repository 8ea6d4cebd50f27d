r"""The ``fast`` carry-over of a batch (the vector environment's ``batched`` mode), channel by channel.

:class:`ChannelRing` keeps, for each channel ``k``, the last ``L_k`` values of its rows (exposure for
the adstock, response for the delay) in a ring ``[L_k, m]`` (slot ``t mod L_k``) and returns the
weighted sums :math:`a_t = \sum_{l < L_k} w_l v_{t-l}` of every row, in one of two ways:

* **direct**: one :func:`numpy.einsum` over the window (:func:`ring_sum_fast`; its own summation
  order, so a few units in the last place from numpy's pairwise sum of the single environment);
* **geometric** (:class:`Geometric`), for a channel whose kernels are :math:`w_l = c\,\theta^l`,
  :math:`l < L` (geometric adstock or delay, normalised or not): blocks of ``L`` steps, aligned at
  ``t mod L = 0``. At step :math:`t = t_0 + k` of the block starting at :math:`t_0`

  .. math:: a_t = c \Big( R_t + \theta^{k+1} U_{k+1} \Big),\qquad
            R_t = \theta R_{t-1} + v_t \ (R_{t_0 - 1} = 0),\qquad
            U_j = \sum_{i=j}^{L-1} \theta^{L-1-i}\, v_{t_0 - L + i}\ (U_L = 0):

  the values of the current block by a recursion, those of the previous block still in the window
  by suffix sums of that block, computed once at the block's start (about two operations per step
  and channel, whatever ``L``, instead of ``L`` products read per step). Every term is a sum of
  products of non-negative weights, so nothing cancels: the relative error is a few units of
  ``(L + 3)`` roundings, as the direct sum's (no drift, hence no re-synchronisation), and a row
  whose window holds only zeros sums to exactly ``0``, as the direct sum does. (The textbook
  recursion :math:`a_t = \theta a_{t-1} + c v_t - c\theta^L v_{t-L}` subtracts: after a large
  value leaves the window a switched-off channel keeps a residue of its rounding, of either sign.)
  The powers :math:`\theta^i` are the kernel's own ``w_i / c``; a kernel is taken as geometric when
  :math:`\theta = w_1 / w_0` raised by repeated products matches every ``w_l / w_0`` to
  ``GEOMETRIC_ULPS * L`` units of ``eps`` (:data:`GEOMETRIC_ULPS`), so the recursion's weights are
  the kernel's to that tolerance: in all, a sum within about ``6 L eps`` relative of the exact one
  (``tests/test_carry_rings.py``; ``1e-13`` up to ``L = 75``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["GEOMETRIC_ULPS", "ChannelRing", "Geometric", "geometric_of", "ring_sum_fast", "window_of"]

#: A kernel of ``L`` lags is geometric when ``theta**l`` (repeated products of ``theta = w_1 / w_0``)
#: equals every ``w_l / w_0`` to ``GEOMETRIC_ULPS * L * eps`` relative (kernels ``decay ** arange(L)``,
#: normalised or not, differ by at most ``1.1 L eps``: decays 0.01 to 0.99, windows up to 90 lags).
GEOMETRIC_ULPS = 2


def ring_sum_fast(buffer: np.ndarray, weights: np.ndarray, out: np.ndarray) -> np.ndarray:
    """``out[r] = sum_j buffer[j, r] * weights[j, r]`` in one :func:`numpy.einsum` (its own summation
    order, not numpy's pairwise one; no BLAS). ``buffer`` ``[L, m]``, ``weights`` ``[L, m]`` or
    ``[L, 1]`` (shared by every row); ``out`` ``[m]``."""
    if weights.shape[1] == 1:
        return np.einsum("jr,j->r", buffer, weights[:, 0], out=out)
    return np.einsum("jr,jr->r", buffer, weights, out=out)


def window_of(ring: np.ndarray, slot: int) -> np.ndarray:
    """The ``[L, ...]`` weights of the ring slots at a step with ``t mod L = slot``: position ``j``
    weighs lag ``(slot - j) mod L`` (the single environment's ``_ring_slice``)."""
    L = ring.shape[0] // 2
    start = L - (slot + 1) % L
    return ring[start : start + L]


@dataclass(eq=False)
class Geometric:
    """The recursion of a geometric channel (module docstring) over ``m`` rows.

    ``c`` ``[1]`` or ``[m]``: the kernels' ``w_0``; ``g`` ``[L, 1]`` or ``[L, m]``: ``theta**i = w_i / w_0``;
    ``R`` ``[m]`` the current block's recursion, ``U`` ``[L, m]`` the previous block's suffix sums."""

    c: np.ndarray
    g: np.ndarray
    R: np.ndarray
    U: np.ndarray
    unit: bool  # every c is 1 (an unnormalised geometric adstock): the last product skipped

    def step(self, buf: np.ndarray, slot: int, out: np.ndarray) -> np.ndarray:
        """The sums ``out`` ``[m]`` at a step with ``t mod L = slot``, the step's values already in
        ``buf[slot]`` and, when ``slot = 0``, the previous block's still in the other slots of
        ``buf`` ``[L, m]`` (they are: slot ``i`` is overwritten at step ``t_0 + i``)."""
        L, g, U, R = buf.shape[0], self.g, self.U, self.R
        if slot == 0:  # a new block: the suffix sums of the previous one, then R_{t_0} = v_{t_0}
            U[L - 1] = buf[L - 1]
            for j in range(L - 2, 0, -1):
                np.multiply(buf[j], g[L - 1 - j], out=U[j])
                U[j] += U[j + 1]
            R[:] = buf[0]
        else:
            R *= g[1]
            R += buf[slot]
        if slot + 1 < L:
            np.multiply(U[slot + 1], g[slot + 1], out=out)
            out += R
        else:  # the window is the block
            out[:] = R
        if not self.unit:
            out *= self.c
        return out

    def clear(self) -> None:
        self.R.fill(0.0)
        self.U.fill(0.0)


def geometric_of(kernels: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
    r"""``(c [M], g [L, M])`` of kernels ``[L, M]`` (lag first, one column per member) when every
    column is geometric with ``L >= 2`` and positive weights (module docstring), else ``None``.

    The powers :math:`\theta^l` are formed only when they cannot overflow: a column is geometric only
    if its largest power, :math:`\theta^{L-1}` when :math:`\theta > 1`, is within ``GEOMETRIC_ULPS * L``
    eps of its (finite) last weight :math:`g_{L-1}`, so a column with
    :math:`(L - 1) \ln\theta > \min(\ln g_{L-1} + 10^{-3}, \ln(\text{float max}) - 10^{-3})` is not,
    and is answered without them (a rising 1000-lag gamma delay: :math:`\theta^{999}` overflowed). The
    margin ``1e-3`` is far above both the tolerance and the logarithms' rounding, so every answer is the
    one the powers give (but for a last weight within 0.2% of the largest float, ``1e308`` times the
    first: a subnormal first weight, whose ratios hold too few digits to pass the tolerance anyway).

    A column with a subnormal ratio ``w_l / w_0`` (below ``np.finfo(float).tiny``, about ``2.2e-308``) is
    not geometric: the recursion multiplies powers (:math:`\theta^{L-1-i} \theta^{k+1}`), and a subnormal
    product holds too few digits (``0.0211 ** arange(194)``, last weight ``5e-324``, summed 21% off the
    direct sum); the direct sum weighs such lags by the kernel's own weights."""
    L = kernels.shape[0]
    c = kernels[0]
    if L < 2 or not bool((kernels > 0).all()):
        return None
    g = kernels / c
    if bool((g < np.finfo(float).tiny).any()):  # subnormal ratios: too few digits for the recursion's products
        return None
    theta = g[1]
    ceiling = np.minimum(np.log(g[-1]) + 1e-3, np.log(np.finfo(float).max) - 1e-3)
    if bool(((L - 1) * np.log(theta) > ceiling).any()):  # the powers outgrow the kernel (and may overflow)
        return None
    powers = np.empty_like(g)
    powers[0] = 1.0
    np.cumprod(np.broadcast_to(theta, (L - 1, g.shape[1])), axis=0, out=powers[1:])  # theta**l by repeated products
    if not bool((np.abs(powers - g) <= GEOMETRIC_ULPS * L * np.finfo(float).eps * g).all()):
        return None
    return c, g


@dataclass(eq=False)
class ChannelRing:
    """A ``fast`` carry-over (adstock or delay) of ``m`` rows, channel by channel: channel ``k``
    keeps its own window ``L_k`` (the lags any of its rows weighs: the zero tails of the kernels,
    padded to a group's longest window, cut), its last ``L_k`` values ``[L_k, m]`` (slot ``t mod
    L_k``) and either a :class:`Geometric` recursion (``geometric[k]``: every row's kernel of the
    channel geometric over the whole window) or its rows' doubled reversed kernels ``[2 L_k, m or 1]``,
    summed by :func:`ring_sum_fast`. ``identity``: every window is one lag of weight 1 (no
    carry-over: the values pass through)."""

    rings: list[np.ndarray]
    buffers: list[np.ndarray]
    identity: bool
    geometric: list[Geometric | None]

    def step(self, t: int, blocks: list[np.ndarray]) -> np.ndarray:
        """Push ``blocks`` (``[n, K]`` each, rows ``[0, n)``, ``[n, 2n)``, ...) as step ``t``'s values
        and return the weighted sums ``[m, K]``."""
        if self.identity:
            return blocks[0] if len(blocks) == 1 else np.concatenate(blocks)
        out = np.empty((len(self.buffers), self.buffers[0].shape[1]))
        for k, (buf, ring, geo) in enumerate(zip(self.buffers, self.rings, self.geometric, strict=True)):
            slot = t % buf.shape[0]
            lo = 0
            for b in blocks:
                buf[slot, lo : lo + len(b)] = b[:, k]
                lo += len(b)
            if geo is not None:
                geo.step(buf, slot, out[k])
            elif buf.shape[0] == 1:
                np.multiply(buf[0], ring[0], out=out[k])
            else:
                ring_sum_fast(buf, window_of(ring, slot), out[k])
        return out.T

    def clear(self) -> None:
        for buf in self.buffers:
            buf.fill(0.0)
        for geo in self.geometric:
            if geo is not None:
                geo.clear()

    @classmethod
    def of(cls, rings: list[np.ndarray], pick: np.ndarray | None, copies: int, width: int) -> ChannelRing:
        """The ring of ``width`` rows from the members' per-channel rings ``[2 L_k, M]``: row ``r``
        weighs with member ``pick[r]``'s kernel, repeated ``copies`` times (a shadow), or with the
        one member's (``pick`` ``None``: ``[2 L_k, 1]``, shared)."""
        geometric: list[Geometric | None] = []
        for r in rings:
            L = r.shape[0] // 2
            found = geometric_of(r[:L][::-1])
            if found is None:
                geometric.append(None)
                continue
            c, g = found
            if pick is not None:
                c, g = np.take(c, pick), np.take(g, pick, axis=1)
                if copies > 1:
                    c, g = np.concatenate([c] * copies), np.concatenate([g] * copies, axis=1)
            unit = bool((c == 1.0).all())
            geometric.append(Geometric(c, np.ascontiguousarray(g), np.zeros(width), np.zeros((L, width)), unit))
        if pick is not None:
            rings = [np.take(r, pick, axis=1) for r in rings]
            if copies > 1:
                rings = [np.concatenate([r] * copies, axis=1) for r in rings]
        identity = all(r.shape[0] == 2 and bool((r == 1.0).all()) for r in rings)
        return cls(rings, [np.zeros((r.shape[0] // 2, width)) for r in rings], identity, geometric)
