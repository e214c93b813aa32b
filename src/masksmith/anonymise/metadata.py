"""EXIF → output JSON of ``masksmith anonymise`` (the NPRA ``exif_*`` record), field by field.

Sources, weakest first; a stronger source overwrites a value when it has one:
path/filename → GPSInfo → ``ImageProperties`` XML (private tag 40055, old Viatech format) →
``ReflinkInfo`` XML (tag 40056: ``<ReflinkInfo>`` of March 2020 or ``<AdditionalInfoNorway2>`` of May 2020).
Personal fields (Driver, CarID, Comment) are removed from the XML before it is parsed or copied.
Everything here is pure except :func:`metadata_for_file` (reads the image) and :func:`write_metadata_json`.
"""

from __future__ import annotations

import json
import logging
import os
import re
import tempfile
import xml.etree.ElementTree as ET
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from masksmith.anonymise.config import CLASS_ORDER, COCO91_NAMES, AnonymiseConfig
from masksmith.errors import MediaError

__all__ = [
    "JSON_KEYS",
    "NOT_NULL_COLUMNS",
    "TAG_IMAGE_PROPERTIES",
    "TAG_REFLINK_INFO",
    "GpsFix",
    "LaneCode",
    "PathInfo",
    "ReflinkInfo",
    "build_metadata",
    "detected_objects",
    "format_wkt_point",
    "metadata_for_file",
    "missing_not_null",
    "normalize_exif",
    "parse_gps_info",
    "parse_lane_code",
    "parse_path",
    "parse_reflink_info",
    "parse_road_ident",
    "parse_wkt_point",
    "parse_xml_fields",
    "redact_xml",
    "relative_input_dir",
    "write_metadata_json",
]

_log = logging.getLogger(__name__)

TAG_IMAGE_PROPERTIES = 40055
TAG_REFLINK_INFO = 40056
_TAG_MODEL = 272
_TAG_DATETIME = 306
_TAG_XPTITLE = 40091
_TAG_EXIF_IFD = 34665
_TAG_GPS_IFD = 34853
_TAG_DATETIME_ORIGINAL = 36867
_TAG_EXIF_WIDTH = 40962
_TAG_EXIF_HEIGHT = 40963

#: The 52 keys of the output JSON, in the original's order.
JSON_KEYS: tuple[str, ...] = (
    "exif_tid", "exif_dato", "exif_dataeier", "exif_camera", "exif_imagetype", "exif_imagewidth",
    "exif_imageheight", "exif_speed_ms", "exif_heading", "exif_gpsposisjon", "exif_altitude", "exif_moh",
    "exif_strekningsnavn", "exif_fylke", "exif_vegkat", "exif_vegstat", "exif_vegnr", "exif_roadtype",
    "exif_hp", "exif_strekning", "exif_delstrekning", "exif_ankerpunkt", "exif_kryssdel",
    "exif_sideanleggsdel", "exif_meter", "exif_feltkode", "exif_mappenavn", "exif_filnavn",
    "exif_strekningreferanse", "exif_imageproperties", "exif_basislinje", "exif_reflinkinfo",
    "exif_reflinkid", "exif_reflinkposisjon", "exif_roadident", "exif_roll", "exif_pitch",
    "exif_geoidalseparation", "exif_northrmserror", "exif_eastrmserror", "exif_downrmserror",
    "exif_rollrmserror", "exif_pitchrmserror", "exif_headingrmserror", "exif_xptitle", "exif_kvalitet",
    "bildeid", "senterlinjeposisjon", "detekterte_objekter", "versjon", "mappenavn", "exif_preview_filnavn",
)  # fmt: skip

#: NOT NULL columns of the VEGBILDER table → the JSON key each is formatted from.
NOT_NULL_COLUMNS: dict[str, str] = {
    "ID": "bildeid",
    "Tidspunkt": "exif_tid",
    "Dataeier": "exif_dataeier",
    "Bildetype": "exif_imagetype",
    "FylkeNummer": "exif_fylke",
    "Vegkategori": "exif_vegkat",
    "Vegstatus": "exif_vegstat",
    "Vegnummer": "exif_vegnr",
    "Meter": "exif_meter",
    "Mappenavn": "mappenavn",
    "Filnavn": "exif_filnavn",
    "Aar": "exif_tid",
    "Feltkode": "exif_feltkode",
}

# Counties accepted from a path element: the original's 01..20 (no 13) and 50, plus the county numbers
# introduced by the 2020 and 2024 reforms, which the original's list predates.
_LEGAL_FYLKER = frozenset(
    [*(f"{n:02d}" for n in range(1, 21) if n != 13), "50", "30", "31", "32", "33", "34", "38", "39", "40",
     "42", "46", "54", "55", "56"]
)  # fmt: skip

_PERSONAL_TAGS = ("Driver", "CarID", "Comment")
_REDACT_ELEMENT = re.compile(
    r"<\s*(?P<tag>(?:[\w.-]+:)?(?:" + "|".join(_PERSONAL_TAGS) + r"))\b[^>]*?(?:/>|>.*?<\s*/\s*(?P=tag)\s*>)",
    re.IGNORECASE | re.DOTALL,
)
_REDACT_ATTRIBUTE = re.compile(
    r"\s(?:" + "|".join(_PERSONAL_TAGS) + r")\s*=\s*(?:\"[^\"]*\"|'[^']*')", re.IGNORECASE
)
_ROAD = re.compile(r"(?<![A-Za-z])([ERFKPS])([SHWAPEBUQVXMTG])(\d+)(?!\d)", re.IGNORECASE)
_LANE = re.compile(r"(?:^|[_\-. ])f(\d+[A-Za-z]*)(?=$|[_\-. ])", re.IGNORECASE)
_LANE_TOKEN = re.compile(r"_f\d+[A-Za-z]*(?=_|$)", re.IGNORECASE)
_KRYSS = re.compile(r"_S(\d+)D(\d+)_m(\d+)_([KSA])D(\d+)")
_STREKNING = re.compile(r"S(\d+)D(\d+)")
_METER_LANE = re.compile(r"(?<!k)m(\d+)_f", re.IGNORECASE)
_METER_KM = re.compile(r"km(\d{2})[_,.](\d{3})", re.IGNORECASE)
_METER_ANY = re.compile(r"(?:^|_)m(\d+)(?=_|$)")
_HP = re.compile(r"hp(\d+)", re.IGNORECASE)
_FYLKE_DIR = re.compile(r"^(\d{2})\b")
_FYLKE_FILE = re.compile(r"^Fy(\d{2})(?!\d)", re.IGNORECASE)
_DATETIME = re.compile(r"(\d{4})\D(\d{1,2})\D(\d{1,2})[T ](\d{1,2})\D(\d{2})\D(\d{2})")
_WKT = re.compile(
    r"^srid=(\d+);POINT Z\(\s*(\S+)\s+(\S+)\s+(\S+)\s*\)$",
)


# ---------------------------------------------------------------------------------------------------------
# Small value helpers


def _text(value: Any) -> str | None:
    """A stripped string, or None for empty/NaN."""
    if value is None:
        return None
    if isinstance(value, bytes):
        value = value.decode("utf-8", errors="replace")
    text = str(value).replace("\x00", "").strip()
    return None if text == "" or text.lower() == "nan" else text


def _decimal(value: Any) -> Decimal | None:
    text = _text(value)
    if text is None:
        return None
    try:
        number = Decimal(text.replace(",", "."))
    except InvalidOperation:
        return None
    return number if number.is_finite() else None


def _dec_str(number: Decimal) -> str:
    """Plain decimal text: integral values without a point, never an exponent."""
    if number == number.to_integral_value():
        return str(int(number))
    return format(number.normalize(), "f")


def _float_str(value: float, places: int = 8) -> str:
    return _dec_str(Decimal(repr(round(value, places))))


def _number_text(value: Any) -> str | None:
    """Numbers as plain decimal text (comma decimals fixed); other text as is; NaN/empty → None."""
    number = _decimal(value)
    return _dec_str(number) if number is not None else _text(value)


def _strip_zeros(digits: str) -> str:
    return digits.lstrip("0") or "0"


def _split_path(path: str) -> list[str]:
    # Both separators: the XML holds Windows paths whatever the platform we run on.
    return [p for p in re.split(r"[\\/]+", path) if p]


def _rational(value: Any) -> float | None:
    try:
        if isinstance(value, tuple | list) and len(value) == 2 and all(isinstance(v, int) for v in value):
            return value[0] / value[1] if value[1] else None
        result = float(value)
    except (TypeError, ValueError, ZeroDivisionError):
        return None
    return result if result == result and abs(result) != float("inf") else None


def _ref(value: Any) -> str:
    text = _text(value.decode("latin-1") if isinstance(value, bytes) else value)
    return (text or "").upper()


# ---------------------------------------------------------------------------------------------------------
# EXIF containers


def _tag_ids() -> dict[str, int]:
    from PIL import ExifTags

    names = {name: tag for tag, name in ExifTags.TAGS.items()}
    names.update({"ImageProperties": TAG_IMAGE_PROPERTIES, "ReflinkInfo": TAG_REFLINK_INFO})
    return names


def _gps_tag_ids() -> dict[str, int]:
    from PIL import ExifTags

    return {name: tag for tag, name in ExifTags.GPSTAGS.items()}


def _keyed(mapping: Mapping[Any, Any], names: Mapping[str, int]) -> dict[int, Any]:
    out: dict[int, Any] = {}
    for key, value in mapping.items():
        tag = key if isinstance(key, int) else names.get(str(key))
        if tag is not None:
            out[tag] = value
    return out


def normalize_exif(exif: Mapping[Any, Any] | bytes | Any | None) -> dict[int, Any]:
    """Flatten EXIF into ``{tag id: value}`` with GPS tags as a dict under 34853 (like ``_getexif()``).

    Accepts a tag mapping (ids or names, GPS as a nested mapping), a piexif dict (``"0th"``, ``"Exif"``,
    ``"GPS"``), a ``PIL.Image.Exif``, raw EXIF bytes (with or without the ``Exif\\0\\0`` header) or None.
    Unreadable bytes give ``{}`` (treated as "no EXIF").
    """
    from PIL import Image

    if exif is None:
        return {}
    if isinstance(exif, bytes | bytearray):
        if not exif:
            return {}
        loaded = Image.Exif()
        try:
            loaded.load(bytes(exif))
        except Exception as exc:  # PIL raises several types for garbage
            _log.warning("unreadable EXIF block ignored: %s", exc)
            return {}
        exif = loaded
    if isinstance(exif, Image.Exif):
        flat: dict[int, Any] = {k: v for k, v in exif.items() if k not in (_TAG_EXIF_IFD, _TAG_GPS_IFD)}
        try:
            flat.update(exif.get_ifd(_TAG_EXIF_IFD))
            gps = dict(exif.get_ifd(_TAG_GPS_IFD))
        except Exception as exc:
            _log.warning("unreadable EXIF sub-IFD ignored: %s", exc)
            gps = {}
        if gps:
            flat[_TAG_GPS_IFD] = gps
        return flat
    if not isinstance(exif, Mapping):
        raise TypeError(f"unsupported EXIF container {type(exif).__name__}")
    if any(key in exif for key in ("0th", "Exif", "GPS")):  # piexif layout
        flat = {}
        for ifd in ("0th", "Exif"):
            ifd_tags = exif.get(ifd) or {}
            flat.update({k: v for k, v in ifd_tags.items() if k not in (_TAG_EXIF_IFD, _TAG_GPS_IFD)})
        if exif.get("GPS"):
            flat[_TAG_GPS_IFD] = dict(exif["GPS"])
        return flat
    flat = _keyed(exif, _tag_ids())
    gps_value = flat.get(_TAG_GPS_IFD)
    if isinstance(gps_value, Mapping):
        flat[_TAG_GPS_IFD] = _keyed(gps_value, _gps_tag_ids())
    else:
        flat.pop(_TAG_GPS_IFD, None)
    flat.pop(_TAG_EXIF_IFD, None)
    return flat


# ---------------------------------------------------------------------------------------------------------
# XML (ImageProperties / ReflinkInfo)


def _xml_text(value: Any) -> str | None:
    """Decode a private-tag XML value; junk before the first ``<`` (BOMs, a stray byte) is dropped."""
    if value is None:
        return None
    if isinstance(value, tuple | list):
        try:
            value = bytes(value)
        except (TypeError, ValueError):
            return None
    if isinstance(value, bytes | bytearray):
        raw = bytes(value)
        if raw.startswith((b"\xff\xfe", b"\xfe\xff")) or (len(raw) > 1 and raw[1:2] == b"\x00"):
            text = raw.decode("utf-16", errors="replace")
        else:
            text = raw.decode("utf-8", errors="replace")
    else:
        text = str(value)
    start = text.find("<")
    if start < 0:
        return None
    return text[start:].rstrip("\x00 \t\r\n")


def redact_xml(xml: str) -> str:
    """Remove the personal elements and attributes (Driver, CarID, Comment) from an XML string."""
    return _REDACT_ATTRIBUTE.sub("", _REDACT_ELEMENT.sub("", xml))


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1].rsplit(":", 1)[-1].lower()


def parse_xml_fields(xml: str) -> tuple[str, dict[str, str]] | None:
    """``(root name, {lower-cased path: text})`` of an XML string, e.g. ``"gnssinfo/latitude"`` or
    ``"@date"`` for a root attribute; the first occurrence of a path wins. None if it is not XML.
    Personal fields are redacted first.
    """
    try:
        root = ET.fromstring(redact_xml(xml))
    except ET.ParseError:
        return None
    fields: dict[str, str] = {}

    def visit(element: ET.Element, prefix: str) -> None:
        for name, value in element.attrib.items():
            fields.setdefault(f"{prefix}@{_local(name)}", value.strip())
        for child in element:
            path = f"{prefix}{_local(child.tag)}"
            if child.text is not None and child.text.strip():
                fields.setdefault(path, child.text.strip())
            visit(child, path + "/")

    visit(root, "")
    return _local(root.tag), fields


@dataclass(frozen=True)
class ReflinkInfo:
    """ReflinkInfo tag contents; ``format`` is ``"reflink"`` (March 2020) or ``"norway2"`` (May 2020)."""

    format: str
    reflink_id: str | None = None
    reflink_position: str | None = None
    road_ident: str | None = None
    gnss: dict[str, str] = field(default_factory=dict)  # lower-cased GnssInfo child → text
    image_info: dict[str, str] = field(default_factory=dict)  # lower-cased ImageInfo child → text

    def gnss_value(self, name: str) -> str | None:
        """GnssInfo value by name (case-insensitive); None when empty or NaN."""
        return _text(self.gnss.get(name.lower()))


def parse_reflink_info(xml: str) -> ReflinkInfo | None:
    """Parse either ReflinkInfo format; None when the XML is unreadable or of an unknown root."""
    parsed = parse_xml_fields(xml)
    if parsed is None:
        return None
    root, fields = parsed
    if root == "reflinkinfo":
        return ReflinkInfo(
            format="reflink",
            reflink_id=_text(fields.get("reflinkid")),
            reflink_position=_number_text(fields.get("reflinkposition")),
        )
    if root.startswith("additionalinfonorway"):

        def group(name: str) -> dict[str, str]:
            prefix = name + "/"
            children = {k[len(prefix) :]: v for k, v in fields.items() if k.startswith(prefix)}
            return {k: v for k, v in children.items() if "/" not in k}

        return ReflinkInfo(
            format="norway2",
            reflink_id=_text(fields.get("roadinfo/reflinkid")),
            reflink_position=_number_text(fields.get("roadinfo/reflinkposition")),
            road_ident=_text(fields.get("roadinfo/roadident")),
            gnss=group("gnssinfo"),
            image_info=group("imageinfo"),
        )
    return None


# ---------------------------------------------------------------------------------------------------------
# GPSInfo


@dataclass(frozen=True)
class GpsFix:
    """Position and motion from the standard GPSInfo IFD."""

    latitude: float | None = None
    longitude: float | None = None
    altitude: float | None = None
    speed_ms: float | None = None
    heading: float | None = None


def _dms(value: Any) -> float | None:
    if isinstance(value, tuple | list) and len(value) == 3:
        parts = [_rational(v) for v in value]
        if any(p is None for p in parts):
            return None
        d, m, s = (p for p in parts if p is not None)
        return d + m / 60 + s / 3600
    return _rational(value)


# GPSSpeedRef divisors to m/s. For "K" the original divides by 1: its cameras write m/s under the km/h ref.
_SPEED_DIVISOR = {"K": 1.0, "M": 2.237, "N": 1.944}


def parse_gps_info(gps: Mapping[int, Any] | None) -> GpsFix | None:
    """Decode a GPSInfo dict (``IFDRational`` or ``(num, den)`` values); None when it holds no data."""
    if not gps:
        return None
    lat = _dms(gps.get(2))
    lon = _dms(gps.get(4))
    if lat is not None and _ref(gps.get(1)) == "S":
        lat = -lat
    if lon is not None and _ref(gps.get(3)) == "W":
        lon = -lon
    alt = _rational(gps.get(6))
    alt_ref = gps.get(5)
    if alt is not None and (alt_ref in (1, b"\x01") or _ref(alt_ref) == "1"):
        alt = -alt
    speed = _rational(gps.get(13))
    if speed is not None:
        speed = speed / _SPEED_DIVISOR.get(_ref(gps.get(12)) or "K", 1.0)
    heading = _rational(gps.get(17))
    fix = GpsFix(latitude=lat, longitude=lon, altitude=alt, speed_ms=speed, heading=heading)
    return fix if fix != GpsFix() else None


# ---------------------------------------------------------------------------------------------------------
# Path and road references


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


def _road(text: str) -> tuple[str, str, str] | None:
    match = _ROAD.search(text)
    if match is None:
        return None
    return match.group(1).upper(), match.group(2).upper(), _strip_zeros(match.group(3))


def parse_path(path: str | os.PathLike[str]) -> PathInfo:
    """Road reference values from the directory names and the file name (``Fy50_Ev6_S1D1_m00123_f1.jpg``)."""
    parts = _split_path(os.fspath(path))
    if not parts:
        return PathInfo()
    filename = parts[-1]
    stem = filename.rsplit(".", 1)[0] if "." in filename else filename
    values: dict[str, str | None] = {}

    for element in parts:
        match = _FYLKE_DIR.match(element)
        if match and match.group(1) in _LEGAL_FYLKER:
            values["fylke"] = _strip_zeros(match.group(1))
    if "fylke" not in values:
        match = _FYLKE_FILE.match(stem)
        if match and match.group(1) in _LEGAL_FYLKER:
            values["fylke"] = _strip_zeros(match.group(1))

    for element in [stem, *reversed(parts[:-1])]:
        road = _road(element)
        if road is not None:
            values["vegkat"], values["vegstat"], values["vegnr"] = road
            break

    kryss = _KRYSS.search(stem)
    if kryss is not None:
        values["strekning"] = _strip_zeros(kryss.group(1))
        values["delstrekning"] = _strip_zeros(kryss.group(2))
        values["ankerpunkt"] = _strip_zeros(kryss.group(3))
        if kryss.group(4) == "K":
            values["kryssdel"] = _strip_zeros(kryss.group(5))
        else:
            values["sideanleggsdel"] = _strip_zeros(kryss.group(5))
            values["side_letter"] = kryss.group(4)
    else:
        for token in stem.split("_"):
            match = _STREKNING.fullmatch(token)
            if match:
                values["strekning"], values["delstrekning"] = (_strip_zeros(g) for g in match.groups())

    meter = _METER_LANE.search(stem)
    km = _METER_KM.search(stem)
    if meter is not None:
        values["meter"] = _strip_zeros(meter.group(1))
    elif km is not None:
        values["meter"] = str(1000 * int(km.group(1)) + int(km.group(2)))
    else:
        anchor = kryss.start(3) - 2 if kryss is not None else -1  # "_m<ankerpunkt>" is not the meter
        candidates = [m for m in _METER_ANY.finditer(stem) if m.start() != anchor]
        if candidates:
            values["meter"] = _strip_zeros(candidates[-1].group(1))

    for element in parts:  # last match wins, as in the original
        for match in _LANE.finditer(element if element != filename else stem):
            lane = parse_lane_code(match.group(1))
            if lane is not None:
                values["feltkode"] = str(lane)

    hp = _HP.search(stem) or next((m for m in (_HP.fullmatch(e) for e in parts[:-1]) if m), None)
    if hp is not None:
        values["hp"] = _strip_zeros(hp.group(1))
    return PathInfo(**values)


def parse_road_ident(road_ident: str) -> dict[str, str]:
    """Split ``"FV63 S10D3 M12 KD3 m41"`` into vegkat, vegstat, vegnr, strekning, delstrekning,
    ankerpunkt, kryssdel / sideanleggsdel (+ side_letter) and meter; absent parts are left out."""
    out: dict[str, str] = {}
    for token in road_ident.split():
        if not out.get("vegkat") and (road := _ROAD.fullmatch(token)):
            out["vegkat"], out["vegstat"] = road.group(1).upper(), road.group(2).upper()
            out["vegnr"] = _strip_zeros(road.group(3))
        elif match := _STREKNING.fullmatch(token):
            out["strekning"], out["delstrekning"] = (_strip_zeros(g) for g in match.groups())
        elif match := re.fullmatch(r"M(\d+)", token):
            out["ankerpunkt"] = _strip_zeros(match.group(1))
        elif match := re.fullmatch(r"([KSA])D(\d+)", token):
            if match.group(1) == "K":
                out["kryssdel"] = _strip_zeros(match.group(2))
            else:
                out["sideanleggsdel"], out["side_letter"] = _strip_zeros(match.group(2)), match.group(1)
        elif (match := re.fullmatch(r"m(\d+(?:[.,]\d+)?)", token)) and (number := _decimal(match.group(1))):
            out["meter"] = _dec_str(number)
    return out


def relative_input_dir(path: str | os.PathLike[str], top_dir: str) -> str | None:
    """Directories of ``path`` below the first element equal to ``top_dir`` (ignoring case), ``/``-joined.

    None when ``top_dir`` is not on the path.
    """
    dirs = _split_path(os.fspath(path))[:-1]
    wanted = top_dir.casefold()
    for index, element in enumerate(dirs):
        if element.casefold() == wanted:
            return "/".join(dirs[index + 1 :])
    return None


# ---------------------------------------------------------------------------------------------------------
# Output helpers


def format_wkt_point(lon: str, lat: str, alt: str | None) -> str:
    """``srid=4326;POINT Z( lon lat alt )``; a missing altitude is written ``NaN``."""
    return f"srid=4326;POINT Z( {lon} {lat} {alt if alt is not None else 'NaN'} )"


def parse_wkt_point(wkt: str) -> tuple[int, float, float, float | None] | None:
    """``(srid, lon, lat, alt)`` of a WKT written by :func:`format_wkt_point` (NaN altitude → None)."""
    match = _WKT.match(wkt.strip())
    if match is None:
        return None
    try:
        lon, lat, alt = (float(g.replace(",", ".")) for g in match.groups()[1:])
    except ValueError:
        return None
    return int(match.group(1)), lon, lat, (None if alt != alt else alt)


def detected_objects(labels: Mapping[str, int] | Iterable[str | int] | None) -> dict[str, str] | None:
    """``{label: count as string}`` ordered by COCO id (then face, licence_plate, then others by name).

    ``labels`` is a ``{name: count}`` mapping or an iterable of names / COCO ids (1..90).
    """
    if labels is None:
        return None
    counts: dict[str, int] = {}
    if isinstance(labels, Mapping):
        for name, count in labels.items():
            if count:
                counts[str(name)] = counts.get(str(name), 0) + int(count)
    else:
        for label in labels:
            name = COCO91_NAMES.get(int(label), str(label)) if not isinstance(label, str) else label
            counts[name] = counts.get(name, 0) + 1
    order = {name: index for index, name in enumerate(CLASS_ORDER)}
    ranked = sorted(counts, key=lambda n: (order.get(n, len(order)), n))
    return {name: str(counts[name]) for name in ranked}


def _exif_datetime(value: Any) -> datetime | None:
    text = _text(value)
    if text is None:
        return None
    match = _DATETIME.search(text)
    if match is None:
        return None
    try:
        year, month, day, hour, minute, second = (int(g) for g in match.groups())
        return datetime(year, month, day, hour, minute, second)
    except ValueError:
        return None


def _tid_datetime(tid: str) -> datetime | None:
    try:
        return datetime.fromisoformat(tid)
    except ValueError:
        return None


def _xptitle(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, tuple | list):
        try:
            value = bytes(value)
        except (TypeError, ValueError):
            return ""
    if isinstance(value, bytes | bytearray):
        return bytes(value).decode("utf-16-le", errors="replace").replace("\x00", "").strip()
    return str(value).replace("\x00", "").strip()


def _first(*values: str | None) -> str | None:
    return next((v for v in values if v), None)


def _mappenavn(template: str, values: Mapping[str, str | None], *, remove_imagetype: bool) -> str:
    # Substituted values may contain braces (odd folder names); format_map does not re-parse them.
    result = template.format_map({k: (v if v is not None else "") for k, v in values.items()})
    if remove_imagetype:
        result = re.sub(r"(\d{4})/(?:planar|360|dekke)(?=/|$)", r"\1", result, flags=re.IGNORECASE)
    return result


# ---------------------------------------------------------------------------------------------------------
# The record


def build_metadata(
    image_path: str | os.PathLike[str],
    exif: Mapping[Any, Any] | bytes | Any | None,
    *,
    config: AnonymiseConfig,
    image_size: tuple[int, int] | None = None,
    detected: Mapping[str, int] | Iterable[str | int] | None = None,
    file_time: datetime | None = None,
    legacy: bool = False,
) -> dict[str, Any]:
    """The output JSON record (52 keys, stable order) for one image.

    ``image_size`` is (width, height); ``file_time`` (min of mtime/ctime) dates images without EXIF time;
    ``detected`` fills ``detekterte_objekter`` (None → null); ``legacy`` follows the pre-2022 EXIF
    worker (quality from the ImageProperties GeoTag, old road-ident and strekningreferanse forms).
    """
    meta = config.metadata
    tags = normalize_exif(exif)
    has_exif = bool(tags)
    local_parts = _split_path(os.fspath(image_path))
    local_name = local_parts[-1] if local_parts else ""
    local_stem = local_name.rsplit(".", 1)[0] if "." in local_name else local_name

    ip_xml = _xml_text(tags.get(TAG_IMAGE_PROPERTIES))
    rl_xml = _xml_text(tags.get(TAG_REFLINK_INFO))
    ip_parsed = parse_xml_fields(ip_xml) if ip_xml else None
    ip = ip_parsed[1] if ip_parsed else {}
    reflink = parse_reflink_info(rl_xml) if rl_xml else None
    if rl_xml and reflink is None:
        _log.warning("%s: ReflinkInfo is not readable XML; its values are left empty", image_path)
    gps_raw = tags.get(_TAG_GPS_IFD)
    gps = parse_gps_info(gps_raw if isinstance(gps_raw, Mapping) else None)
    rl_gnss = reflink.gnss_value if reflink else (lambda name: None)
    rl_info = reflink.image_info if reflink else {}
    ident = parse_road_ident(reflink.road_ident) if reflink and reflink.road_ident else {}
    pathinfo = parse_path(image_path)

    # Time: EXIF DateTimeOriginal → DateTime → ImageProperties@Date → file time.
    taken = (
        _exif_datetime(tags.get(_TAG_DATETIME_ORIGINAL))
        or _exif_datetime(tags.get(_TAG_DATETIME))
        or _exif_datetime(ip.get("@date"))
    )
    if taken is not None:
        tid: str | None = taken.strftime("%Y-%m-%dT%H:%M:%S")
    elif file_time is not None:
        tid = file_time.strftime("%Y-%m-%dT%H:%M:%S.%f")
        taken = file_time
    else:
        tid = None

    # Position: GnssInfo → ImageProperties GeoTag → GPSInfo.
    lat = lon = alt = None
    if reflink and rl_gnss("Latitude") and rl_gnss("Longitude"):
        lat, lon = _number_text(rl_gnss("Latitude")), _number_text(rl_gnss("Longitude"))
        alt = _number_text(rl_gnss("Altitude"))
    elif _decimal(ip.get("geotag/dlatitude")) is not None and _decimal(ip.get("geotag/dlongitude")):
        lat, lon = _number_text(ip["geotag/dlatitude"]), _number_text(ip["geotag/dlongitude"])
        alt = _number_text(ip.get("geotag/daltitude"))
    elif gps is not None and gps.latitude is not None and gps.longitude is not None:
        lat, lon = _float_str(gps.latitude), _float_str(gps.longitude)
        alt = _float_str(gps.altitude, 3) if gps.altitude is not None else None
    position = format_wkt_point(lon, lat, alt) if lat is not None and lon is not None else None

    moh = None
    if reflink is not None:
        gnss_alt, geoid = _decimal(rl_gnss("Altitude")), _decimal(rl_gnss("GeoidalSeparation"))
        if gnss_alt is not None and geoid is not None:
            moh = _dec_str(gnss_alt - geoid)  # exact: no float artefacts like 45.300000000000004

    speed_value = _decimal(rl_gnss("Speed")) if reflink else None
    if speed_value is None:
        speed_value = _decimal(ip.get("speed"))
    if speed_value is None and gps is not None and gps.speed_ms is not None:
        speed_value = Decimal(repr(gps.speed_ms))
    # Decimal rounding: "%.2f" of a float turns 12.345 into "12.34".
    speed = str(speed_value.quantize(Decimal("0.01"), ROUND_HALF_UP)) if speed_value is not None else None

    heading = _first(
        _number_text(rl_gnss("Heading")) if reflink else None,
        _number_text(ip.get("heading")),
        _float_str(gps.heading, 6) if gps is not None and gps.heading is not None else None,
    )

    # Road reference: embedded metadata first, then the path.
    vc_road = _road(ip.get("vegcomvalues/vcroad", ""))
    vegkat, vegstat, vegnr = vc_road or (
        (ident["vegkat"], ident["vegstat"], ident["vegnr"])
        if "vegkat" in ident
        else (pathinfo.vegkat, pathinfo.vegstat, pathinfo.vegnr)
    )
    strekning = _first(ident.get("strekning"), pathinfo.strekning)
    delstrekning = _first(ident.get("delstrekning"), pathinfo.delstrekning)
    ankerpunkt = _first(pathinfo.ankerpunkt, ident.get("ankerpunkt"))
    kryssdel = _first(pathinfo.kryssdel, ident.get("kryssdel"))
    sideanleggsdel = _first(pathinfo.sideanleggsdel, ident.get("sideanleggsdel"))
    side_letter = _first(pathinfo.side_letter, ident.get("side_letter"))

    embedded_meter = _decimal(rl_info.get("meter"))
    if embedded_meter is None:
        embedded_meter = _decimal(ip.get("vegcomvalues/vcmeter"))
    meter: str | None
    if embedded_meter is not None:
        meter = _dec_str(embedded_meter.quantize(Decimal("0.01"), ROUND_HALF_UP))
    else:
        meter = _first(ident.get("meter"), pathinfo.meter)

    lane_text = _first(_text(ip.get("vegcomvalues/vclanename")), _text(ip.get("vegcomvalues/vclane")))
    lane = parse_lane_code(lane_text) if lane_text else None
    feltkode = str(lane) if lane is not None else pathinfo.feltkode

    fylke_embedded = _first(_text(rl_info.get("fylke")), _text(ip.get("vegcomvalues/vccountyno")))
    fylke = _strip_zeros(fylke_embedded) if fylke_embedded and fylke_embedded.isdigit() else fylke_embedded
    fylke = fylke or pathinfo.fylke
    if meta.force_fylke or not fylke:
        # The original wrote the string "None" here when fylkesnummer was unset.
        fylke = str(meta.fylkesnummer) if meta.fylkesnummer is not None else None

    vc_hp = _text(ip.get("vegcomvalues/vchp"))
    hp = _strip_zeros(vc_hp) if vc_hp and vc_hp.isdigit() else vc_hp
    if hp is None and legacy:
        hp = pathinfo.hp

    storage = _first(_text(rl_info.get("storagefile")), _text(ip.get("imagename")))
    storage_parts = _split_path(storage) if storage else []
    exif_mappenavn = "/".join(storage_parts[:-1]) if len(storage_parts) > 1 else None
    filnavn = storage_parts[-1] if storage_parts else (local_name or None)

    if legacy:
        ref_parts = storage_parts or local_parts
        strekningreferanse = "/".join(ref_parts[-4:-2]) if len(ref_parts) >= 4 else None
    else:
        strekningreferanse = f"S{strekning}/D{delstrekning}" if strekning and delstrekning else None

    road_ident = reflink.road_ident if reflink and reflink.road_ident else None
    if road_ident is None and vegkat and vegstat and vegnr:
        if legacy:
            road_ident = " ".join(p for p in (f"{vegkat}{vegstat}{vegnr}", hp, meter, feltkode) if p)
        elif strekning and delstrekning and meter:
            road_ident = f"{vegkat}{vegstat}{vegnr} S{strekning}D{delstrekning}"
            if ankerpunkt:
                road_ident += f" M{ankerpunkt}"
            if sideanleggsdel:
                road_ident += f" {side_letter or 'A'}D{sideanleggsdel}"
            elif kryssdel:
                road_ident += f" KD{kryssdel}"
            road_ident += f" m{meter}"

    baseline_keys = ("baselineposition", "baselinetickinterval", "baselinetickoffset", "tiltpoint", "tilt")
    baseline = ";".join(ip.get(k, "") for k in baseline_keys) if any(k in ip for k in baseline_keys) else None

    if not has_exif:
        quality = "0"
    elif legacy:
        quality = "2" if ip.get("geotag/dlatitude") and ip.get("geotag/dlongitude") else "1"
    else:
        gnss_complete = all(rl_gnss(n) for n in ("Latitude", "Longitude", "Altitude"))
        quality = "2" if reflink is not None and (gnss_complete or not config.is_360) else "1"

    width = height = None
    if image_size is not None:
        width, height = str(image_size[0]), str(image_size[1])
    elif _rational(tags.get(_TAG_EXIF_WIDTH)) and _rational(tags.get(_TAG_EXIF_HEIGHT)):
        width, height = str(int(tags[_TAG_EXIF_WIDTH])), str(int(tags[_TAG_EXIF_HEIGHT]))

    bildeid = None
    tid_time = _tid_datetime(tid) if tid else None
    if tid_time is not None and filnavn:
        stem = filnavn.rsplit(".", 1)[0] if "." in filnavn else filnavn
        bildeid = f"{tid_time:%Y-%m-%dT%H.%M.%S}_{_LANE_TOKEN.sub('', stem)}_{meta.image_type}"
        if feltkode:
            bildeid += f"_{feltkode}"

    rel = relative_input_dir(image_path, meta.exif_top_dir)
    if rel is None:
        # a folder-convention message: the run shows it once (see pipeline._OncePerRun)
        _log.warning(
            "%s: no folder %r on the path; mappenavn lacks it",
            image_path,
            meta.exif_top_dir,
            extra={"once_per_run": True},
        )
    mappenavn = _mappenavn(
        meta.exif_mappenavn,
        {
            "aar": f"{taken:%Y}" if taken else None,
            "maaned": f"{taken:%m}" if taken else None,
            "dag": f"{taken:%d}" if taken else None,
            "fylke": fylke.zfill(2) if fylke else None,
            "vegkat": vegkat,
            "vegstat": vegstat,
            "vegnr": vegnr,
            "meter": meter,
            "feltkode": feltkode,
            "strekningreferanse": strekningreferanse,
            "relative_input_dir": rel or "",
            "hp": hp,
        },
        remove_imagetype=meta.remove_imagetype_filepath,
    )

    record: dict[str, Any] = {
        "exif_tid": tid,
        "exif_dato": tid.split("T", 1)[0] if tid else None,
        "exif_dataeier": meta.data_eier,
        "exif_camera": _text(tags.get(_TAG_MODEL)),
        "exif_imagetype": meta.image_type,
        "exif_imagewidth": width,
        "exif_imageheight": height,
        "exif_speed_ms": speed,
        "exif_heading": heading,
        "exif_gpsposisjon": position,
        "exif_altitude": alt,
        "exif_moh": moh,
        "exif_strekningsnavn": _text(ip.get("vegcomvalues/vcarea")),
        "exif_fylke": fylke,
        "exif_vegkat": vegkat,
        "exif_vegstat": vegstat,
        "exif_vegnr": vegnr,
        "exif_roadtype": _text(rl_info.get("roadtype")) or "Ukjent",
        "exif_hp": hp,
        "exif_strekning": strekning,
        "exif_delstrekning": delstrekning,
        "exif_ankerpunkt": ankerpunkt,
        "exif_kryssdel": kryssdel,
        "exif_sideanleggsdel": sideanleggsdel,
        "exif_meter": meter,
        "exif_feltkode": feltkode,
        "exif_mappenavn": exif_mappenavn,
        "exif_filnavn": filnavn,
        "exif_strekningreferanse": strekningreferanse,
        "exif_imageproperties": redact_xml(ip_xml) if ip_xml else None,
        "exif_basislinje": baseline,
        "exif_reflinkinfo": redact_xml(rl_xml) if rl_xml else None,
        "exif_reflinkid": reflink.reflink_id if reflink else None,
        "exif_reflinkposisjon": reflink.reflink_position if reflink else None,
        "exif_roadident": road_ident,
        "exif_roll": _number_text(rl_gnss("Roll")),
        "exif_pitch": _number_text(rl_gnss("Pitch")),
        "exif_geoidalseparation": _number_text(rl_gnss("GeoidalSeparation")),
        "exif_northrmserror": _number_text(rl_gnss("NorthRmsError")),
        "exif_eastrmserror": _number_text(rl_gnss("EastRmsError")),
        "exif_downrmserror": _number_text(rl_gnss("DownRmsError")),
        "exif_rollrmserror": _number_text(rl_gnss("RollRmsError")),
        "exif_pitchrmserror": _number_text(rl_gnss("PitchRmsError")),
        "exif_headingrmserror": _number_text(rl_gnss("HeadingRmsError")),
        "exif_xptitle": _xptitle(tags.get(_TAG_XPTITLE)),
        "exif_kvalitet": quality,
        "bildeid": bildeid,
        "senterlinjeposisjon": None,
        "detekterte_objekter": detected_objects(detected),
        "versjon": config.version,
        "mappenavn": mappenavn,
        "exif_preview_filnavn": f"{local_stem}_preview.jpg" if config.outputs.any_preview else None,
    }
    assert tuple(record) == JSON_KEYS
    return record


def metadata_for_file(
    image_path: str | os.PathLike[str],
    *,
    config: AnonymiseConfig,
    detected: Mapping[str, int] | Iterable[str | int] | None = None,
    legacy: bool = False,
) -> dict[str, Any]:
    """Read EXIF, size and file times of ``image_path`` and build its record (:func:`build_metadata`)."""
    from PIL import Image, UnidentifiedImageError

    path = Path(image_path)
    try:
        with Image.open(path) as image:
            exif = image.getexif()
            tags = normalize_exif(exif)
            size = image.size
    except FileNotFoundError:
        raise MediaError(path, "unreadable", "file not found") from None
    except (UnidentifiedImageError, OSError) as exc:
        raise MediaError(path, "not an image", str(exc)) from None
    stat = path.stat()
    file_time = datetime.fromtimestamp(min(stat.st_mtime, stat.st_ctime))
    return build_metadata(
        path, tags, config=config, image_size=size, detected=detected, file_time=file_time, legacy=legacy
    )


def missing_not_null(data: Mapping[str, Any], *, primary_key: str = "bildeid") -> tuple[str, ...]:
    """JSON keys that would fill a NOT NULL column (or the primary key) with nothing.

    Unlike the original, 0 and ``"0"`` are values; None, empty strings and the string ``"None"`` are not.
    An empty tuple means the record can be inserted.
    """
    keys = dict.fromkeys([primary_key, *NOT_NULL_COLUMNS.values()])
    missing = []
    for key in keys:
        value = data.get(key)
        if value is None or (isinstance(value, str) and value.strip() in ("", "None")):
            missing.append(key)
    return tuple(missing)


def write_metadata_json(path: str | os.PathLike[str], data: Mapping[str, Any]) -> None:
    """Write ``data`` as UTF-8 JSON (indent 4, ``ensure_ascii=False``) atomically (temp file, os.replace)."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    text = json.dumps(dict(data), indent=4, ensure_ascii=False)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
