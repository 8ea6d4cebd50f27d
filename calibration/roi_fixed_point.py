r"""The log return-on-spend prior's fixed point: a fit whose rows are linearised at its own returns (the rows and why:
:mod:`~budgetgym.calibration.roi_prior`).

Write the anchors as one vector :math:`x = (\ln r_{i0}, \ln \bar r_0)` (:meth:`RoiRows.logs
<budgetgym.calibration.roi_prior.RoiRows.logs>`: the spent channels' log returns, then the pooled one), and for
curves :math:`\phi` let :math:`L(\phi, x) = \min_{\beta \ge 0, \bar r \ge 0} \lVert \rho(\phi, \beta, \bar r;
x) \rVert^2` be the stacked least squares with the rows linearised at :math:`x` (the projected KPI, the lift tests,
the rows; :mod:`~budgetgym.calibration.projection`) and :math:`g_\phi(x)` its solution's returns, as the same vector
(each floored at :data:`~budgetgym.calibration.roi_prior.ROI_FLOOR` of :math:`\bar r`). The fixed point is a
:math:`\phi^*` minimising :math:`L(\cdot, x^*)` (with the other priors' penalty) at anchors :math:`x^* =
g_{\phi^*}(x^*)`, tested as :math:`\lVert g_\phi(x) - x \rVert_\infty <`
:data:`~budgetgym.calibration.roi_prior.LOG_TOL`: there the rows and their derivatives are the log prior's own, so it
is a stationary point of the exact log objective.

**Two nested iterations.** For :math:`\phi` held, the anchors' fixed point :math:`x(\phi) = g_\phi(x(\phi))` costs
only non-negative least squares on the stacked system (the features computed once):
:meth:`~budgetgym.calibration.projection.Problem.settled` repeats the solve with each next anchor vector by Anderson
acceleration (:func:`~budgetgym.calibration.roi_prior.anderson_step`; :math:`g_\phi` is smooth, and deterministic,
there) until the anchors move less than :data:`~budgetgym.calibration.projection.SETTLE_TOL`. The fit over
:math:`\phi` (:meth:`~budgetgym.calibration.projection.Problem.fit`) then minimises :math:`E(\phi) = L(\phi,
x(\phi))`, the rows settled at every :math:`\phi` it tries. Its gradient is the old fixed point's: row :math:`i` is
:math:`w (r_i e^{-x_i} - \bar r e^{-x_0} + x_i - x_0) - o_i` (:math:`x_0 = \ln \bar r_0`, :math:`o_i` a prior
draw's offset), whose derivatives :math:`w (1 - r_i e^{-x_i})` in :math:`x_i` and :math:`w (\bar r e^{-x_0} - 1)`
in :math:`x_0` vanish where the anchors are the solution's own returns, so :math:`\partial L / \partial x = 0` at
:math:`x(\phi)` and

.. math::

    \nabla E(\phi) = \partial_\phi L(\phi, x) + \partial_x L(\phi, x)\, x'(\phi) = \partial_\phi L(\phi, x)
    \big|_{x = x(\phi)}

(the envelope theorem; a channel at its floor is the exception, its anchor not its return). So the Jacobian at the
settled anchors held is :math:`E`'s (to first order, all a forward difference uses), and a fit's stationary point
is the fixed point: one fit instead of a fit per relinearisation. The rows relinearised only between fits converged
linearly (the anchors' moves shrank by a factor 0.3-0.5 a round: 6.4 fits a bootstrap refit on ``retail-5-family``
data, a third of them stopped at the cap short of the tolerance, and at :math:`\tau = 0.05` the point fit too;
figures: ``benchmarks/README.md``, ``bench_roi_prior.py``); on the first 24 of those refits an Anderson step on
the anchors between fits of :math:`\phi` took 6.5 fits a refit, and the anchors settled between fits 4.8: the first
move, up to 7 in log when a prior draw moves a channel's centre far, is far from the affine regime, and each fit's
own tolerance makes the map between fits noisy.

:func:`log_fixed_point` keeps the test and, as a safety net, the old loop (another fit from the last, at most
:data:`~budgetgym.calibration.roi_prior.LOG_ROUNDS` fits) for a fit whose anchors did not settle. ``settled``'s last
solve, at the rows it returns (:class:`~budgetgym.calibration.projection.Settled`), is the one all of them read: the
fit's residual, the test (:meth:`~budgetgym.calibration.roi_prior.RoiRows.gap`) and the coefficients
(:class:`FixedPoint`), so neither :meth:`~budgetgym.calibration.projection.Problem.solution` nor
:meth:`~budgetgym.calibration.projection.Problem.linear` repeats it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from budgetgym.calibration.projection import Problem
from budgetgym.calibration.roi_prior import LOG_ROUNDS, LOG_TOL
from budgetgym.experiments.wording import count

if TYPE_CHECKING:  # both import this module's callers
    from budgetgym.calibration.model_spec import Fit
    from budgetgym.calibration.uncertainty import Draws

__all__ = ["FixedPoint", "log_fixed_point", "unsettled_warning"]

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
    """The fixed point from ``phi``, the caller's fit of ``prob`` (module docstring): the log rows
    :meth:`~budgetgym.calibration.projection.Problem.settled` at ``phi``, and done when the solve's returns there are
    the anchors (within :data:`~budgetgym.calibration.roi_prior.LOG_TOL`); else another fit by ``fit_from``,
    warm-started at ``phi``, at most :data:`~budgetgym.calibration.roi_prior.LOG_ROUNDS` fits in all; for the
    :meth:`~budgetgym.calibration.projection.Problem.target` of ``y``, ``lift_y`` and ``roi_shift``. A problem without
    log rows (none, or the linear form's) is its own fixed point: its solve at ``phi``."""
    fits = 1
    while True:
        done = prob.settled(phi, y, lift_y, roi_shift)
        prob = done.problem
        if done.gap < LOG_TOL or fits >= LOG_ROUNDS:  # no log rows: gap 0
            return FixedPoint(prob, phi, done.H, done.beta, fits, done.gap < LOG_TOL)
        prob, phi = fit_from(prob, phi)
        fits += 1


def unsettled_warning(fit: Fit, draws: Draws | None) -> list[str]:
    """A warning (``fit.md``'s) when the point fit's log return-on-spend rows stopped at the cap short of their fixed
    point (:attr:`FixedPoint.converged` ``False``: its returns are not those its rows are linearised at, so it is not
    the log prior's estimate), and one giving the share of the bootstrap's refits that did."""
    out = []
    if fit.roi_fits and not fit.roi_converged:
        out.append(f"the log ROI prior's fit stopped after {count(fit.roi_fits, 'fit')} (the cap) short of its "
                   f"fixed point (its returns moved the rows' anchors by {LOG_TOL:g} or more in log): the estimate "
                   f"is not quite the prior's; try a larger --roi-prior, or --roi-prior-form linear")
    short = 0 if draws is None or draws.unsettled is None else int(np.sum(draws.unsettled))
    if draws is not None and short:
        out.append(f"the log ROI prior: {short} of {count(len(draws), 'bootstrap refit')} "
                   f"({100 * short / len(draws):.0f}%) stopped after {count(LOG_ROUNDS, 'fit')} (the cap) short of "
                   f"their fixed point: their draws are not quite the prior's")
    return out
