"""The ``rlgen`` command: argument parsing and dispatch, nothing else.

Each group (``supervised``, ``agent``, ``gan``) has a module here with ``register(subparsers)``
that adds its commands; the work itself is done by the group's Python API. A bad input raises
:class:`rlgen.errors.UsageError`, which ends here as one line on stderr and exit status 2.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from rlgen import __version__
from rlgen.errors import UsageError


class Parser(argparse.ArgumentParser):
    """An ArgumentParser whose errors are one line (problem and fix) and exit status 2."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(2, f"{self.prog}: error: {message}; see '{self.prog} --help'\n")


def build_parser() -> argparse.ArgumentParser:
    from rlgen.cli import agent, gan, info, supervised

    parser = Parser(
        prog="rlgen",
        description="Keras classifiers, reinforcement-learning agents and a DCGAN.",
    )
    parser.add_argument("--version", action="version", version=f"rlgen {__version__}")
    sub = parser.add_subparsers(dest="group", metavar="COMMAND", parser_class=Parser)
    sub.required = True
    info.register(sub)
    supervised.register(sub)
    agent.register(sub)
    gan.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status (0 ok, 2 bad input, 1 failure)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except UsageError as err:
        print(f"rlgen: error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("rlgen: interrupted; runs already written are kept", file=sys.stderr)
        return 130
