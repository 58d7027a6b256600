"""`ripple curate`: the page where people pick the best candidate, served by uvicorn.

Security: it binds 127.0.0.1 unless told otherwise and answers only to that host name
(a page elsewhere cannot rebind its domain onto it); every /api and /media request needs
the session token printed at start-up (writes take it only from the X-Ripple-Token header,
which a cross-site form cannot send); GET never changes data; media are served by id from
run folders recorded in the store, never by a path from the request; SQL is parametrised.
"""

from __future__ import annotations

import errno
import html
import ipaddress
import json
import secrets
import socket
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fastapi import Body, FastAPI, Header, HTTPException, Query
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse

from ripple.store import DB_NAME, connect, record_missing
from ripple.curate.sets import CHOICES_MAX, MEDIA_KINDS, add_comparison, agreement, media_path, next_set, progress
from ripple.config import check_fields
from ripple.errors import FieldError, InputError

PAGE = Path(__file__).with_name("page.html")
TOKEN_HEADER = "X-Ripple-Token"
TOKEN_BYTES = 24  # 192 bits, URL-safe
MAX_SKIPS = 200  # ids a page may ask to skip in one request
LOCAL_HOSTS = ("127.0.0.1", "localhost", "::1")
# The Host header names an IPv6 address in brackets ('[::1]:8765'), and starlette keeps them.
ALLOWED_LOCAL = (*LOCAL_HOSTS, "[::1]")
MAX_ID = 2**63 - 1  # SQLite's INTEGER


def as_id(value, what: str) -> int:
    """An id from a URL or a JSON body: a whole number 0 to 2^63-1, as an int or its digits
    (no floats, booleans, Infinity or exponents); HTTP 422 otherwise."""
    if isinstance(value, str) and value.strip().isascii() and value.strip().isdigit() and len(value.strip()) <= 19:
        value = int(value.strip())
    if type(value) is not int or not 0 <= value <= MAX_ID:
        raise HTTPException(422, f"{what}: expected a whole number 0 to {MAX_ID}, not {str(value)[:40]!r}")
    return value


@dataclass(frozen=True)
class CurateConfig:
    db: Path = Path("outputs") / DB_NAME
    host: str = "127.0.0.1"  # another address exposes the page to the network (the token still guards writes)
    port: int = 8765  # 0: any free port
    who: str = ""  # the name verdicts are stored under by default ("": the login name)
    choices: int = CHOICES_MAX  # candidates shown at once, 2 to 4
    scan: bool = True  # first record run folders beside the store that it lacks
    seed: int = 0  # which candidates of a moment are shown


def _check(cfg: CurateConfig) -> None:
    check_fields(cfg, [
        (2 <= cfg.choices <= CHOICES_MAX, "choices", f"must be 2 to {CHOICES_MAX}"),
        (0 <= cfg.port <= 65535, "port", "must be 0 (any free port) to 65535"),
    ])


def make_app(db: Path, token: str, who: str = "", choices: int = CHOICES_MAX, seed: int = 0,
             allowed_hosts: tuple[str, ...] = ALLOWED_LOCAL):
    """The FastAPI application over the store at `db`."""
    from starlette.middleware.trustedhost import TrustedHostMiddleware

    app = FastAPI(title="Ripple curate", docs_url=None, redoc_url=None, openapi_url=None)
    app.add_middleware(TrustedHostMiddleware, allowed_hosts=list(allowed_hosts))
    app.middleware("http")(_secure_headers)
    connect(db).close()  # create or migrate now, not on the first request
    pages = _Pages(db, token, who, choices, seed)
    app.get("/", response_class=HTMLResponse)(pages.index)
    app.get("/api/next")(pages.next)
    app.post("/api/compare")(pages.compare)
    app.get("/media/{kind}/{item}")(pages.media)
    return app


async def _secure_headers(request, call_next):
    response = await call_next(request)
    response.headers["Content-Security-Policy"] = (
        "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; img-src 'self'; "
        "media-src 'self'; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'")
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Referrer-Policy"] = "no-referrer"  # the token is in the page's URL
    response.headers["Cache-Control"] = "no-store"
    return response


class _Pages:
    """The page and its API over one store, each handler a method (FastAPI reads their
    signatures); every one but the page itself needs the session token."""

    def __init__(self, db: Path, token: str, who: str, choices: int, seed: int):
        self.db, self.token, self.who, self.choices, self.seed = db, token, who, choices, seed
        self.page = PAGE.read_text(encoding="utf-8")

    def allowed(self, given: str | None) -> bool:
        return given is not None and secrets.compare_digest(given.encode(), self.token.encode())

    def need(self, given: str | None) -> None:
        if not self.allowed(given):
            raise HTTPException(403, "missing or wrong session token: open the URL `ripple curate` printed")

    def state(self, conn, whom: str, skip: tuple[int, ...] = ()) -> dict[str, Any]:
        return {"set": next_set(conn, whom, self.choices, skip, self.seed), "progress": progress(conn),
                "agreement": agreement(conn)}

    def index(self, token_: str | None = Query(None, alias="token")):
        if not self.allowed(token_):
            return HTMLResponse("<!doctype html><title>Ripple curate</title><p>This page needs the session token: "
                                "open the URL that <code>ripple curate</code> printed.</p>", status_code=403)
        boot = json.dumps({"token": self.token, "who": self.who}).replace("<", "\\u003c")
        return HTMLResponse(self.page.replace("__BOOT__", html.escape(boot, quote=True)))

    def next(self, who_: str = Query("", alias="who", max_length=64), skip: str = Query("", max_length=4000),
             x_ripple_token: str | None = Header(None)):
        self.need(x_ripple_token)
        skipped = tuple(as_id(s, "skip") for s in skip.split(",") if s.strip())[:MAX_SKIPS]
        conn = connect(self.db)
        try:
            return self.state(conn, who_ or self.who, skipped)
        finally:
            conn.close()

    def compare(self, body: dict = Body(...), x_ripple_token: str | None = Header(None)):
        self.need(x_ripple_token)
        if "moment" not in body or not isinstance(body.get("shown"), list) or len(body["shown"]) > 16:
            raise HTTPException(422, "expected {moment, shown: [ids], chosen: id or null, who}")
        moment = as_id(body["moment"], "moment")
        shown = [as_id(i, "shown") for i in body["shown"]]
        chosen = None if body.get("chosen") is None else as_id(body["chosen"], "chosen")
        whom = body.get("who") or self.who
        if not isinstance(whom, str):
            raise HTTPException(422, "who: expected a name")
        conn = connect(self.db)
        try:
            comparison = add_comparison(conn, moment, shown, chosen, whom)
            return JSONResponse({"stored": comparison, **self.state(conn, whom)})
        except InputError as exc:
            raise HTTPException(422, str(exc)) from None
        finally:
            conn.close()

    def media(self, kind: str, item: str, token_: str | None = Query(None, alias="token"),
              x_ripple_token: str | None = Header(None)):
        self.need(x_ripple_token or token_)  # <video>/<audio>/<img> cannot send headers
        whole = item.isascii() and item.isdigit() and len(item) <= 19  # int() of 5,000 digits is itself an error
        if kind not in MEDIA_KINDS or not (whole and int(item) <= MAX_ID):
            raise HTTPException(404)
        conn = connect(self.db)
        try:
            path = media_path(conn, kind, int(item))
        finally:
            conn.close()
        if path is None:
            raise HTTPException(404)
        return FileResponse(path)


def bind(host: str, port: int) -> socket.socket:
    """A listening socket, so that a port in use is refused in one line before anything starts."""
    try:
        family = socket.AF_INET6 if ipaddress.ip_address(host).version == 6 else socket.AF_INET
    except ValueError:
        family = socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        setting = "port" if exc.errno == errno.EADDRINUSE else "host"
        raise FieldError(setting, f"cannot listen on {host}:{port}: {exc.strerror}") from None
    sock.listen(64)
    return sock


def page_url(host: str, port: int, token: str) -> str:
    shown = f"[{host}]" if ":" in host else host
    return f"http://{shown}:{port}/?token={token}"


def serve(cfg: CurateConfig, announce: Callable[[str, list[Path]], None] | None = None) -> None:
    """Record missing runs, then serve the page until interrupted; `announce(url, added)`
    is called once the socket listens."""
    import getpass

    import uvicorn

    _check(cfg)
    sock = bind(cfg.host, cfg.port)  # a port in use is refused before anything else happens
    conn = connect(cfg.db)
    skipped: list[tuple[Path, str]] = []
    try:
        added = record_missing(conn, cfg.db.parent, skipped) if cfg.scan else []
    finally:
        conn.close()
    for folder, reason in skipped:
        print(f"ripple: warning: skipped {folder}: {reason}", file=sys.stderr)
    token = secrets.token_urlsafe(TOKEN_BYTES)
    hosts = ALLOWED_LOCAL if cfg.host in LOCAL_HOSTS else ("*",)  # elsewhere, the token alone guards
    who = cfg.who or getpass.getuser()
    app = make_app(cfg.db, token, who, cfg.choices, cfg.seed, hosts)
    port = sock.getsockname()[1]
    if announce:
        announce(page_url(cfg.host, port, token), added)
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", access_log=False))
    server.run(sockets=[sock])
