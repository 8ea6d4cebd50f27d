"""What importing budgetgym loads: every spawned grid worker pays it, so the heavy parts of scipy, pandas
and matplotlib are imported where they are used, not by ``import budgetgym``."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import budgetgym

#: Imported on first use only (seconds of import together; scipy.stats alone ~0.8 s).
LAZY = ["scipy.stats", "scipy.optimize", "scipy.signal", "scipy.linalg", "scipy.special", "pandas", "matplotlib"]


def _loaded_after(statement: str) -> list[str]:
    """The modules of :data:`LAZY` a fresh interpreter has loaded after ``statement`` (this budgetgym first
    on its path)."""
    code = f"import json, sys\n{statement}\nprint(json.dumps([m for m in {LAZY!r} if m in sys.modules]))"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(Path(budgetgym.__file__).parents[1]),
                                                        os.environ.get("PYTHONPATH", "")])}
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120, check=True)
    return json.loads(res.stdout.strip().splitlines()[-1])


def test_import_budgetgym_and_what_a_grid_worker_imports_load_no_heavy_scipy_pandas_or_matplotlib():
    # the package (env registration), the public API, and a grid worker's task code with every agent
    statement = (
        "import budgetgym\nfrom budgetgym.envs import best_constant_split, load_family, solve_oracle\n"
        "import budgetgym.agents, budgetgym.experiments.execution"
    )
    assert _loaded_after(statement) == []

