"""The one exception type users see.

Every error caused by bad input (a malformed genotype, a missing data directory, a
bad recipe value) is raised as :class:`NasError` with a single line that names the
field or file and says what was expected. The command line prints that line and
exits with status 2 instead of showing a traceback.
"""

from __future__ import annotations


class NasError(ValueError):
    """A user-facing, one-line error about bad input."""

    def __init__(self, message: str) -> None:
        # Keep messages on one line so the CLI can print them verbatim.
        super().__init__(" ".join(str(message).split()))


def at(path: str, message: str) -> NasError:
    """Build an error located at ``path`` (e.g. ``normal[3]``)."""
    return NasError(f"{path}: {message}" if path else message)
