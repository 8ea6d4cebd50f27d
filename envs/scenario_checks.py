"""The checks across a scenario's fields, which no single field's own validation can make.

Each function takes the parts of a :class:`~budgetgym.envs.scenario.Scenario` it looks at and raises a
``ValueError`` whose message begins with the field path it is about (``shocks[1].start: ...``,
``segments: ...``); the scenario's validators call them in turn and pydantic turns the message into the
one-line :class:`~budgetgym.envs.errors.ScenarioError` naming the file. Shares are fractions of a step's
spend, shock multipliers are dimensionless factors, steps count from 0 to ``horizon - 1``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import numpy as np

from budgetgym.envs.errors import repeated, suggest
from budgetgym.envs.family_template import sizes_text
from budgetgym.envs.scenario_parts import SIZES_SUM_TOL, ChannelConfig, NoDelay, SegmentConfig, ShockConfig, ValueConfig

__all__ = ["check_channels", "check_combined_shocks", "check_response_unit", "check_segments"]


def check_channels(channels: Sequence[ChannelConfig], shocks: Sequence[ShockConfig], horizon: int) -> None:
    r"""Unique channel names, feasible share bounds and shocks within the campaign.

    The bounds :math:`\ell_i \le q_i \le h_i` on the channels' shares admit a split summing to one only if
    :math:`\sum_i \ell_i \le 1 \le \sum_i h_i` (to within 1e-9); every shock names known channels and starts
    at a step before ``horizon``.
    """
    names = [c.name for c in channels]
    dupes = repeated(names)
    if dupes:
        raise ValueError(f"channel names must be unique, repeated: {', '.join(dupes)}")
    lo = sum(c.share_bounds[0] for c in channels)
    hi = sum(c.share_bounds[1] for c in channels)
    if lo > 1 + 1e-9 or hi < 1 - 1e-9:
        raise ValueError(
            f"share bounds are infeasible: the channels' low shares sum to {lo:g} and high shares "
            f"to {hi:g}; expected sum(low) <= 1 <= sum(high)"
        )
    for i, shock in enumerate(shocks):
        unknown = sorted(set(shock.channels or []) - set(names))
        if unknown:
            raise ValueError(f"shocks[{i}].channels: unknown channel(s) {', '.join(unknown)}")
        if shock.start >= horizon:
            raise ValueError(f"shocks[{i}].start: expected a step < horizon {horizon}, got {shock.start}")


def check_response_unit(
    response_unit: Literal["conversions", "currency"],
    kpi: Literal["conversions", "none"],
    reward: Literal["conversions", "revenue", "profit"],
    channels: Sequence[ChannelConfig],
    segments: Sequence[SegmentConfig] | None,
) -> None:
    r"""A response in ``currency`` is revenue itself: its reward is ``revenue`` or ``profit`` (a ``conversions``
    reward would count currency as conversions) and every value per unit of it is 1 (the revenue
    :math:`R_i = v_i N_i` is then :math:`N_i`)."""
    if response_unit == "conversions":
        return
    if kpi == "conversions":
        raise ValueError("kpi: expected none with response_unit: currency (the response is revenue itself, not a "
                         "count of conversions), got conversions")
    if reward == "conversions":
        raise ValueError("reward: expected revenue or profit with response_unit: currency (the response is "
                         "revenue, not a count of conversions), got conversions")
    values = [(f"channels.{c.name}", c.value) for c in channels]
    values += [(f"segments.{s.name}", s.value) for s in segments or []]
    for where, value in values:
        if value.mean != 1.0:
            raise ValueError(f"{where}.value.mean: expected 1 with response_unit: currency (the response is "
                             f"already revenue), got {value.mean:g}")


def check_segments(channels: Sequence[ChannelConfig], segments: Sequence[SegmentConfig] | None) -> None:
    r"""With ``segments`` the response curves, values and delays are the segments' (a channel gives
    none of them) and every reach names a channel; without, every channel has its curve.

    The segments' sizes are shares of the addressable audience, :math:`\sum_j s_j = 1` (to within
    ``SIZES_SUM_TOL``), and a channel sends at most all of its exposure to them,
    :math:`\sum_j \mathrm{reach}_{j,i} \le 1` (to within 1e-9).
    """
    if segments is None:
        missing = [c.name for c in channels if c.saturation is None]
        if missing:
            raise ValueError(
                f"channels.{missing[0]}.saturation: required (a response curve), unless the scenario has segments"
            )
        return
    names = [c.name for c in channels]
    dupes = repeated(s.name for s in segments)
    if dupes:
        raise ValueError(f"segments: names must be unique, repeated: {', '.join(dupes)}")
    total = sum(s.size for s in segments)
    if abs(total - 1.0) > SIZES_SUM_TOL:
        named = sizes_text(list(segments), [s.size for s in segments])
        raise ValueError(f"segments: sizes sum to {total:.6g} ({named}); expected 1 (shares of the addressable "
                         f"audience)")
    for j, seg in enumerate(segments):
        unknown = sorted(set(seg.reach) - set(names))
        if unknown:
            raise ValueError(f"segments[{j}].reach: unknown channel(s) {', '.join(unknown)}"
                             f"{suggest(unknown[0], names)}; expected one of {', '.join(names)}")
    for c in channels:
        reach = sum(s.reach.get(c.name, 0.0) for s in segments)
        if reach > 1 + 1e-9:
            raise ValueError(f"segments: channel '{c.name}' sends {reach:.6g} of its exposure to the segments; "
                             "expected its reach shares to sum to at most 1")
        for part, default in (("saturation", None), ("delay", NoDelay(type="none")), ("value", ValueConfig())):
            if getattr(c, part) != default:
                raise ValueError(f"channels.{c.name}.{part}: a scenario with segments takes response curves, "
                                 f"delays and values per segment (segments[].{part}); remove it from the channel")


def check_combined_shocks(shocks: Sequence[ShockConfig], channel_names: list[str], horizon: int) -> None:
    r"""Overlapping shocks of a kind multiply: on every channel and step, the price shocks'
    product must lie within [1e-6, 1e6] and the demand shocks' (zeros aside) be at most 1e6.

    The combined multiplier of channel ``i`` at step ``t`` is :math:`\prod_k m_k` over the shocks ``k`` of
    the kind active then (``start_k <= t < start_k + duration_k``) on that channel, computed as the
    exponential of a cumulative sum of log-multiplier steps (a zero multiplier is left out).
    """
    T, index = horizon, {name: i for i, name in enumerate(channel_names)}
    for kind, low in (("price", 1e-6), ("demand", 0.0)):
        active = [s for s in shocks if s.kind == kind and s.multiplier > 0 and s.start < T]
        if not active:
            continue
        log_change = np.zeros((T + 1, len(channel_names)))  # log-multiplier steps, summed over time
        for shock in active:
            cols = [index[n] for n in shock.channels if n in index] if shock.channels else slice(None)
            log_change[shock.start, cols] += np.log(shock.multiplier)
            log_change[min(T, shock.start + shock.duration), cols] -= np.log(shock.multiplier)
        combined = np.exp(np.cumsum(log_change[:T], axis=0))
        t, i = np.unravel_index(np.argmax(combined), combined.shape)
        expected = f"at most {1e6:g}"
        if low > 0 and combined.min() < low * (1 - 1e-9):
            t, i = np.unravel_index(np.argmin(combined), combined.shape)
            expected = f"at least {low:g}"
        elif combined[t, i] <= 1e6 * (1 + 1e-9):
            continue
        raise ValueError(
            f"shocks: the {kind} shocks at step {t} multiply channel '{channel_names[i]}' by "
            f"{combined[t, i]:.3g}; expected a combined {kind} multiplier of {expected}"
        )
