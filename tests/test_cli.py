"""The command line in fresh processes: smoke runs and every promised bad-input error."""

import json
import subprocess
import sys

import numpy as np
import pytest

from tests.conftest import run_cli
from tests.test_datasets import write_idx_set


@pytest.fixture(scope="module")
def iris_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("runs") / "iris"
    result = run_cli("supervised", "train", "iris", "--epochs", "40", "--out", out)
    assert result.code == 0, result
    return out, result


@pytest.fixture(scope="module")
def cnn_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("runs") / "cnn"
    result = run_cli(
        "supervised",
        "train",
        "cnn",
        "--train-size",
        "500",
        "--epochs",
        "2",
        "--quiet",
        "--out",
        out,
    )
    assert result.code == 0, result
    return out


def test_help_does_not_import_tensorflow():
    code = (
        "import sys\n"
        "from rlgen.cli import build_parser\n"
        "build_parser().format_help()\n"
        "assert 'tensorflow' not in sys.modules and 'keras' not in sys.modules, 'TF imported'\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
    result = run_cli("--help")
    assert result.code == 0 and "supervised" in result.out


def _subparsers(parser):
    import argparse

    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield name, sub
                for deeper, subsub in _subparsers(sub):
                    yield f"{name} {deeper}", subsub


def test_every_command_has_a_help_page():
    from rlgen.cli import build_parser

    commands = dict(_subparsers(build_parser()))
    assert {"supervised train cnn", "agent train dqn", "gan sample"} <= set(commands)
    for name, parser in commands.items():
        assert parser.format_help(), name  # raised on a bare "%" in a help string
    result = run_cli("supervised", "train", "cnn", "--help")
    assert result.code == 0 and "10%" in result.out, result


def test_info(cli):
    result = cli("info")
    assert result.code == 0, result
    for word in ("tensorflow", "keras", "gymnasium", "CPU", "runs on", "mlxtend"):
        assert word in result.out, result
    assert "I0000" not in result.err  # TensorFlow's start-up notices are hidden
    assert "loading TensorFlow" not in result.err  # not a terminal: no note


def test_a_terminal_is_told_tensorflow_is_loading_and_the_note_is_wiped():
    """Several silent seconds at a terminal before the first line: a newcomer wondered."""
    import os
    import pty

    main, child = pty.openpty()
    env = {**os.environ, "RLGEN_OFFLINE": "1"}
    proc = subprocess.run([sys.executable, "-m", "rlgen", "info"], stdout=subprocess.PIPE,
                          stderr=child, env=env, timeout=300)  # fmt: skip
    os.close(child)
    err = b""
    while True:
        try:
            chunk = os.read(main, 4096)
        except OSError:  # Linux: EIO once the child's end is closed and all is read
            break
        if not chunk:
            break
        err += chunk
    os.close(main)
    assert proc.returncode == 0 and b"devices" in proc.stdout
    assert err == b"rlgen: loading TensorFlow...\r\x1b[K", err


def test_train_writes_a_complete_run(iris_run):
    out, result = iris_run
    for name in (
        "config.json",
        "model.keras",
        "history.csv",
        "history.png",
        "summary.json",
        "model_summary.txt",
        "checkpoint/model.keras",
    ):
        assert (out / name).is_file(), name
    assert any((out / "tensorboard").rglob("events.out.tfevents*"))
    summary = json.loads((out / "summary.json").read_text())
    assert summary["test_accuracy"] > 0.6 and summary["epochs"] == 40
    config = json.loads((out / "config.json").read_text())
    assert config["group"] == "supervised" and config["config"]["epochs"] == 40
    assert config["runtime"]["device_used"] == "cpu"
    assert str(out) in result.out


def test_eval_in_a_fresh_process_reproduces_test_accuracy(iris_run, cli):
    out, _ = iris_run
    result = cli("supervised", "eval", out)
    assert result.code == 0, result
    trained = json.loads((out / "summary.json").read_text())["test_accuracy"]
    assert json.loads((out / "eval.json").read_text())["test_accuracy"] == pytest.approx(trained)


def test_predict_a_user_image(cnn_run, cli, tmp_path):
    from PIL import Image

    from rlgen.datasets import load_images

    for i in (0, 1):
        digit = load_images("mnist").x_test[i, ..., 0]
        paper = (255 - np.kron(digit, np.ones((4, 4))) * 255).astype(np.uint8)  # dark on white
        Image.fromarray(paper).save(tmp_path / f"digit{i}.png")
    result = cli("supervised", "predict", cnn_run, tmp_path / "digit0.png")
    assert result.code == 0, result
    lines = [ln for ln in result.out.splitlines() if ln.startswith("  ")]
    assert len(lines) == 3
    probs = [float(ln.split()[-1]) for ln in lines]
    assert probs == sorted(probs, reverse=True) and 0 < sum(probs) <= 1.0001
    # several pictures in one call: a block each, as each alone would print it
    both = cli("supervised", "predict", cnn_run, tmp_path / "digit1.png", tmp_path / "digit0.png")
    assert both.code == 0, both
    blocks = both.out.split(f"{tmp_path / 'digit0.png'}: ")
    assert len(blocks) == 2 and blocks[0].startswith(str(tmp_path / "digit1.png")), both
    alone = [ln.split() for ln in lines]
    together = [ln.split() for ln in blocks[1].splitlines() if ln.startswith("  ")]
    assert [row[0] for row in together] == [row[0] for row in alone], both
    assert np.allclose([float(r[-1]) for r in together], [float(r[-1]) for r in alone], atol=2e-3)
    (tmp_path / "bad.png").write_text("not a picture")  # the bad one is named, nothing printed
    bad = cli("supervised", "predict", cnn_run, tmp_path / "digit0.png", tmp_path / "bad.png")
    assert "bad.png" in bad.assert_usage_error("not a readable") and not bad.out, bad


def test_config_file_sets_values_and_flags_win(cli, tmp_path):
    toml = tmp_path / "c.toml"
    toml.write_text("epochs = 3\nhidden = [6]\n[runtime]\nseed = 4\nquiet = true\n")
    out = tmp_path / "run"
    result = cli("supervised", "train", "iris", "--config", toml, "--epochs", "2", "--out", out)
    assert result.code == 0, result
    assert "summary" not in result.out and "run written to" in result.out  # quiet from the file
    result = cli("supervised", "train", "iris", "--config", toml, "--no-quiet", "--out", out / "b")
    assert result.code == 0 and "summary" in result.out, result  # the flag wins over the file
    config = json.loads((out / "config.json").read_text())
    assert config["config"]["epochs"] == 2 and config["config"]["hidden"] == [6]
    assert config["seed"] == 4


@pytest.mark.parametrize(
    "args,fragments",
    [
        (["supervised", "train", "transformer"], ["invalid choice", "transformer"]),
        (["supervised", "train", "cnn", "--optimizer", "adamw"], ["adamw"]),
        (["supervised", "train", "mlp", "--epochs", "0"], ["--epochs must be > 0"]),
        (["supervised", "train", "mlp", "--batch-size", "-5"], ["--batch-size must be > 0"]),
        (["supervised", "train", "mlp", "--epochs", "ten"], ["epochs"]),
        (["supervised", "train", "cnn", "--device", "gpu"], ["no GPU", "--device cpu"]),
        (["supervised", "train", "cnn", "--data-dir", "/nonexistent/x"], ["does not exist"]),
        (["supervised", "eval", "/nonexistent/run"], ["not a folder"]),
        (["supervised", "train", "mlp", "--activation", "relux"], ["relux", "'relu'"]),
        (["supervised", "train", "cnn", "--kernel-size", "20"], ["kernel-size 20", "at most 14"]),
        (["supervised", "train", "rnn", "--bits", "40"], ["--bits must be in 2..32"]),
        # 64 pairs of 4 bits, 10 of them among the 8-bit training pairs
        (["supervised", "train", "rnn", "--test-bits", "4"], ["only 54", "lower --test-pairs"]),
        # rotated the addition task's bit sequences: accuracy fell to chance, exit 0
        (["supervised", "train", "rnn", "--geometric"], ["--geometric is for images"]),
        (["supervised", "train", "rnn", "--train-size", "9"], ["--train-size is for images"]),
        # an empty training split was tf.data's traceback and a half-made run folder
        (
            ["supervised", "train", "mlp", "--train-size", "300", "--validation-split", "0.999"],
            ["--validation-split 0.999 leaves no training examples"],
        ),
        (["gan", "sample", "/nonexistent/run", "-n", "4", "--out", "x.png"], ["not a folder"]),
    ],
)
def test_bad_input_one_line_exit_2(cli, args, fragments):
    cli(*args).assert_usage_error(*fragments)


def test_bad_data_dirs(cli, tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    cli("supervised", "train", "mlp", "--data-dir", empty).assert_usage_error("no recognisable")
    write_idx_set(tmp_path / "trunc", gz=True)
    f = tmp_path / "trunc" / "train-images-idx3-ubyte.gz"
    f.write_bytes(f.read_bytes()[: len(f.read_bytes()) // 2])
    cli("supervised", "train", "mlp", "--data-dir", tmp_path / "trunc").assert_usage_error("gzip")
    assert not (tmp_path / "runs").exists()


def test_bad_toml(cli, tmp_path):
    unknown = tmp_path / "u.toml"
    unknown.write_text("epochs = 2\nlayers = 3\n")
    cli("supervised", "train", "mlp", "--config", unknown).assert_usage_error(
        "unknown key 'layers'"
    )
    wrong = tmp_path / "w.toml"
    wrong.write_text('epochs = "two"\n')
    cli("supervised", "train", "mlp", "--config", wrong).assert_usage_error("'epochs' must be int")
    scalar = tmp_path / "r.toml"
    scalar.write_text("runtime = 3\n")  # was dict(3)'s TypeError traceback
    cli("supervised", "train", "mlp", "--config", scalar).assert_usage_error("must be a table")
    flag = tmp_path / "q.toml"
    flag.write_text('[runtime]\nquiet = "yes"\n')
    cli("supervised", "train", "mlp", "--config", flag).assert_usage_error("true or false")
    listed = tmp_path / "l.toml"
    listed.write_text('task = ["mnist"]\n')  # was "unhashable type: 'list'", a traceback
    cli("supervised", "train", "rnn", "--config", listed).assert_usage_error("'task' must be")
    text = tmp_path / "s.toml"
    text.write_text('epochs = "2"\n')  # a string where TOML has numbers: refused, not parsed
    cli("supervised", "train", "mlp", "--config", text).assert_usage_error("'epochs' must be int")
    typo = tmp_path / "t.toml"
    typo.write_text("[runtime]\nthreds = 1\n")
    cli("supervised", "train", "mlp", "--config", typo).assert_usage_error(
        "[runtime]: unknown key 'threds'", "quiet, seed"
    )


def test_bad_image_and_non_image_run(cnn_run, iris_run, cli, tmp_path):
    (tmp_path / "x.png").write_bytes(b"\x89PNG garbage")
    cli("supervised", "predict", cnn_run, tmp_path / "x.png").assert_usage_error("not a readable")
    from PIL import Image

    Image.fromarray(np.eye(28, dtype=np.uint8) * 255).save(tmp_path / "ok.png")
    cli("supervised", "predict", iris_run[0], tmp_path / "ok.png").assert_usage_error("task 'iris'")


def test_eval_on_non_run_and_corrupt_model(cli, iris_run, tmp_path):
    cli("supervised", "eval", tmp_path).assert_usage_error("not an rlgen run")
    broken = tmp_path / "broken"
    broken.mkdir()
    for name in ("config.json", "summary.json"):
        (broken / name).write_bytes((iris_run[0] / name).read_bytes())
    (broken / "model.keras").write_bytes(b"PK\x03\x04 this is not a keras file")
    cli("supervised", "eval", broken).assert_usage_error("corrupt")


def test_eval_finds_moved_data_and_reads_with_the_shared_flags(cli, tmp_path):
    # config.json kept --data-dir as typed (relative), and eval had no --data-dir: a run
    # evaluated from another folder, or after its data moved, could not be evaluated at all
    work = tmp_path / "work"
    write_idx_set(work / "data", n_train=60, n_test=20)
    args = ("supervised", "train", "mlp", "--data-dir", "data", "--epochs", "1", "--quiet")
    assert cli(*args, "--out", "run", cwd=work).code == 0
    config = json.loads((work / "run" / "config.json").read_text())
    assert config["config"]["data_dir"] == str(work / "data")  # absolute
    result = cli("supervised", "eval", work / "run", "--threads", "1", cwd=tmp_path)
    assert result.code == 0 and "test_accuracy" in result.out, result
    (work / "data").rename(tmp_path / "moved")
    # named as the run's data, not as a --data-dir the user never gave
    cli("supervised", "eval", work / "run").assert_usage_error("no longer there", "--data-dir")
    predicted = cli("supervised", "predict", work / "run", _digit_png(tmp_path))
    assert predicted.code == 0, predicted  # predicting needs no data set
    moved = cli("supervised", "eval", work / "run", "--data-dir", tmp_path / "moved")
    assert moved.code == 0 and "warning" not in moved.err, moved
    other = cli("supervised", "eval", work / "run", "--data-dir", work / "nowhere")
    other.assert_usage_error("does not exist")
    write_idx_set(tmp_path / "another", n_train=60, n_test=20, seed=1)  # other digits
    another = cli("supervised", "eval", work / "run", "--data-dir", tmp_path / "another")
    assert another.code == 0 and "not the test split" in another.err, another
    (work / "run" / "model.keras").unlink()  # as after Ctrl-C: the checkpoint is named
    cli("supervised", "eval", work / "run").assert_usage_error("checkpoint/model.keras")


def test_ctrl_c_names_the_checkpoint_to_use(tmp_path):
    from tests.conftest import interrupt_cli

    out = tmp_path / "run"
    args = ("supervised", "train", "mlp", "--train-size", "200", "--epochs", "5000", "--quiet")
    result = interrupt_cli(*args, "--out", out, once=out / "checkpoint" / "model.keras")
    assert result.code == 130, result
    assert "Traceback" not in result.err, result
    assert f"model is {out / 'checkpoint' / 'model.keras'}" in result.err, result
    assert "\nrlgen: interrupted" in result.err  # on a line of its own


def _digit_png(folder):
    from PIL import Image

    canvas = np.full((100, 80), 255, np.uint8)  # a dark "1" on white paper
    canvas[10:70, 36:44] = 0
    Image.fromarray(canvas).save(folder / "one.png")
    return folder / "one.png"


def test_existing_run_is_never_overwritten(cli, iris_run):
    out, _ = iris_run
    before = (out / "model.keras").read_bytes()
    cli("supervised", "train", "iris", "--out", out).assert_usage_error("already exists")
    assert (out / "model.keras").read_bytes() == before


def test_nan_loss_exits_2_and_keeps_checkpoint(cli, tmp_path):
    out = tmp_path / "nan"
    result = cli(
        "supervised",
        "train",
        "regression",
        "--optimizer",
        "sgd",
        "--learning-rate",
        "0.2",
        "--epochs",
        "50",
        "--quiet",
        "--out",
        out,
    )
    result.assert_usage_error("loss became", "the last good model is in")
    from tests.supervised.test_training import assert_finite_model

    assert_finite_model(out / "checkpoint" / "model.keras")  # the good weights, not the NaNs
    first = tmp_path / "first-epoch"  # diverges at once: no checkpoint to point to
    args = ("--optimizer", "sgd", "--learning-rate", "1e6", "--epochs", "3", "--quiet")
    result = cli("supervised", "train", "regression", *args, "--out", first)
    result.assert_usage_error("loss became", "in the first epoch, so no checkpoint was written")
    assert not (first / "checkpoint").exists()


@pytest.mark.parametrize(
    "command, flags, hint",
    [
        ("agent train dqn", ["--stpes", "100"], "--stpes: did you mean --steps?"),
        ("supervised train cnn", ["--lr", "0.1"], "did you mean --learning-rate?"),
        ("supervised train mlp", ["--nb_epoch", "3"], "did you mean --epochs?"),
        ("gan train", ["--batch_size=32"], "did you mean --batch-size?"),
        ("gan sample RUN --out a.png", ["--digti", "3"], "did you mean --digit?"),
        ("agent eval RUN", ["--zzz"], None),
    ],
)
def test_unknown_flags_name_the_closest_one_and_the_commands_help(command, flags, hint, capsys):
    from rlgen.cli import main

    with pytest.raises(SystemExit) as stop:
        main([*command.split(), *flags])
    command = " ".join(w for w in command.split() if w not in ("RUN", "--out", "a.png"))
    assert stop.value.code == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "unrecognized arguments" in err
    assert err.endswith(f"see 'rlgen {command} --help'")
    if hint:
        assert hint in err
    else:
        assert "did you mean" not in err


def test_figures_print_every_float_to_four_decimals(capsys):
    from rlgen.cli.common import print_figures

    print_figures({"a": np.float32(0.123456789), "b": 2 / 3, "n": np.int64(7), "ok": True})
    lines = [line.split() for line in capsys.readouterr().out.splitlines()]
    assert lines == [["a", "0.1235"], ["b", "0.6667"], ["n", "7"], ["ok", "True"]]


def test_a_full_disk_or_memory_is_one_line_not_a_traceback(monkeypatch, capsys):
    """OSError [Errno 28] came out as a traceback from whichever write met the full disk, and
    so did NumPy's and TensorFlow's out-of-memory errors (--hidden 200000,200000)."""
    import errno

    from rlgen.cli import info, main

    def full(args):
        raise OSError(errno.ENOSPC, "No space left on device", "runs/x/replay.npz")

    monkeypatch.setattr(info, "run", full)
    assert main(["info"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert err.startswith("rlgen: error: the disk is full writing runs/x/replay.npz; files")

    for error, said in ((MemoryError(), "out of memory; give smaller sizes"),
                        (type("ResourceExhaustedError", (Exception,), {})("OOM"),
                         "out of memory in TensorFlow; give smaller sizes")):  # fmt: skip

        def fail(args, error=error):
            raise error

        monkeypatch.setattr(info, "run", fail)
        assert main(["info"]) == 2
        err = capsys.readouterr().err
        assert err.startswith(f"rlgen: error: {said}") and err.count("\n") == 1, err

    def other(args):
        raise OSError(errno.EIO, "Input/output error")

    monkeypatch.setattr(info, "run", other)
    with pytest.raises(OSError, match="Input/output"):  # not every OSError is a full disk
        main(["info"])


def test_small_bad_inputs_name_the_flag_and_what_is_wrong(tmp_path, capsys, monkeypatch):
    """Each said something beside the point: "not found" for a folder, "not empty" for a
    file, Python's stop_at_reward on the command line, "0.0 GB but 0.0 GB free", and an
    empty --config or a --train-size past the data taken without a word."""
    from types import SimpleNamespace

    from rlgen import datasets
    from rlgen.agents.callbacks import EvalCallback
    from rlgen.config import read_toml
    from rlgen.errors import UsageError, command_line
    from rlgen.gan.sampling import check_output
    from rlgen.runs import check_out

    with pytest.raises(UsageError, match="^config file name is empty; give the path"):
        read_toml("")
    with pytest.raises(UsageError, match=f"^config file {tmp_path} is a folder"):
        read_toml(tmp_path)
    (tmp_path / "afile").write_text("")
    with pytest.raises(UsageError, match="afile is a file; give a new folder's name"):
        check_out(tmp_path / "afile")
    with command_line(), pytest.raises(UsageError, match="^--stop-at-reward must be a finite"):
        EvalCallback(stop_at_reward=float("nan"))
    monkeypatch.setattr("shutil.disk_usage", lambda path: SimpleNamespace(free=600_000))
    with pytest.raises(UsageError, match=r"n=1000 digits need 3\.1 MB but .* has 0\.6 MB free"):
        check_output(tmp_path / "x.npz", 1000)  # "need 0.0 GB but ... has 0.0 GB free" before
    assert len(datasets.training_subset(np.arange(10) % 2, 99, "ten labels")) == 10
    assert "train_size=99 is more than the 10 training images of ten labels" in (
        capsys.readouterr().err
    )


def test_an_empty_config_flag_is_refused_not_ignored(tmp_path):
    result = run_cli("supervised", "train", "iris", "--config", "", "--out", tmp_path / "run")
    result.assert_usage_error("config file name is empty")  # trained on the defaults before
    assert not (tmp_path / "run").exists()


def test_sigterm_ends_a_command_as_ctrl_c_does_unless_its_parent_ignores_it():
    import signal

    from rlgen.cli import _terminate_as_interrupt

    before = signal.getsignal(signal.SIGTERM)
    with _terminate_as_interrupt() as received:
        with pytest.raises(KeyboardInterrupt):
            signal.raise_signal(signal.SIGTERM)
    assert received == [signal.SIGTERM] and signal.getsignal(signal.SIGTERM) == before
    signal.signal(signal.SIGTERM, signal.SIG_IGN)  # as `trap '' TERM` or nohup leave it
    try:
        with _terminate_as_interrupt() as received:
            assert signal.getsignal(signal.SIGTERM) is signal.SIG_IGN  # still ignored
            signal.raise_signal(signal.SIGTERM)
        assert received == []
    finally:
        signal.signal(signal.SIGTERM, before)


def test_an_error_raised_in_place_of_a_ctrl_c_is_reported_as_the_interrupt(monkeypatch, capsys):
    """TensorFlow, tracing a function when Ctrl-C comes, can raise its own StagingError in
    place of the KeyboardInterrupt: that printed a traceback."""
    import argparse
    import signal

    from rlgen import cli

    def command(args):
        try:
            signal.raise_signal(signal.SIGINT)
        except KeyboardInterrupt as err:  # as the tracing does
            raise RuntimeError("in user code: KeyboardInterrupt") from err

    def failing(args):
        raise RuntimeError("a real failure")

    parser = argparse.ArgumentParser(prog="rlgen")
    parser.set_defaults(func=command)
    monkeypatch.setattr(cli, "build_parser", lambda: parser)
    before = signal.getsignal(signal.SIGINT)
    assert cli.main([]) == 130
    assert signal.getsignal(signal.SIGINT) == before
    err = capsys.readouterr().err
    assert "rlgen: interrupted; runs already written are kept" in err
    assert "Traceback" not in err and "a real failure" not in err
    parser.set_defaults(func=failing)  # with no signal, an error is still the error
    with pytest.raises(RuntimeError, match="a real failure"):
        cli.main([])

    def failing_after_a_signal(args):
        try:
            signal.raise_signal(signal.SIGINT)
        except KeyboardInterrupt:
            pass  # a graceful stop goes on to write the run: its errors are its own
        raise RuntimeError("a real failure")

    parser.set_defaults(func=failing_after_a_signal)
    with pytest.raises(RuntimeError, match="a real failure"):
        cli.main([])
