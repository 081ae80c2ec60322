"""Errors the CLI turns into a clear message and exit code 2 (bad input), instead of a traceback."""


class UsageError(Exception):
    """Bad input from the user: an unknown name, a malformed grid, an impossible request."""


class MissingAssetError(UsageError):
    """An offline asset package (model or dataset files) is not installed; the message says how."""
