r"""``model_thompson``: model-based Thompson sampling over per-channel saturation curves.

A semi-bandit learner: every step it observes, per channel, the spend it made and the
conversions that arrived (``info["spend"]``, ``info["conversions"]``, and
``info["revenue"]`` for value-weighted rewards). It keeps a Bayesian posterior over each
channel's response curve, draws one curve per channel from it, and allocates the step's
budget to maximise the drawn total response (Thompson sampling, Russo et al. 2018, with
semi-bandit feedback: each channel's curve learns only from its own observations).

What the agent may read
-----------------------
Only what the environment returns (the observation and the per-step ``info``) and the
scenario's public business facts: channel names, budget, horizon, pacing, share bounds,
``logit_scale`` and the reward kind (conversions / revenue / profit — what is being
maximised). Prices, curves, carry-over, delays, values per conversion and every other
true parameter stay hidden: values per conversion are estimated from ``info["revenue"]``.

Model
-----
For channel ``i`` with spends :math:`x_0, x_1, \dots` (currency) the agent models the
conversions arriving at step ``t`` as

.. math::

    c_t \sim \mathrm{Poisson}(\mu_t), \qquad \mu_t = \beta\, g_t(\kappa, s, k, \theta), \qquad
    g_t = \frac{\bar a_t^{\,s}}{\bar a_t^{\,s} + \kappa^s}, \qquad
    \bar a_t = \sum_{l \ge 0} \binom{l+k-1}{l} (1-\theta)^k \theta^l\, x_{t-l},

i.e. a Hill curve of the *normalised* lagged spend :math:`\bar a_t`: a negative-binomial
lag kernel of shape ``k`` (``k = 1``: geometric carry-over :math:`(1-\theta)\theta^l`;
``k = 2, 3``: a lag that first rises, then decays, like delayed conversions or a
Weibull-PDF adstock) with weights summing to one and mean lag :math:`k\theta/(1-\theta)`.
It is a cascade of ``k`` recursions :math:`\bar a^{(m)}_t = (1-\theta) \bar a^{(m-1)}_t +
\theta \bar a^{(m)}_{t-1}`, :math:`\bar a^{(0)}_t = x_t`, so its state is ``k`` numbers per
decay and channel. With a constant spend ``x``, :math:`\bar a = x`, so :math:`\kappa` is
the half-saturation *spend per step* and :math:`\beta g(x)` the steady-state response.
The lag absorbs both carry-over (adstock) and delayed conversions. The curve is
in spend units: it folds the auction-price curve (exposure concave in spend) into the
Hill shape, which a grid of slopes fits well locally (the allocation only needs the
curve near the spends actually played).

:math:`(\kappa, s, k, \theta)` lives on a grid :math:`j = 1..J` (a log grid of
:math:`\kappa` in multiples of the step budget ``B/T``, small grids of slopes, lag shapes
and decays) with prior weights :math:`p_j`: uniform in :math:`(k, \theta)`, ``slope_prior`` in ``s``
(uniform by default) and, in :math:`\kappa`, a log-normal centred on the equal-split spend
``B/(T K)`` with log-sd ``kappa_prior_sd`` (1.5 by default: 95% of the prior mass within a
factor 20 of the equal split; ``None`` gives a log-uniform prior). That weakly informative
prior says only "a channel saturates somewhere near the spends this budget can buy"; with a
log-uniform prior the first draws often put the budget on curves that are linear or
saturated far outside the budget's range, and the first ~5 steps cost more (stationary-5:
97.9% instead of 98.4% of the oracle). The scale has the conjugate prior
:math:`\beta \sim \mathrm{Gamma}(a_0, b_0)` (shape, rate).

Posterior. Given a grid point the scale's Gamma prior is conjugate to the Poisson likelihood, so the
posterior over the grid is exact up to the grid, with forgetting (``discount``) and a quasi-Poisson tempering
(``dispersion``, estimated per channel by default); its equations, the update's running sums and why a grid:
:mod:`budgetgym.agents.hill_posterior`'s docstring.

Decision
--------
Each step, per channel: draw :math:`j \sim \pi`, then :math:`\beta \sim
\mathrm{Gamma}(a_j, b_j)`. The drawn curves are valued at steady state (a constant spend
``x`` gives :math:`\bar a = x`), with two corrections:

* **end of campaign**: spend at step ``t`` keeps paying for :math:`R = T - t` steps only,
  so the curve is scaled by :math:`F_R = P(\text{lag} \le R - 1)`, the negative-binomial
  CDF (the share of its lagged effect that lands before the horizon; :math:`1 - \theta^R`
  for ``k = 1``; the marginal value of ``x`` is then exact at steady state);
* **value**: for ``revenue``/``profit`` rewards each channel is weighted by its estimated
  value per conversion :math:`\hat v_i = (\sum_t \gamma^\tau r_{t,i} + \bar v)/(\sum_t
  \gamma^\tau c_{t,i} + 1)` from ``info["revenue"]`` (:math:`\bar v`: the pooled estimate).

The step budget is then split by maximising :math:`\sum_i \hat v_i F_{R,i}\,
\beta_i\, g(x_i; \kappa_i, s_i)` subject to :math:`\sum_i x_i = B/T` and the share bounds,
**with the oracle's own grid programme**
(:func:`~budgetgym.envs.grid_dp.grid_split_values`, exact to the grid for one step, S-shaped
curves included): the drawn curves are tabulated on ``alloc_grid`` levels of the step budget
and the programme returns the split. It works on plain arrays (no scenario is built): a whole
``predict`` takes ~1.4 ms of CPU per step for 5 channels and ~13 ms for 50
(``benchmarks/bench_predict.py``), against 3.1 ms and 26 ms when each step built a one-step
pydantic scenario for the oracle's ``grid_split`` (25-60 ms with
:func:`~budgetgym.envs.oracle.solve_oracle`).
The split is exact to one cell of the grid (``alloc_grid`` points: 0.5% of the step budget by
default), also at share bounds that fall between grid points. Locked channels are taken out
of the problem first (their share is fixed), so
off-grid locked shares stay exact. The split becomes an action with
:func:`~budgetgym.envs.allocation.split_to_action`.

Pacing. With ``budget.pacing: agent`` and ``calendar_pacing`` (the default) the agent times its
spend with :class:`~budgetgym.agents.calendar_pacing.CalendarPacer`: weekday and seasonal
multipliers learned from the observed step totals (used only when they lower the BIC), times
the share of a step's effect that the drawn lag lands before the horizon; the conversions it
learns from are deflated by the learned calendar multiplier of their step. Without
``calendar_pacing`` it spends ``B/T`` per step. The pacing entry and the total :math:`S_t` the
environment will spend come from :meth:`~budgetgym.agents.base.BaseAgent.pace`.

The split of a paced total. The steady-state valuation cannot split :math:`S_t \ne B/T`: it values the
step's spend as if it were spent every step, so a busy step's burst counts as sustained (on ``pulse-4``,
S-shaped curves with decays 0.7-0.8, a drawn curve of a channel never spent on clears its threshold at
:math:`S_t` and takes a one-day burst that its carry-over spreads below the threshold: splitting
:math:`S_t` that way cost 1.3 points of the oracle, 512 seeds, 95% CI 0.7-1.8). What it misses is the
carried-over level: spend :math:`x` at step ``t`` lifts the lagged spend of step :math:`t+l` by only
:math:`w_l x` on top of what the other steps put there. Under calendar pacing the step therefore plays the
``B/T`` split :math:`y` above (:math:`S_t = B/T`: nothing changes), and the difference :math:`S_t - B/T` is
added to (busy step) or taken from (quiet step) the channels by the grid programme on the mean over
``value_draws`` posterior draws (the Thompson draw and ``value_draws - 1`` more, from a generator of their own)
of :func:`~budgetgym.agents.carryover_value.carryover_step_value`,

.. math:: \bar V_i(x) = \frac{1}{M} \sum_{m=1}^{M} \sum_{l=0}^{R-1} c^{(m)}_{l,i}
          \left[ g\big(b^{(m)}_{l,i} + w^{(m)}_{l,i}\, x; \kappa^{(m)}_i, s^{(m)}_i\big)
          - g\big(b^{(m)}_{l,i}; \kappa^{(m)}_i, s^{(m)}_i\big) \right],

each channel's spend between :math:`y_i` and :math:`y_i + S_t - B/T`: the response the step's spend adds over
the steps left, given the model's own carry-over state of the spends so far
(:func:`~budgetgym.agents.carryover_value.carryover_forecast`), later steps that spend the rest of the budget
evenly in the shares of :math:`y`, each draw's :math:`\beta`, the value per conversion and the pacer's calendar
multiplier of each step. One draw alone (``value_draws: 1``) lost on ``delayed-5`` (-1.6 points of the oracle):
a channel with long carry-over is almost linear within one step, so the drawn decay swings where the whole
difference goes; the mean over 8 draws spreads it (figures: ``benchmarks/README.md``, *model_thompson:
splitting a paced total*). Splitting the whole of :math:`S_t` by the valuation (no range) lost on every
scenario but ``pulse-4``, 8 draws or not (``delayed-5``: -11 points; a likely cause, not measured: much of its
lag is conversion delay, after the saturation, which the model's one lag kernel cannot tell from carry-over).
The cost: tabulating :math:`\bar V` (``value_draws`` x steps left x Hill values per spend kept) —
:func:`~budgetgym.agents.carryover_value.tabulate_within` values only the grid spends inside each channel's range
(~18% of the ``alloc_grid`` x channels cells on ``seasonal-5``), the same numbers as the whole table to the last bit —
makes a ``predict`` under calendar pacing ~6-7 ms of CPU per step on ``seasonal-5`` (84 steps, 5 channels; ~17 ms when
the whole table was valued; ``python benchmarks/bench_model_thompson.py --predict-ms``, figures:
``benchmarks/README.md``, *model_thompson: the paced split's speed*) against ~1.9 ms with the ``B/T`` split alone
(``benchmarks/bench_predict.py``).

``predict(..., deterministic=True)`` — the evaluator's default — still samples (Thompson
sampling *is* the learning rule; the draws come from the agent's seeded generator, so
episodes are reproducible). With ``greedy_when_deterministic=True`` a deterministic call
instead plays the posterior mode (the grid point with the largest weight and the mean of
its :math:`\beta`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from budgetgym.agents.base import BaseAgent, register_agent
from budgetgym.agents.calendar_pacing import CalendarPacer
from budgetgym.agents.carryover_value import carryover_forecast, lag_mass_table, lag_mass_within, tabulate_within
from budgetgym.agents.hill_posterior import HillGridPosterior, hill_log_basis, normalised_carryover
from budgetgym.agents.model_thompson_params import ModelThompsonParams
from budgetgym.envs import curves
from budgetgym.envs.allocation import split_to_action
from budgetgym.envs.brief import CampaignBrief
from budgetgym.envs.errors import BudgetGymError
from budgetgym.envs.grid_dp import grid_split_within

__all__ = [
    "HillGridPosterior",
    "ModelThompsonAgent",
    "ModelThompsonParams",
    "hill_log_basis",
    "lag_mass_within",
    "normalised_carryover",
]

STATE_VERSION = 2


def generators(seed: int | None) -> tuple[np.random.Generator, np.random.Generator]:
    """The agent's two seeded generators: Thompson sampling and pacing (``default_rng(seed)``, as before) and the
    extra posterior draws that value a paced step's spend (an independent stream spawned from the same seed)."""
    sequence = np.random.SeedSequence(seed)
    return np.random.default_rng(sequence), np.random.default_rng(sequence.spawn(1)[0])


# ------------------------------------------------------------------------------ agent
@register_agent("model_thompson")
class ModelThompsonAgent(BaseAgent[ModelThompsonParams]):
    """Model-based Thompson sampling over Hill curves of carry-over spend (module docstring)."""

    Params = ModelThompsonParams

    def __init__(self, brief: CampaignBrief, params: ModelThompsonParams):
        super().__init__(brief, params)
        p = params
        sc = self.brief
        self.horizon = sc.horizon
        self.budget = sc.budget
        self.step_budget = sc.step_budget
        self.step_cap = sc.step_cap
        self.low, self.high = sc.share_bound_arrays
        self.value_weighted = sc.reward != "conversions"
        kappa = self.step_budget * np.geomspace(p.kappa_min, p.kappa_max, p.n_kappa)
        self.posterior = HillGridPosterior(
            self.n_channels,
            kappa,
            np.asarray(p.slopes),
            np.asarray(p.decays),
            p.prior_shape,
            p.prior_rate,
            None if p.dispersion == "auto" else p.dispersion,
            p.discount,
            self._log_prior(kappa),
            p.lag_shapes,
        )
        # F_R of every steps-left R = 1..T and (lag shape, decay) of the grid: read, not recomputed, per step
        self._landed = lag_mass_table(self.horizon, self.posterior.lag_shapes, self.posterior.decays)
        self._value_num = np.zeros(self.n_channels)  # discounted revenue
        self._value_den = np.zeros(self.n_channels)  # discounted conversions
        self.rng, self.value_rng = generators(p.seed)
        self.last_draw: dict[str, np.ndarray] | None = None
        self.pacer = CalendarPacer(brief) if brief.agent_pacing and params.calendar_pacing else None

    def _log_prior(self, kappa: np.ndarray) -> np.ndarray:
        """Log prior over the ``(lag shape, theta, slope, kappa)`` grid: ``slope_prior`` weights
        times a log-normal in kappa centred on the equal-split spend ``B / (T K)`` (uniform if
        unset); uniform over lag shapes and decays."""
        p = self.params
        n_t, n_s, n_k = len(p.lag_shapes) * len(p.decays), len(p.slopes), len(kappa)
        ls = np.zeros(n_s) if p.slope_prior is None else np.log(np.asarray(p.slope_prior, dtype=float))
        lk = np.zeros(n_k)
        if p.kappa_prior_sd is not None:
            centre = np.log(self.step_budget / self.n_channels)
            lk = -0.5 * ((np.log(kappa) - centre) / p.kappa_prior_sd) ** 2
        return np.broadcast_to(ls[None, :, None] + lk[None, None, :], (n_t, n_s, n_k)).ravel()

    # -- learning ---------------------------------------------------------------------
    def reset(self, seed: int | None = None) -> None:
        """New campaign: reseed (``seed``, else ``params.seed``) and clear the posterior."""
        self.rng, self.value_rng = generators(seed if seed is not None else self.params.seed)
        self.posterior.clear()
        self._value_num[:] = 0.0
        self._value_den[:] = 0.0
        self.last_draw = None
        if self.pacer is not None:
            self.pacer.reset()

    def start_episode(self) -> None:
        """A new episode (``predict(..., episode_start=[True])``): the model's carry-over of spend
        starts empty, as the environment's does; the posterior is kept."""
        self.posterior.restart_carry()

    def update(
        self, observation: np.ndarray, action: np.ndarray, reward: float, next_observation: np.ndarray, info: dict
    ) -> None:
        """Learn from the step's ``info["spend"]``, ``info["conversions"]`` (and ``revenue``)."""
        use_revenue = self.value_weighted and "revenue" in info
        try:
            spend = np.asarray(info["spend"], dtype=float).reshape(self.n_channels)
            conv = np.asarray(info["conversions"], dtype=float).reshape(self.n_channels)
            revenue = np.asarray(info["revenue"], dtype=float).reshape(self.n_channels) if use_revenue else conv
        except (KeyError, ValueError) as err:
            raise BudgetGymError(
                f"model_thompson.update: info needs per-channel 'spend' and 'conversions' (and 'revenue' if "
                f"given for a value reward) ({err})"
            ) from None
        if not (np.all(np.isfinite(spend)) and np.all(np.isfinite(conv)) and np.all(np.isfinite(revenue))):
            raise BudgetGymError("model_thompson.update: info 'spend'/'conversions'/'revenue' must be finite")
        # a busy weekday is not a better curve: deflate by the learned calendar multiplier of the
        # step observed (info["step"]; without it, the step after the last one observed)
        if self.pacer is None:
            self.posterior.update(spend, conv)
        else:
            step = self.pacer.step_of(info.get("step"))
            self.posterior.update(spend, conv / self.pacer.multiplier(step))
            self.pacer.observe(float(spend.sum()), float(np.sum(revenue)), step)  # revenue: conv unless used
        if use_revenue:
            gam = self.params.discount
            self._value_num = gam * self._value_num + revenue
            self._value_den = gam * self._value_den + conv

    def value_per_conversion(self) -> np.ndarray:
        """Estimated value per conversion per channel (1 for a conversions reward)."""
        if not self.value_weighted:
            return np.ones(self.n_channels)
        num, den = self._value_num, self._value_den
        pooled = num.sum() / den.sum() if den.sum() > 0 else 1.0
        return (num + pooled) / (den + 1.0)

    # -- acting -------------------------------------------------------------------------
    def act(self, observation: np.ndarray, deterministic: bool = True) -> np.ndarray:
        T = self.horizon
        obs = np.asarray(observation, dtype=np.float64)
        # the step to play (0..T-1) and the budget left, read within their boxes (nan: 0), so a
        # broken or final observation still gets a feasible action
        time, left_share = np.clip(np.nan_to_num(obs[[self.layout.time, self.layout.remaining_budget]]), 0.0, 1.0)
        t = min(round(float(time) * T), T - 1)
        remaining = float(left_share) * self.budget
        draw = (
            self.posterior.mode()
            if deterministic and self.params.greedy_when_deterministic
            else self.posterior.sample(self.rng)
        )
        self.last_draw = draw
        steps_left = max(T - t, 1)
        landed = self.landed_within(steps_left, draw["index"])
        weight = self.value_per_conversion() * landed * draw["beta"]
        split = self.allocate(weight, draw["kappa"], draw["slope"], self.step_budget)
        want = self.step_budget
        if self.pacer is not None:  # only under agent pacing
            left = np.arange(T - t, 0, -1)  # steps left from each remaining step, to the horizon
            mass = self.landed_within(left[:, None], draw["index"])
            want = self.pacer.step_spend(t, remaining, self.rng, landed=mass.mean(axis=1))
        u, total = self.pace(want, remaining)
        if self.pacer is not None:  # the paced total, split with carry-over (module docstring)
            split = self.paced_split(draw, t, total, remaining, split)
        action = split_to_action(split, self.logit_scale)
        return action if u is None else np.append(action, u)

    def paced_split(
        self, draw: dict[str, np.ndarray], t: int, total: float, remaining: float, steady: np.ndarray
    ) -> np.ndarray:
        r"""The split of step ``t``'s paced ``total`` (currency): the ``steady`` split (shares) of ``B/T``, and the
        difference ``total - B/T`` moved by the mean over ``value_draws`` posterior draws (``draw`` and more from
        ``value_rng``) of :func:`~budgetgym.agents.carryover_value.carryover_step_value`, each channel between its
        ``B/T`` spend and that plus the difference (module docstring)."""
        T, post = self.horizon, self.posterior
        steps = max(T - t, 1)
        draws = [draw, *post.samples(self.value_rng, self.params.value_draws - 1)]
        index = np.stack([d["index"] for d in draws])  # [M, K]
        shape_at, decay_at = np.unravel_index(index, post.shape)[:2]
        landed = np.moveaxis(self._landed[:steps][:, shape_at, decay_at], 0, 1)  # F_l [M, R, K]
        forecast = carryover_forecast(post.carry, post.decays, steps)  # [R, K, stage, theta]
        past = np.moveaxis(forecast[:, np.arange(self.n_channels), post.lag_shapes[shape_at] - 1, decay_at], 0, 1)
        fit = self.pacer.fit() if self.pacer is not None else None
        calendar = np.ones(steps) if fit is None else fit.multipliers[t : t + steps]
        beta = np.stack([d["beta"] for d in draws]) * self.value_per_conversion()  # [M, K]
        scale = calendar[None, :, None] * beta[:, None, :]  # c_l [M, R, K]
        kappa, slope = np.stack([d["kappa"] for d in draws]), np.stack([d["slope"] for d in draws])
        future = steady * max(remaining - total, 0.0) / max(steps - 1, 1)
        base = steady * self.step_budget  # the B/T split, currency
        extra = total - self.step_budget
        cell = max(total, self.step_budget) / (self.params.alloc_grid - 1)
        low, high = np.minimum(base, base + extra) - cell, np.maximum(base, base + extra) + cell

        def value(x: np.ndarray, sub: list[int]) -> np.ndarray:
            return tabulate_within(
                x, low[sub], high[sub], scale[..., sub], kappa[:, sub], slope[:, sub], landed[..., sub],
                past[..., sub], future[sub],
            )

        return self.split(value, total)

    def landed_within(self, steps: int | np.ndarray, index: np.ndarray) -> np.ndarray:
        """:func:`~budgetgym.agents.carryover_value.lag_mass_within` of ``steps`` (``1..horizon``; broadcasts)
        for the lag shape and decay of each channel's grid point ``index`` ``[K]``, read from the table."""
        shape_at, decay_at = np.unravel_index(np.asarray(index), self.posterior.shape)[:2]
        return self._landed[np.asarray(steps) - 1, shape_at, decay_at]

    def allocate(self, scale: np.ndarray, kappa: np.ndarray, slope: np.ndarray, spend: float) -> np.ndarray:
        r"""Split ``spend`` to maximise :math:`\sum_i \text{scale}_i\, g(x_i; \kappa_i, s_i)` within
        the share bounds, with the oracle's one-step grid programme (module docstring)."""
        return self.split(lambda x, sub: curves.hill(x, np.maximum(scale[sub], 1e-300), kappa[sub], slope[sub]), spend)

    def split(self, value: Callable[[np.ndarray, list[int]], np.ndarray], spend: float) -> np.ndarray:
        r"""Split ``spend`` (currency) to maximise :math:`\sum_i V_i(x_i)` within the share bounds, with the
        oracle's one-step grid programme (module docstring; :func:`~budgetgym.envs.grid_dp.grid_split_within`):
        ``value(x, sub)`` tabulates :math:`V_i` of the channels ``sub`` at the spends ``x`` ``[G, 1]``,
        ``[G, len(sub)]``."""
        return grid_split_within(value, spend, self.low, self.high, self.params.alloc_grid)

    # -- persistence ----------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        return {
            "version": STATE_VERSION,
            "posterior": self.posterior.state_dict(),
            "value_num": self._value_num.tolist(),
            "value_den": self._value_den.tolist(),
            "rng": self.rng.bit_generator.state,
            "value_rng": self.value_rng.bit_generator.state,
            "pacer": None if self.pacer is None else self.pacer.state_dict(),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        try:
            if state.get("version") != STATE_VERSION:
                raise ValueError(f"state version {state.get('version')!r}, expected {STATE_VERSION}")
            self.posterior.load_state_dict(state["posterior"])
            self._value_num = np.asarray(state["value_num"], dtype=float).reshape(self.n_channels)
            self._value_den = np.asarray(state["value_den"], dtype=float).reshape(self.n_channels)
            rng = np.random.default_rng()
            rng.bit_generator.state = state["rng"]
            self.rng = rng
            if "value_rng" in state:  # saved before the paced split's draws had their own generator: kept
                value_rng = np.random.default_rng()
                value_rng.bit_generator.state = state["value_rng"]
                self.value_rng = value_rng
            if self.pacer is not None:
                self.pacer.load_state_dict(state.get("pacer") or {})
        except (KeyError, ValueError, TypeError, AttributeError) as err:
            raise BudgetGymError(f"model_thompson state: does not match this agent/scenario ({err})") from None
