r"""Simulated lift tests for a synthetic dataset: ``budgetgym simulate --lift-tests N`` and ``--lift-design FILE``.

Lift tests (:func:`simulate_lift_tests`). Test ``n`` goes to the channel ranked ``n mod K`` by its
total spend in the data (the largest first: where a marketer tests first; ``K`` the channels with
any spend, a channel every period of which spends below
:data:`~budgetgym.planner.metrics.ZERO_RTOL` of the data's largest having none: the solver's rounding
of 0 that a solved plan given as a file, a ``plan.csv``, leaves on a channel it drops) and, with ``r = n div K``
(the round), changes its spend per period from ``x`` = its mean spend per period in the data by
``delta_x`` = :data:`LIFT_CHANGES`\ ``[r mod 3]`` times ``x`` (double it, then halve it, then triple
it: geo tests typically double or cut a channel's spend). The true lift is the difference of the
plan values (:func:`~budgetgym.envs.evaluate_plan`, per step) of two constant plans, every channel at
its mean spend per period, the tested one at ``x + delta_x`` against ``x``: averaged over the last
year (``round(365.25 / step_days)`` periods) of a window that first runs at that spend for a year,
or for the carry-over's and delay's lags when they are longer (the warm-up: the longer of the two),
so the carry-over has built up and the seasons average out, on the nominal path without the
scenario's shocks (no noise, nominal prices).
The measurement adds Gaussian noise of sd ``sigma = max(lift_sigma * |true lift|, f)`` (default
:data:`LIFT_SIGMA`, 15%: a test that reads its lift to within about ±30% at 95%), written in the
``sigma`` column; seeded by ``seed``. ``f`` (:func:`lift_floor`) is :data:`LIFT_FLOOR` (1e-5) of the
KPI's mean per period, and at least ten times the smallest standard error ``calibrate`` accepts
(:data:`~budgetgym.calibration.lift.MIN_SIGMA` of the KPI's standard deviation): a test of a channel
whose true lift is about zero (an S-curve below its threshold) reads it with that error, not with an
error of zero that no experiment has (and that ``calibrate`` refuses).

Designed tests (:func:`simulate_design_tests`, ``--lift-design FILE``): a table of tests to run,
``channel, x, delta_x`` (more columns ignored; ``channel`` a channel's name or its ``_spend``
column; e.g. the planner's ``lift_design.csv``, :mod:`budgetgym.planner.experiments`), validated
as ``calibrate --lift-tests`` validates those columns (:func:`~budgetgym.calibration.lift.spend_change`).
Test ``j`` on channel ``i`` measures :func:`~budgetgym.experiments.true_response.true_lift` from every channel at
its mean spend per period in the data but channel ``i`` at ``x_j``, by ``delta_x_j``, with the same noise rule
(its own seeded stream, so adding a design leaves the ``N`` tests' draws as they were).

The dataset they are simulated for, and the files they are written to: :mod:`budgetgym.experiments.simulate`.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from budgetgym.envs.errors import BudgetGymError
from budgetgym.envs.scenario import Scenario
from budgetgym.experiments.dataset_layout import spend_column
from budgetgym.experiments.true_response import true_lifts

__all__ = ["DESIGN_COLUMNS", "LIFT_CHANGES", "LIFT_FLOOR", "LIFT_SIGMA", "MAX_LIFT_SIGMA", "MAX_LIFT_TESTS",
           "TEST_COLUMNS", "lift_floor", "read_lift_design", "simulate_design_tests", "simulate_lift_tests"]

#: A lift test's change of spend, a multiple of the spend before it, by round (module docstring).
LIFT_CHANGES = (1.0, -0.5, 2.0)
#: The most lift tests a dataset simulates (each a two-year plan valuation; 10^8 asked for TiBs).
MAX_LIFT_TESTS = 1000
#: A simulated lift test's standard error, relative to its true lift.
LIFT_SIGMA = 0.15
#: the smallest standard error of a simulated lift test, as a share of the KPI's mean per period
LIFT_FLOOR = 1e-5
#: The largest relative standard error a simulated test takes (a test 100 times noisier than its lift
#: informs nothing; 1e308 wrote measured lifts and standard errors of inf).
MAX_LIFT_SIGMA = 100.0
#: The columns a lift design needs (module docstring).
DESIGN_COLUMNS = ("channel", "x", "delta_x")
#: The columns of a simulated lift test (``truth/lift_tests.csv``; ``lift_tests.csv`` without the last).
TEST_COLUMNS = ["channel", "x", "delta_x", "delta_y", "sigma", "true_delta_y"]


def lift_floor(kpi: np.ndarray) -> float:
    """``f``: the smallest standard error of a simulated lift test, for a dataset of KPI ``kpi``
    (module docstring): ``max(LIFT_FLOOR * mean |kpi|, 10 * MIN_SIGMA * sd(kpi))``."""
    from budgetgym.calibration.lift import MIN_SIGMA

    values = np.asarray(kpi, dtype=float)
    return max(LIFT_FLOOR * float(np.mean(np.abs(values))), 10 * MIN_SIGMA * float(np.std(values)))


def simulate_lift_tests(sc: Scenario, spent: np.ndarray, n: int, rel_sigma: float, seed: int, *,
                        floor: float = 0.0) -> pd.DataFrame:
    """``n`` lift tests on ``sc`` for a dataset that spent ``spent`` ``[T, K]`` (module docstring), their
    standard errors at least ``floor`` (:func:`lift_floor`, which
    :func:`~budgetgym.experiments.simulate.simulate_dataset` passes; the default 0 is the rule before the floor, the
    same numbers): ``channel`` (the spend column), ``x``, ``delta_x``, ``delta_y``, ``sigma``, ``true_delta_y``."""
    from budgetgym.planner.metrics import spends_on  # the planner's one rule of 'no spend'

    rng = np.random.default_rng(np.random.SeedSequence([seed, 19]))
    mean = spent.mean(axis=0)
    used = spends_on(spent)  # a solved plan given as a file (a plan.csv) leaves ~1e-6 on a channel it drops: none
    order = [int(i) for i in np.argsort(-spent.sum(axis=0), kind="stable") if used[i]]  # unspent: untestable
    if not order:
        raise BudgetGymError("--lift-tests: the plan spends nothing on any channel; no test to simulate")
    index = np.array([order[k % len(order)] for k in range(n)], dtype=int)
    dx = np.array([LIFT_CHANGES[(k // len(order)) % len(LIFT_CHANGES)] * float(mean[i]) for k, i in enumerate(index)])
    return _measure(sc, np.tile(mean, (n, 1)), index, dx, rel_sigma, floor, rng)


def _measure(sc: Scenario, bases: np.ndarray, index: np.ndarray, delta_x: np.ndarray, rel_sigma: float,
             floor: float, rng: np.random.Generator) -> pd.DataFrame:
    """Tests ``j`` of channel ``index[j]`` from ``bases[j, index[j]]`` by ``delta_x[j]``, the others at
    ``bases[j]``: their true lifts (one pass, :func:`~budgetgym.experiments.true_response.true_lifts`) and
    measurements with sd ``rel_sigma`` of them (``floor`` at least), one normal per test in order (module
    docstring), in :data:`TEST_COLUMNS`."""
    truth = true_lifts(sc, bases, index, delta_x) if len(index) else np.zeros(0)
    rows = []
    for j, i in enumerate(index):
        lift = float(truth[j])
        sigma = max(rel_sigma * max(abs(lift), 1e-9), floor)  # never 0, with or without a floor
        rows.append({"channel": spend_column(sc.channel_names[int(i)]), "x": float(bases[j, i]),
                     "delta_x": float(delta_x[j]), "delta_y": lift + sigma * float(rng.standard_normal()),
                     "sigma": sigma, "true_delta_y": lift})
    return pd.DataFrame(rows, columns=TEST_COLUMNS)


def read_lift_design(design: str | Path | pd.DataFrame, names: list[str],
                     decimal: str | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A lift design (a CSV file, its decimal mark ``decimal``, or a table with :data:`DESIGN_COLUMNS`) for
    channels ``names``: channel indices, ``x`` and ``delta_x``, checked as ``calibrate --lift-tests`` checks them;
    every problem a one-line error naming the file (or "lift design"), the column and the row."""
    from budgetgym.calibration.lift import channel_index, check_table, read_table, spend_change

    if isinstance(design, pd.DataFrame):
        df, source = design, "lift design"
        check_table(df, DESIGN_COLUMNS, source)
    else:
        df, source = read_table(design, DESIGN_COLUMNS, "lift-design file", decimal)
    index = channel_index(df, list(names), [spend_column(n) for n in names], source)
    x, dx = spend_change(df, source)
    return index, x, dx


def simulate_design_tests(sc: Scenario, spent: np.ndarray, index: np.ndarray, x: np.ndarray, delta_x: np.ndarray,
                          rel_sigma: float, seed: int, *, floor: float = 0.0) -> pd.DataFrame:
    """The designed tests (channel ``index[j]`` from ``x[j]`` by ``delta_x[j]``) on ``sc`` for a dataset
    that spent ``spent`` ``[T, K]`` (module docstring), their standard errors at least ``floor`` (as for
    :func:`simulate_lift_tests`), in :func:`simulate_lift_tests`' columns."""
    rng = np.random.default_rng(np.random.SeedSequence([seed, 23]))
    bases = np.tile(spent.mean(axis=0), (len(index), 1))
    bases[np.arange(len(index)), index] = x
    return _measure(sc, bases, np.asarray(index, dtype=int), np.asarray(delta_x, dtype=float), rel_sigma, floor, rng)
