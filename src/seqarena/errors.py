"""One error type for everything a user can get wrong: the CLI prints its message on one line and exits 2."""


class SeqarenaError(Exception):
    """A user-facing problem (bad input, bad option, missing file) with a message that says how to fix it."""


class ConfigError(SeqarenaError):
    """An unknown key, a wrong type, or a value outside the allowed set."""


class DataError(SeqarenaError):
    """A missing, empty, malformed or corrupted dataset."""
