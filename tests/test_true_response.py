"""The planner's predicted lifts (``true_lifts_of(..., exact=False)``): the simulator's lifts to rounding."""

from __future__ import annotations

import numpy as np

from budgetgym.envs.family import load_family
from budgetgym.envs.scenario import load_scenario
from budgetgym.experiments.true_response import true_lifts, true_lifts_of


def test_the_designs_lifts_equal_the_simulators_to_rounding_and_segments_to_the_bit() -> None:
    """Draws of the built-in families (geometric, Weibull and no carry-over, geometric and gamma delays, revenue
    and conversions; windows of many lengths, padded to a shared one) and a segmented scenario, tests of every
    channel up and down from bases that differ per test: ``exact=False`` gives each draw's
    :func:`true_lifts` to 1e-12 of the draw's largest lift (the segmented scenario, valued the exact way, to the
    bit), and ``exact=True`` is :func:`true_lifts` to the bit (a draw's, beside others)."""
    rng = np.random.default_rng(11)
    for name, n in (("retail-5-family", 3), ("wide-family", 2), ("wide-agent-family", 1)):
        draws = load_family(name).draws(n, "train")
        sc = draws[0]
        K, share = sc.n_channels, sc.step_budget / sc.n_channels
        channels = np.concatenate([np.arange(K), np.arange(K)])
        bases = rng.uniform(0.2, 1.5, (len(channels), K)) * share
        bases[K:] = bases[0]  # shared controls, as the design's, beside controls of their own
        delta = rng.uniform(-0.5, 3.0, len(channels)) * share
        delta[0] = -bases[0, 0]  # a holdout: the channel to nothing
        fast = true_lifts_of(draws, bases, channels, delta, exact=False)
        exact = true_lifts_of(draws, bases, channels, delta)
        assert fast.shape == exact.shape == (len(channels), n)
        np.testing.assert_array_equal(exact[:, -1], true_lifts(draws[-1], bases, channels, delta))
        scale = np.abs(exact).max(axis=0)
        assert (scale > 0).all()
        assert (np.abs(fast - exact) <= 1e-12 * scale).all(), name
        assert not np.array_equal(fast, exact)  # regrouped sums: not to the bit (else this test proves nothing)
    seg = load_scenario("overlap-5")
    bases = np.full((2, seg.n_channels), seg.step_budget / seg.n_channels)
    args = (bases, np.array([0, 3]), np.array([100.0, -50.0]))
    np.testing.assert_array_equal(true_lifts_of([seg], *args, exact=False), true_lifts_of([seg], *args))
