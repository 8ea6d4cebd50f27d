"""The planner on small hand-made campaigns whose answer is known by hand or from an independent
solver: curves with a closed-form optimum, profit under agent pacing, and the like."""

from __future__ import annotations

import math
from typing import Any

import pytest

from budgetgym.envs import scenario_from_dict
from budgetgym.planner.plan import plan


def channel(name: str, beta: float, kappa: float, *, slope: float = 1.0, value: float | None = None,
            **extra: Any) -> dict[str, Any]:
    """A click channel at price 1 (one click per unit of currency), no carry-over, no noise, Hill curve
    ``beta * x^slope / (kappa^slope + x^slope)`` conversions per step of ``x`` clicks."""
    ch: dict[str, Any] = {
        "name": name, "cost": {"unit": "click", "price": 1.0, "ref_spend": 1e6, "elasticity": 0.0, "noise_sd": 0.0},
        "adstock": {"type": "geometric", "decay": 0.0, "window": 4},
        "saturation": {"type": "hill", "max_response": beta, "half_saturation": kappa, "slope": slope},
        **extra,
    }
    if value is not None:
        ch["value"] = {"mean": value}
    return ch


def campaign(channels: list[dict[str, Any]], *, horizon: int = 3, total: float = 3000.0, reward: str = "conversions",
             **budget: Any) -> dict[str, Any]:
    return {"name": "hostile", "horizon": horizon, "step_days": 7, "budget": {"total": total, **budget},
            "reward": reward, "noise": {"conversions": "none"}, "channels": channels}


def test_profit_maximising_budget_of_separable_hill_curves_by_hand() -> None:
    """Profit under agent pacing, no carry-over: each step and channel is on its own, and a Hill curve of
    slope 1 pays back while ``v beta kappa / (kappa + x)^2 > 1``, so the best spend per step is
    ``sqrt(v beta kappa) - kappa`` (261.9 on ``a``; none on ``b``, whose ``sqrt(2 * 100 * 300) < 300``) and the
    profit-maximising budget three times it. The budget 3,000 leaves most unspent and its marginal profit is 0
    up to the solver's rounding: the root search's bracket was re-solved with the other sign and
    ``budgetgym plan`` failed with scipy's "f(a) and f(b) must have different signs"."""
    sc = scenario_from_dict(campaign([channel("a", 300, 900, value=5.0), channel("b", 100, 300, value=2.0)],
                                     reward="profit", pacing="agent", max_step_multiple=2.0))
    res = plan(sc, curves=False)
    best = 3 * (math.sqrt(5.0 * 300 * 900) - 900)
    assert res.profit_max is not None
    assert res.profit_max["budget"] == pytest.approx(best, rel=1e-6)
    assert res.plan.sum() == pytest.approx(best, rel=1e-6)
    assert res.plan[:, 1].sum() == pytest.approx(0.0, abs=1e-6 * best)
