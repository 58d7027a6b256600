"""Errors meant for people: one line that says what was wrong and where, exit code 2."""

from __future__ import annotations

EXIT_BAD_INPUT = 2  # the person's input (a file, a flag, a model name) was wrong


class RippleError(Exception):
    """A problem the person can fix. `str(err)` is the whole message, one line."""

    exit_code = EXIT_BAD_INPUT


class InputError(RippleError):
    """A file or value the person gave us is unreadable or invalid."""

    def __init__(self, where: str, message: str):
        self.where = where
        self.message = message
        super().__init__(f"{where}: {message}")


class ModelError(RippleError):
    """A model could not be found or loaded."""
