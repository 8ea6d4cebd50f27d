"""Scenario loading, validation messages and overrides (budgetgym.envs.scenario).

Every invalid fixture in tests/fixtures/invalid/ must raise a ScenarioError whose message is
one line, names the file, the field path and what was expected.
"""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
from pydantic import ValidationError

from budgetgym.envs import (
    Scenario,
    ScenarioError,
    list_scenarios,
    load_scenario,
    scenario_from_dict,
)
from budgetgym.envs.errors import BudgetGymError
from budgetgym.envs.scenario import GeometricAdstock, NoAdstock, builtin_scenario_dir

FIXTURES = Path(__file__).parent / "fixtures"
INVALID = FIXTURES / "invalid"
VALID = FIXTURES / "valid"


def base_dict() -> dict:
    """A small valid scenario (two channels), built fresh for every use."""
    return {
        "name": "unit-base",
        "horizon": 14,
        "budget": {"total": 14000.0},
        "channels": [
            {
                "name": "search",
                "cost": {"unit": "click", "price": 1.0, "ref_spend": 1000.0, "elasticity": 0.5},
                "adstock": {"type": "geometric", "decay": 0.2},
                "saturation": {"type": "hill", "max_response": 100.0, "half_saturation": 500.0},
            },
            {
                "name": "social",
                "cost": {"price": 8.0, "ref_spend": 1000.0},
                "saturation": {"type": "logistic", "max_response": 50.0, "rate": 1e-5},
                "min_share": 0.1,
            },
        ],
    }


@pytest.fixture
def base() -> Scenario:
    return scenario_from_dict(base_dict())


def _assert_one_line(msg: str) -> None:
    assert msg, "empty error message"
    assert "\n" not in msg and "\r" not in msg, f"message is not one line: {msg!r}"


# ==================================================================== built-in scenarios
class TestBuiltins:
    def test_list_contains_the_stationary_pair(self):
        names = list_scenarios()
        assert {"stationary-3", "stationary-5"} <= set(names)
        assert names == sorted(names)

    @pytest.mark.parametrize("name", list_scenarios())
    def test_every_builtin_loads_and_is_named_after_its_file(self, name):
        sc = load_scenario(name)
        assert isinstance(sc, Scenario)
        assert sc.name == name  # gym ids are budgetgym/<file stem>-v0
        assert sc.n_channels == len(sc.channel_names) >= 1
        # loading by name and by path give the same scenario
        assert load_scenario(builtin_scenario_dir() / f"{name}.yaml") == sc

    def test_stationary_3_shape(self):
        sc = load_scenario("stationary-3")
        assert sc.n_channels == 3
        assert sc.step_budget == pytest.approx(sc.budget.total / sc.horizon)

    def test_scenario_passes_through(self, base):
        assert load_scenario(base) is base


# ====================================================================== valid fixtures
class TestValidFixture:
    def test_full_featured_file(self):
        sc = load_scenario(VALID / "full_featured.yaml")
        assert sc.channel_names == ["search", "social", "video", "display"]
        assert sc.channels[1].adstock.type == "weibull_cdf"
        assert sc.channels[2].adstock.type == "weibull_pdf"
        assert sc.channels[2].delay.type == "gamma"
        assert sc.channels[3].saturation.type == "logistic"
        assert sc.channels[3].share_bounds == (0.1, 0.1)  # locked_share
        assert sc.channels[0].share_bounds == (0.05, 0.6)
        assert [s.kind for s in sc.shocks] == ["price", "outage", "demand"]
        assert sc.shocks[2].channels is None
        # 28 steps, 56000 -> 2000 per step
        assert sc.step_budget == 2000.0

    def test_defaults_filled_in(self, base):
        ch = base.channels[1]
        assert isinstance(ch.adstock, NoAdstock)
        assert ch.delay.type == "none"
        assert ch.cost.unit == "impression" and ch.cost.elasticity == 0.0
        assert ch.share_bounds == (0.1, 1.0)
        assert base.budget.pacing == "even" and base.budget.max_step_multiple == 2.0
        assert base.noise.conversions == "poisson"
        assert base.action.logit_scale == 5.0
        assert base.step_days == 1.0 and base.start_day == 0.0

    def test_immutable(self, base):
        with pytest.raises(ValidationError, match="frozen"):
            base.horizon = 3  # type: ignore[misc]
        with pytest.raises(ValidationError, match="frozen"):
            base.channels[0].cost.price = 3.0  # type: ignore[misc]


# ===================================================================== invalid fixtures
# (fixture file, substrings the message must contain: field path, and what was expected)
INVALID_CASES = [
    ("unknown_top_level_key.yaml", ["seasonallity", "not permitted"]),
    ("unknown_channel_key.yaml", ["channels[1].min_shar", "not permitted"]),
    # the typo is named first (rather than the "Field required" it causes for the real key)
    (
        "misspelt_required_channel_key.yaml",
        ["channels[0].saturaton", "not permitted"],
    ),
    ("negative_budget.yaml", ["budget.total", "greater than or equal to", "-5000"]),
    ("zero_horizon.yaml", ["horizon", "greater than or equal to 1", "got 0"]),
    ("missing_channels.yaml", ["channels", "Field required"]),
    ("duplicate_channel_names.yaml", ["channel names must be unique", "search"]),
    ("min_share_gt_max_share.yaml", ["channels[1]", "min_share 0.6 must be <= max_share 0.4"]),
    (
        "infeasible_share_bounds.yaml",
        ["share bounds are infeasible", "1.2", "sum(low) <= 1 <= sum(high)"],
    ),
    (
        "hill_slope_too_large.yaml",
        ["channels[1].saturation", "slope", "less than or equal to 10", "12"],
    ),
    (
        "hill_slope_too_small.yaml",
        ["channels[1].saturation", "slope", "greater than or equal to 0.3", "0.1"],
    ),
    (
        "unknown_adstock_type.yaml",
        ["channels[0].adstock", "'exponential'", "'geometric'", "'weibull_cdf'", "'none'"],
    ),
    ("geometric_decay_ge_1.yaml", ["channels[0].adstock", "decay", "less than 1", "got 1.0"]),
    ("weibull_missing_window.yaml", ["channels[0].adstock", "window", "Field required"]),
    (
        "elasticity_above_one.yaml",
        ["channels[1].cost.elasticity", "less than or equal to 1", "1.5"],
    ),
    ("unknown_pacing.yaml", ["budget.pacing", "'even' or 'agent'", "'fast'"]),
    ("bad_channel_name.yaml", ["channels[1].name", "pattern", "'paid social'"]),
    ("shock_unknown_channel.yaml", ["shocks[0].channels", "unknown channel", "tv"]),
    ("shock_start_beyond_horizon.yaml", ["shocks[0].start", "expected a step < horizon 14"]),
    ("wrong_type_string.yaml", ["budget.total", "valid number", "'lots'"]),
    ("several_errors.yaml", ["horizon", "greater than or equal to 1", "1 more error"]),
    ("invalid_yaml_syntax.yaml", ["invalid YAML", "line 5"]),
    ("top_level_list.yaml", ["expected a mapping", "list"]),
    ("empty_file.yaml", ["the file is empty", "expected a mapping"]),
    ("infinite_budget.yaml", ["budget.total", "finite"]),
]


def test_invalid_table_covers_every_fixture():
    listed = {name for name, _ in INVALID_CASES}
    on_disk = {p.name for p in INVALID.glob("*.yaml")}
    assert listed == on_disk


@pytest.mark.parametrize("fixture, expected", INVALID_CASES, ids=[c[0] for c in INVALID_CASES])
def test_invalid_fixture_message(fixture, expected):
    path = INVALID / fixture
    assert path.is_file()
    with pytest.raises(ScenarioError) as info:
        load_scenario(path)
    msg = str(info.value)
    _assert_one_line(msg)
    assert fixture in msg, f"message does not name the file: {msg}"
    for part in expected:
        assert part in msg, f"{part!r} missing from: {msg}"
    # a ScenarioError is a BudgetGymError and a ValueError, so CLI front ends can catch it
    assert isinstance(info.value, BudgetGymError) and isinstance(info.value, ValueError)


@pytest.mark.parametrize(
    "path",
    [
        ("budget", "total"),
        ("channels", 0, "cost", "ref_spend"),
        ("channels", 0, "saturation", "max_response"),
    ],
)
def test_infinite_numbers_rejected(path):
    data = base_dict()
    node = data
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = float("inf")
    with pytest.raises(ScenarioError):
        scenario_from_dict(data)


@pytest.mark.parametrize(
    "fixture, intended",
    [
        ("unknown_channel_key.yaml", "min_share"),
        ("misspelt_required_channel_key.yaml", "saturation"),
    ],
)
def test_unknown_key_message_says_what_was_expected(fixture, intended):
    with pytest.raises(ScenarioError) as info:
        load_scenario(INVALID / fixture)
    # For a typo (min_shar, saturaton) the message should name the valid key it resembles
    # (e.g. "did you mean 'min_share'?") or list the valid keys.
    assert intended in str(info.value)


# ====================================================================== other bad input
class TestLoadErrors:
    def test_missing_file(self, tmp_path):
        path = tmp_path / "nope.yaml"
        with pytest.raises(ScenarioError) as info:
            load_scenario(path)
        msg = str(info.value)
        _assert_one_line(msg)
        assert "nope.yaml" in msg and "not found" in msg

    def test_missing_file_as_string(self, tmp_path):
        with pytest.raises(ScenarioError, match="not found"):
            load_scenario(str(tmp_path / "sub" / "x.yml"))

    def test_unknown_builtin_lists_the_builtins(self):
        with pytest.raises(ScenarioError) as info:
            load_scenario("stationary-4")
        msg = str(info.value)
        _assert_one_line(msg)
        assert "stationary-4" in msg
        for name in list_scenarios():
            assert name in msg

    @pytest.mark.parametrize("bad", [42, 3.5, None, ["stationary-3"], {"name": "x"}])
    def test_wrong_argument_type(self, bad):
        with pytest.raises(ScenarioError) as info:
            load_scenario(bad)  # type: ignore[arg-type]
        msg = str(info.value)
        _assert_one_line(msg)
        assert "expected a built-in name, a YAML path or a Scenario" in msg
        assert type(bad).__name__ in msg

    def test_from_dict_rejects_non_mapping(self):
        with pytest.raises(
            ScenarioError, match="my-source: expected a mapping of scenario fields, got list"
        ):
            scenario_from_dict([1, 2], source="my-source")

    def test_from_dict_uses_source(self):
        data = base_dict()
        data["horizon"] = -1
        with pytest.raises(ScenarioError, match=r"^my-source: horizon: "):
            scenario_from_dict(data, source="my-source")

    def test_non_utf8_file(self, tmp_path):
        path = tmp_path / "latin1.yaml"
        path.write_bytes(b"name: caf\xe9\n")
        with pytest.raises(ScenarioError) as info:
            load_scenario(path)
        _assert_one_line(str(info.value))
        assert "latin1.yaml" in str(info.value)

    def test_locked_shares_infeasible(self):
        data = base_dict()
        data["channels"][0]["locked_share"] = 0.7
        data["channels"][1]["locked_share"] = 0.7
        with pytest.raises(ScenarioError, match=r"low shares sum to 1\.4"):
            scenario_from_dict(data)

    def test_high_shares_below_one(self):
        data = base_dict()
        data["channels"][0]["max_share"] = 0.3
        data["channels"][1]["max_share"] = 0.3
        with pytest.raises(ScenarioError, match=r"high shares to 0\.6"):
            scenario_from_dict(data)


# ============================================================================== override
class TestOverride:
    def test_dotted_keys(self, base):
        new = base.override({"horizon": 28, "budget.total": 1e5})
        assert new.horizon == 28 and new.budget.total == 1e5
        assert new.step_budget == pytest.approx(1e5 / 28)
        # the original is untouched
        assert base.horizon == 14 and base.budget.total == 14000.0

    def test_list_item_by_index_and_by_name(self, base):
        by_index = base.override({"channels.1.cost.price": 9.0})
        by_name = base.override({"channels.social.cost.price": 9.0})
        assert by_index.channels[1].cost.price == 9.0
        assert by_index == by_name
        assert base.channels[1].cost.price == 8.0

    def test_replace_a_whole_sub_model(self, base):
        new = base.override({"channels.search.adstock": {"type": "none"}})
        assert isinstance(new.channels[0].adstock, NoAdstock)
        assert isinstance(base.channels[0].adstock, GeometricAdstock)

    def test_several_changes_in_one_call(self, base):
        new = base.override(
            {"channels.search.min_share": 0.2, "channels.0.max_share": 0.5, "reward": "revenue"}
        )
        assert new.channels[0].share_bounds == (0.2, 0.5)
        assert new.reward == "revenue"

    def test_unknown_field(self, base):
        with pytest.raises(ScenarioError) as info:
            base.override({"budget.totl": 1.0})
        msg = str(info.value)
        _assert_one_line(msg)
        assert "budget.totl" in msg and "unknown field 'totl'" in msg

    @pytest.mark.parametrize(
        "key, expected",
        [
            ("channels.search.cost.prise", "unknown field 'prise' (did you mean 'price'?)"),
            ("budget.totl", "unknown field 'totl' (did you mean 'total'?)"),
            ("channels.serch.cost.price", "no list item 'serch' (did you mean 'search'?)"),
        ],
    )
    def test_a_misspelt_path_gets_a_did_you_mean(self, base, key, expected):
        """An override (an experiment's ``set:``, ``--set``, a family's ``vary``) with a misspelt field or
        channel named no close match, where every other misspelt key of budgetgym does."""
        with pytest.raises(ScenarioError) as info:
            base.override({key: 1.0})
        assert str(info.value) == f"override '{key}': {expected}"

    def test_a_field_of_another_type_of_block_names_the_blocks_type(self, base):
        """stationary-3's search has no delay (type none): ``channels.search.delay.mean_lag`` (a family's
        ``vary``, an experiment's ``set``) said only "unknown field 'mean_lag'", a field configs/README.md lists
        for the delay, leaving the reader to find that the block's type has none."""
        with pytest.raises(ScenarioError) as info:
            base.override({"channels.search.delay.mean_lag": 2.0})
        assert str(info.value) == (
            "override 'channels.search.delay.mean_lag': unknown field 'mean_lag': channels.search.delay is of type "
            "'none', which has no 'mean_lag' (its fields: none); first give the block a type that has it, "
            "channels.search.delay: {type: ..., mean_lag: ...}"
        )

    @pytest.mark.parametrize(
        "key, item", [("channels.tv.cost.price", "tv"), ("channels.5.cost.price", "5")]
    )
    def test_unknown_list_item(self, base, key, item):
        with pytest.raises(ScenarioError, match=f"override '{key}': no list item '{item}'"):
            base.override({key: 1.0})

    def test_path_through_a_scalar(self, base):
        with pytest.raises(ScenarioError, match="'x' is not inside a mapping or list"):
            base.override({"horizon.x": 1})

    def test_revalidation_error(self, base):
        with pytest.raises(ScenarioError) as info:
            base.override({"horizon": 0})
        msg = str(info.value)
        _assert_one_line(msg)
        assert "unit-base" in msg and "overridden" in msg
        assert "horizon" in msg and "greater than or equal to 1" in msg

    def test_revalidation_of_cross_field_rules(self, base):
        with pytest.raises(ScenarioError, match="share bounds are infeasible"):
            base.override({"channels.search.min_share": 0.95})
        with pytest.raises(ScenarioError, match=r"channels\[0\].adstock.*decay"):
            base.override({"channels.search.adstock.decay": 1.5})

    def test_no_changes_is_equal_copy(self, base):
        same = base.override({})
        assert same == base

    def test_override_does_not_mutate_the_input_dict(self, base):
        changes = {"channels.social.adstock": {"type": "geometric", "decay": 0.4}}
        snapshot = copy.deepcopy(changes)
        new = base.override(changes)
        assert changes == snapshot
        assert new.channels[1].adstock.decay == 0.4


# ==================================================================== plausible magnitudes
# Accepted ranges of the magnitudes (configs/README.md, "Plausible magnitudes"): each end is
# accepted, a value a factor 10 beyond it is rejected with one line naming the field and the end.
MAGNITUDES = [
    ("budget.total", 1e-9, 1e15),
    ("channels.search.cost.price", 1e-9, 1e15),
    ("channels.search.cost.ref_spend", 1e-9, 1e15),
    ("channels.search.value.mean", 0.0, 1e15),
    ("channels.search.saturation.max_response", 1e-9, 1e12),
    ("channels.search.saturation.half_saturation", 1e-9, 1e18),
    ("channels.social.saturation.rate", 1e-18, 1e9),
    ("noise.dispersion", 1e-3, 1e6),
    ("start_day", 0.0, 1e5),
]


@pytest.mark.parametrize("key, low, high", MAGNITUDES)
def test_magnitudes_accepted_up_to_the_ends_of_their_range(base, key, low, high):
    for value in (low, high):
        assert base.override({key: value}) is not None


@pytest.mark.parametrize("key, low, high", MAGNITUDES)
def test_magnitudes_beyond_their_range_rejected_in_one_line(base, key, low, high):
    field = key.split(".")[-1]
    below = low / 10 if low > 0 else -1.0
    for value, words in ((below, "greater than or equal to"), (high * 10, "less than or equal to")):
        with pytest.raises(ScenarioError) as info:
            base.override({key: value})
        msg = str(info.value)
        _assert_one_line(msg)
        assert field in msg and words in msg and f"got {value!r}" in msg


@pytest.mark.parametrize(
    "key, value",
    [
        ("channels.search.adstock", {"type": "weibull_pdf", "shape": 2.0, "scale": 1e-4, "window": 5}),
        ("channels.search.delay", {"type": "gamma", "mean_lag": 1e-4}),
        ("channels.search.delay", {"type": "geometric", "mean_lag": 1e-4}),
    ],
)
def test_lags_below_a_thousandth_of_a_step_rejected(base, key, value):
    # a gamma delay with mean_lag 5e-324 used to give a NaN kernel (scale mean_lag/shape underflows)
    with pytest.raises(ScenarioError, match="greater than or equal to 0.001"):
        base.override({key: value})


class TestCombinedShocks:
    """Overlapping price (demand) shocks multiply; the product is bounded per channel and step."""

    @staticmethod
    def shock(kind: str, start: int, multiplier: float, channels: list[str] | None = None) -> dict:
        return {"kind": kind, "start": start, "duration": 4, "multiplier": multiplier, "channels": channels}

    def test_two_overlapping_demand_shocks_of_1000_make_1e6_accepted(self, base):
        sc = base.override({"shocks": [self.shock("demand", 0, 1000.0), self.shock("demand", 3, 1000.0)]})
        assert len(sc.shocks) == 2

    def test_three_overlapping_demand_shocks_rejected_naming_step_and_channel(self, base):
        shocks = [
            self.shock("demand", 2, 1000.0, ["social"]),
            self.shock("demand", 4, 1000.0),
            self.shock("demand", 5, 10.0),
        ]
        with pytest.raises(ScenarioError) as info:
            base.override({"shocks": shocks})
        msg = str(info.value)
        _assert_one_line(msg)
        # steps 2-5 social x1000, 4-7 all x1000, 5-8 all x10: social reaches 1e7 at step 5
        assert "demand shocks at step 5" in msg and "'social'" in msg
        assert "by 1e+07" in msg and "at most 1e+06" in msg

    def test_same_shocks_in_turn_accepted(self, base):
        shocks = [self.shock("demand", start, 1000.0) for start in (0, 4, 8)]  # durations 4: no overlap
        assert len(base.override({"shocks": shocks}).shocks) == 3

    def test_zero_demand_multiplier_does_not_count(self, base):
        shocks = [self.shock("demand", 0, multiplier) for multiplier in (1000.0, 1000.0, 0.0)]
        assert len(base.override({"shocks": shocks}).shocks) == 3

    def test_price_shocks_below_1e_minus_6_rejected(self, base):
        ok = [self.shock("price", 0, 1e-3, ["search"]), self.shock("price", 1, 1e-3, ["search"])]
        assert len(base.override({"shocks": ok}).shocks) == 2  # 1e-6 at steps 1-3
        with pytest.raises(ScenarioError, match=r"price shocks at step 1 multiply channel 'search' by 1e-07"):
            base.override({"shocks": ok + [self.shock("price", 1, 0.1, ["search"])]})


# ================================================================= misspelt names and locations
@pytest.mark.parametrize(
    ("where", "value", "message"),
    [
        (("channels", 0, "saturation"), {"type": "hil", "max_response": 100.0, "half_saturation": 500.0},
         "channels[0].saturation.type: unknown saturation type 'hil' (did you mean 'hill'?); "
         "expected one of 'hill', 'logistic'"),
        (("channels", 0, "adstock"), {"type": "geometrc", "decay": 0.2},
         "channels[0].adstock.type: unknown adstock type 'geometrc' (did you mean 'geometric'?); "
         "expected one of 'geometric', 'weibull_cdf', 'weibull_pdf', 'none'"),
        (("channels", 1, "delay"), {"type": "gama", "mean_lag": 2.0},
         "channels[1].delay.type: unknown delay type 'gama' (did you mean 'gamma'?); "
         "expected one of 'none', 'geometric', 'gamma'"),
        (("channels", 0, "cost", "unit"), "clik",
         "channels[0].cost.unit: Input should be 'impression' or 'click' (got 'clik') (did you mean 'click'?)"),
    ],
)
def test_a_misspelt_curve_type_gets_a_did_you_mean(where, value, message):
    """A misspelt ``type`` of a tagged union (adstock, saturation, delay) got pydantic's raw "Input tag
    'hil' found using 'type' does not match any of the expected tags" without the "did you mean" every
    other misspelt name gets (CONTRIBUTING), and named the block, not its ``type`` field."""
    data = base_dict()
    node = data
    for key in where[:-1]:
        node = node[key]
    node[where[-1]] = value
    with pytest.raises(ScenarioError) as info:
        scenario_from_dict(data, source="scenario file 'x.yaml'")
    msg = str(info.value)
    _assert_one_line(msg)
    assert msg == f"scenario file 'x.yaml': {message}"


def test_a_far_off_curve_type_lists_the_types_without_a_guess():
    data = base_dict()
    data["channels"][0]["saturation"]["type"] = "zzz"
    with pytest.raises(ScenarioError) as info:
        scenario_from_dict(data, source="f.yaml")
    assert str(info.value) == "f.yaml: channels[0].saturation.type: unknown saturation type 'zzz'; " \
                              "expected one of 'hill', 'logistic'"
