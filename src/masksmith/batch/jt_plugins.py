"""The original Journaling Tool's plugins that masksmith does not build in, and what each needed: a
specification naming one is refused with that reason instead of a bare "unknown plugin"."""

from __future__ import annotations

_IMAGEMAGICK = "ImageMagick's convert (a command-line plugin of the original)"
_FFMPEG = "ffmpeg (a video/audio plugin of the original; video and audio come with the video work)"

# plugin name → what the original ran (compatibility facts: the original's plugin names)
EXTERNAL: dict[str, str] = {
    **dict.fromkeys(
        (
            "Contrast", "DCTQTDither", "DCTQTDitherWithMask", "GammaCorrection", "LevelCorrection",
            "LevelCorrectionNoMask", "MagickAddNoise", "MagickContrastStretch", "MagickEqualization",
            "MagickHaldCLUT", "MagickModulate", "MagickSaveAsHEIC", "MagickSaveAsJPEG2000", "MagickSaveAsPNG",
            "MagickSaveAsTIFF", "ManualGammaCorrection", "Sharpen", "WaveletDenoise",
        ),
        _IMAGEMAGICK,
    ),
    "GMicSaveAsPNG": "G'MIC (a command-line plugin of the original)",
    "GMicSaveAsTIFF": "G'MIC (a command-line plugin of the original)",
    "GimpSaveAsPNG": "GIMP (a command-line plugin of the original)",
    "GimpSaveAsTIFF": "GIMP (a command-line plugin of the original)",
    "LiquidRescale": "GIMP's liquid rescale (MASKGEN_GIMP)",
    "SIPSSaveAsNEIC": "macOS sips",
    "ExifDateTime": "exiftool",
    "ExifGPSChange": "exiftool",
    "ExifGPSSet": "exiftool",
    "ExifMetaCopy": "exiftool",
    "PRNU-AddFromDonor": "the PRNU fingerprint tools (not part of the original's repository)",
    "PRNU-RemoveFromDonor": "the PRNU fingerprint tools (not part of the original's repository)",
    "PRNUFromDonorVid": "the PRNU fingerprint tools (not part of the original's repository)",
    "CameraModelGan": "a camera-model GAN (not part of the original's repository)",
    "PCCameraModelGan": "a camera-model GAN (not part of the original's repository)",
    "AntiforensicDrexelErasureGAN": "an erasure GAN model (not part of the original's repository)",
    "PickMediaFromBrowser": "the original's media browser web service",
    "DLIBFaceSelection": "dlib with its face landmark model file",
    **dict.fromkeys(
        (
            # the original's ffmpeg plugins that masksmith has no PyAV counterpart for (see plugins/video*.py)
            "AddFullAudio", "OutputDownSample", "OutputWAV", "DroneShake", "YoutubeUpDown", "MedianStack",
        ),
        _FFMPEG,
    ),
}  # fmt: skip

# names that never existed as plugins of the original, with the one meant (SaveAsPNG did: an alias of OutputPNG)
RENAMED: dict[str, str] = {"SaveAsTIFF": "OutputTIFF"}


def unknown_plugin_reason(name: str) -> str | None:
    """Why the original's plugin ``name`` is not available here; None for names the original never had."""
    if name in EXTERNAL:
        return f"plugin {name!r} of the original needs {EXTERNAL[name]}; masksmith does not build it in"
    if name in RENAMED:
        return f"plugin {name!r} did not exist in the original either (its documentation's name); use {RENAMED[name]!r}"
    return None
