"""False alarms of calibrate's outlier rule for counts below one a period: the tail-probability rule.

Below :data:`~budgetgym.calibration.residuals.MIN_COUNT_LEVEL` counts a period the residuals have no robust
scale (most periods 0), and calibrate names a period when its count's tail probability under the fitted mean,
``min(P(Y >= y), P(Y <= y))``, is below :data:`~budgetgym.calibration.residuals.TAIL_P` (2.9e-7, one normal tail
beyond 5 sd; :func:`~budgetgym.calibration.residuals.tail_probability`). This script draws ``--datasets`` clean
datasets of ``--periods`` counts around known means ``mu_t = L exp(0.3 eps_t)`` (``eps_t`` standard normal;
``bench_count_outliers.clean_counts``, the draws of that benchmark) for each level ``L`` in 0.1, 0.2, ..., 0.9,
Poisson and negative binomial (``k = 5``), and prints the share of datasets with at least one period named, the
number of periods named in all, and the largest count drawn. The means are the true ones (no fit): the figures are
the rule's own false-alarm rate. A few seconds.

    python benchmarks/bench_small_count_outliers.py [--datasets 20000] [--periods 104] [--seed 0]
"""

from __future__ import annotations

import numpy as np
from bench_count_outliers import DISPERSIONS, clean_counts, count_arguments, likelihood_name  # this folder's

from budgetgym.calibration.residuals import TAIL_P, tail_probability

LEVELS = tuple(round(0.1 * i, 1) for i in range(1, 10))


def main() -> None:
    args = count_arguments(__doc__.splitlines()[0])
    rng = np.random.default_rng(args.seed)
    print(f"{args.datasets} clean datasets of {args.periods} periods per row; alarm: min(P(Y >= y), P(Y <= y)) "
          f"< {TAIL_P:g} under the true mean")
    print("| counts | level L | datasets alarming | periods named | largest count |")
    print("|---|---:|---:|---:|---:|")
    for k in DISPERSIONS:
        for level in LEVELS:
            mu, y = clean_counts(rng, level, k, args.datasets, args.periods)
            named = tail_probability(y, mu, k) < TAIL_P
            print(f"| {likelihood_name(k)} | {level:g} | {100 * np.mean(named.any(axis=1)):.3f}% | "
                  f"{int(named.sum())} | {int(y.max())} |", flush=True)


if __name__ == "__main__":
    main()
