"""Units invariance: a campaign stated in other units of money (cents, millions) or of KPI (units,
thousands) gets the same plan, scores and fitted curves, in its own units.

Expected values come from theory: multiplying every amount of currency of a scenario by ``c`` (budget,
prices, reference spends, planned prices, values per conversion, target CPA; the baseline's level and
effects when the KPI is money) multiplies every spend by ``c``, leaves the exposure, and so the
conversions, unchanged and multiplies a revenue or profit by ``c``. Every share, ratio and "% of
oracle" is then the same. Likewise a marketing-mix model fitted to spend times ``c_s`` (exposure times
``c_e``) and a KPI times ``c_k`` has its half-saturation times ``c_s`` (``c_e``), its ``max_response``
times ``c_k`` and the same carry-over and slope. The tolerances are the solvers' (1e-9 for the oracle's
shares, 1e-6 relative for a fit's parameters), far below any difference of units a constant in
absolute units made (the oracle's former 1e-12 floor, the fit's absolute gradient test)."""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from mmm_synth import Truth, flighted_spend, synthesize

from budgetgym.agents.base import make_agent
from budgetgym.agents.evaluation import evaluate
from budgetgym.calibration.calibrate import calibrate
from budgetgym.envs.family import family_from_dict
from budgetgym.envs.oracle import solve_oracle
from budgetgym.envs.scenario import Scenario, load_scenario, scenario_from_dict
from budgetgym.experiments.simulate import simulate_dataset
from budgetgym.planner import plan
from budgetgym.planner.plan_text import channel_rows, fmt, header_line


def in_currency(sc: Scenario, c: float) -> Scenario:
    """``sc`` with every amount of currency times ``c`` (module docstring)."""
    d: dict[str, Any] = sc.model_dump(mode="python")
    d["budget"]["total"] *= c
    for ch in d["channels"]:
        for key in ("price", "ref_spend", "planned_price"):
            if ch["cost"].get(key) is not None:
                ch["cost"][key] *= c
        if not d.get("segments"):
            ch["value"]["mean"] *= c
    for seg in d.get("segments") or []:
        seg["value"]["mean"] *= c
    if d.get("target_cpa") is not None:
        d["target_cpa"] *= c
    if d.get("baseline") and d["reward"] != "conversions":
        d["baseline"]["level"] *= c
        for control in d["baseline"]["controls"]:
            control["effect"] *= c
    return scenario_from_dict(d)


def step_shares(plan_: np.ndarray) -> np.ndarray:
    """Each step's split, on the steps that spend at least 1e-6 of the largest step (a step that spends
    almost nothing has a split no solver pins down)."""
    steps = plan_.sum(axis=1)
    keep = steps >= 1e-6 * steps.max()
    return plan_[keep] / steps[keep, None]


# ------------------------------------------------------------------ (a) a scenario in other currency units
@pytest.mark.parametrize(
    "name, c",
    [("stationary-3", 1e-6), ("stationary-3", 1e6),  # conversions, even pacing
     ("shock-5", 1e-6), ("shock-5", 1e6),  # profit (the reward is money, spend is subtracted), price shocks
     ("holiday-5", 1e-6), ("holiday-5", 1e6),  # revenue, agent pacing (a CPC of 0.7 in millions)
     ("stationary-3", 1e-9), ("shock-5", 1e-9),
     ("overlap-5", 1e-6)],  # audience segments, their values per conversion
)
def test_oracle_and_scores_do_not_depend_on_the_currency(name: str, c: float, shared_oracle: Any) -> None:
    sc = load_scenario(name)
    scaled = in_currency(sc, c)
    base, other = shared_oracle(sc), solve_oracle(scaled)  # the campaign as given: solved once for every c
    money = 1.0 if sc.reward == "conversions" else c
    assert other.expected_reward == pytest.approx(money * base.expected_reward, rel=1e-9)
    np.testing.assert_allclose(other.step_spend / c, base.step_spend, rtol=0, atol=1e-9 * sc.step_budget)
    np.testing.assert_allclose(step_shares(other.plan), step_shares(base.plan), rtol=0, atol=1e-6)
    for agent in ("equal", "oracle"):
        pct = [_pct_of_oracle(name, agent), _pct_of_oracle(name, agent, c)]
        assert pct[1] == pytest.approx(pct[0], abs=1e-7)


@cache
def _pct_of_oracle(name: str, agent: str, c: float | None = None) -> float:
    """``agent``'s % of the oracle on the built-in campaign ``name`` (in currency ``c``; None: as given, scored
    once for every ``c`` of the test above)."""
    sc = load_scenario(name) if c is None else in_currency(load_scenario(name), c)
    return evaluate(make_agent(agent, sc), sc, seeds=[0])[0].pct_of_oracle


@cache
def _shock_plan(c: float) -> Any:
    return plan(in_currency(load_scenario("shock-5"), c), curves=False, sweep="0.5:1.5:3")


@pytest.mark.parametrize("c", [1e-9, 1e-6, 1e6])
def test_planner_recommends_the_same_split_in_any_currency(c: float) -> None:
    sc = load_scenario("shock-5")  # profit: the budget marginal and the frontier's spend depend on the units
    base, other = _shock_plan(1.0), _shock_plan(c)
    np.testing.assert_allclose(other.plan / c, base.plan, rtol=1e-7, atol=1e-9 * sc.step_budget)
    np.testing.assert_allclose(other.static_shares, base.static_shares, rtol=0, atol=1e-7)
    assert other.value == pytest.approx(c * base.value, rel=1e-9)
    assert other.budget_marginal["mroas"] == pytest.approx(base.budget_marginal["mroas"], rel=1e-6)
    assert other.budget_marginal["mcpa"] == pytest.approx(c * base.budget_marginal["mcpa"], rel=1e-6)
    assert other.frontier is not None and base.frontier is not None
    np.testing.assert_allclose(other.frontier["spend"] / c, base.frontier["spend"], rtol=1e-7)
    np.testing.assert_allclose(other.frontier["mroas"], base.frontier["mroas"], rtol=1e-6)


def test_plan_table_shows_tiny_amounts_instead_of_zeros() -> None:
    """A budget of 1e-9 of the base currency: the table's spend and outcome cells and the header's
    budget print to 3 significant digits (they printed 0), a channel the plan leaves dark still 0."""
    base, other = _shock_plan(1.0), _shock_plan(1e-9)
    _, base_rows = channel_rows(base)
    _, rows = channel_rows(other)
    for brow, row, spend in zip(base_rows, rows, [*base.channels["spend"], base.budget], strict=True):
        if brow[1] == "0":
            assert row[1] == "0"
        else:
            assert float(row[1]) == pytest.approx(1e-9 * spend, rel=5e-3), (brow, row)
        assert float(row[3].replace(",", "")) == pytest.approx(1e-9 * float(brow[3].replace(",", "")), rel=5e-3)
    assert f"budget {float(1e-9 * base.budget):.3g} " in header_line(other)
    assert fmt(1e-13, 0, scale=1.0) == "0" and fmt(2e-6, 0, scale=1.0) == "2e-06"


# ------------------------------------------------------------- (b) calibrate with spend and KPI in other units
def _plan_shares(result: Any) -> np.ndarray:
    family = family_from_dict(result.family)
    history = result.history[[c for c in result.history.columns if c != "date"]].to_numpy()
    recommended = plan(family, history=history, curves=False, lift_design="none").plan
    return recommended.sum(axis=0) / recommended.sum()


@pytest.fixture(scope="module")
def synthetic(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, pd.DataFrame, Any, np.ndarray]:
    """Two years of weekly revenue from three channels bought by the impression (known truth, noise)."""
    rng = np.random.default_rng(3)
    spend = flighted_spend(104, [2000.0, 1500.0, 800.0], rng)
    exposure = spend / np.array([5.0, 2.0, 12.0]) * 1000
    truth = Truth(beta=np.array([6000.0, 4000.0, 2500.0]), kappa=np.array([6e5, 5e5, 2.4e5]),
                  slope=np.array([1.0, 1.4, 0.8]), theta=np.array([0.5, 0.3, 0.6]))
    folder = tmp_path_factory.mktemp("units")
    synthesize(folder / "base.csv", truth, spend, noise_sd=300.0, seed=1, exposure=exposure)
    frame = pd.read_csv(folder / "base.csv")
    base = _calibrate(folder, frame, 1.0, 1.0, 1.0)
    return folder, frame, base, _plan_shares(base)


def _calibrate(folder: Path, frame: pd.DataFrame, spend: float, kpi: float, exposure: float) -> Any:
    data = frame.copy()
    spend_cols = [c for c in data.columns if c.endswith("_spend")]
    expo_cols = [c for c in data.columns if c.endswith("_impressions")]
    data[spend_cols] *= spend
    data[expo_cols] *= exposure
    data["revenue"] *= kpi
    path = folder / f"s{spend:g}_k{kpi:g}_e{exposure:g}.csv"
    data.to_csv(path, index=False)
    return calibrate(path, date="date", kpi="revenue", spend=spend_cols, exposure=expo_cols, draws=5, seed=0,
                     plots=False)


@pytest.mark.parametrize("spend, kpi, exposure",
                         [(1e-5, 1e6, 1e-6), (1e-8, 1.0, 1e-9), (1e6, 1e6, 1e6), (1.0, 1e-6, 1.0)])
def test_calibrated_curves_and_plan_do_not_depend_on_the_units(
    synthetic: tuple[Path, pd.DataFrame, Any, np.ndarray], spend: float, kpi: float, exposure: float
) -> None:
    folder, frame, base, base_shares = synthetic
    other = _calibrate(folder, frame, spend, kpi, exposure)
    assert other.errors.as_dict()["r2"] == pytest.approx(base.errors.as_dict()["r2"], abs=1e-8)
    units = {"kappa": exposure, "beta": kpi, "typical_response": kpi, "contribution": kpi,
             "contribution_per_spend": kpi / spend, "decay": 1.0, "slope": 1.0}
    for parameter, unit in units.items():
        rows = base.parameters.parameter == parameter
        for column in ("estimate", "low", "high"):
            np.testing.assert_allclose(other.parameters.loc[rows, column].to_numpy() / unit,
                                       base.parameters.loc[rows, column].to_numpy(), rtol=1e-5,
                                       err_msg=f"{parameter} {column}")
    np.testing.assert_allclose(_plan_shares(other), base_shares, rtol=0, atol=1e-6)


# ------------------------------------------------------------------- (c) simulate -> calibrate -> plan
def test_simulate_calibrate_plan_in_tiny_and_huge_currency(tmp_path: Path) -> None:
    sc = load_scenario("stationary-3")
    shares = []
    for c in (1.0, 1e-6, 1e6):
        dataset = simulate_dataset(in_currency(sc, c), 104, plan="random", seed=3)
        path = tmp_path / f"data_{c:g}.csv"
        dataset.data.to_csv(path, index=False)
        spend = [col for col in dataset.data.columns if col.endswith("_spend")]
        exposure = [col for col in dataset.data.columns if col.endswith(("_impressions", "_clicks"))]
        result = calibrate(path, date="date", kpi=dataset.kpi, spend=spend, exposure=exposure, draws=0, seed=0,
                           plots=False, plan_periods=sc.horizon, plan_budget=c * sc.budget.total)
        shares.append(_plan_shares(result))
    np.testing.assert_allclose(shares[1], shares[0], rtol=0, atol=1e-6)
    np.testing.assert_allclose(shares[2], shares[0], rtol=0, atol=1e-6)
