"""Road references in file paths and road idents (``Fy50_Ev6_S1D1_m00123_f1.jpg``, ``"FV63 S10D3 m41"``).

Part of :mod:`.metadata`.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass

from masksmith.anonymise.metadata_values import decimal_or_none, decimal_text, split_path, strip_zeros

__all__ = [
    "LANE_TOKEN",
    "LaneCode",
    "PathInfo",
    "parse_lane_code",
    "parse_path",
    "parse_road_ident",
    "relative_input_dir",
    "road_code",
]

# Counties accepted from a path element: the original's 01..20 (no 13) and 50, plus the county numbers
# introduced by the 2020 and 2024 reforms, which the original's list predates.
_LEGAL_FYLKER = frozenset(
    [*(f"{n:02d}" for n in range(1, 21) if n != 13), "50", "30", "31", "32", "33", "34", "38", "39", "40",
     "42", "46", "54", "55", "56"]
)  # fmt: skip


_ROAD = re.compile(r"(?<![A-Za-z])([ERFKPS])([SHWAPEBUQVXMTG])(\d+)(?!\d)", re.IGNORECASE)


_LANE = re.compile(r"(?:^|[_\-. ])f(\d+[A-Za-z]*)(?=$|[_\-. ])", re.IGNORECASE)


LANE_TOKEN = re.compile(r"_f\d+[A-Za-z]*(?=_|$)", re.IGNORECASE)


_KRYSS = re.compile(r"_S(\d+)D(\d+)_m(\d+)_([KSA])D(\d+)")


_STREKNING = re.compile(r"S(\d+)D(\d+)")


_METER_LANE = re.compile(r"(?<!k)m(\d+)_f", re.IGNORECASE)


_METER_KM = re.compile(r"km(\d{2})[_,.](\d{3})", re.IGNORECASE)


_METER_ANY = re.compile(r"(?:^|_)m(\d+)(?=_|$)")


_HP = re.compile(r"hp(\d+)", re.IGNORECASE)


_FYLKE_DIR = re.compile(r"^(\d{2})\b")


_FYLKE_FILE = re.compile(r"^Fy(\d{2})(?!\d)", re.IGNORECASE)


@dataclass(frozen=True)
class LaneCode:
    """A lane code such as ``5K``: lane number and optional lane-type letters."""

    number: int
    suffix: str

    def __str__(self) -> str:
        return f"{self.number}{self.suffix}"


def parse_lane_code(code: str) -> LaneCode | None:
    """``"F5K"``, ``"f05k"`` or ``"5K"`` → ``LaneCode(5, "K")``; None when it is not a lane code."""
    match = re.fullmatch(r"[fF]?(\d+)([A-Za-z]*)", code.strip())
    if match is None:
        return None
    return LaneCode(int(match.group(1)), match.group(2).upper())


@dataclass(frozen=True)
class PathInfo:
    """Road reference values parsed from a file path (all strings, zeros stripped)."""

    fylke: str | None = None
    vegkat: str | None = None
    vegstat: str | None = None
    vegnr: str | None = None
    strekning: str | None = None
    delstrekning: str | None = None
    ankerpunkt: str | None = None
    kryssdel: str | None = None
    sideanleggsdel: str | None = None
    side_letter: str | None = None  # "S" or "A" for a sideanlegg
    meter: str | None = None
    feltkode: str | None = None
    hp: str | None = None


def road_code(text: str) -> tuple[str, str, str] | None:
    match = _ROAD.search(text)
    if match is None:
        return None
    return match.group(1).upper(), match.group(2).upper(), strip_zeros(match.group(3))


def parse_path(path: str | os.PathLike[str]) -> PathInfo:
    """Road reference values from the directory names and the file name (``Fy50_Ev6_S1D1_m00123_f1.jpg``)."""
    parts = split_path(os.fspath(path))
    if not parts:
        return PathInfo()
    filename = parts[-1]
    stem = filename.rsplit(".", 1)[0] if "." in filename else filename
    values: dict[str, str | None] = {}

    for element in parts:
        match = _FYLKE_DIR.match(element)
        if match and match.group(1) in _LEGAL_FYLKER:
            values["fylke"] = strip_zeros(match.group(1))
    if "fylke" not in values:
        match = _FYLKE_FILE.match(stem)
        if match and match.group(1) in _LEGAL_FYLKER:
            values["fylke"] = strip_zeros(match.group(1))

    for element in [stem, *reversed(parts[:-1])]:
        road = road_code(element)
        if road is not None:
            values["vegkat"], values["vegstat"], values["vegnr"] = road
            break

    kryss = _KRYSS.search(stem)
    if kryss is not None:
        values["strekning"] = strip_zeros(kryss.group(1))
        values["delstrekning"] = strip_zeros(kryss.group(2))
        values["ankerpunkt"] = strip_zeros(kryss.group(3))
        if kryss.group(4) == "K":
            values["kryssdel"] = strip_zeros(kryss.group(5))
        else:
            values["sideanleggsdel"] = strip_zeros(kryss.group(5))
            values["side_letter"] = kryss.group(4)
    else:
        for token in stem.split("_"):
            match = _STREKNING.fullmatch(token)
            if match:
                values["strekning"], values["delstrekning"] = (strip_zeros(g) for g in match.groups())

    meter = _METER_LANE.search(stem)
    km = _METER_KM.search(stem)
    if meter is not None:
        values["meter"] = strip_zeros(meter.group(1))
    elif km is not None:
        values["meter"] = str(1000 * int(km.group(1)) + int(km.group(2)))
    else:
        anchor = kryss.start(3) - 2 if kryss is not None else -1  # "_m<ankerpunkt>" is not the meter
        candidates = [m for m in _METER_ANY.finditer(stem) if m.start() != anchor]
        if candidates:
            values["meter"] = strip_zeros(candidates[-1].group(1))

    for element in parts:  # last match wins, as in the original
        for match in _LANE.finditer(element if element != filename else stem):
            lane = parse_lane_code(match.group(1))
            if lane is not None:
                values["feltkode"] = str(lane)

    hp = _HP.search(stem) or next((m for m in (_HP.fullmatch(e) for e in parts[:-1]) if m), None)
    if hp is not None:
        values["hp"] = strip_zeros(hp.group(1))
    return PathInfo(**values)


def parse_road_ident(road_ident: str) -> dict[str, str]:
    """Split ``"FV63 S10D3 M12 KD3 m41"`` into vegkat, vegstat, vegnr, strekning, delstrekning,
    ankerpunkt, kryssdel / sideanleggsdel (+ side_letter) and meter; absent parts are left out."""
    out: dict[str, str] = {}
    for token in road_ident.split():
        if not out.get("vegkat") and (road := _ROAD.fullmatch(token)):
            out["vegkat"], out["vegstat"] = road.group(1).upper(), road.group(2).upper()
            out["vegnr"] = strip_zeros(road.group(3))
        elif match := _STREKNING.fullmatch(token):
            out["strekning"], out["delstrekning"] = (strip_zeros(g) for g in match.groups())
        elif match := re.fullmatch(r"M(\d+)", token):
            out["ankerpunkt"] = strip_zeros(match.group(1))
        elif match := re.fullmatch(r"([KSA])D(\d+)", token):
            if match.group(1) == "K":
                out["kryssdel"] = strip_zeros(match.group(2))
            else:
                out["sideanleggsdel"], out["side_letter"] = strip_zeros(match.group(2)), match.group(1)
        elif (match := re.fullmatch(r"m(\d+(?:[.,]\d+)?)", token)) and (
            number := decimal_or_none(match.group(1))
        ):
            out["meter"] = decimal_text(number)
    return out


def relative_input_dir(path: str | os.PathLike[str], top_dir: str) -> str | None:
    """Directories of ``path`` below the first element equal to ``top_dir`` (ignoring case), ``/``-joined.

    None when ``top_dir`` is not on the path.
    """
    dirs = split_path(os.fspath(path))[:-1]
    wanted = top_dir.casefold()
    for index, element in enumerate(dirs):
        if element.casefold() == wanted:
            return "/".join(dirs[index + 1 :])
    return None
