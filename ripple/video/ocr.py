"""On-screen text of a frame (scores, timers, kill feeds) with Debian's tesseract, and the
labelled numbers in it: 'SCORE 1250' becomes {'score': 1250}.

Tesseract's automatic page layout finds HUD text scattered over a busy picture (its sparse-text
mode missed thin small fonts); words it is unsure of are dropped rather than guessed.
"""

from __future__ import annotations

import re
import shutil
from dataclasses import dataclass, field

from ripple.errors import ModelError

MIN_CONFIDENCE = 60  # tesseract's per-word confidence (0-100) below which a word is noise
MAX_WIDTH = 1280  # larger frames are scaled down first: HUD text stays readable and OCR is faster
LABELLED_NUMBER = re.compile(r"\b([A-Za-z][A-Za-z ]{1,15}?)\s*[:=]?\s*(-?\d+(?:\.\d+)?)(?![\d:])")
CLOCK = re.compile(r"\b\d{1,2}:\d{2}(?::\d{2})?\b")


@dataclass(frozen=True)
class ScreenText:
    lines: list[str] = field(default_factory=list)  # text lines, top to bottom

    @property
    def text(self) -> str:
        return " | ".join(self.lines)

    def numbers(self) -> dict[str, float]:
        """Numbers with a label before them: 'SCORE 1250', 'Lives: 3', 'HP=87'."""
        found: dict[str, float] = {}
        for line in self.lines:
            for label, value in LABELLED_NUMBER.findall(CLOCK.sub(" ", line)):
                key = re.sub(r"\s+", " ", label).strip().lower()
                number = float(value)
                found.setdefault(key, int(number) if number.is_integer() else number)
        return found

    def clocks(self) -> list[str]:
        return [m for line in self.lines for m in CLOCK.findall(line)]


def available() -> bool:
    try:
        import pytesseract  # noqa: F401
    except ImportError:
        return False
    return shutil.which("tesseract") is not None


def read_text(frame) -> ScreenText:
    """The confident text in a BGR frame, grouped into lines in reading order."""
    import cv2
    import pytesseract

    if not available():
        raise ModelError("on-screen text needs tesseract: apt-get install tesseract-ocr; pip install pytesseract")
    grey = cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY) if frame.ndim == 3 else frame
    if grey.shape[1] > MAX_WIDTH:
        scale = MAX_WIDTH / grey.shape[1]
        grey = cv2.resize(grey, (MAX_WIDTH, round(grey.shape[0] * scale)), interpolation=cv2.INTER_AREA)
    data = pytesseract.image_to_data(grey, output_type=pytesseract.Output.DICT, config="--psm 3")
    lines: dict[tuple[int, int, int], list[tuple[int, int, str]]] = {}
    for word, conf, block, par, line, top, left in zip(
        data["text"], data["conf"], data["block_num"], data["par_num"], data["line_num"], data["top"], data["left"]
    ):
        word = word.strip()
        if word and float(conf) >= MIN_CONFIDENCE and any(ch.isalnum() for ch in word):
            lines.setdefault((block, par, line), []).append((top, left, word))
    ordered = sorted(lines.values(), key=lambda words: (min(w[0] for w in words) // 20, min(w[1] for w in words)))
    return ScreenText([" ".join(w for _, _, w in sorted(words, key=lambda w: w[1])) for words in ordered])
