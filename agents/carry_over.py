r"""The carry-over the learning agents fit: a normalised geometric adstock that restarts with each episode.

.. math::  \tilde x_t = (1 - \lambda) \sum_{l=0}^{t - s(t)} \lambda^l x_{t-l},

with :math:`\lambda \in [0, 1)` the decay and :math:`s(t)` the first row of the episode that row ``t``
belongs to (the environment's carry-over starts empty in each episode). Normalised, a constant
spend :math:`x` gives :math:`\tilde x \to x`, so the fitted curve is one of spend per step. Used by
:mod:`~budgetgym.agents.greedy` (each channel's curve) and
:mod:`~budgetgym.agents.calendar_pacing` (the step total's).
"""

from __future__ import annotations

import numpy as np

__all__ = ["episode_starts", "normalised_adstock"]


def normalised_adstock(spend: np.ndarray, decay: float, starts: np.ndarray | None = None) -> np.ndarray:
    """``(1 - decay) * sum_l decay**l x_{t-l}`` along axis 0, starting from zero.

    ``starts`` (optional, ``[n]`` booleans): rows where an episode begins; the sum restarts from zero
    there (the environment's carry-over starts empty in each episode). Default: row 0 only.
    """
    from scipy.signal import lfilter  # here: importing scipy.signal costs ~0.25 s of every agent import

    x = np.asarray(spend, dtype=float)
    if decay == 0.0:
        return x.copy()
    if starts is None:
        return (1.0 - decay) * lfilter([1.0], [1.0, -decay], x, axis=0)
    edges = [*np.flatnonzero(np.asarray(starts, dtype=bool)[1:]) + 1, len(x)]
    out = np.empty_like(x)
    lo = 0
    for hi in edges:
        out[lo:hi] = (1.0 - decay) * lfilter([1.0], [1.0, -decay], x[lo:hi], axis=0)
        lo = hi
    return out


def episode_starts(steps: np.ndarray) -> np.ndarray:
    """``[n]`` booleans: row 0, and each row whose campaign step is not after the previous row's (a new
    episode began)."""
    s = np.asarray(steps)
    return np.r_[True, s[1:] <= s[:-1]] if len(s) else np.zeros(0, dtype=bool)
