"""Steps 6-7 of :mod:`budgetgym.envs.dynamics`: realised conversion counts around their means and
their value (re-exported by :mod:`budgetgym.envs.dynamics`).

* **noise**  ``c ~ Poisson(mu)``, negative binomial (mean ``mu``, variance ``mu + mu**2/k``) or
  ``c = mu``; value per conversion ``v`` times a mean-one log-normal ``exp(sigma_v z - sigma_v**2/2)``;
* **reward** ``conversions: sum_i c_i``; ``revenue: sum_i v_i c_i``; ``profit: revenue - sum_i x_i``.

With audience segments (:mod:`budgetgym.envs.segments`) counts are drawn per (channel, segment)
pair and valued at the segment's value, its noise drawn once per segment and step.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:  # pragma: no cover
    from budgetgym.envs.dynamics import ChannelModel

__all__ = ["LARGE_MEAN", "draw_counts", "realise"]

#: Means of realised conversions above this are drawn from the normal approximation of the Poisson
#: when numpy's samplers refuse them (the Poisson past about 9.2e18, the negative binomial lower
#: still for a small dispersion); see :func:`_poisson`.
LARGE_MEAN = 1e15


def _poisson(rng: np.random.Generator, lam: np.ndarray) -> np.ndarray:
    """Poisson draws (as floats) with means ``lam``.

    ``rng.poisson(lam)`` itself whenever numpy's sampler takes every mean (up to about 9.2e18).
    When one is beyond it, the means above :data:`LARGE_MEAN` are drawn from the normal
    approximation ``round(lam + sqrt(lam) z)``, whose error is of order ``lam**-0.5 < 3.2e-8``,
    and the others by numpy.
    """
    try:
        return rng.poisson(lam).astype(float)
    except ValueError:  # "lam value too large" (checked before drawing)
        pass
    large = lam > LARGE_MEAN
    out = rng.poisson(np.where(large, 0.0, lam)).astype(float)
    big = lam[large]
    out[large] = np.rint(big + np.sqrt(big) * rng.standard_normal(big.shape))
    return out


def draw_counts(
    mean: np.ndarray, kind: str, dispersion: float | np.ndarray, rng: np.random.Generator
) -> np.ndarray:
    """Counts around ``mean``: ``kind`` ``poisson``, ``negative_binomial`` (dispersion ``k``:
    variance ``mu + mu**2/k``; a float, or an array broadcasting against ``mean``, e.g. one ``k``
    per row ``[n, 1]``) or ``none`` (the mean itself)."""
    mu = np.maximum(mean, 0.0)
    if kind == "poisson":
        return _poisson(rng, mu)
    if kind == "negative_binomial":
        k = dispersion
        try:
            return rng.negative_binomial(k, k / (k + mu)).astype(float)
        except ValueError:  # a mean past numpy's sampler (lower than the Poisson's for small k):
            large = mu > LARGE_MEAN  # the same gamma-Poisson mixture, its Poisson step by _poisson
            conv = rng.negative_binomial(k, k / (k + np.where(large, 0.0, mu))).astype(float)
            k_large = np.broadcast_to(k, mu.shape)[large] if np.ndim(k) else k
            conv[large] = _poisson(rng, rng.gamma(k_large, mu[large] / k_large))
            return conv
    return mu.copy()


def _noisy_value(value: np.ndarray, sd: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """``value`` times the mean-one log-normal ``exp(sd z - sd**2 / 2)`` (one normal per entry), or
    ``value`` itself, drawing nothing, when no ``sd`` is positive."""
    if not bool(np.any(sd > 0)):
        return value
    return value * np.exp(sd * rng.standard_normal(len(sd)) - 0.5 * sd * sd)


def realise(
    model: ChannelModel,
    mean_conversions: np.ndarray,
    spend: np.ndarray,
    rng: np.random.Generator,
    arrivals: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray, float]:
    """Draw realised conversions and revenue around their means (step 6-7). With segments pass the
    row's ``arrivals [K, S]`` (:class:`SegmentStep`): counts are drawn per (channel, segment) pair and
    valued at the segment's value, its noise drawn once per segment (:mod:`budgetgym.envs.segments`).

    Returns ``(conversions [K], revenue [K], reward)`` for one row.
    """
    seg = model.segments
    if seg is not None and arrivals is not None:
        pairs = draw_counts(arrivals, model.noise_kind, model.dispersion, rng)
        value = _noisy_value(seg.value, seg.value_noise_sd, rng)
        conv, revenue = pairs.sum(axis=-1), (pairs * value).sum(axis=-1)
    else:
        conv = draw_counts(mean_conversions, model.noise_kind, model.dispersion, rng)
        revenue = conv * _noisy_value(model.value, model.value_noise_sd, rng)
    if model.reward_kind == "conversions":
        reward = float(conv.sum())
    else:
        reward = float(revenue.sum()) - model.spend_cost * float(spend.sum())
    return conv, revenue, reward
