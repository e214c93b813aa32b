"""Project pickers: ``{"picks": {"mp4": "video_ext.json", "audio": "audio_ext.json", ...}}``.

A picker names one extension specification per kind of base media: a file suffix (``mp4``,
``.WAV``; case and dot do not matter) or a media type (``video``, ``audio``, ``image``). Each journal
is extended with the specification its base media picks (suffix first, then media type); a journal
nothing picks fails with a line naming its base file. Sub-specification paths are relative to the
picker's folder and must stay inside it (or be a specification inlined as a mapping).
"""

from __future__ import annotations

import json
import os
import tarfile
from collections.abc import Mapping
from pathlib import Path, PurePosixPath
from typing import Any

from masksmith.batch.project import BatchProject
from masksmith.errors import SpecError
from masksmith.journal.project import Journal
from masksmith.media.video import media_kind

MEDIA_TYPES = frozenset({"video", "audio", "image"})


def _key(text: str) -> str:
    return str(text).strip().lower().lstrip(".")


def _sub_spec_path(folder: Path, name: str, *, picker: Path | None) -> Path:
    """``name`` inside ``folder`` (the one place a picker's untrusted path is joined)."""
    relative = PurePosixPath(str(name).replace("\\", "/"))
    if relative.is_absolute() or ".." in relative.parts or not relative.parts:
        raise SpecError(f"picked specification {name!r} must be a path inside the picker's folder",
                        file=picker, path="picks")  # fmt: skip
    return folder.joinpath(*relative.parts)


class SpecPicker:
    """One BatchProject per suffix or media type."""

    def __init__(self, projects: Mapping[str, BatchProject], *, file: Path | None = None) -> None:
        if not projects:
            raise SpecError("a picker needs at least one entry in 'picks'", file=file, path="picks")
        self.projects = {_key(k): v for k, v in projects.items()}
        self.file = file

    @classmethod
    def load(cls, source: str | os.PathLike[str] | Mapping[str, Any]) -> SpecPicker | None:
        """The picker ``source`` describes; None when it is an ordinary specification."""
        file: Path | None = None
        if isinstance(source, Mapping):
            raw: Any = source
        else:
            file = Path(source)
            if not file.is_file():
                return None
            try:
                raw = json.loads(file.read_text(encoding="utf-8"))
            except (OSError, ValueError):
                return None  # the spec loader reports it with its own message
        if not isinstance(raw, Mapping) or "picks" not in raw or "nodes" in raw:
            return None
        picks = raw["picks"]
        if not isinstance(picks, Mapping):
            raise SpecError(
                "'picks' must map a suffix or media type to a specification", file=file, path="picks"
            )
        folder = file.parent if file is not None else Path.cwd()
        projects: dict[str, BatchProject] = {}
        for key, value in picks.items():
            spec: Any = (
                value if isinstance(value, Mapping) else _sub_spec_path(folder, str(value), picker=file)
            )
            if not isinstance(spec, Mapping) and not Path(spec).is_file():
                raise SpecError(
                    f"picked specification {value!r} for {key!r} not found", file=file, path="picks"
                )
            projects[str(key)] = BatchProject(spec)
        return cls(projects, file=file)

    def project_for(self, media: str | os.PathLike[str]) -> BatchProject:
        """The specification for a base media file: by suffix, then by media type."""
        name = Path(media)
        for key in (_key(name.suffix), media_kind(name)):
            if key and key in self.projects:
                return self.projects[key]
        raise SpecError(
            f"no specification picked for base media {name.name!r} (picks: {', '.join(sorted(self.projects))})",
            file=self.file,
            path="picks",
        )

    def project_for_journal(self, item: str | os.PathLike[str]) -> BatchProject:
        return self.project_for(base_media_name(Path(item)))


def base_media_name(item: Path) -> str:
    """The file name of a journal's base media (journal folder or ``.tgz`` archive), without extracting."""
    if item.is_dir():
        journal = Journal.open(item)
        return journal.path_of(journal.graph.base_node()).name
    with tarfile.open(item) as archive:
        for member in archive.getmembers():
            if member.isfile() and member.name.endswith(".json") and member.name.count("/") <= 1:
                handle = archive.extractfile(member)
                data = json.loads(handle.read().decode("utf-8")) if handle is not None else {}
                for node in data.get("nodes", []) if isinstance(data, dict) else []:
                    if isinstance(node, dict) and node.get("nodetype") == "base" and node.get("file"):
                        return str(node["file"])
    raise SpecError("journal has no base media", file=item)
