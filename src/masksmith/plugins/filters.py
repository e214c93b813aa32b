"""Blur filters: MedianBlur, GaussianBlur and GaussianLocalBlur (inside an input mask)."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any

import cv2
import numpy as np
from numpy.typing import NDArray

from masksmith.media import ops
from masksmith.plugins.base import Argument, Plugin, PluginContext, PluginResult
from masksmith.plugins.common import odd, selection_mask, write_target


def _median(image: NDArray[Any], kernel: int) -> NDArray[Any]:
    """cv2.medianBlur, one thread per channel for large kernels (OpenCV runs those single-threaded)."""
    if image.ndim == 2 or kernel <= 5:
        return np.asarray(cv2.medianBlur(image, kernel))
    channels = [np.ascontiguousarray(image[:, :, c]) for c in range(image.shape[2])]
    with ThreadPoolExecutor(max_workers=len(channels)) as pool:
        blurred = list(pool.map(lambda channel: cv2.medianBlur(channel, kernel), channels))
    return np.ascontiguousarray(np.dstack(blurred))


class MedianBlur(Plugin):
    name = "MedianBlur"
    operation = "Blur"
    description = "Median blur of the whole image, or of a random window covering 'percentageChange' of it."
    arguments = (
        Argument("kernelSize", "int[3:255]", 25, "Median kernel size in pixels (made odd)."),
        Argument(
            "percentageChange",
            "float[0.01:1]",
            1.0,
            "Fraction of the width and height the blurred window covers (1 = the whole image).",
        ),
    )

    def transform(self, context: PluginContext) -> PluginResult:
        args = self.resolve_arguments(context.arguments)
        kernel = odd(int(args["kernelSize"]), minimum=3)
        source = context.pixels()
        if source.dtype == np.uint16:
            kernel = min(kernel, 5)  # OpenCV's median takes larger kernels for 8-bit images only
        rows, cols = source.shape[:2]
        fraction = float(args["percentageChange"])
        height, width = max(1, round(rows * fraction)), max(1, round(cols * fraction))
        top = int(context.rng.integers(0, rows - height + 1))
        left = int(context.rng.integers(0, cols - width + 1))
        out = source.copy()
        pad = kernel // 2
        r0, c0 = max(0, top - pad), max(0, left - pad)
        r1, c1 = min(rows, top + height + pad), min(cols, left + width + pad)
        blurred = _median(np.ascontiguousarray(source[r0:r1, c0:c1]), kernel)
        out[top : top + height, left : left + width] = blurred[
            top - r0 : top - r0 + height, left - c0 : left - c0 + width
        ]
        write_target(context, out)
        variables = {"Blur Type": "Median Smoothing", "kernelSize": kernel}
        if fraction < 1:
            variables["location"] = f"({left}, {top})"
        return PluginResult(variables=variables, target_pixels=out)


class GaussianBlur(Plugin):
    name = "GaussianBlur"
    operation = "Blur"
    description = "Gaussian blur of the whole image."
    arguments = (Argument("kernelsize", "int[1:255]", 5, "Gaussian kernel size in pixels (made odd)."),)

    def transform(self, context: PluginContext) -> PluginResult:
        args = self.resolve_arguments(context.arguments)
        kernel = odd(int(args["kernelsize"]))
        out = np.asarray(cv2.GaussianBlur(context.pixels(), (kernel, kernel), 0))
        write_target(context, out)
        return PluginResult(variables={"Blur Type": "Gaussian", "kernelsize": kernel}, target_pixels=out)


class GaussianLocalBlur(Plugin):
    name = "GaussianLocalBlur"
    operation = "Blur"
    description = (
        "Gaussian blur inside the input mask (255 = blur there; 'invertmask' flips it), or of the whole "
        "image without one. Pixels outside the selection stay bit-identical."
    )
    arguments = (
        Argument("kernelsize", "int[1:255]", 5, "Gaussian kernel size in pixels (made odd)."),
        Argument("inputmaskname", "mask", None, "Input mask: 255 = blur here."),
        Argument("invertmask", "yesno", "no", "Blur outside the mask instead."),
    )

    def transform(self, context: PluginContext) -> PluginResult:
        args = self.resolve_arguments(context.arguments)
        kernel = odd(int(args["kernelsize"]))
        source = context.pixels()
        selected = selection_mask(context, args, source.shape[:2], invert_name="invertmask", required=False)
        if selected is None:
            out = np.asarray(cv2.GaussianBlur(source, (kernel, kernel), 0))
        else:
            out = ops.blur_in_mask(source, selected, kernel=kernel, kind="gaussian")
        write_target(context, out)
        return PluginResult(variables={"Blur Type": "Gaussian", "kernelsize": kernel}, target_pixels=out)
