"""Real photographs that packages ship, extracted at test time (never committed) beside their hand boxes.

* ``bus.jpg`` and ``zidane.jpg`` come from the ultralytics wheel, which ``make setup`` downloads with pip
  (``--no-deps``, not installed) into ``.venv/share/masksmith-photos``; ``$MASKSMITH_PHOTO_WHEELS`` can
  name another folder. Only the two JPEGs are read out of the zip.
* The rest are scikit-image's bundled data files.
"""

from __future__ import annotations

import os
import shutil
import sys
import zipfile
from pathlib import Path

BOXES = Path(__file__).parent / "data" / "real_photos.json"
WHEEL_GLOB = "ultralytics-*.whl"
WHEEL_MEMBERS = {"bus.jpg": "ultralytics/assets/bus.jpg", "zidane.jpg": "ultralytics/assets/zidane.jpg"}
SKIMAGE_FILES = {
    "astronaut.png": "astronaut.png",
    "motorcycle.png": "motorcycle_left.png",
    "coffee.png": "coffee.png",
    "brick.png": "brick.png",
    "grass.png": "grass.png",
    "gravel.png": "gravel.png",
    "rocket.jpg": "rocket.jpg",
    "chelsea.png": "chelsea.png",
}


def wheel_folder() -> Path:
    """Where ``make setup`` leaves the photo wheels."""
    chosen = os.environ.get("MASKSMITH_PHOTO_WHEELS")
    return Path(chosen) if chosen else Path(sys.prefix) / "share" / "masksmith-photos"


def photo_wheel() -> Path | None:
    """The downloaded ultralytics wheel, or None when ``make setup`` has not fetched it."""
    found = sorted(wheel_folder().glob(WHEEL_GLOB))
    return found[-1] if found else None


def stage_photos(dest: Path) -> Path:
    """Extract every photo the box file names into ``dest``; raises FileNotFoundError naming what is missing."""
    dest.mkdir(parents=True, exist_ok=True)
    wheel = photo_wheel()
    if wheel is None:
        raise FileNotFoundError(f"no {WHEEL_GLOB} in {wheel_folder()} (run 'make setup')")
    with zipfile.ZipFile(wheel) as archive:
        for name, member in WHEEL_MEMBERS.items():
            (dest / name).write_bytes(archive.read(member))
    import skimage.data

    data_dir = Path(skimage.data.__file__).parent
    for name, source in SKIMAGE_FILES.items():
        shutil.copyfile(data_dir / source, dest / name)
    return dest
