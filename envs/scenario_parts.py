"""The parts of a scenario: channel blocks (cost, carry-over, saturation, delay, value, share
bounds) and scenario-level blocks (budget, seasonality, drift, shocks, noise, action, baseline, segments).

Validated pydantic models that forbid unknown keys; :class:`~budgetgym.envs.scenario.Scenario`
assembles them (and re-exports them). The equations each field enters are documented where the
field is used (:mod:`budgetgym.envs.curves`, :mod:`budgetgym.envs.kernels`,
:mod:`budgetgym.envs.path`, :mod:`budgetgym.envs.baseline`) and in ``configs/README.md``.
"""

from __future__ import annotations

import math
from typing import Annotated, Any, Literal

from pydantic import (
    Field,
    SerializationInfo,
    SerializerFunctionWrapHandler,
    model_serializer,
    model_validator,
)

from budgetgym.envs.errors import StrictModel, repeated, suggest

#: The smallest and largest amounts of currency a scenario holds (a price, a reference spend, a
#: budget; a value per conversion at most the largest): the bounds every reader of spend data checks
#: against (calibration, histories, simulated plans), so that what it accepts a scenario can hold.
MIN_AMOUNT = 1e-9
MAX_AMOUNT = 1e15
#: :data:`MIN_AMOUNT` to :data:`MAX_AMOUNT` as messages print them.
AMOUNT_RANGE = "1e-9 to 1e15"


def is_amount(value: float) -> bool:
    """Whether ``value`` is an amount of currency a scenario holds: finite, :data:`MIN_AMOUNT` to
    :data:`MAX_AMOUNT` (a budget given on the command line, say)."""
    return math.isfinite(value) and MIN_AMOUNT <= value <= MAX_AMOUNT


def amount_text(value: float) -> str:
    """``value`` as a message beside :data:`AMOUNT_RANGE` prints it: ``:g`` (6 significant digits), or as many
    more as it takes for the printed figure to fall on the same side of the range as ``value`` itself, so an
    amount just outside the range does not print as its end (``1.0000001e15`` as ``1.0000001e+15``, not
    ``1e+15``)."""
    for digits in range(6, 17):
        text = f"{value:.{digits}g}"
        if is_amount(float(text)) == is_amount(value):
            return text
    return repr(float(value))  # 17 significant digits: the value itself


# --------------------------------------------------------------------------- cost
class CostConfig(StrictModel):
    """Cost of buying exposure (see :func:`budgetgym.envs.curves.exposure`).

    Effective unit price ``p(x) = price * m_cost(t) * (1 + x / ref_spend) ** elasticity``
    (currency per 1000 impressions for ``unit: impression``, per click for ``unit: click``),
    times a log-normal day-to-day price noise with log-sd ``noise_sd``. ``planned_price`` is the
    unit price the media plan quotes (a public figure of the brief; default ``price``): the
    observation's price index is the effective price relative to it, never to a draw's own ``price``.
    """

    unit: Literal["impression", "click"] = "impression"
    price: float = Field(ge=MIN_AMOUNT, le=MAX_AMOUNT, description="base CPM (per 1000 impressions) or CPC, currency")
    ref_spend: float = Field(ge=MIN_AMOUNT, le=MAX_AMOUNT, description="spend per step at which auction pressure bites")
    elasticity: float = Field(0.0, ge=0, le=1, description="auction-pressure exponent eta")
    noise_sd: float = Field(0.0, ge=0, le=2, description="log-sd of daily price noise")
    planned_price: float | None = Field(
        None, ge=MIN_AMOUNT, le=MAX_AMOUNT,
        description="the unit price the media plan quotes (the brief's; default: price), currency",
    )


# ------------------------------------------------------------------------ adstock
class GeometricAdstock(StrictModel):
    """``a_t = sum_l decay**l * e_{t-l}`` (the recursion ``a_t = e_t + decay * a_{t-1}``)."""

    type: Literal["geometric"]
    decay: float = Field(ge=0, lt=1, description="retention per step, theta")
    window: int | None = Field(None, ge=1, le=1000, description="lags kept; default: until decay**l < 1e-8")
    normalize: bool = Field(False, description="divide the weights by their sum (PyMC-Marketing style)")


class WeibullAdstock(StrictModel):
    """Weibull carry-over over a finite window (Robyn's ``weibull_cdf`` / ``weibull_pdf``)."""

    type: Literal["weibull_cdf", "weibull_pdf"]
    shape: float = Field(gt=0, le=20, description="Weibull shape k")
    scale: float = Field(ge=1e-3, le=1000, description="Weibull scale lambda, in steps")
    window: int = Field(ge=1, le=1000, description="number of lags L")
    normalize: bool = False


class NoAdstock(StrictModel):
    """No carry-over: ``a_t = e_t``."""

    type: Literal["none"]


AdstockConfig = Annotated[GeometricAdstock | WeibullAdstock | NoAdstock, Field(discriminator="type")]


# --------------------------------------------------------------------- saturation
class HillSaturation(StrictModel):
    """``f(a) = max_response * a**slope / (a**slope + half_saturation**slope)``."""

    type: Literal["hill"]
    max_response: float = Field(ge=1e-9, le=1e12, description="beta: conversions per step at saturation")
    half_saturation: float = Field(
        ge=1e-9, le=1e18, description="kappa: adstocked exposure giving half of beta"
    )
    slope: float = Field(1.0, ge=0.3, le=10, description="s: <=1 concave, >1 S-shaped")


class LogisticSaturation(StrictModel):
    """``f(a) = max_response * (1 - exp(-rate*a)) / (1 + exp(-rate*a))``."""

    type: Literal["logistic"]
    max_response: float = Field(ge=1e-9, le=1e12, description="beta: conversions per step at saturation")
    rate: float = Field(ge=1e-18, le=1e9, description="lambda: per unit of adstocked exposure")


SaturationConfig = Annotated[HillSaturation | LogisticSaturation, Field(discriminator="type")]


# -------------------------------------------------------------------------- delay
class NoDelay(StrictModel):
    """All conversions of a step's response arrive in that step."""

    type: Literal["none"]


class GeometricDelay(StrictModel):
    """Lag ``d`` has probability ``(1-rho) rho**d`` with ``rho = mean_lag / (1 + mean_lag)``."""

    type: Literal["geometric"]
    mean_lag: float = Field(ge=1e-3, le=100, description="mean lag in steps")
    window: int = Field(14, ge=1, le=1000, description="lags kept, 0 .. window - 1 (weights renormalised)")


class GammaDelay(StrictModel):
    """Discretised gamma lag distribution with the given mean and shape."""

    type: Literal["gamma"]
    mean_lag: float = Field(ge=1e-3, le=100, description="mean lag in steps")
    # at least 1e-3: the gamma's scale mean_lag / shape stays finite (a shape of 5e-324 made it inf and
    # the kernel NaN); below it the lags are all at 0 anyway
    shape: float = Field(2.0, ge=1e-3, le=50, description="gamma shape k (scale mean_lag / k)")
    window: int = Field(14, ge=1, le=1000)


DelayConfig = Annotated[NoDelay | GeometricDelay | GammaDelay, Field(discriminator="type")]


# -------------------------------------------------------------------------- value
class ValueConfig(StrictModel):
    """Value (order value) per conversion; realised value has log-sd ``noise_sd``."""

    mean: float = Field(1.0, ge=0, le=MAX_AMOUNT, description="currency per conversion")
    noise_sd: float = Field(0.0, ge=0, le=2)


# ------------------------------------------------------------------------ channel
class ChannelConfig(StrictModel):
    name: str = Field(pattern=r"^[A-Za-z0-9_.-]{1,40}$")
    description: str = ""
    cost: CostConfig
    adstock: AdstockConfig = Field(default_factory=lambda: NoAdstock(type="none"))
    saturation: SaturationConfig | None = Field(
        None, description="the channel's response curve; required unless the scenario has segments (then omitted)"
    )
    delay: DelayConfig = Field(default_factory=lambda: NoDelay(type="none"))
    value: ValueConfig = Field(default_factory=ValueConfig)
    min_share: float = Field(0.0, ge=0, le=1, description="least share of each step's spend")
    max_share: float = Field(1.0, ge=0, le=1, description="largest share of each step's spend")
    locked_share: float | None = Field(None, ge=0, le=1, description="fixed share (min = max)")
    drift_sd: float | None = Field(None, ge=0, le=1, description="overrides the scenario's drift.sd")
    seasonality: SeasonalityConfig = Field(
        default_factory=lambda: SeasonalityConfig(),
        description="this channel's own demand and cost cycles, multiplying the scenario's",
    )

    @model_validator(mode="after")
    def _bounds(self) -> ChannelConfig:
        if self.min_share > self.max_share:
            raise ValueError(f"min_share {self.min_share} must be <= max_share {self.max_share}")
        if self.locked_share is not None and not self.min_share <= self.locked_share <= self.max_share:
            raise ValueError(
                f"locked_share {self.locked_share} must lie within min_share {self.min_share} "
                f"and max_share {self.max_share} (or leave those unset)"
            )
        return self

    @model_serializer(mode="wrap")
    def _omit_flat_seasonality(self, handler: SerializerFunctionWrapHandler, info: SerializationInfo) -> Any:
        """JSON dumps leave out a channel's all-zero ``seasonality``, so a scenario written before
        channels had one keeps its serialised form, hence its config hash (results directories
        and stored oracle files stay valid). Python dumps (used by :meth:`Scenario.override`) keep it."""
        data = handler(self)
        if info.mode_is_json() and isinstance(data, dict) and self.seasonality == SeasonalityConfig():
            data.pop("seasonality", None)
        return data

    @property
    def share_bounds(self) -> tuple[float, float]:
        """Effective (low, high) share of each step's spend."""
        if self.locked_share is not None:
            return (self.locked_share, self.locked_share)
        return (self.min_share, self.max_share)


# ----------------------------------------------------------- scenario-level parts
class BudgetConfig(StrictModel):
    total: float = Field(ge=MIN_AMOUNT, le=MAX_AMOUNT, description="budget for the whole episode, currency")
    pacing: Literal["even", "agent"] = "even"
    max_step_multiple: float = Field(
        2.0, ge=1, le=100, description="agent pacing: a step spends at most this x total/horizon"
    )


class SeasonalComponent(StrictModel):
    """``m(d) = (1 + A_w cos(2 pi (d - peak_w) / 7)) * (1 + A_y cos(2 pi (d - peak_y) / 365.25))``."""

    weekly_amplitude: float = Field(0.0, ge=0, lt=1)
    weekly_peak: float = Field(0.0, ge=0, lt=7, description="day of week of the weekly peak")
    yearly_amplitude: float = Field(0.0, ge=0, lt=1)
    yearly_peak: float = Field(0.0, ge=0, lt=366, description="day of year of the yearly peak")


class SeasonalityConfig(StrictModel):
    demand: SeasonalComponent = Field(default_factory=SeasonalComponent)
    cost: SeasonalComponent = Field(default_factory=SeasonalComponent)


class DriftConfig(StrictModel):
    """Log-effectiveness walk ``w_t = (1 - mean_reversion) w_{t-1} + sd * eps_t`` from ``w_{-1} = 0``
    (step 0 is already drifted)."""

    sd: float = Field(0.0, ge=0, le=1, description="per-step sd of log-effectiveness")
    mean_reversion: float = Field(0.0, ge=0, le=1)


class ShockConfig(StrictModel):
    """A scheduled change over steps ``start .. start+duration-1``.

    ``price`` multiplies the channels' unit price (multiplier > 0), ``demand`` multiplies
    their response, ``outage`` stops their delivery: spend placed there buys no exposure
    (it is still charged), while earlier carry-over keeps converting.
    """

    kind: Literal["price", "demand", "outage"]
    channels: list[str] | None = Field(None, min_length=1, description="affected channels; default all")
    start: int = Field(ge=0)
    duration: int = Field(ge=1)
    multiplier: float = Field(1.0, ge=0, le=1000)

    @model_validator(mode="after")
    def _positive_price(self) -> ShockConfig:
        if self.kind == "price" and self.multiplier <= 0:
            raise ValueError("multiplier: a price shock needs a multiplier > 0 (use kind: outage to stop a channel)")
        return self


class NoiseConfig(StrictModel):
    """Realised conversions around their expected value ``mu``.

    ``poisson``: Poisson(mu); ``negative_binomial``: mean mu, variance mu + mu**2/dispersion;
    ``none``: exactly mu (a deterministic environment).
    """

    conversions: Literal["poisson", "negative_binomial", "none"] = "poisson"
    dispersion: float = Field(10.0, ge=1e-3, le=1e6, description="k: variance mu + mu**2/k")


class ActionConfig(StrictModel):
    logit_scale: float = Field(5.0, gt=0, le=50, description="c in softmax(c * action)")


# ------------------------------------------------------------------------- baseline
class ControlConfig(StrictModel):
    """A control variable ``z_t`` that moves the KPI but not the channels (competitor activity,
    sentiment, a price index): a stationary AR(1) around ``mean``, and its effect on the KPI."""

    name: str = Field(pattern=r"^[A-Za-z0-9_.-]{1,40}$")
    effect: float = Field(ge=-1e12, le=1e12, description="gamma: KPI units per step per unit of the control")
    mean: float = Field(0.0, ge=-1e9, le=1e9)
    sd: float = Field(1.0, ge=0, le=1e9)
    autocorrelation: float = Field(0.5, ge=0, lt=1, description="rho of the AR(1)")


class BaselineConfig(StrictModel):
    """The KPI that spend does not drive (organic demand), in the reward's unit per step
    (conversions, or revenue for revenue and profit). Equations: :mod:`budgetgym.envs.baseline`.
    Reported by the environment in ``info``; never part of the reward (no action changes it)."""

    level: float = Field(ge=0, le=1e15, description="b0: KPI per step at the start, before seasonality")
    trend: float = Field(0.0, ge=-1, le=10, description="relative change of the level per year (0.1 = +10%/year)")
    seasonality: SeasonalComponent = Field(default_factory=SeasonalComponent)
    controls: list[ControlConfig] = Field(default_factory=list, max_length=50)
    noise_sd: float = Field(0.0, ge=0, le=2, description="log-sd of the mean-one log-normal noise")

    @model_validator(mode="after")
    def _unique_controls(self) -> BaselineConfig:
        dupes = repeated(c.name for c in self.controls)
        if dupes:
            raise ValueError(f"control names must be unique, repeated: {', '.join(dupes)}")
        return self


# ------------------------------------------------------------------------- segments
#: The smallest segment ``size``: the segment's curve is stated for the whole audience and scaled by
#: its size (``beta * size``, ``kappa * size``, ``rate / size``), so a size near the float range's end
#: made ``rate / size`` inf (1e9 / 1e-300) and the curve's slopes NaN; from 1e-9 every scaled
#: parameter stays within 1e-18 to 1e18 (a segment of a billionth of the audience is no segment).
MIN_SEGMENT_SIZE = 1e-9
#: How far segment sizes may sum from 1 (a scenario's, and a family's written sizes beside a drawn one).
SIZES_SUM_TOL = 1e-6


class SegmentConfig(StrictModel):
    r"""An audience segment: a share of the addressable audience with its own response curve,
    value per conversion and conversion delay, reached by the channels in :attr:`reach`.

    The segment's combined effective exposure is :math:`A_s = \sum_i R_{is} E_{is} m_i a_i` (the
    channels' adstocked exposure ``a_i`` times their response multipliers ``m_i``) and its expected
    conversions per step :math:`r_s = \sigma_s f(A_s / \sigma_s)`, where ``f`` is :attr:`saturation`
    stated for the **whole** audience and :math:`\sigma_s` = :attr:`size`: a segment of a tenth of
    the audience saturates at a tenth of the conversions and half-saturates at a tenth of the
    exposure (the same frequency response per person). Equations: :mod:`budgetgym.envs.segments`."""

    name: str = Field(pattern=r"^[A-Za-z0-9_.-]{1,40}$")
    description: str = ""
    size: float = Field(
        ge=MIN_SEGMENT_SIZE, le=1, description="sigma: share of the addressable audience (sizes sum to 1)"
    )
    saturation: SaturationConfig = Field(description="response curve for the whole audience, scaled by size")
    value: ValueConfig = Field(default_factory=ValueConfig, description="value of one of this segment's conversions")
    delay: DelayConfig = Field(default_factory=lambda: NoDelay(type="none"))
    reach: dict[str, Annotated[float, Field(ge=0, le=1)]] = Field(
        description="R: channel -> share of that channel's exposure landing on this segment, in [0, 1]"
    )
    effectiveness: dict[str, Annotated[float, Field(ge=0, le=100)]] = Field(
        default_factory=dict, description="E: channel -> effectiveness of its exposure on this segment (default 1)"
    )

    @model_validator(mode="after")
    def _effective_reach(self) -> SegmentConfig:
        extra = sorted(set(self.effectiveness) - set(self.reach))
        if extra:
            raise ValueError(f"effectiveness given for channel(s) {', '.join(extra)}, which do not reach this "
                             f"segment{suggest(extra[0], self.reach)}; expected channels listed in reach")
        return self


def segment_notes(channels: list[ChannelConfig], segments: list[SegmentConfig]) -> list[str]:
    """What a valid ``segments`` block probably did not mean, one line each (``field: what``):

    * a channel whose reach is 0 in every segment (unlisted or listed at 0): it converts nothing;
    * a segment reached (reach > 0) by click and by impression channels whose ``effectiveness`` lists
      none of them: its exposure ``A_s = sum_i R E m a`` adds clicks and impressions one for one
      (configs/README.md, Units), where a click is worth many impressions.

    Without segments (an empty list) there is nothing to note: each channel is its own audience.
    """
    if not segments:
        return []
    notes = [
        f"channels.{c.name}: reaches no segment (its reach is 0 in every segment), so it converts nothing whatever "
        f"it spends; list it in a segment's reach or remove it"
        for c in channels if all(s.reach.get(c.name, 0.0) == 0 for s in segments)
    ]
    units = {c.name: c.cost.unit for c in channels}
    for j, seg in enumerate(segments):
        reached = [name for name in units if seg.reach.get(name, 0.0) > 0]
        clicks = [n for n in reached if units[n] == "click"]
        views = [n for n in reached if units[n] == "impression"]
        if clicks and views and not set(seg.effectiveness) & set(reached):
            notes.append(
                f"segments[{j}]: segment '{seg.name}' is reached by click channel(s) {', '.join(clicks)} and "
                f"impression channel(s) {', '.join(views)} with no effectiveness, so one click counts as one "
                f"impression in its exposure; give effectiveness (e.g. {{{clicks[0]}: 100}} for a click worth 100 "
                f"impressions) or buy its channels in one unit"
            )
    return notes
