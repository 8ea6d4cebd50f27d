r"""The observation vector's named layout: one definition for the environment and every agent.

The observation of a campaign with ``K`` channels has ``4 K + 7`` entries:

======================  =========  ==========================================================
name                    entries    meaning (range)
======================  =========  ==========================================================
``share``               ``K``      share of last step's spend per channel, ``[0, 1]``
``price_index``         ``K``      ``tanh(log(p_i / p̄_i))`` of last step's unit price, ``[-1, 1]``
                                   (``p̄_i`` the brief's planned price)
``conversions``         ``K``      conversions that arrived last step / ``conv_scale``, ``[0, 10]``
``conversions_ema``     ``K``      moving average (weight 0.3) of the same, ``[0, 10]``
``remaining_budget``    1          remaining budget / ``B``, ``[0, 1]``
``time``                1          ``t / T`` (steps done / horizon), ``[0, 1]``
``spend_ratio``         1          last step's spend / ``(B/T)``, ``[0, 10]``
``phase``               4          ``sin, cos`` of the weekly and the yearly phase of the next step
======================  =========  ==========================================================

Before the first step (the observation ``reset`` returns) ``share`` is the equal split ``1/K`` and
``price_index``, ``conversions``, ``conversions_ema`` and ``spend_ratio`` are 0; after a step that
spent nothing ``share`` is 0 for every channel.

Agents read fields by name (``layout.time``, ``obs[layout.remaining_budget]``) instead of by
position, so the layout can grow without breaking them.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from budgetgym.envs.errors import count

__all__ = ["CONV_CLIP", "SPEND_CLIP", "ObservationLayout"]

CONV_CLIP = 10.0
SPEND_CLIP = 10.0


@dataclass(frozen=True)
class ObservationLayout:
    """Named slices and indices of the observation vector for ``n_channels`` channels."""

    n_channels: int

    @property
    def share(self) -> slice:
        return slice(0, self.n_channels)

    @property
    def price_index(self) -> slice:
        return slice(self.n_channels, 2 * self.n_channels)

    @property
    def conversions(self) -> slice:
        return slice(2 * self.n_channels, 3 * self.n_channels)

    @property
    def conversions_ema(self) -> slice:
        return slice(3 * self.n_channels, 4 * self.n_channels)

    @property
    def remaining_budget(self) -> int:
        return 4 * self.n_channels

    @property
    def time(self) -> int:
        return 4 * self.n_channels + 1

    @property
    def spend_ratio(self) -> int:
        return 4 * self.n_channels + 2

    @property
    def phase(self) -> slice:
        return slice(4 * self.n_channels + 3, 4 * self.n_channels + 7)

    @property
    def size(self) -> int:
        return 4 * self.n_channels + 7

    def bounds(self) -> tuple[np.ndarray, np.ndarray]:
        """``(low, high)`` float32 arrays of the observation space."""
        low, high = np.zeros(self.size), np.zeros(self.size)
        high[self.share] = 1.0
        low[self.price_index], high[self.price_index] = -1.0, 1.0
        high[self.conversions] = CONV_CLIP
        high[self.conversions_ema] = CONV_CLIP
        high[self.remaining_budget] = 1.0
        high[self.time] = 1.0
        high[self.spend_ratio] = SPEND_CLIP
        low[self.phase], high[self.phase] = -1.0, 1.0
        return low.astype(np.float32), high.astype(np.float32)

    def names(self, channel_names: list[str] | tuple[str, ...]) -> list[str]:
        """A name for every entry, e.g. ``share[search]``, ``time``, ``phase[weekly_sin]``."""
        if len(channel_names) != self.n_channels:
            raise ValueError(f"expected {count(self.n_channels, 'channel name')}, got {len(channel_names)}")
        out = []
        for block in ("share", "price_index", "conversions", "conversions_ema"):
            out += [f"{block}[{c}]" for c in channel_names]
        out += ["remaining_budget", "time", "spend_ratio"]
        out += [f"phase[{p}]" for p in ("weekly_sin", "weekly_cos", "yearly_sin", "yearly_cos")]
        return out
