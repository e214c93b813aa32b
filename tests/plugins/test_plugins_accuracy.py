"""What each plugin promises, measured: journal masks, exact locations, tables, untouched pixels."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest
from PIL import Image as PILImage

from masksmith.errors import PluginError
from masksmith.journal.project import Journal
from masksmith.media import geometry, masks
from masksmith.media import io as media_io
from masksmith.plugins import PluginContext, PluginResult, get_plugin
from masksmith.plugins.compress import tiff_compression
from tests.plugins.plugin_cases import box_mask, photo, rgba_donor, segmentation_folder


def _run(
    name: str,
    source: Path,
    target: Path,
    arguments: dict[str, Any],
    *,
    seed: int = 3,
    donor: Path | None = None,
    input_mask: np.ndarray | None = None,
) -> PluginResult:
    context = PluginContext(
        source=source,
        target=target,
        arguments=arguments,
        rng=np.random.default_rng(seed),
        donor=donor,
        input_mask=input_mask,
    )
    return get_plugin(name).transform(context)


def _source(folder: Path, name: str = "coffee", rows: int = 240, cols: int = 320) -> Path:
    path = folder / f"{name}.png"
    media_io.write_image(path, photo(name, rows, cols))
    return path


# --- PasteSplice --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("approach", "segment", "seed"),
    [
        ("simple", "slic", 1),
        ("simple", "slic", 2),
        ("random", "slic", 3),
        ("random", "slic", 4),
        ("texture", "slic", 5),
        ("texture", "felzenszwalb", 6),
    ],
)
def test_paste_splice_journal_mask_is_the_donor_alpha_warped(
    approach: str, segment: str, seed: int, tmp_path: Path
) -> None:
    source = _source(tmp_path)
    donor = tmp_path / "donor.png"
    media_io.write_image(donor, rgba_donor())
    target = tmp_path / "spliced.png"
    result = _run(
        "PasteSplice", source, target, {"approach": approach, "segment": segment}, seed=seed, donor=donor
    )
    matrix = geometry.matrix_from_jt(result.variables["transform matrix"])
    assert matrix is not None
    assert result.transform_matrix is not None and np.allclose(matrix, result.transform_matrix)
    journal = Journal.create(source, tmp_path / "journal")
    base = journal.graph.base_node()
    edge = journal.record(
        base,
        target,
        op="PasteSplice",
        arguments={**result.variables, "purpose": "add", "subject": "other"},
        donor=donor,
    )
    recorded = journal.edge_mask(edge.start, edge.end)
    donor_pixels = media_io.read_image(donor).pixels
    expected = geometry.warp_mask(masks.alpha_mask(donor_pixels), matrix, recorded.shape)
    assert expected.sum() > 200
    assert masks.iou(recorded, expected) >= 0.98
    # and the pixels really changed there, and only there
    changed = masks.diff_mask(media_io.read_image(source).pixels, media_io.read_image(target).pixels)
    assert not (changed & ~expected).any()
    assert masks.iou(changed, expected) >= 0.95


def test_paste_splice_simple_keeps_donor_pixels_exact(tmp_path: Path) -> None:
    source = _source(tmp_path)
    donor = tmp_path / "donor.png"
    donor_pixels = rgba_donor()
    media_io.write_image(donor, donor_pixels)
    target = tmp_path / "spliced.png"
    result = _run("PasteSplice", source, target, {"approach": "simple"}, donor=donor)
    matrix = result.transform_matrix
    assert matrix is not None
    assert np.allclose(matrix[:2, :2], np.eye(2)) and np.allclose(matrix[:2, 2], np.round(matrix[:2, 2]))
    dx, dy = round(float(matrix[0, 2])), round(float(matrix[1, 2]))
    out = media_io.read_image(target).pixels
    rows, cols = np.nonzero(donor_pixels[:, :, 3])
    assert np.array_equal(out[rows + dy, cols + dx], donor_pixels[rows, cols, :3])
    assert result.variables["donor resized"] == "no" and result.variables["donor rotated"] == "no"


def test_paste_splice_texture_lands_in_a_calm_region(tmp_path: Path) -> None:
    # left half: strong noise; right half: a smooth gradient — the uniform region must be chosen
    rng = np.random.default_rng(0)
    image = np.zeros((240, 320, 3), np.uint8)
    image[:, :160] = rng.integers(0, 256, size=(240, 160, 3), dtype=np.uint8)
    image[:, 160:] = np.linspace(90, 140, 160, dtype=np.uint8)[None, :, None]
    source = tmp_path / "half.png"
    media_io.write_image(source, image)
    donor = tmp_path / "donor.png"
    media_io.write_image(donor, rgba_donor(80, 100))
    for seed in range(3):
        result = _run(
            "PasteSplice", source, tmp_path / f"t{seed}.png", {"approach": "texture"}, seed=seed, donor=donor
        )
        matrix = result.transform_matrix
        assert matrix is not None
        pasted = geometry.warp_mask(masks.alpha_mask(media_io.read_image(donor).pixels), matrix, (240, 320))
        assert pasted[:, 160:].sum() >= 0.9 * pasted.sum()


def test_paste_splice_refuses_an_empty_donor(tmp_path: Path) -> None:
    source = _source(tmp_path)
    donor = tmp_path / "empty.png"
    empty = rgba_donor()
    empty[:, :, 3] = 0
    media_io.write_image(donor, empty)
    with pytest.raises(PluginError) as caught:
        _run("PasteSplice", source, tmp_path / "t.png", {}, donor=donor)
    assert caught.value.argument == "donor"


# --- Crop and friends ---------------------------------------------------------------------------


@pytest.mark.parametrize(("x", "y", "width", "height"), [(0, 0, 16, 8), (8, 16, 24, 32), (24, 8, 24, 8)])
def test_crop_location_is_recorded_exactly(x: int, y: int, width: int, height: int, tmp_path: Path) -> None:
    # an image that repeats every 8 pixels: only the recorded location can place the crop
    tile = np.random.default_rng(1).integers(0, 256, size=(8, 8, 3), dtype=np.uint8)
    image = np.tile(tile, (20, 30, 1))
    source = tmp_path / "tiled.png"
    media_io.write_image(source, image)
    target = tmp_path / "crop.png"
    args = {"crop_x": x, "crop_y": y, "pixel_width": width, "pixel_height": height}
    result = _run("Crop", source, target, args)
    out = media_io.read_image(target).pixels
    assert out.shape == (160 - height, 240 - width, 3)
    assert np.array_equal(out, image[y : 160 - (height - y), x : 240 - (width - x)])
    journal = Journal.create(source, tmp_path / "journal")
    edge = journal.record(journal.graph.base_node(), target, op="TransformCrop", arguments=result.variables)
    data = journal.graph.edge(edge.start, edge.end)
    assert data["location"] == f"({y}, {x})"
    expected = np.ones((160, 240), bool)
    expected[y : 160 - (height - y), x : 240 - (width - x)] = False
    assert np.array_equal(journal.edge_mask(edge.start, edge.end), expected)


def test_crop_permutations_offer_valid_eight_pixel_positions(tmp_path: Path) -> None:
    source = _source(tmp_path)
    result = _run(
        "CropPermutations",
        source,
        tmp_path / "unused.png",
        {"percentage_width": 0.2, "percentage_height": 0.15},
    )
    width, height = result.variables["crop_width"], result.variables["crop_height"]
    assert (width, height) == (64, 32)  # 20 % of 320 and 15 % of 240, down to multiples of 8
    xs, ys = result.variables["crop_x"], result.variables["crop_y"]
    assert xs["type"] == "list" and ys["type"] == "list"
    assert xs["values"] == list(range(0, width + 1, 8)) and ys["values"] == list(range(0, height + 1, 8))
    for x in xs["values"][::3]:
        for y in ys["values"][::2]:
            out = _run(
                "Crop",
                source,
                tmp_path / f"c{x}_{y}.png",
                {"crop_x": x, "crop_y": y, "pixel_width": width, "pixel_height": height},
            )
            assert out.target_pixels is not None and out.target_pixels.shape[:2] == (
                240 - height,
                320 - width,
            )


def test_crop_refuses_an_offset_beyond_the_removed_amount(tmp_path: Path) -> None:
    source = _source(tmp_path)
    with pytest.raises(PluginError) as caught:
        _run("Crop", source, tmp_path / "c.png", {"crop_x": 40, "pixel_width": 32})
    assert caught.value.argument == "crop_x"


@pytest.mark.parametrize(("rotation", "expand"), [(90, "yes"), (-90, "yes"), (180, "no"), (270, "yes")])
def test_rotate_quarter_turns_leave_an_empty_journal_mask(rotation: int, expand: str, tmp_path: Path) -> None:
    source = _source(tmp_path)
    target = tmp_path / "rot.png"
    result = _run("Rotate", source, target, {"rotation": rotation, "expand": expand})
    journal = Journal.create(source, tmp_path / "journal")
    edge = journal.record(journal.graph.base_node(), target, op="TransformRotate", arguments=result.variables)
    assert not journal.edge_mask(edge.start, edge.end).any()


def test_resize_matches_the_journal_resize_comparison(tmp_path: Path) -> None:
    source = _source(tmp_path)
    target = tmp_path / "small.png"
    result = _run("Resize", source, target, {"width": 200, "height": 150, "interpolation": "bilinear"})
    assert media_io.read_image(target).pixels.shape[:2] == (150, 200)
    journal = Journal.create(source, tmp_path / "journal")
    edge = journal.record(journal.graph.base_node(), target, op="TransformResize", arguments=result.variables)
    assert journal.edge_mask(edge.start, edge.end).mean() < 0.01


# --- CompressAs ---------------------------------------------------------------------------------


def _exif(orientation: int) -> bytes:
    exif = PILImage.Exif()
    exif[0x0112] = orientation
    exif[0x010F] = "masksmith test camera"
    return exif.tobytes()


@pytest.mark.parametrize(("quality", "subsampling"), [(63, "4:2:2"), (88, "4:2:0"), (97, "4:4:4")])
def test_compress_as_reproduces_the_base_quantisation_tables(
    quality: int, subsampling: str, tmp_path: Path
) -> None:
    base = tmp_path / "base.jpg"
    media_io.write_image(base, photo("chelsea"), quality=quality, subsampling=subsampling, exif=_exif(1))
    source = _source(tmp_path)
    target = tmp_path / "out.jpg"
    result = _run("CompressAs", source, target, {"rotate": "yes"}, donor=base)
    assert media_io.jpeg_quantization_tables(target) == media_io.jpeg_quantization_tables(base)
    assert media_io.jpeg_subsampling(target) == subsampling
    assert media_io.read_exif(target) == media_io.read_exif(base)
    assert result.variables["rotate"] == "no"  # orientation 1: nothing to turn
    decoded = media_io.read_image(target).pixels.astype(int)
    assert np.abs(decoded - media_io.read_image(source).pixels.astype(int)).mean() < 6


@pytest.mark.parametrize("orientation", [3, 6, 8])
def test_compress_as_counter_rotates_for_the_donor_orientation(orientation: int, tmp_path: Path) -> None:
    base = tmp_path / "base.jpg"
    media_io.write_image(base, photo("chelsea"), quality=90, exif=_exif(orientation))
    source = _source(tmp_path)
    target = tmp_path / "out.jpg"
    result = _run("CompressAs", source, target, {"rotate": "yes"}, donor=base)
    assert result.variables["rotate"] == "yes"
    shown = media_io.read_image(target).pixels.astype(int)  # orientation applied
    original = media_io.read_image(source).pixels.astype(int)
    assert shown.shape == original.shape
    assert np.abs(shown - original).mean() < 4


@pytest.mark.parametrize("scheme", ["lzw", "deflate", "packbits", "none"])
def test_compress_as_copies_tiff_compression(scheme: str, tmp_path: Path) -> None:
    base = tmp_path / "base.tif"
    media_io.write_image(base, photo("chelsea"), compression=scheme)
    source = _source(tmp_path)
    target = tmp_path / "out.tif"
    _run("CompressAs", source, target, {}, donor=base)
    assert tiff_compression(target) == scheme
    assert np.array_equal(media_io.read_image(target).pixels, media_io.read_image(source).pixels)


# --- Output plugins -----------------------------------------------------------------------------


@pytest.mark.parametrize(("rotated", "orientation"), [("yes", 6), ("no", 6), ("yes", 1)])
def test_output_png_image_rotated(rotated: str, orientation: int, tmp_path: Path) -> None:
    source = tmp_path / "camera.jpg"
    media_io.write_image(source, photo("chelsea", 120, 200), quality=92, exif=_exif(orientation))
    target = tmp_path / "out.png"
    result = _run("OutputPNG", source, target, {"Image Rotated": rotated})
    out = media_io.read_image(target, apply_orientation=False).pixels
    expected = media_io.read_image(source, apply_orientation=rotated == "yes").pixels
    assert np.array_equal(out, expected)
    assert result.variables["Image Rotated"] == ("yes" if rotated == "yes" and orientation != 1 else "no")


def test_output_png_bit_depth_variant(tmp_path: Path) -> None:
    source = _source(tmp_path)
    target = tmp_path / "deep.png"
    result = _run("OutputPNG", source, target, {"Bits per Channel": "16"})
    assert result.operation == "OutputPng::BitDepth" and result.variables["Depth"] == "16"
    deep = media_io.read_image(target).pixels
    assert deep.dtype == np.uint16
    assert np.array_equal((deep >> 8).astype(np.uint8), media_io.read_image(source).pixels)


def test_output_tiff_and_copy(tmp_path: Path) -> None:
    source = _source(tmp_path)
    _run("OutputTIFF", source, tmp_path / "out.tif", {"compression": "deflate"})
    assert tiff_compression(tmp_path / "out.tif") == "deflate"
    assert np.array_equal(
        media_io.read_image(tmp_path / "out.tif").pixels, media_io.read_image(source).pixels
    )
    _run("OutputCopy", source, tmp_path / "copy.png", {})
    assert (tmp_path / "copy.png").read_bytes() == source.read_bytes()


# --- blurs --------------------------------------------------------------------------------------


@pytest.mark.parametrize("invert", ["no", "yes"])
@pytest.mark.parametrize("as_file", [False, True])
def test_gaussian_local_blur_leaves_outside_bit_identical(invert: str, as_file: bool, tmp_path: Path) -> None:
    source = _source(tmp_path)
    mask = box_mask()
    arguments: dict[str, Any] = {"kernelsize": 11, "invertmask": invert}
    input_mask = None
    if as_file:
        mask_file = tmp_path / "mask.png"
        media_io.write_image(mask_file, masks.to_input_mask(mask))
        arguments["inputmaskname"] = str(mask_file)
    else:
        input_mask = mask
    target = tmp_path / "blurred.png"
    _run("GaussianLocalBlur", source, target, arguments, input_mask=input_mask)
    selection = ~mask if invert == "yes" else mask
    before = media_io.read_image(source).pixels
    after = media_io.read_image(target).pixels
    assert np.array_equal(after[~selection], before[~selection])
    changed = masks.diff_mask(before, after)
    assert changed[selection].mean() > 0.3


def test_median_blur_window_and_whole_image(tmp_path: Path) -> None:
    source = _source(tmp_path)
    before = media_io.read_image(source).pixels
    for kernel in (5, 15, 24):
        whole = _run("MedianBlur", source, tmp_path / f"whole{kernel}.png", {"kernelSize": kernel})
        assert whole.target_pixels is not None
        assert np.array_equal(whole.target_pixels, cv2.medianBlur(before, kernel | 1))
    part = _run("MedianBlur", source, tmp_path / "part.png", {"kernelSize": 5, "percentageChange": 0.25})
    assert part.target_pixels is not None
    changed = masks.diff_mask(before, part.target_pixels)
    box = masks.bbox(changed)
    assert box is not None and box.height <= 60 and box.width <= 80
    x, y = (int(v) for v in part.variables["location"].strip("()").split(","))
    assert box.left >= x and box.top >= y and box.right <= x + 80 and box.bottom <= y + 60


# --- region selection ---------------------------------------------------------------------------


def _components(mask: np.ndarray, connectivity: int) -> int:
    count, _ = cv2.connectedComponents(mask.astype(np.uint8), connectivity=connectivity)
    return int(count) - 1


@pytest.mark.parametrize("image", ["coffee", "astronaut", "chelsea", "rocket"])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_select_region_returns_exactly_one_connected_region(image: str, seed: int, tmp_path: Path) -> None:
    source = _source(tmp_path, image)
    target = tmp_path / "region.png"
    result = _run("SelectRegion", source, target, {"alpha": "yes"}, seed=seed)
    assert result.mask is not None and result.mask.any()
    assert _components(result.mask, 4) == 1
    rgba = media_io.read_image(target).pixels
    assert rgba.shape[2] == 4
    assert np.array_equal(rgba[:, :, 3] > 0, result.mask)
    assert np.array_equal(rgba[:, :, :3], media_io.read_image(source).pixels)
    box = masks.bbox(result.mask)
    assert box is not None
    x, y = result.variables["paste_x"], result.variables["paste_y"]
    assert 0 <= x <= 320 - box.width and 0 <= y <= 240 - box.height


def test_select_region_without_alpha_writes_the_mask(tmp_path: Path) -> None:
    source = _source(tmp_path)
    target = tmp_path / "mask.png"
    result = _run("SelectRegion", source, target, {"alpha": "no"})
    written = media_io.read_image(target).pixels
    assert written.ndim == 2 and set(np.unique(written)) <= {0, 255}
    assert result.mask is not None and np.array_equal(written == 255, result.mask)


# a box is at most half the (central) area less a pixel, as the original: 256×192 → 127×95
@pytest.mark.parametrize(("size", "width", "height"), [(1, 40, 30), (2, 80, 60), (3, 127, 95)])
def test_smart_mask_selector_box_sizes(size: int, width: int, height: int, tmp_path: Path) -> None:
    source = _source(tmp_path)
    args = {"op": "box", "size": size, "smallw": 40, "smallh": 30, "mediumw": 80, "mediumh": 60,
            "largew": 160, "largeh": 120, "region size": 0.8}  # fmt: skip
    result = _run("SmartMaskSelector", source, tmp_path / "m.png", args)
    assert result.mask is not None
    box = masks.bbox(result.mask)
    assert box is not None and (box.width, box.height) == (width, height)
    assert int(result.mask.sum()) == width * height
    # inside the central 80 % of the image
    assert box.left >= 32 and box.top >= 24 and box.right <= 288 and box.bottom <= 216
    assert media_io.read_image(tmp_path / "m.png").pixels.ndim == 2  # alpha defaults to no


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_smart_mask_selector_slic_region_near_the_size_class(seed: int, tmp_path: Path) -> None:
    source = _source(tmp_path, "astronaut")
    result = _run(
        "SmartMaskSelector",
        source,
        tmp_path / "m.png",
        {"op": "slic", "size": 2, "mediumw": 40, "mediumh": 40, "alpha": "yes"},
        seed=seed,
    )
    assert result.mask is not None and _components(result.mask, 4) == 1
    assert 1600 / 4 <= result.mask.sum() <= 1600 * 4
    assert media_io.read_image(tmp_path / "m.png").pixels.shape[2] == 4


def test_select_region_with_mask_puts_the_mask_in_alpha(tmp_path: Path) -> None:
    source = _source(tmp_path)
    mask = box_mask()
    result = _run("SelectRegionWithMask", source, tmp_path / "r.png", {}, input_mask=mask)
    rgba = media_io.read_image(tmp_path / "r.png").pixels
    assert np.array_equal(rgba[:, :, 3] == 255, mask) and result.mask is not None
    inverted = _run(
        "SelectRegionWithMask", source, tmp_path / "i.png", {"invertmask": "yes"}, input_mask=mask
    )
    assert inverted.mask is not None and np.array_equal(inverted.mask, ~mask)


@pytest.mark.parametrize(
    ("color", "subject", "box"),
    [
        ("[200,100,200]", "natural object", (20, 80, 20, 100)),
        ("10,220,30", "man-made object", (120, 220, 40, 140)),
    ],
)
def test_pre_segmented_selection_takes_one_component_of_a_colour(
    color: str, subject: str, box: tuple[int, int, int, int], tmp_path: Path
) -> None:
    source = _source(tmp_path)
    seg_dir = segmentation_folder(tmp_path, source.stem)
    result = _run(
        "PreSegmentedSelectionRegion",
        source,
        tmp_path / "r.png",
        {"segmentation_directory": str(seg_dir), "color": color},
    )
    expected = np.zeros((240, 320), bool)
    top, bottom, left, right = box
    expected[top:bottom, left:right] = True
    assert result.mask is not None and np.array_equal(result.mask, expected)
    assert result.variables["subject"] == subject


def test_pre_segmented_selection_names_a_missing_colour(tmp_path: Path) -> None:
    source = _source(tmp_path)
    seg_dir = segmentation_folder(tmp_path, source.stem)
    with pytest.raises(PluginError) as caught:
        _run(
            "PreSegmentedSelectionRegion",
            source,
            tmp_path / "r.png",
            {"segmentation_directory": str(seg_dir), "color": "[1,2,3]"},
        )
    assert caught.value.argument == "color"


# --- cloning and pairing ------------------------------------------------------------------------


def test_design_paste_clone_copies_the_masked_pixels(tmp_path: Path) -> None:
    source = _source(tmp_path)
    mask = box_mask()  # bbox rows 60:180, cols 80:200
    result = _run(
        "DesignPasteClone", source, tmp_path / "c.png", {"paste_x": 190, "paste_y": 100}, input_mask=mask
    )
    before = media_io.read_image(source).pixels
    after = media_io.read_image(tmp_path / "c.png").pixels
    rows, cols = np.nonzero(mask)
    dst_r, dst_c = rows + 40, cols + 110
    inside = (dst_r < 240) & (dst_c < 320)
    assert np.array_equal(after[dst_r[inside], dst_c[inside]], before[rows[inside], cols[inside]])
    moved = np.zeros_like(mask)
    moved[dst_r[inside], dst_c[inside]] = True
    assert np.array_equal(after[~moved], before[~moved])
    assert result.variables["purpose"] == "clone"


def test_pick_paired_image_prefers_the_longest_prefix(tmp_path: Path) -> None:
    source = _source(tmp_path)  # coffee.png
    pool = tmp_path / "pool"
    pool.mkdir()
    for name in ("a.png", "b.png"):
        media_io.write_image(pool / name, photo("chelsea", 40, 40))
    pairing = tmp_path / "pairs.csv"
    pairing.write_text("cof,a.png\ncoffee,b.png\ntea,a.png\n", encoding="utf-8")
    result = _run(
        "PickPairedImage", source, tmp_path / "x.png", {"directory": str(pool), "pairing": str(pairing)}
    )
    assert result.file == pool / "b.png" and result.variables["file"] == str(pool / "b.png")
    pairing.write_text("tea,a.png\n", encoding="utf-8")
    with pytest.raises(PluginError) as caught:
        _run("PickPairedImage", source, tmp_path / "x.png", {"directory": str(pool), "pairing": str(pairing)})
    assert caught.value.argument == "pairing"


# --- journal edges of the simpler plugins -------------------------------------------------------


def test_select_region_journal_edge_marks_the_removed_pixels(tmp_path: Path) -> None:
    source = _source(tmp_path)
    target = tmp_path / "region.png"
    result = _run("SelectRegion", source, target, {"alpha": "yes"})
    journal = Journal.create(source, tmp_path / "journal")
    edge = journal.record(
        journal.graph.base_node(),
        target,
        op="SelectRegion",
        arguments={**result.variables, "subject": "other"},
    )
    assert result.mask is not None
    assert np.array_equal(journal.edge_mask(edge.start, edge.end), ~result.mask)


@pytest.mark.parametrize("orientation", [1, 6])
def test_output_png_journal_edge_is_empty(orientation: int, tmp_path: Path) -> None:
    source = tmp_path / "camera.jpg"
    media_io.write_image(source, photo("chelsea", 120, 200), quality=92, exif=_exif(orientation))
    target = tmp_path / "out.png"
    result = _run("OutputPNG", source, target, {"Image Rotated": "yes"})
    journal = Journal.create(source, tmp_path / "journal")
    edge = journal.record(journal.graph.base_node(), target, op="OutputPng", arguments=result.variables)
    assert not journal.edge_mask(edge.start, edge.end).any()


def test_gaussian_local_blur_journal_edge_stays_inside_the_selection(tmp_path: Path) -> None:
    source = _source(tmp_path)
    mask = box_mask()
    target = tmp_path / "blurred.png"
    result = _run("GaussianLocalBlur", source, target, {"kernelsize": 9}, input_mask=mask)
    journal = Journal.create(source, tmp_path / "journal")
    edge = journal.record(
        journal.graph.base_node(),
        target,
        op="Blur",
        arguments={**result.variables, "Laundering": "no"},
        input_mask=masks.to_input_mask(mask),
    )
    recorded = journal.edge_mask(edge.start, edge.end)
    assert recorded.any() and not (recorded & ~mask).any()


# --- other pixel layouts ------------------------------------------------------------------------


def _layout(kind: str) -> np.ndarray:
    rgb = photo("coffee", 120, 160)
    if kind == "gray":
        return np.asarray(cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY))
    if kind == "rgba":
        return np.dstack([rgb, np.full(rgb.shape[:2], 255, np.uint8)])
    return rgb.astype(np.uint16) * 257  # rgb16


@pytest.mark.parametrize("kind", ["gray", "rgba", "rgb16"])
@pytest.mark.parametrize(
    ("name", "arguments", "keeps_layout"),
    [
        ("MedianBlur", {"kernelSize": 9}, True),
        ("GaussianBlur", {}, True),
        ("GaussianLocalBlur", {}, True),
        ("Rotate", {"rotation": 20}, True),
        ("Crop", {"pixel_width": 8, "crop_x": 8}, True),
        ("DesignPasteClone", {"paste_x": 10, "paste_y": 10}, True),
        ("PasteSplice", {"approach": "texture"}, True),
        ("SelectRegion", {}, False),
        ("SmartMaskSelector", {"op": "slic"}, False),
        ("CompressAs", {}, False),
    ],
)
def test_plugins_accept_gray_alpha_and_deep_images(
    name: str, arguments: dict[str, Any], keeps_layout: bool, kind: str, tmp_path: Path
) -> None:
    pixels = _layout(kind)
    source = tmp_path / "source.png"
    media_io.write_image(source, pixels)
    donor = None
    if name == "PasteSplice":
        donor = tmp_path / "donor.png"
        media_io.write_image(donor, rgba_donor(60, 80))
    elif name == "CompressAs":
        donor = tmp_path / "donor.jpg"
        media_io.write_image(donor, photo("chelsea", 60, 80), quality=75)
    mask = np.zeros(pixels.shape[:2], bool)
    mask[20:60, 30:90] = True
    suffix = get_plugin(name).target_suffix(source, donor)
    result = _run(name, source, tmp_path / f"target{suffix}", arguments, donor=donor, input_mask=mask)
    out = media_io.read_image(tmp_path / f"target{suffix}").pixels
    if keeps_layout:
        assert out.dtype == pixels.dtype and out.ndim == pixels.ndim
        assert out.ndim == 2 or out.shape[2] == pixels.shape[2]
    if result.target_pixels is not None:
        assert np.array_equal(out, result.target_pixels)
