"""The class vocabulary every detector maps into: masksmith class names, their ids and COCO's numberings."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from masksmith.errors import MasksmithError

PERSON = "person"
BICYCLE = "bicycle"
CAR = "car"
MOTORCYCLE = "motorcycle"
BUS = "bus"
TRUCK = "truck"
FACE = "face"
LICENCE_PLATE = "licence_plate"

#: masksmith class names; a class id is the index into this tuple.
CLASS_NAMES: tuple[str, ...] = (PERSON, BICYCLE, CAR, MOTORCYCLE, BUS, TRUCK, FACE, LICENCE_PLATE)
CLASS_IDS: Mapping[str, int] = {name: i for i, name in enumerate(CLASS_NAMES)}
DEFAULT_CLASS_NAMES: Mapping[int, str] = dict(enumerate(CLASS_NAMES))

#: Road-user classes masked by anonymisation (NPRA's MASK_LABELS).
ROAD_CLASSES: tuple[str, ...] = (PERSON, BICYCLE, CAR, MOTORCYCLE, BUS, TRUCK)

#: Contiguous 80-class COCO index (as used by YOLO exports) -> masksmith class name.
COCO80_TO_CLASS: Mapping[int, str] = {0: PERSON, 1: BICYCLE, 2: CAR, 3: MOTORCYCLE, 5: BUS, 7: TRUCK}
#: Original 91-id COCO category id (TF model zoo, pycocotools) -> masksmith class name.
COCO91_TO_CLASS: Mapping[int, str] = {1: PERSON, 2: BICYCLE, 3: CAR, 4: MOTORCYCLE, 6: BUS, 8: TRUCK}
CLASS_TO_COCO91: Mapping[str, int] = {name: cid for cid, name in COCO91_TO_CLASS.items()}


class DetectionsError(MasksmithError, ValueError):
    """Arrays handed to ``Detections`` have the wrong shape or type, or detections do not combine."""


def class_id(name: str) -> int:
    """masksmith class id of ``name``; unknown names list the valid ones."""
    try:
        return CLASS_IDS[name]
    except KeyError:
        raise DetectionsError(
            f"unknown class {name!r}; expected one of {', '.join(CLASS_NAMES)}", argument="classes"
        ) from None


def kept_class_ids(class_map: Mapping[int, str], classes: Iterable[str]) -> dict[int, int]:
    """Model class index -> masksmith class id, for the model classes whose name is in ``classes``."""
    kept = tuple(classes)
    return {int(k): class_id(v) for k, v in class_map.items() if v in kept}
