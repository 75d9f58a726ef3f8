"""Shared fixtures: no network, quiet TensorFlow, one configured runtime, a CLI runner."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

os.environ["RLGEN_OFFLINE"] = "1"  # tests never touch the network
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("MPLBACKEND", "Agg")


@pytest.fixture(scope="session", autouse=True)
def _runtime():
    """Configure TensorFlow once for the in-process tests (2 threads, seed 0)."""
    from rlgen import runtime

    return runtime.configure(runtime.RuntimeConfig(threads=2))


class CLIResult:
    def __init__(self, proc: subprocess.CompletedProcess) -> None:
        self.code, self.out, self.err = proc.returncode, proc.stdout, proc.stderr

    def __repr__(self) -> str:
        return f"exit {self.code}\n--- stdout\n{self.out[-3000:]}\n--- stderr\n{self.err[-3000:]}"

    def assert_usage_error(self, *fragments: str) -> str:
        """Exit 2, no traceback, and one 'rlgen...: error:' line naming the problem."""
        assert self.code == 2, self
        assert "Traceback" not in self.err, self
        lines = [ln for ln in self.err.splitlines() if "error:" in ln]
        assert len(lines) == 1, self
        for frag in fragments:
            assert frag.lower() in lines[0].lower(), self
        return lines[0]


def run_cli(*args: str, cwd: Path | None = None, timeout: int = 600, env: dict | None = None):
    """``python -m rlgen ARGS`` in a fresh process."""
    full_env = {**os.environ, "RLGEN_OFFLINE": "1", **(env or {})}
    proc = subprocess.run(
        [sys.executable, "-m", "rlgen", *map(str, args)],
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=timeout,
        env=full_env,
    )
    return CLIResult(proc)


def interrupt_cli(
    *args: str, once: Path, timeout: int = 300, grace: int = 240, sig: int | None = None
) -> CLIResult:
    """``python -m rlgen ARGS`` in a fresh process, stopped with Ctrl-C (SIGINT, or ``sig``)
    as soon as the file ``once`` exists (a checkpoint, say). A process still running ``grace``
    seconds after the Ctrl-C fails the test with every thread's Python stack, not a bare
    timeout."""
    import signal
    import time

    # A shell without job control starts background jobs with SIGINT ignored, and Python
    # then installs no KeyboardInterrupt handler: the child sets it itself, as a terminal's
    # process would have it. SIGUSR1 dumps its threads' stacks to stderr (a hang's where).
    code = (
        "import faulthandler, runpy, signal, sys\n"
        "faulthandler.register(signal.SIGUSR1, all_threads=True)\n"
        "signal.signal(signal.SIGINT, signal.default_int_handler)\n"
        "sys.argv = ['rlgen', *sys.argv[1:]]\n"
        "runpy.run_module('rlgen', run_name='__main__', alter_sys=True)\n"
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", code, *map(str, args)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "RLGEN_OFFLINE": "1"},
    )
    deadline = time.monotonic() + timeout
    while not once.exists() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.1)
    waited = f"{once} {'appeared' if once.exists() else 'never appeared'}"
    time.sleep(0.5)  # past the checkpoint's own writing
    proc.send_signal(signal.SIGINT if sig is None else sig)
    try:
        out, err = proc.communicate(timeout=grace)
    except subprocess.TimeoutExpired:
        proc.send_signal(signal.SIGUSR1)
        time.sleep(3)
        proc.kill()
        out, err = proc.communicate()
        raise AssertionError(
            f"still running {grace} s after Ctrl-C ({waited}); its threads' stacks, then its"
            f" output:\n--- stderr\n{err[-20000:]}\n--- stdout\n{out[-3000:]}"
        ) from None
    return CLIResult(subprocess.CompletedProcess(proc.args, proc.returncode, out, err))


@pytest.fixture(autouse=True)
def _fresh_warnings():
    """rlgen warns once per process; each test sees its own warnings, whatever ran before."""
    from rlgen import datasets

    datasets._WARNED.clear()


@pytest.fixture
def cli():
    return run_cli
