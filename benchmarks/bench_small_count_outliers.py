"""False alarms of calibrate's outlier rule for counts below one a period: the tail-probability rule.

Below :data:`~budgetgym.calibration.residuals.MIN_COUNT_LEVEL` counts a period the residuals have no robust
scale (most periods 0), and calibrate names a period when its count's tail probability under the fitted mean,
``min(P(Y >= y), P(Y <= y))``, is below :data:`~budgetgym.calibration.residuals.TAIL_P` (2.9e-7, one normal tail
beyond 5 sd; :func:`~budgetgym.calibration.residuals.tail_probability`). This script draws ``--datasets`` clean
datasets of ``--periods`` counts around known means ``mu_t = L exp(0.3 eps_t)`` (``eps_t`` standard normal, as
``bench_count_outliers.py``) for each level ``L`` in 0.1, 0.2, ..., 0.9, Poisson and negative binomial
(``k = 5``), and prints the share of datasets with at least one period named, the number of periods named in all,
and the largest count drawn. The means are the true ones (no fit): the figures are the rule's own false-alarm
rate. A few seconds.

    python benchmarks/bench_small_count_outliers.py [--datasets 20000] [--periods 104] [--seed 0]
"""

from __future__ import annotations

import argparse

import numpy as np

from budgetgym.calibration.residuals import TAIL_P, tail_probability

LEVELS = tuple(round(0.1 * i, 1) for i in range(1, 10))
DISPERSIONS = (None, 5.0)  # Poisson, negative binomial k = 5


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--datasets", type=int, default=20_000)
    ap.add_argument("--periods", type=int, default=104)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    rng = np.random.default_rng(args.seed)
    print(f"{args.datasets} clean datasets of {args.periods} periods per row; alarm: min(P(Y >= y), P(Y <= y)) "
          f"< {TAIL_P:g} under the true mean")
    print("| counts | level L | datasets alarming | periods named | largest count |")
    print("|---|---:|---:|---:|---:|")
    for k in DISPERSIONS:
        for level in LEVELS:
            mu = level * np.exp(0.3 * rng.standard_normal((args.datasets, args.periods)))
            y = (rng.poisson(mu) if k is None else rng.negative_binomial(k, k / (k + mu))).astype(float)
            named = tail_probability(y, mu, k) < TAIL_P
            name = "Poisson" if k is None else f"negative binomial k = {k:g}"
            print(f"| {name} | {level:g} | {100 * np.mean(named.any(axis=1)):.3f}% | {int(named.sum())} | "
                  f"{int(y.max())} |", flush=True)


if __name__ == "__main__":
    main()
