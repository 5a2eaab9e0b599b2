"""onesh: a bash-like distributed shell — one prompt, many machines."""

__version__ = "0.1.0"
