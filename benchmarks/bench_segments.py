"""Audience segments (issue 13): what ignoring the overlap costs, and how agents that assume
independent channels score on a scenario with overlap.

1. The true oracle of the scenario (``solve_oracle``) and the oracle of its **overlap-free** version
   (:func:`budgetgym.envs.segments.without_overlap`: each channel reaching a private copy of every
   segment, i.e. the additive channel-by-channel model), the latter's plan evaluated under the
   overlap: % of the true oracle, its shares, and how much it over-promises.
2. ``equal``, ``greedy`` and ``model_thompson`` (both assume independent channels: one response
   curve per channel) played through :func:`budgetgym.agents.evaluate` over ``--seeds`` fresh
   campaigns each, % of the hindsight oracle: mean and the 95% t-interval over seeds.

Usage::

    python benchmarks/bench_segments.py [--scenario overlap-5] [--seeds 10] [--agents equal greedy model_thompson]
"""

from __future__ import annotations

import argparse
import dataclasses
import time

import numpy as np
from scipy import stats

from budgetgym.agents import evaluate, make_agent
from budgetgym.envs import evaluate_plan, load_scenario, scenario_path, solve_oracle
from budgetgym.envs.dynamics import ChannelModel
from budgetgym.envs.oracle import candidate_plans
from budgetgym.envs.segment_expected import SegmentExpectedModel
from budgetgym.envs.segments import without_overlap


def overlap_cost(name: str) -> None:
    sc = load_scenario(name)
    m = ChannelModel.from_scenario(sc)
    if m.segments is None:
        raise SystemExit(f"{name} has no segments")
    o = solve_oracle(sc)
    free = SegmentExpectedModel(dataclasses.replace(m, segments=without_overlap(m.segments)), scenario_path(sc))
    plan = candidate_plans(sc, free, concave=True)[0]
    value = float(evaluate_plan(sc, plan))
    equal = float(evaluate_plan(sc, np.full((sc.horizon, sc.n_channels), sc.step_budget / sc.n_channels)))
    names = sc.channel_names
    print(f"## {name}: what ignoring the overlap costs\n")
    print("| plan | % of the true oracle | " + " | ".join(names) + " |")
    print("| --- | ---: | " + " | ".join("---:" for _ in names) + " |")
    for label, X, v in (("true oracle", o.plan, o.expected_reward), ("overlap-free oracle", plan, value),
                        ("equal split", None, equal)):
        shares = (X.sum(axis=0) / X.sum()) if X is not None else np.full(sc.n_channels, 1 / sc.n_channels)
        print(f"| {label} | {100 * v / o.expected_reward:.2f} | " + " | ".join(f"{100 * q:.1f}%" for q in shares)
              + " |")
    print(f"\nThe overlap-free model values its own plan at {float(free.value(plan)):,.0f}; under the overlap it "
          f"earns {value:,.0f} ({100 * (float(free.value(plan)) / value - 1):+.1f}% over-promised).\n")


def agents(name: str, which: list[str], seeds: int) -> None:
    print(f"## {name}: agents over {seeds} seeds (% of the hindsight oracle, mean and 95% t-interval)\n")
    print("| agent | mean | 95% CI | worst | s per episode |")
    print("| --- | ---: | ---: | ---: | ---: |")
    for agent_name in which:
        agent = make_agent(agent_name, load_scenario(name))
        t0 = time.perf_counter()
        rows = evaluate(agent, name, seeds=range(seeds))
        wall = (time.perf_counter() - t0) / len(rows)
        pct = np.array([r.pct_of_oracle for r in rows])
        half = stats.t.ppf(0.975, len(pct) - 1) * pct.std(ddof=1) / np.sqrt(len(pct)) if len(pct) > 1 else 0.0
        print(f"| {agent_name} | {pct.mean():.2f} | {pct.mean() - half:.2f}–{pct.mean() + half:.2f} | "
              f"{pct.min():.2f} | {wall:.2f} |")
    print()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--scenario", default="overlap-5")
    ap.add_argument("--seeds", type=int, default=10)
    ap.add_argument("--agents", nargs="+", default=["equal", "greedy", "model_thompson"])
    args = ap.parse_args()
    overlap_cost(args.scenario)
    agents(args.scenario, args.agents, args.seeds)


if __name__ == "__main__":
    main()
