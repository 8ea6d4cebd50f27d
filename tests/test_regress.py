"""The policy-quality gate: ``budgetgym baseline`` / ``budgetgym regress`` (budgetgym.experiments.regress)."""

from __future__ import annotations

import copy
import json
import shutil
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from budgetgym.agents import make_agent
from budgetgym.agents.evaluation import evaluate
from budgetgym.envs import ChannelBudgetEnv, load_scenario
from budgetgym.envs.errors import BudgetGymError
from budgetgym.experiments.cli import main
from budgetgym.experiments.config import config_hash, experiment_from_dict, load_experiment
from budgetgym.experiments.regress import (
    Baseline,
    compare,
    load_baseline,
    load_results,
    record_baseline,
    results_config_hash,
    write_baseline,
)
from budgetgym.experiments.runner import run_experiment

ROOT = Path(__file__).resolve().parents[1]
GOOD = {"search": 5, "social": 2, "video": 1}
BAD = {"search": 1, "social": 2, "video": 5}  # the planted regression: weights made worse

TINY: dict[str, Any] = {
    "name": "tiny-gate",
    "scenarios": ["stationary-3"],
    "seeds": 4,
    "agents": [
        "equal",
        {"agent": "proportional", "params": {"weights": GOOD}},
        "thompson",
    ],
    "bootstrap": {"reps": 1000},
}


def tiny(**changes: Any) -> dict[str, Any]:
    data = copy.deepcopy(TINY)
    data.update(changes)
    return data


def run_cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def one_line_error(err: str) -> str:
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, err
    assert lines[0].startswith("error: ")
    return lines[0]


@pytest.fixture(scope="module")
def grid(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A tiny real run (fixed splits + a bandit on stationary-3) and the baseline recorded from it."""
    tmp = tmp_path_factory.mktemp("gate")
    res = run_experiment(experiment_from_dict(tiny()), tmp / "base", plots=False)
    assert res.ok
    assert main(["baseline", str(tmp / "base"), "--out", str(tmp / "baseline.json")]) == 0
    return tmp / "base", tmp / "baseline.json"


def copy_results(src: Path, dst: Path) -> Path:
    """A results directory holding only results.csv, meta.json and experiment.yaml of ``src``."""
    dst.mkdir(parents=True)
    for name in ("results.csv", "meta.json", "experiment.yaml"):
        shutil.copy(src / name, dst / name)
    return dst


def edit_results(directory: Path, fn: Any) -> None:
    frame = pd.read_csv(directory / "results.csv")
    frame = fn(frame)
    frame.to_csv(directory / "results.csv", index=False)


def shift(agent: str, points: float) -> Any:
    def fn(frame: pd.DataFrame) -> pd.DataFrame:
        frame.loc[frame["agent"] == agent, "pct_of_oracle"] += points
        return frame

    return fn


# ------------------------------------------------------------------------------ the gate
def test_baseline_file_records_means_per_seed_values_hash_and_versions(grid):
    base_dir, path = grid
    data = json.loads(path.read_text())
    assert data["schema_version"] == 1
    assert data["config_hash"] == json.loads((base_dir / "meta.json").read_text())["config_hash"]
    assert data["versions"]["numpy"]
    frame = pd.read_csv(base_dir / "results.csv")
    entry = next(e for e in data["entries"] if e["agent"] == "thompson")
    rec = entry["metrics"]["pct_of_oracle"]
    assert rec["n_seeds"] == 4 and sorted(rec["per_seed"]) == ["0", "1", "2", "3"]
    expected = frame[frame["agent"] == "thompson"]["pct_of_oracle"].mean()
    assert rec["mean"] == pytest.approx(expected)


def test_unchanged_results_pass_and_the_markdown_report_has_the_table(grid, tmp_path, capsys):
    base_dir, path = grid
    md = tmp_path / "gate.md"
    code, out, err = run_cli(capsys, "regress", base_dir, "--baseline", path, "--report", md)
    assert code == 0, out + err
    assert "passed" in out
    for header in ("baseline", "now", "difference", "CI", "verdict"):
        assert header in out
    text = md.read_text()
    assert "| scenario | agent | metric | baseline | now | difference | CI | seeds | verdict |" in text
    assert text.count("| stationary-3 |") == 3
    assert "99% bootstrap interval" in text  # the gate's default coverage
    assert "regressed" not in text


def test_a_fresh_rerun_reproduces_the_baseline_exactly(grid, tmp_path):
    _, path = grid
    run_experiment(experiment_from_dict(tiny()), tmp_path / "again", plots=False)
    rep = compare(tmp_path / "again", path)
    assert rep.ok
    assert all(r.diff == 0.0 and r.verdict == "ok" for r in rep.rows)


def test_planted_drop_of_three_points_in_the_results_is_caught(grid, tmp_path, capsys):
    base_dir, path = grid
    now = copy_results(base_dir, tmp_path / "now")
    edit_results(now, shift("thompson", -3.0))
    md = tmp_path / "gate.md"
    code, out, _ = run_cli(capsys, "regress", now, "--baseline", path, "--report", md)
    assert code == 1
    assert "FAILED" in out and "thompson" in out.splitlines()[-1]
    rep = compare(now, path)
    verdicts = {r.agent: r.verdict for r in rep.rows}
    assert verdicts == {"equal": "ok", "proportional": "ok", "thompson": "regressed"}
    row = next(r for r in rep.rows if r.agent == "thompson")
    assert row.diff == pytest.approx(-3.0) and row.ci_hi < -1.0
    assert "**regressed**" in md.read_text()


def test_planted_parameter_regression_needs_allow_config_change_and_is_caught(grid, tmp_path, capsys):
    _, path = grid
    worse = tiny(agents=["equal", {"agent": "proportional", "params": {"weights": BAD}}, "thompson"])
    run_experiment(experiment_from_dict(worse), tmp_path / "worse", plots=False)
    code, _, err = run_cli(capsys, "regress", tmp_path / "worse", "--baseline", path)
    assert code == 2
    assert "--allow-config-change" in one_line_error(err)
    code, _, err = run_cli(capsys, "regress", tmp_path / "worse", "--baseline", path, "--allow-config-change")
    assert code == 1
    assert "config changed" in err
    rep = compare(tmp_path / "worse", path, allow_config_change=True)
    assert [r.agent for r in rep.failed] == ["proportional"]
    assert rep.failed[0].diff < -5


def test_tolerance_is_a_fraction_of_the_oracle(grid, tmp_path, capsys):
    base_dir, path = grid
    now = copy_results(base_dir, tmp_path / "now")
    edit_results(now, shift("equal", -0.5))  # half a percentage point, on every seed
    assert run_cli(capsys, "regress", now, "--baseline", path)[0] == 0  # default 0.01 = 1 point
    code, out, _ = run_cli(capsys, "regress", now, "--baseline", path, "--tolerance", "0.002")
    assert code == 1 and "equal" in out.splitlines()[-1]


def test_improvements_pass_and_are_labelled(grid, tmp_path):
    base_dir, path = grid
    now = copy_results(base_dir, tmp_path / "now")
    edit_results(now, shift("equal", +3.0))
    rep = compare(now, path)
    assert rep.ok
    assert {r.agent: r.verdict for r in rep.rows}["equal"] == "improved"


def test_an_agent_missing_from_the_results_fails_and_a_new_one_is_reported(grid, tmp_path, capsys):
    base_dir, path = grid
    now = copy_results(base_dir, tmp_path / "now")

    def rename(frame: pd.DataFrame) -> pd.DataFrame:
        frame.loc[frame["agent"] == "thompson", "agent"] = "thompson_v2"
        return frame

    edit_results(now, rename)
    code, _, _ = run_cli(capsys, "regress", now, "--baseline", path)
    assert code == 1
    rep = compare(now, path)
    verdicts = {r.agent: r.verdict for r in rep.rows}
    assert verdicts["thompson"] == "missing" and verdicts["thompson_v2"] == "new"
    assert [r.agent for r in rep.failed] == ["thompson"]


def test_seeds_on_one_side_only_are_dropped_with_a_warning(grid, tmp_path, capsys):
    """A baseline seed without a result under the same experiment config is a run that crashed or came
    back nan: the row is ``incomplete`` and fails (it passed on the seeds left, so one good seed of eight
    passed the gate). Under --allow-config-change (another grid) it is only a warning."""
    base_dir, path = grid
    now = copy_results(base_dir, tmp_path / "now")
    edit_results(now, lambda f: f[f["seed"] != 3])
    code, _, err = run_cli(capsys, "regress", now, "--baseline", path)
    assert code == 1
    assert "paired on 3 common seeds;" in err and "only in baseline: 3" in err
    rep = compare(now, path)
    assert all(r.n_pairs == 3 for r in rep.rows) and {r.verdict for r in rep.rows} == {"incomplete"}
    assert not rep.ok
    one = copy_results(base_dir, tmp_path / "one")
    edit_results(one, lambda f: f[f["seed"] == 0])
    assert any("paired on 1 common seed;" in note for note in compare(one, path).notes)  # not "1 common seed(s)"
    # a nan result of a seed is the same as none
    now_nan = copy_results(base_dir, tmp_path / "now_nan")
    edit_results(now_nan, lambda f: f.assign(pct_of_oracle=f["pct_of_oracle"].where(f["seed"] != 2)))
    assert "incomplete" in {r.verdict for r in compare(now_nan, path).rows}
    # another grid (fewer seeds, say): the seeds in common are compared, the rest is a note
    meta = json.loads((now / "meta.json").read_text())
    meta["config_hash"] = "another"
    (now / "meta.json").write_text(json.dumps(meta))
    rep = compare(now, path, allow_config_change=True)
    assert rep.ok and {r.verdict for r in rep.rows} == {"ok"}
    # no common seed at all: the rows cannot be compared and the gate fails
    edit_results(now, lambda f: f.assign(seed=f["seed"] + 100))
    rep = compare(now, path, allow_config_change=True)
    assert not rep.ok and {r.verdict for r in rep.rows} == {"unpaired"}


# ------------------------------------------------------------------------------ seed noise
def _synthetic_dir(path: Path, rows: list[dict[str, Any]], hash_: str) -> Path:
    path.mkdir(parents=True)
    pd.DataFrame(rows).to_csv(path / "results.csv", index=False)
    (path / "meta.json").write_text(json.dumps({"experiment": "noise", "config_hash": hash_}))
    return path


@pytest.mark.parametrize("agent", ["thompson", "epsilon_greedy", "model_thompson"])
def test_seed_noise_of_the_same_agent_never_trips_the_gate(tmp_path, agent):
    """11 disjoint blocks of 8 evaluation seeds x 4 episodes (the regression grid's shape); every
    block is in turn the baseline, and every other block a re-seeded run of the same agent, paired
    with it by position: 110 comparisons (they were 20, block 0 against blocks 1..20, from twice the
    episodes; a gate without its tolerance trips on this agent set in both). model_thompson is the
    noisiest agent of the grid on stationary-3."""
    sc = load_scenario("stationary-3")
    n, blocks, episodes = 8, 11, 4
    results = evaluate(make_agent(agent, ChannelBudgetEnv(sc)), sc, seeds=range(n * blocks), episodes=episodes)
    rows = [r.row() for r in results]
    per_seed = pd.DataFrame(rows).groupby("seed")["pct_of_oracle"].mean()
    assert per_seed.std() > 0.3  # the agent is genuinely noisy across seeds

    def block(k: int) -> list[dict[str, Any]]:
        return [
            {**row, "scenario": "stationary-3", "agent": agent, "seed": row["seed"] - k * n}  # paired by position
            for row in rows
            if k * n <= row["seed"] < (k + 1) * n
        ]

    dirs = [_synthetic_dir(tmp_path / f"b{k}", block(k), "noise") for k in range(blocks)]
    diffs = []
    for j in range(blocks):
        base = record_baseline(dirs[j])
        for k in range(blocks):
            if k != j:
                rep = compare(dirs[k], base)
                assert rep.ok, (j, k, rep.rows)
                assert rep.rows[0].n_pairs == n
                diffs.append(rep.rows[0].diff)
    assert len(diffs) == blocks * (blocks - 1)
    assert max(abs(d) for d in diffs) > 0  # the comparisons did see seed noise


def test_labels_that_read_as_missing_values_are_gated(tmp_path):
    """A scenario labelled NA (North America) or an agent labelled None is a label, not a missing
    value: results.csv must not drop its rows, or the gate would silently never look at them."""
    rows = [
        {"scenario": sc, "agent": ag, "seed": s, "episode": 0, "pct_of_oracle": 90.0 + s, "split": ""}
        for sc in ("NA", "EU")
        for ag in ("None", "equal")
        for s in range(3)
    ]
    base = record_baseline(_synthetic_dir(tmp_path / "base", rows, "labels"))
    assert {(e.scenario, e.agent) for e in base.entries} == {
        (sc, ag) for sc in ("NA", "EU") for ag in ("None", "equal")
    }
    worse = [{**r, "pct_of_oracle": r["pct_of_oracle"] - 5} if r["scenario"] == "NA" else r for r in rows]
    rep = compare(_synthetic_dir(tmp_path / "now", worse, "labels"), base)
    assert {(r.scenario, r.agent) for r in rep.failed} == {("NA", "None"), ("NA", "equal")}


@pytest.mark.parametrize("seed", ["x", 1.5, ""])
def test_a_results_csv_with_a_bad_seed_exits_2_with_one_line(grid, tmp_path, capsys, seed):
    _, path = grid
    rows = [{"scenario": "stationary-3", "agent": "equal", "seed": s, "episode": 0, "pct_of_oracle": 90.0}
            for s in (0, seed)]
    now = _synthetic_dir(tmp_path / "now", rows, load_baseline(path).config_hash)
    code, _, err = run_cli(capsys, "regress", now, "--baseline", path)
    assert code == 2
    assert "results.csv" in one_line_error(err) and "seed" in err


# ------------------------------------------------------------------------------ user errors
def _baseline_json(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text())


@pytest.mark.parametrize(
    ("name", "content", "needle"),
    [
        ("corrupt", "{not json", "invalid JSON at line 1"),
        ("list", "[1, 2]", "expected a JSON object"),
        ("schema", lambda d: {**d, "schema_version": 99}, "schema_version 99 is not supported"),
        ("extra", lambda d: {**d, "surprise": 1}, "surprise"),
        ("no-entries", lambda d: {**d, "entries": []}, "entries"),
        ("bad-value", lambda d: {**d, "entries": [{**d["entries"][0], "metrics": {"pct_of_oracle": {"mean": "x"}}}]},
         "entries[0].metrics.pct_of_oracle"),
        ("hash", lambda d: {**d, "config_hash": "0000000000000000"}, "--allow-config-change"),
        # 1e308 passed: numpy overflow warnings, then a verdict on differences of inf and nan (exit 0)
        ("huge-value", lambda d: {**d, "entries": [{**d["entries"][0], "metrics": {"pct_of_oracle": {
            **d["entries"][0]["metrics"]["pct_of_oracle"], "per_seed": {"0": 1e308}}}}, *d["entries"][1:]]},
         "per_seed.0: expected a metric value at most 1e+100 in size (got 1e+308)"),
        # a boolean per-seed value was read as 1.0, a negative seed key accepted (seeds are >= 0)
        ("bool-value", lambda d: {**d, "entries": [{**d["entries"][0], "metrics": {"pct_of_oracle": {
            **d["entries"][0]["metrics"]["pct_of_oracle"], "per_seed": {"0": True}}}}, *d["entries"][1:]]},
         "per_seed.0: expected a number, got a boolean (true)"),
        ("negative-seed", lambda d: {**d, "entries": [{**d["entries"][0], "metrics": {"pct_of_oracle": {
            **d["entries"][0]["metrics"]["pct_of_oracle"], "per_seed": {"-1": 90.0}}}}, *d["entries"][1:]]},
         "per_seed.-1"),
        # the second entry of a (scenario, agent) was silently ignored
        ("entry-twice", lambda d: {**d, "entries": [d["entries"][0], *d["entries"]]}, "is recorded twice"),
    ],
)
def test_bad_baselines_exit_2_with_one_line(grid, tmp_path, capsys, name, content, needle):
    base_dir, path = grid
    bad = tmp_path / f"{name}.json"
    bad.write_text(content if isinstance(content, str) else json.dumps(content(_baseline_json(path))))
    code, _, err = run_cli(capsys, "regress", base_dir, "--baseline", bad)
    assert code == 2
    line = one_line_error(err)
    assert needle in line
    if name != "hash":
        assert str(bad) in line


def test_config_hash_mismatch_can_be_allowed(grid, tmp_path, capsys):
    base_dir, path = grid
    bad = tmp_path / "other.json"
    bad.write_text(json.dumps({**_baseline_json(path), "config_hash": "0000000000000000"}))
    code, _, err = run_cli(capsys, "regress", base_dir, "--baseline", bad, "--allow-config-change")
    assert code == 0
    assert "config changed" in err


def _checkout(root: Path, horizon: int) -> Path:
    """A project folder with a scenario file and an experiment naming it by a relative path."""
    (root / "scenarios").mkdir(parents=True)
    (root / "experiments").mkdir()
    sc = load_scenario("stationary-3").override({"horizon": horizon}).model_dump(mode="json")
    (root / "scenarios" / "mine.yaml").write_text(json.dumps({**sc, "name": "mine"}))
    exp = root / "experiments" / "gate.yaml"
    exp.write_text("name: gate\nscenarios: [../scenarios/mine.yaml]\nagents: [equal]\nseeds: 2\n")
    return exp


def test_the_config_hash_does_not_depend_on_where_the_project_is_checked_out(tmp_path):
    """A baseline recorded in one checkout must gate the same experiment in another (CI): the hash
    of a scenario named by a file follows the file's content, not its absolute path."""
    here = config_hash(load_experiment(_checkout(tmp_path / "laptop", 5)))
    assert config_hash(load_experiment(_checkout(tmp_path / "ci" / "workspace", 5))) == here
    assert config_hash(load_experiment(_checkout(tmp_path / "edited", 6))) != here


@pytest.mark.parametrize(
    ("argv", "needle"),
    [
        (["regress", "{dir}", "--baseline", "{tmp}/nope.json"], "not found"),
        (["regress", "{dir}", "--baseline", "{tmp}"], "is a directory"),
        (["regress", "{tmp}/no-dir", "--baseline", "{base}"], "results directory"),
        (["regress", "{dir}", "--baseline", "{base}", "--tolerance", "-0.1"], "--tolerance"),
        (["regress", "{dir}", "--baseline", "{base}", "--confidence", "1.5"], "--confidence"),
        (["regress", "{tmp}", "--baseline", "{base}"], "no results"),
        (["baseline", "{tmp}/no-dir", "--out", "{tmp}/b.json"], "not found"),
        (["baseline", "{dir}", "--out", "{tmp}/b.json", "--metric", "nope"], "metric 'nope'"),
        (["baseline", "{dir}", "--out", "{tmp}"], "is a directory"),
        (["regress", "{dir}", "--baseline", "{base}", "--report", "{tmp}"], "--report"),
        (["baseline", "{dir}", "--out", "{tmp}/b.json", "--metric", "agent"], "metric 'agent' is not numeric"),
    ],
)
def test_bad_arguments_exit_2_with_one_line(grid, tmp_path, capsys, argv, needle):
    base_dir, path = grid
    args = [a.format(dir=base_dir, base=path, tmp=tmp_path) for a in argv]
    code, _, err = run_cli(capsys, *args)
    assert code == 2
    assert needle in one_line_error(err)


def test_baseline_refuses_to_replace_a_baseline_of_another_config(grid, tmp_path, capsys):
    base_dir, path = grid
    target = tmp_path / "baseline.json"
    target.write_text(json.dumps({**_baseline_json(path), "config_hash": "0000000000000000"}))
    code, _, err = run_cli(capsys, "baseline", base_dir, "--out", target)
    assert code == 2 and "--allow-config-change" in one_line_error(err)
    assert load_baseline(target).config_hash == "0000000000000000"  # untouched
    code, _, _ = run_cli(capsys, "baseline", base_dir, "--out", target, "--allow-config-change")
    assert code == 0
    assert load_baseline(target).config_hash == load_baseline(path).config_hash
    # the same config re-recorded needs no flag; the file round-trips
    write_baseline(record_baseline(base_dir), target)
    assert isinstance(load_baseline(target), Baseline)


@pytest.mark.parametrize("text", ["name: my-study\nseeds: 3\n", "a,b\n1,2\n", '{"kind": "other"}', ""])
def test_baseline_never_replaces_a_file_that_is_not_a_baseline(grid, tmp_path, capsys, text):
    """``--out`` at an existing file that is no baseline (an experiment YAML, a CSV: a typo) was
    silently overwritten, as any unreadable file was; only a baseline (valid or not) is replaced."""
    base_dir, path = grid
    target = tmp_path / "study.yaml"
    target.write_text(text)
    code, out, err = run_cli(capsys, "baseline", base_dir, "--out", target)
    assert code == 2 and out == ""
    assert one_line_error(err) == (f"error: baseline '{target}': exists and is not a budgetgym baseline (no \"kind\": "
                                   f"\"budgetgym-baseline\"); expected a new path or a baseline to replace")
    assert target.read_text() == text
    broken = tmp_path / "broken.json"  # a baseline of an older schema, or hand-damaged: replaced
    broken.write_text(json.dumps({"kind": "budgetgym-baseline", "schema_version": 0}))
    assert run_cli(capsys, "baseline", base_dir, "--out", broken)[0] == 0
    assert load_baseline(broken).config_hash == load_baseline(path).config_hash


def test_extra_metrics_named_in_the_baseline_are_compared(grid, tmp_path):
    base_dir, _ = grid
    base = record_baseline(base_dir, metrics=["pct_of_oracle", "expected_reward"])
    now = copy_results(base_dir, tmp_path / "now")

    def lower(frame: pd.DataFrame) -> pd.DataFrame:
        frame.loc[frame["agent"] == "equal", "expected_reward"] *= 0.95  # 5 % worse: tolerance is 1 % of the mean
        return frame

    edit_results(now, lower)
    rep = compare(now, base)
    failed = [(r.agent, r.metric) for r in rep.failed]
    assert failed == [("equal", "expected_reward")]


# ------------------------------------------------------------------------------ the project's own gate
def test_the_stored_regression_baseline_matches_the_regression_grid():
    base = load_baseline(ROOT / "configs" / "baselines" / "regression.json")
    cfg = load_experiment(ROOT / "configs" / "experiments" / "regression.yaml")
    assert base.config_hash == config_hash(cfg)
    labels = {(e.scenario, e.agent) for e in base.entries}
    agents = {a.name for a in cfg.agents}
    assert labels == {(s, a) for s in ("stationary-3", "seasonal-5") for a in agents}
    assert {"ppo", "model_thompson", "thompson", "equal"} <= agents
    assert all(e.metrics["pct_of_oracle"].n_seeds == len(cfg.seeds) for e in base.entries)


def test_a_changed_grid_killed_before_its_end_leaves_no_earlier_grid_numbers(grid, tmp_path, monkeypatch):
    """A re-run with another config into a results directory, killed before its tables are rebuilt:
    `baseline` and `regress` must not take the earlier grid's results.csv, nor a run folder it finished
    under another run key, as this grid's numbers (they did, under the new config hash)."""
    import budgetgym.experiments.runner as runner_mod

    out = tmp_path / "resumed"
    shutil.copytree(grid[0], out)

    def killed(*args: Any, **kwargs: Any) -> Any:
        raise KeyboardInterrupt

    monkeypatch.setattr(runner_mod, "execute", killed)
    changed = tiny(agents=["equal", {"agent": "proportional", "params": {"weights": BAD}}, "thompson"])
    with pytest.raises(KeyboardInterrupt):
        run_experiment(experiment_from_dict(changed), out, plots=False)
    assert not (out / "results.csv").exists()
    # the rows the gate would read are this grid's finished runs only: proportional's folders are GOOD's
    assert results_config_hash(out) == config_hash(experiment_from_dict(changed))
    assert set(load_results(out)["agent"]) == {"equal", "thompson"}
    with pytest.raises(BudgetGymError, match="4 of the grid's 12 runs have not finished"):
        record_baseline(out)  # and no baseline is recorded from part of a grid


@pytest.mark.parametrize("text", [b"[1,2", b"a: [\n  - b\n", b"\xff\xfe"], ids=["flow", "block", "binary"])
def test_a_damaged_experiment_yaml_in_a_results_dir_is_one_line(grid, tmp_path, capsys, text):
    """report read the saved experiment.yaml with its own yaml call: a syntax error printed PyYAML's
    several-line message; baseline's read of its bootstrap settings crashed on a file not UTF-8."""
    out = tmp_path / "damaged"
    shutil.copytree(grid[0], out)
    (out / "experiment.yaml").write_bytes(text)
    code, _, err = run_cli(capsys, "report", out, "--no-plots")
    assert code == 2 and "experiment.yaml" in one_line_error(err)
    code, _, err = run_cli(capsys, "baseline", out, "--out", tmp_path / "b.json")
    assert code == 0 and "Traceback" not in err


@pytest.mark.parametrize("text", ["# my notes\n", "name: my-study\nseeds: 3\n", ""])
def test_regress_report_never_overwrites_a_file_that_is_not_a_report(grid, tmp_path, capsys, text):
    """``--report FILE`` replaced any existing file silently (a typo such as ``--report README.md`` lost
    it): a file that is not an earlier ``budgetgym regress`` report is refused in one line, exit 2,
    before the comparison and untouched; an earlier report is replaced."""
    base_dir, path = grid
    target = tmp_path / "README.md"
    target.write_text(text)
    code, out, err = run_cli(capsys, "regress", base_dir, "--baseline", path, "--report", target)
    assert code == 2 and out == ""
    assert one_line_error(err) == (
        f"error: --report '{target}': exists and is not a budgetgym regress report (its first line is not "
        f"'## budgetgym regress'); expected a new path or an earlier report to replace"
    )
    assert target.read_text() == text
    report = tmp_path / "gate.md"
    assert run_cli(capsys, "regress", base_dir, "--baseline", path, "--report", report)[0] == 0
    first = report.read_text()
    assert first.startswith("## budgetgym regress\n")
    report.write_text(first.replace("passed", "old"))  # an earlier report (perhaps another run's): replaced
    assert run_cli(capsys, "regress", base_dir, "--baseline", path, "--report", report)[0] == 0
    assert report.read_text() == first


@pytest.mark.parametrize("n_seeds", [3, 5])
def test_a_baseline_whose_n_seeds_disagrees_with_its_per_seed_values_is_refused(grid, tmp_path, capsys, n_seeds):
    """A hand-edited or truncated baseline with ``n_seeds`` 3 (or 5) and four per-seed values was accepted."""
    base_dir, path = grid
    data = _baseline_json(path)
    rec = data["entries"][1]["metrics"]["pct_of_oracle"]
    assert len(rec["per_seed"]) == 4
    rec["n_seeds"] = n_seeds
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(data))
    code, _, err = run_cli(capsys, "regress", base_dir, "--baseline", bad)
    assert code == 2
    line = one_line_error(err)
    assert str(bad) in line and "entries[1].metrics.pct_of_oracle" in line
    assert f"n_seeds {n_seeds} but 4 per_seed values" in line


def test_a_baseline_whose_mean_is_not_that_of_its_per_seed_values_is_refused(grid, tmp_path, capsys):
    """A hand-edited ``mean`` (here 1 point above the per-seed values' mean) was accepted: the gate's
    reference moved while the per-seed values it resamples stayed."""
    base_dir, path = grid
    data = _baseline_json(path)
    rec = data["entries"][1]["metrics"]["pct_of_oracle"]
    true_mean = sum(rec["per_seed"].values()) / len(rec["per_seed"])
    rec["mean"] = true_mean + 1.0
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(data))
    code, _, err = run_cli(capsys, "regress", base_dir, "--baseline", bad)
    assert code == 2
    line = one_line_error(err)
    assert str(bad) in line and "entries[1].metrics.pct_of_oracle" in line and "expected their mean" in line


def test_a_misspelt_metric_or_report_baseline_suggests_the_closest_name(grid, tmp_path, capsys):
    """CONTRIBUTING: unknown names get a "did you mean"; baseline --metric and report --baseline did not."""
    base_dir, _ = grid
    code, _, err = run_cli(capsys, "baseline", base_dir, "--out", tmp_path / "b.json", "--metric", "pct_of_orcle")
    assert code == 2 and one_line_error(err).endswith("(did you mean 'pct_of_oracle'?)")
    assert not (tmp_path / "b.json").exists()
    copy = shutil.copytree(base_dir, tmp_path / "copy")  # with its run folders: the agents that ran
    code, _, err = run_cli(capsys, "report", copy, "--baseline", "thomson", "--no-plots")
    assert code == 2 and one_line_error(err).endswith("(did you mean 'thompson'?)")


def test_report_baseline_is_checked_before_any_run_finished(grid, tmp_path, capsys):
    """A results folder with experiment.yaml but no finished runs (a run just started or interrupted early):
    report --baseline did not check the name at all, and the report was written with a baseline that is no agent."""
    base_dir, _ = grid
    fresh = tmp_path / "fresh"
    fresh.mkdir()
    shutil.copy(Path(base_dir) / "experiment.yaml", fresh / "experiment.yaml")
    code, _, err = run_cli(capsys, "report", fresh, "--baseline", "thomson", "--no-plots")
    assert code == 2 and one_line_error(err).endswith("(did you mean 'thompson'?)")
    assert sorted(p.name for p in fresh.iterdir()) == ["experiment.yaml"]  # nothing written
    assert run_cli(capsys, "report", fresh, "--baseline", "thompson", "--no-plots")[0] == 0


def test_the_gate_table_writes_numbers_by_the_one_rule() -> None:
    """The gate's table formatted its numbers apart from ``envs.numbers.figure``: a difference of -0.001 read
    ``-0.00`` (a drop shown as none), a difference of -0.0 ``-0.00``, a baseline of 1e20 a line of 21 digits. It now
    builds on figure: ``-0.001``, ``+0.00``, ``1e+20``; a missing cell stays ``—`` and a zero difference ``+0.00``."""
    from budgetgym.experiments.regress import Comparison, RegressionReport, table_rows

    rows = [Comparison("s", "a", "pct_of_oracle", "ok", baseline=1e20, now=95.5, diff=-0.001, ci_lo=-0.0,
                       ci_hi=0.25, n_pairs=3),
            Comparison("s", "b", "reward", "missing", baseline=1234.5)]
    report = RegressionReport(rows, tolerance=0.01, confidence=0.95, baseline_hash="x", results_hash="x")
    assert table_rows(report) == [
        ["s", "a", "pct_of_oracle", "1e+20", "95.50", "-0.001", "[+0.00, +0.25]", "3", "ok"],
        ["s", "b", "reward", "1,234.50", "—", "—", "—", "—", "missing"],
    ]


def test_a_config_mismatch_refusal_names_the_settings_that_differ(grid, tmp_path, capsys):
    """``budgetgym baseline`` stores the experiment's resolved settings (``settings``, the payload its config hash is
    taken of: the hash of ``settings`` is ``config_hash``), so ``regress`` refusing a config mismatch names what
    differs. With the same scenarios, agents and seeds it could only say "a parameter, the episodes or a scenario's
    settings changed". A baseline without ``settings`` (recorded before) still gets that sentence."""
    from budgetgym.envs.io import json_digest

    _, path = grid
    data = _baseline_json(path)
    assert json_digest(data["settings"]) == data["config_hash"]
    assert data["settings"]["agents"][1]["params"]["weights"] == GOOD
    worse = tiny(agents=["equal", {"agent": "proportional", "params": {"weights": BAD}}, "thompson"], episodes=2)
    run_experiment(experiment_from_dict(worse), tmp_path / "worse", plots=False)
    code, _, err = run_cli(capsys, "regress", tmp_path / "worse", "--baseline", path)
    line = one_line_error(err)
    assert code == 2
    assert "agents[proportional].params.weights.search: 5 (baseline) vs 1 (results)" in line
    assert "agents[proportional].params.weights.video: 1 (baseline) vs 5 (results)" in line
    assert "episodes: " in line and "a parameter, the episodes or a scenario's settings changed" not in line
    old = tmp_path / "old.json"
    old.write_text(json.dumps({k: v for k, v in data.items() if k != "settings"}))
    code, _, err = run_cli(capsys, "regress", tmp_path / "worse", "--baseline", old)
    assert code == 2 and "a parameter, the episodes or a scenario's settings changed" in one_line_error(err)


def test_a_changed_scenario_file_setting_names_the_channel_by_its_name() -> None:
    """A scenario file's settings are stored parsed (``scenarios[0].scenario.file``); a changed channel parameter was
    named ``channels[0].saturation.max_response``, by index, where the file and ``vary`` name a channel by its name:
    ``channels[search]``. Items without unique names keep their index."""
    from budgetgym.experiments.gate_notes import settings_difference

    def settings(top: float) -> dict[str, Any]:
        return {"scenarios": [{"scenario": {"file": {"channels": [
            {"name": "search", "saturation": {"max_response": top}}, {"name": "social", "saturation": {}}]}}}],
            "points": [{"x": 1}, {"x": top}]}

    assert settings_difference(settings(420), settings(400)) == [
        "scenarios[0].scenario.file.channels[search].saturation.max_response: 420 (baseline) vs 400 (results)",
        "points[1].x: 420 (baseline) vs 400 (results)",
    ]
    renamed = settings(420)
    renamed["scenarios"][0]["scenario"]["file"]["channels"][1]["name"] = "video"
    renamed["points"].append({"x": 3})
    assert settings_difference(settings(420), renamed) == [  # an item only one side has was left out: nothing named
        'scenarios[0].scenario.file.channels[social]: {"name": "social", "saturation": {}} (baseline) vs absent '
        '(results)',
        'scenarios[0].scenario.file.channels[video]: absent (baseline) vs {"name": "video", "saturation": {}} '
        '(results)',
        'points[2]: absent (baseline) vs {"x": 3} (results)',
    ]
