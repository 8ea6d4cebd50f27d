"""The vector environment's row parts: the split of a batch, the threads that step the parts, one
part's step.

A ``batched`` :class:`~budgetgym.envs.vector_env.ChannelBudgetVectorEnv` splits its ``N`` rows into
parts of at most :data:`PART_ROWS` (:func:`part_bounds`), each with its own random source, dynamics
and episode (:class:`Part`); :func:`run_parts` runs a task on every part on a pool of threads,
:func:`start_part` begins a part's episode and :func:`advance_part` is one part's step (the single
environment's ``step``, vectorised).
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from budgetgym.envs.allocation import sanitize_action
from budgetgym.envs.batch_model import BatchModel
from budgetgym.envs.channel_env import EMA_WEIGHT
from budgetgym.envs.dynamics import expected_reward
from budgetgym.envs.history import carry_in
from budgetgym.envs.path import drift_step
from budgetgym.envs.rowsum import row_sum
from budgetgym.envs.vector_random import BatchedRandom, Campaigns, PerEnvRandom
from budgetgym.envs.vector_segments import SegmentRows, played_members, segment_counts
from budgetgym.envs.vector_steps import COUNTERS, observe, spend_of, step_outputs

if TYPE_CHECKING:  # pragma: no cover
    from budgetgym.envs.vector_env import ChannelBudgetVectorEnv

__all__ = [
    "PART_ROWS", "Part", "advance_part", "default_threads", "part_bounds", "part_stepper", "run_parts", "start_part",
]


#: ``batched``: rows per part. A batch of ``N`` rows is split into ``ceil(N / PART_ROWS)`` parts of
#: (nearly) equal size, each with its own generator; the split depends on ``N`` only, so the random
#: streams do not depend on how many threads run the parts.
PART_ROWS = 4096


def default_threads() -> int:
    """Threads that step a batch's row parts by default: ``min(2, os.cpu_count())``."""
    return max(1, min(2, os.cpu_count() or 1))


def part_bounds(n: int, rows: int | None = None) -> list[tuple[int, int]]:
    """``[lo, hi)`` of the ``ceil(n / rows)`` parts of ``n`` rows (default :data:`PART_ROWS`), sizes
    differing by at most one."""
    parts = -(-n // (PART_ROWS if rows is None else rows))
    edges = [n * j // parts for j in range(parts + 1)]
    return list(zip(edges[:-1], edges[1:], strict=True))


@dataclass(eq=False)
class Part:
    """Rows ``[lo, hi)`` of the batch: their random source, dynamics and episode (paths, carry-in,
    drift walk)."""

    rows: slice
    n: int
    random: PerEnvRandom | BatchedRandom
    model: BatchModel | None = None
    campaigns: Campaigns | None = None
    carry: tuple[np.ndarray, np.ndarray] | None = None
    drift: tuple[np.ndarray, np.ndarray] | None = None
    w: np.ndarray = field(default_factory=lambda: np.zeros(0))  # the drift walk [n, K]
    segments: SegmentRows | None = None  # campaigns with audience segments: their own dynamics


def _lognormal(sd: np.ndarray, half_var: np.ndarray, z: np.ndarray) -> np.ndarray:
    """``exp(sd z - half_var)`` (``half_var = 0.5 sd sd``: the mean-one lognormal factor), in place in ``z``."""
    np.multiply(sd, z, out=z)
    np.subtract(z, half_var, out=z)
    return np.exp(z, out=z)


def _at(table: np.ndarray, t: int, index: np.ndarray | None) -> np.ndarray:
    """Step ``t`` of a path table ``[T, P, K]`` for every row: ``[N, K]``, or ``[K]`` when ``P = 1``."""
    if index is not None:
        return table[t][index]
    return table[t, 0] if table.shape[1] == 1 else table[t]


def run_parts(
    parts: list[Part], threads: int, executor: Callable[[], ThreadPoolExecutor], task: Callable[[Part], Any]
) -> list[Any]:
    """``task(part)`` for every row part, the results in part order: with several parts and threads,
    this thread and ``threads - 1`` threads of ``executor()`` (a pool, made on first use) take the
    parts in turn; else in order on this thread."""
    if len(parts) == 1 or threads == 1:
        return [task(part) for part in parts]
    pool = executor()
    results: list[Any] = [None] * len(parts)
    pending = iter(enumerate(parts))
    lock = threading.Lock()

    def drain() -> None:
        while True:
            with lock:
                item = next(pending, None)
            if item is None:
                return
            results[item[0]] = task(item[1])

    helpers = [pool.submit(drain) for _ in range(min(threads, len(parts)) - 1)]
    try:
        drain()
    finally:
        for future in helpers:
            future.result()
    return results


def start_part(env: ChannelBudgetVectorEnv, part: Part, history: Any) -> np.ndarray | None:
    """Begin an episode on one row part of ``env``: campaigns, dynamics model, carry-in, drift.
    Returns the part's rows' train draws (``Campaigns.draws``; ``None`` for fixed campaigns)."""
    fixed = env._rows is not None or not env.family.varies
    rows = None if env._rows is None else env._rows[part.rows]
    c = part.random.campaigns(env.family, rows, env._compile)
    if part.model is None or not fixed:
        fast = env.rng_mode == "batched"
        part.model = BatchModel(c.members, c.index, part.n, env.expected, fast, env._tables_of(c.members, fast))
    part.model.clear()
    part.campaigns = c
    part.carry = None
    if c.members[0].segments is not None:  # the single environment's transition, row by row exact
        if part.segments is None or not fixed:
            part.segments = SegmentRows(c.members, c.index, part.n)
        part.segments.clear()
        if history is not None:  # each played member's carry-in, as the single environment's reset
            part.segments.carry = [carry_in(c.scenarios[j], history, c.members[j]) for j in part.segments.used]
    elif history is not None:  # the carry-in of each member some row plays (not of a whole draw pool)
        used, place = played_members(c.index)
        carries = [carry_in(c.scenarios[j], history, c.members[j]) for j in used]
        if carries[0] is not None:
            A = np.stack([ci.adstock for ci in carries if ci is not None], axis=1)
            M = np.stack([ci.arrivals for ci in carries if ci is not None], axis=1)
            part.carry = (A, M) if place is None else (A[:, place], M[:, place])
    if isinstance(part.random, BatchedRandom):
        part.drift = part.random.drift(c.scenarios, c.index, part.n)
    part.w = np.zeros((part.n, env.n_channels))
    return c.draws

def part_stepper(
    env: ChannelBudgetVectorEnv, arrays: dict[str, np.ndarray], prev: tuple[np.ndarray, np.ndarray], t: int
) -> Callable[[Part], None]:
    """Step ``t`` of ``env``'s rows into ``arrays`` (named by
    :func:`~budgetgym.envs.vector_steps.step_shapes`, plus the ``actions``): the env's counters
    become the step's arrays (its ``t`` the next step's), and the task that steps one part
    (:func:`advance_part`) is returned — run on every part by the calling process, and on theirs by
    the worker processes (:mod:`budgetgym.envs.vector_processes`). ``prev``: the previous cumulative
    spend and conversions' EMA."""
    for c in COUNTERS:
        setattr(env, c, arrays["out/conversions" if c == "last_conv" else c])
    env.t = t + 1  # the observations are of the next step
    out, controls = step_outputs(arrays)
    a, obs = arrays["actions"], arrays["obs"]
    return lambda part: advance_part(env, part, sanitize_action(a[part.rows]), t, prev, out, controls, obs)


def advance_part(
    env: ChannelBudgetVectorEnv, part: Part, a: np.ndarray, t: int, prev: tuple[np.ndarray, np.ndarray],
    out: dict[str, np.ndarray], controls: dict[str, np.ndarray], obs: np.ndarray,
) -> None:
    """Step ``t`` of one row part of ``env`` (its ``step``, vectorised): reads the previous counters
    ``prev`` (cumulative spend, conversions' EMA) of its rows and writes its rows of ``out``,
    ``controls``, the env's new counters and ``obs``."""
    bm, c, K, n, r = part.model, part.campaigns, env.n_channels, part.n, part.rows
    assert bm is not None and c is not None
    spend, step_total = spend_of(env, a, prev[0][r], out["spend"][r])
    rnd = part.random
    cost_t, response_t = _at(c.cost, t, c.path_index), _at(c.response, t, c.path_index)
    delivery_t = None if c.delivery is None else _at(c.delivery, t, c.path_index)
    if part.drift is not None:
        sd, keep = part.drift
        part.w = drift_step(part.w, rnd.generator.standard_normal((n, K)), sd, keep)  # type: ignore[union-attr]
        response_t = response_t * np.exp(part.w)
    nu = None
    if bm.noisy_price:
        nu = _lognormal(bm.row_model.price_noise_sd, bm.price_half_var, rnd.price_z(bm.noisy_price_rows, K))
    advance = _advance_segments if part.segments is not None else _advance_groups
    advance(env, part, spend, t, cost_t, response_t, nu, delivery_t, out)
    price, conv, revenue = out["price"][r], out["conversions"][r], out["revenue"][r]
    kpi = row_sum(conv) if bm.reward_kind == "conversions" else row_sum(revenue)
    reward = kpi if bm.reward_kind == "conversions" else kpi - bm.spend_cost * row_sum(spend)
    out["reward"][r] = reward
    env.cumulative_spend[r] = prev[0][r] + step_total
    with np.errstate(divide="ignore", invalid="ignore"):  # rows that spent nothing: share 0, below
        np.divide(spend, step_total[:, None], out=env.last_share[r])
    env.last_share[r][step_total <= 0] = 0.0
    index = np.multiply(price, env.inv_planned_price, out=env.last_price_index[r])  # tanh(log(p / planned))
    np.tanh(np.log(index, out=index), out=index)
    ema = np.multiply(conv, EMA_WEIGHT, out=env.ema_conv[r])  # EMA conv + (1 - EMA) ema
    ema += (1 - EMA_WEIGHT) * prev[1][r]
    env.last_spend_ratio[r] = step_total / env.step_budget
    if c.baselines is not None:
        organic = np.array([b.realised[t] for b in c.baselines], dtype=float)
        out["baseline"][r] = organic
        out["baseline_expected"][r] = [b.expected[t] for b in c.baselines]
        names = c.baselines[0].control_names
        for j, nm in enumerate(names):
            controls[nm][r] = [b.controls[t, j] for b in c.baselines]
        out["kpi"][r] = kpi + organic
    observe(env, r, obs)


def _advance_groups(
    env: ChannelBudgetVectorEnv, part: Part, spend: np.ndarray, t: int, cost_t: np.ndarray, response_t: np.ndarray,
    nu: np.ndarray | None, delivery_t: np.ndarray | None, out: dict[str, np.ndarray],
) -> None:
    """The dynamics and counts of a part's rows by the batch model's row groups: writes the part's
    price, exposure, conversions, revenue, and the expected conversions and reward into ``out``."""
    bm, r = part.model, part.rows
    assert bm is not None
    carried = None if part.carry is None else (part.carry[0][t], part.carry[1][t])
    price, exposure = out["price"][r], out["impressions"][r]
    if len(bm.groups) == 1:  # every row: the price and exposure computed in place, the means as they come
        _, _, mu, shadow = bm.groups[0].step(t, spend, cost_t, response_t, nu, delivery_t, carried, (price, exposure))
        mu = np.ascontiguousarray(mu)  # the counts are drawn in the rows' order
        if env.expected:
            out["expected_conversions"][r] = shadow
    else:
        mu = np.empty(spend.shape)
        for g in bm.groups:
            gr = g.rows

            def sub(x: np.ndarray | None, gr: Any = gr) -> Any:
                return x if x is None or x.ndim < 2 or isinstance(gr, slice) else x[gr]

            res = g.step(
                t, sub(spend), sub(cost_t), sub(response_t), sub(nu), sub(delivery_t),
                None if carried is None else (sub(carried[0]), sub(carried[1])),
            )
            price[gr], exposure[gr], mu[gr] = res[:3]
            if env.expected:
                out["expected_conversions"][r][gr] = res[3]
    mu_shadow = out["expected_conversions"][r] if env.expected else mu
    conv, zv = part.random.counts_and_value_z(mu, bm)
    value = bm.row_model.value
    if zv is not None:
        value = value * _lognormal(bm.row_model.value_noise_sd, bm.value_half_var, zv)
    out["conversions"][r] = conv
    np.multiply(conv, value, out=out["revenue"][r])
    if env.expected:
        out["expected_reward"][r] = expected_reward(bm.row_model, mu_shadow, spend)


def _advance_segments(
    env: ChannelBudgetVectorEnv, part: Part, spend: np.ndarray, t: int, cost_t: np.ndarray, response_t: np.ndarray,
    nu: np.ndarray | None, delivery_t: np.ndarray | None, out: dict[str, np.ndarray],
) -> None:
    """The dynamics and counts of a part's segmented rows (:mod:`budgetgym.envs.vector_segments`):
    writes price, exposure, conversions, revenue, and the expected conversions, revenue and reward."""
    seg, bm, r = part.segments, part.model, part.rows
    assert seg is not None and bm is not None
    price, exposure, arrivals, shadow = seg.step(t, spend, cost_t, response_t, nu, delivery_t)
    out["price"][r], out["impressions"][r] = price, exposure
    value, value_sd, weight = seg.value, seg.value_sd, seg.reward_weight
    rnd = part.random
    kinds, disp = bm.noise_kind_rows.tolist(), bm.dispersion[:, 0]
    if isinstance(rnd, PerEnvRandom):
        conv, revenue = segment_counts(arrivals, kinds, disp, value, value_sd, rnd.generators(), None,
                                       seg.row_segments)
    else:
        conv, revenue = segment_counts(arrivals, kinds, disp, value, value_sd, None, rnd.generator)
    out["conversions"][r], out["revenue"][r] = conv, revenue
    if env.expected:
        out["expected_conversions"][r] = shadow.sum(axis=-1)
        out["expected_revenue"][r] = (shadow * value[:, None, :]).sum(axis=-1)
        out["expected_reward"][r] = expected_reward(
            bm.row_model, out["expected_conversions"][r], spend, (shadow * weight[:, None, :]).sum(axis=-1)
        )

