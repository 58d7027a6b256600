"""The command tree: `ripple` and its groups, and how a command's end becomes an exit code.

Exit codes: 0 done; 1 a job ran and failed (some of a batch's jobs); 2 a refusal (a bad file,
flag, setting or model name: one line naming it, nothing written); 3 an internal error (a bug:
RIPPLE_DEBUG=1 shows its traceback); 130 interrupted.
"""

from __future__ import annotations

import os
import sys

import typer
from rich.console import Console

from ripple.errors import RippleError

EXIT_INTERNAL = 3

app = typer.Typer(
    name="ripple",
    help="Game commentary from game states, videos and live games.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)
err = Console(stderr=True)


class RunByDefault(typer.core.TyperGroup):
    """`ripple batch DIR` means `ripple batch run DIR`; `ripple batch status OUT` stays itself."""

    default_command = "run"

    def parse_args(self, ctx, args):
        if args and args[0] not in self.commands and args[0] not in ("--help", "-h"):
            args = [self.default_command, *args]
        return super().parse_args(ctx, args)


def group(name: str, help: str, **kwargs) -> typer.Typer:
    sub = typer.Typer(**{"no_args_is_help": True, "rich_markup_mode": None, **kwargs}, help=help)
    app.add_typer(sub, name=name)
    return sub


batch_app = group("batch", "Every recording and game-state file in a folder through transcribe, generate and "
                           "narrate: resumable, on local workers or a Ray cluster.", cls=RunByDefault)
record_app = group("record", "A scripted agent plays a real game: gameplay.mp4 and timeline.jsonl (the game-state "
                             "format of `generate` and `narrate --states`).")
live_app = group("live", "Play a real game at its own speed and comment on it as it happens.")
reward_app = group("reward", "The reward model that learns people's picks.")
models_app = group("models", "The models Ripple knows, and installing the packages that carry them.",
                   no_args_is_help=False)  # `ripple models` alone lists them
export_app = group("export", "What people picked, for use elsewhere: `ripple export best`.")


def print_json(data) -> None:
    """A command's result on stdout as JSON (--json), its messages staying on stderr."""
    import json

    sys.stdout.write(json.dumps(data, indent=2, ensure_ascii=False, default=str) + "\n")


def _is_usage_error(exc: Exception) -> bool:
    """click's ClickException, or the copy of it that newer typer releases carry instead of
    depending on click: the two share no class, so it is told by what it offers."""
    return hasattr(exc, "format_message") and isinstance(getattr(exc, "exit_code", None), int)


def main() -> None:
    """Entry point: a refusal is one line on stderr and exit code 2, a bug exit code 3."""
    try:
        code = app(standalone_mode=False)  # a command's typer.Exit(n) comes back as n
    except RippleError as exc:
        if os.environ.get("RIPPLE_DEBUG"):
            raise
        print(f"ripple: error: {exc}", file=sys.stderr)
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        print("ripple: interrupted", file=sys.stderr)
        sys.exit(130)
    except Exception as exc:  # usage errors (unknown option, bad value, missing argument) and our own bugs
        if _is_usage_error(exc):
            where = exc.ctx.command_path if getattr(exc, "ctx", None) else "ripple"
            print(f"ripple: error: {exc.format_message()} (see '{where} --help')", file=sys.stderr)
            sys.exit(exc.exit_code)
        if isinstance(exc, typer.Abort):  # Ctrl-C at a prompt
            sys.exit(1)
        if os.environ.get("RIPPLE_DEBUG"):
            raise
        print(f"ripple: internal error: {type(exc).__name__}: {exc} (RIPPLE_DEBUG=1 shows the traceback)",
              file=sys.stderr)
        sys.exit(EXIT_INTERNAL)
    if isinstance(code, int) and code:
        sys.exit(code)
