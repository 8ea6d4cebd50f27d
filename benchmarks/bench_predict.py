"""CPU time of one ``predict`` call of the online learners, per step, on built-in scenarios.

Plays 28 steps (best of 3 repetitions, one BLAS thread) and prints the mean process CPU time of
``predict``: CPU time, not wall time, so another process on the machine barely moves it.

    python benchmarks/bench_predict.py [AGENT ...]
"""

from __future__ import annotations

import argparse
import sys
import time

import numpy as np
from threadpoolctl import threadpool_limits

from budgetgym.agents import make_agent
from budgetgym.envs import ChannelBudgetEnv

SCENARIOS = ["stationary-5", "s-curve-5", "seasonal-5", "large-50"]


def predict_cpu_ms(agent_name: str, scenario: str, steps: int = 28, reps: int = 3) -> float:
    env = ChannelBudgetEnv(scenario)
    agent = make_agent(agent_name, env)
    best = np.inf
    for _ in range(reps):
        agent.reset(seed=0)
        obs, _ = env.reset(seed=0)
        times = []
        for _ in range(min(env.horizon, steps)):
            t0 = time.process_time()
            action, _ = agent.predict(obs)
            times.append(time.process_time() - t0)
            nxt, reward, _, _, info = env.step(action)
            agent.update(obs, action, float(reward), nxt, info)
            obs = nxt
        best = min(best, float(np.mean(times)))
    return 1e3 * best


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("agents", nargs="*", metavar="AGENT", help="registry names (default: model_thompson greedy)")
    agents = parser.parse_args(argv).agents or ["model_thompson", "greedy"]
    print(f"{'agent':<16}{'scenario':<14}{'predict, ms CPU per step':>26}")
    with threadpool_limits(limits=1):
        for name in agents:
            for sc in SCENARIOS:
                print(f"{name:<16}{sc:<14}{predict_cpu_ms(name, sc):>26.2f}")


if __name__ == "__main__":
    main(sys.argv[1:])
