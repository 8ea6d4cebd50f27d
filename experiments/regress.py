r"""A CI gate for policy quality: record a baseline of an experiment, compare new results with it.

::

    budgetgym baseline RESULTS_DIR --out BASELINE.json          # record_baseline + write_baseline
    budgetgym regress RESULTS_DIR --baseline BASELINE.json      # load_baseline + compare

**Baseline.** A JSON file, :class:`~budgetgym.experiments.baseline.Baseline` (see
:mod:`budgetgym.experiments.baseline`; re-exported here): per (scenario, agent) and metric the
per-seed values of a run, the experiment's config hash, git commit and package versions.

**Tolerance unit.** ``tolerance`` is a *fraction*: for ``pct_of_oracle`` (a percentage) it is a
fraction of the oracle, so the default ``0.01`` is **1 percentage point** of the oracle; for any
other metric it is a fraction of the baseline mean (``0.01`` = 1 % of ``|baseline mean|``).
Every metric is taken as higher-is-better.

**Families.** For a scenario family the gate compares held-out scores: a run's value is its
metric averaged over the family's test draws (the train split is not gated).

**Statistic.** For each (scenario, agent, metric) the current and baseline per-seed values are
paired by seed, :math:`d_s = x^{now}_s - x^{base}_s`, and the mean difference :math:`\bar d`
gets a percentile bootstrap interval over the pairs
(:func:`~budgetgym.experiments.stats.paired_difference_interval`; 99 % coverage by default,
:data:`DEFAULT_CONFIDENCE`; the experiment's bootstrap ``reps`` and ``seed`` recorded in the
baseline; one generator per row keyed by scenario, agent and metric). Verdicts:

* ``regressed`` — the whole interval lies below ``-tol``: a drop larger than the tolerance
  *and* statistically credible. Fails the gate.
* ``improved`` — the whole interval lies above ``+tol`` (informative; passes).
* ``ok`` — anything else: no credible drop beyond the tolerance (passes).

"Beyond" is strict and blind to rounding: the interval's end is compared with the tolerance widened
by :data:`ROUNDING` of the metric's scale (100 points, or ``|baseline mean|``), so a drop equal to the
tolerance passes whichever of ``0.29 * 100`` (28.999999999999996) or a difference of two scores
(``87.7 - 88.7``) rounds down in binary.
* ``missing`` — the (scenario, agent) is in the baseline but has no runs in the results (a
  crashed or dropped agent must not pass silently). Fails the gate.
* ``unpaired`` — both sides have runs but no seed in common (another config: under the same one
  that is ``incomplete``). Fails the gate.
* ``incomplete`` — the same experiment config (hash) as the baseline, yet some of the baseline's
  seeds have no finite result: runs that crashed or came back ``nan`` (one good seed of eight
  must not pass for the row). Fails the gate; the verdict's statistics are those of the seeds in
  common, for the record (none when every seed failed).
* ``new`` — in the results but not in the baseline (reported; passes).

Seeds present on one side only are left out and the pairing uses the intersection; the report
lists them as notes (the CLI prints them as warnings), after the notes of
:func:`~budgetgym.experiments.gate_notes.provenance_notes` (a results directory whose last run did not end, package
versions that differ from the baseline's). Under ``allow_config_change`` (another grid,
perhaps with fewer seeds) a missing seed is only a note. The results are read from
``results.csv`` when present, else from the finished run folders. With a single common seed
the interval is the point (no variability to resample): for a deterministic grid that is exact.

**Config hash.** :func:`compare` refuses (``BudgetGymError``, exit 2) results whose experiment
config hash differs from the baseline's unless ``allow_config_change=True``: numbers of a
different grid are not comparable by seed. Likewise :func:`write_baseline` does not replace a
baseline recorded from a different config unless ``allow_config_change=True``.

**Report.** The rows, their markdown table and the JSON verdict, and the files they are written to
(``--report``, ``--json``): :mod:`budgetgym.experiments.regress_report` (its names re-exported here).
"""

from __future__ import annotations

import math
from pathlib import Path

from budgetgym.envs.errors import BudgetGymError, count
from budgetgym.experiments.baseline import (
    SCHEMA_VERSION,
    Baseline,
    BaselineEntry,
    MetricRecord,
    load_baseline,
    load_results,
    per_seed_values,
    record_baseline,
    results_config_hash,
    results_settings,
    write_baseline,
)
from budgetgym.experiments.gate_notes import grid_difference, provenance_notes
from budgetgym.experiments.regress_report import (
    FAILING,
    HEADER,
    REPORT_KIND,
    REPORT_TITLE,
    Comparison,
    RegressionReport,
    check_report_path,
    report_dict,
    table_rows,
    write_report,
)
from budgetgym.experiments.results import read_meta
from budgetgym.experiments.stats import keyed_rng, paired_difference_interval

__all__ = [
    "FAILING",
    "HEADER",
    "REPORT_KIND",
    "REPORT_TITLE",
    "SCHEMA_VERSION",
    "Baseline",
    "BaselineEntry",
    "Comparison",
    "MetricRecord",
    "RegressionReport",
    "check_report_path",
    "compare",
    "load_baseline",
    "load_results",
    "record_baseline",
    "report_dict",
    "results_config_hash",
    "table_rows",
    "write_baseline",
    "write_report",
]

DEFAULT_TOLERANCE = 0.01
#: Coverage of the gate's interval. Higher than the reports' 95 %: the gate decides on every
#: (scenario, agent) row at once on every push, and a false alarm blocks a merge. At 95 % a
#: re-seeded model_thompson on stationary-3 (per-seed sd ~3.5 points, 8 seeds) tripped a
#: 1-point gate in ~1.3 % of comparisons; at 99 % in ~0.3 %.
DEFAULT_CONFIDENCE = 0.99
#: Relative slack of the tolerance test (module docstring): far below any real difference (1e-7 of a
#: point for pct_of_oracle), far above the rounding of a threshold or of a difference of two scores.
ROUNDING = 1e-9
# ------------------------------------------------------------------------------ compare
def compare(
    results_dir: str | Path,
    baseline: Baseline | str | Path,
    tolerance: float = DEFAULT_TOLERANCE,
    *,
    confidence: float = DEFAULT_CONFIDENCE,
    allow_config_change: bool = False,
) -> RegressionReport:
    """Compare a results directory with a baseline (see the module docstring for the rules).

    Parameters
    ----------
    results_dir : a results directory of :func:`~budgetgym.experiments.runner.run_experiment`.
    baseline : a :class:`Baseline` or the path of a baseline file.
    tolerance : a fraction: ``0.01`` = 1 percentage point of the oracle for ``pct_of_oracle``,
        1 % of the baseline mean for other metrics.
    confidence : coverage of the bootstrap interval of the paired difference (default 0.99).
    allow_config_change : compare even when the experiment config hashes differ.

    Raises
    ------
    BudgetGymError
        Bad tolerance, unreadable results or baseline, config hash mismatch, a baseline metric
        that the results do not have.
    """
    if isinstance(tolerance, bool) or not isinstance(tolerance, (int, float)) or not math.isfinite(tolerance) \
            or tolerance < 0:
        raise BudgetGymError(
            f"--tolerance: expected a non-negative number (a fraction, 0.01 = 1 point), got {tolerance!r}"
        )
    if isinstance(confidence, bool) or not isinstance(confidence, (int, float)) or not 0 < confidence < 1:
        raise BudgetGymError(f"--confidence: expected a number in (0, 1), got {confidence!r}")
    base = baseline if isinstance(baseline, Baseline) else load_baseline(baseline)
    out = Path(results_dir)
    frame = load_results(out)
    now_hash = results_config_hash(out)
    notes = provenance_notes(out, base)
    if now_hash != base.config_hash:
        if not allow_config_change:
            now_name, base_name = read_meta(out).get("experiment"), base.experiment
            differs = grid_difference(frame, base, results_settings(out))
            raise BudgetGymError(
                f"results '{out}'{_named(now_name)} come from experiment config {now_hash} but the baseline"
                f"{_named(base_name)} was recorded from config {base.config_hash} ({differs}); "
                f"re-record the baseline or pass --allow-config-change"
            )
        notes.append(f"config changed: baseline {base.config_hash}, results {now_hash} (--allow-config-change)")
    boot = base.bootstrap
    rows: list[Comparison] = []
    seen_now: set[tuple[str, str]] = set()
    for metric in base.metrics:
        current = per_seed_values(frame, metric, f"results directory '{out}'")
        seen_now |= set(current)
        for entry in base.entries:
            rec = entry.metrics.get(metric)
            if rec is None:
                continue
            key = (entry.scenario, entry.agent)
            scale = 100.0 if metric == "pct_of_oracle" else abs(rec.mean)
            thr = tolerance * scale
            beyond = thr + ROUNDING * scale  # a difference must pass this to be beyond the tolerance
            if key not in current:
                rows.append(Comparison(*key, metric, "missing", baseline=rec.mean, threshold=thr))
                continue
            now = {s: v for s, v in current[key].items() if math.isfinite(v)}
            common = sorted(set(now) & set(rec.per_seed))
            only_base, only_now = sorted(set(rec.per_seed) - set(now)), sorted(set(now) - set(rec.per_seed))
            if only_base or only_now:
                notes.append(
                    f"{entry.scenario}/{entry.agent} {metric}: paired on {count(len(common), 'common seed')}; "
                    + "; ".join(
                        t for t in (
                            f"only in baseline: {_seeds(only_base)}" if only_base else "",
                            f"only in results: {_seeds(only_now)}" if only_now else "",
                        ) if t
                    )
                )
            now_mean = sum(now.values()) / len(now) if now else float("nan")
            if not common:  # the same grid: every baseline seed failed; another grid: the seeds differ
                verdict = "incomplete" if now_hash == base.config_hash else "unpaired"
                rows.append(Comparison(*key, metric, verdict, baseline=rec.mean, now=now_mean, threshold=thr))
                continue
            x = [now[s] for s in common]
            y = [rec.per_seed[s] for s in common]
            est = paired_difference_interval(
                x, y, boot.reps, confidence, keyed_rng(boot.seed, "regress", entry.scenario, entry.agent, metric)
            )
            if est.hi < -beyond:
                verdict = "regressed"
            elif only_base and now_hash == base.config_hash:  # the same grid: a baseline seed failed
                verdict = "incomplete"
            elif est.lo > beyond:
                verdict = "improved"
            else:
                verdict = "ok"
            rows.append(
                Comparison(*key, metric, verdict, baseline=sum(y) / len(y), now=sum(x) / len(x), diff=est.point,
                           ci_lo=est.lo, ci_hi=est.hi, threshold=thr, n_pairs=len(common))
            )
    for sc, ag in sorted(seen_now):
        if base.entry(sc, ag) is None:
            for metric in base.metrics:
                cur = per_seed_values(frame, metric, f"results directory '{out}'").get((sc, ag), {})
                vals = [v for v in cur.values() if math.isfinite(v)]
                rows.append(
                    Comparison(sc, ag, metric, "new", now=sum(vals) / len(vals) if vals else float("nan"),
                               n_pairs=0)
                )
    rows.sort(key=lambda r: (r.scenario, r.agent, base.metrics.index(r.metric)))
    return RegressionReport(rows, float(tolerance), float(confidence), base.config_hash, now_hash, notes)


def _named(experiment: object) -> str:
    """`` (experiment 'name')``, or nothing when the name was not recorded."""
    return f" (experiment '{experiment}')" if isinstance(experiment, str) and experiment else ""


def _seeds(seeds: list[int]) -> str:
    return ", ".join(str(s) for s in seeds)
