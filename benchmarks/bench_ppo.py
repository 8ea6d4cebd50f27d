"""Benchmark: PPO on the 5-channel scenarios against fixed splits, over several training seeds.

For each scenario (stationary-5, seasonal-5, shock-5 — those that exist) and each training
seed, trains PPO with :func:`budgetgym.agents.ppo.train_ppo` (built-in ``ppo.yaml``,
``--timesteps`` steps, at most 200k), evaluates it with :func:`budgetgym.agents.evaluate` on
the evaluation seeds (the same for every training seed and baseline), and reports

* the mean % of oracle over training seeds with a 95% t-interval (each training seed's score is
  its mean over the evaluation seeds),
* the fixed splits on the same evaluation episodes: ``equal`` (action 0) and, when the
  registry has it, ``proportional``,
* the training wall time per seed on this machine.

Rows are appended to ``<out>/results.jsonl`` as they finish (a killed run keeps its results);
``--summary`` prints the table of an existing results file. Oracle solutions are cached per
episode path within the process (the evaluator itself re-solves each episode; a stationary
scenario has one path for every seed).

Usage::

    python benchmarks/bench_ppo.py --seeds 5 --scenarios stationary-5 --timesteps 200000
    python benchmarks/bench_ppo.py --summary --out runs/bench_ppo
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import importlib
import json
import math
import platform
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

import budgetgym.agents.ppo as ppo
from budgetgym.agents import evaluate, list_agents, make_agent
from budgetgym.envs import ChannelBudgetEnv, list_scenarios, load_scenario
from budgetgym.envs.oracle import solve_oracle

DEFAULT_SCENARIOS = ["stationary-5", "seasonal-5", "shock-5"]
MAX_TIMESTEPS = 200_000


def _cache_oracle() -> None:
    """Memoise the evaluator's oracle on (scenario, path): identical episodes are solved once."""
    mod = importlib.import_module("budgetgym.agents.evaluation")
    cache: dict[str, Any] = {}

    def cached(scenario: Any, seed: Any = None, *, path: Any = None, **kw: Any) -> Any:
        sc = load_scenario(scenario)
        if path is None:
            return solve_oracle(sc, seed, **kw)
        h = hashlib.sha256(sc.model_dump_json().encode())
        for arr in (path.cost, path.response):
            h.update(np.ascontiguousarray(arr, dtype=np.float64).tobytes())
        key = h.hexdigest()
        if key not in cache:
            cache[key] = solve_oracle(sc, path=path, **kw)
        return cache[key]

    mod.solve_oracle = cached  # type: ignore[attr-defined]


class EqualSplit:
    """Action 0: the equal split (projected onto the share bounds), B/T per step."""

    name = "equal"

    def __init__(self, env: ChannelBudgetEnv):
        self.shape = env.action_space.shape

    def predict(
        self,
        observation: Any,
        state: Any = None,
        episode_start: Any = None,
        deterministic: bool = True,
    ):
        return np.zeros(self.shape, np.float32), state


def _baselines(sc_name: str) -> dict[str, Any]:
    """The fixed splits: the registry's ``equal`` (and ``proportional`` when it can be built).

    ``proportional`` needs user-given weights; without a principled choice it is skipped
    (its construction error is printed).
    """
    with contextlib.suppress(ImportError):  # register the fixed-split agents if not yet done
        importlib.import_module("budgetgym.agents.fixed")
    env = ChannelBudgetEnv(sc_name)
    out: dict[str, Any] = {}
    registry = list_agents()
    out["equal"] = make_agent("equal", env) if "equal" in registry else EqualSplit(env)
    if "proportional" in registry:
        try:
            out["proportional"] = make_agent("proportional", env)
        except Exception as err:  # noqa: BLE001 - report and go on
            print(f"  proportional: not available ({err})", flush=True)
    return out


def _score(agent: Any, sc_name: str, eval_seeds: list[int]) -> list[float]:
    return [r.pct_of_oracle for r in evaluate(agent, sc_name, seeds=eval_seeds, learn=True)]


def _append(path: Path, row: dict[str, Any]) -> None:
    with path.open("a", encoding="utf-8") as fh:
        fh.write(json.dumps(row) + "\n")


def _ci95(values: list[float]) -> tuple[float, float]:
    """Mean and half-width of the 95% t-interval (nan half-width for one value)."""
    x = np.asarray(values, dtype=float)
    if len(x) < 2:
        return float(x.mean()), float("nan")
    from scipy import stats

    half = stats.t.ppf(0.975, len(x) - 1) * x.std(ddof=1) / math.sqrt(len(x))
    return float(x.mean()), float(half)


def summarise(results: Path) -> str:
    rows = [
        json.loads(line)
        for line in results.read_text(encoding="utf-8").splitlines()
        if line.strip()
    ]
    lines = [
        f"{'scenario':<14}{'agent':<14}{'n':>3}{'% of oracle':>14}{'95% CI':>18}"
        f"{'train s/seed':>14}{'steps':>9}"
    ]
    for sc in dict.fromkeys(r["scenario"] for r in rows):
        for agent in dict.fromkeys(r["agent"] for r in rows if r["scenario"] == sc):
            rs = [r for r in rows if r["scenario"] == sc and r["agent"] == agent]
            mean, half = _ci95([r["pct_of_oracle"] for r in rs])
            ci = f"[{mean - half:.2f}, {mean + half:.2f}]" if math.isfinite(half) else "-"
            wall = (
                np.mean([r["train_wall_s"] for r in rs])
                if rs[0].get("train_wall_s")
                else float("nan")
            )
            steps = rs[0].get("train_steps", 0)
            lines.append(
                f"{sc:<14}{agent:<14}{len(rs):>3}{mean:>14.2f}{ci:>18}"
                f"{(f'{wall:.0f}' if math.isfinite(wall) else '-'):>14}{steps:>9}"
            )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, default=5, help="training seeds 0..N-1 (default 5)")
    ap.add_argument("--first-seed", type=int, default=0)
    ap.add_argument("--scenarios", nargs="+", default=DEFAULT_SCENARIOS)
    ap.add_argument(
        "--timesteps", type=int, default=MAX_TIMESTEPS, help=f"training steps (<= {MAX_TIMESTEPS})"
    )
    ap.add_argument("--eval-seeds", type=int, default=3, help="evaluation episodes (seeds 10000..)")
    ap.add_argument("--out", default="runs/bench_ppo")
    ap.add_argument(
        "--summary", action="store_true", help="only print the table of <out>/results.jsonl"
    )
    args = ap.parse_args(argv)
    out = Path(args.out)
    results = out / "results.jsonl"
    if args.summary:
        print(summarise(results))
        return 0
    if not 1 <= args.timesteps <= MAX_TIMESTEPS:
        ap.error(f"--timesteps must be in 1..{MAX_TIMESTEPS}")
    out.mkdir(parents=True, exist_ok=True)
    _cache_oracle()
    eval_seeds = list(range(10_000, 10_000 + args.eval_seeds))
    available = set(list_scenarios())
    print(
        f"# bench_ppo  {platform.node()}  {platform.processor() or platform.machine()}  "
        f"python {sys.version.split()[0]}"
    )
    print(
        f"# timesteps {args.timesteps}, "
        f"seeds {args.first_seed}..{args.first_seed + args.seeds - 1}, "
        f"eval seeds {eval_seeds}"
    )
    for sc in args.scenarios:
        if sc not in available:
            print(f"{sc}: not a built-in scenario yet - skipped", flush=True)
            continue
        t0 = time.perf_counter()
        for name, agent in _baselines(sc).items():
            scores = _score(agent, sc, eval_seeds)
            row = {
                "scenario": sc,
                "agent": name,
                "seed": None,
                "pct_of_oracle": float(np.mean(scores)),
                "per_eval_seed": scores,
                "train_wall_s": None,
                "train_steps": 0,
            }
            _append(results, row)
            print(
                f"{sc} {name}: {row['pct_of_oracle']:.2f}% of oracle "
                f"{np.round(scores, 2).tolist()}",
                flush=True,
            )
        print(f"  (baselines incl. oracle solves: {time.perf_counter() - t0:.0f}s)", flush=True)
        for seed in range(args.first_seed, args.first_seed + args.seeds):
            t0 = time.perf_counter()
            agent = ppo.train_ppo(
                sc,
                {"total_timesteps": args.timesteps},
                seed=seed,
                out_dir=out / sc / f"seed_{seed}",
            )
            wall = time.perf_counter() - t0
            t1 = time.perf_counter()
            scores = _score(agent, sc, eval_seeds)
            row = {
                "scenario": sc,
                "agent": "ppo",
                "seed": seed,
                "pct_of_oracle": float(np.mean(scores)),
                "per_eval_seed": scores,
                "train_wall_s": wall,
                "train_steps": agent.train_steps,
                "eval_wall_s": time.perf_counter() - t1,
            }
            _append(results, row)
            print(
                f"{sc} ppo seed {seed}: {row['pct_of_oracle']:.2f}% of oracle "
                f"{np.round(scores, 2).tolist()} "
                f"train {wall:.0f}s",
                flush=True,
            )
    print(summarise(results))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
