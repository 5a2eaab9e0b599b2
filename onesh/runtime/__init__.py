"""onesh.runtime."""
