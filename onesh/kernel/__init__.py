"""onesh.kernel."""
