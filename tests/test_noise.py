r"""The noise models, checked by their moments on large samples drawn through the environment.

configs/README.md (step 6 of the model) documents:

* conversions ``c ~ Poisson(mu)``: mean ``mu``, variance ``mu``;
* negative binomial with dispersion ``k``: mean ``mu``, variance ``mu + mu**2 / k``;
* price noise ``nu = exp(sigma_p z - sigma_p**2 / 2)`` and value noise
  ``exp(sigma_v z - sigma_v**2 / 2)``: log-normal with mean one, ``log`` of mean ``-sigma**2/2``
  and sd ``sigma``.

Every draw is taken from :class:`~budgetgym.envs.ChannelBudgetEnv` (the public path a user
sees): a wide scenario of identical channels without carry-over, seasonality or drift, played
with the equal split, so every channel and step has the same expected conversions ``mu`` and the
same unit price; ``N = K * T`` draws per episode. Each check allows ``Z = 5`` standard errors,
computed from the theoretical moments: for the sample mean ``sqrt(var / N)``; for the sample
variance ``sqrt((mu_4 - var**2) / N)`` (``mu_4`` the fourth central moment, from
:mod:`scipy.stats`). A correct implementation fails a check with probability about 6e-7 (and the
draws are seeded, so the tests are deterministic); each documented mistake below moves a
statistic by tens to hundreds of standard errors:

* dropping the ``-sigma**2/2`` term (mean ``exp(sigma**2/2)`` instead of one);
* swapping the negative-binomial parameters (``p = mu/(k+mu)``: mean ``k**2/mu``), or passing
  ``mu`` as the number of successes (mean ``mu**2/k``);
* Poisson replaced by the mean (variance 0) or by a negative binomial (variance above ``mu``).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from conftest import channel
from scipy import stats

from budgetgym.envs import ChannelBudgetEnv, Scenario, scenario_from_dict

K, T = 200, 1000  # channels x steps: N = 200_000 draws per episode
Z = 5.0  # standard errors allowed
SPEND = 100.0  # per channel and step
PRICE = 10.0  # CPM


def _wide_scenario(
    noise: dict,
    mu: float = 4.0,
    cost: dict | None = None,
    value: dict | None = None,
    reward: str = "conversions",
) -> Scenario:
    """``K`` identical CPM channels, no carry-over, even pacing of ``SPEND`` per channel and step;
    every channel's expected conversions per step are ``mu``."""
    ch = {
        "cost": {"unit": "impression", "price": PRICE, "ref_spend": 100.0, "elasticity": 0.0, **(cost or {})},
        # e = 1000 * 100 / 10 = 10_000 impressions per step, half-saturation 10_000: mu = beta / 2
        "saturation": {"type": "hill", "max_response": 2.0 * mu, "half_saturation": 10_000.0},
        "value": {"mean": 3.0, **(value or {})},
    }
    return scenario_from_dict(
        {
            "name": "wide",
            "horizon": T,
            "budget": {"total": K * T * SPEND, "pacing": "even"},
            "reward": reward,
            "noise": noise,
            "channels": [channel(f"c{i}", **ch) for i in range(K)],
        },
        source="noise test",
    )


def _play(sc: Scenario, seed: int = 0) -> dict[str, np.ndarray]:
    """One equal-split episode; ``info`` arrays stacked to ``[T, K]``."""
    env = ChannelBudgetEnv(sc)
    env.reset(seed=seed)
    action = np.zeros(env.action_space.shape, dtype=np.float32)
    infos = [env.step(action)[4] for _ in range(T)]
    keys = ("spend", "price", "conversions", "expected_conversions", "revenue")
    return {k: np.array([info[k] for info in infos]) for k in keys}


def _assert_moments(draws: np.ndarray, mean: float, var: float, mu4: float) -> None:
    """Sample mean and variance within ``Z`` standard errors of their theoretical values."""
    n = draws.size
    se_mean = np.sqrt(var / n)
    se_var = np.sqrt((mu4 - var**2) / n)
    assert abs(draws.mean() - mean) < Z * se_mean, (draws.mean(), mean, se_mean)
    assert abs(draws.var(ddof=1) - var) < Z * se_var, (draws.var(ddof=1), var, se_var)


def _central_moments(dist: Any) -> tuple[float, float, float]:
    """(mean, variance, fourth central moment) of a frozen scipy distribution."""
    mean, var, _, kurt = (float(v) for v in dist.stats(moments="mvsk"))
    return mean, var, (kurt + 3.0) * var**2


def test_the_wide_scenario_has_one_mean_and_one_price():
    """The premise of the moment tests: every draw of an episode shares mu and the price."""
    out = _play(_wide_scenario({"conversions": "none"}))
    np.testing.assert_allclose(out["spend"], SPEND, rtol=1e-12)
    np.testing.assert_allclose(out["expected_conversions"], 4.0, rtol=1e-12)  # beta/2 at e = kappa
    np.testing.assert_allclose(out["conversions"], 4.0, rtol=1e-12)  # no noise: c = mu
    np.testing.assert_allclose(out["price"], PRICE, rtol=1e-12)


@pytest.mark.parametrize("mu", [0.8, 12.0])
def test_poisson_conversions_have_mean_and_variance_mu(mu):
    out = _play(_wide_scenario({"conversions": "poisson"}, mu))
    c = out["conversions"]
    np.testing.assert_allclose(out["expected_conversions"], mu, rtol=1e-12)
    assert np.all(c == np.round(c)) and c.min() >= 0  # counts
    _assert_moments(c, *_central_moments(stats.poisson(mu)))
    # and the shape, not just two moments: P(c = 0) = exp(-mu)
    p0 = np.exp(-mu)
    assert abs((c == 0).mean() - p0) < Z * np.sqrt(p0 * (1 - p0) / c.size)


@pytest.mark.parametrize(("mu", "k"), [(6.0, 2.0), (3.0, 15.0)])
def test_negative_binomial_conversions_have_mean_mu_and_variance_mu_plus_mu2_over_k(mu, k):
    out = _play(_wide_scenario({"conversions": "negative_binomial", "dispersion": k}, mu))
    c = out["conversions"]
    assert np.all(c == np.round(c)) and c.min() >= 0
    # independent of the code: scipy's nbinom(n=k, p=k/(k+mu)) has mean mu and variance mu + mu^2/k
    mean, var, mu4 = _central_moments(stats.nbinom(k, k / (k + mu)))
    assert mean == pytest.approx(mu) and var == pytest.approx(mu + mu**2 / k)
    _assert_moments(c, mean, var, mu4)
    p0 = (k / (k + mu)) ** k
    assert abs((c == 0).mean() - p0) < Z * np.sqrt(p0 * (1 - p0) / c.size)


def _lognormal_checks(nu: np.ndarray, sigma: float) -> None:
    """``nu = exp(sigma z - sigma^2/2)``: mean one, variance ``exp(sigma^2) - 1``;
    ``log nu ~ N(-sigma^2/2, sigma^2)``."""
    theory = stats.lognorm(s=sigma, scale=np.exp(-(sigma**2) / 2))
    assert theory.mean() == pytest.approx(1.0)
    _assert_moments(nu, *_central_moments(theory))
    log_nu = np.log(nu)
    _assert_moments(log_nu, -(sigma**2) / 2, sigma**2, 3 * sigma**4)  # normal: mu_4 = 3 sigma^4


@pytest.mark.parametrize("sigma", [0.15, 0.6])
def test_price_noise_is_mean_one_lognormal(sigma):
    out = _play(_wide_scenario({"conversions": "none"}, cost={"noise_sd": sigma}))
    _lognormal_checks(out["price"] / PRICE, sigma)  # no seasonality, drift or auction pressure: p = p0 nu
    # the noise-free row is untouched: the expected conversions are those of nu = 1
    np.testing.assert_allclose(out["expected_conversions"], 4.0, rtol=1e-12)


@pytest.mark.parametrize("sigma", [0.15, 0.6])
def test_value_noise_is_mean_one_lognormal(sigma):
    out = _play(_wide_scenario({"conversions": "none"}, value={"noise_sd": sigma}, reward="revenue"))
    # c = mu exactly, so revenue = mu * v * nu
    _lognormal_checks(out["revenue"] / (4.0 * 3.0), sigma)
