import argparse
import json

import pytest

from rlgen import config as cfgmod
from rlgen.errors import UsageError, command_line, option, pythonic
from rlgen.runtime import RuntimeConfig
from rlgen.supervised.configs import CONFIGS, CNNConfig, MLPConfig, RNNConfig


def parse(cls, argv):
    p = argparse.ArgumentParser()
    cfgmod.add_flags(p, cls)
    return {k: v for k, v in vars(p.parse_args(argv)).items()}


@pytest.mark.parametrize("name", list(CONFIGS))
def test_round_trip_dataclass_flags_toml_json(name, tmp_path):
    cls = CONFIGS[name]
    original = cls()
    # change every numeric field so the round trip carries non-defaults
    changes = {"task": "mnist"} if name == "rnn" else {}  # addition refuses the image flags
    for key, value in cfgmod.to_dict(original).items():
        if key == "synthetic":  # needs --augment-from; covered by its own test
            continue
        if isinstance(value, bool):
            changes[key] = not value
        elif isinstance(value, int):
            changes[key] = value + 1
        elif isinstance(value, float):
            changes[key] = min(value * 0.5, 0.5)
    cfg = cfgmod.build(cls, changes)
    from_flags = cfgmod.build(cls, parse(cls, cfgmod.to_flags(cfg)))
    assert from_flags == cfg
    toml_file = tmp_path / "c.toml"
    toml_file.write_text(cfgmod.to_toml(cfg))
    from_toml = cfgmod.build(cls, cfgmod.read_toml(toml_file))
    assert from_toml == cfg
    from_json = cfgmod.build(cls, json.loads(json.dumps(cfgmod.to_dict(cfg))))
    assert from_json == cfg


def test_precedence_defaults_preset_file_flags():
    cfg = cfgmod.resolve(
        RNNConfig,
        flags={"epochs": 3},
        file_values={"units": 7, "epochs": 5},
        preset={"units": 128, "learning_rate": 0.5},
    )
    assert (cfg.epochs, cfg.units, cfg.learning_rate) == (3, 7, 0.5)


def test_unknown_key_is_named():
    with pytest.raises(UsageError, match="unknown key 'hiden'"):
        cfgmod.build(MLPConfig, {"hiden": [3]}, where="config file x.toml")


def test_wrong_type_is_named():
    with pytest.raises(UsageError, match="'epochs' must be int"):
        cfgmod.build(MLPConfig, {"epochs": "many"})
    with pytest.raises(UsageError, match="'optimizer'"):
        cfgmod.build(MLPConfig, {"optimizer": "adamw"})


@pytest.mark.parametrize("field,value", [("epochs", 0), ("batch_size", -1), ("learning_rate", 0.0)])
def test_non_positive_values_rejected(field, value):
    # a file's values are named by their keys, the command line's by their flags
    with pytest.raises(UsageError, match=f"^config: {field} must be > 0"):
        cfgmod.build(CNNConfig, {field: value})
    with (
        command_line(),
        pytest.raises(UsageError, match=f"^command line: --{field.replace('_', '-')} "),
    ):
        cfgmod.build(CNNConfig, {field: value}, "command line")


def test_choices_are_taken_in_any_case():
    # "Adam", "LSTM" and "MNIST" were refused: the names Keras and papers write
    cfg = RNNConfig(cell="LSTM", optimizer="Adam", dataset="MNIST")
    assert (cfg.cell, cfg.optimizer, cfg.dataset) == ("lstm", "adam", "mnist")
    assert parse(RNNConfig, ["--cell", "GRU"])["cell"] == "gru"
    with pytest.raises(UsageError, match="^cell must be one of"):
        RNNConfig(cell="transformer")


def test_messages_name_flags_on_the_command_line_and_arguments_in_python():
    from rlgen.gan.configs import GANConfig

    said = "--loss hinge and --unconditional, not --no-geometric; lower --learning-rate or -n 5"
    assert pythonic(said) == (
        "loss='hinge' and unconditional=True, not geometric=False; lower learning_rate or n=5"
    )
    assert pythonic("--seed -1, --steps --episodes") == "seed=-1, steps episodes"
    assert (
        pythonic("--synthetic needs --augment-from GAN_RUN")
        == "synthetic needs augment_from=GAN_RUN"
    )
    # a command to type stays one, and values that are not flags stay as they are
    for kept in ("run 'rlgen agent train dqn --resume runs/x'", "got -inf; real-data level"):
        assert pythonic(kept) == kept
    with pytest.raises(ValueError, match=r"^conditioning='projection' needs labels; drop unc"):
        GANConfig(conditioning="projection", unconditional=True)
    with command_line(), pytest.raises(ValueError, match="^--conditioning projection needs"):
        GANConfig(conditioning="projection", unconditional=True)
    assert option("--steps", "total_timesteps") == "total_timesteps"
    with command_line():
        assert option("--steps", "total_timesteps") == "--steps"


@pytest.mark.parametrize("value", ["nan", "inf", "-inf"])
def test_non_finite_values_rejected(value):
    # "nan <= 0" is False: --learning-rate nan trained on NaN weights
    with pytest.raises(UsageError, match="learning_rate must be a finite number > 0, got"):
        cfgmod.build(CNNConfig, {"learning_rate": float(value)})
    with pytest.raises(UsageError, match="learning_rate must be a finite number"):
        cfgmod.build(CNNConfig, parse(CNNConfig, [f"--learning-rate={value}"]))


@pytest.mark.parametrize("seed", [-1, 2**32, 2**57])
def test_seeds_outside_numpys_range_are_refused(seed):
    # 2**32 passed and failed in np.random.seed, 2**57 inside TensorFlow
    with pytest.raises(UsageError, match="seed must be a whole number >= 0 and < 2\\*\\*32"):
        cfgmod.build(RuntimeConfig, {"seed": seed})
    assert cfgmod.build(RuntimeConfig, {"seed": 2**32 - 1}).seed == 2**32 - 1


def test_tuple_flag_parses_commas():
    assert parse(MLPConfig, ["--hidden", "64,32"])["hidden"] == (64, 32)
    for written in ("[64, 32]", "(64,32)", "64, 32"):  # as Python and TOML write them
        assert parse(MLPConfig, ["--hidden", written])["hidden"] == (64, 32)
    with pytest.raises(SystemExit):
        parse(MLPConfig, ["--hidden", "a,b"])


def test_help_shows_the_presets_beside_the_defaults():
    from rlgen.cli import build_parser

    def help_of(*argv):
        parser = build_parser()
        for name in argv:  # walk down to the sub-command's own parser
            action = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
            parser = action.choices[name]
        return " ".join(parser.format_help().split())

    dqn = help_of("agent", "train", "dqn")
    assert (
        "Adam learning rate (default: 0.00063; CartPole-v1: 0.0023, MountainCar-v0: 0.004)" in dqn
    )
    assert "(default: 128; CartPole-v1: 64)" in dqn  # the batch size CartPole really trains with
    assert "train for N env steps (default: CartPole-v1 50,000," in dqn
    rnn = help_of("supervised", "train", "rnn")
    assert "recurrent cell (default: simple; --task mnist: lstm)" in rnn


def test_activations_are_kerass_own_and_checked_in_python_too():
    import typing

    import keras

    from rlgen.supervised.configs import NOT_IN_A_DENSE_LAYER, Activation, IrisConfig

    known = set(keras.src.activations.ALL_OBJECTS_DICT) - set(NOT_IN_A_DENSE_LAYER)
    assert set(typing.get_args(Activation)) == known
    with pytest.raises(ValueError, match="^activation must be one of relu, tanh"):
        MLPConfig(activation="relux")  # the Python API, which parses no flags
    with pytest.raises(ValueError, match="^optimizer must be one of"):
        IrisConfig(optimizer="adamw")


def test_runtime_config_flags():
    got = parse(RuntimeConfig, ["--device", "cpu", "--mixed-precision", "--threads", "1"])
    cfg = cfgmod.build(RuntimeConfig, got)
    assert (cfg.device, cfg.mixed_precision, cfg.threads, cfg.quiet) == ("cpu", True, 1, False)
    assert cfgmod.build(RuntimeConfig, parse(RuntimeConfig, ["--quiet"])).quiet is True


@pytest.mark.parametrize("text", ['"yes"', '"true"', "1"])
def test_booleans_are_true_or_false(text):
    # TOML has true and false; a string or number for a boolean is refused, not guessed at
    with pytest.raises(UsageError, match="'geometric' must be true or false, got"):
        value = cfgmod.tomllib.loads(f"geometric = {text}")["geometric"]
        cfgmod.build(CNNConfig, {"geometric": value})


def test_malformed_toml(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text("epochs = = 3\n")
    with pytest.raises(UsageError, match="not valid TOML"):
        cfgmod.read_toml(bad)
    with pytest.raises(UsageError, match="not found"):
        cfgmod.read_toml(tmp_path / "missing.toml")


def test_nan_where_a_number_is_compared_is_refused():
    # `nan < 0` is False: these passed their checks, and a NaN stop_at_reward never stopped
    from rlgen.agents import EvalCallback
    from rlgen.gan.configs import GANConfig
    from rlgen.supervised.configs import RegressionConfig

    with pytest.raises(UsageError, match="stop_at_reward must be a finite number"):
        EvalCallback("CartPole-v1", stop_at_reward=float("nan"))
    with pytest.raises(ValueError, match="^noise must be >= 0, got nan"):
        RegressionConfig(noise=float("nan"))
    with pytest.raises(ValueError, match="^leaky_slope must be >= 0, got nan"):
        GANConfig(leaky_slope=float("nan"))


def test_rlgen_warnings_are_one_line_on_the_command_line_and_python_warnings_elsewhere(
    capsys, recwarn
):
    import warnings

    from rlgen.errors import RlgenWarning

    with command_line():
        warnings.warn("the env is odd", RlgenWarning, stacklevel=1)
        warnings.warn("someone else's", UserWarning, stacklevel=1)
    assert capsys.readouterr().err == "rlgen: warning: the env is odd\n"
    assert str(recwarn.pop(UserWarning).message) == "someone else's"  # handled as before
    with pytest.warns(RlgenWarning, match="the env is odd"):  # from Python: a warning
        warnings.warn("the env is odd", RlgenWarning, stacklevel=1)


def test_the_warning_hook_outlives_no_command_line_in_overlapping_threads():
    """command_line() holds per thread, showwarning for the process: two overlapping ones,
    the first ending first, left the hook installed after both."""
    import threading
    import warnings

    original = warnings.showwarning
    b_entered, a_left = threading.Event(), threading.Event()

    def a():
        with command_line():
            b_entered.wait(5)
        a_left.set()

    def b():
        with command_line():
            b_entered.set()
            a_left.wait(5)

    threads = [threading.Thread(target=a), threading.Thread(target=b)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert warnings.showwarning is original


def test_the_warning_hook_never_calls_itself_after_a_catch_warnings_elsewhere(capsys, recwarn):
    """A catch_warnings() (Keras and TensorFlow use them) entered in another thread while a
    command_line() lasted put the hook back on leaving: the next command_line() took the
    hook for the handler before it, and a warning was a RecursionError."""
    import threading
    import warnings

    from rlgen.errors import RlgenWarning

    original = warnings.showwarning
    inside, left = threading.Event(), threading.Event()

    def other():
        with warnings.catch_warnings():
            inside.set()
            left.wait(5)

    thread = threading.Thread(target=other)
    with command_line():
        thread.start()
        inside.wait(5)
    left.set()
    thread.join()
    try:
        with command_line(), warnings.catch_warnings():
            warnings.simplefilter("always")
            warnings.warn("someone else's", UserWarning, stacklevel=1)  # no RecursionError
            warnings.warn("ours", RlgenWarning, stacklevel=1)
    finally:
        warnings.showwarning = original
    assert capsys.readouterr().err == "rlgen: warning: ours\n"
    assert str(recwarn.pop(UserWarning).message) == "someone else's"  # passed on
