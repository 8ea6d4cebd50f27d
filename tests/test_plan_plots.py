"""The plan's figures (``budgetgym.planner.plots``): what each panel shows, read off the drawn figure."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from budgetgym.planner import plan, plots


@pytest.fixture
def drawn(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """The figures the plots save, in order (``plots.save_figure`` still writes them)."""
    figures: list[Any] = []
    save = plots.save_figure

    def keep(fig: Any, path: Any) -> Path:
        figures.append(fig)
        return save(fig, path)

    monkeypatch.setattr(plots, "save_figure", keep)
    return figures


@pytest.mark.parametrize("start_date", [None, "2025-01-06"])
def test_every_flighting_panel_has_a_grid_and_money_ticks(
    tmp_path: Path, drawn: list[Any], start_date: str | None
) -> None:
    """Both panels (recommended, current), dated or not, get the grid and the ``12.5k`` spend ticks
    (with the dates' ``autofmt_xdate`` they had moved under ``if dates``, onto the last panel only:
    an undated plan's figure had neither)."""
    ticker = pytest.importorskip("matplotlib.ticker")
    res = plan("stationary-3", current="equal", curves=False, start_date=start_date)
    plots.plot_flighting(res, tmp_path / "flighting.png")
    panels = [ax for ax in drawn[0].axes if ax.get_title() in ("recommended", "current")]
    assert len(panels) == 2
    for ax in panels:
        assert isinstance(ax.yaxis.get_major_formatter(), ticker.FuncFormatter), ax.get_title()
        assert np.any([line.get_visible() for line in ax.yaxis.get_gridlines()]), ax.get_title()


def test_the_distribution_counts_draws_in_whole_numbers(tmp_path: Path, drawn: list[Any]) -> None:
    """Both panels' y axes count held-out draws; with 4 draws (a calibrated family of 20 bootstrap draws) they were
    ticked 0, 0.25, 0.5, ... 2.0: fractions of a draw."""
    pytest.importorskip("matplotlib")
    from budgetgym.envs import load_scenario
    from budgetgym.envs.family import ScenarioFamily

    ensemble = [{"channels.0.saturation.max_response": 300.0 + 40.0 * j} for j in range(20)]
    template = load_scenario("stationary-3").model_dump(mode="json")
    fam = ScenarioFamily("twenty", template, ensemble=ensemble, test_fraction=0.2)  # 4 held-out draws
    res = plan(fam, current="equal", curves=False, lift_design="none")
    plots.plot_distribution(res, tmp_path / "distribution.png")
    panels = [ax for ax in drawn[0].axes if ax.get_ylabel() == "held-out draws"]
    assert len(panels) == 2
    for ax in panels:
        ticks = [t for t in ax.get_yticks() if ax.get_ylim()[0] <= t <= ax.get_ylim()[1]]
        assert ticks and all(float(t).is_integer() for t in ticks), (ax.get_title(), ticks)


def test_the_current_point_says_the_others_are_at_the_current_plan(tmp_path: Path, drawn: list[Any]) -> None:
    """The curves hold the other channels at the recommendation, the current point at the current plan. On
    ``overlap-5`` (channels sharing segments) display's current point (equal split, even flighting: the
    flighting of its curve) lies above its curve because the recommendation's social and audio saturate display's
    segments more than the equal split does; the legend says what the point is, so it does not read as an error."""
    pytest.importorskip("matplotlib")
    res = plan("overlap-5", current="equal")
    plots.plot_curves(res, tmp_path / "curves.png")
    legends = [*drawn[0].legends, *(ax.get_legend() for ax in drawn[0].axes if ax.get_legend())]
    labels = [t.get_text() for legend in legends for t in legend.get_texts()]
    assert "current plan (others at the current plan)" in labels
    assert res.curves is not None
    display = res.curves[res.curves["channel"] == "display"]
    line = display[display["point"] == "curve"]
    cur = display[display["point"] == "current"].iloc[0]
    assert cur["outcome"] > 1.05 * np.interp(cur["spend"], line["spend"], line["outcome"])


@pytest.mark.parametrize("objective", ["mean", "cvar:0.2"])
def test_the_frontier_axis_names_a_familys_objective(tmp_path: Path, drawn: list[Any], objective: str) -> None:
    """The frontier plots the objective at each budget's optimum (under ``cvar:0.2`` the mean of the worst fifth of
    the draws), so its axis names it as the printed summary does; it read "expected conversions" whatever the
    objective."""
    pytest.importorskip("matplotlib")
    from budgetgym.envs import load_scenario
    from budgetgym.envs.family import ScenarioFamily

    ensemble = [{"channels.0.saturation.max_response": 300.0 + 40.0 * j} for j in range(20)]
    template = load_scenario("stationary-3").model_dump(mode="json")
    fam = ScenarioFamily("twenty", template, ensemble=ensemble, test_fraction=0.2)
    res = plan(fam, objective=objective, sweep="0.5:1.5:3", curves=False, lift_design="none")
    plots.plot_frontier(res, tmp_path / "frontier.png")
    ax = drawn[0].axes[0]
    assert ax.get_ylabel() == f"expected conversions ({objective} over the train draws)"
    line = next(x for x in ax.get_lines() if x.get_label() == "best plan at the budget")
    assert np.isclose(line.get_ydata()[1], res.value)  # the objective at the budget's optimum, as plotted


def test_the_curves_legend_leaves_the_title_readable_and_each_column_says_its_axis(
    tmp_path: Path, drawn: list[Any]
) -> None:
    """Five channels on a 3-column grid leave a spare panel: the legend goes there. It sat outside the panels'
    top right, over the title's end ("Response curves ... — fit-meridian_nationa" of a calibrated family), and
    the panels above a spare cell (display here) had no x-axis label."""
    pytest.importorskip("matplotlib")
    res = plan("stationary-5", current="equal", lift_design="none")
    plots.plot_curves(res, tmp_path / "curves.png")
    fig = drawn[0]
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    title = fig._suptitle.get_window_extent(renderer)
    legends = [*fig.legends, *(ax.get_legend() for ax in fig.axes if ax.get_legend())]
    assert legends
    for legend in legends:
        assert not title.overlaps(legend.get_window_extent(renderer))
    panels = {ax.get_title(): ax for ax in fig.axes if ax.get_visible() and ax.get_title()}
    assert set(panels) == set(res.channel_names)
    for name in ("display", "video", "email"):  # the last panel of each column
        assert panels[name].get_xlabel() == "channel budget", name
