r"""``ChannelBudgetVectorEnv``: ``N`` campaigns of :class:`~budgetgym.envs.ChannelBudgetEnv`, stepped as one batch.

The class docstring documents the environment (Gymnasium's structured style); the step's
arithmetic outside the dynamics is :mod:`budgetgym.envs.vector_steps`, the random numbers
:mod:`budgetgym.envs.vector_random`, the per-row dynamics :mod:`budgetgym.envs.batch_model`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from gymnasium.vector import AutoresetMode, VectorEnv
from gymnasium.vector.utils import batch_space

from budgetgym.envs.allocation import trivial_bounds
from budgetgym.envs.batch_model import BatchModel
from budgetgym.envs.brief import CampaignBrief
from budgetgym.envs.channel_env import EMA_WEIGHT
from budgetgym.envs.dynamics import expected_reward
from budgetgym.envs.errors import BudgetGymError
from budgetgym.envs.family import ScenarioFamily, load_family
from budgetgym.envs.history import carry_in
from budgetgym.envs.path import ScenarioPath, drift_step
from budgetgym.envs.scenario import Scenario
from budgetgym.envs.vector_random import BatchedRandom, Campaigns, PerEnvRandom, Seed, _Compiler
from budgetgym.envs.vector_steps import batch_info, observe, spend_of

__all__ = ["ChannelBudgetVectorEnv"]

#: Train draws a ``batched`` family compiles once (each episode of each row plays one of them).
DEFAULT_DRAW_POOL = 1024


def _at(table: np.ndarray, t: int, index: np.ndarray | None) -> np.ndarray:
    """Step ``t`` of a path table ``[T, P, K]`` for every row: ``[N, K]``, or ``[K]`` when ``P = 1``."""
    if index is not None:
        return table[t][index]
    return table[t, 0] if table.shape[1] == 1 else table[t]


class ChannelBudgetVectorEnv(VectorEnv):
    r"""``N`` budget-allocation campaigns stepped as one batch.

    ## Description
    A :class:`gymnasium.vector.VectorEnv` whose sub-environment ``i`` is a
    :class:`~budgetgym.envs.ChannelBudgetEnv` (see its docstring for the campaign, the dynamics, the
    rewards and the reset options) but whose step is one batched computation: the spend mapping, the
    dynamics (:class:`~budgetgym.envs.batch_model.BatchModel`, per-row parameters, the single
    environment's own functions), the noise and the observations run over all rows at once. Every
    sub-environment starts at step 0 and ends after the brief's ``horizon`` steps, so the rows stay in
    step. With a :class:`~budgetgym.envs.family.ScenarioFamily` every row plays its own draw of the
    family's **train** split; a list of scenarios (one brief) fixes row ``i``'s campaign instead.

    ## Random numbers (``rng``)
    ``"per_env"`` (default, the reference): sub-environment ``i`` draws from the generator that
    ``ChannelBudgetEnv.reset(seed=s + i)`` would own, in the single environment's order, so every
    observation, reward and info equals that of ``N`` single environments stepped with the same seeds
    and actions, bit for bit (``tests/test_vector_env.py``). ``"batched"``: one generator, every random
    quantity drawn for all rows in one call — the same distributions, other streams, and the
    throughput mode; a family then plays a pool of ``draw_pool`` train draws. Details:
    :mod:`budgetgym.envs.vector_random`. ``batched`` also sums the carry-over in another order
    (:mod:`budgetgym.envs.batch_model`, ``fast``): with every noise source off it equals the single
    environment to ~1e-13 relative, not bit for bit.

    ## Action space
    ``Box(-1, 1, (N, K), float32)`` (``(N, K + 1)`` under agent pacing): row ``i`` is sub-environment
    ``i``'s action (``single_action_space``).

    ## Observation space
    ``Box(float32)`` of shape ``(N, 4 K + 7)``: row ``i`` is sub-environment ``i``'s observation
    (``single_observation_space``, :class:`~budgetgym.envs.observation.ObservationLayout`).

    ## Rewards
    ``[N]`` float64: each sub-environment's reward (its scenario's ``reward``, realised).

    ## Episode end
    ``terminated`` is always ``False``; ``truncated`` is ``True`` for every row at the horizon.

    ## Info
    A dict of arrays, Gymnasium's vector convention: ``info[key][i]`` is sub-environment ``i``'s
    ``info[key]`` and ``info["_" + key]`` a boolean mask of the rows that have it (nested dicts, e.g.
    ``controls``, likewise). Keys as the single environment's; a varying family's ``draw`` is the
    draw's index in the train split (``batched``: an index of the pool, draws ``0 .. P-1``). With
    ``expected=False`` the info has no ``expected_conversions`` and ``expected_reward`` (the rows then
    keep no noise-free shadow: the throughput setting of training).

    ## Autoreset
    ``metadata["autoreset_mode"]`` is :attr:`gymnasium.vector.AutoresetMode.NEXT_STEP` by default
    (Gymnasium 1.x's default): the step after an episode's end resets the sub-environments that
    ended (each generator continues, as ``env.reset()`` without a seed; the ``history`` option of the
    seeded reset is not carried over) and returns their first observation, reward ``0``,
    ``terminated`` and ``truncated`` ``False`` and the reset's info; the actions of that call are
    ignored. ``autoreset_mode=AutoresetMode.SAME_STEP`` resets within the final step instead: the
    step returns the next episode's first observation, ``info["final_obs"]`` (an object array of the
    final observations) and ``info["final_info"]`` (the final step's info), the step-info keys being
    the reset's (what :class:`~budgetgym.agents.sb3_vec_env.SB3VecEnv` uses). ``DISABLED`` is not
    supported.

    ## Seeding
    ``reset(seed=s)`` seeds sub-environment ``i`` with ``s + i`` (``per_env``) or the batch generator
    with ``s`` (``batched``); ``reset(seed=[s_0, ..., s_{N-1}])`` gives each row its seed (``batched``:
    one generator from the seed sequence of the list); ``reset()`` continues the generators.

    ## Arguments
    scenario : a built-in name, a YAML path, a :class:`Scenario`, a family (name, file or
        :class:`ScenarioFamily`), or a list of scenarios with one brief (row ``i`` plays the
        ``i``-th).
    num_envs : ``N`` (default: 1, or the list's length).
    rng : ``"per_env"`` or ``"batched"`` (above).
    autoreset_mode : ``NEXT_STEP`` (default) or ``SAME_STEP``.
    draw_pool : ``batched`` with a varying family: the train draws compiled (default 1024).
    expected : report ``expected_conversions`` and ``expected_reward`` in ``info`` (default). Under
        price noise they need a noise-free shadow of every row; ``False`` leaves both out and
        saves that work (training needs neither). Observations and rewards are the same.

    ## Version History
    * v0: initial version.
    """

    metadata: dict[str, Any] = {"autoreset_mode": AutoresetMode.NEXT_STEP, "render_modes": []}

    def __init__(
        self,
        scenario: str | Path | Scenario | ScenarioFamily | Sequence[Scenario] = "stationary-3",
        num_envs: int | None = None,
        *,
        rng: str = "per_env",
        autoreset_mode: AutoresetMode | str = AutoresetMode.NEXT_STEP,
        draw_pool: int | None = None,
        expected: bool = True,
        render_mode: str | None = None,
    ):
        rows: list[Scenario] | None = None
        if isinstance(scenario, (list, tuple)):
            if not scenario:
                raise BudgetGymError("scenario: expected at least one scenario in the list")
            rows = [s if isinstance(s, Scenario) else load_family(s).nominal() for s in scenario]
            self.family = ScenarioFamily.of_scenario(rows[0])
            distinct = {id(sc): sc for sc in rows[1:] if sc is not rows[0]}.values()
            if any(CampaignBrief.from_scenario(sc) != self.family.brief for sc in distinct):
                raise BudgetGymError(
                    "scenario: the scenarios of a vector env must share one brief (channels, budget, pacing, horizon)"
                )
        else:
            self.family = load_family(scenario)  # type: ignore[arg-type]
        n = len(rows) if rows is not None and num_envs is None else (1 if num_envs is None else num_envs)
        if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
            raise BudgetGymError(f"num_envs: expected a positive integer, got {num_envs!r}")
        if rows is not None and n != len(rows):
            raise BudgetGymError(f"num_envs: {n} rows, but {len(rows)} scenarios were given")
        if rng not in ("per_env", "batched"):
            raise BudgetGymError(f"rng: expected 'per_env' or 'batched', got {rng!r}")
        mode = AutoresetMode(autoreset_mode)
        if mode not in (AutoresetMode.NEXT_STEP, AutoresetMode.SAME_STEP):
            raise BudgetGymError(f"autoreset_mode: expected NEXT_STEP or SAME_STEP, got {mode}")
        if render_mode is not None:
            raise BudgetGymError(f"render_mode: the vector env does not render, got {render_mode!r}")
        pool = DEFAULT_DRAW_POOL if draw_pool is None else draw_pool
        if isinstance(pool, bool) or not isinstance(pool, (int, np.integer)) or pool < 1:
            raise BudgetGymError(f"draw_pool: expected a positive integer, got {draw_pool!r}")
        self.num_envs = n = int(n)
        self.metadata = {**self.metadata, "autoreset_mode": mode}
        self.render_mode = None
        self.autoreset_mode = mode
        self.expected = bool(expected)
        self._rows = rows
        self.brief: CampaignBrief = self.family.brief
        self.single_action_space = self.brief.action_space()
        self.single_observation_space = self.brief.observation_space()
        self.action_space = batch_space(self.single_action_space, n)
        self.observation_space = batch_space(self.single_observation_space, n)
        self.observation_layout = self.brief.observation_layout

        sc = rows[0] if rows is not None else self.family.nominal()
        if sc.segments is not None:
            raise BudgetGymError(
                f"scenario '{sc.name}': the vector env does not play scenarios with segments yet; use "
                "ChannelBudgetEnv (gymnasium.make_vec(..., vectorization_mode='sync'), PPO's vec_env: dummy)"
            )
        self.n_channels = K = sc.n_channels
        self.horizon, self.budget, self.step_budget = sc.horizon, sc.budget.total, sc.step_budget
        self.agent_pacing = sc.budget.pacing == "agent"
        self.action_dim = K + int(self.agent_pacing)
        self.step_cap = sc.budget.max_step_multiple * self.step_budget
        self.quantum = 2.0 ** (math.ceil(math.log2(self.budget)) - 52)  # as ChannelBudgetEnv
        self.logit_scale = sc.action.logit_scale
        self.low_share, self.high_share = sc.share_bound_arrays
        self.bounded = not trivial_bounds(self.low_share, self.high_share)
        days = self.brief.step_day_index()
        days = np.append(days, days[-1] + sc.step_days)
        angle_w, angle_y = 2 * np.pi * days / 7.0, 2 * np.pi * days / 365.25
        self.phase = np.stack([np.sin(angle_w), np.cos(angle_w), np.sin(angle_y), np.cos(angle_y)], axis=1)
        self.inv_conv_scale = 1.0 / self.brief.conversion_scale
        self.random: PerEnvRandom | BatchedRandom = PerEnvRandom(n) if rng == "per_env" else BatchedRandom(n, int(pool))
        self._compile = _Compiler()
        self._model: BatchModel | None = None
        self.campaigns: Campaigns | None = None
        self._carry: tuple[np.ndarray, np.ndarray] | None = None
        self._drift: tuple[np.ndarray, np.ndarray] | None = None
        self._w = np.zeros((n, K))
        self._needs_reset = False
        self.t = 0
        self.cumulative_spend = np.zeros(n)
        self._counters()
        self.closed = False

    # ------------------------------------------------------------------ episodes
    @property
    def paths(self) -> list[ScenarioPath] | None:
        """Each row's episode path (``per_env`` only; ``None`` in ``batched`` mode)."""
        return None if self.campaigns is None else self.campaigns.paths

    @property
    def scenarios(self) -> list[Scenario]:
        """The scenario each row plays this episode."""
        assert self.campaigns is not None, "reset() first"
        c = self.campaigns
        return [c.scenarios[0 if c.index is None else int(c.index[i])] for i in range(self.num_envs)]

    def _counters(self) -> None:
        n, K = self.num_envs, self.n_channels
        self.t = 0
        self.cumulative_spend = np.zeros(n)
        self.last_share = np.full((n, K), 1.0 / K)
        self.last_price_index = np.zeros((n, K))
        self.last_conv = np.zeros((n, K))
        self.ema_conv = np.zeros((n, K))
        self.last_spend_ratio = np.zeros(n)

    def _start(self, history: Any) -> tuple[np.ndarray, dict[str, Any]]:
        """Begin an episode on every row: campaigns, paths, carry-in, counters."""
        fixed = self._rows is not None or not self.family.varies
        c = self.random.campaigns(self.family, self._rows, self._compile)
        if self._model is None or not fixed:
            self._model = BatchModel(
                c.members, c.index, self.num_envs, self.expected, fast=isinstance(self.random, BatchedRandom)
            )
        self._model.clear()
        self.campaigns = c
        self._carry = None
        if history is not None:
            carries = [carry_in(sc, history, m) for sc, m in zip(c.scenarios, c.members, strict=True)]
            if carries[0] is not None:
                A = np.stack([ci.adstock for ci in carries if ci is not None], axis=1)
                M = np.stack([ci.arrivals for ci in carries if ci is not None], axis=1)
                self._carry = (A, M) if c.index is None else (A[:, c.index], M[:, c.index])
        if isinstance(self.random, BatchedRandom):
            self._drift = self.random.drift(c.scenarios, c.index, self.num_envs)
        self._w = np.zeros((self.num_envs, self.n_channels))
        self._counters()
        self._needs_reset = False
        info: dict[str, Any] = {
            "cumulative_spend": np.zeros(self.num_envs),
            "remaining_budget": np.full(self.num_envs, float(self.budget)),
            "step": np.zeros(self.num_envs, dtype=int),
        }
        if c.draws is not None:
            info["draw"] = c.draws.astype(int)
            info["split"] = np.full(self.num_envs, "train", dtype=object)
        return observe(self), batch_info(info, self.num_envs)

    def reset(self, *, seed: Seed = None, options: dict[str, Any] | None = None) -> tuple[np.ndarray, dict[str, Any]]:
        """Start an episode on every row. Seeding: the class docstring; ``options["history"]``: a
        spend history carried into every row's window, as for ``ChannelBudgetEnv``."""
        if isinstance(seed, (list, tuple)) and len(seed) != self.num_envs:
            raise ValueError(f"seed: a list needs one seed per sub-environment ({self.num_envs}), got {len(seed)}")
        if options and "reset_mask" in options:
            raise ValueError("options['reset_mask']: the vector env resets every row together (no DISABLED autoreset)")
        super().reset(seed=seed if isinstance(seed, (int, np.integer)) else None)
        self.random.seed(seed)
        return self._start((options or {}).get("history"))

    # --------------------------------------------------------------------- step
    def step(self, actions: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, dict[str, Any]]:
        n = self.num_envs
        if self._needs_reset:  # NEXT_STEP autoreset: this call starts the next episode
            obs, info = self._start(None)
            return obs, np.zeros(n), np.zeros(n, dtype=bool), np.zeros(n, dtype=bool), info
        if self.campaigns is None or self._model is None:
            raise RuntimeError("step() called before reset()")
        obs, reward, info = self._advance(actions)
        truncated = np.full(n, self.t >= self.horizon)
        terminated = np.zeros(n, dtype=bool)
        if self.t >= self.horizon:
            if self.autoreset_mode == AutoresetMode.SAME_STEP:
                final_obs = np.empty(n, dtype=object)
                final_obs[:] = list(obs)
                obs, info_reset = self._start(None)
                mask = np.ones(n, dtype=bool)
                info = {**info_reset, "final_obs": final_obs, "_final_obs": mask, "final_info": info,
                        "_final_info": mask.copy()}
            else:
                self._needs_reset = True
        return obs, reward, terminated, truncated, info

    def _advance(self, actions: np.ndarray) -> tuple[np.ndarray, np.ndarray, dict[str, Any]]:
        """One step of every row (the single environment's ``step``, vectorised)."""
        bm, c, t, K, n = self._model, self.campaigns, self.t, self.n_channels, self.num_envs
        assert bm is not None and c is not None
        spend, step_total = spend_of(self, actions)
        rnd = self.random
        cost_t, response_t = _at(c.cost, t, c.path_index), _at(c.response, t, c.path_index)
        delivery_t = None if c.delivery is None else _at(c.delivery, t, c.path_index)
        if self._drift is not None:
            sd, keep = self._drift
            self._w = drift_step(self._w, rnd.generator.standard_normal((n, K)), sd, keep)  # type: ignore[union-attr]
            response_t = response_t * np.exp(self._w)
        nu = None
        if bm.noisy_price:
            sdp = bm.row_model.price_noise_sd
            z = rnd.price_z(bm.noisy_price_rows, K)
            nu = np.exp(sdp * z - 0.5 * sdp * sdp)
        carried = None if self._carry is None else (self._carry[0][t], self._carry[1][t])
        price, exposure = np.empty((n, K)), np.empty((n, K))
        mu, mu_shadow = np.empty((n, K)), np.empty((n, K))
        for g in bm.groups:
            r = g.rows

            def part(x: np.ndarray | None, r: Any = r) -> Any:
                return x if x is None or x.ndim < 2 or isinstance(r, slice) else x[r]

            out = g.step(
                t, part(spend), part(cost_t), part(response_t), part(nu), part(delivery_t),
                None if carried is None else (part(carried[0]), part(carried[1])),
            )
            price[r], exposure[r], mu[r], mu_shadow[r] = out
        conv, zv = rnd.counts_and_value_z(mu, bm)
        value = bm.row_model.value
        if zv is not None:
            sdv = bm.row_model.value_noise_sd
            value = value * np.exp(sdv * zv - 0.5 * sdv * sdv)
        revenue = conv * value
        if bm.reward_kind == "conversions":
            reward = conv.sum(axis=-1)
        else:
            reward = revenue.sum(axis=-1) - bm.spend_cost * spend.sum(axis=-1)

        self.cumulative_spend = self.cumulative_spend + step_total
        self.t = t + 1
        self.last_share = np.divide(spend, step_total[:, None], out=np.zeros((n, K)), where=step_total[:, None] > 0)
        self.last_price_index = np.tanh(np.log(price * bm.inv_base_price))
        self.last_conv = conv
        self.ema_conv = EMA_WEIGHT * conv + (1 - EMA_WEIGHT) * self.ema_conv
        self.last_spend_ratio = step_total / self.step_budget
        info: dict[str, Any] = {
            "step": np.full(n, t, dtype=int),
            "spend": spend,
            "impressions": exposure,
            "price": price,
            "conversions": conv,
            "expected_conversions": mu_shadow,
            "revenue": revenue,
            "reward": reward,
            "expected_reward": None,
            "cumulative_spend": self.cumulative_spend,
            "remaining_budget": self.budget - self.cumulative_spend,
        }
        if self.expected:
            info["expected_reward"] = expected_reward(bm.row_model, mu_shadow, spend)
        else:
            del info["expected_conversions"], info["expected_reward"]
        if c.baselines is not None:
            organic = np.array([b.realised[t] for b in c.baselines], dtype=float)
            info["baseline"] = organic
            info["baseline_expected"] = np.array([b.expected[t] for b in c.baselines], dtype=float)
            names = c.baselines[0].control_names
            info["controls"] = {nm: np.array([b.controls[t, j] for b in c.baselines], dtype=float)
                                for j, nm in enumerate(names)}
            info["kpi"] = (conv.sum(axis=-1) if bm.reward_kind == "conversions" else revenue.sum(axis=-1)) + organic
        return observe(self), reward, batch_info(info, n)

    def close_extras(self, **kwargs: Any) -> None:
        self.campaigns = None
