"""`ripple ingest` and `ripple transcribe`: transcripts and recorded speech into a corpus."""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from typing import Annotated, Literal, Optional

import typer
from rich.console import Console

import ripple.cli.options as o
from ripple.cli.app import app, err, print_json
from ripple.cli.settings import Command


@app.command(cls=Command)
def ingest(
    sources: Annotated[list[Path], typer.Argument(help="Transcript files or folders (searched recursively).")],
    out: Annotated[Path, typer.Option(help="The corpus to write (JSON Lines).")] = Path("outputs/corpus.jsonl"),
    game: Annotated[Optional[str], typer.Option(help="The game of every file (else: sidecar, then file name).")] = None,
    as_json: o.Json = False,
    config: o.Config = None,
) -> None:
    """Transcripts (.vtt .srt .json3 .json .xml .txt) into one clean corpus for training."""
    from rich.table import Table

    from ripple.ingest import ingest as run_ingest

    report = run_ingest(sources, out, game)
    if as_json:
        print_json({"corpus": str(out), **asdict(report)})
    table = Table("game", "segments", "words", title=f"{out}")
    for name, count in report.per_game.most_common():
        table.add_row(name, str(count), str(report.words_per_game[name]))
    if not as_json:
        Console().print(table)
    err.print(
        f"{report.files} files, {report.segments} segments, {report.words} words, "
        f"{report.duplicates} duplicate segments dropped, {len(report.skipped)} files skipped"
    )
    for path, reason in report.skipped:
        err.print(f"  skipped {path}: {reason}", markup=False, highlight=False)


@app.command(cls=Command, name="transcribe")
def transcribe_command(
    media: Annotated[list[Path], typer.Argument(help="Recorded video or audio files.")],
    out: Annotated[Path, typer.Option(help="Transcript records to write (JSON Lines, corpus format).")] = Path(
        "outputs/transcripts.jsonl"),
    backend: Annotated[Literal["faster", "openai"], typer.Option(
        help="faster: faster-whisper (the transcribe extra); openai: openai-whisper (the whisper extra).")] = "faster",
    model: Annotated[str, typer.Option(help="Packaged whisper model (tiny.en) or a CTranslate2 folder.")] = "tiny.en",
    game: Annotated[Optional[str], typer.Option(help="The game (default: from the file name).")] = None,
    as_json: o.Json = False,
    config: o.Config = None,
) -> None:
    """Speech in recorded gameplay into transcript records, with word timestamps."""
    from ripple.speech.transcribe import TranscribeConfig, transcribe

    report = transcribe(TranscribeConfig(media=media, out=out, backend=backend, model=model, game=game))
    if as_json:
        print_json({"transcripts": str(out), **asdict(report)})
    err.print(f"{report.files} files, {report.seconds_of_speech:.1f} s of speech, {report.segments} segments, "
              f"{report.words} words -> {out}")
    for path, reason in report.skipped:
        err.print(f"  skipped {path}: {reason}", markup=False, highlight=False)
