"""Deep Q-Network agent: Keras Q-network, target network, Double-DQN targets, Huber loss.

Speed: acting and training go through ``tf.function``s with fixed input signatures fed
``tf.Tensor``s (no ``model.predict``/``fit`` in the loop), and a whole training round of
``gradient_steps`` updates runs inside one compiled call on batches sampled in one draw.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np

from rlgen.agents.callbacks import Callback, CallbackList, ProgressBarCallback
from rlgen.agents.configs import DQNConfig, dqn_config_for
from rlgen.agents.envs import check_spaces, resolve_env
from rlgen.agents.replay import ReplayBuffer
from rlgen.agents.saving import AGENT_FILE, agent_from_file, write_agent_file
from rlgen.errors import TrainingDiverged, UsageError
from rlgen.runs import atomic_path
from rlgen.runs import load_model as load_keras_model

__all__ = ["DQNAgent", "TrainingDiverged", "build_mlp", "load_keras_model"]

MODEL_FILE = "model.keras"


def _tf():
    from rlgen import runtime

    if not runtime.is_configured():  # the API used directly: agents run fastest on one thread
        runtime.configure(runtime.RuntimeConfig(), default_threads=1)
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


class DQNAgent:
    """Deep Q-learning for a Gymnasium env with a Box observation and Discrete actions.

    ``config=None`` takes the tuned preset for the env id (general defaults if none).
    """

    algorithm = "dqn"

    def __init__(
        self,
        env_or_id: Any = None,
        config: DQNConfig | None = None,
        seed: int = 0,
        *,
        spaces: tuple[int, int] | None = None,
    ) -> None:
        if env_or_id is None:
            if spaces is None:
                raise UsageError("DQNAgent needs an env id or gymnasium.Env")
            self.env, self.env_id = None, None
            self.obs_dim, self.n_actions = spaces
        else:
            self.env, self.env_id = resolve_env(env_or_id)
            self.obs_dim, self.n_actions = check_spaces(self.env, self.env_id, "DQN")
        if seed < 0:
            raise UsageError(f"--seed must be >= 0, got {seed}")
        self.config = config if config is not None else dqn_config_for(self.env_id)
        self.seed = int(seed)
        self.rng = np.random.default_rng(seed)
        self.num_timesteps = 0
        self.num_episodes = 0
        self.exploration_rate = self.config.exploration_initial_eps
        self.last_loss: float | None = None
        self.last_eval: dict[str, float] | None = None
        self.episode_log: list[dict[str, Any]] = []
        self.replay = ReplayBuffer(self.config.buffer_size, self.obs_dim)
        self._obs: np.ndarray | None = None
        self._schedule: tuple[int, int] | None = None  # (first step, span) of the epsilon decay
        self._ep_return = 0.0
        self._ep_len = 0
        self._build()

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
        # The training loop acts on one observation at a time: a fixed shape lets XLA compile
        # it once (about 20% cheaper a call); act() keeps the any-batch-size function.
        one_obs = tf.TensorSpec([1, self.obs_dim], tf.float32)
        self._greedy_one = tf.function(
            self._greedy_py, input_signature=[one_obs], jit_compile=cfg.jit_compile
        ).get_concrete_function()
        batch = [
            tf.TensorSpec([None, None, self.obs_dim], tf.float32),
            tf.TensorSpec([None, None], tf.int32),
            tf.TensorSpec([None, None], tf.float32),
            tf.TensorSpec([None, None, self.obs_dim], tf.float32),
            tf.TensorSpec([None, None], tf.float32),
        ]
        self._train_round_fn = tf.function(
            self._train_round_py, input_signature=batch, jit_compile=cfg.jit_compile
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
        self._update_target_fn = tf.function(
            self._update_target_py, input_signature=[tf.TensorSpec([], tf.float32)]
        )
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
        next_q_target = self.target_net(next_obs, training=False)
        if cfg.double_dqn:
            # One forward pass of the online net over s and s' together (cheaper than two).
            q_both = self.q_net(tf.concat([obs, next_obs], axis=0), training=True)
            q, next_q_online = tf.split(q_both, 2, axis=0)
            next_a = tf.argmax(next_q_online, axis=1, output_type=tf.int32)
            next_q = tf.reduce_sum(next_q_target * tf.one_hot(next_a, self.n_actions), axis=1)
        else:
            q = self.q_net(obs, training=True)
            next_q = tf.reduce_max(next_q_target, axis=1)
        target = tf.stop_gradient(rewards + cfg.gamma * (1.0 - terminated) * next_q)
        q_taken = tf.reduce_sum(q * tf.one_hot(actions, self.n_actions), axis=1)
        err = tf.abs(q_taken - target)
        quad = tf.minimum(err, cfg.huber_delta)
        return tf.reduce_mean(0.5 * quad * quad + cfg.huber_delta * (err - quad))

    def _train_round_py(self, obs, actions, rewards, next_obs, terminated):
        """``n`` gradient steps on ``n`` pre-sampled batches in one compiled call.

        A step whose loss or gradient norm is not finite is not applied and ends the round,
        so the weights stay those of the last good step. Returns (mean loss, all finite).
        """
        import tensorflow as tf

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
        return total / tf.cast(done, tf.float32), ok

    def _update_target_py(self, keep):
        """target <- online + keep * (target - online); keep = (1 - tau)^k for k updates."""
        for t, s in zip(self.target_net.weights, self.q_net.weights):
            t.assign(s if self.config.tau == 1.0 else s + keep * (t - s))

    def _sync_target(self) -> None:
        """Apply the target updates due since the last training round in one call.

        The target net is read only by training, and the online net changes only in
        training, so k hard copies (or k soft updates t <- tau*s + (1-tau)*t, which compose
        to s + (1-tau)^k (t - s)) made between two rounds equal one made just before the
        next round: same result as updating every ``target_update_interval`` steps, without
        thousands of small calls.
        """
        k = self._pending_target_updates
        if k:
            self._update_target_fn(np.float32((1.0 - self.config.tau) ** k))
            self._pending_target_updates = 0

    # ---- acting ----------------------------------------------------------------------------
    def _is_single(self, obs: np.ndarray) -> bool:
        """One observation (the env's shape, or flat) rather than a batch of them."""
        shape = getattr(getattr(self.env, "observation_space", None), "shape", None)
        if shape is not None and obs.shape == tuple(shape):
            return True
        return obs.ndim <= 1 and obs.size == self.obs_dim

    def act(self, obs: Any, greedy: bool = True) -> Any:
        """The action for one observation (an int) or a batch (an int array).

        ``greedy=False`` acts epsilon-greedily with the current exploration rate.
        """
        import tensorflow as tf

        obs = np.asarray(obs, np.float32)
        single = self._is_single(obs)
        batch = obs.reshape(1 if single else -1, self.obs_dim)
        actions = self._greedy(tf.constant(batch)).numpy()
        if not greedy:
            explore = self.rng.random(len(actions)) < self.exploration_rate
            actions = np.where(
                explore, self.rng.integers(self.n_actions, size=len(actions)), actions
            )
        return int(actions[0]) if single else actions

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
        total_steps: int,
        callbacks: list[Callback] | None = None,
        progress: bool = True,
        reset_schedule: bool = True,
    ) -> DQNAgent:
        """Train for ``total_steps`` more env steps; the epsilon schedule spans them, unless
        ``reset_schedule=False`` continues the schedule of an earlier call (resuming)."""
        import tensorflow as tf

        if isinstance(total_steps, bool) or not isinstance(total_steps, (int, np.integer)):
            raise UsageError(f"--steps must be a whole number, got {total_steps!r}")
        if total_steps <= 0:
            raise UsageError(f"--steps must be > 0, got {total_steps}; give a positive step count")
        if self.env is None:
            raise UsageError("this agent has no environment; load it with an env to train it")
        cfg = self.config
        cbs = list(callbacks or [])
        if progress:
            cbs.append(ProgressBarCallback(int(total_steps)))
        cb = CallbackList(cbs)
        end = self.num_timesteps + int(total_steps)
        if reset_schedule or self._schedule is None:
            self._schedule = (self.num_timesteps, int(total_steps))
        start, span = self._schedule
        env, rng, buf, n_actions = self.env, self.rng, self.replay, self.n_actions
        if self._obs is None:
            self._obs, _ = env.reset(seed=self.seed)
            self._ep_return, self._ep_len = 0.0, 0
        obs = np.asarray(self._obs, np.float32).reshape(-1)
        t0 = time.perf_counter()
        cb.on_training_start(self)
        try:
            while self.num_timesteps < end:
                eps = self._epsilon((self.num_timesteps - start) / span)
                self.exploration_rate = eps
                if self.num_timesteps < cfg.learning_starts or rng.random() < eps:
                    action = int(rng.integers(n_actions))
                else:
                    action = int(self._greedy_one(tf.constant(obs[None])).numpy()[0])
                next_obs, reward, terminated, truncated, _ = env.step(action)
                next_obs = np.asarray(next_obs, np.float32).reshape(-1)
                buf.add(obs, action, reward, next_obs, terminated)
                self.num_timesteps += 1
                self._ep_return += float(reward)
                self._ep_len += 1
                if terminated or truncated:
                    self.num_episodes += 1
                    episode = {
                        "episode": self.num_episodes,
                        "step": self.num_timesteps,
                        "return": self._ep_return,
                        "length": self._ep_len,
                        "epsilon": eps,
                        "loss": self.last_loss,
                        "seconds": time.perf_counter() - t0,
                    }
                    self.episode_log.append(episode)
                    cb.on_episode_end(self, episode)
                    next_obs, _ = env.reset()
                    next_obs = np.asarray(next_obs, np.float32).reshape(-1)
                    self._ep_return, self._ep_len = 0.0, 0
                obs = next_obs
                self._obs = obs
                if self.num_timesteps % cfg.target_update_interval == 0:
                    self._pending_target_updates += 1
                if (
                    self.num_timesteps > cfg.learning_starts
                    and self.num_timesteps % cfg.train_freq == 0
                ):
                    self.train(cfg.gradient_steps)
                    cb.on_update(self, self.last_loss)
                if not cb.on_step(self):
                    break
        finally:
            cb.on_training_end(self)
        return self

    def train(self, gradient_steps: int) -> float:
        """``gradient_steps`` updates on fresh uniform samples; returns the mean loss."""
        import tensorflow as tf

        self._sync_target()
        if self._train_round is None:
            self._train_round = self._train_round_fn.get_concrete_function()
        batch = self.replay.sample(self.config.batch_size, self.rng, n_batches=gradient_steps)
        loss, ok = self._train_round(*(tf.constant(a) for a in batch))
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
    def save(self, path: str | Path) -> Path:
        """Write ``model.keras`` (the Q-network) and ``agent.json`` into folder ``path``."""
        path = Path(path)
        path.mkdir(parents=True, exist_ok=True)
        with atomic_path(path / MODEL_FILE) as tmp:
            self.q_net.save(tmp)
        write_agent_file(self, path)
        return path

    @classmethod
    def load(cls, path: str | Path, env: Any = None) -> DQNAgent:
        """An agent saved by :meth:`save`; its env is remade from the saved id unless given."""
        path = Path(path)
        agent = agent_from_file(cls, DQNConfig, path, env)
        model = load_keras_model(path / MODEL_FILE)
        try:
            agent.q_net.set_weights(model.get_weights())
        except ValueError as err:
            raise UsageError(
                f"model file {path / MODEL_FILE} does not fit {AGENT_FILE}: {err}"
            ) from None
        agent.target_net.set_weights(model.get_weights())
        return agent

    # ---- checkpoints (resume) ------------------------------------------------------------
    def save_checkpoint(self, path: str | Path, extra: dict[str, Any] | None = None) -> Path:
        """Everything needed to continue training exactly: weights, target net, optimizer,
        replay buffer, epsilon schedule, counters, RNG state and the env mid-episode."""
        from rlgen.agents import checkpoint as ckpt

        arrays = {f"target_{i}": w for i, w in enumerate(self.target_net.get_weights())}
        arrays.update(ckpt.optimizer_arrays(self.optimizer, "opt_"))
        state = {
            "rng": ckpt.rng_state(self.rng),
            "schedule": self._schedule,
            "pending_target_updates": self._pending_target_updates,
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

        return ckpt.write_checkpoint(path, files, arrays, state, env=self.env)

    @classmethod
    def load_checkpoint(cls, path: str | Path) -> DQNAgent:
        """An agent restored from :meth:`save_checkpoint`, ready to continue ``learn``."""
        from rlgen.agents import checkpoint as ckpt

        path = Path(path)
        state, arrays, env = ckpt.read_checkpoint(path)
        agent = cls.load(path, env=env)
        n = len(agent.target_net.get_weights())
        try:
            agent.target_net.set_weights([arrays[f"target_{i}"] for i in range(n)])
        except (KeyError, ValueError):
            raise UsageError(f"checkpoint {path} is corrupt (target network)") from None
        ckpt.restore_optimizer(agent.optimizer, arrays, "opt_")
        agent.replay = ReplayBuffer.load(path / "replay.npz")
        try:
            ckpt.restore_rng(agent.rng, state["rng"])
            agent._schedule = tuple(state["schedule"]) if state["schedule"] else None
            agent._pending_target_updates = int(state["pending_target_updates"])
            agent.exploration_rate = float(state["exploration_rate"])
            agent.last_loss = state["last_loss"]
            agent.episode_log = list(state["episode_log"])
            if env is not None and state["obs"] is not None:
                agent._obs = np.asarray(state["obs"], np.float32)
                agent._ep_return, agent._ep_len = float(state["ep_return"]), int(state["ep_len"])
        except (KeyError, TypeError, ValueError):
            raise UsageError(f"checkpoint {path} is corrupt (state.json fields)") from None
        agent.checkpoint_extra = state.get("extra", {})
        return agent
