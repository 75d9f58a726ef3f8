"""Does a conditional GAN trained on N real digits help the seed CNN trained on the same N?

For each real training size N (a stratified subset of the training split; the GAN sees only
those N digits), each GAN seed and each classifier seed, the seed CNN is trained with the same
number of SGD steps on five arms and tested on the real test digits only:

    a  real only                      b  real + geometric augmentation
    c  real + synthetic               d  real + synthetic + geometric
    u  real + synthetic from an under-trained GAN (``--control-steps``): the negative control
    r  real + held-out real + geometric: the training digits outside the N, in the synthetic
       digits' place (``--arms ...,r``; a diagnostic that peeks: what a perfect generator
       could add at most, so the ceiling of d - b)

``--synthetic-pool K`` draws K times as many synthetic digits and streams them so the
classifier sees fresh ones instead of repeating one fixed set; ``--synthetic-weight`` scales
their loss. The extra digits take their share of each batch of ``--batch-size``; with
``--on-top`` they come on top of that many real ones, as ``rlgen supervised train
--augment-from`` adds them to every epoch. ``--classifier-seeds 0`` trains (and evaluates)
the GANs only, to be reused later with ``--reuse``.

The real-only arms (a, b) do not depend on the GAN: they run once per classifier seed and pair
with every GAN seed. Every finished run (and each GAN's figures) is appended to
``OUT/study-runs.jsonl`` (or ``--ledger FILE``); with ``--reuse`` the study loads the saved
GANs and skips the runs already there, so an interrupted study resumes where it stopped, and
a GAN whose runs are all recorded is neither loaded nor trained again. The same command with
``--reuse`` started in several processes (one per core, ``--threads 1``) shares the work: each
claims a run before computing it (``OUT/locks``; a dead process's claims are taken over).
The under-trained control (arm u) runs on the first ``--control-gan-seeds`` GAN seeds only.

Prints the GAN figures per (N, GAN seed), mean ± std test accuracy per arm, and paired
differences d - b, c - a and u - a (mean ± std over the GAN × classifier seed pairs; the
paired t-test on the 5 classifier-seed means, since the real-only runs are shared by the GAN
seeds), as one JSON line (``--table`` adds a Markdown table for BENCHMARKS.md).

    python benchmarks/augmentation_study.py --quick          # smoke run, minutes
    python benchmarks/augmentation_study.py                  # the full study, hours on a CPU
    python benchmarks/augmentation_study.py --reuse --threads 1 &   # the same, shared by
    python benchmarks/augmentation_study.py --reuse --threads 1     # two processes
"""

from __future__ import annotations

import argparse
import functools
import hashlib
import json
import math
import os
import shutil
import statistics
import time
import types
from pathlib import Path

import numpy as np

from rlgen.gan.configs import SNGAN, GANConfig  # TensorFlow-free

ARMS = ("a", "b", "c", "d", "u", "r")
REAL_ONLY = ("a", "b", "r")  # arms that do not depend on the GAN
GEOMETRIC = ("b", "d", "r")  # arms whose digits are jittered
PLAIN = ("a", "b")  # arms that add no digits to the real ones
DIFFERENCES = (("d", "b"), ("c", "a"), ("u", "a"), ("r", "b"))
MAX_POOL = 60_000  # synthetic digits held in memory per classifier run (188 MB)
ARM_NAMES = {
    "a": "real",
    "b": "real + geometric",
    "c": "real + synthetic",
    "d": "real + synthetic + geometric",
    "u": "real + under-trained synthetic",
    "r": "real + held-out real + geometric",
}


def parse() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--sizes", default="500,1000,4000", help="real training sizes N")
    p.add_argument(
        "--arms",
        default="a,b,c,d,u",
        help="which arms to run, of " + ",".join(ARMS) + " (r, the held-out real oracle, peeks)",
    )
    p.add_argument("--gan-seeds", type=int, default=3)
    p.add_argument("--classifier-seeds", type=int, default=5)
    p.add_argument(
        "--gan-steps",
        type=int,
        default=0,
        help="GAN generator steps on the N digits (default: rlgen's, about 9,300 at any N)",
    )
    p.add_argument("--diffaugment", default="", help="e.g. translation,cutout (default off)")
    p.add_argument(
        "--ema",
        type=float,
        default=0.0,
        help="the GANs draw from a moving average of their generator's weights with this "
        "decay (e.g. 0.999; default off)",
    )
    p.add_argument(
        "--lecam",
        type=float,
        default=0.0,
        help="the GANs' discriminators carry the LeCam regulariser with this weight (e.g. 0.3; "
        "default off)",
    )
    p.add_argument(
        "--sngan",
        action="store_true",
        help="the GANs' discriminators take the label by projection, carry spectral norm and "
        "train with the hinge loss (Miyato et al. 2018)",
    )
    p.add_argument("--synthetic-ratio", type=float, default=1.0, help="synthetic digits per real")
    p.add_argument(
        "--min-confidence",
        type=float,
        default=0.0,
        help="keep synthetic digits that a seed CNN trained on the same N real digits gives at "
        "least this probability of their label (0 = keep all)",
    )
    p.add_argument(
        "--synthetic-pool",
        type=int,
        default=60,
        help="draw this many times the synthetic digits and stream them (1 = one fixed set)",
    )
    p.add_argument(
        "--synthetic-weight", type=float, default=1.0, help="loss weight of a synthetic digit"
    )
    p.add_argument(
        "--control-steps",
        type=int,
        default=300,
        help="generator steps of the under-trained control GAN (at N=500, 300 steps lowered "
        "accuracy 2.7 points; one epoch's noise, 7 steps, left it unchanged)",
    )
    p.add_argument(
        "--control-gan-seeds",
        type=int,
        default=1,
        help="GAN seeds whose under-trained control (arm u) is run (its spread over "
        "classifier seeds is what shows the harm; 1 saves 10 runs per N)",
    )
    p.add_argument(
        "--classifier-epochs",
        type=int,
        default=20,
        help="SGD steps as epochs over the N real digits (ignored with --classifier-steps)",
    )
    p.add_argument(
        "--classifier-steps",
        type=int,
        default=1600,
        help="the same SGD step budget at every N (0 = from --classifier-epochs); 1,600 is "
        "where real + geometric stops rising at N=500 (96.6 %% at 800, 97.1 %% at 1,600)",
    )
    p.add_argument(
        "--pretrain",
        type=float,
        default=0.0,
        help="share of the steps spent on synthetic digits alone before fine-tuning on the "
        "real ones (0 = mix them into the real stream throughout)",
    )
    p.add_argument(
        "--cosine", action="store_true", help="decay the learning rate to 0 over the steps"
    )
    p.add_argument(
        "--on-top",
        action="store_true",
        help="the extra digits join each batch on top of --batch-size real ones (as rlgen "
        "supervised train --augment-from adds them to every epoch) instead of taking their "
        "share of it: every arm then sees the same real digits at every step",
    )
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--out", default="runs/augmentation-study", help="folder for the GAN runs")
    p.add_argument(
        "--ledger",
        default="",
        help="the file of finished runs (default OUT/study-runs.jsonl); commit it to keep a "
        "long study's results across machines",
    )
    p.add_argument("--threads", type=int, default=0)
    p.add_argument("--table", action="store_true", help="also print a Markdown table")
    p.add_argument(
        "--figure",
        default="",
        help="also draw the accuracies and the paired differences to this PNG",
    )
    p.add_argument(
        "--reuse", action="store_true", help="load GANs already trained in --out instead"
    )
    p.add_argument(
        "--quick", action="store_true", help="N=500, 1 GAN seed, 2 classifier seeds, tiny budgets"
    )
    args = p.parse_args()
    asked = {a.strip() for a in args.arms.split(",") if a.strip()}
    if not asked or asked - set(ARMS):
        p.error(f"--arms takes a comma-separated subset of {','.join(ARMS)}, got {args.arms!r}")
    args.arms = tuple(a for a in ARMS if a in asked)
    if args.on_top and args.pretrain > 0:
        p.error("--on-top mixes the extra digits into every batch; --pretrain 0 to use it")
    try:  # the GAN settings, checked before any work as rlgen gan train checks them
        gan_config(args, 0)
    except ValueError as e:
        p.error(str(e))
    if args.quick:
        args.sizes, args.gan_seeds, args.classifier_seeds = "500", 1, 2
        args.gan_steps, args.classifier_epochs, args.classifier_steps = 21, 3, 0
    return args


def train_classifier(
    real,
    extra,
    x_test,
    y_test,
    steps: int,
    seed: int,
    geometric: bool,
    batch: int,
    weight=1.0,
    pretrain: float = 0.0,
    cosine: bool = False,
    on_top: bool = False,
    save_to: str | None = None,
):
    """The seed CNN trained for exactly ``steps`` SGD steps on the ``real`` (x, y) digits
    interleaved with the ``extra`` ones (None, or (x, y, share) with ``share`` extra digits per
    real, or a callable that returns them; each pool reshuffled and streamed again once used
    up); real-test accuracy. Labels are ints, or (n, 10) soft labels throughout (categorical
    cross-entropy; ``benchmarks/gan_mixup_screen.py``).

    ``pretrain`` > 0 spends that fraction of the steps on the extra digits alone first, then
    fine-tunes on the real ones alone (same optimizer, same total steps). ``cosine`` decays
    the learning rate from 1e-3 to 0 over the steps instead of holding it. ``on_top`` makes
    the interleaved batches ``batch`` × (1 + share) long, so that each step still sees
    ``batch`` real digits (on average; exactly for share 1) and the extra ones come on top of
    them instead of in their place. ``save_to`` keeps the trained model as a ``.keras`` file."""
    import keras
    import tensorflow as tf

    from rlgen import runtime
    from rlgen.supervised import models
    from rlgen.supervised.training import geometric_augmentation

    soft = np.ndim(real[1]) == 2
    runtime.seed_everything(seed)
    model = models.build_cnn()
    model.compile(
        optimizer=models.make_optimizer(
            "adam", keras.optimizers.schedules.CosineDecay(1e-3, steps) if cosine else 1e-3
        ),
        loss="categorical_crossentropy" if soft else "sparse_categorical_crossentropy",
        metrics=["accuracy"],
        jit_compile=False,
    )
    augment = geometric_augmentation(seed) if geometric else None

    def stream(x, y, w: float, offset: int):
        labels = y.astype(np.float32 if soft else np.int64)
        ds = tf.data.Dataset.from_tensor_slices(
            (x.astype(np.float32), labels, np.full(len(x), w, np.float32))
        ).cache()
        return ds.shuffle(len(x), seed=seed + offset, reshuffle_each_iteration=True).repeat()

    # No Python control flow to convert; left to AutoGraph, a second call in one process
    # warned "could not transform ... closure mismatch".
    @tf.autograph.experimental.do_not_convert
    def jitter(images, labels, weights):
        return augment(images, training=True), labels, weights

    def fit(ds, n_steps: int, size: int = batch) -> None:
        ds = ds.batch(size)
        if augment is not None:
            ds = ds.map(jitter)
        model.fit(
            ds.prefetch(tf.data.AUTOTUNE),
            steps_per_epoch=n_steps,
            epochs=1,
            shuffle=False,
            verbose=0,
        )

    if callable(extra):
        extra = extra()
    ds = stream(*real, 1.0, 0)
    if extra is not None and pretrain > 0:
        first = int(round(pretrain * steps))
        fit(stream(extra[0], extra[1], weight, 1), first)
        if steps > first:
            fit(ds, steps - first)
    else:
        size = batch
        if extra is not None:
            xs, ys, share = extra
            # a fixed pattern with exactly ``share`` extra digits per real one, in order
            period = 1000
            k = np.arange(period + 1) * share / (1 + share)
            choice = (np.floor(k[1:]) > np.floor(k[:-1])).astype(np.int64)
            ds = tf.data.Dataset.choose_from_datasets(
                [ds, stream(xs, ys, weight, 1)],
                tf.data.Dataset.from_tensor_slices(choice).repeat(),
            )
            if on_top:
                size = int(round(batch * (1 + share)))
        fit(ds, steps, size)
    _, acc = model.evaluate(x_test, y_test, batch_size=500, verbose=0)
    if save_to is not None:
        model.save(save_to)
    return float(acc)


def gan_epochs(steps: int, n: int, batch_size: int) -> int:
    """Passes over ``n`` digits that come closest to ``steps`` GAN steps (at least one)."""
    return max(1, round(steps / max(1, n // batch_size)))


def synthetic(gan, n: int, seed: int, probabilities, min_confidence: float, share: float):
    """``n`` balanced labelled digits, optionally only those ``probabilities`` (a classifier
    trained on the same N real digits: no peeking) finds confident, and their ``share``."""
    from rlgen.gan.sampling import confident_samples

    if min_confidence <= 0:
        return (*gan.sample(n, seed=seed), share)
    return (*confident_samples(gan, n, seed, probabilities, min_confidence), share)


def control_pool(control, n: int, seed: int, share: float):
    """``n`` digits from the under-trained control GAN (``control`` trains it on first call)."""
    return (*control().sample(n, seed=seed), share)


def paired(a: list[float], b: list[float]) -> dict[str, float]:
    from scipy import stats

    diff = np.array(a) - np.array(b)
    out = {"mean": float(diff.mean()), "std": float(diff.std(ddof=1)) if len(diff) > 1 else 0.0}
    if len(diff) > 1 and diff.std() > 0:
        out["p_value"] = float(stats.ttest_rel(a, b).pvalue)
    return out


def trained_gan(cfg, seed: int, x, y, epochs: int):
    from rlgen.gan.dcgan import GAN

    gan = GAN(cfg, seed=seed)
    gan.train(x, y, epochs=epochs, verbose=0)
    return gan


def gan_config(args, n: int) -> GANConfig:
    """The GAN trained on ``n`` real digits (0 = all), with the study's GAN flags."""
    return GANConfig(
        train_size=n,
        diffaugment=args.diffaugment,
        ema=args.ema,
        lecam=args.lecam,
        **(SNGAN if args.sngan else {}),
    )


def gan_recipe(args) -> dict:
    """The GAN settings that differ from rlgen's defaults: part of every key and folder name
    that depends on the GAN, so GANs trained differently never share a ledger entry."""
    recipe = {
        "gan_steps": args.gan_steps,
        "diffaugment": args.diffaugment,
        # 2: the paper's sizes (4-pixel shift, 14-pixel cutout); runs without it had 3 and 13
        "diffaugment_version": 2 if args.diffaugment else 0,
        "ema": args.ema,
        "lecam": args.lecam,
        "sngan": args.sngan,
    }
    return {k: v for k, v in recipe.items() if v}


def gan_folder(out: Path, args, n: int, g_seed: int) -> Path:
    suffix = "".join(f"-{k}{v}".replace(",", "+") for k, v in gan_recipe(args).items())
    return out / f"n{n}-seed{g_seed}{suffix}"


def figures_key(args, n: int, g_seed: int, samples: int) -> dict:
    """The ledger key of one GAN's quality figures."""
    key = {"kind": "gan", "n": n, "gan_seed": g_seed, "samples": samples}
    recipe = gan_recipe(args)
    return {**key, "gan": recipe} if recipe else key


def run_key(args, n: int, steps: int, arm: str, c_seed: int, g_seed: int) -> dict:
    """What decides one classifier run's accuracy. The real-only arms (a, b, r) do not depend
    on the GAN, so they are trained once per classifier seed and paired with every GAN seed."""
    key = {
        "kind": "classifier",
        "n": n,
        "arm": arm,
        "classifier_seed": c_seed,
        "steps": steps,
        "batch": args.batch_size,
        "cosine": args.cosine,
    }
    if arm not in PLAIN and args.on_top:
        key["on_top"] = True
    if arm == "r":
        key["ratio"] = args.synthetic_ratio
    if arm in REAL_ONLY:
        return key
    key.update(
        gan_seed=g_seed,
        ratio=args.synthetic_ratio,
        pool=args.synthetic_pool,
        weight=args.synthetic_weight,
        pretrain=args.pretrain,
    )
    recipe = gan_recipe(args)
    if recipe:
        key["gan"] = recipe
    if arm == "u":
        key["control_steps"] = args.control_steps
    else:
        key["min_confidence"] = args.min_confidence
    return key


class Ledger:
    """Finished runs, one JSON line each in ``path``, so that an interrupted study picks up
    where it stopped; and claims, one file per run being computed in the folder ``locks``
    (named after the run, holding its process id), so that several processes started with
    the same command and ``--reuse`` share the work instead of repeating it. Without ``read``
    (no ``--reuse``: the GANs are trained afresh) the old ledger is set aside as
    ``<ledger>.<time>.old`` and the claims are emptied, since their runs belong to the GANs
    being replaced (a forgotten ``--reuse`` had deleted a committed ledger)."""

    def __init__(self, path: Path, read: bool, locks: Path | None = None) -> None:
        self.path, self.locks, self.done = path, locks or path.parent / "locks", {}
        self.ran = False  # whether the last try_run computed its value here
        if not read:
            if path.is_file() and path.stat().st_size:
                aside = path.with_name(f"{path.name}.{time.strftime('%Y%m%d-%H%M%S')}.old")
                path.rename(aside)
                print(f"the old ledger is kept as {aside} (--reuse reads it instead)")
            path.unlink(missing_ok=True)
            shutil.rmtree(self.locks, ignore_errors=True)
        self.refresh()

    def refresh(self) -> None:
        """Read the runs other processes have finished since the last look."""
        if not self.path.is_file():
            return
        for line in self.path.read_text().splitlines():
            try:
                record = json.loads(line)
            except json.JSONDecodeError:  # a line cut short by an interruption
                continue
            self.done[record["key"]] = record["value"]

    @staticmethod
    def text(key: dict) -> str:
        """The ledger's spelling of ``key``."""
        return json.dumps(key, sort_keys=True)

    def get(self, key: dict):
        """The recorded value of ``key``, or None."""
        return self.done.get(self.text(key))

    def _lock(self, k: str) -> Path:
        return self.locks / (hashlib.sha1(k.encode()).hexdigest()[:20] + ".lock")

    def claimed_elsewhere(self, k: str) -> bool:
        """Whether a live process other than this one holds the claim on ``k``; a claim
        left by a process that died is removed."""
        lock = self._lock(k)
        try:
            pid = int(lock.read_text() or 0)
        except (FileNotFoundError, ValueError):
            return False
        if pid == os.getpid():
            return False
        try:
            os.kill(pid, 0)
            return True
        except ProcessLookupError:
            lock.unlink(missing_ok=True)
            return False
        except PermissionError:  # alive, someone else's
            return True

    def claim(self, k: str) -> bool:
        """Take ``k`` for this process; False when another live process holds it."""
        self.locks.mkdir(parents=True, exist_ok=True)
        for _ in range(2):
            try:
                fd = os.open(self._lock(k), os.O_CREAT | os.O_EXCL | os.O_WRONLY)
            except FileExistsError:
                if self.claimed_elsewhere(k):
                    return False
                continue  # a dead process's claim, just removed (or our own): try again
            with os.fdopen(fd, "w") as f:
                f.write(str(os.getpid()))
            return True
        return False

    def release(self, k: str) -> None:
        self._lock(k).unlink(missing_ok=True)

    def try_run(self, key: dict, run):
        """The value of ``key``: recorded, or computed now and recorded; None while another
        process computes it."""
        k = self.text(key)
        self.ran = False
        if k not in self.done:
            self.refresh()
        if k in self.done:
            return self.done[k]
        if not self.claim(k):
            return None
        try:
            value = run()
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with self.path.open("a") as f:
                f.write(json.dumps({"key": k, "value": value}) + "\n")
            self.done[k], self.ran = value, True
        finally:
            self.release(k)
        return value


class Lazy:
    """A value computed on first call only (synthetic pools and the control GAN are skipped
    when the ledger already holds every run that needs them)."""

    def __init__(self, make) -> None:
        self.make, self.value, self.made = make, None, False

    def __call__(self):
        if not self.made:
            self.value, self.made = self.make(), True
        return self.value


def spread(values: list[float]) -> dict:
    return {
        "mean": statistics.mean(values),
        "std": statistics.stdev(values) if len(values) > 1 else 0.0,
        "all": values,
    }


def paired_runs(arm: dict, base: dict) -> dict[str, float]:
    """``arm`` minus ``base`` paired by classifier seed: mean and std over every (GAN seed,
    classifier seed) pair; the paired t-test and ``seed_std`` on the means over GAN seeds per
    classifier seed, since a GAN-independent ``base`` run is shared by every GAN seed and its
    pairs are not independent."""
    pairs = [(v, base.get(k, base.get((None, k[1])))) for k, v in arm.items()]
    out = paired([p[0] for p in pairs], [p[1] for p in pairs])
    out.pop("p_value", None)
    by_seed: dict[int, list] = {}
    for (_, c_seed), (v, b) in zip(arm, pairs, strict=True):
        by_seed.setdefault(c_seed, []).append((v, b))
    means = [np.mean(by_seed[c], axis=0) for c in sorted(by_seed)]
    per_seed = paired([m[0] for m in means], [m[1] for m in means])
    out["seed_std"] = per_seed["std"]
    if "p_value" in per_seed:
        out["p_value"] = per_seed["p_value"]
    return out


def main() -> None:
    args = parse()
    start = time.perf_counter()
    from rlgen import datasets, runtime

    runtime.configure(runtime.RuntimeConfig(threads=args.threads, seed=0))
    from rlgen.gan import metrics
    from rlgen.gan.dcgan import GAN

    data = datasets.load_images("mnist")
    # trained (or loaded from the cache) only when a GAN's figures are missing, so a study
    # whose runs are all in the ledger prints its table and figure in seconds
    reference = Lazy(lambda: metrics.reference_classifier("mnist", data=data))
    out = Path(args.out)
    ledger = Ledger(
        Path(args.ledger) if args.ledger else out / "study-runs.jsonl", args.reuse, out / "locks"
    )
    samples = min(1000, len(data.x_test))
    sizes, tasks = [], []  # tasks: (size, GAN seed, classifier seed, arm, key)
    for n in (int(s) for s in args.sizes.split(",")):
        keep = datasets.subset(data.y_train, n, seed=0)
        size = types.SimpleNamespace(n=n, x=data.x_train[keep], y=data.y_train[keep])
        out_of_n = np.setdiff1d(np.arange(len(data.y_train)), keep)  # arm r's digits
        size.held_out = (data.x_train[out_of_n], data.y_train[out_of_n])
        size.steps = args.classifier_steps or args.classifier_epochs * math.ceil(
            n / args.batch_size
        )
        size.n_syn = int(round(args.synthetic_ratio * n))
        size.cfg = gan_config(args, n)
        size.pool, size.share = min(args.synthetic_pool * size.n_syn, MAX_POOL), size.n_syn / n
        size.probabilities = None
        if args.min_confidence > 0:  # the filter sees the same N real digits as everything else
            size.probabilities = Lazy(
                lambda size=size: functools.partial(
                    metrics._predict, metrics.train_reference(size.x, size.y)
                )
            )
        size.epochs = size.cfg.epochs_for(n)
        if args.gan_steps:
            size.epochs = gan_epochs(args.gan_steps, n, size.cfg.batch_size)
        sizes.append(size)
        for g_seed in range(args.gan_seeds):
            for c_seed in range(args.classifier_seeds):
                for arm in args.arms:
                    if arm == "u" and g_seed >= args.control_gan_seeds:
                        continue
                    if arm == "r" and not len(out_of_n):
                        continue  # N is the whole training split: nothing is held out
                    key = run_key(args, n, size.steps, arm, c_seed, g_seed)
                    if arm not in REAL_ONLY or g_seed == 0:
                        tasks.append((size, g_seed, c_seed, arm, key))

    gans: dict = {}  # (n, GAN seed) -> GAN, once trained here or saved by any process

    def gan(size, g_seed: int):
        """The GAN, trained here if no process has it yet; None while another trains it."""
        if (size.n, g_seed) in gans:
            return gans[size.n, g_seed]
        folder = gan_folder(out, args, size.n, g_seed)
        claim = json.dumps({"kind": "gan-training", "folder": str(folder.resolve())})
        if ledger.claimed_elsewhere(claim):
            return None
        t0, epochs = time.perf_counter(), size.epochs
        if args.reuse and (folder / "generator.keras").is_file():
            model = GAN.load(folder)
            epochs = len(model.history.get("epoch", [])) or epochs
        elif ledger.claim(claim):
            try:
                model = trained_gan(size.cfg, g_seed, size.x, size.y, size.epochs)
                model.save(folder)
            finally:
                ledger.release(claim)
        else:
            return None
        gans[size.n, g_seed] = model
        figures = ledger.try_run(
            figures_key(args, size.n, g_seed, samples),
            lambda: {
                k: v
                for k, v in metrics.evaluate(model, n=samples, reference=reference()).items()
                if k in ("label_fidelity", "frechet_distance", "frechet_floor", "cas", "cas_real")
            },
        )
        line = {"n": size.n, "seed": g_seed, "epochs": epochs}
        print(
            json.dumps({**line, "seconds": round(time.perf_counter() - t0, 1), **(figures or {})})
        )
        return model

    controls: dict = {}  # (n, GAN seed) -> Lazy under-trained control GAN
    held: dict = {}  # the last synthetic pool, (n, GAN seed, classifier seed) -> Lazy: arms c
    # and d of one seed run back to back and share it; one pool (94 MB at N = 500) at a time

    def extra(size, g_seed: int, c_seed: int, arm: str):
        """What arm ``arm`` adds to the real digits (None: nothing, False: not ready yet)."""
        if arm in PLAIN:
            return None
        if arm == "r":
            return (*size.held_out, size.share)
        model = gan(size, g_seed)
        if model is None:
            return False
        syn_seed = 1000 * g_seed + c_seed
        if arm == "u":
            control = controls.setdefault(
                (size.n, g_seed),
                Lazy(
                    functools.partial(
                        trained_gan,
                        size.cfg,
                        g_seed,
                        size.x,
                        size.y,
                        gan_epochs(args.control_steps, size.n, size.cfg.batch_size),
                    )
                ),
            )
            return Lazy(functools.partial(control_pool, control, size.pool, syn_seed, size.share))
        probabilities = size.probabilities() if size.probabilities else None
        if (size.n, g_seed, c_seed) not in held:
            held.clear()
        return held.setdefault(
            (size.n, g_seed, c_seed),
            Lazy(
                functools.partial(
                    synthetic,
                    model,
                    size.pool,
                    syn_seed,
                    probabilities,
                    args.min_confidence,
                    size.share,
                )
            ),
        )

    def needed(size, g_seed: int) -> bool:
        """Whether the GAN is to be trained or loaded: some arm asked for uses it and its
        figures or one of its runs are missing (with only real-only arms, no GAN at all; with
        ``--classifier-seeds 0``, just for its figures)."""
        if not any(
            a not in REAL_ONLY and (a != "u" or g_seed < args.control_gan_seeds) for a in args.arms
        ):
            return False
        own = [t for t in tasks if t[0] is size and t[1] == g_seed]
        keys = [figures_key(args, size.n, g_seed, samples), *(t[-1] for t in own)]
        return any(ledger.get(k) is None for k in keys)

    # every GAN first (with its figures), then the classifier runs; runs that another process
    # has claimed, or whose GAN another process is still training, are looked at again later
    for size in sizes:
        for g_seed in range(args.gan_seeds):
            if needed(size, g_seed):
                gan(size, g_seed)
    while True:
        ledger.refresh()
        todo = [t for t in tasks if ledger.get(t[-1]) is None]
        if not todo:
            break
        progressed = False
        for size, g_seed, c_seed, arm, key in todo:
            pool = extra(size, g_seed, c_seed, arm)
            if pool is False:
                continue
            run = functools.partial(
                train_classifier,
                (size.x, size.y),
                pool,
                data.x_test,
                data.y_test,
                size.steps,
                c_seed,
                arm in GEOMETRIC,
                args.batch_size,
                args.synthetic_weight,
                args.pretrain,
                args.cosine,
                args.on_top,
            )
            acc = ledger.try_run(key, run)
            progressed |= acc is not None
            if ledger.ran:
                print(json.dumps({**key, "accuracy": acc}), flush=True)
        if not progressed:
            time.sleep(15)  # the rest is claimed elsewhere or waits for a GAN trained elsewhere

    results: dict = {"benchmark": "augmentation_study", "args": vars(args), "sizes": {}}
    for size in sizes:
        figures = []
        for g_seed in range(args.gan_seeds):
            found = ledger.get(figures_key(args, size.n, g_seed, samples))
            if found is not None:
                figures.append({"seed": g_seed, **found})
        if not args.classifier_seeds:
            results["sizes"][str(size.n)] = {"gans": figures}
            continue
        runs: dict[str, dict] = {}  # arm -> {(gan seed, classifier seed): accuracy}
        for _, _, c_seed, arm, key in (t for t in tasks if t[0] is size):
            runs.setdefault(arm, {})[(key.get("gan_seed"), c_seed)] = ledger.get(key)
        results["sizes"][str(size.n)] = {
            "gans": figures,
            "classifier_steps": size.steps,
            "synthetic": size.n_syn,
            "accuracy": {arm: spread(list(v.values())) for arm, v in runs.items()},
            **{
                f"{arm}_minus_{base}": paired_runs(runs[arm], runs[base])
                for arm, base in DIFFERENCES
                if arm in runs and base in runs
            },
        }
    results["seconds"] = round(time.perf_counter() - start, 1)
    results["data_source"] = data.source
    print(json.dumps(results))
    if args.table:
        print(markdown(results))
    if args.figure:
        print(f"figure: {figure(results, args.figure)}")


def markdown(results: dict) -> str:
    arms = [a for a in ARMS if any(a in r.get("accuracy", {}) for r in results["sizes"].values())]
    diffs = [
        f"{a}_minus_{b}"
        for a, b in DIFFERENCES
        if any(f"{a}_minus_{b}" in r for r in results["sizes"].values())
    ]
    head = [
        "N",
        *(f"({a}) {ARM_NAMES[a]}" for a in arms),
        *(d.replace("_minus_", " − ") for d in diffs),
    ]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for n, r in results["sizes"].items():
        if "accuracy" not in r:
            continue
        cells = [
            f"{100 * r['accuracy'][a]['mean']:.1f} ± {100 * r['accuracy'][a]['std']:.1f}"
            if a in r["accuracy"]
            else "–"
            for a in arms
        ]
        cells += [
            f"{100 * r[d]['mean']:+.1f} ± {100 * r[d]['std']:.1f}"
            + (f" (p {r[d]['p_value']:.2g})" if "p_value" in r[d] else "")
            if d in r
            else "–"
            for d in diffs
        ]
        lines.append(f"| {n} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def figure(results: dict, path: str) -> Path:
    """Left: test accuracy of every arm at every N (each run a dot, mean ± std a bar).
    Right: the paired differences (mean ± the std of the classifier-seed means), with the
    issue's bar for d − b, twice that std, drawn as the level it would have to clear."""
    from rlgen.plots import _figure, _save

    sizes = [(n, r) for n, r in results["sizes"].items() if "accuracy" in r]
    arms = [a for a in ARMS if any(a in r["accuracy"] for _, r in sizes)]
    diffs = [(a, b) for a, b in DIFFERENCES if any(f"{a}_minus_{b}" in r for _, r in sizes)]
    colours = dict(zip(ARMS, ("#7f7f7f", "#1f77b4", "#ff7f0e", "#d62728", "#8c564b", "#2ca02c")))
    fig = _figure(figsize=(13, 4.6))
    left, right = fig.subplots(1, 2)
    width = 0.8 / max(len(arms), 1)
    for i, (_, r) in enumerate(sizes):
        for j, arm in enumerate(arms):
            if arm not in r["accuracy"]:
                continue
            x = i + (j - (len(arms) - 1) / 2) * width
            acc = r["accuracy"][arm]
            runs = 100 * np.asarray(acc["all"])
            jitter = np.linspace(-width / 4, width / 4, len(runs))
            left.scatter(x + jitter, runs, s=6, color=colours[arm], alpha=0.35, lw=0)
            left.errorbar(
                x, 100 * acc["mean"], 100 * acc["std"], fmt="o", ms=5, capsize=3,
                color=colours[arm], label=f"({arm}) {ARM_NAMES[arm]}" if i == 0 else None,
            )  # fmt: skip
    left.set_xticks(range(len(sizes)), [f"N = {n}" for n, _ in sizes])
    left.set_ylabel("test accuracy, %  (1,000 real test digits)")
    left.set_title("every arm (dots: single runs; bars: mean ± std)")
    left.grid(axis="y", alpha=0.3)
    left.legend(fontsize=7, loc="best")
    width = 0.8 / max(len(diffs), 1)
    for i, (_, r) in enumerate(sizes):
        for j, (a, b) in enumerate(diffs):
            d = r.get(f"{a}_minus_{b}")
            if d is None:
                continue
            x = i + (j - (len(diffs) - 1) / 2) * width
            std = d.get("seed_std", d["std"])
            right.errorbar(
                x, 100 * d["mean"], 100 * std, fmt="o", ms=5, capsize=3, color=colours[a],
                label=f"{a} − {b}" if i == 0 else None,
            )  # fmt: skip
            if (a, b) == ("d", "b"):
                right.hlines(
                    200 * std, x - width / 2, x + width / 2, colors=colours[a], linestyles=":",
                    label="the bar d − b must clear: 2 × its std" if i == 0 else None,
                )  # fmt: skip
    right.axhline(0, color="black", lw=0.8)
    right.set_xticks(range(len(sizes)), [f"N = {n}" for n, _ in sizes])
    right.set_ylabel("difference, accuracy points (paired by seed)")
    right.set_title("paired differences (mean ± std over classifier seeds)")
    right.grid(axis="y", alpha=0.3)
    low, high = right.get_ylim()
    right.set_ylim(low, high + 0.3 * (high - low))  # room for the legend above the bars
    right.legend(fontsize=7, loc="upper right")
    recipe = {k: v for k, v in results["args"].items() if k in ("ema", "lecam", "sngan") and v}
    title = "Do the GAN's digits help the seed CNN? " + (
        ", ".join(f"{k} {v}" for k, v in recipe.items()) or "default GAN recipe"
    )
    fig.suptitle(title)
    return _save(fig, path)


if __name__ == "__main__":
    main()
