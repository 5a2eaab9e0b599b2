"""Checking a voter's Raft files before pysyncobj opens them.

pysyncobj reads its journal without checking it (a garbled record is
read as whatever the bytes say) and, when its full dump does not load,
logs the failure and carries on with a journal whose head was compacted
away: a voter would rejoin with a wrong state, silently.  A runtime checks
both files first and refuses to start, naming the file and what to do,
when either is unusable (a machine crash mid-write, a disk error).  The
other voters keep their quorum meanwhile.

Starting such a voter with an empty log instead would be unsafe: it may
hold entries that counted towards a commit, and Raft only promises what
a majority remembers.  So the fix is the user's, told in one line.
"""

from __future__ import annotations

import gzip
import json
import os
import struct
import time
from typing import Any

JOURNAL = "raft.journal"
DUMP = "raft.dump"
# The Raft configuration this voter last had (its own address and every
# voter's), rewritten when a voter is replaced.  `onesh cluster up` reads
# it to start the voters of a cluster whose voter set changed since its
# layout was recorded (membership.py, localcluster.py).
VOTERS = "raft.voters"

# pysyncobj's journal: a 40-byte header (name, version, format, offset of
# the end of the last record), then records `size | idx | term | command | size`.
_NAME_SIZE, _VERSION_SIZE = 24, 8
_FIRST_RECORD = _NAME_SIZE + _VERSION_SIZE + 4 + 4
_END_OFFSET_AT = _NAME_SIZE + _VERSION_SIZE + 4
_MAGIC = b"PYSYNCOBJ"


class RaftFilesUnusable(Exception):
    def __init__(self, path: str, why: str) -> None:
        self.path, self.why = path, why
        super().__init__(
            f"raft file {path} is unusable ({why}): move it aside (mv {path} {path}.bad) "
            "and start this runtime again; it rejoins and copies the log from the other voters")


def check_raft_files(data_dir: str) -> None:
    """Raise RaftFilesUnusable if the journal or the full dump cannot be read back."""
    journal = os.path.join(data_dir, JOURNAL)
    if os.path.exists(journal):
        why = journal_problem(journal)
        if why:
            raise RaftFilesUnusable(journal, why)
    dump = os.path.join(data_dir, DUMP)
    if os.path.exists(dump):
        why = dump_problem(dump)
        if why:
            raise RaftFilesUnusable(dump, why)


def journal_problem(path: str) -> str:
    """What is wrong with this journal file ('' when it reads back whole)."""
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError as e:
        return e.strerror or str(e)
    if not data:
        # Created but never written (a crash right after open): it holds
        # nothing, and pysyncobj cannot map an empty file.  Let it start over.
        os.unlink(path)
        return ""
    if len(data) < _FIRST_RECORD or not data.startswith(_MAGIC):
        return "not a Raft journal (bad header)"
    (end,) = struct.unpack_from("<I", data, _END_OFFSET_AT)
    if end < _FIRST_RECORD or end > len(data):
        return f"its records end at byte {end}, outside the file ({len(data)} bytes)"
    offset, prev_idx, prev_term = _FIRST_RECORD, None, 0
    while offset < end:
        if offset + 4 > end:
            return f"a record header is cut off at byte {offset}"
        (size,) = struct.unpack_from("<I", data, offset)
        if size < 16 or offset + 8 + size > end:
            return f"the record at byte {offset} claims {size} bytes"
        (trailer,) = struct.unpack_from("<I", data, offset + 4 + size)
        if trailer != size:
            return f"the record at byte {offset} is torn (its sizes differ)"
        idx, term = struct.unpack_from("<QQ", data, offset + 4)
        if prev_idx is not None and idx != prev_idx + 1:
            return f"log index jumps from {prev_idx} to {idx} at byte {offset}"
        if term < prev_term:
            return f"log term goes back from {prev_term} to {term} at byte {offset}"
        prev_idx, prev_term = idx, term
        offset += size + 8
    return ""


def dump_problem(path: str) -> str:
    """What is wrong with this full dump ('' when it decompresses whole).
    Its pickle is our own file, written by this runtime; it is not loaded
    here, only checked to be a complete gzip stream."""
    try:
        with gzip.open(path, "rb") as g:
            while g.read(1 << 20):
                pass
    except (OSError, EOFError) as e:
        return str(e) or type(e).__name__
    return ""


def write_voters(data_dir: str, self_addr: str, voters: list[str]) -> None:
    """Record this voter's Raft configuration (atomically: read at start-up)."""
    path = os.path.join(data_dir, VOTERS)
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        # (wall time orders the records of one machine's runtimes: a local
        # cluster's voters all run on it)
        json.dump({"self": self_addr, "voters": sorted(voters), "at": time.time()}, f)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def read_voters(data_dir: str) -> dict[str, Any] | None:
    """The record write_voters left, or None (none, or unreadable)."""
    try:
        with open(os.path.join(data_dir, VOTERS)) as f:
            record = json.load(f)
    except (OSError, ValueError):
        return None
    if not (isinstance(record, dict) and isinstance(record.get("self"), str)
            and isinstance(record.get("voters"), list) and all(isinstance(v, str) for v in record["voters"])
            and isinstance(record.get("at"), int | float)):
        return None
    return record


def retire(data_dir: str) -> None:
    """Move aside the Raft files of a voter that was removed from the
    configuration, before it becomes a voter again: its old log and term
    belong to a configuration it is no longer part of; the leader sends it
    the whole log afresh."""
    for name in (JOURNAL, DUMP, VOTERS):
        path = os.path.join(data_dir, name)
        if os.path.exists(path):
            os.replace(path, path + ".retired")
