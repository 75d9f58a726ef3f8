"""What writing a run folder costs a small, many-epoch demo: the perceptron's 300 epochs
trained with a run folder (history.csv, checkpoint/, TensorBoard) and without one, in
interleaved rounds of one process. Prints one JSON line.

    python benchmarks/checkpoint_overhead.py --threads 1 --rounds 3
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--epochs", type=int, default=300)
    args = parser.parse_args()

    from rlgen import runtime

    runtime.configure(runtime.RuntimeConfig(threads=args.threads, seed=0))
    from rlgen.runs import create_run
    from rlgen.supervised.training import Trainer, default_config

    def one(with_run: bool) -> float:
        trainer = Trainer("perceptron", default_config("perceptron", epochs=args.epochs))
        with tempfile.TemporaryDirectory() as tmp:
            run = create_run("supervised", "perceptron", out=f"{tmp}/run") if with_run else None
            start = time.perf_counter()
            trainer.fit(run, verbose=0)
            return time.perf_counter() - start

    one(False)  # warm-up: tracing, first-call costs
    times: dict[str, list[float]] = {"with_run": [], "without_run": []}
    for _ in range(args.rounds):
        times["with_run"].append(one(True))
        times["without_run"].append(one(False))
    med = {k: statistics.median(v) for k, v in times.items()}
    print(
        json.dumps(
            {
                "epochs": args.epochs,
                "threads": args.threads,
                "with_run_s": round(med["with_run"], 2),
                "without_run_s": round(med["without_run"], 2),
                "ratio": round(med["with_run"] / med["without_run"], 2),
                "rounds": {k: [round(t, 2) for t in v] for k, v in times.items()},
            }
        )
    )


if __name__ == "__main__":
    main()
