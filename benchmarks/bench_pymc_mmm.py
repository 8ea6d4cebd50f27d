"""Benchmark of the PyMC-Marketing engine: fit an MMM on data simulated from a known truth, convert
its posterior to a budgetgym family, plan on it, and score the plan under the truth.

**Run it with Python >= 3.12 and PyMC-Marketing installed** (the ``mmm`` extra; PyMC-Marketing 1.x
does not install on 3.11), e.g. from the repository root::

    pip install -e ".[mmm]"            # in a Python >= 3.12 environment
    python benchmarks/bench_pymc_mmm.py [--datasets 3] [--periods 104] [--draws 500] [--tune 500]
        [--chains 2] [--cores 2] [--plan-periods 13] [--max-draws 200] [--no-pymc-optimizer]

or, with budgetgym's core dependencies installed into that environment but budgetgym itself not,
``PYTHONPATH=<a folder holding a 'budgetgym' link to the repository> python benchmarks/bench_pymc_mmm.py``.

Per dataset (seed ``s``):

1. the truth, :data:`TRUTH` (3 weekly channels, geometric normalised carry-over with an 8-week
   window and logistic curves — inside PyMC-Marketing's default model, so the benchmark measures
   the conversion and the planning, not a misspecification — a baseline with yearly seasonality
   and 5% noise, Poisson conversions, revenue at 40 a conversion), simulated for ``--periods``
   weeks of random flighting by :func:`budgetgym.experiments.simulate.simulate_dataset`;
2. a PyMC-Marketing ``MMM`` (``GeometricAdstock(l_max=8)``, ``LogisticSaturation()``, the library's
   default priors and max scaling, yearly seasonality of order 2) fitted by NUTS (``fit``, compile
   included), then saved with ``mmm.save``;
3. conversion: :func:`budgetgym.calibration.pymc_mmm.family_from_mmm` on the saved file (the
   library's own loader) and :func:`~budgetgym.envs.family.family_from_dict` (``convert``), for a
   window of ``--plan-periods`` weeks at the truth's weekly budget; the conversion is checked
   against PyMC-Marketing's own ``channel_contribution`` on the fit data (``check``: the largest
   relative difference over ten draws; ~1e-15 when the mapping is exact);
4. ``budgetgym.planner.plan`` on the family (``plan``), and, unless ``--no-pymc-optimizer``,
   PyMC-Marketing's own optimizer (``mmm.budget_optimizer(...).allocate_budget`` of the weekly
   budget, played evenly) on the same fit;
5. unless ``--no-calibrate``, budgetgym's own engine on the same dataset:
   :func:`budgetgym.calibration.calibrate` (logistic saturation as the truth's, geometric
   carry-over, Gaussian likelihood, 200 bootstrap draws, two processes) for the same window and
   budget, and ``plan`` on its family (``calibrate``; ``cal_s``: calibrate + plan, wall clock);
6. every plan's expected revenue under the **truth** for the window, as % of the true oracle
   (:func:`~budgetgym.envs.solve_oracle`), with the equal split for reference; ``pred/true``: the
   family's predicted value of its plan over its true value.

``--no-pymc`` skips steps 2-4 (and needs neither PyMC-Marketing nor Python 3.12), so the
``calibrate`` column can be measured alone on the same datasets.

Nothing is asserted (figures in ``benchmarks/README.md``, "PyMC-Marketing engine").
"""

from __future__ import annotations

import argparse
import copy
import importlib.util
import tempfile
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from budgetgym.agents.evaluation import pct_of_oracle
from budgetgym.calibration import calibrate
from budgetgym.calibration.pymc_mmm import family_from_mmm
from budgetgym.envs import Scenario, evaluate_plan, scenario_from_dict, solve_oracle
from budgetgym.envs.family import family_from_dict
from budgetgym.experiments.simulate import simulate_dataset
from budgetgym.experiments.stats import mean_interval, paired_difference_interval
from budgetgym.planner import plan

L_MAX = 8
WEEKLY_BUDGET = 30_000.0


def _channel(name: str, decay: float, max_response: float, rate: float) -> dict[str, Any]:
    return {
        "name": name,
        "cost": {"unit": "click", "price": 1.0, "ref_spend": 1e6, "elasticity": 0.0},
        "adstock": {"type": "geometric", "decay": decay, "window": L_MAX, "normalize": True},
        "saturation": {"type": "logistic", "max_response": max_response, "rate": rate},
        "value": {"mean": 40.0},
    }


#: The true campaign (weekly; spend is the media, as PyMC-Marketing's model assumes).
TRUTH: dict[str, Any] = {
    "name": "pymc-truth-3",
    "description": "Three weekly channels inside PyMC-Marketing's default model class, for the engine benchmark.",
    "horizon": 52,
    "step_days": 7.0,
    "budget": {"total": 52 * WEEKLY_BUDGET, "pacing": "even"},
    "reward": "revenue",
    "noise": {"conversions": "poisson"},
    "baseline": {"level": 60_000.0, "seasonality": {"yearly_amplitude": 0.15, "yearly_peak": 340.0}, "noise_sd": 0.05},
    "channels": [
        _channel("search", 0.2, 500.0, 1 / 6_000),
        _channel("social", 0.5, 450.0, 1 / 15_000),
        _channel("video", 0.7, 700.0, 1 / 30_000),
    ],
}


def fit_mmm(data: pd.DataFrame, names: list[str], kpi: str, args: argparse.Namespace, seed: int) -> Any:
    from pymc_marketing.mmm import MMM, GeometricAdstock, LogisticSaturation

    X = data[["date", *names]].assign(date=pd.to_datetime(data["date"]))
    mmm = MMM(
        date_column="date", channel_columns=names, target_column=kpi,
        adstock=GeometricAdstock(l_max=L_MAX), saturation=LogisticSaturation(), yearly_seasonality=2,
    )
    mmm.fit(X, data[kpi], draws=args.draws, tune=args.tune, chains=args.chains, cores=args.cores,
            random_seed=seed, progressbar=False)
    return mmm


def conversion_check(mmm: Any, n_fit: int) -> float:
    """Largest relative difference, over ten evenly spaced posterior draws, between a member's
    expected revenue per period on the fit data's spend and PyMC-Marketing's own
    ``channel_contribution * target_scale`` (summed over channels)."""
    idata = mmm.idata
    spend = np.asarray(idata["constant_data"]["channel_data"].transpose("date", "channel").values, dtype=float)
    contrib = idata["posterior"]["channel_contribution"].transpose("chain", "draw", "date", "channel").values
    contrib = contrib.reshape(-1, *contrib.shape[2:]).sum(axis=2) * float(idata["constant_data"]["target_scale"].values)
    full = family_from_mmm(mmm, plan_periods=n_fit, max_draws=len(contrib))  # member j = flattened draw j
    nominal = scenario_from_dict(full["scenario"])
    worst = 0.0
    for j in np.linspace(0, len(contrib) - 1, 10).astype(int):
        ours = evaluate_plan(nominal.override(full["ensemble"][j]), spend, per_step=True)
        worst = max(worst, float(np.max(np.abs(ours - contrib[j])) / np.max(np.abs(contrib[j]))))
    return worst


def pymc_optimizer_plan(mmm: Any, last_date: pd.Timestamp, periods: int, budget: float) -> np.ndarray:
    """PyMC-Marketing's allocation of the weekly budget over the window after the fit data, played
    evenly: ``[periods, K]``."""
    start = last_date + pd.Timedelta(days=7)
    end = last_date + pd.Timedelta(days=7 * periods)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        optimizer = mmm.budget_optimizer(start_date=str(start.date()), end_date=str(end.date()))
        result = optimizer.allocate_budget(total_budget=budget / periods)
    weekly = np.asarray(result.budgets.sel(channel=list(mmm.channel_columns)).values, dtype=float)
    return np.tile(weekly, (periods, 1))


def calibrated_plan(data: pd.DataFrame, names: list[str], kpi: str, args: argparse.Namespace, seed: int,
                    budget: float) -> np.ndarray:
    """budgetgym's own engine on the same data: ``calibrate`` (logistic curves, as the truth's) for
    the window after the data at ``budget``, then ``plan`` on its family."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "data.csv"
        data.to_csv(path, index=False)
        res = calibrate(path, date="date", kpi=kpi, spend=names, saturation="logistic", draws=args.max_draws,
                        seed=seed, plan_periods=args.plan_periods, plan_budget=budget, plots=False, workers=2)
    return plan(family_from_dict(res.family, source="calibrated"), curves=False).plan


def one_dataset(seed: int, args: argparse.Namespace, truth: Scenario) -> dict[str, Any]:
    ds = simulate_dataset(truth, periods=args.periods, plan="random", seed=seed)
    names = truth.channel_names
    data = ds.data.rename(columns={f"{c}_spend": c for c in names})
    budget = WEEKLY_BUDGET * args.plan_periods
    window = truth.override({"horizon": args.plan_periods, "budget.total": budget})
    best = solve_oracle(window)
    oracle = best.expected_reward
    even = np.full((args.plan_periods, len(names)), budget / args.plan_periods / len(names))
    row: dict[str, Any] = {"seed": seed, "equal": pct_of_oracle(float(evaluate_plan(window, even)), oracle),
                           "oracle_shares": best.plan.sum(axis=0) / budget}
    if args.calibrate:
        t0 = time.perf_counter()
        X = calibrated_plan(data, names, ds.kpi, args, seed, budget)
        row["cal_s"] = time.perf_counter() - t0
        row["calibrate"] = pct_of_oracle(float(evaluate_plan(window, X)), oracle)
        row["cal_shares"] = X.sum(axis=0) / X.sum()
    if args.pymc:
        row.update(pymc_dataset(seed, args, data, names, ds.kpi, window, oracle))
    return row


def pymc_dataset(seed: int, args: argparse.Namespace, data: pd.DataFrame, names: list[str], kpi: str,
                 window: Scenario, oracle: float) -> dict[str, Any]:
    """Steps 2-4 of the module docstring on one dataset: the row's PyMC-Marketing columns."""
    t0 = time.perf_counter()
    mmm = fit_mmm(data, names, kpi, args, seed)
    fit_s = time.perf_counter() - t0
    budget = window.budget.total  # the window's, as calibrate's plan is given
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "mmm.nc"
        mmm.save(str(path))
        t0 = time.perf_counter()
        mapping = family_from_mmm(path, plan_periods=args.plan_periods, plan_budget=budget, max_draws=args.max_draws)
        family = family_from_dict(mapping, source="converted posterior")
        convert_s = time.perf_counter() - t0
    check = conversion_check(mmm, args.periods)
    t0 = time.perf_counter()
    res = plan(family, curves=False)
    plan_s = time.perf_counter() - t0
    ours = float(evaluate_plan(window, res.plan))
    row = {"fit_s": fit_s, "convert_s": convert_s, "plan_s": plan_s, "check": check,
           "budgetgym": pct_of_oracle(ours, oracle), "pred_true": res.value / ours,
           "shares": res.plan.sum(axis=0) / res.plan.sum()}
    if args.pymc_optimizer:
        t0 = time.perf_counter()
        X = pymc_optimizer_plan(mmm, pd.to_datetime(data["date"]).max(), args.plan_periods, budget)
        row["pymc_s"] = time.perf_counter() - t0
        row["pymc"] = pct_of_oracle(float(evaluate_plan(window, X)), oracle)
    return row


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--datasets", type=int, default=3)
    ap.add_argument("--periods", type=int, default=104, help="weeks of simulated data")
    ap.add_argument("--draws", type=int, default=500)
    ap.add_argument("--tune", type=int, default=500)
    ap.add_argument("--chains", type=int, default=2)
    ap.add_argument("--cores", type=int, default=2)
    ap.add_argument("--plan-periods", type=int, default=13)
    ap.add_argument("--max-draws", type=int, default=200)
    ap.add_argument("--no-pymc-optimizer", dest="pymc_optimizer", action="store_false")
    ap.add_argument("--no-pymc", dest="pymc", action="store_false", help="budgetgym's calibrate alone")
    ap.add_argument("--no-calibrate", dest="calibrate", action="store_false", help="PyMC-Marketing alone")
    args = ap.parse_args()
    args.pymc_optimizer = args.pymc_optimizer and args.pymc
    if args.pymc and importlib.util.find_spec("pymc_marketing") is None:
        print("bench_pymc_mmm: PyMC-Marketing is not installed (the mmm extra, Python >= 3.12: "
              "pip install 'budgetgym[mmm]'); --no-pymc runs budgetgym's calibrate alone")
        return
    truth = scenario_from_dict(copy.deepcopy(TRUTH))
    cols = ["seed", "fit_s", "convert_s", "plan_s", "check", "budgetgym", "pymc", "pymc_s", "calibrate", "cal_s",
            "equal", "pred_true"]
    print("  ".join(f"{c:>9}" for c in cols))
    rows = []
    for seed in range(args.datasets):
        row = one_dataset(seed, args, truth)
        rows.append(row)
        shares = " ".join(f"{k} {np.round(row[k], 3)}" for k in ("shares", "cal_shares", "oracle_shares") if k in row)
        print("  ".join(f"{row[c]:>9.3g}" if c in row else f"{'-':>9}" for c in cols), "", shares, flush=True)
    for c in ("budgetgym", "pymc", "calibrate", "equal", "fit_s", "convert_s", "plan_s", "pymc_s", "cal_s"):
        vals = np.array([r[c] for r in rows if c in r])
        if len(vals):
            ci = mean_interval(vals, rng=0)
            print(f"{c:>10}: mean {ci.point:.3f} (95% CI {ci.lo:.3f}-{ci.hi:.3f})  min {vals.min():.3f}  "
                  f"max {vals.max():.3f}")
    for a, b in (("budgetgym", "pymc"), ("calibrate", "pymc"), ("calibrate", "budgetgym")):
        if len(rows) > 1 and a in rows[0] and b in rows[0]:
            d = paired_difference_interval([r[a] for r in rows], [r[b] for r in rows], rng=0)
            wins = sum(r[a] > r[b] for r in rows)
            print(f"{a} - {b}: {d.point:+.3f} points (95% CI {d.lo:+.3f} to {d.hi:+.3f}), "
                  f"better on {wins}/{len(rows)} datasets")


if __name__ == "__main__":
    main()
