"""``budgetgym show SCENARIO``: a scenario's (or a family's) channels, segments and parameters; the
equal split, the best constant split and the oracle, and the dynamic headroom (registered by
:mod:`budgetgym.experiments.cli`)."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from budgetgym.envs.errors import BudgetGymError
from budgetgym.experiments.console import console
from budgetgym.experiments.wording import count

__all__ = ["show_cmd"]


def _describe(obj: Any) -> str:
    data = obj.model_dump(mode="json", exclude_defaults=False)
    kind = data.pop("type", None) or data.pop("dist", None)  # a block's type, a distribution's kind
    body = ", ".join(f"{k}={v}" for k, v in data.items() if v is not None)
    return f"{kind}({body})" if kind else body


def show_cmd(
    scenario: Annotated[str, typer.Argument(help="built-in name or YAML path")],
    seed: Annotated[int | None, typer.Option(help="episode seed for the oracle (drift); default: nominal path")] = None,
) -> None:
    """Show a scenario's channels and parameters; the equal split, the best constant split and the
    oracle (expected reward and % of the oracle), and the dynamic headroom. For a scenario family:
    its varying fields and their distributions (an ensemble: the members' values) first, then its nominal
    scenario."""
    from budgetgym.agents.evaluation import pct_of_oracle
    from budgetgym.envs.constant_split import best_constant_split
    from budgetgym.envs.family import load_family
    from budgetgym.envs.oracle import evaluate_plan, solve_oracle
    from budgetgym.envs.scenario import SeasonalityConfig
    from budgetgym.experiments.demo import equal_split_plan
    from budgetgym.planner.plan_text import fmt
    if seed is not None and seed < 0:
        raise BudgetGymError(f"--seed: expected a non-negative integer, got {seed}")
    family = load_family(scenario)
    sc = family.nominal()
    budget = sc.budget.total  # the scale of the amounts: a budget of 1e-6 keeps its figures (fmt)
    con = console()
    if family.varies:
        _show_family(con, family)
    con.print(f"[bold]{sc.name}[/bold] — {sc.description}")
    con.print(
        f"{count(sc.n_channels, 'channel')}, {count(sc.horizon, 'step')} of {count(float(sc.step_days), 'day')} "
        f"from day {sc.start_day:g}; "
        f"budget {fmt(sc.budget.total, 0, scale=budget)} ({sc.budget.pacing} pacing, "
        f"{fmt(sc.step_budget, 0, scale=budget)} per step"
        + (f", max_step_multiple={sc.budget.max_step_multiple:g}" if sc.budget.pacing == "agent" else "")
        + f"); reward = {sc.reward}; noise = {sc.noise.conversions}"
        + (f"(dispersion={sc.noise.dispersion:g})" if sc.noise.conversions == "negative_binomial" else ""),
        markup=False,
    )
    # one block per channel: every parameter in full, whatever the terminal width
    flat = SeasonalityConfig()  # a channel without cycles of its own
    for c in sc.channels:
        lo, hi = c.share_bounds
        con.print(f"[bold]{c.name}[/bold]" + (f" — {c.description}" if c.description else ""))
        parts: list[tuple[str, Any]] = [("cost", c.cost), ("adstock", c.adstock)]
        if sc.segments is None:  # with segments, curves, delays and values are the segments'
            parts += [("saturation", c.saturation), ("delay", c.delay), ("value", c.value)]
        for label, part in parts:
            con.print(f"  {label:<11}{_describe(part)}", markup=False, soft_wrap=True)
        if c.seasonality != flat:
            con.print(f"  {'season':<11}demand {_describe(c.seasonality.demand)}; cost {_describe(c.seasonality.cost)}",
                      markup=False, soft_wrap=True)
        con.print(f"  {'share':<11}[{lo:g}, {hi:g}]", markup=False)
        if c.drift_sd is not None:  # its own rate instead of the scenario's drift.sd
            con.print(f"  {'drift':<11}drift_sd={c.drift_sd:g} (the scenario's sd={sc.drift.sd:g})", markup=False)
    for seg in sc.segments or []:
        about = f" — {seg.description}" if seg.description else ""
        con.print(f"[bold]segment {seg.name}[/bold] (size {seg.size:g}){about}")
        reach = ", ".join(f"{ch} {r:g}" + (f" x{seg.effectiveness[ch]:g}" if ch in seg.effectiveness else "")
                          for ch, r in seg.reach.items())
        for label, text in (("saturation", _describe(seg.saturation)), ("delay", _describe(seg.delay)),
                            ("value", _describe(seg.value)), ("reach", reach)):
            con.print(f"  {label:<11}{text}", markup=False, soft_wrap=True)
    if sc.response_unit == "currency":
        con.print("response unit: currency (the curves give revenue per step, value 1 per unit; no conversions)",
                  markup=False)
    con.print(f"seasonality: demand {_describe(sc.seasonality.demand)}; cost {_describe(sc.seasonality.cost)}")
    con.print(f"drift: {_describe(sc.drift)}; shocks: {len(sc.shocks)}")
    for shock in sc.shocks:
        con.print(f"  - {_describe(shock)}")
    target = "" if sc.target_cpa is None else f"; target_cpa={sc.target_cpa:g}" + (
        " (currency per unit of revenue: the response is in currency, so it counts no conversions)"
        if sc.response_unit == "currency" else "")
    con.print(f"action: {_describe(sc.action)}{target}", markup=False)
    if sc.baseline is not None:
        con.print(f"baseline: {_describe(sc.baseline)}", markup=False, soft_wrap=True)
    res = solve_oracle(sc, seed=seed)
    best = best_constant_split(sc, path=res.path)
    equal = float(evaluate_plan(sc, equal_split_plan(sc), path=res.path))
    oracle = res.expected_reward
    where = "nominal path" if seed is None else f"episode seed {seed}"
    con.print(f"oracle expected {sc.reward} ({where}): {fmt(oracle, 1, scale=oracle)}; solved in {res.seconds:.2f} s")
    def split_of(shares: Any) -> str:
        ranked = sorted(zip(shares, sc.channel_names, strict=True), key=lambda x: -x[0])
        return ", ".join(f"{n} {q:.3f}" for q, n in ranked if q >= 5e-4)

    spend = res.plan.sum(axis=0)
    split = ("  (spends nothing: no channel pays back)" if not spend.any()  # profit, agent pacing: every spend loses
             else f"  (over the episode: {split_of(spend / spend.sum())}; per step: budgetgym plan)")
    rows = [("equal split", equal, ""), ("best constant split", best.expected_reward, f"  ({split_of(best.shares)})"),
            ("oracle", oracle, split)]
    # % of the oracle by the evaluator's one definition: undefined (n/a) unless the oracle earns (> 0)
    undefined = f"{'n/a':>9}  (the oracle earns nothing: no % of it)"
    for label, value, note in rows:
        pct = pct_of_oracle(value, oracle)
        share = undefined if pct != pct else f"{pct:>9.2f}% of oracle"
        con.print(f"  {label:<20}{fmt(value, 1, scale=oracle):>16}{share}{note}", markup=False)
    step = float(best.plan[0].sum())  # under agent pacing with a profit reward it may be below B/T
    of = f" of the {fmt(sc.step_budget, 0, scale=budget)} available" if step < sc.step_budget * (1 - 1e-9) else ""
    gain = 100.0 - pct_of_oracle(best.expected_reward, oracle)
    headroom = "n/a" if gain != gain else f"{round(gain, 2) + 0.0:.2f} points of the oracle"
    con.print(
        f"dynamic headroom: {headroom} "
        f"(oracle minus the best constant split: one split every step at {fmt(step, 0, scale=budget)} per step{of})",
        markup=False,
    )


def _spread(values: list[Any]) -> str:
    """An ensemble field's values over its members: ``2000 to 2900 (3 distinct of 5)``, or the distinct values
    in order when they are not all numbers."""
    distinct = list(dict.fromkeys(map(str, values)))
    if all(isinstance(v, int | float) and not isinstance(v, bool) for v in values):
        return f"{min(values):g} to {max(values):g} ({len(distinct)} distinct of {len(values)})"
    return f"{', '.join(distinct)} ({len(distinct)} distinct of {len(values)})"


def _show_family(con: Any, family: Any) -> None:
    """A family's header: what varies and how, before its nominal scenario's numbers."""
    con.print(f"[bold]{family.name}[/bold] (scenario family, seed {family.seed})"
              + (f" — {family.description}" if family.description else ""))
    if family.is_ensemble:
        con.print(
            f"explicit ensemble: {family.split_size('train')} train and {family.split_size('test')} held-out "
            f"test members; varies (members' values; nominal value in the scenario below):", markup=False,
        )
        for path, values in family.member_changes.items():
            con.print(f"  {path}: {_spread(values)}", markup=False, soft_wrap=True)
    else:
        con.print("varies (distribution; nominal value in the scenario below):", markup=False)
        for path, dist in family.distributions.items():
            con.print(f"  {path}: {_describe(dist)}", markup=False, soft_wrap=True)
        if family.sizes_are_weights:
            con.print("  (segment sizes are weights: each draw's sizes are divided by their sum)", markup=False)
    con.print("nominal scenario (central values), the campaign brief of every draw:", markup=False)
