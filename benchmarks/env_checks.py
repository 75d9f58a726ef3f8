"""What the agents' per-step env checks cost: ``rlgen.agents.envs.step`` against a bare
``env.step`` with the float32 conversion the agents needed anyway, on CartPole-v1.

``envs.step`` checks gymnasium's five-value API, that the reward is one finite number and
that the observation has the space's size and no NaN or inf (each was an error from deep in
the training loop, or a NaN loss blamed on the rewards). The two are timed alternately in
one process, best of ``--repeats`` each round, and printed as ONE JSON line (µs per step).

    python benchmarks/env_checks.py --rounds 3
"""

from __future__ import annotations

import argparse
import json
import timeit


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--steps", type=int, default=20_000)
    p.add_argument("--repeats", type=int, default=3)
    a = p.parse_args()
    import gymnasium as gym
    import numpy as np

    from rlgen.agents import envs

    env = gym.make("CartPole-v1")
    env.reset(seed=0)

    def checked() -> None:
        _, _, terminated, truncated, _ = envs.step(env, 0, 4)
        if terminated or truncated:
            env.reset()

    def bare() -> None:
        obs, reward, terminated, truncated, _ = env.step(0)
        np.asarray(obs, np.float32).reshape(-1)
        float(reward)
        if terminated or truncated:
            env.reset()

    rounds = []
    for _ in range(a.rounds):
        times = {}
        for name, fn in (("checked", checked), ("bare", bare)):
            best = min(timeit.repeat(fn, number=a.steps, repeat=a.repeats))
            times[name] = round(best / a.steps * 1e6, 2)
        times["cost"] = round(times["checked"] - times["bare"], 2)
        rounds.append(times)
    print(json.dumps({"benchmark": "env_checks", "us_per_step": rounds}))


if __name__ == "__main__":
    main()
