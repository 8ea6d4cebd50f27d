"""Synthetic marketing-mix datasets from known parameters, for the calibration tests.

The equations are written here from the model's definition (``budgetgym.calibration.model``'s
docstring), with explicit loops and none of the calibration code: geometric adstock
``a_t = e_t + theta a_{t-1}`` (or Weibull weights from the environment's own
``budgetgym.envs.kernels.adstock_kernel``), Hill ``a^s / (kappa^s + a^s)`` or logistic
``tanh(rate a / 2)``, a baseline of level + linear trend + one yearly cosine + controls.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd


@dataclass
class Truth:
    """The parameters a dataset was generated from (per channel arrays)."""

    beta: np.ndarray
    kappa: np.ndarray
    slope: np.ndarray
    theta: np.ndarray
    weights: list[np.ndarray] | None = None  # Weibull weights (theta unused then)
    rate: np.ndarray | None = None  # logistic (kappa, slope unused then)
    control_coef: np.ndarray = field(default_factory=lambda: np.zeros(0))
    contributions: np.ndarray = field(default_factory=lambda: np.zeros(0))  # [T, K]
    spend: np.ndarray = field(default_factory=lambda: np.zeros(0))  # [T, K]

    def typical_response(self) -> np.ndarray:
        """beta h(m wbar): the response when the median nonzero spend is sustained (by hand)."""
        out = []
        for i in range(len(self.beta)):
            col = self.spend[:, i]
            m = float(np.median(col[col > 0]))
            wbar = 1.0 / (1.0 - self.theta[i]) if self.weights is None else float(self.weights[i].sum())
            a = m * wbar
            if self.rate is not None:
                h = np.tanh(self.rate[i] * a / 2.0)
            else:
                h = a ** self.slope[i] / (self.kappa[i] ** self.slope[i] + a ** self.slope[i])
            out.append(self.beta[i] * h)
        return np.array(out)


def flighted_spend(T: int, levels: list[float], rng: np.random.Generator, active: float = 1.0) -> np.ndarray:
    """Media-plan-like spend: flights of 2-8 periods at a level drawn in [0.3, 2.5] x the channel's
    level (+-10% jitter), separated by 1-5 dark periods; with ``active < 1`` only that share of the
    periods (chosen at random) keeps its spend."""
    X = np.zeros((T, len(levels)))
    for i, level in enumerate(levels):
        t = 0
        while t < T:
            on, off = int(rng.integers(2, 9)), int(rng.integers(1, 6))
            stop = min(T, t + on)
            X[t:stop, i] = level * rng.uniform(0.3, 2.5) * rng.uniform(0.9, 1.1, stop - t)
            t = stop + off
    if active < 1.0:
        keep = np.zeros(T, dtype=bool)
        on = np.flatnonzero(X[:, -1] > 0)
        keep[rng.choice(on, size=min(len(on), int(active * T)), replace=False)] = True
        X[~keep, -1] = 0.0
    return X


def synthesize(
    path: Path,
    truth: Truth,
    spend: np.ndarray,
    *,
    noise_sd: float = 0.0,
    controls: np.ndarray | None = None,
    seed: int = 0,
    start: str = "2021-01-04",
    kpi: str = "revenue",
    exposure: np.ndarray | None = None,
    spend_names: list[str] | None = None,
    base_scale: float = 1.0,
    step_days: int = 7,
) -> Truth:
    """Write ``path`` (columns ``date``, ``kpi``, ``<name>_spend``, optionally
    ``<name>_impressions`` and ``control<j>``) generated from ``truth``; returns ``truth`` with
    its contributions and spend filled in. The response is driven by ``exposure`` if given; the
    baseline (level 30,000 + 40 a week + a yearly cosine of amplitude 2,500) is scaled by
    ``base_scale``; periods are ``step_days`` days apart."""
    T, K = spend.shape
    media = spend if exposure is None else exposure
    contrib = np.zeros((T, K))
    for i in range(K):
        a = np.zeros(T)
        for t in range(T):
            if truth.weights is None:
                a[t] = media[t, i] + (truth.theta[i] * a[t - 1] if t > 0 else 0.0)
            else:
                w = truth.weights[i]
                a[t] = sum(w[lag] * media[t - lag, i] for lag in range(len(w)) if t - lag >= 0)
        if truth.rate is not None:
            h = np.tanh(truth.rate[i] * a / 2.0)
        else:
            s, k = truth.slope[i], truth.kappa[i]
            h = a**s / (k**s + a**s)
        contrib[:, i] = truth.beta[i] * h
    days = step_days * np.arange(T, dtype=float)
    base = base_scale * (30_000.0 + 40.0 * days / 7 + 2_500.0 * np.cos(2 * np.pi * (days - 300.0) / 365.25))
    frame = {"date": pd.date_range(start, periods=T, freq=f"{step_days}D").strftime("%Y-%m-%d")}
    if controls is not None:
        base = base + controls @ truth.control_coef
    y = base + contrib.sum(axis=1) + noise_sd * np.random.default_rng(seed).standard_normal(T)
    frame[kpi] = y
    names = spend_names or [f"c{i}" for i in range(K)]
    for i, n in enumerate(names):
        frame[f"{n}_spend"] = spend[:, i]
        if exposure is not None:
            frame[f"{n}_impressions"] = exposure[:, i]
    for j in range(0 if controls is None else controls.shape[1]):
        frame[f"control{j}"] = controls[:, j]  # type: ignore[index]
    pd.DataFrame(frame).to_csv(path, index=False)
    truth.contributions, truth.spend = contrib, spend
    return truth
