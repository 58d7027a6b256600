"""narrate's first step: the moments of a video worth a line, from its keyframes (cuts, intervals,
on-screen text, an optional caption model), its loudness peaks, and the person's captions and
game states."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ripple.state import Moment, load_moments
from ripple.video.frames import Keyframe
from ripple.video.probe import Probe

DEFAULT_GAME = "a video game"


@dataclass
class Found:
    """What the video and the person's files say: the moments worth a line, and what found them."""

    probe: Probe
    keyframes: list[Keyframe]
    moments: list[Moment]
    levels: Any  # the game audio's loudness per window (None: no audio)


def read_inputs(cfg) -> tuple[Probe, list[Moment], list]:
    """`cfg` is a NarrateConfig. The video's streams, the game states and the captions: each refused now if unreadable."""
    from ripple.video.captions import load_captions
    from ripple.video.probe import probe

    info = probe(cfg.video)
    states = load_moments(cfg.states) if cfg.states else []
    return info, states, load_captions(cfg.captions) if cfg.captions else []


def find_moments(cfg, inputs: tuple[Probe, list[Moment], list], progress) -> Found:
    """`cfg` is a NarrateConfig. Keyframes (cuts, intervals, on-screen text, a caption model), loudness peaks, captions and
    game states, merged into moments."""
    from ripple.speech.audio import AudioError, load_audio
    from ripple.video import ocr
    from ripple.video.frames import keyframes
    from ripple.video.loudness import loudness_db, peaks
    from ripple.video.moments import build_moments

    info, states, captions = inputs
    inspectors = []
    # A game-state timeline gives the numbers exactly; reading them off the screen (a second
    # a keyframe) is left to --ocr on.
    if cfg.ocr == "on" or (cfg.ocr == "auto" and not states and ocr.available()):
        inspectors.append(lambda frame, keyframe: _read_screen(ocr, frame, keyframe))
    if cfg.describer:
        from ripple.video.describe import Describer

        inspectors.append(Describer(cfg.describer))
    progress("finding moments in the video", 0, 1)
    frames, _ = keyframes(cfg.video, cfg.frames, inspectors)
    levels, found_peaks = None, []
    if info.has_audio:
        try:
            audio = load_audio(cfg.video)
            levels, found_peaks = loudness_db(audio), peaks(audio)
        except AudioError:
            levels = None  # an audio stream with nothing decodable: narrate over silence
    game = cfg.game or (states[0].game if states else DEFAULT_GAME)
    moments = build_moments(game, frames, found_peaks, captions, states, cfg.merge_window_s, info.duration)
    return Found(info, frames, moments, levels)


def _read_screen(ocr, frame, keyframe: Keyframe) -> None:
    screen = ocr.read_text(frame)
    keyframe.screen_text = screen.lines
    keyframe.numbers = screen.numbers()
