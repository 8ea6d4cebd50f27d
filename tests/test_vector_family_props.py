"""Property tests of the vector env over a family with audience segments, delays and agent pacing.

A small family (three channels, two or three segments chosen per draw, a segment's geometric or gamma
delay, reach and curves drawn, negative-binomial counts, price and segment value noise, agent
pacing, a horizon of 3) is played by the vector env and by Gymnasium's ``SyncVectorEnv`` of single
environments on the same seeds and actions: ``per_env`` must equal it bit for bit, step by step,
over episode boundaries in both autoreset modes, whatever the seeds (an integer or a list), the
row count and a ``reset`` in the middle of the run (no seed, or a list with ``None`` entries).
``batched`` must give one run whatever steps its row parts (one thread, two threads, two processes).
Examples are few and episodes tiny: each example is a handful of steps.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml
from gymnasium.utils.env_checker import data_equivalence
from gymnasium.vector import AutoresetMode, SyncVectorEnv
from hypothesis import example, given, settings
from hypothesis import strategies as st

from budgetgym.envs import ChannelBudgetEnv, load_scenario
from budgetgym.envs.family import ScenarioFamily, load_family
from budgetgym.envs.vector_env import ChannelBudgetVectorEnv

MODES = [AutoresetMode.NEXT_STEP, AutoresetMode.SAME_STEP]


def _family_dict() -> dict[str, Any]:
    """overlap-5 cut to three channels and three steps, agent-paced, a choice of two segment blocks."""
    d = load_scenario("overlap-5").model_dump(mode="json", exclude_none=True)
    d["channels"] = d["channels"][:3]  # social, display, video
    d["horizon"], d["budget"] = 3, {"total": 24000.0, "pacing": "agent", "max_step_multiple": 2.0}
    d["noise"] = {"conversions": "negative_binomial", "dispersion": 20.0}
    names = {"social", "display", "video"}
    for seg in d["segments"]:
        seg["reach"] = {c: r for c, r in seg["reach"].items() if c in names}
        seg["effectiveness"] = {c: e for c, e in seg.get("effectiveness", {}).items() if c in names}
    seniors = d["segments"][2]
    seniors["reach"] = {"display": 0.3, "video": 0.05}
    seniors["value"] = {"mean": 90.0, "noise_sd": 0.2}
    seniors["delay"] = {"type": "gamma", "mean_lag": 1.5, "shape": 2.0, "window": 4}
    d["segments"][0]["reach"]["social"] = {"dist": "uniform", "low": 0.4, "high": 0.65}
    d["segments"][1]["saturation"]["half_saturation"] = {"dist": "lognormal", "median": 1.5e6, "sd": 0.3}
    three = copy.deepcopy(d["segments"])
    two = copy.deepcopy(d["segments"][:2])
    two[0]["size"], two[1]["size"] = 0.5, 0.5
    d["segments"] = {"dist": "choice", "values": [three, two]}
    return d


@pytest.fixture(scope="module")
def family(tmp_path_factory: pytest.TempPathFactory) -> ScenarioFamily:
    path: Path = tmp_path_factory.mktemp("fam") / "seg-agent-family.yaml"
    path.write_text(yaml.safe_dump({"family": "seg-agent-family", "seed": 5, "scenario": _family_dict()}))
    fam = load_family(path)
    draws = fam.draws(8, "train")
    assert {len(sc.segments or []) for sc in draws} == {2, 3}  # both blocks are drawn
    return fam


def _actions(n: int, dim: int, steps: int, seed: int) -> list[np.ndarray]:
    """Actions in [-1.2, 1.2] (the pacing entry included), a NaN in row 0 every other step."""
    rng = np.random.default_rng(seed)
    out = []
    for t in range(steps):
        a = rng.uniform(-1.2, 1.2, (n, dim)).astype(np.float32)
        if t % 2:
            a[0, t % dim] = np.nan
        out.append(a)
    return out


seeds = st.one_of(
    st.integers(0, 2**31),
    st.lists(st.integers(0, 2**20), min_size=1, max_size=3),  # trimmed/extended to n below
)


@settings(max_examples=6)
@example(n=3, seed=[1, 2, 3], mode=AutoresetMode.SAME_STEP, act_seed=0, reseed=[None, 4, None], mid=1)
@example(n=3, seed=0, mode=AutoresetMode.NEXT_STEP, act_seed=1, reseed=None, mid=3)
@given(
    n=st.integers(1, 3), seed=seeds, mode=st.sampled_from(MODES), act_seed=st.integers(0, 100),
    reseed=st.none() | st.lists(st.none() | st.integers(0, 99), min_size=3, max_size=3), mid=st.integers(0, 4),
)
def test_per_env_equals_single_envs_over_an_episode_boundary(
    family: ScenarioFamily, n: int, seed: Any, mode: AutoresetMode, act_seed: int, reseed: Any, mid: int
) -> None:
    """Also a ``reset`` after ``mid`` steps (mid-episode, at the horizon or right after the autoreset),
    without a seed or with a list whose ``None`` entries continue those rows' generators."""
    if isinstance(seed, list):
        seed = (seed * n)[:n]
    ref = SyncVectorEnv([lambda: ChannelBudgetEnv(family) for _ in range(n)], autoreset_mode=mode)
    vec = ChannelBudgetVectorEnv(family, n, autoreset_mode=mode)
    assert vec.agent_pacing and vec.action_space.shape == (n, 4)
    assert data_equivalence(ref.reset(seed=seed), vec.reset(seed=seed), exact=True), "reset"
    steps = 2 * vec.horizon + 2  # two episode boundaries
    for t, a in enumerate(_actions(n, 4, steps, act_seed)):
        if t == mid:
            again = None if reseed is None else reseed[:n]
            assert data_equivalence(ref.reset(seed=again), vec.reset(seed=again), exact=True), "reset mid-run"
        expected, got = ref.step(a), vec.step(a)
        for what, x, y in zip(("obs", "reward", "terminated", "truncated", "info"), expected, got, strict=True):
            assert data_equivalence(x, y, exact=True), f"step {t}: {what} differs"
    assert all(sc.segments is not None for sc in vec.scenarios)
    ref.close()
    vec.close()


def _batched_run(family: ScenarioFamily, mode: AutoresetMode, threads: int, processes: int) -> list:
    vec = ChannelBudgetVectorEnv(
        family, 4, rng="batched", part_rows=2, draw_pool=6, threads=threads, processes=processes,
        autoreset_mode=mode,
    )
    try:
        out: list = [vec.reset(seed=7)]
        for a in _actions(4, 4, 2 * vec.horizon + 1, 3):
            out.append(vec.step(a))
        out.append(vec.reset(seed=[1, 2, 3, 4]))
        out.append(vec.step(_actions(4, 4, 1, 9)[0]))
        out.append([len(sc.segments or []) for sc in vec.scenarios])
        return out
    finally:
        vec.close()


@pytest.mark.parametrize("mode", MODES)
def test_batched_run_is_the_same_on_one_thread_and_two_threads(family: ScenarioFamily, mode: AutoresetMode) -> None:
    one = _batched_run(family, mode, threads=1, processes=1)
    assert data_equivalence(one, _batched_run(family, mode, threads=2, processes=1), exact=True)


def test_batched_run_is_the_same_in_two_processes(family: ScenarioFamily) -> None:
    """A worker process costs ~1 s to start: one autoreset mode (the other is the threads' test)."""
    mode = AutoresetMode.SAME_STEP
    one = _batched_run(family, mode, threads=1, processes=1)
    assert data_equivalence(one, _batched_run(family, mode, threads=1, processes=2), exact=True)
