r"""Lift tests: experiments that measured a channel's incremental KPI, as extra likelihood terms.

A lift test (a geo experiment, a holdout, a conversion-lift study) moves a channel's spend from
``x`` to ``x + delta_x`` per period, holds it long enough for the carry-over to build up, and
measures the change of the KPI per period, ``delta_y``, with standard error ``sigma``. The file
uses PyMC-Marketing's layout (``MMM.add_lift_test_measurements``), one row per test:

==========  ==================================================================================
column      meaning
==========  ==================================================================================
channel     the channel: its spend column as given to ``--spend`` (or the channel's name in
            ``family.yaml``, e.g. ``tv`` for ``tv_S``)
x           spend per period before the test (currency, ``>= 0``)
delta_x     the change of spend per period during the test (``x + delta_x >= 0``, not 0)
delta_y     the measured change of the KPI per period, at steady state (KPI units)
sigma       its standard error (at least :data:`MIN_SIGMA` of the KPI's standard deviation)
==========  ==================================================================================

**The model's lift.** Spend ``x`` held every period buys exposure :math:`e_i(x)` per period by
the channel's cost curve (:func:`~budgetgym.calibration.export.fit_costs`, evaluated by
:meth:`~budgetgym.calibration.export.Costs.exposure`: :math:`e = u x (1 + x/x_{ref})^{-\eta} / p_0`; the
spend itself for a channel without an exposure column); the carry-over builds the adstock
:math:`\bar w_i e` and the response is :math:`\beta_i h_i(\bar w_i e)`
(:func:`~budgetgym.calibration.transforms.steady_state`; the delay only spreads it over later
periods and the media seasonality averages 1 over a year, so this is the yearly average). Test
``j`` on channel ``i`` is then

.. math::

    L_j(\phi, \beta) = \beta_i \big[h_i(\bar w_i e_i(x_j + \Delta x_j)) - h_i(\bar w_i e_i(x_j))\big]
                     = \beta_i\, g_j(\phi),

linear in :math:`\beta` for fixed :math:`\phi`, so the tests are rows of the variable-projection
problem (:mod:`~budgetgym.calibration.projection`).

**Likelihood.** :math:`\Delta y_j \sim N(L_j, \sigma_j^2)`, independent of the KPI's noise
:math:`N(0, \hat\sigma^2)`. The least squares sums the KPI's residuals unscaled, so a test
enters as the pseudo-residual :math:`\hat\sigma (\Delta y_j - L_j)/\sigma_j`: the whole sum of
squares is then :math:`2 \hat\sigma^2` times the negative log-likelihood (plus a constant), and a
test counts as much as its precision says against the data. :math:`\hat\sigma` is the residual
scale of the fit without the tests and priors (as the priors' scale,
:mod:`~budgetgym.calibration.model`), at least :data:`~budgetgym.calibration.model.LIFT_SCALE_FLOOR`
of the KPI's sd. The bootstrap (:mod:`~budgetgym.calibration.uncertainty`) redraws every
measurement in each replicate, :math:`\Delta y^*_j \sim N(\beta_i g_j(\hat\phi), \sigma_j^2)` around the
fitted lift as it builds the KPI around the fitted values (with ``--prior-draws``, around the
measurement :math:`\Delta y_j`), so the intervals carry the tests' uncertainty.

PyMC-Marketing instead compares :math:`|S(x + \Delta x) - S(x)|` on its saturation curve of
(scaled) spend, without the carry-over, with a Gamma of that mean and sd :math:`\sigma` observed
at :math:`|\Delta y|`. Here the lift is the steady state through the carry-over (a test held for
weeks at a level measures that) in the model's own units, and Gaussian (the least squares' own
likelihood; a cut of spend is a negative lift, not its absolute value).

**Disagreements.** A measurement is not refused for its size (beyond the data a lift can exceed any
period's KPI), but one the data disagree with (:func:`disagreements`) is warned of by name: a lift in
other units than the KPI per period, or a total over the test instead of per period, otherwise showed
only as a poor fit, blamed on the data. The test is compared with what the data say alone
(:func:`data_z`), not with the fitted lift, which a precise test pulls to itself (a lift 10 times the
data's, with a standard error of 1% of it, was met at z = 0 under every likelihood, and ruined the fit
to the data unnamed): with :math:`C(\cdot)` the least squares' objective at its optimum, which is
:math:`\hat\sigma^2` times the negative log-likelihood's chi-square (the data's pseudo-residuals are
Pearson residuals under a count likelihood, the tests' are scaled by :math:`\hat\sigma`),

.. math::

    z^{data}_j = \operatorname{sign}(\Delta y_j - L^0_j) \sqrt{2\,[C(\text{data} + \text{test } j) -
        C(\text{data})] / \hat\sigma^2}

with :math:`L^0_j` the lift of the fit to the data (and the priors) alone. For a model linear in its
parameters this is exactly :math:`(\Delta y_j - L^0_j) / \sqrt{\sigma_j^2 + \mathrm{se}(L^0_j)^2}`: the
test against the data's own estimate and its standard error, one definition for every likelihood. A
test with :math:`|z^{data}_j| >` :data:`Z_WARN` disagrees. Each fit is local, the best of the trust
region from the fit's estimate before the tests joined (the data's own multi-start optimum) and from its
final estimate, to the bootstrap refits' tolerance (1e-6 of the objective: a chi-square within about
:math:`10^{-6} T`). A test of a channel whose level the data leave free (spent at one steady level, or
tested beyond the data) has a large :math:`\mathrm{se}(L^0_j)` and is no disagreement: the data cannot
contradict it (the warnings of such a channel and of a test beyond the data say so).

**Beyond the data.** A test at a level of spend above the channel's largest period in the data
(:func:`beyond_data`) is the only evidence there: the fit bends the curve to it, and its agreement
with the test says nothing of the data. ``fit.md`` warns of each such test.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import pandas as pd

from budgetgym.calibration.data import MAX_AMOUNT, MAX_KPI, MMMData, numeric_column
from budgetgym.calibration.export import Costs
from budgetgym.calibration.model import REFIT_TOL, Fit
from budgetgym.calibration.projection import LiftRows
from budgetgym.envs.errors import BudgetGymError, suggest
from budgetgym.envs.io import cell_text

__all__ = ["COLUMNS", "Z_WARN", "LiftTests", "beyond_data", "channel_index", "check_table", "data_z", "disagreements",
           "lift_table", "read_lift_tests", "read_table", "spend_change"]

COLUMNS = ("channel", "x", "delta_x", "delta_y", "sigma")
#: The smallest standard error of a test, relative to the KPI's standard deviation: a test weighs
#: ``1 / sigma`` against the data, and a far smaller one overflowed the fit's sums of squares.
MIN_SIGMA = 1e-6
#: A test more than this many standard errors from the data's lift is warned of (:func:`data_z`,
#: :func:`disagreements`): under the model it happens once in 16,000 tests.
Z_WARN = 4.0


@dataclass(frozen=True)
class LiftTests:
    """A validated lift-test file: its rows as given and in the model's units."""

    path: Path
    table: pd.DataFrame  # channel (the fitted channel's name), x, delta_x, delta_y, sigma
    rows: LiftRows

    def __len__(self) -> int:
        return len(self.rows)


def channel_index(df: pd.DataFrame, channels: list[str], spend_columns: list[str], source: str) -> np.ndarray:
    """Column ``channel`` of ``df`` as indices into ``channels``; each row names a channel or its spend
    column (``spend_columns``, in the same order). An unknown name is a one-line error naming
    ``source``, the column and the row."""
    lookup = {c: i for i, c in enumerate(spend_columns)}
    lookup.update({c: i for i, c in enumerate(channels)})
    out = []
    for row, raw in enumerate(df["channel"]):
        if pd.isna(raw):  # str() made "unknown channel 'nan'"
            raise BudgetGymError(f"{source}: column 'channel', row {row + 1}: expected a channel, got {cell_text(raw)}")
        name = str(raw).strip()
        if name not in lookup:
            names = list(spend_columns)
            raise BudgetGymError(
                f"{source}: column 'channel', row {row + 1}: unknown channel '{name}'{suggest(name, names)}; "
                f"expected a spend column ({', '.join(names)})"
            )
        out.append(lookup[name])
    return np.array(out, dtype=int)


def _check(ok: np.ndarray, source: str, col: str, what: str, values: np.ndarray) -> None:
    if not np.all(ok):
        row = int(np.flatnonzero(~ok)[0])
        raise BudgetGymError(f"{source}: column '{col}', row {row + 1}: {what}, got {values[row]:g}")


def read_table(path: str | Path, columns: tuple[str, ...], kind: str,
               decimal: str | None = None) -> tuple[pd.DataFrame, str]:
    """The CSV table at ``path`` and its name in messages (``kind`` file 'path'), checked by
    :func:`check_table`; ``decimal``: its decimal mark (:func:`~budgetgym.envs.csv_table.read_csv_table`)."""
    from budgetgym.envs.io import read_csv_table

    p = Path(path)
    source = f"{kind} '{p}'"
    df = read_csv_table(p, kind, decimal, numbers=[c for c in columns if c != "channel"])  # 1 234,5 too
    check_table(df, columns, source)
    return df, source


def check_table(df: pd.DataFrame, columns: tuple[str, ...], source: str) -> None:
    """Each of ``columns`` present in ``df`` and at least one row, else a one-line error naming ``source``."""
    for col in columns:
        if col not in df.columns:
            raise BudgetGymError(
                f"{source}: no column '{col}'{suggest(col, list(df.columns))}; expected the columns "
                f"{', '.join(columns)}, got {', '.join(map(str, df.columns)) or 'none'}"
            )
    if len(df) == 0:
        raise BudgetGymError(f"{source}: the table has no rows")


def spend_change(df: pd.DataFrame, source: str) -> tuple[np.ndarray, np.ndarray]:
    """Columns ``x`` and ``delta_x`` of a test table, checked: numbers, ``x >= 0``, ``delta_x != 0``,
    ``0 <= x + delta_x <= MAX_AMOUNT`` (module docstring); else a one-line error naming ``source``,
    column and row."""
    x, dx = (numeric_column(df, c, source, "the value", nonnegative=False, largest=MAX_AMOUNT, boolean=False)
             for c in ("x", "delta_x"))
    _check(x >= 0, source, "x", "the spend before the test must be non-negative", x)
    _check(dx != 0, source, "delta_x", "the change of spend must not be 0", dx)
    _check(x + dx >= 0, source, "delta_x", "x + delta_x (the spend during the test) must be non-negative", x + dx)
    _check(x + dx <= MAX_AMOUNT, source, "delta_x", f"x + delta_x (the spend during the test) must be at most "
           f"{MAX_AMOUNT:g}", x + dx)
    return x, dx


def read_lift_tests(path: str | Path, data: MMMData, costs: Costs, decimal: str | None = None) -> LiftTests:
    """Read and validate a lift-test file for ``data`` (module docstring); every problem is a
    one-line :class:`~budgetgym.envs.errors.BudgetGymError` naming the file, the column and the row.
    ``decimal``: the file's decimal mark (``--decimal``, as the data file's)."""
    df, source = read_table(path, COLUMNS, "lift-test file", decimal)
    index = channel_index(df, list(data.channels), list(data.spend_columns), source)
    x, dx = spend_change(df, source)
    dy, sigma = (numeric_column(df, c, source, "the value", nonnegative=False, largest=MAX_KPI, boolean=False)
                 for c in COLUMNS[3:])
    _check(sigma > 0, source, "sigma", "the standard error must be positive", sigma)
    floor = MIN_SIGMA * float(np.std(data.kpi))
    _check(sigma >= floor, source, "sigma", f"the standard error must be at least {floor:g} ({MIN_SIGMA:g} of the "
           f"KPI's standard deviation)", sigma)
    rows = LiftRows(index=index, low=costs.exposure(x, index), high=costs.exposure(x + dx, index),
                    delta_y=dy, sigma=sigma)
    table = pd.DataFrame({"channel": [data.channels[i] for i in index], "x": x, "delta_x": dx, "delta_y": dy,
                          "sigma": sigma})
    return LiftTests(path=Path(path), table=table, rows=rows)


def data_z(fit: Fit) -> tuple[np.ndarray, np.ndarray]:
    """``(L0, z_data)`` of ``fit``'s lift tests (``[J]`` each): each test's lift by the fit without the tests,
    and the test's z against the data (module docstring, *Disagreements*)."""
    prob = fit.problem
    rows = prob.lift
    if rows is None:
        return np.zeros(0), np.zeros(0)
    starts = [fit.phi] if fit.data_start is None else [fit.data_start, fit.phi]
    alone = replace(prob, lift=None)
    phi0, cost0 = min((alone.fit(fit.y, s, REFIT_TOL) for s in starts), key=lambda r: r[1])
    beta0 = alone.linear(phi0, fit.y)[1]
    lift0 = rows.features(fit.layout, phi0, fit.ref) @ beta0
    z = np.empty(len(rows))
    for j in range(len(rows)):
        one = replace(prob, lift=LiftRows(index=rows.index[j:j + 1], low=rows.low[j:j + 1], high=rows.high[j:j + 1],
                                          delta_y=rows.delta_y[j:j + 1], sigma=rows.sigma[j:j + 1]))
        cost = min(one.fit(fit.y, s, REFIT_TOL)[1] for s in (phi0, fit.phi))
        chi2 = max(0.0, 2.0 * (cost - cost0)) / prob.lift_scale**2
        z[j] = np.sign(rows.delta_y[j] - lift0[j]) * np.sqrt(chi2)
    return lift0, z


def lift_table(fit: Fit, tests: LiftTests, phi: np.ndarray | None = None, beta: np.ndarray | None = None,
               level: float = 0.9) -> pd.DataFrame:
    """Each test's measurement beside the fitted model's lift, and its ``level`` interval over the
    bootstrap draws ``phi`` ``[N, size]``, ``beta`` ``[N, K]`` (``NaN`` without draws); ``z`` against the
    fitted lift; ``data_lift``, the lift of the fit without the tests, and ``z_data``, the test against the
    data (:func:`data_z`)."""
    out = tests.table.copy()
    out["model"] = fit.lift()
    if phi is not None and beta is not None and len(beta):
        draws = np.array([fit.lift(phi[n], beta[n]) for n in range(len(beta))])
        tail = 50.0 * (1.0 - level)
        out["low"], out["high"] = np.percentile(draws, [tail, 100.0 - tail], axis=0)
    else:
        out["low"] = out["high"] = np.nan
    out["z"] = (out["delta_y"] - out["model"]) / out["sigma"]
    out["data_lift"], out["z_data"] = data_z(fit)
    return out


def beyond_data(tests: LiftTests, data: MMMData) -> list[str]:
    """A warning per test whose higher level of spend, ``max(x, x + delta_x)`` per period, is above
    its channel's largest period of spend in the data (module docstring); none for the others."""
    out = []
    x, dx = tests.table["x"].to_numpy(float), tests.table["delta_x"].to_numpy(float)
    for j, name in enumerate(tests.table["channel"]):
        level, top = max(x[j], x[j] + dx[j]), float(data.spend[:, int(tests.rows.index[j])].max())
        if level > top * (1.0 + 1e-9):
            out.append(
                f"lift test {j + 1} ({name}: {x[j]:,.6g} -> {x[j] + dx[j]:,.6g} per period) spends beyond the data's "
                f"largest period ({top:,.6g}): there the curve rests on the test alone, and the fit's agreement with "
                f"it is no check of the fit"
            )
    return out


def disagreements(table: pd.DataFrame) -> list[str]:
    """A warning per test of :func:`lift_table`'s ``table`` more than :data:`Z_WARN` standard errors from
    the data's lift (``z_data``, module docstring); none for the others."""
    out = []
    for j, r in enumerate(table.to_dict(orient="records")):
        if abs(float(r["z_data"])) > Z_WARN:
            x, dx = float(r["x"]), float(r["delta_x"])
            out.append(
                f"lift test {j + 1} ({r['channel']}: {x:,.6g} -> {x + dx:,.6g} per period) measured "
                f"{float(r['delta_y']):,.6g} ± {float(r['sigma']):,.6g}, the fit's lift is {float(r['model']):,.6g} "
                f"(z = {float(r['z']):,.1f}) and the data's alone {float(r['data_lift']):,.6g} (z = "
                f"{float(r['z_data']):,.1f} with the data's own uncertainty): the test and the data disagree; check "
                f"that it is the KPI's change per period at steady state, in the KPI's units"
            )
    return out
