"""Staging directories that versions before the staging moved inside ``--out`` left behind
(:func:`budgetgym.envs.staging.staged_output`): they staged beside ``--out`` in its parent, as
``.<out>.<random>.tmp`` (``simulate`` first as ``.<out>-<random>``; ``segment`` in its directory itself), held no
lock, and a killed writer's stayed for good. The next write into ``--out`` removes one only when its name is that
exact pattern for this ``--out`` and nothing in it changed for a day: a live writer of an old version keeps its
own; anything else is left alone."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pandas as pd
import pytest
from conftest import run_cli

from budgetgym.envs.staging import staged_output

DAY = 24 * 3600.0  # the rule's age: nothing in a leftover changed for a day


def _leftover(path: Path, age: float, fresh: str | None = None) -> Path:
    """A staging directory as an old writer left it (a file, the files set aside), last changed ``age`` seconds ago
    (the entry ``fresh`` just now)."""
    path.mkdir()
    (path / "plan.csv").write_text("day,search\n0,1\n")
    (path / ".replaced.q1w2e3r4").mkdir()
    (path / ".replaced.q1w2e3r4" / "summary.json").write_text("{}")
    then = time.time() - age
    for p in [*path.rglob("*"), path]:
        os.utime(p, (then, then), follow_symlinks=False)
    if fresh is not None:
        os.utime(path / fresh)
    return path


def test_an_old_versions_staging_directories_of_this_out_are_removed_once_a_day_old(tmp_path: Path) -> None:
    out = tmp_path / "results"
    out.mkdir()
    gone = [
        _leftover(tmp_path / ".results.k2j_9xq0.tmp", 2 * DAY),  # plan, calibrate, simulate, segment beside --out
        _leftover(tmp_path / ".results-ab12cd34", 2 * DAY),  # simulate's first scheme
        _leftover(out / ".results.z9y8x7w6.tmp", 2 * DAY),  # segment's, in its directory
    ]
    kept = [
        _leftover(tmp_path / ".results.young123.tmp", DAY - 600),  # may be a live old writer's
        _leftover(tmp_path / ".results.touched1.tmp", 2 * DAY, fresh="plan.csv"),  # a file in it changed just now
        _leftover(tmp_path / ".results.inside12.tmp", 2 * DAY, fresh=".replaced.q1w2e3r4/summary.json"),
        _leftover(tmp_path / ".other.abcd1234.tmp", 2 * DAY),  # another --out's
        _leftover(tmp_path / ".results.abc.tmp", 2 * DAY),  # not a random part of 8
        _leftover(tmp_path / ".results.ABCD1234.tmp", 2 * DAY),  # not tempfile's letters
        _leftover(tmp_path / ".results.abcd1234.tmp.bak", 2 * DAY),
        _leftover(tmp_path / "results.abcd1234.tmp", 2 * DAY),  # not hidden
        _leftover(tmp_path / ".results-ab12cd34.tmp", 2 * DAY),
        _leftover(out / ".results-ab12cd34", 2 * DAY),  # simulate never staged inside
    ]
    (tmp_path / "sub").mkdir()
    kept.append(_leftover(tmp_path / "sub" / ".results.abcd1234.tmp", 2 * DAY))  # another directory's
    (tmp_path / ".results.file1234.tmp").write_text("a file, not a directory")
    victim = _leftover(tmp_path / "victim", 2 * DAY)
    (tmp_path / ".results.link1234.tmp").symlink_to(victim)  # a link is not followed, nor removed
    os.utime(tmp_path / ".results.link1234.tmp", (time.time() - 2 * DAY,) * 2, follow_symlinks=False)
    with staged_output(out) as stage:
        (stage / "x").write_text("1")
    assert [p.name for p in gone if p.exists()] == []
    assert [p.name for p in kept if not (p / "plan.csv").is_file()] == []
    assert (tmp_path / ".results.file1234.tmp").is_file() and (tmp_path / ".results.link1234.tmp").is_symlink()
    assert sorted(p.name for p in victim.rglob("*")) == [".replaced.q1w2e3r4", "plan.csv", "summary.json"]


def test_simulate_removes_an_old_versions_leftover_beside_its_out(tmp_path: Path,
                                                                  capsys: pytest.CaptureFixture[str]) -> None:
    """What a killed ``simulate --out data`` of an old version left (``.data.<random>.tmp`` beside ``data``) goes with
    the next ``simulate --out data``, a week later; the dataset is written as if it were not there."""
    old = _leftover(tmp_path / ".data.x7_k0p2m.tmp", 7 * DAY)
    code, _, err = run_cli(capsys, "simulate", "stationary-3", "--periods", "5", "--out", str(tmp_path / "data"))
    assert code == 0, err
    assert not old.exists() and [p.name for p in tmp_path.iterdir()] == ["data"]
    assert len(pd.read_csv(tmp_path / "data" / "data.csv")) == 5


def test_an_old_leftover_in_a_parent_that_cannot_be_written_is_left_and_the_write_goes_on(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The staging moved inside ``--out`` for a parent that may not be written: removing a leftover there fails, and
    the write into ``--out`` goes on, the leftover left as it was."""
    import shutil

    old = _leftover(tmp_path / ".results.k2j_9xq0.tmp", 2 * DAY)
    real = shutil.rmtree

    def refused(path: str | Path, ignore_errors: bool = False, **kwargs: object) -> None:
        if Path(path) != old:
            real(path, ignore_errors, **kwargs)  # type: ignore[arg-type]
        elif not ignore_errors:
            raise PermissionError(13, "Permission denied", str(path))

    monkeypatch.setattr(shutil, "rmtree", refused)
    with staged_output(tmp_path / "results") as stage:
        (stage / "x").write_text("1")
    assert (old / "plan.csv").is_file()
