"""Run folders: outputs/<run-id>/ with commentary.json and a readable commentary.md."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

from ripple.atomic import atomic_dir
from ripple.generate import CommentaryRun
from ripple.plots import score_chart
from ripple.lm.prompting import slug


def new_run_id(out_dir: Path, stem: str) -> str:
    base = f"{datetime.now():%Y%m%d-%H%M%S}-{slug(stem)}"
    run_id, n = base, 1
    while (out_dir / run_id).exists():
        n += 1
        run_id = f"{base}-{n}"
    return run_id


def to_markdown(run: CommentaryRun) -> str:
    model = run.model
    cfg = run.config
    lines = [
        f"# Commentary: {cfg.state_file}",
        "",
        f"Run `{run.run_id}` · model `{model['name']}` ({model['architecture']}, "
        f"{model['parameters'] / 1e6:.1f}M parameters) · {cfg.sampling.candidates} candidates per moment · "
        f"seed {cfg.sampling.seed} · weights "
        + ", ".join(f"{k} {v:g}" for k, v in cfg.rank.weights.items()),
        "",
        "![scores per candidate](scores.png)",
        "",
    ]
    for i, result in enumerate(run.results):
        m = result.moment
        when = f"{m.clock()} · " if m.time is not None else ""
        lines += [f"## {i + 1}. {when}{m.game} — {result.template}", ""]
        if m.scene:
            lines.append(f"*{m.scene}*")
        if m.events:
            lines.append("Events: " + "; ".join(e.text for e in m.events))
        if m.numbers:
            lines.append("Numbers: " + m.spoken_numbers())
        if result.unwritten:
            lines += ["", f"> *not written: {result.unwritten}*", ""]
            continue
        lines += ["", f"> **{result.line or '(no usable line)'}**", ""]
        if result.note:
            lines += [f"> ⚠ {result.note}", ""]
        names = list(result.ranked[0].scores) if result.ranked else []
        lines.append("| # | total | " + " | ".join(names) + " | candidate |")
        lines.append("|---|---|" + "---|" * len(names) + "---|")
        for position, r in enumerate(result.ranked, start=1):
            cells = " | ".join(f"{r.scores[n].value:.2f}" for n in names)
            text = ((r.text or "(empty)") + (f" ✗ {'; '.join(r.faults)}" if r.faults else "")).replace("|", "\\|")
            lines.append(f"| {position} | {r.total:.3f} | {cells} | {text} |")
        best = result.ranked[0] if result.ranked else None
        if best:
            lines += ["", "Why the best: " + "; ".join(f"{n}: {s.reason}" for n, s in best.scores.items())]
        lines.append("")
    return "\n".join(lines)


def write_run(run: CommentaryRun, out_dir: Path) -> Path:
    """Write the run folder atomically and return it; sets run.run_id and run.folder."""
    out_dir = Path(out_dir)
    run.run_id = run.config.run_id or new_run_id(out_dir, run.config.state_file.stem)
    folder = out_dir / run.run_id
    with atomic_dir(folder) as tmp:
        write_commentary_files(run, tmp)
    run.folder = folder
    from ripple.store import DB_NAME, record_run

    record_run(out_dir / DB_NAME, run.to_json(), folder)  # every candidate kept for `ripple curate`
    return folder


def write_commentary_files(run: CommentaryRun, folder: Path, data: dict | None = None, chart: bool = True) -> None:
    """commentary.json (`data`, or the run's own), commentary.md and (with `chart`) scores.png
    into `folder`."""
    data = data if data is not None else run.to_json()
    # strict JSON: a NaN or an infinity written bare would make the file unreadable to others
    (folder / "commentary.json").write_text(json.dumps(data, indent=2, ensure_ascii=False, allow_nan=False) + "\n")
    (folder / "commentary.md").write_text(to_markdown(run))
    if chart and run.results:
        score_chart(run, folder / "scores.png")
