"""What a plan says: ``report.md`` and the lines ``budgetgym plan`` prints.

Both are put together from one formatting of a :class:`~budgetgym.planner.plan_result.PlanResult`
(:mod:`budgetgym.planner.plan_text`: the per-channel table, the sentences below it, a family's
held-out distribution, the budget frontier, the segments), so the terminal and the report cannot disagree:

* :func:`plan_markdown` — ``report.md``: the tables and sentences, the figures (or why there are
  none), the files, the method and the command that reproduces the plan (:func:`command_line`);
* :func:`print_plan` — the same tables and sentences on a terminal.

The pieces are re-exported here (:func:`fmt`, :func:`channel_rows`, :func:`summary_lines`, ...).
"""

from __future__ import annotations

import shlex
from pathlib import Path
from typing import Any

from budgetgym.experiments.report_format import markdown_table
from budgetgym.experiments.wording import count
from budgetgym.planner.metrics import COUNT_FIGURES
from budgetgym.planner.plan_result import PlanResult
from budgetgym.planner.plan_text import (
    OUTCOME_NAMES,
    channel_rows,
    distribution_rows,
    fmt,
    frontier_rows,
    header_line,
    segment_note,
    segment_rows,
    summary_lines,
    table_note,
)
from budgetgym.planner.voi import MAX_TESTS, REL_SIGMA

__all__ = [
    "COMMAND_DEFAULTS",
    "FILES",
    "OUTCOME_NAMES",
    "channel_rows",
    "command_line",
    "distribution_rows",
    "fmt",
    "frontier_rows",
    "header_line",
    "plan_markdown",
    "print_plan",
    "segment_rows",
    "summary_lines",
    "table_note",
]

#: Options at these values are left out of :func:`command_line` (the command's defaults).
COMMAND_DEFAULTS: dict[str, Any] = {"objective": "mean", "lift_design": "voi", "lift_tests": MAX_TESTS,
                                    "lift_sigma": REL_SIGMA}


def command_line(arguments: dict[str, Any]) -> str | None:
    """The ``budgetgym plan`` command for ``arguments`` (the CLI's options), or ``None``; options
    that are ``None`` or at their :data:`COMMAND_DEFAULTS` are left out, and every word is quoted for
    a POSIX shell where it needs it (a path with a space, a split with one)."""
    if "campaign" not in arguments:
        return None
    parts = ["budgetgym", "plan", str(arguments["campaign"])]
    for key, value in arguments.items():
        if key in ("campaign", "plots") or value is None or value == COMMAND_DEFAULTS.get(key):
            continue
        parts += [f"--{key.replace('_', '-')}", str(value)]
    if arguments.get("plots") is False:
        parts.append("--no-plots")
    return shlex.join(parts)


FILES = [
    ("plan.csv", "the recommended plan: spend per step (rows; day = day index, date = calendar date when the "
                 "history has dates or --start-date is given) and channel, and the total"),
    ("channels.csv", "per channel: spend, share, conversions, revenue, outcome, ROAS, CPA, marginal returns "
                     "(and current_* and change columns with a current plan)"),
    ("frontier.csv", "per budget multiple: the best outcome, the budget's marginal return and the spend per channel"),
    ("curves.csv", "response curves: per channel the expected outcome over its budget (point = curve, "
                   "recommended, current)"),
    ("draws.csv", "per held-out draw: the outcome of the recommended, static and current plans (same_budget: the "
                  "recommended plan at the budget given, where a target moved the plan's budget)"),
    ("segments.csv", "audience segments: per segment the effective exposure reaching it, saturation, conversions, "
                     "revenue and each channel's credited share"),
    ("lift_design.csv", "the lift tests to run next: channel, x (its mean spend a step in the history), delta_x (to "
                        "the level tested), planned_spend (that level, x + delta_x: under --lift-design beyond the "
                        "plan's level, under voi the level worth testing most, not necessarily the plan's), "
                        "plan_max_spend, history_max_spend (--lift-design voi: and "
                        "voi, voi_pct: what the test adds to those above it, predicted_lift, predicted_lift_sd, "
                        "assumed_sigma); run them, add delta_y and "
                        "sigma, and pass them to calibrate --lift-tests"),
    ("summary.json", "the numbers above, the command's arguments, versions and git commit"),
]


def plan_markdown(
    result: PlanResult,
    figures: list[tuple[str, Path]],
    files: list[str],
    *,
    arguments: dict[str, Any] | None = None,
    figures_note: str | None = None,
    generated: str = "",
    git: dict[str, Any] | None = None,
) -> str:
    """``report.md``: figure paths relative to the report's directory (module docstring)."""
    git = git or {}
    lines = [f"# Plan for `{result.campaign}`", ""]
    lines += [
        f"- {header_line(result)}",
        f"- generated {generated}, git commit `{git.get('commit') or '?'}`"
        + (" (uncommitted changes)" if git.get("dirty") else ""),
    ]
    if result.current is not None:
        lines.append(f"- current plan: {result.current_source}")
    lines += ["", "## Recommendation", ""]
    header, rows = channel_rows(result)
    lines += markdown_table(header, rows, "l" + "r" * (len(header) - 1))
    lines += [""]
    note = table_note(result)
    if note:
        lines += [note, ""]
    lines += [f"- {s}" for s in summary_lines(result)]
    dist = distribution_rows(result)
    if dist is not None:
        lines += ["", *markdown_table(dist[0], dist[1]), *([] if dist[2] is None else ["", dist[2]])]
    front = frontier_rows(result)
    if front is not None:
        lines += ["", "## Budget frontier", "", *markdown_table(front[0], front[1], "l" + "r" * (len(front[0]) - 1))]
    segs = segment_rows(result)
    if segs is not None:
        lines += ["", "## Audience segments", "", *markdown_table(segs[0], segs[1], "l" + "r" * (len(segs[0]) - 1)),
                  "", segment_note(result)]
    lines += ["", "## Figures", ""]
    if figures_note:
        lines += [figures_note, ""]
    for title, path in figures:
        lines += [f"**{title}**", "", f"![{title}]({path.as_posix()})", ""]
    lines += ["## Files", ""]
    lines += [f"- `{name}`: {text}" for name, text in FILES if name in files]
    if result.response_unit != "conversions":
        lines.append(f"- The response is revenue itself (`response_unit: currency`, a revenue KPI's calibration), "
                     f"so no figure counts conversions: {', '.join(f'`{c}`' for c in COUNT_FIGURES)} (and their "
                     f"`current_` columns) are empty; read `revenue`, `roas` and `mroas`.")
    lines += [
        "",
        "## Method",
        "",
        "- The value of a plan is `evaluate_plan`: the expected reward over the window on the campaign's nominal "
        "path (no noise, no drift draws), carry-in from the history included; the recommended plan maximises it "
        "under the budget, pacing and share bounds (for a scenario, exactly the oracle's plan). Only the window "
        "counts: what the window's spend carries past its last step is not counted, so the plan cuts channels with "
        "long carry-over or delays in the last steps; to plan the weeks after too, plan a longer --horizon with "
        "its --budget and keep its first steps.",
        "- The static plan is the best single split of the budget, spent evenly over the steps (under agent pacing "
        "with a profit reward, at its best even spend, which may leave budget unspent, as the recommendation may); "
        "the difference is what flighting (when to spend) is worth.",
        "- Marginal returns are exact derivatives of the expected outcome: per channel along its own flighting, "
        "for the budget by the envelope theorem (the optimum's derivative).",
    ]
    if result.is_family:
        held_out = len(result.draw_values) if result.draw_values is not None else result.draws
        lines.append(
            f"- Scenario family: the plan maximises the {result.objective} of the outcome over "
            f"{count(result.draws, 'train draw')}; the distribution is over {count(held_out, 'held-out draw')}, "
            f"never planned on."
        )
    command = command_line(arguments or {})
    if command:
        lines += ["", "## Reproduce", "", "```bash", command, "```"]
    lines.append("")
    return "\n".join(lines)


def print_plan(console: Any, result: PlanResult) -> None:
    """What ``budgetgym plan`` prints on ``console`` (a rich console): the header, the channel
    table, the sentences, for a family the held-out distribution, and with a sweep the budget frontier."""
    from rich.table import Table

    def table(header: list[str], rows: list[list[str]]) -> Any:
        t = Table(box=None)
        for i, name in enumerate(header):
            t.add_column(name, no_wrap=True, justify="left" if i == 0 else "right")
        for i, row in enumerate(rows):
            t.add_row(*row, style="bold" if i == len(rows) - 1 and row[0] == "total" else None)
        return t

    console.print(header_line(result), markup=False)
    console.print(table(*channel_rows(result)))
    note = table_note(result)
    if note:
        console.print(note, markup=False)
    for line in summary_lines(result):
        console.print(line, markup=False)
    dist = distribution_rows(result)
    if dist is not None:
        console.print(table(dist[0], dist[1]))
        if dist[2] is not None:
            console.print(dist[2], markup=False)
    front = frontier_rows(result)
    if front is not None:
        console.print(table(*front))
    segs = segment_rows(result)
    if segs is not None:
        console.print(table(*segs))
        console.print(segment_note(result), markup=False)
