r"""Response curves: a channel's expected outcome over the window as its budget varies.

For channel ``i`` with flighting :math:`d_i` (its recommended spend per step over its total,
:func:`~budgetgym.planner.metrics.channel_directions`), the curve is

.. math::  S \mapsto N_i(X + (S - S_i) d_i e_i^\top), \quad R_i = v_i N_i

for a channel budget ``S`` from 0 to :data:`CURVE_SPAN` times the larger of its recommended and
current budgets (others stay at the recommendation); for a channel (almost) unused, below
:data:`UNUSED_RTOL` of an equal share, twice an equal share: of the plan's spend, or of the budget
``B / K`` when the plan spends (almost) nothing (a profit reward no channel pays back, under agent
pacing: twice an equal share of its spend would collapse every curve near 0). Without audience
segments channels do not interact, so only channel ``i``'s outcome moves and the curve's slope is
the table's marginal return. With segments (:mod:`budgetgym.envs.segments`) :math:`N_i` is channel
``i``'s credited share of its segments' conversions: moving ``S`` moves the other channels' credits
too (on ``overlap-5``, social's credited revenue rises by 32,573 when its recommended budget grows by
half, and audio's falls by 2,788), so the curve is not the campaign's total response to the channel, nor its slope the
table's marginal return (:mod:`~budgetgym.planner.metrics`: the derivative of the total; social's curve
rises by 0.601 a unit at the recommendation, its marginal ROAS is 0.549).
Points are the problem's mean model (a family: the mean over its draws).
The recommended point lies on the curve; the current plan's point is marked at its own spend and
outcome, every channel at the current plan (on the curve when its flighting of the channel matches the
recommendation's and, with segments, the other channels' spend does too: on ``overlap-5`` the equal split's
display point lies above display's curve, whose social and audio saturate display's segments more).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from budgetgym.envs.expected import ExpectedModel, MeanExpectedModel
from budgetgym.planner.metrics import channel_directions

__all__ = ["CURVE_POINTS", "CURVE_SPAN", "UNUSED_RTOL", "response_curves"]

CURVE_POINTS = 41
CURVE_SPAN = 2.0
#: A channel budget (a plan's spend) below this fraction of an equal share of the plan's spend (the
#: budget) is (almost) nothing: its curve spans twice an equal share (module docstring).
UNUSED_RTOL = 1e-3


def response_curves(
    model: ExpectedModel | MeanExpectedModel,
    plan: np.ndarray,
    names: list[str],
    reward: str,
    current: np.ndarray | None = None,
    points: int = CURVE_POINTS,
    budget: float | None = None,
) -> pd.DataFrame:
    """Long table: ``channel, spend, conversions, revenue, outcome`` per curve point, with
    ``point`` = ``curve`` (and one ``recommended`` and, with ``current``, one ``current`` row per
    channel). ``budget``: the campaign's, for the span of a plan spending (almost) nothing (module
    docstring; without it, the plan's spend)."""
    X = np.asarray(plan, dtype=float)
    T, K = X.shape
    d = channel_directions(X)
    rec = X.sum(axis=0)
    cur = None if current is None else np.asarray(current, dtype=float)
    top = np.maximum(rec, 0.0 if cur is None else cur.sum(axis=0))
    spent = X.sum()
    share = spent / K if budget is None or spent >= UNUSED_RTOL * budget else budget / K
    top = np.where(top > UNUSED_RTOL * share, top, share)  # (almost) unused: up to twice an equal share
    rows = []
    for i, name in enumerate(names):
        levels = np.linspace(0.0, CURVE_SPAN * top[i], points)
        batch = np.repeat(X[None], points, axis=0)
        batch[:, :, i] = levels[:, None] * d[None, :, i]
        kinds = ["curve"] * points
        plans = [batch]
        spends = [levels]
        plans.append(X[None])
        spends.append(rec[i : i + 1])
        kinds.append("recommended")
        if cur is not None:
            plans.append(cur[None])
            spends.append(cur[:, i].sum(keepdims=True))
            kinds.append("current")
        P = np.concatenate(plans)
        conv = model.channel_conversions(P)[:, i]
        rev = model.channel_revenue(P)[:, i]
        spend = np.concatenate(spends)
        outcome = {"conversions": conv, "revenue": rev, "profit": rev - spend}[reward]
        rows.append(
            pd.DataFrame(
                {
                    "channel": name,
                    "point": kinds,
                    "spend": spend,
                    "conversions": conv,
                    "revenue": rev,
                    "outcome": outcome,
                }
            )
        )
    return pd.concat(rows, ignore_index=True)
