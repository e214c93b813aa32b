"""EXIF → output JSON of ``masksmith anonymise`` (the NPRA ``exif_*`` record), field by field.

Sources, weakest first; a stronger source overwrites a value when it has one:
path/filename → GPSInfo → ``ImageProperties`` XML (private tag 40055, old Viatech format) →
``ReflinkInfo`` XML (tag 40056: ``<ReflinkInfo>`` of March 2020 or ``<AdditionalInfoNorway2>`` of May 2020).
Personal fields (Driver, CarID, Comment) are removed from the XML before it is parsed or copied.
Everything here is pure except :func:`metadata_for_file` (reads the image) and :func:`write_metadata_json`.

The parts live beside it and are re-exported here: :mod:`.metadata_exif` (EXIF containers, the private XML
tags, GPSInfo), :mod:`.road_paths` (road references in paths and idents), :mod:`.metadata_values` (small
value helpers).
"""

from __future__ import annotations

import json
import logging
import os
import re
from collections.abc import Iterable, Mapping
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any

from masksmith import atomic_io
from masksmith.anonymise.config import CLASS_ORDER, COCO91_NAMES, AnonymiseConfig
from masksmith.anonymise.metadata_exif import (
    TAG_DATETIME,
    TAG_DATETIME_ORIGINAL,
    TAG_EXIF_HEIGHT,
    TAG_EXIF_WIDTH,
    TAG_GPS_IFD,
    TAG_IMAGE_PROPERTIES,
    TAG_MODEL,
    TAG_REFLINK_INFO,
    TAG_XPTITLE,
    GpsFix,
    ReflinkInfo,
    normalize_exif,
    parse_gps_info,
    parse_reflink_info,
    parse_xml_fields,
    redact_xml,
    xml_text,
)
from masksmith.anonymise.metadata_values import (
    decimal_or_none,
    decimal_text,
    float_text,
    number_text,
    rational,
    split_path,
    strip_zeros,
    text_or_none,
)
from masksmith.anonymise.road_paths import (
    LANE_TOKEN,
    LaneCode,
    PathInfo,
    parse_lane_code,
    parse_path,
    parse_road_ident,
    relative_input_dir,
    road_code,
)
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

_log = logging.getLogger(__name__)  # the run filters this logger (pipeline); the parts log here too


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


_DATETIME = re.compile(r"(\d{4})\D(\d{1,2})\D(\d{1,2})[T ](\d{1,2})\D(\d{2})\D(\d{2})")
_WKT = re.compile(
    r"^srid=(\d+);POINT Z\(\s*(\S+)\s+(\S+)\s+(\S+)\s*\)$",
)


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
    text = text_or_none(value)
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
    local_parts = split_path(os.fspath(image_path))
    local_name = local_parts[-1] if local_parts else ""
    local_stem = local_name.rsplit(".", 1)[0] if "." in local_name else local_name

    ip_xml = xml_text(tags.get(TAG_IMAGE_PROPERTIES))
    rl_xml = xml_text(tags.get(TAG_REFLINK_INFO))
    ip_parsed = parse_xml_fields(ip_xml) if ip_xml else None
    ip = ip_parsed[1] if ip_parsed else {}
    reflink = parse_reflink_info(rl_xml) if rl_xml else None
    if rl_xml and reflink is None:
        _log.warning("%s: ReflinkInfo is not readable XML; its values are left empty", image_path)
    gps_raw = tags.get(TAG_GPS_IFD)
    gps = parse_gps_info(gps_raw if isinstance(gps_raw, Mapping) else None)
    rl_gnss = reflink.gnss_value if reflink else (lambda name: None)
    rl_info = reflink.image_info if reflink else {}
    ident = parse_road_ident(reflink.road_ident) if reflink and reflink.road_ident else {}
    pathinfo = parse_path(image_path)

    # Time: EXIF DateTimeOriginal → DateTime → ImageProperties@Date → file time.
    taken = (
        _exif_datetime(tags.get(TAG_DATETIME_ORIGINAL))
        or _exif_datetime(tags.get(TAG_DATETIME))
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
        lat, lon = number_text(rl_gnss("Latitude")), number_text(rl_gnss("Longitude"))
        alt = number_text(rl_gnss("Altitude"))
    elif decimal_or_none(ip.get("geotag/dlatitude")) is not None and decimal_or_none(
        ip.get("geotag/dlongitude")
    ):
        lat, lon = number_text(ip["geotag/dlatitude"]), number_text(ip["geotag/dlongitude"])
        alt = number_text(ip.get("geotag/daltitude"))
    elif gps is not None and gps.latitude is not None and gps.longitude is not None:
        lat, lon = float_text(gps.latitude), float_text(gps.longitude)
        alt = float_text(gps.altitude, 3) if gps.altitude is not None else None
    position = format_wkt_point(lon, lat, alt) if lat is not None and lon is not None else None

    moh = None
    if reflink is not None:
        gnss_alt, geoid = decimal_or_none(rl_gnss("Altitude")), decimal_or_none(rl_gnss("GeoidalSeparation"))
        if gnss_alt is not None and geoid is not None:
            moh = decimal_text(gnss_alt - geoid)  # exact: no float artefacts like 45.300000000000004

    speed_value = decimal_or_none(rl_gnss("Speed")) if reflink else None
    if speed_value is None:
        speed_value = decimal_or_none(ip.get("speed"))
    if speed_value is None and gps is not None and gps.speed_ms is not None:
        speed_value = Decimal(repr(gps.speed_ms))
    # Decimal rounding: "%.2f" of a float turns 12.345 into "12.34".
    speed = str(speed_value.quantize(Decimal("0.01"), ROUND_HALF_UP)) if speed_value is not None else None

    heading = _first(
        number_text(rl_gnss("Heading")) if reflink else None,
        number_text(ip.get("heading")),
        float_text(gps.heading, 6) if gps is not None and gps.heading is not None else None,
    )

    # Road reference: embedded metadata first, then the path.
    vc_road = road_code(ip.get("vegcomvalues/vcroad", ""))
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

    embedded_meter = decimal_or_none(rl_info.get("meter"))
    if embedded_meter is None:
        embedded_meter = decimal_or_none(ip.get("vegcomvalues/vcmeter"))
    meter: str | None
    if embedded_meter is not None:
        meter = decimal_text(embedded_meter.quantize(Decimal("0.01"), ROUND_HALF_UP))
    else:
        meter = _first(ident.get("meter"), pathinfo.meter)

    lane_text = _first(
        text_or_none(ip.get("vegcomvalues/vclanename")), text_or_none(ip.get("vegcomvalues/vclane"))
    )
    lane = parse_lane_code(lane_text) if lane_text else None
    feltkode = str(lane) if lane is not None else pathinfo.feltkode

    fylke_embedded = _first(
        text_or_none(rl_info.get("fylke")), text_or_none(ip.get("vegcomvalues/vccountyno"))
    )
    fylke = strip_zeros(fylke_embedded) if fylke_embedded and fylke_embedded.isdigit() else fylke_embedded
    fylke = fylke or pathinfo.fylke
    if meta.force_fylke or not fylke:
        # The original wrote the string "None" here when fylkesnummer was unset.
        fylke = str(meta.fylkesnummer) if meta.fylkesnummer is not None else None

    vc_hp = text_or_none(ip.get("vegcomvalues/vchp"))
    hp = strip_zeros(vc_hp) if vc_hp and vc_hp.isdigit() else vc_hp
    if hp is None and legacy:
        hp = pathinfo.hp

    storage = _first(text_or_none(rl_info.get("storagefile")), text_or_none(ip.get("imagename")))
    storage_parts = split_path(storage) if storage else []
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
    elif rational(tags.get(TAG_EXIF_WIDTH)) and rational(tags.get(TAG_EXIF_HEIGHT)):
        width, height = str(int(tags[TAG_EXIF_WIDTH])), str(int(tags[TAG_EXIF_HEIGHT]))

    bildeid = None
    tid_time = _tid_datetime(tid) if tid else None
    if tid_time is not None and filnavn:
        stem = filnavn.rsplit(".", 1)[0] if "." in filnavn else filnavn
        bildeid = f"{tid_time:%Y-%m-%dT%H.%M.%S}_{LANE_TOKEN.sub('', stem)}_{meta.image_type}"
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
        "exif_camera": text_or_none(tags.get(TAG_MODEL)),
        "exif_imagetype": meta.image_type,
        "exif_imagewidth": width,
        "exif_imageheight": height,
        "exif_speed_ms": speed,
        "exif_heading": heading,
        "exif_gpsposisjon": position,
        "exif_altitude": alt,
        "exif_moh": moh,
        "exif_strekningsnavn": text_or_none(ip.get("vegcomvalues/vcarea")),
        "exif_fylke": fylke,
        "exif_vegkat": vegkat,
        "exif_vegstat": vegstat,
        "exif_vegnr": vegnr,
        "exif_roadtype": text_or_none(rl_info.get("roadtype")) or "Ukjent",
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
        "exif_roll": number_text(rl_gnss("Roll")),
        "exif_pitch": number_text(rl_gnss("Pitch")),
        "exif_geoidalseparation": number_text(rl_gnss("GeoidalSeparation")),
        "exif_northrmserror": number_text(rl_gnss("NorthRmsError")),
        "exif_eastrmserror": number_text(rl_gnss("EastRmsError")),
        "exif_downrmserror": number_text(rl_gnss("DownRmsError")),
        "exif_rollrmserror": number_text(rl_gnss("RollRmsError")),
        "exif_pitchrmserror": number_text(rl_gnss("PitchRmsError")),
        "exif_headingrmserror": number_text(rl_gnss("HeadingRmsError")),
        "exif_xptitle": _xptitle(tags.get(TAG_XPTITLE)),
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
    """Write ``data`` as UTF-8 JSON (indent 4, ``ensure_ascii=False``) atomically and durably (atomic_io)."""
    atomic_io.write_text(path, json.dumps(dict(data), indent=4, ensure_ascii=False), make_parents=True)
