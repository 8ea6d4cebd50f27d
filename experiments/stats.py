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
interval collapses to the point (there is no variability to resample): the regression gate takes
that as exact (a deterministic grid), while ``summary.csv`` leaves such bounds ``nan``
(:mod:`budgetgym.experiments.summary`).

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

__all__ = [
    "Interval",
    "iqm",
    "iqm_interval",
    "mean_interval",
    "paired_difference_interval",
    "percentile_interval",
    "probability_of_improvement",
    "probability_of_improvement_interval",
    "stratified_bootstrap",
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


def _stratified_interval(
    tasks: list[np.ndarray],
    statistic: Callable[[list[np.ndarray]], np.ndarray],
    reps: int,
    confidence: float,
    rng: np.random.Generator | int | None,
) -> Interval:
    """``statistic`` of the tasks with its stratified-bootstrap percentile interval (the point
    itself when every task has one run: there is nothing to resample)."""
    point = float(statistic(tasks))
    if all(t.size == 1 for t in tasks):
        return Interval(point, point, point)
    lo, hi = percentile_interval(stratified_bootstrap(tasks, statistic, reps, rng), confidence)
    return Interval(point, lo, hi)


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
    return _stratified_interval(_as_tasks(scores), _mean_of_task_means, reps, confidence, rng)


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

    A NaN cell is missing (an episode whose oracle earns nothing scores ``nan``, and the means skip
    it): the mean and each resample's mean are over the observed cells,
    :math:`\sum w^*_d x_{d,s} v^*_s / \sum w^*_d m_{d,s} v^*_s` with :math:`m` the observed mask (a
    resample without an observed cell is left out); a complete table gets the numbers it always did.
    """
    x = np.asarray(table, dtype=float)
    if x.ndim != 2 or x.size == 0:
        raise ValueError(f"table: expected a non-empty (draws, seeds) array, got shape {x.shape}")
    seen = ~np.isnan(x)
    if not seen.any():
        return NAN
    point = float(x[seen].mean())
    n_rows, n_cols = x.shape
    if seen.sum() == 1:
        return Interval(point, point, point)
    gen = rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)
    rows = gen.integers(0, n_rows, size=(reps, n_rows))
    cols = gen.integers(0, n_cols, size=(reps, n_cols))
    w = np.zeros((reps, n_rows))
    v = np.zeros((reps, n_cols))
    np.add.at(w, (np.arange(reps)[:, None], rows), 1.0)
    np.add.at(v, (np.arange(reps)[:, None], cols), 1.0)
    if seen.all():
        dist = np.einsum("rd,ds,rs->r", w, x, v) / (n_rows * n_cols)
    else:
        with np.errstate(invalid="ignore"):
            dist = np.einsum("rd,ds,rs->r", w, np.where(seen, x, 0.0), v) / np.einsum("rd,ds,rs->r", w, 1.0 * seen, v)
        dist = dist[~np.isnan(dist)]
    lo, hi = percentile_interval(dist, confidence)
    return Interval(point, lo, hi)


def iqm(scores: ArrayLike | Sequence[ArrayLike]) -> float:
    r"""Interquartile mean of all run scores pooled across tasks (25 % trimmed mean).

    Equal to ``rliable.metrics.aggregate_iqm`` for a ``(runs, tasks)`` matrix.
    """
    return float(_iqm_stat(_as_tasks(scores)))


def _iqm_stat(tasks: list[np.ndarray]) -> np.ndarray:
    """The IQM of the pooled runs: of the tasks' runs, or of each resample's (``[reps, n_m]`` tasks)."""
    from scipy import stats as sps  # here: scipy.stats costs ~0.8 s of an import; only summaries need it

    return sps.trim_mean(np.concatenate(tasks, axis=-1), proportiontocut=0.25, axis=-1)


def iqm_interval(
    scores: ArrayLike | Sequence[ArrayLike],
    reps: int = 5000,
    confidence: float = 0.95,
    rng: np.random.Generator | int | None = None,
) -> Interval:
    """IQM across tasks with its stratified-bootstrap percentile interval."""
    return _stratified_interval(_as_tasks(scores), _iqm_stat, reps, confidence, rng)


def _task_poi(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """``P(X > Y) + 0.5 P(X = Y)`` along the last axis (leading axes broadcast), by mid-ranks."""
    from scipy import stats as sps  # here, as in _iqm_stat

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


# The summary tables live in budgetgym.experiments.summary (which imports this module); the
# old names stay importable from here, looked up on first use.
_MOVED = {"FAMILY_COLUMNS", "POI_COLUMNS", "SUMMARY_COLUMNS", "held_out", "run_scores", "summarize"}


def __getattr__(name: str) -> Any:
    if name in _MOVED:
        from budgetgym.experiments import summary

        return getattr(summary, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
