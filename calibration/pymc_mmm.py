r"""Optional engine: a fitted PyMC-Marketing MMM's posterior as a budgetgym scenario family.

Users who already trust their Bayesian marketing-mix model plan (``budgetgym plan``) and test
policies on it: every kept posterior draw becomes a member of an explicit ensemble (the
``ensemble:`` format of ``configs/README.md``, "Scenario families"), and the posterior medians of
the parameters make the nominal scenario.

* :func:`~budgetgym.calibration.posterior_family.family_from_posterior` is the conversion itself
  (:mod:`budgetgym.calibration.posterior_family`, with the model's equations and the parameter
  mapping): numpy only, so it runs (and is tested) without PyMC; re-exported here.
* :func:`family_from_mmm` reads a fitted ``pymc_marketing.mmm.MMM`` (the object, a file written by
  ``mmm.save``, or an inference-data netCDF plus the scales) and calls it. It needs the ``mmm``
  extra (``pip install 'budgetgym[mmm]'``; PyMC-Marketing 1.x needs Python >= 3.12).
"""

from __future__ import annotations

import importlib
import inspect
from collections.abc import Sequence
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np

from budgetgym.calibration.posterior_family import (
    ADSTOCK_VARIABLES,
    SATURATION_VARIABLES,
    family_from_posterior,
    write_family_yaml,
)
from budgetgym.envs.errors import BudgetGymError

__all__ = ["ADSTOCK_VARIABLES", "SATURATION_VARIABLES", "family_from_mmm", "family_from_posterior", "write_family_yaml"]

_EXTRA = "install the mmm extra (Python >= 3.12): pip install 'budgetgym[mmm]'"


def _pymc_marketing() -> ModuleType:
    """``pymc_marketing.mmm``, imported on first use (the core install has no PyMC)."""
    try:
        return importlib.import_module("pymc_marketing.mmm")
    except ImportError:
        raise BudgetGymError(f"PyMC-Marketing is not installed: {_EXTRA}") from None


def _read(path: Path, mmm: ModuleType) -> tuple[Any, Any]:
    """(model or None, inference data) of a netCDF file: a file written by ``MMM.save`` is loaded
    with the library's own loader; a bare inference-data file gives no model."""
    if not path.is_file():
        raise BudgetGymError(f"MMM file '{path}' not found")
    arviz = importlib.import_module("arviz")
    try:
        idata = arviz.from_netcdf(str(path))
    except Exception as err:  # any reader failure is the user's file
        raise BudgetGymError(f"MMM file '{path}': cannot be read as inference data ({_first_line(err)})") from None
    if "adstock" not in idata.attrs or "saturation" not in idata.attrs:
        return None, idata
    try:
        model = mmm.MMM.load_from_idata(idata)
    except Exception as err:  # the library's own refusal, on one line
        raise BudgetGymError(f"MMM file '{path}': PyMC-Marketing cannot load it ({_first_line(err)})") from None
    return model, idata


def _first_line(err: BaseException) -> str:
    text = str(err).strip().splitlines()
    return f"{type(err).__name__}: {text[0]}" if text else type(err).__name__


def _model_settings(model: Any, idata: Any) -> dict[str, Any]:
    """The conversion's settings read off a fitted ``MMM``, and the posterior variable behind each
    canonical name; refuses what budgetgym cannot represent."""
    link = getattr(getattr(model, "link", "identity"), "value", getattr(model, "link", "identity"))
    dims = tuple(getattr(model, "dims", ()) or ())
    refused = [
        what
        for bad, what in (
            (not getattr(model, "adstock_first", True), "adstock_first=False (saturation before adstock)"),
            (str(link) != "identity", f"the '{link}' link (a multiplicative model)"),
            (bool(dims), f"extra dimensions {dims} (convert one slice with family_from_posterior)"),
            (bool(getattr(model, "time_varying_media", False)), "time-varying media effects"),
            ("cost_per_unit" in _group(idata, "constant_data", required=False), "cost_per_unit (media not in spend)"),
        )
        if bad
    ]
    if refused:
        raise BudgetGymError(
            f"MMM: {refused[0]} is not supported; budgetgym converts stationary, additive media effects on spend"
        )
    ad, sat = type(model.adstock).__name__, type(model.saturation).__name__
    out: dict[str, Any] = {"channels": [str(c) for c in model.channel_columns]}
    renames: dict[str, str] = {}
    if ad == "GeometricAdstock":
        mode = getattr(model.adstock.mode, "name", str(model.adstock.mode))
        if mode != "After":
            raise BudgetGymError(f"MMM: GeometricAdstock mode '{mode}' is not supported; expected 'After'")
        out.update(adstock="geometric", l_max=int(model.adstock.l_max), normalize=bool(model.adstock.normalize))
        renames.update({f"adstock_{p}": v for p, v in model.adstock.variable_mapping.items()})
    elif ad == "NoAdstock":
        out["adstock"] = "none"
    else:
        raise BudgetGymError(f"MMM: {ad} is not supported; expected GeometricAdstock or NoAdstock")
    forms = {"LogisticSaturation": "logistic", "HillSaturation": "hill"}
    if sat not in forms:
        raise BudgetGymError(f"MMM: {sat} is not supported; expected {' or '.join(forms)}")
    out["saturation"] = forms[sat]
    renames.update({f"saturation_{p}": v for p, v in model.saturation.variable_mapping.items()})
    out["_variables"] = renames
    return out


def _group(idata: Any, group: str, required: bool = True) -> Any:
    """An inference-data group (``posterior``, ``constant_data``); ``{}`` when absent and not required."""
    try:
        return idata[group]
    except (KeyError, AttributeError, TypeError):
        if required:
            raise BudgetGymError(f"MMM: the inference data has no '{group}' group (is the model fitted?)") from None
        return {}


def _flatten(da: Any, channels: Sequence[str]) -> np.ndarray:
    """A posterior variable as ``[chains * draws]`` or ``[chains * draws, K]`` in ``channels``' order."""
    extra = [d for d in da.dims if d not in ("chain", "draw", "channel")]
    if extra:
        raise BudgetGymError(f"MMM: posterior '{da.name}' has dimensions {extra}; expected chain, draw and channel")
    if "channel" in da.dims:
        da = da.sel(channel=list(channels)).transpose("chain", "draw", "channel")
        return np.asarray(da.values, dtype=float).reshape(-1, len(channels))
    return np.asarray(da.transpose("chain", "draw").values, dtype=float).reshape(-1)


def _data_defaults(constant: Any, channels: Sequence[str], plan_periods: int | None) -> dict[str, Any]:
    """Calendar and planning-window defaults from the fit data: days per period from the dates,
    the window as long as the fit data and its budget their spend over its last periods."""
    if "channel_data" not in constant:
        return {}
    data = constant["channel_data"].sel(channel=list(channels)).transpose("date", "channel")
    spend = np.asarray(data.values, dtype=float)
    out: dict[str, Any] = {}
    dates = np.asarray(data["date"].values)
    if np.issubdtype(dates.dtype, np.datetime64) and len(dates) > 1:
        out["step_days"] = float(np.median(np.diff(dates) / np.timedelta64(1, "D")))
    periods = len(spend) if plan_periods is None else int(plan_periods)
    out["plan_periods"] = periods
    if periods >= 1:  # the spend rate of the last `periods` periods (all of them if fewer)
        out["plan_budget"] = float(spend[-periods:].sum(axis=1).mean() * periods)
    return out


def family_from_mmm(model_or_path: Any, **options: Any) -> dict[str, Any]:
    """The budgetgym family mapping of a fitted PyMC-Marketing MMM (module docstring).

    Parameters
    ----------
    model_or_path : a fitted ``pymc_marketing.mmm.MMM``; a netCDF file written by its ``save``
        (loaded with the library's ``MMM.load_from_idata``); or a bare inference-data netCDF (then
        give ``l_max`` and, unless the file's ``constant_data`` holds them, ``channel_scale`` and
        ``target_scale``; the saturation form is read from the variable names).
    **options : any keyword of :func:`family_from_posterior`, overriding what is read from the
        model: ``channels`` (default: the model's channel columns; a subset or another order
        selects those), the scales, the adstock and saturation settings, and the planning window
        (default: as many periods as the fit data, with the spend of its last that many periods,
        ``step_days`` from its dates).

    Raises
    ------
    BudgetGymError
        PyMC-Marketing missing ("install the mmm extra"), an unreadable file, an unfitted or
        unsupported model, or a bad or missing option.
    """
    allowed = [p for p in inspect.signature(family_from_posterior).parameters if p != "posterior"]
    unknown = sorted(set(options) - set(allowed))
    if unknown:
        raise BudgetGymError(
            f"family_from_mmm: unknown option(s) {', '.join(unknown)}; expected some of {', '.join(allowed)}"
        )
    mmm = _pymc_marketing()
    if isinstance(model_or_path, (str, Path)):
        model, idata = _read(Path(model_or_path), mmm)
    else:
        model, idata = model_or_path, getattr(model_or_path, "idata", None)
        if idata is None:
            raise BudgetGymError("MMM: the model has no inference data; fit it first (mmm.fit)")
    posterior = _group(idata, "posterior")
    constant = _group(idata, "constant_data", required=False)
    coords = getattr(posterior, "coords", {})
    known = [str(c) for c in coords["channel"].values] if "channel" in coords else []  # the posterior's channels
    variables: dict[str, str] = {}  # canonical name -> the model's variable (custom prefixes)
    if model is not None:
        settings = _model_settings(model, idata)
        variables = settings.pop("_variables")
    else:  # bare inference data: the forms from the variable names
        hill = all(v in posterior for v in SATURATION_VARIABLES["hill"])
        settings = {"saturation": "hill" if hill else "logistic"}
        if not any(v in posterior for v in ADSTOCK_VARIABLES):
            settings["adstock"] = "none"
        if known:
            settings["channels"] = known
    if "channels" in options:
        settings["channels"] = options["channels"]
    channels = settings.get("channels")
    if channels is None:
        raise BudgetGymError("MMM: no channel names found; give channels=")
    strangers = [c for c in channels if known and c not in known]
    if strangers:
        raise BudgetGymError(f"channels: unknown channel(s) {', '.join(strangers)}; the model has {', '.join(known)}")
    for key in ("channel_scale", "target_scale"):
        if key in constant and key not in options:
            values = constant[key].sel(channel=list(channels)) if key == "channel_scale" else constant[key]
            settings[key] = np.asarray(values.values, dtype=float)
    if "target_scale" in settings:
        settings["target_scale"] = float(np.asarray(settings["target_scale"], dtype=float).squeeze())
    settings.update(_data_defaults(constant, channels, options.get("plan_periods")))
    settings.update(options)
    required = ["channel_scale", "target_scale", "plan_periods", "plan_budget"]
    if settings.get("adstock", "geometric") == "geometric":
        required.append("l_max")
    missing = [k for k in required if k not in settings or settings[k] is None]
    if missing:
        raise BudgetGymError(f"MMM: {', '.join(missing)} not found in the model or its data; give {missing[0]}=")
    wanted = list(dict.fromkeys([*ADSTOCK_VARIABLES, *(v for vs in SATURATION_VARIABLES.values() for v in vs)]))
    arrays = {
        name: _flatten(posterior[variables.get(name, name)], channels)
        for name in wanted
        if variables.get(name, name) in posterior
    }
    return family_from_posterior(arrays, **settings)
