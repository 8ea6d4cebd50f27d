r"""Distributions a scenario field may be given as, in a scenario family.

In a family template any number may be replaced by a mapping with a ``dist`` key, and any
block (a channel's ``saturation``, say) by a ``choice`` among blocks:

=============  ====================================  =============================================
``dist``       parameters                            draw :math:`X`; nominal value
=============  ====================================  =============================================
``lognormal``  ``median`` > 0, ``sd`` >= 0            :math:`\log X \sim N(\log \text{median}, \text{sd}^2)`
                                                     (``sd`` is the sd of the log); median
``normal``     ``mean``, ``sd`` >= 0, optional        :math:`X \sim N(\text{mean}, \text{sd}^2)` truncated
               ``low`` < ``high``                    to ``[low, high]``; mean (clipped to the bounds)
``uniform``    ``low`` <= ``high`` (a finite width)  :math:`X \sim U(\text{low}, \text{high})`; midpoint
``loguniform`` 0 < ``low`` <= ``high``               :math:`\log X \sim U(\log\text{low}, \log\text{high})`;
                                                     geometric mean :math:`\sqrt{\text{low}\,\text{high}}`
``integer``    integers ``low`` <= ``high``          uniform on ``low .. high`` (both included);
               (64-bit)                              the midpoint, rounded half down
``choice``     ``values`` (numbers or blocks),       ``values[j]`` with probability ``p[j]`` (default
               optional ``p`` (sums to 1)            uniform); the most probable value (the first on ties)
=============  ====================================  =============================================

A chosen block may itself hold distributions; they are drawn after the choice. A ``loguniform`` draw is
clipped to ``[low, high]``: the exponential of the log can round past either end. A ``normal`` whose
bounds lie so far out in a tail that scipy's sampler fails (bounds one rounding apart in sd units,
1e300 sd from the mean) draws the bound nearer the mean: its whole mass lies there to float precision.
"""

from __future__ import annotations

import math
from typing import Annotated, Any, Literal

import numpy as np
from pydantic import Field, model_validator

from budgetgym.envs.errors import StrictModel, count

__all__ = ["Distribution", "DISTRIBUTIONS", "TAIL_Z", "draw_value", "nominal_value", "reach"]

#: Standard deviations (of the log, for ``lognormal``) from the centre at which the reach of a distribution
#: without a bound ends (:func:`reach`): a draw lies further out with probability below 1e-9.
TAIL_Z = 6.0


class LogNormal(StrictModel):
    dist: Literal["lognormal"]
    median: float = Field(gt=0)
    sd: float = Field(ge=0, le=5, description="sd of the log")


class Normal(StrictModel):
    dist: Literal["normal"]
    mean: float
    sd: float = Field(ge=0)
    low: float | None = None
    high: float | None = None

    @model_validator(mode="after")
    def _bounds(self) -> Normal:
        if self.low is not None and self.high is not None and not self.low < self.high:
            raise ValueError(f"low {self.low} must be < high {self.high}")
        lo = -math.inf if self.low is None else self.low
        hi = math.inf if self.high is None else self.high
        if self.sd == 0 and not lo <= self.mean <= hi:
            raise ValueError(f"mean {self.mean} lies outside [low, high] and sd is 0")
        return self


class _Interval(StrictModel):
    """A distribution on ``[low, high]``: ``low <= high`` (subclasses declare the two fields)."""

    @model_validator(mode="after")
    def _ordered(self) -> _Interval:
        low, high = getattr(self, "low"), getattr(self, "high")  # noqa: B009 - declared by subclasses
        if low > high:
            raise ValueError(f"low {low} must be <= high {high}")
        return self


class Uniform(_Interval):
    dist: Literal["uniform"]
    low: float
    high: float

    @model_validator(mode="after")
    def _finite_width(self) -> Uniform:
        if not math.isfinite(self.high - self.low):  # numpy draws low + (high - low) * u
            raise ValueError(f"high - low must be a finite number, got {self.high} - {self.low}")
        return self


class LogUniform(_Interval):
    dist: Literal["loguniform"]
    low: float = Field(gt=0)
    high: float = Field(gt=0)


#: What :class:`Integer` may span: numpy's 64-bit integer draws.
_INT64 = 2**63


class Integer(_Interval):
    dist: Literal["integer"]
    low: int = Field(ge=-_INT64, lt=_INT64)
    high: int = Field(ge=-_INT64, lt=_INT64)


class Choice(StrictModel):
    dist: Literal["choice"]
    values: list[Any] = Field(min_length=1)
    p: list[float] | None = None

    @model_validator(mode="after")
    def _weights(self) -> Choice:
        if self.p is not None:
            if len(self.p) != len(self.values):
                raise ValueError(f"p has {count(len(self.p), 'entry', 'entries')} but values has {len(self.values)}")
            if any(not math.isfinite(q) or q < 0 for q in self.p) or abs(sum(self.p) - 1.0) > 1e-9:
                raise ValueError(f"p must be non-negative and sum to 1, got {self.p}")
        return self


Distribution = Annotated[
    LogNormal | Normal | Uniform | LogUniform | Integer | Choice, Field(discriminator="dist")
]
DISTRIBUTIONS = ("lognormal", "normal", "uniform", "loguniform", "integer", "choice")


def draw_value(d: Any, rng: np.random.Generator) -> Any:
    """One draw of a validated distribution (a number, or the chosen value of a ``choice``)."""
    if isinstance(d, LogNormal):
        return float(d.median * math.exp(d.sd * rng.standard_normal()))
    if isinstance(d, Normal):
        lo = -math.inf if d.low is None else d.low
        hi = math.inf if d.high is None else d.high
        if d.sd == 0:
            return float(d.mean)
        from scipy import stats  # here, not at the top: scipy.stats costs ~0.8 s of every `import budgetgym`

        a, b = (lo - d.mean) / d.sd, (hi - d.mean) / d.sd
        x = float(stats.truncnorm.rvs(a, b, loc=d.mean, scale=d.sd, random_state=rng)) if a < b else math.nan
        # scipy refuses bounds one rounding apart in sd units and draws inf 1e300 sd out: there every draw
        # lies at the bound nearer the mean (to float precision)
        return x if math.isfinite(x) and lo <= x <= hi else float(min(max(d.mean, lo), hi))
    if isinstance(d, Uniform):
        return float(rng.uniform(d.low, d.high))
    if isinstance(d, LogUniform):
        # exp(log(x)) is x only to a rounding (exp(log(100)) = 100.00000000000004): clipped, a draw stays in
        # [low, high], the reach a family is checked at, and a bound equal to a field's limit is accepted
        x = math.exp(rng.uniform(math.log(d.low), math.log(d.high)))
        return float(min(max(x, d.low), d.high))
    if isinstance(d, Integer):
        return int(rng.integers(d.low, d.high + 1))
    if isinstance(d, Choice):
        j = int(rng.choice(len(d.values), p=d.p))
        return d.values[j]
    raise TypeError(f"not a distribution: {d!r}")  # pragma: no cover


def nominal_value(d: Any) -> Any:
    """The distribution's central value (module docstring's table)."""
    if isinstance(d, LogNormal):
        return float(d.median)
    if isinstance(d, Normal):
        lo = -math.inf if d.low is None else d.low
        hi = math.inf if d.high is None else d.high
        return float(min(max(d.mean, lo), hi))
    if isinstance(d, Uniform):
        return 0.5 * (d.low + d.high)
    if isinstance(d, LogUniform):
        return math.sqrt(d.low * d.high)
    if isinstance(d, Integer):
        return (d.low + d.high) // 2
    if isinstance(d, Choice):
        p = d.p if d.p is not None else [1.0 / len(d.values)] * len(d.values)
        return d.values[int(np.argmax(p))]
    raise TypeError(f"not a distribution: {d!r}")  # pragma: no cover


def reach(d: Any) -> list[Any]:
    """The ends of what a validated distribution draws: every draw lies between them.

    ``[low, high]`` of ``uniform``, ``loguniform`` and ``integer``; a ``normal``'s bounds, or
    :data:`TAIL_Z` standard deviations from its mean (clipped to the other bound) where it has none;
    a ``lognormal``'s median times ``exp(-/+ TAIL_Z sd)``; every value of a ``choice``.

    Parameters
    ----------
    d : a validated distribution (:data:`Distribution`).

    Returns
    -------
    list
        The low and high end (numbers), or a ``choice``'s values in order.
    """
    if isinstance(d, LogNormal):
        return [float(d.median * math.exp(-TAIL_Z * d.sd)), float(d.median * math.exp(TAIL_Z * d.sd))]
    if isinstance(d, Normal):
        lo = d.low if d.low is not None else min(d.mean, math.inf if d.high is None else d.high) - TAIL_Z * d.sd
        hi = d.high if d.high is not None else max(d.mean, -math.inf if d.low is None else d.low) + TAIL_Z * d.sd
        return [float(lo), float(hi)] if d.sd > 0 else [float(d.mean), float(d.mean)]
    if isinstance(d, (Uniform, LogUniform)):
        return [float(d.low), float(d.high)]
    if isinstance(d, Integer):
        return [d.low, d.high]
    if isinstance(d, Choice):
        return list(d.values)
    raise TypeError(f"not a distribution: {d!r}")  # pragma: no cover
