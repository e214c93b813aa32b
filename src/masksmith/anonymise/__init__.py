"""masksmith.anonymise."""
