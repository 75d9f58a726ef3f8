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
    "compare",
    "evaluate",
    "image_shape",
    "reference_classifier",
    "sample_labelled",
    "write_samples",
]

_LAZY = {
    "GAN": "rlgen.gan.dcgan",
    "DCGAN": "rlgen.gan.dcgan",
    "build_generator": "rlgen.gan.dcgan",
    "build_discriminator": "rlgen.gan.dcgan",
    "evaluate": "rlgen.gan.metrics",
    "compare": "rlgen.gan.metrics",
    "reference_classifier": "rlgen.gan.metrics",
    "sample_labelled": "rlgen.gan.sampling",
    "image_shape": "rlgen.gan.sampling",
    "write_samples": "rlgen.gan.sampling",
}


def __getattr__(name: str):
    from rlgen.runtime import lazy_export

    return lazy_export(__name__, _LAZY, name)
