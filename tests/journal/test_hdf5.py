"""HDF5 video masks: masksmith's files read back by an independent reader written from the layout facts,
and the original's older layout (and its quirks) read by masksmith."""

from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np
import pytest

from masksmith.errors import JournalError
from masksmith.journal import hdf5


def _independent_read(path: Path) -> dict[int, np.ndarray]:
    """Frame → uint8 mask, from the layout alone: groups per run, 'masks' rows up to end_frame."""
    out: dict[int, np.ndarray] = {}
    with h5py.File(path, "r") as handle:
        assert handle.attrs["mask_format"] in ("framefirst", b"framefirst")
        assert float(handle.attrs["fps"]) > 0
        assert "prefix" in handle.attrs
        for name, group in handle.items():
            start, end = int(group.attrs["start_frame"]), int(group.attrs["end_frame"])
            assert name == str(start)
            assert {"start_time", "end_time"} <= set(group.attrs)
            data = group["masks"]
            assert data.dtype == np.uint8 and data.compression == "gzip" and data.chunks is not None
            assert data.maxshape[0] is None
            for offset in range(end - start + 1):
                out[start + offset] = data[offset]
    return out


def test_writer_output_reads_back_with_an_independent_reader(tmp_path: Path, rng):
    shape = (18, 24)
    truth = {f: rng.random(shape) < 0.3 for f in [3, 4, 5, 9, 10]}
    path = tmp_path / hdf5.mask_file_name("clip", 66.667)
    assert path.name == "clip_mask_66.667.hdf5"
    with hdf5.MaskWriter(path, fps=30, prefix="clip", shape=shape) as writer:
        for frame, mask in truth.items():
            writer.add(frame, (frame - 1) * 1000 / 30, mask)
    read = _independent_read(path)
    assert sorted(read) == sorted(truth)
    for frame, mask in truth.items():
        assert set(np.unique(read[frame])) <= {0, 255}
        assert np.array_equal(read[frame] == 0, mask)  # 0 = changed
    with h5py.File(path, "r") as handle:
        assert sorted(handle.keys(), key=int) == ["3", "9"]  # two contiguous runs
        assert float(handle["9"].attrs["end_time"]) == pytest.approx(300.0)
    runs = hdf5.read_runs(path)
    assert [(r.start_frame, r.end_frame) for r in runs] == [(3, 5), (9, 10)]
    assert np.array_equal(runs[1].masks[1], truth[10])


def test_a_failed_write_leaves_no_file(tmp_path: Path):
    path = tmp_path / "x.hdf5"
    with pytest.raises(JournalError, match="shape"), hdf5.MaskWriter(path, fps=25, shape=(4, 4)) as writer:
        writer.add(1, 0.0, np.zeros((5, 5), bool))
    assert list(tmp_path.iterdir()) == []


def test_reader_stops_at_end_frame_and_decodes_byte_attributes(tmp_path: Path):
    """Files of the original pre-allocate rows and may store strings as bytes."""
    path = tmp_path / "orig.hdf5"
    with h5py.File(path, "w") as handle:
        handle.attrs["fps"] = 30.0
        handle.attrs["prefix"] = np.bytes_(b"orig")
        handle.attrs["mask_format"] = np.bytes_(b"framefirst")
        group = handle.create_group("12")
        group.attrs.update({"start_frame": 12, "end_frame": 14, "start_time": 366.7, "end_time": 433.3})
        data = np.full((10, 4, 5), 255, np.uint8)  # 10 rows allocated, 3 used
        data[:3, 1, 1] = 0
        data[3:] = 0  # garbage past end_frame
        group.create_dataset("masks", data=data, maxshape=(None, 4, 5), chunks=True, compression="gzip")
    (run,) = hdf5.read_runs(path)
    assert (run.start_frame, run.end_frame, run.masks.shape) == (12, 14, (3, 4, 5))
    assert int(run.masks.sum()) == 3
    assert hdf5.read_attributes(path)["mask_format"] == "framefirst"


def test_older_single_masks_dataset_layout(tmp_path: Path):
    path = tmp_path / "old.hdf5"
    with h5py.File(path, "w") as handle:
        handle.attrs["fps"] = 25.0
        handle.attrs["start_frame"] = 5
        handle.attrs["start_time"] = 160.0
        data = np.full((4, 3, 3), 255, np.uint8)
        data[2, 0, 0] = 0
        handle.create_dataset("masks", data=data)
    (run,) = hdf5.read_runs(path)
    assert (run.start_frame, run.end_frame, run.start_time) == (5, 8, 160.0)
    assert run.end_time == pytest.approx(160.0 + 3 * 40.0)
    assert hdf5.frame_masks(path)[7][0, 0]


def test_older_masks_group_layout(tmp_path: Path):
    path = tmp_path / "old_group.hdf5"
    with h5py.File(path, "w") as handle:
        handle.attrs["fps"] = 30.0
        group = handle.create_group("masks")
        group.attrs.update({"start_frame": 2, "end_frame": 3, "start_time": 33.3, "end_time": 66.7})
        group.create_dataset("masks", data=np.zeros((5, 2, 2), np.uint8))
    (run,) = hdf5.read_runs(path)
    assert (run.start_frame, run.end_frame) == (2, 3)
    assert run.masks.all()


def test_not_an_hdf5_file_is_one_clear_error(tmp_path: Path):
    bad = tmp_path / "bad.hdf5"
    bad.write_text("nope")
    with pytest.raises(JournalError, match="not an HDF5 mask file"):
        hdf5.read_runs(bad)
    with pytest.raises(JournalError, match="not found"):
        hdf5.read_runs(tmp_path / "absent.hdf5")


def test_mask_at_finds_the_frame_in_the_segment_that_covers_it(tmp_path: Path, rng):
    """The original's test_extract_mask: frame 125 is the third frame of the segment from 123."""
    from masksmith.journal.segments import Segment

    shape = (6, 8)
    first = {f: rng.random(shape) < 0.5 for f in range(75, 105)}
    second = {f: rng.random(shape) < 0.5 for f in range(123, 150)}
    for name, frames in (("one.hdf5", first), ("two.hdf5", second)):
        with hdf5.MaskWriter(tmp_path / name, fps=30, shape=shape) as writer:
            for frame, mask in frames.items():
                writer.add(frame, (frame - 1) * 1000 / 30, mask)
    sets = [Segment.of_frames(75, 104, 30, videosegment="one.hdf5"),
            Segment.of_frames(123, 149, 30, videosegment="two.hdf5")]  # fmt: skip
    assert np.array_equal(hdf5.mask_at(tmp_path, sets, 125), second[125])
    assert np.array_equal(hdf5.mask_at(tmp_path, sets, 75), first[75])
    assert hdf5.mask_at(tmp_path, sets, 110) is None
    with pytest.raises(JournalError, match="plain file name"):
        hdf5.mask_at(tmp_path, [Segment.of_frames(1, 200, 30, videosegment="../two.hdf5")], 125)
