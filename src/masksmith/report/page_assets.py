"""Building blocks of report pages: web copies of pixels, mask overlays, JSON for inline scripts, the
Jinja2 templates and the assets folder beside a page (files written through :mod:`.files`)."""

from __future__ import annotations

import enum
import json
import os
import shutil
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from numpy.typing import NDArray

from masksmith.errors import ExportError, ModelUnavailable
from masksmith.journal import paths
from masksmith.media import io as media_io
from masksmith.report.files import write_file

__all__ = [
    "MARKER",
    "MARKER_TEXT",
    "OVERLAY_ALPHA",
    "OVERLAY_COLOUR",
    "AssetFolder",
    "NodeMedia",
    "contained_file",
    "fit_within",
    "hex_colour",
    "jsonable",
    "mask_overlay",
    "script_json",
    "template_environment",
    "template_source",
    "web_pixels",
    "write_node_media",
    "write_overlay",
    "write_page",
]

RGB = tuple[int, int, int]

#: Colour of changed / manipulated pixels in overlays (a magenta-red that stands out on photos).
OVERLAY_COLOUR: RGB = (255, 0, 110)


OVERLAY_ALPHA = 130


MARKER = ".masksmith-report"
MARKER_TEXT = b"made by masksmith report; safe to delete\n"


def hex_colour(colour: RGB) -> str:
    return "#{:02x}{:02x}{:02x}".format(*colour)


def web_pixels(pixels: NDArray[Any]) -> NDArray[np.uint8]:
    """Any image array masksmith reads → 8-bit gray, RGB or RGBA that browsers show (a new array)."""
    a = np.asarray(pixels)
    if a.ndim == 3 and a.shape[2] == 1:
        a = a[:, :, 0]
    if a.ndim not in (2, 3) or (a.ndim == 3 and a.shape[2] not in (3, 4)) or a.size == 0:
        raise ValueError(f"not an image array: shape {a.shape}")
    if a.dtype == np.uint8:
        return np.array(a, dtype=np.uint8, copy=True)
    if a.dtype == np.bool_:
        return a.astype(np.uint8) * 255
    if np.issubdtype(a.dtype, np.floating):
        scaled: NDArray[np.uint8] = (np.clip(np.nan_to_num(a), 0.0, 1.0) * 255 + 0.5).astype(np.uint8)
        return scaled
    wide = a.astype(np.int64)
    if wide.max(initial=0) > 255:  # 16-bit (or wider) samples: keep the top byte
        wide = wide >> 8
    clipped: NDArray[np.uint8] = np.clip(wide, 0, 255).astype(np.uint8)
    return clipped


def fit_within(pixels: NDArray[Any], max_side: int, *, nearest: bool = False) -> NDArray[Any]:
    """``pixels`` scaled down (never up) so that the longer side is at most ``max_side``."""
    rows, cols = pixels.shape[:2]
    longest = max(rows, cols)
    if longest <= max_side:
        return pixels
    scale = max_side / longest
    size = (max(1, round(cols * scale)), max(1, round(rows * scale)))
    interpolation = cv2.INTER_NEAREST if nearest else cv2.INTER_AREA
    return np.asarray(cv2.resize(np.ascontiguousarray(pixels), size, interpolation=interpolation))


def mask_overlay(
    changed: NDArray[np.bool_], *, colour: RGB = OVERLAY_COLOUR, alpha: int = OVERLAY_ALPHA
) -> NDArray[np.uint8]:
    """A transparent RGBA overlay: ``changed`` pixels tinted with ``colour``, region borders opaque."""
    region = np.asarray(changed, dtype=bool)
    if region.ndim != 2:
        raise ValueError(f"a mask must be H×W, got shape {region.shape}")
    out = np.zeros((*region.shape, 4), np.uint8)
    out[region, :3] = colour
    out[region, 3] = alpha
    border = cv2.morphologyEx(region.astype(np.uint8), cv2.MORPH_GRADIENT, np.ones((3, 3), np.uint8)) > 0
    edge = border & region
    out[edge, 3] = 255
    return out


def jsonable(value: Any) -> Any:
    """A JSON-safe copy of journal attribute values (numpy scalars and arrays, paths, enums, tuples)."""
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        return value if np.isfinite(value) else str(value)
    if isinstance(value, enum.Enum):
        return jsonable(value.value) if not isinstance(value.value, enum.Enum) else value.name
    if isinstance(value, np.generic):
        return jsonable(value.item())
    if isinstance(value, np.ndarray):
        return f"<array {'x'.join(map(str, value.shape))} {value.dtype}>"
    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [jsonable(v) for v in value]
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    return str(value)


def script_json(data: Any) -> str:
    """JSON that is safe inside ``<script type="application/json">`` (no ``</script>``, no ``<!--``)."""
    text = json.dumps(jsonable(data), ensure_ascii=False, separators=(",", ":"))
    return (
        text.replace("&", "\\u0026")
        .replace("<", "\\u003c")
        .replace(">", "\\u003e")
        .replace("\u2028", "\\u2028")
        .replace("\u2029", "\\u2029")
    )


def template_environment() -> Any:
    """The Jinja2 environment over ``masksmith/report/templates`` (Jinja2 is the ``viewer`` extra)."""
    try:
        import jinja2
    except ImportError as exc:  # pragma: no cover - exercised only without the extra
        raise ModelUnavailable("the journal viewer needs Jinja2; install masksmith[viewer]") from exc
    return jinja2.Environment(
        loader=jinja2.PackageLoader("masksmith.report", "templates"),
        autoescape=jinja2.select_autoescape(("html",)),
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        undefined=jinja2.StrictUndefined,
    )


def template_source(env: Any, name: str) -> str:
    """A template file's raw text (the CSS and JS that go inline into pages)."""
    source: str = env.loader.get_source(env, name)[0]
    return source


def write_page(page: Path, html: str) -> Path:
    """Write a page atomically, readable by others like any web page."""
    write_file(page, html.encode("utf-8"))
    page.chmod(0o644)
    return page


class AssetFolder:
    """The assets folder beside a page; hands out relative hrefs for the files it writes."""

    def __init__(self, page: Path) -> None:
        self.page = page
        self.root = page.parent / f"{page.stem}_assets"
        self.href_prefix = f"{self.root.name}/"

    def prepare(self) -> None:
        """Create the folder, emptying it first when an earlier report made it; refuse foreign folders."""
        if self.root.exists():
            if not self.root.is_dir():
                raise ExportError("the assets path exists and is not a folder", file=self.root)
            if any(self.root.iterdir()) and not (self.root / MARKER).exists():
                raise ExportError(
                    "the assets folder exists and was not made by masksmith; choose another --out",
                    file=self.root,
                )
            shutil.rmtree(self.root)
        self.root.mkdir(parents=True)
        write_file(self.root / MARKER, MARKER_TEXT)

    def publish(self) -> None:
        """Make the written files readable by others (temporary files are created private)."""
        for item in self.root.iterdir():
            if item.is_file():
                item.chmod(0o644)

    def href(self, name: str) -> str:
        return self.href_prefix + name

    def write_image(self, name: str, pixels: NDArray[Any], *, jpeg: bool = False) -> str:
        """Write 8-bit pixels as PNG (or JPEG when ``jpeg`` and there is no alpha); return the href."""
        has_alpha = pixels.ndim == 3 and pixels.shape[2] == 4
        suffix = ".jpg" if jpeg and not has_alpha else ".png"
        target = self.root / f"{name}{suffix}"
        if suffix == ".jpg":
            media_io.write_image(target, pixels, quality=88)
        else:
            media_io.write_image(target, pixels, png_compression=3)
        return self.href(target.name)

    def copy_file(self, source: Path, name: str) -> str:
        target = self.root / f"{name}{source.suffix.lower()}"
        write_file(target, source.read_bytes())
        return self.href(target.name)


@dataclass(frozen=True)
class NodeMedia:
    """Web copies of one node's media: hrefs relative to the page, and the pixel size shown."""

    image: str | None
    thumb: str | None
    width: int
    height: int
    problem: str = ""
    scale: float = 1.0  # shown size / stored size


def write_node_media(
    assets: AssetFolder, key: str, pixels: NDArray[Any], *, lossy_source: bool, thumb_size: int, max_side: int
) -> NodeMedia:
    """Full-size (capped at ``max_side``) and thumbnail copies of a node's pixels."""
    web = web_pixels(pixels)
    full = fit_within(web, max_side)
    thumb = fit_within(web, thumb_size)
    image_href = assets.write_image(key, full, jpeg=lossy_source)
    thumb_href = assets.write_image(f"{key}_t", thumb, jpeg=True)
    scale = full.shape[1] / web.shape[1]
    return NodeMedia(image_href, thumb_href, int(full.shape[1]), int(full.shape[0]), scale=scale)


def write_overlay(assets: AssetFolder, key: str, changed: NDArray[np.bool_], *, max_side: int) -> str:
    overlay = mask_overlay(fit_within(changed.astype(np.uint8), max_side, nearest=True).astype(bool))
    return assets.write_image(key, overlay)


def contained_file(directory: Path, name: object) -> Path | None:
    """A journal file name as a path inside ``directory``; None when it leads out (never opened)."""
    return paths.resolve(directory, name) if paths.contained(directory, name) else None
