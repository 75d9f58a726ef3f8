"""Keras models of the course, each a ``build_*`` function with the course's architecture as
its defaults. Output layers are float32 so mixed precision keeps stable softmax/sigmoid."""

from __future__ import annotations

from collections.abc import Sequence

import keras
from keras import layers

from rlgen.datasets import IMAGE_SHAPE

OPTIMIZERS = {
    "sgd": keras.optimizers.SGD,
    "rmsprop": keras.optimizers.RMSprop,
    "adadelta": keras.optimizers.Adadelta,
    "adam": keras.optimizers.Adam,
    "adagrad": keras.optimizers.Adagrad,
}
RNN_CELLS = {"simple": layers.SimpleRNN, "lstm": layers.LSTM, "gru": layers.GRU}


def make_optimizer(name: str, learning_rate: float) -> keras.optimizers.Optimizer:
    """A fresh Keras optimiser by name: sgd, rmsprop, adadelta, adam or adagrad."""
    return OPTIMIZERS[name](learning_rate=learning_rate)


def build_mlp(
    input_shape: Sequence[int] = IMAGE_SHAPE,
    num_classes: int = 10,
    hidden: Sequence[int] = (512, 512),
    dropout: float = 0.2,
    activation: str = "relu",
) -> keras.Model:
    """Flatten - (Dense - Dropout) per hidden width - softmax; 669,706 weights by default."""
    x = inputs = keras.Input(shape=tuple(input_shape), name="image")
    x = layers.Flatten()(x)
    for width in hidden:
        x = layers.Dense(width, activation=activation)(x)
        x = layers.Dropout(dropout)(x)
    outputs = layers.Dense(num_classes, activation="softmax", dtype="float32", name="probs")(x)
    return keras.Model(inputs, outputs, name="mlp")


def build_cnn(
    input_shape: Sequence[int] = IMAGE_SHAPE,
    num_classes: int = 10,
    filters: Sequence[int] = (32, 64),
    kernel_size: int = 3,
    dense: int = 128,
    conv_dropout: float = 0.25,
    dense_dropout: float = 0.5,
) -> keras.Model:
    """Conv32-Conv64-MaxPool-Dropout-Dense128-Dropout-softmax (the Keras mnist_cnn example);
    1,199,882 weights by default."""
    x = inputs = keras.Input(shape=tuple(input_shape), name="image")
    for n in filters:
        x = layers.Conv2D(n, kernel_size, activation="relu")(x)
    x = layers.MaxPooling2D(2)(x)
    x = layers.Dropout(conv_dropout)(x)
    x = layers.Flatten()(x)
    x = layers.Dense(dense, activation="relu", name="features")(x)
    x = layers.Dropout(dense_dropout)(x)
    outputs = layers.Dense(num_classes, activation="softmax", dtype="float32", name="probs")(x)
    return keras.Model(inputs, outputs, name="cnn")


def build_rnn(
    task: str = "addition",
    cell: str = "simple",
    units: int = 16,
    dropout: float = 0.0,
    recurrent_dropout: float = 0.0,
    unroll: bool = False,
    sequence_length: int | None = None,
    num_classes: int = 10,
) -> keras.Model:
    """A recurrent net.

    ``addition``: input (T, 2) operand bits, output (T, 1) sum bits, least significant first,
    one sigmoid per step, so the net learns the carry and runs on any length T.
    ``mnist``: an image read as 28 rows of 28 pixels, softmax over the last state.
    """
    rnn_layer = RNN_CELLS[cell]
    kwargs = {"dropout": dropout, "recurrent_dropout": recurrent_dropout, "unroll": unroll}
    if task == "addition":
        inputs = keras.Input(shape=(sequence_length, 2), name="operand_bits")
        x = rnn_layer(units, return_sequences=True, name=cell, **kwargs)(inputs)
        outputs = layers.Dense(1, activation="sigmoid", dtype="float32", name="sum_bits")(x)
        return keras.Model(inputs, outputs, name=f"{cell}_addition")
    if task == "mnist":
        inputs = keras.Input(shape=IMAGE_SHAPE, name="image")
        x = layers.Reshape((28, 28))(inputs)
        x = rnn_layer(units, name=cell, **kwargs)(x)
        outputs = layers.Dense(num_classes, activation="softmax", dtype="float32", name="probs")(x)
        return keras.Model(inputs, outputs, name=f"{cell}_mnist_rows")
    raise ValueError(f"unknown RNN task {task!r}")


def with_sequence_length(model: keras.Model, length: int, **build_kwargs) -> keras.Model:
    """A copy of an addition RNN for sequences of ``length`` steps, sharing its weights.

    An unrolled net has a fixed length; the weights do not depend on it, so a longer net
    takes them unchanged (how the 8-bit model is tested on 16-bit operands).
    """
    clone = build_rnn(task="addition", sequence_length=length, **build_kwargs)
    clone.set_weights(model.get_weights())
    return clone


def build_iris(
    n_features: int = 4,
    num_classes: int = 3,
    hidden: Sequence[int] = (10,),
    activation: str = "relu",
    mean: Sequence[float] | None = None,
    variance: Sequence[float] | None = None,
) -> keras.Model:
    """4 - hidden - 3 softmax classifier for the iris flowers. With the training features'
    ``mean`` and ``variance`` it standardises its inputs itself (saved with the model)."""
    x = inputs = keras.Input(shape=(n_features,), name="features")
    if mean is not None:
        x = layers.Normalization(mean=mean, variance=variance, name="standardise")(x)
    for width in hidden:
        x = layers.Dense(width, activation=activation)(x)
    outputs = layers.Dense(num_classes, activation="softmax", dtype="float32", name="probs")(x)
    return keras.Model(inputs, outputs, name="iris")


def build_perceptron(hidden: int = 0, activation: str = "tanh") -> keras.Model:
    """Two inputs to one sigmoid unit; ``hidden`` > 0 puts a hidden layer between them."""
    x = inputs = keras.Input(shape=(2,), name="inputs")
    if hidden:
        x = layers.Dense(hidden, activation=activation, name="hidden")(x)
    outputs = layers.Dense(1, activation="sigmoid", dtype="float32", name="output")(x)
    return keras.Model(inputs, outputs, name="perceptron" if not hidden else "two_layer_net")


def build_polynomial_regression(degree: int = 1) -> keras.Model:
    """A linear unit on the features x, x^2, ..., x^degree (degree 1 = linear regression)."""
    inputs = keras.Input(shape=(degree,), name="powers_of_x")
    outputs = layers.Dense(1, dtype="float32", name="y")(inputs)
    return keras.Model(inputs, outputs, name=f"polynomial_degree_{degree}")
