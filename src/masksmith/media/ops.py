"""Pixel operations inside a mask: blur, gray blur, fill, pixelate, gray-normalise, alpha compositing.

Every function returns a new image and leaves pixels outside the mask bit-identical. Blurs read a window
padded around the mask, which gives the masked pixels the values a blur of the whole image would give.
"""

from __future__ import annotations

from typing import Any

import cv2
import numpy as np
from numpy.typing import NDArray

from masksmith.media.masks import BoolMask, bbox

Image = NDArray[Any]


def _odd(value: int) -> int:
    value = max(1, int(value))
    return value if value % 2 else value + 1


def _apply_in_mask(image: Image, mask: BoolMask, effect: Image) -> Image:
    if mask.shape != image.shape[:2]:
        raise ValueError(f"mask shape {mask.shape} does not match image {image.shape[:2]}")
    out = image.copy()
    out[mask] = effect[mask]
    return out


def _roi(mask: BoolMask, pad: int) -> tuple[slice, slice] | None:
    box = bbox(mask)
    if box is None:
        return None
    rows, cols = mask.shape
    return (
        slice(max(0, box.top - pad), min(rows, box.bottom + pad)),
        slice(max(0, box.left - pad), min(cols, box.right + pad)),
    )


def blur_in_mask(image: Image, mask: BoolMask, *, kernel: int, kind: str = "gaussian") -> Image:
    """Blur only inside ``mask``; the blur reads a padded window around it, not the whole image.

    ``gaussian`` and ``median`` round ``kernel`` up to an odd size; ``box`` uses it as given (at least 1).
    """
    k = max(1, int(kernel)) if kind == "box" else _odd(kernel)
    roi = _roi(mask, k)
    if roi is None:
        return image.copy()
    window = image[roi]
    if kind == "gaussian":
        blurred = cv2.GaussianBlur(window, (k, k), 0)
    elif kind == "box":
        blurred = cv2.blur(window, (k, k))
    elif kind == "median":
        blurred = cv2.medianBlur(window, min(k, 255) if window.dtype == np.uint8 else min(k, 5))
    else:
        raise ValueError(f"unknown blur kind {kind!r}; expected gaussian, box or median")
    out = image.copy()
    out[roi] = _apply_in_mask(window, mask[roi], blurred)
    return out


def _luminance(image: Image) -> Image:
    if image.ndim == 2:
        return image
    return cv2.cvtColor(np.ascontiguousarray(image[:, :, :3]), cv2.COLOR_RGB2GRAY)


def _with_gray(image: Image, gray: Image) -> Image:
    """``image`` with ``gray`` in every colour channel (alpha kept)."""
    if image.ndim == 2:
        return gray
    effect = image.copy()
    for c in range(min(3, image.shape[2])):
        effect[:, :, c] = gray
    return effect


def gray_blur_in_mask(image: Image, mask: BoolMask, *, kernel: int) -> Image:
    """Masked pixels take the box-blurred luminance (``kernel`` as given) in every colour channel."""
    k = max(1, int(kernel))
    roi = _roi(mask, k)
    if roi is None:
        return image.copy()
    window = image[roi]
    out = image.copy()
    out[roi] = _apply_in_mask(window, mask[roi], _with_gray(window, cv2.blur(_luminance(window), (k, k))))
    return out


def band_gray_in_mask(
    image: Image, mask: BoolMask, *, kernel: int, wide_kernel: int | None = None, level: int = 100
) -> Image:
    """Masked pixels take ``box(gray, kernel) − box(gray, wide_kernel) + level`` in every colour channel.

    A band-pass of the luminance centred on ``level`` (clipped to the dtype's range): a flat region
    becomes exactly ``level``. ``wide_kernel`` defaults to ``max(kernel + 1, int(1.2 × kernel))``.
    """
    k = max(1, int(kernel))
    k2 = max(k + 1, int(1.2 * k)) if wide_kernel is None else max(1, int(wide_kernel))
    roi = _roi(mask, max(k, k2))
    if roi is None:
        return image.copy()
    window = image[roi]
    gray = _luminance(window)
    band = cv2.blur(gray, (k, k)).astype(np.int32) - cv2.blur(gray, (k2, k2)).astype(np.int32)
    top = 65535 if image.dtype == np.uint16 else 255
    values = np.clip(band + level, 0, top).astype(image.dtype)
    out = image.copy()
    out[roi] = _apply_in_mask(window, mask[roi], _with_gray(window, values))
    return out


def fill_in_mask(image: Image, mask: BoolMask, *, color: tuple[int, ...] | int) -> Image:
    """Paint ``color`` inside ``mask``.

    One value paints every channel; several paint the first channels (an RGB colour on an RGBA image
    keeps the alpha; extra values are ignored); a gray image takes the first value.
    """
    if mask.shape != image.shape[:2]:
        raise ValueError(f"mask shape {mask.shape} does not match image {image.shape[:2]}")
    out = image.copy()
    values = np.asarray(color, dtype=image.dtype).reshape(-1)
    if image.ndim == 2:
        out[mask] = values[0]
    elif values.size == 1:
        out[mask] = np.broadcast_to(values, (image.shape[2],))
    else:
        n = min(values.size, image.shape[2])
        out[:, :, :n][mask] = values[:n]
    return out


def pixelate_in_mask(image: Image, mask: BoolMask, *, block: int) -> Image:
    roi = _roi(mask, 0)
    if roi is None:
        return image.copy()
    window = image[roi]
    h, w = window.shape[:2]
    small = cv2.resize(window, (max(1, w // block), max(1, h // block)), interpolation=cv2.INTER_AREA)
    coarse = cv2.resize(small, (w, h), interpolation=cv2.INTER_NEAREST)
    out = image.copy()
    out[roi] = _apply_in_mask(window, mask[roi], coarse)
    return out


def gray_in_mask(image: Image, mask: BoolMask, *, normalize: bool = False) -> Image:
    """Replace masked pixels by their gray value; ``normalize`` stretches it to the full range (clipped)."""
    gray = _luminance(image)
    if normalize and mask.any():
        values = gray[mask].astype(np.float32)
        lo, hi = float(values.min()), float(values.max())
        top = 65535.0 if image.dtype == np.uint16 else 255.0
        scale = top / (hi - lo) if hi > lo else 1.0
        gray = np.clip((gray.astype(np.float32) - lo) * scale, 0, top).astype(image.dtype)
    if image.ndim == 2:
        return _apply_in_mask(image, mask, gray)
    effect = image.copy()
    for c in range(3):
        effect[:, :, c] = gray
    return _apply_in_mask(image, mask, effect)


def composite(
    base: Image, overlay: Image, alpha: NDArray[np.floating], *, at: tuple[int, int] = (0, 0)
) -> Image:
    """Alpha-blend ``overlay`` (float ``alpha`` in [0, 1]) onto ``base``, its top-left at ``at`` (row, col).

    Parts of the overlay outside the base are clipped.
    """
    out = base.copy()
    row, col = at
    h, w = overlay.shape[:2]
    r0, c0 = max(0, row), max(0, col)
    r1, c1 = min(base.shape[0], row + h), min(base.shape[1], col + w)
    if r0 >= r1 or c0 >= c1:
        return out
    ov = overlay[r0 - row : r1 - row, c0 - col : c1 - col]
    a = alpha[r0 - row : r1 - row, c0 - col : c1 - col].astype(np.float32)
    dst = out[r0:r1, c0:c1]
    if dst.ndim == 3:
        a = a[:, :, None]
        ov = ov[:, :, : dst.shape[2]]
    blended = dst.astype(np.float32) * (1.0 - a) + ov.astype(np.float32) * a
    out[r0:r1, c0:c1] = np.clip(np.rint(blended), 0, 65535 if base.dtype == np.uint16 else 255).astype(
        base.dtype
    )
    return out
