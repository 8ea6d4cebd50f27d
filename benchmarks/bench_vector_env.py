"""Vector environment speed: env-steps per second, PPO end to end, batched evaluation.

Usage::

    python benchmarks/bench_vector_env.py                       # every section, 3 repeats
    python benchmarks/bench_vector_env.py --sections env --repeats 5
    python benchmarks/bench_vector_env.py --sections ppo --ppo-steps 200000
    python benchmarks/bench_vector_env.py --sections family-ppo  # the family policy, before and after (long)
    python benchmarks/bench_vector_env.py --sections family-ppo --family-steps 4096  # a smoke run
    python benchmarks/bench_vector_env.py --profile stationary-5  # cProfile of the batched step (one thread)
    python benchmarks/bench_vector_env.py --sections env --cases large-50 --threads 1

Sections (figures are printed, never asserted; targets from issue 12):

* ``env``: :class:`~budgetgym.envs.vector_env.ChannelBudgetVectorEnv` ``step`` calls on
  pre-drawn random actions, ``N = 16,384`` rows, ``SAME_STEP`` autoreset (every call a real
  step; the resets at episode ends are inside the timing, as in training): ``stationary-5``
  (Poisson noise; target >= 2,000,000 env-steps/s batched, per_env reported), ``large-50``
  (>= 300,000) and ``retail-5-family`` with per-row parameters (>= 1,000,000; a pool of 4,096
  train draws); each with ``expected=False`` (what training runs: no noise-free shadow, no
  ``expected_reward`` in the info) and ``expected=True`` (the full info). Mean and standard
  deviation over ``--repeats`` runs, wall clock and process CPU time (CPU time is what the
  machine's other load does not take away; with the batched env's row parts stepped by
  ``--threads`` threads, default the env's ``min(2, cpu_count)``, the CPU time exceeds the wall
  clock when the cores are free). The header prints the load average. ``--cases`` limits the
  section to some scenarios.
* ``ppo``: :func:`~budgetgym.agents.train_ppo` on ``stationary-5`` (``--ppo-steps``, no
  evaluation callback), env-steps per second of the whole training, with the built-in
  ``ppo.yaml`` (vector env, batched: target >= 10,000) and with the settings before issue 12
  (``vec_env: dummy``, 8 envs x 256 steps, minibatch 256, 10 epochs, learning rate 3e-4).
* ``family-ppo``: the training of ``benchmarks/bench_ppo_family.py`` (``retail-5-family``, 1M
  steps, ``eval_freq: 0``) with the built-in settings and with the settings before issue 12
  (``--family-steps`` sets the steps: a smaller run is a smoke test, not the figure).
* ``eval``: :func:`~budgetgym.agents.evaluate` of the ``equal`` split over 1,000 episodes of
  ``stationary-5`` (seeds 0..999), batched and episode by episode (target <= 2 s batched). The
  oracle is solved once before the clock starts (``stationary-5`` has no drift: every seed plays
  the nominal path) and handed to the evaluator, so no solve is timed.

BLAS is limited to one thread (threadpoolctl); nothing in the step uses it.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import os
import pstats
import statistics
import time
from collections.abc import Callable
from typing import Any

import numpy as np
from gymnasium.vector import AutoresetMode
from threadpoolctl import threadpool_limits

from budgetgym.envs.vector_env import ChannelBudgetVectorEnv

#: (scenario, rng, expected: info with expected_reward (a noise-free shadow under price noise), target)
ENV_CASES = [
    ("stationary-5", "batched", False, 2_000_000.0),
    ("stationary-5", "batched", True, 2_000_000.0),
    ("stationary-5", "per_env", True, None),
    ("large-50", "batched", False, 300_000.0),
    ("large-50", "batched", True, 300_000.0),
    ("retail-5-family", "batched", False, 1_000_000.0),
    ("retail-5-family", "batched", True, 1_000_000.0),
]
#: The PPO settings before issue 12 (the "before" rows).
BEFORE = {
    "vec_env": "dummy", "n_envs": 8, "n_steps": 256, "batch_size": 256, "n_epochs": 10,
    "learning_rate": 3e-4, "learning_rate_schedule": "constant",
}


def _stats(values: list[float]) -> str:
    sd = statistics.stdev(values) if len(values) > 1 else float("nan")
    return f"{statistics.mean(values):>13,.0f} ± {sd:<10,.0f}"


def _make(
    name: str, mode: str, n: int, seed: int, expected: bool, threads: int | None = None, part_rows: int | None = None,
    processes: int | None = None,
) -> tuple[ChannelBudgetVectorEnv, list[np.ndarray]]:
    batched = dict(draw_pool=4096, threads=threads, part_rows=part_rows, processes=processes)
    env = ChannelBudgetVectorEnv(
        name, n, rng=mode, autoreset_mode=AutoresetMode.SAME_STEP, expected=expected,
        **(batched if mode == "batched" else {}),  # type: ignore[arg-type]
    )
    env.reset(seed=seed)
    rng = np.random.default_rng(seed)
    actions = [rng.uniform(-1, 1, env.action_space.shape).astype(np.float32) for _ in range(8)]
    env.step(actions[0])  # warm up
    return env, actions


def env_rate(
    name: str, mode: str, n: int, steps: int, seed: int, expected: bool = False, threads: int | None = None,
    part_rows: int | None = None, processes: int | None = None,
) -> tuple[float, float]:
    """(wall, CPU) env-steps per second of ``steps`` step calls of ``n`` rows (the construction,
    a family's pool included, is not timed; the resets at episode ends are)."""
    env, actions = _make(name, mode, n, seed, expected, threads, part_rows, processes)
    workers = [p.pid for p in env._procs._procs] if env._procs is not None else []
    c_workers = sum(_cpu(w) for w in workers)
    t0, c0 = time.perf_counter(), time.process_time()
    for i in range(steps):
        env.step(actions[i % 8])
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0 + sum(_cpu(w) for w in workers) - c_workers
    env.close()
    return n * steps / wall, n * steps / cpu


def _cpu(pid: int) -> float:
    """A worker process's CPU seconds so far (Linux ``/proc``; 0 elsewhere)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime, stime


def section_env(args: argparse.Namespace) -> None:
    threads = "default" if args.threads is None else args.threads
    part_rows = "default" if args.part_rows is None else f"{args.part_rows:,}"
    processes = 1 if args.processes is None else args.processes
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    print(f"\n## vector env step, N = {args.n:,}, {args.steps} steps x {args.repeats} runs (mean ± sd), "
          f"threads {threads}, part rows {part_rows}, processes {processes}, load average {load}")
    print(f"{'scenario':<18}{'rng':<9}{'expected':<10}{'env-steps/s (wall)':>26}{'per CPU-s':>26}{'target':>12}")
    for name, mode, expected, target in ENV_CASES:
        if args.cases and name not in args.cases:
            continue
        steps = max(3, args.steps // 8) if mode == "per_env" else args.steps
        runs = [
            env_rate(name, mode, args.n, steps, r, expected, args.threads, args.part_rows, args.processes)
            for r in range(args.repeats)
        ]
        tgt = "-" if target is None else f"{target:,.0f}"
        rates = f"{_stats([w for w, _ in runs])}{_stats([c for _, c in runs])}"
        print(f"{name:<18}{mode:<9}{expected!s:<10}{rates}{tgt:>12}", flush=True)


def _train(scenario: str, config: dict[str, Any]) -> tuple[float, float, int]:
    import tempfile

    from budgetgym.agents import train_ppo

    with tempfile.TemporaryDirectory() as out:
        t0, c0 = time.perf_counter(), time.process_time()
        agent = train_ppo(scenario, {"eval_freq": 0, **config}, seed=0, out_dir=out)
        return time.perf_counter() - t0, time.process_time() - c0, agent.train_steps


def section_ppo(args: argparse.Namespace) -> None:
    print(f"\n## PPO end to end on stationary-5, {args.ppo_steps:,} steps x {args.repeats} runs")
    print(f"{'settings':<34}{'env-steps/s (wall)':>26}{'per CPU-s':>26}{'wall s':>10}")
    for label, cfg in (("built-in ppo.yaml", {}), ("before (dummy, 8 x 256, 10 ep.)", BEFORE)):
        runs = [_train("stationary-5", {"total_timesteps": args.ppo_steps, **cfg}) for _ in range(args.repeats)]
        rate = [s / w for w, _, s in runs]
        cpu = [s / c for _, c, s in runs]
        print(f"{label:<34}{_stats(rate)}{_stats(cpu)}{statistics.mean(w for w, _, _ in runs):>10.1f}", flush=True)


def section_family_ppo(args: argparse.Namespace) -> None:
    print(f"\n## family PPO of bench_ppo_family.py (retail-5-family, {args.family_steps:,} steps, one run each)")
    for label, cfg in (("built-in ppo.yaml", {}), ("before (dummy, 8 x 256, 10 ep.)", BEFORE)):
        wall, cpu, steps = _train("retail-5-family", {"total_timesteps": args.family_steps, **cfg})
        print(f"{label:<34} wall {wall:8.1f} s   CPU {cpu:8.1f} s   {steps / wall:10,.0f} steps/s", flush=True)


def section_eval(args: argparse.Namespace) -> None:
    from budgetgym.agents import evaluate, make_agent
    from budgetgym.envs import load_scenario, solve_oracle

    sc = load_scenario("stationary-5")
    value = solve_oracle(sc).expected_reward  # no drift: the nominal path is every seed's path
    agent = make_agent("equal", sc)

    def oracle(*_: Any) -> float:
        return value

    print(f"\n## evaluate(equal, stationary-5), 1,000 episodes x {args.repeats} runs (oracle solved before)")
    for label, batch in (("batched", True), ("episode by episode", False)):
        walls = []
        for _ in range(args.repeats if batch else 1):
            t0 = time.perf_counter()
            rows = evaluate(agent, sc, seeds=range(1000), oracle=oracle, batch=batch)
            walls.append(time.perf_counter() - t0)
        sd = statistics.stdev(walls) if len(walls) > 1 else float("nan")
        pct = np.mean([r.pct_of_oracle for r in rows])
        print(f"{label:<20} {statistics.mean(walls):7.2f} s ± {sd:.2f}   mean {pct:.3f}% of oracle", flush=True)


def profile(name: str, n: int, steps: int) -> str:
    env, actions = _make(name, "batched", n, 0, False, threads=1)  # cProfile sees the calling thread only
    prof = cProfile.Profile(time.process_time)
    prof.enable()
    for i in range(steps):
        env.step(actions[i % 8])
    prof.disable()
    out = io.StringIO()
    pstats.Stats(prof, stream=out).strip_dirs().sort_stats("tottime").print_stats(20)
    return out.getvalue()


SECTIONS: dict[str, Callable[[argparse.Namespace], None]] = {
    "env": section_env, "ppo": section_ppo, "eval": section_eval, "family-ppo": section_family_ppo,
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sections", nargs="*", default=["env", "ppo", "eval"], choices=list(SECTIONS))
    parser.add_argument("--n", type=int, default=16_384, help="rows of the vector env (env section)")
    parser.add_argument("--steps", type=int, default=60, help="step calls per run (per_env: an eighth)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, help="threads of the batched env's row parts (default: the env's)")
    parser.add_argument("--processes", type=int, help="processes that step the batched env's row parts (default 1)")
    parser.add_argument("--part-rows", type=int, help="rows per part of the batched env (default: the env's)")
    parser.add_argument("--cases", nargs="*", help="env section: only these scenarios")
    parser.add_argument("--ppo-steps", type=int, default=200_000)
    parser.add_argument("--family-steps", type=int, default=1_000_000, help="family-ppo section: steps per run")
    parser.add_argument("--profile", metavar="SCENARIO", help="print a cProfile (CPU time) of the batched step")
    args = parser.parse_args(argv)
    with threadpool_limits(limits=1):
        if args.profile:
            print(profile(args.profile, args.n, args.steps))
            return 0
        for name in args.sections:
            SECTIONS[name](args)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
