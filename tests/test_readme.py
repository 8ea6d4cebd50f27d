"""The README's Python tour runs as written (so the documentation cannot silently rot)."""

from __future__ import annotations

import re
from pathlib import Path

README = Path(__file__).resolve().parents[1] / "README.md"


def test_readme_tour_runs(capsys):
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(encoding="utf-8"), flags=re.S)
    assert blocks, "README.md has no python block"
    namespace: dict = {}
    exec(compile(blocks[0], "README.md (tour)", "exec"), namespace)  # noqa: S102 - our own docs
    printed = capsys.readouterr().out
    assert "stationary-5" in printed  # list_scenarios()
    pct = float(re.search(r"equal split: ([0-9.]+)% of oracle", printed).group(1))
    assert 80.0 < pct < 100.0  # the equal split is feasible but clearly below the oracle
    assert namespace["oracle"].expected_reward > namespace["expected"]


def test_readme_test_command_is_what_ci_runs():
    text = README.read_text(encoding="utf-8")
    ci = (README.parent / ".ci" / "run").read_text(encoding="utf-8")
    assert "<!-- ci:test-command" in text and "ci:test-command" in ci
