r"""Carry-in: spend made before the planning window, and what it leaves in the window.

A campaign rarely starts from rest: last month's spend is still in the adstock, and its
delayed conversions are still arriving. A *spend history* ``S[h, i]`` (currency, ``H`` steps,
oldest first, the last row the step just before step 0) is played through the same dynamics
(:func:`~budgetgym.envs.dynamics.transition`, noise off) at steps ``t = -H, ..., -1`` on the
calendar alone: the cost and response multipliers of the scenario's seasonality at the days
``d_t = start_day + t * step_days`` (:func:`~budgetgym.envs.path.seasonal_multipliers`), no
drift, no shocks, every channel delivering. Its exposures ``e_{-h}`` and responses ``r_{-h}``
then reach into the window through the adstock kernel ``w`` and the delay kernel ``q``:

.. math::

    a_{t,i} = \sum_{l=0}^{t} w_{i,l}\, e_{t-l,i} + A_{t,i}, \qquad
        A_{t,i} = \sum_{h=1}^{H} w_{i,t+h}\, e_{-h,i}

    \mu_{t,i} = \sum_{d=0}^{t} q_{i,d}\, r_{t-d,i} + M_{t,i}, \qquad
        M_{t,i} = \sum_{h=1}^{H} q_{i,t+h}\, r_{-h,i}

(``e`` in impressions or clicks per step, ``r`` and ``M`` in conversions per step). The
adstock kernel is taken ``H + T`` lags long here (the window's own kernel stops at ``T`` lags,
all it needs without history), so old spend counts for as long as its carry-over lasts.
Only the last ``L + D - 1`` steps of a longer history are played (``L`` the longest adstock
kernel, ``D`` the longest delay kernel): ``A`` reads the exposures of the last ``L - 1`` steps,
``M`` the responses of the last ``D - 1``, each of which sums at most ``L`` exposures, so an older
step reaches nothing in the window. A whole data set's spend may be passed as the history at no
cost.
:class:`CarryIn` holds ``A`` and ``M`` (``[T, K]``): the environment
(``reset(options={"history": S})``), :func:`~budgetgym.envs.plan_value.evaluate_plan` and the
oracle's matrix model (:class:`~budgetgym.envs.expected.ExpectedModel`) all add these same
arrays, and a test plays all three against each other.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from budgetgym.envs.dynamics import ChannelModel, DynamicsState, _ring_weights, transition
from budgetgym.envs.errors import BudgetGymError, unknown
from budgetgym.envs.kernels import adstock_kernel, stack_kernels
from budgetgym.envs.path import seasonal_multipliers, step_days
from budgetgym.envs.scenario import Scenario
from budgetgym.envs.scenario_parts import MAX_AMOUNT

__all__ = ["RESET_OPTIONS", "CarryIn", "HistoryLike", "carry_in", "check_history", "history_option"]

#: A spend history: an array ``[H, K]`` (channels in the scenario's order) or a mapping from
#: channel name to its ``H`` past spends (every channel present).
HistoryLike = np.ndarray | Sequence[Sequence[float]] | Mapping[str, Sequence[float]]


#: The keys ``reset(options=...)`` takes, in the single and the vector environment.
RESET_OPTIONS = ("history",)


def history_option(options: object, scenario: Scenario | None = None) -> Any:
    """The ``history`` of a reset's ``options`` (``None`` without one), or a one-line
    :class:`BudgetGymError` for options that are not a mapping or hold another key: a misspelt
    ``histroy`` would otherwise play the episode from rest, silently. With ``scenario`` (any draw of
    the campaign: the check needs only its channels) the history is also checked
    (:func:`check_history`) and returned as its array, so that a reset refuses a bad one before its
    generator moves or a new campaign is drawn."""
    if options is None:
        return None
    if not isinstance(options, Mapping):
        raise BudgetGymError(f"reset options: expected a mapping such as {{'history': spend}}, "
                             f"got {type(options).__name__}")
    for key in options:
        if key not in RESET_OPTIONS:
            raise BudgetGymError(f"reset options: {unknown('key', str(key), RESET_OPTIONS)}")
    history = options.get("history")
    if scenario is None or history is None or isinstance(history, CarryIn):
        return history
    return check_history(scenario, history)


def check_history(scenario: Scenario, history: Any, source: str = "history") -> np.ndarray:
    """The history as a float array ``[H, K]``, or a one-line :class:`BudgetGymError` naming
    ``source`` and what was expected (channels, shape, finite non-negative spend)."""
    names = scenario.channel_names
    if isinstance(history, Mapping):
        missing = [n for n in names if n not in history]
        extra = [str(n) for n in history if n not in names]
        if missing or extra:
            raise BudgetGymError(
                f"{source}: expected one column per channel ({', '.join(names)})"
                + (f"; missing {', '.join(missing)}" if missing else "")
                + (f"; unknown {', '.join(extra)}" if extra else "")
            )
        lengths = {len(history[n]) for n in names}
        if len(lengths) != 1:
            raise BudgetGymError(f"{source}: every channel needs the same number of steps, got {sorted(lengths)}")
        history = np.column_stack([np.asarray(history[n], dtype=float) for n in names])
    try:
        S = np.asarray(history, dtype=float)
    except (TypeError, ValueError) as exc:
        raise BudgetGymError(f"{source}: expected numbers ({exc})") from None
    if S.ndim == 1 and S.size == 0:
        S = S.reshape(0, len(names))
    if S.ndim != 2 or S.shape[1] != len(names):
        raise BudgetGymError(
            f"{source}: expected shape (steps, {len(names)}) with channels {', '.join(names)}, got {S.shape}"
        )
    if not np.all(np.isfinite(S)):
        raise BudgetGymError(f"{source}: spend must be finite")
    if np.any(S < 0):
        h, i = np.argwhere(S < 0)[0]
        raise BudgetGymError(
            f"{source}: spend must be non-negative, got {S[h, i]:g} for {names[i]} at step {h - len(S)}"
        )
    if np.any(S > MAX_AMOUNT):  # a step's spend at most a scenario's largest budget (exposure overflowed past ~1e300)
        h, i = np.argwhere(S > MAX_AMOUNT)[0]
        raise BudgetGymError(
            f"{source}: spend must be at most {MAX_AMOUNT:g} a step (a scenario's largest budget), got "
            f"{S[h, i]:g} for {names[i]} at step {h - len(S)}"
        )
    return S


@dataclass(frozen=True)
class CarryIn:
    """What a spend history leaves in the window (see the module docstring)."""

    spend: np.ndarray  # [H, K] the history, oldest first (currency per step)
    adstock: np.ndarray  # [T, K] A: carried adstock at each window step (exposure units)
    arrivals: np.ndarray  # [T, K] M: expected conversions arriving from pre-window responses;
    # with segments [T, K, S]: per (channel, segment) pair (credited, valued at the segment's value)

    def at(self, t: int) -> tuple[np.ndarray, np.ndarray]:
        """``(A_t, M_t)`` for :func:`~budgetgym.envs.dynamics.transition`'s ``carried``."""
        return self.adstock[t], self.arrivals[t]


def _reach(kernel: np.ndarray, past: np.ndarray, T: int) -> np.ndarray:
    """``out[t, i] = sum_{h=1}^{H} kernel[i, t+h] * past[H-h, i]`` (``past`` oldest first)."""
    K, L = kernel.shape
    H = len(past)
    out = np.zeros((T, K))
    for h in range(1, min(H, L - 1) + 1):
        t = np.arange(min(T, L - h))
        out[t] += (kernel[:, t + h] * past[H - h][:, None]).T
    return out


def _reach_steps(long: np.ndarray, delay: np.ndarray) -> int:
    """``L + D - 1``: the last steps of a history that still reach the window (module docstring),
    with ``L`` the lags of the long adstock kernels ``long`` and ``D`` of the delay kernels."""
    return int(long.shape[1] + delay.shape[1] - 1)


def carry_in(scenario: Scenario, history: Any, model: ChannelModel | None = None) -> CarryIn | None:
    """Play ``history`` (:data:`HistoryLike`, checked by :func:`check_history`) at steps
    ``-H..-1`` and return what it carries into the window; ``None`` for no history (``None`` or
    zero steps). A :class:`CarryIn` is returned as it is."""
    if history is None or isinstance(history, CarryIn):
        return history
    S = check_history(scenario, history)
    H, T = len(S), scenario.horizon
    if H == 0:
        return None
    m = model if model is not None else ChannelModel.from_scenario(scenario)
    long = stack_kernels([adstock_kernel(c.adstock, H + T) for c in scenario.channels])
    seg = m.segments
    delay = m.delay if seg is None else np.asarray(seg.pair_delay)  # [K, D] or [K * S, D]
    played = S[-_reach_steps(long, delay):]  # older steps reach nothing in the window (module docstring)
    H = len(played)
    m_long = dataclasses.replace(m, adstock=long, adstock_ring=_ring_weights(long))
    days = step_days(scenario, np.arange(-H, 0))
    cost, response = seasonal_multipliers(scenario, days)
    state = DynamicsState.zeros(m_long, 1)
    pairs = m.n_channels * (1 if seg is None else seg.n_segments)
    exposure, resp = np.zeros((H, m.n_channels)), np.zeros((H, pairs))
    for h in range(H):
        out = transition(m_long, state, h, played[h][None], cost[h], response[h])
        exposure[h] = out.exposure[0]
        resp[h] = out.response[0] if out.segment is None else out.segment.generated[0].ravel()
    arrivals = _reach(delay, resp, T)
    if seg is not None:
        arrivals = arrivals.reshape(T, m.n_channels, seg.n_segments)
    return CarryIn(spend=S, adstock=_reach(long, exposure, T), arrivals=arrivals)
