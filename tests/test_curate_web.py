"""`ripple curate` for real: uvicorn on 127.0.0.1, requests over HTTP, and the page driven
in Debian's headless Chromium (Playwright with executable_path; no browser download).

Security is checked as an attacker would try it: no token, a wrong token, the token only
in a query for a write, another Host header, ../ and absolute and symlinked media paths."""

from __future__ import annotations

import http.client
import json
import os
import secrets
import sqlite3
import threading
import time
import urllib.error
import urllib.request
import wave
from contextlib import contextmanager
from pathlib import Path

import pytest

from ripple.store import connect
from ripple.curate.web import TOKEN_HEADER, bind, make_app
from ripple.errors import InputError
from tests.conftest import ROOT
from tests.prefs import make_runs

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run"]


@contextmanager
def serving(db: Path, token: str):
    """The page's app under a real uvicorn server on a free port of 127.0.0.1."""
    import uvicorn

    sock = bind("127.0.0.1", 0)
    server = uvicorn.Server(uvicorn.Config(make_app(db, token, who="tester"), log_level="warning"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.05)
    assert server.started, "uvicorn did not start"
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        thread.join(10)


def call(url: str, method: str = "GET", body: dict | None = None, headers: dict | None = None):
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, method=method,
                                     headers={"Content-Type": "application/json", **(headers or {})})
    try:
        with urllib.request.urlopen(request, timeout=20) as response:
            return response.status, response.read(), response.headers
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read(), exc.headers


def comparisons(db: Path) -> list[sqlite3.Row]:
    conn = connect(db)
    try:
        return conn.execute("SELECT * FROM comparisons ORDER BY id").fetchall()
    finally:
        conn.close()


def tone(path: Path) -> bytes:
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(8000)
        out.writeframes(b"\x00\x10" * 800)
    return path.read_bytes()


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    """A store of 6 moments whose run folder holds one voiced line and three media rows that
    try to escape it; served with a known token."""
    out = tmp_path_factory.mktemp("curate")
    db = make_runs(out, runs=1, moments=6)
    folder = out / "run-0-0"
    (folder / "voice").mkdir()
    audio = tone(folder / "voice" / "line.wav")
    secret = out / "secret.wav"
    secret.write_bytes(b"RIFF not yours")
    (folder / "voice" / "link.wav").symlink_to(secret)
    conn = connect(db)
    ids = [r[0] for r in conn.execute("SELECT id FROM candidates ORDER BY id LIMIT 4")]
    for candidate, rel in zip(ids, ["voice/line.wav", "../secret.wav", str(secret), "voice/link.wav"]):
        conn.execute("UPDATE candidates SET audio = ? WHERE id = ?", (rel, candidate))
    conn.close()
    token = secrets.token_urlsafe(24)
    with serving(db, token) as url:
        yield {"url": url, "token": token, "db": db, "audio": audio, "voiced": ids}


def test_every_api_and_media_request_needs_the_token(site):
    url, token = site["url"], site["token"]
    assert call(f"{url}/")[0] == 403
    status, body, headers = call(f"{url}/?token={token}")
    assert status == 200 and b"Ripple curate" in body and token.encode() in body
    assert headers["Referrer-Policy"] == "no-referrer" and "frame-ancestors 'none'" in headers["Content-Security-Policy"]
    assert call(f"{url}/api/next")[0] == 403
    assert call(f"{url}/api/next", headers={TOKEN_HEADER: token + "x"})[0] == 403
    status, body, _ = call(f"{url}/api/next?who=bob", headers={TOKEN_HEADER: token})
    shown = json.loads(body)["set"]
    assert status == 200 and 2 <= len(shown["candidates"]) <= 4
    write = {"moment": shown["moment"]["id"], "shown": [c["id"] for c in shown["candidates"]],
             "chosen": shown["candidates"][0]["id"], "who": "bob"}
    assert call(f"{url}/api/compare", "POST", write)[0] == 403
    assert call(f"{url}/api/compare?token={token}", "POST", write)[0] == 403  # writes take the header only
    assert comparisons(site["db"]) == []
    assert call(f"{url}/media/audio/{site['voiced'][0]}")[0] == 403


def test_reading_never_changes_data_and_writes_are_checked(site):
    url, headers = site["url"], {TOKEN_HEADER: site["token"]}
    before = len(comparisons(site["db"]))
    for _ in range(3):
        assert call(f"{url}/api/next?who=carol", headers=headers)[0] == 200
        assert call(f"{url}/?token={site['token']}")[0] == 200
    assert len(comparisons(site["db"])) == before
    shown = json.loads(call(f"{url}/api/next?who=carol", headers=headers)[1])["set"]
    ids = [c["id"] for c in shown["candidates"]]
    bad = {"moment": shown["moment"]["id"], "shown": ids, "chosen": 10**6, "who": "carol"}
    status, body, _ = call(f"{url}/api/compare", "POST", bad, headers)
    assert status == 422 and b"chosen" in body
    who = "carol'); DROP TABLE comparisons; --"
    status, body, _ = call(f"{url}/api/compare", "POST", {**bad, "chosen": ids[1], "who": who}, headers)
    assert status == 200
    reply = json.loads(body)
    stored = comparisons(site["db"])[-1]
    assert (stored["id"], stored["chosen"], stored["who"], stored["verdict"]) == (reply["stored"], ids[1], who, "best")
    assert reply["set"]["moment"]["id"] != shown["moment"]["id"]  # the reply carries the next set
    assert reply["progress"]["comparisons"] == before + 1


def test_other_host_names_are_refused(site):
    port = int(site["url"].rsplit(":", 1)[1])
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    conn.request("GET", f"/?token={site['token']}", headers={"Host": "attacker.example"})
    assert conn.getresponse().status == 400  # a rebound domain cannot reach the page
    conn.close()


def test_ids_must_be_whole_numbers_in_range(site):
    url, headers = site["url"], {TOKEN_HEADER: site["token"]}
    shown = json.loads(call(f"{url}/api/next?who=dave", headers=headers)[1])["set"]
    ids = [c["id"] for c in shown["candidates"]]
    good = {"moment": shown["moment"]["id"], "shown": ids, "chosen": ids[0], "who": "dave"}
    before = len(comparisons(site["db"]))
    for field, value in [("moment", float("inf")), ("moment", 1e308), ("moment", 2**70), ("chosen", ids[0] + 0.7),
                         ("chosen", True), ("moment", -1), ("shown", "1234"), ("shown", [ids[0], 2**64]),
                         ("who", ["a list"]), ("moment", float("nan"))]:
        status, body, _ = call(f"{url}/api/compare", "POST", {**good, field: value}, headers)
        assert status == 422, (field, value, status, body)
    assert len(comparisons(site["db"])) == before  # nothing stored, and no id truncated into another
    for skip in ("Infinity", "1e308", "3.7", "-1", str(2**70)):
        assert call(f"{url}/api/next?skip={skip}", headers=headers)[0] == 422
    for item in ("99999999999999999999999", str(2**63), "1e3", "-1"):
        assert call(f"{url}/media/video/{item}?token={site['token']}")[0] == 404


def test_an_ipv6_loopback_host_header_is_this_page(site):
    """`--host ::1` prints http://[::1]:PORT/; a browser then sends Host: [::1]:PORT."""
    port = int(site["url"].rsplit(":", 1)[1])
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    conn.request("GET", f"/?token={site['token']}", headers={"Host": f"[::1]:{port}"})
    assert conn.getresponse().status == 200
    conn.close()


def test_media_only_from_inside_recorded_run_folders(site):
    url, token = site["url"], site["token"]
    good, up, absolute, link = site["voiced"]
    status, body, headers = call(f"{url}/media/audio/{good}?token={token}")
    assert status == 200 and body == site["audio"] and headers["Content-Type"].startswith("audio/")
    for candidate in (up, absolute, link):  # ../, an absolute path, a symlink out of the folder
        status, body, _ = call(f"{url}/media/audio/{candidate}?token={token}")
        assert status == 404 and b"not yours" not in body
    for path in ("/media/audio/..%2F..%2Fsecret.wav", "/media/../secret.wav", "/media/audio/%2Fetc%2Fpasswd",
                 f"/media/file/{good}", "/media/audio/not-a-number"):
        status, body, _ = call(f"{url}{path}?token={token}")
        assert status in (404, 422) and b"not yours" not in body and b"root:" not in body


def test_the_page_in_headless_chromium(tmp_path):
    """Load, pick with a click and with a key, mark all bad, skip; each verdict in SQLite,
    each followed by the next moment."""
    if not CHROMIUM.exists():
        pytest.skip("Debian's chromium is not installed (make sysdeps installs it)")
    from playwright.sync_api import sync_playwright

    db = make_runs(tmp_path, runs=1, moments=5)
    token = secrets.token_urlsafe(24)
    with serving(db, token) as url, sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1000, "height": 800})
            page.goto(f"{url}/?token={token}")
            page.wait_for_selector(".candidate")

            def moment() -> str:
                return page.get_attribute("#moment", "data-moment")

            def next_moment(previous: str) -> str:
                page.wait_for_function("m => document.querySelector('#moment').dataset.moment !== m", arg=previous)
                page.wait_for_selector(".candidate")
                return moment()

            # A new name asks for the next moment again. The server answers at once, but the
            # answer is held back until after a pick: arriving late, it must not bring back
            # the moment just judged.
            held = []

            def hold(route) -> None:
                held.append((route, route.fetch()))

            page.route("**/api/next?*", hold)
            page.evaluate("() => { const who = document.getElementById('who');"
                          " who.value = 'dora'; who.dispatchEvent(new Event('change')); }")
            while not held:
                page.wait_for_timeout(20)
            first = moment()
            second_candidate = int(page.locator(".candidate").nth(1).get_attribute("data-id"))
            page.locator(".candidate").nth(1).click()
            second = next_moment(first)
            with page.expect_response(lambda r: "/api/next?" in r.url):
                held[0][0].fulfill(response=held[0][1])
            page.unroute("**/api/next?*")
            page.wait_for_timeout(300)  # the late answer is parsed and ignored, not shown
            assert moment() == second
            stored = comparisons(db)
            assert [(r["moment"], r["chosen"], r["who"]) for r in stored] == [(int(first), second_candidate, "dora")]
            assert "stored" in page.text_content("#status")
            assert "1 of 5 moments judged" in page.text_content("#progress")

            top = int(page.locator(".candidate").nth(0).get_attribute("data-id"))
            page.keyboard.press("1")
            third = next_moment(second)
            assert (comparisons(db)[-1]["moment"], comparisons(db)[-1]["chosen"]) == (int(second), top)

            page.keyboard.press("x")
            fourth = next_moment(third)
            assert (comparisons(db)[-1]["moment"], comparisons(db)[-1]["verdict"]) == (int(third), "all_bad")

            page.keyboard.press("s")  # skip: nothing stored, another moment shown
            fifth = next_moment(fourth)
            assert len(comparisons(db)) == 3 and fifth not in {first, second, third, fourth}
            page.screenshot(path=str(tmp_path / "curate.png"))
            if os.environ.get("RIPPLE_KEEP_SCREENSHOT"):
                (ROOT / "outputs").mkdir(exist_ok=True)
                page.screenshot(path=str(ROOT / "outputs" / "curate-page.png"))
        finally:
            browser.close()


def test_ripple_curate_prints_a_url_that_works(tmp_path):
    """The command itself: records the run folders beside the store, listens on 127.0.0.1 and
    prints the URL with the token; a port in use is refused in one line."""
    import subprocess
    import sys

    make_runs(tmp_path, runs=1, moments=3)
    (tmp_path / "ripple.db").unlink()  # the folder stays; `ripple curate` records it again
    for suffix in ("-wal", "-shm"):
        (tmp_path / f"ripple.db{suffix}").unlink(missing_ok=True)
    proc = subprocess.Popen([sys.executable, "-m", "ripple", "curate", "--db", str(tmp_path / "ripple.db"),
                             "--port", "0", "--who", "erin"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line = proc.stdout.readline()
        assert line.startswith("Ripple curate: open http://127.0.0.1:"), proc.stderr.read() if proc.poll() else line
        url = line.split("open ", 1)[1].strip()
        status, body, _ = call(url)
        assert status == 200 and b'"who": "erin"' in body.replace(b"&quot;", b'"')
        token = url.split("token=", 1)[1]
        data = json.loads(call(url.split("/?")[0] + "/api/next", headers={TOKEN_HEADER: token})[1])
        assert data["progress"]["moments"] == 3
        busy = int(url.split("/?")[0].rsplit(":", 1)[1])
        with pytest.raises(InputError, match=f"^port: cannot listen on 127.0.0.1:{busy}"):
            bind("127.0.0.1", busy)  # what `ripple curate --port` in use says, before anything else
    finally:
        proc.terminate()
        proc.wait(20)
