"""The public entry points stay callable however the package tree was imported (``masksmith.anonymise`` et al.)."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]

# Runs in a fresh interpreter: which submodules were imported before is exactly what the bug depended on.
_SCRIPT = textwrap.dedent(
    """
    import importlib, pkgutil, sys
    from pathlib import Path

    import numpy as np
    from PIL import Image

    import masksmith.anonymise.config  # binds the subpackage as masksmith.anonymise before first use
    import masksmith
    from masksmith.detect import CAR, Detections, class_id

    names = [m.name for m in pkgutil.walk_packages(masksmith.__path__, "masksmith.")]
    for name in names:
        importlib.import_module(name)
    assert len(names) > 50, names

    class Box:
        name = "box-stub"
        classes = (CAR,)

        def detect(self, image):
            h, w = image.shape[:2]
            return Detections(
                boxes=np.array([[w * 0.25, h * 0.25, w * 0.5, h * 0.5]], np.float32),
                scores=np.array([0.9], np.float32),
                class_ids=np.array([class_id(CAR)]),
                image_size=(h, w),
            )

    work = Path(sys.argv[1])
    (work / "in").mkdir()
    Image.fromarray(np.full((96, 128, 3), 200, np.uint8)).save(work / "in" / "a.jpg", quality=95)
    for run in ("out1", "out2"):  # twice: the first call used to rebind masksmith.anonymise to a module
        summary = masksmith.anonymise(work / "in", work / run, detectors=[Box()], progress=False)
        assert summary.failed == 0 and (work / run / "a.jpg").is_file(), (run, summary)
    from masksmith.facemask.pipeline import augment_faces

    assert masksmith.augment_faces is augment_faces
    print("ok", len(names))
    """
)


def test_anonymise_and_augment_faces_stay_callable_after_importing_every_submodule(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-c", _SCRIPT, str(tmp_path)], cwd=REPO, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.startswith("ok ")


def test_anonymise_package_call_forwards_to_the_pipeline(monkeypatch) -> None:
    import masksmith
    import masksmith.anonymise.pipeline as pipeline

    seen: list[tuple[tuple[object, ...], dict[str, object]]] = []
    monkeypatch.setattr(pipeline, "anonymise", lambda *a, **k: seen.append((a, k)) or "summary")
    assert masksmith.anonymise("in", "out", progress=False) == "summary"
    assert seen == [(("in", "out"), {"progress": False})]
