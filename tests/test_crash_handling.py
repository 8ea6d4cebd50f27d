"""What a crash leaves behind, and how a re-run recovers from it.

* :func:`budgetgym.envs.io.atomic_write` (every result file goes through it): an exception or an
  interrupt inside the write, or a failing rename, leaves the previous file intact (or absent)
  and no temporary file behind.
* The results directory: a leftover temporary file (a process killed mid-write) is never read
  as a result, and a resumed run clears it; a run folder whose ``done`` marker is corrupt or
  stale (written for another configuration) is run again, and the resumed directory holds the
  numbers of a clean run; a valid marker whose ``results.json`` is gone or damaged is a one-line
  error naming the file, not a traceback.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pandas as pd
import pytest

from budgetgym.envs.io import atomic_write, atomic_write_text
from budgetgym.experiments import run_experiment
from budgetgym.experiments.cli import main
from budgetgym.experiments.config import experiment_from_dict
from budgetgym.experiments.results import collect_results, iter_done_runs, write_csv, write_json

GRID = {
    "name": "crash",
    "scenarios": [{"scenario": "stationary-3", "label": "s3", "set": {"horizon": 5}}],
    "agents": ["equal", {"agent": "epsilon_greedy", "params": {"epsilon": 0.5}}],
    "seeds": 2,
    "episodes": 1,
    "bootstrap": {"reps": 100},
}
VICTIM = Path("runs/s3/epsilon_greedy/seed_1")


def grid(out: Path) -> object:
    return run_experiment(experiment_from_dict(GRID, "test grid"), out, report=False)


def numbers(out: Path) -> pd.DataFrame:
    return collect_results(out).drop(columns=["wall_s", "train_s"])  # timings differ between runs


def temporary_files(folder: Path) -> list[Path]:
    return sorted(folder.rglob("*.tmp"))


@pytest.fixture(scope="module")
def clean(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A clean run of the grid: the reference numbers."""
    out = tmp_path_factory.mktemp("clean") / "out"
    assert grid(out).ok
    return out


# ------------------------------------------------------------------------------ atomic writes
class Boom(Exception):
    pass


def half_then(exc: BaseException):  # type: ignore[no-untyped-def]
    """A writer that writes part of the new content, then fails."""

    def write(tmp: str) -> None:
        Path(tmp).write_text("{half a fi", encoding="utf-8")
        raise exc

    return write


@pytest.mark.parametrize("exc", [Boom("disk full"), KeyboardInterrupt()], ids=["exception", "interrupt"])
def test_a_failure_inside_the_write_keeps_the_old_file_and_no_temporary(tmp_path, exc):
    path = atomic_write_text(tmp_path / "results.json", '{"old": true}\n')
    with pytest.raises(type(exc)):
        atomic_write(path, half_then(exc))
    assert path.read_text() == '{"old": true}\n'
    assert sorted(p.name for p in tmp_path.iterdir()) == ["results.json"]


@pytest.mark.parametrize(("umask", "mode"), [(0o022, 0o644), (0o077, 0o600), (0o002, 0o664)])
def test_a_written_file_has_the_mode_a_plain_open_gives(tmp_path, umask, mode):
    """0o666 less the umask, as ``open(path, "w")``: a temporary file's private 0o600 would leave a
    plan, report or segments block unreadable to the colleagues (or web server) sharing the directory."""
    old = os.umask(umask)
    try:
        path = atomic_write_text(tmp_path / "report.md", "# plan\n")
        plain = tmp_path / "plain.md"
        plain.write_text("# plan\n")
    finally:
        os.umask(old)
    assert path.stat().st_mode & 0o777 == mode == plain.stat().st_mode & 0o777


def test_a_failure_inside_the_first_write_leaves_no_file(tmp_path):
    with pytest.raises(Boom):
        atomic_write(tmp_path / "sub" / "new.json", half_then(Boom()))
    assert list((tmp_path / "sub").iterdir()) == []


def test_a_failing_rename_keeps_the_old_file_and_no_temporary(tmp_path, monkeypatch):
    path = atomic_write_text(tmp_path / "summary.csv", "a,b\n1,2\n")

    def refuse(src: str, dst: str) -> None:
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(os, "replace", refuse)
    with pytest.raises(PermissionError):
        atomic_write_text(path, "a,b\n3,4\n")
    monkeypatch.undo()
    assert path.read_text() == "a,b\n1,2\n"
    assert temporary_files(tmp_path) == []


def test_result_writers_fail_without_touching_the_previous_file(tmp_path):
    """write_json / write_csv: a payload that cannot be serialised leaves the old file as it was."""
    json_path = write_json(tmp_path / "meta.json", {"ok": 1})
    with pytest.raises(TypeError):
        write_json(json_path, {"bad": object()})
    assert json.loads(json_path.read_text()) == {"ok": 1}

    class Exploding(pd.DataFrame):
        def to_csv(self, path, **kwargs):  # type: ignore[no-untyped-def,override]
            Path(path).write_text("x,y\n1,")  # half a row, then the process "dies"
            raise Boom("killed")

    csv_path = write_csv(tmp_path / "results.csv", pd.DataFrame({"x": [1], "y": [2]}))
    with pytest.raises(Boom):
        write_csv(csv_path, Exploding({"x": [3], "y": [4]}))
    pd.testing.assert_frame_equal(pd.read_csv(csv_path), pd.DataFrame({"x": [1], "y": [2]}))
    assert temporary_files(tmp_path) == []


# ------------------------------------------------------------------------------ results directory
def copy_of(clean: Path, tmp_path: Path) -> Path:
    import shutil

    return Path(shutil.copytree(clean, tmp_path / "out"))


def test_a_leftover_temporary_file_is_not_a_result_and_a_resume_clears_it(clean, tmp_path):
    out = copy_of(clean, tmp_path)
    rd = out / VICTIM
    # a process killed while writing the run's results: the marker is not there yet, only a
    # half-written temporary beside the previous (complete) results.json
    (rd / "done").unlink()
    (rd / ".results.json.k1ll3d.tmp").write_text('{"key": "x", "rows": [{"scenario": "s3", "ag')
    (out / ".results.csv.k1ll3d.tmp").write_text("scenario,agent\ns3,ghost\n")
    (out / "oracle" / "s3" / ".seed_9.json.k1ll3d.tmp").write_text("{")
    table = collect_results(out)
    assert len(table) == 3 and not ((table.agent == "epsilon_greedy") & (table.seed == 1)).any()
    assert out / VICTIM not in set(iter_done_runs(out))

    res = grid(out)
    assert res.ok and res.count("done") == 1 and res.count("skipped") == 3
    assert not list(rd.glob("*.tmp"))  # the unfinished run folder was cleared and run again
    pd.testing.assert_frame_equal(numbers(out), numbers(clean))


@pytest.mark.parametrize(
    "marker",
    [
        "",  # truncated to nothing
        "{\"key\": \"abc",  # cut mid-write
        "[1, 2]",  # JSON, but not an object
        "null",
        json.dumps({"finished": "2026-01-01T00:00:00+00:00"}),  # no key
        json.dumps({"key": "0123456789abcdef", "finished": "2026-01-01T00:00:00+00:00"}),  # stale
    ],
    ids=["empty", "truncated", "list", "null", "no-key", "stale-key"],
)
def test_a_corrupt_or_stale_marker_makes_the_run_rerun(clean, tmp_path, marker):
    out = copy_of(clean, tmp_path)
    rd = out / VICTIM
    key = json.loads((rd / "results.json").read_text())["key"]
    # the stale results the marker vouches for: a re-run must replace them, not keep them
    payload = json.loads((rd / "results.json").read_text())
    payload["rows"][0]["pct_of_oracle"] = -1.0
    (rd / "results.json").write_text(json.dumps(payload))
    (rd / "done").write_text(marker)

    res = grid(out)
    assert res.ok and res.count("done") == 1 and res.count("skipped") == 3
    rerun = [o for o in res.outcomes if o.kind == "run" and o.status == "done"]
    assert [Path(o.path) for o in rerun] == [rd]
    assert json.loads((rd / "done").read_text())["key"] == key
    pd.testing.assert_frame_equal(numbers(out), numbers(clean))


@pytest.mark.parametrize("damage", ["missing", "truncated", "no-rows"])
def test_a_done_run_without_readable_results_is_a_one_line_error(clean, tmp_path, capsys, damage):
    """The marker is valid but the results it vouches for are gone or damaged (only an outside
    change can do this: results.json is written atomically before the marker)."""
    out = copy_of(clean, tmp_path)
    path = out / VICTIM / "results.json"
    if damage == "missing":
        path.unlink()
    else:
        path.write_text('{"key": "abc", "rows": [' if damage == "truncated" else '{"key": "abc"}')
    assert main(["report", str(out), "--no-plots"]) == 2
    err = capsys.readouterr().err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and str(path) in lines[0], err
    assert "re-run" in lines[0]
