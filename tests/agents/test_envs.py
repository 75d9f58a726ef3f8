"""The user's env as given: its wrappers, max_episode_steps and spaces, in every copy the
agents make (evaluation, side-by-side copies, a saved agent), and clear errors otherwise."""

from __future__ import annotations

import json
import re
import warnings
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest
from gymnasium import spaces
from gymnasium.wrappers import FlattenObservation, TimeLimit, TransformReward

from rlgen.agents import (
    Callback,
    CheckpointCallback,
    DQNAgent,
    DQNConfig,
    EvalCallback,
    ReinforceAgent,
    ReinforceConfig,
    evaluate,
)
from rlgen.agents.envs import env_source, make_copy, spec_json
from rlgen.errors import RlgenWarning, UsageError

SMALL = {"learning_starts": 50, "buffer_size": 500, "hidden_sizes": (16,)}


class Walk(gym.Env):
    """A custom env with no registered spec, a (2, 2) observation and two actions."""

    observation_space = spaces.Box(-1.0, 1.0, (2, 2), np.float32)
    action_space = spaces.Discrete(2)

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.t = 0
        return np.zeros((2, 2), np.float32), {}

    def step(self, action):
        self.t += 1
        return np.full((2, 2), 0.1 * action, np.float32), 1.0, False, self.t >= 5, {}


def test_copies_keep_max_episode_steps_and_recorded_wrappers():
    capped = gym.make("CartPole-v1", max_episode_steps=30)
    assert make_copy(env_source(capped)).spec.max_episode_steps == 30
    flat = FlattenObservation(gym.make("FrozenLake-v1"))
    assert make_copy(env_source(flat)).observation_space.shape == (16,)
    assert env_source("CartPole-v1") == "CartPole-v1"
    assert env_source(Walk()) is None  # nothing gymnasium could remake
    assert spec_json("CartPole-v1") is None and spec_json(env_source(capped)) is not None


def test_evaluation_runs_on_the_agents_own_env_not_its_bare_id():
    # Evaluation remade gym.make(id): episodes past the user's 30-step cap were counted
    agent = DQNAgent(gym.make("CartPole-v1", max_episode_steps=30), DQNConfig(**SMALL))
    returns = [evaluate(agent, episodes=5, seed=s)[0] for s in range(3)]
    assert max(returns) <= 30
    scaled = TransformReward(gym.make("CartPole-v1"), lambda r: 100.0 * r)
    agent = DQNAgent(scaled, DQNConfig(**SMALL))
    ev = EvalCallback(eval_every=100, episodes=3)
    agent.learn(total_steps=200, callback=ev, progress=False)  # SB3's name, one callback
    assert ev.history and all(row["mean_reward"] >= 800 for row in ev.history)  # x100 kept


def test_side_by_side_copies_carry_the_wrappers():
    # 3 of 4 REINFORCE copies were bare CartPole: episodes ran past the user's TimeLimit
    agent = ReinforceAgent(TimeLimit(gym.make("CartPole-v1"), 20), seed=0)
    agent.learn(episodes=8, progress=False)
    assert max(e["length"] for e in agent.episode_log) <= 20
    scaled = TransformReward(gym.make("CartPole-v1"), lambda r: 100.0 * r)
    dqn = DQNAgent(scaled, DQNConfig(**SMALL, n_envs=2), seed=0)
    dqn.learn(total_steps=300, progress=False)
    assert all(e["return"] >= 100 * e["length"] for e in dqn.episode_log)


def test_returns_are_recorded_ones_when_record_episode_statistics_counted_them():
    """Under NormalizeReward, every return rlgen reported (the log, evaluations, the best
    model's choice) was of normalised rewards, with fresh statistics in each evaluation
    copy; a RecordEpisodeStatistics inside it counts the env's own, as SB3's Monitor."""
    from gymnasium.wrappers import NormalizeReward, RecordEpisodeStatistics

    def wrapped():
        return NormalizeReward(RecordEpisodeStatistics(gym.make("CartPole-v1")))

    dqn = DQNAgent(wrapped(), DQNConfig(**SMALL), seed=0)
    reinforce = ReinforceAgent(wrapped(), seed=0)
    dqn.learn(total_steps=200, progress=False)
    reinforce.learn(episodes=4, progress=False)
    for agent in (dqn, reinforce):  # CartPole's reward is 1 a step: the return is the length
        assert all(e["return"] == e["length"] for e in agent.episode_log)
        returns, lengths = evaluate(agent, episodes=3, return_episode_rewards=True)
        assert returns == [float(n) for n in lengths]
    bare = DQNAgent(NormalizeReward(gym.make("CartPole-v1")), DQNConfig(**SMALL), seed=0)
    bare.learn(total_steps=200, progress=False)  # no record: the rewards the agent saw
    assert any(e["return"] != e["length"] for e in bare.episode_log)


def test_a_saved_agent_comes_back_with_its_env_and_exploration(tmp_path):
    flat = FlattenObservation(gym.make("FrozenLake-v1"))
    agent = DQNAgent(flat, DQNConfig(**SMALL), seed=0)
    agent.learn(total_steps=300, progress=False)
    agent.save(tmp_path / "lake")
    back = DQNAgent.load(tmp_path / "lake")  # was: "FrozenLake-v1 has Discrete; flatten it"
    assert back.env.observation_space.shape == (16,)
    assert back.exploration_rate == pytest.approx(agent.exploration_rate)  # was reset to 1.0
    assert back.env_source.additional_wrappers[-1].name == "FlattenObservation"
    assert evaluate(back, episodes=2)[1] >= 0.0  # runs on the flattened copy
    capped = DQNAgent(gym.make("CartPole-v1", max_episode_steps=40), DQNConfig(**SMALL))
    capped.save(tmp_path / "capped")
    assert DQNAgent.load(tmp_path / "capped").env.spec.max_episode_steps == 40


def test_custom_env_agents_act_save_load_and_resume_with_an_env(tmp_path):
    agent = ReinforceAgent(Walk(), seed=0)
    agent.learn(episodes=4, progress=False)
    with pytest.raises(UsageError, match="pass a separate instance of the env to evaluate on"):
        evaluate(agent)
    assert evaluate(agent, Walk(), episodes=2) == (5.0, 0.0)
    agent.save(tmp_path / "walk")
    alone = ReinforceAgent.load(tmp_path / "walk")  # no env: acts, (2, 2) is one observation
    assert isinstance(alone.act(np.zeros((2, 2), np.float32)), int)
    assert alone.act(np.zeros((3, 2, 2), np.float32)).shape == (3,)
    with pytest.raises(UsageError, match=r"shape \(5,\) does not fit"):
        alone.act(np.zeros(5))
    with pytest.raises(UsageError, match="load_checkpoint"):
        alone.learn(episodes=1, progress=False)
    agent.save_checkpoint(tmp_path / "ck")
    resumed = ReinforceAgent.load_checkpoint(tmp_path / "ck", env=Walk())
    resumed.learn(episodes=4, progress=False)
    assert resumed.num_episodes == 8


def test_reinforce_runs_an_env_it_cannot_copy_alone_whatever_n_envs_says():
    # A registered env in the user's own wrapper was refused ("--n-envs 4 needs copies")
    # with the default config, while a custom env fell back to one copy
    class Mine(gym.Wrapper):
        pass

    cfg = ReinforceConfig(hidden_sizes=(8,))  # n_envs 4, the default
    agent = ReinforceAgent(Mine(gym.make("CartPole-v1", max_episode_steps=20)), cfg, seed=0)
    agent.learn(episodes=4, progress=False)
    assert agent.num_episodes == 4 and len(agent._envs) == 1


class Endless(Walk):
    """Never terminated, never truncated: an env without a TimeLimit."""

    def step(self, action):
        self.t += 1
        assert self.t < 1_000, "ran past the never-ending episode guard"  # not a hang
        return np.zeros((2, 2), np.float32), 1.0, False, False, {}


def test_a_gif_of_an_episode_that_never_ends_stops_at_its_frame_cap(monkeypatch, tmp_path, capsys):
    # agent eval --gif kept every frame of a never-ending episode in memory until it ran out
    from PIL import Image

    from rlgen.agents import evaluation

    class Drawn(Endless):
        def render(self):
            return np.full((8, 8, 3), 10 * (self.t % 20), np.uint8)

    monkeypatch.setattr(evaluation, "GIF_MAX_FRAMES", 50)
    monkeypatch.setattr(evaluation, "rendering_env", lambda env_id: Drawn())
    agent = ReinforceAgent(Walk(), ReinforceConfig(hidden_sizes=(8,)))
    evaluation.record_gif(agent, "Walk", tmp_path / "walk.gif")
    with Image.open(tmp_path / "walk.gif") as gif:
        assert gif.n_frames == 50
    assert "had not ended after 49 steps" in capsys.readouterr().err


def test_an_episode_that_never_ends_is_refused_not_waited_for(monkeypatch):
    # REINFORCE's learn and evaluation looped forever (REINFORCE's memory growing)
    from rlgen.agents import envs

    monkeypatch.setattr(envs, "MAX_EPISODE_STEPS", 100)
    never = "never ended .* in 100 steps.*TimeLimit\\(env, max_episode_steps=N\\)"
    reinforce = ReinforceAgent(Endless(), ReinforceConfig(hidden_sizes=(8,)))
    with pytest.raises(UsageError, match=never):
        reinforce.learn(episodes=1, progress=False)
    with pytest.raises(UsageError, match=never):
        evaluate(reinforce, Endless(), episodes=1)
    dqn = DQNAgent(Endless(), DQNConfig(**SMALL))
    dqn.learn(total_steps=150, progress=False)  # a step budget ends on its own
    with pytest.raises(UsageError, match=never):
        dqn.learn(episodes=1, progress=False)
    with pytest.raises(UsageError, match=never):
        evaluate(dqn, Endless(), episodes=1)
    agent = ReinforceAgent(TimeLimit(Endless(), 100), ReinforceConfig(hidden_sizes=(8,)))
    agent.learn(episodes=1, progress=False)  # a TimeLimit of exactly the guard is fine
    assert evaluate(agent, TimeLimit(Endless(), 100), episodes=1) == (100.0, 0.0)


def test_the_env_an_agent_trains_on_is_refused_for_evaluation_during_training():
    # EvalCallback(env) on the training env reset it mid-episode: DQN stepped on after the
    # evaluation's last episode ended (gymnasium's "step() after terminated" warning)
    import warnings

    env = gym.make("CartPole-v1")
    agent = DQNAgent(env, DQNConfig(**SMALL, n_envs=2))
    same = "the one this agent trains on.*pass a separate instance of the env"
    for mine in (env, FlattenObservation(env)):  # a wrapper around it too
        with pytest.raises(UsageError, match=same):
            agent.learn(200, callback=EvalCallback(mine, eval_every=50), progress=False)
    assert agent.num_timesteps == 0  # refused before any step
    walker = Walk()
    with pytest.raises(UsageError, match=same):
        ReinforceAgent(walker).learn(episodes=2, callback=EvalCallback(walker), progress=False)
    # between learn() calls the agent's own env may be used, as users of SB3's
    # evaluate_policy(model, env) do; the next learn() starts new episodes in it
    agent.learn(100, progress=False)
    assert evaluate(agent, env, episodes=1)[0] > 0
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # gymnasium's warning for a step after the end
        agent.learn(100, progress=False)
    assert evaluate(agent, gym.make("CartPole-v1"), episodes=1)[0] > 0  # another instance


@pytest.mark.parametrize("where", ["agent.json", "model.keras", "x.txt"])
def test_save_and_load_paths(tmp_path, monkeypatch, where):
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    agent = DQNAgent("CartPole-v1", DQNConfig(**SMALL))
    assert agent.save("~/dqn") == tmp_path / "home" / "dqn"  # ~ expanded, not a folder "~"
    (tmp_path / "x.txt").write_text("not an agent")
    target = tmp_path / "home" / "dqn" / where if where != "x.txt" else tmp_path / where
    with pytest.raises(UsageError, match="give the folder save"):
        DQNAgent.load(target)
    if where != "agent.json":
        with pytest.raises(UsageError, match="saved as a folder"):
            agent.save(target)


def test_save_where_no_folder_can_be_made_is_one_line(tmp_path):
    # path.mkdir's NotADirectoryError / FileNotFoundError came out raw
    agent = DQNAgent("CartPole-v1", DQNConfig(**SMALL))
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "model.keras").write_text("a file on the way")
    target = tmp_path / "out" / "model.keras" / "x"
    with pytest.raises(UsageError, match=re.escape(f"cannot write {target} (")):
        agent.save(target)
    if Path("/proc/self").is_dir():  # Linux: no folder can be made in /proc
        with pytest.raises(UsageError, match="cannot write /proc/agent"):
            agent.save("/proc/agent")


def test_a_save_never_overwrites_another_kind_of_model(tmp_path):
    """An agent's save() wrote over a supervised run's model.keras or another algorithm's
    agent, and Trainer.save() over an agent's folder (which has no config.json)."""
    from rlgen.supervised import Trainer

    dqn = DQNAgent("CartPole-v1", DQNConfig(**SMALL))
    dqn.save(tmp_path / "dqn")
    dqn.save(tmp_path / "dqn")  # its own kind: written again, as before
    before = (tmp_path / "dqn" / "agent.json").read_bytes()
    with pytest.raises(UsageError, match="holds an rlgen dqn run; save this one to a new"):
        ReinforceAgent("CartPole-v1").save(tmp_path / "dqn")
    trainer = Trainer("iris", {"epochs": 1})
    trainer.fit(verbose=0)
    with pytest.raises(UsageError, match="holds an rlgen dqn run"):
        trainer.save(tmp_path / "dqn")
    assert (tmp_path / "dqn" / "agent.json").read_bytes() == before
    assert not (tmp_path / "dqn" / "config.json").exists()
    trainer.save(tmp_path / "iris")
    model = (tmp_path / "iris" / "model.keras").read_bytes()
    with pytest.raises(UsageError, match="holds an rlgen iris run"):
        dqn.save(tmp_path / "iris")
    assert (tmp_path / "iris" / "model.keras").read_bytes() == model
    # a checkpoint replaces its folder whole: it deleted the iris run; refused before a step
    reinforce = ReinforceAgent("CartPole-v1")
    for agent, call in (
        (dqn, lambda: dqn.learn(100, callback=CheckpointCallback(save_path=tmp_path / "iris",
                                                                 save_freq=50), progress=False)),
        (dqn, lambda: dqn.save_checkpoint(tmp_path / "iris")),
        (reinforce, lambda: reinforce.learn(  # a DQN's best/: it was refused mid-training
            episodes=5, callback=EvalCallback(eval_freq=1, best_dir=tmp_path / "dqn"),
            progress=False)),
    ):  # fmt: skip
        steps = agent.num_timesteps
        with pytest.raises(UsageError, match="not an rlgen checkpoint|holds an rlgen dqn run"):
            call()
        assert agent.num_timesteps == steps  # before any step
    assert (tmp_path / "iris" / "model.keras").read_bytes() == model
    assert (tmp_path / "dqn" / "agent.json").read_bytes() == before
    (tmp_path / "mine").mkdir()  # a config.json of the user's own: named as such
    (tmp_path / "mine" / "config.json").write_text('{"lr": 0.1}')
    with pytest.raises(UsageError, match="holds a config.json that rlgen did not write"):
        dqn.save(tmp_path / "mine")


def test_a_checkpoint_and_a_best_model_never_share_a_folder(tmp_path):
    """As Stable-Baselines3's examples lay them out (best_model/ inside the checkpoints'
    folder), the next checkpoint deleted the best model; in one folder, the best model's
    agent.json was mixed into the checkpoint, which then resumed from a wrong state."""
    agent = DQNAgent("CartPole-v1", DQNConfig(**SMALL))
    logs = tmp_path / "logs"
    for best in (logs / "best_model", logs):
        with pytest.raises(UsageError, match="which each checkpoint replaces whole"):
            agent.learn(
                300,
                callback=[
                    CheckpointCallback(save_path=logs, save_freq=100),
                    EvalCallback(eval_freq=100, best_model_save_path=best),
                ],
                progress=False,
            )
        assert agent.num_timesteps == 0 and not logs.exists()
    agent.save_checkpoint(logs)
    with pytest.raises(UsageError, match="holds a training checkpoint"):
        agent.save(logs)
    (logs / "notes.txt").write_text("mine")  # deleted by the next checkpoint before
    with pytest.raises(UsageError, match="also holds notes.txt, which the next checkpoint"):
        agent.save_checkpoint(logs)
    assert (logs / "notes.txt").read_text() == "mine"
    agent.learn(  # side by side, as the message advises: both kept
        200,
        callback=[
            CheckpointCallback(save_path=tmp_path / "ok" / "checkpoint", save_freq=100),
            EvalCallback(
                eval_freq=100, n_eval_episodes=2, best_model_save_path=tmp_path / "ok" / "best"
            ),
        ],
        progress=False,
    )
    assert (tmp_path / "ok" / "best" / "agent.json").is_file()
    assert (tmp_path / "ok" / "checkpoint" / "state.json").is_file()
    agent.learn(  # the checkpoint's folder inside the best model's: neither touches the other
        200,
        callback=[
            CheckpointCallback(save_path=tmp_path / "b" / "checkpoint", save_freq=50),
            EvalCallback(eval_freq=150, n_eval_episodes=2, best_model_save_path=tmp_path / "b"),
        ],
        progress=False,
    )
    assert (tmp_path / "b" / "agent.json").is_file()
    assert (tmp_path / "b" / "checkpoint" / "state.json").is_file()


def test_loading_with_another_env_names_the_env_not_the_model_file(tmp_path):
    DQNAgent("CartPole-v1", DQNConfig(**SMALL)).save(tmp_path / "cp")
    with pytest.raises(UsageError, match="Acrobot-v1 has 6 and 3; load it with the env"):
        DQNAgent.load(tmp_path / "cp", env="Acrobot-v1")


def test_bad_python_inputs_are_named():
    with pytest.raises(UsageError, match="actions 0 to n-1"):

        class Shifted(Walk):
            action_space = spaces.Discrete(3, start=-1)

        DQNAgent(Shifted())
    with pytest.raises(UsageError, match="takes a DQNConfig"):
        DQNAgent("CartPole-v1", object())
    with pytest.raises(UsageError, match=r"seed must be .* < 2\*\*32, got 144115188075855872"):
        DQNAgent("CartPole-v1", DQNConfig(**SMALL), seed=2**57)  # TensorFlow's overflow error
    assert ReinforceAgent("CartPole-v1", seed=2**32 - 1).seed == 2**32 - 1
    assert DQNAgent("CartPole-v1", {"learning_rate": 1e-3}).config.learning_rate == 1e-3
    with pytest.raises(ValueError, match="'learning_rate' must be float"):
        DQNConfig(learning_rate="fast")
    with pytest.raises(UsageError, match="callbacks must be"):
        DQNAgent("CartPole-v1", DQNConfig(**SMALL)).learn(100, callbacks=[print])
    with pytest.raises(UsageError, match="callbacks must be"):
        ReinforceAgent("CartPole-v1").learn(episodes=1, callback=print)  # routed, checked
    with pytest.raises(UsageError, match="not both"):
        DQNAgent("CartPole-v1", DQNConfig(**SMALL)).learn(100, callbacks=[], callback=[])
    agent = DQNAgent("CartPole-v1", DQNConfig(**SMALL))
    agent.learn(total_timesteps=1e2, progress=False)  # SB3 takes a float budget
    assert agent.num_timesteps == 100
    with pytest.raises(UsageError, match="^episodes must be a whole number"):
        evaluate(agent, episodes=2.5)
    with pytest.raises(UsageError, match="NoSuch"):
        agent.learn(100, callbacks=EvalCallback("NoSuch-v0"), progress=False)
    assert agent.num_timesteps == 100  # refused before any step


def test_callback_units_and_counts_are_checked():
    # unit="steps" counted episodes, eval_every="500" was a TypeError, 2.5 became 2
    from rlgen.agents import CheckpointCallback, ProgressBarCallback

    for make in (
        lambda: EvalCallback(eval_every=100, episodes=1, unit="steps"),
        lambda: CheckpointCallback("ck", 100, unit="steps"),
        lambda: ProgressBarCallback(100, unit="steps"),
    ):
        with pytest.raises(UsageError, match="unit must be 'step' or 'episode', got 'steps'"):
            make()
    with pytest.raises(UsageError, match="eval_every must be a whole number, got '500'"):
        EvalCallback(eval_every="500")
    with pytest.raises(UsageError, match="eval_every must be a whole number, got 2.5"):
        EvalCallback(eval_every=2.5)
    with pytest.raises(UsageError, match="^episodes must be > 0"):
        EvalCallback(episodes=0)
    with pytest.raises(UsageError, match="^every must be a whole number"):
        CheckpointCallback("ck", 1.5)
    with pytest.raises(UsageError, match="^seed"):
        EvalCallback(seed=-1)
    assert EvalCallback(eval_every=1e3, unit="episode").eval_every == 1000  # as SB3 takes it


def test_an_agent_leaves_the_callers_seeds_and_dtype_policy_alone():
    from tests.agents.helpers import run_python

    code = (
        "import numpy as np, keras\n"
        "np.random.seed(123); keras.mixed_precision.set_global_policy('mixed_float16')\n"
        "from rlgen.agents import DQNAgent\n"
        "DQNAgent('CartPole-v1', seed=5)\n"
        "mine = np.random.rand(); np.random.seed(123)\n"
        "assert mine == np.random.rand(), 'NumPy reseeded'\n"
        "assert keras.mixed_precision.global_policy().name == 'mixed_float16'\n"
    )
    proc = run_python(["-c", code])
    assert proc.returncode == 0, proc.stderr[-2000:]


def test_an_env_that_cannot_be_recorded_warns_on_save_and_load(tmp_path):
    # a wrapper without recorded arguments, or a spec JSON cannot hold, reloaded silently as
    # the bare registered env (evaluation 9 instead of 900)
    class Scale(gym.RewardWrapper):
        def reward(self, r):
            return 100.0 * r

    agent = DQNAgent(Scale(gym.make("CartPole-v1")), DQNConfig(**SMALL))
    with pytest.warns(UserWarning, match="cannot be recorded"):
        agent.save(tmp_path / "scaled")
    with pytest.warns(UserWarning, match="pass env= to load"):
        back = DQNAgent.load(tmp_path / "scaled")
    assert back.env_id == "CartPole-v1"
    assert evaluate(back, Scale(gym.make("CartPole-v1")), episodes=1)[0] >= 800  # given: kept


def test_loading_an_agent_of_an_id_this_process_has_not_registered_warns(tmp_path):
    # the agent came back with env=None silently and failed only at learn()
    import warnings

    gym.register("rlgen-test/Walk-v0", entry_point=Walk)
    try:
        agent = DQNAgent(gym.make("rlgen-test/Walk-v0"), DQNConfig(**SMALL))
        agent.save(tmp_path / "walk")
    finally:
        gym.envs.registry.pop("rlgen-test/Walk-v0", None)
    unregistered = (
        "rlgen-test/Walk-v0 is not registered in this process.*loaded without an env.*"
        "register it .gymnasium.register. before loading, or pass env= to load"
    )
    with pytest.warns(UserWarning, match=unregistered):
        back = DQNAgent.load(tmp_path / "walk")
    assert back.env is None and isinstance(back.act(np.zeros((2, 2), np.float32)), int)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # an env given: nothing to warn about
        assert DQNAgent.load(tmp_path / "walk", env=Walk()).env is not None


def test_a_custom_env_without_render_mode_is_made_and_its_errors_are_one_line():
    class NoRender(Walk):
        def __init__(self):  # no render_mode argument: gym.make(id, render_mode=None) failed
            super().__init__()

    class Broken(Walk):
        def __init__(self):
            raise RuntimeError("no licence file")

    gym.register("rlgen-test/NoRender-v0", entry_point=NoRender)
    gym.register("rlgen-test/Broken-v0", entry_point=Broken)
    try:
        assert DQNAgent("rlgen-test/NoRender-v0", DQNConfig(**SMALL)).obs_dim == 4
        with pytest.raises(UsageError, match="could not be made .RuntimeError: no licence"):
            DQNAgent("rlgen-test/Broken-v0")
    finally:
        for env_id in ("rlgen-test/NoRender-v0", "rlgen-test/Broken-v0"):
            gym.envs.registry.pop(env_id, None)


def test_evaluation_closes_the_copies_it_makes_and_only_those():
    # every evaluation left its env copies open: harmless for CartPole, a leak for rendering,
    # Box2D or MuJoCo envs
    opened, closed = [], []

    class Counted(Walk):
        def __init__(self, render_mode=None):
            opened.append(self)

        def close(self):
            closed.append(self)

    gym.register("rlgen-test/Counted-v0", entry_point=Counted)
    try:
        agent = DQNAgent(gym.make("rlgen-test/Counted-v0"), DQNConfig(**SMALL))
        opened.clear()
        evaluate(agent, episodes=4)  # copies of the agent's own env
        assert len(opened) == 4 and sorted(map(id, closed)) == sorted(map(id, opened))
        mine = gym.make("rlgen-test/Counted-v0")
        closed.clear()
        evaluate(agent, mine, episodes=2)  # an env instance given: the caller's to close
        assert closed == []
    finally:
        gym.registry.pop("rlgen-test/Counted-v0", None)


def test_numpy_rewards_are_numbers_and_a_long_time_limit_is_named(monkeypatch):
    from rlgen.agents import envs

    assert EvalCallback("CartPole-v1", stop_at_reward=np.float32(475)).stop_at_reward == 475
    monkeypatch.setattr(envs, "MAX_EPISODE_STEPS", 100)
    agent = ReinforceAgent(TimeLimit(Endless(), 150), ReinforceConfig(hidden_sizes=(8,)))
    with pytest.raises(UsageError, match="time limit of 150 steps is past what rlgen waits"):
        agent.learn(episodes=1, progress=False)


def test_stable_baselines3_spellings_of_progress_bar_eval_callback_and_evaluate(tmp_path, capsys):
    # SB3 users' learn(progress_bar=), EvalCallback(eval_freq=, n_eval_episodes=,
    # best_model_save_path=) and evaluate_policy's n_eval_episodes= were TypeErrors
    agent = DQNAgent("CartPole-v1", DQNConfig(**SMALL))
    capsys.readouterr()
    cb = EvalCallback(
        eval_env="CartPole-v1",
        eval_freq=100,
        n_eval_episodes=2,
        best_model_save_path=tmp_path / "best",
        deterministic=True,
    )
    assert (cb.env_id, cb.eval_every, cb.episodes) == ("CartPole-v1", 100, 2)
    assert cb.best_mean_reward == cb.last_mean_reward == -np.inf
    checkpoints = CheckpointCallback(save_path=tmp_path / "ckpt", save_freq=150)
    agent.learn(total_timesteps=200, callback=[cb, checkpoints], progress_bar=False)
    assert "step/s" not in capsys.readouterr().err and len(cb.history) == 2
    assert (tmp_path / "best" / "agent.json").is_file()
    assert cb.best_mean_reward == max(row["mean_reward"] for row in cb.history)
    assert cb.last_mean_reward == cb.history[-1]["mean_reward"]
    assert DQNAgent.load_checkpoint(tmp_path / "ckpt").num_timesteps == 150
    # constructor keywords as SB3 takes them: over the env's preset
    tuned = DQNAgent("CartPole-v1", learning_rate=1e-3, hidden_sizes=(16,))
    assert tuned.config.learning_rate == 1e-3 and tuned.config.train_freq == 256  # preset
    with pytest.raises(UsageError, match="unknown key 'verbose'"):
        DQNAgent("CartPole-v1", verbose=1)
    with pytest.raises(UsageError, match="greedy policy only"):
        EvalCallback(deterministic=False)
    ReinforceAgent("CartPole-v1").learn(episodes=4, progress_bar=True)
    assert "episode" in capsys.readouterr().err  # the bar, on when asked
    mean, _ = evaluate(agent, "CartPole-v1", n_eval_episodes=3, deterministic=True)
    assert mean > 0
    rewards, lengths = evaluate(
        agent, "CartPole-v1", n_eval_episodes=3, return_episode_rewards=True
    )
    assert len(rewards) == 3 and np.mean(rewards) == mean
    assert lengths == [int(r) for r in rewards] and min(lengths) > 0  # CartPole: 1 a step
    with pytest.raises(UsageError, match="greedy policy only"):
        evaluate(agent, "CartPole-v1", deterministic=False)
    with pytest.raises(UsageError, match="agent to evaluate, got str; load one with"):
        evaluate("runs/dqn", episodes=1)  # an AttributeError on 'env_source' before
    # SB3's logging and device options: TypeErrors before, now said to have no effect
    with pytest.warns(RlgenWarning, match=r"log_interval=4\) has no effect: rlgen shows"):
        agent.learn(total_timesteps=10, log_interval=4, progress_bar=False)
    with pytest.warns(RlgenWarning, match=r"log_interval=1\) has no effect"):
        ReinforceAgent("CartPole-v1").learn(episodes=1, log_interval=1, progress_bar=False)
    agent.save(tmp_path / "sb3")
    with pytest.warns(RlgenWarning, match=r"load\(device='cuda'\) has no effect"):
        assert DQNAgent.load(tmp_path / "sb3", device="cuda").num_timesteps == agent.num_timesteps
    with pytest.raises(UsageError, match="give eval_every or eval_freq"):
        EvalCallback(eval_every=50, eval_freq=100)


class Pictures(Walk):
    observation_space = spaces.Box(0, 255, (16, 16, 3), np.uint8)

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        return np.zeros((16, 16, 3), np.uint8), {}

    def step(self, action):
        _, reward, terminated, truncated, info = super().step(action)
        return np.full((16, 16, 3), action, np.uint8), reward, terminated, truncated, info


def test_image_observations_warn_that_the_mlp_flattens_them(tmp_path):
    with pytest.warns(UserWarning, match=r"\(16, 16, 3\): DQN flattens them into 768 inputs") as w:
        agent = DQNAgent(Pictures(), SMALL)
    assert w[0].filename == __file__  # points at the line that built the agent
    assert agent.obs_dim == 768
    with warnings.catch_warnings():
        warnings.filterwarnings("error", message=".*flattens them")
        DQNAgent(Walk(), SMALL)  # a small (2, 2) observation is no picture
        # said once, where the agent was built: not again at each load or evaluation
        DQNAgent.load(agent.save(tmp_path / "pictures"), env=Pictures())
        evaluate(agent, Pictures(), episodes=1)


def test_errors_are_value_errors_and_a_bad_agent_file_is_named_precisely(tmp_path):
    with pytest.raises(ValueError, match="^seed must be"):  # as Keras' and SB3's
        DQNAgent(Walk(), SMALL, seed=-1)
    path = DQNAgent(Walk(), SMALL).save(tmp_path / "agent")
    meta = json.loads((path / "agent.json").read_text())
    meta["config"]["hiden_sizes"] = [8]  # edited by hand
    (path / "agent.json").write_text(json.dumps(meta))
    with pytest.raises(UsageError, match="unknown key 'hiden_sizes'"):  # not "corrupt"
        DQNAgent.load(path, env=Walk())


class OldGym(Walk):
    """The old gym API that tutorials still teach: reset(self), a bare observation, four
    values from step."""

    def reset(self):
        self.t = 0
        return np.zeros((2, 2), np.float32)

    def step(self, action):
        self.t += 1
        return np.zeros((2, 2), np.float32), 1.0, self.t >= 5, {}


def test_a_custom_env_that_breaks_gymnasiums_api_is_named_in_one_line():
    """Each was a NumPy or unpacking error from inside the training loop."""

    def old(**methods):
        return type("OldGym", (Walk,), methods)()

    bare_reset = {"reset": lambda self, seed=None, options=None: OldGym.reset(self)}
    cases = [
        ({"reset": OldGym.reset}, r"^OldGym.reset takes no seed.*def reset\(self, seed=None"),
        (bare_reset, r"^OldGym.reset\(\) returned one ndarray, not the pair \(observation, info"),
        ({"step": OldGym.step}, r"^OldGym.step\(\) returned 4 values, not the five .* truncated"),
        (
            {"step": lambda self, a: (np.zeros(5), 1.0, False, False, {})},
            r"^OldGym.step\(\) returned an observation of 5 values, but .* holds 4",
        ),
        (
            {"step": lambda self, a: (np.zeros(4), None, False, False, {})},
            r"^OldGym.step\(\) returned a reward of None; it must be one finite number",
        ),
        (  # was a NaN loss "check the env's rewards" after the warm-up
            {"step": lambda self, a: (np.full(4, np.nan), 1.0, False, False, {})},
            r"^OldGym.step\(\) returned an observation with NaN or inf \(\[nan,",
        ),
        (
            {"step": lambda self, a: (np.zeros(4), float("inf"), False, False, {})},
            r"^OldGym.step\(\) returned a reward of inf; it must be one finite number",
        ),
    ]
    # copies side by side of an env gymnasium cannot remake: refused when the agent is built,
    # not at learn()
    with pytest.raises(UsageError, match=r"^n_envs=2 needs copies of the env"):
        DQNAgent(Walk(), {**SMALL, "n_envs": 2})
    for methods, message in cases:
        with pytest.raises(UsageError, match=message):
            DQNAgent(old(**methods), SMALL, seed=0).learn(total_timesteps=60)
        with pytest.raises(UsageError, match=message):
            ReinforceAgent(old(**methods), seed=0).learn(episodes=1)
        with pytest.raises(UsageError, match=message):
            evaluate(DQNAgent(Walk(), SMALL, seed=0), old(**methods), episodes=1)


def test_stable_baselines3_habits_get_a_message_not_silence_or_a_type_name(tmp_path):
    with pytest.raises(UsageError, match=r"take the env first .* drop 'MlpPolicy'"):
        DQNAgent("MlpPolicy", "CartPole-v1")
    vector = gym.make_vec("CartPole-v1", num_envs=2)
    with pytest.raises(UsageError, match=r"vector env .* n_envs=K in the config"):
        DQNAgent(vector)
    vector.close()

    class Sb3Style(Callback):  # SB3's hook: never called, and training ran on in silence
        def _on_step(self):
            return False

    agent = DQNAgent("CartPole-v1", SMALL, seed=0)
    with pytest.raises(UsageError, match=r"^Sb3Style defines _on_step, never called: .*on_step"):
        agent.learn(100, callback=Sb3Style(), progress_bar=False)

    class NotOurs:
        def _on_step(self):
            return True

    with pytest.raises(UsageError, match=r"got NotOurs; rlgen's Callback calls on_step\(agent"):
        agent.learn(100, callback=NotOurs(), progress_bar=False)

    class Ours(Callback):  # a helper of that name beside one of rlgen's hooks: fine
        def _on_step(self):
            return True

        def on_step(self, agent):
            return self._on_step()

    agent.learn(10, callback=Ours(), progress_bar=False)
    with pytest.raises(UsageError, match="^save_freq must be"):
        CheckpointCallback(save_path=tmp_path / "c", save_freq=0)
    with pytest.raises(UsageError, match=r"saved as a folder"):
        agent.save(tmp_path / "model.zip")  # SB3's file: was made a folder of that name
    assert not (tmp_path / "model.zip").exists()


def test_spaces_and_ids_the_agents_cannot_take_say_what_to_do(cli):
    with pytest.raises(UsageError, match="Atari envs come with pip install ale-py"):
        DQNAgent("ALE/Pong-v5")
    with pytest.raises(UsageError, match=r"has Discrete; flatten it with .*FlattenObservation"):
        DQNAgent("FrozenLake-v1")
    result = cli("agent", "train", "dqn", "--env", "FrozenLake-v1")  # no wrapper to add there
    result.assert_usage_error("the command line cannot wrap it: register it wrapped", "--env")


def test_seed_none_draws_one_and_keeps_it():
    """Stable-Baselines3's default, seed=None, was refused as not a whole number."""
    first, second = (DQNAgent("CartPole-v1", SMALL, seed=None) for _ in range(2))
    assert first.seed != second.seed  # drawn (equal once in 2**32)
    again = DQNAgent("CartPole-v1", SMALL, seed=first.seed)  # kept: the run can be repeated
    for a, b in zip(first.q_net.get_weights(), again.q_net.get_weights()):
        np.testing.assert_array_equal(a, b)
