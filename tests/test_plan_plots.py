"""The plan's figures (``budgetgym.planner.plots``): what each panel shows, read off the drawn figure."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from budgetgym.planner import plan, plots


@pytest.mark.parametrize("start_date", [None, "2025-01-06"])
def test_every_flighting_panel_has_a_grid_and_money_ticks(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, start_date: str | None
) -> None:
    """Both panels (recommended, current), dated or not, get the grid and the ``12.5k`` spend ticks
    (with the dates' ``autofmt_xdate`` they had moved under ``if dates``, onto the last panel only:
    an undated plan's figure had neither)."""
    ticker = pytest.importorskip("matplotlib.ticker")
    drawn: list[Any] = []
    save = plots.save_figure

    def keep(fig: Any, path: Any) -> Path:
        drawn.append(fig)
        return save(fig, path)

    monkeypatch.setattr(plots, "save_figure", keep)
    res = plan("stationary-3", current="equal", curves=False, start_date=start_date)
    plots.plot_flighting(res, tmp_path / "flighting.png")
    panels = [ax for ax in drawn[0].axes if ax.get_title() in ("recommended", "current")]
    assert len(panels) == 2
    for ax in panels:
        assert isinstance(ax.yaxis.get_major_formatter(), ticker.FuncFormatter), ax.get_title()
        assert np.any([line.get_visible() for line in ax.yaxis.get_gridlines()]), ax.get_title()
