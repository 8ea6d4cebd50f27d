"""The agent interface shared by every policy, and the registry that builds them by name.

An agent follows stable-baselines3's ``PolicyPredictor`` protocol, so both
``stable_baselines3.common.evaluation.evaluate_policy`` and
:func:`budgetgym.agents.evaluate` accept it:

* ``predict(observation, state=None, episode_start=None, deterministic=True) -> (action, state)``
* ``update(observation, action, reward, next_observation, info)`` — online learning from one
  step (a no-op for fixed policies),
* ``reset(seed=None)`` — the start of a new campaign (forget what was learned online),
* ``save(path)`` / ``load(path, env)`` and a ``name``.

``deterministic`` defaults to ``True`` where SB3's ``PolicyPredictor`` says ``False``, on
purpose: the callers that evaluate pass it explicitly (:func:`budgetgym.agents.evaluate`, and
SB3's ``evaluate_policy``, whose own default is ``True``), and a bare ``agent.predict(obs)``
should give the policy's action to play (PPO's mean action, not a random draw from its action
distribution). Bandits, greedy and model-based Thompson sampling explore as part of their online
policy, so the flag does not change them (see each module).

Agents are built from a name and a dict of parameters by :func:`make_agent`;
each agent class declares a pydantic ``Params`` model (``extra="forbid"``), so
unknown or invalid parameters are rejected with a one-line
:class:`~budgetgym.envs.errors.BudgetGymError`.

What an agent knows. An agent is built from a :class:`~budgetgym.envs.brief.CampaignBrief`
(the campaign's public facts, which also define the action and observation spaces) and its
parameters — never from the environment or the scenario, whose true parameters it must not
see. The one exception says so in its name: an agent class with ``sees_true_parameters =
True`` (``oracle``) also receives the scenario, explicitly. :func:`make_agent` accepts an
environment, a scenario or a scenario family (a scenario is a family of one) for convenience and
hands the agent only the brief.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any, ClassVar, Generic, Protocol, TypeVar, cast, runtime_checkable

import gymnasium as gym
import numpy as np
from pydantic import ValidationError

from budgetgym.envs.allocation import pacing_spend, spend_to_pacing_action
from budgetgym.envs.brief import CampaignBrief
from budgetgym.envs.channel_env import ChannelBudgetEnv
from budgetgym.envs.errors import BudgetGymError, StrictModel, unknown, validation_error
from budgetgym.envs.family import load_family
from budgetgym.envs.io import atomic_write_text, json_default
from budgetgym.envs.scenario import Scenario
from budgetgym.envs.scenario_family import ScenarioFamily

__all__ = [
    "Agent",
    "AgentParams",
    "AgentSource",
    "BaseAgent",
    "agent_class",
    "brief_of",
    "list_agents",
    "load_agent",
    "make_agent",
    "register_agent",
]


@runtime_checkable
class Agent(Protocol):
    """What the evaluator and SB3's ``evaluate_policy`` need from a policy."""

    name: str

    def predict(
        self,
        observation: np.ndarray,
        state: Any = None,
        episode_start: np.ndarray | None = None,
        deterministic: bool = True,
    ) -> tuple[np.ndarray, Any]: ...

    def update(
        self, observation: np.ndarray, action: np.ndarray, reward: float, next_observation: np.ndarray, info: dict
    ) -> None: ...

    def reset(self, seed: int | None = None) -> None: ...

    def save(self, path: str | Path) -> None: ...


class AgentParams(StrictModel):
    """Base of every agent's parameter model: unknown keys, NaN and infinities are errors."""


P = TypeVar("P", bound=AgentParams)

_REGISTRY: dict[str, type[BaseAgent[Any]]] = {}
AgentClass = TypeVar("AgentClass", bound="type[BaseAgent[Any]]")


def register_agent(name: str) -> Callable[[AgentClass], AgentClass]:
    """Class decorator: make an agent class available to :func:`make_agent` under ``name``."""

    def wrap(cls: AgentClass) -> AgentClass:
        cls.registry_name = name
        _REGISTRY[name] = cls
        return cls

    return wrap


def list_agents() -> list[str]:
    """Registry names, sorted."""
    _import_builtin_agents()
    return sorted(_REGISTRY)


def agent_class(name: str) -> type[BaseAgent[Any]]:
    """The agent class registered as ``name`` (e.g. to ask whether it ``sees_true_parameters``).

    Raises
    ------
    BudgetGymError
        Unknown agent name (with the closest registered one).
    """
    _import_builtin_agents()
    if name not in _REGISTRY:
        raise BudgetGymError(unknown("agent", name, _REGISTRY))
    return _REGISTRY[name]


def _import_builtin_agents() -> None:
    # Importing the package registers every built-in agent module.
    import budgetgym.agents  # noqa: F401


def unwrap_env(env: gym.Env | ChannelBudgetEnv) -> ChannelBudgetEnv:
    base = getattr(env, "unwrapped", env)
    if not isinstance(base, ChannelBudgetEnv):
        raise BudgetGymError(f"env: expected a budgetgym ChannelBudgetEnv, got {type(base).__name__}")
    return base


#: What an agent can be built for: its brief, or (convenience) an environment, a scenario or a family, or
#: a built-in name or YAML path of either (as :func:`~budgetgym.agents.evaluation.evaluate` takes).
AgentSource = CampaignBrief | ChannelBudgetEnv | gym.Env | Scenario | ScenarioFamily | str | Path


def _brief_and_scenario(source: AgentSource) -> tuple[CampaignBrief, Scenario | None]:
    if isinstance(source, CampaignBrief):
        return source, None
    if isinstance(source, (str, Path)):  # a name or path: a family (a plain scenario is a family of one)
        source = load_family(source)
    if isinstance(source, Scenario):
        return CampaignBrief.from_scenario(source), source
    if isinstance(source, ScenarioFamily):
        # one brief for every draw; true parameters only for a family of one (a plain scenario)
        return source.brief, None if source.varies else source.nominal()
    if not isinstance(source, (gym.Env, ChannelBudgetEnv)):
        raise BudgetGymError(
            "agent source: expected a CampaignBrief, a budgetgym environment, a Scenario, a ScenarioFamily, or a "
            f"scenario or family name or YAML path, got {type(source).__name__}"
        )
    env = unwrap_env(source)
    # an environment of a varying family plays another draw each episode: no one set of true parameters
    return env.brief, None if env.family.varies else env.scenario


def brief_of(source: AgentSource) -> CampaignBrief:
    """The campaign brief of a brief, an environment, a scenario or a scenario family (or its name or path)."""
    return _brief_and_scenario(source)[0]


def make_agent(name: str, source: AgentSource, **params: Any) -> BaseAgent:
    """Build a registered agent with validated ``params``.

    Parameters
    ----------
    name : registry name (:func:`list_agents`).
    source : the campaign's :class:`~budgetgym.envs.brief.CampaignBrief`, or an environment, a
        scenario or a :class:`~budgetgym.envs.family.ScenarioFamily` (its brief, the same for every
        draw), or a built-in name or YAML path of a scenario or family, from which only the brief is
        passed on — except to an agent that
        ``sees_true_parameters`` (the oracle), which also gets the scenario (a family's only when it
        is a family of one: a family that varies has no one set of true parameters).
    params : the agent's parameters (its ``Params`` model).

    Raises
    ------
    BudgetGymError
        Unknown agent name, invalid parameters (one line naming the field), or an oracle asked
        for with only a brief or a family that varies.
    """
    cls = agent_class(name)
    try:
        parsed = cls.Params.model_validate(params)
    except ValidationError as err:
        raise validation_error(err, f"agent '{name}' parameters", cls.Params) from None
    brief, scenario = _brief_and_scenario(source)
    if cls.sees_true_parameters:
        if scenario is None:
            given = ("a brief" if isinstance(source, CampaignBrief) else "a family that varies"
                     if isinstance(source, (ScenarioFamily, str, Path)) else "the environment of a family that varies")
            raise BudgetGymError(
                f"agent '{name}' plays with the true parameters: build it from an environment or a "
                f"scenario, not from {given}"
            )
        return cast(Any, cls)(brief, parsed, scenario=scenario)  # only such classes take a scenario
    return cls(brief, parsed)


class BaseAgent(Generic[P]):
    """Common plumbing: the brief, the spaces, an RNG, typed parameters, JSON save/load.

    Subclasses set ``Params`` (a pydantic model; ``BaseAgent[MyParams]`` types ``self.params``),
    implement :meth:`act` (one observation to one action) and, when they learn online,
    :meth:`update`, :meth:`reset` and the ``state_dict``/``load_state_dict`` pair that
    :meth:`save`/:meth:`load` use. A subclass that needs the true parameters sets
    ``sees_true_parameters = True`` and accepts a ``scenario`` keyword.
    """

    Params: ClassVar[type[AgentParams]] = AgentParams
    registry_name: ClassVar[str] = "base"
    sees_true_parameters: ClassVar[bool] = False

    def __init__(self, brief: CampaignBrief, params: P):
        if not isinstance(brief, CampaignBrief):
            raise BudgetGymError(
                f"{type(self).__name__}: expected a CampaignBrief, got {type(brief).__name__} "
                f"(use make_agent(name, env_or_scenario) to build from an environment)"
            )
        self.brief = brief
        self.params: P = params
        self.n_channels = brief.n_channels
        self.agent_pacing = brief.agent_pacing
        self.logit_scale = brief.logit_scale
        self.action_space = brief.action_space()
        self.observation_space = brief.observation_space()
        self.layout = brief.observation_layout
        self.rng = np.random.default_rng()
        self.name = self.registry_name

    # -- the PolicyPredictor protocol ------------------------------------------------
    def predict(
        self,
        observation: np.ndarray,
        state: Any = None,
        episode_start: np.ndarray | None = None,
        deterministic: bool = True,
    ) -> tuple[np.ndarray, Any]:
        """The action for one observation ``[n_obs]``, or ``[1, n_obs]`` as SB3 passes one environment's.

        ``episode_start`` true (SB3's convention, e.g. in ``evaluate_policy``) calls
        :meth:`start_episode` first. The agent follows one campaign (its step, spend and what it
        learnt), so a batch of several environments' observations is an error: each would advance
        the same campaign's step and budget (one agent per environment, or
        :func:`~budgetgym.agents.evaluation.evaluate`, which batches the agents that can be batched).
        """
        if episode_start is not None and bool(np.any(episode_start)):
            self.start_episode()
        obs = np.asarray(observation, dtype=np.float32)
        if obs.ndim == 1:
            return self.act(obs, deterministic).astype(np.float32), state
        if obs.ndim != 2 or len(obs) != 1:
            raise BudgetGymError(
                f"agent '{self.registry_name}': predict takes one campaign's observation, [n_obs] or [1, n_obs]; "
                f"got shape {obs.shape} (one agent per environment, or budgetgym.agents.evaluation.evaluate)"
            )
        return self.act(obs[0], deterministic)[None].astype(np.float32), state

    def act(self, observation: np.ndarray, deterministic: bool = True) -> np.ndarray:
        raise NotImplementedError

    def pace(self, want: float, remaining: float) -> tuple[float | None, float]:
        r"""The pacing entry that asks to spend ``want`` this step, and the total the environment will spend.

        Under ``budget.pacing: agent`` the entry is :math:`u` =
        :func:`~budgetgym.envs.allocation.spend_to_pacing_action` of ``want`` (rounded to float32, as the
        action is played) and the total :math:`(u + 1)/2 \cdot \min(R, \text{step\_cap})`
        (:func:`~budgetgym.envs.allocation.pacing_spend`, currency; :math:`R` = ``remaining``, the budget
        left); under even pacing there is no entry (``None``) and the total is :math:`\min(B/T, R)`.
        A split chosen for the step is best chosen for this total: with concave curves the best split
        depends on how much is spent.
        """
        if not self.agent_pacing:
            return None, min(self.brief.step_budget, remaining)
        u = float(np.float32(spend_to_pacing_action(want, remaining, self.brief.step_cap)))
        return u, pacing_spend(u, remaining, self.brief.step_cap)

    def start_episode(self) -> None:
        """A new episode begins (per-episode counters; learned state is kept). Default: nothing."""

    def update(
        self, observation: np.ndarray, action: np.ndarray, reward: float, next_observation: np.ndarray, info: dict
    ) -> None:
        """Learn from one step (fixed policies ignore it)."""

    def reset(self, seed: int | None = None) -> None:
        """Start a new campaign: reseed and forget what was learned online."""
        self.rng = np.random.default_rng(seed)

    # -- persistence -------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        """Learned state as JSON-serialisable values (override in learners)."""
        return {}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore what :meth:`state_dict` returned."""

    def save(self, path: str | Path) -> None:
        """Write ``{"agent", "params", "brief", "state"}`` as JSON, atomically."""
        path = Path(path)
        payload = {
            "agent": self.registry_name,
            "params": self.params.model_dump(mode="json"),
            "brief": self.brief.to_dict(),
            "state": self.state_dict(),
        }
        atomic_write_text(path, json.dumps(payload, indent=2, default=json_default))

    @classmethod
    def load(cls, path: str | Path, source: AgentSource) -> BaseAgent:
        return load_agent(path, source)


def load_agent(path: str | Path, source: AgentSource) -> BaseAgent:
    """Rebuild a saved agent for ``source`` (a brief, an environment, a scenario or a family, as for
    :func:`make_agent`): a JSON file written by :meth:`BaseAgent.save`, or a folder-style save
    (PPO: ``agent.json`` with ``"layout": "folder"`` beside the weights) — the folder itself or
    its ``agent.json``."""
    env = source
    path = Path(path)
    folder = path if path.is_dir() else None
    if folder is None:
        payload = _read_json(path, "agent file")
        if payload.get("layout") == "folder":
            folder = path.parent  # the metadata file of a folder-style save (weights beside it)
        else:
            try:
                name, params, state = payload["agent"], payload["params"], payload["state"]
            except (KeyError, TypeError) as err:
                raise BudgetGymError(f"agent file '{path}': not a saved budgetgym agent (missing {err})") from None
            agent = make_agent(name, env, **params)
            saved = payload.get("brief") or payload.get("scenario") or {}  # "scenario": files before 0.2
            saved_channels = [c.get("name") for c in saved.get("channels", [])]
            if saved_channels and saved_channels != agent.brief.channel_names:
                raise BudgetGymError(
                    f"agent file '{path}': saved for channels {saved_channels}, but the campaign has "
                    f"{agent.brief.channel_names}"
                )
            try:
                agent.load_state_dict(state)
            except BudgetGymError as err:  # the agent's own check of its state: say which file
                raise BudgetGymError(f"agent file '{path}': {err}") from None
            except (KeyError, ValueError, TypeError, AttributeError, IndexError) as err:  # hand-edited, corrupt
                raise BudgetGymError(
                    f"agent file '{path}': its state does not fit agent '{name}' ({type(err).__name__}: {err})"
                ) from None
            return agent
    meta = folder / "agent.json"
    if not meta.is_file():
        raise BudgetGymError(f"agent folder '{folder}': no agent.json (not a saved budgetgym agent)")
    try:
        name = _read_json(meta, "agent file")["agent"]
    except (KeyError, TypeError):
        raise BudgetGymError(f"agent file '{meta}': no 'agent' name") from None
    return make_agent(name, env, path=str(folder))


def _read_json(path: Path, what: str) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise BudgetGymError(f"{what} '{path}' not found") from None
    except (OSError, ValueError) as err:
        raise BudgetGymError(f"{what} '{path}': not readable JSON ({err})") from None
    if not isinstance(data, dict):
        raise BudgetGymError(f"{what} '{path}': expected a JSON object")
    return data
