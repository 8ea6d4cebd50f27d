"""Calibration invariants under any accepted dataset (hypothesis): whatever the spend pattern, scale,
noise and model options, the fit, its bootstrap draws and the exported family hold finite numbers
within the parameters' documented bounds (``calibration.transforms``: carry-over, ``u = ln(kappa /
typical)``, slope, lag and the media cycle; ``beta >= 0`` by the non-negative least squares); a dataset
with a channel spent the same in every period is refused naming it (its effect is the intercept's)."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from budgetgym.calibration import calibrate
from budgetgym.calibration.data import MIN_KPI_RANGE
from budgetgym.calibration.transforms import KAPPA_RATIO, SLOPE, THETA_MAX
from budgetgym.envs.errors import BudgetGymError
from budgetgym.envs.family import family_from_dict


@st.composite
def datasets(draw: st.DrawFn) -> tuple[pd.DataFrame, dict[str, Any]]:
    """A dataset the reader accepts and the options to fit it with: 60-80 periods (weekly, or daily
    without the media cycle, which needs a year), one or two channels at any scale (1e-2 to 1e6 a
    period) flighted on and off, spent at one level every period or spent once, a KPI of any level
    with noise of up to half of it (or none) and a response that may be absent (but not both: a KPI
    that never varies is refused, not fitted); the carry-over,
    curve, likelihood, delay, cycle and prior drawn too. Small enough for every option: ``2 x`` the
    parameters never exceeds the periods."""
    T = draw(st.integers(60, 80))
    K = draw(st.integers(1, 2))
    step = draw(st.sampled_from([7, 1]))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    spend = np.zeros((T, K))
    for i in range(K):
        scale = 10.0 ** draw(st.floats(-2.0, 6.0))
        pattern = draw(st.sampled_from(["flights", "flights", "constant", "once"]))
        on = rng.random(T) < draw(st.floats(0.1, 1.0)) if pattern == "flights" else np.full(T, pattern == "constant")
        on[draw(st.integers(0, T - 1))] = True  # a channel never spent is refused
        spend[:, i] = np.where(on, scale * (rng.uniform(0.2, 3.0, T) if pattern == "flights" else 1.0), 0.0)
    level = 10.0 ** draw(st.floats(0.0, 6.0))
    carry = np.zeros(K)
    response = np.zeros(T)
    for t in range(T):
        carry = spend[t] + 0.4 * carry
        response[t] = float(np.sum(carry / (carry + spend.max(axis=0))))
    count = draw(st.booleans())
    noise = draw(st.one_of(st.just(0.0), st.floats(0.0, 0.5)))  # 0: a noise-free (or constant) KPI
    y = level * (1.0 + draw(st.floats(0.0, 1.0)) * response + noise * rng.standard_normal(T))
    y = np.round(np.maximum(y, 0.0)) if count else y
    assume(np.ptp(y) >= MIN_KPI_RANGE)  # a KPI that never varies is refused (one line), not fitted
    frame = pd.DataFrame({"date": pd.date_range("2022-01-03", periods=T, freq=f"{step}D").strftime("%Y-%m-%d"),
                          "kpi": y, **{f"c{i}_spend": spend[:, i] for i in range(K)}})
    options = {
        "spend": [f"c{i}_spend" for i in range(K)],
        "adstock": draw(st.sampled_from(["geometric", "weibull_cdf", "weibull_pdf"])),
        "saturation": draw(st.sampled_from(["hill", "logistic"])),
        "likelihood": draw(st.sampled_from(["poisson", "negative_binomial", "gaussian"] if count else ["gaussian"])),
        "delay": draw(st.sampled_from(["none", "gamma"])),
        "media_season": draw(st.sampled_from(["none", "yearly"] if step == 7 else ["none"])),
        "prior": draw(st.sampled_from(["all", "weak", "none"])),
        "prior_draws": draw(st.booleans()),
    }
    return frame, options


def _within(lo: np.ndarray, x: np.ndarray, hi: np.ndarray) -> bool:
    return bool(np.all(np.isfinite(x)) and np.all(x >= lo) and np.all(x <= hi))


@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(case=datasets())
def test_any_accepted_dataset_gives_finite_parameters_within_their_bounds(case: tuple[pd.DataFrame, dict]) -> None:
    frame, options = case
    constant = [c for c in options["spend"] if frame[c].nunique() == 1]
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "data.csv"
        frame.to_csv(path, index=False)
        if constant:  # its effect is the intercept's: refused naming it (its beta was 0 or 8e13: seed 6)
            with pytest.raises(BudgetGymError, match=f"'{constant[-1]}'.* in every period.*cannot be told from the "
                                                     f"baseline's intercept"):
                calibrate(path, date="date", kpi="kpi", draws=3, starts=2, seed=0, plots=False, **options)
            return
        res = calibrate(path, date="date", kpi="kpi", draws=3, starts=2, seed=0, plots=False, **options)
    fit, draws = res.fit, res.draws
    lay = fit.layout
    lo, hi = lay.bounds()
    # the documented ranges, restated: carry-over within [0, 0.9 a week], u within [ln 0.05, ln 5], ...
    per = lay.split(lo), lay.split(hi)
    if lay.adstock == "geometric":
        np.testing.assert_allclose(per[0][:, 0], 0.0)
        np.testing.assert_allclose(per[1][:, 0], THETA_MAX ** (lay.step_days / 7.0))
    np.testing.assert_allclose(per[0][:, lay.n_adstock], np.log(KAPPA_RATIO[0]))
    np.testing.assert_allclose(per[1][:, lay.n_adstock], np.log(KAPPA_RATIO[1]))
    if lay.saturation == "hill":
        np.testing.assert_allclose([per[0][:, -1 - lay.delay], per[1][:, -1 - lay.delay]],
                                   [np.full(lay.n_channels, SLOPE[0]), np.full(lay.n_channels, SLOPE[1])])
    assert _within(lo, fit.phi, hi), (fit.phi, lo, hi)
    assert np.all(np.isfinite(fit.beta)) and np.all(fit.beta >= 0)
    assert np.all(np.isfinite(fit.coef)) and np.all(np.isfinite(fit.fitted)) and np.all(np.isfinite(fit.contributions))
    assert np.isfinite(fit.scale) and fit.scale >= 0
    for name, values in fit.params().items():
        assert np.all(np.isfinite(values)), name
    assert np.all(fit.params()["kappa"] > 0)
    assert draws is not None and len(draws) == 3
    for n in range(len(draws)):
        assert _within(lo, draws.phi[n], hi), (n, draws.phi[n])
    assert np.all(np.isfinite(draws.beta)) and np.all(draws.beta >= 0) and np.all(np.isfinite(draws.coef))
    assert np.all(np.isfinite(res.errors.as_dict()["rmse"]))
    # the family loads, and every member's curve and carry-over are valid campaign parameters
    fam = family_from_dict(res.family, "fit")
    for sc in [fam.nominal(), *(fam.sample(i, "train") for i in range(fam.split_size("train")))]:
        for c in sc.channels:
            assert np.isfinite(c.saturation.max_response) and c.saturation.max_response > 0
            if c.adstock.type == "geometric":
                assert 0.0 <= c.adstock.decay < 1.0
