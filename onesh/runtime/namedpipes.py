"""Reading and writing named pipes (`mkfifo /pipes/x`) through the pubsub
directory (see onesh.kernel.pubsub for the model).

`subscribe(ns, path)` yields what the pipe's writers write, from the
moment this reader is linked to them, and ends like a FIFO read: after at
least one writer came and every writer finished.  `Publisher` writes to
every reader attached (the slowest one sets the pace: nothing is dropped)
and, like a FIFO writer, first waits for a reader; when every reader has
gone it raises BrokenPipeError (SIGPIPE).

Each (writer, reader) pair is an ordinary network pipe with its own
sequence numbers, acks and replay, so fan-out keeps every guarantee of a
pipeline pipe; a writer on the reader's host (the directory tells each
writer's host key) is linked by a Unix socket, any other by TCP + Curve.
The process must run the ZAP authenticator on the context's sockets
(onesh.net.keys.start_authenticator), since readers bind Curve servers.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import os
import uuid
from collections.abc import AsyncGenerator
from typing import Any

from onesh.aio import within
from onesh.net.rpc import RpcError
from onesh.net.samehost import host_key, same_host
from onesh.net.transport import pipe_bind

WATCH_FOR = 4.0  # seconds per long poll (pubsub.WATCH_MAX caps it)
STRAGGLERS = 1.0  # seconds a writer waits for the other registered readers to link
QUEUE_BLOCKS = 4  # blocks buffered between the per-writer receivers and the reader


def _new_id() -> str:
    return f"{os.getpid()}-{uuid.uuid4().hex[:12]}"


def _bind_host() -> str:
    """Where a reader's TCP receivers listen (ONESH_PIPE_HOST overrides)."""
    return os.environ.get("ONESH_PIPE_HOST") or "127.0.0.1"


async def check_pipe(ns: Any, path: str) -> None:
    entry = await ns.stat(path)
    if entry is None:
        raise FileNotFoundError(errno.ENOENT, "No such named pipe (create it with mkfifo)", path)
    if entry.get("kind") != "pipe":
        raise OSError(errno.EINVAL, f"not a named pipe (a {entry.get('kind')})", path)


class _Watch:
    """One end's registration: a long-poll loop that renews the lease and
    hands each new view to `on_view`."""

    def __init__(self, ns: Any, topic: str, role: str) -> None:
        self.ns, self.topic, self.role = ns, topic, role
        self.id = _new_id()
        self.version: int | None = None
        self.view: dict[str, Any] = {}
        self.changed = asyncio.Event()

    async def poll(self) -> dict[str, Any]:
        body = {"topic": self.topic, "role": self.role, "id": self.id, "version": self.version,
                "timeout": 0 if self.version is None else WATCH_FOR, "runtime": self.ns.local or "shell",
                "host": host_key()}
        view: dict[str, Any] = await self.ns.agent("pubsub", "pubsub.watch", body, timeout=WATCH_FOR + 3.0)
        if "error" in view:
            raise OSError(errno.EIO, str(view["error"]), self.topic)
        self.version = int(view.get("version", 0))
        self.view = view
        self.changed.set()
        return view

    async def loop(self) -> None:
        while True:
            try:
                await self.poll()
            except (OSError, RpcError):
                await asyncio.sleep(0.5)  # the agent is moving: the lease outlives this

    async def call(self, op: str, **fields: Any) -> None:
        body = {"topic": self.topic, "role": self.role, "id": self.id, **fields}
        with contextlib.suppress(OSError, RpcError):
            await self.ns.agent("pubsub", f"pubsub.{op}", body, timeout=2.0, patience=5.0)


async def subscribe(ns: Any, path: str) -> AsyncGenerator[bytes, None]:
    """The bytes written into named pipe `path` while we read it."""
    from onesh.net.pipes import PipeReceiver

    await check_pipe(ns, path)
    watch = _Watch(ns, path, "sub")
    await watch.poll()
    host = _bind_host()
    blocks: asyncio.Queue[bytes | None] = asyncio.Queue(QUEUE_BLOCKS)
    receivers: dict[str, PipeReceiver] = {}
    finished: set[str] = set()
    readers: set[asyncio.Task[None]] = set()

    async def drain(pub: str, rx: PipeReceiver) -> None:
        try:
            while data := await rx.read():
                await blocks.put(data)
        except Exception:  # noqa: BLE001 - a writer that broke off: its part of the stream ends
            pass
        finished.add(pub)
        await blocks.put(None)  # wake the reader to re-check for the end

    async def attach(pubs: dict[str, bool]) -> None:
        for pub, done in pubs.items():
            if pub in receivers or done:
                continue  # a writer that already finished before we came has nothing for us
            writer_host = watch.view.get("hosts", {}).get(pub)
            rx = PipeReceiver(ns.ctx, ns.keys, f"pipes:{path}:{pub}:{watch.id}",
                              bind=pipe_bind(host, same_host(host_key(), writer_host)))
            endpoint = await rx.start()
            receivers[pub] = rx
            task = asyncio.get_running_loop().create_task(drain(pub, rx))
            readers.add(task)
            await watch.call("link", pub=pub, sub=watch.id, endpoint=endpoint)

    def over() -> bool:
        pubs: dict[str, bool] = watch.view.get("pubs", {})
        for pub, rx in receivers.items():
            if pub not in pubs and pub not in finished and not rx.proto.eof and not rx.proto.buffered:
                # The writer vanished without an end of stream (its lease
                # ran out: it crashed); like a FIFO, its part simply ends.
                finished.add(pub)
        live = [p for p, done in pubs.items() if p not in finished and not (done and p not in receivers)]
        # (a drain marks its writer finished after queueing its last block)
        return bool(receivers) and not live and all(p in finished for p in receivers) and blocks.empty()

    poller = asyncio.get_running_loop().create_task(watch.loop())
    try:
        await attach(watch.view.get("pubs", {}))
        while True:
            if over():
                return
            getter = asyncio.ensure_future(blocks.get())
            changed = asyncio.ensure_future(watch.changed.wait())
            done, _ = await asyncio.wait({getter, changed}, return_when=asyncio.FIRST_COMPLETED)
            if changed in done:
                watch.changed.clear()
                await attach(watch.view.get("pubs", {}))
            else:
                changed.cancel()
            # (attach awaited: the getter may have taken a block meanwhile)
            if not getter.done():
                getter.cancel()
                await asyncio.gather(getter, return_exceptions=True)
            if not getter.cancelled() and (data := getter.result()):
                yield data
    finally:
        poller.cancel()
        for t in readers:
            t.cancel()
        await asyncio.gather(poller, *readers, return_exceptions=True)
        for rx in receivers.values():
            await rx.close()  # a writer still sending learns we are gone
        await watch.call("leave")


class Publisher:
    """A writer of named pipe `path`, fanning out to every reader."""

    def __init__(self, ns: Any, path: str) -> None:
        self.ns, self.path = ns, path
        self.watch = _Watch(ns, path, "pub")
        self.senders: dict[str, Any] = {}
        self.gone: set[str] = set()
        self.bytes_out = 0
        self._poller: asyncio.Task[None] | None = None

    async def __aenter__(self) -> Publisher:
        await check_pipe(self.ns, self.path)
        await self.watch.poll()
        self._poller = asyncio.get_running_loop().create_task(self.watch.loop())
        return self

    async def __aexit__(self, exc_type: object, exc: object, tb: object) -> None:
        await self.close(broken=exc_type is not None)

    async def _connect(self) -> None:
        from onesh.net.pipes import PipeSender

        links: dict[str, str] = self.watch.view.get("links", {})
        for sub, endpoint in links.items():
            if sub in self.senders or sub in self.gone:
                continue
            tx = PipeSender(self.ns.ctx, self.ns.keys, f"pipes:{self.path}:{self.watch.id}:{sub}", endpoint)
            await tx.start()
            self.senders[sub] = tx

    async def ready(self) -> None:
        """Like opening a FIFO for writing: wait until a reader is linked,
        and give the other readers already waiting a moment to link too
        (each links once it sees us), so they all get the stream's start."""
        await self._connect()
        loop = asyncio.get_running_loop()
        deadline: float | None = None
        while True:
            waiting = [s for s in self.watch.view.get("subs", []) if s not in self.senders and s not in self.gone]
            if self.senders:
                deadline = deadline or loop.time() + STRAGGLERS
                if not waiting or loop.time() >= deadline:
                    return
            self.watch.changed.clear()
            with contextlib.suppress(TimeoutError):
                await within(self.watch.changed.wait(),
                                       None if deadline is None else max(0.0, deadline - loop.time()))
            await self._connect()

    async def write(self, data: bytes) -> None:
        from onesh.net.pipe_protocol import PipeError

        if not self.senders:
            await self.ready()
        elif self.watch.changed.is_set():
            self.watch.changed.clear()
            await self._connect()
        subs = list(self.senders)
        results = await asyncio.gather(*(self.senders[s].write(data) for s in subs), return_exceptions=True)
        for sub, res in zip(subs, results, strict=True):
            if isinstance(res, PipeError):
                self.gone.add(sub)  # that reader stopped reading
                tx = self.senders.pop(sub)
                with contextlib.suppress(Exception):
                    await tx.abort("reader gone")
            elif isinstance(res, BaseException):
                raise res
        if not self.senders:
            raise BrokenPipeError(errno.EPIPE, "every reader of the named pipe is gone", self.path)
        self.bytes_out += len(data)

    async def flush(self) -> None:
        for tx in self.senders.values():
            await tx.flush()

    async def pump(self, fd: int) -> None:
        """Publish what can be read from `fd` until its end, each read
        flushed at once (a line written is a line every reader sees)."""
        while data := await asyncio.to_thread(os.read, fd, 1 << 20):
            await self.write(data)
            await self.flush()

    async def close(self, broken: bool = False) -> None:
        """End of stream for every reader, then leave the directory."""
        try:
            if not broken:
                await self.watch.call("finish")
            await asyncio.gather(*(tx.close(timeout=30.0) for tx in self.senders.values()),
                                 return_exceptions=True)
        finally:
            self.senders.clear()
            if self._poller is not None:
                self._poller.cancel()
                await asyncio.gather(self._poller, return_exceptions=True)
                self._poller = None
            await self.watch.call("leave")
