"""Greedy evaluation of an agent over fresh episodes, run side by side as one batch."""

from __future__ import annotations

import os
from typing import Any

import gymnasium as gym
import numpy as np

from rlgen.agents import envs as _envs
from rlgen.agents.callbacks import one_of
from rlgen.agents.envs import check_spaces, make_copy, make_env, resolve_env
from rlgen.errors import UsageError, check_count, check_seed, option


def episode_returns(
    agent: Any, env_or_id: Any = None, episodes: int = 100, seed: int = 0, batch: int = 100
) -> np.ndarray:
    """The undiscounted return of each of ``episodes`` greedy episodes (a
    ``RecordEpisodeStatistics`` wrapper's, when the env has one: the env's own rewards under
    a reward wrapper).

    With an env id (or, by default, copies of the agent's own env, wrappers and
    ``max_episode_steps`` included), up to ``batch`` copies run in lock-step so one compiled
    forward pass chooses all their actions; episode ``k`` is reset with ``seed + k``.
    A ``gymnasium.Env`` instance given here is evaluated one episode at a time.
    """
    return _episodes(agent, env_or_id, episodes, seed, batch)[0]


def _episodes(
    agent: Any, env_or_id: Any, episodes: int, seed: int, batch: int = 100
) -> tuple[np.ndarray, np.ndarray]:
    """(returns, lengths) of ``episodes`` greedy episodes, as :func:`episode_returns` plays them."""
    episodes = check_count("--episodes", episodes)
    seed = check_seed(seed)
    if not callable(getattr(agent, "act", None)) or not hasattr(agent, "env_source"):
        raise UsageError(  # an AttributeError on 'env_source' before
            f"the first argument is the agent to evaluate, got {type(agent).__name__}; "
            "load one with DQNAgent.load(path) or ReinforceAgent.load(path)"
        )
    env, source = first_env(agent, env_or_id)
    envs = [env]
    try:
        if source is not None:
            envs += [make_copy(source) for _ in range(min(batch, episodes) - 1)]
        return _lock_step(agent, envs, episodes, seed)
    finally:
        if source is not None:  # the copies made here (an env instance given stays open)
            for e in envs:
                e.close()


def _lock_step(
    agent: Any, envs: list[Any], episodes: int, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    returns, episode_lengths = np.zeros(episodes), np.zeros(episodes, dtype=np.int64)
    next_episode = 0
    slots: list[tuple[int, Any]] = []  # (episode index, obs) per running env
    for env in envs:
        slots.append((next_episode, _envs.reset(env, agent.obs_dim, seed=seed + next_episode)))
        next_episode += 1
    lengths, limit = [0] * len(envs), _envs.MAX_EPISODE_STEPS
    active = list(range(len(envs)))
    while active:
        obs = np.stack([slots[i][1] for i in active])
        actions = agent.act(obs, greedy=True)
        actions = np.atleast_1d(actions)
        still = []
        for i, a in zip(active, actions):
            ep, _ = slots[i]
            o, r, term, trunc, recorded = _envs.step(envs[i], int(a), agent.obs_dim)
            returns[ep] += r
            lengths[i] += 1
            if term or trunc:
                if recorded is not None:  # the env's own return, under a reward wrapper
                    returns[ep] = recorded
                episode_lengths[ep] = lengths[i]
                if next_episode < episodes:
                    o = _envs.reset(envs[i], agent.obs_dim, seed=seed + next_episode)
                    slots[i] = (next_episode, o)
                    next_episode += 1
                    lengths[i] = 0
                    still.append(i)
            elif lengths[i] >= limit:
                raise _envs.episode_never_ended(envs[i])
            else:
                slots[i] = (ep, o)
                still.append(i)
        active = still
    return returns, episode_lengths


def first_env(agent: Any, env_or_id: Any = None, training: bool = False) -> tuple[Any, Any]:
    """(an env to evaluate ``agent`` on, checked to fit it; what copies of it are made from,
    or None for an env instance given, which is used alone). By default, a copy of the
    agent's own env, wrappers and ``max_episode_steps`` included.

    The env the agent trains on is refused ``training`` (evaluation's resets would cut its
    episodes); between ``learn`` calls it may be used, and the next ``learn`` starts new
    episodes in it."""
    if env_or_id is None:
        source = agent.env_source  # never the bare id of a wrapped env
        if source is None:
            raise UsageError(
                "this agent's env cannot be remade by gymnasium (no registered spec, or a "
                "wrapper that does not record its arguments); pass a separate instance of the "
                "env to evaluate on: evaluate(agent, eval_env) or EvalCallback(eval_env)"
            )
        env, env_id = make_copy(source), agent.env_id
    else:
        if isinstance(env_or_id, gym.Env) and _trains_on(agent, env_or_id):
            if training:
                raise UsageError(
                    "the env to evaluate on is the one this agent trains on, and evaluation's "
                    "resets would cut its training episodes; pass a separate instance of the env"
                )
            if hasattr(agent, "_obs"):
                agent._obs = None  # its episodes end here: the next learn() resets them
        env, env_id = resolve_env(env_or_id)
        source = None if isinstance(env_or_id, gym.Env) else env_or_id
    try:
        check_fits(agent, env, env_id)  # before any other copy is made
    except UsageError:
        if source is not None:  # made here: closed here
            env.close()
        raise
    return env, source


def _trains_on(agent: Any, env: gym.Env) -> bool:
    """Whether ``env`` (or the env inside its wrappers) is the agent's env or a copy it steps
    side by side: its episodes would be cut by evaluation's resets."""
    own = [getattr(agent, "env", None), *(getattr(agent, "_envs", None) or [])]
    return any(e is not None and e.unwrapped is env.unwrapped for e in own)


def check_fits(agent: Any, env: Any, env_id: str | None) -> None:
    """A UsageError unless ``env``'s observations and actions are the ones ``agent`` was
    built for (an agent of one env evaluated on another fails deep in NumPy otherwise)."""
    size, n = check_spaces(env, env_id, agent.algorithm.upper())
    if (size, n) == (agent.obs_dim, agent.n_actions):
        return
    trained = f" ({agent.env_id})" if agent.env_id else ""
    raise UsageError(
        f"this agent{trained} takes {agent.obs_dim} observation values and "
        f"{agent.n_actions} actions, but {env_id or type(env.unwrapped).__name__} has {size} "
        f"and {n}; evaluate it on the env it was trained on"
    )


def evaluate(
    agent: Any,
    env_or_id: Any = None,
    episodes: int = 100,
    seed: int = 0,
    *,
    n_eval_episodes: int | None = None,
    deterministic: bool = True,
    return_episode_rewards: bool = False,
) -> tuple[float, float] | tuple[list[float], list[int]]:
    """Mean and standard deviation of the greedy return over ``episodes`` fresh episodes
    (``n_eval_episodes``, as Stable-Baselines3's ``evaluate_policy`` says, is the same).
    ``return_episode_rewards=True`` gives, as there, each episode's return and length instead.
    """
    episodes = one_of("episodes", episodes, 100, "n_eval_episodes", n_eval_episodes)
    if not deterministic:
        raise UsageError("evaluate() plays the greedy policy only; drop deterministic=False")
    returns, lengths = _episodes(agent, env_or_id, episodes, seed)
    if return_episode_rewards:
        return [float(r) for r in returns], [int(n) for n in lengths]
    return float(np.mean(returns)), float(np.std(returns))


def rendering_env(env_id: str) -> Any:
    """``env_id`` drawing off-screen RGB frames, checked by drawing one (pygame, from the
    ``render`` extra, is loaded only then); one clear error when it cannot."""
    hint = (
        f"{option('--gif', 'a GIF')} needs rendering support: "
        "pip install 'gymnasium[classic-control]' (rlgen's render extra)"
    )
    # Off-screen frames need no display: keep SDL from looking for one (and warning).
    os.environ.setdefault("SDL_VIDEODRIVER", "dummy")
    try:
        env = make_env(env_id, render_mode="rgb_array")
        env.reset(seed=0)
        env.render()
    except (gym.error.DependencyNotInstalled, ImportError):
        raise UsageError(hint) from None
    except UsageError as err:
        raise UsageError(f"{hint} ({err})") from None
    return env


GIF_MAX_FRAMES = 3_000  # 100 s at 30 fps; every frame is held in memory until written


def record_gif(agent: Any, env_id: str, path: Any, seed: int = 0, fps: int = 30) -> Any:
    """An animated GIF of one greedy episode (needs the ``render`` extra for pygame): its
    first ``GIF_MAX_FRAMES`` frames, for an episode that runs longer or never ends."""
    from pathlib import Path

    from PIL import Image

    from rlgen.runs import atomic_path

    path = Path(path)
    if path.suffix.lower() != ".gif":
        where = option(f"--gif {path}", f"record_gif(path={str(path)!r})")
        raise UsageError(f"{where}: give a file name ending in .gif")
    env = rendering_env(env_id)
    obs, _ = env.reset(seed=seed)
    frames = [env.render()]
    done = False
    while not done and len(frames) < GIF_MAX_FRAMES:
        obs, _, term, trunc, _ = env.step(int(agent.act(obs, greedy=True)))
        frames.append(env.render())
        done = term or trunc
    env.close()
    if not done:
        from rlgen.datasets import warn

        warn(f"the episode had not ended after {GIF_MAX_FRAMES - 1:,} steps; the GIF shows those")
    images = [Image.fromarray(np.asarray(f)) for f in frames if f is not None]
    if not images:
        raise UsageError(f"{env_id} rendered no frames; it cannot make a GIF")
    with atomic_path(path) as tmp:
        images[0].save(
            tmp, format="GIF", save_all=True, append_images=images[1:], duration=1000 // fps, loop=0
        )
    return path
