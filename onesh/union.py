"""The union rule: is a path the cluster namespace's or this host's?

The namespace is a union view over the local file system, never a mask.
One rule decides, for the shell's file commands and for programs running
in the onesh context (onesh.runtime.evalctx) alike:

| the path                                               | goes to        |
| ------------------------------------------------------ | -------------- |
| under `/net`, `/pipes`, or `/dev/KIND` this host lacks | the namespace  |
| a file (not a directory) this host has                 | the host       |
| a directory both have (`ls`, listdir)                  | both, merged   |
| a name only the namespace has                          | the namespace  |
| a new name whose directory this host has               | the host       |
| any other new name                                     | the namespace  |

So the namespace never hides a host file (and a name the host has costs
no round trip to the cluster), a directory that exists on both sides
lists both, a file only the cluster holds is read from it wherever the
reader runs, and a program writing beside its host files keeps writing
there.  This module is pure: the callers supply what each side has.
"""

from __future__ import annotations

import os

TYPE_CHECKING = False  # (typing stays off the start-up path: the shell's syntactic check imports this)
if TYPE_CHECKING:
    from collections.abc import Callable

NAMESPACE_ROOTS = ("/net/", "/pipes/")


def under_namespace_root(path: str, exists: Callable[[str], bool] = os.path.exists) -> bool:
    """Is this path (literally) under a namespace root: `/net`, `/pipes`, or
    `/dev/<kind>` for a kind this host has no directory for?  (`exists`
    looks at the host: a program's context passes the unpatched one.)"""
    if path in ("/net", "/pipes") or path.startswith(NAMESPACE_ROOTS):
        return True
    parts = path.split("/")
    return len(parts) >= 3 and parts[1] == "dev" and parts[2] != "" and not exists("/dev/" + parts[2])


def host_has(path: str, exists: Callable[[str], bool] = os.path.lexists,
             isdir: Callable[[str], bool] = os.path.isdir) -> bool:
    """Is this an existing host name that is the host's alone to answer
    (anything but a directory, which the namespace may also have)?"""
    return exists(path) and not isdir(path)


def host_only(path: str, prefixes: tuple[str, ...]) -> bool:
    """A path certainly on this host, never looked up in the namespace:
    below one of `prefixes` (the interpreter's own installation, the
    kernel's pseudo file systems, a job's script cache)."""
    return any(path.startswith(p + "/") or path == p for p in prefixes)


def new_name_in_namespace(ns_has_it: bool, host_has_dir: bool) -> bool:
    """Where a name being created goes (a file opened for writing, a
    directory made, a copy's or rename's target), the root test already
    done: the namespace when it has the name or the host has no directory
    to hold it (`cp f /data/x` on a host without /data stores it in the
    cluster)."""
    return ns_has_it or not host_has_dir


def namespace_only(path: str, exists: Callable[[str], bool] = os.path.lexists,
                   isdir: Callable[[str], bool] = os.path.isdir) -> bool:
    """Neither the name nor its directory is on this host: only the
    namespace can hold it.  (When the cluster cannot answer for such a
    name, its reason is the answer; "No such file" would be a guess.)"""
    return not exists(path) and not isdir(os.path.dirname(path.rstrip("/")) or "/")
