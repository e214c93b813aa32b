"""masksmith.batch."""
