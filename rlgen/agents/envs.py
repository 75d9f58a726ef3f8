"""Making and checking Gymnasium environments for the agents (clear errors for bad ids/spaces)."""

from __future__ import annotations

import contextvars
import dataclasses
import difflib
import importlib
import inspect
import math
import os
import sys
import warnings
from typing import Any

import gymnasium as gym
import numpy as np

from rlgen.errors import RlgenWarning, UsageError, option

# An episode this long is taken to never end (an env with no TimeLimit that is never
# terminated): REINFORCE, evaluation and an episode budget wait for episodes to end, and
# would otherwise hang (REINFORCE with its memory growing). Read at each call, so tests can
# lower it.
MAX_EPISODE_STEPS = 100_000


def env_name(env: Any) -> str:
    """The registered id of ``env``, else its class name."""
    spec = getattr(env, "spec", None)
    return spec.id if spec is not None else type(getattr(env, "unwrapped", env)).__name__


CHECK_ENV = "gymnasium.utils.env_checker.check_env(env) checks the whole API"


def _observation(env: Any, obs: Any, size: int, call: str) -> np.ndarray:
    try:
        flat = np.asarray(obs, np.float32).reshape(-1)
    except (TypeError, ValueError):
        flat = None
    if flat is None or flat.size != size:
        got = f"{flat.size} values" if flat is not None else f"a {type(obs).__name__}"
        raise UsageError(
            f"{env_name(env)}.{call} returned an observation of {got}, but its "
            f"observation_space {env.observation_space} holds {size}; make them agree "
            f"({CHECK_ENV})"
        )
    if not np.isfinite(flat).all():  # else a NaN loss, blamed on the rewards, steps later
        raise UsageError(
            f"{env_name(env)}.{call} returned an observation with NaN or inf "
            f"({flat.tolist()[:8]}); an agent cannot learn from it: fix the env"
        )
    return flat


def reset(env: Any, size: int, seed: int | None = None) -> np.ndarray:
    """``env.reset(seed=seed)``'s observation, flat float32 of ``size`` values; a one-line
    UsageError for an env that does not keep gymnasium's API (the old gym's bare
    observation, an observation of another size)."""
    out = env.reset(seed=seed)
    if not (isinstance(out, tuple) and len(out) == 2 and isinstance(out[1], dict)):
        raise UsageError(
            f"{env_name(env)}.reset() returned {_shape_of(out)}, not the pair (observation, "
            f"info) of gymnasium's Env.reset: end it with 'return obs, {{}}' ({CHECK_ENV})"
        )
    return _observation(env, out[0], size, "reset()")


def step(env: Any, action: int, size: int) -> tuple[np.ndarray, float, bool, bool, float | None]:
    """``env.step(action)`` as (flat float32 observation, reward, terminated, truncated,
    recorded return), with the same one-line errors as :func:`reset` (the old gym's four
    values among them). The recorded return is the episode's, at its end, as a
    ``RecordEpisodeStatistics`` wrapper counted it (``info["episode"]["r"]``), else None:
    under ``NormalizeReward`` or ``TransformReward`` inside it, the env's own return, which
    rlgen reports then, as Stable-Baselines3 reports its Monitor's."""
    out = env.step(action)
    if not (isinstance(out, tuple) and len(out) == 5):
        raise UsageError(
            f"{env_name(env)}.step() returned {_shape_of(out)}, not the five (observation, "
            "reward, terminated, truncated, info) of gymnasium's Env.step: the old gym's "
            "done is now terminated (the task ended) and truncated (a time limit cut it) "
            f"({CHECK_ENV})"
        )
    obs, reward, terminated, truncated, info = out
    try:
        reward = float(reward)
    except (TypeError, ValueError):
        reward = None
    if reward is None or not math.isfinite(reward):
        raise UsageError(
            f"{env_name(env)}.step() returned a reward of {out[1]!r}; it must be one finite number"
        )
    ended = bool(terminated) or bool(truncated)
    recorded = _recorded_return(info) if ended else None
    return (
        _observation(env, obs, size, "step()"),
        reward,
        bool(terminated),
        bool(truncated),
        recorded,
    )


def _recorded_return(info: Any) -> float | None:
    """``info["episode"]["r"]``, a RecordEpisodeStatistics wrapper's return, if finite."""
    try:
        recorded = float(info["episode"]["r"])
    except (KeyError, TypeError, ValueError, IndexError):
        return None
    return recorded if math.isfinite(recorded) else None


def _shape_of(out: Any) -> str:
    if isinstance(out, tuple):
        return f"{len(out)} values"
    return f"one {type(out).__name__}"


def episode_never_ended(env: Any) -> UsageError:
    """The error for an episode of ``env`` that passed :data:`MAX_EPISODE_STEPS` steps."""
    spec = getattr(env, "spec", None)
    name = env_name(env)
    limit, layer = getattr(spec, "max_episode_steps", None), env
    while isinstance(layer, gym.Wrapper):  # a TimeLimit the user wrapped it in
        if isinstance(layer, gym.wrappers.TimeLimit):
            limit = layer._max_episode_steps
        layer = layer.env
    fix = (
        f"its time limit of {limit:,} steps is past what rlgen waits for; give it one of at "
        f"most {MAX_EPISODE_STEPS:,}"
        if limit
        else "wrap the env in gymnasium.wrappers.TimeLimit(env, max_episode_steps=N)"
    )
    return UsageError(
        f"an episode of {name} never ended (neither terminated nor truncated in "
        f"{MAX_EPISODE_STEPS} steps); {fix}"
    )


def registered_ids() -> list[str]:
    return sorted(gym.envs.registry.keys())


def import_env_module(module: str) -> None:
    """Import the ``module`` of a ``"module:EnvId"``, as ``python -m`` would find it: the
    ``rlgen`` command, a console script, does not put the current folder on the path."""
    try:
        importlib.import_module(module)
        return
    except ModuleNotFoundError as err:
        here = os.getcwd()
        if err.name != module.split(".")[0] or here in sys.path or "" in sys.path:
            raise
    sys.path.append(here)  # last: a local file never shadows an installed package
    importlib.import_module(module)


def check_module_id(env_id: str) -> None:
    """Import the module of a ``"module:EnvId"`` and check that it registered the env; a
    UsageError naming what went wrong otherwise."""
    module, _, name = env_id.rpartition(":")
    try:
        import_env_module(module)
    except Exception as err:  # not found, or its own code failed on import
        raise UsageError(
            f"environment {env_id}: cannot import {module!r} ({type(err).__name__}: "
            f"{err}); give a module in the current folder or on PYTHONPATH that "
            "registers the env (gymnasium.register)"
        ) from None
    if name not in gym.envs.registry:
        raise UsageError(
            f"environment {env_id}: importing {module!r} registered no env {name!r}; "
            f"its gymnasium.register(id={name!r}, ...) must run on import"
        )


def is_registered(env_id: str) -> bool:
    """Whether gymnasium knows ``env_id`` (a ``"module:EnvId"`` imports ``module`` first)."""
    if ":" not in env_id:
        return env_id in gym.envs.registry
    try:
        check_module_id(env_id)
    except UsageError:  # a module that fails to import, or registers nothing of that name
        return False
    return True


def make_env(env_id: str, render_mode: str | None = None) -> gym.Env:
    """``gymnasium.make(env_id)``; an unknown id names the closest registered ids. As in
    gymnasium, ``"module:EnvId"`` imports ``module`` first (where a custom env registers)."""
    if ":" in env_id:
        check_module_id(env_id)
    elif env_id not in gym.envs.registry:
        ids = registered_ids()
        close = difflib.get_close_matches(env_id, ids, n=3, cutoff=0.5)
        if not close:
            lowered = {i.lower(): i for i in ids}
            close = [lowered[m] for m in difflib.get_close_matches(env_id.lower(), lowered, n=3)]
        hint = f"did you mean {', '.join(close)}?" if close else "e.g. CartPole-v1"
        if env_id.startswith("ALE/"):  # Atari: pixels, from another package
            hint = (
                "Atari envs come with pip install ale-py (and import ale_py), and their "
                "pictures suit a convolutional network, which rlgen's agents do not have"
            )
        raise UsageError(
            f"unknown Gymnasium environment {env_id!r}; {hint} "
            "(python -c 'import gymnasium; gymnasium.pprint_registry()' lists them all)"
        )
    try:
        # render_mode only when asked: a custom env's __init__ may not take the argument
        return gym.make(env_id, **({"render_mode": render_mode} if render_mode else {}))
    except gym.error.DependencyNotInstalled as err:
        first = str(err).splitlines()[0] if str(err) else type(err).__name__
        raise UsageError(f"environment {env_id} needs an extra package: {first}") from None
    except Exception as err:  # the env's own constructor failed
        raise UsageError(
            f"environment {env_id} could not be made ({type(err).__name__}: {err})"
        ) from None


def env_source(env_or_id: Any) -> str | gym.envs.registration.EnvSpec | None:
    """What copies of an env are made from (for evaluation, side-by-side copies, a saved
    agent): an id as given, else the instance's spec when gymnasium can rebuild it with the
    same settings and wrappers (``max_episode_steps``, make kwargs, wrappers that record their
    arguments), else None (a custom env without a spec, or a wrapper gymnasium cannot redo)."""
    if isinstance(env_or_id, str):
        return env_or_id
    spec = getattr(env_or_id, "spec", None)
    if spec is None or any(w.kwargs is None for w in spec.additional_wrappers):
        return None
    if spec.kwargs.get("render_mode") == "human":  # copies draw no windows
        kwargs = {k: v for k, v in spec.kwargs.items() if k != "render_mode"}
        spec = dataclasses.replace(spec, kwargs=kwargs)
    return spec


def make_copy(source: Any) -> gym.Env:
    """A fresh env from an :func:`env_source`: an id, or a spec with its wrappers (and its
    off-screen render mode, which a wrapper such as RenderCollection needs)."""
    if isinstance(source, str):
        return make_env(source)
    try:
        return gym.make(source)
    except Exception as err:  # a wrapper that cannot be rebuilt this way, a missing package
        raise UsageError(
            f"gymnasium cannot remake {source.id} with its wrappers ({type(err).__name__}: "
            f"{err}); pass the env to use instead"
        ) from None


def spec_json(source: Any) -> str | None:
    """The spec of ``source`` as JSON for agent.json when it holds more than the registered
    id (a ``max_episode_steps``, make kwargs, wrappers); None when the id alone remakes it.
    ValueError when it holds more but cannot be written (a lambda, a callable entry point)."""
    if isinstance(source, str):
        return None
    registered = gym.envs.registry.get(source.id)
    same = (
        registered is not None
        and not source.additional_wrappers
        and all(
            getattr(source, f) == getattr(registered, f) for f in ("max_episode_steps", "kwargs")
        )
    )
    if same:
        return None
    try:
        return source.to_json()
    except (TypeError, ValueError) as err:  # a lambda in TransformReward's kwargs, ...
        raise ValueError(str(err)) from None


def resolve_env(env_or_id: Any) -> tuple[gym.Env, str | None]:
    """An env instance and its id (None for an unregistered custom env)."""
    if isinstance(env_or_id, str):
        if env_or_id in SB3_POLICIES:  # DQN("MlpPolicy", env), as Stable-Baselines3 takes it
            raise UsageError(
                f"rlgen's agents take the env first and have one policy, an MLP (its widths: "
                f"hidden_sizes); drop {env_or_id!r}: DQN('CartPole-v1', ...)"
            )
        return make_env(env_or_id), env_or_id
    if isinstance(env_or_id, gym.Env):
        spec = getattr(env_or_id, "spec", None)
        return env_or_id, (spec.id if spec is not None else None)
    if isinstance(env_or_id, gym.vector.VectorEnv):
        raise UsageError(
            f"got a vector env ({type(env_or_id).__name__}); give one env or its id, and "
            f"{option('--n-envs K', 'n_envs=K in the config')} for K copies stepped side by side"
        )
    raise UsageError(
        f"expected a Gymnasium env id or gymnasium.Env, got {type(env_or_id).__name__}"
    )


SB3_POLICIES = ("MlpPolicy", "CnnPolicy", "MultiInputPolicy")


LOADING = contextvars.ContextVar("rlgen_agent_loading", default=False)  # load() is building
IMAGE_LIKE = 256  # observations of 2 or more axes and this many values: a picture, say


def check_spaces(env: gym.Env, env_id: str | None, algorithm: str) -> tuple[int, int]:
    """(flattened observation size, number of actions); other spaces get a clear UsageError."""
    name = env_id or type(env).__name__
    act, obs = env.action_space, env.observation_space
    if not isinstance(act, gym.spaces.Discrete):
        raise UsageError(
            f"{algorithm} needs a Discrete action space but {name} has {act}; "
            "pick an environment with discrete actions such as CartPole-v1 or Acrobot-v1"
        )
    if int(act.start) != 0:
        raise UsageError(
            f"{algorithm} numbers its actions 0 to n-1 but {name} has {act} (starting at "
            f"{int(act.start)}); wrap it in a gymnasium.ActionWrapper that adds {int(act.start)}"
        )
    if not isinstance(obs, gym.spaces.Box):
        raise UsageError(
            f"{algorithm} needs a Box (vector) observation space but {name} has "
            f"{type(obs).__name__}; "
            + option(
                "the command line cannot wrap it: register it wrapped in "
                "gymnasium.wrappers.FlattenObservation (one-hot for Discrete) in a module of "
                "yours and give --env MODULE:ID, or train it from Python",
                "flatten it with gymnasium.wrappers.FlattenObservation (one-hot for Discrete)",
            )
        )
    _check_reset_takes_a_seed(env, name)
    return int(np.prod(obs.shape)), int(act.n)


def _check_reset_takes_a_seed(env: gym.Env, name: str) -> None:
    """Seeds repeat runs only through ``reset(seed=...)``; the old gym's ``reset(self)``
    would be a TypeError deep inside training."""
    try:
        params = inspect.signature(env.unwrapped.reset).parameters.values()
    except (TypeError, ValueError):  # a builtin or C method: nothing to read
        return
    if not any(p.name == "seed" or p.kind is p.VAR_KEYWORD for p in params):
        raise UsageError(
            f"{name}.reset takes no seed, as gymnasium's Env.reset does: define "
            "'def reset(self, seed=None, options=None)' and call "
            f"'super().reset(seed=seed)' first ({CHECK_ENV})"
        )


def warn_if_pictures(env: gym.Env, env_id: str | None, algorithm: str, stacklevel: int) -> None:
    """A warning when the observations look like pictures (2+ axes, IMAGE_LIKE+ values)."""
    shape = env.observation_space.shape
    size = int(np.prod(shape))
    if len(shape) >= 2 and size >= IMAGE_LIKE:
        warnings.warn(
            f"{env_id or type(env).__name__}'s observations have shape {shape}: {algorithm} "
            f"flattens them into {size} inputs of an MLP (rlgen's agents have no convolutional "
            "network), which learns slowly from images; give it the env's state variables if "
            "it has them",
            RlgenWarning,
            stacklevel=stacklevel + 1,
        )


def check_env(env_id: str, algorithm: str) -> None:
    """Raise UsageError unless ``env_id`` exists and has spaces ``algorithm`` can handle."""
    env = make_env(env_id)
    try:
        check_spaces(env, env_id, algorithm)
    finally:
        env.close()
