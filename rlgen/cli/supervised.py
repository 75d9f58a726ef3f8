"""``rlgen supervised train|eval|predict``."""

from __future__ import annotations

import argparse
import time
from typing import Any

from rlgen.cli import common
from rlgen.supervised.configs import CONFIGS, DESCRIPTIONS, RNN_PRESETS


def register(sub: argparse._SubParsersAction) -> None:
    group = sub.add_parser("supervised", help="Keras classifiers and regressors of the course")
    cmds = group.add_subparsers(dest="command", metavar="COMMAND")
    cmds.required = True

    train = cmds.add_parser("train", help="train a model and write a run folder")
    models = train.add_subparsers(dest="name", metavar="MODEL", title="models")
    models.required = True
    for name, cls in CONFIGS.items():
        p = models.add_parser(
            name, help=DESCRIPTIONS[name], description=common.described(cls.__doc__)
        )
        common.add_common_flags(p)
        from rlgen import config as cfgmod

        presets = {f"--task {t}": v for t, v in RNN_PRESETS.items()} if name == "rnn" else None
        cfgmod.add_flags(p, cls, presets=presets)
        p.set_defaults(func=train_command)

    ev = cmds.add_parser(
        "eval",
        help="re-evaluate a trained run on its test data",
        description="Reloads RUN in this process and evaluates it on its test split; writes "
        "RUN/eval.json (replacing an earlier one).",
    )
    ev.add_argument("run", metavar="RUN", help="run folder written by 'rlgen supervised train'")
    common.add_reading_flags(ev, data_dir=True)
    ev.set_defaults(func=eval_command)

    pr = cmds.add_parser("predict", help="classify your own digit picture (PNG/JPEG)")
    pr.add_argument("run", metavar="RUN", help="run folder of an mlp, cnn or rnn --task mnist")
    pr.add_argument(
        "images", metavar="IMAGE", nargs="+", help="pictures of one digit each, any size"
    )
    pr.add_argument("--top", type=int, default=3, help="how many classes to list (default 3)")
    common.add_reading_flags(pr)
    pr.set_defaults(func=predict_command)


def _preset(args: argparse.Namespace) -> dict[str, Any]:
    if args.name != "rnn":
        return {}
    task = getattr(args, "task", None)
    if task is None and args.config:
        from rlgen import config as cfgmod

        task = cfgmod.read_toml(args.config).get("task")
    # a bad file value (task = ["mnist"]) is refused by name when the config is built
    return RNN_PRESETS.get(task, {}) if isinstance(task, str) else RNN_PRESETS["addition"]


def train_command(args: argparse.Namespace) -> int:
    from rlgen import config as cfgmod
    from rlgen import runtime
    from rlgen.runs import check_out, create_run

    cfg, rt_cfg = common.resolve(args, CONFIGS[args.name], _preset(args))
    rt = runtime.configure(rt_cfg)
    from rlgen.supervised.training import Trainer

    trainer = Trainer(args.name, cfg, seed=rt_cfg.seed)
    if args.out and runtime.is_chief():  # other workers of a multi-worker run write elsewhere
        check_out(args.out)  # before the data: --augment-from may take minutes to draw digits
    data = trainer.data  # bad data ends here, before a run folder exists
    run = create_run("supervised", args.name, args.out)
    run.write_json(
        "config.json",
        {
            "group": "supervised",
            "task": args.name,
            "seed": rt_cfg.seed,
            "config": cfgmod.to_dict(cfg),
            "runtime": rt.describe(),
            "data": {"source": data.source, **data.sizes()},
            "versions": runtime.versions(),
        },
    )
    verbose = 0 if rt_cfg.quiet else 1
    if not rt_cfg.quiet:
        sizes = ", ".join(f"{count:,} {split}" for split, count in data.sizes().items())
        print(f"rlgen: training {args.name} on {data.source}: {sizes} -> {run.path}")
    start = time.perf_counter()
    trainer.fit(run, verbose=verbose)  # saves the model into the run
    figures = trainer.evaluate()
    epochs = len(trainer.history.get("epoch", []))
    summary = {
        "task": args.name,
        **figures,
        "epochs": epochs,
        "seconds": round(time.perf_counter() - start, 2),
        "seconds_per_epoch": round(trainer.seconds / max(epochs, 1), 3),
        "parameters": int(trainer.model.count_params()),
        "data_source": data.source,
        "train_examples": data.sizes()["train"],
        "validation_examples": data.sizes()["validation"],
    }
    run.write_json("summary.json", summary)
    if not rt_cfg.quiet:
        print("summary")
        common.print_figures(summary)
    print(f"run written to {run.path}")
    return 0


def _load(args: argparse.Namespace):
    from rlgen.runs import open_run

    open_run(args.run, group="supervised")  # folder checks before TensorFlow starts
    common.configure_reading(args)
    from rlgen.supervised.training import Trainer

    return Trainer.load(args.run, data_dir=getattr(args, "data_dir", None))


def eval_command(args: argparse.Namespace) -> int:
    from rlgen.runs import write_json

    trainer = _load(args)
    common.check_data_still_there(args, getattr(trainer.config, "data_dir", None))
    figures = trainer.evaluate()
    print(f"{trainer.task} run {args.run}: test split of {trainer.real_data.source}")
    common.print_figures(figures)
    write_json(f"{args.run}/eval.json", figures)
    return 0


def predict_command(args: argparse.Namespace) -> int:
    import numpy as np

    from rlgen import datasets
    from rlgen.errors import UsageError

    if args.top <= 0:
        raise UsageError(f"--top must be > 0, got {args.top}")
    # every picture is read first: a bad one fails, by name, before TensorFlow loads
    images = np.stack([datasets.read_digit_image(path) for path in args.images])
    trainer = _load(args)
    if not trainer.is_image_task:
        raise UsageError(
            f"{args.run} is a run of task '{trainer.task}', which does not read images; "
            "give an mlp, cnn or rnn --task mnist run"
        )
    names = (
        datasets.FASHION_NAMES
        if trainer.config.dataset == "fashion_mnist"
        else datasets.DIGIT_NAMES
    )
    for path, probs in zip(args.images, trainer.predict(images)):
        print(f"{path}: top {min(args.top, len(probs))} of {trainer.task} ({args.run})")
        for i in np.argsort(probs)[::-1][: args.top]:
            print(f"  {names[i]:<12} {probs[i]:.3f}")
    return 0
