from __future__ import annotations

import re

import numpy as np
import pytest

from masksmith.errors import OperationError
from masksmith.facemask.templates import (
    CANONICAL_68,
    PALETTES,
    PATTERNS,
    MaskStyle,
    MaskType,
    Template,
    draw_style,
    face_anchors,
    render_style,
    render_template,
)

ALL_STYLES = [(t, p) for t in MaskType for p in PATTERNS[t]]
REQUIRED_ANCHORS = {
    "mask_top",
    "nose_bridge_top",
    "chin_bottom",
    "nose_tip",
    "mouth_left",
    "mouth_right",
    "jaw_01",
    "jaw_15",
    "ear_left",
    "ear_right",
}


def _render(
    kind: MaskType, pattern: str, seed: int = 0, color: tuple[int, int, int] = (120, 150, 200)
) -> Template:
    return render_template(kind, color=color, pattern=pattern, rng=np.random.default_rng(seed), size=256)


def _canonical_in_template(t: Template) -> np.ndarray:
    """Canonical 68 points in this template's pixels, via the similarity fixed by two anchors."""
    _, canon = face_anchors(CANONICAL_68)
    names = list(t.names)
    a, b = names.index("jaw_01"), names.index("chin_bottom")
    scale = np.linalg.norm(t.anchors[a] - t.anchors[b]) / np.linalg.norm(canon[a] - canon[b])
    offset = t.anchors[a] - scale * canon[a]
    return CANONICAL_68 * scale + offset


@pytest.mark.parametrize(("kind", "pattern"), ALL_STYLES)
def test_template_shape_alpha_and_anchors(kind: MaskType, pattern: str) -> None:
    t = _render(kind, pattern)
    h, w = t.rgba.shape[:2]
    assert t.rgba.dtype == np.uint8 and t.rgba.shape[2] == 4 and w == 256
    alpha = t.rgba[..., 3]
    assert (alpha == 255).mean() > 0.2 and (alpha == 0).mean() > 0.2
    soft = (alpha > 0) & (alpha < 255)
    assert soft.sum() > 0.5 * (h + w)  # anti-aliased / feathered rim, not a hard cut-out
    assert set(t.names) >= REQUIRED_ANCHORS and len(set(t.names)) == len(t.names)
    assert t.anchors.shape == (len(t.names), 2)
    assert np.all((t.anchors >= 0) & (t.anchors < [w, h]))
    assert t.mask_type is kind


@pytest.mark.parametrize(("kind", "pattern"), ALL_STYLES)
def test_template_covers_nose_and_mouth_not_eyes(kind: MaskType, pattern: str) -> None:
    t = _render(kind, pattern)
    canon = _canonical_in_template(t)
    alpha = t.rgba[..., 3]
    for idx in (30, 33, 48, 54, 57):
        x, y = np.round(canon[idx]).astype(int)
        assert alpha[y, x] == 255, idx
    for idx in range(36, 48):
        x, y = np.round(canon[idx]).astype(int)
        assert alpha[y, x] == 0, idx
    order = [t.anchor(n)[1] for n in ("nose_bridge_top", "mask_top", "nose_tip", "lip_bottom", "chin_bottom")]
    assert order == sorted(order)


@pytest.mark.parametrize(
    ("kind", "color"),
    [(MaskType.SURGICAL, (146, 196, 226)), (MaskType.CLOTH, (186, 40, 46)), (MaskType.N95, (44, 56, 92))],
)
def test_plain_template_has_requested_colour(kind: MaskType, color: tuple[int, int, int]) -> None:
    t = _render(kind, "plain", color=color)
    body = t.rgba[..., 3] == 255
    median = np.median(t.rgba[..., :3][body], axis=0)
    assert np.abs(median - color).max() < 30


@pytest.mark.parametrize(("kind", "pattern"), ALL_STYLES)
def test_same_seed_is_bit_identical(kind: MaskType, pattern: str) -> None:
    assert np.array_equal(_render(kind, pattern, seed=7).rgba, _render(kind, pattern, seed=7).rgba)


@pytest.mark.parametrize(
    ("kind", "pattern"),
    [(MaskType.SURGICAL, "plain"), (MaskType.N95, "plain"), (MaskType.N95, "valve")]
    + [(MaskType.CLOTH, p) for p in PATTERNS[MaskType.CLOTH]],
)
def test_different_seed_differs(kind: MaskType, pattern: str) -> None:
    assert not np.array_equal(_render(kind, pattern, seed=1).rgba, _render(kind, pattern, seed=2).rgba)


@pytest.mark.parametrize("pattern", ["dots", "stripes", "checks", "floral"])
def test_printed_patterns_add_a_second_colour(pattern: str) -> None:
    plain = _render(MaskType.CLOTH, "plain", color=(32, 46, 92))
    printed = _render(MaskType.CLOTH, pattern, color=(32, 46, 92))
    body = printed.rgba[..., 3] == 255
    far_from_base = np.abs(printed.rgba[..., :3][body].astype(int) - (32, 46, 92)).sum(axis=1) > 150
    plain_far = np.abs(plain.rgba[..., :3][body].astype(int) - (32, 46, 92)).sum(axis=1) > 150
    assert far_from_base.mean() > 0.05
    assert plain_far.mean() < 0.01


def test_loops_can_be_switched_off() -> None:
    with_loops = render_template("surgical", color=(146, 196, 226), rng=np.random.default_rng(0), size=256)
    without = render_template(
        "surgical", color=(146, 196, 226), rng=np.random.default_rng(0), size=256, loops=False
    )
    assert (without.rgba[..., 3] > 0).sum() < (with_loops.rgba[..., 3] > 0).sum()


@pytest.mark.parametrize(
    ("kwargs", "argument"),
    [
        ({"mask_type": "gas"}, "mask_type"),
        ({"pattern": "valve"}, "pattern"),
        ({"color": "#12345"}, "color"),
        ({"color": (300, 0, 0)}, "color"),
        ({"size": 10}, "size"),
    ],
)
def test_bad_arguments_raise(kwargs: dict[str, object], argument: str) -> None:
    args: dict[str, object] = {"mask_type": "surgical", "color": (1, 2, 3), "pattern": "plain", "size": 128}
    args.update(kwargs)
    with pytest.raises(OperationError) as info:
        render_template(args.pop("mask_type"), rng=np.random.default_rng(0), **args)  # type: ignore[arg-type]
    assert info.value.argument == argument


def test_hex_colour_string_accepted() -> None:
    a = render_template("cloth", color="#ba282e", rng=np.random.default_rng(0), size=128)
    b = render_template("cloth", color=(0xBA, 0x28, 0x2E), rng=np.random.default_rng(0), size=128)
    assert np.array_equal(a.rgba, b.rgba)


def test_draw_style_is_seeded_and_covers_palette() -> None:
    draws = [draw_style(np.random.default_rng(s)) for s in range(300)]
    again = [draw_style(np.random.default_rng(s)) for s in range(300)]
    assert draws == again
    assert {d.type for d in draws} == set(MaskType)
    for d in draws:
        assert PALETTES[d.type][d.color_name] == d.rgb
        assert d.pattern in PATTERNS[d.type]
        assert re.fullmatch(r"#[0-9a-f]{6}", d.hex)
    assert {d.pattern for d in draws if d.type is MaskType.CLOTH} == set(PATTERNS[MaskType.CLOTH])


@pytest.mark.parametrize("types", [("cloth",), (MaskType.N95, MaskType.SURGICAL)])
def test_draw_style_respects_mask_types(types: tuple[str, ...]) -> None:
    rng = np.random.default_rng(3)
    allowed = {MaskType(t) for t in types}
    assert all(draw_style(rng, types).type in allowed for _ in range(40))


def test_draw_style_rejects_empty() -> None:
    with pytest.raises(OperationError):
        draw_style(np.random.default_rng(0), ())


def test_render_style_matches_render_template() -> None:
    style = MaskStyle(type=MaskType.CLOTH, color_name="teal", rgb=(34, 120, 124), pattern="checks")
    a = render_style(style, rng=np.random.default_rng(5), size=128)
    b = render_template(
        "cloth", color=(34, 120, 124), pattern="checks", rng=np.random.default_rng(5), size=128
    )
    assert np.array_equal(a.rgba, b.rgba)
    assert style.hex == "#22787c"
