"""Environment step speed: ``env.step`` calls per second on pre-generated random actions.

Usage::

    python benchmarks/bench_env.py                   # stationary-5, large-50, CartPole-v1
    python benchmarks/bench_env.py --steps 50000     # longer runs
    python benchmarks/bench_env.py --profile stationary-5   # cProfile of the step loop

Only ``env.step`` is timed: actions are drawn before the clock starts and ``reset`` (at the
end of each episode) is outside the timed sections. Targets: stationary-5 >= 15,000 steps/s,
large-50 >= 5,000 steps/s. CartPole-v1 (through ``gym.make``, with its wrappers) is printed
for reference only. The figures depend on the machine and its load; run on an idle machine.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import pstats
import sys
import time

import gymnasium as gym
import numpy as np

from budgetgym.envs import ChannelBudgetEnv, list_scenarios, load_scenario, scenario_from_dict

TARGETS = {"stationary-5": 15_000.0, "large-50": 5_000.0}


def _large_50_fallback():
    """A 50-channel concave scenario, used only if the built-in large-50 does not exist."""
    rng = np.random.default_rng(20240501)
    channels = []
    for i in range(50):
        channels.append(
            {
                "name": f"ch{i:02d}",
                "cost": {
                    "unit": "impression",
                    "price": float(rng.uniform(2, 20)),
                    "ref_spend": float(rng.uniform(2000, 10000)),
                    "elasticity": float(rng.uniform(0.1, 0.6)),
                    "noise_sd": 0.08,
                },
                "adstock": {"type": "geometric", "decay": float(rng.uniform(0.0, 0.7))},
                "saturation": {
                    "type": "hill",
                    "max_response": float(rng.uniform(50, 400)),
                    "half_saturation": float(rng.uniform(1e5, 2e6)),
                    "slope": float(rng.uniform(0.6, 1.0)),
                },
            }
        )
    return scenario_from_dict(
        {
            "name": "large-50-fallback",
            "horizon": 28,
            "budget": {"total": 3_360_000, "pacing": "even"},
            "channels": channels,
        }
    )


def make_env(name: str) -> gym.Env:
    if name == "CartPole-v1":
        return gym.make("CartPole-v1")
    if name == "large-50" and name not in list_scenarios():
        print(
            "note: built-in large-50 not found; using a generated 50-channel scenario",
            file=sys.stderr,
        )
        return ChannelBudgetEnv(_large_50_fallback())
    return ChannelBudgetEnv(load_scenario(name))


def steps_per_second(env: gym.Env, n_steps: int, seed: int = 0, clock=time.perf_counter) -> float:
    """Time ``n_steps`` calls of ``env.step`` (resets excluded) on seeded random actions.
    ``clock=time.process_time`` counts CPU time instead (robust to other load on the machine)."""
    rng = np.random.default_rng(seed)
    space = env.action_space
    if isinstance(space, gym.spaces.Discrete):
        actions = list(rng.integers(0, space.n, n_steps))
    else:
        lo, hi = space.low, space.high
        actions = list(rng.uniform(lo, hi, (n_steps, *space.shape)).astype(space.dtype))
    env.reset(seed=seed)
    step = env.step
    elapsed = 0.0
    i = 0
    while i < n_steps:
        t0 = clock()
        while i < n_steps:
            _, _, terminated, truncated, _ = step(actions[i])
            i += 1
            if terminated or truncated:
                break
        elapsed += clock() - t0
        if i < n_steps:
            env.reset()
    return n_steps / elapsed


def profile(name: str, n_steps: int, top: int = 25) -> str:
    env = make_env(name)
    steps_per_second(env, 200)  # warm up
    prof = cProfile.Profile()
    prof.enable()
    steps_per_second(env, n_steps)
    prof.disable()
    out = io.StringIO()
    stats = pstats.Stats(prof, stream=out).strip_dirs().sort_stats("tottime")
    stats.print_stats(top)
    return out.getvalue()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=20_000, help="timed steps per environment")
    parser.add_argument(
        "--repeats", type=int, default=3, help="runs per environment; the best is reported"
    )
    parser.add_argument("--envs", nargs="*", default=["stationary-5", "large-50", "CartPole-v1"])
    parser.add_argument(
        "--profile", metavar="SCENARIO", help="print a cProfile of the step loop and exit"
    )
    args = parser.parse_args(argv)

    if args.profile:
        print(profile(args.profile, args.steps))
        return 0

    rows = []
    for name in args.envs:
        env = make_env(name)
        steps_per_second(env, 500)  # warm up (imports, caches)
        runs = [steps_per_second(env, args.steps, seed=r) for r in range(args.repeats)]
        cpu = steps_per_second(env, args.steps, seed=99, clock=time.process_time)
        target = TARGETS.get(name)
        rows.append((name, env.action_space.shape, max(runs), float(np.median(runs)), cpu, target))
        env.close()

    print(f"env.step speed: {args.steps} steps x {args.repeats} runs, resets excluded")
    print(
        f"{'environment':<16}{'action':>9}{'best steps/s':>15}{'median':>12}{'per CPU-s':>12}{'target':>10}  status"
    )
    ok = True
    for name, shape, best, med, cpu, target in rows:
        status = "-" if target is None else ("ok" if best >= target else "BELOW TARGET")
        ok &= target is None or best >= target
        tgt = "-" if target is None else f"{target:,.0f}"
        print(f"{name:<16}{shape!s:>9}{best:>15,.0f}{med:>12,.0f}{cpu:>12,.0f}{tgt:>10}  {status}")
    print("status compares the best wall-clock figure; 'per CPU-s' counts process CPU time only")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
