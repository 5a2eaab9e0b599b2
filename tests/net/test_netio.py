"""Network pipes as files for blocking code (net/netio.py on net/pollloop.py):
what a builtin agent that owns its pipes reads and writes.  The blocking
end runs in a forked child; the other end is the stage host's asyncio
one, over real Unix and TLS sockets."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
import signal
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from onesh.net.keys import ClusterKeys, create_secret, load_secret
from onesh.net.pipe_protocol import PipeError
from onesh.net.pipes import PipeReceiver, PipeSender
from onesh.net.pollloop import PollLoop
from onesh.net.transport import Credentials, pipe_bind

TRANSPORTS = ["unix", "tls"]


@pytest.fixture
def keys(tmp_path: Path) -> ClusterKeys:
    create_secret(str(tmp_path / "secret"))
    return ClusterKeys.from_secret(load_secret(str(tmp_path / "secret")))


def _bind(transport: str) -> str:
    return pipe_bind("127.0.0.1", True) if transport == "unix" else "tls://127.0.0.1:0"


def _child(body: Callable[[], int]) -> int:
    """Fork; the child runs body() and leaves with its status."""
    pid = os.fork()
    if pid == 0:
        status = 1
        try:
            status = body()
        except BaseException as e:  # noqa: BLE001 - reported, then the child goes
            sys.stderr.write(f"child: {type(e).__name__}: {e}\n")
        finally:
            os._exit(status)
    return pid


async def _exit_status(pid: int) -> int:
    _, status = await asyncio.to_thread(os.waitpid, pid, 0)
    return os.waitstatus_to_exitcode(status)


def test_the_poll_loop_runs_timers_in_order_and_skips_cancelled_ones() -> None:
    loop = PollLoop()
    ran: list[str] = []
    loop.call_later(0.02, ran.append, "b")
    loop.call_later(0.01, ran.append, "a")
    loop.call_later(0.015, ran.append, "x").cancel()
    loop.call_soon(ran.append, "now")
    while len(ran) < 3:
        loop.run_once(None)  # (no socket: only the timers wake it)
    assert ran == ["now", "a", "b"]
    loop.close()


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_each_flushed_line_is_delivered_before_the_writer_goes_on(keys: ClusterKeys, transport: str) -> None:
    """A slow writer (a sensor) never waits for credit, so nothing turns
    its loop but its flushes: each line must leave on its flush.  The
    writer sends line k+1 only once the reader has line k: were a line
    held back, neither would go on (the test times out)."""
    go_r, go_w = os.pipe()

    async def body() -> None:
        rx = PipeReceiver(None, keys, "j/1/in", bind=_bind(transport))
        endpoint = await rx.start()

        def writer() -> int:
            from onesh.net.netio import PipeIo

            out = PipeIo(Credentials(keys)).sender("j/1/in", endpoint)
            for k in range(5):
                out.write(b"reading %d\n" % k)
                out.flush()
                assert os.read(go_r, 1) == b"."
            return 0 if out.finish(10) else 3

        pid = _child(writer)
        got = b""
        for k in range(5):
            while not got.endswith(b"reading %d\n" % k):
                got += await asyncio.wait_for(rx.read(), 10)
            os.write(go_w, b".")
        assert await asyncio.wait_for(rx.read(), 10) == b""
        assert await _exit_status(pid) == 0
        await rx.close()

    asyncio.run(body())


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_a_blocking_reader_gets_every_byte_once_and_a_closing_one_stops_the_writer(
        keys: ClusterKeys, transport: str) -> None:
    data = os.urandom(24 * 1024 * 1024 + 4321)
    digest = hashlib.sha256(data).hexdigest().encode()
    report_r, report_w = os.pipe()

    async def body() -> None:
        # the child binds (as an agent does) and reports its endpoint
        def reader() -> int:
            from onesh.net.netio import PipeIo

            pio = PipeIo(Credentials(keys))
            whole = pio.receiver("j/2/in", _bind(transport))
            os.write(report_w, whole.endpoint.encode() + b"\n")
            h = hashlib.sha256()
            while chunk := whole.read_view():
                h.update(chunk)
            whole.close()
            os.write(report_w, h.hexdigest().encode() + b"\n")
            # A second pipe read only in part: its writer must hear the
            # reader is gone (EPIPE), not block for ever.
            part = pio.receiver("j/3/in", _bind(transport))
            os.write(report_w, part.endpoint.encode() + b"\n")
            assert part.read_view()
            part.close()
            return 0

        pid = _child(reader)
        lines = _lines(report_r)
        tx = PipeSender(None, keys, "j/2/in", await lines.__anext__())
        await tx.start()
        view = memoryview(data)
        for k in range(0, len(data), 100_000):
            await tx.write(view[k:k + 100_000])
        await tx.close()
        assert await lines.__anext__() == digest.decode()
        tx2 = PipeSender(None, keys, "j/3/in", await lines.__anext__())
        await tx2.start()
        with pytest.raises(PipeError, match="reader gone"):
            for _ in range(10_000):  # (far more than any window holds)
                await tx2.write(b"x" * 65536)
        with contextlib.suppress(PipeError):
            await tx2.close()
        assert await _exit_status(pid) == 0

    asyncio.run(body())


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_sigint_in_a_blocked_writer_is_keyboard_interrupt_after_its_bookkeeping(
        keys: ClusterKeys, transport: str) -> None:
    """A writer blocked for credit (its reader reads nothing) is
    interrupted: KeyboardInterrupt, as the agents expect (exit 130)."""
    ready_r, ready_w = os.pipe()

    async def body() -> None:
        rx = PipeReceiver(None, keys, "j/4/in", bind=_bind(transport))
        endpoint = await rx.start()

        def writer() -> int:
            from onesh.net.netio import PipeIo

            out = PipeIo(Credentials(keys)).sender("j/4/in", endpoint)
            os.write(ready_w, b".")
            try:
                while True:
                    out.write(b"y" * 65536)
            except KeyboardInterrupt:
                out.abort("interrupted")  # (closing would wait for a reader that reads nothing)
                return 130
            return 1

        pid = _child(writer)
        assert await asyncio.to_thread(os.read, ready_r, 1) == b"."
        await asyncio.sleep(0.5)  # (long enough to fill the window and block)
        os.kill(pid, signal.SIGINT)
        assert await _exit_status(pid) == 130
        await rx.close()

    asyncio.run(body())


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_a_stage_holding_its_acks_passes_every_byte_and_lets_go_of_all_at_its_end(
        keys: ClusterKeys, transport: str) -> None:
    """A stage that can be restarted elsewhere (runtime/agentpipes.py)
    acknowledges its input only as its output is delivered; its output
    carries checkpoints.  Every byte passes, the last ack downstream
    carries the checkpoint of the whole stream, and at its end it
    acknowledges all it held: its writer ends at once, not after giving
    up on a silent reader (GIVE_UP_AFTER, 10 s)."""
    data = os.urandom(8 * 1024 * 1024 + 777)
    report_r, report_w = os.pipe()

    async def body() -> None:
        rx = PipeReceiver(None, keys, "j/6/in", bind=_bind(transport))
        out_ep = await rx.start()

        def stage() -> int:
            from onesh.net.netio import PipeIo

            pio = PipeIo(Credentials(keys))
            inp = pio.receiver("j/5/in", _bind(transport), hold=True)
            os.write(report_w, inp.endpoint.encode() + b"\n")
            out = pio.sender("j/6/in", out_ep)
            inp.marks = out
            out.end.on_ack = lambda ack: inp.end.commit(ack.mark.inp)
            while chunk := inp.read_view():
                out.write(chunk)
                out.flush()
            ok = out.finish(10)
            inp.close()
            return 0 if ok else 3

        pid = _child(stage)
        lines = _lines(report_r)
        tx = PipeSender(None, keys, "j/5/in", await lines.__anext__())
        await tx.start()

        async def feed() -> None:
            view = memoryview(data)
            for k in range(0, len(data), 100_000):
                await tx.write(view[k:k + 100_000])
            await tx.close(timeout=8)  # (it would give up on a silent reader after 10)

        feeding = asyncio.ensure_future(feed())
        got = bytearray()
        while chunk := await asyncio.wait_for(rx.read(), 10):
            got += chunk
        await feeding
        assert tx.proto.done and not tx.gone
        assert hashlib.sha256(got).digest() == hashlib.sha256(data).digest()
        assert rx.proto.mark.inp == len(data) or rx.proto.mark.out <= len(data)
        assert await _exit_status(pid) == 0
        await rx.close()

    asyncio.run(body())


async def _lines(fd: int):  # type: ignore[no-untyped-def]
    buf = b""
    while True:
        while b"\n" not in buf:
            chunk = await asyncio.to_thread(os.read, fd, 4096)
            assert chunk, "the child ended early"
            buf += chunk
        line, buf = buf.split(b"\n", 1)
        yield line.decode()


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_a_writer_idle_for_longer_than_the_give_up_time_still_delivers_what_it_writes_then(
        keys: ClusterKeys, transport: str) -> None:
    """A writer with nothing to send waits for nothing: its silence from
    the reader does not count until it writes again (a `sort` reads all
    its input before its first output; that once cost the output when
    reading took longer than GIVE_UP_AFTER)."""
    data = os.urandom(3 * 1024 * 1024 + 5)

    async def body() -> None:
        rx = PipeReceiver(None, keys, "j/8/in", bind=_bind(transport))
        ep = await rx.start()

        def writer() -> int:
            import time

            import onesh.net.pipe_ends as ends
            from onesh.net.netio import PipeIo

            ends.GIVE_UP_AFTER = 0.5  # (10 s in earnest)
            pio = PipeIo(Credentials(keys))
            out = pio.sender("j/8/in", ep)
            out.write(data[:5])
            out.flush()
            time.sleep(0.3)
            pio.poll()  # (its ack is in)
            time.sleep(1.5)  # (idle: reading its input, say)
            out.write(data[5:])
            return 0 if out.finish(5) else 3

        pid = _child(writer)
        got = bytearray()
        while chunk := await asyncio.wait_for(rx.read(), 10):
            got += chunk
        assert await _exit_status(pid) == 0
        assert hashlib.sha256(got).digest() == hashlib.sha256(data).digest()
        await rx.close()

    asyncio.run(body())


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_a_writer_that_gives_up_cuts_the_input_off_loudly(keys: ClusterKeys, transport: str) -> None:
    """A writer that gave up on its reader (it was silent too long: SIGSTOP)
    aborts: what it had not sent is lost, so the reader's tool must fail
    with the reason, not see a clean end of its input."""
    report_r, report_w = os.pipe()

    async def body() -> None:
        def reader() -> int:
            from onesh.net.netio import InputCutOff, PipeIo

            pio = PipeIo(Credentials(keys))
            inp = pio.receiver("j/9/in", _bind(transport))
            os.write(report_w, inp.endpoint.encode() + b"\n")
            got = 0
            try:
                while chunk := inp.read_view():
                    got += len(chunk)
            except InputCutOff as e:
                os.write(report_w, f"{got} {e}\n".encode())
                return 0
            os.write(report_w, f"{got} a clean end\n".encode())
            return 1

        pid = _child(reader)
        lines = _lines(report_r)
        tx = PipeSender(None, keys, "j/9/in", await lines.__anext__())
        await tx.start()
        await tx.write(b"x" * 100_000)
        await tx.abort("reader unreachable for 10s")
        got, _, said = (await lines.__anext__()).partition(" ")
        assert said == "its input was cut off: its writer gave up (reader unreachable for 10s)", said
        assert 0 <= int(got) <= 100_000  # (what the writer had not sent when it gave up is gone)
        assert await _exit_status(pid) == 0

    asyncio.run(body())
