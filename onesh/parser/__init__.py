"""Lexer and recursive-descent parser producing `onesh.parser.ast`.

Public API (see parse.py): parse, parse_tolerant, check, iter_commands.
"""
