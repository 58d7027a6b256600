"""Real games end to end: how long Ripple takes to record and narrate a minute of Doom,
against the minute of play, and how soon live commentary is heard after an event.

1. record + narrate: `ripple record doom` for --seconds of play (the agent, ViZDoom and
   the H.264 encoder), then `ripple narrate gameplay.mp4 --states timeline.jsonl` on it,
   with narrate's defaults (8 candidates of up to 40 tokens, every scorer, piper), lighter
   (2 candidates of up to 16 tokens, int8, no relevance model, espeak-ng) through
   transformers, and the same light setting through CTranslate2 ("fast"); and narrate's
   defaults through CTranslate2 at fp32 and int8 ("ct2", "ct2-int8"). Model loading is
   timed apart: a person pays it once per process.
2. live: `ripple live doom` for --live-seconds at the game's real speed, 2 candidates of
   16 tokens on one thread, through transformers (the old default) and CTranslate2 at
   int8, each line waited for whole, streamed (a line's first clause voiced while the
   rest is written), streamed with lines written ahead for likely events, and that with an
   event as big as the line being spoken breaking it off at a pause (the default): event
   to first audio, p50 and p95, the silence between spoken lines (mean and p95) and the
   share of the session spoken, and the pace the game kept; --sessions of each (default 5,
   seeds SEED, SEED+1, ...), every session printed.

Everything runs in this process on the embedded SmolLM2 (loaded once per backend and
precision; CTranslate2's conversion is cached after the first run).
Run:  .venv/bin/python bench/games.py [--seconds 60] [--live-seconds 30] [--skip-live] [--setting fast]
      [--live ahead --live break-off] [--sessions 5]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from ripple.lm import models  # noqa: E402
from ripple.config import DEFAULT_MODEL, GenerateConfig, RankConfig, SamplingConfig  # noqa: E402
from ripple.games.commentator import LIVE_WEIGHTS, CommentatorConfig  # noqa: E402
from ripple.games.live import LiveConfig, live  # noqa: E402
from ripple.games.record import RecordConfig, record  # noqa: E402
from ripple.narrate import NarrateConfig, narrate  # noqa: E402
from ripple.voice import VoiceConfig  # noqa: E402

LIGHT = SamplingConfig(candidates=2, max_new_tokens=16)
SETTINGS = {  # --setting: (label, backend, precision, sampling, weights or None for the defaults, voice)
    "defaults": ("narrate defaults", "transformers", "auto", SamplingConfig(), None, "auto"),
    "light": ("light (2x16, int8, espeak-ng)", "transformers", "int8", LIGHT,
              LIVE_WEIGHTS, "espeak-ng"),  # live's scorers: no relevance model
    "fast": ("fast (light through ctranslate2)", "ctranslate2", "int8", LIGHT, LIVE_WEIGHTS, "espeak-ng"),
    "ct2": ("narrate defaults through ctranslate2", "ctranslate2", "fp32", SamplingConfig(), None, "auto"),
    "ct2-int8": ("narrate defaults through ctranslate2, int8", "ctranslate2", "int8", SamplingConfig(), None, "auto"),
}
LIVE = {  # --live: (backend, precision, voice, stream, ahead, break_off)
    "transformers": ("transformers", "int8", "espeak-ng", False, False, False),  # the default before ctranslate2
    "ct2-espeak": ("ctranslate2", "int8", "espeak-ng", False, False, False),
    "whole": ("ctranslate2", "int8", "auto", False, False, False),  # piper, each line waited for whole
    "streamed": ("ctranslate2", "int8", "auto", True, False, False),  # the first clause voiced early
    "ahead": ("ctranslate2", "int8", "auto", True, True, False),  # streamed, and lines written ahead
    "break-off": ("ctranslate2", "int8", "auto", True, True, True),  # the live default: equal events break off
}


def timed(fn):
    started = time.perf_counter()
    result = fn()
    return result, time.perf_counter() - started


def bench_record_narrate(out: Path, seconds: float, scenario: str, seed: int, settings: list[str]) -> list[dict]:
    rec, record_s = timed(lambda: record(RecordConfig("doom", scenario, seconds=seconds, seed=seed, out_dir=out,
                                                      run_id="recorded")))
    video, states = rec.folder / "gameplay.mp4", rec.folder / "timeline.jsonl"
    rows, loaded = [], {}
    for name, backend, precision, sampling, weights, voice in (SETTINGS[s] for s in settings):
        if (backend, precision) not in loaded:
            loaded[backend, precision] = timed(lambda: models.load(DEFAULT_MODEL, precision, backend))
        lm, load_s = loaded[backend, precision]
        cfg = NarrateConfig(
            video=video, states=states, voice=VoiceConfig(backend=voice),
            generate=GenerateConfig(state_file=video, model=DEFAULT_MODEL, precision=precision, backend=backend,
                                    sampling=sampling, rank=RankConfig(weights=weights) if weights else RankConfig(),
                                    out_dir=out, run_id=f"narrated-{backend}-{precision}-{sampling.candidates}"),
        )
        result, narrate_s = timed(lambda: narrate(cfg, lm=lm))
        total = record_s + narrate_s
        rows.append({"setting": name, "record_s": record_s, "narrate_s": narrate_s, "total_s": total,
                     "load_s": load_s, "x_real_time": total / seconds, "moments": len(result.moments),
                     "written": sum(not r.unwritten for r in result.commentary.results),
                     "lines": len(result.lines), "stages": result.seconds})
    return rows


def bench_live(out: Path, seconds: float, scenario: str, seed: int, settings: list[str], sessions: int = 1) -> list[dict]:
    rows, loaded = [], {}
    runs = [(s, LIVE[s], i) for s in settings for i in range(sessions)]
    for name, (backend, precision, voice, stream, ahead, break_off), i in runs:
        if (backend, precision) not in loaded:
            loaded[backend, precision] = models.load(DEFAULT_MODEL, precision, backend)
        lm = loaded[backend, precision]
        cfg = LiveConfig(RecordConfig("doom", scenario, seconds=seconds, seed=seed + i, out_dir=out,
                                      run_id=f"live-{name}-{i + 1}"),
                         CommentatorConfig(model=DEFAULT_MODEL, precision=precision, backend=backend,
                                           voice=VoiceConfig(backend=voice), stream=stream, ahead=ahead,
                                           break_off=break_off))
        session = live(cfg, lm=lm)
        made = [s.written - s.picked for s in session.spoken if s.ahead_s is None]
        how = (("streamed" if stream else "whole lines") + (", written ahead" if ahead else "")
               + (", equal events break off" if break_off else ""))
        rows.append({"setting": f"{name}: {backend}, {precision}, {voice}, {how}", "session": i + 1,
                     "seed": seed + i, "silence": session.silence, "lines": len(session.spoken),
                     "ahead": session.latency.ahead, "ahead_counts": session.ahead,
                     "events": session.latency.events, "p50_s": session.latency.p50_s,
                     "p95_s": session.latency.p95_s, "max_s": session.latency.max_s,
                     "generate_s": sorted(made)[len(made) // 2] if made else None,
                     "fps": session.played.pace.frames_per_s, "max_gap_s": session.played.pace.max_gap_s,
                     "drops": session.drops})
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=60.0, help="seconds of Doom to record and narrate")
    parser.add_argument("--live-seconds", type=float, default=30.0)
    parser.add_argument("--scenario", default="deadly_corridor")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--skip-live", action="store_true")
    parser.add_argument("--skip-record", action="store_true")
    parser.add_argument("--setting", action="append", choices=list(SETTINGS),
                        help="record + narrate with only this setting (repeatable; default: all)")
    parser.add_argument("--out", type=Path, help="keep the runs in this folder (default: a temporary one)")
    parser.add_argument("--sessions", type=int, default=5, help="live sessions per setting, seeds SEED, SEED+1, ...")
    parser.add_argument("--live", action="append", choices=list(LIVE),
                        help="live with only this setting (repeatable, run in the order given; default: all)")
    args = parser.parse_args()
    settings = [s for s in SETTINGS if s in (args.setting or SETTINGS)]
    load = os.getloadavg()[0]
    with tempfile.TemporaryDirectory() as scratch:
        tmp = args.out or scratch
        if not args.skip_record:
            rows = bench_record_narrate(Path(tmp), args.seconds, args.scenario, args.seed, settings)
            print(f"\nrecord + narrate {args.seconds:g} s of Doom ({args.scenario}), wall seconds "
                  f"(load average {load:.1f} on {os.cpu_count()} cores at the start)\n")
            print("| setting | record | narrate | total | x real time | model load (once) | moments | written | lines |")
            print("|---|---|---|---|---|---|---|---|---|")
            for r in rows:
                print(f"| {r['setting']} | {r['record_s']:.1f} | {r['narrate_s']:.1f} | {r['total_s']:.1f} | "
                      f"{r['x_real_time']:.2f} | {r['load_s']:.1f} | {r['moments']} | {r['written']} | {r['lines']} |")
            for r in rows:
                print(f"  {r['setting']}: narrate stages " + ", ".join(f"{k} {v:.1f} s" for k, v in r["stages"].items()))
        if not args.skip_live:
            rows = bench_live(Path(tmp), args.live_seconds, args.scenario, args.seed,
                              args.live or list(LIVE), args.sessions)  # in the order asked: back-to-back runs drift
            print(f"\nlive: {args.live_seconds:g} s of Doom at 35 tics/s, SmolLM2, 2 candidates x 16 tokens, "
                  f"one thread; event to first audio\n")
            print("| setting | session (seed) | lines | events spoken (written ahead) | p50 s | p95 s | max s | "
                  "silence mean s | silence p95 s | spoken | writing median s (streamed: to the first words) | "
                  "game frames/s | longest frame gap s | dropped |")
            print("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
            for r in rows:
                fmt = lambda v: "-" if v is None else f"{v:.2f}"  # noqa: E731
                drops = ", ".join(f"{k} {v}" for k, v in r["drops"].items() if v)
                quiet = r["silence"]
                print(f"| {r['setting']} | {r['session']} ({r['seed']}) | {r['lines']} | {r['events']} ({r['ahead']}) | "
                      f"{fmt(r['p50_s'])} | {fmt(r['p95_s'])} | {fmt(r['max_s'])} | {fmt(quiet.mean_s)} | "
                      f"{fmt(quiet.p95_s)} | {quiet.spoken_share:.0%} | {fmt(r['generate_s'])} | {r['fps']:.1f} | "
                      f"{r['max_gap_s']:.2f} | {drops or 'none'} |")
            aim = [r for r in rows if r["p95_s"] is not None and r["p95_s"] <= 1.0]
            print(f"\n  p95 within 1.0 s in {len(aim)} of {len(rows)} sessions; mean silence within 1.0 s in "
                  f"{sum(1 for r in rows if r['silence'].mean_s is not None and r['silence'].mean_s <= 1.0)} "
                  f"of {len(rows)}")
            for r in rows:
                if r["ahead_counts"]:
                    print(f"  {r['setting']}: lines written ahead: "
                          + ", ".join(f"{k} {v}" for k, v in r["ahead_counts"].items()))


if __name__ == "__main__":
    main()
