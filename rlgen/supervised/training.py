"""Train, evaluate, save and load the supervised models: :class:`Trainer`.

>>> trainer = Trainer("cnn", CNNConfig(epochs=3, train_size=1000), seed=0)
>>> trainer.fit()                 # tf.data pipeline, Keras progbar, history
>>> trainer.evaluate()            # test figures, real test data only
>>> trainer.save("runs/my-cnn"); trainer = Trainer.load("runs/my-cnn")
"""

from __future__ import annotations

import hashlib
import io
import math
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import keras
import numpy as np
import tensorflow as tf

from rlgen import config as cfgmod
from rlgen import datasets, plots, runtime
from rlgen.errors import TrainingDiverged, UsageError, check_count, option, seed_or_draw
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
    read_history,
    save_folder,
    stale_summary,
    start_run,
    write_history,
    write_json,
)
from rlgen.supervised import models
from rlgen.supervised.configs import CONFIGS, RNN_PRESETS, TrainConfig

MODEL_FILE = "model.keras"
SAVED_FILES = "model.keras and config.json"  # what save() writes, for its messages
GROUP = "supervised"
# y = 1 - 0.5 x - x^2 + 0.5 x^3: the cubic the regression task samples (x in [-2, 2]).
TRUE_COEFFICIENTS = (1.0, -0.5, -1.0, 0.5)
HISTORY = "history.csv"
SAVED_NAMES = (MODEL_FILE, CONFIG, HISTORY)


@dataclass
class Splits:
    """Train / validation / test arrays of one task and where they came from."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    source: str
    class_names: tuple[str, ...] = ()

    def sizes(self) -> dict[str, int]:
        return {"train": len(self.x_train), "validation": len(self.x_val), "test": len(self.x_test)}


def default_config(model: str, /, **overrides: Any) -> TrainConfig:
    """The config of ``model`` with its preset (RNN: per sub-task) and ``overrides`` applied."""
    if model not in CONFIGS:
        raise UsageError(f"unknown model {model!r}; choose one of {', '.join(CONFIGS)}")
    preset = RNN_PRESETS.get(overrides.get("task", "addition"), {}) if model == "rnn" else {}
    return cfgmod.build(CONFIGS[model], {**preset, **overrides}, where=f"{model} config")


def _validation_split(x, y, fraction: float, stratify: bool) -> tuple[np.ndarray, np.ndarray]:
    n_val = int(round(len(x) * fraction))
    if n_val == 0:
        return np.arange(len(x)), np.arange(0)
    if stratify:
        return datasets.stratified_split(y, test_size=n_val, seed=0)
    order = np.random.default_rng(0).permutation(len(x))
    return np.sort(order[n_val:]), np.sort(order[:n_val])


def geometric_augmentation(seed: int = 0) -> keras.Sequential:
    """Small random rotations, shifts and zooms: the classic label-preserving digit jitter.

    In float32 whatever the global policy: under mixed precision the layers would hand the
    model float16 training images while validation and test images stay float32."""
    f32 = {"fill_mode": "constant", "dtype": "float32"}
    return keras.Sequential(
        [
            keras.layers.RandomRotation(0.05, seed=seed, **f32),
            keras.layers.RandomTranslation(0.1, 0.1, seed=seed + 1, **f32),
            keras.layers.RandomZoom(0.1, seed=seed + 2, **f32),
        ],
        name="geometric_augmentation",
    )


def synthetic_digits(
    gan_run: str | Path,
    n: int,
    seed: int,
    min_confidence: float = 0.0,
    dataset: str | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """``n`` labelled digits drawn from a conditional GAN run (the one supervised -> gan link),
    optionally only those the reference classifier is confident about. With ``dataset``, the
    GAN must have been trained on that data set (Fashion-MNIST images are MNIST-shaped too)."""
    from rlgen.gan.configs import FEW_STEPS
    from rlgen.gan.sampling import (
        check_request,
        generator_steps,
        image_shape,
        run_meta,
        sample_labelled,
    )

    shape = image_shape(gan_run)  # checked from config.json before the generator loads
    if shape != datasets.IMAGE_SHAPE:
        raise UsageError(
            f"--augment-from {gan_run} draws images of shape {shape}, not "
            f"{datasets.IMAGE_SHAPE}; give a GAN trained on MNIST-style images"
        )
    trained_on = run_meta(gan_run)["config"].get("dataset")
    if dataset is not None and trained_on != dataset:
        raise UsageError(
            f"--augment-from {gan_run} was trained on {trained_on}, not {dataset}; give a GAN "
            f"trained with 'rlgen gan train --dataset {dataset}'"
        )
    check_request(gan_run, n, labels_needed=True, seed=seed)  # before any warning below
    steps = generator_steps(gan_run)
    if steps is not None and steps < FEW_STEPS:
        or_filter = "" if min_confidence else " or add --min-confidence 0.9"
        datasets.warn(
            f"--augment-from {gan_run} trained only {steps:,} generator steps (the default is "
            "about 9,300): its digits may be poor and lower accuracy (a 300-step GAN's digits "
            "cost 1.6 points in BENCHMARKS.md); check them with "
            + option(f"'rlgen gan eval {gan_run}'", f"rlgen.gan.metrics.evaluate({str(gan_run)!r})")
            + or_filter
        )
    x, y = sample_labelled(gan_run, n, seed=seed, min_confidence=min_confidence)
    return x.astype(np.float32), y.astype(np.int64)


def gan_training_digits(gan_run: str | Path) -> np.ndarray | None:
    """The real digits a GAN run learnt from (its data set, reloaded, and its --train-size
    subset), or None when that cannot be told: its data can no longer be read, or it was
    trained from Python on other images than its config names (the fingerprint differs)."""
    from rlgen.gan.configs import GANConfig
    from rlgen.gan.sampling import run_meta

    meta = run_meta(gan_run)
    config = cfgmod.build(GANConfig, meta["config"], f"{gan_run}/config.json")
    try:
        d = datasets.load_images(config.dataset, config.data_dir)
    except UsageError:
        return None
    if not config.learnt_as_named(meta.get("train_fingerprint"), d.x_train, d.y_train):
        return None
    return d.x_train[config.training_indices(d.y_train)]


def _image_keys(x: np.ndarray) -> np.ndarray:
    """One 64-bit hash per image, equal for byte-identical images: set membership for
    60,000 digits without a copy of them. (A float projection, used before, gave the same
    image keys one unit apart in the last place depending on its row in the batch.)"""
    x = np.asarray(x, np.float32)
    keys = [
        int.from_bytes(
            hashlib.blake2b(np.ascontiguousarray(image).data, digest_size=8).digest(), "little"
        )
        for image in x
    ]
    return np.array(keys, dtype=np.uint64)


def warn_if_gan_saw_more(gan_run: str | Path, d: Splits) -> None:
    """Warn when the GAN learnt from real digits this classifier does not train on (more of
    the training split, or the classifier's validation digits): its synthetic digits then
    carry what those teach, and a gain over real-only training is not the GAN's alone."""
    learnt = gan_training_digits(gan_run)
    if learnt is None:
        return
    keys = _image_keys(learnt)
    unseen = ~np.isin(keys, _image_keys(d.x_train))
    if not unseen.any():
        return
    validation = int(np.isin(keys[unseen], _image_keys(d.x_val)).sum())
    among = f" ({validation:,} of its validation digits among them)" if validation else ""
    optimistic = "; validation accuracy is optimistic" if validation else ""
    no_split = " and --validation-split 0" if len(d.x_val) else ""
    datasets.warn(
        f"the GAN of --augment-from learnt from {len(learnt):,} real digits, "
        f"{int(unseen.sum()):,} of which this classifier does not train on{among}: a gain is "
        f"not the GAN's alone{optimistic}. A fair test: the same --train-size for both"
        f"{no_split} (README, 'Augmenting a classifier')"
    )


def powers(xs: np.ndarray, degree: int) -> np.ndarray:
    """The regression's inputs: x, x^2, ..., x^degree of each value, (N, degree) float32."""
    xs = np.asarray(xs, np.float32)
    return np.stack([xs**k for k in range(1, degree + 1)], axis=1).astype(np.float32)


# What a further fit() applies of a changed config: the rest made the data or the model
# (test_bits only chooses evaluate()'s extra test).
LIVE_FIELDS = ("epochs", "batch_size", "test_bits")


class Trainer:
    """One supervised model of ``task`` (mlp, cnn, rnn, iris, perceptron, regression)."""

    def __init__(
        self, task: str, config: TrainConfig | dict[str, Any] | None = None, seed: int | None = 0
    ) -> None:
        """``config``: the task's config class, or a dict of its fields over the task's preset
        (as :func:`default_config` takes them, and as the agents take a dict)."""
        if task not in CONFIGS:
            raise UsageError(f"unknown model {task!r}; choose one of {', '.join(CONFIGS)}")
        if config is None or isinstance(config, dict):
            config = default_config(task, **(config or {}))
        if not isinstance(config, CONFIGS[task]):
            raise UsageError(
                f"{task} takes {CONFIGS[task].__name__} or a dict of its fields, "
                f"not {type(config).__name__}"
            )
        # a copy: one config object given to several trainers (a sweep) stays the caller's
        self.task, self.config, self.seed = task, replace(config), seed_or_draw(seed)
        # a copy of the config the data or the model was made with (not the live object,
        # which a change to trainer.config would change too)
        self._used: dict[str, Any] | None = None
        self.model: keras.Model | None = None
        self.history: dict[str, list[float]] = {}
        self._data: Splits | None = None
        self._real: Splits | None = None
        self.seconds = 0.0
        self.tested_on: str | None = None  # a loaded run's test-split fingerprint
        self._seeded = False  # the global random streams, by the first fit()

    # ------------------------------------------------------------------ data
    @property
    def data(self) -> Splits:
        """The splits training uses: with ``augment_from``, the synthetic digits join the
        training split (drawn once, on first use)."""
        if self._data is None:
            data = self.real_data
            if self.is_image_task and self.config.augment_from:
                data = self._with_synthetic(data)  # kept only once drawn: a retry draws again
            self._data = data
        return self._data

    @property
    def real_data(self) -> Splits:
        """The splits as loaded, without synthetic digits: all that evaluation needs, so
        evaluating an augmented run neither loads nor needs its GAN."""
        if self._real is None:
            config = self._checked_config()
            self._real = self.load_data()  # data that fails to load fixes no config
            self._used = self._used or cfgmod.to_dict(config)
        return self._real

    def _checked_config(self) -> TrainConfig:
        """``self.config`` checked again, as when it was built: a field set on it afterwards
        skipped every check (batch_size = 0 was a TensorFlow error), and one the data or the
        model had already used was written to config.json but not applied (optimizer =
        "sgd" went on training with Adam). Only :data:`LIVE_FIELDS` apply to a later fit."""
        self.config = cfgmod.recheck(
            self.config,
            self._used,
            LIVE_FIELDS,
            lambda name, old, new: (
                f"trainer.config.{name} changed from {old!r} to {new!r} after the data or the "
                "model was made with it; a further fit() takes new epochs, batch_size and "
                "test_bits only: for the rest, build a new Trainer"
            ),
        )
        return self.config

    def _with_synthetic(self, d: Splits) -> Splits:
        c = self.config
        x_syn, y_syn = synthetic_digits(
            c.augment_from, c.synthetic, self.seed, c.min_confidence, dataset=c.dataset
        )
        warn_if_gan_saw_more(c.augment_from, d)
        source = f"{d.source} + {len(y_syn):,} synthetic digits from {c.augment_from}"
        if c.min_confidence:
            source += f" (reference confidence >= {c.min_confidence})"
        # Synthetic digits join the training split only: validation and test stay real.
        return replace(
            d,
            x_train=np.concatenate([d.x_train, x_syn]),
            y_train=np.concatenate([d.y_train, y_syn]),
            source=source,
        )

    @property
    def is_image_task(self) -> bool:
        return self.task in ("mlp", "cnn") or (self.task == "rnn" and self.config.task == "mnist")

    def load_data(self) -> Splits:
        """Load and split this task's data (deterministic: the same split for every seed);
        a training split left empty (by --validation-split) is one clear error."""
        splits = self._split_data()
        if len(splits.x_train) == 0:
            raise UsageError(
                f"--validation-split {self.config.validation_split} leaves no training "
                f"examples of {len(splits.x_val)}; give a smaller split"
            )
        return splits

    def _split_data(self) -> Splits:
        c = self.config
        if self.is_image_task:
            d = datasets.load_images(c.dataset, c.data_dir)
            x, y = d.x_train, d.y_train
            if c.train_size:
                keep = datasets.training_subset(y, c.train_size, d.source)
                x, y = x[keep], y[keep]
            tr, va = _validation_split(x, y, c.validation_split, stratify=True)
            return Splits(x[tr], y[tr], x[va], y[va], d.x_test, d.y_test, d.source, d.class_names)
        if self.task == "rnn":
            x, y, x_test, y_test = datasets.binary_addition(c.train_pairs, c.test_pairs, c.bits)
            tr, va = _validation_split(x, y, c.validation_split, stratify=False)
            return Splits(x[tr], y[tr], x[va], y[va], x_test, y_test, f"{c.bits}-bit additions")
        if self.task == "iris":
            d = datasets.load_iris()
            tr, va = _validation_split(d.x_train, d.y_train, c.validation_split, stratify=True)
            return Splits(
                d.x_train[tr],
                d.y_train[tr],
                d.x_train[va],
                d.y_train[va],
                d.x_test,
                d.y_test,
                "scikit-learn iris, fixed stratified 120/30 split",
                d.class_names,
            )
        if self.task == "perceptron":
            x = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], dtype=np.float32)
            table = {"and": [0, 0, 0, 1], "or": [0, 1, 1, 1], "xor": [0, 1, 1, 0]}[c.gate]
            y = np.array(table, dtype=np.float32)[:, None]
            return Splits(x, y, x[:0], y[:0], x, y, f"{c.gate.upper()} truth table")
        # regression: noisy samples of the cubic, 25 % held out for testing
        rng = np.random.default_rng(0)
        xs = rng.uniform(-2.0, 2.0, size=c.samples).astype(np.float32)
        ys = sum(a * xs**k for k, a in enumerate(TRUE_COEFFICIENTS))
        ys = (ys + rng.normal(0.0, c.noise, size=c.samples)).astype(np.float32)[:, None]
        feats = powers(xs, c.degree)
        n_test = max(1, c.samples // 4)
        x, y, x_test, y_test = feats[n_test:], ys[n_test:], feats[:n_test], ys[:n_test]
        tr, va = _validation_split(x, y, c.validation_split, stratify=False)
        return Splits(x[tr], y[tr], x[va], y[va], x_test, y_test, "noisy cubic, 25% test")

    def _dataset(
        self, x: np.ndarray, y: np.ndarray, training: bool, done: int = 0
    ) -> tf.data.Dataset:
        """A pipeline over ``x, y``; a training one shuffles (and jitters, with geometric) in
        an order drawn from the seed and the ``done`` epochs before it: a further fit()'s
        epochs do not replay the first fit()'s orders."""
        seed = runtime.seed_after(self.seed, done)
        ds = tf.data.Dataset.from_tensor_slices((x, y)).cache()
        if training:
            ds = ds.shuffle(len(x), seed=seed, reshuffle_each_iteration=True)
        ds = ds.batch(self.config.batch_size)
        if training and getattr(self.config, "geometric", False):
            augment = geometric_augmentation(seed)
            # one batch after another: the layers draw from one seeded stream, which parallel
            # calls consumed in a different order every run (the same seed gave other weights)
            ds = ds.map(lambda a, b: (augment(a, training=True), b))
        return ds.prefetch(tf.data.AUTOTUNE)

    # ------------------------------------------------------------------ model
    def build_model(self) -> keras.Model:
        """Build and compile this task's model under the active tf.distribute strategy."""
        c = self.config
        with runtime.active().strategy.scope():
            if self.task == "mlp":
                model = models.build_mlp(
                    hidden=c.hidden, dropout=c.dropout, activation=c.activation
                )
            elif self.task == "cnn":
                model = models.build_cnn(
                    filters=c.filters,
                    kernel_size=c.kernel_size,
                    dense=c.dense,
                    conv_dropout=c.conv_dropout,
                    dense_dropout=c.dense_dropout,
                )
            elif self.task == "rnn":
                model = models.build_rnn(
                    c.task,
                    c.cell,
                    c.units,
                    c.dropout,
                    c.recurrent_dropout,
                    c.unroll,
                    sequence_length=c.bits if (c.unroll and c.task == "addition") else None,
                )
            elif self.task == "iris":
                features = self.real_data.x_train
                model = models.build_iris(
                    hidden=c.hidden,
                    activation=c.activation,
                    mean=features.mean(axis=0),
                    variance=features.var(axis=0),
                )
            elif self.task == "perceptron":
                model = models.build_perceptron(c.hidden, c.activation)
            else:
                model = models.build_polynomial_regression(c.degree)
            model.compile(
                optimizer=self._optimizer(model), loss=self._loss(), metrics=self._metrics()
            )
        return model

    def _optimizer(self, model: keras.Model) -> keras.optimizers.Optimizer:
        """A fresh optimizer, loss-scaled when ``model`` computes in float16 (the scaling that
        holds over several replicas; Keras' own wrapping checks only the first)."""
        opt = models.make_optimizer(self.config.optimizer, self.config.learning_rate)
        return loss_scaled(opt) if computes_in_float16(model) else opt

    def _loss(self) -> str:
        if self.task == "regression":
            return "mse"
        if self.task == "perceptron" or (self.task == "rnn" and self.config.task == "addition"):
            return "binary_crossentropy"
        return "sparse_categorical_crossentropy"

    def _metrics(self) -> list[Any]:
        if self.task == "regression":
            return []
        if self._loss() == "binary_crossentropy":
            return [keras.metrics.BinaryAccuracy(name="accuracy")]
        return ["accuracy"]

    # ------------------------------------------------------------------ training
    def fit(
        self,
        run: Run | None = None,
        verbose: int = 1,
        callbacks: keras.callbacks.Callback | list[keras.callbacks.Callback] | None = None,
        epochs: int | None = None,
    ) -> dict[str, list[float]]:
        """Train on the training split, validating on the validation split.

        ``verbose``: 0 silent, 1 a tqdm bar over all batches with the latest epoch's figures.
        With a ``run``: history.csv after every epoch, the last good model in checkpoint/,
        TensorBoard events, and at the end model.keras and config.json (:meth:`save`) and
        history.png. A NaN/inf loss stops training with TrainingDiverged.
        ``callbacks``: Keras callbacks of your own (``EarlyStopping``, say, or a list), run
        after rlgen's. ``epochs``: this call's number of epochs (default: the config's).
        """
        check_run(
            run,
            "fit()",
            "it trains on the config's data set; for arrays of your own, save them with "
            "np.savez(path, x_train=, y_train=, x_test=, y_test=) and give the config "
            "data_dir=path",
        )
        config = self._checked_config()
        epochs = config.epochs if epochs is None else check_count("epochs", epochs)
        if isinstance(callbacks, keras.callbacks.Callback):  # one, as Keras' fit takes it
            callbacks = [callbacks]
        listed = callbacks if isinstance(callbacks, (list, tuple)) else [callbacks]
        bad = [c for c in listed if not isinstance(c, keras.callbacks.Callback)]
        if callbacks is not None and bad:  # a TypeError deep in fit() before
            raise UsageError(
                "callbacks must be a keras.callbacks.Callback or a list of them, got "
                f"{type(bad[0]).__name__}"
            )
        d = self.data  # first: drawing synthetic digits may train (and seed) another model
        done = len(self.history.get("epoch", []))  # a further fit() goes on counting
        if not self._seeded:  # once: a further fit() goes on with the random streams, as
            runtime.seed_everything(self.seed)  # one longer fit would, not back to the seed
            self._seeded = True
        if self.model is None:
            self.model = self.build_model()
        if verbose and not done:  # once: a further fit() goes on under the same model
            print(self.summary_text())
        callbacks = [_EpochLog(self, run), *(callbacks or [])]
        if verbose:
            steps = math.ceil(len(d.x_train) / self.config.batch_size)
            callbacks.append(_ProgressBar(epochs, steps, first=done))
        if run is not None:
            start_run(run.path, GROUP, self.task, SAVED_FILES, SAVED_NAMES, self._meta())
            run.write_text("model_summary.txt", self.summary_text())
            callbacks.append(keras.callbacks.TensorBoard(log_dir=str(run.file("tensorboard"))))
        val = self._dataset(d.x_val, d.y_val, False) if len(d.x_val) else None
        start = time.perf_counter()
        try:
            self.model.fit(
                self._dataset(d.x_train, d.y_train, True, done),
                validation_data=val,
                initial_epoch=done,
                epochs=done + epochs,
                shuffle=False,  # the tf.data pipeline shuffles
                verbose=0,
                callbacks=callbacks,
            )
        except KeyboardInterrupt:  # Ctrl-C: the last good epoch is kept in checkpoint/
            callbacks[0].save_checkpoint()
            if run is not None and (run.file("checkpoint") / MODEL_FILE).is_file():
                raise KeyboardInterrupt(
                    f"the last finished epoch's model is {run.file('checkpoint') / MODEL_FILE}"
                ) from None
            raise
        self.seconds = time.perf_counter() - start
        diverged = callbacks[0].diverged
        if diverged:
            where = ""
            if run is not None and (run.file("checkpoint") / MODEL_FILE).is_file():
                where = f"; the last good model is in {run.file('checkpoint')}"
            elif run is not None:
                where = " (in the first epoch, so no checkpoint was written)"
            raise TrainingDiverged(
                f"the loss became {diverged} during training{where}; "
                "lower --learning-rate or change --optimizer"
            )
        if run is not None:  # a run Trainer.load reads, as the command line's are
            self.save(run.path)
            self._write_figures(run.path)
        return {k: list(v) for k, v in self.history.items()}  # a copy: a later fit() goes on

    def _write_figures(self, path: Path) -> None:
        """history.png, and the regression's fit.png, into run folder ``path``."""
        if self.history:
            names = {"accuracy": "bit accuracy"} if self._adds else None
            plots.plot_history(self.history, path / "history.png", self.title, names)
        if self.task == "regression":
            d = self.data
            plots.plot_regression_fit(
                d.x_train[:, 0], d.y_train, self._coefficients(), TRUE_COEFFICIENTS,
                path / "fit.png", self.title,
            )  # fmt: skip

    def _refresh_summary(self, path: Path) -> None:
        """A command-line run's summary.json and figures describe the model beside them:
        after a further fit() saved into the run, its test figures and plots are made again."""
        epochs = len(self.history.get("epoch", []))
        old = None if self._data is None else stale_summary(path, epochs, self.task)
        if old is None:  # none, current, or a trainer that has not trained since loading
            return
        write_json(path / SUMMARY, {**old, **self.evaluate(), "epochs": epochs})
        self._write_figures(path)

    @property
    def title(self) -> str:
        """What this model is, for a figure's title: "regression, degree 1", say."""
        c = self.config
        if self.task == "regression":
            return f"regression, degree {c.degree}"
        if self.task == "perceptron":
            layers = f"{c.hidden} hidden units" if c.hidden else "single layer"
            return f"perceptron, {c.gate.upper()} gate, {layers}"
        if self._adds:
            return f"{c.cell} RNN, {c.bits}-bit binary addition"
        if self.is_image_task:
            name = f"{c.cell} RNN" if self.task == "rnn" else self.task.upper()
            extra = " + synthetic digits" if c.augment_from else ""
            return f"{name} on {c.dataset}{extra}"
        return self.task

    @property
    def _adds(self) -> bool:
        return self.task == "rnn" and self.config.task == "addition"

    def _coefficients(self) -> list[float]:
        """The regression's fitted coefficients, from the constant up."""
        kernel, bias = self.model.get_layer("y").get_weights()
        return [float(bias[0])] + [float(w) for w in kernel[:, 0]]

    def summary_text(self) -> str:
        buf = io.StringIO()
        self.model.summary(print_fn=lambda line, *a, **k: buf.write(line + "\n"))
        return buf.getvalue()

    # ------------------------------------------------------------------ evaluation
    def evaluate(self, x: Any = None, y: Any = None) -> dict[str, Any]:
        """Test-split figures (the real test data only); or, given inputs ``x`` (as
        :meth:`predict` takes them) and their labels ``y`` (class indices, values, or the
        sums' bits as the training data holds them), the loss and accuracy on those, as
        Keras' ``model.evaluate(x, y)`` with the checks of :meth:`predict`."""
        if self.model is None:
            raise UsageError("the model is not trained yet; call fit() or load a run")
        if x is not None or y is not None:
            return self._evaluate_on(x, y)
        d = self.real_data
        here = datasets.fingerprint(d.x_test, d.y_test)
        if self.tested_on not in (None, here):  # full MNIST at home, a subset here, say
            datasets.warn(
                "this is not the test split the run was tested on when trained; give "
                "--data-dir with that data to compare like with like"
            )
        scores = self.model.evaluate(
            self._dataset(d.x_test, d.y_test, False), verbose=0, return_dict=True
        )
        out: dict[str, Any] = {f"test_{k}": float(v) for k, v in scores.items()}
        out["test_examples"] = int(len(d.x_test))
        c = self.config
        if self._adds:
            out.pop("test_accuracy", None)
            out["test_bit_accuracy"] = float(scores["accuracy"])
            out["test_exact_sum_accuracy"] = self._exact_sum_accuracy(
                self.model, d.x_test, d.y_test
            )
            if c.test_bits:
                trained = datasets.training_pairs(c.train_pairs, c.bits)
                pairs = datasets.unseen_pairs(c.test_pairs, c.test_bits, trained)
                x16, y16 = datasets.encode_addition(pairs, c.test_bits)
                long_model = self.model
                if c.unroll:
                    long_model = models.with_sequence_length(
                        self.model, c.test_bits, cell=c.cell, units=c.units, unroll=True
                    )
                out[f"exact_sum_accuracy_{c.test_bits}bit"] = self._exact_sum_accuracy(
                    long_model, x16, y16
                )
        elif self.task == "perceptron":
            p = self.model(d.x_test, training=False).numpy()[:, 0]
            out["predictions"] = {
                f"{int(a)}{int(b)}": round(float(v), 3) for (a, b), v in zip(d.x_test, p)
            }
        elif self.task == "regression":
            out["coefficients"] = self._coefficients()  # from the constant up
            out["true_coefficients"] = list(TRUE_COEFFICIENTS)
            out["fitted"] = plots.polynomial(out["coefficients"])
            out["true"] = plots.polynomial(TRUE_COEFFICIENTS)
        return out

    @staticmethod
    def _exact_sum_accuracy(model: keras.Model, x: np.ndarray, y: np.ndarray) -> float:
        probs = model(tf.constant(x), training=False).numpy()
        return float(np.mean(datasets.decode_bits(probs) == datasets.decode_bits(y)))

    def predict(self, x: Any) -> np.ndarray:
        """Model outputs (class probabilities, bit probabilities or values) for inputs ``x``:
        a batch, or one example (its outputs then still come as a batch of one). Images may
        come as (28, 28, 1), (28, 28) or 784 pixels in [0, 1], alone or N of them. The
        regression takes values of x (one, N, or a column of N), whose powers its model
        reads, or those powers themselves, (N, degree) as in its data splits."""
        x = self._inputs(x)  # first: it names a missing model
        return self.model.predict(x, verbose=0)

    def _evaluate_on(self, x: Any, y: Any) -> dict[str, Any]:
        """:meth:`evaluate` on arrays of one's own."""
        if x is None or y is None:
            raise UsageError(
                "evaluate(x, y) takes both the inputs and their labels (neither: the test split)"
            )
        xs = self._inputs(x)
        if self._loss() == "sparse_categorical_crossentropy":
            ys = datasets.digit_labels(y, "the labels", self.model.output_shape[-1])
        else:  # values, or bits: as many as the model's outputs for these inputs
            want = (
                len(xs),
                *(xs.shape[1] if s is None else s for s in self.model.output_shape[1:]),
            )
            try:
                ys = np.asarray(y, np.float32)
            except (TypeError, ValueError):
                raise UsageError(f"the labels must be numbers, not {type(y).__name__}") from None
            if ys.size != int(np.prod(want)):
                raise UsageError(
                    f"labels of shape {ys.shape} do not fit outputs of shape {want} for these "
                    "inputs"
                )
            ys = ys.reshape(want)
        if len(ys) != len(xs):
            raise UsageError(f"{len(xs)} inputs but {len(ys)} labels; give one label per input")
        scores = self.model.evaluate(
            xs, ys, batch_size=self.config.batch_size, verbose=0, return_dict=True
        )
        out: dict[str, Any] = {k: float(v) for k, v in scores.items()}
        if self._adds:
            out["bit_accuracy"] = out.pop("accuracy")
            out["exact_sum_accuracy"] = self._exact_sum_accuracy(self.model, xs, ys)
        out["examples"] = len(xs)
        return out

    def _inputs(self, x: Any) -> np.ndarray:
        """``x`` as a float32 batch of the model's input shape, checked."""
        if self.model is None:
            raise UsageError("the model is not trained yet; call fit() or load a run")
        try:
            x = np.asarray(x, dtype=np.float32)
        except (TypeError, ValueError):
            raise UsageError(f"predict takes an array of numbers, not {type(x).__name__}") from None
        shape = tuple(self.model.input_shape[1:])  # (28, 28, 1), (4,), (None, 2) ...
        if self.task == "regression" and (x.ndim < 2 or x.shape[1:] == (1,)):
            x = powers(x.reshape(-1), shape[0])  # values of x: [0, 1, 2] is three of them

        def fits(dims: tuple) -> bool:
            return len(dims) == len(shape) and all(s in (None, d) for d, s in zip(dims, shape))

        if self.is_image_task:  # the other ways an image is commonly held
            forms = {shape, shape[:2] if shape[-1] == 1 else shape, (int(np.prod(shape)),)}
            if x.shape in forms:
                x = x.reshape(1, *shape)
            elif x.ndim >= 2 and x.shape[1:] in forms:
                x = x.reshape(len(x), *shape)
        elif shape == (1,) and x.ndim == 1:  # N values for a one-input model
            x = x[:, None]
        elif fits(x.shape):
            x = x[None]
        if not fits(x.shape[1:]):
            wanted = tuple("any" if s is None else s for s in shape)
            raise UsageError(
                f"inputs of shape {x.shape} do not fit this {self.task} model: it takes "
                f"{wanted}, or a batch of them of shape (N, *{wanted})"
            )
        if not len(x):
            raise UsageError("no inputs to predict on (a batch of 0)")
        if self.is_image_task:
            x = datasets.unit_pixels(x, "the images")
            light = float(np.mean(np.median(x.reshape(len(x), -1), axis=1) > 0.5))
            # a photo's dark ink on white paper: 1 % accuracy, said nothing (digits only: a
            # fifth of Fashion-MNIST's garments, coats and pullovers, are mostly light)
            if light > 0.5 and self.config.dataset == "mnist":
                datasets.warn(
                    f"{light:.0%} of these images are mostly light, dark digits on white "
                    "paper, say; the model learnt light digits on black (as MNIST draws "
                    "them): give 1 - x, or read a photo with "
                    "rlgen.datasets.read_digit_image(path)"
                )
            return x
        if not np.isfinite(x).all():
            raise UsageError("the inputs hold NaN or inf values")
        if self.task == "rnn" and not np.isin(x, (0.0, 1.0)).all():  # the addition RNN
            raise UsageError(  # [[3, 5]] was read as one step of "bits" 3 and 5, in silence
                "the addition RNN reads the operands' bits (0 or 1), least significant "
                "first, (bits, 2) per sum; encode numbers with "
                "rlgen.datasets.encode_addition([[3, 5]], bits)[0]"
            )
        return x

    # ------------------------------------------------------------------ persistence
    def save(self, path: str | Path, extra: dict[str, Any] | None = None) -> Path:
        """Write ``model.keras``, ``config.json`` and ``history.csv`` into folder ``path``
        (atomically). Into a command-line run trained further since, its ``summary.json``
        (the test figures, re-evaluated, and the epochs) and its plots are made again."""
        if self.model is None:
            raise UsageError("the model is not trained yet; call fit() before save()")
        path = save_folder(path, GROUP, self.task, SAVED_FILES, SAVED_NAMES)
        with atomic_path(path / MODEL_FILE) as tmp:
            self.model.save(tmp)
        meta = self._meta()
        if self.model is not None and self._data is not None:  # what evaluate() tested on
            d = self.real_data
            meta["test_fingerprint"] = datasets.fingerprint(d.x_test, d.y_test)
        merge_json(path / CONFIG, {**meta, **(extra or {})})
        if self.history:  # the model's whole history: a loaded trainer goes on from it
            write_history(path / HISTORY, self.history)
        self._refresh_summary(path)
        return path

    def _meta(self) -> dict[str, Any]:
        """What config.json records of the trainer."""
        return {
            "group": GROUP,
            "task": self.task,
            "seed": self.seed,
            "config": cfgmod.to_dict(self.config),
            "versions": runtime.versions(),
        }

    @classmethod
    def load(cls, path: str | Path, data_dir: str | None = None) -> Trainer:
        """Load a trainer saved by :meth:`save` or ``rlgen supervised train``; ``data_dir``
        says where its data set is now, if it moved."""
        from rlgen.runs import open_run

        run = open_run(path, group=GROUP)
        meta = run.config
        task = meta.get("task")
        if task not in CONFIGS:
            raise UsageError(
                f"{run.path}/config.json names an unknown model {task!r}; it is corrupt"
            )
        config = cfgmod.build(CONFIGS[task], meta.get("config", {}), f"{run.path}/config.json")
        if data_dir is not None:
            try:  # another config's checks: the addition RNN reads no data files either
                config = replace(config, data_dir=data_dir)
            except (TypeError, ValueError):
                raise UsageError(
                    f"--data-dir: this {task} run reads no data files; drop it"
                ) from None
        trainer = cls(task, config, seed=int(meta.get("seed", 0)))
        trainer.tested_on = meta.get("test_fingerprint")
        trainer._used = cfgmod.to_dict(config)  # the model was made with it
        trainer.history = read_history(run.file(HISTORY))  # a further fit() goes on counting
        # Compiled afresh for evaluation: the saved optimizer state is not needed to evaluate,
        # and restoring it warns under mixed precision (the loss-scale optimizer's extra slots).
        with runtime.active().strategy.scope():
            model = trainer.model = load_model(run.file(MODEL_FILE))
            check_model_fits(model, trainer.build_model(), run.file(MODEL_FILE), run.file(CONFIG))
            if task == "iris" and "standardise" not in [layer.name for layer in model.layers]:
                model = trainer.model = _standardised(model)
                trainer.tested_on = None  # its fingerprint was of the standardised test split
            model.compile(trainer._optimizer(model), trainer._loss(), metrics=trainer._metrics())
        return trainer


def _standardised(model: keras.Model) -> keras.Model:
    """An iris model saved before models standardised their own inputs, taking cm again: it
    was trained on features standardised with all 120 training flowers' statistics."""
    flowers = datasets.load_iris().x_train
    inputs = keras.Input(shape=model.input_shape[1:], name="features")
    norm = keras.layers.Normalization(
        mean=flowers.mean(axis=0), variance=flowers.var(axis=0), name="standardise"
    )
    return keras.Model(inputs, model(norm(inputs)), name=model.name)


class _ProgressBar(keras.callbacks.Callback):
    """One tqdm bar over every batch of every epoch, showing the last epoch's figures."""

    def __init__(self, epochs: int, steps_per_epoch: int, first: int = 0) -> None:
        super().__init__()
        self.epochs, self.steps, self.first = epochs, steps_per_epoch, first
        self.bar = None
        self.epoch = 0

    def on_train_begin(self, logs: dict | None = None) -> None:
        from tqdm.auto import tqdm

        self.bar = tqdm(
            total=self.epochs * self.steps,
            unit="batch",
            mininterval=0.5,
            dynamic_ncols=True,
            desc=f"epoch {self.first + 1}",
        )

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        self.epoch = epoch
        self.bar.set_description(f"epoch {epoch + 1}/{self.first + self.epochs}")

    def on_train_batch_end(self, batch: int, logs: dict | None = None) -> None:
        self.bar.update(1)

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        shown = {k.replace("accuracy", "acc"): f"{float(v):.4g}" for k, v in (logs or {}).items()}
        self.bar.set_postfix(shown, refresh=False)
        # Keep the bar's count exact even if an epoch had fewer batches than estimated.
        self.bar.n = (epoch + 1 - self.first) * self.steps
        self.bar.refresh()

    def on_train_end(self, logs: dict | None = None) -> None:
        self.bar.close()


class _EpochLog(keras.callbacks.Callback):
    """Keeps the history, writes history.csv and the last good checkpoint, stops on NaN/inf."""

    # The checkpoint file is written after the first epoch, then at most every this many
    # seconds, and at the end (a finished, diverged or interrupted fit): the demos' hundreds
    # of millisecond epochs (perceptron, iris, regression) spent most of their time writing a
    # .keras file each. The last good epoch's weights are kept in memory meanwhile.
    CHECKPOINT_SECONDS = 10.0

    def __init__(self, trainer: Trainer, run: Run | None) -> None:
        super().__init__()
        self.trainer, self.run = trainer, run
        self.diverged: str | None = None
        self._t0 = 0.0
        self._saved_at: float | None = None
        self._good: list[np.ndarray] | None = None  # the last finite epoch's weights
        self._unsaved = False

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        self._t0 = time.perf_counter()

    def on_train_batch_end(self, batch: int, logs: dict | None = None) -> None:
        loss = float((logs or {}).get("loss", 0.0))
        if not math.isfinite(loss):
            self.diverged = "NaN" if math.isnan(loss) else "inf"
            self.model.stop_training = True

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        logs = {k: float(v) for k, v in (logs or {}).items()}
        if self.diverged or not all(math.isfinite(v) for v in logs.values()):
            self.diverged = self.diverged or "NaN"
            self.model.stop_training = True
            return
        hist = self.trainer.history
        hist.setdefault("epoch", []).append(epoch + 1)
        for k, v in logs.items():
            hist.setdefault(k, []).append(v)
        hist.setdefault("seconds", []).append(round(time.perf_counter() - self._t0, 3))
        if self.run is not None:
            write_history(self.run.file(HISTORY), hist)
            self._good, self._unsaved = self.model.get_weights(), True
            now = time.perf_counter()
            if self._saved_at is None or now - self._saved_at >= self.CHECKPOINT_SECONDS:
                self.save_checkpoint()

    def on_train_end(self, logs: dict | None = None) -> None:
        self.save_checkpoint()

    def save_checkpoint(self) -> None:
        """Write the last good epoch's model to checkpoint/ if not yet written. The model is
        first set back to those weights: after a NaN, or a Ctrl-C in the middle of an epoch,
        it holds others."""
        if self.run is None or not self._unsaved:
            return
        self.model.set_weights(self._good)
        with atomic_path(self.run.file("checkpoint") / MODEL_FILE) as tmp:
            self.model.save(tmp)
        self._saved_at, self._unsaved = time.perf_counter(), False
