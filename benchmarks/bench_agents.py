"""Benchmark of the baseline agents: fixed splits, greedy marginal ROI and the split bandits.

Every agent plays fresh campaigns (seeds ``0..n-1``) through
:func:`budgetgym.agents.evaluation.evaluate`, which scores each episode's expected reward against
the hindsight oracle on the same episode path (% of oracle, learning included). Agents:
``equal``, ``proportional`` (weights ``1, 2, ..., K`` in channel order) and ``historical``
(last-period spend ``K, ..., 2, 1``) — illustrative inputs standing for a marketer's own numbers,
blind to the scenario (how well they do depends only on how the channels happen to be ordered),
``oracle`` (the oracle's plan played through the environment: 100% by construction, a check of
the plumbing), ``greedy``, ``epsilon_greedy``, ``ucb1``, ``thompson``, and ``model_thompson``
when :mod:`budgetgym.agents.model_thompson` is importable. All with default parameters.

Usage::

    python benchmarks/bench_agents.py [--seeds 5] [--jobs 2] [--scenarios a b ...]
        [--agents a b ...] [--json out.json]

Scenarios default to stationary-5 plus whichever of seasonal-5, shock-5, drift-5 exist.
The 95% CI is the t-interval over seeds, ``mean +- t_{0.975, n-1} sd / sqrt(n)``; ``gain`` is
the mean paired difference to ``equal`` on the same seeds, with its own t-interval. The last
lines flag, per scenario, whether every bandit beats ``equal`` (mean gain > 0) and whether it
does so significantly (the gain's interval excludes 0).

The oracle of an episode depends only on the scenario and the episode path, so within one
worker process the benchmark memoises :func:`~budgetgym.envs.oracle.solve_oracle` on
``(scenario, path, n_random_starts)`` (the evaluator and the oracle agent call the memoised
function; results are identical, only solved once per path).
"""

from __future__ import annotations

import argparse
import importlib
import json
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from typing import Any

import numpy as np
from scipy import stats

import budgetgym.agents.bandits
import budgetgym.agents.fixed
import budgetgym.agents.greedy  # noqa: F401  (registers greedy)
from budgetgym.agents.base import make_agent
from budgetgym.envs import ChannelBudgetEnv, list_scenarios, load_scenario, scenario_path
from budgetgym.envs.oracle import solve_oracle as _solve_oracle

DEFAULT_SCENARIOS = ["stationary-5", "seasonal-5", "shock-5", "drift-5"]
BANDITS = ["epsilon_greedy", "ucb1", "thompson"]


def _model_thompson_available() -> bool:
    try:
        importlib.import_module("budgetgym.agents.model_thompson")
    except ImportError:
        return False
    return True


def agent_specs(n_channels: int, only: list[str] | None = None) -> list[tuple[str, dict[str, Any]]]:
    """(registry name, parameters) of every benchmarked agent for ``n_channels`` channels."""
    specs: list[tuple[str, dict[str, Any]]] = [
        ("equal", {}),
        # illustrative marketer inputs, blind to the scenario: weights rising with the channel's
        # position, and a "last period" whose spend falls with it
        ("proportional", {"weights": [float(i + 1) for i in range(n_channels)]}),
        ("historical", {"spend": [float(n_channels - i) for i in range(n_channels)]}),
        ("oracle", {}),
        ("greedy", {}),
        *[(b, {}) for b in BANDITS],
    ]
    if _model_thompson_available():
        specs.append(("model_thompson", {}))
    if only:
        specs = [s for s in specs if s[0] in only]
    return specs


# ----------------------------------------------------------------------- memoised oracle
_ORACLE_CACHE: dict[tuple, Any] = {}


def _cached_solve_oracle(scenario, seed=None, *, path=None, n_random_starts=6):  # type: ignore[no-untyped-def]
    sc = load_scenario(scenario)
    p = path if path is not None else scenario_path(sc, seed)
    key = (sc.model_dump_json(), p.cost.tobytes(), p.response.tobytes(), n_random_starts)
    if key not in _ORACLE_CACHE:
        _ORACLE_CACHE[key] = _solve_oracle(sc, path=p, n_random_starts=n_random_starts)
    return _ORACLE_CACHE[key]


def _install_oracle_cache() -> None:
    # the evaluator module `budgetgym.agents.evaluation`
    evaluate_module = importlib.import_module("budgetgym.agents.evaluation")
    fixed_module = importlib.import_module("budgetgym.agents.fixed")
    evaluate_module.solve_oracle = _cached_solve_oracle  # type: ignore[attr-defined]
    fixed_module.solve_oracle = _cached_solve_oracle  # type: ignore[attr-defined]


# ------------------------------------------------------------------------------ one seed
def run_seed(scenario: str, seed: int, only: list[str] | None) -> list[dict[str, Any]]:
    """Every agent on one campaign seed of one scenario."""
    _install_oracle_cache()
    evaluate = importlib.import_module("budgetgym.agents.evaluation").evaluate
    sc = load_scenario(scenario)
    env = ChannelBudgetEnv(sc)
    rows = []
    for name, params in agent_specs(sc.n_channels, only):
        agent = make_agent(name, env, **params)
        (res,) = evaluate(agent, sc, [seed])
        rows.append(
            {
                "scenario": sc.name,
                "agent": name,
                "seed": seed,
                "pct": res.pct_of_oracle,
                "wall_s": res.wall_s,
                "steps": sc.horizon,
            }
        )
    return rows


# ------------------------------------------------------------------------------- summary
def ci95(x: np.ndarray) -> float:
    """Half-width of the 95% t-interval of the mean (0 when every value is the same)."""
    if len(x) < 2:
        return float("nan")
    return float(stats.t.ppf(0.975, len(x) - 1) * x.std(ddof=1) / np.sqrt(len(x)))


def summarise(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    out = []
    for scen in dict.fromkeys(r["scenario"] for r in rows):
        sub = [r for r in rows if r["scenario"] == scen]
        equal = {r["seed"]: r["pct"] for r in sub if r["agent"] == "equal"}
        for agent in dict.fromkeys(r["agent"] for r in sub):
            mine = sorted((r for r in sub if r["agent"] == agent), key=lambda r: r["seed"])
            pct = np.array([r["pct"] for r in mine])
            gain = np.array([r["pct"] - equal[r["seed"]] for r in mine]) if equal else np.full(len(mine), np.nan)
            out.append(
                {
                    "scenario": scen,
                    "agent": agent,
                    "seeds": len(mine),
                    "mean_pct": float(pct.mean()),
                    "ci95": ci95(pct),
                    "min_pct": float(pct.min()),
                    "gain": float(gain.mean()),
                    "gain_ci95": ci95(gain),
                    "ms_per_step": float(1000 * np.mean([r["wall_s"] for r in mine]) / mine[0]["steps"]),
                }
            )
    return out


def format_table(summaries: list[dict[str, Any]]) -> str:
    head = (
        f"{'scenario':<14}{'agent':<16}{'seeds':>6}{'% oracle':>10}{'95% CI':>9}{'min':>8}"
        f"{'gain':>8}{'+-':>7}{'ms/step':>9}"
    )
    lines = [head, "-" * len(head)]
    last = None
    for s in summaries:
        if last is not None and s["scenario"] != last:
            lines.append("")
        last = s["scenario"]
        lines.append(
            f"{s['scenario']:<14}{s['agent']:<16}{s['seeds']:>6}{s['mean_pct']:>10.2f}{s['ci95']:>9.2f}"
            f"{s['min_pct']:>8.2f}{s['gain']:>8.2f}{s['gain_ci95']:>7.2f}{s['ms_per_step']:>9.2f}"
        )
    return "\n".join(lines)


def bandit_flags(summaries: list[dict[str, Any]]) -> list[str]:
    lines = []
    for scen in dict.fromkeys(s["scenario"] for s in summaries):
        band = [s for s in summaries if s["scenario"] == scen and s["agent"] in BANDITS]
        if not band:
            continue
        beats = all(s["gain"] > 0 for s in band)
        signif = all(s["gain"] - s["gain_ci95"] > 0 for s in band)
        detail = ", ".join(f"{s['agent']} {s['gain']:+.2f}" for s in band)
        lines.append(
            f"{scen}: every bandit beats equal: {'YES' if beats else 'NO'}"
            f" (significantly: {'YES' if signif else 'NO'}; gains {detail})"
        )
    return lines


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, default=5, help="number of seeds (0..n-1); at least 5 for a report")
    ap.add_argument("--jobs", type=int, default=1, help="worker processes (one scenario-seed each)")
    ap.add_argument("--scenarios", nargs="*", default=None)
    ap.add_argument("--agents", nargs="*", default=None, help="only these registry names")
    ap.add_argument("--json", default=None, help="write the per-seed rows and the summary here")
    args = ap.parse_args(argv)

    available = set(list_scenarios())
    names = args.scenarios or [s for s in DEFAULT_SCENARIOS if s in available]
    skipped = [s for s in DEFAULT_SCENARIOS if s not in available and not args.scenarios]
    seeds = list(range(args.seeds))
    jobs = [(n, s) for n in names for s in seeds]
    t0 = time.perf_counter()
    if args.jobs > 1:
        with ProcessPoolExecutor(args.jobs) as pool:
            futures = [pool.submit(run_seed, n, s, args.agents) for n, s in jobs]
            rows = [row for f in futures for row in f.result()]
    else:
        rows = [row for n, s in jobs for row in run_seed(n, s, args.agents)]
    summaries = summarise(rows)

    print(f"baseline agents, default parameters, seeds {seeds[0]}..{seeds[-1]} (% of the hindsight oracle)")
    print(format_table(summaries))
    print()
    for line in bandit_flags(summaries):
        print(line)
    if skipped:
        print(f"(not found, skipped: {', '.join(skipped)})")
    print(f"total wall time {time.perf_counter() - t0:.1f} s (oracle solves included)")
    if args.json:
        with open(args.json, "w", encoding="utf-8") as fh:
            json.dump({"rows": rows, "summary": summaries}, fh, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
