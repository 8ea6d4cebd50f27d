"""The vector env against the single env at the edges of the action space (hypothesis).

Every step of every row is one of the actions at an edge: no spend at all (agent pacing's ``-1``), the
whole step cap (``+1``, or ``inf``/``1e300``, sanitised to it), everything on one channel (its logit ``+1``
or ``+inf``, the others ``-1`` or ``-inf``) or the equal split (every logit ``0``), on campaigns of one
channel or several, plain or with audience segments, half of them with fields at the schema's edges
(``conftest.any_scenario_dicts``), on families converted from random MMM posteriors
(``conftest.posterior_families``) and on random families with ``vary`` ranges, some choosing their segments
per draw (``conftest.families``). ``per_env`` rows must be Gymnasium's ``SyncVectorEnv`` of single
environments bit for bit (the autoreset step included); ``batched`` rows, with every noise source off,
the single environment's numbers to the batched tolerance (``conftest.assert_reordered_close``). A step
of no spend reports exactly zero spend in both.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from conftest import any_scenario_dicts, assert_reordered_close, families, posterior_families
from gymnasium.utils.env_checker import data_equivalence
from gymnasium.vector import SyncVectorEnv
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from budgetgym.envs import ChannelBudgetEnv, scenario_from_dict
from budgetgym.envs.vector_env import ChannelBudgetVectorEnv

N = 3
SETTINGS = settings(
    max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large]
)
KEYS = ("spend", "conversions", "revenue", "expected_reward")
EDGES = ("zero", "full", "one", "equal")


@st.composite
def _edge_action(draw: st.DrawFn, k: int, agent: bool) -> tuple[str, np.ndarray]:
    """One row's action at an edge (module docstring) and its kind: ``k`` split logits, then the pacing
    entry under agent pacing (under even pacing every step spends ``B/T``: no ``zero`` or ``full``)."""
    kind = draw(st.sampled_from(EDGES if agent else EDGES[2:]))
    logits = np.zeros(k)
    if kind == "one":
        top, low = draw(st.sampled_from([(1.0, -1.0), (np.inf, -np.inf), (1e300, -1e300)]))
        logits[:] = low
        logits[draw(st.integers(0, k - 1))] = top
    elif kind in ("zero", "full"):
        logits = np.array([draw(st.floats(-1.0, 1.0)) for _ in range(k)])
    if not agent:
        return kind, logits
    pace = {"zero": st.just(-1.0), "full": st.sampled_from([1.0, np.inf, 1e300])}.get(kind, st.floats(-1.0, 1.0))
    return kind, np.append(logits, draw(pace))


def _edge_actions(data: st.DataObject, k: int, agent: bool, steps: int) -> tuple[list[list[str]], list[np.ndarray]]:
    """``steps`` batched actions ``[N, dim]`` (float32) of edge rows, and each row's kind."""
    kinds, actions = [], []
    for t in range(steps):
        rows = [data.draw(_edge_action(k, agent), label=f"a[{t}]") for _ in range(N)]
        kinds.append([kind for kind, _ in rows])
        with np.errstate(over="ignore"):  # 1e300 -> inf in float32, on purpose
            actions.append(np.array([a for _, a in rows]).astype(np.float32))
    return kinds, actions


def _per_env_rows_are_single_envs(campaign: Any, k: int, agent: bool, horizon: int, data: st.DataObject,
                                  seed: int) -> None:
    """``per_env`` rows are single envs bit for bit over an episode and the autoreset step; a ``zero`` row
    spends exactly nothing."""
    kinds, actions = _edge_actions(data, k, agent, horizon + 1)
    ref = SyncVectorEnv([lambda: ChannelBudgetEnv(campaign) for _ in range(N)])
    vec = ChannelBudgetVectorEnv(campaign, N)
    try:
        assert data_equivalence(ref.reset(seed=seed), vec.reset(seed=seed), exact=True), "reset"
        for t, (row_kinds, a) in enumerate(zip(kinds, actions, strict=True)):
            expected, got = ref.step(a), vec.step(a)
            assert data_equivalence(expected, got, exact=True), (t, row_kinds)
            if t < horizon:  # the last step is the autoreset's (no spend)
                for i, kind in enumerate(row_kinds):
                    assert kind != "zero" or np.all(got[4]["spend"][i] == 0.0), (t, i)
    finally:
        ref.close()
        vec.close()


def _quiet(d: dict[str, Any]) -> dict[str, Any]:
    """A scenario mapping with every noise source off (the channels' and the segments')."""
    d["noise"]["conversions"] = "none"
    d["drift"]["sd"] = 0.0
    for block in (*d["channels"], *d.get("segments", [])):
        block.pop("drift_sd", None)
        if "cost" in block:
            block["cost"]["noise_sd"] = 0.0
        if "value" in block:
            block["value"]["noise_sd"] = 0.0
    return d


_campaigns = st.sampled_from([1, 4]).flatmap(
    lambda k: any_scenario_dicts(segmented=None, max_channels=k, max_horizon=6))  # one channel, or up to four


@SETTINGS
@given(d=_campaigns, data=st.data(), seed=st.integers(0, 2**16))
def test_per_env_rows_are_single_envs_at_edge_actions(d: dict[str, Any], data: st.DataObject, seed: int) -> None:
    sc = scenario_from_dict(d, source="hypothesis scenario")
    _per_env_rows_are_single_envs(sc, sc.n_channels, sc.budget.pacing == "agent", sc.horizon, data, seed)


@SETTINGS
@given(d=_campaigns, data=st.data())
def test_batched_rows_are_single_envs_at_edge_actions_noise_off(d: dict[str, Any], data: st.DataObject) -> None:
    sc = scenario_from_dict(_quiet(d), source="hypothesis scenario")
    kinds, actions = _edge_actions(data, sc.n_channels, sc.budget.pacing == "agent", sc.horizon)
    ref = SyncVectorEnv([lambda: ChannelBudgetEnv(sc) for _ in range(N)])
    vec = ChannelBudgetVectorEnv(sc, N, rng="batched")
    try:
        ref.reset(seed=0)
        vec.reset(seed=1)  # no noise: the seed plays no part
        for t, (row_kinds, a) in enumerate(zip(kinds, actions, strict=True)):
            expected, got = ref.step(a), vec.step(a)
            assert_reordered_close([*expected[:2], {k: expected[4][k] for k in KEYS}],
                                   [*got[:2], {k: got[4][k] for k in KEYS}])
            for i, kind in enumerate(row_kinds):
                assert kind != "zero" or np.all(got[4]["spend"][i] == 0.0), (t, i)
    finally:
        ref.close()
        vec.close()


@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(fam=posterior_families(), data=st.data(), seed=st.integers(0, 2**16))
def test_per_env_rows_of_a_posterior_family_are_single_envs_at_edge_actions(fam: Any, data: st.DataObject,
                                                                           seed: int) -> None:
    """Each row plays its own draw of the family (the single env draws the same on the same seed)."""
    sc = fam.nominal()
    _per_env_rows_are_single_envs(fam, sc.n_channels, sc.budget.pacing == "agent", sc.horizon, data, seed)


@pytest.mark.filterwarnings("ignore::budgetgym.envs.errors.ScenarioWarning")  # a channel reaching no segment
@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(fam=st.booleans().flatmap(lambda seg: families(segments_differ=seg, max_channels=3, max_horizon=4)),
       data=st.data(), seed=st.integers(0, 2**16))
def test_per_env_rows_of_a_random_family_are_single_envs_at_edge_actions(fam: Any, data: st.DataObject,
                                                                        seed: int) -> None:
    """Families with ``vary`` ranges, some choosing their segments per draw (rows of different segments)."""
    sc = fam.nominal()
    _per_env_rows_are_single_envs(fam, sc.n_channels, sc.budget.pacing == "agent", sc.horizon, data, seed)
