"""Plain-text tables for command output (`nodes`, `ps --cluster`,
`onesh cluster status`): columns padded to their widest cell, two spaces
apart, no trailing blanks."""

from __future__ import annotations


def format_table(rows: list[list[str]]) -> str:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in rows)
