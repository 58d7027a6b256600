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
    backend: Annotated[str, typer.Option(help="transformers, or ctranslate2: the same model converted once "
                                         "(cached), decoded several times faster on a CPU.")] = "transformers",
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
    ground: Annotated[bool, typer.Option(help="Numbers the moment does not hold cannot be sampled, and its "
                                         "names are favoured; --no-ground samples freely.")] = SamplingConfig.ground,
    redraws: Annotated[int, typer.Option(help="Further batches of candidates to draw while the best has a hard "
                                         "fault or names too little of what happened.")] = SamplingConfig.redraws,
    weight: Annotated[
        Optional[list[str]],
        typer.Option(help="Scorer weight NAME=NUMBER, repeatable; 0 switches a scorer off. Defaults: "
                     + ", ".join(f"{k}={v:g}" for k, v in DEFAULT_WEIGHTS.items())),
    ] = None,
    reward_model: Annotated[Optional[Path], typer.Option(help="Reward model folder for --weight reward=N "
                                                         "(default outputs/models/reward).")] = None,
    out: Annotated[Path, typer.Option(help="Folder that holds run folders.")] = Path("outputs"),
    run_id: Annotated[Optional[str], typer.Option(help="Name of the run folder (default: time and file name).")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print commentary.json on stdout.")] = False,
) -> None:
    """Ranked commentary lines for each moment of a game-state file."""
    from ripple.generate import generate_commentary
    from ripple.rank import parse_weights
    from ripple.runs import write_run
    from ripple.show import print_run, progress_bar

    cfg = GenerateConfig(
        state_file=state_file,
        model=model,
        precision=precision,
        backend=backend,
        template=template,
        sampling=SamplingConfig(candidates, temperature, top_p, top_k, repetition_penalty, max_new_tokens, seed,
                                ground, redraws),
        rank=RankConfig(weights=parse_weights(weight or [], DEFAULT_WEIGHTS),
                        reward_model=str(reward_model) if reward_model else None),
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
    ocr: Annotated[str, typer.Option(help="Read on-screen text: auto (when tesseract is installed and no --states), "
                                          "on, off.")] = "auto",
    describer: Annotated[Optional[Path], typer.Option(help="A local image-to-text model folder.")] = None,
    model: Annotated[str, typer.Option(help="Registry name, GPT-2 hub name, or a local model folder.")] = DEFAULT_MODEL,
    precision: Annotated[str, typer.Option(help="fp32, or int8: faster on a CPU, rougher lines.")] = "fp32",
    backend: Annotated[str, typer.Option(help="transformers, or ctranslate2: the same model converted once "
                                         "(cached), decoded several times faster on a CPU.")] = "transformers",
    template: Annotated[str, typer.Option(help="play-by-play, colour, hype, auto, or a template file.")] = "auto",
    candidates: Annotated[int, typer.Option(help="Candidates per moment.")] = SamplingConfig.candidates,
    temperature: Annotated[float, typer.Option()] = SamplingConfig.temperature,
    max_new_tokens: Annotated[int, typer.Option()] = SamplingConfig.max_new_tokens,
    seed: Annotated[int, typer.Option(help="Same seed and inputs, same output.")] = SamplingConfig.seed,
    weight: Annotated[Optional[list[str]], typer.Option(help="Scorer weight NAME=NUMBER, repeatable.")] = None,
    reward_model: Annotated[Optional[Path], typer.Option(help="Reward model folder for --weight reward=N.")] = None,
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
            state_file=video, model=model, precision=precision, backend=backend, template=template,
            sampling=replace(SamplingConfig(), candidates=candidates, temperature=temperature,
                             max_new_tokens=max_new_tokens, seed=seed),
            rank=RankConfig(weights=parse_weights(weight or [], DEFAULT_WEIGHTS),
                            reward_model=str(reward_model) if reward_model else None), out_dir=out, run_id=run_id,
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
    from ripple.lm.train import TrainConfig, train

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

    from ripple.lm.evaluate import EvalConfig, evaluate

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


class _RunByDefault(typer.core.TyperGroup):
    """`ripple batch DIR` means `ripple batch run DIR`; `ripple batch status OUT` stays itself."""

    def parse_args(self, ctx, args):
        if args and args[0] not in self.commands and args[0] not in ("--help", "-h"):
            args = ["run", *args]
        return super().parse_args(ctx, args)


batch_app = typer.Typer(cls=_RunByDefault, no_args_is_help=True, add_completion=False, rich_markup_mode=None,
                        help="Every recording and game-state file in a folder through transcribe, generate and "
                             "narrate: resumable, on local workers or a Ray cluster.")
app.add_typer(batch_app, name="batch")


class Stage(str, Enum):
    transcribe = "transcribe"
    generate = "generate"
    narrate = "narrate"
    all = "all"


@batch_app.command("run")
def batch_run(
    source: Annotated[Path, typer.Argument(help="Folder of videos and game-state files (searched recursively).")],
    out: Annotated[Path, typer.Option(help="Output folder: one folder per input and stage, the manifest, "
                                           "report.md and report.html.")] = Path("outputs/batch"),
    config: Annotated[Optional[Path], typer.Option(help="Settings file (default: ripple.toml in the folder, "
                                                        "else in the current folder).")] = None,
    stage: Annotated[Optional[list[Stage]], typer.Option(help="Stages to run, repeatable (default: all).")] = None,
    workers: Annotated[Optional[int], typer.Option(help="Parallel workers, each loading its models once.")] = None,
    engine: Annotated[Optional[str], typer.Option(help="local (processes on this machine) or ray.")] = None,
    address: Annotated[Optional[str], typer.Option(help="Ray cluster address (with --engine ray).")] = None,
    max_attempts: Annotated[Optional[int], typer.Option(help="Tries per job across re-runs.")] = None,
    model: Annotated[Optional[str], typer.Option(help="Commentary model.")] = None,
    precision: Annotated[Optional[str], typer.Option(help="fp32 or int8.")] = None,
    backend: Annotated[Optional[str], typer.Option(help="Commentary decoding: transformers or ctranslate2.")] = None,
    candidates: Annotated[Optional[int], typer.Option(help="Candidates per moment.")] = None,
    max_new_tokens: Annotated[Optional[int], typer.Option()] = None,
    temperature: Annotated[Optional[float], typer.Option()] = None,
    seed: Annotated[Optional[int], typer.Option()] = None,
    weight: Annotated[Optional[list[str]], typer.Option(help="Scorer weight NAME=NUMBER, repeatable.")] = None,
    every: Annotated[Optional[float], typer.Option(help="narrate: a keyframe at least every N seconds.")] = None,
    voice: Annotated[Optional[str], typer.Option(help="narrate: auto, piper or espeak-ng.")] = None,
    transcribe_backend: Annotated[Optional[str], typer.Option(help="transcribe: openai or faster.")] = None,
) -> None:
    """Run (or resume) a batch; exit code 0 when every job is done, 1 when some failed."""
    from ripple.batch import run_batch
    from ripple.batch.config import build_config
    from ripple.rank import parse_weights
    from ripple.settings import find_settings, load_settings
    from ripple.show import progress_bar

    settings = load_settings(find_settings(config, source, Path(".")))
    flags = dict(stages=[s.value for s in stage] if stage else None, workers=workers, engine=engine,
                 address=address, max_attempts=max_attempts, model=model, precision=precision, backend=backend,
                 candidates=candidates, max_new_tokens=max_new_tokens, temperature=temperature, seed=seed,
                 weights=parse_weights(weight, DEFAULT_WEIGHTS) if weight else None, every=every, voice=voice,
                 transcribe_backend=transcribe_backend)
    cfg = build_config(source, out, settings, flags)
    with progress_bar(err) as progress:
        result = run_batch(cfg, progress)
    err.print(f"{result.ran} jobs run ({result.done} done), {result.skipped} already done, "
              f"{len(result.failed)} failed, in {result.seconds:.1f} s; report: {out / 'report.html'}")
    for input_, stage_name, reason in result.failed:
        err.print(f"  failed {stage_name} {input_}: {reason}", markup=False, highlight=False, soft_wrap=True)
    if not result.ok:
        raise typer.Exit(1)


@batch_app.command("status")
def batch_status(out: Annotated[Path, typer.Argument(help="A batch's output folder.")]) -> None:
    """How far a batch has got: jobs per stage and status, and the failures."""
    from rich.table import Table

    from ripple.batch.manifest import Manifest

    manifest = Manifest(out, create=False)
    table = Table("stage", "done", "failed", "running", "pending", title=str(out))
    for stage_name, counts in sorted(manifest.summary().items()):
        table.add_row(stage_name, *(str(counts[s]) for s in ("done", "failed", "running", "pending")))
    Console().print(table)
    for job in manifest.jobs("failed"):
        err.print(f"  failed {job.stage} {job.input} ({job.failures}x): {job.error}", markup=False, highlight=False,
                  soft_wrap=True)
    manifest.close()


@app.command("models")
def list_models() -> None:
    """The models Ripple knows and whether each runs offline."""
    from rich.table import Table

    from ripple.lm.models import cache_root, list_models

    table = Table("name", "kind", "status", "note")
    for row in list_models():
        table.add_row(row["name"], row["kind"], row["status"], row["note"])
    Console().print(table)
    Console().print(f"cache: {cache_root()}  (RIPPLE_CACHE overrides); any local model folder works as --model too")


record_app = typer.Typer(no_args_is_help=True, add_completion=False, rich_markup_mode=None,
                         help="A scripted agent plays a real game: gameplay.mp4 and timeline.jsonl (the game-state "
                              "format of `generate` and `narrate --states`).")
app.add_typer(record_app, name="record")
live_app = typer.Typer(no_args_is_help=True, add_completion=False, rich_markup_mode=None,
                       help="Play a real game at its own speed and comment on it as it happens.")
app.add_typer(live_app, name="live")

SecondsOption = Annotated[float, typer.Option(help="Seconds of play.")]
SeedOption = Annotated[int, typer.Option(help="The engine's and the agent's seed: the same seed, the same game.")]
HeartbeatOption = Annotated[float, typer.Option(help="A quiet moment (for colour) at least every N seconds.")]
OutOption = Annotated[Path, typer.Option(help="Folder that holds run folders.")]
RunIdOption = Annotated[Optional[str], typer.Option(help="Name of the run folder (default: time and game).")]


def _record(game: str, scenario: str, seconds: float, seed: int, heartbeat: float, out: Path,
            run_id: Optional[str]) -> None:
    from rich.markup import escape

    from ripple.games.record import RecordConfig, check, record
    from ripple.show import progress_bar

    cfg = RecordConfig(game=game, scenario=scenario, seconds=seconds, seed=seed, heartbeat_s=heartbeat,
                       out_dir=out, run_id=run_id)
    check(cfg)  # refusals before the progress bar draws
    with progress_bar(err) as progress:
        rec = record(cfg, progress)
    played = rec.played
    kinds = ", ".join(f"{k} {v}" for k, v in played.event_kinds().items()) or "none"
    err.print("[green]wrote[/] " + escape(
        f"{rec.folder}/gameplay.mp4 ({played.frames} frames, {played.size[0]}x{played.size[1]} at {played.fps} fps; "
        f"sound: {played.sound}), timeline.jsonl ({len(played.moments)} moments; events: {kinds}), record.json; "
        f"played in {played.wall_s:.1f} s"), highlight=False)


@record_app.command("doom")
def record_doom(
    scenario: Annotated[str, typer.Option(help="A ViZDoom scenario: deadly_corridor, defend_the_center, "
                                               "defend_the_line, deathmatch, freedoom1, ...")] = "deadly_corridor",
    seconds: SecondsOption = 30.0,
    seed: SeedOption = 0,
    heartbeat: HeartbeatOption = 2.5,
    out: OutOption = Path("outputs"),
    run_id: RunIdOption = None,
) -> None:
    """Doom through ViZDoom (Freedoom's artwork): the agent turns on the nearest enemy and shoots."""
    _record("doom", scenario, seconds, seed, heartbeat, out, run_id)


@record_app.command("atari")
def record_atari(
    game: Annotated[str, typer.Option(help="An Atari 2600 game bundled with ale-py: breakout, pong, "
                                           "space_invaders, ...")],
    seconds: SecondsOption = 30.0,
    seed: SeedOption = 0,
    heartbeat: HeartbeatOption = 2.5,
    out: OutOption = Path("outputs"),
    run_id: RunIdOption = None,
) -> None:
    """An Atari 2600 game through the Arcade Learning Environment, played by simple rules."""
    _record("atari", game, seconds, seed, heartbeat, out, run_id)


@live_app.command("doom")
def live_doom(
    scenario: Annotated[str, typer.Option(help="A ViZDoom scenario.")] = "deadly_corridor",
    seconds: SecondsOption = 30.0,
    seed: SeedOption = 0,
    heartbeat: HeartbeatOption = 2.5,
    model: Annotated[str, typer.Option(help="Registry name, GPT-2 hub name, or a local model folder.")] = DEFAULT_MODEL,
    precision: Annotated[str, typer.Option(help="fp32, or int8: faster on a CPU, rougher lines.")] = "int8",
    backend: Annotated[str, typer.Option(help="transformers, or ctranslate2: the same model converted once "
                                         "(cached), decoded several times faster on a CPU.")] = "ctranslate2",
    template: Annotated[str, typer.Option(help="play-by-play, colour, hype, auto, or a template file.")] = "auto",
    candidates: Annotated[int, typer.Option(help="Candidates per line: few, for latency.")] = 2,
    max_new_tokens: Annotated[int, typer.Option(help="Token budget per candidate: short, for latency.")] = 16,
    temperature: Annotated[float, typer.Option()] = SamplingConfig.temperature,
    weight: Annotated[Optional[list[str]], typer.Option(help="Scorer weight NAME=NUMBER, repeatable "
                                                             "(live default: relevance=0).")] = None,
    voice: Annotated[str, typer.Option(help="auto (piper, else espeak-ng), piper, espeak-ng.")] = "auto",
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
    out: OutOption = Path("outputs"),
    run_id: RunIdOption = None,
) -> None:
    """Doom at 35 tics a second with live commentary: lines spoken into narration.wav, the session's video,
    timeline and narration saved, and event-to-first-audio latency (p50, p95) printed at the end."""
    from rich.markup import escape

    from ripple.games.commentator import LIVE_WEIGHTS, CommentatorConfig
    from ripple.games.live import LiveConfig, check_live, live
    from ripple.games.record import RecordConfig
    from ripple.rank import parse_weights
    from ripple.show import progress_bar

    cfg = LiveConfig(
        record=RecordConfig(game="doom", scenario=scenario, seconds=seconds, seed=seed, heartbeat_s=heartbeat,
                            out_dir=out, run_id=run_id),
        commentator=CommentatorConfig(
            model=model, precision=precision, backend=backend, template=template,
            sampling=replace(SamplingConfig(), candidates=candidates, max_new_tokens=max_new_tokens,
                             temperature=temperature, seed=seed),
            weights=parse_weights(weight or [], LIVE_WEIGHTS), voice=VoiceConfig(backend=voice),
            stale_after_s=stale_after, stream=stream, ahead=ahead, break_off=break_off),
        threads=threads,
    )
    check_live(cfg)  # refusals before the progress bar draws
    with progress_bar(err) as progress:
        session = live(cfg, progress)
    for s in session.spoken:
        Console().print(f"{s.start - session.played.started:6.1f}s  {s.text}", markup=False, highlight=False)
    pace = session.played.pace
    err.print(f"{session.latency.line()}; {len(session.spoken)} lines from {session.offered} moments "
              f"(dropped: " + ", ".join(f"{k} {v}" for k, v in session.drops.items()) + f"); game at "
              f"{pace.frames_per_s:.1f} frames/s, {pace.late_frames} frames late", markup=False, highlight=False)
    if session.ahead:
        err.print("lines written ahead: " + ", ".join(f"{k} {v}" for k, v in session.ahead.items()), highlight=False)
    err.print("[green]wrote[/] " + escape(f"{session.folder}/gameplay.mp4, timeline.jsonl, narration.wav, "
                                         "narration.json, latency.json, narrated.mp4"), highlight=False)


@app.command("curate")
def curate_command(
    db: Annotated[Path, typer.Option(help="The store every run is recorded in.")] = Path("outputs/ripple.db"),
    host: Annotated[str, typer.Option(help="Address to listen on; any but 127.0.0.1 exposes the page to the "
                                      "network (the token still guards every request).")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on (0: any free one).")] = 8765,
    who: Annotated[str, typer.Option(help="Name picks are stored under (default: your login name).")] = "",
    choices: Annotated[int, typer.Option(help="Candidates shown at once, 2 to 4.")] = 4,
    scan: Annotated[bool, typer.Option(help="First record run folders beside the store that it lacks.")] = True,
) -> None:
    """The page where people pick the best line of each moment (served on 127.0.0.1)."""
    from rich.markup import escape
    from ripple.curate.web import LOCAL_HOSTS, CurateConfig, serve

    def announce(url: str, added: list[Path]) -> None:
        if added:
            err.print(f"recorded {len(added)} run folders the store lacked", highlight=False)
        if host not in LOCAL_HOSTS:
            err.print(f"[yellow]warning:[/] listening on {escape(host)}: the page is reachable from the network")
        print(f"Ripple curate: open {url}", flush=True)
        err.print("picks are stored in " + escape(str(db)) + "; Ctrl+C stops the server", highlight=False)

    serve(CurateConfig(db=db, host=host, port=port, who=who, choices=choices, scan=scan), announce)


@app.command("export")
def export_command(
    best: Annotated[bool, typer.Option("--best", help="The best-of set people picked (the only export so far).")] =
        False,
    db: Annotated[Path, typer.Option(help="The store.")] = Path("outputs/ripple.db"),
    out: Annotated[Path, typer.Option(help="Folder for best.json, best.md and reel.mp4 (replaced whole).")] =
        Path("outputs/best"),
    reel: Annotated[bool, typer.Option(help="Cut and narrate a best-of reel where moments come from videos.")] = True,
    voice: Annotated[str, typer.Option(help="The reel's voice: auto, piper, espeak-ng.")] = "auto",
) -> None:
    """The best-of set as JSON and Markdown, and a narrated best-of reel where there are videos."""
    from rich.markup import escape
    if not best:
        raise RippleError("--best: say what to export (`ripple export --best`)")
    from ripple.curate.export import ExportConfig, export_best

    result = export_best(ExportConfig(db=db, out=out, reel=reel, voice=VoiceConfig(backend=voice)))
    reel_note = f", reel.mp4 ({result.reel_lines} lines)" if result.reel else ""
    err.print(f"[green]wrote[/] {escape(str(result.folder))}/best.json, best.md{reel_note}: "
              f"{len(result.moments)} moments", highlight=False)


reward_app = typer.Typer(no_args_is_help=True, add_completion=False, rich_markup_mode=None,
                         help="The reward model that learns people's picks.")
app.add_typer(reward_app, name="reward")


@reward_app.command("train")
def reward_train(
    db: Annotated[Path, typer.Option(help="The store with people's comparisons.")] = Path("outputs/ripple.db"),
    base: Annotated[str, typer.Option(help="The commentary model whose backbone reads the lines.")] = DEFAULT_MODEL,
    out: Annotated[Path, typer.Option(help="The reward model's folder.")] = Path("outputs/models/reward"),
    held_out: Annotated[float, typer.Option(help="Share of judged moments kept out of training.")] = 0.2,
    epochs: Annotated[int, typer.Option()] = 4,
    batch_size: Annotated[int, typer.Option(help="Comparisons per step.")] = 8,
    learning_rate: Annotated[float, typer.Option()] = 3e-5,
    max_tokens: Annotated[int, typer.Option(help="Tokens of moment and line read.")] = 128,
    seed: Annotated[int, typer.Option()] = 0,
) -> None:
    """Train the reward model on the stored comparisons; report its held-out accuracy."""
    from rich.markup import escape
    from ripple.curate.reward import RewardConfig, train_reward
    from ripple.show import progress_bar

    cfg = RewardConfig(db=db, base=base, out=out, held_out=held_out, epochs=epochs, batch_size=batch_size,
                       learning_rate=learning_rate, max_tokens=max_tokens, seed=seed)
    with progress_bar(err) as progress:
        report = train_reward(cfg, progress)
    h, c = report.held_out, report.canaries
    err.print(f"held-out accuracy: the pick above each other line {h.pairwise:.0%} of {h.pairs} pairs (chance 50%); "
              f"the pick first {h.top1:.0%} of {h.sets} sets (chance {h.chance_top1:.0%})", highlight=False)
    err.print(f"canary pairs the right way round: {c['right']} of {c['pairs']} ("
              + ", ".join(f"{k} {v:.0%}" for k, v in c["by_kind"].items()) + ")", highlight=False)
    err.print(f"[green]wrote[/] {escape(str(report.folder))} ({report.train_sets} comparisons trained on, "
              f"{report.all_bad} 'all bad' left out)", highlight=False)


@app.command("tune")
def tune_command(
    states: Annotated[Optional[list[Path]], typer.Argument(
        help="Game-state files or `ripple record` timelines: tune on pairs the scorers label among the base's "
             "own candidates for their moments, no people needed. Without them: pairs the reward model labels "
             "in --db.", show_default=False)] = None,
    db: Annotated[Path, typer.Option(help="The store with every candidate and comparison.")] =
        Path("outputs/ripple.db"),
    model: Annotated[str, typer.Option(help="The commentary model to tune.")] = DEFAULT_MODEL,
    reward_model: Annotated[Path, typer.Option(help="From `ripple reward train`.")] = Path("outputs/models/reward"),
    name: Annotated[Optional[str], typer.Option(help="The tuned model's folder under --out (default: tuned, or "
                                                  "self with STATES).", show_default=False)] = None,
    out: Annotated[Path, typer.Option(help="Folder of models.")] = Path("outputs/models"),
    candidates: Annotated[int, typer.Option(help="With STATES: lines the base writes per moment.")] = 8,
    lora_rank: Annotated[Optional[int], typer.Option(help="Rank of the LoRA adapter tuned; 0 tunes every weight "
                                                       "(default: 16 with STATES, else 0).", show_default=False)] = None,
    beta: Annotated[float, typer.Option(help="DPO's beta.")] = 0.1,
    kl_coef: Annotated[Optional[float], typer.Option(help="Weight of the KL(tuned || base) penalty (default: 0 "
                                                     "with STATES, else 0.05).", show_default=False)] = None,
    learning_rate: Annotated[Optional[float], typer.Option(help="(default: 1e-4 with STATES, else 5e-6)",
                                                          show_default=False)] = None,
    max_steps: Annotated[Optional[int], typer.Option(help="(default: 24 with STATES, else 40)",
                                                    show_default=False)] = None,
    batch_size: Annotated[int, typer.Option(help="Pairs per step.")] = 4,
    eval_every: Annotated[Optional[int], typer.Option(help="Steps between sign checks (default: 8 with STATES, "
                                                     "else 5).", show_default=False)] = None,
    kl_bound: Annotated[float, typer.Option(help="KL to the base (nats/token) that stops tuning.")] = 0.5,
    min_accuracy: Annotated[float, typer.Option(help="Held-out accuracy the reward model needs.")] = 0.6,
    min_canaries: Annotated[Optional[float], typer.Option(
        help="Share of canary pairs the labeller must rank right (default: 0.9 with STATES, else 0.7).",
        show_default=False)] = None,
    win_samples: Annotated[int, typer.Option(help="Lines sampled per held-out moment for the win rate.")] = 4,
    seed: Annotated[int, typer.Option()] = 0,
) -> None:
    """Preference tuning (DPO) behind sign guards: towards the reward model's taste, or with
    STATES towards the lines Ripple's own scorers rank best. Writes report.md and tune.png."""
    from rich.markup import escape
    from ripple.curate.guards import GuardConfig
    from ripple.show import progress_bar

    def given(value, default):
        return default if value is None else value

    if states:
        from ripple.curate.selftune import SelfTuneConfig, tune_self

        cfg = SelfTuneConfig(
            states=tuple(states), model=model, name=given(name, "self"), out_root=out, candidates=candidates,
            lora_rank=given(lora_rank, 16), beta=beta, kl_coef=given(kl_coef, 0.0),
            learning_rate=given(learning_rate, 1e-4), max_steps=given(max_steps, 24), batch_size=batch_size,
            eval_every=given(eval_every, 8), seed=seed,
            guards=GuardConfig(min_canaries=given(min_canaries, 0.9), kl_bound=kl_bound))
        with progress_bar(err) as progress:
            done = tune_self(cfg, progress)
        first, last = done.history[0], done.history[-1]
        c = done.preflight["canaries"]
        err.print(f"{done.pairs} pairs from {done.moments - done.held} moments; canaries ranked right by the scorers "
                  f"{c['fraction']:.0%} of {c['pairs']}; faithful line above its broken copy {first['agreement']:.0%} "
                  f"-> {last['agreement']:.0%}; KL to the base {last['kl']:.4f} nats/token", highlight=False)
        err.print(f"[green]wrote[/] {escape(str(done.folder))} (adapter, report.md, tune.png); compare it with "
                  f"`bench/quality.py --model {escape(str(done.folder))}`", highlight=False)
        return
    from ripple.curate.tune import TuneConfig, tune

    cfg = TuneConfig(db=db, model=model, reward_model=reward_model, name=given(name, "tuned"), out_root=out,
                     beta=beta, kl_coef=given(kl_coef, 0.05), learning_rate=given(learning_rate, 5e-6),
                     max_steps=given(max_steps, 40), batch_size=batch_size, eval_every=given(eval_every, 5),
                     win_samples=win_samples, seed=seed, lora_rank=given(lora_rank, 0),
                     guards=GuardConfig(min_accuracy=min_accuracy, min_canaries=given(min_canaries, 0.7),
                                        kl_bound=kl_bound))
    with progress_bar(err) as progress:
        result = tune(cfg, progress)
    m, final = result.metrics, result.metrics["final"]
    err.print(f"win rate over the base under the reward model: {m['win_rate']:.0%} of {m['samples']} samples; "
              f"agreement with held-out picks {result.history[0]['agreement']:.0%} -> {final['agreement']:.0%}; "
              f"KL to the base {final['kl']:.4f} nats/token ({m['kl_spent_per_line']:.2f} nats per sampled line)",
              highlight=False)
    err.print(f"[green]wrote[/] {escape(str(result.folder))} (report.md, tune.png)", highlight=False)


def _is_usage_error(exc: Exception) -> bool:
    """click's ClickException, or the copy of it that newer typer releases carry instead of
    depending on click: the two share no class, so it is told by what it offers."""
    return hasattr(exc, "format_message") and isinstance(getattr(exc, "exit_code", None), int)


def main() -> None:
    """Entry point: known errors become one line on stderr and exit code 2."""
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
        sys.exit(1)
    if isinstance(code, int) and code:
        sys.exit(code)
