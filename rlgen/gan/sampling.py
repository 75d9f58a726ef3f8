"""Labelled synthetic digits from a GAN run: the one door other groups use to read a GAN.

``sample_labelled`` is what ``rlgen supervised train --augment-from RUN --synthetic N`` calls;
``image_shape`` and ``check_request`` read only config.json, so every bad request fails in
a fraction of a second, before TensorFlow starts. ``write_samples`` streams any number of
digits into an ``.npz`` in chunks, so memory never limits ``-n``.
"""

from __future__ import annotations

import os
import shutil
import zipfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from rlgen.datasets import IMAGE_SHAPE
from rlgen.errors import SEED_LIMIT, UsageError, check_count, check_seed, option
from rlgen.runs import atomic_path, open_run, read_json

GROUP = "gan"
GENERATOR_FILE = "generator.keras"
OUTPUT_SUFFIXES = (".png", ".npz")
MAX_PNG = 1000  # a grid of more digits is unreadable; an .npz takes any number


def run_meta(run_path: str | Path) -> dict[str, Any]:
    """config.json of a GAN run, or UsageError naming what is wrong (no TensorFlow)."""
    run = open_run(run_path, group=GROUP)
    meta = run.config
    if not isinstance(meta.get("config"), dict) or "conditional" not in meta:
        raise UsageError(
            f"{run.path}/config.json is corrupt (no GAN config); give a run written by "
            "'rlgen gan train'"
        )
    if not run.file(GENERATOR_FILE).is_file():
        raise UsageError(
            f"{run.path} has no {GENERATOR_FILE} (was training cut short?); use a finished run, "
            "or copy checkpoint/generator.keras and checkpoint/discriminator.keras there"
        )
    return meta


def image_shape(run_path: str | Path) -> tuple[int, ...]:
    """The (H, W, C) shape of the images a GAN run draws, read from its config.json."""
    shape = run_meta(run_path).get("image_shape")
    if not isinstance(shape, list) or len(shape) != 3:
        raise UsageError(f"{run_path}/config.json has no valid image_shape; it is corrupt")
    return tuple(int(s) for s in shape)


def generator_steps(run_path: str | Path, meta: dict[str, Any] | None = None) -> int | None:
    """How many generator steps a GAN run took (config.json's count, or for runs written
    before it kept one, summary.json's epochs times the full batches per epoch), or None
    when it does not say. ``meta``: its config.json, if already read."""
    meta = run_meta(run_path) if meta is None else meta
    counted = meta.get("generator_steps")
    if isinstance(counted, int) and not isinstance(counted, bool):
        return counted
    summary_file = Path(run_path) / "summary.json"
    if not summary_file.is_file():
        return None
    try:  # a summary that cannot be read only loses the count, not the run
        summary = read_json(summary_file, what="GAN summary")
        batch = meta["config"].get("batch_size")
        return int(summary["epochs"]) * max(int(summary["train_examples"]) // int(batch), 1)
    except (UsageError, KeyError, TypeError, ValueError):
        return None


def is_conditional(run_path: str | Path) -> bool:
    return bool(run_meta(run_path)["conditional"])


def check_request(
    run_path: str | Path,
    n: int,
    digits: int | Sequence[int] | None = None,
    out: str | Path | None = None,
    labels_needed: bool = False,
    seed: int = 0,
) -> dict[str, Any]:
    """Every check of a sampling request that needs no model: run, -n, --digit, --seed and
    the output path."""
    meta = run_meta(run_path)
    if not isinstance(n, (int, np.integer)) or isinstance(n, bool) or n <= 0:
        raise UsageError(f"-n must be a whole number > 0, got {n!r}")
    check_labels_asked(bool(meta["conditional"]), str(run_path), digits, labels_needed, seed)
    if out is not None:
        check_output(out, n, tuple(meta.get("image_shape", IMAGE_SHAPE)))
    return meta


def check_labels_asked(
    conditional: bool, gan: str, digits: Any, labels_needed: bool, seed: Any
) -> None:
    """The checks of a request to GAN ``gan`` (a run folder, or "this one") that need no
    model: the seed, labels from a GAN that has them, and the digits asked for."""
    check_seed(seed)
    if labels_needed and not conditional:
        raise UsageError(
            f"{gan} is an unconditional GAN, so its digits have no labels; "
            "train one without --unconditional to augment a classifier"
        )
    if digits is not None:
        check_digits(digits, conditional, gan)


def check_digits(digits: Any, conditional: bool = True, gan: str = "this one") -> None:
    """Raise UsageError unless ``digits`` (one or several) can be asked of a GAN: one that
    was trained with labels, and every digit a whole number in 0-9."""
    digit = option("--digit", "digits")
    if not conditional:
        raise UsageError(
            f"{digit} needs a conditional GAN, but {gan} was trained --unconditional; "
            f"drop {digit} or train without --unconditional"
        )
    arr = np.atleast_1d(np.asarray(digits))
    if arr.size == 0 or not np.issubdtype(arr.dtype, np.integer) or arr.min() < 0 or arr.max() > 9:
        raise UsageError(f"{digit} must be an integer from 0 to 9, got {digits!r}")


def _size(n: int) -> str:
    """Bytes as GB, or MB below 0.1 GB ("0.0 GB but 0.0 GB free" said nothing)."""
    return f"{n / 1e9:.1f} GB" if n >= 1e8 else f"{n / 1e6:.1f} MB"


def check_output(out: str | Path, n: int, shape: tuple[int, ...] = IMAGE_SHAPE) -> Path:
    """The output path is a .png or .npz in an existing folder, with room for ``n`` digits."""
    out = Path(out)
    named = option(f"--out {out}", f"{str(out)!r}")  # "--out out.jpg" read "out out.jpg"
    if out.suffix.lower() not in OUTPUT_SUFFIXES:
        raise UsageError(f"{named} must end in .png (a grid) or .npz (arrays x and y)")
    if not out.parent.is_dir():
        what = "is a file, not a folder" if out.parent.exists() else "does not exist"
        raise UsageError(f"{named}: {out.parent} {what}; create the folder or pick another")
    if not os.access(out.parent, os.W_OK):
        raise UsageError(f"{named}: folder {out.parent} is not writable; pick another")
    if out.is_dir():
        raise UsageError(f"{named} is a folder; give a file name ending in .png or .npz")
    if out.suffix.lower() == ".png" and n > MAX_PNG:
        raise UsageError(
            f"-n {n} is too many for a PNG grid (at most {MAX_PNG}); write an .npz instead"
        )
    if out.suffix.lower() == ".npz":
        need = n * (int(np.prod(shape)) * 4 + 8)
        free = shutil.disk_usage(out.parent).free
        if need > free:
            raise UsageError(
                f"-n {n} digits need {_size(need)} but {out.parent} has "
                f"{_size(free)} free; ask for fewer or write elsewhere"
            )
    return out


def sample_labelled(
    run_path: Any,
    n: int,
    seed: int = 0,
    digits: int | Sequence[int] | None = None,
    min_confidence: float = 0.0,
) -> tuple[np.ndarray, np.ndarray]:
    """``n`` labelled digits from a conditional GAN run (its folder, or a GAN): x float32
    (n, 28, 28, 1) in [0, 1] and y int64 (n,), balanced over ``digits`` (default 0-9); the
    same seed, the same digits.

    ``min_confidence`` > 0 keeps only digits that the run's reference classifier (the seed
    CNN trained on the training split of the GAN's data set, see :mod:`rlgen.gan.metrics`)
    gives at least that probability of their label.

    Raises UsageError for a folder that is not a GAN run, a corrupt model, or an
    unconditional GAN (its digits have no labels)."""
    from rlgen.gan.dcgan import GAN, as_gan

    if isinstance(run_path, GAN):  # a GAN in hand, not saved: its checks before any work
        gan = run_path
        check_count("-n", n)
        check_labels_asked(gan.conditional, "this one", digits, True, seed)
    else:
        check_request(run_path, n, digits, labels_needed=True, seed=seed)
        gan = as_gan(run_path, "sample_labelled()")
    if min_confidence <= 0:
        return gan.sample(n, digits=digits, seed=seed)
    from rlgen.gan import metrics

    cfg = gan.config
    reference = metrics.reference_classifier(cfg.dataset, cfg.data_dir)
    return confident_samples(gan, n, seed, reference.probabilities, min_confidence, digits)


def confident_samples(
    gan: Any,
    n: int,
    seed: int,
    probabilities: Any,
    min_confidence: float,
    digits: int | Sequence[int] | None = None,
    max_rounds: int = 20,
) -> tuple[np.ndarray, np.ndarray]:
    """``n`` labelled digits, balanced over ``digits``, each given probability >=
    ``min_confidence`` of its own label by ``probabilities`` (images -> (n, 10) array).

    Draws batches of 2n with seeds derived from ``seed`` until every digit has its share;
    a GAN whose digits rarely pass gets a UsageError naming the pass rate, not a long wait.
    """
    pool = np.arange(10) if digits is None else np.atleast_1d(digits).astype(np.int64)
    share = {int(d): n // len(pool) + (1 if i < n % len(pool) else 0) for i, d in enumerate(pool)}
    kept: dict[int, list[np.ndarray]] = {d: [] for d in share}
    have = dict.fromkeys(share, 0)
    drawn = passed = 0
    for r in range(max_rounds):
        x, y = gan.sample(2 * n, digits=pool, seed=(seed * max_rounds + r) % SEED_LIMIT)
        p = probabilities(x)[np.arange(len(y)), y]
        ok = p >= min_confidence
        drawn, passed = drawn + len(y), passed + int(ok.sum())
        for d in share:
            need = share[d] - have[d]
            if need > 0:
                idx = np.flatnonzero(ok & (y == d))[:need]
                kept[d].append(x[idx])
                have[d] += len(idx)
        if all(have[d] >= share[d] for d in share):
            xs = np.concatenate([np.concatenate(kept[d]) for d in share if share[d]])
            ys = np.concatenate([np.full(share[d], d, np.int64) for d in share if share[d]])
            order = np.random.default_rng(seed).permutation(n)
            return xs[order].astype(np.float32), ys[order]
    short = [d for d in share if have[d] < share[d]]
    raise UsageError(
        f"only {100 * passed / max(drawn, 1):.1f}% of the GAN's digits reach confidence "
        f"{min_confidence} (too few for digit {short[0]} after {drawn} draws); "
        "lower --min-confidence or train the GAN longer"
    )


def write_samples(
    gan: Any,
    out: str | Path,
    n: int,
    digits: int | Sequence[int] | None = None,
    seed: int = 0,
) -> Path:
    """Write ``n`` samples of ``gan`` (a GAN, or the folder of a saved one) to ``out``: a PNG
    grid, or an .npz with ``x`` (n, 28, 28, 1) float32 in [0, 1] and ``y`` int64 (-1 for an
    unconditional GAN), streamed in chunks."""
    from rlgen.gan.dcgan import as_gan

    out = check_output(out, n)
    gan = as_gan(gan, "write_samples()")
    if out.suffix.lower() == ".png":
        from rlgen import plots

        x, y = gan.sample(n, digits=digits, seed=seed)
        if y is None:
            return plots.plot_digit_grid(x, out, ncols=min(10, n))
        x, labels, ncols = rows_per_digit(x, y)
        return plots.plot_digit_grid(x, out, ncols=ncols, labels=labels)
    return _write_npz_stream(gan, out, n, digits, seed)


def rows_per_digit(x: np.ndarray, y: np.ndarray, width: int = 10) -> tuple[np.ndarray, list, int]:
    """(images, labels, columns) of a grid in which no row mixes digits: each digit's
    samples, in the order drawn, fill rows of up to ``width`` (as many columns as the most
    frequent digit has samples, up to ``width``), blank cells padding the rest. ``-n 64``
    made rows of "0 0 0 0 0 0 0 1 1 1"."""
    digits, counts = np.unique(y, return_counts=True)
    ncols = int(min(width, counts.max()))
    blank = np.zeros_like(x[:1])
    images, labels = [], []
    for d in digits:
        mine = x[y == d]
        pad = -len(mine) % ncols
        images += [mine, np.repeat(blank, pad, axis=0)]
        labels += [str(d)] * len(mine) + [""] * pad
    return np.concatenate(images), labels, ncols


def _write_npz_stream(gan: Any, out: Path, n: int, digits: Any, seed: int) -> Path:
    from numpy.lib import format as npformat

    shape = (n, 28, 28, 1)
    with atomic_path(out) as tmp, zipfile.ZipFile(tmp, "w", zipfile.ZIP_STORED) as zf:
        labels = []
        with zf.open("x.npy", "w", force_zip64=True) as fh:
            header = {"descr": "<f4", "fortran_order": False, "shape": shape}
            npformat.write_array_header_2_0(fh, header)
            for x, y in gan.iter_samples(n, digits, seed):
                fh.write(np.ascontiguousarray(x, "<f4").tobytes())
                labels.append(np.full(len(x), -1, np.int64) if y is None else y)
        y_all = np.concatenate(labels).astype("<i8")  # 8 bytes a digit: fits where x did
        with zf.open("y.npy", "w", force_zip64=True) as fh:
            npformat.write_array(fh, y_all, allow_pickle=False)
    return out
