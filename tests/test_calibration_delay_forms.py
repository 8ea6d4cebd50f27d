"""The geometric conversion lag as a calibrate form, and each channel's form chosen on the fit
(``calibrate(..., delay="geometric" | "auto")``): the kernel by hand and against the environment's, the layout,
the features and the Jacobian with mixed forms, and a noise-free round trip whose social lag is geometric."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from conftest import run_cli
from test_calibration_delay_season import _truth, assert_jacobian_matches_central_differences
from test_roundtrip import plan_share_of_oracle, simulate_and_calibrate

from budgetgym.calibration.data import read_mmm_csv
from budgetgym.calibration.delay_choice import choose_forms
from budgetgym.calibration.model import ModelSpec, fit_model
from budgetgym.calibration.transforms import Layout, channel_delay, delay_weights, features
from budgetgym.envs.family import family_from_dict, load_family
from budgetgym.envs.kernels import delay_kernel, geometric_lag_weights
from budgetgym.envs.scenario import GeometricDelay
from budgetgym.experiments.simulate import simulate_dataset, write_dataset


def test_geometric_lag_by_hand() -> None:
    """q_d ∝ (1 - rho) rho^d, rho = m / (1 + m): a mean lag of 1.5 periods is rho = 0.6, so 0.4, 0.24, 0.144,
    0.0864 over four lags (sum 0.8704), renormalised; the environment's kernel and the fit's are that one."""
    expected = np.array([0.4, 0.24, 0.144, 0.0864]) / 0.8704
    np.testing.assert_allclose(geometric_lag_weights(1.5, 4), expected, rtol=1e-14)
    env = delay_kernel(GeometricDelay(type="geometric", mean_lag=1.5, window=4))
    np.testing.assert_array_equal(env, geometric_lag_weights(1.5, 4))
    np.testing.assert_array_equal(delay_weights(1.5, 4, "geometric"), env)
    np.testing.assert_array_equal(delay_weights(0.0, 4, "geometric"), [1.0, 0.0, 0.0, 0.0])  # 0 = no delay
    # the gamma of shape 2 at the same mean puts far less in the response's period (F(1/2) of scale 0.75)
    assert delay_weights(1.5, 40)[0] == pytest.approx(1 - np.exp(-2 / 3) * (1 + 2 / 3), rel=1e-6)
    assert delay_weights(1.5, 40)[0] < 0.2 < 0.39 < delay_weights(1.5, 40, "geometric")[0]


def test_layout_with_forms() -> None:
    """A tuple of forms, one per channel, adds no parameter; each channel's kernel is its form's over its form's
    window (the geometric: 99.9% of the longest lag, 6 weeks: rho = 6/7, rho^45 < 1e-3 < rho^44); ``True`` is gamma
    everywhere, as before; a tuple of the wrong length or an unknown form is refused."""
    mixed = Layout("geometric", "hill", 2, 8, 7.0, delay=("gamma", "geometric"))
    plain = Layout("geometric", "hill", 2, 8, 7.0, delay=True)
    assert mixed.size == plain.size == 8 and mixed.names() == plain.names()
    assert mixed.forms == ("gamma", "geometric") and plain.forms == ("gamma", "gamma")
    assert Layout("geometric", "hill", 2, 8, 7.0).forms == ()
    np.testing.assert_array_equal(mixed.bounds()[0], plain.bounds()[0])
    assert mixed.window_for("geometric") == 45 and (6 / 7) ** 45 < 1e-3 < (6 / 7) ** 44
    assert mixed.window_for("gamma") == plain.delay_window == 29
    slots = mixed.split(np.array([0.3, 0.0, 1.0, 2.0, 0.4, 0.1, 1.2, 1.5]))
    np.testing.assert_array_equal(channel_delay(mixed, slots[0], 0), delay_weights(2.0, 29))
    np.testing.assert_array_equal(channel_delay(mixed, slots[1], 1), geometric_lag_weights(1.5, 45))
    np.testing.assert_array_equal(channel_delay(plain, slots[1], 1), delay_weights(1.5, 29))
    for bad in (("gamma",), ("gamma", "weibull")):
        with pytest.raises(ValueError, match="one delay form"):
            Layout("geometric", "hill", 2, 8, 7.0, delay=bad)  # type: ignore[arg-type]


def test_features_with_a_geometric_lag_by_hand() -> None:
    r"""One channel by loops: geometric carry-over, Hill curve, then the geometric lag of mean 1.2 periods,
    :math:`q_d \propto (1 - \rho)\rho^d`, :math:`\rho = 1.2 / 2.2`, over 45 lags:
    :math:`r_t = \sum_d q_d h(a_{t-d})`."""
    lay = Layout("geometric", "hill", 1, 8, 7.0, delay=("geometric",))
    theta, u, slope, lag = 0.4, np.log(1.5), 1.3, 1.2
    e = np.array([0.0, 100.0, 250.0, 0.0, 0.0, 80.0, 400.0, 120.0, 0.0, 60.0, 0.0, 0.0, 300.0, 30.0])
    m = np.median(e[e > 0])
    kappa = m / (1.0 - theta) * np.exp(u)
    a = [sum(theta**k * e[t - k] for k in range(t + 1)) for t in range(len(e))]
    h = [x**slope / (kappa**slope + x**slope) for x in a]
    rho = lag / (1 + lag)
    q = np.array([(1 - rho) * rho**d for d in range(45)])
    q = q / q.sum()
    r = [sum(q[d] * h[t - d] for d in range(t + 1)) for t in range(len(e))]
    got = features(lay, e[:, None], np.array([theta, u, slope, lag]), np.array([m]))[:, 0]
    np.testing.assert_allclose(got, r, rtol=1e-12, atol=1e-15)


def _geometric_social() -> Any:
    """:func:`_truth` with social's conversions on a geometric lag (mean 1.5 weeks: 40% in the response's week,
    then x0.6 a week), the form ``retail-5-family`` gives social and shopping."""
    return _truth().override({"channels.social.delay": {"type": "geometric", "mean_lag": 1.5, "window": 45}})


@pytest.fixture(scope="module")
def geometric_data(tmp_path_factory: pytest.TempPathFactory) -> Any:
    out = tmp_path_factory.mktemp("geometric-social")
    write_dataset(simulate_dataset(_geometric_social(), 156, "random", seed=3), out / "d")
    return read_mmm_csv(out / "d" / "data.csv", date="date", kpi="revenue",
                        spend="search_spend,social_spend,video_spend", controls="competitor")


def test_jacobian_with_mixed_forms_matches_central_differences(geometric_data: Any) -> None:
    """The per-channel Jacobian recomputes each channel's kernel in its own form."""
    fit = fit_model(geometric_data, ModelSpec(delay=("gamma", "geometric", "gamma"), season=True, starts=1), seed=0)
    assert_jacobian_matches_central_differences(fit.problem, fit.layout, geometric_data.kpi)


def test_choice_switches_only_the_geometric_channel(geometric_data: Any) -> None:
    """From the all-gamma fit, the choice switches social (whose true lag is geometric) and nothing else, and the
    switch lowers the cost more than tenfold (noise-free data: the gamma cannot fit the geometric lag); video's
    true lag is gamma; search has none, where both forms are the same kernel and no switch gains."""
    fit = fit_model(geometric_data, ModelSpec(delay=True, season=True, starts=2), seed=0)
    forms, path = choose_forms(fit)
    assert forms == ("gamma", "geometric", "gamma")
    assert [p[0] for p in path] == [("gamma",) * 3, forms]
    assert path[1][1] < 0.1 * path[0][1]


def test_noise_free_round_trip_with_a_geometric_lag(tmp_path: Path) -> None:
    """``--delay auto`` on noise-free data whose social lag is geometric: social's carry-over, curve and lag come
    back as the truth's (the gamma-only fit puts the lag's tail in the carry-over, 0.71 against 0.5 when this was
    written), the family carries the geometric lag (the members vary its mean) and plans like the truth."""
    sc = _geometric_social()
    _, fixed = simulate_and_calibrate(sc, tmp_path / "gamma", delay="gamma", media_season="yearly")
    ds, res = simulate_and_calibrate(sc, tmp_path, delay="auto", media_season="yearly")
    assert family_from_dict(fixed.family, "fit").nominal().channels[1].adstock.decay > 0.6
    fitted = family_from_dict(res.family, "fit").nominal()
    social = fitted.channels[1]
    assert [c.delay.type for c in fitted.channels] == ["gamma", "geometric", "gamma"]
    assert social.adstock.decay == pytest.approx(0.5, abs=1e-3)
    assert social.saturation.half_saturation == pytest.approx(12_000.0, rel=1e-3)
    assert social.delay.mean_lag == pytest.approx(1.5, rel=1e-3)
    assert fitted.channels[2].delay.mean_lag == pytest.approx(3.0, rel=1e-3)
    member = res.family["ensemble"][0]
    assert "channels.social.delay.mean_lag" in member and "channels.social.delay.shape" not in member
    assert plan_share_of_oracle(sc, ds, tmp_path) > 0.999
    text = (tmp_path / "fit" / "fit.md").read_text()
    assert "conversion delay: geometric for social, gamma (shape 2) for search, video" in text
    table = pd.read_csv(tmp_path / "fit" / "parameters.csv")
    lag_units = table[table.parameter == "lag"].set_index("channel")["unit"]
    assert lag_units["social"] == "periods (geometric lag)" and lag_units["video"] == "periods"


def test_cli_delay_geometric(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """``--delay geometric`` makes every channel's lag geometric in the exported family."""
    write_dataset(simulate_dataset(_geometric_social(), 60, "random", seed=1), tmp_path / "d")
    out = tmp_path / "cal"
    code, stdout, err = run_cli(capsys, "calibrate", str(tmp_path / "d" / "data.csv"), "--date", "date", "--kpi",
                              "revenue", "--spend", "search_spend,social_spend,video_spend", "--draws", "0",
                              "--out", str(out), "--no-plots", "--delay", "geometric")
    assert code == 0, stdout + err
    sc = load_family(out / "family.yaml").nominal()
    assert {c.delay.type for c in sc.channels} == {"geometric"}


def test_cli_delay_one_form_per_channel(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """``--delay gamma,geometric,gamma`` gives each channel the form listed in the order of ``--spend`` (a planner
    who knows social's lag is geometric); a list of the wrong length or with an unknown form is refused with one
    line naming ``--delay``, and nothing is written."""
    write_dataset(simulate_dataset(_geometric_social(), 60, "random", seed=1), tmp_path / "d")
    base = ["calibrate", str(tmp_path / "d" / "data.csv"), "--date", "date", "--kpi", "revenue", "--spend",
            "search_spend,social_spend,video_spend", "--draws", "0", "--no-plots"]
    out = tmp_path / "cal"
    code, stdout, err = run_cli(capsys, *base, "--out", str(out), "--delay", "gamma, geometric,gamma")
    assert code == 0, stdout + err
    assert [c.delay.type for c in load_family(out / "family.yaml").nominal().channels] == ["gamma", "geometric",
                                                                                          "gamma"]
    for bad, words in (("gamma,geometric", "one lag form per --spend column (3), got 2"),
                       ("gamma,weibull,gamma", "'weibull'"), ("gamma,auto,gamma", "'auto'")):
        code, _, err = run_cli(capsys, *base, "--out", str(tmp_path / "bad"), "--delay", bad)
        assert code == 2 and err.startswith("error: --delay") and words in err, err
        assert len(err.strip().splitlines()) == 1 and not (tmp_path / "bad").exists()
