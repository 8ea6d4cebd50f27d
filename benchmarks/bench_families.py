"""Benchmark of agents on held-out draws of scenario families: % of oracle per draw, and the draw kinds lost on.

Every agent plays draws ``0 .. N-1`` of a family's **test** split (never trained on), one
episode each (evaluation seed 0), through
``evaluate(agent, family, seeds=[0], draws=N, split="test")``; each draw is scored against the
oracle **of its own draw** on the episode's path (solved once per draw and shared by all
agents). Columns: the mean % of oracle over the draws with its 95% interval (stratified
bootstrap over draws, :func:`budgetgym.experiments.stats.mean_interval`), the worst draw, and
the agent's wall time per episode.

Besides the registered agents (``model_thompson``, ``greedy``, ``equal``, ... with default
parameters), ``best_constant`` is **the per-draw best constant split**: one share vector
played at ``B/T`` every step (at its best even step spend, at most ``B/T``, under agent pacing
with a profit reward), chosen in hindsight with the draw's true parameters on its
nominal path (:func:`budgetgym.envs.best_constant_split`), then scored on the episode's path like
the agents. It is the upper bound of every fixed-split agent, draw by draw.

Draw kinds. Each draw is tagged by what its channels and campaign drew: per channel the curve
(``hill<=1`` concave Hill, ``hill>1`` S-shaped Hill, ``logistic``), the adstock kind and the
delay kind, and per campaign the conversion-noise kind, drift or none and the shock kinds. For
every tag present in some but not all draws, the table gives each agent's mean % of oracle over
the draws with the tag (a per-channel tag: on at least one channel; ``hill>1@<channel>``: that
channel is S-shaped) and the difference from the draws without it; "loses on" lists, per agent,
the tags whose draws score at least 1 point lower than the rest (each side at least 5 draws),
worst first, and the agent's three worst draws with their tags. The differences are marginal,
not adjusted for the other kinds a draw has. Last, per agent, the three drawn numbers (dotted
field paths) whose values are most rank-correlated with its score over the draws — for a family
like retail-5-family whose draws all have the same kinds, this says which parameters it loses
on (with 50 draws, |rho| above about 0.28 is unlikely by chance for one field, but dozens of
fields are tried: read the top ones as leads).

Targets (issue 9), checked without ``--quick``: on ``retail-5-family``, ``model_thompson`` >= 95%
and ``greedy`` >= 93% of the oracle (mean over >= 50 held-out draws); exit status 1 when missed.

Usage::

    python benchmarks/bench_families.py [--families retail-5-family wide-family]
        [--draws 50] [--agents model_thompson greedy equal best_constant] [--quick] [--json out.json]

``--quick``: 8 draws, for a smoke run (no target check). A full run (2 families x 50 draws) takes
tens of minutes on a shared 2-core machine, most of it in the oracle of S-shaped draws.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from typing import Any

import numpy as np
from scipy.stats import spearmanr

from budgetgym.agents.base import make_agent
from budgetgym.agents.evaluation import episode_seed, evaluate, pct_of_oracle, solving_oracle
from budgetgym.envs import ChannelBudgetEnv, Scenario, ScenarioPath, best_constant_split, evaluate_plan, scenario_path
from budgetgym.envs.dynamics import ChannelModel
from budgetgym.envs.family import ScenarioFamily, load_family
from budgetgym.experiments.stats import mean_interval

DEFAULT_FAMILIES = ["retail-5-family", "wide-family"]
DEFAULT_AGENTS = ["model_thompson", "greedy", "equal", "best_constant"]
TARGETS = {("retail-5-family", "model_thompson"): 95.0, ("retail-5-family", "greedy"): 93.0}
EPISODE_SEED = episode_seed(0, 0)  # the one evaluation episode of every draw
LOSS_POINTS = 1.0  # a tag is "lost on" when its draws score this much below the others
MIN_TAG_DRAWS = 5  # ... and at least this many draws have it and this many do not
WORST_DRAWS = 3
TOP_FIELDS = 3


# ------------------------------------------------------------------ best constant split
def best_constant_rows(
    family: ScenarioFamily, draws: int, oracle_reward: dict[int, float], split: str = "test"
) -> tuple[list[dict[str, Any]], str]:
    """Rows of the per-draw best constant split: chosen on the draw's nominal path, scored on the
    path of the evaluation episode (seed 0) against that episode's oracle value."""
    rows = []
    for d in range(draws):
        sc = family.sample(d, split)  # type: ignore[arg-type]
        t0 = time.perf_counter()
        q = np.asarray(best_constant_split(sc, path=scenario_path(sc, None)).shares, dtype=float)
        plan = np.tile(q * sc.step_budget, (sc.horizon, 1))
        value = float(evaluate_plan(sc, plan, path=scenario_path(sc, EPISODE_SEED)))
        rows.append(
            {"draw": d, "agent": "best_constant", "pct": pct_of_oracle(value, oracle_reward[d]),
             "wall_s": time.perf_counter() - t0, "shares": np.round(q, 4).tolist()}
        )
    return rows, "budgetgym.envs.best_constant_split"


# ------------------------------------------------------------------------- draw tags
def curve_kind(channel: Any) -> str:
    sat = channel.saturation
    if sat.type == "logistic":
        return "logistic"
    return "hill>1" if sat.slope > 1 else "hill<=1"


def draw_tags(sc: Scenario) -> list[str]:
    """The kinds a draw is made of (module docstring)."""
    tags = {f"curve={curve_kind(c)}" for c in sc.channels}
    tags |= {f"adstock={c.adstock.type}" for c in sc.channels}
    tags |= {f"delay={c.delay.type}" for c in sc.channels}
    tags |= {f"hill>1@{c.name}" for c in sc.channels if curve_kind(c) == "hill>1"}
    tags.add(f"noise={sc.noise.conversions}")
    drifts = sc.drift.sd > 0 or any((c.drift_sd or 0) > 0 for c in sc.channels)
    tags.add("drift=yes" if drifts else "drift=no")
    tags |= {f"shock={s.kind}" for s in sc.shocks} or {"shock=none"}
    return sorted(tags)


# --------------------------------------------------------------------------- running
def run_family(name: str, draws: int, agents: list[str]) -> dict[str, Any]:
    """Every agent on draws ``0 .. draws-1`` of the family's test split."""
    family = load_family(name)
    solve = solving_oracle()
    oracle_s: dict[int, tuple[float, float]] = {}  # draw -> (wall, process CPU) seconds of its solve

    def timed_oracle(sc: Scenario, draw: int | None, env_seed: int, path: ScenarioPath) -> float:
        t0, c0 = time.perf_counter(), time.process_time()
        value = solve(sc, draw, env_seed, path)
        if draw is not None and draw not in oracle_s:
            oracle_s[draw] = (time.perf_counter() - t0, time.process_time() - c0)
        return value

    rows: list[dict[str, Any]] = []
    oracle_reward: dict[int, float] = {}
    constant_source = ""
    for agent_name in agents:
        t0 = time.perf_counter()
        if agent_name == "best_constant":
            if not oracle_reward:  # no agent ran before: solve the episodes' oracles here
                for d in range(draws):
                    sc = family.sample(d, "test")
                    oracle_reward[d] = timed_oracle(sc, d, EPISODE_SEED, scenario_path(sc, EPISODE_SEED))
            new, constant_source = best_constant_rows(family, draws, oracle_reward)
            rows += new
        else:
            agent = make_agent(agent_name, ChannelBudgetEnv(family))
            for r in evaluate(agent, family, seeds=[0], draws=draws, split="test", oracle=timed_oracle):
                assert r.draw is not None
                oracle_reward[r.draw] = r.oracle_reward
                rows.append({"draw": r.draw, "agent": agent_name, "pct": r.pct_of_oracle, "wall_s": r.wall_s})
        print(f"  {name}: {agent_name} done in {time.perf_counter() - t0:.1f} s", file=sys.stderr, flush=True)
    tags = {d: draw_tags(family.sample(d, "test")) for d in range(draws)}
    concave = {d: ChannelModel.from_scenario(family.sample(d, "test")).is_concave for d in range(draws)}
    return {"family": name, "draws": draws, "agents": agents, "rows": rows, "tags": tags,
            "oracle_s": oracle_s, "concave": concave, "constant_source": constant_source}


# --------------------------------------------------------------------------- reports
def numeric_fields(sc: Scenario) -> dict[str, float]:
    """Every number of a draw by dotted path (channels by name): ``channels.video.adstock.decay``."""
    out: dict[str, float] = {}

    def walk(node: Any, path: str) -> None:
        if isinstance(node, dict):
            for k, v in node.items():
                walk(v, f"{path}.{k}" if path else str(k))
        elif isinstance(node, list):
            for j, v in enumerate(node):
                walk(v, f"{path}.{v['name'] if isinstance(v, dict) and 'name' in v else j}")
        elif isinstance(node, (int, float)) and not isinstance(node, bool):
            out[path] = float(node)

    walk(sc.model_dump(mode="json"), "")
    return out


def parameter_correlations(family: ScenarioFamily, draws: int, pct: dict[str, np.ndarray]) -> dict[str, list]:
    """Per agent, the drawn numbers most rank-correlated (Spearman) with its % of oracle."""
    fields = [numeric_fields(family.sample(d, "test")) for d in range(draws)]
    keys = sorted(set.intersection(*(set(f) for f in fields)))
    table = {k: np.array([f[k] for f in fields]) for k in keys}
    varying = {k: v for k, v in table.items() if np.ptp(v) > 0}
    out: dict[str, list] = {}
    for agent, x in pct.items():
        rho = {k: float(spearmanr(v, x).statistic) for k, v in varying.items()} if np.ptp(x) > 0 else {}
        out[agent] = sorted(((k, r) for k, r in rho.items() if np.isfinite(r)), key=lambda t: -abs(t[1]))[:TOP_FIELDS]
    return out


def pct_matrix(result: dict[str, Any]) -> dict[str, np.ndarray]:
    """Agent -> % of oracle per draw (draw order)."""
    out: dict[str, np.ndarray] = {}
    for agent in result["agents"]:
        by_draw = {r["draw"]: r["pct"] for r in result["rows"] if r["agent"] == agent}
        out[agent] = np.array([by_draw[d] for d in range(result["draws"])])
    return out


def summary_table(result: dict[str, Any]) -> tuple[str, list[dict[str, Any]]]:
    pct = pct_matrix(result)
    head = f"{'agent':<16}{'% of oracle':>12}{'95% CI':>18}{'worst':>8}{'worst draw':>12}{'s/episode':>11}{'target':>9}"
    lines, summary = [head, "-" * len(head)], []
    for agent, x in pct.items():
        ci = mean_interval(x, rng=0)
        wall = np.mean([r["wall_s"] for r in result["rows"] if r["agent"] == agent])
        target = TARGETS.get((result["family"], agent))
        status = "-" if target is None else ("ok" if ci.point >= target else f"MISS<{target:g}")
        lines.append(
            f"{agent:<16}{ci.point:>12.2f}{f'[{ci.lo:.2f}, {ci.hi:.2f}]':>18}{x.min():>8.2f}"
            f"{int(np.argmin(x)):>12d}{wall:>11.2f}{status:>9}"
        )
        summary.append({"family": result["family"], "agent": agent, "mean": ci.point, "lo": ci.lo, "hi": ci.hi,
                        "worst": float(x.min()), "s_per_episode": float(wall), "target": target})
    return "\n".join(lines), summary


def kinds_table(result: dict[str, Any]) -> tuple[str, dict[str, list[tuple[str, float]]]]:
    """Mean % of oracle per draw tag and agent, and each agent's tags lost on."""
    pct = pct_matrix(result)
    tags = result["tags"]
    n = result["draws"]
    all_tags = sorted({t for ts in tags.values() for t in ts})
    width = max(12, *(len(a) + 2 for a in pct))
    head = f"{'draw kind':<26}{'draws':>6}" + "".join(f"{a:>{width}}" for a in pct)
    lines = [head, "-" * len(head)]
    losses: dict[str, list[tuple[str, float]]] = {a: [] for a in pct}
    for tag in all_tags:
        mask = np.array([tag in tags[d] for d in range(n)])
        if mask.all() or not mask.any():
            continue
        cells = ""
        for agent, x in pct.items():
            gap = x[mask].mean() - x[~mask].mean()
            cells += f"{f'{x[mask].mean():.1f} ({gap:+.1f})':>{width}}"
            if gap <= -LOSS_POINTS and min(mask.sum(), (~mask).sum()) >= MIN_TAG_DRAWS:
                losses[agent].append((tag, float(gap)))
        lines.append(f"{tag:<26}{int(mask.sum()):>6}{cells}")
    lines.append(
        "(cell: mean % of oracle over the draws with the kind (difference from the draws without it); marginal "
        "differences, not adjusted for the other kinds)"
    )
    for agent in pct:
        worst = sorted(losses[agent], key=lambda t: t[1])
        lost = ", ".join(f"{t} ({g:+.1f})" for t, g in worst) or f"no kind {LOSS_POINTS:g}+ point below the rest"
        lines.append(f"{agent} loses on: {lost}")
    varying = set(all_tags) - {t for t in all_tags if all(t in tags[d] for d in range(n))}
    for agent, x in pct.items():
        worst_draws = np.argsort(x)[:WORST_DRAWS]
        listed = "; ".join(
            f"{int(d)} ({x[d]:.1f}: {', '.join(t for t in tags[int(d)] if t in varying) or '-'})" for d in worst_draws
        )
        lines.append(f"{agent} worst draws: {listed}")
    return "\n".join(lines), losses


def oracle_line(result: dict[str, Any]) -> str:
    """Wall and process-CPU seconds of the draws' oracle solves (CPU time is robust to other load)."""
    draws = sorted(result["oracle_s"])
    wall = np.array([result["oracle_s"][d][0] for d in draws])
    cpu = np.array([result["oracle_s"][d][1] for d in draws])
    concave = np.array([result["concave"][d] for d in draws], dtype=bool)

    def fig(mask: np.ndarray) -> str:
        return (f"median {np.median(wall[mask]):.2f} s wall / {np.median(cpu[mask]):.2f} s CPU, "
                f"max {wall[mask].max():.2f} / {cpu[mask].max():.2f}")

    parts = [f"oracle per draw: all {fig(np.ones_like(concave))}, mean {wall.mean():.2f} s wall"]
    if concave.any():
        parts.append(f"concave ({concave.sum()}) {fig(concave)}")
    if (~concave).any():
        parts.append(f"S-shaped ({(~concave).sum()}, multi-start) {fig(~concave)}")
    return "; ".join(parts)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--families", nargs="+", default=DEFAULT_FAMILIES)
    ap.add_argument("--draws", type=int, default=50, help="held-out test draws per family (>= 50 for the targets)")
    ap.add_argument("--agents", nargs="+", default=DEFAULT_AGENTS, help="registered agents and/or best_constant")
    ap.add_argument("--quick", action="store_true", help="8 draws, no target check (a smoke run)")
    ap.add_argument("--json", default=None, help="write per-draw rows, tags and summaries here")
    args = ap.parse_args(argv)
    draws = 8 if args.quick else args.draws
    if draws < 1:
        ap.error("--draws: expected a positive integer")

    t_start = time.perf_counter()
    missed, out = [], []
    for name in args.families:
        t0 = time.perf_counter()
        result = run_family(name, draws, args.agents)
        table, summary = summary_table(result)
        kinds, losses = kinds_table(result)
        print(f"\n== {name}: {draws} held-out test draws, 1 episode each (seed 0) ==")
        print(table)
        print(oracle_line(result))
        if "best_constant" in args.agents:
            print(f"best_constant: {result['constant_source']}")
        print()
        print(kinds)
        corr = parameter_correlations(load_family(name), draws, pct_matrix(result)) if draws >= 3 else {}
        for agent, top in corr.items():
            print(f"{agent} score vs drawn numbers (Spearman): " + ", ".join(f"{k} {r:+.2f}" for k, r in top))
        print(f"{name}: {time.perf_counter() - t0:.0f} s")
        for s in summary:
            if s["target"] is not None and s["mean"] < s["target"]:
                missed.append(f"{name} {s['agent']} {s['mean']:.2f} < {s['target']:g}")
        out.append({**result, "summary": summary, "losses": losses})
    print(f"\ntotal wall time {time.perf_counter() - t_start:.0f} s")
    if args.json:
        with open(args.json, "w", encoding="utf-8") as fh:
            json.dump(out, fh, indent=1, default=lambda o: o.tolist() if isinstance(o, np.ndarray) else str(o))
    if args.quick or draws < 50:
        print("(targets not checked: fewer than 50 draws)")
        return 0
    for m in missed:
        print(f"target missed: {m}")
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
