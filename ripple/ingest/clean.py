"""Caption text into clean speech, and cues into sentences with their time spans.

What comes out of captions besides speech: HTML entities (sometimes escaped twice),
styling tags, `[Music]`/`[Applause]` marks, lyrics between `♪`, `>>` speaker changes, and
cues of nothing but "um". Auto-captions have no punctuation at all, so a sentence also
ends at a pause or when it grows too long to be one.
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass

from ripple.ingest.cues import Cue

PAUSE_S = 1.2  # a silence this long ends a sentence in unpunctuated captions
MAX_WORDS = 40  # a run-on caption stream is cut here at the latest
TAG = re.compile(r"</?[a-zA-Z][^>]*>|<\d{2}:[\d:.]+>")
NON_SPEECH = re.compile(r"\[[^\]]*\]|\((?:[^)]*\b(?:music|applause|laughter|laughs|inaudible|cheering)\b[^)]*)\)", re.I)
SPEAKER_MARK = re.compile(r">>+|^-\s+")
MUSIC = ("♪", "♫", "♬")
FILLER = frozenset("um uh umm uhh er erm hmm hm mm mhm ah uh-huh".split())
SENTENCE = re.compile(r"(?<=[.!?…])[\"')\]]*\s+")


@dataclass(frozen=True)
class Sentence:
    start: float | None
    end: float | None
    text: str


def clean_text(raw: str) -> str:
    """Speech only, on one line; '' when nothing spoken is left."""
    text = html.unescape(html.unescape(raw))  # YouTube XML often escapes entities twice
    if any(mark in text for mark in MUSIC):
        return ""
    text = TAG.sub("", text)
    text = NON_SPEECH.sub(" ", text)
    text = SPEAKER_MARK.sub(" ", text)
    text = " ".join(text.split())
    words = re.findall(r"[\w'-]+", text.lower())
    if not words or all(w in FILLER for w in words):
        return ""
    return text


def sentences(cues: list[Cue]) -> list[Sentence]:
    """Join cleaned cues into sentences: at punctuation, a pause, or MAX_WORDS.

    A cue whose text repeats the line spoken just before (fillers and marks aside) is
    dropped: that undoes YouTube's rolling captions and duplicate cues in any format.
    """
    out: list[Sentence] = []
    words: list[str] = []
    start = end = None
    last_line = ""  # the last line spoken: rolling captions and duplicate cues repeat it

    def flush() -> None:
        nonlocal words, start, end
        if words:
            out.append(Sentence(start, end, " ".join(words)))
        words, start, end = [], None, None

    for cue in cues:
        text = clean_text(cue.text)
        if not text:
            continue
        if text == last_line:  # shown again, not spoken again: its time says nothing of speech
            continue
        last_line = text
        if words and end is not None and cue.start is not None and cue.start - end > PAUSE_S:
            flush()
        pieces = SENTENCE.split(text)
        for k, piece in enumerate(pieces):
            if not piece:
                continue
            if not words:
                start = cue.start
            words += piece.split()
            end = cue.end
            if k < len(pieces) - 1 or re.search(r"[.!?…][\"')\]]*$", piece) or len(words) >= MAX_WORDS:
                flush()
        if cue.start is None:  # untimed text: a line is a unit of its own
            flush()
    flush()
    return out
