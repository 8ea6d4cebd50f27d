"""The README says what the code does: its Python tour runs and computes what it claims, and
every command, option, extra and dotted name it mentions exists (so the documentation cannot
silently rot)."""

from __future__ import annotations

import importlib
import re
import subprocess
from pathlib import Path

import numpy as np
import pytest

from budgetgym.agents import list_agents
from budgetgym.envs import evaluate_plan, load_scenario, solve_oracle
from budgetgym.experiments.cli import main

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
TEXT = README.read_text(encoding="utf-8")


def code_blocks(language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", TEXT, flags=re.S)


def test_readme_tour_runs_and_computes_what_it_says(capsys):
    blocks = code_blocks("python")
    assert blocks, "README.md has no python block"
    namespace: dict = {}
    exec(compile(blocks[0], "README.md (tour)", "exec"), namespace)  # noqa: S102 - our own docs
    printed = capsys.readouterr().out
    assert "stationary-5" in printed  # list_scenarios()
    # the loop's sum of info["expected_reward"] is the equal split's evaluate_plan (README's claim)
    sc = load_scenario("stationary-5")
    equal = np.full((sc.horizon, sc.n_channels), sc.step_budget / sc.n_channels)
    assert namespace["expected"] == pytest.approx(float(evaluate_plan(sc, equal, seed=0)), rel=1e-9)
    oracle = solve_oracle(sc, seed=0).expected_reward
    assert namespace["oracle"].expected_reward == pytest.approx(oracle, rel=1e-12)
    pct = float(re.search(r"equal split: ([0-9.]+)% of oracle", printed).group(1))
    assert pct == pytest.approx(100 * namespace["expected"] / oracle, abs=0.05 + 1e-9)
    assert pct < 99.0  # the equal split is clearly below the oracle


def test_readme_test_command_is_what_ci_runs():
    """.ci/run extracts the command after the ci:test-command marker with awk: run that same awk
    program on the README and check it yields exactly the documented one-line pytest command."""
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    program = re.search(r"cmd=\$\(awk '(.*?)' README\.md\)", ci, flags=re.S)
    assert program, ".ci/run no longer extracts the command with awk"
    awk = subprocess.run(["awk", program.group(1), str(README)], capture_output=True, text=True, check=True)
    got = awk.stdout
    documented = re.search(r"<!-- ci:test-command.*?-->\n```bash\n(.*?)\n```", TEXT, flags=re.S)
    assert documented and "\n" not in documented.group(1)
    assert got.strip() == documented.group(1).strip()
    assert re.search(r"python -m pytest\b", got)


def _cli_help(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str]:
    code = main([*argv, "--help"])
    return code, capsys.readouterr().out


def _readme_commands() -> list[tuple[str, list[str]]]:
    """(subcommand, options) of every ``budgetgym <cmd> ...`` line of the README's bash blocks,
    plus the subcommands named in inline code."""
    out = []
    for block in code_blocks("bash"):
        for line in block.splitlines():
            for part in line.split("&&"):
                m = re.match(r"\s*budgetgym(?:\s+(\w+))?(.*?)(#.*)?$", part)
                if m:
                    out.append((m.group(1) or "", re.findall(r"--[a-z][a-z-]*", m.group(2))))
    inline = re.finditer(r"`budgetgym (\w+)([^`]*)`", TEXT)  # with the options of inline command lines
    out += [(m.group(1), re.findall(r"--[a-z][a-z-]*", m.group(2))) for m in inline]
    return out


def test_every_cli_command_and_option_in_the_readme_exists(capsys):
    commands = _readme_commands()
    named = {c for c, _ in commands}
    assert {"run", "report", "baseline", "regress", "scenarios", "show"} <= named
    for command, options in commands:
        code, text = _cli_help(capsys, *([command] if command else []))
        assert code == 0, f"README names `budgetgym {command}`, which is not a command"
        for option in options:
            assert option in text, f"README: `budgetgym {command} {option}` is not an option"
    # the check can fail: a made-up subcommand is a usage error
    assert main(["frobnicate", "--help"]) == 2
    capsys.readouterr()


def test_the_demo_command_in_the_readme_exists(capsys):
    m = re.search(r"`python -m (budgetgym\.[\w.]+)((?: --[\w-]+ [\w.-]+)*)`", TEXT)
    assert m, "README: the demo command is gone"
    module = importlib.import_module(m.group(1))
    with pytest.raises(SystemExit) as exit_:
        module.main(["--help"])
    assert exit_.value.code == 0
    text = capsys.readouterr().out
    for option in re.findall(r"--[\w-]+", m.group(2)):
        assert option in text
    scenario = re.search(r"--scenario ([\w.-]+)", m.group(2))
    assert scenario is None or load_scenario(scenario.group(1))


def test_pip_extras_named_in_the_readme_exist():
    tomllib = pytest.importorskip("tomllib")
    extras = set(tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"])
    named = {e for group in re.findall(r'pip install -e "\.\[([\w,]+)\]"', TEXT) for e in group.split(",")}
    assert named and named <= extras, named - extras


def test_dotted_names_in_the_readme_resolve():
    names = set(re.findall(r"`(budgetgym(?:\.[A-Za-z_]\w*)+)", TEXT))
    assert len(names) >= 5
    for name in sorted(names):
        parts = name.split(".")
        for cut in range(len(parts), 0, -1):  # the longest importable module prefix
            try:
                obj = importlib.import_module(".".join(parts[:cut]))
                break
            except ModuleNotFoundError:
                continue
        for attr in parts[cut:]:
            assert hasattr(obj, attr), f"README names `{name}`, but `{attr}` does not exist"
            obj = getattr(obj, attr)


def test_the_agents_table_lists_registered_agents():
    table = TEXT.split("| name | what |", 1)[1].split("\n\n", 1)[0]
    documented = set(re.findall(r"`(\w+)`", "\n".join(line.split("|")[1] for line in table.splitlines()[2:])))
    assert {"equal", "oracle", "ppo", "model_thompson"} <= documented
    assert documented <= set(list_agents()), documented - set(list_agents())


def _results_table() -> dict[str, str]:
    """``path -> what`` of the README's results-directory table."""
    body = TEXT.split("| path | what |", 1)[1].split("\n\n", 1)[0]
    rows = {}
    for line in body.splitlines()[2:]:
        path, what = line.strip().strip("|").split("|", 1)
        for name in re.findall(r"`([^`]+)`", path):
            rows[name] = what
    return rows


def test_the_results_directory_table_names_the_columns_and_every_file_a_run_writes(tmp_path, capsys):
    from budgetgym.agents.evaluation import RESULT_COLUMNS
    from budgetgym.experiments.results import EXTRA_COLUMNS

    rows = _results_table()
    documented = re.search(r"`(scenario, agent, seed,[^`]*)`", rows["results.csv"]).group(1).split(", ")
    assert documented == RESULT_COLUMNS + EXTRA_COLUMNS
    experiment = tmp_path / "tiny.yaml"
    experiment.write_text("name: tiny\nscenarios:\n  - {scenario: stationary-3, set: {horizon: 4}}\n"
                          "agents: [equal, greedy]\nseeds: 2\nbootstrap: {reps: 200}\n")
    out = tmp_path / "out"
    assert main(["run", str(experiment), "--out", str(out), "--no-progress", "--no-plots"]) == 0
    capsys.readouterr()
    written = {p.name for p in out.iterdir()}
    listed = {name.rstrip("/").split("/")[0] for name in rows}
    assert written - {"plots"} <= listed, written - listed
    assert (out / "results.csv").read_text().splitlines()[0].split(",") == documented
    summary = (out / "summary.csv").read_text().splitlines()[0].split(",")
    assert summary[-1] == "reward_kind" and "poi_vs_equal" in summary  # "and `reward_kind`" last, no family
    run = out / "runs" / "stationary-3" / "equal" / "seed_0"
    listed_run = set(re.findall(r"`([\w.]+)`", rows["runs/<scenario>/<agent>/seed_<k>/"]))
    assert {p.name for p in run.iterdir()} - {"agent.json"} <= listed_run
    trace = (run / "trace.csv").read_text().splitlines()[0].split(",")
    assert {"step", "channel", "spend", "conversions", "expected_reward"} <= set(trace)


def test_the_plan_example_uplift_is_what_the_readme_says():
    """README: `budgetgym plan stationary-5 --current equal` reports the uplift over the equal split
    as "+4,159 conversions, +10.85%": the nominal oracle's expected reward minus the equal split's
    (evaluate_plan), computed here without the planner, and the planner's own figures."""
    from budgetgym.planner.plan import plan

    m = re.search(r"uplift over the equal split\s+\(\+([\d,]+) conversions, \+([\d.]+)%\)", TEXT)
    assert m, "README: the plan example's uplift is gone"
    uplift, pct = float(m.group(1).replace(",", "")), float(m.group(2))
    sc = load_scenario("stationary-5")
    equal = float(evaluate_plan(sc, np.full((sc.horizon, sc.n_channels), sc.step_budget / sc.n_channels)))
    best = solve_oracle(sc).expected_reward
    assert best - equal == pytest.approx(uplift, abs=0.5)
    assert 100 * (best - equal) / equal == pytest.approx(pct, abs=0.005)
    result = plan("stationary-5", current="equal", curves=False)
    assert result.value - result.current_value == pytest.approx(uplift, abs=0.5)


def test_the_layout_table_lists_every_folder():
    table = TEXT.split("| folder | import name | what |", 1)[1].split("\n\n", 1)[0]
    documented = set(re.findall(r"^\| `(\w+)/`", table, flags=re.M))
    folders = {p.name for p in ROOT.iterdir() if p.is_dir() and not p.name.startswith((".", "_"))}
    packages = {p.name for p in ROOT.iterdir() if (p / "__init__.py").is_file()}
    assert packages <= documented, packages - documented
    assert documented <= folders, documented - folders
    configs = table.split("| `configs/` |", 1)[1].split("\n", 1)[0]
    for sub in (ROOT / "configs").iterdir():
        if sub.is_dir():
            assert f"`{sub.name}/`" in configs, sub.name


def test_every_option_the_readme_names_in_prose_is_an_option_of_some_command(capsys):
    """An option in inline code outside a full command line (`--lift-design voi`, `--workers`, ...)
    must be an option of some command (or of ``budgetgym`` itself, like ``--verbose``)."""
    spans = [s for s in re.findall(r"`([^`\n]*)`", TEXT) if not s.startswith("python -m")]  # the demo: tested above
    named = {o for span in spans for o in re.findall(r"(?<![\w-])--[a-z][a-z-]*", span)}
    assert {"--lift-design", "--workers", "--start-date", "--target-mroas"} <= named
    helps = ""
    for command in ["", "run", "report", "baseline", "regress", "scenarios", "show", "plan", "simulate",
                    "calibrate", "segment"]:
        code, text = _cli_help(capsys, *([command] if command else []))
        assert code == 0
        helps += text
    missing = {o for o in named if not re.search(rf"{re.escape(o)}(?![\w-])", helps)}
    assert not missing, missing


def _synopsis(command: str) -> str:
    """Every ``budgetgym <command> ...`` line of the README's bash blocks with its indented
    continuation lines, comments removed."""
    text = []
    for block in code_blocks("bash"):
        inside = False
        for line in block.splitlines():
            if re.match(r"budgetgym\s", line):
                inside = bool(re.match(rf"budgetgym {command}\b", line))
            elif not line.startswith(" "):
                inside = False
            if inside:
                text.append(line.split(" #", 1)[0])
    return "\n".join(text)


def test_every_option_of_every_command_is_in_a_readme_synopsis():
    """Each option of each ``budgetgym`` command (read from the CLI itself, not its help text) is
    written on one of the README's command lines of that command, and a number written after it is
    its default."""
    import typer

    from budgetgym.experiments.cli import app

    commands = typer.main.get_command(app).commands  # type: ignore[attr-defined]
    assert {"run", "plan", "calibrate", "segment", "simulate", "regress"} <= set(commands)
    checked = 0
    for name, command in commands.items():
        text = _synopsis(name)
        assert text, f"README: no command line of `budgetgym {name}`"
        for param in command.params:
            if param.param_type_name != "option":
                continue
            negated = param.is_flag and param.default and param.secondary_opts  # --no-plots, not --plots
            flag = param.secondary_opts[0] if negated else param.opts[0]
            assert re.search(rf"{re.escape(flag)}(?![\w-])", text), f"README: `budgetgym {name} {flag}` is not shown"
            shown = re.search(rf"\[{re.escape(flag)} (\d[\d.e+-]*)[\] ]", text)
            if shown and param.default is not None:
                assert float(shown.group(1)) == float(param.default), (name, flag, shown.group(1), param.default)
                checked += 1
    assert checked >= 10, checked


def test_what_evaluate_returns_is_what_the_readme_says():
    """The README's sentence on ``evaluate`` names the type it returns and attributes that exist."""
    from budgetgym.agents import evaluate, make_agent
    from budgetgym.agents.evaluation import RESULT_COLUMNS

    sentence = re.search(r"`budgetgym\.agents\.evaluate\(agent, scenario, seeds\)`(.*?)\n\n", TEXT, flags=re.S)
    assert sentence, "README: the sentence on evaluate is gone"
    kind = re.search(r"returns a list of\s+`budgetgym\.agents\.(\w+)`", sentence.group(1))
    assert kind, "README: evaluate's return type is not named"
    results = evaluate(make_agent("equal", "stationary-3"), "stationary-3", seeds=[0])
    assert isinstance(results, list) and type(results[0]).__name__ == kind.group(1)
    attributes = re.findall(r"`\.?(\w+)(?:\(\))?`", sentence.group(1).split(kind.group(0), 1)[1])
    assert {"pct_of_oracle", "expected_reward", "row"} <= set(attributes), attributes
    for name in attributes:
        assert hasattr(results[0], name), f"README: EpisodeResult has no `{name}`"
    assert list(results[0].row()) == RESULT_COLUMNS  # "its row of results.csv", up to wall_s
    # a family's episodes differ by draw and split, which row() leaves to the runner: the README names them, or a
    # notebook's DataFrame of rows could not tell the draws apart
    assert {"env_seed", "draw", "split"} <= set(attributes), attributes
    fam = evaluate(make_agent("equal", "wide-family"), "wide-family", seeds=[0], draws=2)
    assert [(r.split, r.draw) for r in fam] == [("test", 0), ("test", 1)]


def test_every_file_whose_meaning_changed_has_a_readme_migration_note():
    """CONTRIBUTING: a change of meaning of a results or plan file "gets a migration note in the README and
    the changelog". Every output file named in CHANGELOG.md's [Unreleased] Migration section is named in
    the README's migration note too (it named two of the six)."""
    changelog = (ROOT / "CHANGELOG.md").read_text(encoding="utf-8").split("## [Unreleased]", 1)[1]
    migration = changelog.split("### Migration\n", 1)[1].split("\n### ", 1)[0]
    named = set(re.findall(r"`((?:plots/)?[\w<>]+\.(?:csv|png|json))`", migration))
    files = named - {"regression.json", "regret_<scenario>.png"}  # named there as re-recorded / unchanged
    assert {"results.csv", "summary.csv", "channels.csv"} <= files, files
    note = re.search(r"\*Migration notes? \(after 0\.1\.0\):\*(.*?)\n\n", TEXT, flags=re.S)
    assert note, "README: the migration note is gone"
    assert not files - set(re.findall(r"`([^`]+)`", note.group(1))), files


def test_the_plan_table_says_what_planned_spend_is_in_each_lift_design():
    """lift_design.csv's `planned_spend` is the level tested (x + delta_x) in both designs, but under `beyond` that
    level is the plan's mean spend and under `voi` a candidate level, not necessarily the plan's; the README's table
    of plan files listed the column with its unit only, so a VOI test's level read as the plan's spend."""
    row = next((line for line in TEXT.splitlines() if line.startswith("| `lift_design.csv` |")), None)
    assert row, "README: the lift_design.csv row of the plan files' table is gone"
    assert "`planned_spend` is the level the test holds the channel at, `x + delta_x`, in both designs" in row
    assert "`--lift-design beyond` the plan's mean spend per period" in row
    assert "with `voi` (the default) the candidate level whose test is worth most, which need not be the plan's" in row
def _column_glossary() -> dict[str, dict[str, str]]:
    """``file -> {column: meaning}`` from the README's "| file | column | meaning |" table."""
    body = TEXT.split("| file | column | meaning |", 1)[1].split("\n\n", 1)[0]
    out: dict[str, dict[str, str]] = {}
    for line in body.splitlines()[2:]:
        file, columns, meaning = (c.strip() for c in line.strip().strip("|").split("|"))
        for column in re.findall(r"`([^`]+)`", columns):
            out.setdefault(file.strip("`"), {})[column] = meaning
    return out


def test_every_column_of_a_results_directory_has_a_documented_meaning(tmp_path, capsys):
    """Every column a run writes to results.csv, summary.csv, poi.csv and a run's trace.csv (a grid with a
    family, so its columns are there too) has a row of the README's column table; summary.csv's
    pct_of_oracle_std, iqm, n_episodes, ... had none. The trace's expected_reward is the step's, repeated
    on every channel row (the README said "per step and channel": summing the column gave K times the
    episode's): one value per step sums to results.csv's expected_reward."""
    import pandas as pd

    (tmp_path / "fam.yaml").write_text(
        "family: fam\nseed: 3\nscenario: stationary-3\n"
        "vary:\n  channels.search.saturation.half_saturation: {dist: lognormal, median: 2600, sd: 0.4}\n")
    (tmp_path / "tiny.yaml").write_text(
        "name: tiny\nscenarios:\n  - {scenario: stationary-3, set: {horizon: 4}}\n"
        "  - {scenario: fam.yaml, set: {horizon: 4}, draws: 2}\n"
        "agents: [equal, ucb1]\nseeds: 2\nbootstrap: {reps: 200}\n")
    out = tmp_path / "out"
    assert main(["run", str(tmp_path / "tiny.yaml"), "--out", str(out), "--no-progress", "--no-plots"]) == 0
    capsys.readouterr()
    glossary = _column_glossary()
    trace = pd.read_csv(out / "runs" / "fam" / "ucb1" / "seed_1" / "trace.csv")
    written = {name: list(pd.read_csv(out / name).columns) for name in ("results.csv", "summary.csv", "poi.csv")}
    written["trace.csv"] = list(trace.columns)
    for name, columns in written.items():
        documented = glossary.get(name, {})
        missing = [c for c in columns if c not in documented and re.sub(r"^poi_vs_.*", "poi_vs_<agent>", c)
                   not in documented]
        assert not missing, f"README: {name} columns without a meaning: {missing}"
    results = pd.read_csv(out / "results.csv")
    mine = results[(results["scenario"] == "fam") & (results["agent"] == "ucb1") & (results["seed"] == 1)]
    for (draw, split), steps in trace.groupby(["draw", "split"]):
        per_step = steps.drop_duplicates("step")["expected_reward"].sum()
        row = mine[(mine["draw"] == draw) & (mine["split"] == split)]
        assert per_step == pytest.approx(float(row["expected_reward"].iloc[0]), rel=1e-9)
        assert steps.groupby("step")["expected_reward"].nunique().eq(1).all()  # one value per step
    assert "repeated" in glossary["trace.csv"]["expected_reward"]
