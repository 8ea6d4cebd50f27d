"""Shared test helpers: scenario builders, a hypothesis strategy of valid scenarios, rollouts.

Plain functions (importable as ``from conftest import ...``) plus thin fixtures around them:

* :func:`channel` / :func:`build_scenario` / the ``make_scenario`` fixture: small hand-written
  scenarios built through :func:`budgetgym.envs.scenario_from_dict`, with overrides given as
  keyword arguments (``__`` separates nested fields, digits index lists:
  ``make_scenario(horizon=3, budget__pacing="agent", channels__0__cost__price=2.0)``).
* :func:`scenario_dicts` / :func:`scenarios`: hypothesis strategies of random *valid* scenarios
  (as plain dicts / as validated :class:`~budgetgym.envs.Scenario` objects); :func:`any_scenario_dicts` /
  :func:`any_scenarios` the same with half of them at the schema's edges (and, if asked, segmented);
  :func:`posterior_families`: families converted from random valid MMM posteriors.
* :func:`rollout`: play a list of actions and collect everything the env returned.
* the ``shared_oracle`` / ``shared_plan`` fixtures: ``solve_oracle`` / ``plan`` solved once per test
  process for the same campaign and arguments (pulse-4's take seconds; several files check them).
"""

from __future__ import annotations

import copy
import importlib
import os
import pkgutil
import textwrap
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import settings
from hypothesis import strategies as st
from threadpoolctl import threadpool_limits

from budgetgym.envs import Scenario, scenario_from_dict

# Tests are deterministic: hypothesis draws the same examples on every run (and in CI).
# `HYPOTHESIS_PROFILE=explore pytest` searches with fresh random examples instead. No test depends on
# wall time: no deadline (hypothesis' default, 200 ms an example, failed a test on a loaded machine).
settings.register_profile("deterministic", derandomize=True, database=None, deadline=None)
settings.register_profile("explore", derandomize=False, deadline=None)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "deterministic"))


def _import_every_module() -> None:
    """Import every budgetgym module now. Hypothesis also draws literals found in the project's
    loaded modules ("local constants"), so with modules imported lazily the examples of a
    derandomized test depended on which tests a pytest-xdist worker had run before it: CI once drew
    an example no local run had. With the set fixed at start, every run draws the same examples.
    A module whose optional dependency is not installed (an extra's venv: the ``mmm`` extra on
    Python 3.12 without ``rl``) is left out, the same set in every run of that environment."""
    import budgetgym

    for module in pkgutil.walk_packages(budgetgym.__path__, "budgetgym."):
        if not module.name.endswith("__main__"):  # __main__ runs the command line
            try:
                importlib.import_module(module.name)
            except ModuleNotFoundError as exc:  # an extra not installed (e.g. the mmm extra's venv without rl)
                if (exc.name or "budgetgym").partition(".")[0] == "budgetgym":
                    raise


def pytest_configure(config: pytest.Config) -> None:
    """Import every module as pytest loads this file (a hook: run by pytest as it registers this conftest, before
    any test), and only in a process running pytest: a grid worker a test started (process pool, Ray) imports
    this file through a test module it unpickles a task from (a grid's ``imports``, a task function defined in
    a test file), runs no hypothesis test, and importing every module (torch, stable-baselines3, ...) there
    cost each such worker CPU seconds beyond what its task code needs."""
    _import_every_module()


# ----------------------------------------------------------------------------- builders


def channel(name: str = "search", **fields: Any) -> dict[str, Any]:
    """A valid channel mapping (CPM-priced, no carry-over, concave Hill); ``fields`` replace keys."""
    out: dict[str, Any] = {
        "name": name,
        "cost": {"unit": "impression", "price": 10.0, "ref_spend": 100.0, "elasticity": 0.0},
        "adstock": {"type": "none"},
        "saturation": {
            "type": "hill",
            "max_response": 50.0,
            "half_saturation": 10_000.0,
            "slope": 1.0,
        },
        "delay": {"type": "none"},
        "value": {"mean": 1.0},
    }
    out.update(fields)
    return out


def base_scenario_dict(n_channels: int = 2) -> dict[str, Any]:
    """A small deterministic scenario (no noise, no non-stationarity, even pacing)."""
    return {
        "name": "test-scenario",
        "horizon": 5,
        "budget": {"total": 1000.0, "pacing": "even"},
        "reward": "conversions",
        "noise": {"conversions": "none"},
        "channels": [channel(f"ch{i}") for i in range(n_channels)],
    }


def _set_path(data: Any, parts: list[str], value: Any) -> None:
    node = data
    for depth, part in enumerate(parts):
        last = depth == len(parts) - 1
        key: Any = int(part) if isinstance(node, list) else part
        if last:
            node[key] = value
        else:
            if isinstance(node, dict) and key not in node:
                node[key] = {}
            node = node[key]


def build_scenario(base: dict[str, Any] | None = None, /, **overrides: Any) -> Scenario:
    """Validate ``base`` (default :func:`base_scenario_dict`) with ``overrides`` applied.

    Override keys use ``__`` for nesting and digits for list positions. ``n_channels=k`` (applied
    first) replaces the channel list by ``k`` default channels.
    """
    data = copy.deepcopy(base) if base is not None else base_scenario_dict()
    if "n_channels" in overrides:
        data["channels"] = [channel(f"ch{i}") for i in range(overrides.pop("n_channels"))]
    for key, value in overrides.items():
        _set_path(data, key.split("__"), copy.deepcopy(value))
    return scenario_from_dict(data, source="test scenario")


@pytest.fixture(autouse=True, scope="session")
def _one_blas_thread() -> Any:
    """One BLAS thread for the whole suite: pytest-xdist already runs one worker per core, and
    OpenBLAS threads spinning on the other core made small solves (SLSQP, the oracle's Newton
    steps) up to 20x slower. Numbers do not change (the library code limits itself where it
    matters); only time does."""
    with threadpool_limits(limits=1, user_api="blas"):
        yield


def cheap_s_curve_scenario() -> Scenario:
    """Two channels, 4 steps of 7.5 (even pacing), conversions: ``cheap`` at 1e-9 a thousand impressions on an
    S-shaped Hill curve (height 1, half-saturation 500 impressions, slope 10), saturated by 5e-9 a step, 7e-10 of
    the step; ``c1`` at 10 a thousand (750 impressions a step) on a concave Hill (height 5, half-saturation 1000).
    By hand, the optimum saturates ``cheap`` and puts the rest on ``c1``, :data:`CHEAP_S_CURVE_OPTIMUM`
    = 4 (1 + 5 * 750 / 1750) to 1e-9; without ``cheap`` the plan is worth 4 * 5 * 750 / 1750 = 8.57."""
    return build_scenario(horizon=4, budget={"total": 30.0, "pacing": "even"}, channels=[
        channel("cheap", cost={"unit": "impression", "price": 1e-9, "ref_spend": 1.0, "elasticity": 0.0},
                saturation={"type": "hill", "max_response": 1.0, "half_saturation": 500.0, "slope": 10.0}),
        channel("c1", saturation={"type": "hill", "max_response": 5.0, "half_saturation": 1000.0, "slope": 1.0}),
    ])


#: :func:`cheap_s_curve_scenario`'s optimum, by hand.
CHEAP_S_CURVE_OPTIMUM = 4 * (1 + 5 * 750 / 1750)


@pytest.fixture
def make_scenario():
    """Factory fixture: ``make_scenario(**overrides)`` -> validated Scenario (see build_scenario)."""
    return build_scenario


# ------------------------------------------------------------------- solved once per test process
def _read_only(result: Any) -> Any:
    """``result`` with its numpy array attributes made read-only: tests share it, none may change it."""
    for value in vars(result).values():
        if isinstance(value, np.ndarray):
            value.flags.writeable = False
    return result


def _shared(solve: Any) -> Any:
    """``solve(scenario, **kwargs)`` memoised by the digest of the validated scenario and the arguments
    (arrays by value: a spend history)."""
    from budgetgym.envs import load_scenario
    from budgetgym.envs.io import json_digest

    cache: dict[str, Any] = {}

    def get(scenario: Any, **kwargs: Any) -> Any:
        args = {k: np.asarray(v).tolist() if isinstance(v, np.ndarray) else v for k, v in kwargs.items()}
        key = json_digest({"scenario": load_scenario(scenario).model_dump(mode="json"), **args})
        if key not in cache:
            cache[key] = _read_only(solve(scenario, **kwargs))
        return cache[key]

    return get


@pytest.fixture(scope="session")
def shared_oracle() -> Any:
    """``shared_oracle(scenario, **kwargs)``: :func:`~budgetgym.envs.solve_oracle`, solved once per test
    process for the same campaign and arguments (pulse-4's multi-start solve takes seconds, and several
    files check it). The result is shared: its arrays are read-only."""
    from budgetgym.envs import solve_oracle

    return _shared(solve_oracle)


@pytest.fixture(scope="session")
def shared_plan() -> Any:
    """``shared_plan(scenario, **kwargs)``: :func:`budgetgym.planner.plan`, once per test process for the
    same campaign and arguments (shared, as :func:`shared_oracle`)."""
    from budgetgym.planner import plan

    return _shared(plan)


# ------------------------------------------------------------------- hypothesis strategies

_unit = st.floats(0.0, 1.0, allow_nan=False)


def log_uniform(lo: float, hi: float) -> st.SearchStrategy[float]:
    """Floats spread evenly in log-space between ``lo`` and ``hi`` (both > 0)."""
    return st.floats(np.log10(lo), np.log10(hi), allow_nan=False).map(lambda x: float(10.0**x))


@st.composite
def _adstock(draw: st.DrawFn) -> dict[str, Any]:
    kind = draw(st.sampled_from(["none", "geometric", "weibull_cdf", "weibull_pdf"]))
    if kind == "none":
        return {"type": "none"}
    if kind == "geometric":
        out: dict[str, Any] = {"type": "geometric", "decay": draw(st.floats(0.0, 0.95))}
        if draw(st.booleans()):
            out["window"] = draw(st.integers(1, 30))
        out["normalize"] = draw(st.booleans())
        return out
    return {
        "type": kind,
        "shape": draw(st.floats(0.3, 5.0)),
        "scale": draw(st.floats(0.5, 10.0)),
        "window": draw(st.integers(1, 20)),
        "normalize": draw(st.booleans()),
    }


@st.composite
def _delay(draw: st.DrawFn) -> dict[str, Any]:
    kind = draw(st.sampled_from(["none", "geometric", "gamma"]))
    if kind == "none":
        return {"type": "none"}
    out: dict[str, Any] = {
        "type": kind,
        "mean_lag": draw(st.floats(0.1, 6.0)),
        "window": draw(st.integers(1, 20)),
    }
    if kind == "gamma":
        out["shape"] = draw(st.floats(0.5, 6.0))
    return out


@st.composite
def _seasonal(draw: st.DrawFn) -> dict[str, float]:
    return {
        "weekly_amplitude": draw(st.floats(0.0, 0.9)),
        "weekly_peak": draw(st.floats(0.0, 6.9)),
        "yearly_amplitude": draw(st.floats(0.0, 0.9)),
        "yearly_peak": draw(st.floats(0.0, 365.0)),
    }


def _share_fields(draw: st.DrawFn, k: int) -> list[dict[str, Any]]:
    """Per-channel share-bound fields that are jointly feasible by construction.

    A reference split ``q`` (some entries possibly zero) is drawn first; every channel's
    bounds contain ``q_i`` (free: [0, 1]; bounded: [u q_i, q_i + v (1 - q_i)]; locked: q_i), so
    ``q`` itself is feasible and ``sum(low) <= 1 <= sum(high)``.
    """
    weights = [draw(st.one_of(st.just(0.0), st.floats(0.05, 1.0))) for _ in range(k)]
    if sum(weights) == 0.0:
        weights[draw(st.integers(0, k - 1))] = 1.0
    total = sum(weights)
    q = [w / total for w in weights]
    out: list[dict[str, Any]] = []
    for qi in q:
        kind = draw(st.sampled_from(["free", "free", "bounded", "locked"]))
        if kind == "free":
            out.append({})
        elif kind == "bounded":
            lo = qi * draw(_unit)
            hi = qi + (1.0 - qi) * draw(_unit)
            out.append({"min_share": lo, "max_share": min(1.0, max(hi, lo))})
        else:
            out.append({"locked_share": min(1.0, qi)})
    return out


@st.composite
def scenario_dicts(
    draw: st.DrawFn,
    max_channels: int = 6,
    max_horizon: int = 20,
    pacing: str | None = None,
    noise: str | None = None,
    edges: bool = False,
) -> dict[str, Any]:
    """Random valid scenario mappings: K in 1..max_channels, horizon in 1..max_horizon.

    Covers click/impression cost with auction pressure and price noise, geometric/Weibull/no
    adstock, Hill/logistic saturation, geometric/gamma/no delay, value noise, feasible share
    bounds including locked and zero-capped channels, even or agent pacing, every reward and
    noise kind, seasonality, drift (with per-channel overrides) and shocks. Magnitudes are
    scaled to the step budget so responses are neither all-zero nor all-saturated.

    Price shocks use a multiplier > 0 (the schema rejects 0: it would make the unit price 0).

    ``edges=True`` then moves about a third of the numeric fields (:func:`_move_to_edges`) to an end of
    the range the schema accepts, or anywhere in it (log-uniform when it is positive), and gives some
    channels seasonal cycles of their own, some campaigns a ``target_cpa`` and some revenue campaigns a
    response counted in currency: valid inputs far from the typical magnitudes.
    """
    k = draw(st.integers(1, max_channels))
    horizon = draw(st.integers(1, max_horizon))
    total = draw(log_uniform(1.0, 1e7))
    step_budget = total / horizon
    shares = _share_fields(draw, k)
    channels = []
    for i in range(k):
        unit = draw(st.sampled_from(["impression", "click"]))
        price = draw(log_uniform(0.5, 50.0) if unit == "impression" else log_uniform(0.05, 10.0))
        units = 1000.0 if unit == "impression" else 1.0
        typical_exposure = units * (step_budget / k) / price
        cost: dict[str, Any] = {
            "unit": unit,
            "price": price,
            "ref_spend": step_budget * draw(log_uniform(0.05, 20.0)),
            "elasticity": draw(st.floats(0.0, 1.0)),
            "noise_sd": draw(st.one_of(st.just(0.0), st.floats(0.0, 0.5))),
        }
        if draw(st.booleans()):
            saturation: dict[str, Any] = {
                "type": "hill",
                "max_response": draw(log_uniform(0.1, 1000.0)),
                "half_saturation": typical_exposure * draw(log_uniform(0.05, 20.0)),
                "slope": draw(st.floats(0.3, 4.0)),
            }
        else:
            saturation = {
                "type": "logistic",
                "max_response": draw(log_uniform(0.1, 1000.0)),
                "rate": draw(log_uniform(0.05, 20.0)) / typical_exposure,
            }
        ch: dict[str, Any] = {
            "name": f"c{i}",
            "cost": cost,
            "adstock": draw(_adstock()),
            "saturation": saturation,
            "delay": draw(_delay()),
            "value": {
                "mean": draw(st.floats(0.0, 200.0)),
                "noise_sd": draw(st.one_of(st.just(0.0), st.floats(0, 1))),
            },
            **shares[i],
        }
        if draw(st.booleans()):
            ch["drift_sd"] = draw(st.floats(0.0, 0.3))
        channels.append(ch)

    shocks = []
    for _ in range(draw(st.integers(0, 3))):
        kind = draw(st.sampled_from(["price", "demand", "outage"]))
        shock: dict[str, Any] = {
            "kind": kind,
            "start": draw(st.integers(0, horizon - 1)),
            "duration": draw(st.integers(1, 10)),
            "multiplier": draw(st.floats(0.1, 10.0) if kind == "price" else st.floats(0.0, 10.0)),
        }
        if draw(st.booleans()):
            names = [c["name"] for c in channels]
            shock["channels"] = draw(
                st.lists(st.sampled_from(names), min_size=1, max_size=k, unique=True)
            )
        shocks.append(shock)

    noise_kind = noise or draw(st.sampled_from(["poisson", "negative_binomial", "none"]))
    out = {
        "name": "hypothesis",
        "horizon": horizon,
        "step_days": draw(st.sampled_from([1.0, 7.0, 0.5])),
        "start_day": draw(st.floats(0.0, 400.0)),
        "budget": {
            "total": total,
            "pacing": pacing or draw(st.sampled_from(["even", "agent"])),
            "max_step_multiple": draw(st.floats(1.0, 5.0)),
        },
        "reward": draw(st.sampled_from(["conversions", "revenue", "profit"])),
        "channels": channels,
        "seasonality": {"demand": draw(_seasonal()), "cost": draw(_seasonal())},
        "drift": {"sd": draw(st.floats(0.0, 0.3)), "mean_reversion": draw(st.floats(0.0, 1.0))},
        "shocks": shocks,
        "noise": {"conversions": noise_kind, "dispersion": draw(st.floats(0.5, 50.0))},
        "action": {"logit_scale": draw(st.floats(0.5, 20.0))},
    }
    if edges:
        _move_to_edges(draw, out)
    return out


def _schema_range(model: Any, name: str) -> tuple[float, float]:
    """The closed range of values the schema accepts for ``model.name``: its ``ge``/``le`` bounds, a
    ``gt``/``lt`` bound one ulp inside (``step_days > 0``: 5e-324)."""
    lo, hi = -np.inf, np.inf
    for bound in model.model_fields[name].metadata:
        lo = float(getattr(bound, "ge", lo))
        hi = float(getattr(bound, "le", hi))
        if hasattr(bound, "gt"):
            lo = float(np.nextafter(bound.gt, np.inf))
        if hasattr(bound, "lt"):
            hi = float(np.nextafter(bound.lt, -np.inf))
    return lo, hi


def _edge(draw: st.DrawFn, model: Any, name: str) -> float | int:
    """An end of the schema's range of ``model.name`` or a value anywhere in it (log-uniform when the
    range is positive; integers for an integer field)."""
    lo, hi = _schema_range(model, name)
    annotation = model.model_fields[name].annotation
    if int in (annotation, *getattr(annotation, "__args__", ())):
        return draw(st.sampled_from([int(lo), int(hi)]) | st.integers(int(lo), int(hi)))
    inside = log_uniform(lo, hi).map(lambda x: min(max(x, lo), hi)) if lo > 0 else st.floats(lo, hi)
    return draw(st.sampled_from([lo, hi]) | inside)


def _edge_models() -> dict[str, Any]:
    """The schema model of each block :func:`_move_to_edges` moves, by block (and ``type``)."""
    from budgetgym.envs import scenario_parts as p

    return {
        "budget": p.BudgetConfig, "action": p.ActionConfig, "noise": p.NoiseConfig, "drift": p.DriftConfig,
        "scenario": Scenario,
        "cost": p.CostConfig, "value": p.ValueConfig, "channel": p.ChannelConfig, "shock": p.ShockConfig,
        "season": p.SeasonalComponent, "hill": p.HillSaturation, "logistic": p.LogisticSaturation,
        "adstock.geometric": p.GeometricAdstock, "adstock.weibull_cdf": p.WeibullAdstock,
        "adstock.weibull_pdf": p.WeibullAdstock, "delay.geometric": p.GeometricDelay, "delay.gamma": p.GammaDelay,
    }


def _move_to_edges(draw: st.DrawFn, d: dict[str, Any]) -> None:
    """Move about a third of ``d``'s numeric fields to the schema's edges (see :func:`scenario_dicts`)."""
    models = _edge_models()

    def move(block: dict[str, Any], model: Any, *names: str) -> None:
        for name in names:
            if name in model.model_fields and draw(st.integers(0, 2)) == 0:
                block[name] = _edge(draw, model, name)

    move(d, models["scenario"], "step_days", "start_day", "target_cpa")
    if d["reward"] != "conversions" and draw(st.booleans()):  # a response counted in currency: values of 1
        d["response_unit"] = "currency"
        for ch in d["channels"]:
            ch["value"]["mean"] = 1.0
    move(d["budget"], models["budget"], "total", "max_step_multiple")
    move(d["action"], models["action"], "logit_scale")
    move(d["noise"], models["noise"], "dispersion")
    move(d["drift"], models["drift"], "sd", "mean_reversion")
    for part in ("demand", "cost"):
        move(d["seasonality"][part], models["season"], *models["season"].model_fields)
    for ch in d["channels"]:
        move(ch["cost"], models["cost"], "price", "ref_spend", "elasticity", "noise_sd", "planned_price")
        move(ch["value"], models["value"], "noise_sd", *(() if d.get("response_unit") else ("mean",)))
        move(ch, models["channel"], "drift_sd")
        sat = ch["saturation"]
        move(sat, models[sat["type"]], "max_response", "half_saturation", "slope", "rate")
        for kind in ("adstock", "delay"):
            if ch[kind]["type"] != "none":
                model = models[f"{kind}.{ch[kind]['type']}"]
                move(ch[kind], model, *(n for n in model.model_fields if n not in ("type", "normalize")))
        if draw(st.booleans()):
            ch["seasonality"] = {part: {n: _edge(draw, models["season"], n) for n in models["season"].model_fields}
                                 for part in ("demand", "cost")}
    for shock in d["shocks"]:  # overlapping shocks multiply, and the product must lie in [1e-6, 1e6]: a lone one
        if [s["kind"] for s in d["shocks"]].count(shock["kind"]) == 1 and draw(st.booleans()):
            shock["multiplier"] = _edge(draw, models["shock"], "multiplier")
            if shock["kind"] == "price":  # a price shock's multiplier: 1e-6 at least
                shock["multiplier"] = max(shock["multiplier"], 1e-6)


@st.composite
def family_dicts(draw: st.DrawFn, segments_differ: bool = False, **kwargs: Any) -> dict[str, Any]:
    """Random valid family mappings (``configs/README.md``, "Scenario families"): a campaign of
    :func:`any_scenario_dicts` (``kwargs``) with ``vary`` ranges on some of what a marketer does not know,
    each channel's (or segment's) curve height, half-saturation, slope or rate, geometric carry-over, delay
    lag and value per conversion: a ``loguniform`` (positive fields) or ``uniform`` range around the drawn
    value, up to 3x either way, within the schema's range. ``segments_differ=True``: a segmented campaign
    whose draws choose between its segments and its first segment alone (so the draws differ in their
    number of segments; the planner and the envs must take both), only its channels' carry-over varied."""
    d = draw(any_scenario_dicts(segmented=segments_differ, **kwargs))
    models = _edge_models()
    vary: dict[str, dict[str, Any]] = {}

    def around(path: str, block: dict[str, Any], model: Any, name: str) -> None:
        if name not in block or name not in model.model_fields or not draw(st.booleans()):
            return
        lo, hi = _schema_range(model, name)
        v, f = float(block[name]), draw(st.floats(1.0, 3.0))
        if v > 0 and lo > 0:
            vary[f"{path}.{name}"] = {"dist": "loguniform", "low": max(lo, v / f), "high": min(hi, v * f)}
        else:
            spread = (f - 1.0) * max(abs(v), 1e-3)
            vary[f"{path}.{name}"] = {"dist": "uniform", "low": max(lo, v - spread), "high": min(hi, v + spread)}

    def curves(path: str, block: dict[str, Any]) -> None:
        sat = block["saturation"]
        for name in ("max_response", "half_saturation", "slope", "rate"):
            around(f"{path}.saturation", sat, models[sat["type"]], name)
        if block["delay"]["type"] != "none":
            around(f"{path}.delay", block["delay"], models[f"delay.{block['delay']['type']}"], "mean_lag")
        if d.get("response_unit") != "currency":
            around(f"{path}.value", block["value"], models["value"], "mean")

    for i, ch in enumerate(d["channels"]):
        if "saturation" in ch:
            curves(f"channels.{i}", ch)
        if ch["adstock"]["type"] == "geometric":
            around(f"channels.{i}.adstock", ch["adstock"], models["adstock.geometric"], "decay")
    if segments_differ:  # the segments' own fields are drawn with their block (a dotted path cannot reach them)
        alone = copy.deepcopy(d["segments"][0])
        alone["size"] = 1.0
        d["segments"] = {"dist": "choice", "values": [d["segments"], [alone]]}
    return {"family": "hypothesis-family", "seed": draw(st.integers(0, 2**32 - 1)), "scenario": d, "vary": vary}


def families(**kwargs: Any) -> st.SearchStrategy[Any]:
    """:func:`family_dicts` (``kwargs``) as validated :class:`~budgetgym.envs.family.ScenarioFamily` objects."""
    from budgetgym.envs.family import family_from_dict

    return family_dicts(**kwargs).map(lambda d: family_from_dict(d, source="hypothesis family"))


def oracle_tolerance(sc: Scenario, oracle_value: float) -> float:
    """How far a plan's value may exceed the oracle's on ``sc`` before it beats it: ``1e-6`` of the
    oracle's value plus ``1e-9`` of the reward's scale (the reward at saturation everywhere, plus the
    budget for a profit reward: an agent-paced profit oracle that should spend nothing keeps a spend of
    ~1e-9 B inside the barrier). The non-concave solves stop at a relative 1e-6. Plus the smallest normal
    float: values per conversion down to 5e-324 are accepted, and subnormal sums carry no relative digits."""
    from budgetgym.envs import scenario_path
    from budgetgym.envs.dynamics import ChannelModel
    from budgetgym.envs.expected import expected_model

    scale = expected_model(ChannelModel.from_scenario(sc), scenario_path(sc)).value_scale
    spend = sc.budget.total if sc.reward == "profit" else 0.0
    return 1e-6 * abs(oracle_value) + 1e-9 * (scale + spend) + float(np.finfo(float).tiny)


def scenarios(**kwargs: Any) -> st.SearchStrategy[Scenario]:
    """Random valid :class:`Scenario` objects (``kwargs`` as for :func:`scenario_dicts`)."""
    return scenario_dicts(**kwargs).map(
        lambda d: scenario_from_dict(d, source="hypothesis scenario")
    )


@st.composite
def segmented_scenario_dicts(draw: st.DrawFn, max_segments: int = 3, **kwargs: Any) -> dict[str, Any]:
    """:func:`scenario_dicts` (``kwargs``) turned into a scenario with 1..max_segments overlapping
    audience segments: the channels' curves, delays and values move to the segments (each segment
    takes a random channel's, so magnitudes stay scaled to the budget), reach shares drawn per
    channel (zeros included, each channel's summing to at most 1, a channel reaching no segment
    allowed), effectiveness in [0, 5], sizes summing to 1 (down to 1e-3)."""
    d = draw(scenario_dicts(**kwargs))
    channels = d["channels"]
    parts = [{key: ch.pop(key) for key in ("saturation", "delay", "value")} for ch in channels]
    k, s_count = len(channels), draw(st.integers(1, max_segments))
    raw = np.array([[draw(st.one_of(st.just(0.0), st.floats(1e-3, 1.0))) for _ in range(s_count)] for _ in range(k)])
    scale = np.array([draw(st.floats(0.0, 1.0)) if draw(st.booleans()) else 1.0 for _ in range(k)])
    reach = raw / np.maximum(raw.sum(axis=1, keepdims=True), 1e-300) * scale[:, None]
    sizes = np.array([draw(log_uniform(1e-3, 1.0)) for _ in range(s_count)])
    sizes /= sizes.sum()
    segments = []
    for s in range(s_count):
        src = parts[draw(st.integers(0, k - 1))]
        reached = [i for i in range(k) if reach[i, s] > 0]
        segments.append({
            "name": f"s{s}",
            "size": float(sizes[s]) if s < s_count - 1 else float(1.0 - sizes[:-1].sum()),
            "saturation": src["saturation"],
            "delay": src["delay"],
            "value": src["value"],
            "reach": {channels[i]["name"]: float(min(1.0, reach[i, s])) for i in reached},
            "effectiveness": {channels[i]["name"]: draw(st.floats(0.0, 5.0)) for i in reached if draw(st.booleans())},
        })
    d["segments"] = segments
    return d


def any_scenario_dicts(segmented: bool | None = False, **kwargs: Any) -> st.SearchStrategy[dict[str, Any]]:
    """:func:`scenario_dicts` (``kwargs``), half of them with fields at the schema's edges (``edges=True``);
    ``segmented=True``: :func:`segmented_scenario_dicts` instead, ``None``: either, half each."""
    if segmented is None:
        return st.booleans().flatmap(lambda seg: any_scenario_dicts(seg, **kwargs))
    make = segmented_scenario_dicts if segmented else scenario_dicts
    return st.booleans().flatmap(lambda edges: make(edges=edges, **kwargs))


def any_scenarios(segmented: bool | None = False, **kwargs: Any) -> st.SearchStrategy[Scenario]:
    """:func:`any_scenario_dicts` as validated :class:`Scenario` objects."""
    return any_scenario_dicts(segmented, **kwargs).map(lambda d: scenario_from_dict(d, source="hypothesis scenario"))


@st.composite
def posterior_dicts(draw: st.DrawFn, max_channels: int = 3, max_draws: int = 6, max_periods: int = 6) -> dict[str, Any]:
    """Keyword arguments of :func:`budgetgym.calibration.posterior_family.family_from_posterior` for a random
    valid PyMC-Marketing posterior: 1..max_channels channels (spend scales 1e-2 to 1e7 a period, the target's
    1e-2 to 1e8), 2..max_draws draws per channel (or one shared by every channel) of the adstock's retention
    (or half-life) and the logistic's ``lam`` or the Hill's ``kappa`` and ``slope``, and ``beta``, spread wide
    but within budgetgym's accepted ranges after the conversion (no draw capped: no warning); either reward,
    a planning window of 1..max_periods periods and a budget of 0.1 to 10 times the channels' scales a period."""
    k = draw(st.integers(1, max_channels))
    n = draw(st.integers(2, max_draws))
    saturation = draw(st.sampled_from(["logistic", "hill"]))
    adstock = draw(st.sampled_from(["geometric", "none"]))

    def variable(values: st.SearchStrategy[float]) -> np.ndarray:
        if draw(st.booleans()):  # per draw and channel
            return np.array([[draw(values) for _ in range(k)] for _ in range(n)])
        return np.array([draw(values) for _ in range(n)])  # one per draw, shared by every channel

    posterior: dict[str, np.ndarray] = {}
    if adstock == "geometric":
        if draw(st.booleans()):
            posterior["adstock_alpha"] = variable(st.floats(0.0, 0.95))
        else:
            posterior["adstock_halflife"] = variable(log_uniform(0.1, 10.0))
    if saturation == "logistic":
        posterior["saturation_lam"] = variable(log_uniform(0.05, 20.0))
    else:
        posterior["saturation_kappa"] = variable(log_uniform(0.05, 5.0))
        posterior["saturation_slope"] = variable(st.floats(0.3, 4.0))
    posterior["saturation_beta"] = variable(log_uniform(0.01, 3.0))
    channel_scale = np.array([draw(log_uniform(1e-2, 1e7)) for _ in range(k)])
    periods = draw(st.integers(1, max_periods))
    return {
        "posterior": posterior,
        "channels": [f"c{i}" for i in range(k)],
        "channel_scale": channel_scale,
        "target_scale": draw(log_uniform(1e-2, 1e8)),
        "plan_periods": periods,
        "plan_budget": float(channel_scale.sum() * periods * draw(log_uniform(0.1, 10.0))),
        "adstock": adstock,
        "l_max": draw(st.integers(1, 12)) if adstock == "geometric" else None,
        "normalize": draw(st.booleans()),
        "saturation": saturation,
        "reward": draw(st.sampled_from(["revenue", "conversions"])),
        "seed": draw(st.integers(0, 2**16)),
        "test_fraction": draw(st.sampled_from([0.2, 0.5])),
    }


def posterior_families(**kwargs: Any) -> st.SearchStrategy[Any]:
    """Families (:class:`~budgetgym.envs.family.ScenarioFamily`) of :func:`posterior_dicts` (``kwargs``):
    converted by ``family_from_posterior`` and validated by ``family_from_dict``, as ``budgetgym calibrate``'s
    PyMC-Marketing path makes them."""
    from budgetgym.calibration.posterior_family import family_from_posterior
    from budgetgym.envs.family import family_from_dict

    return posterior_dicts(**kwargs).map(
        lambda args: family_from_dict(family_from_posterior(**args), source="hypothesis posterior"))


#: Action entries: ordinary values in range plus NaN, infinities, huge, negative and
#: out-of-range (wrong-sign / beyond [-1, 1]) values.
action_entries = st.one_of(
    st.floats(-1.0, 1.0),
    st.sampled_from([np.nan, np.inf, -np.inf, 1e300, -1e300, 1e6, -1e6, 0.0, 1.0, -1.0, -0.0]),
    st.floats(-1e9, 1e9, allow_nan=False),
)


# ------------------------------------------------------------------------------- rollouts


@dataclass
class Trace:
    """Everything one episode returned (``obs[0]`` is the reset observation)."""

    obs: list[np.ndarray] = field(default_factory=list)
    rewards: list[float] = field(default_factory=list)
    terminated: list[bool] = field(default_factory=list)
    truncated: list[bool] = field(default_factory=list)
    infos: list[dict[str, Any]] = field(default_factory=list)
    reset_info: dict[str, Any] = field(default_factory=dict)

    @property
    def spend(self) -> np.ndarray:
        """``[T, K]`` spend per step and channel, from ``info["spend"]``."""
        return np.array([info["spend"] for info in self.infos])


def rollout(env: Any, actions: Any, seed: int | None = None, reset: bool = True) -> Trace:
    """Reset (with ``seed``) unless ``reset=False``, then step through ``actions``; copies everything."""
    tr = Trace()
    if reset:
        obs, info = env.reset(seed=seed)
        tr.obs.append(np.array(obs, copy=True))
        tr.reset_info = copy.deepcopy(info)
    for a in actions:
        obs, r, term, trunc, info = env.step(a)
        tr.obs.append(np.array(obs, copy=True))
        tr.rewards.append(r)
        tr.terminated.append(term)
        tr.truncated.append(trunc)
        tr.infos.append(copy.deepcopy(info))
    return tr


def learn_episode(agent: Any, env: Any, seed: int = 0) -> np.ndarray:
    """Reset ``env`` (with ``seed``) and play one whole episode with ``agent`` learning as it goes
    (``predict``, ``step``, ``update`` on each step); returns the observation after the last step."""
    obs, _ = env.reset(seed=seed)
    for _ in range(env.horizon):
        action, _ = agent.predict(obs)
        next_obs, reward, _, _, info = env.step(action)
        agent.update(obs, action, float(reward), next_obs, info)
        obs = next_obs
    return obs


def random_actions(env: Any, n: int, seed: int) -> list[np.ndarray]:
    """``n`` actions drawn uniformly from the env's action space with a seeded generator."""
    rng = np.random.default_rng(seed)
    shape = env.action_space.shape
    return [rng.uniform(-1.0, 1.0, shape).astype(np.float32) for _ in range(n)]


class Recorder:
    """Wraps an agent and keeps every action it returns (pass it to ``evaluate``)."""

    def __init__(self, agent):
        self.agent, self.name, self.actions = agent, agent.name, []

    def predict(self, *args, **kwargs):
        action, state = self.agent.predict(*args, **kwargs)
        self.actions.append(np.array(action))
        return action, state

    def reset(self, seed=None):
        self.agent.reset(seed)

    def update(self, *args):
        self.agent.update(*args)


def hill_channel(name: str, **overrides: object) -> dict:
    """A click-priced Hill channel without carry-over; keyword arguments replace fields."""
    ch: dict = {
        "name": name,
        "cost": {"unit": "click", "price": 1.0, "ref_spend": 800.0, "elasticity": 0.3},
        "saturation": {
            "type": "hill",
            "max_response": 100.0,
            "half_saturation": 600.0,
            "slope": 1.0,
        },
    }
    ch.update(copy.deepcopy(overrides))
    return ch


def assert_same_actions(agent, clone, env, obs, steps: int) -> None:
    """Play ``agent`` on ``env`` for ``steps`` steps from ``obs`` while feeding ``clone`` the same
    transitions; both must choose identical actions throughout (save -> load round trip)."""
    for _ in range(steps):
        a1, _ = agent.predict(obs)
        a2, _ = clone.predict(obs)
        np.testing.assert_array_equal(a1, a2)
        obs, reward, _, _, info = env.step(a1)
        agent.update(None, a1, reward, obs, info)
        clone.update(None, a2, reward, obs, info)


def assert_feasible(actions, env) -> None:
    """Every recorded action is a float32 array of the env's action shape, finite, in [-1, 1]."""
    assert actions, "no actions recorded"
    for a in actions:
        assert a.dtype == np.float32
        assert a.shape == env.action_space.shape
        assert np.all(np.isfinite(a))
        assert np.all(a >= -1.0) and np.all(a <= 1.0)


def assert_reordered_close(expected: Any, got: Any, rtol: float | None = None, atol: float | None = None) -> None:
    """Two nested results (dicts, lists, tuples, arrays) of the same computation summed in another
    order (the batched vector env's carry-over against the single environment's): floats equal to
    ``rtol`` (default 1e-13 for float64, one float32 rounding 2^-23 for float32) and ``atol``, an
    exact zero on one side exactly zero on the other (above ``atol``), everything else exactly
    equal. ``atol`` defaults to ``finfo.tiny``: below it a float64 is subnormal and keeps fewer
    significant bits (a geometric tail decaying past 1e-308: ``2.733060695e-315`` and
    ``2.73306069e-315`` are the same number)."""
    from gymnasium.utils.env_checker import data_equivalence

    if isinstance(expected, dict):
        assert expected.keys() == got.keys()
        for k in expected:
            assert_reordered_close(expected[k], got[k], rtol, atol)
    elif isinstance(expected, (list, tuple)):
        assert len(expected) == len(got)
        for x, y in zip(expected, got, strict=True):
            assert_reordered_close(x, y, rtol, atol)
    elif np.asarray(expected).dtype.kind == "f":
        a, b = np.asarray(expected), np.asarray(got)
        floor = np.finfo(np.float64).tiny if atol is None else max(atol, np.finfo(np.float64).tiny)
        if rtol is None:
            rtol = 2.0**-23 if a.dtype == np.float32 else 1e-13
        np.testing.assert_allclose(b, a, rtol=rtol, atol=floor)
        above = np.maximum(np.abs(a), np.abs(b)) >= floor
        assert np.array_equal((b == 0) & above, (a == 0) & above)  # zero spend: exactly zero
    else:
        assert data_equivalence(expected, got, exact=True)


# ----------------------------------------------------------------------------- command line
def write(tmp_path: Path, text: str, name: str = "exp.yaml") -> Path:
    """Write a (dedented) experiment or scenario file into ``tmp_path``."""
    path = tmp_path / name
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def run_cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    """Run the ``budgetgym`` command line in-process: ``(exit code, stdout, stderr)``."""
    from budgetgym.experiments.cli import main

    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def oracle_solves(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Counts ``solve_oracle`` calls (one list entry each) made through the oracle module and the
    evaluator while the test runs."""
    import budgetgym.envs.oracle as oracle_module

    calls: list[int] = []
    original = oracle_module.solve_oracle

    def counting(*args: Any, **kwargs: Any) -> Any:
        calls.append(1)
        return original(*args, **kwargs)

    monkeypatch.setattr(oracle_module, "solve_oracle", counting)
    monkeypatch.setattr("budgetgym.agents.evaluation.solve_oracle", counting)
    return calls


def of_out(path: object, out: Path) -> bool:
    """Whether ``path`` is a file of the output directory ``out``: under it, not in a staging directory
    (:func:`budgetgym.envs.staging.staged_output` makes it in ``out``)."""
    from budgetgym.envs.staging import STAGE_PREFIX

    p = Path(str(path))
    return p.is_relative_to(out) and not any(part.startswith(STAGE_PREFIX) for part in p.relative_to(out).parts)


def interrupt_nth_move(monkeypatch: pytest.MonkeyPatch, out: Path, n: int) -> list[object]:
    """Make the ``n``-th rename of a new file into ``out`` (a staged file moved in by ``os.replace`` or
    ``os.rename``; renames within ``out``, such as setting a replaced file aside, do not count) raise
    ``KeyboardInterrupt``, as a Ctrl-C there would. Returns the list of destinations moved in so far."""
    moved_in: list[object] = []

    def interrupting(real: Any) -> Any:
        def move(src: object, dst: object) -> None:
            if of_out(dst, out) and not of_out(src, out):
                moved_in.append(dst)
                if len(moved_in) == n:
                    raise KeyboardInterrupt
            real(src, dst)
        return move

    monkeypatch.setattr(os, "replace", interrupting(os.replace))
    monkeypatch.setattr(os, "rename", interrupting(os.rename))
    return moved_in


def interrupt_nth_change(monkeypatch: pytest.MonkeyPatch, out: Path, n: int, of: Path | None = None) -> list[object]:
    """Make the ``n``-th change to a file of ``out`` (an ``os.replace``/``os.rename`` from or into it, an
    ``os.unlink`` of it; with ``of``, only a move or unlink of that file) raise ``KeyboardInterrupt`` before
    it happens, as a Ctrl-C there would; later changes (putting files back) go ahead. Returns the paths
    changed so far (the interrupted one last)."""
    changed: list[object] = []

    def touches(*paths: object) -> bool:
        if of is not None:
            return Path(str(paths[0])) == of
        return any(of_out(p, out) for p in paths)

    def count(path: object) -> None:
        changed.append(path)
        if len(changed) == n:
            raise KeyboardInterrupt

    def interrupting_move(real: Any) -> Any:
        def move(src: object, dst: object, **kwargs: Any) -> None:
            if touches(src, dst):
                count(src)
            real(src, dst, **kwargs)
        return move

    def interrupting_unlink(real: Any) -> Any:
        def unlink(path: object, **kwargs: Any) -> None:
            if "dir_fd" not in kwargs and touches(path):
                count(path)
            real(path, **kwargs)
        return unlink

    monkeypatch.setattr(os, "replace", interrupting_move(os.replace))
    monkeypatch.setattr(os, "rename", interrupting_move(os.rename))
    monkeypatch.setattr(os, "unlink", interrupting_unlink(os.unlink))
    monkeypatch.setattr(os, "remove", interrupting_unlink(os.remove))
    return changed


def files_of(out: Path) -> dict[str, bytes]:
    """Every file under ``out`` (relative path -> content)."""
    return {p.relative_to(out).as_posix(): p.read_bytes() for p in sorted(out.rglob("*")) if p.is_file()}


@pytest.fixture
def refit_replicates(monkeypatch: pytest.MonkeyPatch) -> list[np.ndarray]:
    """The bootstrap replicates (``y*``) calibrate's refits receive, in order: a spy on
    :func:`budgetgym.calibration.uncertainty.refit_all` that still refits them."""
    from budgetgym.calibration import uncertainty

    seen: list[np.ndarray] = []
    real = uncertainty.refit_all

    def spy(fit, replicates, workers=1, started=None):  # type: ignore[no-untyped-def]
        seen.extend(rep[0] for rep in replicates)
        return real(fit, replicates, workers, started)

    monkeypatch.setattr(uncertainty, "refit_all", spy)
    return seen
