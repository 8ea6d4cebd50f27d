"""Where a result comes from: the package versions, the git commit and the machine.

:func:`environment_info` is recorded in a results directory's ``meta.json``
(:mod:`budgetgym.experiments.results`) and a simulated dataset's ``summary.json`` (a plan keeps
its git commit); :func:`package_versions`, the installed versions of budgetgym and the libraries
its results depend on, also goes into a regression baseline.
"""

from __future__ import annotations

import os
import platform
import socket
import subprocess
import sys
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

__all__ = ["environment_info", "package_versions"]

_PACKAGES = [
    "budgetgym",
    "numpy",
    "scipy",
    "gymnasium",
    "pydantic",
    "PyYAML",
    "pandas",
    "matplotlib",
    "stable-baselines3",
    "sb3-contrib",
    "torch",
    "ray",
]


def _git_info(root: Path) -> dict[str, Any]:
    def git(*args: str) -> str | None:
        try:
            res = subprocess.run(
                ["git", "-C", str(root), *args], capture_output=True, text=True, timeout=10, check=False
            )
        except (OSError, subprocess.SubprocessError):
            return None
        return res.stdout.strip() if res.returncode == 0 else None

    commit = git("rev-parse", "HEAD")
    if commit is None:
        return {"commit": None, "dirty": None}
    status = git("status", "--porcelain")
    return {"commit": commit, "dirty": bool(status)}


def package_versions() -> dict[str, str | None]:
    """Installed versions of budgetgym and the libraries its results depend on."""
    out: dict[str, str | None] = {}
    for name in _PACKAGES:
        try:
            out[name] = version(name)
        except PackageNotFoundError:
            out[name] = None
    return out


def environment_info() -> dict[str, Any]:
    """Package versions, git commit (and whether the tree has uncommitted changes), machine."""
    import budgetgym

    root = Path(budgetgym.__file__).resolve().parent
    return {
        "python": sys.version.split()[0],
        "packages": package_versions(),
        "git": _git_info(root),
        "machine": {
            "hostname": socket.gethostname(),
            "platform": platform.platform(),
            "processor": platform.machine(),
            "cpu_count": os.cpu_count(),
        },
    }
