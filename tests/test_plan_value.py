"""The one definition of a plan's value: totals, per-step rewards, and the environment agree."""

from __future__ import annotations

import numpy as np
import pytest

from budgetgym.envs import ChannelBudgetEnv, evaluate_plan, load_scenario
from budgetgym.envs.errors import BudgetGymError


def play_equal_split(scenario, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Spend trace [T, K] and info["expected_reward"] per step of the equal split (action 0)."""
    env = ChannelBudgetEnv(scenario)
    env.reset(seed=seed)
    spend, rewards = [], []
    for _ in range(env.horizon):
        _, _, _, _, info = env.step(np.zeros(env.action_space.shape, dtype=np.float32))
        spend.append(info["spend"])
        rewards.append(info["expected_reward"])
    return np.array(spend), np.array(rewards)


def test_per_step_values_equal_the_env_step_by_step_through_an_outage() -> None:
    """shock-5: a price spike, an outage of social (days 28-32) and share bounds. The equal split
    keeps spending on social during the outage; that spend must buy nothing in both."""
    sc = load_scenario("shock-5")
    outage = next(s for s in sc.shocks if s.kind == "outage")
    social = sc.channel_names.index("social")
    spend, env_rewards = play_equal_split(sc, seed=4)
    assert spend[outage.start : outage.start + outage.duration, social].min() > 0
    steps = evaluate_plan(sc, spend, seed=4, per_step=True)
    assert isinstance(steps, np.ndarray) and steps.shape == (sc.horizon,)
    np.testing.assert_array_equal(steps, env_rewards)  # the same core, the same numbers
    total = evaluate_plan(sc, spend, seed=4)
    assert total == pytest.approx(float(np.sum(env_rewards)), rel=1e-12)
    # the outage matters: the same plan with social's outage spend moved to nothing else
    # still gives the same value (spend that buys nothing changes only the profit's cost)
    moved = spend.copy()
    moved[outage.start : outage.start + outage.duration, social] = 0.0
    diff = evaluate_plan(sc, moved, seed=4, per_step=True) - steps
    window = slice(outage.start, outage.start + outage.duration)
    np.testing.assert_allclose(diff[window], spend[window, social], rtol=1e-9)  # profit: cost saved
    np.testing.assert_allclose(np.delete(diff, np.arange(outage.start, outage.start + outage.duration)), 0.0, atol=1e-9)


def test_batches_return_one_row_per_plan() -> None:
    sc = load_scenario("stationary-3").override({"horizon": 5})
    rng = np.random.default_rng(0)
    plans = rng.uniform(0, sc.step_budget / 3, size=(4, 5, 3))
    steps = evaluate_plan(sc, plans, per_step=True)
    totals = evaluate_plan(sc, plans)
    assert steps.shape == (4, 5) and totals.shape == (4,)
    for n in range(4):
        np.testing.assert_array_equal(steps[n], evaluate_plan(sc, plans[n], per_step=True))
        assert totals[n] == pytest.approx(steps[n].sum(), rel=1e-13)


def test_bad_plans_are_one_line_errors() -> None:
    sc = load_scenario("stationary-3")
    with pytest.raises(BudgetGymError, match=r"plan: expected shape \(14, 3\) \(horizon, channels\), got \(3, 28\)"):
        evaluate_plan(sc, np.zeros((3, 28)))
    with pytest.raises(BudgetGymError, match="finite and non-negative"):
        evaluate_plan(sc, -np.ones((sc.horizon, 3)))


@pytest.mark.parametrize("bad", ["nan", "inf", "rows", "cols"])
def test_check_plan_reports_plans_the_environment_cannot_play(bad: str) -> None:
    """A plan with a NaN passed every check (each comparison with NaN is false), and a plan of the
    wrong shape raised a numpy broadcasting error or was judged by its total alone; both are
    plans the environment cannot play, so check_plan names the problem."""
    from budgetgym.envs import check_plan

    sc = load_scenario("stationary-3")
    T, K = sc.horizon, sc.n_channels
    shape = {"rows": (T + 3, K), "cols": (T, K + 1)}.get(bad, (T, K))
    X = np.full(shape, sc.step_budget / shape[1])
    if bad in ("nan", "inf"):
        X[2, 1] = float(bad)
    problems = check_plan(sc, X)
    assert problems and ("shape" in problems[0] if bad in ("rows", "cols") else "finite" in problems[0])
    assert check_plan(sc, np.full((T, K), sc.step_budget / K)) == []


def test_campaigns_batched_equal_their_own_rollouts_bit_for_bit() -> None:
    """evaluate_campaigns rolls many campaigns' plans out together (grouped by window): every value,
    total and per step, is evaluate_plan's to the bit, with and without a carry-in, for draws of
    different windows (some sharing one), a profit reward and a segmented scenario (valued alone)."""
    from budgetgym.envs.family import load_family
    from budgetgym.envs.plan_value import evaluate_campaigns
    from budgetgym.planner.problem import Member

    draws = load_family("retail-5-family").draws(8, "train")
    sc0 = draws[0]
    rng = np.random.default_rng(3)
    plans = rng.uniform(0.0, 2.0 * sc0.step_budget / sc0.n_channels, (4, sc0.horizon, sc0.n_channels))
    history = rng.uniform(0.0, sc0.step_budget / sc0.n_channels, (30, sc0.n_channels))
    profit = load_scenario("stationary-5").override({"reward": "profit"})
    overlap = load_scenario("overlap-5")
    for hist in (None, history):
        members = [Member.of(sc, hist) for sc in draws]
        batches = [plans] * len(members)
        if hist is None:  # other briefs too: each its own group
            members += [Member.of(profit, None), Member.of(overlap, None)]
            batches += [rng.uniform(0.0, s.step_budget / s.n_channels, (3, s.horizon, s.n_channels))
                        for s in (profit, overlap)]
        for per_step in (False, True):
            got = evaluate_campaigns(members, batches, per_step=per_step)
            for m, P, g in zip(members, batches, got, strict=True):
                want = evaluate_plan(m.scenario, P, path=m.path, model=m.model, history=m.carry, per_step=per_step)
                np.testing.assert_array_equal(g, want)
    with pytest.raises(BudgetGymError, match="one batch per campaign"):
        evaluate_campaigns(members, [plans])


def test_a_lone_campaign_is_rolled_out_on_its_own_arrays() -> None:
    """A group of one campaign (one scenario's plans: a single-scenario problem's member values, a
    scenario's lifts) is evaluate_plan's rollout: no per-row copies of its kernels, rings and path
    (they took 14 times evaluate_plan's memory for 2,000 lift plans of two daily years)."""
    import tracemalloc

    from budgetgym.envs.plan_value import evaluate_campaigns
    from budgetgym.planner.problem import Member

    sc = load_scenario("stationary-5").override({"horizon": 120})
    member = Member.of(sc, np.full((20, sc.n_channels), sc.step_budget / sc.n_channels))
    plans = np.random.default_rng(0).uniform(0.0, sc.step_budget / sc.n_channels, (300, sc.horizon, sc.n_channels))
    def traced(value):
        tracemalloc.start()
        try:
            return value(), tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()

    want, alone = traced(lambda: evaluate_plan(sc, plans, path=member.path, model=member.model, history=member.carry))
    got, batched = traced(lambda: evaluate_campaigns([member], [plans])[0])
    np.testing.assert_array_equal(got, want)
    assert batched <= 1.2 * alone + 100_000, f"peak {batched} bytes against evaluate_plan's {alone}"


def _campaigns_match(scenarios: list, histories: tuple[int, ...], batch: tuple[int, ...], seed: int) -> None:
    """evaluate_campaigns of ``scenarios`` (history lengths and plan counts cycled; 0: no history) against
    evaluate_plan of each, totals and per step, bit for bit and in the input order."""
    from budgetgym.envs.plan_value import evaluate_campaigns
    from budgetgym.planner.problem import Member

    rng = np.random.default_rng(seed)
    members, batches = [], []
    for j, sc in enumerate(scenarios):
        share = sc.step_budget / sc.n_channels
        H = histories[j % len(histories)]
        members.append(Member.of(sc, rng.uniform(0.0, 2.0 * share, (H, sc.n_channels)) if H else None))
        batches.append(rng.uniform(0.0, 3.0 * share, (batch[j % len(batch)], sc.horizon, sc.n_channels)))
    for per_step in (False, True):
        got = evaluate_campaigns(members, batches, per_step=per_step)
        assert len(got) == len(members)
        for m, P, g in zip(members, batches, got, strict=True):
            want = evaluate_plan(m.scenario, P, path=m.path, model=m.model, history=m.carry, per_step=per_step)
            np.testing.assert_array_equal(g, want)


@pytest.mark.parametrize("family", ["retail-5-family", "wide-family", "wide-agent-family"])
def test_campaigns_equal_their_own_rollouts_on_every_family(family: str) -> None:
    """Draws of each built-in family (every curve, adstock, delay and reward kind the families cover),
    mixed histories (none, short, longer than the windows) and plan counts: evaluate_plan's values."""
    from budgetgym.envs.family import load_family

    f = load_family(family)
    _campaigns_match([f.sample(i, "test") for i in range(10)], (0, 5, 40), (3, 3, 1), seed=1)


def test_campaigns_equal_their_own_rollouts_on_the_builtins_shuffled() -> None:
    """Every built-in scenario (segments, S-curves, shocks), rewards changed (profit, revenue), other
    horizons and family draws, in a shuffled order: each campaign gets its own values."""
    from budgetgym.envs.family import load_family
    from budgetgym.envs.scenario import list_scenarios

    scs = [load_scenario(n) for n in list_scenarios()]
    scs += [load_scenario(n).override({"reward": r})
            for n in ("stationary-5", "s-curve-5") for r in ("profit", "revenue")]
    scs += [load_scenario("stationary-5").override({"horizon": h}) for h in (5, 13, 60)]
    scs += [load_family("wide-family").sample(i, "test") for i in range(4)]
    order = np.random.default_rng(0).permutation(len(scs))
    _campaigns_match([scs[i] for i in order], (0, 9, 0, 30), (2, 1), seed=2)
    from budgetgym.envs.plan_value import evaluate_campaigns

    assert evaluate_campaigns([], []) == []


def test_channel_parts_sum_to_the_step_rewards_and_padded_windows_change_only_rounding() -> None:
    """``per_channel`` gives each channel's part of every step's reward (``w_i mu_i - c x_i``): a row's parts
    sum to evaluate_plan's per-step reward, with a carry-in and a profit reward; a channel's part depends on
    its own spend alone (the other channels' spend changed, the same numbers). ``with_windows`` pads the kernels
    with zero weights: the same rewards to ~1e-13 relative (numpy's pairwise sum groups the products otherwise),
    and ``padded_windows`` pads draws of many windows to a few powers of two (segments left as they are)."""
    from budgetgym.envs.family import load_family
    from budgetgym.envs.plan_value import evaluate_campaigns, padded_windows
    from budgetgym.planner.problem import Member

    draws = load_family("retail-5-family").draws(4, "train")
    draws += [load_scenario("stationary-5").override({"reward": "profit"})]
    rng = np.random.default_rng(5)
    for sc in draws:
        share = sc.step_budget / sc.n_channels
        m = Member.of(sc, rng.uniform(0.0, share, (20, sc.n_channels)))
        P = rng.uniform(0.0, 2.0 * share, (3, sc.horizon, sc.n_channels))
        want = evaluate_plan(sc, P, path=m.path, model=m.model, history=m.carry, per_step=True)
        parts = evaluate_campaigns([m], [P], per_channel=True)[0]
        assert parts.shape == (*P.shape[:2], sc.n_channels)
        np.testing.assert_allclose(parts.sum(axis=-1), want, rtol=1e-13, atol=1e-13 * np.abs(want).max())
        other = P.copy()
        other[:, :, 1:] = rng.uniform(0.0, 2.0 * share, other[:, :, 1:].shape)  # channel 0's spend kept
        np.testing.assert_array_equal(evaluate_campaigns([m], [other], per_channel=True)[0][..., 0], parts[..., 0])
        L, D = m.model.adstock.shape[1], m.model.delay.shape[1]
        padded = m.model.with_windows(2 * L + 3, D + 5)
        assert padded.adstock.shape[1] == 2 * L + 3 and padded.delay.shape[1] == D + 5
        got = evaluate_plan(sc, P, path=m.path, model=padded, history=m.carry, per_step=True)
        np.testing.assert_allclose(got, want, rtol=1e-13, atol=1e-13 * np.abs(want).max())
        with pytest.raises(ValueError, match="shorter"):
            padded.with_windows(L, D)
    overlap = Member.of(load_scenario("overlap-5"), None)
    members = [Member.of(sc, None) for sc in load_family("retail-5-family").draws(6, "train")]
    windows = {m.model.adstock.shape[1] for m in members}
    padded_members = padded_windows([*members, overlap])
    assert padded_members[-1] is overlap  # segments: as it is
    assert {m.model.adstock.shape[1] for m in padded_members[:-1]} <= {1, 2, 4, 8, 16, 32, 64, 128}
    assert len({m.model.adstock.shape[1] for m in padded_members[:-1]}) < len(windows)  # fewer groups
    P = rng.uniform(0.0, members[0].scenario.step_budget / 5, (2, members[0].scenario.horizon, 5))
    got = evaluate_campaigns(padded_members[:-1], [P] * len(members))
    want = evaluate_campaigns(members, [P] * len(members))
    np.testing.assert_allclose(got, want, rtol=1e-13)
    with pytest.raises(BudgetGymError, match="segments"):
        evaluate_campaigns([overlap], [np.zeros((1, overlap.scenario.horizon, 5))], per_channel=True)
    with pytest.raises(ValueError, match="segments"):
        overlap.model.with_windows(64, 64)
