"""masksmith.facemask."""
