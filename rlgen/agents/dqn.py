"""Deep Q-Network agent: Keras Q-network, target network, Double-DQN targets, Huber loss.

Speed: training goes through one ``tf.function`` with a fixed input signature fed
``tf.Tensor``s (no ``model.predict``/``fit`` in the loop): a whole training round of
``gradient_steps`` updates runs inside one compiled call on batches sampled in one draw, and
returns the new weights flattened. The training loop acts on one observation at a time through
a NumPy copy of those weights: a 4-256-256-2 forward pass costs ~7 µs in NumPy against ~60 µs
for the cheapest compiled TensorFlow call (dispatch overhead, not arithmetic), measured in
BENCHMARKS.md. :meth:`DQNAgent.act` reads the Keras model itself.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

import numpy as np

from rlgen.agents import envs as _envs
from rlgen.agents.base import (
    BaseAgent,
    NumpyMirror,
    build_mlp,
    check_budget,
    flat_weights,
    ignored_log_interval,
)
from rlgen.agents.base import tensorflow as _tf
from rlgen.agents.callbacks import Callback, one_of
from rlgen.agents.configs import DQNConfig, dqn_config_for
from rlgen.agents.replay import ReplayBuffer, physical_memory
from rlgen.agents.saving import MODEL_FILE
from rlgen.errors import TrainingDiverged, UsageError

__all__ = ["DQNAgent", "TrainingDiverged", "build_mlp"]


class DQNAgent(BaseAgent):
    """Deep Q-learning for a Gymnasium env with a Box observation and Discrete actions.

    ``config=None`` takes the tuned preset for the env id (general defaults if none).
    With ``config.n_envs`` > 1, that many copies of the env step side by side and one
    batched forward pass picks all their actions; every count (steps, ``train_freq``,
    ``target_update_interval``, ``learning_starts``) is in env steps summed over the copies.
    """

    algorithm = "dqn"
    config_cls = DQNConfig
    LIVE_FIELDS = (
        "learning_rate",
        "batch_size",
        "learning_starts",
        "train_freq",
        "gradient_steps",
        "target_update_interval",
        "exploration_fraction",
        "exploration_initial_eps",
        "exploration_final_eps",
        "n_envs",
    )

    def __init__(
        self,
        env_or_id: Any = None,
        config: DQNConfig | None = None,
        seed: int | None = 0,
        *,
        spaces: tuple[int, int] | None = None,
        tensorboard_log: str | os.PathLike | None = None,
        **fields: Any,
    ) -> None:
        super().__init__(
            env_or_id, config, seed, spaces=spaces, tensorboard_log=tensorboard_log, fields=fields
        )
        k = self.config.n_envs
        if k > 1 and self.env is not None and self.env_source is None and not _envs.LOADING.get():
            raise self.cannot_copy(k)  # said when built, not at learn()
        self.exploration_rate = self.config.exploration_initial_eps
        self._replay: ReplayBuffer | None = None  # allocated when first needed (learning)
        # The step at which the warm-up of random actions ends and training begins: counted
        # from when the buffer started filling (0 here; later for a loaded agent).
        self._learning_starts_at = self.config.learning_starts
        self._obs: np.ndarray | None = None  # (n_envs, obs_dim): each copy's observation
        self._schedule: tuple[str, int, int] | None = None  # epsilon decay: unit, start, span
        self._ep_return: list[float] = []
        self._ep_len: list[int] = []
        self._build()

    @classmethod
    def default_config(cls, env_id: str | None) -> DQNConfig:
        return dqn_config_for(env_id)

    @property
    def replay(self) -> ReplayBuffer:
        """The replay buffer, allocated on first use: a model loaded to act never holds one,
        so a large ``buffer_size`` costs nothing there."""
        if self._replay is None:
            self._replay = ReplayBuffer(self.config.buffer_size, self.obs_dim)
        return self._replay

    @replay.setter
    def replay(self, buffer: ReplayBuffer) -> None:
        self._replay = buffer

    def _apply_config(self, before: dict[str, Any]) -> None:
        self.optimizer.learning_rate = self.config.learning_rate
        # the warm-up of random actions, counted from when the buffer started filling
        self._learning_starts_at += self.config.learning_starts - before["learning_starts"]

    def _check_can_learn(self) -> None:
        super()._check_can_learn()
        self.replay  # noqa: B018 -- allocate now: a buffer too big is refused before any step
        batch = self.config.batch_size
        need = batch * (2 * self.obs_dim + 3) * 4 * 3  # the sampled arrays, packed, in TF
        memory = physical_memory()
        if memory and need > memory:  # 100,000,000 was NumPy's 95 GiB traceback at step one
            raise UsageError(
                f"--batch-size {batch:,} needs {need / 2**30:,.0f} GiB a gradient step, more "
                f"than this machine's {memory / 2**30:.0f} GiB; give a smaller batch"
            )

    # ---- networks and compiled functions -------------------------------------------------
    def _build(self) -> None:
        tf = _tf()
        import keras

        cfg = self.config
        self.q_net = build_mlp(self.obs_dim, self.n_actions, cfg.hidden_sizes, self.seed, "q")
        self.target_net = build_mlp(
            self.obs_dim, self.n_actions, cfg.hidden_sizes, self.seed, "q_target"
        )
        self.target_net.set_weights(self.q_net.get_weights())
        self.optimizer = keras.optimizers.Adam(learning_rate=cfg.learning_rate)
        self.optimizer.build(self.q_net.trainable_variables)

        obs_spec = tf.TensorSpec([None, self.obs_dim], tf.float32)
        # A concrete function skips tf.function's per-call signature matching: the acting call
        # runs once per env step, so its overhead matters.
        self._greedy = tf.function(self._greedy_py, input_signature=[obs_spec])
        self._greedy = self._greedy.get_concrete_function()
        self._mirror = NumpyMirror(self.q_net, "relu")
        # One packed tensor per round (obs, action, reward, next obs, terminated side by side)
        # and the pending target update: a call's argument handling costs more than its
        # arithmetic when a round is one gradient step.
        packed = [
            tf.TensorSpec([None, None, 2 * self.obs_dim + 3], tf.float32),
            tf.TensorSpec([], tf.float32),
        ]
        self._train_round_fn = tf.function(
            self._train_round_py, input_signature=packed, jit_compile=cfg.jit_compile
        )
        self._train_round: Any = None  # its concrete function, traced on first use
        one = [
            tf.TensorSpec([None, self.obs_dim], tf.float32),
            tf.TensorSpec([None], tf.int32),
            tf.TensorSpec([None], tf.float32),
            tf.TensorSpec([None, self.obs_dim], tf.float32),
            tf.TensorSpec([None], tf.float32),
        ]
        self._loss_fn = tf.function(self.td_loss, input_signature=one)
        self._pending_target_updates = 0

    def _greedy_py(self, obs):
        import tensorflow as tf

        return tf.argmax(self.q_net(obs, training=False), axis=1, output_type=tf.int32)

    def td_loss(self, obs, actions, rewards, next_obs, terminated):
        """Huber loss between Q(s, a) and the (Double-)DQN target.

        target = r + gamma * (1 - terminated) * Q_target(s', argmax_a Q_online(s', a)):
        Double DQN (van Hasselt et al. 2016) lets the online net pick the next action and the
        target net rate it, which curbs max-operator over-estimation. Only true termination
        cuts the bootstrap; a time-limit truncation still bootstraps from s'. Huber loss
        (quadratic within ``huber_delta``, linear outside) keeps large TD errors from
        producing huge gradients, as in the DQN paper's error clipping.
        """
        import tensorflow as tf

        cfg = self.config
        # The target is computed apart from Q(s, .) and outside the gradient: one forward pass
        # over s and s' together would drag the s' half through the backward pass too (about
        # a quarter more arithmetic per gradient step, measured in BENCHMARKS.md).
        next_q_target = self.target_net(next_obs, training=False)
        if cfg.double_dqn:
            next_q_online = self.q_net(next_obs, training=False)
            next_a = tf.argmax(next_q_online, axis=1, output_type=tf.int32)
            next_q = tf.reduce_sum(next_q_target * tf.one_hot(next_a, self.n_actions), axis=1)
        else:
            next_q = tf.reduce_max(next_q_target, axis=1)
        target = tf.stop_gradient(rewards + cfg.gamma * (1.0 - terminated) * next_q)
        q = self.q_net(obs, training=True)
        q_taken = tf.reduce_sum(q * tf.one_hot(actions, self.n_actions), axis=1)
        err = tf.abs(q_taken - target)
        quad = tf.minimum(err, cfg.huber_delta)
        return tf.reduce_mean(0.5 * quad * quad + cfg.huber_delta * (err - quad))

    def _train_round_py(self, packed, target_keep):
        """The pending target update (``target_keep`` >= 0, see :meth:`_target_keep`), then
        ``n`` gradient steps on ``n`` pre-sampled batches, in one compiled call.

        A step whose loss or gradient norm is not finite is not applied and ends the round,
        so the weights stay those of the last good step. Returns (mean loss, all finite,
        the online weights flattened for the acting loop's NumPy mirror).
        """
        import tensorflow as tf

        d = self.obs_dim
        obs, next_obs = packed[..., :d], packed[..., d + 2 : 2 * d + 2]
        actions = tf.cast(packed[..., d], tf.int32)
        rewards, terminated = packed[..., d + 1], packed[..., 2 * d + 2]

        def sync():
            self._update_target_py(target_keep)
            return tf.constant(True)

        tf.cond(target_keep >= 0.0, sync, lambda: tf.constant(False))
        variables = self.q_net.trainable_variables
        n = tf.shape(obs)[0]

        def body(i, total, ok):
            with tf.GradientTape() as tape:
                loss = self.td_loss(obs[i], actions[i], rewards[i], next_obs[i], terminated[i])
            grads = tape.gradient(loss, variables)
            grads, norm = tf.clip_by_global_norm(grads, self.config.max_grad_norm)
            finite = tf.logical_and(tf.math.is_finite(loss), tf.math.is_finite(norm))

            def apply():
                self.optimizer.apply_gradients(zip(grads, variables))
                return tf.constant(True)

            finite = tf.cond(finite, apply, lambda: tf.constant(False))
            return i + 1, total + tf.where(finite, loss, 0.0), finite

        i, total, ok = tf.while_loop(
            lambda i, total, ok: tf.logical_and(i < n, ok),
            body,
            (tf.constant(0), tf.constant(0.0), tf.constant(True)),
        )
        done = tf.maximum(tf.where(ok, i, i - 1), 1)
        return total / tf.cast(done, tf.float32), ok, flat_weights(self.q_net)

    def _update_target_py(self, keep):
        """target <- online + keep * (target - online); keep = (1 - tau)^k for k updates."""
        for t, s in zip(self.target_net.weights, self.q_net.weights):
            t.assign(s if self.config.tau == 1.0 else s + keep * (t - s))

    def _target_keep(self) -> np.float32:
        """The target updates due since the last training round, as one: ``keep`` for
        :meth:`_update_target_py`, or -1 when none is due.

        The target net is read only by training, and the online net changes only in
        training, so k hard copies (or k soft updates t <- tau*s + (1-tau)*t, which compose
        to s + (1-tau)^k (t - s)) made between two rounds equal one made just before the
        next round: same result as updating every ``target_update_interval`` steps, without
        thousands of small calls.
        """
        k, self._pending_target_updates = self._pending_target_updates, 0
        return np.float32((1.0 - self.config.tau) ** k if k else -1.0)

    # ---- acting ----------------------------------------------------------------------------
    def act(self, obs: Any, greedy: bool = True) -> Any:
        """The action for one observation (an int) or a batch (an int array).

        ``greedy=False`` acts epsilon-greedily with the current exploration rate.
        """
        import tensorflow as tf

        batch, single = self._as_batch(obs)
        actions = self._greedy(tf.constant(batch)).numpy()
        if not greedy:
            explore = self.rng.random(len(actions)) < self.exploration_rate
            actions = np.where(
                explore, self.rng.integers(self.n_actions, size=len(actions)), actions
            )
        return int(actions[0]) if single else actions.astype(np.int64)

    def _epsilon(self, progress: float) -> float:
        """Linear decay from the initial to the final epsilon over ``exploration_fraction`` of
        the training steps, then constant (the DQN paper's schedule, as SB3 does it)."""
        cfg = self.config
        if cfg.exploration_fraction == 0.0:
            return cfg.exploration_final_eps
        frac = min(1.0, progress / cfg.exploration_fraction)
        return cfg.exploration_initial_eps + frac * (
            cfg.exploration_final_eps - cfg.exploration_initial_eps
        )

    # ---- learning --------------------------------------------------------------------------
    def learn(
        self,
        total_steps: int | None = None,
        callbacks: Callback | list[Callback] | None = None,
        progress: bool = True,
        reset_schedule: bool = True,
        *,
        episodes: int | None = None,
        total_timesteps: int | None = None,
        callback: Callback | list[Callback] | None = None,
        progress_bar: bool | None = None,
        tb_log_name: str | None = None,
        reset_num_timesteps: bool | None = None,
        log_interval: int | None = None,
    ) -> DQNAgent:
        """Train for ``total_steps`` more env steps (``total_timesteps``, Stable-Baselines3's
        name, is the same), or ``episodes`` more episodes. ``callback`` and
        ``progress_bar`` (SB3's names) are the same as ``callbacks`` and ``progress``.

        The epsilon schedule spans this budget (in its unit), unless ``reset_schedule=False``
        continues the schedule of an earlier call (resuming); SB3's
        ``reset_num_timesteps=False`` is the same, and also goes on writing the latest
        TensorBoard folder (``tb_log_name``, under the agent's ``tensorboard_log``).
        ``num_timesteps`` always goes on counting. With several env copies the last round
        may go up to ``n_envs - 1`` steps past a step budget.
        """
        unit, amount = check_budget(total_steps, episodes, total_timesteps)
        ignored_log_interval(log_interval)
        reset_schedule = bool(
            one_of(
                "reset_schedule", reset_schedule, True, "reset_num_timesteps", reset_num_timesteps
            )
        )
        self._check_can_learn()
        cfg = self.config
        envs = self.side_by_side_envs(cfg.n_envs)
        k = len(envs)
        cb = self._learn_callbacks(
            callbacks, callback, progress, progress_bar, amount, unit, tb_log_name, reset_schedule
        )

        def count() -> int:
            return self.num_timesteps if unit == "step" else self.num_episodes

        end = count() + amount
        if reset_schedule or self._schedule is None or self._schedule[0] != unit:
            self._schedule = (unit, count(), amount)
        _, start, span = self._schedule
        if self._obs is None or len(self._obs) != k:
            self._obs = np.stack(
                [_envs.reset(env, self.obs_dim, seed=self.seed + i) for i, env in enumerate(envs)]
            )
            self._ep_return, self._ep_len = [0.0] * k, [0] * k
        obs, ret, length = self._obs, self._ep_return, self._ep_len
        rng, buf, n_actions, mirror = self.rng, self.replay, self.n_actions, self._mirror
        size = self.obs_dim
        train_freq, target_every = cfg.train_freq, cfg.target_update_interval
        # An episode budget waits for episodes to end: one that never does is refused.
        limit = _envs.MAX_EPISODE_STEPS if unit == "episode" else float("inf")
        mirror.refresh()  # the weights may have been set from outside since the last call
        t0 = time.perf_counter()
        cb.on_training_start(self)
        try:
            while count() < end:
                eps = self._epsilon((count() - start) / span)
                self.exploration_rate = eps
                if self.num_timesteps < self._learning_starts_at:
                    actions = rng.integers(n_actions, size=k)
                else:
                    actions = mirror(obs).argmax(axis=1)
                    explore = rng.random(k) < eps
                    if explore.any():
                        actions = np.where(explore, rng.integers(n_actions, size=k), actions)
                before = self.num_timesteps
                for i in range(k):
                    action = int(actions[i])
                    next_obs, reward, terminated, truncated, recorded = _envs.step(
                        envs[i], action, size
                    )
                    buf.add(obs[i], action, reward, next_obs, terminated)
                    self.num_timesteps += 1
                    ret[i] += reward
                    length[i] += 1
                    if terminated or truncated:
                        done_return = ret[i] if recorded is None else recorded
                        self._record_episode(done_return, length[i], eps, t0, cb)
                        next_obs = _envs.reset(envs[i], size)
                        ret[i], length[i] = 0.0, 0
                    elif length[i] >= limit:
                        raise _envs.episode_never_ended(envs[i])
                    obs[i] = next_obs
                now = self.num_timesteps
                # Target updates and training rounds due at the multiples of their intervals
                # crossed by this step of the k copies (exactly one or none when k = 1).
                self._pending_target_updates += now // target_every - before // target_every
                starts = self._learning_starts_at
                rounds = now // train_freq - max(before, starts) // train_freq
                if now > starts and rounds > 0:
                    self.train(cfg.gradient_steps * rounds)
                    cb.on_update(self, self.last_loss)
                if not cb.on_step(self):
                    break
        finally:
            cb.on_training_end(self)
        return self

    def train(self, gradient_steps: int) -> float:
        """``gradient_steps`` updates on fresh uniform samples; returns the mean loss."""
        import tensorflow as tf

        if self._train_round is None:
            self._train_round = self._train_round_fn.get_concrete_function()
        obs, actions, rewards, next_obs, terminated = self.replay.sample(
            self.config.batch_size, self.rng, n_batches=gradient_steps
        )
        packed = np.concatenate(
            [obs, actions[..., None], rewards[..., None], next_obs, terminated[..., None]],
            axis=-1,
            dtype=np.float32,
        )
        loss, ok, flat = self._train_round(tf.constant(packed), tf.constant(self._target_keep()))
        self._mirror.refresh(flat.numpy())
        loss = float(loss)
        if not bool(ok) or not np.isfinite(loss):
            raise TrainingDiverged(
                f"training stopped at step {self.num_timesteps}: the loss became NaN or inf; "
                "the weights of the last good step are kept (and any saved checkpoint); "
                "lower --learning-rate or --max-grad-norm, or check the env's rewards"
            )
        self.last_loss = loss
        return loss

    # ---- saving ----------------------------------------------------------------------------
    def saved_networks(self) -> dict[str, Any]:
        return {MODEL_FILE: self.q_net}

    def _after_load(self) -> None:
        self.target_net.set_weights(self.q_net.get_weights())
        # A saved model comes without its replay buffer: learning again starts with a
        # fresh warm-up, instead of training on the first few transitions.
        self._learning_starts_at = self.num_timesteps + self.config.learning_starts

    # ---- checkpoints (resume) ------------------------------------------------------------
    def agent_file_fields(self) -> dict[str, Any]:
        fields: dict[str, Any] = {"exploration_rate": float(self.exploration_rate)}  # predict()
        if self._schedule is not None:  # learn(reset_schedule=False) after load goes on
            fields["epsilon_schedule"] = list(self._schedule)
        return fields

    def restore_agent_file_fields(self, meta: dict[str, Any]) -> None:
        if "exploration_rate" in meta:
            self.exploration_rate = float(meta["exploration_rate"])
        schedule = meta.get("epsilon_schedule")
        if isinstance(schedule, list) and len(schedule) == 3:  # else: a new schedule
            self._restore_schedule(schedule)

    def _restore_schedule(self, schedule: Any) -> None:
        """The epsilon schedule (unit, start, span) as agent.json or a checkpoint kept it."""
        if schedule is not None:
            unit, first, span = schedule
            self._schedule = (str(unit), int(first), int(span))

    def save_checkpoint(self, path: str | Path, extra: dict[str, Any] | None = None) -> Path:
        """Everything needed to continue training exactly: weights, target net, optimizer,
        replay buffer, epsilon schedule, counters, RNG state and the env copies mid-episode."""
        from rlgen.agents import checkpoint as ckpt

        self._sync_config()  # first: the state below holds what it applies

        arrays = {f"target_{i}": w for i, w in enumerate(self.target_net.get_weights())}
        arrays.update(ckpt.optimizer_arrays(self.optimizer, "opt_"))
        state = {
            "rng": ckpt.rng_state(self.rng),
            "schedule": self._schedule,
            "pending_target_updates": self._pending_target_updates,
            "learning_starts_at": self._learning_starts_at,
            "exploration_rate": self.exploration_rate,
            "last_loss": self.last_loss,
            "obs": None if self._obs is None else np.asarray(self._obs).tolist(),
            "ep_return": self._ep_return,
            "ep_len": self._ep_len,
            "episode_log": self.episode_log,
            "extra": extra or {},
        }

        def files(folder: Path) -> None:
            self.save(folder)
            self.replay.save(folder / "replay.npz")

        envs = self._envs if self._envs is not None else [self.env]
        if self._obs is not None:
            envs = envs[: len(self._obs)]  # the copies in use (more may be kept, unused)
        return ckpt.write_checkpoint(path, files, arrays, state, env=envs)

    @classmethod
    def load_checkpoint(cls, path: str | Path, env: Any = None) -> DQNAgent:
        """An agent restored from :meth:`save_checkpoint`, ready to continue ``learn``: in
        the env saved with it, mid-episode, or in ``env`` (new episodes) when given."""
        from rlgen.agents import checkpoint as ckpt

        path = Path(path).expanduser()
        state, arrays, envs = ckpt.read_checkpoint(path, with_env=env is None)
        if envs is not None and not isinstance(envs, list):
            raise ckpt.corrupt(path, "env state")
        agent = cls.load(path, env=env if env is not None else (envs[0] if envs else None))
        n = len(agent.target_net.get_weights())
        try:
            agent.target_net.set_weights([arrays[f"target_{i}"] for i in range(n)])
        except (KeyError, ValueError):
            raise ckpt.corrupt(path, "target network") from None
        ckpt.restore_optimizer(agent.optimizer, arrays, "opt_")
        try:
            agent.replay = ReplayBuffer.load(path / "replay.npz")
        except UsageError as err:
            raise UsageError(f"{err}; {ckpt.RESUME_FIX}") from None
        try:
            ckpt.restore_rng(agent.rng, state["rng"])
            agent._restore_schedule(state["schedule"])
            agent._pending_target_updates = int(state["pending_target_updates"])
            # the buffer came back with it; checkpoints before this field began at step 0
            agent._learning_starts_at = int(
                state.get("learning_starts_at", agent.config.learning_starts)
            )
            agent.exploration_rate = float(state["exploration_rate"])
            agent.last_loss = state["last_loss"]
            agent.episode_log = list(state["episode_log"])
            if envs and state["obs"] is not None:
                agent._envs = envs
                agent._obs = np.asarray(state["obs"], np.float32).reshape(len(envs), -1)
                agent._ep_return = [float(r) for r in state["ep_return"]]
                agent._ep_len = [int(n) for n in state["ep_len"]]
                if not len(agent._ep_return) == len(agent._ep_len) == len(envs):
                    raise ValueError("one return and length per env copy")
        except (KeyError, TypeError, ValueError):
            raise ckpt.corrupt(path, "state.json fields") from None
        agent.checkpoint_extra = state.get("extra", {})
        return agent


DQN = DQNAgent  # Stable-Baselines3's name: ``from rlgen.agents import DQN``
