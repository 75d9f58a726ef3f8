"""Synthetic digits mixed into a classifier's training set (rlgen supervised --augment-from)."""

import json
import shutil
from dataclasses import replace

import numpy as np
import pytest

from rlgen.datasets import load_images
from rlgen.supervised.training import Trainer, default_config


def test_synthetic_digits_join_training_only(gan_run, capsys):
    real = Trainer("cnn", default_config("cnn", train_size=200), seed=0).data
    mixed = Trainer(
        "cnn",
        default_config("cnn", train_size=200, augment_from=str(gan_run), synthetic=120),
        seed=0,
    ).data
    assert len(mixed.x_train) == len(real.x_train) + 120
    np.testing.assert_array_equal(mixed.x_train[: len(real.x_train)], real.x_train)
    synth_x, synth_y = mixed.x_train[len(real.x_train) :], mixed.y_train[len(real.y_train) :]
    assert synth_x.shape == (120, 28, 28, 1) and synth_x.dtype == np.float32
    assert 0.0 <= synth_x.min() and synth_x.max() <= 1.0
    assert synth_y.dtype == np.int64 and np.bincount(synth_y).tolist() == [12] * 10  # balanced
    # validation and test stay real, untouched
    np.testing.assert_array_equal(mixed.x_val, real.x_val)
    np.testing.assert_array_equal(mixed.x_test, load_images("mnist").x_test)
    assert "synthetic" in mixed.source
    # the GAN learnt from 1,000 digits, this classifier trains on 180 (20 validate): said
    warned = capsys.readouterr().err
    assert "learnt from 1,000 real digits" in warned and "validation accuracy" in warned


def test_no_warning_when_the_gan_learnt_only_from_the_classifiers_digits(gan_run, capsys, tmp_path):
    cfg = default_config("cnn", validation_split=0.0, augment_from=str(gan_run), synthetic=10)
    assert len(Trainer("cnn", cfg, seed=0).data.x_train) == 4_000 + 10
    assert "learnt from" not in capsys.readouterr().err
    # the fair setting (no validation split) with fewer digits than the GAN's: a traceback
    cfg = replace(cfg, train_size=200)
    assert len(Trainer("cnn", cfg, seed=0).data.x_train) == 200 + 10
    warned = capsys.readouterr().err
    assert "of which this classifier does not train on:" in warned, warned
    assert "validation" not in warned
    # a GAN trained from Python on images of its own: what it learnt from cannot be told
    from tests.gan.helpers import digits, tiny_gan

    gan = tiny_gan()
    gan.train(*digits(32, seed=5), epochs=1, verbose=0)
    gan.save(tmp_path / "own")
    cfg = default_config("cnn", train_size=100, augment_from=str(tmp_path / "own"), synthetic=10)
    assert len(Trainer("cnn", cfg, seed=0).data.x_train) == 90 + 10
    assert "learnt from" not in capsys.readouterr().err  # no false alarm


def test_augment_from_a_non_gan_or_unconditional_run(cli, not_a_gan_run, uncond_run):
    common = ["supervised", "train", "cnn", "--train-size", "100", "--synthetic", "10"]
    cli(*common, "--augment-from", not_a_gan_run).assert_usage_error("not a gan run")
    cli(*common, "--augment-from", uncond_run).assert_usage_error("unconditional")


def test_augmented_run_trains_and_evaluates_without_its_gan(cli, gan_run, tmp_path):
    gan = tmp_path / "gan"
    shutil.copytree(gan_run, gan)
    out = tmp_path / "cnn"
    common = ["--train-size", "100", "--epochs", "1", "--quiet", "--out", out]
    result = cli("supervised", "train", "cnn", *common, "--augment-from", gan, "--synthetic", "20")
    assert result.code == 0, result
    summary = json.loads((out / "summary.json").read_text())
    assert summary["train_examples"] == 90 + 20  # 10 % of the 100 real digits validate
    assert "20 synthetic digits" in summary["data_source"]
    shutil.move(gan, tmp_path / "moved")  # evaluation needs the real test digits only
    result = cli("supervised", "eval", out)
    assert result.code == 0, result
    assert "test_accuracy" in result.out


def test_augment_from_a_gan_of_another_data_set(cli, gan_run, tmp_path):
    gan = tmp_path / "gan"
    shutil.copytree(gan_run, gan)
    meta = json.loads((gan / "config.json").read_text())
    meta["config"]["dataset"] = "fashion_mnist"  # same image shape, other images
    (gan / "config.json").write_text(json.dumps(meta))
    common = ["supervised", "train", "cnn", "--train-size", "100", "--synthetic", "10"]
    cli(*common, "--augment-from", gan).assert_usage_error(
        "trained on fashion_mnist, not mnist", "--dataset mnist"
    )


class _FakeGAN:
    """Digit i of a draw is a flat image of value u_i ~ U(0, 1); labels cycle over 0-9."""

    def sample(self, n, digits=None, seed=0):
        pool = np.arange(10) if digits is None else np.atleast_1d(digits)
        u = np.random.default_rng(seed).uniform(size=n).astype(np.float32)
        return np.repeat(u, 784).reshape(n, 28, 28, 1), pool[np.arange(n) % len(pool)]


def _confidence_is_pixel_value(x):
    # A classifier that gives each image's pixel value to every class, so an image's
    # confidence in its own label is its pixel value.
    return np.repeat(x.reshape(len(x), -1)[:, :1], 10, axis=1)


def test_confidence_filter_keeps_balanced_confident_digits():
    from rlgen.gan.sampling import confident_samples

    x, y = confident_samples(_FakeGAN(), 50, 3, _confidence_is_pixel_value, 0.7)
    assert x.shape == (50, 28, 28, 1) and x.dtype == np.float32
    assert x.min() >= 0.7  # every kept digit passed
    assert np.bincount(y, minlength=10).tolist() == [5] * 10
    x2, y2 = confident_samples(_FakeGAN(), 50, 3, _confidence_is_pixel_value, 0.7)
    np.testing.assert_array_equal(x, x2)  # the same seed, the same digits
    np.testing.assert_array_equal(y, y2)


def test_confidence_filter_that_nothing_passes_is_a_usage_error():
    import pytest

    from rlgen.errors import UsageError
    from rlgen.gan.sampling import confident_samples

    with pytest.raises(UsageError, match="lower min_confidence"):
        confident_samples(_FakeGAN(), 20, 0, lambda x: np.zeros((len(x), 10)), 0.5, max_rounds=3)


def test_min_confidence_flag_checks(cli, gan_run):
    common = ["supervised", "train", "cnn", "--train-size", "100"]
    cli(*common, "--min-confidence", "0.9").assert_usage_error("--min-confidence")
    cli(
        *common, "--augment-from", str(gan_run), "--synthetic", "10", "--min-confidence", "1.5"
    ).assert_usage_error("--min-confidence must be in [0, 1)")


def test_augmenting_from_a_briefly_trained_gan_warns(gan_run, tmp_path, capsys):
    """A GAN of a few hundred steps draws poor digits (the study's 300-step control cost 1.6
    points): --augment-from says so and how to check, also for a GAN saved from Python (it
    writes no summary.json; config.json counts its steps)."""
    from rlgen.gan.sampling import generator_steps
    from rlgen.supervised.training import synthetic_digits

    steps = 10 * (1000 // 32)  # the fixture: 10 epochs of 1,000 digits in batches of 32
    assert generator_steps(gan_run) == steps < 1000
    synthetic_digits(gan_run, 10, seed=0)
    err = capsys.readouterr().err
    assert f"augment_from {gan_run} trained only {steps:,} generator steps" in err  # Python's
    # from Python, the Python way to check them
    assert f"rlgen.gan.metrics.evaluate({str(gan_run)!r}) or add min_confidence=0.9" in err
    synthetic_digits(gan_run, 10, seed=0, min_confidence=0.01)
    assert "or add min_confidence" not in capsys.readouterr().err  # it is there already
    # a run written before config.json counted steps: its summary.json's epochs
    run = tmp_path / "older"
    shutil.copytree(gan_run, run)
    config = json.loads((run / "config.json").read_text())
    del config["generator_steps"]
    (run / "config.json").write_text(json.dumps(config))
    assert generator_steps(run) is None
    (run / "summary.json").write_text(json.dumps({"epochs": 40, "train_examples": 1000}))
    assert generator_steps(run) == 40 * 31
    from rlgen.gan import GAN

    assert GAN.load(run).generator_steps == 40 * 31  # and it goes on counting from there
    (run / "summary.json").write_text("{garbled")
    assert generator_steps(run) is None  # loses the warning, not the digits


def test_image_keys_find_the_same_digits_wherever_they_sit():
    from rlgen.supervised.training import _image_keys

    x = load_images("mnist").x_train
    rng = np.random.default_rng(1)
    for n in (1000, 900, 101):  # a float projection counted 2 of the 900 as unseen
        picked = np.sort(rng.choice(len(x), n, replace=False))
        found = np.isin(_image_keys(x[picked]), _image_keys(x[:3000]))
        np.testing.assert_array_equal(found, picked < 3000)
    assert _image_keys(x[:0]).shape == (0,)


def test_augment_from_names_a_folder_not_a_gan_object(tmp_path):
    from rlgen.supervised import CNNConfig, Trainer, default_config

    fix = r"got an object; save the GAN with gan.save\('runs/my-gan'\)"
    with pytest.raises(ValueError, match=fix):
        CNNConfig(augment_from=object(), synthetic=10)  # "must be str, got <GAN ...>" before
    with pytest.raises(ValueError, match=fix):  # the generic type message before
        default_config("cnn", augment_from=object(), synthetic=10)
    with pytest.raises(ValueError, match=fix):
        Trainer("cnn", {"augment_from": object(), "synthetic": 10})
    assert CNNConfig(augment_from=tmp_path / "gan", synthetic=10).augment_from == str(
        tmp_path / "gan"
    )  # a Path is a folder name too
