"""Resizing an image to a detector's network size: the two rules the detectors share."""

from __future__ import annotations

from typing import cast

import cv2
import numpy as np
import numpy.typing as npt

from masksmith.media.resize import shrink_area

Pixels = npt.NDArray[np.uint8]


def resize_cv2(image: Pixels, size: tuple[int, int]) -> Pixels:
    """``image`` at ``size`` (width, height): OpenCV's area filter when narrower, bilinear otherwise."""
    width, height = size
    if (height, width) == image.shape[:2]:
        return image
    interpolation = cv2.INTER_AREA if width < image.shape[1] else cv2.INTER_LINEAR
    return cast(Pixels, cv2.resize(image, (width, height), interpolation=interpolation))


def resize_exact_area(image: Pixels, size: tuple[int, int]) -> Pixels:
    """``image`` at ``size`` (width, height): exact area averaging when both sides shrink, bilinear otherwise."""
    width, height = size
    h, w = image.shape[:2]
    if (width, height) == (w, h):
        return image
    if width <= w and height <= h:
        return shrink_area(image, (width, height))
    return cast(Pixels, cv2.resize(image, (width, height), interpolation=cv2.INTER_LINEAR))
