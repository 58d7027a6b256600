"""The end-of-batch report: report.md for reading in a terminal or a repository, and
report.html, one self-contained page (keyframe thumbnails inlined) with the chosen lines,
links to the narrated clips, and every failure with its reason."""

from __future__ import annotations

import base64
import html
import json
from pathlib import Path

from ripple.atomic import atomic_write_text
from ripple.batch.config import BatchConfig
from ripple.batch.jobs import output_folder
from ripple.batch.manifest import Job, Manifest

THUMB_WIDTH_PX = 480  # the contact sheet, scaled down for the page


def _thumbnail(sheet: Path) -> str | None:
    """The contact sheet as a data: URL, scaled down (JPEG keeps the page small)."""
    import cv2

    image = cv2.imread(str(sheet))
    if image is None:
        return None
    height = round(image.shape[0] * THUMB_WIDTH_PX / image.shape[1])
    ok, jpeg = cv2.imencode(".jpg", cv2.resize(image, (THUMB_WIDTH_PX, height), interpolation=cv2.INTER_AREA),
                            [cv2.IMWRITE_JPEG_QUALITY, 80])
    return "data:image/jpeg;base64," + base64.b64encode(jpeg.tobytes()).decode() if ok else None


def _lines(job: Job) -> list[str]:
    return [line for line in (job.outputs or {}).get("lines", []) if line]


def _by_input(manifest: Manifest) -> dict[str, list[Job]]:
    grouped: dict[str, list[Job]] = {}
    for job in manifest.jobs():
        grouped.setdefault(job.input, []).append(job)
    return grouped


def to_markdown(cfg: BatchConfig, manifest: Manifest) -> str:
    summary = manifest.summary()
    out = [f"# Batch report: {cfg.source}", "",
           "| stage | done | failed | pending |", "|---|---|---|---|"]
    for stage, counts in sorted(summary.items()):
        out.append(f"| {stage} | {counts['done']} | {counts['failed']} | {counts['pending'] + counts['running']} |")
    for name, jobs in _by_input(manifest).items():
        out += ["", f"## {name}", ""]
        for job in jobs:
            folder = output_folder(Path("."), job.input, job.stage).as_posix()
            if job.status == "done":
                extra = f" ([narrated clip]({folder}/narrated.mp4))" if job.stage == "narrate" else ""
                out.append(f"- **{job.stage}**: done in {(job.outputs or {}).get('seconds', 0):.1f} s, "
                           f"`{folder}/`{extra}")
                out += [f"  - “{line}”" for line in _lines(job)]
                if job.stage == "transcribe":
                    out.append(f"  - {job.outputs.get('segments', 0)} segments, {job.outputs.get('words', 0)} words")
            else:
                out.append(f"- **{job.stage}**: {job.status}"
                           + (f" after {job.failures} attempt(s): {job.error}" if job.error else ""))
    return "\n".join(out) + "\n"


PAGE_STYLE = """
body { font: 15px/1.45 system-ui, sans-serif; margin: 2rem auto; max-width: 62rem; color: #222; }
table { border-collapse: collapse; } td, th { border: 1px solid #ccc; padding: .25rem .6rem; }
section { border-top: 1px solid #ddd; margin-top: 1.5rem; padding-top: .5rem; }
.failed { color: #b00020; } .done { color: #1b7f3b; } img { max-width: 100%; border: 1px solid #ddd; }
blockquote { margin: .3rem 0 .3rem 1rem; font-style: italic; }
"""


def to_html(cfg: BatchConfig, manifest: Manifest) -> str:
    e = html.escape
    parts = [f"<!doctype html><html lang='en'><meta charset='utf-8'><title>Ripple batch: {e(str(cfg.source))}</title>",
             f"<style>{PAGE_STYLE}</style><h1>Batch report</h1><p>{e(str(cfg.source))} → {e(str(cfg.out))}</p>",
             "<table><tr><th>stage</th><th>done</th><th>failed</th><th>pending</th></tr>"]
    for stage, counts in sorted(manifest.summary().items()):
        parts.append(f"<tr><td>{e(stage)}</td><td>{counts['done']}</td><td>{counts['failed']}</td>"
                     f"<td>{counts['pending'] + counts['running']}</td></tr>")
    parts.append("</table>")
    for name, jobs in _by_input(manifest).items():
        parts.append(f"<section><h2>{e(name)}</h2>")
        for job in jobs:
            folder = output_folder(cfg.out, job.input, job.stage)
            rel = output_folder(Path("."), job.input, job.stage).as_posix()
            if job.status != "done":
                reason = f": {e(job.error)}" if job.error else ""
                parts.append(f"<p class='failed'><b>{e(job.stage)}</b>: {e(job.status)}{reason}</p>")
                continue
            parts.append(f"<p class='done'><b>{e(job.stage)}</b>: done in "
                         f"{(job.outputs or {}).get('seconds', 0):.1f} s</p>")
            if job.stage == "narrate":
                thumb = _thumbnail(folder / "keyframes.png")
                if thumb:
                    parts.append(f"<img alt='keyframes of {e(name)}' src='{thumb}'>")
                parts.append(f"<p><a href='{e(rel)}/narrated.mp4'>narrated clip</a> · "
                             f"<a href='{e(rel)}/narrated.srt'>subtitles</a></p>")
            if job.stage == "transcribe":
                parts.append(f"<p>{job.outputs.get('segments', 0)} segments, {job.outputs.get('words', 0)} words "
                             f"(<a href='{e(rel)}/transcript.jsonl'>transcript</a>)</p>")
            parts += [f"<blockquote>{e(line)}</blockquote>" for line in _lines(job)]
        parts.append("</section>")
    return "\n".join(parts) + "\n</html>\n"


def write_reports(cfg: BatchConfig, manifest: Manifest) -> list[Path]:
    paths = [atomic_write_text(cfg.out / "report.md", to_markdown(cfg, manifest)),
             atomic_write_text(cfg.out / "report.html", to_html(cfg, manifest)),
             atomic_write_text(cfg.out / "batch.json", json.dumps(cfg.to_dict(), indent=2, default=str) + "\n")]
    return paths
