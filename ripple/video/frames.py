"""Keyframes of a gameplay video and what can be measured of them offline.

OpenCV reads the video at a few frames per second. A keyframe is taken at the start, at
every scene cut (a jump in the colour histogram between two looked-at frames), and at
least every `sample_every_s` seconds. Each gets its brightness, its motion (how much the
picture changed since the last frame looked at) and its dominant colours, in words.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from ripple.config import option
from ripple.errors import InputError

COLOUR_NAMES = {  # BGR
    "black": (20, 20, 20), "white": (235, 235, 235), "grey": (128, 128, 128),
    "red": (40, 40, 200), "orange": (30, 140, 240), "yellow": (40, 220, 230), "green": (50, 170, 50),
    "cyan": (210, 200, 40), "blue": (200, 70, 40), "purple": (150, 50, 130), "pink": (180, 120, 240),
    "brown": (40, 70, 120),
}
THUMB_WIDTH = 320  # pixels of the thumbnails kept for contact sheets
MOTION_LEVELS = 20  # a pixel whose grey level changed by more than this (of 255) has moved


@dataclass(frozen=True)
class FramesConfig:
    sample_every_s: float = option(5.0, name="every")  # a keyframe at least this often
    cut_threshold: float = 0.4  # Bhattacharyya distance between colour histograms that marks a cut
    min_gap_s: float = 1.0  # keyframes closer than this are not taken (a flurry of cuts)
    analysis_fps: float = 4.0  # frames looked at per second of video


@dataclass
class Keyframe:
    time: float  # seconds
    reason: str  # "start", "cut" or "interval"
    brightness: float  # 0 (black) to 1 (white)
    motion: float  # share of the picture that changed since the last frame looked at
    colours: list[str]  # dominant colours, most covering first
    thumbnail: object = field(repr=False, default=None)  # BGR numpy image, THUMB_WIDTH wide
    screen_text: list[str] = field(default_factory=list)  # on-screen text lines (OCR), top to bottom
    numbers: dict[str, float] = field(default_factory=dict)  # labelled numbers read on screen
    caption: str = ""  # an image-to-text model's description, when the person has one

    def describe(self) -> str:
        light = "dark" if self.brightness < 0.3 else "bright" if self.brightness > 0.7 else "mid-lit"
        moving = "still" if self.motion < 0.005 else "fast-moving" if self.motion > 0.25 else "moving"
        what = {"cut": "a new scene", "start": "the opening", "interval": "the action"}[self.reason]
        return f"{what}: {light}, {moving}, mostly {' and '.join(self.colours[:2])}"


# Looks at a keyframe's full-size BGR frame and fills in more of it (OCR, a caption model).
Inspector = Callable[[object, Keyframe], None]


@dataclass(frozen=True)
class VideoInfo:
    path: Path
    fps: float
    frames: int
    width: int
    height: int

    @property
    def duration(self) -> float:
        return self.frames / self.fps if self.fps else 0.0


def dominant_colours(image, k: int = 3) -> list[str]:
    import cv2
    import numpy as np

    pixels = cv2.resize(image, (32, 18), interpolation=cv2.INTER_AREA).reshape(-1, 3).astype(np.float32)
    k = min(k, len(np.unique(pixels, axis=0)))
    if k <= 1:
        centres, counts = pixels[:1], np.array([len(pixels)])
    else:
        criteria = (cv2.TERM_CRITERIA_EPS + cv2.TERM_CRITERIA_MAX_ITER, 10, 1.0)
        _, labels, centres = cv2.kmeans(pixels, k, None, criteria, 2, cv2.KMEANS_PP_CENTERS)
        counts = np.bincount(labels.ravel(), minlength=k)
    names = []
    palette = {n: np.array(c, dtype=np.float32) for n, c in COLOUR_NAMES.items()}
    for i in np.argsort(-counts):
        name = min(palette, key=lambda n: float(np.linalg.norm(palette[n] - centres[i])))
        if name not in names:
            names.append(name)
    return names


def keyframes(
    video: Path, cfg: FramesConfig = FramesConfig(), inspectors: list[Inspector] = ()
) -> tuple[list[Keyframe], VideoInfo]:
    """The keyframes of `video`, in time order, and what the file says of itself. Each
    inspector sees every keyframe's full frame while it is in memory."""
    import cv2

    video = Path(video)
    if not video.is_file():
        raise InputError(str(video), "no such video file")
    capture = cv2.VideoCapture(str(video))
    if not capture.isOpened():
        raise InputError(str(video), "cannot read this video (corrupt, or not a video format OpenCV knows)")
    fps = capture.get(cv2.CAP_PROP_FPS) or 0.0
    info = VideoInfo(video, fps, int(capture.get(cv2.CAP_PROP_FRAME_COUNT)),
                     int(capture.get(cv2.CAP_PROP_FRAME_WIDTH)), int(capture.get(cv2.CAP_PROP_FRAME_HEIGHT)))
    if fps <= 0:
        raise InputError(str(video), "the video reports no frame rate")
    step = max(1, round(fps / cfg.analysis_fps))
    found: list[Keyframe] = []
    previous_hist = previous_grey = None
    index = 0
    try:
        while True:
            if not capture.grab():
                break
            if index % step == 0:
                ok, frame = capture.retrieve()
                if not ok:
                    break
                time = index / fps
                small = cv2.resize(frame, (160, 90), interpolation=cv2.INTER_AREA)
                hsv = cv2.cvtColor(small, cv2.COLOR_BGR2HSV)
                hist = cv2.calcHist([hsv], [0, 1], None, [32, 32], [0, 180, 0, 256])
                cv2.normalize(hist, hist)
                grey = cv2.cvtColor(small, cv2.COLOR_BGR2GRAY)
                motion = 0.0 if previous_grey is None else float(
                    (cv2.absdiff(grey, previous_grey) > MOTION_LEVELS).mean())
                cut = previous_hist is not None and cv2.compareHist(
                    previous_hist, hist, cv2.HISTCMP_BHATTACHARYYA) > cfg.cut_threshold
                last = found[-1].time if found else None
                reason = ("start" if last is None else "cut" if cut and time - last >= cfg.min_gap_s
                          else "interval" if time - last >= cfg.sample_every_s else None)
                if reason:
                    height = round(frame.shape[0] * THUMB_WIDTH / frame.shape[1])
                    keyframe = Keyframe(
                        time=round(time, 3), reason=reason, brightness=float(hsv[..., 2].mean() / 255),
                        motion=motion, colours=dominant_colours(small),
                        thumbnail=cv2.resize(frame, (THUMB_WIDTH, height), interpolation=cv2.INTER_AREA),
                    )
                    for inspect in inspectors:
                        inspect(frame, keyframe)
                    found.append(keyframe)
                previous_hist, previous_grey = hist, grey
            index += 1
    finally:
        capture.release()
    if not found:
        raise InputError(str(video), "no frames could be read (a zero-length clip?)")
    return found, VideoInfo(video, fps, max(info.frames, index), info.width, info.height)


def contact_sheet(frames: list[Keyframe], path: Path, columns: int = 4,
                  notes: list[list[str]] | None = None) -> Path:
    """A PNG grid of the keyframes, each labelled with its time, its description, the text
    read on screen, and any `notes` (one list of lines per keyframe: the moment's line)."""
    import textwrap

    import cv2
    import numpy as np

    from ripple.atomic import atomic_write_bytes

    labels = []
    for i, frame in enumerate(frames):
        minutes, seconds = divmod(frame.time, 60)
        lines = [f"{int(minutes)}:{seconds:05.2f}  {frame.reason}", frame.describe().split(": ", 1)[1]]
        extra = []
        if frame.screen_text:
            extra.append("on screen: " + " | ".join(frame.screen_text))
        if frame.caption:
            extra.append("seen: " + frame.caption)
        extra += (notes[i] if notes and i < len(notes) else [])
        for note in extra:
            lines += textwrap.wrap(note, 46)
        labels.append(lines[:8])
    line_h = 18
    label_h = 10 + line_h * max(len(lines) for lines in labels)
    cell_h = max(k.thumbnail.shape[0] for k in frames) + label_h
    columns = max(1, min(columns, len(frames)))
    rows = (len(frames) + columns - 1) // columns
    sheet = np.full((rows * cell_h, columns * THUMB_WIDTH, 3), 24, dtype=np.uint8)
    for i, (frame, lines) in enumerate(zip(frames, labels)):
        y, x = (i // columns) * cell_h, (i % columns) * THUMB_WIDTH
        thumb = frame.thumbnail
        sheet[y : y + thumb.shape[0], x : x + thumb.shape[1]] = thumb[:, :THUMB_WIDTH]
        for j, text in enumerate(lines):
            colour = (235, 235, 235) if j < 2 else (150, 220, 250)
            cv2.putText(sheet, text.encode("ascii", "replace").decode(), (x + 6, y + thumb.shape[0] + 17 + line_h * j),
                        cv2.FONT_HERSHEY_SIMPLEX, 0.42, colour, 1, cv2.LINE_AA)
    ok, png = cv2.imencode(".png", sheet)
    if not ok:
        raise InputError(str(path), "could not encode the contact sheet")
    return atomic_write_bytes(path, png.tobytes())
