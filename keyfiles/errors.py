"""The key-file store's one error: a file or variable that cannot be trusted or understood."""

from __future__ import annotations


class KeyFileError(Exception):
    """A key file or key variable is unreadable, malformed or readable by others."""
