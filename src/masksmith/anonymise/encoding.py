"""How an anonymised image is encoded, and the 8-bit RGB view the detectors see.

JPEG in → JPEG out with ``jpeg_mode: lossless_outside`` (the default) re-encodes only the MCUs a hidden
region touches, with the input's quantisation tables and sampling (:mod:`masksmith.media.jpeg_splice`);
every other block keeps its coefficients. ``reencode``, other inputs and JPEGs libjpeg cannot splice
(CMYK) are encoded whole at ``jpeg_quality``. PNG keeps 16-bit samples and alpha.
"""

from __future__ import annotations

import io
import logging
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from masksmith.anonymise.config import AnonymiseConfig, JpegMode
from masksmith.anonymise.draw import output_exif
from masksmith.errors import MediaError, UnsupportedMediaError
from masksmith.media import jpeg_splice
from masksmith.media.io import ImageInfo, encode_image

__all__ = [
    "EncodedImage",
    "detection_view",
    "encode_output",
    "preview_pixels",
    "refuse_animated",
    "wants_lossless",
]

_log = logging.getLogger("masksmith.anonymise")
Pixels = npt.NDArray[Any]


@dataclass(frozen=True)
class EncodedImage:
    """The published image's bytes and how it was made (``lossless_outside`` or ``reencode``)."""

    data: bytes
    mode: str


def detection_view(pixels: Pixels) -> Pixels:
    """The image as 8-bit RGB for the detectors (the same array when it already is)."""
    view = pixels if pixels.ndim == 3 else np.repeat(pixels[:, :, None], 3, axis=2)
    if view.shape[2] == 4:
        view = view[:, :, :3]
    if view.dtype == np.uint16:
        view = (view >> 8).astype(np.uint8)
    if not view.flags.c_contiguous:
        view = np.ascontiguousarray(view)
    return view


def refuse_animated(data: bytes, *, source: str) -> None:
    """Raise UnsupportedMediaError for an animated image (APNG): one frame would be anonymised silently."""
    if not data.startswith(b"\x89PNG"):
        return  # JPEG has no animation (an MPO's extra pictures are dropped on writing)
    from PIL import Image

    try:
        with Image.open(io.BytesIO(data)) as im:
            frames = int(getattr(im, "n_frames", 1))
    except Exception:
        return  # the decoder says what is wrong
    if frames > 1:
        raise UnsupportedMediaError(
            source, f"animated image with {frames} frames; only still images are anonymised"
        )


def preview_pixels(pixels: Pixels) -> Pixels:
    """A crop made fit for a JPEG preview: 8-bit RGB, alpha dropped."""
    return detection_view(pixels)


def wants_lossless(config: AnonymiseConfig, info: ImageInfo, output_format: str) -> bool:
    """True when this image is written with only its touched MCUs re-encoded."""
    return (
        config.outputs.jpeg_mode is JpegMode.LOSSLESS_OUTSIDE
        and info.format == "JPEG"
        and output_format == "JPEG"
        and jpeg_splice.is_available()
    )


def encode_output(
    pixels: Pixels,
    changed: npt.NDArray[np.bool_],
    *,
    info: ImageInfo,
    original: bytes | None,
    output_format: str,
    config: AnonymiseConfig,
    name: str,
) -> EncodedImage:
    """Encode the anonymised ``pixels`` for ``name``; ``original`` is the input file's bytes (lossless mode)."""
    if original is not None and wants_lossless(config, info, output_format):
        exif = output_exif(info.exif, reset_orientation=False, source=info.path)
        orientation = info.orientation if info.orientation_applied else 1
        try:
            spliced = jpeg_splice.splice_jpeg(
                original, pixels, changed, exif=exif, orientation=orientation, source=info.path
            )
        except MediaError as exc:  # CMYK, or data libjpeg refuses although the decoder coped
            _log.warning("%s: written whole at jpeg_quality (%s)", info.path, exc.one_line())
        else:
            return EncodedImage(spliced.data, "lossless_outside")
    exif = output_exif(info.exif, reset_orientation=info.orientation_applied, source=info.path)
    if output_format == "JPEG":  # 8-bit RGB; PNG keeps 16-bit samples and alpha
        pixels = detection_view(pixels)
    data = encode_image(
        pixels,
        format=output_format,
        quality=config.outputs.jpeg_quality,
        exif=exif,
        name=name,
    )
    return EncodedImage(data, "reencode")
