"""TensorBoard from Python as Stable-Baselines3 users write it: ``tensorboard_log=`` on the
agent, ``tb_log_name=`` and ``reset_num_timesteps=`` on ``learn``."""

from __future__ import annotations

import numpy as np
import pytest

from rlgen.agents import (
    DQN,
    Callback,
    DQNAgent,
    EvalCallback,
    ReinforceAgent,
    TensorBoardCallback,
)
from rlgen.agents.configs import dqn_config_for, reinforce_config_for
from rlgen.errors import UsageError


def _scalars(folder) -> dict[str, list[tuple[int, float]]]:
    """{tag: [(step, value), ...]} of every event file in ``folder``, in the order written."""
    import tensorflow as tf

    out: dict[str, list[tuple[int, float]]] = {}
    for f in sorted(folder.iterdir()):
        for event in tf.compat.v1.train.summary_iterator(str(f)):
            for v in event.summary.value:
                out.setdefault(v.tag, []).append((event.step, tf.make_ndarray(v.tensor).item()))
    return out


class FirstEpsilon(Callback):
    """The exploration rate at the first step of a learn call."""

    def on_training_start(self, agent):
        self.seen = None

    def on_step(self, agent):
        if self.seen is None:
            self.seen = agent.exploration_rate
        return True


def _dqn(tmp_path, **kwargs):
    cfg = dqn_config_for("CartPole-v1", learning_starts=100, train_freq=16, buffer_size=2_000)
    return DQN("CartPole-v1", cfg, seed=0, tensorboard_log=tmp_path / "tb", **kwargs)


def test_each_learn_writes_a_numbered_folder_and_reset_num_timesteps_false_continues(tmp_path):
    agent = _dqn(tmp_path)
    assert DQN is DQNAgent
    agent.learn(400, progress=False)
    ev = EvalCallback("CartPole-v1", eval_every=200, episodes=2)
    agent.learn(400, progress=False, tb_log_name="mine", callback=ev)
    first = FirstEpsilon()
    agent.learn(400, progress=False, tb_log_name="mine", reset_num_timesteps=False, callback=first)
    assert first.seen == pytest.approx(agent.config.exploration_final_eps)  # 1.0: restarted
    end = agent.num_timesteps
    agent.learn(300, progress=False)
    tb = tmp_path / "tb"
    assert sorted(p.name for p in tb.iterdir()) == ["DQN_1", "DQN_2", "mine_1"]
    mine = _scalars(tb / "mine_1")
    steps = [s for s, _ in mine["rollout/ep_rew_mean"]]
    assert steps == [e["step"] for e in agent.episode_log if 400 < e["step"] <= end]
    loss_steps = [s for s, _ in mine["train/loss"]]
    assert loss_steps == sorted(loss_steps) and loss_steps[0] <= 416 and loss_steps[-1] > 1_100
    assert [s for s, _ in mine["eval/mean_reward"]] == [600, 800]  # the EvalCallback's
    assert "rollout/exploration_rate" in mine
    # the rolling mean goes on over the episodes of earlier calls: no jump where a call began
    returns = [e["return"] for e in agent.episode_log]
    ends = [e["step"] for e in agent.episode_log]
    for step, value in mine["rollout/ep_rew_mean"]:
        i = ends.index(step)
        assert value == pytest.approx(np.mean(returns[max(0, i - 99) : i + 1]), rel=1e-5)


def test_reinforce_logs_its_value_loss_and_entropy(tmp_path):
    agent = ReinforceAgent(
        "CartPole-v1", reinforce_config_for("CartPole-v1"), tensorboard_log=tmp_path / "tb"
    )
    agent.learn(episodes=8, progress=False)
    logged = _scalars(tmp_path / "tb" / "REINFORCE_1")
    (step, value_loss), *_ = logged["train/value_loss"]
    (_, entropy_loss), *_ = logged["train/entropy_loss"]
    assert value_loss > 0 and -np.log(2) - 1e-4 < entropy_loss < 0  # two actions
    assert step == agent.num_timesteps or len(logged["train/value_loss"]) > 1


def test_tensorboard_log_bad_values(tmp_path):
    with pytest.raises(UsageError, match="tensorboard_log is a folder path"):
        DQNAgent("CartPole-v1", tensorboard_log=5)
    with pytest.raises(UsageError, match="has none; give the agent tensorboard_log"):
        DQNAgent("CartPole-v1").learn(10, progress=False, tb_log_name="x")
    agent = _dqn(tmp_path)
    with pytest.raises(UsageError, match="plain folder name"):
        agent.learn(10, progress=False, tb_log_name="a/b")
    with pytest.raises(UsageError, match="callbacks must be"):
        agent.learn(10, progress=False, callback=print)
    assert not (tmp_path / "tb").exists()  # no empty DQN_1 for a call that never ran
    (tmp_path / "file").write_text("")
    agent.tensorboard_log = tmp_path / "file" / "tb"
    with pytest.raises(UsageError, match="cannot write TensorBoard events"):
        agent.learn(10, progress=False)
    with pytest.raises(UsageError, match="not both"):
        agent.learn(10, progress=False, reset_schedule=False, reset_num_timesteps=True)
    assert agent.num_timesteps == 0  # nothing ran


def test_load_takes_a_tensorboard_folder_and_the_schedule_goes_on_after_it(tmp_path):
    agent = _dqn(tmp_path)
    agent.learn(300, progress=False)  # the schedule spans these 300 steps
    saved = agent.save(tmp_path / "agent")
    loaded = DQNAgent.load(saved, tensorboard_log=tmp_path / "later")
    assert DQNAgent.load(saved).tensorboard_log is None  # not saved with the agent
    first = FirstEpsilon()
    loaded.learn(150, progress=False, reset_num_timesteps=False, callback=first)
    assert first.seen == pytest.approx(agent.config.exploration_final_eps)  # not 1.0 again
    assert (tmp_path / "later" / "DQN_1").is_dir()
    loaded.learn(150, progress=False, callback=first)
    assert first.seen == agent.config.exploration_initial_eps  # a new schedule


def test_a_callback_used_again_averages_each_episode_once(tmp_path):
    agent = DQNAgent("CartPole-v1")
    agent.episode_log = [{"return": float(r), "length": 10} for r in range(60)]
    tb = TensorBoardCallback(tmp_path / "tb")
    tb.on_training_start(agent)
    tb.on_training_end(agent)
    tb.on_training_start(agent)  # the same callback in a second learn()
    assert list(tb.returns) == [float(r) for r in range(60)]  # not 120 values
