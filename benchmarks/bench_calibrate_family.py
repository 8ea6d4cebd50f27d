"""Issue 11's benchmark on ``budgetgym simulate`` data: calibrate -> plan on retail-5-family draws.

For each of ``--datasets`` held-out draws of ``retail-5-family`` (five channels, search and
shopping per click, the others per thousand impressions with auction pressure, carry-over,
S-shaped curves in some draws, conversion delays, seasonal demand, negative-binomial conversion
noise and basket-value noise — much of it **outside** calibrate's model class):

1. the truth is the draw made weekly (``step_days: 7``, shocks dropped, Poisson counts, 2% basket-value
   noise: the family's daily noise levels would be 10-45% a week) with a KPI baseline
   (level = the equal split's expected revenue per period, +5% a year, a yearly cycle of
   amplitude 0.15 peaking mid-December, a competitor control with effect -3% of the level per
   unit, 3% log-normal noise);
2. ``simulate_dataset(truth, --periods, "random", seed)`` plays a random flighting (flights, dark
   periods) through the environment: the dataset a marketer would have (date, revenue, spend and
   impressions/clicks per channel, the control);
3. ``calibrate`` (200 draws; exposure columns given; the control given) writes ``family.yaml`` and
   ``history.csv``; ``plan(family.yaml, history=history.csv)`` recommends the 13 periods after the
   data at the data's spend rate;
4. the plan is valued under the **true** draw (13 periods, the same history of spend as carry-in)
   against the true oracle (``solve_oracle``), and the equal split for reference; coverage: the
   share of channels whose 90% interval (over the fitted family's draws) of the expected revenue at
   the recommended plan contains the true one.

Prints per dataset and the summary (mean with a 95% bootstrap interval, worst). Targets (issue 11):
mean >= 99%, worst >= 97% of the oracle, coverage >= 80%. Diagnostics beside them: the plan made
on the point estimate alone (the nominal scenario of ``family.yaml``) valued the same way, and the
share of channels on which the oracle (the plan) spends more per period than the data's largest
period (extrapolation beyond anything the fit saw), and the true oracle held to each channel's
largest period in the data (``max_share``: what a plan that never leaves the data's range can
reach). ``--noise-free`` drops every noise (counts, basket values, prices, baseline) from the
same truths and flighting: the ceiling of calibrate's model class on this data design;
``--noise-seed N`` simulates draw ``d`` with seed ``d + N`` (another flighting and noise on the
same truth): how much a dataset's figure is its noise's. ``--lift-tests N`` has ``simulate_dataset``
write ``N`` lift tests of the truth (the largest channels first, each channel's mean weekly spend
doubled, measured to ``--lift-sigma`` of the true lift; :mod:`budgetgym.experiments.simulated_lifts`) and
passes them to ``calibrate`` (:mod:`budgetgym.calibration.lift`); ``--lift-exact`` replaces each
measurement by the true lift (the same ``sigma``): what the tests' noise costs.

``--lift-design plan`` closes the loop: after step 3, the plan's ``lift_design``
(:func:`budgetgym.planner.experiments.lift_design`: a test per channel it spends on beyond the
history, from its mean spend in the data to the plan's level) is simulated on the truth
(``simulate_dataset(..., lift_design=...)``: the same dataset, seed and first-round tests, the
designed tests appended, the same noise rule), calibrate runs again with all the tests, the plan is
made again and valued as in step 4 ("round 2"; a dataset whose plan stays within the history has
no designed test and its round 2 is its round 1). ``--lift-design voi`` does the same with the plan's
``lift_design="voi"`` (:func:`budgetgym.planner.voi.voi_design`: up to 5 tests chosen greedily by their
expected value of information over the family's draws, from each channel's mean spend in the data;
``--design-tests N`` for at most ``N``). ``--rounds R`` repeats the loop, test and learn: round
``k`` adds the tests round ``k - 1``'s plan designed from its own family (which already learnt from
the earlier tests) to the dataset, so ``--rounds 3 --design-tests 3`` runs at most three tests,
then at most three more chosen in the light of the first ones' results.
Usage::

    python benchmarks/bench_calibrate_family.py [--datasets 20] [--periods 156] [--draws 200] [--prior weak]
        [--delay gamma|geometric|auto] [--media-season yearly] [--prior-draws] [--first 0] [--only 10,3]
        [--noise-free] [--noise-seed 0]
        [--lift-tests 5] [--lift-sigma 0.15] [--lift-exact] [--lift-design plan|voi] [--design-tests 5] [--rounds 2]
        [--roi-prior TAU] [--baseline-noise 0.03] [--known-baseline]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from budgetgym.agents.evaluation import pct_of_oracle
from budgetgym.calibration import calibrate
from budgetgym.calibration.refits import DEFAULT_WORKERS
from budgetgym.envs import evaluate_plan, solve_oracle
from budgetgym.envs.dynamics import ChannelModel
from budgetgym.envs.expected import ExpectedModel
from budgetgym.envs.family import load_family
from budgetgym.envs.history import carry_in
from budgetgym.envs.plan_value import scenario_path
from budgetgym.envs.scenario import Scenario
from budgetgym.experiments.flighting import LEVEL_SD
from budgetgym.experiments.simulate import LIFT_SIGMA, exposure_column, simulate_dataset, spend_column, write_dataset
from budgetgym.planner import PlanningProblem, plan
from budgetgym.planner.inputs import read_history

WINDOW = 13
#: The KPI baseline's log-normal noise sd (``--baseline-noise``): 3%, most of the data's residual.
BASELINE_NOISE = 0.03


def _calibrate_plan(data_dir: Path, fit_dir: Path, truth: Scenario, draw: int, draws: int, rate: float,
                    tests: bool, design: str = "beyond", design_tests: int = 5, controls: str | None = "competitor",
                    **options: Any) -> tuple[Any, Any, float, float]:
    """calibrate ``data_dir/data.csv`` (with its lift_tests.csv if ``tests``) into ``fit_dir`` and plan on it
    (its lift design by the rule ``design``): the fit, the plan, the seconds of the fit and of fit + plan."""
    names = truth.channel_names
    exposure = [exposure_column(c) for c in truth.channels]
    t0 = time.perf_counter()
    res = calibrate(data_dir / "data.csv", date="date", kpi="revenue", spend=",".join(spend_column(n) for n in names),
                    exposure=",".join(exposure), controls=controls, draws=draws, seed=draw, out=fit_dir,
                    plots=False, plan_periods=WINDOW, plan_budget=WINDOW * rate,
                    lift_tests=data_dir / "lift_tests.csv" if tests else None, **options)
    t_fit = time.perf_counter() - t0
    rec = plan(fit_dir / "family.yaml", history=fit_dir / "history.csv", curves=False, lift_design=design,
               lift_tests=design_tests)
    return res, rec, t_fit, time.perf_counter() - t0


def _coverage(fit_dir: Path, X: np.ndarray, window: Scenario, hist: np.ndarray, draws: int) -> float:
    """The share of channels whose 90% interval over the fitted family's draws of the expected revenue at
    plan ``X`` contains the true one."""
    fitted_family = fit_dir / "family.yaml"
    fitted_hist = read_history(fit_dir / "history.csv", load_family(fitted_family).nominal())
    problem = PlanningProblem(fitted_family, draws=min(draws, 100), history=fitted_hist)
    fitted = np.array([m.expected.channel_revenue(X) for m in problem.members])
    lo, hi = np.percentile(fitted, [5, 95], axis=0)
    true_model = ExpectedModel(ChannelModel.from_scenario(window), scenario_path(window), carry_in(window, hist))
    true_rev = true_model.channel_revenue(X)
    return float(((true_rev >= lo) & (true_rev <= hi)).mean())


def _exact(ds: Any, out: Path) -> None:
    """Overwrite ``out/lift_tests.csv`` with the true lifts as measurements (sigma kept)."""
    ds.lift_tests.assign(delta_y=ds.lift_tests["true_delta_y"]).drop(columns="true_delta_y").to_csv(
        out / "lift_tests.csv", index=False)


def weekly_truth(
    draw: int, periods: int, baseline_noise: float = BASELINE_NOISE,
) -> tuple[Scenario, Scenario, Scenario]:
    """Step 1: test draw ``draw`` of ``retail-5-family``, that draw made weekly, and the weekly truth of ``periods``
    periods with its KPI baseline (module docstring; its log-normal noise sd ``baseline_noise``)."""
    d = load_family("retail-5-family").sample(draw, "test")
    # weekly noise: Poisson counts and a 2% basket-value noise. The family's negative binomial
    # (dispersion 5-100) and its basket noise are daily figures; on a week's thousands of orders they
    # would put 10-45% noise on each channel's weekly revenue, far above real weekly KPIs.
    weekly = d.override({"step_days": 7, "start_day": 0, "shocks": [], "noise.conversions": "poisson",
                         **{f"channels.{c.name}.value.noise_sd": 0.02 for c in d.channels}})
    rate = weekly.step_budget
    equal = np.full((weekly.horizon, weekly.n_channels), rate / weekly.n_channels)
    level = float(evaluate_plan(weekly, equal)) / weekly.horizon
    truth = weekly.override({
        "horizon": periods, "budget.total": rate * periods,
        "baseline": {"level": level, "trend": 0.05, "seasonality": {"yearly_amplitude": 0.15, "yearly_peak": 345},
                     "controls": [{"name": "competitor", "effect": -0.03 * level, "autocorrelation": 0.7}],
                     "noise_sd": baseline_noise},
    })
    return d, weekly, truth


def one(
    draw: int, periods: int, draws: int, root: Path, prior: str = "all", adstock: str = "geometric",
    delay: str = "none", media_season: str = "none", prior_draws: bool = False, noise_free: bool = False,
    noise_seed: int = 0, lift_tests: int = 0, lift_sigma: float = LIFT_SIGMA, lift_exact: bool = False,
    lift_design: str | None = None, design_tests: int = 5, workers: int = 1, rounds: int = 2,
    objectives: tuple[str, ...] = (), level_sd: float = LEVEL_SD, likelihood: str = "gaussian",
    roi_prior: float | None = None, roi_prior_form: str | None = None, baseline_noise: float = BASELINE_NOISE,
    known_baseline: bool = False,
) -> dict[str, Any]:
    d, weekly, truth = weekly_truth(draw, periods, baseline_noise)
    rate = weekly.step_budget
    K = weekly.n_channels
    if noise_free:  # the model class's ceiling: the same truth and flighting, no noise anywhere
        truth = truth.override({"noise.conversions": "none", "baseline.noise_sd": 0.0,
                                **{f"channels.{c.name}.value.noise_sd": 0.0 for c in d.channels},
                                **{f"channels.{c.name}.cost.noise_sd": 0.0 for c in d.channels}})
    ds = simulate_dataset(truth, periods, "random", seed=draw + noise_seed, lift_tests=lift_tests,
                          lift_sigma=lift_sigma, level_sd=level_sd)
    out = write_dataset(ds, root / f"d{draw}")
    if lift_exact and ds.lift_tests is not None:  # the tests' measurements without their noise (sigma kept)
        _exact(ds, out)
    if known_baseline:  # a bound: the KPI less the true expected baseline (its noise stays), fitted with no season
        data = pd.read_csv(out / "data.csv")
        data["revenue"] -= ds.contributions["baseline"].to_numpy()
        data.to_csv(out / "data.csv", index=False)
    options = {"prior": prior, "adstock": adstock, "delay": delay, "media_season": media_season,
               "prior_draws": prior_draws, "workers": workers, "likelihood": likelihood, "roi_prior": roi_prior,
               "roi_prior_form": roi_prior_form, **({"fourier": 0, "controls": None} if known_baseline else {})}
    rule = {"plan": "beyond", "voi": "voi"}.get(lift_design or "", "none")
    res, rec, t_fit, t_all = _calibrate_plan(out, root / f"f{draw}", truth, draw, draws, rate, lift_tests > 0,
                                             rule, design_tests, **options)
    point = plan(load_family(root / f"f{draw}" / "family.yaml").nominal(), history=root / f"f{draw}" / "history.csv",
                 curves=False)
    window = weekly.override({"horizon": WINDOW, "budget.total": WINDOW * rate, "start_day": 7.0 * periods})
    hist = ds.plan
    oracle = solve_oracle(window, history=hist)
    best = oracle.expected_reward
    value = float(evaluate_plan(window, rec.plan, history=hist))
    value_point = float(evaluate_plan(window, point.plan, history=hist))
    # channels on which the oracle (or the plan) spends more per period than any period of the data
    seen = ds.plan.max(axis=0)
    beyond_oracle = float(np.mean(oracle.plan.mean(axis=0) > seen))
    beyond_plan = float(np.mean(rec.plan.mean(axis=0) > seen))
    # the true oracle held to each channel's largest period in the data (what no extrapolation reaches)
    step = window.budget.total / WINDOW
    capped = window.override({f"channels.{c.name}.max_share": float(min(1.0, seen[i] / step))
                              for i, c in enumerate(window.channels)})
    in_range = float(evaluate_plan(window, solve_oracle(capped, history=hist).plan, history=hist))
    eq = float(evaluate_plan(window, np.full((WINDOW, K), rate / K), history=hist))
    base = float(evaluate_plan(window, np.zeros((WINDOW, K)), history=hist))
    # coverage of each channel's expected revenue at the recommendation
    coverage = _coverage(root / f"f{draw}", rec.plan, window, hist, draws)
    row = {"draw": draw, "pct": pct_of_oracle(value, best), "pct_equal": pct_of_oracle(eq, best),
           "pct_point": pct_of_oracle(value_point, best), "pct_in_range": pct_of_oracle(in_range, best),
           "beyond_oracle": beyond_oracle, "beyond_plan": beyond_plan,
           "pct_movable": 100 * (value - base) / (best - base), "coverage": coverage,
           "fit_s": t_fit, "calibrate_plan_s": t_all, "r2": res.errors.r2,
           "geometric": ", ".join(c for c, f in zip(res.fit.channels, res.fit.layout.forms, strict=False)
                                  if f == "geometric") or "none"}
    for objective in objectives:  # other objectives' plans on the same fitted family, valued the same way
        other = plan(root / f"f{draw}" / "family.yaml", history=root / f"f{draw}" / "history.csv", curves=False,
                     lift_design="none", objective=objective)
        row[f"pct_{objective}"] = pct_of_oracle(float(evaluate_plan(window, other.plan, history=hist)), best)
    if lift_design in ("plan", "voi"):  # later rounds: the plan's designed tests on the truth, calibrate, plan again
        row.update(designed=0.0, designed_channels="-")
        designs: list[pd.DataFrame] = []
        res_k, rec_k, cov_k = res, rec, coverage  # the last round's fit, plan and coverage
        for k in range(2, rounds + 1):
            design = rec_k.lift_design
            if design is not None and len(design):  # else nothing designed: this round is the last one
                designs.append(design)
                ds2 = simulate_dataset(truth, periods, "random", seed=draw + noise_seed, lift_tests=lift_tests,
                                       lift_sigma=lift_sigma, lift_design=pd.concat(designs, ignore_index=True),
                                       level_sd=level_sd)
                assert np.array_equal(ds2.plan, ds.plan), "a later round must simulate the same dataset"
                out2 = write_dataset(ds2, root / f"d{draw}r{k}")
                if lift_exact:
                    _exact(ds2, out2)
                dir_k = root / f"f{draw}r{k}"
                res_k, rec_k, _, _ = _calibrate_plan(out2, dir_k, truth, draw, draws, rate, True,
                                                     rule if k < rounds else "none", design_tests, **options)
                cov_k = _coverage(dir_k, rec_k.plan, window, hist, draws)
                row["designed_channels"] = "; ".join(", ".join(
                    f"{r.channel} {r.x:,.0f}→{r.planned_spend:,.0f}" for r in d.itertuples()) for d in designs)
            row["designed"] = float(sum(len(d) for d in designs))
            row[f"r2_{k}"], row[f"coverage{k}"] = res_k.errors.r2, cov_k
            row[f"pct{k}"] = pct_of_oracle(float(evaluate_plan(window, rec_k.plan, history=hist)), best)
    return row


def _ci(x: np.ndarray, rng: np.random.Generator) -> tuple[float, float]:
    boots = rng.choice(x, (5000, len(x))).mean(axis=1)
    lo, hi = np.percentile(boots, [2.5, 97.5])
    return float(lo), float(hi)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--datasets", type=int, default=20)
    ap.add_argument("--periods", type=int, default=156)
    ap.add_argument("--draws", type=int, default=200)
    ap.add_argument("--prior", default="all", help="calibrate's --prior: all (its default), weak or none")
    ap.add_argument("--adstock", default="geometric", help="calibrate's --adstock: geometric, weibull_cdf, weibull_pdf")
    ap.add_argument("--delay", default="none",
                    help="calibrate's --delay: none, gamma, geometric, auto (each channel's form chosen on the fit) "
                         "or one form per channel (retail-5-family's truth: gamma,geometric,geometric,gamma,gamma)")
    ap.add_argument("--media-season", default="none", help="calibrate's --media-season: none or yearly")
    ap.add_argument("--prior-draws", action="store_true", help="calibrate's --prior-draws")
    ap.add_argument("--workers", type=int, default=DEFAULT_WORKERS,
                    help="calibrate's --workers: processes refitting the bootstrap (default: as the command)")
    ap.add_argument("--first", type=int, default=0, help="first draw (the datasets are draws first, first + 1, ...)")
    ap.add_argument("--only", default=None,
                    help="these draws, comma-separated, in this order (e.g. 10,3,6,8: instead of --first/--datasets)")
    ap.add_argument("--noise-free", action="store_true",
                    help="no conversion, basket, price or baseline noise (the same truths and flighting)")
    ap.add_argument("--noise-seed", type=int, default=0,
                    help="simulate draw d with seed d + this (other flighting and noise, the same truth)")
    ap.add_argument("--lift-tests", type=int, default=0, help="lift tests simulated and passed to calibrate")
    ap.add_argument("--lift-sigma", type=float, default=LIFT_SIGMA, help="their standard error, relative to the lift")
    ap.add_argument("--lift-exact", action="store_true", help="the tests measure the true lift (sigma kept)")
    ap.add_argument("--lift-design", choices=["plan", "voi"], default=None,
                    help="plan: simulate the plan's lift_design (one test per channel beyond the history), calibrate "
                         "and plan again (round 2); voi: the same with the tests chosen by their value of information")
    ap.add_argument("--design-tests", type=int, default=5, help="--lift-design voi: at most this many tests a round")
    ap.add_argument("--rounds", type=int, default=2,
                    help="--lift-design: rounds in all (round 1 the history alone; each later one adds the tests "
                         "the previous round's plan designed)")
    ap.add_argument("--objectives", nargs="*", default=[],
                    help="also plan on each fitted family with these objectives (e.g. cvar:0.5) and value those plans")
    ap.add_argument("--level-sd", type=float, default=LEVEL_SD,
                    help="the random flighting's sd of each channel's log spend level (simulate --level-sd): wider "
                         "spend in the data")
    ap.add_argument("--likelihood", default="gaussian",
                    help="calibrate's --likelihood: gaussian, poisson or negative_binomial (variance mu + mu^2/k: "
                         "noise proportional to the level)")
    ap.add_argument("--baseline-noise", type=float, default=BASELINE_NOISE,
                    help="the KPI baseline's log-normal noise sd (0.03: the benchmark's): how the plan's loss scales "
                         "with the noise the fit must see through")
    ap.add_argument("--known-baseline", action="store_true",
                    help="a bound, not a model: the KPI less the true expected baseline (its noise kept), fitted with "
                         "no Fourier terms and no control: what the media curves alone cost through the noise")
    ap.add_argument("--roi-prior", type=float, default=None,
                    help="calibrate's --roi-prior TAU: each channel's return on spend pooled (relative sd TAU)")
    ap.add_argument("--roi-prior-form", default=None,
                    help="calibrate's --roi-prior-form: log (the log returns pooled, sd TAU; its default under "
                         "--roi-prior) or linear (the returns)")
    args = ap.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        print("| draw | % of oracle | equal split | % of the movable part | coverage | R² | fit s | calibrate+plan s "
              "| plan on the point estimate | oracle / plan beyond the data's largest spend | oracle within it |")
        print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
        chosen = ([int(x) for x in args.only.split(",")] if args.only
                  else range(args.first, args.first + args.datasets))
        for draw in chosen:
            r = one(draw, args.periods, args.draws, Path(tmp), args.prior, args.adstock, args.delay, args.media_season,
                    args.prior_draws, args.noise_free, args.noise_seed, args.lift_tests, args.lift_sigma,
                    args.lift_exact, args.lift_design, args.design_tests, workers=args.workers,
                    rounds=args.rounds, objectives=tuple(args.objectives), level_sd=args.level_sd,
                    likelihood=args.likelihood, roi_prior=args.roi_prior,
                    roi_prior_form=args.roi_prior_form, baseline_noise=args.baseline_noise,
                    known_baseline=args.known_baseline)
            rows.append(r)
            print(f"| {draw} | {r['pct']:.2f} | {r['pct_equal']:.2f} | {r['pct_movable']:.2f} | {r['coverage']:.0%} "
                  f"| {r['r2']:.3f} | {r['fit_s']:.1f} | {r['calibrate_plan_s']:.1f} | {r['pct_point']:.2f} "
                  f"| {r['beyond_oracle']:.0%} / {r['beyond_plan']:.0%} | {r['pct_in_range']:.2f} |"
                  + "".join(f" round {k}: {r[f'pct{k}']:.2f} | coverage {r[f'coverage{k}']:.0%} | R² "
                            f"{r[f'r2_{k}']:.3f} |" for k in range(2, args.rounds + 1) if args.lift_design)
                  + (f" {r['designed']:.0f} designed: {r['designed_channels']} |" if args.lift_design else "")
                  + "".join(f" {o}: {r[f'pct_{o}']:.2f} |" for o in args.objectives)
                  + (f" geometric lags: {r['geometric']} |" if args.delay not in ("none", "gamma") else ""),
                  flush=True)
    rng = np.random.default_rng(0)
    pct = np.array([r["pct"] for r in rows])
    eq = np.array([r["pct_equal"] for r in rows])
    cov = np.mean([r["coverage"] for r in rows])
    lo, hi = _ci(pct, rng)
    point = np.array([r["pct_point"] for r in rows])
    plo, phi = _ci(point, rng)
    print(f"\n{len(rows)} datasets of {args.periods} weeks, prior {args.prior}, adstock {args.adstock}, "
          f"delay {args.delay}, media season {args.media_season}, prior draws {args.prior_draws}, "
          f"likelihood {args.likelihood}, roi prior {args.roi_prior} ({args.roi_prior_form or 'log'}), "
          f"lift tests {args.lift_tests} (sigma {args.lift_sigma:g} of the lift, exact {args.lift_exact}): "
          f"plan {pct.mean():.2f}% of the "
          f"true oracle "
          f"(95% CI {lo:.2f}-{hi:.2f}), worst {pct.min():.2f}% (targets: mean >= 99, worst >= 97); equal split "
          f"{eq.mean():.2f}%; coverage {cov:.0%} (target >= 80%); fit {np.median([r['fit_s'] for r in rows]):.1f} s "
          f"median, calibrate + plan {np.median([r['calibrate_plan_s'] for r in rows]):.1f} s median; noise-free "
          f"{args.noise_free}, noise seed +{args.noise_seed}, level sd {args.level_sd:g}, baseline noise "
          f"{args.baseline_noise:g}, known baseline {args.known_baseline}; "
          f"plan on the point estimate {point.mean():.2f}% "
          f"({plo:.2f}-{phi:.2f}), worst {point.min():.2f}%; the oracle spends beyond the data's largest period on "
          f"{np.mean([r['beyond_oracle'] for r in rows]):.0%} of channels, the plan on "
          f"{np.mean([r['beyond_plan'] for r in rows]):.0%}; the true oracle held to the data's largest period per "
          f"channel {np.mean([r['pct_in_range'] for r in rows]):.2f}% "
          f"(worst {min(r['pct_in_range'] for r in rows):.2f}%)")
    for o in args.objectives:
        po = np.array([r[f"pct_{o}"] for r in rows])
        loo, hio = _ci(po, rng)
        print(f"objective {o} on the same fits (no lift design): plan {po.mean():.2f}% of the true oracle "
              f"(95% CI {loo:.2f}-{hio:.2f}), worst {po.min():.2f}%")
    for k in range(2, args.rounds + 1) if args.lift_design else ():
        pk = np.array([r[f"pct{k}"] for r in rows])
        lok, hik = _ci(pk, rng)
        print(f"round {k} (the plans' designed tests, {sum(r['designed'] for r in rows):.0f} in all after the last "
              f"round, on {sum(r['designed'] > 0 for r in rows)} datasets): plan {pk.mean():.2f}% of the true oracle "
              f"(95% CI {lok:.2f}-{hik:.2f}), worst {pk.min():.2f}%; coverage "
              f"{np.mean([r[f'coverage{k}'] for r in rows]):.0%}; round 1 on the same datasets {pct.mean():.2f}%, "
              f"worst {pct.min():.2f}%")


if __name__ == "__main__":
    main()
