"""The `ripple` command: each subcommand turns flags into a config and calls one library function.

Heavy libraries (torch, transformers) are imported inside the commands, so `ripple --help`
is instant.
"""

from __future__ import annotations

import json
import os
import sys
from dataclasses import replace
from enum import Enum
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console

from ripple.config import DEFAULT_MODEL, DEFAULT_WEIGHTS, GenerateConfig, RankConfig, SamplingConfig
from ripple.errors import RippleError
from ripple.schedule import ScheduleConfig
from ripple.video.frames import FramesConfig
from ripple.video.render import RenderConfig
from ripple.voice import VoiceConfig

app = typer.Typer(
    name="ripple",
    help="Game commentary from game states, videos and live games.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)
err = Console(stderr=True)


@app.command()
def generate(
    state_file: Annotated[Path, typer.Argument(help="Game-state file: YAML, JSON or JSON Lines.")],
    model: Annotated[str, typer.Option(help="Registry name, GPT-2 hub name, or a local model folder.")] = DEFAULT_MODEL,
    precision: Annotated[str, typer.Option(help="fp32, or int8: faster on a CPU, rougher lines.")] = "fp32",
    template: Annotated[
        str, typer.Option(help="play-by-play, colour, hype, auto (by moment), or a template file.")
    ] = "auto",
    candidates: Annotated[int, typer.Option(help="Candidates per moment.")] = SamplingConfig.candidates,
    temperature: Annotated[float, typer.Option()] = SamplingConfig.temperature,
    top_p: Annotated[float, typer.Option()] = SamplingConfig.top_p,
    top_k: Annotated[int, typer.Option()] = SamplingConfig.top_k,
    repetition_penalty: Annotated[float, typer.Option()] = SamplingConfig.repetition_penalty,
    max_new_tokens: Annotated[int, typer.Option()] = SamplingConfig.max_new_tokens,
    seed: Annotated[int, typer.Option(help="Same seed and inputs, same output.")] = SamplingConfig.seed,
    weight: Annotated[
        Optional[list[str]],
        typer.Option(help="Scorer weight NAME=NUMBER, repeatable; 0 switches a scorer off. Defaults: "
                     + ", ".join(f"{k}={v:g}" for k, v in DEFAULT_WEIGHTS.items())),
    ] = None,
    out: Annotated[Path, typer.Option(help="Folder that holds run folders.")] = Path("outputs"),
    run_id: Annotated[Optional[str], typer.Option(help="Name of the run folder (default: time and file name).")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print commentary.json on stdout.")] = False,
) -> None:
    """Ranked commentary lines for each moment of a game-state file."""
    from ripple.commentary import generate_commentary
    from ripple.rank import parse_weights
    from ripple.runs import write_run
    from ripple.show import print_run, progress_bar

    cfg = GenerateConfig(
        state_file=state_file,
        model=model,
        precision=precision,
        template=template,
        sampling=SamplingConfig(candidates, temperature, top_p, top_k, repetition_penalty, max_new_tokens, seed),
        rank=RankConfig(weights=parse_weights(weight or [], DEFAULT_WEIGHTS)),
        out_dir=out,
        run_id=run_id,
    )
    with progress_bar(err) as progress:
        run = generate_commentary(cfg, progress)
    folder = write_run(run, out)
    if as_json:
        sys.stdout.write(json.dumps(run.to_json(), indent=2, ensure_ascii=False) + "\n")
    else:
        print_run(Console(), run)
    err.print(f"[green]wrote[/] {folder}/commentary.json and commentary.md")


@app.command()
def narrate(
    video: Annotated[Path, typer.Argument(help="Recorded gameplay video (MP4, MKV, MOV, WebM ...).")],
    states: Annotated[Optional[Path], typer.Option(help="Game-state timeline (the format of `generate`).")] = None,
    captions: Annotated[Optional[Path], typer.Option(help="Your notes: time → caption as CSV, JSON or SRT.")] = None,
    game: Annotated[Optional[str], typer.Option(help="The game's name (default: the timeline's).")] = None,
    output: Annotated[Optional[Path], typer.Option("--output", "-o", help="Also write the narrated MP4 here "
                                                   "(with .srt/.vtt beside it).")] = None,
    every: Annotated[float, typer.Option(help="A keyframe at least every N seconds.")] = FramesConfig.sample_every_s,
    cut_threshold: Annotated[float, typer.Option(help="Histogram distance (0-1) that marks a scene cut.")] =
        FramesConfig.cut_threshold,
    ocr: Annotated[str, typer.Option(help="Read on-screen text: auto (when tesseract is installed), on, off.")] = "auto",
    describer: Annotated[Optional[Path], typer.Option(help="A local image-to-text model folder.")] = None,
    model: Annotated[str, typer.Option(help="Registry name, GPT-2 hub name, or a local model folder.")] = DEFAULT_MODEL,
    precision: Annotated[str, typer.Option(help="fp32, or int8: faster on a CPU, rougher lines.")] = "fp32",
    template: Annotated[str, typer.Option(help="play-by-play, colour, hype, auto, or a template file.")] = "auto",
    candidates: Annotated[int, typer.Option(help="Candidates per moment.")] = SamplingConfig.candidates,
    temperature: Annotated[float, typer.Option()] = SamplingConfig.temperature,
    max_new_tokens: Annotated[int, typer.Option()] = SamplingConfig.max_new_tokens,
    seed: Annotated[int, typer.Option(help="Same seed and inputs, same output.")] = SamplingConfig.seed,
    weight: Annotated[Optional[list[str]], typer.Option(help="Scorer weight NAME=NUMBER, repeatable.")] = None,
    voice: Annotated[str, typer.Option(help="auto (piper, else espeak-ng), piper, espeak-ng.")] = "auto",
    rate: Annotated[float, typer.Option(help="Speaking speed (1 = the voice's own).")] = 1.0,
    pitch: Annotated[float, typer.Option(help="Voice pitch (1 = its own; espeak-ng only).")] = 1.0,
    min_gap: Annotated[float, typer.Option(help="Seconds of quiet between lines.")] = ScheduleConfig.min_gap_s,
    max_delay: Annotated[float, typer.Option(help="How late after its moment a line may start.")] =
        ScheduleConfig.max_delay_s,
    duck: Annotated[float, typer.Option(help="Game audio gain under narration (0-1).")] = RenderConfig.duck,
    burn_subtitles: Annotated[bool, typer.Option(help="Draw the lines into the picture (re-encodes).")] = False,
    renderer: Annotated[str, typer.Option(help="auto, fast (ffmpeg, copies the video) or moviepy.")] = "auto",
    out: Annotated[Path, typer.Option(help="Folder that holds run folders.")] = Path("outputs"),
    run_id: Annotated[Optional[str], typer.Option(help="Name of the run folder (default: time and file name).")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print commentary.json on stdout.")] = False,
) -> None:
    """A narrated copy of a gameplay video: moments found, commented, ranked, spoken and mixed in."""
    from ripple.narrate import NarrateConfig
    from ripple.narrate import narrate as run_narrate
    from ripple.rank import parse_weights
    from ripple.show import progress_bar

    cfg = NarrateConfig(
        video=video,
        generate=GenerateConfig(
            state_file=video, model=model, precision=precision, template=template,
            sampling=replace(SamplingConfig(), candidates=candidates, temperature=temperature,
                             max_new_tokens=max_new_tokens, seed=seed),
            rank=RankConfig(weights=parse_weights(weight or [], DEFAULT_WEIGHTS)), out_dir=out, run_id=run_id,
        ),
        game=game, states=states, captions=captions, output=output,
        frames=FramesConfig(sample_every_s=every, cut_threshold=cut_threshold), ocr=ocr, describer=describer,
        voice=VoiceConfig(backend=voice, rate=rate, pitch=pitch),
        schedule=ScheduleConfig(min_gap_s=min_gap, max_delay_s=max_delay),
        render=RenderConfig(duck=duck, burn_subtitles=burn_subtitles, renderer=renderer),
    )
    with progress_bar(err) as progress:
        result = run_narrate(cfg, progress)
    if as_json:
        sys.stdout.write(json.dumps(result.to_json(), indent=2, ensure_ascii=False) + "\n")
    else:
        from rich.table import Table

        table = Table("start", "end", "moment", "line", title=f"{video} ({result.probe.duration:.1f} s)")
        for line in result.lines:
            table.add_row(f"{line.start:.1f}", f"{line.end:.1f}", str(line.moment + 1), line.text)
        Console().print(table)
        for d in result.dropped:
            err.print(f"  silent at {d.time:.1f}s: {d.reason}", markup=False, highlight=False)
    err.print(f"[green]wrote[/] {result.folder}/narrated.mp4 ({len(result.lines)} lines; video "
              f"{result.video_handling}), narrated.srt/.vtt, keyframes.png, timeline.png, commentary.json")
    if output:
        err.print(f"[green]wrote[/] {output}")


@app.command()
def ingest(
    sources: Annotated[list[Path], typer.Argument(help="Transcript files or folders (searched recursively).")],
    out: Annotated[Path, typer.Option(help="The corpus to write (JSON Lines).")] = Path("outputs/corpus.jsonl"),
    game: Annotated[Optional[str], typer.Option(help="The game of every file (else: sidecar, then file name).")] = None,
) -> None:
    """Transcripts (.vtt .srt .json3 .json .xml .txt) into one clean corpus for training."""
    from rich.table import Table

    from ripple.ingest import ingest as run_ingest

    report = run_ingest(sources, out, game)
    table = Table("game", "segments", "words", title=f"{out}")
    for name, count in report.per_game.most_common():
        table.add_row(name, str(count), str(report.words_per_game[name]))
    Console().print(table)
    err.print(
        f"{report.files} files, {report.segments} segments, {report.words} words, "
        f"{report.duplicates} duplicate segments dropped, {len(report.skipped)} files skipped"
    )
    for path, reason in report.skipped:
        err.print(f"  skipped {path}: {reason}", markup=False, highlight=False)


@app.command("transcribe")
def transcribe_command(
    media: Annotated[list[Path], typer.Argument(help="Recorded video or audio files.")],
    out: Annotated[Path, typer.Option(help="Transcript records to write (JSON Lines, corpus format).")] = Path(
        "outputs/transcripts.jsonl"),
    backend: Annotated[str, typer.Option(help="openai (openai-whisper) or faster (faster-whisper).")] = "openai",
    model: Annotated[str, typer.Option(help="Packaged whisper model (tiny.en) or a CTranslate2 folder.")] = "tiny.en",
    game: Annotated[Optional[str], typer.Option(help="The game (default: from the file name).")] = None,
) -> None:
    """Speech in recorded gameplay into transcript records, with word timestamps."""
    from ripple.speech.transcribe import TranscribeConfig, transcribe

    report = transcribe(TranscribeConfig(media=media, out=out, backend=backend, model=model, game=game))
    err.print(f"{report.files} files, {report.seconds_of_speech:.1f} s of speech, {report.segments} segments, "
              f"{report.words} words -> {out}")
    for path, reason in report.skipped:
        err.print(f"  skipped {path}: {reason}", markup=False, highlight=False)


@app.command("train")
def train_command(
    corpus: Annotated[Path, typer.Argument(help="Corpus from `ripple ingest` (JSON Lines).")],
    base: Annotated[str, typer.Option(help="Model to start from: registry name, hub name or folder.")] = DEFAULT_MODEL,
    name: Annotated[str, typer.Option(help="Model folder name under --out.")] = "commentary",
    out: Annotated[Path, typer.Option(help="Folder of trained models.")] = Path("outputs/models"),
    block_size: Annotated[int, typer.Option(help="Tokens per packed training block.")] = 128,
    epochs: Annotated[float, typer.Option()] = 3.0,
    max_steps: Annotated[int, typer.Option(help="Stop after this many steps (overrides --epochs).")] = -1,
    batch_size: Annotated[int, typer.Option()] = 8,
    learning_rate: Annotated[float, typer.Option()] = 5e-5,
    lr_scheduler: Annotated[str, typer.Option(help="linear, constant, cosine, ...")] = "linear",
    eval_steps: Annotated[int, typer.Option(help="Evaluate and checkpoint every N steps.")] = 20,
    patience: Annotated[int, typer.Option(help="Evaluations without improvement before stopping.")] = 3,
    validation_fraction: Annotated[float, typer.Option(help="Share of videos held out.")] = 0.15,
    lora: Annotated[bool, typer.Option(help="Train LoRA adapters (peft), merged into the weights at the end.")] = False,
    gradient_checkpointing: Annotated[bool, typer.Option()] = False,
    seed: Annotated[int, typer.Option()] = 0,
    resume: Annotated[bool, typer.Option(help="Continue an interrupted run from its newest checkpoint.")] = False,
) -> None:
    """Fine-tune a commentary model on a transcript corpus."""
    from ripple.train import TrainConfig, train

    cfg = TrainConfig(
        corpus=corpus, base=base, name=name, out_root=out, block_size=block_size, epochs=epochs,
        max_steps=max_steps, batch_size=batch_size, learning_rate=learning_rate, lr_scheduler=lr_scheduler,
        eval_steps=eval_steps, patience=patience, validation_fraction=validation_fraction, lora=lora,
        gradient_checkpointing=gradient_checkpointing, seed=seed, resume=resume,
    )
    result = train(cfg)
    if result.metrics:
        m = result.metrics
        before = f" (base {m['base_eval_perplexity']:.1f})" if "base_eval_perplexity" in m else ""
        err.print(f"validation perplexity {m['eval_perplexity']:.1f}{before} after {m['steps']} steps")
        err.print(f"[green]wrote[/] {result.folder} (model card README.md, loss.png, ripple.json)")


@app.command("eval")
def eval_command(
    model: Annotated[str, typer.Argument(help="Trained model folder (or any model name).")],
    corpus: Annotated[Path, typer.Argument(help="Held-out transcripts (JSON Lines from `ripple ingest`).")],
    base: Annotated[Optional[str], typer.Option(help="Compare with this model (default: the model's base).")] = None,
    block_size: Annotated[int, typer.Option()] = 128,
    samples: Annotated[int, typer.Option(help="Lines sampled per game.")] = 8,
    seed: Annotated[int, typer.Option()] = 0,
    as_json: Annotated[bool, typer.Option("--json", help="Print the figures as JSON.")] = False,
) -> None:
    """Perplexity, distinct-n and loop rate of a model beside its base."""
    from rich.table import Table

    from ripple.evaluate import EvalConfig, evaluate

    rows = evaluate(EvalConfig(model=model, corpus=corpus, base=base, block_size=block_size, samples=samples,
                               seed=seed))
    if as_json:
        sys.stdout.write(json.dumps(rows, indent=2) + "\n")
        return
    table = Table("model", "perplexity", "nats/char", "distinct-1", "distinct-2", "loop rate", title=str(corpus))
    for r in rows:
        table.add_row(r["model"], f"{r['perplexity']:.1f}", f"{r['nats_per_char']:.3f}", f"{r['distinct_1']:.2f}",
                      f"{r['distinct_2']:.2f}", f"{r['loop_rate']:.0%}")
    Console().print(table)


@app.command("models")
def list_models() -> None:
    """The models Ripple knows and whether each runs offline."""
    from rich.table import Table

    from ripple.models import cache_root, list_models

    table = Table("name", "kind", "status", "note")
    for row in list_models():
        table.add_row(row["name"], row["kind"], row["status"], row["note"])
    Console().print(table)
    Console().print(f"cache: {cache_root()}  (RIPPLE_CACHE overrides); any local model folder works as --model too")


def main() -> None:
    """Entry point: known errors become one line on stderr and exit code 2."""
    try:
        app(standalone_mode=False)
    except RippleError as exc:
        if os.environ.get("RIPPLE_DEBUG"):
            raise
        print(f"ripple: error: {exc}", file=sys.stderr)
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        print("ripple: interrupted", file=sys.stderr)
        sys.exit(130)
    except Exception as exc:  # click's usage errors and our own bugs
        import click

        if isinstance(exc, click.exceptions.ClickException):
            exc.show()
            sys.exit(exc.exit_code)
        if isinstance(exc, click.exceptions.Abort):
            sys.exit(1)
        if os.environ.get("RIPPLE_DEBUG"):
            raise
        print(f"ripple: internal error: {type(exc).__name__}: {exc} (RIPPLE_DEBUG=1 shows the traceback)",
              file=sys.stderr)
        sys.exit(1)
