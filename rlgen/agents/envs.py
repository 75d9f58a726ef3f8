"""Making and checking Gymnasium environments for the agents (clear errors for bad ids/spaces)."""

from __future__ import annotations

import difflib
from typing import Any

import gymnasium as gym
import numpy as np

from rlgen.errors import UsageError


def registered_ids() -> list[str]:
    return sorted(gym.envs.registry.keys())


def make_env(env_id: str, render_mode: str | None = None) -> gym.Env:
    """``gymnasium.make(env_id)``; an unknown id names the closest registered ids."""
    if env_id not in gym.envs.registry:
        ids = registered_ids()
        close = difflib.get_close_matches(env_id, ids, n=3, cutoff=0.5)
        if not close:
            lowered = {i.lower(): i for i in ids}
            close = [lowered[m] for m in difflib.get_close_matches(env_id.lower(), lowered, n=3)]
        hint = f"did you mean {', '.join(close)}?" if close else "e.g. CartPole-v1"
        raise UsageError(
            f"unknown Gymnasium environment {env_id!r}; {hint} "
            "(python -c 'import gymnasium; gymnasium.pprint_registry()' lists them all)"
        )
    try:
        return gym.make(env_id, render_mode=render_mode)
    except gym.error.DependencyNotInstalled as err:
        first = str(err).splitlines()[0] if str(err) else type(err).__name__
        raise UsageError(f"environment {env_id} needs an extra package: {first}") from None


def resolve_env(env_or_id: Any) -> tuple[gym.Env, str | None]:
    """An env instance and its id (None for an unregistered custom env)."""
    if isinstance(env_or_id, str):
        return make_env(env_or_id), env_or_id
    if isinstance(env_or_id, gym.Env):
        spec = getattr(env_or_id, "spec", None)
        return env_or_id, (spec.id if spec is not None else None)
    raise UsageError(
        f"expected a Gymnasium env id or gymnasium.Env, got {type(env_or_id).__name__}"
    )


def check_spaces(env: gym.Env, env_id: str | None, algorithm: str) -> tuple[int, int]:
    """(flattened observation size, number of actions); other spaces get a clear UsageError."""
    name = env_id or type(env).__name__
    act, obs = env.action_space, env.observation_space
    if not isinstance(act, gym.spaces.Discrete):
        raise UsageError(
            f"{algorithm} needs a Discrete action space but {name} has {act}; "
            "pick an environment with discrete actions such as CartPole-v1 or Acrobot-v1"
        )
    if not isinstance(obs, gym.spaces.Box):
        raise UsageError(
            f"{algorithm} needs a Box (vector) observation space but {name} has "
            f"{type(obs).__name__}; flatten it with gymnasium.wrappers.FlattenObservation"
        )
    return int(np.prod(obs.shape)), int(act.n)


def check_env(env_id: str, algorithm: str) -> None:
    """Raise UsageError unless ``env_id`` exists and has spaces ``algorithm`` can handle."""
    env = make_env(env_id)
    try:
        check_spaces(env, env_id, algorithm)
    finally:
        env.close()
