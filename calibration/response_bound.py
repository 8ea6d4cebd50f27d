"""The bound on a fitted channel's ``max_response``: one rule for every fit converted to a scenario family.

A scenario's ``max_response`` (``beta``, KPI units per step at saturation) lies in
``[MIN_MAX_RESPONSE, MAX_RESPONSE]`` = ``[1e-9, 1e12]`` (:mod:`budgetgym.envs.scenario_parts`). A fit
converted to a family (``budgetgym calibrate``'s :mod:`~budgetgym.calibration.export`, a PyMC-Marketing
posterior's :mod:`~budgetgym.calibration.posterior_family`) follows one rule:

* the point estimate (the family's nominal scenario) above :data:`MAX_RESPONSE` is refused in one line
  saying to rescale the KPI (:func:`refuse_nominal`): capped, the nominal scenario would earn a fraction
  of the fitted response at every spend;
* a draw (a member of the ensemble) above it is capped there (:func:`cap`) with a warning per channel
  counting the draws (:func:`capped_warnings`); a draw below :data:`MIN_MAX_RESPONSE` gets that minimum
  (a channel without effect), without a warning.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from budgetgym.envs.errors import BudgetGymError
from budgetgym.envs.scenario_parts import HillSaturation

__all__ = ["MAX_RESPONSE", "MIN_MAX_RESPONSE", "cap", "capped_warnings", "refuse_nominal"]


def _schema_bound(kind: str) -> float:
    """The scenario schema's own bound ``kind`` (``"ge"`` or ``"le"``) on a curve's ``max_response``."""
    return next(float(getattr(m, kind)) for m in HillSaturation.model_fields["max_response"].metadata
                if hasattr(m, kind))


#: A scenario's smallest and largest ``max_response`` (per step), read from the schema
#: (:class:`~budgetgym.envs.scenario_parts.HillSaturation`; the logistic curve's field has the same bounds).
MIN_MAX_RESPONSE, MAX_RESPONSE = _schema_bound("ge"), _schema_bound("le")


def refuse_nominal(beta: Sequence[float] | np.ndarray, channels: Sequence[str], *, where: str, what: str,
                   kpi: str) -> None:
    """A one-line :class:`BudgetGymError` for the first channel whose point estimate ``beta`` (KPI per
    period) is above :data:`MAX_RESPONSE`: ``"<where>: channel '<ch>': the <what> is <beta> KPI per period,
    more than a scenario takes (1e+12); rescale the KPI (<kpi>, e.g. in thousands)"``."""
    for ch, b in zip(channels, np.asarray(beta, dtype=float), strict=True):
        if not b <= MAX_RESPONSE:  # nan too
            raise BudgetGymError(
                f"{where}: channel '{ch}': the {what} is {b:.3g} KPI per period, more than a scenario takes "
                f"({MAX_RESPONSE:g}); rescale the KPI ({kpi}, e.g. in thousands)"
            )


def cap(beta: np.ndarray | float) -> np.ndarray:
    """``beta`` (KPI per period) within a scenario's range ``[MIN_MAX_RESPONSE, MAX_RESPONSE]``."""
    return np.clip(beta, MIN_MAX_RESPONSE, MAX_RESPONSE)


def capped_warnings(beta: np.ndarray, channels: Sequence[str], *, draws: str, file: str) -> list[str]:
    """A warning per channel whose ``beta`` (``[draws, channels]``, KPI per period) is above
    :data:`MAX_RESPONSE` in some draws, which :func:`cap` caps: ``"<ch>: max_response is more than a
    scenario takes (1e+12) in <k> of <n> <draws> (up to <max>); <file> caps those members at 1e+12, so
    their response is lower than fitted"``."""
    out = []
    for i, ch in enumerate(channels):
        over = beta[:, i] > MAX_RESPONSE
        if over.any():
            out.append(f"{ch}: max_response is more than a scenario takes ({MAX_RESPONSE:g}) in {int(over.sum())} of "
                       f"{len(beta)} {draws} (up to {beta[over, i].max():.3g}); {file} caps those members at "
                       f"{MAX_RESPONSE:g}, so their response is lower than fitted")
    return out
