"""``pathanalysis``: the per-final-node summary of the manipulations on its path, under the original's
property names (the project properties marked ``node``), with values ``yes``/``no`` (or a size class,
a count, a category).

A property is ``yes`` when an operation link on the final's path (base path, plus donor branches where the
property counts donors) matches it: by operation name, optionally with an argument value, or by a rule
over the link's analysis (``global`` etc.). Video and audio properties are ``no`` for images.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

import networkx as nx

from masksmith.journal.model import DONOR_OP, JournalGraph
from masksmith.operations import Catalogue

Edge = Mapping[str, Any]

# property → operations whose presence makes it "yes" (compatibility facts: names of the original)
BY_OPERATION: dict[str, tuple[str, ...]] = {
    "temporalclone": ("CopyPaste",),
    "temporalsplice": ("PasteFrames",),
    "temporalremove": ("SelectCutFrames",),
    "temporalreorder": ("CutPaste",),
    "temporalother": (
        "TimeAlterationEcho",
        "TimeAlterationPosterizeTime",
        "TimeAlterationDifferenceEffect",
        "TimeAlterationDisplacementEffect",
        "TimeAlterationWarp",
    ),
    "spatialmovingcamera": ("CameraMovement",),
    "audioremoval": ("DeleteAudioSample",),
    "audioclone": ("AudioCopyAdd",),
    "audiosplice": ("ReplaceAudioSample", "AddAudioSample", "AudioCopyAdd"),
    "audioothers": ("AudioFilter", "AudioAmplify", "AudioCompress"),
    "postprocesscompression": ("OutputMP4", "OutputMOV", "OutputXVID", "OutputJpg"),
    "imagecompressiontable": ("AntiForensicExifQuantizationTable", "AntiForensicJPGCompression"),
    "launderingsocialmedia": ("SocialMedia",),
    "antiforensiccfacorrection": ("CFACorrection", "AddCameraModel"),
    "antiforensicaberrationcorrection": ("AberrationCorrection",),
    "recapture": ("Recapture",),
    "antiforensicaddcamfingerprintprnu": ("AddCamFingerprintPRNU",),
    "antiforensicnoiserestoration": ("AddNoise",),
    "antiforensicother": (
        "Undefined",
        "LensDistortion",
        "AntiForensicDither",
        "AntiForensicEditExif",
        "RemoveCamFingerprintPRNU",
    ),
    "mosaicing": ("AdditionalEffectMosaic", "Mosaic"),
    "seamcarving": ("TransformSeamCarving",),
    "gan_component": ("SynthesizeGAN", "AddCameraModel", "DeepFakeFaceSwap", "ErasureByGAN", "GANFill"),
}
# property → (operation, argument, value)
BY_ARGUMENT: dict[str, tuple[str, str, str]] = {
    "remove": ("PasteSampled", "purpose", "remove"),
    "healinglocal": ("PasteSampled", "purpose", "heal"),
    "manmade": ("PasteSplice", "subject", "man-made object"),
    "face": ("PasteSplice", "subject", "face"),
    "people": ("PasteSplice", "subject", "people"),
    "largemanmade": ("PasteSplice", "subject", "large man-made object"),
    "landscape": ("PasteSplice", "subject", "landscape"),
    "natural": ("PasteSplice", "subject", "natural object"),
    "othersubjects": ("PasteSplice", "subject", "other"),
}
#: properties that also look at donor branches
WITH_DONORS = frozenset({"gan_component"})
#: video/audio-only properties (always "no" on image journals)
MEDIA_ONLY = (
    "audioactivity",
    "spatialclone",
    "spatialsplice",
    "spatialremove",
    "spatialmovingobject",
    "spatialother",
    "audiovoiceover",
    "audiovoiceswapping",
    "postprocesscropframes",
    "postprocessstabilization",
)
_SIZE_ORDER = {"small": 0, "medium": 1, "large": 2}
_NOT_UNITS = ("Output", "Select", "Donor")


def _op(edge: Edge) -> str:
    return str(edge.get("op", "")).split("::", 1)[0]


def _global(edge: Edge) -> bool:
    return str(edge.get("global", "no")) == "yes"


def _category(catalogue: Catalogue, edge: Edge) -> str:
    operation = catalogue.find(str(edge.get("op", "")))
    return operation.category if operation is not None else ""


def _rules(catalogue: Catalogue) -> dict[str, Callable[[Edge], bool]]:
    def category_global(name: str) -> Callable[[Edge], bool]:
        return lambda e: _category(catalogue, e) == name and _global(e)

    return {
        "blurlocal": lambda e: _op(e) == "Blur" and not _global(e),
        "clone": lambda e: (
            _op(e) == "CopyPaste"
            or (_op(e) == "PasteSampled" and e.get("arguments", {}).get("purpose") == "clone")
        ),
        "contrastenhancement": lambda e: (
            _op(e) in ("Contrast", "Levels", "Curves", "Exposure") and _global(e)
        ),
        "color": category_global("Color"),
        "histogramnormalizationglobal": lambda e: _op(e) == "Normalization" and _global(e),
        "otherenhancements": lambda e: _op(e) in ("Sharpening", "CreativeFilter", "FilterConvolutionKernel"),
        "launderingmedianfiltering": lambda e: (
            _op(e) == "Blur" and e.get("arguments", {}).get("Blur Type") == "Median Smoothing"
        ),
        "imagereformat": lambda e: _category(catalogue, e) == "Output",
    }


def path_edges(graph: nx.DiGraph, final: str, *, with_donors: bool) -> list[Edge]:
    """Operation links on the path to ``final``: through operation links only, or also donor branches."""
    if with_donors:
        nodes = nx.ancestors(graph, final) | {final}
        return [d for s, e, d in graph.edges(data=True) if e in nodes and d.get("op") != DONOR_OP]
    out: list[Edge] = []
    frontier, seen = [final], {final}
    while frontier:
        node = frontier.pop()
        for start, _, data in graph.in_edges(node, data=True):
            if data.get("op") == DONOR_OP:
                continue
            out.append(data)
            if start not in seen:
                seen.add(start)
                frontier.append(start)
    return out


def _yes(flag: bool) -> str:
    return "yes" if flag else "no"


def _any(edges: Iterable[Edge], test: Callable[[Edge], bool]) -> str:
    return _yes(any(test(e) for e in edges))


def path_analysis(journal: JournalGraph, catalogue: Catalogue, final: str) -> dict[str, Any]:
    """The ``pathanalysis`` dictionary of one final node."""
    graph = journal.graph
    edges = path_edges(graph, final, with_donors=False)
    donors_too = path_edges(graph, final, with_donors=True)
    out: dict[str, Any] = dict.fromkeys(MEDIA_ONLY, "no")
    for name, ops in BY_OPERATION.items():
        pool = donors_too if name in WITH_DONORS else edges
        out[name] = _any(pool, lambda e, ops=ops: _op(e) in ops)  # type: ignore[misc]
    for name, (op, argument, wanted) in BY_ARGUMENT.items():
        out[name] = _any(
            edges,
            lambda e, op=op, argument=argument, wanted=wanted: (
                _op(e) == op  # type: ignore[misc]
                and str(e.get("arguments", {}).get(argument, "")) == wanted
            ),
        )
    for name, test in _rules(catalogue).items():
        out[name] = _any(edges, test)
    suffix = str(graph.nodes[final].get("file", "")).lower().rsplit(".", 1)[-1]
    out["imagecompression"] = _yes(suffix in ("jpg", "jpeg"))
    sizes = [
        str(e.get("change size category"))
        for e in edges
        if e.get("recordMaskInComposite") == "yes" and e.get("change size category") in _SIZE_ORDER
    ]
    out["compositepixelsize"] = max(sizes, key=_SIZE_ORDER.__getitem__) if sizes else "small"
    units = [e for e in edges if _category(catalogue, e) not in _NOT_UNITS]
    out["manipulationcount"] = len(units)
    out["manipulationcategory"] = f"{len(units)}-Unit"
    attributes = journal.attributes
    for name in ("semanticrestaging", "semanticrepurposing", "semanticrefabrication"):
        out[name] = _yes(str(attributes.get(name, "no")) == "yes")
    base = graph.nodes.get(journal.base_node(), {}) if journal.nodes_of_type("base") else {}
    out["gan_generated"] = _yes(str(base.get("isGAN", base.get("isgan", "no"))) == "yes")
    out["cgi_generated"] = _yes(str(base.get("cgi", "no")) == "yes")
    return dict(sorted(out.items()))


def set_path_analysis(
    journal: JournalGraph, catalogue: Catalogue, *, only: Iterable[str] | None = None
) -> None:
    """Write ``pathanalysis`` onto the final nodes (``only`` some of them), as the original's final-node
    rules did."""
    chosen = None if only is None else set(only)
    for final in journal.final_nodes():
        if chosen is None or final in chosen:
            journal.node(final)["pathanalysis"] = path_analysis(journal, catalogue, final)
