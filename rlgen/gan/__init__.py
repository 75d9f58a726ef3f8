"""The DCGAN that draws labelled digits, its sampling and the figures that judge it.

``from rlgen.gan import GAN`` loads TensorFlow; ``GANConfig`` does not.
"""

from rlgen.gan.configs import GANConfig

__all__ = [
    "DCGAN",
    "GAN",
    "GANConfig",
    "build_discriminator",
    "build_generator",
    "evaluate",
    "image_shape",
    "sample_labelled",
]

_LAZY = {
    "GAN": "rlgen.gan.dcgan",
    "DCGAN": "rlgen.gan.dcgan",
    "build_generator": "rlgen.gan.dcgan",
    "build_discriminator": "rlgen.gan.dcgan",
    "evaluate": "rlgen.gan.metrics",
    "sample_labelled": "rlgen.gan.sampling",
    "image_shape": "rlgen.gan.sampling",
}


def __getattr__(name: str):
    if name in _LAZY:
        from rlgen.runtime import import_lazily

        return getattr(import_lazily(_LAZY[name]), name)
    raise AttributeError(f"module 'rlgen.gan' has no attribute {name!r}")
