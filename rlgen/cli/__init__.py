"""The ``rlgen`` command: argument parsing and dispatch, nothing else.

Each group (``supervised``, ``agent``, ``gan``) has a module here with ``register(subparsers)``
that adds its commands; the work itself is done by the group's Python API. A bad input raises
:class:`rlgen.errors.UsageError`, which ends here as one line on stderr and exit status 2.
"""

from __future__ import annotations

import argparse
import contextlib
import difflib
import errno
import signal
import sys
import threading
from collections.abc import Iterator, Sequence
from typing import Any

from rlgen import __version__
from rlgen.errors import UsageError, command_line


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


# Keras 2 and other tools' spellings a student may type, and what rlgen calls them
ALIASES = {
    "--lr": "--learning-rate",
    "--nb-epoch": "--epochs",
    "--nb-epochs": "--epochs",
    "--epoch": "--epochs",
    "--bs": "--batch-size",
    "--batch": "--batch-size",
    "--total-timesteps": "--steps",
    "--timesteps": "--steps",
}


def _command_parser(parser: argparse.ArgumentParser, argv: Sequence[str]):
    """The parser of the (sub)command ``argv`` names, e.g. that of ``rlgen agent train dqn``."""
    for token in argv:
        if token.startswith("-"):
            continue
        subs = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
        if not subs or token not in subs[0].choices:
            break
        parser = subs[0].choices[token]
    return parser


def _did_you_mean(flag: str, known: list[str]) -> str | None:
    name = flag.split("=", 1)[0]
    for guess in (name.replace("_", "-"), ALIASES.get(name.replace("_", "-"))):
        if guess in known and guess != name:
            return guess
    close = difflib.get_close_matches(name, known, n=1, cutoff=0.75)
    return close[0] if close else None


def _parse(parser: argparse.ArgumentParser, argv: Sequence[str]) -> argparse.Namespace:
    """``parse_args``, but an unknown flag is named with the closest known one and the help of
    the command it was given to: "--stpes: did you mean --steps?; see 'rlgen agent train dqn
    --help'"."""
    args, unknown = parser.parse_known_args(argv)
    if unknown:
        command = _command_parser(parser, argv)
        known = [o for a in command._actions for o in a.option_strings if o.startswith("--")]
        hints = [
            f"{flag.split('=', 1)[0]}: did you mean {guess}?"
            for flag in unknown
            if flag.startswith("-") and (guess := _did_you_mean(flag, known))
        ]
        message = f"unrecognized arguments: {' '.join(unknown)}"
        command.error(message + (f" ({' '.join(hints)})" if hints else ""))
    return args


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status (0 ok, 2 bad input or out of memory,
    1 failure or a full disk, 130 Ctrl-C, 143 SIGTERM)."""
    with command_line(), _terminate_as_interrupt() as received:  # messages name flags
        status = _main(argv, received)
    # stopped by SIGTERM: 143, as a shell reports a process it ended (Ctrl-C's is 130)
    return 128 + received[0] if received and status == 130 else status


@contextlib.contextmanager
def _terminate_as_interrupt() -> Iterator[list[int]]:
    """SIGTERM (``kill``, ``timeout``, a scheduler's stop) ends a command as Ctrl-C does:
    a training keeps its checkpoint and says how to resume, and temporary files are removed
    (it killed the process outright, leaving a 1 GB hidden .npz half-written). Yields the
    signals received, Ctrl-C's too. A signal its parent set to be ignored (or a handler
    someone else installed) is left alone."""
    received: list[int] = []
    if threading.current_thread() is not threading.main_thread():
        yield received
        return

    def interrupt(signum: int, frame: Any) -> None:
        received.append(signum)
        raise KeyboardInterrupt

    interrupt.rlgen = True  # type: ignore[attr-defined]  # an agent's training may wrap it

    # Ctrl-C's too, only to note it: a TensorFlow function being traced can turn the
    # KeyboardInterrupt into its own error (a StagingError), which must not print a traceback
    handled = [signal.SIGTERM, signal.SIGINT]
    previous = {sig: signal.getsignal(sig) for sig in handled}
    for sig in handled:
        if previous[sig] in (signal.SIG_DFL, signal.default_int_handler):
            signal.signal(sig, interrupt)
    try:
        yield received
    finally:
        for sig in handled:
            signal.signal(sig, previous[sig])


SMALLER = (
    "give smaller sizes (--hidden, --hidden-sizes, --batch-size, --buffer-size, -n) or free "
    "memory; runs already written are kept"
)


def _main(argv: Sequence[str] | None, received: Sequence[int] = ()) -> int:
    parser = build_parser()
    args = _parse(parser, sys.argv[1:] if argv is None else list(argv))
    try:
        return int(args.func(args) or 0)
    except UsageError as err:
        print(f"rlgen: error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt as err:
        where = f"; {err}" if str(err) else ""  # a training run says where its model is
        # on a line of its own, not at the end of a progress bar's
        print(f"\nrlgen: interrupted; runs already written are kept{where}", file=sys.stderr)
        return 130
    except Exception as err:
        message = _no_room(err)
        if message is None and received and _in_place_of_interrupt(err):
            print("\nrlgen: interrupted; runs already written are kept", file=sys.stderr)
            return 130
        if message is None:
            raise
        print(f"rlgen: error: {message}", file=sys.stderr)
        return 1 if isinstance(err, OSError) else 2


def _in_place_of_interrupt(err: BaseException) -> bool:
    """Whether ``err``, raised after a Ctrl-C or SIGTERM, stands for it: it chains the
    KeyboardInterrupt, or it is TensorFlow's (a StagingError while a function was traced).
    Any other error (a full disk while the run is kept, a bug) is reported as itself."""
    seen: set[int] = set()
    while err is not None and id(err) not in seen:
        seen.add(id(err))
        if isinstance(err, KeyboardInterrupt) or type(err).__module__.startswith("tensorflow"):
            return True
        err = err.__cause__ or err.__context__
    return False


def _no_room(err: Exception) -> str | None:
    """What to say of running out of memory or disk (None for any other error)."""
    if isinstance(err, MemoryError):  # NumPy's too: one array bigger than the machine
        return f"out of memory; {SMALLER}"
    if type(err).__name__ == "ResourceExhaustedError":  # TensorFlow's
        return f"out of memory in TensorFlow; {SMALLER}"
    if isinstance(err, OSError) and err.errno in (errno.ENOSPC, errno.EDQUOT):
        # files are written to a temporary name and renamed: what was saved before is whole
        where = f" writing {err.filename}" if err.filename else ""
        return (
            f"the disk is full{where}; files written before are kept whole (a training's "
            "checkpoint/ too): free some space and run again (an agent run goes on with "
            "--resume)"
        )
    return None
