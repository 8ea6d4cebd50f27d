"""The experiment-file reference (configs/experiments/README.md) cannot drift from the models:
every field is documented, the documented defaults are the models' defaults, and the complete
example validates."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml
from pydantic import BaseModel

from budgetgym.experiments.config import (
    AgentSpec,
    BootstrapConfig,
    ExperimentConfig,
    ScenarioSpec,
    experiment_from_dict,
)

ROOT = Path(__file__).resolve().parents[1]
DOC = (ROOT / "configs" / "experiments" / "README.md").read_text(encoding="utf-8")
SECTIONS = {
    ExperimentConfig: "## Top level",
    ScenarioSpec: "## Scenarios",
    AgentSpec: "## Agents",
    BootstrapConfig: "## Bootstrap",
}


def table_rows(heading: str) -> dict[str, list[str]]:
    """``key -> cells`` of the first table after ``heading``."""
    body = DOC.split(heading + "\n", 1)[1].split("\n## ", 1)[0]
    rows = {}
    for line in body.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        match = re.fullmatch(r"`(\w+)`", cells[0]) if line.startswith("|") else None
        if match:
            rows[match.group(1)] = cells
    return rows


@pytest.mark.parametrize("model", list(SECTIONS), ids=lambda m: m.__name__)
def test_every_field_is_documented_with_its_default(model: type[BaseModel]):
    rows = table_rows(SECTIONS[model])
    assert set(rows) == set(model.model_fields)
    for name, info in model.model_fields.items():
        default = rows[name][2]
        if info.is_required():
            assert default == "required", name
        elif re.fullmatch(r"`[^`]*`", default):  # a literal: the model's default
            value = info.default_factory() if info.default_factory is not None else info.default  # type: ignore[call-arg]
            assert yaml.safe_load(default.strip("`")) == value, name
        else:
            assert default != "required", name


def test_the_complete_example_validates():
    text = re.search(r"## A complete example\n\n```yaml\n(.*?)```", DOC, flags=re.S).group(1)
    cfg = experiment_from_dict(yaml.safe_load(text), source="doc example")
    assert [a.name for a in cfg.agents] == ["equal", "ucb1-wide", "proportional", "ppo"]
    assert cfg.seeds == [0, 1, 2, 3, 4]


def test_readme_describes_the_results_directory_and_the_options():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    for needle in ["`poi.csv`", "`oracle/<scenario>/`", "--no-progress", "configs/experiments/README.md",
                   "pip install torch --index-url https://download.pytorch.org/whl/cpu"]:
        assert needle in readme, needle
