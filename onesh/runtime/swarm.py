"""Many light runtimes in one process: membership at device scale on one machine.

    python -m onesh.runtime.swarm --join BOOT --secret FILE --count N [--prefix s] [--host 127.0.0.1]

Each light runtime is a real `Runtime` (the membership, lease and
placement code under test is the real code) with its own name, start
time and RPC socket on its own port; they share the process's ZeroMQ
context and authenticator, and have no data plane (no stage hosts,
storage, namespace or devices), so a thousand fit on a laptop.

Commands, one per line on stdin (a reply line each on stdout):

    kill NAME...     stop them as a killed process would: no leave, no word
    start NAME...    start them again (a new incarnation under the old name)
    count            how many are running
    quit             stop them all gracefully (they leave the cluster)

End of stdin is `quit`.  Used by tests/cluster/test_scale.py and
benchmarks/cluster_scale.py.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import signal
import sys
from typing import Any

from onesh.runtime.daemon import Runtime, RuntimeConfig

log = logging.getLogger("onesh.swarm")


class Swarm:
    def __init__(self, join: list[str], secret: str, host: str) -> None:
        import zmq
        import zmq.asyncio

        from onesh.net.keys import ClusterKeys, load_secret, start_authenticator

        self.join, self.secret, self.host = join, secret, host
        # Hundreds of runtimes, a handful of sockets each: past the usual
        # 1,024 open files and ZeroMQ's 1,023 sockets per context.
        import resource

        hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
        files = 65536 if hard == resource.RLIM_INFINITY else hard
        resource.setrlimit(resource.RLIMIT_NOFILE, (files, hard))
        self.ctx = zmq.asyncio.Context()
        self.ctx.set(zmq.MAX_SOCKETS, min(files, 65536))
        self.auth: Any = start_authenticator(self.ctx, ClusterKeys.from_secret(load_secret(secret)))
        self.running: dict[str, tuple[Runtime, asyncio.Task[int]]] = {}

    def start(self, name: str) -> None:
        if name in self.running:
            return
        cfg = RuntimeConfig(name=name, listen=f"tcp://{self.host}:0", data_dir="", secret_path=self.secret,
                            join=self.join, light=True)
        rt = Runtime(cfg, ctx=self.ctx)
        task = asyncio.get_running_loop().create_task(rt.run(), name=name)
        task.add_done_callback(self._ended)
        self.running[name] = (rt, task)

    def _ended(self, task: asyncio.Task[int]) -> None:
        """A light runtime that stops by itself says why (as a process would, in its log)."""
        if not task.cancelled() and task.exception() is not None:
            log.warning("%s stopped: %s", task.get_name(), task.exception())

    async def kill(self, name: str) -> None:
        item = self.running.pop(name, None)
        if item is not None:
            item[1].cancel()
            await asyncio.gather(item[1], return_exceptions=True)

    async def quit(self) -> None:
        for rt, _ in self.running.values():
            rt.stop.set()
        await asyncio.gather(*(t for _, t in self.running.values()), return_exceptions=True)
        self.running.clear()
        self.auth.stop()
        self.ctx.destroy(linger=0)


async def serve(args: argparse.Namespace) -> int:
    swarm = Swarm([j for j in args.join.split(",") if j], args.secret, args.host)
    for k in range(args.count):
        swarm.start(f"{args.prefix}{k + 1}")
    loop = asyncio.get_running_loop()
    from onesh.runtime.stagehost import _dump_tasks

    loop.add_signal_handler(signal.SIGUSR1, _dump_tasks)  # where is everyone waiting
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    print(f"started {args.count}", flush=True)
    try:
        while line := (await reader.readline()).decode():
            words = line.split()
            if not words:
                continue
            verb, names = words[0], words[1:]
            if verb == "kill":
                await asyncio.gather(*(swarm.kill(n) for n in names))
                print(f"killed {len(names)}", flush=True)
            elif verb == "start":
                for n in names:
                    swarm.start(n)
                print(f"started {len(names)}", flush=True)
            elif verb == "count":
                print(f"running {len(swarm.running)}", flush=True)
            elif verb == "quit":
                break
            else:
                print(f"error: unknown command {verb!r}", flush=True)
    finally:
        with contextlib.suppress(Exception):
            await swarm.quit()
    return 0


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m onesh.runtime.swarm", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--join", required=True, help="comma-separated name-server endpoints")
    p.add_argument("--secret", required=True, help="the cluster secret file")
    p.add_argument("--count", type=int, default=100)
    p.add_argument("--prefix", default="s", help="names are PREFIX1, PREFIX2, ...")
    p.add_argument("--host", default="127.0.0.1", help="address their RPC sockets bind")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    return asyncio.run(serve(args))


if __name__ == "__main__":
    sys.exit(main())
