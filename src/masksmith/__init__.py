"""masksmith: mask-centred image work at dataset scale, with every change journaled."""

from __future__ import annotations

__version__ = "0.1.0"

__all__ = ["__version__"]
