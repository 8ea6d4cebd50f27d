"""``ChannelBudgetEnv``: allocate a campaign budget across ad channels, step by step.

## Description
Each step (a day by default) the agent splits the step's spend across the
scenario's channels (and, with ``budget.pacing: agent``, chooses how much of
the remaining budget to spend now). The channels respond with the dynamics of
:mod:`budgetgym.envs.dynamics`: rising unit prices, carry-over, saturation,
delayed and noisy conversions, seasonality, drift and shocks. The episode
ends (``truncated=True``) after ``horizon`` steps; it never terminates early.

## Action space
``Box(-1, 1, (K,), float32)`` for even pacing, ``(K + 1,)`` for agent pacing:
split logits (and the pacing entry last). Mapping, NaN/inf handling and
reachability: :mod:`budgetgym.envs.allocation`. Each channel's spend is rounded down to a
multiple of a power-of-two quantum ``q <= 2**-51 * budget`` so that every sum of spends is exact
in floating point: the spend reported in ``info`` never exceeds the budget, not even by rounding
(share bounds then hold to within ``q`` per channel).

## Observation space
``Box(float32)`` of ``4 K + 7`` finite, bounded features; the true parameters stay hidden.
The named layout is :class:`~budgetgym.envs.observation.ObservationLayout`
(``env.observation_layout``). Per channel ``i`` (blocks of ``K``):

0. ``share``: share of last step's spend, ``[0, 1]``
1. ``price_index``: ``tanh(log(p_i / p̄_i))`` of last step's effective unit price ``p_i``, ``p̄_i`` the
   brief's planned price (``cost.planned_price``; default ``cost.price``; a family's nominal for
   every draw), ``[-1, 1]``
2. ``conversions``: conversions that arrived last step / ``conv_scale``, clipped to ``[0, 10]``
3. ``conversions_ema``: exponential moving average (weight 0.3) of the same, ``[0, 10]``

then ``remaining_budget`` (fraction), ``time`` (``t/T``), ``spend_ratio`` (last step's spend /
``(B/T)``, clipped to ``[0, 10]``), and ``phase``: ``sin``/``cos`` of the weekly and
yearly phase of the next step. ``conv_scale`` is the brief's ``conversion_scale``: the planned
conversions per channel and step, ``(B/T)/K`` divided by the planning CPA (``target_cpa``; without
one, the nominal equal split's at steady state) — a public figure of the plan, never the curves
of the campaign being played. Before the first step ``share`` is ``1/K`` and the other
last-step features (price index, conversions, their average, spend ratio) are 0.

## Rewards
Per the scenario's ``reward``: conversions, revenue or profit of the step
(realised, i.e. noisy). ``info["expected_reward"]`` is the same step without
noise, so that the episode's sum equals
:func:`budgetgym.envs.oracle.evaluate_plan` of the spend actually made.

## Info
Every key of the ``info`` that ``reset`` and ``step`` return, and when it is there (``[K]``: a float
array in channel order; amounts in the budget's currency):

| key | meaning | when |
|---|---|---|
| ``step`` | index of the step just played (at reset 0, the next one) | reset, step |
| ``cumulative_spend`` | spent so far in the episode | reset, step |
| ``remaining_budget`` | ``budget - cumulative_spend`` | reset, step |
| ``spend`` | ``[K]`` the step's spend per channel | step |
| ``impressions`` | ``[K]`` exposure bought: impressions, or clicks for click-priced channels | step |
| ``price`` | ``[K]`` effective unit price (per 1000 impressions, or per click) | step |
| ``conversions`` | ``[K]`` conversions that arrived, realised (``response_unit: currency``: revenue, below) | step |
| ``expected_conversions`` | ``[K]`` the same without noise | step |
| ``revenue`` | ``[K]`` their value, realised | step |
| ``reward`` | the step's reward (the one ``step`` returns) | step |
| ``expected_reward`` | the step's reward without noise | step |
| ``expected_revenue`` | ``[K]`` credited expected conversions at their segments' values | step, with segments |
| ``baseline``, ``baseline_expected`` | the step's organic KPI, realised and expected | step, with a baseline |
| ``controls`` | control name -> its value at the step | step, with a baseline |
| ``kpi`` | the step's conversions (or revenue) plus the baseline | step, with a baseline |
| ``draw``, ``split`` | the campaign drawn from the family: its index, ``"train"`` | reset, with a varying family |

With a scenario ``baseline`` (:mod:`budgetgym.envs.baseline`) the ``kpi`` is what a marketing-mix
dataset records; the baseline is never part of the reward. With audience ``segments``
(:mod:`budgetgym.envs.segments`) the per-channel numbers are each channel's credited share, and
``expected_revenue`` is added since a channel's value per conversion then varies with the mix of
segments it reaches. With ``response_unit: currency`` (a revenue KPI's calibrated family) the response
is revenue itself and there are no conversions: ``conversions`` and ``expected_conversions`` (and the
observation's ``conversions`` features, ``trace.csv``'s ``conversions``) hold the response, in currency:
``revenue`` is it times the realised value per unit (mean 1; without value noise, the same numbers). The keys
keep their names (the info and the results directory are a contract; ``configs/README.md``, ``response_unit``).

## Reset options
``reset(options={"history": S})`` plays the episode after the spend history ``S``
(``[H, K]`` currency per step, oldest first, or a mapping channel -> ``H`` spends): its
carry-over and its conversions still to arrive count in the window
(:mod:`budgetgym.envs.history`, the same definition as ``evaluate_plan(..., history=S)`` and
``solve_oracle(..., history=S)``). The observation's history features still start at zero.
``history`` is the only option: options that are not a mapping, or hold another key, are a one-line
:class:`~budgetgym.envs.errors.BudgetGymError`.

## Scenario families
``scenario`` may be a :class:`~budgetgym.envs.family.ScenarioFamily` (or a family's name or
file): then every ``reset`` draws a new campaign from the family's **train** split, with an
index drawn from the reset's generator (so ``reset(seed=s)`` is reproducible), and ``info``
names it (``draw``, ``split``). Spaces and the brief are the family's, the same for every draw.
Held-out evaluation plays the **test** split: :func:`budgetgym.agents.evaluate`.

## What agents get
``env.brief`` (:class:`~budgetgym.envs.brief.CampaignBrief`): the public facts of the campaign
(channel names and units, budget, horizon, calendar, pacing, share bounds, reward kind). Agents
are built from it and the spaces; ``env.scenario`` holds the true parameters and is for the
oracle only.

## Rendering
``render_mode="ansi"`` (the only mode): ``render()`` returns the campaign as text, the step and the
spend against the budget, then per channel the last step's share, spend, impressions (or clicks),
unit price and conversions and the step's reward and expected reward (dashes before the first
step; a figure too wide for its column, or one its decimals would show as 0, to 3 significant
digits). Without a render mode ``render()`` returns ``None``; any other mode is a ``ValueError`` at
construction. ``close()`` holds nothing to release (Gymnasium's default).

## Version History
* v0: initial version.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, SupportsFloat

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from budgetgym.envs.allocation import (
    pacing_spend,
    project_bounded_simplex,
    sanitize_action,
    softmax_split,
    trivial_bounds,
)
from budgetgym.envs.brief import CampaignBrief
from budgetgym.envs.dynamics import (
    ChannelModel,
    DynamicsState,
    realise,
    transition,
)
from budgetgym.envs.family import ScenarioFamily, load_family
from budgetgym.envs.history import CarryIn, carry_in, history_option
from budgetgym.envs.numbers import figure
from budgetgym.envs.observation import CONV_CLIP, SPEND_CLIP, ObservationLayout
from budgetgym.envs.path import ScenarioPath, sample_path
from budgetgym.envs.scenario import Scenario

__all__ = ["ChannelBudgetEnv"]

EMA_WEIGHT = 0.3


class ChannelBudgetEnv(gym.Env[np.ndarray, np.ndarray]):
    """Gymnasium environment of ad channels sharing one budget (see module docstring)."""

    metadata = {"render_modes": ["ansi"], "render_fps": 4}

    def __init__(
        self, scenario: str | Path | Scenario | ScenarioFamily = "stationary-3", render_mode: str | None = None
    ):
        self.family: ScenarioFamily = load_family(scenario)
        self.scenario: Scenario = self.family.nominal()
        if render_mode is not None and render_mode not in self.metadata["render_modes"]:
            raise ValueError(f"render_mode: expected one of {self.metadata['render_modes']}, got {render_mode!r}")
        self.render_mode = render_mode
        sc, K = self.scenario, self.scenario.n_channels
        self.n_channels = K
        self.horizon = sc.horizon
        self.budget = sc.budget.total
        self.step_budget = sc.step_budget
        self.agent_pacing = sc.budget.pacing == "agent"
        self.step_cap = sc.step_cap
        # Sums of multiples of q below 2**53 q are exact, and budget - (a multiple of q) is exact
        # because q is a multiple of the budget's ulp; q is at most 2**-51 of the budget.
        self._quantum = 2.0 ** (math.ceil(math.log2(self.budget)) - 52)

        self.brief: CampaignBrief = self.family.brief
        self.observation_layout: ObservationLayout = self.brief.observation_layout
        self.action_space: spaces.Box = self.brief.action_space()
        self.observation_space: spaces.Box = self.brief.observation_space()

        days = self.brief.step_day_index()
        days = np.append(days, days[-1] + sc.step_days)  # phase of the step after the last
        self._phase = np.stack(
            [
                np.sin(2 * np.pi * days / 7.0),
                np.cos(2 * np.pi * days / 7.0),
                np.sin(2 * np.pi * days / 365.25),
                np.cos(2 * np.pi * days / 365.25),
            ],
            axis=1,
        )
        self.conv_scale = self.brief.conversion_scale
        self._inv_conv_scale = 1.0 / self.conv_scale
        self._inv_planned_price = 1.0 / self.brief.planned_prices  # the price index's reference
        self._obs = np.zeros(self.observation_layout.size)
        lay = self.observation_layout  # its named slots, looked up once (step speed)
        self._slots = (lay.share, lay.price_index, lay.conversions, lay.conversions_ema,
                       lay.remaining_budget, lay.time, lay.spend_ratio, lay.phase)
        self._spend_rows = np.zeros((2, K))  # realised row and noise-free shadow row
        self._price_noise = np.ones((2, K))
        self._logit_scale = sc.action.logit_scale
        self._action_shape = self.action_space.shape
        self.draw: int | None = None  # the train draw of a varying family, set at reset
        self._carry: CarryIn | None = None  # what a reset's spend history carries into the window
        self._compile(sc)
        self.path: ScenarioPath = sample_path(sc, None)
        self._reset_counters()

    def _compile(self, scenario: Scenario) -> None:
        """Compile the campaign being played (the scenario, or a family's draw at reset)."""
        self.scenario = scenario
        self.model = ChannelModel.from_scenario(scenario)
        self._state = DynamicsState.zeros(self.model, 2)
        self._noisy_price = bool(self.model.price_noise_sd.any())
        self._has_outage = any(s.kind == "outage" for s in scenario.shocks)
        self._bounded = not trivial_bounds(self.model.low_share, self.model.high_share)

    # ------------------------------------------------------------------ helpers
    def _reset_counters(self) -> None:
        K = self.n_channels
        self.t = 0
        self.cumulative_spend = 0.0
        self._last_share = np.full(K, 1.0 / K)
        self._last_price_index = np.zeros(K)
        self._last_conv = np.zeros(K)
        self._ema_conv = np.zeros(K)
        self._last_spend_ratio = 0.0
        self._last_info: dict[str, Any] = {}

    def _observation(self) -> np.ndarray:
        share, price, conv, ema, remaining, time, spend, phase = self._slots
        obs = self._obs
        obs[share] = self._last_share
        obs[price] = self._last_price_index
        np.minimum(self._last_conv * self._inv_conv_scale, CONV_CLIP, out=obs[conv])
        np.minimum(self._ema_conv * self._inv_conv_scale, CONV_CLIP, out=obs[ema])
        obs[remaining] = max(0.0, self.budget - self.cumulative_spend) / self.budget
        obs[time] = self.t / self.horizon
        obs[spend] = min(self._last_spend_ratio, SPEND_CLIP)
        obs[phase] = self._phase[self.t]
        return obs.astype(np.float32)

    # ---------------------------------------------------------------- gym API
    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[np.ndarray, dict]:
        history = history_option(options, self.scenario)  # checked before the generator moves
        super().reset(seed=seed)
        info: dict[str, Any] = {"cumulative_spend": 0.0, "remaining_budget": self.budget, "step": 0}
        if self.family.varies:
            # a new campaign from the family's train split, chosen by the reset's generator
            self.draw = int(self.np_random.integers(0, 2**31 - 1))
            self._compile(self.family.sample(self.draw, "train"))
            info.update(draw=self.draw, split="train")
        self.path = sample_path(self.scenario, self.np_random)
        # spend before the window: what it carries into each step (None: the campaign starts at rest)
        self._carry = carry_in(self.scenario, history, self.model)
        self._state.clear()
        self._reset_counters()
        return self._observation(), info

    def step(self, action: np.ndarray) -> tuple[np.ndarray, SupportsFloat, bool, bool, dict[str, Any]]:
        if self.t >= self.horizon:
            raise RuntimeError("step() called after the episode ended; call reset()")
        K, m, t = self.n_channels, self.model, self.t
        a = sanitize_action(action)
        if a.shape != self._action_shape:
            raise ValueError(f"action: expected shape {self.action_space.shape}, got {np.shape(action)}")
        share = softmax_split(a[:K] if self.agent_pacing else a, self._logit_scale)
        if self._bounded:
            share = project_bounded_simplex(share, m.low_share, m.high_share)
        remaining = self.budget - self.cumulative_spend
        if self.agent_pacing:
            total = pacing_spend(a[K], remaining, self.step_cap)
        else:
            total = min(self.step_budget, remaining)
        # Spend is rounded down to multiples of a power-of-two quantum q (<= 2**-51 of the budget),
        # so every partial sum of spends is exact in float64 and never exceeds the budget.
        q = self._quantum
        units = math.floor(max(total, 0.0) / q)  # the step's total, in quanta
        spend = np.floor(share * units) * q
        step_total = float(spend.sum())
        over = step_total - units * q  # exact; > 0 only if the shares summed to 1 + ulp
        if over > 0:
            spend[int(np.argmax(spend))] -= over
            step_total -= over

        price_noise = None
        if self._noisy_price:
            sd = m.price_noise_sd
            self._price_noise[0] = np.exp(sd * self.np_random.standard_normal(K) - 0.5 * sd * sd)
            price_noise = self._price_noise
        self._spend_rows[:] = spend
        out = transition(
            m, self._state, t, self._spend_rows, self.path.cost[t], self.path.response[t], price_noise,
            self.path.delivery[t] if self._has_outage else None,
            self._carry.at(t) if self._carry is not None else None,
        )
        arrivals = out.segment.arrivals[0] if out.segment is not None else None
        conv, revenue, reward = realise(m, out.mean_conversions[0], spend, self.np_random, arrivals)
        base = self.path.baseline
        exp_reward = float(out.expected_reward(m, spend)[1])

        self.cumulative_spend += step_total
        self.t = t + 1
        self._last_share = spend / step_total if step_total > 0 else np.zeros(K)
        self._last_price_index = np.tanh(np.log(out.price[0] * self._inv_planned_price))
        self._last_conv = conv
        self._ema_conv = EMA_WEIGHT * conv + (1 - EMA_WEIGHT) * self._ema_conv
        self._last_spend_ratio = step_total / self.step_budget
        info = {
            "step": t,
            "spend": spend,
            "impressions": out.exposure[0],
            "price": out.price[0],
            "conversions": conv,
            "expected_conversions": out.mean_conversions[1],
            "revenue": revenue,
            "reward": reward,
            "expected_reward": exp_reward,
            "cumulative_spend": self.cumulative_spend,
            "remaining_budget": self.budget - self.cumulative_spend,
        }
        if out.segment is not None and m.segments is not None:
            info["expected_revenue"] = (out.segment.arrivals[1] * m.segments.value).sum(axis=-1)
        if base is not None:  # the KPI that spend does not drive: reported, never rewarded
            organic = float(base.realised[t])
            info["baseline"] = organic
            info["baseline_expected"] = float(base.expected[t])
            info["controls"] = dict(zip(base.control_names, base.controls[t].tolist(), strict=True))
            info["kpi"] = (float(conv.sum()) if m.reward_kind == "conversions" else float(revenue.sum())) + organic
        self._last_info = info
        return self._observation(), reward, False, self.t >= self.horizon, info

    def render(self) -> str | None:
        if self.render_mode != "ansi":
            return None
        info = self._last_info
        head = (
            f"{self.scenario.name}  step {self.t}/{self.horizon}  "
            f"spent {figure(self.cumulative_spend, 0, 20)} of {figure(self.budget, 0, 20)}"
        )
        lines = [head, f"{'channel':<14}{'share':>7}{'spend':>12}{'impr/clicks':>13}{'price':>9}{'conv':>9}"]
        for i, name in enumerate(self.scenario.channel_names):
            if info:
                lines.append(
                    f"{name:<14}{self._last_share[i]:>7.1%}{figure(info['spend'][i], 1, 11):>12}"
                    f"{figure(info['impressions'][i], 0, 12):>13}{figure(info['price'][i], 2, 8):>9}"
                    f"{figure(info['conversions'][i], 1, 8):>9}"
                )
            else:
                lines.append(f"{name:<14}{'-':>7}{'-':>12}{'-':>13}{'-':>9}{'-':>9}")
        if info:
            lines.append(f"reward {figure(info['reward'], 2, 20)}  expected {figure(info['expected_reward'], 2, 20)}")
        return "\n".join(lines) + "\n"

