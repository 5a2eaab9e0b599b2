"""The Node.js launcher: run an unmodified Node program in the onesh context.

    python -m onesh.runtime.nodeagent [--on-host] [--cleanup DIR] [--node-option OPT]... SCRIPT [ARGS...]

runs `node --require <onesh preload.cjs> [OPTS] SCRIPT ARGS` with the
program's stdin, stdout and stderr the stage's own pipes (inherited: no
copy in between).  The preload (onesh/runtime/node/preload.cjs) patches
`fs`, `fs.promises` and `fs/promises` and calls
`module.syncBuiltinESMExports()`, so CommonJS and ESM programs alike see
namespace paths; it reaches the namespace through the bridge this
launcher serves on a Unix socket (onesh.runtime.nsbridge).  A SCRIPT that
is a namespace path is fetched with the modules beside it into a per-job
cache first (onesh.runtime.bundles).

The launcher stays in the stage's process group while Node runs: a signal
for the stage (Ctrl-C) reaches Node directly and the launcher, which
ignores it, then ends as Node did (killed by the same signal, or with its
exit status).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
from importlib import resources

from onesh.runtime.evalctx import Context

USAGE = "usage: python -m onesh.runtime.nodeagent [--on-host] [--cleanup DIR] [--node-option OPT]... SCRIPT [ARGS...]"
PASSED_ON = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT)


def preload_path() -> str:
    return str(resources.files("onesh.runtime") / "node" / "preload.cjs")


def node_prefix(node: str) -> str:
    """Node's installation directory (its own files are never namespace paths)."""
    return os.path.dirname(os.path.dirname(os.path.realpath(node)))


def parse(argv: list[str]) -> tuple[str | None, list[str], str, list[str], bool]:
    """(cleanup dir, node options, script, program args, script on this host)."""
    cleanup, options, on_host = None, [], False
    i = 0
    while i < len(argv) and argv[i] in ("--cleanup", "--node-option", "--on-host"):
        if argv[i] == "--on-host":
            on_host = True
            i += 1
            continue
        if i + 1 >= len(argv):
            break
        if argv[i] == "--cleanup":
            cleanup = argv[i + 1]
        else:
            options.append(argv[i + 1])
        i += 2
    if i >= len(argv):
        raise SystemExit(USAGE)
    return cleanup, options, argv[i], argv[i + 1:], on_host


def main(argv: list[str] | None = None) -> int:
    cleanup, options, script, args, on_host = parse(sys.argv[1:] if argv is None else argv)
    node = shutil.which("node")
    if node is None:
        sys.stderr.write(f"onesh: node: command not found (on {os.environ.get('ONESH_RUNTIME', 'this host')})\n")
        return 127
    from onesh.runtime import bundles

    extra = (node_prefix(node),) + ((cleanup,) if cleanup else ())
    ctx = Context(os.environ, extra_host_only=extra)
    cache = None
    try:
        if ctx.attached:
            found = None if on_host else ctx.lookup(script)
            if found is not None:
                cache = bundles.job_cache(os.environ.get("ONESH_STAGE", ""))
                ctx.prefixes += (cache,)
                script = bundles.fetch(ctx, found, "node", cache)
            else:
                script = ctx.host_path(script)
                # (node's loader reads it with fs.readFileSync: no need to ask)
                ctx.prefixes += (os.path.abspath(os.path.join(ctx.cwd, script)),)
        rc = run_node(ctx, node, options, script, args)
    finally:
        ctx.close()
        for d in (cache, cleanup):
            if d:
                shutil.rmtree(d, ignore_errors=True)
    if rc < 0:
        # Die of the same signal, so the stage's status says so (130 for ^C).
        signal.signal(-rc, signal.SIG_DFL)
        os.kill(os.getpid(), -rc)
    return rc


def run_node(ctx: Context, node: str, options: list[str], script: str, args: list[str]) -> int:
    env = dict(os.environ)
    env["PWD"] = ctx.cwd
    env["ONESH_PWD"] = ctx.cwd
    env["ONESH_HOST_ONLY"] = json.dumps(list(ctx.prefixes))
    server = None
    if ctx.attached:
        from onesh.runtime.nsbridge import BridgeServer

        server = BridgeServer(ctx)
        env["ONESH_NS_BRIDGE"] = server.path
    # Python handlers, not SIG_IGN: an ignored disposition would be
    # inherited by node through exec, a handler is reset to the default.
    for sig in PASSED_ON:
        signal.signal(sig, lambda *_: None)
    try:
        proc = subprocess.Popen([node, "--require", preload_path(), *options, script, *args], env=env)
        rc = proc.wait()
    finally:
        if server is not None:
            server.close()
    return rc


if __name__ == "__main__":
    sys.exit(main())
