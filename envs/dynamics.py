r"""The dynamics core: one batched transition shared by every consumer.

A :class:`~budgetgym.envs.channel_model.ChannelModel` holds a scenario compiled into arrays
(:mod:`budgetgym.envs.channel_model`). :func:`transition`
advances a batch of ``N`` independent campaigns (state arrays with a leading
batch dimension) by one step. The single environment runs it with a batch of
two rows (the realised campaign and its noise-free shadow, which gives the
step's *expected* reward); :func:`budgetgym.envs.oracle.evaluate_plan` runs it
noise-free on any number of plans at once.

For channel ``i`` at step ``t`` with spend ``x`` (currency):

1. **cost**      ``p = p0 * m_c[t] * (1 + x/x_ref)**eta * nu``,  ``nu = exp(sigma_p z - sigma_p**2/2)``
                 (mean-one log-normal price noise; ``nu = 1`` in the noise-free row)
2. **exposure**  ``e = u * x / p * d[t]``  (``u = 1000`` impressions per CPM unit, 1 for clicks;
                 ``d = 0`` during an outage, else 1)
3. **carry-over** ``a_t = sum_l w_l e_{t-l}``               (:mod:`budgetgym.envs.kernels`)
4. **saturation** ``r_t = m_r[t] * f(a_t)``  (Hill or logistic, :mod:`budgetgym.envs.curves`); with
                 ``segments`` the channels' ``m_r a`` are pooled per audience segment and saturate
                 there, and each channel is credited its share (:mod:`budgetgym.envs.segments`,
                 which also replaces steps 5-7 by per-segment delays, values and noise)
5. **delay**     ``mu_t = sum_d q_d r_{t-d}``  expected conversions arriving at ``t``
6. **noise**     (:mod:`budgetgym.envs.noise`) ``c_t ~ Poisson(mu_t)`` or negative binomial (mean ``mu``, variance
                 ``mu + mu**2/k``), or ``c_t = mu_t``; value per conversion ``v`` times a
                 mean-one log-normal with log-sd ``sigma_v``.
7. **reward**    ``conversions: sum_i c_i``; ``revenue: sum_i v_i c_i``;
                 ``profit: sum_i v_i c_i - sum_i x_i``. The expected reward uses ``mu`` and ``v``.

``m_c`` and ``m_r`` are the cost and response multipliers of the episode's
:class:`~budgetgym.envs.path.ScenarioPath`. Conversions arriving after the last
step are not counted.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from budgetgym.envs import curves

# The compiled scenario has its own module; re-exported on purpose: ChannelModel and units_per_price were always
# imported from here, and history.py and the kernel tests import the ring helpers from here.
from budgetgym.envs.channel_model import IMPRESSIONS_PER_CPM_UNIT, ChannelModel, _ring_slice, units_per_price
from budgetgym.envs.channel_model import _ring_weights as _ring_weights
from budgetgym.envs.noise import LARGE_MEAN, draw_counts, realise  # steps 6-7, re-exported
from budgetgym.envs.rowsum import channel_sum
from budgetgym.envs.segments import SegmentModel, SegmentStep

__all__ = [
    "IMPRESSIONS_PER_CPM_UNIT",
    "LARGE_MEAN",
    "ChannelModel",
    "DynamicsState",
    "StepResult",
    "draw_counts",
    "expected_reward",
    "exposure_bought",
    "realise",
    "transition",
    "unit_price",
    "units_per_price",
]


@dataclass
class DynamicsState:
    """Ring buffers of recent exposure ``[N, K, L]`` and response ``[N, K, D]``."""

    exposure_buffer: np.ndarray
    response_buffer: np.ndarray

    @classmethod
    def zeros(cls, model: ChannelModel, n: int) -> DynamicsState:
        K = model.n_channels
        ring = model.delay_ring  # [K, 2D], or [K * S, 2D] for the (channel, segment) pairs ([N, ...] per row)
        return cls(np.zeros((n, K, model.adstock.shape[-1])), np.zeros((n, ring.shape[-2], ring.shape[-1] // 2)))

    def clear(self) -> None:
        self.exposure_buffer.fill(0.0)
        self.response_buffer.fill(0.0)


@dataclass
class StepResult:
    """Outputs of one transition, arrays of shape ``[N, K]`` (with segments, ``response`` and
    ``mean_conversions`` are the channels' attributed shares, and ``segment`` holds the rest)."""

    price: np.ndarray
    exposure: np.ndarray
    adstock: np.ndarray
    response: np.ndarray
    mean_conversions: np.ndarray
    segment: SegmentStep | None = None

    def expected_reward(self, model: ChannelModel, spend: np.ndarray) -> np.ndarray:
        """The step's noise-free reward per row (:func:`expected_reward`)."""
        weighted = None if self.segment is None or model.segments is None else self.segment.weighted(model.segments)
        return expected_reward(model, self.mean_conversions, spend, weighted)


def unit_price(
    model: ChannelModel, spend: np.ndarray, cost_mult: np.ndarray, out: np.ndarray | None = None
) -> np.ndarray:
    """Step 1 without the price noise: ``p0 * m_c * (1 + x/x_ref)**eta`` (broadcasts; the model's
    arrays may be per channel ``[K]`` or per row ``[n, K]``). ``out``: an array of the result's
    shape to compute in (every pass in place, the same numbers), else a new one."""
    base = np.add(1.0, np.divide(spend, model.ref_spend, out=out), out=out)
    pressure = curves.array_power(base, model.elasticity, out=out)
    return np.multiply(model.base_price * cost_mult, pressure, out=out)


def exposure_bought(
    model: ChannelModel, spend: np.ndarray, price: np.ndarray, delivery: np.ndarray | None,
    out: np.ndarray | None = None,
) -> np.ndarray:
    """Step 2: ``e = u * x / p`` (times the delivery ``d``, when given); ``out`` as for :func:`unit_price`."""
    exposure = np.divide(np.multiply(model.units, spend, out=out), price, out=out)
    if delivery is not None:
        exposure = np.multiply(exposure, delivery, out=out)
    return exposure


def transition(
    model: ChannelModel,
    state: DynamicsState,
    t: int,
    spend: np.ndarray,
    cost_mult: np.ndarray,
    response_mult: np.ndarray,
    price_noise: np.ndarray | None = None,
    delivery: np.ndarray | None = None,
    carried: tuple[np.ndarray, np.ndarray] | None = None,
) -> StepResult:
    """Advance every row of ``state`` by step ``t`` (steps 1-5 of the module docstring).

    Parameters
    ----------
    model : the compiled scenario.
    state : ring buffers, updated **in place** (the new state).
    t : step index, the same for every row.
    spend : ``[N, K]`` spend per channel this step (currency), ``>= 0``.
    cost_mult, response_mult : ``[K]`` or ``[N, K]`` path multipliers at step ``t``.
    price_noise : ``[N, K]`` multiplicative price noise ``nu``, or ``None`` for ``nu = 1``.
    delivery : ``[K]`` or ``[N, K]``, 0 for channels in an outage (no exposure), or ``None``.
    carried : ``(A_t, M_t)``, ``[K]`` each: adstock and expected conversions carried into step ``t``
        by spend before the window (:class:`~budgetgym.envs.history.CarryIn`), added to the
        adstock before saturation and to the arriving conversions; ``None`` for none.
    """
    price = unit_price(model, spend, cost_mult)
    if price_noise is not None:
        price = price * price_noise
    exposure = exposure_bought(model, spend, price, delivery)

    L = model.adstock.shape[-1]
    slot = t % L
    state.exposure_buffer[:, :, slot] = exposure
    if L > 1:
        adstock = (state.exposure_buffer * _ring_slice(model.adstock_ring, slot)).sum(axis=-1)
    else:
        adstock = exposure
    if carried is not None:
        adstock = adstock + carried[0]
    if model.segments is not None:
        return _segment_transition(
            model, model.segments, state, t, price, exposure, adstock, response_mult,
            carried[1] if carried is not None else None,
        )

    response = response_mult * model.saturation(adstock)

    D = model.delay.shape[-1]
    if D > 1:
        slot = t % D
        state.response_buffer[:, :, slot] = response
        mean_conv = (state.response_buffer * _ring_slice(model.delay_ring, slot)).sum(axis=-1)
    else:
        mean_conv = response
    if carried is not None:
        mean_conv = mean_conv + carried[1]
    return StepResult(price, exposure, adstock, response, mean_conv)


def _segment_transition(
    model: ChannelModel,
    seg: SegmentModel,
    state: DynamicsState,
    t: int,
    price: np.ndarray,
    exposure: np.ndarray,
    adstock: np.ndarray,
    response_mult: np.ndarray,
    carried_arrivals: np.ndarray | None = None,
) -> StepResult:
    """Steps 4-5 with segments (:mod:`budgetgym.envs.segments`): pool ``m_r a`` per segment, saturate,
    credit each channel its share, delay each (channel, segment) pair by the segment's kernel (plus
    ``carried_arrivals [K, S]``, the pairs' conversions still arriving from spend before the window)."""
    A, pair = seg.attribute(seg.effective(response_mult * adstock))  # [N, S], [N, K, S]
    n, K, S = pair.shape
    D = state.response_buffer.shape[-1]
    if D > 1:
        slot = t % D
        state.response_buffer[:, :, slot] = pair.reshape(n, K * S)
        arrivals = (state.response_buffer * _ring_slice(model.delay_ring, slot)).sum(axis=-1).reshape(n, K, S)
    else:
        arrivals = pair
    if carried_arrivals is not None:
        arrivals = arrivals + carried_arrivals
    step = SegmentStep(A, pair.sum(axis=-2), pair, arrivals)
    return StepResult(price, exposure, adstock, pair.sum(axis=-1), arrivals.sum(axis=-1), step)


def expected_reward(
    model: ChannelModel, mean_conversions: np.ndarray, spend: np.ndarray, weighted: np.ndarray | None = None
) -> np.ndarray:
    """Noise-free reward ``sum_i w_i mu_i - spend_cost * sum_i x_i`` (last axis summed); ``weighted``
    (with segments: :meth:`SegmentStep.weighted`) replaces ``w_i mu_i`` when given."""
    # elementwise, not `@`: a BLAS call wakes OpenBLAS threads that then spin on the other core
    out = channel_sum(mean_conversions * model.reward_weight if weighted is None else weighted)
    if model.spend_cost:
        out = out - model.spend_cost * channel_sum(np.asarray(spend))
    return out
