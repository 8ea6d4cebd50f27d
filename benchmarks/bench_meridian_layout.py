"""Meridian's national layout and Channel0's 90% interval: a reading defect, the fit, or chance?

Each campaign of ``bench_calibrate.py`` (its truth: channel 0 bought by the impression at a CPM with auction
pressure, channels 1 and 2 by the click at 1; 156 weeks, noise 3%) is written in Meridian's national CSV layout as
well: a blank-headed index column, ``time``, ``conversions``, ``revenue_per_conversion``,
``Channel<i>_impression``, ``Channel<i>_spend``. ``calibrate`` (200 draws) reads it as
``--date time --kpi conversions --spend Channel0_spend,... --exposure Channel0_impression,-,-``; the steady-state
response at the last 13 weeks' spend a week (``calibration.plots.response_band``, the band ``fit.md`` draws) is
compared with the true one, per channel. ``--both`` also fits the campaign's own layout and says whether the two
fits are the same to the bit (the layout read right). Prints one line per campaign and the coverage per channel.
Usage::

    python benchmarks/bench_meridian_layout.py [--datasets 40] [--first 0] [--both 2] [--workers 1]
"""

from __future__ import annotations

import argparse
import math
import sys
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_calibrate import _steady, simulate  # noqa: E402  this folder's

from budgetgym.calibration import calibrate  # noqa: E402
from budgetgym.calibration.plots import response_band  # noqa: E402

MERIDIAN = {"date": "time", "kpi": "conversions", "spend": "Channel0_spend,Channel1_spend,Channel2_spend",
            "exposure": "Channel0_impression,-,-"}
OWN = {"date": "date", "kpi": "revenue", "spend": "ch0_spend,ch1_spend,ch2_spend", "exposure": "ch0_impressions,-,-"}


def meridian_file(path: Path, out: Path) -> Path:
    """The campaign file ``path`` rewritten in Meridian's national layout (the KPI counted at 1 a conversion)."""
    df = pd.read_csv(path)
    m = pd.DataFrame({"time": df["date"], "conversions": df["revenue"], "revenue_per_conversion": 1.0})
    for i in range(3):
        m[f"Channel{i}_impression"] = df["ch0_impressions"] if i == 0 else df[f"ch{i}_spend"]
        m[f"Channel{i}_spend"] = df[f"ch{i}_spend"]
    m.to_csv(out, index=True, index_label="")
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--datasets", type=int, default=40)
    ap.add_argument("--first", type=int, default=0, help="the first campaign's seed")
    ap.add_argument("--both", type=int, default=2, help="campaigns also fitted in their own layout (the first N)")
    ap.add_argument("--workers", type=int, default=1)
    args = ap.parse_args(argv)
    covered, same = [], []
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        for seed in range(args.first, args.first + args.datasets):
            path, data, spend = simulate(seed, 156, 0.03, folder)
            kw = {"draws": 200, "seed": seed, "plots": False, "workers": args.workers}
            res = calibrate(meridian_file(path, folder / f"national_media{seed}.csv"), **MERIDIAN, **kw)
            if seed - args.first < args.both:
                own = calibrate(path, **OWN, **kw)
                same.append(np.array_equal(own.fit.fitted, res.fit.fitted)
                            and np.array_equal(own.draws.beta, res.draws.beta))
            x = spend[-13:].mean(axis=0)
            true = np.array([_steady(ch, float(x[i])) for i, ch in enumerate(data["channels"])])
            point, lo, hi = response_band(res.fit, res.draws, res.costs, x[None, :])
            assert lo is not None and hi is not None
            covered.append((lo[0] <= true) & (true <= hi[0]))
            print(f"campaign {seed}: true {np.round(true, 1)}, point {np.round(point[0], 1)}, 90% "
                  f"{np.round(lo[0], 1)}-{np.round(hi[0], 1)}, covered {covered[-1].astype(int)}", flush=True)
    cov = np.array(covered)
    n = len(cov)
    for i in range(cov.shape[1]):
        misses = int(n - cov[:, i].sum())
        tail = sum(math.comb(n, k) * 0.1**k * 0.9 ** (n - k) for k in range(misses, n + 1))
        print(f"Channel{i}: covered in {cov[:, i].sum()} of {n} ({100 * cov[:, i].mean():.1f}%); "
              f"P(>= {misses} misses | a true 90% interval) = {tail:.3f}")
    print(f"all channels: {100 * cov.mean():.1f}% of {cov.size}")
    if same:
        print(f"Meridian's layout and the campaign's own give the same fit to the bit: {sum(same)} of {len(same)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
