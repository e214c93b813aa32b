from __future__ import annotations

import cv2
import numpy as np
import pytest
import skimage.data

from masksmith.detect.landmarks import predict_68
from masksmith.errors import OperationError
from masksmith.facemask.fit import apply_mask, estimate_yaw, mask_spread
from masksmith.facemask.templates import PATTERNS, MaskType, Template, render_template

ASTRO_BOX = (181.53, 58.20, 269.88, 177.81)  # CenterFace on the astronaut (facts file §4.4)
ALL_STYLES = [(t, p) for t in MaskType for p in PATTERNS[t]]


@pytest.fixture(scope="module")
def astronaut() -> np.ndarray:
    return skimage.data.astronaut()


@pytest.fixture(scope="module")
def astro68(astronaut: np.ndarray) -> np.ndarray:
    return predict_68(astronaut, ASTRO_BOX)


def _template(kind: MaskType | str, pattern: str = "plain", seed: int = 0) -> Template:
    return render_template(kind, color=(96, 150, 200), pattern=pattern, rng=np.random.default_rng(seed))


def _disk(shape: tuple[int, ...], centre: np.ndarray, radius: float) -> np.ndarray:
    m = np.zeros(shape[:2], np.uint8)
    cv2.circle(m, (round(float(centre[0])), round(float(centre[1]))), round(radius), 1, -1)
    return m.astype(bool)


@pytest.mark.parametrize(("kind", "pattern"), ALL_STYLES)
def test_mask_covers_nose_and_mouth(
    astronaut: np.ndarray, astro68: np.ndarray, kind: MaskType, pattern: str
) -> None:
    _, alpha, changed = apply_mask(astronaut, astro68, _template(kind, pattern))
    for idx in (30, 33, 48, 54):
        x, y = np.round(astro68[idx]).astype(int)
        assert changed[y, x] and alpha[y, x] > 0.9, idx


@pytest.mark.parametrize(("kind", "pattern"), ALL_STYLES)
def test_mask_leaves_eyes_untouched(
    astronaut: np.ndarray, astro68: np.ndarray, kind: MaskType, pattern: str
) -> None:
    out, _, changed = apply_mask(astronaut, astro68, _template(kind, pattern))
    eyes = np.zeros(astronaut.shape[:2], bool)
    for side in (slice(36, 42), slice(42, 48)):
        eyes |= _disk(astronaut.shape, astro68[side].mean(axis=0), 5)
    for p in astro68[36:48]:
        eyes |= _disk(astronaut.shape, p, 1)
    assert not changed[eyes].any()
    assert np.array_equal(out[eyes], astronaut[eyes])


@pytest.mark.parametrize(("kind", "pattern"), ALL_STYLES)
def test_changes_stay_in_the_lower_face(
    astronaut: np.ndarray, astro68: np.ndarray, kind: MaskType, pattern: str
) -> None:
    _, _, changed = apply_mask(astronaut, astro68, _template(kind, pattern))
    ys, xs = np.nonzero(changed)
    pts = np.stack([xs, ys], axis=1).astype(np.float64)
    lm = astro68.astype(np.float64)
    eye_axis = lm[42:48].mean(axis=0) - lm[36:42].mean(axis=0)
    down = np.array([-eye_axis[1], eye_axis[0]]) / np.linalg.norm(eye_axis)
    below_bridge = (pts - lm[28]) @ down > 0  # line through the nose bridge, parallel to the eyes
    assert len(pts) > 3000
    assert below_bridge.mean() >= 0.95
    x1, y1, x2, y2 = ASTRO_BOX
    bw, bh = x2 - x1, y2 - y1
    m = 0.18  # loops reach past the box; their soft shadow a little further
    in_box = (xs >= x1 - m * bw) & (xs <= x2 + m * bw) & (ys >= y1 - m * bh) & (ys <= y2 + m * bh)
    assert in_box.all()


@pytest.mark.parametrize("kind", list(MaskType))
def test_changed_is_exactly_the_changed_pixels(
    astronaut: np.ndarray, astro68: np.ndarray, kind: MaskType
) -> None:
    out, alpha, changed = apply_mask(astronaut, astro68, _template(kind), shadow=0.0)
    assert out.shape == astronaut.shape and out.dtype == np.uint8
    assert alpha.shape == changed.shape == astronaut.shape[:2]
    assert alpha.dtype == np.float32 and changed.dtype == bool
    assert np.array_equal(changed, np.any(out != astronaut, axis=2))
    assert changed[alpha == 0].sum() <= 0.002 * changed.sum()  # only pinched-off pinholes, filled
    assert changed[alpha > 0].all()
    assert alpha.min() >= 0.0 and alpha.max() <= 1.0
    soft = (alpha > 0.02) & (alpha < 0.98)
    assert soft.sum() > 50  # feathered rim
    # with its shadow the mask also darkens skin, only just outside its own edge
    shaded, alpha2, changed2 = apply_mask(astronaut, astro68, _template(kind))
    assert np.array_equal(changed2, np.any(shaded != astronaut, axis=2))
    skin = changed2 & (alpha2 == 0)
    assert skin.sum() > 20
    before, after = astronaut[skin].astype(int).sum(axis=1), shaded[skin].astype(int).sum(axis=1)
    assert ((after <= before) | (before == 0)).all()  # darker (pure black can only be marked by +1)
    near = cv2.dilate((alpha2 > 0).astype(np.uint8), np.ones((9, 9), np.uint8)) > 0
    assert near[skin].all()


def test_input_is_not_mutated(astronaut: np.ndarray, astro68: np.ndarray) -> None:
    img, lm = astronaut.copy(), astro68.copy()
    template = _template("cloth", "dots")
    rgba = template.rgba.copy()
    apply_mask(img, lm, template)
    assert (
        np.array_equal(img, astronaut) and np.array_equal(lm, astro68) and np.array_equal(template.rgba, rgba)
    )


@pytest.mark.parametrize(("kind", "pattern"), [("surgical", "plain"), ("n95", "valve"), ("cloth", "floral")])
def test_seeded_rendering_is_reproducible(
    astronaut: np.ndarray, astro68: np.ndarray, kind: str, pattern: str
) -> None:
    a = apply_mask(astronaut, astro68, _template(kind, pattern, seed=11))[0]
    b = apply_mask(astronaut, astro68, _template(kind, pattern, seed=11))[0]
    c = apply_mask(astronaut, astro68, _template(kind, pattern, seed=12))[0]
    assert np.array_equal(a, b)
    assert not np.array_equal(a, c)


def test_shading_follows_scene_brightness(astronaut: np.ndarray, astro68: np.ndarray) -> None:
    template = _template("surgical")
    dark = (astronaut * 0.45).astype(np.uint8)
    bright_out, alpha, _ = apply_mask(astronaut, astro68, template)
    dark_out, _, _ = apply_mask(dark, astro68, template)
    body = alpha > 0.99
    assert dark_out[body].mean() < 0.85 * bright_out[body].mean()
    flat = apply_mask(astronaut, astro68, template, shading=0.0)[0]
    # without shading the mask is its template colour, so it varies less across the face
    assert flat[body].std(axis=0).mean() < bright_out[body].std(axis=0).mean()


def test_face_cut_by_the_image_border(astronaut: np.ndarray, astro68: np.ndarray) -> None:
    cut = np.ascontiguousarray(astronaut[:, 215:])
    lm = astro68 - [215, 0]
    out, _, changed = apply_mask(cut, lm, _template("n95"))
    assert out.shape == cut.shape
    assert changed.any() and changed[:, 0].any()
    assert np.array_equal(changed, np.any(out != cut, axis=2))


def test_tiny_face_far_outside_is_a_no_op(astronaut: np.ndarray, astro68: np.ndarray) -> None:
    lm = astro68 + np.array([2000, 2000])
    out, alpha, changed = apply_mask(astronaut, lm, _template("cloth"))
    assert np.array_equal(out, astronaut) and not changed.any() and alpha.max() == 0


@pytest.mark.parametrize(
    ("image", "landmarks", "argument"),
    [
        (np.zeros((64, 64), np.uint8), np.zeros((68, 2)), "image_rgb"),
        (np.zeros((64, 64, 4), np.uint8), np.zeros((68, 2)), "image_rgb"),
        (np.zeros((64, 64, 3), np.float32), np.zeros((68, 2)), "image_rgb"),
        (np.zeros((64, 64, 3), np.uint8), np.zeros((5, 2)), "landmarks68"),
        (np.zeros((64, 64, 3), np.uint8), np.full((68, 2), np.nan), "landmarks68"),
    ],
)
def test_bad_inputs_raise(image: np.ndarray, landmarks: np.ndarray, argument: str) -> None:
    with pytest.raises(OperationError) as info:
        apply_mask(image, landmarks, _template("surgical"))
    assert info.value.argument == argument


# ---- yaw -----------------------------------------------------------------------------------


def _yawed(img: np.ndarray, deg: float, cx: float = 225.0, radius: float = 110.0) -> np.ndarray:
    """Texture the image on a vertical cylinder around the face and turn it by ``deg``."""
    h, w = img.shape[:2]
    xs = np.arange(w, dtype=np.float64) - cx
    phi = np.arcsin(np.clip(xs / radius, -1, 1)) - np.radians(deg)
    src = np.where((np.abs(xs) < radius) & (np.abs(phi) < np.pi / 2), cx + radius * np.sin(phi), -1.0)
    map_x = np.tile(src.astype(np.float32), (h, 1))
    map_y = np.tile(np.arange(h, dtype=np.float32)[:, None], (1, w))
    return cv2.remap(img, map_x, map_y, cv2.INTER_LINEAR, borderValue=0)


def test_yaw_sign_and_order_on_turned_faces(astronaut: np.ndarray) -> None:
    yaws = []
    for deg in (-30, 0, 30):
        shift = 110 * np.sin(np.radians(deg))
        box = (ASTRO_BOX[0] + shift, ASTRO_BOX[1], ASTRO_BOX[2] + shift, ASTRO_BOX[3])
        img = _yawed(astronaut, deg)
        yaws.append(estimate_yaw(predict_68(img, box)))
    assert yaws[0] < -3 < yaws[1] < 3 < yaws[2]


@pytest.mark.parametrize("shift", [-8.0, 8.0])
def test_yaw_follows_the_nose(astro68: np.ndarray, shift: float) -> None:
    lm = astro68.astype(np.float64).copy()
    lm[27:36] += [shift, 0]
    base = estimate_yaw(astro68)
    assert np.sign(estimate_yaw(lm) - base) == np.sign(shift)
    # the mirror image has the opposite yaw
    mirrored = lm.copy()
    mirrored[:, 0] = 1000 - mirrored[:, 0]
    order = list(range(16, -1, -1)) + list(range(26, 16, -1)) + [27, 28, 29, 30, 35, 34, 33, 32, 31]
    order += [45, 44, 43, 42, 47, 46, 39, 38, 37, 36, 41, 40]
    order += [54, 53, 52, 51, 50, 49, 48, 59, 58, 57, 56, 55, 64, 63, 62, 61, 60, 67, 66, 65]
    assert estimate_yaw(mirrored[order]) == pytest.approx(-estimate_yaw(lm), abs=1e-9)


@pytest.mark.parametrize("yaw", [-40.0, -15.0, 15.0, 40.0])
def test_far_side_is_pulled_in(yaw: float) -> None:
    near, far = mask_spread(yaw)[::-1] if yaw < 0 else mask_spread(yaw)
    assert far < 1.0 < near
    if abs(yaw) >= 30:
        assert far == 0.0


@pytest.mark.parametrize("yaw", [35.0, -35.0])
def test_mask_hugs_the_far_jaw(astronaut: np.ndarray, astro68: np.ndarray, yaw: float) -> None:
    template = render_template("surgical", color=(96, 150, 200), rng=np.random.default_rng(0), loops=False)
    _, _, frontal = apply_mask(astronaut, astro68, template, yaw_deg=0.0)
    _, _, turned = apply_mask(astronaut, astro68, template, yaw_deg=yaw)
    # the far side is image-right for positive yaw
    far_jaw, near_jaw = (slice(9, 16), slice(1, 8)) if yaw > 0 else (slice(1, 8), slice(9, 16))
    far_x = astro68[far_jaw, 0].max() if yaw > 0 else astro68[far_jaw, 0].min()
    near_x = astro68[near_jaw, 0].min() if yaw > 0 else astro68[near_jaw, 0].max()

    def beyond(mask: np.ndarray, x: float, right: bool) -> int:
        cols = np.arange(mask.shape[1])
        return int(mask[:, cols > x + 1].sum() if right else mask[:, cols < x - 1].sum())

    assert beyond(turned, far_x, yaw > 0) < 0.5 * beyond(frontal, far_x, yaw > 0)
    assert beyond(turned, near_x, yaw < 0) >= beyond(frontal, near_x, yaw < 0)


def test_a_soft_photo_gets_a_soft_mask(astronaut: np.ndarray, astro68: np.ndarray) -> None:
    from masksmith.facemask.fit import photo_blur

    face = astronaut[58:178, 180:270]
    sharp, soft = photo_blur(face), photo_blur(cv2.GaussianBlur(face, (0, 0), 2.0))
    assert 0.6 < sharp < 1.2 and 1.8 < soft < 2.8  # about √(0.9² + 2²) = 2.2
    blurred = cv2.GaussianBlur(astronaut, (0, 0), 2.5)
    template = _template("surgical")
    _, a_sharp, _ = apply_mask(astronaut, astro68, template)
    _, a_soft, _ = apply_mask(blurred, astro68, template)
    _, a_off, _ = apply_mask(blurred, astro68, template, match_blur=False)
    rim = lambda a: int(((a > 0.02) & (a < 0.98)).sum())  # noqa: E731
    assert rim(a_soft) > 1.8 * rim(a_sharp)
    assert rim(a_off) < 1.3 * rim(a_sharp)
