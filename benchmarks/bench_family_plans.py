"""Time ``plan`` on random scenario families: the property test's call, on larger families, and its slow tail.

``tests/test_family_props.py`` plans random families of ``tests/conftest.families`` (``max_channels=2,
max_horizon=3`` there, to keep CI fast). This script draws ``--examples`` families of that strategy with
``--max-channels`` and ``--max-horizon`` (hypothesis, seeded by ``--seed``; half of them segmented so that their
draws differ in their segments, as the test draws them) and times, for each, the test's call
``plan(family, draws=3, objective=..., current="equal", curves=False, lift_design="none")`` (objective ``mean``
or ``cvar:0.5``, drawn). It prints the distribution of the process CPU time per plan (steadier than wall time on
a shared machine; wall beside it), how many took more than ``--slow`` seconds of CPU, and the slowest examples;
``--dump DIR`` writes each slow family (its mapping and objective) to a JSON file, to profile.

``--fixture FILE`` instead times one such JSON file (``tests/fixtures/property_examples/
far_below_half_saturation_family.json``: the family found by this script in session 29) ``--repeats`` times.

    python benchmarks/bench_family_plans.py [--examples 300] [--seed 0] [--max-channels 3] [--max-horizon 4]
    python benchmarks/bench_family_plans.py \
        --fixture tests/fixtures/property_examples/far_below_half_saturation_family.json
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from budgetgym.envs.family import family_from_dict
from budgetgym.planner import plan

TESTS = Path(__file__).resolve().parent.parent / "tests"


def timed_plan(family: dict[str, Any], objective: str) -> tuple[float, float]:
    """``(cpu, wall)`` seconds of the property test's ``plan`` call on the family mapping ``family``."""
    fam = family_from_dict(family, source="hypothesis family")
    c0, t0 = time.process_time(), time.perf_counter()
    plan(fam, draws=3, objective=objective, current="equal", curves=False, lift_design="none")
    return time.process_time() - c0, time.perf_counter() - t0


def random_families(args: argparse.Namespace) -> list[dict[str, Any]]:
    """Draw and time ``args.examples`` families: one row (mapping, objective, cpu, wall) each."""
    sys.path.insert(0, str(TESTS))
    from conftest import family_dicts  # the property test's strategy
    from hypothesis import HealthCheck, Phase, given, seed, settings
    from hypothesis import strategies as st

    rows: list[dict[str, Any]] = []
    strategy = st.booleans().flatmap(lambda seg: family_dicts(segments_differ=seg, max_channels=args.max_channels,
                                                              max_horizon=args.max_horizon))

    @seed(args.seed)
    @settings(max_examples=args.examples, deadline=None, database=None, phases=[Phase.generate],
              suppress_health_check=list(HealthCheck))
    @given(d=strategy, objective=st.sampled_from(["mean", "cvar:0.5"]))
    def run(d: dict[str, Any], objective: str) -> None:
        cpu, wall = timed_plan(d, objective)
        rows.append({"family": d, "objective": objective, "cpu": cpu, "wall": wall})

    run()
    return rows


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--examples", type=int, default=300)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--max-channels", type=int, default=3)
    ap.add_argument("--max-horizon", type=int, default=4)
    ap.add_argument("--slow", type=float, default=5.0, help="CPU seconds past which a plan counts as slow")
    ap.add_argument("--dump", type=Path, default=None, help="write each slow family to DIR/slow_<n>.json")
    ap.add_argument("--fixture", type=Path, default=None, help="time this family file instead")
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    warnings.simplefilter("ignore")  # ScenarioWarning on edge campaigns (a channel reaching no segment)
    if args.fixture is not None:
        case = json.loads(args.fixture.read_text())
        times = [timed_plan(case["family"], case["objective"]) for _ in range(args.repeats)]
        print(f"{args.fixture.name} ({case['objective']}), {args.repeats} runs: CPU "
              f"{', '.join(f'{c:.2f}' for c, _ in times)} s (median {statistics.median(c for c, _ in times):.2f}); "
              f"wall median {statistics.median(w for _, w in times):.2f} s")
        return 0
    rows = random_families(args)
    cpu = np.array([r["cpu"] for r in rows])
    wall = np.array([r["wall"] for r in rows])
    slow = [r for r in rows if r["cpu"] > args.slow]
    print(f"{len(rows)} families (max_channels={args.max_channels}, max_horizon={args.max_horizon}, seed {args.seed})")
    print("| seconds per plan | median | P90 | P99 | max | total | plans > " f"{args.slow:g} s CPU |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for name, v in (("CPU", cpu), ("wall", wall)):
        p50, p90, p99 = np.percentile(v, [50, 90, 99])
        count = len(slow) if name == "CPU" else int((v > args.slow).sum())
        print(f"| {name} | {p50:.2f} | {p90:.2f} | {p99:.2f} | {v.max():.2f} | {v.sum():.1f} | {count} |")
    for n, r in enumerate(sorted(slow, key=lambda r: -r["cpu"])):
        sc = r["family"]["scenario"]
        print(f"slow {n}: {r['cpu']:.1f} s CPU ({r['wall']:.1f} s wall), {len(sc['channels'])} channels, "
              f"horizon {sc['horizon']}, {r['objective']}")
        if args.dump is not None:
            args.dump.mkdir(parents=True, exist_ok=True)
            (args.dump / f"slow_{n}.json").write_text(json.dumps({k: r[k] for k in ("objective", "family")}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
