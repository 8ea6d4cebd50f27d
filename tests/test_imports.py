"""What importing budgetgym loads: every spawned grid worker pays it, so the heavy parts of scipy, pandas
and matplotlib are imported where they are used, not by ``import budgetgym``; but every library with a
thread pool (scipy.linalg's OpenBLAS) is loaded by it, so that a ``threadpool_limits`` block entered after
the import (the grid's single-threaded tasks, the test suite's one BLAS thread) limits it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import budgetgym

#: Imported on first use only (seconds of import together; scipy.stats alone ~0.8 s).
LAZY = ["scipy.stats", "scipy.optimize", "scipy.signal", "scipy.special", "pandas", "matplotlib"]


def _run(code: str) -> object:
    """The JSON ``code`` prints last, run in a fresh interpreter with this budgetgym first on its path."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(Path(budgetgym.__file__).parents[1]),
                                                        os.environ.get("PYTHONPATH", "")])}
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120,
                         check=True)
    return json.loads(res.stdout.strip().splitlines()[-1])


def test_import_budgetgym_and_a_grid_workers_task_code_load_no_heavy_scipy_pandas_or_matplotlib():
    # the package, the public API, and a grid worker's task code with every agent
    loaded = _run(
        "import json, sys\nimport budgetgym\n"
        "from budgetgym.envs import best_constant_split, load_family, solve_oracle\n"
        "import budgetgym.agents, budgetgym.experiments.execution\n"
        f"print(json.dumps([m for m in {LAZY!r} if m in sys.modules]))"
    )
    assert loaded == []


def test_the_lazy_imports_bring_no_thread_pool_that_import_budgetgym_did_not_load():
    # importing scipy.linalg inside a threadpool_limits block left its OpenBLAS at 2 threads: the oracle's
    # Cholesky then rounded differently (seasonal-5's oracle moved by one ulp)
    pools, after = _run(
        "import json, threadpoolctl\nimport budgetgym\n"
        "pools = lambda: sorted(i['filepath'] for i in threadpoolctl.threadpool_info())\nbefore = pools()\n"
        "import scipy.optimize, scipy.signal, scipy.special, scipy.stats\nprint(json.dumps([before, pools()]))"
    )
    assert pools and after == pools
