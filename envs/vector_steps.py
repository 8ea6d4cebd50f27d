"""The vector environment's step arithmetic outside the dynamics: actions to spend, observations, infos.

Each function is the single environment's rule (:class:`~budgetgym.envs.ChannelBudgetEnv`,
:mod:`budgetgym.envs.allocation`) applied to every row at once with the same floating-point
operations in the same order, so that each row's numbers are the single environment's bit for
bit; per-row sums over channels reduce the contiguous last axis, as the single environment's
one-row sums do.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from budgetgym.envs.allocation import project_rows, project_rows_few_bounds, softmax_split
from budgetgym.envs.observation import CONV_CLIP, SPEND_CLIP
from budgetgym.envs.rowsum import row_sum

if TYPE_CHECKING:  # pragma: no cover
    from budgetgym.envs.vector_env import ChannelBudgetVectorEnv

__all__ = [
    "COUNTERS", "NEWTON_CHANNELS", "batch_info", "copy_info", "observe", "spend_of", "step_info", "step_outputs",
    "step_shapes",
]

#: ``batched`` projects the splits of this many channels or more onto the share bounds without a
#: sort, by :func:`~budgetgym.envs.simplex_projection.project_rows_few_bounds` (an active-set iteration when
#: few channels are bounded, else :func:`~budgetgym.envs.simplex_projection.project_rows_newton`; equal to
#: ~1e-15, not bit for bit); below, and always in ``per_env``, by the single environment's
#: breakpoint algorithm (as fast there).
NEWTON_CHANNELS = 16


#: The per-row counters the observations are made of (``ChannelBudgetVectorEnv._counters``; each
#: step writes new ones and reads the previous ``cumulative_spend`` and ``ema_conv``).
COUNTERS = ("cumulative_spend", "last_share", "last_price_index", "last_conv", "ema_conv", "last_spend_ratio")


def spend_of(
    env: ChannelBudgetVectorEnv, a: np.ndarray, cumulative_spend: np.ndarray, out: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    r"""The spend ``[n, K]`` (computed in ``out`` when given) and its total ``[n]`` of rows with
    sanitised actions ``a`` ``[n, A]`` (:func:`~budgetgym.envs.allocation.sanitize_action`) and
    spend so far ``cumulative_spend``.

    Split :math:`q = \Pi_S(\mathrm{softmax}(c\,a))`; step total ``s = min(B/T, remaining)`` (even
    pacing) or ``(u+1)/2 * min(remaining, m B/T)`` (agent pacing); spend ``floor(q * units) * quantum``
    with ``units = floor(s / quantum)``, the largest channel reduced by any excess of the sum over
    ``units * quantum`` (``ChannelBudgetEnv.step``).
    """
    K = env.n_channels
    share = softmax_split(a[:, :K] if env.agent_pacing else a, env.logit_scale)
    if env.bounded:
        sort_free = env.rng_mode == "batched" and K >= NEWTON_CHANNELS
        low, high = env.low_share, env.high_share
        share = project_rows_few_bounds(share, low, high, out) if sort_free else project_rows(share, low, high)
    remaining = env.budget - cumulative_spend
    if env.agent_pacing:
        total = 0.5 * (a[:, K] + 1.0) * np.maximum(0.0, np.minimum(remaining, env.step_cap))
    else:
        total = np.minimum(env.step_budget, remaining)
    q = env.quantum
    units = np.floor(np.maximum(total, 0.0) / q)
    spend = np.multiply(share, units[:, None], out=share if out is None else out)  # the split is ours
    np.multiply(np.floor(spend, out=spend), q, out=spend)
    step_total = row_sum(spend)
    over = step_total - units * q
    fix = np.flatnonzero(over > 0)
    if len(fix):
        top = np.argmax(spend[fix], axis=1)
        spend[fix, top] -= over[fix]
        step_total[fix] -= over[fix]
    return spend, step_total


def observe(env: ChannelBudgetVectorEnv, rows: slice, out: np.ndarray) -> np.ndarray:
    """Writes the observations (float32) of ``rows`` into ``out`` ``[N, 4K + 7]`` and returns ``out``
    (:mod:`budgetgym.envs.observation`)."""
    lay = env.observation_layout
    obs = out[rows]  # float64 values, each rounded once
    obs[:, lay.share] = env.last_share[rows]
    obs[:, lay.price_index] = env.last_price_index[rows]
    scaled = np.empty(env.last_conv[rows].shape)  # one scratch for both blocks
    for block, conv in ((lay.conversions, env.last_conv[rows]), (lay.conversions_ema, env.ema_conv[rows])):
        np.minimum(np.multiply(conv, env.inv_conv_scale, out=scaled), CONV_CLIP, out=obs[:, block])  # rounded on output
    obs[:, lay.remaining_budget] = np.maximum(0.0, env.budget - env.cumulative_spend[rows]) / env.budget
    obs[:, lay.time] = env.t / env.horizon
    obs[:, lay.spend_ratio] = np.minimum(env.last_spend_ratio[rows], SPEND_CLIP)
    obs[:, lay.phase] = env.phase[env.t]
    return out


def step_shapes(
    n: int, K: int, obs_size: int, expected: bool, segmented: bool, control_names: Sequence[str] | None
) -> dict[str, tuple[int, ...]]:
    """The arrays a step of ``n`` rows writes, by name: the new :data:`COUNTERS` (``last_conv`` is
    ``out/conversions``), ``obs`` ``[n, obs_size]`` (float32; the rest float64), ``out/<key>`` — ``[n, K]`` ``spend``,
    ``impressions``, ``price``, ``conversions``, ``revenue`` and, with ``expected``,
    ``expected_conversions`` (and ``expected_revenue`` when ``segmented``); ``[n]`` ``reward``,
    ``expected_reward`` (with ``expected``) and, with a KPI baseline (``control_names`` not
    ``None``), ``baseline``, ``baseline_expected`` and ``kpi`` — and ``controls/<name>``, ``[n]``
    per control."""
    keys = ["spend", "impressions", "price", "conversions", "revenue"]
    if expected:
        keys += ["expected_conversions"] + (["expected_revenue"] if segmented else [])
    shapes: dict[str, tuple[int, ...]] = {f"out/{k}": (n, K) for k in keys}
    rows = ["reward"] + (["expected_reward"] if expected else [])
    if control_names is not None:
        rows += ["baseline", "baseline_expected", "kpi"]
    shapes.update({f"out/{k}": (n,) for k in rows})
    shapes.update({f"controls/{nm}": (n,) for nm in control_names or ()})
    shapes.update({c: (n,) if c in ("cumulative_spend", "last_spend_ratio") else (n, K) for c in COUNTERS
                   if c != "last_conv"})
    shapes["obs"] = (n, obs_size)
    return shapes


def step_outputs(arrays: dict[str, np.ndarray]) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """``(out, controls)`` by key from a step's arrays named as :func:`step_shapes` names them."""
    out = {k[4:]: v for k, v in arrays.items() if k.startswith("out/")}
    return out, {k[9:]: v for k, v in arrays.items() if k.startswith("controls/")}


def step_info(
    t: int, out: dict[str, np.ndarray], controls: dict[str, np.ndarray], cumulative_spend: np.ndarray, budget: float
) -> dict[str, Any]:
    """The info of step ``t`` (the single environment's keys, in its order) from the step's arrays
    (:func:`step_outputs`) and the spend so far (copied: the next step reads the env's counter, which
    a caller editing its info in place must not change); before :func:`batch_info`."""
    info: dict[str, Any] = {"step": np.full(len(cumulative_spend), t, dtype=int)}
    for k in ("spend", "impressions", "price", "conversions", "expected_conversions", "revenue", "reward",
              "expected_reward"):
        if k in out:
            info[k] = out[k]
    info["cumulative_spend"], info["remaining_budget"] = cumulative_spend.copy(), budget - cumulative_spend
    if "expected_revenue" in out:  # as ChannelBudgetEnv: a channel's value per conversion varies with its segments
        info["expected_revenue"] = out["expected_revenue"]
    if "baseline" in out:
        info["baseline"], info["baseline_expected"] = out["baseline"], out["baseline_expected"]
        info["controls"] = controls
        info["kpi"] = out["kpi"]
    return info


def copy_info(info: dict[str, Any]) -> dict[str, Any]:
    """``info`` with every array (and nested dict of arrays) copied."""
    return {k: copy_info(v) if isinstance(v, dict) else np.array(v) for k, v in info.items()}


def batch_info(info: dict[str, Any], n: int) -> dict[str, Any]:
    """Gymnasium's vector info: every value (already an array over the ``n`` rows, or a dict of
    them) beside its ``_key`` mask, here all true (every row has every key)."""
    out: dict[str, Any] = {}
    for key, value in info.items():
        out[key] = batch_info(value, n) if isinstance(value, dict) else value
        out[f"_{key}"] = np.ones(n, dtype=bool)
    return out
