"""Checkpoints: a run stopped halfway and resumed from disk ends exactly like one that ran
through (weights, optimizer, replay buffer, epsilon position, counters, RNG, env state)."""

from __future__ import annotations

import numpy as np
import pytest

from rlgen.agents import DQNAgent, ReinforceAgent
from rlgen.agents.callbacks import Callback
from rlgen.agents.configs import dqn_config_for, reinforce_config_for


class StopAndCheckpoint(Callback):
    def __init__(self, path, at: int, unit: str = "step") -> None:
        self.path, self.at, self.unit = path, at, unit

    def on_step(self, agent) -> bool:
        n = agent.num_timesteps if self.unit == "step" else agent.num_episodes
        if n >= self.at:
            agent.save_checkpoint(self.path)
            return False
        return True


def _same_weights(a, b) -> None:
    for x, y in zip(a, b):
        np.testing.assert_array_equal(x, y)


@pytest.mark.parametrize("n_envs", [1, 2])
def test_dqn_resume_equals_uninterrupted(tmp_path, n_envs):
    cfg = dqn_config_for(
        "CartPole-v1",
        learning_starts=300,
        train_freq=64,
        gradient_steps=8,
        buffer_size=5_000,
        n_envs=n_envs,
    )
    full = DQNAgent("CartPole-v1", cfg, seed=4)
    full.learn(2_000, progress=False)

    first = DQNAgent("CartPole-v1", cfg, seed=4)
    first.learn(2_000, callbacks=[StopAndCheckpoint(tmp_path / "ckpt", 1_001)], progress=False)
    stop = first.num_timesteps
    assert 1_001 <= stop < 1_001 + n_envs  # stopped mid-episode, mid epsilon decay
    resumed = DQNAgent.load_checkpoint(tmp_path / "ckpt")
    assert resumed.num_timesteps == stop and len(resumed.replay) == stop
    resumed.learn(2_000 - stop, progress=False, reset_schedule=False)

    assert [e["return"] for e in resumed.episode_log] == [e["return"] for e in full.episode_log]
    assert resumed.num_episodes == full.num_episodes
    _same_weights(resumed.q_net.get_weights(), full.q_net.get_weights())
    _same_weights(resumed.target_net.get_weights(), full.target_net.get_weights())
    assert resumed.exploration_rate == full.exploration_rate


def test_reinforce_resume_equals_uninterrupted(tmp_path):
    cfg = reinforce_config_for("CartPole-v1")
    full = ReinforceAgent("CartPole-v1", cfg, seed=2)
    full.learn(episodes=24, progress=False)
    first = ReinforceAgent("CartPole-v1", cfg, seed=2)
    stop = StopAndCheckpoint(tmp_path / "ckpt", 12, unit="episode")
    first.learn(episodes=24, callbacks=[stop], progress=False)
    resumed = ReinforceAgent.load_checkpoint(tmp_path / "ckpt")
    resumed.learn(episodes=12, progress=False)
    assert [e["return"] for e in resumed.episode_log] == [e["return"] for e in full.episode_log]
    _same_weights(resumed.policy_net.get_weights(), full.policy_net.get_weights())
    _same_weights(resumed.value_net.get_weights(), full.value_net.get_weights())
