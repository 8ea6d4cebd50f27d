"""Output directories written all or nothing: the files are written into a staging directory inside the output
directory, then renamed into place (:func:`staged_output`, :func:`move_staged`; re-exported by
:mod:`budgetgym.envs.io`).

The staging directory is made *inside* ``out`` (created when it does not exist), never beside it: ``out``'s parent
may not be writable (``--out ~/results`` of a user who may not write ``/home``, a directory made writable for the
tool) or may be on another file system (``out`` a mount point: a Docker volume, a USB drive), where a rename from the
parent is ``EXDEV``, "Invalid cross-device link". Each rename is then within one directory tree on one file system.

A writer killed outright (SIGKILL, the out-of-memory killer, a power cut) cannot remove its staging directory. Its
writer holds an advisory lock (``flock``) on it while it lives, which the kernel releases when the process dies, so
the next writer of ``out`` removes every staging directory there whose lock it can take (a dead writer's), and
leaves one whose writer still runs. Where locks are not available (no ``fcntl``, a file system refusing them),
nothing is removed that way: a leftover is a hidden ``.budgetgym-stage.*.tmp`` directory, which the checks of what
``out`` holds pass over (:func:`is_stage`).

Versions before this scheme staged *beside* ``out``, in its parent, as ``.<out's name>.<random>.tmp`` (``simulate``
first as ``.<out's name>-<random>``; ``segment`` in its directory itself), ``<random>`` the 8 characters of
:func:`tempfile.mkdtemp`, and held no lock, so what a killed writer of such a version left stayed for good. A writer
of ``out`` removes those of its own ``out`` once nothing in them changed for :data:`OLD_STAGE_AGE` (a writer of an
old version still at work changes its staging directory within seconds or minutes, and no lock tells it apart):
a directory, not a link, owned by the user, named by that exact pattern for this ``out`` (:func:`_old_stages`).
Anything else is left alone, and so is a leftover that cannot be removed (a parent that may not be written).
"""

from __future__ import annotations

import os
import re
import shutil
import stat
import tempfile
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

from budgetgym.envs.errors import BudgetGymError

try:
    import fcntl
except ImportError:  # pragma: no cover - not on POSIX: no locks, no stale staging directories removed
    fcntl = None  # type: ignore[assignment]

__all__ = ["OLD_STAGE_AGE", "STAGE_PREFIX", "check_out_dir", "is_stage", "move_staged", "staged_output"]

#: The start of a staging directory's name (:func:`staged_output`): ``.budgetgym-stage.<random>.tmp`` in ``out``.
STAGE_PREFIX = ".budgetgym-stage."

#: Seconds since anything in an old version's staging directory last changed before a writer removes it (a day).
OLD_STAGE_AGE = 24 * 3600.0

#: The random part of :func:`tempfile.mkdtemp`'s names (8 of its characters), which the old schemes' names end with.
_RANDOM = "[a-z0-9_]{8}"


def check_out_dir(out: str | Path) -> Path:
    """``out`` as a path; a one-line error if it exists and is not a directory, or if a parent of it
    is a file (checked before any work, so a bad ``--out`` costs nothing)."""
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise BudgetGymError(f"output directory '{out}': exists and is not a directory")
    blocker = next((p for p in out.parents if p.exists()), None)
    if blocker is not None and not blocker.is_dir():
        raise BudgetGymError(f"output directory '{out}': '{blocker}' is a file, not a directory")
    return out


def is_stage(path: Path) -> bool:
    """Whether ``path`` is a staging directory of :func:`staged_output` (a live writer's or a dead one's)."""
    return path.name.startswith(STAGE_PREFIX) and path.is_dir()


def _lock(directory: Path, wait: bool = False) -> int | None:
    """An open descriptor of ``directory`` holding its exclusive lock (``wait``: once another process releases it),
    ``None`` when another process holds it (a staging directory's writer lives) or locks are not available."""
    if fcntl is None:
        return None
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX if wait else fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        os.close(fd)
        return None
    return fd


def _last_change(path: Path) -> float | None:
    """The latest modification time (seconds since the epoch) of ``path`` and everything under it, links not
    followed; ``None`` when ``path`` is not a real directory of this user or something in it cannot be read."""
    try:
        info = path.lstat()
        if not stat.S_ISDIR(info.st_mode) or (hasattr(os, "getuid") and info.st_uid != os.getuid()):
            return None
        latest = info.st_mtime
        for root, dirs, files in os.walk(path, onerror=_raise):
            for name in (*dirs, *files):
                latest = max(latest, os.lstat(os.path.join(root, name)).st_mtime)
    except OSError:
        return None
    return latest


def _raise(err: OSError) -> None:
    raise err


def _old_stages(out: Path) -> list[Path]:
    """The staging directories that versions before :data:`STAGE_PREFIX` left for ``out`` (module docstring): in
    ``out``'s parent ``.<name>.<random>.tmp`` and ``.<name>-<random>``, in ``out`` ``.<name>.<random>.tmp``,
    ``<name>`` ``out``'s name as given, nothing in them changed for :data:`OLD_STAGE_AGE`."""
    name = re.escape(out.name)
    tmp = rf"\.{name}\.{_RANDOM}\.tmp"
    beside, inside = re.compile(rf"{tmp}|\.{name}-{_RANDOM}"), re.compile(tmp)
    found = []
    for home, pattern in ((out.parent, beside), (out, inside)):
        try:
            found += [p for p in home.iterdir() if pattern.fullmatch(p.name) and not p.name.startswith(STAGE_PREFIX)]
        except OSError:  # a parent that cannot be listed
            continue
    now = time.time()
    return [p for p in found if (changed := _last_change(p)) is not None and now - changed > OLD_STAGE_AGE]


def _remove_stale_stages(home: Path) -> None:
    """Remove the staging directories in ``home`` whose writer is gone: those whose lock this process can take."""
    for stage in home.glob(f"{STAGE_PREFIX}*"):
        if not is_stage(stage):
            continue
        fd = _lock(stage)
        if fd is not None:
            try:
                shutil.rmtree(stage, ignore_errors=True)
            finally:
                os.close(fd)


@contextmanager
def staged_output(out: str | Path) -> Iterator[Path]:
    """A staging directory in the output directory ``out`` (created; module docstring) to write into, then move
    from (:func:`move_staged`), locked while the ``with`` block runs; stale ones of killed writers are removed first,
    and an old version's that nothing changed for a day (module docstring).

    On any error in the ``with`` block, ``out`` is removed if it did not exist before, as are the
    staging directory and the parents of ``out`` this created, so nothing is left half-written; an
    :class:`OSError` (a full disk, no permission) becomes the one-line :class:`BudgetGymError`
    ``output directory '<out>': cannot be written (<reason>)``. The staging directory is removed
    on the way out in any case (whatever was not moved from it).
    """
    out = check_out_dir(out)
    existed = out.exists()
    created = [p for p in (out.parent, *out.parent.parents) if not p.exists()]  # deepest first
    stage: Path | None = None
    fd: int | None = None
    try:
        out.mkdir(parents=True, exist_ok=True)
        guard = _lock(out, wait=True)  # no other writer of out takes the new stage for a stale one before it is locked
        try:
            _remove_stale_stages(out)
            for old in _old_stages(out):
                shutil.rmtree(old, ignore_errors=True)
            stage = Path(tempfile.mkdtemp(prefix=STAGE_PREFIX, suffix=".tmp", dir=out))
            fd = _lock(stage)
        finally:
            if guard is not None:
                os.close(guard)
        yield stage
    except BaseException as exc:
        if not existed:
            shutil.rmtree(out, ignore_errors=True)
        for p in created:
            try:
                p.rmdir()
            except OSError:
                break
        if isinstance(exc, OSError):
            raise BudgetGymError(f"output directory '{out}': cannot be written ({exc.strerror or exc})") from None
        raise
    finally:
        if stage is not None:
            shutil.rmtree(stage, ignore_errors=True)
        if fd is not None:
            with suppress(OSError):
                os.close(fd)


def move_staged(stage: Path, out: Path, names: list[str], remove: Iterable[str] = ()) -> None:
    """Move the files ``names`` (paths relative to the directory, ``plots/a.png`` too) from a
    :func:`staged_output` directory into ``out``, the directory that :func:`staged_output` made ``stage`` in (so it
    exists), in order, each by one rename (creating the subdirectories the names need), after taking out the files
    ``remove`` of ``out`` (an earlier output's files the new one has not; absent ones are skipped).

    All or nothing: a file of ``out`` that a name replaces or ``remove`` lists is first moved aside into
    ``stage``, so when a rename fails or Ctrl-C arrives midway, the files moved in so far are taken out
    again, the files moved aside are put back and the subdirectories created are removed, and the error is
    raised again: ``out`` holds its earlier files as they were, never some of a new output among some of an
    old one. (What was moved aside goes with ``stage`` when :func:`staged_output` removes it.)
    """
    aside = Path(tempfile.mkdtemp(prefix=".replaced.", dir=stage))
    done: list[tuple[str, bool]] = []  # (name, whether out held a file of that name), in the order changed
    made: list[Path] = []  # subdirectories of out created, parents first
    gone = [n for n in dict.fromkeys(remove) if n not in names]
    try:
        for name in [*gone, *names]:
            target = out / name
            if name in gone and not target.is_file():
                continue
            made += [p for p in reversed(target.relative_to(out).parents) if p.parts and not (out / p).exists()]
            target.parent.mkdir(parents=True, exist_ok=True)
            done.append((name, target.exists()))
            if done[-1][1]:
                (aside / name).parent.mkdir(parents=True, exist_ok=True)
                os.replace(target, aside / name)
            if name not in gone:
                os.replace(stage / name, target)
    except BaseException:
        for name, had in reversed(done):
            if had and (aside / name).exists():
                os.replace(aside / name, out / name)
            elif not had:
                (out / name).unlink(missing_ok=True)
        for sub in reversed(made):
            try:
                (out / sub).rmdir()
            except OSError:
                pass
        raise
