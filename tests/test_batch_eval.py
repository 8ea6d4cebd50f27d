"""The batched evaluator equals the episode-by-episode one, row for row and bit for bit.

``evaluate(..., batch=True)`` (the default) plays fixed splits, the oracle's plan and a
deterministic PPO policy as the rows of one vector env; ``batch=False`` plays every episode
alone in a :class:`ChannelBudgetEnv`. Every field of every :class:`EpisodeResult` but the wall
time must agree exactly, in both pacing modes, with and without online updates, on a family's
draws and across batches.
"""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
from conftest import build_scenario, channel

import budgetgym.agents.evaluation as evaluation
import budgetgym.agents.fixed as fixed
from budgetgym.agents import evaluate, make_agent
from budgetgym.agents.base import list_agents
from budgetgym.agents.batch_actors import batch_actor
from budgetgym.agents.fixed import EqualSplitAgent
from budgetgym.envs import ChannelBudgetEnv
from budgetgym.envs.family import family_from_dict, load_family

FIELDS = ["scenario", "agent", "seed", "episode", "env_seed", "reward", "expected_reward", "oracle_reward",
          "spend", "train_steps", "draw", "split"]
TRACES = ["allocation", "conversions", "step_expected_reward", "step_reward"]

AGENT_PACED = build_scenario(
    horizon=6,
    budget={"total": 600.0, "pacing": "agent", "max_step_multiple": 2.0},
    channels=[channel("a", min_share=0.1), channel("b"), channel("c", max_share=0.5)],
    noise={"conversions": "poisson"},
    drift={"sd": 0.05},
)


# B/T and the steps' spends are not round numbers: the spend the environment reports differs in the
# last bits from the one the agent computes, so re-synchronising from ``info["remaining_budget"]``
# (learn=True) shows in the actions.
AGENT_PACED_ODD = build_scenario(
    horizon=3,
    budget={"total": 1.0, "pacing": "agent", "max_step_multiple": 2.5},
    channels=[channel("a", min_share=0.1), channel("b"), channel("c", max_share=0.5)],
    noise={"conversions": "poisson"},
)


def _path_value(scenario, draw, env_seed, path) -> float:
    """A stand-in for the oracle's value: a number that depends on the episode's path (so a row
    scored with the wrong path would differ) without solving anything."""
    return float(path.cost.sum() + 2.0 * path.response.sum() + env_seed)


def _same(batched: list, serial: list) -> None:
    assert len(batched) == len(serial)
    for b, s in zip(batched, serial, strict=True):
        assert [getattr(b, f) for f in FIELDS] == [getattr(s, f) for f in FIELDS]
        for f in TRACES:
            np.testing.assert_array_equal(getattr(b, f), getattr(s, f))
    assert len({r.wall_s for r in batched}) == 1  # played as one batch


@pytest.mark.parametrize("scenario", ["stationary-3", AGENT_PACED, AGENT_PACED_ODD], ids=["even", "agent", "agent-odd"])
@pytest.mark.parametrize(
    ("name", "params"),
    [("equal", {}), ("proportional", {"weights": [3, 1, 1]}), ("historical", {"spend": [1, 0, 2]}), ("oracle", {})],
)
@pytest.mark.parametrize("learn", [True, False])
def test_fixed_splits_and_oracle(scenario, name: str, params: dict, learn: bool) -> None:
    agent = make_agent(name, ChannelBudgetEnv(scenario), **params)
    assert batch_actor(agent, True, learn) is not None
    kw = {"seeds": [0, 9], "episodes": 2, "learn": learn, "oracle": _path_value}
    _same(evaluate(agent, scenario, **kw), evaluate(agent, scenario, batch=False, **kw))


def test_family_draws_and_several_batches(monkeypatch: pytest.MonkeyPatch) -> None:
    family = load_family("retail-5-family")
    agent = make_agent("equal", family.brief)
    kw = {"seeds": [0, 1], "draws": 3, "oracle": _path_value}
    serial = evaluate(agent, family, batch=False, **kw)
    _same(evaluate(agent, family, **kw), serial)
    monkeypatch.setattr(evaluation, "MAX_BATCH", 4)  # 6 episodes in batches of 4 and 2
    batched = evaluate(agent, family, **kw)
    assert [r.draw for r in batched] == [0, 0, 1, 1, 2, 2]
    assert len({r.wall_s for r in batched}) == 2
    for b, s in zip(batched, serial, strict=True):
        assert [getattr(b, f) for f in FIELDS] == [getattr(s, f) for f in FIELDS]


def test_deterministic_ppo_policy() -> None:
    pytest.importorskip("stable_baselines3")
    env = ChannelBudgetEnv(AGENT_PACED)
    agent = make_agent("ppo", env, seed=5)  # a fresh (untrained) MLP policy: any weights will do
    kw = {"seeds": range(5), "oracle": _path_value}
    _same(evaluate(agent, AGENT_PACED, **kw), evaluate(agent, AGENT_PACED, batch=False, **kw))
    assert batch_actor(agent, False, True) is None  # stochastic actions: episode by episode


def test_agents_without_a_batch_actor_play_one_by_one() -> None:
    agent = make_agent("ucb1", ChannelBudgetEnv("stationary-3"))
    assert batch_actor(agent, True, True) is None
    rows = evaluate(agent, "stationary-3", seeds=[0, 1], oracle=_path_value)
    assert [r.seed for r in rows] == [0, 1]


def test_ppo_policy_that_policy_mean_cannot_compute_plays_one_by_one() -> None:
    """A model wrapped by ``PPOAgent.from_model`` may have a policy ``policy_mean`` does not handle
    (here ELU activations): ``predict`` then falls back on SB3's, whose rows depend on the batch
    size, so batching it changed the rewards in the last bits. It must play episode by episode."""
    pytest.importorskip("stable_baselines3")
    import torch
    from stable_baselines3 import PPO

    from budgetgym.agents.ppo import PPOAgent

    fresh = make_agent("ppo", ChannelBudgetEnv("stationary-3"), seed=1)
    model = PPO("MlpPolicy", fresh.vec_normalize, policy_kwargs={"activation_fn": torch.nn.ELU,
                "net_arch": [64, 64]}, seed=3, device="cpu", n_steps=64, batch_size=64)
    gen = torch.Generator().manual_seed(0)
    for p in model.policy.parameters():  # weights far from 0: actions spread inside [-1, 1], not clipped
        p.data.normal_(0.0, 0.5, generator=gen)
    agent = PPOAgent.from_model(fresh.brief, model, fresh.vec_normalize, fresh.config, seed=3)
    assert batch_actor(agent, True, True) is None
    kw = {"seeds": range(8), "oracle": _path_value}
    serial = evaluate(agent, "stationary-3", batch=False, **kw)
    batched = evaluate(agent, "stationary-3", **kw)
    for b, s in zip(batched, serial, strict=True):
        assert [getattr(b, f) for f in FIELDS] == [getattr(s, f) for f in FIELDS]


@pytest.mark.parametrize(("seed", "split", "first"), [(5, "train", True), (4, "test", False)],
                         ids=["baseline-first", "plain-first"])
def test_family_whose_draws_differ_in_their_kpi_baseline(seed: int, split: str, first: bool) -> None:
    """An ensemble may give some draws a KPI baseline (or other controls) and not others; a vector
    env takes the baseline's shape from its first row, so one batch of them crashed (first draw with
    a baseline, a later one without) in the batched evaluator only."""
    with_price = {"baseline": {"level": 3.0, "controls": [{"name": "price", "mean": 1.0, "sd": 0.1, "effect": 2.0}]}}
    kinds = [{"baseline": {"level": 3.0}}, {}, with_price]
    family = family_from_dict(
        {"family": "mixed", "seed": seed, "scenario": "stationary-3", "ensemble": kinds * 2, "test_fraction": 0.5}
    )
    drawn = [family.sample(d, split).baseline for d in range(3)]  # every kind, in the order the test wants
    assert (drawn[0] is not None) == first
    assert {None if b is None else len(b.controls) for b in drawn} == {None, 0, 1}
    agent = make_agent("oracle", family.nominal(), n_random_starts=0)
    kw = {"seeds": [0, 1], "draws": 3, "split": split, "oracle": _path_value}  # each of the split's 3 members
    serial = evaluate(agent, family, batch=False, **kw)
    serial_plan_seed = agent.plan_seed
    batched = evaluate(agent, family, **kw)
    assert agent.plan_seed == serial_plan_seed == batched[-1].env_seed  # the last reset: the last row's seed
    assert [r.draw for r in batched] == [0, 0, 1, 1, 2, 2]
    for b, s in zip(batched, serial, strict=True):
        assert [getattr(b, f) for f in FIELDS] == [getattr(s, f) for f in FIELDS]
        for f in TRACES:
            np.testing.assert_array_equal(getattr(b, f), getattr(s, f))


EVEN_BOUNDED = build_scenario(  # the equal split is outside the share bounds
    horizon=6,
    budget={"total": 600.0, "pacing": "even"},
    channels=[channel("a", min_share=0.5), channel("b"), channel("c", max_share=0.2)],
    noise={"conversions": "poisson"},
)


@pytest.mark.parametrize("scenario", [EVEN_BOUNDED, AGENT_PACED], ids=["even", "agent"])
@pytest.mark.parametrize("learn", [True, False])
def test_oracle_replay_of_any_plan(monkeypatch: pytest.MonkeyPatch, scenario, learn: bool) -> None:
    """The oracle's solved plans are feasible splits, so the batch replay's own normalisation and
    projection (a zero row, negative entries, shares outside the bounds) was never exercised: here
    each seed's "plan" is such a matrix, and the batched rows must still equal the agent's own steps."""

    def plan_of(scenario, seed=None, n_random_starts=0):
        plan = np.random.default_rng(seed).uniform(0.0, 80.0, (6, 3))
        plan[1] = 0.0  # nothing to spend: the equal split, projected onto the bounds
        plan[2] = [-50.0, 30.0, 120.0]  # a negative entry (the split ignores it, the step total not), c over its cap
        plan[3] = [0.0, 0.0, 50.0]  # all on c
        plan[4] = [300.0, 100.0, 100.0]  # more than the step cap (2 B/T under agent pacing)
        return SimpleNamespace(plan=plan)

    monkeypatch.setattr(fixed, "solve_oracle", plan_of)
    agent = make_agent("oracle", ChannelBudgetEnv(scenario))
    assert batch_actor(agent, True, learn) is not None
    kw = {"seeds": [0, 3, 3], "learn": learn, "oracle": _path_value}
    _same(evaluate(agent, scenario, **kw), evaluate(agent, scenario, batch=False, **kw))


@pytest.mark.parametrize("learn", [True, False])
@pytest.mark.parametrize("name", ["equal", "oracle"])
def test_agent_ends_as_episode_by_episode(name: str, learn: bool) -> None:
    """After a batch the agent's saved state (step, spend so far: ``agent.json``) is what playing the
    episodes one by one leaves, the last episode's end (it was the start of one, t = 0, spent 0)."""
    states = []
    for batch in (True, False):
        kw = {"n_random_starts": 0} if name == "oracle" else {}
        agent = make_agent(name, ChannelBudgetEnv(AGENT_PACED_ODD), **kw)
        evaluate(agent, AGENT_PACED_ODD, seeds=[0, 4], learn=learn, batch=batch, oracle=_path_value)
        states.append(agent.state_dict())
    batched, serial = states
    assert serial["t"] == AGENT_PACED_ODD.horizon and serial["spent"] > 0.5  # the case under test
    assert {k: batched[k] for k in ("t", "spent")} == {k: serial[k] for k in ("t", "spent")}


def test_which_agents_are_batched() -> None:
    """Exactly the fixed splits, the oracle and deterministic ``ppo`` act on a batch; every online
    learner, ``recurrent_ppo`` (its LSTM state) and a subclass (its own ``choose_split``) plays one by one."""
    pytest.importorskip("sb3_contrib")
    env = ChannelBudgetEnv("stationary-3")
    params = {"proportional": {"weights": [1, 2, 3]}, "historical": {"spend": [1, 2, 3]}}
    fixed_, learner = (True, True), (False, False)  # batched with (deterministic, learn), (stochastic, not learning)
    expected = {
        "epsilon_greedy": learner, "equal": fixed_, "greedy": learner, "historical": fixed_,
        "model_thompson": learner, "oracle": fixed_, "ppo": (True, False), "proportional": fixed_,
        "recurrent_ppo": learner, "thompson": learner, "ucb1": learner,
    }
    assert set(expected) <= set(list_agents())  # (other tests register agents of their own)
    for name, want in expected.items():
        agent = make_agent(name, env, **params.get(name, {}))
        assert (batch_actor(agent, True, True) is not None, batch_actor(agent, False, False) is not None) == want, name

    class AllOnSearch(EqualSplitAgent):
        def choose_split(self, observation: np.ndarray, deterministic: bool) -> np.ndarray:
            return np.array([1.0, 0.0, 0.0])

    agent = AllOnSearch(env.brief, EqualSplitAgent.Params())
    assert batch_actor(agent, True, True) is None
    rows = evaluate(agent, "stationary-3", seeds=[0, 1], oracle=_path_value)
    assert all(r.allocation[:, 1:].sum() == 0.0 < r.allocation[:, 0].sum() for r in rows)


def _any_plan(scenario, seed=None, n_random_starts=0):
    """A stand-in for the oracle agent's solved plan: a seeded spend matrix (no solve)."""
    rng = np.random.default_rng(seed)
    return SimpleNamespace(plan=rng.uniform(0.0, 2.0 * scenario.step_budget / scenario.n_channels,
                                            (scenario.horizon, scenario.n_channels)))


@pytest.mark.parametrize(
    "source",
    ["overlap-5", "launch-5", "holiday-5", "delayed-5", "large-50", "wide-family", "wide-agent-family"],
)
def test_builtins_batched_equal_serial(monkeypatch: pytest.MonkeyPatch, source: str) -> None:
    """Built-ins beyond the hand-made scenarios above: audience segments (overlap-5), an outage
    (launch-5), agent pacing with value noise (holiday-5), negative-binomial counts (delayed-5),
    50 channels (large-50), and families whose draws differ in noise model and shocks (wide-*):
    a fixed split and the oracle's (stand-in) plans, two seeds, two episodes, row for row."""
    monkeypatch.setattr(fixed, "solve_oracle", _any_plan)
    family = load_family(source)
    K = family.brief.n_channels
    kw = {"seeds": [0, 9], "episodes": 2, "oracle": _path_value, **({"draws": 2} if family.varies else {})}
    for agent in (make_agent("proportional", family.brief, weights=list(range(1, K + 1))),
                  make_agent("oracle", family.nominal())):
        _same(evaluate(agent, family, **kw), evaluate(agent, family, batch=False, **kw))


def test_deterministic_ppo_on_a_familys_draws() -> None:
    """A deterministic PPO policy on an agent-paced family's draws: one batch of every draw and
    seed, each row the episode played alone."""
    pytest.importorskip("stable_baselines3")
    family = load_family("wide-agent-family")
    agent = make_agent("ppo", family.brief, seed=2)
    kw = {"seeds": [0], "draws": 2, "oracle": _path_value}
    _same(evaluate(agent, family, **kw), evaluate(agent, family, batch=False, **kw))


def test_default_solving_oracle_batched_equals_serial(oracle_solves: list[int]) -> None:
    """Without an ``oracle`` provider both evaluators solve the oracle of each episode's own path
    (``solving_oracle``): the same ``oracle_reward`` per row, one solve per distinct path."""
    sc = build_scenario(horizon=4, n_channels=2, noise={"conversions": "poisson"}, drift={"sd": 0.1})
    agent = make_agent("equal", ChannelBudgetEnv(sc))
    batched = evaluate(agent, sc, seeds=[0, 1])
    solves = len(oracle_solves)
    _same(batched, evaluate(agent, sc, seeds=[0, 1], batch=False))
    assert solves == len(oracle_solves) - solves == 2  # drift: a path per seed
