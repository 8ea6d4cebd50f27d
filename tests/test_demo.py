"""``python -m budgetgym.experiments.demo``: equal split vs the oracle on one scenario.

The demo's numbers are checked against the library computed independently here: the equal
split is written out by hand (``B/T`` per step, a third to each channel), its value and the
oracle's come from :func:`budgetgym.envs.evaluate_plan` and :func:`budgetgym.envs.solve_oracle`,
and on a noise-free copy of stationary-3 the realised rewards of the played episodes must equal
the expected ones.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest
import yaml

from budgetgym.envs import Scenario, evaluate_plan, load_scenario, solve_oracle
from budgetgym.experiments.demo import main, run_demo

SEED = 3
HORIZON = 6


@pytest.fixture(scope="module")
def scenario() -> Scenario:
    """stationary-3 over 6 steps (same daily budget), without conversion or price noise."""
    return load_scenario("stationary-3").override(
        {
            "name": "demo-3",
            "horizon": HORIZON,
            "budget.total": 6000.0 * HORIZON,
            "noise.conversions": "none",
            **{f"channels.{i}.cost.noise_sd": 0.0 for i in range(3)},
        }
    )


def test_run_demo_numbers_are_the_library_numbers(scenario):
    res = run_demo(scenario, seed=SEED)
    hand = np.full((HORIZON, 3), 6000.0 / 3)  # equal split, B/T per step
    np.testing.assert_allclose(res.equal_plan, hand, rtol=1e-12)
    assert res.equal_expected == pytest.approx(float(evaluate_plan(scenario, hand, seed=SEED)), rel=1e-12)
    oracle = solve_oracle(scenario, seed=SEED)
    assert res.oracle.expected_reward == pytest.approx(oracle.expected_reward, rel=1e-12)
    assert res.oracle.expected_reward > res.equal_expected
    assert res.pct_of_oracle == pytest.approx(100.0 * res.equal_expected / oracle.expected_reward, rel=1e-12)
    assert 80.0 < res.pct_of_oracle < 100.0
    # the plans played through the environment give their expected value step by step...
    assert res.equal_trace.shape == res.oracle_trace.shape == (HORIZON,)
    assert res.equal_trace.sum() == pytest.approx(res.equal_expected, rel=1e-9)
    assert res.oracle_trace.sum() == pytest.approx(oracle.expected_reward, rel=1e-4)  # through logits
    # ...and, without noise, the realised episodes equal the expected ones
    assert res.equal_realised == pytest.approx(res.equal_expected, rel=1e-9)
    assert res.oracle_realised == pytest.approx(res.oracle_trace.sum(), rel=1e-9)


def test_the_command_prints_and_saves_the_same_numbers(scenario, tmp_path, capsys):
    path = tmp_path / "demo-3.yaml"
    path.write_text(yaml.safe_dump(scenario.model_dump(mode="json")))
    out = tmp_path / "out"
    assert main(["--scenario", str(path), "--seed", str(SEED), "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    res = run_demo(scenario, seed=SEED)

    def row(label: str) -> list[float]:
        line = next(line for line in printed.splitlines() if re.match(rf"{label}\s+-?\d", line))
        return [float(x.replace(",", "")) for x in re.findall(r"-?\d[\d,]*\.\d+", line)]

    last_digit = 0.05 + 1e-9  # the table prints one decimal
    equal = [res.equal_expected, res.pct_of_oracle, res.equal_realised]
    np.testing.assert_allclose(row("equal split"), equal, atol=last_digit)
    oracle = [res.oracle.expected_reward, 100.0, res.oracle_realised]
    np.testing.assert_allclose(row("oracle"), oracle, atol=last_digit)
    summary = json.loads((out / "summary.json").read_text())
    assert summary["scenario"] == "demo-3" and summary["seed"] == SEED
    assert summary["equal_expected_reward"] == pytest.approx(res.equal_expected, rel=1e-12)
    assert summary["oracle_expected_reward"] == pytest.approx(res.oracle.expected_reward, rel=1e-12)
    assert summary["equal_pct_of_oracle"] == pytest.approx(res.pct_of_oracle, rel=1e-12)
    spend = summary["oracle_spend_by_channel"]
    assert list(spend) == ["search", "social", "video"]
    assert sum(spend.values()) == pytest.approx(6000.0 * HORIZON, rel=1e-9)  # even pacing spends it all
    for png in ("oracle_allocation.png", "cumulative_reward.png", "response_curves.png"):
        assert (out / png).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", png
    assert not list(out.glob("*.tmp")) and not list(out.glob(".*"))


@pytest.mark.parametrize(
    ("argv", "needle"),
    [(["--seed", "-1"], "--seed"), (["--scenario", "atlantis-9"], "atlantis-9")],
)
def test_bad_input_is_one_line_and_exit_2(tmp_path, capsys, argv, needle):
    assert main([*argv, "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1 and needle in err, err
    assert not Path(tmp_path / "out").exists()


def test_a_misspelt_scenario_gets_a_did_you_mean(tmp_path, capsys):
    """CONTRIBUTING: unknown names get a "did you mean" (the demo listed the scenarios only)."""
    assert main(["--scenario", "stationry-3", "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert err.rstrip("\n").endswith("(did you mean 'stationary-3'?)") and err.count("\n") == 1, err
    assert not Path(tmp_path / "out").exists()


@pytest.mark.parametrize(
    ("argv", "needle"),
    [(["--bogus"], "unrecognized arguments: --bogus"), (["--seed", "abc"], "--seed"), (["--scenario"], "--scenario")],
)
def test_a_usage_error_is_one_line_and_exit_2(tmp_path, capsys, argv, needle):
    """CONTRIBUTING: a usage error is one line, as in every budgetgym command (argparse printed a usage block)."""
    assert main([*argv, "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1 and needle in err, err
    assert "--help" in err and not Path(tmp_path / "out").exists()
