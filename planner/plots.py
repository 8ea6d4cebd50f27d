"""Figures of a plan (PNG through matplotlib's Agg canvas, written atomically).

Each function takes a :class:`~budgetgym.planner.plan_result.PlanResult` and a target path, draws on its
own figure (no pyplot state, the helpers of :mod:`budgetgym.experiments.plots`) and returns the
path. Plans keep one colour across figures (:data:`PLAN_COLORS`), channels another set.

* :func:`plot_allocation` — spend per channel: current, static and recommended (bars);
* :func:`plot_frontier` — the best outcome at each budget (a family's objective, as the axis says), its
  marginal ROAS (marginal CPA for conversions) on a second axis, the budget, the target and
  profit-maximising budgets marked;
* :func:`plot_curves` — each channel's response curve with its recommended and current points;
* :func:`plot_flighting` — spend per step by channel (stacked area), recommended and current;
* :func:`plot_distribution` — a family's outcome over the held-out draws per plan, and the
  recommendation's gain over the other plans per draw (histograms).

:func:`draw_plan_figures` draws the ones that apply and returns ``(title, path)`` pairs.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from budgetgym.envs.numbers import amount_axis as _money_axis
from budgetgym.envs.numbers import tick_amount as _money
from budgetgym.experiments.plots import _figure, _grid, save_figure
from budgetgym.experiments.wording import count
from budgetgym.planner.plan_result import PlanResult
from budgetgym.planner.plan_text import objective_label

__all__ = [
    "CURVE_POINT_LABELS",
    "PLAN_COLORS",
    "draw_plan_figures",
    "plot_allocation",
    "plot_curves",
    "plot_distribution",
    "plot_flighting",
    "plot_frontier",
]

PLAN_COLORS = {"recommended": "tab:blue", "static": "tab:orange", "current": "tab:gray"}


def _channel_colors(n: int) -> list[Any]:
    from matplotlib import colormaps

    cmap = colormaps["Set2" if n <= 8 else "tab20"]
    return [cmap(i % cmap.N) for i in range(n)]


def _count_axis(axis: Any) -> None:
    """Ticks at whole numbers only: the axis counts draws (4 of them were ticked 0, 0.25, 0.5, ...)."""
    from matplotlib.ticker import MaxNLocator

    axis.set_major_locator(MaxNLocator(integer=True))


def _spends(result: PlanResult) -> dict[str, np.ndarray]:
    """Spend per channel over the window of each plan: current (if any), static, recommended."""
    out = {}
    if result.current is not None:
        out["current"] = result.current.sum(axis=0)
    out["static"] = result.static_plan.sum(axis=0)
    out["recommended"] = result.plan.sum(axis=0)
    return out


def plot_allocation(result: PlanResult, path: str | Path) -> Path:
    """Spend per channel over the window: a bar per plan, side by side."""
    spends = _spends(result)
    names = result.channel_names
    fig = _figure(min(16.0, max(6.0, 0.35 * len(names) * len(spends) + 2)), 4.2)
    ax = fig.subplots()
    x = np.arange(len(names))
    width = 0.8 / len(spends)
    for j, (label, s) in enumerate(spends.items()):
        text = "static (best even split)" if label == "static" else label
        ax.bar(x + (j - (len(spends) - 1) / 2) * width, s, width, label=text, color=PLAN_COLORS[label])
    ax.set_xticks(x)
    ax.set_xticklabels(names, rotation=30 if len(names) > 6 else 0, ha="right" if len(names) > 6 else "center")
    ax.set(ylabel="spend over the window", title=f"Allocation — {result.campaign}")
    _money_axis(ax.yaxis)
    ax.legend(fontsize=8)
    ax.grid(axis="y", alpha=0.3)
    return save_figure(fig, path)


def plot_frontier(result: PlanResult, path: str | Path) -> Path:
    """The best outcome vs the total budget, and its marginal return on a second axis."""
    f = result.frontier
    if f is None:
        raise ValueError("plot_frontier: the plan has no frontier (no sweep)")
    conversions = result.reward == "conversions"
    metric, label = ("mcpa", "marginal CPA") if conversions else ("mroas", "marginal ROAS")
    fig = _figure(8, 4.8)
    ax = fig.subplots()
    ax.plot(f["budget"], f["outcome"], "-o", ms=3, color=PLAN_COLORS["recommended"], label="best plan at the budget")
    ax.plot([result.budget], [result.value], "*", ms=12, color=PLAN_COLORS["recommended"], label="recommended")
    ax.plot([result.budget], [result.static_value], "s", ms=6, color=PLAN_COLORS["static"],
            label="static (best even split)")
    if result.current is not None and result.current_value is not None:
        ax.plot([result.current.sum()], [result.current_value], "D", ms=6, color=PLAN_COLORS["current"],
                label="current")
    for point, text, style in ((result.target, "target", ":"), (result.profit_max, "profit-maximising", "-.")):
        if point is not None and point.get("budget") is not None:
            nothing = " (spends nothing: no channel pays back)" if point["spend"] == 0 else ""
            ax.axvline(point["budget"], color="black", ls=style, lw=1, label=f"{text} budget{nothing}")
    if result.budget_given is None:
        ax.axvline(result.budget, color="black", ls="--", lw=0.8, alpha=0.6)
    else:  # a target moved the plan's budget: the budget given, which the multiples are of
        ax.axvline(result.budget_given, color="black", ls="--", lw=0.8, alpha=0.6, label="budget given")
    ax.set(xlabel="total budget", ylabel=objective_label(result), title=f"Budget frontier — {result.campaign}")
    _money_axis(ax.xaxis)
    _money_axis(ax.yaxis)
    ax.grid(alpha=0.3)
    right = ax.twinx()
    values = f[metric].to_numpy(float)
    right.plot(f["budget"], np.where(np.isfinite(values), values, np.nan), "-", color="tab:red", lw=1.4, label=label)
    right.set_ylabel(label, color="tab:red")
    right.tick_params(axis="y", colors="tab:red")
    handles, labels = ax.get_legend_handles_labels()
    h2, l2 = right.get_legend_handles_labels()
    fig.legend(handles + h2, labels + l2, fontsize=8, loc="outside lower center", ncol=3)
    return save_figure(fig, path)


#: Legend of the curves' points: the curve holds the other channels at the recommendation, the current point is
#: the current plan's (so it lies off the curve when its flighting or, with segments, the others' spend differs).
CURVE_POINT_LABELS = {"recommended": "recommended", "current": "current plan (others at the current plan)"}


def plot_curves(result: PlanResult, path: str | Path) -> Path:
    """A panel per channel: expected outcome vs the channel's budget, recommended and current marked
    (:data:`CURVE_POINT_LABELS`)."""
    curves = result.curves
    if curves is None:
        raise ValueError("plot_curves: the plan has no response curves")
    names = result.channel_names
    rows, cols = _grid(len(names), 5 if len(names) > 12 else 3)
    fig = _figure(3.6 * cols, 2.8 * rows)
    axes = fig.subplots(rows, cols, squeeze=False)
    for k, name in enumerate(names):
        ax = axes[k // cols][k % cols]
        part = curves[curves["channel"] == name]
        line = part[part["point"] == "curve"]
        ax.plot(line["spend"], line["outcome"], color="black", lw=1.2)
        for kind, marker in (("current", "D"), ("recommended", "*")):
            pts = part[part["point"] == kind]
            if len(pts):
                ax.plot(pts["spend"], pts["outcome"], marker, ms=10 if marker == "*" else 6,
                        color=PLAN_COLORS[kind], label=CURVE_POINT_LABELS[kind])
        ax.set_title(name, fontsize=10)
        ax.grid(alpha=0.3)
        _money_axis(ax.xaxis)
        _money_axis(ax.yaxis)
        if k % cols == 0:
            ax.set_ylabel(f"expected {result.reward}")
        if k + cols >= len(names):  # the last panel of its column, whether or not the grid's last row
            ax.set_xlabel("channel budget")
    handles, labels = axes[0][0].get_legend_handles_labels()
    spare = [axes[k // cols][k % cols] for k in range(len(names), rows * cols)]
    for ax in spare[1:]:
        ax.set_visible(False)
    if spare:  # the legend in the first spare panel: outside the panels' top right it covered the title's end
        spare[0].axis("off")
        spare[0].legend(handles, labels, loc="center", fontsize=8)
    else:
        fig.legend(handles, labels, loc="outside lower center", fontsize=8, ncol=len(labels) or 1)
    fig.suptitle(f"Response curves (others at the recommendation) — {result.campaign}")
    return save_figure(fig, path)


def plot_flighting(result: PlanResult, path: str | Path) -> Path:
    """Spend per step by channel (stacked area): the recommendation, and the current plan if any."""
    panels = [("recommended", result.plan)] + ([("current", result.current)] if result.current is not None else [])
    names = result.channel_names
    colors = _channel_colors(len(names))
    ncol = min(len(names), 6)
    fig = _figure(5.2 * len(panels), 3.6 + 0.2 * (-(-len(names) // ncol)))
    axes = fig.subplots(1, len(panels), squeeze=False, sharey=True)[0]
    days = np.asarray(result.step_days, dtype=float) if result.dates is None else pd.to_datetime(result.dates)
    for ax, (title, X) in zip(axes, panels, strict=True):
        ax.stackplot(days, np.asarray(X).T, labels=names, colors=colors)
        ax.set(title=title, xlabel="day" if result.dates is None else "date")
        ax.grid(alpha=0.3)
        _money_axis(ax.yaxis)
    if result.dates is not None:
        fig.autofmt_xdate()
    axes[0].set_ylabel("spend per step")
    handles, labels = axes[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside lower center", fontsize=8, ncol=ncol)
    fig.suptitle(f"Flighting: spend per step by channel — {result.campaign}")
    return save_figure(fig, path)


def plot_distribution(result: PlanResult, path: str | Path) -> Path:
    """A family's outcome over the held-out draws: a histogram per plan on common bins (left), and
    per draw the recommendation's gain over the other plans (right; paired, the same draw)."""
    draws = result.draw_values
    if draws is None:
        raise ValueError("plot_distribution: the plan has no held-out draws (not a family)")
    plans = [c for c in ("current", "static", "recommended") if c in draws.columns]
    n_bins = min(30, max(5, len(draws) // 3))
    values = draws[plans].to_numpy(float)
    bins = np.histogram_bin_edges(values[np.isfinite(values)], bins=n_bins)
    fig = _figure(12, 4.4)
    ax, gain_ax = fig.subplots(1, 2)
    for name in plans:
        v = draws[name].to_numpy(float)
        p10, p50, p90 = (_money(x) for x in np.percentile(v, [10, 50, 90]))
        ax.hist(v, bins=bins, histtype="step", lw=1.8, color=PLAN_COLORS[name],
                label=f"{name} (P10 {p10}, P50 {p50}, P90 {p90})")
    ax.set(xlabel=f"expected {result.reward} over the window", ylabel="held-out draws",
           title=f"Outcome over {count(len(draws), 'held-out draw')}")
    _money_axis(ax.xaxis)
    _count_axis(ax.yaxis)
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    rec = draws["recommended"].to_numpy(float)
    others = [p for p in plans if p != "recommended"]
    gains = {name: rec - draws[name].to_numpy(float) for name in others}
    every = np.concatenate([g[np.isfinite(g)] for g in gains.values()])
    gain_bins = np.histogram_bin_edges(every, bins=n_bins)
    for name, gain in gains.items():
        gain_ax.hist(gain, bins=gain_bins, histtype="step", lw=1.8, color=PLAN_COLORS[name],
                     label=f"minus {name} (> 0 in {100 * np.mean(gain > 0):.0f}% of draws)")
    gain_ax.axvline(0.0, color="black", lw=0.8)
    gain_ax.set(xlabel=f"recommended minus the other plan, {result.reward}", ylabel="held-out draws",
                title="Gain of the recommendation, per draw")
    _money_axis(gain_ax.xaxis)
    _count_axis(gain_ax.yaxis)
    gain_ax.legend(fontsize=8)
    gain_ax.grid(alpha=0.3)
    fig.suptitle(f"Outcome distribution — {result.campaign}")
    return save_figure(fig, path)


def draw_plan_figures(result: PlanResult, directory: str | Path) -> list[tuple[str, Path]]:
    """Every figure that applies to ``result``, as ``(title, path)`` in ``directory``."""
    d = Path(directory)
    plans = ", ".join(_spends(result))
    items = [(f"Allocation: spend per channel ({plans})", plot_allocation(result, d / "allocation.png"))]
    if result.frontier is not None:
        items.append(("Budget frontier and marginal return", plot_frontier(result, d / "frontier.png")))
    if result.curves is not None:
        items.append(("Response curves", plot_curves(result, d / "curves.png")))
    items.append(("Flighting: spend per step by channel", plot_flighting(result, d / "flighting.png")))
    if result.draw_values is not None:
        items.append(("Outcome over the held-out draws", plot_distribution(result, d / "distribution.png")))
    return items
