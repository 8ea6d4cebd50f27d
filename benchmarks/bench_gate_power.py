r"""The power of the regression gate: the smallest drop it catches 90% of the time, per row.

For every (scenario, agent) row of a baseline (default: the shipped
``configs/baselines/regression.json``, recorded from ``configs/experiments/regression.yaml``)
this prints the per-seed spread of the recorded scores, the gate's false-alarm rate when
nothing changed, and the smallest drop (in points of % of oracle) that ``budgetgym regress``
flags with probability ``--power`` (0.9).

**Cheap on purpose: no agent is re-run.** A regression is simulated from the recorded
per-seed values ``y_s`` of the row:

* ``resample`` (default) — a change to a learner's code almost always changes its random
  stream, so after the change seed ``s`` scores a *fresh* draw from the agent's per-seed
  distribution, lower by the drop ``delta``: ``x_s = y*_s - delta`` with ``y*_s`` drawn with
  replacement from the row's recorded ``y``. Pairing by seed then removes nothing: the gate
  sees the full seed noise twice (baseline and now).
* ``shift`` — the change moves every seed by exactly ``delta`` (a fixed split's weights, or a
  deterministic agent): ``x_s = y_s - delta``.

Agents whose recorded scores are equal on every seed (the fixed splits) have no spread to
resample; both models then give ``delta > tolerance``.

**Exact threshold, no grid over delta.** The gate's bootstrap draws its resampling indices
from a generator keyed by (bootstrap seed, scenario, agent, metric) only, so subtracting
``delta`` from every paired difference moves the whole interval by exactly ``delta``: the row
regresses iff ``delta > hi_0 + tol``, with ``hi_0`` the interval's upper end at ``delta = 0``.
Over ``--trials`` simulated draws, the smallest drop caught with probability ``p`` is the
``p``-quantile of ``hi_0 + tol``, and the false-alarm rate is ``P(hi_0 + tol < 0)``. The
statistic is the gate's own (``paired_difference_interval`` with the baseline's bootstrap
reps and seed, :data:`~budgetgym.experiments.regress.DEFAULT_CONFIDENCE`), and on one draw per
row the script checks through :func:`~budgetgym.experiments.compare` itself that a drop just
above the threshold is flagged and one just below is not.

Run: ``python benchmarks/bench_gate_power.py [--baseline FILE] [--model resample|shift]
[--power 0.9] [--trials 2000] [--tolerance 0.01] [--confidence 0.99]``.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

import numpy as np

from budgetgym.experiments import compare, load_baseline
from budgetgym.experiments.regress import DEFAULT_CONFIDENCE, DEFAULT_TOLERANCE, Baseline
from budgetgym.experiments.stats import keyed_rng, paired_difference_interval

ROOT = Path(__file__).resolve().parents[1]
METRIC = "pct_of_oracle"


def thresholds(
    baseline: Baseline,
    scenario: str,
    agent: str,
    model: str,
    trials: int,
    tolerance: float,
    confidence: float,
    rng: np.random.Generator,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per simulated trial, the drop above which the gate flags the row: ``hi_0 + tol``.

    Returns ``(thresholds [trials], y [n], x0 [trials, n])``: the recorded per-seed values and
    the simulated per-seed values before the drop.
    """
    entry = baseline.entry(scenario, agent)
    assert entry is not None
    rec = entry.metrics[METRIC]
    seeds = sorted(rec.per_seed)
    y = np.array([rec.per_seed[s] for s in seeds])
    if model == "resample":
        x0 = y[rng.integers(0, y.size, size=(trials, y.size))]
    else:
        x0 = np.broadcast_to(y, (trials, y.size))
    tol = tolerance * 100.0  # pct_of_oracle: a fraction of the oracle, in points
    boot = baseline.bootstrap
    out = np.empty(trials)
    for i in range(trials):
        gate_rng = keyed_rng(boot.seed, "regress", scenario, agent, METRIC)  # as in compare()
        hi = paired_difference_interval(x0[i], y, boot.reps, confidence, gate_rng).hi
        out[i] = hi + tol
    return out, y, x0


def _results_dir(
    path: Path, scenario: str, agent: str, seeds: list[int], values: np.ndarray, config_hash: str
) -> Path:
    """A minimal results directory: one episode per seed."""
    import pandas as pd

    path.mkdir(parents=True)
    rows = [{"scenario": scenario, "agent": agent, "seed": s, "episode": 0, METRIC: float(v)}
            for s, v in zip(seeds, values, strict=True)]
    pd.DataFrame(rows).to_csv(path / "results.csv", index=False)
    (path / "meta.json").write_text(json.dumps({"config_hash": config_hash}))
    return path


def check_with_the_gate(
    baseline: Baseline, scenario: str, agent: str, x0: np.ndarray, threshold: float, tolerance: float,
    confidence: float, tmp: Path,
) -> None:
    """``compare`` itself flags ``x0 - (threshold + 0.01)`` and passes ``x0 - (threshold - 0.01)``
    (the simulated values written under the baseline's seed numbers, as the gate pairs by seed)."""
    entry = baseline.entry(scenario, agent)
    assert entry is not None
    seeds = sorted(entry.metrics[METRIC].per_seed)
    single = baseline.model_copy(update={"entries": [entry], "metrics": [METRIC]})
    for eps, expected in ((0.01, "regressed"), (-0.01, "ok")):
        drop = threshold + eps
        if drop < 0:  # no drop at all is already a false alarm on this draw: nothing to check
            continue
        folder = tmp / f"{scenario}-{agent}-{eps}"
        d = _results_dir(folder, scenario, agent, seeds, x0 - drop, baseline.config_hash)
        (row,) = compare(d, single, tolerance, confidence=confidence).rows
        if row.verdict != expected:
            raise SystemExit(
                f"self-check failed on {scenario}/{agent}: drop {drop:.3f} gave {row.verdict}, "
                f"expected {expected}"
            )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--baseline", type=Path, default=ROOT / "configs" / "baselines" / "regression.json")
    parser.add_argument("--model", choices=["resample", "shift"], default="resample")
    parser.add_argument("--power", type=float, default=0.9)
    parser.add_argument("--trials", type=int, default=2000)
    parser.add_argument("--tolerance", type=float, default=DEFAULT_TOLERANCE)
    parser.add_argument("--confidence", type=float, default=DEFAULT_CONFIDENCE)
    parser.add_argument("--seed", type=int, default=0, help="seed of the simulated draws")
    args = parser.parse_args(argv)

    base = load_baseline(args.baseline)
    rng = np.random.default_rng(args.seed)
    print(
        f"gate power: {args.baseline.name}, {args.model} model, {args.trials} trials, tolerance "
        f"{100 * args.tolerance:g} point(s), {100 * args.confidence:g}% interval, {base.bootstrap.reps} reps"
    )
    head = (f"{'scenario':<14}{'agent':<16}{'seeds':>6}{'sd/seed':>9}{'false alarm':>13}"
            f"{'drop caught 50%':>17}{f'drop caught {100 * args.power:g}%':>17}")
    print(head)
    print("-" * len(head))
    with tempfile.TemporaryDirectory() as tmp:
        for entry in base.entries:
            if METRIC not in entry.metrics:
                continue
            sc, ag = entry.scenario, entry.agent
            tol, conf = args.tolerance, args.confidence
            thr, y, x0 = thresholds(base, sc, ag, args.model, args.trials, tol, conf, rng)
            check_with_the_gate(base, sc, ag, x0[0], float(thr[0]), tol, conf, Path(tmp))
            sd = float(np.std(y, ddof=1)) if y.size > 1 else 0.0
            alarm = float(np.mean(thr < 0))
            print(f"{sc:<14}{ag:<16}{y.size:>6}{sd:>9.2f}{100 * alarm:>12.1f}%"
                  f"{np.quantile(thr, 0.5):>17.2f}{np.quantile(thr, args.power):>17.2f}")
    print("\ndrops in points of % of oracle; a row regresses when the drop exceeds the listed value "
          "(self-checked against budgetgym.experiments.compare on one draw per row)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
