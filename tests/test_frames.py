"""Keyframes from videos the test draws with OpenCV: cuts, intervals, colours, contact sheet."""

from __future__ import annotations

import pytest

from ripple.errors import InputError
from ripple.video.frames import FramesConfig, contact_sheet, keyframes

FPS = 10
SCENES = [((40, 40, 200), "red"), ((50, 170, 50), "green"), ((200, 70, 40), "blue")]  # BGR
SCENE_S = 3


@pytest.fixture(scope="module")
def scenes_video(tmp_path_factory):
    """Three 3-second scenes of one colour each, a white square moving across them."""
    import cv2
    import numpy as np

    path = tmp_path_factory.mktemp("video") / "three scenes.mp4"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), FPS, (320, 180))
    for colour, _ in SCENES:
        for i in range(SCENE_S * FPS):
            frame = np.full((180, 320, 3), colour, dtype=np.uint8)
            x = 10 + 8 * i
            cv2.rectangle(frame, (x, 70), (x + 30, 100), (255, 255, 255), -1)
            writer.write(frame)
    writer.release()
    return path


def test_cuts_and_intervals(scenes_video):
    frames, info = keyframes(scenes_video, FramesConfig(sample_every_s=2.0, analysis_fps=5))
    assert (info.width, info.height, info.fps) == (320, 180, FPS)
    assert info.duration == pytest.approx(len(SCENES) * SCENE_S)
    cuts = [f.time for f in frames if f.reason == "cut"]
    assert cuts == pytest.approx([3.0, 6.0], abs=0.25)
    assert frames[0].reason == "start" and frames[0].time == 0
    assert any(f.reason == "interval" for f in frames)
    assert all(b.time - a.time <= 2.0 + 1e-6 for a, b in zip(frames, frames[1:]))


def test_what_is_measured(scenes_video):
    frames, _ = keyframes(scenes_video, FramesConfig(sample_every_s=2.0, analysis_fps=5))
    for frame in frames:
        expected = SCENES[min(int(frame.time // SCENE_S), len(SCENES) - 1)][1]
        assert frame.colours[0] == expected, (frame.time, frame.colours)
    interval = next(f for f in frames if f.reason == "interval")
    assert 0.0 < interval.motion < 0.2  # the square moved
    assert "moving" in interval.describe() and frames[0].describe().startswith("the opening")


def test_contact_sheet(scenes_video, tmp_path):
    import cv2

    frames, _ = keyframes(scenes_video, FramesConfig(sample_every_s=2.0))
    sheet = contact_sheet(frames, tmp_path / "contact.png", columns=3, notes=[["a note"]] * len(frames))
    image = cv2.imread(str(sheet))
    rows = (len(frames) + 2) // 3
    label_h = 10 + 18 * 3  # time and reason, description, the note
    assert image.shape[1] == 3 * 320 and image.shape[0] == rows * (180 + label_h)
    # The note is drawn (light blue text) under the first thumbnail, and nowhere in an empty cell.
    note_row = image[180 + 10 + 36 : 180 + 10 + 54, :320]
    assert (note_row[..., 2] > 200).sum() > 20
    # The first cell shows the red scene.
    assert tuple(int(c) for c in image[20, 300]) == pytest.approx((40, 40, 200), abs=12)


def test_bad_videos(tmp_path):
    with pytest.raises(InputError, match="no such video file"):
        keyframes(tmp_path / "missing.mp4")
    corrupt = tmp_path / "corrupt.mp4"
    corrupt.write_bytes(b"\x00\x00\x00\x18ftypmp42" + b"junk" * 50)
    with pytest.raises(InputError, match="cannot read this video|no frames"):
        keyframes(corrupt)
