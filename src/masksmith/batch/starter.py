"""``masksmith batch init``: a starter specification and a small image pool to run it on.

The pool (and a donor pool of the same photos under other names) is written from scikit-image's
bundled photos (nothing is downloaded). Beside it go the
files the documented examples of ``docs/batch-spec.md`` refer to: ``pairs.csv`` for PickPairedImage
and ``external/`` (an externally processed copy of each photo plus its argument CSV) for
PreProcessedMediaOperation.
"""

from __future__ import annotations

import json
import os
import shlex
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from masksmith import atomic_io
from masksmith.errors import SpecError
from masksmith.media import io as media_io

#: scikit-image photos in the pool (all colour, 300-512 px: each project takes about a second).
POOL_IMAGES = ("coffee", "chelsea", "astronaut", "rocket")
STARTER_SPEC = "starter_spec.json"


@dataclass(frozen=True)
class StarterFiles:
    """What ``write_starter`` wrote (all paths inside its folder)."""

    folder: Path
    spec: Path
    pool: Path
    donors: Path
    pairs: Path
    external: Path

    def create_command(self, *, masksmith: str = "masksmith", count: int = 2) -> str:
        """The ``batch create`` command line that runs the starter spec on the pool."""
        q = shlex.quote
        return (
            f"{masksmith} batch create --specification {q(str(self.spec))} "
            f"--projects {q(str(self.folder / 'projects'))} --count {count} "
            f"--global_variables {q(f'image_dir={self.pool},donor_dir={self.donors}')} --seed 1"
        )


def starter_spec() -> dict[str, Any]:
    """The starter specification as data (a copy each call)."""
    text = resources.files("masksmith.batch").joinpath("examples", STARTER_SPEC).read_text(encoding="utf-8")
    spec: dict[str, Any] = json.loads(text)
    return spec


def _atomic_write_text(path: Path, text: str) -> None:
    atomic_io.write_text(path, text)


def _pool_pixels() -> dict[str, np.ndarray]:
    from skimage import data

    return {name: np.ascontiguousarray(getattr(data, name)()) for name in POOL_IMAGES}


def write_starter(folder: str | os.PathLike[str], *, force: bool = False) -> StarterFiles:
    """Write the starter spec, the pool and the example side files into ``folder``.

    An existing spec is kept unless ``force`` (pool images are rewritten only when missing).
    """
    root = Path(folder)
    spec_path = root / STARTER_SPEC
    if spec_path.exists() and not force:
        raise SpecError("exists; pass --force to overwrite it", file=str(spec_path))
    pool, donors, external = root / "pool", root / "donors", root / "external"
    for folder_ in (pool, donors, external):
        folder_.mkdir(parents=True, exist_ok=True)
    pixels = _pool_pixels()
    for name, image in pixels.items():
        # donors are the same photos under other names: a journal holds each file name once
        for path in (pool / f"{name}.png", donors / f"{name}_donor.png"):
            if not path.exists():
                media_io.write_image(path, image)
        # "external" results: an unsharp mask made outside masksmith, named after its source
        blurred = cv2.GaussianBlur(image, (0, 0), 3)
        sharpened = cv2.addWeighted(image, 1.6, blurred, -0.6, 0)
        media_io.write_image(external / f"{name}_sharpened.png", sharpened)
    rows = [f"{name}_sharpened.png,1.6,3" for name in pixels]
    _atomic_write_text(external / "arguments.csv", "\n".join(rows) + "\n")
    names = list(pixels)
    pairs = root / "pairs.csv"
    lines = [f"{name},{names[(i + 1) % len(names)]}.png" for i, name in enumerate(names)]
    _atomic_write_text(pairs, "\n".join(lines) + "\n")
    _atomic_write_text(spec_path, json.dumps(starter_spec(), indent=2) + "\n")
    return StarterFiles(root, spec_path, pool, donors, pairs, external)
