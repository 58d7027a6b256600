"""Fuzzing every reader with Hypothesis: game-state files, narrate's captions, the
transcript formats of `ripple ingest`, ripple.toml and the curate API, each with
structured inputs near the real shapes and with random bytes. Every input must end in
success or a one-line refusal (InputError for the commands, ReadError for a skipped
transcript, HTTP 422/404 for the page), never another exception (an "internal error"),
never an example over 30 s (a hang), and never non-strict JSON written.

The default tier runs EXAMPLES inputs per reader; `-m slow` runs SLOW_EXAMPLES."""

from __future__ import annotations

import json
import math
import secrets
import tempfile
from contextlib import contextmanager
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ripple.errors import InputError
from ripple.ingest.cues import ReadError

EXAMPLES, SLOW_EXAMPLES = 100, 1000
HANG_MS = 30_000  # an example slower than this fails the test: a hang


def tiers(strategy, body):
    """(default-tier test, slow-tier test) of `body` over `strategy`."""
    common = dict(deadline=HANG_MS, database=None, derandomize=False,
                  suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                         HealthCheck.function_scoped_fixture])
    fast = settings(max_examples=EXAMPLES, **common)(given(strategy)(body))
    slow = pytest.mark.slow(settings(max_examples=SLOW_EXAMPLES, **common)(given(strategy)(body)))
    return fast, slow


def one_line_refusal(exc: Exception) -> None:
    assert isinstance(exc, (InputError, ReadError)), f"internal error: {type(exc).__name__}: {exc}"
    assert "\n" not in str(exc) and str(exc).strip() and len(str(exc)) < 2000


def strict_json(text: str) -> None:
    def refuse(name):
        raise AssertionError(f"{name} written into JSON")

    for line in text.splitlines():
        json.loads(line, parse_constant=refuse)


@contextmanager
def written(data: str | bytes, suffix: str):
    """`data` as the file input<suffix>, alone in a folder removed afterwards."""
    with tempfile.TemporaryDirectory(prefix="ripple-fuzz-") as folder:
        path = Path(folder) / f"input{suffix}"
        path.write_bytes(data if isinstance(data, bytes) else data.encode("utf-8", "surrogatepass"))
        yield path


# ---- strategies ----------------------------------------------------------------------------------

WEIRD_NUMBERS = st.sampled_from([math.nan, math.inf, -math.inf, 1e308, -0.0, 2**70, -(2**63), 10**30, 0.5])
SCALARS = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), WEIRD_NUMBERS, st.text(max_size=30),
                    st.sampled_from(["1:23", "00:0.120", "99:99:99", "NaN", "inf", "", "x" * 6000]))
STATE_KEYS = st.sampled_from(["game", "time", "scene", "events", "numbers", "facts", "objects", "text", "kind",
                              "moments", "intensity", "mode", "genre", "name", "x", "caption", "captions"])
VALUES = st.recursive(SCALARS, lambda inner: st.lists(inner, max_size=4)
                      | st.dictionaries(st.one_of(STATE_KEYS, st.text(max_size=8)), inner, max_size=5),
                      max_leaves=25)


def json_text(value) -> str:
    return json.dumps(value)  # NaN and Infinity as JSON's non-standard literals, as people's tools write them


def yaml_text(value) -> str:
    import yaml

    return yaml.safe_dump(value, allow_unicode=True)


CLOCKS = st.one_of(st.from_regex(r"[0-9]{1,3}:[0-9]{1,2}:[0-9]{1,2}[.,][0-9]{1,3}", fullmatch=True),
                   st.from_regex(r"[0-9]{1,2}:[0-9]{1,2}\.[0-9]{1,3}", fullmatch=True),
                   st.sampled_from(["99:99:99,999", "00:0.120", "NaN", "-1:00:00,000", "", "1e999"]),
                   st.text(max_size=12))
LINES = st.lists(st.text(max_size=60), max_size=3)
CUES = st.lists(st.tuples(CLOCKS, CLOCKS, LINES), max_size=6)


def srt(cues) -> str:
    return "\n\n".join(f"{i + 1}\n{a} --> {b}\n" + "\n".join(lines) for i, (a, b, lines) in enumerate(cues))


def vtt(cues) -> str:
    return "WEBVTT\n\n" + "\n\n".join(f"{a} --> {b} align:start\n" + "\n".join(lines) for a, b, lines in cues)


def sbv(cues) -> str:
    return "\n\n".join(f"{a},{b}\n" + "\n".join(lines) for a, b, lines in cues)


def json3(value) -> str:
    events = [{"tStartMs": v, "dDurationMs": v, "segs": [{"utf8": str(v)}, v]} for v in value] \
        if isinstance(value, list) else value
    return json.dumps({"events": events})


def xml(cues) -> str:
    from xml.sax.saxutils import escape, quoteattr

    body = "".join(f"<text start={quoteattr(a)} dur={quoteattr(b)}>{escape(' '.join(lines))}</text>"
                   for a, b, lines in cues)
    return f"<transcript>{body}</transcript>"


TRANSCRIPTS = st.one_of(
    st.tuples(CUES.map(srt), st.just(".srt")), st.tuples(CUES.map(vtt), st.just(".vtt")),
    st.tuples(CUES.map(sbv), st.just(".sbv")), st.tuples(CUES.map(xml), st.just(".xml")),
    st.tuples(st.lists(VALUES, max_size=5).map(json3), st.just(".json3")),
    st.tuples(VALUES.map(json_text), st.sampled_from([".json", ".json3"])),
    st.tuples(st.text(max_size=300), st.sampled_from([".txt", ".srt", ".vtt", ".sbv", ".xml"])),
    st.tuples(st.binary(max_size=600), st.sampled_from([".txt", ".srt", ".vtt", ".sbv", ".xml", ".json", ".json3"])),
)
STATE_FILES = st.one_of(
    st.tuples(VALUES.map(json_text), st.just(".json")), st.tuples(VALUES.map(yaml_text), st.just(".yaml")),
    st.tuples(st.lists(VALUES.map(json_text), max_size=5).map("\n".join), st.just(".jsonl")),
    st.tuples(st.text(max_size=300), st.sampled_from([".yaml", ".json", ".jsonl"])),
    st.tuples(st.binary(max_size=600), st.sampled_from([".yaml", ".json", ".jsonl", ".yml"])),
)
CAPTION_ROWS = st.lists(st.tuples(st.one_of(CLOCKS, SCALARS.map(str)), st.text(max_size=40)), max_size=6)
CAPTION_FILES = st.one_of(
    st.tuples(CAPTION_ROWS.map(lambda rows: "time,caption\n" + "\n".join(f"{t},{c}" for t, c in rows)),
              st.just(".csv")),
    st.tuples(VALUES.map(json_text), st.just(".json")),
    st.tuples(st.lists(VALUES.map(json_text), max_size=5).map("\n".join), st.just(".jsonl")),
    st.tuples(CUES.map(srt), st.just(".srt")),
    st.tuples(st.binary(max_size=600), st.sampled_from([".csv", ".json", ".jsonl", ".srt"])),
)
TOML_VALUES = st.one_of(st.integers(), st.floats(), st.sampled_from(["nan", "inf", "-inf", "9" * 30, "[[[[]]]]"]),
                        st.text(max_size=20).map(json.dumps), st.booleans().map(str).map(str.lower))
TOML_FIELDS = st.sampled_from(["[batch] workers", "[batch] max_attempts", "[batch] stages", "[generate] candidates",
                               "[generate] seed", "[generate] temperature", "[generate] top_k", "[narrate] every",
                               "[narrate] max_delay", "[generate] model", "[transcribe] backend", "[nope] x"])
TOML_FILES = st.one_of(
    st.lists(st.tuples(TOML_FIELDS, TOML_VALUES), max_size=5).map(
        lambda items: "\n".join(f"{f.split()[0]}\n{f.split()[1]} = {v}" for f, v in items)),
    st.text(max_size=300),
    st.binary(max_size=400),
)


# ---- the properties ---------------------------------------------------------------------------------

def _state_file(case) -> None:
    from ripple.state import load_moments

    data, suffix = case
    try:
        with written(data, suffix) as path:
            moments = load_moments(path)
    except Exception as exc:  # noqa: BLE001 (what escapes is the finding)
        one_line_refusal(exc)
        return
    assert moments
    for m in moments:  # what a run would write is strict JSON
        json.dumps(m.model_dump(mode="json"), allow_nan=False)


def _captions(case) -> None:
    from ripple.video.captions import load_captions

    data, suffix = case
    try:
        with written(data, suffix) as path:
            captions = load_captions(path)
    except Exception as exc:  # noqa: BLE001
        one_line_refusal(exc)
        return
    assert captions and all(math.isfinite(c.time) and c.time >= 0 and c.text for c in captions)


def _transcript(case) -> None:
    from ripple.ingest import ingest, read_transcript
    from ripple.ingest.clean import sentences

    data, suffix = case
    with written(data, suffix) as path:
        try:
            spans = sentences(read_transcript(path))
        except Exception as exc:  # noqa: BLE001
            one_line_refusal(exc)
            spans = None
        for s in spans or []:
            assert all(t is None or math.isfinite(t) for t in (s.start, s.end)) and len(s.text) <= 410
        out = path.parent / "out" / "corpus.jsonl"
        try:
            ingest([path], out)  # the folder rule: a bad file is skipped, never fatal
        except InputError as exc:
            assert "nothing to ingest" in str(exc) and not out.exists()
            return
        strict_json(out.read_text())


def _toml(data) -> None:
    from ripple.cli import load_settings

    try:
        with written(data, ".toml") as path:
            load_settings(path)
    except Exception as exc:  # noqa: BLE001
        one_line_refusal(exc)


test_state_files_fuzzed, test_state_files_fuzzed_slow = tiers(STATE_FILES, _state_file)
test_captions_fuzzed, test_captions_fuzzed_slow = tiers(CAPTION_FILES, _captions)
test_transcripts_fuzzed, test_transcripts_fuzzed_slow = tiers(TRANSCRIPTS, _transcript)
test_settings_fuzzed, test_settings_fuzzed_slow = tiers(TOML_FILES, _toml)


# ---- the curate API, served for real -----------------------------------------------------------------

@pytest.fixture(scope="module")
def page(tmp_path_factory):
    from tests.prefs import make_runs
    from tests.test_curate_web import serving

    out = tmp_path_factory.mktemp("fuzz-curate")
    db = make_runs(out, runs=1, moments=4)
    token = secrets.token_urlsafe(16)
    with serving(db, token) as url:
        yield {"url": url, "token": token}


API_VALUES = st.one_of(SCALARS, st.lists(SCALARS, max_size=5), st.integers(min_value=0, max_value=40))
BODIES = st.one_of(st.fixed_dictionaries({"moment": API_VALUES, "shown": API_VALUES},
                                         optional={"chosen": API_VALUES, "who": API_VALUES}), VALUES)
PATHS = st.tuples(st.sampled_from(["/api/next?skip=", "/media/video/", "/media/audio/", "/media/keyframe/"]),
                  st.one_of(st.text(alphabet="0123456789eE.-+,Infa", max_size=30), st.integers().map(str)))


def _api(page, case) -> None:
    from urllib.parse import quote

    from tests.test_curate_web import TOKEN_HEADER, call

    body, (route, item) = case
    headers = {TOKEN_HEADER: page["token"]}
    status, reply, _ = call(f"{page['url']}/api/compare", "POST", body, headers) if isinstance(body, dict) \
        else call(f"{page['url']}/api/compare", "POST", {"moment": body}, headers)
    assert status in (200, 422), (body, status, reply[:200])
    status, reply, _ = call(f"{page['url']}{route}{quote(item)}" + (f"&token={page['token']}" if "?" in route
                                                                     else f"?token={page['token']}"), "GET",
                            None, headers)
    assert status in (200, 404, 422), (route, item, status, reply[:200])


_API = st.tuples(BODIES, PATHS)
_common = dict(deadline=HANG_MS, database=None, suppress_health_check=[HealthCheck.too_slow,
                                                                       HealthCheck.function_scoped_fixture])


@settings(max_examples=EXAMPLES, **_common)
@given(case=_API)
def test_curate_api_fuzzed(page, case):
    _api(page, case)


@pytest.mark.slow
@settings(max_examples=SLOW_EXAMPLES, **_common)
@given(case=_API)
def test_curate_api_fuzzed_slow(page, case):
    _api(page, case)
