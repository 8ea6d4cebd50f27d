"""The vector env's batched random numbers, Gymnasium conventions, registration and input errors.

``batched`` draws every random quantity for all rows in one call: other streams than the single
environments, the same distributions. With every noise source off it must still equal N single
environments (the arithmetic is shared) to 1e-13 relative (its carry-over sums run in another
order), and with noise on its per-step conversion means and variances must agree with ``per_env``
within sampling error (derived from the two samples themselves, not from the code).
"""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
from conftest import assert_reordered_close
from gymnasium.utils.env_checker import data_equivalence
from gymnasium.vector import AutoresetMode, SyncVectorEnv

import budgetgym  # noqa: F401  (registers the ids)
from budgetgym.envs import BudgetGymError, ChannelBudgetEnv, list_scenarios, load_scenario
from budgetgym.envs.family import family_from_dict, load_family
from budgetgym.envs.io import read_yaml
from budgetgym.envs.vector_env import ChannelBudgetVectorEnv


def _quiet(name: str):
    """``name`` with every noise source off: counts = means, no price, value or drift noise."""
    sc = load_scenario(name)
    changes = {"noise.conversions": "none", "drift.sd": 0.0}
    for i in range(sc.n_channels):
        changes[f"channels.{i}.cost.noise_sd"] = 0.0
        changes[f"channels.{i}.value.noise_sd"] = 0.0
        changes[f"channels.{i}.drift_sd"] = None
    return sc.override(changes)


def _quiet_family(name: str = "retail-5-family"):
    """The family ``name`` with its counts, price, value noise and drift off (its draws still vary)."""
    data = read_yaml(load_family(name).source.split("'")[1], "family")
    data["scenario"]["noise"] = {"conversions": "none"}
    data["scenario"]["drift"] = {"sd": 0.0}
    for ch in data["scenario"]["channels"]:
        ch["cost"]["noise_sd"] = 0.0
        if "value" in ch:
            ch["value"]["noise_sd"] = 0.0
    return family_from_dict(data)


def _play(env, actions, seed):
    out = [env.reset(seed=seed)[0]]
    for a in actions:
        obs, rew, term, trunc, info = env.step(a)
        out += [obs, rew, term, trunc, {k: v for k, v in info.items() if k not in ("draw", "_draw", "split", "_split")}]
    return out


@pytest.mark.parametrize("name", ["stationary-5", "shock-5", "holiday-5", "overlap-5"])
def test_batched_without_noise_equals_single_envs(name: str) -> None:
    sc = _quiet(name)
    vec = ChannelBudgetVectorEnv(sc, 3, rng="batched")
    rng = np.random.default_rng(0)
    actions = [rng.uniform(-1, 1, vec.action_space.shape).astype(np.float32) for _ in range(vec.horizon + 2)]
    ref = SyncVectorEnv([lambda: ChannelBudgetEnv(sc) for _ in range(3)])
    assert_reordered_close(_play(ref, actions, 5), _play(vec, actions, 99))


def test_batched_family_without_noise_equals_single_envs_of_its_draws() -> None:
    """Rows of a batched family play pool draws (train draws 0..P-1); noise off, each row is the
    single environment of its draw."""
    family = _quiet_family()
    vec = ChannelBudgetVectorEnv(family, 4, rng="batched", draw_pool=6)
    vec.reset(seed=1)
    draws, indices = vec.scenarios, vec.campaigns.draws
    assert all(sc is family.sample(int(d), "train") for sc, d in zip(draws, indices, strict=True))
    assert indices.max() < 6
    rng = np.random.default_rng(0)
    actions = [rng.uniform(-1, 1, vec.action_space.shape).astype(np.float32) for _ in range(10)]
    ref = SyncVectorEnv([lambda sc=sc: ChannelBudgetEnv(sc) for sc in draws])
    assert_reordered_close(_play(ref, actions, 0)[1:], _play(vec, actions, 1)[1:])


def test_a_batched_pool_of_an_ensemble_holds_each_train_member_once() -> None:
    """Pool draw ``i`` of an ensemble is train member ``i mod n``: a pool of 6 over 4 train members held members 0
    and 1 twice, so rows played them twice as often as the others (calibrate's 160 train members in the default
    pool of 1,024: 64 members at 7/1,024, the rest at 6/1,024). The pool is each member once, chosen uniformly."""
    members = [{"channels.search.saturation.max_response": 300.0 + 10 * j} for j in range(5)]
    family = family_from_dict({"family": "ens", "scenario": "stationary-3", "ensemble": members})
    assert family.split_size("train") == 4
    vec = ChannelBudgetVectorEnv(family, 64, rng="batched", draw_pool=6)
    vec.reset(seed=1)
    assert set(vec.campaigns.draws.tolist()) == {0, 1, 2, 3}
    assert all(sc is family.sample(int(d), "train") for sc, d in zip(vec.scenarios, vec.campaigns.draws, strict=True))


@pytest.mark.parametrize("name", ["wide-family", "wide-agent-family"])
def test_batched_pool_draws_with_outages_without_noise_equal_single_envs_of_their_draws(name: str) -> None:
    """The wide families' pool draws differ in their shocks (outages among them), curves and
    carry-over: each row reads its own draw's columns of the pooled path tables (cost, response and
    the outage's delivery), so with the noise off every row is the single environment of its draw."""
    family = _quiet_family(name)
    vec = ChannelBudgetVectorEnv(family, 8, rng="batched", draw_pool=12)
    vec.reset(seed=2)
    draws = vec.scenarios
    assert any(s.kind == "outage" for sc in draws for s in sc.shocks)  # the case under test
    assert len(set(vec.campaigns.draws.tolist())) > 4
    rng = np.random.default_rng(0)
    actions = [rng.uniform(-1, 1, vec.action_space.shape).astype(np.float32) for _ in range(vec.horizon)]
    ref = SyncVectorEnv([lambda sc=sc: ChannelBudgetEnv(sc) for sc in draws])
    assert_reordered_close(_play(ref, actions, 0)[1:], _play(vec, actions, 2)[1:])


def _within(a: np.ndarray, b: np.ndarray, z: float = 4.5) -> None:
    """Per column: the means of two samples, and their variances, agree within ``z`` standard
    errors (of the difference of the means; of the ratio of the variances, from the fourth
    central moments). A noise-free column (one value in each sample) holds the same value in
    both modes, to the batched mode's 1e-13 (its carry-over sums in another order)."""
    n, m = len(a), len(b)
    fixed = (np.ptp(a, axis=0) == 0) & (np.ptp(b, axis=0) == 0)
    assert_reordered_close(a[:, fixed], b[:, fixed])
    a, b = a[:, ~fixed], b[:, ~fixed]
    se_mean = np.sqrt(a.var(axis=0) / n + b.var(axis=0) / m)
    assert np.all(np.abs(a.mean(axis=0) - b.mean(axis=0)) < z * se_mean)
    va, vb = a.var(axis=0), b.var(axis=0)
    m4a, m4b = ((a - a.mean(axis=0)) ** 4).mean(axis=0), ((b - b.mean(axis=0)) ** 4).mean(axis=0)
    ratio = va / vb
    se_ratio = ratio * np.sqrt((m4a - va**2) / (n * va**2) + (m4b - vb**2) / (m * vb**2))
    assert np.all(np.abs(ratio - 1.0) < z * se_ratio)


@pytest.mark.parametrize(
    ("name", "steps"), [("stationary-3", 4), ("delayed-5", 4), ("drift-5", 12), ("overlap-5", 4)]
)
def test_batched_noise_matches_per_env_in_distribution(name: str, steps: int) -> None:
    """Poisson (stationary-3, with price noise), negative-binomial (delayed-5), drifting
    (drift-5: the walk advances step by step in batched mode) and segmented (overlap-5: counts per
    channel-segment pair) campaigns: over 1,500 rows the
    per-channel conversions of a step, and the expected rewards, agree in mean and variance
    between the modes."""
    n = 1500
    out = {}
    for mode in ("per_env", "batched"):
        env = ChannelBudgetVectorEnv(name, n, rng=mode)
        env.reset(seed=123)
        action = np.zeros(env.action_space.shape, dtype=np.float32)
        for _ in range(steps):
            *_, info = env.step(action)
        out[mode] = (info["conversions"], info["expected_reward"][:, None])
    for a, b in zip(out["per_env"], out["batched"], strict=True):
        _within(a, b)
    assert not np.array_equal(out["per_env"][0], out["batched"][0])  # other streams


def test_without_expected_info_the_rows_play_the_same() -> None:
    """``expected=False`` drops the noise-free shadow: the same observations and rewards, no
    ``expected_*`` keys."""
    envs = [ChannelBudgetVectorEnv("stationary-5", 3, expected=e) for e in (True, False)]
    for env in envs:
        env.reset(seed=2)
    action = np.linspace(-1, 1, 15, dtype=np.float32).reshape(3, 5)
    for _ in range(5):
        (o1, r1, *_, i1), (o2, r2, *_, i2) = (env.step(action) for env in envs)
        assert np.array_equal(o1, o2) and np.array_equal(r1, r2)
    assert set(i1) - set(i2) == {"expected_reward", "_expected_reward", "expected_conversions", "_expected_conversions"}


def test_next_step_autoreset_and_seeding() -> None:
    env = ChannelBudgetVectorEnv("stationary-3", 2)
    first, info = env.reset(seed=8)
    assert info["step"].tolist() == [0, 0] and info["_step"].all()
    action = np.zeros(env.action_space.shape, dtype=np.float32)
    for t in range(env.horizon):
        obs, rew, term, trunc, info = env.step(action)
        assert not term.any() and trunc.all() == (t == env.horizon - 1)
    nan_actions = np.full(env.action_space.shape, np.nan, dtype=np.float32)
    obs, rew, term, trunc, info = env.step(nan_actions)  # the reset step: actions ignored
    assert rew.tolist() == [0.0, 0.0] and not term.any() and not trunc.any()
    assert info["step"].tolist() == [0, 0] and "spend" not in info
    assert np.array_equal(obs[:, :-4], first[:, :-4])  # a fresh campaign (phase: the same calendar)
    single = ChannelBudgetEnv("stationary-3")
    assert np.array_equal(env.reset(seed=8)[0][1], single.reset(seed=9)[0])  # row i: seed s + i
    again = ChannelBudgetVectorEnv("stationary-3", 2)
    again.reset(seed=8)
    assert data_equivalence(env.step(action), again.step(action), exact=True)


def test_spaces_metadata_and_make_vec() -> None:
    env = gym.make_vec("budgetgym/stationary-5-v0", num_envs=4, vectorization_mode="vector_entry_point")
    assert isinstance(env, ChannelBudgetVectorEnv) and env.num_envs == 4
    assert env.metadata["autoreset_mode"] == AutoresetMode.NEXT_STEP
    assert env.action_space.shape == (4, 5) and env.single_action_space.shape == (5,)
    assert env.observation_space.shape == (4, 27)
    obs, _ = env.reset(seed=0)
    assert env.observation_space.contains(obs)
    generic = gym.make_vec("budgetgym/ChannelBudget-v0", num_envs=2, scenario="seasonal-5", rng="batched")
    assert isinstance(generic, ChannelBudgetVectorEnv) and generic.rng_mode == "batched"
    assert generic.single_action_space.shape == (6,)  # agent pacing
    sync = gym.make_vec("budgetgym/stationary-3-v0", num_envs=2, vectorization_mode="sync")
    assert isinstance(sync, SyncVectorEnv)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"num_envs": 0}, "num_envs"),
        ({"rng": "fast"}, "rng"),
        ({"autoreset_mode": AutoresetMode.DISABLED}, "autoreset_mode"),
        ({"autoreset_mode": "same_step"}, "autoreset_mode: expected NEXT_STEP or SAME_STEP, got 'same_step'"),
        ({"draw_pool": 0, "rng": "batched"}, "draw_pool: expected a positive integer"),
        ({"threads": 0, "rng": "batched"}, "threads: expected a positive integer"),
        ({"part_rows": 2.5, "rng": "batched"}, "part_rows: expected a positive integer"),
        ({"part_rows": 2}, "part_rows: only rng='batched' takes it, got 2 with rng='per_env'"),
        ({"threads": 2}, "threads: only rng='batched'"),
        ({"draw_pool": 8}, "draw_pool: only rng='batched'"),
        ({"expected": "no"}, "expected: expected True or False, got 'no'"),
        ({"expected": 0}, "expected: expected True or False, got 0"),
        ({"scenario": [load_scenario("stationary-3"), load_scenario("stationary-5")]}, "one brief"),
        ({"scenario": []}, "at least one"),
    ],
)
def test_bad_arguments_are_one_line_errors(kwargs: dict, match: str) -> None:
    with pytest.raises(BudgetGymError, match=match):
        ChannelBudgetVectorEnv(**{"scenario": "stationary-3", **kwargs})


def test_bad_calls_raise() -> None:
    env = ChannelBudgetVectorEnv("stationary-3", 2)
    with pytest.raises(RuntimeError, match="reset"):
        env.step(np.zeros((2, 3), dtype=np.float32))
    with pytest.raises(ValueError, match="one seed per"):
        env.reset(seed=[1, 2, 3])
    env.reset(seed=0)
    with pytest.raises(ValueError, match=r"expected shape \(2, 3\)"):
        env.step(np.zeros((3, 3), dtype=np.float32))
    with pytest.raises(BudgetGymError, match="history"):
        env.reset(seed=0, options={"history": np.ones((2, 4))})
    assert env.render() is None  # no render mode: nothing to render, as SyncVectorEnv's envs


@pytest.mark.parametrize("rng", ["per_env", "batched"])
def test_numpy_seeds_are_the_python_seeds(rng: str) -> None:
    """``reset`` takes numpy integers and 1-d arrays of seeds as the ints and lists they hold; any
    other seed is a one-line error naming it."""
    env = ChannelBudgetVectorEnv("stationary-5", 3, rng=rng)
    for seed, same in ((np.int64(4), 4), (np.array([4, 5, 9]), [4, 5, 9]), ([np.uint32(4), 5, 2], [4, 5, 2])):
        got = env.reset(seed=seed)
        assert data_equivalence(got, env.reset(seed=same), exact=True)
    env.reset(seed=np.int64(4))
    assert env.np_random_seed == (4, 5, 6)
    for bad, error, match in (
        (1.5, TypeError, "seed: expected an integer"), ("7", TypeError, "seed"),
        (np.array([1, 2]), ValueError, "one seed per"), (-1, ValueError, "non-negative"),
        ([1, -2, 3], ValueError, "non-negative"), ([1, 2.0, 3], TypeError, "integer"),
    ):
        with pytest.raises(error, match=match) as err:
            env.reset(seed=bad)
        assert "\n" not in str(err.value)


@pytest.mark.parametrize("rng", ["per_env", "batched"])
def test_np_random_seed_is_sync_vector_envs(rng: str) -> None:
    """``np_random_seed`` reports each row's seed as ``SyncVectorEnv`` does after the same resets: after a list
    seed it kept the int of an earlier ``reset(seed=s)`` (Gymnasium's ``VectorEnv`` keeps its seed on a list)."""
    env = ChannelBudgetVectorEnv("stationary-3", 3, rng=rng)
    ref = SyncVectorEnv([lambda: ChannelBudgetEnv("stationary-3") for _ in range(3)])
    for seeds in (5, [1, 2, 3], None, np.array([8, 0, 4]), 0):
        env.reset(seed=seeds)
        ref.reset(seed=None if seeds is None else seeds if isinstance(seeds, int) else [int(s) for s in seeds])
        assert env.np_random_seed == ref.np_random_seed
        assert all(type(s) is int for s in env.np_random_seed)
    env.reset(seed=[7, None, 9])
    ref.reset(seed=[7, None, 9])  # row 1 keeps its generator (seed 1)
    assert env.np_random_seed == ((7, -1, 9) if rng == "batched" else ref.np_random_seed) and ref.np_random_seed == (
        7, 1, 9)  # batched: the rows share one generator, of fresh entropy for a list with None: no seed of row 1's
    fresh = ChannelBudgetVectorEnv("stationary-3", 3, rng=rng)
    fresh.reset(seed=[7, None, 9])
    got = fresh.np_random_seed
    assert got[1] == -1 if rng == "batched" else got[1] >= 0  # per_env: the entropy row 1's generator drew ...
    if rng == "per_env":  # ... which reproduces the row
        action = np.full((3, 3), 0.2, dtype=np.float32)
        obs = fresh.step(action)[0]
        fresh.reset(seed=list(got))
        assert data_equivalence(fresh.step(action)[0], obs, exact=True)


@pytest.mark.parametrize("rng", ["per_env", "batched"])
def test_rows_that_differ_in_their_kpi_baseline_are_refused(rng: str) -> None:
    """The info's baseline keys are the first row's: rows with and without a KPI baseline (or with
    other controls) crashed ``per_env`` for some seeds and lost the baseline from ``batched``'s info;
    a one-line error at construction now, for a list of scenarios and for an ensemble."""
    plain = load_scenario("stationary-3")
    based = plain.override({"baseline": {"level": 3.0}})
    priced = plain.override(
        {"baseline": {"level": 3.0, "controls": [{"name": "price", "mean": 1.0, "sd": 0.1, "effect": 2.0}]}}
    )
    with pytest.raises(BudgetGymError, match="one draw has no KPI baseline, another a KPI baseline without controls"):
        ChannelBudgetVectorEnv([plain, based], rng=rng)
    with pytest.raises(BudgetGymError, match="without controls, another a KPI baseline with controls price"):
        ChannelBudgetVectorEnv([based, priced, based], rng=rng)
    mixed = family_from_dict(
        {"family": "mixed", "scenario": "stationary-3", "ensemble": [{"baseline": {"level": 3.0}}, {}, {}, {}]}
    )
    with pytest.raises(BudgetGymError, match="scenario 'mixed': the rows of a vector env must share one KPI baseline"):
        ChannelBudgetVectorEnv(mixed, 4, rng=rng)
    same = family_from_dict({"family": "same", "scenario": "stationary-3", "ensemble": [
        {"baseline": {"level": 3.0}}, {"baseline": {"level": 5.0}}, {"baseline": {"level": 1.0}}]})
    env = ChannelBudgetVectorEnv(same, 4, rng=rng)  # levels may differ: one layout
    env.reset(seed=0)
    info = env.step(np.zeros((4, 3), dtype=np.float32))[-1]
    assert info["_baseline"].all() and np.all(info["baseline"] > 0)


@pytest.mark.parametrize("mode", [AutoresetMode.NEXT_STEP, AutoresetMode.SAME_STEP])
@pytest.mark.parametrize("rng", ["per_env", "batched"])
def test_gymnasium_env_checks_that_apply_to_a_vector_env(rng: str, mode: AutoresetMode) -> None:
    """The checks of ``gymnasium.utils.env_checker`` that take a vector env as they take an env:
    seeded resets are deterministic and seed ``np_random`` (the spec says deterministic, so the
    observations are compared), ``reset`` returns ``(obs, info)`` in the space and takes options,
    and no two calls return shared arrays (with one row: the check tests ``terminated`` as a
    bool). ``check_step_determinism`` does not apply (it asserts ``truncated is False``), its
    content is ``test_next_step_autoreset_and_seeding``'s."""
    from gymnasium.utils import env_checker

    env = gym.make_vec("budgetgym/holiday-5-v0", num_envs=3, rng=rng, autoreset_mode=mode)
    assert env.spec is not None and env.spec.nondeterministic is False
    env_checker.check_reset_seed_determinism(env)
    env_checker.check_reset_return_type(env)
    env_checker.check_reset_options(env)
    one = gym.make_vec("budgetgym/stationary-3-v0", num_envs=1, rng=rng, autoreset_mode=mode)
    env_checker.check_returned_data_not_reused(one)


def test_every_registered_id_makes_the_vector_env() -> None:
    """Every ``budgetgym/*`` id has the vector env as its vector entry point: ``make_vec`` without a
    mode (Gymnasium then prefers the vector entry point) returns it with the id's scenario."""
    ids = [i for i in gym.registry if i.startswith("budgetgym/")]
    assert len(ids) == len(list_scenarios()) + 1
    for env_id in ids:
        assert gym.spec(env_id).vector_entry_point == "budgetgym.envs.vector_env:ChannelBudgetVectorEnv"
        env = gym.make_vec(env_id, num_envs=2)
        assert isinstance(env, ChannelBudgetVectorEnv) and env.num_envs == 2
        name = env_id.removeprefix("budgetgym/").removesuffix("-v0")
        assert env.family.name == (name if name != "ChannelBudget" else "stationary-3")
    family = gym.make_vec("budgetgym/ChannelBudget-v0", num_envs=2, scenario="wide-agent-family")
    assert isinstance(family, ChannelBudgetVectorEnv) and family.family.varies


@pytest.mark.parametrize("rng", ["per_env", "batched"])
def test_same_step_autoreset_is_next_step_with_the_reset_moved_into_the_final_step(rng: str) -> None:
    """Noise on, both random-number modes (``batched`` has no ``SyncVectorEnv`` to compare with):
    ``SAME_STEP``'s final step returns ``NEXT_STEP``'s final observation as ``final_obs`` and its
    info as ``final_info``, and already the first observation and reset info ``NEXT_STEP`` returns
    on the step after; the episodes after that are the same."""
    kw = {"rng": rng, "part_rows": 2} if rng == "batched" else {}
    nxt = ChannelBudgetVectorEnv("holiday-5", 4, **kw)
    same = ChannelBudgetVectorEnv("holiday-5", 4, autoreset_mode=AutoresetMode.SAME_STEP, **kw)
    rng_a = np.random.default_rng(2)
    nxt.reset(seed=3), same.reset(seed=3)
    for _ in range(2):
        for t in range(nxt.horizon):
            a = rng_a.uniform(-1.2, 1.2, (4, 6)).astype(np.float32)
            (o1, r1, d1, u1, i1), (o2, r2, d2, u2, i2) = nxt.step(a), same.step(a)
            assert data_equivalence((r1, d1, u1), (r2, d2, u2), exact=True)
            if t < nxt.horizon - 1:
                assert data_equivalence((o1, i1), (o2, i2), exact=True)
        assert u2.all() and i2["_final_obs"].all() and i2["_final_info"].all()
        assert data_equivalence(list(o1), list(i2["final_obs"]), exact=True)
        assert data_equivalence(i1, i2["final_info"], exact=True)
        o1, r1, d1, u1, i1 = nxt.step(np.full((4, 6), np.nan, dtype=np.float32))  # NEXT_STEP's reset step
        assert not (r1.any() or d1.any() or u1.any())
        reset_info = {k: v for k, v in i2.items() if "final" not in k}
        assert data_equivalence((o1, i1), (o2, reset_info), exact=True)


def test_render_mode_reset_mask_and_close() -> None:
    """No render mode but ``None`` (a one-line error, also through ``make_vec``); no partial reset
    (``options["reset_mask"]`` belongs to ``DISABLED`` autoreset); ``close`` without worker
    processes: a step after it is Gymnasium's error, a reset starts the env again (the same run as
    an env never closed), closing twice is harmless."""
    for make in (lambda: ChannelBudgetVectorEnv("stationary-3", 2, render_mode="human"),
                 lambda: gym.make_vec("budgetgym/stationary-3-v0", num_envs=2, render_mode="rgb_array")):
        with pytest.raises(BudgetGymError, match="render_mode: the vector env does not render"):
            make()
    env = ChannelBudgetVectorEnv("stationary-3", 2)
    assert env.render_mode is None and env.metadata["render_modes"] == []
    with pytest.raises(ValueError, match="reset_mask"):
        env.reset(seed=0, options={"reset_mask": np.array([True, False])})
    action = np.zeros((2, 3), dtype=np.float32)
    env.reset(seed=0)
    env.step(action)
    env.close()
    assert env.closed
    with pytest.raises(gym.error.ClosedEnvironmentError, match="after close"):
        env.step(action)
    fresh = ChannelBudgetVectorEnv("stationary-3", 2)
    assert data_equivalence(env.reset(seed=5), fresh.reset(seed=5), exact=True) and not env.closed
    assert data_equivalence(env.step(action), fresh.step(action), exact=True)
    env.close()
    env.close()


def test_batched_segmented_family_steps_only_the_draws_its_rows_play(monkeypatch) -> None:
    """A segmented family's rows in ``batched`` mode: each step runs one transition per pool draw
    some row plays, not one per draw of the pool (3 rows of a 64-draw pool ran 64 a step, 30x
    slower at the default pool of 1,024); with a spend history and the noise off, every row is still
    the single environment of its draw."""
    import budgetgym.envs.vector_segments as vector_segments

    d = _quiet("overlap-5").model_dump(mode="json", exclude_none=True)
    d["segments"][0]["reach"]["social"] = {"dist": "uniform", "low": 0.4, "high": 0.7}
    family = family_from_dict({"family": "seg-pool", "seed": 2, "scenario": d})
    calls = []
    real = vector_segments.transition
    monkeypatch.setattr(vector_segments, "transition", lambda m, state, *a, **k: calls.append(len(
        state.exposure_buffer)) or real(m, state, *a, **k))
    vec = ChannelBudgetVectorEnv(family, 3, rng="batched", draw_pool=64)
    history = np.full((4, 5), 6000.0)
    obs = vec.reset(seed=4, options={"history": history})[0]
    draws = vec.scenarios
    refs = [ChannelBudgetEnv(sc) for sc in draws]
    assert_reordered_close(np.stack([e.reset(seed=0, options={"history": history})[0] for e in refs]), obs)
    rng = np.random.default_rng(0)
    for _ in range(4):
        calls.clear()
        a = rng.uniform(-1, 1, vec.action_space.shape).astype(np.float32)
        obs, reward, _, _, info = vec.step(a)
        assert len(calls) == len(set(vec.campaigns.draws.tolist())) and 0 not in calls
        single = [e.step(a[i]) for i, e in enumerate(refs)]
        assert_reordered_close(np.stack([s[0] for s in single]), obs)
        assert_reordered_close(np.array([s[4]["expected_reward"] for s in single]), info["expected_reward"])


def test_batched_family_history_carries_in_only_the_draws_its_rows_play(monkeypatch) -> None:
    """A reset with a spend history computes the carry-in of each pool draw some row plays, not of
    every draw of the pool (8 rows of the default 1,024-draw pool: 1.7 s a reset instead of 8 ms);
    with the noise off every row is still the single environment of its draw, history included."""
    import budgetgym.envs.vector_parts as vector_parts

    family = _quiet_family()
    calls = []
    real = vector_parts.carry_in
    monkeypatch.setattr(vector_parts, "carry_in", lambda *a, **k: calls.append(1) or real(*a, **k))
    vec = ChannelBudgetVectorEnv(family, 3, rng="batched", draw_pool=64)
    history = np.full((6, 5), 1500.0)
    obs = vec.reset(seed=5, options={"history": history})[0]
    assert len(calls) == len(set(vec.campaigns.draws.tolist()))
    refs = [ChannelBudgetEnv(sc) for sc in vec.scenarios]
    assert_reordered_close(np.stack([e.reset(seed=0, options={"history": history})[0] for e in refs]), obs)
    rng = np.random.default_rng(0)
    for _ in range(6):
        a = rng.uniform(-1, 1, vec.action_space.shape).astype(np.float32)
        obs, reward, _, _, info = vec.step(a)
        single = [e.step(a[i]) for i, e in enumerate(refs)]
        assert_reordered_close(np.stack([s[0] for s in single]), obs)
        assert_reordered_close(np.array([s[4]["expected_reward"] for s in single]), info["expected_reward"])
