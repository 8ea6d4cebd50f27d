"""simulate -> calibrate -> plan: a noise-free dataset simulated through the environment is fitted
back to the parameters that generated it, and the fitted family plans like the truth."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from budgetgym.calibration import calibrate
from budgetgym.envs import evaluate_plan, scenario_from_dict, solve_oracle
from budgetgym.envs.family import family_from_dict
from budgetgym.experiments.simulate import simulate_dataset, write_dataset
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


def test_noise_free_round_trip_recovers_the_parameters(tmp_path: Path) -> None:
    sc = truth()
    ds = simulate_dataset(sc, 156, "random", seed=3)
    write_dataset(ds, tmp_path / "data")
    res = calibrate(
        tmp_path / "data" / "data.csv", date="date", kpi="revenue", spend="search_spend,social_spend,video_spend",
        controls="competitor", draws=4, seed=0, out=tmp_path / "fit", plots=False, plan_periods=13,
        plan_budget=13 * 30_000.0,
    )
    fitted = family_from_dict(res.family, "fit").nominal()
    for c, (name, decay, beta, kappa, slope) in zip(fitted.channels, TRUE, strict=True):
        assert c.name == name
        assert c.adstock.decay == pytest.approx(decay, rel=1e-5, abs=1e-6)
        assert c.saturation.max_response == pytest.approx(beta, rel=1e-5)
        assert c.saturation.half_saturation == pytest.approx(kappa, rel=1e-5)
        assert c.saturation.slope == pytest.approx(slope, rel=1e-5)
    # the fitted family plans the next quarter (with the data's spend as carry-in) like the truth
    window = sc.override({"horizon": 13, "budget.total": 13 * 30_000.0, "start_day": 156 * 7, "baseline": None})
    hist = ds.plan
    best = solve_oracle(window, history=hist)
    rec = plan(tmp_path / "fit" / "family.yaml", history=tmp_path / "fit" / "history.csv", draws=4, curves=False)
    value = float(evaluate_plan(window, rec.plan, history=hist))
    assert value / best.expected_reward > 0.999
    assert np.isfinite(rec.value)
