"""The scenario schema reference (configs/README.md) cannot drift from the pydantic models: every
field table lists exactly its model's fields, a literal default is the model's default, "required"
marks exactly the required fields, and a numeric range written as ``lo – hi`` (or with ``≤``, ``<``,
``>``) is the model's bound."""

from __future__ import annotations

import re
from pathlib import Path
from typing import get_args

import pytest
import yaml
from pydantic import BaseModel

from budgetgym.envs import load_scenario
from budgetgym.envs import scenario_parts as parts
from budgetgym.envs.family import FamilyFile, family_from_dict
from budgetgym.envs.scenario import Scenario

ROOT = Path(__file__).resolve().parents[1]
DOC = (ROOT / "configs" / "README.md").read_text(encoding="utf-8")
LINES = DOC.splitlines()

# model -> the fields its table leaves out on purpose (the variant's discriminator is its heading)
MODELS: dict[type[BaseModel], set[str]] = {
    Scenario: set(),
    parts.BudgetConfig: set(),
    parts.ChannelConfig: set(),
    parts.CostConfig: set(),
    parts.GeometricAdstock: {"type"},
    parts.WeibullAdstock: set(),
    parts.HillSaturation: {"type"},
    parts.LogisticSaturation: {"type"},
    parts.GeometricDelay: {"type"},
    parts.GammaDelay: {"type"},
    parts.ValueConfig: set(),
    parts.SeasonalComponent: set(),
    parts.DriftConfig: set(),
    parts.ShockConfig: set(),
    parts.NoiseConfig: set(),
    parts.BaselineConfig: set(),
    parts.ControlConfig: set(),
    parts.SegmentConfig: set(),
    parts.ActionConfig: set(),
    FamilyFile: set(),
}
# the table of SeasonalComponent's fields follows the text naming SeasonalityConfig
ANCHOR = {parts.SeasonalComponent: "SeasonalityConfig"}


def _cells(line: str) -> list[str]:
    """A markdown table row's cells (``\\|`` inside a cell is not a separator)."""
    return [c.strip().replace("\\|", "|") for c in re.split(r"(?<!\\)\|", line.strip().strip("|"))]


def field_table(model: type[BaseModel]) -> dict[str, list[str]]:
    """``field -> cells`` of the first ``| Field |`` table after the first "model `Name`" mention."""
    name = ANCHOR.get(model, model.__name__)
    start = next(i for i, line in enumerate(LINES) if re.search(rf"[Mm]odel `{name}`", line))
    i = next(j for j in range(start, len(LINES)) if LINES[j].startswith("| Field |"))
    rows: dict[str, list[str]] = {}
    for line in LINES[i + 2:]:
        if not line.startswith("|"):
            break
        cells = _cells(line)
        for field in re.findall(r"`(\w+)`", cells[0]):
            rows[field] = cells
    return rows


def _number(text: str) -> float:
    return float(text.replace("−", "-"))


def documented_bounds(allowed: str) -> dict[str, float]:
    """``{"ge"|"gt"|"le"|"lt": value}`` from an "Allowed" cell's leading numeric range, if any."""
    num = r"−?\d+(?:\.\d+)?(?:e[+-]?\d+)?"
    text = allowed.split(";")[0].split(",")[0].strip()
    m = re.fullmatch(rf"({num}) – ({num})(?: items)?", text)
    if m:
        return {"ge": _number(m.group(1)), "le": _number(m.group(2))}
    m = re.fullmatch(rf"({num}) (<|≤) \S+ (<|≤) ({num})", text)
    if m:
        return {"gt" if m.group(2) == "<" else "ge": _number(m.group(1)),
                "lt" if m.group(3) == "<" else "le": _number(m.group(4))}
    m = re.fullmatch(rf"> ({num}), ≤ ({num})", allowed.strip())
    if m:
        return {"gt": _number(m.group(1)), "le": _number(m.group(2))}
    m = re.fullmatch(rf"≥ ({num})(?: items)?", text)
    if m:
        return {"ge": _number(m.group(1))}
    return {}


def model_bounds(info) -> dict[str, float]:
    """The field's bounds, or (a mapping or list of bounded numbers) its items' bounds."""
    out: dict[str, float] = {}
    metadata = list(info.metadata)
    if not metadata:
        inner = [m for arg in get_args(info.annotation) for m in getattr(arg, "__metadata__", ())]
        metadata = [b for m in inner for b in getattr(m, "metadata", [m])]
    for item in metadata:
        for key in ("ge", "gt", "le", "lt", "min_length", "max_length"):
            value = getattr(item, key, None)
            if value is not None:
                out[{"min_length": "ge", "max_length": "le"}.get(key, key)] = float(value)
    return out


def model_pattern(info) -> str | None:
    """The field's regular expression (``Field(pattern=...)``), if any."""
    return next((m.pattern for m in info.metadata if getattr(m, "pattern", None)), None)


@pytest.mark.parametrize("model", list(MODELS), ids=lambda m: m.__name__)
def test_every_field_is_documented_with_its_default_and_range(model: type[BaseModel]):
    rows = field_table(model)
    if model is parts.SeasonalComponent:  # its table starts with SeasonalityConfig's `demand` / `cost` row
        assert {rows.pop("demand")[0], rows.pop("cost")[0]} == {"`demand` / `cost`"}
        assert set(parts.SeasonalityConfig.model_fields) == {"demand", "cost"}
    assert set(rows) == set(model.model_fields) - MODELS[model], model.__name__
    checked = 0
    for name, cells in rows.items():
        info = model.model_fields[name]
        default, allowed = cells[2], cells[3]
        if info.is_required():
            assert default.startswith("required"), (model.__name__, name, default)
        else:
            optional = not default.startswith("required") or default.startswith("required without")
            assert optional, (model.__name__, name, default)
            value = info.default_factory() if info.default_factory is not None else info.default  # type: ignore[call-arg]
            if re.fullmatch(r"`[^`]*`", default) and not isinstance(value, BaseModel):
                literal = yaml.safe_load(default.strip("`"))
                if not (name == "planned_price" and literal == "price"):  # "defaults to price": None in the model
                    assert literal == value, (model.__name__, name, default, value)
        pattern = re.match(r"`(\^[^`]*\$)`", allowed)
        if pattern:
            assert pattern.group(1) == model_pattern(info), (model.__name__, name, allowed, model_pattern(info))
            checked += 1
        bounds = documented_bounds(allowed)
        if bounds:
            assert bounds == model_bounds(info), (model.__name__, name, allowed, model_bounds(info))
            checked += 1
    assert checked or all(not model_bounds(model.model_fields[n]) for n in rows), model.__name__


def test_the_parser_reads_the_ranges():
    """The range check is not vacuous: the common forms are parsed."""
    assert documented_bounds("1e-6 – 1e15") == {"ge": 1e-6, "le": 1e15}
    assert documented_bounds("0 ≤ θ < 1") == {"ge": 0, "lt": 1}
    assert documented_bounds("0 < c ≤ 50") == {"gt": 0, "le": 50}
    assert documented_bounds("> 0, ≤ 366") == {"gt": 0, "le": 366}
    assert documented_bounds("−1 – 10") == {"ge": -1, "le": 10}
    assert documented_bounds("0 – 1, ≤ `max_share`") == {"ge": 0, "le": 1}
    assert documented_bounds("≥ 2 items") == {"ge": 2}
    assert field_table(parts.HillSaturation)["slope"][3] == "0.3 – 10"


def test_the_annotated_example_validates():
    text = re.search(r"## A minimal annotated example\n\n```yaml\n(.*?)```", DOC, flags=re.S).group(1)
    sc = Scenario.model_validate(yaml.safe_load(text))
    assert sc.budget.total / sc.horizon == pytest.approx(5000.0)  # "B/T = 5,000 per step"
    assert [c.name for c in sc.channels] == ["search", "video"]


# Built-ins whose nominal oracle and best constant split take about a second (s-curve-5 and pulse-4, the
# multi-start ones, are left out; tests/test_constant_split.py checks pulse-4's headroom).
FAST = ["stationary-3", "stationary-5", "seasonal-5", "drift-5", "shock-5", "delayed-5", "large-50", "holiday-5",
        "competitor-5", "launch-5", "overlap-5"]


def _figure(cell: str) -> tuple[float, float]:
    """The cell's first number and the tolerance its printed precision implies (half a last digit)."""
    text = re.match(r"\s*([\d.]+)", cell).group(1)
    decimals = len(text.split(".")[1]) if "." in text else 0
    return float(text), 0.5 * 10.0 ** -decimals + 1e-9


@pytest.mark.parametrize("name", FAST)
def test_the_builtin_table_figures_are_what_show_computes(name: str, shared_oracle):
    from budgetgym.envs import best_constant_split, evaluate_plan, load_scenario
    from budgetgym.experiments.demo import equal_split_plan

    row = next(_cells(line) for line in LINES if line.startswith(f"| `{name}` |"))
    sc = load_scenario(name)
    oracle = shared_oracle(sc)
    equal = 100 * float(evaluate_plan(sc, equal_split_plan(sc), path=oracle.path)) / oracle.expected_reward
    best = 100 * best_constant_split(sc).expected_reward / oracle.expected_reward
    for cell, value in zip(row[5:8], [equal, best, 100 - best], strict=True):
        documented, tol = _figure(cell)
        assert value == pytest.approx(documented, abs=tol), (name, cell, value)


def test_the_builtin_table_lists_every_builtin_with_its_shape_pacing_and_reward():
    from budgetgym.envs import list_scenarios, load_scenario

    rows = {re.fullmatch(r"`([\w.-]+)`", c[0]).group(1): c for c in map(_cells, LINES)
            if re.fullmatch(r"`[\w.-]+`", c[0]) and len(c) == 8}
    assert set(rows) == set(list_scenarios())
    for name, row in rows.items():
        sc = load_scenario(name)
        assert row[1] == f"{sc.n_channels} × {sc.horizon}", name
        pacing = sc.budget.pacing
        if pacing == "agent":
            pacing += f" ({sc.budget.max_step_multiple:g}×)"
        assert (row[2], row[3]) == (pacing, sc.reward), name


def test_the_builtin_families_table_lists_every_family_with_its_brief():
    from budgetgym.envs.family import load_family

    rows = {re.fullmatch(r"`([\w.-]+)`", c[0]).group(1): c for c in map(_cells, LINES)
            if re.fullmatch(r"`[\w.-]+-family`", c[0]) and len(c) == 6}
    assert set(rows) == {p.stem for p in (ROOT / "configs" / "families").glob("*.yaml")}
    for name, row in rows.items():
        sc = load_family(name).nominal()
        pacing = sc.budget.pacing + (f" ({sc.budget.max_step_multiple:g}×)" if sc.budget.pacing == "agent" else "")
        assert row[1:4] == [f"{sc.n_channels} × {sc.horizon}", pacing, sc.reward], name


def test_the_text_under_the_builtin_table_names_the_scenarios_built_for_adapting():
    # "The last four are built so that a static split fails" went stale when overlap-5 (headroom 0)
    # was appended to the table: the sentence names them now, and they are the "Adapting pays" rows
    rows = {re.fullmatch(r"`([\w.-]+)`", c[0]).group(1): c for c in map(_cells, LINES)
            if re.fullmatch(r"`[\w.-]+`", c[0]) and len(c) == 8}
    adapting = {name for name, row in rows.items() if row[4].startswith("Adapting pays")}
    sentence = next(line for line in DOC.split("\n\n") if "static split fails" in line and "dynamic headroom" in line)
    named = set(re.findall(r"`([\w.-]+)`", sentence.split(" are built so that")[0]))
    assert named == adapting and len(adapting) == 4
    for name in adapting:
        assert _figure(rows[name][7])[0] >= 10.0, name


@pytest.mark.parametrize("name", ["stationary-3", "holiday-5", "competitor-5", "launch-5", "pulse-4"])
def test_each_builtin_header_comment_states_the_figures_the_table_holds(name: str):
    # a YAML file's top comment ("it reaches ~88% of the oracle (dynamic headroom ~12 points") is read by
    # users first: it must agree with the table's figures (which the test above checks against show) to
    # the comment's own precision, a point
    text = (ROOT / "configs" / "scenarios" / f"{name}.yaml").read_text(encoding="utf-8")
    comment = " ".join(line.lstrip("# ") for line in text.splitlines() if line.startswith("#"))
    row = next(_cells(line) for line in LINES if line.startswith(f"| `{name}` |"))
    equal, best, headroom = (_figure(cell)[0] for cell in row[5:8])
    claims = []
    for found in re.finditer(r"~(\d+(?:\.\d+)?)% of the oracle", comment):
        before = comment[max(0, found.start() - 80):found.start()]  # "the equal split reaches only ~87%"
        claims.append((float(found.group(1)), equal if "equal split" in before else best))
    claims += [(float(m), headroom) for m in re.findall(r"dynamic headroom ~(\d+(?:\.\d+)?) points", comment)]
    assert claims, name
    for claimed, figure in claims:
        assert claimed == pytest.approx(figure, abs=1.0), (name, claimed, figure)


def test_delayed_5_video_description_names_its_carry_over_peak():
    # "Weibull-PDF carry-over peaking ~3 days after exposure": the Weibull mode, 4 (1.5/2.5)^(1/2.5) = 3.26,
    # is x = l + 1 in Robyn's weights (the density at lag l + 1), so the largest weight is at lag 2
    from budgetgym.envs.dynamics import ChannelModel
    from budgetgym.envs.scenario import load_scenario

    sc = load_scenario("delayed-5")
    i = sc.channel_names.index("video")
    peak = int(ChannelModel.from_scenario(sc).adstock[i].argmax())
    said = re.search(r"peaking ~?(\d+) days after exposure", sc.channels[i].description)
    assert said is not None and int(said.group(1)) == peak == 2


def _channel(sc: Scenario, name: str) -> parts.ChannelConfig:
    return sc.channels[sc.channel_names.index(name)]


def test_the_python_block_runs(tmp_path, monkeypatch):
    """The opening Python block runs as written, with its ``my-scenario.yaml`` a real file (a copy of a
    built-in named after it), and its override does what its comment says."""
    code = re.search(r"```python\n(.*?)```", DOC, flags=re.S).group(1)
    text = (ROOT / "configs" / "scenarios" / "stationary-3.yaml").read_text(encoding="utf-8")
    (tmp_path / "my-scenario.yaml").write_text(re.sub(r"(?m)^name: .*$", "name: my-scenario", text), encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    namespace: dict = {}
    exec(compile(code, "configs/README.md (python)", "exec"), namespace)  # noqa: S102 - our own docs
    sc, sc2 = namespace["sc"], namespace["sc2"]
    assert (sc2.horizon, sc.horizon) == (28, load_scenario("stationary-5").horizon)
    assert _channel(sc2, "search").cost.price == 2.0 != _channel(sc, "search").cost.price
    assert namespace["env"].unwrapped.scenario.name == "my-scenario"


def test_the_family_examples_load():
    """Both family examples of "Scenario families" load (the ensemble's ``- ...`` placeholder left out),
    and their draws vary what the examples say they vary."""
    section = DOC.split("## Scenario families", 1)[1]
    blocks = [yaml.safe_load(b.replace("  - ...\n", "")) for b in re.findall(r"```yaml\n(.*?)```", section, flags=re.S)
              if b.startswith("family:")]
    assert [b["family"] for b in blocks] == ["my-family", "fitted"]
    vary, ensemble = (family_from_dict(b, source="configs/README.md") for b in blocks)
    slopes = {_channel(vary.sample(i, "train"), "search").saturation.slope for i in range(4)}
    assert len(slopes) == 4 and all(0.5 <= s <= 2.0 for s in slopes)
    kappas = {_channel(ensemble.sample(0, split), "search").saturation.half_saturation for split in ("train", "test")}
    assert kappas == {2400, 2900}
