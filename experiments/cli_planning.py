"""Planner-side commands of ``budgetgym`` (registered by :mod:`budgetgym.experiments.cli`): ``plan``
(:func:`budgetgym.planner.plan`), ``simulate`` (:func:`budgetgym.experiments.simulate.simulate_dataset`)
``calibrate`` (:func:`budgetgym.calibration.calibrate`) and ``segment``
(:func:`budgetgym.experiments.segmenting.segment_customers`).
Thin layers: parse, call the library, print, write."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from budgetgym.experiments.console import console, wide_console
from budgetgym.experiments.wording import count

__all__ = ["calibrate_cmd", "plan_cmd", "segment_cmd", "simulate_cmd"]


def _decimal(files: str) -> typer.models.OptionInfo:
    """The ``--decimal`` option of a command reading ``files`` (:func:`~budgetgym.envs.io.read_csv_table`)."""
    return typer.Option(metavar="MARK", help=f"decimal mark of {files}: '.' or ',' \\[default: '.' in a "
                        "comma-separated file; in a ';'- or tab-separated one, the mark its numbers show]")


def plan_cmd(
    campaign: Annotated[str, typer.Argument(metavar="SCENARIO_OR_FAMILY", help="built-in name or YAML path")],
    budget: Annotated[float | None, typer.Option(help="total budget of the window \\[default: the campaign's]")] = None,
    horizon: Annotated[int | None, typer.Option(help="steps in the window \\[default: the campaign's]")] = None,
    current: Annotated[
        str | None,
        typer.Option(help="the plan in place: 'equal', 'search=0.4,social=0.6' or 'search=40%,social=60%' (a split, "
                     "within the rounding of its digits of 1; or per-channel budgets with other values) or a CSV file "
                     "(per channel or per step); compared at the same budget (a target met elsewhere: with the plan at "
                     "--budget, and the budget change apart)"),
    ] = None,
    history: Annotated[
        str | None, typer.Option(metavar="SPEND.csv", help="spend per step before the window, a column per channel "
                                 "(a date column dates the plan's steps, continuing it)")
    ] = None,
    start_date: Annotated[
        str | None, typer.Option(metavar="DATE", help="the calendar date of the window's first step (e.g. 2025-01-06): "
                                 "plan.csv gets a date column (labels: the campaign's seasonality keeps its own "
                                 "calendar) \\[default: continuing --history's dates, if any]")
    ] = None,
    sweep: Annotated[
        str | None, typer.Option(metavar="LOW:HIGH:N", help="budget frontier at N multiples of the budget")
    ] = None,
    target_mroas: Annotated[
        float | None, typer.Option(help="plan at the budget where the marginal ROAS falls to this (revenue, profit); "
                                   "not reached: at --budget, said")
    ] = None,
    target_mcpa: Annotated[
        float | None, typer.Option(help="plan at the budget where the marginal CPA rises to this (conversions); not "
                                   "reached: at --budget, said")
    ] = None,
    draws: Annotated[
        int | None, typer.Option(help="a family's draws to plan over, and held-out draws to score on \\[default: 100]")
    ] = None,
    objective: Annotated[
        str, typer.Option(help="mean, or cvar:ALPHA (the mean of the worst ALPHA share of a family's draws)")
    ] = "mean",
    lift_design: Annotated[
        str, typer.Option(metavar="beyond|voi|none",
                          help="with --history, the lift tests to run next (lift_design.csv): beyond (one per channel "
                               "the plan takes beyond the history), voi (a family: up to --lift-tests chosen by their "
                               "expected value of information over its draws) or none")
    ] = "voi",
    lift_tests: Annotated[int, typer.Option(help="--lift-design voi: at most this many tests")] = 5,
    lift_sigma: Annotated[
        float, typer.Option(help="--lift-design voi: a test's assumed sd, relative to its mean predicted lift")
    ] = 0.15,
    out: Annotated[
        Path | None, typer.Option("--out", "-o", help="output directory \\[default: out/plan/<campaign>]")
    ] = None,
    decimal: Annotated[str | None, _decimal("the --current and --history files")] = None,
    plots: Annotated[bool, typer.Option("--plots/--no-plots", help="draw the report's figures")] = True,
) -> None:
    """Recommend a plan: spend per channel and step, its uplift over the current plan, what timing
    is worth, marginal returns and the budget frontier; write CSVs, summary.json and report.md."""
    from budgetgym.planner.outputs import check_plan_out, write_plan
    from budgetgym.planner.plan import plan
    from budgetgym.planner.report import print_plan

    if out is not None:
        check_plan_out(out)  # before the solve, not after
    result = plan(
        campaign, budget=budget, horizon=horizon, current=current, history=history, start_date=start_date,
        sweep=sweep, target_mroas=target_mroas, target_mcpa=target_mcpa, draws=draws, objective=objective,
        lift_design=lift_design, lift_tests=lift_tests, lift_sigma=lift_sigma, decimal=decimal,
    )
    print_plan(wide_console(), result)
    directory = out if out is not None else Path("out") / "plan" / result.campaign
    arguments = {"campaign": campaign, "budget": budget, "horizon": horizon, "current": current, "history": history,
                 "start_date": start_date, "sweep": sweep, "target_mroas": target_mroas, "target_mcpa": target_mcpa,
                 "draws": draws,
                 "objective": objective, "lift_design": lift_design, "lift_tests": lift_tests,
                 "lift_sigma": lift_sigma, "decimal": decimal, "out": str(directory), "plots": plots}
    written = write_plan(result, directory, arguments=arguments, plots=plots)
    con = console()
    if written.figures_note is not None:
        con.print(written.figures_note, markup=False)
    con.print(f"wrote {written.out}/: " + ", ".join(p.relative_to(written.out).as_posix() for p in written.files),
              markup=False)


def simulate_cmd(
    scenario: Annotated[str, typer.Argument(help="built-in scenario or family name, or a YAML path")],
    periods: Annotated[int, typer.Option(help="periods (steps) to simulate")],
    out: Annotated[
        Path, typer.Option("--out", "-o", help="output directory: new, empty or an earlier dataset (replaced)")
    ],
    plan: Annotated[
        str,
        typer.Option(help="random | equal | oracle | a split or budgets as for plan --current "
                          "('search=0.4,social=0.6') | a plan CSV (per step; per channel: share of B/T, spend, budget)")
    ] = "random",
    seed: Annotated[int, typer.Option(help="seed of the plan and of the episode's noise")] = 0,
    draw: Annotated[int | None, typer.Option(help="a family's held-out draw to simulate \\[default: nominal]")] = None,
    lift_tests: Annotated[
        int, typer.Option(help="lift tests to write in lift_tests.csv (largest channels first, spend doubled)")
    ] = 0,
    lift_sigma: Annotated[
        float | None, typer.Option(help="lift tests' standard error relative to the true lift \\[default: 0.15]")
    ] = None,
    lift_design: Annotated[
        Path | None,
        typer.Option(metavar="DESIGN.csv", help="also simulate these lift tests (columns channel, x, delta_x; "
                     "e.g. a plan's lift_design.csv)"),
    ] = None,
    level_sd: Annotated[
        float | None, typer.Option(help="random plan: sd of each channel's log spend level, 0 to 3 (wider: more of "
                                   "each curve in the data) \\[default: 0.3]")
    ] = None,
    decimal: Annotated[str | None, _decimal("the --plan and --lift-design files")] = None,
) -> None:
    """Write an MMM-style dataset (date, KPI, spend, impressions/clicks, controls) simulated from a
    scenario, with the truth: the scenario, each channel's expected contribution and its true
    response curve."""
    from budgetgym.experiments.dataset_layout import check_dataset_out, exposure_column, spend_column
    from budgetgym.experiments.simulate import SEGMENTS_TRUTH_NOTE, simulate_dataset, write_dataset

    check_dataset_out(out)  # before the simulation, not after
    ds = simulate_dataset(scenario, periods, plan=plan, seed=seed, draw=draw, lift_tests=lift_tests,
                          lift_design=lift_design, decimal=decimal,
                          **({} if lift_sigma is None else {"lift_sigma": lift_sigma}),
                          **({} if level_sd is None else {"level_sd": level_sd}))
    written = write_dataset(
        ds, out, meta={"arguments": {"scenario": scenario, "periods": periods, "plan": plan, "seed": seed,
                                     "draw": draw, "lift_tests": lift_tests, "lift_sigma": lift_sigma,
                                     "lift_design": None if lift_design is None else str(lift_design),
                                     "level_sd": level_sd, "decimal": decimal, "out": str(out)}}
    )
    for note in (ds.plan_note, ds.dates_note):
        if note is not None:
            console().print(f"note: {note}", markup=False)
    if ds.scenario.segments is not None:
        console().print(f"note: {SEGMENTS_TRUTH_NOTE}", markup=False)
    # calibrate refuses a channel never spent (an oracle's dropped channel): the command leaves it out
    spends = [bool((ds.plan[:, i] > 0).any()) for i in range(ds.scenario.n_channels)]
    used = [c for c, s in zip(ds.scenario.channels, spends, strict=True) if s]
    unused = [c.name for c, s in zip(ds.scenario.channels, spends, strict=True) if not s]
    spend_cols, exposure_cols = [spend_column(c.name) for c in used], [exposure_column(c) for c in used]
    control_cols = list(ds.scenario.baseline.controls) if ds.scenario.baseline is not None else []
    console().print(
        f"{ds.source.name}: {count(periods, 'period')} of {count(float(ds.scenario.step_days), 'day')} "
        f"from {ds.data['date'].iloc[0]}, "
        f"{plan} plan, total spend {ds.plan.sum():,.0f}, {ds.kpi} {ds.data[ds.kpi].sum():,.0f} "
        f"(media {ds.contributions[ds.scenario.channel_names].sum().sum():,.0f} expected)\n"
        f"columns: {', '.join(ds.data.columns)}\n"
        + (f"never spent (0 in every period; calibrate fits only spent channels): {', '.join(unused)}\n"
           if unused else "") +
        f"calibrate with: budgetgym calibrate {written / 'data.csv'} --date date --kpi {ds.kpi} "
        f"--spend {','.join(spend_cols)} --exposure {','.join(exposure_cols)}"
        + (f" --controls {','.join(c.name for c in control_cols)}" if control_cols else "")
        + (f" --lift-tests {written / 'lift_tests.csv'}" if ds.lift_tests is not None else "")
        + f" --out FIT_DIR\nwrote {written}/: data.csv, "
        + ("lift_tests.csv, " if ds.lift_tests is not None else "") + "truth/, summary.json",
        markup=False,
    )


def calibrate_cmd(
    data: Annotated[Path, typer.Argument(metavar="DATA.csv", help="one row per period")],
    out: Annotated[
        Path,
        typer.Option("--out", "-o", help="directory for family.yaml, history.csv, parameters.csv, fit.md and figures"),
    ],
    date: Annotated[str, typer.Option(help="date column (ISO 2024-01-29, or numeric dates read day or month "
                                           "first as the data allow)")],
    kpi: Annotated[str, typer.Option(help="KPI column (revenue or conversions)")],
    spend: Annotated[str, typer.Option(help="spend columns, comma-separated (one per channel)")],
    controls: Annotated[str | None, typer.Option(help="control columns, comma-separated")] = None,
    exposure: Annotated[
        str | None, typer.Option(help="impression/click columns in the order of --spend ('-': by its spend)")
    ] = None,
    draws: Annotated[int, typer.Option(help="bootstrap draws (the family's members)")] = 200,
    block_length: Annotated[
        int | None,
        typer.Option(help="bootstrap block length in periods, at most half of them \\[default: ceil(periods^(1/3)), "
                          "e.g. 6 for 156]"),
    ] = None,
    holdout: Annotated[int, typer.Option(help="last periods held out to score a forecast")] = 0,
    plan_periods: Annotated[int | None, typer.Option(help="periods to plan (default: a quarter)")] = None,
    plan_budget: Annotated[
        float | None, typer.Option(help="budget of the window (default: the spend of as many last periods)")
    ] = None,
    seed: Annotated[int, typer.Option(help="seed of the multi-start and the bootstrap")] = 0,
    adstock: Annotated[str, typer.Option(help="geometric, weibull_cdf or weibull_pdf")] = "geometric",
    saturation: Annotated[str, typer.Option(help="hill or logistic")] = "hill",
    likelihood: Annotated[str, typer.Option(help="gaussian, poisson or negative_binomial")] = "gaussian",
    prior: Annotated[
        str, typer.Option(help="mild prior on kappa and slope: all channels, weak (weakly spent ones) or none")
    ] = "all",
    fourier: Annotated[int | None, typer.Option(help="yearly Fourier order (default: 2 for a year of data)")] = None,
    reward: Annotated[str | None, typer.Option(help="revenue or conversions (default: from the KPI's name)")] = None,
    delay: Annotated[str, typer.Option(
        help="conversion lag per channel: none, gamma (shape 2), geometric (most conversions in the response's "
             "period), auto (each channel's form chosen on the fit), or one form per --spend column "
             "(gamma,geometric,...)")] = "none",
    media_season: Annotated[
        str, typer.Option(help="yearly cycle multiplying the media response: none or yearly (a year of data)")
    ] = "none",
    prior_draws: Annotated[
        bool, typer.Option("--prior-draws/--no-prior-draws", help="bootstrap refits also draw the prior's means")
    ] = False,
    roi_prior: Annotated[
        float | None,
        typer.Option(help="pool the channels' return on spend: TAU, the relative sd around the pooled return "
                          "(e.g. 0.5; default: no such prior)"),
    ] = None,
    roi_prior_form: Annotated[
        str | None,
        typer.Option(help="--roi-prior's form: log (the log returns pulled toward the pooled one, TAU an sd of log "
                          "return) or linear (the returns, TAU relative to the pooled return) \\[default: log]"),
    ] = None,
    lift_tests: Annotated[
        Path | None,
        typer.Option(help="CSV of lift tests (channel, x, delta_x, delta_y, sigma): extra likelihood terms"),
    ] = None,
    revenue_per_kpi: Annotated[
        str | None,
        typer.Option(help="the KPI counts conversions, each worth this column's revenue per conversion (Meridian's "
                          "revenue_per_conversion; weighted over the last --plan-periods) or this number: the "
                          "family plans revenue"),
    ] = None,
    decimal: Annotated[str | None, _decimal("the data and lift-test files")] = None,
    plots: Annotated[bool, typer.Option("--plots/--no-plots", help="draw the figures")] = True,
    workers: Annotated[
        int | None,
        typer.Option(help="processes refitting the bootstrap's draws, the same draws for any number \\[default: 2, "
                          "1 on a single-core machine]"),
    ] = None,
) -> None:
    """Fit carry-over and saturation per channel to DATA.csv and write a scenario family of the fit
    (point estimate + bootstrap draws) for `budgetgym plan DIR/family.yaml --history DIR/history.csv`."""
    from budgetgym.calibration import calibrate
    from budgetgym.calibration.calibrate import reward_note
    from budgetgym.calibration.kpi_value import value_note
    from budgetgym.calibration.refits import DEFAULT_WORKERS

    res = calibrate(
        data, date=date, kpi=kpi, spend=spend, controls=controls, exposure=exposure, draws=draws,
        block_length=block_length, holdout=holdout, seed=seed, adstock=adstock, saturation=saturation,
        likelihood=likelihood, prior=prior, fourier=fourier, reward=reward, plan_periods=plan_periods,
        plan_budget=plan_budget, out=out, plots=plots,
        delay=delay, media_season=media_season, prior_draws=prior_draws, roi_prior=roi_prior,
        roi_prior_form=roi_prior_form,
        lift_tests=lift_tests, revenue_per_kpi=revenue_per_kpi, decimal=decimal,
        workers=DEFAULT_WORKERS if workers is None else workers,
    )
    con = console()
    e = res.errors
    con.print(f"fit {count(res.data.n_periods, 'period')} x {count(res.data.n_channels, 'channel')}: "
              f"R² {e.r2:.3f}, {e.relative()}"
              + (f"; held out {res.holdout.periods}: {res.holdout.outsample.relative()}" if res.holdout else "")
              + f"; {count(0 if res.draws is None else len(res.draws), 'draw')} in {res.seconds['total']:.1f} s",
              markup=False)
    if res.kpi_value is not None:  # what a conversion is worth: the plan's revenue rests on it
        con.print(value_note(res.kpi_value, res.reward), markup=False)
    elif reward is None:  # chosen from the KPI's name: say so (a plan then reports CPA, or ROAS)
        con.print(reward_note(kpi, likelihood), markup=False)
    for line in res.warnings:
        console(stderr=True).print(f"warning: {line}", markup=False)
    con.print(f"wrote {', '.join(str(p) for p in res.files)}", markup=False)


def segment_cmd(
    customers: Annotated[Path, typer.Argument(metavar="CUSTOMERS.csv", help="one row per customer")],
    features: Annotated[str, typer.Option(help="feature columns to cluster on, comma-separated")],
    channels: Annotated[
        str, typer.Option(help="per channel NAME (its exposure column) or NAME=COLUMN, comma-separated")
    ],
    out: Annotated[Path, typer.Option("--out", "-o", help="YAML file for the segments: block")],
    k: Annotated[int | None, typer.Option("--k", help="number of segments \\[default: best silhouette]")] = None,
    k_max: Annotated[int, typer.Option(help="largest k tried when --k is omitted")] = 10,
    seed: Annotated[int, typer.Option(help="seed of k-means and of the silhouette subsample")] = 0,
    value: Annotated[
        str | None, typer.Option(help="column of value per customer (e.g. order value) for value.mean \\[default: 1]")
    ] = None,
    names: Annotated[str | None, typer.Option(help="segment names, largest first, comma-separated")] = None,
    max_response: Annotated[
        float, typer.Option(help="whole-audience Hill curve of every segment: conversions per step at saturation")
    ] = 1000.0,
    half_saturation: Annotated[
        float, typer.Option(help="whole-audience Hill curve: exposure per step giving half of max-response")
    ] = 1e6,
    slope: Annotated[float, typer.Option(help="whole-audience Hill curve: slope")] = 1.0,
    decimal: Annotated[str | None, _decimal("CUSTOMERS.csv")] = None,
    plots: Annotated[bool, typer.Option("--plots/--no-plots", help="draw OUT with the suffix .png")] = True,
) -> None:
    """Cluster customers (k-means on standardised features) into audience segments and measure each
    channel's reach of them from per-customer exposure columns; write a scenario's segments: block."""
    import numpy as np
    from rich.table import Table

    from budgetgym.experiments.report_format import round_shares
    from budgetgym.experiments.segmenting import check_out_file, segment_customers, write_segments
    from budgetgym.planner.plan_text import fmt

    check_out_file(out)  # before the clustering, not after
    res = segment_customers(
        customers, features, channels, k=k, k_max=k_max, seed=seed, value=value, names=names,
        max_response=max_response, half_saturation=half_saturation, slope=slope, decimal=decimal,
    )
    con = console()
    tried = ", ".join(f"k={kk} {s:.3f}" for kk, s in sorted(res.silhouettes.items()))
    how = "chosen by silhouette" if res.chosen_by == "silhouette" else "given"
    con.print(f"{res.n_customers:,} customers in {res.k} segments ({how}; mean silhouette {tried})", markup=False)
    table = Table(box=None, title="segment profiles: feature means, reach = share of the channel's exposure",
                  title_justify="left")
    cols = ["segment", "customers", "share", *res.features, *(f"reach {c}" for c in res.channels)]
    if res.value is not None:
        cols.insert(3, f"mean {res.value_column}")
    for name in cols:
        table.add_column(name, justify="left" if name == "segment" else "right", no_wrap=True)
    # shares rounded together (largest remainder, as the YAML's) so the printed ones sum to 1; numbers as people
    # write them (50,000, 26.9, 4.94), not 5e+04
    sizes = round_shares(res.sizes, 3)
    reach = np.array([round_shares(row, 3) for row in res.reach]).reshape(res.reach.shape)
    for s, seg in enumerate(res.names):
        cells = [seg, f"{res.counts[s]:,}", f"{sizes[s]:.3f}", *(fmt(x) for x in res.centres[s]),
                 *(f"{r:.3f}" for r in reach[:, s])]
        if res.value is not None:
            cells.insert(3, fmt(res.value[s]))
        table.add_row(*cells)
    wide_console().print(table)
    written = write_segments(res, out, plots=plots)
    if written.note is not None:
        con.print(written.note, markup=False)
    con.print(f"wrote {written.path}" + (f", {written.figure}" if written.figure else "")
              + "; merge its segments: into a scenario (see the file's header)", markup=False)
