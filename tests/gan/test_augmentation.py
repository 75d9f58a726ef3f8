"""Synthetic digits mixed into a classifier's training set (rlgen supervised --augment-from)."""

import numpy as np

from rlgen.datasets import load_images
from rlgen.supervised.training import Trainer, default_config


def test_synthetic_digits_join_training_only(gan_run):
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
    assert synth_y.dtype == np.int64 and set(synth_y.tolist()) == set(range(10))  # balanced
    # validation and test stay real, untouched
    np.testing.assert_array_equal(mixed.x_val, real.x_val)
    np.testing.assert_array_equal(mixed.x_test, load_images("mnist").x_test)
    assert "synthetic" in mixed.source


def test_augment_from_a_non_gan_or_unconditional_run(cli, not_a_gan_run, uncond_run):
    common = ["supervised", "train", "cnn", "--train-size", "100", "--synthetic", "10"]
    cli(*common, "--augment-from", not_a_gan_run).assert_usage_error("not a gan run")
    cli(*common, "--augment-from", uncond_run).assert_usage_error("unconditional")
