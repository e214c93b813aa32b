"""The sections of the ``masksmith anonymise`` configuration (pydantic models) and their vocabularies.

:class:`masksmith.anonymise.config.AnonymiseConfig` groups them; every name is re-exported from
:mod:`masksmith.anonymise.config`, which also loads the YAML files.
"""

from __future__ import annotations

import difflib
import os
import string
from enum import Enum, StrEnum
from typing import Any
from urllib.parse import urlsplit

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationInfo,
    field_validator,
)

from masksmith.errors import ConfigError

__all__ = [
    "CLASS_ORDER",
    "COCO91_NAMES",
    "MAPPENAVN_KEYS",
    "ConfigGroup",
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
    "encrypt_secret",
]

# COCO category ids as used by the original's TF1 Mask R-CNN label map (ids 1..90 with gaps).
COCO91_NAMES: dict[int, str] = {
    1: "person", 2: "bicycle", 3: "car", 4: "motorcycle", 5: "airplane", 6: "bus", 7: "train",
    8: "truck", 9: "boat", 10: "traffic light", 11: "fire hydrant", 13: "stop sign",
    14: "parking meter", 15: "bench", 16: "bird", 17: "cat", 18: "dog", 19: "horse", 20: "sheep",
    21: "cow", 22: "elephant", 23: "bear", 24: "zebra", 25: "giraffe", 27: "backpack",
    28: "umbrella", 31: "handbag", 32: "tie", 33: "suitcase", 34: "frisbee", 35: "skis",
    36: "snowboard", 37: "sports ball", 38: "kite", 39: "baseball bat", 40: "baseball glove",
    41: "skateboard", 42: "surfboard", 43: "tennis racket", 44: "bottle", 46: "wine glass",
    47: "cup", 48: "fork", 49: "knife", 50: "spoon", 51: "bowl", 52: "banana", 53: "apple",
    54: "sandwich", 55: "orange", 56: "broccoli", 57: "carrot", 58: "hot dog", 59: "pizza",
    60: "donut", 61: "cake", 62: "chair", 63: "couch", 64: "potted plant", 65: "bed",
    67: "dining table", 70: "toilet", 72: "tv", 73: "laptop", 74: "mouse", 75: "remote",
    76: "keyboard", 77: "cell phone", 78: "microwave", 79: "oven", 80: "toaster", 81: "sink",
    82: "refrigerator", 84: "book", 85: "clock", 86: "vase", 87: "scissors", 88: "teddy bear",
    89: "hair drier", 90: "toothbrush",
}  # fmt: skip

#: Every class name masksmith knows, in output order (COCO id order, then masksmith's own classes).
CLASS_ORDER: tuple[str, ...] = (*COCO91_NAMES.values(), "face", "licence_plate")

#: Keys available to the ``exif_mappenavn`` template (§5.4 of the facts; ``hp`` from V1).
MAPPENAVN_KEYS: frozenset[str] = frozenset(
    {
        "aar", "maaned", "dag", "fylke", "vegkat", "vegstat", "vegnr", "meter", "feltkode",
        "strekningreferanse", "relative_input_dir", "hp",
    }
)  # fmt: skip

_LOG_FILE_KEYS = frozenset({"datetime", "hostname"})


class ModelType(StrEnum):
    """Speed/accuracy trade-off of the segmentation model."""

    SLOW = "Slow"
    MEDIUM = "Medium"
    FAST = "Fast"


class DrawMode(StrEnum):
    """How masked regions are drawn."""

    BLUR = "blur"
    GRAY_BLUR = "gray_blur"
    NORMALIZED_GRAY_BLUR = "normalized_gray_blur"
    MASK_COLOR = "mask_color"


class LogLevel(StrEnum):
    """Console log levels the original accepted."""

    DEBUG = "DEBUG"
    INFO = "INFO"
    WARNING = "WARNING"
    ERROR = "ERROR"


class JpegMode(StrEnum):
    """How an anonymised JPEG is written."""

    LOSSLESS_OUTSIDE = "lossless_outside"  # only MCUs a mask touches are re-encoded (input's tables)
    REENCODE = "reencode"  # the whole image at jpeg_quality (the original's behaviour)


class DetectorName(StrEnum):
    """Detectors ``masksmith anonymise`` can run (see ``masksmith.detect``)."""

    CENTERFACE = "centerface"
    YOLO_SEG = "yolo_seg"
    HOG_PEOPLE = "hog_people"
    HAAR_PLATES = "haar_plates"
    TEXT_PLATES = "text_plates"
    MASK_RCNN = "mask_rcnn"
    YOLOX = "yolox"


def _enum_case_insensitive(enum: type[Enum], value: Any) -> Any:
    if isinstance(value, str):
        for member in enum:
            if member.value.lower() == value.strip().lower():
                return member
    return value


def _template_fields(template: str) -> set[str]:
    return {name.split(".")[0].split("[")[0] for _, name, _, _ in string.Formatter().parse(template) if name}


class ConfigGroup(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, validate_default=True)


class MetadataConfig(ConfigGroup):
    """Values written into the output JSON."""

    data_eier: str | None = None
    fylkesnummer: int | None = Field(default=None, ge=1, le=99)
    force_fylke: bool = False
    image_type: str = Field(default="Planar", min_length=1)
    application_version: str = "0.2"
    exif_mappenavn: str = "Vegbilder/{relative_input_dir}"
    # Matched case-insensitively (the original's planar and 360 defaults differ only in case).
    exif_top_dir: str = "tilSladding"
    remove_imagetype_filepath: bool = False
    flip_wkt: bool = False

    @field_validator("application_version", "image_type", "data_eier", mode="before")
    @classmethod
    def _number_to_str(cls, value: Any) -> Any:
        # YAML reads an unquoted 0.2 or 360 as a number.
        return str(value) if isinstance(value, int | float) and not isinstance(value, bool) else value

    @field_validator("exif_mappenavn")
    @classmethod
    def _known_template_keys(cls, value: str) -> str:
        try:
            unknown = _template_fields(value) - MAPPENAVN_KEYS
        except ValueError as exc:
            raise ValueError(f"not a valid format template ({exc})") from None
        if unknown:
            raise ValueError(
                f"unknown template key(s) {sorted(unknown)}; valid keys: {', '.join(sorted(MAPPENAVN_KEYS))}"
            )
        return value


class RunConfig(ConfigGroup):
    """How the run behaves: deletion, restarts, file access, parallelism."""

    delete_input: bool = False
    force_remask: bool = False  # deprecated in V2 (no .webp marker); kept so old files load
    lazy_paths: bool = False
    file_access_retry_seconds: float = Field(default=10, ge=0)
    file_access_timeout_seconds: float = Field(default=60, ge=0)
    enable_async: bool = True
    max_num_async_workers: int = Field(default=2, ge=1)
    write_journal: bool = False
    # masksmith: images detected at once, each worker with its own models; None = one per core, up to 8
    detection_workers: int | None = Field(default=None, ge=1)
    # masksmith memory bounds: larger images are refused before decoding; no detector ever sees a view of
    # more pixels (large images are detected in overlapping windows plus a reduced whole-image pass).
    max_image_pixels: int = Field(default=150_000_000, ge=1)
    detection_max_pixels: int = Field(default=2_500_000, ge=10_000)
    # masksmith: output, archive and log folders must have this much free space at start-up
    min_free_space_mb: int = Field(default=200, ge=0)


class LoggingConfig(ConfigGroup):
    """Log file naming and verbosity."""

    datetime_format: str = "%Y-%m-%d %H.%M.%S"
    log_file_name: str = "{datetime}_{hostname}.log"
    log_level: LogLevel = LogLevel.DEBUG

    @field_validator("log_level", mode="before")
    @classmethod
    def _level(cls, value: Any) -> Any:
        return _enum_case_insensitive(LogLevel, value)

    @field_validator("log_file_name")
    @classmethod
    def _log_name(cls, value: str) -> str:
        unknown = _template_fields(value) - _LOG_FILE_KEYS
        if unknown:
            raise ValueError(f"unknown template key(s) {sorted(unknown)}; valid keys: datetime, hostname")
        return value


class OutputConfig(ConfigGroup):
    """Which files are written where (remote = output tree, local = input tree, archive = -a tree)."""

    remote_json: bool = True
    local_json: bool = False
    archive_json: bool = False
    # V1 mask files (<stem> mask image); commented out in V2, off by default.
    remote_mask: bool = False
    local_mask: bool = False
    archive_mask: bool = False
    remote_preview: bool = False
    local_preview: bool = False
    archive_preview: bool = False
    separate_preview_directory: str | None = None
    preview_dim: tuple[int, int] | None = (2520, 1400)  # [width, height]
    preview_center: tuple[float, float] = (0.45, 0.5)  # [height fraction, width fraction]
    # JPEG → JPEG keeps every block no mask touches (bit-identical); reencode writes it all at jpeg_quality.
    jpeg_mode: JpegMode = JpegMode.LOSSLESS_OUTSIDE
    # reencode (and PNG→JPEG, previews): the original saved with PIL's default quality (75).
    jpeg_quality: int = Field(default=75, ge=1, le=100)

    @field_validator("jpeg_mode", mode="before")
    @classmethod
    def _jpeg_mode(cls, value: Any) -> Any:
        return _enum_case_insensitive(JpegMode, value)

    @field_validator("preview_dim")
    @classmethod
    def _positive_dim(cls, value: tuple[int, int] | None) -> tuple[int, int] | None:
        if value is not None and min(value) < 1:
            raise ValueError("both [width, height] must be >= 1")
        return value

    @field_validator("preview_center")
    @classmethod
    def _fractions(cls, value: tuple[float, float]) -> tuple[float, float]:
        if not all(0.0 <= v <= 1.0 for v in value):
            raise ValueError("both [height, width] fractions must lie in [0, 1]")
        return value

    @property
    def any_preview(self) -> bool:
        """True when a preview is written anywhere (this sets ``exif_preview_filnavn``)."""
        return (
            self.remote_preview
            or self.local_preview
            or self.archive_preview
            or self.separate_preview_directory is not None
        )


class YoloModelPaths(ConfigGroup):
    """YOLO-seg ONNX files per ``model_type``; None uses the detector registry's default."""

    Slow: str | None = None
    Medium: str | None = None
    Fast: str | None = None

    def for_type(self, model_type: ModelType) -> str | None:
        """The path configured for ``model_type``."""
        value: str | None = getattr(self, model_type.value)
        return value


class DetectionConfig(ConfigGroup):
    """Which detectors run and how their masks are post-processed."""

    model_type: ModelType = ModelType.MEDIUM
    detectors: list[DetectorName] = Field(
        # precision first: models that ship in packages; people and vehicles need a model (mask_rcnn, yolo_seg)
        default_factory=lambda: [DetectorName.CENTERFACE, DetectorName.TEXT_PLATES],
        min_length=1,
    )
    yolo_model_paths: YoloModelPaths = Field(default_factory=YoloModelPaths)
    # masksmith: a PP-OCR text-detection ONNX for text_plates (null: the one in the rapidocr wheel)
    text_model_path: str | None = None
    # masksmith: an ONNX model zoo Mask R-CNN for mask_rcnn (null: the fetched one in the model cache)
    mask_rcnn_model_path: str | None = None
    # masksmith: a YOLOX ONNX export for yolox (boxes); yolox_decoded when exported with decoding built in
    yolox_model_path: str | None = None
    yolox_decoded: bool = False
    # masksmith: model class index -> class name for mask_rcnn / yolo_seg / yolox (null: the family's COCO map)
    model_class_map: dict[int, str] | None = None
    # masksmith: with no people/vehicle detector listed, add mask_rcnn when its model is in the cache
    use_cached_people_model: bool = True
    # masksmith: as deface's --mask-scale: each side of a face box moves out by (face_scale - 1) x its size
    face_scale: float = Field(default=1.3, ge=1.0, le=3.0)
    # masksmith: weak detectors (hog_people, haar_plates) only count where a stronger cue agrees
    gate_weak_detectors: bool = True
    kept_classes: list[str] = Field(
        default_factory=lambda: [
            "person", "bicycle", "car", "motorcycle", "bus", "truck", "face", "licence_plate",
        ],
        min_length=1,
    )  # fmt: skip
    # The original had no explicit threshold; 0.3 is what the TF1 exported graphs typically used.
    score_threshold: float = Field(default=0.3, ge=0.0, le=1.0)
    mask_dilation_pixels: int = Field(default=4, ge=0)
    max_num_pixels: int = Field(default=1_000_000_000, ge=1)
    use_cutouts: bool = False
    cutout_step_factor: tuple[int, int] = (1500, 1300)  # [h, w] stride in pixels
    cutout_dim_downscale: tuple[float, float] = (3, 2)  # window = (H / a, W / b)
    cutout_wrap_around: bool = False  # 360° panoramas: windows wrap past the right edge

    @field_validator("model_type", mode="before")
    @classmethod
    def _model_type(cls, value: Any) -> Any:
        return _enum_case_insensitive(ModelType, value)

    @field_validator("detectors", mode="before")
    @classmethod
    def _detectors(cls, value: Any) -> Any:
        if isinstance(value, list):
            # `masksmith models list` spells registry names with '-' (hog-people): both spellings work
            return [
                _enum_case_insensitive(DetectorName, v.replace("-", "_") if isinstance(v, str) else v)
                for v in value
            ]
        return value

    @field_validator("model_class_map")
    @classmethod
    def _class_map(cls, value: dict[int, str] | None) -> dict[int, str] | None:
        if value is None:
            return None
        unknown = sorted({v for v in value.values() if v not in CLASS_ORDER})
        if unknown:
            raise ValueError(
                f"unknown class name(s) {unknown}; use COCO class names, 'face' or 'licence_plate'"
            )
        return dict(value)

    @field_validator("kept_classes")
    @classmethod
    def _classes(cls, value: list[str]) -> list[str]:
        # A typo here ("persons") would silently leave people unmasked, so refuse unknown names.
        cleaned = [v.strip().lower() for v in value]
        unknown = [v for v in cleaned if v not in CLASS_ORDER]
        if unknown:
            hints = {u: difflib.get_close_matches(u, CLASS_ORDER, n=1) for u in unknown}
            text = ", ".join(f"{u!r}" + (f" (did you mean {h[0]!r}?)" if h else "") for u, h in hints.items())
            raise ValueError(f"unknown class name(s) {text}; use COCO class names, 'face' or 'licence_plate'")
        return list(dict.fromkeys(cleaned))

    @field_validator("cutout_step_factor")
    @classmethod
    def _steps(cls, value: tuple[int, int]) -> tuple[int, int]:
        if min(value) < 1:
            raise ValueError("both [height, width] steps must be >= 1 pixel")
        return value

    @field_validator("cutout_dim_downscale")
    @classmethod
    def _downscale(cls, value: tuple[float, float]) -> tuple[float, float]:
        if min(value) < 1:
            raise ValueError("both [height, width] factors must be >= 1")
        return value


_RGB = tuple[int, int, int]


def _check_rgb(value: _RGB) -> _RGB:
    if not all(0 <= c <= 255 for c in value):
        raise ValueError("colour components must lie in 0..255")
    return value


class DrawConfig(ConfigGroup):
    """How detections are drawn onto the published image."""

    draw_mask: bool = True
    mask_color: _RGB | None = None
    blur: int | None = Field(default=15, ge=1, le=1000)  # box kernel = blur/1000 × image width
    gray_blur: bool = True
    normalized_gray_blur: bool = True
    # masksmith addition: an explicit mode; None derives it from blur / gray_blur / normalized_gray_blur.
    draw_mode: DrawMode | None = None
    label_colors: dict[str, _RGB] = Field(
        default_factory=lambda: {
            "person": (255, 255, 255),
            "bicycle": (0, 0, 255),
            "car": (255, 0, 0),
            "motorcycle": (255, 255, 0),
            "bus": (0, 255, 255),
            "truck": (0, 255, 0),
        }
    )
    default_color: _RGB = (100, 100, 100)

    @field_validator("draw_mode", mode="before")
    @classmethod
    def _mode(cls, value: Any) -> Any:
        return _enum_case_insensitive(DrawMode, value)

    @field_validator("mask_color", "default_color")
    @classmethod
    def _rgb(cls, value: _RGB | None) -> _RGB | None:
        return None if value is None else _check_rgb(value)

    @field_validator("label_colors")
    @classmethod
    def _label_rgb(cls, value: dict[str, _RGB]) -> dict[str, _RGB]:
        return {k: _check_rgb(v) for k, v in value.items()}

    @field_validator("draw_mode")
    @classmethod
    def _blur_for_blur_modes(cls, value: DrawMode | None, info: ValidationInfo) -> DrawMode | None:
        if value not in (None, DrawMode.MASK_COLOR) and info.data.get("blur", 0) is None:
            raise ValueError(f"draw_mode {value.value!r} needs a blur strength, but blur is null")
        return value

    @property
    def effective_mode(self) -> DrawMode:
        """The draw mode in force: explicit ``draw_mode`` or the original's flag logic."""
        if self.draw_mode is not None:
            return self.draw_mode
        if self.blur is None:
            return DrawMode.MASK_COLOR
        if not self.gray_blur:
            return DrawMode.BLUR
        return DrawMode.NORMALIZED_GRAY_BLUR if self.normalized_gray_blur else DrawMode.GRAY_BLUR


class EmailConfig(ConfigGroup):
    """Notification e-mails (the original kept SMTP settings in a separate Python file)."""

    uncaught_exception_email: bool = False
    processing_error_email: bool = False
    finished_email: bool = False  # independent flag (the original also required processing_error_email)
    email_attach_log_file: bool = False
    smtp_host: str | None = None
    smtp_port: int = Field(default=25, ge=1, le=65535)
    smtp_starttls: bool = False
    smtp_user: str | None = None
    smtp_password_env: str = "MASKSMITH_SMTP_PASSWORD"
    email_from_address: str | None = None
    email_to_addresses: list[str] = Field(default_factory=list)

    def smtp_password(self) -> SecretStr | None:
        """The SMTP password from ``$smtp_password_env`` (None when unset)."""
        value = os.environ.get(self.smtp_password_env)
        return SecretStr(value) if value else None

    @property
    def any_email(self) -> bool:
        """True when any e-mail notification is switched on."""
        return self.uncaught_exception_email or self.processing_error_email or self.finished_email


class DatabaseConfig(ConfigGroup):
    """Metadata rows written to a database (SQLite by default, PostgreSQL/PostGIS in production)."""

    write_exif_to_db: bool = False
    db_max_n_accumulated_rows: int = Field(default=100, ge=1)
    db_max_n_errors: int = Field(default=1000, ge=0)
    db_max_cache_size: int = Field(default=1000, ge=1)
    table_name: str | None = "VEGBILDER"
    table_primary_key: str = "bildeid"
    db_url: str | None = None  # SQLAlchemy URL without password; None → the sink's embedded SQLite file
    db_schema: str | None = None
    db_password_env: str = "MASKSMITH_DB_PASSWORD"
    db_encrypted_password: SecretStr | None = None  # Fernet token; key from the variable db_key_env names
    db_key_env: str = "MASKSMITH_DB_KEY"

    @field_validator("db_url")
    @classmethod
    def _no_password_in_url(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                password = urlsplit(value).password
            except ValueError:
                password = None
            if password:
                raise ValueError(
                    "the URL must not contain a password; put it in the environment variable named by "
                    "db_password_env, or encrypt it into db_encrypted_password"
                )
        return value

    def db_password(self) -> SecretStr | None:
        """The database password: from ``$db_password_env``, else the decrypted ``db_encrypted_password``.

        Raises ConfigError when an encrypted password is configured but cannot be decrypted.
        """
        from_env = os.environ.get(self.db_password_env)
        if from_env:
            return SecretStr(from_env)
        if self.db_encrypted_password is None:
            return None
        key = os.environ.get(self.db_key_env)
        if not key:
            raise ConfigError(
                f"db_encrypted_password is set but the key variable ${self.db_key_env} is empty",
                argument="db_encrypted_password",
            )
        return SecretStr(_decrypt(self.db_encrypted_password.get_secret_value(), key))


def _fernet(key: str) -> Any:
    try:
        from cryptography.fernet import Fernet
    except ImportError:  # pragma: no cover - depends on the installation
        raise ConfigError(
            "decrypting db_encrypted_password needs the 'cryptography' package: pip install 'masksmith[db]'",
            argument="db_encrypted_password",
        ) from None
    try:
        return Fernet(key.encode())
    except (ValueError, TypeError):
        raise ConfigError(
            "the Fernet key is malformed (want 32 url-safe base64 bytes)", argument="db_key_env"
        ) from None


def _decrypt(token: str, key: str) -> str:
    from cryptography.fernet import InvalidToken

    try:
        plain: bytes = _fernet(key).decrypt(token.encode())
    except InvalidToken:
        raise ConfigError(
            "db_encrypted_password cannot be decrypted with the configured key",
            argument="db_encrypted_password",
        ) from None
    return plain.decode()


def encrypt_secret(secret: str, key: str) -> str:
    """Encrypt ``secret`` with a Fernet ``key`` (for ``db_encrypted_password``)."""
    token: bytes = _fernet(key).encrypt(secret.encode())
    return token.decode()
