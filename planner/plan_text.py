"""A plan in words and tables: the pieces ``budgetgym plan`` prints and ``report.md`` shows.

One formatting of a :class:`~budgetgym.planner.plan_result.PlanResult` serves both the terminal
and the report (:mod:`budgetgym.planner.report` puts the pieces together), so they cannot disagree:

* :func:`channel_rows` — the per-channel table, absolute numbers first: recommended spend (a counted spend,
  :func:`~budgetgym.planner.metrics.counted_spend`, with its digits however small: never 0 beside a ROAS) and
  share, (with a current plan: its spend and the change), the expected outcome in the reward's
  unit, (the uplift over the current plan), ROAS (revenue, profit) or CPA (conversions) and the
  marginal ROAS or marginal CPA (for a conversions KPI planned as revenue, ``kpi: conversions``, also the
  expected conversions and CPA), then a total row (the total's marginal is the budget's). Under a ``cvar:``
  objective over a family's draws the marginal column is the CVaR's (``channels.csv``'s ``cvar_mroas`` or
  ``cvar_mcpa``: the tail draws' mean at the plan, what the plan optimises and equalises over the channels,
  as the total's is), labelled with the objective; the other columns are the draws' means. A change
  and uplift carry their percentage of the current plan's, except on a channel the current plan does
  not spend on (:func:`~budgetgym.planner.metrics.spends_on`: the solver's rounding of 0, which an
  earlier solve given as the current plan leaves on a channel it drops, is no spend), whose current
  outcome is only the history's carry-in: ``(new)`` where the recommendation spends on it, else the
  change alone (``change_pct`` is empty there too);
* :func:`summary_lines` — recommended vs current, the static plan vs the flighting-aware plan
  (what timing is worth), the budget's marginal return, the target and profit-maximising
  budgets, and for a family the outcome distribution over held-out draws;
* :func:`frontier_rows` — with a sweep, the budget frontier: a row per budget with its best plan's
  outcome (the objective), the change from the recommendation at the budget, the budget's marginal
  return and, for up to :data:`FRONTIER_CHANNELS` channels, the spend per channel (the what-if of a
  lower or higher budget, without opening ``frontier.csv``);
* :func:`distribution_rows`, :func:`segment_rows` — a family's held-out outcome distribution and
  the per-segment table; :func:`header_line` and :func:`table_note` — what was planned and what
  the table's numbers are; :func:`fmt` — a number for people.

The tables beside the channel table live in :mod:`~budgetgym.planner.side_tables`, the target and search lines in
:mod:`~budgetgym.planner.target_text`, the number formatting and the outcome names in
:mod:`~budgetgym.planner.text_basics`; this module re-exports their public names.
"""

from __future__ import annotations

import functools
import math
from typing import Any

import numpy as np

from budgetgym.envs.dates import is_monthly
from budgetgym.envs.numbers import figure
from budgetgym.experiments.wording import count
from budgetgym.planner.metrics import ZERO_RTOL, conversions_beside, per_conversion, spends_on
from budgetgym.planner.plan_result import PlanResult
from budgetgym.planner.side_tables import distribution_rows, frontier_rows, segment_note, segment_rows  # re-exported
from budgetgym.planner.target_text import (
    point_text,
    same_budget_lines,
    same_budget_note,
    searched_text,
    target_budget_text,
    target_line,
)
from budgetgym.planner.text_basics import (  # fmt, OUTCOME_NAMES and objective_label re-exported
    OUTCOME_NAMES,
    fmt,
    objective_label,
    ratio_names,
    signed_pct,
    with_pct,
)

__all__ = [
    "OUTCOME_NAMES",
    "channel_rows",
    "distribution_rows",
    "fmt",
    "frontier_rows",
    "header_line",
    "objective_label",
    "segment_note",
    "segment_rows",
    "summary_lines",
    "table_note",
    "target_line",
    "uncounted_channels",
    "uncounted_note",
]


def _change(delta: float, base: float, current_spends: bool, spends: bool, digits: int | None, pct_digits: int,
            scale: float) -> str:
    """A channel's change from the current plan: ``+1,234 (+5.6%)`` (:func:`with_pct`) where the current plan
    spends on it, else no percentage, which would be of nothing (spend) or of the history's carry-in alone
    (outcome): ``+1,234 (new)`` where the recommendation spends on it, the change alone where neither does."""
    if current_spends:
        return with_pct(delta, base, digits, pct_digits, scale=scale)
    return fmt(delta, digits, signed=True, scale=scale) + (" (new)" if spends else "")


#: Marks a recommended spend below the counting threshold in the per-channel table (:func:`uncounted_note`).
UNCOUNTED_MARK = "*"


def _spend_text(spend: float, counts: bool, budget: float) -> str:
    """A channel's recommended spend: with counted spend (:func:`~budgetgym.planner.metrics.counted_spend`, which
    also gives it a ROAS and CPA) its digits however small against the budget (``0.05``, never a ``0`` beside a
    ROAS); a positive spend below the counting threshold (no counted spend, so no ROAS or CPA) also its digits,
    marked :data:`UNCOUNTED_MARK` (``0.0359*``, :func:`uncounted_note` says why): the recommendation keeps no
    solver's rounding of 0 that is free to drop (:func:`~budgetgym.planner.metrics.without_free_residue`), so
    such a spend is the plan's (a channel capped at a tiny ``max_share``), which ``plan.csv`` holds; no spend
    prints ``0``."""
    if counts:
        return figure(spend, 0)
    return f"{figure(spend, 0)}{UNCOUNTED_MARK}" if spend > 0 else fmt(spend, 0, scale=budget)


def uncounted_channels(result: PlanResult) -> list[str]:
    """The channels the recommendation spends on below the counting threshold: a positive spend but no counted
    spend (:func:`~budgetgym.planner.metrics.counted_spend`: every step of it at most
    :data:`~budgetgym.planner.metrics.ZERO_RTOL` of the plan's largest step)."""
    spend, used = result.plan.sum(axis=0), spends_on(result.plan)
    return [n for n, s, u in zip(result.channel_names, spend, used, strict=True) if s > 0 and not u]


def uncounted_note(result: PlanResult) -> str | None:
    """What a spend marked :data:`UNCOUNTED_MARK` is (``None`` without one): below the counting threshold, so
    counted as no spend (no ROAS or CPA), though ``plan.csv`` holds it."""
    names = uncounted_channels(result)
    if not names:
        return None
    top = fmt(float(result.plan.max()), 0)
    ratio = ratio_names(result.reward)[0] + (" or CPA" if conversions_beside(result.kpi, result.reward) else "")
    return (f"{UNCOUNTED_MARK} below the counting threshold ({', '.join(names)}): the plan spends this, but every step "
            f"of it is at most {ZERO_RTOL:g} of the plan's largest step ({top}), so it counts as no spend: no {ratio} "
            f"(plan.csv and channels.csv hold the spend).")


def _totals(ch: Any, prefix: str = "") -> tuple[float, float, float, float]:
    """Spend, outcome, incremental conversions and incremental revenue of a channel table's plan."""
    spend = ch[f"{prefix}spend"].to_numpy(float)
    outcome = float(ch[f"{prefix}outcome"].sum())
    inc_conv = float((ch[f"{prefix}conversions"] - ch["baseline_conversions"]).sum())
    inc_rev = float(np.nansum(ch[f"{prefix}roas"].to_numpy(float) * spend))
    return float(spend.sum()), outcome, inc_conv, inc_rev


def _ratio(reward: str, spend: float, inc_conv: float, inc_rev: float) -> float:
    if reward == "conversions":
        return float(per_conversion(spend, inc_conv))
    return inc_rev / spend if spend > 0 else math.nan


def channel_rows(result: PlanResult) -> tuple[list[str], list[list[str]]]:
    """Header and rows (strings) of the per-channel table, the last row the total (module docstring)."""
    ch = result.channels
    has_current = result.current is not None
    ratio, marginal, key = ratio_names(result.reward)
    outcome = OUTCOME_NAMES[result.reward]
    header = ["channel", "spend", "share"]
    header += ["current spend", "change"] if has_current else []
    counts = conversions_beside(result.kpi, result.reward)  # a conversions KPI planned as revenue: conversions, CPA
    header += [f"expected {outcome}"]
    header += ["uplift"] if has_current else []
    header += ["expected conversions"] if counts else []
    header += [ratio]
    header += ["CPA"] if counts else []
    tail = f"cvar_{key}" in ch.columns  # under cvar: the channels' marginal returns of the CVaR, as the total's
    header += [f"{marginal} ({result.objective})" if tail else marginal]
    ratio_col = "cpa" if result.reward == "conversions" else "roas"
    rows = []
    money, value = result.budget, abs(result.value)  # the scales of spend and outcomes (fmt)
    conversions = float(np.abs(ch["conversions"].to_numpy(float)).sum())
    # where the current plan spends nothing (the solver's rounding of 0 is none: metrics.spends_on, as change_pct), no
    # % of it: "(new)" where the recommendation spends, else the change alone (its current outcome is the carry-in)
    used = spends_on(result.plan)  # counted spend (metrics.counted_spend): printed with its digits, with a ROAS
    cur_used = spends_on(result.current) if result.current is not None else np.ones_like(used)
    for i, (_, r) in enumerate(ch.iterrows()):
        row = [str(r["channel"]), _spend_text(r["spend"], bool(used[i]), money), f"{100 * r['share']:.1f}%"]
        if has_current:
            row += [fmt(r["current_spend"], 0, scale=money),
                    _change(r["spend"] - r["current_spend"], r["current_spend"], cur_used[i], used[i], 0, 1, money)]
        row += [fmt(r["outcome"], scale=value)]
        if has_current:
            row += [_change(r["outcome"] - r["current_outcome"], r["current_outcome"], cur_used[i], used[i], None, 1,
                            value)]
        row += [fmt(r["conversions"], scale=conversions)] if counts else []
        row += [fmt(r[ratio_col], 2)]
        row += [fmt(r["cpa"], 2)] if counts else []
        row += [fmt(r[f"cvar_{key}" if tail else key], 2)]
        rows.append(row)
    spend, total, inc_conv, inc_rev = _totals(ch)
    row = ["total", fmt(spend, 0, scale=money), "100.0%" if spend > 0 else "–"]
    if has_current:
        cur_spend, cur_total, _, _ = _totals(ch, "current_")
        row += [fmt(cur_spend, 0, scale=money), with_pct(spend - cur_spend, cur_spend, 0, 1, scale=money)]
    row += [fmt(total, scale=value)]
    if has_current:
        row += [with_pct(total - cur_total, cur_total, pct_digits=1, scale=value)]
    row += [fmt(float(ch["conversions"].sum()), scale=conversions)] if counts else []
    row += [fmt(_ratio(result.reward, spend, inc_conv, inc_rev), 2)]
    row += [fmt(_ratio("conversions", spend, inc_conv, inc_rev), 2)] if counts else []
    row += [fmt(result.budget_marginal[key], 2)]
    rows.append(row)
    return header, rows


def summary_lines(result: PlanResult) -> list[str]:
    """The sentences below the table (module docstring), one per line."""
    outcome = OUTCOME_NAMES[result.reward]
    what = objective_label(result)
    out = functools.partial(fmt, scale=abs(result.value))  # outcomes, spend: at their scales (fmt)
    spend = functools.partial(fmt, scale=result.budget)
    lines = []
    if result.current is not None and result.current_value is not None:
        if result.same_budget_value is None:
            uplift = with_pct(result.value - result.current_value, result.current_value, scale=abs(result.value))
            lines.append(
                f"{what}: recommended {out(result.value)} vs current ({result.current_source}) "
                f"{out(result.current_value)}: uplift {uplift}"
            )
        else:  # a target moved the plan's budget: the same budget's comparison, and the budget change's apart
            lines += same_budget_lines(result)
        if result.current_note:
            lines.append(f"note: {result.current_note}")
        lines += [f"note: the current plan breaks the campaign's constraints and is valued as given: {p}"
                  for p in result.current_problems]
        base = result.base_budget  # the comparison's budget, which a current plan never exceeds (check_within_budget)
        unspent = base - float(result.current.sum())
        if unspent > ZERO_RTOL * base:  # a what-if budget above the plan in place: say what the uplift holds
            lines.append(f"note: the current plan spends {spend(base - unspent)} of the budget "
                         f"{spend(base)}: the uplift includes what the other {spend(unspent)} buy")
        if result.current_dates_note:
            lines.append(f"note: {result.current_dates_note}")
    else:
        lines.append(f"{what}: recommended {out(result.value)}")
    timing = result.timing_value
    lines.append(
        f"static plan (best single split, even flighting — what MMM allocators return) {out(result.static_value)} "
        f"vs flighting-aware plan {out(result.value)}: timing is worth {out(timing, signed=True)} "
        f"({signed_pct(timing, result.value)} of the recommended value)"
    )
    m = result.budget_marginal
    conversions = result.reward == "conversions"
    ratio = f"marginal CPA {fmt(m['mcpa'], 2)}" if conversions else f"marginal ROAS {fmt(m['mroas'], 3)}"
    lines.append(f"budget marginal return: one more unit of budget adds {fmt(m['marginal_outcome'], 4)} {outcome} "
                 f"({ratio})")
    if result.history_steps:
        which = ""  # under cvar the objective's figure, and the mean the table's note gives
        if result.is_family and result.objective != "mean" and result.baseline_mean is not None:
            which = f" ({result.objective} over the train draws; mean {out(result.baseline_mean)})"
        lines.append(f"carry-in from {count(result.history_steps, 'step')} of history: "
                     f"{out(result.baseline_value)} {outcome}{which} with no spend in the window")
    elif result.carry_over_without_history:  # a campaign in flight planned as if it started cold
        lines.append(f"no history: nothing is carried into the window from earlier spend, though "
                     f"{', '.join(result.carry_over_without_history)} carry over; for a campaign already running, give "
                     f"its spend with --history (calibrate writes it as history.csv beside family.yaml)")
    if result.beyond_history:
        parts = [
            f"{b['channel']} up to {spend(b['plan_max_step'])} a step ("
            + (f"{b['multiple']:.3g}× its largest step in the history, {spend(b['history_max_step'])})"
               if b["multiple"] is not None else "never spent in the history)")
            for b in result.beyond_history
        ]
        lines.append(f"beyond the history: {'; '.join(parts)}: there the plan rests on the response curve beyond any "
                     f"spend the history shows (for a calibrated family: the curve's form and priors, not data)")
    if result.sparse_history:
        parts = [f"{b['channel']} spent in only {b['history_spent_steps']} of the {count(b['history_steps'], 'step')}"
                 for b in result.sparse_history]
        lines.append(f"thin history: {'; '.join(parts)}: the plan spends there, on a response resting on those few "
                     f"steps (for a calibrated family: and the fit's prior); a lift test would check it")
    if result.lift_design is not None and len(result.lift_design):
        design = result.lift_design
        voi = "voi" in design.columns
        tests = "; ".join(f"{r['channel']} from {spend(float(r['x']))} to {spend(float(r['planned_spend']))} a step"
                          + (f" (adds {out(float(r['voi']))}, {float(r['voi_pct']):.2f}% of the plan's value)"
                             if voi else "")
                          for r in design.to_dict(orient="records"))
        how = ""
        if voi:  # greedy: each row's voi is its increment given the rows above, so later rows may show more
            total = float(design["voi"].sum())
            pct = 100 * total / abs(result.value) if result.value else math.nan
            how = (f", chosen one at a time, each by the value of information it adds to those before it (together "
                   f"{out(total)}, {pct:.2f}% of the plan's value)")
        # a revenue reward on a response counting conversions predicts revenue, the KPI simulate writes; a fit of
        # conversions valued by --revenue-per-kpi takes its lift tests in conversions
        unit = ("; for a fit of conversions (calibrate --revenue-per-kpi), delta_y in conversions (predicted_lift is "
                "revenue: divide it by the channel's value of a conversion, value.mean)"
                if result.reward == "revenue" and result.response_unit == "conversions" else "")
        lines.append(f"lift tests to run next (lift_design.csv){how}: {tests}; hold each level for weeks, then "
                     f"`budgetgym calibrate ... --lift-tests` with the measured lifts (columns delta_y, sigma){unit}")
    given = result.base_budget  # the multiples' budget
    if result.target is not None:
        lines.append(target_line(result))
    if result.reward == "profit":
        p = result.profit_max
        if p is None or p.get("budget") is None:
            where = "not found" if p is None else f"not found {searched_text(p, given)}"
        elif p["spend"] == 0:  # search_target's point at budget 0
            where = (f"0 — no channel pays back: the profit-maximising plan spends nothing (expected {outcome} "
                     f"{fmt(p['outcome'], scale=p['outcome'])})")
        else:  # its multiple is of the budget given, which a target's plan is not at
            where = point_text(p, what, "the budget" if result.budget_given is None else "the budget given")
        lines.append(f"profit-maximising budget (marginal ROAS 1): {where}")
    if result.frontier is not None:
        f = result.frontier
        low, high = float(f["multiple"].min()), float(f["multiple"].max())
        span = f"at {low:.3g}" if low == high else f"from {low:.3g} to {high:.3g}"
        of = "the budget" if result.budget_given is None else f"the budget given ({spend(given)})"
        lines.append(f"frontier: {count(len(f), 'budget')}{',' if low == high else ''} {span} × {of} "
                     f"(table below and frontier.csv)")
    return lines


def _step_length(days: np.ndarray) -> str:
    """`` of 7 days``: how long a step is, from the steps' day indices (``step_days`` apart), so that "a step" in
    the lines below reads as a week of weekly data; `` of a month`` for calendar months; empty for one step."""
    if len(days) < 2:
        return ""
    d = float(days[1] - days[0])
    return " of a month" if is_monthly(d) else f" of {count(d, 'day')}"


def header_line(result: PlanResult) -> str:
    """What was planned: campaign, channels, steps and their length, window, budget, reward, objective."""
    kind = (f"scenario family, {result.objective} over {count(result.draws, 'train draw')}" if result.is_family
            else "scenario")
    days = result.step_days
    span = f"{result.dates[0]} to {result.dates[-1]}" if result.dates else f"day {days[0]:g} to {days[-1]:g}"
    return (
        f"{result.campaign} ({kind}): {count(len(result.channel_names), 'channel')}, {count(result.horizon, 'step')}"
        f"{_step_length(days)} ({span}), budget {fmt(result.budget, 0, scale=result.budget)} "
        f"({result.pacing} pacing{target_budget_text(result)}), "
        f"reward {result.reward}" + ("" if result.response_unit == "conversions" else
                                      " (the response is revenue, response_unit: currency: no conversions or CPA)")
        + f"; solved in {result.seconds:.1f} s"
    )


def table_note(result: PlanResult) -> str | None:
    """What the per-channel table's numbers are, where it needs saying: for a family, means over the
    train draws (and the objective); with a history, that a channel's expected outcome includes what
    its past spend carries into the window (the table's carry-in: the mean over the draws, not the
    objective's CVaR) but not the KPI's baseline, which is never part of a plan's value (a calibrated
    family's intercept, trend, season and controls), while its CPA or ROAS counts only the window's own
    (incremental) outcome.
    With a recommended spend below the counting threshold, :func:`uncounted_note`; with a current plan where a target
    moved the budget, what the current plan's columns compare (:func:`~budgetgym.planner.target_text.same_budget_note`).
    ``None`` when none applies."""
    parts = []
    if result.is_family:
        text = f"Per-channel numbers are means over the {count(result.draws, 'train draw')}"
        if result.objective != "mean":
            marginal = ratio_names(result.reward)[1]
            text += (f", except the {marginal} ({result.objective}); the objective, that column, the total's marginal "
                     f"return and the values below are the {result.objective} (the mean over the worst "
                     f"{result.objective.partition(':')[2]} share of the draws at the plan; channels.csv has the "
                     f"means' {marginal} too)")
        parts.append(text + ".")
    if result.history_steps:
        outcome = OUTCOME_NAMES[result.reward]
        ratio = ratio_names(result.reward)[0]
        base = result.baseline_value if result.baseline_mean is None else result.baseline_mean  # the table's
        carry = fmt(base, scale=result.value)
        verb = "include" if outcome == "conversions" else "includes"  # revenue, profit: one quantity
        parts.append(f"Expected {outcome} {verb} the carry-in from the history ({carry} with no "
                     f"spend in the window) but not the KPI's baseline (organic demand, trend, season and controls, "
                     f"which no spend moves: a calibrated family's intercept and control terms); {ratio} counts only "
                     f"what the window's spend adds.")
    uncounted = uncounted_note(result)
    if uncounted is not None:
        parts.append(uncounted)
    same = same_budget_note(result)
    if same is not None:
        parts.append(same)
    return " ".join(parts) or None
