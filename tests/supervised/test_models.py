import numpy as np
import pytest

from rlgen.supervised import models


@pytest.mark.parametrize(
    "build,shape,params",
    [
        (models.build_mlp, (28, 28, 1), 669_706),
        (models.build_cnn, (28, 28, 1), 1_199_882),
        (models.build_iris, (4,), 4 * 10 + 10 + 10 * 3 + 3),
        (models.build_perceptron, (2,), 3),
        (lambda: models.build_perceptron(hidden=4), (2,), 2 * 4 + 4 + 4 + 1),
        (lambda: models.build_polynomial_regression(3), (3,), 4),
    ],
)
def test_shapes_and_parameter_counts(build, shape, params):
    model = build()
    assert model.count_params() == params
    out = model(np.zeros((5, *shape), np.float32))
    assert out.shape[0] == 5


@pytest.mark.parametrize("cell", ["simple", "lstm", "gru"])
def test_addition_rnn_any_length(cell):
    model = models.build_rnn("addition", cell, units=8)
    units = {"simple": 1, "lstm": 4, "gru": 3}[cell]
    recurrent = units * (8 * 2 + 8 * 8 + 8) + (units * 8 if cell == "gru" else 0)
    assert model.count_params() == recurrent + 9
    for length in (8, 16):
        assert model(np.zeros((3, length, 2), np.float32)).shape == (3, length, 1)


def test_unrolled_rnn_copies_weights_to_longer_sequences():
    short = models.build_rnn("addition", "gru", units=4, unroll=True, sequence_length=8)
    long = models.with_sequence_length(short, 16, cell="gru", units=4, unroll=True)
    x = np.random.default_rng(0).integers(0, 2, (2, 16, 2)).astype(np.float32)
    # the first 8 outputs depend only on the first 8 inputs: both nets must agree there
    np.testing.assert_allclose(short(x[:, :8]).numpy(), long(x).numpy()[:, :8], atol=1e-5)


def test_mnist_rows_rnn_and_softmax_outputs():
    model = models.build_rnn("mnist", "lstm", units=16)
    probs = model(np.random.default_rng(0).random((4, 28, 28, 1)).astype(np.float32)).numpy()
    assert probs.shape == (4, 10)
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, atol=1e-5)
    assert model.count_params() == 4 * (28 * 16 + 16 * 16 + 16) + 16 * 10 + 10


@pytest.mark.parametrize("name", list(models.OPTIMIZERS))
def test_optimizers(name):
    opt = models.make_optimizer(name, 0.01)
    assert float(opt.learning_rate) == pytest.approx(0.01)
    assert type(opt).__name__.lower() == name


def test_every_accepted_activation_trains_in_a_dense_layer():
    import typing

    from rlgen.supervised.configs import Activation

    x = np.random.default_rng(0).random((16, 4), dtype=np.float32)
    y = np.arange(16) % 3
    for name in typing.get_args(Activation):  # glu and threshold failed (eagerly too): refused
        model = models.build_iris(hidden=(4,), activation=name)
        model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", run_eagerly=True)
        loss = model.fit(x, y, epochs=1, batch_size=16, verbose=0).history["loss"][0]
        assert np.isfinite(loss), name
