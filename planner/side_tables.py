"""The plan text's tables beside the per-channel one: the budget frontier of a sweep (:func:`frontier_rows`), a
family's outcome distribution over its held-out draws (:func:`distribution_rows`) and the per-segment table with its
note (:func:`segment_rows`, :func:`segment_note`)."""

from __future__ import annotations

import numpy as np

from budgetgym.experiments.report_format import round_shares
from budgetgym.experiments.wording import count
from budgetgym.planner.plan_result import PlanResult
from budgetgym.planner.text_basics import OUTCOME_NAMES, budget_multiple, fmt, objective_label, ratio_names, with_pct

__all__ = ["FRONTIER_CHANNELS", "distribution_rows", "frontier_rows", "segment_note", "segment_rows"]


#: The most channels whose spend the printed frontier shows, a column each (more: ``frontier.csv`` has them).
FRONTIER_CHANNELS = 8


def frontier_rows(result: PlanResult) -> tuple[list[str], list[list[str]]] | None:
    r"""The budget frontier (``None`` without a sweep): header and a row per budget :math:`b = mB` of the sweep.

    Each row holds the multiple :math:`m`, the budget, the objective at that budget's optimum :math:`V^*(b)`
    (expected outcome; a family's mean or CVaR over its train draws), its change from the recommendation
    at the campaign's budget, :math:`V^*(b) - V^*(B)` with its percentage of :math:`V^*(B)`, the budget's
    marginal return there (marginal CPA :math:`1 / (dV^*/db)` for conversions, else marginal ROAS) and, for
    at most :data:`FRONTIER_CHANNELS` channels, the spend per channel of that optimum (currency, over the
    window)."""
    f = result.frontier
    if f is None or not len(f):
        return None
    _, marginal, key = ratio_names(result.reward)
    names = list(result.channel_names) if len(result.channel_names) <= FRONTIER_CHANNELS else []
    header = ["budget multiple", "budget", objective_label(result),
              "vs the recommendation", marginal, *(f"{n} spend" for n in names)]
    value = abs(result.value)
    rows = [
        [f"{budget_multiple(float(r['multiple']))}×", fmt(r["budget"], 0, scale=r["budget"]),
         fmt(r["outcome"], scale=value),
         with_pct(float(r["outcome"]) - result.value, result.value, pct_digits=1, scale=value),
         fmt(r[key], 2), *(fmt(r[f"spend_{n}"], 0, scale=r["budget"]) for n in names)]
        for r in f.to_dict(orient="records")
    ]
    return header, rows


def distribution_rows(result: PlanResult) -> tuple[list[str], list[list[str]], str | None] | None:
    """A family's outcome distribution over the held-out draws: header and a row per plan (P10,
    P50, P90, mean) and the line saying how often the recommendation beats the current plan
    (``None`` without one; a draw where the two are equal counts half, and the line says on how
    many draws they are, :func:`~budgetgym.planner.plan.prob_beats`); ``None`` for a scenario."""
    if result.distribution is None:
        return None
    n = int(next(iter(result.distribution.values()))["draws"])
    header = [f"{count(n, 'held-out draw')}: expected {OUTCOME_NAMES[result.reward]}", "P10", "P50", "P90", "mean"]
    labels = {"same_budget": "recommended at the budget given"}  # a target moved the plan's budget from it
    rows = [[labels.get(name, name), *(fmt(d[k], scale=abs(result.value)) for k in ("p10", "p50", "p90", "mean"))]
            for name, d in result.distribution.items()]
    beats = (None if result.prob_beats_current is None else
             f"P(recommended beats current) over the {count(n, 'held-out draw')}: {result.prob_beats_current:.2f}")
    dv = result.draw_values
    ties = 0 if beats is None or dv is None else int((dv["recommended"] == dv["current"]).sum())
    if beats is not None and ties:
        beats += f" (equal on {ties} of the {count(n, 'draw')}, each counted half)"
    if beats is not None and result.prob_beats_current_same_budget is not None:  # a target moved the plan's budget
        beats += (f"; P(recommended at the budget given beats current), the same budget: "
                  f"{result.prob_beats_current_same_budget:.2f}")
    return header, rows, beats


def segment_rows(result: PlanResult) -> tuple[list[str], list[list[str]]] | None:
    """The per-segment table of the recommended plan (``None`` without segments)."""
    seg = result.segments
    if seg is None:
        return None
    shares = [c for c in seg.columns if c.startswith("from_")]
    counted = result.response_unit == "conversions"  # a response in currency counts none (metrics.uncounted)
    header = ["segment", "size", "exposure", "per size", "saturation", *(["conversions"] if counted else []),
              "revenue", *[f"from {c[5:]}" for c in shares]]
    sizes = round_shares(seg["size"].to_numpy(), 2)
    credits = seg[shares].to_numpy()
    rows = [
        [str(r["segment"]), f"{100 * size:.0f}%", fmt(r["exposure"]), fmt(r["exposure_per_size"]),
         f"{100 * r['saturation']:.0f}%", *([fmt(r["conversions"])] if counted else []), fmt(r["revenue"]),
         *_credit_cells(credit)]
        for (_, r), size, credit in zip(seg.iterrows(), sizes, credits, strict=True)
    ]
    return header, rows


def _credit_cells(credit: np.ndarray) -> list[str]:
    """A segment's credited shares as whole percents summing to 100% (:func:`round_shares`), or '–' in
    every cell when the segment has no conversions to credit (its shares, 0 in ``segments.csv``, sum to 0)."""
    if credit.sum() < 0.5:
        return ["–"] * len(credit)
    return [f"{100 * c:.0f}%" for c in round_shares(credit, 2)]


def segment_note(result: PlanResult) -> str:
    """The note under the segment table: what each column is, the exposure's unit included
    (:attr:`PlanResult.exposure_unit`)."""
    unit = {"impression": "impressions", "click": "clicks"}.get(
        result.exposure_unit or "", "in each segment's unit: impressions, and clicks times their effectiveness")
    return (
        f"Segments: exposure is the effective exposure ({unit}) reaching each segment over the window (per size: "
        "per unit of audience share, a frequency index); saturation the share of the segment's largest response per "
        "step reached (conversions, or revenue for a response in currency); 'from' the share of its response "
        "credited to each channel (by its share of the exposure)."
    )
