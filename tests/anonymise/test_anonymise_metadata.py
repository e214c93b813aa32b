"""Tests of masksmith.anonymise.metadata: EXIF (written by the tests) → output JSON, field by field."""

from __future__ import annotations

import io
import json
import os
import re
from datetime import datetime
from pathlib import Path
from typing import Any

import piexif
import pytest
from PIL import Image

from masksmith.anonymise.config import AnonymiseConfig, load_config
from masksmith.anonymise.metadata import (
    JSON_KEYS,
    TAG_IMAGE_PROPERTIES,
    TAG_REFLINK_INFO,
    LaneCode,
    build_metadata,
    detected_objects,
    format_wkt_point,
    metadata_for_file,
    missing_not_null,
    normalize_exif,
    parse_gps_info,
    parse_lane_code,
    parse_path,
    parse_reflink_info,
    parse_road_ident,
    parse_wkt_point,
    redact_xml,
    relative_input_dir,
    write_metadata_json,
)
from masksmith.errors import MediaError

WKT_RE = re.compile(r"^srid=4326;POINT Z\( -?\d+(\.\d+)? -?\d+(\.\d+)? -?\d+(\.\d+)? \)$")
PERSONAL = ("Kari Nordmann", "BIL-4242", "privat merknad", "Driver", "CarID", "Comment")

# --- XML authored after the structures the facts describe --------------------------------------------------

NORWAY2 = """<?xml version="1.0" encoding="utf-8"?>
<AdditionalInfoNorway2>
  <RoadInfo>
    <ReflinkId>123456</ReflinkId>
    <ReflinkPosition>0,12345</ReflinkPosition>
    <RoadIdent>EV6 S1D1 m1234</RoadIdent>
  </RoadInfo>
  <GnssInfo>
    <Latitude>63.4305</Latitude><Longitude>10.3951</Longitude><Altitude>{alt}</Altitude>
    <Roll>0.1</Roll><Pitch>-0.2</Pitch><Heading>123.4</Heading><Speed>12.345</Speed>
    <GeoidalSeparation>{geoid}</GeoidalSeparation>
    <NorthRmsError>0.01</NorthRmsError><EastRmsError>0.011</EastRmsError><DownRmsError>0.02</DownRmsError>
    <RollRmsError>0.03</RollRmsError><PitchRmsError>0.04</PitchRmsError><HeadingRmsError>0.05</HeadingRmsError>
  </GnssInfo>
  <ImageInfo>
    <roadtype>Europaveg</roadtype><meter>1234.5</meter>
    <StorageFile>C:\\Vegbilder\\2021\\Fy50_Ev6\\Fy50_Ev6_S1D1_m01234_f1.jpg</StorageFile>
    <fylke>50</fylke>
  </ImageInfo>
  <Driver>Kari Nordmann</Driver>
</AdditionalInfoNorway2>"""

REFLINK_MARCH_2020 = (
    "<ReflinkInfo><ReflinkId>987654</ReflinkId><ReflinkPosition>0.5</ReflinkPosition></ReflinkInfo>"
)

IMAGE_PROPERTIES = """<?xml version="1.0"?>
<ImageProperties Date="2019-05-02T08:09:10.123">
  <GeoTag><dLongitude>5.3221</dLongitude><dLatitude>60.3913</dLatitude><dAltitude>12.5</dAltitude></GeoTag>
  <Heading>271.5</Heading>
  <Speed>16.666</Speed>
  <ImageName>D:\\Bilder\\Fy12\\Rv555\\Fy12_Rv555_hp01_f1_m00450.jpg</ImageName>
  <VegComValues>
    <VCRoad>RV555</VCRoad><VCHP>01</VCHP><VCArea>Sotra</VCArea><VCCountyNo>12</VCCountyNo>
    <VCMeter>450.456</VCMeter><VCLane>1</VCLane><VCLaneName>1</VCLaneName>
  </VegComValues>
  <BaseLinePosition>0.61</BaseLinePosition><BaseLineTickInterval>10</BaseLineTickInterval>
  <BaseLineTickOffset>2</BaseLineTickOffset><TiltPoint>0.5</TiltPoint><Tilt>-1.5</Tilt>
  <Driver>Kari Nordmann</Driver>
  <CarID>BIL-4242</CarID>
  <Comment>privat merknad
  over to linjer</Comment>
</ImageProperties>"""


# --- helpers ------------------------------------------------------------------------------------------------


def _exif(
    *,
    model: str | None = "Ladybug5+",
    when: str | None = "2021:06:15 10:23:45",
    image_properties: str | None = None,
    reflink: str | None = None,
    gps: dict[int, Any] | None = None,
    xptitle: str | None = None,
) -> Image.Exif:
    exif = Image.Exif()
    if model is not None:
        exif[272] = model
    if xptitle is not None:
        exif[0x9C9B] = xptitle.encode("utf-16-le") + b"\x00\x00"
    if image_properties is not None:
        # A leading BOM, as the original's decode()[1:] suggests the camera writes.
        exif[TAG_IMAGE_PROPERTIES] = b"\xef\xbb\xbf" + image_properties.encode("utf-8")
    sub = exif.get_ifd(0x8769)
    if when is not None:
        sub[36867] = when
    if reflink is not None:
        sub[TAG_REFLINK_INFO] = reflink.encode("utf-8")
    if gps:
        exif.get_ifd(0x8825).update(gps)
    return exif


def _save(path: Path, exif: Image.Exif | None, size: tuple[int, int] = (80, 40)) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    image = Image.new("RGB", size, (120, 130, 140))
    if exif is None:
        image.save(path, "JPEG")
    else:
        image.save(path, "JPEG", exif=exif)
    return path


@pytest.fixture
def config360() -> AnonymiseConfig:
    return load_config(None, base="360")


@pytest.fixture
def planar(tmp_path: Path) -> AnonymiseConfig:
    path = tmp_path / "planar.yml"
    path.write_text("data_eier: Statens vegvesen\n", encoding="utf-8")
    return load_config(path)


IMAGE_360 = "TilSladding/2021/Fy50/Fy50_Ev6_S1D1_m01234_f1.jpg"


def _record_360(
    tmp_path: Path, config: AnonymiseConfig, *, alt: str = "45.3", geoid: str = "40.2"
) -> dict[str, Any]:
    xml = NORWAY2.format(alt=alt, geoid=geoid)
    path = _save(tmp_path / IMAGE_360, _exif(reflink=xml, xptitle="Tur nord"), size=(96, 48))
    return metadata_for_file(path, config=config, detected=["person", "car", "car", "car"])


# --- AdditionalInfoNorway2 (May 2020) -----------------------------------------------------------------------


def test_norway2_record_field_by_field(tmp_path: Path, config360: AnonymiseConfig) -> None:
    record = _record_360(tmp_path, config360)
    assert tuple(record) == JSON_KEYS and len(JSON_KEYS) == 52
    expected = {
        "exif_tid": "2021-06-15T10:23:45",
        "exif_dato": "2021-06-15",
        "exif_dataeier": None,
        "exif_camera": "Ladybug5+",
        "exif_imagetype": "360",
        "exif_imagewidth": "96",
        "exif_imageheight": "48",
        "exif_speed_ms": "12.35",
        "exif_heading": "123.4",
        "exif_gpsposisjon": "srid=4326;POINT Z( 10.3951 63.4305 45.3 )",
        "exif_altitude": "45.3",
        "exif_moh": "5.1",
        "exif_strekningsnavn": None,
        "exif_fylke": "50",
        "exif_vegkat": "E",
        "exif_vegstat": "V",
        "exif_vegnr": "6",
        "exif_roadtype": "Europaveg",
        "exif_hp": None,
        "exif_strekning": "1",
        "exif_delstrekning": "1",
        "exif_ankerpunkt": None,
        "exif_kryssdel": None,
        "exif_sideanleggsdel": None,
        "exif_meter": "1234.5",
        "exif_feltkode": "1",
        "exif_mappenavn": "C:/Vegbilder/2021/Fy50_Ev6",
        "exif_filnavn": "Fy50_Ev6_S1D1_m01234_f1.jpg",
        "exif_strekningreferanse": "S1/D1",
        "exif_imageproperties": None,
        "exif_basislinje": None,
        "exif_reflinkid": "123456",
        "exif_reflinkposisjon": "0.12345",
        "exif_roadident": "EV6 S1D1 m1234",
        "exif_roll": "0.1",
        "exif_pitch": "-0.2",
        "exif_geoidalseparation": "40.2",
        "exif_northrmserror": "0.01",
        "exif_eastrmserror": "0.011",
        "exif_downrmserror": "0.02",
        "exif_rollrmserror": "0.03",
        "exif_pitchrmserror": "0.04",
        "exif_headingrmserror": "0.05",
        "exif_xptitle": "Tur nord",
        "exif_kvalitet": "2",
        "bildeid": "2021-06-15T10.23.45_Fy50_Ev6_S1D1_m01234_360_1",
        "senterlinjeposisjon": None,
        "detekterte_objekter": {"person": "1", "car": "3"},
        "versjon": config360.version,
        "mappenavn": "Vegbilder/2021/Fy50",
        "exif_preview_filnavn": "Fy50_Ev6_S1D1_m01234_f1_preview.jpg",
    }
    for key, value in expected.items():
        assert record[key] == value, key
    assert WKT_RE.match(record["exif_gpsposisjon"])
    assert "<ReflinkId>123456</ReflinkId>" in record["exif_reflinkinfo"]
    assert not any(p in record["exif_reflinkinfo"] for p in PERSONAL)


@pytest.mark.parametrize(
    ("alt", "geoid", "moh", "quality"),
    [
        ("45.3", "40.2", "5.1", "2"),
        ("85.5", "40.2", "45.3", "2"),  # no float artefact (45.300000000000004)
        ("45.3", "NaN", None, "2"),
        ("45.3", "", None, "2"),
        ("", "40.2", None, "1"),  # 360 with incomplete GNSS
    ],
)
def test_moh_and_quality_follow_gnss(
    tmp_path: Path, config360: AnonymiseConfig, alt: str, geoid: str, moh: str | None, quality: str
) -> None:
    record = _record_360(tmp_path, config360, alt=alt, geoid=geoid)
    assert record["exif_moh"] == moh
    assert record["exif_kvalitet"] == quality


def test_planar_norway2_without_altitude_is_still_quality_2(tmp_path: Path, planar: AnonymiseConfig) -> None:
    exif = _exif(reflink=NORWAY2.format(alt="", geoid="40.2"))
    record = build_metadata("x/Fy50_Ev6_S1D1_m01234_f1.jpg", exif, config=planar)
    assert record["exif_kvalitet"] == "2"
    assert record["exif_gpsposisjon"] == "srid=4326;POINT Z( 10.3951 63.4305 NaN )"
    assert parse_wkt_point(record["exif_gpsposisjon"]) == (4326, 10.3951, 63.4305, None)


# --- ImageProperties (old format) ---------------------------------------------------------------------------


def test_image_properties_old_format(planar: AnonymiseConfig) -> None:
    path = "/mnt/tilSladding/Fy12/Rv555/Fy12_Rv555_hp01_f1_m00450.jpg"
    record = build_metadata(path, _exif(when=None, image_properties=IMAGE_PROPERTIES), config=planar)
    assert record["exif_tid"] == "2019-05-02T08:09:10"  # from ImageProperties@Date
    assert record["exif_dataeier"] == "Statens vegvesen"
    assert record["exif_gpsposisjon"] == "srid=4326;POINT Z( 5.3221 60.3913 12.5 )"
    assert record["exif_altitude"] == "12.5"
    assert record["exif_moh"] is None
    assert record["exif_heading"] == "271.5"
    assert record["exif_speed_ms"] == "16.67"
    assert (record["exif_vegkat"], record["exif_vegstat"], record["exif_vegnr"]) == ("R", "V", "555")
    assert record["exif_fylke"] == "12"
    assert record["exif_hp"] == "1"
    assert record["exif_strekningsnavn"] == "Sotra"
    assert record["exif_meter"] == "450.46"
    assert record["exif_feltkode"] == "1"
    assert record["exif_mappenavn"] == "D:/Bilder/Fy12/Rv555"  # Windows path split on Linux too
    assert record["exif_filnavn"] == "Fy12_Rv555_hp01_f1_m00450.jpg"
    assert record["exif_basislinje"] == "0.61;10;2;0.5;-1.5"
    assert record["exif_kvalitet"] == "1"  # V2 rule: ImageProperties without ReflinkInfo
    assert record["exif_reflinkinfo"] is None and record["exif_reflinkid"] is None
    assert record["bildeid"] == "2019-05-02T08.09.10_Fy12_Rv555_hp01_m00450_Planar_1"
    assert record["mappenavn"] == "Vegbilder/Fy12/Rv555"
    assert record["exif_preview_filnavn"] is None


def test_personal_fields_never_reach_the_output(tmp_path: Path, planar: AnonymiseConfig) -> None:
    path = _save(tmp_path / "Fy12_Rv555_hp01_f1_m00450.jpg", _exif(image_properties=IMAGE_PROPERTIES))
    record = metadata_for_file(path, config=planar)
    out = tmp_path / "out.json"
    write_metadata_json(out, record)
    text = out.read_text(encoding="utf-8")
    for personal in PERSONAL:
        assert personal not in text
    assert "<dLatitude>60.3913</dLatitude>" in record["exif_imageproperties"]  # the rest is kept


@pytest.mark.parametrize(
    "xml",
    [
        "<X><Driver>Kari Nordmann</Driver><A>1</A></X>",
        "<X><driver a='1'>Kari Nordmann</driver><A>1</A></X>",
        "<X><ns:CarID xmlns:ns='u'>BIL-4242</ns:CarID><A>1</A></X>",
        "<X><Comment/><A>1</A><Comment>privat merknad\n</Comment ></X>",
        "<X Driver='Kari Nordmann'><A>1</A></X>",
    ],
)
def test_redact_xml(xml: str) -> None:
    redacted = redact_xml(xml)
    assert not any(p.lower() in redacted.lower() for p in PERSONAL)
    assert "<A>1</A>" in redacted


def test_legacy_mode_uses_the_old_rules(planar: AnonymiseConfig) -> None:
    path = "/mnt/tilSladding/Fy12/Rv555/Fy12_Rv555_hp01_f1_m00450.jpg"
    exif = _exif(image_properties=IMAGE_PROPERTIES)
    record = build_metadata(path, exif, config=planar, legacy=True)
    assert record["exif_kvalitet"] == "2"  # old rule: GeoTag present
    assert record["exif_roadident"] == "RV555 1 450.46 1"
    assert record["exif_strekningreferanse"] == "Bilder/Fy12"
    no_geotag = IMAGE_PROPERTIES.replace("<dLatitude>60.3913</dLatitude>", "")
    assert (
        build_metadata(path, _exif(image_properties=no_geotag), config=planar, legacy=True)["exif_kvalitet"]
        == "1"
    )


# --- ReflinkInfo (March 2020) -------------------------------------------------------------------------------


def test_march_2020_reflink_with_image_properties(planar: AnonymiseConfig) -> None:
    exif = _exif(image_properties=IMAGE_PROPERTIES, reflink=REFLINK_MARCH_2020)
    record = build_metadata("/x/tilSladding/a/Fy12_Rv555_hp01_f1_m00450.jpg", exif, config=planar)
    assert record["exif_reflinkid"] == "987654"
    assert record["exif_reflinkposisjon"] == "0.5"
    assert record["exif_kvalitet"] == "2"
    assert record["exif_reflinkinfo"] == REFLINK_MARCH_2020
    assert record["exif_gpsposisjon"] == "srid=4326;POINT Z( 5.3221 60.3913 12.5 )"


@pytest.mark.parametrize(
    ("xml", "fmt", "reflink_id"),
    [
        (REFLINK_MARCH_2020, "reflink", "987654"),
        (NORWAY2.format(alt="1", geoid="2"), "norway2", "123456"),
        ("<Other/>", None, None),
        ("<ReflinkInfo><ReflinkId>1</Reflink", None, None),
    ],
)
def test_parse_reflink_info_formats(xml: str, fmt: str | None, reflink_id: str | None) -> None:
    info = parse_reflink_info(xml)
    assert (info.format if info else None) == fmt
    assert (info.reflink_id if info else None) == reflink_id


def test_malformed_reflink_does_not_crash(planar: AnonymiseConfig) -> None:
    exif = _exif(reflink="<AdditionalInfoNorway2><RoadInfo><ReflinkId>1</RoadInfo>")
    record = build_metadata("a/Fy50_Ev6_S1D1_m00123_f1.jpg", exif, config=planar)
    assert record["exif_kvalitet"] == "1"
    assert record["exif_reflinkid"] is None
    assert record["exif_reflinkinfo"].startswith("<AdditionalInfoNorway2>")


# --- GPSInfo only -------------------------------------------------------------------------------------------


def _gps(lat_ref: str = "N", lon_ref: str = "E", speed_ref: str = "K", speed: float = 20.0) -> dict[int, Any]:
    return {
        1: lat_ref,
        2: (63.0, 25.0, 49.8),
        3: lon_ref,
        4: (10.0, 23.0, 42.36),
        5: b"\x00",
        6: 45.25,
        12: speed_ref,
        13: speed,
        17: 123.5,
    }


@pytest.mark.parametrize(
    ("lat_ref", "lon_ref", "lat", "lon"),
    [("N", "E", "63.4305", "10.3951"), ("S", "W", "-63.4305", "-10.3951")],
)
def test_gpsinfo_fallback(
    tmp_path: Path, planar: AnonymiseConfig, lat_ref: str, lon_ref: str, lat: str, lon: str
) -> None:
    path = _save(
        tmp_path / "tilSladding" / "Fy50" / "Fy50_Ev6_S1D1_m00123_f1.jpg", _exif(gps=_gps(lat_ref, lon_ref))
    )
    record = metadata_for_file(path, config=planar)
    assert record["exif_gpsposisjon"] == f"srid=4326;POINT Z( {lon} {lat} 45.25 )"
    assert WKT_RE.match(record["exif_gpsposisjon"])
    assert record["exif_altitude"] == "45.25"
    assert record["exif_heading"] == "123.5"
    assert record["exif_speed_ms"] == "20.00"
    assert record["exif_kvalitet"] == "1"
    assert record["exif_moh"] is None
    assert record["exif_imagewidth"] == "80" and record["exif_imageheight"] == "40"
    # Road values come from the path.
    assert (record["exif_vegkat"], record["exif_vegnr"], record["exif_meter"]) == ("E", "6", "123")
    assert record["exif_roadident"] == "EV6 S1D1 m123"
    assert record["exif_fylke"] == "50"
    assert record["mappenavn"] == "Vegbilder/Fy50"


@pytest.mark.parametrize(("ref", "expected"), [("K", 20.0), ("M", 20.0 / 2.237), ("N", 20.0 / 1.944)])
def test_gps_speed_units(ref: str, expected: float) -> None:
    fix = parse_gps_info(_gps(speed_ref=ref))
    assert fix is not None and fix.speed_ms == pytest.approx(expected)


def test_gps_rationals_as_pairs() -> None:
    # piexif / Pillow 7 style ((num, den), ...) values.
    gps = {1: "N", 2: ((63, 1), (25, 1), (498, 10)), 3: "E", 4: ((10, 1), (23, 1), (4236, 100)), 5: 1}
    fix = parse_gps_info({**gps, 6: (500, 10)})
    assert fix is not None
    assert fix.latitude == pytest.approx(63.4305) and fix.longitude == pytest.approx(10.3951)
    assert fix.altitude == pytest.approx(-50.0)  # AltitudeRef 1: below sea level
    assert parse_gps_info({}) is None


# --- no EXIF ------------------------------------------------------------------------------------------------


def test_no_exif_gives_quality_0_and_file_time(tmp_path: Path, planar: AnonymiseConfig) -> None:
    path = _save(tmp_path / "tilSladding" / "06" / "E18" / "Fy50_Ev6_S1D1_m00123_f1.jpg", None)
    stamp = datetime(2020, 3, 4, 5, 6, 7, 891011).timestamp()
    os.utime(path, (stamp, stamp))
    record = metadata_for_file(path, config=planar)
    assert tuple(record) == JSON_KEYS
    assert record["exif_kvalitet"] == "0"
    assert record["exif_tid"] == "2020-03-04T05:06:07.891011"
    assert record["exif_dato"] == "2020-03-04"
    assert record["exif_camera"] is None
    assert record["exif_gpsposisjon"] is None and record["exif_altitude"] is None
    assert record["exif_xptitle"] == ""
    assert record["exif_fylke"] == "6"
    assert record["exif_filnavn"] == "Fy50_Ev6_S1D1_m00123_f1.jpg"
    assert record["exif_mappenavn"] is None
    assert record["bildeid"] == "2020-03-04T05.06.07_Fy50_Ev6_S1D1_m00123_Planar_1"
    assert record["mappenavn"] == "Vegbilder/06/E18"
    assert record["detekterte_objekter"] is None


@pytest.mark.parametrize("exif", [None, b"", b"garbage-bytes", {}])
def test_no_or_broken_exif_does_not_crash(planar: AnonymiseConfig, exif: Any) -> None:
    record = build_metadata("x/y.jpg", exif, config=planar)
    assert record["exif_kvalitet"] == "0"
    assert record["exif_tid"] is None and record["bildeid"] is None
    assert record["exif_fylke"] is None  # not the string "None"


# --- EXIF containers ----------------------------------------------------------------------------------------


def test_exif_inputs_agree(tmp_path: Path, planar: AnonymiseConfig) -> None:
    exif = _exif(reflink=REFLINK_MARCH_2020, gps=_gps())
    path = _save(tmp_path / "a.jpg", exif)
    with Image.open(path) as image:
        raw = image.info["exif"]
        from_pil = normalize_exif(image.getexif())
        legacy_dict = image._getexif()  # type: ignore[attr-defined]
    from_bytes = normalize_exif(raw)
    assert from_bytes.keys() == from_pil.keys()
    results = [build_metadata("t/a.jpg", source, config=planar) for source in (raw, from_pil, legacy_dict)]
    assert results[0] == results[1] == results[2]
    assert results[0]["exif_reflinkid"] == "987654" and results[0]["exif_gpsposisjon"] is not None


def test_piexif_and_named_tag_dicts(planar: AnonymiseConfig) -> None:
    piexif_dict = {
        "0th": {piexif.ImageIFD.Model: b"Cam"},
        "Exif": {piexif.ExifIFD.DateTimeOriginal: b"2022:01:02 03:04:05"},
        "GPS": {1: b"N", 2: ((60, 1), (0, 1), (0, 1)), 3: b"E", 4: ((10, 1), (30, 1), (0, 1)), 6: (12, 1)},
    }
    record = build_metadata("a.jpg", piexif_dict, config=planar)
    assert record["exif_camera"] == "Cam" and record["exif_tid"] == "2022-01-02T03:04:05"
    assert record["exif_gpsposisjon"] == "srid=4326;POINT Z( 10.5 60 12 )"
    named = {"Model": "Cam", "DateTimeOriginal": "2022:01:02 03:04:05", "ReflinkInfo": REFLINK_MARCH_2020}
    named_record = build_metadata("a.jpg", named, config=planar)
    assert named_record["exif_reflinkid"] == "987654" and named_record["exif_kvalitet"] == "2"


# --- paths and small parsers --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("Fy50_Ev6_S1D1_m00123_f1.jpg",
         {"vegkat": "E", "vegstat": "V", "vegnr": "6", "strekning": "1", "delstrekning": "1", "meter": "123",
          "feltkode": "1"}),
        ("Fy50_Fv63_S10D3_m12_KD3_m00041_f2.jpg",
         {"kryssdel": "3", "ankerpunkt": "12", "sideanleggsdel": None, "meter": "41", "strekning": "10"}),
        ("Fy50_Fv63_S10D3_m12_SD4_m00041_f2.jpg",
         {"sideanleggsdel": "4", "kryssdel": None, "ankerpunkt": "12"}),
        ("Fy50_Fv63_S10D3_m12_AD5_m00041_f2.jpg", {"sideanleggsdel": "5", "side_letter": "A"}),
        ("Fy50_Ev6_S1D1_m00123_f5K.jpg", {"feltkode": "5K"}),
        ("Fy50_Rv003_hp01_f1_m01237.jpg",
         {"feltkode": "1", "vegkat": "R", "vegnr": "3", "meter": "1237", "hp": "1"}),
        ("Fy01_Ev18_km12_345_f1.jpg", {"meter": "12345", "vegnr": "18"}),
        ("base/tilSladding/EV00006/x.jpg", {"vegkat": "E", "vegstat": "V", "vegnr": "6"}),
        ("base/03/Fy03_Kv12_S1D1_m1_f1.jpg", {"fylke": "3", "vegkat": "K"}),
        ("base/13/a.jpg", {"fylke": None}),  # 13 is not a county number
        ("C:\\Vegbilder\\F1\\x.jpg", {"feltkode": "1"}),
    ],
)  # fmt: skip
def test_parse_path(path: str, expected: dict[str, str | None]) -> None:
    info = parse_path(path)
    for key, value in expected.items():
        assert getattr(info, key) == value, key


@pytest.mark.parametrize(
    ("code", "expected"),
    [("F5K", LaneCode(5, "K")), ("f05k", LaneCode(5, "K")), ("1", LaneCode(1, "")), ("x1", None), ("", None)],
)
def test_parse_lane_code(code: str, expected: LaneCode | None) -> None:
    assert parse_lane_code(code) == expected


def test_parse_road_ident() -> None:
    assert parse_road_ident("FV63 S10D3 M12 KD3 m41") == {
        "vegkat": "F", "vegstat": "V", "vegnr": "63", "strekning": "10", "delstrekning": "3",
        "ankerpunkt": "12", "kryssdel": "3", "meter": "41",
    }  # fmt: skip
    assert parse_road_ident("EV6 S1D1 AD2 m12,5")["sideanleggsdel"] == "2"
    assert parse_road_ident("EV6 S1D1 AD2 m12,5")["meter"] == "12.5"


@pytest.mark.parametrize(
    ("path", "top", "expected"),
    [
        ("/a/tilSladding/b/c/x.jpg", "tilSladding", "b/c"),
        ("/a/TilSladding/b/x.jpg", "tilSladding", "b"),  # case-insensitive
        ("C:\\a\\tilSladding\\b\\x.jpg", "tilSladding", "b"),
        ("/a/tilSladding/x.jpg", "tilSladding", ""),
        ("/a/b/x.jpg", "tilSladding", None),
    ],
)
def test_relative_input_dir(path: str, top: str, expected: str | None) -> None:
    assert relative_input_dir(path, top) == expected


def test_mappenavn_template_and_imagetype_removal(tmp_path: Path) -> None:
    path = tmp_path / "m.yml"
    path.write_text(
        "exif_mappenavn: 'Vegbilder/{aar}/{fylke}/{relative_input_dir}'\nremove_imagetype_filepath: true\n"
    )
    config = load_config(path)
    image = "/data/tilSladding/2021/Planar/%#{} _  _ _/Fy03_Ev6_S1D1_m1_f1.jpg"
    record = build_metadata(image, {"DateTimeOriginal": "2021:06:15 10:23:45"}, config=config)
    assert record["mappenavn"] == "Vegbilder/2021/03/2021/%#{} _  _ _"
    missing_top = build_metadata("/x/y.jpg", None, config=load_config(None))
    assert missing_top["mappenavn"] == "Vegbilder/"


def test_force_fylke(tmp_path: Path) -> None:
    path = tmp_path / "f.yml"
    path.write_text("fylkesnummer: 46\nforce_fylke: true\n")
    record = build_metadata("a/50/Fy50_Ev6_S1D1_m1_f1.jpg", None, config=load_config(path))
    assert record["exif_fylke"] == "46"
    path.write_text("fylkesnummer: 46\n")
    assert (
        build_metadata("a/50/Fy50_Ev6_S1D1_m1_f1.jpg", None, config=load_config(path))["exif_fylke"] == "50"
    )
    assert build_metadata("a/x.jpg", None, config=load_config(path))["exif_fylke"] == "46"


def test_detected_objects_from_coco_ids_and_names() -> None:
    ids = [6, 3, 6, 2, 6, 3, 4, 8, 8, 2, 2, 1, 6]
    assert detected_objects(ids) == {
        "person": "1",
        "bicycle": "3",
        "car": "2",
        "motorcycle": "1",
        "bus": "4",
        "truck": "2",
    }
    result = detected_objects({"licence_plate": 2, "face": 1, "car": 1, "dog": 0})
    assert list(result or {}) == ["car", "face", "licence_plate"]
    assert detected_objects([]) == {}
    assert detected_objects(None) is None


def test_wkt_round_trip() -> None:
    wkt = format_wkt_point("10.5", "-60.25", "3")
    assert wkt == "srid=4326;POINT Z( 10.5 -60.25 3 )" and WKT_RE.match(wkt)
    assert parse_wkt_point(wkt) == (4326, 10.5, -60.25, 3.0)
    assert parse_wkt_point("POINT(1 2)") is None


# --- NOT NULL pre-check -------------------------------------------------------------------------------------


def test_not_null_precheck(tmp_path: Path, planar: AnonymiseConfig, config360: AnonymiseConfig) -> None:
    full = _record_360(tmp_path, config360)
    assert missing_not_null(full) == ("exif_dataeier",)  # the 360 default leaves data_eier null
    owned = {**full, "exif_dataeier": "Statens vegvesen"}
    assert missing_not_null(owned) == ()
    assert missing_not_null({**owned, "exif_meter": "0", "exif_fylke": 0}) == ()  # 0 is a value
    assert missing_not_null({**owned, "exif_fylke": "None", "bildeid": ""}) == ("bildeid", "exif_fylke")
    assert missing_not_null({**owned, "id": None}, primary_key="id") == ("id",)


# --- JSON writer --------------------------------------------------------------------------------------------


def test_write_metadata_json_format_and_atomicity(tmp_path: Path, config360: AnonymiseConfig) -> None:
    record = _record_360(tmp_path, config360)
    record["exif_strekningsnavn"] = "Søndre Ålesund"
    target = tmp_path / "out" / "deep" / "x.json"
    target.parent.mkdir(parents=True)
    target.write_text("old", encoding="utf-8")
    write_metadata_json(target, record)
    raw = target.read_bytes()
    assert "Søndre Ålesund".encode() in raw  # ensure_ascii=False, UTF-8
    assert raw.decode("utf-8") == json.dumps(record, indent=4, ensure_ascii=False)
    assert list(json.loads(raw)) == list(JSON_KEYS)
    assert sorted(p.name for p in target.parent.iterdir()) == ["x.json"]  # no temp files left


def test_write_metadata_json_failure_leaves_old_file(tmp_path: Path) -> None:
    target = tmp_path / "x.json"
    target.write_text("old", encoding="utf-8")
    with pytest.raises(TypeError):
        write_metadata_json(target, {"a": object()})
    assert target.read_text(encoding="utf-8") == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["x.json"]


def test_metadata_for_file_rejects_non_images(tmp_path: Path, planar: AnonymiseConfig) -> None:
    bad = tmp_path / "corrupted.jpg"
    bad.write_bytes(b"this is not a jpeg at all, just text")
    with pytest.raises(MediaError) as info:
        metadata_for_file(bad, config=planar)
    assert "corrupted.jpg" in str(info.value)


def test_image_in_memory_exif_bytes(planar: AnonymiseConfig) -> None:
    buffer = io.BytesIO()
    Image.new("RGB", (10, 10)).save(buffer, "JPEG", exif=_exif(model="Mem"))
    buffer.seek(0)
    with Image.open(buffer) as image:
        record = build_metadata("m.jpg", image.info["exif"], config=planar, image_size=image.size)
    assert record["exif_camera"] == "Mem" and record["exif_imagewidth"] == "10"
