"""Name → builtin table.  Modules are imported on first use so start-up stays
cheap; `help` reads the usage lines from here without importing anything."""

from __future__ import annotations

import importlib

from onesh.record import Record

TYPE_CHECKING = False  # typing (and the re it imports) stays off the start-up path
if TYPE_CHECKING:
    from onesh.builtins.api import BuiltinFn


class BuiltinSpec(Record, frozen=True):
    name: str
    module: str  # under onesh.builtins
    func: str
    usage: str
    summary: str
    special: bool = False  # POSIX special builtin: assignments persist, errors exit a script


def _b(name: str, module: str, func: str, usage: str, summary: str, special: bool = False) -> BuiltinSpec:
    return BuiltinSpec(name, module, func, usage, summary, special)


BUILTINS: dict[str, BuiltinSpec] = {
    s.name: s
    for s in (
        # control flow and status
        _b(":", "core", "colon", ": [arg ...]", "Do nothing; return 0.", True),
        _b("true", "core", "true", "true", "Return a successful status."),
        _b("false", "core", "false", "false", "Return an unsuccessful status."),
        _b("exit", "core", "exit_", "exit [n]", "Exit the shell with status n.", True),
        _b("return", "core", "return_", "return [n]", "Return from a function or sourced script.", True),
        _b("break", "core", "break_", "break [n]", "Exit n enclosing loops.", True),
        _b("continue", "core", "continue_", "continue [n]", "Resume the next iteration of the n-th enclosing loop.", True),
        _b("shift", "core", "shift", "shift [n]", "Shift positional parameters left by n.", True),
        # output
        _b("echo", "echo", "echo", "echo [-neE] [arg ...]", "Write arguments to standard output."),
        _b("printf", "printf", "printf", "printf [-v var] format [arguments]", "Format and print arguments."),
        _b("test", "test", "test", "test [expr]", "Evaluate a conditional expression."),
        _b("[", "test", "bracket", "[ expr ]", "Evaluate a conditional expression (needs a closing ])."),
        # variables and options
        _b("export", "vars", "export", "export [-n] [-p] [name[=value] ...]", "Mark variables for export to child processes.", True),
        _b("unset", "vars", "unset", "unset [-f] [-v] [name ...]", "Unset variables or functions.", True),
        _b("set", "vars", "set_", "set [-euxfCv] [-o option] [--] [arg ...]", "Set shell options and positional parameters.", True),
        _b("local", "vars", "local", "local [name[=value] ...]", "Define variables local to a function."),
        _b("readonly", "vars", "readonly", "readonly [-p] [name[=value] ...]", "Mark variables read-only.", True),
        _b("declare", "vars", "declare", "declare [-aixrp] [name[=value] ...]", "Set variable values and attributes."),
        _b("typeset", "vars", "declare", "typeset [-aixrp] [name[=value] ...]", "Synonym for declare."),
        _b("shopt", "vars", "shopt", "shopt [-pqsu] [-o] [optname ...]", "Set and unset shell options (the glob options)."),
        _b("getopts", "getopts", "getopts", "getopts optstring name [arg ...]",
           "Parse option letters from the positional parameters (or the arguments)."),
        _b("read", "read", "read", "read [-ers] [-a array] [-d delim] [-i text] [-n nchars] [-N nchars] [-p prompt] [-t timeout] [-u fd] [name ...]", "Read a line from standard input and split it into fields."),
        # directories and environment
        _b("cd", "dirs", "cd", "cd [-L|-P] [dir]", "Change the working directory."),
        _b("pwd", "dirs", "pwd", "pwd [-LP]", "Print the working directory."),
        _b("umask", "dirs", "umask", "umask [-p] [-S] [mode]", "Display or set the file mode creation mask."),
        _b("alias", "alias", "alias", "alias [-p] [name[=value] ...]", "Define or display aliases."),
        _b("unalias", "alias", "unalias", "unalias [-a] name [name ...]", "Remove alias definitions."),
        _b("help", "help", "help", "help [-dms] [pattern ...]", "Display information about builtin commands."),
        _b("history", "help", "history", "history [-c] [n]", "Display the command history."),
        # evaluation (engine-backed)
        _b("eval", "evaluation", "eval_", "eval [arg ...]", "Run arguments as a shell command.", True),
        _b("source", "evaluation", "source", "source file [arguments]", "Run commands from a file in the current shell."),
        _b(".", "evaluation", "source", ". file [arguments]", "Run commands from a file in the current shell.", True),
        _b("exec", "evaluation", "exec_", "exec [command [arguments ...]] [redirection ...]", "Replace the shell with a command, or apply redirections.", True),
        _b("command", "evaluation", "command", "command [-pVv] command [arg ...]", "Run a command bypassing functions, or describe it."),
        _b("type", "evaluation", "type_", "type [-afptP] name [name ...]", "Describe how each name would be interpreted."),
        # job control (engine-backed)
        _b("jobs", "jobs", "jobs", "jobs [-lnprs] [jobspec ...]", "List active jobs."),
        _b("fg", "jobs", "fg", "fg [jobspec]", "Move a job to the foreground."),
        _b("bg", "jobs", "bg", "bg [jobspec ...]", "Resume jobs in the background."),
        _b("wait", "jobs", "wait", "wait [-n] [id ...]", "Wait for jobs or processes and return their status."),
        # cluster (start the embedded cluster on first use)
        _b("nodes", "cluster", "nodes", "nodes", "List the cluster's runtimes: address, tags, load, kernel agents, liveness."),
        _b("uptime", "cluster", "uptime", "uptime", "Summarise the cluster: uptime, live runtimes, leader, load."),
        _b("plan", "cluster", "plan", "plan COMMAND-LINE",
           "Show where each stage of a pipeline would run on the cluster, and why."),
        _b("ps", "cluster", "ps", "ps --cluster | ps ARGS...",
           "With --cluster: every stage of every job on the cluster (state, bytes in and out, live); "
           "otherwise the system ps."),
        _b("top", "top", "top", "top --cluster [-b] [-n N] [-d SECS] | top ARGS...",
           "With --cluster: a live view of the cluster (runtimes' CPU, memory and load; each running "
           "stage's bytes/s and lines/s in and out, and whether it waits on a slower stage; kernel agents "
           "and the Raft leader); q quits; -b prints plain snapshots. Otherwise the system top."),
        _b("migrate", "cluster", "migrate", "migrate JOB:SEG RUNTIME",
           "Move a running segment of a cluster job (JOB and SEG as `ps --cluster` shows them) to another "
           "runtime, exactly once: a segment that is one builtin agent that can go on elsewhere (cat, grep, "
           "tr, cut, wc; see `help NAME`). ps --cluster then shows where it came from (r3<-r2)."),
        _b("sessions", "cluster", "sessions", "sessions",
           "List the shells using the cluster: user, tty, jobs, what runs (from the session agent)."),
        _b("kill", "jobs", "kill", "kill [-s sigspec | -n signum | -sigspec] pid | jobspec | host:pid:n ... or kill -l [sigspec]",
           "Send a signal to jobs or processes; host:pid:n (a cluster job in `ps --cluster`) signals its stages on every runtime."),
        _b("bootstrap", "bootstrap", "bootstrap",
           "bootstrap [user@]host[:port] [--name N] [--tags k=v,...] [--device SPEC]... [--python PATH] "
           "[--identity KEY] [--accept-new] [--dial-out] | bootstrap --remove host",
           "Install onesh on a device over SSH and start a runtime there that joins this shell's cluster."),
    )
}


def lookup(name: str) -> BuiltinFn | None:
    """The builtin's run function, importing its module on first use."""
    spec = BUILTINS.get(name)
    if spec is None:
        return None
    module = importlib.import_module(f"onesh.builtins.{spec.module}")
    fn: BuiltinFn = getattr(module, spec.func)
    return fn
