"""``report.md`` says what ``summary.csv`` and ``poi.csv`` say, and those say what ``results.csv`` says.

A tiny real grid (two shortened copies of stationary-3; ``equal``, a good ``proportional``
split and a noisy ``epsilon_greedy``; 4 seeds x 2 episodes) is run once. The report's tables are
parsed back into numbers and compared with the CSV files at the report's rounding (one
decimal for percentages, two for probabilities); the summary is recomputed from
``results.csv`` with independent formulas (mean of per-seed means, paired uplift, 25%-trimmed
mean, Mann-Whitney probability of improvement).
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from budgetgym.experiments import run_experiment
from budgetgym.experiments.config import experiment_from_dict

GRID = {
    "name": "report-numbers",
    "scenarios": [
        {"scenario": "stationary-3", "label": "short", "set": {"horizon": 5}},
        {"scenario": "stationary-3", "label": "full"},
    ],
    "agents": [
        "equal",
        {"agent": "proportional", "params": {"weights": {"search": 5, "social": 2, "video": 1}}},
        {"agent": "epsilon_greedy", "params": {"epsilon": 0.5}},
    ],
    "seeds": 4,
    "episodes": 2,
    "baseline": "equal",
    "bootstrap": {"reps": 300},
}
NUMBER = re.compile(r"[-+]?\d[\d,]*(?:\.\d+)?")
PCT, PROB = 0.05 + 1e-9, 0.005 + 1e-9  # half a unit of the report's last digit


@pytest.fixture(scope="module")
def out(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("report") / "out"
    assert run_experiment(experiment_from_dict(GRID, "test grid"), path, plots=False).ok
    return path


def numbers(cell: str) -> list[float]:
    return [float(x.replace(",", "")) for x in NUMBER.findall(cell)]


def values(row: pd.Series, prefix: str, mid: str | None = None) -> np.ndarray:
    """``[mid, prefix_ci_lo, prefix_ci_hi]`` of a summary row (``mid`` defaults to ``prefix``)."""
    return row[[mid or prefix, f"{prefix}_ci_lo", f"{prefix}_ci_hi"]].to_numpy(float)


def tables(text: str) -> dict[str, list[dict[str, str]]]:
    """Markdown tables keyed by the nearest ``###``/``##`` heading above them."""
    out: dict[str, list[dict[str, str]]] = {}
    heading, header = "", None
    for line in text.splitlines():
        if line.startswith("#"):
            heading, header = line.lstrip("#").strip(), None
        elif line.startswith("|"):
            cells = [c.strip() for c in line.strip("|").split("|")]
            if header is None:
                header = cells
            elif not set("".join(cells)) <= set(":-"):
                out.setdefault(heading, []).append(dict(zip(header, cells, strict=True)))
        else:
            header = None
    return out


def test_per_scenario_tables_match_summary_csv(out):
    text = (out / "report.md").read_text()
    summary = pd.read_csv(out / "summary.csv")
    parsed = tables(text)
    for sc, part in summary.groupby("scenario"):
        rows = parsed[sc]
        ranked = part.sort_values("pct_of_oracle_mean", ascending=False)["agent"]
        assert [r["agent"] for r in rows] == list(ranked)
        oracle = re.search(rf"### {sc}\n\nMean oracle reward ([\d,]+(?:\.\d+)?)[ .]", text)
        assert oracle is not None
        assert numbers(oracle.group(1))[0] == pytest.approx(part["oracle_reward_mean"].iloc[0], abs=PCT)
        for r in rows:
            s = part[part["agent"] == r["agent"]].iloc[0]
            pct = numbers(r["% of oracle (95% CI)"])
            np.testing.assert_allclose(pct, values(s, "pct_of_oracle", "pct_of_oracle_mean"), atol=PCT)
            up = numbers(r["uplift vs equal, points (95% CI)"])
            np.testing.assert_allclose(up, values(s, "uplift"), atol=PCT)
            assert numbers(r["P(> equal)"])[0] == pytest.approx(s["poi_vs_equal"], abs=PROB)
            assert int(r["seeds"]) == s["n_seeds"] == 4
            assert int(r["episodes (all seeds)"]) == s["n_episodes"] == 8
    # the grid is not degenerate: some interval in the report has a width
    assert (summary["pct_of_oracle_ci_hi"] - summary["pct_of_oracle_ci_lo"]).max() > 0.1


def test_across_scenarios_and_poi_tables_match_the_csv_files(out):
    parsed = tables((out / "report.md").read_text())
    summary = pd.read_csv(out / "summary.csv")
    poi = pd.read_csv(out / "poi.csv").set_index(["agent", "other"])
    across = parsed["Across scenarios"]
    for r in across:
        s = summary[summary["agent"] == r["agent"]]
        iqm = numbers(r["IQM % of oracle"])
        np.testing.assert_allclose(iqm, values(s.iloc[0], "iqm"), atol=PCT)
        mean_of_means = s["pct_of_oracle_mean"].mean()
        assert numbers(r["mean of scenario means"])[0] == pytest.approx(mean_of_means, abs=PCT)
        assert int(r["scenarios"]) == s["scenario"].nunique() == 2
    order = [r["agent"] for r in across]
    for r in parsed["Probability of improvement"]:
        for other in order:
            if other != r[""]:
                assert numbers(r[other])[0] == pytest.approx(poi.loc[(r[""], other), "poi"], abs=PROB)


def test_report_header_counts_runs_and_episodes(out):
    results = pd.read_csv(out / "results.csv")
    assert len(results) == 2 * 3 * 4 * 2
    assert "from 24 finished runs (48 episodes)" in (out / "report.md").read_text()


def test_summary_csv_is_what_results_csv_implies(out):
    """Independent recomputation from the episode rows."""
    results = pd.read_csv(out / "results.csv")
    summary = pd.read_csv(out / "summary.csv").set_index(["scenario", "agent"])
    runs = results.groupby(["scenario", "agent", "seed"])["pct_of_oracle"].mean()
    for (sc, ag), s in summary.iterrows():
        mine = runs.loc[(sc, ag)]
        assert s["pct_of_oracle_mean"] == pytest.approx(mine.mean(), rel=1e-12)
        assert s["n_seeds"] == len(mine)
        assert s["n_episodes"] == int(((results.scenario == sc) & (results.agent == ag)).sum())
        assert s["pct_of_oracle_ci_lo"] <= s["pct_of_oracle_mean"] <= s["pct_of_oracle_ci_hi"]
        base = runs.loc[(sc, "equal")]
        assert s["uplift"] == pytest.approx((mine - base).mean(), abs=1e-9)
        # P(X > Y) + P(X = Y)/2 over all run pairs of this scenario
        x, y = mine.to_numpy()[:, None], base.to_numpy()[None, :]
        assert s["poi_vs_equal"] == pytest.approx(((x > y) + 0.5 * (x == y)).mean(), abs=1e-12)
    for ag, s in summary.groupby("agent"):
        pooled = runs.xs(ag, level="agent").to_numpy()
        assert s["iqm"].iloc[0] == pytest.approx(stats.trim_mean(pooled, 0.25), rel=1e-12)


def test_a_one_seed_grid_reports_its_points_and_why_it_has_no_intervals(tmp_path):
    """One seed: the tables keep each score, the intervals are left out and report.md says why (they
    read "85.0 [85.0, 85.0]", a certainty one run cannot give)."""
    grid = {**GRID, "scenarios": [GRID["scenarios"][0]], "seeds": 1, "episodes": 1}
    path = tmp_path / "out"
    assert run_experiment(experiment_from_dict(grid, "test grid"), path, plots=False).ok
    summary = pd.read_csv(path / "summary.csv")
    assert summary["pct_of_oracle_ci_lo"].isna().all() and summary["iqm_ci_hi"].isna().all()
    text = (path / "report.md").read_text()
    rows = tables(text)["short"]
    for r in rows:
        s = summary[summary["agent"] == r["agent"]].iloc[0]
        cell = r["% of oracle (95% CI)"]
        assert numbers(cell) == [pytest.approx(s["pct_of_oracle_mean"], abs=PCT)] and "no CI" in cell
    assert "one seed" in text and "nothing to resample" in text


def test_the_printed_iqm_table_says_over_how_many_scenarios(tmp_path, capsys):
    """An agent run on one scenario of two gets its IQM over that one: the terminal's IQM table ranked it
    beside agents scored on both without saying so (report.md's table has the count)."""
    from budgetgym.experiments.cli import main

    agents = [GRID["agents"][0], {**GRID["agents"][1], "scenarios": ["short"]}]
    grid = {**GRID, "agents": agents, "seeds": 2, "episodes": 1}
    path = tmp_path / "out"
    assert run_experiment(experiment_from_dict(grid, "test grid"), path, plots=False).ok
    capsys.readouterr()
    assert main(["report", str(path), "--no-plots"]) == 0
    printed = capsys.readouterr().out.split("across scenarios")[1].splitlines()[1:]
    rows = {line.split()[0]: line.split() for line in printed if line.split() and line.split()[0] in
            {"equal", "proportional"}}
    assert rows["equal"][-1] == "2" and rows["proportional"][-1] == "1", printed


@pytest.mark.parametrize(("x", "digits", "text"), [
    (1234.5, 1, "1,234.5"), (0.0, 2, "0.00"), (-0.0, 1, "0.0"), (float("nan"), 1, "–"), (None, 1, "–"),
    (0.004, 2, "0.004"),     # wall seconds of a fast run: "0.00" said nothing ran
    (-0.04, 1, "-0.04"),     # a gap that 1 decimal shows as -0.0
    (3e16, 0, "3e+16"),      # past any budget (MAX_AMOUNT 1e15): 3 significant digits, not 17 digits
    ("n/a", 1, "n/a"),
])
def test_the_report_writes_a_number_as_the_rendered_env_table_does(x, digits, text):
    """One rule for a number written for people (``budgetgym.envs.numbers.figure``): the report's ``num``
    and the env's ``render`` table keep a non-zero figure non-zero and a huge one short, where the report
    printed ``0.00`` for 0.004 and every digit of 3e16."""
    from budgetgym.envs.numbers import figure
    from budgetgym.experiments.report_format import num

    assert num(x, digits) == text
    assert figure(x, digits) == text
    assert figure(2.94e10, 0, width=12) == "2.94e+10" and figure(2.94e10, 0) == "29,400,000,000"
