"""The run directory: create it, write into it atomically, and read it back.

A run is one folder holding ``config.json`` (group, task, resolved config, runtime, versions),
the models as ``.keras`` files, ``history.csv`` or ``metrics.csv``, TensorBoard events, plots
and ``summary.json``. Every file is written to a temporary name and renamed, so a crash never
leaves a half-written model, and a new run never reuses an existing folder.
"""

from __future__ import annotations

import contextlib
import csv
import datetime as _dt
import json
import os
import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from rlgen.errors import UsageError

try:
    import fcntl
except ImportError:  # Windows: no claim, as before
    fcntl = None  # type: ignore[assignment]

CONFIG = "config.json"
SUMMARY = "summary.json"


@contextlib.contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; rename it onto ``path`` only if the block succeeds.

    The temporary name keeps the suffix, so writers that check extensions (``model.save``
    wants ``.keras``) accept it.
    """
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(
            prefix=f".{path.stem}.", suffix=f".tmp{path.suffix}", dir=path.parent
        )
    except OSError as err:  # a read-only folder, /proc, a full disk: nothing was written
        raise UsageError(
            f"cannot write {path} ({err.strerror or err}); give a folder you can write to"
        ) from None
    os.close(fd)
    tmp_path = Path(tmp)
    os.chmod(tmp_path, 0o666 & ~_umask())  # mkstemp makes 0600; a run's files are ordinary files
    try:
        yield tmp_path
        os.replace(tmp_path, path)
    finally:
        if tmp_path.exists():
            tmp_path.unlink()


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def write_text(path: str | Path, text: str) -> Path:
    """Write ``text`` to ``path`` atomically."""
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return Path(path)


def write_json(path: str | Path, obj: Any) -> Path:
    """Write ``obj`` as indented JSON to ``path`` atomically."""
    return write_text(path, json.dumps(obj, indent=2, sort_keys=False, default=_jsonable) + "\n")


def _jsonable(obj: Any) -> Any:
    if hasattr(obj, "item"):
        return obj.item()
    if hasattr(obj, "tolist"):
        return obj.tolist()
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"{type(obj).__name__} is not JSON serialisable")


def write_csv(path: str | Path, rows: list[dict[str, Any]]) -> Path:
    """Write ``rows`` (dicts with the same keys) as a CSV file atomically."""
    with atomic_path(path) as tmp, tmp.open("w", newline="", encoding="utf-8") as fh:
        if rows:
            writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
            writer.writeheader()
            writer.writerows(rows)
    return Path(path)


def read_csv(path: str | Path) -> list[dict[str, str]]:
    with Path(path).open(newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def write_history(path: str | Path, history: dict[str, list[float]]) -> Path:
    """A per-epoch history (a dict of equal-length lists) as a CSV file, a row per epoch."""
    lengths = {key: len(values) for key, values in history.items()}
    if len(set(lengths.values())) > 1:  # zip would drop the rows past the shortest
        raise ValueError(f"a history's columns differ in length: {lengths}")
    return write_csv(path, [dict(zip(history, row)) for row in zip(*history.values())])


def read_history(path: str | Path) -> dict[str, list[float]]:
    """A CSV file :func:`write_history` wrote, as the dict again ("epoch" as ints); empty
    if missing or unreadable (evaluating or sampling a run does not need it)."""
    try:
        rows = read_csv(path)
        history = {key: [float(row[key]) for row in rows] for key in (rows[0] if rows else {})}
    except (OSError, ValueError, KeyError, TypeError):
        return {}
    if "epoch" in history:
        history["epoch"] = [int(e) for e in history["epoch"]]
    return history


def utc_stamp() -> str:
    return _dt.datetime.now(_dt.timezone.utc).strftime("%Y%m%d-%H%M%S")


class Run:
    """One run directory on disk."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)

    def __repr__(self) -> str:
        return f"Run({str(self.path)!r})"

    def file(self, name: str) -> Path:
        return self.path / name

    @property
    def config(self) -> dict[str, Any]:
        return read_json(self.file(CONFIG), what="run config")

    @property
    def summary(self) -> dict[str, Any]:
        return read_json(self.file(SUMMARY), what="run summary")

    def write_json(self, name: str, obj: Any) -> Path:
        return write_json(self.file(name), obj)

    def write_text(self, name: str, text: str) -> Path:
        return write_text(self.file(name), text)


LOCK = ".training"  # locked (flock) by the process training the run, holding its id


@contextlib.contextmanager
def claimed(path: str | Path) -> Iterator[None]:
    """Hold run folder ``path`` for this block: a second trainer of it (a ``--resume``
    started while the first training runs: both wrote the same folder) is refused. The
    claim is an exclusive ``flock`` on ``RUN/.training``, which the kernel drops when the
    process ends however it ends, so a crash or kill never locks a run for good."""
    lock = Path(path) / LOCK
    handle = lock.open("a+")
    try:
        if fcntl is not None:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.seek(0)
        owner = handle.read().strip() or "another process"
        handle.close()
        raise UsageError(
            f"{path} is being trained by process {owner}; wait for it to finish (or stop it) "
            "and resume then"
        ) from None
    try:
        handle.seek(0)
        handle.truncate()
        handle.write(str(os.getpid()))
        handle.flush()
        yield
    finally:
        # Emptied, not removed: a claim that opened the file meanwhile must lock this same
        # file, not an unlinked one beside a new one (two trainers of one run).
        handle.seek(0)
        handle.truncate()
        handle.close()


def check_out(out: str | Path) -> Path:
    """``--out`` as a path, refused when it holds anything: called before slow work (data,
    synthetic digits) as well as by :func:`create_run`, so a taken name fails at once."""
    path = Path(out).expanduser()
    if path.exists() and not path.is_dir():
        raise UsageError(f"--out {path} is a file; give a new folder's name")
    if path.exists() and any(path.iterdir()):
        raise UsageError(
            f"--out {path} already exists and is not empty; "
            "choose a new folder so the earlier run is kept"
        )
    return path


def check_run(run: Any, call: str, fix: str | None = None) -> None:
    """A UsageError unless ``run`` (the argument of ``call``, e.g. "fit()") is a :class:`Run`
    or None; a path is named as one (it is not a run: create_run makes one); ``fix`` is the
    advice for anything else."""
    if run is None or isinstance(run, Run):
        return
    if isinstance(run, (str, Path)):
        fix = f"make one with rlgen.runs.create_run(...), or save(path) after {call}"
    raise UsageError(
        f"{call}'s run is a Run or None, not {type(run).__name__}: "
        f"{fix or 'make one with rlgen.runs.create_run(...)'}"
    )


def create_run(
    group: str, task: str, out: str | Path | None = None, root: str | Path = "runs"
) -> Run:
    """Make a new, empty run folder; an existing non-empty ``out`` is refused, never reused.
    A non-chief worker of a multi-worker run gets a temporary folder instead: every worker
    trains, one writes the run."""
    from rlgen import runtime

    if not runtime.is_chief():
        return Run(Path(tempfile.mkdtemp(prefix=f"rlgen-{group}-{task}-worker-")))
    if out is not None:
        path = check_out(out)
    else:
        base = Path(root) / f"{group}-{task}-{utc_stamp()}"
        path, n = base, 1
        while path.exists():
            n += 1
            path = base.with_name(f"{base.name}-{n}")
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise UsageError(
            f"cannot create run folder {path} ({err.strerror}); pick another --out"
        ) from None
    return Run(path)


def merge_json(path: str | Path, updates: dict[str, Any], what: str = "run config") -> Path:
    """Write ``updates`` over the JSON object at ``path`` (created if missing), atomically."""
    path = Path(path)
    old = read_json(path, what) if path.is_file() else {}
    return write_json(path, {**old, **updates})


RESTORE = "restore it from a copy (rlgen writes it as a JSON object), or train again"


def read_json(path: str | Path, what: str = "JSON file") -> dict[str, Any]:
    """Read a JSON object, turning a missing or garbled file into one clear UsageError."""
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise UsageError(f"{what} {path} is missing") from None
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise UsageError(f"{what} {path} is corrupt (not valid JSON); {RESTORE}") from None
    if not isinstance(data, dict):
        raise UsageError(f"{what} {path} is corrupt (expected a JSON object); {RESTORE}")
    return data


def load_model(path: str | Path) -> Any:
    """Load a ``.keras`` file without its optimizer, turning a missing or corrupt file into one
    clear UsageError (Keras raises many exception types for a damaged zip or JSON)."""
    import keras

    path = Path(path)
    if not path.is_file():
        saved = path.parent / "checkpoint" / path.name
        hint = (
            f"; its last epoch's model is in {saved} (copy it to {path} to use it)"
            if saved.is_file()
            else ""
        )
        raise UsageError(f"model file {path} is missing; the run is incomplete or was moved{hint}")
    try:
        return keras.models.load_model(path, compile=False)
    except Exception as err:  # zipfile.BadZipFile, ValueError, OSError, KeyError ...
        fix = "retrain it or restore it from the run's checkpoint/"
        if path.parent.name == "checkpoint":
            fix = "train again"
        raise UsageError(
            f"model file {path} is corrupt or not a Keras model ({type(err).__name__}); {fix}"
        ) from None


def stale_summary(path: str | Path, epochs: int, task: str) -> dict[str, Any] | None:
    """The summary.json of a command-line run in folder ``path`` when it describes other than
    ``epochs`` epochs (the model beside it was trained further): what a save updates. None
    when there is none or it is current; a garbled one comes back as ``{"task": task}``, to
    be written afresh."""
    file = Path(path) / SUMMARY
    if not file.is_file():
        return None
    try:
        old = read_json(file, what="summary")
    except UsageError:
        return {"task": task}
    return None if old.get("epochs") == epochs else old


def check_model_fits(model: Any, expected: Any, path: str | Path, config: str | Path) -> None:
    """A UsageError unless ``model`` (loaded from ``path``) takes and gives what ``expected``
    (built from ``config``) does: a network copied in from another run fails here, in one
    line, not in Keras at its first call."""

    def shapes(m: Any) -> tuple[list[tuple], list[tuple]]:
        return [tuple(t.shape[1:]) for t in m.inputs], [tuple(t.shape[1:]) for t in m.outputs]

    (ins, outs), (want_in, want_out) = shapes(model), shapes(expected)
    if (ins, outs) != (want_in, want_out):
        raise UsageError(
            f"model file {path} does not fit {config}: it takes {_shown_shapes(ins)} and gives "
            f"{_shown_shapes(outs)}, where the model {Path(config).name} describes takes "
            f"{_shown_shapes(want_in)} and gives {_shown_shapes(want_out)}; it is another run's "
            "model: put this run's own back (its checkpoint/ has the last good one)"
        )


def _shown_shapes(shapes: list[tuple]) -> str:
    shown = [str(tuple("?" if n is None else n for n in s)).replace("'", "") for s in shapes]
    return shown[0] if len(shown) == 1 else " and ".join(shown)


def a_or_an(word: str) -> str:
    """``word`` with its indefinite article: "an agent", "a gan"."""
    return f"{'an' if word[:1].lower() in 'aeiou' else 'a'} {word}"


def save_folder(
    path: str | Path, group: str, task: str, files: str, names: Sequence[str] = ()
) -> Path:
    """``path`` as the folder a ``save()`` writes ``files`` (file ``names``) into: refused
    if it names a .keras file (a folder of that name was made), holds a run of another kind
    or a training checkpoint, or holds no rlgen save but files of those names (your own
    model.keras, in a project folder or ``.``: overwritten before)."""
    path = Path(path).expanduser()
    if path.suffix == ".keras":
        raise UsageError(
            f"save() writes a folder ({files}), and {path} names a .keras file; give a "
            f"folder, e.g. {path.with_suffix('')}"
        )
    held = held_kind(path)
    if (path / "state.json").is_file():  # an agent's training checkpoint: save() is not one
        raise UsageError(
            f"{path} holds a training checkpoint, which {files} must not be mixed into (and "
            "which the next checkpoint replaces whole); save to a new folder"
        )
    if held == FOREIGN:
        raise UsageError(
            f"{path} holds a {CONFIG} that rlgen did not write (or cannot read); save to a new "
            "folder"
        )
    if held is not None and held != (group, task):
        kind = held[1] or held[0] or "other"
        raise UsageError(f"{path} holds an rlgen {kind} run; save this one to a new folder")
    clash = sorted(n for n in names if (path / n).exists()) if held is None else []
    if clash:  # a save writes over files of the same name: not over someone else's
        raise UsageError(
            f"{path} holds {', '.join(clash)} but no rlgen save, and saving {files} there "
            "would overwrite them; give a new folder"
        )
    return path


def start_run(
    path: Path, group: str, task: str, files: str, names: Sequence[str], meta: dict[str, Any]
) -> None:
    """Before a training writes into run folder ``path``: refused as :func:`save_folder`
    refuses; a new one gets its config.json (``meta``) now, so that it is an rlgen run from
    its first file (the save at the end, and a load of an interrupted one, know it)."""
    if not (save_folder(path, group, task, files, names) / CONFIG).is_file():  # passed: new
        merge_json(path / CONFIG, meta)


FOREIGN = ("", "")  # held_kind of a folder whose config.json is not an rlgen run's


def held_kind(path: Path) -> tuple[str | None, str | None] | None:
    """(group, task) of the rlgen run or saved model in folder ``path``, None if it holds
    neither: a run's config.json, or the agent.json of an agent's ``save()`` (an agent's
    task is its algorithm)."""
    if (path / CONFIG).is_file():
        try:
            held = read_json(path / CONFIG)
        except UsageError:  # not JSON, or not an object
            return FOREIGN
        if not held.get("group"):
            return FOREIGN
        return held.get("group"), held.get("task") or held.get("algorithm")
    if (path / "agent.json").is_file():
        return "agent", read_json(path / "agent.json", what="agent file").get("algorithm")
    return None


def open_run(path: str | Path, group: str | None = None) -> Run:
    """Open an existing run folder, checking it is one and (optionally) of ``group``."""
    path = Path(path)
    if path.is_file() and path.suffix == ".keras":  # GAN.load("run/generator.keras")
        raise UsageError(
            f"{path} is one network's file; give the run folder it is in ({path.parent}), or "
            "load the network alone with keras.models.load_model"
        )
    if not path.is_dir():
        raise UsageError(f"{path} is not a folder; give a run folder written by 'rlgen ... train'")
    if not (path / CONFIG).is_file():
        raise UsageError(
            f"{path} is not an rlgen run (no {CONFIG}); give a folder written by 'rlgen ... train'"
        )
    run = Run(path)
    cfg = run.config
    if group is not None and cfg.get("group") != group:
        raise UsageError(
            f"{path} is {a_or_an(cfg.get('group', 'unknown'))} run, not {a_or_an(group)} run; "
            f"give a run written by 'rlgen {group} train'"
        )
    return run
