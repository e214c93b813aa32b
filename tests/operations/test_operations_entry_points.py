"""Extra catalogues and rules registered through entry points of a (temporary) installed distribution."""

from __future__ import annotations

import json
import sys
import textwrap
from pathlib import Path

import pytest

from masksmith.errors import OperationError, PluginError
from masksmith.operations import RuleRegistry, default_catalogue, load_catalogue, split_rule_name

EXTRA = {
    "operations": [
        {
            "name": "PaintOver",
            "category": "CGI",
            "description": "Paint over a region by hand (test operation).",
            "mandatoryparameters": {"brush": {"type": "list", "values": ["round", "flat"]}},
            "includeInMask": {"default": True},
            "transitions": ["image.image"],
        },
        {"name": "Blur::Bokeh", "optionalparameters": {"aperture": {"type": "float[0.5:22]"}}},
    ]
}


def _install(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, entry_points: str, module: str) -> None:
    """Write a module and a dist-info declaring ``entry_points`` onto a temporary sys.path entry."""
    (tmp_path / "extra_ops_mod.py").write_text(textwrap.dedent(module), encoding="utf-8")
    # import this test's copy fresh, and drop it from sys.modules again afterwards
    monkeypatch.setitem(sys.modules, "extra_ops_mod", None)
    monkeypatch.delitem(sys.modules, "extra_ops_mod")
    info = tmp_path / "extra_ops-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: extra-ops\nVersion: 1.0\n", encoding="utf-8")
    (info / "entry_points.txt").write_text(textwrap.dedent(entry_points), encoding="utf-8")
    monkeypatch.syspath_prepend(str(tmp_path))


@pytest.fixture
def extra_catalogue(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "extra.json").write_text(json.dumps(EXTRA), encoding="utf-8")
    _install(
        tmp_path,
        monkeypatch,
        """
        [masksmith.operations]
        zz_extra = extra_ops_mod:catalogue_path
        aa_dict = extra_ops_mod:catalogue_dict
        """,
        f"""
        from pathlib import Path

        def catalogue_path():
            return Path({str(tmp_path / "extra.json")!r})

        def catalogue_dict():
            return {{"operations": [{{"name": "Blur::Bokeh", "rules": ["from_dict"]}}]}}
        """,
    )


@pytest.mark.usefixtures("extra_catalogue")
def test_entry_point_catalogue_adds_operation_and_variant() -> None:
    catalogue = load_catalogue()
    assert "PaintOver" in catalogue
    assert catalogue.get("PaintOver").check_new_edge({"brush": "flat"}) == {"brush": "flat"}
    bokeh = catalogue.get("Blur::Bokeh")
    assert "aperture" in bokeh.optional
    assert "Blur Type" in bokeh.mandatory  # inherited from the builtin Blur
    # 'aa_dict' sorts first, 'zz_extra' merges after it: both patches apply in name order
    assert bokeh.rules == ("from_dict",)
    assert "PaintOver" not in load_catalogue(entry_points=False)


@pytest.mark.usefixtures("extra_catalogue")
def test_default_catalogue_is_cached_and_sees_entry_points() -> None:
    default_catalogue.cache_clear()
    try:
        assert default_catalogue() is default_catalogue()
        assert "PaintOver" in default_catalogue()
    finally:
        default_catalogue.cache_clear()


def test_broken_entry_point_is_reported(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _install(
        tmp_path,
        monkeypatch,
        "[masksmith.operations]\nbroken = extra_ops_mod:nothing_here\n",
        "x = 1\n",
    )
    with pytest.raises(OperationError, match="broken"):
        load_catalogue()


# --- rules ----------------------------------------------------------------------------------------
def test_rule_decorator_and_lookup() -> None:
    registry = RuleRegistry(group="masksmith.test-no-such-group")

    @registry.rule("check_thing")
    def check_thing() -> None:
        return None

    assert registry.get("check_thing") is check_thing
    assert registry.get("donor:check_thing") is check_thing
    assert "check_thing" in registry
    assert registry.find("check_other") is None
    with pytest.raises(OperationError, match="check_other"):
        registry.get("check_other")
    with pytest.raises(OperationError, match="already registered"):
        registry.register("check_thing", lambda: None)
    with pytest.raises(OperationError, match="prefix"):
        registry.register("donor:x", check_thing)


@pytest.mark.parametrize(
    ("name", "expected"), [("donor:check_a", ("check_a", True)), ("check_a", ("check_a", False))]
)
def test_split_rule_name(name: str, expected: tuple[str, bool]) -> None:
    assert split_rule_name(name) == expected


def test_rules_from_entry_points_load_lazily(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _install(
        tmp_path,
        monkeypatch,
        "[masksmith.rules]\ncheck_plugin = extra_ops_mod:check_plugin\n"
        "check_broken = extra_ops_mod:missing\n",
        "def check_plugin(*args):\n    return 'plugin says no'\n",
    )
    registry = RuleRegistry()
    assert {"check_plugin", "check_broken"} <= set(registry.names())
    assert registry.get("donor:check_plugin")() == "plugin says no"
    with pytest.raises(PluginError, match="check_broken"):
        registry.get("check_broken")
