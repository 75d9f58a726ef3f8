"""Train an agent into a run folder, and evaluate a run folder: what ``rlgen agent`` does.

The run folder holds ``config.json``, the final agent (``model.keras`` + ``agent.json``),
``best/`` (best evaluation return, like SB3's EvalCallback), ``checkpoint/``, ``metrics.csv``
(one row per episode), ``evaluations.csv``, TensorBoard events under ``tensorboard/`` (SB3's
key names), ``learning_curve.png`` and ``summary.json``.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from rlgen import config as cfgmod
from rlgen import plots, runs
from rlgen.agents.callbacks import CheckpointCallback, EvalCallback, TensorBoardCallback
from rlgen.agents.dqn import AGENT_FILE, DQNAgent, TrainingDiverged
from rlgen.errors import UsageError

BEST, CHECKPOINT, TENSORBOARD = "best", "checkpoint", "tensorboard"


def agent_class(algorithm: str) -> type:
    if algorithm == "dqn":
        return DQNAgent
    if algorithm == "reinforce":
        from rlgen.agents.reinforce import ReinforceAgent

        return ReinforceAgent
    raise UsageError(f"unknown algorithm {algorithm!r}; use dqn or reinforce")


def _positive(name: str, value: int | None) -> None:
    if value is not None and value <= 0:
        raise UsageError(f"--{name} must be > 0, got {value}; give a positive number")


def _reward_threshold(env_id: str) -> float | None:
    import gymnasium as gym

    spec = gym.envs.registry.get(env_id)
    return None if spec is None else spec.reward_threshold


def train_run(
    algorithm: str,
    env_id: str,
    config: Any,
    runtime: Any = None,
    *,
    steps: int | None = None,
    episodes: int | None = None,
    eval_every: int | None = None,
    eval_episodes: int = 20,
    checkpoint_every: int | None = None,
    stop_at_reward: float | None = None,
    out: str | None = None,
    quiet: bool = False,
) -> tuple[runs.Run, dict[str, Any]]:
    """Train ``algorithm`` on ``env_id`` and write a complete run folder; returns it and the
    summary. DQN counts ``steps``; REINFORCE counts ``episodes`` (updates use whole episodes).
    Bad input is refused before the folder is created."""
    from rlgen.runtime import versions

    from rlgen.agents import configs

    _positive("steps", steps)
    _positive("episodes", episodes)
    _positive("eval-every", eval_every)
    _positive("eval-episodes", eval_episodes)
    _positive("checkpoint-every", checkpoint_every)
    seed = runtime.config.seed if runtime is not None else 0
    cls = agent_class(algorithm)
    agent = cls(env_id, config, seed=seed)  # unknown env / wrong spaces fail here
    if algorithm == "dqn":
        unit = "step"
        budget = steps or configs.DEFAULT_STEPS.get(env_id, configs.GENERAL_STEPS)
        eval_every = eval_every or max(budget // 20, 500)
    else:
        unit = "episode"
        budget = episodes or configs.REINFORCE_DEFAULT_EPISODES.get(
            env_id, configs.REINFORCE_GENERAL_EPISODES
        )
        eval_every = eval_every or max(budget // 20, 10)
    checkpoint_every = checkpoint_every or eval_every

    run = runs.create_run("agent", f"{algorithm}-{env_id}", out)
    run.write_json(
        runs.CONFIG,
        {
            "group": "agent",
            "algorithm": algorithm,
            "env_id": env_id,
            "budget": {unit + "s": budget},
            "eval_every": eval_every,
            "eval_episodes": eval_episodes,
            "config": cfgmod.to_dict(config),
            "runtime": runtime.describe() if runtime is not None else None,
            "versions": versions(),
        },
    )
    threshold = _reward_threshold(env_id)
    evaluator = EvalCallback(
        env_id,
        eval_every=eval_every,
        episodes=eval_episodes,
        best_dir=run.file(BEST),
        seed=10_000,
        stop_at_reward=stop_at_reward,
        unit=unit,
    )
    callbacks = [
        evaluator,
        CheckpointCallback(run.file(CHECKPOINT), checkpoint_every, unit=unit),
        TensorBoardCallback(run.file(TENSORBOARD), evaluator),
    ]
    t0 = time.perf_counter()
    error: UsageError | None = None
    try:
        if algorithm == "dqn":
            agent.learn(budget, callbacks=callbacks, progress=not quiet)
        else:
            agent.learn(episodes=budget, callbacks=callbacks, progress=not quiet)
    except TrainingDiverged as err:
        error = err
    seconds = time.perf_counter() - t0
    if error is None:
        if not evaluator.history or evaluator.history[-1]["step"] != agent.num_timesteps:
            evaluator.evaluate_now(agent)
        agent.save(run.path)
    summary = _write_results(run, agent, evaluator, seconds, threshold, unit, budget)
    if error is not None:
        summary["stopped"] = str(error)
        run.write_json(runs.SUMMARY, summary)
        raise error
    return run, summary


def _write_results(run, agent, evaluator, seconds, threshold, unit, budget) -> dict[str, Any]:
    log = agent.episode_log
    runs.write_csv(run.file("metrics.csv"), log)
    runs.write_csv(run.file("evaluations.csv"), evaluator.history)
    if log:
        plots.plot_learning_curve(
            [e["step"] for e in log],
            [e["return"] for e in log],
            run.file("learning_curve.png"),
            eval_steps=[h["step"] for h in evaluator.history],
            eval_returns=[h["mean_reward"] for h in evaluator.history],
            title=f"{agent.algorithm.upper()} on {agent.env_id}",
        )
    first_hit = None
    if threshold is not None:
        hits = [h["step"] for h in evaluator.history if h["mean_reward"] >= threshold]
        first_hit = hits[0] if hits else None
    last = evaluator.history[-1] if evaluator.history else None
    returns = [e["return"] for e in log[-100:]]
    summary = {
        "algorithm": agent.algorithm,
        "env_id": agent.env_id,
        "budget": {unit + "s": budget},
        "steps": agent.num_timesteps,
        "episodes": agent.num_episodes,
        "seconds": round(seconds, 2),
        "steps_per_second": round(agent.num_timesteps / seconds, 1) if seconds > 0 else None,
        "mean_return_last_100_episodes": float(np.mean(returns)) if returns else None,
        "reward_threshold": threshold,
        "first_step_eval_at_threshold": first_hit,
        "best_eval_mean_reward": None if last is None else evaluator.best_mean,
        "best_eval_step": evaluator.best_step,
        "final_eval_mean_reward": None if last is None else last["mean_reward"],
        "final_eval_std_reward": None if last is None else last["std_reward"],
        "eval_episodes": evaluator.episodes,
    }
    run.write_json(runs.SUMMARY, summary)
    return summary


def evaluate_run(
    path: str, episodes: int = 100, seed: int = 1_000, gif: str | None = None
) -> dict[str, Any]:
    """Greedy mean and std of a run's best model (``best/``), else of its final model."""
    from rlgen.agents.evaluation import episode_returns

    _positive("episodes", episodes)
    run = runs.open_run(path, group="agent")
    cfg = run.config
    algorithm, env_id = cfg.get("algorithm"), cfg.get("env_id")
    if algorithm not in ("dqn", "reinforce") or not isinstance(env_id, str):
        raise UsageError(f"{run.path}/{runs.CONFIG} is corrupt (no algorithm or env id)")
    if (run.file(BEST) / AGENT_FILE).is_file():
        which, folder = "best", run.file(BEST)
    elif run.file(AGENT_FILE).is_file():
        which, folder = "final", run.path
    else:
        raise UsageError(
            f"{run.path} has no saved model (no {BEST}/ and no {AGENT_FILE}); "
            "the training did not finish: train again"
        )
    agent = agent_class(algorithm).load(folder)
    returns = episode_returns(agent, env_id, episodes=episodes, seed=seed)
    result = {
        "run": str(run.path),
        "model": which,
        "env_id": env_id,
        "algorithm": algorithm,
        "episodes": episodes,
        "seed": seed,
        "mean": float(np.mean(returns)),
        "std": float(np.std(returns)),
    }
    if gif:
        from rlgen.agents.evaluation import record_gif

        result["gif"] = str(record_gif(agent, env_id, gif, seed=seed))
    return result
