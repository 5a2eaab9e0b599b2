"""onesh.repl."""
