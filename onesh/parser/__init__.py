"""onesh.parser."""
