"""Every image operation of the Journaling Tool's catalogue (its 132 entries, those with an image → image
transition) is known here with its parameters and rules, and a journal using one validates."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from masksmith.batch.selectors import draw_parameter
from masksmith.journal.project import Journal
from masksmith.journal.validate import has_errors, validate
from masksmith.media import io as media_io
from masksmith.operations import default_catalogue
from tests.plugins.plugin_cases import photo

# the original's operations with an image.image transition (names are compatibility facts)
JT_IMAGE_OPERATIONS = [
    "AberrationCorrection", "AddCamFingerprintAveragePRNUFromSet", "AddCamFingerprintPRNU", "AddCameraModel",
    "AddNoise", "AntiForensicCopyExif", "AntiForensicDither", "AntiForensicEditExif",
    "AntiForensicExifQuantizationTable", "AntiForensicJPGCompression", "ArtificialLighting", "ArtificialReflection",
    "ArtificialShadow", "BitRescale", "Blur", "CGIFill", "ColorBalance", "ColorLUT", "ContentAwareFill",
    "ContentAwareMove", "Contrast", "CreativeFilter", "Curves", "DeepFakeFaceSwap", "DigitalPenDraw",
    "EncodeMessage", "ErasureByGAN", "Exposure", "FilterConvolutionKernel", "GANFill", "Gradient", "Handwriting",
    "Hue", "ImageInterpolation", "LayerFill", "LayerOpacity", "LensDistortion", "Levels", "Luminosity", "Mosaic",
    "Normalization", "ObjectCGI", "OutputBmp", "OutputCopy", "OutputDng", "OutputHEIC", "OutputJp2", "OutputJpg",
    "OutputNEIF", "OutputNITF", "OutputPDF", "OutputPng", "OutputTif", "OverlayObject", "OverlayText",
    "PasteSampled", "PasteSplice", "PostProcessingSizeUpDownOrgExif", "Recapture",
    "RemoveCamFingerprintAveragePRNUFromSet", "RemoveCamFingerprintPRNU", "Saturation", "SelectRegion",
    "SelectRemove", "Sharpening", "SocialMedia", "SynthesizeGAN", "SynthesizeVideo", "TransformAffine",
    "TransformCrop", "TransformCropResize", "TransformDistort", "TransformFlip", "TransformMove",
    "TransformResize", "TransformRotate", "TransformScale", "TransformSeamCarving", "TransformShear",
    "TransformSkew", "TransformWarp", "Vibrance",
]  # fmt: skip

# added by this catalogue revision; each is a local, same-size pixel change that a journal records
LOCAL_EDITS = [
    "AberrationCorrection", "AddCamFingerprintAveragePRNUFromSet", "AddCamFingerprintPRNU", "AddCameraModel",
    "ArtificialLighting", "ArtificialReflection", "ArtificialShadow", "BitRescale", "ColorLUT", "DeepFakeFaceSwap",
    "DigitalPenDraw", "EncodeMessage", "ErasureByGAN", "GANFill", "Gradient", "Handwriting", "ImageInterpolation",
    "LensDistortion", "Luminosity", "ObjectCGI", "PostProcessingSizeUpDownOrgExif", "Recapture",
    "RemoveCamFingerprintAveragePRNUFromSet", "RemoveCamFingerprintPRNU", "SynthesizeGAN", "SynthesizeVideo",
]  # fmt: skip


def test_every_image_operation_is_known_with_an_image_transition() -> None:
    catalogue = default_catalogue()
    missing = [name for name in JT_IMAGE_OPERATIONS if catalogue.find(name) is None]
    assert missing == []
    for name in JT_IMAGE_OPERATIONS:
        operation = catalogue.get(name)
        assert any(t.startswith("image.") for t in operation.transitions), name


def test_parameters_keep_the_original_names_and_values() -> None:
    catalogue = default_catalogue()
    assert set(catalogue.get("OutputHEIC").mandatory) == {"Image Rotated", "Quality"}
    assert set(catalogue.get("AddCameraModel").mandatory) == {"Camera Model", "Camera Make"}
    assert {"urls", "is3D", "isGAN"} <= set(catalogue.get("ObjectCGI").mandatory)
    assert catalogue.get("EncodeMessage").category == "Steganography"
    assert "checkEmpty" not in catalogue.get("Luminosity").rule_names(full=True)
    assert "check_empty" in catalogue.get("Luminosity").rule_names(full=True)


@pytest.mark.parametrize("op", LOCAL_EDITS)
def test_a_journal_using_the_operation_validates(op: str, tmp_path: Path) -> None:
    base = tmp_path / "base.png"
    media_io.write_image(base, photo())
    journal = Journal.create(base, tmp_path / "j", name="j")
    edited = photo()
    edited[60:120, 80:160] = np.clip(edited[60:120, 80:160].astype(int) + 40, 0, 255).astype(np.uint8)
    target = tmp_path / "edited.png"
    media_io.write_image(target, edited)
    operation = journal.catalogue.get(op)
    rng = np.random.default_rng(0)
    arguments = {
        name: draw_parameter(param, rng)
        for name, param in operation.mandatory.items()
        if param.applies_to("image")
    }
    # free text the generator cannot draw: what a user would type
    typed = {"text": "camera 7", "string": "camera 7", "urls": "https://example.org/model"}
    for name, value in list(arguments.items()):
        kind = operation.mandatory[name].type.kind.value
        if value is None and kind == "file":  # a file argument names a file in the journal folder
            file = journal.directory / f"argument.{str(operation.mandatory[name].type).split(':', 1)[1]}"
            file.write_text("made for the test", encoding="utf-8")
            arguments[name] = file.name
        elif value is None:
            arguments[name] = typed[kind]
    journal.record(journal.graph.base_node(), target, op=op, arguments=arguments)
    findings = validate(journal)
    assert not has_errors(findings), [f.message for f in findings if f.severity.name in ("ERROR", "CRITICAL")]
    edge = next(d for _, _, d in journal.graph.edges() if d["op"] == op)
    assert edge["empty mask"] == "no"
