r"""The value of a spend plan: the one definition that everything else calls.

A *plan* is the spend ``X[t, i]`` (currency) of every step ``t`` and channel ``i`` of an
episode. Its value is the expected (noise-free) episode reward under the scenario's true
dynamics on one episode *path* (the seasonality, drift, shocks and outages that
``env.reset(seed=s)`` draws; :func:`scenario_path`):

.. math::

    J(X) = \sum_{t=0}^{T-1} r_t(X), \qquad
    r_t(X) = \sum_i w_i\, \mu_{t,i}(X_{0..t}) - c \sum_i X_{t,i},

with :math:`\mu_{t,i}` the expected conversions that arrive at step ``t`` (cost, exposure,
delivery, carry-over, saturation and delay of :mod:`budgetgym.envs.dynamics`, noise off),
:math:`w_i` the reward weight (1 for conversions, the value per conversion for revenue and
profit) and :math:`c` = 1 for profit, else 0. :math:`r_t` is exactly the environment's
``info["expected_reward"]`` of step ``t`` when it plays ``X`` on the same path, so the
oracle, the evaluator, the experiment runner and the demo all compute "% of oracle" from
the same numbers.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any, NamedTuple, Protocol

import numpy as np
from gymnasium.utils import seeding

from budgetgym.envs.batch_model import ROW_FIELDS
from budgetgym.envs.dynamics import ChannelModel, DynamicsState, transition
from budgetgym.envs.errors import BudgetGymError
from budgetgym.envs.history import CarryIn, carry_in
from budgetgym.envs.path import ScenarioPath, sample_path
from budgetgym.envs.scenario import Scenario, load_scenario

__all__ = ["Campaign", "CampaignArrays", "check_plan", "evaluate_campaigns", "evaluate_plan", "padded_windows",
           "resolve_path", "scenario_path"]


def scenario_path(scenario: Scenario, seed: int | None = None) -> ScenarioPath:
    """The episode path that ``env.reset(seed=seed)`` draws; ``seed=None``: the nominal path
    (seasonality and shocks, no drift)."""
    if seed is None:
        return sample_path(scenario, None)
    rng, _ = seeding.np_random(seed)
    return sample_path(scenario, rng)


def resolve_path(
    scenario: str | Scenario, seed: int | None = None, path: ScenarioPath | None = None
) -> tuple[Scenario, ScenarioPath]:
    """The validated scenario and the path to use: ``path`` if given, else :func:`scenario_path`
    of ``seed``."""
    sc = load_scenario(scenario)
    return sc, (path if path is not None else scenario_path(sc, seed))


def evaluate_plan(
    scenario: str | Scenario,
    plan: np.ndarray,
    seed: int | None = None,
    *,
    path: ScenarioPath | None = None,
    model: ChannelModel | None = None,
    per_step: bool = False,
    history: object = None,
) -> float | np.ndarray:
    """Expected (noise-free) reward of a fixed spend plan, :math:`J(X)` or each :math:`r_t(X)`.

    Parameters
    ----------
    scenario : built-in name, YAML path or Scenario.
    plan : ``[T, K]`` spend per step and channel (currency), or a batch ``[N, T, K]``.
    seed : the episode seed whose path (drift) to use; ``None`` for the nominal path.
    path : an explicit path (e.g. ``env.unwrapped.path``), instead of ``seed``.
    model : the compiled scenario, when the caller has it already (saves the compile).
    per_step : return the reward of every step instead of the episode total.
    history : spend before the window (:data:`~budgetgym.envs.history.HistoryLike`, or a
        :class:`~budgetgym.envs.history.CarryIn`): the rollout starts from the state it leaves
        (:mod:`budgetgym.envs.history`), as ``env.reset(options={"history": ...})`` does.

    Returns
    -------
    ``per_step=False``: a float for one plan, an array ``[N]`` for a batch.
    ``per_step=True``: an array ``[T]`` for one plan, ``[N, T]`` for a batch (rows sum to the
    totals, in the same order of summation as the environment's episode).

    Raises
    ------
    BudgetGymError
        The plan has the wrong shape, or a negative or non-finite entry.
    """
    sc, p = resolve_path(scenario, seed, path)
    m = model if model is not None else ChannelModel.from_scenario(sc)
    X = _checked_plans(sc, plan)
    single = np.ndim(plan) == 2
    carry: CarryIn | None = carry_in(sc, history, m)
    steps = _rollout(m, X, p.cost, p.response, p.delivery, None if carry is None else (carry.adstock, carry.arrivals))
    if per_step:
        return steps[0] if single else steps
    total = _episode_total(steps)
    return float(total[0]) if single else total


class Campaign(Protocol):
    """What :func:`evaluate_campaigns` values plans on: a scenario, its compiled model, its path and its
    carry-in (e.g. :class:`~budgetgym.planner.problem.Member`)."""

    @property
    def scenario(self) -> Scenario: ...
    @property
    def model(self) -> ChannelModel: ...
    @property
    def path(self) -> ScenarioPath: ...
    @property
    def carry(self) -> CarryIn | None: ...


def evaluate_campaigns(
    campaigns: Sequence[Campaign], plans: Sequence[np.ndarray], *, per_step: bool = False, per_channel: bool = False
) -> list[np.ndarray]:
    """:func:`evaluate_plan` of ``plans[c]`` (``[N_c, T_c, K]``) on campaign ``c`` (its path, model and
    carry-in), for many campaigns at once: ``[N_c]`` (``per_step``: ``[N_c, T_c]``) per campaign, bit for bit
    :func:`evaluate_plan`'s. ``per_channel`` (campaigns without segments): ``[N_c, T_c, K]``, each channel's
    part of every step's reward, :math:`w_i \\mu_{t,i} - c X_{t,i}` (their sum is the step's reward, to rounding).

    The campaigns are rolled out together, one :func:`~budgetgym.envs.dynamics.transition` a step for
    every group that shares the plans' shape, the adstock and delay windows and the curve family: the
    group's model holds each row's parameters and kernels (``[rows, K]``, ``[rows, K, 2L]``), so every
    row runs the same floating-point operations as its own campaign's rollout (the carry-over sums
    in numpy's pairwise order depend on the window, hence the groups). Campaigns with segments are
    valued one by one, and a campaign alone in its group on its own arrays (:func:`evaluate_plan`'s
    rollout: per-row copies of its kernels and path would only cost memory)."""
    if len(plans) != len(campaigns):
        raise BudgetGymError(f"plans: expected one batch per campaign ({len(campaigns)}), got {len(plans)}")
    if per_channel and any(c.model.segments is not None for c in campaigns):
        raise BudgetGymError("per_channel: a campaign with segments credits its segments' rewards, not its channels'")
    per_step = per_step or per_channel
    Xs = [_checked_plans(c.scenario, P) for c, P in zip(campaigns, plans, strict=True)]
    groups: dict[tuple[Any, ...], list[int]] = {}
    for i, (c, X) in enumerate(zip(campaigns, Xs, strict=True)):
        m = c.model
        key = (i,) if m.segments is not None else (
            X.shape, m.adstock.shape[-1], m.delay.shape[-1], m.curve_family, m.spend_cost, c.carry is None)
        groups.setdefault(key, []).append(i)
    out: list[np.ndarray] = [np.zeros(0)] * len(campaigns)
    for members in groups.values():
        if len(members) == 1:  # alone: evaluate_plan's rollout on its own arrays (no per-row copies)
            c, X = campaigns[members[0]], Xs[members[0]]
            carry = None if c.carry is None else (c.carry.adstock, c.carry.arrivals)
            steps = _rollout(c.model, X, c.path.cost, c.path.response, c.path.delivery, carry, per_channel)
            out[members[0]] = steps if per_step else _episode_total(steps)
            continue
        n = Xs[members[0]].shape[0]
        cs = [campaigns[i] for i in members]
        m = _stacked_model([c.model for c in cs], n)

        carried = None
        if cs[0].carry is not None:
            carried = (_rows([c.carry.adstock for c in cs], n),  # type: ignore[union-attr]
                       _rows([c.carry.arrivals for c in cs], n))  # type: ignore[union-attr]
        steps = _rollout(m, np.concatenate([Xs[i] for i in members]), _rows([c.path.cost for c in cs], n),
                         _rows([c.path.response for c in cs], n), _rows([c.path.delivery for c in cs], n), carried,
                         per_channel)
        for k, i in enumerate(members):
            part = steps[k * n : (k + 1) * n]
            out[i] = part if per_step else _episode_total(part)
    return out


class CampaignArrays(NamedTuple):
    """A :class:`Campaign` as plain fields (e.g. one of :func:`padded_windows`)."""

    scenario: Scenario
    model: ChannelModel
    path: ScenarioPath
    carry: CarryIn | None


def padded_windows(campaigns: Sequence[Campaign]) -> list[Campaign]:
    """``campaigns`` with their kernels zero-padded to the next power of two of lags
    (:meth:`~budgetgym.envs.channel_model.ChannelModel.with_windows`; those with segments as they are), so that
    :func:`evaluate_campaigns` rolls out campaigns of many windows in a few groups: a bootstrap family's
    geometric decays give ~75 windows among 100 draws, each its own rollout, and 4 padded ones. The values are
    :func:`evaluate_plan`'s to rounding (numpy's pairwise sum over the longer rings groups the products
    otherwise: ~1e-13 relative, ``tests/test_plan_value.py``), not to the bit: for heuristics (the lift
    design's), never for a reported value."""
    out: list[Campaign] = []
    for c in campaigns:
        m = c.model
        if m.segments is not None:
            out.append(c)
            continue
        model = m.with_windows(_power_of_two(m.adstock.shape[-1]), _power_of_two(m.delay.shape[-1]))
        out.append(CampaignArrays(c.scenario, model, c.path, c.carry))
    return out


def _power_of_two(lags: int) -> int:
    """The next power of two of ``lags`` (1 stays 1: no carry-over)."""
    return 1 if lags <= 1 else 1 << (lags - 1).bit_length()


def _rows(arrays: list[np.ndarray], n: int) -> np.ndarray:
    """``[T, K]`` per campaign as ``[T, rows, K]``: ``n`` rows of each campaign, campaign after campaign."""
    return np.repeat(np.stack(arrays, axis=1), n, axis=1)


def _stacked_model(models: list[ChannelModel], n: int) -> ChannelModel:
    """One model whose rows are ``n`` copies of each of ``models`` (which share their windows and curve
    family): the per-channel fields ``[rows, K]`` and the kernels and their rings ``[rows, K, L]``."""

    def rows(name: str) -> np.ndarray:
        return np.repeat(np.stack([getattr(mm, name) for mm in models]), n, axis=0)

    fields: dict[str, Any] = {f: rows(f) for f in (*ROW_FIELDS, "adstock", "delay", "adstock_ring", "delay_ring")}
    return dataclasses.replace(models[0], **fields)


def _checked_plans(sc: Scenario, plan: np.ndarray) -> np.ndarray:
    """``plan`` as a float batch ``[N, T, K]`` (one plan ``[T, K]`` as a batch of one), or the error."""
    X = np.asarray(plan, dtype=float)
    X = X[None] if X.ndim == 2 else X
    if X.ndim != 3 or X.shape[1:] != (sc.horizon, sc.n_channels):
        raise BudgetGymError(
            f"plan: expected shape ({sc.horizon}, {sc.n_channels}) (horizon, channels), got {np.shape(plan)}"
        )
    if not np.all(np.isfinite(X)) or np.any(X < 0):
        raise BudgetGymError("plan: spend must be finite and non-negative")
    return X


def _rollout(
    m: ChannelModel, X: np.ndarray, cost: np.ndarray, response: np.ndarray, delivery: np.ndarray,
    carry: tuple[np.ndarray, np.ndarray] | None, per_channel: bool = False,
) -> np.ndarray:
    """``[N, T]``: the expected reward of every step of plans ``X`` ``[N, T, K]`` from rest, with the path's
    multipliers and the carry-in ``(A, M)`` indexed by step (``[T, K]``, or ``[T, N, K]`` per row);
    ``per_channel`` (no segments): ``[N, T, K]``, each channel's part of it (:func:`evaluate_campaigns`)."""
    N, T = X.shape[:2]
    state = DynamicsState.zeros(m, N)
    steps = np.zeros((N, T, X.shape[2]) if per_channel else (N, T))
    for t in range(T):
        carried = None if carry is None else (carry[0][t], carry[1][t])
        out = transition(m, state, t, X[:, t], cost[t], response[t], delivery=delivery[t], carried=carried)
        if per_channel:
            steps[:, t] = out.mean_conversions * m.reward_weight - m.spend_cost * X[:, t]
        else:
            steps[:, t] = out.expected_reward(m, X[:, t])
    return steps


def _episode_total(steps: np.ndarray) -> np.ndarray:
    """``[N]``: the rows of ``steps`` ``[N, T]`` summed step by step, as an episode's rewards are."""
    total = np.zeros(steps.shape[0])
    for t in range(steps.shape[1]):
        total += steps[:, t]
    return total


def check_plan(scenario: str | Scenario, plan: np.ndarray, rtol: float = 1e-7) -> list[str]:
    """Constraint violations of a plan (empty when the environment can play it).

    Checks: the shape ``[T, K]`` and finite entries (else that problem alone is reported);
    non-negative spend; total at most the budget ``B``; under ``even`` pacing every
    step spends ``B/T``; under ``agent`` pacing no step spends more than
    ``max_step_multiple * B/T``; every channel's share of its step within its bounds
    (all to a relative tolerance ``rtol`` of ``B/T``).
    """
    sc = load_scenario(scenario)
    X = np.asarray(plan, dtype=float)
    if X.shape != (sc.horizon, sc.n_channels):
        return [f"plan shape {X.shape}, expected ({sc.horizon}, {sc.n_channels}) (horizon, channels)"]
    if not np.all(np.isfinite(X)):
        return ["spend must be finite (a NaN or infinite entry)"]
    B, T = sc.budget.total, sc.horizon
    lo, hi = sc.share_bound_arrays
    tol = rtol * B / T
    problems = []
    if np.any(X < -tol):
        problems.append("negative spend")
    if X.sum() > B * (1 + rtol):
        problems.append(f"total spend {X.sum():.6g} exceeds the budget {B:.6g}")
    s = X.sum(axis=1)
    if sc.budget.pacing == "even" and np.any(np.abs(s - B / T) > tol):
        problems.append("even pacing: a step does not spend budget/horizon")
    if sc.budget.pacing == "agent" and np.any(s > sc.step_cap + tol):
        problems.append("agent pacing: a step spends more than max_step_multiple * budget/horizon")
    if np.any(X < lo * s[:, None] - tol) or np.any(X > hi * s[:, None] + tol):
        problems.append("a channel's share is outside its bounds")
    return problems
