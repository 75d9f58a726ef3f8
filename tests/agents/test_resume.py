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


def test_the_end_of_training_rewrites_no_checkpoint_of_the_same_state(tmp_path):
    """The end-of-training checkpoint is skipped when the last periodic one holds the same
    counter and evaluations (the replay buffer is not written twice), and written when an
    evaluation came after it."""
    from types import SimpleNamespace

    from rlgen.agents.callbacks import CheckpointCallback

    writes = []
    agent = SimpleNamespace(num_timesteps=1000, num_episodes=0)
    agent.save_checkpoint = lambda path, extra: writes.append((agent.num_timesteps, extra))
    evaluator = SimpleNamespace(history=[{"step": 1000}])
    evaluator.state = lambda: {"history": list(evaluator.history)}
    ckpt = CheckpointCallback(tmp_path / "checkpoint", 500, evaluator=evaluator)
    ckpt.on_training_start(SimpleNamespace(num_timesteps=0, num_episodes=0))
    ckpt.on_step(agent)  # periodic, at 1,000
    ckpt.save(agent)  # the end of training at the same state: nothing new to write
    assert [w[0] for w in writes] == [1000]
    evaluator.history.append({"step": 1000})  # a final evaluation after the periodic save
    ckpt.save(agent)
    agent.num_timesteps = 1200
    ckpt.save(agent)
    assert [w[0] for w in writes] == [1000, 1000, 1200]
    assert len(writes[1][1]["evaluator"]["history"]) == 2


def test_dqn_checkpoint_after_fewer_env_copies_loads_and_continues(tmp_path):
    """Copies kept from a larger --n-envs stay open but unused; the checkpoint holds only the
    copies in use, and loads with one observation per copy."""
    import dataclasses

    cfg = dqn_config_for("CartPole-v1", learning_starts=100, buffer_size=2_000, n_envs=3)
    agent = DQNAgent("CartPole-v1", cfg, seed=1)
    agent.learn(300, progress=False)
    agent.config = dataclasses.replace(agent.config, n_envs=1)
    agent.learn(200, progress=False)
    assert len(agent._envs) == 3 and len(agent._obs) == 1
    agent.save_checkpoint(tmp_path / "ckpt")

    resumed = DQNAgent.load_checkpoint(tmp_path / "ckpt")
    assert len(resumed._envs) == 1 and resumed._obs.shape == (1, 4)
    np.testing.assert_array_equal(resumed._obs, agent._obs)
    steps = resumed.num_timesteps
    resumed.learn(100, progress=False, reset_schedule=False)
    assert resumed.num_timesteps == steps + 100
