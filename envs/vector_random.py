r"""Where a vector environment's randomness comes from: one generator per row, or one per batch.

Everything random in an episode is drawn by a *source*; the rest of a step is the same
vectorised arithmetic for both.

``per_env`` (:class:`PerEnvRandom`): row ``i`` owns the generator that
``ChannelBudgetEnv.reset(seed=s_i)`` would create (:func:`gymnasium.utils.seeding.np_random`)
and draws from it exactly what the single environment draws, in the same order: at reset the
family's draw index (``integers(0, 2**31 - 1)``) and the episode's path
(:func:`~budgetgym.envs.path.sample_path`); at each step the price noise ``standard_normal(K)``,
then the conversion counts (:func:`~budgetgym.envs.dynamics.draw_counts`) and the value noise
``standard_normal(K)``. The draws loop over rows in Python; every row then equals the single
environment with the same seed and actions, bit for bit.

``batched`` (:class:`BatchedRandom`): one generator for a row part of the batch (the vector
environment splits ``N`` rows into parts of at most ``part_rows``, each stepped by a thread;
:func:`seed_parts` seeds them from children of one seed sequence), each quantity drawn for all
its rows in one call (``standard_normal((n, K))``, ``poisson(mu[n, K])``, ...): the same
distributions, other streams. The path is the scenario's nominal one (calendar and shocks,
:func:`~budgetgym.envs.path.sample_path` with no generator) times the drift
``exp(w_t)``, whose walk (:func:`~budgetgym.envs.path.drift_step`) advances with each step's
``standard_normal((N, K))`` instead of being drawn whole at reset (no row sees its future either
way). A family's rows play draws from a **pool** (:class:`DrawPool`, shared by the parts): the
train draws ``0 .. P-1`` of the family (an explicit ensemble: at most its train members, each once),
compiled once (about 1.5 ms each), each episode of each row a uniformly chosen member. A draw's
parameters are distributed as the single environment's (draw ``i`` of the train split is an
independent draw for every ``i``); the members are chosen with replacement, so a pool repeats
campaigns before ``P`` episodes have been played (``train_ppo`` sets ``P``: its docstring).
A KPI baseline (:mod:`budgetgym.envs.baseline`) is drawn per row from ``rng.spawn`` children.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from gymnasium.utils import seeding

from budgetgym.envs.baseline import BaselinePath, baseline_path
from budgetgym.envs.batch_model import BatchModel
from budgetgym.envs.dynamics import LARGE_MEAN, ChannelModel, draw_counts
from budgetgym.envs.errors import count
from budgetgym.envs.family import ScenarioFamily
from budgetgym.envs.info_layout import check_info_layouts, check_reach_layouts
from budgetgym.envs.path import ScenarioPath, drift_sd, sample_path, step_days
from budgetgym.envs.scenario import Scenario

__all__ = [
    "BatchedRandom",
    "Campaigns",
    "DrawPool",
    "PerEnvRandom",
    "Seed",
    "check_info_layouts",
    "check_reach_layouts",
    "checked_seed",
    "seed_parts",
]

Seed = int | Sequence[int | None] | None
#: The largest family draw index the single environment draws at reset (exclusive).
DRAW_BOUND = 2**31 - 1
#: Up to this many channels, ``per_env`` draws a row's counts one channel at a time (faster).
SCALAR_DRAWS = 8


def _seed_entry(s: Any) -> int:
    """A seed as a Python int (numpy's integers too), or a one-line error."""
    if not isinstance(s, (int, np.integer)):
        raise TypeError(f"seed: expected an integer, got {type(s).__name__} {s!r}")
    if s < 0:
        raise ValueError(f"seed: expected a non-negative integer, got {s}")
    return int(s)


def checked_seed(seed: Any, n: int) -> Seed:
    """A vector env's ``reset`` seed with Python ints: ``None``, an integer (numpy's too), or ``n``
    integers or ``None`` (a list, a tuple or a 1-d array); anything else is a one-line error."""
    if seed is None:
        return None
    if isinstance(seed, (int, np.integer)):
        return _seed_entry(seed)
    if isinstance(seed, np.ndarray) and seed.ndim == 1:
        seed = seed.tolist()
    if not isinstance(seed, (list, tuple)):
        raise TypeError(
            f"seed: expected an integer, a list of {count(n, 'integer')} or None, got {type(seed).__name__}"
        )
    if len(seed) != n:
        raise ValueError(f"seed: a list needs one seed per sub-environment ({n}), got {len(seed)}")
    return [None if s is None else _seed_entry(s) for s in seed]


@dataclass
class Campaigns:
    """What the rows play in an episode: compiled members, paths and draws."""

    scenarios: list[Scenario]  # the members' scenarios
    members: list[ChannelModel]
    index: np.ndarray | None  # [N] member of each row (None: one member)
    cost: np.ndarray  # [T, P, K] path tables; P = N (a path per row) or the number of members
    response: np.ndarray  # [T, P, K]
    delivery: np.ndarray | None  # [T, P, K], None without outages
    path_index: np.ndarray | None  # [N] column of each row in the tables (None: the row itself, or 0 when P = 1)
    draws: np.ndarray | None  # [N] family train draw of each row (None: not a varying family)
    paths: list[ScenarioPath] | None  # per row (per_env only)
    baselines: list[BaselinePath] | None  # per row, when the scenario has a baseline


class _Compiler:
    """Compiled models by scenario identity (a family's cache returns the same object per draw)."""

    def __init__(self) -> None:
        self._models: dict[int, tuple[Scenario, ChannelModel]] = {}

    def __call__(self, scenario: Scenario) -> ChannelModel:
        hit = self._models.get(id(scenario))
        if hit is None:
            if len(self._models) > 8192:
                self._models.clear()
            hit = (scenario, ChannelModel.from_scenario(scenario))
            self._models[id(scenario)] = hit
        return hit[1]


def _distinct(scenarios: Sequence[Scenario]) -> tuple[list[Scenario], np.ndarray]:
    """Distinct scenarios (by identity) and each row's place among them."""
    place: dict[int, int] = {}
    out: list[Scenario] = []
    index = np.empty(len(scenarios), dtype=np.intp)
    for i, sc in enumerate(scenarios):
        if id(sc) not in place:
            place[id(sc)] = len(out)
            out.append(sc)
        index[i] = place[id(sc)]
    return out, index


_Tables = tuple[np.ndarray, np.ndarray, np.ndarray | None]


def _tables(paths: Sequence[ScenarioPath]) -> _Tables:
    cost = np.stack([p.cost for p in paths], axis=1)
    response = np.stack([p.response for p in paths], axis=1)
    outage = any(bool((p.delivery != 1.0).any()) for p in paths)
    delivery = np.stack([p.delivery for p in paths], axis=1) if outage else None
    return cost, response, delivery


class PerEnvRandom:
    """One generator per row, drawn as the single environment draws (module docstring)."""

    mode = "per_env"

    def __init__(self, n: int):
        self.n = n
        self.rngs: list[np.random.Generator | None] = [None] * n
        #: Row ``i``'s seed (``seeding.np_random``'s: the one given, or the fresh entropy it drew); -1 before any.
        self.seeds: list[int] = [-1] * n

    def seed(self, seed: Seed) -> None:
        """``int s``: row ``i`` gets ``s + i``; a list: one seed (or ``None``) per row; ``None``: keep."""
        seeds = [seed + i for i in range(self.n)] if isinstance(seed, (int, np.integer)) else seed
        for i, s in enumerate(seeds or [None] * self.n):
            if s is not None or self.rngs[i] is None:
                self.rngs[i], self.seeds[i] = seeding.np_random(None if s is None else int(s))

    def _rng(self, i: int) -> np.random.Generator:
        g = self.rngs[i]
        assert g is not None, "seed() first"
        return g

    def generators(self) -> list[np.random.Generator]:
        """Every row's generator, in row order."""
        return [self._rng(i) for i in range(self.n)]

    def campaigns(
        self, family: ScenarioFamily, rows: Sequence[Scenario] | None, compile_: _Compiler
    ) -> Campaigns:
        draws = None
        if rows is not None:
            chosen = list(rows)
        elif family.varies:
            draws = np.array([int(self._rng(i).integers(0, DRAW_BOUND)) for i in range(self.n)])
            chosen = [family.sample(int(d), "train") for d in draws]
        else:
            chosen = [family.nominal()] * self.n
        scenarios, index = _distinct(chosen)
        check_info_layouts(scenarios, f"scenario '{family.name}'")
        paths = [sample_path(sc, self._rng(i)) for i, sc in enumerate(chosen)]
        cost, response, delivery = _tables(paths)
        base = [p.baseline for p in paths] if paths[0].baseline is not None else None
        return Campaigns(
            scenarios, [compile_(sc) for sc in scenarios], index if len(scenarios) > 1 else None,
            cost, response, delivery, None, draws, paths, base,  # type: ignore[arg-type]
        )

    def price_z(self, rows: np.ndarray, K: int) -> np.ndarray:
        """``[N, K]`` standard normals for the rows with price noise (zeros elsewhere)."""
        z = np.zeros((self.n, K))
        for i in np.flatnonzero(rows).tolist():
            z[i] = self._rng(i).standard_normal(K)
        return z

    def counts_and_value_z(self, mu: np.ndarray, bm: BatchModel) -> tuple[np.ndarray, np.ndarray | None]:
        """Counts around ``mu`` ``[N, K]`` and the value-noise normals, row by row (counts first).

        Each row draws :func:`~budgetgym.envs.dynamics.draw_counts` from its generator; for a few
        channels and ordinary means the Poisson and negative-binomial draws are taken one channel
        at a time, which numpy serves from the same sampler in the same order (the same numbers)
        without the per-call checks of an array draw."""
        conv = np.empty_like(mu)
        value_rows = bm.value_noise_rows
        zv = np.zeros_like(mu) if value_rows.any() else None
        kinds, disp, K = bm.noise_kind_rows.tolist(), bm.dispersion[:, 0].tolist(), mu.shape[1]
        pos = np.maximum(mu, 0.0)
        scalar = (pos.max(axis=1) <= LARGE_MEAN).tolist() if K <= SCALAR_DRAWS else [False] * self.n
        lam = pos.tolist()
        for i in range(self.n):
            g = self._rng(i)
            kind = kinds[i]
            if scalar[i] and kind == "poisson":
                conv[i] = [g.poisson(x) for x in lam[i]]
            elif scalar[i] and kind == "negative_binomial":
                k = disp[i]
                conv[i] = [g.negative_binomial(k, k / (k + x)) for x in lam[i]]
            else:
                conv[i] = draw_counts(mu[i], kind, disp[i], g)
            if zv is not None and value_rows[i]:
                zv[i] = g.standard_normal(K)
        return conv, zv


def _drift_tables(scenarios: Sequence[Scenario]) -> tuple[np.ndarray, np.ndarray]:
    """``(sigma [M, K], keep [M, 1])``: the scenarios' drift walk parameters."""
    sd = np.stack([drift_sd(sc) for sc in scenarios])
    return sd, np.array([[1.0 - sc.drift.mean_reversion] for sc in scenarios])


class DrawPool:
    """A varying family's train draws ``0 .. size-1``: scenarios, compiled models and the tables of
    their nominal paths, built once at the first reset and shared by every row part of a batch
    (under a lock: the parts reset in threads). An explicit ensemble's pool is at most its train members,
    each once (:meth:`played`), so the rows choose among them uniformly."""

    def __init__(self, size: int):
        self.size = size
        self._entries: tuple[list[Scenario], list[ChannelModel], _Tables] | None = None
        self._drift = (np.zeros((0, 0)), np.zeros((0, 1)))  # the draws' drift tables (_drift_tables)
        self._lock = threading.Lock()

    def __getstate__(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if k != "_lock"}  # a lock does not pickle

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state, _lock=threading.Lock())

    def played(self, family: ScenarioFamily) -> int:
        """The draws the pool holds: ``size``, at most an ensemble's train members (draw ``i`` is member
        ``i mod n``: a larger pool would hold some members twice and play them twice as often)."""
        return family.split_draws(self.size, "train")

    def entries(
        self, family: ScenarioFamily, compile_: _Compiler
    ) -> tuple[list[Scenario], list[ChannelModel], _Tables]:
        with self._lock:
            if self._entries is None:
                pool = [family.sample(i, "train") for i in range(self.played(family))]
                check_info_layouts(pool, f"scenario '{family.name}'")
                tables = _tables([sample_path(sc, None) for sc in pool])
                self._entries = (pool, [compile_(sc) for sc in pool], tables)
                self._drift = _drift_tables(pool)
            return self._entries

    def drift_tables(self, scenarios: list[Scenario]) -> tuple[np.ndarray, np.ndarray]:
        """:func:`_drift_tables` of ``scenarios``, kept for the pool's own list."""
        if self._entries is not None and scenarios is self._entries[0]:
            return self._drift
        return _drift_tables(scenarios)


class BatchedRandom:
    """One generator for a batch of rows (module docstring)."""

    mode = "batched"

    def __init__(self, n: int, pool: DrawPool):
        self.n, self.pool = n, pool
        self.rng: np.random.Generator | None = None

    def seed(self, seed: Seed) -> None:
        """``int s``: the batch generator of seed ``s``; a list: of the seed sequence of its
        entries; ``None``: keep (or draw fresh entropy the first time)."""
        if isinstance(seed, (int, np.integer)):
            self.rng = seeding.np_random(int(seed))[0]
        elif seed is not None and all(s is not None for s in seed):
            self.rng = np.random.Generator(np.random.PCG64(np.random.SeedSequence([int(s) for s in seed])))  # type: ignore[arg-type]
        elif self.rng is None or seed is not None:
            self.rng = seeding.np_random(None)[0]

    @property
    def generator(self) -> np.random.Generator:
        assert self.rng is not None, "seed() first"
        return self.rng

    def campaigns(
        self, family: ScenarioFamily, rows: Sequence[Scenario] | None, compile_: _Compiler
    ) -> Campaigns:
        rng, draws = self.generator, None
        pooled = rows is None and family.varies
        if pooled:
            index = rng.integers(0, self.pool.played(family), self.n)
            scenarios, members, (cost, response, delivery) = self.pool.entries(family, compile_)
            draws = index.copy()
        else:
            if rows is not None:
                scenarios, index = _distinct(list(rows))
            else:
                scenarios, index = [family.nominal()], np.zeros(self.n, dtype=np.intp)
            members = [compile_(sc) for sc in scenarios]
            cost, response, delivery = _tables([sample_path(sc, None) for sc in scenarios])
        # the layouts: of the rows and an ensemble's members checked by vector_settings, of a pool when built
        base = None
        if scenarios[0].baseline is not None:
            children = rng.spawn(self.n)
            base = [self._baseline(scenarios[m], children[i]) for i, m in enumerate(index)]
        one = len(scenarios) == 1
        return Campaigns(
            scenarios, members, None if one else index, cost, response, delivery,
            None if one else index, draws, None, base,
        )

    @staticmethod
    def _baseline(sc: Scenario, rng: np.random.Generator) -> BaselinePath:
        assert sc.baseline is not None
        counts = (sc.noise.conversions, sc.noise.dispersion) if sc.reward == "conversions" else None
        return baseline_path(sc.baseline, step_days(sc), rng, counts)

    def drift(
        self, scenarios: list[Scenario], index: np.ndarray | None, n: int
    ) -> tuple[np.ndarray, np.ndarray] | None:
        """``(sigma [N, K], keep [N, 1])`` of the rows' drift walks, or ``None`` without drift."""
        sd, keep = self.pool.drift_tables(scenarios)
        if not sd.any():
            return None
        rows = np.zeros(n, dtype=np.intp) if index is None else index
        return sd[rows], keep[rows]

    def price_z(self, rows: np.ndarray, K: int) -> np.ndarray:
        return self.generator.standard_normal((self.n, K))

    def counts_and_value_z(self, mu: np.ndarray, bm: BatchModel) -> tuple[np.ndarray, np.ndarray | None]:
        rng = self.generator
        if len(bm.kind_rows) == 1:
            disp = bm.dispersion if len(bm.members) > 1 else float(bm.dispersion[0, 0])
            conv = draw_counts(mu, bm.kind_rows[0][0], disp, rng)
        else:
            conv = np.empty_like(mu)
            for kind, sel in bm.kind_rows:
                conv[sel] = draw_counts(mu[sel], kind, bm.dispersion[sel], rng)
        zv = rng.standard_normal(mu.shape) if bm.value_noise_rows.any() else None
        return conv, zv


def seed_parts(parts: Sequence[BatchedRandom], seed: Seed) -> None:
    """Seed the generators of a batch split into row parts (``batched``).

    One part: :meth:`BatchedRandom.seed` (the stream of an unsplit batch). Several: part ``j`` of
    ``P`` gets child ``j`` of ``SeedSequence(s).spawn(P)`` for ``int s`` (of the sequence of the
    list's entries for a list), so the streams depend on the seed and the split, never on the
    threads that run the parts; ``None`` keeps each part's generator (fresh entropy the first time,
    or for a list with ``None`` entries)."""
    if len(parts) == 1:
        parts[0].seed(seed)
        return
    if isinstance(seed, (int, np.integer)):
        children = np.random.SeedSequence(int(seed)).spawn(len(parts))
    elif seed is not None and all(s is not None for s in seed):
        children = np.random.SeedSequence([int(s) for s in seed]).spawn(len(parts))  # type: ignore[arg-type]
    else:
        for part in parts:
            part.seed(seed)
        return
    for part, child in zip(parts, children, strict=True):
        part.rng = np.random.Generator(np.random.PCG64(child))
