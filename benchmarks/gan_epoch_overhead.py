"""Is a small training set's many short epochs slow? The GAN's per-epoch overhead.

At N = 500 the default GAN runs 1,329 Keras epochs of 7 steps; at N = 4000, 150 of 62. This
trains the default conditional GAN on both in one process (interleaved rounds), takes the mean
seconds per step of each (the first, tracing, epoch left out) and solves
``t = c + o / steps_per_epoch`` for the per-step cost c and the per-epoch overhead o.

    python benchmarks/gan_epoch_overhead.py --threads 1
"""

from __future__ import annotations

import argparse
import json

import numpy as np


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--rounds", type=int, default=2)
    args = p.parse_args()
    from rlgen import datasets, runtime

    runtime.configure(runtime.RuntimeConfig(threads=args.threads, seed=0))
    from rlgen.gan.configs import GANConfig
    from rlgen.gan.dcgan import GAN

    data = datasets.load_images("mnist")
    per_step: dict[int, list[float]] = {500: [], 4000: []}
    steps = {}
    for _ in range(args.rounds):
        for n, epochs in ((500, 41), (4000, 5)):  # ~280 and ~250 steps
            keep = datasets.subset(data.y_train, n, seed=0)
            gan = GAN(GANConfig(train_size=n), seed=0)
            gan.train(data.x_train[keep], data.y_train[keep], epochs=epochs, verbose=0)
            seconds = gan.history["seconds"][1:]
            steps[n] = n // gan.config.batch_size
            per_step[n].append(sum(seconds) / (len(seconds) * steps[n]))
    small, large = np.mean(per_step[500]), np.mean(per_step[4000])
    overhead = (small - large) / (1 / steps[500] - 1 / steps[4000])
    cost = large - overhead / steps[4000]
    print(
        json.dumps(
            {
                "benchmark": "gan_epoch_overhead",
                "threads": args.threads,
                "seconds_per_step": {
                    str(k): [round(v, 4) for v in vs] for k, vs in per_step.items()
                },
                "step_cost": round(cost, 4),
                "epoch_overhead": round(overhead, 4),
                "overhead_share_at_500": round(overhead / (steps[500] * cost + overhead), 3),
                "data_source": data.source,
            }
        )
    )


if __name__ == "__main__":
    main()
