"""onesh.builtins."""
