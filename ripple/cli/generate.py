"""`ripple generate` and `ripple narrate`: the lines of a game-state file, and a narrated video."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Literal, Optional

import typer
from rich.console import Console

import ripple.cli.options as o
from ripple.cli.app import app, err
from ripple.cli.settings import Command
from ripple.config import SamplingConfig as S
from ripple.schedule import ScheduleConfig
from ripple.video.frames import FramesConfig
from ripple.video.render import RenderConfig


@app.command(cls=Command)
@o.with_options(o.LM, o.SAMPLING, o.RANK, o.RUN)
def generate(
    ctx: typer.Context,
    state_file: Annotated[Path, typer.Argument(help="Game-state file: YAML, JSON or JSON Lines.")],
    seed: o.Seed = S.seed,
    ground: o.Ground = S.ground,
    redraws: o.Redraws = S.redraws,
    as_json: o.Json = False,
    **settings,
) -> None:
    """Ranked commentary lines for each moment of a game-state file."""
    from ripple.generate import generate_commentary, generate_config
    from ripple.runs import write_run
    from ripple.show import print_run, progress_bar

    cfg = generate_config(ctx.params, state_file)
    with progress_bar(err) as progress:
        run = generate_commentary(cfg, progress)
    folder = write_run(run, cfg.out_dir)
    if as_json:
        sys.stdout.write(json.dumps(run.to_json(), indent=2, ensure_ascii=False) + "\n")
    else:
        print_run(Console(), run)
    err.print(f"[green]wrote[/] {folder}/commentary.json and commentary.md")


@app.command(cls=Command)
@o.with_options(o.LM, o.SAMPLING, o.RANK, o.VOICE, o.RUN)
def narrate(
    ctx: typer.Context,
    video: Annotated[Path, typer.Argument(help="Recorded gameplay video (MP4, MKV, MOV, WebM ...).")],
    states: Annotated[Optional[Path], typer.Option(help="Game-state timeline (the format of `generate`).")] = None,
    captions: Annotated[Optional[Path], typer.Option(help="Your notes: time → caption as CSV, JSON or SRT.")] = None,
    game: Annotated[Optional[str], typer.Option(help="The game's name (default: the timeline's).")] = None,
    output: Annotated[Optional[Path], typer.Option("--output", "-o", help="Also write the narrated MP4 here "
                                                   "(with .srt/.vtt beside it).")] = None,
    every: Annotated[float, typer.Option(help="A keyframe at least every N seconds.")] = FramesConfig.sample_every_s,
    cut_threshold: Annotated[float, typer.Option(help="Histogram distance (0-1) that marks a scene cut.")] =
        FramesConfig.cut_threshold,
    ocr: Annotated[Literal["auto", "on", "off"], typer.Option(
        help="Read on-screen text: auto (when tesseract is installed and no --states).")] = "auto",
    describer: Annotated[Optional[Path], typer.Option(help="A local image-to-text model folder.")] = None,
    seed: o.Seed = S.seed,
    ground: o.Ground = S.ground,
    min_gap: Annotated[float, typer.Option(help="Seconds of quiet between lines.")] = ScheduleConfig.min_gap_s,
    max_delay: Annotated[float, typer.Option(help="How late after its moment a line may start.")] =
        ScheduleConfig.max_delay_s,
    duck: Annotated[float, typer.Option(help="Game audio gain under narration (0-1).")] = RenderConfig.duck,
    burn_subtitles: Annotated[bool, typer.Option(help="Draw the lines into the picture (re-encodes).")] = False,
    renderer: Annotated[Literal["auto", "fast", "moviepy"], typer.Option(
        help="fast: ffmpeg, copies the video; moviepy: re-encodes.")] = "auto",
    as_json: o.Json = False,
    **settings,
) -> None:
    """A narrated copy of a gameplay video: moments found, commented, ranked, spoken and mixed in."""
    from ripple.narrate import narrate as run_narrate
    from ripple.narrate import narrate_config
    from ripple.show import progress_bar

    cfg = narrate_config(ctx.params)
    with progress_bar(err) as progress:
        result = run_narrate(cfg, progress)
    if as_json:
        sys.stdout.write(json.dumps(result.to_json(), indent=2, ensure_ascii=False) + "\n")
    else:
        _print_narration(result, video)
    err.print(f"[green]wrote[/] {result.folder}/narrated.mp4 ({len(result.lines)} lines; video "
              f"{result.video_handling}), narrated.srt/.vtt, keyframes.png, timeline.png, commentary.json")
    if output:
        err.print(f"[green]wrote[/] {output}")


def _print_narration(result, video: Path) -> None:
    from rich.table import Table

    table = Table("start", "end", "moment", "line", title=f"{video} ({result.probe.duration:.1f} s)")
    for line in result.lines:
        table.add_row(f"{line.start:.1f}", f"{line.end:.1f}", str(line.moment + 1), line.text)
    Console().print(table)
    for d in result.dropped:
        err.print(f"  silent at {d.time:.1f}s: {d.reason}", markup=False, highlight=False)
