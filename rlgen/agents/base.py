"""What the agents share: construction from an env or id, the seeded Keras MLP, budgets,
copies of the env run side by side, and acting through a NumPy mirror of the weights.

Why a NumPy mirror: the training loops act on a handful of observations per env step. The
cheapest compiled TensorFlow call costs ~60 µs here (dispatch, not arithmetic), a NumPy
forward pass of a 4-256-256-2 MLP ~7 µs (BENCHMARKS.md). The mirror is refreshed from the
compiled update's own output (the weights flattened in the same call), so it is never stale
inside a loop; the public ``act`` still reads the Keras model.
"""

from __future__ import annotations

import os
import re
import time
import warnings
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from rlgen import config as cfgmod
from rlgen.agents.callbacks import CallbackList, one_of, training_callbacks
from rlgen.agents.envs import (
    LOADING,
    SB3_POLICIES,
    check_spaces,
    env_source,
    make_copy,
    resolve_env,
    warn_if_pictures,
)
from rlgen.agents.saving import AGENT_FILE, agent_from_file, write_agent_file
from rlgen.errors import RlgenWarning, UsageError, check_count, option, seed_or_draw
from rlgen.runs import atomic_path, load_model, save_folder

_NUMPY_ACTIVATIONS = {
    "relu": lambda x: np.maximum(x, 0.0),
    "tanh": np.tanh,
}


def tensorflow():
    """TensorFlow, configured for agents when the API is used without the CLI (one thread:
    predictable for small MLP agents on a small, shared machine: see BENCHMARKS.md). The
    caller's global seeds and dtype policy stay as they are: an agent seeds its own."""
    from rlgen import runtime

    if not runtime.is_configured():
        runtime.configure(runtime.RuntimeConfig(), default_threads=1, set_globals=False)
    return runtime.import_tensorflow()


def build_mlp(
    input_dim: int,
    output_dim: int,
    hidden: tuple[int, ...],
    seed: int,
    name: str,
    activation: str = "relu",
    output_activation: str | None = None,
):
    """A seeded Keras MLP; the same seed gives the same initial weights in any process."""
    import keras

    inputs = keras.Input((input_dim,), name="obs", dtype="float32")
    x = inputs
    for i, width in enumerate(hidden):
        x = keras.layers.Dense(
            width,
            activation=activation,
            kernel_initializer=keras.initializers.GlorotUniform(seed=seed * 101 + i),
            dtype="float32",
            name=f"hidden_{i}",
        )(x)
    out = keras.layers.Dense(
        output_dim,
        activation=output_activation,
        kernel_initializer=keras.initializers.GlorotUniform(seed=seed * 101 + 100),
        dtype="float32",
        name="out",
    )(x)
    return keras.Model(inputs, out, name=name)


def flat_weights(model: Any):
    """All of ``model``'s weights as one flat tensor (for use inside a ``tf.function``)."""
    import tensorflow as tf

    return tf.concat([tf.reshape(v.value, [-1]) for v in model.weights], axis=0)


class NumpyMirror:
    """A NumPy copy of a :func:`build_mlp` network for the acting loop (see module doc)."""

    def __init__(self, model: Any, activation: str) -> None:
        if activation not in _NUMPY_ACTIVATIONS:
            raise ValueError(f"no NumPy mirror for activation {activation!r}")
        self.model = model
        self._act = _NUMPY_ACTIVATIONS[activation]
        self._shapes = [tuple(v.shape) for v in model.weights]
        self.weights: list[np.ndarray] = []

    def refresh(self, flat: Any = None) -> None:
        """Copy the weights: from ``flat`` (a :func:`flat_weights` output) or the model."""
        if flat is None:
            self.weights = [np.array(v.numpy()) for v in self.model.weights]
            return
        flat = np.asarray(flat)
        arrays, offset = [], 0
        for shape in self._shapes:
            size = int(np.prod(shape))
            arrays.append(flat[offset : offset + size].reshape(shape))
            offset += size
        self.weights = arrays

    def __call__(self, obs: np.ndarray) -> np.ndarray:
        """The network's outputs for a batch of flat observations (linear output layer)."""
        w = self.weights
        x = obs
        for i in range(0, len(w) - 2, 2):
            x = self._act(x @ w[i] + w[i + 1])
        return x @ w[-2] + w[-1]


def ignored_log_interval(log_interval: int | None) -> None:
    """Stable-Baselines3's ``learn(log_interval=)`` (how often its stdout logger prints),
    taken with a warning: rlgen has no such logger."""
    if log_interval is not None:
        warnings.warn(
            f"learn(log_interval={log_interval!r}) has no effect: rlgen shows a progress bar "
            "and logs every episode to TensorBoard (the agent's tensorboard_log=)",
            RlgenWarning,
            stacklevel=3,
        )


def check_budget(total_steps: Any, episodes: Any, total_timesteps: Any = None) -> tuple[str, int]:
    """("step" or "episode", amount) of a ``learn`` call; exactly one must be given, > 0.
    ``total_timesteps`` is Stable-Baselines3's name for ``total_steps``."""
    total_steps = one_of("total_steps", total_steps, None, "total_timesteps", total_timesteps)
    if (total_steps is None) == (episodes is None):
        both = option("--steps N or --episodes N", "total_timesteps=N or episodes=N")
        raise UsageError(f"give exactly one training budget: {both}")
    if total_steps is not None:
        return "step", check_count(option("--steps", "total_timesteps"), total_steps)
    return "episode", check_count("--episodes", episodes)


class BaseAgent:
    """Construction and bookkeeping common to the agents (SB3-shaped: learn/act/save/load).

    ``env_or_id`` is a Gymnasium env id or instance; ``None`` with ``spaces=(obs_dim,
    n_actions)`` builds an agent with no env (loading a model to act only).
    """

    algorithm = ""
    config_cls: type = object
    # Config fields a later learn() applies when changed on ``agent.config`` (a learning rate
    # to fine-tune with, say); the rest built the networks, their compiled update or the
    # replay buffer, and a change to them is refused rather than saved unapplied.
    LIVE_FIELDS: tuple[str, ...] = ()

    def __init__(
        self,
        env_or_id: Any,
        config: Any,
        seed: int | None,
        *,
        spaces: tuple[int, int] | None,
        tensorboard_log: str | os.PathLike | None = None,
        fields: dict[str, Any] | None = None,
    ) -> None:
        name = type(self).__name__
        fields = dict(fields or {})
        if "policy" in fields and fields["policy"] in SB3_POLICIES:  # SB3's keyword
            resolve_env(fields.pop("policy"))  # its one-line "drop 'MlpPolicy'"
        if "env" in fields and env_or_id is None:  # DQNAgent(env=...), as SB3 names it
            env_or_id = fields.pop("env")
        if env_or_id is None:
            if spaces is None:
                raise UsageError(f"{name} needs an env id or gymnasium.Env")
            self._env, self.env_id = None, None
            self.obs_dim, self.n_actions = spaces
        else:
            self._env, self.env_id = resolve_env(env_or_id)
            self.obs_dim, self.n_actions = check_spaces(
                self.env, self.env_id, self.algorithm.upper()
            )
            if not LOADING.get():  # said when the agent was built, not again at each load
                warn_if_pictures(self.env, self.env_id, self.algorithm.upper(), stacklevel=3)
        shape = getattr(getattr(self.env, "observation_space", None), "shape", None)
        self.obs_shape: tuple[int, ...] = tuple(shape) if shape else (self.obs_dim,)
        # Copies (evaluation, --n-envs) come from here, so they keep the env's own
        # max_episode_steps, make kwargs and wrappers, not just its registered id.
        self.env_source = env_source(env_or_id) if env_or_id is not None else None
        self.seed = seed_or_draw(seed)  # None: drawn, and kept
        if fields:  # DQNAgent(env, learning_rate=1e-3), as SB3 takes them: over the config
            if isinstance(config, self.config_cls):
                config = cfgmod.build(self.config_cls, {**cfgmod.to_dict(config), **fields}, name)
            elif config is None or isinstance(config, dict):
                config = {**(config or {}), **fields}
        if isinstance(config, dict):  # DQNAgent(env, {"learning_rate": 1e-3}) as SB3's kwargs
            preset = cfgmod.to_dict(self.default_config(self.env_id))  # the env's tuned values
            config = cfgmod.build(self.config_cls, {**preset, **config}, f"{name} config")
        if config is not None and not isinstance(config, self.config_cls):
            raise UsageError(
                f"{name} takes a {self.config_cls.__name__} (or a dict of its fields), "
                f"got {type(config).__name__}"
            )
        # a copy: one config object given to several agents (a sweep) stays the caller's
        self.config = replace(config) if config is not None else self.default_config(self.env_id)
        self._built_with = cfgmod.to_dict(self.config)  # what the networks are built with
        self.rng = np.random.default_rng(self.seed)
        self.num_timesteps = 0
        self.num_episodes = 0
        self.last_loss: float | None = None
        self.last_eval: dict[str, float] | None = None
        self.episode_log: list[dict[str, Any]] = []
        self._envs: list[Any] | None = None
        self.tensorboard_log = tensorboard_log

    @property
    def env(self) -> Any:
        """The env the agent trains on (None if a loaded one could not be remade); assigning
        one is :meth:`set_env`."""
        return self._env

    @env.setter
    def env(self, env: Any) -> None:
        self.set_env(env)

    def get_env(self) -> Any:
        """Stable-Baselines3's name for :attr:`env`."""
        return self._env

    def set_env(self, env: Any) -> None:
        """Train on ``env`` (a gymnasium.Env or a registered id) from the next ``learn``, as
        Stable-Baselines3's ``set_env``; its observations and actions must fit the networks.
        Episodes start afresh in it, evaluations copy it, and the copies rlgen made of the
        old env (``n_envs``) are closed; the old env itself is left to you. (Assigning
        ``agent.env`` was silently ignored after the first ``learn``.)"""
        if env is None:
            raise UsageError("set_env() takes a gymnasium.Env or a registered env id, not None")
        new, env_id = resolve_env(env)
        spaces = check_spaces(new, env_id, self.algorithm.upper())
        if spaces != (self.obs_dim, self.n_actions):
            if new is not env:  # made here from an id: not the caller's to close
                new.close()
            raise UsageError(
                f"{env_id or type(new).__name__} has {spaces[0]} observation values and "
                f"{spaces[1]} actions, and this agent's networks take {self.obs_dim} and "
                f"{self.n_actions}; train a new agent for it"
            )
        for copy in (self._envs or [])[1:]:  # rlgen's own copies of the old env
            copy.close()
        shape = getattr(new.observation_space, "shape", None)
        self.obs_shape = tuple(shape) if shape else (self.obs_dim,)
        self._env, self.env_id, self.env_source = new, env_id, env_source(env)
        self._envs = None
        if hasattr(self, "_obs"):  # DQN's episodes under way were the old env's
            self._obs = None

    @property
    def tensorboard_log(self) -> Path | None:
        """Stable-Baselines3's ``tensorboard_log``: a folder under which each ``learn`` call
        writes TensorBoard events into ``<tb_log_name>_<n>`` (None: no events)."""
        return self._tensorboard_log

    @tensorboard_log.setter
    def tensorboard_log(self, folder: str | os.PathLike | None) -> None:
        if folder is not None and not isinstance(folder, (str, os.PathLike)):
            raise UsageError(
                f"tensorboard_log is a folder path (or None), not {type(folder).__name__}"
            )
        self._tensorboard_log = None if folder is None else Path(folder).expanduser()

    @classmethod
    def default_config(cls, env_id: str | None) -> Any:
        raise NotImplementedError

    def saved_networks(self) -> dict[str, Any]:
        """{file name: Keras model} that :meth:`save` writes and :meth:`load` reads."""
        raise NotImplementedError

    def saved_names(self) -> tuple[str, ...]:
        """The files :meth:`save` writes."""
        return (*self.saved_networks(), AGENT_FILE)

    def agent_file_fields(self) -> dict[str, Any]:
        """What this algorithm adds to agent.json beside the fields every agent has."""
        return {}

    def restore_agent_file_fields(self, meta: dict[str, Any]) -> None:
        """Take back what :meth:`agent_file_fields` wrote (``meta``: the whole agent.json)."""

    def other_losses(self) -> dict[str, float]:
        """Figures of the last update beside ``last_loss``, under Stable-Baselines3's
        TensorBoard names (REINFORCE: its value loss and entropy)."""
        return {}

    def _after_load(self) -> None:
        """Anything derived from the loaded weights (DQN: its target network)."""

    def predict(
        self,
        observation: Any,
        state: Any = None,
        episode_start: Any = None,
        deterministic: bool = False,
    ) -> tuple[Any, Any]:
        """Stable-Baselines3's ``predict``: ``(action, state)`` for one observation or a
        batch; ``state`` passes through (these policies have no recurrent state).
        ``deterministic=True`` is :meth:`act`'s greedy action; False, as in SB3, explores
        (DQN: epsilon-greedy at the current rate; REINFORCE: a sampled action). One
        observation's action is a 0-d int64 array, as SB3's (``action.item()`` works; ``act``
        gives a Python int)."""
        return np.asarray(self.act(observation, greedy=deterministic), np.int64), state

    # ---- saving ----------------------------------------------------------------------------
    def save(self, path: str | Path) -> Path:
        """Write the networks (``.keras``) and ``agent.json`` into folder ``path``."""
        self._sync_config()  # not a config the networks were not built with (unloadable)
        path = Path(path).expanduser()
        if path.suffix in (".keras", ".zip") or path.is_file():  # SB3 writes model.zip
            raise UsageError(
                f"save({str(path)!r}): an agent is saved as a folder (its networks and "
                f"{AGENT_FILE}); give a folder path such as 'runs/my-agent'"
            )
        save_folder(
            path, "agent", self.algorithm, f"the networks and {AGENT_FILE}", self.saved_names()
        )
        try:
            path.mkdir(parents=True, exist_ok=True)
        except OSError as err:  # /proc, a read-only folder, a file on the way: nothing written
            raise UsageError(
                f"cannot write {path} ({err.strerror or err}); give a folder you can write to"
            ) from None
        for name, net in self.saved_networks().items():
            with atomic_path(path / name) as tmp:
                net.save(tmp)
        write_agent_file(self, path)
        return path

    @classmethod
    def load(
        cls,
        path: str | Path,
        env: Any = None,
        tensorboard_log: str | os.PathLike | None = None,
        device: str | None = None,
    ) -> Any:
        """An agent saved by :meth:`save`; its env is remade from the saved one (id, wrappers
        and ``max_episode_steps``) unless given. ``tensorboard_log`` as for the constructor
        (it is not saved with the agent). Stable-Baselines3's ``device`` is taken with a
        warning: the process places every network (``--device``, ``runtime.configure``)."""
        if device is not None:
            warnings.warn(
                f"load(device={device!r}) has no effect: rlgen places every network on the "
                "device the process uses (runtime.configure(RuntimeConfig(device=...)), or "
                "--device on the command line)",
                RlgenWarning,
                stacklevel=2,
            )
        path = Path(path).expanduser()
        if not path.is_dir():
            what = "not a folder" if path.exists() else "missing"
            raise UsageError(
                f"load({str(path)!r}): {what}; give the folder save() wrote (with {AGENT_FILE})"
            )
        agent = agent_from_file(cls, cls.config_cls, path, env)
        for name, net in agent.saved_networks().items():
            model = load_model(path / name)
            try:
                net.set_weights(model.get_weights())
            except ValueError as err:
                raise UsageError(
                    f"model file {path / name} does not fit {AGENT_FILE}: {err}"
                ) from None
        agent._after_load()
        agent.tensorboard_log = tensorboard_log
        return agent

    # ---- bookkeeping -----------------------------------------------------------------------
    def _record_episode(
        self, ret: float, length: int, epsilon: float | None, t0: float, callbacks: Any
    ) -> None:
        """Count a finished episode, log it (``metrics.csv`` rows) and tell the callbacks."""
        self.num_episodes += 1
        episode = {
            "episode": self.num_episodes,
            "step": self.num_timesteps,
            "return": ret,
            "length": length,
            "epsilon": epsilon,
            "loss": self.last_loss,
            "seconds": time.perf_counter() - t0,
        }
        self.episode_log.append(episode)
        callbacks.on_episode_end(self, episode)

    def _learn_callbacks(
        self,
        callbacks: Any,
        callback: Any,
        progress: bool,
        progress_bar: bool | None,
        amount: int,
        unit: str,
        tb_log_name: str | None,
        new_log: bool,
    ) -> CallbackList:
        """The callbacks of one ``learn`` call (see :func:`training_callbacks`), with
        TensorBoard logging when the agent has a ``tensorboard_log`` folder."""
        progress = progress if progress_bar is None else bool(progress_bar)
        folder = self._tensorboard_folder(tb_log_name, new_log)
        listed = training_callbacks(callbacks, progress, amount, unit, callback, folder)
        if folder is not None:  # once every argument is checked: no empty folder is left
            try:
                folder.mkdir(parents=True, exist_ok=True)
            except OSError as err:
                raise UsageError(
                    f"cannot write TensorBoard events to {folder} ({err.strerror or err}); "
                    "give tensorboard_log a folder you can write to"
                ) from None
        return listed

    def _tensorboard_folder(self, tb_log_name: str | None, new_log: bool) -> Path | None:
        """``tensorboard_log/<tb_log_name>_<n>`` as Stable-Baselines3 numbers them: the next
        number for a new log, the latest for one that continues (reset_num_timesteps=False)."""
        root = self.tensorboard_log
        if root is None:
            if tb_log_name is not None:
                raise UsageError(
                    "tb_log_name names a folder under the agent's tensorboard_log, and it has "
                    "none; give the agent tensorboard_log='a folder' first"
                )
            return None
        name = self.algorithm.upper() if tb_log_name is None else tb_log_name
        if not isinstance(name, str) or not name or Path(name).name != name:
            raise UsageError(f"tb_log_name must be a plain folder name, got {name!r}")
        pattern = re.compile(re.escape(name) + r"_(\d+)")
        numbers = [
            int(m.group(1))
            for child in (root.iterdir() if root.is_dir() else ())
            if (m := pattern.fullmatch(child.name)) and child.is_dir()
        ]
        latest = max(numbers, default=0)
        return root / f"{name}_{latest + 1 if new_log or not latest else latest}"

    def _check_can_learn(self) -> None:
        if self.env is None:
            raise UsageError(
                "this agent has no environment (its env could not be remade); load it with "
                "one to train it: load(path, env=...) or load_checkpoint(path, env=...)"
            )
        self._sync_config()

    def _sync_config(self) -> None:
        """Check the config again and apply what changed among :attr:`LIVE_FIELDS` (by
        learn(), and by save(): a checkpoint keeps the agent as the config says)."""
        before = self._built_with
        self._checked_config()
        self._apply_config(before)
        self._built_with = cfgmod.to_dict(self.config)

    def _checked_config(self) -> Any:
        """``self.config`` checked again (a field set on it after it was built skipped every
        check), refusing a change to a field outside :attr:`LIVE_FIELDS`."""
        name = type(self).__name__
        self.config = cfgmod.recheck(
            self.config,
            self._built_with,
            self.LIVE_FIELDS,
            lambda field, old, new: (
                f"agent.config.{field} changed from {old!r} to {new!r} after the {name}'s "
                f"networks were built with it; learn() applies new {', '.join(self.LIVE_FIELDS)}"
                f" only: for the rest, build a new {name}(env, config)"
            ),
        )
        return self.config

    def _apply_config(self, before: dict[str, Any]) -> None:
        """Apply what changed among :attr:`LIVE_FIELDS` since ``before`` (their values when
        last applied) that is not read afresh at each step: an optimizer's learning rate."""

    def cannot_copy(self, k: int) -> UsageError:
        """The error for ``k`` copies of an env gymnasium cannot remake."""
        return UsageError(
            f"--n-envs {k} needs copies of the env, and gymnasium cannot remake this one (no "
            "registered spec, or a wrapper that does not record its arguments); pass a "
            "registered id, or use --n-envs 1"
        )

    def side_by_side_envs(self, k: int) -> list[Any]:
        """``k`` copies of the env (the agent's own first), kept across ``learn`` calls: a
        smaller batch uses the first ``k`` (none is dropped unclosed), a larger one adds
        copies."""
        envs = self._envs if self._envs is not None else [self.env]
        if len(envs) < k:
            if self.env_source is None:
                raise self.cannot_copy(k)
            envs = envs + [make_copy(self.env_source) for _ in range(k - len(envs))]
        self._envs = envs
        return envs[:k]

    def _is_single(self, obs: np.ndarray) -> bool:
        """One observation (the env's shape, or flat) rather than a batch of them."""
        if obs.shape == self.obs_shape:
            return True
        return obs.ndim <= 1 and obs.size == self.obs_dim

    def _as_batch(self, obs: Any) -> tuple[np.ndarray, bool]:
        """(observations as a float32 (n, obs_dim) batch, whether one was given). A batch is
        (n, *obs_shape) or (n, obs_dim), n >= 1."""
        if isinstance(obs, tuple) and any(isinstance(part, dict) for part in obs):
            raise UsageError(
                "got a tuple holding an info dict, as env.reset() and env.step() return it; "
                "pass the observation alone: obs, info = env.reset()"
            )
        try:
            obs = np.asarray(obs, np.float32)
        except (TypeError, ValueError):
            raise UsageError(
                f"an observation must be an array of numbers, got {type(obs).__name__}; this "
                f"agent takes shape {self.obs_shape} (flatten a Dict or Tuple observation "
                "space with gymnasium.wrappers.FlattenObservation)"
            ) from None
        single = self._is_single(obs)
        if not single and (obs.ndim < 2 or obs.shape[1:] not in (self.obs_shape, (self.obs_dim,))):
            raise UsageError(
                f"an observation of shape {obs.shape} does not fit this agent: it takes "
                f"{self.obs_shape}, or a batch of them of shape (n, *{self.obs_shape})"
            )
        if not single and len(obs) == 0:
            raise UsageError(
                f"an empty batch of observations (shape {obs.shape}); give at least one"
            )
        if not np.isfinite(obs).all():  # acted on as if it were a number before
            raise UsageError("the observation holds NaN or inf values; give finite ones")
        return obs.reshape(1 if single else -1, self.obs_dim), single
