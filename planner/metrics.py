r"""Per-channel outcomes of a plan, and marginal returns (exact, from the model's gradient).

For a plan ``X [T, K]`` (currency per step and channel) and the problem's mean model (one
campaign, or the mean over a family's draws), channel ``i``'s numbers over the window are

* ``spend`` :math:`S_i = \sum_t X_{t,i}` and ``share`` :math:`S_i / \sum_j S_j`;
* ``conversions`` :math:`N_i(X)`: expected conversions arriving in the window (carried-in ones
  included), ``revenue`` :math:`R_i = v_i N_i` (``v`` the value per conversion, currency),
  ``outcome`` the channel's part of the reward (conversions, revenue, or profit
  :math:`R_i - S_i`), so that the outcomes sum to the plan's value;
* ``baseline_conversions`` :math:`N_i(0)`: what the spend before the window brings with no spend
  in it (0 without history); incremental conversions are :math:`N_i(X) - N_i(0)`;
* ``roas`` = incremental revenue / spend, ``cpa`` = spend / incremental conversions (``NaN`` for a
  channel the plan does not spend on, :func:`spent`, and where the incremental conversions are not
  meaningfully positive, :func:`per_conversion`: none, or subnormal);
* marginal returns along the channel's own flighting :math:`d_i = X_{\cdot,i} / S_i` (the
  plan's per-step profile for a channel it does not use):
  ``marginal_conversions`` :math:`\partial N_i / \partial S_i = \sum_t d_{t,i}\,\partial N_i/\partial X_{t,i}`
  (conversions per currency), ``mroas`` :math:`= v_i \partial N_i / \partial S_i` (revenue per
  currency), ``mcpa`` = 1 / ``marginal_conversions`` (currency per conversion; ``inf`` where they are not
  meaningfully positive, :func:`per_conversion`) and
  ``marginal_outcome`` (reward per currency: the first, the second, or ``mroas - 1`` for profit).
  With audience segments (:mod:`budgetgym.envs.segments`) :math:`N_i` is the channel's credited share
  of its segments' conversions, and a channel's spend moves the others' credits too: its marginal
  returns are then those of the **total**, :math:`\sum_t d_{t,i}\,\partial (\sum_j N_j)/\partial X_{t,i}`
  (what one more unit on the channel adds to the campaign, :meth:`SegmentExpectedModel.conversion_gradient
  <budgetgym.envs.segment_expected.SegmentExpectedModel.conversion_gradient>`).

A campaign whose response is measured in currency (``Scenario.response_unit: currency``: a revenue KPI's
calibrated family, whose curves are revenue itself at a value of 1 per unit) has no conversions: there
:math:`N_i` is revenue, so ``conversions``, ``baseline_conversions``, ``cpa``, ``marginal_conversions`` and
``mcpa`` would be revenue, spend per unit of revenue (a "CPA" of 0.4) and its marginal, under a count's name.
:func:`uncounted` leaves them undefined (``NaN``: :data:`COUNT_FIGURES`); ``revenue``, ``roas`` and ``mroas``
hold the same numbers under their own names.

With a spend history ``S [H, K]`` (the steps before the window) the table adds, per channel,
``history_max_spend`` :math:`\max_h S_{h,i}` (its largest step of the history; a history step below
:data:`ZERO_RTOL` of the history's largest is no spend, as a plan's, :func:`spent`: an earlier plan's
``plan.csv`` given as the history holds its solver's rounding of 0) and
``vs_history_max`` :math:`\max_t X_{t,i} / \max_h S_{h,i}` (the plan's largest step as a multiple
of it; ``inf`` for a channel the plan spends on and the history never did, ``NaN`` for one neither
spends on; a step below :data:`ZERO_RTOL` of the plan's largest is no spend, :func:`spent`):
:func:`beyond_history` lists the channels above 1 (by more than :data:`BEYOND_RTOL`), where the
plan relies on the response curve beyond any spend the history shows (a fitted curve's
extrapolation, or its prior's). ``history_spent_steps`` counts the history's steps with spend on the
channel (:math:`\#\{h : S_{h,i} > 0\}`, by that rule): :func:`sparse_history` lists the channels the plan spends on
that the history spent on in fewer than :data:`SPARSE_SHARE` of its steps (but at least one), whose
curve rests on those few steps (and a calibrated family's prior).

The marginal return of the **total budget** at an optimal plan is, by the envelope theorem, the
derivative of the optimum :math:`V^*(B)`. Every constraint of the plan (``B/T`` per step, the
step cap :math:`m B/T`, the budget, the share bounds :math:`\ell_i s_t \le X_{t,i} \le h_i s_t`)
is linear and homogeneous of degree one in :math:`(X, B)`, so at a KKT point
(Euler's identity on the active constraints)

.. math::  \frac{dV^*}{dB} = \frac{\nabla V(X^*) \cdot X^*}{B}

(:func:`budget_marginal`): exact from the gradient, no re-solve; a test checks it against
central differences of re-solved optima. When the plan leaves budget unspent (a profit reward past
its profit-maximising spend, agent pacing), extra budget is not spent: the conversion and revenue
parts are then 0 (the optimum does not move; ``mroas`` is not the spent-budget ``S/B`` the directional
formula would give), or, with steps at their step cap :math:`m B/T` (which do grow with ``B``), those
steps' part alone (the other steps' re-timing around them is left out: exact only without capped steps).

What counts as spend (:func:`spent`: above :data:`ZERO_RTOL` of the plan's largest step, the rest the solver's
rounding of 0) is defined in :mod:`~budgetgym.planner.spend_rules`; its names are imported from here too.
"""

from __future__ import annotations

from typing import Any, TypeVar

import numpy as np
import pandas as pd

from budgetgym.envs.expected import ExpectedModel, MeanExpectedModel
from budgetgym.envs.segment_expected import SegmentExpectedModel

# what counts as spend (the solver's rounding of 0): its own module, every name still imported from here
from budgetgym.planner.spend_rules import (
    RESIDUE_VALUE_RTOL,
    ZERO_RTOL,
    counted_spend,
    plan_peaks,
    spends_on,
    spent,
    without_free_residue,
    without_residue,
)

__all__ = [
    "BEYOND_RTOL", "COUNT_FIGURES", "CVAR_MARGINALS", "RESIDUE_VALUE_RTOL", "SLACK_RTOL", "SPARSE_SHARE", "ZERO_RTOL",
    "beyond_history",
    "budget_marginal", "channel_directions",
    "channel_table", "conversions_beside", "counted_spend", "history_columns", "marginal_cpa", "per_conversion",
    "plan_peaks", "segment_table",
    "sparse_history", "spends_on", "spent", "uncounted", "without_residue", "without_free_residue",
]

Model = ExpectedModel | MeanExpectedModel
Figures = TypeVar("Figures", pd.DataFrame, dict[str, Any])
#: The figures that count conversions, by column or key (a current plan's with ``current_`` before): undefined for a
#: campaign whose response is measured in currency (:func:`uncounted`).
COUNT_FIGURES = ("conversions", "baseline_conversions", "cpa", "marginal_conversions", "mcpa")
#: The marginal returns :func:`~budgetgym.planner.plan.plan` also reports, prefixed ``cvar_``, under a ``cvar:``
#: objective over a family's draws: each channel's marginal return of the CVaR (the tail draws' mean at the plan),
#: where the unprefixed ones are the mean's over every draw.
CVAR_MARGINALS = ("marginal_conversions", "mroas", "mcpa", "marginal_outcome")
#: How far above 1 ``vs_history_max`` must be for :func:`beyond_history`: a plan solved after its
#: own history's spend meets that spend's largest step up to the solver's rounding (1.0000000004
#: times it on ``stationary-3``), which is not beyond it.
BEYOND_RTOL = 1e-6
#: How far below the budget (or a step's cap) a plan's spend must be for :func:`budget_marginal` to
#: treat it as unspent: the solver meets a binding budget to about 1e-11 of it.
SLACK_RTOL = 1e-6
#: A history spending on a channel in fewer than this share of its steps is thin there
#: (:func:`sparse_history`); also a calibration's default ``ModelSpec.weak_share``, below which it fits a
#: channel as weakly spent and ``fit.md`` warns (:mod:`budgetgym.calibration.model`): one threshold.
SPARSE_SHARE = 0.3


def conversions_beside(kpi: str, reward: str) -> bool:
    """Whether a plan reports expected conversions and CPA beside its reward's figures: a conversions KPI planned
    as revenue or profit (``kpi: conversions``, ``calibrate --revenue-per-kpi``). The one rule the printed table
    (:func:`~budgetgym.planner.plan_text.channel_rows`) and the lift design's conversion columns
    (:data:`~budgetgym.planner.voi.CONVERSION_COLUMNS`) follow."""
    return kpi == "conversions" and reward != "conversions"


def channel_directions(plan: np.ndarray) -> np.ndarray:
    """``[T, K]``: each channel's flighting ``X[:, i] / S_i``; the plan's step profile for a channel it
    does not use (no step :func:`spent`: the solver's rounding of 0 is no flighting, else 8e-18 left on
    one step made that step the channel's whole flighting, its marginals and its response curve); even
    flighting for an empty plan. Columns sum to 1."""
    X = np.asarray(plan, dtype=float)
    T, K = X.shape
    step = X.sum(axis=1)
    profile = step / step.sum() if step.sum() > 0 else np.full(T, 1.0 / T)
    S = X.sum(axis=0)
    used = spends_on(X) & (S > 0)
    return np.where(used, X / np.where(used, S, 1.0), profile[:, None])


def history_columns(plan: np.ndarray, history: np.ndarray) -> dict[str, np.ndarray]:
    """``history_max_spend``, ``vs_history_max`` and ``history_spent_steps`` per channel (module docstring)."""
    S = np.asarray(history, dtype=float)
    # a history step below ZERO_RTOL of its largest is no spend, as in a plan (an earlier plan.csv as the history)
    top = plan_peaks(S) if len(S) else np.zeros(np.shape(plan)[1])
    peak = plan_peaks(plan)  # the solver's rounding of 0: 0
    with np.errstate(divide="ignore", invalid="ignore"):
        multiple = np.where(top > 0, peak / np.where(top > 0, top, 1.0), np.where(peak > 0, np.inf, np.nan))
    counts = spent(S).sum(axis=0) if len(S) else np.zeros(np.shape(plan)[1], dtype=int)
    return {"history_max_spend": top, "vs_history_max": multiple, "history_spent_steps": counts}


def sparse_history(names: list[str], plan: np.ndarray, cols: dict[str, np.ndarray],
                   steps: int) -> list[dict[str, Any]]:
    """The channels ``plan`` spends on (:func:`spent`) that a history of ``steps`` steps spent on in at
    least one but fewer than :data:`SPARSE_SHARE` of them (``cols``: :func:`history_columns`):
    ``channel``, ``history_spent_steps``, ``history_steps``. A channel the history never spent on is
    :func:`beyond_history`'s."""
    used = np.atleast_1d(spends_on(plan))
    counts = np.asarray(cols["history_spent_steps"])
    return [{"channel": name, "history_spent_steps": int(counts[i]), "history_steps": int(steps)}
            for i, name in enumerate(names) if used[i] and 0 < counts[i] < SPARSE_SHARE * steps]


def beyond_history(
    names: list[str], plan: np.ndarray, cols: dict[str, np.ndarray]
) -> list[dict[str, float | str | None]]:
    """The channels whose largest step of ``plan`` exceeds their largest step of the history by more
    than :data:`BEYOND_RTOL` of it (``cols``: :func:`history_columns` of the plan): ``channel``,
    ``plan_max_step``, ``history_max_step`` and ``multiple`` (``None``: never spent in the history)."""
    peak = plan_peaks(plan)
    out: list[dict[str, float | str | None]] = []
    for i, name in enumerate(names):
        m = float(cols["vs_history_max"][i])
        if m > 1.0 + BEYOND_RTOL:
            out.append({"channel": name, "plan_max_step": float(peak[i]),
                        "history_max_step": float(cols["history_max_spend"][i]),
                        "multiple": None if np.isinf(m) else m})
    return out


def per_conversion(amount: np.ndarray | float, conversions: np.ndarray | float) -> np.ndarray:
    r"""``amount / conversions`` (currency per conversion: a CPA, a marginal CPA) where the conversions are
    meaningfully positive, ``NaN`` elsewhere, without a floating-point warning.

    Meaningfully positive: at least the smallest normal float, :math:`2.2 \cdot 10^{-308}`
    (``np.finfo(float).tiny``; below it a float has lost its precision: a demand shock of ``5e-324`` left
    a plan 2.5e-322 conversions a step), with a finite quotient (``200 / 2.5e-322`` overflowed to ``inf``
    with a RuntimeWarning)."""
    amount, conversions = np.asarray(amount, dtype=float), np.asarray(conversions, dtype=float)
    ok = conversions >= np.finfo(float).tiny
    with np.errstate(over="ignore"):
        out = np.divide(amount, conversions, out=np.full(np.broadcast(amount, conversions).shape, np.nan), where=ok)
    return np.where(np.isfinite(out), out, np.nan)


def marginal_cpa(m_conv: np.ndarray | float) -> np.ndarray:
    """``mcpa`` = 1 / ``m_conv`` (currency per marginal conversion; :func:`per_conversion`), ``inf`` where
    the marginal conversions are not meaningfully positive (none: one more unit of spend buys nothing)."""
    return np.nan_to_num(per_conversion(1.0, m_conv), nan=np.inf)


def channel_table(model: Model, plan: np.ndarray, names: list[str], reward: str) -> pd.DataFrame:
    """One row per channel with the columns of the module docstring."""
    X = np.asarray(plan, dtype=float)
    spend = X.sum(axis=0)
    total = spend.sum()
    conv = model.channel_conversions(X)
    revenue = model.channel_revenue(X)
    zero = np.zeros_like(X)
    base_conv = model.channel_conversions(zero)
    base_rev = model.channel_revenue(zero)
    d = channel_directions(X)
    m_conv = (model.conversion_gradient(X) * d).sum(axis=0)
    m_rev = (model.revenue_gradient(X) * d).sum(axis=0)
    outcome = {"conversions": conv, "revenue": revenue, "profit": revenue - spend}[reward]
    marginal = {"conversions": m_conv, "revenue": m_rev, "profit": m_rev - 1.0}[reward]
    inc_conv, inc_rev = conv - base_conv, revenue - base_rev
    used = spends_on(X)  # every channel with counted spend has a ROAS and CPA; the solver's rounding of 0 none
    with np.errstate(divide="ignore", invalid="ignore"):
        roas = np.where(used, inc_rev / np.where(used, spend, 1.0), np.nan)
    cpa = np.where(used, per_conversion(spend, inc_conv), np.nan)
    mcpa = marginal_cpa(m_conv)
    return pd.DataFrame(
        {
            "channel": names,
            "spend": spend,
            "share": spend / total if total > 0 else np.zeros_like(spend),
            "conversions": conv,
            "baseline_conversions": base_conv,
            "revenue": revenue,
            "outcome": outcome,
            "roas": roas,
            "cpa": cpa,
            "marginal_conversions": m_conv,
            "mroas": m_rev,
            "mcpa": mcpa,
            "marginal_outcome": marginal,
        }
    )


def uncounted(figures: Figures) -> Figures:
    """``figures`` (a table's columns, or a mapping's keys) with every figure of :data:`COUNT_FIGURES`, also
    ``current_``- or ``cvar_``-prefixed, ``NaN``: for a campaign whose response is measured in currency, which counts no
    conversions (module docstring). A copy; the other figures as they were."""
    out = figures.copy()
    for name in list(out.keys()):
        if str(name).removeprefix("current_").removeprefix("cvar_") in COUNT_FIGURES:
            out[name] = np.nan
    return out


def budget_marginal(
    model: Model, plan: np.ndarray, budget: float, step_cap: float | None = None
) -> dict[str, float]:
    r"""Marginal returns of the total budget at an optimal ``plan``: ``marginal_outcome``
    :math:`dV^*/dB = \nabla V \cdot X^* / B` (reward per currency; exact at an optimum, module
    docstring), ``marginal_conversions`` and ``mroas`` (the conversion and revenue parts of the
    same directional derivative: :math:`dV^*/dB` itself for a conversions or revenue reward,
    :math:`1 + dV^*/dB` for profit when the whole budget is spent) and ``mcpa``.

    Parameters
    ----------
    model : the model whose gradient is taken (the objective's).
    plan : ``[T, K]`` the optimal plan at ``budget``.
    budget : the total budget ``B``.
    step_cap : the most a step may spend (``Scenario.step_cap``, agent pacing); ``None`` without
        one. Used only when ``plan`` leaves budget unspent (never under even pacing, whose steps
        each spend ``B / T``): the conversion and revenue parts then sum over the steps at the cap
        (module docstring), ``0`` when none is.
    """
    X = np.asarray(plan, dtype=float)
    _, g, _ = model.derivatives(X, hessian=False)
    moving = np.ones(X.shape[0], dtype=bool)
    if X.sum() < budget * (1.0 - SLACK_RTOL):  # the budget does not bind: only capped steps grow with it
        steps = X.sum(axis=1)
        moving = np.zeros_like(moving) if step_cap is None else steps >= step_cap * (1.0 - SLACK_RTOL)
    Xm = X * moving[:, None]
    m_conv = float((model.conversion_gradient(X) * Xm).sum() / budget)
    m_rev = float((model.revenue_gradient(X) * Xm).sum() / budget)
    return {
        "marginal_outcome": float((g * X).sum() / budget),
        "marginal_conversions": m_conv,
        "mroas": m_rev,
        "mcpa": float(marginal_cpa(m_conv)),
    }


def segment_table(model: Model, plan: np.ndarray, names: list[str], channels: list[str]) -> pd.DataFrame | None:
    r"""With audience segments (:mod:`budgetgym.envs.segments`), one row per segment at ``plan``
    (``None`` without segments, or for a family whose draws do not all have ``names``' segments, by
    name and order: there is no one segment to average over the draws then, or the draws planned on all
    chose other segments than the nominal campaign's, which ``names`` labels): ``size``
    :math:`\sigma_s`; ``exposure`` :math:`\sum_t A_{t,s}`, the segment's effective exposure over the
    window (impressions or clicks reaching it, times the effectiveness and response multipliers) and
    ``exposure_per_size`` :math:`\sum_t A_{t,s}/\sigma_s`
    (the frequency index: the same per person in every segment when it is equal); ``saturation``,
    the mean over steps of :math:`r_s / (\sigma_s \beta_s)` (share of the segment's most conversions
    reached); ``conversions`` and ``revenue`` arriving in the window (:math:`v_s` times them); and
    ``from_<channel>``, each channel's credited share of the segment's conversions (0 for every channel
    when the segment has none). For a family,
    the mean over its draws :math:`\sum_n p_n (\cdot)_n` (``size`` :math:`\sum_n p_n \sigma_{s,n}` and
    ``exposure_per_size`` :math:`\sum_n p_n \sum_t A_{t,s,n} / \sigma_{s,n}` included: draws may size the
    segments differently), and ``from_<channel>`` the channel's share of the mean conversions."""
    members, weights = (model.members, model.weights) if isinstance(model, MeanExpectedModel) else ([model], [1.0])
    segmented = [m for m in members if isinstance(m, SegmentExpectedModel)]
    if len(segmented) != len(members) or {m.seg.names for m in segmented} != {tuple(names)}:
        return None
    X = np.asarray(plan, dtype=float)

    def mean(fn: str) -> np.ndarray:
        return sum(w * getattr(m, fn)(X) for w, m in zip(weights, segmented, strict=True))

    def per_size() -> np.ndarray:
        return sum(w * m.segment_exposure(X) / m.seg.size for w, m in zip(weights, segmented, strict=True))

    exposure, conv, credits = mean("segment_exposure"), mean("segment_conversions"), mean("segment_credits")
    revenue = mean("segment_revenue")
    share = credits / np.where(conv > 0, conv, 1.0)  # [K, S]
    frame = pd.DataFrame({
        "segment": names,
        "size": sum(w * m.seg.size for w, m in zip(weights, segmented, strict=True)),
        "exposure": exposure,
        "exposure_per_size": per_size(),
        "saturation": mean("segment_saturation"),
        "conversions": conv,
        "revenue": revenue,
    })
    for i, ch in enumerate(channels):
        frame[f"from_{ch}"] = share[i]
    return frame
