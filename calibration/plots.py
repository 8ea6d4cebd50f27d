"""Figures of a calibration (PNG bytes through matplotlib's Agg canvas; needs the ``plot`` extra).

* :func:`plot_fit` — the KPI and the fitted mean over time (and the forecast of a held-out tail);
* :func:`plot_contributions` — the fitted mean split into baseline and channel contributions;
* :func:`plot_curves` — each channel's steady-state response to spend sustained every period,
  the point estimate with the 90% band of the bootstrap draws (:func:`response_band`), and the lift
  tests given to ``calibrate`` on their channels' curves (:func:`lift_marks`).

Each returns PNG bytes, so :func:`~budgetgym.calibration.report.write_outputs` writes every file
only once all are ready.
"""

from __future__ import annotations

import io
import math
from typing import Any

import numpy as np
import pandas as pd
from scipy.stats import norm

from budgetgym.calibration.export import Costs
from budgetgym.calibration.model import Fit
from budgetgym.calibration.uncertainty import Draws
from budgetgym.envs.io import figure as _figure
from budgetgym.envs.numbers import amount_axis

__all__ = [
    "BAND_LEVEL", "LIFT_Z", "contributions_figure", "curves_figure", "lift_marks", "plot_contributions", "plot_curves",
    "plot_fit", "response_band",
]

#: The level (%) of the curves' bands (:func:`response_band`) and of the lift tests' error bars.
BAND_LEVEL = 90.0
#: The normal quantile of a two-sided :data:`BAND_LEVEL` interval (1.645): a lift test's error bar is ``delta_y`` ±
#: ``LIFT_Z`` sigma, the level of the curves' bands.
LIFT_Z = float(norm.ppf(0.5 + BAND_LEVEL / 200.0))


def _png(fig: Any) -> bytes:
    """The figure as PNG, cropped to what is drawn (``bbox_inches="tight"``: a legend below the axes is kept)."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100, bbox_inches="tight")
    return buf.getvalue()


def response_band(
    fit: Fit, draws: Draws | None, costs: Costs, spend: np.ndarray, level: float = BAND_LEVEL
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
    """:func:`contributions_figure` as PNG."""
    return _png(contributions_figure(dates, baseline, contributions, channels, kpi))


def contributions_figure(dates: np.ndarray, baseline: np.ndarray, contributions: np.ndarray,
                         channels: tuple[str, ...], kpi: str) -> Any:
    """Baseline and channel contributions, stacked up from zero, and their sum, the fitted mean, as a
    line. Where the baseline is negative (the channels' contributions exceed the fitted KPI) it is
    drawn below zero, in its colour, and the channels stack from zero: the line then runs below the
    top of the stack by that much. The legend sits below the axes (inside them it covered the data
    with 5 channels or more), in rows of at most 8 entries."""
    fig = _figure(10, 3.6)
    ax = fig.add_subplot()
    layers = ax.stackplot(dates, np.maximum(baseline, 0.0), *contributions.T, labels=["baseline", *channels],
                          alpha=0.85)
    if bool(np.any(baseline < 0)):
        ax.fill_between(dates, np.minimum(baseline, 0.0), 0.0, color=layers[0].get_facecolor(), alpha=0.85, lw=0)
        ax.axhline(0.0, color="0.3", lw=0.6)
    ax.plot(dates, baseline + contributions.sum(axis=1), color="black", lw=1.0, label="fitted mean")
    ax.set_ylabel(f"{kpi} per period")
    entries = 2 + len(channels)  # baseline, the channels, the fitted mean: rows of at most 8, evenly filled
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.12), fontsize=8, frameon=False,
              ncol=math.ceil(entries / math.ceil(entries / 8)))
    ax.set_title("contributions over time")
    return fig


def lift_marks(fit: Fit, costs: Costs, lift: pd.DataFrame | None, channel: int) -> np.ndarray:
    r"""Where the lift tests of channel ``channel`` are drawn on its curve: one row ``[low, high, y_low, y_high,
    half]`` per test.

    A test moves spend per period from :math:`x` to :math:`x + \Delta x` and measures :math:`\Delta y`. Between its
    levels :math:`\ell = \min(x, x + \Delta x)` and :math:`u = \max(x, x + \Delta x)` it measured the rise
    :math:`\operatorname{sign}(\Delta x)\,\Delta y`, so it is drawn at :math:`u`, at the fitted curve's value at
    :math:`\ell` plus that rise, :math:`y_u = f(\ell) + \operatorname{sign}(\Delta x)\,\Delta y`, with the
    half-width :data:`LIFT_Z` :math:`\sigma` (90%); a test on the curve has :math:`y_u = f(u)`.

    Parameters
    ----------
    fit, costs : the fit and its cost curves (the curve :math:`f` is :func:`response_band`'s estimate).
    lift : the lift table (:func:`~budgetgym.calibration.lift.lift_table`: ``channel``, ``x``, ``delta_x``,
        ``delta_y``, ``sigma``), or ``None``.
    channel : the channel's index in ``fit.channels``.

    Returns
    -------
    numpy.ndarray
        ``[n, 5]``, ``n`` the channel's tests (0 rows without any).
    """
    if lift is None or not len(lift):
        return np.zeros((0, 5))
    rows = lift[lift["channel"] == fit.channels[channel]]
    x, dx = rows["x"].to_numpy(float), rows["delta_x"].to_numpy(float)
    low, high = np.minimum(x, x + dx), np.maximum(x, x + dx)
    at = np.zeros((len(rows), len(fit.channels)))
    at[:, channel] = low
    y_low = response_band(fit, None, costs, at)[0][:, channel]
    y_high = y_low + np.sign(dx) * rows["delta_y"].to_numpy(float)
    return np.column_stack([low, high, y_low, y_high, LIFT_Z * rows["sigma"].to_numpy(float)])


def plot_curves(fit: Fit, draws: Draws | None, costs: Costs, spend: np.ndarray, kpi: str,
                lift: pd.DataFrame | None = None) -> bytes:
    """:func:`curves_figure` as PNG bytes."""
    return _png(curves_figure(fit, draws, costs, spend, kpi, lift=lift))


def curves_figure(fit: Fit, draws: Draws | None, costs: Costs, spend: np.ndarray, kpi: str,
                  lift: pd.DataFrame | None = None) -> Any:
    """Response curves with their 90% bands, one panel per channel; the dotted line marks the
    channel's median nonzero spend per period in the data, the shade the spend beyond its largest
    period (where the curve is extrapolated); each lift test of ``lift`` (the lift table, ``None``: no
    tests) an error bar at its higher level of spend (:func:`lift_marks`), joined to the curve at its lower
    level by a dotted line, with a legend of its own on that panel. The other entries are one legend below the
    panels (covering no band); amounts are ticked ``12k``, ``1.2M`` (:func:`~budgetgym.envs.numbers.tick_amount`).
    Returns the matplotlib figure."""
    K = len(fit.channels)
    marks = [lift_marks(fit, costs, lift, i) for i in range(K)]
    top = np.maximum(2.0 * np.maximum(spend.max(axis=0), 1e-9),
                     [1.05 * m[:, 1].max() if len(m) else 0.0 for m in marks])
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
        tests = marks[i]
        bars = None
        if len(tests):
            for low, high, y_low, y_high, _ in tests:
                ax.plot([low, high], [y_low, y_high], color="tab:red", ls=":", lw=1)
            bars = ax.errorbar(tests[:, 1], tests[:, 3], yerr=tests[:, 4], fmt="o", ms=4, color="tab:red",
                               capsize=3, label="lift test: measured lift from its lower level (90%)")
        ax.set_title(ch)
        ax.set_xlabel("spend per period (sustained)")
        ax.set_ylabel(f"{kpi} per period")
        amount_axis(ax.xaxis)  # 12k, not 12000 running into 10000
        amount_axis(ax.yaxis)
        if bars is not None:  # the panel's own tests
            ax.legend(handles=[bars], fontsize=8)
    # one legend for every panel, below them: inside the first it covered its band
    handles, labels = fig.axes[0].get_legend_handles_labels()
    keep = [(h, lab) for h, lab in zip(handles, labels, strict=True) if not lab.startswith("lift test")]
    fig.legend([h for h, _ in keep], [lab for _, lab in keep], loc="outside lower center", ncol=len(keep),
               fontsize=8, frameon=False)
    return fig
