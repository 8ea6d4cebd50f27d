"""Progress display of ``budgetgym run``: a tqdm bar on a terminal, plain complete lines in a
file or pipe (a fake clock drives the time-based lines; no wall time is asserted)."""

from __future__ import annotations

import io

from budgetgym.experiments.progress import LineProgress, interactive, progress_bar


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


class FakeTerminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_lines_at_every_fifth_of_the_way_and_once_at_the_end():
    stream, clock = io.StringIO(), FakeClock()
    bar = LineProgress(10, "budgetgym run", stream, step_percent=20.0, every_s=1e9, clock=clock)
    for i in range(10):
        clock.now += 3.0
        bar.set_postfix_str(f"task {i}", refresh=False)
        bar.update(1)
    bar.close()
    # 20 % of 10 tasks = a line every 2 tasks; the last line is not repeated by close()
    assert stream.getvalue().splitlines() == [
        "budgetgym run: 2/10 tasks (20%), 00:06 elapsed, last: task 1",
        "budgetgym run: 4/10 tasks (40%), 00:12 elapsed, last: task 3",
        "budgetgym run: 6/10 tasks (60%), 00:18 elapsed, last: task 5",
        "budgetgym run: 8/10 tasks (80%), 00:24 elapsed, last: task 7",
        "budgetgym run: 10/10 tasks (100%), 00:30 elapsed, last: task 9",
    ]
    assert "\r" not in stream.getvalue()


def test_a_slow_grid_prints_on_time_between_marks_and_close_adds_the_final_count():
    stream, clock = io.StringIO(), FakeClock()
    bar = LineProgress(100, "grid", stream, step_percent=50.0, every_s=60.0, clock=clock)
    clock.now += 30.0
    bar.update(1)  # 1 task, 30 s: neither a mark nor a minute
    clock.now += 45.0
    bar.update(1)  # 75 s since the start (and the last line): a time line
    clock.now += 3600.0 - 75.0 + 5.0
    bar.update(2)  # a minute later again: a time line, elapsed above one hour
    bar.close()  # 4 of 100: close prints nothing new (the last line showed 4 already)
    assert stream.getvalue().splitlines() == [
        "grid: 2/100 tasks (2%), 01:15 elapsed",
        "grid: 4/100 tasks (4%), 1:00:05 elapsed",
    ]


def test_close_prints_the_final_count_when_no_line_showed_it():
    stream, clock = io.StringIO(), FakeClock()
    bar = LineProgress(3, "grid", stream, step_percent=100.0, every_s=1e9, clock=clock)
    bar.update(2)
    bar.close()
    assert stream.getvalue().splitlines() == ["grid: 2/3 tasks (67%), 00:00 elapsed"]


def test_progress_bar_is_tqdm_on_a_terminal_and_lines_otherwise():
    from tqdm import tqdm

    plain = progress_bar(4, stream=io.StringIO())
    assert isinstance(plain, LineProgress)
    term = FakeTerminal()
    bar = progress_bar(4, stream=term)
    try:
        assert isinstance(bar, tqdm)
        bar.update(4)
    finally:
        bar.close()
    assert "\r" in term.getvalue()  # tqdm redraws in place: right on a terminal, wrong in a log
    assert interactive(term) and not interactive(io.StringIO())
