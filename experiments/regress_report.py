r"""The regression gate's report: its rows, the markdown table, the JSON verdict and the files they go to.

:func:`~budgetgym.experiments.regress.compare` makes a :class:`RegressionReport` (the verdicts: the module
docstring of :mod:`budgetgym.experiments.regress`).

**Report files.** :func:`write_report` (``--report FILE``) writes the markdown atomically to a new
path or over an earlier report (a file whose first line is :data:`REPORT_TITLE`); with ``json_format``
(``--json FILE``) it writes the verdict as JSON (:func:`report_dict`: ``kind`` :data:`REPORT_KIND`,
``status`` ``passed`` / ``failed`` / ``error``, ``exit_code``, every row with its numbers, ``null`` where
undefined, and the notes) to a new path or over an earlier verdict. Any other existing file is refused in one
line before the comparison, and left as it was. A gate that cannot run (exit 2: a missing baseline, another
config) still writes both, saying why, so a CI step posting them never leaves an earlier push's verdict up.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from budgetgym.envs.errors import BudgetGymError, count
from budgetgym.envs.io import atomic_write_text
from budgetgym.envs.numbers import figure

__all__ = [
    "FAILING",
    "HEADER",
    "REPORT_KIND",
    "REPORT_TITLE",
    "Comparison",
    "RegressionReport",
    "check_report_path",
    "report_dict",
    "table_rows",
    "write_report",
]

#: The verdicts that fail the gate (:mod:`budgetgym.experiments.regress`).
FAILING = ("regressed", "missing", "unpaired", "incomplete")
#: The first line of a markdown report (:meth:`RegressionReport.markdown`): how :func:`write_report`
#: tells an earlier report, which it replaces, from any other file, which it never does.
REPORT_TITLE = "## budgetgym regress"
#: The ``kind`` of a JSON verdict (``--json``): how :func:`write_report` tells an earlier verdict from any other file.
REPORT_KIND = "budgetgym-regress"


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

    @property
    def status(self) -> str:
        """``passed`` (exit 0) or ``failed`` (exit 1)."""
        return "passed" if self.ok else "failed"

    def markdown(self) -> str:
        """The table and notes as markdown (for a CI comment)."""
        status = "passed" if self.ok else f"FAILED ({len(self.failed)} of {count(len(self.rows), 'row')})"
        lines = [
            REPORT_TITLE,
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
    """A value of the gate's table: :func:`~budgetgym.envs.numbers.figure` to ``digits`` decimals (a value they
    round to 0 to 3 significant digits, and one past :data:`~budgetgym.envs.numbers.HUGE`); ``—`` for an undefined
    one (no baseline, no seeds), the table's mark for a missing cell."""
    return "—" if not math.isfinite(x) else figure(x, digits)


def _signed(x: float, digits: int = 2) -> str:
    """A difference of the gate's table (and its interval's ends): :func:`_fmt` with its sign always written, ``+``
    for zero too (``+0.00``: no change is the gate's reference point, not a missing sign)."""
    text = _fmt(x, digits)
    return text if text.startswith(("-", "—")) else f"+{text}"


def table_rows(report: RegressionReport) -> list[list[str]]:
    """The report's rows as strings, in :data:`HEADER` order."""
    out = []
    for r in report.rows:
        diff = _signed(r.diff)
        ci = "—" if not math.isfinite(r.ci_lo) else f"[{_signed(r.ci_lo)}, {_signed(r.ci_hi)}]"
        out.append(
            [r.scenario, r.agent, r.metric, _fmt(r.baseline), _fmt(r.now), diff, ci,
             str(r.n_pairs) if r.n_pairs else "—", r.verdict]
        )
    return out


def check_report_path(path: str | Path, *, json_format: bool = False) -> Path:
    """``path`` as a path a markdown report (``json_format``: a JSON verdict) may be written to, checked before
    any work: not a directory, and new or an earlier report (its first line :data:`REPORT_TITLE`; a verdict: a
    JSON object of ``kind`` :data:`REPORT_KIND`); any other existing file (a typo naming the README or
    ``package.json``, a notes file, an empty file) is never replaced.

    Raises
    ------
    BudgetGymError
        One line naming ``--report`` (``--json``) and the path.
    """
    path = Path(path)
    option, what = ("--json", "JSON") if json_format else ("--report", "markdown")
    if path.is_dir():
        raise BudgetGymError(f"{option} '{path}': is a directory; expected the path of a {what} file")
    if path.exists() and not (_is_verdict(path) if json_format else _first_line(path) == REPORT_TITLE):
        mark = f'no "kind": "{REPORT_KIND}"' if json_format else f"its first line is not '{REPORT_TITLE}'"
        noun = "verdict" if json_format else "report"
        raise BudgetGymError(
            f"{option} '{path}': exists and is not a budgetgym regress {noun} ({mark}); expected a new path or an "
            f"earlier {noun} to replace"
        )
    return path


def _first_line(path: Path) -> str | None:
    try:
        with path.open(encoding="utf-8") as fh:
            return fh.readline().rstrip("\r\n")
    except (OSError, UnicodeDecodeError):
        return None


def _is_verdict(path: Path) -> bool:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError):
        return False
    return isinstance(data, dict) and data.get("kind") == REPORT_KIND


def report_dict(report: RegressionReport | BudgetGymError) -> dict[str, Any]:
    """The verdict as a JSON-ready mapping (module docstring): a report, or the error that stopped the gate
    (``status`` ``error``, ``exit_code`` 2, no rows). Numbers that are not defined (a ``missing`` row's) are
    ``None``; ``seeds`` is the number of seed pairs, ``threshold`` the tolerance in the metric's unit."""

    def num(x: float) -> float | None:
        return float(x) if math.isfinite(x) else None

    head: dict[str, Any] = {"kind": REPORT_KIND, "schema_version": 1}
    if isinstance(report, BudgetGymError):
        return {**head, "status": "error", "exit_code": 2, "error": str(report), "rows": [], "notes": []}
    rows = [
        {"scenario": r.scenario, "agent": r.agent, "metric": r.metric, "verdict": r.verdict, "failed": r.failed,
         "baseline": num(r.baseline), "now": num(r.now), "difference": num(r.diff), "ci_lo": num(r.ci_lo),
         "ci_hi": num(r.ci_hi), "threshold": num(r.threshold), "seeds": r.n_pairs}
        for r in report.rows
    ]
    return {**head, "status": report.status, "exit_code": 0 if report.ok else 1, "error": None,
            "tolerance": report.tolerance, "confidence": report.confidence, "baseline_config": report.baseline_hash,
            "results_config": report.results_hash, "failed": len(report.failed), "rows": rows, "notes": report.notes}


def _error_markdown(err: BudgetGymError) -> str:
    return f"{REPORT_TITLE}\n\nGate **could not run** (exit 2): {err}\n"


def write_report(report: RegressionReport | BudgetGymError, path: str | Path, *, json_format: bool = False) -> Path:
    """Write ``report`` (or the error that stopped the gate) as markdown, or with ``json_format`` as JSON
    (:func:`report_dict`), to ``path``, atomically (:func:`check_report_path` first: only a new file or an
    earlier report is written).

    Raises
    ------
    BudgetGymError
        ``path`` is refused by :func:`check_report_path` or cannot be written.
    """
    path = check_report_path(path, json_format=json_format)
    if json_format:
        text = json.dumps(report_dict(report), indent=2) + "\n"
    else:
        text = report.markdown() if isinstance(report, RegressionReport) else _error_markdown(report)
    try:
        return atomic_write_text(path, text)
    except OSError as err:  # a parent that is a file, no permission, a full disk
        raise BudgetGymError(f"{'--json' if json_format else '--report'} '{path}': cannot be written ({err})") from None
