"""A training checkpoint folder: everything needed to continue a run exactly.

``model.keras`` + ``agent.json`` (as :meth:`save` writes them) plus ``state.npz`` (extra
weights and optimizer variables), ``state.json`` (counters, RNG state, epsilon schedule,
episode log, callback state) and, for DQN, ``replay.npz`` and ``env.pkl`` (the env mid-episode).
The folder is written beside the old one and swapped in, so a crash keeps the previous one.
"""

from __future__ import annotations

import json
import os
import pickle
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from rlgen.errors import UsageError
from rlgen.runs import read_json

STATE_JSON, STATE_NPZ, ENV_PICKLE = "state.json", "state.npz", "env.pkl"


def check_checkpoint_folder(path: str | Path) -> Path:
    """``path`` as a checkpoint folder: new, empty, or an earlier checkpoint, which a new one
    replaces whole; anything else (a run, files of one's own) is refused, not deleted."""
    path = Path(path).expanduser()
    if path.exists() and not path.is_dir():
        raise UsageError(f"checkpoint folder {path} is a file; give a folder")
    entries = list(path.iterdir()) if path.is_dir() else []
    if entries and not (path / STATE_JSON).is_file():
        raise UsageError(
            f"{path} holds files that are not an rlgen checkpoint, and a checkpoint replaces "
            "its folder whole; give a new folder"
        )
    others = sorted(p.name for p in entries if not _checkpoint_file(p))
    if others:  # a checkpoint's, but a folder or a file of someone else's put in it
        raise UsageError(
            f"{path} is a checkpoint but also holds {', '.join(others[:3])}"
            f"{', ...' if len(others) > 3 else ''}, which the next checkpoint would delete "
            "(it replaces its folder whole); move them out or give a new folder"
        )
    return path


CHECKPOINT_FILES = {STATE_JSON, STATE_NPZ, ENV_PICKLE, "agent.json", "replay.npz"}


def _checkpoint_file(path: Path) -> bool:
    return path.is_file() and (path.name in CHECKPOINT_FILES or path.suffix == ".keras")


def write_checkpoint(
    path: str | Path,
    write_files: Callable[[Path], None],
    arrays: dict[str, np.ndarray],
    state: dict[str, Any],
    env: Any = None,
) -> Path:
    """Write a complete checkpoint into a fresh folder, then swap it in for ``path``."""
    path = check_checkpoint_folder(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", dir=path.parent))
    try:
        write_files(tmp)
        with open(tmp / STATE_NPZ, "wb") as fh:
            np.savez(fh, **arrays)
        state = dict(state, env_pickled=False)
        if env is not None:
            try:
                blob = pickle.dumps(env)
            except Exception:  # an env that cannot be pickled restarts its episode on resume
                blob = None
            if blob is not None:
                (tmp / ENV_PICKLE).write_bytes(blob)
                state["env_pickled"] = True
        (tmp / STATE_JSON).write_text(json.dumps(state) + "\n", encoding="utf-8")
        old = None
        if path.exists():
            old = path.with_name(f".{path.name}.old")
            if old.exists():
                shutil.rmtree(old)
            os.replace(path, old)
        os.replace(tmp, path)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return path


RESUME_FIX = (
    "the run cannot be resumed, but its model.keras and best/ still load; to train further, "
    "start a new run"
)


def corrupt(what: str, detail: str) -> UsageError:
    """The error for a damaged checkpoint file ``what``: what broke and what still works."""
    return UsageError(f"checkpoint {what} is corrupt ({detail}); {RESUME_FIX}")


def read_checkpoint(
    path: str | Path, with_env: bool = True
) -> tuple[dict[str, Any], dict[str, np.ndarray], Any]:
    """(state, arrays, env or None) of a checkpoint folder; clear errors when incomplete.
    ``with_env=False`` leaves a pickled env unread (the caller brings its own)."""
    path = Path(path).expanduser()
    if not (path / STATE_JSON).is_file():
        raise UsageError(
            f"{path} holds no resumable checkpoint ({STATE_JSON} missing); "
            "train again, or give a run written by 'rlgen agent train'"
        )
    state = read_json(path / STATE_JSON, what="checkpoint state")
    try:
        with np.load(path / STATE_NPZ) as data:
            arrays = {k: data[k] for k in data.files}
    except Exception as err:  # FileNotFoundError, zipfile.BadZipFile, EOFError, ValueError ...
        raise corrupt(path / STATE_NPZ, str(err)) from None
    env = None
    if state.get("env_pickled") and with_env:
        try:
            env = pickle.loads((path / ENV_PICKLE).read_bytes())
        except (AttributeError, ImportError) as err:  # the env's class is not importable here
            raise UsageError(
                f"checkpoint {path / ENV_PICKLE} holds an env whose class this program cannot "
                f"import ({err}); import it first, or pass env= to load_checkpoint (its "
                "episodes then start afresh)"
            ) from None
        except Exception as err:
            raise corrupt(path / ENV_PICKLE, str(err)) from None
    return state, arrays, env


def optimizer_arrays(optimizer: Any, prefix: str) -> dict[str, np.ndarray]:
    return {f"{prefix}{i}": np.asarray(v.numpy()) for i, v in enumerate(optimizer.variables)}


def restore_optimizer(optimizer: Any, arrays: dict[str, np.ndarray], prefix: str) -> None:
    variables = optimizer.variables
    saved = [k for k in arrays if k.startswith(prefix)]
    if len(saved) != len(variables):
        raise corrupt(
            f"{STATE_NPZ} ({prefix} optimizer)",
            f"{len(saved)} variables, expected {len(variables)}",
        )
    for i, v in enumerate(variables):
        v.assign(arrays[f"{prefix}{i}"])


def rng_state(rng: np.random.Generator) -> dict[str, Any]:
    return rng.bit_generator.state


def restore_rng(rng: np.random.Generator, state: dict[str, Any]) -> None:
    rng.bit_generator.state = state
