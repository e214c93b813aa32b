"""How to call masksmith so that a printed command works when pasted into the same shell."""

from __future__ import annotations

import shlex
import shutil
import sys
from pathlib import Path


def masksmith_command() -> str:
    """How to call masksmith from the current folder: ``masksmith`` when that is this one on PATH."""
    here = Path(sys.executable).parent / "masksmith"
    found = shutil.which("masksmith")
    if found is not None and here.exists() and Path(found).resolve() == here.resolve():
        return "masksmith"
    if here.exists():
        return shlex.quote(shown(here))
    return f"{shlex.quote(shown(Path(sys.executable)))} -m masksmith"


def shown(path: Path) -> str:
    """``path`` relative to the current folder when it lies below it, else absolute."""
    try:
        return str(path.absolute().relative_to(Path.cwd()))
    except ValueError:
        return str(path.absolute())
