"""onesh.net."""
