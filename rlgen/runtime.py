"""Devices, threads, GPU memory growth, mixed precision, tf.distribute strategy and seeding.

:func:`configure` must run before TensorFlow executes its first op; the CLI calls it once per
command. Importing this module does not import TensorFlow.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import random
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, Literal

from rlgen.config import check_fields
from rlgen.errors import UsageError, check_seed, on_command_line

MAX_THREADS = 1024
# Quiet TensorFlow's C++ start-up chatter before it is first imported anywhere in rlgen.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


@dataclass
class RuntimeConfig:
    """How and where a job runs; saved in every run's config.json beside the hyper-parameters."""

    seed: int = field(default=0, metadata={"help": "seed for Python, NumPy, TensorFlow and envs"})
    device: Literal["auto", "cpu", "gpu"] = field(
        default="auto", metadata={"help": "where to run; gpu fails clearly when none is found"}
    )
    threads: int = field(
        default=0,
        metadata={"help": "TensorFlow CPU threads per op pool; 0 = the command's default"},
    )
    mixed_precision: bool = field(
        default=False, metadata={"help": "float16 compute, float32 variables and outputs"}
    )
    strategy: Literal["auto", "none", "mirrored", "multiworker"] = field(
        default="auto",
        metadata={"help": "tf.distribute strategy; auto = mirrored when more than one GPU"},
    )
    deterministic: bool = field(
        default=False, metadata={"help": "deterministic TensorFlow ops (slower): GPU runs repeat"}
    )
    logical_cpus: int = field(
        default=0,
        metadata={"help": "split the CPU into N logical devices (tests MirroredStrategy)"},
    )
    quiet: bool = field(
        default=False, metadata={"help": "no progress bars or summaries (the CLI's output)"}
    )

    def __post_init__(self) -> None:
        check_fields(self)
        if self.threads < 0:
            raise UsageError(f"--threads must be >= 0, got {self.threads}")
        if self.threads > MAX_THREADS:  # TensorFlow makes them all, and hangs at 100,000
            raise UsageError(
                f"--threads {self.threads} is more than any machine runs well; give at most "
                f"{MAX_THREADS} (this one has {os.cpu_count()} cores; 0 uses one per core)"
            )
        if self.logical_cpus < 0:
            raise UsageError(f"--logical-cpus must be >= 0, got {self.logical_cpus}")
        check_seed(self.seed)


@dataclass
class Runtime:
    """What :func:`configure` set up: the strategy to build models under, and a description."""

    config: RuntimeConfig
    device: str
    strategy: Any
    replicas: int
    precision_policy: str
    threads: int
    gpus: list[str] = field(default_factory=list)

    def describe(self) -> dict[str, Any]:
        return {
            **dataclasses.asdict(self.config),
            "device_used": self.device,
            "strategy_used": type(self.strategy).__name__,
            "replicas": self.replicas,
            "precision_policy": self.precision_policy,
            "threads_used": self.threads,
            "gpus": self.gpus,
        }


_ACTIVE: Runtime | None = None


@contextlib.contextmanager
def _silenced_stderr() -> Iterator[None]:
    """Send file descriptor 2 to /dev/null for the block (C++ log lines bypass Python)."""
    if os.environ.get("RLGEN_TF_LOGS"):
        yield
        return
    sys.stderr.flush()
    saved, null = os.dup(2), os.open(os.devnull, os.O_WRONLY)
    os.dup2(null, 2)
    try:
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(null)


def import_tensorflow() -> Any:
    """Import TensorFlow with its C++ start-up log lines hidden (set RLGEN_TF_LOGS=1 to see them).

    TensorFlow 2.21 writes oneDNN/CUDA notices to file descriptor 2 before its logging is
    configured, so ``TF_CPP_MIN_LOG_LEVEL`` cannot silence them; the CLI hides them here so a
    user sees rlgen's output, not a screen of notices. Python exceptions still propagate.
    """
    if "tensorflow" not in sys.modules:
        # a few silent seconds at a terminal: say what they are, then wipe the line
        note = on_command_line() and sys.stderr.isatty()
        if note:
            sys.stderr.write("rlgen: loading TensorFlow...")
        try:
            with _silenced_stderr():
                import keras  # noqa: F401  (loads the TensorFlow backend too)
                import tensorflow  # noqa: F401
        finally:
            if note:
                sys.stderr.write("\r\033[K")
                sys.stderr.flush()
    import tensorflow as tf

    return tf


def lazy_export(package: str, exports: dict[str, str], name: str) -> Any:
    """A package's lazy ``__getattr__`` (``from rlgen.agents import DQNAgent``): ``name`` from
    the module ``exports`` maps it to. When that module needs TensorFlow, TensorFlow is
    imported first with its start-up notices hidden, as the CLI does; the hyper-parameter
    modules (``*.configs``) and ``rlgen.errors`` stay free of TensorFlow."""
    import importlib

    if name not in exports:
        raise AttributeError(f"module {package!r} has no attribute {name!r}")
    module = exports[name]
    if not module.endswith(".configs") and module != "rlgen.errors":
        import_tensorflow()
    return getattr(importlib.import_module(module), name)


def seed_everything(seed: int) -> None:
    """Seed Python's ``random``, NumPy and TensorFlow (via ``keras.utils.set_random_seed``)."""
    import keras
    import numpy as np

    random.seed(seed)
    np.random.seed(seed)
    keras.utils.set_random_seed(seed)


def seed_after(seed: int, done: int) -> int:
    """The seed of what follows ``done`` epochs (a further fit's shuffle order): ``seed``
    itself at 0, so one fit is as before, then a seed drawn from both (``seed + done`` would
    be seed + 1's first)."""
    import numpy as np

    return seed if not done else int(np.random.SeedSequence([seed, done]).generate_state(1)[0])


def configure(
    config: RuntimeConfig | None = None, default_threads: int = 0, *, set_globals: bool = True
) -> Runtime:
    """Apply ``config`` to TensorFlow and return the :class:`Runtime`; call once, before any op.

    ``default_threads`` is the command's choice when ``--threads`` is 0: one thread for the
    small RL models (predictable on shared cores), all cores for convolutional nets (1.6x
    faster); see BENCHMARKS.md. ``set_globals=False`` leaves the global random seeds and
    Keras' dtype policy as the caller has them: for a library call that configures on the
    caller's behalf (an agent or trainer built before any ``configure``).
    """
    global _ACTIVE
    config = config or RuntimeConfig()
    tf = import_tensorflow()
    import keras

    threads = config.threads or default_threads
    unapplied: list[str] = []  # asked for, but TensorFlow had started: said, not dropped
    if threads:
        try:
            tf.config.threading.set_intra_op_parallelism_threads(threads)
            tf.config.threading.set_inter_op_parallelism_threads(min(threads, 2))
        except RuntimeError:  # already initialised (a second configure in one process)
            if config.threads and tf.config.threading.get_intra_op_parallelism_threads() != threads:
                unapplied.append(f"threads={threads}")

    with _silenced_stderr():  # "failed call to cuInit" on machines without a GPU driver
        gpus = tf.config.list_physical_devices("GPU")
    if config.device == "gpu" and not gpus:
        raise UsageError(
            "--device gpu was asked for but TensorFlow sees no GPU; "
            "use --device cpu (or auto), or install TensorFlow's GPU build: "
            "pip install 'tensorflow[and-cuda]' (rlgen's gpu extra)"
        )
    # Each raises RuntimeError once TensorFlow has initialised its devices in this process
    # (a second configure, or any op or model before it): what is there is kept, and said.
    if config.device == "cpu" and gpus:
        try:
            tf.config.set_visible_devices([], "GPU")
        except RuntimeError:
            unapplied.append("device='cpu'")
        gpus = tf.config.get_visible_devices("GPU")  # what runs, not what was asked
    for gpu in gpus:
        # Memory growth: take GPU memory as needed instead of all of it at start-up, so a
        # notebook, TensorBoard and a second run can share one card.
        try:
            tf.config.experimental.set_memory_growth(gpu, True)
        except RuntimeError:
            if not tf.config.experimental.get_memory_growth(gpu):
                unapplied.append(f"memory growth on {gpu.name}")
    if config.logical_cpus > 1:
        cpu = tf.config.list_physical_devices("CPU")[0]
        try:
            tf.config.set_logical_device_configuration(
                cpu, [tf.config.LogicalDeviceConfiguration()] * config.logical_cpus
            )
        except RuntimeError:
            if len(tf.config.list_logical_devices("CPU")) != config.logical_cpus:
                unapplied.append(f"logical_cpus={config.logical_cpus}")
    if unapplied:
        from rlgen.datasets import warn

        warn(
            f"TensorFlow had already started in this process, so {', '.join(unapplied)} "
            "could not be applied; call rlgen.runtime.configure(...) before any model or "
            "op (in a notebook: restart the kernel)"
        )

    if config.deterministic:
        tf.config.experimental.enable_op_determinism()
    if set_globals:
        seed_everything(config.seed)
        keras.mixed_precision.set_global_policy(
            "mixed_float16" if config.mixed_precision else "float32"
        )
    policy = keras.mixed_precision.global_policy().name
    if not set_globals and config.mixed_precision and policy != "mixed_float16":
        from rlgen.datasets import warn

        warn(
            f"mixed_precision=True with set_globals=False leaves Keras' dtype policy as it "
            f"is ({policy}); set_globals=True applies it"
        )
    if set_globals and config.mixed_precision and not gpus:
        from rlgen.datasets import warn

        warn(
            "--mixed-precision without a GPU: CPUs emulate float16, so it is much slower than "
            "float32 here (the default MLP: 54x on this project's test machine); it pays on "
            "GPUs with tensor cores"
        )

    strategy = _make_strategy(tf, config, gpus)
    with _silenced_stderr():
        tf.constant(0.0) + 1.0  # TensorFlow's CPU-feature notice comes with the first op
    device = "gpu" if gpus else "cpu"
    _ACTIVE = Runtime(
        config=config,
        device=device,
        strategy=strategy,
        replicas=int(strategy.num_replicas_in_sync),
        precision_policy=policy,
        # What TensorFlow applies, which differs from what was asked when it had already
        # started (a second configure in one process keeps the first one's pools).
        threads=tf.config.threading.get_intra_op_parallelism_threads(),
        gpus=[g.name for g in tf.config.get_visible_devices("GPU")],
    )
    return _ACTIVE


def _make_strategy(tf: Any, config: RuntimeConfig, gpus: list[Any]) -> Any:
    kind = config.strategy
    if kind == "auto":
        kind = "mirrored" if len(gpus) > 1 else "none"
    if kind == "none":
        return tf.distribute.get_strategy()
    if kind == "mirrored":
        if gpus:
            return tf.distribute.MirroredStrategy()
        cpus = [d.name for d in tf.config.list_logical_devices("CPU")]
        # On CPUs there is no NCCL; reduce through one device.
        return tf.distribute.MirroredStrategy(
            devices=cpus, cross_device_ops=tf.distribute.ReductionToOneDevice()
        )
    if "TF_CONFIG" not in os.environ:
        raise UsageError(
            "--strategy multiworker needs the TF_CONFIG environment variable describing the "
            "cluster; set it on every worker (see the TensorFlow multi-worker guide)"
        )
    check_tf_config(os.environ["TF_CONFIG"])
    return tf.distribute.MultiWorkerMirroredStrategy()


def check_tf_config(text: str) -> None:
    """A UsageError unless ``text`` is a TF_CONFIG TensorFlow can use: JSON with a
    ``cluster`` of address lists and a ``task`` whose type and index are in it."""
    import json

    shape = (
        '; give JSON such as {"cluster": {"worker": ["host1:12345", "host2:12345"]}, '
        '"task": {"type": "worker", "index": 0}}'
    )
    try:
        tf_config = json.loads(text)
    except ValueError:
        raise UsageError(f"TF_CONFIG is not valid JSON{shape}") from None
    cluster = tf_config.get("cluster") if isinstance(tf_config, dict) else None
    task = tf_config.get("task") if isinstance(tf_config, dict) else None
    if not isinstance(cluster, dict) or not cluster or not isinstance(task, dict):
        raise UsageError(f"TF_CONFIG needs a 'cluster' and a 'task'{shape}")
    kind, index = task.get("type"), task.get("index", 0)
    if kind == "evaluator":  # TensorFlow's side-car evaluator is not one of the cluster
        return
    members = cluster.get(kind)
    if not isinstance(members, list) or not all(isinstance(m, str) for m in members):
        raise UsageError(
            f"TF_CONFIG's task type {kind!r} has no list of addresses in its cluster "
            f"({', '.join(map(str, cluster))}){shape}"
        )
    if not isinstance(index, int) or isinstance(index, bool) or not 0 <= index < len(members):
        raise UsageError(
            f"TF_CONFIG's task index {index!r} is not one of its {len(members)} {kind} "
            f"addresses (0 to {len(members) - 1})"
        )


def is_chief() -> bool:
    """Whether this process writes the run: always, except for the non-chief workers of a
    MultiWorkerMirroredStrategy (the chief is task "chief", or worker 0 when the cluster
    has none), which TensorFlow's guide has write to temporary folders instead."""
    resolver = getattr(_ACTIVE.strategy, "cluster_resolver", None) if _ACTIVE else None
    task_type = getattr(resolver, "task_type", None)
    if not task_type or task_type == "chief":
        return True
    has_chief = "chief" in resolver.cluster_spec().as_dict()
    return task_type == "worker" and resolver.task_id == 0 and not has_chief


def is_configured() -> bool:
    """Whether :func:`configure` has run in this process (TensorFlow's pools are then fixed)."""
    return _ACTIVE is not None


def active() -> Runtime:
    """The runtime configured in this process; if nothing has configured one yet, the
    defaults, leaving the caller's seeds and dtype policy as they are."""
    return _ACTIVE or configure(set_globals=False)


@contextlib.contextmanager
def float32_policy() -> Iterator[None]:
    """Build Keras layers in float32 inside the block whatever the global policy (a model
    whose figures must not depend on ``--mixed-precision``, such as the GAN's reference)."""
    import keras

    saved = keras.mixed_precision.global_policy()
    keras.mixed_precision.set_global_policy("float32")
    try:
        yield
    finally:
        keras.mixed_precision.set_global_policy(saved)


def versions() -> dict[str, str]:
    """Versions of rlgen and its engines, read from package metadata (no TensorFlow import)."""
    import platform
    from importlib import metadata

    import rlgen

    out = {"rlgen": rlgen.__version__, "python": platform.python_version()}
    for name in ("tensorflow", "keras", "gymnasium", "numpy"):
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = "not installed"
    return out
