"""The one exception type the command line turns into a single line and exit status 2, and
the checks every command shares."""

from typing import Any


class UsageError(ValueError):
    """A bad input from the user: the message names the problem and the fix. A ValueError,
    as Keras' and Stable-Baselines3's errors for bad arguments are, so ``except ValueError``
    catches rlgen's too."""


class TrainingDiverged(UsageError):
    """A loss became NaN or inf: training stopped, and the last good checkpoint is kept."""


SEED_LIMIT = 2**32  # NumPy's global seed must be below it; TensorFlow overflowed far above


def check_seed(seed: Any) -> int:
    """``seed`` as an int; a UsageError unless it is a whole number >= 0 and < 2**32
    (gymnasium's, NumPy's and TensorFlow's own errors for one outside are tracebacks)."""
    import numpy as np

    if (
        isinstance(seed, bool)
        or not isinstance(seed, (int, np.integer))
        or not 0 <= seed < SEED_LIMIT
    ):
        raise UsageError(f"--seed must be a whole number >= 0 and < 2**32, got {seed!r}")
    return int(seed)


def check_count(name: str, value: Any) -> int:
    """``value`` as an int; a UsageError unless it is a whole number > 0 (an integral float
    such as 1e4 is accepted, as Stable-Baselines3 does; 2.5, "3", None and True are not)."""
    import numpy as np

    whole = isinstance(value, (int, np.integer)) or (
        isinstance(value, (float, np.floating)) and float(value).is_integer()
    )
    if isinstance(value, bool) or not whole:
        raise UsageError(f"{name} must be a whole number, got {value!r}")
    if value <= 0:
        raise UsageError(f"{name} must be > 0, got {value}; give a positive number")
    return int(value)
