"""The output of ``budgetgym segment``: the ``segments:`` block as YAML (with a header saying where it
came from and how to merge it), its figure, and writing both (re-exported by
:mod:`budgetgym.experiments.segmenting`)."""

from __future__ import annotations

import textwrap
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from budgetgym.envs.errors import BudgetGymError

if TYPE_CHECKING:  # pragma: no cover
    from budgetgym.experiments.segmenting import SegmentationResult

__all__ = ["Written", "check_out_file", "plot_segments", "segments_yaml", "write_segments"]


def segments_yaml(result: SegmentationResult) -> str:
    """The ``segments:`` block as YAML text, with a header comment saying where it came from and how
    to merge it; every entry checked against :class:`~budgetgym.envs.scenario_parts.SegmentConfig`."""
    import yaml

    from budgetgym.envs.scenario_parts import SegmentConfig

    block = result.segments_block()
    for entry in block:
        SegmentConfig.model_validate(entry)  # a bug here, not the user's: let it raise
    tried = ", ".join(f"{k}: {s:.3f}" for k, s in sorted(result.silhouettes.items()))
    scored = "" if result.silhouette_sample >= result.n_customers else (
        f" on a seeded subsample of {result.silhouette_sample:,} customers")
    c = result.curve
    columns = ", ".join(n if n == col else f"{n}={col}" for n, col in zip(result.channels, result.columns, strict=True))
    header = [
        f"Audience segments from {result.source} ({result.n_customers:,} customers), written by budgetgym segment.",
        f"k-means (seed {result.seed}) on the standardised features {', '.join(result.features)}: k = {result.k} "
        f"({'chosen by silhouette' if result.chosen_by == 'silhouette' else 'given'}; mean silhouette{scored}: "
        f"{tried}).",
        f"size: the segment's share of the customers. reach: the share of each channel's exposure ({columns}) "
        "landing on the segment.",
        ("value.mean: mean of column '" + result.value_column + "' over the segment's customers."
         if result.value_column else "value.mean: 1 (no value column given)."),
        f"saturation: the same whole-audience Hill curve for every segment (max_response {c['max_response']:g}, "
        f"half_saturation {c['half_saturation']:g}, slope {c['slope']:g}), not fitted: a customer table has no "
        "response. A scenario scales it by the segment's size, so big segments saturate at more conversions and "
        "need more exposure; replace it with your own curves where you know better.",
        "To use: put this 'segments:' list at the top level of a scenario whose channels are named as in reach, and "
        "remove the channels' saturation, delay and value (a scenario with segments takes them per segment).",
    ]
    lines = [f"# {line}" for para in header for line in textwrap.wrap(para, 96)]
    body = yaml.safe_dump({"segments": block}, sort_keys=False, default_flow_style=None, width=110)
    return "\n".join(lines) + "\n" + body


def plot_segments(result: SegmentationResult, path: str | Path) -> Path:
    """A figure of the segments: the standardised feature means per segment (heatmap, in standard
    deviations from the mean customer) and each channel's reach of the segments (grouped bars)."""
    from budgetgym.experiments.plots import _figure, save_figure

    k, F, C = result.k, len(result.features), len(result.channels)
    fig = _figure(min(16.0, 4.0 + 0.6 * max(F, C * k / 2)), 3.2 + 0.25 * k)
    heat, bars = fig.subplots(1, 2, width_ratios=[max(F, 2), max(C, 2)])
    lim = max(1.0, float(np.abs(result.standardised).max()))
    im = heat.imshow(result.standardised, cmap="RdBu_r", vmin=-lim, vmax=lim, aspect="auto")
    heat.set_xticks(range(F), result.features, rotation=30, ha="right")
    heat.set_yticks(range(k), [f"{nm} ({100 * sz:.0f}%)" for nm, sz in zip(result.names, result.sizes, strict=True)])
    for s in range(k):
        for j in range(F):
            heat.text(j, s, f"{result.centres[s, j]:.3g}", ha="center", va="center", fontsize=8)
    heat.set_title("feature means (colour: standard deviations)")
    fig.colorbar(im, ax=heat, shrink=0.8)
    width = 0.8 / k
    for s in range(k):
        bars.bar(np.arange(C) + (s - (k - 1) / 2) * width, result.reach[:, s], width, label=result.names[s])
    bars.set_xticks(range(C), result.channels, rotation=30, ha="right")
    bars.set_ylim(0, 1)
    bars.set_ylabel("share of the channel's exposure")
    bars.set_title("reach per channel")
    bars.legend(fontsize=8)
    return save_figure(fig, path)


@dataclass(frozen=True)
class Written:
    """What :func:`write_segments` wrote: the YAML file, the figure (or ``None``) and why not."""

    path: Path
    figure: Path | None
    note: str | None


def write_segments(result: SegmentationResult, out: str | Path, plots: bool = True) -> Written:
    """Write the ``segments:`` block to ``out`` (``.yaml``/``.yml``) and, with ``plots`` and matplotlib
    installed, :func:`plot_segments` to ``out`` with the suffix ``.png`` (else an earlier run's figure
    there, of another segmentation, is removed).

    Both or neither: both are written into a staging directory in ``out``'s directory
    (:func:`~budgetgym.envs.io.staged_output`), then renamed into place
    (:func:`~budgetgym.envs.io.move_staged`), so an error or Ctrl-C at any point leaves the files of an
    earlier run as they were and nothing new (not the directories created for ``out``). An
    :class:`OSError` (a full disk, no permission) is the one-line :class:`BudgetGymError`
    ``--out '<out>': cannot be written (<reason>)``."""
    import importlib.util

    from budgetgym.envs import io

    out = Path(out)
    check_out_file(out)
    text = segments_yaml(result)
    png = out.with_suffix(".png")
    drawn, note = False, None
    if plots and importlib.util.find_spec("matplotlib") is None:
        note = 'no figure: it needs matplotlib (pip install "budgetgym[plot]")'
    with io.staged_output(out.parent) as stage:
        try:
            if plots and note is None:
                plot_segments(result, stage / png.name)
                drawn = True
            io.atomic_write_text(stage / out.name, text)
            # an earlier run's figure, of another segmentation, goes when this one draws none
            io.move_staged(stage, out.parent, [png.name] * drawn + [out.name], remove=[png.name])
        except OSError as err:
            raise BudgetGymError(f"--out '{out}': cannot be written ({err.strerror or err})") from None
    return Written(out, png if drawn else None, note)


def check_out_file(out: str | Path) -> None:
    """``--out`` must name a ``.yaml``/``.yml`` file (not a directory, no parent of it a file) —
    checked before any work."""
    out = Path(out)
    if out.suffix not in (".yaml", ".yml"):
        raise BudgetGymError(f"--out '{out}': expected a .yaml file for the segments block")
    if out.is_dir():
        raise BudgetGymError(f"--out '{out}': is a directory; expected a .yaml file")
    blocker = next((p for p in out.parents if p.exists()), None)
    if blocker is not None and not blocker.is_dir():
        raise BudgetGymError(f"--out '{out}': '{blocker}' is a file, not a directory")
