"""Batch throughput side by side, on the same folder of short gameplay clips:

- ripple batch with 1 and with 2 local workers (models loaded once per worker);
- the peer a person would write without it: a shell loop of `ripple narrate`, one clip
  after another, and the same through `xargs -P 2` (each clip pays for its own start-up
  and model load).

Prints clips per hour and the scaling from 1 to 2 workers, then the manifest's own cost
per job (sync, start, finish and the resume check, on a manifest of many jobs).

Run:  .venv/bin/python bench/batch.py [--clips 6] [--seconds 8] [--model smollm2-135m]
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from ripple.batch.manifest import Manifest  # noqa: E402
from tests.media import make_gameplay  # noqa: E402

MANIFEST_JOBS = 2000  # jobs in the manifest-overhead measurement


def ripple(*args: str) -> list[str]:
    return [sys.executable, "-m", "ripple", *args]


def timed(cmd: list[str] | str, shell: bool = False) -> float:
    started = time.perf_counter()
    subprocess.run(cmd, shell=shell, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                   env={**os.environ, "HF_HUB_OFFLINE": "1"})
    return time.perf_counter() - started


def manifest_overhead(folder: Path) -> dict[str, float]:
    """Milliseconds per job for each manifest operation a batch makes."""
    folder.mkdir(parents=True, exist_ok=True)
    manifest = Manifest(folder)
    wanted = [(f"clip {i:05d}.mp4", "narrate", f"{i:064x}", "s" * 16, None) for i in range(MANIFEST_JOBS)]
    started = time.perf_counter()
    manifest.sync(wanted)
    sync = time.perf_counter() - started
    started = time.perf_counter()
    for job in manifest.jobs():
        manifest.started(job.id, "local:0")
        manifest.done(job.id, {"folder": job.input, "lines": ["a line"] * 10}, 1.0)
    run = time.perf_counter() - started
    started = time.perf_counter()
    manifest.sync(wanted)  # the resume check of a second run: nothing changed
    resync = time.perf_counter() - started
    manifest.close()
    return {"sync": sync / MANIFEST_JOBS * 1000, "start+finish": run / MANIFEST_JOBS * 1000,
            "resume check": resync / MANIFEST_JOBS * 1000}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--clips", type=int, default=6)
    parser.add_argument("--seconds", type=float, default=8.0)
    parser.add_argument("--model", default="smollm2-135m")
    parser.add_argument("--candidates", type=int, default=4)
    args = parser.parse_args()
    settings = ["--model", args.model, "--candidates", str(args.candidates), "--voice", "espeak-ng"]
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        clips = tmp / "clips"
        for i in range(args.clips):
            make_gameplay(clips / f"clip {i}.mp4", seconds=args.seconds, size=(640, 360), bursts=(args.seconds / 2,))
        rows = []

        def measure(name: str, cmd: list[str] | str, shell: bool = False) -> None:
            rows.append((name, timed(cmd, shell)))
            print(f"{name}: {rows[-1][1]:.1f} s", flush=True)  # a later failure keeps what was measured

        for workers in (1, 2):
            measure(f"ripple batch, {workers} worker{'s' if workers > 1 else ''}",
                    ripple("batch", str(clips), "--out", str(tmp / f"batch{workers}"), "--stage", "narrate",
                           "--workers", str(workers), *settings))
        quoted = " ".join(f"'{a}'" for a in ripple("narrate", *settings))
        measure("shell loop of ripple narrate",
                f"cd '{clips}' && for f in *.mp4; do {quoted} \"$f\" --out '{tmp}/loop' || exit 1; done", shell=True)
        measure("xargs -P 2 ripple narrate",
                f"cd '{clips}' && ls *.mp4 | tr '\\n' '\\0' | xargs -0 -P 2 -I{{}} {quoted} {{}} --out '{tmp}/xargs'",
                shell=True)
        print()
        overhead = manifest_overhead(tmp / "manifest")
        shutil.rmtree(clips)
    print(f"{args.clips} clips of {args.seconds:g} s (640x360), model {args.model}, {args.candidates} candidates, "
          f"espeak-ng, {os.cpu_count()} CPUs\n")
    print("| runner | wall seconds | clips per hour |")
    print("|---|---|---|")
    for name, seconds in rows:
        print(f"| {name} | {seconds:.1f} | {args.clips / seconds * 3600:.0f} |")
    one, two, loop, xargs = (s for _, s in rows)
    print(f"\nscaling 1 → 2 workers: {one / two:.2f}x; batch (2 workers) against xargs -P 2: {xargs / two:.2f}x; "
          f"batch (1 worker) against the shell loop: {loop / one:.2f}x")
    print(f"\nmanifest, {MANIFEST_JOBS} jobs: " + ", ".join(f"{k} {v:.3f} ms/job" for k, v in overhead.items()))


if __name__ == "__main__":
    main()
