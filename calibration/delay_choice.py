r"""Each channel's conversion-lag form chosen on the point fit (``calibrate --delay auto``).

A channel's lag is the gamma of shape 2 or the geometric (:mod:`~budgetgym.calibration.transforms`); both have
one parameter, the mean lag, so a choice of forms adds no continuous parameter and the fits' penalised costs
(half the sum of squares of :meth:`~budgetgym.calibration.projection.Problem.fit`'s residuals: the weighted,
projected KPI's, the priors' and the lift tests' rows) compare like for like.

The rule, greedy and warm-started (:func:`choose_forms`): from the fit with every lag gamma (``phi``, its final
problem ``P``; its cost polished first, so each comparison is of two local optima found alike), each round tries
every channel's other form, that form alone switched in ``P``'s layout and
:meth:`~budgetgym.calibration.projection.Problem.fit` polished from the current ``phi``; the switch that lowers the
cost most is kept (its ``phi`` the next round's start) if it lowers it by more than :data:`MIN_GAIN` times the
all-gamma fit's residual variance :math:`\hat\sigma^2` (``Fit.scale``), until none does. The cost is half the
weighted sum of squares, so the bar is a rise of the Gaussian log-likelihood :math:`\Delta \mathrm{SSE} /
2\hat\sigma^2` by 1 (a likelihood ratio of e): a switch within the noise (a channel with a lag near 0, whose two
forms differ in a few percent of its response) keeps the gamma. Each kept switch lowers the cost, so no form comes
back. Then :func:`fit_with_forms` refits the model from scratch with the forms chosen (the multi-start, the priors'
and the pseudo-rows' scales: :func:`~budgetgym.calibration.model.fit_model`), so the result is the fit of a model
whose forms were given, and the bootstrap's refits keep them (they refit its problem).

Cost: ``1 + K (s + 1)`` warm local fits for ``s`` switches (6 for five channels without a switch, 11 with one), and
one more full fit when a form is switched (``benchmarks/bench_delay_choice.py``).
"""

from __future__ import annotations

from dataclasses import replace

from budgetgym.calibration.data import MMMData
from budgetgym.calibration.model import ModelSpec, fit_model
from budgetgym.calibration.model_spec import Fit
from budgetgym.calibration.projection import LiftRows
from budgetgym.calibration.transforms import DelayForm

__all__ = ["CHOICE_TOL", "MIN_GAIN", "choose_forms", "fit_with_forms"]

#: The local fits' tolerance (the multi-start's polish; the scouts' 1e-6 left costs too rough to rank).
CHOICE_TOL = 1e-10
#: A switch is kept only if it lowers the cost by more than this many residual variances (module docstring).
MIN_GAIN = 1.0


def _other(form: DelayForm) -> DelayForm:
    return "geometric" if form == "gamma" else "gamma"


def choose_forms(fit: Fit) -> tuple[tuple[DelayForm, ...], list[tuple[tuple[DelayForm, ...], float]]]:
    """The forms chosen on ``fit``'s final problem (module docstring) and the path taken: ``[(forms, cost)]``, the
    start's first, then each kept switch's."""
    prob, y = fit.problem, fit.y
    forms = fit.layout.forms
    phi, cost = prob.fit(y, fit.phi, CHOICE_TOL)
    bar = MIN_GAIN * fit.scale
    path = [(forms, cost)]
    while True:
        best = None
        for i in range(len(forms)):
            trial = forms[:i] + (_other(forms[i]),) + forms[i + 1:]
            moved = replace(prob, layout=replace(prob.layout, delay=trial))
            new_phi, new_cost = moved.fit(y, phi, CHOICE_TOL)
            if new_cost < cost - bar and (best is None or new_cost < best[2]):
                best = (trial, new_phi, new_cost, moved)
        if best is None:
            return forms, path
        forms, phi, cost, prob = best
        path.append((forms, cost))


def fit_with_forms(
    data: MMMData, spec: ModelSpec, *, seed: int = 0, lift: LiftRows | None = None
) -> tuple[Fit, list[tuple[tuple[DelayForm, ...], float]]]:
    """``fit_model`` with every lag gamma, the forms chosen on it (:func:`choose_forms`), and the model refitted
    with them when any is geometric: the fit and the choice's path."""
    fit = fit_model(data, replace(spec, delay=True), seed=seed, lift=lift)
    forms, path = choose_forms(fit)
    if forms != fit.layout.forms:
        fit = fit_model(data, replace(spec, delay=forms), seed=seed, lift=lift)
    return fit, path
