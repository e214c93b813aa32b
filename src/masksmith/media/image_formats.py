"""Image file formats shared by reading (:mod:`masksmith.media.io`) and writing (:mod:`.image_write`)."""

from __future__ import annotations

import os
from typing import Any, Final

import numpy.typing as npt

__all__ = ["EXIF_HEADER", "SUPPORTED_FORMATS", "PathLike", "Pixels", "normalise_exif"]

PathLike = str | os.PathLike[str]
Pixels = npt.NDArray[Any]  # uint8 or uint16, H×W, H×W×3 (RGB) or H×W×4 (RGBA)

SUPPORTED_FORMATS: Final = ("JPEG", "PNG", "TIFF", "BMP", "WEBP")
EXIF_HEADER: Final = b"Exif\x00\x00"


def normalise_exif(raw: bytes | None) -> bytes | None:
    """An EXIF block as stored in JPEG (``Exif\\0\\0`` + TIFF data); bare TIFF data gets the header."""
    if not raw:
        return None
    if raw.startswith((b"II*\x00", b"MM\x00*")):
        return EXIF_HEADER + raw
    return raw
