"""Agent configs: flags / TOML / JSON round trips, validation, presets, no TensorFlow import."""

from __future__ import annotations

import argparse
import json

import pytest

from rlgen import config as cfgmod
from rlgen.agents.configs import DQN_PRESETS, REINFORCE_PRESETS, DQNConfig, ReinforceConfig


@pytest.mark.parametrize("cls", [DQNConfig, ReinforceConfig])
def test_round_trip_flags_toml_json(cls, tmp_path):
    changes = {}
    for key, value in cfgmod.to_dict(cls()).items():
        if isinstance(value, bool):
            changes[key] = not value
        elif isinstance(value, int):
            changes[key] = value + 1
        elif isinstance(value, float):
            changes[key] = min(value * 0.5, 0.5)
    changes["hidden_sizes"] = (32, 16, 8)
    cfg = cfgmod.build(cls, changes)
    parser = argparse.ArgumentParser()
    cfgmod.add_flags(parser, cls)
    assert cfgmod.build(cls, vars(parser.parse_args(cfgmod.to_flags(cfg)))) == cfg
    toml = tmp_path / "c.toml"
    toml.write_text(cfgmod.to_toml(cfg))
    assert cfgmod.build(cls, cfgmod.read_toml(toml)) == cfg
    assert cfgmod.build(cls, json.loads(json.dumps(cfgmod.to_dict(cfg)))) == cfg


@pytest.mark.parametrize(
    "cls, values",
    [
        (DQNConfig, {"gamma": 1.0}),
        (DQNConfig, {"tau": 0.0}),
        (DQNConfig, {"batch_size": 0}),
        (DQNConfig, {"learning_starts": -1}),
        (DQNConfig, {"exploration_final_eps": 1.5}),
        (DQNConfig, {"hidden_sizes": (64, 0)}),
        (ReinforceConfig, {"entropy_coef": -0.1}),
        (ReinforceConfig, {"episodes_per_update": 0}),
    ],
)
def test_invalid_values_are_refused(cls, values):
    (name,) = values  # named as the Python argument it is
    with pytest.raises(ValueError, match=f"^{name}[ =]"):
        cls(**values)


def test_tau_states_one_range():
    for tau in (0.0, 1.5):  # 1.5 was told "[0, 1]", 0 "(0, 1]"
        with pytest.raises(ValueError, match=rf"^tau must be in \(0, 1\], got {tau}"):
            DQNConfig(tau=tau)


NAN, INF = float("nan"), float("inf")


@pytest.mark.parametrize(
    "cls, values",
    [
        (DQNConfig, {"learning_rate": NAN}),
        (DQNConfig, {"learning_rate": INF}),
        (DQNConfig, {"max_grad_norm": NAN}),
        (DQNConfig, {"huber_delta": INF}),
        (ReinforceConfig, {"entropy_coef": NAN}),
        (ReinforceConfig, {"entropy_coef": INF}),
        (ReinforceConfig, {"value_learning_rate": NAN}),
        (ReinforceConfig, {"max_grad_norm": -INF}),
    ],
)
def test_non_finite_values_are_refused(cls, values):
    # NaN passed every check ("nan <= 0" is False), and inf every "> 0" check
    (name,) = values
    with pytest.raises(ValueError, match=f"^{name} must be a finite number"):
        cls(**values)


def test_presets_are_valid_configs():
    for table, cls in ((DQN_PRESETS, DQNConfig), (REINFORCE_PRESETS, ReinforceConfig)):
        for env_id, values in table.items():
            assert isinstance(cls(**values), cls), env_id
