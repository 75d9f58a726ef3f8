"""Train an agent into a run folder, and evaluate a run folder: what ``rlgen agent`` does.

The run folder holds ``config.json``, the final agent (``model.keras`` + ``agent.json``),
``best/`` (best evaluation return, like SB3's EvalCallback), ``checkpoint/``, ``metrics.csv``
(one row per episode), ``evaluations.csv``, TensorBoard events under ``tensorboard/`` (SB3's
key names), ``learning_curve.png`` and ``summary.json``.
"""

from __future__ import annotations

import contextlib
import time
from pathlib import Path
from typing import Any

import numpy as np

from rlgen import config as cfgmod
from rlgen import plots, runs
from rlgen.agents import configs
from rlgen.agents.callbacks import (
    Callback,
    CheckpointCallback,
    EvalCallback,
    ProgressBarCallback,
    TensorBoardCallback,
)
from rlgen.agents.dqn import DQNAgent
from rlgen.agents.envs import check_module_id, is_registered, make_env
from rlgen.agents.saving import AGENT_FILE
from rlgen.errors import TrainingDiverged, UsageError, check_count, option

BEST, CHECKPOINT, TENSORBOARD = "best", "checkpoint", "tensorboard"


class StopOnSignal(Callback):
    """Ctrl-C or SIGTERM during training stops it at the end of the step under way, so that
    the run can keep a checkpoint of that very step (it kept the last periodic one: up to a
    fifth of a run was lost, and all of it before the first). A second signal interrupts at
    once. Only Python's Ctrl-C handler and the command line's are taken over (a SIGTERM
    left to the system, or a handler of someone else's, stays as it is); the signal still
    reaches the handler that was there (the command line's notes it, for the exit status),
    whose KeyboardInterrupt waits for the step's end."""

    SIGNALS = ("SIGINT", "SIGTERM")

    def __init__(self) -> None:
        self.signal: int | None = None

    def on_step(self, agent: Any) -> bool:
        return self.signal is None

    @contextlib.contextmanager
    def installed(self) -> Any:
        import signal
        import threading

        if threading.current_thread() is not threading.main_thread():
            yield self
            return
        previous: dict[int, Any] = {}

        def stop(signum: int, frame: Any) -> None:
            handler = previous[signum]
            if self.signal is not None:  # the second: at once
                signal.signal(signum, handler)
                raise KeyboardInterrupt
            self.signal = signum
            if callable(handler):
                try:
                    handler(signum, frame)  # Python's, or the command line's: notes it
                except KeyboardInterrupt:
                    pass

        for name in self.SIGNALS:
            sig = getattr(signal, name)
            handler = signal.getsignal(sig)
            if handler is signal.default_int_handler or getattr(handler, "rlgen", False):
                previous[sig] = signal.signal(sig, stop)
        try:
            yield self
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)


def agent_class(algorithm: str) -> type:
    if algorithm == "dqn":
        return DQNAgent
    if algorithm == "reinforce":
        from rlgen.agents.reinforce import ReinforceAgent

        return ReinforceAgent
    raise UsageError(f"unknown algorithm {algorithm!r}; use dqn or reinforce")


def check_budget(**values: int | None) -> None:
    """Raise UsageError for the first of ``values`` (flag name -> number) that is given and
    not a whole number > 0."""
    for name, value in values.items():
        if value is not None:
            check_count("--" + name.replace("_", "-"), value)


def _reward_threshold(env_id: str) -> float | None:
    import gymnasium as gym

    spec = gym.envs.registry.get(env_id.rpartition(":")[2])  # "module:EnvId" registered it
    return None if spec is None else spec.reward_threshold


def _budget_defaults(
    algorithm: str, env_id: str, steps: int | None, episodes: int | None, eval_every: int | None
):
    """(unit, budget, eval_every): the budget given (steps or episodes), else the algorithm's
    default for the env (DQN counts steps, REINFORCE episodes)."""
    if steps is not None and episodes is not None:
        raise UsageError("give --steps or --episodes, not both")
    if steps is None and episodes is None:
        if algorithm == "dqn":
            steps = configs.DEFAULT_STEPS.get(env_id, configs.GENERAL_STEPS)
        else:
            episodes = configs.REINFORCE_DEFAULT_EPISODES.get(
                env_id, configs.REINFORCE_GENERAL_EPISODES
            )
    unit, budget = ("step", steps) if steps is not None else ("episode", episodes)
    default = max(budget // configs.EVALUATIONS_PER_RUN, configs.MIN_EVAL_EVERY[unit])
    return unit, budget, eval_every or default


def train_run(
    algorithm: str,
    env_id: str | None,
    config: Any,
    runtime: Any = None,
    *,
    steps: int | None = None,
    episodes: int | None = None,
    eval_every: int | None = None,
    eval_episodes: int | None = None,
    checkpoint_every: int | None = None,
    stop_at_reward: float | None = None,
    out: str | None = None,
    quiet: bool = False,
    resume: str | None = None,
) -> tuple[runs.Run, dict[str, Any]]:
    """Train ``algorithm`` on ``env_id`` and write a complete run folder; returns it and the
    summary. DQN counts ``steps``; REINFORCE counts ``episodes`` (updates use whole episodes).
    Bad input is refused before the folder is created.

    Either budget works for either algorithm; the default is the env's preset budget.
    ``resume=RUN`` continues RUN from its ``checkpoint/`` (weights, optimizer, replay buffer,
    epsilon position, counters, RNG, env state) up to its budget (or the new ``steps`` /
    ``episodes``) with its own config, writing into the same folder.
    """
    with contextlib.ExitStack() as held:  # the run's claim, let go however this ends
        return _train_run(
            algorithm,
            env_id,
            config,
            runtime,
            held,
            steps=steps,
            episodes=episodes,
            eval_every=eval_every,
            eval_episodes=eval_episodes,
            checkpoint_every=checkpoint_every,
            stop_at_reward=stop_at_reward,
            out=out,
            quiet=quiet,
            resume=resume,
        )


def _train_run(
    algorithm: str,
    env_id: str | None,
    config: Any,
    runtime: Any,
    held: contextlib.ExitStack,
    *,
    steps: int | None,
    episodes: int | None,
    eval_every: int | None,
    eval_episodes: int | None,
    checkpoint_every: int | None,
    stop_at_reward: float | None,
    out: str | None,
    quiet: bool,
    resume: str | None,
) -> tuple[runs.Run, dict[str, Any]]:
    from rlgen.runtime import versions

    check_budget(
        steps=steps,
        episodes=episodes,
        eval_every=eval_every,
        eval_episodes=eval_episodes,
        checkpoint_every=checkpoint_every,
    )
    cls = agent_class(algorithm)
    if resume is not None:
        # claimed before its config and checkpoint are read: a trainer that ends meanwhile
        # must not leave this one going on from the checkpoint before its last steps
        held.enter_context(runs.claimed(runs.open_run(resume, group="agent").path))
        run, agent, saved = _open_for_resume(resume, algorithm, env_id)
        env_id = saved["env_id"]
        unit = _saved_unit(run, saved, steps, episodes)
        budget = steps or episodes or int(saved["budget"][unit + "s"])
        eval_every = eval_every or int(saved["eval_every"])
        eval_episodes = eval_episodes or int(saved["eval_episodes"])
        checkpoint_every = checkpoint_every or int(saved.get("checkpoint_every", eval_every))
        done = agent.num_timesteps if unit == "step" else agent.num_episodes
        check_left(run, done, budget, unit, steps or episodes)
        resumed = {"from": done, "budget": budget, "previous_budget": saved["budget"]}
        saved.setdefault("resumed", []).append(resumed)
        saved["budget"] = {unit + "s": budget}  # what a further --resume extends
        run.write_json(runs.CONFIG, saved)
    else:
        seed = runtime.config.seed if runtime is not None else 0
        agent = cls(env_id, config, seed=seed)  # unknown env / wrong spaces fail here
        agent._check_can_learn()  # and a replay buffer too big for memory, before the folder
        unit, budget, eval_every = _budget_defaults(algorithm, env_id, steps, episodes, eval_every)
        eval_episodes = eval_episodes or configs.EVAL_EPISODES
        # Checkpoints hold the replay buffer: write them less often than evaluations.
        checkpoint_every = checkpoint_every or max(
            eval_every, budget // configs.CHECKPOINTS_PER_RUN
        )
        run = runs.create_run("agent", f"{algorithm}-{env_id}", out)
        held.enter_context(runs.claimed(run.path))  # a --resume of it meanwhile is refused
        run.write_json(
            runs.CONFIG,
            {
                "group": "agent",
                "algorithm": algorithm,
                "env_id": env_id,
                "budget": {unit + "s": budget},
                "eval_every": eval_every,
                "eval_episodes": eval_episodes,
                "checkpoint_every": checkpoint_every,
                "config": cfgmod.to_dict(config),
                "runtime": runtime.describe() if runtime is not None else None,
                "versions": versions(),
            },
        )
        done = 0
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
    if resume is not None:
        evaluator.restore(getattr(agent, "checkpoint_extra", {}).get("evaluator", {}))
    checkpointer = CheckpointCallback(
        run.file(CHECKPOINT), checkpoint_every, unit=unit, evaluator=evaluator
    )
    callbacks = [evaluator, checkpointer, TensorBoardCallback(run.file(TENSORBOARD), evaluator)]
    # the bar stays open through the final evaluation below, so that it ends showing it
    bar = (
        None
        if quiet
        else ProgressBarCallback(budget - done, unit=unit, close_at_end=False, initial=done)
    )
    t0, steps_before = time.perf_counter(), agent.num_timesteps
    error: UsageError | None = None
    stopper = StopOnSignal()
    try:
        left = {"total_steps" if unit == "step" else "episodes": budget - done}
        listed = callbacks + ([bar] if bar is not None else []) + [stopper]
        with stopper.installed():
            if algorithm == "dqn":
                agent.learn(callbacks=listed, progress=False, reset_schedule=resume is None, **left)
            else:
                agent.learn(callbacks=listed, progress=False, **left)
    except TrainingDiverged as err:
        error = err
    except KeyboardInterrupt:  # keep what was learnt so far readable, then stop
        if bar is not None:
            bar.close()
        seconds = time.perf_counter() - t0
        _write_results(run, agent, evaluator, seconds, steps_before, threshold, unit, budget)
        if (run.file("checkpoint") / AGENT_FILE).is_file():
            raise _resumable(run, algorithm, "continue from the last checkpoint") from None
        raise
    except BaseException:  # a bad env, say: its one-line message not at the end of the bar
        if bar is not None:
            bar.close()
        raise
    seconds = time.perf_counter() - t0
    done = agent.num_timesteps if unit == "step" else agent.num_episodes
    # stopped by a signal between two steps: kept as a finished run is, but for its final
    # evaluation, and --resume goes on from there
    stopped = stopper.signal is not None and error is None and done < budget
    try:
        if (
            error is None
            and not stopped
            and (not evaluator.history or evaluator.history[-1]["step"] != agent.num_timesteps)
        ):
            evaluator.evaluate_now(agent)
    finally:  # whatever happens: an error's message goes on a line of its own
        if bar is not None:
            bar.close(agent)
    agent.save(run.path)  # after a NaN loss, the weights of the last good step
    if error is None:
        # the checkpoint of the end, so that --resume continues exactly where training
        # stopped instead of from the last periodic checkpoint
        checkpointer.save(agent)
    summary = _write_results(run, agent, evaluator, seconds, steps_before, threshold, unit, budget)
    if stopped:
        raise _resumable(
            run,
            algorithm,
            f"stopped at {unit} {done:,} of {budget:,}, kept in {run.path} and its checkpoint; "
            "continue",
        )
    if error is not None:
        summary["stopped"] = str(error)
        run.write_json(runs.SUMMARY, summary)
        raise error
    return run, summary


def _resumable(run: runs.Run, algorithm: str, what: str) -> KeyboardInterrupt:
    """The interrupt of a run that ``--resume`` goes on with: ``what`` and the command."""
    return KeyboardInterrupt(f"{what} with 'rlgen agent train {algorithm} --resume {run.path}'")


def check_resume(
    path: str,
    algorithm: str,
    env_id: str | None,
    steps: int | None = None,
    episodes: int | None = None,
) -> None:
    """The checks of a resume that need no TensorFlow: run, algorithm, env, checkpoint, budget."""
    from rlgen.agents.checkpoint import STATE_JSON

    run, saved = _check_run_for_resume(path, algorithm, env_id)
    unit = _saved_unit(run, saved, steps, episodes)
    ckpt = run.file(CHECKPOINT)
    if not (ckpt / STATE_JSON).is_file():
        raise UsageError(
            f"{run.path} holds no resumable checkpoint ({CHECKPOINT}/{STATE_JSON} missing: stopped "
            "before its first, or deleted); train again, into a new --out or after deleting it"
        )
    runs.read_json(ckpt / STATE_JSON, what="checkpoint state")
    meta = runs.read_json(ckpt / AGENT_FILE, what="checkpoint agent file")
    done = meta.get("num_timesteps" if unit == "step" else "num_episodes")
    budget = steps or episodes or saved["budget"].get(unit + "s")
    if not isinstance(done, int) or not isinstance(budget, int):
        raise UsageError(f"checkpoint {ckpt / AGENT_FILE} is corrupt (no counters); train again")
    check_left(run, done, budget, unit, steps or episodes)


def check_left(run: Any, done: int, budget: int, unit: str, asked: int | None) -> None:
    """A UsageError unless a resume of ``run`` (``done`` of ``budget``) has training left."""
    if budget > done:
        return
    if asked is None:
        raise UsageError(
            f"{run.path} already has {done} {unit}s of its budget {budget}; "
            f"give a larger --{unit}s to train further"
        )
    raise UsageError(
        f"{run.path} already has {done} {unit}s, so --{unit}s {asked} leaves nothing to train; "
        f"give more than {done}"
    )


def _check_run_for_resume(path: str, algorithm: str, env_id: str | None):
    run = runs.open_run(path, group="agent")
    saved = run.config
    if saved.get("algorithm") != algorithm:
        raise UsageError(
            f"{run.path} is a {saved.get('algorithm', 'unknown')} run, not {algorithm}; "
            f"resume it with 'rlgen agent train {saved.get('algorithm', '...')} --resume'"
        )
    if env_id is not None and saved.get("env_id") != env_id:
        raise UsageError(
            f"{run.path} was trained on {saved.get('env_id')}, not {env_id}; "
            "drop --env or give the run's own env id"
        )
    saved_id = saved.get("env_id")
    if isinstance(saved_id, str) and ":" in saved_id:  # its module importable from here?
        check_module_id(saved_id)  # said before TensorFlow loads
    if not isinstance(saved.get("budget"), dict) or "eval_every" not in saved:
        raise UsageError(f"{run.path}/{runs.CONFIG} is corrupt (no budget); train again")
    for key in ("eval_every", "eval_episodes", "checkpoint_every"):
        value = saved.get(key, saved["eval_every"])  # checkpoint_every: not in older runs
        if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
            raise UsageError(
                f"{run.path}/{runs.CONFIG} is corrupt ({key} {value!r}, not a whole number "
                "> 0); put the number back, or train again"
            )
    return run, saved


def _saved_unit(run: runs.Run, saved: dict, steps: int | None, episodes: int | None) -> str:
    """The unit ("step" or "episode") of a run's budget; a new budget must be in it too."""
    unit = "step" if "steps" in saved["budget"] else "episode"
    other = episodes if unit == "step" else steps
    if other is not None:
        raise UsageError(f"{run.path} counts its budget in {unit}s; give --{unit}s N to extend it")
    return unit


def _open_for_resume(path: str, algorithm: str, env_id: str | None):
    run, saved = _check_run_for_resume(path, algorithm, env_id)
    agent = agent_class(algorithm).load_checkpoint(run.file(CHECKPOINT))
    return run, agent, saved


def _write_results(
    run, agent, evaluator, seconds, steps_before, threshold, unit, budget
) -> dict[str, Any]:
    """metrics.csv, evaluations.csv, the learning curve and summary.json; ``seconds`` and
    the speed are this session's (``steps_before`` steps came from a checkpoint)."""
    log = agent.episode_log
    steps_now = agent.num_timesteps - steps_before
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
        "resumed_from_step": steps_before or None,
        "seconds": round(seconds, 2),
        "steps_per_second": round(steps_now / seconds, 1) if seconds > 0 else None,
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


def find_model(path: str) -> tuple[dict[str, Any], str, Path]:
    """({"path", "algorithm", "env_id"}, "best", "final", "checkpoint" or "saved", folder) of
    an agent run, or of a folder written by ``agent.save()`` (agent.json, no config.json);
    clear errors for anything else."""
    folder = Path(path)
    if folder.is_dir() and not (folder / runs.CONFIG).is_file() and (folder / AGENT_FILE).is_file():
        meta = runs.read_json(folder / AGENT_FILE, what="agent file")
        found = {"path": folder, "algorithm": meta.get("algorithm"), "env_id": meta.get("env_id")}
        which = "saved"
        if (folder / BEST / AGENT_FILE).is_file():  # EvalCallback(best_dir=folder/best)
            which, folder = "best", folder / BEST
    else:
        run = runs.open_run(path, group="agent")
        cfg = run.config
        found = {"path": run.path, "algorithm": cfg.get("algorithm"), "env_id": cfg.get("env_id")}
        if (run.file(BEST) / AGENT_FILE).is_file():
            which, folder = "best", run.file(BEST)
        elif run.file(AGENT_FILE).is_file():
            which, folder = "final", run.path
        elif (run.file(CHECKPOINT) / AGENT_FILE).is_file():  # stopped before its first eval
            which, folder = "checkpoint", run.file(CHECKPOINT)
        else:
            raise UsageError(
                f"{run.path} has no saved model (no {BEST}/ and no {AGENT_FILE}); "
                "the training did not finish: train again"
            )
    # agent.save() of an env made without gymnasium.make records no id: env_id is None
    no_id = found["env_id"] is None and which == "saved"
    if found["algorithm"] not in ("dqn", "reinforce") or not (
        isinstance(found["env_id"], str) or no_id
    ):
        where = runs.CONFIG if which != "saved" else AGENT_FILE
        raise UsageError(f"{found['path']}/{where} is corrupt (no algorithm or env id)")
    return found, which, folder


def evaluate_run(
    path: str,
    episodes: int = 100,
    seed: int = 1_000,
    gif: str | None = None,
    env_id: str | None = None,
) -> dict[str, Any]:
    """Greedy mean and std of a run's best model (``best/``), else of its final model, on
    its own env, or on ``env_id`` (a custom env's ``"module:EnvId"``, say)."""
    from rlgen.agents.evaluation import episode_returns

    check_count("--episodes", episodes)
    if gif and not str(gif).lower().endswith(".gif"):
        raise UsageError(f"--gif {gif}: give a file name ending in .gif")
    found, which, folder = find_model(path)
    algorithm = found["algorithm"]
    saved = runs.read_json(folder / AGENT_FILE, what="agent file")
    if env_id is None and found["env_id"] is None:
        raise UsageError(
            f"{found['path']} holds an agent of an env made without gymnasium.make, so it "
            f"names no env; give {option('--env ID', 'env_id=')} (a registered id, or "
            "MODULE:ID for a module that registers it)"
        )
    if env_id is None and not saved.get("env_spec") and not is_registered(found["env_id"]):
        if ":" in found["env_id"]:  # its module is not importable from here: say why
            check_module_id(found["env_id"])
        named = f"MODULE:{found['env_id']}"
        raise UsageError(  # a custom env registered by the script that trained it
            f"{found['path']} holds an agent of {found['env_id']}, which is not registered in "
            f"this process; give {option(f'--env {named}', f'env_id={named!r}')} (gymnasium's "
            "form: it imports the module that registers the env)"
        )
    env = None if env_id is None else make_env(env_id)
    env_id = env_id or found["env_id"]
    if gif:  # no rendering support fails now, not after all the episodes
        from rlgen.agents.evaluation import rendering_env

        rendering_env(env_id).close()
    agent = agent_class(algorithm).load(folder, env=env)
    # the agent's own env: a saved agent's wrappers and max_episode_steps come with it
    returns = episode_returns(agent, None, episodes=episodes, seed=seed)
    result = {
        "run": str(found["path"]),
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
