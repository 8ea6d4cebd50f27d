"""The bootstrap's refits, in this process and in worker processes: the same draws either way.

Each replicate's refit (:func:`refit`; importable from :mod:`~budgetgym.calibration.model` too) is independent of
the others and deterministic given its inputs (its KPI series, prior shift and lift-test measurements, all
drawn beforehand in the calling process), so the refits can run anywhere: :func:`refit_all` cuts
them into chunks of :data:`CHUNK` replicates; with ``workers > 1`` it hands the chunks, last
first, to ``workers - 1`` processes (``spawn``, as the experiment grid's
:class:`~budgetgym.experiments.backends.ProcessPoolBackend`) while this process works through them
from the first; it takes a chunk only while a worker has not started it (a pending future is
cancelled), so the two ends meet without any chunk refit twice. A spawned worker first imports
budgetgym (about two seconds). :func:`~budgetgym.calibration.calibrate.calibrate` starts its
workers (:class:`Workers`) before the point fit, so they import while it fits; the bootstrap
hands them chunks once they are ready, or, if they are not yet, when the refits left would take
this process alone more than :data:`PARALLEL_SECONDS` (timed on the first chunk): a bootstrap
of a second or two runs here alone rather than wait for a worker. Without started workers,
:func:`refit_all` starts its own by the same rule.

Every refit runs with BLAS on one thread (``threadpoolctl``), in the workers as here, so the
draws are bit for bit the same for any number of workers (a BLAS on several threads may sum in
another order) and two processes do not each start a BLAS pool on two cores.

A script that runs a calibration with ``workers > 1`` needs the ``if __name__ == "__main__":``
guard (the workers are spawned and import the main module); the ``budgetgym calibrate`` command
has it.
"""

from __future__ import annotations

import multiprocessing
import os
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Executor, Future, ProcessPoolExecutor
from contextlib import nullcontext
from typing import TypeVar

import numpy as np
from threadpoolctl import threadpool_limits

from budgetgym.calibration.model_spec import Fit
from budgetgym.calibration.projection import Problem
from budgetgym.calibration.roi_fixed_point import log_fixed_point
from budgetgym.calibration.transforms import Layout
from budgetgym.envs.sigint import children_ignore_sigint

__all__ = ["CHUNK", "DEFAULT_WORKERS", "PARALLEL_SECONDS", "REFIT_NFEV", "REFIT_NFEV_RIDGE", "REFIT_TOL",
           "WORKER_DRAWS", "Replicate", "Workers", "ordered_map", "refit", "refit_all", "refit_nfev"]

T = TypeVar("T")
R = TypeVar("R")

#: One replicate's inputs: the KPI series, the prior's shift (or None) and the lift tests' measurements (or None).
Replicate = tuple[np.ndarray, np.ndarray | None, np.ndarray | None]
#: One replicate's refit: ``(phi, beta, coef, settled)``, ``settled`` ``False`` when a log return-on-spend prior's
#: fixed point stopped at the cap short of it (:attr:`~budgetgym.calibration.roi_fixed_point.FixedPoint.converged`).
Refit = tuple[np.ndarray, np.ndarray, np.ndarray, bool]

#: ``budgetgym calibrate --workers``: two processes (the machines budgetgym targets have two cores), one
#: on a single-core machine.
DEFAULT_WORKERS = min(2, os.cpu_count() or 1)
#: :func:`~budgetgym.calibration.calibrate.calibrate` starts workers before its fit only for this many
#: draws or more: a shorter bootstrap ends before a worker has started.
WORKER_DRAWS = 50
#: Replicates per chunk (a chunk is the unit of work handed to a worker).
CHUNK = 8
#: Worker processes start only when the refits after the first chunk would take this process alone
#: longer than this (seconds): a worker's start-up (importing budgetgym, about two seconds) costs
#: more than it saves on a shorter bootstrap (three channels x 156 weeks: 1.6 s for 200 draws).
PARALLEL_SECONDS = 4.0


#: Tolerance and evaluation budget of a bootstrap refit: a replicate only needs its optimum to a
#: small fraction of the sampling spread it measures. Misspecified data (e.g. delays and seasonal
#: demand the model lacks) leaves a long, flat ridge between carry-over and saturation that the
#: point fit's 1e-10 walks for thousands of evaluations (about 3 s a replicate on five channels of
#: retail-5-family, against 0.1 s here, for changes far below the draws' spread). Counted in
#: evaluations of the residual: with :meth:`~budgetgym.calibration.projection.Problem.jacobian`
#: that is at most 20 iterations, as the 20 (1 + n_phi) finite-difference evaluations were before it.
#: A geometric carry-over's refits reach :data:`REFIT_TOL` within it (99-100% of them on issue 11's
#: benchmark data, a median of 7 evaluations).
REFIT_TOL = 1e-6
REFIT_NFEV = 20
#: The evaluation budget of a refit whose carry-over is a Weibull's or that fits a conversion delay
#: (:func:`refit_nfev`): two parameters that shape the response over time (shape and scale, or decay and
#: lag) trade along a curved ridge, where the trust region's steps are short. On issue 11's benchmark data
#: (3 channels x 156 weeks) 1-54% of the Weibull refits (60-67% with a delay, and 26-39% of the
#: geometric refits with a delay) needed more than 20 evaluations, at most 79; stopped at 20 they ended
#: between the point estimate and their optimum, and a Weibull shape's 90% interval was half the width of
#: the converged refits'.
REFIT_NFEV_RIDGE = 100


def refit_nfev(layout: Layout) -> int:
    """The evaluation budget of a bootstrap refit of ``layout``: :data:`REFIT_NFEV` for a geometric
    carry-over without a delay, :data:`REFIT_NFEV_RIDGE` for a Weibull carry-over or a delay."""
    return REFIT_NFEV if layout.adstock == "geometric" and not layout.delay else REFIT_NFEV_RIDGE


def refit(
    fit: Fit, y: np.ndarray, tol: float = REFIT_TOL, prior_shift: np.ndarray | None = None,
    lift_y: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Refit ``fit``'s model to another KPI series ``y`` (a bootstrap replicate), warm-started at
    the point estimate, with its weights and prior (its means moved by ``prior_shift`` sds, one per
    pseudo-residual of :meth:`~budgetgym.calibration.projection.Problem.penalty`), to
    :data:`REFIT_TOL` within :func:`refit_nfev` evaluations of the residual (as many iterations at
    most), and with lift tests their measurements ``lift_y`` (default the tests'): ``(phi, beta, coef)``, the
    coefficients those of the moved centres of the return-on-spend rows too. The log form's rows are relinearised
    at the replicate's own estimate, to their fixed point, as the point fit's
    (:func:`~budgetgym.calibration.roi_fixed_point.log_fixed_point`; one fit, the rows settled at each ``phi`` it
    tries): kept at the point fit's anchors, a replicate whose returns differ was pulled by the log prior's tangent
    at the wrong point."""
    return _refit(fit, y, tol, prior_shift, lift_y)[:3]


def _refit(
    fit: Fit, y: np.ndarray, tol: float = REFIT_TOL, prior_shift: np.ndarray | None = None,
    lift_y: np.ndarray | None = None,
) -> Refit:
    """:func:`refit`, and whether its fixed point settled (:data:`Refit`)."""
    prob, nfev = fit.problem, refit_nfev(fit.layout)
    roi_shift = prob.split_shift(prior_shift)[1]

    def fit_from(p: Problem, start: np.ndarray) -> tuple[Problem, np.ndarray]:
        return p, p.fit(y, start, tol, nfev, shift=prior_shift, lift_y=lift_y)[0]

    done = log_fixed_point(*fit_from(prob, fit.phi), y, fit_from, lift_y,
                           roi_shift)
    _, beta, coef = done.problem.linear(done.phi, y, lift_y, roi_shift, solved=(done.H, done.beta))
    return done.phi, beta, coef, done.converged


def _refit_chunk(task: tuple[Fit, Sequence[Replicate]]) -> list[Refit]:
    """Refit each replicate of a chunk (BLAS on one thread); module-level so a worker can run it."""
    fit, replicates = task
    with threadpool_limits(limits=1, user_api="blas"):
        return [_refit(fit, y, prior_shift=shift, lift_y=lift_y) for y, shift, lift_y in replicates]


def ordered_map(fn: Callable[[T], R], items: Sequence[T], pool: Executor) -> list[R]:
    """``[fn(item) for item in items]``, computed by this process from the first item and by
    ``pool`` from the last (module docstring): an item is taken here only while its pending future
    can still be cancelled, so every item is computed exactly once."""
    if not items:
        return []
    futures: dict[int, Future[R]] = {}
    for i in reversed(range(1, len(items))):  # the pool starts from the last item
        futures[i] = pool.submit(fn, items[i])
    done: dict[int, R] = {0: fn(items[0])}
    for i in range(1, len(items)):  # this process from the first, while the pool has not begun the item
        if not futures[i].cancel():
            break  # the pool has it and (submitted earlier) every item after it
        done[i] = fn(items[i])
    for i, future in futures.items():
        if i not in done:
            done[i] = future.result()
    return [done[i] for i in range(len(items))]


def _ready() -> None:
    """A worker's first task: nothing (it is ready once budgetgym is imported)."""


class Workers:
    """``workers - 1`` worker processes (``spawn``), started at once: each imports budgetgym while the
    caller goes on (:func:`refit_all` hands them chunks once :attr:`ready`). A context manager; on
    exit the workers are stopped, pending chunks cancelled."""

    def __init__(self, workers: int):
        self.count = workers - 1
        self.pool = ProcessPoolExecutor(max_workers=self.count, mp_context=multiprocessing.get_context("spawn"))
        with children_ignore_sigint():  # a submit spawns a worker: Ctrl-C is the caller's (it stops them)
            self._started = [self.pool.submit(_ready) for _ in range(self.count)]

    @property
    def ready(self) -> bool:
        """Every worker has started (imported budgetgym)."""
        return all(f.done() for f in self._started)

    def __enter__(self) -> Workers:
        return self

    def __exit__(self, *exc: object) -> None:
        self.pool.shutdown(wait=False, cancel_futures=True)  # a worker still importing exits after it


def _flat(parts: Sequence[list[Refit]]) -> list[Refit]:
    return [r for part in parts for r in part]


def refit_all(
    fit: Fit, replicates: Sequence[Replicate], workers: int = 1, started: Workers | None = None
) -> list[Refit]:
    """The refits (:data:`Refit`) of ``replicates`` in their order, in this process and ``workers - 1`` worker
    processes, or the ``started`` ones (module docstring); the same numbers for any workers."""
    chunks = [(fit, replicates[i : i + CHUNK]) for i in range(0, len(replicates), CHUNK)]
    if not chunks:
        return []
    if started is not None and started.ready and len(chunks) >= 2:
        return _flat(ordered_map(_refit_chunk, chunks, started.pool))
    t0 = time.perf_counter()
    first = _refit_chunk(chunks[0])
    rest = chunks[1:]
    n = workers if started is None else started.count + 1
    if n <= 1 or len(rest) < 2 or (time.perf_counter() - t0) * len(rest) <= PARALLEL_SECONDS:
        return first + _flat([_refit_chunk(chunk) for chunk in rest])
    # the started workers (not ready yet, but worth waiting for; their owner stops them), or our own
    with nullcontext(started) if started is not None else Workers(min(n, len(rest))) as running:
        return first + _flat(ordered_map(_refit_chunk, rest, running.pool))
