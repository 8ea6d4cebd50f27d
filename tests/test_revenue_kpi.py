"""A revenue KPI's calibrated family measures its response in currency (``response_unit: currency``): its plan
reports revenue, ROAS and marginal ROAS and leaves every figure that counts conversions undefined; a count KPI's
keeps its conversions and CPA; the field is validated and leaves a hand-written scenario's meaning alone."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from conftest import run_cli
from mmm_synth import Truth, flighted_spend, synthesize

from budgetgym.envs.family import load_family
from budgetgym.envs.scenario import Scenario, builtin_scenario_dir, load_scenario
from budgetgym.planner.metrics import COUNT_FIGURES

T = 60
TRUTH = dict(beta=np.array([6000.0, 4000.0]), kappa=np.array([2500.0, 1500.0]), slope=np.array([1.0, 1.2]),
             theta=np.array([0.4, 0.1]))


def _calibrated(tmp_path: Path, capsys: pytest.CaptureFixture[str], reward: str) -> Path:
    """A noise-free weekly dataset of two spend-driven channels, calibrated by the command line into a family of
    its point estimate alone (``--draws 0``: the plan's numbers are the nominal scenario's), with ``reward``."""
    data = tmp_path / "data.csv"
    synthesize(data, Truth(**TRUTH), flighted_spend(T, [1500.0, 1000.0], np.random.default_rng(5)),
               spend_names=["a", "b"])
    code, out, err = run_cli(capsys, "calibrate", str(data), "--date", "date", "--kpi", "revenue", "--spend",
                             "a_spend,b_spend", "--draws", "0", "--plan-periods", "6", "--reward", reward,
                             "--out", str(tmp_path / "fit"), "--no-plots")
    assert code == 0, out + err
    return tmp_path / "fit"


def _channel_response(sc: Scenario, history: np.ndarray, window: np.ndarray) -> np.ndarray:
    r"""``[K]``: each channel's response summed over the window, by hand from the nominal scenario's parameters
    (exposure = spend: price 1 a click, elasticity 0; the full geometric recursion :math:`a_t = x_t + \theta
    a_{t-1}` from the history's first step; Hill :math:`\beta a^s / (\kappa^s + a^s)`)."""
    spend = np.vstack([history, window])
    out = np.zeros(sc.n_channels)
    for i, ch in enumerate(sc.channels):
        assert (ch.cost.unit, ch.cost.price, ch.cost.elasticity) == ("click", 1.0, 0.0)
        a, total = 0.0, 0.0
        for t in range(len(spend)):
            a = spend[t, i] + ch.adstock.decay * a
            if t >= len(history):
                s, k = ch.saturation.slope, ch.saturation.half_saturation
                total += ch.saturation.max_response * a**s / (k**s + a**s)
        out[i] = total
    return out


@pytest.mark.parametrize("reward", ["revenue", "conversions"])
def test_a_calibrated_family_plans_in_its_kpis_unit(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], reward: str
) -> None:
    """Planned end to end (``calibrate`` then ``plan --history``): a revenue KPI's ROAS is its incremental revenue
    over spend by hand, and its conversions, CPA and their marginals are empty (they held the revenue and spend
    per unit of revenue: a "CPA" of 0.4); a count KPI's conversions and CPA are the hand calculation's."""
    fit = _calibrated(tmp_path, capsys, reward)
    sc = load_family(fit / "family.yaml").nominal()
    assert sc.response_unit == ("currency" if reward == "revenue" else "conversions")
    out = tmp_path / "plan"
    code, text, err = run_cli(capsys, "plan", str(fit / "family.yaml"), "--history", str(fit / "history.csv"),
                              "--sweep", "0.5:1.5:3", "--current", "equal", "--out", str(out), "--no-plots")
    assert code == 0, text + err
    history = pd.read_csv(fit / "history.csv")[sc.channel_names].to_numpy(float)
    X = pd.read_csv(out / "plan.csv")[sc.channel_names].to_numpy(float)
    ch = pd.read_csv(out / "channels.csv")
    spend = X.sum(axis=0)
    np.testing.assert_allclose(ch["spend"], spend, rtol=1e-12)
    response = _channel_response(sc, history, X)
    incremental = response - _channel_response(sc, history, np.zeros_like(X))
    summary = json.loads((out / "summary.json").read_text())
    counts = [c for c in ch.columns if c.removeprefix("current_") in COUNT_FIGURES]
    assert len(counts) == 8  # conversions, baseline_conversions, cpa, marginal_conversions, mcpa; current_ three
    if reward == "revenue":
        np.testing.assert_allclose(ch["revenue"], response, rtol=1e-6)
        np.testing.assert_allclose(ch["roas"], incremental / spend, rtol=1e-6)
        assert ch[counts].isna().all().all() and ch[["roas", "mroas", "current_roas"]].notna().all().all()
        assert pd.read_csv(out / "curves.csv")["conversions"].isna().all()
        assert pd.read_csv(out / "frontier.csv")[["marginal_conversions", "mcpa"]].isna().all().all()
        assert summary["response_unit"] == "currency"
        assert summary["recommended"]["mcpa"] is None and summary["recommended"]["marginal_conversions"] is None
        assert summary["recommended"]["mroas"] > 0
        assert "marginal CPA" not in text and "`response_unit: currency`" in (out / "report.md").read_text()
    else:
        np.testing.assert_allclose(ch["conversions"], response, rtol=1e-6)
        np.testing.assert_allclose(ch["cpa"], spend / incremental, rtol=1e-6)
        assert ch[counts].notna().all().all()
        assert summary["response_unit"] == "conversions" and summary["recommended"]["mcpa"] > 0
        assert "marginal CPA" in text and "response_unit" not in (out / "report.md").read_text()


def _scenario_file(tmp_path: Path, **changes: object) -> Path:
    """``seasonal-5`` (a revenue reward, values per conversion of 40 to 120) with ``changes``."""
    data = yaml.safe_load((builtin_scenario_dir() / "seasonal-5.yaml").read_text())
    data.update(changes)
    path = tmp_path / "s.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


@pytest.mark.parametrize(("changes", "message"), [
    ({"response_unit": "dollars"}, "response_unit: Input should be 'conversions' or 'currency' (got 'dollars')"),
    ({"response_unit": "currency", "reward": "conversions"}, "reward: expected revenue or profit with response_unit: "
     "currency"),
    ({"response_unit": "currency"}, ".value.mean: expected 1 with response_unit: currency"),
])
def test_a_bad_response_unit_is_one_line_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], changes: dict[str, object], message: str
) -> None:
    """An unknown unit, a count reward of a response in currency, or a value per unit of currency other than 1:
    one line naming the file and the field, exit 2."""
    path = _scenario_file(tmp_path, **changes)
    code, out, err = run_cli(capsys, "plan", str(path), "--out", str(tmp_path / "plan"), "--no-plots")
    assert code == 2 and out == ""
    assert len(err.strip().splitlines()) == 1 and str(path) in err and message in err, err


def test_a_hand_written_scenario_keeps_its_meaning_and_serialised_form() -> None:
    """The default is ``conversions``, left out of a JSON dump (the config hash of every results directory and
    stored oracle file stays), and a family's draws cannot vary it (part of the campaign brief)."""
    from budgetgym.envs.family_template import brief_field

    sc = load_scenario("seasonal-5")
    assert sc.response_unit == "conversions" and "response_unit" not in sc.model_dump(mode="json")
    assert sc.override({"response_unit": "currency", **{f"channels.{c}.value.mean": 1.0 for c in sc.channel_names}}
                       ).model_dump(mode="json")["response_unit"] == "currency"
    assert brief_field(("response_unit",))


def test_segments_of_a_response_in_currency_count_no_conversions() -> None:
    """With audience segments, a response in currency leaves the segments' conversions undefined and the printed
    segment table without them; revenue stays (the sum of the channels' revenue)."""
    from budgetgym.planner import plan
    from budgetgym.planner.plan_text import segment_rows

    sc = load_scenario("overlap-5")
    currency = sc.override({"response_unit": "currency", **{f"segments.{s}.value.mean": 1.0 for s in sc.segment_names}})
    result = plan(currency, curves=False)
    assert result.segments is not None and result.segments["conversions"].isna().all()
    assert result.segments["revenue"].sum() == pytest.approx(result.channels["revenue"].sum(), rel=1e-9)
    rows = segment_rows(result)
    assert rows is not None and "conversions" not in rows[0] and "revenue" in rows[0]


def test_a_response_in_currency_without_a_noise_block_is_exact_and_a_given_one_is_kept() -> None:
    """A hand-written currency scenario inherited Poisson noise, which drew revenue in whole units of the currency
    (5849.0, 7596.0, ...: a spread that depends on the unit). Without a ``noise`` block it is now exact (no longer
    whole units); a ``noise`` block given stays."""
    from budgetgym.envs import ChannelBudgetEnv
    from budgetgym.envs.scenario import scenario_from_dict

    data = load_scenario("stationary-3").model_dump(mode="json")
    data.pop("noise")
    data.update(reward="revenue", response_unit="currency")
    for ch in data["channels"]:
        ch["value"] = {"mean": 1.0}
    sc = scenario_from_dict(data, source="test")
    assert sc.noise.conversions == "none"
    env = ChannelBudgetEnv(sc)
    env.reset(seed=0)
    *_, info = env.step(np.zeros(env.action_space.shape, dtype=np.float32))
    assert not np.allclose(info["conversions"], np.round(info["conversions"]))  # not whole units of the currency
    given = scenario_from_dict({**data, "noise": {"conversions": "poisson"}}, source="test")
    assert given.noise.conversions == "poisson"
    data.update(reward="conversions", response_unit="conversions")  # a count response keeps the Poisson default
    assert scenario_from_dict(data, source="test").noise.conversions == "poisson"


@pytest.mark.parametrize(("reward", "unit"), [("revenue", "currency"), ("conversions", "conversions")])
def test_calibrate_writes_the_response_unit_in_every_family(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], reward: str, unit: str
) -> None:
    """family.yaml says what its response counts in every case, the default too (a count's ``conversions`` was left
    out, so a reader of the file had to know the default): the raw file holds the key, and the family loads without
    a warning."""
    import warnings

    fit = _calibrated(tmp_path, capsys, reward)
    written = yaml.safe_load((fit / "family.yaml").read_text())["scenario"]
    assert written["response_unit"] == unit
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert load_family(fit / "family.yaml").nominal().response_unit == unit


def test_an_old_revenue_family_without_the_field_loads_with_a_warning_saying_what_was_assumed(tmp_path: Path) -> None:
    """A family file written before calibrate wrote ``response_unit`` (a revenue reward, no ``vary``, every value per
    conversion 1: an old revenue KPI's calibrated family) still loads, as the default ``conversions``, with one
    warning line naming the file and the field and saying what was assumed; the same file with the field, or a
    family that varies something, has no warning."""
    import warnings

    from budgetgym.envs.errors import ScenarioWarning

    sc = load_scenario("seasonal-5").override(
        {"reward": "revenue", **{f"channels.{c}.value.mean": 1.0 for c in load_scenario("seasonal-5").channel_names}})
    scenario = sc.model_dump(mode="json")
    assert "response_unit" not in scenario  # the case: a JSON dump leaves the default out
    path = tmp_path / "old.yaml"
    path.write_text(yaml.safe_dump({"family": "old", "scenario": scenario}))
    with pytest.warns(ScenarioWarning) as caught:
        fam = load_family(path)
    said = [str(w.message) for w in caught if "response_unit" in str(w.message)]
    assert len(said) == 1 and "\n" not in said[0] and str(path) in said[0], said
    assert "scenario.response_unit: not given; assumed conversions" in said[0]
    assert fam.nominal().response_unit == "conversions"
    for data in ({"family": "old", "scenario": {**scenario, "response_unit": "conversions"}},
                 {"family": "old", "scenario": scenario,
                  "vary": {"channels.search.saturation.max_response": {"dist": "uniform", "low": 500, "high": 900}}}):
        path.write_text(yaml.safe_dump(data))
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            load_family(path)


def test_the_envs_conversions_hold_a_currency_response() -> None:
    """With ``response_unit: currency`` the info's ``conversions`` and ``expected_conversions`` (names kept: the
    info is a contract) hold the response in currency, as the Info table says: without value noise the realised
    one is ``revenue`` and the reward, the expected one sums to the expected reward; the vector env's alike."""
    from budgetgym.envs import ChannelBudgetEnv
    from budgetgym.envs.vector_env import ChannelBudgetVectorEnv

    data = load_scenario("stationary-3").model_dump()
    data.update(response_unit="currency", reward="revenue")
    data.pop("noise")
    for ch in data["channels"]:
        ch["value"] = {"mean": 1.0, "noise_sd": 0.0}
    sc = Scenario.model_validate(data)
    env, vec = ChannelBudgetEnv(sc), ChannelBudgetVectorEnv(sc, 2)
    env.reset(seed=3)
    vec.reset(seed=3)
    action = np.array([0.5, -0.2, 0.1], dtype=np.float32)
    for _ in range(4):
        _, reward, _, _, info = env.step(action)
        _, rewards, _, _, infos = vec.step(np.tile(action, (2, 1)))
        np.testing.assert_array_equal(info["conversions"], info["revenue"])
        assert reward == pytest.approx(info["conversions"].sum(), rel=1e-12)
        assert info["expected_reward"] == pytest.approx(info["expected_conversions"].sum(), rel=1e-12)
        np.testing.assert_array_equal(infos["conversions"][0], info["conversions"])  # row 0: seed 3, as env
        np.testing.assert_array_equal(infos["conversions"], infos["revenue"])
