"""The planner's lift design (``budgetgym.planner.experiments.lift_design``, ``lift_design.csv``) and
``simulate --lift-design``: the design of a hand-made plan and history, the simulated tests are
``true_lift`` at the design's level with seeded noise, bad design files fail in one line before
anything is written, and a plan's file round-trips into ``simulate``."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import run_cli
from test_lift_tests import _hand_scenario

from budgetgym.envs import load_scenario
from budgetgym.experiments.simulate import simulate_dataset, true_lift, write_dataset
from budgetgym.planner import plan
from budgetgym.planner.experiments import DESIGN_COLUMNS, lift_design, spend_levels
from budgetgym.planner.metrics import beyond_history, history_columns
from budgetgym.planner.outputs import write_plan

NAMES = ["a", "b", "c", "d"]
# the history: a runs at 100-300, b at 50, c never, d at 500
HISTORY = np.array([[100.0, 50.0, 0.0, 500.0], [200.0, 50.0, 0.0, 500.0], [300.0, 50.0, 0.0, 500.0]])
# the plan: a pulses at 600 and 400 (mean over its two periods 500, above the history's 300); b peaks
# at 60 once but runs at 10 otherwise (mean over its periods 80/3, within the history: its largest
# step is tested); c starts from nothing; d stays within its history
PLAN = np.array([[0.0, 60.0, 10.0, 100.0], [600.0, 10.0, 10.0, 100.0], [400.0, 10.0, 0.0, 100.0],
                 [0.0, 0.0, 0.0, 100.0]])


def _design(names: list[str], plan: np.ndarray, history: np.ndarray) -> pd.DataFrame:
    """The design as ``plan`` makes it: from the channels :func:`beyond_history` finds."""
    return lift_design(names, plan, history, beyond_history(names, plan, history_columns(plan, history)))


def test_design_of_a_hand_made_plan_and_history() -> None:
    design = _design(NAMES, PLAN, HISTORY)
    assert list(design.columns) == list(DESIGN_COLUMNS)
    assert list(design["channel"]) == ["a", "b", "c"]  # d is within its history
    # a: x = mean(100, 200, 300) = 200; the plan's level over the periods it spends = (600 + 400) / 2
    # b: x = 50; (60 + 10 + 10) / 3 <= 50, so its largest step, 60
    # c: x = 0; (10 + 10) / 2
    np.testing.assert_allclose(design["x"], [200.0, 50.0, 0.0])
    np.testing.assert_allclose(design["delta_x"], [300.0, 10.0, 10.0])
    np.testing.assert_allclose(design["planned_spend"], [500.0, 60.0, 10.0])
    np.testing.assert_allclose(design["plan_max_spend"], [600.0, 60.0, 10.0])
    np.testing.assert_allclose(design["history_max_spend"], [300.0, 50.0, 0.0])
    # nothing beyond the history, or no history: no test
    assert _design(NAMES, np.minimum(PLAN, 40.0), HISTORY + 50.0).empty
    assert _design(NAMES, PLAN, np.zeros((0, 4))).empty


def test_plan_proposes_the_design_only_beyond_the_history(tmp_path: Path) -> None:
    """``plan`` carries the design of its own plan and history; ``write_plan`` writes it (and the
    report names it) only when a channel is beyond the history, and removes an earlier one."""
    sc = load_scenario("stationary-3")
    hist = np.array([[1000.0, 0.0, 1e7], [2000.0, 0.0, 0.0]])  # search below the plan, social never, video above
    res = plan(sc, history=hist, curves=False)
    assert res.lift_design is not None
    pd.testing.assert_frame_equal(res.lift_design, _design(sc.channel_names, res.plan, hist))
    assert list(res.lift_design["channel"]) == ["search", "social"]
    assert res.summary()["lift_design"] == res.lift_design.to_dict(orient="records")
    out = write_plan(res, tmp_path / "p", plots=False)
    written = pd.read_csv(out.out / "lift_design.csv")
    np.testing.assert_allclose(written["delta_x"], res.lift_design["delta_x"])
    report = (out.out / "report.md").read_text()
    assert "lift tests to run next (lift_design.csv): search from" in report
    within = plan(sc, history=np.full((2, 3), 1e7), curves=False)
    assert within.beyond_history == [] and within.lift_design is None
    write_plan(within, tmp_path / "p", plots=False)
    assert not (tmp_path / "p" / "lift_design.csv").exists()  # the directory describes one plan
    assert "lift_design" not in within.summary()
    assert "lift tests to run" not in (tmp_path / "p" / "report.md").read_text()


def test_simulated_design_is_the_true_lift_at_its_level() -> None:
    """Each designed test measures ``true_lift`` from every channel at its mean spend in the data but
    the tested one at the design's ``x``; the noise is seeded, on its own stream (the ``N`` tests
    are the same with or without a design)."""
    design = pd.DataFrame({"channel": ["a_spend", "b", "a"], "x": [300.0, 0.0, 800.0],
                           "delta_x": [900.0, 700.0, -400.0], "planned_spend": [1.0, 2.0, 3.0]})
    ds = simulate_dataset(_hand_scenario(), 20, "equal", seed=4, lift_design=design, lift_sigma=0.1)
    tests = ds.lift_tests
    assert tests is not None and list(tests["channel"]) == ["a_spend", "b_spend", "a_spend"]
    sc = ds.source.override({"horizon": 20, "budget.total": ds.source.step_budget * 20})
    mean = ds.plan.mean(axis=0)
    for (_, row), i in zip(tests.iterrows(), [0, 1, 0], strict=True):
        base = mean.copy()
        base[i] = row["x"]
        truth = true_lift(sc, base, i, row["delta_x"])
        assert row["true_delta_y"] == pytest.approx(truth, rel=1e-12)
        assert row["sigma"] == pytest.approx(0.1 * abs(truth), rel=1e-12)
        assert row["delta_y"] != truth and abs(row["delta_y"] - truth) < 5 * row["sigma"]
    np.testing.assert_allclose(tests[["x", "delta_x"]], design[["x", "delta_x"]])
    again = simulate_dataset(_hand_scenario(), 20, "equal", seed=4, lift_design=design, lift_sigma=0.1)
    pd.testing.assert_frame_equal(again.lift_tests, tests)
    other = simulate_dataset(_hand_scenario(), 20, "equal", seed=5, lift_design=design, lift_sigma=0.1)
    assert other.lift_tests is not None and not np.allclose(other.lift_tests["delta_y"], tests["delta_y"])
    both = simulate_dataset(_hand_scenario(), 20, "equal", seed=4, lift_tests=2, lift_design=design, lift_sigma=0.1)
    alone = simulate_dataset(_hand_scenario(), 20, "equal", seed=4, lift_tests=2, lift_sigma=0.1)
    assert both.lift_tests is not None and alone.lift_tests is not None
    pd.testing.assert_frame_equal(both.lift_tests.iloc[:2], alone.lift_tests)
    pd.testing.assert_frame_equal(both.lift_tests.iloc[2:].reset_index(drop=True), tests)


def _good() -> list[dict[str, object]]:
    return [{"channel": "search", "x": 100.0, "delta_x": 400.0},
            {"channel": "video_spend", "x": 50.0, "delta_x": -25.0}]


def _edit(column: str, row: int, value: object) -> list[dict[str, object]]:
    rows = _good()
    rows[row][column] = value
    return rows


BAD = [
    ("missing column", [{k: v for k, v in r.items() if k != "delta_x"} for r in _good()], "no column 'delta_x'"),
    ("unknown channel", _edit("channel", 1, "radio"), "column 'channel', row 2: unknown channel 'radio'"),
    ("non-numeric", _edit("x", 0, "lots"), "column 'x', row 1: the value must be a finite number"),
    ("negative x", _edit("x", 1, -5.0), "column 'x', row 2: the spend before the test must be non-negative"),
    ("below zero spend", _edit("delta_x", 1, -60.0),
     "column 'delta_x', row 2: x + delta_x (the spend during the test) must be non-negative, got -10"),
    ("zero change", _edit("delta_x", 0, 0.0), "column 'delta_x', row 1: the change of spend must not be 0"),
]


@pytest.mark.parametrize(("label", "rows", "message"), BAD, ids=[c[0] for c in BAD])
def test_bad_design_files_exit_2_with_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], label: str, rows: list[dict[str, object]], message: str
) -> None:
    path = tmp_path / "design.csv"
    pd.DataFrame(rows).to_csv(path, index=False)
    code, out, err = run_cli(capsys, "simulate", "stationary-3", "--periods", "10", "--lift-tests", "1",
                             "--lift-design", str(path), "--out", str(tmp_path / "sim"))
    assert code == 2, (label, out, err)
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"error: lift-design file '{path}': "), lines
    assert message in lines[0], lines[0]
    assert not (tmp_path / "sim").exists() and sorted(p.name for p in tmp_path.iterdir()) == ["design.csv"]


def test_plan_design_round_trips_into_simulate(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """``plan --history`` writes lift_design.csv (and says so); ``simulate --lift-design`` reads it as
    written and appends its tests to ``--lift-tests``'."""
    hist = tmp_path / "history.csv"
    pd.DataFrame({"search": [1000.0, 2000.0], "social": [0.0, 0.0], "video": [1e7, 0.0]}).to_csv(hist, index=False)
    code, out, err = run_cli(capsys, "plan", "stationary-3", "--history", str(hist), "--no-plots", "--out",
                             str(tmp_path / "p"))
    assert code == 0, err
    assert "lift tests to run next (lift_design.csv)" in out and "lift_design.csv" in out.splitlines()[-1]
    design = pd.read_csv(tmp_path / "p" / "lift_design.csv")
    assert list(design["channel"]) == ["search", "social"]
    code, out, err = run_cli(capsys, "simulate", "stationary-3", "--periods", "10", "--lift-tests", "1",
                             "--lift-design", str(tmp_path / "p" / "lift_design.csv"), "--out", str(tmp_path / "sim"))
    assert code == 0, err
    tests = pd.read_csv(tmp_path / "sim" / "truth" / "lift_tests.csv")
    assert len(tests) == 3 and list(tests["channel"][1:]) == ["search_spend", "social_spend"]
    np.testing.assert_allclose(tests[["x", "delta_x"]].iloc[1:], design[["x", "delta_x"]])
    assert (tests["true_delta_y"].iloc[1:] > 0).all()
    assert list(pd.read_csv(tmp_path / "sim" / "lift_tests.csv").columns) == ["channel", "x", "delta_x", "delta_y",
                                                                              "sigma"]
    # the library writes the same tests
    ds = simulate_dataset("stationary-3", 10, seed=0, lift_tests=1, lift_design=design)
    assert ds.lift_tests is not None
    write_dataset(ds, tmp_path / "lib")
    pd.testing.assert_frame_equal(pd.read_csv(tmp_path / "lib" / "truth" / "lift_tests.csv"), tests)


def test_a_plan_at_its_historys_largest_step_up_to_rounding_is_not_beyond_it() -> None:
    """A plan solved after its own spend meets the history's largest step up to the solver's rounding
    (``stationary-3``: 1.0000000004 times it): not beyond the history, so no test there (``beyond``
    proposed one at the history's own largest step, the level it promises to reach beyond)."""
    at = HISTORY.max(axis=0) * (1 + 1e-9)
    rounded = PLAN.copy()
    rounded[:, [0, 1]] = np.minimum(PLAN[:, [0, 1]], at[[0, 1]])  # a and b at most 1 + 1e-9 times theirs
    rounded[:, 3] = at[3]  # d at 1 + 1e-9 times its every step
    assert [b["channel"] for b in beyond_history(NAMES, rounded, history_columns(rounded, HISTORY))] == ["c"]
    assert list(_design(NAMES, rounded, HISTORY)["channel"]) == ["c"]  # c was never spent: beyond
    above = rounded.copy()
    above[1, 0] = HISTORY[:, 0].max() * 1.001
    assert list(_design(NAMES, above, HISTORY)["channel"]) == ["a", "c"]
    # the same on a real re-solve: the plan after the plan after the plan of stationary-3
    sc = load_scenario("stationary-3")
    first = plan(sc, curves=False).plan
    second = plan(sc, history=first, curves=False).plan
    third = plan(sc, history=second, curves=False)
    peak, top = third.plan.max(axis=0), second.max(axis=0)
    assert np.any((peak > top) & (peak <= top * (1 + 1e-6)))  # at the history's largest step by rounding
    assert third.beyond_history is not None
    for b in third.beyond_history:
        assert float(b["plan_max_step"]) > float(b["history_max_step"]) * (1 + 1e-6)  # type: ignore[arg-type]


def test_a_test_of_a_zero_lift_has_the_floor_error_and_calibrate_reads_it(tmp_path: Path,
                                                                           capsys: pytest.CaptureFixture[str]) -> None:
    """An S-curve channel tested at a hundredth of a currency unit has a true lift of about zero: its
    standard error is the floor (1e-5 of the KPI's mean here, far above ten times calibrate's smallest),
    not 15% of about zero, which calibrate refused; the other test keeps 15% of its lift."""
    design = tmp_path / "design.csv"
    pd.DataFrame({"channel": ["tv", "search"], "x": [0.01, 100.0], "delta_x": [0.01, 100.0]}).to_csv(design,
                                                                                                       index=False)
    sim = tmp_path / "sim"
    code, _, err = run_cli(capsys, "simulate", "s-curve-5", "--periods", "60", "--lift-design", str(design),
                           "--out", str(sim))
    assert code == 0, err
    tests = pd.read_csv(sim / "truth" / "lift_tests.csv")
    kpi = pd.read_csv(sim / "data.csv")["conversions"].to_numpy()
    floor = 1e-5 * kpi.mean()
    assert floor > 10 * 1e-6 * kpi.std()
    assert abs(tests["true_delta_y"][0]) < 1e-6 * floor and tests["sigma"][0] == pytest.approx(floor, rel=1e-9)
    assert tests["true_delta_y"][1] > 1.0 and tests["sigma"][1] == pytest.approx(0.15 * tests["true_delta_y"][1])
    code, _, err = run_cli(capsys, "calibrate", str(sim / "data.csv"), "--date", "date", "--kpi", "conversions",
                           "--spend", "tv_spend,video_spend,social_spend,display_spend,search_spend",
                           "--lift-tests", str(sim / "lift_tests.csv"), "--draws", "3", "--out", str(tmp_path / "fit"))
    assert code == 0, err
    assert (tmp_path / "fit" / "family.yaml").is_file()


def test_simulate_lift_tests_called_as_before_the_floor_gives_the_same_tests() -> None:
    """``simulate_lift_tests`` and ``simulate_design_tests`` are public (``__all__``): the floor came in
    as a required keyword, so a caller of the documented signature got a TypeError. Without ``floor``
    they are the tests of the rule before it, drawn as before: sd 15% of the true lift."""
    from budgetgym.experiments.simulate import LIFT_SIGMA, simulate_design_tests, simulate_lift_tests, true_lifts

    sc = load_scenario("stationary-3")
    spent = np.full((sc.horizon, sc.n_channels), sc.step_budget / sc.n_channels)
    tests = simulate_lift_tests(sc, spent, 4, LIFT_SIGMA, 7)
    np.testing.assert_allclose(tests["sigma"], LIFT_SIGMA * np.abs(tests["true_delta_y"]), rtol=1e-12)
    rng = np.random.default_rng(np.random.SeedSequence([7, 19]))  # the module docstring's stream
    z = rng.standard_normal(4)
    np.testing.assert_allclose(tests["delta_y"], tests["true_delta_y"] + tests["sigma"] * z, rtol=1e-12)
    index, x, dx = np.array([0, 2]), np.array([100.0, 300.0]), np.array([50.0, 300.0])
    design = simulate_design_tests(sc, spent, index, x, dx, LIFT_SIGMA, 7)
    bases = np.tile(spent.mean(axis=0), (2, 1))
    bases[np.arange(2), index] = x
    np.testing.assert_allclose(design["true_delta_y"], true_lifts(sc, bases, index, dx), rtol=1e-12)
    np.testing.assert_allclose(design["sigma"], LIFT_SIGMA * np.abs(design["true_delta_y"]), rtol=1e-12)


def test_a_channel_the_plan_leaves_at_the_solvers_rounding_of_zero_is_not_beyond_the_history(shared_plan) -> None:
    """The barrier method keeps every spend strictly positive: a channel the plan does not use holds
    1e-13 to 5e-10 of its largest step. That is no spend: not beyond a history that never spent on
    the channel (a test "from 0 to 0.000000002 a step" was proposed)."""
    dust = PLAN.copy()
    dust[:, 2] = 1e-9  # c: the solver's rounding of 0
    assert [b["channel"] for b in beyond_history(NAMES, dust, history_columns(dust, HISTORY))] == ["a", "b"]
    assert np.isnan(history_columns(dust, HISTORY)["vs_history_max"][2])  # neither spends on c
    assert list(_design(NAMES, dust, HISTORY)["channel"]) == ["a", "b"]
    # pulse-4 puts all its budget on tv: video, social and search hold 1e-13 to 1e-12 of tv's largest step
    sc = load_scenario("pulse-4")
    history = np.zeros((4, 4))
    history[:, 0] = 1.0
    res = shared_plan(sc, history=history, curves=False, lift_design="beyond")
    assert res.beyond_history is not None and [b["channel"] for b in res.beyond_history] == ["tv"]
    assert res.lift_design is not None and list(res.lift_design["channel"]) == ["tv"]


def test_a_pulsed_channel_is_tested_at_its_pulses_level_when_its_dark_steps_hold_the_solvers_rounding(
    shared_plan,
) -> None:
    """A solved plan's dark steps hold the solver's rounding of 0 (1e-13 to 5e-10 of its largest
    step), not 0: they are not periods the plan spends on, so a pulsed channel's level is its
    pulses' mean (it was its mean over every step: halved for a channel on every other step)."""
    dust = np.where(PLAN > 0, PLAN, 1e-9)
    np.testing.assert_allclose(spend_levels(dust), spend_levels(PLAN))
    np.testing.assert_allclose(_design(NAMES, dust, HISTORY)["planned_spend"], [500.0, 60.0, 10.0])
    # pulse-4 spends on tv in flights at its step cap and holds its dark steps at ~1e-8
    sc = load_scenario("pulse-4")
    history = np.zeros((4, 4))
    history[:, 0] = 1.0
    res = shared_plan(sc, history=history, curves=False, lift_design="beyond")
    tv = res.plan[:, 0]
    on = tv > 1e-3 * tv.max()
    assert 0 < on.sum() < len(tv)  # a pulsed channel
    assert res.lift_design is not None
    np.testing.assert_allclose(res.lift_design["planned_spend"].iloc[0], tv[on].mean(), rtol=1e-9)


def test_simulated_lift_tests_skip_a_channel_the_plan_leaves_at_the_solvers_rounding_of_zero() -> None:
    """``simulate --plan oracle --lift-tests 5`` on overlap-5 tested display, video and ctv, which the oracle drops
    (it leaves ~7e-7 a period on them): 'doubling' 7e-7 to 1.4e-6, a test of nothing. A channel every period of
    which is below ZERO_RTOL of the plan's largest is unspent (metrics.spends_on), so untestable, as one at 0."""
    from budgetgym.experiments.simulate import LIFT_SIGMA, simulate_lift_tests

    sc = load_scenario("stationary-3")  # search, social, video
    spent = np.full((sc.horizon, sc.n_channels), sc.step_budget / 2)
    spent[:, 1] *= 0.5  # social spends less than search: ranked second
    spent[:, 2] = 1e-9 * sc.step_budget  # video: the solver's rounding of 0
    tests = simulate_lift_tests(sc, spent, 4, LIFT_SIGMA, 7)
    assert list(tests["channel"]) == ["search_spend", "social_spend", "search_spend", "social_spend"]
    mean = spent.mean(axis=0)
    np.testing.assert_allclose(tests["x"], mean[[0, 1, 0, 1]], rtol=1e-12)
    np.testing.assert_allclose(tests["delta_x"], [mean[0], mean[1], -0.5 * mean[0], -0.5 * mean[1]], rtol=1e-12)


def test_a_history_channel_at_the_solvers_rounding_of_zero_was_never_spent() -> None:
    """A history may be an earlier plan's plan.csv, which leaves ~1e-7 on a channel it drops. Its largest step
    there printed as 0 (fmt, below ZERO_RTOL of the budget) while the multiple was of it: 'social up to 1,190 a
    step (9.91e+09x its largest step in the history, 0)', and every step counted as spent. Such a step is no
    spend, as in a plan (metrics.spent): never spent in the history, an empty vs_history_max."""
    history = np.tile([120.0, 1.2e-7, 0.0], (14, 1))  # stationary-3: search, social at the rounding of 0, video
    result = plan("stationary-3", history=history, curves=False, lift_design="none")
    ch = result.channels.set_index("channel")
    assert ch.loc["social", "spend"] > 0  # the case: the plan spends on it
    assert ch.loc["social", "history_max_spend"] == 0.0 and ch.loc["social", "history_spent_steps"] == 0
    assert np.isinf(ch.loc["social", "vs_history_max"])  # as video's, which the history spends exactly 0 on
    social = next(b for b in result.beyond_history if b["channel"] == "social")
    assert social["multiple"] is None and social["history_max_step"] == 0.0
    assert ch.loc["search", "history_spent_steps"] == 14 and ch.loc["search", "history_max_spend"] == 120.0


def test_a_beyond_test_on_a_channel_the_history_left_at_the_rounding_of_zero_starts_from_0() -> None:
    """The history's steps at the solver's rounding of 0 (an earlier plan's plan.csv) are no spend: the
    test's control ``x`` (the history's mean spend per period) is 0 there, as voi's, not 1e-7."""
    X = np.tile([600.0, 400.0], (4, 1))
    S = np.tile([1000.0, 1e-7], (6, 1))
    beyond = beyond_history(["a", "b"], X, history_columns(X, S))
    design = lift_design(["a", "b"], X, S, beyond).set_index("channel")
    assert list(design.index) == ["b"] and design.loc["b", "x"] == 0.0
    assert design.loc["b", "delta_x"] == 400.0 and design.loc["b", "history_max_spend"] == 0.0
