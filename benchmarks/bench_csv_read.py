"""Benchmark of :func:`budgetgym.envs.csv_table.read_csv_table` on a European export against its comma twin.

A comma-separated file with the decimal point goes straight to pandas; a ``;``- or tab-separated one is read by
Python's :mod:`csv`, its decimal mark found from its numbers and its decimal commas rewritten before pandas reads it
(the module docstring), which costs time in proportion to its cells. This prints the seconds of each (best of
``--repeats``) for a table of ``--rows`` rows: a customer file for ``budgetgym segment`` is the largest a user gives;
and of a French export (``;``, the decimal comma, thousands grouped by a narrow no-break space: ``1 234,56``), every
column read as numbers (``numbers``, as ``segment`` asks for its feature columns).

Usage::

    python benchmarks/bench_csv_read.py [--rows 200000] [--columns 6] [--repeats 3]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from budgetgym.envs.csv_table import read_csv_table


def _best(path: Path, repeats: int, numbers: list[str]) -> float:
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        read_csv_table(path, "customer file", numbers=numbers)
        times.append(time.perf_counter() - t)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--columns", type=int, default=6)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    frame = pd.DataFrame(rng.uniform(0, 5000, (args.rows, args.columns)).round(2),
                         columns=[f"c{i}" for i in range(args.columns)])
    with tempfile.TemporaryDirectory() as tmp:
        comma, euro, french = Path(tmp) / "comma.csv", Path(tmp) / "euro.csv", Path(tmp) / "french.csv"
        frame.to_csv(comma, index=False)
        frame.to_csv(euro, index=False, sep=";", decimal=",")
        frame.map(lambda v: f"{v:,.2f}".replace(",", "\u202f").replace(".", ",")).to_csv(french, index=False, sep=";")
        cols = list(frame.columns)
        a, b, c = (_best(comma, args.repeats, cols), _best(euro, args.repeats, cols),
                   _best(french, args.repeats, cols))
        same = read_csv_table(comma, "customer file").equals(read_csv_table(euro, "customer file"))
        same_fr = read_csv_table(comma, "customer file").equals(read_csv_table(french, "customer file", numbers=cols))
    print(f"{args.rows:,} rows x {args.columns} columns: comma-separated {a:.3f} s, ';' with decimal commas "
          f"{b:.3f} s ({b / a:.1f}x); same table: {same}; French ('1\u202f234,56') {c:.3f} s ({c / a:.1f}x); same "
          f"table: {same_fr}")


if __name__ == "__main__":
    main()
