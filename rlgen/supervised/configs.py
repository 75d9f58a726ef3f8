"""Hyper-parameters of every supervised trainer: one dataclass each, the course's values as
defaults. TensorFlow-free, so the command line can list every flag without importing it."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Literal

from rlgen.config import absolute, check_fields, check_fraction, check_positive
from rlgen.datasets import IMAGE_SHAPE, distinct_addition_pairs, pairs_within, training_pairs
from rlgen.errors import UsageError

Optimizer = Literal["sgd", "rmsprop", "adadelta", "adam", "adagrad"]
Dataset = Literal["mnist", "fashion_mnist"]
# Keras 3's activation names (keras.activations), so a typo is refused with the list before
# any run folder exists; tests/test_config.py checks the list against the installed Keras.
# Left out: glu (halves the layer's width) and threshold (needs its own arguments), which
# fail inside a Dense layer.
Activation = Literal[
    "relu", "tanh", "sigmoid", "elu", "selu", "gelu", "silu", "swish", "softplus", "softsign",
    "leaky_relu", "relu6", "mish", "hard_sigmoid", "hard_silu", "hard_swish", "exponential",
    "linear", "celu", "hard_shrink", "hard_tanh", "log_sigmoid", "log_softmax", "softmax",
    "soft_shrink", "sparse_plus", "sparse_sigmoid", "sparsemax", "squareplus", "tanh_shrink",
]  # fmt: skip
NOT_IN_A_DENSE_LAYER = ("glu", "threshold")
MAX_BITS = 32  # binary addition: a pair of 32-bit operands has 2**62 codes, the int64 limit


def _h(text: str) -> dict[str, str]:
    return {"help": text}


MAX_SYNTHETIC = 500_000  # synthetic digits held beside the training set (--min-confidence draws 2x)


@dataclass
class TrainConfig:
    """What every supervised trainer shares: optimiser, budget and validation split."""

    optimizer: Optimizer = field(default="adam", metadata=_h("optimiser"))
    learning_rate: float = field(default=1e-3, metadata=_h("optimiser step size"))
    epochs: int = field(default=10, metadata=_h("passes over the training set"))
    batch_size: int = field(default=128, metadata=_h("examples per gradient step"))
    validation_split: float = field(
        default=0.1, metadata=_h("share of the training set held out for validation (stratified)")
    )

    def __post_init__(self) -> None:
        check_fields(self)
        check_positive(self, "learning_rate", "epochs", "batch_size")
        check_fraction(self, "validation_split")


@dataclass
class ImageConfig(TrainConfig):
    """Trainers that read MNIST-style images."""

    dataset: Dataset = field(default="mnist", metadata=_h("which images"))
    data_dir: str | None = field(
        default=None, metadata=_h("folder with IDX files or an .npz (Keras layout)")
    )
    train_size: int = field(
        default=0, metadata=_h("use a stratified subset of this many training images; 0 = all")
    )
    geometric: bool = field(
        default=False,
        metadata=_h("random rotation (±18°), shift (±10%) and zoom (±10%) of training images"),
    )
    augment_from: str | None = field(
        default=None,
        metadata={
            "help": "a conditional GAN run whose labelled digits join training",
            "fix": "save the GAN with gan.save('runs/my-gan') and give augment_from='runs/my-gan'",
        },
    )
    synthetic: int = field(
        default=0, metadata=_h("with --augment-from: how many synthetic digits to add")
    )
    min_confidence: float = field(
        default=0.0,
        metadata=_h(
            "with --augment-from: keep only synthetic digits the reference classifier gives "
            "at least this probability of their label (0 = keep all; that CNN learnt from the "
            "whole training split, so with --train-size it knows more real digits than the run)"
        ),
    )

    def __post_init__(self) -> None:
        if isinstance(self.augment_from, os.PathLike):
            self.augment_from = os.fspath(self.augment_from)
        super().__post_init__()  # a GAN object here: its field's "fix" says to save it
        self.data_dir = absolute(self.data_dir)  # config.json: readable from any folder
        if self.train_size < 0:
            raise UsageError(f"--train-size must be >= 0, got {self.train_size}")
        if self.synthetic < 0:
            raise UsageError(f"--synthetic must be >= 0, got {self.synthetic}")
        if self.synthetic > MAX_SYNTHETIC:
            raise UsageError(
                f"--synthetic must be at most {MAX_SYNTHETIC:,} (the digits join the training "
                f"set in memory, 1.6 GB per 500,000), got {self.synthetic:,}"
            )
        if self.synthetic and not self.augment_from:
            raise UsageError("--synthetic needs --augment-from GAN_RUN (the digits' source)")
        if self.augment_from and not self.synthetic:
            raise UsageError("--augment-from needs --synthetic N (how many digits to add)")
        if not 0.0 <= self.min_confidence < 1.0:
            raise UsageError(f"--min-confidence must be in [0, 1), got {self.min_confidence}")
        if self.min_confidence and not self.augment_from:
            raise UsageError("--min-confidence filters --augment-from digits; give a GAN run")


@dataclass
class MLPConfig(ImageConfig):
    """The course MLP: 784-512-512-10, ReLU, dropout 0.2; RMSprop, batch 128, 20 epochs
    (the Keras mnist_mlp example)."""

    optimizer: Optimizer = field(default="rmsprop", metadata=_h("optimiser"))
    epochs: int = field(default=20, metadata=_h("passes over the training set"))
    hidden: tuple[int, ...] = field(default=(512, 512), metadata=_h("hidden layer widths"))
    dropout: float = field(default=0.2, metadata=_h("dropout after each hidden layer"))
    activation: Activation = field(default="relu", metadata=_h("hidden activation"))

    def __post_init__(self) -> None:
        super().__post_init__()
        check_fraction(self, "dropout")
        if not self.hidden or min(self.hidden) <= 0:
            raise UsageError(f"--hidden needs positive widths, got {self.hidden}")


@dataclass
class CNNConfig(ImageConfig):
    """The course CNN: Conv32-Conv64-MaxPool-Dropout0.25-Dense128-Dropout0.5-10. The course
    used Adadelta (``--optimizer adadelta --learning-rate 1.0``); Adam 1e-3 reaches the same
    accuracy in fewer epochs and is the default."""

    epochs: int = field(default=12, metadata=_h("passes over the training set"))
    filters: tuple[int, ...] = field(default=(32, 64), metadata=_h("filters per conv layer"))
    kernel_size: int = field(default=3, metadata=_h("conv kernel size"))
    dense: int = field(default=128, metadata=_h("width of the dense layer"))
    conv_dropout: float = field(default=0.25, metadata=_h("dropout after pooling"))
    dense_dropout: float = field(default=0.5, metadata=_h("dropout after the dense layer"))

    def __post_init__(self) -> None:
        super().__post_init__()
        check_positive(self, "kernel_size", "dense")
        check_fraction(self, "conv_dropout")
        check_fraction(self, "dense_dropout")
        if not self.filters or min(self.filters) <= 0:
            raise UsageError(f"--filters needs positive counts, got {self.filters}")
        # Each unpadded conv trims kernel_size - 1 pixels and the 2x2 pooling needs 2 left.
        side = IMAGE_SHAPE[0]
        largest = (side - 2) // len(self.filters) + 1
        if self.kernel_size > largest:
            raise UsageError(
                f"--kernel-size {self.kernel_size} leaves nothing of a {side}x{side} "
                f"image after {len(self.filters)} conv layers; give at most {largest}"
            )


@dataclass
class RNNConfig(ImageConfig):
    """Recurrent nets for two tasks: ``addition`` (seq2seq binary addition, one sigmoid per
    output bit, least significant bit first) and ``mnist`` (28 rows of 28 pixels)."""

    task: Literal["addition", "mnist"] = field(default="addition", metadata=_h("what to learn"))
    cell: Literal["simple", "lstm", "gru"] = field(default="simple", metadata=_h("recurrent cell"))
    units: int = field(default=16, metadata=_h("recurrent units"))
    dropout: float = field(default=0.0, metadata=_h("input dropout of the cell"))
    recurrent_dropout: float = field(default=0.0, metadata=_h("recurrent-state dropout"))
    unroll: bool = field(default=False, metadata=_h("unroll the loop (fixed, short sequences)"))
    bits: int = field(default=8, metadata=_h("addition: operand width in bits for training"))
    test_bits: int = field(
        default=16, metadata=_h("addition: also test on this width, without retraining")
    )
    train_pairs: int = field(default=2000, metadata=_h("addition: distinct training pairs"))
    test_pairs: int = field(default=1000, metadata=_h("addition: held-out test pairs"))
    learning_rate: float = field(default=1e-2, metadata=_h("optimiser step size"))
    epochs: int = field(default=40, metadata=_h("passes over the training set"))
    batch_size: int = field(default=32, metadata=_h("examples per gradient step"))

    def __post_init__(self) -> None:
        super().__post_init__()
        check_positive(self, "units", "bits", "test_bits", "train_pairs", "test_pairs")
        check_fraction(self, "dropout")
        check_fraction(self, "recurrent_dropout")
        if self.task == "addition":
            self._check_image_flags_unset()
            self._check_addition()

    def _check_image_flags_unset(self) -> None:
        """The image flags mean nothing to binary addition: --geometric rotated its bit
        sequences (accuracy fell to chance), the others were ignored without a word."""
        defaults = ImageConfig()
        for name in ("dataset", "data_dir", "train_size", "geometric", "augment_from",
                     "synthetic", "min_confidence"):  # fmt: skip
            if getattr(self, name) != getattr(defaults, name):
                raise UsageError(
                    f"--{name.replace('_', '-')} is for images; it needs --task mnist, not addition"
                )

    def _check_addition(self) -> None:
        """Widths the int64 sums hold, and enough distinct operand pairs for the flags."""
        for name in ("bits", "test_bits"):
            if not 2 <= getattr(self, name) <= MAX_BITS:
                raise UsageError(
                    f"--{name.replace('_', '-')} must be in 2..{MAX_BITS} (the sums are 64-bit "
                    f"integers), got {getattr(self, name)}"
                )
        both = self.train_pairs + self.test_pairs
        for name, bits, wanted, flags in (
            ("--bits", self.bits, both, "--train-pairs + --test-pairs"),
            ("--test-bits", self.test_bits, self.test_pairs, "--test-pairs"),
        ):
            exist, unseen = distinct_addition_pairs(bits), ""
            if name == "--test-bits" and bits <= self.bits:
                # tested on pairs never trained on: those of this width in training are out
                exist -= len(pairs_within(training_pairs(self.train_pairs, self.bits), bits))
                unseen = " not in the training set"
            if wanted > exist:
                raise UsageError(
                    f"{name} {bits} gives only {exist:,} distinct operand pairs{unseen} but "
                    f"{flags} asks for {wanted:,}; raise {name} or lower "
                    f"{flags.replace(' + ', '/')}"
                )


# The MNIST-rows task wants a bigger net and a gentler step than binary addition.
RNN_PRESETS: dict[str, dict[str, object]] = {
    "addition": {},
    "mnist": {"cell": "lstm", "units": 128, "learning_rate": 1e-3, "epochs": 10, "batch_size": 128},
}


@dataclass
class IrisConfig(TrainConfig):
    """Iris: 4 features - one hidden layer - 3-way softmax, on a fixed stratified 120/30 split."""

    hidden: tuple[int, ...] = field(default=(10,), metadata=_h("hidden layer widths"))
    activation: Activation = field(default="relu", metadata=_h("hidden activation"))
    learning_rate: float = field(default=1e-2, metadata=_h("optimiser step size"))
    epochs: int = field(default=150, metadata=_h("passes over the training set"))
    batch_size: int = field(default=16, metadata=_h("examples per gradient step"))
    validation_split: float = field(default=0.0, metadata=_h("share held out for validation"))

    def __post_init__(self) -> None:
        super().__post_init__()
        if not self.hidden or min(self.hidden) <= 0:
            raise UsageError(f"--hidden needs positive widths, got {self.hidden}")


@dataclass
class PerceptronConfig(TrainConfig):
    """The course's first net: a perceptron on a logic gate. ``--hidden 0`` is the single-layer
    perceptron, which cannot learn XOR; ``--hidden 8`` adds a hidden layer that learns it for
    every seed tried (``--hidden 4`` for 19 of 20: BENCHMARKS.md)."""

    gate: Literal["and", "or", "xor"] = field(default="xor", metadata=_h("truth table to learn"))
    hidden: int = field(default=0, metadata=_h("hidden units; 0 = single-layer perceptron"))
    activation: Activation = field(default="tanh", metadata=_h("hidden activation"))
    learning_rate: float = field(default=0.1, metadata=_h("optimiser step size"))
    epochs: int = field(default=300, metadata=_h("passes over the four rows"))
    batch_size: int = field(default=4, metadata=_h("examples per gradient step"))
    validation_split: float = field(default=0.0, metadata=_h("unused: the table is the test"))

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.hidden < 0:
            raise UsageError(f"--hidden must be >= 0, got {self.hidden}")


@dataclass
class RegressionConfig(TrainConfig):
    """Linear (``--degree 1``) or polynomial regression with Keras on noisy samples of a
    cubic; a degree-1 fit underfits it, degree 3 recovers the coefficients."""

    degree: int = field(default=3, metadata=_h("polynomial degree of the model"))
    samples: int = field(default=200, metadata=_h("noisy samples drawn"))
    noise: float = field(default=0.1, metadata=_h("std of the Gaussian noise on y"))
    learning_rate: float = field(default=0.05, metadata=_h("optimiser step size"))
    epochs: int = field(default=200, metadata=_h("passes over the training set"))
    batch_size: int = field(default=32, metadata=_h("examples per gradient step"))
    validation_split: float = field(default=0.2, metadata=_h("share held out for validation"))

    def __post_init__(self) -> None:
        super().__post_init__()
        check_positive(self, "degree", "samples")
        if not self.noise >= 0:  # NaN too
            raise UsageError(f"--noise must be >= 0, got {self.noise}")


CONFIGS: dict[str, type[TrainConfig]] = {
    "mlp": MLPConfig,
    "cnn": CNNConfig,
    "rnn": RNNConfig,
    "iris": IrisConfig,
    "perceptron": PerceptronConfig,
    "regression": RegressionConfig,
}

DESCRIPTIONS = {
    "mlp": "784-512-512-10 MLP on MNIST-style images",
    "cnn": "two-conv CNN on MNIST-style images",
    "rnn": "SimpleRNN/LSTM/GRU: binary addition or MNIST rows",
    "iris": "4-hidden-3 softmax classifier for iris",
    "perceptron": "perceptron on AND/OR/XOR (XOR needs --hidden)",
    "regression": "linear / polynomial regression",
}
