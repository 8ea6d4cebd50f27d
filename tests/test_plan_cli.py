"""``budgetgym plan`` end to end, in-process: the files it writes (columns, rows, and numbers
checked against ``evaluate_plan`` computed here), the printed uplift, a family's held-out
distribution, re-runs and failures that leave nothing half-written, and one-line errors (exit 2)
for bad inputs."""

from __future__ import annotations

import contextlib
import io
import json
import re
import subprocess
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import files_of, interrupt_nth_change, interrupt_nth_move, run_cli

from budgetgym.envs import evaluate_plan, load_scenario, solve_oracle
from budgetgym.envs.family import load_family
from budgetgym.experiments.cli import main

ROOT = Path(__file__).resolve().parents[1]
SC = load_scenario("stationary-3")  # 3 channels, 14 steps, even pacing, conversions
T, K, B = SC.horizon, SC.n_channels, SC.budget.total
NAMES = SC.channel_names
EQUAL = np.full((T, K), SC.step_budget / K)


def _main(*argv: str) -> tuple[int, str]:
    """Run the command line, capturing stdout (for module-scoped fixtures, where capsys is not available)."""
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        code = main(list(argv))
    return code, buf.getvalue()


@pytest.fixture(scope="module")
def planned(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """stationary-3 against the equal split, with a 5-level frontier and the figures."""
    out = tmp_path_factory.mktemp("plan") / "s3"
    code, printed = _main("plan", "stationary-3", "--current", "equal", "--sweep", "0.5:2:5", "--out", str(out))
    assert code == 0, printed
    return out, printed


def _plan(out: Path) -> np.ndarray:
    return pd.read_csv(out / "plan.csv")[NAMES].to_numpy(float)


def _number(text: str) -> tuple[float, float]:
    """A printed number and half a unit of its last digit (the rounding it may carry)."""
    digits = len(text.split(".")[1]) if "." in text else 0
    return float(text.replace(",", "")), 0.5 * 10.0**-digits + 1e-9


# ----------------------------------------------------------------------------- the files
def test_every_file_is_written_with_its_columns_and_rows(planned):
    out, _ = planned
    files = {p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file()}
    assert files == {
        "plan.csv", "channels.csv", "frontier.csv", "curves.csv", "summary.json", "report.md",
        "plots/allocation.png", "plots/frontier.png", "plots/curves.png", "plots/flighting.png",
    }  # no draws.csv: a scenario has no held-out draws
    plan = pd.read_csv(out / "plan.csv")
    assert list(plan.columns) == ["step", "day", *NAMES, "total"]
    assert len(plan) == T and plan["step"].tolist() == list(range(T))
    assert plan["day"].tolist() == [SC.start_day + SC.step_days * t for t in range(T)]
    # even pacing: every step spends its step budget B / T, and total is the row's sum
    np.testing.assert_allclose(plan[NAMES].sum(axis=1), plan["total"], rtol=1e-12)
    np.testing.assert_allclose(plan["total"], B / T, rtol=1e-6)
    assert (plan[NAMES].to_numpy() >= 0).all()

    channels = pd.read_csv(out / "channels.csv")
    assert channels["channel"].tolist() == NAMES
    assert channels["spend"].sum() == pytest.approx(B, rel=1e-6)
    np.testing.assert_allclose(channels["spend"], plan[NAMES].sum(axis=0), rtol=1e-9)
    for col in ("share", "conversions", "outcome", "cpa", "mcpa", "current_spend", "change"):
        assert col in channels.columns, col
    np.testing.assert_allclose(channels["current_spend"], EQUAL.sum(axis=0), rtol=1e-12)
    # the channels' outcomes add up to the plan's value, computed here
    assert channels["outcome"].sum() == pytest.approx(float(evaluate_plan(SC, _plan(out))), rel=1e-9)

    frontier = pd.read_csv(out / "frontier.csv")
    np.testing.assert_allclose(frontier["multiple"], np.linspace(0.5, 2.0, 5))
    np.testing.assert_allclose(frontier["budget"], np.linspace(0.5, 2.0, 5) * B)
    assert np.all(np.diff(frontier["outcome"]) > 0)  # more budget, more conversions (concave curves)
    assert np.all(np.diff(frontier["mcpa"]) > 0)  # ... each dearer than the last
    assert {f"spend_{n}" for n in NAMES} <= set(frontier.columns)
    # each level spends its budget (even pacing, concave curves) and earns the oracle's value of the scenario
    # with that budget, solved here level by level (the file's numbers were only checked to rise)
    np.testing.assert_allclose(frontier[[f"spend_{n}" for n in NAMES]].sum(axis=1), frontier["budget"], rtol=1e-9)
    np.testing.assert_allclose(frontier["spend"], frontier["budget"], rtol=1e-9)
    oracle = [solve_oracle(SC.override({"budget.total": b})).expected_reward for b in frontier["budget"]]
    np.testing.assert_allclose(frontier["outcome"], oracle, rtol=1e-9)

    curves = pd.read_csv(out / "curves.csv")
    assert set(curves["point"]) == {"curve", "recommended", "current"}
    rec = curves[curves["point"] == "recommended"].set_index("channel")["spend"]
    np.testing.assert_allclose(rec[NAMES], plan[NAMES].sum(axis=0), rtol=1e-9)


def test_summary_records_the_arguments_the_commit_and_a_static_plan_valued_here(planned):
    out, _ = planned
    s = json.loads((out / "summary.json").read_text())
    assert s["arguments"]["campaign"] == "stationary-3"
    assert s["arguments"]["current"] == "equal" and s["arguments"]["sweep"] == "0.5:2:5"
    assert s["arguments"]["out"] == str(out)
    lift = (s["arguments"]["lift_design"], s["arguments"]["lift_tests"], s["arguments"]["lift_sigma"])
    assert lift == ("voi", 5, 0.15)
    assert set(s["files"]) == {p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file()}
    head = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "HEAD"], capture_output=True, text=True)
    if head.returncode == 0:
        assert s["git"]["commit"] == head.stdout.strip()
    # the static plan: its shares, spent evenly, are worth what the summary says, and no more than the plan
    q = np.array([s["static"]["shares"][n] for n in NAMES])
    static = np.tile(q * SC.step_budget, (T, 1))
    assert s["static"]["value"] == pytest.approx(float(evaluate_plan(SC, static)), rel=1e-9)
    assert s["recommended"]["value"] == pytest.approx(float(evaluate_plan(SC, _plan(out))), rel=1e-9)
    assert s["static"]["value"] <= s["recommended"]["value"] * (1 + 1e-9)


def test_report_links_every_figure_and_says_how_to_reproduce(planned):
    out, _ = planned
    text = (out / "report.md").read_text()
    links = re.findall(r"!\[[^\]]*\]\(([^)]+)\)", text)
    assert sorted(links) == sorted(f"plots/{n}.png" for n in ("allocation", "frontier", "curves", "flighting"))
    for link in links:
        assert (out / link).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert f"budgetgym plan stationary-3 --current equal --sweep 0.5:2:5 --out {out}" in text
    assert "| search |" in text


def test_command_line_leaves_out_defaults_and_keeps_the_rest() -> None:
    """The report's command omits the options at their defaults (the objective, the lift design's
    rule, number of tests and sigma) and spells out the others (``summary.json`` records every value:
    the summary test above)."""
    from budgetgym.planner.report import command_line

    base = {"campaign": "fam.yaml", "objective": "mean", "lift_design": "voi", "lift_tests": 5, "lift_sigma": 0.15,
            "draws": None, "plots": True}
    assert command_line(base) == "budgetgym plan fam.yaml"
    changed = {**base, "objective": "cvar:0.2", "lift_design": "beyond", "lift_tests": 3, "lift_sigma": 0.3}
    assert command_line(changed) == ("budgetgym plan fam.yaml --objective cvar:0.2 --lift-design beyond "
                                     "--lift-tests 3 --lift-sigma 0.3")


def test_command_line_quotes_words_a_shell_would_split() -> None:
    """The report's command runs as printed: a campaign path or a ``--current`` split with a space
    (or a shell character) is quoted, so the shell gives back each value whole."""
    import shlex

    from budgetgym.planner.report import command_line

    args = {"campaign": "my runs/family.yaml", "current": "search=0.4, social=0.6", "history": "h's.csv",
            "objective": "mean", "plots": True}
    words = shlex.split(command_line(args) or "")
    assert words == ["budgetgym", "plan", "my runs/family.yaml", "--current", "search=0.4, social=0.6",
                     "--history", "h's.csv"]


# ----------------------------------------------------------------------------- what it prints
def test_printed_uplift_is_evaluate_plan_of_recommended_minus_current(planned):
    out, printed = planned
    recommended = float(evaluate_plan(SC, _plan(out)))
    current = float(evaluate_plan(SC, EQUAL))
    line = next(x for x in printed.splitlines() if x.startswith("expected conversions: recommended"))
    m = re.search(r"recommended ([\d,.]+) vs current \(equal split\) ([\d,.]+): uplift \+([\d,.]+) \(\+([\d.]+)%\)",
                  line)
    assert m, line
    for text, truth in ((m.group(1), recommended), (m.group(2), current), (m.group(3), recommended - current),
                        (m.group(4), 100 * (recommended - current) / current)):
        value, tol = _number(text)
        assert abs(value - truth) <= tol, (text, truth)
    assert recommended - current > 0.05 * current  # the equal split is clearly worse on stationary-3
    # the table's total row says the same
    total = next(x for x in printed.splitlines() if x.strip().startswith("total"))
    assert f"+{m.group(3)} (+{float(m.group(4)):.1f}%)" in total


def test_printed_table_has_absolute_spend_and_conversions_per_channel(planned):
    out, printed = planned
    plan = _plan(out)
    header = next(x for x in printed.splitlines() if x.strip().startswith("channel"))
    for col in ("spend", "share", "current spend", "change", "expected conversions", "uplift", "CPA", "marginal CPA"):
        assert col in header, col
    for i, name in enumerate(NAMES):
        row = next(x for x in printed.splitlines() if x.strip().startswith(name + " "))
        spend, tol = _number(row.split()[1])
        assert abs(spend - plan[:, i].sum()) <= tol


def test_printed_and_reported_frontier_has_each_budgets_optimum_and_its_change(planned):
    """A planner asking "and with 20% less?" reads the answer without opening frontier.csv: a row per budget
    of the sweep with the best plan's conversions there (the oracle re-solved at that budget, computed here),
    its change from the budget's recommendation, and the spend per channel."""
    out, printed = planned
    recommended = float(evaluate_plan(SC, _plan(out)))
    lines = printed.splitlines()
    at = next(i for i, x in enumerate(lines) if x.strip().startswith("budget multiple"))
    header = lines[at]
    for col in ("budget", "expected conversions", "vs the recommendation", "marginal CPA", *NAMES):
        assert col in header, col
    rows = [x.split() for x in lines[at + 1:at + 6]]
    assert [r[0] for r in rows] == ["0.5×", "0.875×", "1.25×", "1.625×", "2×"]
    for r in rows:
        m = float(r[0].rstrip("×"))
        best = solve_oracle(SC.override({"budget.total": m * B}), seed=None)
        budget, tol = _number(r[1])
        assert abs(budget - m * B) <= tol
        value, tol = _number(r[2])
        assert abs(value - best.expected_reward) <= tol + 1e-6 * best.expected_reward, (r, best.expected_reward)
        change, tol = _number(r[3].lstrip("+"))
        assert abs(change - (best.expected_reward - recommended)) <= tol + 1e-6 * recommended
        spends = [_number(c)[0] for c in r[-K:]]
        assert abs(sum(spends) - m * B) <= K  # whole currency units, rounded
    report = (out / "report.md").read_text()
    assert "## Budget frontier" in report and "| 0.5× |" in report


def test_help_lists_the_plan_command_and_its_options(capsys):
    code, out, _ = run_cli(capsys, "--help")
    assert code == 0 and "plan" in out
    code, out, _ = run_cli(capsys, "plan", "--help")
    for option in ("--budget", "--horizon", "--current", "--history", "--sweep", "--target-mroas", "--target-mcpa",
                   "--draws", "--objective", "--out", "--no-plots"):
        assert option in out, option


# ----------------------------------------------------------------------------- a family
def test_a_family_scores_the_plans_on_held_out_draws(tmp_path, capsys):
    out = tmp_path / "fam"
    code, printed, err = run_cli(capsys, "plan", "retail-5-family", "--draws", "4", "--current", "equal",
                                 "--no-plots", "--out", str(out))
    assert code == 0, err
    draws = pd.read_csv(out / "draws.csv")
    assert list(draws.columns) == ["draw", "recommended", "static", "current"] and len(draws) == 4
    # each held-out draw's value is evaluate_plan of that draw's campaign, computed here
    fam = load_family("retail-5-family")
    plan = pd.read_csv(out / "plan.csv")
    nominal = fam.nominal()
    X = plan[nominal.channel_names].to_numpy(float)
    equal = np.full((nominal.horizon, nominal.n_channels), nominal.step_budget / nominal.n_channels)
    for i, sc in enumerate(fam.draws(4, "test")):
        assert draws["recommended"][i] == pytest.approx(float(evaluate_plan(sc, X)), rel=1e-9)
        assert draws["current"][i] == pytest.approx(float(evaluate_plan(sc, equal)), rel=1e-9)
    beats = re.search(r"P\(recommended beats current\) over the 4 held-out draws: ([\d.]+)", printed)
    assert beats and float(beats.group(1)) == pytest.approx(np.mean(draws["recommended"] > draws["current"]))
    rows = {x.split()[0]: x.split()[1:] for x in printed.splitlines() if x.split()[:1] in (["recommended"],
                                                                                             ["static"], ["current"])}
    for name in ("recommended", "static", "current"):
        expected = np.percentile(draws[name], [10, 50, 90])
        for text, truth in zip(rows[name][:3], expected, strict=True):
            value, tol = _number(text)
            assert abs(value - truth) <= tol, (name, text, truth)
    assert json.loads((out / "summary.json").read_text())["family"] is True
    assert "Figures were not drawn (`--no-plots`)." in (out / "report.md").read_text()


# ----------------------------------------------------------------------------- re-runs and failures
def test_a_rerun_removes_the_files_of_the_earlier_plan_only(tmp_path, capsys):
    out = tmp_path / "p"
    assert run_cli(capsys, "plan", "stationary-3", "--sweep", "0.5:2:3", "--no-plots", "--out", str(out))[0] == 0
    assert (out / "frontier.csv").is_file()
    (out / "notes.txt").write_text("mine")
    assert run_cli(capsys, "plan", "stationary-3", "--no-plots", "--out", str(out))[0] == 0
    assert not (out / "frontier.csv").exists()  # the directory describes one plan
    assert (out / "notes.txt").read_text() == "mine"
    assert not [p for p in tmp_path.iterdir() if p.name != "p"]  # no temporary directory left


def test_another_commands_directory_is_refused_not_overwritten(tmp_path, capsys):
    """``--out`` at a results directory replaced its ``report.md`` with the plan's (and a dataset's
    ``summary.json``): now one line before the solve, and the directory is left as it was."""
    results = tmp_path / "results"
    results.mkdir()
    for name in ("report.md", "meta.json", "results.csv"):
        (results / name).write_text(name)
    code, out, err = run_cli(capsys, "plan", "stationary-3", "--no-plots", "--out", str(results))
    assert code == 2 and out == ""
    assert err == (f"error: output directory '{results}': holds 'report.md', which the plan would replace, and no "
                   f"plan.csv of an earlier plan; expected a new directory or an earlier plan's\n")
    assert sorted(p.name for p in results.iterdir()) == ["meta.json", "report.md", "results.csv"]
    assert (results / "report.md").read_text() == "report.md"
    dataset = tmp_path / "ds"
    assert run_cli(capsys, "simulate", "stationary-3", "--periods", "5", "--out", str(dataset))[0] == 0
    before = (dataset / "summary.json").read_text()
    code, _, err = run_cli(capsys, "plan", "stationary-3", "--no-plots", "--out", str(dataset))
    assert code == 2 and "holds 'summary.json'" in err and err.count("\n") == 1
    assert (dataset / "summary.json").read_text() == before
    assert not [p for p in tmp_path.iterdir() if p.name not in ("results", "ds")]  # no temporary directory left


def test_without_matplotlib_everything_but_the_figures_is_written(tmp_path, capsys, monkeypatch):
    import budgetgym.planner.outputs as outputs

    monkeypatch.setattr(outputs, "matplotlib_available", lambda: False)
    out = tmp_path / "p"
    code, printed, _ = run_cli(capsys, "plan", "stationary-3", "--out", str(out))
    assert code == 0
    assert not (out / "plots").exists() and (out / "plan.csv").is_file()
    assert 'pip install "budgetgym[plot]"' in (out / "report.md").read_text()
    assert 'pip install "budgetgym[plot]"' in printed


def test_a_failing_figure_leaves_no_directory_and_an_old_one_as_it_was(tmp_path, capsys, monkeypatch):
    import budgetgym.planner.plots as plots

    def boom(*args: object, **kwargs: object) -> None:
        raise RuntimeError("figure exploded")

    monkeypatch.setattr(plots, "draw_plan_figures", boom)
    new = tmp_path / "a" / "b" / "new"
    code, _, err = run_cli(capsys, "plan", "stationary-3", "--out", str(new))
    assert code == 1 and "figure exploded" in err
    assert list(tmp_path.iterdir()) == []  # not even the parents it created
    old = tmp_path / "old"
    assert run_cli(capsys, "plan", "stationary-3", "--no-plots", "--out", str(old))[0] == 0
    before = {p.name: p.read_bytes() for p in old.iterdir()}
    code, _, _ = run_cli(capsys, "plan", "stationary-3", "--budget", "20000", "--out", str(old))
    assert code == 1
    assert {p.name: p.read_bytes() for p in old.iterdir()} == before
    assert [p.name for p in tmp_path.iterdir()] == ["old"]


def test_ctrl_c_while_moving_a_new_plan_in_leaves_the_earlier_plan_as_it_was(tmp_path, capsys, monkeypatch):
    """The staged files are renamed into ``--out`` one by one: a Ctrl-C (or a failing rename) after the
    second left a directory mixing the new plan's first files with the earlier plan's others."""

    old = tmp_path / "old"
    assert run_cli(capsys, "plan", "stationary-3", "--sweep", "0.5:2:3", "--no-plots", "--out", str(old))[0] == 0
    before = {p.name: p.read_bytes() for p in old.iterdir()}
    moved_in = interrupt_nth_move(monkeypatch, old, 3)
    code, _, _ = run_cli(capsys, "plan", "stationary-3", "--budget", "20000", "--no-plots", "--out", str(old))
    assert code == 130 and len(moved_in) >= 3
    assert {p.name: p.read_bytes() for p in old.iterdir()} == before
    assert [p.name for p in tmp_path.iterdir()] == ["old"]  # no temporary directory left


def test_ctrl_c_while_removing_an_earlier_plans_extra_file_leaves_the_earlier_plan(tmp_path, capsys, monkeypatch):
    """An earlier plan's files the new one has not (its frontier.csv) were deleted after the new files were
    moved in: a Ctrl-C there left the new plan beside the earlier plan's frontier, at another budget."""
    old = tmp_path / "old"
    assert run_cli(capsys, "plan", "stationary-3", "--sweep", "0.5:2:3", "--no-plots", "--out", str(old))[0] == 0
    before = files_of(old)
    changed = interrupt_nth_change(monkeypatch, old, 1, of=old / "frontier.csv")
    code, _, _ = run_cli(capsys, "plan", "stationary-3", "--budget", "20000", "--no-plots", "--out", str(old))
    assert code == 130 and changed == [old / "frontier.csv"]
    assert files_of(old) == before
    assert [p.name for p in tmp_path.iterdir()] == ["old"]  # no temporary directory left


def test_a_write_error_is_one_line_exit_2(tmp_path, capsys, monkeypatch):
    import budgetgym.planner.outputs as outputs

    def full(*args: object, **kwargs: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(outputs, "write_json", full)
    out = tmp_path / "p"
    code, _, err = run_cli(capsys, "plan", "stationary-3", "--no-plots", "--out", str(out))
    assert code == 2
    assert err == f"error: output directory '{out}': cannot be written (No space left on device)\n"
    assert list(tmp_path.iterdir()) == []


# ----------------------------------------------------------------------------- bad inputs
def _steps(rows: int, columns: dict[str, object]) -> str:
    frame = pd.DataFrame({"step": range(rows), **{k: [v] * rows for k, v in columns.items()}})
    return frame.to_csv(index=False)


GOOD = {"search": 1000.0, "social": 1000.0, "video": 1000.0}
BAD_FILES = {
    "current-unknown-channel": ("current", _steps(T, {"search": 1.0, "social": 1.0, "tiktok": 1.0}),
                                ["unknown channel 'tiktok'"]),
    "current-negative": ("current", "channel,spend\nsearch,100\nsocial,-5\nvideo,100\n",
                         ["column 'spend', row 2", "non-negative", "-5"]),
    "current-rows": ("current", _steps(T - 1, GOOD), [f"expected {T} rows", f"got {T - 1}"]),
    "history-missing-channel": ("history", _steps(3, {"search": 1.0, "social": 1.0}),
                                ["missing channel column(s) video"]),
    "history-not-a-number": ("history", "search,social,video\n1,2,3\n1,abc,3\n", ["column 'social', row 2", "'abc'"]),
    "history-negative": ("history", "search,social,video\n1,2,-3\n", ["column 'video', row 1", "non-negative"]),
    "history-empty-cell": ("history", "search,social,video\n1,,3\n",
                           ["column 'social', row 1", "got an empty or NaN cell"]),
    "history-column-twice": ("history", "search,social,search,video\n1,2,3,4\n",
                             ["the header names column 'search' twice"]),
    "history-pipes": ("history", "search|social|video\n1|2|3\n", ["a header separated by '|'"]),
    # a ';' history of spends 1.500 (1500, or 1.5?): never guessed, --decimal says which
    "history-ambiguous-decimal": ("history", "search;social;video\n1.500;2;3\n",
                                  ["'1.500' (column 'search', row 1) reads as 1500 with the decimal comma",
                                   "pass --decimal , (it is 1500) or --decimal . (it is 1.5)"]),
    "history-huge": ("history", "search,social,video\n1,2,3\n1e300,2,3\n",
                     ["spend must be at most 1e+15 a step", "got 1e+300 for search at step -1"]),
    # pandas read 'search' as the index and shifted the columns: "column 'video', row 1: ... an empty or NaN cell"
    # a header alone was read as a current plan of no spend: exit 0, "uplift +3,478" over nothing
    "current-header-only": ("current", "channel,spend\n", ["the table has no rows; expected one row per channel"]),
    # the total was printed with every one of its 309 digits
    "current-huge": ("current", "channel,spend\nsearch,1e308\n", ["spends 1e+308, more than the budget 84,000.00"]),
    "history-trailing-commas": ("history", "search,social,video\n1,2,3,\n4,5,6,\n",
                                ["not a readable CSV table", "Expected 3 fields in line 2, saw 4"]),
}


@pytest.mark.parametrize("case", list(BAD_FILES))
def test_a_bad_file_is_one_line_naming_the_file_and_field(tmp_path, capsys, case):
    option, text, needles = BAD_FILES[case]
    path = tmp_path / f"{option}.csv"
    path.write_text(text)
    out = tmp_path / "out"
    code, _, err = run_cli(capsys, "plan", "stationary-3", f"--{option}", str(path), "--out", str(out))
    assert code == 2 and err.count("\n") == 1 and err.startswith("error: "), err
    assert f"'{path}'" in err, err
    for needle in needles:
        assert needle in err, (needle, err)
    assert sorted(p.name for p in tmp_path.iterdir()) == [path.name]  # no output directory, no partial file


BAD_OPTIONS = {
    "sweep-reversed": (["--sweep", "2:1:5"], "--sweep '2:1:5': expected 0 < LOW < HIGH"),
    # a level of budget inf was solved: a numpy overflow warning, then "budget: expected a positive amount, got inf"
    "sweep-huge": (["--sweep", "1:1e308:3"], "--sweep '1:1e308:3': the level 5e+307 x the budget 84000 = inf is not"),
    "sweep-tiny": (["--sweep", "1e-300:1:3"], "--sweep '1e-300:1:3': the level 1e-300 x the budget 84000"),
    "objective": (["--objective", "foo"], "--objective 'foo': expected 'mean' or 'cvar:ALPHA'"),
    "cvar-alpha": (["--objective", "cvar:2"], "--objective 'cvar:2': expected cvar:ALPHA with 0 < ALPHA <= 1"),
    "target-mroas-on-conversions": (["--target-mroas", "1.5"], "--target-mroas: this campaign's reward is conversions"),
    "current-unknown-split": (["--current", "search=0.5,tv=0.5"], "unknown channel 'tv'"),
    # the later value silently replaced the earlier one: planned against a current plan of 30,000 + 10,000
    "current-channel-twice": (["--current", "search=20000,search=30000,social=10000"],
                              "--current 'search=20000,search=30000,social=10000': channel 'search' is given twice"),
    "draws-huge": (["--draws", "100000000"], "--draws: expected 1 to 1000 draws, got 100000000"),  # ran out of memory
    "budget-zero": (["--budget", "0"], "--budget: expected a positive amount of currency (1e-9 to 1e15), got 0"),
    "budget-nan": (["--budget", "nan"], "--budget: expected a positive amount of currency"),
    # just above the range: printed as 'got 1e+15', its end (hypothesis seed 2 of the schema-edge strategy)
    "budget-above": (["--budget", "1.0000001e15"], "(1e-9 to 1e15), got 1.0000001e+15"),
    "horizon-zero": (["--horizon", "0"], "--horizon: expected 1 to 5000 steps, got 0"),
    "start-date": (["--start-date", "0001-03-01"], "--start-date '0001-03-01': expected a date"),
}


@pytest.mark.parametrize("case", list(BAD_OPTIONS))
def test_a_bad_option_is_one_line_exit_2(tmp_path, capsys, case):
    argv, needle = BAD_OPTIONS[case]
    out = tmp_path / "out"
    code, _, err = run_cli(capsys, "plan", "stationary-3", *argv, "--out", str(out))
    assert code == 2 and err.count("\n") == 1 and needle in err, err
    assert not out.exists()


def _stationary_3(edit: Callable[[str], str]) -> str:
    from budgetgym.envs.scenario import builtin_scenario_dir

    return edit((builtin_scenario_dir() / "stationary-3.yaml").read_text(encoding="utf-8"))


BAD_CAMPAIGNS = {
    "duplicate-key": (lambda t: t.replace("horizon: 14\n", "horizon: 14\nhorizon: 28\n"),  # was read as 28, silently
                      "invalid YAML at line 7, column 1: key 'horizon' is given twice in one mapping"),
    "truncated": (lambda t: t[: t.index("cost: {unit: click") + 30], "invalid YAML at line 17"),  # the line after
    "wrong-type": (lambda t: t.replace("horizon: 14", "horizon: two weeks"),
                   "horizon: Input should be a valid integer"),
    "missing-key": (lambda t: t.replace("horizon: 14\n", ""), "horizon: Field required"),
}


@pytest.mark.parametrize("case", list(BAD_CAMPAIGNS))
def test_a_malformed_campaign_file_is_one_line_naming_the_file_and_field(tmp_path, capsys, case):
    edit, needle = BAD_CAMPAIGNS[case]
    path = tmp_path / "campaign.yaml"
    path.write_text(_stationary_3(edit), encoding="utf-8")
    out = tmp_path / "out"
    code, _, err = run_cli(capsys, "plan", str(path), "--out", str(out))
    assert code == 2 and err.count("\n") == 1 and f"'{path}'" in err and needle in err, err
    assert not out.exists()


def test_an_unknown_scenario_or_a_file_as_out_dir_is_one_line_exit_2(tmp_path, capsys):
    code, _, err = run_cli(capsys, "plan", str(tmp_path), "--out", str(tmp_path / "out"))  # was "not found"
    assert code == 2 and err == f"error: scenario file '{tmp_path}': is a directory; expected a YAML file\n"
    code, _, err = run_cli(capsys, "plan", "stationary-33", "--out", str(tmp_path / "out"))
    assert code == 2 and err.startswith("error: unknown scenario 'stationary-33' (did you mean 'stationary-3'?)")
    assert err.count("\n") == 1 and not (tmp_path / "out").exists()
    blocker = tmp_path / "file"
    blocker.write_text("x")
    code, _, err = run_cli(capsys, "plan", "stationary-3", "--out", str(blocker))
    assert code == 2 and err == f"error: output directory '{blocker}': exists and is not a directory\n"
    assert blocker.read_text() == "x"
    code, _, err = run_cli(capsys, "plan", "stationary-3", "--out", str(blocker / "sub"))  # before the solve
    assert code == 2 and err == f"error: output directory '{blocker / 'sub'}': '{blocker}' is a file, not a directory\n"


def test_the_curve_of_an_almost_unused_channel_spans_twice_an_equal_share():
    """A channel the plan gives (next to) nothing still gets a readable curve: 0 to 2 B / K."""
    from budgetgym.planner.curves import response_curves
    from budgetgym.planner.problem import PlanningProblem

    X = np.tile([SC.step_budget * 0.6, SC.step_budget * (0.4 - 1e-9), SC.step_budget * 1e-9], (T, 1))
    curves = response_curves(PlanningProblem("stationary-3").objective, X, NAMES, SC.reward)
    top = curves[curves["point"] == "curve"].groupby("channel")["spend"].max()
    assert top["video"] == pytest.approx(2 * B / K, rel=1e-9)
    assert top["search"] == pytest.approx(2 * 0.6 * B, rel=1e-9)


def test_the_curves_of_a_plan_spending_almost_nothing_span_twice_an_equal_share_of_the_budget():
    """A profit reward no channel pays back (revenue 0.5 a conversion), under agent pacing: the plan
    spends about 1e-6 of 560,000, and every curve spanned twice an equal share of that spend (0 to
    about 1e-6), collapsed at 0; it spans 0 to 2 B / K = 224,000. A plan spending a normal amount keeps
    its curves: stationary-3's are those of the plan's spend, as without the budget."""
    from budgetgym.planner import plan
    from budgetgym.planner.curves import response_curves
    from budgetgym.planner.problem import PlanningProblem

    low_value = {f"channels.{i}.value.mean": 0.5 for i in range(5)}
    sc = load_scenario("delayed-5").override({"reward": "profit", **low_value})
    res = plan(sc, lift_design="none")
    assert res.plan.sum() < 1e-9 * sc.budget.total and res.curves is not None
    curve = res.curves[res.curves["point"] == "curve"]
    for _, c in curve.groupby("channel"):
        np.testing.assert_allclose(c["spend"], np.linspace(0.0, 2 * sc.budget.total / 5, 41), rtol=1e-12)
        assert c["outcome"].iloc[-1] < -0.9 * c["spend"].iloc[-1]  # spending loses about all of it
    res = plan("stationary-3", lift_design="none")
    assert res.curves is not None
    same = response_curves(PlanningProblem("stationary-3").objective, res.plan, NAMES, SC.reward)
    pd.testing.assert_frame_equal(res.curves, same, check_exact=True)


def test_the_commands_defaults_are_the_librarys_and_the_reports() -> None:
    """``budgetgym plan``'s defaults of the objective and the lift design are ``plan()``'s, and the
    report leaves exactly those out of the command it prints (three places one change must keep
    together: the CLI spells them out, it does not import the planner at start-up)."""
    import inspect

    from budgetgym.experiments.cli_planning import plan_cmd
    from budgetgym.planner import plan
    from budgetgym.planner.report import COMMAND_DEFAULTS

    cli, lib = inspect.signature(plan_cmd).parameters, inspect.signature(plan).parameters
    assert {k: cli[k].default for k in COMMAND_DEFAULTS} == COMMAND_DEFAULTS
    assert {k: lib[k].default for k in COMMAND_DEFAULTS} == COMMAND_DEFAULTS


def test_ratio_columns_are_empty_where_not_defined_never_inf(tmp_path):
    """channels.csv wrote ``inf`` for ``vs_history_max`` of a channel the history never spent on (and could
    for ``mcpa`` with no marginal conversions) but an empty cell for ``current_roas`` of a channel the
    current plan does not spend on: every ratio with a zero denominator is now an empty cell (not defined)."""
    from budgetgym.planner.outputs import write_plan
    from budgetgym.planner.plan import plan

    history = np.full((4, K), B / T / K)
    history[:, 0] = 0.0  # search: never spent in the history, so its multiple of the history's peak is undefined
    current = np.full((T, K), B / T / 2)
    current[:, 1] = 0.0  # social: the current plan spends nothing, so its current ROAS and CPA are undefined
    result = plan(SC, history=history, current=current, curves=False, lift_design="none")
    write_plan(result, tmp_path / "p", plots=False)
    text = (tmp_path / "p" / "channels.csv").read_text()
    assert "inf" not in text.lower()
    ch = pd.read_csv(tmp_path / "p" / "channels.csv").set_index("channel")
    assert ch.loc["search", "spend"] > 0 and ch.loc["search", "history_max_spend"] == 0
    assert np.isnan(ch.loc["search", "vs_history_max"])
    assert ch.loc["video", "vs_history_max"] == pytest.approx(
        _plan(tmp_path / "p")[:, 2].max() / (B / T / K), rel=1e-9)  # defined: plan's peak / history's peak
    for col in ("current_roas", "current_cpa", "change_pct"):
        assert np.isnan(ch.loc["social", col]), col
    assert np.isfinite(ch.loc["video", ["current_roas", "current_cpa", "change_pct"]].to_numpy(float)).all()


def test_every_plan_file_writes_an_undefined_number_as_an_empty_cell(tmp_path):
    """The rule is the writer's, for every CSV of a plan: ``inf`` (a marginal CPA with no marginal
    conversions, ``mcpa`` in frontier.csv too) is written as an empty cell, like ``NaN``."""
    from dataclasses import replace

    from budgetgym.planner.outputs import write_plan
    from budgetgym.planner.plan import plan

    result = plan(SC, sweep="0.5:1:2", curves=False, lift_design="none")
    channels = result.channels.assign(mcpa=[np.inf, 1.0, -np.inf])
    frontier = result.frontier.assign(mcpa=np.inf)
    write_plan(replace(result, channels=channels, frontier=frontier), tmp_path / "p", plots=False)
    for name in ("channels.csv", "frontier.csv"):
        assert "inf" not in (tmp_path / "p" / name).read_text().lower(), name
    assert pd.read_csv(tmp_path / "p" / "channels.csv")["mcpa"].isna().tolist() == [True, False, True]
    assert pd.read_csv(tmp_path / "p" / "frontier.csv")["mcpa"].isna().all()


def test_the_printed_shares_typed_back_as_the_current_split_are_accepted_and_noted(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The table's shares are rounded to 0.1% (stationary-3: 77.7%, 17.3%, 5.1%, which sum to 100.1%); typed
    back as ``--current`` they were refused (exit 2). They are now the split, scaled to sum to 100% with a
    note (printed and in summary.json), and valued as that split evenly flighted: the recommendation's
    shares to the digits printed, whose value is the static plan's to well within the rounding."""
    code, printed, err = run_cli(capsys, "plan", "stationary-3", "--lift-design", "none", "--no-plots",
                                 "--out", str(tmp_path / "first"))
    assert code == 0, err
    rows = re.finditer(r"^ (\w+) +[\d,]+ +([\d.]+)%", printed, re.M)
    shares = {m.group(1): m.group(2) for m in rows if m.group(1) != "total"}
    assert set(shares) == set(NAMES)
    typed = ",".join(f"{c}={s}%" for c, s in shares.items())
    total = sum(float(s) for s in shares.values())
    code, printed, err = run_cli(capsys, "plan", "stationary-3", "--current", typed, "--lift-design", "none",
                                 "--no-plots", "--out", str(tmp_path / "again"))
    assert code == 0, err
    note = (f"--current {typed!r}: the split sums to {total:g}%, within the rounding of the digits given (±0.15%); "
            f"scaled to sum to 100%")
    assert f"note: {note}\n" in printed
    current = json.loads((tmp_path / "again" / "summary.json").read_text())["current"]
    assert current["note"] == note and current["source"] == "split"
    q = np.array([float(shares[n]) for n in NAMES]) / total
    assert current["value"] == pytest.approx(float(evaluate_plan(SC, np.tile(q * SC.step_budget, (T, 1)))), rel=1e-9)
    assert current["spend"] == pytest.approx(B, rel=1e-12)
