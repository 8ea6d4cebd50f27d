r"""Per-row compiled parameters for a batch of campaigns, and the batched transition over them.

A vector environment plays ``N`` campaigns at once, and with a scenario family every row may be a
different draw. The campaigns compiled for the batch are its *members* (each a
:class:`~budgetgym.envs.channel_model.ChannelModel`); ``index[i]`` names row ``i``'s member. Rows are
processed in **groups** of members that share the adstock and delay windows ``(L, D)`` (``fast``:
any windows, the shorter kernels zero-padded) and the curve family: a group's
:class:`ChannelModel` carries per-row parameters ``[n, K]`` (when the batch has a single member,
its ``[K]`` tiled ``[n, K]`` for up to 16 channels, else broadcast), so the curves are evaluated by
the very same :meth:`ChannelModel.saturation` code as the single environment's (``fast`` groups of
mixed curves: the Hill and the logistic channels each on their own columns, the same numbers).

Exactness. The single environment (:func:`~budgetgym.envs.dynamics.transition`) keeps each row's
recent exposure in a ring buffer ``[.., K, L]`` and sums ``buffer * weights`` over the last axis
with numpy's pairwise summation: blocks of 8 accumulators

.. math:: r_m = \sum_{b} p_{8b + m},\quad s = ((r_0 + r_1) + (r_2 + r_3)) + ((r_4 + r_5) + (r_6 + r_7))
          + p_{8B} + \dots + p_{L-1}

for ``8 <= L <= 128`` (a plain left-to-right sum below 8, halves at multiples of 8 above 128). A
batch stores the ring **slot-major**, ``[L, K, n]``, so that every row is a contiguous lane and
:func:`pairwise_sum0` reproduces that order with whole-batch operations: the adstock and the
arriving conversions of every row are bit for bit the single environment's (a group shares ``L``,
because the order depends on it). Everything else in the transition is elementwise and calls the
single environment's own functions (:func:`~budgetgym.envs.dynamics.unit_price`,
:func:`~budgetgym.envs.dynamics.exposure_bought`, :meth:`ChannelModel.saturation`).

``fast`` groups (the vector environment's ``batched`` mode) give that order up for speed: each
channel keeps its own ring (:class:`ChannelRing`) over its own window (the lags any of its rows
weighs: the zero tails of kernels padded to a group's longest window are cut, about half the
memory of one ``[K, L, m]`` ring when the channels' windows differ), summed by one
:func:`numpy.einsum` per channel (:func:`ring_sum_fast`) or, for a geometric kernel, by a
cancellation-free block recursion (:mod:`budgetgym.envs.carry_rings`); the sums then equal the
single environment's to a few units in the last place (relative ~1e-14 per sum), not bit for bit. A
family's members' fields and kernel rings are stacked once (:class:`MemberTables`) and each reset
gathers its rows' columns from them.

A group also carries the noise-free **shadow** of its rows when any row has price noise (the
single environment's second row): realised rows ``[0, n)`` and shadow rows ``[n, 2n)`` share one
buffer ``[L, K, 2n]``.
"""

from __future__ import annotations

import dataclasses
import threading
from dataclasses import dataclass
from typing import Any

import numpy as np

from budgetgym.envs.carry_rings import ChannelRing, ring_sum_fast, window_of
from budgetgym.envs.dynamics import ChannelModel, exposure_bought, unit_price
from budgetgym.envs.rowsum import COLUMNS, pairwise_sum0

__all__ = ["ROW_FIELDS", "BatchModel", "MemberTables", "RowGroup", "pairwise_sum0", "ring_sum", "ring_sum_fast"]

#: Rows per chunk of a ring sum: the product scratch ``[L, K, CHUNK]`` stays in cache.
CHUNK = 1024
#: ChannelModel fields that are per-channel arrays: stacked ``[n, K]`` for a group of members.
ROW_FIELDS = (
    "base_price", "units", "ref_spend", "elasticity", "price_noise_sd", "is_hill", "beta", "kappa",
    "slope", "hill_u_max", "rate", "value", "value_noise_sd", "reward_weight",
)


def ring_sum(buffer: np.ndarray, weights: np.ndarray, scratch: np.ndarray, out: np.ndarray) -> np.ndarray:
    """``out[k, r] = sum_j buffer[j, k, r] * weights[j, k, r]`` (pairwise over ``j``), in chunks of
    rows so the products stay in cache. ``weights`` ``[L, K, m]`` or ``[L, K, 1]`` (broadcast);
    ``scratch`` ``[L, K, c]``; ``out`` ``[K, m]``."""
    L, _, m = buffer.shape
    c = scratch.shape[2]
    shared = weights.shape[2] == 1
    for s in range(0, m, c):
        e = min(m, s + c)
        P = scratch[:L, :, : e - s]
        np.multiply(buffer[:, :, s:e], weights if shared else weights[:, :, s:e], out=P)
        out[:, s:e] = pairwise_sum0(P, L)
    return out


def _slot_ring(kernels: np.ndarray) -> np.ndarray:
    """``[2L, K, M]`` from kernels ``[M, K, L]``: each reversed, twice, slot-major (the single
    environment's ``_ring_weights`` with the lag axis first), so a step's weights are a window."""
    rev = kernels[:, :, ::-1].transpose(2, 1, 0)
    return np.ascontiguousarray(np.concatenate([rev, rev], axis=0))


@dataclass(eq=False)
class RowGroup:
    """Rows sharing adstock/delay windows and curve family, with their ring buffers."""

    rows: slice | np.ndarray  # the group's rows of the batch
    n: int
    model: ChannelModel  # per-row parameters [n, K]
    shadow: bool  # rows [n, 2n) of the buffers are the noise-free shadow
    # exact: slot-major rings summed in numpy's pairwise order
    adstock_ring: np.ndarray  # [2L, K, m or 1], m = 2n with a shadow, else n
    delay_ring: np.ndarray  # [2D, K, m or 1]
    exposure_buffer: np.ndarray  # [L, K, m]
    response_buffer: np.ndarray  # [D, K, m]
    scratch: np.ndarray  # [max(L, D), K, min(m, CHUNK)]
    fast: tuple[ChannelRing, ChannelRing] | None = None  # fast: (adstock, delay), the arrays above unused
    #: fast, mixed curves, every row with the same Hill channels: (``None``, the model as the curve
    #: most channels follow) and (the other channels' columns, their model): the first curve is
    #: evaluated on every column, then the other's columns are overwritten (the same numbers)
    curve_parts: list[tuple[np.ndarray | None, ChannelModel]] | None = None

    def saturation(self, a: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
        """The model's saturation of ``a`` ``[n, K]``: :meth:`ChannelModel.saturation`, or by
        ``curve_parts``; computed in ``out`` (``[n, K]``) when given, else in a new array."""
        if self.curve_parts is None:
            return self.model.saturation(a, out)
        (_, most), (cols, other) = self.curve_parts
        f_other = other.saturation(a[:, cols])  # first: ``out`` may be ``a`` itself
        f = most.saturation(a, np.empty(a.shape) if out is None else out)
        f[:, cols] = f_other
        return f

    def _carry(self, which: int, t: int, blocks: list[np.ndarray]) -> np.ndarray:
        """Push ``blocks`` (realised, shadow) as step ``t``'s exposure (``which`` 0) or response (1)
        and return the weighted sums ``[m, K]`` (the adstock, or the conversions arriving)."""
        if self.fast is not None:
            return self.fast[which].step(t, blocks)
        buf, ring = (self.exposure_buffer, self.adstock_ring) if which == 0 else (self.response_buffer, self.delay_ring)
        L, n = buf.shape[0], self.n
        slot = t % L
        for h, b in enumerate(blocks):
            buf[slot, :, h * n : (h + 1) * n] = b.T
        if L == 1:
            return buf[0].T
        return ring_sum(buf, window_of(ring, slot), self.scratch, np.empty(buf.shape[1:])).T

    def clear(self) -> None:
        self.exposure_buffer.fill(0.0)
        self.response_buffer.fill(0.0)
        for ring in self.fast or ():
            ring.clear()

    def step(
        self,
        t: int,
        spend: np.ndarray,
        cost_mult: np.ndarray,
        response_mult: np.ndarray,
        price_noise: np.ndarray | None,
        delivery: np.ndarray | None,
        carried: tuple[np.ndarray, np.ndarray] | None,
        out: tuple[np.ndarray, np.ndarray] | None = None,
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """One transition of the group's rows (steps 1-5 of :mod:`budgetgym.envs.dynamics`).

        ``spend`` ``[n, K]``; ``cost_mult``, ``response_mult``, ``delivery`` and the ``carried``
        pair broadcast against it; ``price_noise`` ``[n, K]`` (``None``: no noise). Returns the
        realised ``(price, exposure, mean_conversions)`` and the shadow's ``mean_conversions``
        (the realised ones again when the group has no shadow); the price and exposure are
        computed in ``out`` (``[n, K]`` each) when given.
        """
        m, n = self.model, self.n
        price_out, exposure_out = (None, None) if out is None else out
        price0 = unit_price(m, spend, cost_mult, None if price_noise is not None and self.shadow else price_out)
        price = price0 if price_noise is None else np.multiply(price0, price_noise, out=price_out)
        exposure = exposure_bought(m, spend, price, delivery, exposure_out)
        blocks = [exposure, exposure_bought(m, spend, price0, delivery)] if self.shadow else [exposure]
        adstock = self._carry(0, t, blocks)
        halves = [adstock[:n], adstock[n:]] if self.shadow else [adstock]
        if carried is not None:
            halves = [a + carried[0] for a in halves]
        responses = []
        for a in halves:  # m_r f(a), in one new array
            f = self.saturation(a, np.empty(a.shape))
            responses.append(np.multiply(response_mult, f, out=f))
        if self.response_buffer.shape[0] > 1 or self.fast is not None:
            mean = self._carry(1, t, responses)
            means = [mean[:n], mean[n:]] if self.shadow else [mean]
        else:
            means = responses
        if carried is not None:
            means = [mu + carried[1] for mu in means]
        return price, exposure, means[0], means[-1]


def _padded(kernels: list[np.ndarray], width: int) -> np.ndarray:
    """Kernels ``[K, L_i]`` stacked ``[M, K, width]``, zero weight at the lags past each one's window."""
    out = np.zeros((len(kernels), kernels[0].shape[0], width))
    for i, k in enumerate(kernels):
        out[i, :, : k.shape[1]] = k
    return out


def _curve_parts(model: ChannelModel) -> list[tuple[np.ndarray | None, ChannelModel]] | None:
    """:attr:`RowGroup.curve_parts` of a model with mixed curves (``None`` otherwise, or when its
    rows differ in which channels are Hill): the model as the curve of most channels (family
    ``hill``, the general formula, as the mixed model evaluates them, or ``logistic``; the other
    channels' placeholder parameters keep it finite there, and those columns are overwritten) and
    the other channels' own model."""
    hill = model.is_hill if model.is_hill.ndim == 1 else model.is_hill[0]
    if model.curve_family != "mixed" or (model.is_hill.ndim == 2 and not (model.is_hill == hill).all()):
        return None
    most = "hill" if 2 * int(hill.sum()) >= len(hill) else "logistic"
    cols = np.flatnonzero(~hill if most == "hill" else hill)
    fields: dict[str, Any] = {f: np.ascontiguousarray(getattr(model, f)[..., cols]) for f in ROW_FIELDS}
    other = dataclasses.replace(model, curve_family="logistic" if most == "hill" else "hill", **fields)
    return [(None, dataclasses.replace(model, curve_family=most)), (cols, other)]


def _group_key(m: ChannelModel) -> tuple[int, int, str]:
    return (m.adstock.shape[1], m.delay.shape[1], m.curve_family)


class MemberTables:
    """What a batch needs of its members, whatever rows play them: the per-channel fields stacked
    ``[M, K]``, the noise settings per member and, per row group, the members' kernel rings. Built
    once for a list of members and reused by every :class:`BatchModel` over it (a family's draw
    pool: every episode of every row part), so a reset only gathers its rows' columns."""

    def __init__(self, members: list[ChannelModel], fast: bool):
        self.members, self.fast = members, fast
        one = len(members) == 1
        self.fields = {} if one else {f: np.stack([getattr(mm, f) for mm in members]) for f in ROW_FIELDS}
        self.noisy_price = np.array([bool(mm.price_noise_sd.any()) for mm in members])
        self.value_noise = np.array([mm.has_value_noise for mm in members])
        self.noise_kind = np.array([mm.noise_kind for mm in members])
        self.kinds = sorted(set(self.noise_kind.tolist()))
        self.dispersion = np.array([mm.dispersion for mm in members])
        # fast: any windows share a group (kernels zero-padded to the group's longest window)
        self.keys = [_group_key(mm)[2:] if fast else _group_key(mm) for mm in members]
        self._rings: dict[tuple[Any, ...], tuple[np.ndarray, int, int, Any, Any]] = {}
        self._lock = threading.Lock()

    def __getstate__(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if k != "_lock"}  # a lock does not pickle

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state, _lock=threading.Lock())

    def rings(self, key: tuple[Any, ...]) -> tuple[np.ndarray, int, int, Any, Any]:
        """``(local, L, D, adstock rings, delay rings)`` of the group ``key``: each member's place
        among the group's members (``local``), the group's windows and the rings of its members:
        ``[2L, K, M_g]`` (exact), or one ``[2 L_k, M_g]`` per channel (``fast``, each channel's
        window its longest kernel's without the zero tail; :class:`ChannelRing`)."""
        with self._lock:
            hit = self._rings.get(key)
            if hit is None:
                mine = [i for i, k in enumerate(self.keys) if k == key]
                L = max(self.members[i].adstock.shape[1] for i in mine)
                D = max(self.members[i].delay.shape[1] for i in mine)
                local = np.zeros(len(self.members), dtype=np.intp)
                local[mine] = np.arange(len(mine))
                ad = self._member_ring([self.members[i].adstock for i in mine], L)
                de = self._member_ring([self.members[i].delay for i in mine], D)
                hit = self._rings[key] = (local, L, D, ad, de)
            return hit

    def _member_ring(self, kernels: list[np.ndarray], width: int) -> Any:
        """The members' kernel rings: ``[2L, K, M]``, or (``fast``) a list of ``[2 L_k, M]``."""
        padded = _padded(kernels, width)  # [M, K, width]
        if not self.fast:
            return _slot_ring(padded)
        out = []
        for k in range(padded.shape[1]):
            used = np.flatnonzero(padded[:, k].any(axis=0))
            window = int(used[-1]) + 1 if len(used) else 1
            rev = padded[:, k, :window][:, ::-1].T  # [L_k, M]
            out.append(np.ascontiguousarray(np.concatenate([rev, rev], axis=0)))
        return out


class BatchModel:
    """The compiled campaigns of a batch: ``members`` and the member ``index`` of every row.

    Parameters
    ----------
    members : distinct compiled campaigns (one brief: the same channels, budget and pacing).
    index : ``[N]`` member of each row; ``None`` when there is one member for every row.
    n_rows : ``N``.
    expected : keep the noise-free shadow that gives the expected conversions under price noise
        (``False``: the realised rows only, half the carry-over work).
    fast : sum the carry-over rings by :func:`ring_sum_fast` (not bit for bit the single
        environment's; module docstring) instead of in numpy's pairwise order.

    ``row_model`` (a :class:`ChannelModel` whose arrays are per row, ``[N, K]``: one member's tiled
    when it has few channels, else its own ``[K]``)
    serves the parts of a step outside the transition (price index, noise, revenue, reward);
    ``groups`` the transition. Rows keep a noise-free shadow when any member has price noise and ``expected``.
    """

    def __init__(
        self, members: list[ChannelModel], index: np.ndarray | None, n_rows: int, expected: bool = True,
        fast: bool = False, tables: MemberTables | None = None,
    ):
        tables = MemberTables(members, fast) if tables is None else tables
        assert tables.members is members and tables.fast == fast, "tables of other members"
        self.members, self.tables = members, tables
        self.n_rows = n_rows
        self.fast = fast
        one = len(members) == 1
        self.index = np.zeros(n_rows, dtype=np.intp) if index is None else np.asarray(index, dtype=np.intp)
        self.noisy_price = bool(tables.noisy_price.any())
        self.shadow = expected and self.noisy_price
        K = members[0].base_price.shape[-1]
        rows: dict[str, Any] = {}
        if one and K <= COLUMNS:  # the member's [K] fields tiled [N, K]: an operation with an [N, K]
            # array then runs as one inner loop, not N loops of K (~2x faster at K = 5), same numbers
            rows = {f: np.tile(getattr(members[0], f), (n_rows, 1)) for f in ROW_FIELDS}
        elif not one:
            rows = {f: table[self.index] for f, table in tables.fields.items()}
        self.row_model = dataclasses.replace(members[0], **rows)
        sdp, sdv = self.row_model.price_noise_sd, self.row_model.value_noise_sd
        #: ``sd**2 / 2`` of the price and value noise (the lognormal's mean correction)
        self.price_half_var, self.value_half_var = 0.5 * sdp * sdp, 0.5 * sdv * sdv
        self.noisy_price_rows = tables.noisy_price[self.index]
        self.value_noise_rows = tables.value_noise[self.index]
        self.noise_kind_rows = tables.noise_kind[self.index]
        kinds = tables.kinds
        #: ``(kind, rows)`` of each conversion-noise kind present (``rows`` ``None``: every row)
        self.kind_rows: list[tuple[str, np.ndarray | None]] = (
            [(kinds[0], None)] if len(kinds) == 1 else [(k, self.noise_kind_rows == k) for k in kinds]
        )
        self.dispersion = tables.dispersion[self.index][:, None]
        first = members[0]
        self.spend_cost, self.reward_kind = first.spend_cost, first.reward_kind
        self.groups = self._build_groups(one)

    def _build_groups(self, one: bool) -> list[RowGroup]:
        keys = self.tables.keys
        order = sorted({keys[m] for m in np.unique(self.index)})  # the groups some row plays
        place = {k: g for g, k in enumerate(order)}
        member_group = np.array([place.get(k, -1) for k in keys], dtype=np.intp)
        row_group = member_group[self.index]
        groups = []
        for g, key in enumerate(order):
            rows: slice | np.ndarray = slice(None) if len(order) == 1 else np.flatnonzero(row_group == g)
            member_rows = self.index[rows]
            n = len(member_rows)
            local, L, D, ad, de = self.tables.rings(key)
            copies = 2 if self.shadow else 1
            pick = None
            if one:
                model = self.row_model
            else:
                fields: dict[str, Any] = {f: table[member_rows] for f, table in self.tables.fields.items()}
                model = dataclasses.replace(self.members[int(member_rows[0])], **fields)
                pick = local[member_rows]
            width = copies * n
            K = model.adstock.shape[-2]
            fast = None
            if self.fast:
                fast = (ChannelRing.of(ad, pick, copies, width), ChannelRing.of(de, pick, copies, width))
                ad = de = np.zeros((0, K, 0))
                L = D = 0
            elif pick is not None:
                ad, de = np.take(ad, pick, axis=2), np.take(de, pick, axis=2)
                if self.shadow:
                    ad, de = np.concatenate([ad, ad], axis=2), np.concatenate([de, de], axis=2)
            groups.append(
                RowGroup(
                    curve_parts=_curve_parts(model) if self.fast else None,
                    rows=rows,
                    n=n,
                    model=model,
                    shadow=self.shadow,
                    adstock_ring=ad,
                    delay_ring=de,
                    exposure_buffer=np.zeros((L, K, width)),
                    response_buffer=np.zeros((D, K, width)),
                    scratch=np.empty((max(L, D), K, min(width, CHUNK))),
                    fast=fast,
                )
            )
        return groups

    def clear(self) -> None:
        """Every row back at rest (empty carry-over and delay buffers)."""
        for g in self.groups:
            g.clear()
