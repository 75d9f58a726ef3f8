"""Shared helpers for the agent tests: run rlgen in a subprocess, offline and on one thread."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def env() -> dict[str, str]:
    e = dict(os.environ)
    e["RLGEN_OFFLINE"] = "1"
    e["PYTHONPATH"] = str(ROOT) + os.pathsep + e.get("PYTHONPATH", "")
    e["CUDA_VISIBLE_DEVICES"] = ""
    return e


def run_python(args: list[str], cwd: Path | None = None, timeout: int = 300):
    return subprocess.run(
        [sys.executable, *args],
        cwd=cwd or ROOT,
        env=env(),
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def rlgen(*args: str, cwd: Path | None = None, timeout: int = 300):
    return run_python(["-m", "rlgen", *args], cwd=cwd, timeout=timeout)


def assert_usage_error(proc, *needles: str) -> None:
    """Exit 2, one line on stderr starting 'rlgen: error:', no traceback."""
    err = proc.stderr.strip()
    assert proc.returncode == 2, (proc.returncode, proc.stdout, proc.stderr)
    assert "Traceback" not in proc.stderr, proc.stderr
    assert len(err.splitlines()) == 1, proc.stderr
    assert err.startswith("rlgen: error:") or "error:" in err, err
    for needle in needles:
        assert needle in err, err
