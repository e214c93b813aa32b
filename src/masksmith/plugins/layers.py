"""Layer plugins: ConvertToColor (a gray image into one colour channel) and PasteSpliceDonor (record a
paste whose result was made elsewhere)."""

from __future__ import annotations

import os
from pathlib import Path

import cv2
import numpy as np

from masksmith.errors import MediaError, PluginError
from masksmith.media import io as media_io
from masksmith.plugins.base import Argument, Plugin, PluginContext, PluginResult
from masksmith.plugins.common import to_rgb8, write_target

CHANNELS = ("red", "green", "blue")


def gray_into_channel(gray: np.ndarray, channel: str) -> np.ndarray:
    """An RGB image, black except ``channel``, which holds ``gray``."""
    out = np.zeros((*gray.shape[:2], 3), np.uint8)
    out[:, :, CHANNELS.index(channel)] = gray
    return out


class ConvertToColor(Plugin):
    name = "ConvertToColor"
    operation = "Blend"
    description = (
        "Put the gray version of the source (or of the 'mask' image) into one colour channel of a black "
        "RGB image; written as PNG."
    )
    suffix = ".png"
    arguments = (
        Argument("channel", "list", "green", "Channel that receives the gray image.", values=CHANNELS),
        Argument("mode", "text", "Color", "Blend mode recorded on the edge."),
        Argument("mask", "any", None, "Gray image to use instead of the source."),
    )

    def transform(self, context: PluginContext) -> PluginResult:
        args = self.resolve_arguments(context.arguments)
        if args.get("mask"):
            path = Path(os.fspath(args["mask"]))
            try:
                image = media_io.read_image(path).pixels
            except MediaError as exc:
                raise PluginError(
                    f"cannot read the image: {exc.message}", file=path, argument="mask"
                ) from None
        else:
            image = context.pixels()
        rgb = to_rgb8(image)
        gray = np.asarray(cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)) if image.ndim == 3 else rgb[:, :, 0]
        out = gray_into_channel(gray, str(args["channel"]))
        write_target(context, out, format="PNG")
        return PluginResult(variables={"channel": args["channel"], "mode": args["mode"]}, target_pixels=out)


class PasteSpliceDonor(Plugin):
    name = "PasteSpliceDonor"
    operation = "PasteSplice"
    description = (
        "Record a paste splice made elsewhere: the target is the 'Final Image' (same size as the source) and "
        "the donor is linked to it, in one step."
    )
    arguments = (
        Argument("donor", "donor", None, "The image that was pasted in.", required=True),
        Argument("Final Image", "any", None, "The finished paste (an image file).", required=True),
    )

    def transform(self, context: PluginContext) -> PluginResult:
        args = self.resolve_arguments(
            {**context.arguments, "donor": context.donor or context.arguments.get("donor")}
        )
        final = Path(os.fspath(args["Final Image"]))
        try:
            pixels = media_io.read_image(final).pixels
        except MediaError as exc:
            raise PluginError(
                f"cannot read the final image: {exc.message}", file=final, argument="Final Image"
            ) from None
        source = context.pixels()
        if pixels.shape[:2] != source.shape[:2]:
            raise PluginError(
                f"final image is {pixels.shape[1]}×{pixels.shape[0]}, the source {source.shape[1]}×{source.shape[0]}",
                file=final,
                argument="Final Image",
            )
        write_target(context, pixels)
        return PluginResult(variables={}, target_pixels=pixels)
