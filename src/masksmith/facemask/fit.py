"""Fit a mask template onto a face from its 68 landmarks and composite it.

The warp is a thin-plate spline through the template's anchors and the face's (evaluated on a coarse
grid, interpolated, then one ``cv2.remap``). Shading follows the face's blurred luminance; a soft
shadow falls under the lower edges; grain follows the photo's; the head's yaw pulls the far side of
the mask onto the silhouette. :func:`coverage_problem` says whether a drawn mask covers what it must.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np
from numpy.typing import NDArray

from masksmith.errors import OperationError
from masksmith.facemask.templates import Template, face_anchors

__all__ = [
    "MaskFit",
    "apply_mask",
    "coverage_problem",
    "draw_fit",
    "estimate_yaw",
    "mask_spread",
    "warp_template",
]

ALPHA_FLOOR = (
    1.0 / 64
)  # warped alpha below this is dropped: invisible, and it would scatter stray changed pixels

_LEFT_JAW = (1, 2, 3, 4)
_RIGHT_JAW = (15, 14, 13, 12)


@dataclass(frozen=True)
class MaskFit:
    """How a mask sits: ``drop`` moves its top edge down the nose (fraction of the nose's length,
    negative = up), ``loose`` scales how far it stands off the jaw."""

    drop: float = 0.0
    loose: float = 1.0
    below_nose: bool = False

    def as_text(self) -> str:
        return f"drop {self.drop:+.2f} loose {self.loose:.2f}" + (" below nose" if self.below_nose else "")


def draw_fit(rng: np.random.Generator, *, below_nose: float = 0.0) -> MaskFit:
    """A seeded fit: top edge from a little higher to a quarter of the nose lower, snug to loose, and
    worn under the nose with probability ``below_nose``."""
    drop, loose = float(rng.uniform(-0.06, 0.25)), float(rng.uniform(0.7, 1.5))
    under = bool(below_nose > 0 and rng.random() < below_nose)
    return MaskFit(drop=drop, loose=loose, below_nose=under)


def _check_landmarks(landmarks68: NDArray[Any]) -> NDArray[np.float64]:
    lm = np.asarray(landmarks68, dtype=np.float64)
    if lm.shape != (68, 2) or not np.all(np.isfinite(lm)):
        raise OperationError(
            f"expected finite (68, 2) landmarks, got shape {lm.shape}", argument="landmarks68"
        )
    return lm


def estimate_yaw(landmarks68: NDArray[Any]) -> float:
    """Rough head yaw in degrees from landmark asymmetry.

    Positive when the nose has moved towards image-right (the image-right half of the face is
    foreshortened). Uses a cylinder model: the jaw silhouette stays put while the nose tip moves
    by ≈ r·sin(yaw), measured along the eye line so in-plane roll does not count.
    """
    lm = _check_landmarks(landmarks68)
    eye_axis = lm[42:48].mean(axis=0) - lm[36:42].mean(axis=0)
    u = eye_axis / max(float(np.linalg.norm(eye_axis)), 1e-9)
    nose = (lm[30] + lm[33]) / 2
    d_left = float(np.mean([(nose - lm[i]) @ u for i in _LEFT_JAW]))
    d_right = float(np.mean([(lm[i] - nose) @ u for i in _RIGHT_JAW]))
    total = d_left + d_right
    if total <= 1e-6:
        return 0.0
    ratio = np.clip((d_left - d_right) / total, -1.0, 1.0)
    return float(np.degrees(np.arcsin(ratio)))


def mask_spread(yaw_deg: float) -> tuple[float, float]:
    """How far the mask reaches past the jaw on the (image-left, image-right) side for a yaw.

    The visible side keeps (and slightly widens) its margin; the far side shrinks to hug the
    silhouette by about 25° of yaw, so the mask never sticks out behind a turned cheek.
    """
    s = abs(float(np.sin(np.radians(yaw_deg))))
    near, far = 1.0 + 0.5 * s, max(0.0, 1.0 - 2.4 * s)
    return (near, far) if yaw_deg >= 0 else (far, near)


def warp_template(
    template: Template, dst_anchors: NDArray[Any], roi: tuple[int, int, int, int]
) -> NDArray[np.float32]:
    """Warp the template into ``roi`` = (x0, y0, x1, y1) of the image: (h, w, 4) float32.

    Channels 0–2 are premultiplied colour (0..255), channel 3 alpha (0..1); a thin-plate spline
    through the anchors maps the ROI onto the template, whose outside is transparent.
    """
    x0, y0, x1, y1 = roi
    w, h = x1 - x0, y1 - y0
    src = template.anchors.astype(np.float64)
    dst = np.asarray(dst_anchors, dtype=np.float64) - [x0, y0]
    premul = template.premultiplied

    # Shrink the template close to the face's scale first: bilinear remap aliases when it minifies.
    names = template.names
    i_l, i_r = names.index("jaw_01"), names.index("jaw_15")
    scale = float(np.linalg.norm(dst[i_l] - dst[i_r])) / max(float(np.linalg.norm(src[i_l] - src[i_r])), 1e-6)
    if scale < 0.8:
        th, tw = premul.shape[:2]
        nw, nh = max(2, round(tw * scale)), max(2, round(th * scale))
        premul = np.asarray(cv2.resize(premul, (nw, nh), interpolation=cv2.INTER_AREA), dtype=np.float32)
        src = (src + 0.5) * [nw / tw, nh / th] - 0.5

    map_x, map_y = _tps_maps(dst, src, w, h)
    warped = cv2.remap(premul, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=0)
    return np.asarray(warped, dtype=np.float32)


TPS_STEP = 4  # the spline is evaluated at least every this many pixels and interpolated in between


def _tps_maps(
    dst: NDArray[np.float64], src: NDArray[np.float64], w: int, h: int
) -> tuple[NDArray[np.float32], NDArray[np.float32]]:
    """Thin-plate-spline maps (for ``cv2.remap``) taking every ROI pixel to template coordinates.

    The spline passes through the anchor pairs and bends as little as it can in between, so a print
    or a pleat runs smoothly over the face instead of kinking at triangle edges.
    """
    scale = max(float(np.ptp(dst[:, 0])), float(np.ptp(dst[:, 1])), 1.0)
    origin = dst.mean(axis=0)
    d = (dst - origin) / scale
    n = len(d)

    def kernel(a: NDArray[np.float64], b: NDArray[np.float64]) -> NDArray[np.float64]:
        r2 = np.maximum((a * a).sum(axis=1)[:, None] + (b * b).sum(axis=1)[None, :] - 2.0 * a @ b.T, 0.0)
        return np.asarray(r2 * np.log(r2 + 1e-12), dtype=np.float64)

    system = np.zeros((n + 3, n + 3))
    system[:n, :n] = kernel(d, d) + 1e-6 * np.eye(n)
    system[:n, n] = 1.0
    system[:n, n + 1 :] = d
    system[n, :n] = 1.0
    system[n + 1 :, :n] = d.T
    rhs = np.zeros((n + 3, 2))
    rhs[:n] = src
    coef = np.linalg.lstsq(system, rhs, rcond=None)[0]
    step = max(TPS_STEP, round(max(w, h) / 64))  # about 64 nodes across whatever the face's size
    gw, gh = w // step + 2, h // step + 2
    gx, gy = np.meshgrid(np.arange(gw) * step, np.arange(gh) * step)
    grid = (np.stack([gx.ravel(), gy.ravel()], axis=1) - origin) / scale
    vals = kernel(grid, d) @ coef[:n] + coef[n] + grid @ coef[n + 1 :]
    coarse = vals.reshape(gh, gw, 2).astype(np.float32)
    # grid node k sits on pixel k·STEP: separable linear interpolation between nodes
    fx, fy = np.arange(w) / step, np.arange(h) / step
    ix, iy = fx.astype(np.int64), fy.astype(np.int64)
    tx, ty = (fx - ix).astype(np.float32)[None, :, None], (fy - iy).astype(np.float32)[:, None, None]
    rows = coarse[:, ix] * (1 - tx) + coarse[:, ix + 1] * tx
    full = rows[iy] * (1 - ty) + rows[iy + 1] * ty
    return np.ascontiguousarray(full[..., 0]), np.ascontiguousarray(full[..., 1])


def _shading(
    face_roi: NDArray[np.uint8], alpha: NDArray[np.float32], face_width: float, strength: float
) -> NDArray[np.float32]:
    """Multiplier for the mask colour: overall brightness of the face times its local light falloff."""
    gray = cv2.cvtColor(face_roi, cv2.COLOR_RGB2GRAY).astype(np.float32)
    blurred = cv2.GaussianBlur(gray, (0, 0), max(1.0, 0.1 * face_width))
    weight = float(alpha.sum())
    mean = float((blurred * alpha).sum() / weight) if weight > 0 else float(blurred.mean())
    mean = max(mean, 1.0)
    overall = float(np.clip((mean / 170.0) ** strength, 0.55, 1.08))
    local = np.clip(1.0 + strength * (blurred / mean - 1.0), 0.7, 1.25)
    return np.asarray(overall * local, dtype=np.float32)


SHARP_SIGMA = 0.9  # what the estimate below reads on a sharp photo (and on the drawn mask itself)


def photo_blur(face_roi: NDArray[np.uint8]) -> float:
    """The photo's blur near the face as a Gaussian sigma in pixels (see :func:`photo_stats`)."""
    return photo_stats(face_roi)[0]


def photo_stats(face_roi: NDArray[np.uint8]) -> tuple[float, float]:
    """(blur sigma, grain) of the photo near a face, from one gray copy and one 1 px blur of it.

    Blur: blurring an edge of width σ by 1 px more lowers its steepest gradient by σ/√(σ²+1), so the
    ratio of the 99th-percentile gradient before and after gives σ back (a sharp photo reads about
    0.9 px; one blurred by 2 px more about 2.2 px). Grain: the robust spread (1.4826 × median absolute
    deviation) of the fine detail the 1 px blur removes, on every other pixel.
    """
    gray = cv2.cvtColor(face_roi, cv2.COLOR_RGB2GRAY).astype(np.float32)
    soft = cv2.GaussianBlur(gray, (0, 0), 1.0)

    def steepest(x: NDArray[Any]) -> float:
        gx = cv2.Sobel(x, cv2.CV_32F, 1, 0, ksize=3)
        gy = cv2.Sobel(x, cv2.CV_32F, 0, 1, ksize=3)
        g2 = (gx * gx + gy * gy).ravel()
        k = int(0.99 * (g2.size - 1))
        return float(np.sqrt(np.partition(g2, k)[k]))

    ratio = min(steepest(soft) / max(steepest(gray), 1e-6), 0.99)
    detail = (gray - soft)[::2, ::2]
    grain = float(1.4826 * np.median(np.abs(detail - np.median(detail))))
    return ratio / float(np.sqrt(1.0 - ratio * ratio)), grain


def _fill_pinholes(region: NDArray[np.bool_], *, max_area: int) -> NDArray[np.bool_]:
    """``region`` with its enclosed gaps of at most ``max_area`` pixels filled (say, where a loop leaves
    the mask's edge at a sharp angle and pinches off a pixel of skin)."""
    outside = np.pad(~region, 1).astype(np.uint8)
    n, labels, stats, _ = cv2.connectedComponentsWithStats(outside, connectivity=4)
    border = labels[0, 0]
    small = [i for i in range(1, n) if i != border and stats[i, cv2.CC_STAT_AREA] <= max_area]
    if not small:
        return region
    return np.asarray(region | np.isin(labels[1:-1, 1:-1], small), dtype=bool)


def coverage_problem(
    alpha: NDArray[Any],
    landmarks68: NDArray[Any],
    *,
    threshold: float = 0.5,
    changed: NDArray[np.bool_] | None = None,
    nose: bool = True,
) -> str | None:
    """What is wrong with a drawn mask, or None: the nose tip and both mouth corners must be covered
    (alpha ≥ ``threshold``) and every eye point left clear (alpha < 0.02 within 3 % of the face's
    width of it; with ``changed``, no changed pixel there either). ``nose`` False (a mask worn under
    the nose) instead wants the nose tip left clear."""
    lm = _check_landmarks(landmarks68)
    h, w = alpha.shape[:2]
    r = max(1, round(0.03 * float(np.linalg.norm(lm[16] - lm[0]))))

    def at(i: int) -> float:
        x, y = lm[i]
        xi, yi = round(float(x)), round(float(y))
        if not (0 <= xi < w and 0 <= yi < h):
            return float("nan")
        return float(alpha[yi, xi])

    points = (("nose tip", 30),) if nose else ()
    for name, i in (*points, ("image-left mouth corner", 48), ("image-right mouth corner", 54)):
        v = at(i)
        if v == v and v < threshold:  # NaN (outside the image) is not drawn and not wrong
            return f"{name} not covered (alpha {v:.2f})"
    if not nose and at(30) >= 0.02:
        return f"nose tip covered by a mask worn under the nose (alpha {at(30):.2f})"
    for i in range(36, 48):
        x, y = (round(float(v)) for v in lm[i])
        patch = alpha[max(0, y - r) : max(0, y + r + 1), max(0, x - r) : max(0, x + r + 1)]
        if patch.size and float(patch.max()) >= 0.02:
            return f"eye point {i} covered (alpha {float(patch.max()):.2f} within {r} px)"
        if changed is not None:
            near = changed[max(0, y - r) : max(0, y + r + 1), max(0, x - r) : max(0, x + r + 1)]
            if near.any():
                return f"eye point {i} touched (a pixel within {r} px changed)"
    return None


def apply_mask(
    image_rgb: NDArray[Any],
    landmarks68: NDArray[Any],
    template: Template,
    *,
    shading: float = 0.5,
    yaw_deg: float | None = None,
    fit: MaskFit | None = None,
    shadow: float = 0.28,
    rng: np.random.Generator | None = None,
    match_blur: bool = True,
) -> tuple[NDArray[np.uint8], NDArray[np.float32], NDArray[np.bool_]]:
    """Draw ``template`` onto the face with these landmarks.

    Returns (new image, alpha H×W float32 in 0..1, changed H×W bool). ``changed`` is exactly the
    pixels whose values differ from the input: the mask and the soft shadow it casts on the skin
    under its lower edge (``shadow`` = its darkest fraction, 0 for none). ``shading`` (0..1) sets how
    strongly the face's light modulates the mask; ``yaw_deg`` overrides :func:`estimate_yaw`; ``fit``
    moves and loosens the mask; ``rng`` adds grain matched to the photo's own (none without it);
    ``match_blur`` softens the mask as much as the photo is soft (:func:`photo_blur`).
    The input is not mutated.
    """
    image = np.asarray(image_rgb)
    if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
        raise OperationError(
            f"apply_mask needs an RGB uint8 H×W×3 image, got {image.dtype} {image.shape}",
            argument="image_rgb",
        )
    if not 0.0 <= shading <= 1.0:
        raise OperationError(f"shading must be in 0..1, got {shading}", argument="shading")
    lm = _check_landmarks(landmarks68)
    fit = fit or MaskFit()
    yaw = estimate_yaw(lm) if yaw_deg is None else float(yaw_deg)
    names, dst = face_anchors(lm, spread=mask_spread(yaw), drop=fit.drop, loose=fit.loose)
    order = [names.index(n) for n in template.names]
    dst = dst[order]

    h, w = image.shape[:2]
    face_width = float(np.linalg.norm(lm[16] - lm[0]))
    down = lm[8] - lm[27]
    down = down / max(float(np.linalg.norm(down)), 1e-9)
    reach = 0.06 * face_width if shadow > 0 else 0.0  # room for the shadow below the edge
    x0 = int(np.clip(np.floor(dst[:, 0].min() - reach), 0, w))
    y0 = int(np.clip(np.floor(dst[:, 1].min() - reach), 0, h))
    x1 = int(np.clip(np.ceil(dst[:, 0].max() + reach) + 1, 0, w))
    y1 = int(np.clip(np.ceil(dst[:, 1].max() + reach) + 1, 0, h))
    out = image.copy()
    alpha_full = np.zeros((h, w), np.float32)
    changed = np.zeros((h, w), bool)
    if x1 - x0 < 2 or y1 - y0 < 2:
        return out, alpha_full, changed

    warped = warp_template(template, dst, (x0, y0, x1, y1))
    roi = image[y0:y1, x0:x1]
    blur, grain = photo_stats(roi) if min(roi.shape[:2]) >= 16 else (SHARP_SIGMA, 0.0)
    if match_blur:
        # a soft photo gets a soft mask: add the blur the photo has beyond a sharp one
        extra = float(np.sqrt(max(0.0, blur**2 - SHARP_SIGMA**2)))
        if extra > 0.35:
            warped = np.asarray(cv2.GaussianBlur(warped, (0, 0), min(extra, 6.0)), np.float32)
    alpha = np.clip(warped[..., 3], 0.0, 1.0)
    colour = warped[..., :3]
    faint = alpha < ALPHA_FLOOR
    alpha = np.where(faint, 0.0, alpha).astype(np.float32)
    colour = np.where(faint[..., None], 0.0, colour)
    gain = _shading(roi, alpha, face_width, shading)
    colour = colour * gain[..., None]
    if rng is not None:
        # fine detail of skin is not all noise: take part of it, and never more than a visible film grain
        sigma = min(0.6 * grain, 6.0)
        if sigma > 0.3:
            noise = rng.normal(0.0, sigma, size=alpha.shape).astype(np.float32)
            colour = colour + noise[..., None] * alpha[..., None]
    skin = roi.astype(np.float32)
    if shadow > 0:
        # soft shadow: the mask's silhouette blurred and pushed down the face, on skin only
        soft = cv2.GaussianBlur(alpha, (0, 0), max(0.6, 0.012 * face_width))
        shift = np.array(
            [[1, 0, down[0] * 0.018 * face_width], [0, 1, down[1] * 0.018 * face_width]], np.float32
        )
        cast = np.asarray(
            cv2.warpAffine(soft, shift, (alpha.shape[1], alpha.shape[0]), flags=cv2.INTER_LINEAR), np.float32
        )
        # only where the pushed-down silhouette exceeds the soft one in place: under lower edges, not above
        dark = (np.clip(2.5 * (cast - soft), 0.0, 1.0) * (1.0 - alpha) * shadow).astype(np.float32)
        dark = np.where(dark < 2.0 / 255.0, np.float32(0.0), dark)  # a faint tail would scatter single pixels
        skin = np.asarray(skin * (1.0 - dark[..., None]), np.float32)
    else:
        dark = np.zeros_like(alpha)
    blended = skin * (1.0 - alpha[..., None]) + colour
    new_roi = np.clip(np.rint(blended), 0, 255).astype(np.uint8)
    # Every drawn pixel must differ from the photo, or the change mask (the journal's, the label PNGs)
    # gets pinholes wherever the mask's colour happens to round to the photo's: nudge those by one level.
    drawn = _fill_pinholes((alpha > 0) | (dark > 0), max_area=max(4, int(0.002 * face_width**2)))
    same = drawn & np.all(new_roi == roi, axis=2)
    if same.any():  # channels alike stay alike, so gray stays gray
        px = new_roi[same].astype(np.int16)
        step = np.where(px >= 1, -1, 0)  # darker, as a shadow would; black pixels go up by one
        step[~(px >= 1).any(axis=1)] = 1
        new_roi[same] = np.clip(px + step, 0, 255).astype(np.uint8)
    out[y0:y1, x0:x1] = new_roi
    alpha_full[y0:y1, x0:x1] = alpha
    changed[y0:y1, x0:x1] = drawn
    return out, alpha_full, changed
