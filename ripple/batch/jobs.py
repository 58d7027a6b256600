"""The inputs of a batch and the work of one job.

Inputs are the videos and game-state files under the source folder. A video takes the
game states beside it (same name with a state suffix, or the folder's only `timeline.jsonl`,
which is what `ripple record` writes), and those are then part of the video, not inputs of
their own. Each job writes into a hidden staging folder, puts a `job.json` there last, and
renames the folder into place: a job's output is either whole or absent, and `job.json`
says which input and settings made it.

`JobRunner` is what a worker (a local process or a Ray actor) holds: it loads each model
the first time a job needs it and keeps it for every later job.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import time
import uuid
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from ripple.atomic import replace_folder
from ripple.batch.config import STATE_STAGES, VIDEO_STAGES, BatchConfig
from ripple.errors import InputError, RippleError
from ripple.state import SUFFIXES as STATE_SUFFIXES

VIDEO_SUFFIXES = (".mp4", ".mkv", ".mov", ".webm", ".avi", ".m4v")
RECORDER_TIMELINE = "timeline.jsonl"  # what `ripple record` writes beside gameplay.mp4
JOB_FILE = "job.json"  # written last into every finished output folder
STAGING_PREFIX = ".staging-"
HASH_CHUNK_BYTES = 1 << 20


@dataclass(frozen=True)
class Input:
    path: str  # relative to the source folder, with forward slashes
    kind: str  # "video" or "states"
    states: str | None = None  # a video's paired game-state file


def discover(source: Path, out: Path) -> list[Input]:
    """Every video and game-state file under `source` (hidden files, the output folder and
    ripple.toml left out), videos paired with their game states."""
    source, out = Path(source), Path(out).resolve()
    if not source.is_dir():
        raise InputError(str(source), "no such folder" if not source.exists() else "is not a folder")
    videos, states = [], []
    for path in sorted(source.rglob("*")):
        rel = path.relative_to(source)
        if any(part.startswith(".") for part in rel.parts) or not path.is_file():
            continue
        if path.resolve().is_relative_to(out):
            continue
        suffix = path.suffix.lower()
        if suffix in VIDEO_SUFFIXES:
            videos.append(rel)
        elif suffix in STATE_SUFFIXES:
            states.append(rel)
    paired: dict[Path, Path] = {}
    for video in videos:
        beside = [s for s in states if s.parent == video.parent]
        same_name = [s for s in beside if s.stem == video.stem]
        in_folder = [v for v in videos if v.parent == video.parent]
        timeline = [s for s in beside if s.name == RECORDER_TIMELINE] if len(in_folder) == 1 else []
        match = (same_name or timeline or [None])[0]
        if match is not None:
            paired[video] = match
    inputs = [Input(v.as_posix(), "video", paired[v].as_posix() if v in paired else None) for v in videos]
    inputs += [Input(s.as_posix(), "states") for s in states if s not in paired.values()]
    return sorted(inputs, key=lambda i: i.path)


def stages_for(item: Input, stages: tuple[str, ...]) -> list[str]:
    applicable = VIDEO_STAGES if item.kind == "video" else STATE_STAGES
    return [s for s in stages if s in applicable]


def content_hash(source: Path, item: Input) -> str:
    digest = hashlib.sha256()
    for rel in [item.path, item.states]:
        if rel is None:
            continue
        with open(Path(source) / rel, "rb") as f:
            while chunk := f.read(HASH_CHUNK_BYTES):
                digest.update(chunk)
        digest.update(b"\0")
    return digest.hexdigest()


def output_folder(out: Path, input_path: str, stage: str) -> Path:
    """OUT/<the input's folders>/<its name, dot as underscore>/<stage>: one folder per
    input and stage, named so that clip.mp4 and clip.mkv do not collide."""
    rel = Path(input_path)
    return Path(out) / rel.parent / rel.name.replace(".", "_") / stage


def read_job_file(folder: Path) -> dict[str, Any] | None:
    try:
        return json.loads((folder / JOB_FILE).read_text())
    except (OSError, ValueError):
        return None


@dataclass(frozen=True)
class JobSpec:
    """What a worker needs to run one job: no database, no open files."""

    id: int
    input: str
    stage: str
    sha256: str
    settings: str
    states: str | None


class JobRunner:
    """Runs jobs of one batch; models load on first use and stay for the next jobs."""

    def __init__(self, cfg: BatchConfig, threads: int | None = None):
        self.cfg = cfg
        self.threads = threads
        self._models: dict[tuple, Any] = {}
        self.name = f"{os.uname().nodename}:{os.getpid()}"

    def _lm(self):
        from ripple.lm import models

        g = self.cfg.generate
        key = ("lm", g.model, g.precision, g.backend)
        if key not in self._models:
            if self.threads:
                import torch

                torch.set_num_threads(self.threads)
            self._models[key] = models.load(g.model, g.precision, g.backend)
        return self._models[key]

    def _whisper(self, tcfg):
        from ripple.speech.transcribe import load_backend

        key = ("whisper", tcfg.backend, tcfg.model)
        if key not in self._models:
            self._models[key] = load_backend(tcfg)
        return self._models[key]

    def run(self, job: JobSpec) -> dict[str, Any]:
        """Run `job` into its output folder; returns the summary kept in the manifest.
        RippleError means the input (or a setting) is at fault: the job fails, the batch goes on."""
        started = time.perf_counter()
        final = output_folder(self.cfg.out, job.input, job.stage)
        staging = final.parent / f"{STAGING_PREFIX}{job.stage}-{uuid.uuid4().hex[:8]}"
        try:
            final.parent.mkdir(parents=True, exist_ok=True)
            staging.mkdir()
            summary = getattr(self, f"_{job.stage}")(job, staging)
            record = {"input": job.input, "stage": job.stage, "sha256": job.sha256, "settings": job.settings,
                      "states": job.states, "worker": self.name,
                      "seconds": round(time.perf_counter() - started, 2), "summary": summary}
            (staging / job.stage / JOB_FILE).write_text(json.dumps(record, indent=2, sort_keys=True) + "\n")
            replace_folder(staging / job.stage, final, aside=f"{STAGING_PREFIX}old-{uuid.uuid4().hex[:8]}")
        except OSError as exc:
            raise RippleError(f"{exc.filename or final}: cannot write: {exc.strerror or exc}") from None
        finally:
            shutil.rmtree(staging, ignore_errors=True)
        return {"folder": str(final.relative_to(self.cfg.out)), "seconds": record["seconds"], **summary}

    def _generate(self, job: JobSpec, staging: Path) -> dict[str, Any]:
        from ripple.generate import generate_commentary
        from ripple.runs import write_run

        from ripple.state import load_moments

        gen = replace(self.cfg.generate, state_file=self.cfg.source / job.input, out_dir=staging, run_id=job.stage)
        moments = load_moments(gen.state_file)  # a bad file fails before any model loads
        run = generate_commentary(gen, lm=self._lm(), moments=moments)
        write_run(run, staging)
        return {"moments": len(run.results), "lines": [r.line for r in run.results],
                "files": sorted(p.name for p in (staging / job.stage).iterdir())}

    def _narrate(self, job: JobSpec, staging: Path) -> dict[str, Any]:
        from ripple.narrate import NarrateConfig, narrate

        from ripple.video.probe import probe

        video = self.cfg.source / job.input
        probe(video)  # an unreadable video fails before any model loads
        gen = replace(self.cfg.generate, state_file=video, out_dir=staging, run_id=job.stage)
        cfg = NarrateConfig(
            video=video, generate=gen, states=self.cfg.source / job.states if job.states else None,
            frames=self.cfg.frames, ocr=self.cfg.ocr, voice=self.cfg.voice, schedule=self.cfg.schedule,
            render=self.cfg.render,
        )
        result = narrate(cfg, lm=self._lm())
        return {"moments": len(result.moments), "lines": [line.text for line in result.lines],
                "duration": round(result.probe.duration, 3),
                "files": sorted(p.name for p in (staging / job.stage).iterdir())}

    def _transcribe(self, job: JobSpec, staging: Path) -> dict[str, Any]:
        from ripple.speech.transcribe import TranscribeConfig, transcribe

        folder = staging / job.stage
        folder.mkdir()
        tcfg = TranscribeConfig(media=[self.cfg.source / job.input], out=folder / "transcript.jsonl",
                                backend=self.cfg.transcribe_backend, model=self.cfg.transcribe_model)
        report = transcribe(tcfg, run=self._whisper(tcfg))
        if not tcfg.out.exists():  # no speech: an empty transcript says so
            tcfg.out.write_text("")
        return {"segments": report.segments, "words": report.words,
                "speech_seconds": round(report.seconds_of_speech, 2), "files": ["transcript.jsonl"]}


