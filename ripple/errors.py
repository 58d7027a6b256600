"""Errors meant for people: one line that says what was wrong and where, exit code 2."""

from __future__ import annotations

EXIT_BAD_INPUT = 2  # the person's input (a file, a flag, a model name) was wrong


def one_line(text: str) -> str:
    """`text` with its control characters written as escapes: a field named "a\\nb" in a
    person's file must not break the one-line error that names it."""
    if text.isprintable():
        return text
    return "".join(ch if ch.isprintable() or ch == " " else ascii(ch)[1:-1] for ch in text)


class RippleError(Exception):
    """A problem the person can fix. `str(err)` is the whole message, one line."""

    exit_code = EXIT_BAD_INPUT


class InputError(RippleError):
    """A file or value the person gave us is unreadable or invalid."""

    def __init__(self, where: str, message: str):
        self.where = one_line(str(where))
        self.message = one_line(str(message))
        super().__init__(f"{self.where}: {self.message}")


class FieldError(InputError):
    """A setting of a config is out of its range. It names the config's field (`sampling.top_p`)
    for Python callers; the command line names the flag (`--top-p`) or the ripple.toml line
    the value came from instead, through `option`: the setting's name in both."""

    def __init__(self, field: str, message: str, option: str | None = None):
        self.field = field
        self.option = option or field.rsplit(".", 1)[-1]
        super().__init__(field, message)


class ModelError(RippleError):
    """A model could not be found or loaded."""
