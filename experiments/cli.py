"""``budgetgym`` — the command line (a thin layer over the library functions).

::

    budgetgym scenarios                       built-in scenarios and scenario families, one line each
    budgetgym show SCENARIO [--seed S]        channels, parameters; equal split, best constant split,
                                              oracle and the dynamic headroom (a family: its
                                              distributions, then its nominal scenario)
    budgetgym plan SCENARIO_OR_FAMILY [--budget B] [--horizon T] [--current equal|SPLIT|CSV]
                  [--history SPEND.csv] [--start-date DATE] [--sweep LOW:HIGH:N]
                  [--target-mroas R | --target-mcpa C] [--draws N] [--objective mean|cvar:ALPHA]
                  [--lift-design beyond|voi|none] [--lift-tests N] [--lift-sigma S] [--out DIR] [--no-plots]
                                              the recommended plan per channel and step, its uplift over
                                              the current plan, what timing is worth, marginal returns,
                                              the budget frontier; writes out/plan/<campaign>
    budgetgym simulate SCENARIO --periods N --out DIR [--plan random|equal|oracle|SPLIT|FILE] [--seed S]
                  [--draw I] [--lift-tests N] [--lift-sigma S] [--lift-design DESIGN.csv]
                                              an MMM-style dataset with its truth (contributions, curves),
                                              simulated lift tests
    budgetgym run [EXPERIMENT] [--out DIR] [--seeds N] [--workers N] [--backend local|ray]
                  [--address ADDR] [--set key=value ...] [--no-progress] [--no-plots]
    budgetgym report DIR [--baseline AGENT] [--no-plots]
                                              rebuild results, statistics, plots and report.md
    budgetgym calibrate DATA.csv --date COL --kpi COL --spend COLS [...] --out DIR   (every option: README.md)
                                              fit a marketing-mix model; write family.yaml,
                                              history.csv, parameters.csv and fit.md
    budgetgym segment CUSTOMERS.csv --features COLS --channels NAME[=COL],... --out FILE.yaml
                  [--k N | --k-max N] [--value COL] [--names A,B,...] [--max-response R]
                  [--half-saturation H] [--slope S] [--seed S] [--no-plots]
                                              audience segments (k-means, k by silhouette) with
                                              each channel's reach; writes a segments: block
    budgetgym baseline DIR --out BASELINE.json [--metric M ...] [--allow-config-change]
    budgetgym regress DIR --baseline BASELINE.json [--tolerance 0.01] [--report FILE.md]
                  [--json FILE.json] [--confidence 0.99] [--allow-config-change]
                                              CI gate: exit 1 when a policy credibly got worse

``run`` without an experiment runs the built-in ``quickstart``. Exit codes: 0 ok, 2 for user
errors (a one-line message naming the file, field or option, a usage error too; ``budgetgym
--verbose ...`` lists every problem of an invalid experiment file), 1 otherwise (including failed
runs), 130 when interrupted (``run`` keeps its finished runs and the same command resumes; the
other commands start over).

Every command calls a library function: :func:`~budgetgym.experiments.runner.run_experiment`,
:func:`~budgetgym.experiments.report.build_report`, :func:`~budgetgym.envs.solve_oracle`,
:func:`~budgetgym.envs.best_constant_split`, :func:`~budgetgym.planner.plan.plan` and
:func:`~budgetgym.planner.outputs.write_plan`, :func:`~budgetgym.experiments.segmenting.segment_customers`.
"""

from __future__ import annotations

import contextlib
import sys
import traceback
import warnings
from pathlib import Path
from typing import Annotated, Any

import typer

from budgetgym.envs.errors import BudgetGymError, ScenarioWarning
from budgetgym.experiments.backends import WorkerExited
from budgetgym.experiments.cli_planning import calibrate_cmd, plan_cmd, segment_cmd, simulate_cmd
from budgetgym.experiments.cli_run import report_cmd, run_cmd
from budgetgym.experiments.cli_show import show_cmd
from budgetgym.experiments.console import console
from budgetgym.experiments.wording import count

__all__ = ["app", "main"]

app = typer.Typer(
    name="budgetgym",
    help="budgetgym: marketing budget-allocation experiments against a true-parameter oracle.",
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)


#: Global options of the current invocation (set by :func:`_options`, reset by :func:`main`).
_STATE: dict[str, bool] = {"verbose": False}


@app.callback()
def _options(
    ctx: typer.Context,
    verbose: Annotated[
        bool, typer.Option("--verbose", "-v", help="list every problem of an invalid file")
    ] = False,
) -> None:
    """budgetgym: marketing budget-allocation experiments against a true-parameter oracle."""
    _STATE["verbose"] = verbose
    _STATE["resumes"] = ctx.invoked_subcommand == "run"


_console = console


# ------------------------------------------------------------------------------ scenarios
@app.command("scenarios")
def scenarios_cmd() -> None:
    """List the built-in scenarios and scenario families with one-line descriptions."""
    from rich.table import Table

    from budgetgym.envs.family import list_families, load_family
    from budgetgym.envs.scenario import list_scenarios, load_scenario

    table = Table("scenario", "channels", "steps", "pacing", "reward", "description", box=None)
    for name in list_scenarios():
        sc = load_scenario(name)
        table.add_row(name, str(sc.n_channels), str(sc.horizon), sc.budget.pacing, sc.reward, sc.description)
    _console().print(table)
    names = list_families()
    if names:
        fams = Table("family", "channels", "steps", "varies", "description", box=None,
                     title="scenario families (held-out test draws, train draws)", title_justify="left")
        for name in names:
            fam = load_family(name)
            nominal = fam.nominal()
            fams.add_row(name, str(nominal.n_channels), str(nominal.horizon), _varies(fam),
                         fam.description or nominal.description)
        _console().print(fams)


def _varies(family: Any) -> str:
    """``"3 fields"`` / ``"ensemble of 40"`` / ``"nothing"``: what a family draws."""
    if family.is_ensemble:
        return f"ensemble of {len(family.definition()['ensemble'])}"
    n = len(family.distributions)
    return count(n, "field") if n else "nothing"


def _one_line(fn: Any) -> str:
    """The docstring's first paragraph on one line: the command list of ``budgetgym --help`` prints
    ``short_help`` as given, so a docstring's line breaks would cut its sentences mid-line."""
    return " ".join((fn.__doc__ or "").split("\n\n", 1)[0].split())


# ------------------------------------------------------------------------------ show (cli_show)
app.command("show", short_help=_one_line(show_cmd))(show_cmd)


# ------------------------------------------------------------------------------ plan
# --------------------------------------------------------------------- planning (cli_planning)
app.command("plan", short_help=_one_line(plan_cmd))(plan_cmd)
app.command("simulate", short_help=_one_line(simulate_cmd))(simulate_cmd)
app.command("calibrate", short_help=_one_line(calibrate_cmd))(calibrate_cmd)
app.command("segment", short_help=_one_line(segment_cmd))(segment_cmd)


# ------------------------------------------------------------------------------ run, report (cli_run)
app.command("run")(run_cmd)
app.command("report")(report_cmd)


# ------------------------------------------------------------------------------ regression gate
@app.command("baseline")
def baseline_cmd(
    directory: Annotated[Path, typer.Argument(metavar="RESULTS_DIR", help="results directory")],
    out: Annotated[Path, typer.Option("--out", "-o", help="baseline JSON file to write")],
    metric: Annotated[
        list[str] | None, typer.Option("--metric", help="metric to record (repeatable) \\[default: pct_of_oracle]")
    ] = None,
    allow_config_change: Annotated[
        bool, typer.Option("--allow-config-change", help="replace a baseline recorded from a different config")
    ] = False,
) -> None:
    """Record a regression baseline (per-seed metric values, config hash, versions) from RESULTS_DIR."""
    from budgetgym.experiments.regress import record_baseline, write_baseline

    base = record_baseline(directory, metrics=tuple(metric or ("pct_of_oracle",)))
    path = write_baseline(base, out, allow_config_change=allow_config_change)
    _console().print(
        f"wrote {path}: {len(base.entries)} (scenario, agent) entries, metrics {', '.join(base.metrics)}, "
        f"config {base.config_hash}"
    )


REGRESS_HELP = "\n\n".join(
    [
        "Fail (exit 1) when a policy got credibly worse than BASELINE.",
        "Per (scenario, agent) and metric, current and baseline values are paired by seed (seeds on one side "
        "only are dropped with a warning); a row regresses when the bootstrap CI (99% by default) of the mean "
        "difference lies entirely below -tolerance.",
        "--tolerance is a fraction: 0.01 means 1 percentage point of the oracle for pct_of_oracle (1% of the "
        "baseline mean for other metrics).",
        "A (scenario, agent) in the baseline but absent from the results fails as 'missing'.",
        "Exit 0 when nothing regressed, 1 when something did, 2 for user errors (bad files, config hash mismatch).",
        "--report writes the table as markdown (a CI job summary or pull-request comment), --json the verdict, every "
        "row and the exit code for a bot; both are written on exit 2 too, saying why the gate could not run.",
    ]
)


@app.command("regress", help=REGRESS_HELP)
def regress_cmd(
    directory: Annotated[Path, typer.Argument(metavar="RESULTS_DIR", help="results directory")],
    baseline: Annotated[Path, typer.Option("--baseline", "-b", help="baseline JSON (budgetgym baseline)")],
    tolerance: Annotated[
        float,
        typer.Option(
            help="allowed drop as a fraction: 0.01 = 1 percentage point of the oracle for pct_of_oracle "
            "(1% of the baseline mean for other metrics)"
        ),
    ] = 0.01,
    report: Annotated[
        Path | None,
        typer.Option("--report", help="also write the table as markdown here (a new file or an earlier report)"),
    ] = None,
    confidence: Annotated[
        float, typer.Option(help="coverage of the bootstrap CI of the paired difference")
    ] = 0.99,
    allow_config_change: Annotated[
        bool, typer.Option("--allow-config-change", help="compare even if the experiment config hash differs")
    ] = False,
    json_out: Annotated[
        Path | None,
        typer.Option("--json", help="also write the verdict as JSON here, for a CI bot (a new file or an earlier one)"),
    ] = None,
) -> None:
    """Fail (exit 1) when a policy got credibly worse than BASELINE (help: ``REGRESS_HELP``)."""
    from budgetgym.experiments.regress import compare
    from budgetgym.experiments.regress_report import HEADER, check_report_path, table_rows, write_report

    outputs = [(path, fmt) for path, fmt in ((report, False), (json_out, True)) if path is not None]
    if report is not None and json_out is not None and report.resolve() == json_out.resolve():
        raise BudgetGymError(f"--report and --json: both name '{report}'; expected two files")
    for path, fmt in outputs:  # before the comparison, not after
        check_report_path(path, json_format=fmt)
    try:
        rep = compare(directory, baseline, tolerance, confidence=confidence, allow_config_change=allow_config_change)
    except BudgetGymError as err:  # the gate cannot run: its files say so, not an earlier push's verdict
        for path, fmt in outputs:
            with contextlib.suppress(BudgetGymError):
                write_report(err, path, json_format=fmt)
        raise
    # a plain fixed-width table: CI logs are not terminals and must not truncate cells
    cells = [list(HEADER), *table_rows(rep)]
    widths = [max(len(row[i]) for row in cells) for i in range(len(HEADER))]
    left = {"scenario", "agent", "metric", "verdict"}
    lines = [
        "  ".join(c.ljust(w) if h in left else c.rjust(w) for c, w, h in zip(row, widths, HEADER, strict=True))
        for row in cells
    ]
    title = (
        f"regression gate: tolerance {tolerance:g} (fraction of the oracle: {100 * tolerance:g} percentage point(s) of "
        f"pct_of_oracle); {100 * rep.confidence:g}% bootstrap CI of the seed-paired difference"
    )
    print(title)
    print("\n".join(line.rstrip() for line in lines))
    for note in rep.notes:
        _console(stderr=True).print(f"warning: {note}", markup=False)
    for path, fmt in outputs:
        print(f"wrote {write_report(rep, path, json_format=fmt)}")
    if rep.failed:
        print(
            f"FAILED: {len(rep.failed)} of {count(len(rep.rows), 'row')}: "
            + ", ".join(f"{r.scenario}/{r.agent} {r.metric} {r.verdict}" for r in rep.failed)
        )
        raise typer.Exit(1)
    print(f"passed: {count(len(rep.rows), 'row')}, nothing regressed")


# ------------------------------------------------------------------------------ entry point
_INTERRUPTED = "interrupted: finished runs are kept; run the same command again to resume"
#: Ctrl-C in any other command: nothing of it is kept to resume from.
_INTERRUPTED_OTHER = "interrupted: run the same command again to start over (only budgetgym run resumes)"


def _interrupted() -> None:
    """The one line on Ctrl-C: ``run`` resumes from its finished runs, the other commands start over."""
    print(_INTERRUPTED if _STATE["resumes"] else _INTERRUPTED_OTHER, file=sys.stderr)


def _print_error(exc: BudgetGymError, verbose: bool) -> None:
    """``error: <one line>``; with ``--verbose``, every problem of ``exc.details`` below it."""
    if len(exc.details) > 1 and not verbose:
        print(f"error: {exc}; budgetgym --verbose ... lists all {len(exc.details)}", file=sys.stderr)
        return
    print(f"error: {exc}", file=sys.stderr)
    if verbose and len(exc.details) > 1:
        for line in exc.details:
            print(f"  - {line}", file=sys.stderr)


def _usage_message(exc: Exception) -> str:
    """A usage error (a missing, unknown or malformed option) in one line, as every other error,
    instead of click's usage block: ``Invalid value for '--periods': ... (see 'budgetgym simulate --help')``."""
    fmt = getattr(exc, "format_message", None)
    text = " ".join(str(fmt() if callable(fmt) else exc).split())
    ctx = getattr(exc, "ctx", None)
    return f"{text} (see '{getattr(ctx, 'command_path', None) or 'budgetgym'} --help')"


def main(argv: list[str] | None = None) -> int:
    """Run the CLI with ``argv`` (default ``sys.argv[1:]``); returns the exit code. A
    :class:`~budgetgym.envs.errors.ScenarioWarning` prints as one line, ``warning: <file>: <field>: <what>``
    (as the CLI's other warnings); any other warning as Python shows it."""
    with warnings.catch_warnings():
        others = warnings.showwarning

        def show(message: Warning | str, category: type[Warning], filename: str, lineno: int, file: Any = None,
                 line: str | None = None) -> None:
            if issubclass(category, ScenarioWarning):
                print(f"warning: {message}", file=sys.stderr if file is None else file)
            else:
                others(message, category, filename, lineno, file, line)

        warnings.showwarning = show
        return _main(argv)


def _main(argv: list[str] | None) -> int:
    _STATE["verbose"] = _STATE["resumes"] = False
    try:
        rv = app(args=argv, prog_name="budgetgym", standalone_mode=False)
    except BudgetGymError as exc:
        _print_error(exc, _STATE["verbose"])
        return 2
    except WorkerExited as exc:  # a run-time failure, in one line as a failed run's (no traceback of the worker)
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:  # typer turns Ctrl-C into Exit(130); older versions may not
        _interrupted()
        return 130
    except typer.Exit as exc:
        if exc.exit_code == 130:
            _interrupted()
        return int(exc.exit_code)
    except typer.Abort:
        print("aborted", file=sys.stderr)
        return 1
    except Exception as exc:  # noqa: BLE001 - usage errors (click/typer) exit 2, the rest 1
        code, show = getattr(exc, "exit_code", None), getattr(exc, "show", None)
        if code == 2 and type(exc).__name__ != "NoArgsIsHelpError":  # click's UsageError (typer vendors click)
            print(f"error: {_usage_message(exc)}", file=sys.stderr)
            return 2
        if isinstance(code, int) and callable(show):
            show()
            return code
        traceback.print_exc()
        return 1
    code = int(rv) if isinstance(rv, int) else 0
    if code == 130:  # typer turns Ctrl-C into Exit(130), which click returns (standalone_mode=False), not raises
        _interrupted()
    return code


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
