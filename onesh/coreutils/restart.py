"""Which builtin agents a job can restart elsewhere mid-stream, exactly once.

When a runtime dies, a stage it ran goes on on another runtime if it is
*stateless*: what it writes for a line (a block, for `tr`) depends on
that input alone.  Its successor reads on from the last checkpoint the
reader downstream holds and drops what it makes again up to the reader's
position (net/pipe_protocol.Mark), so the output has every byte exactly
once.  A tool with state (`wc`'s counts, the
lines `tail` keeps, `uniq`'s current run, `head`'s count, all `sort`
read, where `tee` stands in each FILE) is *checkpointed*: its state is stored in the namespace as it
goes, and its successor starts from the last one stored; its output up
to a checkpoint must have reached its reader before the checkpoint is
stored, so what the successor makes again is dropped there too.  Options that carry state from one line to the next (`cat -n`,
`grep -c`, `grep -m`, `tr -s`, ...) and file operands (the stage would
read them again from the start) make a stage one that is not restarted:
its job ends as before, with its runtime named.  `help` says the same
per tool (GUARANTEES).
"""

from __future__ import annotations

from onesh.coreutils.common import Usage, canon, parse

# tool → the options that keep it stateless (their canonical spelling)
_STATELESS: dict[str, frozenset[str]] = {
    "cat": frozenset({"-u", "-v", "-E", "-T", "-A", "-e", "-t"}),
    "grep": frozenset({"-E", "-F", "-G", "-P", "-i", "+i", "-y", "-v", "-w", "-x", "-e", "-s", "-a", "-o",
                       "-h", "-H", ""}),  # ("": --color, --line-buffered)
    "tr": frozenset({"-c", "-C", "-d", "-t"}),
    "cut": frozenset({"-b", "-c", "-f", "-d", "-s", "-n", "--complement", "--output-delimiter"}),
}
# tool → its options: it keeps state, which goes into checkpoints stored
# in the namespace (k=2); its successor starts from the last one.
_CHECKPOINTED: dict[str, frozenset[str]] = {
    "wc": frozenset({"-c", "-l", "-m", "-w", "-L"}),
    "head": frozenset({"-n", "-c", "-q"}),
    "tail": frozenset({"-n", "-c", "-q", "-s", ""}),  # ("": --retry)
    "uniq": frozenset({"-c", "-d", "-D", "-i", "-u", "-f", "-s", "-w", "--group"}),
    "sort": frozenset({"-b", "-d", "-f", "-g", "-h", "-i", "-n", "-r", "-s", "-u", "-k", "-t", "-S", "-T", ""}),
}

_GOES_ON = "it goes on on another runtime, exactly once (no line lost or repeated)"
GUARANTEES = {
    "cat": f"{_GOES_ON}; not with -n, -b or -s, nor with FILE operands",
    "grep": f"{_GOES_ON}; not with -c, -l, -L, -q, -m, -n or -f, nor with FILE operands",
    "tr": f"{_GOES_ON}; not with -s",
    "cut": f"{_GOES_ON}; not with FILE operands",
    "head": f"{_GOES_ON}: it starts from its last checkpoint, stored on 2 runtimes; "
            "not with -v, nor with FILE operands",
    "tail": f"{_GOES_ON}: it starts from its last checkpoint (the lines it keeps), stored on 2 runtimes; "
            "not with -f, -F or -v, nor with FILE operands",
    "wc": f"{_GOES_ON}: it starts from its last checkpoint, stored on 2 runtimes; "
          "not with FILE operands",
    "sort": f"{_GOES_ON}: what it read is stored on 2 runtimes as it reads, and its successor "
            "starts from that; not with -c, -m or -o, nor with FILE operands",
    "uniq": f"{_GOES_ON}: it starts from its last checkpoint, stored on 2 runtimes; "
            "not with INPUT or OUTPUT operands",
    "tee": f"{_GOES_ON}, in its output and in each FILE (a namespace file on the cluster): "
           "it starts from its last checkpoint, stored on 2 runtimes, and cuts each FILE back to "
           "the size it had there; not with a FILE under /dev, /pipes or /net",
}


def restartable(argv: list[str]) -> bool:
    """Is `argv` a stateless filter of its standard input?"""
    return _reads_stdin_with(argv, _STATELESS)


def checkpointed(argv: list[str]) -> bool:
    """Is `argv` a tool of its standard input whose state checkpoints hold?
    (`tee`: where it stands in each FILE; the planner says which FILEs
    are namespace files, which is what it takes: engine/restarts.py)"""
    if argv[:1] == ["tee"]:
        from onesh.coreutils.tee import outputs

        return outputs(argv) is not None
    return _reads_stdin_with(argv, _CHECKPOINTED)


def _reads_stdin_with(argv: list[str], table: dict[str, frozenset[str]]) -> bool:
    if not argv or argv[0] not in table:
        return False
    import importlib

    name = argv[0]
    tool = importlib.import_module(f"onesh.coreutils.{name}")
    longs = getattr(tool, "LONGS", None) or [k[2:] for k in tool.LONG]
    try:
        opts, operands = parse(argv, tool.SHORT, longs, numeric_shorthand=getattr(tool, "NUMERIC", False))
    except Usage:
        return False
    named = canon(opts, tool.LONG)
    if any(o not in table[name] for o, _ in named):
        return False
    if name == "grep" and not any(o == "-e" for o, _ in named):
        operands = operands[1:]  # (the pattern)
    if name == "uniq" and len(operands) > 1:
        return False  # (OUTPUT: a file it writes)
    if name == "tr":
        return True  # (its operands are its sets: it only ever reads stdin)
    return all(a == "-" for a in operands)
