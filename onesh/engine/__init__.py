"""onesh.engine."""
