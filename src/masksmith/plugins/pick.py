"""PickPairedImage: a file selector that finds the image paired with the source in a two-column CSV."""

from __future__ import annotations

import csv
from pathlib import Path

from masksmith.errors import PluginError
from masksmith.plugins.base import Argument, Plugin, PluginContext, PluginKind, PluginResult


def read_pairing(path: Path) -> list[tuple[str, str]]:
    """Rows ``source prefix, paired file`` of a pairing CSV (blank and short rows skipped)."""
    try:
        with open(path, newline="", encoding="utf-8") as handle:
            rows = [
                (row[0].strip(), row[1].strip())
                for row in csv.reader(handle, skipinitialspace=True)
                if len(row) >= 2 and row[0].strip() and row[1].strip()
            ]
    except OSError as exc:
        raise PluginError(
            f"cannot read the pairing file: {exc.strerror}", file=path, argument="pairing"
        ) from None
    return rows


class PickPairedImage(Plugin):
    name = "PickPairedImage"
    operation = "SelectFile"
    kind = PluginKind.FILE_SELECTOR
    description = (
        "Pick the image paired with the source: 'pairing' is a CSV of (source name or prefix, paired file "
        "name); the paired file lies in 'directory'. The longest matching prefix wins."
    )
    arguments = (
        Argument("directory", "text", None, "Folder holding the paired images.", required=True),
        Argument(
            "pairing", "text", None, "Two-column CSV: source name (or prefix), paired file.", required=True
        ),
    )

    def transform(self, context: PluginContext) -> PluginResult:
        args = self.resolve_arguments(context.arguments)
        folder = Path(str(args["directory"]))
        rows = read_pairing(Path(str(args["pairing"])))
        name = context.source.name
        matches = [(prefix, paired) for prefix, paired in rows if name.startswith(prefix) or prefix == name]
        if not matches:
            raise PluginError(f"no pairing for {name!r}", file=str(args["pairing"]), argument="pairing")
        longest = max(len(prefix) for prefix, _ in matches)
        best = sorted({paired for prefix, paired in matches if len(prefix) == longest})
        chosen = folder / best[int(context.rng.integers(len(best)))]
        if not chosen.is_file():
            raise PluginError("paired image not found", file=chosen, argument="directory")
        return PluginResult(variables={"file": str(chosen)}, file=chosen)
