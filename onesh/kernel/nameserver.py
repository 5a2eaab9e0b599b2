"""Name-server lookup: ask each `--join` address in turn for the boot record.

Every runtime is a name server (it answers `boot.record`), so a list of a
few addresses survives any of them being down.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import zmq.asyncio

from onesh.kernel.bootrecord import BootRecordError, check_boot_record
from onesh.net.keys import ClusterKeys
from onesh.net.rpc import RpcClient, RpcError


class NoBootRecord(Exception):
    pass


async def lookup_boot_record(ctx: zmq.asyncio.Context, endpoints: Sequence[str], keys: ClusterKeys,
                             *, timeout: float = 1.0, need_voters: bool = True) -> dict[str, Any]:
    """The first valid boot record among `endpoints` (tried in order)."""
    problems: list[str] = []
    for endpoint in endpoints:
        client = RpcClient(ctx, endpoint, keys)
        try:
            record = check_boot_record(await client.call("boot.record", {}, timeout=timeout))
        except (RpcError, BootRecordError) as e:
            problems.append(f"{endpoint}: {e}")
            continue
        finally:
            await client.close()
        if need_voters and not record["voters"]:
            problems.append(f"{endpoint}: boot record lists no voters yet")
            continue
        return record
    raise NoBootRecord("; ".join(problems) or "no name server given")
