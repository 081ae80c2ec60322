"""Errors the CLI turns into a clear message and exit code 2 (bad input), instead of a traceback."""


class UsageError(Exception):
    """Bad input from the user: an unknown name, a malformed grid, an impossible request."""


class MissingAssetError(UsageError):
    """An offline asset package (model or dataset files) is not installed; the message says how."""


def did_you_mean(name: str, choices) -> str:
    """``". Did you mean 'x'?"`` for the closest of ``choices`` to a misspelt ``name`` (empty when none is close)."""
    import difflib

    close = difflib.get_close_matches(name, [str(c) for c in choices], n=2)
    return f". Did you mean {' or '.join(map(repr, close))}?" if close else ""
