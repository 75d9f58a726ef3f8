"""Training callbacks in the shape of Stable-Baselines3's: evaluation with a best model,
checkpoints, stopping at a reward threshold, a tqdm progress bar and TensorBoard logging.

An agent calls ``on_training_start(agent)``, ``on_episode_end(agent, episode)`` (a dict with
step, return, length, epsilon, loss), ``on_update(agent, loss)`` after each training round,
``on_step(agent)`` (return False to stop) and ``on_training_end(agent)``. ``on_step`` comes
after every env step of DQN (with ``n_envs`` copies, after each round of one step in each), but
after every update of REINFORCE, which learns from whole episodes: a callback that counts
should read ``agent.num_timesteps``, as the ones here do, not count its calls.

Unlike Stable-Baselines3's callbacks (``_on_step()`` reading ``self.model``), the hooks are
public and take the agent.
"""

from __future__ import annotations

import math
import numbers
import time
import warnings
from collections import deque
from pathlib import Path
from typing import Any

import numpy as np

from rlgen.errors import SEED_LIMIT, RlgenWarning, UsageError, check_count, check_seed, option
from rlgen.runs import save_folder

UNITS = ("step", "episode")


def check_unit(unit: Any) -> str:
    """``unit`` if it is "step" or "episode" (what a callback counts), else a UsageError:
    anything else was counted as episodes, "steps" too."""
    if unit not in UNITS:
        raise UsageError(f"unit must be 'step' or 'episode', got {unit!r}; give one of them")
    return unit


class Callback:
    """Base class: every hook does nothing and training continues."""

    def on_training_start(self, agent: Any) -> None:
        pass

    def on_step(self, agent: Any) -> bool:
        return True

    def on_episode_end(self, agent: Any, episode: dict[str, Any]) -> None:
        pass

    def on_update(self, agent: Any, loss: float) -> None:
        pass

    def on_training_end(self, agent: Any) -> None:
        pass


class CallbackList(Callback):
    def __init__(self, callbacks: list[Callback]) -> None:
        self.callbacks = list(callbacks)
        # on_step runs every env step: keep only the callbacks that override it.
        self._steppers = [c for c in self.callbacks if type(c).on_step is not Callback.on_step]

    def on_training_start(self, agent: Any) -> None:
        for c in self.callbacks:
            c.on_training_start(agent)

    def on_step(self, agent: Any) -> bool:
        keep = True
        for c in self._steppers:
            keep = c.on_step(agent) and keep
        return keep

    def on_episode_end(self, agent: Any, episode: dict[str, Any]) -> None:
        for c in self.callbacks:
            c.on_episode_end(agent, episode)

    def on_update(self, agent: Any, loss: float) -> None:
        for c in self.callbacks:
            c.on_update(agent, loss)

    def on_training_end(self, agent: Any) -> None:
        for c in self.callbacks:
            c.on_training_end(agent)


def training_callbacks(
    callbacks: Any,
    progress: bool,
    amount: int,
    unit: str,
    callback: Any = None,
    tensorboard: Path | None = None,
) -> CallbackList:
    """The callbacks of one ``learn`` call: one callback, a list of them or None (as
    Stable-Baselines3 takes them, also under its name ``callback``), TensorBoard logging into
    folder ``tensorboard`` if given (with the first EvalCallback's results), and the progress
    bar when ``progress``."""
    callbacks = one_of("callbacks", callbacks, None, "callback", callback)
    if callbacks is None:
        callbacks = []
    elif not isinstance(callbacks, (list, tuple)):
        callbacks = [callbacks]  # one callback; checked below
    callbacks = list(callbacks)
    for c in callbacks:
        if not isinstance(c, Callback):
            raise UsageError(
                f"callbacks must be rlgen.agents.Callback objects, got {type(c).__name__}"
                + (f"; {SB3_HOOKS}" if hasattr(c, "_on_step") else "")
            )
        if hasattr(c, "_on_step") and not _overrides_a_hook(c):  # SB3's: never called
            raise UsageError(f"{type(c).__name__} defines _on_step, never called: {SB3_HOOKS}")
    check_folders(callbacks)
    if tensorboard is not None:
        evaluator = next((c for c in callbacks if isinstance(c, EvalCallback)), None)
        callbacks.append(TensorBoardCallback(tensorboard, evaluator))
    if progress:
        callbacks.append(ProgressBarCallback(amount, unit=unit))
    return CallbackList(callbacks)


def check_folders(callbacks: list[Callback]) -> None:
    """A checkpoint replaces its folder whole: no other callback may write into it or below
    it (Stable-Baselines3's examples put best_model/ inside the checkpoints' folder, whose
    next checkpoint deleted the best model). Refused before training starts."""
    written = [
        (Path(c.path).expanduser().resolve(), "CheckpointCallback's folder", c)
        for c in callbacks
        if isinstance(c, CheckpointCallback)
    ] + [
        (Path(c.best_dir).expanduser().resolve(), "EvalCallback's best model folder", c)
        for c in callbacks
        if isinstance(c, EvalCallback) and c.best_dir is not None
    ]
    for folder, what, owner in written:
        if not isinstance(owner, CheckpointCallback):
            continue
        for other, other_what, other_owner in written:
            if other_owner is not owner and (other == folder or folder in other.parents):
                where = "is" if other == folder else "is inside"
                raise UsageError(
                    f"{other_what} {other} {where} {what} {folder}, which each checkpoint "
                    "replaces whole; give them folders side by side, e.g. "
                    "save_path='logs/checkpoint' and best_model_save_path='logs/best'"
                )


def _overrides_a_hook(callback: Callback) -> bool:
    """Whether ``callback`` overrides any of :class:`Callback`'s hooks (one that does, and
    has an ``_on_step`` helper of its own besides, is one of ours)."""
    hooks = ("on_training_start", "on_step", "on_episode_end", "on_update", "on_training_end")
    return any(getattr(type(callback), h) is not getattr(Callback, h) for h in hooks)


SB3_HOOKS = (
    "rlgen's Callback calls on_step(agent) (return False to stop), on_episode_end(agent, "
    "episode) and the others in rlgen.agents.callbacks, not Stable-Baselines3's _on_step()"
)


def sb3_arguments(
    name: str,
    given: dict[str, Any],
    accepted: tuple[str, ...] = (),
    noted: dict[str, str] | None = None,
    refused: dict[str, str] | None = None,
) -> None:
    """Stable-Baselines3's further keywords of callback ``name`` (a TypeError stopped a
    copied SB3 script): ``accepted`` ones change nothing here; ``noted`` ones run with a
    warning that they have no effect, and ``refused`` ones, whose work rlgen would silently
    not do, are refused with rlgen's way, both only when set to something (``verbose=0``
    says nothing). Any other keyword is refused by name."""
    noted, refused = noted or {}, refused or {}
    for key, value in given.items():
        if key not in (*accepted, *noted, *refused):
            known = ", ".join(sorted({*accepted, *noted, *refused}))
            raise UsageError(
                f"{name} got an unknown argument {key!r} (of Stable-Baselines3's, it takes {known})"
            )
        if not value:
            continue
        if key in refused:
            raise UsageError(f"{name}({key}=...) is Stable-Baselines3's; {refused[key]}")
        if key in noted:
            warnings.warn(
                f"{name}({key}={value!r}) has no effect: {noted[key]}",
                RlgenWarning,
                stacklevel=3,
            )


def one_of(ours: str, value: Any, default: Any, sb3: str, alias: Any) -> Any:
    """``value``, or Stable-Baselines3's spelling of it when that was given instead (both
    given is an error, even with one value: one name says it)."""
    if alias is None:
        return value
    if value != default:
        raise UsageError(f"give {ours} or {sb3} (the same thing), not both")
    return alias


class EvalCallback(Callback):
    """Every ``eval_every`` steps, the greedy mean return over ``episodes`` fresh episodes;
    the best model so far is saved to ``best_dir`` (like SB3's EvalCallback), and training
    stops once the mean reaches ``stop_at_reward`` (if given). ``env_id`` is an env id or
    ``gymnasium.Env`` to evaluate on; by default, copies of the agent's own env.

    Stable-Baselines3's names work too: ``eval_env``, ``eval_freq``, ``n_eval_episodes`` and
    ``best_model_save_path`` for ``env_id``, ``eval_every``, ``episodes`` and ``best_dir``."""

    def __init__(
        self,
        env_id: Any = None,
        eval_every: int = 5_000,
        episodes: int = 10,
        best_dir: str | Path | None = None,
        seed: int = 10_000,
        stop_at_reward: float | None = None,
        unit: str = "step",
        *,
        eval_env: Any = None,
        eval_freq: int | None = None,
        n_eval_episodes: int | None = None,
        best_model_save_path: str | Path | None = None,
        deterministic: bool = True,
        **sb3: Any,
    ) -> None:
        if not deterministic:
            raise UsageError("EvalCallback plays the greedy policy only; drop deterministic=False")
        sb3_arguments(
            "EvalCallback",
            sb3,
            accepted=("warn",),
            noted={
                "log_path": "its results are in callback.history (and TensorBoard's eval/)",
                "verbose": "it prints nothing; its results are in callback.history",
            },
            refused={
                "callback_on_new_best": "give stop_at_reward=R to stop at a mean return",
                "callback_after_eval": "give stop_at_reward=R to stop at a mean return",
                "render": "watch a saved agent with 'rlgen agent eval RUN --gif out.gif'",
            },
        )
        env_id = one_of("env_id", env_id, None, "eval_env", eval_env)
        eval_every = one_of("eval_every", eval_every, 5_000, "eval_freq", eval_freq)
        episodes = one_of("episodes", episodes, 10, "n_eval_episodes", n_eval_episodes)
        best_dir = one_of("best_dir", best_dir, None, "best_model_save_path", best_model_save_path)
        self.env_id = env_id
        self.eval_every = check_count("--eval-every", eval_every)
        self.episodes = check_count(option("--eval-episodes", "episodes"), episodes)
        self.best_dir = Path(best_dir) if best_dir else None
        self.seed = check_seed(seed)
        if stop_at_reward is not None and not (
            isinstance(stop_at_reward, numbers.Real)
            and not isinstance(stop_at_reward, bool)
            and math.isfinite(stop_at_reward)
        ):
            raise UsageError(
                f"{option('--stop-at-reward', 'stop_at_reward')} must be a finite number, "
                f"got {stop_at_reward}"
            )
        self.stop_at_reward = stop_at_reward
        self.unit = check_unit(unit)
        self.history: list[dict[str, float]] = []
        self.best_mean = -np.inf
        self.best_step: int | None = None
        self._next = 0
        self._stop = False
        self._t0 = 0.0
        self.eval_seconds = 0.0  # of the current learn() call
        self._seconds_before = 0.0  # training seconds of earlier learn() calls or sessions

    def _counter(self, agent: Any) -> int:
        return agent.num_timesteps if self.unit == "step" else agent.num_episodes

    @property
    def best_mean_reward(self) -> float:
        """Stable-Baselines3's name of :attr:`best_mean` (-inf before any evaluation)."""
        return float(self.best_mean)

    @property
    def last_mean_reward(self) -> float:
        """The latest evaluation's mean return, as Stable-Baselines3 names it (-inf before)."""
        return float(self.history[-1]["mean_reward"]) if self.history else -np.inf

    def state(self) -> dict[str, Any]:
        """What a checkpoint keeps so a resumed run compares against the same best."""
        best = None if not np.isfinite(self.best_mean) else float(self.best_mean)
        return {
            "history": self.history,
            "best_mean": best,
            "best_step": self.best_step,
            "train_seconds": round(self.train_seconds(), 3),
        }

    def train_seconds(self) -> float:
        """Wall-clock seconds of training so far, evaluations excluded, over every learn()
        call and resumed session (frozen between calls)."""
        if not self._t0:
            return self._seconds_before
        return self._seconds_before + time.perf_counter() - self._t0 - self.eval_seconds

    def restore(self, state: dict[str, Any]) -> None:
        self.history = [dict(row) for row in state.get("history", [])]
        best = state.get("best_mean")
        self.best_mean = -np.inf if best is None else float(best)
        self.best_step = state.get("best_step")
        last = self.history[-1].get("train_seconds", 0.0) if self.history else 0.0
        self._seconds_before = float(state.get("train_seconds", last))  # older checkpoints

    def on_training_start(self, agent: Any) -> None:
        from rlgen.agents.evaluation import first_env

        # A wrong env or best_dir fails now, not at the first evaluation after training began.
        if self.best_dir is not None:
            save_folder(
                self.best_dir, "agent", agent.algorithm, "the best model", agent.saved_names()
            )
        env, _ = first_env(agent, self.env_id, training=True)
        if env is not self.env_id:
            env.close()
        self._t0, self.eval_seconds = time.perf_counter(), 0.0
        self._next = (self._counter(agent) // self.eval_every + 1) * self.eval_every

    def on_training_end(self, agent: Any) -> None:
        self._seconds_before, self._t0 = self.train_seconds(), 0.0  # a later call counts on

    def on_step(self, agent: Any) -> bool:
        if self._counter(agent) >= self._next:
            self._next += self.eval_every
            self.evaluate_now(agent)
        return not self._stop

    def evaluate_now(self, agent: Any) -> dict[str, float]:
        from rlgen.agents.evaluation import evaluate

        # Fresh start states each time: the seeds move on with every evaluation (and wrap
        # round below check_seed's limit, however many evaluations a run makes).
        seed = (self.seed + len(self.history) * self.episodes) % SEED_LIMIT
        start = time.perf_counter()
        train_seconds = self.train_seconds()
        mean, std = evaluate(agent, self.env_id, episodes=self.episodes, seed=seed)
        row = {
            "step": agent.num_timesteps,
            "episode": agent.num_episodes,
            "mean_reward": mean,
            "std_reward": std,
            "train_seconds": round(train_seconds, 3),  # wall-clock without evaluations
        }
        self.history.append(row)
        agent.last_eval = row
        if mean > self.best_mean:
            self.best_mean, self.best_step = mean, agent.num_timesteps
            if self.best_dir is not None:
                agent.save(self.best_dir)
        if self.stop_at_reward is not None and mean >= self.stop_at_reward:
            self._stop = True
        self.eval_seconds += time.perf_counter() - start
        return row


class CheckpointCallback(Callback):
    """Save a resumable checkpoint to ``path`` every ``every`` env steps (or episodes,
    ``unit="episode"``), with the evaluation history of ``evaluator`` if given.
    Stable-Baselines3's ``save_path`` and ``save_freq`` work too, but unlike its numbered
    series of models this keeps one checkpoint (replay buffer and optimizer included), the
    latest: ``load_checkpoint(path)`` goes on training from it.

    The folder is written beside the old one and swapped in: a crash keeps the previous one.
    """

    def __init__(
        self,
        path: str | Path | None = None,
        every: int | None = None,
        unit: str = "step",
        evaluator: EvalCallback | None = None,
        *,
        save_path: str | Path | None = None,
        save_freq: int | None = None,
        **sb3: Any,
    ) -> None:
        sb3_arguments(
            "CheckpointCallback",
            sb3,
            accepted=("save_replay_buffer", "save_vecnormalize"),  # always kept; none here
            noted={
                "name_prefix": "rlgen keeps one checkpoint folder, the latest, not a series",
                "verbose": "it prints nothing",
            },
        )
        path = one_of("path", path, None, "save_path", save_path)  # SB3's names
        named = "save_freq" if save_freq is not None else option("--checkpoint-every", "every")
        every = one_of("every", every, None, "save_freq", save_freq)
        if path is None:
            raise UsageError("CheckpointCallback needs path, the folder to keep the checkpoint in")
        every = check_count(named, every)
        self.path, self.every, self.unit = Path(path), every, check_unit(unit)
        self.evaluator = evaluator
        self._next = 0
        self.saved: tuple[int, int] | None = None  # (counter, evaluations) of the last save

    def _counter(self, agent: Any) -> int:
        return agent.num_timesteps if self.unit == "step" else agent.num_episodes

    def on_training_start(self, agent: Any) -> None:
        from rlgen.agents.checkpoint import check_checkpoint_folder

        check_checkpoint_folder(self.path)  # refused now, not after the first steps' work
        self._next = (self._counter(agent) // self.every + 1) * self.every

    def on_step(self, agent: Any) -> bool:
        if self._counter(agent) >= self._next:
            self._next += self.every
            self.save(agent)
        return True

    def save(self, agent: Any) -> None:
        """Write the checkpoint now, unless the last one already holds this very state (the
        same counter and evaluation history): the end of training often falls on a periodic
        checkpoint, and the replay buffer is not written twice."""
        state = (self._counter(agent), len(self.evaluator.history) if self.evaluator else 0)
        if state == self.saved:
            return
        extra = {"evaluator": self.evaluator.state()} if self.evaluator else {}
        agent.save_checkpoint(self.path, extra=extra)
        self.saved = state


class ProgressBarCallback(Callback):
    """A tqdm bar over env steps (or episodes) showing speed, the mean return of the last 20
    episodes, epsilon, loss and the last evaluation."""

    def __init__(
        self,
        total: int,
        unit: str = "step",
        refresh_every: int | None = None,
        close_at_end: bool = True,
        initial: int = 0,
    ) -> None:
        """``close_at_end=False`` leaves the bar open after ``learn`` for :meth:`close`
        (rlgen's runs close it after their final evaluation, so it shows that one).
        ``initial``: what was done before (a resumed run's bar goes from 2,400 to 12,000,
        not from 0 to 9,600)."""
        self.total, self.unit, self.initial = total, check_unit(unit), initial
        self.close_at_end = close_at_end
        self.refresh_every = refresh_every or (200 if unit == "step" else 1)
        self.returns: deque[float] = deque(maxlen=20)
        self.bar: Any = None
        self._last = 0
        self._start = 0

    def _counter(self, agent: Any) -> int:
        return agent.num_timesteps if self.unit == "step" else agent.num_episodes

    def on_training_start(self, agent: Any) -> None:
        from tqdm.auto import tqdm

        self._start = self._last = self._counter(agent)
        self.returns.clear()  # a callback used again in a further learn() starts afresh
        self.returns.extend(e["return"] for e in agent.episode_log[-self.returns.maxlen :])
        self.bar = tqdm(
            total=self.initial + self.total,
            initial=self.initial,
            unit=self.unit,
            dynamic_ncols=True,
            mininterval=0.5,
        )

    def on_episode_end(self, agent: Any, episode: dict[str, Any]) -> None:
        self.returns.append(episode["return"])

    def on_step(self, agent: Any) -> bool:
        n = self._counter(agent)
        if n - self._last >= self.refresh_every:
            self._advance(n)
            self._show(agent, refresh=False)
        return True

    def _show(self, agent: Any, refresh: bool) -> None:
        post = {"mean_return": f"{np.mean(self.returns):.1f}" if self.returns else "-"}
        eps = getattr(agent, "exploration_rate", None)
        if eps is not None:
            post["eps"] = f"{eps:.3f}"
        if agent.last_loss is not None:
            post["loss"] = f"{agent.last_loss:.4g}"
        if agent.last_eval is not None:
            post["eval"] = f"{agent.last_eval['mean_reward']:.1f}"
        self.bar.set_postfix(post, refresh=refresh)

    def _advance(self, n: int) -> None:
        """Move the bar to counter ``n``; past the budget (REINFORCE finishes its episodes
        past a step budget) the total grows with it, or tqdm drops the bar and percentage."""
        self.bar.total = max(self.bar.total, self.bar.n + n - self._last)
        self.bar.update(n - self._last)
        self._last = n

    def on_training_end(self, agent: Any) -> None:
        if self.bar is not None:
            self._advance(self._counter(agent))
            if self.close_at_end:
                self.close(agent)

    def close(self, agent: Any = None) -> None:
        """Show ``agent``'s latest figures (its last evaluation) and close the bar."""
        if self.bar is not None:
            if agent is not None:
                self._show(agent, refresh=False)
            self.bar.close()
            self.bar = None


class TensorBoardCallback(Callback):
    """TensorBoard scalars under Stable-Baselines3's key names."""

    def __init__(self, logdir: str | Path, eval_callback: EvalCallback | None = None) -> None:
        self.logdir = str(logdir)
        self.eval_callback = eval_callback
        self.writer: Any = None
        self.returns: deque[float] = deque(maxlen=100)
        self.lengths: deque[float] = deque(maxlen=100)
        self._evals_written = 0
        self._t0 = 0.0
        self._n0 = 0

    def on_training_start(self, agent: Any) -> None:
        import tensorflow as tf

        self.writer = tf.summary.create_file_writer(self.logdir)
        # A resumed run (or a further learn) goes on averaging the episodes before it: the
        # curve does not jump where it restarted.
        self.returns.clear()
        self.lengths.clear()
        for episode in agent.episode_log[-self.returns.maxlen :]:
            self.returns.append(episode["return"])
            self.lengths.append(episode["length"])
        if self.eval_callback is not None:  # a resumed run: earlier evaluations are logged
            self._evals_written = len(self.eval_callback.history)
        self._t0, self._n0 = time.perf_counter(), agent.num_timesteps

    def _scalars(self, step: int, values: dict[str, float]) -> None:
        import tensorflow as tf

        with self.writer.as_default(step=step):
            for key, value in values.items():
                tf.summary.scalar(key, value)

    def on_episode_end(self, agent: Any, episode: dict[str, Any]) -> None:
        self.returns.append(episode["return"])
        self.lengths.append(episode["length"])
        values = {
            "rollout/ep_rew_mean": float(np.mean(self.returns)),
            "rollout/ep_len_mean": float(np.mean(self.lengths)),
        }
        if episode.get("epsilon") is not None:
            values["rollout/exploration_rate"] = episode["epsilon"]
        elapsed = time.perf_counter() - self._t0
        if elapsed > 0:
            values["time/fps"] = (agent.num_timesteps - self._n0) / elapsed
        self._scalars(agent.num_timesteps, values)

    def on_update(self, agent: Any, loss: float) -> None:
        self._scalars(agent.num_timesteps, {"train/loss": loss, **agent.other_losses()})

    def on_step(self, agent: Any) -> bool:
        ev = self.eval_callback
        if ev is not None and len(ev.history) > self._evals_written:
            for row in ev.history[self._evals_written :]:
                self._scalars(
                    int(row["step"]),
                    {"eval/mean_reward": row["mean_reward"], "eval/std_reward": row["std_reward"]},
                )
            self._evals_written = len(ev.history)
        return True

    def on_training_end(self, agent: Any) -> None:
        self.on_step(agent)
        if self.writer is not None:
            self.writer.flush()
            self.writer.close()
