"""Benchmark of ``budgetgym calibrate``: fit time, and how good the plans made on the fitted family are.

1. **Speed** (issue 11's target: 200 draws for 3 channels x 156 periods in <= 15 s on 2 cores):
   ``calibrate(..., draws=200)`` on a seeded 3-channel, 156-week dataset, median of ``--repeats``
   runs (fit, bootstrap, total), and ``calibrate`` + ``plan`` end to end.
2. **Quality**, on ``--datasets`` seeded campaigns whose truth is a budgetgym scenario inside the
   model class (weekly, geometric carry-over, Hill curves with slopes 0.6–2, exposure = spend or
   impressions at a CPM with auction pressure): 156 weeks of flighted spend (flights and dark
   periods, one channel spent in a fifth of the weeks in every third campaign) are played through
   the **environment** (``evaluate_plan(..., per_step=True)`` per channel), a baseline (level,
   trend, yearly cycle) and Gaussian noise (``--noise``, sd as a share of the mean KPI) added.
   Then ``calibrate`` (200 draws) -> ``plan(family.yaml, history=history.csv)`` for the 13 weeks
   after the data, and the plan is valued under the **true** scenario after the same history,
   against the true oracle (``solve_oracle``, same history): % of oracle (plain, and on the part a
   plan can change, i.e. minus the carry-in of the history alone), mean with a 95% bootstrap
   interval and the worst; and the share of channel-campaigns whose 90% interval of the
   steady-state response at the recommended spend covers the true one.

Targets (issue 11): mean >= 99% and worst >= 97% of the oracle, coverage >= 80%, fit <= 15 s;
exit status 1 when one is missed. Usage::

    python benchmarks/bench_calibrate.py [--datasets 20] [--periods 156] [--noise 0.03] [--repeats 3]
        [--prior weak|all|none] [--adstock geometric|weibull_cdf|weibull_pdf] [--delay gamma|geometric|auto]
        [--media-season yearly] [--prior-draws]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from budgetgym.agents.evaluation import pct_of_oracle
from budgetgym.calibration import calibrate
from budgetgym.calibration.data import calendar_day
from budgetgym.calibration.plots import response_band
from budgetgym.calibration.refits import DEFAULT_WORKERS
from budgetgym.envs import scenario_from_dict
from budgetgym.envs.oracle import solve_oracle
from budgetgym.envs.plan_value import evaluate_plan
from budgetgym.planner import plan


def _flights(T: int, levels: np.ndarray, rng: np.random.Generator, weak: bool) -> np.ndarray:
    X = np.zeros((T, len(levels)))
    for i, level in enumerate(levels):
        t = 0
        while t < T:
            on, off = int(rng.integers(2, 9)), int(rng.integers(1, 6))
            X[t:min(T, t + on), i] = level * rng.uniform(0.3, 2.5) * rng.uniform(0.9, 1.1, min(T, t + on) - t)
            t += on + off
    if weak:
        keep = rng.choice(np.flatnonzero(X[:, -1] > 0), size=T // 5, replace=False)
        mask = np.zeros(T, dtype=bool)
        mask[keep] = True
        X[~mask, -1] = 0.0
    return X


def truth_campaign(seed: int, T: int, K: int = 3) -> tuple[dict[str, Any], np.ndarray, pd.DatetimeIndex]:
    """A true scenario mapping (weekly, horizon ``T``) and its flighted spend."""
    rng = np.random.default_rng(seed)
    levels = rng.uniform(500, 4000, K)
    spend = _flights(T, levels, rng, weak=seed % 3 == 0)
    dates = pd.date_range("2022-01-03", periods=T, freq="7D")
    channels = []
    for i in range(K):
        impressions = i == 0
        price = float(rng.uniform(5, 20)) if impressions else 1.0
        unit_per = 1000.0 / price if impressions else 1.0
        theta = float(rng.uniform(0.0, 0.7))
        typical = levels[i] * 1.1 * unit_per / (1 - theta)
        channels.append({
            "name": f"ch{i}",
            "cost": {"unit": "impression" if impressions else "click", "price": price, "ref_spend": float(levels[i]),
                     "elasticity": float(rng.uniform(0, 0.4)) if impressions else 0.0},
            "adstock": {"type": "geometric", "decay": theta},
            "saturation": {"type": "hill", "max_response": float(levels[i] * rng.uniform(2, 6)),
                           "half_saturation": float(typical * np.exp(rng.normal(0, 0.5))),
                           "slope": float(rng.uniform(0.6, 2.0))},
        })
    sc = {"name": f"truth-{seed}", "horizon": T, "step_days": 7.0, "start_day": calendar_day(dates[0]),
          "budget": {"total": float(spend.sum())}, "reward": "revenue", "noise": {"conversions": "none"},
          "channels": channels}
    return sc, spend, dates


def simulate(seed: int, T: int, noise: float, folder: Path) -> tuple[Path, dict[str, Any], np.ndarray]:
    """Write the dataset of campaign ``seed`` (the environment plays the spend) into ``folder``."""
    data, spend, dates = truth_campaign(seed, T)
    sc = scenario_from_dict(data)
    K = sc.n_channels
    contrib = np.column_stack([
        evaluate_plan(sc, np.where(np.arange(K) == i, spend, 0.0), per_step=True) for i in range(K)
    ])
    rng = np.random.default_rng(seed + 1000)
    weeks = np.arange(T)
    level = 2.0 * contrib.sum(axis=1).mean()
    base = level * (1 + 0.1 * weeks / 52 + 0.1 * np.cos(2 * np.pi * (7 * weeks - rng.uniform(0, 365)) / 365.25))
    y = base + contrib.sum(axis=1)
    y = y + noise * y.mean() * rng.standard_normal(T)
    frame = pd.DataFrame({"date": dates.strftime("%Y-%m-%d"), "revenue": y})
    for i, ch in enumerate(sc.channel_names):
        frame[f"{ch}_spend"] = spend[:, i]
    frame["ch0_impressions"] = 1000.0 * spend[:, 0] / data["channels"][0]["cost"]["price"] * (
        1 + spend[:, 0] / data["channels"][0]["cost"]["ref_spend"]) ** -data["channels"][0]["cost"]["elasticity"]
    path = folder / f"campaign{seed}.csv"
    frame.to_csv(path, index=False)
    return path, data, spend


def _steady(ch: dict[str, Any], x: float) -> float:
    """A true channel's response (KPI per week) to spend ``x`` sustained every week (by hand)."""
    c, s = ch["cost"], ch["saturation"]
    u = 1000.0 if c["unit"] == "impression" else 1.0
    e = u * x / c["price"] * (1 + x / c["ref_spend"]) ** -c["elasticity"]
    a = e / (1 - ch["adstock"]["decay"])
    return s["max_response"] * a ** s["slope"] / (s["half_saturation"] ** s["slope"] + a ** s["slope"])


def one(seed: int, T: int, noise: float, folder: Path, prior: str = "all", **model: Any) -> dict[str, Any]:
    path, data, spend = simulate(seed, T, noise, folder)
    out = folder / f"fit{seed}"
    t0 = time.perf_counter()
    exposure = "ch0_impressions,-,-"  # ch1 and ch2 are driven by their spend
    res = calibrate(path, date="date", kpi="revenue", spend="ch0_spend,ch1_spend,ch2_spend",
                    exposure=exposure, draws=200, seed=seed, prior=prior, out=out, plots=False, **model)
    fit_s = time.perf_counter() - t0
    pr = plan(out / "family.yaml", history=out / "history.csv", curves=False, lift_design="beyond")  # timed: no VOI
    total_s = time.perf_counter() - t0
    hist = spend[-len(res.history):]
    window = {**data, "horizon": res.window.periods, "start_day": res.window.start_day,
              "budget": {"total": res.window.budget}}
    truth = scenario_from_dict(window)
    value = float(evaluate_plan(truth, pr.plan, history=hist))
    oracle = solve_oracle(truth, history=hist).expected_reward
    carry = float(evaluate_plan(truth, np.zeros_like(pr.plan), history=hist))
    x = pr.plan.mean(axis=0)
    _, lo, hi = response_band(res.fit, res.draws, res.costs, x[None, :])
    true = np.array([_steady(ch, float(x[i])) for i, ch in enumerate(data["channels"])])
    assert lo is not None and hi is not None
    covered = (lo[0] <= true) & (true <= hi[0])
    return {"seed": seed, "pct": pct_of_oracle(value, oracle),
            "pct_incremental": 100 * (value - carry) / (oracle - carry), "covered": int(covered.sum()),
            "channels": len(true), "fit_s": fit_s, "total_s": total_s,
            "r2": res.errors.r2}


def _ci(x: np.ndarray, rng: np.random.Generator) -> tuple[float, float]:
    means = rng.choice(x, size=(2000, len(x))).mean(axis=1)
    return float(np.percentile(means, 2.5)), float(np.percentile(means, 97.5))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--datasets", type=int, default=20)
    ap.add_argument("--periods", type=int, default=156)
    ap.add_argument("--noise", type=float, default=0.03, help="noise sd as a share of the mean KPI")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--prior", default="all", help="calibrate's --prior: all (its default), weak or none")
    ap.add_argument("--adstock", default="geometric",
                    help="calibrate's --adstock: geometric (the truth's), weibull_cdf or weibull_pdf")
    ap.add_argument("--delay", default="none",
                    help="calibrate's --delay: none, gamma, geometric, auto or one form per channel")
    ap.add_argument("--media-season", default="none", help="calibrate's --media-season: none or yearly")
    ap.add_argument("--prior-draws", action="store_true", help="calibrate's --prior-draws")
    ap.add_argument("--workers", type=int, default=DEFAULT_WORKERS,
                    help="calibrate's --workers: processes refitting the bootstrap (default: as the command)")
    args = ap.parse_args(argv)
    model = {"adstock": args.adstock, "delay": args.delay, "media_season": args.media_season,
             "prior_draws": args.prior_draws, "workers": args.workers}
    ok = True
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        path, _, _ = simulate(1, 156, args.noise, folder)
        times = []
        for r in range(args.repeats):
            res = calibrate(path, date="date", kpi="revenue", spend="ch0_spend,ch1_spend,ch2_spend", draws=200,
                            seed=r, plots=False, **model)
            times.append(res.seconds)
        med = {k: float(np.median([t[k] for t in times])) for k in ("fit", "bootstrap", "total")}
        print(f"speed: 3 channels x 156 periods, 200 draws: fit {med['fit']:.2f} s, bootstrap {med['bootstrap']:.2f} s,"
              f" total {med['total']:.2f} s (median of {args.repeats}; target <= 15 s)")
        ok &= med["total"] <= 15
        rows = [one(s, args.periods, args.noise, folder, args.prior, **model) for s in range(args.datasets)]
    if not rows:  # --datasets 0: the speed alone
        return 0 if ok else 1
    df = pd.DataFrame(rows)
    print(df.round(3).to_string(index=False))
    rng = np.random.default_rng(0)
    for col in ("pct", "pct_incremental"):
        lo, hi = _ci(df[col].to_numpy(), rng)
        print(f"{col}: mean {df[col].mean():.2f}% (95% CI {lo:.2f}-{hi:.2f}), worst {df[col].min():.2f}%")
    cover = df["covered"].sum() / df["channels"].sum()
    print(f"coverage of the 90% interval at the recommended spend: {100 * cover:.0f}% of channel-campaigns")
    print(f"calibrate + plan: median {df['total_s'].median():.1f} s per campaign")
    ok &= df["pct"].mean() >= 99 and df["pct"].min() >= 97 and cover >= 0.8
    print("targets met" if ok else "TARGET MISSED")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
