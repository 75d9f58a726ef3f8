"""Reinforcement-learning agents for Gymnasium: DQN and REINFORCE, Keras on TensorFlow.

Imports are lazy: ``import rlgen.agents.configs`` (the hyper-parameters, used by the CLI's
``--help``) does not load TensorFlow; ``from rlgen.agents import DQNAgent`` does.
"""

from __future__ import annotations

from typing import Any

_EXPORTS = {
    "DQNConfig": "rlgen.agents.configs",
    "ReinforceConfig": "rlgen.agents.configs",
    "DQN_PRESETS": "rlgen.agents.configs",
    "REINFORCE_PRESETS": "rlgen.agents.configs",
    "dqn_config_for": "rlgen.agents.configs",
    "reinforce_config_for": "rlgen.agents.configs",
    "ReplayBuffer": "rlgen.agents.replay",
    "DQNAgent": "rlgen.agents.dqn",
    "DQN": "rlgen.agents.dqn",
    "TrainingDiverged": "rlgen.errors",
    "ReinforceAgent": "rlgen.agents.reinforce",
    "evaluate": "rlgen.agents.evaluation",
    "episode_returns": "rlgen.agents.evaluation",
    "Callback": "rlgen.agents.callbacks",
    "EvalCallback": "rlgen.agents.callbacks",
    "CheckpointCallback": "rlgen.agents.callbacks",
    "TensorBoardCallback": "rlgen.agents.callbacks",
    "ProgressBarCallback": "rlgen.agents.callbacks",
    "train_run": "rlgen.agents.training",
    "evaluate_run": "rlgen.agents.training",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    from rlgen.runtime import lazy_export

    return lazy_export(__name__, _EXPORTS, name)
