r"""Statistics of an experiment: interval estimates in the style of rliable.

Notation. A *task* is a scenario ``m = 1..M``; a *run* is one evaluation seed of one agent on
one task, with score :math:`x_{m,i}` = its ``pct_of_oracle`` averaged over the run's episodes
(episodes of one run share the trained agent, so the run, not the episode, is the unit of
replication). Agent :math:`X` has :math:`n_m` runs on task :math:`m`.

Stratified bootstrap (Agarwal et al., 2021, "Deep RL at the edge of the statistical
precipice"; ``rliable.library.StratifiedBootstrap``). One resample draws, independently for
every task, :math:`n_m` runs *with replacement from that task's own runs*,
:math:`x^*_{m,j} = x_{m, U_{m,j}}`, :math:`U_{m,j} \sim \mathrm{Unif}\{1..n_m\}`, and
evaluates the statistic :math:`\hat\theta^* = \theta(x^*)`. After :math:`B` resamples the
percentile interval at level :math:`1-\alpha` is

.. math:: [\, q_{\alpha/2}(\hat\theta^*),\; q_{1-\alpha/2}(\hat\theta^*) \,],

the empirical quantiles of the bootstrap distribution. Strata keep every task represented in
every resample; with one task it is the ordinary bootstrap over runs. With one run the
interval collapses to the point (there is no variability to resample).

Statistics:

* mean: :math:`\bar x_m = \frac1{n_m} \sum_i x_{m,i}` (per scenario);
* uplift over a baseline :math:`Y` on task :math:`m`, paired by seed (agents with the same
  seed see the same episode paths and noise seeds, i.e. common random numbers):
  :math:`d_i = x_{m,i} - y_{m,i}` over the seeds both ran, :math:`\bar d` and its bootstrap
  interval over seeds (percentage points of the oracle);
* interquartile mean across tasks, ``rliable.metrics.aggregate_iqm``: the 25 % trimmed mean
  of all :math:`N = \sum_m n_m` run scores pooled,
  :math:`\mathrm{IQM} = \frac{1}{N - 2g} \sum_{k=g+1}^{N-g} x_{(k)}`, :math:`g = \lfloor N/4
  \rfloor` (``scipy.stats.trim_mean(x, 0.25)``), robust to outlying runs yet more
  efficient than the median;
* probability of improvement, ``rliable.metrics.probability_of_improvement``:

  .. math:: P(X > Y) = \frac1M \sum_m \Big[ \frac{1}{n_m k_m} \sum_{i,j}
            \big( \mathbb 1[x_{m,i} > y_{m,j}] + \tfrac12 \mathbb 1[x_{m,i} = y_{m,j}] \big) \Big],

  the Mann-Whitney :math:`U/(n_m k_m)` averaged over tasks, computed from mid-ranks of the
  pooled sample, :math:`U_m = R_{x,m} - n_m(n_m+1)/2`. Its interval resamples the runs of
  :math:`X` and of :math:`Y` independently within each task
  (``rliable.library.StratifiedIndependentBootstrap``).

Each interval uses its own generator, seeded from the bootstrap seed and the name of the
quantity, so adding an agent or a scenario does not change any other interval.

Scenario families. A family's rows carry a ``split`` (``test``: held-out draws, ``train``:
in-distribution draws) and a ``draw``; the summary has one row per (family, agent, split),
the held-out and in-distribution rows side by side. Within a split the scores form a table
:math:`x_{d,s}` (draw :math:`d = 1..D`, seed :math:`s = 1..S`; each cell the mean over the
episodes), and

* the mean is :math:`\bar x = \frac{1}{DS} \sum_{d,s} x_{d,s}`, and its interval comes from a
  **two-way bootstrap**: one resample draws :math:`D` draws and, independently, :math:`S` seeds,
  each with replacement, and averages the crossed table :math:`x_{D^*, S^*}`
  (:func:`two_way_mean_interval`). The draws are a sample from the family as much as the seeds
  are from the seed space; resampling both is conservative (each factor's variance is counted,
  the interaction's twice), resampling one alone would hide the other — a held-out score over
  :math:`D` draws is uncertain because the :math:`D` campaigns are a sample. With one seed it is
  the bootstrap over draws, with one draw the bootstrap over seeds;
* the uplift over the baseline pairs cells by (draw, seed) — the same campaign and the same
  episode seeds — and bootstraps the difference table the same way;
* a run (one seed, trained once) has the **run score** :math:`\frac1D \sum_d x_{d,s}`: its mean
  over the split's draws. ``pct_of_oracle_std``, ``poi_vs_<agent>``, the IQM across scenarios
  and ``poi.csv`` use run scores, as for a plain scenario (their intervals resample seeds only);
  the IQM and ``poi.csv`` take a family's held-out (test) run scores, never the train split's.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import stats as sps

__all__ = [
    "Interval",
    "iqm",
    "iqm_interval",
    "mean_interval",
    "paired_difference_interval",
    "percentile_interval",
    "probability_of_improvement",
    "probability_of_improvement_interval",
    "held_out",
    "run_scores",
    "stratified_bootstrap",
    "summarize",
    "two_way_mean_interval",
]

ArrayLike = Any


@dataclass(frozen=True)
class Interval:
    """A point estimate and its bootstrap confidence interval ``[lo, hi]``."""

    point: float
    lo: float
    hi: float

    @property
    def width(self) -> float:
        return self.hi - self.lo

    def __contains__(self, value: float) -> bool:
        return self.lo <= value <= self.hi


NAN = Interval(float("nan"), float("nan"), float("nan"))


def keyed_rng(seed: int, *keys: object) -> np.random.Generator:
    """A generator seeded from ``seed`` and a stable hash of ``keys``."""
    tag = zlib.crc32("\x1f".join(str(k) for k in keys).encode("utf-8"))
    return np.random.default_rng([int(seed), tag])


def percentile_interval(distribution: ArrayLike, confidence: float = 0.95) -> tuple[float, float]:
    r"""Percentile interval :math:`[q_{\alpha/2}, q_{1-\alpha/2}]`, :math:`\alpha = 1 - \text{confidence}`."""
    if not 0 < confidence < 1:
        raise ValueError(f"confidence: expected a value in (0, 1), got {confidence}")
    dist = np.asarray(distribution, dtype=float)
    alpha = 1.0 - confidence
    lo, hi = np.quantile(dist, [alpha / 2, 1 - alpha / 2])
    return float(lo), float(hi)


def _as_tasks(scores: ArrayLike | Sequence[ArrayLike]) -> list[np.ndarray]:
    """A ``(runs, tasks)`` matrix or a list of per-task run arrays -> list of 1-D arrays."""
    if isinstance(scores, np.ndarray) and scores.ndim == 2:
        return [np.asarray(scores[:, m], dtype=float) for m in range(scores.shape[1])]
    if isinstance(scores, np.ndarray) and scores.ndim == 1:
        return [np.asarray(scores, dtype=float)]
    items = list(scores)
    if items and all(np.ndim(t) == 0 for t in items):  # a flat list of run scores: one task
        items = [items]
    tasks = [np.asarray(t, dtype=float).ravel() for t in items]
    if not tasks or any(t.size == 0 for t in tasks):
        raise ValueError("scores: expected at least one task with at least one run each")
    return tasks


def stratified_bootstrap(
    scores: ArrayLike | Sequence[ArrayLike],
    statistic: Callable[[list[np.ndarray]], np.ndarray],
    reps: int = 5000,
    rng: np.random.Generator | int | None = None,
) -> np.ndarray:
    """Bootstrap distribution of ``statistic`` under resampling of runs within tasks.

    Parameters
    ----------
    scores : ``(runs, tasks)`` array or a list of per-task 1-D arrays (ragged allowed).
    statistic : takes the list of resampled tasks, each ``(reps, n_m)``, and returns ``(reps,)``.
    reps : number of resamples :math:`B`.
    rng : generator or seed.

    Returns
    -------
    ``(reps,)`` bootstrap replicates of the statistic.
    """
    tasks = _as_tasks(scores)
    gen = rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)
    resampled = [t[gen.integers(0, t.size, size=(reps, t.size))] for t in tasks]
    return np.asarray(statistic(resampled), dtype=float)


def _mean_of_task_means(tasks: list[np.ndarray]) -> np.ndarray:
    return np.mean([t.mean(axis=-1) for t in tasks], axis=0)


def mean_interval(
    scores: ArrayLike | Sequence[ArrayLike],
    reps: int = 5000,
    confidence: float = 0.95,
    rng: np.random.Generator | int | None = None,
) -> Interval:
    r"""Mean of task means :math:`\frac1M \sum_m \bar x_m` (one task: the mean of the runs)
    with its stratified-bootstrap percentile interval."""
    tasks = _as_tasks(scores)
    point = float(_mean_of_task_means(tasks))
    if all(t.size == 1 for t in tasks):
        return Interval(point, point, point)
    lo, hi = percentile_interval(stratified_bootstrap(tasks, _mean_of_task_means, reps, rng), confidence)
    return Interval(point, lo, hi)


def paired_difference_interval(
    x: ArrayLike,
    y: ArrayLike,
    reps: int = 5000,
    confidence: float = 0.95,
    rng: np.random.Generator | int | None = None,
) -> Interval:
    r"""Mean paired difference :math:`\bar d`, :math:`d_i = x_i - y_i`, with a bootstrap interval
    over the pairs."""
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    if x.shape != y.shape or x.ndim != 1 or x.size == 0:
        raise ValueError(f"x, y: expected two 1-D arrays of equal, non-zero length, got {x.shape}, {y.shape}")
    return mean_interval(x - y, reps, confidence, rng)


def two_way_mean_interval(
    table: ArrayLike,
    reps: int = 5000,
    confidence: float = 0.95,
    rng: np.random.Generator | int | None = None,
) -> Interval:
    r"""Mean of a ``(draws, seeds)`` table with a two-way bootstrap percentile interval.

    Each resample draws the rows (draws) and, independently, the columns (seeds) with
    replacement and averages the crossed table; with row and column counts :math:`w^*_d, v^*_s`
    that is :math:`rac{1}{DS} \sum_{d,s} w^*_d\, x_{d,s}\, v^*_s`. One row: the bootstrap over
    the columns; one column: over the rows; one cell: the point.
    """
    x = np.asarray(table, dtype=float)
    if x.ndim != 2 or x.size == 0:
        raise ValueError(f"table: expected a non-empty (draws, seeds) array, got shape {x.shape}")
    point = float(x.mean())
    n_rows, n_cols = x.shape
    if x.size == 1:
        return Interval(point, point, point)
    gen = rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)
    rows = gen.integers(0, n_rows, size=(reps, n_rows))
    cols = gen.integers(0, n_cols, size=(reps, n_cols))
    w = np.zeros((reps, n_rows))
    v = np.zeros((reps, n_cols))
    np.add.at(w, (np.arange(reps)[:, None], rows), 1.0)
    np.add.at(v, (np.arange(reps)[:, None], cols), 1.0)
    dist = np.einsum("rd,ds,rs->r", w, x, v) / (n_rows * n_cols)
    lo, hi = percentile_interval(dist, confidence)
    return Interval(point, lo, hi)


def iqm(scores: ArrayLike | Sequence[ArrayLike]) -> float:
    r"""Interquartile mean of all run scores pooled across tasks (25 % trimmed mean).

    Equal to ``rliable.metrics.aggregate_iqm`` for a ``(runs, tasks)`` matrix.
    """
    pooled = np.concatenate(_as_tasks(scores))
    return float(sps.trim_mean(pooled, proportiontocut=0.25, axis=None))


def _iqm_stat(tasks: list[np.ndarray]) -> np.ndarray:
    return sps.trim_mean(np.concatenate(tasks, axis=-1), proportiontocut=0.25, axis=-1)


def iqm_interval(
    scores: ArrayLike | Sequence[ArrayLike],
    reps: int = 5000,
    confidence: float = 0.95,
    rng: np.random.Generator | int | None = None,
) -> Interval:
    """IQM across tasks with its stratified-bootstrap percentile interval."""
    tasks = _as_tasks(scores)
    point = iqm(tasks)
    if all(t.size == 1 for t in tasks):
        return Interval(point, point, point)
    lo, hi = percentile_interval(stratified_bootstrap(tasks, _iqm_stat, reps, rng), confidence)
    return Interval(point, lo, hi)


def _task_poi(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """``P(X > Y) + 0.5 P(X = Y)`` along the last axis (leading axes broadcast), by mid-ranks."""
    n, k = x.shape[-1], y.shape[-1]
    ranks = sps.rankdata(np.concatenate([x, y], axis=-1), method="average", axis=-1)
    u = ranks[..., :n].sum(axis=-1) - n * (n + 1) / 2.0
    return u / (n * k)


def probability_of_improvement(
    scores_x: ArrayLike | Sequence[ArrayLike], scores_y: ArrayLike | Sequence[ArrayLike]
) -> float:
    r"""Average over tasks of :math:`P(X_m > Y_m) + \frac12 P(X_m = Y_m)`.

    Equal to ``rliable.metrics.probability_of_improvement`` for ``(runs, tasks)`` matrices.
    """
    xs, ys = _as_tasks(scores_x), _as_tasks(scores_y)
    if len(xs) != len(ys):
        raise ValueError(f"scores_x, scores_y: expected the same tasks, got {len(xs)} and {len(ys)}")
    return float(np.mean([_task_poi(x, y) for x, y in zip(xs, ys, strict=True)]))


def probability_of_improvement_interval(
    scores_x: ArrayLike | Sequence[ArrayLike],
    scores_y: ArrayLike | Sequence[ArrayLike],
    reps: int = 5000,
    confidence: float = 0.95,
    rng: np.random.Generator | int | None = None,
) -> Interval:
    """Probability of improvement with an interval from resampling the runs of X and of Y
    independently within each task."""
    xs, ys = _as_tasks(scores_x), _as_tasks(scores_y)
    point = probability_of_improvement(xs, ys)
    if all(t.size == 1 for t in xs + ys):
        return Interval(point, point, point)
    gen = rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)
    dist = np.zeros(reps)
    for x, y in zip(xs, ys, strict=True):
        bx = x[gen.integers(0, x.size, size=(reps, x.size))]
        by = y[gen.integers(0, y.size, size=(reps, y.size))]
        dist += _task_poi(bx, by)
    lo, hi = percentile_interval(dist / len(xs), confidence)
    return Interval(point, lo, hi)


# ------------------------------------------------------------------------------ tables
def run_scores(results: Any, metric: str = "pct_of_oracle") -> Any:
    """One score per run: ``metric`` averaged over the run's episodes (for a family, over the
    draws and episodes of every split in ``results``: pass :func:`held_out` rows for the
    held-out score).

    Returns a DataFrame ``scenario, agent, seed, score``.
    """
    grouped = results.groupby(["scenario", "agent", "seed"], sort=True)[metric].mean()
    return grouped.rename("score").reset_index()


def held_out(results: Any) -> Any:
    """The rows of plain scenarios and of families' held-out (``test``) draws."""
    if "split" not in results.columns:
        return results
    split = results["split"]
    return results[split.isna() | (split == "") | (split == "test")]


def _tagged(results: Any) -> Any:
    """``results`` with ``split`` as text (``""`` for a plain scenario) and ``draw`` as an
    integer (``-1`` for a plain scenario), so both can be grouped on."""
    split = results["split"] if "split" in results.columns else None
    draw = results["draw"] if "draw" in results.columns else None
    return results.assign(
        split="" if split is None else split.fillna("").astype(str),
        draw=-1 if draw is None else draw.astype("Float64").fillna(-1).astype(int),
    )


SUMMARY_COLUMNS = [
    "scenario",
    "agent",
    "n_seeds",
    "n_episodes",
    "pct_of_oracle_mean",
    "pct_of_oracle_ci_lo",
    "pct_of_oracle_ci_hi",
    "pct_of_oracle_std",
    "baseline",
    "uplift",
    "uplift_ci_lo",
    "uplift_ci_hi",
    "iqm",
    "iqm_ci_lo",
    "iqm_ci_hi",
    "expected_reward_mean",
    "reward_mean",
    "oracle_reward_mean",
    "spend_mean",
    "train_steps",
    "train_s_mean",
    "wall_s_mean",
]

#: Last columns of ``summary.csv`` when the grid has a family: the split (``test``, ``train``;
#: empty for a plain scenario) and the number of draws behind the row (empty for a plain scenario).
FAMILY_COLUMNS = ["split", "n_draws"]
POI_COLUMNS = ["agent", "other", "poi", "poi_ci_lo", "poi_ci_hi", "n_scenarios"]


def summarize(
    results: Any,
    baseline: str | None = "equal",
    reps: int = 5000,
    confidence: float = 0.95,
    seed: int = 0,
) -> tuple[Any, Any]:
    """The ``summary.csv`` and ``poi.csv`` tables from ``results.csv`` rows.

    Parameters
    ----------
    results : DataFrame with at least ``scenario, agent, seed, episode, pct_of_oracle,
        expected_reward, reward, oracle_reward, spend, train_steps, wall_s`` (and optionally
        ``train_s``, the run's training time, and a family's ``draw`` and ``split``).
    baseline : agent label for the uplift columns (NaN when absent).
    reps, confidence, seed : bootstrap settings.

    Returns
    -------
    summary : one row per (scenario, agent) — per (scenario, agent, split) for a family (module
        docstring): :data:`SUMMARY_COLUMNS` then ``poi_vs_<agent>`` for every agent (the
        task-level probability that this agent beats that one), then, when the grid has a
        family, :data:`FAMILY_COLUMNS`.
    poi : one row per ordered agent pair: probability of improvement averaged over the
        scenarios both ran (a family's held-out split), with its interval (:data:`POI_COLUMNS`).
    """
    import pandas as pd

    if results.empty:
        return pd.DataFrame(columns=SUMMARY_COLUMNS), pd.DataFrame(columns=POI_COLUMNS)
    frame = _tagged(results)
    families = bool((frame["split"] != "").any())
    cells = frame.groupby(["scenario", "split", "agent", "draw", "seed"], sort=True)["pct_of_oracle"].mean()
    # per (scenario, split, agent): the (draws, seeds) table of scores; one row for a plain scenario
    tables: dict[tuple[str, str, str], pd.DataFrame] = {
        key: _draw_seed_table(grp) for key, grp in cells.groupby(level=["scenario", "split", "agent"], sort=True)
    }
    # run scores (per seed): a plain scenario's, or the mean over a family split's draws
    by_task = {key: t.mean(axis=0) if key[1] else t.iloc[0] for key, t in tables.items()}
    agents = sorted(frame["agent"].unique())
    scenarios = sorted(frame["scenario"].unique())
    # the held-out task of each scenario (the test split of a family), for the cross-scenario statistics
    task_split = {sc: "test" if (frame.loc[frame["scenario"] == sc, "split"] != "").any() else "" for sc in scenarios}

    iqms = {}
    for ag in agents:
        keys = [(sc, task_split[sc], ag) for sc in scenarios]
        tasks = [by_task[k].to_numpy() for k in keys if k in by_task]
        iqms[ag] = iqm_interval(tasks, reps, confidence, keyed_rng(seed, "iqm", ag)) if tasks else NAN

    if "train_s" not in frame.columns:
        frame = frame.assign(train_s=0.0)
    means = frame.groupby(["scenario", "split", "agent"], sort=True).agg(
        n_episodes=("episode", "size"),
        expected_reward_mean=("expected_reward", "mean"),
        reward_mean=("reward", "mean"),
        oracle_reward_mean=("oracle_reward", "mean"),
        spend_mean=("spend", "mean"),
        train_steps=("train_steps", "max"),
        train_s_mean=("train_s", "mean"),
        wall_s_mean=("wall_s", "mean"),
    )
    rows = []
    for (sc, split, ag), s in by_task.items():
        x = s.to_numpy()
        table = tables[(sc, split, ag)]
        if split:
            est = two_way_mean_interval(table.to_numpy(), reps, confidence, keyed_rng(seed, "mean", sc, split, ag))
        else:
            est = mean_interval(x, reps, confidence, keyed_rng(seed, "mean", sc, ag))
        up = NAN
        if baseline is not None and (sc, split, baseline) in by_task:
            up = _uplift(table, tables[(sc, split, baseline)], split, reps, confidence,
                         keyed_rng(seed, "uplift", sc, *([split] if split else []), ag, baseline))
        m = means.loc[(sc, split, ag)]
        row = {
            "scenario": sc,
            "agent": ag,
            "n_seeds": int(x.size),
            "n_episodes": int(m["n_episodes"]),
            "pct_of_oracle_mean": est.point,
            "pct_of_oracle_ci_lo": est.lo,
            "pct_of_oracle_ci_hi": est.hi,
            "pct_of_oracle_std": float(np.std(x, ddof=1)) if x.size > 1 else float("nan"),
            "baseline": baseline if baseline is not None else "",
            "uplift": up.point,
            "uplift_ci_lo": up.lo,
            "uplift_ci_hi": up.hi,
            "iqm": iqms[ag].point,
            "iqm_ci_lo": iqms[ag].lo,
            "iqm_ci_hi": iqms[ag].hi,
            "expected_reward_mean": float(m["expected_reward_mean"]),
            "reward_mean": float(m["reward_mean"]),
            "oracle_reward_mean": float(m["oracle_reward_mean"]),
            "spend_mean": float(m["spend_mean"]),
            "train_steps": int(m["train_steps"]),
            "train_s_mean": float(m["train_s_mean"]),
            "wall_s_mean": float(m["wall_s_mean"]),
        }
        for other in agents:
            key = (sc, split, other)
            row[f"poi_vs_{other}"] = (
                probability_of_improvement([x], [by_task[key].to_numpy()]) if key in by_task else float("nan")
            )
        row["split"] = split
        row["n_draws"] = len(table) if split else None
        rows.append(row)
    summary = pd.DataFrame(rows)
    summary["n_draws"] = summary["n_draws"].astype("Int64")
    summary = summary[SUMMARY_COLUMNS + [f"poi_vs_{a}" for a in agents] + (FAMILY_COLUMNS if families else [])]
    order = ["scenario", "agent", "split"] if families else ["scenario", "agent"]
    summary = summary.sort_values(order, kind="stable").reset_index(drop=True)

    poi_rows = []
    for i, a in enumerate(agents):
        for b in agents[i + 1 :]:
            shared = [(sc, task_split[sc]) for sc in scenarios
                      if (sc, task_split[sc], a) in by_task and (sc, task_split[sc], b) in by_task]
            if not shared:
                continue
            xa = [by_task[(sc, sp, a)].to_numpy() for sc, sp in shared]
            xb = [by_task[(sc, sp, b)].to_numpy() for sc, sp in shared]
            est = probability_of_improvement_interval(xa, xb, reps, confidence, keyed_rng(seed, "poi", a, b))
            poi_rows.append([a, b, est.point, est.lo, est.hi, len(shared)])
            poi_rows.append([b, a, 1.0 - est.point, 1.0 - est.hi, 1.0 - est.lo, len(shared)])
    poi = pd.DataFrame(poi_rows, columns=POI_COLUMNS)
    poi = poi.sort_values(["agent", "other"], kind="stable").reset_index(drop=True)
    return summary, poi


def _draw_seed_table(cells: Any) -> Any:
    """One (scenario, split, agent) group of cell scores -> its ``(draws, seeds)`` table (only the
    seeds and draws it has)."""
    flat = cells.droplevel([0, 1, 2])
    flat.index = flat.index.remove_unused_levels()
    return flat.unstack("seed")


def _uplift(
    table: Any, base: Any, split: str, reps: int, confidence: float, rng: np.random.Generator
) -> Interval:
    """Paired difference to the baseline on the common seeds (and, for a family, the common
    draws): over seeds for a plain scenario, the two-way bootstrap for a family."""
    seeds = table.columns.intersection(base.columns)
    if not len(seeds):
        return NAN
    if not split:
        x, y = table.iloc[0], base.iloc[0]
        return paired_difference_interval(x.loc[seeds].to_numpy(), y.loc[seeds].to_numpy(), reps, confidence, rng)
    draws = table.index.intersection(base.index)
    diff = (table.loc[draws, seeds] - base.loc[draws, seeds]).dropna(axis=1, how="any")
    if diff.empty:
        return NAN
    return two_way_mean_interval(diff.to_numpy(), reps, confidence, rng)
