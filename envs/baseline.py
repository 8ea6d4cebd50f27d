r"""The KPI baseline: what the KPI would be with no media at all.

A marketing-mix dataset's KPI is never media alone: organic demand, a trend, the calendar and
outside factors (competitors, prices, sentiment) move it too. With a scenario-level
``baseline`` block (:class:`~budgetgym.envs.scenario_parts.BaselineConfig`), step ``t`` (day
``d_t = start_day + t * step_days``) has the baseline

.. math::

    b_t = \max\Big(0,\; b_0\, \big(1 + g\, \tfrac{d_t - d_0}{365.25}\big)\, \text{season}(d_t)
          + \sum_j \gamma_j z_{j,t}\Big), \qquad B_t = b_t\, e^{\sigma \varepsilon_t - \sigma^2/2}

* :math:`b_0` ``level`` (KPI units per step: conversions, or currency for revenue and profit),
  :math:`g` ``trend`` (relative change per year), ``season`` the weekly-and-yearly multiplier of
  :func:`~budgetgym.envs.path.seasonal_multiplier` with the block's ``seasonality``;
* controls :math:`z_{j,t} = \mu_j + s_j u_{j,t}`, a stationary AR(1):
  :math:`u_{j,0} = \eta_{j,0}`, :math:`u_{j,t} = \rho_j u_{j,t-1} + \sqrt{1-\rho_j^2}\,\eta_{j,t}`,
  :math:`\eta \sim N(0, 1)`; :math:`\gamma_j` ``effect`` (KPI units per unit of the control);
* :math:`B_t` the realised baseline: a mean-one log-normal with log-sd :math:`\sigma`
  (``noise_sd``); for a conversions KPI with Poisson or negative-binomial noise, then a count
  around it with the scenario's conversion noise.

The controls, the log-normal noise and the counts are drawn with the episode's path
(:func:`~budgetgym.envs.path.sample_path`) from a child of the episode's generator
(``rng.spawn(1)``, which leaves the parent's stream where it was): adding a baseline to a
scenario changes none of its other draws, so the same seed gives the same rewards. The nominal path (no
generator) has every control at its mean and no noise. No action changes :math:`B_t`, so it is
**not** part of the reward (nor of the oracle's value); the environment reports it in ``info``
(``baseline``, ``baseline_expected``, ``controls``, and ``kpi`` = the step's conversions or
revenue plus the baseline: what a marketing-mix dataset records).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from budgetgym.envs.dynamics import draw_counts
from budgetgym.envs.scenario_parts import BaselineConfig, SeasonalComponent

__all__ = ["BaselinePath", "baseline_path"]


@dataclass(frozen=True)
class BaselinePath:
    """One episode's baseline (arrays over the steps)."""

    expected: np.ndarray  # [T] b_t: with the controls' values of this episode, before noise
    realised: np.ndarray  # [T] B_t: with the log-normal noise
    controls: np.ndarray  # [T, C] z_t
    control_names: tuple[str, ...]


def _season(component: SeasonalComponent, days: np.ndarray) -> np.ndarray:
    from budgetgym.envs.path import seasonal_multiplier  # the one calendar definition

    return seasonal_multiplier(component, days)


def baseline_path(
    config: BaselineConfig,
    days: np.ndarray,
    rng: np.random.Generator | None,
    counts: tuple[str, float] | None = None,
) -> BaselinePath:
    """Draw the baseline on ``days`` (module docstring); ``rng=None``: controls at their mean, no
    noise. Consumes ``standard_normal((T, C))``, ``standard_normal(T)`` and, with ``counts`` (the
    conversion noise's kind and dispersion, for a conversions KPI), the counts from ``rng``."""
    T, C = len(days), len(config.controls)
    z = np.zeros((T, C))
    if C:
        mu = np.array([c.mean for c in config.controls])
        sd = np.array([c.sd for c in config.controls])
        rho = np.array([c.autocorrelation for c in config.controls])
        if rng is not None:
            eta = rng.standard_normal((T, C))
            u = np.zeros((T, C))
            u[0] = eta[0]
            keep = np.sqrt(1.0 - rho**2)
            for t in range(1, T):
                u[t] = rho * u[t - 1] + keep * eta[t]
            z = mu + sd * u
        else:
            z = np.broadcast_to(mu, (T, C)).copy()
    effect = np.array([c.effect for c in config.controls])
    years = (days - days[0]) / 365.25 if T else days
    b = config.level * (1.0 + config.trend * years) * _season(config.seasonality, days)
    if C:
        b = b + z @ effect
    b = np.maximum(b, 0.0)
    realised = b.copy()
    if rng is not None:
        s = config.noise_sd
        realised = b * np.exp(s * rng.standard_normal(T) - 0.5 * s * s)
        if counts is not None:
            realised = draw_counts(realised, counts[0], counts[1], rng)
    for arr in (b, realised, z):
        arr.setflags(write=False)
    return BaselinePath(b, realised, z, tuple(c.name for c in config.controls))
