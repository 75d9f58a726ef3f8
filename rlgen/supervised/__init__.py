"""Supervised models of the course: MLP, CNN, RNN, iris, perceptron and regression.

``from rlgen.supervised import Trainer`` loads TensorFlow; the configs do not.
"""

from rlgen.supervised.configs import (
    CONFIGS,
    CNNConfig,
    IrisConfig,
    MLPConfig,
    PerceptronConfig,
    RegressionConfig,
    RNNConfig,
)

__all__ = [
    "CONFIGS",
    "CNNConfig",
    "IrisConfig",
    "MLPConfig",
    "PerceptronConfig",
    "RegressionConfig",
    "RNNConfig",
    "Trainer",
    "build_cnn",
    "build_iris",
    "build_mlp",
    "build_rnn",
    "default_config",
]

_LAZY = {
    "Trainer": "rlgen.supervised.training",
    "default_config": "rlgen.supervised.training",
    "build_mlp": "rlgen.supervised.models",
    "build_cnn": "rlgen.supervised.models",
    "build_rnn": "rlgen.supervised.models",
    "build_iris": "rlgen.supervised.models",
}


def __getattr__(name: str):
    from rlgen.runtime import lazy_export

    return lazy_export(__name__, _LAZY, name)
