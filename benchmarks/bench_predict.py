"""CPU time of one ``predict`` call of the online learners, per step, on built-in scenarios.

Plays 28 steps (best of 3 repetitions, one BLAS thread) and prints the mean process CPU time of
``predict``: CPU time, not wall time, so another process on the machine barely moves it.

    python benchmarks/bench_predict.py [AGENT ...]
"""

from __future__ import annotations

import argparse
import sys
import time
from typing import Any

import numpy as np
from threadpoolctl import threadpool_limits

from budgetgym.agents import make_agent
from budgetgym.envs import ChannelBudgetEnv

SCENARIOS = ["stationary-5", "s-curve-5", "seasonal-5", "large-50"]


def predict_seconds(agent: Any, env: ChannelBudgetEnv, seed: int, steps: int | None = None) -> list[float]:
    """Process CPU time of each ``predict`` over an episode of ``env`` from ``seed`` (its first ``steps`` steps),
    the agent learning from every step it plays (``bench_model_thompson.py --predict-ms`` times it too)."""
    agent.reset(seed=seed)
    obs, _ = env.reset(seed=seed)
    spent = []
    for _ in range(env.horizon if steps is None else min(env.horizon, steps)):
        t0 = time.process_time()
        action, _ = agent.predict(obs)
        spent.append(time.process_time() - t0)
        nxt, reward, _, _, info = env.step(action)
        agent.update(obs, action, float(reward), nxt, info)
        obs = nxt
    return spent


def predict_cpu_ms(agent_name: str, scenario: str, steps: int = 28, reps: int = 3) -> float:
    """The mean CPU ms of ``predict`` over ``steps`` steps from seed 0, best of ``reps`` episodes."""
    env = ChannelBudgetEnv(scenario)
    agent = make_agent(agent_name, env)
    return 1e3 * min(float(np.mean(predict_seconds(agent, env, 0, steps))) for _ in range(reps))


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
