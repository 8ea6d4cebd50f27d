"""The files a calibration writes, and ``fit.md``.

:func:`write_outputs` renders everything first (YAML, CSVs, figures, markdown), writes the files
into a staging directory in ``out`` and only then moves them in
(:func:`budgetgym.envs.io.staged_output`), so an error (a full disk, an ``out`` that cannot be
written: one line) never leaves a half-written directory; other files in ``out`` are kept, and a
directory holding files of these names but no ``fit.md`` (not an earlier calibration's) is refused
before the fit (:func:`check_calibration_out`), and an earlier calibration's figures that this one
does not draw are removed in the same move (the directory describes one fit):

* ``family.yaml`` — the scenario family (:mod:`~budgetgym.calibration.export`), for
  ``budgetgym plan DIR/family.yaml --history DIR/history.csv`` and for agents;
* ``history.csv`` — the data's spend, every period, a column per channel;
* ``parameters.csv`` — :func:`~budgetgym.calibration.diagnostics.parameter_table`;
* ``fit.md`` — data, model, errors (in sample and held out), parameters with 90% intervals (the
  media cycle's amplitude and peak too), with lift tests each test against the fitted lift and its
  90% interval, warnings, the planning window and cost curves, and the figures ``fit.png``,
  ``contributions.png`` and ``curves.png`` (with matplotlib).
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import yaml

from budgetgym.calibration.diagnostics import LEVELS, MAPE_FLOOR, MIN_CHECK_DRAWS, MIN_INTERVAL_DRAWS, Errors
from budgetgym.calibration.transforms import YEAR_DAYS
from budgetgym.envs.dates import MONTH_DAYS
from budgetgym.envs.errors import BudgetGymError
from budgetgym.envs.io import YAML_DUMPER, check_out_dir, foreign_files, move_staged, name_list, staged_output
from budgetgym.envs.numbers import figure
from budgetgym.experiments.wording import count

if TYPE_CHECKING:
    from budgetgym.calibration.calibrate import CalibrationResult
    from budgetgym.calibration.model_spec import Fit

__all__ = ["CALIBRATION_FILES", "check_calibration_out", "fit_markdown", "write_outputs"]

#: Every file a calibration writes into its directory (the figures with matplotlib and ``plots``).
CALIBRATION_FILES = ("family.yaml", "history.csv", "parameters.csv", "fit.md", "fit.png", "contributions.png",
                     "curves.png")


def _errors_row(label: str, e: Errors) -> str:
    """A row of fit.md's error table; a measure undefined on its periods (R² of a KPI that does not
    vary, e.g. one held-out period; MAPE and WAPE of a KPI that is 0 throughout) or MAPE that is not
    meaningful (a period's KPI near 0: :data:`~budgetgym.calibration.diagnostics.MAPE_FLOOR`) reads ``n/a``."""
    r2 = "n/a" if np.isnan(e.r2) else f"{e.r2:.3f}"
    mape = "n/a" if np.isnan(e.mape) or not e.mape_ok else f"{e.mape:.2f}"
    wape = "n/a" if np.isnan(e.wape) else f"{e.wape:.2f}"
    return f"| {label} | {e.n} | {r2} | {mape} | {wape} | {_num(e.rmse)} |"


def _num(x: float | np.floating | None) -> str:
    """A number of the fit's tables: :func:`~budgetgym.envs.numbers.figure` with 3 decimals below 10, 1 below
    10,000, else 0, but 3 significant digits from 1e6 and below 1e-3 (not only where the decimals round to 0 or from
    :data:`~budgetgym.envs.numbers.HUGE`): a fit's parameters, errors and scales span many orders, and a table
    column of ``0.0012`` and ``1.23e+07`` reads better than ``0.001`` and ``12,345,678``; ``–`` for missing or
    infinite values."""
    if x is None or not np.isfinite(x):
        return "–"
    a = abs(float(x))
    if a != 0 and (a >= 1e6 or a < 1e-3):
        return f"{x:.3g}"
    return figure(x, 3 if a < 10 else 1 if a < 1e4 else 0)


def _money(x: float) -> str:
    """An amount a planner types back (the planning budget): whole units in full from 10,000 (``1,300,156``, where
    :func:`_num` keeps 3 significant digits from 1e6, ``1.3e+06``), by :func:`~budgetgym.envs.numbers.figure`
    (3 significant digits only past any budget, :data:`~budgetgym.envs.numbers.HUGE`), else as :func:`_num`."""
    return figure(x, 0) if abs(x) >= 1e4 else _num(x)


def family_yaml(result: CalibrationResult, command: str | None = None) -> str:
    """``family.yaml``'s text: a header comment, then the family mapping (members one per line)."""
    head = [f"# Scenario family calibrated by budgetgym on {result.data.source}.",
            "# Nominal scenario = the maximum-likelihood estimate; ensemble = its block-bootstrap draws.",
            "# See fit.md beside this file for the fit, its intervals and warnings."]
    if command:
        head.append(f"# {command}")
    body = yaml.dump(result.family, Dumper=YAML_DUMPER, sort_keys=False, default_flow_style=None, width=100_000)
    return "\n".join(head) + "\n" + body


def _table(frame: pd.DataFrame) -> list[str]:
    cols = list(frame.columns)
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    for _, row in frame.iterrows():
        lines.append("| " + " | ".join(_num(v) if isinstance(v, (float, np.floating)) else str(v)
                                       for v in row) + " |")
    return lines


#: A decay (dimensionless, in [0, 1)) below this prints as 0 in fit.md: the trust region's last step
#: toward the bound left 5.24e-42, which read as a number to interpret (``parameters.csv`` has a decay
#: within 1e-9 of its range of 0 at 0: :func:`~budgetgym.calibration.diagnostics.at_bounds`).
DECAY_ZERO = 1e-9


def _decays_at_zero(table: pd.DataFrame) -> pd.DataFrame:
    """``table`` with its decays below :data:`DECAY_ZERO` (estimate and interval) set to 0."""
    out = table.copy()
    rows = (out["parameter"] == "decay").to_numpy()
    for col in ("estimate", "low", "high"):
        v = out[col].to_numpy(dtype=float)
        out[col] = np.where(rows & (np.abs(v) < DECAY_ZERO), 0.0, v)
    return out


def _every(step_days: float) -> str:
    """``every day``, ``every 7 days``, ``every month`` (a calendar month's :data:`MONTH_DAYS`)."""
    if step_days == MONTH_DAYS:
        return "every month"
    return "every day" if step_days == 1 else f"every {step_days:g} days"


def _media_cycle(result: CalibrationResult) -> list[str]:
    """fit.md's line on the fitted media cycle (``--media-season yearly``; none without it): its amplitude
    and peak (:meth:`~budgetgym.calibration.model_spec.Fit.season`), with draws their 90% intervals, the
    peak's taken around the estimate on the circle (each draw's peak within half a year of it), so a peak
    near New Year reads "day 356 to day 9", not the 5th and 95th percentiles of the days as numbers."""
    f, draws = result.fit, result.draws
    if not f.layout.season:
        return []
    amp, peak = f.season()
    head = ("Media cycle (every channel's response times 1 + A cos(2π (d − peak) / 365.25), d the day index; "
            "`seasonality.demand` in family.yaml): ")
    if draws is None or len(draws) < MIN_INTERVAL_DRAWS:
        return ["", head + f"amplitude {amp:.3f}, peak on day {peak:.1f} of the year."]
    cycles = np.array([f.season(phi) for phi in draws.phi])
    lo, hi = np.percentile(cycles[:, 0], LEVELS)
    offset = (cycles[:, 1] - peak + YEAR_DAYS / 2) % YEAR_DAYS - YEAR_DAYS / 2  # within half a year of the estimate
    first, last = (peak + np.percentile(offset, LEVELS)) % YEAR_DAYS
    return ["", head + f"amplitude {amp:.3f} (90%: {lo:.3f} to {hi:.3f}), peak on day {peak:.1f} of the year "
            f"(90%: day {first:.1f} to day {last:.1f})."]


def _delay_words(fit: Fit) -> str:
    """The model line's words for the conversion delay: its form, or each channel's when they differ."""
    forms = fit.layout.forms
    if not forms:
        return ""
    if len(set(forms)) == 1:
        return f", spread by a {forms[0]} conversion delay"
    geometric = ", ".join(c for c, f in zip(fit.channels, forms, strict=True) if f == "geometric")
    gamma = ", ".join(c for c, f in zip(fit.channels, forms, strict=True) if f == "gamma")
    return f", spread by a conversion delay: geometric for {geometric}, gamma (shape 2) for {gamma}"


def fit_markdown(result: CalibrationResult, figures: list[str]) -> str:
    """The report (module docstring)."""
    d, f, w = result.data, result.fit, result.window
    spec = f.spec
    first, last = (pd.Timestamp(x).date() for x in (d.dates[0], d.dates[-1]))
    # start_costs: the polished best, then each start's cost (model._multistart): the polish is no start
    best, scouts = f.start_costs[0], f.start_costs[1:]
    reached = max(1, sum(1 for c in scouts if c <= best * (1 + 1e-6) + 1e-12))  # the best's own start at least
    drive = ", ".join(f"`{d.driver(i)}`" for i in range(d.n_channels))
    pairs = ", ".join(f"{c} ← `{s}`" for c, s in zip(f.channels, d.spend_columns, strict=True))
    lines = [
        f"# Calibration of `{d.path.name}`", "",
        f"{count(d.n_periods, 'period')} from {first} to {last} ({_every(d.step_days)}); KPI `{d.kpi_name}`; "
        f"{count(d.n_channels, 'channel')} ({pairs}), responses driven by {drive}; controls: "
        f"{', '.join(d.control_names) or 'none'}.", "",
        "## Model", "",
        f"KPI = baseline + Σ β·{spec.saturation}({spec.adstock} adstock of the "
        f"{'exposure' if d.exposure is not None else 'spend'})"
        + (" × a yearly media cycle" if spec.season else "") + _delay_words(f)
        + f" + noise ({spec.likelihood}); baseline: "
        f"{', '.join(f.baseline_names)}. Equations: `budgetgym.calibration.model` and `.transforms`.",
        f"Maximum likelihood by variable projection from {count(len(scouts), 'start')} ({reached} reached the best)"
        + (f"; channels under a mild prior: {', '.join(c for c, wk in zip(f.channels, f.weak, strict=True) if wk)}"
           if f.weak.any() else "")
        + (f"; each channel's return on spend pooled (prior sd {spec.roi_prior:g} of the pooled return)"
           if f.problem.roi is not None and f.problem.roi.form == "linear" else "")
        + (f"; each channel's log return on spend pooled (prior sd {spec.roi_prior:g} of the log return)"
           if f.problem.roi is not None and f.problem.roi.form == "log" else "") + ".", "",
        "## Fit", "",
        "| | periods | R² | MAPE % | WAPE % | RMSE |", "|---|---|---|---|---|---|",
        _errors_row("in sample (all periods)", result.errors),
    ]
    rows = [result.errors]
    if result.holdout is not None:
        h = result.holdout
        rows += [h.insample, h.outsample]
        lines += [_errors_row(f"in sample (fit without the last {h.periods})", h.insample),
                  _errors_row(f"held out (last {h.periods}, forecast)", h.outsample)]
        if np.isnan(h.outsample.r2) or np.isnan(h.outsample.mape):
            lines += ["", "n/a: R² needs held-out periods whose KPI varies, MAPE one whose KPI is not 0."]
    lines += ["", "WAPE = 100 Σ|KPI − fitted| / Σ|KPI|, MAPE = 100 mean(|KPI − fitted| / |KPI|)"
              + ("." if all(e.mape_ok or np.isnan(e.mape) for e in rows) else
                 f"; MAPE n/a: a period's KPI is below {100 * MAPE_FLOOR:g}% of its mean level, where MAPE divides "
                 f"by a number near 0 and says nothing of the fit (WAPE does not).")]
    noise = f"σ = {_num(np.sqrt(f.scale))}" if spec.likelihood == "gaussian" else f"Pearson dispersion {f.scale:.2f}"
    if f.dispersion is not None:
        noise += f", negative-binomial k = {_num(f.dispersion)}"
    lines += ["", f"Noise: {noise}. Times: " + ", ".join(f"{k} {v:.2f} s" for k, v in result.seconds.items()) + ".", ""]
    lines += [f"![{name}]({name})" for name in figures] + ([""] if figures else [])
    n_draws = 0 if result.draws is None else len(result.draws)
    if result.draws is not None and n_draws >= MIN_INTERVAL_DRAWS:
        about = (f"Estimate and 90% interval (5th–95th percentile of {n_draws} moving-block bootstrap refits, blocks "
                 f"of {count(result.draws.block_length, 'period')})."
                 + (f" With fewer than {MIN_CHECK_DRAWS} draws no parameter is checked for identification."
                    if n_draws < MIN_CHECK_DRAWS else ""))
    else:
        about = (f"Point estimates (intervals need at least {MIN_INTERVAL_DRAWS} bootstrap draws, "
                 f"got {n_draws}; no parameter is checked for identification).")
    lines += ["## Parameters", "", about,
              "`typical_response`: KPI per period when the channel's median nonzero exposure is sustained — "
              "what the data identify best.", ""]
    lines += _table(_decays_at_zero(result.parameters).rename(columns={"low": "5%", "high": "95%"}))
    lines += _media_cycle(result)
    coef = pd.DataFrame({"term": f.baseline_names, "coefficient": f.coef})
    lines += ["", "Baseline coefficients (KPI per period, per year for the trend, per unit of a control):", ""]
    lines += _table(coef)
    if result.lift is not None:
        lines += ["", "## Lift tests", "",
                  "Each test's measured steady-state lift (KPI per period) and its standard error, against the fitted "
                  "model's lift for the same change of spend"
                  + (" with its 90% interval over the bootstrap draws (each draw refit to the tests' measurements "
                     "redrawn within their standard errors)" if n_draws else "")
                  + "; z = (measured − model) / sigma; data_lift: the lift of the fit without the tests, and z_data "
                  "the test against it with the data's own uncertainty (a test beyond ±4 is warned of). The tests are "
                  "extra likelihood terms of the fit (`budgetgym.calibration.lift`).", ""]
        lines += _table(result.lift.rename(columns={"low": "5%", "high": "95%"}))
    lines += ["", "## Warnings", ""] + ([f"- {m}" for m in result.warnings] or ["None."])
    c = result.costs
    cost = pd.DataFrame({"channel": list(f.channels), "unit": list(c.unit), "price": c.price, "ref_spend": c.ref_spend,
                         "elasticity": c.elasticity, "elasticity fitted": ["yes" if x else "no" for x in c.identified]})
    fam = result.family
    members = len(fam.get("ensemble") or [])
    lines += ["", "## The campaign family", "",
              f"`family.yaml`: `{fam['family']}`, reward `{result.reward}`, the point estimate as nominal scenario"
              + (f" and {count(members, 'bootstrap draw')} as an explicit ensemble (20% held out as test draws)"
                 if members else "")
              + ("" if result.kpi_value is None else
                 f"; every channel's conversions are worth {figure(result.kpi_value.value, 2)} each "
                 f"({result.kpi_value.source}, `value.mean`); lift tests (--lift-tests) are in conversions, the KPI"
                 + (", where a plan's `lift_design.csv` predicts revenue (its `predicted_lift` over this value is "
                    "conversions)" if result.reward == "revenue" else ""))
              + f". Planning window: {count(w.periods, 'period')} from {w.first_date.date()} "
              f"(budgetgym day {w.start_day:g}), "
              f"budget {_money(w.budget)} (even pacing). Cost curves (price: CPM for impressions, CPC for clicks; "
              "spend alone is bought as 'clicks' at price 1):", ""]
    lines += _table(cost)
    lines += ["", "Plan with the carry-over of the data's spend (the planner also flags channels it would spend beyond "
              "the largest period of the data, where the fitted curves are extrapolated):", "",
              "```", "budgetgym plan family.yaml --history history.csv", "```", ""]
    return "\n".join(lines)


def check_calibration_out(out: str | Path) -> Path:
    """``out`` as a path, checked before any work: :func:`~budgetgym.envs.io.check_out_dir`, and an
    existing directory holding files a calibration writes (``history.csv``, ``family.yaml``, ...) must
    hold an earlier calibration (its ``fit.md``): a user's own ``history.csv`` beside ``--out .`` is a
    one-line error, not replaced."""
    out = check_out_dir(out)
    clash = foreign_files(out, CALIBRATION_FILES, ["fit.md"])
    if clash:
        raise BudgetGymError(f"output directory '{out}': holds {name_list(clash)}, which the calibration would "
                             f"replace, and no fit.md of an earlier calibration; expected a new directory or an "
                             f"earlier calibration's")
    return out


def write_outputs(result: CalibrationResult, out: Path, *, plots: bool = True,
                  command: str | None = None) -> list[Path]:
    """Render every output, then write each atomically into ``out`` (module docstring)."""
    files: dict[str, Any] = {
        "family.yaml": family_yaml(result, command),
        "history.csv": result.history.to_csv(index=False),
        "parameters.csv": result.parameters.to_csv(index=False),
    }
    if plots and importlib.util.find_spec("matplotlib") is not None:
        from budgetgym.calibration.plots import plot_contributions, plot_curves, plot_fit

        d, f = result.data, result.fit
        dates = pd.DatetimeIndex(d.dates)
        forecast = result.holdout.forecast if result.holdout is not None else None
        files["fit.png"] = plot_fit(dates, f.y, f.fitted, d.kpi_name, forecast)
        files["contributions.png"] = plot_contributions(dates, f.baseline, f.contributions, f.channels, d.kpi_name)
        files["curves.png"] = plot_curves(f, result.draws, result.costs, d.spend, d.kpi_name,
                                           lift=result.lift)
    figures = [name for name in files if name.endswith(".png")]
    files["fit.md"] = fit_markdown(result, figures)
    data = {name: c if isinstance(c, bytes) else str(c).encode("utf-8") for name, c in files.items()}
    with staged_output(out) as stage:
        for name, blob in data.items():
            (stage / name).write_bytes(blob)
        # an earlier calibration's figures, not drawn for this one (of another fit), go in the same move
        move_staged(stage, out, list(data), remove=CALIBRATION_FILES)
    return [out / name for name in data]
