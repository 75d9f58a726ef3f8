"""REINFORCE on CartPole-v1: rlgen with its defaults against a plain PyTorch REINFORCE.

Prints ONE JSON line. Per seed: the episode of the first evaluation (20 greedy episodes) at
or above 475, the best model's greedy mean over 100 fresh episodes ("best100": the bar is
>= 475 within 1,000 training episodes for 5 of 5 seeds), and training wall-clock with
evaluations excluded. ``--torch`` trains the same algorithm (same network, baseline,
batch of episodes, learning rates, returns of time-limit cuts continued from V(s_T)) written
plainly in PyTorch, one thread, in the same run.

    python benchmarks/reinforce_cartpole.py --seeds 0,1,2,3,4 --torch
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


def rlgen_seed(seed: int, episodes: int, eval_every: int, eval_episodes: int, root: Path):
    from rlgen import runtime
    from rlgen.agents import ReinforceAgent, episode_returns, reinforce_config_for
    from rlgen.agents.training import train_run
    from rlgen.runs import read_csv

    rt = runtime.configure(runtime.RuntimeConfig(seed=seed), default_threads=1)
    run, summary = train_run(
        "reinforce",
        "CartPole-v1",
        reinforce_config_for("CartPole-v1"),
        rt,
        episodes=episodes,
        eval_every=eval_every,
        eval_episodes=eval_episodes,
        out=str(root / f"rlgen-{seed}"),
        quiet=True,
    )
    hist = [{k: float(v) for k, v in r.items()} for r in read_csv(run.file("evaluations.csv"))]
    best = ReinforceAgent.load(run.file("best"))
    hits = [h for h in hist if h["mean_reward"] >= THRESHOLD]
    return {
        "seed": seed,
        "first_hit_episode": int(hits[0]["episode"]) if hits else None,
        "best100": float(np.mean(episode_returns(best, "CartPole-v1", 100, seed=1_000))),
        "train_seconds": round(hist[-1]["train_seconds"], 2),
        "seconds_to_first_hit": round(hits[0]["train_seconds"], 2) if hits else None,
        "env_steps": summary["steps"],
    }


def torch_seed(seed: int, episodes: int, eval_every: int, eval_episodes: int):
    """The same REINFORCE-with-baseline in plain PyTorch (one env, one episode at a time)."""
    import gymnasium as gym
    import torch
    from torch import nn

    from rlgen.agents import reinforce_config_for
    from rlgen.agents.evaluation import episode_returns

    torch.set_num_threads(1)
    torch.manual_seed(seed)
    cfg = reinforce_config_for("CartPole-v1")
    h = cfg.hidden_sizes

    def mlp(out):
        layers, d = [], 4
        for w in h:
            layers += [nn.Linear(d, w), nn.Tanh()]
            d = w
        return nn.Sequential(*layers, nn.Linear(d, out))

    pi, v = mlp(2), mlp(1)
    popt = torch.optim.Adam(pi.parameters(), lr=cfg.learning_rate)
    vopt = torch.optim.Adam(v.parameters(), lr=cfg.value_learning_rate)

    class Greedy:  # what rlgen's evaluation asks of an agent
        env_id, algorithm, obs_dim, n_actions = "CartPole-v1", "reinforce", 4, 2

        def act(self, obs, greedy=True):
            with torch.no_grad():
                return pi(torch.as_tensor(np.asarray(obs, np.float32))).argmax(-1).numpy()

    env = gym.make("CartPole-v1")
    hist, eval_seconds, t0, n = [], 0.0, time.perf_counter(), 0
    while n < episodes:
        obs_l, act_l, ret_l = [], [], []
        for _ in range(cfg.episodes_per_update):
            o, _ = env.reset(seed=seed + n)
            rs, done = [], False
            while not done:
                with torch.no_grad():
                    logits = pi(torch.as_tensor(o, dtype=torch.float32))
                a = int(torch.distributions.Categorical(logits=logits).sample())
                obs_l.append(o)
                act_l.append(a)
                o, r, term, trunc, _ = env.step(a)
                rs.append(r)
                done = term or trunc
            g, ret = 0.0, []
            if trunc and not term:  # a time limit cut: go on from V(s_T), as rlgen does
                with torch.no_grad():
                    g = float(v(torch.as_tensor(o, dtype=torch.float32))[0])
            for r in reversed(rs):
                g = r + cfg.gamma * g
                ret.append(g)
            ret_l += ret[::-1]
            n += 1
        obs = torch.as_tensor(np.array(obs_l), dtype=torch.float32)
        act = torch.as_tensor(act_l)
        ret = torch.as_tensor(ret_l, dtype=torch.float32)
        val = v(obs).squeeze(1)
        adv = ret - val.detach()
        adv = (adv - adv.mean()) / (adv.std(unbiased=False) + 1e-8)
        logp = torch.log_softmax(pi(obs), -1).gather(1, act[:, None]).squeeze(1)
        ploss = -(logp * adv).mean()
        vloss = 0.5 * ((ret - val) ** 2).mean()
        popt.zero_grad()
        ploss.backward()
        nn.utils.clip_grad_norm_(pi.parameters(), cfg.max_grad_norm)
        popt.step()
        vopt.zero_grad()
        vloss.backward()
        vopt.step()
        if n % eval_every == 0:
            start = time.perf_counter()
            r = episode_returns(Greedy(), "CartPole-v1", eval_episodes, 10_000 + len(hist))
            hist.append({"episode": n, "mean": float(np.mean(r)), "t": start - t0 - eval_seconds})
            eval_seconds += time.perf_counter() - start
    hits = [x for x in hist if x["mean"] >= THRESHOLD]
    return {
        "seed": seed,
        "first_hit_episode": hits[0]["episode"] if hits else None,
        "train_seconds": round(time.perf_counter() - t0 - eval_seconds, 2),
        "seconds_to_first_hit": round(hits[0]["t"], 2) if hits else None,
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seeds", default="0,1,2,3,4")
    p.add_argument("--episodes", type=int, default=1_000)
    p.add_argument("--eval-every", type=int, default=50)
    p.add_argument("--eval-episodes", type=int, default=20)
    p.add_argument("--torch", action="store_true", help="also train a plain PyTorch REINFORCE")
    a = p.parse_args()
    seeds = [int(s) for s in a.seeds.split(",") if s]
    rows, trows = [], []
    with tempfile.TemporaryDirectory() as tmp:
        for s in seeds:  # alternate, so background load hits both alike
            rows.append(rlgen_seed(s, a.episodes, a.eval_every, a.eval_episodes, Path(tmp)))
            print(json.dumps({"rlgen": rows[-1]}), file=sys.stderr, flush=True)
            if a.torch:
                trows.append(torch_seed(s, a.episodes, a.eval_every, a.eval_episodes))
                print(json.dumps({"torch": trows[-1]}), file=sys.stderr, flush=True)
    out = {
        "benchmark": "reinforce_cartpole",
        "episodes": a.episodes,
        "threads": 1,
        "rlgen": {
            "per_seed": rows,
            "solved": f"{sum(r['best100'] >= THRESHOLD for r in rows)}/{len(rows)}",
            "mean_train_seconds": round(float(np.mean([r["train_seconds"] for r in rows])), 2),
        },
    }
    if trows:
        out["torch"] = {
            "per_seed": trows,
            "mean_train_seconds": round(float(np.mean([r["train_seconds"] for r in trows])), 2),
        }
        out["ratio_train_seconds_rlgen_over_torch"] = round(
            out["rlgen"]["mean_train_seconds"] / out["torch"]["mean_train_seconds"], 3
        )
    print(json.dumps(out))


if __name__ == "__main__":
    main()
