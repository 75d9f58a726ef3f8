"""REINFORCE (Williams 1992) with a learned state-value baseline and return normalisation.

Each update collects ``episodes_per_update`` episodes side by side (copies of the env run in
lock-step, so one compiled forward pass picks all their actions), computes discounted
returns-to-go, and makes one compiled update of the policy and the baseline.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np

from rlgen.agents.callbacks import Callback, CallbackList, ProgressBarCallback
from rlgen.agents.configs import ReinforceConfig, reinforce_config_for
from rlgen.agents.dqn import (
    AGENT_FILE,
    MODEL_FILE,
    TrainingDiverged,
    _tf,
    build_mlp,
    load_keras_model,
)
from rlgen.agents.envs import check_spaces, make_env, resolve_env
from rlgen.agents.saving import agent_from_file, write_agent_file
from rlgen.errors import UsageError
from rlgen.runs import atomic_path

VALUE_FILE = "value.keras"


def discounted_returns(rewards: np.ndarray, gamma: float) -> np.ndarray:
    """Returns-to-go G_t = r_t + gamma * G_{t+1} of one episode (G after the end is 0)."""
    out = np.zeros(len(rewards), np.float32)
    g = 0.0
    for t in range(len(rewards) - 1, -1, -1):
        g = float(rewards[t]) + gamma * g
        out[t] = g
    return out


class ReinforceAgent:
    """Monte-Carlo policy gradient with a softmax policy over a Discrete action space.

    The baseline V(s) is fitted to the returns by mean squared error; the policy follows
    (G_t - V(s_t)), standardised over the batch when ``normalize_returns`` (lower-variance
    gradients with the same expectation up to scale: Sutton & Barto 13.4).
    """

    algorithm = "reinforce"

    def __init__(
        self,
        env_or_id: Any = None,
        config: ReinforceConfig | None = None,
        seed: int = 0,
        *,
        spaces: tuple[int, int] | None = None,
    ) -> None:
        if env_or_id is None:
            if spaces is None:
                raise UsageError("ReinforceAgent needs an env id or gymnasium.Env")
            self.env, self.env_id = None, None
            self.obs_dim, self.n_actions = spaces
        else:
            self.env, self.env_id = resolve_env(env_or_id)
            self.obs_dim, self.n_actions = check_spaces(self.env, self.env_id, "REINFORCE")
        if seed < 0:
            raise UsageError(f"--seed must be >= 0, got {seed}")
        self.config = config if config is not None else reinforce_config_for(self.env_id)
        self.seed = int(seed)
        self.rng = np.random.default_rng(seed)
        self.num_timesteps = 0
        self.num_episodes = 0
        self.last_loss: float | None = None
        self.last_eval: dict[str, float] | None = None
        self.episode_log: list[dict[str, Any]] = []
        self._envs: list[Any] | None = None
        self._build()

    def _build(self) -> None:
        tf = _tf()
        import keras

        cfg = self.config
        h = cfg.hidden_sizes
        self.policy_net = build_mlp(self.obs_dim, self.n_actions, h, self.seed, "policy", "tanh")
        self.value_net = build_mlp(self.obs_dim, 1, h, self.seed + 7_919, "value", "tanh")
        self.policy_opt = keras.optimizers.Adam(learning_rate=cfg.learning_rate)
        self.value_opt = keras.optimizers.Adam(learning_rate=cfg.value_learning_rate)
        self.policy_opt.build(self.policy_net.trainable_variables)
        self.value_opt.build(self.value_net.trainable_variables)
        obs_spec = tf.TensorSpec([None, self.obs_dim], tf.float32)
        self._logits = tf.function(
            lambda obs: self.policy_net(obs, training=False), input_signature=[obs_spec]
        )
        sig = [obs_spec, tf.TensorSpec([None], tf.int32), tf.TensorSpec([None], tf.float32)]
        self._update = tf.function(self._update_py, input_signature=sig)
        self._loss_fn = tf.function(self.losses, input_signature=sig)

    # ---- the update ----------------------------------------------------------------------
    def losses(self, obs, actions, returns):
        """(policy loss, value loss, mean entropy) of a batch of (s_t, a_t, G_t)."""
        import tensorflow as tf

        cfg = self.config
        values = tf.squeeze(self.value_net(obs, training=True), axis=1)
        adv = returns - tf.stop_gradient(values)
        if cfg.normalize_returns:
            mean, var = tf.nn.moments(adv, axes=[0])
            adv = (adv - mean) / (tf.sqrt(var) + 1e-8)
        logits = self.policy_net(obs, training=True)
        logp = tf.nn.log_softmax(logits)
        logp_taken = tf.reduce_sum(logp * tf.one_hot(actions, self.n_actions), axis=1)
        entropy = -tf.reduce_mean(tf.reduce_sum(tf.exp(logp) * logp, axis=1))
        policy_loss = -tf.reduce_mean(logp_taken * adv) - cfg.entropy_coef * entropy
        value_loss = 0.5 * tf.reduce_mean(tf.square(returns - values))
        return policy_loss, value_loss, entropy

    def _update_py(self, obs, actions, returns):
        import tensorflow as tf

        with tf.GradientTape(persistent=True) as tape:
            policy_loss, value_loss, entropy = self.losses(obs, actions, returns)
        pvars, vvars = self.policy_net.trainable_variables, self.value_net.trainable_variables
        pgrads, pnorm = tf.clip_by_global_norm(
            tape.gradient(policy_loss, pvars), self.config.max_grad_norm
        )
        vgrads = tape.gradient(value_loss, vvars)
        del tape
        ok = tf.reduce_all(
            [
                tf.math.is_finite(policy_loss),
                tf.math.is_finite(value_loss),
                tf.math.is_finite(pnorm),
            ]
        )

        def apply():
            self.policy_opt.apply_gradients(zip(pgrads, pvars))
            self.value_opt.apply_gradients(zip(vgrads, vvars))
            return tf.constant(True)

        ok = tf.cond(ok, apply, lambda: tf.constant(False))
        return policy_loss, value_loss, entropy, ok

    # ---- acting --------------------------------------------------------------------------
    def _is_single(self, obs: np.ndarray) -> bool:
        """One observation (the env's shape, or flat) rather than a batch of them."""
        shape = getattr(getattr(self.env, "observation_space", None), "shape", None)
        if shape is not None and obs.shape == tuple(shape):
            return True
        return obs.ndim <= 1 and obs.size == self.obs_dim

    def act(self, obs: Any, greedy: bool = True) -> Any:
        """The most likely action (greedy) or a sampled one, for one observation or a batch."""
        import tensorflow as tf

        obs = np.asarray(obs, np.float32)
        single = self._is_single(obs)
        batch = obs.reshape(1 if single else -1, self.obs_dim)
        logits = self._logits(tf.constant(batch)).numpy()
        if greedy:
            actions = logits.argmax(axis=1)
        else:
            z = np.exp(logits - logits.max(axis=1, keepdims=True))
            cdf = np.cumsum(z / z.sum(axis=1, keepdims=True), axis=1)
            u = self.rng.random((len(cdf), 1))
            actions = np.minimum((u > cdf).sum(axis=1), self.n_actions - 1)
        return int(actions[0]) if single else actions.astype(np.int64)

    # ---- learning ------------------------------------------------------------------------
    def _batch_envs(self) -> list[Any]:
        if self._envs is None:
            k = self.config.episodes_per_update
            if self.env_id is not None:
                self._envs = [self.env] + [make_env(self.env_id) for _ in range(k - 1)]
            else:  # a custom env instance: its episodes run one after another
                self._envs = [self.env]
        return self._envs

    def _collect(self) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
        """Run ``episodes_per_update`` episodes with the stochastic policy."""
        envs = self._batch_envs()
        k = self.config.episodes_per_update
        episodes = []
        while len(episodes) < k:
            group = envs[: k - len(episodes)]
            obs = []
            for env in group:
                # Episode n is reset with seed + n: reproducible, and fresh each time.
                o, _ = env.reset(seed=self.seed + self.num_episodes + len(episodes) + len(obs))
                obs.append(np.asarray(o, np.float32).reshape(-1))
            trajs: list[dict[str, list]] = [{"o": [], "a": [], "r": []} for _ in group]
            active = list(range(len(group)))
            while active:
                actions = self.act(np.stack([obs[i] for i in active]), greedy=False)
                still = []
                for i, a in zip(active, np.atleast_1d(actions)):
                    o, r, term, trunc, _ = group[i].step(int(a))
                    trajs[i]["o"].append(obs[i])
                    trajs[i]["a"].append(int(a))
                    trajs[i]["r"].append(float(r))
                    obs[i] = np.asarray(o, np.float32).reshape(-1)
                    if not (term or trunc):
                        still.append(i)
                active = still
            for t in trajs:
                episodes.append(
                    (np.stack(t["o"]), np.asarray(t["a"], np.int32), np.asarray(t["r"]))
                )
        return episodes

    def learn(
        self,
        total_steps: int | None = None,
        callbacks: list[Callback] | None = None,
        progress: bool = True,
        episodes: int | None = None,
    ) -> ReinforceAgent:
        """Train until ``episodes`` more episodes (or ``total_steps`` more env steps) are done;
        updates use whole batches of episodes, so the last batch may go past the budget."""
        import tensorflow as tf

        if total_steps is None and episodes is None:
            raise UsageError("give --episodes N (or total_steps) to train REINFORCE")
        for name, v in (("steps", total_steps), ("episodes", episodes)):
            if v is not None and (isinstance(v, bool) or int(v) != v or v <= 0):
                raise UsageError(f"--{name} must be > 0, got {v}; give a positive number")
        if self.env is None:
            raise UsageError("this agent has no environment; load it with an env to train it")
        unit = "episode" if episodes is not None else "step"
        end_ep = self.num_episodes + episodes if episodes is not None else None
        end_step = self.num_timesteps + total_steps if total_steps is not None else None
        cbs = list(callbacks or [])
        if progress:
            cbs.append(ProgressBarCallback(int(episodes or total_steps), unit=unit))
        cb = CallbackList(cbs)
        gamma = self.config.gamma
        t0 = time.perf_counter()
        cb.on_training_start(self)
        try:
            while (end_ep is None or self.num_episodes < end_ep) and (
                end_step is None or self.num_timesteps < end_step
            ):
                batch = self._collect()
                obs = np.concatenate([b[0] for b in batch]).astype(np.float32)
                actions = np.concatenate([b[1] for b in batch])
                returns = np.concatenate([discounted_returns(b[2], gamma) for b in batch])
                p_loss, v_loss, _, ok = self._update(
                    tf.constant(obs), tf.constant(actions), tf.constant(returns)
                )
                if not bool(ok):
                    raise TrainingDiverged(
                        f"training stopped at episode {self.num_episodes}: the loss became NaN "
                        "or inf; the last good weights are kept (and any saved checkpoint); "
                        "lower --learning-rate or check the env's rewards"
                    )
                self.last_loss = float(p_loss)
                self.last_value_loss = float(v_loss)
                for _, _, rewards in batch:
                    self.num_episodes += 1
                    self.num_timesteps += len(rewards)
                    episode = {
                        "episode": self.num_episodes,
                        "step": self.num_timesteps,
                        "return": float(np.sum(rewards)),
                        "length": len(rewards),
                        "epsilon": None,
                        "loss": self.last_loss,
                        "seconds": time.perf_counter() - t0,
                    }
                    self.episode_log.append(episode)
                    cb.on_episode_end(self, episode)
                cb.on_update(self, self.last_loss)
                if not cb.on_step(self):
                    break
        finally:
            cb.on_training_end(self)
        return self

    # ---- saving --------------------------------------------------------------------------
    def save(self, path: str | Path) -> Path:
        """Write ``model.keras`` (policy), ``value.keras`` (baseline) and ``agent.json``."""
        path = Path(path)
        path.mkdir(parents=True, exist_ok=True)
        with atomic_path(path / MODEL_FILE) as tmp:
            self.policy_net.save(tmp)
        with atomic_path(path / VALUE_FILE) as tmp:
            self.value_net.save(tmp)
        write_agent_file(self, path)
        return path

    @classmethod
    def load(cls, path: str | Path, env: Any = None) -> ReinforceAgent:
        """An agent saved by :meth:`save`; its env is remade from the saved id unless given."""
        path = Path(path)
        agent = agent_from_file(cls, ReinforceConfig, path, env)
        for net, name in ((agent.policy_net, MODEL_FILE), (agent.value_net, VALUE_FILE)):
            model = load_keras_model(path / name)
            try:
                net.set_weights(model.get_weights())
            except ValueError as err:
                raise UsageError(
                    f"model file {path / name} does not fit {AGENT_FILE}: {err}"
                ) from None
        return agent

    # ---- checkpoints (resume) ------------------------------------------------------------
    def save_checkpoint(self, path: str | Path, extra: dict[str, Any] | None = None) -> Path:
        """Weights, both optimizers, counters, RNG state and episode log. Episodes start
        fresh after each update (reset with seed + episode number), so no env state is kept."""
        from rlgen.agents import checkpoint as ckpt

        arrays = {
            **ckpt.optimizer_arrays(self.policy_opt, "popt_"),
            **ckpt.optimizer_arrays(self.value_opt, "vopt_"),
        }
        state = {
            "rng": ckpt.rng_state(self.rng),
            "last_loss": self.last_loss,
            "episode_log": self.episode_log,
            "extra": extra or {},
        }
        return ckpt.write_checkpoint(path, self.save, arrays, state)

    @classmethod
    def load_checkpoint(cls, path: str | Path) -> ReinforceAgent:
        """An agent restored from :meth:`save_checkpoint`, ready to continue ``learn``."""
        from rlgen.agents import checkpoint as ckpt

        path = Path(path)
        state, arrays, _ = ckpt.read_checkpoint(path)
        agent = cls.load(path)
        ckpt.restore_optimizer(agent.policy_opt, arrays, "popt_")
        ckpt.restore_optimizer(agent.value_opt, arrays, "vopt_")
        try:
            ckpt.restore_rng(agent.rng, state["rng"])
            agent.last_loss = state["last_loss"]
            agent.episode_log = list(state["episode_log"])
        except (KeyError, TypeError, ValueError):
            raise UsageError(f"checkpoint {path} is corrupt (state.json fields)") from None
        agent.checkpoint_extra = state.get("extra", {})
        return agent
