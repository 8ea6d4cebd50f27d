r"""The arms of the split bandits and their running statistics.

An *arm* is a candidate split of the step budget (a row of an ``[A, K]`` array); the bandit
agents of :mod:`budgetgym.agents.bandits` choose among arms by their discounted or windowed
mean reward, kept in :class:`BanditStats`.
"""

from __future__ import annotations

import itertools
import math

import numpy as np

from budgetgym.envs.errors import BudgetGymError

__all__ = ["MAX_ARMS", "BanditStats", "default_arms", "grid_arms", "pooled_sd"]

MAX_ARMS = 2000


# ---------------------------------------------------------------------------------- arms
def default_arms(n_channels: int, tilt: float, free: np.ndarray | None = None) -> np.ndarray:
    """Equal split, then per free channel ``i``: share x ``(1 + tilt)``, then x ``(1 - tilt)``.

    Returns ``[A, K]`` normalised splits (``A = 2 K_free + 1``; before projection on bounds).
    """
    K = n_channels
    free = np.ones(K, dtype=bool) if free is None else np.asarray(free, dtype=bool)
    eq = np.full(K, 1.0 / K)
    arms = [eq]
    for i in np.flatnonzero(free):
        for f in (1.0 + tilt, 1.0 - tilt):
            q = eq.copy()
            q[i] *= f
            arms.append(q / q.sum())
    return np.array(arms)


def grid_arms(n_channels: int, resolution: int) -> np.ndarray:
    """Every split whose shares are multiples of ``1/resolution`` (``[C(r+K-1, K-1), K]``)."""
    K, r = n_channels, resolution
    count = math.comb(r + K - 1, K - 1)
    if count > MAX_ARMS:
        raise BudgetGymError(
            f"grid_resolution: {r} gives {count} arms for {K} channels; expected at most {MAX_ARMS}"
        )
    out = []
    # stars and bars: positions of K-1 bars among r + K - 1 slots
    for bars in itertools.combinations(range(r + K - 1), K - 1):
        edges = (-1, *bars, r + K - 1)
        out.append([edges[j + 1] - edges[j] - 1 for j in range(K)])
    return np.asarray(out, dtype=float) / r


class BanditStats:
    """Weighted per-arm statistics of the kept observations (see the module docstring).

    Attributes: ``counts`` :math:`N_a`, ``sums`` :math:`S_a`, ``means`` :math:`\\hat\\mu_a`
    (``nan`` for unseen arms), ``total`` :math:`N`, ``seen`` (raw count of kept observations
    per arm), ``sq_resid`` (weighted sum of squared deviations from the arm means).
    """

    def __init__(self, n_arms: int, arms: np.ndarray, rewards: np.ndarray, discount: float):
        n = len(arms)
        w = discount ** np.arange(n - 1, -1, -1, dtype=float) if n else np.zeros(0)
        self.counts = np.bincount(arms, weights=w, minlength=n_arms).astype(float)
        self.sums = np.bincount(arms, weights=w * rewards, minlength=n_arms).astype(float)
        self.seen = np.bincount(arms, minlength=n_arms)
        with np.errstate(invalid="ignore", divide="ignore"):
            self.means = np.where(self.counts > 0, self.sums / np.where(self.counts > 0, self.counts, 1.0), np.nan)
        self.total = float(self.counts.sum())
        dev = rewards - np.nan_to_num(self.means)[arms] if n else np.zeros(0)
        self.sq_resid = float((w * dev * dev).sum())
        self.n_seen_arms = int((self.seen > 0).sum())


def pooled_sd(stats: BanditStats, fallback: float) -> float:
    r"""Pooled within-arm sd :math:`\sqrt{\sum_s w_s (r_s - \hat\mu_{a_s})^2 / (N - A_+)}`;
    ``fallback`` while :math:`N - A_+ < 2`."""
    dof = stats.total - stats.n_seen_arms
    if dof < 2.0:
        return float(fallback)
    return max(math.sqrt(stats.sq_resid / dof), 1e-9)
