r"""Greedy marginal ROI: fit a concave response per channel online, allocate by marginal return.

Registry name: ``greedy``.

Each step the agent fits, for every channel ``i``, a log-log response curve to the campaign's
observations so far (spend ``x_{t,i}`` from ``info["spend"]`` and the channel's value
``y_{t,i}``: ``info["conversions"]`` for a conversions reward, ``info["revenue"]`` otherwise),

.. math::

    \log y_{t,i} = \alpha_i + b_i \log \tilde x_{t,i} + \varepsilon_t, \qquad
    \tilde x_{t,i} = (1 - \lambda_i) \sum_{l \ge 0} \lambda_i^l x_{t-l,i},

i.e. :math:`y = A_i \tilde x^{b_i}` with :math:`A_i = e^{\alpha_i}`, on the *normalised*
adstock :math:`\tilde x` (weights summing to one, zero before the campaign and, learning over several
episodes, before each episode), so a steady spend
``x`` has :math:`\tilde x = x` and the steady-state response is :math:`A_i x^{b_i}`. The fit is
a weighted ridge least squares (weights :math:`\gamma^{\text{age}}`, ``discount``; only the last
``window`` steps) with a prior pulling :math:`b_i` towards ``prior_elasticity`` with the weight
of ``prior_weight`` observations; :math:`b_i` is then clipped to ``[min_elasticity, 1]`` so the
curve is concave. The carry-over :math:`\lambda_i` is chosen per channel from ``decay_grid`` by
the smallest weighted residual sum of squares.

Allocation (Meridian-style marginal ROI hill climb) of the step's total :math:`S_t` (currency): under even
pacing :math:`\min(B/T, R_t)`; under agent pacing what the step will spend, :math:`(u+1)/2 \cdot \min(R_t,
\text{step\_cap})` for the float32 pacing entry :math:`u` of the wanted spend (:math:`R_t`: the budget left;
:meth:`~budgetgym.agents.base.BaseAgent.pace`), chosen before the split. It maximises
:math:`\sum_i A_i x_i^{b_i}` subject to :math:`\sum_i x_i = S_t` and the share bounds: start every channel at
its lower share bound, then hand out the rest of :math:`S_t` in ``grid_size`` equal increments
:math:`\delta`, each to the channel with the largest estimated incremental return
:math:`A_i ((x_i + \delta)^{b_i} - x_i^{b_i})` that stays within its upper bound. For concave
curves this is the optimum of the fitted steady-state problem up to one increment; with different
:math:`b_i` the optimum depends on :math:`S_t` (a larger total moves spend toward the channel with the larger
:math:`b_i`, the less saturated one), so a busy step is split for its own total, not for :math:`B/T`.

Exploration: the first ``explore_steps`` steps (default ``K + 1``) play the equal split with log-normal
perturbations of sd ``explore_sd`` (so that spend varies per channel and the slopes are
identifiable); afterwards the greedy split is perturbed with sd ``jitter`` (0 disables it).
Under agent pacing the agent spends ``B/T`` per step (see :mod:`budgetgym.agents.fixed`), or,
with ``calendar_pacing`` (the default), what :mod:`budgetgym.agents.calendar_pacing` learns to
spend by weekday and season; the curve fits are then deflated by the learned calendar.
``deterministic`` is ignored: the perturbations come from the agent's RNG, reseeded by
``reset(seed)``; per step the pacer draws first (nothing unless its ``explore_sd`` is set), then the
split's perturbation.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from pydantic import Field, field_validator, model_validator

from budgetgym.agents.base import AgentParams, register_agent
from budgetgym.agents.calendar_pacing import CalendarPacer
from budgetgym.agents.carry_over import episode_starts, normalised_adstock
from budgetgym.agents.fixed import SplitAgent
from budgetgym.envs.brief import CampaignBrief
from budgetgym.envs.errors import BudgetGymError, count

__all__ = ["ChannelFit", "GreedyAgent", "GreedyParams", "fit_channel", "greedy_allocation", "normalised_adstock"]


class GreedyParams(AgentParams):
    grid_size: int = Field(40, ge=2, le=10_000, description="budget increments of the hill climb per step")
    explore_steps: int | None = Field(
        None, ge=0, le=100_000, description="initial steps of perturbed equal splits; default K + 1"
    )
    explore_sd: float = Field(0.5, ge=0, le=5, description="log-sd of the share perturbations while exploring")
    jitter: float = Field(0.1, ge=0, le=5, description="log-sd of the perturbation of the greedy split")
    calendar_pacing: bool = Field(
        True, description="agent pacing: time the spend by learned weekday/seasonal effects (calendar_pacing.py)"
    )
    discount: float = Field(1.0, gt=0, le=1, description="weight gamma**age of an observation")
    window: int | None = Field(None, ge=2, le=1_000_000, description="fit on the last `window` steps only")
    decay_grid: list[float] = Field(
        default_factory=lambda: [0.0, 0.3, 0.6], description="candidate carry-over decays lambda"
    )
    prior_elasticity: float = Field(0.5, gt=0, le=1, description="prior value of the log-log slope b")
    prior_weight: float = Field(2.0, ge=0, le=1e6, description="weight of the prior, in observations")
    min_elasticity: float = Field(0.05, gt=0, le=1, description="smallest slope b (keeps curves concave)")
    min_observations: int = Field(3, ge=2, le=100_000, description="observations before fitting")

    @field_validator("decay_grid")
    @classmethod
    def _decays(cls, value: list[float]) -> list[float]:
        if not value:
            raise ValueError("expected at least one decay")
        if any(not (0.0 <= d < 1.0) for d in value):
            raise ValueError(f"decays must be in [0, 1), got {value}")
        return sorted({float(d) for d in value})

    @model_validator(mode="after")
    def _consistent(self) -> GreedyParams:
        if self.min_elasticity > self.prior_elasticity:
            raise ValueError(
                f"min_elasticity ({self.min_elasticity}) must not exceed prior_elasticity ({self.prior_elasticity})"
            )
        return self


#: The smallest positive double (subnormal): the least value floor whose log is finite.
_TINY = float(np.nextafter(0.0, 1.0))


@dataclass(frozen=True)
class ChannelFit:
    """``y = scale * x_eff ** elasticity`` on the normalised adstock with decay ``decay``."""

    scale: float
    elasticity: float
    decay: float
    sse: float

    def response(self, x: np.ndarray | float) -> np.ndarray:
        """Steady-state response of a constant spend ``x`` per step."""
        return self.scale * np.power(np.maximum(np.asarray(x, dtype=float), 0.0), self.elasticity)

    def marginal(self, x: np.ndarray | float) -> np.ndarray:
        """Derivative of :meth:`response`."""
        x = np.maximum(np.asarray(x, dtype=float), 1e-300)
        return self.scale * self.elasticity * np.power(x, self.elasticity - 1.0)


def fit_channel(
    spend: np.ndarray,
    value: np.ndarray,
    weights: np.ndarray | None = None,
    decays: list[float] | tuple[float, ...] = (0.0,),
    *,
    prior_elasticity: float = 0.5,
    prior_weight: float = 0.0,
    min_elasticity: float = 0.05,
    keep: slice | None = None,
    starts: np.ndarray | None = None,
) -> ChannelFit:
    r"""Weighted ridge log-log fit of one channel (see the module docstring).

    Minimises :math:`\sum_t w_t (\log y_t - \alpha - b \log \tilde x_t)^2 + \rho (b - b_0)^2`
    (:math:`\rho` = ``prior_weight`` times the mean weight) for each decay, clips ``b`` to
    ``[min_elasticity, 1]`` (refitting :math:`\alpha` when clipped) and keeps the decay with the
    smallest weighted residual sum of squares. A value :math:`y_t \le 0` enters as half the smallest positive
    value (1/2 if none is positive; at least the smallest positive double, ``5e-324``, whose half is 0).

    Parameters
    ----------
    spend, value : ``[n]`` spend and value (conversions or revenue) per step, oldest first.
    weights : ``[n]`` observation weights (default ones); only rows selected by ``keep`` count.
    keep : rows used in the fit (the adstock is computed over all rows).
    starts : rows where an episode begins, where the adstock restarts (:func:`normalised_adstock`).
    """
    x = np.asarray(spend, dtype=float)
    y = np.asarray(value, dtype=float)
    n = len(x)
    w = np.ones(n) if weights is None else np.asarray(weights, dtype=float)
    keep = keep if keep is not None else slice(None)
    pos = y[y > 0]
    # at least the smallest positive double: half of 5e-324 underflows to 0, whose log -inf made the whole fit
    # NaN (and a NaN gain wins the hill climb's argmax, so that channel got the whole step)
    y_floor = max(0.5 * (pos.min() if len(pos) else 1.0), _TINY)
    ly = np.log(np.maximum(y, y_floor))[keep]
    wk = w[keep]
    x_floor = 1e-6 * max(float(x.max()), 1e-12)
    sw = wk.sum()
    rho = prior_weight * (sw / max(len(wk), 1))
    best: ChannelFit | None = None
    for lam in decays:
        lx = np.log(np.maximum(normalised_adstock(x, lam, starts), x_floor))[keep]
        mx, my = (wk * lx).sum() / sw, (wk * ly).sum() / sw
        sxx = (wk * (lx - mx) ** 2).sum()
        sxy = (wk * (lx - mx) * (ly - my)).sum()
        b = (sxy + rho * prior_elasticity) / (sxx + rho) if sxx + rho > 0 else prior_elasticity
        b = float(np.clip(b, min_elasticity, 1.0))
        alpha = my - b * mx
        resid = ly - alpha - b * lx
        sse = float((wk * resid * resid).sum())
        if best is None or sse < best.sse - 1e-12:
            best = ChannelFit(scale=float(np.exp(alpha)), elasticity=b, decay=float(lam), sse=sse)
    assert best is not None
    return best


def greedy_allocation(
    fits: list[ChannelFit], budget: float, low: np.ndarray, high: np.ndarray, grid_size: int
) -> np.ndarray:
    """Spend per channel from a marginal-return hill climb (see the module docstring)."""
    x = np.asarray(low, dtype=float) * budget
    cap = np.asarray(high, dtype=float) * budget
    rest = budget - x.sum()
    if rest <= 0:
        return x
    delta = rest / grid_size
    for _ in range(grid_size):
        gain = np.array([float(f.response(x[i] + delta) - f.response(x[i])) for i, f in enumerate(fits)])
        gain[x + delta > cap * (1 + 1e-9) + 1e-12] = -np.inf
        if not np.isfinite(gain).any():  # numerically full: spread what is left where room remains
            room = np.maximum(cap - x, 0.0)
            x += room * min(delta / max(room.sum(), 1e-300), 1.0)
            continue
        x[int(np.argmax(gain))] += delta
    return x


@register_agent("greedy")
class GreedyAgent(SplitAgent[GreedyParams]):
    """Greedy marginal-ROI allocation from per-channel concave fits (see the module docstring)."""

    Params = GreedyParams

    def __init__(self, brief: CampaignBrief, params: GreedyParams):
        self.pacer = CalendarPacer(brief) if brief.agent_pacing and params.calendar_pacing else None
        super().__init__(brief, params)
        self.value_key = "conversions" if self.brief.reward == "conversions" else "revenue"

    def reset_learning(self) -> None:
        self.spend_history: list[list[float]] = []
        self.value_history: list[list[float]] = []
        self.step_history: list[int] = []  # the campaign step of each observation
        if self.pacer is not None:
            self.pacer.reset()

    def step_spend(self, observation: np.ndarray) -> float:
        """``B/T``, or with ``calendar_pacing`` the calendar pacer's spend for this step."""
        if self.pacer is None:
            return self.step_budget
        return self.pacer.step_spend(self.t, self.remaining, self.rng)

    def learn(self, reward: float, info: dict) -> None:
        if "spend" not in info or self.value_key not in info:
            raise BudgetGymError(f"agent 'greedy': update needs info['spend'] and info['{self.value_key}']")
        spend = np.asarray(info["spend"], dtype=float)
        value = np.asarray(info[self.value_key], dtype=float)
        if not (np.all(np.isfinite(spend)) and np.all(np.isfinite(value))):  # a nan would spoil every later fit
            raise BudgetGymError(f"agent 'greedy': info['spend'] and info['{self.value_key}'] must be finite")
        self.spend_history.append([float(v) for v in spend])
        self.value_history.append([float(v) for v in value])
        self.step_history.append(self.t - 1)  # update() has set t to the step after the one observed
        if self.pacer is not None:
            self.pacer.observe(sum(self.spend_history[-1]), sum(self.value_history[-1]), self.step_history[-1])

    def fits(self) -> list[ChannelFit] | None:
        """Current per-channel fits, or ``None`` with too few observations."""
        p = self.params
        n = len(self.spend_history)
        if n < p.min_observations:
            return None
        X = np.asarray(self.spend_history)
        Y = np.asarray(self.value_history)
        calendar = self.pacer.fit() if self.pacer is not None else None
        if self.pacer is not None and calendar is not None:
            # deflate by the learned calendar, so a busy day is not read as a better curve
            Y = Y / self.pacer.observed_multipliers(calendar)[:, None]
        w = p.discount ** np.arange(n - 1, -1, -1, dtype=float)
        keep = slice(max(n - p.window, 0), None) if p.window is not None else slice(None)
        steps = np.asarray(self.step_history)
        starts = episode_starts(steps)
        return [
            fit_channel(
                X[:, i],
                Y[:, i],
                w,
                p.decay_grid,
                prior_elasticity=p.prior_elasticity,
                prior_weight=p.prior_weight,
                min_elasticity=p.min_elasticity,
                keep=keep,
                starts=starts,
            )
            for i in range(self.n_channels)
        ]

    def _perturb(self, split: np.ndarray, sd: float) -> np.ndarray:
        if sd <= 0:
            return split
        return split * np.exp(sd * self.rng.standard_normal(self.n_channels))

    def choose_split(self, observation: np.ndarray, deterministic: bool) -> np.ndarray:
        p = self.params
        equal = np.full(self.n_channels, 1.0 / self.n_channels)
        explore = p.explore_steps if p.explore_steps is not None else self.n_channels + 1
        fits = self.fits() if self.t >= explore else None
        if fits is None:
            return self._perturb(equal, p.explore_sd)
        # the total this step spends (the pacer's, capped as played); a step that spends nothing: any split
        total = self.step_total if self.step_total > 0 else self.step_budget
        x = greedy_allocation(fits, total, self.low, self.high, p.grid_size)
        return self._perturb(x / x.sum(), p.jitter)

    def extra_state(self) -> dict[str, Any]:
        return {"spend_history": self.spend_history, "value_history": self.value_history, "steps": self.step_history}

    def load_extra_state(self, state: dict[str, Any]) -> None:
        # the pacer's observations are the row sums of the histories at their steps: rebuilt here
        self.spend_history = [list(map(float, r)) for r in state.get("spend_history", [])]
        self.value_history = [list(map(float, r)) for r in state.get("value_history", [])]
        # "steps" is absent from files saved before it was kept: one campaign from step 0
        self.step_history = [int(t) for t in state.get("steps", range(len(self.spend_history)))]
        if self.pacer is not None:
            self.pacer.reset()
            for xs, ys, t in zip(self.spend_history, self.value_history, self.step_history, strict=False):
                self.pacer.observe(sum(xs), sum(ys), t)
        rows = self.spend_history + self.value_history
        n = len(self.spend_history)
        if len(self.value_history) != n or len(self.step_history) != n or any(len(r) != self.n_channels for r in rows):
            raise BudgetGymError(
                f"agent 'greedy' state: histories do not match {count(self.n_channels, 'channel')} of scenario "
                f"'{self.brief.name}'"
            )
