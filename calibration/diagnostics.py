r"""How good a fit is: error metrics, the parameter table with intervals, and warnings.

* **Errors** over periods with the KPI: :math:`R^2 = 1 - \sum (y-\hat\mu)^2 / \sum (y - \bar y)^2`,
  WAPE :math:`= 100 \cdot \sum |y - \hat\mu| / \sum |y|` (the absolute error as a share of the KPI's
  total: one period near 0 cannot blow it up), MAPE :math:`= 100 \cdot \mathrm{mean}\,|y - \hat\mu| / |y|`
  (periods with ``y != 0``; *meaningful* only when every :math:`|y_t| \ge` :data:`MAPE_FLOOR`
  :math:`\cdot\, \mathrm{mean}\,|y|`: a revenue of -5 in a week among weeks of 250k made it 39,000%), RMSE.
* **Outliers and a negative KPI**, the periods to look at before trusting a fit: :func:`outlier_warning`,
  :func:`negative_kpi_warning` and :func:`robust_z`, in :mod:`budgetgym.calibration.period_warnings` (and
  importable from here).
* **Parameters** per channel with their 90% bootstrap intervals (5th and 95th percentiles of
  the draws; with at least 2 draws; a percentile interval, which a skewed or biased bootstrap can leave
  beside the estimate, e.g. a quantity that curves in the parameters, and, rarely, a nonlinear parameter's
  too: a simulated seasonal-5 of 200 days left video's ``kappa`` and slope outside their intervals of 40 draws,
  which :func:`outside_interval_warning` names; a value at its bound to rounding is
  the bound, :func:`at_bounds`): the carry-over's, ``kappa``, the Hill slope, ``beta``, and
  two quantities the data pin down better than each parameter: the **response at typical
  exposure** :math:`\beta_i h_i(\bar w_i m_i)` (KPI per period when the channel's median nonzero
  exposure is sustained) and the channel's **contribution** over the data (sum of
  :math:`\beta_i h_i(a_{t,i})` on the data's own spend, and per unit of spend; its interval from
  each draw's parameters on the same spend: the uncertainty of the curves, not of the spend).
* **Warnings** (those on the draws only with at least 10 draws): a parameter is *not identified*
  when its 90% interval spans more than 80% of its range (on the fitted scale: ``decay``,
  ``ln(kappa / typical)``, slope; ``beta`` when its interval spans a factor of more than 10); an estimate sits *at
  a bound* (the media seasonality's ``a, b`` in [-0.5, 0.5] too); two parameters trade off
  (correlation of their draws beyond ±0.9, on the fitted scale: ``ln beta``, the carry-over's,
  ``ln(kappa / typical)`` with typical the channel's adstocked exposure, slope — the adstock-saturation
  trade-off: then only a combination, such as the response at typical exposure, is identified; in
  absolute units ``ln kappa`` moves with the decay through the adstock's weight sum even where the
  curve of the exposure does not, which is no trade-off); the fit is poor (R² < 0.5,
  standardised residuals with lag-1 autocorrelation
  above 0.5, a Poisson fit with dispersion above 2, a held-out MAPE more than twice the in-sample
  MAPE of the fit that made the forecast — the fit without the held-out periods — and 5 points
  above it: :math:`\mathrm{MAPE}_{out} > \max(2\, \mathrm{MAPE}_{in}, \mathrm{MAPE}_{in} + 5)`
  (the WAPEs instead when either MAPE is not meaningful);
  the fit of all periods is no yardstick, it has seen the held-out periods and bends to them); a
  channel spent in few periods, or the same in every period (its contribution a constant the
  baseline's intercept absorbs, so its lift tests, which such a channel needs to be fitted at all, and the
  prior shape its curve: :func:`~budgetgym.calibration.data.check_varying_channels`), or in (almost)
  every period at a steady level (exposure positive in at least 95% of the periods, coefficient of
  variation below 0.5: :data:`STEADY_SHARE`, :data:`STEADY_CV`; only its response's slope around the
  typical spend is identified, and its contribution's level trades with the intercept, so its interval
  can miss with no other warning; a lift test or a holdout, periods with the channel off, pins it).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import pandas as pd

from budgetgym.calibration.data import MMMData, constant_channels
from budgetgym.calibration.model import Fit
from budgetgym.calibration.period_warnings import (
    MAD_SD,
    OUTLIER_LIST,
    OUTLIER_Z,
    negative_kpi_warning,
    outlier_warning,
    robust_z,
)
from budgetgym.calibration.uncertainty import Draws

__all__ = ["BOUND_RTOL", "MAD_SD", "MAPE_FLOOR", "OUTLIER_LIST", "OUTLIER_Z", "Errors", "at_bounds", "errors",
           "negative_kpi_warning", "outlier_warning", "outside_interval_warning", "parameter_table", "robust_z",
           "typical_response", "warnings_for"]

LEVELS = (5.0, 95.0)
#: Intervals need at least this many draws; the checks of identification (not identified, trade-offs)
#: at least :data:`MIN_CHECK_DRAWS`.
MIN_INTERVAL_DRAWS = 2
MIN_CHECK_DRAWS = 10
#: A fitted nonlinear parameter within this share of its range of a bound is at that bound
#: (:func:`at_bounds`): the trust region keeps its iterates strictly inside, and a Weibull shape fitted
#: at its bound 2 read 2 - 2e-16 in the point fit and 2 - 1.7e-10 in the refits, so an interval of draws
#: at the bound ended 1.7e-10 below an estimate at it.
BOUND_RTOL = 1e-9
#: A channel whose exposure is positive in at least this share of the periods and whose coefficient of
#: variation over them is below :data:`STEADY_CV` is warned of (:func:`warnings_for`): what tells a
#: channel's level from the intercept is its periods at no or low spend, and such a channel has neither;
#: its response varies about linearly around the typical spend, so only the slope there is identified.
#: On issue 11's benchmark data (retail-5-family, 20 draws x 5 channels) the 35 always-on channels are
#: spent in every period with coefficients of variation 0.25-0.39 (their log level's sd is 0.3), and the
#: 65 others are dark in 12% of the periods or more.
STEADY_SHARE = 0.95
STEADY_CV = 0.5
#: MAPE is meaningful (:class:`Errors`) only when every period's ``|y|`` is at least this share of the
#: KPI's mean ``|y|``: a period near 0 weighs ``1 / |y_t|`` and drowns the others (fit.md and the CLI then
#: say n/a and show the WAPE, which weighs every period by the KPI's total).
MAPE_FLOOR = 0.05
@dataclass(frozen=True)
class Errors:
    """Fit errors over some periods (module docstring); percentages in %. ``mape_ok``: MAPE is
    meaningful, every ``|y_t|`` at least :data:`MAPE_FLOOR` of the mean ``|y|``."""

    n: int
    r2: float
    mape: float
    rmse: float
    wape: float
    mape_ok: bool

    def as_dict(self) -> dict[str, float]:
        return {"periods": self.n, "r2": self.r2, "mape_pct": self.mape, "rmse": self.rmse, "wape_pct": self.wape,
                "mape_meaningful": self.mape_ok}

    def relative(self) -> str:
        """``MAPE 1.11%, WAPE 1.09%``; ``WAPE 2.80% (MAPE n/a: a period's KPI near 0)`` when MAPE is not
        meaningful (the CLI's summary line)."""
        if self.mape_ok or np.isnan(self.wape):
            return f"MAPE {self.mape:.2f}%, WAPE {self.wape:.2f}%"
        return f"WAPE {self.wape:.2f}% (MAPE n/a: a period's KPI near 0)"


def errors(y: np.ndarray, mu: np.ndarray) -> Errors:
    r"""R², MAPE (%), RMSE and WAPE (%) of ``mu`` against ``y`` (module docstring).

    .. math:: \mathrm{WAPE} = 100 \sum_t |y_t - \mu_t| / \sum_t |y_t|, \qquad
              \mathrm{MAPE} = \frac{100}{|T_{y \ne 0}|} \sum_{t: y_t \ne 0} |y_t - \mu_t| / |y_t|

    MAPE is meaningful (``mape_ok``) when :math:`\min_t |y_t| \ge` :data:`MAPE_FLOOR`
    :math:`\cdot\, \mathrm{mean}_t |y_t|`; either is NaN when the KPI is 0 throughout.
    """
    resid = y - mu
    tot = float(np.sum((y - y.mean()) ** 2))
    nz = y != 0
    size = np.abs(y)
    total = float(size.sum())
    return Errors(
        n=len(y),
        r2=1.0 - float(resid @ resid) / tot if tot > 0 else float("nan"),
        mape=100.0 * float(np.mean(np.abs(resid[nz]) / size[nz])) if nz.any() else float("nan"),
        rmse=float(np.sqrt(np.mean(resid**2))),
        wape=100.0 * float(np.abs(resid).sum()) / total if total > 0 else float("nan"),
        mape_ok=total > 0 and bool(size.min() >= MAPE_FLOOR * size.mean()),
    )


def typical_response(fit: Fit, phi: np.ndarray | None = None, beta: np.ndarray | None = None) -> np.ndarray:
    """``[K]`` response at typical exposure (module docstring), KPI per period."""
    return fit.curve(fit.ref[None, :], phi, beta)[0]


def at_bounds(fit: Fit, phi: np.ndarray) -> np.ndarray:
    """``phi`` with each value within :data:`BOUND_RTOL` of its range of a bound set to that bound (the
    parameter table's estimates and draws: an estimate at a bound lies inside its interval)."""
    lo, hi = fit.layout.bounds()
    tol = BOUND_RTOL * (hi - lo)
    return np.where(phi - lo <= tol, lo, np.where(hi - phi <= tol, hi, phi))


def _draw_values(fit: Fit, draws: Draws) -> dict[str, np.ndarray]:
    """Per parameter ``[N, K]`` values of every draw."""
    out: dict[str, list[np.ndarray]] = {}
    for n in range(len(draws)):
        for key, value in fit.params(at_bounds(fit, draws.phi[n])).items():
            out.setdefault(key, []).append(value)
        out.setdefault("beta", []).append(draws.beta[n])
        out.setdefault("typical_response", []).append(typical_response(fit, draws.phi[n], draws.beta[n]))
        out.setdefault("contribution", []).append(fit.contributions_of(draws.phi[n], draws.beta[n]).sum(axis=0))
    return {k: np.array(v) for k, v in out.items()}


def parameter_table(fit: Fit, data: MMMData, draws: Draws | None) -> pd.DataFrame:
    """One row per channel and quantity: ``estimate``, ``low``, ``high`` (90% interval; NaN
    without draws) and the unit."""
    point = {**fit.params(at_bounds(fit, fit.phi)), "beta": fit.beta, "typical_response": typical_response(fit)}
    sampled = _draw_values(fit, draws) if draws is not None and len(draws) >= MIN_INTERVAL_DRAWS else {}
    units = {"decay": "per period", "shape": "", "scale": "periods", "slope": "", "lag": "periods",
             "beta": "KPI per period", "typical_response": "KPI per period"}
    rows = []
    for i, ch in enumerate(fit.channels):
        driven = data.driver(i) != data.spend_columns[i]
        # on the adstocked scale: a constant spend x carries over to x times the carry-over's weight sum
        units["kappa"] = f"{'exposure' if driven else 'currency'} per period, adstocked (carry-over included)"
        for key, est in point.items():
            lo = hi = float("nan")
            if key in sampled:
                lo, hi = (float(v) for v in np.percentile(sampled[key][:, i], LEVELS))
            # a geometric lag's form named (no parameter of its own); the gamma's unit stays as it was
            unit = units[key] + (" (geometric lag)" if key == "lag" and fit.layout.forms[i] == "geometric" else "")
            rows.append({"channel": ch, "parameter": key, "estimate": float(est[i]), "low": lo, "high": hi,
                         "unit": unit})
        contrib = float(fit.contributions[:, i].sum())
        spend = float(data.spend[:, i].sum())
        lo = hi = float("nan")
        if "contribution" in sampled:
            lo, hi = (float(v) for v in np.percentile(sampled["contribution"][:, i], LEVELS))
        per = 1.0 / spend if spend else float("nan")
        rows.append({"channel": ch, "parameter": "contribution", "estimate": contrib, "low": lo, "high": hi,
                     "unit": "KPI over the data"})
        rows.append({"channel": ch, "parameter": "contribution_per_spend", "estimate": contrib * per,
                     "low": lo * per, "high": hi * per, "unit": "KPI per currency"})
    return pd.DataFrame(rows)


def outside_interval_warning(table: pd.DataFrame, draws: int) -> list[str]:
    """A line per channel whose estimate of a parameter lies outside its own 90% interval in ``table``
    (:func:`parameter_table`; ``draws`` bootstrap draws, checked from :data:`MIN_CHECK_DRAWS`): ``fit.md`` showed
    ``kappa 20,148 (23,240 to 189,092)`` with nothing said, which reads as a typo. The percentile interval is where
    the refits settled, beside the estimate for a skewed or biased bootstrap (module docstring)."""
    if draws < MIN_CHECK_DRAWS:
        return []
    out = []
    for ch, rows in table.groupby("channel", sort=False):
        est, lo, hi = (rows[c].to_numpy(float) for c in ("estimate", "low", "high"))
        tol = 1e-9 * np.maximum(np.abs(est), 1e-300)
        off = np.isfinite(lo) & np.isfinite(hi) & ((est < lo - tol) | (est > hi + tol))
        if not off.any():
            continue
        parts = [f"{name} {e:.4g} ({lo_:.4g} to {hi_:.4g})"
                 for name, e, lo_, hi_ in zip(rows["parameter"][off], est[off], lo[off], hi[off], strict=True)]
        out.append(f"{ch}: the estimate lies outside its 90% interval for {'; '.join(parts)}: the bootstrap's "
                   f"refits settle away from the fit there (a skewed or biased bootstrap, a flat likelihood), so that "
                   f"interval is not a range around the estimate; the channel's curve band (curves.png) and its other "
                   f"rows say more")
    return out


def _autocorr(r: np.ndarray) -> float:
    r = r - r.mean()
    den = float(r @ r)
    return float(r[1:] @ r[:-1]) / den if den > 0 else 0.0


#: What a geometric decay at its lower bound 0 means, after its warning: an estimate, not a failure of the fit.
NO_CARRY_OVER = (": no carry-over into the next period is found (the effect ends within a period, as a fast "
                 "channel's may; its 90% interval says how much the data allow)")


def _label(name: str, kappa: str) -> str:
    """A fitted parameter's name as the parameter table has it (``theta`` is ``decay``); ``u``, the
    fitted ``ln(kappa / typical)``, as ``kappa`` says."""
    return kappa if name == "u" else {"theta": "decay"}.get(name, name)


def _channel_parameters(fit: Fit) -> Iterator[tuple[int, str, str]]:
    """``(j, channel, name)`` of each per-channel fitted parameter, ``j`` its index in ``fit.phi`` (the media
    seasonality's ``a``, ``b`` come after them and belong to no channel)."""
    per, names = fit.layout.per_channel, fit.layout.names()
    for j in range(per * fit.layout.n_channels):
        yield j, fit.channels[j // per], names[j % per]


def _at_bound(value: float, lo: float, hi: float) -> float | None:
    """The bound of ``[lo, hi]`` that ``value`` sits at, within ``1e-4 (hi - lo)`` of it, or ``None`` (inside
    the range, or a range of no width). The bound itself, so a warning says ``decay = 0``, not ``5.24e-42``."""
    span = hi - lo
    if not span > 0 or min(value - lo, hi - value) >= 1e-4 * span:
        return None
    return lo if value - lo <= hi - value else hi


def warnings_for(
    fit: Fit, draws: Draws | None, insample: Errors, holdout: Errors | None = None, *,
    holdout_insample: Errors | None = None,
) -> list[str]:
    """Everything a user should look at before trusting the fit (module docstring).

    Parameters
    ----------
    fit, draws : the fit and its bootstrap draws (``None``: no draws).
    insample : errors of ``fit`` on its periods.
    holdout : errors of the forecast of the held-out periods.
    holdout_insample : in-sample errors of the fit that made that forecast (the fit without the
        held-out periods), which the held-out MAPE is compared with; default ``insample``.
    """
    out: list[str] = []
    lo, hi = fit.layout.bounds()
    names = fit.layout.names()
    per = fit.layout.per_channel
    span = hi - lo
    for j, ch, name in _channel_parameters(fit):
        if (at := _at_bound(float(fit.phi[j]), lo[j], hi[j])) is not None:
            what = NO_CARRY_OVER if name == "theta" and at == 0 else ""
            out.append(f"{ch}: {_label(name, 'ln(kappa / typical)')} = {at:.3g} is at its bound "
                       f"[{lo[j]:.3g}, {hi[j]:.3g}]{what}")
    if fit.layout.season:  # a, b after the channels: a coefficient at its bound clips the cycle the family plans with
        for j, (name, term) in enumerate((("a", "cos"), ("b", "sin")), start=per * fit.layout.n_channels):
            if (at := _at_bound(float(fit.phi[j]), lo[j], hi[j])) is not None:
                out.append(f"media seasonality: {name} = {at:.3g} (its yearly {term} coefficient) is at its bound "
                           f"[{lo[j]:.3g}, {hi[j]:.3g}]")
    if draws is not None and len(draws) >= MIN_CHECK_DRAWS:
        q = np.percentile(draws.phi, LEVELS, axis=0)
        for j, ch, name in _channel_parameters(fit):
            label = _label(name, "kappa")
            if span[j] > 0 and q[1, j] - q[0, j] > 0.8 * span[j]:
                out.append(f"{ch}: {label} is not identified (its 90% interval covers "
                           f"{100 * (q[1, j] - q[0, j]) / span[j]:.0f}% of its range)")
        bq = np.percentile(draws.beta, LEVELS, axis=0)
        for i, ch in enumerate(fit.channels):
            if bq[0, i] <= 0 or bq[1, i] / bq[0, i] > 10:
                ratio = "from 0" if bq[0, i] <= 0 else f"a factor {bq[1, i] / bq[0, i]:.0f}"
                out.append(f"{ch}: beta (max_response) is poorly identified (its 90% interval spans {ratio})")
            logs = np.column_stack([np.log(np.maximum(draws.beta[:, i], 1e-300)),
                                    draws.phi[:, i * per:(i + 1) * per]])
            labels = ["ln beta"] + [_label(n, "ln(kappa / typical)") for n in names]  # the fitted u, not ln kappa
            sd = logs.std(axis=0)
            keep = sd > 1e-12
            if keep.sum() >= 2:
                c = np.corrcoef(logs[:, keep].T)
                idx = np.flatnonzero(keep)
                for a in range(len(idx)):
                    for b in range(a + 1, len(idx)):
                        if abs(c[a, b]) > 0.9:
                            out.append(f"{ch}: {labels[idx[a]]} and {labels[idx[b]]} trade off (correlation "
                                       f"{c[a, b]:+.2f} across draws): only a combination of them is identified")
    for i, ch in enumerate(fit.channels):
        share = float(np.mean(fit.problem.media[:, i] > 0))
        if share < fit.spec.weak_share:
            out.append(f"{ch}: spent in only {100 * share:.0f}% of periods"
                       + (": a mild prior keeps its kappa near its typical exposure and its slope near 1"
                          if fit.weak[i] else " and fitted without a prior (--prior none): check its curve"))
    tested = set() if fit.problem.lift is None else {int(i) for i in fit.problem.lift.index}
    constant = constant_channels(fit.problem.media)
    for i, ch in enumerate(fit.channels):
        if constant[i]:  # fitted only with a lift test of it (data.check_varying_channels); never spent is refused
            prior = "the prior and " if fit.weak[i] else ""
            out.append(f"{ch}: spent the same in every period, so its level cannot be told from the baseline's "
                       f"intercept: its curve comes from {prior}its lift tests")
    for i, ch in enumerate(fit.channels):
        media = fit.problem.media[:, i]
        share, mean = float(np.mean(media > 0)), float(np.mean(media))
        cv = float(np.std(media)) / mean
        if share >= STEADY_SHARE and cv < STEADY_CV and not constant[i]:  # that one is warned of above
            pin = ("its lift tests pin it where they measure" if i in tested
                   else "a lift test or a holdout (periods with the channel off) would pin it")
            out.append(f"{ch}: spent in {100 * share:.0f}% of periods at a steady level (coefficient of variation "
                       f"{cv:.2f} < {STEADY_CV:g}): only its response's slope around the typical spend is identified, "
                       f"and its total contribution trades with the baseline's intercept (weakly identified: its "
                       f"interval may miss); {pin}")
    if insample.r2 < 0.5:
        out.append(f"poor fit: R² = {insample.r2:.2f} (< 0.5); add controls or check the KPI and spend columns"
                   + ("" if fit.problem.lift is None else ", and that the lift tests' delta_y is the KPI's change "
                      "per period (a test the fit meets can still pull it from the data)"))
    rho = _autocorr(fit.residuals / np.sqrt(fit.variance))
    if rho > 0.5:
        out.append(f"residuals are autocorrelated (lag-1 {rho:.2f} > 0.5): the baseline or carry-over misses "
                   f"something; intervals may be too narrow")
    if fit.spec.likelihood == "poisson" and fit.scale > 2:
        out.append(f"overdispersed counts (Pearson dispersion {fit.scale:.1f} > 2): use --likelihood negative_binomial")
    base = insample if holdout_insample is None else holdout_insample
    if holdout is not None:
        name, held, fitted = (("MAPE", holdout.mape, base.mape) if holdout.mape_ok and base.mape_ok
                              else ("WAPE", holdout.wape, base.wape))
        if held > max(2 * fitted, fitted + 5):
            out.append(f"held-out {name} {held:.1f}% is far above the in-sample {fitted:.1f}% of the fit "
                       f"without those periods: the model may not forecast (overfit, or the baseline changes)")
    return out
