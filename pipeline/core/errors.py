"""The error classes a user can cause; the CLI turns each into a one-line message."""


class GenreportError(Exception):
    """A problem with the user's input or environment, reported without a traceback."""


class DataError(GenreportError):
    """The Fashion-MNIST files are missing, truncated, corrupt or not the expected data."""


class CheckpointError(GenreportError):
    """A checkpoints folder or model file cannot be used."""


class ConfigError(GenreportError):
    """Options that are out of range or inconsistent with each other."""


class ResultsError(GenreportError):
    """Saved results that are missing or unreadable."""
