"""The summary tables of an experiment: per (scenario, agent[, split]) means, intervals, uplift,
IQM and probability of improvement, computed with the estimators of
:mod:`budgetgym.experiments.stats` (whose docstring has the maths, families included).

* :func:`run_scores`: one score per run (a seed of an agent on a scenario): its metric averaged
  over the run's episodes (and, for a family, over the split's draws);
* :func:`held_out`: the rows the gate and the cross-scenario statistics use (a family's test split);
* :func:`summarize`: ``summary.csv`` and ``poi.csv``.

An interval needs two units to resample: with one seed (for a family's two-way bootstrap, one
observed (draw, seed) cell) the percentile interval of the one value is the value itself, a zero
width that claims a certainty one run cannot give. The summary keeps the point and leaves such
bounds ``nan`` (:func:`_bounds_need_two`); ``report.md`` says why. Two or more runs that agree
(a deterministic agent) keep their zero-width interval: that is what was observed.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from budgetgym.experiments.stats import (
    NAN,
    Interval,
    iqm_interval,
    keyed_rng,
    mean_interval,
    paired_difference_interval,
    probability_of_improvement,
    probability_of_improvement_interval,
    two_way_mean_interval,
)

__all__ = ["FAMILY_COLUMNS", "POI_COLUMNS", "SUMMARY_COLUMNS", "held_out", "run_scores", "summarize"]


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
    # a cell scoring +-inf (an oracle value that underflowed) has no score, as in the gate: missing, like nan
    cells = cells.where(np.isfinite(cells.to_numpy(dtype=float)))
    # per (scenario, split, agent): the (draws, seeds) table of scores; one row for a plain scenario
    tables: dict[tuple[str, str, str], pd.DataFrame] = {
        key: _draw_seed_table(grp) for key, grp in cells.groupby(level=["scenario", "split", "agent"], sort=True)
    }
    # run scores (per seed): a plain scenario's, or the mean over a family split's draws; a run
    # without a score (every episode's oracle earned nothing: nan) is left out, as the means skip it
    by_task = {key: (t.mean(axis=0) if key[1] else t.iloc[0]).dropna() for key, t in tables.items()}
    agents = sorted(frame["agent"].unique())
    scenarios = sorted(frame["scenario"].unique())
    # the held-out task of each scenario (the test split of a family), for the cross-scenario statistics
    task_split = {sc: "test" if (frame.loc[frame["scenario"] == sc, "split"] != "").any() else "" for sc in scenarios}

    iqms = {}
    for ag in agents:
        keys = [(sc, task_split[sc], ag) for sc in scenarios]
        tasks = [by_task[k].to_numpy() for k in keys if k in by_task and len(by_task[k])]
        iqms[ag] = (_bounds_need_two(iqm_interval(tasks, reps, confidence, keyed_rng(seed, "iqm", ag)),
                                     max(t.size for t in tasks)) if tasks else NAN)

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
            est = _bounds_need_two(est, int(table.notna().to_numpy().sum()))
        else:
            est = mean_interval(x, reps, confidence, keyed_rng(seed, "mean", sc, ag)) if x.size else NAN
            est = _bounds_need_two(est, x.size)
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
                probability_of_improvement([x], [by_task[key].to_numpy()])
                if key in by_task and x.size and len(by_task[key]) else float("nan")
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
                      if all(len(by_task.get((sc, task_split[sc], ag), ())) for ag in (a, b))]
            if not shared:
                continue
            xa = [by_task[(sc, sp, a)].to_numpy() for sc, sp in shared]
            xb = [by_task[(sc, sp, b)].to_numpy() for sc, sp in shared]
            est = probability_of_improvement_interval(xa, xb, reps, confidence, keyed_rng(seed, "poi", a, b))
            est = _bounds_need_two(est, max(t.size for t in xa + xb))
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
        d = (table.iloc[0].loc[seeds] - base.iloc[0].loc[seeds]).dropna()  # nan: an episode the means skip
        if not len(d):
            return NAN
        return _bounds_need_two(paired_difference_interval(d.to_numpy(), np.zeros(len(d)), reps, confidence, rng),
                                len(d))
    draws = table.index.intersection(base.index)
    # a nan cell (no score on that draw and seed) is missing: left out of the two-way bootstrap's means
    diff = (table.loc[draws, seeds] - base.loc[draws, seeds]).dropna(axis=0, how="all").dropna(axis=1, how="all")
    if diff.empty:
        return NAN
    return _bounds_need_two(two_way_mean_interval(diff.to_numpy(), reps, confidence, rng),
                            int(diff.notna().to_numpy().sum()))


def _bounds_need_two(est: Interval, units: int) -> Interval:
    """``est`` with ``nan`` bounds when its bootstrap had fewer than two units to resample (``units``:
    the most runs of any stratum, or the observed cells of a two-way table): the percentile interval
    of one value is that value, not a statement of uncertainty (module docstring)."""
    return est if units >= 2 else Interval(est.point, float("nan"), float("nan"))
