"""Journals masksmith makes read back through a reader that expects the Journaling Tool's format, and the
attributes the original writes (similarity, EXIF differences, colours, positions, path analysis)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

from masksmith.journal import fidelity
from masksmith.journal.project import Journal
from masksmith.journal.store import find_journal_json
from masksmith.media import geometry, masks
from masksmith.media import io as media_io
from tests.batch.jt_specs import base, basic_example, media_pools, plugin, run_spec, spec, value
from tests.journal.jt_reader import FormatError, deserialize_matrix, read_jt_journal
from tests.plugins.plugin_cases import photo


@pytest.fixture(scope="module")
def made(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    """Journals from the basic example and a crop/rotate spec (links with matrices of both kinds)."""
    root = tmp_path_factory.mktemp("fidelity")
    pools = media_pools(root / "media")
    first = run_spec(root / "basic", basic_example(), pools, count=2, seed=5)
    geometric = spec(
        [base(), plugin("1", "OutputPNG", {"Image Rotated": value("yes")}),
         plugin("2", "CropTo", {"crop_x": value(16), "crop_y": value(8), "pixel_width": value(200), "pixel_height": value(150)}),
         plugin("3", "Rotate", {"rotation": value(15)})],
        [(0, 1), (1, 2), (2, 3)],
    )  # fmt: skip
    second = run_spec(root / "geo", geometric, pools, count=1, seed=2)
    assert first.failed == 0 and second.failed == 0
    return [Path(p) for p in [*first.projects, *second.projects]]


def test_reader_refuses_a_nested_list_matrix() -> None:
    with pytest.raises(FormatError):
        deserialize_matrix([[1, 0, 0], [0, 1, 0], [0, 0, 1]])
    assert deserialize_matrix({"r": 2, "c": 2, "r0": [1, 2], "r1": [3, 4]}).tolist() == [[1, 2], [3, 4]]


def test_the_original_format_reader_gets_the_same_matrices(made: list[Path]) -> None:
    seen = 0
    for folder in made:
        jt = read_jt_journal(find_journal_json(folder))
        journal = Journal.open(folder)
        for (start, end), matrix in jt.matrices.items():
            data = journal.graph.edge(start, end)
            ours = geometry.matrix_from_jt(
                data.get("transform matrix", data.get("arguments", {}).get("transform matrix"))
            )
            assert ours is not None and np.allclose(matrix, ours)
            seen += 1
    assert seen >= 4  # the pastes, the crop and the rotation carry one


def test_crop_and_rotation_matrices_are_what_the_plugins_did(made: list[Path]) -> None:
    jt = read_jt_journal(find_journal_json(made[-1]))
    by_plugin = {link.get("plugin_name"): (s, e) for s, e, link in jt.links}
    assert np.allclose(jt.matrices[by_plugin["CropTo"]], geometry.translation(-16, -8))
    rotate = jt.matrices[by_plugin["Rotate"]]
    assert np.allclose(rotate[:2, :2], [[np.cos(np.radians(15)), np.sin(np.radians(15))],
                                        [-np.sin(np.radians(15)), np.cos(np.radians(15))]], atol=1e-9)  # fmt: skip


def test_nodes_links_and_project_carry_the_original_attributes(made: list[Path]) -> None:
    for folder in made:
        jt = read_jt_journal(
            find_journal_json(folder)
        )  # xpos/ypos, linkcolor, exifdiff, edgeFilePaths checked
        colours = [link["linkcolor"] for _, _, link in jt.links if link["op"] != "Donor"]
        assert len(set(colours)) == len(colours)
        positions = {(n["xpos"], n["ypos"]) for n in jt.nodes.values()}
        assert len(positions) == len(jt.nodes)
        finals = [n for n in jt.nodes.values() if n["nodetype"] == "final"]
        assert finals and all(len(n["pathanalysis"]) == 58 for n in finals)
        assert media_io.image_format(folder / "_overview_.png") == "PNG"


def test_path_analysis_names_what_happened_on_the_path(made: list[Path]) -> None:
    jt = read_jt_journal(find_journal_json(made[0]))
    final = next(n for n in jt.nodes.values() if n["nodetype"] == "final")
    analysis = final["pathanalysis"]
    paste = next(link for _, _, link in jt.links if link["op"] == "PasteSplice")
    subject_property = {"face": "face", "people": "people", "landscape": "landscape", "natural object": "natural",
                        "man-made object": "manmade", "large man-made object": "largemanmade", "other": "othersubjects"}  # fmt: skip
    subject = paste["arguments"]["subject"]
    if subject in subject_property:
        assert analysis[subject_property[subject]] == "yes"
    assert analysis["imagecompressiontable"] == "yes"  # CompressAs at the end
    assert analysis["seamcarving"] == "no"
    assert analysis["manipulationcount"] >= 2


def test_psnr_and_ssim_match_scikit_image(made: list[Path]) -> None:
    checked = 0
    for folder in made:
        journal = Journal.open(folder)
        for start, end, data in journal.graph.edges():
            if "ssim" not in data:
                continue
            a, b = journal.pixels(start), journal.pixels(end)
            assert data["ssim"] == pytest.approx(
                structural_similarity(a, b, channel_axis=2, data_range=255), abs=1e-9
            )
            if "psnr" in data:
                assert data["psnr"] == pytest.approx(peak_signal_noise_ratio(a, b, data_range=255), abs=1e-9)
            if "local psnr" in data:
                changed = journal.edge_mask(start, end)
                assert data["local psnr"] == pytest.approx(
                    peak_signal_noise_ratio(a[changed], b[changed], data_range=255)
                )
            checked += 1
    assert checked >= 6


def test_select_mask_is_the_selected_region(made: list[Path]) -> None:
    journal = Journal.open(made[0])
    _start, end, data = next((s, e, d) for s, e, d in journal.graph.edges() if d["op"] == "SelectRegion")
    written = media_io.read_image(journal.directory / data["selectmaskname"]).pixels
    assert np.array_equal(written == 255, masks.alpha_mask(journal.pixels(end)))
    assert journal.graph.attributes["edgeFilePaths"]["selectmaskname"] == ""


def test_exifdiff_lists_changed_added_and_deleted_tags(tmp_path: Path) -> None:
    from PIL import Image

    def exif(**tags: str) -> bytes:
        block = Image.Exif()
        names = {"Make": 0x010F, "Model": 0x0110, "Software": 0x0131}
        for name, text in tags.items():
            block[names[name]] = text
        return block.tobytes()

    before, after = exif(Make="Canon", Model="EOS", Software="a"), exif(Make="Nikon", Software="a")
    assert fidelity.exif_diff(before, after) == {
        "Make": ["change", "Canon", "Nikon"],
        "Model": ["delete", "EOS"],
    }
    assert fidelity.exif_diff(None, exif(Model="X")) == {"Model": ["add", "X"]}
    # and on a recorded link: a re-save that rewrites the camera tags
    source, target = tmp_path / "a.jpg", tmp_path / "b.jpg"
    media_io.write_image(source, photo(), quality=90, exif=before)
    media_io.write_image(target, photo(), quality=90, exif=after)
    journal = Journal.create(source, tmp_path / "j", name="j")
    journal.record(journal.graph.base_node(), target, op="AntiForensicEditExif", check_arguments=False)
    edge = next(d for _, _, d in journal.graph.edges())
    assert edge["exifdiff"] == {"Make": ["change", "Canon", "Nikon"], "Model": ["delete", "EOS"]}


@pytest.mark.parametrize(
    ("shape", "dtype", "top"),
    [
        ((7, 7), np.uint8, 255),
        ((37, 61), np.uint8, 255),
        ((45, 50, 3), np.uint16, 65535),
        ((90, 33, 5), np.uint8, 255),
    ],
)
def test_ssim_over_strips_matches_scikit_image(shape: tuple[int, ...], dtype: type, top: int) -> None:
    from masksmith.journal.fidelity import ssim

    rng = np.random.default_rng(sum(shape))
    a = rng.integers(0, top + 1, shape).astype(dtype)
    b = np.clip(a.astype(np.int64) + rng.integers(-40, 40, shape), 0, top).astype(dtype)
    expected = structural_similarity(a, b, data_range=top, channel_axis=2 if len(shape) == 3 else None)
    assert ssim(a, b, float(top)) == pytest.approx(expected, abs=1e-12)
