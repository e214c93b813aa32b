"""masksmith.journal."""
