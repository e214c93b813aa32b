"""Known downloadable models (pinned URL, size, SHA-256, licence) and their atomic download into the user cache.

``masksmith models fetch NAME`` is the only thing that downloads; a run never does. A download is
streamed into an ``atomic_io`` temporary file beside the target, hashed as it arrives and renamed into
place only when size and SHA-256 match the pinned values: a mismatch or an interrupted transfer leaves nothing behind.
"""

from __future__ import annotations

import hashlib
import http.client
import os
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from masksmith import atomic_io
from masksmith.detect.classes import ROAD_CLASSES
from masksmith.detect.user_cache import default_cache_dir
from masksmith.errors import ModelUnavailable

CHUNK = 1 << 20
#: Called with (bytes received, bytes expected) as a download arrives.
Progress = Callable[[int, int], None]


@dataclass(frozen=True)
class ModelEntry:
    """One downloadable model: where it comes from and what it must be."""

    name: str
    detector: str  # config detector name that runs it
    classes: tuple[str, ...]
    url: str
    size: int
    sha256: str
    licence: str
    file_name: str
    source: str  # where the pinned size and checksum were read


CATALOGUE: dict[str, ModelEntry] = {
    entry.name: entry
    for entry in (
        ModelEntry(
            name="maskrcnn-12-int8",
            detector="mask_rcnn",
            classes=ROAD_CLASSES,
            url=(
                "https://github.com/onnx/models/raw/4c46cd00fbdb7cd30b6c1c17ab54f2e1f4f7b177/"
                "validated/vision/object_detection_segmentation/mask-rcnn/model/MaskRCNN-12-int8.onnx"
            ),
            size=45_769_352,
            sha256="4409935e855719fd6cd986f7ec2a3de840d0bd9c9cf7a0cba84ce95377f5b476",
            licence="Apache-2.0 (ONNX model zoo)",
            file_name="MaskRCNN-12-int8.onnx",
            source="git LFS pointer of onnx/models at commit 4c46cd0",
        ),
    )
}


def models_dir(cache_dir: str | os.PathLike[str] | None = None) -> Path:
    """Where fetched models live: ``<cache>/models`` (the cache is ``$MASKSMITH_CACHE_DIR`` or the XDG one)."""
    if cache_dir is not None:
        return Path(cache_dir) / "models"
    base = default_cache_dir()
    if base is None:
        raise ModelUnavailable(
            "the model cache is off ($MASKSMITH_CACHE_DIR=off); set it to a folder to fetch models",
            argument="MASKSMITH_CACHE_DIR",
        )
    return base / "models"


def get_model_entry(name: str) -> ModelEntry:
    """The catalogue entry ``name``; an unknown name lists the known ones."""
    try:
        return CATALOGUE[name]
    except KeyError:
        known = ", ".join(sorted(CATALOGUE))
        raise ModelUnavailable(f"unknown model {name!r}; known: {known}", argument="NAME") from None


def cached_model(entry: ModelEntry, *, cache_dir: str | os.PathLike[str] | None = None) -> Path | None:
    """The fetched file of ``entry`` when it is in the cache with the pinned size, else None."""
    try:
        path = models_dir(cache_dir) / entry.file_name
    except ModelUnavailable:
        return None
    try:
        return path if path.stat().st_size == entry.size else None
    except OSError:
        return None


def sha256_of(path: Path) -> str:
    """Hex SHA-256 of a file, read in chunks."""
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _open(url: str, timeout: float) -> http.client.HTTPResponse:
    request = urllib.request.Request(url, headers={"User-Agent": "masksmith"})
    response: http.client.HTTPResponse = urllib.request.urlopen(request, timeout=timeout)
    return response


def _download(
    entry: ModelEntry, source: str, timeout: float, out: BinaryIO, progress: Progress | None
) -> str:
    """Stream ``source`` into ``out`` (at most the pinned size); the hex SHA-256 of what arrived."""
    digest = hashlib.sha256()
    received = 0
    try:
        with _open(source, timeout) as stream:
            while chunk := stream.read(CHUNK):
                received += len(chunk)
                if received > entry.size:
                    raise ModelUnavailable(
                        f"download of {entry.name} from {source} is larger than the pinned "
                        f"{entry.size} bytes; refused",
                        argument="NAME",
                    )
                digest.update(chunk)
                out.write(chunk)
                if progress is not None:
                    progress(received, entry.size)
    except (urllib.error.URLError, http.client.HTTPException, OSError, ValueError) as exc:
        raise ModelUnavailable(
            f"download of {entry.name} from {source} failed after {received} of {entry.size} bytes "
            f"({exc}); nothing was kept",
            argument="NAME",
        ) from None
    if received != entry.size:
        raise ModelUnavailable(
            f"download of {entry.name} from {source} stopped after {received} of {entry.size} bytes; "
            "nothing was kept",
            argument="NAME",
        )
    return digest.hexdigest()


def fetch_model(
    entry: ModelEntry,
    *,
    cache_dir: str | os.PathLike[str] | None = None,
    url: str | None = None,
    timeout: float = 60.0,
    progress: Progress | None = None,
) -> Path:
    """Download ``entry`` (from ``url`` when given, e.g. a mirror) into the cache and return its path.

    A file already there with the pinned SHA-256 is kept. Size and SHA-256 are checked before the file
    is renamed into place (``atomic_io``); on any failure the partial file is removed and
    ModelUnavailable says why.
    """
    folder = models_dir(cache_dir)
    target = folder / entry.file_name
    if target.is_file() and target.stat().st_size == entry.size and sha256_of(target) == entry.sha256:
        return target
    source = url or entry.url
    with atomic_io.atomic_path(target, make_parents=True) as temp:
        with temp.open("wb") as out:
            got = _download(entry, source, timeout, out, progress)
        if got != entry.sha256:
            raise ModelUnavailable(
                f"checksum mismatch for {entry.name} from {source}: expected sha256 {entry.sha256}, "
                f"got {got}; nothing was kept",
                argument="NAME",
            )
    return target
