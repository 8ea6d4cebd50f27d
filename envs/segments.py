r"""Audience segments with cross-channel overlap: the response side of a scenario with ``segments``.

Without segments every channel saturates on its own exposure and the total response is a sum
over channels. With ``S`` segments the channels' exposures are pooled per segment first, so two
channels reaching the same people share that segment's saturation (cannibalisation), while
channels reaching different segments add up. For channel ``i`` at step ``t`` — adstocked
exposure ``a_i`` (impressions or clicks, :mod:`budgetgym.envs.dynamics` steps 1-3) and response
multiplier ``m_i`` (seasonality, drift, shocks; :mod:`budgetgym.envs.path`) — and segment ``s`` of
size ``sigma_s`` (share of the audience), reach ``R[i, s]`` in ``[0, 1]`` (share of channel ``i``'s
exposure landing on ``s``; a channel's shares sum to at most 1, the rest reaches nobody who
converts) and effectiveness ``E[i, s] >= 0`` (default 1):

1. **effective exposure**  ``x[i, s] = R[i, s] E[i, s] m_i a_i``  (exposure units)
2. **segment exposure**    ``A_s = sum_i x[i, s]``
3. **segment response**    ``r_s = sigma_s f_s(A_s / sigma_s)``, conversions per step, where ``f_s`` is
   the segment's curve stated for the whole audience: Hill
   ``f(a) = beta a^k / (kappa^k + a^k)`` gives ``r_s = (sigma beta) A^k / ((sigma kappa)^k + A^k)``,
   logistic ``f(a) = beta tanh(lambda a / 2)`` gives ``r_s = sigma beta tanh(lambda A / (2 sigma))``
   (:mod:`budgetgym.envs.curves`); a segment of a tenth of the audience saturates at a tenth of the
   conversions and half-saturates at a tenth of the exposure (the same response per person).
4. **attribution**         ``r[i, s] = x[i, s] / A_s * r_s`` (0 when ``A_s = 0``): each channel is
   credited with its share of the segment's effective exposure. For a response ``g(sum_i x_i)``
   with ``g(0) = 0`` this is the Aumann-Shapley attribution
   (``x_i * integral_0^1 g'(tau sum x) d tau = x_i / sum x * g(sum x)``), the cost-sharing rule that
   is additive, credits nothing to a channel that reaches nobody and sums to the segment's
   response; it is also what a platform's exposure-weighted (fractional) attribution reports.
5. **delay**               ``mu[i, s](t) = sum_d q_s[d] r[i, s](t - d)`` (the segment's lag kernel)
6. **per channel**         expected conversions ``mu_i = sum_s mu[i, s]``; reward-weighted
   ``sum_s omega_s mu[i, s]`` (``omega_s`` 1 for conversions, the segment's value ``v_s`` otherwise)
7. **noise**               ``c[i, s] ~ Poisson(mu[i, s])`` (or negative binomial, or none), value per
   conversion ``v_s`` times a mean-one log-normal of log-sd ``sigma_{v,s}`` drawn per segment and
   step; a channel reports ``c_i = sum_s c[i, s]`` and its revenue ``sum_s v_s nu_s c[i, s]``.

The response multipliers scale each channel's **effective exposure** here (a promotion makes an
impression convert more), where without segments they scale the channel's response: so the
segment's response stays a concave function of a positive linear map of the exposures, and the
expected episode reward stays concave in the plan when every segment curve is concave (the exposure
curves are concave, see :mod:`budgetgym.envs.expected`) — the oracle stays exact. Units: ``x``, ``A``,
``kappa`` in the channels' exposure units (a scenario with segments should buy all channels in one
unit, or the effectiveness converts); ``r``, ``mu``, ``beta`` in conversions per step; ``v`` in currency.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from budgetgym.envs import curves
from budgetgym.envs.kernels import delay_kernel, stack_kernels
from budgetgym.envs.scenario import HillSaturation, Scenario

__all__ = ["SegmentModel", "SegmentStep", "without_overlap"]


def _readonly(values: object) -> np.ndarray:
    out = np.asarray(values, dtype=float)
    out.setflags(write=False)
    return out


@dataclass(frozen=True, eq=False)
class SegmentModel:
    """A scenario's ``segments`` compiled into arrays: ``S`` segments, ``K`` channels.

    Curve arrays (``beta``, ``kappa``, ``rate``) are the **absolute** ones of step 3 of the module
    docstring (already scaled by the size), so :func:`budgetgym.envs.curves.saturate` evaluates
    ``r_s`` directly."""

    names: tuple[str, ...]
    size: np.ndarray  # [S] sigma
    reach: np.ndarray  # [K, S] R
    mix: np.ndarray  # [K, S] R * E
    is_hill: np.ndarray  # [S]
    beta: np.ndarray  # [S] sigma * beta, conversions per step at saturation
    kappa: np.ndarray  # [S] sigma * kappa, exposure at half saturation
    slope: np.ndarray  # [S]
    hill_u_max: np.ndarray  # [S]
    rate: np.ndarray  # [S] lambda / sigma
    curve_family: str
    value: np.ndarray  # [S] v, currency per conversion
    value_noise_sd: np.ndarray  # [S]
    reward_weight: np.ndarray  # [S] omega: 1 (conversions) or v
    delay: np.ndarray  # [S, D] lag probabilities q_s
    pair_delay: np.ndarray  # [K * S, D]: row i * S + s holds q_s

    @classmethod
    def from_scenario(cls, scenario: Scenario) -> SegmentModel:
        if scenario.segments is None:
            raise ValueError(f"scenario '{scenario.name}' has no segments")
        segs, names = scenario.segments, scenario.channel_names
        size = np.array([s.size for s in segs])
        reach = np.array([[s.reach.get(c, 0.0) for s in segs] for c in names], dtype=float).reshape(len(names), -1)
        eff = np.array([[s.effectiveness.get(c, 1.0) for s in segs] for c in names], dtype=float).reshape(reach.shape)
        sat = [s.saturation for s in segs]
        is_hill = np.array([isinstance(c, HillSaturation) for c in sat])
        slope = np.array([getattr(c, "slope", 1.0) for c in sat])
        delay = stack_kernels([delay_kernel(s.delay) for s in segs])
        value = np.array([s.value.mean for s in segs])
        return cls(
            names=tuple(s.name for s in segs),
            size=_readonly(size),
            reach=_readonly(reach),
            mix=_readonly(reach * eff),
            is_hill=is_hill,
            beta=_readonly(size * np.array([c.max_response for c in sat])),
            kappa=_readonly(size * np.array([getattr(c, "half_saturation", 1.0) for c in sat])),
            slope=_readonly(slope),
            hill_u_max=_readonly(curves.hill_u_max(slope)),
            rate=_readonly(np.array([getattr(c, "rate", 1.0) for c in sat]) / size),
            curve_family=curves.curve_family(is_hill, slope),
            value=_readonly(value),
            value_noise_sd=_readonly([s.value.noise_sd for s in segs]),
            reward_weight=_readonly(value if scenario.reward != "conversions" else np.ones(len(segs))),
            delay=_readonly(delay),
            pair_delay=_readonly(np.tile(delay, (len(names), 1))),
        )

    @property
    def n_segments(self) -> int:
        return len(self.size)

    @property
    def is_concave(self) -> bool:
        """True when every segment curve is concave (Hill slope <= 1 or logistic)."""
        return bool(np.all(~self.is_hill | (self.slope <= 1.0)))

    def saturation(self, A: np.ndarray, order: int = 0) -> np.ndarray:
        """``r_s`` (``order`` 0) or its first/second derivative in ``A_s``, last axis ``S``."""
        return curves.saturate(self, A, order)

    def effective(self, exposure: np.ndarray) -> np.ndarray:
        """``x[..., i, s] = mix[i, s] * exposure[..., i]`` (exposure already times ``m_i``)."""
        return exposure[..., :, None] * self.mix

    def attribute(self, effective: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``(A [..., S], r [..., K, S])``: segment exposure and the attributed response (steps 2-4)."""
        A = effective.sum(axis=-2)
        r = self.saturation(A)
        per_unit = np.divide(r, A, out=np.zeros_like(r), where=A > 0)
        return A, effective * per_unit[..., None, :]

    def channel_response(self, exposure: np.ndarray, weight: np.ndarray | None = None) -> np.ndarray:
        """Each channel's attributed response ``sum_s r[..., i, s]`` ``[..., K]`` at effective adstocked
        exposure ``exposure[..., i] = m_i a_i``; with ``weight [S]``, ``sum_s weight_s r[..., i, s]``."""
        pair = self.attribute(self.effective(exposure))[1]
        return (pair if weight is None else pair * weight).sum(axis=-1)


@dataclass
class SegmentStep:
    """A step's segment-level outputs (rows ``N``): segment exposure ``A [N, S]``, segment response
    ``[N, S]``, the credited response generated this step ``r[i, s]`` and the expected conversions
    arriving per channel and segment ``mu[i, s]`` (both ``[N, K, S]``)."""

    exposure: np.ndarray
    response: np.ndarray
    generated: np.ndarray
    arrivals: np.ndarray

    def weighted(self, seg: SegmentModel) -> np.ndarray:
        """``[N, K]``: each channel's arriving conversions times the segments' reward weights."""
        return (self.arrivals * seg.reward_weight).sum(axis=-1)


def without_overlap(seg: SegmentModel) -> SegmentModel:
    """The same channels with the overlap removed: each channel reaches a private copy of every
    segment (``K S`` segments; copy ``(i, s)`` has segment ``s``'s size, curve, value and delay and is
    reached by channel ``i`` alone, with ``M[i, s]``). Each channel's response is then what it would be
    on its own, and the total is their sum — what an additive, channel-by-channel model assumes. Used
    to measure what ignoring the overlap costs (``benchmarks/bench_segments.py``)."""
    K, S = seg.mix.shape

    def rep(a: np.ndarray) -> np.ndarray:
        return _readonly(np.tile(a, K))

    mix = np.zeros((K, K * S))
    reach = np.zeros((K, K * S))
    for i in range(K):
        mix[i, i * S : (i + 1) * S] = seg.mix[i]
        reach[i, i * S : (i + 1) * S] = seg.reach[i]
    delay = np.tile(seg.delay, (K, 1))
    return SegmentModel(
        names=tuple(f"{s}@{i}" for i in range(K) for s in seg.names),
        size=rep(seg.size), reach=_readonly(reach), mix=_readonly(mix), is_hill=np.tile(seg.is_hill, K),
        beta=rep(seg.beta), kappa=rep(seg.kappa), slope=rep(seg.slope), hill_u_max=rep(seg.hill_u_max),
        rate=rep(seg.rate), curve_family=seg.curve_family, value=rep(seg.value),
        value_noise_sd=rep(seg.value_noise_sd), reward_weight=rep(seg.reward_weight), delay=_readonly(delay),
        pair_delay=_readonly(np.tile(delay, (K, 1))),
    )
