"""A builtin agent with state dies at a random read and its successor goes
on from one of its checkpoints (coreutils.common.ToolState): the output,
with what the successor makes again up to its reader's position dropped,
is exactly the output of one uninterrupted run.

The reader here does what net/netio.NetInput does for a checkpointed
stage, without a network: every read may take a checkpoint of the input
the tool is through with (all it was handed, but for the unfinished line
it holds back), its state, its spill and the output it made by then."""

from __future__ import annotations

import io
import random
from dataclasses import dataclass
from typing import Any

import pytest

from onesh.coreutils import head, sort, tail, uniq, wc
from onesh.coreutils.common import Io
from onesh.coreutils.restart import checkpointed

TOOLS = {"head": head.run, "tail": tail.run, "uniq": uniq.run, "sort": sort.run, "wc": wc.run}


class Died(Exception):
    """The device went away at this read."""


@dataclass
class Checkpoint:
    inp: int
    out: int
    state: dict[str, Any]
    log: bytes  # every spill up to this one


class Reader(io.RawIOBase):
    def __init__(self, data: bytes, start: int, rng: random.Random, out: io.BytesIO,
                 die_at: int | None = None, state: dict[str, Any] | None = None, log: bytes = b"") -> None:
        super().__init__()
        self.data, self.pos, self.rng, self.out = data, start, rng, out
        self.die_at, self.reads = die_at, 0
        self.held = 0
        self.tracked: Any = None
        self.restored, self.log = state, log
        self.checkpoints: list[Checkpoint] = []

    def readable(self) -> bool:
        return True

    def track(self, st: Any) -> None:
        self.tracked = st
        if self.restored is not None:
            st.restore(self.restored)
        if self.log:
            st.unspill(self.log)

    def hold_back(self, n: int) -> None:
        self.held = n

    def read1(self, n: int = -1) -> bytes:
        done, self.held = self.pos - self.held, 0
        if self.tracked is not None:
            spill = getattr(self.tracked, "spill", None)
            if spill is not None:
                self.log += spill()
            self.checkpoints.append(Checkpoint(done, len(self.out.getvalue()), self.tracked.snapshot(),
                                               self.log))
        self.reads += 1
        if self.die_at is not None and self.reads >= self.die_at:
            raise Died
        size = self.rng.choice([1, 7, 64, 500, 4096])
        chunk = self.data[self.pos:self.pos + min(size, n if n > 0 else size)]
        self.pos += len(chunk)
        return chunk

    def read(self, n: int | None = -1) -> bytes:
        return self.read1(n if n is not None else -1)


def run(argv: list[str], reader: Reader) -> bytes:
    out = reader.out
    try:
        TOOLS[argv[0]](argv, Io(argv[0], stdin=reader, stdout=out, stderr=io.BytesIO()))
    except Died:
        pass
    return out.getvalue()


def lines(rng: random.Random, n: int) -> bytes:
    words = [b"apple", b"Apple", b"pear", b"fig 10", b"fig 9", b"", b"kiwi 3.5", b"2K", b"-4", b"a\tb c"]
    body = b"".join(rng.choice(words) + b"\n" for _ in range(n))
    return body + (b"no newline" if rng.random() < 0.3 else b"")


CASES = [["head", "-n", "37"], ["head", "-c", "500"], ["head", "-n", "-20"], ["head", "-c", "-9"],
         ["head", "-5"], ["tail", "-n", "25"], ["tail", "-c", "300"], ["tail", "-n", "+40"],
         ["tail", "-c", "+77"], ["tail", "-3"], ["uniq"], ["uniq", "-c"], ["uniq", "-d"], ["uniq", "-u"],
         ["uniq", "-D"], ["uniq", "-i", "-c"], ["uniq", "--group=both"], ["uniq", "-f", "1", "-c"],
         ["sort"], ["sort", "-n"], ["sort", "-r", "-u"], ["sort", "-k2,2n", "-s"], ["sort", "-h"],
         ["sort", "-f", "-u"], ["wc"], ["wc", "-l", "-L"]]


@pytest.mark.parametrize("argv", CASES, ids=" ".join)
def test_a_successor_from_any_checkpoint_makes_the_rest_exactly_once(argv: list[str]) -> None:
    assert checkpointed(argv), argv
    for seed in range(30):
        rng = random.Random(seed)
        data = lines(rng, rng.choice([0, 1, 50, 400]))
        whole = run(argv, Reader(data, 0, random.Random(seed), io.BytesIO()))
        got = died_and_went_on(argv, data, rng, seed)
        assert got is None or got == whole, seed


def died_and_went_on(argv: list[str], data: bytes, rng: random.Random, seed: int) -> bytes | None:
    """Run argv over data until it dies at a random read, then its
    successor from one of its checkpoints: → the output its reader got
    (None: it died before any checkpoint)."""
    first = Reader(data, 0, random.Random(seed + 1), io.BytesIO(), die_at=rng.randint(1, 60))
    made = run(argv, first)
    if not first.checkpoints:
        return None
    # The reader downstream has some of what was made, at least up to the
    # checkpoint the successor starts from (agentpipes stores only such
    # checkpoints).
    ck = rng.choice(first.checkpoints)
    has = rng.randint(ck.out, len(made))
    successor = Reader(data, ck.inp, random.Random(seed + 2), io.BytesIO(), state=ck.state, log=ck.log)
    return made[:has] + run(argv, successor)[has - ck.out:]


class Stored:
    """tee's FILE as the namespace keeps it (what nsfiles.Writer offers
    tee): written bytes are visible only once committed; a commit comes on
    a checkpoint and, now and then, on a flush; what was not committed
    when the device died is gone."""

    files: dict[str, bytearray] = {}

    def __init__(self, name: str, append: bool, at: int | None, rng: random.Random) -> None:
        self.name, self.rng = name, rng
        kept = Stored.files.setdefault(name, bytearray())
        if at is not None:
            assert len(kept) >= at, "a checkpoint counts bytes that were never committed"
            del kept[at:]
        elif not append:
            kept.clear()
        self.base, self.pending, self.written = len(kept), bytearray(), 0

    def write(self, data: bytes) -> int:
        self.pending += data
        self.written += len(data)
        return len(data)

    def flush(self) -> None:
        if self.rng.random() < 0.3:  # (nsfiles.Writer: at most once a second)
            self.commit()

    def commit(self) -> None:
        Stored.files[self.name] += self.pending
        self.pending.clear()

    def size(self) -> int:
        return self.written

    def close(self) -> None:
        self.commit()


@pytest.mark.parametrize("append", [False, True])
def test_a_tee_successor_cuts_its_file_back_to_its_checkpoint(append: bool,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    """tee's FILE ends up with every byte once, whatever the predecessor
    had committed past the checkpoint its successor starts from."""
    from onesh.coreutils import files, tee

    rng = random.Random(0)
    monkeypatch.setattr(files, "_output_resolvers", [lambda p, a, at: Stored(p, a, at, rng)])
    monkeypatch.setattr(files, "_env_checked", True)
    monkeypatch.setitem(TOOLS, "tee", tee.run)
    argv = ["tee", *(["-a"] if append else []), "f"]
    assert checkpointed(argv)
    for seed in range(30):
        rng.seed(seed)
        data = lines(rng, rng.choice([0, 1, 50, 400]))
        before = b"old\n" * rng.randint(0, 2)
        Stored.files = {"f": bytearray(before)}
        got = died_and_went_on(argv, data, rng, seed)
        if got is None:
            continue
        assert got == data, seed
        assert bytes(Stored.files["f"]) == (before if append else b"") + data, seed


@pytest.mark.parametrize(("argv", "writes", "alone", "in_segment"), [
    (["tee", "log"], ["/w/log"], "stateful", "program"),
    (["tee", "-a", "/data/log", "-"], ["/data/log"], "stateful", ""),  # (appending again from the start: no)
    (["tee"], [], "stateful", "program"),
    (["tee", "log", "/dev/stderr"], ["/w/log"], "", ""),  # (a FILE on its runtime's own host)
    (["tee", "/pipes/x"], [], "", ""),
    (["tee", "--bogus", "log"], [], "", ""),
])
def test_which_tees_go_on_elsewhere(argv: list[str], writes: list[str], alone: str, in_segment: str) -> None:
    """A tee is restarted only when every FILE it writes is a namespace
    file, which the planner tells it (ONESH_NS_OUTPUTS)."""
    from onesh.engine.planner import PlannedStage, tee_writes
    from onesh.engine.restarts import restartable
    from onesh.kernel.scheduler import StageNeeds

    assert tee_writes(argv, "/w") == writes
    st = PlannedStage("tee", argv, "agent", StageNeeds("tee"), writes=writes)
    grep = PlannedStage("grep", ["grep", "x"], "agent", StageNeeds("grep"))
    assert restartable([st]) == alone
    assert restartable([st, grep]) == in_segment


def test_a_tees_own_stdout_among_its_files_is_not_in_its_checkpoints() -> None:
    """`tee f -`: "-" is tee's stdout again, a network pipe with no size
    or position; a checkpoint holds f's size only (it once took "-" for a
    file it could not measure, and dropped it with an error)."""
    from onesh.coreutils.tee import Written

    class NoPosition(io.RawIOBase):
        def writable(self) -> bool:
            return True

    w = Written()
    f = Stored("f", False, None, random.Random(0))
    f.write(b"abc")
    w.outs = [("f", f), ("-", NoPosition())]
    assert w.snapshot() == {"sizes": [["f", 3]]}
    assert not w.broken
