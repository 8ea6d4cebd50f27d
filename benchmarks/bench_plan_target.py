"""What the target path's reuse of the search's solve saves: ``plan(..., target_mroas=...)`` with and without it.

Usage::

    python benchmarks/bench_plan_target.py                       # retail-5-family, 100 draws, mean (a few minutes)
    python benchmarks/bench_plan_target.py --target 0.5 --current equal  # a target met, with a current plan
    python benchmarks/bench_plan_target.py --campaign stationary-5 --target-mcpa 1e12 --repeats 3

``plan`` with a target first searches the budget meeting it from the budget given, whose level it solves cold
(:func:`~budgetgym.planner.frontier.solve_level`); a target not reached keeps the plan at the budget given, which was
then solved again from scratch (with the static plan as one more candidate). The recommendation now takes that
level's candidates as they are (:func:`~budgetgym.planner.plan_steps.recommend`,
:func:`~budgetgym.planner.robust.solve`'s ``reuse``). With a current plan and a target met, the current plan is also
compared with the recommendation at the budget given, which reuses the same level.

"before" runs the same call with the reuse switched off (``plan_steps.reused_solve`` returning ``None``: every solve
from scratch, as before the change); the script checks that both give the same numbers to the last bit and prints the
wall and process CPU time (median of ``--repeats``) and the solver's candidate solves
(:meth:`~budgetgym.planner.problem.PlanningProblem.candidates` calls).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from typing import Any

import numpy as np

from budgetgym.planner import plan_steps
from budgetgym.planner.plan import PlanResult, plan
from budgetgym.planner.problem import PlanningProblem


def run(campaign: str, kwargs: dict[str, Any], reuse: bool) -> tuple[PlanResult, float, float, int]:
    """One ``plan`` call: its result, wall and CPU seconds, and the candidate solves it made."""
    calls = 0
    original_candidates, original_reused = PlanningProblem.candidates, plan_steps.reused_solve

    def counted(self: PlanningProblem, start: np.ndarray | None = None) -> list[np.ndarray]:
        nonlocal calls
        calls += 1
        return original_candidates(self, start)

    PlanningProblem.candidates = counted  # type: ignore[method-assign]
    if not reuse:
        plan_steps.reused_solve = lambda points, budget: None  # type: ignore[assignment]
    try:
        w0, c0 = time.perf_counter(), time.process_time()
        result = plan(campaign, curves=False, lift_design="none", **kwargs)
        return result, time.perf_counter() - w0, time.process_time() - c0, calls
    finally:
        PlanningProblem.candidates = original_candidates  # type: ignore[method-assign]
        plan_steps.reused_solve = original_reused


def same_numbers(a: PlanResult, b: PlanResult) -> bool:
    """The recommendation, its value, the static plan, the target's record and the current plan's figures."""
    return (np.array_equal(a.plan, b.plan) and a.value == b.value and np.array_equal(a.static_plan, b.static_plan)
            and a.target == b.target and a.current_value == b.current_value
            and a.same_budget_value == b.same_budget_value and a.channels.equals(b.channels))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--campaign", default="retail-5-family")
    parser.add_argument("--target", type=float, default=20.0, help="--target-mroas (default 20: not reached)")
    parser.add_argument("--target-mcpa", type=float, default=None, help="a marginal CPA target instead")
    parser.add_argument("--current", default=None, help="--current (e.g. equal)")
    parser.add_argument("--objective", default="mean")
    parser.add_argument("--sweep", default=None)
    parser.add_argument("--repeats", type=int, default=1)
    args = parser.parse_args(argv)
    kwargs: dict[str, Any] = {"objective": args.objective, "current": args.current, "sweep": args.sweep}
    kwargs.update({"target_mcpa": args.target_mcpa} if args.target_mcpa is not None else {"target_mroas": args.target})
    load = os.getloadavg()
    print(f"bench_plan_target: {time.strftime('%Y-%m-%d %H:%M')}, {os.cpu_count()} CPUs, load average "
          f"{load[0]:.1f}; plan({args.campaign!r}, {', '.join(f'{k}={v!r}' for k, v in kwargs.items() if v)})\n")
    plan(args.campaign, draws=2, curves=False, lift_design="none")  # warm-up: imports, the family's first load
    rows, results = [], {}
    for label, reuse in (("before: every solve from scratch", False), ("after: the search's solve reused", True)):
        runs = [run(args.campaign, kwargs, reuse) for _ in range(args.repeats)]
        results[reuse] = runs[0][0]
        wall, cpu = statistics.median(r[1] for r in runs), statistics.median(r[2] for r in runs)
        rows.append((label, wall, cpu, runs[0][3]))
    t = results[True].target or {}
    print(f"target {t.get('metric')} {t.get('target')}: plan at {t.get('plan_at')} "
          f"(budget {results[True].budget:,.0f})")
    print("| run | wall s | CPU s | candidate solves |\n| --- | ---: | ---: | ---: |")
    for label, wall, cpu, calls in rows:
        print(f"| {label} | {wall:.2f} | {cpu:.2f} | {calls} |")
    saved = rows[0][1] - rows[1][1]
    print(f"\nsaved {saved:.2f} s wall ({100 * saved / rows[0][1]:.1f}%), {rows[0][2] - rows[1][2]:.2f} s CPU")
    identical = same_numbers(results[False], results[True])
    print(f"numbers identical to the last bit: {'yes' if identical else 'NO'}")
    return 0 if identical else 1


if __name__ == "__main__":
    sys.exit(main())
