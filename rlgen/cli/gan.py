"""``rlgen gan train|sample|eval``: parse, check, and call :mod:`rlgen.gan`."""

from __future__ import annotations

import argparse
import dataclasses
import time

from rlgen.cli import common
from rlgen.gan.configs import FEW_STEPS, GANConfig


def register(sub: argparse._SubParsersAction) -> None:
    group = sub.add_parser("gan", help="a DCGAN that draws labelled digits")
    cmds = group.add_subparsers(dest="command", metavar="COMMAND")
    cmds.required = True

    train = cmds.add_parser(
        "train",
        help="train a (conditional) DCGAN and write a run folder",
        description=common.described(GANConfig.__doc__),
    )
    common.add_common_flags(train)
    from rlgen import config as cfgmod

    cfgmod.add_flags(train, GANConfig)
    train.set_defaults(func=train_command)

    sample = cmds.add_parser("sample", help="draw digits from a GAN run into a .png or .npz")
    sample.add_argument("run", metavar="RUN", help="run folder written by 'rlgen gan train'")
    sample.add_argument("-n", type=int, default=64, help="how many digits (default 64)")
    sample.add_argument("--digit", type=int, help="only this digit (conditional GANs)")
    sample.add_argument("--seed", type=int, default=0, help="noise seed (default 0)")
    sample.add_argument(
        "--out",
        required=True,
        metavar="FILE",
        help="FILE.png: a grid in digit order, at most 1,000 digits; FILE.npz: x (N, 28, 28, 1) "
        "float32 in [0, 1] and y (the labels; -1 for an unconditional GAN), any N",
    )
    common.add_reading_flags(sample)
    sample.set_defaults(func=sample_command)

    ev = cmds.add_parser(
        "eval",
        help="quality figures of a GAN run (table and eval.json)",
        description="Label fidelity, Fréchet distance beside the real-data floor, KID, "
        "recall/coverage, CAS beside cas_real and a memorisation check, judged by a reference "
        "CNN trained on the real training split only (trained once, then cached in "
        "~/.cache/rlgen or $RLGEN_CACHE_DIR). Fidelity, CAS and accuracies are fractions; "
        "frechet_ratio is the distance over the floor. Writes RUN/eval.json (replacing an "
        "earlier one).",
    )
    ev.add_argument("run", metavar="RUN", help="run folder written by 'rlgen gan train'")
    ev.add_argument("-n", type=int, default=1000, help="digits compared (default 1000)")
    ev.add_argument("--seed", type=int, default=0, help="sampling seed (default 0)")
    ev.add_argument(
        "--cas",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="train a CNN on synthetic digits only (slow part; default on)",
    )
    common.add_reading_flags(ev, data_dir=True)
    ev.set_defaults(func=eval_command)


def train_command(args: argparse.Namespace) -> int:
    from rlgen import runtime
    from rlgen.runs import create_run

    cfg, rt_cfg = common.resolve(args, GANConfig)
    rt = runtime.configure(rt_cfg)
    from rlgen.gan.dcgan import GAN, grid_frames, run_meta

    gan = GAN(cfg, seed=rt_cfg.seed)
    x, y = gan.load_data()  # bad data ends here, before a run folder exists
    gan.batch_for(len(x))  # and a batch that does not split over the replicas
    task = "cdcgan" if cfg.conditional else "dcgan"
    run = create_run("gan", task, args.out)
    run.write_json(
        "config.json",
        {
            **run_meta(gan),
            "runtime": rt.describe(),
            "data": {"source": gan.data_source, "train": int(len(x))},
        },
    )
    if not rt_cfg.quiet:
        print(f"rlgen: training {task} on {len(x):,} images of {gan.data_source} -> {run.path}")
    start = time.perf_counter()
    gan.train(x, y, run=run, verbose=0 if rt_cfg.quiet else 1)  # saves the GAN into the run
    gan.plot_losses(run.file("losses.png"), len(x))
    figures = gan.history_figures()
    summary = {
        "task": task,
        **figures,
        "seconds": round(time.perf_counter() - start, 2),
        "seconds_per_epoch": round(gan.seconds / max(figures["epochs"], 1), 3),
        "generator_parameters": int(gan.generator.count_params()),
        "discriminator_parameters": int(gan.discriminator.count_params()),
        "train_examples": int(len(x)),
        "data_source": gan.data_source,
    }
    run.write_json("summary.json", summary)
    if gan.generator_steps < FEW_STEPS:  # a demo's short run: said before anyone samples it
        from rlgen.datasets import warn

        warn(
            f"this GAN trained only {gan.generator_steps:,} generator "
            f"step{'s' if gan.generator_steps != 1 else ''}; below about "
            f"{FEW_STEPS:,} it draws blurs or noise (the default trains about 9,300: 57 % of "
            "its digits had the label asked for at 1,000 steps on 500 digits); look at the "
            "last grid, and give more --epochs for usable digits"
        )
    if not rt_cfg.quiet:
        print("summary")
        common.print_figures(summary)
        grids = grid_frames(run.file("samples"))  # in epoch order: epoch_1000 after 999
        gif = run.file("progress.gif")
        if grids:
            every = f", {gif} (their progress)" if gif.is_file() else ""
            print(f"the digits: {grids[-1]} (last epoch){every}")
        print(
            f"next: rlgen gan sample {run.path} -n 64 --out digits.png, "
            f"rlgen gan eval {run.path} (quality figures)"
        )
    print(f"run written to {run.path}")
    return 0


def _load(args: argparse.Namespace):
    common.configure_reading(args)
    from rlgen.gan.dcgan import GAN

    gan = GAN.load(args.run)
    if getattr(args, "data_dir", None):  # the data set moved since training
        gan.config = dataclasses.replace(gan.config, data_dir=args.data_dir)
    return gan


def sample_command(args: argparse.Namespace) -> int:
    from rlgen.gan import sampling

    # Every check that needs no model runs first: a bad request fails before TensorFlow loads.
    sampling.check_request(args.run, args.n, args.digit, args.out, seed=args.seed)
    gan = _load(args)
    path = sampling.write_samples(gan, args.out, args.n, digits=args.digit, seed=args.seed)
    plural = "" if args.n == 1 else "s"
    what = f"digit{plural}" if args.digit is None else f"image{plural} of digit {args.digit}"
    print(f"wrote {args.n} {what} to {path}")
    return 0


def eval_command(args: argparse.Namespace) -> int:
    from rlgen.errors import UsageError, check_seed
    from rlgen.gan import sampling
    from rlgen.runs import write_json

    sampling.run_meta(args.run)
    if args.n < 10:
        raise UsageError(f"-n must be at least 10 to estimate the figures, got {args.n}")
    check_seed(args.seed)
    gan = _load(args)
    common.check_data_still_there(args, gan.config.data_dir)
    from rlgen.gan import metrics

    slow = " and training a CNN on them for CAS (about a minute on a CPU)" if args.cas else ""
    print(f"rlgen: scoring {args.n} digits against real test digits{slow}", flush=True)
    figures = metrics.evaluate(gan, n=args.n, seed=args.seed, cas=args.cas)
    print(f"gan run {args.run}: {figures['n']} digits against real test digits")
    if figures["n"] < args.n:
        print(f"note: -n {args.n} lowered to {figures['n']}: no more real digits to compare with")
    common.print_figures({k: v for k, v in figures.items() if k not in metrics.INTERNAL})
    print("what they say:")
    for line in metrics.explain(figures):
        print(f"  {line}")
    fidelity = figures.get("label_fidelity")
    if fidelity is not None and fidelity < 0.3:  # chance is 0.1
        print(
            f"note: label fidelity {100 * fidelity:.0f} % is near chance (10 %): this generator "
            "has not learnt the digits yet; train longer (the default length, or --epochs 30 on "
            "the 4,000 offline digits for a demo)"
        )
    write_json(f"{args.run}/eval.json", figures)
    print(f"figures written to {args.run}/eval.json")
    return 0
