"""Oracle speed and value: ``solve_oracle`` timing on the built-in scenarios.

Usage::

    python benchmarks/bench_oracle.py               # every built-in, 5 repeats (median)
    python benchmarks/bench_oracle.py --repeats 9
    python benchmarks/bench_oracle.py --only stationary-5@28 large-50

Rows: stationary-5 overridden to a 28-step horizon (``stationary-5@28``:
``sc.override({"horizon": 28, "budget.total": 280000})``), then every built-in scenario
(stationary-5 at its own 90 steps, large-50, ...). Built-ins with drift are solved for the
nominal path (``seed=None``). Columns: median and best wall time of ``solve_oracle``, the
median process CPU time, the number of starts, the expected reward of the plan, and the equal
split (the zero action: equal shares projected onto the share bounds, ``B/T`` per step) as a percentage of the oracle.

Targets: stationary-5@28 < 50 ms, large-50 < 2 s. The figures depend on the machine and its
load; run on an idle machine.
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np

from budgetgym.envs import evaluate_plan, list_scenarios, load_scenario, solve_oracle
from budgetgym.envs.allocation import project_bounded_simplex

TARGETS_S = {"stationary-5@28": 0.050, "large-50": 2.0}


def scenario(name: str):
    if name == "stationary-5@28":
        return load_scenario("stationary-5").override({"horizon": 28, "budget.total": 280000})
    return load_scenario(name)


def equal_split_plan(sc) -> np.ndarray:
    lo = np.array([c.share_bounds[0] for c in sc.channels])
    hi = np.array([c.share_bounds[1] for c in sc.channels])
    q = project_bounded_simplex(np.full(sc.n_channels, 1.0 / sc.n_channels), lo, hi)
    return np.tile(q * sc.step_budget, (sc.horizon, 1))


def bench(name: str, repeats: int) -> dict:
    sc = scenario(name)
    solve_oracle(sc)  # warm-up (imports, scipy kernels)
    times, cpu, res = [], [], None
    for _ in range(repeats):
        c0, t0 = time.process_time(), time.perf_counter()
        res = solve_oracle(sc)
        times.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
    equal = float(evaluate_plan(sc, equal_split_plan(sc)))
    return {
        "name": name,
        "T": sc.horizon,
        "K": sc.n_channels,
        "pacing": sc.budget.pacing,
        "concave": res.concave,
        "median": statistics.median(times),
        "best": min(times),
        "cpu": statistics.median(cpu),
        "starts": res.starts,
        "value": res.expected_reward,
        "equal_pct": 100.0 * equal / res.expected_reward if res.expected_reward else float("nan"),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument(
        "--only", nargs="*", help="scenario names (stationary-5@28 for the 28-step copy)"
    )
    args = parser.parse_args(argv)
    names = args.only or ["stationary-5@28", *list_scenarios()]

    print(f"solve_oracle: median of {args.repeats} runs after one warm-up")
    head = (
        f"{'scenario':<17}{'T':>4}{'K':>4}{'pacing':>7}{'concave':>8}{'median':>10}{'best':>10}{'CPU':>10}"
        f"{'starts':>7}{'expected reward':>17}{'equal %':>9}{'target':>9}  status"
    )
    print(head)
    ok = True
    for name in names:
        r = bench(name, args.repeats)
        target = TARGETS_S.get(name)
        status = "-" if target is None else ("ok" if r["median"] < target else "ABOVE TARGET")
        ok &= target is None or r["median"] < target
        tgt = "-" if target is None else f"{target * 1000:.0f} ms"
        print(
            f"{r['name']:<17}{r['T']:>4}{r['K']:>4}{r['pacing']:>7}{r['concave']!s:>8}"
            f"{r['median'] * 1000:>8.1f}ms{r['best'] * 1000:>8.1f}ms{r['cpu'] * 1000:>8.1f}ms{r['starts']:>7}"
            f"{r['value']:>17,.2f}{r['equal_pct']:>8.1f}%{tgt:>9}  {status}",
            flush=True,
        )
    print("status compares the median wall time; CPU = median process CPU time (all threads)")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
