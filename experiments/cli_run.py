"""``budgetgym run`` and ``budgetgym report``: run an experiment grid, or rebuild its report from the
finished runs, and print the results tables (registered by :mod:`budgetgym.experiments.cli`)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from budgetgym.experiments.console import console, wide_console
from budgetgym.experiments.wording import count

__all__ = ["report_cmd", "run_cmd"]


def run_cmd(
    experiment: Annotated[str, typer.Argument(help="experiment YAML or built-in name")] = "quickstart",
    out: Annotated[Path | None, typer.Option("--out", "-o", help="results directory \\[default: out/<name>]")] = None,
    seeds: Annotated[int | None, typer.Option(help="use seeds 0..N-1")] = None,
    workers: Annotated[int, typer.Option(help="parallel workers")] = 1,
    backend: Annotated[str, typer.Option(help="local or ray")] = "local",
    address: Annotated[str | None, typer.Option(help="Ray cluster address (ray backend)")] = None,
    set_: Annotated[list[str] | None, typer.Option("--set", help="override: key=value (repeatable)")] = None,
    progress: Annotated[bool, typer.Option("--progress/--no-progress", help="progress bars")] = True,
    plots: Annotated[bool, typer.Option("--plots/--no-plots", help="draw the report's figures")] = True,
) -> None:
    """Run an experiment grid (default: the built-in quickstart) and print the results table."""
    from budgetgym.experiments.config import load_experiment, parse_overrides
    from budgetgym.experiments.runner import run_experiment

    cfg = load_experiment(experiment, overrides=parse_overrides(set_ or []), seeds=seeds)
    err = console(stderr=True)
    result = run_experiment(
        cfg, out, workers=workers, backend=backend, address=address, progress=progress, plots=plots,
        echo=lambda line: err.print(line, markup=False),
    )
    _print_summary(result.summary, cfg.bootstrap.confidence)
    con = console()
    con.print(
        f"{count(result.count('done'), 'run')} done, {result.count('skipped')} skipped (already complete), "
        f"{len(result.failed)} failed; {result.wall_s:.1f} s"
    )
    if result.report is not None:
        con.print(f"wrote {result.out / 'results.csv'}, {result.out / 'summary.csv'}, {result.report}")
    if result.failed:  # each named in one line as it failed (echo)
        raise typer.Exit(1)


def _print_summary(summary: Any, confidence: float) -> None:
    """One table per scenario (agents by score; the oracle's expected reward per episode, with
    its unit, in the title), then the IQM across scenarios; ``confidence`` is the experiment's
    (``bootstrap.confidence``), the coverage the intervals were computed at."""
    if summary is None or summary.empty:
        return
    from rich.table import Table

    from budgetgym.experiments.report_format import FAMILY_IQM_NOTE, format_summary_rows
    from budgetgym.experiments.summary import held_out

    con = wide_console()
    base = str(summary["baseline"].iloc[0]) or "baseline"
    conf = f"{100 * confidence:g}%"
    families = "split" in summary.columns and bool((summary["split"].fillna("").astype(str) != "").any())
    con.print(f"expected reward as % of the oracle's and per episode (mean over seeds, {conf} bootstrap CI over seeds"
              + ("; a family's: mean over its draws and seeds, CI over both" if families else "") + ")")
    text: dict[str, str] = {}
    for sc, part in summary.groupby("scenario", sort=True):
        split = part["split"].fillna("").astype(str) if "split" in part.columns else None
        if split is not None and (split != "").any():
            _print_family(con, str(sc), part, split, base, text)
            continue
        part = part.sort_values(["pct_of_oracle_mean", "agent"], ascending=[False, True])
        rows = format_summary_rows(part)
        ref = rows[int(part["n_episodes"].to_numpy().argmax())]  # the oracle over the most episode paths
        unit = f"{ref['unit']} " if ref["unit"] else ""
        title = f"{sc} — {unit}per episode: oracle {ref['oracle']}"
        table = Table(title=title, title_justify="left", box=None)
        for name in ("agent", "% of oracle", "expected reward", f"uplift vs {base}", "seeds"):
            table.add_column(name, no_wrap=True, justify="left" if name == "agent" else "right")
        for r in rows:
            table.add_row(r["agent"], r["pct_of_oracle"], r["expected"], r["uplift"], r["seeds"])
            text[r["agent"]] = r["iqm"]
        con.print(table)
    iqm = Table(title=f"across scenarios: IQM of % of oracle ({conf} CI over seeds)", title_justify="left", box=None)
    iqm.add_column("agent", no_wrap=True)
    iqm.add_column("IQM", no_wrap=True, justify="right")
    iqm.add_column("scenarios", no_wrap=True, justify="right")  # an IQM over fewer scenarios is not comparable
    counts = held_out(summary).groupby("agent")["scenario"].nunique()  # the scenarios each IQM pools
    for agent in summary.drop_duplicates("agent").sort_values("iqm", ascending=False)["agent"]:
        iqm.add_row(str(agent), text[str(agent)], str(int(counts.get(agent, 0))))
    con.print(iqm)
    if families:
        con.print(FAMILY_IQM_NOTE)


def _print_family(con: Any, sc: str, part: Any, split: Any, base: str, text: dict[str, str]) -> None:
    """A family's table: per agent the held-out score beside the in-distribution one."""
    from rich.table import Table

    from budgetgym.experiments.report import format_summary_rows

    test = part[split == "test"].sort_values(["pct_of_oracle_mean", "agent"], ascending=[False, True])
    train = {r["agent"]: r for r in format_summary_rows(part[split == "train"])}
    rows = format_summary_rows(test)
    if not rows:
        return
    ref = rows[int(test["n_episodes"].to_numpy().argmax())]
    unit = f"{ref['unit']} " if ref["unit"] else ""
    draws = count(int(ref["draws"]), "held-out draw") if ref["draws"] else "held-out draws"
    title = f"{sc} — family, {draws} — {unit}per episode: oracle {ref['oracle']}"
    table = Table(title=title, title_justify="left", box=None)
    for name in ("agent", "held-out % of oracle", "in-distribution %", "expected reward", f"uplift vs {base}",
                 "seeds"):
        table.add_column(name, no_wrap=True, justify="left" if name == "agent" else "right")
    for r in rows:
        other = train.get(r["agent"])
        table.add_row(r["agent"], r["pct_of_oracle"], other["pct_of_oracle"] if other else "–", r["expected"],
                      r["uplift"], r["seeds"])
        text[r["agent"]] = r["iqm"]
    con.print(table)


def report_cmd(
    directory: Annotated[Path, typer.Argument(metavar="DIR", help="results directory")],
    plots: Annotated[bool, typer.Option("--plots/--no-plots", help="draw the figures")] = True,
    baseline: Annotated[str | None, typer.Option(help="agent for the uplift \\[default: the experiment's]")] = None,
) -> None:
    """Rebuild results.csv, summary.csv, plots and report.md from DIR's finished runs."""
    from budgetgym.experiments.report import build_report

    rep = build_report(directory, plots=plots, baseline=baseline)
    _print_summary(rep.summary, rep.confidence)
    console().print(f"wrote {rep.report} ({count(len(rep.plots), 'plot')})")
