"""Cheap, syntactic test run for every pipeline: could it need the cluster?

Kept apart from the planner so a purely local command imports nothing
more than this (start-up time is a feature).
"""

from __future__ import annotations

import os
import re
from typing import TYPE_CHECKING, Any

from onesh.kernel.union import NAMESPACE_ROOTS, under_namespace_root
from onesh.parser import ast as A

if TYPE_CHECKING:
    from onesh.engine.interp import Interpreter

__all__ = ["NAMESPACE_ROOTS", "draft_needed", "in_namespace_dir", "mentions_cluster", "under_namespace_root"]
_DEV_TEXT_RE = re.compile(r"/dev/([A-Za-z][\w-]*)/")


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
            for m in _DEV_TEXT_RE.finditer(text):
                if not os.path.isdir(f"/dev/{m.group(1)}"):
                    return True
    return False


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
    import dataclasses

    if isinstance(node, A.Pipeline) and mentions_cluster(node, text_of):
        return True
    if isinstance(node, list | tuple):
        return any(subtree_mentions_cluster(n, text_of) for n in node)
    if dataclasses.is_dataclass(node):
        return any(subtree_mentions_cluster(getattr(node, f.name), text_of) for f in dataclasses.fields(node))
    return False
