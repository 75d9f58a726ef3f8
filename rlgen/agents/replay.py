"""A preallocated NumPy ring buffer of transitions with uniform sampling (Lin 1992; DQN)."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from rlgen.errors import UsageError
from rlgen.runs import atomic_path


class ReplayBuffer:
    """Fixed-capacity transitions ``(obs, action, reward, next_obs, terminated)``.

    Arrays are allocated once; ``add`` overwrites the oldest transition when full. Only true
    termination is stored as "done": a time-limit truncation still bootstraps from next_obs.
    """

    FIELDS = ("obs", "actions", "rewards", "next_obs", "terminated")

    def __init__(self, capacity: int, obs_dim: int) -> None:
        if capacity <= 0:
            raise UsageError(f"replay buffer capacity must be > 0, got {capacity}")
        self.capacity = int(capacity)
        self.obs_dim = int(obs_dim)
        need = self.capacity * (2 * self.obs_dim + 3) * 4  # bytes, every field 4 bytes wide
        memory = physical_memory()
        too_big = (
            f"--buffer-size {self.capacity:,} needs {need / 2**30:,.1f} GiB for the replay "
            f"buffer of {self.obs_dim}-value observations"
        )
        if memory and need > memory:
            raise UsageError(
                f"{too_big}, more than this machine's {memory / 2**30:.0f} GiB; give a smaller one"
            )
        try:
            self.obs = np.zeros((capacity, obs_dim), np.float32)
            self.next_obs = np.zeros((capacity, obs_dim), np.float32)
            self.actions = np.zeros(capacity, np.int32)
            self.rewards = np.zeros(capacity, np.float32)
            self.terminated = np.zeros(capacity, np.float32)
        except MemoryError:
            raise UsageError(
                f"{too_big}, which could not be allocated; give a smaller one"
            ) from None
        self.pos = 0
        self.size = 0

    def __len__(self) -> int:
        return self.size

    def add(self, obs, action: int, reward: float, next_obs, terminated: bool) -> None:
        i = self.pos
        self.obs[i] = np.reshape(obs, -1)
        self.actions[i] = action
        self.rewards[i] = reward
        self.next_obs[i] = np.reshape(next_obs, -1)
        self.terminated[i] = float(terminated)
        self.pos = (i + 1) % self.capacity
        self.size = min(self.size + 1, self.capacity)

    def sample(
        self, batch_size: int, rng: np.random.Generator, n_batches: int | None = None
    ) -> tuple[np.ndarray, ...]:
        """Uniformly sampled transitions (with replacement), shaped (batch, ...) or
        (n_batches, batch, ...) when ``n_batches`` is given: one draw for a whole round."""
        if self.size == 0:
            raise ValueError("cannot sample from an empty replay buffer")
        shape = (batch_size,) if n_batches is None else (n_batches, batch_size)
        idx = rng.integers(0, self.size, size=shape)
        return tuple(getattr(self, name)[idx] for name in self.FIELDS)

    def state(self) -> dict[str, np.ndarray]:
        n = self.size
        arrays = {name: getattr(self, name)[:n] for name in self.FIELDS}
        meta = np.array([self.capacity, self.obs_dim, self.pos, self.size], np.int64)
        return {**arrays, "meta": meta}

    def save(self, path: str | Path) -> Path:
        """Write the filled part and the ring position to ``path`` (.npz), atomically."""
        path = Path(path)
        with atomic_path(path) as tmp, open(tmp, "wb") as fh:
            np.savez(fh, **self.state())
        return path

    @classmethod
    def load(cls, path: str | Path) -> ReplayBuffer:
        path = Path(path)
        try:
            with np.load(path) as data:
                capacity, obs_dim, pos, size = (int(v) for v in data["meta"])
                buf = cls(capacity, obs_dim)
                for name in cls.FIELDS:
                    getattr(buf, name)[:size] = data[name]
        except FileNotFoundError:
            raise UsageError(f"replay buffer {path} is missing") from None
        except Exception as err:  # zipfile.BadZipFile, EOFError, KeyError, ValueError ...
            raise UsageError(f"replay buffer {path} is corrupt ({err})") from None
        buf.pos, buf.size = pos, size
        return buf


def physical_memory() -> int | None:
    """Bytes of physical memory, or None where the OS does not say."""
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return None
