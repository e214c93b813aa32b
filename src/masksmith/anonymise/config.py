"""Configuration of ``masksmith anonymise``: pydantic models loaded from flat YAML.

The YAML files use the flat key names of the NPRA ``image-anonymisation`` configuration, so existing
user files load unchanged (except that unknown keys are now an error instead of being ignored, and a
user file only needs the keys it changes). In memory the keys are grouped (``config.outputs.remote_json``).
Loading order: model defaults ← shipped default YAML (planar or 360) ← user file.

The sections (``MetadataConfig``, ``DetectionConfig``, …) live in :mod:`.config_groups` and are
re-exported here; this module groups them (:class:`AnonymiseConfig`), loads the YAML files and checks
the folders at start-up.
"""

from __future__ import annotations

import difflib
import logging
import os
import shutil
import tempfile
import types
import typing
from collections.abc import Iterator, Mapping
from datetime import datetime
from enum import Enum
from importlib import resources
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    SecretStr,
    ValidationError,
)

from masksmith.anonymise.config_groups import (
    CLASS_ORDER,
    COCO91_NAMES,
    MAPPENAVN_KEYS,
    ConfigGroup,
    DatabaseConfig,
    DetectionConfig,
    DetectorName,
    DrawConfig,
    DrawMode,
    EmailConfig,
    JpegMode,
    LoggingConfig,
    LogLevel,
    MetadataConfig,
    ModelType,
    OutputConfig,
    RunConfig,
    YoloModelPaths,
    encrypt_secret,
)
from masksmith.errors import ConfigError

__all__ = [
    "CLASS_ORDER",
    "COCO91_NAMES",
    "MAPPENAVN_KEYS",
    "AnonymiseConfig",
    "DatabaseConfig",
    "DetectionConfig",
    "DetectorName",
    "DrawConfig",
    "DrawMode",
    "EmailConfig",
    "JpegMode",
    "LogLevel",
    "LoggingConfig",
    "MetadataConfig",
    "ModelType",
    "OutputConfig",
    "RunConfig",
    "YoloModelPaths",
    "check_startup",
    "default_config_path",
    "encrypt_secret",
    "flat_keys",
    "load_config",
]

_log = logging.getLogger(__name__)

_GROUPS: dict[str, type[ConfigGroup]] = {
    "metadata": MetadataConfig,
    "run": RunConfig,
    "logging": LoggingConfig,
    "outputs": OutputConfig,
    "detection": DetectionConfig,
    "draw": DrawConfig,
    "email": EmailConfig,
    "database": DatabaseConfig,
}

_FLAT: dict[str, str] = {}
for _group, _model in _GROUPS.items():
    for _key in _model.model_fields:
        assert _key not in _FLAT, f"duplicate flat config key {_key}"
        _FLAT[_key] = _group

_DICT_KEYS = frozenset({"yolo_model_paths", "label_colors"})  # merged key by key across layers


def flat_keys() -> dict[str, str]:
    """Every flat YAML key and the group that holds it, in declaration order."""
    return dict(_FLAT)


class AnonymiseConfig(BaseModel):
    """The complete ``masksmith anonymise`` configuration, grouped; built by :func:`load_config`."""

    model_config = ConfigDict(extra="forbid", frozen=True, validate_default=True)

    metadata: MetadataConfig = Field(default_factory=MetadataConfig)
    run: RunConfig = Field(default_factory=RunConfig)
    logging: LoggingConfig = Field(default_factory=LoggingConfig)
    outputs: OutputConfig = Field(default_factory=OutputConfig)
    detection: DetectionConfig = Field(default_factory=DetectionConfig)
    draw: DrawConfig = Field(default_factory=DrawConfig)
    email: EmailConfig = Field(default_factory=EmailConfig)
    database: DatabaseConfig = Field(default_factory=DatabaseConfig)

    _source: Path | None = PrivateAttr(default=None)
    _source_mtime: float | None = PrivateAttr(default=None)

    @property
    def source(self) -> Path | None:
        """The user file this config was loaded from (None for the shipped defaults)."""
        return self._source

    @property
    def version(self) -> str:
        """``P<application_version>_K<config mtime %Y%m%d>``, the JSON's ``versjon``."""
        mtime = self._source_mtime
        stamp = datetime.fromtimestamp(mtime).strftime("%Y%m%d") if mtime is not None else "00000000"
        return f"P{self.metadata.application_version}_K{stamp}"

    @property
    def is_360(self) -> bool:
        """True for 360° panoramas (``image_type: "360"``)."""
        return self.metadata.image_type.strip().lower() == "360"

    def get(self, key: str) -> Any:
        """The value of a flat YAML key, e.g. ``config.get("remote_json")``."""
        if key not in _FLAT:
            raise ConfigError(f"unknown key{_did_you_mean(key)}", argument=key)
        return getattr(getattr(self, _FLAT[key]), key)

    def iter_flat(self) -> Iterator[tuple[str, Any]]:
        """(flat key, value) pairs in declaration order."""
        for key, group in _FLAT.items():
            yield key, getattr(getattr(self, group), key)

    def redacted_dict(self) -> dict[str, Any]:
        """Flat, JSON-compatible dict for logs; secrets are masked."""
        out: dict[str, Any] = {}
        for key, value in self.iter_flat():
            out[key] = _plain(value)
        return out

    def redacted_yaml(self) -> str:
        """The redacted config as YAML text (for the log's CONFIG START/END block)."""
        return yaml.safe_dump(self.redacted_dict(), sort_keys=False, allow_unicode=True)


def _plain(value: Any) -> Any:
    if isinstance(value, SecretStr):
        return "**********"
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, BaseModel):
        return {k: _plain(v) for k, v in value}
    if isinstance(value, tuple | list):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, Path):
        return str(value)
    return value


def _did_you_mean(key: str) -> str:
    close = difflib.get_close_matches(key, list(_FLAT), n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


def default_config_path(base: Literal["360", "planar"] = "planar") -> Path:
    """Path of a shipped default YAML file."""
    name = "default_config_360.yml" if base == "360" else "default_config.yml"
    return Path(str(resources.files("masksmith.anonymise").joinpath(name)))


def _read_yaml(path: Path) -> dict[str, Any]:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError("config file not found", file=path) from None
    except OSError as exc:
        raise ConfigError(f"cannot read config file ({exc.strerror})", file=path) from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or "invalid YAML"
        raise ConfigError(f"invalid YAML{where}: {problem}", file=path) from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"the top level must be a mapping of keys, not {type(data).__name__}", file=path)
    return _flatten(data, path)


def _flatten(data: Mapping[Any, Any], path: Path) -> dict[str, Any]:
    """Accept flat keys and, as a convenience, group sections (``outputs: {remote_json: true}``)."""
    flat: dict[str, Any] = {}
    for raw_key, value in data.items():
        key = str(raw_key)
        if key in _GROUPS and isinstance(value, Mapping) and key not in _FLAT:
            for sub_key, sub_value in value.items():
                sub = str(sub_key)
                if _FLAT.get(sub) != key:
                    message = f"unknown key in section {key!r}{_did_you_mean(sub)}"
                    raise ConfigError(message, file=path, argument=sub)
                flat[sub] = sub_value
        elif key in _FLAT:
            flat[key] = value
        else:
            raise ConfigError(f"unknown key{_did_you_mean(key)}", file=path, argument=key)
    return flat


def _merge(base: dict[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in override.items():
        if key in _DICT_KEYS and isinstance(value, Mapping) and isinstance(merged.get(key), Mapping):
            merged[key] = {**merged[key], **value}
        else:
            merged[key] = value
    return merged


def _resolve_relative_paths(flat: dict[str, Any], directory: Path) -> None:
    for key in ("text_model_path", "mask_rcnn_model_path", "yolox_model_path"):
        value = flat.get(key)
        if isinstance(value, str) and value and not Path(value).is_absolute():
            flat[key] = str(directory / value)
    paths = flat.get("yolo_model_paths")
    if isinstance(paths, Mapping):
        flat["yolo_model_paths"] = {
            k: str(directory / v) if isinstance(v, str) and not Path(v).is_absolute() else v
            for k, v in paths.items()
        }


def _type_name(annotation: Any) -> str:
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        return " | ".join("null" if a is type(None) else _type_name(a) for a in typing.get_args(annotation))
    if isinstance(annotation, type) and issubclass(annotation, Enum):
        return "one of " + ", ".join(repr(m.value) for m in annotation)
    if origin is not None:
        args = typing.get_args(annotation)
        name = getattr(origin, "__name__", str(origin))
        if origin is tuple:
            return f"list of {len(args)} {_type_name(args[0])}" if args else "list"
        return f"{name}[{', '.join(_type_name(a) for a in args)}]"
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return "mapping with keys " + ", ".join(annotation.model_fields)
    if annotation is SecretStr:
        return "str"
    return getattr(annotation, "__name__", str(annotation))


def _validation_error(exc: ValidationError, file: Path | None) -> ConfigError:
    err = exc.errors(include_url=False)[0]
    loc = [str(part) for part in err["loc"]]
    key = loc[1] if len(loc) > 1 and loc[0] in _GROUPS else (loc[0] if loc else "?")
    group = _FLAT.get(key)
    expected = ""
    if group is not None:
        field = _GROUPS[group].model_fields[key]
        expected = f"expected {_type_name(field.annotation)}; "
    where = "".join(f"[{p}]" for p in loc[2:])
    message = err["msg"]
    if err["type"] == "missing" and len(loc) > 2:
        message = f"too few items (item {loc[-1]} is missing)"
    elif err["type"] not in ("value_error", "assertion_error") and "input" in err:
        message = f"{message} (got {_short(err['input'])})"
    elif err["type"] == "value_error":
        message = message.removeprefix("Value error, ")
        expected = ""
    count = len(exc.errors())
    more = f" [+{count - 1} more error(s)]" if count > 1 else ""
    return ConfigError(f"{expected}{message}{where and ' at ' + where}{more}", file=file, argument=key)


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _build(flat: dict[str, Any], file: Path | None) -> AnonymiseConfig:
    grouped: dict[str, dict[str, Any]] = {group: {} for group in _GROUPS}
    for key, value in flat.items():
        grouped[_FLAT[key]][key] = value
    try:
        return AnonymiseConfig.model_validate(grouped)
    except ValidationError as exc:
        raise _validation_error(exc, file) from None


def load_config(
    path: str | os.PathLike[str] | None = None, *, base: Literal["360", "planar"] | None = None
) -> AnonymiseConfig:
    """Load the configuration: model defaults ← shipped default YAML (``base``) ← the user file at ``path``.

    ``base`` None means ``"planar"``. The user file needs only the keys it changes. Unknown keys, wrong
    types and bad enum values raise :class:`ConfigError` naming the key and the file.
    """
    base_path = default_config_path(base or "planar")
    flat = _read_yaml(base_path)
    mtime = base_path.stat().st_mtime
    source: Path | None = None
    if path is not None:
        source = Path(path)
        user = _read_yaml(source)
        _resolve_relative_paths(user, source.resolve().parent)
        flat = _merge(flat, user)
        mtime = source.stat().st_mtime
    config = _build(flat, source)
    config._source = source
    config._source_mtime = mtime
    return config


def _inside(child: Path, parent: Path) -> bool:
    try:
        child.resolve().relative_to(parent.resolve())
    except ValueError:
        return False
    return True


def _write_problem(folder: Path, need: int) -> str | None:
    """Why files cannot be written below ``folder`` (probed with a real file), or None."""
    probe_dir = folder
    while not probe_dir.exists():
        if probe_dir.parent == probe_dir:
            return "has no existing parent folder"
        probe_dir = probe_dir.parent
    if not probe_dir.is_dir():
        return f"cannot be created ({os.fspath(probe_dir)!r} is not a folder)"
    try:
        handle, name = tempfile.mkstemp(prefix=".masksmith-probe-", dir=probe_dir)
        os.close(handle)
        os.unlink(name)
    except OSError as exc:
        where = "" if probe_dir == folder else f" (its parent {os.fspath(probe_dir)!r})"
        return f"is not writable{where}: {exc.strerror or exc}"
    free = shutil.disk_usage(probe_dir).free
    if free < need:
        return f"has {free / 2**20:.0f} MB free, less than min_free_space_mb = {need // 2**20}"
    return None


def check_startup(
    config: AnonymiseConfig,
    *,
    input_dir: str | os.PathLike[str],
    output_dir: str | os.PathLike[str],
    archive_dir: str | os.PathLike[str] | None = None,
    log_dir: str | os.PathLike[str] | None = None,
) -> None:
    """Refuse configurations the run cannot honour (the original's ``check_config`` and a few more).

    Every problem found is listed in one ConfigError; the ``argument`` is the first offending key or flag.
    """
    problems: list[tuple[str, str]] = []
    out = config.outputs
    inp = Path(input_dir)
    outp = Path(output_dir)
    arch = Path(archive_dir) if archive_dir is not None else None

    if not inp.is_dir():
        problems.append(("-i/--input-folder", f"input folder {os.fspath(inp)!r} does not exist"))
    if outp.exists() and not outp.is_dir():
        problems.append(("-o/--output-folder", f"output folder {os.fspath(outp)!r} is not a folder"))
    if _inside(outp, inp) or _inside(inp, outp):
        problems.append(("-o/--output-folder", "input and output folders must not contain each other"))
    if arch is not None and (_inside(arch, inp) or _inside(inp, arch) or _inside(arch, outp)):
        problems.append(("-a/--archive-folder", "the archive folder must be apart from input and output"))
    if log_dir is not None and Path(log_dir).exists() and not Path(log_dir).is_dir():
        problems.append(("-l/--log-folder", f"log folder {os.fspath(log_dir)!r} is not a folder"))
    need = config.run.min_free_space_mb * 2**20
    for flag, label, folder in (
        ("-o/--output-folder", "output", outp),
        ("-a/--archive-folder", "archive", arch),
        ("-l/--log-folder", "log", Path(log_dir) if log_dir is not None else None),
    ):
        if folder is None:
            continue
        problem = _write_problem(folder, need)
        if problem is not None:
            problems.append((flag, f"{label} folder {os.fspath(folder)!r} {problem}"))

    for key in ("archive_json", "archive_preview", "archive_mask"):
        if getattr(out, key) and arch is None:
            problems.append((key, f"{key} needs an archive folder (-a)"))
    if out.archive_json and not out.remote_json:
        problems.append(("archive_json", "archive_json needs remote_json (the archive gets the output JSON)"))
    if out.archive_preview and not out.remote_preview:
        problems.append(("archive_preview", "archive_preview needs remote_preview"))
    if out.any_preview and out.preview_dim is None:
        problems.append(("preview_dim", "previews are enabled but preview_dim is null"))
    if out.separate_preview_directory is not None and _inside(Path(out.separate_preview_directory), inp):
        problems.append(("separate_preview_directory", "the preview folder must not lie inside the input"))
    if config.metadata.force_fylke and config.metadata.fylkesnummer is None:
        problems.append(("force_fylke", "force_fylke needs fylkesnummer"))
    if config.run.delete_input:
        if arch is None:
            problems.append(("delete_input", "delete_input needs an archive folder (-a) for verified copies"))
        _log.warning("delete_input is on: inputs are removed once outputs and archive copy are verified")
    if config.run.force_remask:
        _log.warning("force_remask is deprecated and has no effect")

    db = config.database
    if db.write_exif_to_db:
        if not db.table_name:
            problems.append(("table_name", "write_exif_to_db needs table_name"))
        if not config.metadata.data_eier:
            problems.append(("data_eier", "write_exif_to_db needs data_eier (a NOT NULL column)"))
        if db.db_encrypted_password is not None and not os.environ.get(db.db_password_env):
            try:
                db.db_password()
            except ConfigError as exc:
                problems.append((exc.argument or "db_encrypted_password", exc.message))

    det = config.detection
    if DetectorName.YOLO_SEG in det.detectors:
        model = det.yolo_model_paths.for_type(det.model_type) or os.environ.get("MASKSMITH_YOLO_SEG_MODEL")
        if model is None:
            problems.append(
                (
                    "detectors",
                    "yolo_seg needs a YOLO-seg ONNX model: set yolo_model_paths or $MASKSMITH_YOLO_SEG_MODEL "
                    "(see 'masksmith models list')",
                )
            )
        elif not Path(model).is_file():
            message = f"{det.model_type.value} model file {model!r} does not exist"
            problems.append(("yolo_model_paths", message))

    for name, key in (
        (DetectorName.TEXT_PLATES, "text_model_path"),
        (DetectorName.MASK_RCNN, "mask_rcnn_model_path"),
    ):
        value = getattr(det, key)
        if name in det.detectors and value is not None and not Path(value).is_file():
            problems.append((key, f"model file {value!r} does not exist"))

    email = config.email
    if email.any_email and (not email.smtp_host or not email.email_to_addresses):
        _log.warning("e-mail notifications are on but smtp_host/email_to_addresses are unset; none are sent")

    if problems:
        message = "; ".join(text for _, text in problems)
        raise ConfigError(message, file=config.source, argument=problems[0][0])
