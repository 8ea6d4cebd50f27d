"""Where an output directory is staged (:func:`budgetgym.envs.staging.staged_output`): in ``--out`` itself, so a parent
that cannot be written or is on another file system does not matter, and a killed writer's staging directory is
removed by the next writer of ``--out``. Every command writing a directory (``simulate``, ``calibrate``, ``plan``,
``segment``) goes through it; ``simulate`` is the quickest to run here."""

from __future__ import annotations

import errno
import os
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from conftest import files_of, run_cli

from budgetgym.envs.io import staged_output
from budgetgym.experiments.simulate import simulate_dataset, write_dataset

SIMULATE = ["simulate", "stationary-3", "--periods", "6", "--plan", "equal"]


def _hidden(*dirs: Path) -> list[str]:
    """The hidden entries (a staging directory, a temporary file) of ``dirs``, recursively."""
    return sorted(p.as_posix() for d in dirs for p in d.rglob(".*"))


def test_an_out_whose_parent_cannot_be_written_is_written(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    """``--out`` exists and may be written, its parent not (a directory made writable for the tool in a read-only
    one, as root cannot be refused here: every new entry of the parent is refused). It was exit 2, "cannot be
    written (Permission denied)", since the files were staged in the parent."""
    parent = tmp_path / "readonly"
    out = parent / "data"
    out.mkdir(parents=True)
    real_mkdir, real_open = os.mkdir, os.open

    def refused(path: Any) -> None:
        if Path(os.fsdecode(path)).parent == parent:
            raise PermissionError(errno.EACCES, "Permission denied", os.fsdecode(path))

    def mkdir(path: Any, *args: Any, **kwargs: Any) -> None:
        refused(path)
        real_mkdir(path, *args, **kwargs)

    def open_(path: Any, flags: int, *args: Any, **kwargs: Any) -> int:
        if flags & os.O_CREAT:
            refused(path)
        return real_open(path, flags, *args, **kwargs)

    monkeypatch.setattr(os, "mkdir", mkdir)
    monkeypatch.setattr(os, "open", open_)
    code, _, err = run_cli(capsys, *SIMULATE, "--out", str(out))
    assert code == 0, err
    assert sorted(files_of(out)) == ["data.csv", "summary.json", "truth/contributions.csv", "truth/curves.csv",
                                     "truth/scenario.yaml"]
    assert [p.name for p in parent.iterdir()] == ["data"] and _hidden(out) == []


def test_an_out_on_another_file_system_than_its_parent_is_written(tmp_path: Path,
                                                                  capsys: pytest.CaptureFixture[str],
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """``--out`` a mount point (a Docker volume, a USB drive): a rename between it and its parent is EXDEV. It was
    exit 2, "cannot be written (Invalid cross-device link)", since the files were staged in the parent."""
    out = tmp_path / "volume"
    out.mkdir()
    real_replace, real_rename = os.replace, os.rename

    def device(path: Any) -> bool:
        return Path(os.fsdecode(path)).is_relative_to(out)

    def across(real: Any) -> Any:
        def move(src: Any, dst: Any, **kwargs: Any) -> None:
            if device(src) != device(dst):
                raise OSError(errno.EXDEV, "Invalid cross-device link")
            real(src, dst, **kwargs)
        return move

    monkeypatch.setattr(os, "replace", across(real_replace))
    monkeypatch.setattr(os, "rename", across(real_rename))
    code, _, err = run_cli(capsys, *SIMULATE, "--out", str(out))
    assert code == 0, err
    assert len(pd.read_csv(out / "data.csv")) == 6 and _hidden(tmp_path) == []


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
@pytest.mark.parametrize("earlier", [False, True], ids=["new out", "over an earlier dataset"])
def test_a_killed_writers_staging_directory_is_removed_by_the_next_write(tmp_path: Path, earlier: bool) -> None:
    """A writer killed mid-write (SIGKILL, the OOM killer: no cleanup runs, here ``os._exit``) left its staging
    directory for good (``.data.<random>.tmp`` beside ``--out``), never removed nor reported. The next write into
    ``--out`` removes it, and writes the dataset as if it were not there."""
    ds = simulate_dataset("stationary-3", 6, "equal")
    out = tmp_path / "data"
    if earlier:
        write_dataset(simulate_dataset("stationary-3", 4, "equal"), out)
    pid = os.fork()
    if pid == 0:  # the writer, killed half-way through its files
        try:
            with staged_output(out) as stage:
                (stage / "data.csv").write_text("date,kpi\n2024-01-01,")
                os._exit(0)
        finally:
            os._exit(1)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    left = _hidden(tmp_path)
    assert len(left) >= 1  # what the killed writer left (its staging directory)
    assert ("data.csv" in files_of(out)) == earlier  # nothing half-written moved in
    write_dataset(ds, out)
    assert _hidden(tmp_path) == []
    assert [p.name for p in tmp_path.iterdir()] == ["data"] and len(pd.read_csv(out / "data.csv")) == 6


def test_a_live_writers_staging_directory_is_left_alone(tmp_path: Path) -> None:
    """Another writer of the same ``--out`` still at work keeps its staging directory (and its files)."""
    out = tmp_path / "data"
    with staged_output(out) as stage:
        (stage / "x.csv").write_text("a\n1\n")
        write_dataset(simulate_dataset("stationary-3", 6, "equal"), out)
        assert (stage / "x.csv").read_text() == "a\n1\n"
    assert _hidden(tmp_path) == [] and len(pd.read_csv(out / "data.csv")) == 6


@pytest.mark.parametrize("earlier", [False, True], ids=["new out", "over an earlier dataset"])
def test_a_writer_failing_midway_leaves_the_earlier_output_and_no_staging(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, earlier: bool
) -> None:
    """A full disk after the first file is written: one line, exit 2, ``--out`` as it was (or absent), nothing
    staged left in it or beside it."""
    out = tmp_path / "data"
    if earlier:
        assert run_cli(capsys, *SIMULATE, "--periods", "4", "--out", str(out))[0] == 0
    before = files_of(out) if earlier else None
    real = pd.DataFrame.to_csv
    calls: list[object] = []

    def full_disk(self: pd.DataFrame, *args: Any, **kwargs: Any) -> Any:
        calls.append(args)
        if len(calls) == 2:
            raise OSError(errno.ENOSPC, "No space left on device")
        return real(self, *args, **kwargs)

    monkeypatch.setattr(pd.DataFrame, "to_csv", full_disk)
    code, _, err = run_cli(capsys, *SIMULATE, "--out", str(out))
    assert code == 2 and err == f"error: output directory '{out}': cannot be written (No space left on device)\n"
    assert len(calls) == 2
    if earlier:
        assert files_of(out) == before
    else:
        assert not out.exists()
    assert _hidden(tmp_path) == []
