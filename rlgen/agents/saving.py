"""The ``agent.json`` beside an agent's ``.keras`` files: written by ``save``, read by ``load``.

Shared by every agent so that DQN and REINFORCE save and load their metadata one way.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path
from typing import Any

from rlgen import config as cfgmod
from rlgen.agents.envs import LOADING, is_registered, make_copy, make_env, spec_json
from rlgen.errors import RlgenWarning, UsageError, option
from rlgen.runs import atomic_path, read_json

AGENT_FILE = "agent.json"
MODEL_FILE = "model.keras"  # the network that acts: Q-network or policy


def write_agent_file(agent: Any, path: str | Path) -> Path:
    """Write what :func:`agent_from_file` needs to rebuild ``agent`` (atomically)."""
    meta = {
        "algorithm": agent.algorithm,
        "env_id": agent.env_id,
        "seed": agent.seed,
        "obs_dim": agent.obs_dim,
        "n_actions": agent.n_actions,
        "obs_shape": list(agent.obs_shape),
        "num_timesteps": agent.num_timesteps,
        "num_episodes": agent.num_episodes,
        "config": cfgmod.to_dict(agent.config),
    }
    try:
        exact = agent.env is None or agent.env_source is not None
        spec = spec_json(agent.env_source) if agent.env_source is not None else None
    except ValueError:  # more than the id, but not writable as JSON
        exact, spec = False, None
    if spec is not None:  # max_episode_steps, make kwargs or wrappers beyond the id
        meta["env_spec"] = spec
    if not exact and agent.env_id is not None:  # load() would remake the bare registered env
        meta["env_incomplete"] = True
        warnings.warn(
            f"{path}: the env's wrappers or settings cannot be recorded (a wrapper that does "
            "not record its arguments, a lambda); load the agent with load(path, env=...) to "
            "use the same env",
            RlgenWarning,
            stacklevel=3,
        )
    meta.update(agent.agent_file_fields())
    with atomic_path(Path(path) / AGENT_FILE) as tmp:
        tmp.write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")
    return Path(path)


def agent_from_file(cls: type, config_cls: type, path: str | Path, env: Any = None) -> Any:
    """A fresh, untrained ``cls`` agent shaped as ``path/agent.json`` says, counters restored.

    The env is remade from the saved id unless ``env`` is given; the caller loads weights.
    """
    path = Path(path)
    meta = read_json(path / AGENT_FILE, what="agent file")
    if meta.get("algorithm") != cls.algorithm:
        raise UsageError(
            f"{path} holds a {meta.get('algorithm', 'unknown')} agent, not {cls.algorithm}"
        )
    try:
        config = cfgmod.build(config_cls, meta["config"], where=str(path / AGENT_FILE))
        spaces = (int(meta["obs_dim"]), int(meta["n_actions"]))
    except UsageError:  # the config's own message: an unknown key, a value out of range
        raise
    except (KeyError, TypeError, ValueError):
        raise UsageError(f"agent file {path / AGENT_FILE} is corrupt (fields missing)") from None
    if env is None:
        env = _saved_env(meta)
    loading = LOADING.set(True)
    try:
        agent = cls(env, config, int(meta.get("seed", 0)), spaces=spaces)
    finally:
        LOADING.reset(loading)
    if (agent.obs_dim, agent.n_actions) != spaces:
        given = agent.env_id or type(agent.env.unwrapped).__name__
        raise UsageError(
            f"{path} holds an agent of {meta.get('env_id') or 'a custom env'} "
            f"({spaces[0]} observation values, {spaces[1]} actions), but {given} has "
            f"{agent.obs_dim} and {agent.n_actions}; load it with the env it was trained on"
        )
    saved_id = meta.get("env_id")
    if isinstance(saved_id, str) and saved_id.rpartition(":")[2] == agent.env_id:
        agent.env_id = saved_id  # "module:EnvId" kept: the env alone knows only EnvId
    if agent.env is None and meta.get("obs_shape"):  # acting without an env: (2, 2) is one
        agent.obs_shape = tuple(int(n) for n in meta["obs_shape"])
    agent.num_timesteps = int(meta.get("num_timesteps", 0))
    agent.num_episodes = int(meta.get("num_episodes", 0))
    agent.restore_agent_file_fields(meta)
    return agent


def _saved_env(meta: dict[str, Any]) -> Any:
    """The env an agent.json names: its saved spec (wrappers, max_episode_steps), else its
    registered id, else None (a custom env: the agent acts but cannot train); a warning when
    an env it names cannot be remade here."""
    import gymnasium as gym

    env_id = meta.get("env_id")
    registered = env_id is not None and is_registered(env_id)
    if meta.get("env_spec"):
        try:
            return make_copy(gym.envs.registration.EnvSpec.from_json(meta["env_spec"]))
        except Exception as err:  # a wrapper or entry point gone from this install
            if registered:
                warnings.warn(
                    f"the saved env ({meta['env_spec'][:60]}...) cannot be remade here "
                    f"({err}); using plain {env_id}: pass env= to load to use your own",
                    RlgenWarning,
                    stacklevel=3,
                )
    if env_id is not None and not registered:  # gym.register-ed where it was saved
        if ":" in env_id:  # its module is not importable from here
            fix = (
                f"run from the folder that holds {env_id.rpartition(':')[0]!r} or put it on "
                "PYTHONPATH" + option("", ", or pass env= to load")
            )
        else:
            fix = option(
                "rlgen agent eval takes --env MODULE:ENV_ID, gymnasium's id that imports the "
                "module registering it",
                "register it (gymnasium.register) before loading, or pass env= to load",
            )
        warnings.warn(
            f"{env_id} is not registered in this process, so the agent is loaded without an "
            f"env (it acts, but cannot train or evaluate on its own); {fix}",
            RlgenWarning,
            stacklevel=3,
        )
        return None
    if registered:
        if meta.get("env_incomplete"):
            warnings.warn(
                f"{meta['env_id']} is remade without the wrappers or settings it was trained "
                "with (they could not be recorded); pass env= to load to use them",
                RlgenWarning,
                stacklevel=3,
            )
        return make_env(meta["env_id"])
    return None
