"""The log ROI prior's fit: CPU seconds and NNLS solves of the point fit and a bootstrap, and its numbers to compare.

``calibrate --roi-prior TAU`` (log form) settles its rows at every set of curves the fit tries, each settle a few
non-negative least squares (:meth:`~budgetgym.calibration.projection.Problem.settled`). On one dataset of issue 11's
benchmark (``bench_calibrate_family.py``'s draw ``--draw``, simulated as ``bench_roi_prior.py`` does) this fits the
recommended model with the prior at ``--tau`` and runs ``--draws`` bootstrap refits with prior draws in this process
(BLAS on one thread, as the refits run), and prints for each:

* CPU seconds (``time.process_time``: what a loaded machine's wall time inflates);
* the NNLS solves (calls of ``scipy.optimize.nnls`` in :mod:`~budgetgym.calibration.projection`), and those made
  inside :func:`~budgetgym.calibration.roi_fixed_point.log_fixed_point` outside its fits (its final settle).

``--save FILE.npz`` writes the point estimate and the draws, ``--compare FILE.npz`` says whether they are the same
to the bit: run it with ``PYTHONPATH`` at another checkout's parent to compare two versions of the code (it patches
only names both have). Usage::

    python benchmarks/bench_roi_solves.py [--draw 8] [--tau 1.5] [--draws 50] [--save a.npz | --compare a.npz]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
from threadpoolctl import threadpool_limits

import budgetgym
from budgetgym.calibration import block_bootstrap, fit_model, model, projection, refits, roi_fixed_point
from budgetgym.calibration.data import read_mmm_csv
from budgetgym.calibration.model_spec import ModelSpec, default_fourier
from budgetgym.experiments.simulate import exposure_column, simulate_dataset, spend_column, write_dataset

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_calibrate_family import weekly_truth  # noqa: E402  this folder's

COUNT = {"all": 0, "settle": 0}
INSIDE = [False]


def _counted_nnls(real: Any) -> Any:
    def nnls(A: np.ndarray, b: np.ndarray) -> Any:
        COUNT["all"] += 1
        COUNT["settle"] += INSIDE[0]
        return real(A, b)

    return nnls


def _flagged(real: Any) -> Any:
    """``log_fixed_point`` with its own solves flagged (not those of the further fits it may call)."""

    def lfp(prob: Any, phi: np.ndarray, y: np.ndarray, fit_from: Any, *a: Any, **k: Any) -> Any:
        def fit_off(p: Any, s: np.ndarray) -> Any:
            INSIDE[0] = False
            try:
                return fit_from(p, s)
            finally:
                INSIDE[0] = True

        INSIDE[0] = True
        try:
            return real(prob, phi, y, fit_off, *a, **k)
        finally:
            INSIDE[0] = False

    return lfp


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--draw", type=int, default=8)
    ap.add_argument("--tau", type=float, default=1.5)
    ap.add_argument("--draws", type=int, default=50)
    ap.add_argument("--periods", type=int, default=156)
    ap.add_argument("--save", type=Path)
    ap.add_argument("--compare", type=Path)
    args = ap.parse_args()
    _, _, truth = weekly_truth(args.draw, args.periods)
    ds = simulate_dataset(truth, args.periods, "random", seed=args.draw)
    with tempfile.TemporaryDirectory() as tmp:
        out = write_dataset(ds, Path(tmp) / "d")
        data = read_mmm_csv(out / "data.csv", date="date", kpi="revenue",
                            spend=[spend_column(n) for n in truth.channel_names],
                            exposure=[exposure_column(c) for c in truth.channels], controls="competitor")
    projection.nnls = _counted_nnls(projection.nnls)  # type: ignore[attr-defined]
    lfp = _flagged(roi_fixed_point.log_fixed_point)
    model.log_fixed_point = refits.log_fixed_point = lfp  # type: ignore[attr-defined]
    spec = ModelSpec(delay=True, season=True, roi_prior=args.tau, roi_prior_form="log", fourier=default_fourier(data))
    print(f"{Path(budgetgym.__file__).parent}: draw {args.draw}, tau {args.tau:g}, {args.draws} refits")
    with threadpool_limits(limits=1, user_api="blas"):
        c0 = time.process_time()
        fit = fit_model(data, spec, seed=args.draw)
        print(f"point fit: {time.process_time() - c0:.2f} CPU s, {COUNT['all']} solves, {COUNT['settle']} in "
              f"log_fixed_point", flush=True)
        COUNT.update(all=0, settle=0)
        c0 = time.process_time()
        boot = block_bootstrap(fit, args.draws, seed=args.draw, prior_draws=True, workers=1)
        print(f"bootstrap: {time.process_time() - c0:.2f} CPU s, {COUNT['all']} solves, {COUNT['settle']} in "
              f"log_fixed_point", flush=True)
    got = {"phi": fit.phi, "beta": fit.beta, "coef": fit.coef, "draws_phi": boot.phi, "draws_beta": boot.beta,
           "draws_coef": boot.coef}
    if args.save:
        np.savez(args.save, **got)
    if args.compare:
        with np.load(args.compare) as ref:
            same = [k for k in got if np.array_equal(ref[k], got[k])]
        print(f"the same to the bit as {args.compare}: {', '.join(same) or 'none'}"
              + ("" if len(same) == len(got) else f"; differ: {', '.join(k for k in got if k not in same)}"))


if __name__ == "__main__":
    main()
