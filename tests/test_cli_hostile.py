"""Hostile command-line arguments: each is accepted and runs, or is refused in one line on stderr
(exit 2, no traceback) naming the option and what was expected, leaving no output behind."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from conftest import run_cli


def test_a_plan_starting_days_before_the_last_date_pandas_holds_in_nanoseconds_runs_past_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # stationary-3: 14 daily steps from 2262-04-10 (the last date a data column holds is 2262-04-11),
    # so the 14th step falls on 2262-04-23: 13 days on, by hand
    code, _, err = run_cli(capsys, "plan", "stationary-3", "--start-date", "2262-04-10", "--no-plots",
                           "--out", str(tmp_path / "p"))
    assert code == 0, err
    dates = pd.read_csv(tmp_path / "p" / "plan.csv")["date"].drop_duplicates().tolist()
    assert dates[0] == "2262-04-10" and dates[-1] == "2262-04-23" and len(dates) == 14


def test_a_history_dated_up_to_days_before_the_last_nanosecond_date_is_continued_past_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    history = tmp_path / "history.csv"
    days = pd.date_range("2262-03-01", "2262-04-09", freq="D")  # the window starts on 2262-04-10
    pd.DataFrame({"date": days.strftime("%Y-%m-%d"), "search": 100.0, "social": 50.0, "video": 20.0}).to_csv(
        history, index=False)
    code, _, err = run_cli(capsys, "plan", "stationary-3", "--history", str(history), "--no-plots",
                           "--out", str(tmp_path / "p"))
    assert code == 0, err
    dates = pd.read_csv(tmp_path / "p" / "plan.csv")["date"].drop_duplicates().tolist()
    assert dates[0] == "2262-04-10" and dates[-1] == "2262-04-23" and len(dates) == 14


def test_an_interrupted_calibrate_does_not_promise_runs_to_resume(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Ctrl-C in any command printed the grid runner's "finished runs are kept; run the same
    command again to resume": calibrate has no runs and starts again from the beginning."""
    import budgetgym.calibration as calibration

    def interrupted(*args: object, **kwargs: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(calibration, "calibrate", interrupted)
    data = tmp_path / "data.csv"
    data.write_text("date,kpi,a\n2024-01-01,1,1\n")
    code, _, err = run_cli(capsys, "calibrate", str(data), "--date", "date", "--kpi", "kpi", "--spend", "a",
                           "--out", str(tmp_path / "fit"))
    assert code == 130
    assert err == "interrupted: run the same command again to start over (only budgetgym run resumes)\n"


def test_calibrates_bootstrap_workers_leave_ctrl_c_to_the_command(monkeypatch: pytest.MonkeyPatch) -> None:
    """Ctrl-C reaches every process of the terminal's group: calibrate's bootstrap workers each
    printed a KeyboardInterrupt traceback beside the command's one-line message. They are now
    started with SIGINT ignored; the command handles it and stops them."""
    import os
    import signal

    import budgetgym.calibration.refits as refits

    monkeypatch.setattr(refits, "_ready", os.getpid)  # a first task that does not import budgetgym (fast)
    before = signal.getsignal(signal.SIGINT)
    with refits.Workers(2) as workers:
        assert workers.pool.submit(signal.getsignal, signal.SIGINT).result() == signal.SIG_IGN
    assert signal.getsignal(signal.SIGINT) is before  # this process's Ctrl-C is restored


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="reads /proc")
def test_the_grid_pools_workers_all_leave_ctrl_c_to_the_command() -> None:
    """``run --workers 2``'s pool spawns a worker per submit; only the first was spawned with SIGINT ignored
    (the second, spawned by the grid's tasks, printed its own KeyboardInterrupt traceback on Ctrl-C). Every
    worker of a started pool must ignore SIGINT (``SigIgn`` bit 2 in /proc)."""
    import signal
    import time

    from budgetgym.experiments.backends import ProcessPoolBackend

    backend = ProcessPoolBackend(2)
    backend.start()
    try:
        end = time.monotonic() + 60  # each worker reports its PID once started (a bound on the wait, not a timing)
        while len(backend.worker_pids()) < 2 and time.monotonic() < end:
            time.sleep(0.05)
        pids = sorted(backend.worker_pids())
        assert len(pids) == 2
        for pid in pids:
            status = Path(f"/proc/{pid}/status").read_text()
            ignored = int(next(line.split()[1] for line in status.splitlines() if line.startswith("SigIgn")), 16)
            assert ignored >> (signal.SIGINT - 1) & 1, pid
    finally:
        backend.close()


@pytest.mark.parametrize(("argv", "hint"), [
    (["run", "quickstrt"], "(did you mean 'quickstart'?)"),
    (["run", "quickstart", "--backend", "locl"], "(did you mean 'local'?)"),
    (["plan", "stationary-3", "--lift-design", "voii"], "(did you mean 'voi'?)"),
    (["simulate", "stationary-3", "--periods", "4", "--plan", "equl"], "(did you mean 'equal'?)"),
    (["plan", "stationary-3", "--current", "eqal"], "(did you mean 'equal'?)"),
    (["plan", "stationary-3", "--objective", "maen"], "(did you mean 'mean'?)"),
    (["plan", "stationary-3", "--objective", "cvr:0.1"], "(did you mean 'cvar'?)"),
])
def test_a_misspelt_choice_suggests_the_closest_one(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], argv: list[str], hint: str
) -> None:
    """CONTRIBUTING: unknown names get a "did you mean"; these four listed the choices only."""
    out = tmp_path / "out"
    code, _, err = run_cli(capsys, *argv, "--out", str(out))
    assert code == 2
    assert err.startswith("error: ") and err.rstrip("\n").endswith(hint) and err.count("\n") == 1
    assert not out.exists()
