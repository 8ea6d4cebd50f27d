"""Fuzz: every mutated built-in scenario is either rejected with a one-line error or runs cleanly.

Each case starts from a built-in scenario (``model_dump(mode="json")``), shortened to at most
:data:`HORIZON_CAP` steps *before* mutating (so a mutated horizon, window or shock survives), and
applies one to four seeded random mutations: numbers scaled by 1e-12..1e12 (rarely 1e+-300), sign
flips, zeros, boundary nudges, huge ints, NaN/inf, wrong types, list items dropped / duplicated /
cleared, keys deleted / renamed / added, strings mutated, enum values swapped, and sub-trees grafted
from another built-in (so seasonality, drift, shocks, delays... reach every scenario).

Then :func:`budgetgym.envs.scenario_from_dict` must either

* raise a :class:`~budgetgym.envs.BudgetGymError` whose message is one line naming the source, or
* accept it, and then the environment plays ``min(horizon, MAX_STEPS)`` steps of ordinary, extreme
  and non-finite actions with observations inside ``observation_space``, finite rewards and
  ``info`` numbers, spend never above the budget, and no numpy floating-point warning; and
  :func:`~budgetgym.envs.evaluate_plan` of the equal plan is finite.

``BUDGETGYM_FUZZ_N=20000 python -m pytest tests/test_fuzz_scenarios.py`` runs a longer campaign
(the default, 2000 cases, takes a few seconds). ``python tests/test_fuzz_scenarios.py [N]`` prints
the counts and every failure.
"""

from __future__ import annotations

import copy
import json
import math
import os
import sys
import warnings
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pytest

from budgetgym.envs import (
    BudgetGymError,
    ChannelBudgetEnv,
    ChannelModel,
    evaluate_plan,
    list_scenarios,
    load_scenario,
    scenario_from_dict,
)
from budgetgym.envs.dynamics import LARGE_MEAN, realise

N_CASES = int(os.environ.get("BUDGETGYM_FUZZ_N", "2000"))
SEED = 20240601
HORIZON_CAP = 30  # built-ins are shortened to this before mutating (keeps 2000 cases fast)
MAX_STEPS = 30  # env steps played per accepted scenario
PARTS = 4  # the cases are split into this many tests (so pytest-xdist can spread them)
SOURCE = "fuzz scenario"

#: Extreme replacement values for numbers: zero, signs, the float range's ends, huge ints.
EXTREMES: list[Any] = [
    0, 0.0, -0.0, -1, 1, 2, 1e-300, 5e-324, 1e300, -1e300, 1.7976931348623157e308,
    float("nan"), float("inf"), float("-inf"), 2**31, 2**53 + 1, 2**63, 10**30, 10**400, -(10**30),
    1e-18, 1e-9, 1e-6, 1e-3, 0.999, 1 - 2**-53, 1e3, 1e6, 1e9, 1e12, 1e15, 1e18,
]
#: Values of the wrong type for any field.
WRONG_TYPES: list[Any] = [None, True, False, "", "abc", "1e3", "nan", [], [1.0], {}, {"a": 1}, "x" * 200]
#: Sub-trees that may be grafted by key name, beyond those found in the built-ins.
EXTRA_GRAFTS: dict[str, list[Any]] = {
    "shocks": [
        [{"kind": kind, "channels": None, "start": 0, "duration": 5, "multiplier": mult}]
        for kind in ("price", "demand", "outage")
        for mult in (0.0, 1e-3, 3.0, 1000.0)
    ]
    + [  # several at once: their multipliers multiply
        [{"kind": kind, "channels": None, "start": 0, "duration": 50, "multiplier": mult}] * n
        for kind, mult, counts in (("demand", 1000.0, (2, 8)), ("price", 1e-3, (2, 3)))
        for n in counts
    ],
    "drift": [{"sd": 1.0, "mean_reversion": 0.0}, {"sd": 0.3, "mean_reversion": 1.0}],
    "noise": [
        {"conversions": kind, "dispersion": d}
        for kind in ("poisson", "negative_binomial", "none")
        for d in (1e-3, 10.0, 1e6)
    ],
    "adstock": [
        {"type": "geometric", "decay": 0.999, "window": None, "normalize": False},
        {"type": "weibull_pdf", "shape": 20.0, "scale": 1000.0, "window": 1000, "normalize": True},
        {"type": "weibull_cdf", "shape": 0.01, "scale": 0.01, "window": 50, "normalize": False},
    ],
    "delay": [
        {"type": "gamma", "mean_lag": 100.0, "shape": 50.0, "window": 1000},
        {"type": "geometric", "mean_lag": 1e-6, "window": 3},
    ],
}
#: Keys whose values are re-drawn in the "sibling" mutation from other values seen under the same key.
ENUM_EXTRA = {"type": ["hill", "logistic", "geometric", "weibull_cdf", "weibull_pdf", "gamma", "none"]}


# ------------------------------------------------------------------------------ the corpus
def _shorten(data: dict[str, Any]) -> dict[str, Any]:
    """Cap the horizon at HORIZON_CAP, moving shock starts proportionally so they stay inside."""
    horizon = data["horizon"]
    if horizon > HORIZON_CAP:
        data["horizon"] = HORIZON_CAP
        for shock in data.get("shocks", []):
            shock["start"] = shock["start"] * HORIZON_CAP // horizon
    return data


def _leaves_by_key(node: Any, out: dict[str, list[Any]]) -> dict[str, list[Any]]:
    """Every value (leaf or sub-tree) found under each key name, anywhere in ``node``."""
    if isinstance(node, dict):
        for key, value in node.items():
            out.setdefault(key, []).append(value)
            _leaves_by_key(value, out)
    elif isinstance(node, list):
        for item in node:
            _leaves_by_key(item, out)
    return out


BASES = {name: _shorten(load_scenario(name).model_dump(mode="json")) for name in list_scenarios()}
BASE_JSON = {name: json.dumps(data) for name, data in BASES.items()}  # json.loads: a fast deep copy
POOL: dict[str, list[Any]] = {}
for _base in BASES.values():
    _leaves_by_key(_base, POOL)
for _key, _values in {**EXTRA_GRAFTS, **ENUM_EXTRA}.items():
    POOL.setdefault(_key, []).extend(_values)


# ---------------------------------------------------------------------------- the mutator
def _slots(node: Any, path: tuple = ()) -> list[tuple]:
    """Paths of every value in ``node`` (the root excluded): dict keys and list indices."""
    out = []
    items = node.items() if isinstance(node, dict) else enumerate(node) if isinstance(node, list) else ()
    for key, value in items:
        out.append(path + (key,))
        out.extend(_slots(value, path + (key,)))
    return out


def _get(node: Any, path: tuple) -> Any:
    for part in path:
        node = node[part]
    return node


def _pick(rng: np.random.Generator, seq: list[Any]) -> Any:
    return copy.deepcopy(seq[int(rng.integers(len(seq)))])


def _mutate_number(rng: np.random.Generator, x: float | int) -> tuple[Any, str]:
    op = rng.choice(["scale", "scale", "scale", "scale", "flip", "extreme", "nudge", "wrong"])
    if op == "scale":
        k = int(rng.integers(-12, 13)) if rng.random() < 0.95 else int(rng.choice([-300, -200, 200, 300]))
        try:
            y: Any = x * 10.0**k
        except OverflowError:
            y = float("inf")
        if isinstance(x, int) and math.isfinite(y) and rng.random() < 0.7:
            y = int(y)
        return y, f"x1e{k}"
    if op == "flip":
        return -x, "negated"
    if op == "extreme":
        y = _pick(rng, EXTREMES)
        return y, f"={y!r}"[:40]
    if op == "nudge":  # hits boundaries of ranges (0 <= decay < 1, window >= 1, ...)
        step = rng.choice([-1.0, -1e-9, 1e-9, 1.0]) if isinstance(x, float) else rng.choice([-1, 1])
        y = x + step.item()
        return y, f"={y!r}"
    y = _pick(rng, WRONG_TYPES)
    return y, f"={y!r}"[:40]


def _mutate_string(rng: np.random.Generator, s: str, key: Any) -> tuple[Any, str]:
    op = rng.choice(["sibling", "sibling", "edit", "wrong"])
    if op == "sibling" and isinstance(key, str) and key in POOL:
        strings = [v for v in POOL[key] if isinstance(v, str)]
        if strings:
            y = _pick(rng, strings)
            return y, f"={y!r}"
    if op == "edit":
        edits = [s + "x", s[:-1], s.upper(), s + " ", " " + s, s + "\n" + s, "", s * 30, s + "é", s + "\x00"]
        y = _pick(rng, edits)
        return y, f"={y!r}"[:40]
    y = _pick(rng, WRONG_TYPES + EXTREMES)
    return y, f"={y!r}"[:40]


def _mutate_value(rng: np.random.Generator, value: Any, key: Any) -> tuple[Any, str]:
    """A new value for a slot, and a short description of the change."""
    if isinstance(value, bool):
        y = _pick(rng, [not value, 0, 1, 2, "yes", None])
        return y, f"={y!r}"
    if isinstance(value, (int, float)):
        return _mutate_number(rng, value)
    if isinstance(value, str):
        return _mutate_string(rng, value, key)
    if value is None:  # an unset optional field: give it a value seen elsewhere, or an extreme
        candidates = [v for v in POOL.get(key, []) if v is not None] if isinstance(key, str) else []
        y = _pick(rng, candidates if candidates and rng.random() < 0.6 else EXTREMES + WRONG_TYPES)
        return y, f"={y!r}"[:40]
    if isinstance(key, str) and key in POOL and rng.random() < 0.7:  # graft a sub-tree
        y = _pick(rng, POOL[key])
        return y, "grafted"
    y = _pick(rng, WRONG_TYPES)
    return y, f"={y!r}"[:40]


def _mutate_container(rng: np.random.Generator, node: Any) -> str:
    """Change a dict's keys or a list's items in place; returns a description."""
    if isinstance(node, list):
        op = rng.choice(["drop", "dup", "clear", "swap"]) if node else "dup"
        if op == "dup" and node:
            node.insert(int(rng.integers(len(node) + 1)), copy.deepcopy(_pick(rng, node)))
            return "item duplicated"
        if op == "drop":
            del node[int(rng.integers(len(node)))]
            return "item dropped"
        if op == "swap" and len(node) > 1:
            i, j = rng.choice(len(node), 2, replace=False)
            node[i], node[j] = node[j], node[i]
            return "items swapped"
        node.clear()
        return "cleared"
    keys = list(node)
    op = rng.choice(["delete", "rename", "copy", "add"]) if keys else "add"
    if op == "add" or not keys:
        key = str(rng.choice(list(POOL)))
        node[key] = _pick(rng, POOL[key])
        return f"key {key!r} added"
    key = keys[int(rng.integers(len(keys)))]
    if op == "delete":
        del node[key]
        return f"key {key!r} deleted"
    new = str(rng.choice([key + "s", key.capitalize(), key[:-1], "_" + key]))
    node[new] = node[key] if op == "copy" else node.pop(key)
    return f"key {key!r} {'duplicated' if op == 'copy' else 'renamed'} as {new!r}"


def _scale_all(data: dict[str, Any], rng: np.random.Generator) -> str:
    """Scale every number stored under one key name (all channels' ``max_response``...) alike."""
    slots = [p for p in _slots(data) if isinstance(p[-1], str) and type(_get(data, p)) in (int, float)]
    if not slots:
        return "nothing to scale"
    key = slots[int(rng.integers(len(slots)))][-1]
    factor = 10.0 ** int(rng.integers(-15, 16))
    for path in slots:
        if path[-1] == key:
            parent = _get(data, path[:-1])
            parent[key] = parent[key] * factor
    return f"every {key} x{factor:g}"


def mutate(data: dict[str, Any], rng: np.random.Generator) -> list[str]:
    """Apply 1-4 random mutations to ``data`` in place; returns their descriptions."""
    done = []
    for _ in range(1 + min(3, int(rng.geometric(0.5)) - 1)):
        slots = _slots(data)
        if rng.random() < 0.1:
            done.append(_scale_all(data, rng))
            continue
        if rng.random() < 0.15 or not slots:
            path: tuple = ()
            parents = [()] + [p for p in slots if isinstance(_get(data, p), (dict, list))]
            path = parents[int(rng.integers(len(parents)))]
            what = _mutate_container(rng, _get(data, path))
        else:
            path = slots[int(rng.integers(len(slots)))]
            parent = _get(data, path[:-1])
            parent[path[-1]], what = _mutate_value(rng, parent[path[-1]], path[-1])
        done.append(f"{'.'.join(map(str, path)) or '(top)'} {what}")
    return done


# ------------------------------------------------------------------------------ one case
@dataclass
class Outcome:
    rejected: int = 0
    accepted: int = 0
    failures: list[str] = field(default_factory=list)
    messages: Counter = field(default_factory=Counter)


def _actions(rng: np.random.Generator, shape: tuple[int, ...], n: int) -> list[np.ndarray]:
    """Equal split, uniform, extreme (+-1) and non-finite / out-of-range actions."""
    specials = np.array([np.nan, np.inf, -np.inf, 1e300, -1e300, -1.0, 1.0, 0.0])
    out = []
    for t in range(n):
        kind = t % 4
        if kind == 0:
            a = np.zeros(shape)
        elif kind == 1:
            a = rng.uniform(-1.0, 1.0, shape)
        elif kind == 2:
            a = rng.choice([-1.0, 1.0], shape)
        else:
            a = rng.choice(specials, shape)
        if t % 2:  # float32 too (1e300 becomes inf there)
            with np.errstate(over="ignore"):
                a = a.astype(np.float32)
        out.append(a)
    return out


INFO_NUMBERS = (
    "spend", "impressions", "price", "conversions", "expected_conversions", "revenue",
    "reward", "expected_reward", "cumulative_spend", "remaining_budget",
)


def check_accepted(sc: Any, seed: int) -> list[str]:
    """Play the accepted scenario; returns the problems found (empty when it behaves)."""
    problems: list[str] = []
    env = ChannelBudgetEnv(sc)
    obs, _ = env.reset(seed=seed)
    rng = np.random.default_rng(seed)
    if not env.observation_space.contains(obs):
        problems.append(f"reset observation outside the space: {obs!r}")
    for t, action in enumerate(_actions(rng, env.action_space.shape, min(sc.horizon, MAX_STEPS))):
        obs, reward, terminated, truncated, info = env.step(action)
        if not env.observation_space.contains(obs):
            problems.append(f"step {t}: observation outside the space: {obs!r}")
        numbers = np.concatenate([np.ravel(info[key]) for key in INFO_NUMBERS] + [[reward]]).astype(float)
        if not np.all(np.isfinite(numbers)):
            bad = {key: info[key] for key in INFO_NUMBERS if not np.all(np.isfinite(info[key]))}
            problems.append(f"step {t}: reward {reward!r} or info not finite: {bad!r}")
        if np.any(info["spend"] < 0) or info["cumulative_spend"] > sc.budget.total:
            problems.append(
                f"step {t}: spend {info['spend']!r} (cumulative {info['cumulative_spend']!r}) "
                f"negative or above the budget {sc.budget.total!r}"
            )
        if terminated or truncated != (t + 1 == sc.horizon):
            problems.append(f"step {t}: terminated={terminated}, truncated={truncated}")
        if problems:
            return problems
    plan = np.full((sc.horizon, sc.n_channels), sc.step_budget / sc.n_channels)
    value = evaluate_plan(sc, plan, seed=seed)
    if not math.isfinite(value):
        problems.append(f"evaluate_plan of the equal plan is {value!r}")
    return problems


def run_case(i: int, outcome: Outcome) -> None:
    """Mutate built-in ``i mod 8``, validate it and, if accepted, play it; record into ``outcome``."""
    rng = np.random.default_rng([SEED, i])
    names = sorted(BASES)
    name = names[i % len(names)]
    data = json.loads(BASE_JSON[name])
    what = mutate(data, rng)
    label = f"case {i} ({name}: {'; '.join(what)})"
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # a numpy overflow / invalid-value warning is a failure too
            try:
                sc = scenario_from_dict(data, source=SOURCE)
            except BudgetGymError as err:
                msg = str(err)
                if "\n" in msg or "\r" in msg or not msg.startswith(SOURCE):
                    outcome.failures.append(f"{label}: not one line naming the source: {msg!r}")
                outcome.rejected += 1
                outcome.messages[msg[len(SOURCE) + 2:].split(":")[0]] += 1
                return
            outcome.accepted += 1
            problems = check_accepted(sc, seed=i)
    except Exception as err:  # noqa: BLE001 - any other exception is the crash we are looking for
        problems = [f"{type(err).__name__}: {' '.join(str(err).split())[:300]}"]
    if problems:
        outcome.failures.append(f"{label}: {problems[0]}")


def run_fuzz(cases: range) -> Outcome:
    outcome = Outcome()
    for i in cases:
        run_case(i, outcome)
    return outcome


# ---------------------------------------------------------------------------------- tests
def test_mutator_is_deterministic_and_changes_the_scenario():
    a, b = copy.deepcopy(BASES["stationary-3"]), copy.deepcopy(BASES["stationary-3"])
    assert mutate(a, np.random.default_rng(7)) == mutate(b, np.random.default_rng(7))
    assert repr(a) == repr(b)  # repr, not ==: NaN != NaN
    changed = 0
    for i in range(50):
        c = copy.deepcopy(BASES["stationary-3"])
        mutate(c, np.random.default_rng(i))
        changed += repr(c) != repr(BASES["stationary-3"])
    assert changed >= 45  # a few mutations are no-ops (e.g. swapping equal values)


def test_shortening_keeps_the_builtins_valid():
    for name, data in BASES.items():
        sc = scenario_from_dict(copy.deepcopy(data), source=name)
        assert sc.horizon == min(load_scenario(name).horizon, HORIZON_CAP)
        assert len(sc.shocks) == len(load_scenario(name).shocks)


@pytest.mark.parametrize("part", range(PARTS))
def test_no_crash_after_acceptance(part):
    assert N_CASES >= 2000
    cases = range(part * N_CASES // PARTS, (part + 1) * N_CASES // PARTS)  # the parts cover 0..N-1
    outcome = run_fuzz(cases)
    assert outcome.rejected + outcome.accepted == len(cases)
    # both outcomes are exercised in earnest, or the fuzzer has degenerated
    assert outcome.accepted >= 0.2 * len(cases) and outcome.rejected >= 0.2 * len(cases), outcome
    examples = "\n".join(outcome.failures[:10])
    assert not outcome.failures, f"{len(outcome.failures)} failures, e.g.\n{examples}"


# ------------------------------------------------- corners of the accepted ranges, and the noise
def _corner(high: bool) -> dict[str, Any]:
    """A scenario with every magnitude at one end of its accepted range (configs/README.md)."""
    if high:
        cost = {"price": 1e-6, "ref_spend": 1e15, "elasticity": 0.0, "noise_sd": 2.0}
        hill = {"type": "hill", "max_response": 1e12, "half_saturation": 1e-9, "slope": 10.0}
        logistic = {"type": "logistic", "max_response": 1e12, "rate": 1e9}
        seasonal = {"weekly_amplitude": 0.999, "yearly_amplitude": 0.999}
        cost_season = {**seasonal, "weekly_peak": 3.5, "yearly_peak": 180.0}  # troughs on demand peaks
        return {
            "name": "corner-high", "horizon": HORIZON_CAP, "reward": "profit",
            "budget": {"total": 1e15, "pacing": "agent", "max_step_multiple": 100},
            "channels": [
                {"name": "hill", "cost": cost, "saturation": hill, "value": {"mean": 1e15, "noise_sd": 2.0},
                 "adstock": {"type": "geometric", "decay": 1 - 2**-53}},
                {"name": "logistic", "cost": cost, "saturation": logistic, "value": {"mean": 1e15},
                 "delay": {"type": "gamma", "mean_lag": 1e-3, "shape": 50, "window": 1000}},
            ],
            "seasonality": {"demand": seasonal, "cost": cost_season},
            "drift": {"sd": 1.0, "mean_reversion": 0.0},
            "shocks": [{"kind": "demand", "start": t, "duration": 20, "multiplier": 1000} for t in (0, 5)]
            + [{"kind": "price", "start": t, "duration": 20, "multiplier": 1e-3} for t in (0, 5)],
            "noise": {"conversions": "negative_binomial", "dispersion": 1e-3},
            "action": {"logit_scale": 50},
        }
    cost = {"unit": "click", "price": 1e15, "ref_spend": 1e-6, "elasticity": 1.0}
    hill = {"type": "hill", "max_response": 1e-9, "half_saturation": 1e18, "slope": 0.3}
    pdf = {"type": "weibull_pdf", "shape": 20, "scale": 1e-3, "window": 1000, "normalize": True}
    logistic = {"type": "logistic", "max_response": 1e-9, "rate": 1e-18}
    return {
        "name": "corner-low", "horizon": HORIZON_CAP, "start_day": 1e5, "step_days": 366,
        "reward": "revenue", "budget": {"total": 1e-6},
        "channels": [
            {"name": "hill", "cost": cost, "saturation": hill, "value": {"mean": 0.0},
             "adstock": {"type": "weibull_cdf", "shape": 1e-3, "scale": 1e-3, "window": 1000}},
            {"name": "logistic", "cost": cost, "saturation": logistic,
             "adstock": pdf,
             "delay": {"type": "geometric", "mean_lag": 100, "window": 1000}},
        ],
        "noise": {"conversions": "negative_binomial", "dispersion": 1e6},
    }


@pytest.mark.parametrize("high", [True, False])
def test_corners_of_the_accepted_ranges_run_cleanly(high):
    sc = scenario_from_dict(_corner(high), source="corner")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for seed in range(3):
            assert check_accepted(sc, seed) == []


def test_high_corner_reaches_means_beyond_the_poisson_sampler():
    # the corner exercises the large-mean draw: expected conversions of 1e12 x 1e6 (shocks) x
    # seasonality x drift pass numpy's limits (9.2e18 for the Poisson, 2.9e16 for NB with k = 1e-3)
    env = ChannelBudgetEnv(scenario_from_dict(_corner(True), source="corner"))
    env.reset(seed=0)
    action = np.zeros(env.action_space.shape)
    means = [env.step(action)[4]["expected_conversions"].max() for _ in range(HORIZON_CAP)]
    assert max(means) > 1e17


def _noise_model(**noise: Any) -> ChannelModel:
    data = json.loads(BASE_JSON["stationary-3"])
    data["noise"] = noise
    return ChannelModel.from_scenario(scenario_from_dict(data, source="noise test"))


def test_realise_up_to_the_large_mean_draws_exactly_as_numpy():
    mu, spend = np.array([0.5, 40.0, LARGE_MEAN]), np.ones(3)
    poisson = _noise_model(conversions="poisson")
    nb = _noise_model(conversions="negative_binomial", dispersion=4.0)
    np.testing.assert_array_equal(
        realise(poisson, mu, spend, np.random.default_rng(11))[0], np.random.default_rng(11).poisson(mu)
    )
    np.testing.assert_array_equal(
        realise(nb, mu, spend, np.random.default_rng(11))[0],
        np.random.default_rng(11).negative_binomial(4.0, 4.0 / (4.0 + mu)),
    )


@pytest.mark.parametrize("mu", [1e16, 1e19, 1e30, 1e100])
def test_poisson_beyond_the_large_mean_is_within_ten_sd(mu):
    # numpy raises "lam value too large" above 9.2e18; Poisson(mu) has sd sqrt(mu)
    model = _noise_model(conversions="poisson")
    conv = realise(model, np.array([mu, 2.0, 0.0]), np.ones(3), np.random.default_rng(0))[0]
    assert abs(conv[0] - mu) <= 10.0 * math.sqrt(mu)
    assert conv[1] == int(conv[1]) >= 0 and conv[2] == 0.0


@pytest.mark.parametrize("k", [1e-3, 2.0, 1e6])
def test_negative_binomial_beyond_the_large_mean_keeps_its_mean_and_variance(k):
    # NB with mean mu and dispersion k: variance mu + mu^2/k ~ mu^2/k. Over n = 2000 draws the mean
    # has relative se sqrt(1/k / n) and the variance ratio relative se about sqrt((2 + 6/k) / n).
    mu, n = 1e20, 2000
    model, rng = _noise_model(conversions="negative_binomial", dispersion=k), np.random.default_rng(4)
    draws = np.array([realise(model, np.array([mu, 0.0, 0.0]), np.ones(3), rng)[0][0] for _ in range(n)])
    assert np.all(np.isfinite(draws)) and np.all(draws >= 0)
    if k >= 1.0:  # for k = 1e-3 the sample moments are too heavy-tailed to pin down; finite suffices
        assert draws.mean() / mu == pytest.approx(1.0, abs=5 * math.sqrt(1 / k / n))
        rel_se = math.sqrt((2 + 6 / k) / n)
        assert draws.var() / mu**2 == pytest.approx(1 / k, rel=5 * rel_se, abs=1e-9)


if __name__ == "__main__":  # pragma: no cover - a manual, longer campaign with a report
    n = int(sys.argv[1]) if len(sys.argv) > 1 else N_CASES
    result = run_fuzz(range(n))
    print(f"{n} cases: {result.rejected} rejected, {result.accepted} accepted, {len(result.failures)} failed")
    print("most frequent rejections, by field:", result.messages.most_common(8))
    for line in result.failures:
        print(line)
