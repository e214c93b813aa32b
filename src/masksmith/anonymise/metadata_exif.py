"""EXIF tags of road images: flattening any EXIF container, the private XML tags (``ImageProperties``,
``ReflinkInfo``) with personal fields redacted, and the GPSInfo IFD. Part of :mod:`.metadata`."""

from __future__ import annotations

import logging
import re
import xml.etree.ElementTree as ET
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from masksmith.anonymise.metadata_values import gps_ref, number_text, rational, text_or_none

__all__ = [
    "TAG_DATETIME",
    "TAG_DATETIME_ORIGINAL",
    "TAG_EXIF_HEIGHT",
    "TAG_EXIF_IFD",
    "TAG_EXIF_WIDTH",
    "TAG_GPS_IFD",
    "TAG_IMAGE_PROPERTIES",
    "TAG_MODEL",
    "TAG_REFLINK_INFO",
    "TAG_XPTITLE",
    "GpsFix",
    "ReflinkInfo",
    "normalize_exif",
    "parse_gps_info",
    "parse_reflink_info",
    "parse_xml_fields",
    "redact_xml",
    "xml_text",
]

_log = logging.getLogger("masksmith.anonymise.metadata")  # the run filters this logger (pipeline)

TAG_IMAGE_PROPERTIES = 40055


TAG_REFLINK_INFO = 40056


TAG_MODEL = 272


TAG_DATETIME = 306


TAG_XPTITLE = 40091


TAG_EXIF_IFD = 34665


TAG_GPS_IFD = 34853


TAG_DATETIME_ORIGINAL = 36867


TAG_EXIF_WIDTH = 40962


TAG_EXIF_HEIGHT = 40963


_PERSONAL_TAGS = ("Driver", "CarID", "Comment")


_REDACT_ELEMENT = re.compile(
    r"<\s*(?P<tag>(?:[\w.-]+:)?(?:" + "|".join(_PERSONAL_TAGS) + r"))\b[^>]*?(?:/>|>.*?<\s*/\s*(?P=tag)\s*>)",
    re.IGNORECASE | re.DOTALL,
)


_REDACT_ATTRIBUTE = re.compile(
    r"\s(?:" + "|".join(_PERSONAL_TAGS) + r")\s*=\s*(?:\"[^\"]*\"|'[^']*')", re.IGNORECASE
)


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
        flat: dict[int, Any] = {k: v for k, v in exif.items() if k not in (TAG_EXIF_IFD, TAG_GPS_IFD)}
        try:
            flat.update(exif.get_ifd(TAG_EXIF_IFD))
            gps = dict(exif.get_ifd(TAG_GPS_IFD))
        except Exception as exc:
            _log.warning("unreadable EXIF sub-IFD ignored: %s", exc)
            gps = {}
        if gps:
            flat[TAG_GPS_IFD] = gps
        return flat
    if not isinstance(exif, Mapping):
        raise TypeError(f"unsupported EXIF container {type(exif).__name__}")
    if any(key in exif for key in ("0th", "Exif", "GPS")):  # piexif layout
        flat = {}
        for ifd in ("0th", "Exif"):
            ifd_tags = exif.get(ifd) or {}
            flat.update({k: v for k, v in ifd_tags.items() if k not in (TAG_EXIF_IFD, TAG_GPS_IFD)})
        if exif.get("GPS"):
            flat[TAG_GPS_IFD] = dict(exif["GPS"])
        return flat
    flat = _keyed(exif, _tag_ids())
    gps_value = flat.get(TAG_GPS_IFD)
    if isinstance(gps_value, Mapping):
        flat[TAG_GPS_IFD] = _keyed(gps_value, _gps_tag_ids())
    else:
        flat.pop(TAG_GPS_IFD, None)
    flat.pop(TAG_EXIF_IFD, None)
    return flat


def xml_text(value: Any) -> str | None:
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
        return text_or_none(self.gnss.get(name.lower()))


def parse_reflink_info(xml: str) -> ReflinkInfo | None:
    """Parse either ReflinkInfo format; None when the XML is unreadable or of an unknown root."""
    parsed = parse_xml_fields(xml)
    if parsed is None:
        return None
    root, fields = parsed
    if root == "reflinkinfo":
        return ReflinkInfo(
            format="reflink",
            reflink_id=text_or_none(fields.get("reflinkid")),
            reflink_position=number_text(fields.get("reflinkposition")),
        )
    if root.startswith("additionalinfonorway"):

        def group(name: str) -> dict[str, str]:
            prefix = name + "/"
            children = {k[len(prefix) :]: v for k, v in fields.items() if k.startswith(prefix)}
            return {k: v for k, v in children.items() if "/" not in k}

        return ReflinkInfo(
            format="norway2",
            reflink_id=text_or_none(fields.get("roadinfo/reflinkid")),
            reflink_position=number_text(fields.get("roadinfo/reflinkposition")),
            road_ident=text_or_none(fields.get("roadinfo/roadident")),
            gnss=group("gnssinfo"),
            image_info=group("imageinfo"),
        )
    return None


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
        parts = [rational(v) for v in value]
        if any(p is None for p in parts):
            return None
        d, m, s = (p for p in parts if p is not None)
        return d + m / 60 + s / 3600
    return rational(value)


# GPSSpeedRef divisors to m/s. For "K" the original divides by 1: its cameras write m/s under the km/h ref.
_SPEED_DIVISOR = {"K": 1.0, "M": 2.237, "N": 1.944}


def parse_gps_info(gps: Mapping[int, Any] | None) -> GpsFix | None:
    """Decode a GPSInfo dict (``IFDRational`` or ``(num, den)`` values); None when it holds no data."""
    if not gps:
        return None
    lat = _dms(gps.get(2))
    lon = _dms(gps.get(4))
    if lat is not None and gps_ref(gps.get(1)) == "S":
        lat = -lat
    if lon is not None and gps_ref(gps.get(3)) == "W":
        lon = -lon
    alt = rational(gps.get(6))
    alt_ref = gps.get(5)
    if alt is not None and (alt_ref in (1, b"\x01") or gps_ref(alt_ref) == "1"):
        alt = -alt
    speed = rational(gps.get(13))
    if speed is not None:
        speed = speed / _SPEED_DIVISOR.get(gps_ref(gps.get(12)) or "K", 1.0)
    heading = rational(gps.get(17))
    fix = GpsFix(latitude=lat, longitude=lon, altitude=alt, speed_ms=speed, heading=heading)
    return fix if fix != GpsFix() else None
