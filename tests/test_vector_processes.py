"""Row parts stepped in worker processes (``processes``, :mod:`budgetgym.envs.vector_processes`).

What must hold: a run is the one of a single process, bit for bit (noise on, a family's pool draws,
a KPI baseline with a control, audience segments, autoresets of both modes, a reseed, a reset
without a seed); what a step returned is never changed by later steps, although the blocks of
shared memory are reused once the caller drops a step's arrays (and only then); a pickled copy
continues the run; closing stops the workers and unlinks the blocks; a worker that dies is an
error, not a hang; bad settings give one-line errors. Each env here starts a worker (~1 s).
"""

from __future__ import annotations

import copy
import os
import pickle
import signal
import threading

import numpy as np
import pytest
from gymnasium.error import ClosedEnvironmentError
from gymnasium.utils.env_checker import data_equivalence
from gymnasium.vector import AutoresetMode

from budgetgym.envs import BudgetGymError, load_scenario, vector_processes
from budgetgym.envs.shared_blocks import FREE_BLOCKS, LIVE_BLOCKS
from budgetgym.envs.vector_env import ChannelBudgetVectorEnv
from budgetgym.envs.vector_processes import process_blocks

BASELINE = {"level": 50, "noise_sd": 0.1, "controls": [{"name": "price", "mean": 1.0, "sd": 0.2, "effect": -5.0}]}


def _env(source: object, processes: int, mode: AutoresetMode = AutoresetMode.SAME_STEP) -> ChannelBudgetVectorEnv:
    return ChannelBudgetVectorEnv(
        source, 7, rng="batched", part_rows=2, draw_pool=5, processes=processes, autoreset_mode=mode  # type: ignore[arg-type]
    )


def _play(env: ChannelBudgetVectorEnv, steps: int) -> list:
    rng = np.random.default_rng(0)
    out: list = [env.reset(seed=4)]
    for _ in range(steps):
        out.append(env.step(rng.uniform(-1, 1, env.action_space.shape).astype(np.float32)))
    out.append(env.reset())  # the generators continue
    out.append(env.step(rng.uniform(-1, 1, env.action_space.shape).astype(np.float32)))
    out.append(env.reset(seed=[3, 1, 4, 1, 5, 9, 2]))
    out.append(env.step(rng.uniform(-1, 1, env.action_space.shape).astype(np.float32)))
    out.append([sc.name for sc in env.scenarios])
    return out


@pytest.mark.parametrize(
    ("name", "processes", "mode"),
    [
        ("retail-5-family", 2, AutoresetMode.SAME_STEP),
        ("baseline", 3, AutoresetMode.NEXT_STEP),
        ("overlap-5", 2, AutoresetMode.SAME_STEP),
    ],
)
def test_processes_do_not_change_the_run(name: str, processes: int, mode: AutoresetMode) -> None:
    """Four row parts over 1 and ``processes`` processes: the same run, bit for bit, draws included."""
    source = load_scenario("stationary-3").override({"baseline": BASELINE}) if name == "baseline" else name
    runs = []
    for procs in (1, processes):
        env = _env(source, procs, mode)
        assert len(env.parts) == 4
        steps = env.horizon + 3
        runs.append(_play(env, steps))
        assert (env._procs is not None) == (procs > 1)
        env.close()
    assert data_equivalence(runs[0], runs[1], exact=True)


def test_returned_arrays_never_change_and_blocks_are_reused_only_when_dropped() -> None:
    env = _env("stationary-5", 2)
    env.reset(seed=0)
    rng = np.random.default_rng(1)
    kept = env.step(rng.uniform(-1, 1, env.action_space.shape))
    view = kept[4]["spend"][1:3]  # a view of the step's block is a hold on it too
    view_before = view.copy()
    del kept
    assert env._procs is not None
    for _ in range(12):  # the step's arrays are dropped at once: the blocks are reused
        env.step(rng.uniform(-1, 1, env.action_space.shape))
    assert len(env._procs.memory.blocks) <= 4
    held = [env.step(rng.uniform(-1, 1, env.action_space.shape)) for _ in range(6)]
    copies = copy.deepcopy(held)
    assert len(env._procs.memory.blocks) >= 6  # each held step keeps its block
    for _ in range(3):
        env.step(rng.uniform(-1, 1, env.action_space.shape))
    np.testing.assert_array_equal(view, view_before)
    assert data_equivalence(held, copies, exact=True)
    del held, copies, view
    for _ in range(3):
        env.step(rng.uniform(-1, 1, env.action_space.shape))
    assert len(env._procs.memory.blocks) <= 2 + FREE_BLOCKS  # the surplus free blocks were unlinked
    env.close()


def test_a_process_env_pickles_mid_episode_and_closes_cleanly() -> None:
    env = _env("retail-5-family", 2)
    env.reset(seed=9)
    rng = np.random.default_rng(0)
    actions = [rng.uniform(-1, 1, env.action_space.shape).astype(np.float32) for _ in range(6)]
    for a in actions[:3]:
        env.step(a)
    clone = pickle.loads(pickle.dumps(env))  # the workers' parts are fetched; the clone starts its own
    for a in actions[3:]:
        assert data_equivalence(env.step(a), clone.step(a), exact=True)
    assert env._procs is not None
    procs, names = list(env._procs._procs), [b.shm.name for b in env._procs.memory.blocks]
    env.close()
    clone.close()
    assert not any(p.is_alive() for p in procs)
    assert names and not any(os.path.exists(f"/dev/shm/{nm}") for nm in names)


def test_a_reset_after_close_starts_the_env_again_and_the_next_close_stops_its_workers() -> None:
    """``close`` then ``reset`` restarts the workers; the env is open again, so the next ``close``
    (not a no-op) stops them and unlinks their blocks. A step after ``close`` is Gymnasium's error."""
    env = _env("stationary-5", 2)
    env.reset(seed=0)
    env.close()
    with pytest.raises(ClosedEnvironmentError, match="after close"):
        env.step(np.zeros(env.action_space.shape))
    env.reset()
    env.step(np.zeros(env.action_space.shape))
    assert env._procs is not None and not env.closed
    procs, names = list(env._procs._procs), [b.shm.name for b in env._procs.memory.blocks]
    env.close()
    assert env._procs is None and not any(p.is_alive() for p in procs)
    assert names and not any(os.path.exists(f"/dev/shm/{nm}") for nm in names)


def test_a_failed_call_leaves_the_workers_in_step_and_close_keeps_the_generators() -> None:
    """A reset that fails in every process (a history of the wrong width) is an error, and the env
    goes on as one process would: the next reset and steps, a close, then a reset without a seed
    (the workers' generators continue, as in one process)."""
    runs = []
    for procs in (1, 2):
        env = ChannelBudgetVectorEnv("stationary-5", 8, rng="batched", part_rows=2, processes=procs)
        env.reset(seed=1)
        with pytest.raises(BudgetGymError):
            env.reset(options={"history": np.ones((3, 2))})
        rng = np.random.default_rng(0)
        run = [env.reset(seed=2)] + [env.step(rng.uniform(-1, 1, env.action_space.shape)) for _ in range(3)]
        env.close()
        run += [env.reset()] + [env.step(rng.uniform(-1, 1, env.action_space.shape)) for _ in range(2)]
        env.close()
        runs.append(run)
    assert data_equivalence(runs[0], runs[1], exact=True)


def test_a_caller_keeping_many_steps_gets_copies_beyond_the_live_blocks() -> None:
    """Each block held costs a file descriptor in every process: past LIVE_BLOCKS blocks alive,
    steps return copies, so the blocks stay bounded, and every kept result stays as it was."""
    env = _env("stationary-5", 2)
    env.reset(seed=0)
    rng = np.random.default_rng(1)
    kept, copies = [], []
    for _ in range(LIVE_BLOCKS + 20):
        kept.append(env.step(rng.uniform(-1, 1, env.action_space.shape)))
        copies.append(copy.deepcopy(kept[-1]))
    assert env._procs is not None and len(env._procs.memory.blocks) <= LIVE_BLOCKS + 3
    assert data_equivalence(kept, copies, exact=True)
    env.close()


def test_a_dead_worker_is_an_error() -> None:
    env = _env("stationary-5", 2)
    env.reset(seed=0)
    assert env._procs is not None
    env._procs._procs[0].kill()
    env._procs._procs[0].join()
    with pytest.raises(RuntimeError, match="worker process"):
        for _ in range(2):
            env.step(env.action_space.sample())
    env.close()



@pytest.mark.skipif(not hasattr(signal, "SIGSTOP"), reason="needs POSIX signals")
def test_close_stops_a_worker_that_does_not_answer(monkeypatch: pytest.MonkeyPatch) -> None:
    """A worker that never answers (stopped here by SIGSTOP; in practice a step stuck in a worker)
    made ``close()`` wait for its reply for ever; now close waits ``CLOSE_TIMEOUT`` seconds, kills
    it and reaps it (no zombie left). The 60 s join only guards the suite against the old hang."""
    monkeypatch.setattr(vector_processes, "CLOSE_TIMEOUT", 0.2)
    env = _env("stationary-5", 2)
    env.reset(seed=0)
    assert env._procs is not None
    proc = env._procs._procs[0]
    os.kill(proc.pid, signal.SIGSTOP)
    closing = threading.Thread(target=env.close, daemon=True)
    closing.start()
    closing.join(60)
    try:
        assert not closing.is_alive(), "close() hung on a worker that does not answer"
        assert not os.path.exists(f"/proc/{proc.pid}") or not os.path.isdir("/proc/self"), "worker left as a zombie"
        assert env.closed and env._procs is None
    finally:
        if closing.is_alive():
            os.kill(proc.pid, signal.SIGKILL)
            closing.join()


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"processes": 0}, "processes"),
        ({"processes": 2, "rng": "per_env"}, "processes"),
        ({"processes": 1.5}, "processes"),
    ],
)
def test_bad_process_settings_one_line(kwargs: dict, message: str) -> None:
    kw = {"rng": "batched", **kwargs}
    with pytest.raises(BudgetGymError, match=message) as err:
        ChannelBudgetVectorEnv("stationary-5", 4, **kw)
    assert "\n" not in str(err.value)


def test_process_blocks_split_the_parts_evenly() -> None:
    assert process_blocks(4, 2) == [[0, 1], [2, 3]]
    assert process_blocks(5, 2) == [[0, 1], [2, 3, 4]]
    assert process_blocks(2, 3) == [[0], [1]]  # no more processes than parts
    assert process_blocks(1, 2) == [[0]]
