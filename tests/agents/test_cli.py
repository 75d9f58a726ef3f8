"""``rlgen agent`` end to end in subprocesses: a short training run and its evaluation, and
every bad input ending in one line, exit status 2 and no traceback."""

from __future__ import annotations

import csv
import json
import sys

import pytest

from tests.agents.helpers import assert_usage_error, rlgen, run_python


@pytest.fixture(scope="module")
def trained_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("runs") / "dqn"
    proc = rlgen(
        "agent", "train", "dqn", "--env", "CartPole-v1", "--steps", "2000",
        "--eval-every", "1000", "--eval-episodes", "5", "--learning-starts", "500",
        "--out", str(out), "--quiet",
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert f"run written to {out}" in proc.stdout
    return out


def test_train_writes_a_complete_run(trained_run):
    names = {p.name for p in trained_run.iterdir()}
    assert {
        "config.json", "model.keras", "agent.json", "metrics.csv", "evaluations.csv",
        "summary.json", "learning_curve.png", "best", "checkpoint", "tensorboard",
    } <= names  # fmt: skip
    cfg = json.loads((trained_run / "config.json").read_text())
    assert cfg["group"] == "agent" and cfg["algorithm"] == "dqn"
    assert cfg["env_id"] == "CartPole-v1"
    assert cfg["config"]["learning_starts"] == 500  # the flag won over the preset
    assert cfg["config"]["train_freq"] == 256  # CartPole's preset
    assert cfg["runtime"]["threads_used"] == 1 and "tensorflow" in cfg["versions"]
    with open(trained_run / "metrics.csv") as fh:
        rows = list(csv.DictReader(fh))
    assert rows and {"episode", "step", "return", "length", "epsilon", "loss"} <= set(rows[0])
    summary = json.loads((trained_run / "summary.json").read_text())
    assert summary["steps"] == 2000 and summary["best_eval_mean_reward"] is not None
    assert (trained_run / "best" / "model.keras").is_file()
    assert (trained_run / "checkpoint" / "model.keras").is_file()
    assert any((trained_run / "tensorboard").iterdir())


def test_tensorboard_uses_sb3_key_names(trained_run):
    script = (
        "import sys, tensorflow as tf\n"
        "from tensorflow.python.summary.summary_iterator import summary_iterator\n"
        "keys = set()\n"
        "import pathlib\n"
        "for f in pathlib.Path(sys.argv[1]).iterdir():\n"
        "    for e in summary_iterator(str(f)):\n"
        "        keys |= {v.tag for v in e.summary.value}\n"
        "print(sorted(keys))\n"
    )
    proc = run_python(["-c", script, str(trained_run / "tensorboard")])
    assert proc.returncode == 0, proc.stderr
    for key in ("rollout/ep_rew_mean", "train/loss", "rollout/exploration_rate"):
        assert key in proc.stdout
    assert "eval/mean_reward" in proc.stdout


def test_eval_prints_mean_and_std_of_best_model(trained_run):
    proc = rlgen("agent", "eval", str(trained_run), "--episodes", "5", "--seed", "3")
    assert proc.returncode == 0, proc.stderr
    assert "best model" in proc.stdout and "±" in proc.stdout and "5 episodes" in proc.stdout


@pytest.mark.parametrize("sig", ["SIGINT", "SIGTERM"])  # kill, timeout: killed outright before
def test_ctrl_c_says_how_to_resume(tmp_path, sig):
    import signal

    from tests.conftest import interrupt_cli

    out = tmp_path / "run"
    args = ("agent", "train", "dqn", "--env", "CartPole-v1", "--steps", "1000000", "--quiet")
    every = ("--eval-every", "2000", "--eval-episodes", "2", "--checkpoint-every", "2000")
    once = out / "checkpoint" / "agent.json"
    result = interrupt_cli(*args, *every, "--out", out, once=once, sig=getattr(signal, sig))
    assert result.code == 128 + getattr(signal, sig) and "Traceback" not in result.err, result
    assert f"--resume {out}" in result.err, result
    assert (out / "summary.json").is_file()  # what was learnt so far is written
    # all of it: training stops at the end of the step under way and checkpoints that step
    # (it kept the last periodic checkpoint, up to a fifth of a run behind), and the agent
    # loads from the run (it had no agent.json there)
    steps = json.loads((out / "summary.json").read_text())["steps"]
    assert steps >= 2000 and f"stopped at step {steps:,} of 1,000,000" in result.err, result
    assert json.loads(once.read_text())["num_timesteps"] == steps
    assert json.loads((out / "agent.json").read_text())["num_timesteps"] == steps


def test_help_does_not_import_tensorflow():
    code = (
        "import sys\n"
        "from rlgen.cli import build_parser\n"
        "import rlgen.agents.configs\n"
        "try:\n"
        "    build_parser().parse_args(['agent', 'train', 'dqn', '--help'])\n"
        "except SystemExit:\n"
        "    pass\n"
        "print('TF', 'tensorflow' in sys.modules)\n"
    )
    proc = run_python(["-c", code])
    assert proc.returncode == 0, proc.stderr
    assert "--target-update-interval" in proc.stdout and "--hidden-sizes" in proc.stdout
    assert "--seed" in proc.stdout and "--threads" in proc.stdout
    # parsed only to be refused (test_bad_train_inputs): not offered in the help
    for refused in ("--mixed-precision", "--strategy", "--logical-cpus"):
        assert refused not in proc.stdout
    assert "TF False" in proc.stdout


@pytest.mark.parametrize(
    "args, needles",
    [
        (["--env", "CartPol-v1"], ["unknown Gymnasium environment", "CartPole-v1"]),
        (["--env", "Pendulum-v1"], ["Discrete"]),
        (["--env", "MountainCarContinuous-v0"], ["Discrete"]),
        (["--env", "CartPole-v1", "--steps", "-5"], ["--steps must be > 0"]),
        (["--env", "CartPole-v1", "--steps", "0"], ["--steps must be > 0"]),
        (["--env", "CartPole-v1", "--gamma", "2"], ["--gamma"]),
        (["--env", "CartPole-v1", "--n-envs", "0"], ["--n-envs must be > 0"]),
        (["--env", "CartPole-v1", "--episodes", "0"], ["--episodes must be > 0"]),
        (["--env", "CartPole-v1", "--steps", "9", "--episodes", "9"], ["not allowed with"]),
        # was NumPy's _ArrayMemoryError traceback (1.46 TiB)
        (["--env", "CartPole-v1", "--buffer-size", "100000000000"], ["--buffer-size", "GiB"]),
        # NumPy's 95 GiB traceback at the first gradient step, after the folder was made
        (["--env", "CartPole-v1", "--batch-size", "10000000000"], ["GiB a gradient step"]),
        # accepted and recorded, but the agents' float32 MLPs used neither
        (["--env", "CartPole-v1", "--mixed-precision"], ["--mixed-precision", "drop the flag"]),
        (["--env", "CartPole-v1", "--strategy", "mirrored"], ["--strategy", "drop the flag"]),
        (["--env", "CartPole-v1", "--logical-cpus", "2"], ["--logical-cpus", "drop the flag"]),
    ],
)
def test_bad_train_inputs(tmp_path, args, needles):
    out = tmp_path / "run"
    proc = rlgen("agent", "train", "dqn", *args, "--out", str(out), "--quiet")
    assert_usage_error(proc, *needles)
    assert not out.exists() or not any(out.iterdir())  # nothing half-written


def test_config_file_with_unknown_key(tmp_path):
    cfg = tmp_path / "dqn.toml"
    cfg.write_text("learning_rate = 0.001\nlearning_rat = 0.1\n")
    proc = rlgen(
        "agent", "train", "dqn", "--env", "CartPole-v1", "--config", str(cfg),
        "--out", str(tmp_path / "run"),
    )  # fmt: skip
    assert_usage_error(proc, "learning_rat")


def test_out_folder_in_use_is_refused(trained_run):
    before = sorted(p.name for p in trained_run.iterdir())
    proc = rlgen("agent", "train", "dqn", "--env", "CartPole-v1", "--out", str(trained_run))
    assert_usage_error(proc, "already exists")
    assert sorted(p.name for p in trained_run.iterdir()) == before


def test_eval_bad_runs(tmp_path, trained_run):
    assert_usage_error(rlgen("agent", "eval", str(tmp_path / "missing")), "not a folder")
    empty = tmp_path / "empty"
    empty.mkdir()
    assert_usage_error(rlgen("agent", "eval", str(empty)), "not an rlgen run")
    other = tmp_path / "supervised"
    other.mkdir()
    (other / "config.json").write_text(json.dumps({"group": "supervised"}))
    assert_usage_error(rlgen("agent", "eval", str(other)), "not an agent run")
    garbled = tmp_path / "garbled"
    garbled.mkdir()
    (garbled / "config.json").write_text("{not json")
    assert_usage_error(rlgen("agent", "eval", str(garbled)), "corrupt")


def test_eval_corrupt_model(tmp_path, trained_run):
    import shutil

    run = tmp_path / "copy"
    shutil.copytree(trained_run, run)
    (run / "best" / "model.keras").write_bytes(b"\x00garbage")
    assert_usage_error(rlgen("agent", "eval", str(run), "--episodes", "2"), "corrupt")
    proc = rlgen("agent", "eval", str(trained_run), "--episodes", "0")
    assert_usage_error(proc, "--episodes must be > 0")
    proc = rlgen("agent", "eval", str(trained_run), "--episodes", "2", "--seed", "-1")
    assert_usage_error(proc, "--seed must be a whole number >= 0")  # was gymnasium's traceback
    proc = rlgen("agent", "eval", str(trained_run), "--threads", "-2")
    assert_usage_error(proc, "--threads must be >= 0")  # was accepted silently


def test_resume_continues_the_run(tmp_path, trained_run):
    import shutil

    run = tmp_path / "resumed"
    shutil.copytree(trained_run, run)
    proc = rlgen("agent", "train", "dqn", "--resume", str(run), "--steps", "2500", "--quiet")
    assert proc.returncode == 0, proc.stderr
    summary = json.loads((run / "summary.json").read_text())
    assert summary["steps"] == 2500
    cfg = json.loads((run / "config.json").read_text())
    previous = {"steps": 2000}
    assert cfg["resumed"] == [{"from": 2000, "budget": 2500, "previous_budget": previous}]
    assert cfg["budget"] == {"steps": 2500}  # a further --resume extends 2,500, not 2,000
    # speed of the 500 steps trained now, not of all 2,500 in this session's seconds
    assert summary["resumed_from_step"] == 2000
    assert summary["steps_per_second"] == pytest.approx(500 / summary["seconds"], rel=0.01)
    with open(run / "metrics.csv") as fh:
        assert int(list(csv.DictReader(fh))[-1]["step"]) > 2000
    with open(run / "evaluations.csv") as fh:
        seconds = [float(row["train_seconds"]) for row in csv.DictReader(fh)]
    assert seconds == sorted(seconds)  # the resumed evaluations count on, not from zero
    # the checkpoint is the end of training, not the last periodic one (every 1,000 steps),
    # so a further --resume continues from step 2,500
    saved = json.loads((run / "checkpoint" / "agent.json").read_text())
    assert saved["num_timesteps"] == 2500


def test_bad_resume_inputs(tmp_path, trained_run):
    import shutil

    resume = ("agent", "train", "dqn", "--resume")
    assert_usage_error(rlgen(*resume, str(tmp_path / "missing")), "not a folder")
    proc = rlgen("agent", "train", "reinforce", "--resume", str(trained_run))
    assert_usage_error(proc, "is a dqn run")
    proc = rlgen(*resume, str(trained_run), "--env", "Acrobot-v1")
    assert_usage_error(proc, "trained on CartPole-v1")
    proc = rlgen(*resume, str(trained_run), "--learning-rate", "0.1")
    assert_usage_error(proc, "drop --learning-rate")
    proc = rlgen(*resume, str(trained_run), "--seed", "123")  # was taken and ignored
    assert_usage_error(proc, "random streams from its checkpoint; drop --seed")
    edited = tmp_path / "edited"  # a hand-edited config.json: ValueError from int() before
    shutil.copytree(trained_run, edited)
    config = json.loads((edited / "config.json").read_text())
    (edited / "config.json").write_text(json.dumps({**config, "eval_every": "abc"}))
    proc = rlgen(*resume, str(edited), "--steps", "3000")
    assert_usage_error(proc, "config.json is corrupt (eval_every 'abc', not a whole number")
    assert_usage_error(rlgen(*resume, str(trained_run), "--steps", "1000"), "give more than 2000")
    proc = rlgen(*resume, str(trained_run), "--episodes", "50")
    assert_usage_error(proc, "counts its budget in steps")
    broken = tmp_path / "broken"
    shutil.copytree(trained_run, broken)
    (broken / "checkpoint" / "state.json").write_text("{garbled")
    assert_usage_error(rlgen(*resume, str(broken), "--steps", "3000"), "corrupt")
    cut = tmp_path / "cut"  # a replay buffer cut short: zipfile's BadZipFile before
    shutil.copytree(trained_run, cut)
    replay = cut / "checkpoint" / "replay.npz"
    replay.write_bytes(replay.read_bytes()[:2000])
    assert_usage_error(
        rlgen(*resume, str(cut), "--steps", "3000"), "replay buffer", "cannot be resumed"
    )
    assert_usage_error(rlgen("agent", "train", "dqn", "--steps", "10"), "--env is required")


def test_eval_gif(tmp_path, trained_run):
    import importlib.util

    gif = tmp_path / "episode.gif"
    proc = rlgen("agent", "eval", str(trained_run), "--episodes", "1", "--gif", str(gif))
    if importlib.util.find_spec("pygame") is None:  # without the render extra: a clear error
        assert_usage_error(proc, "pip install 'gymnasium[classic-control]'")
    else:
        assert proc.returncode == 0, proc.stderr
        assert gif.read_bytes()[:6] in (b"GIF89a", b"GIF87a")
    bad = rlgen("agent", "eval", str(trained_run), "--gif", str(tmp_path / "x.png"))
    assert_usage_error(bad, "ending in .gif")


def test_episode_budget_with_env_copies_and_its_resume(tmp_path):
    out = tmp_path / "episodes"
    proc = rlgen(
        "agent", "train", "dqn", "--env", "CartPole-v1", "--episodes", "20", "--n-envs", "2",
        "--learning-starts", "200", "--eval-every", "10", "--eval-episodes", "2",
        "--out", str(out), "--quiet",
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    summary = json.loads((out / "summary.json").read_text())
    assert summary["budget"] == {"episodes": 20} and 20 <= summary["episodes"] <= 21
    assert json.loads((out / "config.json").read_text())["config"]["n_envs"] == 2
    proc = rlgen("agent", "train", "dqn", "--resume", str(out), "--episodes", "30", "--quiet")
    assert proc.returncode == 0, proc.stderr
    assert 30 <= json.loads((out / "summary.json").read_text())["episodes"] <= 31
    proc = rlgen("agent", "train", "dqn", "--resume", str(out), "--steps", "99999")
    assert_usage_error(proc, "counts its budget in episodes")


def test_eval_takes_a_folder_saved_from_python(tmp_path):
    from rlgen.agents import ReinforceAgent

    agent = ReinforceAgent("CartPole-v1", seed=0)
    agent.learn(episodes=4, progress=False)
    agent.save(tmp_path / "mine")  # agent.json and the .keras files, no config.json
    proc = rlgen("agent", "eval", str(tmp_path / "mine"), "--episodes", "3")
    assert proc.returncode == 0, proc.stderr
    assert "reinforce on CartPole-v1, saved model:" in proc.stdout
    (tmp_path / "mine" / "agent.json").write_text('{"algorithm": "ppo"}')
    assert_usage_error(rlgen("agent", "eval", str(tmp_path / "mine")), "corrupt")


def test_a_resume_claims_the_run_before_it_reads_the_checkpoint(tmp_path, trained_run, monkeypatch):
    """The claim came after config.json and checkpoint/ were read: a first trainer ending in
    between left the second going on from the checkpoint before the first's last steps."""
    import os
    import shutil

    from rlgen.agents import DQNAgent
    from rlgen.agents.training import train_run

    run = tmp_path / "run"
    shutil.copytree(trained_run, run)
    seen = []
    load = DQNAgent.load_checkpoint.__func__

    def spy(cls, path, env=None):
        seen.append((run / ".training").read_text())
        return load(cls, path, env)

    monkeypatch.setattr(DQNAgent, "load_checkpoint", classmethod(spy))
    train_run("dqn", None, None, steps=2200, eval_every=200, quiet=True, resume=str(run))
    assert seen == [str(os.getpid())]  # held, with this process's id, while it read


def test_resume_refuses_a_run_another_process_is_training(tmp_path, trained_run):
    # a --resume started while the first training still ran: both wrote the same folder
    import shutil
    import subprocess
    import sys

    run = tmp_path / "run"
    shutil.copytree(trained_run, run)
    assert (run / ".training").read_text() == ""  # let go (emptied) when training ended
    holder = subprocess.Popen(  # a trainer of the run, as rlgen holds it: flock + its pid
        [
            sys.executable, "-c",
            "import fcntl, os, sys, time\n"
            "f = open(sys.argv[1], 'a+'); fcntl.flock(f, fcntl.LOCK_EX)\n"
            "f.write(str(os.getpid())); f.flush(); print('held', flush=True); time.sleep(60)",
            str(run / ".training"),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )  # fmt: skip
    try:
        assert holder.stdout.readline().strip() == "held"
        proc = rlgen("agent", "train", "dqn", "--resume", str(run), "--steps", "2500", "--quiet")
        assert_usage_error(proc, f"being trained by process {holder.pid}")
    finally:
        holder.kill()
        holder.wait()
    # its process gone, the kernel let the lock go: the resume proceeds, and empties the
    # file when it ends (kept, so that every claim locks the same file)
    assert (run / ".training").read_text() == str(holder.pid)
    proc = rlgen("agent", "train", "dqn", "--resume", str(run), "--steps", "2500", "--quiet")
    assert proc.returncode == 0, proc.stderr
    assert (run / ".training").read_text() == ""


CORRIDOR = """
import gymnasium as gym
import numpy as np


class Corridor(gym.Env):
    observation_space = gym.spaces.Box(0.0, 1.0, (1,), np.float32)
    action_space = gym.spaces.Discrete(2)

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.pos = 0
        return np.array([0.0], np.float32), {}

    def step(self, action):
        self.pos = max(0, self.pos + (1 if action == 1 else -1))
        done = self.pos >= 5
        return np.array([self.pos / 5], np.float32), 1.0 if done else -0.1, done, False, {}


gym.register(id="Corridor-v0", entry_point=Corridor, max_episode_steps=50)
"""


def test_a_custom_env_by_gymnasiums_module_id(tmp_path, monkeypatch, request):
    """ "module:EnvId" (gymnasium.make's form) was refused as an unknown id, so the command
    line could not train or evaluate a custom env at all."""
    (tmp_path / "corridor_envs.py").write_text(CORRIDOR)
    (tmp_path / "broken_envs.py").write_text("raise RuntimeError('a bug in the module')\n")

    def command(*args):  # as the installed `rlgen` script runs: the folder not on sys.path
        return run_python(["-P", "-m", "rlgen", *map(str, args)], cwd=tmp_path)

    out = tmp_path / "run"
    small = ("--steps", "300", "--learning-starts", "50", "--eval-every", "300", "--quiet")
    proc = command("agent", "train", "dqn", "--env", "corridor_envs:Corridor-v0", *small,
                   "--eval-episodes", "2", "--out", out)  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    proc = command("agent", "eval", out, "--episodes", "2")
    assert proc.returncode == 0 and "dqn on corridor_envs:Corridor-v0" in proc.stdout, proc
    # from another folder the module is not importable: that is said, not "give --env MODULE:"
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    resume = ("agent", "train", "dqn", "--resume", out, "--steps", 600)
    for args in (("agent", "eval", out), resume):
        proc = run_python(["-P", "-m", "rlgen", *map(str, args)], cwd=elsewhere)
        assert_usage_error(proc, "cannot import 'corridor_envs'", "current folder or on PYTHONPATH")
        assert "MODULE:" not in proc.stderr
    # a resume (its env comes back from the checkpoint, which knows only Corridor-v0) keeps
    # the module in the id that agent.json and summary.json record
    proc = command("agent", "train", "dqn", "--resume", out, "--steps", 400, "--quiet")
    assert proc.returncode == 0, proc.stderr
    for name in ("agent.json", "best/agent.json", "summary.json"):
        assert json.loads((out / name).read_text())["env_id"] == "corridor_envs:Corridor-v0"
    for env_id, needle in (
        ("corridor_envs:Nope-v0", "importing 'corridor_envs' registered no env 'Nope-v0'"),
        ("no_such_module:Corridor-v0", "cannot import 'no_such_module'"),
        ("broken_envs:Corridor-v0", "(RuntimeError: a bug in the module)"),
    ):
        assert_usage_error(command("agent", "train", "dqn", "--env", env_id), needle)
    # saved from Python under the id its script registered: the command line names --env
    monkeypatch.syspath_prepend(str(tmp_path))
    import corridor_envs  # noqa: F401  (registers Corridor-v0 here, until the test ends)
    import gymnasium as gym

    request.addfinalizer(lambda: sys.modules.pop("corridor_envs", None))
    request.addfinalizer(lambda: gym.envs.registry.pop("Corridor-v0", None))
    from rlgen.agents import DQNAgent

    DQNAgent("Corridor-v0", {"hidden_sizes": (8,)}).save(tmp_path / "saved")
    proc = command("agent", "eval", tmp_path / "saved", "--episodes", "2")
    assert_usage_error(proc, "Corridor-v0, which is not registered", "--env MODULE:Corridor-v0")
    proc = command("agent", "eval", tmp_path / "saved", "--episodes", "2",
                   "--env", "corridor_envs:Corridor-v0")  # fmt: skip
    assert proc.returncode == 0 and "over 2 episodes" in proc.stdout, proc.stderr
    proc = command("agent", "eval", tmp_path / "saved", "--env", "CartPole-v1")
    assert_usage_error(proc, "holds an agent of Corridor-v0", "CartPole-v1 has 4")
    # an env made without gymnasium.make has no id to save: --env gives it (was "corrupt")
    from corridor_envs import Corridor

    DQNAgent(Corridor(), {"hidden_sizes": (8,)}).save(tmp_path / "no-id")
    proc = command("agent", "eval", tmp_path / "no-id", "--episodes", "2")
    assert_usage_error(proc, "an env made without gymnasium.make", "give --env ID")
    proc = command("agent", "eval", tmp_path / "no-id", "--episodes", "2",
                   "--env", "corridor_envs:Corridor-v0")  # fmt: skip
    assert proc.returncode == 0 and "over 2 episodes" in proc.stdout, proc.stderr


def test_the_progress_bar_ends_showing_the_final_evaluation(tmp_path, capsys, monkeypatch):
    """The final evaluation ran after the bar had closed: a budget that ended between two
    evaluations left the bar showing the one before ("eval=210.0", then "final 161.2")."""
    import re

    from rlgen.agents import EvalCallback
    from rlgen.agents.configs import dqn_config_for
    from rlgen.agents.training import train_run

    evaluate_now = EvalCallback.evaluate_now

    def marked(self, agent):  # each evaluation's mean is its step: told apart on the bar
        row = evaluate_now(self, agent)
        row["mean_reward"] = float(agent.num_timesteps)
        return row

    monkeypatch.setattr(EvalCallback, "evaluate_now", marked)
    config = dqn_config_for("CartPole-v1", learning_starts=200)
    train_run("dqn", "CartPole-v1", config, steps=700, eval_every=300, eval_episodes=2,
              out=tmp_path / "run")  # fmt: skip
    shown = re.findall(r"eval=(-?[\d.]+)", capsys.readouterr().err)
    assert shown[-1] == "700.0", shown  # evaluations at 300, 600, then the final at 700
