"""DQN on CartPole-v1: rlgen with its defaults against Stable-Baselines3 (rl-zoo settings).

Prints ONE JSON line. Per seed: the step of the first evaluation (20 greedy episodes) at or
above 475 ("first_hit"), the step from which every later evaluation stayed >= 475
("stable"), the best model's greedy mean over 100 fresh episodes ("best100", the figure the
bar uses: >= 475 within 50,000 steps), the final model's ("final100"), and training
wall-clock with evaluations excluded. ``--sb3`` trains SB3's DQN with rl-zoo's tuned
CartPole-v1 hyper-parameters in the same process, same thread count, same evaluation.
``--throughput`` adds env steps/s with one gradient step per env step. With ``--sb3``,
"rlgen_api" also times rlgen through the Python API with only the evaluation callback, the
same set-up as the SB3 run (the CLI path also writes checkpoints and TensorBoard events).

    python benchmarks/cartpole_dqn.py --seeds 0,1,2,3,4 --sb3 --sb3-seeds 0,1 --throughput
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

THRESHOLD = 475.0
ZOO = dict(  # rl-baselines3-zoo hyperparams/dqn.yml, CartPole-v1
    learning_rate=2.3e-3,
    batch_size=64,
    buffer_size=100_000,
    learning_starts=1_000,
    gamma=0.99,
    target_update_interval=10,
    train_freq=256,
    gradient_steps=128,
    exploration_fraction=0.16,
    exploration_final_eps=0.04,
)


def _stable(history: list[dict]) -> int | None:
    """First eval step from which every later evaluation is >= THRESHOLD."""
    step = None
    for row in history:
        if row["mean_reward"] >= THRESHOLD:
            step = row["step"] if step is None else step
        else:
            step = None
    return step


def _first(history: list[dict], key: str = "step"):
    hits = [row[key] for row in history if row["mean_reward"] >= THRESHOLD]
    return hits[0] if hits else None


def rlgen_seed(seed: int, steps: int, eval_every: int, eval_episodes: int, root: Path) -> dict:
    from rlgen import runtime
    from rlgen.agents import DQNAgent, dqn_config_for, episode_returns
    from rlgen.agents.training import train_run
    from rlgen.runs import read_csv

    rt = runtime.configure(runtime.RuntimeConfig(seed=seed), default_threads=1)
    run, summary = train_run(
        "dqn",
        "CartPole-v1",
        dqn_config_for("CartPole-v1"),
        rt,
        steps=steps,
        eval_every=eval_every,
        eval_episodes=eval_episodes,
        out=str(root / f"rlgen-{seed}"),
        quiet=True,
    )
    history = [
        {k: float(v) for k, v in row.items()} for row in read_csv(run.file("evaluations.csv"))
    ]
    best = DQNAgent.load(run.file("best"))
    final = DQNAgent.load(run.path)
    return {
        "seed": seed,
        "first_hit": _first(history),
        "stable": _stable(history),
        "best100": float(np.mean(episode_returns(best, "CartPole-v1", 100, seed=1_000))),
        "final100": float(np.mean(episode_returns(final, "CartPole-v1", 100, seed=1_000))),
        "train_seconds": round(history[-1]["train_seconds"], 2),
        "seconds_to_first_hit": _first(history, "train_seconds"),
    }


def rlgen_api_seed(seed: int, steps: int, eval_every: int, eval_episodes: int) -> dict:
    """rlgen's DQN through the Python API with only the evaluation callback: the same
    set-up as the SB3 run (no checkpoints or TensorBoard), for a like-for-like wall-clock."""
    from rlgen.agents import DQNAgent, EvalCallback

    agent = DQNAgent("CartPole-v1", seed=seed)
    ev = EvalCallback("CartPole-v1", eval_every=eval_every, episodes=eval_episodes)
    t0 = time.perf_counter()
    agent.learn(steps, callbacks=[ev], progress=False)
    total = time.perf_counter() - t0
    return {
        "seed": seed,
        "first_hit": _first(ev.history),
        "train_seconds": round(total - ev.eval_seconds, 2),
        "seconds_to_first_hit": _first(ev.history, "train_seconds"),
    }


class _SB3Policy:
    def __init__(self, model) -> None:
        self.model = model
        self.env_id = "CartPole-v1"

    def act(self, obs, greedy=True):
        return self.model.predict(np.asarray(obs, np.float32), deterministic=True)[0]


def sb3_seed(seed: int, steps: int, eval_every: int, eval_episodes: int) -> dict:
    import torch
    from stable_baselines3 import DQN
    from stable_baselines3.common.callbacks import BaseCallback

    from rlgen.agents import episode_returns

    torch.set_num_threads(1)

    class Eval(BaseCallback):
        def __init__(self) -> None:
            super().__init__()
            self.history: list[dict] = []
            self.eval_seconds = 0.0
            self.t0 = time.perf_counter()

        def _on_step(self) -> bool:
            if self.num_timesteps % eval_every == 0:
                start = time.perf_counter()
                seed0 = 10_000 + len(self.history) * eval_episodes
                r = episode_returns(_SB3Policy(self.model), "CartPole-v1", eval_episodes, seed0)
                self.history.append(
                    {
                        "step": self.num_timesteps,
                        "mean_reward": float(np.mean(r)),
                        "train_seconds": start - self.t0 - self.eval_seconds,
                    }
                )
                self.eval_seconds += time.perf_counter() - start
            return True

    model = DQN(
        "MlpPolicy",
        "CartPole-v1",
        policy_kwargs=dict(net_arch=[256, 256]),
        seed=seed,
        device="cpu",
        verbose=0,
        **ZOO,
    )
    cb = Eval()
    cb.t0 = time.perf_counter()
    model.learn(steps, callback=cb)
    total = time.perf_counter() - cb.t0
    history = cb.history
    best100 = None  # SB3 keeps no best model without EvalCallback's save; final is reported
    return {
        "seed": seed,
        "first_hit": _first(history),
        "stable": _stable(history),
        "best100": best100,
        "final100": float(np.mean(episode_returns(_SB3Policy(model), "CartPole-v1", 100, 1_000))),
        "train_seconds": round(total - cb.eval_seconds, 2),
        "seconds_to_first_hit": _first(history, "train_seconds"),
    }


def throughput(steps: int = 10_000) -> dict:
    """Env steps/s of rlgen's DQN with one gradient step per env step (no evaluation)."""
    from rlgen.agents import DQNAgent, dqn_config_for

    cfg = dqn_config_for("CartPole-v1", train_freq=1, gradient_steps=1, learning_starts=1_000)
    agent = DQNAgent("CartPole-v1", cfg, seed=0)
    agent.learn(1_500, progress=False)  # trace the compiled functions first
    t = time.perf_counter()
    agent.learn(steps, progress=False)
    return {"rlgen_steps_per_s_1grad_per_step": round(steps / (time.perf_counter() - t), 1)}


def _agg(rows: list[dict], steps: int) -> dict:
    ok = [r for r in rows if (r["best100"] or r["final100"]) >= THRESHOLD]
    hit = [r["seconds_to_first_hit"] for r in rows if r["seconds_to_first_hit"] is not None]
    return {
        "solved": f"{len(ok)}/{len(rows)}",
        "mean_train_seconds": round(float(np.mean([r["train_seconds"] for r in rows])), 2),
        "steps_per_s": round(steps / float(np.mean([r["train_seconds"] for r in rows])), 1),
        "mean_seconds_to_first_hit": round(float(np.mean(hit)), 2) if hit else None,
        "seeds_hit": len(hit),
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seeds", default="0,1,2,3,4")
    p.add_argument("--steps", type=int, default=50_000)
    p.add_argument("--eval-every", type=int, default=2_500)
    p.add_argument("--eval-episodes", type=int, default=20)
    p.add_argument("--sb3", action="store_true", help="also train SB3's DQN")
    p.add_argument("--sb3-seeds", default=None, help="seeds for SB3 (default: --seeds)")
    p.add_argument("--throughput", action="store_true")
    a = p.parse_args()
    seeds = [int(s) for s in a.seeds.split(",") if s]
    out: dict = {"benchmark": "cartpole_dqn", "steps": a.steps, "threads": 1}
    sb3_seeds = [int(s) for s in (a.sb3_seeds or a.seeds).split(",") if s] if a.sb3 else []
    rows, sb3_rows, api_rows = [], [], []
    with tempfile.TemporaryDirectory() as tmp:
        # rlgen and SB3 alternate seed by seed, so background load hits both alike.
        for s in sorted(set(seeds) | set(sb3_seeds)):
            if s in seeds:
                rows.append(rlgen_seed(s, a.steps, a.eval_every, a.eval_episodes, Path(tmp)))
                print(json.dumps({"rlgen": rows[-1]}), file=sys.stderr, flush=True)
            if a.sb3 and s in seeds:
                api_rows.append(rlgen_api_seed(s, a.steps, a.eval_every, a.eval_episodes))
                print(json.dumps({"rlgen_api": api_rows[-1]}), file=sys.stderr, flush=True)
            if s in sb3_seeds:
                sb3_rows.append(sb3_seed(s, a.steps, a.eval_every, a.eval_episodes))
                print(json.dumps({"sb3": sb3_rows[-1]}), file=sys.stderr, flush=True)
    out["rlgen"] = {"per_seed": rows, **_agg(rows, a.steps)}
    if a.throughput:
        out.update(throughput())
    if a.sb3:
        out["sb3"] = {"per_seed": sb3_rows, **_agg(sb3_rows, a.steps)}
        # Ratios over the seeds both ran, so the same background load is compared.
        common = set(seeds) & set(sb3_seeds)
        mine = _agg([r for r in rows if r["seed"] in common], a.steps)
        theirs = _agg([r for r in sb3_rows if r["seed"] in common], a.steps)
        out["common_seeds"] = sorted(common)
        api = [r for r in api_rows if r["seed"] in common]
        api_train = float(np.mean([r["train_seconds"] for r in api]))
        api_hit = [r["seconds_to_first_hit"] for r in api if r["seconds_to_first_hit"]]
        out["rlgen_api"] = {
            "per_seed": api_rows,
            "mean_train_seconds": round(api_train, 2),
            "mean_seconds_to_first_hit": round(float(np.mean(api_hit)), 2) if api_hit else None,
        }
        out["ratio_train_seconds_rlgen_api_over_sb3"] = round(
            api_train / theirs["mean_train_seconds"], 3
        )
        if api_hit and theirs["mean_seconds_to_first_hit"]:
            out["ratio_time_to_solve_rlgen_api_over_sb3"] = round(
                float(np.mean(api_hit)) / theirs["mean_seconds_to_first_hit"], 3
            )
        out["ratio_train_seconds_rlgen_over_sb3"] = round(
            mine["mean_train_seconds"] / theirs["mean_train_seconds"], 3
        )
        if mine["mean_seconds_to_first_hit"] and theirs["mean_seconds_to_first_hit"]:
            out["ratio_time_to_solve_rlgen_over_sb3"] = round(
                mine["mean_seconds_to_first_hit"] / theirs["mean_seconds_to_first_hit"], 3
            )
    print(json.dumps(out))


if __name__ == "__main__":
    main()
