"""Per class: which detectors can find it on this machine, and how to get one where none can."""

from __future__ import annotations

from collections.abc import Sequence

from masksmith.detect.api import CLASS_NAMES, FACE, LICENCE_PLATE, PERSON, ROAD_CLASSES
from masksmith.detect.registry import ModelRow

#: Detector kind -> classes it finds.
KIND_CLASSES: dict[str, tuple[str, ...]] = {
    "face": (FACE,),
    "licence_plate": (LICENCE_PLATE,),
    "person": (PERSON,),
    "instance-segmentation": ROAD_CLASSES,
    "vehicle-boxes": ROAD_CLASSES,
}
#: Detectors that are weak cues only (gated by the anonymise defaults).
WEAK = frozenset({"hog-people", "haar-plates"})


def class_rows(rows: Sequence[ModelRow]) -> list[str]:
    """One line per class: the detectors that can run here (weak cues marked) or what to do to get one."""
    lines = []
    width = max(len(c) for c in CLASS_NAMES)
    for name in CLASS_NAMES:
        able = [r for r in rows if r.available and name in KIND_CLASSES.get(r.kind, ())]
        strong = [r.name for r in able if r.name not in WEAK]
        weak = [f"{r.name} (weak cue)" for r in able if r.name in WEAK]
        if strong:
            text = "yes: " + ", ".join(strong + weak)
        else:
            hints = [r.install for r in rows if name in KIND_CLASSES.get(r.kind, ()) and not r.available]
            hint = next((h for h in hints if "models fetch" in h), hints[0] if hints else "no detector known")
            text = "NO" + (f" (only {', '.join(weak)})" if weak else "") + f"; to get one: {hint}"
        lines.append(f"{name.ljust(width)}  {text}")
    return lines
