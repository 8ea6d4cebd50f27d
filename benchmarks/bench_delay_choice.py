"""The cost of ``calibrate --delay auto``'s choice of each channel's lag form, on issue 11's datasets.

On datasets of ``bench_calibrate_family.py`` (its draws ``--only``, simulated the same way, with noise unless
``--noise-free``), the recommended model's point fit (``--delay gamma --media-season yearly``, prior ``all``) is
timed, then :func:`~budgetgym.calibration.delay_choice.choose_forms` on it (warm local fits), then the refit with
the forms chosen (a full multi-start, only when a form is switched): what ``--delay auto`` adds to the point fit.
Prints per draw the seconds (wall and CPU: a loaded machine inflates the first), the local fits the choice made
(calls of :meth:`~budgetgym.calibration.projection.Problem.fit`), the forms chosen, and the cost's fall from the
all-gamma fit's in residual variances (the choice's bar is 1: :data:`~budgetgym.calibration.delay_choice.MIN_GAIN`).
The bootstrap is not run: its refits cost the same per refit whatever the forms (the same parameters).
Usage::

    python benchmarks/bench_delay_choice.py [--only 1,12,10] [--noise-free]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

from budgetgym.calibration import fit_model
from budgetgym.calibration.data import read_mmm_csv
from budgetgym.calibration.delay_choice import choose_forms
from budgetgym.calibration.model_spec import ModelSpec, default_fourier
from budgetgym.calibration.projection import Problem
from budgetgym.experiments.simulate import exposure_column, simulate_dataset, spend_column, write_dataset

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_calibrate_family import weekly_truth  # noqa: E402  this folder's
from bench_roi_prior import CALLS, counting  # noqa: E402  this folder's: Problem.fit's call counter


class _Clock:
    """Wall and CPU seconds since the last lap."""

    def __init__(self) -> None:
        self.wall, self.cpu = time.perf_counter(), time.process_time()

    def lap(self) -> tuple[float, float]:
        wall, cpu = time.perf_counter(), time.process_time()
        out = (wall - self.wall, cpu - self.cpu)
        self.wall, self.cpu = wall, cpu
        return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--only", default="1,12,10,3", help="the benchmark's draws, comma-separated")
    ap.add_argument("--periods", type=int, default=156)
    ap.add_argument("--noise-free", action="store_true")
    args = ap.parse_args()
    Problem.fit = counting(Problem.fit)  # type: ignore[method-assign]
    print("| draw | gamma fit s (CPU s) | choice s (CPU s) | its local fits | refit s (CPU s) | geometric lags "
          "| cost's fall (residual variances) |")
    print("|---:|---:|---:|---:|---:|---|---:|")
    for draw in (int(x) for x in args.only.split(",")):
        _, _, truth = weekly_truth(draw, args.periods)
        if args.noise_free:  # as bench_calibrate_family.py --noise-free
            truth = truth.override({"noise.conversions": "none", "baseline.noise_sd": 0.0,
                                    **{f"channels.{c.name}.value.noise_sd": 0.0 for c in truth.channels},
                                    **{f"channels.{c.name}.cost.noise_sd": 0.0 for c in truth.channels}})
        ds = simulate_dataset(truth, args.periods, "random", seed=draw)
        with tempfile.TemporaryDirectory() as tmp:
            out = write_dataset(ds, Path(tmp) / "d")
            data = read_mmm_csv(out / "data.csv", date="date", kpi="revenue",
                                spend=[spend_column(n) for n in truth.channel_names],
                                exposure=[exposure_column(c) for c in truth.channels], controls="competitor")
        spec = ModelSpec(delay=True, season=True, fourier=default_fourier(data))
        clock = _Clock()
        fit = fit_model(data, spec, seed=draw)
        t_fit, c_fit = clock.lap()
        CALLS[0] = 0
        forms, path = choose_forms(fit)
        t_ch, c_ch = clock.lap()
        n_local = CALLS[0]
        t_re = c_re = 0.0
        if forms != fit.layout.forms:
            fit_model(data, ModelSpec(delay=forms, season=True, fourier=spec.fourier), seed=draw)
            t_re, c_re = clock.lap()
        geo = ", ".join(c for c, f in zip(fit.channels, forms, strict=True) if f == "geometric") or "none"
        print(f"| {draw} | {t_fit:.1f} ({c_fit:.1f}) | {t_ch:.1f} ({c_ch:.1f}) | {n_local} | {t_re:.1f} ({c_re:.1f}) "
              f"| {geo} | {(path[0][1] - path[-1][1]) / fit.scale:.1f} |", flush=True)


if __name__ == "__main__":
    main()
