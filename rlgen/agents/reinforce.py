"""REINFORCE (Williams 1992) with a learned state-value baseline and return normalisation.

Each update collects ``episodes_per_update`` episodes side by side (copies of the env run in
lock-step, so one compiled forward pass picks all their actions), computes discounted
returns-to-go, and makes one compiled update of the policy and the baseline.
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
from rlgen.agents.callbacks import Callback
from rlgen.agents.configs import ReinforceConfig, reinforce_config_for
from rlgen.agents.saving import MODEL_FILE
from rlgen.errors import TrainingDiverged

VALUE_FILE = "value.keras"


def discounted_returns(rewards: np.ndarray, gamma: float, last: float = 0.0) -> np.ndarray:
    """Returns-to-go G_t = r_t + gamma * G_{t+1} of one episode; G after the end is ``last``:
    0 when the episode terminated, the baseline's V(s_T) when a time limit cut it."""
    out = np.zeros(len(rewards), np.float32)
    g = float(last)
    for t in range(len(rewards) - 1, -1, -1):
        g = float(rewards[t]) + gamma * g
        out[t] = g
    return out


# (observations, actions, rewards, s_T or None, the return reported)
Episode = tuple[np.ndarray, np.ndarray, np.ndarray, Any, float]


class ReinforceAgent(BaseAgent):
    """Monte-Carlo policy gradient with a softmax policy over a Discrete action space.

    The baseline V(s) is fitted to the returns by mean squared error; the policy follows
    (G_t - V(s_t)), standardised over the batch when ``normalize_returns`` (lower-variance
    gradients with the same expectation up to scale: Sutton & Barto 13.4). An episode cut by
    a time limit (truncated, not terminated) continues its returns from V(s_T), as
    Stable-Baselines3 does (Pardo et al. 2018): the task did not end there.
    """

    algorithm = "reinforce"
    config_cls = ReinforceConfig
    LIVE_FIELDS = ("learning_rate", "value_learning_rate", "gamma", "episodes_per_update", "n_envs")

    def __init__(
        self,
        env_or_id: Any = None,
        config: ReinforceConfig | None = None,
        seed: int | None = 0,
        *,
        spaces: tuple[int, int] | None = None,
        tensorboard_log: str | os.PathLike | None = None,
        **fields: Any,
    ) -> None:
        super().__init__(
            env_or_id, config, seed, spaces=spaces, tensorboard_log=tensorboard_log, fields=fields
        )
        self.last_value_loss: float | None = None
        self.last_entropy: float | None = None
        self._build()

    @classmethod
    def default_config(cls, env_id: str | None) -> ReinforceConfig:
        return reinforce_config_for(env_id)

    def _apply_config(self, before: dict[str, Any]) -> None:
        self.policy_opt.learning_rate = self.config.learning_rate
        self.value_opt.learning_rate = self.config.value_learning_rate

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
        self._values = tf.function(
            lambda obs: self.value_net(obs, training=False)[:, 0], input_signature=[obs_spec]
        )
        sig = [obs_spec, tf.TensorSpec([None], tf.int32), tf.TensorSpec([None], tf.float32)]
        self._update = tf.function(self._update_py, input_signature=sig)
        self._mirror = NumpyMirror(self.policy_net, "tanh")
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
        return policy_loss, value_loss, entropy, ok, flat_weights(self.policy_net)

    # ---- acting --------------------------------------------------------------------------
    def _choose(self, logits: np.ndarray, greedy: bool) -> np.ndarray:
        if greedy:
            return logits.argmax(axis=1)
        z = np.exp(logits - logits.max(axis=1, keepdims=True))
        cdf = np.cumsum(z / z.sum(axis=1, keepdims=True), axis=1)
        u = self.rng.random((len(cdf), 1))
        return np.minimum((u > cdf).sum(axis=1), self.n_actions - 1)

    def act(self, obs: Any, greedy: bool = True) -> Any:
        """The most likely action (greedy) or a sampled one, for one observation or a batch."""
        import tensorflow as tf

        batch, single = self._as_batch(obs)
        actions = self._choose(self._logits(tf.constant(batch)).numpy(), greedy)
        return int(actions[0]) if single else actions.astype(np.int64)

    # ---- learning ------------------------------------------------------------------------
    def _collect(self, k: int) -> list[Episode]:
        """Run ``k`` episodes (``episodes_per_update``, fewer for the last batch of an episode
        budget) with the stochastic policy, ``n_envs`` at a time (a custom env instance runs
        its episodes one after another, as does an env gymnasium cannot remake: a custom env,
        or one in a wrapper that does not record its arguments). Each is (observations,
        actions, rewards, s_T), where s_T is the last observation of an episode a time limit
        cut, else None, and the return reported (:func:`rlgen.agents.envs.step`'s)."""
        copies = self.env_source is not None  # else one env, whatever n_envs says
        envs = self.side_by_side_envs(min(self.config.n_envs, k) if copies else 1)
        episodes = []
        while len(episodes) < k:
            group = envs[: k - len(episodes)]
            obs = []
            for env in group:
                # Each episode's seed comes from the agent's RNG (kept by checkpoints): runs
                # of different seeds share no start states, and resuming stays exact.
                seed = int(self.rng.integers(2**31 - 1))
                obs.append(_envs.reset(env, self.obs_dim, seed=seed))
            trajs: list[dict[str, Any]] = [
                {"o": [], "a": [], "r": [], "cut": None, "recorded": None} for _ in group
            ]
            active = list(range(len(group)))
            steps, limit = 0, _envs.MAX_EPISODE_STEPS
            while active:
                if steps >= limit:  # the episodes run in lock-step: all this long
                    raise _envs.episode_never_ended(group[active[0]])
                steps += 1
                batch = np.stack([obs[i] for i in active])
                actions = self._choose(self._mirror(batch), greedy=False)
                still = []
                for i, a in zip(active, actions):
                    o, r, term, trunc, recorded = _envs.step(group[i], int(a), self.obs_dim)
                    trajs[i]["o"].append(obs[i])
                    trajs[i]["a"].append(int(a))
                    trajs[i]["r"].append(r)
                    obs[i] = o
                    if not (term or trunc):
                        still.append(i)
                        continue
                    trajs[i]["recorded"] = recorded
                    if trunc and not term:
                        trajs[i]["cut"] = obs[i]
                active = still
            for t in trajs:
                rewards = np.asarray(t["r"])
                ret = float(np.sum(rewards)) if t["recorded"] is None else t["recorded"]
                episodes.append(
                    (np.stack(t["o"]), np.asarray(t["a"], np.int32), rewards, t["cut"], ret)
                )
        return episodes

    def _returns(self, batch: list[Episode]) -> np.ndarray:
        """Returns-to-go of a batch of episodes, those a time limit cut continued from V(s_T)."""
        import tensorflow as tf

        cut = [b[3] for b in batch if b[3] is not None]
        values = iter(self._values(tf.constant(np.stack(cut))).numpy() if cut else [])
        gamma = self.config.gamma
        return np.concatenate(
            [
                discounted_returns(rewards, gamma, next(values) if s_t is not None else 0.0)
                for _, _, rewards, s_t, _ in batch
            ]
        )

    def learn(
        self,
        total_steps: int | None = None,
        callbacks: Callback | list[Callback] | None = None,
        progress: bool = True,
        episodes: int | None = None,
        total_timesteps: int | None = None,
        callback: Callback | list[Callback] | None = None,
        *,
        progress_bar: bool | None = None,
        tb_log_name: str | None = None,
        reset_num_timesteps: bool = True,
        log_interval: int | None = None,
    ) -> ReinforceAgent:
        """Train until ``episodes`` more episodes (or ``total_steps`` more env steps, also
        spelt ``total_timesteps`` as in Stable-Baselines3) are done. ``callback`` and
        ``progress_bar`` (SB3's names) are the same as ``callbacks`` and ``progress``.
        An episode budget is met exactly (the last batch is cut to fit); updates use whole
        episodes, so the last batch of a step budget may go past it.

        With the agent's ``tensorboard_log``, events go to ``<tb_log_name>_<n>`` under it: a
        new folder per call, or the latest with ``reset_num_timesteps=False`` (as in SB3;
        ``num_timesteps`` always goes on counting)."""
        import tensorflow as tf

        unit, amount = check_budget(total_steps, episodes, total_timesteps)
        ignored_log_interval(log_interval)
        self._check_can_learn()
        end = (self.num_timesteps if unit == "step" else self.num_episodes) + amount
        cb = self._learn_callbacks(
            callbacks,
            callback,
            progress,
            progress_bar,
            amount,
            unit,
            tb_log_name,
            bool(reset_num_timesteps),
        )
        self._mirror.refresh()  # the weights may have been set from outside since the last call
        t0 = time.perf_counter()
        cb.on_training_start(self)
        try:
            while (self.num_timesteps if unit == "step" else self.num_episodes) < end:
                k = self.config.episodes_per_update
                if unit == "episode":
                    k = min(k, end - self.num_episodes)
                batch = self._collect(k)
                obs = np.concatenate([b[0] for b in batch]).astype(np.float32)
                actions = np.concatenate([b[1] for b in batch])
                returns = self._returns(batch)
                p_loss, v_loss, entropy, ok, flat = self._update(
                    tf.constant(obs), tf.constant(actions), tf.constant(returns)
                )
                self._mirror.refresh(flat.numpy())
                if not bool(ok):
                    raise TrainingDiverged(
                        f"training stopped at episode {self.num_episodes}: the loss became NaN "
                        "or inf; the last good weights are kept (and any saved checkpoint); "
                        "lower --learning-rate or check the env's rewards"
                    )
                self.last_loss = float(p_loss)
                self.last_value_loss = float(v_loss)
                self.last_entropy = float(entropy)
                for _, _, rewards, _, ret in batch:
                    self.num_timesteps += len(rewards)
                    self._record_episode(ret, len(rewards), None, t0, cb)
                cb.on_update(self, self.last_loss)
                if not cb.on_step(self):
                    break
        finally:
            cb.on_training_end(self)
        return self

    def other_losses(self) -> dict[str, float]:
        if self.last_value_loss is None or self.last_entropy is None:
            return {}
        # SB3's policy-gradient agents log the entropy term as a loss: its negative
        return {"train/value_loss": self.last_value_loss, "train/entropy_loss": -self.last_entropy}

    # ---- saving --------------------------------------------------------------------------
    def saved_networks(self) -> dict[str, Any]:
        return {MODEL_FILE: self.policy_net, VALUE_FILE: self.value_net}

    # ---- checkpoints (resume) ------------------------------------------------------------
    def save_checkpoint(self, path: str | Path, extra: dict[str, Any] | None = None) -> Path:
        """Weights, both optimizers, counters, RNG state and episode log. Episodes start
        fresh after each update (reset with a seed from the RNG), so no env state is kept."""
        from rlgen.agents import checkpoint as ckpt

        self._sync_config()  # first: the state below holds what it applies

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
    def load_checkpoint(cls, path: str | Path, env: Any = None) -> ReinforceAgent:
        """An agent restored from :meth:`save_checkpoint`, ready to continue ``learn``; its
        env is remade from the saved one unless ``env`` is given (needed for a custom env)."""
        from rlgen.agents import checkpoint as ckpt

        path = Path(path).expanduser()
        state, arrays, _ = ckpt.read_checkpoint(path)
        agent = cls.load(path, env=env)
        ckpt.restore_optimizer(agent.policy_opt, arrays, "popt_")
        ckpt.restore_optimizer(agent.value_opt, arrays, "vopt_")
        try:
            ckpt.restore_rng(agent.rng, state["rng"])
            agent.last_loss = state["last_loss"]
            agent.episode_log = list(state["episode_log"])
        except (KeyError, TypeError, ValueError):
            raise ckpt.corrupt(path, "state.json fields") from None
        agent.checkpoint_extra = state.get("extra", {})
        return agent
