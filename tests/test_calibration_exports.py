"""Files as a media planner exports them (issue 11): a spreadsheet's trailing empty rows, numbers with
thousands separators, a geo-level Meridian file, spend columns named with punctuation, less than a year of
data, a plan file dated for another quarter given to ``simulate --plan``, and the contributions figure's
legend with many channels. Every file is written here, tiny, in ``tmp_path``."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from budgetgym.calibration import read_mmm_csv
from budgetgym.envs.errors import BudgetGymError

T = 30


def _table(n: int = T, seed: int = 0, start: str = "2023-01-02") -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame({"date": pd.date_range(start, periods=n, freq="7D").strftime("%Y-%m-%d"),
                         "revenue": rng.uniform(1e4, 2e4, n).round(2), "tv_spend": rng.uniform(100, 900, n).round(2),
                         "search_spend": rng.uniform(100, 900, n).round(2)})


def _read(path: Path, spend: str = "tv_spend,search_spend", date: str = "date") -> object:
    return read_mmm_csv(path, date=date, kpi="revenue", spend=spend)


@pytest.mark.parametrize(("written", "sep"), [("1,234.5", ","), ("1.234,5", "."), ("12,345,678", ",")])
def test_numbers_with_thousands_separators_get_a_hint(tmp_path: Path, written: str, sep: str) -> None:
    df = _table().astype({"tv_spend": object})
    df.loc[0, "tv_spend"] = written
    df.to_csv(tmp_path / "d.csv", index=False)  # quoted by the writer, as a spreadsheet does
    assert f'"{written}"' in (tmp_path / "d.csv").read_text()
    with pytest.raises(BudgetGymError) as err:
        _read(tmp_path / "d.csv")
    msg = str(err.value)
    assert f"column 'tv_spend', row 1: spend must be a finite number, got '{written}'" in msg
    assert f"thousands separator ('{sep}'); export the numbers without it" in msg and "\n" not in msg


def test_text_that_is_no_grouped_number_gets_no_separator_hint(tmp_path: Path) -> None:
    for value in ("n/a", "12,5", "1,23"):
        df = _table().astype({"revenue": object})
        df.loc[2, "revenue"] = value
        df.to_csv(tmp_path / "d.csv", index=False)
        with pytest.raises(BudgetGymError) as err:
            _read(tmp_path / "d.csv")
        assert "row 3: the KPI must be a finite number" in str(err.value)
        assert "separator" not in str(err.value), value
