"""Cheap, syntactic test run for every pipeline: could it need the cluster?

Kept apart from the planner so a purely local command imports nothing
more than this (start-up time is a feature).
"""

from __future__ import annotations

import os

from onesh.parser import ast as A
from onesh.union import NAMESPACE_ROOTS, under_namespace_root

TYPE_CHECKING = False  # typing (and the re it imports) stays off the start-up path
if TYPE_CHECKING:
    from typing import Any

    from onesh.engine.interp import Interpreter

__all__ = ["NAMESPACE_ROOTS", "draft_needed", "in_namespace_dir", "mentions_cluster", "under_namespace_root"]


def mentions_cluster(pl: A.Pipeline, text_of: Any) -> bool:
    """Cheap, syntactic: could this pipeline need the cluster at all?"""
    for cmd in pl.commands:
        if not isinstance(cmd, A.SimpleCommand):
            continue
        if cmd.pin is not None:
            return True
        words = [*cmd.words, *(r.target for r in cmd.redirs if r.heredoc is None)]
        for w in words:
            text = text_of(w)
            if text.startswith(NAMESPACE_ROOTS):
                return True
            for kind in _dev_kinds(text):
                if not os.path.isdir(f"/dev/{kind}"):
                    return True
    return False


def _dev_kinds(text: str) -> list[str]:
    """The KIND of every `/dev/KIND/` in the text (KIND: a letter, then
    letters, digits, `_` or `-`); a scan, so `re` stays off start-up."""
    kinds: list[str] = []
    at = text.find("/dev/")
    while at >= 0:
        k = at + 5
        if k < len(text) and text[k].isascii() and text[k].isalpha():
            j = k + 1
            while j < len(text) and (text[j].isalnum() or text[j] in "_-"):
                j += 1
            if j < len(text) and text[j] == "/":
                kinds.append(text[k:j])
        at = text.find("/dev/", at + 1)
    return kinds


def in_namespace_dir(interp: Interpreter) -> bool:
    """Is $PWD a directory only the namespace has (after `cd /net/r2`)?"""
    pwd = interp.state.get("PWD") or ""
    return pwd.startswith("/") and not os.path.isdir(pwd)


def draft_needed(interp: Interpreter, pl: A.Pipeline) -> bool:
    """Worth planning at all?  (No expansion, no I/O.)"""
    return interp.cluster_attached() or mentions_cluster(pl, interp.source_text)


def subtree_mentions_cluster(node: object, text_of: Any) -> bool:
    """Could any pipeline inside this node (a background job, a subshell,
    a command substitution) need the cluster?  Syntactic, like
    mentions_cluster; a function called there is not looked into."""
    from onesh.record import Record, values

    if isinstance(node, A.Pipeline) and mentions_cluster(node, text_of):
        return True
    if isinstance(node, list | tuple):
        return any(subtree_mentions_cluster(n, text_of) for n in node)
    if isinstance(node, Record):
        return any(subtree_mentions_cluster(v, text_of) for v in values(node))
    return False
