"""Benchmark of the ``model_thompson`` agent: % of oracle *including learning*, per scenario.

Every seed is a fresh campaign (the agent starts from its prior) played through
:func:`budgetgym.agents.evaluation.evaluate`, which scores the episode's expected reward
against the hindsight oracle on the same episode path. For comparison the equal split
(``B/T`` per step, split equally and projected onto the share bounds) is scored on the
same paths with :func:`~budgetgym.envs.oracle.evaluate_plan`. With ``--pacing-bound``,
agent-pacing scenarios also report the oracle restricted to even pacing (``B/T`` per
step, best split): the ceiling for an agent that, like this one, does not choose *when*
to spend.

Usage::

    python benchmarks/bench_model_thompson.py [--seeds 5] [--jobs 4] [--scenarios a b ...]
        [--param key=value ...] [--pacing-bound] [--json out.json]
    python benchmarks/bench_model_thompson.py --predict-ms [--seeds 3] [--scenarios a b ...] [--param key=value ...]

Scenarios default to stationary-5 plus whichever of seasonal-5, drift-5, shock-5, s-curve-5,
delayed-5, large-50 exist. ``ms/step`` is the agent's own time (predict + update + env step,
no oracle); run with ``--jobs 1`` on an idle machine for honest timings.
The 95% CI is the t-interval over seeds, ``mean +- t_{0.975, n-1} sd / sqrt(n)``.

``--predict-ms`` prints only the speed of ``predict``: its mean process CPU time per step over whole episodes
(seeds ``0..n-1``, one BLAS thread, no oracle), by default on the agent-pacing scenarios ``seasonal-5``,
``delayed-5`` and ``pulse-4``, where calendar pacing values a paced step's split with carry-over (the costly
part of a step). CPU time, not wall time, so another process on the machine barely moves it.
"""

from __future__ import annotations

import argparse
import ast
import json
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from typing import Any

import numpy as np
from bench_predict import predict_seconds  # this folder's
from scipy import stats

import budgetgym.agents.model_thompson  # noqa: F401  (registers "model_thompson")
from budgetgym.agents.base import make_agent
from budgetgym.agents.evaluation import evaluate
from budgetgym.envs import ChannelBudgetEnv, evaluate_plan, list_scenarios, load_scenario, scenario_path, solve_oracle
from budgetgym.experiments.demo import equal_split_plan

DEFAULT_SCENARIOS = ["stationary-5", "seasonal-5", "drift-5", "shock-5", "s-curve-5", "delayed-5", "large-50"]
PACED_SCENARIOS = ["seasonal-5", "delayed-5", "pulse-4"]  # --predict-ms: calendar pacing's paced split


def predict_cpu_ms(scenario: str, seed: int, params: dict[str, Any]) -> float:
    """Mean process CPU time (ms) of one ``predict`` over a whole episode of ``scenario`` from ``seed``."""
    env = ChannelBudgetEnv(scenario)
    return 1e3 * float(np.mean(predict_seconds(make_agent("model_thompson", env, **params), env, seed)))


def print_predict_ms(names: list[str], seeds: list[int], params: dict[str, Any]) -> None:
    """``--predict-ms``: the table of ``predict``'s CPU ms per step, per scenario (mean and range over seeds)."""
    from threadpoolctl import threadpool_limits

    print(f"model_thompson predict, params {params or 'default'}, seeds {seeds[0]}..{seeds[-1]}, one BLAS thread")
    print(f"{'scenario':<14}{'steps':>6}{'ms CPU/step':>13}{'min':>8}{'max':>8}")
    with threadpool_limits(limits=1):
        predict_cpu_ms(names[0], seeds[0], params)  # warm-up: the first call pays the lazy imports
        for name in names:
            ms = np.array([predict_cpu_ms(name, seed, params) for seed in seeds])
            print(f"{name:<14}{load_scenario(name).horizon:>6}{ms.mean():>13.2f}{ms.min():>8.2f}{ms.max():>8.2f}")


def run_seed(scenario: str, seed: int, params: dict[str, Any], pacing_bound: bool) -> dict[str, Any]:
    """One campaign of the agent and the equal split on the same path."""
    sc = load_scenario(scenario)
    agent = make_agent("model_thompson", ChannelBudgetEnv(sc), **params)
    (res,) = evaluate(agent, sc, [seed])
    equal = float(evaluate_plan(sc, equal_split_plan(sc), seed=res.env_seed))
    row = {
        "scenario": sc.name,
        "seed": seed,
        "pct": res.pct_of_oracle,
        "equal_pct": 100.0 * equal / res.oracle_reward,
        "wall_s": res.wall_s,
        "steps": sc.horizon,
        "bound_pct": float("nan"),
    }
    if pacing_bound and sc.budget.pacing == "agent":
        even = sc.override({"budget.pacing": "even"})
        bound = solve_oracle(even, path=scenario_path(sc, res.env_seed))
        row["bound_pct"] = 100.0 * bound.expected_reward / res.oracle_reward
    return row


def ci95(x: np.ndarray) -> float:
    """Half-width of the 95% t-interval of the mean."""
    if len(x) < 2:
        return float("nan")
    return float(stats.t.ppf(0.975, len(x) - 1) * x.std(ddof=1) / np.sqrt(len(x)))


def summarise(rows: list[dict[str, Any]]) -> dict[str, Any]:
    pct = np.array([r["pct"] for r in rows])
    eq = np.array([r["equal_pct"] for r in rows])
    wall = np.array([r["wall_s"] for r in rows])
    bound = np.array([r["bound_pct"] for r in rows])
    return {
        "scenario": rows[0]["scenario"],
        "seeds": len(rows),
        "mean_pct": float(pct.mean()),
        "ci95": ci95(pct),
        "min_pct": float(pct.min()),
        "equal_pct": float(eq.mean()),
        "gain_ci95": ci95(pct - eq),
        "even_bound_pct": float(bound.mean()) if np.isfinite(bound).all() else None,
        "wall_s_per_episode": float(wall.mean()),
        "ms_per_step": float(1000 * wall.mean() / rows[0]["steps"]),
    }


def format_table(summaries: list[dict[str, Any]]) -> str:
    head = (
        f"{'scenario':<14}{'seeds':>6}{'% oracle':>10}{'95% CI':>9}{'min':>8}{'equal':>8}"
        f"{'gain':>8}{'+-':>6}{'even-bound':>11}{'s/episode':>11}{'ms/step':>9}"
    )
    lines = [head, "-" * len(head)]
    for s in summaries:
        bound = f"{s['even_bound_pct']:.2f}" if s["even_bound_pct"] is not None else "-"
        lines.append(
            f"{s['scenario']:<14}{s['seeds']:>6}{s['mean_pct']:>10.2f}{s['ci95']:>9.2f}{s['min_pct']:>8.2f}"
            f"{s['equal_pct']:>8.2f}{s['mean_pct'] - s['equal_pct']:>8.2f}{s['gain_ci95']:>6.2f}{bound:>11}"
            f"{s['wall_s_per_episode']:>11.2f}{s['ms_per_step']:>9.2f}"
        )
    return "\n".join(lines)


def parse_params(items: list[str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for item in items:
        key, _, value = item.partition("=")
        try:
            out[key] = ast.literal_eval(value)
        except (ValueError, SyntaxError):
            out[key] = value
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, default=5, help="number of seeds (0..n-1), at least 5 for the report")
    ap.add_argument("--jobs", type=int, default=1, help="worker processes")
    ap.add_argument("--scenarios", nargs="*", default=None)
    ap.add_argument("--param", action="append", default=[], help="agent parameter key=value (python literal)")
    ap.add_argument("--pacing-bound", action="store_true", help="also solve the even-pacing oracle (slow)")
    ap.add_argument("--json", default=None, help="write the per-seed rows and the summary here")
    ap.add_argument("--predict-ms", action="store_true", help="only predict's CPU ms per step (paced scenarios)")
    args = ap.parse_args(argv)
    if args.predict_ms:
        print_predict_ms(args.scenarios or PACED_SCENARIOS, list(range(args.seeds)), parse_params(args.param))
        return 0

    available = set(list_scenarios())
    names = args.scenarios or [s for s in DEFAULT_SCENARIOS if s in available]
    skipped = [s for s in DEFAULT_SCENARIOS if s not in available and not args.scenarios]
    params = parse_params(args.param)
    seeds = list(range(args.seeds))
    jobs = [(name, seed) for name in names for seed in seeds]
    t0 = time.perf_counter()
    if args.jobs > 1:
        with ProcessPoolExecutor(args.jobs) as pool:
            futures = [pool.submit(run_seed, n, s, params, args.pacing_bound) for n, s in jobs]
            rows = [f.result() for f in futures]
    else:
        rows = [run_seed(n, s, params, args.pacing_bound) for n, s in jobs]
    summaries = [summarise([r for r in rows if r["scenario"] == load_scenario(n).name]) for n in names]

    print(f"model_thompson, params {params or 'default'}, seeds {seeds[0]}..{seeds[-1]}")
    print(format_table(summaries))
    if skipped:
        print(f"(not found, skipped: {', '.join(skipped)})")
    print(f"total wall time {time.perf_counter() - t0:.1f} s (oracle solves included)")
    if args.json:
        with open(args.json, "w", encoding="utf-8") as fh:
            json.dump({"params": params, "rows": rows, "summary": summaries}, fh, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
