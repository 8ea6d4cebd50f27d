r"""Audience segments from a customer table: k-means on customer features, sizes and per-channel reach.

:func:`segment_customers` reads a CSV with one row per customer, clusters the customers on the
``features`` columns and measures, from per-customer channel-exposure columns, how each channel's
exposure splits over the clusters. :func:`write_segments` writes the result as a ``segments:``
block to merge into a scenario (:class:`~budgetgym.envs.scenario_parts.SegmentConfig`); the
``budgetgym segment`` command is a thin layer over the two.

Method
------
* **Standardise** each feature (zero mean, unit variance, scikit-learn's ``StandardScaler`` after
  dividing by the column's largest absolute value, which changes nothing but keeps its variance
  inside a float's range), so no feature dominates by its unit, however large or small; a constant
  feature is an error (it cannot separate anyone).
* **k-means** (scikit-learn's ``KMeans``, ``n_init`` restarts, ``random_state = seed``) on the
  standardised features. With ``k`` omitted, every ``k`` in ``2 .. min(k_max, n - 1)`` is fitted
  and the one with the highest mean **silhouette** wins (ties: the smaller ``k``). On a table of
  more than ``silhouette_sample`` customers (5,000 by default) the silhouette is computed on one
  seeded random subsample of that many customers (the same for every ``k``): the exact score costs
  ``O(n^2)``, the subsample's is within a few thousandths of it for clusters of any useful size.
  Up to 100,000 customers k-means runs on one OpenMP thread (faster there than many).
* **Segments** are the clusters ordered by size, largest first (``segment-1``, ``segment-2``, ...).
  ``size`` = the cluster's share of the customers.
* **Reach**: for channel ``i`` with per-customer exposure ``x_{ci}`` (impressions, clicks, any
  non-negative count), ``R_{is} = sum_{c in s} x_{ci} / sum_c x_{ci}``, the share of the channel's
  exposure landing on segment ``s``; a channel's shares sum to 1 over the segments (every customer
  is in one). A channel with no exposure at all is an error.
* **Value** (optional ``value`` column, e.g. average order value): ``value.mean`` of a segment is
  the column's mean over its customers; without it, 1.
* **Saturation**: a customer table holds no response, so every segment gets the **same**
  whole-audience Hill curve (``max_response``, ``half_saturation``, ``slope``; defaults 1000
  conversions per step, 1e6 units of exposure, 1). A scenario scales a segment's curve by its
  ``size`` (:mod:`budgetgym.envs.segments`), so a big segment saturates at more conversions and
  needs more exposure to get there: replace the curves with your own where you know better.

Written figures are rounded to 6 decimals (sizes to more when a segment is smaller than 1e-6)
with largest-remainder rounding, so the written sizes still sum to 1 and each channel's reach
shares to exactly 1, as a scenario requires.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from budgetgym.envs.errors import BudgetGymError, count
from budgetgym.experiments.report_format import round_shares

__all__ = [
    "DEFAULT_CURVE",
    "SegmentationResult",
    "Written",
    "check_out_file",
    "parse_channels",
    "plot_segments",
    "segment_customers",
    "segments_yaml",
    "write_segments",
]

#: The whole-audience Hill curve every written segment gets unless told otherwise.
DEFAULT_CURVE: dict[str, float] = {"max_response": 1000.0, "half_saturation": 1e6, "slope": 1.0}

_NAME = re.compile(r"^[A-Za-z0-9_.-]{1,40}$")
_ONE_THREAD = 100_000  # customers up to which k-means runs on one thread
_INSTALL = 'budgetgym segment needs scikit-learn: pip install "budgetgym[segments]"'


@dataclass(frozen=True)
class SegmentationResult:
    """Customers clustered into ``k`` segments, largest first.

    Attributes
    ----------
    source : ``"customer file '<path>'"`` (for messages and the written header).
    features : the feature columns clustered on.
    channels : channel names; ``columns`` their exposure columns (same order).
    labels : ``[n]`` each customer's segment index (0 = the largest segment).
    counts : ``[k]`` customers per segment.
    sizes : ``[k]`` share of the customers per segment (sums to 1).
    centres : ``[k, F]`` mean of each feature per segment, in the features' own units.
    standardised : ``[k, F]`` the same in standard deviations from the feature's mean.
    reach : ``[C, k]`` share of channel ``i``'s exposure landing on segment ``s`` (rows sum to 1).
    silhouettes : mean silhouette per ``k`` tried (only the chosen ``k`` when it was given; -1 when
        the scored customers fall in a single segment).
    chosen_by : ``"silhouette"`` or ``"given"``.
    names : segment names.
    value : ``[k]`` mean of the value column per segment, or ``None``.
    value_column : that column, or ``None``.
    curve : the whole-audience Hill curve written for every segment.
    seed : the k-means seed; ``silhouette_sample``: customers scored (``n`` when fewer).
    """

    source: str
    features: tuple[str, ...]
    channels: tuple[str, ...]
    columns: tuple[str, ...]
    labels: np.ndarray
    counts: np.ndarray
    sizes: np.ndarray
    centres: np.ndarray
    standardised: np.ndarray
    reach: np.ndarray
    silhouettes: dict[int, float]
    chosen_by: str
    names: tuple[str, ...]
    value: np.ndarray | None
    value_column: str | None
    curve: dict[str, float] = field(default_factory=lambda: dict(DEFAULT_CURVE))
    seed: int = 0
    silhouette_sample: int = 0

    @property
    def k(self) -> int:
        return len(self.counts)

    @property
    def n_customers(self) -> int:
        return len(self.labels)

    @property
    def silhouette(self) -> float:
        """Mean silhouette of the chosen ``k``."""
        return self.silhouettes[self.k]

    def segments_block(self) -> list[dict[str, Any]]:
        """The ``segments:`` list (plain dicts, rounded as the module docstring says), each entry a
        valid :class:`~budgetgym.envs.scenario_parts.SegmentConfig`."""
        size_digits = max(6, len(str(self.n_customers)))
        sizes = round_shares(self.sizes, size_digits)
        reach = np.array([round_shares(row, 6) for row in self.reach]).reshape(self.reach.shape)
        block = []
        for s, name in enumerate(self.names):
            entry: dict[str, Any] = {
                "name": name,
                "size": float(sizes[s]),
                "saturation": {"type": "hill", **{k: float(v) for k, v in self.curve.items()}},
                "value": {"mean": 1.0 if self.value is None else round(float(self.value[s]), 6), "noise_sd": 0.0},
                "reach": {ch: float(reach[i, s]) for i, ch in enumerate(self.channels)},
            }
            block.append(entry)
        return block


# ---------------------------------------------------------------------------------------- inputs
def parse_channels(text: str | list[str] | tuple[str, ...]) -> list[tuple[str, str]]:
    """``--channels``: ``"search,social=social_impr"`` -> ``[("search", "search"), ("social", "social_impr")]``
    (``name`` alone: the column is the channel's name). Names must be valid channel names, unique."""
    items = text.split(",") if isinstance(text, str) else list(text)
    pairs = []
    for item in (str(i).strip() for i in items):
        if not item:
            continue
        name, _, column = item.partition("=")
        name, column = name.strip(), (column.strip() or name.strip())
        if not _NAME.match(name):
            raise BudgetGymError(f"--channels: '{name}' is not a channel name; expected letters, digits, '_', '.' "
                                 "or '-' (at most 40), as NAME or NAME=COLUMN")
        pairs.append((name, column))
    if not pairs:
        raise BudgetGymError("--channels: expected at least one channel, as NAME or NAME=COLUMN, comma-separated")
    seen = [n for n, _ in pairs]
    dupes = sorted({n for n in seen if seen.count(n) > 1})
    if dupes:
        raise BudgetGymError(f"--channels: channel '{dupes[0]}' is given twice")
    return pairs


# -------------------------------------------------------------------------------------- clustering
def segment_customers(
    path: str | Path,
    features: str | list[str] | tuple[str, ...],
    channels: str | list[str] | tuple[str, ...],
    *,
    k: int | None = None,
    k_max: int = 10,
    seed: int = 0,
    n_init: int = 10,
    value: str | None = None,
    names: str | list[str] | tuple[str, ...] | None = None,
    max_response: float = DEFAULT_CURVE["max_response"],
    half_saturation: float = DEFAULT_CURVE["half_saturation"],
    slope: float = DEFAULT_CURVE["slope"],
    silhouette_sample: int = 5000,
    decimal: str | None = None,
) -> SegmentationResult:
    """Cluster the customers of a CSV into segments and measure each channel's reach of them.

    Parameters
    ----------
    path : CSV with one row per customer.
    features : columns to cluster on (numeric, not constant), comma-separated or a list.
    channels : per channel ``NAME`` (its exposure column has that name) or ``NAME=COLUMN``; the
        column holds each customer's exposure to the channel (non-negative numbers).
    k : number of segments (``2 <= k < n``); ``None``: chosen by silhouette over
        ``2 .. min(k_max, n - 1)``.
    k_max : largest ``k`` tried when ``k`` is ``None``.
    seed : seed of k-means and of the silhouette subsample, ``0 .. 2**32 - 1``.
    n_init : k-means restarts (the best inertia is kept).
    value : optional column of value per customer (e.g. average order value, ``0 .. 1e15`` as a
        scenario's ``value.mean``); a segment's ``value.mean`` is its customers' mean.
    names : segment names, largest segment first (default ``segment-1 .. segment-k``).
    max_response, half_saturation, slope : the whole-audience Hill curve written for every segment.
    silhouette_sample : customers the silhouette is computed on (a seeded subsample when more).
    decimal : the file's decimal mark, ``"."`` or ``","`` (``--decimal``); ``None``: detected
        (:func:`~budgetgym.envs.io.read_csv_table`).

    Returns
    -------
    SegmentationResult

    Raises
    ------
    BudgetGymError
        One line naming the file or option and the column: a missing or non-numeric column,
        negative exposure or value, a value above 1e15, a constant feature, a channel without exposure, too few
        customers (or distinct customers) for ``k``, ``k`` or ``k_max`` below 2, a ``seed`` outside
        ``0 .. 2**32 - 1``, scikit-learn missing.
    """
    # the calibration's column checks: one wording for every CSV budgetgym reads
    from budgetgym.calibration.data import _require, numeric_column, split_columns
    from budgetgym.envs.io import read_csv_table
    from budgetgym.envs.scenario_parts import MAX_AMOUNT

    try:
        from sklearn.cluster import KMeans
        from sklearn.metrics import silhouette_score
        from sklearn.preprocessing import StandardScaler
        from threadpoolctl import threadpool_limits
    except ImportError:
        raise BudgetGymError(_INSTALL) from None

    feats = split_columns(features)
    pairs = parse_channels(channels)
    if not feats:
        raise BudgetGymError("--features: expected at least one feature column, comma-separated")
    if k is not None and k < 2:
        raise BudgetGymError(f"--k: expected at least 2 segments, got {k}")
    if k is None and k_max < 2:
        raise BudgetGymError(f"--k-max: expected at least 2, got {k_max}")
    if not 0 <= seed < 2**32:  # KMeans' random_state (and the subsample's generator) take no other
        raise BudgetGymError(f"--seed: expected an integer from 0 to {2**32 - 1}, got {seed}")
    if n_init < 1:
        raise BudgetGymError(f"n_init: expected at least 1, got {n_init}")
    if silhouette_sample < 2:
        raise BudgetGymError(f"silhouette_sample: expected at least 2 customers, got {silhouette_sample}")
    curve = {"max_response": float(max_response), "half_saturation": float(half_saturation), "slope": float(slope)}
    _check_curve(curve)
    wanted = split_columns(names) if names is not None else None
    if wanted is not None:
        bad = [n for n in wanted if not _NAME.match(n)]
        if bad:
            raise BudgetGymError(f"--names: '{bad[0]}' is not a segment name; expected letters, digits, '_', '.' "
                                 "or '-' (at most 40)")
        if len(set(wanted)) < len(wanted):
            raise BudgetGymError("--names: segment names must be unique")
        if k is not None and len(wanted) != k:
            raise BudgetGymError(f"--names: expected {k} names (one per segment), got {len(wanted)}")

    df = read_csv_table(path, "customer file", decimal,
                        numbers=[*feats, *(c for _, c in pairs), *([] if value is None else [value])])
    source = f"customer file '{Path(path)}'"
    _require(df, feats, "--features", source)
    _require(df, [c for _, c in pairs], "--channels", source)
    if value is not None:
        _require(df, [value], "--value", source)
    n = len(df)
    least = (k if k is not None else 2) + 1
    if n < least:
        need = f"k = {k}" if k is not None else "k >= 2"
        raise BudgetGymError(f"{source}: {count(n, 'customer')}; expected at least {least} (more customers than "
                             f"segments, for {need})")

    X = np.column_stack([numeric_column(df, c, source, "a feature", nonnegative=False) for c in feats])
    for j, col in enumerate(feats):
        if np.ptp(X[:, j]) == 0:
            raise BudgetGymError(f"{source}: --features: column '{col}' is constant ({X[0, j]:g} for every "
                                 "customer); expected a feature that varies across customers")
    exposure = np.column_stack([numeric_column(df, c, source, "exposure", nonnegative=True) for _, c in pairs])
    top = exposure.max(axis=0)  # the largest exposure per channel (non-negative: 0 means none at all)
    for i, (name, col) in enumerate(pairs):
        if top[i] <= 0:
            raise BudgetGymError(f"{source}: --channels: column '{col}' (channel '{name}') is 0 for every "
                                 "customer; expected some exposure to measure the channel's reach")
    # a segment's value.mean is at most its customers' largest value: within a scenario's bound by this
    values = None if value is None else numeric_column(df, value, source, "value", nonnegative=True,
                                                       largest=MAX_AMOUNT)

    Z = _standardise(X, StandardScaler)
    distinct = len(np.unique(Z, axis=0))
    if k is not None and distinct < k:
        raise BudgetGymError(f"{source}: --features: only {count(distinct, 'distinct customer profile')}; expected at "
                             f"least k = {k}")
    candidates = [k] if k is not None else list(range(2, min(k_max, n - 1, distinct) + 1))
    if not candidates:
        raise BudgetGymError(f"{source}: --features: every customer has the same features; expected at least 2 "
                             "distinct profiles")
    rng = np.random.default_rng(seed)
    scored = np.sort(rng.choice(n, silhouette_sample, replace=False)) if n > silhouette_sample else np.arange(n)
    fits: dict[int, np.ndarray] = {}
    silhouettes: dict[int, float] = {}
    # up to 100,000 customers one OpenMP thread: there, thread start-up and spin-waiting cost more
    # than the work (k = 2..10 on 1,000 customers: 0.1 s single-threaded, seconds on a busy machine)
    with threadpool_limits(limits=1 if n <= _ONE_THREAD else None, user_api="openmp"):
        for kk in candidates:
            labels = KMeans(n_clusters=kk, n_init=n_init, random_state=seed).fit_predict(Z)
            fits[kk] = labels
            sub = labels[scored]
            silhouettes[kk] = float(silhouette_score(Z[scored], sub)) if 2 <= len(np.unique(sub)) < len(sub) else -1.0
    chosen = k if k is not None else max(candidates, key=lambda kk: (silhouettes[kk], -kk))
    raw = fits[chosen]
    if wanted is not None and len(wanted) != chosen:
        raise BudgetGymError(f"--names: expected {chosen} names (k = {chosen} chosen by silhouette), got "
                             f"{len(wanted)}")

    counts_raw = np.bincount(raw, minlength=chosen)
    order = np.argsort(-counts_raw, kind="stable")  # largest first, ties by k-means' index
    relabel = np.empty(chosen, dtype=int)
    relabel[order] = np.arange(chosen)
    labels = relabel[raw]
    counts = np.bincount(labels, minlength=chosen)
    onehot = np.zeros((n, chosen))
    onehot[np.arange(n), labels] = 1.0
    centres = (onehot.T @ X) / counts[:, None]
    standardised = (onehot.T @ Z) / counts[:, None]
    # R_is = sum_{c in s} x_ci / sum_c x_ci, on x_ci / max_c x_ci (the same ratio): totals of exposure of
    # order 1e306 per customer would overflow to inf
    unit = exposure / top
    reach = (unit.T @ onehot) / unit.sum(axis=0)[:, None]
    return SegmentationResult(
        source=source, features=tuple(feats), channels=tuple(n for n, _ in pairs),
        columns=tuple(c for _, c in pairs), labels=labels, counts=counts, sizes=counts / n, centres=centres,
        standardised=standardised, reach=reach, silhouettes=silhouettes,
        chosen_by="given" if k is not None else "silhouette",
        names=tuple(wanted) if wanted is not None else tuple(f"segment-{s + 1}" for s in range(chosen)),
        value=None if values is None else (onehot.T @ values) / counts, value_column=value, curve=curve,
        seed=seed, silhouette_sample=len(scored),
    )


def _standardise(X: np.ndarray, scaler: Any) -> np.ndarray:
    r"""Each column of ``X [n, F]`` to zero mean and unit variance, in any unit.

    Standardising is invariant to a positive scale of a column,
    :math:`(c x - \overline{c x}) / \operatorname{sd}(c x) = (x - \bar x) / \operatorname{sd}(x)` for
    :math:`c > 0`, so each column is first divided by its largest absolute value
    :math:`c_j = 1 / \max_n |x_{nj}|` (``X`` has no constant column, so :math:`c_j` is finite): the
    scaler's variance then never overflows (a feature of order 1e170 has a variance of 1e340) nor
    underflows to 0 (one of order 1e-170, which the scaler would take for constant and leave out).

    Parameters
    ----------
    X : ``[n, F]`` finite features, none constant.
    scaler : scikit-learn's ``StandardScaler`` class.

    Returns
    -------
    np.ndarray
        ``[n, F]`` standardised features.
    """
    top = np.abs(X).max(axis=0)
    return np.asarray(scaler().fit_transform(X / np.where(top > 0, top, 1.0)), dtype=float)


def _check_curve(curve: dict[str, float]) -> None:
    """The curve options against :class:`~budgetgym.envs.scenario_parts.HillSaturation`'s bounds."""
    from pydantic import ValidationError

    from budgetgym.envs.scenario_parts import HillSaturation

    try:
        HillSaturation.model_validate({"type": "hill", **curve})
    except ValidationError as err:
        e = err.errors()[0]
        name = str(e["loc"][0]).replace("_", "-")
        raise BudgetGymError(f"--{name}: {e['msg']} (got {curve[str(e['loc'][0])]:g})") from None


# the written block and figure, re-exported
from budgetgym.experiments.segment_output import (  # noqa: E402
    Written,
    check_out_file,
    plot_segments,
    segments_yaml,
    write_segments,
)
