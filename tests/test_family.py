"""Scenario families: deterministic disjoint draw streams, every distribution validated and drawn
as documented, one brief and one set of spaces for every draw, each draw scored against its own
oracle, observations free of hidden parameters, families of one, explicit ensembles, and the
built-in family files."""

from __future__ import annotations

import copy
import functools
import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml
from conftest import base_scenario_dict, channel, rollout, run_cli
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import TypeAdapter
from scipy import stats

from budgetgym.agents import evaluate, make_agent
from budgetgym.envs import ChannelBudgetEnv, load_scenario, scenario_from_dict, solve_oracle
from budgetgym.envs.brief import CampaignBrief
from budgetgym.envs.distributions import Distribution, draw_value, nominal_value, reach
from budgetgym.envs.errors import ScenarioError
from budgetgym.envs.family import ScenarioFamily, family_from_dict, list_families, load_family

DIST: TypeAdapter[Any] = TypeAdapter(Distribution)
FIELD = "channels.ch0.saturation.max_response"  # a hidden number of the small template
FIELD_LOC = "channels[0].saturation.max_response"  # how error messages name it


def small_template(n_channels: int = 2, **top: Any) -> dict[str, Any]:
    """conftest's deterministic two-channel scenario (noise off), 5 steps."""
    data = base_scenario_dict(n_channels)
    data.update(top)
    return data


def family_file(tmp_path: Path, vary: dict[str, Any], name: str = "fam.yaml", **top: Any) -> Path:
    """A family file over :func:`small_template` with ``vary``; ``top`` adds/replaces top-level keys."""
    data: dict[str, Any] = {"family": "fam", "seed": 3, "scenario": small_template(), "vary": vary}
    data.update(top)
    path = tmp_path / name
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return path


def small_family(vary: dict[str, Any], seed: int = 3, template: dict[str, Any] | None = None) -> ScenarioFamily:
    return family_from_dict(
        {"family": "fam", "seed": seed, "scenario": template or small_template(), "vary": vary}, source="test family"
    )


def documented_rng(seed: int, split: str, index: int) -> np.random.Generator:
    """The generator of draw ``index`` of ``split`` as the module docstring specifies it."""
    return np.random.default_rng(np.random.SeedSequence([seed, {"train": 0, "test": 1}[split], index]))


@pytest.fixture(scope="module")
def retail() -> ScenarioFamily:
    return load_family("retail-5-family")


# ------------------------------------------------------------------------------ draw streams
def test_sampling_is_deterministic_order_free_and_survives_a_reload(retail: ScenarioFamily) -> None:
    a = retail.sample(3, "test")
    fresh = load_family("retail-5-family")
    for i in (7, 0, 12):  # another call order in the fresh family
        fresh.sample(i, "test")
    assert fresh.sample(3, "test") == a
    assert fresh.sample(3, "test").model_dump() == a.model_dump()
    # a different index or split is a different campaign
    assert retail.sample(4, "test") != a
    assert retail.sample(3, "train") != a


def test_draws_follow_the_documented_generator_in_file_order() -> None:
    fam = small_family(
        {
            "channels.ch0.saturation.half_saturation": {"dist": "uniform", "low": 1000, "high": 2000},
            FIELD: {"dist": "lognormal", "median": 50, "sd": 0.3},  # comes first in the file's order
            "channels.ch1.cost.price": {"dist": "loguniform", "low": 1, "high": 100},
        },
        seed=11,
    )
    for split in ("train", "test"):
        for i in (0, 5, 123):
            rng = documented_rng(11, split, i)
            beta = 50 * math.exp(0.3 * rng.standard_normal())
            kappa = rng.uniform(1000, 2000)
            price = math.exp(rng.uniform(0.0, math.log(100)))
            sc = fam.sample(i, split)  # type: ignore[arg-type]
            assert sc.channels[0].saturation.max_response == pytest.approx(beta, rel=1e-12)
            assert sc.channels[0].saturation.half_saturation == pytest.approx(kappa, rel=1e-12)
            assert sc.channels[1].cost.price == pytest.approx(price, rel=1e-12)


def test_draw_indices_from_2_to_the_32_do_not_reuse_another_draws_stream() -> None:
    """numpy's SeedSequence reads an integer as 32-bit words, so the entropy ``[seed, s, 2**32 + 5]`` was
    ``[seed, s, 5, 1]``: draw 2**32 + 5 replayed the first redraw of draw 5 (and 2**33 + 5 its second).
    Draws below 2**32 are still those of the documented generator."""
    fam = small_family({FIELD: {"dist": "lognormal", "median": 50, "sd": 0.5}}, seed=11)

    def value(i: int) -> float:
        return fam.sample(i, "train").channels[0].saturation.max_response

    for i in (0, 5, 2**31 - 1, 2**32 - 1):
        expected = 50 * math.exp(0.5 * documented_rng(11, "train", i).standard_normal())
        assert value(i) == pytest.approx(expected, rel=1e-12)
    redraws = {50 * math.exp(0.5 * np.random.default_rng(np.random.SeedSequence([11, 0, 5, k])).standard_normal())
               for k in (1, 2)}  # draw 5's redraw streams (module docstring)
    big = {value(2**32 + 5), value(2**33 + 5), value(2**64 + 5)}
    assert len(big) == 3 and not big & redraws and value(5) not in big


def test_a_family_seed_past_one_word_is_refused() -> None:
    """numpy reads a seed as its 32-bit words, so the entropy ``[2**32, 0, 0]`` of ``seed: 2**32``'s train
    draw 0 gave the stream of ``[0, 1, 0]``, the test draw 0 of ``seed: 0``: a test draw trained on."""
    vary = {FIELD: {"dist": "lognormal", "median": 50, "sd": 0.5}}
    top = small_family(vary, seed=2**32 - 1).sample(0, "train").channels[0].saturation.max_response
    assert math.isfinite(top)
    for seed in (2**32, 2**40):
        with pytest.raises(ScenarioError, match=r"^test family: seed: .*less than or equal to 4294967295"):
            small_family(vary, seed=seed)
        with pytest.raises(ScenarioError, match=r"^family: seed: expected an integer from 0 to 4294967295"):
            ScenarioFamily("fam", small_template(), seed=seed)


def test_train_and_test_streams_share_no_draw() -> None:
    fam = small_family({FIELD: {"dist": "lognormal", "median": 50, "sd": 0.5}})
    train = {fam.sample(i, "train").channels[0].saturation.max_response for i in range(500)}
    test = {fam.sample(i, "test").channels[0].saturation.max_response for i in range(500)}
    assert len(train) == 500 and len(test) == 500  # no repeats within a split either
    assert not train & test


def test_an_unknown_family_name_gets_a_did_you_mean() -> None:
    with pytest.raises(ScenarioError, match="did you mean 'retail-5-family'"):
        load_family("retail-5-famly")


def test_bad_split_and_index_are_refused(retail: ScenarioFamily) -> None:
    with pytest.raises(ScenarioError, match="split: expected 'train' or 'test'"):
        retail.sample(0, "validation")  # type: ignore[arg-type]
    for bad in (-1, 1.5, True):
        with pytest.raises(ScenarioError, match="draw index"):
            retail.sample(bad)  # type: ignore[arg-type]


# ----------------------------------------------------------------------- validation errors
@pytest.mark.parametrize(
    ("dist", "fragment"),
    [
        ({"dist": "lognormal", "median": -1, "sd": 0.2}, "lognormal.median: Input should be greater than 0"),
        ({"dist": "lognormal", "median": 1, "sd": 6}, "lognormal.sd: Input should be less than or equal to 5"),
        ({"dist": "lognormal", "median": 1, "sd": 0.1, "mean": 3}, "lognormal.mean: Extra inputs"),
        ({"dist": "normal", "mean": 1, "sd": -1}, "normal.sd: Input should be greater than or equal to 0"),
        ({"dist": "normal", "mean": 1, "sd": 1, "low": 2, "high": 1}, "low 2.0 must be < high 1.0"),
        ({"dist": "normal", "mean": 5, "sd": 0, "low": 0, "high": 1}, "outside [low, high] and sd is 0"),
        ({"dist": "uniform", "low": 3, "high": 1}, "low 3.0 must be <= high 1.0"),
        ({"dist": "uniform", "low": 1}, "uniform.high: Field required"),
        ({"dist": "loguniform", "low": 0, "high": 1}, "loguniform.low: Input should be greater than 0"),
        ({"dist": "loguniform", "low": 5, "high": 2}, "low 5.0 must be <= high 2.0"),
        ({"dist": "integer", "low": 1.5, "high": 3}, "integer: low: expected an integer, got a float (1.5)"),
        ({"dist": "integer", "low": 4, "high": 3}, "low 4 must be <= high 3"),
        ({"dist": "choice", "values": []}, "choice.values: List should have at least 1 item"),
        ({"dist": "choice", "values": [1, 2], "p": [0.5, 0.6]}, "p must be non-negative and sum to 1"),
        ({"dist": "choice", "values": [1, 2], "p": [1.0]}, "p has 1 entry but values has 2"),
    ],
)
def test_bad_distribution_parameters_are_one_line_errors_naming_file_and_field(
    tmp_path: Path, dist: dict[str, Any], fragment: str
) -> None:
    path = family_file(tmp_path, {FIELD: dist})
    with pytest.raises(ScenarioError) as err:
        load_family(path)
    msg = str(err.value)
    assert "\n" not in msg
    assert msg.startswith(f"family file '{path}': {FIELD_LOC}: ")
    assert fragment in msg


@pytest.mark.parametrize(
    ("key", "loc", "dist", "fragment"),
    [  # each passed validation and its nominal value the scenario, then failed in numpy at the first draw
        (
            FIELD,
            FIELD_LOC,
            {"dist": "integer", "low": -(10**30), "high": 10**30 + 2},
            "integer.low: Input should be greater than or equal to -9223372036854775808",
        ),
        (FIELD, FIELD_LOC, {"dist": "integer", "low": 1, "high": 2**63}, "integer.high: Input should be less than"),
        (
            "channels.ch0.cost.elasticity",
            "channels[0].cost.elasticity",
            {"dist": "uniform", "low": -1.7e308, "high": 1.7e308},
            "uniform: high - low must be a finite number",
        ),
    ],
)
def test_a_distribution_numpy_cannot_draw_is_a_one_line_error_naming_the_field(
    tmp_path: Path, key: str, loc: str, dist: dict[str, Any], fragment: str
) -> None:
    path = family_file(tmp_path, {key: dist})
    with pytest.raises(ScenarioError) as err:
        load_family(path)
    msg = str(err.value)
    assert "\n" not in msg
    assert msg.startswith(f"family file '{path}': {loc}: ")
    assert fragment in msg
    # the widest ones numpy draws from are accepted
    for ok in ({"dist": "integer", "low": -(2**63), "high": 2**63 - 1}, {"dist": "uniform", "low": -1e308, "high": 0}):
        d = DIST.validate_python(ok)
        assert d.low <= draw_value(d, np.random.default_rng(0)) <= d.high


def test_a_bad_distribution_inside_a_chosen_block_names_its_place(tmp_path: Path) -> None:
    block = {"type": "hill", "max_response": 5.0, "half_saturation": 10.0, "slope": {"dist": "uniform", "low": 2,
                                                                                      "high": 1}}
    path = family_file(tmp_path, {"channels.ch1.saturation": {"dist": "choice", "values": [block]}})
    with pytest.raises(ScenarioError) as err:
        load_family(path)
    assert str(err.value) == (
        f"family file '{path}': channels[1].saturation.values[0].slope: uniform: low 2.0 must be <= high 1.0"
    )


def test_an_unknown_distribution_gets_a_did_you_mean(tmp_path: Path) -> None:
    path = family_file(tmp_path, {FIELD: {"dist": "lognorml", "median": 1, "sd": 0.1}})
    with pytest.raises(ScenarioError) as err:
        load_family(path)
    assert str(err.value) == (
        f"family file '{path}': {FIELD_LOC}.dist: unknown distribution 'lognorml' (did you mean 'lognormal'?)"
    )


@pytest.mark.parametrize(
    ("key", "dist"),
    [
        ("budget.total", {"dist": "uniform", "low": 900, "high": 1100}),
        ("budget.pacing", {"dist": "choice", "values": ["even", "agent"]}),
        ("horizon", {"dist": "integer", "low": 4, "high": 6}),
        ("start_day", {"dist": "uniform", "low": 0, "high": 7}),
        ("reward", {"dist": "choice", "values": ["conversions", "revenue"]}),
        ("target_cpa", {"dist": "lognormal", "median": 10, "sd": 0.1}),
        ("action.logit_scale", {"dist": "uniform", "low": 2, "high": 5}),
        ("channels.ch0.cost.unit", {"dist": "choice", "values": ["click", "impression"]}),
        ("channels.ch1.max_share", {"dist": "uniform", "low": 0.5, "high": 1.0}),
        ("channels.ch1.min_share", {"dist": "uniform", "low": 0.0, "high": 0.2}),
        ("channels.ch0.locked_share", {"dist": "uniform", "low": 0.2, "high": 0.4}),
        ("channels.ch0.name", {"dist": "choice", "values": ["a", "b"]}),
        ("channels.ch0", {"dist": "choice", "values": [channel("ch0"), channel("ch0")]}),
    ],
)
def test_a_distribution_on_a_brief_field_is_refused(tmp_path: Path, key: str, dist: dict[str, Any]) -> None:
    template = small_template(target_cpa=10.0, start_day=0.0, action={"logit_scale": 5.0})
    for ch in template["channels"]:
        ch.update(min_share=0.0, max_share=1.0, locked_share=None)
    path = family_file(tmp_path, {key: dist}, scenario=template)
    with pytest.raises(ScenarioError) as err:
        load_family(path)
    msg = str(err.value)
    assert "\n" not in msg and msg.startswith(f"family file '{path}': ")
    assert "a field of the campaign brief (what the marketer knows) cannot be a distribution" in msg


def test_a_chosen_block_that_changes_the_brief_is_refused_at_load(tmp_path: Path) -> None:
    """A choice on a hidden block whose values differ in a brief field (the cost's unit)."""
    cost = channel("ch0")["cost"]
    blocks = [cost, {**cost, "unit": "click"}]
    path = family_file(tmp_path, {"channels.ch0.cost": {"dist": "choice", "values": blocks}})
    with pytest.raises(
        ScenarioError,
        match=r"^family file '.*': (train|test) draw \d+ changes the campaign brief \(channels\); "
        r"a family's draws must agree on what the marketer knows$",
    ):
        load_family(path)


def test_a_choice_among_cost_blocks_of_other_prices_keeps_the_nominal_planned_price(tmp_path: Path) -> None:
    """A choice among cost blocks bought in the same unit at different prices is no change of the brief:
    every draw, and the load-time check of each block, carries the nominal block's price as the planned
    price. The load-time check compared the block's own price and refused the family."""
    cost = channel("ch0")["cost"]
    blocks = [cost, {**cost, "price": cost["price"] * 2}]
    fam = load_family(family_file(tmp_path, {"channels.ch0.cost": {"dist": "choice", "values": blocks}}))
    draws = fam.draws(12, "train")
    assert {d.channels[0].cost.price for d in draws} == {cost["price"], 2 * cost["price"]}
    assert {d.channels[0].cost.planned_price for d in draws} == {fam.nominal().channels[0].cost.price}


def test_an_unknown_distribution_inside_a_choice_gets_the_same_did_you_mean(tmp_path: Path) -> None:
    inner = {"dist": "lognorml", "median": 1000, "sd": 0.1}
    blocks = [{"type": "hill", "max_response": 100, "half_saturation": inner, "slope": 1.0}]
    path = family_file(tmp_path, {"channels.ch0.saturation": {"dist": "choice", "values": blocks}})
    with pytest.raises(ScenarioError) as exc:
        load_family(path)
    assert str(exc.value) == (
        f"family file '{path}': channels[0].saturation.values[0].half_saturation.dist: "
        "unknown distribution 'lognorml' (did you mean 'lognormal'?)"
    )


def first_failing_draw(seed: int, low: float, high: float, floor: float, splits: list[tuple[str, range]]):
    """The first (split, index) whose documented uniform draw falls below ``floor``."""
    for split, indices in splits:
        for i in indices:
            if documented_rng(seed, split, i).uniform(low, high) < floor:
                return split, i
    return None


def test_an_impossible_draw_is_reported_at_load_naming_the_draw(tmp_path: Path) -> None:
    # a Hill slope must be >= 0.3: U(0, 1) reaches below it (its nominal 0.5 does not)
    seed = 3
    expected = first_failing_draw(seed, 0.0, 1.0, 0.3, [("train", range(8)), ("test", range(8))])
    assert expected is not None
    path = family_file(tmp_path, {"channels.ch1.saturation.slope": {"dist": "uniform", "low": 0.0, "high": 1.0}})
    with pytest.raises(ScenarioError) as err:
        load_family(path)
    msg = str(err.value)
    split, i = expected
    assert "\n" not in msg
    assert msg.startswith(f"family file '{path}': {split} draw {i}: channels[1].saturation.hill.slope: ")
    assert msg.endswith("(a distribution reaches values the scenario does not accept: narrow it or bound it)")


def test_a_rare_impossible_draw_is_refused_at_load_naming_the_field() -> None:
    # U(0, 3): 10% of draws fall below the slope's minimum 0.3; with a seed whose 16 load-time draws
    # pass, the family used to load and fail at a later draw; the ends of its reach are checked instead
    validated = [("train", range(8)), ("test", range(8))]
    seed = next(s for s in range(100) if first_failing_draw(s, 0.0, 3.0, 0.3, validated) is None)
    slope = {"channels.ch1.saturation.slope": {"dist": "uniform", "low": 0.0, "high": 3.0}}
    with pytest.raises(ScenarioError) as err:
        small_family(slope, seed=seed)
    msg = str(err.value)
    assert "\n" not in msg
    assert msg.startswith("test family: channels[1].saturation.slope: the distribution reaches 0, which the scenario")
    assert msg.endswith("narrow it or bound it")


@pytest.mark.parametrize(
    ("field", "dist", "expected"),
    [  # each loaded, then failed at a draw in the hundreds (train 807, 249, 161 with seed 1)
        ("channels.search.adstock.decay", {"dist": "normal", "mean": 0.3, "sd": 0.1},
         r"channels\[0\]\.adstock\.decay: the distribution reaches -0\.3, which the scenario does not accept"),
        ("channels.search.saturation.slope", {"dist": "lognormal", "median": 1.0, "sd": 0.4},
         r"channels\[0\]\.saturation\.slope: the distribution reaches 0\.09\d*, which the scenario does not accept"),
        ("channels.search.cost", {"dist": "choice", "p": [0.995, 0.005], "values": [
            {"unit": "click", "price": 1.2, "ref_spend": 4000},
            {"unit": "impression", "price": 8.0, "ref_spend": 4000}]},
         r"channels\[0\]\.cost\.values\[1\]: the distribution reaches this value, which changes the campaign brief"),
    ],
)
def test_a_distribution_whose_tail_or_rare_choice_is_impossible_is_refused_at_load(
    field: str, dist: dict[str, Any], expected: str
) -> None:
    with pytest.raises(ScenarioError, match=rf"^fam\.yaml: {expected}"):
        family_from_dict({"family": "h", "seed": 1, "scenario": "stationary-3", "vary": {field: dist}}, "fam.yaml")


@pytest.mark.parametrize("value", [5.0, {"type": "geometric", "decay": 0.3}, [1, 2]])
def test_a_fixed_value_under_vary_is_refused_naming_the_field(value: Any) -> None:
    """`vary` maps a field to a distribution; a plain value there made the family a campaign of one without
    a word (the user meant a distribution, or the value belongs in `scenario:`)."""
    with pytest.raises(ScenarioError) as err:
        family_from_dict({"family": "h", "scenario": "stationary-3", "vary": {"channels.social.adstock": value}},
                         "fam.yaml")
    msg = str(err.value)
    assert "\n" not in msg
    assert msg.startswith("fam.yaml: vary.channels.social.adstock: expected a distribution ({dist: ...}), got ")
    assert msg.endswith("; a fixed value belongs in scenario:")
    # a block holding a distribution is a distribution over that block
    nested = {"type": "geometric", "decay": {"dist": "uniform", "low": 0.1, "high": 0.5}}
    fam = family_from_dict({"family": "h", "scenario": "stationary-3", "vary": {"channels.social.adstock": nested}})
    decays = {fam.sample(i, "train").channels[1].adstock.decay for i in range(3)}  # type: ignore[union-attr]
    assert len(decays) == 3 and all(0.1 <= d <= 0.5 for d in decays)


def test_the_reach_of_each_distribution_ends_at_its_bounds_or_six_sd_out() -> None:
    def ends(d: dict[str, Any]) -> list[Any]:
        return reach(DIST.validate_python(d))

    assert ends({"dist": "uniform", "low": 1, "high": 2}) == [1.0, 2.0]
    assert ends({"dist": "integer", "low": 1, "high": 4}) == [1, 4]
    assert ends({"dist": "normal", "mean": 1, "sd": 2}) == [-11.0, 13.0]
    assert ends({"dist": "normal", "mean": 1, "sd": 2, "low": 0}) == [0.0, 13.0]
    assert ends({"dist": "normal", "mean": 0, "sd": 1, "low": 50}) == [50.0, 56.0]  # far in the tail
    assert ends({"dist": "normal", "mean": 0, "sd": 1, "high": -50}) == [-56.0, -50.0]
    assert ends({"dist": "lognormal", "median": 2, "sd": 0.5}) == pytest.approx([2 * math.exp(-3), 2 * math.exp(3)])
    assert ends({"dist": "choice", "values": [1, {"a": 2}]}) == [1, {"a": 2}]
    # what the ends bound: no draw beyond them (the normal's 6 sd has probability 1e-9 a side)
    rng = np.random.default_rng(0)
    for d in ({"dist": "normal", "mean": 0, "sd": 1, "low": 50}, {"dist": "lognormal", "median": 2, "sd": 0.5}):
        lo, hi = ends(d)
        x = np.array([draw_value(DIST.validate_python(d), rng) for _ in range(2000)])
        assert lo <= x.min() and x.max() <= hi


def test_distributions_and_ensembles_cannot_be_mixed() -> None:
    with pytest.raises(ScenarioError, match="give distributions or an ensemble, not both"):
        family_from_dict(
            {"family": "f", "scenario": small_template(), "vary": {FIELD: {"dist": "uniform", "low": 1, "high": 2}},
             "ensemble": [{FIELD: 1.0}, {FIELD: 2.0}]}
        )


# ---------------------------------------------------------------- draws against theory
N_MOMENTS = 20_000


def many(spec: dict[str, Any], n: int = N_MOMENTS, seed: int = 0) -> np.ndarray:
    d = DIST.validate_python(spec)
    rng = np.random.default_rng(seed)
    return np.array([draw_value(d, rng) for _ in range(n)])


def test_lognormal_has_the_given_median_and_log_sd() -> None:
    x = np.log(many({"dist": "lognormal", "median": 50.0, "sd": 0.4}))
    # sampling sd of a normal sample's median: sqrt(pi/2) sd / sqrt(n); of its sd: sd / sqrt(2n)
    assert abs(np.median(x) - math.log(50.0)) < 4 * math.sqrt(math.pi / 2) * 0.4 / math.sqrt(N_MOMENTS)
    assert abs(x.std(ddof=1) - 0.4) < 4 * 0.4 / math.sqrt(2 * N_MOMENTS)


N_NORMAL = 1000  # the normal is drawn by scipy's truncnorm, about 1 ms a draw


def test_truncated_normal_stays_in_bounds_with_scipys_mean() -> None:
    n = N_NORMAL
    x = many({"dist": "normal", "mean": 1.0, "sd": 2.0, "low": 0.0, "high": 3.0}, n=n)
    assert x.min() >= 0.0 and x.max() <= 3.0
    ref = stats.truncnorm((0.0 - 1.0) / 2.0, (3.0 - 1.0) / 2.0, loc=1.0, scale=2.0)
    assert abs(x.mean() - ref.mean()) < 4 * ref.std() / math.sqrt(n)
    # one bound: the half-normal, mean sd * sqrt(2 / pi), sd sd * sqrt(1 - 2 / pi)
    h = many({"dist": "normal", "mean": 0.0, "sd": 1.5, "low": 0.0}, n=n)
    assert h.min() >= 0.0
    assert abs(h.mean() - 1.5 * math.sqrt(2 / math.pi)) < 4 * 1.5 * math.sqrt(1 - 2 / math.pi) / math.sqrt(n)
    # no bounds: the plain normal
    g = many({"dist": "normal", "mean": -3.0, "sd": 0.5}, n=n)
    assert abs(g.mean() + 3.0) < 4 * 0.5 / math.sqrt(n)
    assert abs(g.std(ddof=1) - 0.5) < 4 * 0.5 / math.sqrt(2 * n)


def test_a_normal_far_out_in_its_tail_draws_its_nearer_bound() -> None:
    # scipy's truncnorm raised (bounds one ulp apart: a == b in sd units) or drew inf (1e300 sd out)
    one_ulp = {"dist": "normal", "mean": 5.0, "sd": 3.0, "low": 1.0, "high": math.nextafter(1.0, 2.0)}
    assert set(many(one_ulp, n=5).tolist()) <= {1.0, one_ulp["high"]}
    assert many({"dist": "normal", "mean": 0.0, "sd": 1e-300, "low": 1.0, "high": 2.0}, n=5).tolist() == [1.0] * 5
    assert many({"dist": "normal", "mean": 0.0, "sd": 1e-300, "high": -1.0}, n=5).tolist() == [-1.0] * 5
    fam = small_family({FIELD: one_ulp})
    assert fam.sample(3, "test").channels[0].saturation.max_response in (1.0, one_ulp["high"])  # type: ignore[union-attr]


def test_uniform_and_loguniform_cover_their_range_evenly() -> None:
    u = many({"dist": "uniform", "low": 2.0, "high": 5.0})
    assert 2.0 <= u.min() < 2.01 and 4.99 < u.max() <= 5.0
    assert abs(u.mean() - 3.5) < 4 * (3.0 / math.sqrt(12)) / math.sqrt(N_MOMENTS)
    assert abs(u.var(ddof=1) - 0.75) < 4 * math.sqrt(9**2 / 180) / math.sqrt(N_MOMENTS)  # var of s^2: (b-a)^4/180
    lu = many({"dist": "loguniform", "low": 1.0, "high": 100.0})
    assert 1.0 <= lu.min() and lu.max() <= 100.0
    log = np.log(lu)  # uniform on [0, ln 100]
    assert abs(log.mean() - math.log(10.0)) < 4 * (math.log(100.0) / math.sqrt(12)) / math.sqrt(N_MOMENTS)
    # a quarter of the draws per quarter of the log-range
    counts = np.histogram(log, bins=4, range=(0.0, math.log(100.0)))[0]
    assert np.all(np.abs(counts / N_MOMENTS - 0.25) < 4 * math.sqrt(0.25 * 0.75 / N_MOMENTS))


def test_a_loguniform_never_draws_past_its_bounds() -> None:
    """exp(log(100)) is 100.00000000000004: a loguniform ending at a field's limit (a delay's mean_lag <= 100)
    drew past it, so a family its reach check accepted failed at a draw (found by the property sweep, seed 81)."""
    rng = np.random.default_rng(0)
    assert math.exp(math.log(100.0)) > 100.0  # the rounding the draw must not pass on
    assert draw_value(DIST.validate_python({"dist": "loguniform", "low": 100.0, "high": 100.0}), rng) == 100.0
    for low, high in [(1e-3, 1e-3), (1e-3, 100.0), (99.0, 100.0), (0.3, 0.3)]:
        d = DIST.validate_python({"dist": "loguniform", "low": low, "high": high})
        x = np.array([draw_value(d, rng) for _ in range(2000)])
        assert low <= x.min() and x.max() <= high
    delay = {"type": "gamma", "mean_lag": {"dist": "loguniform", "low": 100.0, "high": 100.0}}
    vary = {"channels.search.delay": delay}
    fam = family_from_dict({"family": "h", "seed": 1, "scenario": "stationary-3", "vary": vary})
    assert fam.sample(0, "train").channels[0].delay.mean_lag == 100.0  # type: ignore[union-attr]


def test_integer_is_uniform_on_an_inclusive_range() -> None:
    x = many({"dist": "integer", "low": 3, "high": 6})
    assert all(isinstance(v, (int, np.integer)) for v in x[:10].tolist())
    values, counts = np.unique(x, return_counts=True)
    assert values.tolist() == [3, 4, 5, 6]  # both ends included, nothing outside
    assert np.all(np.abs(counts / N_MOMENTS - 0.25) < 4 * math.sqrt(0.25 * 0.75 / N_MOMENTS))
    assert many({"dist": "integer", "low": 7, "high": 7}, n=50).tolist() == [7] * 50


def test_choice_frequencies_follow_p_and_blocks_are_drawn_whole() -> None:
    p = [0.2, 0.5, 0.3]
    blocks = [{"k": "a"}, {"k": "b"}, {"k": "c"}]
    x = many({"dist": "choice", "values": blocks, "p": p})
    for block, q in zip(blocks, p, strict=True):
        freq = np.mean([v == block for v in x])
        assert abs(freq - q) < 4 * math.sqrt(q * (1 - q) / N_MOMENTS)
    # without p: uniform
    y = many({"dist": "choice", "values": [1, 2]}, n=4000)
    assert abs(np.mean(y == 1) - 0.5) < 4 * math.sqrt(0.25 / 4000)


def test_zero_spread_returns_the_centre() -> None:
    assert many({"dist": "lognormal", "median": 7.0, "sd": 0.0}, n=5).tolist() == [7.0] * 5
    assert many({"dist": "normal", "mean": 2.0, "sd": 0.0, "low": 0.0, "high": 3.0}, n=5).tolist() == [2.0] * 5


def test_a_family_draws_a_mixture_in_a_choice_of_distributions() -> None:
    """retail-5-family's slope: U(0.5, 1) with p 0.85, else U(1, 2)."""
    fam = small_family(
        {
            "channels.ch0.saturation.slope": {
                "dist": "choice",
                "p": [0.85, 0.15],
                "values": [{"dist": "uniform", "low": 0.5, "high": 1.0}, {"dist": "uniform", "low": 1.0, "high": 2.0}],
            }
        }
    )
    n = 500
    s = np.array([fam.sample(i, "train").channels[0].saturation.slope for i in range(n)])
    assert s.min() >= 0.5 and s.max() <= 2.0
    assert abs(np.mean(s > 1.0) - 0.15) < 4 * math.sqrt(0.15 * 0.85 / n)
    upper = s[s > 1.0]
    assert abs(upper.mean() - 1.5) < 4 * (1 / math.sqrt(12)) / math.sqrt(len(upper))


# ----------------------------------------------------------------------------- nominal values
def test_nominal_values_by_hand() -> None:
    cases = [
        ({"dist": "lognormal", "median": 50.0, "sd": 0.7}, 50.0),
        ({"dist": "normal", "mean": 5.0, "sd": 1.0, "low": 0.0, "high": 3.0}, 3.0),  # mean clipped to the bounds
        ({"dist": "normal", "mean": 2.5, "sd": 1.0}, 2.5),
        ({"dist": "uniform", "low": 2.0, "high": 6.0}, 4.0),
        ({"dist": "loguniform", "low": 1.0, "high": 100.0}, 10.0),
        ({"dist": "integer", "low": 3, "high": 6}, 4),  # 4.5 rounded half down
        ({"dist": "integer", "low": -3, "high": 0}, -2),  # -1.5 rounded half down
        ({"dist": "integer", "low": 2, "high": 4}, 3),
        ({"dist": "choice", "values": ["a", "b", "c"], "p": [0.2, 0.5, 0.3]}, "b"),
        ({"dist": "choice", "values": ["a", "b"]}, "a"),  # a tie: the first
    ]
    for spec, expected in cases:
        assert nominal_value(DIST.validate_python(spec)) == pytest.approx(expected), spec


def test_the_nominal_scenario_holds_the_central_values() -> None:
    fam = small_family(
        {
            FIELD: {"dist": "lognormal", "median": 40.0, "sd": 0.5},
            "channels.ch0.saturation.half_saturation": {"dist": "loguniform", "low": 100.0, "high": 10_000.0},
            "channels.ch1.saturation.slope": {"dist": "normal", "mean": 3.0, "sd": 1.0, "low": 0.5, "high": 2.0},
            "channels.ch1.cost.price": {"dist": "uniform", "low": 4.0, "high": 8.0},
            "channels.ch1.adstock": {
                "dist": "choice",
                "p": [0.3, 0.7],
                "values": [
                    {"type": "none"},
                    {"type": "geometric", "decay": {"dist": "uniform", "low": 0.2, "high": 0.4}},
                ],
            },
        }
    )
    nom = fam.nominal()
    assert nom.channels[0].saturation.max_response == 40.0
    assert nom.channels[0].saturation.half_saturation == pytest.approx(1000.0)
    assert nom.channels[1].saturation.slope == 2.0
    assert nom.channels[1].cost.price == 6.0
    assert nom.channels[1].adstock.type == "geometric" and nom.channels[1].adstock.decay == pytest.approx(0.3)
    # the rest is the template's, plus the planned prices every draw shares: the nominal's prices
    assert nom.channels[0].cost == scenario_from_dict(small_template()).channels[0].cost.model_copy(
        update={"planned_price": 10.0}
    )
    assert [c.cost.planned_price for c in nom.channels] == [c.cost.price for c in nom.channels]
    assert all(d.channels[1].cost.planned_price == 6.0 for d in fam.draws(5, "train"))


# ----------------------------------------------------------------- one brief, many campaigns
def test_every_reset_draws_a_train_campaign_with_the_familys_brief_and_spaces(retail: ScenarioFamily) -> None:
    env = ChannelBudgetEnv(retail)
    draws, hidden = set(), set()
    for seed in range(20):
        obs, info = env.reset(seed=seed)
        assert info["split"] == "train" and isinstance(info["draw"], int) and info["draw"] >= 0
        assert env.scenario == retail.sample(info["draw"], "train")
        assert CampaignBrief.from_scenario(env.scenario) == retail.brief == env.brief
        assert env.action_space == retail.brief.action_space()
        assert env.observation_space == retail.brief.observation_space()
        assert env.observation_space.contains(obs)
        draws.add(info["draw"])
        hidden.add(env.scenario.channels[0].saturation.max_response)
    assert len(draws) == 20 and len(hidden) == 20  # twenty different campaigns
    _, again = env.reset(seed=7)
    first = ChannelBudgetEnv(retail)
    _, info7 = first.reset(seed=7)
    assert again["draw"] == info7["draw"]


def test_evaluate_scores_each_draw_against_the_oracle_of_that_draw() -> None:
    fam = family_from_dict(
        {
            "family": "stat3",
            "seed": 1,
            "scenario": "stationary-3",
            "vary": {
                "channels.search.saturation.max_response": {"dist": "lognormal", "median": 200, "sd": 0.5},
                "channels.social.adstock.decay": {"dist": "uniform", "low": 0.0, "high": 0.6},
            },
        }
    )
    agent = make_agent("equal", ChannelBudgetEnv(fam))
    rows = evaluate(agent, fam, seeds=[0], draws=3, split="test")
    assert [(r.draw, r.split) for r in rows] == [(0, "test"), (1, "test"), (2, "test")]
    for r in rows:
        assert r.draw is not None
        oracle = solve_oracle(fam.sample(r.draw, "test"), seed=r.env_seed).expected_reward
        assert r.oracle_reward == pytest.approx(oracle, rel=1e-12)
        assert r.pct_of_oracle == pytest.approx(100 * r.expected_reward / oracle, rel=1e-12)
    assert len({r.oracle_reward for r in rows}) == 3  # three campaigns, three oracles
    assert solve_oracle(fam.nominal()).expected_reward not in {r.oracle_reward for r in rows}


# ------------------------------------------------------------- observations and hidden parameters
def noise_free(data: dict[str, Any]) -> dict[str, Any]:
    data = copy.deepcopy(data)
    data["noise"] = {"conversions": "none"}
    for ch in data["channels"]:
        ch["cost"]["noise_sd"] = 0.0
        ch.setdefault("value", {})["noise_sd"] = 0.0
    return data


def test_doubling_every_response_doubles_the_observed_conversions() -> None:
    base = noise_free(load_scenario("stationary-5").model_dump(mode="json"))
    base["target_cpa"] = 40.0  # the plan's CPA: public, the same for both campaigns
    doubled = copy.deepcopy(base)
    for ch in doubled["channels"]:
        ch["saturation"]["max_response"] *= 2
    lay = ChannelBudgetEnv(scenario_from_dict(base)).observation_layout
    actions = [np.array(a, dtype=np.float32) for a in np.random.default_rng(0).uniform(-0.3, 0.3, (6, 5))]
    a = rollout(ChannelBudgetEnv(scenario_from_dict(base)), actions, seed=0)
    b = rollout(ChannelBudgetEnv(scenario_from_dict(doubled)), actions, seed=0)
    for oa, ob in zip(a.obs[1:], b.obs[1:], strict=True):
        assert np.all(oa[lay.conversions] > 0) and np.all(ob[lay.conversions] < 10)  # not clipped
        np.testing.assert_allclose(ob[lay.conversions], 2 * oa[lay.conversions], rtol=1e-6)
        np.testing.assert_allclose(ob[lay.conversions_ema], 2 * oa[lay.conversions_ema], rtol=1e-6)
        rest = np.r_[lay.share, lay.price_index, lay.remaining_budget, lay.time, lay.spend_ratio, lay.phase]
        np.testing.assert_array_equal(ob[rest], oa[rest])


def test_within_a_family_conversion_features_scale_with_each_draws_response() -> None:
    """One channel's level varies; its feature is proportional to the draw's level, the other's is
    the same in every draw (the scale is the family's planning CPA, never a draw's curves)."""
    fam = small_family({FIELD: {"dist": "lognormal", "median": 50.0, "sd": 0.6}})
    env = ChannelBudgetEnv(fam)
    lay = env.observation_layout
    betas, features, other = [], [], []
    for seed in range(6):
        env.reset(seed=seed)
        obs, *_ = env.step(np.zeros(2, dtype=np.float32))
        betas.append(env.scenario.channels[0].saturation.max_response)
        features.append(obs[lay.conversions][0])
        other.append(obs[lay.conversions][1])
    assert len(set(betas)) == 6 and max(features) < 10  # six levels, none clipped
    np.testing.assert_allclose(np.array(features) / np.array(betas), features[0] / betas[0], rtol=1e-6)
    np.testing.assert_allclose(other, other[0], rtol=1e-6)


def test_draws_differing_only_in_hidden_parameters_look_the_same_until_they_act_differently() -> None:
    """Only a channel's carry-over decay varies: the first step's conversions do not depend on it
    (lag-0 weight 1), the second's do. A conversion scale derived from a draw's curves would make
    even the first observations differ."""
    template = small_template()
    template["channels"][0]["adstock"] = {"type": "geometric", "decay": 0.3}
    fam = small_family({"channels.ch0.adstock.decay": {"dist": "uniform", "low": 0.0, "high": 0.8}}, template=template)
    env = ChannelBudgetEnv(fam)
    first, second, resets = [], [], []
    for seed in range(5):
        obs0, _ = env.reset(seed=seed)
        resets.append(obs0)
        first.append(env.step(np.zeros(2, dtype=np.float32))[0])
        second.append(env.step(np.zeros(2, dtype=np.float32))[0])
    for o in resets[1:]:
        np.testing.assert_array_equal(o, resets[0])
    for o in first[1:]:
        np.testing.assert_array_equal(o, first[0])
    assert len({float(o[env.observation_layout.conversions][0]) for o in second}) == 5


# --------------------------------------------------------------------------- a family of one
def test_a_family_of_one_plays_exactly_like_its_scenario() -> None:
    fam = load_family("stationary-3")
    assert not fam.varies and fam.sample(9, "test") == fam.nominal() == load_scenario("stationary-3")
    env_f, env_s = ChannelBudgetEnv(fam), ChannelBudgetEnv("stationary-3")
    actions = [np.array(a, dtype=np.float32) for a in np.random.default_rng(1).uniform(-1, 1, (14, 3))]
    a, b = rollout(env_f, actions, seed=5), rollout(env_s, actions, seed=5)
    assert a.reset_info == b.reset_info and "draw" not in a.reset_info
    for oa, ob in zip(a.obs, b.obs, strict=True):
        np.testing.assert_array_equal(oa, ob)
    assert a.rewards == b.rewards
    for ia, ib in zip(a.infos, b.infos, strict=True):
        assert ia.keys() == ib.keys()
        for key in ia:
            np.testing.assert_array_equal(ia[key], ib[key])


def test_a_family_of_one_evaluates_to_identical_rows() -> None:
    rows = []
    for source in (load_family("stationary-3"), "stationary-3"):
        agent = make_agent("thompson", ChannelBudgetEnv("stationary-3"))
        rows.append(evaluate(agent, source, seeds=[0, 1]))
    for ra, rb in zip(*rows, strict=True):
        da, db = ra.row(), rb.row()
        da.pop("wall_s"), db.pop("wall_s")
        assert da == db
        assert ra.draw is rb.draw is None and ra.split is rb.split is None
        np.testing.assert_array_equal(ra.allocation, rb.allocation)


# ------------------------------------------------------------------------------- ensembles
def ensemble_family(n: int = 10, test_fraction: float = 0.3) -> ScenarioFamily:
    members = [{"channels.search.saturation.max_response": 100.0 + j} for j in range(n)]
    return family_from_dict(
        {"family": "ens", "seed": 5, "scenario": "stationary-3", "ensemble": members, "test_fraction": test_fraction}
    )


def member_id(sc: Any) -> int:
    return int(sc.channels[0].saturation.max_response - 100)


def test_an_ensemble_splits_its_members_into_disjoint_parts() -> None:
    fam = ensemble_family()
    assert fam.is_ensemble and fam.split_size("test") == 3 and fam.split_size("train") == 7
    test = [member_id(fam.sample(i, "test")) for i in range(3)]
    train = [member_id(fam.sample(i, "train")) for i in range(7)]
    assert len(set(test)) == 3 and len(set(train)) == 7
    assert not set(test) & set(train)
    assert sorted(test + train) == list(range(10))
    # the split is a property of the family's seed, not of the call order
    again = ensemble_family()
    assert [member_id(again.sample(i, "test")) for i in (2, 0, 1)] == [test[2], test[0], test[1]]


def test_ensemble_draws_cycle_through_their_part() -> None:
    fam = ensemble_family()
    for split, n in (("test", 3), ("train", 7)):
        for i in range(n):
            assert fam.sample(i + n, split) == fam.sample(i, split)  # type: ignore[arg-type]
            assert fam.sample(i + 5 * n, split) == fam.sample(i, split)  # type: ignore[arg-type]


def test_the_ensembles_nominal_is_its_base_scenario() -> None:
    fam = ensemble_family()
    base = load_scenario("stationary-3")
    nominal = fam.nominal().model_dump()
    expected = base.model_dump()
    for key in ("name", "description", "target_cpa"):
        nominal.pop(key), expected.pop(key)
    for c in expected["channels"]:  # every member's planned prices: the base's prices
        c["cost"]["planned_price"] = c["cost"]["price"]
    assert nominal == expected
    # one planning CPA for every member: the base's
    assert fam.nominal().target_cpa == pytest.approx(CampaignBrief.from_scenario(base).target_cpa)
    assert {fam.sample(i, "train").target_cpa for i in range(7)} == {fam.nominal().target_cpa}


def test_ensemble_errors() -> None:
    with pytest.raises(ScenarioError, match=r"ensemble\[1\]\.budget\.total: a field of the campaign brief"):
        family_from_dict({"family": "e", "scenario": "stationary-3", "ensemble": [{}, {"budget.total": 5.0}]})
    with pytest.raises(ScenarioError, match=r"ensemble\[0\]\.channels\.search\.max_share: a field of the campaign"):
        family_from_dict(
            {"family": "e", "scenario": "stationary-3", "ensemble": [{"channels.search.max_share": 0.5}, {}]}
        )
    with pytest.raises(ScenarioError, match="^family: test_fraction: 0.9 of an ensemble of 2 leaves no train members"):
        family_from_dict({"family": "e", "scenario": "stationary-3", "ensemble": [{}, {}], "test_fraction": 0.9})
    # a member whose value lies outside the accepted range, or whose path names nothing: the file, the
    # member and the field, on one line
    members = [{}, {}, {"channels.search.saturation.slope": 0.1}]
    hill_slope = r"^fam\.yaml: ensemble\[2\]: channels\[0\]\.saturation\.hill\.slope: .*0\.3"
    with pytest.raises(ScenarioError, match=hill_slope):
        family_from_dict({"family": "e", "scenario": "stationary-3", "ensemble": members}, source="fam.yaml")
    members = [{}, {"channels.9.saturation.slope": 1.0}]
    no_item = r"^fam\.yaml: ensemble\[1\]: .*channels\.9\.saturation\.slope.*no list item '9'$"
    with pytest.raises(ScenarioError, match=no_item):
        family_from_dict({"family": "e", "scenario": "stationary-3", "ensemble": members}, source="fam.yaml")


def test_an_ensemble_member_that_changes_the_brief_is_refused_at_load_time_wherever_it_falls() -> None:
    # the member lands at train position 20, past the draws a template checks at load time: every
    # member of an ensemble is known, so every one is checked when the family is loaded
    n, seed = 30, 0
    perm = np.random.default_rng(np.random.SeedSequence([seed, 2])).permutation(n)
    n_test = round(n * 0.2)
    members: list[dict[str, Any]] = [{"channels.search.saturation.max_response": 100.0 + j} for j in range(n)]
    members[int(perm[n_test + 20])] = {"channels.search.cost": {"unit": "impression", "price": 8.0, "ref_spend": 4000}}
    with pytest.raises(ScenarioError, match=r"^fam\.yaml: train draw 20 changes the campaign brief \(channels\)"):
        family_from_dict({"family": "e", "seed": seed, "scenario": "stationary-3", "ensemble": members}, "fam.yaml")



def test_a_family_files_scenario_path_is_found_beside_the_file(tmp_path: Path, monkeypatch: Any) -> None:
    # as an experiment file's scenario paths: beside the file first, then the working directory
    folder = tmp_path / "fams"
    folder.mkdir()
    (folder / "base.yaml").write_text(yaml.safe_dump(small_template(), sort_keys=False), encoding="utf-8")
    vary = {FIELD: {"dist": "uniform", "low": 1.0, "high": 2.0}}
    path = folder / "fam.yaml"
    path.write_text(yaml.safe_dump({"family": "fam", "scenario": "base.yaml", "vary": vary}), encoding="utf-8")
    monkeypatch.chdir(tmp_path)  # elsewhere: base.yaml is not in the working directory
    fam = load_family(path)
    assert fam.varies and 1.0 <= fam.sample(0).channels[0].saturation.max_response <= 2.0  # type: ignore[union-attr]



def test_vary_through_a_yaml_anchor_changes_only_the_field_it_names(tmp_path: Path) -> None:
    # YAML aliases are one object: vary on ch0's saturation, an anchor ch1 reuses, drew ch1's as well
    text = yaml.safe_dump(small_template(), sort_keys=False)
    data = yaml.safe_load(text)
    data["channels"][1]["saturation"] = data["channels"][0]["saturation"]  # what `saturation: *sat` loads as
    vary = {FIELD: {"dist": "uniform", "low": 10.0, "high": 20.0}}
    fam = family_from_dict({"family": "fam", "seed": 3, "scenario": data, "vary": vary}, source="fam.yaml")
    assert list(fam.distributions) == [FIELD]
    for i in range(5):
        sc = fam.sample(i)
        assert 10.0 <= sc.channels[0].saturation.max_response <= 20.0  # type: ignore[union-attr]
        assert sc.channels[1].saturation.max_response == 50.0  # type: ignore[union-attr]
    assert data["channels"][0]["saturation"]["max_response"] == 50.0  # the caller's mapping is left as it was


def test_test_fraction_without_an_ensemble_is_refused(tmp_path: Path) -> None:
    # a template draws its test split from its own seed stream: a test_fraction there was silently ignored
    path = family_file(tmp_path, {FIELD: {"dist": "uniform", "low": 1.0, "high": 2.0}}, test_fraction=0.5)
    with pytest.raises(ScenarioError, match=rf"^family file '{path}': test_fraction: only an explicit ensemble"):
        load_family(path)



def test_a_bad_scenario_name_in_a_family_file_names_the_file_and_the_field(tmp_path: Path) -> None:
    path = tmp_path / "fam.yaml"
    path.write_text(yaml.safe_dump({"family": "fam", "scenario": "stationary-33"}), encoding="utf-8")
    with pytest.raises(ScenarioError, match=rf"^family file '{path}': scenario: unknown scenario 'stationary-33'"):
        load_family(path)





def test_aliases_that_expand_past_a_million_values_are_a_one_line_error(tmp_path: Path) -> None:
    """Nested aliases (ten of the level below on each of six levels: 10**6 values from a 300-byte file)
    were expanded whole by the family's copy of its template (10**8 would take half an hour and
    gigabytes); such a file is refused in one line as it is read, naming the field."""
    lines = ["family: bomb", "scenario:", "  l0: &l0 [1, 1, 1, 1, 1, 1, 1, 1, 1, 1]"]
    lines += [f"  l{i}: &l{i} [" + ", ".join([f"*l{i - 1}"] * 10) + "]" for i in range(1, 6)]
    path = tmp_path / "bomb.yaml"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    with pytest.raises(ScenarioError) as err:
        load_family(path)
    assert str(err.value) == (
        f"scenario file '{path}': invalid YAML: scenario.l5 expands its aliases to more than 1000000 values; "
        f"expected a file that spells out its data"
    )


def test_a_whole_scenario_given_as_a_distribution_is_refused_naming_the_field() -> None:
    """``scenario: {dist: choice, values: [...]}`` was read as a distribution at the template's top
    level, the family's name added into it: "(top level): choice.name: Extra inputs are not permitted"."""
    data = {"family": "f", "scenario": {"dist": "choice", "values": ["stationary-3", "stationary-5"]}}
    with pytest.raises(ScenarioError) as err:
        family_from_dict(data, source="family file 'f.yaml'")
    assert str(err.value) == (
        "family file 'f.yaml': scenario: expected a scenario mapping or a scenario name, got a distribution "
        "(choice); a family varies the fields inside one scenario (or lists an ensemble)"
    )


def test_a_yaml_alias_inside_its_own_anchor_is_a_one_line_error(tmp_path: Path, capsys: Any) -> None:
    """A mapping that contains itself through an alias (``&s`` ... ``*s``) recursed for ever while the
    family copied its template: a RecursionError with a 3,000-line traceback and exit code 1. (The file is
    read as any scenario file is, before it is known to be a family's.)"""
    path = tmp_path / "loop.yaml"
    path.write_text("family: loop\nscenario: &s\n  horizon: 3\n  loop: *s\n", encoding="utf-8")
    message = (f"scenario file '{path}': invalid YAML: scenario.loop refers to a mapping or list that contains it "
               f"(an alias inside its own anchor); expected data without cycles")
    with pytest.raises(ScenarioError) as err:
        load_family(path)
    assert str(err.value) == message
    code, out, stderr = run_cli(capsys, "show", str(path))
    assert (code, stderr.strip()) == (2, f"error: {message}")


# ------------------------------------------------------------------------ built-in families
BUILTIN = list_families()


def test_the_built_in_families_are_the_documented_ones() -> None:
    assert {"retail-5-family", "wide-family", "wide-agent-family"} <= set(BUILTIN)


@functools.cache
def builtin_draws(name: str) -> tuple[ScenarioFamily, tuple[Any, ...]]:
    """A built-in family and its first 200 test draws (shared by the tests below)."""
    fam = load_family(name)
    return fam, tuple(fam.draws(200, "test"))


@pytest.mark.parametrize("name", BUILTIN)
def test_a_built_in_family_draws_200_valid_campaigns_and_plays_50(name: str) -> None:
    fam, draws = builtin_draws(name)
    assert fam.varies and fam.name == name
    assert len({sc.model_dump_json() for sc in draws}) == 200
    for sc in draws:
        assert CampaignBrief.from_scenario(sc) == fam.brief
    env = ChannelBudgetEnv(fam)
    rng = np.random.default_rng(0)
    for seed in range(50):
        obs, info = env.reset(seed=seed)
        assert info["split"] == "train"
        for _ in range(3):
            obs, reward, terminated, truncated, step_info = env.step(rng.uniform(-1, 1, env.action_space.shape))
            assert env.observation_space.contains(obs)
            assert math.isfinite(float(reward)) and math.isfinite(step_info["expected_reward"])
            assert not terminated and not truncated


def test_retail_draws_respect_the_documented_priors() -> None:
    retail, retail_draws = builtin_draws("retail-5-family")
    assert (retail.brief.horizon, retail.brief.pacing, retail.brief.reward) == (56, "even", "revenue")
    decay_range = {"search": (0.0, 0.3), "shopping": (0.0, 0.3), "social": (0.1, 0.4), "display": (0.1, 0.4),
                   "video": (0.5, 0.8)}
    s_shaped = []
    for sc in retail_draws:
        for ch in sc.channels:
            lo, hi = decay_range[ch.name]
            assert ch.adstock.type == "geometric" and lo <= ch.adstock.decay <= hi
            assert ch.saturation.type == "hill" and 0.5 <= ch.saturation.slope <= 2.0
            if ch.name in ("search", "shopping", "social"):
                assert ch.saturation.slope <= 1.0
        s_shaped.append(any(ch.saturation.slope > 1 for ch in sc.channels))
        starts = [s.start for s in sc.shocks]
        assert all(0 <= s <= 50 for s in starts)
    # display and video are S-shaped with probability 0.15 each: 1 - 0.85^2 of the draws
    q = 1 - 0.85**2
    assert abs(np.mean(s_shaped) - q) < 4 * math.sqrt(q * (1 - q) / len(retail_draws))
    # the promotion's start is an integer in 0..50 (each end is missed by 200 draws w.p. 2%)
    starts = {sc.shocks[0].start for sc in retail_draws}
    assert min(starts) == 0 and max(starts) == 50


def kinds(sc: Any) -> set[str]:
    out = {f"adstock={c.adstock.type}" for c in sc.channels} | {f"delay={c.delay.type}" for c in sc.channels}
    for c in sc.channels:
        if c.saturation.type == "logistic":
            out.add("curve=logistic")
        else:
            out.add("curve=hill>1" if c.saturation.slope > 1 else "curve=hill<=1")
    out |= {f"noise={sc.noise.conversions}", f"drift={sc.drift.sd > 0}"}
    out |= {f"shock={s.kind}" for s in sc.shocks} or {"shock=none"}
    return out


@pytest.mark.parametrize("name", ["wide-family", "wide-agent-family"])
def test_a_wide_family_draws_every_kind_the_schema_has(name: str) -> None:
    seen: set[str] = set()
    for sc in builtin_draws(name)[1]:
        seen |= kinds(sc)
    expected = {
        "curve=logistic", "curve=hill>1", "curve=hill<=1",
        "adstock=none", "adstock=geometric", "adstock=weibull_cdf", "adstock=weibull_pdf",
        "delay=none", "delay=geometric", "delay=gamma",
        "noise=poisson", "noise=negative_binomial", "noise=none",
        "drift=True", "drift=False",
        "shock=none", "shock=price", "shock=demand", "shock=outage",
    }  # fmt: skip
    assert seen == expected


def test_the_built_in_families_cover_both_pacings_and_two_rewards() -> None:
    briefs = [builtin_draws(n)[0].brief for n in BUILTIN]
    assert {b.pacing for b in briefs} == {"even", "agent"}
    assert {b.reward for b in briefs} >= {"conversions", "revenue"}


def test_a_draws_price_index_is_relative_to_the_plans_price_not_its_own() -> None:
    """Members differing in search's price (1x and 2x the base's CPC, no price noise): the brief's planned
    price is the base's for both, so after the same first step the 2x member's price index is the 1x
    member's plus log 2 (in atanh), in the single env and in the vector env. It was normalised by each
    draw's own (hidden) price, which made the two equal: the draw's price level never showed."""
    from budgetgym.envs.vector_env import ChannelBudgetVectorEnv

    p = load_scenario("stationary-3").channels[0].cost.price
    members = [{"channels.search.cost.price": m * p, "channels.search.cost.noise_sd": 0.0,
                "channels.search.saturation.max_response": 100.0 + j}
               for j, m in enumerate([1.0, 2.0, 1.0, 2.0])]
    fam = family_from_dict({"family": "priced", "seed": 1, "scenario": "stationary-3", "ensemble": members,
                            "test_fraction": 0.25})
    assert {d.channels[0].cost.planned_price for d in fam.draws(3, "train")} == {p}
    env = ChannelBudgetEnv(fam)
    lay = env.observation_layout
    index: dict[float, float] = {}
    for seed in range(40):
        _, info = env.reset(seed=seed)
        obs, *_ = env.step(np.zeros(env.action_space.shape, dtype=np.float32))
        index[env.scenario.channels[0].cost.price / p] = float(np.arctanh(obs[lay.price_index][0]))
    assert set(index) == {1.0, 2.0}
    assert index[2.0] - index[1.0] == pytest.approx(math.log(2.0), abs=1e-5)  # float32 observations
    venv = ChannelBudgetVectorEnv(fam, num_envs=8)
    _, vinfo = venv.reset(seed=0)
    vobs, *_ = venv.step(np.zeros((8, *env.action_space.shape), dtype=np.float32))
    multiples = [fam.sample(int(d), "train").channels[0].cost.price / p for d in vinfo["draw"]]
    assert set(multiples) == {1.0, 2.0}
    for i, m in enumerate(multiples):
        assert float(np.arctanh(vobs[i, lay.price_index][0])) == pytest.approx(index[m], abs=1e-5)
    venv.close()


# ------------------------------------------------------------------ checks across fields (draw rule)
#: video's reach in the young (U(0.45, 0.55)) and the families (U(0.40, 0.50)) segments of overlap-5:
#: each field alone keeps video's reach shares summing to at most 1 (0.55 + 0.45, 0.5 + 0.5), so the
#: load-time reach check passes; together they exceed 1 in 1/8 of the draws.
CROSS = {
    "segments.0.reach.video": {"dist": "uniform", "low": 0.45, "high": 0.55},
    "segments.1.reach.video": {"dist": "uniform", "low": 0.40, "high": 0.50},
}


def _cross_reach(rng: np.random.Generator) -> float:
    """video's summed reach of the documented draw (the fields in the file's order)."""
    return rng.uniform(0.45, 0.55) + rng.uniform(0.40, 0.50)


def _cross_family(seed: int) -> ScenarioFamily:
    return family_from_dict({"family": "x", "seed": seed, "scenario": "overlap-5", "vary": CROSS}, "x.yaml")


def _load_draws_pass(seed: int) -> bool:
    return all(_cross_reach(documented_rng(seed, s, i)) <= 1 for s in ("train", "test") for i in range(8))


def test_a_draw_breaking_a_check_across_fields_is_drawn_again_as_documented() -> None:
    """A family whose 16 load-time draws pass used to load and then raise at draw 8 or later (an env
    reset hours into training, or the planner's 100 draws); such a draw is now redrawn from
    ``SeedSequence([seed, split, i, k])``, k = 1, 2, ..., and the draws valid as drawn are unchanged."""
    seed = next(s for s in range(200) if _load_draws_pass(s))
    fam = _cross_family(seed)
    bad = [i for i in range(8, 200) if _cross_reach(documented_rng(seed, "train", i)) > 1]
    assert bad  # the family really has draws that break the check
    for i in [*bad[:3], 0, 1, bad[0] + 1]:
        k = 0
        while True:  # the documented attempts
            entropy = [seed, 0, i] + ([k] if k else [])
            rng = np.random.default_rng(np.random.SeedSequence(entropy))
            a, b = rng.uniform(0.45, 0.55), rng.uniform(0.40, 0.50)
            if a + b <= 1:
                break
            k += 1
        assert (k > 0) == (i in bad)
        sc = fam.sample(i, "train")
        assert sc.segments is not None
        assert sc.segments[0].reach["video"] == pytest.approx(a, rel=1e-12)
        assert sc.segments[1].reach["video"] == pytest.approx(b, rel=1e-12)
    # every draw of both splits is a valid scenario, and so is every environment reset
    for split in ("train", "test"):
        for sc in fam.draws(200, split):  # type: ignore[arg-type]
            assert sc.segments is not None and sum(s.reach.get("video", 0.0) for s in sc.segments) <= 1 + 1e-9
    env = ChannelBudgetEnv(fam)
    for s in range(30):
        env.reset(seed=s)


def test_a_check_across_fields_broken_at_load_is_refused_naming_the_draw_and_field() -> None:
    seed = next(s for s in range(200) if not _load_draws_pass(s))
    with pytest.raises(ScenarioError) as err:
        _cross_family(seed)
    msg = str(err.value)
    assert "\n" not in msg
    assert msg.startswith("x.yaml: ") and " draw " in msg
    assert "segments: channel 'video' sends" in msg and msg.endswith("narrow it or bound it)")


def test_a_draw_whose_redraws_all_fail_is_a_one_line_error(monkeypatch: pytest.MonkeyPatch) -> None:
    import budgetgym.envs.scenario_family as family_module

    seed = next(s for s in range(200) if _load_draws_pass(s))
    fam = _cross_family(seed)
    i = next(i for i in range(8, 200) if _cross_reach(documented_rng(seed, "train", i)) > 1)
    monkeypatch.setattr(family_module, "MAX_REDRAWS", 0)
    with pytest.raises(ScenarioError) as err:
        fam.sample(i, "train")
    msg = str(err.value)
    assert "\n" not in msg
    assert msg.startswith(f"x.yaml: train draw {i}: ") and "segments: channel 'video' sends" in msg


# ------------------------------------------------------------------ any draw (hypothesis)
_index = st.one_of(st.integers(0, 300), st.integers(0, 2**63 - 1))
_split = st.sampled_from(["train", "test"])


def _assert_valid_draw(fam: ScenarioFamily, sc: Any, where: str) -> None:
    """A valid, finite campaign of ``fam``: the scenario accepts its dump again, the family's brief, a finite
    value for the equal plan, and one step of the environment (a NaN action) with finite outputs."""
    from budgetgym.envs import evaluate_plan

    assert scenario_from_dict(sc.model_dump(mode="json"), source=where) == sc, where
    assert CampaignBrief.from_scenario(sc) == fam.brief, where
    equal = np.tile(np.full(sc.n_channels, sc.step_budget / sc.n_channels), (sc.horizon, 1))
    assert np.isfinite(float(evaluate_plan(sc, equal))), where
    env = ChannelBudgetEnv(sc)
    obs, _ = env.reset(seed=0)
    obs, reward, *_, info = env.step(np.full(env.action_space.shape, np.nan))
    assert env.observation_space.contains(obs) and math.isfinite(float(reward)), where
    assert float(np.sum(info["spend"])) <= sc.budget.total, where


@functools.cache
def _two_loads(name: str) -> tuple[ScenarioFamily, ScenarioFamily]:
    """A built-in family loaded twice (two objects, two caches of draws)."""
    return load_family(name), load_family(name)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(name=st.sampled_from(BUILTIN), index=_index, split=_split)
def test_any_draw_of_a_built_in_family_is_a_valid_deterministic_campaign(name: str, index: int, split: str) -> None:
    """Draw ``index`` (up to 2**63 - 1) of either split of a built-in family: a valid, finite campaign with
    the family's brief, the same object when drawn again and the same campaign from a fresh load."""
    fam, again = _two_loads(name)
    sc = fam.sample(index, split)  # type: ignore[arg-type]
    assert fam.sample(np.int64(index), split) is sc  # type: ignore[arg-type]
    assert again.sample(index, split) == sc  # type: ignore[arg-type]
    _assert_valid_draw(fam, sc, f"{name} {split} draw {index}")


@functools.cache
def _loadable_cross_seeds() -> tuple[int, ...]:
    return tuple(s for s in range(60) if _load_draws_pass(s))


def _first_valid_documented_attempt(seed: int, index: int, split: str) -> tuple[float, float]:
    """Video's reaches ``(a, b)`` of the first documented attempt (``scenario_family``'s docstring) of draw
    ``index`` of ``split`` that the check across fields accepts: ``SeedSequence([seed, s_id, index])``, then
    ``[seed, s_id, index, k]`` for ``k = 1, 2, ...``; from ``index = 2**32`` on, ``k`` is always given
    (``k = 0`` first: numpy reads such an index as two words, which the short form shares with a redraw)."""
    from budgetgym.envs.family import MAX_REDRAWS

    for k in range(MAX_REDRAWS + 1):
        entropy = [seed, {"train": 0, "test": 1}[split], index] + ([k] if k or index >= 2**32 else [])
        rng = np.random.default_rng(np.random.SeedSequence(entropy))
        a, b = rng.uniform(0.45, 0.55), rng.uniform(0.40, 0.50)
        if a + b <= 1:
            return a, b
    pytest.fail("no valid documented attempt")  # pragma: no cover - (7/8)^101: never


def _assert_first_valid_documented_attempt(seed: int, index: int, split: str) -> None:
    fam = _cross_family(seed)
    a, b = _first_valid_documented_attempt(seed, index, split)
    sc = fam.sample(index, split)  # type: ignore[arg-type]
    assert sc.segments is not None
    assert (sc.segments[0].reach["video"], sc.segments[1].reach["video"]) == pytest.approx((a, b), rel=1e-12)
    _assert_valid_draw(fam, sc, f"{split} draw {index}")


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data(), index=_index, split=_split)
def test_any_draw_of_a_family_that_loads_is_the_first_valid_documented_attempt(
    data: Any, index: int, split: str
) -> None:
    """A family that loads (its first draws pass a check across fields that one draw in eight breaks:
    video's reach summing to more than 1) never fails at a later draw: draw ``index`` of any split is the
    first of the documented attempts the scenario accepts, and a valid, finite campaign."""
    seed = data.draw(st.sampled_from(_loadable_cross_seeds()), label="family seed")
    _assert_first_valid_documented_attempt(seed, index, split)


@pytest.mark.parametrize("index", [2**32, 2**32 + 5, 2**63 - 1])
def test_a_draw_from_2_to_the_32_on_is_the_first_valid_documented_attempt_with_k_always_given(index: int) -> None:
    """The property above with random seeds drew index 2**32 (family seed 6), where its expectation used the
    short form ``[seed, s_id, index]`` that the documentation reserves for indices below 2**32: the library
    was right (``[seed, s_id, index, 0]``), the test's re-derivation was not."""
    assert 6 in _loadable_cross_seeds()
    _assert_first_valid_documented_attempt(6, index, "train")
