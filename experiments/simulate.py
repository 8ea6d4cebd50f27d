r"""Synthetic marketing-mix datasets with known truth: ``budgetgym simulate``.

:func:`simulate_dataset` plays a spend plan for ``N`` periods of a scenario through the
environment itself (the same dynamics, noise and baseline as every episode) and records what
an MMM dataset holds, plus the truth no real dataset has:

* ``data.csv``: ``date`` (from the scenario's calendar: day 0 is Monday 1 January 2024, a later start
  day dated so that ``calibrate`` reads it back (:func:`~budgetgym.envs.dates.day_date`), a step
  is ``step_days`` days, so weekly data is ``step_days: 7``; ``step_days`` must be a whole number
  of days or a calendar month, ``365.25 / 12``, written as the same day of each month), the KPI (``conversions`` for a
  conversions reward, else ``revenue``: the media's realised conversions or revenue plus the
  realised baseline, :mod:`budgetgym.envs.baseline`), per channel ``<channel>_spend`` (the plan's
  amount, which the env plays to within 1e-9 of the period: a typed 1400 over 7 periods is 200, not the env's
  199.99999999999818) and
  ``<channel>_impressions`` (or ``<channel>_clicks`` for click-priced channels), and the
  baseline's control columns by name (a control named like another column, or a channel named
  ``date``, ``baseline`` or ``kpi_expected``, is refused: its values would replace that column's);
* ``truth/scenario.yaml``: the scenario played (horizon ``N`` at the scenario's spend per period
  ``B/T``, without the shocks that start after period ``N``, which never happen in it; the plan's
  total as budget, agent pacing so the plan's own flighting is played, share bounds lifted and
  ``action.logit_scale`` 50 so any split is; a budget above the plan's total only for a period over
  100 times the mean: ``_playable``);
* ``truth/contributions.csv``: per period each channel's **expected** KPI contribution
  (expected conversions arriving that period, times the value per conversion for revenue), the
  expected baseline and their sum. Expected means noise-free on the episode's path: with its drift,
  seasonality and shocks, the price noise at 1 (so the media columns sum to
  :func:`~budgetgym.envs.evaluate_plan` of the spend made with ``seed``: the env's
  ``expected_conversions``); the realised KPI draws its counts around the noisy price's response
  instead. Channels without ``segments`` add up, so a channel's contribution is also its marginal
  one (the KPI with the plan minus the KPI with that channel's spend zeroed, every period) and its
  Shapley value; with ``segments`` it is the channel's credited share of each segment's response,
  :math:`x_{i,s} / A_s \cdot r_s` (:mod:`budgetgym.envs.segments`), which sums to the media total
  but is neither;
* ``truth/curves.csv``: each channel's true response curve: the expected KPI per period at
  steady state (carry-over built up, nominal prices and demand) against a constant spend per
  period, :meth:`~budgetgym.envs.channel_model.ChannelModel.steady_state_reward`, with the carry-over's whole kernel;
  the other channels at 0 (with ``segments`` they matter: channels sharing a segment saturate it together,
  so their curves do not add up; the command prints :data:`SEGMENTS_TRUTH_NOTE`);
* ``summary.json``: arguments, seed, versions and commit;
* with ``lift_tests=N`` or ``lift_design``: ``lift_tests.csv`` beside ``data.csv``, the lift tests in
  ``budgetgym calibrate --lift-tests``' layout (``channel, x, delta_x, delta_y, sigma``;
  :mod:`budgetgym.calibration.lift`), and ``truth/lift_tests.csv``, the same with the noise-free
  lift ``true_delta_y``: the ``N`` tests first, then the design's.

The columns, dates and writing of these files: :mod:`budgetgym.experiments.dataset_layout`; the
truth's lifts and curves: :mod:`budgetgym.experiments.true_response`.

Lift tests (:func:`simulate_lift_tests`, :func:`simulate_design_tests`): which channels are tested, by how much,
and how each is measured: :mod:`budgetgym.experiments.simulated_lifts` (its names re-exported here).

Plans: ``random`` (:func:`~budgetgym.experiments.flighting.random_flighting`: flights, dark
periods, per-channel levels, seeded), ``equal`` (the equal split, ``B/T`` a period), ``oracle``
(:func:`~budgetgym.envs.solve_oracle` for the ``N`` periods, each spend below
:data:`~budgetgym.planner.metrics.ZERO_RTOL` of its largest step set to exactly 0 and each period
keeping its total, :func:`~budgetgym.planner.metrics.without_free_residue`: the barrier solver's rounding
of 0 on a channel or step it drops, which the dataset wrote as a few millionths spent every period
and ``calibrate`` fitted as an always-on channel; kept where dropping it would lower the plan's value by
more than 1e-9 of it, a tiny spend that earns: a channel priced at 1e-9 a thousand impressions), or
a plan file in the planner's formats
(:mod:`budgetgym.planner.inputs`: a per-step table of spend, or a per-channel table of ``share`` — of
the step budget ``B/T`` — ``spend`` or ``budget``), played as given (small amounts too: a user's
plan is data, whatever rounding it holds) even when its total exceeds the scenario's budget for the
``N`` periods. A channel a plan never spends on has spend and exposure 0 in every period, which
``calibrate`` refuses (``drop the channel``): leave its columns out of ``--spend`` and ``--exposure``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from budgetgym.envs.allocation import spend_to_pacing_action, split_to_action
from budgetgym.envs.channel_env import ChannelBudgetEnv
from budgetgym.envs.errors import BudgetGymError, suggest
from budgetgym.envs.family import load_family
from budgetgym.envs.oracle import solve_oracle
from budgetgym.envs.plan_value import evaluate_plan
from budgetgym.envs.scenario import Scenario
from budgetgym.envs.scenario_parts import MAX_AMOUNT, MIN_AMOUNT
from budgetgym.experiments.dataset_layout import (
    EPOCH,
    SimulatedDataset,
    check_step,
    exposure_column,
    kpi_column,
    period_dates,
    plan_calendar_note,
    spend_column,
    write_dataset,
)
from budgetgym.experiments.flighting import LEVEL_SD, MAX_LEVEL_SD, random_flighting
from budgetgym.experiments.simulated_lifts import (
    DESIGN_COLUMNS,
    LIFT_CHANGES,
    LIFT_FLOOR,
    LIFT_SIGMA,
    MAX_LIFT_SIGMA,
    MAX_LIFT_TESTS,
    TEST_COLUMNS,
    lift_floor,
    read_lift_design,
    simulate_design_tests,
    simulate_lift_tests,
)
from budgetgym.experiments.true_response import true_curves, true_lift, true_lifts, true_lifts_of
from budgetgym.experiments.wording import count

__all__ = ["DESIGN_COLUMNS", "EPOCH", "LIFT_CHANGES", "LIFT_FLOOR", "LIFT_SIGMA", "MAX_LIFT_SIGMA", "MAX_LIFT_TESTS",
           "SEGMENTS_TRUTH_NOTE", "TEST_COLUMNS",
           "SimulatedDataset", "exposure_column", "lift_floor", "read_lift_design", "simulate_dataset",
           "simulate_design_tests", "simulate_lift_tests", "spend_column", "true_lift", "true_lifts", "true_lifts_of",
           "write_dataset"]

#: What ``budgetgym simulate`` prints of a scenario with audience segments, whose truth is not additive.
SEGMENTS_TRUTH_NOTE = (
    "the scenario's channels reach audience segments: truth/curves.csv holds each channel alone (the others at 0) "
    "and truth/contributions.csv credits each its share of each segment's exposure; channels on the same people "
    "saturate them together, so neither is the KPI a channel adds beside the others, and an additive MMM "
    "fitted to this data (calibrate) need not match either"
)
#: The largest step cap and logit scale a scenario allows (``budget.max_step_multiple``, ``action.logit_scale``).
MAX_STEP_MULTIPLE, MAX_LOGIT_SCALE = 100.0, 50.0
def _plan(
    kind: str, sc: Scenario, n: int, rng: np.random.Generator, level_sd: float = LEVEL_SD, decimal: str | None = None
) -> tuple[np.ndarray, str | None, str | None]:
    """The plan ``[n, K]`` to play, a one-line note of what was made of a file's (a split scaled to sum
    to 1, :class:`~budgetgym.planner.inputs.CurrentPlan`; ``None``: nothing to say) and one of a plan file
    dated otherwise than the periods (:func:`~budgetgym.experiments.dataset_layout.plan_calendar_note`)."""
    K = sc.n_channels
    if kind == "random":
        return random_flighting(n, sc.step_budget, K, rng, level_sd), None, None
    if kind == "equal":
        return np.full((n, K), sc.step_budget / K), None, None
    if kind == "oracle":
        from budgetgym.planner.metrics import without_free_residue  # the planner's one rule of 'no spend'

        X = solve_oracle(sc).plan  # keeps every spend above 0: 1e-13 to 5e-10 of its largest step where it drops
        # a channel (and a step): the solver's rounding of 0 is played as 0, unless that tiny spend earns
        return without_free_residue(X, lambda plans: evaluate_plan(sc, plans)), None, None
    from budgetgym.planner.inputs import read_dated_current  # the planner's reader of per-step plans

    expected = "expected random, equal, oracle, a split (search=0.4,social=0.6; or budgets) or a plan CSV file"
    if kind and Path(kind).is_dir():  # '' is Path('.'), the working directory: not a --plan given as one
        raise BudgetGymError(f"--plan {kind!r}: is a directory; {expected}")
    typed = "=" in kind and not Path(kind).is_file()  # as plan --current: a split or per-channel budgets
    if not typed and not Path(kind).is_file():
        raise BudgetGymError(f"--plan {kind!r}: {expected}" + suggest(kind, ("random", "equal", "oracle")))
    # shares: of the step budget B/T
    read = read_dated_current(kind, sc, option="--plan", within_budget=False, decimal=decimal)
    plan = read.plan
    what = f"--plan {kind!r}" if typed else f"--plan file '{kind}'"
    with np.errstate(over="ignore"):  # cells near 1e308 sum to inf: the error below, not a RuntimeWarning too
        total = float(plan.sum())
    if total > MAX_AMOUNT:  # played as the scenario's budget
        raise BudgetGymError(f"{what}: spends {total:g} over {count(n, 'period')}, more than a "
                             f"scenario's budget can be ({MAX_AMOUNT:g})")
    peaks = plan.sum(axis=1)
    if _peak_budget(float(peaks.max()), n) > MAX_AMOUNT:  # _playable's budget for it: too large
        t = int(np.argmax(peaks))
        raise BudgetGymError(f"{what}: period {t + 1} spends {peaks[t]:g}; a period can spend at most "
                             f"{MAX_STEP_MULTIPLE:g} times the mean period of a scenario's largest budget "
                             f"({MAX_AMOUNT:g} over {count(n, 'period')}: {MAX_STEP_MULTIPLE * MAX_AMOUNT / n:g})")
    if total < MIN_AMOUNT:
        raise BudgetGymError(f"{what}: spends {total:g} over {count(n, 'period')}; a dataset needs some "
                             f"spend (at least a scenario's smallest budget, {MIN_AMOUNT:g})")
    return plan, read.note, None if typed else plan_calendar_note(kind, read.dates, read.days, sc, n)


def _peak_budget(peak: float, periods: int) -> float:
    """The least budget over ``periods`` whose largest step cap (``MAX_STEP_MULTIPLE`` times the mean
    period) lets a period spend ``peak``, a hair above (:func:`_playable`)."""
    return peak * periods / MAX_STEP_MULTIPLE * (1 + 1e-9)


def _playable(sc: Scenario, plan: np.ndarray) -> Scenario:
    r"""The scenario under which the env plays ``plan`` ``[T, K]`` as given.

    Agent pacing spends :math:`s_t = \tfrac{u_t + 1}{2} \min(R_t, m B/T)` (``R_t`` the budget left),
    split by :math:`\operatorname{softmax}(c\, a_t)` with logits :math:`a_t \in [-1, 1]`. So:

    * budget :math:`B = \max(\sum_{t,i} X_{t,i},\; T \max_t \sum_i X_{t,i} / 100)`: the plan's total,
      raised only when one period spends more than 100 (the largest step cap ``m``) times the mean,
      which would otherwise be cut to :math:`100 B/T` (then ``B`` is not all spent);
    * step cap :math:`m = \max_t \sum_i X_{t,i} / (B/T)` (at least 1, a hair above the largest period);
    * ``action.logit_scale`` :math:`c = 50` (the largest allowed): a share :math:`q_i` needs the logit
      :math:`1 + \log(q_i / q_{max}) / c \ge -1`, so at the default 5 a share below
      :math:`e^{-10} q_{max}` (4.5e-5 of the period's largest) was played as 0 and its spend moved
      to the other channels; at 50 only shares below :math:`e^{-100} q_{max}` are;
    * share bounds lifted, so any split is played.
    """
    total = float(plan.sum())
    if total <= 0:
        raise BudgetGymError("plan: spends nothing; a dataset needs some spend")
    peak = float(plan.sum(axis=1).max())
    budget = min(MAX_AMOUNT, max(total, _peak_budget(peak, sc.horizon)))
    cap = min(MAX_STEP_MULTIPLE, max(1.0, peak / (budget / sc.horizon) * (1 + 1e-9)))
    changes: dict[str, object] = {"budget.total": budget, "budget.pacing": "agent", "budget.max_step_multiple": cap,
                                  "action.logit_scale": MAX_LOGIT_SCALE}
    for c in sc.channels:
        changes.update({f"channels.{c.name}.min_share": 0.0, f"channels.{c.name}.max_share": 1.0,
                        f"channels.{c.name}.locked_share": None})
    return sc.override(changes)


def simulate_dataset(
    scenario: str | Path | Scenario,
    periods: int,
    plan: str = "random",
    seed: int = 0,
    draw: int | None = None,
    lift_tests: int = 0,
    lift_sigma: float = LIFT_SIGMA,
    lift_design: str | Path | pd.DataFrame | None = None,
    level_sd: float = LEVEL_SD,
    decimal: str | None = None,
) -> SimulatedDataset:
    """Simulate ``periods`` periods of ``scenario`` (a scenario, or a family's test draw
    ``draw``) under ``plan`` with the environment seeded by ``seed``, and ``lift_tests`` lift tests
    plus the tests of ``lift_design`` (a file or a table; :func:`read_lift_design`) measured to
    ``lift_sigma`` of their lift (module docstring). ``level_sd``: the ``random`` plan's sd of each
    channel's log spend level (:func:`~budgetgym.experiments.flighting.random_flighting`). ``decimal``: the decimal
    mark of a plan or lift-design file (``--decimal``, :func:`~budgetgym.envs.io.read_csv_table`)."""
    if seed < 0:
        raise BudgetGymError(f"--seed: expected a non-negative integer, got {seed}")
    if not 0 <= lift_tests <= MAX_LIFT_TESTS:
        raise BudgetGymError(f"--lift-tests: expected 0 to {MAX_LIFT_TESTS} tests, got {lift_tests}")
    if not (np.isfinite(lift_sigma) and 0 < lift_sigma <= MAX_LIFT_SIGMA):
        raise BudgetGymError(f"--lift-sigma: expected a positive relative standard error, at most {MAX_LIFT_SIGMA:g}, "
                             f"got {lift_sigma:g}")
    if periods < 1:
        raise BudgetGymError(f"--periods: expected a positive number of periods, got {periods}")
    if not (np.isfinite(level_sd) and 0 <= level_sd <= MAX_LEVEL_SD):
        raise BudgetGymError(f"--level-sd: expected 0 to {MAX_LEVEL_SD:g}, got {level_sd:g}")
    if level_sd != LEVEL_SD and plan != "random":
        raise BudgetGymError(f"--level-sd: sets the random plan's spread; --plan {plan!r} is not random")
    family = load_family(scenario)
    label = str(scenario) if isinstance(scenario, (str, Path)) else family.name
    if draw is not None and draw < 0:
        raise BudgetGymError(f"--draw {draw}: expected a non-negative draw index")
    if draw is not None and not family.varies:
        raise BudgetGymError(
            f"--draw {draw}: scenario '{label}' does not vary; --draw picks a held-out draw of a scenario family"
        )
    source = family.sample(draw, "test") if draw is not None else family.nominal()
    check_step(source, label)
    # N periods at the scenario's spend rate (B/T a period); a shock starting after the last period
    # never happens in them (the truth's scenario lists the shocks played)
    changes: dict[str, Any] = {"horizon": int(periods), "budget.total": source.step_budget * periods}
    if any(shock.start >= periods for shock in source.shocks):
        changes["shocks"] = [shock.model_dump(mode="json") for shock in source.shocks if shock.start < periods]
    try:
        sc = source.override(changes)
    except BudgetGymError as exc:  # e.g. more than 5000 periods: say it is --periods
        err = BudgetGymError(f"--periods {periods}: {exc}")
        err.details = exc.details
        raise err from None
    kpi = kpi_column(sc)  # before playing: a name used twice
    design = None if lift_design is None else read_lift_design(lift_design, sc.channel_names, decimal)  # before playing
    rng = np.random.default_rng(np.random.SeedSequence([seed, 1]))
    X, plan_note, dates_note = _plan(plan, sc, periods, rng, level_sd, decimal)
    played = _playable(sc, X)
    env = ChannelBudgetEnv(played)
    env.reset(seed=seed)
    K, names, m = played.n_channels, played.channel_names, env.model
    spent = np.zeros((periods, K))
    rows, contrib = [], []
    for t in range(periods):
        total = float(X[t].sum())
        split = X[t] / total if total > 0 else np.full(K, 1.0 / K)
        action = np.append(
            split_to_action(split, played.action.logit_scale),
            spend_to_pacing_action(total, env.budget - env.cumulative_spend, env.step_cap),
        )
        _, _, _, _, info = env.step(action)  # float64: a float32 action moved spend by up to ~1e-7 a period
        spent[t] = info["spend"]
        media = info["conversions"] if played.reward == "conversions" else info["revenue"]
        expected = (info["expected_conversions"] if played.reward == "conversions"
                    else info.get("expected_revenue", info["expected_conversions"] * m.value))
        base, base_exp = info.get("baseline", 0.0), info.get("baseline_expected", 0.0)
        row: dict[str, Any] = {kpi: float(media.sum()) + base}
        for i, c in enumerate(played.channels):
            row[spend_column(c.name)] = float(X[t, i])  # as planned: the env's float rounding of it is checked below
            row[exposure_column(c)] = float(info["impressions"][i])
        row.update(info.get("controls", {}))
        rows.append(row)
        contrib.append({**{n: float(e) for n, e in zip(names, expected, strict=True)}, "baseline": base_exp,
                        "kpi_expected": float(expected.sum()) + base_exp})
    # played as given, to the env's spend quantum (<= 2**-51 of the budget) and float rounding of the split
    off = np.abs(spent - X) > 1e-9 * X.sum(axis=1, keepdims=True) + 2.0**-50 * played.budget.total
    if off.any():  # not reached: _playable makes every plan playable up to a budget of MAX_AMOUNT
        t, i = (int(v) for v in np.argwhere(off)[0])
        raise BudgetGymError(f"plan: period {t + 1} spends {spent[t, i]:g} on {names[i]}, not the planned "
                             f"{X[t, i]:g}; its periods above 100 times the mean need a budget above a scenario's "
                             f"largest ({MAX_AMOUNT:g})")
    # played as given, so recorded as given: a typed budget of 1400 over 7 periods is 200 a period, not the env's
    # 199.99999999999818 (its quantum and the split's rounding, at most 1e-9 of the period: no figure moves)
    spent = np.array(X, dtype=float)
    data = pd.DataFrame(rows)
    data.insert(0, "date", period_dates(played, periods))
    contributions = pd.DataFrame(contrib)
    contributions.insert(0, "date", data["date"])
    floor = lift_floor(data[kpi].to_numpy())
    parts = ([simulate_lift_tests(sc, spent, lift_tests, lift_sigma, seed, floor=floor)] if lift_tests else []) + (
        [simulate_design_tests(sc, spent, *design, lift_sigma, seed, floor=floor)] if design is not None else [])
    tests = pd.concat(parts, ignore_index=True) if parts else None
    return SimulatedDataset(data, contributions, true_curves(played, spent), played, source, spent, kpi, seed, tests,
                            plan_note, dates_note)
