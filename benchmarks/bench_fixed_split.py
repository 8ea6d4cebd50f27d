"""The best constant split in hindsight and the dynamic headroom of each scenario.

For each scenario, prints the equal split, the best constant split in hindsight
(:func:`budgetgym.envs.best_constant_split`: one share vector played every step at
budget/horizon, true parameters, nominal path) and the oracle, as % of the oracle, and the
**dynamic headroom** (oracle minus the best constant split, in points of the oracle): what
adapting the split (and, under agent pacing, the flighting) over time can gain. A fixed-split
agent chosen by a planner can at best reach the best constant split.

Run: ``python benchmarks/bench_fixed_split.py [SCENARIO ...] [--seeds N]`` (default: every
built-in scenario, nominal path; ``--seeds N`` adds the hindsight values of episode seeds
``0..N-1`` for scenarios with drift).
"""

from __future__ import annotations

import argparse

import numpy as np

from budgetgym.agents.evaluation import pct_of_oracle
from budgetgym.envs import (
    best_constant_split,
    constant_split_plan,
    evaluate_plan,
    list_scenarios,
    load_scenario,
    solve_oracle,
)
from budgetgym.envs.allocation import project_bounded_simplex


def row(name: str, seed: int | None) -> tuple[float, float, float, np.ndarray, float, float]:
    """(equal split, best constant split, oracle: expected rewards; the best split's shares;
    oracle seconds, constant-split seconds) on the nominal path or the path of ``seed``."""
    sc = load_scenario(name)
    oracle = solve_oracle(sc, seed=seed)
    const = best_constant_split(sc, path=oracle.path)
    equal_q = project_bounded_simplex(np.full(sc.n_channels, 1.0 / sc.n_channels), *sc.share_bound_arrays)
    equal = float(evaluate_plan(sc, constant_split_plan(sc, equal_q), path=oracle.path))
    return equal, const.expected_reward, oracle.expected_reward, const.shares, oracle.seconds, const.seconds


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("scenarios", nargs="*", help="scenario names (default: every built-in)")
    parser.add_argument("--seeds", type=int, default=0, help="also episode seeds 0..N-1 (drift scenarios)")
    args = parser.parse_args(argv)
    head = (
        f"{'scenario':<14}{'path':>8}{'equal %':>9}{'constant %':>12}{'headroom':>10}{'oracle':>14}"
        f"{'oracle s':>10}{'const s':>9}"
    )
    print(head + "   best constant split")
    for name in args.scenarios or list_scenarios():
        sc = load_scenario(name)
        drift = sc.drift.sd > 0 or any(c.drift_sd for c in sc.channels)
        for seed in [None, *(range(args.seeds) if drift else [])]:
            equal, const, oracle, q, t_o, t_c = row(name, seed)
            ranked = sorted(zip(q, sc.channel_names, strict=True), key=lambda x: -x[0])[:6]
            shares = ", ".join(f"{n} {s:.3f}" for s, n in ranked)
            print(
                f"{name:<14}{'nominal' if seed is None else f'seed {seed}':>8}{pct_of_oracle(equal, oracle):>9.2f}"
                f"{pct_of_oracle(const, oracle):>12.2f}{100 - pct_of_oracle(const, oracle):>10.2f}{oracle:>14,.1f}"
                f"{t_o:>10.2f}{t_c:>9.2f}   {shares}"
            )


if __name__ == "__main__":
    main()
