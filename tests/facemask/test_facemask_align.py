from __future__ import annotations

import cv2
import numpy as np
import pytest
import skimage.data
from skimage.transform import SimilarityTransform

from masksmith.detect.landmarks import landmarks68_to_5, predict_68
from masksmith.errors import OperationError
from masksmith.facemask.align import (
    ARCFACE_112,
    CropStyle,
    arcface_template,
    crop,
    scale_shift_fit,
    similarity_fit,
    transform_points,
)

# CenterFace on the astronaut (facts file §4.4).
ASTRO_BOX = np.array([181.53, 58.20, 269.88, 177.81])
ASTRO_5 = np.array([(203.2, 101.7), (247.0, 104.5), (223.3, 125.1), (203.4, 142.3), (241.3, 144.4)])


@pytest.fixture(scope="module")
def astronaut() -> np.ndarray:
    return skimage.data.astronaut()


def _eye_angle(pts: np.ndarray) -> float:
    d = pts[1] - pts[0]
    return float(np.degrees(np.arctan2(d[1], d[0])))


@pytest.fixture(scope="module")
def rotated(astronaut: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The astronaut turned 10° in-plane about the face, with dlib's 5 points found on it."""
    centre = ASTRO_BOX.reshape(2, 2).mean(axis=0)
    m = cv2.getRotationMatrix2D((float(centre[0]), float(centre[1])), -10.0, 1.0)
    img = cv2.warpAffine(astronaut, m, astronaut.shape[1::-1], flags=cv2.INTER_LINEAR)
    box = np.concatenate(
        [centre - (ASTRO_BOX[2:] - ASTRO_BOX[:2]) / 2, centre + (ASTRO_BOX[2:] - ASTRO_BOX[:2]) / 2]
    )
    five = landmarks68_to_5(predict_68(img, box)).astype(np.float64)
    return img, five


@pytest.mark.parametrize("crop_size", [112, 224])
def test_buffalo_maps_landmarks_onto_template(astronaut: np.ndarray, crop_size: int) -> None:
    res = crop(astronaut, style="buffalo", landmarks5=ASTRO_5, crop_size=crop_size)
    assert res.image.shape == (crop_size, crop_size, 3) and res.image.dtype == np.uint8
    assert res.style is CropStyle.BUFFALO
    m = res.matrix
    assert abs(m[0, 0] - m[1, 1]) < 1e-6 and abs(m[0, 1] + m[1, 0]) < 1e-6
    mapped = transform_points(m, ASTRO_5)
    ratio = crop_size / 112
    assert np.linalg.norm(mapped - arcface_template(crop_size), axis=1).max() < 4.0 * ratio
    assert abs(_eye_angle(mapped)) < 1.0


def test_buffalo_crop_content_is_the_face(astronaut: np.ndarray) -> None:
    res = crop(astronaut, style="buffalo", landmarks5=ASTRO_5)
    # the warped image equals sampling the source at the inverse-mapped crop pixel centres
    inv = cv2.invertAffineTransform(res.matrix)
    for x, y in ((56, 56), (30, 80), (90, 40)):
        sx, sy = transform_points(inv, [[x, y]])[0]
        expected = astronaut[round(sy), round(sx)].astype(int)
        assert np.abs(res.image[y, x].astype(int) - expected).max() < 40


def test_buffalo_matches_skimage_similarity(astronaut: np.ndarray) -> None:
    ours = crop(astronaut, style="buffalo", landmarks5=ASTRO_5).matrix
    ref = SimilarityTransform.from_estimate(ASTRO_5, ARCFACE_112).params[:2]
    assert np.allclose(ours, ref, atol=1e-9)


def test_similarity_round_trip() -> None:
    rng = np.random.default_rng(0)
    for _ in range(50):
        s, a = rng.uniform(0.5, 5), np.radians(rng.uniform(-60, 60))
        m = np.array(
            [
                [s * np.cos(a), -s * np.sin(a), rng.uniform(-200, 200)],
                [s * np.sin(a), s * np.cos(a), rng.uniform(-200, 200)],
            ]
        )
        src = transform_points(m, ARCFACE_112)
        fitted = similarity_fit(src, ARCFACE_112)
        assert np.abs(transform_points(fitted, src) - ARCFACE_112).max() < 1e-3


@pytest.mark.parametrize(
    ("size", "expected_first"),
    [
        (112, (38.2946, 51.6963)),
        (224, (76.5892, 103.3926)),
        (128, (46.2946, 51.6963)),
        (256, (92.5892, 103.3926)),
    ],
)
def test_template_scaling_follows_insightface(size: int, expected_first: tuple[float, float]) -> None:
    assert np.allclose(arcface_template(size)[0], expected_first)


def test_scale_shift_has_no_rotation_and_keeps_tilt(rotated: tuple[np.ndarray, np.ndarray]) -> None:
    img, five = rotated
    source_tilt = _eye_angle(five)
    assert 11.0 < source_tilt < 16.5  # 10° turn on top of the astronaut's own ≈3.7° roll
    res = crop(img, style="scale_shift", landmarks5=five)
    m = res.matrix
    assert m[0, 1] == 0 and m[1, 0] == 0 and m[0, 0] == m[1, 1] > 0
    mapped = transform_points(m, five)
    assert abs(_eye_angle(mapped) - source_tilt) < 0.5
    # the fit centres on all five points, so a 14° roll moves the eye midpoint sideways by ≈5 px
    eye_mid = mapped[:2].mean(axis=0)
    assert np.linalg.norm(eye_mid - ARCFACE_112[:2].mean(axis=0)) < 8.0
    assert res.image.shape == (112, 112, 3)


def test_scale_shift_on_the_upright_astronaut(astronaut: np.ndarray) -> None:
    res = crop(astronaut, style="scale_shift", landmarks5=ASTRO_5)
    mapped = transform_points(res.matrix, ASTRO_5)
    assert np.linalg.norm(mapped[:2].mean(axis=0) - ARCFACE_112[:2].mean(axis=0)) < 4.0
    assert abs(_eye_angle(mapped) - _eye_angle(ASTRO_5)) < 0.5
    assert _eye_angle(ASTRO_5) > 3.0


def test_buffalo_levels_the_rotated_face(rotated: tuple[np.ndarray, np.ndarray]) -> None:
    img, five = rotated
    res = crop(img, style="buffalo", landmarks5=five)
    assert abs(_eye_angle(transform_points(res.matrix, five))) < 1.0


def test_scale_shift_fit_closed_form() -> None:
    src = ARCFACE_112 * 2.5 + [40, -7]
    m = scale_shift_fit(src, ARCFACE_112)
    assert np.allclose(m, [[0.4, 0, -16], [0, 0.4, 2.8]])


@pytest.mark.parametrize("crop_size", [112, 256])
def test_original_cropping_centres_the_box(astronaut: np.ndarray, crop_size: int) -> None:
    res = crop(astronaut, style="original_cropping", box=ASTRO_BOX, crop_size=crop_size)
    assert res.image.shape == (crop_size, crop_size, 3)
    m = res.matrix
    assert m[0, 1] == 0 and m[1, 0] == 0 and m[0, 0] == pytest.approx(m[1, 1])
    centre = transform_points(m, [ASTRO_BOX.reshape(2, 2).mean(axis=0)])[0]
    assert np.abs(centre - (crop_size - 1) / 2).max() <= 1.0
    side = 1.2 * max(ASTRO_BOX[2] - ASTRO_BOX[0], ASTRO_BOX[3] - ASTRO_BOX[1])
    assert m[0, 0] == pytest.approx(crop_size / side, rel=0.01)


@pytest.mark.parametrize(("crop_size", "tol"), [(112, 0), (256, 2)])
def test_original_cropping_pads_at_the_border(astronaut: np.ndarray, crop_size: int, tol: int) -> None:
    shift = 170
    edge = np.ascontiguousarray(astronaut[:, shift:])
    box = ASTRO_BOX - [shift, 0, shift, 0]
    res = crop(edge, style="original_cropping", box=box, crop_size=crop_size)
    full = crop(astronaut, style="original_cropping", box=ASTRO_BOX, crop_size=crop_size)
    centre = transform_points(res.matrix, [box.reshape(2, 2).mean(axis=0)])[0]
    assert np.abs(centre - (crop_size - 1) / 2).max() <= 1.0
    # columns that fall left of the image are black; the rest is the same crop as without the border
    first_inside = int(np.ceil(transform_points(res.matrix, [[0, 0]])[0, 0]))
    black_until = int(np.floor(transform_points(res.matrix, [[-1, 0]])[0, 0]))  # bilinear reaches 1 px out
    assert black_until > 5
    assert not res.image[:, :black_until].any()
    assert res.image[:, first_inside + 1].any()
    right = slice(first_inside + 1, None)
    assert np.abs(res.image[:, right].astype(int) - full.image[:, right].astype(int)).max() <= tol


def test_original_cropping_keeps_aspect_ratio() -> None:
    img = np.zeros((300, 400, 3), np.uint8)
    cv2.circle(img, (200, 150), 60, (255, 255, 255), -1)
    box = (130.0, 110.0, 270.0, 190.0)  # wide box: the crop must not squash the circle
    res = crop(img, style="original_cropping", box=box, crop_size=112)
    ys, xs = np.nonzero(res.image[..., 0] > 127)
    assert abs((xs.max() - xs.min()) - (ys.max() - ys.min())) <= 1


def test_scale_shift_falls_back_to_the_box(astronaut: np.ndarray) -> None:
    res = crop(astronaut, style="scale_shift", box=ASTRO_BOX)
    side = 1.3 * max(ASTRO_BOX[2] - ASTRO_BOX[0], ASTRO_BOX[3] - ASTRO_BOX[1])
    assert res.matrix[0, 0] == pytest.approx(112 / side, rel=0.01)
    assert res.style is CropStyle.SCALE_SHIFT


@pytest.mark.parametrize("style", list(CropStyle))
@pytest.mark.parametrize(
    "image",
    [
        np.random.default_rng(0).integers(0, 255, (300, 400), dtype=np.uint8),
        np.random.default_rng(1).integers(0, 255, (300, 400, 4), dtype=np.uint8),
        np.random.default_rng(2).integers(0, 65535, (300, 400, 3), dtype=np.uint16),
    ],
)
def test_crop_keeps_dtype_and_channels_and_does_not_mutate(style: CropStyle, image: np.ndarray) -> None:
    before = image.copy()
    lm5 = ASTRO_5 - [60, 0]
    box = ASTRO_BOX - [60, 0, 60, 0]
    res = crop(image, style=style, landmarks5=lm5, box=box, crop_size=112)
    assert res.image.dtype == image.dtype
    assert res.image.shape == (112, 112, *image.shape[2:])
    assert np.array_equal(image, before)


@pytest.mark.parametrize(
    ("kwargs", "argument"),
    [
        ({"style": "arcface", "landmarks5": ASTRO_5}, "style"),
        ({"style": "buffalo"}, "landmarks5"),
        ({"style": "buffalo", "landmarks5": ASTRO_5[:4]}, "landmarks5"),
        ({"style": "original_cropping"}, "box"),
        ({"style": "original_cropping", "box": (10, 10, 5, 20)}, "box"),
        ({"style": "buffalo", "landmarks5": ASTRO_5, "crop_size": 0}, "crop_size"),
    ],
)
def test_bad_arguments_raise(astronaut: np.ndarray, kwargs: dict[str, object], argument: str) -> None:
    with pytest.raises(OperationError) as info:
        crop(astronaut, **kwargs)  # type: ignore[arg-type]
    assert info.value.argument == argument


def test_unknown_style_lists_valid_styles(astronaut: np.ndarray) -> None:
    with pytest.raises(OperationError, match="buffalo, original_cropping, scale_shift"):
        crop(astronaut, style="nope", landmarks5=ASTRO_5)
