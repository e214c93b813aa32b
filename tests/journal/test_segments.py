"""The segment model and temporal transforms, media-free (golden cases from the original's behaviour)."""

from __future__ import annotations

import pytest

from masksmith.errors import JournalError
from masksmith.journal import segments as seg
from masksmith.journal.segments import Segment


def _frames(items: list[Segment]) -> list[tuple[int, int]]:
    return [(s.startframe, s.endframe) for s in items]


def _three() -> list[Segment]:
    """The original's fixture: 1–30, 75–104, 123–149 at 30 fps with errors 1.1, 1.2, 1.3."""
    return [
        Segment(1, 30, 30, 0, 1000, error=1.1),
        Segment(75, 104, 30, 2500, 3500, error=1.2),
        Segment(123, 149, 30, 4100, 5000, error=1.3),
    ]


def _change(start: int, end: int, start_ms: float, end_ms: float) -> Segment:
    return Segment(start, end, 30, start_ms, end_ms)


# --- model ------------------------------------------------------------------------------------------


def test_frame_and_time_conversions_round_trip():
    assert seg.frame_of(0, 30) == 1
    assert seg.time_of(20, 30) == pytest.approx(633.3333, abs=1e-3)
    assert seg.frame_of(seg.time_of(20, 30), 30) == 20
    assert seg.frame_of(1000, 44100) == 44101


def test_missing_fields_are_derived():
    from_times = Segment.from_dict({"starttime": 633.3333333, "endtime": 1266.6666667, "rate": 30})
    assert (from_times.startframe, from_times.endframe, from_times.frames) == (20, 39, 20)
    from_frames = Segment.from_dict({"startframe": 20, "frames": 20, "rate": 30, "type": "video"})
    assert from_frames.endframe == 39
    assert from_frames.endtime == pytest.approx(1266.667, abs=1e-3)
    with pytest.raises(JournalError, match="rate"):
        Segment.from_dict({"startframe": 1})


def test_to_dict_uses_the_original_names():
    data = Segment.of_frames(20, 39, 30, videosegment="x_mask_633.333.hdf5").to_dict()
    assert set(data) == {
        "starttime", "startframe", "endtime", "endframe", "frames", "rate", "type", "error", "videosegment"
    }  # fmt: skip
    assert data["frames"] == 20 and round(data["endtime"], 2) == 1266.67


@pytest.mark.parametrize(
    ("text", "rate", "frame", "ms"),
    [
        ("00:00:01.000000", 30, 31, 1000.0),
        ("00:00:01.5", 30, 46, 1500.0),
        ("01:00:00", 30, 108001, 3_600_000.0),  # the true hour (the original used 360000 ms)
        ("00:00:01:3", 30, 34, 1000.0),
        ("20", 30, 20, seg.time_of(20, 30)),
        (20, 25, 20, seg.time_of(20, 25)),
    ],
)
def test_user_times(text: object, rate: float, frame: int, ms: float):
    parsed = seg.parse_user_time(text)
    assert parsed is not None
    assert parsed.frame(rate) == frame
    if parsed.ms is not None and not parsed.frames:
        assert parsed.time_ms(rate) == pytest.approx(ms)


@pytest.mark.parametrize("bad", ["1:2:3:4:5", "abc", "00:xx:01", True])
def test_bad_user_times_are_refused(bad: object):
    with pytest.raises(JournalError):
        seg.parse_user_time(bad)


def test_format_user_time():
    assert seg.format_user_time(3_723_004.5) == "01:02:03.004500"


def test_whole_stream_is_clipped_to_start_and_end_time():
    whole = seg.whole_stream(100, 30)
    assert (whole.startframe, whole.endframe, whole.starttime) == (1, 100, 0.0)
    part = seg.whole_stream(100, 30, start="00:00:01", end="60")
    assert (part.startframe, part.endframe) == (31, 60)
    assert seg.whole_stream(100, 30, start="500").startframe == 100


def test_group_runs():
    assert seg.group_runs([5, 1, 2, 3, 7, 8]) == [(1, 3), (5, 5), (7, 8)]


# --- golden cases: frames dropped (the original's test_before_dropping, without masks) ------------


def test_drop_inside_a_segment_splits_it_and_shifts_later_ones():
    result = seg.cut(_three(), _change(87, 92, 2900, 3066.67))
    assert _frames(result) == [(1, 30), (75, 86), (87, 98), (117, 143)]
    assert [s.error for s in result] == [1.1, 1.2, 1.2, 1.3]


def test_drop_across_a_segment_end():
    result = seg.cut(_three(), _change(63, 90, 2100, 3000))
    assert _frames(result) == [(1, 30), (63, 76), (95, 121)]
    assert [s.frames for s in result] == [30, 14, 27]
    assert [s.error for s in result] == [1.1, 1.2, 1.3]


def test_drop_with_keep_time_leaves_frame_numbers():
    result = seg.cut(_three(), _change(87, 93, 2900, 3100), keep_time=True)
    assert _frames(result) == [(1, 30), (75, 86), (94, 104), (123, 149)]


def test_drop_from_the_start():
    result = seg.cut(_three(), _change(1, 93, 0, 3100))
    assert _frames(result) == [(1, 11), (30, 56)]
    assert _frames(seg.cut(_three(), _change(1, 93, 0, 3100), keep_time=True)) == [(94, 104), (123, 149)]


def test_drop_to_the_end():
    result = seg.cut_to_end(_three(), 93)
    assert _frames(result) == [(1, 30), (75, 92)]
    assert [s.frames for s in result] == [30, 18]


def test_drop_moves_times_back_by_the_dropped_span():
    (after,) = seg.cut([Segment.of_frames(50, 60, 30)], Segment.of_frames(10, 19, 30))
    assert (after.startframe, after.endframe) == (40, 50)
    assert after.starttime == pytest.approx(seg.time_of(40, 30))


# --- golden cases: frames inserted (test_after_dropping and test_cut) -----------------------------


def _two() -> list[Segment]:
    return [Segment(1, 30, 30, 0, 1000, error=1.1), Segment(75, 104, 30, 2500, 3500, error=1.2)]


@pytest.mark.parametrize(
    ("insert", "expected"),
    [
        ((180, 210, 6000, 7000), [(1, 30), (75, 104)]),
        ((63, 90, 2100, 3000), [(1, 30), (103, 132)]),
        ((81, 111, 2700, 3700), [(1, 30), (75, 80), (112, 135)]),
        ((1, 63, 0, 2100), [(64, 93), (138, 167)]),
    ],
)
def test_insert_after_dropping(insert: tuple[int, int, float, float], expected: list[tuple[int, int]]):
    result = seg.insert(_two(), _change(*insert))
    assert _frames(result) == expected
    assert result[0].error == 1.1 and result[-1].error == 1.2


def test_insert_moves_times_by_the_inserted_span():
    sets = [Segment(94, 95, 30, 3078.1, 3111.4)]
    (moved,) = seg.insert(sets, Segment(94, 99, 30, 3078.1, 3263.4))
    assert (moved.startframe, moved.endframe) == (100, 101)
    assert moved.starttime == pytest.approx(3296.73, abs=0.01)
    assert moved.endtime == pytest.approx(3330.03, abs=0.01)


def test_insert_of_one_frame_splits_a_segment():
    sets = [Segment(94, 95, 30, 3078.1, 3111.4), Segment(96, 96, 30, 3296.7, 3296.7)]
    result = seg.insert(sets, Segment(95, 95, 30, 3111.4, 3111.4))
    assert _frames(result) == [(94, 94), (96, 96), (97, 97)]
    assert result[1].starttime == pytest.approx(3144.73, abs=0.01)
    assert result[2].starttime == pytest.approx(3330.03, abs=0.01)


def test_insert_of_nothing_changes_nothing():
    sets = [Segment(1, 95, 30, 0, 3111.4)]
    assert seg.insert(sets, Segment(1, 0, 30, 0, -33.333)) == sets


# --- golden case: reversal (test_reverse) ---------------------------------------------------------


def test_reverse_mirrors_the_parts_inside_the_range():
    sets = [Segment(75, 104, 30, 2500, 3500, error=1.1), Segment(123, 149, 30, 4100, 5000, error=1.2)]
    result = seg.reverse(sets, _change(90, 130, 3000, 4333))
    assert _frames(result) == [(75, 89), (116, 130), (90, 97), (131, 149)]
    assert [s.frames for s in result] == [15, 15, 8, 19]
    assert [s.error for s in result] == [1.1, 1.1, 1.2, 1.2]
    assert seg.reversed_order(result[1], _change(90, 130, 3000, 4333))
    assert not seg.reversed_order(result[0], _change(90, 130, 3000, 4333))


def test_reverse_of_the_whole_range_keeps_the_segment():
    (only,) = seg.reverse([Segment(1, 130, 30, 0, 4333, error=1.1)], _change(1, 130, 0, 4333))
    assert (only.startframe, only.endframe, only.error) == (1, 130, 1.1)


# --- rate changes ---------------------------------------------------------------------------------


def test_rate_change_30_to_25_moves_frames_and_grows_error():
    (moved,) = seg.change_rate(
        [Segment.of_frames(20, 39, 30, error=0.5)],
        source_frames=100,
        target_frames=83,
        source_duration_ms=100 * 1000 / 30,
        target_duration_ms=83 * 1000 / 25,
        target_rate=25,
    )
    # target frame j shows source frame floor(1.2·(j−1))+1: frames 20..39 are shown by 17..33
    assert (moved.startframe, moved.endframe, moved.rate) == (17, 33, 25)
    assert 0.5 < moved.error <= 0.5 + 40.0
    again = seg.change_rate(
        [moved],
        source_frames=83,
        target_frames=100,
        source_duration_ms=3320,
        target_duration_ms=3333.33,
        target_rate=30,
    )[0]
    assert again.error >= moved.error  # error only grows


def test_rate_change_to_a_variable_rate_target_snaps_to_its_timestamps():
    times = [0.0, 50.0, 90.0, 160.0, 200.0, 260.0]
    (moved,) = seg.change_rate(
        [Segment.of_frames(2, 3, 20)],
        source_frames=6,
        target_frames=6,
        source_duration_ms=300,
        target_duration_ms=300,
        target_rate=20,
        target_times=times,
    )
    assert (moved.startframe, moved.endframe) == (2, 3)  # frames shown during 50–150 ms: at 50 and 90
    assert moved.error == pytest.approx(10.0)


def test_frame_map_for_rate_drops_and_repeats_evenly():
    assert seg.frame_map_for_rate(6, 5) == [1, 2, 3, 4, 5]
    assert seg.frame_map_for_rate(30, 25)[:7] == [1, 2, 3, 4, 5, 7, 8]
    assert seg.frame_map_for_rate(2, 4) == [1, 1, 2, 2]


def test_audio_segment_for_a_video_cut():
    audio = seg.audio_segment_for(Segment.of_frames(71, 90, 30), 44100)
    assert (audio.startframe, audio.endframe, audio.type) == (102901, 132300, "audio")
