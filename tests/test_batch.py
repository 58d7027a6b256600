"""`ripple batch`: a folder of clips and game-state files through generate and narrate,
done once, resumed after being killed at random points, failures recorded while the rest go
on, and the same manifest from local workers and from a real Ray head on 127.0.0.1."""

from __future__ import annotations

import json
import os
import random
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import EXAMPLES, run_cli, run_here
from tests.media import make_gameplay, streams

FAST = ["--candidates", "2", "--max-new-tokens", "6", "--weight", "relevance=0", "--every", "3",
        "--voice", "espeak-ng"]


def batch(source: Path, out: Path, model: Path, *args: str) -> subprocess.CompletedProcess:
    return run_cli("batch", str(source), "--out", str(out), "--model", str(model), *FAST, *args)


def manifest_rows(out: Path) -> list[dict]:
    with sqlite3.connect(out / "manifest.db") as db:
        db.row_factory = sqlite3.Row
        return [dict(r) for r in db.execute("SELECT * FROM jobs ORDER BY input, stage")]


def running_after(out: Path, done: int) -> bool:
    """Whether a job is running with at least `done` jobs done, by the batch's manifest."""
    if not (out / "manifest.db").is_file():  # not created yet (connecting would create it)
        return False
    try:
        statuses = [r["status"] for r in manifest_rows(out)]
    except sqlite3.Error:  # its tables not made yet, or being written
        return False
    return "running" in statuses and statuses.count("done") >= done


def comparable(rows: list[dict]) -> list[tuple]:
    """What two engines must agree on: inputs, hashes, status and what was written (the
    chosen lines included), not who ran it or how long it took."""
    def outputs(text):
        data = json.loads(text) if text else {}
        return json.dumps({k: v for k, v in data.items() if k != "seconds"}, sort_keys=True)

    return [(r["input"], r["stage"], r["sha256"], r["settings"], r["states"], r["status"], outputs(r["outputs"]))
            for r in rows]


@pytest.fixture(scope="module")
def source(tmp_path_factory) -> Path:
    """Two short clips (one in a subfolder with its game states, as `ripple record` writes
    them) and two game-state files."""
    folder = tmp_path_factory.mktemp("recordings")
    make_gameplay(folder / "clip one.mp4", seconds=3.0, size=(320, 180), bursts=(1.5,))
    make_gameplay(folder / "session" / "gameplay.mp4", seconds=3.0, size=(320, 180), scenes=((60, 60, 60),))
    (folder / "session" / "timeline.jsonl").write_text(
        '{"game": "Doom", "time": 0.5, "events": [{"text": "Zombieman killed", "kind": "kill"}]}\n')
    shutil.copy(EXAMPLES / "doom.yaml", folder / "doom.yaml")
    shutil.copy(EXAMPLES / "tetris.json", folder / "tetris.json")
    return folder


@pytest.fixture(scope="module")
def first_run(source, tiny_gpt2, tmp_path_factory):
    out = tmp_path_factory.mktemp("batch")
    result = batch(source, out, tiny_gpt2, "--stage", "generate", "--stage", "narrate")
    return out, result


def test_every_input_gets_one_complete_output(source, first_run):
    out, result = first_run
    assert result.returncode == 0, result.stderr
    rows = manifest_rows(out)
    assert [(r["input"], r["stage"], r["status"]) for r in rows] == [
        ("clip one.mp4", "narrate", "done"), ("doom.yaml", "generate", "done"),
        ("session/gameplay.mp4", "narrate", "done"), ("tetris.json", "generate", "done")]
    assert rows[2]["states"] == "session/timeline.jsonl"  # paired, not an input of its own
    clip = streams(out / "clip one_mp4" / "narrate" / "narrated.mp4")
    assert clip["video"] == "h264" and clip["duration"] == pytest.approx(3.0, abs=0.05)
    assert (out / "doom_yaml" / "generate" / "commentary.json").is_file()
    # The paired game states reached the narration.
    data = json.loads((out / "session" / "gameplay_mp4" / "narrate" / "commentary.json").read_text())
    assert "Zombieman killed" in json.dumps(data["moments"])
    for row in rows:
        job = json.loads((out / json.loads(row["outputs"])["folder"] / "job.json").read_text())
        assert (job["input"], job["sha256"]) == (row["input"], row["sha256"])


def test_the_report_links_clips_and_shows_lines(first_run):
    out, _ = first_run
    page = (out / "report.html").read_text()
    assert "href='clip one_mp4/narrate/narrated.mp4'" in page
    assert page.count("data:image/jpeg;base64,") == 2  # a keyframe sheet per narrated clip
    lines = [l for r in manifest_rows(out) for l in json.loads(r["outputs"])["lines"]]
    assert lines and all(l.replace("&", "&amp;").replace("<", "&lt;")[:20] in page for l in lines if l)
    assert "| narrate | 2 | 0 | 0 |" in (out / "report.md").read_text()


def test_a_second_run_does_nothing_and_status_summarises(source, first_run, tiny_gpt2):
    out, _ = first_run
    before = {p: p.stat().st_mtime_ns for p in out.rglob("job.json")}
    again = batch(source, out, tiny_gpt2, "--stage", "generate", "--stage", "narrate")
    assert again.returncode == 0, again.stderr
    assert "0 jobs run (0 done), 4 already done" in again.stderr
    assert {p: p.stat().st_mtime_ns for p in out.rglob("job.json")} == before
    status = run_cli("batch", "status", str(out))
    assert status.returncode == 0
    assert [l.split() for l in status.stdout.splitlines() if l.strip("│ ").startswith(("generate", "narrate"))] == [
        ["│", "generate", "│", "2", "│", "0", "│", "0", "│", "0", "│"],
        ["│", "narrate", "│", "2", "│", "0", "│", "0", "│", "0", "│"]]


@pytest.mark.slow
def test_a_changed_input_runs_again_and_replaces_its_output(source, tiny_gpt2, tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    shutil.copy(source / "doom.yaml", src / "doom.yaml")
    shutil.copy(source / "tetris.json", src / "tetris.json")
    out = tmp_path / "out"
    assert batch(src, out, tiny_gpt2).returncode == 0
    first = {r["input"]: r for r in manifest_rows(out)}
    (src / "doom.yaml").write_text((src / "doom.yaml").read_text().replace("game: Doom", "game: Doom II"))
    result = batch(src, out, tiny_gpt2)
    assert result.returncode == 0 and "1 jobs run (1 done), 1 already done" in result.stderr
    now = {r["input"]: r for r in manifest_rows(out)}
    assert now["doom.yaml"]["sha256"] != first["doom.yaml"]["sha256"] and now["tetris.json"] == first["tetris.json"]
    assert "Doom II" in (out / "doom_yaml" / "generate" / "commentary.json").read_text()
    assert [p.name for p in (out / "doom_yaml").iterdir()] == ["generate"]  # the old output is gone


@pytest.mark.slow
def test_failures_are_recorded_the_rest_go_on_and_retries_are_bounded(source, tiny_gpt2, tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    shutil.copy(source / "tetris.json", src / "tetris.json")
    (src / "broken.mp4").write_bytes(b"\x00not a video" * 100)
    (src / "bad.yaml").write_text("game: Doom\nmoments:\n  - time: soon\n")
    shutil.copy(source / "doom.yaml", src / "blocked.yaml")
    out = tmp_path / "out"
    out.mkdir()
    (out / "blocked_yaml").write_text("a file where the output folder should go: nothing can be written")
    for attempt in (1, 2, 3):
        result = batch(src, out, tiny_gpt2, "--max-attempts", "2", "--stage", "generate", "--stage", "narrate")
        assert result.returncode == 1, result.stderr
        rows = {(r["input"], r["stage"]): r for r in manifest_rows(out)}
        assert rows["tetris.json", "generate"]["status"] == "done"
        failed = {k[0]: r for k, r in rows.items() if r["status"] == "failed"}
        assert set(failed) == {"broken.mp4", "bad.yaml", "blocked.yaml"}
        assert "cannot read this video" in failed["broken.mp4"]["error"]
        assert "bad.yaml:3" in failed["bad.yaml"]["error"] and "time" in failed["bad.yaml"]["error"]
        assert "cannot write" in failed["blocked.yaml"]["error"]
        assert all(r["failures"] == min(attempt, 2) for r in failed.values())
    assert "0 jobs run" in result.stderr  # the third run tried nothing: attempts used up
    assert not list(out.rglob(".staging-*"))


def test_bad_settings_are_refused_before_any_work(source, tiny_gpt2, tmp_path):
    toml = tmp_path / "ripple.toml"
    toml.write_text("[batch]\nworkers = 1\n\n[generate]\ncandidatez = 4\n")
    result = run_here("batch", str(source), "--out", str(tmp_path / "out"), "--config", str(toml))
    assert result.returncode == 2 and result.stderr.strip() == (
        f"ripple: error: {toml}:5: [generate].candidatez: unknown section or field")
    result = run_here("batch", str(tmp_path / "nowhere"), "--out", str(tmp_path / "out"))
    assert result.returncode == 2 and "no such folder" in result.stderr
    result = run_here("batch", str(source), "--out", str(tmp_path / "out"), "--workers", "0")
    assert result.returncode == 2 and "--workers" in result.stderr
    assert not (tmp_path / "out").exists()


@pytest.mark.slow
def test_settings_file_is_used_and_flags_win(source, tiny_gpt2, tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    shutil.copy(source / "tetris.json", src / "tetris.json")
    (src / "ripple.toml").write_text(
        f'[batch]\nstages = ["generate"]\n\n[generate]\nmodel = "{tiny_gpt2}"\ncandidates = 3\n'
        'max_new_tokens = 5\nseed = 11\nweights = {{ relevance = 0 }}\n'.replace("{{", "{").replace("}}", "}"))
    result = run_cli("batch", str(src), "--out", str(tmp_path / "out"), "--candidates", "2")
    assert result.returncode == 0, result.stderr
    data = json.loads((tmp_path / "out" / "tetris_json" / "generate" / "commentary.json").read_text())
    sampling = data["config"]["sampling"]
    assert (sampling["candidates"], sampling["max_new_tokens"], sampling["seed"]) == (2, 5, 11)
    assert data["config"]["rank"]["weights"]["relevance"] == 0


@pytest.mark.slow
def test_killed_at_random_points_then_resumed(source, tiny_gpt2, tmp_path):
    """SIGKILL the whole process group (the batch and its workers) at random moments, several
    times; then run to the end: one complete output per input, nothing half-written or
    doubled, and the manifest agrees with the folders."""
    src = tmp_path / "src"
    src.mkdir()
    for i in range(4):
        shutil.copy(source / "tetris.json", src / f"match {i}.json")
    shutil.copy(source / "clip one.mp4", src / "clip.mp4")
    out = tmp_path / "out"
    cmd = [sys.executable, "-m", "ripple", "batch", str(src), "--out", str(out), "--model", str(tiny_gpt2),
           "--workers", "2", "--stage", "generate", "--stage", "narrate", *FAST]
    rng = random.Random(7)
    kills = 0
    for round in range(3):
        proc = subprocess.Popen(cmd, start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        # Killed while a job runs, after as many jobs are done as rounds have passed, at a
        # random point of it: points in the work, not on the clock (a fixed 3-25 s came after
        # the whole batch on a fast machine, and before the first job on a slow one).
        deadline = time.monotonic() + 300
        while proc.poll() is None and time.monotonic() < deadline and not running_after(out, done=round):
            time.sleep(0.05)
        time.sleep(rng.uniform(0.0, 1.0))
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            kills += 1
        proc.wait()
    assert kills >= 2
    final = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    assert final.returncode == 0, final.stderr
    rows = manifest_rows(out)
    assert len(rows) == 5 and {r["status"] for r in rows} == {"done"}
    for row in rows:
        folder = out / json.loads(row["outputs"])["folder"]
        assert json.loads((folder / "job.json").read_text())["sha256"] == row["sha256"]
        json.loads((folder / "commentary.json").read_text())  # complete JSON, not a torn write
    assert streams(out / "clip_mp4" / "narrate" / "narrated.mp4")["duration"] == pytest.approx(3.0, abs=0.05)
    # Exactly one output folder per input and stage, and nothing half-written anywhere.
    assert sorted(p.parent.relative_to(out).as_posix() for p in out.rglob("job.json")) == sorted(
        json.loads(r["outputs"])["folder"] for r in rows)
    assert not [p for p in out.rglob("*") if p.name.startswith((".staging-", ".")) and p.name != ".batch.lock"]


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def ray_head(tmp_path_factory):
    """A real Ray head on 127.0.0.1, started and stopped as a person would."""
    ray = str(Path(sys.executable).parent / "ray")
    port = _free_port()
    env = {**os.environ, "RAY_USAGE_STATS_ENABLED": "0"}
    temp = tmp_path_factory.mktemp("ray")
    started = subprocess.run(
        [ray, "start", "--head", "--node-ip-address", "127.0.0.1", "--port", str(port), "--num-cpus", "2",
         "--include-dashboard", "false", "--disable-usage-stats", "--temp-dir", str(temp)],
        capture_output=True, text=True, env=env, timeout=300)
    assert started.returncode == 0, started.stdout + started.stderr
    yield f"127.0.0.1:{port}"
    subprocess.run([ray, "stop", "--force"], capture_output=True, env=env, timeout=120)


@pytest.mark.slow
def test_ray_and_local_engines_give_the_same_manifest(source, first_run, tiny_gpt2, ray_head, tmp_path):
    local_out, _ = first_run
    result = batch(source, tmp_path / "out", tiny_gpt2, "--stage", "generate", "--stage", "narrate",
                   "--engine", "ray", "--address", ray_head, "--workers", "2")
    assert result.returncode == 0, result.stderr
    rows = manifest_rows(tmp_path / "out")
    assert all(r["worker"].startswith("ray:") for r in rows)
    assert comparable(rows) == comparable(manifest_rows(local_out))


def test_a_wrong_ray_address_is_one_line(source, tiny_gpt2, tmp_path):
    port = _free_port()
    result = batch(source, tmp_path / "out", tiny_gpt2, "--stage", "generate", "--engine", "ray",
                   "--address", f"127.0.0.1:{port}")
    assert result.returncode == 2, result.stderr
    assert result.stderr.strip().startswith(f"ripple: error: --address 127.0.0.1:{port}: cannot join")


def test_manifests_migrate_like_the_store_and_old_ones_keep_their_jobs(tmp_path):
    import sqlite3

    from ripple.batch.manifest import MIGRATIONS, Manifest
    from ripple.errors import InputError

    old = tmp_path / "old"
    old.mkdir()
    conn = sqlite3.connect(old / "manifest.db")  # as a Ripple before shared migrations wrote it
    for statement in MIGRATIONS[0]:
        conn.execute(statement)
    conn.execute("INSERT INTO meta (key, value) VALUES ('schema_version', '1')")
    conn.execute("INSERT INTO jobs (input, stage, sha256, settings, status) VALUES ('a.mp4', 'narrate', 'x', 'y', 'done')")
    conn.commit()
    conn.close()
    manifest = Manifest(old)
    assert [tuple(r) for r in manifest.db.execute("SELECT input, status FROM jobs")] == [("a.mp4", "done")]
    assert manifest.db.execute("SELECT MAX(version) FROM schema_version").fetchone()[0] == len(MIGRATIONS)
    manifest.db.execute("INSERT INTO schema_version (version, applied) VALUES (99, 'later')")
    manifest.close()
    with pytest.raises(InputError, match="schema version 99 is newer than this Ripple knows"):
        Manifest(old)
