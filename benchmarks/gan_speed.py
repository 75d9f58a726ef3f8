"""Seconds per epoch of rlgen's DCGAN against a plain re-implementation of the TensorFlow DCGAN
tutorial's ``tf.function`` loop (https://www.tensorflow.org/tutorials/generative/dcgan), on
the same real digits in the same process. Prints one JSON line.

Each contender first runs one untimed epoch (tracing), then the timed epochs alternate
between contenders round by round, so a load change on a shared machine hits all of them;
the median per contender is reported, and the ratio is what to quote, not absolute times.
Contenders: rlgen's default (batch 64), unconditional, batch 256, simultaneous updates, and
the SNGAN flags without and with weight averaging (``rlgen.gan.configs.SNGAN``, ``ema``).

    python benchmarks/gan_speed.py                 # 4,000 digits, 3 timed rounds
    python benchmarks/gan_speed.py --quick         # 1,000 digits, 1 round (smoke run)
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

import numpy as np


def tutorial_dcgan(batch_size: int = 256, noise_dim: int = 100):
    """The tutorial's generator, discriminator, losses and train step, as published."""
    import keras
    import tensorflow as tf
    from keras import layers

    generator = keras.Sequential(
        [
            keras.Input((noise_dim,)),
            layers.Dense(7 * 7 * 256, use_bias=False),
            layers.BatchNormalization(),
            layers.LeakyReLU(),
            layers.Reshape((7, 7, 256)),
            layers.Conv2DTranspose(128, 5, strides=1, padding="same", use_bias=False),
            layers.BatchNormalization(),
            layers.LeakyReLU(),
            layers.Conv2DTranspose(64, 5, strides=2, padding="same", use_bias=False),
            layers.BatchNormalization(),
            layers.LeakyReLU(),
            layers.Conv2DTranspose(1, 5, strides=2, padding="same", use_bias=False),
            layers.Activation("tanh"),
        ]
    )
    discriminator = keras.Sequential(
        [
            keras.Input((28, 28, 1)),
            layers.Conv2D(64, 5, strides=2, padding="same"),
            layers.LeakyReLU(),
            layers.Dropout(0.3),
            layers.Conv2D(128, 5, strides=2, padding="same"),
            layers.LeakyReLU(),
            layers.Dropout(0.3),
            layers.Flatten(),
            layers.Dense(1),
        ]
    )
    bce = keras.losses.BinaryCrossentropy(from_logits=True)
    g_opt, d_opt = keras.optimizers.Adam(1e-4), keras.optimizers.Adam(1e-4)

    @tf.function
    def train_step(images):
        noise = tf.random.normal([batch_size, noise_dim])
        with tf.GradientTape() as gen_tape, tf.GradientTape() as disc_tape:
            generated = generator(noise, training=True)
            real_output = discriminator(images, training=True)
            fake_output = discriminator(generated, training=True)
            gen_loss = bce(tf.ones_like(fake_output), fake_output)
            disc_loss = bce(tf.ones_like(real_output), real_output) + bce(
                tf.zeros_like(fake_output), fake_output
            )
        g_grads = gen_tape.gradient(gen_loss, generator.trainable_variables)
        d_grads = disc_tape.gradient(disc_loss, discriminator.trainable_variables)
        g_opt.apply_gradients(zip(g_grads, generator.trainable_variables))
        d_opt.apply_gradients(zip(d_grads, discriminator.trainable_variables))
        return gen_loss, disc_loss

    def epoch(dataset) -> float:
        t0 = time.perf_counter()
        for batch in dataset:
            train_step(batch)
        return time.perf_counter() - t0

    return epoch


def _epoch_seconds(gan, x, y) -> float:
    """One epoch of ``GAN.train``, timed from the epoch's first to its last step.

    Each ``fit`` call also pays a teardown of its dataset iterator after the last epoch
    (measured 0-5 s here, once per ``train`` call, not per epoch), which a real run of many
    epochs pays once; it is left out so the figure is the per-epoch cost."""
    gan.train(x, y, epochs=1, verbose=0)
    return gan.history["seconds"][-1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--train-size", type=int, default=4000)
    parser.add_argument("--rounds", type=int, default=3, help="timed epochs per contender")
    parser.add_argument("--threads", type=int, default=0, help="0 = all cores")
    parser.add_argument("--quick", action="store_true", help="1,000 digits, 1 round")
    args = parser.parse_args()
    if args.quick:
        args.train_size, args.rounds = 1000, 1

    from rlgen import datasets, runtime

    runtime.configure(runtime.RuntimeConfig(threads=args.threads, seed=0))
    import tensorflow as tf

    from rlgen.gan.configs import SNGAN, GANConfig
    from rlgen.gan.dcgan import GAN

    data = datasets.load_images("mnist")
    keep = datasets.subset(data.y_train, args.train_size, seed=0)
    x, y = data.x_train[keep], data.y_train[keep]

    tutorial_epoch = tutorial_dcgan()
    tut_ds = tf.data.Dataset.from_tensor_slices(x * 2.0 - 1.0).shuffle(len(x)).batch(256)

    ours = {
        "rlgen_conditional_b64": GAN(GANConfig(), seed=0),
        "rlgen_unconditional_b64": GAN(GANConfig(unconditional=True), seed=0),
        "rlgen_conditional_b256": GAN(GANConfig(batch_size=256), seed=0),
        "rlgen_conditional_simultaneous_b64": GAN(GANConfig(update="simultaneous"), seed=0),
        # the SNGAN flags (hinge loss, projection, spectral norm) alone and with weight averaging
        "rlgen_sngan_b64": GAN(GANConfig(**SNGAN), seed=0),
        "rlgen_sngan_ema_b64": GAN(GANConfig(**SNGAN, ema=0.999), seed=0),
    }
    contenders = {"tutorial_b256": lambda: tutorial_epoch(tut_ds)}
    for name, gan in ours.items():
        contenders[name] = lambda gan=gan: _epoch_seconds(gan, x, y)

    for run in contenders.values():  # tracing and the first-call costs, untimed
        run()
    times: dict[str, list[float]] = {k: [] for k in contenders}
    for _ in range(args.rounds):
        for name, run in contenders.items():
            times[name].append(run())

    median = {k: statistics.median(v) for k, v in times.items()}
    base = median["tutorial_b256"]
    print(
        json.dumps(
            {
                "benchmark": "gan_speed",
                "train_size": int(len(x)),
                "rounds": args.rounds,
                "seconds_per_epoch": {k: round(v, 3) for k, v in median.items()},
                "ratio_to_tutorial": {
                    k: round(v / base, 3) for k, v in median.items() if k != "tutorial_b256"
                },
                "all_seconds": {k: [round(t, 3) for t in v] for k, v in times.items()},
                "threads": args.threads,
                "data_source": data.source,
                "numpy": np.__version__,
                "tensorflow": tf.__version__,
            }
        )
    )


if __name__ == "__main__":
    main()
