r"""The dynamics core: one batched transition shared by every consumer.

A :class:`ChannelModel` holds a scenario compiled into arrays. :func:`transition`
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

from dataclasses import dataclass, field, replace

import numpy as np

from budgetgym.envs import curves
from budgetgym.envs.kernels import adstock_kernel, delay_kernel, stack_kernels
from budgetgym.envs.noise import LARGE_MEAN, draw_counts, realise  # steps 6-7, re-exported
from budgetgym.envs.rowsum import channel_sum
from budgetgym.envs.scenario import HillSaturation, Scenario
from budgetgym.envs.segments import SegmentModel, SegmentStep

__all__ = [
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

IMPRESSIONS_PER_CPM_UNIT = 1000.0


def units_per_price(unit: str) -> float:
    """``u``: exposure units bought per unit of price (1000 impressions per CPM, 1 click per CPC)."""
    return IMPRESSIONS_PER_CPM_UNIT if unit == "impression" else 1.0


def _ring_weights(kernels: np.ndarray) -> np.ndarray:
    """``[K, 2L]``: each kernel reversed, twice, so that :func:`_ring_slice` is a view.

    Memory is ``O(K L)`` (a precomputed ``[L, K, L]`` table of every slot's weights needed
    gigabytes for long windows with many channels)."""
    rev = np.ascontiguousarray(kernels[:, ::-1])
    return np.concatenate([rev, rev], axis=1)


def _ring_slice(ring: np.ndarray, slot: int) -> np.ndarray:
    """``[K, L]`` weights of the ring-buffer slots at a step ``t`` with ``t mod L = slot``:
    ``out[i, j] = kernel[i, (slot - j) mod L]`` (slot ``j`` holds the most recent step congruent
    to ``j``). With ``rev[i, m] = kernel[i, L-1-m]`` that is ``rev[i, (j - slot - 1) mod L]``,
    a window of the doubled ``rev``. A ring of per-row kernels ``[N, K, 2L]`` gives ``[N, K, L]``."""
    L = ring.shape[-1] // 2
    start = L - (slot + 1) % L
    return ring[..., start : start + L]


@dataclass(frozen=True, eq=False)
class ChannelModel:
    """A scenario compiled into per-channel arrays (length ``n_channels`` unless noted)."""

    scenario: Scenario
    base_price: np.ndarray  # p0, currency per 1000 impressions or per click
    units: np.ndarray  # u: 1000 for impressions, 1 for clicks
    ref_spend: np.ndarray  # x_ref, currency per step
    elasticity: np.ndarray  # eta
    price_noise_sd: np.ndarray  # sigma_p
    adstock: np.ndarray  # [K, L] weights w_l
    delay: np.ndarray  # [K, D] lag probabilities q_d
    is_hill: np.ndarray  # bool
    beta: np.ndarray  # conversions per step at saturation
    kappa: np.ndarray  # Hill half-saturation (exposure units); unused for logistic
    slope: np.ndarray  # Hill slope s; unused for logistic
    hill_u_max: np.ndarray  # cap of a / kappa in the Hill curves (curves.hill_u_max of slope)
    rate: np.ndarray  # logistic lambda; unused for Hill
    value: np.ndarray  # v, currency per conversion
    value_noise_sd: np.ndarray
    reward_weight: np.ndarray  # 1 (conversions) or v (revenue/profit)
    spend_cost: float  # 1 for profit, else 0
    low_share: np.ndarray
    high_share: np.ndarray
    curve_family: str  # "hill1" (all Hill, slope 1) | "hill" | "logistic" | "mixed"
    reward_kind: str  # "conversions" | "revenue" | "profit"
    noise_kind: str  # "poisson" | "negative_binomial" | "none"
    dispersion: float  # negative-binomial k
    has_value_noise: bool
    adstock_ring: np.ndarray = field(repr=False)  # [K, 2L], see _ring_slice
    delay_ring: np.ndarray = field(repr=False)  # [K, 2D]; with segments [K * S, 2D], the pairs' kernels
    segments: SegmentModel | None = field(default=None, repr=False)  # the response side, when segmented

    @classmethod
    def from_scenario(cls, scenario: Scenario) -> ChannelModel:
        ch = scenario.channels
        T = scenario.horizon

        def arr(values: list[float] | np.ndarray) -> np.ndarray:
            out = np.asarray(values, dtype=float)
            out.setflags(write=False)
            return out

        adstock = stack_kernels([adstock_kernel(c.adstock, T) for c in ch])
        delay = stack_kernels([delay_kernel(c.delay) for c in ch])
        # with segments, the channels have no curve of their own: unit placeholders, never evaluated
        sat = [c.saturation or HillSaturation(type="hill", max_response=1.0, half_saturation=1.0) for c in ch]
        segments = SegmentModel.from_scenario(scenario) if scenario.segments is not None else None
        is_hill = np.array([isinstance(c, HillSaturation) for c in sat])
        slope = arr([getattr(c, "slope", 1.0) for c in sat])
        value = arr([c.value.mean for c in ch])
        low_share, high_share = scenario.share_bound_arrays
        for bound in (low_share, high_share):
            bound.setflags(write=False)
        return cls(
            scenario=scenario,
            base_price=arr([c.cost.price for c in ch]),
            units=arr([units_per_price(c.cost.unit) for c in ch]),
            ref_spend=arr([c.cost.ref_spend for c in ch]),
            elasticity=arr([c.cost.elasticity for c in ch]),
            price_noise_sd=arr([c.cost.noise_sd for c in ch]),
            adstock=adstock,
            delay=delay,
            is_hill=is_hill,
            beta=arr([c.max_response for c in sat]),
            kappa=arr([getattr(c, "half_saturation", 1.0) for c in sat]),
            slope=slope,
            hill_u_max=arr(curves.hill_u_max(slope)),
            rate=arr([getattr(c, "rate", 1.0) for c in sat]),
            value=value,
            value_noise_sd=arr([c.value.noise_sd for c in ch]),
            reward_weight=value if scenario.reward != "conversions" else arr([1.0] * len(ch)),
            spend_cost=1.0 if scenario.reward == "profit" else 0.0,
            low_share=low_share,
            high_share=high_share,
            curve_family=curves.curve_family(is_hill, slope),
            reward_kind=scenario.reward,
            noise_kind=scenario.noise.conversions,
            dispersion=scenario.noise.dispersion,
            has_value_noise=any(c.value.noise_sd > 0 for c in ch),
            adstock_ring=_ring_weights(adstock),
            delay_ring=_ring_weights(delay if segments is None else segments.pair_delay),
            segments=segments,
        )

    @property
    def n_channels(self) -> int:
        return int(self.base_price.shape[-1])

    def with_windows(self, lags: int, delays: int) -> ChannelModel:
        """This model with its adstock and delay kernels zero-padded to ``lags`` and ``delays`` lags (at least
        their own; a model without segments): the same carry-over, :math:`\\sum_l w_l e_{t-l}` with weight 0 at
        the added lags, so rollouts of models of different windows can share one group
        (:func:`~budgetgym.envs.plan_value.evaluate_campaigns`). Not bit for bit: numpy's pairwise sum over
        the longer ring groups the products differently (a few units in the last place)."""
        if self.segments is not None:
            raise ValueError("with_windows: a model with segments keeps its (channel, segment) delay kernels")
        if lags < self.adstock.shape[-1] or delays < self.delay.shape[-1]:
            raise ValueError(f"with_windows: ({lags}, {delays}) lags is shorter than the kernels' "
                             f"({self.adstock.shape[-1]}, {self.delay.shape[-1]})")
        adstock = np.zeros((self.n_channels, lags))
        adstock[:, : self.adstock.shape[-1]] = self.adstock
        delay = np.zeros((self.n_channels, delays))
        delay[:, : self.delay.shape[-1]] = self.delay
        return replace(self, adstock=adstock, delay=delay, adstock_ring=_ring_weights(adstock),
                       delay_ring=_ring_weights(delay))

    # -- saturation, shared with the oracle -----------------------------------------
    def saturation(self, a: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
        """``f_i(a)``: Hill or logistic per channel (broadcast over the last axis); ``out`` as for
        :func:`~budgetgym.envs.curves.saturate`."""
        return curves.saturate(self, a, out=out)

    def saturation_d1(self, a: np.ndarray) -> np.ndarray:
        return curves.saturate(self, a, 1)

    def saturation_d2(self, a: np.ndarray) -> np.ndarray:
        return curves.saturate(self, a, 2)

    @property
    def held_adstock_sum(self) -> np.ndarray:
        """``sum_{l < min(L, T)} w_{i,l}`` per channel: the kernel's weights over the lags an episode of
        ``T`` steps holds (an explicit ``window`` may be longer than the horizon; lags past it never
        reach a step of the episode, as in :func:`~budgetgym.envs.kernels.lag_matrix`)."""
        return self.adstock[..., : self.scenario.horizon].sum(axis=-1)

    def _steady_adstock(self, spend: np.ndarray, scale: np.ndarray | None) -> np.ndarray:
        """``sum_{l < T} w_{i,l} e_i(x)``: the adstock of a spend held constant (exposure curve at
        ``scale``, default the nominal ``u / p0``)."""
        s = self.units / self.base_price if scale is None else scale
        return curves.exposure(spend, s, self.ref_spend, self.elasticity) * self.held_adstock_sum

    def steady_state_response(self, spend: np.ndarray, scale: np.ndarray | None = None) -> np.ndarray:
        r"""Expected conversions per step when ``spend`` (per channel, last axis) is held constant
        long enough for the carry-over to build up: :math:`f_i(\sum_{l < T} w_{i,l}\, e_i(x))`, the sum over
        the kernel's lags as the episode holds them (at most the horizon ``T``, whatever the ``window``
        (:attr:`held_adstock_sum`): a weekly decay of 0.9 on a
        13-step window sums to 7.46, not 1/(1 - 0.9) = 10 — the most one step's spend adds up to inside
        the window, which is what the oracle's grid start and a brief's conversion scale ask), with
        the exposure curve of :func:`~budgetgym.envs.curves.exposure` at ``scale`` (default: the
        nominal ``u / p0``, i.e. no seasonality or shocks); with segments each channel's attributed
        share of the segments' response."""
        a = self._steady_adstock(spend, scale)
        return self.saturation(a) if self.segments is None else self.segments.channel_response(a)

    def steady_state_reward(self, spend: np.ndarray, scale: np.ndarray | None = None) -> np.ndarray:
        """:meth:`steady_state_response` in reward units per channel (times the value per conversion
        for revenue and profit; with segments the attributed responses times their segments' values)."""
        if self.segments is None:
            return self.steady_state_response(spend, scale) * self.reward_weight
        return self.segments.channel_response(self._steady_adstock(spend, scale), self.segments.reward_weight)

    @property
    def is_concave(self) -> bool:
        """True when every response curve is concave (Hill slope <= 1 or logistic): the channels',
        or with segments the segments'."""
        if self.segments is not None:
            return self.segments.is_concave
        return bool(np.all(~self.is_hill | (self.slope <= 1.0)))


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
