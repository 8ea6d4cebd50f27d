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

#: A fresh interpreter imports the package, the public API and a grid worker's task code with every agent,
#: notes what is loaded and which thread pools exist, then imports the lazy modules and notes the pools again.
PROBE = f"""
import json, sys
import threadpoolctl
import budgetgym
from budgetgym.envs import best_constant_split, load_family, solve_oracle
import budgetgym.agents, budgetgym.experiments.execution
loaded = [m for m in {LAZY!r} if m in sys.modules]
pools = sorted(i["filepath"] for i in threadpoolctl.threadpool_info())
import scipy.optimize, scipy.signal, scipy.special, scipy.stats
print(json.dumps([loaded, pools, sorted(i["filepath"] for i in threadpoolctl.threadpool_info())]))
"""


def test_import_budgetgym_loads_no_heavy_scipy_pandas_or_matplotlib_but_every_thread_pool():
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(Path(budgetgym.__file__).parents[1]),
                                                        os.environ.get("PYTHONPATH", "")])}
    res = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, env=env, timeout=120,
                         check=True)
    loaded, pools, pools_after = json.loads(res.stdout.strip().splitlines()[-1])
    assert loaded == []
    # importing scipy.linalg inside a threadpool_limits block left its OpenBLAS at 2 threads: the oracle's
    # Cholesky then rounded differently (seasonal-5's oracle moved by one ulp)
    assert pools and pools_after == pools
