"""`ripple batch` as a library call: a folder of recordings and game-state files through
transcribe, generate and narrate, unattended, resumable, on local workers or a Ray cluster.

    lock the output folder → clear what a stopped batch left half-done → list the inputs
    and hash them → bring the manifest up to date (new, changed, finished-but-unrecorded,
    recorded-but-missing) → run what is pending or failed with attempts left → report

Running the same command again does only what is left: done jobs are skipped, failed ones
retried until `max_attempts`, and a job whose input or settings changed runs again.
"""

from __future__ import annotations

import fcntl
import shutil
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from ripple.batch.config import BatchConfig
from ripple.batch.jobs import (
    STAGING_PREFIX, JobSpec, content_hash, discover, output_folder, read_job_file, stages_for,
)
from ripple.batch.manifest import Manifest
from ripple.errors import InputError

LOCK_NAME = ".batch.lock"


@dataclass
class BatchResult:
    out: Path
    ran: int = 0  # jobs run this time
    done: int = 0  # jobs finished this time
    failed: list[tuple[str, str, str]] = field(default_factory=list)  # (input, stage, reason), all runs
    skipped: int = 0  # jobs already done before
    summary: dict[str, Counter] = field(default_factory=dict)
    seconds: float = 0.0
    reports: list[Path] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.failed


def _lock(out: Path):
    """An exclusive lock on the output folder for the life of the process (the kernel drops
    it when the process dies, however it dies)."""
    handle = open(out / LOCK_NAME, "a+")
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.close()
        raise InputError(str(out), "another batch is running on this folder") from None
    return handle


def _clear_leftovers(out: Path) -> int:
    """Staging folders and temporaries of jobs that were stopped half-way: nothing else is
    writing here (we hold the lock)."""
    removed = 0
    for path in list(out.rglob(f"{STAGING_PREFIX}*")) + list(out.rglob(".*.tmp")):
        if path.exists():
            shutil.rmtree(path) if path.is_dir() else path.unlink()
            removed += 1
    return removed


def _reconcile(manifest: Manifest, out: Path) -> None:
    """Make the manifest agree with the folders: an output in place with a matching job.json
    is done (the batch may have stopped between the rename and the manifest); a job recorded
    done whose output is gone or stale runs again."""
    for job in manifest.jobs():
        info = read_job_file(output_folder(out, job.input, job.stage))
        matches = info is not None and (info.get("sha256"), info.get("settings")) == (job.sha256, job.settings)
        if job.status == "done" and not matches:
            manifest.back_to_pending(job.id, "its output was missing or stale; run again")
        elif job.status != "done" and matches:
            outputs = {"folder": str(output_folder(out, job.input, job.stage).relative_to(out)),
                       "seconds": info.get("seconds"), **info.get("summary", {})}
            manifest.done(job.id, outputs, info.get("seconds"))


def run_batch(cfg: BatchConfig, progress=None) -> BatchResult:
    """Bring every input under cfg.source up to date in cfg.out."""
    from ripple.batch.engines import ENGINES
    from ripple.batch.report import write_reports

    started = time.perf_counter()
    progress = progress or (lambda what, done, total: None)
    _check_stage_settings(cfg)
    inputs = discover(cfg.source, cfg.out)
    try:
        cfg.out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InputError(str(cfg.out), f"cannot create the output folder: {exc.strerror}") from None
    lock = _lock(cfg.out)
    try:
        _clear_leftovers(cfg.out)
        manifest = Manifest(cfg.out)
        manifest.interrupted_to_pending()
        wanted = _wanted(cfg, inputs)
        manifest.sync(wanted)
        _reconcile(manifest, cfg.out)
        keys = {(w[0], w[1]) for w in wanted}
        result = BatchResult(cfg.out)
        result.skipped = sum(1 for j in manifest.jobs("done") if (j.input, j.stage) in keys)
        todo = [j for j in manifest.jobs() if (j.input, j.stage) in keys and
                (j.status == "pending" or (j.status == "failed" and j.failures < cfg.max_attempts))]
        _run_jobs(ENGINES[cfg.engine](cfg), manifest, todo, result, progress, cfg.max_attempts)
        result.failed = [(j.input, j.stage, j.error or "") for j in manifest.jobs("failed") if (j.input, j.stage) in keys]
        result.summary = manifest.summary()
        result.reports = write_reports(cfg, manifest)
        manifest.close()
    finally:
        lock.close()
    result.seconds = time.perf_counter() - started
    return result


def _wanted(cfg: BatchConfig, inputs) -> list[tuple]:
    """(input, stage, content hash, settings hash, states) for every stage each input needs."""
    wanted = []
    for item in inputs:
        stages = stages_for(item, cfg.stages)
        if not stages:
            continue
        try:
            sha = content_hash(cfg.source, item)
        except OSError:  # vanished or unreadable since it was listed: nothing to record
            continue
        wanted += [(item.path, stage, sha, cfg.settings_hash(stage), item.states) for stage in stages]
    return wanted


def _run_jobs(engine, manifest: Manifest, todo: list, result: BatchResult, progress, max_attempts: int) -> None:
    """Run `todo` on `engine`, each job's end recorded in the manifest as it comes."""
    total = len(todo)
    while todo:
        crashed = []

        def on_start(job: JobSpec, worker: str) -> None:
            manifest.started(job.id, worker)
            progress(f"{job.stage}: {job.input}", result.ran, total)

        for job_id, status, value in engine.run([j.spec() for j in todo], on_start):
            result.ran += 1
            if status == "done":
                manifest.done(job_id, value, value.get("seconds"))
                result.done += 1
            else:
                manifest.failed(job_id, value)
                if status == "crashed":
                    crashed.append(job_id)
            progress(f"{result.done} done, {result.ran - result.done} failed", result.ran, total)
        # Worker crashes may have hit innocent jobs: those with attempts left go round again.
        todo = [j for j in map(manifest.job, crashed) if j.failures < max_attempts]


def _check_stage_settings(cfg: BatchConfig) -> None:
    """Refuse bad settings before any work, as narrate and generate would."""
    from ripple.generate import check_config
    from ripple.narrate import NarrateConfig, check_settings

    from ripple.voice import choose_backend

    check_config(cfg.generate)
    if "narrate" in cfg.stages:
        check_settings(NarrateConfig(video=cfg.source, generate=cfg.generate, frames=cfg.frames, ocr=cfg.ocr,
                                     voice=cfg.voice, schedule=cfg.schedule, render=cfg.render))
        choose_backend(cfg.voice)


def status(out: Path) -> dict[str, Counter]:
    manifest = Manifest(out, create=False)
    try:
        return manifest.summary()
    finally:
        manifest.close()
