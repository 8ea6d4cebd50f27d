"""The log ROI prior's fixed point: fits per bootstrap refit, the share stopped at the cap, and the bootstrap's time.

``calibrate --roi-prior TAU`` (log form) refits each bootstrap replicate with its rows relinearised at its own
estimate until their anchors settle (:mod:`budgetgym.calibration.roi_prior`). On one dataset of issue 11's
benchmark (``bench_calibrate_family.py``'s draw ``--draw``, simulated the same way) this fits the recommended model
(``--delay gamma --media-season yearly``) with the prior at each ``--tau``, then runs ``--draws`` refits of the
bootstrap with prior draws in this process alone (``workers=1``: the count below is this process's, and the time
one core's), seeded as ``calibrate --seed DRAW`` seeds them, and prints per ``tau``:

* the point fit's seconds and its fits (each a multi-start or warm-started fit of the relinearised problem);
* fits per refit (mean, median, max) and the share of refits whose last fit was the
  :data:`~budgetgym.calibration.roi_prior.LOG_ROUNDS`-th (the cap: the loop ended without its anchors settling
  to :data:`~budgetgym.calibration.roi_prior.LOG_TOL`);
* the bootstrap's seconds (one process), wall and CPU (``time.process_time``: what a loaded machine's wall time
  inflates; both fits count CPU time likewise).

A fit is counted as a call of :meth:`~budgetgym.calibration.projection.Problem.fit` (patched here to count, so the
script measures any version of the iteration the same way); a point fit's multi-start counts its starts.
Usage::

    python benchmarks/bench_roi_prior.py [--draw 8] [--tau 1.5 0.05] [--draws 200]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from budgetgym.calibration import block_bootstrap, fit_model
from budgetgym.calibration.data import read_mmm_csv
from budgetgym.calibration.model_spec import ModelSpec, default_fourier
from budgetgym.calibration.projection import Problem
from budgetgym.calibration.roi_prior import LOG_ROUNDS
from budgetgym.experiments.simulate import exposure_column, simulate_dataset, spend_column, write_dataset

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_calibrate_family import weekly_truth  # noqa: E402  this folder's

CALLS: list[int] = [0]


def counting(fit: Any) -> Any:
    """``fit`` (``Problem.fit``) counting its calls in ``CALLS[0]`` (also ``bench_delay_choice.py``'s)."""
    def counted(self: Problem, *args: Any, **kwargs: Any) -> Any:
        CALLS[0] += 1
        return fit(self, *args, **kwargs)

    return counted


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--draw", type=int, default=8)
    ap.add_argument("--tau", type=float, nargs="+", default=[1.5, 0.05])
    ap.add_argument("--draws", type=int, default=200)
    ap.add_argument("--periods", type=int, default=156)
    args = ap.parse_args()
    _, _, truth = weekly_truth(args.draw, args.periods)
    ds = simulate_dataset(truth, args.periods, "random", seed=args.draw)
    Problem.fit = counting(Problem.fit)  # type: ignore[method-assign]
    import budgetgym.calibration.refits as refits

    per_refit: list[int] = []
    plain_refit = refits._refit  # what the bootstrap's chunks call, one replicate each

    def refit(*a: Any, **k: Any) -> Any:  # fits per refit: the calls of Problem.fit within one
        before = CALLS[0]
        out = plain_refit(*a, **k)
        per_refit.append(CALLS[0] - before)
        return out

    refits._refit = refit
    with tempfile.TemporaryDirectory() as tmp:
        out = write_dataset(ds, Path(tmp) / "d")
        names = truth.channel_names
        data = read_mmm_csv(out / "data.csv", date="date", kpi="revenue",
                            spend=[spend_column(n) for n in names],
                            exposure=[exposure_column(c) for c in truth.channels], controls="competitor")
    print(f"draw {args.draw} of retail-5-family ({args.periods} weeks), recommended model, log ROI prior, "
          f"{args.draws} refits with prior draws in one process; cap {LOG_ROUNDS} fits")
    print("| tau | point fit s (CPU s) | point fit's fits | fits a refit: mean | median | max | at the cap "
          "| bootstrap s (CPU s) |")
    print("|---:|---:|---:|---:|---:|---:|---:|---:|")
    for tau in args.tau:
        spec = ModelSpec(delay=True, season=True, roi_prior=tau, roi_prior_form="log",
                         fourier=default_fourier(data))
        CALLS[0] = 0
        t0, c0 = time.perf_counter(), time.process_time()
        fit = fit_model(data, spec, seed=args.draw)
        t_fit, c_fit = time.perf_counter() - t0, time.process_time() - c0
        n_fit = CALLS[0]
        per_refit.clear()
        c0 = time.process_time()
        boot = block_bootstrap(fit, args.draws, seed=args.draw, prior_draws=True, workers=1)
        c_boot = time.process_time() - c0
        n = np.array(per_refit)
        print(f"| {tau:g} | {t_fit:.1f} ({c_fit:.1f}) | {n_fit} | {n.mean():.2f} | {np.median(n):.0f} | {n.max()} "
              f"| {np.mean(n >= LOG_ROUNDS):.1%} | {boot.seconds:.1f} ({c_boot:.1f}) |", flush=True)


if __name__ == "__main__":
    main()
