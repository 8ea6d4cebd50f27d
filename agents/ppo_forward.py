r"""The deterministic action of an SB3 MLP policy, computed so that no row depends on the batch.

torch's CPU matrix products pick their kernel by the batch size (a matrix-vector product for one
row, blocked matrix products for more), and the kernels round differently: the same observation
gets an action that differs in the last bits depending on how many observations it is evaluated
with. An evaluator that plays a thousand episodes as one batch must give each the action it gets
alone. :func:`policy_mean` evaluates the policy's mean action layer by layer,

.. math:: h_{l+1} = \phi\big(\textstyle\sum_j W_{l,ij}\, h_{l,j} + b_{l,i}\big),

in float32 (the policy's dtype) with the sum over ``j`` taken by numpy's pairwise summation
along a contiguous axis of the products ``W_{l,ij} h_{l,j}``: an order fixed by the layer width
alone, so every row is bit for bit the same whatever the batch. The result equals SB3's
``policy.predict(obs, deterministic=True)`` to float32 rounding (about ``1e-7``); it is then
clipped to the action space, as SB3 does.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from gymnasium.spaces import Box

__all__ = ["batch_independent", "policy_mean"]

#: Rows per chunk: the product ``[rows, out, in]`` of a 64 x 64 layer stays about 8 MB.
_ROWS = 512


def _layers(policy: Any) -> list[tuple[str, np.ndarray | None, np.ndarray | None]] | None:
    """``(kind, weight, bias)`` of the actor's modules, or ``None`` when a module is not a plain
    linear layer or a tanh/ReLU activation (the caller then uses torch)."""
    from stable_baselines3.common.torch_layers import FlattenExtractor
    from torch import nn

    extractor = getattr(policy, "pi_features_extractor", None) or getattr(policy, "features_extractor", None)
    if not isinstance(extractor, FlattenExtractor) or getattr(policy, "squash_output", False):
        return None
    out: list[tuple[str, np.ndarray | None, np.ndarray | None]] = []
    for module in [*policy.mlp_extractor.policy_net, policy.action_net]:
        if isinstance(module, nn.Linear):
            bias = None if module.bias is None else module.bias.detach().cpu().numpy()
            out.append(("linear", module.weight.detach().cpu().numpy(), bias))
        elif isinstance(module, nn.Tanh):
            out.append(("tanh", None, None))
        elif isinstance(module, nn.ReLU):
            out.append(("relu", None, None))
        else:
            return None
    return out


def _forward(layers: list[tuple[str, np.ndarray | None, np.ndarray | None]], x: np.ndarray) -> np.ndarray:
    for kind, weight, bias in layers:
        if kind == "linear":
            assert weight is not None
            x = (x[:, None, :] * weight[None, :, :]).sum(axis=-1)
            if bias is not None:
                x = x + bias
        elif kind == "tanh":
            x = np.tanh(x)
        else:
            x = np.maximum(x, np.float32(0.0))
    return x


def batch_independent(policy: Any) -> bool:
    """Whether :func:`policy_mean` computes ``policy``'s action (an MLP actor of linear layers and
    tanh/ReLU): then a row's action does not depend on the batch it is evaluated in. Otherwise
    :meth:`~budgetgym.agents.ppo.PPOAgent.predict` falls back on SB3's ``predict``, whose rows do."""
    return _layers(policy) is not None


def policy_mean(policy: Any, observation: np.ndarray, space: Box) -> np.ndarray | None:
    """The mean action of ``policy`` (an SB3 ``ActorCriticPolicy`` with an MLP actor) for one
    (already normalised) observation ``[D]`` or a batch ``[n, D]``, clipped to the action
    ``space``, float32; ``None`` when the policy is not of that form."""
    layers = _layers(policy)
    if layers is None:
        return None
    obs = np.asarray(observation, dtype=np.float32)
    x = obs.reshape(-1, obs.shape[-1])
    parts = [_forward(layers, x[s : s + _ROWS]) for s in range(0, max(len(x), 1), _ROWS)]
    actions = np.clip(np.concatenate(parts), space.low, space.high).astype(np.float32)
    return actions[0] if obs.ndim == 1 else actions
