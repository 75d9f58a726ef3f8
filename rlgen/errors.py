"""The one exception type the command line turns into a single line and exit status 2."""


class UsageError(Exception):
    """A bad input from the user: the message names the problem and the fix."""


class TrainingDiverged(UsageError):
    """A loss became NaN or inf: training stopped, and the last good checkpoint is kept."""
