"""The bootstrap's intervals are honest: each refit reaches its replicate's optimum (a Weibull carry-over
or a conversion delay needs more evaluations than a geometric carry-over alone), and an estimate at a
bound of its range lies inside its own interval."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from mmm_synth import Truth, flighted_spend, synthesize

from budgetgym.calibration import ModelSpec, block_bootstrap, fit_model, read_mmm_csv
from budgetgym.calibration.diagnostics import parameter_table
from budgetgym.calibration.model import REFIT_TOL
from budgetgym.calibration.uncertainty import Draws

T = 104


def _data(tmp_path: Path, seed: int = 0):  # type: ignore[no-untyped-def]
    """Two channels with geometric carry-over (0.5 and 0.2) and Hill curves, Gaussian noise of sd 300:
    a Weibull carry-over fitted to it leaves its shape and scale on a long, curved ridge."""
    truth = Truth(beta=np.array([6000.0, 4000.0]), kappa=np.array([4000.0, 3000.0]), slope=np.array([1.2, 0.9]),
                  theta=np.array([0.5, 0.2]))
    spend = flighted_spend(T, [1000.0, 800.0], np.random.default_rng(seed))
    synthesize(tmp_path / "d.csv", truth, spend, noise_sd=300.0, seed=seed)
    return _read(tmp_path)


def _read(tmp_path: Path):  # type: ignore[no-untyped-def]
    return read_mmm_csv(tmp_path / "d.csv", date="date", kpi="revenue", spend=["c0_spend", "c1_spend"])


@pytest.mark.parametrize(("adstock", "delay", "seed"),
                         [("weibull_pdf", False, 0), ("weibull_cdf", False, 0), ("geometric", True, 3)])
def test_ridge_refits_reach_their_optimum(
    tmp_path: Path, refit_replicates: list[np.ndarray], adstock: str, delay: bool, seed: int
) -> None:
    """Every bootstrap draw of a fit with a Weibull carry-over or a conversion delay is its replicate's
    optimum: the draw equals a least-squares run from the same start (the point estimate) with no cap on
    its evaluations. Stopped after 20 evaluations, as geometric refits without a delay are, one to six of
    these eight refits ended short of it, nearer the point estimate (on issue 11's benchmark data up to 54%
    of the Weibull refits, and a shape's 90% interval was half as wide as the converged refits')."""
    seen = refit_replicates
    spec = ModelSpec(adstock=adstock, fourier=0, starts=1, delay=delay)  # type: ignore[arg-type]
    fit = fit_model(_data(tmp_path, seed), spec, seed=0)
    draws = block_bootstrap(fit, 8, seed=0)
    assert len(seen) == 8
    free = np.array([fit.problem.fit(y, fit.phi, REFIT_TOL, 10_000)[0] for y in seen])
    np.testing.assert_allclose(draws.phi, free, rtol=0, atol=1e-9)


def test_an_estimate_at_its_bound_is_inside_its_interval(tmp_path: Path) -> None:
    """A Weibull shape fitted at its upper bound 2 (CDF) and a scale at its lower bound 0.3: the optimiser
    stops within rounding of a bound (2 - 2e-16 for the point fit, 2 - 1.7e-10 for the refits, which keep
    strictly inside), and the 95th percentile of draws all at the bound was 1.7e-10 below an estimate at it
    (the estimate outside its own interval). A value within 1e-9 of its range of a bound is that bound."""
    fit = fit_model(_data(tmp_path), ModelSpec(adstock="weibull_cdf", fourier=0, starts=1), seed=0)
    lo, hi = fit.layout.bounds()
    phi = fit.phi.copy()
    phi[0], phi[1] = hi[0] - 2e-16 * hi[0], lo[1] + 1e-15  # channel c0: shape, scale at their bounds
    fit = replace(fit, phi=phi)
    n = 10
    draws_phi = np.tile(phi, (n, 1))
    draws_phi[:, 0] = np.linspace(hi[0] - 0.5, hi[0] - 1.7e-10, n)
    draws_phi[-3:, 0] = hi[0] - 1.7e-10  # the top 30%: at the bound, to the refits' rounding
    draws_phi[:, 1] = np.linspace(lo[1] + 9e-11, lo[1] + 2.0, n)
    draws_phi[:3, 1] = lo[1] + 9e-11
    draws = Draws(phi=draws_phi, beta=np.tile(fit.beta, (n, 1)), coef=np.tile(fit.coef, (n, 1)), block_length=5,
                  seconds=0.0)
    table = parameter_table(fit, _read(tmp_path), draws).set_index(["channel", "parameter"])
    shape, scale = table.loc[("c0", "shape")], table.loc[("c0", "scale")]
    assert shape["estimate"] == hi[0] and shape["high"] == hi[0] and shape["low"] < hi[0] - 0.4
    assert scale["estimate"] == lo[1] and scale["low"] == lo[1] and scale["high"] > lo[1] + 1.0
    assert shape["low"] <= shape["estimate"] <= shape["high"] and scale["low"] <= scale["estimate"] <= scale["high"]

