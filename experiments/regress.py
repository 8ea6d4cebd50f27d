r"""A CI gate for policy quality: record a baseline of an experiment, compare new results with it.

::

    budgetgym baseline RESULTS_DIR --out BASELINE.json          # record_baseline + write_baseline
    budgetgym regress RESULTS_DIR --baseline BASELINE.json      # load_baseline + compare

**Baseline.** A JSON file (:class:`Baseline`, ``schema_version`` 1, validated by pydantic with
unknown keys forbidden) holding, per (scenario, agent) and per metric, the mean over seeds and
the per-seed values (a run's metric averaged over its episodes, :func:`~budgetgym.experiments.stats.run_scores`),
plus the experiment's config hash (``meta.json``), git commit and package versions.

**Tolerance unit.** ``tolerance`` is a *fraction*: for ``pct_of_oracle`` (a percentage) it is a
fraction of the oracle, so the default ``0.01`` is **1 percentage point** of the oracle; for any
other metric it is a fraction of the baseline mean (``0.01`` = 1 % of ``|baseline mean|``).
Every metric is taken as higher-is-better.

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
* ``missing`` — the (scenario, agent) is in the baseline but has no runs in the results (a
  crashed or dropped agent must not pass silently). Fails the gate.
* ``unpaired`` — both sides have runs but no seed in common. Fails the gate.
* ``new`` — in the results but not in the baseline (reported; passes).

Seeds present on one side only are left out and the pairing uses the intersection; the report
lists them as notes (the CLI prints them as warnings). The results are read from
``results.csv`` when present, else from the finished run folders. With a single common seed
the interval is the point (no variability to resample): for a deterministic grid that is exact.

**Config hash.** :func:`compare` refuses (``BudgetGymError``, exit 2) results whose experiment
config hash differs from the baseline's unless ``allow_config_change=True``: numbers of a
different grid are not comparable by seed. Likewise :func:`write_baseline` does not replace a
baseline recorded from a different config unless ``allow_config_change=True``.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from budgetgym.envs.errors import BudgetGymError
from budgetgym.envs.io import atomic_write_text
from budgetgym.experiments.config import config_hash, experiment_from_dict
from budgetgym.experiments.results import collect_results, package_versions, read_json, utc_now
from budgetgym.experiments.stats import keyed_rng, paired_difference_interval, run_scores
from budgetgym.envs.errors import StrictModel, format_validation_error
from pydantic import Field, ValidationError

__all__ = [
    "SCHEMA_VERSION",
    "Baseline",
    "BaselineEntry",
    "Comparison",
    "MetricRecord",
    "RegressionReport",
    "compare",
    "load_baseline",
    "load_results",
    "record_baseline",
    "results_config_hash",
    "write_baseline",
]

SCHEMA_VERSION = 1
DEFAULT_TOLERANCE = 0.01
#: Coverage of the gate's interval. Higher than the reports' 95 %: the gate decides on every
#: (scenario, agent) row at once on every push, and a false alarm blocks a merge. At 95 % a
#: re-seeded model_thompson on stationary-3 (per-seed sd ~3.5 points, 8 seeds) tripped a
#: 1-point gate in ~1.3 % of comparisons; at 99 % in ~0.3 %.
DEFAULT_CONFIDENCE = 0.99
FAILING = ("regressed", "missing", "unpaired")


# ------------------------------------------------------------------------------ schema


class MetricRecord(StrictModel):
    """One metric of one (scenario, agent): mean over seeds and the per-seed values."""

    mean: float
    n_seeds: int = Field(ge=1)
    per_seed: dict[int, float] = Field(min_length=1, description="seed -> metric (mean over the run's episodes)")


class BaselineEntry(StrictModel):
    scenario: str = Field(min_length=1)
    agent: str = Field(min_length=1)
    metrics: dict[str, MetricRecord] = Field(min_length=1)


class BootstrapSettings(StrictModel):
    """Resampling settings of the gate (taken from the experiment's ``bootstrap``)."""

    reps: int = Field(5000, ge=100, le=1_000_000)
    seed: int = Field(0, ge=0)


class Baseline(StrictModel):
    """The baseline file (``schema_version`` 1)."""

    schema_version: Literal[1] = SCHEMA_VERSION
    kind: Literal["budgetgym-baseline"] = "budgetgym-baseline"
    experiment: str | None = None
    config_hash: str = Field(min_length=1)
    created: str
    git: dict[str, Any] | None = None
    versions: dict[str, str | None] = Field(default_factory=dict)
    metrics: list[str] = Field(min_length=1)
    bootstrap: BootstrapSettings = Field(default_factory=BootstrapSettings)
    entries: list[BaselineEntry] = Field(min_length=1)

    def entry(self, scenario: str, agent: str) -> BaselineEntry | None:
        return next((e for e in self.entries if e.scenario == scenario and e.agent == agent), None)


# ------------------------------------------------------------------------------ results
def _read_meta(out: Path) -> dict[str, Any]:
    path = out / "meta.json"
    if not path.is_file():
        return {}
    try:
        data = read_json(path)
    except (OSError, ValueError) as err:
        raise BudgetGymError(f"'{path}': cannot be read as JSON ({err})") from None
    return data if isinstance(data, dict) else {}


def results_config_hash(results_dir: str | Path) -> str:
    """The experiment config hash of a results directory (``meta.json``, else ``experiment.yaml``)."""
    out = Path(results_dir)
    value = _read_meta(out).get("config_hash")
    if isinstance(value, str) and value:
        return value
    path = out / "experiment.yaml"
    if path.is_file():
        import yaml

        try:
            data = yaml.safe_load(path.read_text(encoding="utf-8"))
        except (OSError, yaml.YAMLError) as err:
            raise BudgetGymError(f"'{path}': cannot be read ({err})") from None
        return config_hash(experiment_from_dict(data, source=f"experiment file '{path}'"))
    raise BudgetGymError(f"results directory '{out}': no meta.json or experiment.yaml to take the config hash from")


def load_results(results_dir: str | Path) -> Any:
    """Result rows of a results directory: ``results.csv``, else the finished run folders."""
    import pandas as pd

    out = Path(results_dir)
    if not out.is_dir():
        raise BudgetGymError(f"results directory '{out}' not found")
    path = out / "results.csv"
    if path.is_file():
        try:
            frame = pd.read_csv(path)
        except (OSError, ValueError) as err:
            raise BudgetGymError(f"'{path}': cannot be read as CSV ({err})") from None
    else:
        frame = collect_results(out)
    missing = [c for c in ("scenario", "agent", "seed") if c not in frame.columns]
    if missing:
        raise BudgetGymError(f"'{path}': missing column(s) {', '.join(missing)}")
    if frame.empty:
        raise BudgetGymError(f"results directory '{out}': no results (no results.csv rows and no finished runs)")
    return frame


def _per_seed(frame: Any, metric: str, where: str) -> dict[tuple[str, str], dict[int, float]]:
    if metric not in frame.columns:
        raise BudgetGymError(f"{where}: metric '{metric}' is not a results column")
    scores = run_scores(frame, metric)
    out: dict[tuple[str, str], dict[int, float]] = {}
    for (sc, ag), grp in scores.groupby(["scenario", "agent"], sort=True):
        out[(str(sc), str(ag))] = {int(s): float(v) for s, v in zip(grp["seed"], grp["score"], strict=True)}
    return out


# ------------------------------------------------------------------------------ baseline
def record_baseline(
    results_dir: str | Path, metrics: list[str] | tuple[str, ...] = ("pct_of_oracle",)
) -> Baseline:
    """A :class:`Baseline` of ``results_dir``: per (scenario, agent) and metric, the mean over
    seeds and the per-seed values, with the config hash, git commit and package versions."""
    out = Path(results_dir)
    frame = load_results(out)
    metrics = list(dict.fromkeys(metrics)) or ["pct_of_oracle"]
    meta = _read_meta(out)
    values = {m: _per_seed(frame, m, f"results directory '{out}'") for m in metrics}
    entries = []
    for sc, ag in sorted(values[metrics[0]]):
        recs = {}
        for m in metrics:
            seeds = values[m].get((sc, ag), {})
            finite = {s: v for s, v in seeds.items() if math.isfinite(v)}
            if not finite:
                raise BudgetGymError(f"results directory '{out}': {sc}/{ag} has no finite '{m}' value")
            recs[m] = MetricRecord(mean=sum(finite.values()) / len(finite), n_seeds=len(finite), per_seed=finite)
        entries.append(BaselineEntry(scenario=sc, agent=ag, metrics=recs))
    boot = BootstrapSettings()
    exp = out / "experiment.yaml"
    if exp.is_file():
        import yaml

        try:
            raw = yaml.safe_load(exp.read_text(encoding="utf-8")) or {}
            if isinstance(raw, dict) and isinstance(raw.get("bootstrap"), dict):
                boot = BootstrapSettings.model_validate(
                    {k: v for k, v in raw["bootstrap"].items() if k in ("reps", "seed")}
                )
        except (OSError, yaml.YAMLError, ValidationError):
            pass
    return Baseline(
        experiment=meta.get("experiment"),
        config_hash=results_config_hash(out),
        created=utc_now(),
        git=meta.get("git") if isinstance(meta.get("git"), dict) else None,
        versions=package_versions(),
        metrics=metrics,
        bootstrap=boot,
        entries=entries,
    )


def write_baseline(baseline: Baseline, path: str | Path, *, allow_config_change: bool = False) -> Path:
    """Write ``baseline`` as JSON, atomically. An existing baseline at ``path`` recorded from a
    different experiment config is not replaced unless ``allow_config_change``."""
    path = Path(path)
    if path.exists() and not allow_config_change:
        try:
            old = load_baseline(path)
        except BudgetGymError:
            old = None  # an unreadable file is simply replaced
        if old is not None and old.config_hash != baseline.config_hash:
            raise BudgetGymError(
                f"baseline '{path}' was recorded from experiment config {old.config_hash}, the results are "
                f"config {baseline.config_hash}; pass --allow-config-change to replace it"
            )
    return atomic_write_text(path, json.dumps(baseline.model_dump(mode="json"), indent=2) + "\n")


def load_baseline(path: str | Path) -> Baseline:
    """Read and validate a baseline file; every problem is a one-line :class:`BudgetGymError`."""
    path = Path(path)
    source = f"baseline '{path}'"
    if not path.is_file():
        raise BudgetGymError(f"{source} not found")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as err:
        raise BudgetGymError(f"{source}: invalid JSON at line {err.lineno}, column {err.colno}: {err.msg}") from None
    except (OSError, UnicodeDecodeError) as err:
        raise BudgetGymError(f"{source}: cannot be read ({err})") from None
    if not isinstance(data, dict):
        raise BudgetGymError(f"{source}: expected a JSON object, got {type(data).__name__}")
    version = data.get("schema_version")
    if version != SCHEMA_VERSION:
        raise BudgetGymError(
            f"{source}: schema_version {version!r} is not supported (expected {SCHEMA_VERSION}); "
            f"re-record it with budgetgym baseline"
        )
    try:
        return Baseline.model_validate(data)
    except ValidationError as err:
        raise BudgetGymError(format_validation_error(err, source, Baseline)) from None


# ------------------------------------------------------------------------------ compare
@dataclass(frozen=True)
class Comparison:
    """One row of the regression table."""

    scenario: str
    agent: str
    metric: str
    verdict: str
    baseline: float = float("nan")
    now: float = float("nan")
    diff: float = float("nan")
    ci_lo: float = float("nan")
    ci_hi: float = float("nan")
    threshold: float = float("nan")  # the tolerance in the metric's unit
    n_pairs: int = 0

    @property
    def failed(self) -> bool:
        return self.verdict in FAILING


@dataclass
class RegressionReport:
    """The outcome of :func:`compare`."""

    rows: list[Comparison]
    tolerance: float
    confidence: float
    baseline_hash: str
    results_hash: str
    notes: list[str] = field(default_factory=list)

    @property
    def failed(self) -> list[Comparison]:
        return [r for r in self.rows if r.failed]

    @property
    def ok(self) -> bool:
        return not self.failed

    def markdown(self) -> str:
        """The table and notes as markdown (for a CI comment)."""
        status = "passed" if self.ok else f"FAILED ({len(self.failed)} of {len(self.rows)} rows)"
        lines = [
            "## budgetgym regress",
            "",
            (
                f"Gate **{status}**. Tolerance {_tol_text(self.tolerance)}; a row regresses when the whole "
                f"{100 * self.confidence:g}% bootstrap interval of the seed-paired difference lies below "
                f"−tolerance. Baseline config {self.baseline_hash}, results config {self.results_hash}."
            ),
            "",
            "| " + " | ".join(HEADER) + " |",
            "|" + "|".join("---" if h in ("scenario", "agent", "metric", "verdict") else "---:" for h in HEADER) + "|",
        ]
        for cells in table_rows(self):
            cells = [f"**{c}**" if i == len(cells) - 1 and c in FAILING else c for i, c in enumerate(cells)]
            lines.append("| " + " | ".join(cells) + " |")
        if self.notes:
            lines += ["", "Notes:", ""] + [f"- {n}" for n in self.notes]
        return "\n".join(lines) + "\n"


HEADER = ("scenario", "agent", "metric", "baseline", "now", "difference", "CI", "seeds", "verdict")


def _tol_text(tol: float) -> str:
    return (
        f"{tol:g} (a fraction: {100 * tol:g} percentage point(s) of the oracle for pct_of_oracle, "
        f"{100 * tol:g}% of the baseline mean for other metrics)"
    )


def _fmt(x: float, digits: int = 2) -> str:
    return "—" if not math.isfinite(x) else f"{x:.{digits}f}"


def table_rows(report: RegressionReport) -> list[list[str]]:
    """The report's rows as strings, in :data:`HEADER` order."""
    out = []
    for r in report.rows:
        diff = "—" if not math.isfinite(r.diff) else f"{r.diff:+.2f}"
        ci = "—" if not math.isfinite(r.ci_lo) else f"[{r.ci_lo:+.2f}, {r.ci_hi:+.2f}]"
        out.append(
            [r.scenario, r.agent, r.metric, _fmt(r.baseline), _fmt(r.now), diff, ci,
             str(r.n_pairs) if r.n_pairs else "—", r.verdict]
        )
    return out


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
        raise BudgetGymError(f"--tolerance: expected a non-negative number (a fraction, 0.01 = 1 point), got {tolerance!r}")
    if isinstance(confidence, bool) or not isinstance(confidence, (int, float)) or not 0 < confidence < 1:
        raise BudgetGymError(f"--confidence: expected a number in (0, 1), got {confidence!r}")
    base = baseline if isinstance(baseline, Baseline) else load_baseline(baseline)
    out = Path(results_dir)
    frame = load_results(out)
    now_hash = results_config_hash(out)
    notes: list[str] = []
    if now_hash != base.config_hash:
        if not allow_config_change:
            raise BudgetGymError(
                f"results '{out}' come from experiment config {now_hash} but the baseline was recorded from "
                f"config {base.config_hash}; re-record the baseline or pass --allow-config-change"
            )
        notes.append(f"config changed: baseline {base.config_hash}, results {now_hash} (--allow-config-change)")
    boot = base.bootstrap
    rows: list[Comparison] = []
    seen_now: set[tuple[str, str]] = set()
    for metric in base.metrics:
        current = _per_seed(frame, metric, f"results directory '{out}'")
        seen_now |= set(current)
        for entry in base.entries:
            rec = entry.metrics.get(metric)
            if rec is None:
                continue
            key = (entry.scenario, entry.agent)
            scale = 100.0 if metric == "pct_of_oracle" else abs(rec.mean)
            thr = tolerance * scale
            if key not in current:
                rows.append(Comparison(*key, metric, "missing", baseline=rec.mean, threshold=thr))
                continue
            now = {s: v for s, v in current[key].items() if math.isfinite(v)}
            common = sorted(set(now) & set(rec.per_seed))
            only_base, only_now = sorted(set(rec.per_seed) - set(now)), sorted(set(now) - set(rec.per_seed))
            if only_base or only_now:
                notes.append(
                    f"{entry.scenario}/{entry.agent} {metric}: paired on {len(common)} common seed(s); "
                    + "; ".join(
                        t for t in (
                            f"only in baseline: {_seeds(only_base)}" if only_base else "",
                            f"only in results: {_seeds(only_now)}" if only_now else "",
                        ) if t
                    )
                )
            now_mean = sum(now.values()) / len(now) if now else float("nan")
            if not common:
                rows.append(Comparison(*key, metric, "unpaired", baseline=rec.mean, now=now_mean, threshold=thr))
                continue
            x = [now[s] for s in common]
            y = [rec.per_seed[s] for s in common]
            est = paired_difference_interval(
                x, y, boot.reps, confidence, keyed_rng(boot.seed, "regress", entry.scenario, entry.agent, metric)
            )
            if est.hi < -thr:
                verdict = "regressed"
            elif est.lo > thr:
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
                cur = _per_seed(frame, metric, f"results directory '{out}'").get((sc, ag), {})
                vals = [v for v in cur.values() if math.isfinite(v)]
                rows.append(
                    Comparison(sc, ag, metric, "new", now=sum(vals) / len(vals) if vals else float("nan"),
                               n_pairs=0)
                )
    rows.sort(key=lambda r: (r.scenario, r.agent, base.metrics.index(r.metric)))
    return RegressionReport(rows, float(tolerance), float(confidence), base.config_hash, now_hash, notes)


def _seeds(seeds: list[int]) -> str:
    return ", ".join(str(s) for s in seeds)
