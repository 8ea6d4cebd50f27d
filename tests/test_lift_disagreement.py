"""A lift test is compared with what the data say alone (``lift.data_z``): a precise test the fit meets
at the data's expense is still named, under every likelihood, and ``z_data`` is the equation's by hand."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from test_lift_tests import _fit, _lift_file, _one_level

from budgetgym.calibration import calibrate
from budgetgym.experiments.simulate import simulate_dataset, write_dataset


@pytest.mark.parametrize("likelihood", ["poisson", "negative_binomial", "gaussian"])
def test_an_absurd_test_the_fit_meets_is_named(tmp_path: Path, likelihood: str) -> None:
    """A lift 10 times the truth's, measured precisely (sigma 1% of it): the fit meets it (z against the fitted
    lift about 0) at the data's expense, so comparing the test with the fitted lift named nothing, under any
    likelihood (only the data's fit got worse). The test is compared with the data alone instead: the increase
    of the fit's objective when the test joins the data, in units of the data's residual scale, is z^2 (for a
    linear model exactly (delta_y - L_data)^2 / (sigma^2 + se(L_data)^2)). The absurd test is named; the two
    simulated tests of the true lift (15% standard errors) are not."""
    data = simulate_dataset("stationary-3", 84, seed=1, lift_tests=3)
    write_dataset(data, tmp_path / "data")
    tests = pd.read_csv(tmp_path / "data" / "lift_tests.csv")
    tests.loc[0, "delta_y"] *= 10.0
    tests.loc[0, "sigma"] = 0.01 * tests.loc[0, "delta_y"]
    path = _lift_file(tmp_path, tests.to_dict("records"))
    res = calibrate(tmp_path / "data" / "data.csv", date="date", kpi="conversions",
                    spend="search_spend,social_spend,video_spend", lift_tests=path, draws=0, likelihood=likelihood,
                    starts=2)
    assert res.lift is not None
    assert abs(res.lift["z"].iloc[0]) < 2  # met by the fit
    named = [w for w in res.warnings if "disagree" in w]
    assert len(named) == 1 and named[0].startswith("lift test 1 ("), named
    assert np.all(np.abs(res.lift["z_data"].iloc[1:]) < 3) and abs(res.lift["z_data"].iloc[0]) > 5


def test_z_against_the_data_by_hand(tmp_path: Path) -> None:
    """``z_data`` of a loose test (sigma far above the data's own uncertainty about the lift) is
    ``(delta_y - L_data) / sigma`` to within (se / sigma)^2 / 2, and ``data_lift`` is the lift of the fit
    without the tests: its steady-state curve at ``x + delta_x`` minus at ``x`` (channel ``a``, no carry-over
    of the test's own, the curve by ``Fit.curve``). The test sits 3 sigma above it, so z_data is 3, and the
    fit, which barely moves for so loose a test, meets it at about 3 too."""
    path = _one_level(tmp_path)
    plain = _fit(path)
    x, dx = 2000.0, 2000.0
    at = np.array([[x, 0.0], [x + dx, 0.0]])
    data_lift = float(np.diff(plain.fit.curve(at)[:, 0])[0])
    sigma = 3.0 * data_lift  # the data's own se of it is about a quarter of it: (se / sigma)^2 / 2 < 0.5%
    test = {"channel": "a_spend", "x": x, "delta_x": dx, "delta_y": data_lift + 3 * sigma, "sigma": sigma}
    res = _fit(path, _lift_file(tmp_path, [test]))
    assert res.lift is not None
    row = res.lift.iloc[0]
    assert row["data_lift"] == pytest.approx(data_lift, rel=1e-4)
    assert row["z_data"] == pytest.approx(3.0, rel=0.02)
    assert 2.5 < row["z"] <= row["z_data"] + 1e-9
