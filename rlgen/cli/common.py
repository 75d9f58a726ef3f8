"""Flags shared by every group: runtime (--quiet too), --config, --out; and config resolution."""

from __future__ import annotations

import argparse
import dataclasses
import numbers
from pathlib import Path
from typing import Any, TypeVar

from rlgen import config as cfgmod
from rlgen.errors import UsageError
from rlgen.runtime import RuntimeConfig

C = TypeVar("C")


def described(doc: str | None) -> str | None:
    """A docstring as ``--help`` shows it: reST's ``code`` marks taken off."""
    return None if doc is None else doc.replace("``", "")


def add_common_flags(
    parser: argparse.ArgumentParser, out: bool = True, hidden: tuple[str, ...] = ()
) -> None:
    """``--config``, ``--out`` and each :class:`RuntimeConfig` field (``--quiet`` too) as a flag;
    the fields in ``hidden`` are parsed but not listed in ``--help``."""
    parser.add_argument(
        "--config",
        metavar="FILE.toml",
        help="read hyper-parameters from a TOML file (a [runtime] table sets runtime flags); "
        "flags on the command line win",
    )
    if out:
        parser.add_argument(
            "--out", metavar="DIR", help="run folder to create (default runs/<group>-<name>-<UTC>)"
        )
    cfgmod.add_flags(parser, RuntimeConfig, "runtime", hidden=hidden)


def add_reading_flags(parser: argparse.ArgumentParser, data_dir: bool = False) -> None:
    """``--device`` and ``--threads`` for the commands that read a run (eval, sample,
    predict), and ``--data-dir`` for those that read its data set again."""
    cfgmod.add_flags(parser, RuntimeConfig, "runtime", only=("device", "threads"))
    if data_dir:
        parser.add_argument(
            "--data-dir",
            metavar="DIR",
            help="where the run's data set is now, if it moved (default: where it trained from)",
        )


def check_data_still_there(args: argparse.Namespace, data_dir: str | None) -> None:
    """For an ``eval`` that reads its run's data set again: a UsageError naming the run's
    recorded data folder when it has gone and no ``--data-dir`` says where it is now (the
    loader would blame a ``--data-dir`` the user never gave)."""
    if args.data_dir is None and data_dir and not Path(data_dir).expanduser().exists():
        raise UsageError(
            f"this run's data, {data_dir}, is no longer there; pass --data-dir with where it is now"
        )


def configure_reading(args: argparse.Namespace, default_threads: int = 0) -> Any:
    """Configure TensorFlow for a command that reads a run: its --device and --threads, one
    device (evaluating, sampling and predicting gain nothing from replicas)."""
    from rlgen import runtime

    values = {**_flags_for(RuntimeConfig, args), "strategy": "none"}
    return runtime.configure(
        cfgmod.build(RuntimeConfig, values, "command line"), default_threads=default_threads
    )


def _flags_for(cls: type, args: argparse.Namespace) -> dict[str, Any]:
    names = {f.name for f in dataclasses.fields(cls)}
    return {k: v for k, v in vars(args).items() if k in names}


def resolve(
    args: argparse.Namespace, cls: type[C], preset: dict[str, Any] | None = None
) -> tuple[C, RuntimeConfig]:
    """The trainer config and runtime config: defaults < preset < --config file < flags."""
    file_values: dict[str, Any] = {}
    if getattr(args, "config", None) is not None:  # --config '' is a mistake, not "none"
        file_values = cfgmod.read_toml(args.config)
    runtime_file = file_values.pop("runtime", {}) if isinstance(file_values, dict) else {}
    where = f"config file {args.config}" if getattr(args, "config", None) else "config"
    if not isinstance(runtime_file, dict):
        raise UsageError(f"{where}: [runtime] must be a table, got {runtime_file!r}")
    cfg = cfgmod.resolve(cls, _flags_for(cls, args), file_values, preset, where)
    runtime = cfgmod.resolve(
        RuntimeConfig, _flags_for(RuntimeConfig, args), runtime_file, None, f"{where} [runtime]"
    )
    return cfg, runtime


def print_figures(figures: dict[str, Any]) -> None:
    """One indented ``name  value`` line per figure (floats to 4 decimals, NumPy's too, also
    in a list; a dict's values to 3: a perceptron's outputs)."""

    def real(value: Any) -> bool:
        return isinstance(value, numbers.Real) and not isinstance(value, numbers.Integral)

    for key, value in figures.items():
        shown = value
        if real(value):
            shown = f"{value:.4f}"
        elif isinstance(value, (list, tuple)) and value and all(map(real, value)):
            shown = "[" + ", ".join(f"{v:.4f}" for v in value) + "]"
        elif isinstance(value, dict):
            shown = ", ".join(f"{k}: {v:.3f}" if real(v) else f"{k}: {v}" for k, v in value.items())
        print(f"  {key:<32} {shown}")
