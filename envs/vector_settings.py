"""The vector environment's arguments, checked: the rows' campaigns and the batch's settings.

:func:`vector_settings` turns :class:`~budgetgym.envs.vector_env.ChannelBudgetVectorEnv`'s
arguments into a :class:`VectorSettings` (or a one-line :class:`~budgetgym.envs.errors.BudgetGymError`
naming the argument); the class docstring of the env documents each.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from gymnasium.vector import AutoresetMode

from budgetgym.envs.brief import CampaignBrief
from budgetgym.envs.errors import BudgetGymError, is_integer
from budgetgym.envs.family import VALIDATION_DRAWS, ScenarioFamily, load_family
from budgetgym.envs.scenario import Scenario
from budgetgym.envs.vector_parts import default_threads
from budgetgym.envs.vector_random import check_info_layouts

__all__ = ["DEFAULT_DRAW_POOL", "VectorSettings", "vector_settings"]

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
    count = num_envs if num_envs is not None else (1 if rows is None else len(rows))
    n = _positive("num_envs", count, num_envs)
    if rows is not None and n != len(rows):
        raise BudgetGymError(f"num_envs: {n} rows, but {len(rows)} scenarios were given")
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
    return VectorSettings(
        family=family, rows=rows, n=n, rng=rng, autoreset_mode=mode,
        draw_pool=_positive("draw_pool", DEFAULT_DRAW_POOL if draw_pool is None else draw_pool, draw_pool),
        threads=_positive("threads", (default_threads() if procs == 1 else 1) if threads is None else threads),
        part_rows=None if part_rows is None else _positive("part_rows", part_rows), processes=procs,
        expected=bool(expected),
    )
