"""What the vector env refuses, and how: rows whose infos would differ, bad reset options, batches
too large for memory — each a one-line :class:`BudgetGymError` before anything is changed or
allocated, never wrong numbers, a bare ``ValueError`` or a ``MemoryError``."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from gymnasium.utils.env_checker import data_equivalence

from budgetgym.agents import evaluate, make_agent
from budgetgym.envs import BudgetGymError, ChannelBudgetEnv, load_scenario
from budgetgym.envs.family import ScenarioFamily, family_from_dict, load_family
from budgetgym.envs.vector_env import ChannelBudgetVectorEnv

SAT = {"type": "hill", "max_response": 400, "half_saturation": 5000, "slope": 1.0}


def _mixed_family() -> ScenarioFamily:
    """An ensemble of overlap-5's segmented campaign and a plain one (segments replaced by channel
    curves): train members 0..3 are segmented, plain, segmented, plain (family seed 0)."""
    d = load_scenario("overlap-5").model_dump(mode="json", exclude_none=True)
    d["horizon"], d["budget"]["total"] = 4, 32000.0
    plain = {"segments": None, **{f"channels.{i}.saturation": SAT for i in range(5)}}
    fam = family_from_dict({"family": "mix", "scenario": d, "ensemble": [{}, plain, {}, plain, {}]})
    assert [fam.sample(i).segments is None for i in range(4)] == [False, True, False, True]
    return fam


@pytest.mark.parametrize("rng", ["per_env", "batched"])
def test_a_family_mixing_segmented_and_plain_draws_is_a_one_line_error(rng: str) -> None:
    """A segmented row has an ``expected_revenue`` and per-segment dynamics a plain row has not: the
    env stepped segmented rows with the plain rows' batch model (expected conversions 5.0 where the
    single env has 70.4, no ``expected_revenue``) or failed with ``ValueError: SegmentRows``."""
    with pytest.raises(BudgetGymError, match=r"^scenario 'mix': .* one draw has audience segments, another none"):
        ChannelBudgetVectorEnv(_mixed_family(), 4, rng=rng)


def test_a_list_mixing_segmented_and_plain_scenarios_is_a_one_line_error() -> None:
    fam = _mixed_family()
    with pytest.raises(BudgetGymError, match=r"^scenario: .* one draw has no audience segments, another has"):
        ChannelBudgetVectorEnv([fam.sample(1), fam.sample(0)])


def test_evaluate_plays_segmented_and_plain_draws_in_batches_of_their_own() -> None:
    """The batched evaluator groups rows by their info layout: the same results as episode by
    episode (where it failed on the mixed batch)."""
    fam = _mixed_family()
    agent = make_agent("equal", fam.brief)
    kw: dict[str, Any] = {"seeds": [0, 1], "draws": 4, "split": "train", "oracle": lambda *a: 1.0}
    batched, serial = evaluate(agent, fam, **kw), evaluate(agent, fam, batch=False, **kw)
    fields = ["draw", "seed", "reward", "expected_reward", "spend"]
    assert [[getattr(r, f) for f in fields] for r in batched] == [[getattr(r, f) for f in fields] for r in serial]


def _steps(env: Any, n: int, count: int) -> list:
    rng = np.random.default_rng(2)
    return [env.step(rng.uniform(-1, 1, (n, 5) if n else 5).astype(np.float32)) for _ in range(count)]


@pytest.mark.parametrize("rng", ["per_env", "batched"])
def test_a_bad_history_fails_the_reset_before_anything_moves(rng: str) -> None:
    """A history of the wrong shape is refused before the generators draw a new campaign: the
    episode in progress continues as if the reset had not been called (it continued at step 3
    with the next campaign's draws and an emptied carry-over)."""
    def env() -> ChannelBudgetVectorEnv:
        pool = {"draw_pool": 4} if rng == "batched" else {}
        e = ChannelBudgetVectorEnv("retail-5-family", 3, rng=rng, **pool)  # type: ignore[arg-type]
        e.reset(seed=1)
        _steps(e, 3, 2)
        return e

    failed, ref = env(), env()
    with pytest.raises(BudgetGymError, match=r"^history: expected shape \(steps, 5\)"):
        failed.reset(options={"history": np.ones((4, 4))})
    assert data_equivalence(_steps(failed, 3, 3), _steps(ref, 3, 3), exact=True)


def test_a_bad_history_fails_the_single_envs_reset_before_anything_moves() -> None:
    def env() -> ChannelBudgetEnv:
        e = ChannelBudgetEnv("retail-5-family")
        e.reset(seed=1)
        _steps(e, 0, 2)
        return e

    failed, ref = env(), env()
    with pytest.raises(BudgetGymError, match=r"^history: spend must be finite"):
        failed.reset(options={"history": np.full((2, 5), np.nan)})
    assert data_equivalence(_steps(failed, 0, 3), _steps(ref, 0, 3), exact=True)


@pytest.mark.parametrize("rng", ["per_env", "batched"])
def test_a_batch_larger_than_memory_is_a_one_line_error_before_anything_is_allocated(rng: str) -> None:
    """10**12 rows of three channels: numpy's MemoryError (10.9 TiB for the observation space's
    bounds) with a traceback, after part of the env was made."""
    with pytest.raises(BudgetGymError, match=r"^num_envs: 1000000000000 rows of 3 channels and 14 steps need at least"):
        ChannelBudgetVectorEnv("stationary-3", 10**12, rng=rng)


def test_the_memory_bound_by_hand(monkeypatch: pytest.MonkeyPatch) -> None:
    """stationary-3 (K = 3, A = 3, O = 19, T = 14) per_env: 10 * 22 + 4 * 19 + 8 * 3 + 80 * 3 + 16 = 576
    bytes a row, plus its path 40 * 14 * 3 = 1,680: 2,256 bytes; batched 576 a row plus nothing for
    a plain scenario's pool. Against a machine of 1 MiB (1,048,576 bytes): 464 per_env rows fit
    (1,046,784 bytes), 465 do not; 1,820 batched rows fit (1,048,320), 1,821 do not."""
    import budgetgym.envs.vector_settings as vs

    monkeypatch.setattr(vs, "machine_memory", lambda: 2**20)
    for rng, fits in (("per_env", 464), ("batched", 1820)):
        ChannelBudgetVectorEnv("stationary-3", fits, rng=rng).close()
        with pytest.raises(BudgetGymError, match=r"more than this machine's 1 MiB of memory; use fewer rows$"):
            ChannelBudgetVectorEnv("stationary-3", fits + 1, rng=rng)


def test_a_draw_pool_larger_than_memory_is_refused_before_its_draws_are_made() -> None:
    """A pool of 10**9 draws of retail-5-family (tables of 16 * 56 * 5 bytes a draw: 4.1 TiB) was
    accepted, and the first reset set out to sample and compile 10**9 draws (~1.5 ms each)."""
    with pytest.raises(BudgetGymError, match=r"^num_envs: .* use fewer rows or a smaller draw_pool$"):
        ChannelBudgetVectorEnv("retail-5-family", 2, rng="batched", draw_pool=10**9)


@pytest.mark.parametrize("rng", ["per_env", "batched"])
def test_a_template_whose_rare_draws_differ_in_their_info_layout_is_refused_at_construction(
    tmp_path: Path, rng: str
) -> None:
    """A template drawing a KPI baseline in one draw of 200 (or other controls) loads, plays in single envs
    and in evaluate's batches of their own; its first draws all lack one, so the vector env was built and
    failed at a reset hours into training (the 321st reset, seeds 0, 1, ..., per_env) when a batch first mixed the
    two. The template's reach decides it: one line at construction naming the file and the field."""
    import yaml

    path = tmp_path / "rare.yaml"
    path.write_text(yaml.safe_dump({"family": "rare", "scenario": "stationary-3", "vary": {
        "baseline": {"dist": "choice", "values": [None, {"level": 3.0}], "p": [0.995, 0.005]}}}))
    fam = load_family(path)
    assert all(fam.sample(i, split).baseline is None for i in range(8) for split in ("train", "test"))
    with pytest.raises(BudgetGymError, match=rf"^family file '{re.escape(str(path))}': baseline.values\[1\]: the "
                       r"distribution reaches a draw with a KPI baseline without controls where the nominal has no "
                       r"KPI baseline; the rows of a vector env must share one KPI baseline layout"):
        ChannelBudgetVectorEnv(fam, 4, rng=rng)
    controls = [{"name": "price", "mean": 1.0, "sd": 0.1, "effect": 2.0}]
    path.write_text(yaml.safe_dump({"family": "rare", "scenario": "stationary-3", "vary": {
        "baseline": {"dist": "choice", "values": [{"level": 3.0}, {"level": 3.0, "controls": controls}],
                     "p": [0.999, 0.001]}}}))
    with pytest.raises(BudgetGymError, match=r"baseline.values\[1\]: the distribution reaches a draw with a KPI "
                       r"baseline with controls price where the nominal has a KPI baseline without controls"):
        ChannelBudgetVectorEnv(load_family(path), 4, rng=rng)
    path.write_text(yaml.safe_dump({"family": "rare", "scenario": "stationary-3", "vary": {
        "baseline": {"dist": "choice", "values": [{"level": 3.0}, {"level": 5.0}]}}}))
    ChannelBudgetVectorEnv(load_family(path), 4, rng=rng).reset(seed=0)  # levels differ: one layout
