"""Experiments on scenario families: configuration, planning, the runner's rows and oracle files,
statistics, the gate and the command line.

A tiny family on ``stationary-3`` shortened to 6 steps (search's ``max_response`` drawn
uniformly in [200, 600]) with 2 draws per split keeps every grid to a few seconds.
"""

from __future__ import annotations

import json
import pickle
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import yaml

from budgetgym.agents.base import make_agent
from budgetgym.agents.evaluation import RESULT_COLUMNS, episode_seed, evaluate
from budgetgym.envs import ChannelBudgetEnv, load_scenario, scenario_path
from budgetgym.envs.errors import BudgetGymError
from budgetgym.envs.family import ScenarioFamily, family_from_dict, load_family
from budgetgym.experiments.config import DEFAULT_DRAWS, config_hash, experiment_from_dict, load_experiment
from budgetgym.experiments.regress import record_baseline
from budgetgym.experiments.report import build_report
from budgetgym.experiments.results import collect_results, oracle_file
from budgetgym.experiments.runner import plan_experiment, run_experiment
from budgetgym.experiments.stats import two_way_mean_interval
from budgetgym.experiments.summary import SUMMARY_COLUMNS

MODULE = __name__  # how the runner imports this file's trainer (pytest puts tests/ on sys.path)
HORIZON = 6
DRAWS = 2
VARY = {"channels.search.saturation.max_response": {"dist": "uniform", "low": 200, "high": 600}}
FAMILY_FILE = """\
family: tiny-fam
scenario: stationary-3
seed: 0
vary:
  channels.search.saturation.max_response: {dist: uniform, low: 200, high: 600}
"""


def family_file(tmp_path: Path) -> Path:
    path = tmp_path / "tiny-fam.yaml"
    path.write_text(FAMILY_FILE, encoding="utf-8")
    return path


def tiny_family(**changes: Any) -> ScenarioFamily:
    """The test family built directly (not through an experiment): the short scenario as its template."""
    template = load_scenario("stationary-3").override({"horizon": HORIZON, **changes}).model_dump(mode="json")
    return family_from_dict({"family": "tiny-fam", "scenario": template, "vary": VARY, "seed": 0})


def experiment(tmp_path: Path, **changes: Any) -> Any:
    entry: dict[str, Any] = {"scenario": str(family_file(tmp_path)), "label": "fam", "set": {"horizon": HORIZON},
                             "draws": DRAWS}
    entry.update(changes.pop("entry", {}))
    data: dict[str, Any] = {
        "name": "fam",
        "scenarios": [entry],
        "agents": ["equal", "greedy"],
        "seeds": 2,
        "episodes": 1,
        "bootstrap": {"reps": 200},
    }
    data.update(changes)
    return experiment_from_dict(data, "test experiment")


def numbers(out: Path) -> pd.DataFrame:
    return collect_results(out).drop(columns=["wall_s", "train_s"])  # timings differ between runs


@pytest.fixture(scope="module")
def family_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Any]:
    """equal and greedy, seeds 0-1, on 2 test and 2 train draws, plus a plain scenario."""
    tmp = tmp_path_factory.mktemp("family-run")
    plain = {"scenario": "stationary-3", "label": "s3", "set": {"horizon": HORIZON}}
    cfg = experiment(tmp)
    cfg = experiment(tmp, scenarios=[cfg.scenarios[0].model_dump(), plain])
    res = run_experiment(cfg, tmp / "out", plots=False)
    assert res.ok, res.failed
    return tmp / "out", res


# ----------------------------------------------------------------------------- configuration
def test_draws_default_override_and_plain_scenarios(tmp_path):
    cfg = experiment(tmp_path, entry={"draws": None})
    (c,) = cfg.resolve()
    assert c.family is not None and c.draws == DEFAULT_DRAWS == 10
    assert experiment(tmp_path, draws=3, entry={"draws": None}).resolve()[0].draws == 3
    assert experiment(tmp_path, draws=3).resolve()[0].draws == DRAWS  # the entry's own draws win
    with pytest.raises(BudgetGymError, match=r"scenarios\[0\]: draws: 'stationary-3' is a plain scenario"):
        experiment(tmp_path, entry={"scenario": "stationary-3"}).resolve()
    with pytest.raises(BudgetGymError, match=r"draws: Input should be greater than or equal to 1"):
        experiment(tmp_path, draws=0)


def test_an_experiment_without_families_dumps_and_hashes_as_before(tmp_path):
    raw = {"name": "x", "scenarios": ["stationary-3", {"scenario": "seasonal-5", "label": "s5"}],
           "agents": ["equal"], "seeds": 2}
    cfg = experiment_from_dict(raw)
    dumped = cfg.model_dump(mode="json")
    assert "draws" not in dumped and all("draws" not in s for s in dumped["scenarios"])
    # the hash CI's stored baseline was recorded with (configs/baselines/regression.json)
    stored = json.loads(Path(__file__).parents[1].joinpath("configs/baselines/regression.json").read_text())
    assert config_hash(load_experiment("regression")) == stored["config_hash"]
    assert config_hash(experiment_from_dict({**raw, "draws": DEFAULT_DRAWS})) == config_hash(cfg)
    assert config_hash(experiment_from_dict({**raw, "draws": 3})) != config_hash(cfg)


def test_set_on_a_family_changes_its_template(tmp_path):
    (c,) = experiment(tmp_path, entry={"set": {"horizon": HORIZON, "budget.total": 12_000}}).resolve()
    assert c.family is not None
    for split in ("test", "train"):
        for d in range(3):
            sc = c.family.sample(d, split)
            assert (sc.horizon, sc.budget.total) == (HORIZON, 12_000)
            assert 200 <= sc.channels[0].saturation.max_response <= 600
    assert c.family.nominal().channels[0].saturation.max_response == 400  # the uniform's midpoint
    # setting the varied field fixes it: the family no longer varies, so it is a plain scenario
    fixed = experiment(tmp_path, entry={"draws": None, "set": {"channels.search.saturation.max_response": 300}})
    (p,) = fixed.resolve()
    assert p.family is None and p.scenario.channels[0].saturation.max_response == 300
    with pytest.raises(BudgetGymError, match=r"set: 'channels.search.saturation.max_response.high' lies inside"):
        experiment(tmp_path, entry={"set": {"channels.search.saturation.max_response.high": 9}}).resolve()
    with pytest.raises(BudgetGymError, match=r"family file .*tiny-fam.yaml' \(with set\): set 'horizn'"):
        experiment(tmp_path, entry={"set": {"horizn": 3}}).resolve()



def test_set_fixes_a_varied_field_whichever_way_the_channel_is_named(tmp_path):
    # the family varies channels.search...; a set naming the channel by its index fixed nothing: the
    # vary entry was kept and drew over the set value
    for key in ("channels.0.saturation.max_response", "channels.search.saturation.max_response"):
        (p,) = experiment(tmp_path, entry={"draws": None, "set": {key: 300}}).resolve()
        assert p.family is None and p.scenario.channels[0].saturation.max_response == 300
    with pytest.raises(BudgetGymError, match=r"set: 'channels.0.saturation.max_response.high' lies inside"):
        experiment(tmp_path, entry={"set": {"channels.0.saturation.max_response.high": 9}}).resolve()


def test_an_ensemble_entry_plays_each_member_of_a_split_at_most_once(tmp_path):
    # 3 members: 1 held out, 2 train; 10 "held-out draws" were the one test member ten times (and the
    # train members five times each), each counted as a draw in the summary's means and intervals
    path = tmp_path / "ens.yaml"
    members = [{"channels.search.saturation.max_response": 300.0 + j} for j in range(3)]
    path.write_text(yaml.safe_dump({"family": "ens", "scenario": "stationary-3", "ensemble": members}))
    (c,) = experiment_from_dict({"name": "x", "scenarios": [str(path)], "agents": ["equal"], "seeds": 1}).resolve()
    assert c.family is not None and c.draws == 1
    (c,) = experiment_from_dict({"name": "x", "scenarios": [{"scenario": str(path), "draws": 5}], "agents": ["equal"],
                                 "seeds": 1}).resolve()
    assert c.family is not None and c.draws == 1

def test_evaluate_plays_each_ensemble_member_of_a_split_at_most_once(tmp_path):
    # evaluate(agent, ensemble, draws=5) with 1 test member played that member five times as "5 held-out draws"
    # (draw i is member i mod n), while `budgetgym run` and `plan` with draws 5 play it once: a notebook's mean
    # over draws weighted members by how often the modulo hit them
    path = tmp_path / "ens.yaml"
    members = [{"channels.search.saturation.max_response": 300.0 + 10 * j} for j in range(5)]
    path.write_text(yaml.safe_dump({"family": "ens", "scenario": "stationary-3", "ensemble": members}))
    family = load_family(path)
    assert (family.split_draws(5, "test"), family.split_draws(5, "train"), family.split_draws(2, "train")) == (1, 4, 2)
    assert tiny_family().split_draws(7, "test") == 7  # a template's draws are unbounded
    agent = make_agent("equal", family)
    test = evaluate(agent, family, seeds=[0], draws=5)
    train = evaluate(agent, family, seeds=[0], draws=5, split="train")
    assert [r.draw for r in test] == [0] and [r.draw for r in train] == [0, 1, 2, 3]
    (c,) = experiment_from_dict({"name": "x", "scenarios": [{"scenario": str(path), "draws": 5}], "agents": ["equal"],
                                 "seeds": 1}).resolve()
    assert (c.split_draws("test"), c.split_draws("train")) == (1, 4)  # the runner's, from the same definition


@pytest.mark.parametrize("source", ["stationary-3", "family"])
def test_evaluate_refuses_a_misspelt_split_on_a_plain_scenario_too(source):
    """A plain scenario has no splits to play, so ``split="tset"`` was ignored there silently: a notebook
    whose variable held a scenario, not the family it meant, got no hint of the typo."""
    scenario = tiny_family() if source == "family" else source
    agent = make_agent("equal", scenario)
    with pytest.raises(BudgetGymError, match="split: expected 'train' or 'test', got 'tset'"):
        evaluate(agent, scenario, seeds=[0], draws=1, split="tset")  # type: ignore[arg-type]
    assert len(evaluate(agent, scenario, seeds=[0], draws=1, split="train")) == 1


def test_a_missing_family_file_says_where_it_was_looked_for(tmp_path, monkeypatch, capsys):
    # "scenarios[0]: scenario file 'nofam.yaml' not found": run from another folder, a researcher could not tell
    # the file was looked for beside the experiment file and then from the working directory
    from conftest import run_cli

    exp = tmp_path / "exp.yaml"
    exp.write_text(yaml.safe_dump({"name": "x", "scenarios": [{"scenario": "nofam.yaml", "draws": 2}],
                                   "agents": ["equal"], "seeds": 1}))
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    code, out, err = run_cli(capsys, "run", str(exp), "--out", str(tmp_path / "out"), "--no-progress")
    assert code == 2 and out == ""
    assert err == (f"error: experiment file '{exp}': scenarios[0]: scenario or family file 'nofam.yaml' not found "
                   f"beside the experiment file (in '{tmp_path}') or in the working directory ('{elsewhere}')\n")
    assert not (tmp_path / "out").exists()


def test_set_addresses_a_file_entry_by_the_name_the_results_show(tmp_path):
    # a family file's entry is 'tiny-fam' in every table, but --set found list items only by index, 'label' or the
    # 'scenario' text ('tiny-fam.yaml', which a dotted key splits), and the hint for a scenario field given at the
    # top level suggested --set scenarios.tiny-fam.yaml.set.horizon=6: "no list item 'tiny-fam'"
    family_file(tmp_path)
    exp = tmp_path / "exp.yaml"
    exp.write_text(yaml.safe_dump({"name": "x", "scenarios": ["tiny-fam.yaml"], "agents": ["equal"], "seeds": 1,
                                   "draws": 1}))
    (c,) = load_experiment(exp, overrides={"scenarios.tiny-fam.set.horizon": HORIZON}).resolve()
    assert c.label == "tiny-fam" and c.scenario.horizon == HORIZON
    with pytest.raises(BudgetGymError, match="is a scenario field") as err:
        load_experiment(exp, overrides={"horizon": HORIZON})
    key, value = str(err.value).rsplit("e.g. --set ", 1)[1].split("=")
    assert key == "scenarios.tiny-fam.set.horizon"  # the hint works as printed
    (c,) = load_experiment(exp, overrides={key: int(value)}).resolve()
    assert c.scenario.horizon == HORIZON
    with pytest.raises(BudgetGymError, match=r"^--set scenarios.tiny-fm.draws: no list item 'tiny-fm' \(did you mean "
                                             r"'tiny-fam'\?\)$"):
        load_experiment(exp, overrides={"scenarios.tiny-fm.draws": 2})
    with pytest.raises(BudgetGymError, match=r"^--set agents.gredy.label: no list item 'gredy' \(did you mean "
                                             r"'greedy'\?\)$"):
        load_experiment(exp, overrides={"agents": ["equal", "greedy"], "agents.gredy.label": "g"})


def test_each_split_of_an_ensemble_plays_its_own_members_and_the_run_says_so(tmp_path):
    # 5 members (test_fraction 0.2): 1 held out, 4 train. draws: 3 was cut to the smaller split's 1 for
    # both splits, so 1 train draw was played of the 3 asked and the 4 there, and nothing said so
    path = tmp_path / "ens.yaml"
    members = [{"channels.search.saturation.max_response": 300.0 + 10 * j} for j in range(5)]
    path.write_text(yaml.safe_dump({"family": "ens", "scenario": "stationary-3", "ensemble": members}))
    entry = {"scenario": str(path), "set": {"horizon": HORIZON}, "draws": 3}
    cfg = experiment_from_dict({"name": "x", "scenarios": [entry], "agents": ["equal"], "seeds": 1,
                                "bootstrap": {"reps": 200}})
    lines: list[str] = []
    res = run_experiment(cfg, tmp_path / "out", plots=False, echo=lines.append)
    assert res.ok, res.failed
    played = collect_results(tmp_path / "out").groupby("split")["draw"].apply(lambda d: sorted(set(d)))
    assert played.to_dict() == {"test": [0], "train": [0, 1, 2]}
    (c,) = cfg.resolve()
    assert (c.split_draws("test"), c.split_draws("train")) == (1, 3)
    assert res.summary.set_index("split")["n_draws"].to_dict() == {"test": 1, "train": 3}
    assert lines == ["ens: draws: 3 asked, but its ensemble has 1 test member: it plays 1 test draw and 3 train "
                     "draws (each member at most once)"]
    meta = json.loads((tmp_path / "out" / "meta.json").read_text())
    assert meta["sessions"][-1]["family_draws"] == {"ens": {"asked": 3, "test": 1, "train": 3}}
    report = (tmp_path / "out" / "report.md").read_text()
    assert "Scenario family: 1 held-out (test) draw, never trained on, beside 3 in-distribution (train) draws (3 " \
           "asked: its ensemble has fewer members in a split" in report
    # the run key hashes the train draws when they differ; splits that agree hash as before (no re-run)
    (run,) = plan_experiment(cfg, tmp_path / "plan")[1]
    assert (run.spec()["draws"], run.spec()["train_draws"]) == (1, 3)
    one = experiment_from_dict({"name": "x", "scenarios": [{**entry, "draws": 1}], "agents": ["equal"], "seeds": 1})
    (c,) = one.resolve()
    assert c.draws_note() is None and (c.split_draws("test"), c.split_draws("train")) == (1, 1)
    (run,) = plan_experiment(one, tmp_path / "plan")[1]
    assert run.spec()["draws"] == 1 and "train_draws" not in run.spec()


def test_unknown_names_suggest_scenarios_and_families(tmp_path, monkeypatch):
    fam_dir = tmp_path / "families"
    fam_dir.mkdir()
    (fam_dir / "retail-5-family.yaml").write_text(FAMILY_FILE.replace("tiny-fam", "retail-5-family"))
    monkeypatch.setattr("budgetgym.envs.family.builtin_family_dir", lambda: fam_dir)
    with pytest.raises(BudgetGymError, match=r"unknown scenario 'retail-5-famly' \(did you mean 'retail-5-family'"):
        experiment(tmp_path, entry={"scenario": "retail-5-famly"}).resolve()
    (c,) = experiment(tmp_path, entry={"scenario": "retail-5-family", "label": None}).resolve()
    assert c.label == "retail-5-family" and c.family is not None and c.scenario.horizon == HORIZON


def test_tasks_pickle_and_the_run_key_hashes_the_family_definition(tmp_path):
    oracles, runs = plan_experiment(experiment(tmp_path), tmp_path / "out")
    for task in [*oracles, *runs]:
        assert pickle.loads(pickle.dumps(task)).key == task.key
    assert all(r.family is not None and r.draws == DRAWS for r in runs)
    other = tmp_path / "wider.yaml"
    other.write_text(FAMILY_FILE.replace("high: 600", "high: 700"))
    _, wider = plan_experiment(experiment(tmp_path, entry={"scenario": str(other)}), tmp_path / "out")
    _, again = plan_experiment(experiment(tmp_path), tmp_path / "out")
    _, more = plan_experiment(experiment(tmp_path, entry={"draws": 3}), tmp_path / "out")
    key = {r.label: r.key for r in runs}
    assert {r.label: r.key for r in again} == key
    assert all(key[r.label] != r.key for r in wider)  # a different distribution: every run is redone
    assert all(key[r.label] != r.key for r in more)


def test_the_oracle_agent_is_refused_on_a_family(tmp_path):
    with pytest.raises(BudgetGymError, match=r"agents\[0\] \(oracle\) on family 'fam': 'oracle' sees one scenario"):
        plan_experiment(experiment(tmp_path, agents=["oracle"]), tmp_path / "out")


def test_the_builtin_families_experiment_is_valid():
    from budgetgym.envs.family import list_families

    if "retail-5-family" not in list_families():
        pytest.skip("configs/families/retail-5-family.yaml is not on this branch yet")
    cfg = load_experiment("families")
    (c,) = cfg.resolve()
    assert c.family is not None and c.draws == 10 and cfg.baseline_agent == "equal"
    assert [a.name for a in cfg.agents] == ["equal", "greedy", "model_thompson", "ppo"]


# ----------------------------------------------------------------------------- the runner
def test_rows_carry_draw_and_split_and_equal_a_direct_evaluation(family_run):
    out, _ = family_run
    table = collect_results(out)
    assert list(table.columns) == RESULT_COLUMNS + ["env_seed", "train_s", "draw", "split"]
    fam = table[table.scenario == "fam"]
    assert len(fam) == 2 * 2 * 2 * DRAWS  # agents x seeds x splits x draws
    assert sorted(set(zip(fam.split, fam.draw, strict=True))) == [("test", 0), ("test", 1), ("train", 0), ("train", 1)]
    plain = table[table.scenario == "s3"]
    assert plain["draw"].isna().all() and plain["split"].isna().all()
    family = tiny_family()
    for agent in ("equal", "greedy"):
        for seed in (0, 1):
            for split in ("test", "train"):
                direct = evaluate(make_agent(agent, ChannelBudgetEnv(family)), family, seeds=[seed], draws=DRAWS,
                                  split=split)
                got = fam[(fam.agent == agent) & (fam.seed == seed) & (fam.split == split)].sort_values("draw")
                assert list(got["draw"]) == [r.draw for r in direct] == [0, 1]
                for col in ["reward", "expected_reward", "oracle_reward", "pct_of_oracle", "spend"]:
                    np.testing.assert_array_equal(got[col].to_numpy(), [r.row()[col] for r in direct])
    # draw i of the test split and of the train split are different campaigns with their own oracles
    oracle = fam[fam.agent == "equal"].groupby(["split", "draw"])["oracle_reward"].first()
    assert oracle[("test", 0)] != oracle[("train", 0)] and oracle[("test", 1)] != oracle[("train", 1)]
    assert json.loads(oracle_file(out, "fam", 0, 0, "train").read_text())["oracle_reward"] == oracle[("train", 0)]
    trace = pd.read_csv(out / "runs/fam/greedy/seed_1/trace.csv")
    assert list(trace.columns[-2:]) == ["draw", "split"] and len(trace) == 2 * DRAWS * HORIZON * 3


def test_each_draw_and_split_path_is_solved_once(tmp_path, oracle_solves):
    calls = oracle_solves
    drifting = {"horizon": HORIZON, "drift.sd": 0.05}
    res = run_experiment(experiment(tmp_path, entry={"set": drifting}, episodes=2), tmp_path / "out", report=False)
    assert res.ok, res.failed
    family = tiny_family(**{"drift.sd": 0.05})
    paths = {
        (split, d, scenario_path(family.sample(d, split), episode_seed(seed, ep)).response.tobytes())
        for split in ("test", "train") for d in range(DRAWS) for seed in (0, 1) for ep in range(2)
    }
    assert len(paths) == 2 * DRAWS * 4  # with drift every episode of every draw has its own path
    assert len(calls) == len(paths)  # not once per agent, nor per episode
    assert "solved it here" not in "".join(p.read_text() for p in (tmp_path / "out").rglob("run.log"))


def train_recorder(scenario: Any, config: dict[str, Any], seed: int, out_dir: Path) -> Any:
    """A stand-in trainer: notes what it was given and returns the equal split."""
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "given.json").write_text(json.dumps({"type": type(scenario).__name__, "name": scenario.name}))
    agent = make_agent("equal", ChannelBudgetEnv(scenario))
    agent.train_steps = int(config["steps"])  # type: ignore[attr-defined]
    return agent


def test_a_learner_trains_once_per_seed_on_the_family(tmp_path):
    cfg = experiment(tmp_path, agents=[{"agent": "equal", "label": "learner", "train": {"steps": 7},
                                        "trainer": f"{MODULE}:train_recorder"}], imports=[MODULE])
    res = run_experiment(cfg, tmp_path / "out", report=False)
    assert res.ok and res.count("done") == 2  # one run per seed, covering every draw of both splits
    given = json.loads((tmp_path / "out/runs/fam/learner/seed_0/train/given.json").read_text())
    assert given == {"type": "ScenarioFamily", "name": "tiny-fam"}
    table = collect_results(tmp_path / "out")
    assert len(table) == 2 * 2 * DRAWS and set(table.train_steps) == {7}


def test_ppo_trains_on_a_family_through_the_runner(tmp_path):
    pytest.importorskip("stable_baselines3")
    train = {"total_timesteps": 32, "n_envs": 1, "n_steps": 32, "batch_size": 32, "n_epochs": 1, "eval_freq": 0}
    cfg = experiment(tmp_path, agents=[{"agent": "ppo", "train": train}], seeds=1)
    res = run_experiment(cfg, tmp_path / "out", report=False)
    assert res.ok, res.failed
    table = collect_results(tmp_path / "out")
    assert len(table) == 2 * DRAWS and set(table.train_steps) == {32}
    assert (tmp_path / "out/runs/fam/ppo/seed_0/train/model.zip").is_file()
    assert table["pct_of_oracle"].between(0, 100 + 1e-6).all()


def test_process_pool_gives_the_serial_numbers_on_a_family(tmp_path, family_run):
    out, _ = family_run
    cfg = experiment_from_dict(_config_of(out), "the fixture's experiment")
    res = run_experiment(cfg, tmp_path / "pool", workers=2, report=False)
    assert res.ok and res.count("done") == 8
    pd.testing.assert_frame_equal(numbers(tmp_path / "pool"), numbers(out))


def _config_of(out: Path) -> dict[str, Any]:
    import yaml

    return yaml.safe_load((out / "experiment.yaml").read_text())


# ----------------------------------------------------------------------------- statistics
def test_summary_rows_per_split_side_by_side_with_plain_scenarios(family_run):
    out, res = family_run
    summary = pd.read_csv(out / "summary.csv", keep_default_na=False, na_values=[""])
    assert list(summary.columns[: len(SUMMARY_COLUMNS)]) == SUMMARY_COLUMNS  # nothing renamed or moved
    assert list(summary.columns[-3:]) == ["reward_kind", "split", "n_draws"]
    fam = summary[summary.scenario == "fam"]
    assert sorted(zip(fam.agent, fam.split, strict=True)) == [
        ("equal", "test"), ("equal", "train"), ("greedy", "test"), ("greedy", "train")]
    assert set(fam.n_draws) == {DRAWS} and set(fam.n_seeds) == {2} and set(fam.n_episodes) == {2 * DRAWS}
    plain = summary[summary.scenario == "s3"]
    assert plain["split"].isna().all() and plain["n_draws"].isna().all()
    rows = collect_results(out)
    for (agent, split), r in fam.set_index(["agent", "split"]).iterrows():
        mine = rows[(rows.scenario == "fam") & (rows.agent == agent) & (rows.split == split)]
        assert r["pct_of_oracle_mean"] == pytest.approx(mine["pct_of_oracle"].mean(), rel=1e-12)
        assert r["pct_of_oracle_ci_lo"] <= r["pct_of_oracle_mean"] <= r["pct_of_oracle_ci_hi"]
        assert r["oracle_reward_mean"] == pytest.approx(mine["oracle_reward"].mean(), rel=1e-12)
    # the uplift pairs every (draw, seed) cell with the baseline's: its point is the difference of the means
    greedy = fam.set_index(["agent", "split"]).loc[("greedy", "test")]
    eq = fam.set_index(["agent", "split"]).loc[("equal", "test")]
    assert greedy["uplift"] == pytest.approx(greedy["pct_of_oracle_mean"] - eq["pct_of_oracle_mean"], abs=1e-9)
    report = (out / "report.md").read_text()
    assert "| agent | held-out % of oracle (95% CI) | in-distribution % of oracle (95% CI) |" in report
    # the IQM across scenarios pools plain run scores with the family's held-out run scores only
    held = rows[(rows.split.isna()) | (rows.split == "test")]
    runs = held.groupby(["scenario", "agent", "seed"])["pct_of_oracle"].mean()
    from scipy.stats import trim_mean

    for agent in ("equal", "greedy"):
        expected = trim_mean(runs.xs(agent, level="agent").to_numpy(), 0.25)
        assert summary[summary.agent == agent]["iqm"].iloc[0] == pytest.approx(expected, rel=1e-12)


def test_two_way_bootstrap_spread_matches_theory():
    """For an additive table x[d, s] = a_d + b_s the resampled mean is mean(a*) + mean(b*), two
    independent bootstrap means: its sd is sqrt(var(a)/D + var(b)/S) (population variances), so
    the 95% interval is about +-1.96 of that around the mean."""
    rng = np.random.default_rng(5)
    a, b = rng.normal(0, 3, size=40), rng.normal(0, 1, size=25)
    table = a[:, None] + b[None, :]
    est = two_way_mean_interval(table, reps=20_000, confidence=0.95, rng=1)
    sd = np.sqrt(a.var() / a.size + b.var() / b.size)
    assert est.point == pytest.approx(a.mean() + b.mean(), rel=1e-12)
    assert est.width == pytest.approx(2 * 1.96 * sd, rel=0.05)
    # resampling draws alone would have missed the seeds' share of the spread
    assert est.width > 2 * 1.96 * np.sqrt(a.var() / a.size) * 1.02
    one_seed = two_way_mean_interval(table[:, :1], reps=20_000, rng=1)
    assert one_seed.width == pytest.approx(2 * 1.96 * np.sqrt(a.var() / a.size), rel=0.05)
    constant = two_way_mean_interval(np.full((3, 4), 7.0), reps=200, rng=0)
    assert (constant.point, constant.lo, constant.hi) == (7.0, 7.0, 7.0)


def test_the_gate_uses_the_held_out_draws(family_run):
    out, _ = family_run
    base = record_baseline(out)
    rows = pd.read_csv(out / "results.csv")
    for entry in base.entries:
        mine = rows[(rows.scenario == entry.scenario) & (rows.agent == entry.agent)]
        if entry.scenario == "fam":
            mine = mine[mine.split == "test"]
        expected = mine.groupby("seed")["pct_of_oracle"].mean()
        assert entry.metrics["pct_of_oracle"].per_seed == pytest.approx(expected.to_dict(), rel=1e-12)
    assert {(e.scenario, e.agent) for e in base.entries} == {(s, a) for s in ("fam", "s3") for a in ("equal", "greedy")}


def test_a_rebuilt_report_is_the_same(family_run):
    out, res = family_run
    again = build_report(out, plots=False)
    pd.testing.assert_frame_equal(again.summary, res.summary)


def test_the_tables_say_which_variation_each_interval_covers(family_run, capsys):
    # the IQM's interval resamples seeds, a family entering with each seed's mean over its held-out draws
    # (fixed): equal showed "91.5 [91.5, 91.5]" under "(95% CI)" beside a held-out interval over draws of
    # [87.7, 97.2], and neither the printed tables nor report.md's across-scenarios section said so
    from conftest import run_cli

    out, _ = family_run
    code, printed, _ = run_cli(capsys, "report", str(out), "--no-plots")
    assert code == 0
    assert ("(mean over seeds, 95% bootstrap CI over seeds; a family's: mean over its draws and seeds, CI over "
            "both)") in printed
    assert "across scenarios: IQM of % of oracle (95% CI over seeds)" in printed
    assert "the IQM's interval resamples seeds only: a family enters with each seed's mean over its" in printed
    report = (out / "report.md").read_text()
    assert ("pooled over scenarios (95% CI, resampling seeds within each scenario); a family counts with its "
            "held-out draws. The IQM's interval resamples seeds only: a family enters") in report
    assert "a family's means and uplifts resample draws and seeds (a two-way bootstrap), the IQM's seeds only" in report


# ----------------------------------------------------------------------------- command line
def test_scenarios_lists_families_and_show_prints_one(tmp_path, monkeypatch, capsys):
    from conftest import run_cli

    fam_dir = tmp_path / "families"
    fam_dir.mkdir()
    (fam_dir / "tiny-fam.yaml").write_text(FAMILY_FILE)
    monkeypatch.setattr("budgetgym.envs.family.builtin_family_dir", lambda: fam_dir)
    code, out, _ = run_cli(capsys, "scenarios")
    assert code == 0 and "stationary-3" in out
    line = next(li for li in out.splitlines() if li.strip().startswith("tiny-fam"))
    assert line.split()[:4] == ["tiny-fam", "3", "14", "1"]  # channels, steps, one varying field
    code, out, _ = run_cli(capsys, "show", "tiny-fam")
    assert code == 0
    assert "channels.search.saturation.max_response: uniform(low=200.0, high=600.0)" in out
    assert "hill(max_response=400.0" in out  # the nominal scenario: the uniform's midpoint
    assert "oracle expected conversions" in out


def test_show_says_what_an_ensembles_members_vary(tmp_path, capsys):
    # README: show prints "a family: what varies and how"; for an explicit ensemble it printed only the member
    # counts, so a researcher could not see which fields the members change (a template lists its distributions)
    from conftest import run_cli

    path = tmp_path / "ens.yaml"
    members = [{"channels.search.saturation.half_saturation": 2000.0 + 100 * j} for j in range(4)]
    members.append({"channels.video.adstock": {"type": "none"}})
    path.write_text(yaml.safe_dump({"family": "ens", "scenario": "stationary-3", "ensemble": members}))
    code, out, _ = run_cli(capsys, "show", str(path))
    assert code == 0
    lines = out.splitlines()
    start = next(i for i, li in enumerate(lines) if li.startswith("explicit ensemble: 4 train and 1 held-out test"))
    assert lines[start + 1:start + 5] == [
        # stationary-3's nominal 2500 is the fifth member's value; a block of another type has none of the fields
        "  channels.search.saturation.half_saturation: 2000 to 2500 (5 distinct of 5)",
        "  channels.video.adstock: geometric, none (2 distinct of 5)",
        "  channels.video.adstock.decay: 0.6, None (2 distinct of 5)",
        "  channels.video.adstock.normalize: False, None (2 distinct of 5)",
    ]
    assert lines[start + 5].startswith("nominal scenario")


def test_counts_of_one_are_singular_in_the_run_table_report_and_show(tmp_path, capsys):
    # "family, 1 held-out draws", "1 runs done", "from 1 finished runs", "1 channels, 1 steps"
    from conftest import run_cli

    path = tmp_path / "ens.yaml"
    members = [{"channels.search.saturation.max_response": 300.0 + 10 * j} for j in range(5)]  # 1 held out
    path.write_text(yaml.safe_dump({"family": "ens", "scenario": "stationary-3", "ensemble": members}))
    grid = tmp_path / "grid.yaml"
    grid.write_text(yaml.safe_dump({"name": "one", "scenarios": [{"scenario": str(path), "set": {"horizon": 3},
                                                                 "draws": 1}],
                                    "agents": ["equal"], "seeds": 1, "bootstrap": {"reps": 200}}))
    code, out, _ = run_cli(capsys, "run", str(grid), "--out", str(tmp_path / "out"), "--no-progress", "--no-plots")
    assert code == 0
    assert "ens — family, 1 held-out draw — conversions per episode" in out
    assert "1 run done, 0 skipped" in out
    report = (tmp_path / "out" / "report.md").read_text()
    assert "from 1 finished run (2 episodes)" in report  # one test and one train draw
    assert "Scenario family: 1 held-out (test) draw, never trained on, beside 1 in-distribution (train) draw." \
        in report
    one = load_scenario("stationary-3").model_dump(mode="json")
    one.update(name="one-channel", horizon=1, channels=one["channels"][:1])
    (tmp_path / "one-channel.yaml").write_text(yaml.safe_dump(one))
    code, out, _ = run_cli(capsys, "show", str(tmp_path / "one-channel.yaml"))
    assert code == 0 and "1 channel, 1 step of " in out
