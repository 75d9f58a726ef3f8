"""Budgets in steps or episodes for both agents, env copies side by side (``n_envs``), and the
NumPy mirror the training loops act through staying equal to the Keras network."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest

from rlgen.agents import DQNAgent, ReinforceAgent
from rlgen.agents.configs import dqn_config_for, reinforce_config_for
from rlgen.errors import UsageError


def _small_dqn(**overrides):
    base = dict(learning_starts=100, train_freq=16, gradient_steps=2, buffer_size=5_000)
    return dqn_config_for("CartPole-v1", **{**base, **overrides})


@pytest.mark.parametrize("n_envs", [1, 3])
def test_dqn_counts_steps_updates_and_transitions_over_env_copies(n_envs):
    cfg = _small_dqn(n_envs=n_envs)
    agent = DQNAgent("CartPole-v1", cfg, seed=0)
    agent.learn(1_000, progress=False)
    now = agent.num_timesteps
    assert 1_000 <= now < 1_000 + n_envs
    assert len(agent.replay) == now  # every copy's transition is stored
    # Training rounds fall at the multiples of train_freq after learning_starts, in env steps
    # summed over the copies: the same number of gradient steps per transition for any n_envs.
    rounds = now // cfg.train_freq - cfg.learning_starts // cfg.train_freq
    assert int(agent.optimizer.iterations.numpy()) == cfg.gradient_steps * rounds
    assert sum(e["length"] for e in agent.episode_log) <= now
    assert len(agent._envs) == n_envs


def test_dqn_env_copies_run_different_episodes():
    agent = DQNAgent("CartPole-v1", _small_dqn(n_envs=4, learning_starts=10_000), seed=0)
    agent.learn(400, progress=False)
    # Four copies reset with four seeds: their first observations differ.
    first = agent.replay.obs[:4]
    assert len({tuple(row) for row in first.tolist()}) == 4


def test_dqn_episode_budget_and_its_epsilon_schedule():
    cfg = _small_dqn(exploration_fraction=0.5, exploration_final_eps=0.05)
    agent = DQNAgent("CartPole-v1", cfg, seed=1)
    agent.learn(episodes=7, progress=False)
    assert agent.num_episodes == 7 and len(agent.episode_log) == 7
    # Epsilon decays over half of the 7 episodes, so the last ones run at the final value.
    assert agent.episode_log[-1]["epsilon"] == pytest.approx(0.05)
    assert agent.episode_log[0]["epsilon"] > 0.5


def test_reinforce_step_budget():
    agent = ReinforceAgent("CartPole-v1", reinforce_config_for("CartPole-v1"), seed=0)
    agent.learn(total_steps=300, progress=False)
    per_update = agent.config.episodes_per_update
    # whole updates: the last one may pass the budget by at most one update's episodes
    assert 300 <= agent.num_timesteps < 300 + per_update * 500
    assert agent.num_episodes % per_update == 0
    assert agent.num_timesteps == sum(e["length"] for e in agent.episode_log)


def test_reinforce_episode_budget_is_exact():
    """50 episodes at 4 per update are 12 full batches and one of 2, not 13 of 4."""
    agent = ReinforceAgent("CartPole-v1", reinforce_config_for("CartPole-v1"), seed=0)
    agent.learn(episodes=10, progress=False)
    assert agent.config.episodes_per_update == 4
    assert agent.num_episodes == 10 and len(agent.episode_log) == 10
    agent.learn(episodes=3, progress=False)  # a budget below one batch
    assert agent.num_episodes == 13


@pytest.mark.parametrize(
    "kwargs, needle",
    [
        ({}, "exactly one training budget"),
        ({"total_steps": 100, "episodes": 3}, "exactly one training budget"),
        ({"episodes": 0}, "^episodes must be > 0"),
        ({"total_steps": 2.5}, "whole number"),
    ],
)
def test_bad_budgets(kwargs, needle):
    with pytest.raises(UsageError, match=needle):
        DQNAgent("CartPole-v1").learn(progress=False, **kwargs)
    with pytest.raises(UsageError, match=needle):
        ReinforceAgent("CartPole-v1").learn(progress=False, **kwargs)


class Custom(gym.Env):
    """An env that is not registered, so it cannot be copied by id."""

    observation_space = gym.spaces.Box(-1.0, 1.0, (3,), np.float32)
    action_space = gym.spaces.Discrete(2)

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        return np.zeros(3, np.float32), {}

    def step(self, action):
        return np.zeros(3, np.float32), 1.0, False, False, {}


def test_env_copies_need_an_env_gymnasium_can_remake():
    with pytest.raises(UsageError, match="gymnasium cannot remake this one"):
        DQNAgent(Custom(), _small_dqn(n_envs=2), seed=0)  # when built, not at learn()
    agent = DQNAgent(Custom(), _small_dqn(), seed=0)
    agent.config.n_envs = 2  # a config changed afterwards: refused where the copies are made
    with pytest.raises(UsageError, match="gymnasium cannot remake this one"):
        agent.learn(100, progress=False)
    with pytest.raises(ValueError, match="n_envs must be > 0"):
        _small_dqn(n_envs=0)


def test_numpy_mirror_equals_the_keras_network_after_training():
    agent = DQNAgent("CartPole-v1", _small_dqn(), seed=2)
    agent.learn(600, progress=False)
    obs = np.random.default_rng(0).normal(size=(64, 4)).astype(np.float32)
    keras_q = agent.q_net(obs).numpy()
    np.testing.assert_allclose(agent._mirror(obs), keras_q, rtol=1e-4, atol=1e-5)
    # Weights set from outside are picked up by the next learn call.
    agent.q_net.set_weights([w * 0 for w in agent.q_net.get_weights()])
    agent.learn(1, progress=False)
    assert not np.any(agent._mirror(obs))

    reinforce = ReinforceAgent("CartPole-v1", seed=0)
    reinforce.learn(episodes=8, progress=False)
    np.testing.assert_allclose(
        reinforce._mirror(obs), reinforce.policy_net(obs).numpy(), rtol=1e-4, atol=1e-5
    )


def test_reinforce_collects_episodes_with_n_envs_copies():
    cfg = reinforce_config_for("CartPole-v1", n_envs=2, episodes_per_update=4)
    agent = ReinforceAgent("CartPole-v1", cfg, seed=0)
    agent.learn(episodes=4, progress=False)
    assert len(agent._envs) == 2 and agent.num_episodes == 4
    # both copies were used (CartPole's state is None until its first reset)
    assert all(env.unwrapped.state is not None for env in agent._envs)
    one = ReinforceAgent("CartPole-v1", reinforce_config_for("CartPole-v1", n_envs=1), seed=0)
    one.learn(episodes=4, progress=False)
    assert len(one._envs) == 1 and one.num_episodes == 4


def test_a_config_changed_after_building_is_applied_or_refused_never_saved_unapplied(tmp_path):
    """agent.config.learning_rate = 0.5 kept training at the old rate, and hidden_sizes =
    (8,) was written to agent.json beside 256-wide networks: a folder load() refused."""
    agent = DQNAgent("CartPole-v1", _small_dqn(learning_starts=50), seed=0)
    agent.config.learning_rate = 1e-4  # fine-tuning: applied
    agent.config.learning_starts = 150  # and the warm-up of random actions with it
    agent.learn(120, progress=False)
    assert float(agent.optimizer.learning_rate) == pytest.approx(1e-4)
    assert agent.last_loss is None  # still in the warm-up: not one update yet
    agent.learn(60, progress=False)
    assert agent.last_loss is not None
    for field, value in (("hidden_sizes", (8,)), ("gamma", 0.5), ("buffer_size", 10)):
        setattr(agent.config, field, value)
        with pytest.raises(UsageError, match=rf"agent.config.{field} changed from .* learn\(\)"):
            agent.learn(10, progress=False)
        with pytest.raises(UsageError, match=f"agent.config.{field} changed"):
            agent.save(tmp_path / field)
        assert not (tmp_path / field).exists()
        setattr(agent.config, field, getattr(_small_dqn(), field))  # put back: goes on
    agent.config.batch_size = 0  # checked again, as when built
    with pytest.raises(UsageError, match="batch_size must be > 0"):
        agent.learn(10, progress=False)
    agent.config.batch_size = 32
    mine = agent.config  # the caller's object stays the one in use (it was swapped)
    agent.learn(1, progress=False)
    assert agent.config is mine
    mine.learning_starts = 10_000  # applied by a checkpoint too, not only by learn()
    agent.save_checkpoint(tmp_path / "ckpt")
    assert DQNAgent.load_checkpoint(tmp_path / "ckpt")._learning_starts_at > agent.num_timesteps
    mine.learning_starts = 150
    agent.save(tmp_path / "agent")
    loaded = DQNAgent.load(tmp_path / "agent")
    assert loaded.config.learning_rate == 1e-4 and loaded.config.batch_size == 32
    reinforce = ReinforceAgent("CartPole-v1", reinforce_config_for("CartPole-v1"), seed=0)
    reinforce.config.learning_rate, reinforce.config.value_learning_rate = 3e-4, 2e-3
    reinforce.learn(episodes=1, progress=False)
    assert float(reinforce.policy_opt.learning_rate) == pytest.approx(3e-4)
    assert float(reinforce.value_opt.learning_rate) == pytest.approx(2e-3)
    reinforce.config.entropy_coef = 0.1  # traced into the compiled update
    with pytest.raises(UsageError, match="entropy_coef changed"):
        reinforce.learn(episodes=1, progress=False)


def test_one_config_object_for_several_agents_stays_the_callers(tmp_path):
    """A sweep: the agents had kept the very object given, so changing it for the next
    agent changed the earlier ones' too (their save() then refused the change)."""
    cfg = _small_dqn(hidden_sizes=(16,))
    first = DQNAgent("CartPole-v1", cfg, seed=0)
    cfg.hidden_sizes = (32,)
    second = DQNAgent("CartPole-v1", cfg, seed=0)
    first.learn(20, progress=False)
    first.save(tmp_path / "first")  # was "hidden_sizes changed from [16] to [32]"
    assert first.config.hidden_sizes == (16,) and second.config.hidden_sizes == (32,)
    cfg.learning_rate = 0.5  # the caller's object: no agent's
    assert first.config.learning_rate == second.config.learning_rate != 0.5
