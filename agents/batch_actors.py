r"""Agents that act on a whole batch of episodes at once, each row exactly as the agent alone would.

:func:`budgetgym.agents.evaluate` plays many episodes (seeds, episodes, a family's draws) as the
rows of one :class:`~budgetgym.envs.vector_env.ChannelBudgetVectorEnv` when the agent has a
*batch actor* here (:func:`batch_actor`), and episode by episode otherwise. A batch actor
reproduces, row by row and bit for bit, what the evaluator's per-episode calls
(``agent.reset(seed)``, ``predict``, ``update``) produce:

* the fixed splits (``equal``, ``proportional``, ``historical``) and the ``oracle``'s plan replay
  (:class:`SplitBatchActor`): the split of a step (the constant split, or row ``t`` of each row's
  plan, normalised and projected as :meth:`~budgetgym.agents.fixed.SplitAgent.feasible` does),
  the logits of :func:`~budgetgym.envs.allocation.split_to_action`, and under agent pacing the
  entry :func:`~budgetgym.envs.allocation.spend_to_pacing_action` of the step's spend, with the
  budget each row's agent tracks (re-synchronised from ``info["remaining_budget"]`` when the
  evaluator lets agents learn, advanced by :func:`~budgetgym.envs.allocation.pacing_spend` when not);
* ``ppo`` (:class:`PredictBatchActor`): its deterministic ``predict`` on the batch, whose rows do not
  depend on the batch (:mod:`budgetgym.agents.ppo_forward`) when its policy is an MLP of linear
  layers and tanh/ReLU (:func:`~budgetgym.agents.ppo_forward.batch_independent`: any ``ppo`` built
  from a config; a model wrapped by ``PPOAgent.from_model`` may be another, then played one by one).

Other agents (online learners, recurrent policies, stochastic actions, subclasses) return
``None`` and are evaluated episode by episode. After a batch the agent has been ``reset`` with
each row's seed in the evaluator's order (after ``evaluate``, the last row's last), and its
per-episode counters (step, spend so far) are the last row's at the episode's end, as after
playing the episodes one by one (what ``agent.json`` saves).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

import numpy as np

from budgetgym.agents.fixed import EqualSplitAgent, HistoricalAgent, OracleAgent, ProportionalAgent, SplitAgent
from budgetgym.agents.ppo import PPOAgent
from budgetgym.agents.ppo_forward import batch_independent
from budgetgym.envs.allocation import project_rows, split_to_action

__all__ = ["BatchActor", "PredictBatchActor", "SplitBatchActor", "batch_actor"]


class BatchActor(Protocol):
    """One action per row of a batch of episodes (module docstring)."""

    def start(self, seeds: Sequence[int]) -> None:
        """New episodes with these environment seeds (the evaluator's ``agent.reset(seed)``)."""

    def act(self, observations: np.ndarray, t: int) -> np.ndarray:
        """Actions ``[n, A]`` (float32) for the observations ``[n, D]`` at step ``t``."""

    def update(self, info: dict[str, Any]) -> None:
        """The step's batched info (the evaluator's ``agent.update``)."""

    def finish(self, steps: int) -> None:
        """After ``steps`` steps of the batch: leave the agent as its last row's episode left it."""


class PredictBatchActor:
    """An agent whose ``predict`` on a batch gives every row its own action."""

    def __init__(self, agent: Any, deterministic: bool):
        self.agent, self.deterministic = agent, deterministic

    def start(self, seeds: Sequence[int]) -> None:
        for s in seeds:
            self.agent.reset(seed=s)

    def act(self, observations: np.ndarray, t: int) -> np.ndarray:
        return np.asarray(self.agent.predict(observations, deterministic=self.deterministic)[0], dtype=np.float32)

    def update(self, info: dict[str, Any]) -> None:
        pass

    def finish(self, steps: int) -> None:
        pass  # a deterministic policy keeps no per-episode state


class SplitBatchActor:
    """:class:`~budgetgym.agents.fixed.SplitAgent`'s step for every row (module docstring)."""

    def __init__(self, agent: SplitAgent[Any], learn: bool):
        self.agent, self.learn = agent, learn
        self.plans: np.ndarray | None = None  # [n, T, K] for the oracle
        self.spent = np.zeros(0)

    def start(self, seeds: Sequence[int]) -> None:
        plans: list[np.ndarray] = []
        for s in seeds:
            self.agent.reset(seed=s)
            if isinstance(self.agent, OracleAgent) and self.agent.plan is not None:
                plans.append(self.agent.plan)
        self.plans = np.stack(plans) if plans else None
        self.spent = np.zeros(len(seeds))

    def _feasible(self, split: np.ndarray) -> np.ndarray:
        """``SplitAgent.feasible`` of every row: normalised, projected onto the share bounds."""
        a = self.agent
        q = np.maximum(split, 0.0)
        with np.errstate(over="ignore"):
            total = q.sum(axis=-1, keepdims=True)
        over = (total == np.inf) & np.isfinite(q).all(axis=-1, keepdims=True)
        if over.any():  # finite values whose sum overflows: scaled by the row's largest first, as feasible does
            q = np.where(over, q / np.where(over, q.max(axis=-1, keepdims=True), 1.0), q)
            total = q.sum(axis=-1, keepdims=True)
        q = np.divide(q, total, out=np.full(q.shape, 1.0 / a.n_channels), where=total > 0)
        return project_rows(q, a.low, a.high)

    def act(self, observations: np.ndarray, t: int) -> np.ndarray:
        a, n = self.agent, len(self.spent)
        if self.plans is not None:
            row = self.plans[:, min(t, self.plans.shape[1] - 1)]
            split, want = self._feasible(row), row.sum(axis=-1)
        else:
            split = np.broadcast_to(a.feasible(a.choose_split(observations[0], True)), (n, a.n_channels))
            want = np.full(n, a.step_budget)
        logits = split_to_action(split, a.logit_scale)
        remaining = np.maximum(a.budget - self.spent, 0.0)
        if a.agent_pacing:
            room = np.maximum(0.0, np.minimum(remaining, a.step_cap))
            ratio = np.divide(2.0 * want, room, out=np.zeros(n), where=room > 0)
            u = np.where(room > 0, np.clip(ratio - 1.0, -1.0, 1.0), -1.0).astype(np.float32)
            total = 0.5 * (u.astype(np.float64) + 1.0) * room
            action = np.concatenate([logits, u[:, None].astype(np.float64)], axis=1)
        else:
            total = np.minimum(a.step_budget, remaining)
            action = logits
        self.spent = self.spent + total
        return np.clip(action, -1.0, 1.0).astype(np.float32)

    def update(self, info: dict[str, Any]) -> None:
        if self.learn:
            self.spent = self.agent.budget - np.asarray(info["remaining_budget"], dtype=float)

    def finish(self, steps: int) -> None:
        self.agent.t, self.agent.spent = steps, float(self.spent[-1])


def batch_actor(agent: Any, deterministic: bool, learn: bool) -> BatchActor | None:
    """The batch actor of ``agent``, or ``None`` when it must play episode by episode."""
    kind = type(agent)
    if kind in (EqualSplitAgent, ProportionalAgent, HistoricalAgent, OracleAgent):
        return SplitBatchActor(agent, learn)
    if kind is PPOAgent and deterministic and batch_independent(agent.model.policy):
        return PredictBatchActor(agent, deterministic)
    return None
