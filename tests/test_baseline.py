"""The KPI baseline: its equation by hand, the env reporting it without rewarding it, and scenarios
without one unchanged (streams and serialised form)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from budgetgym.envs import ChannelBudgetEnv, ScenarioError, load_scenario
from budgetgym.envs.baseline import baseline_path
from budgetgym.envs.scenario_parts import BaselineConfig

CONFIG = {
    "level": 200.0,
    "trend": 0.365,  # +36.5% a year: +0.1% a day
    "seasonality": {"weekly_amplitude": 0.2, "weekly_peak": 4.0},
    "controls": [{"name": "competitor", "effect": -30.0, "mean": 1.0, "sd": 0.5, "autocorrelation": 0.6}],
    "noise_sd": 0.1,
}


def test_nominal_baseline_by_hand() -> None:
    cfg = BaselineConfig.model_validate(CONFIG)
    days = 10.0 + np.arange(5.0)
    b = baseline_path(cfg, days, None)
    for t, d in enumerate(days):
        season = 1 + 0.2 * math.cos(2 * math.pi * (d - 4.0) / 7)
        by_hand = 200.0 * (1 + 0.365 * t / 365.25) * season - 30.0 * 1.0  # control at its mean
        assert b.expected[t] == pytest.approx(by_hand, rel=1e-12)
    np.testing.assert_array_equal(b.realised, b.expected)  # no noise on the nominal path


def test_drawn_controls_and_noise_by_hand() -> None:
    cfg = BaselineConfig.model_validate(CONFIG)
    days = np.arange(6.0)
    b = baseline_path(cfg, days, np.random.default_rng(7))
    rng = np.random.default_rng(7)
    eta = rng.standard_normal((6, 1))[:, 0]
    eps = rng.standard_normal(6)
    u = [eta[0]]
    for t in range(1, 6):
        u.append(0.6 * u[-1] + math.sqrt(1 - 0.36) * eta[t])
    z = 1.0 + 0.5 * np.array(u)
    np.testing.assert_allclose(b.controls[:, 0], z, rtol=1e-12)
    season = 1 + 0.2 * np.cos(2 * np.pi * (days - 4.0) / 7)
    expected = 200.0 * (1 + 0.365 * days / 365.25) * season - 30.0 * z
    np.testing.assert_allclose(b.expected, expected, rtol=1e-12)
    np.testing.assert_allclose(b.realised, expected * np.exp(0.1 * eps - 0.005), rtol=1e-12)


def test_baseline_floored_at_zero() -> None:
    cfg = BaselineConfig.model_validate({"level": 10.0, "trend": -1.0})
    b = baseline_path(cfg, np.array([0.0, 365.25, 800.0]), None)
    np.testing.assert_allclose(b.expected, [10.0, 0.0, 0.0], atol=1e-12)


@pytest.mark.parametrize("name", ["stationary-3", "delayed-5"])
def test_env_reports_the_baseline_and_never_rewards_it(name: str) -> None:
    plain = load_scenario(name)
    with_base = plain.override({"baseline": CONFIG})
    runs = []
    for sc in (plain, with_base):
        env = ChannelBudgetEnv(sc)
        env.reset(seed=3)
        infos = [env.step(np.zeros(env.action_space.shape, dtype=np.float32))[4] for _ in range(sc.horizon)]
        runs.append((env, infos))
    (_, a), (env_b, b) = runs
    assert [i["reward"] for i in a] == [i["reward"] for i in b]  # same seed, same rewards
    assert "baseline" not in a[0]
    base = env_b.path.baseline
    assert base is not None
    for t, info in enumerate(b):
        kpi = info["conversions"].sum() if with_base.reward == "conversions" else info["revenue"].sum()
        assert info["kpi"] == pytest.approx(kpi + info["baseline"], rel=1e-12)
        assert info["baseline"] == base.realised[t]
        assert info["baseline_expected"] == base.expected[t]
        assert info["controls"] == {"competitor": base.controls[t, 0]}
    if with_base.reward == "conversions":  # counts around the log-normal baseline
        assert all(float(i["baseline"]).is_integer() for i in b)


def test_scenarios_without_baseline_keep_their_serialised_form() -> None:
    sc = load_scenario("stationary-5")
    assert "baseline" not in sc.model_dump(mode="json")
    assert "baseline" in sc.override({"baseline": {"level": 1.0}}).model_dump(mode="json")


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"level": -1.0}, "baseline.level"),
        ({"level": 1.0, "controls": [{"name": "a", "effect": 1.0}, {"name": "a", "effect": 2.0}]}, "unique"),
        ({"level": 1.0, "noise": 0.1}, "baseline.noise"),
    ],
)
def test_bad_baseline_one_line(change: dict, message: str) -> None:
    with pytest.raises(ScenarioError, match=message) as err:
        load_scenario("stationary-3").override({"baseline": change})
    assert "\n" not in str(err.value)
