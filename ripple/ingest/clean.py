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
MAX_CHARS = 400  # ... or here: text without spaces (Chinese, Japanese) has no words to count
TAG = re.compile(r"</?[a-zA-Z][^>]*>|<\d{2}:[\d:.]+>")
NON_SPEECH = re.compile(r"\[[^\]]*\]|\((?:[^)]*\b(?:music|applause|laughter|laughs|inaudible|cheering)\b[^)]*)\)", re.I)
SPEAKER_MARK = re.compile(r">>+|^-\s+")
MUSIC = ("♪", "♫", "♬")
FILLER = frozenset("um uh umm uhh er erm hmm hm mm mhm ah uh-huh".split())
SENTENCE = re.compile(r"(?<=[.!?…])[\"')\]]*\s+|(?<=[。！？])[」』”）]*")
ENDS = re.compile(r"[.!?…。！？][\"')\]」』”）]*$")
CJK = re.compile(r"[\u3040-\u30ff\u3400-\u9fff\uac00-\ud7af]")


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
    chars = 0
    start = end = None
    last_line = ""  # the last line spoken: rolling captions and duplicate cues repeat it
    last_script: tuple[float | None, bool] | None = None  # the last line's start, and whether it was CJK

    def flush() -> None:
        nonlocal words, chars, start, end
        if words:
            out.append(Sentence(start, end, " ".join(words)))
        words, chars, start, end = [], 0, None, None

    for cue in cues:
        text = clean_text(cue.text)
        if not text:
            continue
        if text == last_line:  # shown again, not spoken again: its time says nothing of speech
            continue
        last_line = text
        script = (cue.start, bool(CJK.search(text)))
        if words and last_script is not None and script[0] == last_script[0] and script[1] != last_script[1]:
            flush()  # one cue's lines in two scripts are two languages (a bilingual subtitle), not one sentence
        last_script = script
        if words and end is not None and cue.start is not None and cue.start - end > PAUSE_S:
            flush()
        pieces = SENTENCE.split(text)
        for k, piece in enumerate(pieces):
            if not piece:
                continue
            for word in piece.split():
                for at in range(0, len(word), MAX_CHARS):  # a run of text with no spaces is cut too
                    if not words:
                        start = cue.start
                    words.append(word[at : at + MAX_CHARS])
                    chars += len(words[-1]) + 1
                    end = cue.end
                    if len(words) >= MAX_WORDS or chars >= MAX_CHARS:
                        flush()
            if words and (k < len(pieces) - 1 or ENDS.search(piece)):
                flush()
        if cue.start is None:  # untimed text: a line is a unit of its own
            flush()
    flush()
    return out
