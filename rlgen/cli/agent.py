"""``rlgen agent``: train DQN / REINFORCE on a Gymnasium env, evaluate a run.

Thin: parsing here, the work in :mod:`rlgen.agents.training`. TensorFlow is imported only
inside the command functions, so ``rlgen --help`` stays fast.
"""

from __future__ import annotations

import argparse

from rlgen import config as cfgmod
from rlgen.agents.configs import (
    CHECKPOINTS_PER_RUN,
    DEFAULT_STEPS,
    DQN_PRESETS,
    EVAL_EPISODES,
    EVALUATIONS_PER_RUN,
    GENERAL_STEPS,
    MIN_EVAL_EVERY,
    REINFORCE_DEFAULT_EPISODES,
    REINFORCE_GENERAL_EPISODES,
    REINFORCE_PRESETS,
    DQNConfig,
    ReinforceConfig,
    preset,
)
from rlgen.cli.common import add_common_flags, add_reading_flags, configure_reading, resolve


def register(sub: argparse._SubParsersAction) -> None:
    group = sub.add_parser("agent", help="reinforcement-learning agents (DQN, REINFORCE)")
    cmds = group.add_subparsers(dest="command", metavar="COMMAND", parser_class=type(group))
    cmds.required = True

    train = cmds.add_parser("train", help="train an agent into a new run folder")
    algos = train.add_subparsers(dest="algorithm", metavar="ALGORITHM", parser_class=type(group))
    algos.required = True
    for name, cls, helptext in (
        ("dqn", DQNConfig, "Deep Q-Network with Double-DQN targets"),
        ("reinforce", ReinforceConfig, "REINFORCE with a learned value baseline"),
    ):
        p = algos.add_parser(
            name,
            help=helptext,
            description=f"{helptext}. Defaults: the env's tuned preset, else general values; "
            "--config FILE.toml, then flags, override them.",
        )
        p.add_argument("--env", metavar="ID", help="Gymnasium env id (required unless --resume)")
        p.add_argument(
            "--resume",
            metavar="RUN",
            help="continue RUN from its checkpoint/ with its own config, in the same folder",
        )
        budget = p.add_mutually_exclusive_group()
        table, general = (
            (DEFAULT_STEPS, GENERAL_STEPS)
            if name == "dqn"
            else (REINFORCE_DEFAULT_EPISODES, REINFORCE_GENERAL_EPISODES)
        )
        listed = ", ".join(f"{env} {n:,}" for env, n in table.items())
        default = f" (default: {listed}; other envs {general:,})"
        budget.add_argument(
            "--steps",
            type=int,
            metavar="N",
            help="train for N env steps" + (default if name == "dqn" else ""),
        )
        budget.add_argument(
            "--episodes",
            type=int,
            metavar="N",
            help="train for N episodes"
            + (
                default
                if name != "dqn"
                else "; with --n-envs K, episodes of other copies that end in the same "
                "step count too, so up to K - 1 more"
            ),
        )
        unit = "steps or episodes (the budget's unit)"
        p.add_argument(
            "--eval-every",
            type=int,
            metavar="N",
            help=f"{unit} between evaluations (default: budget/{EVALUATIONS_PER_RUN}, at least "
            f"{MIN_EVAL_EVERY['step']} steps or {MIN_EVAL_EVERY['episode']} episodes)",
        )
        p.add_argument(
            "--eval-episodes",
            type=int,
            metavar="N",
            help=f"episodes per evaluation ({EVAL_EPISODES})",
        )
        p.add_argument(
            "--checkpoint-every",
            type=int,
            metavar="N",
            help=f"{unit} between checkpoints (default: budget/{CHECKPOINTS_PER_RUN}, at least "
            "--eval-every; also at the end)",
        )
        p.add_argument(
            "--stop-at-reward",
            type=float,
            metavar="R",
            help="stop once an evaluation mean reaches R",
        )
        # parsed only to be refused with the reason (run_train); one device, float32
        add_common_flags(p, hidden=("mixed_precision", "strategy", "logical_cpus"))
        presets = DQN_PRESETS if name == "dqn" else REINFORCE_PRESETS
        cfgmod.add_flags(p, cls, presets=presets)
        p.set_defaults(func=run_train, config_cls=cls)

    ev = cmds.add_parser(
        "eval", help="greedy mean ± std of a run's best (else final) model over fresh episodes"
    )
    ev.add_argument("run", metavar="RUN", help="run folder written by 'rlgen agent train'")
    ev.add_argument("--episodes", type=int, default=100, metavar="N", help="episodes (100)")
    ev.add_argument(
        "--seed", type=int, default=1_000, help="episode k is reset with seed + k (1000)"
    )
    ev.add_argument("--gif", metavar="OUT.gif", help="also record one episode as a GIF")
    ev.add_argument(
        "--env",
        metavar="ID",
        help="evaluate on this Gymnasium env id instead of the run's own (its observations "
        "and actions must match); MODULE:ENV_ID imports the module that registers a custom env",
    )
    add_reading_flags(ev)  # --device, --threads (0: one thread, the agents' default)
    ev.set_defaults(func=run_eval)


def run_train(args: argparse.Namespace) -> int:
    import dataclasses

    from rlgen import runtime
    from rlgen.agents.envs import check_env
    from rlgen.agents.training import check_budget, check_resume, train_run
    from rlgen.errors import UsageError

    # Fail fast on bad input, before TensorFlow loads.
    check_budget(
        steps=args.steps,
        episodes=args.episodes,
        eval_every=args.eval_every,
        eval_episodes=args.eval_episodes,
        checkpoint_every=args.checkpoint_every,
    )
    if args.resume:
        if getattr(args, "seed", None) is not None:  # taken and ignored before
            raise UsageError(
                "--resume continues the run's random streams from its checkpoint; drop --seed"
            )
        fields = {f.name for f in dataclasses.fields(args.config_cls)}
        given = sorted(fields & set(vars(args)))
        if given or args.config or args.out:
            name = (
                "--" + given[0].replace("_", "-")
                if given
                else ("--config" if args.config else "--out")
            )
            raise UsageError(
                f"--resume continues with the run's own config and folder; drop {name}"
            )
        cfg, runtime_cfg = resolve(args, args.config_cls)
        check_resume(args.resume, args.algorithm, args.env, args.steps, args.episodes)
    else:
        if not args.env:
            raise UsageError("--env is required (e.g. --env CartPole-v1), unless --resume RUN")
        cfg, runtime_cfg = resolve(args, args.config_cls, preset(args.algorithm, args.env))
        check_env(args.env, args.algorithm.upper())
    refused = [
        flag
        for flag, given in (
            ("--mixed-precision", runtime_cfg.mixed_precision),
            ("--logical-cpus", runtime_cfg.logical_cpus > 1),
            ("--strategy", runtime_cfg.strategy in ("mirrored", "multiworker")),
        )
        if given
    ]
    if refused:
        flag = refused[0]
        raise UsageError(
            f"{flag}: the agents' networks are small float32 MLPs stepped one batch at a time; "
            "float16 and several devices would only slow them; drop the flag (or the "
            "[runtime] key of --config)"
        )
    # auto would pick MirroredStrategy on two GPUs, which the agents do not use
    runtime_cfg = dataclasses.replace(runtime_cfg, strategy="none")
    rt = runtime.configure(runtime_cfg, default_threads=1)
    run, summary = train_run(
        args.algorithm,
        args.env,
        cfg,
        rt,
        steps=args.steps,
        episodes=args.episodes,
        eval_every=args.eval_every,
        eval_episodes=args.eval_episodes,
        checkpoint_every=args.checkpoint_every,
        stop_at_reward=args.stop_at_reward,
        out=args.out,
        quiet=runtime_cfg.quiet,
        resume=args.resume,
    )
    if not runtime_cfg.quiet:
        best, before = summary["best_eval_mean_reward"], summary["resumed_from_step"]
        steps, episodes = summary["steps"], summary["episodes"]
        trained = f"{steps} steps, {episodes} episodes"
        if before:
            trained = f"steps {before} to {steps} ({episodes} episodes in all)"
        print(
            f"{trained} in {summary['seconds']:.1f} s ({summary['steps_per_second']} steps/s); "
            f"best evaluation {best:.1f} at step {summary['best_eval_step']}, final "
            f"{summary['final_eval_mean_reward']:.1f} (rlgen agent eval RUN uses the best "
            "model, kept in RUN/best)"
        )
    print(f"run written to {run.path}")
    return 0


def run_eval(args: argparse.Namespace) -> int:
    from rlgen.agents.training import check_budget, evaluate_run, find_model
    from rlgen.errors import UsageError

    check_budget(episodes=args.episodes)
    if args.gif and not args.gif.lower().endswith(".gif"):
        raise UsageError(f"--gif {args.gif}: give a file name ending in .gif")
    find_model(args.run)  # a missing or wrong run fails before TensorFlow loads
    configure_reading(args, default_threads=1)
    res = evaluate_run(
        args.run, episodes=args.episodes, seed=args.seed, gif=args.gif, env_id=args.env
    )
    print(
        f"{res['algorithm']} on {res['env_id']}, {res['model']} model: "
        f"{res['mean']:.2f} ± {res['std']:.2f} over {res['episodes']} episodes (greedy)"
    )
    if "gif" in res:
        print(f"episode GIF written to {res['gif']}")
    return 0
