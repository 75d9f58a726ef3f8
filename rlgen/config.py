"""Config dataclasses <-> command-line flags, TOML files and JSON.

Every trainer has one dataclass of hyper-parameters. This module turns each field into a
``--kebab-case`` flag, reads ``--config FILE.toml`` (unknown keys and wrong types rejected by
name), merges defaults < file < flags, and writes the resolved config back as JSON or TOML.
Nothing here imports TensorFlow, so ``rlgen --help`` stays fast.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import numbers
import os
import sys
import types
import typing
from pathlib import Path
from typing import Any, Literal, TypeVar, Union, get_args, get_origin

from rlgen.errors import UsageError, pythonic
from rlgen.runs import a_or_an

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised only on Python 3.10
    import tomli as tomllib

C = TypeVar("C")


def _field_types(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def _flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def _describe(tp: Any) -> str:
    origin = get_origin(tp)
    if origin is Literal:
        return " | ".join(repr(a) for a in get_args(tp))
    if origin is tuple:
        return f"list of {get_args(tp)[0].__name__}"
    if origin in (Union, types.UnionType):  # Optional: files and flags cannot say None
        return " or ".join(_describe(a) for a in get_args(tp) if a is not type(None))
    if tp is bool:
        return "true or false"
    return getattr(tp, "__name__", str(tp))


FIX = "fix the value and run again"


def coerce(name: str, tp: Any, value: Any, where: str, text: bool = False, fix: str = FIX) -> Any:
    """Return ``value`` converted to the field type ``tp``, or raise UsageError naming the key
    and ``fix`` (a field's ``metadata["fix"]``, where it has one).

    Strings are parsed as numbers and lists only when ``text`` (a command-line argument); a
    TOML or JSON file and Python code give the type itself (``epochs = "2"`` is refused)."""
    origin = get_origin(tp)
    if origin in (Union, types.UnionType):
        args = get_args(tp)
        if value is None and type(None) in args:
            return None
        for arg in args:
            if arg is type(None):
                continue
            try:
                return coerce(name, arg, value, where, text, fix)
            except UsageError:
                continue
    elif origin is Literal:
        if value in get_args(tp):
            return value
        if isinstance(value, str):  # "Adam", "LSTM", "MNIST": the names Keras and papers use
            for choice in get_args(tp):
                if isinstance(choice, str) and choice.lower() == value.lower():
                    return choice
    elif origin is tuple:
        if isinstance(value, str) and text:
            # "64,64", and "[64, 64]" or "(64, 64)" as Python and TOML write them
            value = [v for v in value.strip("[]() ").replace(" ", "").split(",") if v]
        if isinstance(value, (list, tuple)):
            inner = get_args(tp)[0]
            return tuple(coerce(name, inner, v, where, text, fix) for v in value)
    elif tp is bool:
        # TOML and JSON have true and false; the command line's --flag/--no-flag never
        # reaches here, so a string such as "yes" is a mistake in the file, not a spelling.
        if isinstance(value, bool):
            return value
    elif tp is int:
        if isinstance(value, numbers.Integral) and not isinstance(value, bool):
            return int(value)  # NumPy's integers too
        if isinstance(value, str) and text:
            try:
                return int(value.replace("_", ""))
            except ValueError:
                pass
        if isinstance(value, float) and value.is_integer():
            return int(value)
    elif tp is float:
        if isinstance(value, numbers.Real) and not isinstance(value, bool):
            return float(value)
        if isinstance(value, str) and text:
            try:
                return float(value)
            except ValueError:
                pass
    elif tp is str:
        if isinstance(value, str):
            return value
        if isinstance(value, os.PathLike):  # data_dir=Path("data"), as Python callers write
            return os.fspath(value)
    plain = value is None or isinstance(value, (str, numbers.Number, list, tuple, dict))
    got = repr(value) if plain else a_or_an(type(value).__name__)  # not <... at 0x7f...>
    raise UsageError(f"{where}: '{name}' must be {_describe(tp)}, got {got}; {fix}")


def _shown(value: Any) -> str:
    return ",".join(map(str, value)) if isinstance(value, tuple) else str(value)


def add_flags(
    parser: argparse.ArgumentParser,
    cls: type,
    title: str | None = None,
    presets: dict[str, dict[str, Any]] | None = None,
    only: tuple[str, ...] | None = None,
    hidden: tuple[str, ...] = (),
) -> None:
    """Add one ``--flag`` per field of dataclass ``cls`` (or per field in ``only``); unset
    flags stay out of the namespace. Fields in ``hidden`` are parsed but left out of
    ``--help``: a command that refuses them can still say why.

    ``presets`` ({label: {field: value}}, e.g. an env id's tuned values) are shown in each
    flag's help beside the default they replace, so ``--help`` says what a run will use."""
    group = parser.add_argument_group(title or f"{cls.__name__} (hyper-parameters)")
    defaults = cls()
    for f in dataclasses.fields(cls):
        if only is not None and f.name not in only:
            continue
        tp = _field_types(cls)[f.name]
        default = getattr(defaults, f.name)
        helptext = f.metadata.get("help", "")
        shown = _shown(default)
        replaced = [
            f"{label}: {_shown(values[f.name])}"
            for label, values in (presets or {}).items()
            if f.name in values and values[f.name] != default
        ]
        if replaced:
            shown += "; " + ", ".join(replaced)
        kwargs: dict[str, Any] = {
            "dest": f.name,
            "default": argparse.SUPPRESS,
            # argparse %-formats help strings: a literal "10%" must reach it as "10%%"
            "help": (helptext if "(default" in helptext else f"{helptext} (default: {shown})")
            .strip()
            .replace("%", "%%"),
        }
        if f.name in hidden:
            kwargs["help"] = argparse.SUPPRESS
        if tp is bool:
            kwargs["action"] = argparse.BooleanOptionalAction
        else:
            kwargs["metavar"] = f.name.upper() if get_origin(tp) is not Literal else None
            if get_origin(tp) is Literal:
                kwargs["choices"] = list(get_args(tp))
                kwargs.pop("metavar")
            kwargs["type"] = _string_parser(f.name, tp)
        group.add_argument(_flag(f.name), **kwargs)


def _string_parser(name: str, tp: Any):
    def parse(text: str) -> Any:
        try:
            return coerce(name, tp, text, "command line", text=True)
        except UsageError as err:
            raise argparse.ArgumentTypeError(str(err).split(": ", 1)[1]) from None

    parse.__name__ = _describe(tp)
    return parse


def build(cls: type[C], values: dict[str, Any] | None = None, where: str = "config") -> C:
    """Build ``cls`` from defaults overlaid with ``values``; unknown keys are rejected by name."""
    values = {k.replace("-", "_"): v for k, v in (values or {}).items()}
    known = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(values) - known)
    if unknown:
        raise UsageError(
            f"{where}: unknown key {unknown[0]!r} for {cls.__name__}; "
            f"valid keys are: {', '.join(sorted(known))}"
        )
    hints, fixes = _field_types(cls), _fixes(cls)
    kwargs = {k: coerce(k, hints[k], v, where, fix=fixes[k]) for k, v in values.items()}
    try:
        return cls(**kwargs)
    except (ValueError, TypeError) as err:
        # a file's values are named by their keys, the command line's by their flags
        said = str(err) if where == "command line" else pythonic(str(err))
        raise UsageError(f"{where}: {said}") from None


def _fixes(cls: type) -> dict[str, str]:
    """What to do about a value of the wrong type, per field of dataclass ``cls``."""
    return {f.name: f.metadata.get("fix", FIX) for f in dataclasses.fields(cls)}


def read_toml(path: str | Path) -> dict[str, Any]:
    """Read a TOML file into a dict, with one clear error for a missing or malformed file."""
    named = f"config file {path}" if str(path).strip() else "config file name"  # --config ''
    path = Path(path)
    if not path.is_file():
        what = "is empty" if named.endswith("name") else "is a folder" if path.is_dir() else ""
        raise UsageError(f"{named} {what or 'not found'}; give the path of an existing .toml file")
    try:
        with path.open("rb") as fh:
            return tomllib.load(fh)
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as err:
        raise UsageError(f"config file {path} is not valid TOML ({err}); fix its syntax") from None


def resolve(
    cls: type[C],
    flags: dict[str, Any] | None = None,
    file_values: dict[str, Any] | None = None,
    preset: dict[str, Any] | None = None,
    where: str = "config file",
) -> C:
    """Defaults < preset < config file < command-line flags; the result is validated."""
    file_values = dict(file_values or {})
    build(cls, file_values, where)  # reject unknown keys and bad types against the file's name
    merged = {**(preset or {}), **file_values, **(flags or {})}
    return build(cls, merged, "command line" if flags else where)


def to_dict(cfg: Any) -> dict[str, Any]:
    """A JSON-ready dict of a config dataclass (tuples become lists)."""
    out = {}
    for f in dataclasses.fields(cfg):
        v = getattr(cfg, f.name)
        out[f.name] = list(v) if isinstance(v, tuple) else v
    return out


def recheck(config: C, used: dict[str, Any] | None, live: Any, changed: Any) -> C:
    """``config`` checked again, as when it was built: a field set on it afterwards skipped
    every check. A field outside ``live`` that differs from ``used`` (the config the data,
    networks or model were made with, as :func:`to_dict` gave it) was written to the saved
    config but not applied, and is refused; ``changed(name, old, new)`` says so. The same
    object comes back (with the checks' own tidying, such as a lower-cased choice): code
    holding it (``agent.config``) goes on changing the one in use."""
    checked = dataclasses.replace(config)  # __post_init__ runs every check again
    now = to_dict(checked)
    for name, old in (used or {}).items():
        if name not in live and now[name] != old:
            raise UsageError(changed(name, old, now[name]))
    for f in dataclasses.fields(config):
        object.__setattr__(config, f.name, getattr(checked, f.name))
    return config


def to_flags(cfg: Any) -> list[str]:
    """The command-line flags that reproduce ``cfg``."""
    args: list[str] = []
    for name, v in to_dict(cfg).items():
        if isinstance(v, bool):
            args.append(_flag(name) if v else "--no-" + name.replace("_", "-"))
        elif v is None:
            continue
        elif isinstance(v, list):
            args += [_flag(name), ",".join(map(str, v))]
        else:
            args += [_flag(name), repr(v) if isinstance(v, float) else str(v)]
    return args


def to_toml(cfg: Any, table: str | None = None) -> str:
    """A TOML text of ``cfg`` that :func:`read_toml` + :func:`build` turn back into ``cfg``."""
    lines = [f"[{table}]"] if table else []
    for name, v in to_dict(cfg).items():
        if v is None:
            continue
        lines.append(f"{name} = {_toml_value(v)}")
    return "\n".join(lines) + "\n"


def _toml_value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, float):
        if math.isinf(v) or math.isnan(v):
            return "inf" if v > 0 else ("-inf" if v < 0 else "nan")
        return repr(v)
    if isinstance(v, int):
        return str(v)
    if isinstance(v, list):
        return "[" + ", ".join(_toml_value(x) for x in v) + "]"
    return json.dumps(str(v))


def check_fields(cfg: Any) -> None:
    """Check every field of a config built in Python against its type, as flags and files
    are checked, and store the converted value (``buffer_size=1e4`` becomes 10000; a string
    learning rate, ``batch_size=2.5`` or ``hidden_sizes=64`` is refused by name). Call it
    first in ``__post_init__``, so range checks see numbers."""
    where, hints = type(cfg).__name__, _field_types(type(cfg))
    for f in dataclasses.fields(cfg):
        tp, value = hints[f.name], getattr(cfg, f.name)
        choices = [c.lower() if isinstance(c, str) else c for c in get_args(tp)]
        spelt = value.lower() if isinstance(value, str) else value
        if get_origin(tp) is Literal and spelt not in choices:
            raise UsageError(
                f"--{f.name.replace('_', '-')} must be one of {', '.join(get_args(tp))}, "
                f"got {value!r}"
            )
        setattr(cfg, f.name, coerce(f.name, tp, value, where, fix=f.metadata.get("fix", FIX)))


def absolute(path: str | None) -> str | None:
    """``path`` as an absolute path (``~`` expanded), None as None: config.json records
    where the data is, for a run loaded from another folder."""
    return None if path is None else str(Path(path).expanduser().resolve())


def check_positive(cfg: Any, *names: str) -> None:
    """Raise UsageError naming the first field of ``names`` that is not a finite number > 0
    (NaN compares False with everything, so ``nan <= 0`` alone let it through)."""
    for name in names:
        value = getattr(cfg, name)
        if value is None:
            continue
        flag = "--" + name.replace("_", "-")
        if isinstance(value, float) and not math.isfinite(value):
            raise UsageError(f"{flag} must be a finite number > 0, got {value}")
        if value <= 0:
            raise UsageError(f"{flag} must be > 0, got {value}")


def check_fraction(cfg: Any, name: str, low_open: bool = False) -> None:
    """Raise UsageError unless field ``name`` lies in [0, 1)."""
    value = getattr(cfg, name)
    if not (0.0 <= value < 1.0) or (low_open and value == 0.0):
        raise UsageError(f"--{name.replace('_', '-')} must be in [0, 1), got {value}")
