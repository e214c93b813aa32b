"""Real photos with faces that installed packages ship, extracted at test time (never committed).

- scikit-image: the astronaut (frontal, colour) and the cameraman (a turned head, grayscale).
- matplotlib: Grace Hopper's portrait (``mpl-data/sample_data/grace_hopper.jpg``), also mirrored.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from skimage import data

from masksmith.media import io as media_io


def grace_hopper_path() -> Path | None:
    try:
        import matplotlib
    except ImportError:
        return None
    path = Path(matplotlib.get_data_path()) / "sample_data" / "grace_hopper.jpg"
    return path if path.is_file() else None


@pytest.fixture(scope="session")
def real_photos() -> dict[str, np.ndarray]:
    """Name → RGB uint8 photo. Grace Hopper needs matplotlib (a dev dependency)."""
    photos = {"astronaut": data.astronaut(), "cameraman": np.dstack([data.camera()] * 3)}
    hopper = grace_hopper_path()
    if hopper is None:
        pytest.skip("matplotlib (dev dependency) ships Grace Hopper's photo; it is not installed")
    photos["hopper"] = np.asarray(media_io.read_image(hopper).pixels)
    photos["hopper mirrored"] = np.ascontiguousarray(photos["hopper"][:, ::-1])
    return photos
