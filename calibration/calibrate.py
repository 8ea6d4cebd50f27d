"""``calibrate(...)``: data file in, fitted campaign family out (the library behind ``budgetgym calibrate``).

Steps: read and validate the data (:mod:`~budgetgym.calibration.data`); if ``holdout > 0``, fit
on all but the last ``holdout`` periods and score the forecast of those
(:mod:`~budgetgym.calibration.diagnostics`); fit on all periods
(:mod:`~budgetgym.calibration.model`; with ``delay="auto"`` each channel's lag form chosen on it first,
:mod:`~budgetgym.calibration.delay_choice`), with lift tests as extra likelihood terms when given
(:mod:`~budgetgym.calibration.lift`); bootstrap ``draws`` refits
(:mod:`~budgetgym.calibration.uncertainty`); map the point estimate and the draws to a scenario
family and a spend history (:mod:`~budgetgym.calibration.export`); report
(:mod:`~budgetgym.calibration.report`). With ``out``, the files are written only once all of
them are ready, each atomically: an error leaves nothing half-written.
"""

from __future__ import annotations

import math
import re
import time
from contextlib import nullcontext
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, cast

import numpy as np
import pandas as pd

from budgetgym.calibration.data import MMMData, read_mmm_csv
from budgetgym.calibration.delay_choice import fit_with_forms
from budgetgym.calibration.diagnostics import (
    Errors,
    errors,
    outside_interval_warning,
    parameter_table,
    warnings_for,
)
from budgetgym.calibration.export import (
    Costs,
    PlanWindow,
    capped_draws,
    check_nominal,
    family_dict,
    fit_costs,
    history_frame,
    plan_window,
)
from budgetgym.calibration.kpi_value import KpiValue
from budgetgym.calibration.kpi_value import revenue_per_kpi as kpi_value
from budgetgym.calibration.lift import LiftTests, beyond_data, disagreements, lift_table, read_lift_tests
from budgetgym.calibration.model import (
    Fit,
    Likelihood,
    ModelSpec,
    baseline_design,
    check_design,
    default_fourier,
    fit_model,
)
from budgetgym.calibration.model_spec import FOURIER_SPAN, short_data_warning
from budgetgym.calibration.period_warnings import negative_kpi_warning, outlier_warning
from budgetgym.calibration.projection import LiftRows
from budgetgym.calibration.refits import WORKER_DRAWS, Workers
from budgetgym.calibration.report import check_calibration_out
from budgetgym.calibration.roi_fixed_point import unsettled_warning
from budgetgym.calibration.roi_prior import RoiForm
from budgetgym.calibration.transforms import DELAY_FORMS, AdstockKind, DelayForm, DelaySpec, SaturationKind
from budgetgym.calibration.uncertainty import Draws, block_bootstrap
from budgetgym.envs.draw_streams import MAX_FAMILY_SEED
from budgetgym.envs.errors import BudgetGymError
from budgetgym.envs.family import family_from_dict
from budgetgym.envs.numbers import figure

__all__ = ["MAX_DRAWS", "CalibrationResult", "Holdout", "calibrate", "kpi_reward", "reward_note"]

#: The most bootstrap draws a calibration makes (each a refit; a huge --draws ran for hours).
MAX_DRAWS = 10_000

ADSTOCKS = ("geometric", "weibull_cdf", "weibull_pdf", "weibull")
SATURATIONS = ("hill", "logistic")
LIKELIHOODS = ("gaussian", "poisson", "negative_binomial")
DELAYS = ("none", "gamma", "geometric", "auto")
MEDIA_SEASONS = ("none", "yearly")
_REVENUE_WORDS = ("revenue", "sales", "gmv", "value", "income")


@dataclass(frozen=True)
class Holdout:
    """The forecast of the held-out tail by a fit on the periods before it."""

    periods: int
    insample: Errors  # of the fit on the earlier periods
    outsample: Errors  # on the held-out tail
    forecast: np.ndarray  # [holdout] the forecast KPI


@dataclass(frozen=True)
class CalibrationResult:
    """Everything :func:`calibrate` made (module docstring)."""

    data: MMMData
    fit: Fit
    draws: Draws | None
    holdout: Holdout | None
    errors: Errors  # in sample, final fit
    parameters: pd.DataFrame  # parameter_table
    warnings: list[str]
    window: PlanWindow
    costs: Costs
    reward: str
    family: dict[str, Any]  # the family mapping (family.yaml)
    history: pd.DataFrame  # history.csv
    seconds: dict[str, float]
    files: list[Path] = field(default_factory=list)
    lift: pd.DataFrame | None = None  # lift_table: each lift test against the fitted model's lift
    kpi_value: KpiValue | None = None  # --revenue-per-kpi: the revenue of one conversion

    def summary(self) -> dict[str, Any]:
        """Headline numbers as plain data."""
        out: dict[str, Any] = {"periods": self.data.n_periods, "channels": list(self.fit.channels),
                               **{f"insample_{k}": v for k, v in self.errors.as_dict().items()},
                               "draws": 0 if self.draws is None else len(self.draws), "seconds": self.seconds}
        if self.holdout is not None:
            out.update({f"holdout_{k}": v for k, v in self.holdout.outsample.as_dict().items()})
        return out


def kpi_reward(kpi: str, likelihood: str) -> str:
    """``conversions`` for a count likelihood or a KPI whose name does not say revenue
    (``revenue``, ``sales``, ``gmv``, ``value``, ``income``), else ``revenue``."""
    if likelihood != "gaussian":
        return "conversions"
    return "revenue" if _names_revenue(kpi) else "conversions"


def _names_revenue(kpi: str) -> bool:
    """Whether the KPI's name says revenue (``revenue``, ``sales``, ``gmv``, ``value``, ``income``)."""
    return any(w in kpi.lower() for w in _REVENUE_WORDS)


def value_warnings(kpi: str, value: KpiValue | None) -> list[str]:
    """A warning when ``--revenue-per-kpi`` values a KPI whose name says revenue (:func:`kpi_reward`'s rule): each
    unit of it would count as :math:`v` of revenue, every plan's revenue and ROAS :math:`v` times too large;
    ``[]`` otherwise (a name is no proof: ``unit_sales`` may count sales)."""
    if value is None or not _names_revenue(kpi):
        return []
    return [f"--revenue-per-kpi values each unit of the KPI '{kpi}' at {figure(value.value, 2)} of revenue, but its "
            f"name says revenue: a plan's revenue and ROAS are then {figure(value.value, 2)} times the KPI's; give "
            f"--revenue-per-kpi only for a KPI that counts conversions"]


def reward_note(kpi: str, likelihood: str) -> str:
    """The line saying which reward :func:`kpi_reward` took for ``kpi`` and how to take the other: the
    family's reward decides whether a plan reports CPA or ROAS, and PyMC-Marketing's ``y`` reads as
    conversions."""
    rew = kpi_reward(kpi, likelihood)
    if likelihood != "gaussian":
        return f"reward: conversions, from --likelihood {likelihood} (a count KPI)"
    why = f"from the KPI's name '{kpi}' (revenue for a name with {', '.join(_REVENUE_WORDS[:-1])} or " \
          f"{_REVENUE_WORDS[-1]})"
    other = (f"--reward revenue if '{kpi}' is revenue" if rew == "conversions"
             else f"--reward conversions if '{kpi}' counts conversions")
    return f"reward: {rew}, {why}; {other}"


def _name(path: Path) -> str:
    stem = re.sub(r"[^A-Za-z0-9_.-]", "-", path.stem)[:50].strip("-.") or "data"
    return f"fit-{stem}"


def _choice(value: str, choices: tuple[str, ...], option: str) -> str:
    from budgetgym.envs.errors import unknown

    if value not in choices:
        raise BudgetGymError(f"{option}: " + unknown("value", value, choices))
    return value


def _delay_choice(delay: str) -> str | tuple[DelayForm, ...]:
    """``--delay``'s value checked: one of :data:`DELAYS`, or a comma-separated list of
    :data:`~budgetgym.calibration.transforms.DELAY_FORMS`, one per channel, as a tuple (its length checked by
    :func:`_delay_spec`, once the data's channels are known)."""
    if "," not in delay:
        return _choice(delay, DELAYS, "--delay")
    return tuple(cast(DelayForm, _choice(f.strip(), DELAY_FORMS, "--delay (one form per --spend column)"))
                 for f in delay.split(","))


def _delay_spec(delay: str | tuple[DelayForm, ...], n_channels: int) -> DelaySpec:
    """``ModelSpec.delay`` of ``--delay`` (``auto``: all gamma, the fit's start: :func:`_fit`; a list: each
    channel's form, in the order of ``--spend``)."""
    if isinstance(delay, tuple):
        if len(delay) != n_channels:
            raise BudgetGymError(f"--delay: expected one lag form per --spend column ({n_channels}), got "
                                 f"{len(delay)} ({','.join(delay)})")
        return delay
    if delay == "geometric":
        geometric: tuple[DelayForm, ...] = ("geometric",)
        return geometric * n_channels
    return delay != "none"


def _fit(data: MMMData, spec: ModelSpec, seed: int, lift: LiftRows | None, auto: bool) -> Fit:
    """``fit_model``, or with ``auto`` each channel's delay form chosen on the point fit first
    (:func:`~budgetgym.calibration.delay_choice.fit_with_forms`): the holdout's fit chooses on its own periods."""
    return fit_with_forms(data, spec, seed=seed, lift=lift)[0] if auto else fit_model(data, spec, seed=seed, lift=lift)


def _holdout(data: MMMData, spec: ModelSpec, n: int, seed: int, lift: LiftTests | None, auto: bool = False) -> Holdout:
    T = data.n_periods
    if not 1 <= n < T:
        raise BudgetGymError(f"--holdout: expected 0 to {T - 1} periods, got {n}")
    head = data.head(T - n)
    try:
        fit = _fit(head, spec, seed, None if lift is None else lift.rows, auto)
    except BudgetGymError as exc:  # say why those periods: "4 periods for 20 parameters" of a 104-period file
        raise BudgetGymError(f"--holdout {n}: the fit on the first {T - n} of {T} periods: {exc}") from None
    B, _ = baseline_design(data, fit.spec.fourier or 0, origin=float(data.days[0]))
    mu, _ = fit.predict(data.media, B, data.days)
    return Holdout(periods=n, insample=errors(head.kpi, fit.fitted), outsample=errors(data.kpi[T - n:], mu[T - n:]),
                   forecast=mu[T - n:])


def calibrate(
    path: str | Path,
    *,
    date: str,
    kpi: str,
    spend: str | list[str],
    controls: str | list[str] | None = None,
    exposure: str | list[str] | None = None,
    draws: int = 200,
    holdout: int = 0,
    seed: int = 0,
    adstock: str = "geometric",
    saturation: str = "hill",
    likelihood: str = "gaussian",
    prior: str = "all",
    fourier: int | None = None,
    reward: str | None = None,
    plan_periods: int | None = None,
    plan_budget: float | None = None,
    block_length: int | None = None,
    starts: int = 8,
    delay: str = "none",
    media_season: str = "none",
    prior_draws: bool = False,
    roi_prior: float | None = None,
    roi_prior_form: str | None = None,
    lift_tests: str | Path | None = None,
    revenue_per_kpi: str | None = None,
    decimal: str | None = None,
    out: str | Path | None = None,
    plots: bool = True,
    workers: int = 1,
) -> CalibrationResult:
    """Fit a marketing-mix model to ``path`` and turn it into a budgetgym scenario family.

    Parameters
    ----------
    path, date, kpi, spend, controls, exposure : the data file and its columns
        (:func:`~budgetgym.calibration.data.read_mmm_csv`).
    draws : bootstrap draws (the family's members); 0 for the point estimate alone.
    holdout : periods at the end held out to score a forecast (then the fit uses all of them).
    seed : seeds the multi-start and the bootstrap.
    adstock : ``geometric`` (default), ``weibull_cdf`` or ``weibull_pdf`` (``weibull``: the PDF).
    saturation : ``hill`` (default) or ``logistic``.
    likelihood : ``gaussian`` (default), ``poisson`` or ``negative_binomial``.
    prior : the mild prior on ``kappa``, the slope and the decay (:mod:`~budgetgym.calibration.model`)
        for ``all`` the channels (default), the ``weak`` ones (spent in fewer than 30% of periods) or ``none``.
    fourier : yearly Fourier order of the baseline (default: 2 for a year of data, else 0).
    reward : the scenario's reward, ``revenue`` or ``conversions`` (default: :func:`kpi_reward`, or ``revenue``
        with ``revenue_per_kpi``).
    plan_periods, plan_budget : the planning window (:func:`~budgetgym.calibration.export.plan_window`).
    block_length : bootstrap block length in periods (default ``ceil(T^(1/3))``), at most ``T // 2``.
    starts : starting points of the multi-start search.
    delay : ``none`` (default), or a conversion lag per channel (:mod:`~budgetgym.calibration.transforms`):
        ``gamma`` (shape 2), ``geometric`` (the most conversions in the response's period), or ``auto``: each
        channel's form chosen on the point fit, the bootstrap's refits keeping it
        (:mod:`~budgetgym.calibration.delay_choice`); or one form per channel, comma-separated in the order
        of ``spend`` (``"gamma,geometric,gamma"``), where the planner knows each channel's lag.
    media_season : ``none`` (default) or ``yearly``: a yearly cycle multiplying every channel's
        response (needs a year of data: with less the cycle is confounded with the trend).
    prior_draws : each bootstrap refit also draws its prior's means from the prior
        (:mod:`~budgetgym.calibration.uncertainty`).
    roi_prior : ``tau`` of the pooled return-on-spend prior (:mod:`~budgetgym.calibration.model`: each
        channel's return on spend pulled toward a pooled one, relative sd ``tau``); ``None`` (default): none.
    roi_prior_form : ``log`` (the log returns pooled, sd ``tau``; ``None``, the default, is ``log`` under
        ``roi_prior``) or ``linear`` (the returns, relative sd ``tau``; :mod:`~budgetgym.calibration.roi_prior`);
        a form given without ``roi_prior`` is refused.
    lift_tests : a CSV of lift tests (``channel, x, delta_x, delta_y, sigma``, PyMC-Marketing's
        layout), extra likelihood terms of the fit and redrawn in each bootstrap replicate
        (:mod:`~budgetgym.calibration.lift`); ``fit.md`` compares each with the fitted lift.
    revenue_per_kpi : the KPI counts conversions, each worth this column's revenue per conversion (Meridian's
        ``revenue_per_conversion``) or this number: the family values them
        (:mod:`~budgetgym.calibration.kpi_value`) and plans revenue unless ``reward`` is ``conversions``.
    decimal : the decimal mark of the data and lift-test files, ``"."`` or ``","``; ``None`` (default): the
        decimal point in a comma-separated file, the mark its numbers show in a ``;``- or tab-separated one
        (:func:`~budgetgym.envs.csv_table.read_csv_table`).
    out : directory to write ``family.yaml``, ``history.csv``, ``parameters.csv``, ``fit.md`` and
        figures into (:func:`~budgetgym.calibration.report.write_outputs`); ``None`` writes nothing.
    plots : draw the figures (needs matplotlib, the ``plot`` extra).
    workers : processes refitting the bootstrap's replicates, this one included
        (:mod:`~budgetgym.calibration.refits`; the same draws for any number; more than one needs a
        script's ``if __name__ == "__main__":`` guard).
    """
    t0 = time.perf_counter()
    ad = _choice(adstock, ADSTOCKS, "--adstock")
    ad = "weibull_pdf" if ad == "weibull" else ad
    sat = _choice(saturation, SATURATIONS, "--saturation")
    lik = _choice(likelihood, LIKELIHOODS, "--likelihood")
    pri = _choice(prior, ("weak", "all", "none"), "--prior")
    dly = _delay_choice(delay)
    msn = _choice(media_season, MEDIA_SEASONS, "--media-season")
    roi_form = "log" if roi_prior_form is None else _choice(roi_prior_form, ("linear", "log"), "--roi-prior-form")
    if reward is not None:
        _choice(reward, ("revenue", "conversions"), "--reward")
    if fourier is not None and not 0 <= fourier <= 10:
        raise BudgetGymError(f"--fourier: expected 0 to 10, got {fourier}")
    if starts < 1:
        raise BudgetGymError(f"--starts: expected at least 1, got {starts}")
    if roi_prior is not None and not (math.isfinite(roi_prior) and roi_prior > 0):
        raise BudgetGymError(f"--roi-prior: expected a positive number (the relative sd of each channel's return on "
                             f"spend around the pooled one, e.g. 0.5), got {roi_prior}")
    if roi_prior_form is not None and roi_prior is None:  # a form of no prior was ignored silently
        raise BudgetGymError(f"--roi-prior-form {roi_form}: needs --roi-prior TAU (the prior it is the form of)")
    if not 0 <= draws <= MAX_DRAWS:
        raise BudgetGymError(f"--draws: expected 0 to {MAX_DRAWS} draws, got {draws}")
    if draws == 1:  # a family's ensemble needs two members; one draw gave the point estimate alone, silently
        raise BudgetGymError("--draws: expected 0 (the point estimate alone) or at least 2 draws, got 1")
    if not 0 <= seed <= MAX_FAMILY_SEED:  # it is the family's seed too
        raise BudgetGymError(f"--seed: expected an integer from 0 to {MAX_FAMILY_SEED}, got {seed}")
    if workers < 1:
        raise BudgetGymError(f"--workers: expected a positive number of processes, got {workers}")
    if out is not None:
        check_calibration_out(out)  # before the fit, not after
    p = Path(path)
    data = read_mmm_csv(p, date=date, kpi=kpi, spend=spend, controls=controls, exposure=exposure,
                        count_kpi=lik != "gaussian", revenue_per_kpi=revenue_per_kpi, decimal=decimal)
    # before the fit; at least two blocks: one block of all T periods makes every replicate the same series
    if draws and block_length is not None and not 1 <= block_length <= data.n_periods // 2:
        raise BudgetGymError(f"--block-length: expected 1 to {data.n_periods // 2} periods (at least two blocks in "
                             f"the data's {data.n_periods}), got {block_length}")
    spec = ModelSpec(adstock=cast(AdstockKind, ad), saturation=cast(SaturationKind, sat),
                     likelihood=cast(Likelihood, lik), prior=cast(Any, pri), fourier=fourier, starts=starts,
                     delay=_delay_spec(dly, data.n_channels), season=msn == "yearly", roi_prior=roi_prior,
                     roi_prior_form=cast(RoiForm, roi_form))
    if spec.fourier is None:  # the order the whole data implies, for the holdout's fit too (the same model scored)
        spec = replace(spec, fourier=default_fourier(data))
    if spec.season and default_fourier(data) == 0:
        raise BudgetGymError(
            f"{data.source}: --media-season yearly: the dates span less than {FOURIER_SPAN:g} days; a yearly cycle "
            f"needs a year of data")
    window = plan_window(data, plan_periods, plan_budget)
    costs = fit_costs(data)
    tests = None if lift_tests is None else read_lift_tests(lift_tests, data, costs, decimal)
    value = None if revenue_per_kpi is None else kpi_value(revenue_per_kpi, data, window.periods)
    seconds: dict[str, float] = {}
    held = None
    early = workers > 1 and draws >= WORKER_DRAWS
    with Workers(workers) if early else nullcontext() as started:  # they import budgetgym while this process fits
        if holdout:  # the whole data's baseline first: its problem is no holdout's (the head's own ones are)
            check_design(*baseline_design(data, spec.fourier or 0), data.source)
            t = time.perf_counter()
            held = _holdout(data, spec, int(holdout), seed, tests, auto=dly == "auto")
            seconds["holdout"] = time.perf_counter() - t
        t = time.perf_counter()
        fit = _fit(data, spec, seed, None if tests is None else tests.rows, dly == "auto")
        seconds["fit"] = time.perf_counter() - t
        check_nominal(fit, data)  # a point estimate the family cannot hold: refused before the refits
        boot = (block_bootstrap(fit, draws, block_length=block_length, seed=seed, prior_draws=prior_draws,
                                workers=workers, started=started) if draws else None)
    seconds["bootstrap"] = 0.0 if boot is None else boot.seconds
    insample = errors(fit.y, fit.fitted)
    rew = reward or ("revenue" if value is not None else kpi_reward(kpi, lik))
    fam = family_dict(fit, data, boot, window, costs, name=_name(p), reward=rew, seed=seed,
                      value=None if value is None else value.value)
    family_from_dict(fam, source=f"calibrated family of '{p}'")  # it must load as written
    lift = None if tests is None else lift_table(fit, tests, boot.phi if boot else None, boot.beta if boot else None)
    parameters = parameter_table(fit, data, boot)
    result = CalibrationResult(
        data=data, fit=fit, draws=boot, holdout=held, errors=insample, parameters=parameters,
        warnings=warnings_for(fit, boot, insample, held.outsample if held else None,
                              holdout_insample=held.insample if held else None)
        + outside_interval_warning(parameters, 0 if boot is None else len(boot))
        + negative_kpi_warning(data.kpi, data.dates, data.kpi_name) + outlier_warning(fit, data.dates)
        + capped_draws(fit, boot) + unsettled_warning(fit, boot) + value_warnings(kpi, value)
        + short_data_warning(data, fourier)
        + ([] if tests is None or lift is None else beyond_data(tests, data) + disagreements(lift)), window=window,
        costs=costs, reward=rew, family=fam, history=history_frame(data), seconds=seconds, lift=lift,
        kpi_value=value,
    )
    if out is not None:
        from budgetgym.calibration.report import write_outputs

        result.files.extend(write_outputs(result, Path(out), plots=plots))
    seconds["total"] = time.perf_counter() - t0
    return result
