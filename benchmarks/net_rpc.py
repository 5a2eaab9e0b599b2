"""RPC round-trip latency over loopback: CurveZMQ (the only mode onesh uses)
against plaintext ZeroMQ, same driver and codec, in one run.

    python benchmarks/net_rpc.py [--calls N] [--concurrency C]

Prints p50/p99 of sequential round trips and the throughput of C concurrent
callers for both modes.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import time
from typing import Any

import zmq
import zmq.asyncio

from onesh.net.keys import ClusterKeys, start_authenticator
from onesh.net.rpc import RpcClient, RpcServer


async def echo(method: str, body: dict[str, Any], peer: bytes) -> dict[str, Any]:
    return body


def pct(samples: list[float], p: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))]


async def measure(ctx: zmq.asyncio.Context, keys: ClusterKeys, plaintext: bool, calls: int,
                  concurrency: int) -> dict[str, float]:
    server = RpcServer(ctx, "tcp://127.0.0.1:0", keys, echo, insecure_plaintext=plaintext)
    endpoint = await server.start()
    client = RpcClient(ctx, endpoint, keys, insecure_plaintext=plaintext)
    try:
        body = {"argv": ["echo", "hello"], "cwd": "/tmp", "env": {"HOME": "/root"}}
        for _ in range(200):  # handshake and warm-up
            await client.call("ping", body, timeout=5.0)
        rtts: list[float] = []
        for _ in range(calls):
            t0 = time.perf_counter()
            await client.call("ping", body, timeout=5.0)
            rtts.append(time.perf_counter() - t0)

        async def worker(n: int) -> None:
            for _ in range(n):
                await client.call("ping", body, timeout=5.0)

        t0 = time.perf_counter()
        async with asyncio.TaskGroup() as tg:
            for _ in range(concurrency):
                tg.create_task(worker(calls // concurrency))
        elapsed = time.perf_counter() - t0
        return {
            "p50_us": pct(rtts, 50) * 1e6,
            "p99_us": pct(rtts, 99) * 1e6,
            "mean_us": statistics.fmean(rtts) * 1e6,
            "calls_per_s": (calls // concurrency) * concurrency / elapsed,
        }
    finally:
        await client.close()
        await server.close()


async def main_async(calls: int, concurrency: int) -> None:
    ctx = zmq.asyncio.Context()
    keys = ClusterKeys.from_secret(os.urandom(32))
    auth = start_authenticator(ctx, keys)
    try:
        results = {}
        for label, plaintext in (("curve", False), ("plain", True)):
            results[label] = await measure(ctx, keys, plaintext, calls, concurrency)
        print(f"RPC over loopback, {calls} sequential calls, {concurrency} concurrent callers")
        print(f"{'mode':<6} {'p50 us':>8} {'p99 us':>8} {'mean us':>8} {'calls/s':>9}")
        for label, r in results.items():
            print(f"{label:<6} {r['p50_us']:8.0f} {r['p99_us']:8.0f} {r['mean_us']:8.0f} {r['calls_per_s']:9.0f}")
    finally:
        auth.stop()
        ctx.term()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--calls", type=int, default=3000)
    ap.add_argument("--concurrency", type=int, default=32)
    args = ap.parse_args()
    asyncio.run(main_async(args.calls, args.concurrency))


if __name__ == "__main__":
    main()
