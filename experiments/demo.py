"""A quick look at one scenario without agents: the equal split vs the oracle.

The main job is ``budgetgym run`` (the experiment CLI); this demo answers "how far is the
naive equal split from the best possible plan here?" in a few seconds.

Run ``python -m budgetgym.experiments.demo [--scenario NAME|PATH] [--seed N] [--out DIR]``.
It prints a per-channel table and the totals (expected reward of each plan, the
equal split's % of oracle, and one realised, noisy episode of each played
through the environment), and writes three PNG plots and ``summary.json`` to
``--out``. Every file is written to a temporary name and renamed into place.

The computation is a library function, :func:`run_demo`; the command line only
parses arguments, prints and saves.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn

import numpy as np

from budgetgym.agents.evaluation import pct_of_oracle
from budgetgym.envs import (
    BudgetGymError,
    ChannelBudgetEnv,
    Scenario,
    evaluate_plan,
    load_scenario,
    solve_oracle,
    split_to_action,
)
from budgetgym.envs.allocation import spend_to_pacing_action
from budgetgym.envs.constant_split import equal_split_shares
from budgetgym.envs.dynamics import ChannelModel
from budgetgym.envs.io import atomic_write
from budgetgym.envs.oracle import OracleResult
from budgetgym.experiments.wording import count

__all__ = ["DemoResult", "run_demo", "main"]


@dataclass(frozen=True)
class DemoResult:
    scenario: Scenario
    seed: int
    equal_plan: np.ndarray
    equal_expected: float
    oracle: OracleResult
    equal_realised: float
    oracle_realised: float
    equal_trace: np.ndarray  # [T] expected reward per step, played through the env
    oracle_trace: np.ndarray

    @property
    def pct_of_oracle(self) -> float:
        """The equal split's score, by the evaluator's one definition (nan unless the oracle earns)."""
        return pct_of_oracle(self.equal_expected, self.oracle.expected_reward)


def equal_split_plan(scenario: Scenario) -> np.ndarray:
    """Every step spends budget/horizon, split by :func:`~budgetgym.envs.constant_split.equal_split_shares`."""
    return np.tile(equal_split_shares(scenario) * scenario.step_budget, (scenario.horizon, 1))


def play_plan(scenario: Scenario, plan: np.ndarray, seed: int) -> tuple[float, np.ndarray]:
    """Play a spend plan through the environment; returns (realised reward, expected reward per step).

    The expected rewards are :func:`~budgetgym.envs.plan_value.evaluate_plan` (``per_step=True``)
    of the spend the environment actually made, on the episode's path.
    """
    env = ChannelBudgetEnv(scenario)
    env.reset(seed=seed)
    K = scenario.n_channels
    total, spent = 0.0, np.zeros((scenario.horizon, K))
    for t in range(scenario.horizon):
        step_total = plan[t].sum()
        split = plan[t] / step_total if step_total > 0 else np.full(K, 1.0 / K)
        action = split_to_action(split, scenario.action.logit_scale)
        if env.agent_pacing:
            remaining = env.budget - env.cumulative_spend
            action = np.append(action, spend_to_pacing_action(step_total, remaining, env.step_cap))
        _, reward, _, _, info = env.step(action.astype(np.float32))
        total += float(reward)
        spent[t] = info["spend"]
    return total, np.asarray(evaluate_plan(scenario, spent, path=env.path, per_step=True))


def run_demo(scenario: str | Path | Scenario = "stationary-5", seed: int = 0) -> DemoResult:
    """Equal split vs the oracle (hindsight plan for ``seed``) on one scenario."""
    sc = load_scenario(scenario)
    oracle = solve_oracle(sc, seed=seed)
    equal = equal_split_plan(sc)
    equal_expected = float(evaluate_plan(sc, equal, path=oracle.path))
    eq_real, eq_trace = play_plan(sc, equal, seed)
    or_real, or_trace = play_plan(sc, oracle.plan, seed)
    return DemoResult(sc, seed, equal, equal_expected, oracle, eq_real, or_real, eq_trace, or_trace)


# ------------------------------------------------------------------ output
def format_table(res: DemoResult) -> str:
    sc, o = res.scenario, res.oracle
    spend_eq = res.equal_plan.sum(axis=0)
    spend_or = o.plan.sum(axis=0)
    lines = [
        f"scenario {sc.name}: {count(sc.n_channels, 'channel')}, {count(sc.horizon, 'step')}, "
        f"budget {sc.budget.total:,.0f}, "
        f"reward = {sc.reward}, seed {res.seed}",
        "",
        f"{'channel':<16}{'equal spend':>14}{'oracle spend':>14}{'oracle share':>14}",
    ]
    for i, name in enumerate(sc.channel_names):
        lines.append(
            f"{name:<16}{spend_eq[i]:>14,.0f}{spend_or[i]:>14,.0f}{spend_or[i] / max(spend_or.sum(), 1e-12):>14.1%}"
        )
    lines += [
        "",
        f"{'plan':<16}{'expected':>14}{'% of oracle':>14}{'realised':>14}",
        f"{'equal split':<16}{res.equal_expected:>14,.1f}{res.pct_of_oracle:>13.1f}%{res.equal_realised:>14,.1f}",
        f"{'oracle':<16}{o.expected_reward:>14,.1f}{100.0:>13.1f}%{res.oracle_realised:>14,.1f}",
        "",
        f"oracle solved in {o.seconds * 1000:.0f} ms ({count(o.starts, 'start')}, "
        f"{'concave' if o.concave else 'non-concave'} problem)",
    ]
    return "\n".join(lines)


def save_outputs(res: DemoResult, out: Path) -> list[Path]:
    """Write summary.json and three plots into ``out`` (atomically). Returns the paths."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    sc, o = res.scenario, res.oracle
    steps = np.arange(sc.horizon)
    written = []

    fig, ax = plt.subplots(figsize=(8, 4.5))
    ax.stackplot(steps, o.plan.T, labels=sc.channel_names)
    ax.set(xlabel="step", ylabel="spend per step", title=f"Oracle allocation over time — {sc.name}")
    ax.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0), fontsize=8)
    fig.tight_layout()
    written.append(_save_fig(fig, out / "oracle_allocation.png"))

    fig, ax = plt.subplots(figsize=(8, 4.5))
    ax.plot(steps, np.cumsum(res.oracle_trace), label="oracle plan")
    ax.plot(steps, np.cumsum(res.equal_trace), label="equal split")
    ax.set(xlabel="step", ylabel=f"cumulative expected {sc.reward}", title="Cumulative expected reward")
    ax.legend()
    fig.tight_layout()
    written.append(_save_fig(fig, out / "cumulative_reward.png"))

    m = ChannelModel.from_scenario(sc)
    x = np.linspace(0.0, sc.step_budget, 200)[:, None]
    steady = m.steady_state_reward(x)
    fig, ax = plt.subplots(figsize=(8, 4.5))
    for i, name in enumerate(sc.channel_names):
        ax.plot(x[:, 0], steady[:, i], label=name)
    ax.set(
        xlabel="spend per step (held constant)",
        ylabel=f"steady-state expected {sc.reward} per step",
        title="Response curves (nominal season, full carry-over)",
    )
    ax.legend(fontsize=8)
    fig.tight_layout()
    written.append(_save_fig(fig, out / "response_curves.png"))

    summary = {
        "scenario": sc.name,
        "seed": res.seed,
        "equal_expected_reward": res.equal_expected,
        "oracle_expected_reward": o.expected_reward,
        "equal_pct_of_oracle": res.pct_of_oracle,
        "equal_realised_reward": res.equal_realised,
        "oracle_realised_reward": res.oracle_realised,
        "oracle_spend_by_channel": dict(zip(sc.channel_names, o.plan.sum(axis=0).tolist(), strict=True)),
        "config": sc.model_dump(mode="json"),
    }
    path = out / "summary.json"
    atomic_write(path, lambda tmp: Path(tmp).write_text(json.dumps(summary, indent=2)))
    written.append(path)
    return written


def _save_fig(fig: Any, path: Path) -> Path:
    import matplotlib.pyplot as plt

    atomic_write(path, lambda tmp: fig.savefig(tmp, dpi=110, format="png"))
    plt.close(fig)
    return path


class _UsageError(Exception):
    """A malformed command line (argparse's message), printed in one line as every budgetgym usage error."""


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage error raises :class:`_UsageError` instead of printing the usage block and exiting."""

    def error(self, message: str) -> NoReturn:
        raise _UsageError(f"{' '.join(message.split())} (see '{self.prog} --help')")


def main(argv: list[str] | None = None) -> int:
    """Run the demo with ``argv`` (default ``sys.argv[1:]``); returns the exit code (2 for bad input)."""
    parser = _Parser(prog="python -m budgetgym.experiments.demo", description=__doc__.splitlines()[0])
    parser.add_argument("--scenario", default="stationary-5", help="built-in name or YAML path")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=Path("out/demo"), help="folder for plots and summary.json")
    try:
        args = parser.parse_args(argv)
    except _UsageError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    try:
        if args.seed < 0:
            raise BudgetGymError(f"--seed: expected a non-negative integer, got {args.seed}")
        res = run_demo(args.scenario, args.seed)
        print(format_table(res))
        paths = save_outputs(res, args.out)
    except BudgetGymError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    except OSError as err:
        print(f"error: cannot write to '{args.out}': {err.strerror or err}", file=sys.stderr)
        return 2
    print("\nwrote " + ", ".join(str(p) for p in paths))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
