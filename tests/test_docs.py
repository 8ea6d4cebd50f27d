"""The experiment-file reference (configs/experiments/README.md) cannot drift from the models:
every field is documented, the documented defaults are the models' defaults, and the complete
example validates. The other documents (CONTRIBUTING.md, configs/README.md, benchmarks/README.md,
examples/github-actions.yml) name only commands, options and benchmark options that exist."""

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


def test_the_docs_say_how_ppo_training_picks_a_familys_train_draws():
    """train_ppo's docstring and this README said every training episode is a new train draw; the default
    (batched) training plays a pool of train draws, each episode one chosen at random (so they repeat), of
    the config's draw_pool, by default one per training episode and at most MAX_DRAW_POOL."""
    from budgetgym.agents.ppo_config import PPOConfig
    from budgetgym.agents.ppo_training import MAX_DRAW_POOL, train_ppo

    assert PPOConfig().vec_env == "batched"  # the default the docs describe first
    runs = " ".join(DOC.split("- **Runs.**", 1)[1].split("\n- **", 1)[0].split())
    doc = " ".join((train_ppo.__doc__ or "").split())
    for text in (runs, doc):
        assert "new train draw" not in text.split("per_env")[0] and "is then a new draw" not in text
        assert "pool of train draws" in text and "draw_pool" in text and f"{MAX_DRAW_POOL:,}" in text
        assert "one per training episode" in text and "at least n_envs" in text.replace("`", "")


def test_readme_describes_the_results_directory_and_the_options():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    for needle in ["`poi.csv`", "`oracle/<scenario>/`", "--no-progress", "configs/experiments/README.md",
                   "pip install torch --index-url https://download.pytorch.org/whl/cpu"]:
        assert needle in readme, needle


# --- the other documents: CONTRIBUTING.md, configs/README.md, benchmarks/README.md and the CI example ---

OTHER_DOCS = ["CONTRIBUTING.md", "configs/README.md", "benchmarks/README.md", "examples/github-actions.yml"]


def _command_lines(text: str, yaml_file: bool) -> list[str]:
    """Lines of fenced blocks (backslash continuations joined) and inline code spans; of a YAML file,
    its ``run:`` lines and indented comment lines that start with ``budgetgym``."""
    lines = [line for block in re.findall(r"```\w*\n(.*?)```", text, flags=re.S)
             for line in block.replace("\\\n", " ").splitlines()]
    lines += re.findall(r"`([^`\n]+)`", text)
    if yaml_file:
        lines += [line for line in text.splitlines() if re.match(r"\s*(?:run:\s*|#\s{2,})budgetgym\s", line)]
    return lines


def _budgetgym_commands(doc: str) -> list[tuple[str, list[str]]]:
    text = (ROOT / doc).read_text(encoding="utf-8")
    out = []
    for line in _command_lines(text, doc.endswith(".yml")):
        for m in re.finditer(r"(?<![\w/.-])budgetgym\s+([a-z]+)\b([^#`|;&]*)", line):
            out.append((m.group(1), re.findall(r"(?<![\w-])--[a-z][a-z-]*", m.group(2))))
    return out


@pytest.mark.parametrize("doc", OTHER_DOCS)
def test_every_budgetgym_command_and_option_in_the_other_docs_exists(doc, capsys):
    from budgetgym.experiments.cli import main

    commands = _budgetgym_commands(doc)
    assert commands, doc
    helps: dict[str, str] = {}
    for command, options in commands:
        if command not in helps:
            code = main([command, "--help"])
            helps[command] = capsys.readouterr().out
            assert code == 0, f"{doc} names `budgetgym {command}`, which is not a command"
        for option in options:
            assert re.search(rf"{re.escape(option)}(?![\w-])", helps[command]), \
                f"{doc}: `budgetgym {command} {option}` is not an option"


def test_benchmark_command_lines_name_existing_scripts_and_options():
    """Every ``python benchmarks/bench_x.py --opt ...`` line of benchmarks/README.md (and every
    ``bench_x.py --opt`` in its prose) names a script that exists and options that script defines."""
    text = (ROOT / "benchmarks" / "README.md").read_text(encoding="utf-8")
    uses = re.findall(r"(bench_\w+\.py)((?:[ \t]+(?:--[a-z][\w-]*|[^\s#`-][^\s#`]*))*)", text)
    checked = 0
    for script, args in uses:
        path = ROOT / "benchmarks" / script
        assert path.is_file(), f"benchmarks/README.md names {script}, which does not exist"
        source = path.read_text(encoding="utf-8")
        for option in re.findall(r"(?<![\w-])--[a-z][\w-]*", args):
            assert f'"{option}"' in source, f"benchmarks/README.md: `{script} {option}` is not an option"
            checked += 1
    assert checked >= 30, checked


def test_contributing_names_what_the_lint_and_type_checks_cover():
    contributing = (ROOT / "CONTRIBUTING.md").read_text(encoding="utf-8")
    typecheck = (ROOT / "tools" / "typecheck").read_text(encoding="utf-8")
    checked = set(re.findall(r"-p budgetgym\.(\w+)", typecheck))
    row = next(line for line in contributing.splitlines() if line.startswith("| types |"))
    assert set(re.findall(r"`(\w+)/`", row)) == checked, (row, checked)
    tomllib = pytest.importorskip("tomllib")
    length = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["ruff"]["line-length"]
    assert f"lines of at most {length} characters" in contributing


def test_every_pip_extra_the_docs_name_exists():
    """``pip install -e ".[a,b]"``, ``budgetgym[a]``, "extra `a`" and "the `a` extra" in any document
    name extras of pyproject.toml."""
    tomllib = pytest.importorskip("tomllib")
    extras = set(tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"])
    named = set()
    for doc in ["README.md", "configs/experiments/README.md", *OTHER_DOCS]:
        text = (ROOT / doc).read_text(encoding="utf-8")
        groups = re.findall(r"(?:\.|budgetgym)\[([\w,-]+)\]", text)
        groups += re.findall(r"\bextra `([\w-]+)`|`([\w-]+)` extra\b", text)
        for group in groups:
            for part in group if isinstance(group, tuple) else (group,):
                named |= {e for e in part.split(",") if e}
    assert {"rl", "dev", "segments", "mmm", "ray"} <= named, named
    assert named <= extras, named - extras
