"""Drawing modes' pixel semantics, kernel sizes, previews, and the output EXIF (no thumbnail)."""

from __future__ import annotations

import io

import cv2
import numpy as np
import piexif
import pytest
from PIL import Image

from masksmith.anonymise.config import DrawConfig, DrawMode, load_config
from masksmith.anonymise.cutouts import MaskedObjects, ObjectMask
from masksmith.anonymise.draw import blur_kernel, draw_objects, draw_region, output_exif
from masksmith.anonymise.previews import preview_box, preview_crop
from tests.synthetic import smooth_textured, textured


def _objects(shape: tuple[int, int], *items: tuple[slice, slice, str]) -> MaskedObjects:
    objs = []
    for rows, cols, name in items:
        mask = np.ones((rows.stop - rows.start, cols.stop - cols.start), bool)
        box = (float(cols.start), float(rows.start), float(cols.stop), float(rows.stop))
        objs.append(ObjectMask(mask, rows.start, cols.start, box, 0.9, 0, name))
    return MaskedObjects(tuple(objs), shape)


@pytest.mark.parametrize(
    ("width", "blur", "kernel"),
    [
        (1300, 15, 19),
        (2048, 15, 30),
        (8000, 15, 120),
        (200, 15, 3),
        (199, 15, 3),
        (50, 15, 3),
        (1000, 100, 100),
    ],
)
def test_blur_kernel_is_proportional_to_width_but_never_below_3(width: int, blur: int, kernel: int) -> None:
    assert blur_kernel(width, blur) == kernel


def _config(**changes: object) -> DrawConfig:
    return load_config(None).draw.model_copy(update=changes)


@pytest.mark.parametrize("mode", list(DrawMode))
def test_every_mode_changes_only_inside_the_mask(rng: np.random.Generator, mode: DrawMode) -> None:
    image = textured(rng, 240, 320)
    before = image.copy()
    objects = _objects(
        (240, 320), (slice(40, 120), slice(50, 170), "person"), (slice(150, 230), slice(200, 310), "car")
    )
    out, changed = draw_objects(image, objects, config=_config(draw_mode=mode))
    np.testing.assert_array_equal(image, before)  # input untouched
    np.testing.assert_array_equal(changed, objects.union_mask())
    np.testing.assert_array_equal(out[~changed], image[~changed])
    assert (out[changed] != image[changed]).any(axis=-1).mean() > 0.9


def test_colour_blur_is_the_box_blur_of_the_image(rng: np.random.Generator) -> None:
    image = smooth_textured(rng, 200, 1300)
    mask = np.zeros((200, 1300), bool)
    mask[50:150, 400:700] = True
    out = draw_region(image, mask, mode=DrawMode.BLUR, blur=15)
    expected = cv2.blur(image, (19, 19))
    np.testing.assert_array_equal(out[mask], expected[mask])


def test_gray_blur_is_gray_box_blurred_luminance(rng: np.random.Generator) -> None:
    image = smooth_textured(rng, 200, 1300)
    mask = np.zeros((200, 1300), bool)
    mask[:60, :90] = True  # at the image corner: the border rule must match the whole-image blur
    out = draw_region(image, mask, mode=DrawMode.GRAY_BLUR, blur=15)
    gray = cv2.blur(cv2.cvtColor(image, cv2.COLOR_RGB2GRAY), (19, 19))
    for c in range(3):
        np.testing.assert_array_equal(out[:, :, c][mask], gray[mask])


def test_normalized_gray_blur_is_clipped_band_pass_around_100(rng: np.random.Generator) -> None:
    image = smooth_textured(rng, 200, 1300)
    image[20:180, 100:400] = (250, 10, 30)  # a flat region
    mask = np.zeros((200, 1300), bool)
    mask[:, 50:1250] = True
    out = draw_region(image, mask, mode=DrawMode.NORMALIZED_GRAY_BLUR, blur=15)
    gray = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)
    band = cv2.blur(gray, (19, 19)).astype(int) - cv2.blur(gray, (22, 22)).astype(int)
    expected = np.clip(band + 100, 0, 255)
    np.testing.assert_array_equal(out[:, :, 1][mask], expected[mask])
    assert (out[60:140, 150:350] == 100).all()  # flat region → exactly grey 100


def test_normalized_gray_blur_clips_instead_of_wrapping() -> None:
    # 250 px wide: kernel 3 and 4; a dark 3×3 dot on white gives 0 − 111 + 100 = −11, which the
    # original's uint8 arithmetic turned into 245 (white) and we clip to 0.
    image = np.full((40, 250, 3), 255, np.uint8)
    image[19:22, 99:102] = 0
    mask = np.ones((40, 250), bool)
    out = draw_region(image, mask, mode=DrawMode.NORMALIZED_GRAY_BLUR, blur=15)
    gray = image[:, :, 0]
    band = cv2.blur(gray, (3, 3)).astype(int) - cv2.blur(gray, (4, 4)).astype(int) + 100
    assert band.min() < 0
    np.testing.assert_array_equal(out[:, :, 0], np.clip(band, 0, 255))
    assert out[20, 100, 0] == 0


def test_tiny_images_are_still_anonymised() -> None:
    image = np.zeros((40, 60, 3), np.uint8)
    image[:, ::2] = 255  # stripes: any blur changes them
    mask = np.zeros((40, 60), bool)
    mask[10:30, 10:40] = True
    for mode in (DrawMode.BLUR, DrawMode.GRAY_BLUR, DrawMode.NORMALIZED_GRAY_BLUR):
        out = draw_region(image, mask, mode=mode, blur=15)
        assert (out[mask] != image[mask]).any(axis=-1).mean() > 0.9


def test_class_colours_and_single_mask_colour(rng: np.random.Generator) -> None:
    image = textured(rng, 100, 100)
    objects = _objects(
        (100, 100),
        (slice(0, 30), slice(0, 30), "person"),
        (slice(40, 60), slice(0, 30), "car"),
        (slice(70, 90), slice(0, 30), "face"),
        (slice(20, 50), slice(20, 40), "truck"),  # overlaps person and car: later wins
    )
    out, changed = draw_objects(image, objects, config=_config(blur=None))
    assert (out[5, 5] == (255, 255, 255)).all()
    assert (out[55, 5] == (255, 0, 0)).all()
    assert (out[80, 5] == (100, 100, 100)).all()  # no colour for faces: default
    assert (out[25, 25] == (0, 255, 0)).all() and (out[45, 25] == (0, 255, 0)).all()
    np.testing.assert_array_equal(out[~changed], image[~changed])
    out2, _ = draw_objects(image, objects, config=_config(blur=None, mask_color=(50, 50, 50)))
    assert (out2[changed] == 50).all()
    out3, _ = draw_objects(image, objects, config=_config(mask_color=(50, 50, 50)))  # blur wins
    assert not (out3[changed] == 50).all()


@pytest.mark.parametrize("mode", [m for m in DrawMode if m is not DrawMode.MASK_COLOR])
@pytest.mark.parametrize("wrap", [False, True])
def test_objects_drawn_one_by_one_equal_a_blur_of_the_whole_image(
    rng: np.random.Generator, mode: DrawMode, wrap: bool
) -> None:
    image = textured(rng, 120, 200)
    shapes = [(10, 150, 40, 80), (30, 170, 30, 60), (60, 5, 50, 50), (58, 40, 20, 30), (0, 0, 15, 15)]
    objs = []
    for top, left, h, w in shapes:  # overlapping, touching the borders, crossing the seam when wrapped
        mask = np.zeros((h, w), bool)
        cv2.ellipse(mask.view(np.uint8), (w // 2, h // 2), (w // 2, h // 2), 0, 0, 360, 1, -1)
        objs.append(ObjectMask(mask, top, left, (left, top, left + w, top + h), 0.9, 0, "car"))
    objects = MaskedObjects(tuple(objs), (120, 200), wrap)
    config = _config(draw_mode=mode, blur=100)  # kernels of 20 and 24 pixels
    out, changed = draw_objects(image, objects, config=config)
    whole = draw_region(image, changed, mode=mode, blur=100)
    np.testing.assert_array_equal(out, whole)
    assert changed[20:50, :10].any() == wrap  # the first object comes back on the left only when wrapped


def test_draw_mask_off_changes_nothing(rng: np.random.Generator) -> None:
    image = textured(rng, 50, 50)
    out, changed = draw_objects(
        image, _objects((50, 50), (slice(0, 20), slice(0, 20), "car")), config=_config(draw_mask=False)
    )
    np.testing.assert_array_equal(out, image)
    assert not changed.any()


def _exif_with_thumbnail() -> bytes:
    thumb = io.BytesIO()
    Image.new("RGB", (80, 60), (200, 10, 10)).save(thumb, "JPEG")
    exif = {
        "0th": {
            piexif.ImageIFD.Make: b"Viatech",
            piexif.ImageIFD.Model: b"X1",
            piexif.ImageIFD.Orientation: 6,
        },
        "Exif": {piexif.ExifIFD.DateTimeOriginal: b"2021:06:15 10:23:45"},
        "GPS": {
            piexif.GPSIFD.GPSLatitudeRef: b"N",
            piexif.GPSIFD.GPSLatitude: ((63, 1), (25, 1), (4980, 100)),
            piexif.GPSIFD.GPSLongitudeRef: b"E",
            piexif.GPSIFD.GPSLongitude: ((10, 1), (23, 1), (4236, 100)),
        },
        "1st": {piexif.ImageIFD.JPEGInterchangeFormat: 0, piexif.ImageIFD.JPEGInterchangeFormatLength: 0},
        "thumbnail": thumb.getvalue(),
    }
    raw = piexif.dump(exif)
    parsed = Image.Exif()
    parsed.load(raw)
    assert piexif.load(raw)["thumbnail"]  # the input really has a thumbnail
    # private Viatech tags are added with Pillow (piexif does not know them); IFD1 is re-attached below
    return raw


def test_output_exif_drops_thumbnail_keeps_fields_and_resets_orientation() -> None:
    raw = _exif_with_thumbnail()
    out = output_exif(raw, reset_orientation=True)
    assert out is not None
    loaded = piexif.load(out)
    assert not loaded["thumbnail"] and not loaded["1st"]
    assert loaded["0th"][piexif.ImageIFD.Make] == b"Viatech"
    assert loaded["0th"][piexif.ImageIFD.Orientation] == 1
    assert loaded["Exif"][piexif.ExifIFD.DateTimeOriginal] == b"2021:06:15 10:23:45"
    lat = [n / d for n, d in loaded["GPS"][piexif.GPSIFD.GPSLatitude]]
    assert lat == pytest.approx([63, 25, 49.8])
    assert loaded["GPS"][piexif.GPSIFD.GPSLongitudeRef] == b"E"
    kept = output_exif(raw, reset_orientation=False)
    assert kept is not None and piexif.load(kept)["0th"][piexif.ImageIFD.Orientation] == 6


def test_output_exif_redacts_personal_xml_fields() -> None:
    exif = Image.Exif()
    exif[272] = "X1"
    exif[40055] = (
        b"<ImageProperties><Driver>Ola Nordmann</Driver><CarID>AB12345</CarID><Speed>12</Speed></ImageProperties>"
    )
    out = output_exif(exif.tobytes(), reset_orientation=False)
    assert out is not None
    again = Image.Exif()
    again.load(out)
    text = again[40055].decode()
    assert "Ola Nordmann" not in text and "AB12345" not in text and "<Speed>12</Speed>" in text
    assert output_exif(None, reset_orientation=True) is None
    assert output_exif(b"Exif\x00\x00garbage", reset_orientation=True) is None


@pytest.mark.parametrize(
    ("size", "expected"),
    [((4000, 8000), (2740, 1100, 5260, 2500)), ((1536, 2048), (-236, -9, 2284, 1391))],
)
def test_preview_box_and_black_padding(size: tuple[int, int], expected: tuple[int, int, int, int]) -> None:
    h, w = size
    assert preview_box(h, w, dim=(2520, 1400), center=(0.45, 0.5)) == expected
    image = np.full((h // 8, w // 8, 3), 200, np.uint8)
    crop = preview_crop(image, dim=(315, 175), center=(0.45, 0.5))
    assert crop.shape == (174, 314, 3)
    if w == 2048:
        assert (crop[:, :5] == 0).all() and (crop[60, 100] == 200).all()
