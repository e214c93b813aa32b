"""masksmith.media."""
