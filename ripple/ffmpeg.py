"""One home for ffmpeg: the binary imageio-ffmpeg carries (no system ffmpeg needed), the
flags every call shares, and ffmpeg's own last line of error when a call fails."""

from __future__ import annotations

import subprocess

QUIET = ("-nostdin", "-y", "-v", "error")  # no prompts, overwrite, only errors on stderr


class FfmpegError(RuntimeError):
    """ffmpeg is missing or failed; the message says what was being done, in one line."""


def binary() -> str:
    try:
        import imageio_ffmpeg
    except ImportError as exc:
        raise FfmpegError("ffmpeg comes with imageio-ffmpeg: pip install imageio-ffmpeg") from exc
    return imageio_ffmpeg.get_ffmpeg_exe()


def command(*args: str) -> list[str]:
    """The command line of one ffmpeg call with the shared flags."""
    return [binary(), *QUIET, *args]


def run(args: list[str], what: str, error=FfmpegError) -> None:
    """Run ffmpeg on `args`; `error(f"{what}: ffmpeg failed: <its last line>")` when it fails."""
    result = subprocess.run(command(*args), capture_output=True)
    if result.returncode != 0:
        lines = result.stderr.decode("utf-8", "replace").strip().splitlines()
        raise error(f"{what}: ffmpeg failed: {lines[-1] if lines else f'exit code {result.returncode}'}")
