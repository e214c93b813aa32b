"""Draw anonymised regions onto the published image, and prepare its EXIF.

Modes (``DrawConfig.effective_mode``):

- ``blur``: masked pixels take the box-blurred colour (``cv2.blur``, kernel ``int(blur / 1000 × W)``).
- ``gray_blur``: masked pixels take the box-blurred luminance in all three channels.
- ``normalized_gray_blur``: masked pixels take ``box(gray, k) − box(gray, int(1.2 k)) + 100``, clipped to
  the valid range (the original wrapped round in uint8); a flat region becomes exactly grey 100.
- ``mask_color``: masked pixels take ``mask_color``, or per object its class colour (``label_colors``,
  else ``default_color``), later objects over earlier ones.

Unlike the original, a small image never goes unmasked: the kernel is at least :data:`MIN_KERNEL`.
Pixels outside the union of the masks are never touched. Blurs read a padded window around each masked
region, which gives the same values as blurring the whole image.
"""

from __future__ import annotations

import logging
from typing import Any

import cv2
import numpy as np
import numpy.typing as npt
from PIL import Image

from masksmith.anonymise.config import DrawConfig, DrawMode
from masksmith.anonymise.cutouts import MaskedObjects
from masksmith.anonymise.metadata import TAG_IMAGE_PROPERTIES, TAG_REFLINK_INFO, redact_xml
from masksmith.media import ops

__all__ = [
    "GRAY_LEVEL",
    "MIN_KERNEL",
    "blur_kernel",
    "draw_objects",
    "draw_region",
    "output_exif",
]

BoolArray = npt.NDArray[np.bool_]
Pixels = npt.NDArray[Any]

MIN_KERNEL = 3
#: Mid-grey the normalised gray blur is centred on (8-bit; scaled for 16-bit images).
GRAY_LEVEL = 100
_ORIENTATION = 0x0112
_EXIF_IFD = 0x8769
_GPS_IFD = 0x8825
_MAX_EXIF = 65533 - 6  # one APP1 segment, less the "Exif\0\0" header
_log = logging.getLogger(__name__)


def blur_kernel(width: int, blur: int) -> int:
    """Box kernel size for an image ``width`` pixels wide: ``int(blur / 1000 × width)``, at least 3."""
    return max(MIN_KERNEL, int(blur / 1000 * width))


Part = tuple[int, int, BoolArray]  # (top, left, local mask) of one masked region


def _components(mask: BoolArray) -> list[Part]:
    """The mask's connected regions as parts (bounding box and the mask inside it)."""
    count, _, stats, _ = cv2.connectedComponentsWithStats(mask.view(np.uint8), connectivity=8)
    parts = []
    for label in range(1, count):
        x, y, w, h = (int(v) for v in stats[label, :4])
        parts.append((y, x, mask[y : y + h, x : x + w]))
    return parts


def _draw_parts(
    image: Pixels,
    parts: list[Part],
    *,
    mode: DrawMode,
    blur: int | None,
    color: tuple[int, ...] | None,
    out: Pixels | None = None,
) -> Pixels:
    """``out`` (default: a copy of ``image``) with every part's masked pixels anonymised (:mod:`media.ops`).

    Each blur reads a window of ``image`` padded by more than half its kernel around the part, so a
    masked pixel gets the value a blur of the whole image would give it, whichever part writes it.
    """
    out = image.copy() if out is None else out
    if mode is DrawMode.MASK_COLOR:
        if color is None:
            raise ValueError("mask_color mode needs a colour")
        for top, left, where in parts:
            target = out[top : top + where.shape[0], left : left + where.shape[1]]
            target[...] = ops.fill_in_mask(target, where, color=color)
        return out
    strength = 15 if blur is None else blur
    k = blur_kernel(image.shape[1], strength)
    k2 = max(k + 1, int(1.2 * k))
    pad = k2 // 2 + 2
    level = GRAY_LEVEL * (257 if image.dtype == np.uint16 else 1)
    rows, cols = image.shape[:2]
    for top, left, where in parts:
        r0, c0 = max(0, top - pad), max(0, left - pad)
        r1, c1 = min(rows, top + where.shape[0] + pad), min(cols, left + where.shape[1] + pad)
        window = image[r0:r1, c0:c1]
        local = np.zeros(window.shape[:2], dtype=bool)
        local[top - r0 : top - r0 + where.shape[0], left - c0 : left - c0 + where.shape[1]] = where
        if mode is DrawMode.BLUR:
            drawn = ops.blur_in_mask(window, local, kernel=k, kind="box")
        elif mode is DrawMode.GRAY_BLUR:
            drawn = ops.gray_blur_in_mask(window, local, kernel=k)
        else:
            drawn = ops.band_gray_in_mask(window, local, kernel=k, wide_kernel=k2, level=level)
        out[r0:r1, c0:c1][local] = drawn[local]
    return out


def draw_region(
    image: Pixels, mask: BoolArray, *, mode: DrawMode, blur: int | None, color: tuple[int, ...] | None = None
) -> Pixels:
    """A copy of ``image`` with ``mask`` anonymised by ``mode`` (``blur`` strength or ``color``)."""
    if mask.shape != image.shape[:2]:
        raise ValueError(f"mask shape {mask.shape} does not match image {image.shape[:2]}")
    if mode is DrawMode.MASK_COLOR and color is None:
        raise ValueError("mask_color mode needs a colour")
    if not mask.any():
        return image.copy()
    return _draw_parts(image, _components(mask), mode=mode, blur=blur, color=color)


def draw_objects(image: Pixels, objects: MaskedObjects, *, config: DrawConfig) -> tuple[Pixels, BoolArray]:
    """The anonymised image and the exact mask of pixels it may have changed (True = anonymised).

    With ``draw_mask`` off the image is returned unchanged and the mask is empty. Each object is drawn
    from its own mask, so no full-image pass over the union is needed.
    """
    if image.shape[:2] != objects.image_size:
        raise ValueError(f"objects are for {objects.image_size}, image is {image.shape[:2]}")
    if not config.draw_mask or len(objects) == 0:
        return image.copy(), np.zeros(image.shape[:2], dtype=bool)
    union = objects.union_mask()
    mode = config.effective_mode
    if mode is not DrawMode.MASK_COLOR or config.mask_color is not None:
        parts = [part for obj in objects.objects for part in objects.parts(obj)]
        blur = config.blur if mode is not DrawMode.MASK_COLOR else None
        return _draw_parts(image, parts, mode=mode, blur=blur, color=config.mask_color), union
    out = image.copy()
    for obj in objects.objects:  # later objects over earlier ones
        color = config.label_colors.get(obj.class_name, config.default_color)
        _draw_parts(image, list(objects.parts(obj)), mode=mode, blur=None, color=color, out=out)
    return out, union


def _redacted(value: Any) -> Any:
    if not isinstance(value, bytes | str):
        return value
    text = value.decode("utf-8", errors="surrogateescape") if isinstance(value, bytes) else value
    clean = redact_xml(text)
    if clean == text:
        return value
    return clean.encode("utf-8", errors="surrogateescape") if isinstance(value, bytes) else clean


def output_exif(exif: bytes | None, *, reset_orientation: bool, source: str = "<exif>") -> bytes | None:
    """The input's EXIF for the published image: no thumbnail (IFD1), personal XML fields removed.

    The embedded thumbnail would show the picture before anonymisation, so it is dropped (Pillow writes
    IFD0, the Exif and GPS directories, not IFD1). ``reset_orientation`` sets the orientation tag to 1
    when the pixels were already turned upright. A corrupt or oversized block gives None (logged).
    """
    if not exif:
        return None
    try:
        parsed = Image.Exif()
        parsed.load(exif)
        for tag in (TAG_IMAGE_PROPERTIES, TAG_REFLINK_INFO):
            if tag in parsed:
                parsed[tag] = _redacted(parsed[tag])
        if reset_orientation and _ORIENTATION in parsed:
            parsed[_ORIENTATION] = 1
        for ifd in (_EXIF_IFD, _GPS_IFD):
            parsed.get_ifd(ifd)  # loaded so it is written back
        data = parsed.tobytes()
    except Exception as err:  # a broken EXIF block must not stop anonymisation
        _log.warning("%s: EXIF block cannot be rewritten (%s); the output has no EXIF", source, err)
        return None
    if len(data) > _MAX_EXIF:
        _log.warning("%s: EXIF block of %d bytes does not fit a JPEG segment; dropped", source, len(data))
        return None
    return data
