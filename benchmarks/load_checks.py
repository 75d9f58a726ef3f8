"""What checking a loaded network against its config.json costs ``Trainer.load`` and
``GAN.load``: each builds the network the config describes and compares its inputs and
outputs with the file's (another run's model.keras copied in failed in Keras at its first
call before). The loads are timed alternately with and without the check, in one process,
on runs this script trains for a moment (a CNN on 300 digits, a GAN on 64), and printed as
ONE JSON line (median seconds per load, and the ratio).

    python benchmarks/load_checks.py --rounds 5 --threads 1
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--threads", type=int, default=1)
    a = p.parse_args()
    from rlgen import runtime

    runtime.configure(runtime.RuntimeConfig(threads=a.threads, quiet=True))
    from rlgen.gan import dcgan
    from rlgen.gan.dcgan import GAN
    from rlgen.supervised import training
    from rlgen.supervised.training import Trainer, default_config

    root = Path(tempfile.mkdtemp(prefix="load-checks-"))
    cnn = Trainer("cnn", default_config("cnn", epochs=1, train_size=300))
    cnn.fit(verbose=0)
    cnn.save(root / "cnn")
    gan = GAN({"epochs": 1, "train_size": 64})
    gan.train(verbose=0)
    gan.save(root / "gan")

    def unchecked(module) -> None:  # the loads as they were: no build, no comparison
        module.check_model_fits = lambda *args: None

    checks = {training: training.check_model_fits, dcgan: dcgan.check_model_fits}
    builders = (Trainer.build_model, dcgan.build_generator, dcgan.build_discriminator)
    names = ("cnn", "cnn_unchecked", "gan", "gan_unchecked")
    times: dict[str, list[float]] = {k: [] for k in names}
    for _ in range(a.rounds):
        for checked in (True, False):
            for module, fn in checks.items():
                module.check_model_fits = fn
            Trainer.build_model = builders[0]
            dcgan.build_generator, dcgan.build_discriminator = builders[1:]
            if not checked:
                unchecked(training)
                unchecked(dcgan)
                Trainer.build_model = lambda self: None  # built only for the check
                dcgan.build_generator = dcgan.build_discriminator = lambda config: None
            suffix = "" if checked else "_unchecked"
            start = time.perf_counter()
            Trainer.load(root / "cnn")
            times["cnn" + suffix].append(time.perf_counter() - start)
            start = time.perf_counter()
            GAN.load(root / "gan")
            times["gan" + suffix].append(time.perf_counter() - start)
    med = {k: round(statistics.median(v), 4) for k, v in times.items()}
    med["cnn_ratio"] = round(med["cnn"] / med["cnn_unchecked"], 3)
    med["gan_ratio"] = round(med["gan"] / med["gan_unchecked"], 3)
    print(json.dumps({"rounds": a.rounds, "threads": a.threads, **med}))


if __name__ == "__main__":
    main()
