r"""A scenario compiled into per-channel arrays: :class:`ChannelModel`, the input of every transition.

:meth:`ChannelModel.from_scenario` reads each channel's cost, carry-over, response curve and value
into arrays of length ``K`` (the channels); its fields carry their units. It also keeps the
carry-over and delay kernels as *rings* (:func:`_ring_weights`, read a step at a time by
:func:`_ring_slice`), and gives the model's steady state: the expected conversions per step of a
spend ``x`` (currency per step) held constant,

.. math::  f_i\Big(\sum_{l < T} w_{i,l}\, e_i(x)\Big), \qquad
           e_i(x) = \frac{u_i\, x}{p_{0,i}} \big(1 + x / x_{\mathrm{ref},i}\big)^{-\eta_i},

with ``u`` the exposure units per unit of price (1000 impressions per CPM unit, 1 click per CPC),
``p0`` the base price (currency), ``x_ref`` the reference spend (currency per step), ``eta`` the
price elasticity, ``w`` the adstock weights over the ``T`` lags an episode holds and ``f`` the Hill
or logistic curve of :mod:`budgetgym.envs.curves`.
:func:`budgetgym.envs.dynamics.transition` advances campaigns with it step by step;
:mod:`budgetgym.envs.dynamics` re-exports :class:`ChannelModel` and :func:`units_per_price`.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np

from budgetgym.envs import curves
from budgetgym.envs.kernels import adstock_kernel, delay_kernel, stack_kernels
from budgetgym.envs.scenario import HillSaturation, Scenario
from budgetgym.envs.segments import SegmentModel

__all__ = ["IMPRESSIONS_PER_CPM_UNIT", "ChannelModel", "units_per_price"]

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
