"""masksmith.cli."""
