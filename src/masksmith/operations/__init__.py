"""masksmith.operations."""
