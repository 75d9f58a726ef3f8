"""Hyper-parameters of the DCGAN: one dataclass, the published starting values as defaults.

TensorFlow-free, so ``rlgen --help`` lists every flag without importing it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Literal

from rlgen.config import absolute, check_fields, check_fraction, check_positive
from rlgen.errors import UsageError

Dataset = Literal["mnist", "fashion_mnist"]
DIFFAUGMENT_POLICIES = ("translation", "cutout")
# Default training length in generator steps. Measured on the 4,000 offline digits
# (BENCHMARKS.md): 1,860 steps (30 epochs) give label fidelity 89 %, CAS 76 %, Fréchet 6.7x
# the floor; 9,300 steps (150 epochs) give 97 %, 91 %, 1.7x.
AUTO_STEPS = 9_300
FEW_STEPS = 1_000  # the default recipe's label fidelity at 1,000 steps on 500 digits: 57 %
MAX_GRIDS = 200  # a grid every epoch, unless the run is longer than this
# The discriminator recipe of SNGAN and BigGAN (Miyato et al. 2018): GANConfig(**SNGAN), or
# the flags --loss hinge --conditioning projection --spectral-norm.
SNGAN = MappingProxyType({"loss": "hinge", "conditioning": "projection", "spectral_norm": True})


def _h(text: str) -> dict[str, str]:
    return {"help": text}


@dataclass
class GANConfig:
    """A class-conditional DCGAN (Radford et al. 2016; labels as in Mirza & Osindero 2014).

    Adam 2e-4 / beta1 0.5, LeakyReLU slope 0.2 and a 100-d latent code are the DCGAN
    paper's values (its batch was 128; 64 here); dropout 0.3 and the two-block nets follow
    the TensorFlow DCGAN tutorial, small enough for a CPU.
    """

    dataset: Dataset = field(default="mnist", metadata=_h("which images"))
    data_dir: str | None = field(
        default=None, metadata=_h("folder with IDX files or an .npz (Keras layout)")
    )
    train_size: int = field(
        default=0, metadata=_h("train on a stratified subset of this many images; 0 = all")
    )
    epochs: int | None = field(
        default=None,
        metadata=_h(
            f"passes over the training images (default: about {AUTO_STEPS:,} steps' worth: "
            "150 epochs on the 4,000 offline digits, 10 on all 60,000)"
        ),
    )
    batch_size: int = field(default=64, metadata=_h("real images per step (DCGAN paper: 128)"))
    unconditional: bool = field(
        default=False, metadata=_h("the plain DCGAN of the course: no labels, no --digit")
    )
    latent_dim: int = field(default=100, metadata=_h("size of the noise vector z"))
    embedding_dim: int = field(
        default=50, metadata=_h("size of the learned label embedding fed to the generator")
    )
    generator_filters: tuple[int, ...] = field(
        default=(128, 64), metadata=_h("filters of the generator's 7x7 base and 14x14 block")
    )
    discriminator_filters: tuple[int, ...] = field(
        default=(64, 128), metadata=_h("filters of the discriminator's two strided convs")
    )
    dropout: float = field(default=0.3, metadata=_h("dropout after each discriminator conv"))
    leaky_slope: float = field(default=0.2, metadata=_h("LeakyReLU slope (DCGAN paper)"))
    generator_learning_rate: float = field(default=2e-4, metadata=_h("Adam step, generator"))
    discriminator_learning_rate: float = field(
        default=2e-4, metadata=_h("Adam step, discriminator")
    )
    beta_1: float = field(default=0.5, metadata=_h("Adam beta1 (DCGAN paper: 0.5, not 0.9)"))
    label_smoothing: float = field(
        default=0.0,
        metadata=_h("one-sided: real targets 1 - s for the discriminator (Salimans 2016)"),
    )
    update: Literal["alternating", "simultaneous"] = field(
        default="alternating",
        metadata=_h(
            "alternating: discriminator step, then generator step on a fresh fake batch; "
            "simultaneous: one fake batch, both steps at once (the TF tutorial; fewer passes)"
        ),
    )
    log_every: int | None = field(
        default=None,
        metadata=_h(
            "write the progress grid and the checkpoint every N epochs and after the last "
            f"(default: every epoch, at most about {MAX_GRIDS} per run)"
        ),
    )
    diffaugment: str = field(
        default="",
        metadata=_h(
            "differentiable augmentation of real and fake images before the discriminator "
            "(Zhao et al. 2020): comma list of translation, cutout; empty = off"
        ),
    )

    loss: Literal["bce", "hinge"] = field(
        default="bce",
        metadata=_h(
            "bce: the non-saturating cross-entropy of Goodfellow et al. 2014 (DCGAN); "
            "hinge: the hinge loss of SNGAN and BigGAN (Miyato et al. 2018)"
        ),
    )
    conditioning: Literal["channel", "projection"] = field(
        default="channel",
        metadata=_h(
            "how the discriminator sees the label: channel = a learned 28x28 image channel; "
            "projection = the inner product of a label embedding with its features "
            "(Miyato & Koyama 2018)"
        ),
    )
    spectral_norm: bool = field(
        default=False,
        metadata=_h(
            "spectral normalisation of every discriminator weight (Miyato et al. 2018), "
            "which bounds how sharply it can separate real from fake (Keras' "
            "SpectralNormalization: each training call rescales the kernel to norm 1 in "
            "place; unlike the paper, no gradient flows through the norm)"
        ),
    )
    ema: float = field(
        default=0.0,
        metadata=_h(
            "keep an exponential moving average of the generator's weights and batch-norm "
            "statistics with this decay and draw from it once training ends (Yazıcı et al. "
            "2019; 0.999 is usual); 0 = off. On the offline digits it raised CAS 1.3-2.2 "
            "points with the SNGAN flags (--loss hinge --conditioning projection "
            "--spectral-norm), not with the defaults (BENCHMARKS.md; measured before the "
            "statistics were averaged too)"
        ),
    )
    lecam: float = field(
        default=0.0,
        metadata=_h(
            "weight of the LeCam regulariser (Tseng et al. 2021, for GANs on little data): "
            "keeps the discriminator's real and fake logits near moving averages of each "
            "other; 0.3 in the paper's BigGAN runs; 0 = off"
        ),
    )

    def __post_init__(self) -> None:
        check_fields(self)
        self.data_dir = absolute(self.data_dir)  # config.json: readable from any folder
        check_positive(self, "epochs", "batch_size", "latent_dim", "embedding_dim", "log_every")
        check_positive(self, "generator_learning_rate", "discriminator_learning_rate")
        if self.train_size < 0:
            raise UsageError(f"--train-size must be >= 0, got {self.train_size}")
        if len(self.generator_filters) != 2 or min(self.generator_filters) <= 0:
            raise UsageError("--generator-filters takes two positive widths, e.g. 128,64")
        if len(self.discriminator_filters) != 2 or min(self.discriminator_filters) <= 0:
            raise UsageError("--discriminator-filters takes two positive widths, e.g. 64,128")
        check_fraction(self, "dropout")
        check_fraction(self, "label_smoothing")
        check_fraction(self, "beta_1")
        check_fraction(self, "ema")
        if not 0.0 <= self.lecam < math.inf:
            raise UsageError(f"--lecam must be a weight >= 0, got {self.lecam}")
        if not self.leaky_slope >= 0:  # NaN too
            raise UsageError(f"--leaky-slope must be >= 0, got {self.leaky_slope}")
        if self.loss == "hinge" and self.label_smoothing:
            raise UsageError("--label-smoothing applies to the bce loss only, not to --loss hinge")
        if self.conditioning == "projection" and self.unconditional:
            raise UsageError("--conditioning projection needs labels; drop --unconditional")
        unknown = [p for p in self.policies if p not in DIFFAUGMENT_POLICIES]
        if unknown:
            raise UsageError(
                f"--diffaugment: unknown policy {unknown[0]!r}; "
                f"use a comma list of {', '.join(DIFFAUGMENT_POLICIES)}"
            )

    def epochs_for(self, n_images: int) -> int:
        """The epochs to train on ``n_images``: ``epochs``, else about AUTO_STEPS steps."""
        if self.epochs:
            return self.epochs
        steps = max(1, n_images // min(self.batch_size, max(n_images, 1)))
        return max(1, -(-AUTO_STEPS // steps))

    def grid_every(self, epochs: int) -> int:
        return self.log_every or -(-epochs // MAX_GRIDS)

    def training_indices(self, y_train: Any) -> Any:
        """Which of the training split's images a GAN of this config learns from (all, or
        the stratified ``train_size`` subset): the one rule for training and for what
        ``--augment-from`` and the memorisation check compare against."""
        import numpy as np

        from rlgen import datasets

        if self.train_size:
            return datasets.subset(y_train, self.train_size, seed=0)
        return np.arange(len(y_train))

    def learnt_as_named(self, fingerprint: str | None, x_train: Any, y_train: Any) -> bool:
        """Whether a GAN whose training data had ``fingerprint`` (``datasets.fingerprint``
        of what ``train`` got; None when not recorded) learnt from the training digits this
        config names. An unconditional GAN may have been given the images alone."""
        import numpy as np

        from rlgen import datasets

        if fingerprint is None:
            return True
        keep = self.training_indices(y_train)
        if fingerprint == datasets.fingerprint(x_train[keep], y_train[keep]):
            return True
        labels = np.zeros(len(keep), np.int64)
        return not self.conditional and fingerprint == datasets.fingerprint(x_train[keep], labels)

    @property
    def policies(self) -> tuple[str, ...]:
        return tuple(p for p in self.diffaugment.replace(" ", "").split(",") if p)

    @property
    def conditional(self) -> bool:
        return not self.unconditional
