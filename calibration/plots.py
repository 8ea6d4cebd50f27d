"""Figures of a calibration (PNG bytes through matplotlib's Agg canvas; needs the ``plot`` extra).

* :func:`plot_fit` — the KPI and the fitted mean over time (and the forecast of a held-out tail);
* :func:`plot_contributions` — the fitted mean split into baseline and channel contributions;
* :func:`plot_curves` — each channel's steady-state response to spend sustained every period,
  the point estimate with the 90% band of the bootstrap draws (:func:`response_band`).

Each returns PNG bytes, so :func:`~budgetgym.calibration.report.write_outputs` writes every file
only once all are ready.
"""

from __future__ import annotations

import io
from typing import Any

import numpy as np

from budgetgym.calibration.export import Costs
from budgetgym.calibration.model import Fit
from budgetgym.calibration.uncertainty import Draws
from budgetgym.envs.io import figure as _figure

__all__ = ["plot_contributions", "plot_curves", "plot_fit", "response_band"]


def _png(fig: Any) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100)
    return buf.getvalue()


def response_band(
    fit: Fit, draws: Draws | None, costs: Costs, spend: np.ndarray, level: float = 90.0
) -> tuple[np.ndarray, np.ndarray | None, np.ndarray | None]:
    """Steady-state response ``[n, K]`` to each row of ``spend`` (per period, sustained): the point
    estimate, and the ``level``% band of the draws (``None`` without draws)."""
    e = costs.exposure(spend)
    point = fit.curve(e)
    if draws is None or len(draws) < 2:
        return point, None, None
    curves = np.stack([fit.curve(e, draws.phi[n], draws.beta[n]) for n in range(len(draws))])
    tail = (100.0 - level) / 2
    lo, hi = np.percentile(curves, [tail, 100.0 - tail], axis=0)
    return point, lo, hi


def plot_fit(dates: np.ndarray, y: np.ndarray, fitted: np.ndarray, kpi: str,
             forecast: np.ndarray | None = None) -> bytes:
    """The KPI and the fitted mean (and a held-out forecast, drawn over the last periods)."""
    fig = _figure(10, 3.6)
    ax = fig.add_subplot()
    ax.plot(dates, y, color="black", lw=1.2, label=f"{kpi} (data)")
    ax.plot(dates, fitted, color="tab:blue", lw=1.2, label="fitted (all periods)")
    if forecast is not None and len(forecast):
        n = len(forecast)
        ax.plot(dates[-n:], forecast, color="tab:red", lw=1.4, ls="--", label="forecast from the earlier periods")
        ax.axvspan(dates[-n], dates[-1], color="tab:red", alpha=0.08)
    ax.set_ylabel(f"{kpi} per period")
    ax.legend(loc="upper left", fontsize=8)
    ax.set_title("actual vs fitted")
    return _png(fig)


def plot_contributions(dates: np.ndarray, baseline: np.ndarray, contributions: np.ndarray,
                       channels: tuple[str, ...], kpi: str) -> bytes:
    """Baseline and channel contributions, stacked up from zero, and their sum, the fitted mean, as a
    line. Where the baseline is negative (the channels' contributions exceed the fitted KPI) it is
    drawn below zero, in its colour, and the channels stack from zero: the line then runs below the
    top of the stack by that much."""
    fig = _figure(10, 3.6)
    ax = fig.add_subplot()
    layers = ax.stackplot(dates, np.maximum(baseline, 0.0), *contributions.T, labels=["baseline", *channels],
                          alpha=0.85)
    if bool(np.any(baseline < 0)):
        ax.fill_between(dates, np.minimum(baseline, 0.0), 0.0, color=layers[0].get_facecolor(), alpha=0.85, lw=0)
        ax.axhline(0.0, color="0.3", lw=0.6)
    ax.plot(dates, baseline + contributions.sum(axis=1), color="black", lw=1.0, label="fitted mean")
    ax.set_ylabel(f"{kpi} per period")
    ax.legend(loc="upper left", fontsize=8, ncol=min(6, 1 + len(channels)))
    ax.set_title("contributions over time")
    return _png(fig)


def plot_curves(fit: Fit, draws: Draws | None, costs: Costs, spend: np.ndarray, kpi: str) -> bytes:
    """Response curves with their 90% bands, one panel per channel; the dotted line marks the
    channel's median nonzero spend per period in the data, the shade the spend beyond its largest
    period (where the curve is extrapolated)."""
    K = len(fit.channels)
    top = 2.0 * np.maximum(spend.max(axis=0), 1e-9)
    grid = np.linspace(0.0, 1.0, 60)[:, None] * top[None, :]
    point, lo, hi = response_band(fit, draws, costs, grid)
    cols = min(3, K)
    rows = -(-K // cols)
    fig = _figure(4.0 * cols, 3.0 * rows)
    for i, ch in enumerate(fit.channels):
        ax = fig.add_subplot(rows, cols, i + 1)
        if lo is not None and hi is not None:
            ax.fill_between(grid[:, i], lo[:, i], hi[:, i], color="tab:blue", alpha=0.2, label="90% band")
        ax.plot(grid[:, i], point[:, i], color="tab:blue", label="estimate")
        nz = spend[:, i][spend[:, i] > 0]
        if nz.size:
            ax.axvline(float(np.median(nz)), color="grey", ls=":", lw=1, label="median period in the data")
            # beyond the largest period the curve is extrapolated: the prior's and the curve's shape, not the data's
            ax.axvspan(float(nz.max()), float(grid[-1, i]), color="grey", alpha=0.08, lw=0,
                       label="beyond the data's largest period")
        ax.set_title(ch)
        ax.set_xlabel("spend per period (sustained)")
        ax.set_ylabel(f"{kpi} per period")
        if i == 0:
            ax.legend(fontsize=8)
    return _png(fig)
