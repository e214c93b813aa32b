"""The plugin contract, checked over every registered plugin."""

from __future__ import annotations

import copy
import hashlib
import os
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from masksmith.errors import PluginError
from masksmith.media import io as media_io
from masksmith.operations import default_catalogue
from masksmith.plugins import PluginKind, all_plugins, get_plugin
from masksmith.plugins.base import PASS_THROUGH_TYPES, Plugin, PluginResult
from masksmith.plugins.registry import available_plugins
from tests.plugins.plugin_cases import Case, build_case

# pycocotools (CocoMaskSelector) still passes copy=False to numpy 2
pytestmark = pytest.mark.filterwarnings("ignore:__array__ implementation:DeprecationWarning")

NAMES = sorted(available_plugins())  # installed plugins; tests elsewhere register their own
BUILT_IN = {
    "OutputPNG", "OutputCopy", "OutputTIFF", "CompressAs", "MedianBlur", "GaussianBlur", "GaussianLocalBlur",
    "Resize", "Rotate", "Crop", "CropPermutations", "SelectRegion", "SmartMaskSelector", "SelectRegionWithMask",
    "PreSegmentedSelectionRegion", "PasteSplice", "DesignPasteClone", "PickPairedImage", "CocoMaskSelector",
    "JSONSelector", "JpgFromCamera", "CropToFitDonor", "FaceCrop", "PasteSpliceDonor", "DetermineImageParameters",
    "CropTo", "SeamCarve", "ConvertToColor", "DirMaskSelect", "OutputJpg", "SIPStoPNG",
}  # fmt: skip


def _case(name: str, folder: Path) -> Case:
    case = build_case(name, folder)
    if case is None:
        pytest.skip(f"no test inputs for third-party plugin {name!r}")
    return case


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _plain(value: Any) -> Any:
    """Variables with paths made relative, for comparing two runs in different folders."""
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, str) and os.sep in value:
        return Path(value).name
    return value


def _is_plain(value: Any) -> bool:
    return isinstance(value, str | int | float | bool | list | dict | tuple) or value is None


def test_every_required_plugin_is_registered() -> None:
    assert set(NAMES) >= BUILT_IN
    for name in BUILT_IN:
        assert get_plugin(name).name == name


@pytest.mark.parametrize("name", NAMES)
def test_declares_a_catalogued_operation_and_parsable_arguments(name: str) -> None:
    cls = all_plugins()[name]
    catalogue = default_catalogue()
    assert cls.operation, f"{name} declares no operation"
    assert catalogue.find(cls.operation) is not None, f"{name}: {cls.operation!r} is not in the catalogue"
    assert isinstance(cls.kind, PluginKind)
    for arg in cls.arguments:
        if arg.type not in PASS_THROUGH_TYPES:
            parameter = arg.parameter()  # raises on a type the catalogue cannot parse
            assert parameter.name == arg.name
    described = cls.describe()
    assert described["operation"] == cls.operation
    assert [a["name"] for a in described["arguments"]] == [a.name for a in cls.arguments]


def _run(case: Case, target_dir: Path, seed: int = 5) -> tuple[PluginResult, Path]:
    target_dir.mkdir(parents=True, exist_ok=True)
    context = case.context(target_dir, seed)
    return get_plugin(case.name).transform(context), context.target


@pytest.mark.parametrize("name", NAMES)
def test_deterministic_under_a_seed(name: str, tmp_path: Path) -> None:
    case = _case(name, tmp_path / "inputs")
    first, target_a = _run(case, tmp_path / "a")
    second, target_b = _run(case, tmp_path / "b")
    assert _plain(first.variables) == _plain(second.variables)
    assert first.operation == second.operation
    assert (first.mask is None) == (second.mask is None)
    if first.mask is not None and second.mask is not None:
        assert np.array_equal(first.mask, second.mask)
    if first.file is not None and second.file is not None:
        assert first.file == second.file
    if target_a.exists():
        assert _digest(target_a) == _digest(target_b)


@pytest.mark.parametrize("name", NAMES)
def test_never_mutates_its_inputs(name: str, tmp_path: Path) -> None:
    case = _case(name, tmp_path / "inputs")
    files = [p for p in (tmp_path / "inputs").rglob("*") if p.is_file()]
    before = {p: (_digest(p), p.stat().st_mtime_ns) for p in files}
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    context = case.context(out_dir)
    pixels = context.pixels()
    pixels_before = pixels.copy()
    mask_before = None if context.input_mask is None else context.input_mask.copy()
    arguments_before = dict(context.arguments)
    plain_before = {k: copy.deepcopy(v) for k, v in arguments_before.items() if _is_plain(v)}
    result = get_plugin(name).transform(context)
    assert {p: (_digest(p), p.stat().st_mtime_ns) for p in files} == before
    for produced in (result.target_pixels, result.mask):
        if produced is not None:  # results never alias the caller's arrays
            assert not np.shares_memory(produced, pixels)
            assert context.input_mask is None or not np.shares_memory(produced, context.input_mask)
    assert np.array_equal(context.pixels(), pixels_before)
    if mask_before is not None:
        assert context.input_mask is not None
        assert np.array_equal(context.input_mask, mask_before)
    assert set(context.arguments) == set(arguments_before)
    for key, value in arguments_before.items():
        assert context.arguments[key] is value
    assert {k: v for k, v in context.arguments.items() if k in plain_before} == plain_before


@pytest.mark.parametrize("name", NAMES)
def test_writes_its_target_atomically(name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    case = _case(name, tmp_path / "inputs")
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    context = case.context(out_dir)
    replaced: list[tuple[Path, Path, bool]] = []
    real_replace = os.replace

    def spy(src: Any, dst: Any, *args: Any, **kwargs: Any) -> None:
        replaced.append((Path(src), Path(dst), Path(dst).exists()))
        real_replace(src, dst, *args, **kwargs)

    monkeypatch.setattr(os, "replace", spy)
    result = get_plugin(name).transform(context)
    monkeypatch.undo()
    if result.operation is not None:  # a per-call variant must be catalogued too
        assert default_catalogue().find(result.operation) is not None
    assert all(isinstance(key, str) for key in result.variables)
    leftovers = sorted(p.name for p in out_dir.iterdir() if p != context.target)
    assert leftovers == [], "temporary files were left behind"
    kind = all_plugins()[name].kind
    if kind is PluginKind.TRANSFORM:
        into_target = [(s, d, existed) for s, d, existed in replaced if d == context.target]
        assert len(into_target) == 1, "the target must appear by one os.replace"
        src, _, existed = into_target[0]
        assert src.parent == context.target.parent and src != context.target and not existed
        loaded = media_io.read_image(context.target)  # complete and decodable
        if result.target_pixels is not None:
            assert np.array_equal(loaded.pixels, result.target_pixels)
    else:
        assert not context.target.exists(), "selectors write no target"
        if kind is PluginKind.FILE_SELECTOR:
            assert result.file is not None and result.file.is_file()
        else:
            assert result.mask is not None or result.variables


def _bad_value(type_text: str) -> Any:
    if type_text.startswith(("int", "float")):
        return "twelve"
    if type_text == "yesno":
        return "perhaps"
    if type_text == "list":
        return "__no_such_value__"
    return ["not", "text"]


def _typed(cls: type[Plugin]) -> list[str]:
    return [a.name for a in cls.arguments if a.type not in PASS_THROUGH_TYPES]


@pytest.mark.parametrize("name", NAMES)
def test_rejects_a_bad_argument_naming_it(name: str, tmp_path: Path) -> None:
    cls = all_plugins()[name]
    typed = _typed(cls)
    if not typed:
        pytest.skip(f"{name} has no typed argument")
    case = _case(name, tmp_path / "inputs")
    for argument in typed:
        out_dir = tmp_path / f"out_{typed.index(argument)}"
        out_dir.mkdir()
        bad = Case(
            case.name,
            case.source,
            {**case.arguments, argument: _bad_value(cls.argument(argument).type)},
            case.donor,
            case.input_mask,
        )
        with pytest.raises(PluginError) as caught:
            get_plugin(name).transform(bad.context(out_dir))
        assert caught.value.argument == argument
        assert argument in str(caught.value)
        assert list(out_dir.iterdir()) == []


@pytest.mark.parametrize("name", [n for n in NAMES if any(a.required for a in all_plugins()[n].arguments)])
def test_missing_required_argument_is_named(name: str, tmp_path: Path) -> None:
    required = [a.name for a in all_plugins()[name].arguments if a.required]
    case = _case(name, tmp_path / "inputs")
    for argument in required:
        arguments = {k: v for k, v in case.arguments.items() if k != argument}
        donor = None if argument == "donor" else case.donor
        bad = Case(case.name, case.source, arguments, donor, case.input_mask)
        with pytest.raises(PluginError) as caught:
            get_plugin(name).transform(bad.context(tmp_path))
        assert caught.value.argument == argument


def test_unknown_plugin_suggests_close_names() -> None:
    with pytest.raises(PluginError, match="did you mean PasteSplice"):
        get_plugin("PasteSplyce")
