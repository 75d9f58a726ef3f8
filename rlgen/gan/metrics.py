"""Figures that judge generated digits, all through one frozen reference classifier.

The reference is the seed CNN (:func:`rlgen.supervised.models.build_cnn`, architecture only)
trained on the **real training split only**, with a fixed seed and budget, cached on disk
under a name holding :data:`REFERENCE_VERSION` and a fingerprint of the training data, so
every figure of every run is measured by the same network. The test split it never saw is
what the figures compare against:

- label fidelity: share of conditional samples it classifies as the digit asked for;
- Fréchet distance on its 128-d ``features`` layer, beside the real-train-vs-real-test floor
  at the same N (the distance has a sample-size bias, so only same-N figures compare);
- KID (Bińkowski et al. 2018) on features standardised with real-train statistics (raw
  ReLU features are dominated by a few large units, which makes the cubic kernel
  meaningless);
- recall (Kynkäänniemi et al. 2019) and coverage (Naeem et al. 2020) for diversity, and the
  histogram of predicted classes. Precision and density are left out on purpose: in this
  feature space uniform noise scores high precision;
- CAS (Ravuri & Vinyals 2019): the same CNN trained on as many synthetic digits as the real
  training split, for the same number of SGD steps as the reference, tested on real digits;
  beside it ``cas_real``, the same for the real digits the GAN learnt from (the reference's
  own accuracy if it learnt from all of them): a GAN trained on few digits whose CAS is
  below that draws digits worth less than their source;
- memorisation: median pixel distance from each generated digit to its nearest neighbour
  among the training digits the GAN learnt from, beside the same figure for real test
  digits (much lower means copying).
"""

from __future__ import annotations

import math
import os
import sys
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import keras
import numpy as np
import tensorflow as tf

from rlgen import datasets, runtime
from rlgen.datasets import ImageData
from rlgen.errors import SEED_LIMIT, UsageError
from rlgen.runs import atomic_path, read_json, write_json
from rlgen.supervised import models

# Bump when the reference's architecture, budget or training changes: old caches are ignored.
REFERENCE_VERSION = 1
REFERENCE_EPOCHS = 5
REFERENCE_BATCH = 128
REFERENCE_LEARNING_RATE = 1e-3
REFERENCE_SEED = 0
DEFAULT_N = 1000
NEIGHBOURS = 5  # k of the k-NN balls for recall and coverage (Naeem et al. use k = 5)


def cache_dir() -> Path:
    """Where reference classifiers are cached: $RLGEN_CACHE_DIR or ~/.cache/rlgen."""
    env = os.environ.get("RLGEN_CACHE_DIR")
    return Path(env) if env else Path.home() / ".cache" / "rlgen"


@dataclass
class Reference:
    """The frozen reference classifier, its 128-d feature extractor and the data it knows."""

    model: keras.Model
    features_model: keras.Model
    data: ImageData
    info: dict[str, Any]

    def probabilities(self, x: np.ndarray) -> np.ndarray:
        return _predict(self.model, x)

    def predict(self, x: np.ndarray) -> np.ndarray:
        return self.probabilities(x).argmax(axis=1).astype(np.int64)

    def features(self, x: np.ndarray) -> np.ndarray:
        return _predict(self.features_model, x).astype(np.float64)


def _predict(model: keras.Model, x: np.ndarray, batch: int = 500) -> np.ndarray:
    out = [
        np.asarray(model(tf.constant(x[i : i + batch], tf.float32), training=False))
        for i in range(0, len(x), batch)
    ]
    return np.concatenate(out) if out else np.zeros((0,) + tuple(model.output_shape[1:]))


def train_reference(x: np.ndarray, y: np.ndarray, epochs: int = REFERENCE_EPOCHS) -> keras.Model:
    """The seed CNN trained on ``x, y`` with the reference's fixed seed and budget."""
    return _train_cnn(x, y, steps=reference_steps(len(x), epochs), seed=REFERENCE_SEED)


def reference_steps(n_train: int, epochs: int = REFERENCE_EPOCHS) -> int:
    return epochs * math.ceil(n_train / REFERENCE_BATCH)


def _train_cnn(x: np.ndarray, y: np.ndarray, steps: int, seed: int) -> keras.Model:
    """The seed CNN, in float32 under any policy: the reference is cached and shared by
    every later run, and CAS must not depend on --mixed-precision."""
    runtime.seed_everything(seed)
    with runtime.float32_policy():
        model = models.build_cnn()
    model.compile(
        optimizer=models.make_optimizer("adam", REFERENCE_LEARNING_RATE),
        loss="sparse_categorical_crossentropy",
        jit_compile=False,
    )
    ds = (
        tf.data.Dataset.from_tensor_slices((x.astype(np.float32), y.astype(np.int64)))
        .cache()
        .shuffle(len(x), seed=seed, reshuffle_each_iteration=True)
        .repeat()
        .batch(REFERENCE_BATCH)
        .prefetch(tf.data.AUTOTUNE)
    )
    model.fit(ds, steps_per_epoch=steps, epochs=1, shuffle=False, verbose=0)
    return model


def reference_classifier(
    dataset: str = "mnist",
    data_dir: str | Path | None = None,
    data: ImageData | None = None,
    epochs: int = REFERENCE_EPOCHS,
    directory: str | Path | None = None,
) -> Reference:
    """The cached reference for ``dataset`` (trained on first use, on the training split)."""
    data = data or datasets.load_images(dataset, data_dir)
    key = f"reference-{data.name}-v{REFERENCE_VERSION}-e{epochs}-"
    key += datasets.fingerprint(data.x_train, data.y_train)  # another split, another cache
    folder = Path(directory) if directory else cache_dir()
    path, info_path = folder / f"{key}.keras", folder / f"{key}.json"
    model = None
    if path.is_file() and info_path.is_file():
        try:
            model = keras.models.load_model(path, compile=False)
            info = read_json(info_path, "reference info")
        except Exception:  # a corrupt cache is rebuilt, never trusted
            model = None
    if model is None:
        print(  # about 20 s on 4,000 digits, once: said, not silent
            f"rlgen: training the reference classifier on {len(data.y_train):,} digits (once; "
            f"later runs read it from {folder})",
            file=sys.stderr,
            flush=True,
        )
        model = train_reference(data.x_train, data.y_train, epochs)
        accuracy = float(np.mean(_predict(model, data.x_test).argmax(1) == data.y_test))
        info = {
            "version": REFERENCE_VERSION,
            "dataset": data.name,
            "source": data.source,
            "train_examples": int(len(data.x_train)),
            "epochs": epochs,
            "steps": reference_steps(len(data.x_train), epochs),
            "test_accuracy": accuracy,
            "file": str(path),
        }
        try:
            with atomic_path(path) as tmp:
                model.save(tmp)
            write_json(info_path, info)
        except OSError:  # a read-only cache only costs retraining next time
            pass
    features = keras.Model(model.inputs, model.get_layer("features").output)
    return Reference(model, features, data, info)


# ----------------------------------------------------------------------------- statistics


def _two_each(a: np.ndarray, b: np.ndarray) -> None:
    if min(len(a), len(b)) < 2:
        raise UsageError(
            f"a distance between two sets needs at least 2 points in each, got {len(a)} and "
            f"{len(b)}"
        )


def frechet_distance(a: np.ndarray, b: np.ndarray) -> float:
    """Fréchet distance between Gaussians fitted to feature sets ``a`` and ``b`` (N, D)."""
    from scipy import linalg

    _two_each(a, b)

    mu_a, mu_b = a.mean(axis=0), b.mean(axis=0)
    cov_a, cov_b = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    with warnings.catch_warnings():  # collapsed samples give a singular covariance
        warnings.simplefilter("ignore")
        covmean = linalg.sqrtm(cov_a @ cov_b)
    if not np.isfinite(covmean).all():  # near-singular product: regularise (as in TTUR's FID)
        eps = np.eye(len(cov_a)) * 1e-6
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            covmean = linalg.sqrtm((cov_a + eps) @ (cov_b + eps))
    covmean = np.real(covmean)
    diff = mu_a - mu_b
    return float(max(diff @ diff + np.trace(cov_a) + np.trace(cov_b) - 2 * np.trace(covmean), 0))


def kernel_inception_distance(a: np.ndarray, b: np.ndarray) -> float:
    """Unbiased MMD² with the cubic kernel (x·y / d + 1)³ (Bińkowski et al. 2018).

    Give standardised features: see :func:`standardise`."""
    _two_each(a, b)
    d = a.shape[1]
    kaa = (a @ a.T / d + 1) ** 3
    kbb = (b @ b.T / d + 1) ** 3
    kab = (a @ b.T / d + 1) ** 3
    m, n = len(a), len(b)
    return float(
        (kaa.sum() - np.trace(kaa)) / (m * (m - 1))
        + (kbb.sum() - np.trace(kbb)) / (n * (n - 1))
        - 2 * kab.mean()
    )


def standardise(features: np.ndarray, mean: np.ndarray, std: np.ndarray) -> np.ndarray:
    return (features - mean) / np.where(std > 1e-8, std, 1.0)


def _pairwise(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    sq = (a * a).sum(1)[:, None] + (b * b).sum(1)[None, :] - 2 * a @ b.T
    return np.sqrt(np.maximum(sq, 0.0))


def _knn_radius(x: np.ndarray, k: int) -> np.ndarray:
    d = _pairwise(x, x)
    return np.sort(d, axis=1)[:, k]  # column 0 is the point itself


def recall_coverage(real: np.ndarray, fake: np.ndarray, k: int = NEIGHBOURS) -> dict[str, float]:
    """Recall: share of real points inside some fake point's k-NN ball (Kynkäänniemi 2019).
    Coverage: share of real points whose own k-NN ball holds a fake point (Naeem 2020)."""
    if min(len(real), len(fake)) <= k:
        raise UsageError(
            f"recall and coverage with k = {k} neighbours need more than {k} points on each "
            f"side, got {len(real)} and {len(fake)}"
        )
    d = _pairwise(real, fake)
    recall = float(np.mean((d <= _knn_radius(fake, k)[None, :]).any(axis=1)))
    coverage = float(np.mean(d.min(axis=1) <= _knn_radius(real, k)))
    return {"recall": recall, "coverage": coverage}


def nearest_distance(x: np.ndarray, pool: np.ndarray, batch: int = 500) -> np.ndarray:
    """Euclidean pixel distance from each image of ``x`` to its nearest image in ``pool``."""
    a, b = x.reshape(len(x), -1).astype(np.float32), pool.reshape(len(pool), -1)
    b = b.astype(np.float32)
    out = []
    for i in range(0, len(a), batch):
        chunk = a[i : i + batch]
        # the expanded form finds the neighbour fast but loses digits to cancellation (an
        # exact copy came out 0.003 on one CPU): measure the distance to it directly
        j = _pairwise(chunk, b).argmin(axis=1)
        out.append(np.linalg.norm(chunk - b[j], axis=1))
    return np.concatenate(out)


def class_histogram(labels: np.ndarray, num_classes: int = 10) -> list[int]:
    return np.bincount(np.asarray(labels, np.int64), minlength=num_classes).tolist()


def classifier_accuracy_score(
    x_syn: np.ndarray, y_syn: np.ndarray, x_test: np.ndarray, y_test: np.ndarray, steps: int
) -> float:
    """CAS: the seed CNN trained on synthetic digits only for ``steps`` steps, tested on real."""
    model = _train_cnn(x_syn, y_syn, steps=steps, seed=REFERENCE_SEED)
    return float(np.mean(_predict(model, x_test).argmax(1) == y_test))


def real_digits_score(gan: Any, reference: Reference) -> float:
    """CAS of the real digits ``gan`` learnt from (the training split, or the ``train_size``
    subset its config names): the same CNN, budget and test, trained on them instead.
    Synthetic digits that score below it teach less than their source; on the whole training
    split it is the reference itself."""
    d = reference.data
    keep = gan.training_indices(d.y_train)
    if len(keep) == len(d.y_train):
        return float(reference.info["test_accuracy"])
    steps = int(reference.info["steps"])
    return classifier_accuracy_score(d.x_train[keep], d.y_train[keep], d.x_test, d.y_test, steps)


# ----------------------------------------------------------------------------- the figures


def _enough(n: int) -> int:
    if n < 10:
        raise UsageError(f"need at least 10 images to compare, got {n}; raise -n")
    return int(n)


def _generated(x: Any, y: Any) -> tuple[np.ndarray, np.ndarray | None]:
    """Generated images as (N, 28, 28, 1) float32 in [0, 1] and their labels as N digits,
    checked: images in another range had scored *better* (recall 1.0 for 0-255 pixels)."""
    x = np.asarray(x, np.float32)
    if x.ndim == 3 and x.shape[1:] == datasets.IMAGE_SHAPE[:2]:
        x = x[..., None]  # (N, 28, 28): the channel axis added
    if x.ndim != 4 or x.shape[1:] != datasets.IMAGE_SHAPE:
        raise UsageError(
            f"generated images have shape {x.shape}; give (N, 28, 28, 1) images in [0, 1]"
        )
    x = datasets.unit_pixels(x, "generated images")
    if y is None:
        return x, None
    y = datasets.digit_labels(y, "labels")
    if len(y) != len(x):
        raise UsageError(f"{len(x)} generated images but {len(y)} labels; give one per image")
    return x, y


def compare(
    x_gen: np.ndarray,
    y_gen: np.ndarray | None,
    reference: Reference,
    n: int = DEFAULT_N,
    seed: int = 0,
    learnt_from: np.ndarray | None = None,
) -> dict[str, Any]:
    """Every figure except CAS for generated images ``x_gen`` (and the labels asked for).

    N = min(n, len(x_gen), test size, train size); the floors use real train vs real test
    at the same N, drawn with ``seed``. The memorisation check measures distances to the
    training digits the generator learnt from (indices ``learnt_from``; default all): against
    a larger pool, near-copies of a small training set would look less suspicious."""
    x_gen, y_gen = _generated(x_gen, y_gen)
    d = reference.data
    n = _enough(min(n, len(x_gen), len(d.x_test), len(d.x_train)))
    rng = np.random.default_rng(seed)
    test_idx = np.sort(rng.choice(len(d.x_test), n, replace=False))
    train_idx = np.sort(rng.choice(len(d.x_train), n, replace=False))
    gen_idx = np.sort(rng.choice(len(x_gen), n, replace=False))
    x_gen = np.asarray(x_gen, np.float32)[gen_idx]
    f_test = reference.features(d.x_test[test_idx])
    f_train = reference.features(d.x_train[train_idx])
    f_gen = reference.features(x_gen)
    mean, std = f_train.mean(axis=0), f_train.std(axis=0)
    s_test, s_train, s_gen = (standardise(f, mean, std) for f in (f_test, f_train, f_gen))
    pred = reference.predict(x_gen)
    fd, floor = frechet_distance(f_gen, f_test), frechet_distance(f_train, f_test)
    out: dict[str, Any] = {"n": n}
    if y_gen is not None:
        out["label_fidelity"] = float(np.mean(pred == np.asarray(y_gen)[gen_idx]))
    out.update(
        {
            "frechet_distance": fd,
            "frechet_floor": floor,
            "frechet_ratio": fd / max(floor, 1e-12),
            "kid": kernel_inception_distance(s_gen, s_test),
            "kid_floor": kernel_inception_distance(s_train, s_test),
        }
    )
    rc_gen, rc_real = recall_coverage(s_test, s_gen), recall_coverage(s_test, s_train)
    out.update({"recall": rc_gen["recall"], "recall_floor": rc_real["recall"]})
    out.update({"coverage": rc_gen["coverage"], "coverage_floor": rc_real["coverage"]})
    pool = d.x_train if learnt_from is None else d.x_train[learnt_from]
    gen_nn = np.median(nearest_distance(x_gen, pool))
    test_nn = np.median(nearest_distance(d.x_test[test_idx], pool))
    out["memorisation_median_generated"] = float(gen_nn)
    out["memorisation_median_real_test"] = float(test_nn)
    out["memorisation_ratio"] = float(gen_nn / max(test_nn, 1e-12))
    out["predicted_class_histogram"] = class_histogram(pred)
    return out


GOOD_FIDELITY, GOOD_CAS, GOOD_FRECHET_RATIO = 0.90, 0.90, 3.0  # the quality bars
# Beside them, from BENCHMARKS.md's GANs: good ones had KID <= 0.0013 and recall and coverage
# at 0.92-0.97 of the real digits'; a 30-epoch one KID 0.043 and 0.56-0.61 of them.
GOOD_KID, GOOD_VARIETY = 0.01, 0.8  # KID at most; recall and coverage over the real ones'
COPIES = 0.8  # a memorisation ratio below it: samples closer to training digits than new ones
INTERNAL = ("cas_steps", "reference_version", "data_source")  # in eval.json, not figures


def explain(figures: dict[str, Any]) -> list[str]:
    """What :func:`evaluate`'s figures say, one line each, with the real-data figure or the
    target beside them: the table ``rlgen gan eval`` prints under the numbers."""
    f, lines = figures, []
    if "label_fidelity" in f:
        lf = f["label_fidelity"]
        verdict = "good" if lf >= GOOD_FIDELITY else "below the 90 % of a good GAN"
        lines.append(
            f"label fidelity {100 * lf:.1f} %: the share of digits the reference CNN reads as "
            f"the digit asked for (chance 10 %; {verdict})"
        )
    ratio = f["frechet_ratio"]
    verdict = "good" if ratio <= GOOD_FRECHET_RATIO else "a good GAN is within 3x"
    lines.append(
        f"Fréchet distance {f['frechet_distance']:.2f} is {ratio:.2f}x the floor "
        f"{f['frechet_floor']:.2f} (real training digits against the same real test digits): "
        f"lower is better ({verdict})"
    )
    verdict = "good" if f["kid"] <= GOOD_KID else f"a good GAN is below {GOOD_KID}"
    lines.append(
        f"KID {f['kid']:.4f}, floor {f['kid_floor']:.4f}: 0 means indistinguishable from real "
        f"digits (an unbiased estimate, so it can dip below 0); lower is better ({verdict})"
    )
    varied = min(
        f["recall"] / max(f["recall_floor"], 1e-9), f["coverage"] / max(f["coverage_floor"], 1e-9)
    )
    verdict = "good" if varied >= GOOD_VARIETY else "short of the real digits' variety"
    lines.append(
        f"recall {f['recall']:.2f} and coverage {f['coverage']:.2f} (real digits: "
        f"{f['recall_floor']:.2f} and {f['coverage_floor']:.2f}): how much of the real digits' "
        f"variety the samples reach; higher is better ({verdict})"
    )
    if "cas" in f:
        verdict = "good" if f["cas"] >= GOOD_CAS else "below the 90 % of a good GAN"
        lines.append(
            f"CAS {100 * f['cas']:.1f} %: a CNN trained on these digits alone, tested on real "
            f"ones ({verdict}); the same CNN trained on the real digits the GAN learnt from: "
            f"{100 * f['cas_real']:.1f} %"
        )
    verdict = (
        "new digits, not copies"
        if f["memorisation_ratio"] >= COPIES
        else "closer to the training digits than new ones are: look for copies"
    )
    lines.append(
        f"memorisation ratio {f['memorisation_ratio']:.2f}: the samples' distance to their "
        "nearest training digit over that of unseen real digits; about 1 for new digits, well "
        f"below 1 for copies ({verdict})"
    )
    hist = f["predicted_class_histogram"]
    top = int(np.argmax(hist))
    if hist[top] > 0.5 * sum(hist):
        lines.append(
            f"{100 * hist[top] / sum(hist):.0f} % of the digits read as {top}: the generator "
            "draws one kind of digit (mode collapse, or not trained long enough)"
        )
    return lines


def evaluate(
    gan: Any,
    n: int = DEFAULT_N,
    seed: int = 0,
    cas: bool = True,
    reference: Reference | None = None,
) -> dict[str, Any]:
    """The quality figures of a trained :class:`rlgen.gan.dcgan.GAN`, or of the GAN saved in
    folder ``gan`` (see the module doc)."""
    from rlgen.gan.dcgan import as_gan

    _enough(n)  # before the reference classifier is trained
    gan = as_gan(gan, "evaluate()")
    reference = reference or reference_classifier(gan.config.dataset, gan.config.data_dir)
    d = reference.data
    n = int(min(n, len(d.x_test), len(d.x_train)))  # the floor needs as many real digits
    learnt = gan.training_indices(d.y_train)
    if not gan.config.learnt_as_named(gan.trained_on, d.x_train, d.y_train):
        datasets.warn(
            "this GAN was trained on other images than the training digits its config names "
            "(from Python, say): the memorisation check and cas_real measure against those "
            "digits, not the ones it learnt from"
        )
    x_gen, y_gen = gan.sample(n, seed=seed)
    out = compare(x_gen, y_gen, reference, n=n, seed=seed, learnt_from=learnt)
    if cas and gan.conditional:
        steps = int(reference.info["steps"])
        x_syn, y_syn = gan.sample(len(d.x_train), seed=(seed + 1) % SEED_LIMIT)
        out["cas"] = classifier_accuracy_score(x_syn, y_syn, d.x_test, d.y_test, steps)
        out["cas_real"] = real_digits_score(gan, reference)
        out["cas_steps"] = steps
    out["reference_test_accuracy"] = float(reference.info["test_accuracy"])
    out["reference_version"] = REFERENCE_VERSION
    out["data_source"] = d.source
    return out
