"""The vector environment's rows of scenarios with audience segments (:mod:`budgetgym.envs.segments`).

Segmented campaigns do not go through the batch model's row groups: each member's rows (and their
noise-free shadow) are advanced by the single environment's own
:func:`~budgetgym.envs.dynamics.transition` on a :class:`~budgetgym.envs.dynamics.DynamicsState` of
``2 n`` rows, so every row's numbers are the single environment's, bit for bit (its reductions run
along each row's own last axis, whatever the number of rows). Counts are drawn per (channel, segment)
pair and valued at the segments' values, as :func:`~budgetgym.envs.dynamics.realise` does:
row by row from each row's generator in ``per_env`` mode (the single environment's draws, in its
order: counts, then the segments' value normals), for the whole part in ``batched`` mode.

The draws of a family may hold different numbers of segments (a ``choice`` between two blocks):
the part's per-row segment arrays then have ``S = max_m S_m`` columns, a row of a member with
``S_m < S`` padded with segments that nothing reaches (arrivals, value and its noise 0), and each
row draws from its generator for its own ``S_m`` segments only, as its single environment does.
"""

from __future__ import annotations

import numpy as np

from budgetgym.envs.dynamics import ChannelModel, DynamicsState, draw_counts, transition
from budgetgym.envs.history import CarryIn
from budgetgym.envs.segments import SegmentModel

__all__ = ["SegmentRows", "played_members"]


def _rows(x: np.ndarray, r: slice | np.ndarray) -> np.ndarray:
    """Rows ``r`` of a per-row array ``[n, K]``, stacked twice (realised and shadow rows); a
    per-channel array ``[K]`` as it is."""
    if x.ndim < 2:
        return x
    part = x[r]
    return np.concatenate([part, part])


def played_members(index: np.ndarray | None) -> tuple[list[int], np.ndarray | None]:
    """The members some row plays, given each row's member ``index`` (``None``: all rows play member
    0): their indices (ascending) and each row's place among them (``None`` with ``index``)."""
    if index is None:
        return [0], None
    used = np.unique(index)
    return used.tolist(), np.searchsorted(used, index)


class SegmentRows:
    """The rows of one row part whose campaigns have segments: ``members`` (compiled draws) and the
    member ``index`` of every row (``None``: all rows play ``members[0]``).

    Only the members some row plays are kept (:attr:`used`, their indices in ``members``): a
    ``batched`` family's pool holds ``draw_pool`` (default 1,024) members, and a part of fewer rows
    would otherwise run a transition per member and step, most of them on no rows."""

    def __init__(self, members: list[ChannelModel], index: np.ndarray | None, n: int):
        #: the indices in ``members`` of the members played by some row (ascending)
        self.used, index = played_members(index)  # index: each row's place among the used members
        members = [members[j] for j in self.used]
        self.members = members
        self.n = n
        self.rows: list[slice | np.ndarray] = (
            [slice(None)] if index is None else [np.flatnonzero(index == j) for j in range(len(members))]
        )
        sizes = [n] if index is None else [int(np.sum(index == j)) for j in range(len(members))]
        self.states = [DynamicsState.zeros(m, 2 * size) for m, size in zip(members, sizes, strict=True)]
        segs = [m.segments for m in members]
        if any(s is None for s in segs):
            raise ValueError("SegmentRows: every member needs segments")
        self.segments: list[SegmentModel] = segs  # type: ignore[assignment]
        #: each member's number of segments ``S_m``; the rows' arrays have ``S = max_m S_m`` (padded)
        self.member_segments = [g.n_segments for g in self.segments]
        K, S = self.segments[0].mix.shape[0], max(self.member_segments)
        self.shape = (n, K, S)
        # every row's segment values, value noise and reward weights [n, S], fixed for the rows' members
        rows = np.zeros(n, dtype=np.intp) if index is None else index
        fields = ("value", "value_noise_sd", "reward_weight")
        self.value, self.value_sd, self.reward_weight = (
            np.stack([np.pad(getattr(g, f), (0, S - g.n_segments)) for g in self.segments])[rows] for f in fields
        )
        #: each row's number of segments ``S_m`` ``[n]``
        self.row_segments = np.array(self.member_segments, dtype=np.intp)[rows]
        #: each used member's carry-in from a spend history (``None``: none)
        self.carry: list[CarryIn | None] = [None] * len(members)

    def clear(self) -> None:
        for state in self.states:
            state.clear()
        self.carry = [None] * len(self.members)

    def step(
        self, t: int, spend: np.ndarray, cost: np.ndarray, response: np.ndarray, nu: np.ndarray | None,
        delivery: np.ndarray | None,
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """``(price, exposure, arrivals, shadow arrivals)``: the realised price and exposure ``[n, K]``
        and the expected conversions arriving per (channel, segment) ``[n, K, S]``, realised and
        noise-free."""
        n = self.n
        K = spend.shape[1]
        price, exposure = np.empty((n, K)), np.empty((n, K))
        arrivals, shadow = np.zeros(self.shape), np.zeros(self.shape)
        for m, r, state, carry, S in zip(self.members, self.rows, self.states, self.carry, self.member_segments,
                                         strict=True):
            x = spend[r]
            noise = None if nu is None else np.concatenate([nu[r], np.ones_like(nu[r])])
            out = transition(m, state, t, np.concatenate([x, x]), _rows(cost, r), _rows(response, r),
                             noise, None if delivery is None else _rows(delivery, r),
                             None if carry is None else carry.at(t))
            assert out.segment is not None
            h = len(x)
            price[r], exposure[r] = out.price[:h], out.exposure[:h]
            arrivals[r, :, :S], shadow[r, :, :S] = out.segment.arrivals[:h], out.segment.arrivals[h:]
        return price, exposure, arrivals, shadow


def segment_counts(
    arrivals: np.ndarray, kinds: list[str], dispersion: np.ndarray, value: np.ndarray, value_sd: np.ndarray,
    generators: list[np.random.Generator] | None, generator: np.random.Generator | None,
    row_segments: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Realised ``(conversions [n, K], revenue [n, K])`` around ``arrivals [n, K, S]``: counts per
    pair, values per segment with a mean-one log-normal noise of log-sd ``value_sd``
    (:func:`~budgetgym.envs.dynamics.realise`). ``generators``: one per row (``per_env``: each row
    draws its counts, then its segments' normals, for its first ``row_segments[i]`` segments, all
    ``S`` when ``None``; the rest are padding, :class:`SegmentRows`); else ``generator`` draws for
    every row at once (padding has no arrivals, so its counts are 0)."""
    n, K, S = arrivals.shape
    noisy = value_sd > 0
    z = np.zeros((n, S))
    if generators is not None:
        pairs = np.zeros_like(arrivals)
        for i, g in enumerate(generators):
            own = S if row_segments is None else int(row_segments[i])
            pairs[i, :, :own] = draw_counts(arrivals[i, :, :own], kinds[i], float(dispersion[i]), g)
            if noisy[i, :own].any():
                z[i, :own] = g.standard_normal(own)
    else:
        assert generator is not None
        if len(set(kinds)) == 1:
            pairs = draw_counts(arrivals, kinds[0], dispersion[:, None, None], generator)
        else:
            pairs = np.empty_like(arrivals)
            for kind in sorted(set(kinds)):  # a fixed order of draws (a set's order varies with the hash seed)
                sel = np.array([k == kind for k in kinds])
                pairs[sel] = draw_counts(arrivals[sel], kind, dispersion[sel][:, None, None], generator)
        if noisy.any():
            z = generator.standard_normal((n, S))
    factor = np.where(noisy, np.exp(value_sd * z - 0.5 * value_sd * value_sd), 1.0)
    v = value * factor
    return pairs.sum(axis=-1), (pairs * v[:, None, :]).sum(axis=-1)
