"""The planner's headline numbers after calibration, recomputed independently: the recommended
and current plans' values are :func:`evaluate_plan` means over the family's train draws with the
history's carry-in, the outcome distribution is over the distinct held-out members (an ensemble's
split is never cycled), and the carry-in is the history played through the same campaign."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from budgetgym.envs import evaluate_plan
from budgetgym.envs.family import ScenarioFamily
from budgetgym.envs.plan_value import check_plan
from budgetgym.planner.plan import plan
from budgetgym.planner.report import plan_markdown

T = 4
HISTORY = np.array([[900.0, 100.0], [1200.0, 0.0], [0.0, 1500.0]])


def _family(members: int = 10) -> ScenarioFamily:
    """Two click channels (carry-over 0.5 and 0.2, concave Hill), 4 weekly steps of 1,000, no noise;
    an ensemble of ``members`` distinct heights, 20% held out."""
    channels = [
        {"name": n, "cost": {"unit": "click", "price": 1.0, "ref_spend": 1e6, "elasticity": 0.0, "noise_sd": 0.0},
         "adstock": {"type": "geometric", "decay": d, "window": 8},
         "saturation": {"type": "hill", "max_response": 300.0, "half_saturation": 900.0, "slope": 1.0}}
        for n, d in [("a", 0.5), ("b", 0.2)]
    ]
    template: dict[str, Any] = {"name": "tiny", "horizon": T, "step_days": 7, "budget": {"total": 4000.0},
                                "reward": "conversions", "noise": {"conversions": "none"}, "channels": channels}
    ensemble = [{"channels.0.saturation.max_response": 200.0 + 37.0 * j,
                 "channels.1.saturation.max_response": 450.0 - 23.0 * j} for j in range(members)]
    return ScenarioFamily("tiny", template, ensemble=ensemble, test_fraction=0.2)


def test_held_out_distribution_is_over_the_distinct_held_out_members() -> None:
    """10 members: 8 train, 2 held out. Asking for 5 draws plans over 5 train members and scores
    on the 2 held-out ones, each once (draw ``i`` of a split is member ``i mod n``: 5 held-out
    draws were members 0, 1, 0, 1, 0, weighting member 0 3:2 and reporting "5 held-out draws")."""
    fam = _family()
    current = np.tile([600.0, 400.0], (T, 1))
    res = plan(fam, draws=5, current=current, curves=False, lift_design="none")
    train = [fam.sample(i, "train") for i in range(5)]
    test = [fam.sample(i, "test") for i in range(fam.split_size("test") or 0)]
    assert len(test) == 2 and res.draws == 5
    rec = np.array([float(evaluate_plan(sc, res.plan)) for sc in test])
    cur = np.array([float(evaluate_plan(sc, current)) for sc in test])
    assert rec[0] != pytest.approx(rec[1])  # the weighting matters
    d = res.distribution
    assert d is not None and res.draw_values is not None and len(res.draw_values) == 2
    assert d["recommended"]["mean"] == pytest.approx(rec.mean(), rel=1e-9)
    assert d["current"]["mean"] == pytest.approx(cur.mean(), rel=1e-9)
    assert d["recommended"]["draws"] == 2
    assert res.value == pytest.approx(np.mean([float(evaluate_plan(sc, res.plan)) for sc in train]), rel=1e-9)
    assert "the distribution is over 2 held-out draws" in plan_markdown(res, [], [])


def test_one_draw_is_said_in_the_singular() -> None:
    """5 members: 4 train, 1 held out; ``draws=1`` printed "over 1 train draws", "1 held-out draws"."""
    from budgetgym.planner.plan_text import distribution_rows, header_line

    res = plan(_family(5), draws=1, current=np.tile([600.0, 400.0], (T, 1)), curves=False, lift_design="none")
    text = plan_markdown(res, [], [])
    assert "over 1 train draw; the distribution is over 1 held-out draw, never planned on" in text
    rows = distribution_rows(res)
    assert rows is not None and rows[0][0].startswith("1 held-out draw: expected")
    assert rows[2] is not None and rows[2].startswith("P(recommended beats current) over the 1 held-out draw: ")
    assert "scenario family, mean over 1 train draw): 2 channels, 4 steps" in header_line(res)


def test_more_draws_than_train_members_plans_over_each_member_once() -> None:
    """``draws=100`` on 8 train members: the mean is over the 8, not 100 cycled draws."""
    fam = _family()
    res = plan(fam, draws=100, curves=False, lift_design="none")
    train = [fam.sample(i, "train") for i in range(8)]
    assert res.draws == 8
    assert res.value == pytest.approx(np.mean([float(evaluate_plan(sc, res.plan)) for sc in train]), rel=1e-9)


def test_headline_with_history_and_current_is_evaluate_plan_on_the_train_draws() -> None:
    """The recommended and current values, the uplift and the carry-in-only baseline are the means
    of evaluate_plan over the train draws with the history; the plan spends the budget evenly,
    is feasible and is no worse than the current plan on the train or the held-out draws."""
    fam = _family()
    current = np.tile([300.0, 700.0], (T, 1))
    res = plan(fam, draws=8, history=HISTORY, current=current, curves=False, lift_design="none")
    train = [fam.sample(i, "train") for i in range(8)]

    def mean(X: np.ndarray, history: np.ndarray | None = HISTORY) -> float:
        return float(np.mean([float(evaluate_plan(sc, X, history=history)) for sc in train]))

    assert res.value == pytest.approx(mean(res.plan), rel=1e-9)
    assert res.current_value == pytest.approx(mean(current), rel=1e-9)
    assert res.uplift == pytest.approx(mean(res.plan) - mean(current), rel=1e-9)
    assert res.uplift is not None and res.uplift >= -1e-9
    assert res.baseline_value == pytest.approx(mean(np.zeros((T, 2))), rel=1e-9) and res.baseline_value > 0
    assert res.value > mean(res.plan, None)  # the history's carry-in reaches the window
    assert check_plan(fam.nominal(), res.plan) == []
    np.testing.assert_allclose(res.plan.sum(axis=1), 1000.0, rtol=1e-9)
    assert res.prob_beats_current is not None and res.prob_beats_current >= 0.5


def test_carry_in_is_the_history_played_through_the_campaign() -> None:
    """Independently of the carry-in machinery: the campaign stretched over history + window and
    played from rest gives, over its last ``T`` steps, the window's value after the history."""
    sc = _family().sample(0, "train")
    X = np.tile([250.0, 750.0], (T, 1))
    H = len(HISTORY)
    whole = sc.override({"horizon": H + T, "budget.total": float(HISTORY.sum() + X.sum()),
                         "budget.pacing": "agent", "budget.max_step_multiple": 10.0})
    per_step = np.asarray(evaluate_plan(whole, np.vstack([HISTORY, X]), per_step=True))
    assert float(evaluate_plan(sc, X, history=HISTORY)) == pytest.approx(per_step[H:].sum(), rel=1e-9)


def test_with_a_history_the_table_says_its_outcome_includes_the_carry_in() -> None:
    """A channel's expected outcome includes the history's carry-in, its CPA or ROAS only what the
    window's spend adds (the channel table's ratio of spend to conversions minus the carry-in's):
    the note under the table says so with a history, and not without one."""
    from budgetgym.planner.report import fmt, table_note

    fam = _family()
    res = plan(fam, draws=8, history=HISTORY, curves=False, lift_design="none")
    ch = res.channels
    ratio_col = "cpa" if res.reward == "conversions" else "roas"
    if res.reward == "conversions":
        np.testing.assert_allclose(ch[ratio_col], ch["spend"] / (ch["conversions"] - ch["baseline_conversions"]),
                                   rtol=1e-9)
    assert (ch["baseline_conversions"] > 0).any()  # the case under test: the carry-in is in the table's outcome
    note = table_note(res)
    assert note is not None and f"carry-in from the history ({fmt(res.baseline_value)} with no spend" in note
    without = table_note(plan(fam, draws=8, curves=False, lift_design="none"))
    assert without is not None and "carry-in" not in without


def test_with_a_history_the_table_says_the_kpis_baseline_is_not_in_its_outcome() -> None:
    """A calibrated plan's "expected revenue" (2.49M over 13 weeks of a data set earning 3.5M a quarter) is what
    the media earn; the fit's baseline (intercept, trend, season, controls: 2M of it) is never in a plan's value,
    and nothing said so: a planner comparing it with the revenue they book reads a plan that loses a third."""
    from budgetgym.planner.report import table_note

    note = table_note(plan(_family(), draws=8, history=HISTORY, curves=False, lift_design="none"))
    assert note is not None
    assert ("but not the KPI's baseline (organic demand, trend, season and controls, which no spend moves: a "
            "calibrated family's intercept and control terms)") in note, note


@pytest.mark.parametrize(("reward", "sentence"), [("conversions", "Expected conversions include the carry-in"),
                                                   ("revenue", "Expected revenue includes the carry-in"),
                                                   ("profit", "Expected profit includes the carry-in")])
def test_the_carry_in_note_agrees_with_its_outcome(reward: str, sentence: str) -> None:
    """The note's verb agrees with the outcome's noun: conversions include, revenue and profit include*s*
    (it printed "Expected revenue include the carry-in")."""
    from dataclasses import replace

    from budgetgym.planner.report import table_note

    res = plan(_family(), draws=8, history=HISTORY, curves=False, lift_design="none")
    note = table_note(replace(res, reward=reward))
    assert note is not None and sentence in note


def test_the_report_says_carry_over_past_the_window_is_not_counted() -> None:
    """The plan values only what arrives within the window, so it cuts a long-carry-over channel in the last
    steps (video, decay 0.6, on stationary-3: its last step's share far below its mean share): the report's
    method says why, so a planner does not read the cut as advice about the weeks after."""
    res = plan("stationary-3", curves=False)
    shares = res.plan / res.plan.sum(axis=1, keepdims=True)
    assert shares[-1, 2] < 0.5 * shares[:, 2].mean()  # the behaviour explained
    text = plan_markdown(res, [], [])
    assert "what the window's spend carries past its last step is not counted" in text
    assert "--horizon" in text


def test_a_current_plan_the_campaign_could_not_play_is_said_to_be_valued_as_given() -> None:
    """A current plan of last quarter's weeks (the budget, but not B/T every week, under even pacing) is
    valued as given; the note said only "the current plan as given: even pacing: ...", which read as a
    fragment. It now says the plan breaks the campaign's constraints and is valued as given."""
    from budgetgym.planner.report import summary_lines

    fam = _family()
    cur = np.array([[800.0, 100.0], [900.0, 300.0], [600.0, 500.0], [400.0, 400.0]])  # 4,000 in all, uneven weeks
    res = plan(fam, draws=8, current=cur, curves=False, lift_design="none")
    assert res.current_problems == ["even pacing: a step does not spend budget/horizon"]
    assert ("note: the current plan breaks the campaign's constraints and is valued as given: even pacing: a step "
            "does not spend budget/horizon") in summary_lines(res)


def test_a_channel_neither_plan_spends_on_is_not_new() -> None:
    """"(new)" marks a channel the recommendation spends on and the current plan does not; it compared the spend
    with 0, so a channel the recommendation drops (the solver leaves ~1e-5 on it: no spend, no ROAS) beside a
    current plan without it read "0 (new)" in change and uplift (overlap-5's display, video and ctv). The
    recommendation now holds 0 there, not the solver's rounding (plan.csv showed 1e-5 to 1e-4)."""
    from budgetgym.envs import load_scenario
    from budgetgym.planner.plan_text import channel_rows

    sc = load_scenario("stationary-3")  # search, social, video; video made nearly worthless: the plan drops it
    weak = sc.override({"channels.video.saturation.max_response": 1e-3 * sc.channels[2].saturation.max_response})
    result = plan(weak, current="search=0.5,social=0.5", curves=False, lift_design="none")
    video = result.channels.set_index("channel").loc["video"]
    assert video["current_spend"] == 0 and video["spend"] == 0  # no rounding of 0 on the dropped channel
    assert not result.plan[:, 2].any() and result.plan.sum(axis=1) == pytest.approx(result.budget / len(result.plan))
    header, rows = channel_rows(result)
    row = dict(zip(header, next(r for r in rows if r[0] == "video"), strict=True))
    assert "(new)" not in row["change"] and "(new)" not in row["uplift"], row


def test_a_channel_the_current_plan_does_not_spend_on_is_new_not_a_percentage_of_its_carry_in() -> None:
    """With a history, a channel the current plan leaves at 0 still earns its carry-in, and its uplift was printed
    as a percentage of that (e.g. "+57.8 (+160.6%)", "+4,768.4%" on a long carry-over): a number of no use. The
    table now says "(new)" beside the change in spend and in outcome; channels.csv keeps its numbers."""
    from budgetgym.planner.plan_text import channel_rows, fmt

    history = np.full((3, 3), 2000.0)  # stationary-3: search, social, video
    result = plan("stationary-3", current="search=0.5,social=0.5", history=history, curves=False, lift_design="none")
    video = result.channels.set_index("channel").loc["video"]
    assert video["current_spend"] == 0 and video["current_outcome"] > 0 and video["spend"] > 0  # the case
    header, rows = channel_rows(result)
    row = dict(zip(header, next(r for r in rows if r[0] == "video"), strict=True))
    value = abs(result.value)
    assert row["uplift"] == fmt(video["outcome"] - video["current_outcome"], signed=True, scale=value) + " (new)"
    assert row["change"] == fmt(video["spend"], 0, signed=True, scale=result.budget) + " (new)"
    search = dict(zip(header, rows[0], strict=True))  # a channel spent on in both: its percentage as before
    assert search["uplift"].endswith("%)") and search["change"].endswith("%)")
    assert np.isnan(video["change_pct"])  # channels.csv: no percentage of nothing


def test_a_channel_a_solved_current_plan_drops_has_no_percentage_change() -> None:
    """A current plan may be an earlier solve (last quarter's plan.csv, from a version that wrote the solver's
    rounding), which leaves ~1e-6 on a channel it drops: no spend (metrics.spent). The change and uplift were
    printed as percentages of that rounding ("0 (+10.4%)", overlap-5 re-planned at a larger budget against its
    own plan.csv) and channels.csv's change_pct held them."""
    from budgetgym.envs import load_scenario
    from budgetgym.planner.metrics import ZERO_RTOL
    from budgetgym.planner.plan_text import channel_rows

    sc = load_scenario("stationary-3")  # search, social, video; video made nearly worthless: both plans drop it
    weak = sc.override({"channels.video.saturation.max_response": 1e-3 * sc.channels[2].saturation.max_response})
    earlier = plan(weak, budget=0.8 * sc.budget.total, curves=False, lift_design="none").plan
    assert not earlier[:, 2].any()  # the planner drops video, with 0
    rounding = 1e-3 * ZERO_RTOL * earlier.max()  # what the barrier method left there (1e-13 to 5e-10 of the top)
    earlier[:, 2] += rounding
    earlier[:, 0] -= rounding  # each step's total kept
    result = plan(weak, current=earlier, curves=False, lift_design="none")
    video = result.channels.set_index("channel").loc["video"]
    assert video["current_spend"] > 0 and video["current_spend"] != video["spend"]  # the case
    assert np.isnan(video["change_pct"])  # no percentage of nothing
    header, rows = channel_rows(result)
    row = dict(zip(header, next(r for r in rows if r[0] == "video"), strict=True))
    assert "%" not in row["change"] and "%" not in row["uplift"] and "(new)" not in row["change"], row
    search = dict(zip(header, rows[0], strict=True))  # spent on in both: its percentages as before
    assert search["uplift"].endswith("%)") and search["change"].endswith("%)")
    assert search["change"] == f"+{result.channels['change'][0]:,.0f} ({result.channels['change_pct'][0]:+.1f}%)"


def test_without_residue_by_hand() -> None:
    """``without_residue``: entries below ZERO_RTOL (1e-6) of the plan's largest step (100) go to 0 and each
    step's spent entries are scaled to keep the step's total. Step 0: 100, 3e-5 and 50 -> the 3e-5 goes, the
    rest times 150.00003 / 150; step 1: 2e-5 alone -> 0; step 2 holds no residue and is unchanged to the bit."""
    from budgetgym.planner.metrics import without_residue

    X = np.array([[100.0, 3e-5, 50.0], [2e-5, 0.0, 0.0], [40.0, 0.1, 7.0]])
    got = without_residue(X)
    f = 150.00003 / 150.0
    np.testing.assert_allclose(got[0], [100.0 * f, 0.0, 50.0 * f], rtol=1e-15)
    assert got[0, 1] == 0.0 and got[0].sum() == pytest.approx(150.00003, rel=1e-15)
    assert np.array_equal(got[1], [0.0, 0.0, 0.0])
    assert np.array_equal(got[2], X[2])
    assert np.array_equal(without_residue(X[2:]), X[2:])  # a plan without residue: returned as it was


def test_a_change_the_table_prints_as_0_has_no_signed_percentage() -> None:
    """The total's change printed "0 (+0.0%)" when the recommendation's spend exceeded the current plan's by the
    floats' rounding (1,200,000 vs 1,199,999.9999999998 under `--budget 1200000`) and "0 (0.0%)" otherwise: the
    amount was read as 0 at the budget's scale, its percentage from the raw difference."""
    from budgetgym.planner.text_basics import with_pct

    for delta in (2.3e-10, -2.3e-10, 0.0):
        assert with_pct(delta, 1.2e6, 0, 1, scale=1.2e6) == "0 (0.0%)"
    assert with_pct(120.0, 1.2e6, 0, 1, scale=1.2e6) == "+120 (+0.0%)"  # a real change keeps its sign


def test_a_current_plan_below_a_what_if_budget_is_said_to_leave_budget_unspent() -> None:
    """`plan --budget 1200000 --current budgets.csv` (budgets of 829,095) printed only "note: the current plan
    breaks the campaign's constraints and is valued as given: even pacing: a step does not spend budget/horizon":
    true, but the uplift (+16.7%) is mostly what the other 370,905 buy, and nothing said that."""
    from budgetgym.envs import load_scenario
    from budgetgym.planner.plan_text import summary_lines

    sc = load_scenario("stationary-3")  # 84,000 over 14 steps
    res = plan(sc, budget=168_000, current="search=28000,social=28000,video=28000", curves=False, lift_design="none")
    lines = summary_lines(res)
    assert ("note: the current plan spends 84,000 of the budget 168,000: the uplift includes what the other "
            "84,000 buy") in lines, lines
    same = plan(sc, current="search=28000,social=28000,video=28000", curves=False, lift_design="none")
    assert not any("of the budget" in line for line in summary_lines(same))


def test_a_plan_without_history_says_what_carry_over_it_leaves_out() -> None:
    """Without --history the window starts cold: a calibrated TV's carry-in from the data's last weeks was left
    out (2.37M against 2.49M with it, its share 38% against 34%) and nothing said so. The summary names the
    channels that carry over and how to give the history; with a history, or with no carry-over, it says nothing."""
    from budgetgym.envs import load_scenario
    from budgetgym.planner.plan_text import summary_lines

    sc = load_scenario("stationary-3")  # search, social, video: geometric carry-over, no delay
    video_only = sc.override({"channels.search.adstock": {"type": "none"}, "channels.social.adstock": {"type": "none"}})
    cold = plan(video_only, curves=False, lift_design="none")
    assert cold.carry_over_without_history == ["video"]
    assert cold.summary()["carry_over_without_history"] == ["video"]
    lines = [x for x in summary_lines(cold) if x.startswith("no history:")]
    assert len(lines) == 1 and "video carry over" in lines[0] and "--history" in lines[0], lines

    warm = plan(video_only, history=np.full((4, 3), 1000.0), curves=False, lift_design="none")
    none = plan(video_only.override({"channels.video.adstock": {"type": "none"}}), curves=False, lift_design="none")
    for result in (warm, none):
        assert not any(x.startswith("no history:") for x in summary_lines(result))
        assert "carry_over_without_history" not in result.summary()


def test_the_header_says_how_long_a_step_is() -> None:
    """A calibrated family of weekly data is planned in weekly steps, and every "a step" of the output (spend a
    step, lift tests from x to y a step) means a week; the header said only "4 steps (day 0 to 21)"."""
    from budgetgym.planner.plan_text import header_line

    res = plan(_family(5), draws=1, curves=False, lift_design="none")
    assert "2 channels, 4 steps of 7 days (day 0 to 21)" in header_line(res)
    daily = plan("stationary-3", curves=False, lift_design="none")
    assert "3 channels, 14 steps of 1 day (day 0 to 13)" in header_line(daily)
    dated = plan("stationary-3", horizon=3, curves=False, lift_design="none", start_date="2025-01-31")
    assert "3 steps of 1 day (2025-01-31 to 2025-02-02)" in header_line(dated)


def test_under_cvar_the_carry_in_line_says_which_figure_it_is() -> None:
    """Under ``--objective cvar:A`` the table's note gave the carry-in as the mean over the train draws (11,825 of a
    calibrated family) and the line below "carry-in from 179 steps of history: 8,114 revenue with no spend in the
    window", its CVaR: two figures for one thing. The line now says it is the objective's and gives the mean too;
    both are the history played with no spend in the window, computed here per draw."""
    from budgetgym.planner.plan_text import fmt, summary_lines

    fam = _family()
    res = plan(fam, draws=8, history=HISTORY, objective="cvar:0.25", curves=False, lift_design="none")
    zero = np.array([float(evaluate_plan(fam.sample(i, "train"), np.zeros((T, 2)), history=HISTORY))
                     for i in range(8)])
    worst = np.sort(zero)[:2].mean()  # the worst quarter of 8 draws
    assert res.baseline_value == pytest.approx(worst, rel=1e-9) and worst < zero.mean()
    line = next(s for s in summary_lines(res) if s.startswith("carry-in"))
    assert line == (f"carry-in from 3 steps of history: {fmt(worst, scale=res.value)} conversions (cvar:0.25 over "
                    f"the train draws; mean {fmt(zero.mean(), scale=res.value)}) with no spend in the window")
    mean = plan(fam, draws=8, history=HISTORY, curves=False, lift_design="none")
    assert next(s for s in summary_lines(mean) if s.startswith("carry-in")) == (
        f"carry-in from 3 steps of history: {fmt(zero.mean(), scale=mean.value)} conversions with no spend in the "
        f"window")


def test_the_header_says_a_step_of_a_calendar_month() -> None:
    """Calendar months are steps of 365.25 / 12 days (``envs.dates.is_monthly``): the header says "of a month",
    not "of 30.4375 days"."""
    from budgetgym.envs import load_scenario
    from budgetgym.envs.dates import MONTH_DAYS
    from budgetgym.planner.plan_text import header_line

    sc = load_scenario("stationary-3").override({"step_days": MONTH_DAYS, "start_day": 20089.0})
    res = plan(sc, horizon=3, curves=False, lift_design="none")
    assert "3 channels, 3 steps of a month (" in header_line(res)


def test_the_frontier_line_counts_its_budgets() -> None:
    """A frontier of one level (the library takes any array of multiples; the CLI's sweep at least 2) said
    "frontier: 1 budgets from 1 to 1 × the budget"."""
    from budgetgym.planner.plan_text import summary_lines

    one = plan("stationary-3", sweep=np.array([1.5]), curves=False, lift_design="none")
    assert summary_lines(one)[-1] == "frontier: 1 budget, at 1.5 × the budget (table below and frontier.csv)"
    two = plan("stationary-3", sweep=np.array([0.5, 2.0]), curves=False, lift_design="none")
    assert summary_lines(two)[-1] == "frontier: 2 budgets from 0.5 to 2 × the budget (table below and frontier.csv)"


def test_a_scenarios_carry_in_line_names_no_train_draws_under_cvar() -> None:
    """A plain scenario has no train draws: its CVaR is its value, and the objective's label says nothing of draws
    (``objective_label``). The carry-in line said "(cvar:0.1 over the train draws; mean 178.5)" there, two equal
    figures for draws that do not exist; it is the mean objective's line."""
    from budgetgym.planner.plan_text import summary_lines

    history = np.full((2, 3), 6000.0)
    lines = [plan("stationary-3", history=history, objective=obj, curves=False, lift_design="none")
             for obj in ("cvar:0.1", "mean")]
    cvar, mean = (next(s for s in summary_lines(r) if s.startswith("carry-in")) for r in lines)
    assert cvar == mean and "train draws" not in cvar


def test_a_tiny_counted_spend_prints_its_digits_beside_its_roas() -> None:
    """A channel's spend of 0.05 in one step of a plan of 84,000 (5,257 its largest step) is spent by the planner's
    rule (above ZERO_RTOL of the largest step: ``counted_spend``), so it has a ROAS; the table printed its spend as
    ``0`` (below ZERO_RTOL of the budget) beside that ROAS. Every channel with counted spend has a ROAS and its
    digits; a channel holding only the solver's rounding of 0 prints 0 beside none."""
    import dataclasses

    from budgetgym.envs import load_scenario
    from budgetgym.planner.metrics import ZERO_RTOL, channel_table, counted_spend
    from budgetgym.planner.plan_text import channel_rows
    from budgetgym.planner.problem import PlanningProblem

    sc = load_scenario("stationary-3").override({"reward": "revenue"})  # search, social, video
    result = plan(sc, curves=False, lift_design="none")
    model = PlanningProblem(sc).objective
    for tiny, counts in ((0.05, True), (0.1 * ZERO_RTOL * result.plan.max(), False)):
        X = result.plan.copy()
        X[:, 2] = 0.0
        X[0, 2] = tiny
        assert (counted_spend(X)[2] > 0) == counts  # the case
        table = channel_table(model, X, sc.channel_names, "revenue")
        changed = dataclasses.replace(result, plan=X, channels=table)
        header, rows = channel_rows(changed)
        row = dict(zip(header, rows[2], strict=True))
        assert np.isfinite(table["roas"][2]) == counts
        if counts:
            assert row["spend"] == "0.05" and row["ROAS"] != "–", row
            earned = model.channel_revenue(X)[2] - model.channel_revenue(np.zeros_like(X))[2]
            assert earned > 0 and table["roas"][2] == pytest.approx(earned / tiny, rel=1e-9)
        else:  # below the counting threshold: no ROAS, its digits marked and said (test below), not a bare 0
            assert row["spend"] == f"{tiny:.3g}*" and row["ROAS"] == "–", row


def test_a_kept_spend_below_the_counting_threshold_prints_its_digits_and_says_so() -> None:
    """stationary-3 with video capped at ``max_share`` 5e-7: the plan keeps 0.0036 a day on video (its marginal CPA
    is the lowest), under 1e-6 of the largest step, so no CPA; the table printed its spend as ``0`` while plan.csv
    held it. It prints the spend's digits, marked, and the note under the table says it is below the threshold."""
    from budgetgym.envs import load_scenario
    from budgetgym.planner.metrics import counted_spend
    from budgetgym.planner.plan_text import channel_rows, table_note

    sc = load_scenario("stationary-3").override({"channels.2.max_share": 5e-7})
    result = plan(sc, curves=False, lift_design="none")
    video = float(result.plan[:, 2].sum())
    assert video > 0 and counted_spend(result.plan)[2] == 0  # the case: kept, not counted
    header, rows = channel_rows(result)
    row = dict(zip(header, rows[2], strict=True))
    assert row["spend"] == f"{video:.3g}*" and row["CPA"] == "–", row
    note = table_note(result)
    assert note is not None and "* below the counting threshold (video)" in note and "no CPA" in note
    # a plan without such a channel has no mark and no such note
    plain = plan("stationary-3", curves=False, lift_design="none")
    assert all("*" not in r[1] for r in channel_rows(plain)[1])
    assert "counting threshold" not in (table_note(plain) or "")


def test_under_cvar_the_channels_marginal_returns_are_the_cvars_and_add_up_to_the_totals() -> None:
    """Under ``cvar:`` the channels' marginal CPA was the mean's over every draw while the plan optimises the CVaR
    and the total row's marginal is the CVaR's: the channels' figures did not add up to the total's (retail-5-family,
    cvar:0.1: 0.60-1.00 per channel against 0.54 for the budget). channels.csv adds ``cvar_`` marginal columns (the
    tail draws' mean at the plan; the mean's stay) and the table's marginal column is the CVaR's, labelled so:
    weighted by the spend shares they add up to the budget's marginal return (even pacing: every step spends its
    budget, so dV/dB = sum_i S_i/B dV/dS_i along each channel's flighting)."""
    from budgetgym.planner.plan_text import channel_rows, fmt

    fam = _family()
    res = plan(fam, draws=8, objective="cvar:0.25", curves=False, lift_design="none")
    ch = res.channels
    share = ch["spend"].to_numpy(float) / res.budget
    total = res.budget_marginal["marginal_conversions"]
    assert float(share @ ch["cvar_marginal_conversions"].to_numpy(float)) == pytest.approx(total, rel=1e-9)
    assert float(share @ ch["cvar_marginal_outcome"].to_numpy(float)) == pytest.approx(total, rel=1e-9)
    means = float(share @ ch["marginal_conversions"].to_numpy(float))
    assert abs(means - total) > 0.01 * total  # the case: the mean's marginal returns are not the objective's
    np.testing.assert_allclose(ch["cvar_mcpa"], 1.0 / ch["cvar_marginal_conversions"], rtol=1e-12)
    header, rows = channel_rows(res)
    assert header[-1] == "marginal CPA (cvar:0.25)"
    assert [r[-1] for r in rows[:-1]] == [fmt(v, 2) for v in ch["cvar_mcpa"]]
    # the mean objective: its marginal returns are the objective's already, and no cvar_ column is added
    mean = plan(fam, draws=8, curves=False, lift_design="none")
    assert not any(c.startswith("cvar_") for c in mean.channels.columns)
    assert channel_rows(mean)[0][-1] == "marginal CPA"
    share = mean.channels["spend"].to_numpy(float) / mean.budget
    assert float(share @ mean.channels["marginal_conversions"].to_numpy(float)) == pytest.approx(
        mean.budget_marginal["marginal_conversions"], rel=1e-9)
