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
  constant spend per period, :meth:`~budgetgym.envs.channel_model.ChannelModel.steady_state_reward` with
  the carry-over's whole kernel (the scenario's horizon lengthened to it when shorter: a dataset of 8
  weeks held only 8 lags of a weekly decay of 0.8, and its curves read 36% below the steady state).
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from budgetgym.envs.dynamics import ChannelModel
from budgetgym.envs.errors import ScenarioError
from budgetgym.envs.kernels import adstock_kernel
from budgetgym.envs.plan_value import CampaignArrays, evaluate_campaigns, padded_windows, scenario_path
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
                  delta_x: np.ndarray, *, exact: bool = True) -> np.ndarray:
    """``[J, S]``: :func:`true_lifts` under each of ``scenarios`` (the planner's design values a test under
    each of a family's draws), the draws' rollouts batched (:func:`~budgetgym.envs.plan_value.evaluate_campaigns`,
    bit for bit :func:`evaluate_plan`'s).

    ``exact=False`` (the planner's predicted lifts, :func:`~budgetgym.planner.voi.predicted_lifts`; scenarios
    without segments, the others exactly): the same lifts to rounding, not to the bit, about six times faster
    on a daily bootstrap family (``benchmarks/bench_voi.py``). A channel's part of the reward depends on its own
    spend alone (no segments), so a test's lift is the difference of the tested channel's part
    (:func:`_channel_lifts`): each row of a rollout holds one level of every channel, a few rows for all the
    tests, not two plans a test; and the draws' kernels are zero-padded to a power of two of lags
    (:func:`~budgetgym.envs.plan_value.padded_windows`), so draws of different windows (a bootstrap family's
    geometric decays: ~75 windows among 100 draws) share a rollout. Both only regroup the sums: the lifts
    agree with ``exact``'s to ~1e-13 of the largest channel's reward (``tests/test_true_response.py``)."""
    lo = np.asarray(bases, dtype=float)
    hi = lo.copy()
    J = len(lo)
    tested = np.asarray(channels, dtype=int)
    hi[np.arange(J), tested] += np.asarray(delta_x, dtype=float)
    setups = [_lift_setup(sc) for sc in scenarios]
    fast = [not exact and sc.segments is None for sc in scenarios]
    out = np.zeros((J, len(scenarios)))
    slow = [k for k, f in enumerate(fast) if not f]
    if slow:  # two constant plans a test, the whole reward of each
        plans = [np.repeat(np.concatenate([lo, hi])[:, None], setups[k][1], axis=1) for k in slow]
        steps = evaluate_campaigns([_campaign(scenarios[k], plans[i]) for i, k in enumerate(slow)], plans,
                                   per_step=True)
        for k, s in zip(slow, steps, strict=True):
            y = setups[k][0]
            out[:, k] = np.mean(s[J:, -y:] - s[:J, -y:], axis=1)
    quick = [k for k, f in enumerate(fast) if f]
    if quick:
        out[:, quick] = _channel_lifts([scenarios[k] for k in quick], [setups[k] for k in quick], lo, hi, tested)
    return out


def _lift_setup(sc: Scenario) -> tuple[int, int]:
    """``(year, horizon)``: the periods a lift is averaged over and the window's steps (a year after the
    warm-up: two years, or the carry-over's and delay's lags and a year when longer)."""
    year = _year_of_steps(sc)
    probe = ChannelModel.from_scenario(sc.override({"horizon": 2 * year}))
    lags = probe.adstock.shape[1] + probe.delay_ring.shape[1] // 2
    return year, max(2 * year, lags + year)


def _campaign(sc: Scenario, X: np.ndarray) -> CampaignArrays:
    """The campaign valuing the constant plans ``X [n, horizon, K]`` of a lift on ``sc`` (module docstring)."""
    reward = "conversions" if sc.reward == "conversions" else "revenue"  # the KPI's (profit: its revenue)
    # the plans are valued, not paced: any valid budget does (their total over the window could pass
    # MAX_AMOUNT when a period's spend is valid); without the shocks, which fell on whichever periods of
    # the window share their step numbers (an outage in the averaged year cut the steady-state lift)
    budget = float(np.clip(X.sum(axis=(1, 2)).max(), MIN_AMOUNT, MAX_AMOUNT))
    long = sc.override({"horizon": X.shape[1], "budget.total": budget, "reward": reward, "shocks": []})
    return CampaignArrays(long, ChannelModel.from_scenario(long), scenario_path(long), None)


def _channel_lifts(scenarios: list[Scenario], setups: list[tuple[int, int]], lo: np.ndarray,
                   hi: np.ndarray, tested: np.ndarray) -> np.ndarray:
    """``[J, S]``: :func:`true_lifts_of`'s ``exact=False`` on scenarios without segments. Row ``r`` of a
    rollout spends channel ``i``'s ``r``-th level of those the tests need of it (their controls and tested
    levels: ``levels[i]``, the rows past them its first); test ``j``'s lift is the mean over the last year of
    channel ``tested[j]``'s part of the reward (:func:`evaluate_campaigns`' ``per_channel``) at its
    tested level less that at its control."""
    J, K = lo.shape
    levels = [np.unique(np.concatenate([lo[tested == i, i], hi[tested == i, i]])) for i in range(K)]
    rows = max(1, *(len(v) for v in levels))
    X1 = np.array([[v[r] if r < len(v) else (v[0] if len(v) else 0.0) for v in levels] for r in range(rows)])
    at_lo = np.array([int(np.searchsorted(levels[i], lo[j, i])) for j, i in enumerate(tested)], dtype=int)
    at_hi = np.array([int(np.searchsorted(levels[i], hi[j, i])) for j, i in enumerate(tested)], dtype=int)
    plans = [np.repeat(X1[:, None], horizon, axis=1) for _, horizon in setups]  # [rows, horizon, K]
    campaigns = padded_windows([_campaign(sc, X) for sc, X in zip(scenarios, plans, strict=True)])
    parts = evaluate_campaigns(campaigns, plans, per_channel=True)  # [rows, horizon, K] each
    out = np.zeros((J, len(scenarios)))
    for k, (part, (year, _)) in enumerate(zip(parts, setups, strict=True)):
        tail = part[:, -year:]  # [rows, year, K]
        out[:, k] = np.mean(tail[at_hi, :, tested] - tail[at_lo, :, tested], axis=1)
    return out


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




def _whole_kernels(sc: Scenario) -> Scenario:
    """``sc`` with a horizon at least its longest adstock kernel (a geometric one without a window runs
    until ``decay**l < 1e-8``, at most :data:`~budgetgym.envs.scenario.MAX_HORIZON` lags): its
    :attr:`~budgetgym.envs.channel_model.ChannelModel.held_adstock_sum` is then the kernel's whole sum."""
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
