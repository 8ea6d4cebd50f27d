"""Synthetic MMM datasets: columns and calendar, the truth checked against independent
computations (evaluate_plan, a hand-written curve), realistic flighting, atomic writes."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import (
    CHEAP_S_CURVE_OPTIMUM,
    build_scenario,
    channel,
    cheap_s_curve_scenario,
    files_of,
    interrupt_nth_change,
    interrupt_nth_move,
    run_cli,
)

from budgetgym.envs import BudgetGymError, evaluate_plan, load_scenario
from budgetgym.experiments.flighting import random_flighting
from budgetgym.experiments.simulate import simulate_dataset, write_dataset


def test_columns_calendar_and_truth_of_a_weekly_dataset() -> None:
    sc = load_scenario("stationary-3").override(
        {"step_days": 7, "start_day": 14, "noise.conversions": "none", "channels.search.cost.noise_sd": 0.0,
         "channels.social.cost.noise_sd": 0.0, "channels.video.cost.noise_sd": 0.0,
         "baseline": {"level": 500.0, "controls": [{"name": "price_index", "effect": -40.0}]}}
    )
    ds = simulate_dataset(sc, 30, "random", seed=2)
    d = ds.data
    assert list(d.columns) == ["date", "conversions", "search_spend", "search_clicks", "social_spend",
                               "social_impressions", "video_spend", "video_impressions", "price_index"]
    dates = pd.to_datetime(d["date"])
    assert dates.iloc[0] == pd.Timestamp("2024-01-15")  # day 14 after Monday 1 January 2024
    assert set(dates.diff().dropna().dt.days) == {7}
    # noise-free media: the KPI is the expected contributions plus the realised baseline
    contrib = ds.contributions
    media = contrib[["search", "social", "video"]].sum(axis=1)
    base = ds.scenario.baseline
    assert base is not None
    # (no conversion noise, no baseline noise: the realised KPI is the expected one)
    np.testing.assert_allclose(d["conversions"], contrib["kpi_expected"], rtol=1e-12)
    np.testing.assert_allclose(contrib["baseline"], 500.0 - 40.0 * d["price_index"], rtol=1e-12)
    # the expected media conversions are evaluate_plan's of the spend made (an independent rollout)
    plain = ds.scenario.model_copy(update={"baseline": None})
    assert media.sum() == pytest.approx(float(evaluate_plan(plain, ds.plan)), rel=1e-9)
    spend = d[["search_spend", "social_spend", "video_spend"]].to_numpy()
    np.testing.assert_allclose(spend, ds.plan)


def test_revenue_kpi_and_values() -> None:
    ds = simulate_dataset("delayed-5", 20, "equal", seed=0)
    assert "revenue" in ds.data.columns and "conversions" not in ds.data.columns
    # played through the env's pacing action (float64): the spend of a period to ~1e-12 of the plan's
    np.testing.assert_allclose(ds.plan.sum(axis=1), load_scenario("delayed-5").step_budget, rtol=1e-12)
    sc = ds.scenario
    assert ds.contributions["kpi_expected"].sum() == pytest.approx(
        float(evaluate_plan(sc.override({"reward": "revenue"}), ds.plan)), rel=1e-9
    )


def test_true_curve_by_hand() -> None:
    sc = build_scenario(channels=[channel("tv")], horizon=4, budget={"total": 400.0, "pacing": "even"})
    ds = simulate_dataset(sc, 4, "equal")
    c = ds.curves
    # CPM 10, no pressure: 100 impressions per unit spent; Hill beta 50, kappa 10,000, slope 1
    np.testing.assert_allclose(c["kpi"], 50 * 100 * c["spend"] / (10_000 + 100 * c["spend"]), rtol=1e-12)
    assert c["spend"].iloc[-1] == pytest.approx(2 * 100.0)


def test_random_flighting_is_seeded_and_looks_like_media_plans() -> None:
    a = random_flighting(156, 10_000.0, 5, np.random.default_rng(3))
    b = random_flighting(156, 10_000.0, 5, np.random.default_rng(3))
    np.testing.assert_array_equal(a, b)
    assert np.all(a >= 0) and np.all((a > 0).any(axis=0))
    plans = np.stack([random_flighting(156, 10_000.0, 5, np.random.default_rng(s)) for s in range(40)])
    on = (plans > 0).mean(axis=1)  # [40, 5] share of periods each channel is on
    assert (on == 1).mean() > 0.15 and (on < 0.5).mean() > 0.15  # always-on and dark-heavy channels both occur
    assert plans.sum(axis=2).mean() == pytest.approx(10_000.0, rel=0.1)  # the average spend per period



@pytest.mark.parametrize("level_sd", [0.0, 0.3, 0.9])
def test_random_flighting_level_sd_is_the_sd_of_the_log_spend_while_on(level_sd: float) -> None:
    """While a channel is on, its spend is ``q s / o * exp(z - sd^2/2)`` with ``z`` an AR(1) of stationary
    sd ``level_sd`` (module docstring): the log spend of an on period, minus its channel's mean log
    spend, has sd ``level_sd``; 0 spends one level per channel."""
    plan = random_flighting(6000, 1_000.0, 4, np.random.default_rng(7), level_sd=level_sd)
    for i in range(4):
        logs = np.log(plan[plan[:, i] > 0, i])
        if level_sd == 0.0:
            np.testing.assert_allclose(logs, logs[0], rtol=0, atol=1e-12)
        else:  # AR(1) with coefficient 0.7: ~6000 * 0.3/1.7 effective draws at least, sd of the sd ~2-5%
            assert np.std(logs) == pytest.approx(level_sd, rel=0.15)


def test_random_flighting_default_level_sd_is_the_published_one() -> None:
    """The default keeps the datasets of earlier releases (the benchmark's figures) as they were."""
    a = random_flighting(156, 10_000.0, 5, np.random.default_rng(3))
    b = random_flighting(156, 10_000.0, 5, np.random.default_rng(3), level_sd=0.3)
    np.testing.assert_array_equal(a, b)
    with pytest.raises(ValueError, match="level_sd"):
        random_flighting(10, 1.0, 2, np.random.default_rng(0), level_sd=-0.1)


def test_simulate_level_sd_widens_the_data_and_refuses_bad_values(tmp_path: Path,
                                                                   capsys: pytest.CaptureFixture) -> None:
    narrow = simulate_dataset("stationary-3", 104, "random", seed=4).plan
    wide = simulate_dataset("stationary-3", 104, "random", seed=4, level_sd=1.0).plan
    spread = [float(np.ptp(np.log(p[p[:, i] > 0, i]))) for p in (narrow, wide) for i in range(3)]
    assert min(spread[3:]) > max(spread[:3])  # every channel's range of log spend is wider
    for args, needle in [(["--level-sd", "-1"], "--level-sd: expected 0 to 3"),
                         (["--level-sd", "nan"], "--level-sd: expected 0 to 3"),
                         (["--level-sd", "0.5", "--plan", "equal"], "not random")]:
        code, _, err = run_cli(capsys, "simulate", "stationary-3", "--periods", "5", "--out",
                               str(tmp_path / "d"), *args)
        assert code == 2 and needle in err and len(err.strip().splitlines()) == 1, err
        assert not (tmp_path / "d").exists()

def test_write_is_all_or_nothing(tmp_path: Path) -> None:
    ds = simulate_dataset("stationary-3", 10, "equal")
    out = write_dataset(ds, tmp_path / "data")
    assert sorted(p.name for p in out.iterdir()) == ["data.csv", "summary.json", "truth"]
    with pytest.raises(TypeError):
        write_dataset(ds, tmp_path / "broken", meta={"bad": object()})
    assert not (tmp_path / "broken").exists()
    assert [p.name for p in tmp_path.iterdir()] == ["data"]  # no temporary directory left behind


def test_ctrl_c_while_replacing_a_dataset_leaves_the_earlier_dataset_as_it_was(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Replacing an earlier dataset deleted all its files before renaming the new ones in: a Ctrl-C (or a
    failing rename) after the first rename left a directory with one new file and none of the others."""

    out = write_dataset(simulate_dataset("competitor-5", 12, "random", seed=1, lift_tests=1), tmp_path / "d")
    before = {p.relative_to(out): p.read_bytes() for p in sorted(out.rglob("*")) if p.is_file()}
    assert Path("lift_tests.csv") in before and Path("truth/scenario.yaml") in before
    moved_in = interrupt_nth_move(monkeypatch, out, 2)
    with pytest.raises(KeyboardInterrupt):
        write_dataset(simulate_dataset("competitor-5", 9, "random", seed=2), out)
    assert len(moved_in) >= 2
    assert {p.relative_to(out): p.read_bytes() for p in sorted(out.rglob("*")) if p.is_file()} == before
    assert [p.name for p in tmp_path.iterdir()] == ["d"]  # no temporary directory left


def test_replacing_a_dataset_removes_the_earlier_files_the_new_one_has_not(tmp_path: Path) -> None:
    out = write_dataset(simulate_dataset("competitor-5", 12, "random", seed=1, lift_tests=1), tmp_path / "d")
    write_dataset(simulate_dataset("competitor-5", 9, "random", seed=2), out)
    assert sorted(p.relative_to(out).as_posix() for p in out.rglob("*")) == [
        "data.csv", "summary.json", "truth", "truth/contributions.csv", "truth/curves.csv", "truth/scenario.yaml"]
    assert len(pd.read_csv(out / "data.csv")) == 9


def test_ctrl_c_at_any_point_of_replacing_a_dataset_leaves_the_earlier_or_the_new_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The earlier dataset's lift tests, which the new one has not, were deleted after the new files were
    moved in: a Ctrl-C (or a failing delete) between left the new data.csv beside the earlier dataset's
    lift tests, which calibrate would read as this data's. Interrupted at each change in turn, the
    directory holds one whole dataset, the earlier or the new, and no temporary directory is left."""
    import shutil

    import budgetgym.experiments.results as results

    monkeypatch.setattr(results, "environment_info", lambda: {})  # the same summary.json each time, faster
    earlier = write_dataset(simulate_dataset("stationary-3", 5, "random", seed=1, lift_tests=1), tmp_path / "old")
    new = simulate_dataset("stationary-3", 4, "random", seed=2)
    fresh = files_of(write_dataset(new, tmp_path / "fresh"))
    assert "lift_tests.csv" not in fresh and "lift_tests.csv" in files_of(earlier)
    for n in range(1, 100):
        out = Path(shutil.copytree(earlier, tmp_path / f"d{n}"))
        before = files_of(out)
        with monkeypatch.context() as m:
            changed = interrupt_nth_change(m, out, n)
            try:
                write_dataset(new, out)
            except KeyboardInterrupt:
                pass
        after = files_of(out)
        assert after in (before, fresh), f"interrupted at change {n} ({changed[-1]})"
        assert not [p.name for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temporary directory
        if len(changed) < n:  # not interrupted: every change was tried
            assert after == fresh
            break
    assert n > 5


def test_plan_files_shares_of_the_step_budget_and_totals_above_the_budget(tmp_path: Path) -> None:
    """``--plan FILE`` reads the planner's formats against the simulated periods: shares are of the
    scenario's step budget ``B/T``, and a per-step plan may spend more than the scenario's budget."""
    sc = load_scenario("stationary-3")  # search, social, video
    shares = tmp_path / "shares.csv"
    shares.write_text("channel,share\nsearch,0.5\nsocial,0.3\nvideo,0.2\n", encoding="utf-8")
    ds = simulate_dataset(sc, 6, str(shares), seed=0)
    # played through the env's action (float64): each spend to ~1e-12 of the plan's
    np.testing.assert_allclose(ds.plan, np.tile([0.5, 0.3, 0.2], (6, 1)) * sc.step_budget, rtol=1e-12)
    steps = tmp_path / "steps.csv"  # three times the step budget in each period: played as given
    big = 3 * sc.step_budget
    steps.write_text("search,social,video\n" + f"{big},0,0\n" * 6, encoding="utf-8")
    ds = simulate_dataset(sc, 6, str(steps), seed=0)
    np.testing.assert_allclose(ds.plan, np.tile([big, 0.0, 0.0], (6, 1)), rtol=1e-12)
    spend = ds.data[["search_spend", "social_spend", "video_spend"]].to_numpy()
    np.testing.assert_allclose(spend, ds.plan)


@pytest.mark.parametrize("typed", ["search=0.5,social=0.3,video=0.2", "search=50%,social=30%,video=20%",
                                   "search=1500,social=900,video=600"])
def test_a_typed_split_or_budgets_is_a_plan_as_for_plan_current(typed: str) -> None:
    """``plan --current search=0.5,...`` takes a typed split (or per-channel budgets over the periods); checking that
    current plan on the truth with ``simulate --plan`` needed a CSV file written first ("expected random, equal,
    oracle or a per-step CSV file"). Shares are of the step budget B/T (6,000 on stationary-3), budgets the
    channel's total over the periods, as in a per-channel file."""
    sc = load_scenario("stationary-3")
    ds = simulate_dataset(sc, 6, typed, seed=0)
    per_period = [3000.0, 1800.0, 1200.0] if "=1500" not in typed else [250.0, 150.0, 100.0]
    np.testing.assert_allclose(ds.plan, np.tile(per_period, (6, 1)), rtol=1e-12)


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"periods": 0}, "--periods"),
    ({"periods": 5, "plan": "weird"}, "--plan 'weird'"),
    ({"periods": 5, "seed": -1}, "--seed: expected a non-negative integer, got -1"),  # was numpy's ValueError
    ({"periods": 100_000}, "^--periods 100000: scenario 'stationary-3' .*horizon: .* 5000"),
    ({"periods": 5, "lift_tests": 10**8}, "--lift-tests: expected 0 to 1000 tests, got 100000000"),  # 3 TiB
    ({"periods": 5, "plan": "."}, "--plan '.': is a directory"),
    ({"periods": 5, "plan": ""}, r"^--plan '': expected random, equal, oracle, a split \(search=0.4,social=0.6; or "
                                 r"budgets\) or a plan CSV file$"),  # not a dir
    ({"periods": 5, "draw": -1, "scenario": "retail-5-family"}, "^--draw -1: expected a non-negative draw index"),
])
def test_bad_arguments_one_line(kwargs: dict, message: str) -> None:
    with pytest.raises(BudgetGymError, match=message) as err:
        simulate_dataset(**{"scenario": "stationary-3", **kwargs})
    assert "\n" not in str(err.value)


def test_a_plan_file_above_any_budget_names_the_file(tmp_path: Path) -> None:
    """Was 'scenario 'stationary-3' (overridden): budget.total: ...', not naming the plan file."""
    steps = tmp_path / "steps.csv"
    steps.write_text("search,social,video\n" + "1e300,0,0\n" * 4, encoding="utf-8")
    with pytest.raises(BudgetGymError) as err:
        simulate_dataset("stationary-3", 4, str(steps))
    assert str(err.value) == (
        f"--plan file '{steps}': spends 4e+300 over 4 periods, more than a scenario's budget can be (1e+15)"
    )


def test_a_plan_file_whose_sum_overflows_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    """Cells near the largest float summed to inf: a numpy RuntimeWarning (two lines) before the error."""
    steps = tmp_path / "steps.csv"
    steps.write_text("search,social,video\n1e308,1e308,0\n0,0,0\n", encoding="utf-8")
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the warning, shown once per place by default, fails the test
        code, _, err = run_cli(capsys, "simulate", "stationary-3", "--periods", "2", "--plan", str(steps),
                               "--out", str(tmp_path / "ds"))
    assert code == 2
    assert err == (f"error: --plan file '{steps}': spends inf over 2 periods, more than a scenario's budget can be "
                   f"(1e+15)\n")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["steps.csv"]


def test_a_plan_file_period_above_any_step_cap_names_the_file(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    """One period of 1e14 in 3000: its budget would be 1e14 * 3000 / 100 = 3e15 (the step cap is at most 100 times
    the mean), above a scenario's largest; the whole dataset was played first, then 'plan: period 1 spends
    3.33333e+13 on search, ...', not naming the file."""
    steps = tmp_path / "steps.csv"
    steps.write_text("search,social,video\n1e14,0,0\n" + "0,0,0\n" * 2999, encoding="utf-8")
    code, _, err = run_cli(capsys, "simulate", "stationary-3", "--periods", "3000", "--plan", str(steps), "--out",
                           str(tmp_path / "ds"))
    assert code == 2
    assert err == (f"error: --plan file '{steps}': period 1 spends 1e+14; a period can spend at most 100 times the "
                   f"mean period of a scenario's largest budget (1e+15 over 3000 periods: 3.33333e+13)\n")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["steps.csv"]


@pytest.mark.parametrize(("spend", "total"), [("0", "0"), ("1e-300", "4e-300")])
def test_a_plan_file_spending_nothing_names_the_file(tmp_path: Path, capsys: pytest.CaptureFixture, spend: str,
                                                     total: str) -> None:
    """Was 'plan: spends nothing' (0) or 'scenario 'stationary-3' (overridden): budget.total: ...' (1e-300),
    not naming the plan file."""
    steps = tmp_path / "steps.csv"
    steps.write_text("search,social,video\n" + f"{spend},0,0\n" * 4, encoding="utf-8")
    code, _, err = run_cli(capsys, "simulate", "stationary-3", "--periods", "4", "--plan", str(steps), "--out",
                           str(tmp_path / "ds"))
    assert code == 2
    assert err == (f"error: --plan file '{steps}': spends {total} over 4 periods; a dataset needs some spend (at least "
                   f"a scenario's smallest budget, 1e-09)\n")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["steps.csv"]


def test_cli_writes_a_dataset_and_refuses_bad_input_in_one_line(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    from budgetgym.experiments.cli import main

    out = tmp_path / "ds"
    assert main(["simulate", "stationary-3", "--periods", "12", "--out", str(out), "--seed", "4"]) == 0
    data = pd.read_csv(out / "data.csv")
    assert len(data) == 12 and "search_spend" in data.columns
    printed = capsys.readouterr().out
    assert "budgetgym calibrate" in printed and "12 periods of 1 day from" in printed  # not "1 day(s)"
    for args, message in [
        (["--periods", "0"], "--periods"),
        (["--periods", "5", "--plan", "nope"], "--plan 'nope'"),
    ]:
        assert main(["simulate", "stationary-3", *args, "--out", str(tmp_path / "bad")]) == 2
        err = capsys.readouterr().err.strip()
        assert message in err and "\n" not in err
    assert main(["simulate", "no-such-scenario", "--periods", "5", "--out", str(tmp_path / "bad")]) == 2
    assert not (tmp_path / "bad").exists()


@pytest.mark.parametrize(("where", "message"), [
    ("file", "output directory '{out}': exists and is not a directory"),
    ("file/sub", "output directory '{out}': '{blocker}' is a file, not a directory"),
])
def test_an_out_that_cannot_be_a_directory_is_one_line_before_any_work(
    tmp_path: Path, capsys: pytest.CaptureFixture, where: str, message: str
) -> None:
    """Both were a NotADirectoryError / FileExistsError traceback, after the simulation."""
    from budgetgym.experiments.cli import main

    blocker = tmp_path / "file"
    blocker.write_text("keep", encoding="utf-8")
    out = tmp_path / where
    assert main(["simulate", "stationary-3", "--periods", "5", "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert err == "error: " + message.format(out=out, blocker=blocker) + "\n"
    assert blocker.read_text(encoding="utf-8") == "keep" and sorted(p.name for p in tmp_path.iterdir()) == ["file"]


def test_an_out_holding_other_files_is_refused_and_kept(
    tmp_path: Path, capsys: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``--out`` at a directory holding anything but an earlier dataset (a results directory, the
    working directory as ``.``) was deleted whole (``shutil.rmtree``) to make room for the dataset."""
    results = tmp_path / "results"
    (results / "runs").mkdir(parents=True)
    (results / "report.md").write_text("keep", encoding="utf-8")
    code, _, err = run_cli(capsys, "simulate", "stationary-3", "--periods", "5", "--out", str(results))
    assert code == 2
    assert err == (f"error: output directory '{results}': holds 'report.md', 'runs', not written by budgetgym "
                   f"simulate; expected a new or empty directory, or one holding an earlier dataset to replace\n")
    assert sorted(p.name for p in results.iterdir()) == ["report.md", "runs"]
    assert (results / "report.md").read_text(encoding="utf-8") == "keep"
    truth_extra = tmp_path / "ds"  # an earlier dataset with a file of the user's inside truth/
    assert run_cli(capsys, "simulate", "stationary-3", "--periods", "5", "--out", str(truth_extra))[0] == 0
    (truth_extra / "truth" / "notes.txt").write_text("keep", encoding="utf-8")
    code, _, err = run_cli(capsys, "simulate", "stationary-3", "--periods", "5", "--out", str(truth_extra))
    assert code == 2 and "holds 'truth/notes.txt'" in err
    assert (truth_extra / "truth" / "notes.txt").read_text(encoding="utf-8") == "keep"
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    (cwd / "keep.txt").write_text("keep", encoding="utf-8")
    monkeypatch.chdir(cwd)
    code, _, err = run_cli(capsys, "simulate", "stationary-3", "--periods", "5", "--out", ".")
    assert code == 2 and "holds 'keep.txt'" in err and "\n" not in err.strip()
    assert sorted(p.name for p in cwd.iterdir()) == ["keep.txt"]


def test_an_earlier_dataset_is_replaced_in_place(
    tmp_path: Path, capsys: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An earlier dataset is replaced (lift tests it had and this one has not are gone), an empty
    directory filled; ``--out .`` in an empty directory writes there (it was an 'Invalid argument')."""
    out = tmp_path / "ds"
    assert run_cli(capsys, "simulate", "stationary-3", "--periods", "5", "--out", str(out), "--lift-tests", "1")[0] == 0
    assert run_cli(capsys, "simulate", "stationary-3", "--periods", "7", "--out", str(out))[0] == 0
    assert sorted(p.name for p in out.iterdir()) == ["data.csv", "summary.json", "truth"]
    assert sorted(p.name for p in (out / "truth").iterdir()) == ["contributions.csv", "curves.csv", "scenario.yaml"]
    assert len(pd.read_csv(out / "data.csv")) == 7
    empty = tmp_path / "empty"
    empty.mkdir()
    monkeypatch.chdir(empty)
    assert run_cli(capsys, "simulate", "stationary-3", "--periods", "5", "--out", ".")[0] == 0
    assert sorted(p.name for p in empty.iterdir()) == ["data.csv", "summary.json", "truth"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ds", "empty"]  # no temporary directory left behind


def test_a_write_error_is_one_line_and_leaves_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """An OSError while writing (a full disk) was a traceback; now one line, and neither the new
    directory nor its parents nor the temporary directory are left."""
    ds = simulate_dataset("stationary-3", 5, "equal")

    def full(*args: object, **kwargs: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(pd.DataFrame, "to_csv", full)
    out = tmp_path / "new" / "ds"
    with pytest.raises(BudgetGymError) as err:
        write_dataset(ds, out)
    assert str(err.value) == f"output directory '{out}': cannot be written (No space left on device)"
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(("change", "message"), [
    # a control named like the KPI or a spend column replaced that column's values silently; 'kpi' replaced the KPI
    ({"baseline": {"level": 10.0, "controls": [{"name": "conversions", "effect": 1.0}]}},
     "a baseline control is named 'conversions', like another column of data.csv"),
    ({"baseline": {"level": 10.0, "controls": [{"name": "search_spend", "effect": 1.0}]}},
     "a baseline control is named 'search_spend', like another column of data.csv"),
    ({"baseline": {"level": 10.0, "controls": [{"name": "date", "effect": 1.0}]}},  # was a pandas ValueError
     "a baseline control is named 'date', like another column of data.csv"),
    ({"channels.video.name": "baseline"}, "a channel is named 'baseline', like another column of "
                                          "truth/contributions.csv"),
])
def test_a_name_used_twice_in_a_written_table_is_one_line(change: dict, message: str) -> None:
    sc = load_scenario("stationary-3").override(change)
    with pytest.raises(BudgetGymError, match=f"^scenario 'stationary-3': {message}; rename it$"):
        simulate_dataset(sc, 4, "equal")


def test_a_control_named_kpi_is_a_column_of_its_own() -> None:
    """The KPI was built under the key 'kpi' and renamed: a control 'kpi' replaced the KPI's values."""
    sc = load_scenario("stationary-3").override(
        {"noise.conversions": "none", **{f"channels.{c}.cost.noise_sd": 0.0 for c in ("search", "social", "video")},
         "baseline": {"level": 100.0, "controls": [{"name": "kpi", "effect": 0.0,
                                                                                 "mean": 7.0, "sd": 0.0}]}})
    ds = simulate_dataset(sc, 4, "equal")
    assert list(ds.data.columns).count("kpi") == 1 and (ds.data["kpi"] == 7.0).all()
    media = ds.contributions[sc.channel_names].sum(axis=1)
    np.testing.assert_allclose(ds.data["conversions"], media + 100.0, rtol=1e-12)


def _play_file(tmp_path: Path, rows: list[tuple[float, float, float]]) -> tuple[np.ndarray, np.ndarray]:
    """``rows`` as a per-step plan file of stationary-3, simulated: (planned, spent)."""
    path = tmp_path / "steps.csv"
    path.write_text("search,social,video\n" + "".join(f"{a!r},{b!r},{c!r}\n" for a, b, c in rows), encoding="utf-8")
    ds = simulate_dataset("stationary-3", len(rows), str(path), seed=0)
    spent = ds.data[["search_spend", "social_spend", "video_spend"]].to_numpy()
    np.testing.assert_array_equal(spent, ds.plan)
    return np.array(rows), spent


def test_a_period_over_100_times_the_mean_is_spent_in_full(tmp_path: Path) -> None:
    """One burst in 200 periods: 200 times the mean period, where the step cap is at most 100; it was
    cut to 500 (100 B/T with B = 1000), half the plan, silently."""
    planned, spent = _play_file(tmp_path, [(600.0, 300.0, 100.0)] + [(0.0, 0.0, 0.0)] * 199)
    np.testing.assert_allclose(spent, planned, rtol=1e-12, atol=0)


def test_a_small_share_is_spent_not_moved(tmp_path: Path) -> None:
    """0.3 beside 10,000 is a share 3e-5 of the largest, below exp(-2 c) = 4.5e-5 at the scenario's logit
    scale c = 5: it was played as 0 and its 0.3 spent on search."""
    planned, spent = _play_file(tmp_path, [(10_000.0, 0.3, 0.0)] * 5)
    # the env rounds spend down to its quantum 2**(ceil(log2 B) - 52), here 2**-36 (B = 50,001.5)
    np.testing.assert_allclose(spent, planned, rtol=0, atol=2.0**-36)


def test_a_small_last_period_after_large_ones(tmp_path: Path) -> None:
    """The spend went through a float32 action (about 6e-8 of a period each); the overshoot of nine periods of
    6e6 left the last period's 1.0 about 0.05 short (the budget is the plan's total)."""
    planned, spent = _play_file(tmp_path, [(1e6, 2e6, 3e6)] * 9 + [(1.0, 0.0, 0.0)])
    np.testing.assert_allclose(spent, planned, rtol=1e-12, atol=0)
    rng = np.random.default_rng(0)
    rows = [tuple(float(v) for v in rng.uniform(0, 5000, 3) * (rng.random(3) > 0.3)) for _ in range(52)]
    planned, spent = _play_file(tmp_path, rows)  # irregular amounts: each to the env's spend quantum
    np.testing.assert_allclose(spent, planned, rtol=1e-10, atol=0)


@pytest.mark.parametrize(("text", "per_period"), [
    ("channel,budget\nsearch,600\nsocial,300\n", [100.0, 50.0, 0.0]),  # over the 6 periods; video left out: 0
    ("channel,spend\nsearch,60\nsocial,30\nvideo,6\n", [10.0, 5.0, 1.0]),  # a plan's spend column: the total
    ("week,search,social,video,total\n" + "".join(f"{t},{10 * t},0,1.5,{10 * t + 1.5}\n" for t in range(1, 7)), None),
])
def test_every_plan_file_layout_spends_what_it_says(tmp_path: Path, text: str, per_period: list[float] | None) -> None:
    """The planner's layouts (planner/inputs.py): a per-channel budget or spend is the channel's total over
    the periods, spent evenly; a per-step table's label and total columns are ignored."""
    path = tmp_path / "plan.csv"
    path.write_text(text, encoding="utf-8")
    ds = simulate_dataset("stationary-3", 6, str(path), seed=0)
    if per_period is not None:
        expected = np.tile(per_period, (6, 1))
    else:
        expected = np.column_stack([10.0 * np.arange(1, 7), np.zeros(6), np.full(6, 1.5)])
    spent = ds.data[["search_spend", "social_spend", "video_spend"]].to_numpy()
    np.testing.assert_allclose(spent, expected, rtol=1e-12, atol=0)


def test_oracle_dataset_has_exact_zero_spend_where_the_oracle_drops_a_channel(
        tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    """overlap-5's oracle over 8 periods spends on social and audio only (``budgetgym plan`` shows 0 for
    the others); its solver left 3e-6 to 1.5e-5 a period on display, video and ctv, which the dataset
    wrote as spend and ``calibrate`` fitted as channels spent in every period. Now those columns are
    exactly 0, the truth agrees, the budget holds, the value is the oracle's to 1e-9, and calibrate
    refuses the never-spent channels by name (the printed command leaves them out)."""
    out = tmp_path / "ds"
    code, printed, _ = run_cli(capsys, "simulate", "overlap-5", "--periods", "8", "--plan", "oracle",
                               "--out", str(out))
    assert code == 0
    data, truth = pd.read_csv(out / "data.csv"), pd.read_csv(out / "truth" / "contributions.csv")
    dropped, kept = ["display", "video", "ctv"], ["social", "audio"]
    for c in dropped:
        assert (data[f"{c}_spend"] == 0.0).all() and (data[f"{c}_impressions"] == 0.0).all()
        assert (truth[c] == 0.0).all()
    assert all((data[f"{c}_spend"] > 100.0).all() for c in kept)
    sc = load_scenario("overlap-5")
    sc = sc.override({"horizon": 8, "budget.total": sc.step_budget * 8})
    spend = data[[f"{c}_spend" for c in sc.channel_names]].to_numpy()
    assert spend.sum() <= sc.budget.total
    from budgetgym.envs.oracle import solve_oracle

    oracle = solve_oracle(sc)
    assert evaluate_plan(sc, spend) == pytest.approx(oracle.expected_reward, rel=1e-9)
    command = next(line for line in printed.splitlines() if line.startswith("calibrate with:"))
    assert "--spend social_spend,audio_spend " in command and "display" not in command
    code, _, err = run_cli(capsys, "calibrate", str(out / "data.csv"), "--date", "date", "--kpi", "revenue",
                           "--spend", ",".join(f"{c}_spend" for c in sc.channel_names), "--out", str(tmp_path / "fit"))
    assert code == 2 and err.strip().count("\n") == 0
    assert "column 'display_spend': the spend is zero in every period; drop the channel" in err


def test_the_oracle_dataset_keeps_a_tiny_spend_that_earns() -> None:
    """A channel priced at 1e-9 a thousand impressions is saturated by 5e-9 a period (7e-10 of the period's
    7.5): the oracle plan's spend there is not the solver's rounding of 0, and the dataset plays it (it played
    0 there, losing a third of the oracle's conversions: 8.57 for 12.57)."""
    ds = simulate_dataset(cheap_s_curve_scenario(), 4, "oracle")
    spend = ds.data[["cheap_spend", "c1_spend"]].to_numpy()
    assert np.all(spend[:, 0] > 0)
    assert evaluate_plan(cheap_s_curve_scenario(), spend) == pytest.approx(CHEAP_S_CURVE_OPTIMUM, rel=1e-9)


def test_a_plan_file_of_rounded_shares_is_scaled_and_noted(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    """``simulate --plan`` reads a ``share`` table as ``plan --current`` does: shares rounded to three
    decimals (0.333 x 3, summing to 0.999) were refused; they are now the split scaled to sum to 1 (each
    period spends the step budget, a third on each channel), with a one-line note."""
    shares = tmp_path / "shares.csv"
    shares.write_text("channel,share\nsearch,0.333\nsocial,0.333\nvideo,0.333\n", encoding="utf-8")
    code, out, err = run_cli(capsys, "simulate", "stationary-3", "--periods", "4", "--plan", str(shares), "--out",
                             str(tmp_path / "ds"))
    assert code == 0, err
    assert (f"note: --plan file '{shares}': the split sums to 0.999, within the rounding of the digits given "
            f"(±0.0015); scaled to sum to 1\n") in out
    data = pd.read_csv(tmp_path / "ds" / "data.csv")
    step = load_scenario("stationary-3").step_budget
    for name in ("search", "social", "video"):
        np.testing.assert_allclose(data[f"{name}_spend"], step / 3, rtol=1e-9)
    shares.write_text("channel,share\nsearch,0\nsocial,0\nvideo,0\n", encoding="utf-8")  # 0 / 0: a NaN plan,
    code, _, err = run_cli(capsys, "simulate", "stationary-3", "--periods", "4", "--plan", str(shares), "--out",
                           str(tmp_path / "zeros"))  # which simulate played as 8.3e12 a channel a period
    assert (code, err) == (2, f"error: --plan file '{shares}': shares must sum to 1 exactly, got 0\n")


@pytest.mark.parametrize("step_days", [0.1, 5e-324])
def test_a_step_too_short_for_a_year_of_lift_periods_is_one_line_naming_step_days(step_days: float) -> None:
    """A lift is averaged over a year of steps (``round(365.25 / step_days)``) in a window of two: a step of 0.1
    day asked for a horizon of 7,304 ('horizon: ... got 7304', a field the user never gave), one of 5e-324 days
    raised OverflowError (the schema-edge strategy, VOI design). Either is a one-line error naming step_days."""
    from budgetgym.experiments.true_response import true_lift

    sc = load_scenario("stationary-3").override({"step_days": step_days})
    with pytest.raises(BudgetGymError) as err:
        true_lift(sc, [100.0, 100.0, 100.0], 0, 10.0)
    assert f"step_days {step_days:g}" in str(err.value) and "at least 0.146" in str(err.value)
    assert "\n" not in str(err.value)
    assert true_lift(load_scenario("stationary-3").override({"step_days": 0.15}), [100.0] * 3, 0, 10.0) > 0


def test_typed_budgets_are_written_as_given(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    """``simulate --plan search=2100,social=700,video=1400`` over 7 periods spends 300, 100 and 200 a period: the
    dataset's spend columns and ``summary.json``'s total are those numbers, not the env's float rounding of them
    (``video_spend`` 199.99999999999818, ``spend`` 4199.999999999987), the plan having been played as given."""
    import json

    out = tmp_path / "ds"
    code, _, err = run_cli(capsys, "simulate", "stationary-3", "--periods", "7", "--plan",
                           "search=2100,social=700,video=1400", "--out", str(out))
    assert code == 0, err
    data = pd.read_csv(out / "data.csv")
    assert (data["search_spend"] == 300.0).all() and (data["social_spend"] == 100.0).all()
    assert (data["video_spend"] == 200.0).all()
    assert json.loads((out / "summary.json").read_text())["spend"] == 4200.0
