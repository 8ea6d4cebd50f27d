"""The count in a message of ``envs/`` and ``agents/`` takes its noun in the right number: "1 value",
"2 values" (they printed "expected 1 values", "a minibatch of 1 steps", "1 rows"). Each message is
made with a count of one and of two; the expected words are written out by hand."""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd
import pytest

from budgetgym.agents import make_agent
from budgetgym.agents.fixed import resolve_channel_values
from budgetgym.agents.ppo_config import PPOConfig
from budgetgym.calibration.posterior_family import family_from_posterior
from budgetgym.envs import BudgetGymError, load_scenario
from budgetgym.envs.dates import read_dates
from budgetgym.envs.distributions import Choice
from budgetgym.envs.errors import count
from budgetgym.envs.observation import ObservationLayout
from budgetgym.envs.scenario import Scenario
from budgetgym.envs.vector_env import ChannelBudgetVectorEnv
from budgetgym.envs.vector_random import checked_seed
from budgetgym.experiments import wording
from budgetgym.experiments.regress import Comparison, RegressionReport
from budgetgym.planner.inputs import read_history_file


def test_count_is_one_definition_reexported_by_experiments() -> None:
    assert wording.count is count
    assert (count(1, "draw"), count(2, "draw"), count(0, "draw")) == ("1 draw", "2 draws", "0 draws")
    assert (count(1, "entry", "entries"), count(3, "entry", "entries")) == ("1 entry", "3 entries")


@pytest.mark.parametrize(("channels", "words"), [(["a"], "expected 1 value (one per channel: a), got 2"),
                                                 (["a", "b"], "expected 2 values (one per channel: a, b), got 1")])
def test_fixed_split_values_per_channel(channels: list[str], words: str) -> None:
    given = [0.5] * (3 - len(channels))
    with pytest.raises(BudgetGymError, match=f"^weights: {re.escape(words)}$"):
        resolve_channel_values(given, channels, "weights")


@pytest.mark.parametrize(("n_steps", "words"), [(9, "minibatch of 1 step"), (10, "minibatch of 2 steps")])
def test_ppo_truncated_minibatch(n_steps: int, words: str) -> None:
    with pytest.raises(ValueError, match=f"{words}(?![a-z])"):
        PPOConfig(n_envs=1, n_steps=n_steps, batch_size=8)


@pytest.mark.parametrize(("given", "num_envs", "words"), [(2, 1, "1 row, but 2 scenarios were given"),
                                                          (1, 2, "2 rows, but 1 scenario was given")])
def test_vector_env_rows_and_scenarios(given: int, num_envs: int, words: str) -> None:
    sc = load_scenario("stationary-3")
    with pytest.raises(BudgetGymError, match=f"^num_envs: {words}$"):
        ChannelBudgetVectorEnv([sc] * given, num_envs)


@pytest.mark.parametrize(("n", "words"), [(1, "a list of 1 integer or None"), (2, "a list of 2 integers or None")])
def test_vector_env_seed_list(n: int, words: str) -> None:
    with pytest.raises(TypeError, match=f"^seed: expected an integer, {words}, got str$"):
        checked_seed("7", n)


@pytest.mark.parametrize(("p", "words"), [([1.0], "p has 1 entry but values has 2"),
                                          ([0.5, 0.5], "p has 2 entries but values has 3")])
def test_choice_weights(p: list[float], words: str) -> None:
    with pytest.raises(ValueError, match=words):
        Choice(dist="choice", values=list(range(len(p) + 1)), p=p)


def _channels(k: int) -> Scenario:
    d = load_scenario("stationary-3").model_dump(mode="json", exclude_none=True)
    d["channels"] = d["channels"][:k]
    return Scenario.model_validate(d)


@pytest.mark.parametrize(("k", "words"), [(1, "1 channel"), (2, "2 channels")])
def test_greedy_state_of_another_campaign(k: int, words: str) -> None:
    agent = make_agent("greedy", _channels(k))
    state = agent.state_dict()
    state.update(spend_history=[[1.0] * (k + 1)], value_history=[[1.0] * (k + 1)], steps=[0])
    with pytest.raises(BudgetGymError, match=f"histories do not match {words} of scenario"):
        agent.load_state_dict(state)


@pytest.mark.parametrize(("n", "words"), [(1, "FAILED (1 of 1 row)"), (2, "FAILED (2 of 2 rows)")])
def test_regression_report_status(n: int, words: str) -> None:
    rows = [Comparison("stationary-3", "equal", "pct_of_oracle", "regressed") for _ in range(n)]
    report = RegressionReport(rows, tolerance=1.0, confidence=0.95, baseline_hash="a", results_hash="b")
    assert words in report.markdown()


@pytest.mark.parametrize(("dates", "words"), [
    (["2024-01-01", "2024-01-08", "2024-01-09"], "is 1 day after the previous date, expected 7"),
    (["2024-01-01", "2024-01-02", "2024-01-04"], "is 2 days after the previous date, expected 1"),
])
def test_uneven_dates(dates: list[str], words: str) -> None:
    with pytest.raises(BudgetGymError, match=f"^f: column 'date', row 3: dates are not evenly spaced: .* {words} "):
        read_dates(pd.DataFrame({"date": dates}), "date", "f")


@pytest.mark.parametrize(("days", "words"), [(7, "the dates are 7 days apart, but the scenario's steps are 1 day;"),
                                             (2, "the dates are 2 days apart, but the scenario's steps are 1 day;")])
def test_history_dates_of_another_step(tmp_path: Path, days: int, words: str) -> None:
    path = tmp_path / "h.csv"
    dates = pd.date_range("2024-01-01", periods=3, freq=f"{days}D").strftime("%Y-%m-%d")
    pd.DataFrame({"date": dates, "search": 1.0, "social": 1.0, "video": 1.0}).to_csv(path, index=False)
    with pytest.raises(BudgetGymError, match=re.escape(words)):
        read_history_file(path, load_scenario("stationary-3"))


def test_count_of_a_float_reads_as_g() -> None:
    assert (count(1.0, "day"), count(7.0, "day"), count(30.4375, "day")) == ("1 day", "7 days", "30.4375 days")


@pytest.mark.parametrize(("k", "words"), [(1, "expected 1 channel name, got 2"),
                                          (2, "expected 2 channel names, got 3")])
def test_observation_names(k: int, words: str) -> None:
    with pytest.raises(ValueError, match=f"^{words}$"):
        ObservationLayout(k).names(["c"] * (k + 1))


@pytest.mark.parametrize(("k", "words"), [(1, "expected 1 positive number (one per channel"),
                                          (2, "expected 2 positive numbers (one per channel")])
def test_posterior_channel_scale(k: int, words: str) -> None:
    names = ["tv", "radio"][:k]
    with pytest.raises(BudgetGymError, match=f"^channel_scale: {re.escape(words)}"):
        family_from_posterior({}, channels=names, channel_scale=[1.0] * (k + 1), target_scale=1.0, plan_periods=4,
                              plan_budget=100.0)
