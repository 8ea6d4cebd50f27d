"""The grid programme against brute-force enumeration of every grid split."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from budgetgym.envs.grid_dp import grid_fractions, grid_split_values


def brute_force(values: np.ndarray, low: np.ndarray, high: np.ndarray) -> float:
    """Best summed value over every assignment of grid levels that sums to the whole budget."""
    G, K = values.shape
    frac = np.linspace(0.0, 1.0, G)
    best = -np.inf
    for levels in itertools.product(range(G), repeat=K):
        if sum(levels) != G - 1:
            continue
        f = frac[list(levels)]
        if np.any(f < low - 1e-12) or np.any(f > high + 1e-12):
            continue
        best = max(best, float(sum(values[g, i] for i, g in enumerate(levels))))
    return best


def value_of(shares: np.ndarray, values: np.ndarray) -> float:
    G = values.shape[0]
    idx = np.rint(shares * (G - 1)).astype(int)
    return float(values[idx, np.arange(values.shape[1])].sum())


@pytest.mark.parametrize("seed", range(12))
def test_matches_brute_force_on_arbitrary_values(seed: int) -> None:
    rng = np.random.default_rng(seed)
    G, K = int(rng.integers(3, 9)), int(rng.integers(2, 5))
    values = rng.normal(size=(G, K))  # any shape: non-concave, non-monotone
    low = np.zeros(K)
    high = np.ones(K)
    if seed % 3 == 0:
        low[0], high[1] = 0.2, 0.5
    shares = grid_split_values(values, low, high)
    assert shares.sum() == pytest.approx(1.0)
    assert np.all(shares >= low - 1e-12) and np.all(shares <= high + 1e-12)
    assert value_of(shares, values) == pytest.approx(brute_force(values, low, high), abs=1e-12)


def test_steep_s_curves_put_all_in_one_channel() -> None:
    """Two identical steep S-curves: any split of the budget loses to all in one channel
    (f(1) = 1/(1 + 0.6^8) = 0.9835, while 2 f(0.5) = 0.378 and f(0.6) + f(0.4) = 0.538)."""
    frac = grid_fractions(11)
    steep = frac**8 / (frac**8 + 0.6**8)
    shares = grid_split_values(np.stack([steep, steep], axis=1), np.zeros(2), np.ones(2))
    assert sorted(shares.tolist()) == [0.0, 1.0]  # f(1) = 0.9835 > 2 f(0.5) = 2 * 0.1889


def test_batch_of_steps_equals_each_step() -> None:
    rng = np.random.default_rng(3)
    values = rng.normal(size=(4, 7, 3))
    lo, hi = np.array([0.0, 0.1, 0.0]), np.array([1.0, 0.6, 1.0])
    batch = grid_split_values(values, lo, hi)
    for t in range(4):
        np.testing.assert_array_equal(batch[t], grid_split_values(values[t], lo, hi))


def test_grid_needs_two_points() -> None:
    with pytest.raises(ValueError, match="grid"):
        grid_fractions(1)
