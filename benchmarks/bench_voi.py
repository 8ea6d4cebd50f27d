"""Time ``plan`` on calibrated families with and without its lift design (``--lift-design voi`` against ``none``).

Two fits, each made once in ``--dir`` (kept, and reused when there):

* **daily**: ``budgetgym simulate retail-5-family --periods 420 --draw 3 --seed 7``, then ``budgetgym calibrate``
  of its revenue on the five spend and exposure columns (the defaults: 100 bootstrap draws a plan uses, a plan of
  the 91 days after the data): the plan's 91 daily steps over 5 channels, the lift tests' rollouts two daily
  years long;
* **weekly**: issue 11's weekly truth of ``retail-5-family``'s test draw 0 (``bench_calibrate_family.py``: 156
  weeks, random flighting, seed 0), calibrated with ``--delay gamma --media-season yearly --prior-draws`` (200
  draws, the competitor control): a plan of 13 weeks.

For each fit, ``--repeats`` times: ``plan(family.yaml, history=history.csv, curves=False)`` with
``lift_design="voi"`` and with ``"none"``; prints the median process CPU seconds (steadier than the wall clock on
a shared machine; the median wall beside it), the design's share (voi less none) and its tests. The machine's load
average is printed too: on a loaded machine the wall clock is the CPU time stretched by the load.

    python benchmarks/bench_voi.py [--dir /tmp/bench-voi] [--repeats 3] [--only daily|weekly]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_calibrate_family import weekly_truth  # noqa: E402

from budgetgym.calibration import calibrate  # noqa: E402
from budgetgym.experiments.simulate import exposure_column, simulate_dataset, spend_column, write_dataset  # noqa: E402
from budgetgym.planner import plan  # noqa: E402

SPEND = "search_spend,shopping_spend,social_spend,display_spend,video_spend"
EXPOSURE = "search_clicks,shopping_clicks,social_impressions,display_impressions,video_impressions"


def cli(*args: str) -> None:
    """``budgetgym ARGS`` in this interpreter (its output dropped; an error stops the script)."""
    subprocess.run([sys.executable, "-m", "budgetgym.experiments", *args], check=True, stdout=subprocess.DEVNULL)


def daily_fit(root: Path) -> Path:
    """The daily fit of the module docstring (made unless ``root/daily/fit/family.yaml`` is there)."""
    base = root / "daily"
    if not (base / "fit" / "family.yaml").exists():
        base.mkdir(parents=True, exist_ok=True)
        cli("simulate", "retail-5-family", "--periods", "420", "--draw", "3", "--seed", "7",
            "--out", str(base / "data"))
        cli("calibrate", str(base / "data" / "data.csv"), "--date", "date", "--kpi", "revenue", "--spend", SPEND,
            "--exposure", EXPOSURE, "--out", str(base / "fit"))
    return base / "fit"


def weekly_fit(root: Path, periods: int = 156, window: int = 13) -> Path:
    """The weekly fit of the module docstring (made unless ``root/weekly/fit/family.yaml`` is there)."""
    base = root / "weekly"
    if not (base / "fit" / "family.yaml").exists():
        _, weekly, truth = weekly_truth(0, periods)
        ds = simulate_dataset(truth, periods, "random", seed=0)
        data = write_dataset(ds, base / "data")
        names = truth.channel_names
        calibrate(data / "data.csv", date="date", kpi="revenue", spend=",".join(spend_column(n) for n in names),
                  exposure=",".join(exposure_column(c) for c in truth.channels), controls="competitor", draws=200,
                  seed=0, out=base / "fit", plots=False, plan_periods=window, plan_budget=window * weekly.step_budget,
                  delay="gamma", media_season="yearly", prior_draws=True)
    return base / "fit"


def timed(fit: Path, design: str) -> tuple[float, float, object]:
    """``(cpu, wall, result)`` of one plan on ``fit`` with the lift design ``design``."""
    c0, w0 = time.process_time(), time.perf_counter()
    res = plan(fit / "family.yaml", history=fit / "history.csv", curves=False, lift_design=design)
    return time.process_time() - c0, time.perf_counter() - w0, res


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dir", type=Path, default=Path("/tmp/bench-voi"), help="where the fits are made and kept")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--only", choices=["daily", "weekly"], default=None)
    args = ap.parse_args()
    fits = {"daily": daily_fit, "weekly": weekly_fit}
    print(f"load average before: {os.getloadavg()[0]:.1f} ({os.cpu_count()} cores)")
    print("| fit | design | plan CPU s (median) | plan wall s (median) | design CPU s | tests |")
    print("|---|---|---:|---:|---:|---|")
    for name, make in fits.items():
        if args.only not in (None, name):
            continue
        fit = make(args.dir)
        cpu: dict[str, float] = {}
        for design in ("none", "voi"):
            runs = [timed(fit, design) for _ in range(args.repeats)]
            cpu[design] = statistics.median(r[0] for r in runs)
            wall = statistics.median(r[1] for r in runs)
            table = runs[-1][2].lift_design  # type: ignore[attr-defined]
            tests = "-" if table is None else ", ".join(
                f"{r.channel} {r.x:,.0f}→{r.planned_spend:,.0f}" for r in table.itertuples())
            extra = f"{cpu['voi'] - cpu['none']:.1f}" if design == "voi" else ""
            print(f"| {name} | {design} | {cpu[design]:.1f} | {wall:.1f} | {extra} | {tests} |", flush=True)
    print(f"load average after: {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
