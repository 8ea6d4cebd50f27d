"""What a user reads: error messages (asserted exactly), ``--verbose``, ``--set`` hints, the
printed results table with absolute expected rewards, the plain progress lines, and the
figures' content (the cumulative figure ends at the table's score; score intervals are sorted)."""

from __future__ import annotations

import contextlib
import io
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import run_cli, write

from budgetgym.agents.base import list_agents, make_agent
from budgetgym.envs import ChannelBudgetEnv, load_scenario
from budgetgym.envs.errors import BudgetGymError, is_integer, suggest, unknown
from budgetgym.experiments import plots as P
from budgetgym.experiments.cli import main
from budgetgym.experiments.config import builtin_experiment_dir, load_experiment
from budgetgym.experiments.summary import SUMMARY_COLUMNS

QUICKSTART = builtin_experiment_dir() / "quickstart.yaml"

TINY = """\
name: ux-tiny
scenarios:
  - {scenario: stationary-3, label: s3, set: {horizon: 4}}
agents: [equal, greedy, ucb1]
seeds: 2
bootstrap: {reps: 200}
"""



# ----------------------------------------------------------------------------- did you mean
@pytest.mark.parametrize(
    ("value", "expected"),
    [(3, True), (np.int64(3), True), (np.uint8(0), True), (True, False), (np.bool_(True), False), (3.0, False),
     (np.float64(3), False), ("3", False), (None, False)],
)
def test_is_integer_takes_python_and_numpy_integers_but_not_bools_floats_or_strings(value, expected):
    assert is_integer(value) is expected


def test_suggest_and_unknown_name_the_closest_choice_or_list_them_all():
    assert suggest("gredy", ["equal", "greedy", "ucb1"]) == " (did you mean 'greedy'?)"
    assert suggest("zzzz", ["equal", "greedy"]) == ""
    close = unknown("agent", "gredy", iter(["ucb1", "greedy"]))
    far = unknown("agent", "zzzz", iter(["ucb1", "equal"]))
    assert close == "unknown agent 'gredy' (did you mean 'greedy'?)"
    assert far == "unknown agent 'zzzz': expected one of equal, ucb1"


def test_suggest_finds_a_name_that_differs_only_in_case():
    """Robyn's layout names its date column DATE: `calibrate --date date` said "no column 'date'" with no hint,
    as difflib compares case-sensitively ('date' and 'DATE' share no character); 'Revenue' got its hint."""
    assert suggest("date", ["DATE", "revenue", "tv_S"]) == " (did you mean 'DATE'?)"
    assert suggest("TV_s", ["DATE", "tv_S", "tv_I"]) == " (did you mean 'tv_S'?)"
    assert suggest("date", ["DATE", "date_"]) == " (did you mean 'DATE'?)"  # the same letters before a near name


def test_an_unknown_agent_in_a_file_names_the_file_the_field_and_the_closest_name(tmp_path, capsys):
    path = write(tmp_path, TINY.replace("agents: [equal, greedy, ucb1]", "agents: [equal, gredy]"))
    code, _, err = run_cli(capsys, "run", str(path), "--out", str(tmp_path / "out"), "--no-progress")
    assert code == 2
    assert err == (
        f"error: experiment file '{path}': agents[1].agent: unknown agent 'gredy' (did you mean 'greedy'?)\n"
    )
    assert not (tmp_path / "out").exists()


def test_an_unknown_agent_without_a_close_name_lists_the_registry(tmp_path):
    path = write(tmp_path, TINY.replace("[equal, greedy, ucb1]", "[equal, {agent: qqqqqq}]"))
    with pytest.raises(BudgetGymError) as info:
        load_experiment(path)
    assert str(info.value) == (
        f"experiment file '{path}': agents[1].agent: unknown agent 'qqqqqq': "
        f"expected one of {', '.join(list_agents())}"
    )


def test_a_key_that_is_a_field_elsewhere_is_never_suggested_back(tmp_path):
    """``name`` is the experiment's field, not an agent's: the fallback over every level's fields
    must not answer "agents[1].name ... (did you mean 'name'?)"."""
    path = write(tmp_path, TINY.replace("[equal, greedy, ucb1]", "[equal, {agent: greedy, name: g2}]"))
    with pytest.raises(BudgetGymError) as info:
        load_experiment(path)
    assert str(info.value) == f"experiment file '{path}': agents[1].name: Extra inputs are not permitted"


def test_make_agent_suggests_the_closest_registered_name():
    env = ChannelBudgetEnv(load_scenario("stationary-3"))
    with pytest.raises(BudgetGymError) as info:
        make_agent("thomson", env)
    assert str(info.value) == "unknown agent 'thomson' (did you mean 'thompson'?)"


# ----------------------------------------------------------------------------- --set
def test_a_negative_seed_count_says_got_once(capsys):
    code, _, err = run_cli(capsys, "run", "--set", "seeds=-1", "--no-progress")
    assert code == 2
    assert err == (
        f"error: experiment file '{QUICKSTART}' (with --set seeds): seeds: expected a positive number of "
        "seeds or a list of seeds (got -1)\n"
    )


def test_a_scenario_field_at_the_top_level_shows_where_it_goes(capsys):
    code, _, err = run_cli(capsys, "run", "--set", "budget.total=50000", "--no-progress")
    assert code == 2
    assert err == (
        "error: --set budget.total: 'budget' is a scenario field, not an experiment field; scenario changes "
        "go under a scenario's 'set:', e.g. --set scenarios.stationary-3.set.budget.total=50000\n"
    )


def test_the_suggested_form_changes_only_that_field_of_that_scenario():
    cfg = load_experiment("quickstart", overrides={"scenarios.seasonal-5.set.budget.total": 50000})
    (_, s3), (_, s5) = cfg.resolve_scenarios()
    nominal = load_scenario("seasonal-5")
    assert s5.budget.total == 50000
    # the rest of the budget (agent pacing, the step cap) is untouched, and so is the other scenario
    assert s5.budget.model_dump(exclude={"total"}) == nominal.budget.model_dump(exclude={"total"})
    assert s5.budget.pacing == "agent"
    assert s3 == load_scenario("stationary-3")


def test_a_second_override_below_set_is_merged_with_the_files_set(tmp_path):
    path = write(tmp_path, TINY)
    cfg = load_experiment(path, overrides={"scenarios.s3.set.budget.total": 9000})
    assert dict(cfg.scenarios[0].set) == {"horizon": 4, "budget.total": 9000}


# ----------------------------------------------------------------------------- several errors
MULTI = """\
name: multi
scenarios: [stationary-3]
agents: [equal]
seeds: 2
episodes: 0
bootstrap: {reps: 5}
"""


def test_several_errors_one_line_by_default_and_all_of_them_with_verbose(tmp_path, capsys):
    path = write(tmp_path, MULTI)
    first = (
        f"error: experiment file '{path}': episodes: Input should be greater than or equal to 1 (got 0) "
        "(and 1 more error)"
    )
    code, _, err = run_cli(capsys, "run", str(path), "--no-progress")
    assert code == 2
    assert err == first + "; budgetgym --verbose ... lists all 2\n"
    code, _, err = run_cli(capsys, "--verbose", "run", str(path), "--no-progress")
    assert code == 2
    assert err.splitlines() == [
        first,
        "  - episodes: Input should be greater than or equal to 1 (got 0)",
        "  - bootstrap.reps: Input should be greater than or equal to 100 (got 5)",
    ]
    # one error: no hint, and --verbose adds nothing
    one = write(tmp_path, MULTI.replace("bootstrap: {reps: 5}", ""), "one.yaml")
    for argv in (["run", str(one)], ["-v", "run", str(one)]):
        code, _, err = run_cli(capsys, *argv, "--no-progress")
        assert code == 2 and err.count("\n") == 1 and "verbose" not in err and "more error" not in err


# ----------------------------------------------------------------------------- the results table
@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str, str]:
    """One CLI run (progress on: captured output is not a terminal, so plain lines)."""
    tmp = tmp_path_factory.mktemp("ux")
    path = write(tmp, TINY)
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(["run", str(path), "--out", str(tmp / "out")])
    assert code == 0, err.getvalue()
    return tmp / "out", out.getvalue(), err.getvalue()


def test_progress_in_a_pipe_is_plain_lines(tiny_run):
    _, _, err = tiny_run
    lines = err.splitlines()
    line = r"budgetgym run: \d+/\d+ tasks \(\d+%\), \d\d:\d\d elapsed, last: .+"
    assert lines and all(re.fullmatch(line, x) for x in lines), err
    assert re.match(r"budgetgym run: (\d+)/\1 tasks \(100%\)", lines[-1])
    assert "\r" not in err


def test_the_table_shows_the_absolute_expected_reward_and_the_oracles_with_the_unit(tiny_run):
    out_dir, out, _ = tiny_run
    results = pd.read_csv(out_dir / "results.csv")
    oracle = results["oracle_reward"].mean()  # every agent played the same two episode paths
    lines = out.splitlines()
    title = lines.index(f"s3 — conversions per episode: oracle {oracle:,.1f}")
    assert lines[title + 1].split() == "agent % of oracle expected reward uplift vs equal seeds".split()
    rows = [line.split() for line in lines[title + 2 : title + 5]]
    means = results.groupby("agent")[["expected_reward", "pct_of_oracle"]].mean()
    # agents by score, best first; the fifth cell is the mean expected reward per episode
    assert [r[0] for r in rows] == list(means["pct_of_oracle"].sort_values(ascending=False).index)
    for row in rows:
        assert row[4] == f"{means.loc[row[0], 'expected_reward']:,.1f}"
        assert float(row[1]) == pytest.approx(means.loc[row[0], "pct_of_oracle"], abs=0.05)
        assert row[-1] == "2"
    assert lines[title + 5].startswith("across scenarios")


def test_the_table_keeps_the_rewards_of_a_tiny_budget(capsys, tmp_path):
    # a budget of 1e-6 earns about 1e-8 conversions an episode: the table printed the oracle and every
    # agent's expected reward as 0.0, and report.md the mean oracle reward; each must read back to 3 digits
    path = write(tmp_path, """\
        name: ux-cents
        scenarios:
          - {scenario: stationary-3, label: s3, set: {horizon: 4, budget.total: 1.0e-6}}
        agents: [equal]
        seeds: 1
        bootstrap: {reps: 200}
        """)
    code, out, err = run_cli(capsys, "run", str(path), "--out", str(tmp_path / "out"), "--no-plots", "--no-progress")
    assert code == 0, err
    results = pd.read_csv(tmp_path / "out" / "results.csv")
    oracle, expected = float(results["oracle_reward"].mean()), float(results["expected_reward"].mean())
    assert 0.0 < oracle < 1e-5
    number = r"([\d,.]+(?:e[+-]\d+)?)"
    m = re.search(rf"s3 — conversions per episode: oracle {number}\n", out)
    assert m is not None, out
    assert float(m.group(1).replace(",", "")) == pytest.approx(oracle, rel=5e-3)
    row = next(line.split() for line in out.splitlines() if line.split()[:1] == ["equal"])
    assert float(row[4].replace(",", "")) == pytest.approx(expected, rel=5e-3)
    report = (tmp_path / "out" / "report.md").read_text(encoding="utf-8")
    m = re.search(rf"Mean oracle reward {number} conversions", report)
    assert m is not None, report
    assert float(m.group(1).replace(",", "")) == pytest.approx(oracle, rel=5e-3)


def test_summary_csv_gains_the_reward_kind_as_its_last_column(tiny_run):
    out_dir, _, _ = tiny_run
    summary = pd.read_csv(out_dir / "summary.csv")
    assert list(summary.columns[: len(SUMMARY_COLUMNS)]) == SUMMARY_COLUMNS  # nothing renamed or moved
    assert summary.columns[-1] == "reward_kind" and set(summary["reward_kind"]) == {"conversions"}
    report = (out_dir / "report.md").read_text(encoding="utf-8")
    assert "conversions." in report and "| expected reward |" in report


# ----------------------------------------------------------------------------- figures
def test_pct_of_oracle_to_date_by_hand():
    np.testing.assert_allclose(
        P.pct_of_oracle_to_date(np.array([1.0, 1.0, 1.0]), np.array([2.0, 1.0, 1.0])), [50.0, 200 / 3, 75.0]
    )
    # undefined until the oracle has earned 1 % of its total (delayed conversions, early losses)
    got = P.pct_of_oracle_to_date(np.array([1.0, 1.0, 5.0]), np.array([0.0, 0.05, 9.95]))
    assert np.isnan(got[:2]).all() and got[2] == pytest.approx(70.0)
    assert np.isnan(P.pct_of_oracle_to_date(np.array([1.0]), np.array([-1.0]))).all()


@pytest.fixture
def figures(monkeypatch):
    """Capture the matplotlib figures instead of writing PNGs."""
    drawn = []
    monkeypatch.setattr(P, "save_figure", lambda fig, path, dpi=100: drawn.append(fig) or Path(path))
    return drawn


def test_cumulative_figure_ends_at_each_agents_score(tiny_run, figures):
    from budgetgym.experiments.results import collect_oracle, collect_traces

    out_dir, _, _ = tiny_run
    P.plot_cumulative_reward(collect_traces(out_dir), collect_oracle(out_dir), "s3", out_dir / "x.png")
    (fig,) = figures
    lines = {ln.get_label().split(" (")[0]: ln.get_ydata() for ln in fig.axes[0].get_lines()}
    scores = pd.read_csv(out_dir / "results.csv").groupby("agent")["pct_of_oracle"].mean()
    for agent, score in scores.items():
        assert lines[agent][-1] == pytest.approx(score, rel=1e-9)
    assert list(lines["oracle"]) == [100.0, 100.0]  # the reference line
    legend = [t.get_text().split(" (")[0] for t in fig.axes[0].get_legend().get_texts()]
    assert legend == ["oracle", *scores.sort_values(ascending=False).index]


def test_score_intervals_are_sorted_by_score_in_every_panel(figures):
    summary = pd.DataFrame(
        {
            "scenario": ["a", "a", "a", "b", "b", "b"],
            "agent": ["x", "y", "z", "x", "y", "z"],
            "pct_of_oracle_mean": [90.0, 95.0, 80.0, 70.0, 60.0, 99.0],
            "pct_of_oracle_ci_lo": [89.0, 94.0, 79.0, 69.0, 59.0, 98.0],
            "pct_of_oracle_ci_hi": [91.0, 96.0, 81.0, 71.0, 61.0, 99.5],
            "iqm": [85.0, 80.0, 90.0] * 2,
            "iqm_ci_lo": [84.0, 79.0, 89.0] * 2,
            "iqm_ci_hi": [86.0, 81.0, 91.0] * 2,
        }
    )
    P.plot_score_intervals(summary, "unused.png")
    (fig,) = figures
    top_down = [[t.get_text() for t in ax.get_yticklabels()][::-1] for ax in fig.axes if ax.get_visible()]
    assert top_down == [["y", "x", "z"], ["z", "x", "y"], ["z", "x", "y"]]


def test_the_iqm_panel_says_its_interval_is_over_seeds(figures):
    """The IQM's interval resamples seeds only (the tables and report.md say so); the figure's IQM panel
    read "% of oracle (95% CI)" like a family's panel, whose interval is over draws and seeds."""
    summary = pd.DataFrame({"scenario": ["a", "a"], "agent": ["x", "y"], "pct_of_oracle_mean": [90.0, 95.0],
                            "pct_of_oracle_ci_lo": [89.0, 94.0], "pct_of_oracle_ci_hi": [91.0, 96.0],
                            "iqm": [90.0, 95.0], "iqm_ci_lo": [89.0, 94.0], "iqm_ci_hi": [91.0, 96.0]})
    P.plot_score_intervals(summary, "unused.png", confidence=0.9)
    (fig,) = figures
    iqm = [ax for ax in fig.axes if ax.get_visible() and ax.get_title().startswith("IQM")]
    assert len(iqm) == 1 and iqm[0].get_xlabel() == "% of oracle (90% CI over seeds)", iqm[0].get_xlabel()


def test_scenario_files_and_agent_parameters_list_every_error_with_verbose(tmp_path, capsys):
    """The same details for a scenario file (and 'did you mean' on each line)."""
    bad = tmp_path / "bad.yaml"
    from budgetgym.envs.scenario import builtin_scenario_dir

    text = (Path(builtin_scenario_dir()) / "stationary-3.yaml").read_text()
    bad.write_text(text.replace("horizon: 14", "horizon: 0\nhorizn: 3"))
    code, _, err = run_cli(capsys, "--verbose", "show", str(bad))
    assert code == 2
    lines = err.splitlines()
    assert "horizn: Extra inputs are not permitted (did you mean 'horizon'?)" in lines[0]
    assert "  - horizn: Extra inputs are not permitted (did you mean 'horizon'?)" in lines
    assert "  - horizon: Input should be greater than or equal to 1 (got 0)" in lines


@pytest.mark.parametrize(("argv", "needles"), [
    (["simulate", "stationary-3", "--periods", "abc", "--out", "x"],
     ["Invalid value for '--periods'", "valid integer", "(see 'budgetgym simulate --help')"]),
    (["simulate", "stationary-3", "--out", "x"], ["Missing option '--periods'", "(see 'budgetgym simulate --help')"]),
    (["calibrate", "d.csv", "--date", "d", "--kpi", "k", "--spend", "s", "--out", "x", "--draws", "1.5"],
     ["Invalid value for '--draws'", "(see 'budgetgym calibrate --help')"]),
    (["plan", "stationary-3", "--budjet", "5"],
     ["No such option: --budjet", "--budget", "(see 'budgetgym plan --help')"]),
    (["simulat"], ["No such command 'simulat'", "(see 'budgetgym --help')"]),
])
def test_a_usage_error_is_one_line_exit_2(tmp_path, capsys, monkeypatch, argv, needles):
    """Click's usage block (Usage:, Try ... --help, a blank line, Error: ...) was four lines."""
    monkeypatch.chdir(tmp_path)
    code, out, err = run_cli(capsys, *argv)
    assert code == 2 and out == "" and err.startswith("error: ") and err.count("\n") == 1, err
    assert all(n in err for n in needles), err
    assert list(tmp_path.iterdir()) == []


def test_no_command_still_shows_the_help(capsys):
    code, out, err = run_cli(capsys)
    assert code == 2 and "simulate" in out + err and "calibrate" in out + err


@pytest.mark.parametrize(("kind", "text", "message"), [
    ("experiment", "name: x\nscenarios: [stationary-3]\nagents: [equal]\nepisodes: true\n",
     "episodes: expected a number, got a boolean (true)"),
    ("experiment", "name: x\nscenarios: [stationary-3]\nagents: [equal]\nseeds: false\n",
     "seeds: expected a number, got a boolean (false)"),
    ("experiment", "name: x\nscenarios: [stationary-3]\nagents: [equal]\nseeds: [0, true]\n",
     "seeds[1]: expected a number, got a boolean (true)"),
    ("scenario", None, "channels[0].cost.price: expected a number, got a boolean (true)"),
    ("segments", None, "segments[0].reach.social: expected a number, got a boolean (true)"),
])
def test_a_boolean_where_a_number_is_expected_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], kind: str, text: str | None, message: str
) -> None:
    """pydantic's lax mode read ``episodes: true`` as 1 and ``price: true`` as 1.0: a YAML slip (a bare
    yes/no/true) silently became a number. Every validated model refuses it in one line, exit 2; a
    boolean field still takes a boolean."""
    import yaml

    from budgetgym.envs import load_scenario

    if kind == "scenario":
        data = load_scenario("stationary-3").model_dump(mode="json")
        data["channels"][0]["cost"]["price"] = True
        data["channels"][0]["adstock"]["normalize"] = True  # a boolean field: fine
        text = yaml.safe_dump(data)
    if kind == "segments":  # inside a field's dict of numbers (it read reach 1.0)
        data = load_scenario("overlap-5").model_dump(mode="json")
        data["segments"][0]["reach"]["social"] = True
        text = yaml.safe_dump(data)
    if kind in ("scenario", "segments"):
        argv = ["plan", str(write(tmp_path, text, "s.yaml")), "--no-plots", "--out", str(tmp_path / "out")]
    else:
        assert text is not None
        argv = ["run", str(write(tmp_path, text, "e.yaml")), "--out", str(tmp_path / "out")]
    code, _, err = run_cli(capsys, *argv)
    assert code == 2 and len(err.strip().splitlines()) == 1, err
    assert err.strip().endswith(message), err
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(("body", "message"), [
    ('episodes: "2"', "episodes: expected an integer, got a string ('2')"),
    ('draws: "3"', "draws: expected an integer, got a string ('3')"),
    ('seeds: ["0", "1"]', "seeds[0]: expected an integer, got a string ('0')"),
    ('bootstrap: {reps: "1000"}', "bootstrap.reps: expected an integer, got a string ('1000')"),
    ('bootstrap: {confidence: "0.9"}', "bootstrap.confidence: expected a number, got a string ('0.9')"),
    ("episodes: 2.5", "episodes: expected an integer, got a float (2.5)"),
    ('agents: [{agent: greedy, params: {grid_size: "20"}}]',
     "agent 'greedy' parameters: grid_size: expected an integer, got a string ('20')"),
    ('agents: [{agent: ppo, train: {total_timesteps: "2048"}}]',
     "agents[0].train: total_timesteps: expected an integer, got a string ('2048')"),
    ('agents: [{agent: proportional, params: {weights: {search: "5", social: 2, video: 1}}}]',
     "weights.search: expected a number, got a string ('5')"),
])
def test_a_number_given_as_text_is_one_line(tmp_path, capsys, body, message):
    """pydantic's lax mode read ``episodes: "2"`` as 2 (and ``reps: "1000"``, a PPO ``total_timesteps: "2048"``,
    a greedy ``grid_size: "20"``): quoted numbers were silently coerced, unlike a boolean. Refused in one line
    naming the file and field, exit 2, nothing written."""
    fields = {"name": "x", "scenarios": "[stationary-3]", "agents": "[equal]", "seeds": "2"}
    key, value = body.split(": ", 1)
    fields[key] = value
    path = write(tmp_path, "".join(f"{k}: {v}\n" for k, v in fields.items()), "e.yaml")
    code, _, err = run_cli(capsys, "run", str(path), "--out", str(tmp_path / "out"))
    assert code == 2 and len(err.strip().splitlines()) == 1, err
    assert err.startswith(f"error: experiment file '{path}': ") and err.strip().endswith(message), err
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(("kind", "body", "message"), [
    ("experiment", "episodes: 2.0", "episodes: expected an integer, got a float (2.0)"),
    ("experiment", "seeds: [0, 1.0]", "seeds[1]: expected an integer, got a float (1.0)"),
    ("experiment", "bootstrap: {reps: 1000.0}", "bootstrap.reps: expected an integer, got a float (1000.0)"),
    ("experiment", "agents: [{agent: greedy, params: {grid_size: 20.0}}]",
     "agent 'greedy' parameters: grid_size: expected an integer, got a float (20.0)"),
    ("experiment", "agents: [{agent: ppo, train: {total_timesteps: 2.048e+3}}]",
     "agents[0].train: total_timesteps: expected an integer, got a float (2048.0)"),
    ("scenario", "horizon: 14.0", "horizon: expected an integer, got a float (14.0)"),
    ("family", "seed: 3.0", "seed: expected an integer, got a float (3.0)"),
    ("family", "vary: {channels.search.adstock.window: {dist: integer, low: 10.0, high: 14}}",
     "adstock.window: integer: low: expected an integer, got a float (10.0)"),
])
def test_a_whole_float_in_an_integer_field_is_one_line(tmp_path, capsys, kind, body, message):
    """pydantic's lax mode read ``episodes: 2.0`` as 2 (a fractional ``2.5`` was refused): a float in an
    integer field passed in every validated file. Refused like a number given as text, in one line naming
    the file and field, exit 2, nothing written; a float field still takes a whole number."""
    import yaml

    key, value = body.split(": ", 1)
    if kind == "experiment":
        fields = {"name": "x", "scenarios": "[stationary-3]", "agents": "[equal]", "seeds": "2", key: value}
        path = write(tmp_path, "".join(f"{k}: {v}\n" for k, v in fields.items()), "e.yaml")
        argv = ["run", str(path), "--out", str(tmp_path / "out")]
    else:
        data = load_scenario("stationary-3").model_dump(mode="json")
        data["channels"][0]["cost"]["price"] = 2  # an integer in a float field: fine
        if kind == "family":
            data = {"family": "f", "scenario": data}
        data.update(yaml.safe_load(body))
        path = write(tmp_path, yaml.safe_dump(data), f"{kind[0]}.yaml")
        argv = ["plan", str(path), "--no-plots", "--out", str(tmp_path / "out")]
    code, _, err = run_cli(capsys, *argv)
    assert code == 2 and len(err.strip().splitlines()) == 1, err
    assert str(path) in err and err.strip().endswith(message), err
    assert not (tmp_path / "out").exists()


def test_a_float_field_takes_exponent_notation_pyyaml_reads_as_text(tmp_path):
    """PyYAML (YAML 1.1) reads ``3e-4`` and ``1.5e3`` as strings; a float field still takes them as the
    numbers YAML 1.2 reads (a PPO learning rate, a scenario's price), and an integer field does not."""
    from budgetgym.agents.base import AgentParams
    from budgetgym.envs.errors import StrictModel
    from budgetgym.experiments.config import load_experiment

    class P(StrictModel):
        rate: float = 0.0
        rates: dict[str, float] = {}
        count: int = 0

    assert P.model_validate({"rate": "3e-4", "rates": {"a": "1.5e3"}}).rate == 3e-4
    assert P.model_validate({"rates": {"a": "1.5e3"}}).rates == {"a": 1500.0}
    with pytest.raises(ValueError, match=r"count: expected an integer, got a string \('1e3'\)"):
        P.model_validate({"count": "1e3"})
    assert issubclass(AgentParams, StrictModel)
    path = write(tmp_path, "name: x\nscenarios: [stationary-3]\nseeds: 1\n"
                 "agents: [{agent: ppo, train: {learning_rate: 3e-4, total_timesteps: 256}}]\n", "e.yaml")
    assert load_experiment(path).agents[0].train == {"learning_rate": "3e-4", "total_timesteps": 256}


def test_every_command_has_a_one_line_summary_in_the_command_list():
    """``budgetgym --help`` prints a command's short help (or its docstring's first paragraph) with its
    line breaks: a multi-line one was cut mid-sentence ("the best constant split and the" / "oracle")."""
    import typer

    from budgetgym.experiments.cli import app

    commands = typer.main.get_command(app).commands  # type: ignore[attr-defined]
    assert {"show", "plan", "simulate", "calibrate", "segment", "run"} <= set(commands)
    for name, command in commands.items():
        summary = command.short_help or (command.help or "").split("\n\n", 1)[0]
        assert summary.strip() and "\n" not in summary.strip(), name


def test_an_interrupted_run_says_finished_runs_are_kept(tmp_path, capsys, monkeypatch):
    """Ctrl-C exited 130 in silence: typer turns it into Exit(130), which click returns instead of
    raising when not standalone, so main's message was never printed."""
    import budgetgym.experiments.runner as runner

    def interrupted(*args: object, **kwargs: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(runner, "run_experiment", interrupted)
    code, _, err = run_cli(capsys, "run", str(write(tmp_path, TINY)), "--out", str(tmp_path / "out"), "--no-progress")
    assert code == 130
    assert err == "interrupted: finished runs are kept; run the same command again to resume\n"
