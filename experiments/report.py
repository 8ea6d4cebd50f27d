"""Rebuild an experiment's tables, figures and ``report.md`` from its finished run folders.

:func:`build_report` is what ``budgetgym report DIR`` runs and what
:func:`~budgetgym.experiments.runner.run_experiment` calls at the end. It reads only the
results directory (finished runs, oracle files, ``experiment.yaml`` and ``meta.json``), so it
can be re-run at any time, e.g. after a partial or resumed run.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from budgetgym.envs.errors import BudgetGymError, suggest
from budgetgym.envs.io import atomic_write_text
from budgetgym.experiments.config import BootstrapConfig, ExperimentConfig, saved_experiment
from budgetgym.experiments.report_format import (
    FAMILY_IQM_NOTE,
    NO_CI,
    REWARD_UNITS,
    ci_text,
    family_section,
    format_summary_rows,
    has_point_without_interval,
    markdown_table,
    num,
    split_text,
)
from budgetgym.experiments.results import (
    collect_learning_curves,
    collect_oracle,
    collect_oracle_allocation,
    collect_results,
    collect_reward_kinds,
    collect_traces,
    read_meta,
    utc_now,
    write_csv,
)
from budgetgym.experiments.summary import FAMILY_COLUMNS, held_out, summarize
from budgetgym.experiments.wording import count

__all__ = ["REWARD_UNITS", "Report", "build_report", "format_summary_rows"]


@dataclass
class Report:
    """What :func:`build_report` wrote (paths) and the tables it computed (DataFrames)."""

    out: Path
    results: Any
    summary: Any
    poi: Any
    report: Path
    plots: list[Path] = field(default_factory=list)
    confidence: float = BootstrapConfig().confidence  # the coverage of the tables' intervals


def build_report(out: str | Path, *, plots: bool = True, baseline: str | None = None) -> Report:
    """Write ``results.csv``, ``summary.csv``, ``poi.csv``, ``plots/*.png`` and ``report.md``.

    Parameters
    ----------
    out : the results directory of :func:`~budgetgym.experiments.runner.run_experiment`.
    plots : draw the figures (the tables are always written).
    baseline : agent for the uplift columns; default: the experiment's baseline, else
        ``equal`` when it ran.

    Raises
    ------
    BudgetGymError
        ``out`` is not a results directory (no ``experiment.yaml`` and no finished run).
    """
    out = Path(out)
    if not out.is_dir():
        raise BudgetGymError(f"results directory '{out}' not found")
    cfg = saved_experiment(out)
    results = collect_results(out)
    if cfg is None and results.empty:
        raise BudgetGymError(f"'{out}' is not a results directory: no experiment.yaml and no finished runs")
    boot = cfg.bootstrap if cfg is not None else BootstrapConfig()
    # the agents that ran, else (no run finished yet) the experiment's
    agents = set(results["agent"]) if not results.empty else {a.name for a in cfg.agents} if cfg is not None else set()
    if baseline is not None and agents and baseline not in agents:
        raise BudgetGymError(f"--baseline: '{baseline}' is not an agent in '{out}' ({', '.join(sorted(agents))})"
                             + suggest(baseline, agents))
    if baseline is None:
        baseline = cfg.baseline_agent if cfg is not None else None
        if baseline is None and "equal" in agents:
            baseline = "equal"
    summary, poi = summarize(results, baseline, boot.reps, boot.confidence, boot.seed)
    # the unit of the *_reward_mean columns (a column added after the poi columns, before a family
    # grid's FAMILY_COLUMNS: the layout is a contract)
    kinds = summary["scenario"].map(collect_reward_kinds(out)).fillna("").astype(str)
    summary.insert(len(summary.columns) - len(set(FAMILY_COLUMNS) & set(summary.columns)), "reward_kind", kinds)
    write_csv(out / "results.csv", results)
    write_csv(out / "summary.csv", summary)
    write_csv(out / "poi.csv", poi)

    figures: dict[str, list[tuple[str, Path]]] = {}
    written: list[Path] = []
    if plots and not results.empty and importlib.util.find_spec("matplotlib") is None:
        plots = False  # tables only; the report says how to get the figures
        figures = {"": []}
    if plots and not results.empty:
        figures, written = _draw(out, summary, boot.confidence)
    meta = read_meta(out)
    text = _markdown(out, cfg, results, summary, poi, baseline, boot, figures, meta)
    report = atomic_write_text(out / "report.md", text)
    return Report(out, results, summary, poi, report, written, boot.confidence)


def _draw(out: Path, summary: Any, confidence: float) -> tuple[dict[str, list[tuple[str, Path]]], list[Path]]:
    from budgetgym.experiments import plots as P

    traces = collect_traces(out)
    oracle = collect_oracle(out)
    oracle_alloc = collect_oracle_allocation(out)
    curves = collect_learning_curves(out)
    colors = P.agent_colors(summary["agent"].unique())
    pdir = out / "plots"
    figures: dict[str, list[tuple[str, Path]]] = {"": [("Score intervals", P.plot_score_intervals(
        summary, pdir / "score_intervals.png", colors, confidence))]}
    families = _family_scenarios(summary)
    # a family's episode figures show its held-out draws (each paired with its own draw's oracle)
    traces, oracle, oracle_alloc = (_held_out_rows(f, families) for f in (traces, oracle, oracle_alloc))
    for sc in sorted(summary["scenario"].unique()):
        note = " (held-out draws)" if sc in families else ""
        items = [
            (f"Cumulative expected reward as % of the oracle's to date{note}",
             P.plot_cumulative_reward(traces, oracle, sc, pdir / f"cumulative_{sc}.png", colors)),
            (f"Regret vs the oracle{note}", P.plot_regret(traces, oracle, sc, pdir / f"regret_{sc}.png", colors)),
            (f"Allocation over time{note}",
             P.plot_allocation(traces, oracle_alloc, sc, pdir / f"allocation_{sc}.png")),
        ]
        if not curves.empty and (curves["scenario"] == sc).any():
            items.append(
                ("Learning curves", P.plot_learning_curves(curves, sc, pdir / f"learning_{sc}.png", colors))
            )
        figures[sc] = items
    written = [p for items in figures.values() for _, p in items]
    return figures, written


def _family_scenarios(summary: Any) -> set[str]:
    """Scenario labels of the families in a summary (rows with a split)."""
    return set(summary.loc[split_text(summary) != "", "scenario"])


def _held_out_rows(frame: Any, families: set[str]) -> Any:
    """Rows of plain scenarios, and of the families' held-out (test) draws."""
    if not families or "split" not in frame.columns:
        return frame
    return frame[~frame["scenario"].isin(families) | (split_text(frame) == "test")]


def _asked_draws(meta: dict[str, Any], label: str) -> int | None:
    """The draws the experiment asked for on family ``label``, as the last session of ``meta.json``
    recorded them (``None`` when it did not)."""
    sessions = meta.get("sessions") if isinstance(meta, dict) else None
    last = sessions[-1] if isinstance(sessions, list) and sessions and isinstance(sessions[-1], dict) else {}
    draws = last.get("family_draws")
    entry = draws.get(label) if isinstance(draws, dict) else None
    asked = entry.get("asked") if isinstance(entry, dict) else None
    return asked if isinstance(asked, int) else None


def _markdown(
    out: Path,
    cfg: ExperimentConfig | None,
    results: Any,
    summary: Any,
    poi: Any,
    baseline: str | None,
    boot: BootstrapConfig,
    figures: dict[str, list[tuple[str, Path]]],
    meta: dict[str, Any],
) -> str:
    name = cfg.name if cfg is not None else out.name
    conf = f"{100 * boot.confidence:g}%"
    lines = [f"# Experiment `{name}`", ""]
    if cfg is not None and cfg.description:
        lines += [cfg.description.strip(), ""]
    git = meta.get("git", {}) if isinstance(meta, dict) else {}
    n_runs = results.groupby(["scenario", "agent", "seed"]).ngroups if not results.empty else 0
    families = _family_scenarios(summary) if not summary.empty else set()
    lines += [
        f"- generated {utc_now()} from {count(n_runs, 'finished run')} ({count(len(results), 'episode')}) in `{out}`",
        f"- config hash `{meta.get('config_hash', '?')}`, git commit `{git.get('commit') or '?'}`"
        + (" (uncommitted changes)" if git.get("dirty") else ""),
        f"- score: expected reward as % of the oracle's on the same episode path; {conf} percentile "
        f"stratified-bootstrap intervals over seeds ({boot.reps:,} resamples, seed {boot.seed})",
    ]
    if families:
        lines += [
            "- scenario families: each draw is scored against its own oracle; held-out (test) draws were never "
            "trained on, in-distribution (train) draws come from the split learners train on; the intervals of a "
            "family's means and uplifts resample draws and seeds (a two-way bootstrap), the IQM's seeds only"
        ]
    if not summary.empty and has_point_without_interval(summary):
        lines += [
            f"- {NO_CI}: a score from one seed (for a family, one draw and one seed) has nothing to resample, so it "
            "gets no interval (the percentile interval of one value is that value, not a measure of uncertainty); "
            "run two seeds or more for intervals"
        ]
    lines += [""]
    if summary.empty:
        return "\n".join([*lines, "No finished runs yet.", ""])
    up = f"uplift vs {baseline}, points" if baseline else "uplift"
    lines += ["## Results by scenario", ""]
    display = {(r["scenario"], r["agent"], r["split"]): r for r in format_summary_rows(summary)}
    for sc, part in summary.groupby("scenario", sort=True):
        if sc in families:
            lines += family_section(str(sc), part, display, baseline, conf, up, _asked_draws(meta, str(sc)))
            for title, path in figures.get(str(sc), []):
                lines += [f"**{title}**", "", f"![{title} — {sc}]({path.relative_to(out).as_posix()})", ""]
            continue
        first = display[(sc, part["agent"].iloc[0], "")]  # its oracle: the same for every agent's row
        unit = first["unit"]
        lines += [f"### {sc}", "", f"Mean oracle reward {first['oracle']}{f' {unit}' if unit else ''}.", ""]
        part = part.sort_values("pct_of_oracle_mean", ascending=False)
        poi_col = f"poi_vs_{baseline}" if baseline and f"poi_vs_{baseline}" in part.columns else None
        header = ["agent", f"% of oracle ({conf} CI)", "expected reward", f"{up} ({conf} CI)"]
        header += [f"P(> {baseline})"] if poi_col else []
        header += ["seeds", "episodes (all seeds)", "train steps", "train s / run", "s / episode"]
        rows = []
        for _, r in part.iterrows():
            d = display[(r["scenario"], r["agent"], "")]
            row = [d["agent"], d["pct_of_oracle"], d["expected"], d["uplift"]]
            row += [num(r[poi_col], 2)] if poi_col else []
            row += [d["seeds"], d["episodes"], d["train_steps"], num(r["train_s_mean"], 1), num(r["wall_s_mean"], 2)]
            rows.append(row)
        lines += [*markdown_table(header, rows), ""]
        for title, path in figures.get(sc, []):
            lines += [f"**{title}**", "", f"![{title} — {sc}]({path.relative_to(out).as_posix()})", ""]

    lines += ["## Across scenarios", "", f"Interquartile mean of the run scores pooled over scenarios ({conf} CI, "
              f"resampling seeds within each scenario)"
              + (f"; a family counts with its held-out draws. {FAMILY_IQM_NOTE[0].upper()}{FAMILY_IQM_NOTE[1:]}."
                 if families else "."), ""]
    agg = held_out(summary).groupby("agent", sort=True).agg(
        iqm=("iqm", "first"), lo=("iqm_ci_lo", "first"), hi=("iqm_ci_hi", "first"),
        mean=("pct_of_oracle_mean", "mean"), n=("scenario", "nunique"),
    ).sort_values("iqm", ascending=False)
    lines += markdown_table(
        ["agent", "IQM % of oracle", "mean of scenario means", "scenarios"],
        [[str(a), ci_text(r["iqm"], r["lo"], r["hi"]), num(r["mean"]), str(int(r["n"]))] for a, r in agg.iterrows()],
    )
    lines += [""]
    if figures == {"": []}:
        lines += ['Figures need matplotlib: `pip install "budgetgym[plot]"`, then `budgetgym report DIR`.', ""]
    for title, path in figures.get("", []):
        lines += [f"![{title}]({path.relative_to(out).as_posix()})", ""]

    if not poi.empty:
        order = list(agg.index)
        lines += [
            "## Probability of improvement",
            "",
            "P(row agent scores higher than column agent on a run) + ½ P(tie), averaged over the scenarios "
            "both ran; `poi.csv` has the intervals.",
            "",
        ]
        table = poi.set_index(["agent", "other"])["poi"]
        rows = [[a] + [("·" if a == b else num(table.get((a, b), float("nan")), 2)) for b in order] for a in order]
        lines += [*markdown_table(["", *order], rows), ""]

    lines += [
        "## Method",
        "",
        "- A run is one (scenario, agent, seed): learners train first (seeded), then the agent plays "
        "`episodes` full episodes; online learners start each episode afresh.",
        "- Run score = mean `pct_of_oracle` over its episodes; 100 × expected reward / oracle expected reward "
        "on the same episode path (seasonality, drift, shocks).",
        "- Per scenario: mean of run scores with a percentile bootstrap over seeds; uplift = paired difference "
        "to the baseline on common seeds (same episode paths and noise).",
        "- Across scenarios: IQM (25% trimmed mean) of all run scores, stratified bootstrap (seeds resampled "
        "within each scenario), and the probability of improvement (Mann-Whitney U / nm per scenario, "
        "averaged), as in rliable (Agarwal et al., 2021).",
        *(
            [
                "- Scenario families: a run trains once (learners: on the family's train split), then plays its "
                "episodes on each of the N held-out test draws and on N train draws (an explicit ensemble: at "
                "most its members in each split, each once). Its score on a split is the "
                "mean over the split's draws; the split's mean and the uplift (paired by draw and seed) get a "
                "two-way bootstrap interval that resamples draws and seeds independently; the IQM and the "
                "probability of improvement use the held-out run scores.",
            ]
            if families
            else []
        ),
        "- Files: `results.csv` (one row per episode), `summary.csv`, `poi.csv`, `runs/<scenario>/<agent>/seed_<k>/`.",
        "",
        "## Reproduce",
        "",
        "```bash",
        f"budgetgym run {out.as_posix()}/experiment.yaml --out {out.as_posix()}   # finished runs are skipped",
        f"budgetgym report {out.as_posix()}",
        "```",
        "",
    ]
    return "\n".join(lines)
