r"""The pooled return-on-spend prior (``ModelSpec.roi_prior``, ``calibrate --roi-prior``): its rows worked by
hand, its pull on a noisy fit, its fading on noise-free data, the bootstrap's refits keeping it, and the
command line refusing a bad ``tau``."""

from __future__ import annotations

import re
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from conftest import run_cli
from mmm_synth import Truth, flighted_spend, synthesize

from budgetgym.calibration import ModelSpec, block_bootstrap, calibrate, fit_model, read_mmm_csv
from budgetgym.calibration.data import MMMData
from budgetgym.calibration.model import Fit, refit
from budgetgym.calibration.projection import Problem, RoiRows
from budgetgym.calibration.transforms import Layout
from budgetgym.envs.errors import BudgetGymError

T = 156
SPEND = ["c0_spend", "c1_spend", "c2_spend"]


def _truth() -> Truth:
    # returns on spend far apart: c0 about 3x c1's, c2 in between
    return Truth(beta=np.array([9000.0, 6000.0, 2500.0]), kappa=np.array([1500.0, 9000.0, 900.0]),
                 slope=np.array([0.8, 1.4, 1.2]), theta=np.array([0.25, 0.5, 0.1]))


def _returns(fit: Fit, beta: np.ndarray | None = None, phi: np.ndarray | None = None) -> np.ndarray:
    """Each channel's return on its data spend, by the definition: contribution over the periods / spend
    (spend drives the response here, so the problem's media are the spend)."""
    contrib = fit.contributions_of(fit.phi if phi is None else phi, fit.beta if beta is None else beta)
    return np.asarray(contrib.sum(axis=0) / fit.problem.media.sum(axis=0))


def test_rows_by_hand() -> None:
    """Spend (4, 6, 0), weight 0.5, summed features m = (2, 3, 5): rows 0.5 * 2/4 = 0.25 on beta_0 and
    0.5 * 3/6 = 0.25 on beta_1, -0.5 on the pooled return; the unspent third channel has no row."""
    rows = RoiRows(spend=np.array([4.0, 6.0, 0.0]), weight=0.5)
    assert len(rows) == 2
    np.testing.assert_array_equal(rows.rows(np.array([2.0, 3.0, 5.0])),
                                  [[0.25, 0.0, 0.0, -0.5], [0.0, 0.25, 0.0, -0.5]])


def test_solve_with_roi_rows_by_hand() -> None:
    r"""Two channels, no carry-over, ``kappa`` = the median nonzero exposure, slope 1: ``h(e) = e / (m + e)``.
    With :math:`c_i = m_i / S_i` (:math:`m_i = \sum_t h_{t,i}`), the minimiser of
    :math:`\lVert \tilde y - \tilde H \beta \rVert^2 + w^2 \sum_i (c_i \beta_i - \bar r)^2` (interior) solves
    the normal equations :math:`(\tilde H^\top \tilde H + w^2 \mathrm{diag}(c^2)) \beta - w^2 c \bar r =
    \tilde H^\top \tilde y`, :math:`-w^2 c^\top \beta + 2 w^2 \bar r = 0`, written out here (the residual on
    the baseline by least squares, not the code's QR); the pooled return is then the channels' mean return,
    and the stacked residual's prior rows (target 0 minus the row), :math:`w (\bar r - c_i \beta_i)`, sum to zero."""
    lay = Layout("geometric", "hill", 2, 8, 7.0)
    e = np.array([[0.0, 50.0], [120.0, 0.0], [80.0, 40.0], [0.0, 90.0], [200.0, 0.0], [150.0, 60.0],
                  [0.0, 0.0], [60.0, 30.0], [300.0, 0.0], [90.0, 120.0], [0.0, 80.0], [40.0, 20.0]])
    n = len(e)
    ref = np.array([float(np.median(e[e[:, i] > 0, i])) for i in range(2)])
    H = e / (ref + e)
    B = np.column_stack([np.ones(n), np.arange(n) / 52.0])
    y = 500.0 + 2.0 * np.arange(n) + 400.0 * H[:, 0] + 60.0 * H[:, 1] + np.array(
        [3.0, -5.0, 8.0, -2.0, 4.0, -7.0, 1.0, 6.0, -3.0, 2.0, -4.0, 5.0])
    S, w = e.sum(axis=0), 30.0
    prob = Problem(lay, e, ref, B, 7.0 * np.arange(n), np.ones(n), np.array([False, False]),
                   roi=RoiRows(spend=S, weight=w))
    phi = np.array([0.0, 0.0, 1.0, 0.0, 0.0, 1.0])

    def resid(v: np.ndarray) -> np.ndarray:
        return v - B @ np.linalg.lstsq(B, v, rcond=None)[0]

    Ht, yt, c = resid(H), resid(y), H.sum(axis=0) / S
    N = np.zeros((3, 3))
    N[:2, :2] = Ht.T @ Ht + w**2 * np.diag(c**2)
    N[:2, 2] = N[2, :2] = -(w**2) * c
    N[2, 2] = 2 * w**2
    beta_r = np.linalg.solve(N, np.concatenate([Ht.T @ yt, [0.0]]))
    assert (beta_r > 0).all()
    beta, rbar = beta_r[:2], beta_r[2]
    H_got, beta_got, r = prob.solve(phi, prob.target(y))
    np.testing.assert_allclose(H_got, H, rtol=1e-12)
    np.testing.assert_allclose(beta_got, beta, rtol=1e-8)
    assert rbar == pytest.approx(np.mean(c * beta), rel=1e-10)
    np.testing.assert_allclose(r, np.concatenate([yt - Ht @ beta, w * (rbar - c * beta)]), rtol=1e-7, atol=1e-7)
    assert r[n:].sum() == pytest.approx(0.0, abs=1e-8)
    # without the rows the returns are further apart: the prior pulls them together
    free = replace(prob, roi=None).solve(phi, prob.project(y))[1]
    assert np.ptp(c * free) > np.ptp(c * beta_got)


def _noisy(tmp_path: Path, noise_sd: float = 400.0) -> tuple[Truth, MMMData]:
    spend = flighted_spend(T, [1000.0, 3000.0, 500.0], np.random.default_rng(4))
    truth = synthesize(tmp_path / "d.csv", _truth(), spend, noise_sd=noise_sd, seed=2)
    return truth, read_mmm_csv(tmp_path / "d.csv", date="date", kpi="revenue", spend=SPEND)


def test_strong_prior_pools_the_returns_and_refits_keep_it(tmp_path: Path) -> None:
    """On noisy data whose channels' true returns differ by about 3x, a tight prior (tau = 0.01) brings the
    fitted returns within a few % of each other; the fit without it keeps them apart. A refit of the fit's own
    KPI from its estimate stays there (the rows are the refit's problem too; without them it moves), and the
    bootstrap's draws are coefficients of the K channels alone, their returns pooled like the fit's."""
    _, data = _noisy(tmp_path)
    free = fit_model(data, ModelSpec(starts=2), seed=0)
    tight = fit_model(data, ModelSpec(starts=2, roi_prior=0.01, roi_prior_form="linear"), seed=0)
    r_free, r_tight = _returns(free), _returns(tight)
    assert r_free.max() / r_free.min() > 2.0
    assert r_tight.max() / r_tight.min() < 1.05
    assert tight.problem.roi is not None and free.problem.roi is None
    np.testing.assert_allclose(refit(tight, tight.y)[1], tight.beta, rtol=1e-3)
    loose = replace(tight, problem=replace(tight.problem, roi=None))
    phi_l, beta_l, _ = refit(loose, tight.y)
    r_l = _returns(tight, beta_l, phi_l)
    assert r_l.max() / r_l.min() > 1.2
    draws = block_bootstrap(tight, 4, seed=0)
    assert draws.beta.shape == (4, 3)
    spread = [(lambda r: r.max() / r.min())(_returns(tight, draws.beta[k], draws.phi[k])) for k in range(4)]
    assert max(spread) < 1.1


def test_noise_free_fit_is_exact_with_the_prior(tmp_path: Path) -> None:
    """Noise-free data from the model itself: with the prior (tau = 0.5) the fit still recovers every
    parameter, as without it: the rows are weighted by the residual scale, which is rounding here."""
    truth = synthesize(tmp_path / "d.csv", _truth(), flighted_spend(T, [1000.0, 3000.0, 500.0],
                                                                    np.random.default_rng(1)))
    data = read_mmm_csv(tmp_path / "d.csv", date="date", kpi="revenue", spend=SPEND)
    fit = fit_model(data, ModelSpec(prior="weak", roi_prior=0.5, roi_prior_form="linear"), seed=0)
    assert fit.problem.roi is not None
    np.testing.assert_allclose(fit.beta, truth.beta, rtol=1e-4)
    np.testing.assert_allclose(fit.params()["decay"], truth.theta, atol=1e-5)
    np.testing.assert_allclose(fit.contributions, truth.contributions, rtol=1e-5, atol=1e-3)


@pytest.mark.parametrize("tau", ["0", "-1", "nan", "inf", "abc"])
def test_bad_roi_prior_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str], tau: str) -> None:
    """``--roi-prior`` not a positive finite number: exit 2, one line naming the option, nothing written."""
    _noisy(tmp_path)
    code, _, err = run_cli(capsys, "calibrate", str(tmp_path / "d.csv"), "--date", "date", "--kpi", "revenue",
                           "--spend", ",".join(SPEND), "--draws", "0", "--roi-prior", tau, "--out",
                           str(tmp_path / "out"))
    assert code == 2 and len(err.strip().splitlines()) == 1, err
    assert "--roi-prior" in err and "Traceback" not in err and not (tmp_path / "out").exists()
    if tau != "abc":
        assert re.search(r"expected a positive number .*got " + re.escape(str(float(tau))), err), err
        with pytest.raises(BudgetGymError, match="--roi-prior"):
            calibrate(tmp_path / "d.csv", date="date", kpi="revenue", spend=",".join(SPEND), draws=0,
                      roi_prior=float(tau))


def test_cli_roi_prior_reaches_the_fit(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """``--roi-prior 0.5 --roi-prior-form linear`` is the fit's: fit.md says the returns are pooled, with the sd."""
    _noisy(tmp_path)
    code, _, err = run_cli(capsys, "calibrate", str(tmp_path / "d.csv"), "--date", "date", "--kpi", "revenue",
                           "--spend", ",".join(SPEND), "--draws", "0", "--no-plots",
                           "--roi-prior", "0.5", "--roi-prior-form", "linear", "--out", str(tmp_path / "out"))
    assert code == 0, err
    assert "return on spend pooled (prior sd 0.5 of the pooled return)" in (tmp_path / "out" / "fit.md").read_text(
        encoding="utf-8")
