r"""What a simulated campaign's truth answers exactly: a lift test's steady-state lift and each
channel's response curve (for ``budgetgym simulate``'s ``truth/`` and lift tests, and for the planner's
predicted lifts under each draw of a family, :mod:`budgetgym.planner.voi`).

* **Lift** (:func:`true_lift`, :func:`true_lifts`, :func:`true_lifts_of`): the steady-state change of
  the KPI per period (conversions, or revenue for a revenue or profit reward) when one channel's spend
  per period moves from ``x`` by ``delta_x``, every channel held at its base spend: the difference of
  the plan values (:func:`~budgetgym.envs.evaluate_plan`, per step) of the two constant plans,
  averaged over the last year (``round(365.25 / step_days)`` periods) of a window that first runs at
  that spend for a year, or for the carry-over's and delay's lags when they are longer, on the nominal
  path without the scenario's shocks (no noise, nominal prices). A step shorter than 0.146 day leaves no such
  window within ``MAX_HORIZON`` steps: a one-line error naming ``step_days``.
* **Curves** (:func:`true_curves`): each channel's expected KPI per period at steady state against a
  constant spend per period, :meth:`~budgetgym.envs.dynamics.ChannelModel.steady_state_reward` with
  the carry-over's whole kernel (the scenario's horizon lengthened to it when shorter: a dataset of 8
  weeks held only 8 lags of a weekly decay of 0.8, and its curves read 36% below the steady state).
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np
import pandas as pd

from budgetgym.envs.dynamics import ChannelModel
from budgetgym.envs.errors import ScenarioError
from budgetgym.envs.history import CarryIn
from budgetgym.envs.kernels import adstock_kernel
from budgetgym.envs.path import ScenarioPath
from budgetgym.envs.plan_value import evaluate_campaigns, scenario_path
from budgetgym.envs.scenario import MAX_HORIZON, Scenario
from budgetgym.envs.scenario_parts import MAX_AMOUNT, MIN_AMOUNT

__all__ = ["CURVE_POINTS", "true_curves", "true_lift", "true_lifts", "true_lifts_of"]

#: Points per true response curve in ``truth/curves.csv``.
CURVE_POINTS = 41


def true_lift(sc: Scenario, base: np.ndarray, channel: int, delta_x: float) -> float:
    """The steady-state lift in KPI per period (conversions, or revenue) of moving ``channel``'s spend per period from
    ``base[channel]`` by ``delta_x``, every channel held at ``base`` (module docstring: the plan
    values of the two constant plans, averaged over a year after the warm-up)."""
    return float(true_lifts(sc, np.asarray(base, dtype=float)[None], np.array([channel]), np.array([delta_x]))[0])


def true_lifts(sc: Scenario, bases: np.ndarray, channels: np.ndarray, delta_x: np.ndarray) -> np.ndarray:
    """:func:`true_lift` of ``J`` tests at once, ``[J]``: test ``j`` moves channel ``channels[j]`` by
    ``delta_x[j]`` from ``bases[j]`` ``[J, K]`` (one pass of :func:`evaluate_plan` over the ``2J``
    constant plans)."""
    return true_lifts_of([sc], bases, channels, delta_x)[:, 0]


def true_lifts_of(scenarios: list[Scenario], bases: np.ndarray, channels: np.ndarray,
                  delta_x: np.ndarray) -> np.ndarray:
    """``[J, S]``: :func:`true_lifts` under each of ``scenarios`` (the planner's design values a test under
    each of a family's draws), the draws' rollouts batched (:func:`~budgetgym.envs.plan_value.evaluate_campaigns`,
    bit for bit :func:`evaluate_plan`'s)."""
    lo = np.asarray(bases, dtype=float)
    hi = lo.copy()
    J = len(lo)
    hi[np.arange(J), np.asarray(channels, dtype=int)] += np.asarray(delta_x, dtype=float)
    campaigns, plans, years = [], [], []
    for sc in scenarios:
        year = _year_of_steps(sc)
        probe = ChannelModel.from_scenario(sc.override({"horizon": 2 * year}))
        lags = probe.adstock.shape[1] + probe.delay_ring.shape[1] // 2
        horizon = max(2 * year, lags + year)
        X = np.repeat(np.concatenate([lo, hi])[:, None], horizon, axis=1)  # [2J, horizon, K]
        reward = "conversions" if sc.reward == "conversions" else "revenue"  # the KPI's (profit: its revenue)
        # the plans are valued, not paced: any valid budget does (their total over the window could pass
        # MAX_AMOUNT when a period's spend is valid); without the shocks, which fell on whichever periods of
        # the window share their step numbers (an outage in the averaged year cut the steady-state lift)
        budget = float(np.clip(X.sum(axis=(1, 2)).max(), MIN_AMOUNT, MAX_AMOUNT))
        long = sc.override({"horizon": horizon, "budget.total": budget, "reward": reward, "shocks": []})
        campaigns.append(_Campaign(long, ChannelModel.from_scenario(long), scenario_path(long), None))
        plans.append(X)
        years.append(year)
    steps = evaluate_campaigns(campaigns, plans, per_step=True)
    return np.stack([np.mean(s[J:, -y:] - s[:J, -y:], axis=1) for s, y in zip(steps, years, strict=True)], axis=1)


def _year_of_steps(sc: Scenario) -> int:
    """``round(365.25 / step_days)`` (at least 1): the periods a lift is averaged over. The window runs two of
    them, so a step shorter than ``365.25 / (MAX_HORIZON / 2)`` days (0.146: about 3.5 hours) leaves no window
    a campaign holds: a one-line error naming ``step_days`` (it had been a horizon the user never gave, or an
    ``OverflowError`` for a step of 5e-324 days)."""
    periods = 365.25 / sc.step_days
    if not math.isfinite(periods) or 2 * round(periods) > MAX_HORIZON:
        raise ScenarioError(
            f"scenario '{sc.name}': step_days {sc.step_days:g}: a lift is averaged over a year of steps "
            f"({periods:.3g}) in a window of two years, more than the {MAX_HORIZON} steps a campaign holds; "
            f"expected step_days of at least {365.25 / (MAX_HORIZON / 2):.3g} for lift tests"
        )
    return max(1, round(periods))


class _Campaign(NamedTuple):
    scenario: Scenario
    model: ChannelModel
    path: ScenarioPath
    carry: CarryIn | None



def _whole_kernels(sc: Scenario) -> Scenario:
    """``sc`` with a horizon at least its longest adstock kernel (a geometric one without a window runs
    until ``decay**l < 1e-8``, at most :data:`~budgetgym.envs.scenario.MAX_HORIZON` lags): its
    :attr:`~budgetgym.envs.dynamics.ChannelModel.held_adstock_sum` is then the kernel's whole sum."""
    longest = max(len(adstock_kernel(c.adstock, MAX_HORIZON)) for c in sc.channels)
    return sc if longest <= sc.horizon else sc.override({"horizon": longest})


def true_curves(sc: Scenario, plan: np.ndarray) -> pd.DataFrame:
    """Each channel's steady-state expected KPI per period against a constant spend per period, the other
    channels at 0 (which with segments matters: channels sharing a segment saturate it together; the
    carry-over's whole kernel, module docstring), from 0 to twice the larger of the channel's largest
    period in ``plan`` and its equal share of the scenario's spend per period, ``B / (T K)``."""
    m = ChannelModel.from_scenario(_whole_kernels(sc))
    frames = []
    for i, name in enumerate(sc.channel_names):
        top = 2.0 * max(float(plan[:, i].max()), sc.step_budget / sc.n_channels)
        x = np.linspace(0.0, top, CURVE_POINTS)
        spend = np.zeros((CURVE_POINTS, sc.n_channels))
        spend[:, i] = x
        kpi = m.steady_state_reward(spend)[:, i]  # conversions, or revenue (value per conversion)
        frames.append(pd.DataFrame({"channel": name, "spend": x, "kpi": kpi}))
    return pd.concat(frames, ignore_index=True)
