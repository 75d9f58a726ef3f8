"""The DCGAN: generator, discriminator, the Keras model with its own train step, and :class:`GAN`.

Class-conditional by default, with the label fed to **both** networks through a learned
embedding (Mirza & Osindero 2014): the generator gets ``[z, embed(y)]``, the discriminator an
extra image channel ``embed(y)`` reshaped to 28 x 28. We chose this over an auxiliary classifier
head (AC-GAN, Odena et al. 2017) because the digits are meant to *augment* a classifier: the
AC-GAN's classification loss pushes the generator towards easy-to-classify prototypes and is
known to shrink within-class diversity (Shu et al. 2017), which is the very thing augmentation
needs. ``unconditional=True`` drops the labels and gives the plain DCGAN of the course.

>>> gan = GAN(GANConfig(epochs=5, train_size=1000), seed=0)
>>> gan.train()                              # tf.data pipeline, compiled train step
>>> x, y = gan.sample(64, digits=7, seed=1)  # float32 (64, 28, 28, 1) in [0, 1], labels
>>> gan.save("runs/my-gan"); gan = GAN.load("runs/my-gan")
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
import os
import time
import types
import warnings
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import keras
import numpy as np
import tensorflow as tf
from keras import layers, ops

from rlgen import config as cfgmod
from rlgen import datasets, plots, runtime
from rlgen.datasets import IMAGE_SHAPE
from rlgen.errors import (
    RlgenWarning,
    TrainingDiverged,
    UsageError,
    check_count,
    option,
    seed_or_draw,
)
from rlgen.gan.configs import GANConfig
from rlgen.gan.sampling import check_digits, generator_steps
from rlgen.optimizers import computes_in_float16, loss_scaled
from rlgen.runs import (
    CONFIG,
    SUMMARY,
    Run,
    atomic_path,
    check_model_fits,
    check_run,
    load_model,
    merge_json,
    open_run,
    read_history,
    save_folder,
    stale_summary,
    start_run,
    write_history,
    write_json,
)

GROUP = "gan"
SAVED_FILES = "the generator, the discriminator and config.json"  # save()'s, for messages
GENERATOR_FILE = "generator.keras"
DISCRIMINATOR_FILE = "discriminator.keras"
METRICS = "metrics.csv"  # the per-epoch history
SAVED_NAMES = (GENERATOR_FILE, DISCRIMINATOR_FILE, CONFIG, METRICS)
NUM_CLASSES = 10
CHUNK = 1000  # images generated per generator call when sampling (bounded memory)
MAX_IN_MEMORY = 1_000_000  # GAN.sample refuses more (3.1 GB); write_npz streams any number
# DCGAN paper: all weights initialised from N(0, 0.02).
_INIT_STDDEV = 0.02
LECAM_DECAY = 0.99  # of the LeCam anchors, as in Tseng et al. (2021)


def _init() -> keras.initializers.Initializer:
    return keras.initializers.RandomNormal(stddev=_INIT_STDDEV)


# ----------------------------------------------------------------------------- networks


def build_generator(config: GANConfig | None = None) -> keras.Model:
    """z (and a digit label) -> a 28 x 28 x 1 image in [-1, 1] (tanh, float32).

    Dense to 7 x 7 x f0, then two stride-2 transposed convolutions (14 x 14, 28 x 28), batch
    norm and ReLU between them, as in Radford et al.; no bias before batch norm.
    """
    c = config or GANConfig()
    f0, f1 = c.generator_filters
    z = keras.Input(shape=(c.latent_dim,), name="z")
    inputs: list[keras.KerasTensor] = [z]
    x = z
    if c.conditional:
        label = keras.Input(shape=(1,), dtype="int32", name="label")
        inputs.append(label)
        e = layers.Embedding(NUM_CLASSES, c.embedding_dim, name="label_embedding")(label)
        x = layers.Concatenate(name="z_and_label")([z, layers.Flatten()(e)])
    x = layers.Dense(7 * 7 * f0, use_bias=False, kernel_initializer=_init(), name="project")(x)
    x = layers.BatchNormalization(name="project_bn")(x)
    x = layers.ReLU()(x)
    x = layers.Reshape((7, 7, f0))(x)
    x = layers.Conv2DTranspose(
        f1, 4, strides=2, padding="same", use_bias=False, kernel_initializer=_init(), name="up14"
    )(x)
    x = layers.BatchNormalization(name="up14_bn")(x)
    x = layers.ReLU()(x)
    x = layers.Conv2DTranspose(
        1, 4, strides=2, padding="same", kernel_initializer=_init(), name="up28"
    )(x)
    # float32 output so mixed precision never rounds the image the discriminator sees.
    out = layers.Activation("tanh", dtype="float32", name="image")(x)
    name = "conditional_generator" if c.conditional else "generator"
    return keras.Model(inputs if c.conditional else z, out, name=name)


def build_discriminator(config: GANConfig | None = None) -> keras.Model:
    """A 28 x 28 x 1 image in [-1, 1] (and its label) -> one real/fake logit (float32).

    Two stride-2 convolutions with LeakyReLU(0.2) and dropout, no batch norm (the TensorFlow
    DCGAN tutorial's discriminator: real and fake batches pass separately, and batch norm
    would let it tell them apart by batch statistics). The label enters as an extra image
    channel, or (``conditioning="projection"``) as the inner product of its embedding with
    the flattened features, added to the logit; ``spectral_norm`` wraps every weight.
    """
    c = config or GANConfig()
    f0, f1 = c.discriminator_filters

    def norm(layer: layers.Layer) -> layers.Layer:
        # The wrapper computes in the wrapped layer's dtype: under mixed precision it would
        # otherwise take the global float16 policy and round the float32 logit.
        return (
            layers.SpectralNormalization(layer, dtype=layer.dtype_policy, name=f"{layer.name}_sn")
            if c.spectral_norm
            else layer
        )

    image = keras.Input(shape=IMAGE_SHAPE, name="image")
    inputs: list[keras.KerasTensor] = [image]
    x = image
    project = c.conditional and c.conditioning == "projection"
    if c.conditional:
        label = keras.Input(shape=(1,), dtype="int32", name="label")
        inputs.append(label)

    def embed(units: int, name: str, initializer: str | Any = "uniform") -> keras.KerasTensor:
        """The label's learned vector, (batch, units). Under spectral norm a dense layer on
        the one-hot label (the same map): Keras' wrapper cuts an Embedding's gradient."""
        if not c.spectral_norm:
            table = layers.Embedding(
                NUM_CLASSES, units, embeddings_initializer=initializer, name=name
            )
            return layers.Flatten()(table(label))
        one_hot = layers.CategoryEncoding(
            NUM_CLASSES, output_mode="one_hot", name=f"{name}_one_hot"
        )(label)
        dense = layers.Dense(units, use_bias=False, kernel_initializer=initializer, name=name)
        return norm(dense)(one_hot)

    if c.conditional and not project:
        e = embed(28 * 28, "label_embedding")
        x = layers.Concatenate(name="image_and_label")([image, layers.Reshape(IMAGE_SHAPE)(e)])
    for i, f in enumerate((f0, f1)):
        # No bias: TensorFlow 2.21's grappler remapper fails on the gradient of a fused
        # Conv2D + BiasAdd + LeakyReLU and logs an "error:" line on every run (harmless but
        # alarming); a bias before LeakyReLU adds little, and Radford et al. used none.
        conv = layers.Conv2D(
            f,
            4,
            strides=2,
            padding="same",
            use_bias=False,
            kernel_initializer=_init(),
            name=f"down{i}",
        )
        x = norm(conv)(x)
        x = layers.LeakyReLU(c.leaky_slope)(x)
        x = layers.Dropout(c.dropout)(x)
    x = layers.Flatten()(x)
    dense = layers.Dense(1, dtype="float32", kernel_initializer=_init(), name="logit")
    out = norm(dense)(x)
    if project:
        e = embed(x.shape[-1], "label_projection", _init())
        inner = layers.Dot(axes=1, dtype="float32", name="projection")([e, x])
        out = layers.Add(dtype="float32", name="conditional_logit")([out, inner])
    name = "conditional_discriminator" if c.conditional else "discriminator"
    return keras.Model(inputs if c.conditional else image, out, name=name)


# ----------------------------------------------------------------------------- DiffAugment


def own_draw(draw: Callable[[tuple], Any], shape: tuple) -> Any:
    """``draw(shape)``, this replica's own: every replica of a tf.distribute step reads the
    same seed state, so each draws the numbers of all replicas and keeps its rows (on one
    device, exactly one plain draw)."""
    ctx = tf.distribute.get_replica_context()
    n = ctx.num_replicas_in_sync if ctx is not None else 1
    if n == 1:
        return draw(shape)
    rows, i = shape[0], ctx.replica_id_in_sync_group
    return draw((n * rows, *shape[1:]))[i * rows : (i + 1) * rows]


def diff_augment(images: Any, policies: Sequence[str], seed: Any) -> Any:
    """Differentiable translation (±1/8 of the side) and cutout (half-side square) per image.

    Zhao et al. 2020, "Differentiable Augmentation for Data-Efficient GAN Training": the same
    random transform family is applied to real and fake images before the discriminator, so
    it cannot memorise a small training set, while gradients still reach the generator.
    Empty space is filled with -1, the background of images in [-1, 1].
    """
    x = images
    batch = ops.shape(x)[0]
    h, w = IMAGE_SHAPE[0], IMAGE_SHAPE[1]

    def randint(shape: tuple, high: int) -> Any:
        return own_draw(lambda s: keras.random.randint(s, 0, high, seed=seed), shape)

    if "translation" in policies:
        p = int(h / 8 + 0.5)  # as the paper's code: 4 pixels of 28
        padded = tf.pad(x + 1.0, [[0, 0], [p, p], [p, p], [0, 0]]) - 1.0
        oy = randint((batch, 1), 2 * p + 1)
        ox = randint((batch, 1), 2 * p + 1)
        rows = oy + tf.range(h)[None, :]
        cols = ox + tf.range(w)[None, :]
        x = tf.gather(padded, rows, axis=1, batch_dims=1)
        x = tf.gather(x, cols, axis=2, batch_dims=1)
    if "cutout" in policies:
        half = h // 4  # a square of half the side, 14 pixels of 28, clipped at the border
        dy = tf.range(h)[None, :, None] - randint((batch, 1, 1), h)
        dx = tf.range(w)[None, None, :] - randint((batch, 1, 1), w)
        inside = (dy >= -half) & (dy < half) & (dx >= -half) & (dx < half)
        x = tf.where(inside[..., None], tf.constant(-1.0, x.dtype), x)
    return x


# ----------------------------------------------------------------------------- the Keras model


def _bce(target: Any, logits: Any) -> Any:
    return ops.mean(ops.binary_crossentropy(target, logits, from_logits=True))


@keras.saving.register_keras_serializable(package="rlgen")
class DCGAN(keras.Model):
    """Generator and discriminator trained in one compiled step: a discriminator update on a
    real and a fake batch, then a generator update through a fresh fake batch (non-saturating
    loss, Goodfellow et al. 2014; or the hinge loss of SNGAN). ``call`` runs the generator."""

    def __init__(
        self,
        generator: keras.Model,
        discriminator: keras.Model,
        latent_dim: int = 100,
        conditional: bool = True,
        label_smoothing: float = 0.0,
        policies: Sequence[str] = (),
        seed: int | None = None,
        simultaneous: bool = False,
        ema: float = 0.0,
        lecam: float = 0.0,
        loss: str = "bce",
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.generator = generator
        self.discriminator = discriminator
        self.latent_dim = int(latent_dim)
        self.conditional = bool(conditional)
        self.label_smoothing = float(label_smoothing)
        self.policies = tuple(policies)
        self.seed = seed
        self.simultaneous = bool(simultaneous)
        self.ema = float(ema)
        self.lecam = float(lecam)
        if loss not in ("bce", "hinge"):
            raise ValueError(f"loss must be 'bce' or 'hinge', got {loss!r}")
        self.loss = loss
        # The moving average of the generator's weights and batch-norm statistics (made in
        # ``compile``, under the strategy's scope; ``updates`` counts its steps); a namespace,
        # so Keras does not track it as the model's state. ``live``: the training weights
        # while ``use_average`` has put the average in.
        self.average = types.SimpleNamespace(weights=[], live=[], updates=None)
        # LeCam's anchors, moving averages of the mean real and fake logits started at 0
        # (made in ``compile``; None without ``lecam``); read through ``lecam_anchors``.
        self.anchors = types.SimpleNamespace(real=None, fake=None)
        # The train step's noise and augmentation draw from this, so a seeded model repeats.
        self.seed_generator = keras.random.SeedGenerator(seed)
        self.d_loss_tracker = keras.metrics.Mean(name="d_loss")
        self.g_loss_tracker = keras.metrics.Mean(name="g_loss")
        self.real_score_tracker = keras.metrics.Mean(name="real_score")
        self.fake_score_tracker = keras.metrics.Mean(name="fake_score")
        self.lecam_tracker = keras.metrics.Mean(name="lecam_penalty")
        # Both networks are functional models, built on construction; marking the wrapper
        # built stops Keras from tracing ``call`` on a data batch under a tf.distribute scope.
        self.built = True

    @property
    def metrics(self) -> list[keras.metrics.Metric]:
        trackers = [
            self.d_loss_tracker,
            self.g_loss_tracker,
            self.real_score_tracker,
            self.fake_score_tracker,
        ]
        return [*trackers, self.lecam_tracker] if self.lecam else trackers

    def compile(
        self,
        d_optimizer: keras.optimizers.Optimizer,
        g_optimizer: keras.optimizers.Optimizer,
        **kwargs: Any,
    ) -> None:
        """Two optimizers; a network that computes in float16 gets its own loss-scaling
        optimizer (each net's gradients over- or underflow on their own scale). Decided by the
        networks' layers, not the global policy: a loaded mixed_float16 network keeps its
        policy in a float32 process and still needs the scaling."""
        kwargs.setdefault("jit_compile", False)  # XLA was slower on the CPUs measured
        if computes_in_float16(self.discriminator):
            d_optimizer = loss_scaled(d_optimizer)
        if computes_in_float16(self.generator):
            g_optimizer = loss_scaled(g_optimizer)
        # ``model.optimizer`` is the generator's: TensorBoard reads its step count and rate.
        super().compile(optimizer=g_optimizer, **kwargs)
        self.d_optimizer = d_optimizer
        self.g_optimizer = g_optimizer
        # Built here, under the caller's tf.distribute scope: a MirroredStrategy cannot create
        # optimizer slots later inside the replicated train step.
        d_optimizer.build(self.discriminator.trainable_variables)
        g_optimizer.build(self.generator.trainable_variables)
        if self.ema and not self.average.weights:
            # Every replica holds the same weights after a synchronised step, so the first
            # replica's update is everyone's. The average starts at zero and is divided by
            # 1 - ema^updates when used (Adam's bias correction): the random initial weights
            # carry no weight in it, however short the training.
            first = tf.VariableAggregation.ONLY_FIRST_REPLICA
            self.average.weights = [
                tf.Variable(
                    tf.zeros_like(w.value), trainable=False, aggregation=first, name=f"ema_{i}"
                )
                for i, w in enumerate(self._averaged_variables())
            ]
            self.average.updates = tf.Variable(
                0.0, trainable=False, aggregation=first, name="ema_updates"
            )
        if self.lecam and self.anchors.real is None:
            # Each replica sees its own batch: the update is the mean over replicas.
            self.anchors.real, self.anchors.fake = (
                tf.Variable(0.0, trainable=False, aggregation=tf.VariableAggregation.MEAN, name=n)
                for n in ("lecam_real", "lecam_fake")
            )

    def _averaged_variables(self) -> list[Any]:
        """What the moving average covers: the generator's trainable weights and its batch
        norm statistics, which must be those of the averaged weights, not of the training
        ones (BigGAN's average covers both)."""
        return list(self.generator.trainable_weights) + list(self.generator.non_trainable_weights)

    def use_average(self) -> bool:
        """Put the moving average into the generator and keep its training weights aside
        for :meth:`use_live`; whether it did (not without ``ema``, before the first step, nor
        if it is already in)."""
        if not self.average.weights or self.average.live:
            return False
        updates = float(ops.convert_to_numpy(self.average.updates))
        if updates == 0:
            return False
        debias = 1.0 - self.ema**updates
        weights = self._averaged_variables()
        self.average.live = [ops.convert_to_numpy(w.value) for w in weights]
        for w, a in zip(weights, self.average.weights, strict=True):
            w.assign(ops.convert_to_numpy(a) / debias)
        return True

    def use_live(self) -> None:
        """Put the training weights back (no-op unless :meth:`use_average` took them out)."""
        for w, v in zip(self._averaged_variables(), self.average.live):
            w.assign(v)
        self.average.live = []

    @contextlib.contextmanager
    def averaged(self) -> Iterator[None]:
        """The generator holds the moving average inside the block (with ``ema``), and
        afterwards whatever it held before."""
        swapped = self.use_average()
        try:
            yield
        finally:
            if swapped:
                self.use_live()

    def call(self, inputs: Any, training: bool = False) -> Any:
        return self.generator(inputs, training=training)

    def _noise(self, batch: Any) -> Any:
        return own_draw(
            lambda s: keras.random.normal(s, seed=self.seed_generator), (batch, self.latent_dim)
        )

    def _g_inputs(self, z: Any, labels: Any) -> Any:
        return [z, labels] if self.conditional else z

    def _d_logits(self, images: Any, labels: Any) -> Any:
        if self.policies:
            images = diff_augment(images, self.policies, self.seed_generator)
        inputs = [images, labels] if self.conditional else images
        return ops.cast(self.discriminator(inputs, training=True), "float32")

    def lecam_anchors(self) -> tuple[Any, Any]:
        """The anchors (mean real logit, mean fake logit) with their start at 0 corrected, as
        in the paper's code (``zero_debias``): after the discriminator's first step each is
        that step's mean, not 1 % of it."""
        steps = ops.cast(self.d_optimizer.iterations, "float32") + 1.0
        debias = 1.0 - ops.power(LECAM_DECAY, steps)
        return self.anchors.real / debias, self.anchors.fake / debias

    def lecam_penalty(self, real_logits: Any, fake_logits: Any) -> Any:
        """The LeCam regulariser (Tseng et al. 2021), weighted: after moving each anchor
        towards this batch's mean logit, the squared amount by which real logits rise above
        the fake anchor, plus the amount fake logits fall below the real anchor. It keeps the
        discriminator from separating the few real images it has seen ever more confidently.
        0 without ``lecam``."""
        if not self.lecam:
            return 0.0
        for anchor, logits in ((self.anchors.real, real_logits), (self.anchors.fake, fake_logits)):
            mean = ops.stop_gradient(ops.mean(logits))
            anchor.assign(LECAM_DECAY * anchor + (1.0 - LECAM_DECAY) * mean)
        real, fake = self.lecam_anchors()
        penalty = ops.mean(ops.square(ops.relu(real_logits - fake))) + ops.mean(
            ops.square(ops.relu(real - fake_logits))
        )
        return self.lecam * penalty

    def discriminator_loss(self, real_logits: Any, fake_logits: Any) -> Any:
        """Cross-entropy against targets 1 (less ``label_smoothing``) and 0, or the hinge
        mean(relu(1 - D(x))) + mean(relu(1 + D(G(z))))."""
        if self.loss == "hinge":
            return ops.mean(ops.relu(1.0 - real_logits)) + ops.mean(ops.relu(1.0 + fake_logits))
        real_target = ops.ones_like(real_logits) * (1.0 - self.label_smoothing)
        return _bce(real_target, real_logits) + _bce(ops.zeros_like(fake_logits), fake_logits)

    def generator_loss(self, fake_logits: Any) -> Any:
        """The non-saturating -log sigmoid(D(G(z))), or the hinge generator's -D(G(z))."""
        if self.loss == "hinge":
            return -ops.mean(fake_logits)
        return _bce(ops.ones_like(fake_logits), fake_logits)

    def train_step(self, data: Any) -> dict[str, Any]:
        real, labels = data
        labels = ops.reshape(ops.cast(labels, "int32"), (-1, 1))
        batch = ops.shape(real)[0]
        # Gradients are summed over replicas, so each replica's loss is divided by their count
        # for the gradient (ops-level cross-entropy: keras.losses objects would also rescale,
        # and the trackers should see the true loss).
        replicas = tf.distribute.get_strategy().num_replicas_in_sync

        d_vars = self.discriminator.trainable_weights
        g_vars = self.generator.trainable_weights

        z = self._noise(batch)
        if self.simultaneous:
            # The TensorFlow DCGAN tutorial's step: one fake batch, both gradients taken
            # against the same (pre-update) networks: 1 generator and 2 discriminator passes.
            with tf.GradientTape() as d_tape, tf.GradientTape() as g_tape:
                fake = self.generator(self._g_inputs(z, labels), training=True)
                real_logits = self._d_logits(real, labels)
                fake_logits = self._d_logits(fake, labels)
                d_loss = self.discriminator_loss(real_logits, fake_logits)
                g_loss = self.generator_loss(fake_logits)
                lecam = self.lecam_penalty(real_logits, fake_logits)
                d_scaled = self.d_optimizer.scale_loss((d_loss + lecam) / replicas)
                g_scaled = self.g_optimizer.scale_loss(g_loss / replicas)
            self.d_optimizer.apply(d_tape.gradient(d_scaled, d_vars), d_vars)
            self.g_optimizer.apply(g_tape.gradient(g_scaled, g_vars), g_vars)
        else:
            # Alternating (Goodfellow et al. 2014): the generator steps against the
            # discriminator just updated, through a fresh fake batch.
            fake = self.generator(self._g_inputs(z, labels), training=True)
            with tf.GradientTape() as tape:
                real_logits = self._d_logits(real, labels)
                fake_logits = self._d_logits(fake, labels)
                d_loss = self.discriminator_loss(real_logits, fake_logits)
                lecam = self.lecam_penalty(real_logits, fake_logits)
                scaled = self.d_optimizer.scale_loss((d_loss + lecam) / replicas)
            self.d_optimizer.apply(tape.gradient(scaled, d_vars), d_vars)

            z = self._noise(batch)
            with tf.GradientTape() as tape:
                fake = self.generator(self._g_inputs(z, labels), training=True)
                logits = self._d_logits(fake, labels)
                g_loss = self.generator_loss(logits)
                scaled = self.g_optimizer.scale_loss(g_loss / replicas)
            self.g_optimizer.apply(tape.gradient(scaled, g_vars), g_vars)

        if self.average.weights:
            for a, w in zip(self.average.weights, self._averaged_variables()):
                a.assign(self.ema * a + (1.0 - self.ema) * ops.cast(w, a.dtype))
            self.average.updates.assign_add(1.0)

        self.d_loss_tracker.update_state(d_loss)
        self.g_loss_tracker.update_state(g_loss)
        self.real_score_tracker.update_state(ops.mean(ops.sigmoid(real_logits)))
        self.fake_score_tracker.update_state(ops.mean(ops.sigmoid(fake_logits)))
        if self.lecam:
            self.lecam_tracker.update_state(lecam)
        return {m.name: m.result() for m in self.metrics}

    def get_config(self) -> dict[str, Any]:
        return {
            **super().get_config(),
            "generator": keras.saving.serialize_keras_object(self.generator),
            "discriminator": keras.saving.serialize_keras_object(self.discriminator),
            "latent_dim": self.latent_dim,
            "conditional": self.conditional,
            "label_smoothing": self.label_smoothing,
            "policies": list(self.policies),
            "seed": self.seed,
            "simultaneous": self.simultaneous,
            "ema": self.ema,
            "lecam": self.lecam,
            "loss": self.loss,
        }

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> DCGAN:
        config = dict(config)
        config["generator"] = keras.saving.deserialize_keras_object(config["generator"])
        config["discriminator"] = keras.saving.deserialize_keras_object(config["discriminator"])
        return cls(**config)


def make_dcgan(
    config: GANConfig,
    seed: int = 0,
    generator: keras.Model | None = None,
    discriminator: keras.Model | None = None,
) -> DCGAN:
    """Build (or wrap the given networks) and compile a :class:`DCGAN` with fresh optimizers
    under the active tf.distribute strategy. The global seeds are set only when a network is
    built here (its initial weights): wrapping loaded ones leaves the caller's random state."""
    if generator is None or discriminator is None:
        runtime.seed_everything(seed)
    with runtime.active().strategy.scope():
        model = DCGAN(
            generator or build_generator(config),
            discriminator or build_discriminator(config),
            latent_dim=config.latent_dim,
            conditional=config.conditional,
            label_smoothing=config.label_smoothing,
            policies=config.policies,
            seed=seed,
            simultaneous=config.update == "simultaneous",
            ema=config.ema,
            lecam=config.lecam,
            loss=config.loss,
            name="dcgan",
        )
        model.compile(
            d_optimizer=keras.optimizers.Adam(config.discriminator_learning_rate, config.beta_1),
            g_optimizer=keras.optimizers.Adam(config.generator_learning_rate, config.beta_1),
        )
    return model


# ----------------------------------------------------------------------------- sampling helpers


def sample_labels(n: int, digits: int | Sequence[int] | None, seed: int) -> np.ndarray:
    """``n`` int64 labels: all ``digits`` if an int, else balanced over ``digits`` (default
    0-9), shuffled within each chunk of :data:`CHUNK`. Independent of the noise stream."""
    if digits is not None:
        check_digits(digits)  # before the cast: 3.7 is an error, not a 3
    pool = np.arange(NUM_CLASSES) if digits is None else np.atleast_1d(digits).astype(np.int64)
    return np.concatenate(list(_label_chunks(n, pool, seed))) if n else np.zeros(0, np.int64)


def _label_chunks(n: int, pool: np.ndarray, seed: int) -> Iterator[np.ndarray]:
    rng = np.random.default_rng([seed, 1])
    for start in range(0, n, CHUNK):
        stop = min(n, start + CHUNK)
        yield rng.permutation(pool[np.arange(start, stop) % len(pool)]).astype(np.int64)


def _noise_chunks(n: int, latent_dim: int, seed: int) -> Iterator[np.ndarray]:
    rng = np.random.default_rng([seed, 0])
    for start in range(0, n, CHUNK):
        yield rng.standard_normal((min(n, start + CHUNK) - start, latent_dim), dtype=np.float32)


def to_unit(images: Any) -> np.ndarray:
    """Generator output in [-1, 1] -> float32 in [0, 1]."""
    return np.clip((np.asarray(images, np.float32) + 1.0) / 2.0, 0.0, 1.0)


# ----------------------------------------------------------------------------- the API


class GAN:
    """A DCGAN you can train, sample from, save and load (the toolkit's GAN API)."""

    def __init__(
        self, config: GANConfig | dict[str, Any] | None = None, seed: int | None = 0
    ) -> None:
        """``config``: a GANConfig, or a dict of its fields (as a Trainer takes one).
        Building it seeds Python's, NumPy's and TensorFlow's global generators with ``seed``
        (its networks' initial weights), as ``keras.utils.set_random_seed`` would."""
        if config is None or isinstance(config, dict):
            config = cfgmod.build(GANConfig, config or {}, "GAN config")
        if not isinstance(config, GANConfig):
            raise UsageError(
                f"GAN takes a GANConfig or a dict of its fields, not {type(config).__name__}"
            )
        self.config = dataclasses.replace(config)  # a copy: the caller's stays theirs
        self.seed = seed_or_draw(seed)  # None: drawn, and kept
        self.model = make_dcgan(self.config, self.seed)
        self.history: dict[str, list[float]] = {}
        self.seconds = 0.0
        self.trained_on: str | None = None  # datasets.fingerprint of the last train()'s data
        self.data_source = ""
        self._steps_before: int | None = 0  # a loaded run's; None: saved before rlgen counted

    @property
    def generator(self) -> keras.Model:
        return self.model.generator

    @property
    def discriminator(self) -> keras.Model:
        return self.model.discriminator

    @property
    def conditional(self) -> bool:
        return self.config.conditional

    @property
    def task(self) -> str:
        """The run kind config.json names: "cdcgan" (conditional) or "dcgan"."""
        return "cdcgan" if self.conditional else "dcgan"

    # ------------------------------------------------------------------ data
    def load_data(self) -> tuple[np.ndarray, np.ndarray]:
        """The training images (a stratified subset if ``train_size``) in [0, 1] and labels.

        Only the training split: the test split stays unseen for the metrics."""
        c = self.config
        d = datasets.load_images(c.dataset, c.data_dir)
        keep = self.training_indices(d.y_train)
        # said by training only, not by every reader of the subset (augmentation, eval)
        datasets.warn_train_size(c.train_size, len(d.y_train), d.source)
        self.data_source = d.source
        return d.x_train[keep], d.y_train[keep]

    def training_indices(self, y_train: np.ndarray) -> np.ndarray:
        """Which of the training split's images the config trains on (all, or the stratified
        ``train_size`` subset)."""
        return self.config.training_indices(y_train)

    def batch_for(self, n_images: int) -> int:
        """The batch size on ``n_images``: the config's, or all of them if fewer; it must
        split evenly over the replicas, or each would draw overlapping noise."""
        batch = min(self.config.batch_size, n_images)
        replicas = runtime.active().strategy.num_replicas_in_sync
        if batch % replicas:
            raise UsageError(
                f"a batch of {batch} images does not split evenly over {replicas} replicas; "
                f"give a --batch-size that is a multiple of {replicas}"
            )
        return batch

    def dataset(self, x: np.ndarray, y: np.ndarray, done: int = 0) -> tf.data.Dataset:
        """Images scaled to [-1, 1] (the generator's tanh range), cached, shuffled (in orders
        drawn from the seed and the ``done`` epochs before: a further train() does not replay
        the first one's), batched."""
        batch = self.batch_for(len(x))
        ds = tf.data.Dataset.from_tensor_slices((x * 2.0 - 1.0, y.astype(np.int32))).cache()
        seed = runtime.seed_after(self.seed, done)
        ds = ds.shuffle(len(x), seed=seed, reshuffle_each_iteration=True)
        # Whole batches only: one last tiny batch makes a noisy discriminator step.
        return ds.batch(batch, drop_remainder=True).prefetch(tf.data.AUTOTUNE)

    # ------------------------------------------------------------------ training
    def train(
        self,
        x: np.ndarray | None = None,
        y: np.ndarray | None = None,
        epochs: int | None = None,
        run: Run | None = None,
        verbose: int = 1,
    ) -> dict[str, list[float]]:
        """Train for ``epochs`` (default: the config's) on ``x, y`` (default: the config's data).

        With a ``run``: metrics.csv, a fixed-noise grid per epoch in samples/ (every
        ``log_every`` epochs, spaced out past 200) and with each the generator and
        discriminator in checkpoint/, TensorBoard events, and at the end the GAN
        (:meth:`save`) and progress.gif. A NaN
        or inf in either loss stops training with :class:`TrainingDiverged`. With the config's
        ``ema``, the generator ends as the moving average of its weights, as do the grids and
        checkpoints written on the way; a further ``train`` in the same process continues
        from the training weights, one on a loaded GAN from the average it saved.
        """
        check_run(run, "train()")
        if x is None:
            x, y = self.load_data()
        if y is None and self.conditional:
            raise UsageError("a conditional GAN trains on labelled images; give y, the labels")
        x = np.asarray(x, np.float32)
        if x.ndim == 3 and x.shape[1:] == IMAGE_SHAPE[:2]:  # (N, 28, 28), as keras.datasets
            x = x[..., None]
        y = np.zeros(len(x), np.int64) if y is None else datasets.digit_labels(y, "labels")
        if x.ndim != 4 or x.shape[1:] != IMAGE_SHAPE or len(y) != len(x) or not len(x):
            raise UsageError(
                f"training images have shape {x.shape} with {len(y)} labels; "
                "give (N, 28, 28, 1) images in [0, 1] and N labels"
            )
        x = datasets.unit_pixels(x, "training images")
        if epochs is not None:
            epochs = check_count("epochs", epochs)
        self.trained_on = datasets.fingerprint(x, y)  # --augment-from compares its data
        epochs = epochs or self.config.epochs_for(len(x))
        steps = len(x) // self.batch_for(len(x))
        monitor = _Monitor(self, run)
        done = len(self.history.get("epoch", []))
        monitor.last_epoch = done + epochs
        callbacks: list[keras.callbacks.Callback] = [monitor]
        if verbose:
            callbacks.append(_ProgressBar(epochs, steps, last=done + epochs))
        if run is not None:
            start_run(run.path, GROUP, self.task, SAVED_FILES, SAVED_NAMES, run_meta(self))
            callbacks.append(keras.callbacks.TensorBoard(log_dir=str(run.file("tensorboard"))))
            if not done:  # the untrained generator: the GIF's first frame (not a later one)
                monitor.save_grid(0)
        start = time.perf_counter()
        self.model.use_live()  # a further train() goes on from the training weights
        try:
            self.model.fit(
                self.dataset(x, y, done),
                epochs=done + epochs,  # a second train() call continues the epoch count
                initial_epoch=done,
                shuffle=False,  # the tf.data pipeline shuffles
                verbose=0,
                callbacks=callbacks,
            )
        except KeyboardInterrupt:
            if run is not None and (run.file("checkpoint") / GENERATOR_FILE).is_file():
                raise KeyboardInterrupt(
                    f"the generator and discriminator of the last sample grid are in "
                    f"{run.file('checkpoint')}"
                ) from None
            raise
        self.seconds += time.perf_counter() - start
        if monitor.diverged:
            where = ""
            if run is not None and (run.file("checkpoint") / GENERATOR_FILE).is_file():
                where = (
                    f"; the last good generator and discriminator are in {run.file('checkpoint')}"
                )
            elif run is not None:
                where = "; no epoch finished, so no checkpoint was written (check the data)"
            raise TrainingDiverged(
                f"the {monitor.diverged} became NaN or inf during epoch {monitor.bad_epoch}"
                f"{where}; lower the learning rates or the batch size and train again"
            )
        self.model.use_average()  # with --ema: the averaged generator is the one kept
        if run is not None:  # a run GAN.load reads, as the command line's are
            self.save(run.path)
            _write_gif(grid_frames(run.file("samples")), run.file("progress.gif"))
        return {k: list(v) for k, v in self.history.items()}  # a copy: a later train() goes on

    # ------------------------------------------------------------------ sampling
    def iter_samples(
        self, n: int, digits: int | Sequence[int] | None = None, seed: int = 0
    ) -> Iterator[tuple[np.ndarray, np.ndarray | None]]:
        """Yield ``(x, y)`` chunks of at most :data:`CHUNK` images (bounded memory for any n)."""
        self._warn_if_untrained()
        yield from self._chunks(n, digits, seed)

    @property
    def generator_steps(self) -> int | None:
        """Generator updates so far: a loaded run's and this process's, however trained
        (train(), or Keras' own ``gan.model.fit``); None for a run saved before rlgen counted
        them."""
        if self._steps_before is None:
            return None
        return self._steps_before + int(self.model.g_optimizer.iterations.numpy())

    @generator_steps.setter
    def generator_steps(self, steps: int | None) -> None:
        done = int(self.model.g_optimizer.iterations.numpy())
        self._steps_before = None if steps is None else int(steps) - done

    def _warn_if_untrained(self) -> None:
        if self.generator_steps == 0:
            warnings.warn(
                "this GAN has not been trained: its images are noise; call train() first, or "
                "GAN.load a trained run",
                RlgenWarning,
                stacklevel=3,  # the caller of sample() or iter_samples()
            )

    def _chunks(
        self, n: int, digits: int | Sequence[int] | None, seed: int
    ) -> Iterator[tuple[np.ndarray, np.ndarray | None]]:
        n = check_count("-n", n)
        seed = seed_or_draw(seed)  # None: other images at each call
        if digits is not None:
            check_digits(digits, self.conditional)
        pool = np.arange(NUM_CLASSES) if digits is None else np.atleast_1d(digits)
        pool = pool.astype(np.int64)
        for z, y in zip(
            _noise_chunks(n, self.config.latent_dim, seed), _label_chunks(n, pool, seed)
        ):
            inputs = [z, y[:, None].astype(np.int32)] if self.conditional else z
            images = to_unit(self.generator(inputs, training=False))
            yield images, (y if self.conditional else None)

    def sample(
        self, n: int, digits: int | Sequence[int] | None = None, seed: int | None = 0
    ) -> tuple[np.ndarray, np.ndarray | None]:
        """``n`` generated images float32 (n, 28, 28, 1) in [0, 1] and their int64 labels.

        ``digits``: one digit, or several to balance over (default all ten); the same seed
        gives the same images (``seed=None``: new ones at each call). Labels are None for an
        unconditional GAN.
        """
        n = check_count("-n", n)
        if n > MAX_IN_MEMORY:
            raise UsageError(
                f"-n {n} images would take {n * 784 * 4 / 1e9:.1f} GB of memory; "
                "write them to an .npz, which streams them: "
                + option(
                    "rlgen gan sample RUN -n N --out FILE.npz",
                    "rlgen.gan.write_samples(gan, 'FILE.npz', n)",
                )
            )
        self._warn_if_untrained()
        parts = list(self._chunks(n, digits, seed))
        x = np.concatenate([p[0] for p in parts])
        y = np.concatenate([p[1] for p in parts]) if self.conditional else None
        return x, y

    def grid(self, seed: int | None = None) -> np.ndarray:
        """100 images from fixed noise: one row per digit (conditional) for progress pictures."""
        seed = self.seed + 12_345 if seed is None else seed
        z = np.random.default_rng(seed).standard_normal((100, self.config.latent_dim))
        z = z.astype(np.float32)
        if self.conditional:
            y = np.repeat(np.arange(NUM_CLASSES), 10)
            return to_unit(self.generator([z, y[:, None].astype(np.int32)], training=False))
        return to_unit(self.generator(z, training=False))

    # ------------------------------------------------------------------ persistence
    def save(self, path: str | Path, extra: dict[str, Any] | None = None) -> Path:
        """Write generator.keras, discriminator.keras, config.json and metrics.csv (the
        history) into folder ``path``."""
        path = save_folder(path, GROUP, self.task, SAVED_FILES, SAVED_NAMES)
        save_models(self, path)
        merge_json(path / CONFIG, {**run_meta(self), **(extra or {})})
        if self.history:  # a loaded GAN's further train() goes on from it
            write_history(path / METRICS, self.history)
            self._refresh_summary(path)
        return path

    def history_figures(self) -> dict[str, Any]:
        """The epochs, the last epoch's losses and scores, and the generator steps."""
        self._check_trained("history_figures()")
        hist = self.history
        return {
            "epochs": len(hist["epoch"]),
            "final_d_loss": hist["d_loss"][-1],
            "final_g_loss": hist["g_loss"][-1],
            "final_real_score": hist["real_score"][-1],
            "final_fake_score": hist["fake_score"][-1],
            "generator_steps": self.generator_steps,
        }

    def plot_losses(self, path: str | Path, images: int | None = None) -> None:
        """Both losses by epoch into ``path`` (a PNG), titled with the data trained on."""
        self._check_trained("plot_losses()")
        kind = "conditional DCGAN" if self.conditional else "DCGAN"
        count = f"{images:,} " if images else ""
        plots.plot_history(
            {"d_loss": self.history["d_loss"], "g_loss": self.history["g_loss"]},
            path,
            f"{kind} on {count}{self.config.dataset} images",
            names={"d_loss": "discriminator loss", "g_loss": "generator loss"},
        )

    def _check_trained(self, call: str) -> None:
        if not self.history.get("epoch"):
            raise UsageError(f"{call}: this GAN has no epochs yet; train() it first")

    def _refresh_summary(self, path: Path) -> None:
        """A command-line run's summary.json and losses.png describe the GAN beside them:
        saved back into the run after further training, they are made again."""
        figures = self.history_figures()
        old = stale_summary(path, figures["epochs"], self.task)
        if old is None:
            return
        write_json(path / SUMMARY, {**old, **figures})
        self.plot_losses(path / "losses.png", old.get("train_examples"))

    @classmethod
    def load(cls, path: str | Path) -> GAN:
        """Load a GAN saved by :meth:`save` or ``rlgen gan train`` (fresh optimizers)."""
        run = open_run(path, group=GROUP)
        meta = run.config
        config = cfgmod.build(GANConfig, meta.get("config", {}), f"{run.path}/{CONFIG}")
        gan = cls.__new__(cls)
        gan.config, gan.seed = config, int(meta.get("seed", 0))
        gan.history, gan.seconds = read_history(run.file(METRICS)), 0.0  # epochs go on
        gan.trained_on = meta.get("train_fingerprint")
        gan._steps_before = generator_steps(run.path, meta)  # None: it does not say
        gan.data_source = meta.get("data", {}).get("source", "")
        # Under the active strategy: make_dcgan builds the optimizers there, and a
        # MirroredStrategy refuses slots for variables created outside its scope.
        with runtime.active().strategy.scope():
            generator = load_model(run.file(GENERATOR_FILE))
            discriminator = load_model(run.file(DISCRIMINATOR_FILE))
        for net, build, name in (
            (generator, build_generator, GENERATOR_FILE),
            (discriminator, build_discriminator, DISCRIMINATOR_FILE),
        ):
            check_model_fits(net, build(config), run.file(name), run.file(CONFIG))
        expected = (None, *IMAGE_SHAPE)
        if tuple(generator.output_shape) != expected:
            raise UsageError(
                f"{run.file(GENERATOR_FILE)} draws {generator.output_shape[1:]} images, not "
                f"{IMAGE_SHAPE}; it is not an rlgen GAN generator"
            )
        gan.model = make_dcgan(config, gan.seed, generator, discriminator)
        return gan


def run_meta(gan: GAN) -> dict[str, Any]:
    """What config.json records about a GAN (read back without TensorFlow by sampling.py)."""
    return {
        "group": GROUP,
        "task": gan.task,
        "seed": gan.seed,
        "conditional": gan.conditional,
        "image_shape": list(IMAGE_SHAPE),
        "num_classes": NUM_CLASSES,
        "config": cfgmod.to_dict(gan.config),
        "train_fingerprint": gan.trained_on,
        "generator_steps": gan.generator_steps,
        "versions": runtime.versions(),
    }


def as_gan(gan: Any, call: str) -> GAN:
    """``gan`` itself, or the GAN saved in folder ``gan``: what ``call`` works on."""
    if isinstance(gan, GAN):
        return gan
    if isinstance(gan, (str, os.PathLike)):
        return GAN.load(gan)
    raise UsageError(f"{call} takes a GAN or the folder of a saved one, not {type(gan).__name__}")


def save_models(gan: GAN, folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for model, name in ((gan.generator, GENERATOR_FILE), (gan.discriminator, DISCRIMINATOR_FILE)):
        with atomic_path(folder / name) as tmp:
            model.save(tmp)


def write_mosaic(
    images: np.ndarray,
    path: Path,
    ncols: int = 10,
    scale: int = 2,
    row_labels: Sequence[str] | None = None,
    caption: str | None = None,
) -> Path:
    """(N, 28, 28, 1) images in [0, 1] as one PNG mosaic, dark digits on white (Pillow),
    with ``row_labels`` left of the rows and a ``caption`` above, if given.

    Written every epoch, so it is built with NumPy rather than 100 matplotlib axes (which
    took longer than a training epoch on 500 digits)."""
    from PIL import Image, ImageDraw

    n, h, w = images.shape[0], images.shape[1], images.shape[2]
    rows, pad = math.ceil(n / ncols), 2
    canvas = np.ones((rows * (h + pad) + pad, ncols * (w + pad) + pad), np.float32)
    for i in range(n):
        r, c = divmod(i, ncols)
        top, left = pad + r * (h + pad), pad + c * (w + pad)
        canvas[top : top + h, left : left + w] = 1.0 - images[i, ..., 0]
    canvas = np.nan_to_num(np.clip(canvas, 0.0, 1.0), nan=1.0)  # a diverged generator's NaNs
    pixels = np.kron((canvas * 255).round().astype(np.uint8), np.ones((scale, scale), np.uint8))
    image = Image.fromarray(pixels)
    if row_labels is not None or caption is not None:  # a projector's epoch and digits
        left = 10 * scale if row_labels is not None else 0
        top = 10 * scale if caption is not None else 0
        framed = Image.new("L", (image.width + left, image.height + top), 255)
        framed.paste(image, (left, top))
        draw, font = ImageDraw.Draw(framed), _font(7 * scale)
        if caption is not None:
            draw.text((left + pad * scale, top // 2), caption, fill=0, font=font, anchor="lm")
        for r, label in enumerate(row_labels or []):
            middle = top + (pad + r * (h + pad) + h // 2) * scale
            draw.text((left // 2, middle), str(label), fill=0, font=font, anchor="mm")
        image = framed
    with atomic_path(path) as tmp:
        image.save(tmp, format="PNG")
    return path


def _font(size: int) -> Any:
    from PIL import ImageFont

    try:
        return ImageFont.load_default(size=size)  # scalable with FreeType (Pillow >= 10.1)
    except (TypeError, OSError):
        return ImageFont.load_default()


def grid_frames(folder: Path) -> list[Path]:
    """The per-epoch grids in ``folder`` in epoch order (epoch_1000 after epoch_999)."""
    return sorted(folder.glob("epoch_*.png"), key=lambda p: int(p.stem.removeprefix("epoch_")))


def _write_gif(frames: list[Path], path: Path, ms: int = 300, max_frames: int = 60) -> Path | None:
    """An animated GIF of the per-epoch grids (Pillow), written atomically; at most
    ``max_frames`` of them, evenly spaced, always the first and the last."""
    if not frames:
        return None
    from PIL import Image

    if len(frames) > max_frames:
        keep = np.unique(np.linspace(0, len(frames) - 1, max_frames).round().astype(int))
        frames = [frames[i] for i in keep]
    images = [Image.open(f).convert("P") for f in frames]
    with atomic_path(path) as tmp:
        images[0].save(
            tmp, format="GIF", save_all=True, append_images=images[1:], duration=ms, loop=0
        )
    return path


# ----------------------------------------------------------------------------- callbacks


class _Monitor(keras.callbacks.Callback):
    """History, NaN/inf stop, and with a run: metrics.csv, grids and, with each, the
    checkpoint (so the checkpoint is the last good grid's)."""

    LOSSES = {"d_loss": "discriminator loss", "g_loss": "generator loss"}

    def __init__(self, gan: GAN, run: Run | None) -> None:
        super().__init__()
        self.gan, self.run = gan, run
        self.diverged: str | None = None
        self.bad_epoch = 0
        self._t0 = 0.0
        self._epoch = 0
        self.last_epoch = 0

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        self._t0 = time.perf_counter()
        self._epoch = epoch + 1

    def _check(self, logs: dict | None) -> bool:
        for key in self.LOSSES:
            value = float((logs or {}).get(key, 0.0))
            if not math.isfinite(value):
                self.diverged = self.diverged or self.LOSSES[key]
                self.bad_epoch = self._epoch
                self.model.stop_training = True
                return False
        return True

    def on_train_batch_end(self, batch: int, logs: dict | None = None) -> None:
        self._check(logs)

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        if self.diverged or not self._check(logs):
            return
        hist = self.gan.history
        hist.setdefault("epoch", []).append(epoch + 1)
        for k, v in (logs or {}).items():
            hist.setdefault(k, []).append(float(v))
        hist.setdefault("seconds", []).append(round(time.perf_counter() - self._t0, 3))
        if self.run is not None:
            write_history(self.run.file(METRICS), hist)
            every = self.gan.config.grid_every(self.last_epoch)
            if (epoch + 1) % every == 0 or epoch + 1 == self.last_epoch:
                self.save_grid(epoch + 1)
                with self.gan.model.averaged():  # with --ema: what the run would keep
                    save_models(self.gan, self.run.file("checkpoint"))
                config = self.run.file(CONFIG)
                if config.is_file() and not self.run.file(GENERATOR_FILE).is_file():
                    # the checkpoint's is the only generator: its count, for one copied up
                    # after a Ctrl-C, as the messages advise (it said 0: "not trained")
                    merge_json(config, {"generator_steps": self.gan.generator_steps})

    def save_grid(self, epoch: int) -> None:
        rows = [str(d) for d in range(NUM_CLASSES)] if self.gan.conditional else None
        with self.gan.model.averaged():
            write_mosaic(
                self.gan.grid(),
                self.run.file("samples") / f"epoch_{epoch:03d}.png",
                row_labels=rows,
                caption=f"epoch {epoch}" if epoch else "before training",
            )


class _ProgressBar(keras.callbacks.Callback):
    """One tqdm bar over every batch, showing both losses as they run."""

    def __init__(self, epochs: int, steps_per_epoch: int, last: int) -> None:
        super().__init__()
        self.epochs, self.steps, self.last = epochs, steps_per_epoch, last
        self.bar = None

    def on_train_begin(self, logs: dict | None = None) -> None:
        from tqdm.auto import tqdm

        self.bar = tqdm(total=self.epochs * self.steps, unit="step", mininterval=0.5)

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        self.bar.set_description(f"epoch {epoch + 1}/{self.last}")  # a further train() goes on

    def on_train_batch_end(self, batch: int, logs: dict | None = None) -> None:
        self.bar.update(1)
        if batch % 10 == 0 and logs:
            shown = {k: f"{float(v):.3f}" for k, v in logs.items() if k in _Monitor.LOSSES}
            self.bar.set_postfix(shown, refresh=False)

    def on_train_end(self, logs: dict | None = None) -> None:
        self.bar.close()
