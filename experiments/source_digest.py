r"""The code of a custom agent, as a digest a run's key can hold.

A run's key (:attr:`~budgetgym.experiments.tasks.RunTask.key`) says which runs of a results directory are
complete: re-running skips a run whose ``done`` marker holds the same key. The key hashes the grid's
configuration, not budgetgym's code; for an agent from outside budgetgym (a team's own module, named under
``imports:``) that left out exactly what a team's CI changes: re-running its gate into the same directory after
editing the agent skipped every run as complete, and the gate passed on the old numbers.

:func:`agent_code_digest` is the SHA-256 (first 16 hex digits) of the source files of the top-level package of
the module defining the agent's class and of its trainer (``trainer: module:function``):

.. math::

    \mathrm{digest} = \mathrm{SHA256}\big(\Vert_{f \in F} (\mathrm{path}_f \,\Vert\, \mathrm{bytes}_f)\big),

with :math:`F` the ``*.py`` files of those packages (a plain module: its one file) in sorted order, each by its
path relative to its package's folder, so the digest does not depend on where the repository is checked out.
An edit anywhere in the team's package re-runs its agent's runs; an unchanged tree keeps its keys, so an
interrupted run still resumes. Built-in agents (modules of ``budgetgym``) have no digest and keep their keys.
asv versions a benchmark by its source code in the same way.
"""

from __future__ import annotations

import hashlib
import importlib
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

from budgetgym.experiments.config import AgentSpec

__all__ = ["agent_code_digest"]

#: Folders of a package never hashed: caches and virtual environments inside a repository.
SKIPPED = {"__pycache__", ".git", ".venv", "venv", "node_modules", ".tox", ".mypy_cache", ".ruff_cache"}


def agent_code_digest(spec: AgentSpec) -> str | None:
    """The digest of the code of ``spec``'s agent class and trainer when they come from outside budgetgym
    (module docstring), else ``None``; the agent's module must be imported (its ``imports`` are)."""
    from budgetgym.agents.base import agent_class

    modules = [agent_class(spec.agent).__module__]
    if spec.trainer is not None:
        modules.append(spec.trainer.partition(":")[0])
    tops = sorted({name.partition(".")[0] for name in modules} - {"budgetgym"})
    if not tops:
        return None
    digest = hashlib.sha256()
    found = False
    for top in tops:
        module = sys.modules.get(top) or importlib.import_module(top)
        for label, path in _source_files(module):
            digest.update(f"{top}/{label}\0".encode())
            digest.update(path.read_bytes())
            digest.update(b"\0")
            found = True
    return digest.hexdigest()[:16] if found else None


def _source_files(module: ModuleType) -> Iterator[tuple[str, Path]]:
    """``(path relative to the package's folder, path)`` of each ``*.py`` file of ``module``'s package (a plain
    module: its file), in sorted order; nothing for a module without files (a notebook's ``__main__``)."""
    roots = [Path(p) for p in getattr(module, "__path__", [])]
    if not roots:
        file = getattr(module, "__file__", None)
        if file and Path(file).suffix == ".py" and Path(file).is_file():
            yield Path(file).name, Path(file)
        return
    for root in roots:
        files = (p for p in root.rglob("*.py") if not SKIPPED & set(p.relative_to(root).parts[:-1]))
        for path in sorted(files):
            if path.is_file():
                yield path.relative_to(root).as_posix(), path
