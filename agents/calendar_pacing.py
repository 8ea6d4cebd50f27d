r"""Calendar pacing: learn when spend works best from what was observed, and time the spend.

Under ``budget.pacing: agent`` an agent chooses how much of the budget to spend each step. A flat
``B/T`` ignores the calendar, while demand and prices move with the weekday and the season. A
:class:`CalendarPacer` learns the campaign's calendar effects online, from the step totals of
spend :math:`x_t` and value :math:`y_t` (conversions, or revenue for value rewards) and the
calendar of the brief (day :math:`d_t` of step ``t``), with the log-linear model

.. math::

    \log (y_t + c) = \alpha + b \log \tilde x_t + \sum_{k=1}^{6} \delta_k\, w_k(d_t)
                     + a_1 \cos\frac{2\pi d_t}{365.25} + a_2 \sin\frac{2\pi d_t}{365.25} + \varepsilon_t,

where :math:`\tilde x_t = (1-\lambda) \sum_l \lambda^l x_{t-l}` is the normalised carry-over of
spend (:math:`\lambda` from ``decay_grid`` by the smallest residual sum of squares), :math:`w_k`
weekday contrasts (sum-to-zero coding, Monday = day 0; only for daily steps) and ``c`` one
thousandth of the mean value (so that a zero does not break the log; 1 while every value is 0). It is a ridge regression
(penalty ``ridge`` on every coefficient but :math:`\alpha`; :math:`b` pulled towards
``prior_elasticity`` with the weight of ``prior_weight`` observations, then clipped to
``[0.1, 0.9]``). The calendar terms are kept only when they lower the Bayesian information
criterion :math:`n \log(\mathrm{RSS}/n) + p \log n` against the same fit without them; otherwise
every multiplier is 1 (a campaign with no calendar effect is paced flat, save for ``landed``).

The fitted calendar multiplier of a step is :math:`m_t = \exp(\sum_k \delta_k w_k(d_t) + a_1
\cos + a_2 \sin - \mu)`, :math:`\mu` the mean of the exponent over the campaign's ``T`` steps (their
geometric mean 1 before clipping), clipped to ``[1/max_ratio, max_ratio]``. If step totals enter the value as
:math:`m_t x_t^b` (a concave response with a calendar multiplier), spending the remaining budget
:math:`R` over the remaining steps to maximise :math:`\sum_s m_s x_s^b` gives
:math:`x_s \propto m_s^{1/(1-b)}`; the pacer plays that rule with the exponent capped at
``max_exponent`` and each step capped at the brief's ``step_cap`` (water-filling), so the whole
budget is spent by the end. Until ``min_steps`` steps were observed it spends ``B/T`` (with
optional ``explore_sd`` log-normal jitter; off by default: on ``pulse-4``'s S-curves a 0.15 jitter
cost greedy 4 points, and the prior on ``b`` makes the fit well-posed without it).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from budgetgym.agents.carry_over import episode_starts, normalised_adstock
from budgetgym.envs.brief import CampaignBrief

__all__ = ["CalendarFit", "CalendarPacer", "water_fill"]


def water_fill(weights: np.ndarray, total: float, cap: float) -> np.ndarray:
    """``x = min(cap, k w)`` with ``k`` such that ``sum(x) = min(total, cap * len(w))``."""
    w = np.maximum(np.asarray(weights, dtype=float), 1e-12)
    x = np.zeros_like(w)
    free = np.ones(len(w), dtype=bool)
    left = min(float(total), cap * len(w))
    while free.any() and left > 0:
        k = left / w[free].sum()
        trial = k * w
        over = free & (trial >= cap)
        if not over.any():
            x[free] = trial[free]
            break
        x[over] = cap
        left -= cap * over.sum()
        free &= ~over
    return x


@dataclass(frozen=True)
class CalendarFit:
    """The fitted model: elasticity ``b``, carry-over ``decay`` and a multiplier per step."""

    elasticity: float
    decay: float
    multipliers: np.ndarray  # [T]


class CalendarPacer:
    """Learns weekday and seasonal efficiency from observed step totals; paces the spend."""

    def __init__(
        self,
        brief: CampaignBrief,
        *,
        min_steps: int = 10,
        prior_elasticity: float = 0.5,
        prior_weight: float = 7.0,
        ridge: float = 2.0,
        decay_grid: tuple[float, ...] = (0.0, 0.3, 0.6),
        max_ratio: float = 2.0,
        max_exponent: float = 2.0,
        explore_sd: float = 0.0,
    ):
        self.brief = brief
        self.min_steps = min_steps
        self.prior_elasticity = prior_elasticity
        self.prior_weight = prior_weight
        self.ridge = ridge
        self.decay_grid = decay_grid
        self.max_ratio = max_ratio
        self.max_exponent = max_exponent
        self.explore_sd = explore_sd
        days = brief.step_day_index()
        cols = []
        if brief.step_days == 1.0:  # weekday contrasts need daily steps
            dow = np.floor(days).astype(int) % 7
            for k in range(1, 7):
                cols.append((dow == k).astype(float) - (dow == 0).astype(float))
        cols.append(np.cos(2 * np.pi * days / 365.25))
        cols.append(np.sin(2 * np.pi * days / 365.25))
        self.calendar = np.stack(cols, axis=1)  # [T, C]
        self.spend: list[float] = []
        self.value: list[float] = []
        self.steps: list[int] = []  # the campaign step of each observation (its calendar row)
        self._fitted: tuple[CalendarFit | None] | None = None  # the fit of the current observations

    def reset(self) -> None:
        self.spend, self.value, self.steps = [], [], []
        self._fitted = None

    def observe(self, spend: float, value: float, step: int | None = None) -> None:
        """The total spend and value of campaign step ``step``.

        ``step`` (``0..T-1``) picks the calendar row the observation is fitted with; ``None`` is the
        step after the last one observed (a single campaign observed from its start). An agent that
        keeps learning over several episodes passes it, so episode 2's step ``t`` is read on the
        calendar day of step ``t``, not of step ``T + t``.
        """
        self.spend.append(float(spend))
        self.value.append(max(float(value), 0.0))
        self.steps.append(self.step_of(step))
        self._fitted = None

    def step_of(self, step: int | None) -> int:
        """The calendar row an observation of campaign step ``step`` is fitted with (:meth:`observe`):
        ``step`` within ``0..T-1``, or with ``None`` the step after the last one observed."""
        t = (self.steps[-1] + 1 if self.steps else 0) if step is None else int(step)
        return min(max(t, 0), self.calendar.shape[0] - 1)

    def fit(self) -> CalendarFit | None:
        """The current fit, or ``None`` before ``min_steps`` observations (computed once per
        observation: the agent asks for it when fitting its curves and again when pacing)."""
        if self._fitted is None:
            self._fitted = (self._fit_now(),)
        return self._fitted[0]

    def _fit_now(self) -> CalendarFit | None:
        n = len(self.spend)
        if n < self.min_steps:
            return None
        x = np.asarray(self.spend)
        y = np.asarray(self.value)
        mean = float(y.mean())
        c = 1e-3 * mean if mean > 0.0 else 1.0  # relative: the fit does not depend on the value's unit
        target = np.log(y + c)
        rows = self.calendar[np.asarray(self.steps, dtype=int)]  # [n, C]: the observed steps' calendar
        starts = episode_starts(np.asarray(self.steps))  # the carry-over restarts with each episode
        fits = {use: self._fit(x, target, rows if use else None, starts) for use in (False, True)}
        # the calendar only when the data support it: the smaller Bayesian information criterion
        # n log(RSS/n) + p log n of the fits with and without the calendar terms
        bic = {use: n * np.log(max(rss, 1e-300) / n) + p * np.log(n) for use, (rss, _, _, p) in fits.items()}
        use = bic[True] < bic[False]
        _, coef, lam, _ = fits[use]
        b = float(np.clip(coef[1], 0.1, 0.9))
        T = self.calendar.shape[0]
        if not use:
            return CalendarFit(b, lam, np.ones(T))
        log_m = self.calendar @ coef[2:]
        log_m -= log_m.mean()
        m = np.clip(np.exp(log_m), 1.0 / self.max_ratio, self.max_ratio)
        return CalendarFit(b, lam, m)

    def _fit(
        self, x: np.ndarray, target: np.ndarray, calendar: np.ndarray | None, starts: np.ndarray | None = None
    ) -> tuple[float, np.ndarray, float, int]:
        """``(rss, coefficients, decay, parameters)`` of the ridge fit, the decay chosen by RSS;
        ``calendar``: the calendar terms of the observed steps ``[n, C]``, or ``None`` (no terms);
        ``starts``: the rows where an episode begins (:func:`~budgetgym.agents.carry_over.normalised_adstock`)."""
        n = len(x)
        best: tuple[float, np.ndarray, float, int] | None = None
        for lam in self.decay_grid:
            xt = normalised_adstock(x, lam, starts)
            cols = [np.ones(n), np.log(np.maximum(xt, 1e-9))]
            design = np.column_stack(cols + ([calendar] if calendar is not None else []))
            p = design.shape[1]
            penalty = np.full(p, self.ridge)
            penalty[0] = 0.0
            penalty[1] = self.prior_weight
            prior = np.zeros(p)
            prior[1] = self.prior_elasticity
            coef = np.linalg.solve(design.T @ design + np.diag(penalty), design.T @ target + penalty * prior)
            rss = float(((target - design @ coef) ** 2).sum())
            if best is None or rss < best[0]:
                best = (rss, coef, lam, p)
        assert best is not None
        return best

    def multiplier(self, t: int) -> float:
        """The fitted calendar multiplier of step ``t`` (1 before the first fit)."""
        fit = self.fit()
        return 1.0 if fit is None else float(fit.multipliers[min(t, len(fit.multipliers) - 1)])

    def step_spend(
        self,
        t: int,
        remaining: float,
        rng: np.random.Generator | None = None,
        landed: np.ndarray | None = None,
    ) -> float:
        """Spend for step ``t`` with ``remaining`` budget left (module docstring).

        ``landed`` (optional, ``[T - t]``): the share of a step's effect that lands before the
        horizon, per remaining step (from the agent's own carry-over and lag model); it multiplies
        the calendar multipliers, so spend moves away from the last steps when effects lag.
        """
        T = self.brief.horizon
        cap = self.brief.step_cap
        t = min(max(int(t), 0), T - 1)  # past the horizon (a final observation): plan as the last step
        fit = self.fit()
        if fit is None:
            base = self.brief.step_budget
            if rng is not None and self.explore_sd > 0:
                base *= float(np.exp(self.explore_sd * rng.standard_normal() - 0.5 * self.explore_sd**2))
            return float(min(base, remaining, cap))
        exponent = min(1.0 / (1.0 - fit.elasticity), self.max_exponent)
        value = fit.multipliers[t:T] * (1.0 if landed is None else np.maximum(np.asarray(landed, dtype=float), 1e-6))
        weights = value**exponent
        plan = water_fill(weights, remaining, cap)
        return float(min(plan[0], remaining))

    def observed_multipliers(self, fit: CalendarFit) -> np.ndarray:
        """The multiplier of ``fit`` at each observation's step, ``[n]`` (in observation order)."""
        return fit.multipliers[np.asarray(self.steps, dtype=int)]

    def state_dict(self) -> dict[str, Any]:
        return {"spend": list(self.spend), "value": list(self.value), "steps": list(self.steps)}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        spend, value = state.get("spend", []), state.get("value", [])
        # "steps" is absent from files saved before it was kept: one campaign from step 0
        steps = state.get("steps") or [None] * len(spend)
        self.reset()
        for x, y, t in zip(spend, value, steps, strict=True):
            self.observe(float(x), float(y), None if t is None else int(t))
