"""`ripple batch` (run, status): a folder of inputs through transcribe, generate and narrate."""

from __future__ import annotations

from enum import Enum
from pathlib import Path
from typing import Annotated, Literal, Optional

import typer
from rich.console import Console

import ripple.cli.options as o
from ripple.cli.app import batch_app, err, print_json
from ripple.cli.settings import BatchCommand, Command


class Stage(str, Enum):
    transcribe = "transcribe"
    generate = "generate"
    narrate = "narrate"
    all = "all"


@batch_app.command("run", cls=BatchCommand)
@o.with_options(o.LM, o.SAMPLING, {"voice": o.VOICE["voice"]}, unset=True)  # None: see ripple.toml, else defaults
def batch_run(
    ctx: typer.Context,
    source: Annotated[Path, typer.Argument(help="Folder of videos and game-state files (searched recursively).")],
    out: Annotated[Path, typer.Option(help="Output folder: one folder per input and stage, the manifest, "
                                           "report.md and report.html.")] = Path("outputs/batch"),
    config: Annotated[Optional[Path], typer.Option(help="Settings file (default: ripple.toml in the folder, "
                                                        "else in the current folder).", envvar="RIPPLE_CONFIG",
                                                   show_default=False)] = None,
    stage: Annotated[Optional[list[Stage]], typer.Option(help="Stages to run, repeatable (default: all).",
                                                         show_default=False)] = None,
    workers: Annotated[int, typer.Option(help="Parallel workers, each loading its models once.", min=1,
                                         max=256)] = 1,
    engine: Annotated[Literal["local", "ray"], typer.Option(help="local: processes on this machine.")] = "local",
    address: Annotated[Optional[str], typer.Option(help="Ray cluster address (with --engine ray).",
                                                   show_default=False)] = None,
    max_attempts: Annotated[int, typer.Option(help="Tries per job across re-runs.", min=1, max=100)] = 3,
    seed: o.Seed = None,
    weight: o.Weight = None,
    every: Annotated[Optional[float], typer.Option(help="narrate: a keyframe at least every N seconds.",
                                                   show_default=False)] = None,
    transcribe_backend: Annotated[Optional[Literal["faster", "openai"]], typer.Option(
        help="transcribe: faster-whisper or openai-whisper.", show_default=False)] = None,
    as_json: o.Json = False,
    **settings,
) -> None:
    """Run (or resume) a batch; exit code 0 when every job is done, 1 when some failed. Each stage
    takes its settings from these flags, then its command's table in ripple.toml, then its
    command's defaults."""
    from ripple.batch import run_batch
    from ripple.batch.config import build_config
    from ripple.show import progress_bar

    flags = dict(ctx.params)
    flags["stages"] = [s.value for s in stage] if stage else None
    cfg = build_config(source, out, ctx.meta["ripple.settings"], flags)
    with progress_bar(err) as progress:
        result = run_batch(cfg, progress)
    if as_json:
        print_json({"out": str(out), "ran": result.ran, "done": result.done, "skipped": result.skipped,
                    "failed": [{"input": i, "stage": s, "error": e} for i, s, e in result.failed],
                    "seconds": round(result.seconds, 3)})
    err.print(f"{result.ran} jobs run ({result.done} done), {result.skipped} already done, "
              f"{len(result.failed)} failed, in {result.seconds:.1f} s; report: {out / 'report.html'}")
    for input_, stage_name, reason in result.failed:
        err.print(f"  failed {stage_name} {input_}: {reason}", markup=False, highlight=False, soft_wrap=True)
    if not result.ok:
        raise typer.Exit(1)


@batch_app.command("status", cls=Command)
def batch_status(out: Annotated[Path, typer.Argument(help="A batch's output folder.")],
                 as_json: o.Json = False) -> None:
    """How far a batch has got: jobs per stage and status, and the failures."""
    from rich.table import Table

    from ripple.batch.manifest import Manifest

    manifest = Manifest(out, create=False)
    try:
        summary, failed = manifest.summary(), manifest.jobs("failed")
    finally:
        manifest.close()
    if as_json:
        statuses = ("done", "failed", "running", "pending")
        print_json({"stages": {k: {s: v[s] for s in statuses} for k, v in summary.items()}, "failed": [
            {"stage": j.stage, "input": j.input, "failures": j.failures, "error": j.error} for j in failed]})
        return
    table = Table("stage", "done", "failed", "running", "pending", title=str(out))
    for stage_name, counts in sorted(summary.items()):
        table.add_row(stage_name, *(str(counts[s]) for s in ("done", "failed", "running", "pending")))
    Console().print(table)
    for job in failed:
        err.print(f"  failed {job.stage} {job.input} ({job.failures}x): {job.error}", markup=False, highlight=False,
                  soft_wrap=True)
