"""ReplayBuffer: ring wrap-around, uniform sampling, .npz round trip, clear errors."""

from __future__ import annotations

import numpy as np
import pytest

from rlgen.agents.replay import ReplayBuffer
from rlgen.errors import UsageError


def _fill(buf: ReplayBuffer, n: int) -> None:
    for i in range(n):
        buf.add(np.full(3, i), i % 2, float(i), np.full(3, i + 1), terminated=(i % 5 == 4))


def test_wraps_around_and_overwrites_oldest():
    buf = ReplayBuffer(capacity=4, obs_dim=3)
    _fill(buf, 6)
    assert len(buf) == 4 and buf.pos == 2
    # slots 0, 1 hold transitions 4, 5; slots 2, 3 still hold 2, 3
    assert buf.rewards.tolist() == [4.0, 5.0, 2.0, 3.0]
    assert buf.obs[:, 0].tolist() == [4, 5, 2, 3]
    assert buf.next_obs[:, 0].tolist() == [5, 6, 3, 4]
    assert buf.terminated.tolist() == [1.0, 0.0, 0.0, 0.0]
    assert buf.actions.tolist() == [0, 1, 0, 1]


def test_sample_shapes_and_only_filled_slots():
    buf = ReplayBuffer(capacity=100, obs_dim=3)
    _fill(buf, 10)
    rng = np.random.default_rng(0)
    obs, act, rew, nxt, term = buf.sample(32, rng)
    assert obs.shape == (32, 3) and act.shape == (32,) and term.shape == (32,)
    assert obs.dtype == np.float32 and act.dtype == np.int32
    assert rew.max() <= 9  # never an unfilled slot
    np.testing.assert_array_equal(nxt[:, 0], obs[:, 0] + 1)  # rows stay aligned
    many = buf.sample(8, rng, n_batches=5)
    assert many[0].shape == (5, 8, 3) and many[1].shape == (5, 8)


def test_sampling_is_roughly_uniform():
    buf = ReplayBuffer(capacity=10, obs_dim=1)
    for i in range(10):
        buf.add([i], 0, float(i), [i], False)
    _, _, rew, _, _ = buf.sample(20_000, np.random.default_rng(1))
    counts = np.bincount(rew.astype(int), minlength=10)
    assert counts.min() > 1_700 and counts.max() < 2_300


def test_save_load_round_trip(tmp_path):
    buf = ReplayBuffer(capacity=8, obs_dim=3)
    _fill(buf, 11)
    path = buf.save(tmp_path / "replay.npz")
    back = ReplayBuffer.load(path)
    assert (back.capacity, back.obs_dim, back.pos, back.size) == (8, 3, 3, 8)
    for name in ReplayBuffer.FIELDS:
        np.testing.assert_array_equal(getattr(back, name), getattr(buf, name))
    rng1, rng2 = np.random.default_rng(3), np.random.default_rng(3)
    for a, b in zip(buf.sample(5, rng1), back.sample(5, rng2)):
        np.testing.assert_array_equal(a, b)


def test_load_missing_or_corrupt_is_a_usage_error(tmp_path):
    with pytest.raises(UsageError, match="missing"):
        ReplayBuffer.load(tmp_path / "nope.npz")
    bad = tmp_path / "bad.npz"
    bad.write_bytes(b"not a zip")
    with pytest.raises(UsageError, match="corrupt"):
        ReplayBuffer.load(bad)
