"""The vector environment's arguments, checked: the rows' campaigns and the batch's settings.

:func:`vector_settings` turns :class:`~budgetgym.envs.vector_env.ChannelBudgetVectorEnv`'s
arguments into a :class:`VectorSettings` (or a one-line :class:`~budgetgym.envs.errors.BudgetGymError`
naming the argument); the class docstring of the env documents each.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from gymnasium.vector import AutoresetMode

from budgetgym.envs.brief import CampaignBrief
from budgetgym.envs.errors import BudgetGymError, count, is_integer
from budgetgym.envs.family import VALIDATION_DRAWS, ScenarioFamily, load_family
from budgetgym.envs.info_layout import check_info_layouts, check_reach_layouts
from budgetgym.envs.scenario import Scenario
from budgetgym.envs.vector_parts import default_threads

__all__ = ["DEFAULT_DRAW_POOL", "VectorSettings", "least_bytes", "machine_memory", "vector_settings"]

#: Train draws a ``batched`` family compiles once (each episode of each row plays one of them).
DEFAULT_DRAW_POOL = 1024


@dataclass(frozen=True)
class VectorSettings:
    """The checked arguments of a vector env."""

    family: ScenarioFamily
    rows: list[Scenario] | None  # row i's scenario, when a list was given
    n: int
    rng: str
    autoreset_mode: AutoresetMode
    draw_pool: int
    threads: int
    part_rows: int | None
    processes: int
    expected: bool


def _positive(name: str, value: Any, given: Any = None) -> int:
    if not is_integer(value) or value < 1:
        raise BudgetGymError(f"{name}: expected a positive integer, got {value if given is None else given!r}")
    return int(value)


def machine_memory() -> int | None:
    """The machine's physical memory in bytes (``None`` where the system does not say)."""
    try:
        return int(os.sysconf("SC_PHYS_PAGES")) * int(os.sysconf("SC_PAGE_SIZE"))
    except (AttributeError, ValueError, OSError):
        return None


def least_bytes(sc: Scenario, n: int, rng: str, pool: int) -> int:
    r"""A lower bound on the memory a vector env of ``n`` rows of ``sc``'s brief holds, in bytes:
    per row, with ``K`` channels, ``A`` action entries (``K``, or ``K + 1`` under agent pacing), an
    observation of ``O = 4K + 7`` entries and ``T`` steps,

    .. math:: 10 (O + A) + 4 O + 8 A + 8 \cdot 10 K + 16 + [\text{per\_env}]\; 40\, T K

    (the batched spaces' float32 bounds and boolean masks; a step's observations and float64 actions;
    the counters and one step's ``[n, K]`` arrays; each row's path: cost, response and delivery
    ``[T, K]`` and its cost and response columns of the tables), plus a ``batched`` family's pool of
    ``pool`` draws, ``16 T K`` each (the cost and response tables). Every term is an array the env
    allocates; the real footprint is larger."""
    K, T = sc.n_channels, sc.horizon
    A = K + int(sc.budget.pacing == "agent")
    obs = 4 * K + 7  # O
    row = 10 * (obs + A) + 4 * obs + 8 * A + 80 * K + 16 + (40 * T * K if rng == "per_env" else 0)
    return n * row + pool * 16 * T * K


def _check_memory(n: int, family: ScenarioFamily, rows: list[Scenario] | None, rng: str, pool: int) -> None:
    """A one-line error when the env's arrays (:func:`least_bytes`) cannot fit in the machine's memory:
    numpy's ``MemoryError`` (with a traceback, after part of the env was made) otherwise, or a machine
    that swaps for hours."""
    total = machine_memory()
    sc = rows[0] if rows is not None else family.nominal()
    pooled = family.split_draws(pool, "train") if rng == "batched" and rows is None and family.varies else 0
    need = least_bytes(sc, n, rng, pooled)
    if total is not None and need > total:
        def size(b: int) -> str:
            return f"{b / 2**30:.3g} GiB" if b >= 2**30 else f"{b / 2**20:.3g} MiB"

        smaller_pool = least_bytes(sc, 0, rng, pooled) > need // 2  # the pool's tables, most of it
        raise BudgetGymError(
            f"num_envs: {count(n, 'row')} of {count(sc.n_channels, 'channel')} and {count(sc.horizon, 'step')} "
            f"{'needs' if n == 1 else 'need'} at least {size(need)}, "
            f"more than this machine's {size(total)} of memory; use fewer rows"
            + (" or a smaller draw_pool" if smaller_pool else "")
        )


def _known_draws(family: ScenarioFamily) -> list[Scenario]:
    """The scenarios a vector env of ``family`` may play that are known without sampling: its one
    scenario, every member of an ensemble, or a template's validation draws (a later draw is
    checked when an episode plays it)."""
    if not family.varies:
        return [family.nominal()]
    train, test = (family.split_size(split) or VALIDATION_DRAWS for split in ("train", "test"))
    return [*(family.sample(i, "train") for i in range(train)), *(family.sample(i, "test") for i in range(test))]


def vector_settings(
    scenario: str | Path | Scenario | ScenarioFamily | Sequence[Scenario], num_envs: int | None, *, rng: str,
    autoreset_mode: AutoresetMode | str, draw_pool: int | None, threads: int | None, part_rows: int | None,
    processes: int | None, render_mode: str | None, expected: Any = True,
) -> VectorSettings:
    """The :class:`VectorSettings` of the env's arguments (module docstring)."""
    rows: list[Scenario] | None = None
    if isinstance(scenario, (list, tuple)):
        if not scenario:
            raise BudgetGymError("scenario: expected at least one scenario in the list")
        rows = [s if isinstance(s, Scenario) else load_family(s).nominal() for s in scenario]
        family = ScenarioFamily.of_scenario(rows[0])
        distinct = {id(sc): sc for sc in rows[1:] if sc is not rows[0]}.values()
        if any(CampaignBrief.from_scenario(sc) != family.brief for sc in distinct):
            raise BudgetGymError(
                "scenario: the scenarios of a vector env must share one brief (channels, budget, pacing, horizon)"
            )
        check_info_layouts([rows[0], *distinct], "scenario")
    else:
        family = load_family(scenario)  # type: ignore[arg-type]
        check_info_layouts(_known_draws(family), f"scenario '{family.name}'")
        check_reach_layouts(family)  # a rare draw of a template, before it meets a reset
    given = num_envs if num_envs is not None else (1 if rows is None else len(rows))
    n = _positive("num_envs", given, num_envs)
    if rows is not None and n != len(rows):
        raise BudgetGymError(f"num_envs: {count(n, 'row')}, but {count(len(rows), 'scenario')} "
                             f"{'was' if len(rows) == 1 else 'were'} given")
    if rng not in ("per_env", "batched"):
        raise BudgetGymError(f"rng: expected 'per_env' or 'batched', got {rng!r}")
    try:
        mode: AutoresetMode | None = AutoresetMode(autoreset_mode)
    except ValueError:  # not a mode: the same one-line error
        mode = None
    if mode not in (AutoresetMode.NEXT_STEP, AutoresetMode.SAME_STEP):
        raise BudgetGymError(f"autoreset_mode: expected NEXT_STEP or SAME_STEP, got {mode or repr(autoreset_mode)}")
    if render_mode is not None:
        raise BudgetGymError(f"render_mode: the vector env does not render, got {render_mode!r}")
    if not isinstance(expected, (bool, np.bool_)):
        raise BudgetGymError(f"expected: expected True or False, got {expected!r}")
    procs = 1 if processes is None else _positive("processes", processes)
    if procs != 1 and rng != "batched":
        raise BudgetGymError(f"processes: worker processes step the row parts of rng='batched', not {rng!r}")
    if rng != "batched":  # per_env steps the whole batch as one part, each row from its own generator
        for name, value in (("threads", threads), ("part_rows", part_rows), ("draw_pool", draw_pool)):
            if value is not None:
                raise BudgetGymError(f"{name}: only rng='batched' takes it, got {value!r} with rng={rng!r}")
    pool = _positive("draw_pool", DEFAULT_DRAW_POOL if draw_pool is None else draw_pool, draw_pool)
    _check_memory(n, family, rows, rng, pool)
    return VectorSettings(
        family=family, rows=rows, n=n, rng=rng, autoreset_mode=mode, draw_pool=pool,
        threads=_positive("threads", (default_threads() if procs == 1 else 1) if threads is None else threads),
        part_rows=None if part_rows is None else _positive("part_rows", part_rows), processes=procs,
        expected=bool(expected),
    )
