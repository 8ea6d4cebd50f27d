"""simulate -> calibrate -> plan: a noise-free dataset simulated through the environment is fitted
back to the parameters that generated it, and the fitted family plans like the truth."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from budgetgym.calibration import calibrate
from budgetgym.envs import Scenario, evaluate_plan, scenario_from_dict, solve_oracle
from budgetgym.envs.family import family_from_dict
from budgetgym.experiments.simulate import SimulatedDataset, simulate_dataset, write_dataset
from budgetgym.planner import plan

TRUE = [  # decay, max_response (revenue per week), half_saturation (spend per week), slope
    ("search", 0.3, 60_000.0, 9_000.0, 1.0),
    ("social", 0.5, 30_000.0, 12_000.0, 1.5),
    ("video", 0.1, 25_000.0, 40_000.0, 0.8),  # within the fit's bounds: kappa >= 0.05 x typical exposure
]


def truth() -> object:
    channels = [
        {"name": n, "cost": {"unit": "click", "price": 1.0, "ref_spend": 1e6, "elasticity": 0.0, "noise_sd": 0.0},
         "adstock": {"type": "geometric", "decay": d},
         "saturation": {"type": "hill", "max_response": b, "half_saturation": k, "slope": s}}
        for n, d, b, k, s in TRUE
    ]
    return scenario_from_dict({
        "name": "roundtrip", "horizon": 156, "step_days": 7, "budget": {"total": 156 * 30_000.0},
        "reward": "revenue", "noise": {"conversions": "none"}, "channels": channels,
        "baseline": {"level": 80_000.0, "trend": 0.1,
                     "controls": [{"name": "competitor", "effect": -5_000.0, "autocorrelation": 0.6}]},
    })


def simulate_and_calibrate(sc: Scenario, tmp_path: Path, **options: Any) -> tuple[SimulatedDataset, Any]:
    """156 weeks of ``sc`` under a random flighting (seed 3) written to ``tmp_path/data``, and
    ``calibrate``'s fit of it (4 draws, the next 13 weeks at 30,000 a week) into ``tmp_path/fit``;
    ``options``: more ``calibrate`` keywords."""
    ds = simulate_dataset(sc, 156, "random", seed=3)
    write_dataset(ds, tmp_path / "data")
    res = calibrate(
        tmp_path / "data" / "data.csv", date="date", kpi="revenue", spend="search_spend,social_spend,video_spend",
        controls="competitor", draws=4, seed=0, out=tmp_path / "fit", plots=False, plan_periods=13,
        plan_budget=13 * 30_000.0, **options,
    )
    return ds, res


def plan_share_of_oracle(sc: Scenario, ds: SimulatedDataset, tmp_path: Path) -> float:
    """The plan ``budgetgym plan`` makes on the fit in ``tmp_path/fit`` for the 13 weeks after the
    data (its spend as carry-in), valued under the truth ``sc``, as a share of the true oracle."""
    window = sc.override({"horizon": 13, "budget.total": 13 * 30_000.0, "start_day": 156 * 7, "baseline": None})
    best = solve_oracle(window, history=ds.plan)
    rec = plan(tmp_path / "fit" / "family.yaml", history=tmp_path / "fit" / "history.csv", draws=4, curves=False)
    assert np.isfinite(rec.value)
    return float(evaluate_plan(window, rec.plan, history=ds.plan)) / best.expected_reward


def test_noise_free_round_trip_recovers_the_parameters(tmp_path: Path) -> None:
    sc = truth()
    ds, res = simulate_and_calibrate(sc, tmp_path)
    fitted = family_from_dict(res.family, "fit").nominal()
    for c, (name, decay, beta, kappa, slope) in zip(fitted.channels, TRUE, strict=True):
        assert c.name == name
        assert c.adstock.decay == pytest.approx(decay, rel=1e-5, abs=1e-6)
        assert c.saturation.max_response == pytest.approx(beta, rel=1e-5)
        assert c.saturation.half_saturation == pytest.approx(kappa, rel=1e-5)
        assert c.saturation.slope == pytest.approx(slope, rel=1e-5)
    # the fitted family plans the next quarter (with the data's spend as carry-in) like the truth
    assert plan_share_of_oracle(sc, ds, tmp_path) > 0.999
