"""DQN training speed on CartPole-v1 with 1 vs 2 TensorFlow threads (the agents' default),
and with env copies side by side (``--n-envs``).

Prints ONE JSON line: env steps/s of the CartPole preset (rl-zoo compute pattern) and of one
gradient step per env step, per thread count and env-copy count, in fresh processes run
alternately (so background load hits each alike), best of ``--repeats``.

    python benchmarks/dqn_threads.py --steps 10000 --repeats 2 --n-envs 1,16
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys

CHILD = """
import json, sys, time
from rlgen import runtime
runtime.configure(runtime.RuntimeConfig(threads=int(sys.argv[1])))
from rlgen.agents import DQNAgent, dqn_config_for
overrides = {} if sys.argv[3] == "zoo" else dict(train_freq=1, gradient_steps=1)
cfg = dqn_config_for("CartPole-v1", learning_starts=1000, n_envs=int(sys.argv[4]), **overrides)
agent = DQNAgent("CartPole-v1", cfg, seed=0)
agent.learn(1500, progress=False)  # trace and compile first
t = time.perf_counter()
agent.learn(int(sys.argv[2]), progress=False)
print(json.dumps(int(sys.argv[2]) / (time.perf_counter() - t)))
"""


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--steps", type=int, default=10_000)
    p.add_argument("--repeats", type=int, default=2)
    p.add_argument("--n-envs", default="1", help="comma list of env-copy counts (1 thread)")
    a = p.parse_args()
    runs = [(1, 1), (2, 1)] + [(1, int(k)) for k in a.n_envs.split(",") if int(k) != 1]
    best: dict[str, float] = {}
    for _ in range(a.repeats):
        for pattern in ("zoo", "1grad"):
            for threads, n_envs in runs:
                args = [str(threads), str(a.steps), pattern, str(n_envs)]
                out = subprocess.run(
                    [sys.executable, "-c", CHILD, *args],
                    capture_output=True,
                    text=True,
                    check=True,
                ).stdout
                sps = json.loads(out.strip().splitlines()[-1])
                key = f"{pattern}_threads{threads}_envs{n_envs}_steps_per_s"
                best[key] = round(max(best.get(key, 0.0), sps), 1)
    print(json.dumps({"benchmark": "dqn_threads", "steps": a.steps, **best}))


if __name__ == "__main__":
    main()
