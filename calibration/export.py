r"""A fit as a budgetgym campaign: the scenario family of its draws, and the spend history.

Mapping of the fit (:mod:`~budgetgym.calibration.model`) to a scenario
(``configs/README.md``), per channel ``i``:

* ``cost``: without an exposure column the response is driven by spend itself, so
  ``{unit: click, price: 1, elasticity: 0}`` (exposure = spend, in currency; ``ref_spend`` a large
  number, unused at elasticity 0). With one, ``unit``
  is ``click`` when the column's name contains "click" and ``impression`` otherwise; the
  observed unit price is :math:`p_t = u x_t / e_t` (``u`` = 1000 for a CPM, 1 for a CPC) and
  the auction-pressure curve :math:`\ln p_t = \ln p_0 + \eta \ln(1 + x_t / x_{ref})` is fitted
  by least squares over the periods with spend and exposure, ``x_ref`` the median nonzero spend. ``eta`` is
  kept (capped at 1) when it is identified — at least 8 such periods, spend varying (sd of
  :math:`\ln(1 + x/x_{ref})` at least 0.05) and :math:`\hat\eta` positive and at least twice its
  standard error — and ``price`` is then :math:`p_0 = \exp \overline{(\ln p_t - \eta \ln(1 + x_t /
  x_{ref}))}` (the fitted intercept, refitted to the capped ``eta``); otherwise, a price falling with
  the volume bought included, ``eta = 0`` and ``price`` is the median observed price. A channel
  with an exposure column but no period with both spend and exposure (its spend zero in every
  period: media that is not bought, such as organic reach) has no observed price, and a scenario's
  channel is bought at one: a one-line error (it was bought at a made-up price of 1 per unit).
* ``adstock``: ``{type: geometric, decay: theta}`` (unnormalised, as fitted), or the fitted
  Weibull ``{type, shape, scale, window}``.
* ``saturation``: ``{type: hill, max_response: beta, half_saturation: kappa, slope: s}``, or
  ``{type: logistic, max_response: beta, rate: 1/kappa}``; ``beta`` in KPI units per period (a fitted
  ``beta`` above a scenario's 1e12 is an error; a bootstrap draw's is capped there, with a warning).
* ``delay``: none, or with the fitted conversion lag ``{type: gamma, mean_lag: m, shape: 2,
  window}`` (at least 0.001 periods: budgetgym's bound; the difference from no delay is below
  1e-200 of the response); ``value: {mean: 1}``, or with ``--revenue-per-kpi`` the revenue of one
  conversion (:mod:`~budgetgym.calibration.kpi_value`).
* with the media seasonality, the scenario's ``seasonality.demand`` (``yearly_amplitude``,
  ``yearly_peak``): the cycle multiplies every channel's response in the planning window as in
  the fit.

Campaign: ``reward`` is ``revenue`` for a revenue KPI (``beta`` in currency, value 1 per
unit, and ``response_unit: currency``: the response is the revenue itself, not a count, so a plan
reports no conversions or CPA) and ``conversions`` for a count KPI (:func:`reward_fields`);
``step_days`` is the data's period; the planning
window (``horizon`` = ``plan_periods``, ``budget.total`` = ``plan_budget``, even pacing) starts
the period after the last date, ``start_day`` the data's day index continued one period on
(:math:`d_{T-1} + \Delta`, ``days`` from :func:`~budgetgym.envs.dates.calendar_day` of the first date): the
media seasonality's cycle and the history's days (``start_day - h \Delta``) are then the fit's own. The
next date's own :func:`~budgetgym.envs.dates.calendar_day` can lie 364 days from it (each year's
weekday alignment), which moved the cycle's phase by 1.25 days against the fit.
Noise: ``none`` for a Gaussian fit (its noise is the KPI's, baseline included, not the
channels'), ``poisson`` or ``negative_binomial`` (the fitted ``k``) for counts. The baseline
is not part of the scenario: it does not depend on spend, so no plan changes it.

The family (``configs/README.md``, "Scenario families") is an explicit ensemble: the point
estimate is the nominal scenario and each bootstrap draw a member (dotted changes of every
channel's fitted parameters). ``history.csv`` holds the data's spend, every period, for
``budgetgym plan family.yaml --history``: the carry-in of the window and the range of spend the
fit saw, which the planner compares its plan with (``history_max_spend``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, NoReturn

import numpy as np
import pandas as pd

from budgetgym.calibration.data import MMMData
from budgetgym.calibration.model import Fit
from budgetgym.calibration.response_bound import cap, capped_warnings, refuse_nominal
from budgetgym.calibration.transforms import DELAY_SHAPE
from budgetgym.calibration.uncertainty import Draws
from budgetgym.envs.curves import exposure
from budgetgym.envs.dates import month_ends, next_dates
from budgetgym.envs.dynamics import units_per_price
from budgetgym.envs.errors import BudgetGymError
from budgetgym.envs.scenario import MAX_HORIZON
from budgetgym.envs.scenario_parts import AMOUNT_RANGE, MAX_AMOUNT, MIN_AMOUNT, amount_text, is_amount
from budgetgym.experiments.wording import count

__all__ = ["Costs", "PlanWindow", "capped_draws", "check_nominal", "family_dict", "fit_costs", "history_frame",
           "plan_window", "reward_fields", "scenario_dict"]


@dataclass(frozen=True)
class PlanWindow:
    """The planning window: ``periods`` steps from ``start_day`` with ``budget`` to spend."""

    periods: int
    budget: float
    start_day: float
    first_date: pd.Timestamp


@dataclass(frozen=True)
class Costs:
    """Per channel (``[K]`` each): unit, base price, reference spend and elasticity."""

    unit: tuple[str, ...]
    price: np.ndarray
    ref_spend: np.ndarray
    elasticity: np.ndarray
    identified: np.ndarray  # [K] bool: elasticity fitted (else 0)

    def exposure(self, spend: np.ndarray, index: np.ndarray | None = None) -> np.ndarray:
        """Exposure per period bought by ``spend`` per period, ``e = u x / p_0 (1 + x/x_ref)^(-eta)``
        (:func:`budgetgym.envs.curves.exposure`): ``spend`` ``[n, K]``, or with ``index`` each element
        of ``spend`` on channel ``index`` (same shape)."""
        sel = slice(None) if index is None else np.asarray(index)
        scale = np.array([units_per_price(u) for u in self.unit]) / self.price
        return np.asarray(exposure(np.asarray(spend, dtype=float), scale[sel], self.ref_spend[sel],
                                   self.elasticity[sel]))


def reward_fields(reward: str, *, counts_conversions: bool = False) -> dict[str, str]:
    """The scenario's ``reward`` for a fit of a KPI and its ``response_unit``, written explicitly in every family:
    ``currency`` for a ``revenue`` KPI (the fitted response is the revenue itself, value 1 per unit, which
    ``budgetgym plan`` must not count as conversions; ``configs/README.md``, top level), ``conversions`` for a count
    (the default, written so that no reader has to infer it: a family without it that looks like an old revenue
    one is warned of, :func:`~budgetgym.envs.family.family_from_dict`). ``counts_conversions``: the KPI counts
    conversions whatever the reward (a conversions KPI valued by ``--revenue-per-kpi``,
    :mod:`~budgetgym.calibration.kpi_value`), recorded as ``kpi: conversions`` (a plan then reports conversions and
    CPA beside revenue)."""
    currency = reward == "revenue" and not counts_conversions
    return {"reward": reward, "response_unit": "currency" if currency else "conversions",
            **({"kpi": "conversions"} if counts_conversions else {})}


def _sig(x: float) -> float:
    """``x`` to 8 significant digits (keeps the YAML readable, far below any fit's precision)."""
    return float(f"{float(x):.8g}")


def plan_window(data: MMMData, periods: int | None = None, budget: float | None = None) -> PlanWindow:
    """The default window: ``round(91 / step_days)`` periods (a quarter: 13 weeks, 91 days, 3
    months; at most ``T``), and the spend of the data's last that many periods; it starts the period
    after the last date, at day ``days[-1] + step_days`` (module docstring)."""
    T = data.n_periods
    n = int(periods) if periods is not None else int(min(T, max(1, round(91.0 / data.step_days))))
    if n < 1 or n > MAX_HORIZON:
        raise BudgetGymError(f"--plan-periods: expected 1 to {MAX_HORIZON} periods, got {n}")
    dates = pd.DatetimeIndex(data.dates)
    nxt = next_dates(dates[-1], data.step_days, 1, month_ends(dates))[0]
    default = budget is None
    if budget is None:
        recent = data.spend[-min(n, T):].sum()
        budget = float(recent) * n / min(n, T) if recent > 0 else float(data.spend.sum()) * n / T
    if not is_amount(budget):
        if default:  # the data's spend is at fault, not an option the user gave
            raise BudgetGymError(
                f"{data.source}: the spend of {count(n, 'period')} (the default --plan-budget) is "
                f"{amount_text(budget)}, outside a scenario's budget of {AMOUNT_RANGE}; give --plan-budget or rescale "
                "the spend columns"
            )
        raise BudgetGymError(
            f"--plan-budget: expected a positive amount of currency ({AMOUNT_RANGE}), got {amount_text(budget)}"
        )
    start = float(data.days[-1] + data.step_days)  # the fit's calendar continued (module docstring)
    return PlanWindow(periods=n, budget=float(budget), start_day=start, first_date=nxt)


def fit_costs(data: MMMData) -> Costs:
    """Each channel's cost curve from its spend and exposure (module docstring); a channel with an
    exposure column but no period with both spend and exposure (no observed price), or a price or a
    reference spend outside a scenario's :data:`MIN_AMOUNT` to :data:`MAX_AMOUNT`, is a one-line error
    naming the columns."""
    K = data.n_channels
    if data.exposure is None or data.exposure_columns is None:
        big = float(min(MAX_AMOUNT, max(1e9, 1e3 * data.spend.max())))
        return Costs(("click",) * K, np.ones(K), np.full(K, big), np.zeros(K), np.zeros(K, bool))
    units, price, ref, eta, ok = [], np.zeros(K), np.zeros(K), np.zeros(K), np.zeros(K, bool)
    for i, col in enumerate(data.exposure_columns):
        unit = "click" if col is None or "click" in col.lower() else "impression"
        units.append(unit)
        x, e = data.spend[:, i], data.exposure[:, i]
        both = (x > 0) & (e > 0)
        ref[i] = float(np.median(x[x > 0])) if np.any(x > 0) else 1.0
        if col is None:  # driven by spend: exposure = spend
            price[i] = 1.0
            ref[i] = float(min(MAX_AMOUNT, max(1e9, 1e3 * x.max())))
            continue
        if not both.any():
            _unpriced(data.source, data.spend_columns[i], col, bool(np.any(x > 0)), unit)
        _check_cost(ref[i], data.source, f"column '{data.spend_columns[i]}'", "the median spend of a period with spend")
        p = units_per_price(unit) * x[both] / e[both]
        z = np.log1p(x[both] / ref[i])
        price[i] = float(np.median(p))
        if both.sum() >= 8 and np.std(z) >= 0.05:
            Z = np.column_stack([np.ones_like(z), z])
            coef, *_ = np.linalg.lstsq(Z, np.log(p), rcond=None)
            resid = np.log(p) - Z @ coef
            s2 = float(resid @ resid) / max(1, len(z) - 2)
            se = float(np.sqrt(s2 * np.linalg.inv(Z.T @ Z)[1, 1]))
            if abs(coef[1]) >= 2 * se and coef[1] > 0:
                eta[i] = min(1.0, float(coef[1]))
                price[i] = float(np.exp(np.mean(np.log(p) - eta[i] * z)))
                ok[i] = True
        per = "1000 impressions (1000 x spend / exposure)" if unit == "impression" else "click (spend / exposure)"
        _check_cost(price[i], data.source, f"columns '{data.spend_columns[i]}' and '{col}'", f"the cost per {per}")
    return Costs(tuple(units), price, ref, eta, ok)


def _unpriced(source: str, spend: str, exposure: str, spent: bool, unit: str) -> NoReturn:
    """The one-line error of a channel whose price no period shows (:func:`fit_costs`): its spend is zero
    in every period (``spent`` false: media that is not bought belongs in the controls), or never in a
    period with exposure (the columns are likely misaligned)."""
    per = "1000 impressions" if unit == "impression" else "click"
    if not spent:
        raise BudgetGymError(
            f"{source}: columns '{spend}' and '{exposure}': the spend is zero in every period, so the cost per "
            f"{per} cannot be estimated and the channel cannot be planned; give '{exposure}' as a "
            f"control (--controls) if it is not bought, or drop the channel"
        )
    raise BudgetGymError(
        f"{source}: columns '{spend}' and '{exposure}': no period has both spend and exposure, so the cost per "
        f"{per} cannot be estimated; check that the two columns are aligned"
    )


def _check_cost(value: float, source: str, columns: str, what: str) -> None:
    """A channel's price or reference spend within a scenario's :data:`MIN_AMOUNT` to :data:`MAX_AMOUNT`
    (currency), else a one-line error naming the data's ``columns`` (their units are likely off)."""
    if not MIN_AMOUNT <= value <= MAX_AMOUNT:
        raise BudgetGymError(
            f"{source}: {columns}: {what} is {value:g}, outside a scenario's {AMOUNT_RANGE} (currency); check the units"
        )


def _adstock(fit: Fit, params: dict[str, np.ndarray], i: int) -> dict[str, Any]:
    if fit.layout.adstock == "geometric":
        return {"type": "geometric", "decay": _sig(min(params["decay"][i], 0.999999))}
    return {"type": fit.layout.adstock, "shape": _sig(params["shape"][i]), "scale": _sig(params["scale"][i]),
            "window": int(fit.layout.window)}


def _delay(fit: Fit, params: dict[str, np.ndarray], i: int) -> dict[str, Any]:
    if not fit.layout.delay:
        return {"type": "none"}
    form = fit.layout.forms[i]
    lag, window = _sig(max(float(params["lag"][i]), 1e-3)), int(fit.layout.window_for(form))
    if form == "geometric":  # the fitted form: the family plans with the lag it was fitted with
        return {"type": "geometric", "mean_lag": lag, "window": window}
    return {"type": "gamma", "mean_lag": lag, "shape": DELAY_SHAPE, "window": window}


def _seasonality(fit: Fit, phi: np.ndarray | None = None) -> dict[str, Any]:
    amp, peak = fit.season(phi)
    return {"yearly_amplitude": _sig(min(amp, 0.999)), "yearly_peak": _sig(peak)}


def _saturation(fit: Fit, params: dict[str, np.ndarray], beta: np.ndarray, i: int) -> dict[str, Any]:
    b = _sig(float(cap(beta[i])))  # a draw beyond the bound: capped_draws warns
    kappa = float(np.clip(params["kappa"][i], 1e-9, 1e18))
    if fit.layout.saturation == "logistic":
        return {"type": "logistic", "max_response": b, "rate": _sig(1.0 / kappa)}
    return {"type": "hill", "max_response": b, "half_saturation": _sig(kappa), "slope": _sig(params["slope"][i])}


def check_nominal(fit: Fit, data: MMMData) -> None:
    """The one-line error for a fitted ``beta`` above a scenario's 1e12
    (:func:`~budgetgym.calibration.response_bound.refuse_nominal`; :func:`scenario_dict`), which
    ``calibrate`` also calls right after the fit, before the bootstrap's refits."""
    refuse_nominal(fit.beta, fit.channels, where=data.source, what="fitted max_response (beta)",
                   kpi=f"column '{data.kpi_name}'")


def scenario_dict(
    fit: Fit, data: MMMData, window: PlanWindow, costs: Costs, *, name: str, reward: str, value: float | None = None
) -> dict[str, Any]:
    """The point estimate as a scenario mapping (module docstring).

    A fitted ``beta`` above a scenario's 1e12 is a one-line error
    (:func:`~budgetgym.calibration.response_bound.refuse_nominal`): capped, the nominal scenario would
    earn a fraction of the fitted response at every spend (far from saturation, beta and kappa trade off
    and the bound on kappa sets beta); a KPI in larger units (thousands) scales beta down. ``value``: the
    revenue of one conversion of a conversions KPI (:mod:`~budgetgym.calibration.kpi_value`), every channel's
    ``value.mean``.
    """
    check_nominal(fit, data)
    params = fit.params()
    channels = []
    for i, ch in enumerate(fit.channels):
        channels.append({
            "name": ch,
            "description": f"spend column '{data.spend_columns[i]}'"
            + (f", exposure column '{data.driver(i)}'" if data.driver(i) != data.spend_columns[i] else ""),
            "cost": {"unit": costs.unit[i], "price": _sig(costs.price[i]), "ref_spend": _sig(costs.ref_spend[i]),
                     "elasticity": _sig(costs.elasticity[i])},
            "adstock": _adstock(fit, params, i),
            "saturation": _saturation(fit, params, fit.beta, i),
            **({"delay": _delay(fit, params, i)} if fit.layout.delay else {}),
            **({"value": {"mean": float(value)}} if value is not None else {}),
        })
    noise: dict[str, Any] = {"conversions": "none"}
    if fit.spec.likelihood == "poisson":
        noise = {"conversions": "poisson"}
    elif fit.spec.likelihood == "negative_binomial":
        noise = {"conversions": "negative_binomial", "dispersion": _sig(np.clip(fit.dispersion or 10.0, 1e-3, 1e6))}
    last = pd.Timestamp(data.dates[-1]).date()
    extra: dict[str, Any] = {"seasonality": {"demand": _seasonality(fit)}} if fit.layout.season else {}
    return {
        "name": name,
        "description": f"Calibrated on {data.source} ({count(data.n_periods, 'period')} to {last}); "
        f"plans the {count(window.periods, 'period')} from {window.first_date.date()}",
        "horizon": window.periods,
        "step_days": _sig(data.step_days),
        "start_day": window.start_day,
        # unrounded (not _sig): the last periods' spend, the plan in place, must fit the budget
        "budget": {"total": float(window.budget), "pacing": "even"},
        **reward_fields(reward, counts_conversions=value is not None),
        "noise": noise,
        **extra,
        "channels": channels,
    }


def _member(fit: Fit, phi: np.ndarray, beta: np.ndarray) -> dict[str, Any]:
    """One draw as dotted changes of the nominal scenario."""
    params = fit.params(phi)
    out: dict[str, Any] = {}
    for i, ch in enumerate(fit.channels):
        for key, value in _adstock(fit, params, i).items():
            if key not in ("type", "window"):
                out[f"channels.{ch}.adstock.{key}"] = value
        for key, value in _saturation(fit, params, beta, i).items():
            if key != "type":
                out[f"channels.{ch}.saturation.{key}"] = value
        if fit.layout.delay:
            out[f"channels.{ch}.delay.mean_lag"] = _delay(fit, params, i)["mean_lag"]
    if fit.layout.season:
        for key, value in _seasonality(fit, phi).items():
            out[f"seasonality.demand.{key}"] = value
    return out


def capped_draws(fit: Fit, draws: Draws | None) -> list[str]:
    """A warning per channel whose ``beta`` exceeds a scenario's 1e12 in some bootstrap draws
    (:func:`~budgetgym.calibration.response_bound.capped_warnings`): :func:`family_dict` caps those
    members there (the point estimate is refused by :func:`scenario_dict`)."""
    if draws is None or len(draws) < 2:
        return []
    return capped_warnings(draws.beta, fit.channels, draws="bootstrap draws", file="family.yaml")


def family_dict(
    fit: Fit, data: MMMData, draws: Draws | None, window: PlanWindow, costs: Costs, *, name: str, reward: str,
    seed: int = 0, value: float | None = None,
) -> dict[str, Any]:
    """The family mapping: the point estimate as the nominal scenario, the draws as the ensemble (``value``:
    :func:`scenario_dict`'s)."""
    out: dict[str, Any] = {
        "family": name,
        "description": f"Bootstrap draws of a fit to {data.source}",
        "seed": int(seed),
        "scenario": scenario_dict(fit, data, window, costs, name=name, reward=reward, value=value),
    }
    if draws is not None and len(draws) >= 2:
        out["ensemble"] = [_member(fit, draws.phi[n], draws.beta[n]) for n in range(len(draws))]
        out["test_fraction"] = 0.2
    return out


def history_frame(data: MMMData) -> pd.DataFrame:
    """The data's spend, a column per channel (oldest first), every period: the carry-in of the
    window (:func:`~budgetgym.envs.history.carry_in` plays only the periods that still reach it)
    and the range of spend the fit saw (the planner's ``history_max_spend``)."""
    frame = pd.DataFrame({"date": pd.DatetimeIndex(data.dates).strftime("%Y-%m-%d")})
    for i, ch in enumerate(data.channels):
        frame[ch] = data.spend[:, i]
    return frame
