r"""The gate's baseline file: per (scenario, agent) and metric, the per-seed values of a run.

For a scenario family the gate uses the held-out (``test``) split: a run's value is its metric
averaged over the test draws and episodes (:func:`~budgetgym.experiments.stats.held_out`); the
in-distribution (``train``) rows are not gated.

A JSON file (:class:`Baseline`, ``schema_version`` 1, validated by pydantic with unknown keys
forbidden) holding, per (scenario, agent) and per metric, the mean over seeds and the per-seed
values (a run's metric averaged over its episodes,
:func:`~budgetgym.experiments.stats.run_scores`), plus the experiment's config hash
(``meta.json``) and the resolved settings it is the digest of (``settings``, so the gate can name what differs
when the hashes do), git commit and package versions. :func:`record_baseline` builds one from a
results directory, :func:`write_baseline` / :func:`load_baseline` store and read it;
:func:`write_baseline` does not replace a baseline recorded from a different config unless
``allow_config_change=True``. The comparison itself is :mod:`budgetgym.experiments.regress`.
"""

from __future__ import annotations

import json
import math
import numbers
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, Field, ValidationError, model_validator

from budgetgym.envs.errors import BudgetGymError, StrictModel, suggest, validation_error
from budgetgym.envs.io import atomic_write_text, json_digest
from budgetgym.experiments.config import config_hash, saved_experiment
from budgetgym.experiments.results import collect_results, package_versions, read_meta, unfinished_runs, utc_now
from budgetgym.experiments.summary import held_out, run_scores

__all__ = [
    "SCHEMA_VERSION",
    "Baseline",
    "BaselineEntry",
    "BootstrapSettings",
    "MetricRecord",
    "load_baseline",
    "load_results",
    "per_seed_values",
    "record_baseline",
    "results_config_hash",
    "results_settings",
    "write_baseline",
]

SCHEMA_VERSION: Literal[1] = 1
#: Columns of ``results.csv`` read as text, never as numbers or missing values.
TEXT_COLUMNS = ("scenario", "agent", "split")


# ------------------------------------------------------------------------------ schema


#: The largest size of a metric value a baseline holds: far beyond any result (a scenario's reward is at most
#: 1e12 a step), small enough that the gate's bootstrap sums of values cannot overflow (1e308 did: numpy
#: warnings, then a verdict on differences of inf and nan).
MAX_METRIC = 1e100


def _metric_size(value: float) -> float:
    if abs(value) > MAX_METRIC:
        raise ValueError(f"expected a metric value at most {MAX_METRIC:g} in size")
    return value


MetricValue = Annotated[float, AfterValidator(_metric_size)]


class MetricRecord(StrictModel):
    """One metric of one (scenario, agent): mean over seeds and the per-seed values."""

    mean: MetricValue
    n_seeds: int = Field(ge=1)
    per_seed: dict[Annotated[int, Field(ge=0)], MetricValue] = Field(min_length=1,
                                             description="seed -> metric (mean over the run's episodes)")

    @model_validator(mode="after")
    def _n_seeds_counts_per_seed(self) -> MetricRecord:
        """``n_seeds`` is the number of per-seed values: a hand-edited or truncated baseline where they
        disagree was accepted, and the reader could not tell which one to believe."""
        if self.n_seeds != len(self.per_seed):
            raise ValueError(
                f"n_seeds {self.n_seeds} but {len(self.per_seed)} per_seed values; expected n_seeds to count them"
            )
        return self

    @model_validator(mode="after")
    def _mean_of_per_seed(self) -> MetricRecord:
        """``mean`` is the mean of the per-seed values (to 1e-9 of their size): a hand-edited ``mean`` moved
        the gate's reference while its per-seed values, which set the tolerance, stayed."""
        values = list(self.per_seed.values())
        mean = math.fsum(values) / len(values)
        if abs(self.mean - mean) > 1e-9 * max(1.0, max(abs(v) for v in values)):
            raise ValueError(f"mean {self.mean:g} but the per_seed values average {mean:g}; expected their mean")
        return self


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
    #: the experiment's resolved settings, whose digest is ``config_hash``
    #: (:func:`~budgetgym.experiments.config.hashed_settings`), so a mismatch can be named; ``None`` in a baseline
    #: recorded before budgetgym stored them, or from a results directory without its ``experiment.yaml``.
    settings: dict[str, Any] | None = None

    @model_validator(mode="after")
    def _one_entry_each(self) -> Baseline:
        """A (scenario, agent) recorded twice: the gate read the first and silently ignored the second."""
        seen: set[tuple[str, str]] = set()
        for e in self.entries:
            if (e.scenario, e.agent) in seen:
                raise ValueError(f"entries: ({e.scenario}, {e.agent}) is recorded twice; expected one entry each")
            seen.add((e.scenario, e.agent))
        return self

    def entry(self, scenario: str, agent: str) -> BaselineEntry | None:
        return next((e for e in self.entries if e.scenario == scenario and e.agent == agent), None)


# ------------------------------------------------------------------------------ results
def results_config_hash(results_dir: str | Path) -> str:
    """The experiment config hash of a results directory (``meta.json``, else ``experiment.yaml``)."""
    out = Path(results_dir)
    value = read_meta(out).get("config_hash")
    if isinstance(value, str) and value:
        return value
    cfg = saved_experiment(out)
    if cfg is not None:
        return config_hash(cfg)
    raise BudgetGymError(f"results directory '{out}': no meta.json or experiment.yaml to take the config hash from")


def results_settings(results_dir: str | Path) -> dict[str, Any] | None:
    """The resolved settings of a results directory's experiment (its ``experiment.yaml``,
    :func:`~budgetgym.experiments.config.hashed_settings`), or ``None`` when it has none, cannot be read, or they
    are not what its config hash was taken of (a scenario file changed since the run)."""
    from budgetgym.experiments.config import hashed_settings

    out = Path(results_dir)
    try:
        cfg = saved_experiment(out)
        settings = None if cfg is None else hashed_settings(cfg)
        if settings is None or json_digest(settings) != results_config_hash(out):
            return None
    except BudgetGymError:
        return None
    return settings


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
            # labels are text: "NA", "None" or "null" must not read as missing (the rows would drop
            # out of the gate) nor "007" as the number 7
            text = [c for c in TEXT_COLUMNS if c in frame.columns]
            if text:
                frame[text] = pd.read_csv(path, usecols=text, dtype=str, keep_default_na=False)
        except (OSError, ValueError) as err:
            raise BudgetGymError(f"'{path}': cannot be read as CSV ({err})") from None
    else:
        frame = collect_results(out)
    missing = [c for c in ("scenario", "agent", "seed") if c not in frame.columns]
    if missing:
        raise BudgetGymError(f"'{path}': missing column(s) {', '.join(missing)}")
    if frame.empty:
        raise BudgetGymError(f"results directory '{out}': no results (no results.csv rows and no finished runs)")
    if not pd.api.types.is_integer_dtype(frame["seed"]):
        bad = [v for v in frame["seed"] if not _is_seed(v)]
        if bad:
            raise BudgetGymError(f"'{path}': column seed: expected whole numbers (evaluation seeds), got {bad[0]!r}")
    return frame


def _is_seed(value: Any) -> bool:
    """A whole, non-negative number: an integer, a float without a fraction, or the digits of a seed
    too large for a 64-bit column (pandas reads those as text)."""
    if isinstance(value, str):
        return value.strip().isdigit()
    if isinstance(value, float):
        return value.is_integer() and value >= 0
    return isinstance(value, numbers.Integral) and int(value) >= 0


def per_seed_values(frame: Any, metric: str, where: str) -> dict[tuple[str, str], dict[int, float]]:
    """(scenario, agent) -> seed -> the run's ``metric`` (mean over its episodes; for a family,
    over its held-out test draws and episodes)."""
    import pandas as pd

    if metric not in frame.columns:
        numeric = [str(c) for c in frame.columns if pd.api.types.is_numeric_dtype(frame[c])]
        raise BudgetGymError(f"{where}: metric '{metric}' is not a results column" + suggest(metric, numeric))
    if not pd.api.types.is_numeric_dtype(frame[metric]):
        raise BudgetGymError(f"{where}: metric '{metric}' is not numeric (a metric is averaged over a run's episodes)")
    scores = run_scores(held_out(frame), metric)
    out: dict[tuple[str, str], dict[int, float]] = {}
    for (sc, ag), grp in scores.groupby(["scenario", "agent"], sort=True):
        out[(str(sc), str(ag))] = {int(s): float(v) for s, v in zip(grp["seed"], grp["score"], strict=True)}
    return out


# ------------------------------------------------------------------------------ baseline
def record_baseline(
    results_dir: str | Path, metrics: list[str] | tuple[str, ...] = ("pct_of_oracle",)
) -> Baseline:
    """A :class:`Baseline` of ``results_dir``: per (scenario, agent) and metric, the mean over
    seeds and the per-seed values, with the config hash, git commit and package versions.

    Raises
    ------
    BudgetGymError
        No results; runs of the directory's grid without a ``done`` marker (an interrupted or failed run: a
        baseline of part of the grid would leave the rest ungated); a metric that is not a numeric column.
    """
    out = Path(results_dir)
    frame = load_results(out)
    pending, total = unfinished_runs(out)
    if pending:  # the missing rows would never be gated: in later results they are 'new', which passes
        raise BudgetGymError(
            f"results directory '{out}': {pending} of the grid's {total} runs have not finished (interrupted, failed "
            f"or still running); finish them (the same budgetgym run command resumes) before recording a baseline"
        )
    metrics = list(dict.fromkeys(metrics)) or ["pct_of_oracle"]
    meta = read_meta(out)
    values = {m: per_seed_values(frame, m, f"results directory '{out}'") for m in metrics}
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
        except (OSError, UnicodeDecodeError, yaml.YAMLError, ValidationError):
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
        settings=results_settings(out),
    )


def write_baseline(baseline: Baseline, path: str | Path, *, allow_config_change: bool = False) -> Path:
    """Write ``baseline`` as JSON, atomically. An existing baseline at ``path`` recorded from a
    different experiment config is not replaced unless ``allow_config_change``; an existing file
    that is no baseline (not a JSON object of ``kind`` ``budgetgym-baseline``: an experiment file,
    a CSV) is never replaced (an invalid or older baseline is)."""
    path = Path(path)
    if path.is_dir():
        raise BudgetGymError(f"baseline '{path}': is a directory; expected the path of a JSON file")
    if path.exists() and not _is_baseline_file(path):
        raise BudgetGymError(f"baseline '{path}': exists and is not a budgetgym baseline (no \"kind\": "
                             f"\"budgetgym-baseline\"); expected a new path or a baseline to replace")
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
    try:
        return atomic_write_text(path, json.dumps(baseline.model_dump(mode="json"), indent=2) + "\n")
    except OSError as err:  # a parent that is a file, no permission, a full disk
        raise BudgetGymError(f"baseline '{path}': cannot be written ({err})") from None


def _is_baseline_file(path: Path) -> bool:
    """Whether ``path`` holds a JSON object whose ``kind`` is a baseline's (valid or not)."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError):
        return False
    return isinstance(data, dict) and data.get("kind") == "budgetgym-baseline"


def load_baseline(path: str | Path) -> Baseline:
    """Read and validate a baseline file; every problem is a one-line :class:`BudgetGymError`."""
    path = Path(path)
    source = f"baseline '{path}'"
    if path.is_dir():
        raise BudgetGymError(f"{source}: is a directory; expected the JSON file `budgetgym baseline` writes")
    if not path.is_file():
        raise BudgetGymError(
            f"{source} not found; record one from a results directory with budgetgym baseline RESULTS_DIR --out {path}"
        )
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
        raise validation_error(err, source, Baseline) from None


