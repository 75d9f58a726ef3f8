"""Small GANs and real digits shared by the GAN tests."""

from __future__ import annotations

TINY = {
    "latent_dim": 8,
    "embedding_dim": 4,
    "generator_filters": (16, 8),
    "discriminator_filters": (8, 16),
    "batch_size": 16,
}


def tiny_gan(seed: int = 0, **overrides):
    from rlgen.gan.configs import GANConfig
    from rlgen.gan.dcgan import GAN

    return GAN(GANConfig(**{**TINY, **overrides}), seed=seed)


def digits(n: int = 64, seed: int = 0):
    """``n`` real training digits in [0, 1] and their labels (a stratified slice)."""
    from rlgen import datasets

    d = datasets.load_images("mnist")
    keep = datasets.subset(d.y_train, n, seed=seed)
    return d.x_train[keep], d.y_train[keep]
