"""Formatting an experiment's summary for ``report.md`` and the ``budgetgym run`` tables: numbers,
intervals, display rows, markdown tables, and a family's section of the report."""

from __future__ import annotations

import math
from typing import Any

from budgetgym.envs.numbers import figure
from budgetgym.experiments.wording import count

__all__ = [
    "FAMILY_IQM_NOTE",
    "NO_CI",
    "REWARD_UNITS",
    "ci_text",
    "family_section",
    "format_summary_rows",
    "has_point_without_interval",
    "markdown_table",
    "missing",
    "num",
    "reward_text",
    "round_shares",
    "split_text",
]


def round_shares(shares: Any, digits: int) -> Any:
    r"""Shares summing to 1, rounded to ``digits`` decimals so that they still sum to 1 (largest
    remainder: floor every share, then give the missing units to the largest remainders), as an array.

    With :math:`u = 10^{d}`, :math:`f_i = \lfloor u s_i \rfloor` and :math:`m = u - \sum_i f_i`, the
    :math:`m` shares of largest :math:`u s_i - f_i` (ties: the first) get :math:`f_i + 1`; the result is
    :math:`f / u`. Each share moves by less than :math:`1/u`, and the printed shares add up to 1 where
    rounding each alone can give 101% (39.87%, 34.63%, 25.5% to whole percents: 40 + 35 + 26)."""
    import numpy as np

    unit = 10**digits
    scaled = np.asarray(shares, dtype=float) * unit
    floor = np.floor(scaled + 1e-9)
    missing = int(round(unit - floor.sum()))
    order = np.argsort(-(scaled - floor), kind="stable")
    floor[order[: max(missing, 0)]] += 1
    return floor / unit


def split_text(frame: Any) -> Any:
    """A frame's ``split`` as text, ``""`` for plain scenarios (or no such column)."""
    import pandas as pd

    if "split" not in frame.columns:
        return pd.Series("", index=frame.index, dtype=object)
    return frame["split"].fillna("").astype(str)


def num(x: Any, digits: int = 1) -> str:
    """``x`` to ``digits`` decimals with thousands separators, as the rendered env table writes it
    (:func:`budgetgym.envs.numbers.figure`: 3 significant digits for a non-zero ``x`` those decimals show as
    0 or a huge one; ``–`` for a missing value)."""
    return figure(x, digits)


def reward_text(x: Any, oracle: Any) -> str:
    """An expected reward to 1 decimal, as :func:`num`, among rewards of the size of ``oracle``'s; a
    reward that 1 decimal would show as 0 (a budget of 1e-6 earns about 1e-8) prints to 3 significant
    digits instead (:func:`budgetgym.planner.plan_text.fmt`, the plan report's rule)."""
    from budgetgym.planner.plan_text import fmt

    return fmt(float(x), 1, scale=abs(float(oracle)))


#: Under the IQM across scenarios of a grid with a family: what its interval leaves out.
FAMILY_IQM_NOTE = ("the IQM's interval resamples seeds only: a family enters with each seed's mean over its held-out "
                   "draws, the draws fixed; the family's own table has the interval over draws and seeds")

#: A point without an interval: one seed (a family: one draw and seed) has nothing to resample.
NO_CI = "(no CI)"


def ci_text(mid: Any, lo: Any, hi: Any, digits: int = 1, signed: bool = False) -> str:
    if missing(mid):
        return "–"
    sign = "+" if signed and float(mid) > 0 else ""
    if missing(lo) or missing(hi):
        return f"{sign}{num(mid, digits)} {NO_CI}"
    return f"{sign}{num(mid, digits)} [{num(lo, digits)}, {num(hi, digits)}]"


def has_point_without_interval(summary: Any) -> bool:
    """Whether a summary row shows a score, uplift or IQM :data:`NO_CI` (the report then says why)."""
    pairs = [("pct_of_oracle_mean", "pct_of_oracle_ci_lo"), ("uplift", "uplift_ci_lo"), ("iqm", "iqm_ci_lo")]
    return any(bool((summary[mid].notna() & summary[lo].isna()).any()) for mid, lo in pairs)


#: The unit of each reward kind (revenue and profit are in the scenario's currency).
REWARD_UNITS = {"conversions": "conversions", "revenue": "revenue (currency)", "profit": "profit (currency)"}


def format_summary_rows(summary: Any) -> list[dict[str, str]]:
    """Display strings per summary row: scenario, agent, split (``""`` for a plain scenario),
    % of oracle [CI], mean expected reward of the agent and of the oracle per episode with their
    unit, uplift [CI], seeds, draws (``""`` for a plain scenario)."""
    rows = []
    for (_, r), split in zip(summary.iterrows(), split_text(summary), strict=True):
        kind = r.get("reward_kind", "")
        kind = kind if isinstance(kind, str) else ""  # NaN when read back from an empty CSV cell
        draws = r.get("n_draws")
        rows.append(
            {
                "scenario": str(r["scenario"]),
                "agent": str(r["agent"]),
                "split": split,
                "draws": str(int(draws)) if split and draws is not None and not missing(draws) else "",
                "pct_of_oracle": ci_text(r["pct_of_oracle_mean"], r["pct_of_oracle_ci_lo"], r["pct_of_oracle_ci_hi"]),
                "expected": reward_text(r["expected_reward_mean"], r["oracle_reward_mean"]),
                "oracle": reward_text(r["oracle_reward_mean"], r["oracle_reward_mean"]),
                "unit": REWARD_UNITS.get(kind, kind),
                "uplift": ci_text(r["uplift"], r["uplift_ci_lo"], r["uplift_ci_hi"], signed=True),
                "iqm": ci_text(r["iqm"], r["iqm_ci_lo"], r["iqm_ci_hi"]),
                "seeds": str(int(r["n_seeds"])),
                "episodes": str(int(r["n_episodes"])),
                "train_steps": f"{int(r['train_steps']):,}",
            }
        )
    return rows


def missing(x: Any) -> bool:
    try:
        return math.isnan(float(x))
    except (TypeError, ValueError):
        return True


def markdown_table(header: list[str], rows: list[list[str]], align: str | None = None) -> list[str]:
    align = align or "l" + "r" * (len(header) - 1)
    marks = [":--" if a == "l" else "--:" for a in align]
    return [
        "| " + " | ".join(header) + " |",
        "| " + " | ".join(marks) + " |",
        *("| " + " | ".join(r) + " |" for r in rows),
    ]


def family_section(
    sc: str, part: Any, display: dict[tuple[str, str, str], dict[str, str]], baseline: str | None, conf: str, up: str,
    asked: int | None = None,
) -> list[str]:
    """A family's results: per agent the held-out (test) and in-distribution (train) scores side by
    side, the gap between them, and the held-out expected reward, uplift and P(> baseline).
    ``asked``: the experiment's ``draws`` for the family (``meta.json``), said when a split played fewer."""
    splits = split_text(part)
    test, train = part[splits == "test"].set_index("agent"), part[splits == "train"].set_index("agent")
    if test.empty:
        return [f"### {sc}", "", "No held-out results.", ""]
    first = display[(sc, str(test.index[0]), "test")]
    unit = f" {first['unit']}" if first["unit"] else ""
    n_test, n_train = (int(t["n_draws"].max()) if len(t) and not missing(t["n_draws"].max()) else 0
                       for t in (test, train))
    fewer = asked is not None and min(n_test, n_train) < asked
    lines = [
        f"### {sc}",
        "",
        f"Scenario family: {count(n_test, 'held-out (test) draw')}, never trained on, beside "
        f"{count(n_train, 'in-distribution (train) draw')}"
        + (f" ({asked} asked: its ensemble has fewer members in a split, each played at most once)" if fewer else "")
        + f". Mean oracle reward {first['oracle']}{unit} on the held-out draws.",
        "",
    ]
    poi_col = f"poi_vs_{baseline}" if baseline and f"poi_vs_{baseline}" in part.columns else None
    header = ["agent", f"held-out % of oracle ({conf} CI)", f"in-distribution % of oracle ({conf} CI)",
              "train − held-out, points", "expected reward (held-out)", f"{up} (held-out, {conf} CI)"]
    header += [f"P(> {baseline}), held-out"] if poi_col else []
    header += ["seeds", "draws", "episodes (all seeds and draws)", "train steps", "train s / run", "s / episode"]
    rows = []
    for agent, r in test.sort_values("pct_of_oracle_mean", ascending=False).iterrows():
        d = display[(sc, str(agent), "test")]
        t = display.get((sc, str(agent), "train"))
        gap = float(train.loc[agent, "pct_of_oracle_mean"]) - float(r["pct_of_oracle_mean"]) if t else float("nan")
        row = [d["agent"], d["pct_of_oracle"], t["pct_of_oracle"] if t else "–", ("+" if gap > 0 else "") + num(gap),
               d["expected"], d["uplift"]]
        row += [num(r[poi_col], 2)] if poi_col else []
        row += [d["seeds"], d["draws"], d["episodes"], d["train_steps"], num(r["train_s_mean"], 1),
                num(r["wall_s_mean"], 2)]
        rows.append(row)
    return [*lines, *markdown_table(header, rows), ""]
