"""The game in a process of its own, for live play.

A thread beside the model would share its interpreter lock, and on a busy machine a lock
holder that the OS has put aside stalls every other thread for as long (stalls of more
than a second were measured here with two cores shared). In its own process the game
loop competes for the CPU only, the way any program does, and keeps its real speed.
Moments come back on a queue as JSON with the monotonic clock time their frame was played
(the same clock in every process), then the recording's summary.
"""

from __future__ import annotations

import queue
import time
from collections.abc import Callable
from pathlib import Path

from ripple.errors import RippleError
from ripple.state import Moment

POLL_S = 0.2  # how often the parent looks up from an empty queue
CHILD_EXIT_S = 30.0  # the game process's time to finish its video after the last frame


class GameProcessError(RippleError):
    """The game's process failed; the message is its error."""


def run_game(game: str, scenario: str, seed: int, frames: int, folder: str, heartbeat_s: float,
             moments, results, stop) -> None:
    """The child: play `frames` frames at real speed into `folder`; each moment goes to
    `moments` as (json, monotonic time), then None; the Played summary (or the error) to
    `results`."""
    from ripple.games import recorder
    from ripple.games.record import play

    try:
        source = recorder(game).open_source(scenario, seed)
        try:
            played = play(source, source.make_agent(seed), frames, Path(folder), heartbeat_s,
                          on_moment=lambda m, shown: moments.put((m.model_dump_json(), shown)), realtime=True,
                          should_stop=stop.is_set)
        finally:
            source.close()
        results.put(("ok", played))
    except BaseException as exc:  # the parent says what went wrong; nothing is lost with the process
        results.put(("error", f"{type(exc).__name__}: {exc}"))
    finally:
        moments.put(None)


def play_elsewhere(game: str, scenario: str, seed: int, frames: int, folder: Path, heartbeat_s: float,
                   on_moment: Callable[[Moment, float], None], should_stop: Callable[[], bool],
                   progress: Callable[[str, int, int], None]):
    """Run the game in a spawned process and hand each of its moments to `on_moment` here;
    returns its Played summary."""
    import multiprocessing

    ctx = multiprocessing.get_context("spawn")  # never fork a process that has torch threads
    moments, results, stop = ctx.Queue(), ctx.Queue(), ctx.Event()
    child = ctx.Process(target=run_game, name="ripple-game", daemon=True,
                        args=(game, scenario, seed, frames, str(folder), heartbeat_s, moments, results, stop))
    child.start()
    started = time.monotonic()
    try:
        while True:
            if should_stop():
                stop.set()
            try:
                item = moments.get(timeout=POLL_S)
            except queue.Empty:
                if not child.is_alive():
                    break
                continue
            if item is None:
                break
            text, shown = item
            on_moment(Moment.model_validate_json(text), shown)
            progress(f"playing {game} ({scenario})", int(time.monotonic() - started), 0)
        try:
            status, payload = results.get(timeout=CHILD_EXIT_S)
        except queue.Empty:
            raise GameProcessError(f"the game process ended without a word (exit code {child.exitcode})") from None
    finally:
        stop.set()
        child.join(CHILD_EXIT_S)
        if child.is_alive():
            child.terminate()
            child.join()
    if status != "ok":
        raise GameProcessError(f"the game failed: {payload}")
    return payload
