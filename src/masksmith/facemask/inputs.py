"""The images of a facemask run: the folder walk, unique output stems, one job per image, its generator."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from masksmith.errors import ConfigError

__all__ = ["IMAGE_SUFFIXES", "ImageJob", "find_images", "image_jobs", "image_rng", "unique_stems"]

IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp"})


@dataclass(frozen=True)
class ImageJob:
    """One image's task: where to read it, where its outputs go (absolute paths) and how it is logged."""

    source: str  # path as logged (as the user gave it)
    path: str  # absolute: where a worker reads it, whatever its working directory
    relative: str  # POSIX path relative to the input root (seeds the image's generator)
    out_dir: str  # absolute
    stem: str


def find_images(root: str | os.PathLike[str], *, exclude: str | os.PathLike[str] | None = None) -> list[Path]:
    """Image files under ``root`` (recursive, extensions in any case, hidden entries skipped), sorted.

    ``exclude`` is a folder left out of the walk (the output folder when it lies inside the input).
    """
    base = Path(root)
    skip = Path(exclude).resolve() if exclude is not None else None
    found: list[Path] = []
    for folder, dirs, files in os.walk(base):
        here = Path(folder)
        dirs[:] = sorted(
            d for d in dirs if not d.startswith(".") and (skip is None or (here / d).resolve() != skip)
        )
        found.extend(
            here / name
            for name in files
            if not name.startswith(".") and Path(name).suffix.lower() in IMAGE_SUFFIXES
        )
    return sorted(found, key=lambda p: p.relative_to(base).as_posix())


def _inside(inner: Path, outer: Path) -> bool:
    a, b = inner.resolve(), outer.resolve()
    return a == b or b in a.parents


def unique_stems(relatives: Sequence[Path]) -> list[str]:
    """Output stems for input files (relative paths), unique per folder whatever the case.

    A stem shared by several files in a folder (``x.png``, ``x.PNG``, ``x.jpg``), compared without
    case, becomes ``STEM_EXT``; where that still clashes (``x.png`` and ``x.PNG``, or a file really
    named ``x_png.jpg``) a counter follows: ``x_png``, ``x_png_2``.
    """
    counts: dict[tuple[str, str], int] = {}
    for rel in relatives:
        key = (rel.parent.as_posix(), rel.stem.casefold())
        counts[key] = counts.get(key, 0) + 1
    used: set[tuple[str, str]] = {
        (folder, stem) for (folder, stem), n in counts.items() if n == 1
    }  # plain stems keep their name; nothing else may take it
    stems = []
    for rel in relatives:
        folder = rel.parent.as_posix()
        if counts[(folder, rel.stem.casefold())] == 1:
            stems.append(rel.stem)
            continue
        base = f"{rel.stem}_{rel.suffix[1:].lower()}"
        stem, n = base, 2
        while (folder, stem.casefold()) in used:
            stem, n = f"{base}_{n}", n + 1
        used.add((folder, stem.casefold()))
        stems.append(stem)
    return stems


def image_jobs(source: Path, output: Path) -> list[ImageJob]:
    """One job per image; ``output`` must be absolute (workers may run in other working directories)."""
    if source.is_file():
        return [ImageJob(str(source), str(source.absolute()), source.name, str(output), source.stem)]
    if not source.is_dir():
        raise ConfigError("input is neither a file nor a folder", file=source, argument="input")
    if _inside(output, source):
        raise ConfigError(
            f"the output folder {output} lies inside the input folder {source}; its images would be "
            "masked again on the next run — choose an output outside the input",
            argument="output",
        )
    if _inside(source, output):
        raise ConfigError(
            f"the input folder {source} lies inside the output folder {output}", argument="output"
        )
    files = find_images(source)
    relatives = [p.relative_to(source) for p in files]
    return [
        ImageJob(str(path), str(path.absolute()), rel.as_posix(), str(output / rel.parent), stem)
        for path, rel, stem in zip(files, relatives, unique_stems(relatives), strict=True)
    ]


def image_rng(seed: int, relative_path: str) -> np.random.Generator:
    """The generator for one image: ``seed`` mixed with a stable hash of its path relative to the input."""
    digest = hashlib.sha256(relative_path.encode("utf-8")).digest()
    words = [int.from_bytes(digest[i : i + 4], "little") for i in range(0, 16, 4)]
    return np.random.default_rng(np.random.SeedSequence([int(seed), *words]))
