"""What a batch does to each input: its stages and the settings of each, built from
flags, ripple.toml and Ripple's defaults (in that order of precedence)."""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from ripple.config import DEFAULT_WEIGHTS, GenerateConfig, RankConfig, SamplingConfig
from ripple.errors import InputError
from ripple.schedule import ScheduleConfig
from ripple.settings import Settings
from ripple.video.frames import FramesConfig
from ripple.video.render import RenderConfig
from ripple.voice import VoiceConfig

STAGES = ("transcribe", "generate", "narrate")  # in the order they run for one input
VIDEO_STAGES = ("transcribe", "narrate")
STATE_STAGES = ("generate",)
ENGINES = ("local", "ray")


@dataclass(frozen=True)
class BatchConfig:
    source: Path  # the folder of recordings and game-state files
    out: Path  # where outputs, the manifest and the report go
    stages: tuple[str, ...] = STAGES  # which stages run, where they apply
    workers: int = 1  # local processes, or Ray actors, each loading its models once
    engine: str = "local"  # local, or ray
    address: str | None = None  # the Ray cluster (ray://host:port or host:port); None: start a local one
    max_attempts: int = 3  # a job that failed this many times is left failed
    generate: GenerateConfig = field(default_factory=lambda: GenerateConfig(state_file=Path(".")))
    frames: FramesConfig = field(default_factory=FramesConfig)
    ocr: str = "auto"
    voice: VoiceConfig = field(default_factory=VoiceConfig)
    schedule: ScheduleConfig = field(default_factory=ScheduleConfig)
    render: RenderConfig = field(default_factory=RenderConfig)
    transcribe_backend: str = "openai"
    transcribe_model: str = "tiny.en"

    def stage_settings(self, stage: str) -> dict[str, Any]:
        """The settings a stage's output depends on (paths left out)."""
        gen = self.generate.to_dict()
        gen.pop("state_file"), gen.pop("out_dir"), gen.pop("run_id")
        if stage == "generate":
            return {"generate": gen}
        if stage == "narrate":
            return {"generate": gen, "frames": asdict(self.frames), "ocr": self.ocr, "voice": asdict(self.voice),
                    "schedule": asdict(self.schedule), "render": asdict(self.render)}
        return {"backend": self.transcribe_backend, "model": self.transcribe_model}

    def settings_hash(self, stage: str) -> str:
        text = json.dumps(self.stage_settings(stage), sort_keys=True, default=str)
        return hashlib.sha256(text.encode()).hexdigest()[:16]

    def to_dict(self) -> dict[str, Any]:
        return {"source": str(self.source), "out": str(self.out), "stages": list(self.stages),
                "workers": self.workers, "engine": self.engine, "address": self.address,
                "max_attempts": self.max_attempts, **{s: self.stage_settings(s) for s in self.stages}}


def _pick(flag, from_file, default):
    return flag if flag is not None else from_file if from_file is not None else default


def build_config(source: Path, out: Path, settings: Settings, flags: dict[str, Any]) -> BatchConfig:
    """Flags (None where not given) over `settings` (ripple.toml) over the defaults."""
    b, g, n, t = settings.batch, settings.generate, settings.narrate, settings.transcribe
    stages = _pick(flags.get("stages"), b.stages, ["all"])
    stages = STAGES if "all" in stages else tuple(s for s in STAGES if s in stages)
    s = SamplingConfig()
    sampling = SamplingConfig(
        candidates=_pick(flags.get("candidates"), g.candidates, s.candidates),
        temperature=_pick(flags.get("temperature"), g.temperature, s.temperature),
        top_p=_pick(None, g.top_p, s.top_p),
        top_k=_pick(None, g.top_k, s.top_k),
        repetition_penalty=_pick(None, g.repetition_penalty, s.repetition_penalty),
        max_new_tokens=_pick(flags.get("max_new_tokens"), g.max_new_tokens, s.max_new_tokens),
        seed=_pick(flags.get("seed"), g.seed, s.seed),
    )
    from ripple.rank import parse_weights

    weights = parse_weights([f"{k}={v}" for k, v in (g.weights or {}).items()], DEFAULT_WEIGHTS)
    weights |= flags.get("weights") or {}
    generate = GenerateConfig(
        state_file=Path("."), model=_pick(flags.get("model"), g.model, GenerateConfig.model),
        precision=_pick(flags.get("precision"), g.precision, "fp32"),
        backend=_pick(flags.get("backend"), g.backend, GenerateConfig.backend),
        template=_pick(None, g.template, "auto"),
        sampling=sampling, rank=RankConfig(weights=weights),
    )
    cfg = BatchConfig(
        source=source, out=out, stages=stages,
        workers=_pick(flags.get("workers"), b.workers, 1),
        engine=_pick(flags.get("engine"), b.engine, "local"),
        address=_pick(flags.get("address"), b.address, None),
        max_attempts=_pick(flags.get("max_attempts"), b.max_attempts, 3),
        generate=generate,
        frames=replace(FramesConfig(), sample_every_s=_pick(flags.get("every"), n.every, FramesConfig.sample_every_s),
                       cut_threshold=_pick(None, n.cut_threshold, FramesConfig.cut_threshold)),
        ocr=_pick(None, n.ocr, "auto"),
        voice=VoiceConfig(backend=_pick(flags.get("voice"), n.voice, "auto"), rate=_pick(None, n.rate, 1.0),
                          pitch=_pick(None, n.pitch, 1.0)),
        schedule=ScheduleConfig(min_gap_s=_pick(None, n.min_gap, ScheduleConfig.min_gap_s),
                                max_delay_s=_pick(None, n.max_delay, ScheduleConfig.max_delay_s)),
        render=RenderConfig(duck=_pick(None, n.duck, RenderConfig.duck),
                            burn_subtitles=_pick(None, n.burn_subtitles, False),
                            renderer=_pick(None, n.renderer, "auto")),
        transcribe_backend=_pick(flags.get("transcribe_backend"), t.backend, "openai"),
        transcribe_model=_pick(None, t.model, "tiny.en"),
    )
    check(cfg)
    return cfg


def check(cfg: BatchConfig) -> None:
    for ok, where, message in [
        (1 <= cfg.workers <= 256, "--workers", "must be 1 to 256"),
        (1 <= cfg.max_attempts <= 100, "--max-attempts", "must be 1 to 100"),
        (cfg.engine in ENGINES, "--engine", f"must be one of {', '.join(ENGINES)}"),
        (bool(cfg.stages), "--stage", f"choose at least one of {', '.join(STAGES)}, or all"),
    ]:
        if not ok:
            raise InputError(where, message)
