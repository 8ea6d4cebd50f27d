r"""One evaluator for every agent: full episodes, scored against the oracle.

For each seed ``s`` and episode ``k`` the evaluator

1. derives the episode seed (``s`` for ``k = 0``, ``s + 1_000_003 k`` after),
2. calls ``agent.reset(seed)`` (a new campaign: online learners start from scratch),
   then ``env.reset(seed)``,
3. plays the episode: ``predict`` -> ``env.step`` -> ``agent.update`` each step,
4. scores it: ``expected_reward`` is the sum of the steps' noise-free rewards, which equals
   :func:`~budgetgym.envs.plan_value.evaluate_plan` of the spend actually made; ``oracle_reward``
   is the oracle's expected reward on the same episode path (a hindsight bound under drift),
   from the caller's ``oracle`` provider — by default :func:`solving_oracle`, which runs
   :func:`~budgetgym.envs.oracle.solve_oracle` once per distinct path — and

.. math:: \text{pct\_of\_oracle} = 100 \cdot \text{expected\_reward} / \text{oracle\_reward}

(:func:`pct_of_oracle`; ``nan`` when the oracle earns nothing, ``oracle_reward <= 0``: a profit
campaign whose best plan breaks even or loses, where the ratio would say nothing).

Scoring the expected rather than the realised reward removes the conversion
noise from the comparison (the realised ``reward`` is reported too).

Families. Given a :class:`~budgetgym.envs.family.ScenarioFamily` that varies, ``evaluate`` plays
``draws`` campaigns of one split (``test`` by default: held out, never trained on), every seed
and episode on each, and scores each against the oracle **of its own draw** (one solve per draw
and path). Rows carry ``draw`` and ``split``; for a plain scenario (a family of one) both are
``None``.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from budgetgym.agents.batch_actors import BatchActor, batch_actor
from budgetgym.envs.channel_env import ChannelBudgetEnv
from budgetgym.envs.draw_streams import checked_split
from budgetgym.envs.errors import BudgetGymError, is_integer
from budgetgym.envs.family import ScenarioFamily, Split, load_family
from budgetgym.envs.info_layout import InfoLayout, info_layout
from budgetgym.envs.oracle import solve_oracle
from budgetgym.envs.path import ScenarioPath
from budgetgym.envs.scenario import Scenario
from budgetgym.envs.vector_env import ChannelBudgetVectorEnv

__all__ = [
    "EpisodeResult",
    "OracleProvider",
    "evaluate",
    "episode_seed",
    "pct_of_oracle",
    "solving_oracle",
    "RESULT_COLUMNS",
]

#: ``oracle(scenario, draw, env_seed, path) -> float``: the oracle's expected reward of an episode
#: of ``scenario`` (the family's ``draw``, or ``None`` for a plain scenario) on ``path``.
OracleProvider = Callable[[Scenario, "int | None", int, ScenarioPath], float]

#: Episodes per vector env of the batched evaluator (more are played in several batches).
MAX_BATCH = 4096

RESULT_COLUMNS = [
    "scenario",
    "agent",
    "seed",
    "episode",
    "reward",
    "expected_reward",
    "oracle_reward",
    "pct_of_oracle",
    "spend",
    "train_steps",
    "wall_s",
]


def pct_of_oracle(expected_reward: float, oracle_reward: float) -> float:
    """``100 * expected_reward / oracle_reward``, the score of an episode; ``nan`` unless the
    oracle earns something (``oracle_reward > 0``).

    A ratio to an oracle that breaks even or loses (a profit campaign whose channels do not pay
    back) says nothing and inverts the ranking: with a negative oracle the agent that loses more
    scores higher, with an oracle near 0 the score is astronomically large.
    """
    return 100.0 * expected_reward / oracle_reward if oracle_reward > 0 else float("nan")



def episode_seed(seed: int, episode: int) -> int:
    """Environment seed of episode ``episode`` of evaluation seed ``seed``."""
    return int(seed) + 1_000_003 * int(episode)


@dataclass
class EpisodeResult:
    """One evaluated episode: the scalar row and the per-step traces."""

    scenario: str
    agent: str
    seed: int
    episode: int
    env_seed: int
    reward: float
    expected_reward: float
    oracle_reward: float
    spend: float
    train_steps: int
    wall_s: float
    channels: list[str]
    allocation: np.ndarray = field(repr=False)  # [T, K] spend per step and channel
    conversions: np.ndarray = field(repr=False)  # [T, K] realised conversions
    step_expected_reward: np.ndarray = field(repr=False)  # [T]
    step_reward: np.ndarray = field(repr=False)  # [T] realised
    draw: int | None = None  # the family's draw index (None: a plain scenario)
    split: str | None = None  # "train" or "test" for a family's draw

    @property
    def pct_of_oracle(self) -> float:
        """The episode's score, :func:`pct_of_oracle` of its expected and its oracle's reward."""
        return pct_of_oracle(self.expected_reward, self.oracle_reward)

    def row(self) -> dict[str, Any]:
        """The ``results.csv`` row (columns :data:`RESULT_COLUMNS`)."""
        return {
            "scenario": self.scenario,
            "agent": self.agent,
            "seed": self.seed,
            "episode": self.episode,
            "reward": self.reward,
            "expected_reward": self.expected_reward,
            "oracle_reward": self.oracle_reward,
            "pct_of_oracle": self.pct_of_oracle,
            "spend": self.spend,
            "train_steps": self.train_steps,
            "wall_s": self.wall_s,
        }

    def trace_rows(self) -> list[dict[str, Any]]:
        """Long-format per-step trace: ``step, channel, spend, conversions, expected_reward``."""
        rows = []
        for t in range(self.allocation.shape[0]):
            for i, name in enumerate(self.channels):
                rows.append(
                    {
                        "step": t,
                        "channel": name,
                        "spend": float(self.allocation[t, i]),
                        "conversions": float(self.conversions[t, i]),
                        "expected_reward": float(self.step_expected_reward[t]),
                    }
                )
        return rows


def solving_oracle() -> OracleProvider:
    """An oracle provider that solves each distinct (scenario, path) once (kept in memory)."""
    cache: dict[tuple[int, bytes], float] = {}
    keep: list[Scenario] = []  # keeps the scenarios alive, so their ids stay unique

    def provide(scenario: Scenario, draw: int | None, env_seed: int, path: ScenarioPath) -> float:
        key = (id(scenario), path.cost.tobytes() + path.response.tobytes() + path.delivery.tobytes())
        if key not in cache:
            keep.append(scenario)
            cache[key] = solve_oracle(scenario, path=path).expected_reward
        return cache[key]

    return provide


def evaluate(
    agent: Any,
    scenario: str | Path | Scenario | ScenarioFamily,
    seeds: Iterable[int] = (0,),
    episodes: int = 1,
    *,
    draws: int | None = None,
    split: Split = "test",
    deterministic: bool = True,
    learn: bool = True,
    oracle: OracleProvider | None = None,
    batch: bool = True,
) -> list[EpisodeResult]:
    """Run full episodes of ``agent`` and score each against the oracle.

    Parameters
    ----------
    agent : anything with ``predict`` (SB3's PolicyPredictor); ``reset(seed)`` and
        ``update(...)`` are called when present.
    scenario : the campaign to play: built-in name, YAML path, Scenario, or a scenario family
        (name, file or :class:`~budgetgym.envs.family.ScenarioFamily`).
    seeds : evaluation seeds (non-negative integers).
    episodes : episodes per seed (each a fresh campaign, see :func:`episode_seed`).
    deterministic : passed to ``predict``.
    learn : call ``agent.update`` after every step (online learners learn within the episode).
    draws : for a family that varies: how many of its draws to play (draws ``0 .. draws-1`` of
        ``split``; an explicit ensemble at most its members in ``split``, each once, as ``budgetgym run``
        plays them: :meth:`~budgetgym.envs.family.ScenarioFamily.split_draws`); required there, ignored for
        a plain scenario.
    split : ``"test"`` (held-out draws, the default) or ``"train"`` (in-distribution draws); anything else is an
        error, for a plain scenario too.
    oracle : ``oracle(scenario, draw, env_seed, path) -> float``, the oracle's expected reward of
        the episode; default :func:`solving_oracle` (one solve per distinct scenario and path).
        The experiment runner passes the values it solved once beforehand.
    batch : play every episode as a row of one vector env when the agent can act on a batch
        (:func:`~budgetgym.agents.batch_actors.batch_actor`: fixed splits, the oracle, ``ppo``
        deterministic with an MLP policy); the rows equal the episode-by-episode results (``batch=False``) exactly,
        except ``wall_s``, then the batch's wall time per episode. A family whose draws differ in
        their KPI baseline (one or none, its controls) plays each kind in batches of its own.
    """
    checked_split(split)  # checked for a plain scenario too, which has no splits to play
    family = load_family(scenario)
    if family.varies:
        if not is_integer(draws) or draws < 1:
            raise BudgetGymError(
                f"draws: family '{family.name}' varies; give draws=N (a positive integer), got {draws!r}"
            )
        campaigns: list[tuple[Scenario, int | None, str | None]] = [  # an ensemble's members at most once each
            (family.sample(d, split), d, split) for d in range(family.split_draws(int(draws), split))
        ]
    else:
        campaigns = [(family.nominal(), None, None)]
    if not is_integer(episodes) or episodes < 1:
        raise BudgetGymError(f"episodes: expected a positive integer, got {episodes!r}")
    try:
        given = list(seeds)
    except TypeError:  # seeds=5: an integer is not the range(5) an experiment file means by it
        raise BudgetGymError(f"seeds: expected a list of non-negative integers, got {seeds!r}") from None
    if any(not is_integer(s) or s < 0 for s in given):  # int(1.7) would play seed 1 silently
        raise BudgetGymError(f"seeds: expected non-negative integers, got {given}")
    if not given:  # no rows: every mean over them is NaN
        raise BudgetGymError(f"seeds: expected at least one seed, got {given}")
    seeds = [int(s) for s in given]
    name = str(getattr(agent, "name", type(agent).__name__))
    train_steps = int(getattr(agent, "train_steps", 0))
    provider = oracle if oracle is not None else solving_oracle()
    actor = batch_actor(agent, deterministic, learn) if batch else None
    if actor is not None:
        rows = [(sc, draw, sp, seed, ep) for sc, draw, sp in campaigns for seed in seeds for ep in range(episodes)]
        out: list[EpisodeResult | None] = [None] * len(rows)
        for chunk in _batches(rows):
            for i, res in zip(chunk, _batch(actor, [rows[i] for i in chunk], name, train_steps, provider), strict=True):
                out[i] = res
        return [res for res in out if res is not None]
    results = []
    for sc, draw, sp in campaigns:
        env = ChannelBudgetEnv(sc)
        for seed in seeds:
            for ep in range(episodes):
                res = _episode(agent, env, sc, name, seed, ep, deterministic, learn, train_steps, provider, draw)
                res.split = sp
                results.append(res)
    return results


def _episode(
    agent: Any,
    env: ChannelBudgetEnv,
    sc: Scenario,
    name: str,
    seed: int,
    ep: int,
    deterministic: bool,
    learn: bool,
    train_steps: int,
    oracle: OracleProvider,
    draw: int | None = None,
) -> EpisodeResult:
    t0 = time.perf_counter()
    env_seed = episode_seed(seed, ep)
    if hasattr(agent, "reset"):
        agent.reset(seed=env_seed)
    obs, _ = env.reset(seed=env_seed)
    T, K = sc.horizon, sc.n_channels
    allocation, conversions = np.zeros((T, K)), np.zeros((T, K))
    step_exp, step_rew = np.zeros(T), np.zeros(T)
    state, start = None, np.ones((1,), dtype=bool)
    for t in range(T):
        action, state = agent.predict(obs, state=state, episode_start=start, deterministic=deterministic)
        start = np.zeros((1,), dtype=bool)
        next_obs, reward, _, _, info = env.step(np.asarray(action).reshape(env.action_space.shape))
        if learn and hasattr(agent, "update"):
            agent.update(obs, action, float(reward), next_obs, info)
        allocation[t], conversions[t] = info["spend"], info["conversions"]
        step_exp[t], step_rew[t] = info["expected_reward"], float(reward)
        obs = next_obs
    wall = time.perf_counter() - t0
    oracle_reward = float(oracle(sc, draw, env_seed, env.path))
    return EpisodeResult(
        scenario=sc.name,
        agent=name,
        seed=seed,
        episode=ep,
        env_seed=env_seed,
        reward=float(step_rew.sum()),
        expected_reward=float(step_exp.sum()),
        oracle_reward=oracle_reward,
        spend=float(allocation.sum()),
        train_steps=train_steps,
        wall_s=wall,
        channels=sc.channel_names,
        allocation=allocation,
        conversions=conversions,
        step_expected_reward=step_exp,
        step_reward=step_rew,
        draw=draw,
    )


def _batches(rows: list[tuple[Scenario, int | None, str | None, int, int]]) -> list[list[int]]:
    """The indices of ``rows`` in the batches one vector env each plays, in row order within a batch.

    A vector env's rows share one info layout (audience segments or none, a KPI baseline or none and
    its controls: :func:`~budgetgym.envs.info_layout.info_layout`), so a family whose draws differ there plays
    each kind in batches of its own (at most :data:`MAX_BATCH` rows each). A kind holds whole
    campaigns (every seed and episode of a draw), so its batches end with the last seed's last
    episode: the agent's last ``reset`` is the one episode by episode makes.
    """
    groups: dict[InfoLayout, list[int]] = {}
    for i, (sc, *_) in enumerate(rows):
        groups.setdefault(info_layout(sc), []).append(i)
    return [idx[lo : lo + MAX_BATCH] for idx in groups.values() for lo in range(0, len(idx), MAX_BATCH)]


def _batch(
    actor: BatchActor,
    rows: list[tuple[Scenario, int | None, str | None, int, int]],
    name: str,
    train_steps: int,
    oracle: OracleProvider,
) -> list[EpisodeResult]:
    """Play ``rows`` (campaign, draw, split, seed, episode) as the rows of one vector env."""
    t0 = time.perf_counter()
    env_seeds = [episode_seed(seed, ep) for _, _, _, seed, ep in rows]
    venv = ChannelBudgetVectorEnv([r[0] for r in rows], rng="per_env")
    actor.start(env_seeds)
    obs, _ = venv.reset(seed=env_seeds)
    n, T, K = len(rows), venv.horizon, venv.n_channels
    allocation, conversions = np.zeros((n, T, K)), np.zeros((n, T, K))
    step_exp, step_rew = np.zeros((n, T)), np.zeros((n, T))
    for t in range(T):
        obs, reward, _, _, info = venv.step(actor.act(obs, t))
        actor.update(info)
        allocation[:, t], conversions[:, t] = info["spend"], info["conversions"]
        step_exp[:, t], step_rew[:, t] = info["expected_reward"], reward
    actor.finish(T)
    wall = (time.perf_counter() - t0) / n
    paths = venv.paths
    assert paths is not None
    results = []
    for i, (sc, draw, sp, seed, ep) in enumerate(rows):
        results.append(
            EpisodeResult(
                scenario=sc.name,
                agent=name,
                seed=seed,
                episode=ep,
                env_seed=env_seeds[i],
                reward=float(step_rew[i].sum()),
                expected_reward=float(step_exp[i].sum()),
                oracle_reward=float(oracle(sc, draw, env_seeds[i], paths[i])),
                spend=float(allocation[i].sum()),
                train_steps=train_steps,
                wall_s=wall,
                channels=sc.channel_names,
                allocation=allocation[i],
                conversions=conversions[i],
                step_expected_reward=step_exp[i],
                step_reward=step_rew[i],
                draw=draw,
                split=sp,
            )
        )
    return results
