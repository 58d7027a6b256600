"""`ripple ingest`: transcript files in every format people have into one clean corpus.

One reader per format turns a file into cues; clean.py turns cues into sentences; this
module walks the sources, names the game, reads sidecars, removes duplicates across files,
and writes the corpus (JSON Lines) atomically. A file that cannot be read is listed with
its reason and never stops the others.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from ripple.atomic import atomic_write_text
from ripple.errors import InputError
from ripple.ingest.clean import sentences
from ripple.ingest.cues import Cue, ReadError, decode
from ripple.ingest.sbv import read_sbv
from ripple.ingest.srt import read_srt
from ripple.ingest.text import read_text
from ripple.ingest.timedtext import read_xml
from ripple.ingest.vtt import read_vtt
from ripple.ingest.youtube_json import read_json

READERS: dict[str, Callable[[str], list[Cue]]] = {
    ".vtt": read_vtt,
    ".srt": read_srt,
    ".sbv": read_sbv,
    ".json3": read_json,
    ".json": read_json,
    ".xml": read_xml,
    ".srv3": read_xml,
    ".txt": read_text,
}
SIDECAR = ".info.json"  # what yt-dlp writes beside a video: title, channel, ...
GAME_FILE = "game.txt"  # a folder's game, for every transcript in it
MAX_TRANSCRIPT_BYTES = 64 * 1024 * 1024  # hours of captions are a few MB
MAX_NAME_CHARS = 200  # a game's name, from game.txt, a sidecar or a title
DEDUPE_MIN_WORDS = 5  # shorter lines ("let's go") recur honestly across videos
LANGUAGE_SUFFIX = re.compile(r"\.[a-z]{2,3}(?:[-_][A-Za-z0-9]+)*$")  # .en, .en-US, .en-orig
VIDEO_ID = re.compile(r"\s*\[[A-Za-z0-9_-]{6,}\]\s*")
TITLE_NOISE = re.compile(
    r"\b(?:let'?s play|walkthrough|playthrough|gameplay|full game|no commentary|commentary|"
    r"part\s*\d+|episode\s*\d+|ep\.?\s*\d+|#\s*\d+)\b.*$",
    re.I,
)


@dataclass
class IngestReport:
    files: int = 0  # transcript files read
    segments: int = 0
    words: int = 0
    duplicates: int = 0  # segments dropped as already seen in an earlier file
    per_game: Counter = field(default_factory=Counter)  # game -> segments
    words_per_game: Counter = field(default_factory=Counter)
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (file, reason)


def base_name(path: Path) -> str:
    """'Doom run [abc123XYZ].en.vtt' -> 'Doom run [abc123XYZ]' (what sidecars are named after)."""
    return LANGUAGE_SUFFIX.sub("", path.name[: -len(path.suffix)] if path.suffix else path.name)


def read_sidecar(path: Path) -> dict:
    sidecar = path.with_name(base_name(path) + SIDECAR)
    if not sidecar.is_file():
        return {}
    try:
        if sidecar.stat().st_size > MAX_TRANSCRIPT_BYTES:
            return {}
        data = json.loads(sidecar.read_text(encoding="utf-8-sig"))
    except (ValueError, RecursionError, OSError):  # invalid JSON or UTF-8, deep nesting, huge integers
        return {}
    # Only the text fields are read, and only as text: a title of 5 or a game of [1] is no name.
    return {k: v.strip()[:MAX_NAME_CHARS] for k, v in data.items() if isinstance(v, str) and v.strip()} \
        if isinstance(data, dict) else {}


def folder_game(path: Path) -> str | None:
    """The first line of game.txt beside `path`: plain text only (a binary file names no game)."""
    marker = path.parent / GAME_FILE
    try:
        if not marker.is_file():
            return None
        with open(marker, "rb") as f:
            data = f.read(4096)
        text = data.decode("utf-8-sig")
    except (OSError, UnicodeDecodeError):
        return None
    if "\x00" in text:
        return None
    name = (text.strip().splitlines() or [""])[0].strip()[:MAX_NAME_CHARS]
    return name if name.isprintable() and name else None


def game_from_title(title: str) -> str:
    """'Doom Eternal - Let's Play Part 3 [xyz]' -> 'Doom Eternal'."""
    name = VIDEO_ID.sub(" ", title).replace("_", " ")
    name = re.split(r"\s+[-|–—:]\s+|\s*\|\s*", name)[0]
    name = TITLE_NOISE.sub("", name)
    return " ".join(name.split()).strip(" -|") or "unknown"


def find_transcripts(sources: list[Path]) -> tuple[list[Path], list[tuple[str, str]]]:
    files, skipped = [], []
    for source in sources:
        if source.is_dir():
            for path in sorted(p for p in source.rglob("*") if p.is_file()):
                if path.name.endswith(SIDECAR) or path.name.startswith(".") or path.name in (GAME_FILE, "README.md"):
                    continue
                if path.suffix.lower() in READERS:
                    files.append(path)
                else:
                    skipped.append((str(path), f"not a transcript format ({path.suffix or 'no suffix'})"))
        elif source.is_file():
            files.append(source)
        else:
            skipped.append((str(source), "no such file or folder"))
    return files, skipped


def read_transcript(path: Path) -> list[Cue]:
    reader = READERS.get(path.suffix.lower())
    if reader is None:
        raise ReadError(f"not a transcript format ({path.suffix or 'no suffix'}); expected " + ", ".join(READERS))
    from ripple.reading import raised

    limit = raised("MAX_TRANSCRIPT_MB", MAX_TRANSCRIPT_BYTES // 2**20) * 2**20
    if path.stat().st_size > limit:
        raise ReadError(f"file is {path.stat().st_size / 2**20:,.0f} MiB, over {limit // 2**20} MiB "
                        "(RIPPLE_MAX_TRANSCRIPT_MB raises it)")
    return reader(decode(path.read_bytes()))


def ingest(sources: list[Path], out: Path, game: str | None = None) -> IngestReport:
    """Read every transcript under `sources` into the corpus `out` and say what happened."""
    report = IngestReport()
    files, report.skipped = find_transcripts([Path(s) for s in sources])
    seen: set[str] = set()
    lines: list[str] = []
    for path in files:
        try:
            spans = sentences(read_transcript(path))
        except ReadError as exc:
            report.skipped.append((str(path), str(exc)))
            continue
        except OSError as exc:
            report.skipped.append((str(path), exc.strerror or str(exc)))
            continue
        except (RecursionError, MemoryError, ValueError, TypeError) as exc:  # one hostile file never stops the rest
            report.skipped.append((str(path), f"cannot be read ({type(exc).__name__}: {str(exc)[:80]})"))
            continue
        if not spans:
            report.skipped.append((str(path), "no speech left after cleaning"))
            continue
        info = read_sidecar(path)
        title = (info.get("title") or VIDEO_ID.sub(" ", base_name(path)).strip())[:MAX_NAME_CHARS]
        name = (game or info.get("game") or folder_game(path)
                or game_from_title(info.get("title") or base_name(path)))[:MAX_NAME_CHARS]
        report.files += 1
        for span in spans:
            n_words = len(span.text.split())
            if n_words >= DEDUPE_MIN_WORDS:
                key = hashlib.sha1(re.sub(r"[^a-z0-9]+", " ", span.text.lower()).strip().encode()).hexdigest()
                if key in seen:
                    report.duplicates += 1
                    continue
                seen.add(key)
            record = {
                "game": name,
                "source": str(path),
                "start": None if span.start is None else round(span.start, 3),
                "end": None if span.end is None else round(span.end, 3),
                "text": span.text,
                "title": title,
                "channel": info.get("channel") or info.get("uploader"),
            }
            lines.append(json.dumps(record, ensure_ascii=False))
            report.segments += 1
            report.words += n_words
            report.per_game[name] += 1
            report.words_per_game[name] += n_words
    if not lines:
        reasons = "; ".join(f"{Path(f).name}: {r}" for f, r in report.skipped[:3]) or "no transcript files"
        raise InputError(", ".join(str(s) for s in sources), f"nothing to ingest ({reasons})")
    atomic_write_text(out, "\n".join(lines) + "\n")
    return report
