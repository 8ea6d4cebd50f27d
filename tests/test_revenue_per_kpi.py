"""``calibrate --revenue-per-kpi``: a conversions KPI (Meridian's national CSV: ``conversions`` beside
``revenue_per_conversion``) fitted as conversions and planned as revenue, each conversion worth the revenue per
conversion of the data's last periods; bad values refused in one line, exit 2, nothing written."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import run_cli
from mmm_synth import Truth, flighted_spend, synthesize

from budgetgym.calibration import read_mmm_csv
from budgetgym.calibration.kpi_value import revenue_per_kpi
from budgetgym.envs.family import load_family

T = 60
WINDOW = 6
TRUTH = dict(beta=np.array([6000.0, 4000.0]), kappa=np.array([2500.0, 1500.0]), slope=np.array([1.0, 1.2]),
             theta=np.array([0.4, 0.1]))


def _data(tmp_path: Path, rpc: np.ndarray | None = None, noise_sd: float = 0.0) -> Path:
    """A weekly conversions dataset (noise-free by default) of two spend-driven channels with a
    ``revenue_per_conversion`` column (Meridian's name; default: 20 to 60 a conversion, seeded)."""
    path = tmp_path / "national.csv"
    synthesize(path, Truth(**TRUTH), flighted_spend(T, [1500.0, 1000.0], np.random.default_rng(5)),
               spend_names=["a", "b"], kpi="conversions", noise_sd=noise_sd)
    df = pd.read_csv(path)
    df["revenue_per_conversion"] = np.random.default_rng(1).uniform(20, 60, T) if rpc is None else rpc
    df.to_csv(path, index=False)
    return path


def _calibrate(capsys: pytest.CaptureFixture[str], data: Path, out: Path, *extra: str) -> tuple[int, str, str]:
    return run_cli(capsys, "calibrate", str(data), "--date", "date", "--kpi", "conversions", "--spend",
                   "a_spend,b_spend", "--draws", "0", "--plan-periods", str(WINDOW), "--out", str(out), "--no-plots",
                   *extra)


def test_the_family_values_conversions_at_the_windows_revenue_per_conversion(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The value is the last six weeks' revenue over their conversions (by hand from the file), on every channel;
    the family plans revenue while counting conversions, and its plan's revenue is that value times its
    conversions, with CPA and ROAS both reported."""
    data = _data(tmp_path)
    code, out, err = _calibrate(capsys, data, tmp_path / "fit", "--revenue-per-kpi", "revenue_per_conversion")
    assert code == 0, out + err
    df = pd.read_csv(data).tail(WINDOW)
    by_hand = (df["conversions"] * df["revenue_per_conversion"]).sum() / df["conversions"].sum()
    assert df["revenue_per_conversion"].min() < by_hand < df["revenue_per_conversion"].max()
    sc = load_family(tmp_path / "fit" / "family.yaml").nominal()
    assert sc.reward == "revenue" and sc.response_unit == "conversions"
    for ch in sc.channels:
        assert ch.value.mean == pytest.approx(by_hand, rel=1e-12)
    assert "a conversion is worth" in out and "conversions-weighted mean of the last 6 periods" in out
    assert "conversions-weighted mean" in (tmp_path / "fit" / "fit.md").read_text()

    plan = tmp_path / "plan"
    code, text, err = run_cli(capsys, "plan", str(tmp_path / "fit" / "family.yaml"), "--history",
                              str(tmp_path / "fit" / "history.csv"), "--out", str(plan), "--no-plots")
    assert code == 0, text + err
    ch = pd.read_csv(plan / "channels.csv")
    np.testing.assert_allclose(ch["revenue"], by_hand * ch["conversions"], rtol=1e-9)
    assert ch[["cpa", "roas"]].notna().all().all()
    assert json.loads((plan / "summary.json").read_text())["reward"] == "revenue"


def test_a_number_values_every_conversion_and_reward_conversions_keeps_the_objective(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """``--revenue-per-kpi 2.5``: every conversion worth 2.5; with ``--reward conversions`` the family still values
    them but plans conversions, and says so."""
    data = _data(tmp_path)
    code, out, err = _calibrate(capsys, data, tmp_path / "a", "--revenue-per-kpi", "2.5")
    assert code == 0, out + err
    sc = load_family(tmp_path / "a" / "family.yaml").nominal()
    assert sc.reward == "revenue" and [c.value.mean for c in sc.channels] == [2.5, 2.5]
    code, out, err = _calibrate(capsys, data, tmp_path / "b", "--revenue-per-kpi", "2.5", "--reward", "conversions")
    assert code == 0, out + err
    sc = load_family(tmp_path / "b" / "family.yaml").nominal()
    assert sc.reward == "conversions" and sc.response_unit == "conversions" and sc.channels[0].value.mean == 2.5
    assert "plans conversions" in out


def test_a_window_without_conversions_takes_the_plain_mean(tmp_path: Path) -> None:
    """No conversions in the window (a KPI at 0 there): the mean of the column's last periods, said so."""
    rpc = np.arange(1.0, T + 1.0)
    data = read_mmm_csv(_data(tmp_path, rpc), date="date", kpi="conversions", spend="a_spend,b_spend",
                        revenue_per_kpi="revenue_per_conversion")
    kpi = data.kpi.copy()
    kpi[-WINDOW:] = 0.0
    object.__setattr__(data, "kpi", kpi)
    got = revenue_per_kpi("revenue_per_conversion", data, WINDOW)
    assert got.value == pytest.approx(rpc[-WINDOW:].mean()) and "the mean (no conversions)" in got.source


def test_the_value_comes_from_the_one_reading_of_the_data_file(tmp_path: Path) -> None:
    """``read_mmm_csv(..., revenue_per_kpi=COLUMN)`` reads the column with the rest of the file, once: the value is
    computed from what was read (the file may be gone, or changed, since), where ``revenue_per_kpi`` read the file a
    second time and checked the column's role beside ``read_mmm_csv``'s own check."""
    rpc = np.linspace(10.0, 70.0, T)
    path = _data(tmp_path, rpc)
    data = read_mmm_csv(path, date="date", kpi="conversions", spend="a_spend,b_spend",
                        revenue_per_kpi=" revenue_per_conversion")
    path.unlink()
    y = np.maximum(data.kpi[-WINDOW:], 0.0)
    assert data.revenue_per_kpi_column == "revenue_per_conversion"
    assert revenue_per_kpi("revenue_per_conversion", data, WINDOW).value == pytest.approx(
        float(y @ rpc[-WINDOW:] / y.sum()), rel=1e-12)
    assert data.head(T - 2).revenue_per_kpi is not None and len(data.head(T - 2).revenue_per_kpi) == T - 2


@pytest.mark.parametrize(("text", "rpc", "message"), [
    ("revenue_per_conv", None, "--revenue-per-kpi: no column 'revenue_per_conv' (did you mean "
     "'revenue_per_conversion'?) and not a number"),
    ("conversions", None, "column 'conversions' is given for two roles (--kpi and --revenue-per-kpi)"),
    ("a_spend", None, "column 'a_spend' is given for two roles (--spend and --revenue-per-kpi)"),
    ("revenue_per_conversion", np.r_[np.full(T - 1, 30.0), -1.0],
     f"column 'revenue_per_conversion', row {T}: revenue per conversion must be non-negative, got -1"),
    ("revenue_per_conversion", np.r_[np.full(T - WINDOW, 30.0), np.zeros(WINDOW)],
     "column 'revenue_per_conversion': revenue per conversion is 0 in the last 6 periods"),
    ("0", None, "--revenue-per-kpi: expected the revenue of one conversion, a positive amount of currency"),
    ("inf", None, "--revenue-per-kpi: expected the revenue of one conversion, a positive amount of currency"),
])
def test_a_bad_revenue_per_kpi_is_one_line_exit_2_and_writes_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], text: str, rpc: np.ndarray | None, message: str
) -> None:
    data = _data(tmp_path, rpc)
    code, out, err = _calibrate(capsys, data, tmp_path / "fit", "--revenue-per-kpi", text)
    assert code == 2, out + err
    assert message in err and len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert not (tmp_path / "fit").exists()


def test_a_kpi_named_as_revenue_is_warned_that_it_is_valued_again(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """``--kpi revenue --revenue-per-kpi revenue_per_conversion`` valued each unit of revenue at ~40: every plan's
    revenue and ROAS 40 times too large, silently. The KPI's name says revenue (the rule that picks the reward), so
    calibrate warns, naming the KPI and the value; a conversions KPI gets no such warning."""
    data = _data(tmp_path)
    df = pd.read_csv(data)
    df["revenue"] = df["conversions"] * df["revenue_per_conversion"]
    df.to_csv(data, index=False)
    code, out, err = run_cli(capsys, "calibrate", str(data), "--date", "date", "--kpi", "revenue", "--spend",
                             "a_spend,b_spend", "--draws", "0", "--plan-periods", str(WINDOW), "--out",
                             str(tmp_path / "rev"), "--no-plots", "--revenue-per-kpi", "revenue_per_conversion")
    assert code == 0, out + err
    said = [line for line in err.splitlines() if "--revenue-per-kpi" in line]
    assert len(said) == 1 and "KPI 'revenue'" in said[0] and "counts conversions" in said[0], err
    assert "--revenue-per-kpi" in (tmp_path / "rev" / "fit.md").read_text()
    code, out, err = _calibrate(capsys, data, tmp_path / "conv", "--revenue-per-kpi", "revenue_per_conversion")
    assert code == 0 and "KPI 'conversions'" not in err, err


def test_the_lift_tests_unit_is_said_where_the_plan_predicts_revenue(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The calibration's lift tests measure the KPI, conversions, but a plan of the family predicts lifts in revenue
    (``lift_design.csv``'s ``predicted_lift``: the value of a conversion times its conversions). The plan's
    advice to feed the measured lifts back to ``calibrate --lift-tests`` and ``fit.md`` said nothing of the unit: a
    lift measured as revenue would be taken as that many conversions (40 times too many here)."""
    data = _data(tmp_path, noise_sd=300.0)  # draws that differ: tests worth running
    code, out, err = _calibrate(capsys, data, tmp_path / "fit", "--revenue-per-kpi", "40", "--draws", "12")
    assert code == 0, out + err
    assert "lift tests (--lift-tests) are in conversions" in (tmp_path / "fit" / "fit.md").read_text()
    code, text, err = run_cli(capsys, "plan", str(tmp_path / "fit" / "family.yaml"), "--history",
                              str(tmp_path / "fit" / "history.csv"), "--out", str(tmp_path / "plan"), "--no-plots")
    assert code == 0, text + err
    assert (tmp_path / "plan" / "lift_design.csv").exists()
    line = next(s for s in text.splitlines() if s.startswith("lift tests to run next"))
    assert "delta_y in conversions (predicted_lift is revenue: divide it by the channel's value" in line, line


def test_a_conversions_kpi_planned_as_revenue_reports_its_conversions_and_cpa(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """``--revenue-per-kpi`` records ``kpi: conversions`` in family.yaml (the KPI counted conversions; the reward
    is revenue): the printed plan table then has expected conversions and CPA beside revenue and ROAS, each
    channel's conversions its revenue over the value of a conversion, and summary.json says ``kpi``. A family
    without the field (``--reward conversions`` keeps it too, but its table is in conversions already) has no
    such columns, and a default ``kpi`` is left out of a scenario's JSON dump (config hashes unchanged)."""
    import yaml

    from budgetgym.planner.plan_text import fmt

    data = _data(tmp_path)
    code, out, err = _calibrate(capsys, data, tmp_path / "fit", "--revenue-per-kpi", "40")
    assert code == 0, out + err
    assert yaml.safe_load((tmp_path / "fit" / "family.yaml").read_text())["scenario"]["kpi"] == "conversions"
    plan = tmp_path / "plan"
    code, text, err = run_cli(capsys, "plan", str(tmp_path / "fit" / "family.yaml"), "--history",
                              str(tmp_path / "fit" / "history.csv"), "--out", str(plan), "--no-plots")
    assert code == 0, text + err
    assert json.loads((plan / "summary.json").read_text())["kpi"] == "conversions"
    header = next(line for line in text.splitlines() if "expected revenue" in line)
    assert "expected conversions" in header and "CPA" in header and "ROAS" in header, header
    ch = pd.read_csv(plan / "channels.csv")
    np.testing.assert_allclose(ch["conversions"], ch["revenue"] / 40.0, rtol=1e-12)
    row = next(line for line in text.splitlines() if line.strip().startswith("a "))
    assert fmt(ch["cpa"][0], 2) in row, row
    # no kpi: no such columns, and the dump is as before
    sc = load_family(tmp_path / "fit" / "family.yaml").nominal()
    assert sc.kpi == "conversions" and sc.model_dump(mode="json")["kpi"] == "conversions"
    plain = sc.override({"kpi": "none"})
    assert "kpi" not in plain.model_dump(mode="json")
    from budgetgym.planner import plan as make_plan
    from budgetgym.planner.plan_text import channel_rows

    assert "expected conversions" not in channel_rows(make_plan(plain, curves=False, lift_design="none"))[0]


def test_kpi_conversions_with_a_response_in_currency_is_one_line(tmp_path: Path) -> None:
    """``kpi: conversions`` says the response counts conversions; ``response_unit: currency`` that it is revenue
    itself: together a one-line error naming the field."""
    from budgetgym.envs.errors import ScenarioError
    from budgetgym.envs.scenario import load_scenario, scenario_from_dict

    d = load_scenario("seasonal-5").override({"reward": "revenue", **{
        f"channels.{c}.value.mean": 1.0 for c in load_scenario("seasonal-5").channel_names}}).model_dump(mode="json")
    d.update(response_unit="currency", kpi="conversions")
    with pytest.raises(ScenarioError) as err:
        scenario_from_dict(d, source="scenario file 'x.yaml'")
    assert str(err.value).startswith("scenario file 'x.yaml': kpi: expected none with response_unit: currency")
    assert "\n" not in str(err.value)
