r"""``ChannelBudgetVectorEnv``: ``N`` campaigns of :class:`~budgetgym.envs.ChannelBudgetEnv`, stepped as one batch.

The class docstring documents the environment (Gymnasium's structured style); the row parts, their
threads and a part's step are :mod:`budgetgym.envs.vector_parts`, the env's helper threads, worker
processes and shared tables :mod:`budgetgym.envs.vector_workers`, the step's arithmetic outside the
dynamics :mod:`budgetgym.envs.vector_steps`, the random numbers
:mod:`budgetgym.envs.vector_random`, the per-row dynamics :mod:`budgetgym.envs.batch_model`.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from gymnasium.error import ClosedEnvironmentError
from gymnasium.vector import AutoresetMode, VectorEnv
from gymnasium.vector.utils import batch_space

from budgetgym.envs.allocation import trivial_bounds
from budgetgym.envs.brief import CampaignBrief
from budgetgym.envs.family import ScenarioFamily
from budgetgym.envs.history import history_option
from budgetgym.envs.path import ScenarioPath
from budgetgym.envs.scenario import Scenario
from budgetgym.envs.vector_parts import (
    PART_ROWS,
    Part,
    default_threads,
    part_bounds,
    part_stepper,
    start_part,
)
from budgetgym.envs.vector_processes import PartProcesses
from budgetgym.envs.vector_random import (
    BatchedRandom,
    Campaigns,
    DrawPool,
    PerEnvRandom,
    Seed,
    _Compiler,
    checked_seed,
    seed_parts,
)
from budgetgym.envs.vector_settings import vector_settings
from budgetgym.envs.vector_steps import batch_info, copy_info, observe, step_info, step_outputs, step_shapes
from budgetgym.envs.vector_workers import PartWorkers

__all__ = ["PART_ROWS", "ChannelBudgetVectorEnv", "default_threads", "part_bounds"]


class ChannelBudgetVectorEnv(PartWorkers, VectorEnv):
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
    and actions, bit for bit (``tests/test_vector_env.py``). ``"batched"``: the throughput mode. The
    rows are split into ``ceil(N / part_rows)`` **row parts** (default :data:`PART_ROWS` = 4,096 rows
    each), each with one generator that draws every random quantity for all its rows in one call —
    the same distributions, other streams; a family then plays a pool of ``draw_pool`` train draws.
    The parts are stepped (and reset) by a pool of ``threads`` threads (numpy releases the GIL in
    its array loops and samplers), or by ``processes`` processes; the streams depend on the seed,
    ``N`` and ``part_rows``, never on ``threads`` or ``processes``: a seed reproduces a run whatever
    they are (``tests/test_vector_parts.py``, ``tests/test_vector_processes.py``).
    Details: :mod:`budgetgym.envs.vector_random`. ``batched`` also sums the carry-over in another
    order (:mod:`budgetgym.envs.batch_model`, ``fast``; geometric kernels by a block recursion,
    :mod:`budgetgym.envs.carry_rings`) and, from
    :data:`~budgetgym.envs.vector_steps.NEWTON_CHANNELS` channels on, projects the splits onto the
    share bounds by :func:`~budgetgym.envs.simplex_projection.project_rows_few_bounds` (no sort): with every
    noise source off it equals the single environment to ~1e-13 relative, not bit for bit (with the
    sort-free projection a spend may round to the neighbouring quantum of the budget, 2**-52 of it).

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
    draw's index in the train split (``batched``: an index of the pool, draws ``0 .. P-1``). The rows
    share one info layout (:func:`~budgetgym.envs.info_layout.info_layout`: audience segments or
    none, a KPI baseline or none and its controls), so every mask is all true; a family whose draws
    differ there is a one-line error (``evaluate`` plays each kind in batches of its own). With
    ``expected=False`` the info has no ``expected_conversions`` and ``expected_reward`` (the rows then
    keep no noise-free shadow, except rows with audience segments, whose step computes it anyway:
    the throughput setting of training). Every array ``reset`` and
    ``step`` return is the caller's: editing it in place changes nothing the env does.

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
    with ``s`` (``batched``; several row parts: part ``j`` with child ``j`` of ``SeedSequence(s)``);
    ``reset(seed=[s_0, ..., s_{N-1}])`` gives each row its seed (``batched``: the generators from the
    seed sequence of the list, or a 1-d array); ``reset()`` continues the generators. Seeds are
    non-negative integers, numpy's too. ``np_random_seed`` is a tuple of each row's seed, as
    ``SyncVectorEnv``'s: ``(s, ..., s + N - 1)`` after ``reset(seed=s)``, the list after a list, kept by
    ``reset()``; a row seeded ``None`` has the fresh entropy its generator drew (``per_env``) or -1
    (``batched``, whose rows share their part's generator: the tuple is the seeds given), -1 before any reset.

    ## Closing
    ``close()`` releases the thread pool and stops the worker processes (``processes``; also when
    the env is collected unclosed); a later ``step()`` raises
    :class:`gymnasium.error.ClosedEnvironmentError`, and ``reset()`` starts the env again (without
    a seed it continues the generators, the workers' included), to be closed again.

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
        saves that work (training needs neither; a segmented row's step computes it anyway).
        Observations and rewards are the same.
    threads : ``batched``: threads that step the row parts (default ``min(2, os.cpu_count())``, or
        ``1`` with ``processes``; ``1``: in order on the calling thread). More threads than parts
        are not used. On a machine whose cores are all busy with other work, ``1`` is a few percent
        faster.
    part_rows : ``batched``: rows per part (default :data:`PART_ROWS`); with ``N`` it fixes the
        split, hence the random streams. Smaller parts keep a step's arrays in cache.
    processes : ``batched``: processes that step the row parts (default 1): the calling one and
        ``processes - 1`` workers, started at the first reset, each with its contiguous block of
        parts (:mod:`budgetgym.envs.vector_processes`): no GIL between them, a step's arrays in
        shared memory, the same run bit for bit. At ``N = 16,384``: 1.4–1.8x the steps per second of
        two threads on ``stationary-5``, ~1.05x on ``large-50`` (``benchmarks/README.md``);
        pointless with one part.
        A script needs the ``if __name__ == "__main__":`` guard (workers are spawned).

    ## Version History
    * v0: initial version.
    """

    metadata: dict[str, Any] = {"autoreset_mode": AutoresetMode.NEXT_STEP, "render_modes": []}
    cumulative_spend: np.ndarray  # the counters (vector_steps.COUNTERS), [n] or [n, K]
    last_share: np.ndarray
    last_price_index: np.ndarray
    last_conv: np.ndarray
    ema_conv: np.ndarray
    last_spend_ratio: np.ndarray

    def __init__(
        self,
        scenario: str | Path | Scenario | ScenarioFamily | Sequence[Scenario] = "stationary-3",
        num_envs: int | None = None,
        *,
        rng: str = "per_env",
        autoreset_mode: AutoresetMode | str = AutoresetMode.NEXT_STEP,
        draw_pool: int | None = None,
        expected: bool = True,
        threads: int | None = None,
        part_rows: int | None = None,
        processes: int | None = None,
        render_mode: str | None = None,
    ):
        cfg = vector_settings(
            scenario, num_envs, rng=rng, autoreset_mode=autoreset_mode, draw_pool=draw_pool, threads=threads,
            part_rows=part_rows, processes=processes, render_mode=render_mode, expected=expected,
        )
        self.family, rows, n, mode = cfg.family, cfg.rows, cfg.n, cfg.autoreset_mode
        self.num_envs = n
        self.metadata = {**self.metadata, "autoreset_mode": mode}
        self.render_mode = None
        self.autoreset_mode = mode
        self.expected = cfg.expected
        self._rows = rows
        self.brief: CampaignBrief = self.family.brief
        self.single_action_space = self.brief.action_space()
        self.single_observation_space = self.brief.observation_space()
        self.action_space = batch_space(self.single_action_space, n)
        self.observation_space = batch_space(self.single_observation_space, n)
        self.observation_layout = self.brief.observation_layout

        sc = rows[0] if rows is not None else self.family.nominal()
        self.n_channels = K = sc.n_channels
        self.horizon, self.budget, self.step_budget = sc.horizon, sc.budget.total, sc.step_budget
        self.agent_pacing = sc.budget.pacing == "agent"
        self.action_dim = K + int(self.agent_pacing)
        self.step_cap = sc.step_cap
        self.quantum = 2.0 ** (math.ceil(math.log2(self.budget)) - 52)  # as ChannelBudgetEnv
        self.logit_scale = sc.action.logit_scale
        self.low_share, self.high_share = sc.share_bound_arrays
        self.bounded = not trivial_bounds(self.low_share, self.high_share)
        days = self.brief.step_day_index()
        days = np.append(days, days[-1] + sc.step_days)
        angle_w, angle_y = 2 * np.pi * days / 7.0, 2 * np.pi * days / 365.25
        self.phase = np.stack([np.sin(angle_w), np.cos(angle_w), np.sin(angle_y), np.cos(angle_y)], axis=1)
        self.inv_conv_scale = 1.0 / self.brief.conversion_scale
        self.inv_planned_price = 1.0 / self.brief.planned_prices  # [K]: the price index's reference
        self.rng_mode = rng
        self.threads, self.processes = cfg.threads, cfg.processes
        self._executor = None  # the helper threads and worker processes (vector_workers), made when needed
        self._procs = None
        draw_pool_ = DrawPool(cfg.draw_pool)
        bounds = [(0, n)] if rng == "per_env" else part_bounds(n, cfg.part_rows)
        #: the row parts ``[lo, hi)`` of the batch, each with its own random source and dynamics
        self.parts = [
            Part(slice(lo, hi), hi - lo, PerEnvRandom(n) if rng == "per_env" else BatchedRandom(hi - lo, draw_pool_))
            for lo, hi in bounds
        ]
        self._compile = _Compiler()
        self._last_tables = None
        self._tables_lock = threading.Lock()
        self._needs_reset = False
        self.t = 0
        self.cumulative_spend = np.zeros(n)
        self._counters()
        self.closed = False
        self._seeds = (-1,) * n  # the rows' seeds given to reset (batched; per_env's are its generators')

    # ------------------------------------------------------------------ episodes
    @property
    def np_random_seed(self) -> tuple[int, ...]:  # type: ignore[override]
        """Each row's seed, as ``SyncVectorEnv.np_random_seed`` (class docstring, Seeding)."""
        random = self.parts[0].random
        return tuple(random.seeds) if isinstance(random, PerEnvRandom) else self._seeds

    @property
    def campaigns(self) -> Campaigns | None:
        """What the rows play this episode (``None`` before the first reset), when the batch is one
        row part; with several parts, each part's are ``parts[j].campaigns`` (with worker processes,
        those of the workers' parts are in the workers: see ``scenarios``)."""
        if len(self.parts) > 1:
            where = "scenarios" if self.processes > 1 else "parts[j].campaigns"
            raise AttributeError(f"campaigns: the batch is split into row parts; see {where}")
        return self.parts[0].campaigns

    @property
    def paths(self) -> list[ScenarioPath] | None:
        """Each row's episode path (``per_env`` only; ``None`` in ``batched`` mode)."""
        return self.parts[0].campaigns.paths if self.rng_mode == "per_env" and self.parts[0].campaigns else None

    @property
    def scenarios(self) -> list[Scenario]:
        """The scenario each row plays this episode."""
        out: list[Scenario] = []
        for part in self._procs.parts(self.parts) if self._procs is not None else self.parts:
            c = part.campaigns
            assert c is not None, "reset() first"
            out += [c.scenarios[0 if c.index is None else int(c.index[i])] for i in range(part.n)]
        return out

    def _counters(self) -> None:
        n, K = self.num_envs, self.n_channels
        self.t = 0
        self.cumulative_spend = np.zeros(n)
        self.last_share = np.full((n, K), 1.0 / K)
        self.last_price_index = np.zeros((n, K))
        self.last_conv = np.zeros((n, K))
        self.ema_conv = np.zeros((n, K))
        self.last_spend_ratio = np.zeros(n)
        if self._procs is not None:
            self._procs.share_counters(self)

    def _start_processes(self) -> None:
        """Start the worker processes (``processes > 1`` and several row parts) if not running: they
        copy the env as it is."""
        if self._procs is None and self.processes > 1 and len(self.parts) > 1:
            self._procs = PartProcesses(self, self.processes)
            self._procs.share_counters(self)

    def _start(self, history: Any) -> tuple[np.ndarray, dict[str, Any]]:
        """Begin an episode on every row: campaigns, paths, carry-in, counters."""
        self._start_processes()
        draws = self._run(lambda part: start_part(self, part, history), ("start", history))
        self._counters()
        self._needs_reset = False
        info: dict[str, Any] = {
            "cumulative_spend": np.zeros(self.num_envs),
            "remaining_budget": np.full(self.num_envs, float(self.budget)),
            "step": np.zeros(self.num_envs, dtype=int),
        }
        if all(d is not None for d in draws):
            info["draw"] = np.concatenate(draws).astype(int)
            info["split"] = np.full(self.num_envs, "train", dtype=object)
        obs = np.empty((self.num_envs, self.observation_layout.size), dtype=np.float32)
        return observe(self, slice(None), obs), batch_info(info, self.num_envs)

    def reset(self, *, seed: Seed = None, options: dict[str, Any] | None = None) -> tuple[np.ndarray, dict[str, Any]]:
        """Start an episode on every row. Seeding: the class docstring; ``options["history"]``: a
        spend history carried into every row's window, as for ``ChannelBudgetEnv``. Bad options or seeds
        are refused before anything moves: the episode in progress goes on."""
        seed = checked_seed(seed, self.num_envs)
        if isinstance(options, Mapping) and "reset_mask" in options:
            raise ValueError("options['reset_mask']: the vector env resets every row together (no DISABLED autoreset)")
        history = history_option(options, self.family.nominal() if self._rows is None else self._rows[0])
        super().reset(seed=seed if isinstance(seed, int) else None)
        self.closed = False  # a reset after close() starts the env again (worker processes too)
        sources = [part.random for part in self.parts]
        if self.rng_mode == "batched":
            seed_parts(sources, seed)  # type: ignore[arg-type]
            if self._procs is not None and seed is not None:
                self._procs.seed(self.parts)
            if seed is not None:
                self._seeds = (tuple(seed + i for i in range(self.num_envs)) if isinstance(seed, int) else
                               tuple(-1 if s is None else s for s in seed))
        else:
            sources[0].seed(seed)
        return self._start(history)

    # --------------------------------------------------------------------- step
    def step(self, actions: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, dict[str, Any]]:
        n = self.num_envs
        if self.closed:
            raise ClosedEnvironmentError("step() called after close(); reset() starts the environment again")
        if self._needs_reset:  # NEXT_STEP autoreset: this call starts the next episode
            obs, info = self._start(None)
            return obs, np.zeros(n), np.zeros(n, dtype=bool), np.zeros(n, dtype=bool), info
        if self.parts[0].campaigns is None:
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
        """One step of every row (the single environment's ``step``, vectorised), part by part."""
        n, K = self.num_envs, self.n_channels
        a = np.asarray(actions)  # sanitised part by part (sanitize_action: a float64 copy)
        if a.shape != (n, self.action_dim):
            raise ValueError(f"actions: expected shape {(n, self.action_dim)}, got {np.shape(actions)}")
        first = self.parts[0]
        assert first.campaigns is not None and first.model is not None
        self._start_processes()
        baselines = first.campaigns.baselines
        shapes = step_shapes(n, K, self.observation_layout.size, self.expected, first.segments is not None,
                             None if baselines is None else baselines[0].control_names)
        command: tuple[str, Any] = ("advance", None)
        if self._procs is None:
            arrays = {k: np.empty(v, np.float32 if k == "obs" else np.float64) for k, v in shapes.items()}
            arrays["actions"] = a
        else:  # one shared block for the step, the actions in it (vector_processes)
            arrays, command = self._procs.step_arrays(shapes, a, self.t)
        t, prev = self.t, (self.cumulative_spend, self.ema_conv)
        self._run(part_stepper(self, arrays, prev, t), command)
        out, controls = step_outputs(arrays)
        obs = arrays["obs"]
        info = step_info(t, out, controls, self.cumulative_spend, self.budget)
        if self._procs is not None and self._procs.crowded():  # the caller keeps many steps: copies
            obs, info = obs.copy(), copy_info(info)
        return obs, info["reward"].copy(), batch_info(info, n)  # rewards a caller scales leave the info's

    def render(self) -> None:
        """Nothing: the env has no render modes (``render_mode`` is always ``None``), and, as
        Gymnasium's environments without a render mode do (``SyncVectorEnv`` of them too), it
        renders nothing rather than raising."""
        return None
