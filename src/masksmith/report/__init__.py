"""masksmith.report."""
