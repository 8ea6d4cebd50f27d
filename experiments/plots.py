"""Figures of an experiment (PNG through matplotlib's Agg canvas, written atomically).

Every function takes tidy DataFrames (as read by :mod:`budgetgym.experiments.results`) and a
target path, draws on its own :class:`matplotlib.figure.Figure` (no pyplot state), and
returns the path. Agents keep one colour across all figures (:func:`agent_colors`).

* :func:`plot_score_intervals` — % of oracle per agent with its 95 % interval, one panel per
  scenario, plus the IQM across scenarios;
* :func:`plot_cumulative_reward` — cumulative expected reward over the episode vs the oracle;
* :func:`plot_regret` — cumulative regret ``sum_{s<=t} (oracle_s - agent_s)`` (expected reward);
* :func:`plot_allocation` — spend per channel over time (stacked area), one panel per agent;
* :func:`plot_learning_curves` — training reward vs environment steps (learners).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from budgetgym.agents.evaluation import episode_seed
from budgetgym.envs.io import atomic_write

__all__ = [
    "agent_colors",
    "plot_allocation",
    "plot_cumulative_reward",
    "plot_learning_curves",
    "plot_regret",
    "plot_score_intervals",
    "save_figure",
]

ORACLE_COLOR = "black"


def _figure(width: float, height: float) -> Any:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), layout="constrained")
    FigureCanvasAgg(fig)
    return fig


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
def plot_score_intervals(summary: Any, path: str | Path, colors: dict[str, Any] | None = None) -> Path:
    """Mean % of oracle with its bootstrap interval per agent; a panel per scenario and the IQM."""
    scenarios = sorted(summary["scenario"].unique())
    agents = sorted(summary["agent"].unique())
    colors = colors or agent_colors(agents)
    panels = [*scenarios, "IQM (all scenarios)"]
    rows, cols = _grid(len(panels), 3)
    fig = _figure(4.2 * cols, 0.35 * len(agents) * rows + 1.4 * rows)
    axes = fig.subplots(rows, cols, squeeze=False)
    for k, panel in enumerate(panels):
        ax = axes[k // cols][k % cols]
        if panel in scenarios:
            part = summary[summary["scenario"] == panel].set_index("agent")
            cols_ = ("pct_of_oracle_mean", "pct_of_oracle_ci_lo", "pct_of_oracle_ci_hi")
        else:
            part = summary.drop_duplicates("agent").set_index("agent")
            cols_ = ("iqm", "iqm_ci_lo", "iqm_ci_hi")
        for y, agent in enumerate(agents):
            if agent not in part.index:
                continue
            mid, lo, hi = (float(part.loc[agent, c]) for c in cols_)
            ax.plot([lo, hi], [y, y], color=colors[agent], lw=4, alpha=0.6, solid_capstyle="butt")
            ax.plot([mid], [y], "o", color=colors[agent], ms=5)
        ax.set_yticks(range(len(agents)))
        ax.set_yticklabels(agents if k % cols == 0 else [""] * len(agents))
        ax.set_ylim(-0.7, len(agents) - 0.3)
        ax.set_title(panel, fontsize=10)
        ax.set_xlabel("% of oracle (95% CI)")
        ax.grid(axis="x", alpha=0.3)
    for k in range(len(panels), rows * cols):
        axes[k // cols][k % cols].set_visible(False)
    fig.suptitle("Score intervals: expected reward as % of the oracle")
    return save_figure(fig, path)


# ----------------------------------------------------------------------------- episodes
def _step_rewards(traces: Any) -> Any:
    """One row per (agent, seed, episode, step) with the step's expected reward."""
    steps = traces.drop_duplicates(["agent", "seed", "episode", "step"])
    return steps[["agent", "seed", "episode", "step", "expected_reward"]]


def _episode_matrix(steps: Any) -> tuple[list[tuple[int, int]], np.ndarray]:
    """(seed, episode) keys and their ``[n, T]`` step-reward matrix for one agent."""
    wide = steps.pivot_table(index=["seed", "episode"], columns="step", values="expected_reward", sort=True)
    return [tuple(map(int, k)) for k in wide.index], wide.to_numpy(dtype=float)


def _oracle_matrix(oracle: Any, scenario: str) -> dict[int, np.ndarray]:
    part = oracle[oracle["scenario"] == scenario]
    return {
        int(s): g.sort_values("step")["expected_reward"].to_numpy(dtype=float) for s, g in part.groupby("env_seed")
    }


def _band(ax: Any, x: np.ndarray, values: np.ndarray, color: Any, label: str, style: str = "-") -> None:
    mean = values.mean(axis=0)
    ax.plot(x, mean, style, color=color, label=label, lw=1.6)
    if values.shape[0] > 1:
        se = values.std(axis=0, ddof=1) / np.sqrt(values.shape[0])
        ax.fill_between(x, mean - 1.96 * se, mean + 1.96 * se, color=color, alpha=0.15, lw=0)


def plot_cumulative_reward(
    traces: Any, oracle: Any, scenario: str, path: str | Path, colors: dict[str, Any] | None = None
) -> Path:
    """Cumulative expected reward over the episode per agent (mean over runs, 95 % band of the
    mean), and the oracle's on the same episode paths (dashed)."""
    part = _step_rewards(traces[traces["scenario"] == scenario])
    colors = colors or agent_colors(part["agent"].unique())
    fig = _figure(8, 4.8)
    ax = fig.subplots()
    oracle_by_seed = _oracle_matrix(oracle, scenario)
    used: set[int] = set()
    for agent, steps in part.groupby("agent", sort=True):
        keys, mat = _episode_matrix(steps)
        _band(ax, np.arange(mat.shape[1]), np.cumsum(mat, axis=1), colors[agent], str(agent))
        used |= {episode_seed(s, e) for s, e in keys}
    ref = [oracle_by_seed[s] for s in sorted(used) if s in oracle_by_seed]
    if ref:
        ax.plot(np.cumsum(np.mean(ref, axis=0)), "--", color=ORACLE_COLOR, lw=1.6, label="oracle")
    ax.set(xlabel="step", ylabel="cumulative expected reward", title=f"Cumulative expected reward — {scenario}")
    ax.legend(fontsize=8, loc="upper left")
    ax.grid(alpha=0.3)
    return save_figure(fig, path)


def plot_regret(
    traces: Any, oracle: Any, scenario: str, path: str | Path, colors: dict[str, Any] | None = None
) -> Path:
    """Cumulative regret against the oracle on each episode's own path, mean over runs."""
    part = _step_rewards(traces[traces["scenario"] == scenario])
    colors = colors or agent_colors(part["agent"].unique())
    oracle_by_seed = _oracle_matrix(oracle, scenario)
    fig = _figure(8, 4.8)
    ax = fig.subplots()
    drawn = False
    for agent, steps in part.groupby("agent", sort=True):
        keys, mat = _episode_matrix(steps)
        rows = [
            np.cumsum(oracle_by_seed[episode_seed(s, e)] - mat[i])
            for i, (s, e) in enumerate(keys)
            if episode_seed(s, e) in oracle_by_seed and len(oracle_by_seed[episode_seed(s, e)]) == mat.shape[1]
        ]
        if rows:
            _band(ax, np.arange(mat.shape[1]), np.asarray(rows), colors[agent], str(agent))
            drawn = True
    ax.axhline(0.0, color=ORACLE_COLOR, lw=0.8)
    ax.set(xlabel="step", ylabel="cumulative regret (expected reward)", title=f"Regret vs the oracle — {scenario}")
    if drawn:
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
