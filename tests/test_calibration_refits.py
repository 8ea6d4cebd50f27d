"""The bootstrap's refits in worker processes (:mod:`budgetgym.calibration.refits`) give the same
draws as in one process, in the same order; a bad ``--workers`` is one line and exit 2."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest
from conftest import run_cli
from mmm_synth import Truth, flighted_spend, synthesize

from budgetgym.calibration import ModelSpec, block_bootstrap, fit_model, read_mmm_csv, refits
from budgetgym.calibration.export import fit_costs
from budgetgym.calibration.lift import read_lift_tests
from budgetgym.calibration.refits import CHUNK, Workers, ordered_map

T = 80


def _data(tmp_path: Path) -> Path:
    truth = Truth(beta=np.array([6000.0, 9000.0]), kappa=np.array([1500.0, 9000.0]), slope=np.array([0.8, 1.6]),
                  theta=np.array([0.25, 0.5]))
    spend = flighted_spend(T, [1000.0, 3000.0], np.random.default_rng(3))
    path = tmp_path / "d.csv"
    synthesize(path, truth, spend, noise_sd=300.0, seed=4)
    return path


def test_workers_give_the_serial_draws_in_order(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Two and three processes (with the prior's and a lift test's redraws) return every draw of the
    one-process bootstrap, bit for bit and in its order: no chunk lost, refit twice or misplaced;
    so do workers started beforehand (as ``calibrate`` starts them), ready or not. (The bootstrap is
    short: the workers are made to start, or be waited for, by ``PARALLEL_SECONDS = 0``.)"""
    monkeypatch.setattr(refits, "PARALLEL_SECONDS", 0.0)
    path = _data(tmp_path)
    data = read_mmm_csv(path, date="date", kpi="revenue", spend=["c0_spend", "c1_spend"])
    tests = tmp_path / "lift.csv"
    tests.write_text("channel,x,delta_x,delta_y,sigma\nc1_spend,3000,3000,900,90\n")
    rows = read_lift_tests(tests, data, fit_costs(data)).rows
    fit = fit_model(data, ModelSpec(fourier=0), seed=0, lift=rows)
    draws = 6 * CHUNK + 5  # a short last chunk too
    serial = block_bootstrap(fit, draws, seed=2, prior_draws=True, workers=1)
    assert len(np.unique(serial.beta[:, 0])) == draws  # the draws differ: the order is visible
    runs = {workers: block_bootstrap(fit, draws, seed=2, prior_draws=True, workers=workers) for workers in (2, 3)}
    with Workers(2) as started:  # started, not yet ready: this process waits for it (PARALLEL_SECONDS = 0)
        runs[-1] = block_bootstrap(fit, draws, seed=2, prior_draws=True, started=started)
    with Workers(3) as started:  # started and ready: every chunk but the first offered to them
        deadline = time.monotonic() + 120
        while not started.ready and time.monotonic() < deadline:
            time.sleep(0.05)
        assert started.ready
        runs[-2] = block_bootstrap(fit, draws, seed=2, prior_draws=True, started=started)
    for workers, parallel in runs.items():
        for name in ("phi", "beta", "coef", "lift_y"):
            np.testing.assert_array_equal(getattr(parallel, name), getattr(serial, name), err_msg=f"{workers} {name}")


def test_bad_workers_exit_2_with_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = _data(tmp_path)
    code, out, err = run_cli(capsys, "calibrate", str(path), "--date", "date", "--kpi", "revenue", "--spend",
                             "c0_spend,c1_spend", "--draws", "4", "--workers", "0", "--out", str(tmp_path / "out"))
    assert code == 2, (out, err)
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0] == "error: --workers: expected a positive number of processes, got 0", lines
    assert not (tmp_path / "out").exists()


def test_ordered_map_meets_in_the_middle() -> None:
    """The calling thread works from the first item and the pool from the last: every item is
    computed exactly once, the results are in the items' order, and both ends did some of them."""
    where: dict[int, list[str]] = {}
    lock = threading.Lock()

    def slow_square(x: int) -> int:
        with lock:
            where.setdefault(x, []).append(threading.current_thread().name)
        time.sleep(0.01)  # long enough for the pool's thread to start on the last items
        return x * x

    items = list(range(40))
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="pool") as pool:
        assert ordered_map(slow_square, items, pool) == [x * x for x in items]
    assert sorted(where) == items and all(len(v) == 1 for v in where.values())
    by_pool = sorted(x for x, v in where.items() if v[0].startswith("pool"))
    assert by_pool and len(by_pool) < len(items)
    assert by_pool == list(range(min(by_pool), len(items)))  # a tail: the pool started from the end
    assert ordered_map(slow_square, [], pool) == []
