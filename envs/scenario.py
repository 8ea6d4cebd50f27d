"""Scenario configuration: YAML file -> validated, immutable :class:`Scenario`.

A scenario describes the ad channels of one campaign (their cost, carry-over,
saturation, delay and value), the budget and its pacing, the reward, and the
non-stationarity (seasonality, drift, scheduled shocks). The equations each
field enters are documented in :mod:`budgetgym.envs.curves`,
:mod:`budgetgym.envs.kernels`, :mod:`budgetgym.envs.path` and in
``configs/README.md`` (the schema reference).

Every model forbids unknown keys, so a mistyped field fails loudly; the checks across fields
(unique names, feasible share bounds, shocks, segments, a currency response) are in
:mod:`budgetgym.envs.scenario_checks`.
:func:`load_scenario` turns any validation problem into a one-line
:class:`~budgetgym.envs.errors.ScenarioError` naming the file, the field path
and what was expected.
"""

from __future__ import annotations

import warnings
from importlib import resources
from pathlib import Path
from typing import Any, Literal

import numpy as np
from pydantic import (
    Field,
    SerializationInfo,
    SerializerFunctionWrapHandler,
    ValidationError,
    model_serializer,
    model_validator,
)

from budgetgym.envs.dotted_paths import item_index, set_dotted  # re-exported
from budgetgym.envs.errors import ScenarioError, ScenarioWarning, StrictModel, suggest, validation_error
from budgetgym.envs.family_template import misfit_size
from budgetgym.envs.io import names_a_file, read_yaml
from budgetgym.envs.scenario_checks import check_channels, check_combined_shocks, check_response_unit, check_segments
from budgetgym.envs.scenario_parts import (  # the parts, re-exported
    SIZES_SUM_TOL,
    ActionConfig,
    AdstockConfig,
    BaselineConfig,
    BudgetConfig,
    ChannelConfig,
    ControlConfig,
    CostConfig,
    DelayConfig,
    DriftConfig,
    GammaDelay,
    GeometricAdstock,
    GeometricDelay,
    HillSaturation,
    LogisticSaturation,
    NoAdstock,
    NoDelay,
    NoiseConfig,
    SaturationConfig,
    SeasonalComponent,
    SeasonalityConfig,
    SegmentConfig,
    ShockConfig,
    ValueConfig,
    WeibullAdstock,
    segment_notes,
)

__all__ = [
    "MAX_HORIZON",
    "Scenario",
    "load_scenario",
    "warn_unlikely",
    "list_scenarios",
    "scenario_from_dict",
    "builtin_scenario_dir",
    "item_index",
    "set_dotted",
    "SIZES_SUM_TOL",
    "ActionConfig",
    "BaselineConfig",
    "AdstockConfig",
    "BudgetConfig",
    "ChannelConfig",
    "ControlConfig",
    "CostConfig",
    "DelayConfig",
    "DriftConfig",
    "GammaDelay",
    "GeometricAdstock",
    "GeometricDelay",
    "HillSaturation",
    "LogisticSaturation",
    "NoAdstock",
    "NoDelay",
    "NoiseConfig",
    "SaturationConfig",
    "SeasonalComponent",
    "SeasonalityConfig",
    "SegmentConfig",
    "ShockConfig",
    "ValueConfig",
    "WeibullAdstock",
]

#: The most steps a scenario's episode (and a planning window) may have.
MAX_HORIZON = 5000

#: Bounds of ``target_cpa`` (currency per conversion). Wider than any real CPA, and than the CPA a
#: varying family derives from its nominal campaign (``(B/T)/K`` of 4e-13 to 1e15 over 1e-9 to 1e12
#: conversions: 4e-25 to 1e24), and narrow enough that ``conversion_scale = (B/T)/K / target_cpa``
#: and its inverse, which scales the observed conversions, are finite (a CPA of 1e300 made it
#: subnormal, its inverse inf, and an observation of no conversions ``0 * inf = nan``).
TARGET_CPA_RANGE = (1e-30, 1e30)


class Scenario(StrictModel):
    """A validated, immutable scenario. Build it with :func:`load_scenario`."""

    name: str = Field(pattern=r"^[A-Za-z0-9_.-]{1,60}$")
    description: str = ""
    horizon: int = Field(ge=1, le=MAX_HORIZON, description="steps per episode")
    step_days: float = Field(1.0, gt=0, le=366, description="days per step (seasonality clock)")
    start_day: float = Field(0.0, ge=0, le=1e5, description="day index of step 0 (day 0 is a Monday, 1 Jan)")
    budget: BudgetConfig
    reward: Literal["conversions", "revenue", "profit"] = "conversions"
    response_unit: Literal["conversions", "currency"] = Field(
        "conversions",
        description="what the response curves count: conversions (worth value.mean each), or currency (the KPI is "
        "revenue itself, value 1 per unit: a revenue KPI's calibrated family), which has no conversions or CPA",
    )
    kpi: Literal["conversions", "none"] = Field(
        "none",
        description="what the calibrated KPI counted when it is not the reward's unit: conversions (a conversions KPI "
        "valued at value.mean each by calibrate --revenue-per-kpi, planned as revenue: the plan also reports "
        "conversions and CPA), or none (the reward's own unit)",
    )
    channels: list[ChannelConfig] = Field(min_length=1, max_length=500)
    seasonality: SeasonalityConfig = Field(default_factory=SeasonalityConfig)
    drift: DriftConfig = Field(default_factory=DriftConfig)
    shocks: list[ShockConfig] = Field(default_factory=list)
    noise: NoiseConfig = Field(default_factory=NoiseConfig)
    action: ActionConfig = Field(default_factory=ActionConfig)
    baseline: BaselineConfig | None = Field(
        None, description="KPI not driven by spend (organic level, trend, seasonality, controls, noise); never rewarded"
    )
    segments: list[SegmentConfig] | None = Field(
        None,
        min_length=1,
        max_length=100,
        description="audience segments the channels reach, overlapping (module budgetgym.envs.segments); "
        "without them each channel is its own audience",
    )
    target_cpa: float | None = Field(
        None,
        ge=TARGET_CPA_RANGE[0],
        le=TARGET_CPA_RANGE[1],
        description="planning cost per conversion (currency), a public figure of the media plan; it scales the "
        "observed conversions (default: the nominal equal split's, at steady state)",
    )

    @model_serializer(mode="wrap")
    def _omit_no_baseline(self, handler: SerializerFunctionWrapHandler, info: SerializationInfo) -> Any:
        """JSON dumps leave out an absent ``baseline`` (and ``segments``) and the default ``response_unit`` and
        ``kpi``, so scenarios written before they existed keep their serialised form, hence their config hash (results
        directories, stored oracle files)."""
        data = handler(self)
        if info.mode_is_json() and isinstance(data, dict):
            for key in ("baseline", "segments"):
                if key in data and data[key] is None:
                    data.pop(key)
            if data.get("response_unit") == "conversions":
                data.pop("response_unit")
            if data.get("kpi") == "none":
                data.pop("kpi")
        return data

    @model_validator(mode="after")
    def _consistent(self) -> Scenario:
        """:func:`~budgetgym.envs.scenario_checks.check_channels`."""
        check_channels(self.channels, self.shocks, self.horizon)
        return self

    @model_validator(mode="before")
    @classmethod
    def _segment_sizes(cls, data: Any) -> Any:
        """A segment size outside ``[MIN_SEGMENT_SIZE, 1]`` is refused naming the segment (``segments.young.size``),
        not its index as the field's own check would."""
        misfit = misfit_size(data.get("segments")) if isinstance(data, dict) else None
        if misfit is not None:
            raise ValueError(misfit)
        return data

    @model_validator(mode="before")
    @classmethod
    def _currency_noise(cls, data: Any) -> Any:
        """A response in ``currency`` without a ``noise`` block gets ``noise.conversions: none``, not the Poisson
        default: Poisson draws the response in whole units, so its spread would depend on the currency's unit
        (about 1% a step at 10,000 a step counted in units, 0.1% in cents). A ``noise`` block given (a count
        likelihood's calibrated family writes one) is kept as given."""
        if isinstance(data, dict) and data.get("response_unit") == "currency" and "noise" not in data:
            return {**data, "noise": {"conversions": "none"}}
        return data

    @model_validator(mode="after")
    def _response_unit(self) -> Scenario:
        """:func:`~budgetgym.envs.scenario_checks.check_response_unit`."""
        check_response_unit(self.response_unit, self.kpi, self.reward, self.channels, self.segments)
        return self

    @model_validator(mode="after")
    def _segments(self) -> Scenario:
        """:func:`~budgetgym.envs.scenario_checks.check_segments`."""
        check_segments(self.channels, self.segments)
        return self

    @model_validator(mode="after")
    def _combined_shocks(self) -> Scenario:
        """:func:`~budgetgym.envs.scenario_checks.check_combined_shocks`."""
        check_combined_shocks(self.shocks, self.channel_names, self.horizon)
        return self

    def override(self, changes: dict[str, object], source: str | None = None) -> Scenario:
        """A re-validated copy with ``changes`` applied; keys are dotted field paths, list
        items by index or channel name (``{"horizon": 28, "budget.total": 1e5,
        "channels.search.cost.price": 2.0}``). Errors are one-line ScenarioErrors that begin
        with ``source`` (default: the scenario's name, "(overridden)")."""
        data = self.model_dump(mode="python", exclude_unset=False)
        for key, value in changes.items():
            try:
                set_dotted(data, key, value)
            except ScenarioError as err:
                if source is None:
                    raise
                raise ScenarioError(f"{source}: {err}") from None
        return scenario_from_dict(data, source=source or f"scenario '{self.name}' (overridden)")

    @property
    def n_channels(self) -> int:
        return len(self.channels)

    @property
    def channel_names(self) -> list[str]:
        return [c.name for c in self.channels]

    @property
    def share_bound_arrays(self) -> tuple[np.ndarray, np.ndarray]:
        """The channels' effective (low, high) shares as two float arrays (new copies)."""
        bounds = np.array([c.share_bounds for c in self.channels], dtype=float)
        return bounds[:, 0].copy(), bounds[:, 1].copy()

    @property
    def segment_names(self) -> list[str]:
        """The segments' names (empty without segments)."""
        return [s.name for s in self.segments or []]

    @property
    def step_budget(self) -> float:
        """Nominal spend per step, ``budget.total / horizon``."""
        return self.budget.total / self.horizon

    @property
    def step_cap(self) -> float:
        """The most one step may spend under ``agent`` pacing, ``max_step_multiple * budget.total / horizon``
        (under ``even`` pacing every step spends :attr:`step_budget`, below it)."""
        return self.budget.max_step_multiple * self.step_budget


# ---------------------------------------------------------------------- loading
def builtin_scenario_dir() -> Path:
    """Folder holding the built-in scenario YAML files."""
    return Path(str(resources.files("budgetgym") / "configs" / "scenarios"))


def list_scenarios() -> list[str]:
    """Names of the built-in scenarios, sorted."""
    return sorted(p.stem for p in builtin_scenario_dir().glob("*.yaml"))


def scenario_from_dict(data: object, source: str = "scenario") -> Scenario:
    """Validate a mapping into a :class:`Scenario`; errors become one-line ScenarioErrors."""
    if data is None:
        raise ScenarioError(f"{source}: the file is empty; expected a mapping of scenario fields")
    if not isinstance(data, dict):
        raise ScenarioError(f"{source}: expected a mapping of scenario fields, got {type(data).__name__}")
    try:
        return Scenario.model_validate(data)
    except ValidationError as err:
        raise validation_error(err, source, Scenario, ScenarioError) from None


def load_scenario(name_or_path: str | Path | Scenario) -> Scenario:
    """Load a scenario by built-in name, by YAML path, or pass a Scenario through.

    Raises
    ------
    ScenarioError
        One line naming the file, the field path and what was expected.
    """
    if isinstance(name_or_path, Scenario):
        return name_or_path
    if not isinstance(name_or_path, (str, Path)):
        raise ScenarioError(
            f"scenario: expected a built-in name, a YAML path or a Scenario, got {type(name_or_path).__name__}"
        )
    text = str(name_or_path)
    path = Path(text)
    if not names_a_file(text):
        builtin = builtin_scenario_dir() / f"{text}.yaml"
        if not builtin.exists():
            raise ScenarioError(
                f"unknown scenario '{text}': expected a YAML path or one of {', '.join(list_scenarios())}"
                + suggest(text, list_scenarios())
            )
        path = builtin
    data = read_yaml(path, "scenario file", ScenarioError)
    source = f"scenario file '{path}'"
    return warn_unlikely(scenario_from_dict(data, source=source), source)


def warn_unlikely(scenario: Scenario, source: str) -> Scenario:
    """``scenario``, after a :class:`~budgetgym.envs.errors.ScenarioWarning` (``source: field: what``) for
    each thing it holds that loads but is probably not meant (:func:`~budgetgym.envs.scenario_parts.
    segment_notes`: a channel that reaches no segment, click and impression channels added one for one in a
    segment). Called where a file is loaded (a scenario's, a family's nominal scenario), not for each draw."""
    for note in segment_notes(scenario.channels, scenario.segments or []):
        warnings.warn(f"{source}: {note}", ScenarioWarning, stacklevel=3)
    return scenario
