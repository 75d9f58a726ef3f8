"""``rlgen info``: versions, devices and offline data sources."""

from __future__ import annotations

import argparse
import os


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("info", help="versions, devices and data sources")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from rlgen import datasets, runtime

    print("versions")
    for name, version in runtime.versions().items():
        print(f"  {name:<12} {version}")
    rt = runtime.configure(runtime.RuntimeConfig())
    tf = runtime.import_tensorflow()
    print("devices")
    for kind in ("CPU", "GPU"):
        devices = tf.config.list_physical_devices(kind)
        names = ", ".join(d.name for d in devices) or "none"
        print(f"  {kind:<12} {names}")
    print(f"  {'runs on':<12} {rt.device.upper()} ({os.cpu_count()} cores visible)")
    print("threads")
    print("  supervised   TensorFlow's default pools (all cores); --threads N to change")
    print("  gan          the same as supervised")
    print("  agents       1 (small MLPs: a second thread gains or loses ~15%, and can be many")
    print("               times slower on busy cores; see BENCHMARKS.md); --threads N to change")
    print("data sources")
    for name, where in datasets.available_sources().items():
        print(f"  {name:<24} {where}")
    return 0
