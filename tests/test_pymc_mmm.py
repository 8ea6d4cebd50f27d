"""A PyMC-Marketing MMM posterior as a budgetgym family (``budgetgym.calibration.pymc_mmm``), without
PyMC: a synthetic posterior of known values is converted and loaded, and every draw's expected
reward on a spend plan equals PyMC-Marketing's own equations evaluated here in numpy (max-scaled
media, geometric adstock, then logistic or Hill saturation, times the target scale); bad posteriors
are one-line errors, and the loader says to install the extra when PyMC-Marketing is missing."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from budgetgym.calibration.pymc_mmm import family_from_mmm, family_from_posterior, write_family_yaml
from budgetgym.envs import Scenario, evaluate_plan
from budgetgym.envs.errors import BudgetGymError
from budgetgym.envs.family import ScenarioFamily, family_from_dict, load_family

CHANNELS = ["tv", "search"]
SCALE = np.array([800.0, 300.0])  # the channels' largest weekly spend in a (pretend) fit
TARGET = 5000.0  # the KPI's largest value
L_MAX = 4
T = 6
# a plan with dark periods, flights and levels beyond the fit's maximum (the tails of the curves)
PLAN = np.array([[0.0, 150.0], [400.0, 0.0], [800.0, 300.0], [1600.0, 50.0], [0.0, 0.0], [200.0, 900.0]])


def posterior(draws: int = 5, saturation: str = "logistic") -> dict[str, np.ndarray]:
    """A posterior of known, distinct values per draw and channel, [draws, 2]."""
    j = np.arange(draws, dtype=float)[:, None]
    out = {
        "adstock_alpha": np.hstack([0.2 + 0.1 * j, 0.05 + 0.02 * j]),
        "saturation_beta": np.hstack([0.3 + 0.01 * j, 0.15 + 0.02 * j]),
        "intercept_contribution": 0.4 + 0.0 * j[:, 0],  # ignored
    }
    if saturation == "logistic":
        out["saturation_lam"] = np.hstack([1.5 + 0.25 * j, 3.0 + 0.5 * j])
    else:
        out["saturation_kappa"] = np.hstack([0.4 + 0.05 * j, 0.8 + 0.1 * j])
        out["saturation_slope"] = np.hstack([0.8 + 0.1 * j, 1.5 + 0.2 * j])
    return out


def convert(post: dict[str, Any], **kw: Any) -> dict[str, Any]:
    args: dict[str, Any] = dict(
        channels=CHANNELS, channel_scale=SCALE, target_scale=TARGET, l_max=L_MAX, normalize=True,
        plan_periods=T, plan_budget=float(PLAN.sum()), step_days=7.0, name="fitted",
    )
    args.update(kw)
    return family_from_posterior(post, **args)


def pymc_response(X: np.ndarray, draw: dict[str, np.ndarray], saturation: str, normalize: bool = True) -> np.ndarray:
    """PyMC-Marketing's expected media contribution per period (summed over channels), in KPI units:
    ``target_scale * beta * sat(geometric_adstock(x / channel_scale))`` with zero spend before the
    first period (ConvMode.After)."""
    x = X / SCALE
    lags = np.arange(L_MAX)
    out = np.zeros(len(X))
    for i in range(X.shape[1]):
        w = draw["adstock_alpha"][i] ** lags
        if normalize:
            w = w / w.sum()
        a = np.array([sum(w[k] * x[t - k, i] for k in range(L_MAX) if t - k >= 0) for t in range(len(X))])
        if saturation == "logistic":
            lam = draw["saturation_lam"][i]
            s = (1 - np.exp(-lam * a)) / (1 + np.exp(-lam * a))
        else:
            k, n = draw["saturation_kappa"][i], draw["saturation_slope"][i]
            s = 1 - k**n / (k**n + a**n)
        out += TARGET * draw["saturation_beta"][i] * s
    return out


def members(fam: ScenarioFamily) -> list[Scenario]:
    """Every member of an ensemble family, through its public draws (train and test parts)."""
    return [fam.sample(i, split) for split in ("train", "test") for i in range(fam.split_size(split) or 0)]


def which_draw(sc: Scenario, post: dict[str, np.ndarray]) -> int:
    """The posterior draw a member came from, by its max_response (distinct per draw)."""
    beta = sc.channels[0].saturation.max_response
    return int(np.argmin(np.abs(post["saturation_beta"][:, 0] * TARGET - beta)))


# --------------------------------------------------------------------------- the conversion
@pytest.mark.parametrize("saturation", ["logistic", "hill"])
def test_every_member_responds_as_pymc_marketing(saturation: str, tmp_path: Path) -> None:
    post = posterior(5, saturation)
    mapping = convert(post, saturation=saturation)
    fam = load_family(write_family_yaml(mapping, tmp_path / "family.yaml"))
    assert fam.is_ensemble and fam.brief.horizon == T and fam.brief.budget == pytest.approx(PLAN.sum())
    seen = set()
    for sc in members(fam):
        j = which_draw(sc, post)
        seen.add(j)
        draw = {k: v[j] for k, v in post.items()}
        ours = evaluate_plan(sc, PLAN, per_step=True)
        np.testing.assert_allclose(ours, pymc_response(PLAN, draw, saturation), rtol=1e-12)
    assert seen == set(range(5))  # each draw once: 5 members


def test_unnormalised_adstock_and_a_shared_parameter() -> None:
    """normalize=False keeps the weights alpha**l; a [draws] array is one value for every channel."""
    post = posterior(3)
    post["adstock_alpha"] = np.array([0.3, 0.5, 0.7])
    mapping = convert(post, normalize=False)
    fam = family_from_dict(mapping)
    for sc in members(fam):
        j = which_draw(sc, post)
        draw = {k: (np.full(2, v[j]) if v.ndim == 1 else v[j]) for k, v in post.items()}
        np.testing.assert_allclose(
            evaluate_plan(sc, PLAN, per_step=True), pymc_response(PLAN, draw, "logistic", normalize=False), rtol=1e-12
        )


def test_rescaling_by_hand() -> None:
    """One draw worked by hand: rate = lam / scale, half_saturation = kappa * scale, max_response =
    beta * target scale, decay = alpha (or 0.5 ** (1 / half-life))."""
    post = {
        "adstock_halflife": np.array([[1.0, 2.0], [1.0, 2.0]]),
        "saturation_lam": np.array([[2.0, 3.0], [2.0, 3.0]]),
        "saturation_beta": np.array([[0.5, 0.25], [0.5, 0.25]]),
    }
    ch = convert(post)["scenario"]["channels"]
    assert ch[0]["adstock"] == {"type": "geometric", "decay": 0.5, "window": 4, "normalize": True}
    assert ch[1]["adstock"]["decay"] == pytest.approx(2**-0.5)
    assert ch[0]["saturation"] == {"type": "logistic", "rate": 2.0 / 800.0, "max_response": 2500.0}
    assert ch[1]["saturation"] == {"type": "logistic", "rate": 0.01, "max_response": 1250.0}
    assert ch[0]["cost"] == {"unit": "click", "price": 1.0, "ref_spend": 1e15, "elasticity": 0.0}
    hill = convert({**posterior(2, "hill")}, saturation="hill")["ensemble"][1]
    assert hill["channels.tv.saturation.half_saturation"] == pytest.approx(0.45 * 800.0)
    assert hill["channels.search.saturation.slope"] == pytest.approx(1.7)


def test_nominal_is_the_posterior_median_and_draws_are_thinned_evenly() -> None:
    n = 1001
    post = posterior(n)
    mapping = convert(post, max_draws=11, adstock="none")
    ens = mapping["ensemble"]
    assert len(ens) == 11
    kept = [round((e["channels.tv.saturation.max_response"] / TARGET - 0.3) / 0.01) for e in ens]
    assert kept == list(range(0, n, 100))  # evenly spaced, first and last included
    assert not any("adstock" in key for e in ens for key in e)
    tv = mapping["scenario"]["channels"][0]
    assert tv["adstock"] == {"type": "none"}
    assert tv["saturation"]["rate"] == pytest.approx((1.5 + 0.25 * 500) / 800.0)  # the median draw, 500
    assert family_from_dict(mapping).split_size("test") == 2  # round(0.2 * 11)


def test_reward_channel_keys_and_planning() -> None:
    """A count KPI is a conversions reward with Poisson noise (revenue: noise-free, its response in currency); a
    channel name holding a dot is addressed by index; the family plans."""
    from budgetgym.planner import plan

    mapping = convert(posterior(4), channels=["tv.national", "search"], reward="conversions")
    assert mapping["scenario"]["noise"] == {"conversions": "poisson"}
    assert "channels.0.saturation.rate" in mapping["ensemble"][0]
    fam = family_from_dict(mapping)
    assert fam.brief.reward == "conversions" and fam.nominal().channel_names == ["tv.national", "search"]
    assert convert(posterior(4))["scenario"]["noise"] == {"conversions": "none"}
    # a revenue KPI's response is revenue itself (value 1 a unit): no conversions to count; a count KPI's counts them
    assert convert(posterior(4))["scenario"]["response_unit"] == "currency"
    assert mapping["scenario"]["response_unit"] == "conversions" and fam.nominal().response_unit == "conversions"
    res = plan(fam, draws=3, curves=False)
    assert res.plan.shape == (T, 2) and res.plan.sum() == pytest.approx(PLAN.sum())


# --------------------------------------------------------------------------- bad input
def _without(post: dict[str, np.ndarray], key: str) -> dict[str, np.ndarray]:
    return {k: v for k, v in post.items() if k != key}


def _with(post: dict[str, np.ndarray], key: str, value: Any) -> dict[str, np.ndarray]:
    return {**post, key: value}


P = posterior(3)
NEG = P["saturation_lam"].copy()
NEG[1, 1] = -0.5
H = posterior(3, "hill")
FLAT = H["saturation_slope"].copy()
FLAT[2, 0] = 0.2  # below budgetgym's Hill slopes (0.3 - 10)


@pytest.mark.parametrize(
    ("post", "kw", "match"),
    [
        (_without(P, "saturation_lam"), {}, r"missing variable 'saturation_lam'"),
        (_without(P, "adstock_alpha"), {}, r"missing variable 'adstock_alpha'"),
        (P, {"saturation": "hill"}, r"missing variable 'saturation_kappa'"),
        (_with(P, "saturation_lam", P["saturation_lam"][:, :1]), {}, r"lam.*2 channels \(tv, search\).*\(3, 1\)"),
        (P, {"channels": ["tv", "search", "video"], "channel_scale": [1.0] * 3}, r"adstock_alpha.*3 channels"),
        (_with(P, "saturation_lam", NEG), {}, r"lam.*positive values, got -0.5 \(draw 1, channel 'search'\)"),
        (_with(P, "saturation_beta", -P["saturation_beta"]), {}, r"saturation_beta.*negative beta"),
        (_with(P, "adstock_alpha", P["adstock_alpha"] + 1), {}, r"adstock_alpha.*\[0, 1\)"),
        (_with(H, "saturation_slope", FLAT), {"saturation": "hill"},
         r"saturation_slope.*saturation.slope range \[0.3, 10\], got 0.2 \(draw 2, channel 'tv'\)"),
        (_with(P, "saturation_lam", P["saturation_lam"] * 1e13), {}, r"lam / channel_scale within.*\[1e-18, 1e\+09\]"),
        (_with(P, "saturation_lam", P["saturation_lam"] * np.nan), {}, r"saturation_lam.*finite"),
        (_with(P, "saturation_beta", P["saturation_beta"][:2]), {}, r"different numbers of draws"),
        ({k: v[:1] for k, v in P.items()}, {}, r"at least 2 draws"),
        (P, {"channel_scale": [800.0, 0.0]}, r"channel_scale: expected 2 positive numbers"),
        (P, {"target_scale": -1.0}, r"target_scale"),
        (P, {"saturation": "michaelis_menten"}, r"saturation: expected one of logistic, hill"),
        (P, {"reward": "profit"}, r"reward"),
        (P, {"l_max": 0}, r"l_max: expected an integer >= 1"),
        (P, {"channels": ["tv", "tv"]}, r"unique"),
        ([1, 2], {}, r"posterior: expected a mapping"),
    ],
)
def test_bad_posteriors_are_one_line_errors(post: Any, kw: dict[str, Any], match: str) -> None:
    with pytest.raises(BudgetGymError, match=match) as err:
        convert(post, **kw)
    assert "\n" not in str(err.value)


def test_the_loader_asks_for_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "pymc_marketing", None)  # as on Python 3.11: not importable
    monkeypatch.setitem(sys.modules, "pymc_marketing.mmm", None)
    with pytest.raises(BudgetGymError, match=r"install the mmm extra \(Python >= 3.12\)") as err:
        family_from_mmm("model.nc")
    assert "\n" not in str(err.value)
    with pytest.raises(BudgetGymError, match=r"unknown option\(s\) horizon"):
        family_from_mmm("model.nc", horizon=4)


def test_a_bare_inference_data_file(tmp_path: Path) -> None:
    """Where PyMC-Marketing is installed (Python >= 3.12; skipped elsewhere): a bare inference-data
    netCDF (no model attributes) is read with the scales and fit data of its ``constant_data``;
    chains are flattened chain by chain and channels picked by name."""
    pytest.importorskip("pymc_marketing")
    az = pytest.importorskip("arviz")
    lam = np.arange(1.0, 13.0).reshape(2, 3, 2)  # [chain, draw, channel (tv, search)]
    spend = np.array([[100.0, 50.0], [200.0, 0.0], [0.0, 80.0], [400.0, 90.0]])
    dims = {"adstock_alpha": ["channel"], "saturation_lam": ["channel"], "saturation_beta": ["channel"],
            "channel_scale": ["channel"], "channel_data": ["date", "channel"]}
    data = {
        "posterior": {"adstock_alpha": np.full((2, 3, 2), 0.4), "saturation_lam": lam,
                      "saturation_beta": np.full((2, 3, 2), 0.2)},
        "constant_data": {"channel_scale": np.array([400.0, 90.0]), "target_scale": np.array(1000.0),
                          "channel_data": spend},
    }
    dates = np.array(["2024-01-01", "2024-01-08", "2024-01-15", "2024-01-22"], dtype="datetime64[ns]")
    az.from_dict(data, dims=dims, coords={"channel": ["tv", "search"], "date": dates}).to_netcdf(tmp_path / "fit.nc")

    with pytest.raises(BudgetGymError, match="give l_max="):
        family_from_mmm(tmp_path / "fit.nc")
    mapping = family_from_mmm(tmp_path / "fit.nc", l_max=3, channels=["search", "tv"])
    assert [c["name"] for c in mapping["scenario"]["channels"]] == ["search", "tv"]
    assert mapping["scenario"]["step_days"] == 7.0 and mapping["scenario"]["horizon"] == 4
    assert mapping["scenario"]["budget"]["total"] == pytest.approx(spend.sum())
    rates = [m["channels.tv.saturation.rate"] * 400.0 for m in mapping["ensemble"]]
    assert rates == pytest.approx([1.0, 3.0, 5.0, 7.0, 9.0, 11.0])  # chain 0's draws, then chain 1's
    assert mapping["ensemble"][0]["channels.search.saturation.rate"] == pytest.approx(2.0 / 90.0)
    assert mapping["ensemble"][0]["channels.search.saturation.max_response"] == pytest.approx(200.0)
    family_from_dict(mapping)
    with pytest.raises(BudgetGymError, match=r"unknown channel\(s\) radio"):
        family_from_mmm(tmp_path / "fit.nc", l_max=3, channels=["radio"])


def test_a_max_response_beyond_a_scenarios_bound_follows_calibrates_rule() -> None:
    """A scenario's max_response is at most 1e12 per step. One posterior draw whose beta * target_scale was above
    it refused the whole posterior (while calibrate caps such a bootstrap draw with a warning), and a median above
    it did not say to rescale the KPI. Now as in calibrate's export: the median (the nominal scenario) is refused
    in one line saying to rescale; a draw beyond is capped at 1e12, with a warning counting the members."""
    post = posterior(draws=5)
    post["saturation_beta"][[1, 3], 0] = [4e8, 1e9]  # * TARGET 5000: 2e12 and 5e12 in two of five draws, tv
    with pytest.warns(UserWarning) as caught:
        mapping = convert(post)
    note = ("tv: max_response is more than a scenario takes (1e+12) in 2 of 5 posterior draws in the family "
            "(up to 5e+12); family.yaml caps those members at 1e+12, so their response is lower than fitted")
    assert [str(w.message) for w in caught] == [note]
    assert note in mapping["description"]
    tv = [m["channels.tv.saturation.max_response"] for m in mapping["ensemble"]]
    assert tv == pytest.approx([0.3 * TARGET, 1e12, 0.32 * TARGET, 1e12, 0.34 * TARGET])
    assert mapping["scenario"]["channels"][0]["saturation"]["max_response"] == pytest.approx(0.34 * TARGET)  # median
    fam = family_from_dict(mapping)
    assert sorted(sc.channels[0].saturation.max_response for sc in members(fam))[-2:] == [1e12, 1e12]

    post["saturation_beta"][[0, 2], 0] = 3e8  # now three of five draws above: the median is 1.5e12
    with pytest.raises(BudgetGymError) as err:
        convert(post)
    assert str(err.value) == (
        "posterior['saturation_beta']: channel 'tv': the median max_response (beta * target_scale) is 1.5e+12 KPI "
        "per period, more than a scenario takes (1e+12); rescale the KPI (the model's target, e.g. in thousands)")
