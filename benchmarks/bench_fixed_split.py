"""The best constant split in hindsight: an upper bound for every fixed-split agent.

For each scenario, searches the split ``q`` (one share vector, played every step at
budget/horizon, projected onto the share bounds) that maximises the expected episode
reward under the TRUE parameters (nominal path), by Nelder-Mead over softmax logits from
several seeded starts, and prints it as % of the oracle. A fixed-split agent chosen by a
planner can at best reach this value; it is the strict reading of "the best fixed split".

Run: ``python benchmarks/bench_fixed_split.py [SCENARIO ...]`` (default: the 5-channel ones).
"""

from __future__ import annotations

import sys

import numpy as np
from scipy.optimize import minimize

from budgetgym.envs import evaluate_plan, load_scenario, solve_oracle
from budgetgym.envs.allocation import project_bounded_simplex
from budgetgym.envs.dynamics import ChannelModel

DEFAULT = ["stationary-5", "seasonal-5", "shock-5", "drift-5", "s-curve-5", "delayed-5"]


def best_constant_split(name: str, starts: int = 6) -> tuple[float, np.ndarray]:
    """(% of oracle, shares) of the best constant split of scenario ``name``."""
    sc = load_scenario(name)
    m = ChannelModel.from_scenario(sc)
    oracle = solve_oracle(sc).expected_reward

    def shares(z: np.ndarray) -> np.ndarray:
        p = np.exp(z - z.max())
        return project_bounded_simplex(p / p.sum(), m.low_share, m.high_share)

    def loss(z: np.ndarray) -> float:
        plan = np.tile(shares(z) * sc.step_budget, (sc.horizon, 1))
        return -float(evaluate_plan(sc, plan)) / oracle

    best_val, best_z = -np.inf, np.zeros(sc.n_channels)
    for s in range(starts):
        z0 = np.random.default_rng(s).normal(size=sc.n_channels) if s else np.zeros(sc.n_channels)
        r = minimize(loss, z0, method="Nelder-Mead", options={"maxiter": 4000, "xatol": 1e-6, "fatol": 1e-9})
        if -r.fun > best_val:
            best_val, best_z = -r.fun, r.x
    return 100.0 * best_val, shares(best_z)


def main(argv: list[str]) -> None:
    print(f"{'scenario':<14}{'best constant split, % of oracle':>34}   shares")
    for name in argv or DEFAULT:
        pct, q = best_constant_split(name)
        print(f"{name:<14}{pct:>34.2f}   {np.round(q, 3).tolist()}")


if __name__ == "__main__":
    main(sys.argv[1:])
