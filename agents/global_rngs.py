"""Keep the caller's global random number generators as they were around stable-baselines3 calls.

SB3 seeds by resetting global state: ``set_random_seed(s)`` and ``PPO(seed=s)`` (and ``PPO.load``, which
reseeds with the saved seed) call ``random.seed``, ``np.random.seed`` and ``torch.manual_seed``, and
training draws minibatch permutations from numpy's legacy global generator and action noise from
torch's. A researcher who seeds numpy globally and then trains or acts with a budgetgym PPO agent would
silently continue with another stream. :func:`preserved_global_rngs` saves the three global states
before such a call and restores them after it; what happens inside is unchanged (SB3 still seeds
itself first), so budgetgym's own numbers for a given seed are the same.
"""

from __future__ import annotations

import contextlib
import random
from collections.abc import Iterator
from typing import Any

import numpy as np

__all__ = ["TORCH_SEEDS", "preserved_global_rngs", "seeded_torch_state", "torch_stream"]


@contextlib.contextmanager
def preserved_global_rngs() -> Iterator[None]:
    """Run the block, then restore ``random``'s, numpy's legacy and torch's global RNG states.

    torch's CPU generator is restored, and each CUDA device's when CUDA is available
    (``torch.random.fork_rng``); without torch installed, the other two. The states are restored
    also when the block raises. Imports belong inside too: ``rich`` (which SB3 imports) draws from
    ``random`` when it is first imported.
    """
    try:
        import torch
    except ImportError:  # the caller reports the missing library
        torch = None  # type: ignore[assignment]
    py_state, np_state = random.getstate(), np.random.get_state()
    try:
        with torch.random.fork_rng() if torch is not None else contextlib.nullcontext():
            yield
    finally:
        random.setstate(py_state)
        np.random.set_state(np_state)


#: torch's generators take seeds below 2**64 (``manual_seed``).
TORCH_SEEDS = 2**64


def seeded_torch_state(seed: int | None) -> Any:
    """The state of torch's CPU generator right after ``torch.manual_seed(seed)``, computed on a
    private generator (the global one is not touched); fresh entropy when ``seed`` is ``None``.

    A seed from ``2**64`` on (an episode seed may be any non-negative integer, as numpy's generators
    take), which torch refuses, is first hashed to 64 bits by ``numpy.random.SeedSequence(seed)``.
    """
    import torch

    generator = torch.Generator()
    if seed is None:
        generator.seed()
    else:
        seed = int(seed)
        if seed >= TORCH_SEEDS:
            seed = int(np.random.SeedSequence(seed).generate_state(1, np.uint64)[0])
        generator.manual_seed(seed)
    return generator.get_state()


@contextlib.contextmanager
def torch_stream(holder: Any, attribute: str) -> Iterator[None]:
    """Draw torch's random numbers in the block from the state stored in ``holder.<attribute>``
    (a :func:`seeded_torch_state`; a fresh one when it is ``None``) and store the advanced state back;
    the caller's global states are left as they were (:func:`preserved_global_rngs`).

    Drawing from a seeded ``torch.manual_seed(seed)`` then ``n`` calls gives the same numbers as
    ``n`` blocks after storing ``seeded_torch_state(seed)``.
    """
    import torch

    if getattr(holder, attribute, None) is None:
        setattr(holder, attribute, seeded_torch_state(None))
    with preserved_global_rngs():
        torch.set_rng_state(getattr(holder, attribute))
        try:
            yield
        finally:
            setattr(holder, attribute, torch.get_rng_state())
