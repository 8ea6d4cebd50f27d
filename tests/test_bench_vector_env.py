"""benchmarks/bench_vector_env.py's ``family-ppo`` section (its training is replaced by a recorder: the
section's own code, not PPO, is what this checks)."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

import pytest

BENCH = Path(__file__).resolve().parents[1] / "benchmarks" / "bench_vector_env.py"


def test_the_family_ppo_section_runs_at_a_smoke_size(monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    """The section hard-coded 1,000,000 steps per run (two runs), so it could not be smoke-run and never
    was; ``--family-steps`` sets the steps of both runs and the header says them."""
    spec = importlib.util.spec_from_file_location("bench_vector_env_under_test", BENCH)
    assert spec is not None and spec.loader is not None
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    calls: list[tuple[str, dict[str, Any]]] = []

    def recorded(scenario: str, config: dict[str, Any]) -> tuple[float, float, int]:
        calls.append((scenario, config))
        return 2.0, 1.0, int(config["total_timesteps"])

    monkeypatch.setattr(bench, "_train", recorded)
    assert bench.main(["--sections", "family-ppo", "--family-steps", "512"]) == 0
    assert [(s, c["total_timesteps"]) for s, c in calls] == [("retail-5-family", 512)] * 2
    assert calls[1][1]["vec_env"] == "dummy"  # the second run: the settings before issue 12
    out = capsys.readouterr().out
    assert "retail-5-family, 512 steps" in out and out.count("256 steps/s") == 2
