"""masksmith.plugins."""
