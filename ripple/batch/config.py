"""What a batch does to each input: its stages and the settings of each, built from
flags, ripple.toml and Ripple's defaults (in that order of precedence)."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from ripple.config import GenerateConfig, check_fields, from_options, option
from ripple.schedule import ScheduleConfig
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
    stages: tuple[str, ...] = option(STAGES, name="stage")  # which stages run, where they apply
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
    transcribe_backend: str = "faster"
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


def build_config(source: Path, out: Path, settings: Mapping[str, Mapping[str, Any]],
                 flags: Mapping[str, Any]) -> BatchConfig:
    """A batch's config: `flags` (the batch command's settings, None where not given) over the
    [generate], [narrate] and [transcribe] tables of `settings` (ripple.toml), over the defaults."""
    from ripple.generate import generate_config

    def over(section: str) -> dict[str, Any]:
        return {**settings[section], **{k: v for k, v in flags.items() if v not in (None, (), [])}}

    stages = flags.get("stages") or ["all"]
    narrate = over("narrate")
    transcribe = {**settings["transcribe"], **({"backend": flags["transcribe_backend"]}
                                                if flags.get("transcribe_backend") else {})}
    cfg = from_options(
        BatchConfig, flags, source=source, out=out,
        stages=STAGES if "all" in stages else tuple(s for s in STAGES if s in stages),
        generate=generate_config({**over("generate"), "out": None, "run_id": None}, Path(".")),
        frames=from_options(FramesConfig, narrate), ocr=narrate.get("ocr") or BatchConfig.ocr,
        voice=from_options(VoiceConfig, narrate), schedule=from_options(ScheduleConfig, narrate),
        render=from_options(RenderConfig, narrate),
        transcribe_backend=transcribe.get("backend") or BatchConfig.transcribe_backend,
        transcribe_model=transcribe.get("model") or BatchConfig.transcribe_model,
    )
    check(cfg)
    return cfg


def check(cfg: BatchConfig) -> None:
    check_fields(cfg, [
        (1 <= cfg.workers <= 256, "workers", "must be 1 to 256"),
        (1 <= cfg.max_attempts <= 100, "max_attempts", "must be 1 to 100"),
        (cfg.engine in ENGINES, "engine", f"must be one of {', '.join(ENGINES)}"),
        (bool(cfg.stages), "stages", f"choose at least one of {', '.join(STAGES)}, or all"),
    ])
