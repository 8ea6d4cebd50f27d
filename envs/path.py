r"""The scenario's exogenous path: seasonality, drift and shocks over one episode.

Everything non-stationary in a scenario is folded into three multipliers per
step and channel, drawn once at ``reset`` (so the oracle can replay the same
path in hindsight):

* ``cost[t, i]``  multiplies channel i's unit price at step t,
* ``response[t, i]`` multiplies channel i's expected response at step t,
* ``delivery[t, i]`` is 0 while channel i is in an outage (it serves no exposure:
  the spend placed there buys nothing), else 1.

With ``d_t = start_day + t * step_days`` (days; day 0 is a Monday, 1 January):

.. math::

    \text{season}(d) = (1 + A_w \cos(2\pi (d - p_w)/7)) (1 + A_y \cos(2\pi (d - p_y)/365.25))

    \text{cost}_{t,i} = \text{season}_{cost}(d_t)\, \text{season}_{cost,i}(d_t) \prod_{\text{price shocks}} m

    \text{response}_{t,i} = \text{season}_{demand}(d_t)\, \text{season}_{demand,i}(d_t)\, e^{w_{t,i}}
    \prod_{\text{demand shocks}} m

    \text{delivery}_{t,i} = 0 \text{ during an outage of channel } i, \text{ else } 1

    w_{t,i} = (1 - \rho) w_{t-1,i} + \sigma_i \varepsilon_{t,i}, \quad w_{-1,i} = 0,
    \ \varepsilon \sim N(0, 1)

(``rho`` = ``drift.mean_reversion``, ``sigma_i`` = the channel's ``drift_sd`` or ``drift.sd``).
``season_demand`` and ``season_cost`` are the scenario's ``seasonality`` (shared by every
channel); ``season_demand,i`` and ``season_cost,i`` are channel i's own ``seasonality`` (same
form, default all amplitudes 0, i.e. exactly 1), so a channel can peak on its own days (search
on weekdays, social at the weekend, video in December) on top of the common calendar. All
multipliers are dimensionless and positive (amplitudes < 1); shocks multiply on top.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from budgetgym.envs.baseline import BaselinePath, baseline_path
from budgetgym.envs.scenario import Scenario, SeasonalComponent, SeasonalityConfig

__all__ = [
    "ScenarioPath",
    "drift_sd",
    "drift_step",
    "sample_path",
    "seasonal_multiplier",
    "seasonal_multipliers",
    "step_days",
]

_FLAT = SeasonalityConfig()  # no cycles: every multiplier is exactly 1


@dataclass(frozen=True)
class ScenarioPath:
    """Per-step, per-channel multipliers of one episode. Arrays of shape ``(horizon, n_channels)``."""

    cost: np.ndarray
    response: np.ndarray
    delivery: np.ndarray  # 0 during outages, else 1
    drift: np.ndarray  # log-effectiveness w[t, i], for inspection
    baseline: BaselinePath | None = None  # the KPI baseline, for scenarios with one (budgetgym.envs.baseline)


def day_index(start_day: float, days_per_step: float, t: np.ndarray) -> np.ndarray:
    """Day index ``d_t = start_day + t * step_days`` of steps ``t`` (days; day 0 is a Monday, 1 January;
    ``t < 0`` are the steps before the campaign): the campaign calendar's one definition."""
    return start_day + days_per_step * np.asarray(t, dtype=float)


def step_days(scenario: Scenario, t: np.ndarray | None = None) -> np.ndarray:
    """:func:`day_index` of the scenario's steps ``t`` (default: every step of the campaign)."""
    steps = np.arange(scenario.horizon) if t is None else t
    return day_index(scenario.start_day, scenario.step_days, steps)


def seasonal_multiplier(component: SeasonalComponent, days: np.ndarray) -> np.ndarray:
    """``(1 + A_w cos(2 pi (d - p_w)/7)) (1 + A_y cos(2 pi (d - p_y)/365.25))`` — always > 0."""
    weekly = 1.0 + component.weekly_amplitude * np.cos(2 * np.pi * (days - component.weekly_peak) / 7.0)
    yearly = 1.0 + component.yearly_amplitude * np.cos(2 * np.pi * (days - component.yearly_peak) / 365.25)
    return weekly * yearly


def seasonal_multipliers(
    scenario: Scenario, days: np.ndarray, drift: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """``(cost, response)`` multipliers ``[len(days), K]`` of the calendar alone on ``days``:
    the common and each channel's own seasonality (times ``drift``, the ``exp(w)`` factor, if
    given); no shocks. The one definition of the calendar, used for the episode's steps and for
    the steps of a spend history before it (:mod:`budgetgym.envs.history`)."""
    K = scenario.n_channels
    demand = seasonal_multiplier(scenario.seasonality.demand, days)[:, None]
    cost = np.repeat(seasonal_multiplier(scenario.seasonality.cost, days)[:, None], K, axis=1)
    response = np.repeat(demand, K, axis=1)
    if drift is not None:
        response = response * drift
    for i, c in enumerate(scenario.channels):  # each channel's own cycles (all-zero: skipped, exactly 1)
        if c.seasonality != _FLAT:
            cost[:, i] *= seasonal_multiplier(c.seasonality.cost, days)
            response[:, i] *= seasonal_multiplier(c.seasonality.demand, days)
    return cost, response


def drift_sd(scenario: Scenario) -> np.ndarray:
    """``sigma_i`` per channel: the channel's ``drift_sd``, else the scenario's ``drift.sd``."""
    return np.array([c.drift_sd if c.drift_sd is not None else scenario.drift.sd for c in scenario.channels])


def drift_step(prev: np.ndarray, eps: np.ndarray, sd: np.ndarray, keep: float | np.ndarray) -> np.ndarray:
    """One step of the drift walk: ``w_t = (1 - rho) w_{t-1} + sigma eps_t`` (``keep = 1 - rho``;
    broadcasts, so a batch of walks with one row each steps at once)."""
    return keep * prev + sd * eps


def sample_path(scenario: Scenario, rng: np.random.Generator | None) -> ScenarioPath:
    """Draw the episode's path. ``rng=None`` gives the nominal path (no drift).

    The draw consumes exactly one ``standard_normal((horizon, n_channels))`` from ``rng`` (a
    scenario's ``baseline`` is drawn from a child generator, ``rng.spawn(1)``, which does not
    advance ``rng``), so the environment and :func:`~budgetgym.envs.oracle.evaluate_plan` reproduce
    the same path from the same seed.
    """
    T, K = scenario.horizon, scenario.n_channels
    sd = drift_sd(scenario)
    w = np.zeros((T, K))
    if rng is not None:
        eps = rng.standard_normal((T, K))
        keep = 1.0 - scenario.drift.mean_reversion
        prev = np.zeros(K)
        for t in range(T):
            prev = drift_step(prev, eps[t], sd, keep)
            w[t] = prev
    cost, response = seasonal_multipliers(scenario, step_days(scenario), np.exp(w))
    delivery = np.ones((T, K))

    index = {name: i for i, name in enumerate(scenario.channel_names)}
    for shock in scenario.shocks:
        cols = [index[n] for n in shock.channels] if shock.channels is not None else list(range(K))
        rows = slice(shock.start, min(T, shock.start + shock.duration))
        if shock.kind == "price":
            cost[rows, cols] *= shock.multiplier
        elif shock.kind == "demand":
            response[rows, cols] *= shock.multiplier
        else:  # outage: the channel serves nothing
            delivery[rows, cols] = 0.0
    for arr in (cost, response, delivery, w):
        arr.setflags(write=False)
    # from a child generator (spawning does not advance ``rng``): a baseline leaves every other
    # draw of the episode, hence its rewards, exactly as they are without one
    base = None
    if scenario.baseline is not None:
        noise = scenario.noise
        counts = (noise.conversions, noise.dispersion) if scenario.reward == "conversions" else None
        child = rng.spawn(1)[0] if rng is not None else None
        base = baseline_path(scenario.baseline, step_days(scenario), child, counts)
    return ScenarioPath(cost=cost, response=response, delivery=delivery, drift=w, baseline=base)
