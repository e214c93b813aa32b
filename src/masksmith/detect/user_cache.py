"""Where masksmith keeps models on disk between runs: prepared CenterFace graphs and fetched models."""

from __future__ import annotations

import os
from pathlib import Path

CACHE_ENV = "MASKSMITH_CACHE_DIR"


def default_cache_dir() -> Path | None:
    """``$MASKSMITH_CACHE_DIR``, else ``$XDG_CACHE_HOME/masksmith``, else ``~/.cache/masksmith``.

    ``MASKSMITH_CACHE_DIR`` set to an empty string or ``off`` turns the disk cache off (None).
    """
    chosen = os.environ.get(CACHE_ENV)
    if chosen is not None:
        return None if chosen.strip().lower() in ("", "off") else Path(chosen).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg) if xdg else Path.home() / ".cache") / "masksmith"
