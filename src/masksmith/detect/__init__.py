"""masksmith.detect."""
