"""False alarms of calibrate's outlier rule on clean counts: Pearson against deviance residuals.

Draws ``--datasets`` datasets of ``--periods`` counts around known means
``mu_t = L exp(0.3 eps_t)`` (``eps_t`` standard normal; Poisson, or a negative binomial with
dispersion ``k``, ``Var y = mu + mu^2 / k``) for each level ``L``, and judges each dataset's residuals
by the rule of :func:`budgetgym.calibration.period_warnings.outlier_warning`: a period alarms when its
robust z (:func:`~budgetgym.calibration.period_warnings.robust_z`) exceeds
:data:`~budgetgym.calibration.period_warnings.OUTLIER_Z` in absolute value. The residuals are the
Pearson residual ``(y - mu) / sqrt(Var y)`` (the rule before session 24) and the deviance residual
the rule uses now (:func:`budgetgym.calibration.residuals.deviance_residuals`). The means are the
true ones (no fit), so the figures are the residuals' own tails, not a fit's.

Prints, per likelihood and level, the share of datasets with at least one alarm (a normal's rate at
104 periods is about 0.12%), and the median and 99th percentile of a dataset's largest |z|; the
figures quoted in :mod:`budgetgym.calibration.residuals` come from the defaults (about 20 s).

    python benchmarks/bench_count_outliers.py [--datasets 20000] [--periods 104] [--seed 0]
"""

from __future__ import annotations

import argparse

import numpy as np

from budgetgym.calibration.period_warnings import OUTLIER_Z, robust_z
from budgetgym.calibration.residuals import deviance_residuals

LEVELS = (0.5, 1.0, 2.0, 5.0, 20.0, 300.0)
DISPERSIONS = (None, 5.0)  # Poisson, negative binomial k = 5


def pearson_residuals(y: np.ndarray, mu: np.ndarray, k: float | None) -> np.ndarray:
    """``(y - mu) / sqrt(Var y)``, ``Var y = mu`` (Poisson, ``k`` None) or ``mu + mu^2 / k``."""
    return (y - mu) / np.sqrt(mu if k is None else mu + mu * mu / k)


def count_arguments(description: str) -> argparse.Namespace:
    """The options of both count benchmarks (this one and ``bench_small_count_outliers.py``): ``--datasets``,
    ``--periods`` and ``--seed``."""
    ap = argparse.ArgumentParser(description=description)
    ap.add_argument("--datasets", type=int, default=20_000)
    ap.add_argument("--periods", type=int, default=104)
    ap.add_argument("--seed", type=int, default=0)
    return ap.parse_args()


def clean_counts(
    rng: np.random.Generator, level: float, k: float | None, datasets: int, periods: int
) -> tuple[np.ndarray, np.ndarray]:
    """``(mu, y)`` ``[datasets, periods]``: means ``mu_t = L exp(0.3 eps_t)`` around ``level`` and counts drawn
    from them, Poisson (``k`` None) or negative binomial with dispersion ``k`` (``Var y = mu + mu^2 / k``)."""
    mu = level * np.exp(0.3 * rng.standard_normal((datasets, periods)))
    y = (rng.poisson(mu) if k is None else rng.negative_binomial(k, k / (k + mu))).astype(float)
    return mu, y


def likelihood_name(k: float | None) -> str:
    """A table row's name of the counts' likelihood."""
    return "Poisson" if k is None else f"negative binomial k = {k:g}"


def main() -> None:
    args = count_arguments(__doc__.splitlines()[0])
    rng = np.random.default_rng(args.seed)
    print(f"{args.datasets} datasets of {args.periods} periods per row; alarm: |robust z| > {OUTLIER_Z:g}")
    print("| counts | level L | Pearson: datasets alarming | median / q99 max|z| "
          "| deviance: datasets alarming | median / q99 max|z| |")
    print("|---|---:|---:|---:|---:|---:|")
    for k in DISPERSIONS:
        for level in LEVELS:
            mu, y = clean_counts(rng, level, k, args.datasets, args.periods)
            cells = []
            for r in (pearson_residuals(y, mu, k), deviance_residuals(y, mu, k)):
                top = np.nan_to_num(np.abs(robust_z(r)), nan=0.0).max(axis=1)
                cells += [f"{100 * np.mean(top > OUTLIER_Z):.2f}%",
                          f"{np.median(top):.2f} / {np.quantile(top, 0.99):.2f}"]
            print(f"| {likelihood_name(k)} | {level:g} | " + " | ".join(cells) + " |", flush=True)


if __name__ == "__main__":
    main()
