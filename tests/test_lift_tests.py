"""Lift tests (``calibrate(..., lift_tests=...)``, ``simulate_dataset(..., lift_tests=N)``): they
recover a response the data cannot identify, the simulated lift is the steady state by hand, bad
files fail in one line before anything is written, and the bootstrap redraws the measurements."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import run_cli
from mmm_synth import Truth, flighted_spend, synthesize

from budgetgym.calibration import calibrate
from budgetgym.envs import scenario_from_dict
from budgetgym.experiments.simulate import LIFT_CHANGES, simulate_dataset, write_dataset

T = 60
LEVEL = 1000.0  # the one level channel b is ever spent at
B_TRUTH = dict(beta=20_000.0, kappa=3 * LEVEL, slope=1.0)  # h(LEVEL) = 0.25, h(2 LEVEL) = 0.4


def _truth_b(x: float) -> float:
    """Channel b's true steady-state response (decay 0) to ``x`` a period."""
    k, s = B_TRUTH["kappa"], B_TRUTH["slope"]
    return B_TRUTH["beta"] * x**s / (k**s + x**s)


def _one_level(tmp_path: Path) -> Path:
    """Channel ``a`` flighted at many levels; channel ``b`` switched between 0 and one level only
    (no carry-over), so the data fix ``b``'s response at that level and nothing of its shape."""
    rng = np.random.default_rng(5)
    spend = flighted_spend(T, [2000.0, 1.0], rng)
    spend[:, 1] = np.where(spend[:, 1] > 0, LEVEL, 0.0)
    truth = Truth(beta=np.array([8000.0, B_TRUTH["beta"]]), kappa=np.array([2500.0, B_TRUTH["kappa"]]),
                  slope=np.array([1.2, B_TRUTH["slope"]]), theta=np.array([0.3, 0.0]))
    path = tmp_path / "data.csv"
    synthesize(path, truth, spend, noise_sd=20.0, seed=3, spend_names=["a", "b"])
    return path


def _fit(path: Path, lift: Path | None = None, **kw: object):
    return calibrate(path, date="date", kpi="revenue", spend="a_spend,b_spend", fourier=0, lift_tests=lift,
                     **{"draws": 0, **kw})  # type: ignore[arg-type]


def _lift_file(tmp_path: Path, rows: list[dict[str, object]], name: str = "lift.csv") -> Path:
    path = tmp_path / name
    pd.DataFrame(rows).to_csv(path, index=False)
    return path


def test_lift_test_recovers_the_response_the_data_leave_free(tmp_path: Path) -> None:
    """Channel b is only ever spent at LEVEL: the data fix its response there, the prior decides
    its shape, and the fit's response at twice that is the prior's (17% below the truth). A lift
    test doubling LEVEL pins it: the response at 2 LEVEL comes back to the truth."""
    path = _one_level(tmp_path)
    target = _truth_b(2 * LEVEL)
    plain = _fit(path)
    at = np.array([[0.0, LEVEL], [0.0, 2 * LEVEL]])
    r_plain = plain.fit.curve(at)[:, 1]
    assert r_plain[0] == pytest.approx(_truth_b(LEVEL), rel=0.02)  # identified by the data
    assert abs(r_plain[1] / target - 1) > 0.08  # not identified: the prior's shape
    lift = _truth_b(2 * LEVEL) - _truth_b(LEVEL)
    tests = _lift_file(tmp_path, [{"channel": "b_spend", "x": LEVEL, "delta_x": LEVEL, "delta_y": lift,
                                   "sigma": 0.02 * lift}])
    res = _fit(path, tests)
    r = res.fit.curve(at)[:, 1]
    assert r[0] == pytest.approx(_truth_b(LEVEL), rel=0.02)
    assert r[1] == pytest.approx(target, rel=0.03)
    assert res.fit.lift() == pytest.approx([lift], rel=0.03)
    assert res.lift is not None and list(res.lift["channel"]) == ["b"]


def _hand_scenario() -> object:
    """Two click-priced channels, geometric carry-over over a fixed window and Hill curves; no delay,
    seasons or noise."""
    channels = [
        {"name": n, "cost": {"unit": "click", "price": p, "ref_spend": 1e6, "elasticity": 0.0, "noise_sd": 0.0},
         "adstock": {"type": "geometric", "decay": d, "window": 6},
         "saturation": {"type": "hill", "max_response": b, "half_saturation": k, "slope": s}}
        for n, p, d, b, k, s in [("a", 2.0, 0.5, 300.0, 900.0, 1.3), ("b", 0.5, 0.2, 200.0, 2500.0, 0.8)]
    ]
    return scenario_from_dict({"name": "hand", "horizon": 10, "step_days": 7, "budget": {"total": 10 * 1000.0},
                               "reward": "conversions", "noise": {"conversions": "none"}, "channels": channels})


def test_simulated_lift_is_the_steady_state_by_hand(tmp_path: Path) -> None:
    """With the equal split each channel's mean spend is 500 a week; the first round of tests doubles
    it. By hand: exposure x / price, adstock sum_{l<6} decay^l of it, Hill, times max_response."""
    ds = simulate_dataset(_hand_scenario(), 20, "equal", seed=4, lift_tests=4, lift_sigma=0.1)
    tests = ds.lift_tests
    assert tests is not None and len(tests) == 4

    def hand(x: float, price: float, decay: float, beta: float, kappa: float, slope: float) -> float:
        a = x / price * sum(decay**lag for lag in range(6))
        return beta * a**slope / (kappa**slope + a**slope)

    params = {"a_spend": (2.0, 0.5, 300.0, 900.0, 1.3), "b_spend": (0.5, 0.2, 200.0, 2500.0, 0.8)}
    for k, row in tests.iterrows():
        x, dx = 500.0, LIFT_CHANGES[int(k) // 2] * 500.0  # type: ignore[call-overload]
        assert row["x"] == pytest.approx(x) and row["delta_x"] == pytest.approx(dx)
        p = params[row["channel"]]
        expected = hand(x + dx, *p) - hand(x, *p)
        assert row["true_delta_y"] == pytest.approx(expected, rel=1e-9)
        assert row["sigma"] == pytest.approx(0.1 * abs(expected), rel=1e-9)
        assert abs(row["delta_y"] - expected) < 5 * row["sigma"] and row["delta_y"] != expected
    out = write_dataset(ds, tmp_path / "sim")
    written = pd.read_csv(out / "lift_tests.csv")
    assert list(written.columns) == ["channel", "x", "delta_x", "delta_y", "sigma"]
    assert pd.read_csv(out / "truth" / "lift_tests.csv")["true_delta_y"].tolist() == pytest.approx(
        tests["true_delta_y"].tolist())


def test_true_lift_leaves_out_the_shocks() -> None:
    """The true lift is the steady state: a scheduled outage of channel a in weeks 60-69 of an 80-week
    dataset is a transient of the data, not of the test. It fell in the window's averaged year (weeks
    52-103) and cut a's true lift by 10/52; the test of b, untouched by it, was already right."""
    sc = _hand_scenario().override({"horizon": 80, "budget.total": 80 * 1000.0,
                                    "shocks": [{"kind": "outage", "channels": ["a"], "start": 60, "duration": 10}]})
    ds = simulate_dataset(sc, 80, "equal", seed=4, lift_tests=2)
    assert ds.lift_tests is not None and list(ds.lift_tests["channel"]) == ["a_spend", "b_spend"]

    def hand(x: float, price: float, decay: float, beta: float, kappa: float, slope: float) -> float:
        a = x / price * sum(decay**lag for lag in range(6))
        return beta * a**slope / (kappa**slope + a**slope)

    for row, p in zip(ds.lift_tests.itertuples(), [(2.0, 0.5, 300.0, 900.0, 1.3), (0.5, 0.2, 200.0, 2500.0, 0.8)],
                      strict=True):
        assert row.x == pytest.approx(500.0) and row.delta_x == pytest.approx(500.0)
        assert row.true_delta_y == pytest.approx(hand(1000.0, *p) - hand(500.0, *p), rel=1e-9)


def test_true_lift_with_seasons_and_a_long_carry_over_by_hand() -> None:
    r"""simulate.py's true lift: the per-step lift of two constant plans, averaged over the last year
    (52 weeks) of a window whose warm-up is the longer of a year and the carry-over's and delay's lags.
    Channel ``a`` (weekly decay 0.95, no window: at the probe's horizon of two years its kernel keeps
    104 lags, plus 1 of no delay) has a warm-up of 105 weeks, so the window is 157 weeks and the lift
    the mean over weeks 105-156; by hand, with the yearly demand cycle
    :math:`1 + 0.3 \cos(2\pi (d_t - 200)/365.25)`, :math:`d_t = 3 + 7t`, and the kernel the window's
    own (``min(157, 361)`` lags: all of them)."""
    from budgetgym.experiments.simulate import true_lift

    sc = scenario_from_dict({
        "name": "hand", "horizon": 10, "step_days": 7, "start_day": 3.0, "budget": {"total": 10 * 1000.0},
        "reward": "conversions", "noise": {"conversions": "none"},
        "seasonality": {"demand": {"yearly_amplitude": 0.3, "yearly_peak": 200.0}},
        "channels": [{"name": "a", "cost": {"unit": "click", "price": 2.0, "ref_spend": 1e6, "elasticity": 0.0},
                      "adstock": {"type": "geometric", "decay": 0.95},
                      "saturation": {"type": "hill", "max_response": 300.0, "half_saturation": 9000.0, "slope": 1.3}}],
    })
    year = 52

    def steps(x: float, horizon: int) -> np.ndarray:
        t = np.arange(horizon)
        season = 1.0 + 0.3 * np.cos(2 * np.pi * (3.0 + 7.0 * t - 200.0) / 365.25)
        a = np.array([sum(0.95**k * x / 2.0 for k in range(s + 1)) for s in t])
        return season * 300.0 * a**1.3 / (9000.0**1.3 + a**1.3)

    expected = float(np.mean((steps(800.0, 157) - steps(500.0, 157))[-year:]))
    assert true_lift(sc, np.array([500.0]), 0, 300.0) == pytest.approx(expected, rel=1e-9)
    # a warm-up of a year plus the lags (157 weeks, a window of 209) averages another year
    longer = float(np.mean((steps(800.0, 209) - steps(500.0, 209))[-year:]))
    assert abs(longer / expected - 1) > 1e-4


def test_true_lift_of_a_large_valid_spend() -> None:
    """A designed test may spend up to MAX_AMOUNT a period (as ``calibrate --lift-tests`` accepts); the two
    years of that spend the truth is valued over passed a scenario's largest budget, and the simulation
    failed with an error about the overridden scenario's ``budget.total``."""
    design = pd.DataFrame({"channel": ["a"], "x": [500.0], "delta_x": [1e13]})
    ds = simulate_dataset(_hand_scenario(), 20, "equal", seed=4, lift_design=design)
    assert ds.lift_tests is not None
    lift = float(ds.lift_tests["true_delta_y"].iloc[0])
    a = 500.0 / 2.0 * sum(0.5**lag for lag in range(6))
    assert lift == pytest.approx(300.0 - 300.0 * a**1.3 / (900.0**1.3 + a**1.3), rel=1e-6)  # saturated: all of it


def _good_rows() -> list[dict[str, object]]:
    return [{"channel": "a_spend", "x": 2000.0, "delta_x": 2000.0, "delta_y": 900.0, "sigma": 100.0},
            {"channel": "b", "x": 1000.0, "delta_x": -500.0, "delta_y": -1500.0, "sigma": 300.0}]


def _edit(column: str, row: int, value: object) -> list[dict[str, object]]:
    rows = _good_rows()
    rows[row][column] = value
    return rows


BAD = [
    ("missing column", [{k: v for k, v in r.items() if k != "sigma"} for r in _good_rows()], "no column 'sigma'"),
    ("unknown channel", _edit("channel", 1, "c_spend"), "column 'channel', row 2: unknown channel 'c_spend'"),
    # an empty cell (an Excel export's trailing row ",,,,") read "unknown channel 'nan'"
    ("empty channel", _edit("channel", 1, None),
     "column 'channel', row 2: expected a channel, got an empty or NaN cell"),
    ("non-numeric", _edit("delta_y", 0, "lots"), "column 'delta_y', row 1: the value must be a finite number"),
    ("negative x", _edit("x", 1, -5.0), "column 'x', row 2: the spend before the test must be non-negative"),
    ("zero sigma", _edit("sigma", 0, 0.0), "column 'sigma', row 1: the standard error must be positive, got 0"),
    ("below zero spend", _edit("delta_x", 1, -1500.0),
     "column 'delta_x', row 2: x + delta_x (the spend during the test) must be non-negative, got -500"),
    ("huge spend", _edit("x", 0, 1e300), "column 'x', row 1: the value must be at most 1e+15 in size, got 1e+300"),
    ("huge lift", _edit("delta_y", 1, 1e100), "column 'delta_y', row 2: the value must be at most 1e+12 in size"),
    ("tiny sigma", _edit("sigma", 0, 1e-100), "column 'sigma', row 1: the standard error must be at least"),
    ("boolean sigma", [{**r, "sigma": True} for r in _good_rows()],  # was read as a standard error of 1
     "column 'sigma', row 1: the value must be a number, got True (a column of true/false values)"),
]


@pytest.mark.parametrize(("label", "rows", "message"), BAD, ids=[c[0] for c in BAD])
def test_bad_lift_files_exit_2_with_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], label: str, rows: list[dict[str, object]], message: str
) -> None:
    path = _one_level(tmp_path)
    tests = _lift_file(tmp_path, rows)
    code, out, err = run_cli(capsys, "calibrate", str(path), "--date", "date", "--kpi", "revenue", "--spend",
                             "a_spend,b_spend", "--draws", "0", "--lift-tests", str(tests), "--out",
                             str(tmp_path / "out"))
    assert code == 2, (label, out, err)
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"error: lift-test file '{tests}': "), lines
    assert message in lines[0], lines[0]
    assert not (tmp_path / "out").exists()  # nothing half-written


def test_bootstrap_redraws_the_measurements(tmp_path: Path) -> None:
    """Each replicate refits to the tests' measurements redrawn within their standard errors; the
    report compares every test with the fitted lift and its interval."""
    path = _one_level(tmp_path)
    lift = _truth_b(2 * LEVEL) - _truth_b(LEVEL)
    tests = _lift_file(tmp_path, [{"channel": "b_spend", "x": LEVEL, "delta_x": LEVEL, "delta_y": lift,
                                   "sigma": 0.1 * lift}])
    res = _fit(path, tests, draws=6, out=tmp_path / "out", plots=False)
    assert res.draws is not None and res.draws.lift_y is not None and res.draws.lift_y.shape == (6, 1)
    drawn = res.draws.lift_y[:, 0]
    assert len(np.unique(drawn)) == 6 and np.all(drawn != lift)
    assert np.all(np.abs(drawn - lift) < 5 * 0.1 * lift)
    assert res.lift is not None
    row = res.lift.iloc[0]
    assert row["low"] < row["model"] < row["high"]
    assert "## Lift tests" in (tmp_path / "out" / "fit.md").read_text()


def test_a_test_the_data_disagree_with_is_redrawn_around_the_fitted_lift(tmp_path: Path) -> None:
    """The bootstrap redraws each test's measurement around the fit's lift, as it builds the KPI from the
    fit's values: a refit of the fit's own predictions returns to the fit. Redrawn around the measurement
    instead, every replicate met the test a second time and the draws drifted toward it, past the point
    estimate (a test at 3 times the true lift: the fitted lift outside its own 90% interval). With prior
    draws (randomised MAP) the measurements are perturbed where they stand, as the prior's means are."""
    data = simulate_dataset("stationary-3", 156, seed=1, lift_tests=3)
    write_dataset(data, tmp_path / "data")
    tests = pd.read_csv(tmp_path / "data" / "lift_tests.csv")
    tests["delta_y"] *= 3.0
    tests["sigma"] *= 2.0
    path = _lift_file(tmp_path, tests.to_dict("records"))
    spend = "search_spend,social_spend,video_spend"
    res = calibrate(tmp_path / "data" / "data.csv", date="date", kpi="conversions", spend=spend, lift_tests=path,
                    draws=30)
    assert res.lift is not None and res.draws is not None and res.draws.lift_y is not None
    assert np.all(np.abs(res.lift["z"]) > 2)  # the data pull the fit well away from the tests
    assert np.all((res.lift["low"] <= res.lift["model"]) & (res.lift["model"] <= res.lift["high"])), res.lift
    centre = res.draws.lift_y.mean(axis=0)
    assert np.all(np.abs(centre - res.lift["model"]) < np.abs(centre - res.lift["delta_y"]))
    rml = calibrate(tmp_path / "data" / "data.csv", date="date", kpi="conversions", spend=spend, lift_tests=path,
                    draws=30, prior_draws=True)
    assert rml.draws is not None and rml.draws.lift_y is not None and rml.lift is not None
    centre = rml.draws.lift_y.mean(axis=0)
    assert np.all(np.abs(centre - rml.lift["delta_y"]) < np.abs(centre - rml.lift["model"]))


def test_a_measurement_the_fit_cannot_meet_is_warned_of_by_name(tmp_path: Path) -> None:
    """A lift 1000 times the truth's (a total, or other units) is accepted, but the fit cannot meet both it
    and the data: a warning names the test and its z, where only a poor fit blamed on the data showed it.
    A test the fit meets is not warned of."""
    path = _one_level(tmp_path)
    lift = _truth_b(2 * LEVEL) - _truth_b(LEVEL)
    good = {"channel": "b_spend", "x": LEVEL, "delta_x": LEVEL, "delta_y": lift, "sigma": 0.1 * lift}
    bad = {"channel": "a_spend", "x": 2000.0, "delta_x": 2000.0, "delta_y": 1e3 * lift, "sigma": 0.1 * lift}
    res = _fit(path, _lift_file(tmp_path, [bad]))
    assert res.lift is not None and np.all(np.isfinite(res.lift[["model", "z"]].to_numpy()))
    named = [w for w in res.warnings if "disagree" in w]
    assert len(named) == 1 and named[0].startswith("lift test 1 (a: 2,000 -> 4,000 per period) measured "), named
    assert f"(z = {res.lift['z'].iloc[0]:,.1f})" in named[0]
    assert not [w for w in _fit(path, _lift_file(tmp_path, [good])).warnings if "disagree" in w]


def test_a_poor_fit_with_lift_tests_points_at_their_units(tmp_path: Path) -> None:
    """A test 1000 times the truth's lift with a standard error at its floor is met by the fit (z = 0 against
    the fitted lift), which ruins the fit to the data: the poor-fit warning, which blamed only the controls
    and the KPI and spend columns, now also asks whether delta_y is the KPI's change per period; and the test
    is named, compared with the data alone (it was not: it agreed with the fit it had made)."""
    path = _one_level(tmp_path)
    lift = _truth_b(2 * LEVEL) - _truth_b(LEVEL)
    bad = {"channel": "a_spend", "x": 2000.0, "delta_x": 2000.0, "delta_y": 1e3 * lift, "sigma": 0.004}
    res = _fit(path, _lift_file(tmp_path, [bad]))
    assert res.lift is not None and abs(res.lift["z"].iloc[0]) < 1
    named = [w for w in res.warnings if "disagree" in w]
    assert len(named) == 1 and named[0].startswith("lift test 1 (a: 2,000 -> 4,000 per period) measured 3e+06 ±")
    poor = [w for w in res.warnings if w.startswith("poor fit")]
    assert len(poor) == 1 and "the lift tests' delta_y is the KPI's change per period" in poor[0], res.warnings
    plain = _fit(path)
    assert not [w for w in plain.warnings if "lift tests" in w]


def test_model_lift_goes_through_the_cost_curve(tmp_path: Path) -> None:
    """Channel ``a`` is bought per thousand impressions at CPM 8 with auction pressure 0.3, ``b`` per
    click at CPC 1.5 (``test_calibration_export``'s noise-free data, fitted exactly). With tests so
    loose they do not move the fit, its lift of each is the truth's by hand: spend to exposure by
    the cost curve, times the adstock's weight sum 1 / (1 - decay), through the Hill curve."""
    from test_calibration_export import TRUTH, _calibrate, _dataset

    path, spend, _ = _dataset(tmp_path)
    ref = float(np.median(spend[spend[:, 0] > 0, 0]))
    exposure = [lambda x: 1000.0 * x / 8.0 * (1 + x / ref) ** -0.3, lambda x: x / 1.5]

    def response(i: int, x: float) -> float:
        a = exposure[i](x) / (1.0 - TRUTH["theta"][i])
        k, s = TRUTH["kappa"][i], TRUTH["slope"][i]
        return float(TRUTH["beta"][i] * a**s / (k**s + a**s))

    cases = [(0, 1500.0, 1500.0), (1, 2500.0, -1000.0), (1, 0.0, 4000.0)]
    truth = [response(i, x + dx) - response(i, x) for i, x, dx in cases]
    tests = _lift_file(tmp_path, [{"channel": ["a_spend", "b_spend"][i], "x": x, "delta_x": dx, "delta_y": 0.0,
                                   "sigma": 1e6} for i, x, dx in cases])
    res = _calibrate(path, draws=0, lift_tests=tests)
    assert res.fit.lift() == pytest.approx(truth, rel=1e-4)


def test_lift_rows_in_the_projection_by_hand() -> None:
    r"""projection.py's stacked least squares with lift rows, one channel worked by hand:
    :math:`\beta = \arg\min_{\beta \ge 0} \lVert \tilde y - \tilde H \beta \rVert^2 + \sum_j (\hat\sigma
    (\Delta y_j - \beta g_j)/\sigma_j)^2` with :math:`\tilde v` the residual of ``v`` on the baseline design
    (intercept, trend; least squares, not the code's QR), :math:`g_j = h(\bar w e^+_j) - h(\bar w e^-_j)`
    the steady-state Hill difference, :math:`\kappa = m \bar w e^u`; for one channel the minimiser is
    :math:`(\tilde H \cdot \tilde y + \sum_j w_j^2 g_j \Delta y_j) / (\tilde H \cdot \tilde H + \sum_j w_j^2 g_j^2)`,
    :math:`w_j = \hat\sigma / \sigma_j`; the stacked residual is the projected one, then
    :math:`w_j (\Delta y_j - \beta g_j)`; the baseline's coefficients the least squares of
    :math:`y - H\beta` on the design."""
    from budgetgym.calibration.projection import LiftRows, Problem
    from budgetgym.calibration.transforms import Layout

    lay = Layout("geometric", "hill", 1, 8, 7.0)
    theta, u, slope = 0.4, np.log(0.8), 1.4
    e = np.array([0.0, 120.0, 80.0, 0.0, 200.0, 150.0, 0.0, 0.0, 60.0, 300.0, 90.0, 0.0])
    T = len(e)
    y = 500.0 + 3.0 * np.arange(T) + np.array([5.0, 60.0, 70.0, 30.0, 120.0, 130.0, 40.0, 10.0, 50.0, 160.0, 110.0,
                                               35.0])
    B = np.column_stack([np.ones(T), np.arange(T) / 52.0])
    m = float(np.median(e[e > 0]))
    wbar = 1.0 / (1.0 - theta)
    kappa = m * wbar * np.exp(u)

    def h(a: np.ndarray) -> np.ndarray:
        return a**slope / (kappa**slope + a**slope)

    a = np.array([sum(theta**k * e[t - k] for k in range(t + 1)) for t in range(T)])
    H = h(a)
    low, high = np.array([50.0, 100.0]), np.array([100.0, 300.0])
    dy, sigma, scale = np.array([40.0, 90.0]), np.array([5.0, 20.0]), 3.0
    g = h(wbar * high) - h(wbar * low)
    w = scale / sigma

    def resid(v: np.ndarray) -> np.ndarray:
        return v - B @ np.linalg.lstsq(B, v, rcond=None)[0]

    Ht, yt = resid(H), resid(y)
    beta = max(0.0, (Ht @ yt + np.sum(w**2 * g * dy)) / (Ht @ Ht + np.sum(w**2 * g**2)))
    rows = LiftRows(index=np.array([0, 0]), low=low, high=high, delta_y=dy, sigma=sigma)
    prob = Problem(lay, e[:, None], np.array([m]), B, 7.0 * np.arange(T), np.ones(T), np.array([False]),
                   lift=rows, lift_scale=scale)
    phi = np.array([theta, u, slope])
    np.testing.assert_allclose(rows.features(lay, phi, np.array([m]))[:, 0], g, rtol=1e-12)
    H_got, beta_got, r = prob.solve(phi, prob.target(y))
    np.testing.assert_allclose(H_got[:, 0], H, rtol=1e-12)
    assert beta_got[0] == pytest.approx(beta, rel=1e-9) and beta > 0
    np.testing.assert_allclose(r, np.concatenate([yt - Ht * beta, w * (dy - beta * g)]), rtol=1e-8, atol=1e-8)
    _, _, coef = prob.linear(phi, y)
    np.testing.assert_allclose(coef, np.linalg.lstsq(B, y - H * beta, rcond=None)[0], rtol=1e-9)


def test_lift_table_by_hand(tmp_path: Path) -> None:
    r"""``lift_table`` on a fit whose parameters are set to round numbers, against lift.py's equation
    :math:`L = \beta [h(\bar w e(x + \Delta x)) - h(\bar w e(x))]` worked by hand.

    * a: driven by its spend (e = x); its median nonzero spend m = 100; theta 0.5 (w̄ = 2), u = 0
      (kappa = m w̄ e^u = 200), slope 1. Test x = 100, dx = 100: adstocks 200 and 400, h = 1/2 and 2/3,
      lift beta / 6 = 100 at beta 600. Measured 130 +- 15: z = 2.
    * b: impressions bought at CPM 8 (e = 1000 x / 8 = 125 x); median nonzero impressions 125 * 3.2 =
      400; theta 0 (w̄ = 1), u = ln 0.5 (kappa 200), slope 2. Test x = 1.6, dx = -0.8: e = 200 and 100,
      h = 1/2 and 1/5, lift -0.3 beta = -300 at beta 1000. Measured -280 +- 40: z = 0.5.
    * draws (beta_a, beta_b) = (300, 500), (600, 1000), (1200, 2000), the third also with u_a = ln 4
      (kappa 800: h = 1/5 and 1/3, a's lift 1200 * 2/15 = 160): a's lifts 50, 100, 160, b's -150,
      -300, -600. The 90% interval is numpy's linear percentiles at 5 and 95 (positions 0.1 and 1.9
      of 0..2): a 50 + 0.1 * 50 = 55 to 100 + 0.9 * 60 = 154; b -600 + 0.1 * 300 = -570 to
      -300 + 0.9 * 150 = -165.
    """
    from dataclasses import replace

    from budgetgym.calibration.lift import beyond_data, lift_table, read_lift_tests

    a_spend = np.tile([0.0, 50.0, 100.0, 150.0], 10)
    b_spend = np.tile([1.6, 0.0, 3.2, 4.8], 10)
    frame = pd.DataFrame({"date": pd.date_range("2022-01-03", periods=40, freq="7D").strftime("%Y-%m-%d"),
                          "revenue": 1000.0 + a_spend + 40.0 * b_spend + 10.0 * np.sin(np.arange(40)),
                          "a_spend": a_spend, "b_spend": b_spend, "b_impressions": 125.0 * b_spend})
    frame.to_csv(tmp_path / "d.csv", index=False)
    tests = _lift_file(tmp_path, [{"channel": "a_spend", "x": 100.0, "delta_x": 100.0, "delta_y": 130.0, "sigma": 15.0},
                                  {"channel": "b", "x": 1.6, "delta_x": -0.8, "delta_y": -280.0, "sigma": 40.0}])
    res = calibrate(tmp_path / "d.csv", date="date", kpi="revenue", spend="a_spend,b_spend",
                    exposure="-,b_impressions", fourier=0, draws=0, starts=1, lift_tests=tests)
    np.testing.assert_allclose(res.fit.ref, [100.0, 400.0])  # the median nonzero exposures
    np.testing.assert_allclose(res.costs.price[1], 8.0)
    phi = np.array([0.5, 0.0, 1.0, 0.0, np.log(0.5), 2.0])  # per channel: theta, u, slope
    fit = replace(res.fit, phi=phi, beta=np.array([600.0, 1000.0]))
    read = read_lift_tests(tests, res.data, res.costs)
    draws_phi = np.array([phi, phi, [0.5, np.log(4.0), 1.0, 0.0, np.log(0.5), 2.0]])
    draws_beta = np.array([[300.0, 500.0], [600.0, 1000.0], [1200.0, 2000.0]])
    table = lift_table(fit, read, draws_phi, draws_beta)
    assert list(table["channel"]) == ["a", "b"]
    np.testing.assert_allclose(table["model"], [100.0, -300.0], rtol=1e-9)
    np.testing.assert_allclose(table["z"], [2.0, 0.5], rtol=1e-9)
    np.testing.assert_allclose(table["low"], [55.0, -570.0], rtol=1e-9)
    np.testing.assert_allclose(table["high"], [154.0, -165.0], rtol=1e-9)
    bare = lift_table(fit, read)  # without draws: no interval
    assert bare["low"].isna().all() and bare["high"].isna().all()
    np.testing.assert_allclose(bare["model"], [100.0, -300.0], rtol=1e-9)
    # a's test reaches 200 a period, above the data's largest 150; b's (1.6 -> 0.8) stays below 4.8
    beyond = [w for w in res.warnings if w.startswith("lift test") and "beyond the data" in w]
    assert beyond == beyond_data(read, res.data) and len(beyond) == 1
    # the data's b is linear, 40 a unit: its lift 1.6 -> 0.8 is about -32, not the measured -280 +- 40
    assert [w for w in res.warnings if "disagree" in w][0].startswith("lift test 2 (b: 1.6 -> 0.8 per period)")
    assert beyond[0].startswith("lift test 1 (a: 100 -> 200 per period)") and "largest period (150)" in beyond[0]


def test_simulate_then_calibrate_from_the_command_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """``simulate --lift-tests`` writes the tests beside the data and says how to calibrate with
    them; a bad ``--lift-sigma`` is one line, exit 2, nothing written."""
    code, out, err = run_cli(capsys, "simulate", "stationary-3", "--periods", "30", "--lift-tests", "4", "--out",
                             str(tmp_path / "sim"))
    assert code == 0, err
    tests = pd.read_csv(tmp_path / "sim" / "lift_tests.csv")
    assert len(tests) == 4 and tests["channel"].nunique() == 3 and (tests["sigma"] > 0).all()
    assert f"--lift-tests {tmp_path / 'sim' / 'lift_tests.csv'}" in out
    code, _, err = run_cli(capsys, "simulate", "stationary-3", "--periods", "30", "--lift-tests", "2",
                           "--lift-sigma", "0", "--out", str(tmp_path / "bad"))
    assert code == 2 and err.strip() == ("error: --lift-sigma: expected a positive relative standard error, at most "
                                         "100, got 0")
    assert not (tmp_path / "bad").exists()
    # 1e308 wrote lift_tests.csv with delta_y and sigma of inf
    code, _, err = run_cli(capsys, "simulate", "stationary-3", "--periods", "30", "--lift-tests", "2",
                           "--lift-sigma", "1e308", "--out", str(tmp_path / "bad"))
    assert code == 2 and err.strip() == ("error: --lift-sigma: expected a positive relative standard error, at most "
                                         "100, got 1e+308")
    assert not (tmp_path / "bad").exists()



def test_lift_tests_are_drawn_on_their_channels_curve(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """``curves.png`` marks each lift test on its channel's panel: at the test's higher level of spend, the curve at
    its lower level plus the measured lift, with a 90% error bar (1.645 sigma, the bands' level) and a legend
    entry; a cut of spend (delta_x < 0) is drawn from its lower level the same way. The figure showed the curves
    without the tests that pinned them; ``calibrate`` passes its lift table to the plot."""
    from matplotlib.container import ErrorbarContainer

    from budgetgym.calibration import plots

    path = _one_level(tmp_path)
    up = _truth_b(2 * LEVEL) - _truth_b(LEVEL)
    tests = _lift_file(tmp_path, [
        {"channel": "b_spend", "x": LEVEL, "delta_x": LEVEL, "delta_y": up, "sigma": 0.05 * up},
        {"channel": "b_spend", "x": LEVEL, "delta_x": -LEVEL / 2, "delta_y": -0.3 * up, "sigma": 0.1 * up},
    ])
    seen: dict[str, object] = {}
    drawn = plots.plot_curves

    def record(*args: object, **kwargs: object) -> bytes:
        seen["lift"] = kwargs.get("lift")
        return drawn(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(plots, "plot_curves", record)
    res = _fit(path, tests, out=tmp_path / "fit")
    assert res.lift is not None and seen["lift"] is res.lift  # calibrate handed its tests to the figure
    fig = plots.curves_figure(res.fit, None, res.costs, res.data.spend, "revenue", lift=res.lift)
    panel_a, panel_b = fig.axes[:2]
    assert not [c for c in panel_a.containers if isinstance(c, ErrorbarContainer)]
    bars = [c for c in panel_b.containers if isinstance(c, ErrorbarContainer)]
    assert len(bars) == 1 and bars[0].get_label().startswith("lift test")
    line, _, (segments,) = bars[0].lines
    curve = res.fit.curve(np.array([[0.0, LEVEL / 2], [0.0, LEVEL]]))[:, 1]
    np.testing.assert_allclose(line.get_xdata(), [2 * LEVEL, LEVEL])
    np.testing.assert_allclose(line.get_ydata(), [curve[1] + up, curve[0] + 0.3 * up], rtol=1e-9)
    half = [seg[1, 1] - seg[0, 1] for seg in segments.get_segments()]
    np.testing.assert_allclose(half, [2 * 1.6448536269514722 * 0.05 * up, 2 * 1.6448536269514722 * 0.1 * up],
                               rtol=1e-6)
    assert "lift test" in [t.get_text()[:9] for t in panel_b.get_legend().get_texts()]


def test_curves_figure_ticks_amounts_short_and_keeps_its_legend_off_the_bands(tmp_path: Path) -> None:
    """``curves.png``'s ticks read ``8000 10000 12000`` run together on a 4-inch panel (a planner's 12,000 a week of
    search), and the legend sat inside the first panel, over its band. The amounts are ticked ``12k`` (the plan's
    figures' rule, ``envs.numbers.tick_amount``) and the legend is one, below every panel; a panel with lift tests
    keeps its own entry for them (the test above)."""
    pytest.importorskip("matplotlib")
    from budgetgym.calibration import plots
    from budgetgym.envs.numbers import tick_amount

    assert [tick_amount(v) for v in (0.0, 950.0, 12_000.0, 12_500.0, 1_200_000.0)] == ["0", "950", "12k", "12.5k",
                                                                                        "1.2M"]
    res = _fit(_one_level(tmp_path))
    fig = plots.curves_figure(res.fit, None, res.costs, res.data.spend, "revenue")
    renderer = fig.canvas.get_renderer()
    fig.draw(renderer)
    panels = [ax for ax in fig.axes if ax.get_title()]
    assert len(panels) == 2
    for ax in panels:
        assert ax.get_legend() is None, ax.get_title()  # no legend over a panel's band
        for axis in (ax.xaxis, ax.yaxis):
            assert axis.get_major_formatter()(12_000.0, None) == "12k", ax.get_title()
    (legend,) = fig.legends
    labels = [t.get_text() for t in legend.get_texts()]
    assert {"estimate", "median period in the data", "beyond the data's largest period"} <= set(labels), labels
    below = min(ax.get_tightbbox(renderer).y0 for ax in panels)
    assert legend.get_window_extent(renderer).y1 <= below + 1e-6  # below the panels and their tick labels
