"""`ripple record` and `ripple live`: real games played by a scripted agent, recorded or commented live."""

from __future__ import annotations

from dataclasses import asdict
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape

import ripple.cli.options as o
from ripple.cli.app import err, live_app, print_json, record_app
from ripple.cli.settings import Command

def _record(game: str, scenario: str, values: dict) -> None:
    """Record a game; with --json, print what was recorded."""
    from ripple.config import from_options
    from ripple.games.record import RecordConfig, check, record
    from ripple.show import progress_bar

    cfg = from_options(RecordConfig, values, game=game, scenario=scenario)
    check(cfg)  # refusals before the progress bar draws
    with progress_bar(err) as progress:
        rec = record(cfg, progress)
    played = rec.played
    if values.get("as_json"):
        print_json({"folder": str(rec.folder), "frames": played.frames, "fps": played.fps, "size": played.size,
                    "sound": played.sound, "moments": len(played.moments), "events": played.event_kinds(),
                    "wall_s": played.wall_s})
    kinds = ", ".join(f"{k} {v}" for k, v in played.event_kinds().items()) or "none"
    err.print("[green]wrote[/] " + escape(
        f"{rec.folder}/gameplay.mp4 ({played.frames} frames, {played.size[0]}x{played.size[1]} at {played.fps} fps; "
        f"sound: {played.sound}), timeline.jsonl ({len(played.moments)} moments; events: {kinds}), record.json; "
        f"played in {played.wall_s:.1f} s"), highlight=False)


@record_app.command("doom", cls=Command)
@o.with_options(o.PLAY, o.RUN)
def record_doom(
    ctx: typer.Context,
    scenario: Annotated[str, typer.Option(help="A ViZDoom scenario: deadly_corridor, defend_the_center, "
                                               "defend_the_line, deathmatch, freedoom1, ...")] = "deadly_corridor",
    as_json: o.Json = False,
    **settings,
) -> None:
    """Doom through ViZDoom (Freedoom's artwork): the agent turns on the nearest enemy and shoots."""
    _record("doom", scenario, dict(ctx.params))


@record_app.command("atari", cls=Command)
@o.with_options(o.PLAY, o.RUN)
def record_atari(
    ctx: typer.Context,
    game: Annotated[str, typer.Option(help="An Atari 2600 game bundled with ale-py: breakout, pong, "
                                           "space_invaders, ...")],
    as_json: o.Json = False,
    **settings,
) -> None:
    """An Atari 2600 game through the Arcade Learning Environment, played by simple rules."""
    _record("atari", game, dict(ctx.params))


@live_app.command("doom", cls=Command)
@o.with_options(o.PLAY, o.LM, o.SAMPLING, o.VOICE, o.RUN, precision="int8", backend="ctranslate2")
def live_doom(
    ctx: typer.Context,
    scenario: Annotated[str, typer.Option(help="A ViZDoom scenario.")] = "deadly_corridor",
    candidates: Annotated[int, typer.Option(help="Candidates per line: few, for latency.", max=256)] = 2,
    max_new_tokens: Annotated[int, typer.Option(help="Token budget per candidate: short, for latency.",
                                                max=1024)] = 16,
    weight: Annotated[list[str] | None, typer.Option(help="Scorer weight NAME=NUMBER, repeatable (live default: "
                                                          "relevance=0).", show_default=False)] = None,
    stale_after: Annotated[float, typer.Option(help="Drop a moment this many seconds old when the commentator "
                                                    "gets to it.")] = 1.5,
    stream: Annotated[bool, typer.Option(help="Voice a line's first clause while the rest is written (the first "
                                              "candidate to finish one gets the line), or wait for whole "
                                              "candidates and their ranking.")] = True,
    ahead: Annotated[bool, typer.Option(help="Write lines for likely events (the kill of an enemy in view) before "
                                             "they happen, and speak one the moment its event comes.")] = True,
    break_off: Annotated[bool, typer.Option(help="An event as big as the line being spoken or a little smaller (a "
                                                 "kill during a kill's line or a level's end) breaks that line off "
                                                 "at a pause between words once its own line is ready, or waits "
                                                 "for it to end.")] = True,
    threads: Annotated[int, typer.Option(help="Torch threads for generation with --backend transformers "
                                              "(0: torch's choice); CTranslate2 uses one.")] = 1,
    as_json: o.Json = False,
    **settings,
) -> None:
    """Doom at 35 tics a second with live commentary: lines spoken into narration.wav, the session's video,
    timeline and narration saved, and event-to-first-audio latency (p50, p95) printed at the end."""
    from ripple.games.live import check_live, live, live_config
    from ripple.show import progress_bar

    cfg = live_config(dict(ctx.params), game="doom")
    check_live(cfg)  # refusals before the progress bar draws
    with progress_bar(err) as progress:
        session = live(cfg, progress)
    if as_json:
        print_json({"folder": str(session.folder), "latency": asdict(session.latency),
                    "silence": asdict(session.silence), "drops": session.drops,
                    "offered": session.offered, "ahead": session.ahead, "spoken": [
                        {"at": round(s.start - session.played.started, 3), "text": s.text} for s in session.spoken]})
    _print_session(session, quiet=as_json)


def _print_session(session, quiet: bool = False) -> None:
    for s in session.spoken if not quiet else []:
        Console().print(f"{s.start - session.played.started:6.1f}s  {s.text}", markup=False, highlight=False)
    pace = session.played.pace
    err.print(f"{session.latency.line()}; {session.silence.line()}; {len(session.spoken)} lines from {session.offered} moments "
              f"(dropped: " + ", ".join(f"{k} {v}" for k, v in session.drops.items()) + f"); game at "
              f"{pace.frames_per_s:.1f} frames/s, {pace.late_frames} frames late", markup=False, highlight=False)
    if session.ahead:
        err.print("lines written ahead: " + ", ".join(f"{k} {v}" for k, v in session.ahead.items()), highlight=False)
    err.print("[green]wrote[/] " + escape(f"{session.folder}/gameplay.mp4, timeline.jsonl, narration.wav, "
                                         "narration.json, latency.json, narrated.mp4"), highlight=False)
