"""The one exception type the command line turns into a single line and exit status 2, and
the checks every command shares.

Messages are written once, in the command line's words (``--learning-rate``, ``-n``). Raised
from Python, outside :func:`command_line`, they speak Python instead: ``--learning-rate``
becomes ``learning_rate``, ``--unconditional`` ``unconditional=True`` and ``--loss hinge``
``loss='hinge'``, while a quoted ``rlgen ...`` command stays a command. Where a Python name
is not the flag's own, a message says both through :func:`option`.
"""

from __future__ import annotations

import contextlib
import contextvars
import functools
import re
import sys
import threading
import warnings
from collections.abc import Iterator
from typing import Any

_COMMAND_LINE: contextvars.ContextVar[bool] = contextvars.ContextVar(
    "rlgen_command_line", default=False
)


class RlgenWarning(UserWarning):
    """rlgen's own warnings (Python's ``warnings``, so a caller can filter or raise them); on
    the command line each is one ``rlgen: warning:`` line, without Python's source line."""


@contextlib.contextmanager
def command_line() -> Iterator[None]:
    """While it lasts, messages name command-line flags (``rlgen``'s ``main`` runs in it)
    and :class:`RlgenWarning` prints as one line."""
    token = _COMMAND_LINE.set(True)
    _hook_warnings(+1)
    try:
        yield
    finally:
        _hook_warnings(-1)
        _COMMAND_LINE.reset(token)


# warnings.showwarning is one for the whole process, while command_line() holds per thread
# (a context variable): the hook is installed while any command_line() lasts, and formats a
# warning only where one does.
_HOOK_LOCK = threading.Lock()
_HOOK = {"users": 0, "previous": None}


def _hook_warnings(change: int) -> None:
    with _HOOK_LOCK:
        if change > 0 and not _HOOK["users"]:
            if warnings.showwarning is not _show_warning:  # a catch_warnings() may restore it
                _HOOK["previous"] = warnings.showwarning
            warnings.showwarning = _show_warning
        _HOOK["users"] += change
        if not _HOOK["users"] and warnings.showwarning is _show_warning:
            warnings.showwarning = _HOOK["previous"]


def _show_warning(message, category, filename, lineno, file=None, line=None):  # noqa: ANN001
    if _COMMAND_LINE.get() and issubclass(category, RlgenWarning):
        print(f"rlgen: warning: {message}", file=sys.stderr, flush=True)
    else:
        show = _HOOK["previous"]
        if show is None or show is _show_warning:
            show = warnings._showwarning_orig  # never itself
        show(message, category, filename, lineno, file, line)


def on_command_line() -> bool:
    """Whether this runs inside ``rlgen``'s ``main`` (:func:`command_line`)."""
    return _COMMAND_LINE.get()


def option(flag: str, python: str) -> str:
    """``flag`` on the command line, ``python`` (the argument's name there) from Python."""
    return flag if _COMMAND_LINE.get() else python


@functools.cache
def _field_kinds() -> tuple[frozenset[str], dict[str, tuple[str, ...]]]:
    """Boolean fields and the choices of Literal fields, over every config class."""
    import dataclasses
    import typing

    from rlgen import runtime
    from rlgen.agents import configs as agents
    from rlgen.gan import configs as gan
    from rlgen.supervised import configs as supervised

    flags, choices = set(), {}
    for module in (runtime, agents, gan, supervised):
        for cls in vars(module).values():
            if not (isinstance(cls, type) and dataclasses.is_dataclass(cls)):
                continue
            for name, tp in typing.get_type_hints(cls).items():
                if tp is bool:
                    flags.add(name)
                elif typing.get_origin(tp) is typing.Literal:
                    choices[name] = tuple(map(str, typing.get_args(tp)))
    return frozenset(flags), choices


# a flag (and the word after it), unless it is inside a quoted or bracketed rlgen command
_QUOTED_COMMAND = r"(?P<command>'rlgen [^']*'|\(rlgen [^)]*\)|`rlgen [^`]*`)"
_FLAG = (
    r"(?<![\w-])(?P<flag>--(?P<no>no-)?[a-z][a-z0-9]*(?:-[a-z0-9]+)*|-n\b)"
    r"(?P<next> (?!--?[a-z])\S+)?"  # a value, not the next flag
)
_MESSAGE = re.compile(f"{_QUOTED_COMMAND}|{_FLAG}")
_NUMBER = re.compile(r"-?[\d,]*\.?\d+(?:e-?\d+)?")


def _pythonic(match: re.Match[str]) -> str:
    if match["command"]:
        return match["command"]
    name = match["flag"].lstrip("-").replace("-", "_")
    nxt = match["next"] or ""
    word = nxt.strip().rstrip(",;:.)")
    after = nxt.strip()[len(word) :]  # the punctuation that followed the value
    flags, choices = _field_kinds()
    if match["no"] and name[3:] in flags:
        return f"{name[3:]}=False{nxt}"
    if name in flags:
        return f"{name}=True{nxt}"
    if name in choices and word in choices[name]:
        return f"{name}={word!r}{after}"
    if re.fullmatch(r"[A-Z][A-Z_]*", word):  # a placeholder: --synthetic N, --augment-from RUN
        return f"{name}={word}{after}"
    if _NUMBER.fullmatch(word):  # 1,000,000 is a tuple in Python: 1_000_000
        return f"{name}={word.replace(',', '_')}{after}"
    return name + nxt


def pythonic(message: str) -> str:
    """``message`` with its command-line flags as the Python arguments they set."""
    return _MESSAGE.sub(_pythonic, message)


def for_caller(message: str) -> str:
    """``message`` as the command line says it inside :func:`command_line`, else
    :func:`pythonic`: what errors and warnings show."""
    return message if _COMMAND_LINE.get() else pythonic(message)


class UsageError(ValueError):
    """A bad input from the user: the message names the problem and the fix. A ValueError,
    as Keras' and Stable-Baselines3's errors for bad arguments are, so ``except ValueError``
    catches rlgen's too. Raised outside :func:`command_line`, its flags read as Python
    arguments (:func:`pythonic`)."""

    def __init__(self, message: Any = "", *args: Any) -> None:
        if isinstance(message, str):
            message = for_caller(message)
        super().__init__(message, *args)


class TrainingDiverged(UsageError):
    """A loss became NaN or inf: training stopped, and the last good checkpoint is kept."""


SEED_LIMIT = 2**32  # NumPy's global seed must be below it; TensorFlow overflowed far above


def check_seed(seed: Any) -> int:
    """``seed`` as an int; a UsageError unless it is a whole number >= 0 and < 2**32
    (gymnasium's, NumPy's and TensorFlow's own errors for one outside are tracebacks)."""
    import numpy as np

    if (
        isinstance(seed, bool)
        or not isinstance(seed, (int, np.integer))
        or not 0 <= seed < SEED_LIMIT
    ):
        raise UsageError(f"--seed must be a whole number >= 0 and < 2**32, got {seed!r}")
    return int(seed)


def seed_or_draw(seed: Any) -> int:
    """:func:`check_seed`'s int, or for None (Stable-Baselines3's default) one drawn at random,
    which the caller keeps as its ``seed``: a run to repeat says which it was."""
    if seed is None:
        import secrets

        return secrets.randbelow(SEED_LIMIT)
    return check_seed(seed)


def check_count(name: str, value: Any) -> int:
    """``value`` as an int; a UsageError unless it is a whole number > 0 (an integral float
    such as 1e4 is accepted, as Stable-Baselines3 does; 2.5, "3", None and True are not)."""
    import numpy as np

    whole = isinstance(value, (int, np.integer)) or (
        isinstance(value, (float, np.floating)) and float(value).is_integer()
    )
    if isinstance(value, bool) or not whole:
        raise UsageError(f"{name} must be a whole number, got {value!r}")
    if value <= 0:
        raise UsageError(f"{name} must be > 0, got {value}; give a positive number")
    return int(value)
