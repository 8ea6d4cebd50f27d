r"""The log return-on-spend prior's fixed point: the fit repeated with its rows relinearised until the anchors they
are linearised at are the fit's own returns (the rows and why: :mod:`~budgetgym.calibration.roi_prior`).

Write the anchors as one vector :math:`x = (\ln r_{i0}, \ln \bar r_0)` (:meth:`RoiRows.logs
<budgetgym.calibration.roi_prior.RoiRows.logs>`: the spent channels' log returns, then the pooled one) and
:math:`g(x)` for the fit with the rows linearised at :math:`x` — :math:`\phi` by least squares, then
:math:`(\beta, \bar r)` by the non-negative least squares at it — read back as the same vector (the returns
:math:`\beta_i m_i(\phi) / S_i` floored at :data:`~budgetgym.calibration.roi_prior.ROI_FLOOR` of :math:`\bar r`).
The fit is at its fixed point when :math:`\lVert g(x) - x \rVert_\infty <`
:data:`~budgetgym.calibration.roi_prior.LOG_TOL`: its returns are those its rows are linearised at, so the rows and
their derivatives are the log prior's own there (a stationary point of the exact log objective).

The plain iteration :math:`x_{k+1} = g(x_k)` converges linearly: on ``retail-5-family`` data (``bench_roi_prior.py``)
the anchors' moves shrank by a factor of only 0.3-0.5 a round, so a bootstrap refit took 6.4 fits on average and a
third stopped at the cap short of the tolerance, and at a tight prior (:math:`\tau = 0.05`) the point fit did too.
Here each next anchor vector is Anderson's (:func:`~budgetgym.calibration.roi_prior.anderson_step`): the
combination of the last images :math:`g_j` whose linearly predicted residual is smallest, which on a map that is
nearly affine near its fixed point converges superlinearly. It changes only where the rows are linearised between
fits, not the test of convergence, so the fixed point is the same. Safeguard: when a step's residual
:math:`\lVert g(x_k) - x_k \rVert_\infty` is larger than the previous one's (an extrapolation too far on a map
that is not affine there, e.g. where an anchor meets its floor), the history is dropped and the next step is the
plain one, :math:`g(x_k)`. :data:`~budgetgym.calibration.roi_prior.LOG_ROUNDS` fits at most, as before.

The last fit's solve at its :math:`\phi` is both the convergence test's and the coefficients returned
(:class:`FixedPoint`), so :meth:`~budgetgym.calibration.projection.Problem.linear` need not repeat it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from budgetgym.calibration.projection import Problem
from budgetgym.calibration.roi_prior import LOG_ROUNDS, LOG_TOL

__all__ = ["FixedPoint", "log_fixed_point"]

#: One fit of a problem from a start: ``(problem, phi)`` (the problem returned may carry new period weights).
FitFrom = Callable[[Problem, np.ndarray], tuple[Problem, np.ndarray]]


@dataclass(frozen=True)
class FixedPoint:
    """The fit at the log rows' fixed point (module docstring): its problem (rows at the last anchors), ``phi``,
    the features ``H`` ``[T, K]`` and coefficients ``beta`` ``[K]`` of the solve at ``phi``, how many fits it took
    (the caller's first one included) and whether the anchors settled within
    :data:`~budgetgym.calibration.roi_prior.LOG_TOL` (``False``: stopped at the cap)."""

    problem: Problem
    phi: np.ndarray
    H: np.ndarray
    beta: np.ndarray
    fits: int
    converged: bool


def log_fixed_point(
    prob: Problem, phi: np.ndarray, y: np.ndarray, fit_from: FitFrom, lift_y: np.ndarray | None = None,
    roi_shift: np.ndarray | None = None,
) -> FixedPoint:
    """From ``phi``, the fit of ``prob`` at its rows' anchors (one fit, done by the caller), the fits by
    ``fit_from`` (each warm-started at the previous ``phi``) with the log rows :func:`settled` at the last fit's
    ``phi`` before each, until the rows a fit was made with are linearised at its own estimate (module
    docstring), for the :meth:`~budgetgym.calibration.projection.Problem.target` of ``y``, ``lift_y`` and
    ``roi_shift``. A problem without log rows (none, or the linear form's) is its own fixed point: its solve at
    ``phi``, after one fit."""
    fits = 1
    while True:
        prob = prob.settled(phi, y, lift_y, roi_shift)
        H, beta, pooled = prob.solution(phi, y, lift_y, roi_shift)
        roi = prob.roi
        if roi is None or roi.form != "log":
            return FixedPoint(prob, phi, H, beta, fits, True)
        gap = float(np.max(np.abs(roi.relinearised(H.sum(axis=0), beta, pooled).logs() - roi.logs())))
        if gap < LOG_TOL or fits >= LOG_ROUNDS:
            return FixedPoint(prob, phi, H, beta, fits, gap < LOG_TOL)
        prob, phi = fit_from(prob, phi)
        fits += 1
