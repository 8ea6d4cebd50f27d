r"""A fitted PyMC-Marketing MMM's posterior draws as a budgetgym scenario family: the conversion.

Every kept posterior draw becomes a member of an explicit ensemble (the ``ensemble:`` format of
``configs/README.md``, "Scenario families"), and the posterior medians of the parameters make the
nominal scenario. :func:`family_from_posterior` is numpy only, so it runs (and is tested) without
PyMC; :func:`budgetgym.calibration.pymc_mmm.family_from_mmm` reads a fitted model and calls it.

What PyMC-Marketing 1.x fits (``MMM`` with the identity link and ``adstock_first=True``, its
defaults): for channel ``i`` with spend ``x[t, i]`` and KPI ``y[t]``,

.. math:: y_t / s_y = \text{intercept} + \sum_i \beta_i\,\mathrm{sat}_i\big(\mathrm{adstock}_i(x_{\cdot,i} / s_i)_t\big)
          + \text{controls} + \text{seasonality} + \varepsilon_t

with ``s_i`` the channel scale and ``s_y`` the target scale (``DataDerivedScaling(method="max")`` by
default: the channel's largest spend and the KPI's largest value in the fit data), stored in
``idata.constant_data`` as ``channel_scale`` and ``target_scale`` (``mmm.get_scales_as_xarray()``).
``GeometricAdstock(l_max, normalize=True)`` weights are ``alpha**l`` for ``l < l_max``, divided by
their sum (``ConvMode.After``: spend before the first period is zero);
``LogisticSaturation`` is :math:`(1 - e^{-\lambda x})/(1 + e^{-\lambda x})`, ``HillSaturation``
is :math:`x^s / (x^s + \kappa^s)`. The posterior variables (default prefixes ``adstock`` and
``saturation``) carry a ``channel`` dimension after ``chain`` and ``draw``.

The mapping (``configs/README.md``, "Mapping to Robyn, PyMC-Marketing and Meridian"). Adstock is
linear, so :math:`\mathrm{adstock}(x/s_i) = \mathrm{adstock}(x)/s_i` and the scale moves into the
saturation parameter:

================================================  ========================================================
PyMC-Marketing (per draw and channel)             budgetgym channel
================================================  ========================================================
``adstock_alpha`` (``adstock_halflife`` h:        ``adstock: {type: geometric, decay: alpha, window: l_max,
alpha = 0.5**(1/h)``)                             normalize}`` (``NoAdstock``: ``{type: none}``)
``saturation_lam``                                ``saturation: {type: logistic, rate: lam / s_i}``
``saturation_kappa``, ``saturation_slope``        ``saturation: {type: hill, half_saturation: kappa * s_i,
                                                  slope}``
``saturation_beta``                               ``max_response: beta * s_y`` (KPI per period)
================================================  ========================================================

budgetgym's logistic curve is :math:`\beta \tanh(\lambda a / 2)`, which equals PyMC-Marketing's
:math:`\beta (1 - e^{-\lambda a})/(1 + e^{-\lambda a})`; its Hill curve is PyMC-Marketing's
:math:`\beta (1 - \kappa^s / (\kappa^s + a^s))`.

The rest of each channel: the model's media are spend, so a channel is bought per ``click`` at
price 1 with no auction pressure (``elasticity: 0``, ``ref_spend`` at budgetgym's largest value),
exposure = spend; value 1 per KPI unit; no delay. The reward is ``revenue`` (a KPI in currency,
``response_unit: currency``: no conversions to count, :func:`~budgetgym.calibration.export.reward_fields`;
noise ``none``: PyMC-Marketing's Gaussian noise is on the total KPI, budgetgym's on conversion
counts, so the family is played noise-free) or ``conversions`` (a count KPI; Poisson noise). Media
effects are stationary in this MMM (no time-varying media), so the family has no seasonality,
drift or shocks; the baseline (intercept, trend, seasonality, controls) is not driven by spend and
is left out, as budgetgym never rewards it. A draw whose ``beta * s_y`` falls below budgetgym's
smallest ``max_response`` (1e-9 KPI per period) gets that minimum: a channel without effect. Above
the largest (1e12), the rule of ``budgetgym calibrate`` (:mod:`~budgetgym.calibration.response_bound`):
a posterior median there is a one-line error saying to rescale the KPI; a draw is capped at 1e12 with
a :class:`UserWarning` per channel counting the kept draws, also written into the family's description.

Not supported (a one-line :class:`~budgetgym.envs.errors.BudgetGymError`): other adstock or
saturation forms, ``adstock_first=False``, the ``log`` link, time-varying media, extra model
dimensions (geos: convert one geo's posterior with :func:`family_from_posterior`), ``cost_per_unit``
(media not in spend), negative ``beta`` (a channel that lowers the KPI), and a draw whose converted
value lies outside budgetgym's accepted range (``configs/README.md``, "Plausible magnitudes"), e.g. a
Hill slope below 0.3, which PyMC-Marketing's default ``HalfNormal(1.5)`` slope prior allows: the
error names the variable, the draw and the channel (bound the prior, or drop those draws).
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import yaml
from pydantic import BaseModel

from budgetgym.calibration.export import reward_fields
from budgetgym.calibration.response_bound import MIN_MAX_RESPONSE, cap, capped_warnings, refuse_nominal
from budgetgym.envs.errors import BudgetGymError, is_integer
from budgetgym.envs.io import YAML_DUMPER, atomic_write_text
from budgetgym.envs.scenario_parts import HillSaturation, LogisticSaturation
from budgetgym.experiments.wording import count

__all__ = [
    "ADSTOCK_VARIABLES",
    "MIN_MAX_RESPONSE",
    "REF_SPEND",
    "SATURATION_VARIABLES",
    "family_from_posterior",
    "write_family_yaml",
]

#: PyMC-Marketing 1.x's posterior variables of each saturation form (default prefix ``saturation``).
SATURATION_VARIABLES: dict[str, tuple[str, ...]] = {
    "logistic": ("saturation_lam", "saturation_beta"),
    "hill": ("saturation_kappa", "saturation_slope", "saturation_beta"),
}
#: The geometric adstock's variable, under either parametrisation (default prefix ``adstock``).
ADSTOCK_VARIABLES: tuple[str, str] = ("adstock_alpha", "adstock_halflife")
#: budgetgym's largest ``ref_spend``: with ``elasticity: 0`` it plays no part.
REF_SPEND = 1e15
_ADSTOCKS = ("geometric", "none")
_REWARDS = ("revenue", "conversions")


def _posterior_array(posterior: Mapping[str, Any], var: str, names: Sequence[str]) -> np.ndarray:
    """``posterior[var]`` as a float array ``[draws, K]`` (a shared ``[draws]`` is broadcast)."""
    K = len(names)
    if var not in posterior:
        raise BudgetGymError(f"posterior: missing variable '{var}'; it has {', '.join(sorted(posterior)) or 'none'}")
    try:
        arr = np.asarray(posterior[var], dtype=float)
    except (TypeError, ValueError):
        raise BudgetGymError(f"posterior['{var}']: expected numbers, got {type(posterior[var]).__name__}") from None
    if arr.ndim == 1:
        arr = np.repeat(arr[:, None], K, axis=1)
    if arr.ndim != 2 or arr.shape[1] != K:
        raise BudgetGymError(
            f"posterior['{var}']: expected an array [draws, {count(K, 'channel')} ({', '.join(names)})], "
            f"got shape {arr.shape}"
        )
    if not np.all(np.isfinite(arr)):
        raise BudgetGymError(f"posterior['{var}']: expected finite numbers, got {arr[~np.isfinite(arr)][0]}")
    return arr


def _require(arr: np.ndarray, var: str, names: Sequence[str], ok: np.ndarray, expected: str) -> None:
    """A one-line error naming the first draw and channel of ``arr`` where ``ok`` fails."""
    if not np.all(ok):
        j, i = (int(v) for v in np.argwhere(~ok)[0])
        raise BudgetGymError(
            f"posterior['{var}']: expected {expected}, got {arr[j, i]:g} (draw {j}, channel '{names[i]}')"
        )


#: budgetgym saturation field -> (the PyMC-Marketing variable it comes from, the formula).
_SOURCES = {
    "saturation.rate": ("saturation_lam", "lam / channel_scale"),
    "saturation.half_saturation": ("saturation_kappa", "kappa * channel_scale"),
    "saturation.slope": ("saturation_slope", "a Hill slope"),
    "saturation.max_response": ("saturation_beta", "beta * target_scale"),
}


def _accepted(model: type[BaseModel], field: str) -> tuple[float, float]:
    """The ``[ge, le]`` bounds of a scenario model's field (budgetgym's accepted range)."""
    low, high = -np.inf, np.inf
    for bound in model.model_fields[field].metadata:
        low = float(getattr(bound, "ge", low))
        high = float(getattr(bound, "le", high))
    return low, high


def _channel_key(index: int, name: str) -> str:
    """The channel's part of a dotted path: its name, or its index when the name holds a dot (or is
    a number) and so cannot be one part of a path."""
    return str(index) if "." in name or name.isdigit() else name


def family_from_posterior(
    posterior: Mapping[str, Any],
    *,
    channels: Sequence[str],
    channel_scale: Sequence[float] | np.ndarray,
    target_scale: float,
    plan_periods: int,
    plan_budget: float,
    adstock: str = "geometric",
    l_max: int | None = None,
    normalize: bool = True,
    saturation: str = "logistic",
    step_days: float = 7.0,
    start_day: float = 0.0,
    reward: str = "revenue",
    name: str = "pymc-mmm",
    max_draws: int = 200,
    seed: int = 0,
    test_fraction: float = 0.2,
) -> dict[str, Any]:
    """The budgetgym family mapping of a PyMC-Marketing MMM posterior (module docstring).

    Parameters
    ----------
    posterior : variable name -> array ``[draws, K]`` (chains and draws flattened; channels in the
        order of ``channels``), under PyMC-Marketing 1.x's names: ``adstock_alpha`` (or
        ``adstock_halflife``; not for ``adstock="none"``) and :data:`SATURATION_VARIABLES`.
        A ``[draws]`` array is one value shared by every channel. Other variables are ignored.
    channels : the channel names (budgetgym names: letters, digits, ``_.-``).
    channel_scale : per channel, the scale its spend was divided by in the fit (``s_i``, currency).
    target_scale : the scale the KPI was divided by (``s_y``).
    plan_periods, plan_budget : the planning window: its number of periods (the family's horizon)
        and its total budget (currency, spent evenly).
    adstock : ``"geometric"`` or ``"none"``.
    l_max, normalize : the geometric adstock's window (periods; required) and normalisation in
        the fit.
    saturation : ``"logistic"`` or ``"hill"``.
    step_days, start_day : the family's calendar (days per period; day index of its first period).
    reward : ``"revenue"`` (a KPI in currency) or ``"conversions"`` (a count KPI).
    name : the family's name. seed, test_fraction : the family's seed and held-out share.
    max_draws : keep at most this many draws, evenly spaced over the flattened draws (so from
        every chain).

    Returns
    -------
    A family mapping (``family``, ``seed``, ``scenario``: the nominal scenario of posterior medians,
    ``ensemble``: one mapping of dotted changes per kept draw, ``test_fraction``) for
    :func:`~budgetgym.envs.family.family_from_dict` or a YAML file.

    Raises
    ------
    BudgetGymError
        One line naming the variable or argument and what was expected.
    """
    if saturation not in SATURATION_VARIABLES:
        raise BudgetGymError(f"saturation: expected one of {', '.join(SATURATION_VARIABLES)}, got {saturation!r}")
    if adstock not in _ADSTOCKS:
        raise BudgetGymError(f"adstock: expected one of {', '.join(_ADSTOCKS)}, got {adstock!r}")
    if reward not in _REWARDS:
        raise BudgetGymError(f"reward: expected one of {', '.join(_REWARDS)}, got {reward!r}")
    if isinstance(channels, str) or not channels or not all(isinstance(c, str) for c in channels):
        raise BudgetGymError(f"channels: expected a non-empty list of channel names, got {channels!r}")
    names = list(channels)
    if len(set(names)) != len(names):
        raise BudgetGymError(f"channels: expected unique names, got {', '.join(names)}")
    K = len(names)
    scale = np.asarray(channel_scale, dtype=float)
    if scale.shape != (K,) or not np.all(np.isfinite(scale) & (scale > 0)):
        raise BudgetGymError(
            f"channel_scale: expected {count(K, 'positive number')} (one per channel: a channel never spent in the "
            f"fit has scale 0 and no curve), got {np.asarray(channel_scale).tolist()}"
        )
    if not (np.isfinite(target_scale) and target_scale > 0):
        raise BudgetGymError(f"target_scale: expected a positive number, got {target_scale}")
    integers: list[tuple[str, object, int]] = [("plan_periods", plan_periods, 1), ("max_draws", max_draws, 2)]
    if adstock == "geometric":
        integers.append(("l_max", l_max, 1))
    for label, value, low in integers:
        if not is_integer(value) or value < low:
            raise BudgetGymError(f"{label}: expected an integer >= {low}, got {value!r}")
    if not (np.isfinite(plan_budget) and plan_budget > 0):
        raise BudgetGymError(f"plan_budget: expected a positive number, got {plan_budget}")
    if not isinstance(posterior, Mapping):
        raise BudgetGymError(f"posterior: expected a mapping of variable name -> array, got {type(posterior).__name__}")

    params: dict[str, np.ndarray] = {}  # budgetgym field (within the channel) -> [draws, K]
    if adstock == "geometric":
        if ADSTOCK_VARIABLES[0] in posterior or ADSTOCK_VARIABLES[1] not in posterior:
            alpha = _posterior_array(posterior, ADSTOCK_VARIABLES[0], names)
        else:
            halflife = _posterior_array(posterior, ADSTOCK_VARIABLES[1], names)
            _require(halflife, ADSTOCK_VARIABLES[1], names, halflife > 0, "positive half-lives (periods)")
            alpha = 0.5 ** (1.0 / halflife)
            _require(alpha, ADSTOCK_VARIABLES[1], names, alpha < 1, "half-lives giving a decay below 1")
        _require(alpha, ADSTOCK_VARIABLES[0], names, (alpha >= 0) & (alpha < 1), "retention rates in [0, 1)")
        params["adstock.decay"] = alpha
    raw = {var: _posterior_array(posterior, var, names) for var in SATURATION_VARIABLES[saturation]}
    for var, arr in raw.items():
        why = "a negative beta (a channel that lowers the KPI) cannot be planned" if var.endswith("beta") else ""
        _require(arr, var, names, arr > 0, "positive values" + (f"; {why}" if why else ""))
    if saturation == "logistic":
        params["saturation.rate"] = raw["saturation_lam"] / scale
    else:
        params["saturation.half_saturation"] = raw["saturation_kappa"] * scale
        params["saturation.slope"] = raw["saturation_slope"]
    beta = raw["saturation_beta"] * float(target_scale)  # KPI per period
    refuse_nominal(np.median(beta, axis=0), names, where="posterior['saturation_beta']", kpi="the model's target",
                   what="median max_response (beta * target_scale)")
    params["saturation.max_response"] = cap(beta)  # a draw beyond the bound: warned below
    curve = HillSaturation if saturation == "hill" else LogisticSaturation
    for field, (var, formula) in _SOURCES.items():
        if field in params:
            lo, hi = _accepted(curve, field.split(".")[1])
            arr = params[field]
            expected = f"{formula} within budgetgym's {field} range [{lo:g}, {hi:g}]"
            _require(arr, var, names, (arr >= lo) & (arr <= hi), expected)
    sizes = {len(v) for v in params.values()}
    if len(sizes) != 1:
        raise BudgetGymError(f"posterior: the variables have different numbers of draws ({sorted(sizes)})")
    n = sizes.pop()
    if n < 2:
        raise BudgetGymError(f"posterior: expected at least 2 draws (an ensemble), got {n}")

    nominal = {field: np.median(arr, axis=0) for field, arr in params.items()}
    channel_blocks = []
    for i, ch in enumerate(names):
        block: dict[str, Any] = {
            "name": ch,
            "cost": {"unit": "click", "price": 1.0, "ref_spend": REF_SPEND, "elasticity": 0.0},
            "adstock": {"type": "none"},
            "saturation": {"type": saturation},
            "value": {"mean": 1.0},
        }
        if adstock == "geometric" and l_max is not None:
            block["adstock"] = {"type": "geometric", "decay": None, "window": int(l_max), "normalize": bool(normalize)}
        for field, values in nominal.items():
            part, key = field.split(".")
            block[part][key] = float(values[i])
        channel_blocks.append(block)
    keep = np.unique(np.round(np.linspace(0, n - 1, min(n, int(max_draws)))).astype(int))
    capped = capped_warnings(beta[keep], names, draws="posterior draws in the family", file="family.yaml")
    for note in capped:
        warnings.warn(note, UserWarning, stacklevel=2)
    keys = [_channel_key(i, ch) for i, ch in enumerate(names)]
    ensemble = [
        {f"channels.{keys[i]}.{field}": float(arr[j, i]) for i in range(K) for field, arr in params.items()}
        for j in keep
    ]
    carry = f"geometric adstock (l_max {l_max})" if adstock == "geometric" else "no adstock"
    form = f"{saturation} saturation, {carry}"
    return {
        "family": name,
        "description": f"PyMC-Marketing MMM posterior, {len(keep)} of {count(n, 'draw')}: {form}."
        + "".join(f" {note}." for note in capped),
        "seed": int(seed),
        "scenario": {
            "name": name,
            "horizon": int(plan_periods),
            "step_days": float(step_days),
            "start_day": float(start_day),
            "budget": {"total": float(plan_budget), "pacing": "even"},
            **reward_fields(reward),
            "noise": {"conversions": "none" if reward == "revenue" else "poisson"},
            "channels": channel_blocks,
        },
        "ensemble": ensemble,
        "test_fraction": float(test_fraction),
    }


def write_family_yaml(mapping: Mapping[str, Any], path: str | Path) -> Path:
    """Write a family mapping to ``path`` as YAML, atomically (keys in the mapping's order)."""
    text = yaml.dump(dict(mapping), Dumper=YAML_DUMPER, sort_keys=False, allow_unicode=True)
    return atomic_write_text(path, text)
