"""Lines on a timeline: no overlaps, gaps kept, the important moment wins, shorter
candidates fill tight spots, nothing runs past the end."""

from __future__ import annotations

from ripple.schedule import Option, ScheduleConfig, estimate_seconds, schedule

CFG = ScheduleConfig(min_gap_s=0.5, lead_s=0.2, max_delay_s=2.0, alternatives=3)


def by_words(moment: int, text: str) -> float:
    return float(len(text.split()))  # one second per word keeps the arithmetic readable


def test_lines_never_overlap_and_keep_the_gap():
    options = [Option(i, t, 0.5, [("one two three", 1.0)]) for i, t in enumerate([0.0, 1.0, 2.0, 3.5, 5.0, 9.0])]
    lines, dropped = schedule(options, 30.0, by_words, CFG)
    assert lines == sorted(lines, key=lambda l: l.start)
    for a, b in zip(lines, lines[1:]):
        assert b.start >= a.end + CFG.min_gap_s - 1e-9
    for line in lines:
        moment_time = options[line.moment].time
        assert moment_time + CFG.lead_s - 1e-9 <= line.start <= moment_time + CFG.max_delay_s + 1e-9
    assert {l.moment for l in lines} | {d.moment for d in dropped} == set(range(len(options)))
    assert dropped and all("crowded out" in d.reason for d in dropped)


def test_the_more_important_moment_keeps_its_line():
    calm = Option(0, 1.0, 0.2, [("a calm look around the map", 0.9)])
    big = Option(1, 2.0, 0.9, [("what a shot that was", 0.5)])
    lines, dropped = schedule([calm, big], 30.0, by_words, CFG)
    assert [l.moment for l in lines] == [1]
    assert dropped[0].moment == 0 and "moment 2" in dropped[0].reason and "0.90" in dropped[0].reason


def test_only_moments_that_could_be_heard_are_written():
    """With `write`, candidates are asked for in order of importance, each with the lines
    placed so far, and never for a moment no line could fit beside them; the lines are the
    ones the schedule makes from every moment's candidates given up front."""
    times = [0.0, 1.0, 2.0, 3.5, 5.0, 5.5, 9.0]
    importance = [0.9, 0.3, 0.5, 0.95, 0.2, 0.4, 0.6]
    texts = {i: [("one two three", 1.0), ("one two", 0.5)] for i in range(len(times))}
    eager = [Option(i, t, importance[i], texts[i]) for i, t in enumerate(times)]
    asked: list[tuple[int, list[int]]] = []
    rooms: list[float] = []

    def write(moment, placed, room_s):
        asked.append((moment, [l.moment for l in placed]))
        rooms.append(room_s)
        return texts[moment]

    lazy = [Option(i, t, importance[i], []) for i, t in enumerate(times)]
    cfg = ScheduleConfig(min_gap_s=0.5, lead_s=0.2, max_delay_s=2.0, alternatives=3, shortest_s=1.0)
    lines, dropped = schedule(lazy, 30.0, by_words, cfg, write=write)
    assert lines == schedule(eager, 30.0, by_words, cfg)[0]
    order = [m for m, _ in asked]
    assert order == sorted(order, key=lambda m: -importance[m])  # the most important first
    assert asked[1] == (0, [3])  # each told of the lines placed before it was asked
    unwritten = [d for d in dropped if d.reason.endswith("not written")]
    assert unwritten and {d.moment for d in unwritten}.isdisjoint(order)
    assert {l.moment for l in lines} | {d.moment for d in dropped} == set(range(len(times)))
    assert all(room >= cfg.shortest_s for room in rooms)  # never asked where no line could fit
    assert rooms[0] == 30.0 - (3.5 + 0.2)  # the first, alone: from its start to the end of the video


def test_ahead_hears_of_the_moment_likely_written_next():
    """Just before each moment is written, `ahead` is told of the next moment in order of
    importance that still has room: right when the line being written leaves that room,
    wrong (a guess never written) when it takes it."""
    times = [0.0, 1.0, 2.0, 3.5, 5.0, 5.5, 9.0]
    importance = [0.9, 0.3, 0.5, 0.95, 0.2, 0.4, 0.6]
    events: list[tuple[str, int]] = []

    def write(moment, placed, room_s):
        events.append(("write", moment))
        return [("one two three", 1.0), ("one two", 0.5)]

    cfg = ScheduleConfig(min_gap_s=0.5, lead_s=0.2, max_delay_s=2.0, alternatives=3, shortest_s=1.0)
    options = [Option(i, t, importance[i], []) for i, t in enumerate(times)]
    alone = schedule(options, 30.0, by_words, cfg, write=write)
    written = [m for kind, m in events if kind == "write"]
    events.clear()
    lines, dropped = schedule(options, 30.0, by_words, cfg, write=write,
                              ahead=lambda moment, placed: events.append(("ahead", moment)))
    assert (lines, dropped) == alone  # the hint changes nothing placed
    assert [m for kind, m in events if kind == "write"] == written
    guessed = events[:-1]  # each write but the last is told of, then done, in turn
    assert guessed[0::2] == [("ahead", m) for m in written[1:]]
    assert guessed[1::2] == [("write", m) for m in written[:-1]]
    assert events[-1] == ("write", written[-1])  # nothing is left to guess at the last one
    # A line that takes the room of the moment guessed next: that guess is never written.
    events.clear()
    near = [Option(0, 0.0, 0.9, []), Option(1, 1.0, 0.8, [])]
    lines, dropped = schedule(near, 30.0, by_words, cfg, write=write,
                              ahead=lambda moment, placed: events.append(("ahead", moment)))
    assert events == [("ahead", 1), ("write", 0)]
    assert [l.moment for l in lines] == [0] and dropped[0].moment == 1 and "not written" in dropped[0].reason


def test_a_shorter_candidate_fills_a_tight_spot():
    first = Option(0, 0.0, 0.9, [("one two three", 1.0)])  # 0.2 .. 3.2
    second = Option(1, 3.0, 0.5, [("a long line of eight words right here", 0.9), ("short one", 0.8)])
    lines, _ = schedule([first, second], 6.5, by_words, CFG)
    assert [(l.moment, l.rank, l.text) for l in lines] == [(0, 1, "one two three"), (1, 2, "short one")]
    assert lines[1].start == 3.7  # slipped to the gap after the first line


def test_nothing_runs_past_the_end():
    lines, dropped = schedule([Option(0, 8.0, 1.0, [("one two three four", 1.0)])], 10.0, by_words, CFG)
    assert lines == [] and dropped[0].reason == "too long to finish before the video ends"
    empty, dropped = schedule([Option(0, 1.0, 1.0, [("", 1.0), ("  ", 0.5)])], 10.0, by_words, CFG)
    assert empty == [] and dropped[0].reason == "no usable candidate"


def test_estimate_grows_with_words_and_shrinks_with_rate():
    short, long = estimate_seconds("what a goal"), estimate_seconds("what a goal and what a season for this side")
    assert 0.9 < short < 1.6 and long > 2 * short - 0.3
    assert estimate_seconds("what a goal", rate=1.5) < short


def test_each_moment_is_told_the_longest_line_that_could_still_be_placed():
    """The room passed to `write` is the longest span free around the moment, so narrate
    writes no line longer than could be heard there (schedule.tokens_for)."""
    from ripple.schedule import tokens_for

    rooms = {}

    def write(moment, placed, room_s):
        rooms[moment] = room_s
        return [("one two three four five six", 1.0)] if moment == 0 else [("one two", 1.0)]

    cfg = ScheduleConfig(min_gap_s=0.5, lead_s=0.2, max_delay_s=2.0, alternatives=3, shortest_s=1.0)
    options = [Option(0, 4.0, 0.9, []), Option(1, 1.0, 0.5, []), Option(2, 12.0, 0.1, [])]
    lines, _ = schedule(options, 14.0, by_words, cfg, write=write)
    first = next(l for l in lines if l.moment == 0)
    assert rooms[0] == 14.0 - 4.2  # nothing placed yet: to the video's end
    # Moment 1 (1.0 s) can start from 1.2 to 3.0 and must end half a second before moment 0's line.
    assert abs(rooms[1] - (first.start - 0.5 - 1.2)) < 1e-9
    assert rooms[2] == 14.0 - 12.2 if first.end + 0.5 <= 12.2 else rooms[2] < 14.0 - 12.2
    assert tokens_for(rooms[1]) < tokens_for(rooms[0]) and tokens_for(1.0) >= 3
    assert tokens_for(4.0, rate=1.5) > tokens_for(4.0) > tokens_for(4.0, rate=0.7)  # a faster voice says more
