"""Figures of an experiment (PNG through matplotlib's Agg canvas, written atomically).

Every function takes tidy DataFrames (as read by :mod:`budgetgym.experiments.results`) and a
target path, draws on its own :class:`matplotlib.figure.Figure` (no pyplot state), and
returns the path. Agents keep one colour across all figures (:func:`agent_colors`).

* :func:`plot_score_intervals` — % of oracle per agent with its bootstrap interval (at the
  experiment's confidence), one panel per scenario (per split of a family: held-out and train
  draws), plus the IQM across scenarios (its interval over seeds only), agents sorted by score (best on top);
* :func:`plot_cumulative_reward` — cumulative expected reward to date as % of the oracle's to
  date (each line ends at the agent's score, the table's % of oracle);
* :func:`plot_regret` — cumulative regret ``sum_{s<=t} (oracle_s - agent_s)`` (expected reward);
* :func:`plot_allocation` — spend per channel over time (stacked area), one panel per agent;
* :func:`plot_learning_curves` — training reward vs environment steps (learners).

The episode figures pair each agent episode with the oracle of its own path by environment seed
and, for a family, by draw (a ``draw`` column in the traces and the oracle frame); pass one
split's rows (the report passes a family's held-out draws).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from budgetgym.agents.evaluation import episode_seed
from budgetgym.envs.io import atomic_write
from budgetgym.envs.io import figure as _figure  # planner.plots and segment_output take it from here

__all__ = [
    "agent_colors",
    "plot_allocation",
    "plot_cumulative_reward",
    "plot_learning_curves",
    "plot_regret",
    "plot_score_intervals",
    "pct_of_oracle_to_date",
    "save_figure",
]

ORACLE_COLOR = "black"


def save_figure(fig: Any, path: str | Path, dpi: int = 100) -> Path:
    """Save a figure as PNG, atomically."""
    path = Path(path)
    atomic_write(path, lambda tmp: fig.savefig(tmp, format="png", dpi=dpi, bbox_inches="tight"))
    return path


def agent_colors(agents: Sequence[str]) -> dict[str, Any]:
    """A stable colour per agent (sorted names over ``tab10``/``tab20``)."""
    from matplotlib import colormaps

    names = sorted(set(agents))
    cmap = colormaps["tab10" if len(names) <= 10 else "tab20"]
    return {a: cmap(i % cmap.N) for i, a in enumerate(names)}


def _grid(n: int, cols: int) -> tuple[int, int]:
    cols = max(1, min(cols, n))
    return (n + cols - 1) // cols, cols


# ---------------------------------------------------------------------------- intervals
SPLIT_NAMES = {"test": "held-out draws", "train": "train draws"}


def _splits(frame: Any) -> Any:
    """A frame's ``split`` column as text (``""`` for a plain scenario or no column)."""
    if "split" not in frame.columns:
        return np.full(len(frame), "", dtype=object)
    return frame["split"].fillna("").astype(str).to_numpy()


def plot_score_intervals(
    summary: Any, path: str | Path, colors: dict[str, Any] | None = None, confidence: float = 0.95
) -> Path:
    """Mean % of oracle with its bootstrap interval per agent; a panel per scenario (per split of
    a family) and the IQM. ``confidence`` is the coverage the summary's intervals were computed at
    (the experiment's ``bootstrap.confidence``), named on the axes."""
    splits = _splits(summary)
    tasks = sorted(set(zip(summary["scenario"], splits, strict=True)))
    agents = sorted(summary["agent"].unique())
    colors = colors or agent_colors(agents)
    titles = {t: t[0] if not t[1] else f"{t[0]} ({SPLIT_NAMES.get(t[1], t[1])})" for t in tasks}
    panels: list[tuple[str, str] | None] = [*tasks, None]
    rows, cols = _grid(len(panels), 3)
    fig = _figure(4.6 * cols, 0.35 * len(agents) * rows + 1.4 * rows)
    axes = fig.subplots(rows, cols, squeeze=False)
    for k, panel in enumerate(panels):
        ax = axes[k // cols][k % cols]
        if panel is not None:
            part = summary[(summary["scenario"] == panel[0]) & (splits == panel[1])].set_index("agent")
            cols_ = ("pct_of_oracle_mean", "pct_of_oracle_ci_lo", "pct_of_oracle_ci_hi")
        else:
            part = summary.drop_duplicates("agent").set_index("agent")
            cols_ = ("iqm", "iqm_ci_lo", "iqm_ci_hi")
        # best score on top: y = 0 is the bottom row
        ranked = part[list(cols_)].astype(float).sort_values(cols_[0], kind="stable")
        for y, (agent, (mid, lo, hi)) in enumerate(ranked.iterrows()):
            ax.plot([lo, hi], [y, y], color=colors[agent], lw=4, alpha=0.6, solid_capstyle="butt")
            ax.plot([mid], [y], "o", color=colors[agent], ms=5)
        ax.set_yticks(range(len(ranked)))
        ax.set_yticklabels([str(a) for a in ranked.index], fontsize=8)
        ax.set_ylim(-0.7, len(ranked) - 0.3)
        ax.set_title("IQM (all scenarios)" if panel is None else titles[panel], fontsize=10)
        # the IQM's interval resamples seeds only (a family enters with each seed's mean over its draws)
        ax.set_xlabel(f"% of oracle ({100 * confidence:g}% CI{' over seeds' if panel is None else ''})")
        ax.grid(axis="x", alpha=0.3)
    for k in range(len(panels), rows * cols):
        axes[k // cols][k % cols].set_visible(False)
    fig.suptitle("Score intervals: expected reward as % of the oracle (sorted, best on top)")
    return save_figure(fig, path)


# ----------------------------------------------------------------------------- episodes
def _with_draw(frame: Any) -> Any:
    """``frame`` with an integer ``draw`` column (``-1`` for a plain scenario or no column)."""
    if "draw" not in frame.columns:
        return frame.assign(draw=-1)
    return frame.assign(draw=frame["draw"].astype("Float64").fillna(-1).astype(int))


def _step_rewards(traces: Any) -> Any:
    """One row per (agent, draw, seed, episode, step) with the step's expected reward."""
    steps = _with_draw(traces).drop_duplicates(["agent", "draw", "seed", "episode", "step"])
    return steps[["agent", "draw", "seed", "episode", "step", "expected_reward"]]


def _episode_matrix(steps: Any) -> tuple[list[tuple[int, int, int]], np.ndarray]:
    """(draw, seed, episode) keys and their ``[n, T]`` step-reward matrix for one agent."""
    wide = steps.pivot_table(index=["draw", "seed", "episode"], columns="step", values="expected_reward", sort=True)
    return [(int(k[0]), int(k[1]), int(k[2])) for k in wide.index], wide.to_numpy(dtype=float)


def _oracle_matrix(oracle: Any, scenario: str) -> dict[tuple[int, int], np.ndarray]:
    part = _with_draw(oracle[oracle["scenario"] == scenario])
    return {
        (int(d), int(s)): g.sort_values("step")["expected_reward"].to_numpy(dtype=float)
        for (d, s), g in part.groupby(["draw", "env_seed"])
    }


def _band(ax: Any, x: np.ndarray, values: np.ndarray, color: Any, label: str, style: str = "-") -> None:
    """Mean over rows (NaN entries left out) with a 95 % normal band of the mean."""
    ok = np.isfinite(values)
    n = ok.sum(axis=0)
    filled = np.where(ok, values, 0.0)
    mean = np.where(n > 0, filled.sum(axis=0) / np.maximum(n, 1), np.nan)
    ax.plot(x, mean, style, color=color, label=label, lw=1.6)
    if values.shape[0] > 1:
        dev = np.where(ok, values - mean, 0.0)
        se = np.sqrt((dev**2).sum(axis=0) / np.maximum(n - 1, 1) / np.maximum(n, 1))
        se = np.where(n > 1, se, np.nan)
        ax.fill_between(x, mean - 1.96 * se, mean + 1.96 * se, color=color, alpha=0.15, lw=0)


def _paired_with_oracle(
    traces: Any, oracle: Any, scenario: str, per_episode: Any
) -> list[tuple[str, np.ndarray]]:
    """Per agent (sorted): ``per_episode(agent_steps, oracle_steps)`` for every episode whose
    oracle trace (same episode path) is known, stacked as ``[n, T]``."""
    part = _step_rewards(traces[traces["scenario"] == scenario])
    oracle_by_seed = _oracle_matrix(oracle, scenario)
    out = []
    for agent, steps in part.groupby("agent", sort=True):
        keys, mat = _episode_matrix(steps)
        best = [oracle_by_seed.get((d, episode_seed(s, e))) for d, s, e in keys]
        rows = [per_episode(a, b) for a, b in zip(mat, best, strict=True) if b is not None and len(b) == len(a)]
        if rows:
            out.append((str(agent), np.asarray(rows, dtype=float)))
    return out


def pct_of_oracle_to_date(
    agent_steps: np.ndarray, oracle_steps: np.ndarray, floor: float = 0.01
) -> np.ndarray:
    """``100 * sum_{s<=t} agent_s / sum_{s<=t} oracle_s`` for each step ``t``.

    NaN until the oracle has earned ``floor`` (1 %) of its episode total (a ratio of two tiny
    or negative sums, e.g. before delayed conversions arrive or while profit is negative, says
    nothing), and everywhere when that total is not positive. At the last step it is the
    episode's ``pct_of_oracle``.
    """
    done, best = np.cumsum(agent_steps), np.cumsum(oracle_steps)
    total = best[-1] if best.size else 0.0
    if not total > 0:
        return np.full(best.shape, np.nan)
    valid = best > floor * total
    return np.where(valid, 100.0 * done / np.where(valid, best, 1.0), np.nan)


def plot_cumulative_reward(
    traces: Any, oracle: Any, scenario: str, path: str | Path, colors: dict[str, Any] | None = None
) -> Path:
    """Cumulative expected reward to date as % of the oracle's to date, per agent (mean over
    episodes, 95 % band of the mean), on each episode's own path.

    The oracle is the 100 % line; each agent's line ends at its mean % of oracle (the score in
    the tables), so the figure shows *when* an agent gains or loses against the oracle. The
    legend lists the agents by that final value. (The file keeps its name,
    ``cumulative_<scenario>.png``: the results directory is a contract.)
    """
    series = _paired_with_oracle(traces, oracle, scenario, pct_of_oracle_to_date)
    colors = colors or agent_colors([a for a, _ in series])
    fig = _figure(9, 4.8)
    ax = fig.subplots()
    ax.axhline(100.0, color=ORACLE_COLOR, lw=1.2, ls="--", label="oracle (100%)")
    finals = {a: float(np.nanmean(v[:, -1])) if np.isfinite(v[:, -1]).any() else np.nan for a, v in series}
    for agent, values in sorted(series, key=lambda item: -np.nan_to_num(finals[item[0]], nan=-np.inf)):
        _band(ax, np.arange(values.shape[1]), values, colors[agent], f"{agent} ({finals[agent]:.1f}%)")
    ax.set(
        xlabel="step",
        ylabel="cumulative expected reward to date,\n% of the oracle's to date",
        title=f"Cumulative expected reward as % of the oracle's — {scenario}",
    )
    ax.legend(fontsize=8, loc="center left", bbox_to_anchor=(1.01, 0.5), title="agent (at the end)",
              title_fontsize=8)
    ax.grid(alpha=0.3)
    return save_figure(fig, path)


def plot_regret(
    traces: Any, oracle: Any, scenario: str, path: str | Path, colors: dict[str, Any] | None = None
) -> Path:
    """Cumulative regret against the oracle on each episode's own path, mean over runs."""
    series = _paired_with_oracle(traces, oracle, scenario, lambda agent, best: np.cumsum(best - agent))
    colors = colors or agent_colors([a for a, _ in series])
    fig = _figure(8, 4.8)
    ax = fig.subplots()
    for agent, values in series:
        _band(ax, np.arange(values.shape[1]), values, colors[agent], agent)
    ax.axhline(0.0, color=ORACLE_COLOR, lw=0.8)
    ax.set(xlabel="step", ylabel="cumulative regret (expected reward)", title=f"Regret vs the oracle — {scenario}")
    if series:
        ax.legend(fontsize=8, loc="upper left")
    ax.grid(alpha=0.3)
    return save_figure(fig, path)


def plot_allocation(
    traces: Any, oracle_allocation: Any, scenario: str, path: str | Path, max_cols: int = 3
) -> Path:
    """Spend per channel and step (stacked area, mean over runs), one panel per agent and the oracle."""
    part = traces[traces["scenario"] == scenario]
    channels = list(dict.fromkeys(part["channel"]))
    panels: list[tuple[str, Any]] = [
        (str(agent), g.groupby(["step", "channel"], sort=True)["spend"].mean().unstack("channel"))
        for agent, g in part.groupby("agent", sort=True)
    ]
    orc = oracle_allocation[oracle_allocation["scenario"] == scenario]
    if not orc.empty:
        panels.append(("oracle", orc.groupby(["step", "channel"], sort=True)["spend"].mean().unstack("channel")))
    rows, cols = _grid(len(panels), max_cols)
    fig = _figure(4.6 * cols, 3.2 * rows)
    axes = fig.subplots(rows, cols, squeeze=False, sharey=True)
    from matplotlib import colormaps

    cmap = colormaps["Set2" if len(channels) <= 8 else "tab20"]
    for k, (name, wide) in enumerate(panels):
        ax = axes[k // cols][k % cols]
        wide = wide.reindex(columns=channels).fillna(0.0)
        ax.stackplot(wide.index.to_numpy(), wide.to_numpy().T, labels=channels,
                     colors=[cmap(i % cmap.N) for i in range(len(channels))])
        ax.set_title(name, fontsize=10)
        ax.set_xlabel("step")
        if k % cols == 0:
            ax.set_ylabel("spend per step")
    for k in range(len(panels), rows * cols):
        axes[k // cols][k % cols].set_visible(False)
    handles, labels = axes[0][0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside upper right", fontsize=8, ncol=min(len(channels), 6))
    fig.suptitle(f"Allocation over time (mean spend per step) — {scenario}")
    return save_figure(fig, path)


def plot_learning_curves(
    curves: Any, scenario: str, path: str | Path, colors: dict[str, Any] | None = None
) -> Path:
    """Training reward (per episode, as logged) vs environment steps: thin lines per seed,
    a thick line for the mean across seeds at the logged steps."""
    part = curves[curves["scenario"] == scenario]
    colors = colors or agent_colors(part["agent"].unique())
    fig = _figure(8, 4.8)
    ax = fig.subplots()
    for agent, g in part.groupby("agent", sort=True):
        for _, run in g.groupby("seed"):
            ax.plot(run["timesteps"], run["reward"], color=colors[agent], alpha=0.3, lw=0.8)
        mean = g.groupby("timesteps", sort=True)["reward"].mean()
        ax.plot(mean.index, mean.to_numpy(), color=colors[agent], lw=1.8, label=str(agent))
    ax.set(xlabel="environment steps", ylabel="training episode reward", title=f"Learning curves — {scenario}")
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    return save_figure(fig, path)
