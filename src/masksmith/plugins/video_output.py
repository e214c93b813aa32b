"""Video output plugins: H.264 MP4, lossless AVI/MOV/MKV, and compression matched to a donor."""

from __future__ import annotations

import itertools
from typing import Any, ClassVar

from masksmith.errors import MediaError, PluginError
from masksmith.plugins.base import Argument, Plugin, PluginContext, PluginResult
from masksmith.plugins.video_common import open_video, write_clip


class OutputX264(Plugin):
    name = "OutputX264"
    operation = "OutputMP4"
    description = "Re-encode the video as H.264 in MP4 (audio as AAC) at the given constant quality."
    suffix = ".mp4"
    arguments = (
        Argument("crf", "int[0:51]", 18, "x264 constant rate factor (0 = lossless, 18 ≈ visually lossless)."),
        Argument(
            "preset", "list", "veryfast", "x264 speed preset.", ("ultrafast", "veryfast", "medium", "slow")
        ),
        Argument(
            "pixel aspect", "list", "Square Pixels (1.0)", "Recorded pixel aspect.", ("Square Pixels (1.0)",)
        ),
    )

    def transform(self, context: PluginContext) -> PluginResult:
        args = self.resolve_arguments(context.arguments)
        source = open_video(context)
        options = {"crf": str(int(args["crf"])), "preset": str(args["preset"])}
        write_clip(context, source, source.frames(), codec="libx264", options=options)
        return PluginResult(
            variables={
                "crf": int(args["crf"]),
                "preset": args["preset"],
                "pixel aspect": args["pixel aspect"],
            }
        )


class _Lossless(Plugin):
    codec: ClassVar[str] = "ffv1"
    arguments = (
        Argument("Video Rotated", "yesno", "no", "Whether the output was turned upright (recorded only)."),
    )

    def transform(self, context: PluginContext) -> PluginResult:
        args = self.resolve_arguments(context.arguments)
        source = open_video(context)
        write_clip(context, source, source.frames(), codec=self.codec, options={})
        return PluginResult(variables={"Video Rotated": args["Video Rotated"], "codec": self.codec})


class OutputRawVideo(_Lossless):
    name = "OutputRawVideo"
    operation = "OutputAVI"
    description = "Re-encode losslessly (Ut Video) into an AVI container, audio as PCM."
    suffix = ".avi"
    codec = "utvideo"


class OutputLosslessMOV(_Lossless):
    name = "OutputLosslessMOV"
    operation = "OutputMOV"
    description = "Re-encode losslessly (PNG frames) into a QuickTime MOV container, audio as PCM."
    suffix = ".mov"
    codec = "png"
    arguments = (
        Argument("pixel aspect", "list", "Square Pixels (1.0)", "Recorded.", ("Square Pixels (1.0)",)),
    )

    def transform(self, context: PluginContext) -> PluginResult:
        args = self.resolve_arguments(context.arguments)
        source = open_video(context)
        write_clip(context, source, source.frames(), codec=self.codec, options={})
        return PluginResult(variables={"pixel aspect": args["pixel aspect"], "codec": self.codec})


def _donor_encoding(path: Any) -> dict[str, Any]:
    """Codec name, bit rate and GOP size (frames between key frames) of a donor's video stream."""
    import av

    try:
        with av.open(str(path)) as container:
            stream = container.streams.video[0]
            keys: list[int] = []
            for index, packet in enumerate(container.demux(stream)):
                if packet.size and packet.is_keyframe:
                    keys.append(index)
                if index >= 600:
                    break
            bit_rate = int(stream.bit_rate or container.bit_rate or 0)
            codec = str(stream.codec_context.name)
    except (av.FFmpegError, IndexError) as exc:
        raise PluginError(f"cannot read the donor video: {exc}", file=path) from None
    gop = max(b - a for a, b in itertools.pairwise(keys)) if len(keys) > 1 else 250
    return {"codec": codec, "bit_rate": bit_rate, "gop": gop}


_ENCODERS = {"h264": "libx264", "hevc": "libx265", "mpeg4": "mpeg4", "ffv1": "ffv1", "utvideo": "utvideo"}


class CompressAsVideo(Plugin):
    name = "CompressAsVideo"
    operation = "AntiForensicCopyExif"  # as the original recorded it: a donor's encoding, copied
    description = (
        "Re-encode the video with the donor's codec, bit rate and key-frame interval, in its container."
    )
    suffix = "donor"
    arguments = (Argument("donor", "donor", None, "The video whose encoding is copied.", required=True),)

    def transform(self, context: PluginContext) -> PluginResult:
        self.resolve_arguments(context.arguments)
        if context.donor is None:
            raise PluginError("CompressAsVideo needs a donor video", argument="donor")
        try:
            encoding = _donor_encoding(context.donor)
        except MediaError as exc:
            raise PluginError(exc.message, file=context.donor) from None
        encoder = _ENCODERS.get(encoding["codec"])
        if encoder is None:
            raise PluginError(
                f"the donor's codec {encoding['codec']!r} cannot be written", file=context.donor
            )
        options = {"g": str(encoding["gop"])}
        if encoding["bit_rate"] and encoder in ("libx264", "libx265", "mpeg4"):
            options["b"] = str(encoding["bit_rate"])
        source = open_video(context)
        write_clip(context, source, source.frames(), codec=encoder, options=options)
        return PluginResult(
            variables={"codec": encoding["codec"], "bit rate": encoding["bit_rate"], "GOP": encoding["gop"]}
        )
