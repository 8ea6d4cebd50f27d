"""The seed streams of a family's draws: which generator each template draw and an ensemble's split use.

Draw ``i`` of split ``s`` of a template uses ``SeedSequence(draw_entropy(seed, s, i, k))`` for its
attempt ``k`` (0, then the redraws: :func:`draw_entropy`), the train split ``s_id`` 0 and the test
split 1, two disjoint streams; an ensemble's members are split once by a permutation of stream
:data:`ENSEMBLE_STREAM` (:func:`ensemble_parts`). The rules of the draws:
:mod:`budgetgym.envs.scenario_family`'s docstring.
"""

from __future__ import annotations

from typing import Literal

import numpy as np

from budgetgym.envs.errors import ScenarioError

__all__ = ["ENSEMBLE_STREAM", "MAX_FAMILY_SEED", "SPLIT_ID", "Split", "checked_split", "draw_entropy", "ensemble_parts"]

#: A family's two disjoint sets of draws.
Split = Literal["train", "test"]
#: Each split's word in a template draw's entropy (:func:`draw_entropy`).
SPLIT_ID = {"train": 0, "test": 1}


def checked_split(split: str) -> None:
    """A one-line :class:`ScenarioError` unless ``split`` names a split of :data:`SPLIT_ID`."""
    if split not in SPLIT_ID:
        raise ScenarioError(f"split: expected 'train' or 'test', got {split!r}")
#: The word after the family seed in the entropy of an ensemble's split (:func:`ensemble_parts`).
ENSEMBLE_STREAM = 2

#: The largest family seed: one 32-bit word, so the seed is the first word of every draw's entropy
#: (:func:`draw_entropy`); a larger one would be read as two words and share streams with another
#: seed's family (``seed: 2**32`` gave the train draws that ``seed: 0`` gives as test draws).
MAX_FAMILY_SEED = 2**32 - 1


def draw_entropy(seed: int, split: Split, index: int, attempt: int = 0) -> list[int]:
    """The SeedSequence entropy of attempt ``attempt`` (0, then the redraws) of template draw ``index`` of
    ``split`` (:mod:`~budgetgym.envs.scenario_family`'s docstring): ``[seed, s_id, index]``, with ``attempt``
    appended when it is not 0.

    numpy reads an integer as its 32-bit words (low first), so for ``index >= 2**32`` that list is one
    of a smaller draw's redraws (``[seed, s, 2**32 + 5]`` is ``[seed, s, 5, 1]``); such an index gets
    ``[seed, s_id, index, attempt]`` with ``attempt`` always given, at least five words where every
    smaller draw has three or four, so no two draws (or attempts) of a family share a stream, and
    draws below ``2**32`` are unchanged. The family seed is one word (at most :data:`MAX_FAMILY_SEED`),
    so no two families' streams coincide either.
    """
    small = index < 2**32
    return [seed, SPLIT_ID[split], index] + ([attempt] if attempt or not small else [])


def ensemble_parts(seed: int, n_members: int, test_fraction: float, source: str) -> dict[str, np.ndarray]:
    """An ensemble's members split once into a test and a train part (member indices, keyed by split):
    a permutation of the ``n_members`` drawn from ``SeedSequence([seed, ENSEMBLE_STREAM])``, its first
    ``max(1, round(n_members * test_fraction))`` the test part, the rest the train part; a one-line error
    naming ``source`` when that leaves no train member."""
    perm = np.random.default_rng(np.random.SeedSequence([seed, ENSEMBLE_STREAM])).permutation(n_members)
    n_test = max(1, int(round(n_members * test_fraction)))
    if n_test >= n_members:
        raise ScenarioError(
            f"{source}: test_fraction: {test_fraction:g} of an ensemble of {n_members} leaves no train members"
        )
    return {"test": perm[:n_test], "train": perm[n_test:]}
