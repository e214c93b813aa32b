"""Metadata records for the database tests."""

from __future__ import annotations

from typing import Any

WKT = "srid=4326;POINT Z( 10.3951 63.4305 45.3 )"


def record(key: str = "2021-06-15T10.23.45_Fy50_E6_Planar_1", **changes: Any) -> dict[str, Any]:
    """A metadata record with every NOT NULL field set."""
    base: dict[str, Any] = {
        "exif_tid": "2021-06-15T10:23:45",
        "exif_dataeier": "Statens vegvesen",
        "exif_camera": "Ladybug",
        "exif_imagetype": "Planar",
        "exif_imagewidth": "1920",
        "exif_imageheight": "1080",
        "exif_speed_ms": "12.35",
        "exif_heading": "123.4",
        "exif_gpsposisjon": WKT,
        "exif_moh": "5.1",
        "exif_fylke": "50",
        "exif_vegkat": "E",
        "exif_vegstat": "V",
        "exif_vegnr": "6",
        "exif_strekning": "1",
        "exif_delstrekning": "1",
        "exif_meter": "1234.5",
        "exif_feltkode": "1",
        "exif_filnavn": "Fy50_E6_S1D1_m01234_f1.jpg",
        "exif_reflinkid": "123456",
        "exif_kvalitet": "2",
        "bildeid": key,
        "senterlinjeposisjon": None,
        "detekterte_objekter": {"person": "1", "car": "3"},
        "versjon": "P0.2_K20220131",
        "mappenavn": "Vegbilder/2021/E6",
    }
    base.update(changes)
    return base
