"""Class-blended GAN digits against pixel mixup of the real ones, on top of geometric jitter.

A conditional generator whose label enters through an embedding can be given a blend of two
labels, lam * e_i + (1 - lam) * e_j (exactly what it computes for the soft label lam i +
(1 - lam) j): it draws a digit between the two classes on the handwriting manifold, labelled
with that blend (GeMix, Carlesso et al. 2025). Pixel mixup (Zhang et al. 2018) overlays two
real digits with the same soft label. This screen asks which of them adds to geometric
augmentation, and whether the GAN adds anything mixup does not. Arms, each the seed CNN
trained for the study's budget (1,600 SGD steps, batch 128, half of each batch extra digits,
geometric jitter on everything) on the N real digits of ``augmentation_study.py``:

    b   real only (the study's arm b; the same accuracy to the digit at 1 thread)
    d   + the GAN's digits with their labels (the study's arm d)
    gm  + class-blended GAN digits, soft labels
    bx  + pixel mixup of pairs of the N real digits, soft labels (no GAN)
    be  + elastic distortions of the N real digits (Simard et al. 2003, alpha 34, sigma 4;
          no GAN): does a deformation prior beyond the affine jitter add anything here?
    dk  + the GAN's digits (as d), labelled by teachers instead of the labels asked for
    bk  + the N real digits again, labelled by the teachers (distillation without the GAN)
    xk  + pixel mixup of the real digits (as bx), labelled by the teachers (no GAN)

The teachers (``--teacher-seeds``) are arm b's own models of other classifier seeds, kept
under ``--models`` when arm b runs, and their labels the mean of their softmax outputs: an
ensemble of classifiers of the same N digits, distilled into one through a transfer set
(Bucila et al. 2006; Hinton et al. 2015). Every arm still learns from the N digits only; dk
against bk and xk asks whether the GAN's digits carry the ensemble's knowledge better than
the real digits or their mixtures do.

lam ~ Beta(alpha, alpha) folded to [0.5, 1], so the first class dominates; the second class
is another digit (gm) or any training digit (bx). ``--z-scale S`` gives the generator z * S
(above 1: past the prior, more varied digits; below 1: the truncation trick), and
``--fidelity`` prints only the reference CNN's label fidelity on the GAN arms' digits.
Finished runs go to ``--ledger`` (one JSON line each) and are skipped when found there, so two
processes given different ``--classifier-seeds`` share a screen.

    python benchmarks/gan_mixup_screen.py --gan runs/augmentation-study/n500-seed0-snganTrue \\
        --arms b,d,gm,bx --classifier-seeds 0,1,2,3,4 --threads 1
"""

from __future__ import annotations

import argparse
import functools
import json
import re
import statistics
import time
from pathlib import Path

import numpy as np

ARMS = ("b", "d", "gm", "bx", "be", "dk", "bk", "xk")
GAN_ARMS = ("d", "gm", "dk")  # the arms that draw from the GAN
TAUGHT = {"dk": "d", "bk": None, "xk": "bx"}  # arm: the arm whose digits the teachers label
STEPS, BATCH, POOL_PER_REAL = 1600, 128, 60  # the augmentation study's defaults


def parse() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--gan", required=True, help="a study GAN folder (its name gives N and seed)")
    p.add_argument("--arms", default="b,d,gm,bx")
    p.add_argument("--classifier-seeds", default="0,1,2,3,4")
    p.add_argument("--alpha", type=float, default=0.4, help="Beta(alpha, alpha) for lam")
    p.add_argument(
        "--z-scale",
        type=float,
        default=1.0,
        help="the generator's noise is z * this (above 1: past the prior, more varied digits)",
    )
    p.add_argument(
        "--models",
        default="runs/screen-models",
        help="arm b's trained classifiers are kept here (nN-b-seedS.keras): the teachers",
    )
    p.add_argument(
        "--teacher-seeds",
        default="100,101,102,103,104",
        help="the arms dk, bk, xk label their digits with the mean softmax of these arm-b runs",
    )
    p.add_argument("--ledger", default="benchmarks/results/gan-mixup-screen.jsonl")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--summary", action="store_true", help="only print the ledger's figures")
    p.add_argument(
        "--fidelity",
        action="store_true",
        help="only print the reference CNN's label fidelity on the GAN arms' digits",
    )
    args = p.parse_args()
    found = re.search(r"n(\d+)-seed(\d+)", Path(args.gan).name)
    if not found:
        p.error(f"--gan must be a study GAN folder named nN-seedS..., got {args.gan!r}")
    args.n, args.gan_seed = int(found[1]), int(found[2])
    args.arms = [a for a in args.arms.split(",") if a]
    if set(args.arms) - set(ARMS):
        p.error(f"--arms takes a subset of {','.join(ARMS)}, got {args.arms}")
    args.classifier_seeds = [int(s) for s in args.classifier_seeds.split(",") if s]
    args.teacher_seeds = [int(s) for s in args.teacher_seeds.split(",") if s]
    if set(args.arms) & set(TAUGHT) and set(args.teacher_seeds) & set(args.classifier_seeds):
        p.error("--teacher-seeds and --classifier-seeds must not share a seed")
    return args


def one_hot(labels: np.ndarray) -> np.ndarray:
    return np.eye(10, dtype=np.float32)[labels]


def folded_lambda(rng: np.random.Generator, m: int, alpha: float) -> np.ndarray:
    lam = rng.beta(alpha, alpha, m).astype(np.float32)
    lam = np.maximum(lam, 1 - lam)  # the first class dominates
    # (the screen's draw order: one uniform per digit, all below 1, so every digit is blended)
    return np.where(rng.random(m) < 1.0, lam, 1.0).astype(np.float32)


def elastic(images: np.ndarray, rng: np.random.Generator, alpha=34.0, sigma=4.0) -> np.ndarray:
    """Each (28, 28, 1) image warped by its own random displacement field, smoothed by a
    Gaussian of ``sigma`` pixels and scaled by ``alpha`` (Simard et al. 2003)."""
    from scipy.ndimage import gaussian_filter, map_coordinates

    out = np.empty_like(images, dtype=np.float32)
    rows, cols = np.meshgrid(np.arange(28), np.arange(28), indexing="ij")
    for i, image in enumerate(images[..., 0]):
        dy, dx = (
            alpha * gaussian_filter(rng.uniform(-1, 1, (28, 28)), sigma, mode="constant")
            for _ in range(2)
        )
        out[i, ..., 0] = map_coordinates(image, [rows + dy, cols + dx], order=1, mode="constant")
    return out


def model_path(args, c_seed: int) -> Path:
    """Where arm b's model of classifier seed ``c_seed`` is kept (the teachers)."""
    return Path(args.models) / f"n{args.n}-b-seed{c_seed}.keras"


@functools.cache
def teachers(paths: tuple[Path, ...]) -> list:
    """The teachers' models, loaded once per process (every student run labels with them)."""
    import keras

    for path in paths:
        if not path.is_file():
            raise SystemExit(f"no teacher {path}: run --arms b with its classifier seed first")
    return [keras.saving.load_model(path) for path in paths]


def teacher_labels(args, images: np.ndarray) -> np.ndarray:
    """The mean softmax of the teachers (arm b's models of ``--teacher-seeds``) on ``images``."""
    models = teachers(tuple(model_path(args, seed) for seed in args.teacher_seeds))
    probabilities = sum(m.predict(images, batch_size=1000, verbose=0) for m in models)
    return (probabilities / len(models)).astype(np.float32)


def extra_digits(arm: str, args, x: np.ndarray, y: np.ndarray, c_seed: int):
    """The arm's extra (images, soft labels), or None for arm b."""
    if arm in TAUGHT:
        images = x if TAUGHT[arm] is None else extra_digits(TAUGHT[arm], args, x, y, c_seed)[0]
        return images, teacher_labels(args, images)
    pool = POOL_PER_REAL * args.n
    rng = np.random.default_rng(1000 * (args.gan_seed if arm in GAN_ARMS else 0) + c_seed)
    if arm == "b":
        return None
    if arm == "be":
        which = rng.integers(0, args.n, pool)
        return elastic(x[which], rng), one_hot(y[which])
    if arm == "bx":
        a, b = rng.integers(0, args.n, pool), rng.integers(0, args.n, pool)
        lam = folded_lambda(rng, pool, args.alpha)
        images = lam[:, None, None, None] * x[a] + (1 - lam[:, None, None, None]) * x[b]
        labels = lam[:, None] * one_hot(y[a]) + (1 - lam[:, None]) * one_hot(y[b])
        return images.astype(np.float32), labels.astype(np.float32)
    import keras

    from rlgen.gan.dcgan import GAN, to_unit

    gan = GAN.load(args.gan)
    g = gan.generator
    table = g.get_layer("label_embedding").embeddings.numpy()
    after_label = keras.Model(g.get_layer("z_and_label").output, g.output)  # [z, embedding]
    first = np.tile(np.arange(10), pool // 10 + 1)[:pool]
    rng.shuffle(first)
    second = (first + rng.integers(1, 10, pool)) % 10  # another class
    lam = np.ones(pool, np.float32) if arm == "d" else folded_lambda(rng, pool, args.alpha)
    z = args.z_scale * rng.standard_normal((pool, gan.config.latent_dim)).astype(np.float32)
    blend = lam[:, None] * table[first] + (1 - lam[:, None]) * table[second]
    images = np.concatenate(
        [
            to_unit(after_label(np.concatenate([z[s : s + 1000], blend[s : s + 1000]], 1)))
            for s in range(0, pool, 1000)
        ]
    )
    labels = lam[:, None] * one_hot(first) + (1 - lam[:, None]) * one_hot(second)
    return images, labels.astype(np.float32)


def accuracy(arm: str, args, data, x, y, c_seed: int) -> float:
    """The study's classifier run (its ``train_classifier``) with soft labels throughout."""
    from augmentation_study import train_classifier  # the script beside this one

    extra = extra_digits(arm, args, x, y, c_seed)
    keep = None
    if arm == "b":
        Path(args.models).mkdir(parents=True, exist_ok=True)
        keep = str(model_path(args, c_seed))
    acc = train_classifier(
        (x, one_hot(y)),
        None if extra is None else (*extra, 1.0),  # one extra digit per real: half a batch
        data.x_test,
        one_hot(data.y_test),
        STEPS,
        c_seed,
        True,  # geometric jitter on everything
        BATCH,
        save_to=keep,
    )
    return 100 * acc


def key(args, arm: str, c_seed: int) -> dict:
    k = {"n": args.n, "arm": arm, "classifier_seed": c_seed, "alpha": args.alpha}
    if arm in GAN_ARMS:
        k["gan"] = Path(args.gan).name
        if args.z_scale != 1.0:
            k["z_scale"] = args.z_scale
    if arm in TAUGHT:
        k["teachers"] = args.teacher_seeds
    return k


def ensemble_key(args) -> dict:
    """The ledger key of the teachers' ensemble (their mean softmax) on the test digits."""
    return {"n": args.n, "arm": "ensemble", "teachers": args.teacher_seeds}


def summary(args) -> None:
    """Mean per arm and each arm minus b, bx and bk, paired by classifier seed; with a taught
    arm, the accuracy of the teachers' ensemble too."""
    from scipy import stats

    rows = [json.loads(line) for line in Path(args.ledger).read_text().splitlines() if line]
    acc = {json.dumps(r["key"], sort_keys=True): r["accuracy"] for r in rows}
    ensemble = acc.get(json.dumps(ensemble_key(args), sort_keys=True))
    if set(args.arms) & set(TAUGHT) and ensemble is not None:
        print(f"ensemble of teachers {args.teacher_seeds}: {ensemble:.2f}")
    per_arm, seeds = {}, args.classifier_seeds
    for arm in args.arms:
        got = [acc.get(json.dumps(key(args, arm, c), sort_keys=True)) for c in seeds]
        per_arm[arm] = got
        shown = " / ".join("-" if a is None else f"{a:.1f}" for a in got)
        done = [a for a in got if a is not None]
        mean = f"{statistics.mean(done):.2f}" if done else "-"
        print(f"{arm:>3}: {mean} ({shown})")
    for base in ("b", "bx", "bk"):
        for arm in args.arms:
            if arm in ("b", base) or base not in per_arm:
                continue
            pairs = [(a, b) for a, b in zip(per_arm[arm], per_arm[base]) if None not in (a, b)]
            if len(pairs) < 2:
                continue
            diff = [a - b for a, b in pairs]
            p = stats.ttest_1samp(diff, 0).pvalue
            print(
                f"{arm} - {base}: {statistics.mean(diff):+.2f} ± {statistics.stdev(diff):.2f} "
                f"(p {p:.3f}, {len(diff)} seeds)"
            )


def main() -> None:
    args = parse()
    if args.summary:
        summary(args)
        return
    from rlgen import datasets, runtime

    runtime.configure(runtime.RuntimeConfig(threads=args.threads, seed=0))
    data = datasets.load_images("mnist")
    keep = datasets.subset(data.y_train, args.n, seed=0)
    x, y = data.x_train[keep], data.y_train[keep]
    if args.fidelity:
        from rlgen.gan import metrics

        reference = metrics.reference_classifier("mnist", data=data)
        for arm in (a for a in args.arms if a in GAN_ARMS and a not in TAUGHT):  # asked labels
            images, labels = extra_digits(arm, args, x, y, args.classifier_seeds[0])
            agree = reference.predict(images) == labels.argmax(1)  # gm: the dominant class
            print(
                f"{arm} (z x {args.z_scale}): label fidelity {100 * agree.mean():.1f} % "
                f"of {len(images):,} digits"
            )
        return
    ledger = Path(args.ledger)
    ledger.parent.mkdir(parents=True, exist_ok=True)
    lines = ledger.read_text().splitlines() if ledger.is_file() else []
    done = {json.dumps(json.loads(r)["key"], sort_keys=True) for r in lines if r}

    def record(k: dict, acc: float, seconds: float) -> None:
        line = {"key": k, "accuracy": round(acc, 2), "seconds": round(seconds)}
        print(json.dumps(line), flush=True)
        if json.dumps(k, sort_keys=True) not in done:  # a teacher retrained for its model
            with ledger.open("a") as f:
                f.write(json.dumps(line) + "\n")

    for c_seed in args.classifier_seeds:
        for arm in args.arms:
            k = key(args, arm, c_seed)
            wanted = (  # a teacher whose model is missing: retrained for its file
                arm == "b"
                and c_seed in args.teacher_seeds
                and not model_path(args, c_seed).is_file()
            )
            if json.dumps(k, sort_keys=True) in done and not wanted:
                continue
            t0 = time.perf_counter()
            acc = accuracy(arm, args, data, x, y, c_seed)
            record(k, acc, time.perf_counter() - t0)
    ensemble = ensemble_key(args)
    if set(args.arms) & set(TAUGHT) and json.dumps(ensemble, sort_keys=True) not in done:
        t0 = time.perf_counter()
        agree = teacher_labels(args, data.x_test).argmax(1) == data.y_test
        record(ensemble, 100 * agree.mean(), time.perf_counter() - t0)
    summary(args)


if __name__ == "__main__":
    main()
