"""Session fixtures for the GAN tests: one reference classifier and a few small trained GANs.

The reference classifier is cached in a session folder that RLGEN_CACHE_DIR points to, so the
CLI runs in subprocesses reuse it instead of training their own.
"""

from __future__ import annotations

import os

import numpy as np
import pytest

from tests.gan.helpers import digits, tiny_gan


@pytest.fixture(scope="session")
def cache_dir(tmp_path_factory):
    folder = tmp_path_factory.mktemp("rlgen-cache")
    old = os.environ.get("RLGEN_CACHE_DIR")
    os.environ["RLGEN_CACHE_DIR"] = str(folder)  # CLI subprocesses inherit it
    yield folder
    if old is None:
        os.environ.pop("RLGEN_CACHE_DIR", None)
    else:
        os.environ["RLGEN_CACHE_DIR"] = old


@pytest.fixture(scope="session")
def reference(cache_dir):
    from rlgen.gan import metrics

    return metrics.reference_classifier("mnist")


@pytest.fixture(scope="session")
def trained(tmp_path_factory):
    """The default conditional DCGAN trained 10 epochs on 1000 real digits (310 steps).

    Keeps the untrained generator's samples as ``before`` for the learning test."""
    from rlgen.gan.configs import GANConfig
    from rlgen.gan.dcgan import GAN

    gan = GAN(GANConfig(train_size=1000, batch_size=32, epochs=10), seed=0)
    x, y = gan.load_data()
    with pytest.warns(UserWarning, match="not been trained"):  # on purpose: the baseline
        gan.before = gan.sample(500, seed=1)
    gan.train(x, y, verbose=0)
    return gan


@pytest.fixture(scope="session")
def gan_run(trained, tmp_path_factory):
    """The trained GAN saved as a run folder (config.json, generator.keras, ...)."""
    path = tmp_path_factory.mktemp("runs") / "cgan"
    trained.save(path)
    return path


@pytest.fixture(scope="session")
def uncond_run(tmp_path_factory):
    gan = tiny_gan(unconditional=True)
    x, y = digits(32)
    gan.train(x, y, epochs=1, verbose=0)
    path = tmp_path_factory.mktemp("runs") / "uncond"
    gan.save(path)
    return path


@pytest.fixture
def not_a_gan_run(tmp_path):
    from rlgen.runs import write_json

    path = tmp_path / "supervised-run"
    write_json(path / "config.json", {"group": "supervised", "task": "cnn", "config": {}})
    return path


@pytest.fixture
def rng():
    return np.random.default_rng(0)
