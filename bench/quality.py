"""Line quality: what the chosen lines say about their moments, setting beside setting.

Every setting writes commentary for the same game-state files (bench/states/heldout/ by
default: files no prompt, scorer or decoding rule was tuned on) with `ripple generate`'s
own library call, and each line is read against its moment by ripple.grounding, the same
checks the faithfulness scorer ranks with. Printed per setting, over the top-ranked lines
and then over every candidate (the gap is the ranking's lift):

  grounded   names what happened: an event's number or name, or two of its words
  num        holds a number the moment does not
  misuse     says a number the moment holds beside none of the words it comes with there
  name       holds a capitalised name the moment does not
  unfin      unfinished (no sentence end)
  game       names another game
  field      reads out a raw field name (gold_diff)
  reader     speaks to the reader ("your story")
  repeat     repeats an earlier line of its file (its opening or half its trigrams)
  cand/s     candidates written per second (model loading not counted)

Run:  .venv/bin/python bench/quality.py [--set heldout|dev] [--settings tf-n8 ct2-n8 ...]
                                        [--model NAME]... [--out bench/results/quality] [--seed N]
Settings: tf-n8 tf-n1 ct2-n8 ct2-n1 (backend and candidates; the default template choice; N=1
is one candidate as written, with no redraw; the default precision), tf-n8-fp32, tf-n8-bf16,
tf-n8-int8 (a precision named),
and ct2-n8-play-by-play, ct2-n8-colour, ct2-n8-hype (one template for every moment).
Each --model adds the settings again for that model (a tuned one against the base).
--rescore OUT reads the lines an earlier run wrote again with today's checks.
The lines, every candidate and its checks go to OUT/<setting>.json and OUT/lines.md.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from dataclasses import replace
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from ripple.lm import models  # noqa: E402
from ripple.generate import generate_commentary  # noqa: E402
from ripple.config import DEFAULT_MODEL, GenerateConfig, SamplingConfig  # noqa: E402
from ripple.grounding import Grounding  # noqa: E402
from ripple.state import load_moments  # noqa: E402

SETTINGS = {
    "tf-n8": dict(backend="transformers", candidates=8),  # the default precision (auto: bf16 where native)
    **{f"tf-n8-{p}": dict(backend="transformers", candidates=8, precision=p) for p in ("fp32", "bf16", "int8")},
    "tf-n1": dict(backend="transformers", candidates=1, redraws=0),
    "ct2-n8": dict(backend="ctranslate2", candidates=8),
    "ct2-n1": dict(backend="ctranslate2", candidates=1, redraws=0),
    **{f"ct2-n8-{t}": dict(backend="ctranslate2", candidates=8, template=t) for t in ("play-by-play", "colour", "hype")},
}
DEFAULT_SETTINGS = ("tf-n8", "tf-n1", "ct2-n8", "ct2-n1")
GROUND = True  # --no-ground: decode without the number constraint and name bias
SEED = 0  # --seed: another draw of every setting, to tell a setting's effect from the sampling's
COLUMNS = ("grounded", "num", "misuse", "name", "unfin", "game", "field", "reader", "repeat")


def _sampling(spec: dict) -> dict:
    """The setting's sampling fields that this Ripple has (an earlier one, run for a
    baseline, has neither ground nor redraws)."""
    wanted = {"candidates": spec["candidates"], "ground": GROUND, "redraws": spec.get("redraws", 1), "seed": SEED}
    return {k: v for k, v in wanted.items() if k in SamplingConfig.__dataclass_fields__}


def figures(checks) -> dict[str, float]:
    """Shares (0..1) of the checks that show each sign."""
    n = max(1, len(checks))
    return {
        "grounded": sum(c.happened for c in checks) / n,
        "num": sum(bool(c.numbers) for c in checks) / n,
        "misuse": sum(bool(c.misplaced) for c in checks) / n,
        "name": sum(bool(c.names) for c in checks) / n,
        "unfin": sum(c.unfinished or not c.text.strip() for c in checks) / n,
        "game": sum(bool(c.games) for c in checks) / n,
        "field": sum(bool(c.fields) for c in checks) / n,
        "reader": sum(bool(c.reader) for c in checks) / n,
        "repeat": sum(bool(c.repeats) for c in checks) / n,
    }


def run_setting(name: str, spec: dict, model: str, files: list[Path], out: Path, loaded: dict) -> dict:
    key = (model, spec["backend"], spec.get("precision", "auto"))
    if key not in loaded:
        loaded[key] = models.load(model, key[2], spec["backend"])
    lm = loaded[key]
    top, every, moments_out, written, seconds = [], [], [], 0, 0.0
    for path in files:
        cfg = GenerateConfig(state_file=path, model=model, backend=spec["backend"], precision=key[2],
                             template=spec.get("template", "auto"),
                             sampling=replace(SamplingConfig(), **_sampling(spec)))
        started = time.perf_counter()
        run = generate_commentary(cfg, lm=lm, moments=load_moments(path))
        seconds += time.perf_counter() - started
        said: list[str] = []  # as the run said them: each moment's prompt saw the lines before it
        for result in run.results:
            grounding = Grounding.of(result.moment, said)
            checks = [grounding.check(r.text) for r in result.ranked]
            written += len(checks)
            every += checks
            if checks:
                top.append(checks[0])
            moments_out.append({
                "file": path.name, "time": result.moment.clock(), "template": result.template,
                "events": [e.text for e in result.moment.events], "scene": result.moment.scene,
                "line": result.line,
                "candidates": [{"text": c.text, "faults": list(c.faults), "grounded": list(c.grounded),
                                "names": list(c.names)} for c in checks],
            })
            if result.line:
                said.append(result.line)
    row = {"setting": name, "model": model, "moments": len(top), "cand_per_s": written / seconds if seconds else 0.0,
           "top": figures(top), "all": figures(every)}
    (out / f"{name}.json").write_text(json.dumps({**row, "moments_detail": moments_out}, indent=1))
    return row


def rescore(folder: Path, names: list[str], files: list[Path]) -> list[dict]:
    """The figures of runs written before (OUT/<setting>.json), read again with today's checks."""
    moments = {f.name: load_moments(f) for f in files}
    rows = []
    for name in names:
        saved = json.loads((folder / f"{name}.json").read_text())
        top, every, said, seen = [], [], {}, {}
        for m in saved["moments_detail"]:
            k = seen[m["file"]] = seen.get(m["file"], -1) + 1
            grounding = Grounding.of(moments[m["file"]][k], said.get(m["file"], []))
            checks = [grounding.check(c["text"]) for c in m["candidates"]]
            every += checks
            top += checks[:1]
            if m["line"]:
                said.setdefault(m["file"], []).append(m["line"])
        rows.append({**saved, "top": figures(top), "all": figures(every)})
    return rows


def table(rows: list[dict]) -> str:
    head = f"{'setting':<26}{'over':<5}" + "".join(f"{c:>9}" for c in COLUMNS) + f"{'cand/s':>9}"
    lines = [head, "-" * len(head)]
    for row in rows:
        for over in ("top", "all"):
            label = f"{row['setting']}" if over == "top" else ""
            cells = "".join(f"{100 * row[over][c]:>8.0f}%" for c in COLUMNS)
            rate = f"{row['cand_per_s']:>9.2f}" if over == "top" else ""
            lines.append(f"{label:<26}{over:<5}{cells}{rate}")
    return "\n".join(lines)


def lines_md(out: Path, names: list[str]) -> None:
    """Each moment's events and every setting's chosen line, to read one by one."""
    details = {n: json.loads((out / f"{n}.json").read_text())["moments_detail"] for n in names}
    first = details[names[0]]
    text = ["# Chosen lines per moment\n"]
    for i, m in enumerate(first):
        text.append(f"## {m['file']} {m['time']}\n\nevents: {'; '.join(m['events']) or '(none) scene: ' + m['scene']}\n")
        for n in names:
            d = details[n][i]
            faults = next((c["faults"] for c in d["candidates"] if c["text"] == d["line"]), [])
            text.append(f"- **{n}**: {d['line'] or '(silent)'}" + (f"  ⚠ {'; '.join(faults)}" if faults else ""))
        text.append("")
    (out / "lines.md").write_text("\n".join(text))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--set", default="heldout", help="a folder under bench/states/, or a path")
    ap.add_argument("--settings", nargs="+", default=list(DEFAULT_SETTINGS), choices=list(SETTINGS))
    ap.add_argument("--model", action="append", default=[], help="a model to compare with the default")
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "quality")
    ap.add_argument("--no-ground", action="store_true", help="decode without the number constraint and name bias")
    ap.add_argument("--rescore", type=Path, help="read the lines of an earlier run's OUT again, writing nothing")
    ap.add_argument("--seed", type=int, default=0, help="the sampling seed (default 0): another draw of the same settings")
    args = ap.parse_args()
    global GROUND, SEED
    GROUND, SEED = not args.no_ground, args.seed
    folder = Path(args.set) if Path(args.set).is_dir() else ROOT / "bench" / "states" / args.set
    files = sorted(folder.glob("*.yaml"))
    if not files:
        sys.exit(f"no game-state files in {folder}")
    if args.rescore:
        print(table(rescore(args.rescore, [n for n in args.settings if (args.rescore / f"{n}.json").is_file()], files)))
        return
    args.out.mkdir(parents=True, exist_ok=True)
    n_moments = sum(len(load_moments(f)) for f in files)
    print(f"{n_moments} moments in {len(files)} files of {folder}")
    loaded: dict = {}
    rows, names = [], []
    for model in [DEFAULT_MODEL, *args.model]:
        for name in args.settings:
            label = name if model == DEFAULT_MODEL else f"{name} [{Path(model).name}]"
            rows.append(run_setting(label.replace(" ", "_").replace("/", "-"), SETTINGS[name], model, files,
                                    args.out, loaded))
            names.append(rows[-1]["setting"])
            print(table(rows[-1:]).splitlines()[-2], flush=True)
    print()
    print(table(rows))
    lines_md(args.out, names)
    print(f"\nlines to read: {args.out / 'lines.md'}")


if __name__ == "__main__":
    main()
